//! `Crc32Word<DW>`: the CRC-32 (IEEE, the one `crc32fast` and the image format use) of a
//! stream of `DW`-bit words, one word per cycle: the region check of the weight stream.
//!
//! # Interface
//!
//! | port    | dir | width | meaning |
//! |---------|-----|-------|---------|
//! | `clock` | in  | clock | rising-edge clock |
//! | `clear` | in  | 1     | start a new CRC at this edge (`crc` becomes 0, the CRC of no bytes; priority over `en`) |
//! | `en`    | in  | 1     | `data` is the next word of the stream |
//! | `data`  | in  | `DW`  | the word, byte `j` in bits `8j+7..8j` (its bytes are taken in that order) |
//! | `crc`   | out | 32    | the finished CRC-32 of every word taken since `clear` |
//!
//! # Timing
//!
//! A word taken at the edge ending cycle `t` is included in `crc` from cycle `t + 1`: so
//! `crc` after the last word of a region equals `crc32fast::hash(region)` one cycle later.
//! `crc` comes straight from a register.
//!
//! # How
//!
//! The CRC of `prefix ++ word` is an affine function of the CRC of `prefix` and the
//! word's bits: `c' = A·c ⊕ B·d ⊕ k` over GF(2). The columns of `A` and `B` and the
//! constant `k` are taken from `crc32fast` at generation time (the CRC of a single set
//! bit, minus `k`), so the Verilog is 32 XOR trees, each over the state and data bits its
//! row selects (about `(DW + 32) / 2` inputs). The native simulation does not use the
//! matrices: it calls `crc32fast` on the word's bytes, so the co-simulation of the two
//! checks the derivation.

use rust_hdl::prelude::*;

use crate::bits::bytes_of_bits;

/// `crc32fast`'s CRC of `bytes` continuing from the CRC `init` of the bytes before them.
fn crc_from(init: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(init);
    h.update(bytes);
    h.finalize()
}

/// The affine map of one `dw`-bit word: (`a` columns: effect of state bit `i`; `b`
/// columns: effect of data bit `j`; the constant `k`).
pub fn word_map(dw: usize) -> (Vec<u32>, Vec<u32>, u32) {
    let wb = dw / 8;
    let zero = vec![0u8; wb];
    let k = crc_from(0, &zero);
    let a = (0..32).map(|i| crc_from(1 << i, &zero) ^ k).collect();
    let b = (0..dw)
        .map(|j| {
            let mut w = zero.clone();
            w[j / 8] = 1 << (j % 8);
            crc_from(0, &w) ^ k
        })
        .collect();
    (a, b, k)
}

/// CRC-32 of a word stream. See the [module docs](self).
#[derive(LogicBlock)]
pub struct Crc32Word<const DW: usize> {
    pub clock: Signal<In, Clock>,
    pub clear: Signal<In, Bit>,
    pub en: Signal<In, Bit>,
    pub data: Signal<In, Bits<DW>>,
    pub crc: Signal<Out, Bits<32>>,
    _state: u32,
}

impl<const DW: usize> Default for Crc32Word<DW> {
    fn default() -> Self {
        assert!(
            DW >= 8 && DW % 8 == 0 && DW <= 1024,
            "Crc32Word: width {DW} must be a whole number of bytes, at most 1024 bits"
        );
        Self {
            clock: Default::default(),
            clear: Default::default(),
            en: Default::default(),
            data: Default::default(),
            crc: Signal::new_with_default(Bits::default()),
            _state: 0,
        }
    }
}

/// `width'h..` literal of the bits `set` (indices below `width`).
fn literal(width: usize, set: impl Iterator<Item = usize>) -> String {
    let mut nibbles = vec![0u8; width.div_ceil(4)];
    for i in set {
        nibbles[i / 4] |= 1 << (i % 4);
    }
    let hex: String = nibbles
        .iter()
        .rev()
        .map(|n| char::from_digit(*n as u32, 16).unwrap())
        .collect();
    format!("{width}'h{hex}")
}

impl<const DW: usize> Logic for Crc32Word<DW> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if self.clear.val() {
                self._state = 0;
            } else if self.en.val() {
                self._state = crc_from(self._state, &bytes_of_bits(self.data.val()));
            }
            self.crc.next = (self._state as u64).into();
        }
    }
    fn connect(&mut self) {
        self.crc.connect();
    }
    fn hdl(&self) -> Verilog {
        let (a, b, k) = word_map(DW);
        let mut s = String::from("wire [31:0] nxt;\ninitial crc = 32'd0;\n");
        for r in 0..32 {
            let am = literal(32, (0..32).filter(|&i| a[i] >> r & 1 == 1));
            let bm = literal(DW, (0..DW).filter(|&j| b[j] >> r & 1 == 1));
            s += &format!(
                "assign nxt[{r}] = (^(crc & {am})) ^ (^(data & {bm})) ^ 1'b{};\n",
                k >> r & 1
            );
        }
        s += "always @(posedge clock) begin\n   if (clear) crc <= 32'd0;\n   else if (en) crc <= nxt;\nend\n";
        Verilog::Custom(s)
    }
}
