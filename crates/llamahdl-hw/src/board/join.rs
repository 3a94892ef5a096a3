//! `Join16`: two bytes side by side as one 16-bit word, `y = {hi, lo}` (combinational, no
//! clock). A hand-written leaf: rust-hdl's `bit_cast` widening emits a mask of the wrong
//! width (a Verilator WIDTH warning), and a concatenation has no `#[hdl_gen]` form.
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `hi` | in  | 8     | bits 15..8 of `y` |
//! | `lo` | in  | 8     | bits 7..0 of `y` |
//! | `y`  | out | 16    | `hi * 256 + lo`, in the same cycle |

use rust_hdl::prelude::*;

/// `y = {hi, lo}`. See the [module docs](self).
#[derive(LogicBlock, Default)]
pub struct Join16 {
    pub hi: Signal<In, Bits<8>>,
    pub lo: Signal<In, Bits<8>>,
    pub y: Signal<Out, Bits<16>>,
}

impl Logic for Join16 {
    fn update(&mut self) {
        let v = (self.hi.val().index() << 8) | self.lo.val().index();
        self.y.next = (v as u64).into();
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom("always @(*) y = {hi, lo};\n".into())
    }
}
