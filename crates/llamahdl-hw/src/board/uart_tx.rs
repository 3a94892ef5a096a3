//! `UartTx`: an 8N1 serial transmitter (one start bit, eight data bits least significant
//! first, one stop bit, no parity), idle high.
//!
//! # Interface
//!
//! | port    | dir | width | meaning |
//! |---------|-----|-------|---------|
//! | `clock` | in  | clock | rising-edge clock |
//! | `rst`   | in  | 1     | synchronous reset: abandon a byte in flight, line idle (high) |
//! | `data`  | in  | 8     | the byte to send, sampled with `start` |
//! | `start` | in  | 1     | send `data` (taken only while `ready`) |
//! | `ready` | out | 1     | idle: the next `start` is taken at this edge |
//! | `txd`   | out | 1     | the serial line (registered) |
//!
//! The bit time is `clocks_per_bit` cycles, a run-time constant of [`UartTx::new`] (e.g.
//! 868 for 115200 baud at 100 MHz, 4 in fast tests; at least 2).
//!
//! # Timing
//!
//! - A `start` in a cycle with `ready` high is taken at that rising edge; `ready` is low
//!   from the next cycle on, and `txd` goes low (the start bit) in that cycle.
//! - Each of the ten bits (start, 8 data, stop) is held for `clocks_per_bit` cycles, so a
//!   byte takes `10 * clocks_per_bit` cycles. `ready` is high again in the stop bit's last
//!   cycle, so a byte started then follows with no idle time between one stop bit and the
//!   next start bit (starts exactly `10 * clocks_per_bit` cycles apart).
//! - Power-up state (rust-hdl and the emitted Verilog's `initial`) is idle with the line
//!   high.

use rust_hdl::prelude::*;

/// 8N1 transmitter. See the [module docs](self).
#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    pub rst: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    pub start: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub txd: Signal<Out, Bit>,
    /// Bits still to send after the current one (9 during the start bit, 0 during the stop bit).
    left: DFF<Bits<4>>,
    /// The data bits not yet on the line, next one in bit 0.
    shreg: DFF<Bits<8>>,
    /// Cycles into the current bit.
    cnt: DFF<Bits<16>>,
    /// The line, inverted, so that the power-up zero means idle-high.
    line_n: DFF<Bit>,
    busy: DFF<Bit>,
    cpb_m1: Constant<Bits<16>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    zero4: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    nine4: Constant<Bits<4>>,
    fin: Signal<Local, Bit>,
}

impl UartTx {
    /// A transmitter with a bit time of `clocks_per_bit` cycles (2..=65536).
    pub fn new(clocks_per_bit: u32) -> Self {
        assert!(
            (2..=65536).contains(&clocks_per_bit),
            "clocks per bit {clocks_per_bit} outside 2..=65536"
        );
        Self {
            clock: Default::default(),
            rst: Default::default(),
            data: Default::default(),
            start: Default::default(),
            ready: Default::default(),
            txd: Default::default(),
            left: Default::default(),
            shreg: Default::default(),
            cnt: Default::default(),
            line_n: Default::default(),
            busy: Default::default(),
            cpb_m1: Constant::new(((clocks_per_bit - 1) as u64).into()),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            zero4: Constant::new(0u64.into()),
            one4: Constant::new(1u64.into()),
            nine4: Constant::new(9u64.into()),
            fin: Default::default(),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, left, shreg, cnt, line_n, busy);
        // The last cycle of the stop bit: a new byte may start at this edge.
        self.fin.next = self.busy.q.val()
            & (self.left.q.val() == self.zero4.val())
            & (self.cnt.q.val() == self.cpb_m1.val());
        self.ready.next = (!self.busy.q.val()) | self.fin.val();
        self.txd.next = !self.line_n.q.val();
        if self.rst.val() {
            self.busy.d.next = false;
            self.line_n.d.next = false;
            self.left.d.next = self.zero4.val();
            self.cnt.d.next = self.zero16.val();
        } else if (!self.busy.q.val()) | self.fin.val() {
            self.cnt.d.next = self.zero16.val();
            if self.start.val() {
                // The start bit (line low) begins in the next cycle.
                self.busy.d.next = true;
                self.shreg.d.next = self.data.val();
                self.line_n.d.next = true;
                self.left.d.next = self.nine4.val();
            } else {
                self.busy.d.next = false;
                self.line_n.d.next = false;
            }
        } else if self.cnt.q.val() == self.cpb_m1.val() {
            self.cnt.d.next = self.zero16.val();
            if self.left.q.val() == self.one4.val() {
                // The stop bit (line high).
                self.left.d.next = self.zero4.val();
                self.line_n.d.next = false;
            } else {
                self.left.d.next = self.left.q.val() - self.one4.val();
                self.line_n.d.next = !self.shreg.q.val().get_bit(0);
                self.shreg.d.next = self.shreg.q.val() >> 1;
            }
        } else {
            self.cnt.d.next = self.cnt.q.val() + self.one16.val();
        }
    }
}
