//! The layer stack: the sequencer that runs the per-token program
//! ([`super::program::build`]: every layer's operations, then the classifier) from its ROM,
//! one operation at a time, and asks for each layer's streamed QKV weights (the plan's
//! step 4: `use_ram` and the weight buffer's `fully_loaded` are threaded through here).
//!
//! ## Interface
//! - `start` (pulse, while `running` is low) with `token`, `pos`, `use_ram`: run the
//!   program for one position. `started` pulses in the same cycle. A `pos` at or past the
//!   on-chip context is refused: `refused` rises and `done` pulses one cycle later, and
//!   nothing runs.
//! - While running, the instruction at the program counter is read from the program ROM
//!   and decoded into registers (`*_n`) while the previous operation runs; every output is
//!   registered: its fields
//!   (`a`, `b`, `c`, `n`, `wbase`, `rbase`, `rows_m1`, `beats_m1`, `gbase`, `gexp`,
//!   `layer`), its unit (`is_rms`, `is_attn`, `is_mv`, `is_embed`) and its flags (`qkv`,
//!   `logits`, `tee`, `acc`, `swiglu`, `xtrack`) change in the cycle of its start pulse and
//!   hold through the cycle after its unit's done (so they fan out from flip-flops, not from
//!   the decode).
//! - Issue: one of `rms_start`, `attn_start`, `mv_start` pulses (with `issue`) in the
//!   cycle after the previous operation's unit reported done (`rms_done`, `attn_done`,
//!   `mv_done`, each sampled only while its unit's operation runs) when that was an
//!   RMSNORM or a matrix-vector product without TEE or XTRACK; two cycles after the others
//!   (their last result reaches the tracked maximum a cycle after their done): the
//!   program counter moves on at the issue, so the next instruction is read from the ROM
//!   while the unit runs.
//! - Streamed QKV weights: before a QKV projection with `use_ram`, unless the weight buffer
//!   already holds that layer (`qkv_loaded` high and the same layer as the last request),
//!   `w_req` pulses with `w_layer` (which also clears the buffer) and the sequencer waits
//!   for `qkv_loaded`, then issues the projection.
//! - Streamed weights (built with [`LayerStack::streaming`]): an RMSNORM is issued only
//!   while `gains_ready` (registered on the way in) is high; otherwise the sequencer
//!   waits in GWAIT.
//! - `done` pulses after the END instruction (one cycle after the last unit's done).
//!
//! ## Timing
//! 1 or 2 cycles of sequencing per operation (see Issue), plus
//! the wait for streamed weights (the buffer's `qkv_loaded` is registered on the way in,
//! and `need_load` is a register computed from registers); 4 for the first (the ROM read
//! and the decode registers: fetch, fetch2, issue).

use super::program::{flag, opcode, Instr, FIELDS};
use crate::bits::{Addr, Pos, Token};
use crate::leaf::WordRom;
use rust_hdl::prelude::*;

/// Sequencer states (a plain `Bits<3>` register: rust-hdl's enum registers do not lint
/// clean).
pub mod state {
    pub const IDLE: u64 = 0;
    pub const FETCH: u64 = 1;
    pub const ISSUE: u64 = 2;
    pub const WAIT: u64 = 3;
    pub const LOAD: u64 = 4;
    pub const FETCH2: u64 = 5;
    /// Streamed weights: waiting for an RMSNORM's gains.
    pub const GWAIT: u64 = 6;
}

#[derive(LogicBlock)]
pub struct LayerStack {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub token: Signal<In, Token>,
    pub pos: Signal<In, Pos>,
    pub use_ram: Signal<In, Bit>,
    pub rms_done: Signal<In, Bit>,
    pub attn_done: Signal<In, Bit>,
    pub mv_done: Signal<In, Bit>,
    pub qkv_loaded: Signal<In, Bit>,
    /// Streamed weights (a sequencer built with `stream_gains`): the next RMSNORM's gains
    /// are in the RMSNorm unit's memory. Ignored otherwise.
    pub gains_ready: Signal<In, Bit>,
    // The running position.
    pub started: Signal<Out, Bit>,
    /// Pulses once for each position that runs (not for a refused one), the cycle after
    /// `started`.
    pub accepted: Signal<Out, Bit>,
    pub running: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub refused: Signal<Out, Bit>,
    pub token_r: Signal<Out, Token>,
    pub pos_r: Signal<Out, Pos>,
    pub use_ram_r: Signal<Out, Bit>,
    // The current instruction.
    pub a: Signal<Out, Addr>,
    pub b: Signal<Out, Addr>,
    pub c: Signal<Out, Addr>,
    pub n: Signal<Out, Addr>,
    pub wbase: Signal<Out, Addr>,
    pub rbase: Signal<Out, Addr>,
    pub rows_m1: Signal<Out, Addr>,
    pub beats_m1: Signal<Out, Addr>,
    pub gbase: Signal<Out, Addr>,
    pub gexp: Signal<Out, Signed<8>>,
    pub layer: Signal<Out, Bits<8>>,
    pub is_rms: Signal<Out, Bit>,
    pub is_attn: Signal<Out, Bit>,
    pub is_mv: Signal<Out, Bit>,
    pub is_embed: Signal<Out, Bit>,
    pub qkv: Signal<Out, Bit>,
    pub logits: Signal<Out, Bit>,
    pub tee: Signal<Out, Bit>,
    pub acc: Signal<Out, Bit>,
    pub swiglu: Signal<Out, Bit>,
    pub xtrack: Signal<Out, Bit>,
    // Issue.
    pub issue: Signal<Out, Bit>,
    pub rms_start: Signal<Out, Bit>,
    pub attn_start: Signal<Out, Bit>,
    pub mv_start: Signal<Out, Bit>,
    // Streamed weights.
    pub w_req: Signal<Out, Bit>,
    pub w_layer: Signal<Out, Bits<8>>,
    prog: WordRom<FIELDS>,
    /// The program in the ROM (simulation: labels for cycle profiles).
    _program: Vec<Instr>,
    state: DFF<Bits<3>>,
    pc: DFF<Addr>,
    token_reg: DFF<Token>,
    pos_reg: DFF<Pos>,
    use_ram_reg: DFF<Bit>,
    refused_reg: DFF<Bit>,
    done_reg: DFF<Bit>,
    /// The layer of the last weight request, and whether the buffer has held it since.
    loaded_layer: DFF<Bits<8>>,
    loaded_ok: DFF<Bit>,
    req_reg: DFF<Bit>,
    op: Signal<Local, Addr>,
    flags: Signal<Local, Bits<8>>,
    unit_done: Signal<Local, Bit>,
    /// Load the registered fields and decode: an issue, or the END instruction.
    load_c: Signal<Local, Bit>,
    need_load: DFF<Bit>,
    qkv_loaded_r: DFF<Bit>,
    gains_ready_r: DFF<Bit>,
    /// The next operation is an RMSNORM whose gains have not arrived (streamed weights).
    need_gains: DFF<Bit>,
    stream_gains: Constant<Bit>,
    is_end_n: DFF<Bit>,
    go: Signal<Local, Bit>,
    // Every output of the decode and issue, combinational (`_c`) and registered (`_r`).
    a_n: DFF<Addr>,
    a_r: DFF<Addr>,
    b_n: DFF<Addr>,
    b_r: DFF<Addr>,
    c_n: DFF<Addr>,
    c_r: DFF<Addr>,
    n_n: DFF<Addr>,
    n_r: DFF<Addr>,
    wbase_n: DFF<Addr>,
    wbase_r: DFF<Addr>,
    rbase_n: DFF<Addr>,
    rbase_r: DFF<Addr>,
    rows_m1_n: DFF<Addr>,
    rows_m1_r: DFF<Addr>,
    beats_m1_n: DFF<Addr>,
    beats_m1_r: DFF<Addr>,
    gbase_n: DFF<Addr>,
    gbase_r: DFF<Addr>,
    gexp_n: DFF<Signed<8>>,
    gexp_r: DFF<Signed<8>>,
    layer_n: DFF<Bits<8>>,
    layer_r: DFF<Bits<8>>,
    is_rms_n: DFF<Bit>,
    is_rms_r: DFF<Bit>,
    is_attn_n: DFF<Bit>,
    is_attn_r: DFF<Bit>,
    is_mv_n: DFF<Bit>,
    is_mv_r: DFF<Bit>,
    is_embed_n: DFF<Bit>,
    is_embed_r: DFF<Bit>,
    qkv_n: DFF<Bit>,
    qkv_r: DFF<Bit>,
    logits_n: DFF<Bit>,
    logits_r: DFF<Bit>,
    tee_n: DFF<Bit>,
    tee_r: DFF<Bit>,
    acc_n: DFF<Bit>,
    acc_r: DFF<Bit>,
    swiglu_n: DFF<Bit>,
    swiglu_r: DFF<Bit>,
    xtrack_n: DFF<Bit>,
    xtrack_r: DFF<Bit>,
    issue_c: Signal<Local, Bit>,
    issue_r: DFF<Bit>,
    rms_start_c: Signal<Local, Bit>,
    rms_start_r: DFF<Bit>,
    attn_start_c: Signal<Local, Bit>,
    attn_start_r: DFF<Bit>,
    mv_start_c: Signal<Local, Bit>,
    mv_start_r: DFF<Bit>,
    st_idle: Constant<Bits<3>>,
    st_fetch: Constant<Bits<3>>,
    st_issue: Constant<Bits<3>>,
    st_wait: Constant<Bits<3>>,
    st_load: Constant<Bits<3>>,
    st_fetch2: Constant<Bits<3>>,
    st_gwait: Constant<Bits<3>>,
    ctx: Constant<Addr>,
    op_end: Constant<Addr>,
    op_rms: Constant<Addr>,
    op_attn: Constant<Addr>,
    op_mv: Constant<Addr>,
    op_embed: Constant<Addr>,
    flag_qkv: Constant<Bits<8>>,
    flag_logits: Constant<Bits<8>>,
    flag_tee: Constant<Bits<8>>,
    flag_acc: Constant<Bits<8>>,
    flag_swiglu: Constant<Bits<8>>,
    flag_xtrack: Constant<Bits<8>>,
    zero8: Constant<Bits<8>>,
    zero16: Constant<Addr>,
    one16: Constant<Addr>,
}

fn c3(v: u64) -> Constant<Bits<3>> {
    Constant::new(v.into())
}
fn c8(v: u16) -> Constant<Bits<8>> {
    Constant::new((v as u64).into())
}
fn c16(v: u64) -> Constant<Addr> {
    Constant::new(v.into())
}

impl LayerStack {
    /// The operation being fetched, issued or waited for (simulation): the program
    /// counter, which moves on to the next instruction when an operation is issued, so
    /// one less while the sequencer waits for a unit.
    pub fn program_counter(&self) -> usize {
        let pc = self.pc.q.val().index();
        if self.state.q.val() == self.st_wait.val() {
            pc - 1
        } else {
            pc
        }
    }

    /// Whether a position is running (simulation).
    pub fn is_running(&self) -> bool {
        self.state.q.val() != self.st_idle.val()
    }

    /// The program in the ROM.
    pub fn program(&self) -> &[Instr] {
        &self._program
    }

    /// A sequencer running `program` for positions below `ctx`.
    pub fn new(program: &[Instr], ctx: usize) -> Self {
        Self::build(program, ctx, false)
    }

    /// As [`LayerStack::new`] for streamed weights: each RMSNORM waits for `gains_ready`.
    pub fn streaming(program: &[Instr], ctx: usize) -> Self {
        Self::build(program, ctx, true)
    }

    fn build(program: &[Instr], ctx: usize, stream_gains: bool) -> Self {
        // FETCH2 clears `need_load` for the first instruction (see the states).
        assert!(
            program
                .first()
                .is_some_and(|i| (i.flags as u16 & flag::QKV) == 0),
            "LayerStack: the program must not start with a QKV projection"
        );
        Self {
            clock: Default::default(),
            start: Default::default(),
            token: Default::default(),
            pos: Default::default(),
            use_ram: Default::default(),
            rms_done: Default::default(),
            attn_done: Default::default(),
            mv_done: Default::default(),
            qkv_loaded: Default::default(),
            gains_ready: Default::default(),
            started: Default::default(),
            accepted: Default::default(),
            running: Default::default(),
            done: Default::default(),
            refused: Default::default(),
            token_r: Default::default(),
            pos_r: Default::default(),
            use_ram_r: Default::default(),
            a: Default::default(),
            b: Default::default(),
            c: Default::default(),
            n: Default::default(),
            wbase: Default::default(),
            rbase: Default::default(),
            rows_m1: Default::default(),
            beats_m1: Default::default(),
            gbase: Default::default(),
            gexp: Default::default(),
            layer: Default::default(),
            is_rms: Default::default(),
            is_attn: Default::default(),
            is_mv: Default::default(),
            is_embed: Default::default(),
            qkv: Default::default(),
            logits: Default::default(),
            tee: Default::default(),
            acc: Default::default(),
            swiglu: Default::default(),
            xtrack: Default::default(),
            issue: Default::default(),
            rms_start: Default::default(),
            attn_start: Default::default(),
            mv_start: Default::default(),
            w_req: Default::default(),
            w_layer: Default::default(),
            prog: WordRom::new(program.iter().map(|i| i.word()).collect()),
            _program: program.to_vec(),
            state: Default::default(),
            pc: Default::default(),
            token_reg: Default::default(),
            pos_reg: Default::default(),
            use_ram_reg: Default::default(),
            refused_reg: Default::default(),
            done_reg: Default::default(),
            loaded_layer: Default::default(),
            loaded_ok: Default::default(),
            req_reg: Default::default(),
            op: Default::default(),
            flags: Default::default(),
            unit_done: Default::default(),
            load_c: Default::default(),
            need_load: Default::default(),
            qkv_loaded_r: Default::default(),
            gains_ready_r: Default::default(),
            need_gains: Default::default(),
            stream_gains: Constant::new(stream_gains),
            is_end_n: Default::default(),
            go: Default::default(),
            a_n: Default::default(),
            a_r: Default::default(),
            b_n: Default::default(),
            b_r: Default::default(),
            c_n: Default::default(),
            c_r: Default::default(),
            n_n: Default::default(),
            n_r: Default::default(),
            wbase_n: Default::default(),
            wbase_r: Default::default(),
            rbase_n: Default::default(),
            rbase_r: Default::default(),
            rows_m1_n: Default::default(),
            rows_m1_r: Default::default(),
            beats_m1_n: Default::default(),
            beats_m1_r: Default::default(),
            gbase_n: Default::default(),
            gbase_r: Default::default(),
            gexp_n: Default::default(),
            gexp_r: Default::default(),
            layer_n: Default::default(),
            layer_r: Default::default(),
            is_rms_n: Default::default(),
            is_rms_r: Default::default(),
            is_attn_n: Default::default(),
            is_attn_r: Default::default(),
            is_mv_n: Default::default(),
            is_mv_r: Default::default(),
            is_embed_n: Default::default(),
            is_embed_r: Default::default(),
            qkv_n: Default::default(),
            qkv_r: Default::default(),
            logits_n: Default::default(),
            logits_r: Default::default(),
            tee_n: Default::default(),
            tee_r: Default::default(),
            acc_n: Default::default(),
            acc_r: Default::default(),
            swiglu_n: Default::default(),
            swiglu_r: Default::default(),
            xtrack_n: Default::default(),
            xtrack_r: Default::default(),
            issue_c: Default::default(),
            issue_r: Default::default(),
            rms_start_c: Default::default(),
            rms_start_r: Default::default(),
            attn_start_c: Default::default(),
            attn_start_r: Default::default(),
            mv_start_c: Default::default(),
            mv_start_r: Default::default(),
            st_idle: c3(state::IDLE),
            st_fetch: c3(state::FETCH),
            st_issue: c3(state::ISSUE),
            st_wait: c3(state::WAIT),
            st_load: c3(state::LOAD),
            st_fetch2: c3(state::FETCH2),
            st_gwait: c3(state::GWAIT),
            ctx: c16(ctx as u64),
            op_end: c16(opcode::END as u64),
            op_rms: c16(opcode::RMSNORM as u64),
            op_attn: c16(opcode::ATTN as u64),
            op_mv: c16(opcode::MATVEC as u64),
            op_embed: c16(opcode::EMBED as u64),
            flag_qkv: c8(flag::QKV),
            flag_logits: c8(flag::LOGITS),
            flag_tee: c8(flag::TEE),
            flag_acc: c8(flag::ACC),
            flag_swiglu: c8(flag::SWIGLU),
            flag_xtrack: c8(flag::XTRACK),
            zero8: c8(0),
            zero16: c16(0),
            one16: c16(1),
        }
    }
}

impl Logic for LayerStack {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            pc,
            token_reg,
            pos_reg,
            use_ram_reg,
            refused_reg,
            done_reg,
            loaded_layer,
            loaded_ok,
            req_reg,
            need_load,
            qkv_loaded_r,
            gains_ready_r,
            need_gains,
            is_end_n,
            a_r,
            a_n,
            b_r,
            b_n,
            c_r,
            c_n,
            n_r,
            n_n,
            wbase_r,
            wbase_n,
            rbase_r,
            rbase_n,
            rows_m1_r,
            rows_m1_n,
            beats_m1_r,
            beats_m1_n,
            gbase_r,
            gbase_n,
            gexp_r,
            gexp_n,
            layer_r,
            layer_n,
            is_rms_r,
            is_rms_n,
            is_attn_r,
            is_attn_n,
            is_mv_r,
            is_mv_n,
            is_embed_r,
            is_embed_n,
            qkv_r,
            qkv_n,
            logits_r,
            logits_n,
            tee_r,
            tee_n,
            acc_r,
            acc_n,
            swiglu_r,
            swiglu_n,
            xtrack_r,
            xtrack_n,
            issue_r,
            rms_start_r,
            attn_start_r,
            mv_start_r
        );
        clock!(self, clock, prog);
        // Decode the instruction at the program counter.
        self.prog.addr.next = self.pc.q.val();
        self.op.next = self.prog.data[0].val();
        self.a_n.d.next = self.prog.data[1].val();
        self.b_n.d.next = self.prog.data[2].val();
        self.c_n.d.next = self.prog.data[3].val();
        self.n_n.d.next = self.prog.data[4].val();
        self.wbase_n.d.next = self.prog.data[5].val();
        self.rbase_n.d.next = self.prog.data[6].val();
        self.rows_m1_n.d.next = self.prog.data[7].val();
        self.beats_m1_n.d.next = self.prog.data[8].val();
        self.gbase_n.d.next = self.prog.data[9].val();
        self.gexp_n.d.next = signed_cast(self.prog.data[10].val().get_bits::<8>(0));
        self.layer_n.d.next = self.prog.data[11].val().get_bits::<8>(0);
        self.flags.next = self.prog.data[11].val().get_bits::<8>(8);
        self.is_rms_n.d.next = self.op.val() == self.op_rms.val();
        self.is_attn_n.d.next = self.op.val() == self.op_attn.val();
        self.is_mv_n.d.next = self.op.val() >= self.op_mv.val();
        self.is_embed_n.d.next = self.op.val() == self.op_embed.val();
        self.qkv_n.d.next = (self.flags.val() & self.flag_qkv.val()) != self.zero8.val();
        self.logits_n.d.next = (self.flags.val() & self.flag_logits.val()) != self.zero8.val();
        self.tee_n.d.next = (self.flags.val() & self.flag_tee.val()) != self.zero8.val();
        self.acc_n.d.next = (self.flags.val() & self.flag_acc.val()) != self.zero8.val();
        self.swiglu_n.d.next = (self.flags.val() & self.flag_swiglu.val()) != self.zero8.val();
        self.xtrack_n.d.next = (self.flags.val() & self.flag_xtrack.val()) != self.zero8.val();
        // (The registered decode: the wait starts a cycle after the issue.)
        self.unit_done.next = (self.is_rms_r.q.val() & self.rms_done.val())
            | (self.is_attn_r.q.val() & self.attn_done.val())
            | (self.is_mv_r.q.val() & self.mv_done.val());
        self.is_end_n.d.next = self.op.val() == self.op_end.val();
        // A QKV projection on streamed weights needs the layer's rows in the buffer:
        // registered, from registers (the decode above, the buffer's flag registered on
        // the way in); read only where its inputs have held for a cycle (see the states).
        self.qkv_loaded_r.d.next = self.qkv_loaded.val();
        self.need_load.d.next = self.use_ram_reg.q.val()
            & self.qkv_n.q.val()
            & !(self.loaded_ok.q.val()
                & self.qkv_loaded_r.q.val()
                & (self.loaded_layer.q.val() == self.layer_n.q.val()));
        // Streamed weights: an RMSNORM needs its gains (registered likewise; the count
        // behind `gains_ready` drops two cycles after an RMSNORM's issue, long before the
        // next one).
        self.gains_ready_r.d.next = self.gains_ready.val();
        self.need_gains.d.next =
            self.stream_gains.val() & self.is_rms_n.q.val() & !self.gains_ready_r.q.val();
        // Sequencer.
        self.started.next = false;
        self.issue_c.next = false;
        self.load_c.next = false;
        self.rms_start_c.next = false;
        self.attn_start_c.next = false;
        self.mv_start_c.next = false;
        self.done_reg.d.next = false;
        self.req_reg.d.next = false;
        // The next instruction goes: in ISSUE, or in WAIT in the cycle the unit's done
        // is seen when the unit's last result is already where the next operation
        // samples it: after RMSNORM (its maximum is loaded with its done) and after a
        // matrix-vector product that neither tees nor rewrites x. After the others the
        // last write reaches the tracked maximum (and the block shift or the RMSNorm
        // unit's `x_max`) a cycle after the done, and after ATTN its last output group:
        // those go through ISSUE, a cycle later.
        self.go.next = (self.state.q.val() == self.st_issue.val())
            | ((self.state.q.val() == self.st_wait.val())
                & self.unit_done.val()
                & (self.is_rms_r.q.val()
                    | (self.is_mv_r.q.val() & !self.xtrack_r.q.val() & !self.tee_r.q.val())));
        if self.state.q.val() == self.st_idle.val() {
            if self.start.val() {
                self.started.next = true;
                self.token_reg.d.next = self.token.val();
                self.pos_reg.d.next = self.pos.val();
                self.use_ram_reg.d.next = self.use_ram.val();
                self.pc.d.next = self.zero16.val();
                if self.pos.val() >= self.ctx.val() {
                    self.refused_reg.d.next = true;
                    self.done_reg.d.next = true;
                } else {
                    self.refused_reg.d.next = false;
                    self.state.d.next = self.st_fetch.val();
                }
            }
        } else if self.state.q.val() == self.st_fetch.val() {
            // The ROM reads instruction 0; its decode registers load in FETCH2.
            self.state.d.next = self.st_fetch2.val();
        } else if self.state.q.val() == self.st_fetch2.val() {
            // Instruction 0 never needs streamed weights (`LayerStack::new` checks), so
            // `need_load`, computed here from the previous instruction, is cleared.
            self.need_load.d.next = false;
            self.need_gains.d.next = false;
            self.state.d.next = self.st_issue.val();
        } else if self.state.q.val() == self.st_gwait.val() {
            if self.gains_ready_r.q.val() {
                self.need_gains.d.next = false;
                self.state.d.next = self.st_issue.val();
            }
        } else if self.state.q.val() == self.st_load.val() {
            if self.qkv_loaded_r.q.val() & !self.req_reg.q.val() {
                // The layer is in the buffer: the projection goes next cycle.
                self.loaded_ok.d.next = true;
                self.need_load.d.next = false;
                self.state.d.next = self.st_issue.val();
            }
        } else if self.state.q.val() == self.st_wait.val() {
            // (An early issue, below, takes precedence.)
            if self.unit_done.val() {
                self.state.d.next = self.st_issue.val();
            }
        } else if self.state.q.val() != self.st_issue.val() {
            self.state.d.next = self.st_idle.val();
        }
        if self.go.val() {
            if self.is_end_n.q.val() {
                self.load_c.next = true;
                self.done_reg.d.next = true;
                self.state.d.next = self.st_idle.val();
            } else if self.need_gains.q.val() {
                self.state.d.next = self.st_gwait.val();
            } else if self.need_load.q.val() {
                self.req_reg.d.next = true;
                self.loaded_ok.d.next = false;
                self.loaded_layer.d.next = self.layer_n.q.val();
                self.state.d.next = self.st_load.val();
            } else {
                self.issue_c.next = true;
                self.load_c.next = true;
                self.rms_start_c.next = self.is_rms_n.q.val();
                self.attn_start_c.next = self.is_attn_n.q.val();
                self.mv_start_c.next = self.is_mv_n.q.val();
                // The next instruction is read while the unit runs.
                self.pc.d.next = self.pc.q.val() + self.one16.val();
                self.state.d.next = self.st_wait.val();
            }
        }
        // The outputs, registered: every field and decode loaded in the issue cycle (or
        // END's; the ROM's output moves on to the next instruction while the unit runs), the starts
        // one cycle after the issue cycle computed them.
        if self.load_c.val() {
            self.a_r.d.next = self.a_n.q.val();
            self.b_r.d.next = self.b_n.q.val();
            self.c_r.d.next = self.c_n.q.val();
            self.n_r.d.next = self.n_n.q.val();
            self.wbase_r.d.next = self.wbase_n.q.val();
            self.rbase_r.d.next = self.rbase_n.q.val();
            self.rows_m1_r.d.next = self.rows_m1_n.q.val();
            self.beats_m1_r.d.next = self.beats_m1_n.q.val();
            self.gbase_r.d.next = self.gbase_n.q.val();
            self.gexp_r.d.next = self.gexp_n.q.val();
            self.layer_r.d.next = self.layer_n.q.val();
            self.is_rms_r.d.next = self.is_rms_n.q.val();
            self.is_attn_r.d.next = self.is_attn_n.q.val();
            self.is_mv_r.d.next = self.is_mv_n.q.val();
            self.is_embed_r.d.next = self.is_embed_n.q.val();
            self.qkv_r.d.next = self.qkv_n.q.val();
            self.logits_r.d.next = self.logits_n.q.val();
            self.tee_r.d.next = self.tee_n.q.val();
            self.acc_r.d.next = self.acc_n.q.val();
            self.swiglu_r.d.next = self.swiglu_n.q.val();
            self.xtrack_r.d.next = self.xtrack_n.q.val();
        }
        self.a.next = self.a_r.q.val();
        self.b.next = self.b_r.q.val();
        self.c.next = self.c_r.q.val();
        self.n.next = self.n_r.q.val();
        self.wbase.next = self.wbase_r.q.val();
        self.rbase.next = self.rbase_r.q.val();
        self.rows_m1.next = self.rows_m1_r.q.val();
        self.beats_m1.next = self.beats_m1_r.q.val();
        self.gbase.next = self.gbase_r.q.val();
        self.gexp.next = self.gexp_r.q.val();
        self.layer.next = self.layer_r.q.val();
        self.is_rms.next = self.is_rms_r.q.val();
        self.is_attn.next = self.is_attn_r.q.val();
        self.is_mv.next = self.is_mv_r.q.val();
        self.is_embed.next = self.is_embed_r.q.val();
        self.qkv.next = self.qkv_r.q.val();
        self.logits.next = self.logits_r.q.val();
        self.tee.next = self.tee_r.q.val();
        self.acc.next = self.acc_r.q.val();
        self.swiglu.next = self.swiglu_r.q.val();
        self.xtrack.next = self.xtrack_r.q.val();
        self.issue_r.d.next = self.issue_c.val();
        self.issue.next = self.issue_r.q.val();
        self.rms_start_r.d.next = self.rms_start_c.val();
        self.rms_start.next = self.rms_start_r.q.val();
        self.attn_start_r.d.next = self.attn_start_c.val();
        self.attn_start.next = self.attn_start_r.q.val();
        self.mv_start_r.d.next = self.mv_start_c.val();
        self.mv_start.next = self.mv_start_r.q.val();
        self.running.next = self.state.q.val() != self.st_idle.val();
        self.accepted.next = self.state.q.val() == self.st_fetch.val();
        self.done.next = self.done_reg.q.val();
        self.refused.next = self.refused_reg.q.val();
        self.token_r.next = self.token_reg.q.val();
        self.pos_r.next = self.pos_reg.q.val();
        self.use_ram_r.next = self.use_ram_reg.q.val();
        self.w_req.next = self.req_reg.q.val();
        self.w_layer.next = self.loaded_layer.q.val();
    }
}
