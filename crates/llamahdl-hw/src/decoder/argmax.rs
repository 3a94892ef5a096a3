//! The argmax of the logits as the classifier writes them: the first maximum.
//!
//! `clear` (a position begins) forgets the best so far; each cycle with `valid`, a `value`
//! greater than the best (or the first after `clear`) makes `index` the best. The inputs
//! are registered before the compare (they come from the matrix-vector unit's output,
//! and the compare drives the enables of every best-so-far register), so `best` shows the
//! first maximum from the second cycle after the last `valid`. A `clear` acts on the
//! logits presented after it: it must not come within a cycle of a `valid`.

use crate::bits::Addr;
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct Argmax {
    pub clock: Signal<In, Clock>,
    pub clear: Signal<In, Bit>,
    pub valid: Signal<In, Bit>,
    pub index: Signal<In, Addr>,
    pub value: Signal<In, Signed<32>>,
    pub best: Signal<Out, Addr>,
    in_valid: DFF<Bit>,
    in_index: DFF<Addr>,
    in_value: DFF<Signed<32>>,
    best_value: DFF<Signed<32>>,
    best_index: DFF<Addr>,
    have_best: DFF<Bit>,
}

impl Logic for Argmax {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, in_valid, in_index, in_value, best_value, best_index, have_best);
        self.in_valid.d.next = self.valid.val();
        self.in_index.d.next = self.index.val();
        self.in_value.d.next = self.value.val();
        if self.in_valid.q.val()
            & (!self.have_best.q.val() | (self.in_value.q.val() > self.best_value.q.val()))
        {
            self.best_value.d.next = self.in_value.q.val();
            self.best_index.d.next = self.in_index.q.val();
            self.have_best.d.next = true;
        }
        if self.clear.val() {
            self.have_best.d.next = false;
        }
        self.best.next = self.best_index.q.val();
    }
}
