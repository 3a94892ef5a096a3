//! `AxiWriteMaster`: an AXI4 burst write master that writes a stream of bus words into
//! DRAM (the boot copy from flash, the key/value cache; `docs/dram.md`).
//!
//! The user pushes words into the input FIFO (`in_*`) and asks for `(byte address, number
//! of bus words)` (`cmd_*`); the master splits each command into INCR bursts of at most
//! `max_burst` beats that never cross a 4 KiB boundary ([`BurstSplit`]), keeps up to
//! `max_outstanding` bursts in flight (AW issued, B not yet received), and issues a
//! burst's AW only when the FIFO already holds every beat of it, so that once a burst's
//! W beats start they follow at one a cycle whenever the slave takes them (`wvalid` never
//! drops inside a burst). `bready` is tied high.
//!
//! # Parameters
//!
//! | parameter | where | values | meaning |
//! |-----------|-------|--------|---------|
//! | `DW` | const generic | 64, 128, 256, 512 | data bus width in bits (`W = DW/8` bytes a beat) |
//! | `SW` | const generic | `DW / 8` | `wstrb` width |
//! | `FA` | const generic | 4..=14 | input FIFO depth `2^FA` words |
//! | `max_outstanding` | [`AxiWriteParams`] | 1..=15 | bursts with AW issued and no B yet |
//! | `max_burst` | [`AxiWriteParams`] | 1..=256, ≤ `2^FA` | beats per burst at most (also limited by the 4 KiB page: `4096/W` beats) |
//!
//! # Interface
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `clock`, `reset` | in | clock, 1 | rising-edge clock; synchronous reset, active high (AXI `!ARESETn`), back to the power-up state: FIFO emptied, counters zeroed. Assert it only together with the slave's reset or while `idle` |
//! | `in_valid`, `in_ready`, `in_data` | in, out, in | 1, 1, DW | input stream: a word enters the FIFO at an edge with `in_valid & in_ready`; `in_ready` = the FIFO is not full |
//! | `cmd_valid`, `cmd_ready` | in, out | 1, 1 | command handshake; `cmd_ready` is high while no command is being split and there is no error |
//! | `cmd_addr`, `cmd_words` | in | 40, 32 | byte address (low `log2(W)` bits ignored) and number of words; the words are the next `cmd_words` words of the input stream (pushed before or after the command) |
//! | `awvalid` .. `awburst`, `awready` | out .. in | 1, 40, 8, 3, 2, 1 | AXI4 AW channel: `awsize = log2(W)`, `awburst = INCR`; one ID |
//! | `wvalid`, `wdata`, `wstrb`, `wlast`, `wready` | out, out, out, out, in | 1, DW, SW, 1, 1 | AXI4 W channel: `wstrb` all ones |
//! | `bvalid`, `bresp`, `bready` | in, in, out | 1, 2, 1 | AXI4 B channel: `bready` always 1 |
//! | `error`, `error_resp` | out | 1, 2 | sticky: a burst was answered with `bresp != OKAY`; the first such `bresp` |
//! | `clear` | in | 1 | at an edge with `idle` (below): clears `error` and empties the FIFO |
//! | `idle` | out | 1 | no command being split and no burst outstanding: every word of every command taken has been written and acknowledged |
//! | `outstanding` | out | 5 | bursts with AW issued (counted from the AW register) and no B yet |
//! | `fifo_level` | out | 16 | words in the input FIFO |
//! | `stat_beats`, `stat_busy`, `stat_aw_stall` | out | 32 each | W beats sent; cycles with `outstanding != 0`; cycles with `awvalid & !awready` (since reset, wrapping) |
//!
//! # Timing
//!
//! * A word pushed at the edge ending cycle `t` counts for a burst from cycle `t + 1` and
//!   can be on `wdata` from `t + 2` (the FIFO's block RAM read register).
//! * A command taken at the edge ending `c` offers its first burst in `c + 3`; the AW
//!   register is loaded at the end of the first cycle in which the burst is offered, the
//!   FIFO holds all its beats not yet promised to earlier bursts, fewer than
//!   `max_outstanding` bursts are outstanding and the AW register is free or handing over.
//!   `awvalid` then holds with a stable payload until `awready`.
//! * W: the bursts' beats go out in AW order. A burst's first beat can be on the W channel
//!   in the cycle after its AW register load (W may lead AW's handshake, which AXI
//!   allows; slaves that need AW first simply hold `wready` low); the next burst's first
//!   beat follows its predecessor's last beat with no gap. `wvalid`, `wdata` and `wlast`
//!   hold until `wready`.
//! * B: `bready = 1`; a response is counted at the edge it arrives, `error` is visible in
//!   the next cycle. After an error no new AW is issued and the command being split is
//!   dropped, but the W beats of bursts already issued are still sent and their
//!   responses taken, as AXI requires; `idle` then rises and `clear` may be used.
//! * Power-up state (rust-hdl and the emitted Verilog's `initial`) equals the state after
//!   `reset`.

use super::axi_read::{AxiParamError, ADDR_BITS, BURST_INCR, OUT_BITS, STAT_BITS, WORDS_BITS};
use super::burst_split::BurstSplit;
use super::fifo::{ReadFifo, LEVEL_BITS};
use rust_hdl::prelude::*;

/// Most bursts outstanding that [`AxiWriteParams::max_outstanding`] may ask for (the
/// length queue holds 16).
pub const MAX_W_OUTSTANDING: usize = 15;

/// Run-time parameters of an [`AxiWriteMaster`] (emitted as constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxiWriteParams {
    /// Bursts in flight at most, 1..=15.
    pub max_outstanding: usize,
    /// Beats per burst at most, 1..=256 and not more than the FIFO depth.
    pub max_burst: usize,
}

impl Default for AxiWriteParams {
    fn default() -> Self {
        AxiWriteParams {
            max_outstanding: 4,
            max_burst: 256,
        }
    }
}

/// Checks the parameters of an `AxiWriteMaster<dw, sw, fa>` without building it.
pub fn check_write_params(
    dw: usize,
    sw: usize,
    fa: usize,
    p: &AxiWriteParams,
) -> Result<(), AxiParamError> {
    if ![64, 128, 256, 512].contains(&dw) || sw * 8 != dw {
        return Err(AxiParamError::DataWidth(dw));
    }
    if !(4..=14).contains(&fa) {
        return Err(AxiParamError::FifoDepth(fa));
    }
    if !(1..=MAX_W_OUTSTANDING).contains(&p.max_outstanding) {
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

/// AXI4 burst write master with an input FIFO. See the [module docs](self).
#[derive(LogicBlock)]
pub struct AxiWriteMaster<const DW: usize, const SW: usize, const FA: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    // Input stream.
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    pub in_data: Signal<In, Bits<DW>>,
    // Command.
    pub cmd_valid: Signal<In, Bit>,
    pub cmd_ready: Signal<Out, Bit>,
    pub cmd_addr: Signal<In, Bits<ADDR_BITS>>,
    pub cmd_words: Signal<In, Bits<WORDS_BITS>>,
    // AXI4 AW channel.
    pub awvalid: Signal<Out, Bit>,
    pub awready: Signal<In, Bit>,
    pub awaddr: Signal<Out, Bits<ADDR_BITS>>,
    pub awlen: Signal<Out, Bits<8>>,
    pub awsize: Signal<Out, Bits<3>>,
    pub awburst: Signal<Out, Bits<2>>,
    // AXI4 W channel.
    pub wvalid: Signal<Out, Bit>,
    pub wready: Signal<In, Bit>,
    pub wdata: Signal<Out, Bits<DW>>,
    pub wstrb: Signal<Out, Bits<SW>>,
    pub wlast: Signal<Out, Bit>,
    // AXI4 B channel.
    pub bvalid: Signal<In, Bit>,
    pub bready: Signal<Out, Bit>,
    pub bresp: Signal<In, Bits<2>>,
    // Status.
    pub error: Signal<Out, Bit>,
    pub error_resp: Signal<Out, Bits<2>>,
    pub clear: Signal<In, Bit>,
    pub idle: Signal<Out, Bit>,
    pub outstanding: Signal<Out, Bits<OUT_BITS>>,
    pub fifo_level: Signal<Out, Bits<LEVEL_BITS>>,
    pub stat_beats: Signal<Out, Bits<STAT_BITS>>,
    pub stat_busy: Signal<Out, Bits<STAT_BITS>>,
    pub stat_aw_stall: Signal<Out, Bits<STAT_BITS>>,
    split: BurstSplit,
    fifo: ReadFifo<DW, FA>,
    /// AW order of the bursts' lengths, for the W side.
    lenq: ReadFifo<16, 4>,
    // AW register.
    aw_v: DFF<Bit>,
    aw_addr: DFF<Bits<ADDR_BITS>>,
    aw_len: DFF<Bits<8>>,
    // Words in the FIFO not yet promised to an issued burst.
    spare: DFF<Bits<LEVEL_BITS>>,
    out_cnt: DFF<Bits<OUT_BITS>>,
    // W side: a burst in progress and its beats left.
    w_act: DFF<Bit>,
    w_left: DFF<Bits<LEVEL_BITS>>,
    // Errors and statistics.
    err: DFF<Bit>,
    err_code: DFF<Bits<2>>,
    n_beats: DFF<Bits<STAT_BITS>>,
    n_busy: DFF<Bits<STAT_BITS>>,
    n_aw_stall: DFF<Bits<STAT_BITS>>,
    depth_c: Constant<Bits<LEVEL_BITS>>,
    max_out_c: Constant<Bits<OUT_BITS>>,
    size_c: Constant<Bits<3>>,
    incr_c: Constant<Bits<2>>,
    strb_c: Constant<Bits<SW>>,
    zero_l: Constant<Bits<LEVEL_BITS>>,
    one_l: Constant<Bits<LEVEL_BITS>>,
    zero_o: Constant<Bits<OUT_BITS>>,
    one_o: Constant<Bits<OUT_BITS>>,
    zero_s: Constant<Bits<STAT_BITS>>,
    one_s: Constant<Bits<STAT_BITS>>,
    zero_a: Constant<Bits<ADDR_BITS>>,
    zero_8: Constant<Bits<8>>,
    one_8: Constant<Bits<8>>,
    zero_2: Constant<Bits<2>>,
    // Combinational temporaries.
    push: Signal<Local, Bit>,
    go: Signal<Local, Bit>,
    wbeat: Signal<Local, Bit>,
    w_end: Signal<Local, Bit>,
    w_load: Signal<Local, Bit>,
    resp: Signal<Local, Bit>,
    idle_l: Signal<Local, Bit>,
    has_room: Signal<Local, Bit>,
}

impl<const DW: usize, const SW: usize, const FA: usize> AxiWriteMaster<DW, SW, FA> {
    /// A master with run-time parameters `p`, or the reason they (or `DW`, `SW`, `FA`)
    /// are not supported.
    pub fn new(p: AxiWriteParams) -> Result<Self, AxiParamError> {
        check_write_params(DW, SW, FA, &p)?;
        let bytes = DW / 8;
        Ok(Self {
            clock: Default::default(),
            reset: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            in_data: Default::default(),
            cmd_valid: Default::default(),
            cmd_ready: Default::default(),
            cmd_addr: Default::default(),
            cmd_words: Default::default(),
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
            error: Default::default(),
            error_resp: Default::default(),
            clear: Default::default(),
            idle: Default::default(),
            outstanding: Default::default(),
            fifo_level: Default::default(),
            stat_beats: Default::default(),
            stat_busy: Default::default(),
            stat_aw_stall: Default::default(),
            split: BurstSplit::new(bytes, p.max_burst),
            fifo: Default::default(),
            lenq: Default::default(),
            aw_v: Default::default(),
            aw_addr: Default::default(),
            aw_len: Default::default(),
            spare: Default::default(),
            out_cnt: Default::default(),
            w_act: Default::default(),
            w_left: Default::default(),
            err: Default::default(),
            err_code: Default::default(),
            n_beats: Default::default(),
            n_busy: Default::default(),
            n_aw_stall: Default::default(),
            depth_c: Constant::new((1u64 << FA).into()),
            max_out_c: Constant::new((p.max_outstanding as u64).into()),
            size_c: Constant::new((bytes.trailing_zeros() as u64).into()),
            incr_c: Constant::new(BURST_INCR.into()),
            strb_c: Constant::new(Bits::<SW>::mask()),
            zero_l: Constant::new(0u64.into()),
            one_l: Constant::new(1u64.into()),
            zero_o: Constant::new(0u64.into()),
            one_o: Constant::new(1u64.into()),
            zero_s: Constant::new(0u64.into()),
            one_s: Constant::new(1u64.into()),
            zero_a: Constant::new(0u64.into()),
            zero_8: Constant::new(0u64.into()),
            one_8: Constant::new(1u64.into()),
            zero_2: Constant::new(0u64.into()),
            push: Default::default(),
            go: Default::default(),
            wbeat: Default::default(),
            w_end: Default::default(),
            w_load: Default::default(),
            resp: Default::default(),
            idle_l: Default::default(),
            has_room: Default::default(),
        })
    }
}

impl<const DW: usize, const SW: usize, const FA: usize> Logic for AxiWriteMaster<DW, SW, FA> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, aw_v, aw_addr, aw_len, spare, out_cnt, w_act, w_left, err, err_code,
            n_beats, n_busy, n_aw_stall
        );
        clock!(self, clock, split, fifo, lenq);
        self.idle_l.next = self.split.idle.val() & (self.out_cnt.q.val() == self.zero_o.val());
        // Input stream into the FIFO.
        self.has_room.next = self.fifo.level.val() < self.depth_c.val();
        self.in_ready.next = self.has_room.val();
        self.push.next = self.in_valid.val() & self.has_room.val();
        self.fifo.push.next = self.push.val();
        self.fifo.push_data.next = self.in_data.val();
        self.fifo.reset.next = self.reset.val() | (self.clear.val() & self.idle_l.val());
        // Commands through the splitter; a burst is issued when its beats are all here.
        self.split.reset.next = self.reset.val();
        self.split.abort.next = self.err.q.val();
        self.split.cmd_valid.next = self.cmd_valid.val();
        self.split.cmd_addr.next = self.cmd_addr.val();
        self.split.cmd_words.next = self.cmd_words.val();
        self.cmd_ready.next = self.split.cmd_ready.val();
        self.go.next = (self.split.offer.val() & (self.out_cnt.q.val() < self.max_out_c.val()))
            & ((self.split.b_len.val() <= self.spare.q.val())
                & ((!self.aw_v.q.val()) | self.awready.val()));
        self.split.take.next = self.go.val();
        self.lenq.push.next = self.go.val();
        self.lenq.push_data.next = self.split.b_len.val();
        self.lenq.reset.next = self.reset.val();
        // W side: the bursts in AW order, back to back.
        self.wbeat.next = (self.w_act.q.val() & self.fifo.valid.val()) & self.wready.val();
        self.w_end.next = self.wbeat.val() & (self.w_left.q.val() == self.one_l.val());
        self.w_load.next = ((!self.w_act.q.val()) | self.w_end.val()) & self.lenq.valid.val();
        self.lenq.pop.next = self.w_load.val();
        self.fifo.pop.next = self.wbeat.val();
        self.resp.next = self.bvalid.val() & (self.out_cnt.q.val() != self.zero_o.val());
        // Outputs.
        self.awvalid.next = self.aw_v.q.val();
        self.awaddr.next = self.aw_addr.q.val();
        self.awlen.next = self.aw_len.q.val();
        self.awsize.next = self.size_c.val();
        self.awburst.next = self.incr_c.val();
        self.wvalid.next = self.w_act.q.val() & self.fifo.valid.val();
        self.wdata.next = self.fifo.data.val();
        self.wstrb.next = self.strb_c.val();
        self.wlast.next = self.w_left.q.val() == self.one_l.val();
        self.bready.next = true;
        self.error.next = self.err.q.val();
        self.error_resp.next = self.err_code.q.val();
        self.idle.next = self.idle_l.val();
        self.outstanding.next = self.out_cnt.q.val();
        self.fifo_level.next = self.fifo.level.val();
        self.stat_beats.next = self.n_beats.q.val();
        self.stat_busy.next = self.n_busy.q.val();
        self.stat_aw_stall.next = self.n_aw_stall.q.val();
        // AW register.
        if self.aw_v.q.val() & self.awready.val() {
            self.aw_v.d.next = false;
        }
        if self.go.val() {
            self.aw_v.d.next = true;
            self.aw_addr.d.next = self.split.b_addr.val();
            self.aw_len.d.next = self.split.b_len.val().get_bits::<8>(0) - self.one_8.val();
        }
        // Spare words: +1 per push, minus a burst's beats when it is issued.
        if self.go.val() {
            if self.push.val() {
                self.spare.d.next =
                    (self.spare.q.val() + self.one_l.val()) - self.split.b_len.val();
            } else {
                self.spare.d.next = self.spare.q.val() - self.split.b_len.val();
            }
        }
        if (!self.go.val()) & self.push.val() {
            self.spare.d.next = self.spare.q.val() + self.one_l.val();
        }
        // Outstanding: +1 at the AW register load, -1 at a response.
        if self.go.val() & (!self.resp.val()) {
            self.out_cnt.d.next = self.out_cnt.q.val() + self.one_o.val();
        }
        if (!self.go.val()) & self.resp.val() {
            self.out_cnt.d.next = self.out_cnt.q.val() - self.one_o.val();
        }
        // W sequencing.
        if self.wbeat.val() {
            self.w_left.d.next = self.w_left.q.val() - self.one_l.val();
        }
        if self.w_end.val() {
            self.w_act.d.next = false;
        }
        if self.w_load.val() {
            self.w_act.d.next = true;
            self.w_left.d.next = self.lenq.data.val();
        }
        // Errors.
        if (self.resp.val() & (self.bresp.val() != self.zero_2.val())) & (!self.err.q.val()) {
            self.err.d.next = true;
            self.err_code.d.next = self.bresp.val();
        }
        if self.clear.val() & self.idle_l.val() {
            self.err.d.next = false;
            self.err_code.d.next = self.zero_2.val();
            self.spare.d.next = self.zero_l.val();
        }
        // Statistics.
        if self.wbeat.val() {
            self.n_beats.d.next = self.n_beats.q.val() + self.one_s.val();
        }
        if self.out_cnt.q.val() != self.zero_o.val() {
            self.n_busy.d.next = self.n_busy.q.val() + self.one_s.val();
        }
        if self.aw_v.q.val() & (!self.awready.val()) {
            self.n_aw_stall.d.next = self.n_aw_stall.q.val() + self.one_s.val();
        }
        if self.reset.val() {
            self.aw_v.d.next = false;
            self.aw_addr.d.next = self.zero_a.val();
            self.aw_len.d.next = self.zero_8.val();
            self.spare.d.next = self.zero_l.val();
            self.out_cnt.d.next = self.zero_o.val();
            self.w_act.d.next = false;
            self.w_left.d.next = self.zero_l.val();
            self.err.d.next = false;
            self.err_code.d.next = self.zero_2.val();
            self.n_beats.d.next = self.zero_s.val();
            self.n_busy.d.next = self.zero_s.val();
            self.n_aw_stall.d.next = self.zero_s.val();
        }
    }
}
