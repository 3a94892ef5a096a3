//! `DramDecoder<L, DW>`: the decoder whose weights stream from DRAM: the AXI4 burst
//! read master ([`AxiReadMaster`], `DW`-bit bus), the stream router ([`StreamRouter`])
//! and the streaming decoder core ([`Decoder::streaming`]), with the command issuer that
//! asks for each token's three reads (`docs/dram.md`).
//!
//! The Verilog depends on the model's shape, the lane count `L`, the bus width `DW`, the
//! on-chip context and where the image sits in DRAM; not on the weights: any image laid
//! out for that shape, lane count and bus (`llamahdl image`) runs on it.
//!
//! Per token (position accepted, not refused) the command issuer asks the read master
//! for, in this order: the token's embedding block (`block_stride` bytes at the
//! embedding region's `offset + token · block_stride`), everything from layer 0's
//! `rms_att` to `rms_final` (one sequential read), and the classifier (its own region,
//! or the whole embedding region when the classifier is shared). The read master keeps
//! its FIFO full across the phases that take no weights (RMSNorm, attention); the router
//! hands matrix beats to the matrix-vector unit and gains to the RMSNorm unit.
//!
//! ## Interface
//! - `start`, `token`, `pos`, `done`, `busy`, `next_token`, `pos_error`, `logit_*`: as
//!   [`Decoder`]'s.
//! - AXI4 read channels (`ar*`, `r*`): see [`AxiReadMaster`]; one ID, `rready` high.
//! - The image header: after power-up and after `reset` the design first reads the
//!   image's 128-byte header and compares it with the header it was generated for
//!   ([`HeaderCheck`]: magic, version, shape, lanes, bus, quantisation, region count,
//!   offsets, size). `ready` rises when it matched; `image_error` (sticky until `reset`)
//!   when it did not, with `bad_word` the first bus word that differed. A `start` before
//!   the verdict is held and runs once `ready` rises; a `start` with `image_error` high
//!   computes nothing: `done` pulses the next cycle with `image_error` high and no logit.
//! - `axi_error` (sticky until `reset`): a read came back with an error response; the
//!   position in progress does not finish (no `done`) and nothing more is read.
//! - `reset` (synchronous, active high): the read master and the router back to their
//!   first state. Assert it with the DRAM's reset, or while idle.
//! - `stat_beats`, `stat_busy`: the read master's counters of R beats received and of
//!   cycles with a burst outstanding.
//!
//! ## Timing
//! Commands go out from the second cycle after `start`; the first embedding word reaches
//! the matrix-vector unit about the DRAM's first-beat latency plus six cycles later.
//! Cycles per token are measured by `llamahdl sim --weights dram`.

use super::Decoder;
use crate::bits::{Addr, Pos, Token};
use crate::units::dram::axi_read::{
    AxiParamError, AxiReadMaster, AxiReadParams, ADDR_BITS, STAT_BITS, WORDS_BITS,
};
use crate::units::dram::header_check::HeaderCheck;
use crate::units::dram::region_check::{segments, CrcTable, StreamCheck, IDX_BITS};
use crate::units::dram::router::{script, StreamRouter};
use crate::units::dram::unpack::GROUP;
use llamahdl_golden::ScaleMode;
use llamahdl_image::layout::plan;
use llamahdl_model::Config;
use rust_hdl::prelude::*;

/// The read master's FIFO depth, `2^FIFO_FA` bus words.
pub const FIFO_FA: usize = 9;

// Command issuer states.
const C_IDLE: u64 = 0;
const C_PREP: u64 = 1;
const C_EMB: u64 = 2;
const C_LAYERS: u64 = 3;
const C_CLS: u64 = 4;
const C_HDR: u64 = 5;
const C_TBL: u64 = 6;

// Header states.
const H_TODO: u64 = 0;
const H_READ: u64 = 1;
const H_OK: u64 = 2;
const H_BAD: u64 = 3;
const H_TABLE: u64 = 4;

/// What a [`DramDecoder`] is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DramParams {
    /// On-chip context (positions of the key/value cache).
    pub ctx: usize,
    /// Byte address of the image in DRAM (a multiple of 4096).
    pub base: u64,
    /// The read master's bursts in flight and burst length.
    pub axi: AxiReadParams,
}

/// Why a [`DramDecoder`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DramBuildError {
    #[error("{0}")]
    Axi(#[from] AxiParamError),
    #[error("the weight image layout: {0}")]
    Layout(String),
    #[error("{0}")]
    Unsupported(String),
}

#[derive(LogicBlock)]
pub struct DramDecoder<const L: usize, const DW: usize> {
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
    pub axi_error: Signal<Out, Bit>,
    pub ready: Signal<Out, Bit>,
    pub image_error: Signal<Out, Bit>,
    pub bad_word: Signal<Out, Bits<4>>,
    /// A region's CRC-32 differed from the region table's (with `image_error`): its index.
    pub crc_error: Signal<Out, Bit>,
    pub bad_region: Signal<Out, Bits<IDX_BITS>>,
    pub stat_beats: Signal<Out, Bits<STAT_BITS>>,
    pub stat_busy: Signal<Out, Bits<STAT_BITS>>,
    reader: AxiReadMaster<DW, FIFO_FA>,
    router: StreamRouter<L, DW>,
    core: Decoder<L>,
    hcheck: HeaderCheck<DW>,
    crc_tab: CrcTable<DW>,
    scheck: StreamCheck<DW>,
    hstate: DFF<Bits<3>>,
    /// A `start` held until the header's verdict, with its token and position.
    pend: DFF<Bit>,
    ptok: DFF<Token>,
    ppos: DFF<Pos>,
    err_done: DFF<Bit>,
    go: Signal<Local, Bit>,
    go_tok: Signal<Local, Token>,
    cstate: DFF<Bits<3>>,
    tok_r: DFF<Token>,
    prod: DFF<Bits<32>>,
    emb_addr: DFF<Bits<ADDR_BITS>>,
    emb_base: Constant<Bits<ADDR_BITS>>,
    emb_stride: Constant<Bits<16>>,
    emb_words: Constant<Bits<WORDS_BITS>>,
    layers_addr: Constant<Bits<ADDR_BITS>>,
    layers_words: Constant<Bits<WORDS_BITS>>,
    cls_addr: Constant<Bits<ADDR_BITS>>,
    cls_words: Constant<Bits<WORDS_BITS>>,
    hdr_addr: Constant<Bits<ADDR_BITS>>,
    hdr_words: Constant<Bits<WORDS_BITS>>,
    tbl_addr: Constant<Bits<ADDR_BITS>>,
    tbl_words: Constant<Bits<WORDS_BITS>>,
    c_hdr: Constant<Bits<3>>,
    c_tbl: Constant<Bits<3>>,
    h_todo: Constant<Bits<3>>,
    h_read: Constant<Bits<3>>,
    h_ok: Constant<Bits<3>>,
    h_bad: Constant<Bits<3>>,
    h_table: Constant<Bits<3>>,
    c_idle: Constant<Bits<3>>,
    c_prep: Constant<Bits<3>>,
    c_emb: Constant<Bits<3>>,
    c_layers: Constant<Bits<3>>,
    c_cls: Constant<Bits<3>>,
    zero_a: Constant<Bits<ADDR_BITS>>,
    zero_w: Constant<Bits<WORDS_BITS>>,
}

impl<const L: usize, const DW: usize> DramDecoder<L, DW> {
    /// The decoder for shape `c` on a `DW`-bit bus, or why it cannot be built.
    pub fn new(c: &Config, p: DramParams) -> Result<Self, DramBuildError> {
        let w = DW / 8;
        if ![128, 256, 512].contains(&DW) || L < w {
            return Err(DramBuildError::Unsupported(format!(
                "a {DW}-bit bus with {L} lanes: the streaming decoder takes a 128-, 256- or \
                 512-bit bus no wider than its lanes (lanes >= bus bytes)"
            )));
        }
        if p.base % 4096 != 0 || p.base >= 1 << ADDR_BITS {
            return Err(DramBuildError::Unsupported(format!(
                "image base address {:#x} must be a multiple of 4096 below 2^{ADDR_BITS}",
                p.base
            )));
        }
        let plan = plan(c, L as u32, DW as u32, ScaleMode::Mant8)
            .map_err(|e| DramBuildError::Layout(e.to_string()))?;
        let r = &plan.regions;
        let emb = &r[0];
        let (first, fin) = (&r[1], &r[2 + 7 * c.n_layers - 1]);
        let layers_bytes = fin.offset + fin.length - first.offset;
        let cls = if c.shared_classifier {
            emb
        } else {
            &r[r.len() - 1]
        };
        if emb.block_stride >= 1 << 16 || c.vocab_size >= 1 << 16 {
            return Err(DramBuildError::Unsupported(format!(
                "embedding rows of {} bytes or a vocabulary of {}: the token's address is a \
                 16 x 16-bit product",
                emb.block_stride, c.vocab_size
            )));
        }
        if plan.header.image_bytes + p.base > 1 << ADDR_BITS {
            return Err(DramBuildError::Unsupported(format!(
                "an image of {} bytes at {:#x} does not fit {ADDR_BITS}-bit addresses",
                plan.header.image_bytes, p.base
            )));
        }
        let words = |bytes: u64| -> Result<Constant<Bits<WORDS_BITS>>, DramBuildError> {
            let n = bytes / w as u64;
            if n >= 1 << WORDS_BITS {
                return Err(DramBuildError::Unsupported(format!(
                    "a read of {bytes} bytes exceeds the read master's {WORDS_BITS}-bit word count"
                )));
            }
            Ok(Constant::new(n.into()))
        };
        let a = |v: u64| Constant::new((p.base + v).into());
        // Gain vectors of `dim` int16, rounded up to whole bus words, in groups.
        let bank_groups = first.row_stride as usize / (2 * GROUP);
        let sc = script(r, L, w, c.shared_classifier);
        let c3 = |v: u64| Constant::new(v.into());
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
            axi_error: Default::default(),
            ready: Default::default(),
            image_error: Default::default(),
            bad_word: Default::default(),
            crc_error: Default::default(),
            bad_region: Default::default(),
            stat_beats: Default::default(),
            stat_busy: Default::default(),
            reader: AxiReadMaster::new(p.axi)?,
            router: StreamRouter::new(sc, bank_groups),
            core: Decoder::streaming(c, p.ctx, bank_groups),
            hcheck: HeaderCheck::new(&plan.header.encode()),
            crc_tab: CrcTable::new(
                r.len(),
                ((plan.header.data_offset - plan.header.table_offset) / w as u64) as usize,
            ),
            scheck: StreamCheck::new(&segments(r, w, c.shared_classifier)),
            hstate: Default::default(),
            pend: Default::default(),
            ptok: Default::default(),
            ppos: Default::default(),
            err_done: Default::default(),
            go: Default::default(),
            go_tok: Default::default(),
            cstate: Default::default(),
            tok_r: Default::default(),
            prod: Default::default(),
            emb_addr: Default::default(),
            emb_base: a(emb.offset),
            emb_stride: Constant::new((emb.block_stride as u64).into()),
            emb_words: words(emb.block_stride as u64)?,
            layers_addr: a(first.offset),
            layers_words: words(layers_bytes)?,
            cls_addr: a(cls.offset),
            cls_words: words(cls.length)?,
            hdr_addr: a(0),
            hdr_words: words(llamahdl_image::format::HEADER_BYTES as u64)?,
            tbl_addr: a(plan.header.table_offset),
            tbl_words: words(plan.header.data_offset - plan.header.table_offset)?,
            c_hdr: c3(C_HDR),
            c_tbl: c3(C_TBL),
            h_todo: c3(H_TODO),
            h_read: c3(H_READ),
            h_ok: c3(H_OK),
            h_bad: c3(H_BAD),
            h_table: c3(H_TABLE),
            c_idle: c3(C_IDLE),
            c_prep: c3(C_PREP),
            c_emb: c3(C_EMB),
            c_layers: c3(C_LAYERS),
            c_cls: c3(C_CLS),
            zero_a: Constant::new(0u64.into()),
            zero_w: Constant::new(0u64.into()),
        })
    }

    /// The streaming decoder core (simulation: program counter, collisions).
    pub fn core(&self) -> &Decoder<L> {
        &self.core
    }

    /// The router's script entry being read (simulation).
    pub fn region(&self) -> usize {
        self.router.region.val().index()
    }
}

impl<const L: usize, const DW: usize> Logic for DramDecoder<L, DW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, cstate, tok_r, prod, emb_addr, hstate, pend, ptok, ppos, err_done);
        clock!(self, clock, reader, router, core, hcheck, crc_tab, scheck);
        // ---- The image header: read and checked first; starts wait for the verdict. ----
        self.hcheck.reset.next = self.reset.val();
        self.hcheck.start.next = false;
        self.hcheck.in_data.next = self.reader.out_data.val();
        self.hcheck.take.next =
            (self.hstate.q.val() == self.h_read.val()) & self.reader.out_valid.val();
        if (self.hstate.q.val() == self.h_todo.val()) & (self.cstate.q.val() == self.c_idle.val()) {
            self.hcheck.start.next = true;
            self.hstate.d.next = self.h_read.val();
            self.cstate.d.next = self.c_hdr.val();
        }
        // A good header: the region table's CRCs next (its read is issued at once).
        if (self.hstate.q.val() == self.h_read.val()) & self.hcheck.ok.val() {
            self.hstate.d.next = self.h_table.val();
            self.cstate.d.next = self.c_tbl.val();
        }
        self.crc_tab.reset.next = self.reset.val();
        self.crc_tab.word.next = self.reader.out_data.val();
        self.crc_tab.we.next =
            (self.hstate.q.val() == self.h_table.val()) & self.reader.out_valid.val();
        self.crc_tab.raddr.next = self.scheck.exp_idx.val();
        if (self.hstate.q.val() == self.h_table.val()) & self.crc_tab.full.val() {
            self.hstate.d.next = self.h_ok.val();
        }
        // Every region's CRC as it streams by; a mismatch ends the image's use.
        self.scheck.reset.next = self.reset.val();
        self.scheck.take.next = self.reader.out_valid.val()
            & self.router.in_ready.val()
            & (self.hstate.q.val() != self.h_read.val())
            & (self.hstate.q.val() != self.h_table.val());
        self.scheck.word.next = self.reader.out_data.val();
        self.scheck.exp_crc.next = self.crc_tab.rdata.val();
        if (self.hstate.q.val() == self.h_ok.val()) & self.scheck.error.val() {
            self.hstate.d.next = self.h_bad.val();
        }
        self.crc_error.next = self.scheck.error.val();
        self.bad_region.next = self.scheck.bad_region.val();
        if (self.hstate.q.val() == self.h_read.val()) & self.hcheck.error.val() {
            self.hstate.d.next = self.h_bad.val();
        }
        self.ready.next = self.hstate.q.val() == self.h_ok.val();
        self.image_error.next = (self.hstate.q.val() == self.h_bad.val()) | self.scheck.error.val();
        self.bad_word.next = self.hcheck.bad_word.val();
        // A start goes to the core once the header is good (a held one first); with a bad
        // header it only pulses `done`.
        self.go.next = false;
        self.go_tok.next = self.token.val();
        self.err_done.d.next = false;
        if self.start.val() & !self.core.busy.val() & !self.pend.q.val() {
            self.ptok.d.next = self.token.val();
            self.ppos.d.next = self.pos.val();
        }
        if self.hstate.q.val() == self.h_ok.val() {
            if self.pend.q.val() {
                self.go.next = true;
                self.go_tok.next = self.ptok.q.val();
                self.pend.d.next = false;
            } else {
                self.go.next = self.start.val();
            }
        } else if self.hstate.q.val() == self.h_bad.val() {
            if self.pend.q.val() | self.start.val() {
                self.err_done.d.next = true;
                self.pend.d.next = false;
            }
        } else if self.start.val() {
            self.pend.d.next = true;
        }
        // ---- The decoder core. ----
        self.core.start.next = self.go.val();
        self.core.token.next = self.go_tok.val();
        if self.pend.q.val() {
            self.core.pos.next = self.ppos.q.val();
        } else {
            self.core.pos.next = self.pos.val();
        }
        self.core.use_ram.next = false;
        self.core.w_valid.next = false;
        for i in 0..L {
            self.core.w_data[i].next = self.router.st_data[i].val();
        }
        self.core.w_scale_mant.next = self.router.st_mant.val();
        self.core.w_scale_exp.next = self.router.st_exp.val();
        self.done.next = self.core.done.val() | self.err_done.q.val();
        self.next_token.next = self.core.next_token.val();
        self.pos_error.next = self.core.pos_error.val();
        self.logit_valid.next = self.core.logit_valid.val();
        self.logit_index.next = self.core.logit_index.val();
        self.logit_value.next = self.core.logit_value.val();
        self.busy.next =
            self.core.busy.val() | (self.cstate.q.val() != self.c_idle.val()) | self.pend.q.val();

        // ---- The router between the read master's FIFO and the core. ----
        self.router.reset.next = self.reset.val();
        // (While the header is read its words go to the check, not to the router.)
        if (self.hstate.q.val() == self.h_read.val()) | (self.hstate.q.val() == self.h_table.val())
        {
            self.router.in_valid.next = false;
            self.reader.out_ready.next = true;
        } else {
            self.router.in_valid.next = self.reader.out_valid.val();
            self.reader.out_ready.next = self.router.in_ready.val();
        }
        self.router.in_data.next = self.reader.out_data.val();
        self.core.st_valid.next = self.router.st_valid.val();
        for i in 0..L {
            self.core.st_data[i].next = self.router.st_data[i].val();
        }
        self.core.st_mant.next = self.router.st_mant.val();
        self.core.st_exp.next = self.router.st_exp.val();
        self.router.st_pop.next = self.core.st_pop.val();
        self.core.g_we.next = self.router.g_we.val();
        self.core.g_waddr.next = self.router.g_waddr.val();
        for j in 0..GROUP {
            self.core.g_data[j].next = self.router.g_data[j].val();
        }
        self.core.g_done.next = self.router.g_done.val();
        self.core.g_exp.next = self.router.g_exp.val();
        self.router.g_free.next = self.core.g_free.val();

        // ---- The command issuer: three reads per accepted position. ----
        if self.go.val() {
            self.tok_r.d.next = self.go_tok.val();
        }
        self.prod.d.next = self.tok_r.q.val() * self.emb_stride.val();
        self.emb_addr.d.next = self.emb_base.val() + bit_cast::<ADDR_BITS, 32>(self.prod.q.val());
        self.reader.cmd_valid.next = false;
        self.reader.cmd_addr.next = self.zero_a.val();
        self.reader.cmd_words.next = self.zero_w.val();
        if self.cstate.q.val() == self.c_hdr.val() {
            self.reader.cmd_valid.next = true;
            self.reader.cmd_addr.next = self.hdr_addr.val();
            self.reader.cmd_words.next = self.hdr_words.val();
            if self.reader.cmd_ready.val() {
                self.cstate.d.next = self.c_idle.val();
            }
        }
        if self.cstate.q.val() == self.c_prep.val() {
            self.cstate.d.next = self.c_emb.val();
        }
        if self.cstate.q.val() == self.c_emb.val() {
            self.reader.cmd_valid.next = true;
            self.reader.cmd_addr.next = self.emb_addr.q.val();
            self.reader.cmd_words.next = self.emb_words.val();
            if self.reader.cmd_ready.val() {
                self.cstate.d.next = self.c_layers.val();
            }
        }
        if self.cstate.q.val() == self.c_layers.val() {
            self.reader.cmd_valid.next = true;
            self.reader.cmd_addr.next = self.layers_addr.val();
            self.reader.cmd_words.next = self.layers_words.val();
            if self.reader.cmd_ready.val() {
                self.cstate.d.next = self.c_cls.val();
            }
        }
        if self.cstate.q.val() == self.c_cls.val() {
            self.reader.cmd_valid.next = true;
            self.reader.cmd_addr.next = self.cls_addr.val();
            self.reader.cmd_words.next = self.cls_words.val();
            if self.reader.cmd_ready.val() {
                self.cstate.d.next = self.c_idle.val();
            }
        }
        if self.core.accepted.val() {
            self.cstate.d.next = self.c_prep.val();
        }
        if self.reset.val() {
            self.cstate.d.next = self.c_idle.val();
            self.hstate.d.next = self.h_todo.val();
            self.pend.d.next = false;
        }

        if self.cstate.q.val() == self.c_tbl.val() {
            self.reader.cmd_valid.next = true;
            self.reader.cmd_addr.next = self.tbl_addr.val();
            self.reader.cmd_words.next = self.tbl_words.val();
            if self.reader.cmd_ready.val() {
                self.cstate.d.next = self.c_idle.val();
            }
        }
        // ---- AXI. ----
        self.reader.reset.next = self.reset.val();
        self.reader.clear.next = false;
        self.arvalid.next = self.reader.arvalid.val();
        self.reader.arready.next = self.arready.val();
        self.araddr.next = self.reader.araddr.val();
        self.arlen.next = self.reader.arlen.val();
        self.arsize.next = self.reader.arsize.val();
        self.arburst.next = self.reader.arburst.val();
        self.reader.rvalid.next = self.rvalid.val();
        self.rready.next = self.reader.rready.val();
        self.reader.rdata.next = self.rdata.val();
        self.reader.rresp.next = self.rresp.val();
        self.reader.rlast.next = self.rlast.val();
        self.axi_error.next = self.reader.error.val();
        self.stat_beats.next = self.reader.stat_beats.val();
        self.stat_busy.next = self.reader.stat_busy.val();
    }
}
