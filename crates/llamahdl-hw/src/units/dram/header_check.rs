//! `HeaderCheck<DW>`: compares the weight image's 128-byte header, as it arrives over a
//! `DW`-bit bus, with the header this design was generated for, and reports `ok` or
//! `error` (with the first bad word) before the decoder may compute on the image.
//!
//! In `dram` mode the Verilog depends on the shape, lane count and bus width, not on the
//! weights; so does every header byte except the two CRC fields
//! ([`llamahdl_image::format::HEADER_DATA_DEPENDENT`]: `table_crc`, `header_crc`). The
//! check therefore compares the other 120 bytes exactly (magic, version, every shape
//! field, lanes, bus width, quantisation, region count, offsets, image size) against a
//! generation-time constant: stronger than a CRC for those bytes, and it names the word.
//! A wrong magic, version, shape, lane or bus layout, or a different image size is
//! `error`. The CRC fields are not checked here (the header's own CRC only re-checks the
//! compared bytes plus `table_crc`, and the region table is not read by the hardware).
//!
//! # Interface
//!
//! | port       | dir | width | meaning |
//! |------------|-----|-------|---------|
//! | `clock`    | in  | clock | rising-edge clock |
//! | `reset`    | in  | 1     | synchronous: idle, `ok` and `error` cleared (priority over `start`) |
//! | `start`    | in  | 1     | begin a check: the next `NW = 128 / (DW / 8)` words taken are the header |
//! | `take`     | in  | 1     | `in_data` is a stream word consumed this cycle |
//! | `in_data`  | in  | `DW`  | the word (little-endian: byte `j` of the word in bits `8j+7..8j`) |
//! | `busy`     | out | 1     | a check is under way (header words still to come or being compared) |
//! | `ok`       | out | 1     | all `NW` words matched (sticky until `start` or `reset`) |
//! | `error`    | out | 1     | a word did not match (sticky until `start` or `reset`) |
//! | `bad_word` | out | 4     | index of the first word that did not match (valid with `error`) |
//!
//! # Timing
//!
//! * Word `k` taken at cycle `t` (`take` high, `k` earlier takes since `start`): its masked
//!   difference is registered at the edge ending `t`, reduced in cycle `t + 1`, so
//!   `error` is high from cycle `t + 2`. `ok` is high from cycle `t + 2` after the last
//!   word when no word differed; `ok` and `error` are never both high.
//! * `take` in cycles where no check is under way is ignored (the stream's later words).
//! * Paths: counter -> 16-entry constant ROM -> XOR/AND -> register; then a `DW`-input OR
//!   -> register. Nothing depends on the decoder's datapath.

use llamahdl_image::format::{HEADER_BYTES, HEADER_DATA_DEPENDENT};
use rust_hdl::prelude::*;
use std::collections::BTreeMap;

use crate::bits::bits_of_bytes;

/// Header words on a `dw`-bit bus.
pub fn header_words(dw: usize) -> usize {
    HEADER_BYTES * 8 / dw
}

/// The mask of header bytes the hardware compares (1 = compared): all but
/// [`HEADER_DATA_DEPENDENT`].
pub fn compared_bytes() -> [u8; HEADER_BYTES] {
    let mut m = [0xFFu8; HEADER_BYTES];
    for r in HEADER_DATA_DEPENDENT {
        m[r].fill(0);
    }
    m
}

/// Header check for a `DW`-bit bus (64, 128, 256 or 512). See the [module docs](self).
#[derive(LogicBlock)]
pub struct HeaderCheck<const DW: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub start: Signal<In, Bit>,
    pub take: Signal<In, Bit>,
    pub in_data: Signal<In, Bits<DW>>,
    pub busy: Signal<Out, Bit>,
    pub ok: Signal<Out, Bit>,
    pub error: Signal<Out, Bit>,
    pub bad_word: Signal<Out, Bits<4>>,
    // Not `expect`: a SystemVerilog reserved word that Verilator refuses as an instance name.
    want_rom: ROM<Bits<DW>, 4>,
    mask_rom: ROM<Bits<DW>, 4>,
    cnt: DFF<Bits<4>>,
    active: DFF<Bit>,
    diff: DFF<Bits<DW>>,
    diff_v: DFF<Bit>,
    diff_idx: DFF<Bits<4>>,
    ok_r: DFF<Bit>,
    err_r: DFF<Bit>,
    bad_r: DFF<Bits<4>>,
    last_idx: Constant<Bits<4>>,
    zero4: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    zero_w: Constant<Bits<DW>>,
}

impl<const DW: usize> HeaderCheck<DW> {
    /// A check against `expected` (the 128 header bytes this design was generated for,
    /// e.g. `llamahdl_image::layout::plan(..).header.encode()`); the CRC fields in it are
    /// ignored.
    pub fn new(expected: &[u8; HEADER_BYTES]) -> Self {
        assert!(
            matches!(DW, 64 | 128 | 256 | 512),
            "HeaderCheck: bus width {DW} must be 64, 128, 256 or 512"
        );
        let nw = header_words(DW);
        let wb = DW / 8;
        let m = compared_bytes();
        let mut want = *expected;
        for (w, m) in want.iter_mut().zip(m) {
            *w &= m;
        }
        // Word k of the header at address k; addresses past the header hold zeros.
        let rom = |bytes: &[u8; HEADER_BYTES]| {
            let mut map = BTreeMap::new();
            for k in 0..16usize {
                let w = if k < nw {
                    bytes[k * wb..(k + 1) * wb].to_vec()
                } else {
                    vec![0u8; wb]
                };
                map.insert(Bits::<4>::from(k as u64), bits_of_bytes::<DW>(&w));
            }
            ROM::new(map)
        };
        Self {
            clock: Default::default(),
            reset: Default::default(),
            start: Default::default(),
            take: Default::default(),
            in_data: Default::default(),
            busy: Default::default(),
            ok: Default::default(),
            error: Default::default(),
            bad_word: Default::default(),
            want_rom: rom(&want),
            mask_rom: rom(&m),
            cnt: Default::default(),
            active: Default::default(),
            diff: Default::default(),
            diff_v: Default::default(),
            diff_idx: Default::default(),
            ok_r: Default::default(),
            err_r: Default::default(),
            bad_r: Default::default(),
            last_idx: Constant::new(((nw - 1) as u64).into()),
            zero4: Constant::new(0u64.into()),
            one4: Constant::new(1u64.into()),
            zero_w: Constant::new(Bits::<DW>::default()),
        }
    }
}

impl<const DW: usize> Logic for HeaderCheck<DW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, cnt, active, diff, diff_v, diff_idx, ok_r, err_r, bad_r);
        self.want_rom.address.next = self.cnt.q.val();
        self.mask_rom.address.next = self.cnt.q.val();
        // Stage 1: the masked difference of the word taken now.
        self.diff.d.next =
            (self.in_data.val() ^ self.want_rom.data.val()) & self.mask_rom.data.val();
        self.diff_v.d.next = self.active.q.val() & self.take.val();
        self.diff_idx.d.next = self.cnt.q.val();
        if self.active.q.val() & self.take.val() {
            self.cnt.d.next = self.cnt.q.val() + self.one4.val();
            if self.cnt.q.val() == self.last_idx.val() {
                self.active.d.next = false;
            }
        }
        // Stage 2: reduce, record the first mismatch, or pass after the last word.
        if self.diff_v.q.val() {
            if self.diff.q.val() != self.zero_w.val() {
                if !self.err_r.q.val() {
                    self.err_r.d.next = true;
                    self.bad_r.d.next = self.diff_idx.q.val();
                }
            } else if (self.diff_idx.q.val() == self.last_idx.val()) & (!self.err_r.q.val()) {
                self.ok_r.d.next = true;
            }
        }
        // `start` and `reset` both clear the check; only `start` arms it.
        if self.start.val() | self.reset.val() {
            self.cnt.d.next = self.zero4.val();
            self.active.d.next = !self.reset.val();
            self.diff_v.d.next = false;
            self.ok_r.d.next = false;
            self.err_r.d.next = false;
            self.bad_r.d.next = self.zero4.val();
        }
        self.busy.next = self.active.q.val() | self.diff_v.q.val();
        self.ok.next = self.ok_r.q.val();
        self.error.next = self.err_r.q.val();
        self.bad_word.next = self.bad_r.q.val();
    }
}
