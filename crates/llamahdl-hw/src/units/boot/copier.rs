//! `BootCopier<DW, SW, FA>`: the boot copy. Reads the weight image from the block device
//! (eMMC-class flash, an SD card in SPI mode, or a processor standing in for one: the
//! narrow interface of [`super`]), writes it into DRAM through an [`AxiWriteMaster`], and
//! checks it on the way: the header against the one the design was generated for
//! ([`HeaderCheck`]) and against its own CRC, the region table against `table_crc`, and
//! every region against its CRC-32 from the table ([`CrcTable`], [`StreamCheck`]). It then
//! reports `ready`, or `error` with a code that says what failed; a decoder behind it is
//! held until `ready` (see `docs/boot.md`).
//!
//! The Verilog depends on the shape, lane count, bus width and placement (DRAM base, first
//! block), not on the weights: the header and the region layout are generation-time
//! constants, the CRCs come from the image.
//!
//! # Interface
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `clock`, `reset` | in | clock, 1 | synchronous reset of the whole copier, its write master included; assert it together with the AXI interconnect's and the block device's resets. The copy starts by itself after power-up and after every reset |
//! | `bd_cmd_valid`, `bd_cmd_ready` | out, in | 1, 1 | block read command handshake (one command per boot) |
//! | `bd_lba`, `bd_count` | out | 32, 32 | first block and number of 512-byte blocks |
//! | `bd_valid`, `bd_ready`, `bd_data` | in, out, in | 1, 1, 32 | the blocks' bytes, 4 a word, the first in bits 7..0 |
//! | `bd_error` | in | 1 | the device failed the command (held until `bd_abort`) |
//! | `bd_abort` | out | 1 | one-cycle pulse: drop the running command (after an error, or when the copy stops early) |
//! | `aw*`, `w*`, `b*` | | | AXI4 write channels (see [`AxiWriteMaster`]) |
//! | `busy`, `ready`, `error` | out | 1 each | exactly one is high: copying, the image is in DRAM and checked, the copy failed |
//! | `err_code` | out | 3 | with `error`: [`ERR_HEADER`] .. [`ERR_DRAM`] |
//! | `err_detail` | out | 8 | with `error`: the bad header word, the bad region's table index, or the AXI `bresp` |
//! | `words` | out | 32 | bus words handed to the write master so far |
//!
//! # Timing
//!
//! * The block command is presented from the first cycle after reset. A device word taken
//!   at edge `t` completes a bus word when it is its `DW / 32`-th; the bus word is offered
//!   to the write master (and to the checks) from cycle `t + 1` and taken at the first edge
//!   with its FIFO not full. The device is never stalled while the FIFO has room, so the
//!   copy runs at the device's rate when DRAM is faster.
//! * Writes go as one command per 4 KiB page (the last one shorter), issued ahead of the
//!   data; the master's FIFO holds every burst's beats before its AW.
//! * Checks: a header word that differs is an error 2 cycles after it is taken; the
//!   header's and the table's CRCs are compared in the cycle after their last word; a
//!   region's in the cycle after its last word (error visible 2 cycles after it).
//! * On an error the copier stops taking device words (pulsing `bd_abort` if the command
//!   is still running), completes the write commands already issued with zero words (so
//!   that every burst the master has started ends, as AXI requires; not after a DRAM error,
//!   where the master drops them), waits until the master is idle, then raises `error`.
//!   The first error is the one reported.
//! * `ready` rises once every word is written and acknowledged (the master idle) with no
//!   error, at least 3 cycles after the last region's last word.

use crate::units::dram::axi_read::ADDR_BITS;
use crate::units::dram::axi_write::{AxiWriteMaster, AxiWriteParams};
use crate::units::dram::crc::Crc32Word;
use crate::units::dram::header_check::HeaderCheck;
use crate::units::dram::region_check::{CrcTable, Segment, StreamCheck, IDX_BITS};
use llamahdl_golden::quant::ScaleMode;
use llamahdl_image::format::HEADER_BYTES;
use llamahdl_image::layout::plan;
use llamahdl_model::Config;
use rust_hdl::prelude::*;

use super::pack::Pack32;

/// `err_code`: the header differs from the design's (`err_detail`: the first bad word).
pub const ERR_HEADER: u64 = 1;
/// The header's CRC-32 does not match its bytes.
pub const ERR_HEADER_CRC: u64 = 2;
/// The region table's CRC-32 does not match `table_crc`.
pub const ERR_TABLE_CRC: u64 = 3;
/// A region's CRC-32 does not match the table's (`err_detail`: its table index).
pub const ERR_REGION_CRC: u64 = 4;
/// The block device reported an error (a read error, or a read past its end).
pub const ERR_DEVICE: u64 = 5;
/// DRAM answered a write with an error (`err_detail`: the `bresp`).
pub const ERR_DRAM: u64 = 6;

/// The CRC-32 of any byte string followed by its own CRC-32 (little-endian): the header's
/// 128 bytes end with the CRC of the 124 before them.
pub const CRC32_RESIDUE: u32 = 0x2144_DF1C;

/// Bytes in a block of the device.
pub const BLOCK_BYTES: u64 = 512;

/// Where the copier reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootParams {
    /// DRAM byte address of the image (a multiple of 4096).
    pub base: u64,
    /// The device block that holds the image's first byte.
    pub lba: u64,
    /// The write master's settings.
    pub axi: AxiWriteParams,
}

impl Default for BootParams {
    fn default() -> Self {
        BootParams {
            base: 0,
            lba: 0,
            axi: AxiWriteParams::default(),
        }
    }
}

/// The copier's states.
const S_CMD: u64 = 0;
const S_COPY: u64 = 1;
const S_STOP: u64 = 2;
const S_WAIT: u64 = 3;
const S_READY: u64 = 4;
const S_FAIL: u64 = 5;

/// The boot copier. See the [module docs](self).
#[derive(LogicBlock)]
pub struct BootCopier<const DW: usize, const SW: usize, const FA: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    // Block device.
    pub bd_cmd_valid: Signal<Out, Bit>,
    pub bd_cmd_ready: Signal<In, Bit>,
    pub bd_lba: Signal<Out, Bits<32>>,
    pub bd_count: Signal<Out, Bits<32>>,
    pub bd_valid: Signal<In, Bit>,
    pub bd_ready: Signal<Out, Bit>,
    pub bd_data: Signal<In, Bits<32>>,
    pub bd_error: Signal<In, Bit>,
    pub bd_abort: Signal<Out, Bit>,
    // AXI4 write channels.
    pub awvalid: Signal<Out, Bit>,
    pub awready: Signal<In, Bit>,
    pub awaddr: Signal<Out, Bits<ADDR_BITS>>,
    pub awlen: Signal<Out, Bits<8>>,
    pub awsize: Signal<Out, Bits<3>>,
    pub awburst: Signal<Out, Bits<2>>,
    pub wvalid: Signal<Out, Bit>,
    pub wready: Signal<In, Bit>,
    pub wdata: Signal<Out, Bits<DW>>,
    pub wstrb: Signal<Out, Bits<SW>>,
    pub wlast: Signal<Out, Bit>,
    pub bvalid: Signal<In, Bit>,
    pub bready: Signal<Out, Bit>,
    pub bresp: Signal<In, Bits<2>>,
    // Status.
    pub busy: Signal<Out, Bit>,
    pub ready: Signal<Out, Bit>,
    pub error: Signal<Out, Bit>,
    pub err_code: Signal<Out, Bits<3>>,
    pub err_detail: Signal<Out, Bits<8>>,
    pub words: Signal<Out, Bits<32>>,
    // Blocks.
    wm: AxiWriteMaster<DW, SW, FA>,
    pack: Pack32<DW>,
    hcheck: HeaderCheck<DW>,
    hcrc: Crc32Word<DW>,
    tcrc: Crc32Word<DW>,
    crc_tab: CrcTable<DW>,
    scheck: StreamCheck<DW>,
    // State.
    state: DFF<Bits<3>>,
    /// Device words taken; sub-word of the bus word being packed.
    dev_taken: DFF<Bits<32>>,
    sub: DFF<Bits<8>>,
    /// A complete bus word waits in the packer.
    bw_v: DFF<Bit>,
    /// Bus words completed by the packer (the image's and the last block's padding).
    n_packed: DFF<Bits<32>>,
    /// Bus words pushed to the write master; words of the commands issued; commands
    /// issued and the next one's offset from the base.
    pushed: DFF<Bits<32>>,
    commanded: DFF<Bits<32>>,
    ncmd: DFF<Bits<32>>,
    cmd_off: DFF<Bits<ADDR_BITS>>,
    /// The header's `table_crc`, captured as it passes; the header and table CRC
    /// comparisons of the next cycle.
    tcrc_want: DFF<Bits<32>>,
    hcmp: DFF<Bit>,
    tcmp: DFF<Bit>,
    /// Cycles since the last word (for the last region's comparison).
    settle: DFF<Bits<2>>,
    err_v: DFF<Bit>,
    err_c: DFF<Bits<3>>,
    err_d: DFF<Bits<8>>,
    abort_r: DFF<Bit>,
    // Constants.
    c_lba: Constant<Bits<32>>,
    c_blocks: Constant<Bits<32>>,
    c_dev_words: Constant<Bits<32>>,
    c_img_words: Constant<Bits<32>>,
    c_hdr_last: Constant<Bits<32>>,
    c_tbl_first: Constant<Bits<32>>,
    c_tbl_last: Constant<Bits<32>>,
    c_tcrc_word: Constant<Bits<32>>,
    c_tcrc_shift: Constant<Bits<16>>,
    c_ncmd: Constant<Bits<32>>,
    c_page_words: Constant<Bits<32>>,
    c_last_words: Constant<Bits<32>>,
    c_page: Constant<Bits<ADDR_BITS>>,
    c_base: Constant<Bits<ADDR_BITS>>,
    c_last_sub: Constant<Bits<8>>,
    c_residue: Constant<Bits<32>>,
    c_zero32: Constant<Bits<32>>,
    c_one32: Constant<Bits<32>>,
    c_zero8: Constant<Bits<8>>,
    c_one8: Constant<Bits<8>>,
    c_zero_w: Constant<Bits<DW>>,
    c_zero2: Constant<Bits<2>>,
    c_zero3: Constant<Bits<3>>,
    c_zero_a: Constant<Bits<ADDR_BITS>>,
    c_one2: Constant<Bits<2>>,
    c_three2: Constant<Bits<2>>,
    c_err_header: Constant<Bits<3>>,
    c_err_hcrc: Constant<Bits<3>>,
    c_err_tcrc: Constant<Bits<3>>,
    c_err_region: Constant<Bits<3>>,
    c_err_device: Constant<Bits<3>>,
    c_err_dram: Constant<Bits<3>>,
    s_cmd: Constant<Bits<3>>,
    s_copy: Constant<Bits<3>>,
    s_stop: Constant<Bits<3>>,
    s_wait: Constant<Bits<3>>,
    s_ready: Constant<Bits<3>>,
    s_fail: Constant<Bits<3>>,
    // Combinational.
    take: Signal<Local, Bit>,
    last_sub: Signal<Local, Bit>,
    push: Signal<Local, Bit>,
    pad: Signal<Local, Bit>,
    pad_v: Signal<Local, Bit>,
    offer: Signal<Local, Bit>,
    cmd_go: Signal<Local, Bit>,
    tsel: Signal<Local, Bits<DW>>,
    new_err: Signal<Local, Bit>,
    live: Signal<Local, Bit>,
}

/// Why a copier cannot be built for a shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootBuildError(pub String);

impl std::fmt::Display for BootBuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BootBuildError {}

/// The layout facts the copier is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootLayout {
    /// The header bytes the design expects (CRC fields 0).
    pub header: [u8; HEADER_BYTES],
    pub image_bytes: u64,
    pub table_offset: u64,
    pub data_offset: u64,
    /// Every region's length in bytes, in table order.
    pub region_bytes: Vec<u64>,
}

impl BootLayout {
    /// The layout of the image `llamahdl image` writes for shape `c`, `lanes` lanes and a
    /// `bus_bits`-bit bus.
    pub fn of(c: &Config, lanes: u32, bus_bits: u32) -> Result<Self, BootBuildError> {
        let p = plan(c, lanes, bus_bits, ScaleMode::Mant8)
            .map_err(|e| BootBuildError(e.to_string()))?;
        Ok(BootLayout {
            header: p.header.encode(),
            image_bytes: p.header.image_bytes,
            table_offset: p.header.table_offset,
            data_offset: p.header.data_offset,
            region_bytes: p.regions.iter().map(|r| r.length).collect(),
        })
    }

    /// Device blocks the image occupies.
    pub fn blocks(&self) -> u64 {
        self.image_bytes.div_ceil(BLOCK_BYTES)
    }
}

impl<const DW: usize, const SW: usize, const FA: usize> BootCopier<DW, SW, FA> {
    /// A copier for the image of shape `c` at `lanes` lanes on this `DW`-bit bus.
    pub fn new(c: &Config, lanes: u32, p: BootParams) -> Result<Self, BootBuildError> {
        Self::with_layout(&BootLayout::of(c, lanes, DW as u32)?, p)
    }

    /// A copier for an image of layout `l`.
    pub fn with_layout(l: &BootLayout, p: BootParams) -> Result<Self, BootBuildError> {
        let err = |s: String| Err(BootBuildError(s));
        if !matches!(DW, 64 | 128 | 256 | 512) || SW * 8 != DW {
            return err(format!(
                "a {DW}-bit bus: the copier takes 64, 128, 256 or 512 bits"
            ));
        }
        let w = (DW / 8) as u64;
        if p.base % 4096 != 0 || p.base + l.image_bytes > 1 << ADDR_BITS {
            return err(format!(
                "image base {:#x}: a multiple of 4096 with the image below 2^{ADDR_BITS}",
                p.base
            ));
        }
        let blocks = l.blocks();
        let dev_words = blocks * BLOCK_BYTES / 4;
        if p.lba + blocks >= 1 << 32 || dev_words >= 1 << 32 {
            return err(format!(
                "an image of {} bytes from block {}: block numbers and word counts are 32 bits",
                l.image_bytes, p.lba
            ));
        }
        if l.region_bytes.len() >= 1 << IDX_BITS {
            return err(format!(
                "{} regions: the region check holds at most {}",
                l.region_bytes.len(),
                (1 << IDX_BITS) - 1
            ));
        }
        let img_words = l.image_bytes / w;
        let page_words = 4096 / w;
        let ncmd = img_words.div_ceil(page_words);
        let hdr_words = HEADER_BYTES as u64 / w;
        let tbl_words = (l.data_offset - l.table_offset) / w;
        let segs: Vec<Segment> = l
            .region_bytes
            .iter()
            .enumerate()
            .map(|(i, &b)| Segment {
                words: b / w,
                index: i,
                check: true,
            })
            .collect();
        let k32 = |v: u64| Constant::new(v.into());
        let k8 = |v: u64| Constant::new(v.into());
        let k3 = |v: u64| Constant::new(v.into());
        let k2 = |v: u64| Constant::new(v.into());
        let ka = |v: u64| Constant::new(v.into());
        Ok(Self {
            clock: Default::default(),
            reset: Default::default(),
            bd_cmd_valid: Default::default(),
            bd_cmd_ready: Default::default(),
            bd_lba: Default::default(),
            bd_count: Default::default(),
            bd_valid: Default::default(),
            bd_ready: Default::default(),
            bd_data: Default::default(),
            bd_error: Default::default(),
            bd_abort: Default::default(),
            awvalid: Default::default(),
            awready: Default::default(),
            awaddr: Default::default(),
            awlen: Default::default(),
            awsize: Default::default(),
            awburst: Default::default(),
            wvalid: Default::default(),
            wready: Default::default(),
            wdata: Default::default(),
            wstrb: Default::default(),
            wlast: Default::default(),
            bvalid: Default::default(),
            bready: Default::default(),
            bresp: Default::default(),
            busy: Default::default(),
            ready: Default::default(),
            error: Default::default(),
            err_code: Default::default(),
            err_detail: Default::default(),
            words: Default::default(),
            wm: AxiWriteMaster::new(p.axi).map_err(|e| BootBuildError(e.to_string()))?,
            pack: Default::default(),
            hcheck: HeaderCheck::new(&l.header),
            hcrc: Default::default(),
            tcrc: Default::default(),
            crc_tab: CrcTable::new(l.region_bytes.len(), tbl_words as usize),
            scheck: StreamCheck::new(&segs),
            state: Default::default(),
            dev_taken: Default::default(),
            sub: Default::default(),
            bw_v: Default::default(),
            pushed: Default::default(),
            commanded: Default::default(),
            ncmd: Default::default(),
            n_packed: Default::default(),
            cmd_off: Default::default(),
            tcrc_want: Default::default(),
            hcmp: Default::default(),
            tcmp: Default::default(),
            settle: Default::default(),
            err_v: Default::default(),
            err_c: Default::default(),
            err_d: Default::default(),
            abort_r: Default::default(),
            c_lba: k32(p.lba),
            c_blocks: k32(blocks),
            c_dev_words: k32(dev_words),
            c_img_words: k32(img_words),
            c_hdr_last: k32(hdr_words - 1),
            c_tbl_first: k32(hdr_words),
            c_tbl_last: k32(hdr_words + tbl_words - 1),
            c_tcrc_word: k32(96 / w),
            c_tcrc_shift: Constant::new((8 * (96 % w)).into()),
            c_ncmd: k32(ncmd),
            c_page_words: k32(page_words),
            c_last_words: k32(img_words - (ncmd - 1) * page_words),
            c_page: ka(4096),
            c_base: ka(p.base),
            c_last_sub: k8((DW / 32 - 1) as u64),
            c_residue: k32(CRC32_RESIDUE as u64),
            c_zero32: k32(0),
            c_one32: k32(1),
            c_zero8: k8(0),
            c_one8: k8(1),
            c_zero_w: Constant::new(0u64.into()),
            c_zero2: k2(0),
            c_zero3: k3(0),
            c_zero_a: ka(0),
            c_one2: k2(1),
            c_three2: k2(3),
            c_err_header: k3(ERR_HEADER),
            c_err_hcrc: k3(ERR_HEADER_CRC),
            c_err_tcrc: k3(ERR_TABLE_CRC),
            c_err_region: k3(ERR_REGION_CRC),
            c_err_device: k3(ERR_DEVICE),
            c_err_dram: k3(ERR_DRAM),
            s_cmd: k3(S_CMD),
            s_copy: k3(S_COPY),
            s_stop: k3(S_STOP),
            s_wait: k3(S_WAIT),
            s_ready: k3(S_READY),
            s_fail: k3(S_FAIL),
            take: Default::default(),
            last_sub: Default::default(),
            push: Default::default(),
            pad: Default::default(),
            pad_v: Default::default(),
            offer: Default::default(),
            cmd_go: Default::default(),
            tsel: Default::default(),
            new_err: Default::default(),
            live: Default::default(),
        })
    }
}

impl<const DW: usize, const SW: usize, const FA: usize> Logic for BootCopier<DW, SW, FA> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, dev_taken, sub, bw_v, n_packed, pushed, commanded, ncmd, cmd_off,
            tcrc_want, hcmp, tcmp, settle, err_v, err_c, err_d, abort_r
        );
        clock!(self, clock, wm, pack, hcheck, hcrc, tcrc, crc_tab, scheck);
        // Block device: one command, then its words while the packer has room.
        self.bd_cmd_valid.next = self.state.q.val() == self.s_cmd.val();
        self.bd_lba.next = self.c_lba.val();
        self.bd_count.next = self.c_blocks.val();
        self.bd_abort.next = self.abort_r.q.val();
        self.abort_r.d.next = false;
        self.last_sub.next = self.sub.q.val() == self.c_last_sub.val();
        // A bus word waiting in the packer goes to the write master when its FIFO has room
        // (`in_valid` does not depend on `in_ready`).
        self.offer.next = self.bw_v.q.val() & (self.state.q.val() == self.s_copy.val());
        self.push.next = self.offer.val() & self.wm.in_ready.val();
        self.bd_ready.next = ((self.state.q.val() == self.s_copy.val())
            & (self.dev_taken.q.val() != self.c_dev_words.val()))
            & ((!self.last_sub.val()) | ((!self.bw_v.q.val()) | self.push.val()));
        self.take.next = self.bd_valid.val() & self.bd_ready.val();
        self.pack.en.next = self.take.val();
        self.pack.data.next = self.bd_data.val();
        // After an error: zero words complete the write commands already issued.
        self.pad_v.next = ((self.state.q.val() == self.s_stop.val())
            & (self.pushed.q.val() != self.commanded.q.val()))
            & (!self.wm.error.val());
        self.pad.next = self.pad_v.val() & self.wm.in_ready.val();
        // Write master: one command per 4 KiB page, ahead of the data.
        self.cmd_go.next = (((self.state.q.val() == self.s_copy.val())
            | (self.state.q.val() == self.s_wait.val()))
            & (self.ncmd.q.val() != self.c_ncmd.val()))
            & (self.wm.cmd_ready.val() & (!self.err_v.q.val()));
        self.wm.cmd_valid.next = self.cmd_go.val();
        self.wm.cmd_addr.next = self.c_base.val() + self.cmd_off.q.val();
        self.wm.cmd_words.next = self.c_page_words.val();
        if self.ncmd.q.val() == (self.c_ncmd.val() - self.c_one32.val()) {
            self.wm.cmd_words.next = self.c_last_words.val();
        }
        self.wm.reset.next = self.reset.val();
        self.wm.clear.next = false;
        self.wm.in_valid.next = self.offer.val() | self.pad_v.val();
        self.wm.in_data.next = self.pack.word.val();
        if self.pad_v.val() {
            self.wm.in_data.next = self.c_zero_w.val();
        }
        // AXI ports.
        self.awvalid.next = self.wm.awvalid.val();
        self.wm.awready.next = self.awready.val();
        self.awaddr.next = self.wm.awaddr.val();
        self.awlen.next = self.wm.awlen.val();
        self.awsize.next = self.wm.awsize.val();
        self.awburst.next = self.wm.awburst.val();
        self.wvalid.next = self.wm.wvalid.val();
        self.wm.wready.next = self.wready.val();
        self.wdata.next = self.wm.wdata.val();
        self.wstrb.next = self.wm.wstrb.val();
        self.wlast.next = self.wm.wlast.val();
        self.wm.bvalid.next = self.bvalid.val();
        self.bready.next = self.wm.bready.val();
        self.wm.bresp.next = self.bresp.val();
        // Checks, on the words as they go to DRAM.
        self.hcheck.reset.next = self.reset.val();
        self.hcheck.start.next = (self.state.q.val() == self.s_cmd.val()) & self.bd_cmd_ready.val();
        self.hcheck.take.next = self.push.val();
        self.hcheck.in_data.next = self.pack.word.val();
        self.hcrc.clear.next = self.reset.val();
        self.hcrc.en.next = self.push.val() & (self.pushed.q.val() <= self.c_hdr_last.val());
        self.hcrc.data.next = self.pack.word.val();
        self.tcrc.clear.next = self.reset.val();
        self.tcrc.en.next = (self.push.val() & (self.pushed.q.val() >= self.c_tbl_first.val()))
            & (self.pushed.q.val() <= self.c_tbl_last.val());
        self.tcrc.data.next = self.pack.word.val();
        self.crc_tab.reset.next = self.reset.val();
        self.crc_tab.we.next = self.tcrc.en.val();
        self.crc_tab.word.next = self.pack.word.val();
        self.scheck.reset.next = self.reset.val();
        self.scheck.take.next = self.push.val() & (self.pushed.q.val() > self.c_tbl_last.val());
        self.scheck.word.next = self.pack.word.val();
        self.crc_tab.raddr.next = self.scheck.exp_idx.val();
        self.scheck.exp_crc.next = self.crc_tab.rdata.val();
        self.tsel.next = self.pack.word.val() >> self.c_tcrc_shift.val();
        if self.push.val() & (self.pushed.q.val() == self.c_tcrc_word.val()) {
            self.tcrc_want.d.next = self.tsel.val().get_bits::<32>(0);
        }
        self.hcmp.d.next = self.push.val() & (self.pushed.q.val() == self.c_hdr_last.val());
        self.tcmp.d.next = self.push.val() & (self.pushed.q.val() == self.c_tbl_last.val());
        // Packing and counting.
        if self.take.val() {
            self.dev_taken.d.next = self.dev_taken.q.val() + self.c_one32.val();
            self.sub.d.next = self.sub.q.val() + self.c_one8.val();
            if self.last_sub.val() {
                self.sub.d.next = self.c_zero8.val();
            }
        }
        if self.push.val() {
            self.bw_v.d.next = false;
        }
        // A completed bus word inside the image (the last block's padding is dropped).
        if self.take.val() & self.last_sub.val() {
            self.n_packed.d.next = self.n_packed.q.val() + self.c_one32.val();
            if self.n_packed.q.val() < self.c_img_words.val() {
                self.bw_v.d.next = true;
            }
        }
        if self.push.val() | self.pad.val() {
            self.pushed.d.next = self.pushed.q.val() + self.c_one32.val();
        }
        if self.cmd_go.val() {
            self.ncmd.d.next = self.ncmd.q.val() + self.c_one32.val();
            self.cmd_off.d.next = self.cmd_off.q.val() + self.c_page.val();
            self.commanded.d.next = self.commanded.q.val() + self.wm.cmd_words.val();
        }
        // Errors: the first one is kept.
        self.new_err.next = false;
        if self.scheck.error.val() {
            self.new_err.next = true;
        }
        if self.hcheck.error.val() {
            self.new_err.next = true;
        }
        if self.hcmp.q.val() & (self.hcrc.crc.val() != self.c_residue.val()) {
            self.new_err.next = true;
        }
        if self.tcmp.q.val() & (self.tcrc.crc.val() != self.tcrc_want.q.val()) {
            self.new_err.next = true;
        }
        if self.bd_error.val() {
            self.new_err.next = true;
        }
        if self.wm.error.val() {
            self.new_err.next = true;
        }
        self.live.next =
            (self.state.q.val() != self.s_ready.val()) & (self.state.q.val() != self.s_fail.val());
        if (self.new_err.val() & self.live.val()) & (!self.err_v.q.val()) {
            self.err_v.d.next = true;
            // Lowest priority first: a later `if` overrides.
            if self.scheck.error.val() {
                self.err_c.d.next = self.c_err_region.val();
                self.err_d.d.next = self.scheck.bad_region.val();
            }
            if self.tcmp.q.val() & (self.tcrc.crc.val() != self.tcrc_want.q.val()) {
                self.err_c.d.next = self.c_err_tcrc.val();
                self.err_d.d.next = self.c_zero8.val();
            }
            if self.hcmp.q.val() & (self.hcrc.crc.val() != self.c_residue.val()) {
                self.err_c.d.next = self.c_err_hcrc.val();
                self.err_d.d.next = self.c_zero8.val();
            }
            if self.hcheck.error.val() {
                self.err_c.d.next = self.c_err_header.val();
                self.err_d.d.next = bit_cast::<8, 4>(self.hcheck.bad_word.val());
            }
            if self.bd_error.val() {
                self.err_c.d.next = self.c_err_device.val();
                self.err_d.d.next = self.c_zero8.val();
            }
            if self.wm.error.val() {
                self.err_c.d.next = self.c_err_dram.val();
                self.err_d.d.next = bit_cast::<8, 2>(self.wm.error_resp.val());
            }
        }
        // The state machine.
        if (self.state.q.val() == self.s_cmd.val()) & self.bd_cmd_ready.val() {
            self.state.d.next = self.s_copy.val();
        }
        if self.state.q.val() == self.s_copy.val() {
            if (self.pushed.q.val() == self.c_img_words.val())
                & (self.dev_taken.q.val() == self.c_dev_words.val())
            {
                self.state.d.next = self.s_wait.val();
            }
            if self.new_err.val() | self.err_v.q.val() {
                self.state.d.next = self.s_stop.val();
                // Drop the device's command if it is still running.
                self.abort_r.d.next = self.dev_taken.q.val() != self.c_dev_words.val();
                self.bw_v.d.next = false;
            }
        }
        self.settle.d.next = self.c_zero2.val();
        if self.state.q.val() == self.s_wait.val() {
            self.settle.d.next = self.settle.q.val();
            if self.settle.q.val() != self.c_three2.val() {
                self.settle.d.next = self.settle.q.val() + self.c_one2.val();
            }
            if ((self.settle.q.val() == self.c_three2.val()) & self.wm.idle.val())
                & (self.ncmd.q.val() == self.c_ncmd.val())
            {
                self.state.d.next = self.s_ready.val();
                // (A header that was never compared, or a table never read whole, is not
                // ready either: neither happens while the counts above hold.)
                if (self.err_v.q.val() | self.new_err.val())
                    | ((!self.hcheck.ok.val()) | (!self.crc_tab.full.val()))
                {
                    self.state.d.next = self.s_fail.val();
                }
            }
        }
        if (self.state.q.val() == self.s_stop.val())
            & ((self.wm.error.val() | (self.pushed.q.val() == self.commanded.q.val()))
                & self.wm.idle.val())
        {
            self.state.d.next = self.s_fail.val();
        }
        // Status.
        self.ready.next = self.state.q.val() == self.s_ready.val();
        self.error.next = self.state.q.val() == self.s_fail.val();
        self.busy.next = self.live.val();
        self.err_code.next = self.err_c.q.val();
        self.err_detail.next = self.err_d.q.val();
        self.words.next = self.pushed.q.val();
        if self.reset.val() {
            self.state.d.next = self.s_cmd.val();
            self.dev_taken.d.next = self.c_zero32.val();
            self.sub.d.next = self.c_zero8.val();
            self.bw_v.d.next = false;
            self.pushed.d.next = self.c_zero32.val();
            self.commanded.d.next = self.c_zero32.val();
            self.ncmd.d.next = self.c_zero32.val();
            self.cmd_off.d.next = self.c_zero_a.val();
            self.n_packed.d.next = self.c_zero32.val();
            self.tcrc_want.d.next = self.c_zero32.val();
            self.hcmp.d.next = false;
            self.tcmp.d.next = false;
            self.settle.d.next = self.c_zero2.val();
            self.err_v.d.next = false;
            self.err_c.d.next = self.c_zero3.val();
            self.err_d.d.next = self.c_zero8.val();
            self.abort_r.d.next = false;
        }
    }
}
