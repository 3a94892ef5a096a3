//! `ResetSync`: the core reset, made synchronous to the core clock.
//!
//! | port     | dir | width | meaning |
//! |----------|-----|-------|---------|
//! | `clock`  | in  | clock | the core clock (the PLL's output) |
//! | `rst_in` | in  | 1     | asynchronous reset request: the button pressed, or the PLL not locked |
//! | `rst`    | out | 1     | synchronous reset, active high |
//!
//! # Timing
//!
//! `rst_in` passes through two flip-flops (the first may go metastable; the second is what
//! the design reads): `rst` rises 1..2 cycles after `rst_in` rises and falls exactly 2
//! cycles after it falls, on a clock edge. The flip-flops hold the inverted level ("out of
//! reset"), so their power-up zero means *in reset*: the design stays in reset from
//! configuration until the PLL has locked and the button is released, then two more
//! cycles. The button is not debounced: bouncing only repeats the reset while it lasts.

use rust_hdl::prelude::*;

/// Two-flip-flop reset synchroniser. See the [module docs](self).
#[derive(LogicBlock, Default)]
pub struct ResetSync {
    pub clock: Signal<In, Clock>,
    pub rst_in: Signal<In, Bit>,
    pub rst: Signal<Out, Bit>,
    ok1: DFF<Bit>,
    ok2: DFF<Bit>,
}

impl Logic for ResetSync {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ok1, ok2);
        self.ok1.d.next = !self.rst_in.val();
        self.ok2.d.next = self.ok1.q.val();
        self.rst.next = !self.ok2.q.val();
    }
}
