//! `Controller`: speaks the board protocol ([`super::protocol`], `docs/board-protocol.md`)
//! on the UART's byte ports and drives the decoder: prompt tokens in, next tokens fed
//! back, tokens out.
//!
//! # Interface
//!
//! | port            | dir | width | meaning |
//! |-----------------|-----|-------|---------|
//! | `clock`, `rst`  | in  |       | core clock; synchronous reset (back to idle, position 0) |
//! | `rx_data`, `rx_valid`, `rx_ferr` | in | 8, 1, 1 | bytes from [`super::uart_rx::UartRx`] |
//! | `tx_data`, `tx_start` | out | 8, 1 | bytes to [`super::uart_tx::UartTx`] |
//! | `tx_ready`      | in  | 1     | the transmitter takes `tx_start` at this edge |
//! | `dec_start`, `dec_token`, `dec_pos` | out | 1, 16, 16 | to the decoder's `start`/`token`/`pos` |
//! | `dec_done`, `dec_busy`, `dec_next`, `dec_pos_error` | in | 1, 1, 16, 1 | from the decoder |
//! | `led_ready`     | out | 1     | idle, waiting for a command |
//! | `led_running`   | out | 1     | the decoder is computing a position |
//! | `led_error`     | out | 1     | an error reply was sent since the last `R` (or reset) |
//!
//! The on-chip context `ctx` and the vocabulary size are constants of [`Controller::new`]
//! (reported by `S`, and `T`'s token is checked against the vocabulary).
//!
//! # Timing and behaviour
//!
//! - One command at a time: bytes that arrive while a command is being executed or
//!   answered are dropped (the host waits for the terminal frame). There is no
//!   inter-byte timeout: a command left half sent waits for its bytes (the reset button
//!   recovers).
//! - A decoder run: `dec_start` is pulsed for one cycle once the decoder is not busy; in
//!   the cycle after its `done` pulse the controller reads `dec_pos_error` and `dec_next`
//!   (as `crate::sim::engine::HwEngine` does), advances the position and queues the reply.
//! - Replies (up to seven bytes) are queued and handed to the transmitter one byte per
//!   `tx_ready`; with `G` the next position starts once a token frame's last byte has been
//!   handed over, so the decoder computes while that byte is on the line.
//! - States: 0 idle, 1/2 argument bytes, 3 check, 4 start the decoder, 5 wait for `done`,
//!   6 read the result, 7 next generate step, 8 send the queued reply.

use super::join::Join16;
use super::protocol::*;
use rust_hdl::prelude::*;

/// The protocol controller. See the [module docs](self).
#[derive(LogicBlock)]
pub struct Controller {
    pub clock: Signal<In, Clock>,
    pub rst: Signal<In, Bit>,
    pub rx_data: Signal<In, Bits<8>>,
    pub rx_valid: Signal<In, Bit>,
    pub rx_ferr: Signal<In, Bit>,
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_start: Signal<Out, Bit>,
    pub tx_ready: Signal<In, Bit>,
    pub dec_start: Signal<Out, Bit>,
    pub dec_token: Signal<Out, Bits<16>>,
    pub dec_pos: Signal<Out, Bits<16>>,
    pub dec_done: Signal<In, Bit>,
    pub dec_busy: Signal<In, Bit>,
    pub dec_next: Signal<In, Bits<16>>,
    pub dec_pos_error: Signal<In, Bit>,
    pub led_ready: Signal<Out, Bit>,
    pub led_running: Signal<Out, Bit>,
    pub led_error: Signal<Out, Bit>,
    state: DFF<Bits<4>>,
    after: DFF<Bits<4>>,
    /// 1 while executing `G`.
    gen: DFF<Bit>,
    pos: DFF<Bits<16>>,
    token: DFF<Bits<16>>,
    last: DFF<Bits<16>>,
    have: DFF<Bit>,
    err: DFF<Bit>,
    arg_lo: DFF<Bits<8>>,
    count: DFF<Bits<16>>,
    q0: DFF<Bits<8>>,
    q1: DFF<Bits<8>>,
    q2: DFF<Bits<8>>,
    q3: DFF<Bits<8>>,
    q4: DFF<Bits<8>>,
    q5: DFF<Bits<8>>,
    q6: DFF<Bits<8>>,
    nq: DFF<Bits<3>>,
    arg: Join16,
    ctx: Constant<Bits<16>>,
    vocab: Constant<Bits<16>>,
    s_idle: Constant<Bits<4>>,
    s_arg1: Constant<Bits<4>>,
    s_arg2: Constant<Bits<4>>,
    s_check: Constant<Bits<4>>,
    s_run: Constant<Bits<4>>,
    s_wait: Constant<Bits<4>>,
    s_fin: Constant<Bits<4>>,
    s_nextg: Constant<Bits<4>>,
    s_send: Constant<Bits<4>>,
    op_reset: Constant<Bits<8>>,
    op_status: Constant<Bits<8>>,
    op_token: Constant<Bits<8>>,
    op_gen: Constant<Bits<8>>,
    rep_reset: Constant<Bits<8>>,
    rep_status: Constant<Bits<8>>,
    rep_token: Constant<Bits<8>>,
    rep_gdone: Constant<Bits<8>>,
    rep_error: Constant<Bits<8>>,
    e_context: Constant<Bits<8>>,
    e_unknown: Constant<Bits<8>>,
    e_framing: Constant<Bits<8>>,
    e_no_token: Constant<Bits<8>>,
    e_token: Constant<Bits<8>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    zero3: Constant<Bits<3>>,
    one3: Constant<Bits<3>>,
    two3: Constant<Bits<3>>,
    three3: Constant<Bits<3>>,
    seven3: Constant<Bits<3>>,
}

impl Controller {
    /// A controller for a decoder with an on-chip context of `ctx` positions and a
    /// vocabulary of `vocab` tokens (both below 2^16).
    pub fn new(ctx: usize, vocab: usize) -> Self {
        assert!(
            ctx < 1 << 16 && vocab < 1 << 16,
            "context/vocabulary past 16 bits"
        );
        let k8 = |v: u8| Constant::new((v as u64).into());
        let k4 = |v: u64| Constant::new(v.into());
        let k3 = |v: u64| Constant::new(v.into());
        Self {
            clock: Default::default(),
            rst: Default::default(),
            rx_data: Default::default(),
            rx_valid: Default::default(),
            rx_ferr: Default::default(),
            tx_data: Default::default(),
            tx_start: Default::default(),
            tx_ready: Default::default(),
            dec_start: Default::default(),
            dec_token: Default::default(),
            dec_pos: Default::default(),
            dec_done: Default::default(),
            dec_busy: Default::default(),
            dec_next: Default::default(),
            dec_pos_error: Default::default(),
            led_ready: Default::default(),
            led_running: Default::default(),
            led_error: Default::default(),
            state: Default::default(),
            after: Default::default(),
            gen: Default::default(),
            pos: Default::default(),
            token: Default::default(),
            last: Default::default(),
            have: Default::default(),
            err: Default::default(),
            arg_lo: Default::default(),
            count: Default::default(),
            q0: Default::default(),
            q1: Default::default(),
            q2: Default::default(),
            q3: Default::default(),
            q4: Default::default(),
            q5: Default::default(),
            q6: Default::default(),
            nq: Default::default(),
            arg: Default::default(),
            ctx: Constant::new((ctx as u64).into()),
            vocab: Constant::new((vocab as u64).into()),
            s_idle: k4(0),
            s_arg1: k4(1),
            s_arg2: k4(2),
            s_check: k4(3),
            s_run: k4(4),
            s_wait: k4(5),
            s_fin: k4(6),
            s_nextg: k4(7),
            s_send: k4(8),
            op_reset: k8(CMD_RESET),
            op_status: k8(CMD_STATUS),
            op_token: k8(CMD_TOKEN),
            op_gen: k8(CMD_GENERATE),
            rep_reset: k8(REP_RESET),
            rep_status: k8(REP_STATUS),
            rep_token: k8(REP_TOKEN),
            rep_gdone: k8(REP_GEN_DONE),
            rep_error: k8(REP_ERROR),
            e_context: k8(ERR_CONTEXT),
            e_unknown: k8(ERR_UNKNOWN),
            e_framing: k8(ERR_FRAMING),
            e_no_token: k8(ERR_NO_TOKEN),
            e_token: k8(ERR_TOKEN_RANGE),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            zero3: k3(0),
            one3: k3(1),
            two3: k3(2),
            three3: k3(3),
            seven3: k3(7),
        }
    }
}

impl Logic for Controller {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, after, gen, pos, token, last, have, err, arg_lo, count, q0, q1, q2,
            q3, q4, q5, q6, nq
        );
        self.arg.hi.next = self.rx_data.val();
        self.arg.lo.next = self.arg_lo.q.val();
        self.tx_data.next = self.q0.q.val();
        self.tx_start.next = false;
        self.dec_start.next = false;
        self.dec_token.next = self.token.q.val();
        self.dec_pos.next = self.pos.q.val();
        self.led_ready.next = (!self.rst.val()) & (self.state.q.val() == self.s_idle.val());
        self.led_running.next = self.dec_busy.val() | (self.state.q.val() == self.s_wait.val());
        self.led_error.next = self.err.q.val();
        if self.rst.val() {
            self.state.d.next = self.s_idle.val();
            self.nq.d.next = self.zero3.val();
            self.pos.d.next = self.zero16.val();
            self.have.d.next = false;
            self.err.d.next = false;
        } else if self.state.q.val() == self.s_idle.val() {
            self.after.d.next = self.s_idle.val();
            if self.rx_ferr.val() {
                self.q0.d.next = self.rep_error.val();
                self.q1.d.next = self.e_framing.val();
                self.nq.d.next = self.two3.val();
                self.err.d.next = true;
                self.state.d.next = self.s_send.val();
            } else if self.rx_valid.val() {
                if self.rx_data.val() == self.op_reset.val() {
                    self.pos.d.next = self.zero16.val();
                    self.have.d.next = false;
                    self.err.d.next = false;
                    self.q0.d.next = self.rep_reset.val();
                    self.nq.d.next = self.one3.val();
                    self.state.d.next = self.s_send.val();
                } else if self.rx_data.val() == self.op_status.val() {
                    self.q0.d.next = self.rep_status.val();
                    self.q1.d.next = self.pos.q.val().get_bits::<8>(0);
                    self.q2.d.next = self.pos.q.val().get_bits::<8>(8);
                    self.q3.d.next = self.ctx.val().get_bits::<8>(0);
                    self.q4.d.next = self.ctx.val().get_bits::<8>(8);
                    self.q5.d.next = self.vocab.val().get_bits::<8>(0);
                    self.q6.d.next = self.vocab.val().get_bits::<8>(8);
                    self.nq.d.next = self.seven3.val();
                    self.state.d.next = self.s_send.val();
                } else if self.rx_data.val() == self.op_token.val() {
                    self.gen.d.next = false;
                    self.state.d.next = self.s_arg1.val();
                } else if self.rx_data.val() == self.op_gen.val() {
                    self.gen.d.next = true;
                    self.state.d.next = self.s_arg1.val();
                } else {
                    self.q0.d.next = self.rep_error.val();
                    self.q1.d.next = self.e_unknown.val();
                    self.nq.d.next = self.two3.val();
                    self.err.d.next = true;
                    self.state.d.next = self.s_send.val();
                }
            }
        } else if (self.state.q.val() == self.s_arg1.val())
            | (self.state.q.val() == self.s_arg2.val())
        {
            if self.rx_ferr.val() {
                self.q0.d.next = self.rep_error.val();
                self.q1.d.next = self.e_framing.val();
                self.nq.d.next = self.two3.val();
                self.err.d.next = true;
                self.state.d.next = self.s_send.val();
            } else if self.rx_valid.val() {
                if self.state.q.val() == self.s_arg1.val() {
                    self.arg_lo.d.next = self.rx_data.val();
                    self.state.d.next = self.s_arg2.val();
                } else {
                    self.token.d.next = self.arg.y.val();
                    self.count.d.next = self.arg.y.val();
                    self.state.d.next = self.s_check.val();
                }
            }
        } else if self.state.q.val() == self.s_check.val() {
            if !self.gen.q.val() {
                if self.token.q.val() >= self.vocab.val() {
                    self.q0.d.next = self.rep_error.val();
                    self.q1.d.next = self.e_token.val();
                    self.nq.d.next = self.two3.val();
                    self.err.d.next = true;
                    self.state.d.next = self.s_send.val();
                } else {
                    self.state.d.next = self.s_run.val();
                }
            } else if self.count.q.val() == self.zero16.val() {
                self.q0.d.next = self.rep_gdone.val();
                self.nq.d.next = self.one3.val();
                self.state.d.next = self.s_send.val();
            } else if !self.have.q.val() {
                self.q0.d.next = self.rep_error.val();
                self.q1.d.next = self.e_no_token.val();
                self.nq.d.next = self.two3.val();
                self.err.d.next = true;
                self.state.d.next = self.s_send.val();
            } else {
                self.token.d.next = self.last.q.val();
                self.state.d.next = self.s_run.val();
            }
        } else if self.state.q.val() == self.s_run.val() {
            if !self.dec_busy.val() {
                self.dec_start.next = true;
                self.state.d.next = self.s_wait.val();
            }
        } else if self.state.q.val() == self.s_wait.val() {
            if self.dec_done.val() {
                self.state.d.next = self.s_fin.val();
            }
        } else if self.state.q.val() == self.s_fin.val() {
            self.state.d.next = self.s_send.val();
            if self.dec_pos_error.val() {
                self.q0.d.next = self.rep_error.val();
                self.q1.d.next = self.e_context.val();
                self.nq.d.next = self.two3.val();
                self.err.d.next = true;
                self.after.d.next = self.s_idle.val();
            } else {
                self.last.d.next = self.dec_next.val();
                self.have.d.next = true;
                self.pos.d.next = self.pos.q.val() + self.one16.val();
                self.q0.d.next = self.rep_token.val();
                self.q1.d.next = self.dec_next.val().get_bits::<8>(0);
                self.q2.d.next = self.dec_next.val().get_bits::<8>(8);
                self.nq.d.next = self.three3.val();
                if self.gen.q.val() {
                    self.count.d.next = self.count.q.val() - self.one16.val();
                    self.after.d.next = self.s_nextg.val();
                } else {
                    self.after.d.next = self.s_idle.val();
                }
            }
        } else if self.state.q.val() == self.s_nextg.val() {
            if self.count.q.val() == self.zero16.val() {
                self.q0.d.next = self.rep_gdone.val();
                self.nq.d.next = self.one3.val();
                self.after.d.next = self.s_idle.val();
                self.state.d.next = self.s_send.val();
            } else {
                self.token.d.next = self.last.q.val();
                self.state.d.next = self.s_run.val();
            }
        } else if self.nq.q.val() == self.zero3.val() {
            // Sending, all bytes handed over.
            self.state.d.next = self.after.q.val();
        } else if self.tx_ready.val() {
            self.tx_start.next = true;
            self.q0.d.next = self.q1.q.val();
            self.q1.d.next = self.q2.q.val();
            self.q2.d.next = self.q3.q.val();
            self.q3.d.next = self.q4.q.val();
            self.q4.d.next = self.q5.q.val();
            self.q5.d.next = self.q6.q.val();
            self.nq.d.next = self.nq.q.val() - self.one3.val();
        }
    }
}
