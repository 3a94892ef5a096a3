//! `Pack32<DW>`: gathers the block device's 32-bit words into `DW`-bit bus words, little
//! end first (the first word of a bus word in its bits 31..0). A hand-written leaf (native
//! `update()` plus a Verilog body), co-simulated in `tests/boot.rs`.
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `clock` | in | clock | |
//! | `en` | in | 1 | take `data` at this edge |
//! | `data` | in | 32 | the next word |
//! | `word` | out | `DW` | a register: after the `DW / 32`-th word since a bus word began, the whole bus word (words shift in from the top) |

use crate::bits::{bits_of_bytes, bytes_of_bits};
use rust_hdl::prelude::*;

/// See the [module docs](self).
#[derive(LogicBlock)]
pub struct Pack32<const DW: usize> {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub data: Signal<In, Bits<32>>,
    pub word: Signal<Out, Bits<DW>>,
    _w: Bits<DW>,
}

impl<const DW: usize> Default for Pack32<DW> {
    fn default() -> Self {
        assert!(
            DW >= 64 && DW % 32 == 0,
            "Pack32: width {DW} must be a multiple of 32, at least 64"
        );
        Self {
            clock: Default::default(),
            en: Default::default(),
            data: Default::default(),
            word: Signal::new_with_default(Bits::default()),
            _w: Bits::default(),
        }
    }
}

impl<const DW: usize> Logic for Pack32<DW> {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.en.val() {
            let mut b = bytes_of_bits(self._w);
            b.drain(..4);
            b.extend_from_slice(&(self.data.val().index() as u32).to_le_bytes());
            self._w = bits_of_bytes::<DW>(&b);
        }
        self.word.next = self._w;
    }
    fn connect(&mut self) {
        self.word.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "reg [{m}:0] w;\ninitial w = {DW}'d0;\nalways @(*) word = w;\n\
             always @(posedge clock) if (en) w <= {{data, w[{m}:32]}};\n",
            m = DW - 1
        ))
    }
}
