//! The argmax of the logits as the classifier writes them: the first maximum.
//!
//! `clear` (a position begins) forgets the best so far; each cycle with `valid`, a `value`
//! greater than the best (or the first after `clear`) makes `index` the best. `best` is
//! registered: it shows the first maximum from the cycle after the last `valid`.

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
    best_value: DFF<Signed<32>>,
    best_index: DFF<Addr>,
    have_best: DFF<Bit>,
}

impl Logic for Argmax {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, best_value, best_index, have_best);
        if self.valid.val()
            & (!self.have_best.q.val() | (self.value.val() > self.best_value.q.val()))
        {
            self.best_value.d.next = self.value.val();
            self.best_index.d.next = self.index.val();
            self.have_best.d.next = true;
        }
        if self.clear.val() {
            self.have_best.d.next = false;
        }
        self.best.next = self.best_index.q.val();
    }
}
