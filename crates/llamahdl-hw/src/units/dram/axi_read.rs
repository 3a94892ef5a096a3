//! `AxiReadMaster`: an AXI4 burst read master that streams runs of bus words from DRAM
//! into an output FIFO (the "weights from DRAM" path; `docs/dram.md`).
//!
//! The user asks for `(byte address, number of bus words)`; the master splits each
//! request into INCR bursts of at most `max_burst` (≤ 256) beats that never cross a 4 KiB
//! boundary, keeps up to `max_outstanding` bursts in flight, and issues a burst only when
//! the output FIFO has room for every beat already requested plus the new burst (credit
//! counting), so `rready` is tied high and the bus never waits for us.
//!
//! # Parameters
//!
//! | parameter | where | values | meaning |
//! |-----------|-------|--------|---------|
//! | `DW` | const generic | 64, 128, 256, 512 | data bus width in bits (`W = DW/8` bytes a beat) |
//! | `FA` | const generic | 4..=14 | output FIFO depth `2^FA` words |
//! | `max_outstanding` | [`AxiReadParams`] | 1..=16 | bursts requested (AR issued or waiting in the AR register) and not completed by `rlast` |
//! | `max_burst` | [`AxiReadParams`] | 1..=256, ≤ `2^FA` | beats per burst at most (also limited by the 4 KiB page: `4096/W` beats) |
//!
//! [`AxiReadMaster::new`] returns an [`AxiParamError`] for values outside these ranges.
//! Addresses are [`ADDR_BITS`] = 40 bits (1 TiB).
//!
//! # Interface
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `clock` | in | clock | rising-edge clock (AXI `ACLK`) |
//! | `reset` | in | 1 | synchronous reset, active high (AXI `!ARESETn`): back to the power-up state, FIFO emptied, counters zeroed. Assert it only together with the slave's reset or while `idle` |
//! | `cmd_valid`, `cmd_ready` | in, out | 1, 1 | command handshake (at a rising edge with both high) |
//! | `cmd_addr` | in | 40 | byte address of the first word; its low `log2(W)` bits are ignored (word aligned) |
//! | `cmd_words` | in | 32 | number of bus words; 0 is accepted and does nothing |
//! | `arvalid` .. `arburst` | out | 1, 40, 8, 3, 2 | AXI4 AR channel: `arsize = log2(W)`, `arburst = INCR` (1); no `arid` (one ID, in order), `arcache`/`arprot`/`arlock`/`arqos` are the slave's defaults |
//! | `arready` | in | 1 | AXI4 AR channel |
//! | `rvalid`, `rdata`, `rresp`, `rlast` | in | 1, DW, 2, 1 | AXI4 R channel |
//! | `rready` | out | 1 | always 1 (credit counting guarantees room) |
//! | `out_valid`, `out_data`, `out_ready` | out, out, in | 1, DW, 1 | output stream: a word is taken at a rising edge with `out_valid & out_ready` |
//! | `error` | out | 1 | sticky: a beat came back with `rresp != OKAY` |
//! | `error_resp` | out | 2 | the first bad beat's `rresp` (2 SLVERR, 3 DECERR; 1 EXOKAY too), 0 while no error |
//! | `clear` | in | 1 | clears `error` at a rising edge where no burst is outstanding (`outstanding = 0`); hold it until `error` falls |
//! | `idle` | out | 1 | no command being split and no burst outstanding (the FIFO may still hold words) |
//! | `outstanding` | out | 5 | bursts requested and not completed (counted from the cycle the burst enters the AR register) |
//! | `fifo_level` | out | 16 | words in the output FIFO |
//! | `stat_beats` | out | 32 | R beats received (`rvalid & rready` cycles), since reset, wrapping |
//! | `stat_busy` | out | 32 | cycles with `outstanding != 0` |
//! | `stat_ar_stall` | out | 32 | cycles with `arvalid & !arready` |
//!
//! # Timing
//!
//! * Command: `cmd_ready` is high while the splitter is idle and there is no error; a
//!   command accepted at the edge ending cycle `c` can have its first burst's `arvalid`
//!   high in cycle `c + 4` (splitting, in [`BurstSplit`](super::burst_split::BurstSplit), takes three cycles a burst: page room, length, offer).
//!   The next command is accepted the cycle after the previous one's last burst has been
//!   issued, while its bursts are still in flight.
//! * AR: `arvalid`, `araddr`, `arlen` come straight from registers; `arvalid` stays high
//!   with a stable payload until `arready`. A burst is loaded into the AR register only
//!   when (a) fewer than `max_outstanding` bursts are outstanding, (b) the free credits
//!   (FIFO depth minus words in the FIFO minus beats requested and not received) cover the
//!   burst, and (c) the AR register is empty or handing its burst over in this cycle.
//!   Bursts follow each other every 3 cycles at most (enough for full bandwidth whenever
//!   bursts are 3 beats or longer).
//! * R: `rready` is always 1. A beat received at the edge ending cycle `t` is in the FIFO
//!   and readable (`out_valid`) from cycle `t + 2`; `out_valid`/`out_data` come from the
//!   FIFO's block RAM read register. A popped word's credit is usable for a new burst from
//!   cycle `pop + 2`.
//! * Errors: a beat with `rresp != 0` sets `error` (visible the next cycle) and is not
//!   written to the FIFO, nor is any later beat while `error` is high; the master issues
//!   nothing more and drops the rest of its command, but takes (and drops) the beats of
//!   bursts already requested, as AXI requires. Words delivered before the bad beat stay
//!   in the FIFO. After `clear` the master accepts commands again.
//! * Power-up state (rust-hdl and the emitted Verilog's `initial`) equals the state after
//!   `reset`.
//!
//! # Timing closure
//!
//! Nothing wide is chained with muxes in one cycle: the 4 KiB split works on the low 12
//! bits of the address only (a 16-bit word offset within the page; the 28-bit page
//! number is incremented, not added to), the burst length takes two cycles (room to the
//! page end limited by `max_burst`, then the minimum with the remaining words), and the
//! credit check is one 16-bit comparison in front of a 16-bit add.

use crate::units::dram::burst_split::BurstSplit;
use crate::units::dram::fifo::{ReadFifo, LEVEL_BITS};
use rust_hdl::prelude::*;

/// Width of AXI addresses (`araddr`, `cmd_addr`).
pub const ADDR_BITS: usize = 40;
/// Width of the 4 KiB page number (`araddr[39:12]`).
pub const PAGE_BITS: usize = ADDR_BITS - 12;
/// Width of `cmd_words`.
pub const WORDS_BITS: usize = 32;
/// Width of the statistics counters.
pub const STAT_BITS: usize = 32;
/// Width of `outstanding`.
pub const OUT_BITS: usize = 5;
/// Most bursts outstanding that [`AxiReadParams::max_outstanding`] may ask for.
pub const MAX_OUTSTANDING: usize = 16;

/// AXI `ARBURST` code of an incrementing burst.
pub const BURST_INCR: u64 = 1;
/// AXI response codes.
pub const RESP_OKAY: u64 = 0;
pub const RESP_EXOKAY: u64 = 1;
pub const RESP_SLVERR: u64 = 2;
pub const RESP_DECERR: u64 = 3;

/// Run-time parameters of an [`AxiReadMaster`] (emitted as Verilog `localparam`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxiReadParams {
    /// Bursts in flight at most, 1..=16.
    pub max_outstanding: usize,
    /// Beats per burst at most, 1..=256 and not more than the FIFO depth.
    pub max_burst: usize,
}

impl Default for AxiReadParams {
    fn default() -> Self {
        AxiReadParams {
            max_outstanding: 4,
            max_burst: 256,
        }
    }
}

/// A parameter of [`AxiReadMaster::new`] out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AxiParamError {
    #[error("AXI data width {0} bits is not supported (64, 128, 256 or 512)")]
    DataWidth(usize),
    #[error("FIFO depth 2^{0} is not supported (FA must be 4..=14)")]
    FifoDepth(usize),
    #[error("max_outstanding {0} must be 1..=16")]
    Outstanding(usize),
    #[error("max_burst {burst} must be 1..=256 and at most the FIFO depth {depth}")]
    Burst { burst: usize, depth: usize },
}

/// Checks the parameters of an `AxiReadMaster<dw, fa>` without building it.
pub fn check_params(dw: usize, fa: usize, p: &AxiReadParams) -> Result<(), AxiParamError> {
    if ![64, 128, 256, 512].contains(&dw) {
        return Err(AxiParamError::DataWidth(dw));
    }
    if !(4..=14).contains(&fa) {
        return Err(AxiParamError::FifoDepth(fa));
    }
    if !(1..=MAX_OUTSTANDING).contains(&p.max_outstanding) {
        return Err(AxiParamError::Outstanding(p.max_outstanding));
    }
    if !(1..=256).contains(&p.max_burst) || p.max_burst > 1 << fa {
        return Err(AxiParamError::Burst {
            burst: p.max_burst,
            depth: 1 << fa,
        });
    }
    Ok(())
}

/// AXI4 burst read master with an output FIFO. See the [module docs](self).
#[derive(LogicBlock)]
pub struct AxiReadMaster<const DW: usize, const FA: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    // Command.
    pub cmd_valid: Signal<In, Bit>,
    pub cmd_ready: Signal<Out, Bit>,
    pub cmd_addr: Signal<In, Bits<ADDR_BITS>>,
    pub cmd_words: Signal<In, Bits<WORDS_BITS>>,
    // AXI4 AR channel.
    pub arvalid: Signal<Out, Bit>,
    pub arready: Signal<In, Bit>,
    pub araddr: Signal<Out, Bits<ADDR_BITS>>,
    pub arlen: Signal<Out, Bits<8>>,
    pub arsize: Signal<Out, Bits<3>>,
    pub arburst: Signal<Out, Bits<2>>,
    // AXI4 R channel.
    pub rvalid: Signal<In, Bit>,
    pub rready: Signal<Out, Bit>,
    pub rdata: Signal<In, Bits<DW>>,
    pub rresp: Signal<In, Bits<2>>,
    pub rlast: Signal<In, Bit>,
    // Output stream.
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    pub out_data: Signal<Out, Bits<DW>>,
    // Status.
    pub error: Signal<Out, Bit>,
    pub error_resp: Signal<Out, Bits<2>>,
    pub clear: Signal<In, Bit>,
    pub idle: Signal<Out, Bit>,
    pub outstanding: Signal<Out, Bits<OUT_BITS>>,
    pub fifo_level: Signal<Out, Bits<LEVEL_BITS>>,
    pub stat_beats: Signal<Out, Bits<STAT_BITS>>,
    pub stat_busy: Signal<Out, Bits<STAT_BITS>>,
    pub stat_ar_stall: Signal<Out, Bits<STAT_BITS>>,
    // The FIFO.
    fifo: ReadFifo<DW, FA>,
    // The command's bursts.
    split: BurstSplit,
    // AR register.
    ar_v: DFF<Bit>,
    ar_addr: DFF<Bits<ADDR_BITS>>,
    ar_len: DFF<Bits<8>>,
    // Flow control.
    out_cnt: DFF<Bits<OUT_BITS>>,
    credits: DFFWithInit<Bits<LEVEL_BITS>>,
    freed: DFF<Bits<LEVEL_BITS>>,
    // Errors and statistics.
    err: DFF<Bit>,
    err_code: DFF<Bits<2>>,
    n_beats: DFF<Bits<STAT_BITS>>,
    n_busy: DFF<Bits<STAT_BITS>>,
    n_ar_stall: DFF<Bits<STAT_BITS>>,
    // Constants.
    depth_c: Constant<Bits<LEVEL_BITS>>,
    max_out_c: Constant<Bits<OUT_BITS>>,
    size_c: Constant<Bits<3>>,
    incr_c: Constant<Bits<2>>,
    zero_l: Constant<Bits<LEVEL_BITS>>,
    one_l: Constant<Bits<LEVEL_BITS>>,
    two_l: Constant<Bits<LEVEL_BITS>>,
    zero_w: Constant<Bits<WORDS_BITS>>,
    zero_o: Constant<Bits<OUT_BITS>>,
    one_o: Constant<Bits<OUT_BITS>>,
    one_s: Constant<Bits<STAT_BITS>>,
    zero_a: Constant<Bits<ADDR_BITS>>,
    zero_8: Constant<Bits<8>>,
    one_8: Constant<Bits<8>>,
    zero_2: Constant<Bits<2>>,
    // Combinational temporaries.
    beat: Signal<Local, Bit>,
    bad: Signal<Local, Bit>,
    drop_beat: Signal<Local, Bit>,
    pop: Signal<Local, Bit>,
    done_burst: Signal<Local, Bit>,
    ar_free: Signal<Local, Bit>,
    go: Signal<Local, Bit>,
    fits: Signal<Local, Bit>,
    blen_lo: Signal<Local, Bits<8>>,
}

impl<const DW: usize, const FA: usize> AxiReadMaster<DW, FA> {
    /// A master with run-time parameters `p`, or the reason they (or `DW`, `FA`) are not
    /// supported.
    pub fn new(p: AxiReadParams) -> Result<Self, AxiParamError> {
        check_params(DW, FA, &p)?;
        let bytes = DW / 8;
        let size = bytes.trailing_zeros() as u64;
        Ok(Self {
            clock: Default::default(),
            reset: Default::default(),
            cmd_valid: Default::default(),
            cmd_ready: Default::default(),
            cmd_addr: Default::default(),
            cmd_words: Default::default(),
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
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_data: Default::default(),
            error: Default::default(),
            error_resp: Default::default(),
            clear: Default::default(),
            idle: Default::default(),
            outstanding: Default::default(),
            fifo_level: Default::default(),
            stat_beats: Default::default(),
            stat_busy: Default::default(),
            stat_ar_stall: Default::default(),
            fifo: Default::default(),
            split: BurstSplit::new(bytes, p.max_burst),
            ar_v: Default::default(),
            ar_addr: Default::default(),
            ar_len: Default::default(),
            out_cnt: Default::default(),
            credits: DFFWithInit::new((1u64 << FA).into()),
            freed: Default::default(),
            err: Default::default(),
            err_code: Default::default(),
            n_beats: Default::default(),
            n_busy: Default::default(),
            n_ar_stall: Default::default(),
            depth_c: Constant::new((1u64 << FA).into()),
            max_out_c: Constant::new((p.max_outstanding as u64).into()),
            size_c: Constant::new(size.into()),
            incr_c: Constant::new(BURST_INCR.into()),
            zero_l: Constant::new(0u64.into()),
            one_l: Constant::new(1u64.into()),
            two_l: Constant::new(2u64.into()),
            zero_w: Constant::new(0u64.into()),
            zero_o: Constant::new(0u64.into()),
            one_o: Constant::new(1u64.into()),
            one_s: Constant::new(1u64.into()),
            zero_a: Constant::new(0u64.into()),
            zero_8: Constant::new(0u64.into()),
            one_8: Constant::new(1u64.into()),
            zero_2: Constant::new(0u64.into()),
            beat: Default::default(),
            bad: Default::default(),
            drop_beat: Default::default(),
            pop: Default::default(),
            done_burst: Default::default(),
            ar_free: Default::default(),
            go: Default::default(),
            fits: Default::default(),
            blen_lo: Default::default(),
        })
    }
}

impl<const DW: usize, const FA: usize> Logic for AxiReadMaster<DW, FA> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, ar_v, ar_addr, ar_len, out_cnt, credits, freed, err, err_code, n_beats,
            n_busy, n_ar_stall
        );
        clock!(self, clock, fifo, split);
        // R channel: every beat is taken (rready = 1); a bad one, and any after it, dropped.
        self.beat.next = self.rvalid.val();
        self.bad.next = self.beat.val() & (self.rresp.val() != self.zero_2.val());
        self.drop_beat.next = self.beat.val() & (self.bad.val() | self.err.q.val());
        self.done_burst.next =
            (self.beat.val() & self.rlast.val()) & (self.out_cnt.q.val() != self.zero_o.val());
        self.pop.next = self.out_ready.val() & self.fifo.valid.val();
        // The command's bursts (an error ends the command being split); the offered one
        // is issued when it fits.
        self.split.reset.next = self.reset.val();
        self.split.abort.next = self.err.q.val();
        self.split.cmd_valid.next = self.cmd_valid.val();
        self.split.cmd_addr.next = self.cmd_addr.val();
        self.split.cmd_words.next = self.cmd_words.val();
        self.fits.next = (self.out_cnt.q.val() < self.max_out_c.val())
            & (self.split.b_len.val() <= self.credits.q.val());
        self.ar_free.next = (!self.ar_v.q.val()) | self.arready.val();
        self.go.next = self.split.offer.val() & (self.fits.val() & self.ar_free.val());
        self.split.take.next = self.go.val();
        self.blen_lo.next = self.split.b_len.val().get_bits::<8>(0);
        // Outputs.
        self.cmd_ready.next = self.split.cmd_ready.val();
        self.arvalid.next = self.ar_v.q.val();
        self.araddr.next = self.ar_addr.q.val();
        self.arlen.next = self.ar_len.q.val();
        self.arsize.next = self.size_c.val();
        self.arburst.next = self.incr_c.val();
        self.rready.next = true;
        self.fifo.push.next = self.beat.val() & (!self.drop_beat.val());
        self.fifo.push_data.next = self.rdata.val();
        self.fifo.pop.next = self.pop.val();
        self.fifo.reset.next = self.reset.val();
        self.out_valid.next = self.fifo.valid.val();
        self.out_data.next = self.fifo.data.val();
        self.error.next = self.err.q.val();
        self.error_resp.next = self.err_code.q.val();
        self.idle.next = self.split.idle.val() & (self.out_cnt.q.val() == self.zero_o.val());
        self.outstanding.next = self.out_cnt.q.val();
        self.fifo_level.next = self.fifo.level.val();
        self.stat_beats.next = self.n_beats.q.val();
        self.stat_busy.next = self.n_busy.q.val();
        self.stat_ar_stall.next = self.n_ar_stall.q.val();
        // AR register: load a burst (go), or empty on the handshake.
        if self.ar_v.q.val() & self.arready.val() {
            self.ar_v.d.next = false;
        }
        if self.go.val() {
            self.ar_v.d.next = true;
            self.ar_addr.d.next = self.split.b_addr.val();
            self.ar_len.d.next = self.blen_lo.val() - self.one_8.val();
        }
        // Outstanding bursts: +1 when one enters the AR register, -1 at its rlast.
        if self.go.val() & (!self.done_burst.val()) {
            self.out_cnt.d.next = self.out_cnt.q.val() + self.one_o.val();
        }
        if (!self.go.val()) & self.done_burst.val() {
            self.out_cnt.d.next = self.out_cnt.q.val() - self.one_o.val();
        }
        // Credits: a burst takes its beats; a popped or dropped word gives one back
        // (registered first, so the credit returns a cycle later).
        self.freed.d.next = self.zero_l.val();
        if self.pop.val() | self.drop_beat.val() {
            self.freed.d.next = self.one_l.val();
        }
        if self.pop.val() & self.drop_beat.val() {
            self.freed.d.next = self.two_l.val();
        }
        if self.go.val() {
            self.credits.d.next =
                (self.credits.q.val() - self.split.b_len.val()) + self.freed.q.val();
        } else {
            self.credits.d.next = self.credits.q.val() + self.freed.q.val();
        }
        // Errors.
        if self.bad.val() & (!self.err.q.val()) {
            self.err.d.next = true;
            self.err_code.d.next = self.rresp.val();
        }
        if (self.clear.val() & self.err.q.val()) & (self.out_cnt.q.val() == self.zero_o.val()) {
            self.err.d.next = false;
            self.err_code.d.next = self.zero_2.val();
        }
        // Statistics.
        if self.beat.val() {
            self.n_beats.d.next = self.n_beats.q.val() + self.one_s.val();
        }
        if self.out_cnt.q.val() != self.zero_o.val() {
            self.n_busy.d.next = self.n_busy.q.val() + self.one_s.val();
        }
        if self.ar_v.q.val() & (!self.arready.val()) {
            self.n_ar_stall.d.next = self.n_ar_stall.q.val() + self.one_s.val();
        }
        // Reset: the power-up state.
        if self.reset.val() {
            self.ar_v.d.next = false;
            self.ar_addr.d.next = self.zero_a.val();
            self.ar_len.d.next = self.zero_8.val();
            self.out_cnt.d.next = self.zero_o.val();
            self.credits.d.next = self.depth_c.val();
            self.freed.d.next = self.zero_l.val();
            self.err.d.next = false;
            self.err_code.d.next = self.zero_2.val();
            self.n_beats.d.next = self.zero_w.val();
            self.n_busy.d.next = self.zero_w.val();
            self.n_ar_stall.d.next = self.zero_w.val();
        }
    }
}
