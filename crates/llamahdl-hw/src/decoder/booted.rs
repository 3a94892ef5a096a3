//! `BootedDecoder<L, DW, SW>`: the boot copier ([`BootCopier`]) and the decoder that
//! streams its weights from DRAM ([`DramDecoder`]) in one top, sharing one AXI4 port (the
//! copier writes on AW/W/B, the decoder reads on AR/R): at power-up and after `reset` the
//! copier moves the weight image from the block device into DRAM and checks it; the
//! decoder is held in reset until the copier is `ready`, so it cannot start on an image
//! that is not there or failed a check (`docs/boot.md`).
//!
//! ## Interface
//! - `start`, `token`, `pos`, `done`, `busy`, `next_token`, `pos_error`, `logit_*`, the
//!   decoder's status (`ready`, `image_error`, `bad_word`, `crc_error`, `bad_region`,
//!   `axi_error`) and the AXI4 read channels: as [`DramDecoder`]'s.
//! - AXI4 write channels and the block-device interface (`bd_*`): as [`BootCopier`]'s.
//! - `boot_ready`, `boot_error`, `boot_code`, `boot_detail`, `boot_words`: the copier's
//!   `ready`, `error`, `err_code`, `err_detail`, `words`.
//! - A `start` while the copy runs is held and goes to the decoder in the cycle after
//!   `boot_ready` rises (the decoder then holds it until its own header check's verdict);
//!   `token` and `pos` stay stable from `start` until `done`, as the decoder requires. A
//!   `start` (or a held one) when the copy has failed computes nothing: `done` pulses in
//!   the next cycle with no logit.
//! - `reset` (synchronous): the copier and the decoder; the copy starts again. Assert it
//!   with the AXI interconnect's and the block device's resets.

use super::dram::{DramBuildError, DramDecoder, DramParams};
use crate::bits::{Addr, Pos, Token};
use crate::units::boot::copier::{BootCopier, BootParams};
use crate::units::dram::axi_read::{ADDR_BITS, STAT_BITS};
use crate::units::dram::region_check::IDX_BITS;
use llamahdl_model::Config;
use rust_hdl::prelude::*;

/// See the [module docs](self).
#[derive(LogicBlock)]
pub struct BootedDecoder<const L: usize, const DW: usize, const SW: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub start: Signal<In, Bit>,
    pub token: Signal<In, Token>,
    pub pos: Signal<In, Pos>,
    pub done: Signal<Out, Bit>,
    pub busy: Signal<Out, Bit>,
    pub next_token: Signal<Out, Token>,
    pub pos_error: Signal<Out, Bit>,
    pub logit_valid: Signal<Out, Bit>,
    pub logit_index: Signal<Out, Addr>,
    pub logit_value: Signal<Out, Signed<32>>,
    // AXI4 read channels (the decoder).
    pub arvalid: Signal<Out, Bit>,
    pub arready: Signal<In, Bit>,
    pub araddr: Signal<Out, Bits<ADDR_BITS>>,
    pub arlen: Signal<Out, Bits<8>>,
    pub arsize: Signal<Out, Bits<3>>,
    pub arburst: Signal<Out, Bits<2>>,
    pub rvalid: Signal<In, Bit>,
    pub rready: Signal<Out, Bit>,
    pub rdata: Signal<In, Bits<DW>>,
    pub rresp: Signal<In, Bits<2>>,
    pub rlast: Signal<In, Bit>,
    // AXI4 write channels (the copier).
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
    // Status.
    pub boot_ready: Signal<Out, Bit>,
    pub boot_error: Signal<Out, Bit>,
    pub boot_code: Signal<Out, Bits<3>>,
    pub boot_detail: Signal<Out, Bits<8>>,
    /// Bus words the copier has handed to DRAM so far (progress).
    pub boot_words: Signal<Out, Bits<32>>,
    pub ready: Signal<Out, Bit>,
    pub image_error: Signal<Out, Bit>,
    pub bad_word: Signal<Out, Bits<4>>,
    pub crc_error: Signal<Out, Bit>,
    pub bad_region: Signal<Out, Bits<IDX_BITS>>,
    pub axi_error: Signal<Out, Bit>,
    pub stat_beats: Signal<Out, Bits<STAT_BITS>>,
    pub stat_busy: Signal<Out, Bits<STAT_BITS>>,
    copier: BootCopier<DW, SW, 9>,
    dec: DramDecoder<L, DW>,
    /// A start taken while the copy runs.
    pend: DFF<Bit>,
    /// A start refused (the copy failed): `done` in the next cycle.
    err_done: DFF<Bit>,
}

/// Why a [`BootedDecoder`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootedBuildError {
    #[error("{0}")]
    Decoder(#[from] DramBuildError),
    #[error("the boot copier: {0}")]
    Boot(String),
}

impl<const L: usize, const DW: usize, const SW: usize> BootedDecoder<L, DW, SW> {
    /// The top for shape `c`: the decoder as [`DramDecoder::new`] with `p`; the copier
    /// writes the image at `p.base`, reading it from block `lba`.
    pub fn new(c: &Config, p: DramParams, lba: u64) -> Result<Self, BootedBuildError> {
        let dec = DramDecoder::<L, DW>::new(c, p)?;
        let copier = BootCopier::<DW, SW, 9>::new(
            c,
            L as u32,
            BootParams {
                base: p.base,
                lba,
                ..Default::default()
            },
        )
        .map_err(|e| BootedBuildError::Boot(e.0))?;
        Ok(Self {
            clock: Default::default(),
            reset: Default::default(),
            start: Default::default(),
            token: Default::default(),
            pos: Default::default(),
            done: Default::default(),
            busy: Default::default(),
            next_token: Default::default(),
            pos_error: Default::default(),
            logit_valid: Default::default(),
            logit_index: Default::default(),
            logit_value: Default::default(),
            arvalid: Default::default(),
            arready: Default::default(),
            araddr: Default::default(),
            arlen: Default::default(),
            arsize: Default::default(),
            arburst: Default::default(),
            rvalid: Default::default(),
            rready: Default::default(),
            rdata: Default::default(),
            rresp: Default::default(),
            rlast: Default::default(),
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
            bd_cmd_valid: Default::default(),
            bd_cmd_ready: Default::default(),
            bd_lba: Default::default(),
            bd_count: Default::default(),
            bd_valid: Default::default(),
            bd_ready: Default::default(),
            bd_data: Default::default(),
            bd_error: Default::default(),
            bd_abort: Default::default(),
            boot_ready: Default::default(),
            boot_error: Default::default(),
            boot_code: Default::default(),
            boot_detail: Default::default(),
            boot_words: Default::default(),
            ready: Default::default(),
            image_error: Default::default(),
            bad_word: Default::default(),
            crc_error: Default::default(),
            bad_region: Default::default(),
            axi_error: Default::default(),
            stat_beats: Default::default(),
            stat_busy: Default::default(),
            copier,
            dec,
            pend: Default::default(),
            err_done: Default::default(),
        })
    }

    /// The decoder (simulation).
    pub fn decoder(&self) -> &DramDecoder<L, DW> {
        &self.dec
    }
}

impl<const L: usize, const DW: usize, const SW: usize> Logic for BootedDecoder<L, DW, SW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, pend, err_done);
        clock!(self, clock, copier, dec);
        // The copier: the block device and the AXI write channels.
        self.copier.reset.next = self.reset.val();
        self.bd_cmd_valid.next = self.copier.bd_cmd_valid.val();
        self.copier.bd_cmd_ready.next = self.bd_cmd_ready.val();
        self.bd_lba.next = self.copier.bd_lba.val();
        self.bd_count.next = self.copier.bd_count.val();
        self.copier.bd_valid.next = self.bd_valid.val();
        self.bd_ready.next = self.copier.bd_ready.val();
        self.copier.bd_data.next = self.bd_data.val();
        self.copier.bd_error.next = self.bd_error.val();
        self.bd_abort.next = self.copier.bd_abort.val();
        self.awvalid.next = self.copier.awvalid.val();
        self.copier.awready.next = self.awready.val();
        self.awaddr.next = self.copier.awaddr.val();
        self.awlen.next = self.copier.awlen.val();
        self.awsize.next = self.copier.awsize.val();
        self.awburst.next = self.copier.awburst.val();
        self.wvalid.next = self.copier.wvalid.val();
        self.copier.wready.next = self.wready.val();
        self.wdata.next = self.copier.wdata.val();
        self.wstrb.next = self.copier.wstrb.val();
        self.wlast.next = self.copier.wlast.val();
        self.copier.bvalid.next = self.bvalid.val();
        self.bready.next = self.copier.bready.val();
        self.copier.bresp.next = self.bresp.val();
        self.boot_ready.next = self.copier.ready.val();
        self.boot_error.next = self.copier.error.val();
        self.boot_code.next = self.copier.err_code.val();
        self.boot_detail.next = self.copier.err_detail.val();
        self.boot_words.next = self.copier.words.val();
        // The decoder: held in reset until the image is in DRAM and checked.
        self.dec.reset.next = self.reset.val() | (!self.copier.ready.val());
        self.dec.token.next = self.token.val();
        self.dec.pos.next = self.pos.val();
        self.dec.start.next = false;
        self.err_done.d.next = false;
        if self.copier.ready.val() {
            self.dec.start.next = self.start.val() | self.pend.q.val();
            self.pend.d.next = false;
        }
        if self.copier.error.val() {
            self.err_done.d.next = self.start.val() | self.pend.q.val();
            self.pend.d.next = false;
        }
        if self.copier.busy.val() & self.start.val() {
            self.pend.d.next = true;
        }
        if self.reset.val() {
            self.pend.d.next = false;
            self.err_done.d.next = false;
        }
        self.done.next = self.dec.done.val() | self.err_done.q.val();
        self.busy.next = (self.dec.busy.val() | self.pend.q.val()) | self.copier.busy.val();
        self.next_token.next = self.dec.next_token.val();
        self.pos_error.next = self.dec.pos_error.val();
        self.logit_valid.next = self.dec.logit_valid.val();
        self.logit_index.next = self.dec.logit_index.val();
        self.logit_value.next = self.dec.logit_value.val();
        self.arvalid.next = self.dec.arvalid.val();
        self.dec.arready.next = self.arready.val();
        self.araddr.next = self.dec.araddr.val();
        self.arlen.next = self.dec.arlen.val();
        self.arsize.next = self.dec.arsize.val();
        self.arburst.next = self.dec.arburst.val();
        self.dec.rvalid.next = self.rvalid.val();
        self.rready.next = self.dec.rready.val();
        self.dec.rdata.next = self.rdata.val();
        self.dec.rresp.next = self.rresp.val();
        self.dec.rlast.next = self.rlast.val();
        self.ready.next = self.dec.ready.val();
        self.image_error.next = self.dec.image_error.val();
        self.bad_word.next = self.dec.bad_word.val();
        self.crc_error.next = self.dec.crc_error.val();
        self.bad_region.next = self.dec.bad_region.val();
        self.axi_error.next = self.dec.axi_error.val();
        self.stat_beats.next = self.dec.stat_beats.val();
        self.stat_busy.next = self.dec.stat_busy.val();
    }
}
