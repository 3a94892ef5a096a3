//! The wide RMSNorm unit: `y = rmsnorm(x, gains, g_exp)` (bit for bit as
//! `llamahdl_golden::numerics::rmsnorm`), `W` elements per cycle, on its own copy of the
//! residual stream `x`.
//!
//! The unit keeps `x` (dim Q16.16 words) in `W` banks, written one element per cycle as the
//! decoder writes the residual stream, and read `W` elements per cycle. The block shift
//! comes from the maximum magnitude the top tracks as `x` is written (`x_max`), so there is
//! no scan pass: one pass computes the sum of squares of the block mantissas, the second
//! normalises and scales. An operation takes [`cycles`]`(dim, W)` =
//! `2·⌈dim/W⌉ + 20 + log2(W)` cycles from `start` to `done` (`2·⌈dim/8⌉ + 23` for the
//! decoder's `W = 8`: 39 for dim 64).
//!
//! ## Interface
//! | port | dir | type | |
//! | --- | --- | --- | --- |
//! | `clock` | in | Clock | |
//! | `xw_we`, `xw_idx`, `xw_data` | in | Bit, Bits<16>, Signed<32> | capture of element `xw_idx` of `x` (writes with `xw_idx >= dim` are ignored) |
//! | `x_max` | in | Bits<32> | a value with the bit length of max \|x_i\| of the current `x` (only its bit length is read; sampled at `start`) |
//! | `start` | in | Bit | pulse; ignored while `busy` |
//! | `g_base`, `g_exp` | in | Bits<16>, Signed<8> | gain vector: first element in the gains ROM (a multiple of W, see [`rms_gains_layout`]) and exponent (sampled at `start`) |
//! | `y_we`, `y_idx`, `y_data` | out | Bit, Bits<16>, [Signed<32>; W] | output group: elements `y_idx .. y_idx + W` (lanes past dim are 0) |
//! | `y_max` | out | Bits<32> | max \|y_i\| of this operation, valid from the `done` cycle until the next `start` |
//! | `done` | out | Bit | pulse |
//! | `busy` | out | Bit | |
//!
//! ## Timing
//! Cycle 0 is the (accepted) `start` cycle; `nw = ⌈dim/W⌉` words.
//! - `busy` is high in cycles `1 ..= cycles(dim, W)`; a `start` is accepted when `busy` is
//!   low (so the earliest next `start` is the cycle after `done`).
//! - Pass 1 reads word `j` of `x` in cycle `1 + j`; pass 2 reads it again in cycle
//!   [`pass2_start`]` + j` = `nw + 10 + j` (the sum of squares and the RSQRT look-up in
//!   between, see [`pass2_start`]). Captures are allowed whenever `busy` is low (a capture
//!   in the `start` cycle is seen by that operation; `x_max` must include it); the unit
//!   does not block captures while busy, the writer must not issue them then.
//! - `y_we` is high in cycles [`y_first`]` + j` = `nw + 19 + j`, `j = 0 .. nw`, with
//!   `y_idx = j·W` and `y_data` valid in the same cycles (the lanes' [`Y_LATENCY`] of 8
//!   after the word is on the lanes, one cycle after its read).
//! - `done` and `y_max` (final) in cycle `2·nw + 18 + ymax_latency(W)` = [`cycles`]:
//!   [`ymax_latency`]`(W)` = `log2(W) + 2` cycles (5 for `W = 8`) after the last `y` group
//!   (the maximum-magnitude tree). Nothing else of an operation is valid at a fixed cycle
//!   for the user: the decoder waits for `done`.
//!
//! ## Structure
//! Control (`#[hdl_gen]`): a cycle counter, pass flags, the read counter, the gains-ROM
//! word counter and the output index. Hand-written leaves (native `update()` + Verilog,
//! each co-simulated in `tests/rms_unit.rs`):
//! - [`XBanks`]: `W` banks of `x`, scalar write, `W`-wide synchronous read (lanes past dim
//!   read 0).
//! - [`RmsLanes`]: per lane the block quantiser (shift, then round and clamp: two
//!   stages), one shared `17×16` multiplier (`m·m` in pass 1, `m·T` in pass 2) and the
//!   `16×17` gain multiplier, both with registered inputs and outputs, and the output
//!   scaler (shift in two stages, then round and saturate); the sum-of-squares adder tree
//!   (groups of four lanes, then the groups, then the accumulator: one stage each) and the
//!   normalisation (leading one in two stages, then the RSQRT address and `⌊p/2⌋`; the
//!   output exponent in two more; the RSQRT entry registered before use). Eight stages
//!   from `x` to `y`, pipelined for
//!   about 100 MHz on the ECP5 (at most one carry chain or a few LUT levels per stage).
//! - [`AbsMax`]: the maximum magnitude of the output groups (`log2(W) + 2` register
//!   stages: magnitudes, one compare per level, the running maximum).
//!
//! Memories: the gains ROM (`WordRom<W>`: one word holds `W` consecutive gain mantissas,
//! [`rms_gains_words`]), RSQRT (two `TableRom<16>` of 4096, one per parity, read at once)
//! and the
//! `W` banks of `x` (`⌈dim/W⌉` words each).
//!
//! Multipliers: `2·W`, each at most `17×17` signed (an 18×18 DSP): `W` shared
//! square/normalise multipliers (`16 × 17`) and `W` gain multipliers (`17 × 16`).

use crate::bits::ceil_log2;
use crate::bits::Addr;
use crate::leaf::{LaneRam, TableRom, WordRom};

use crate::bits::{i2s, s2i, u2b};
use llamahdl_golden::numerics::{block_shift, BLOCK16_BITS};
use llamahdl_golden::numerics::{Tables, RSQRT_BITS};
use llamahdl_golden::QuantModel;
use rust_hdl::prelude::*;

/// Words of `W` elements holding a vector of `dim` elements.
pub fn words(dim: usize, w: usize) -> usize {
    dim.div_ceil(w)
}

/// Cycle (from `start`, cycle 0) of the first pass-2 read: the last pass-1 word (read in
/// cycle `nw`) is on the lanes in `nw + 1`, its square in `acc` [`ACC_LATENCY`] cycles
/// later, the RSQRT address [`RS_LATENCY`] cycles after that, then one cycle of table read
/// and one of its output register (`tt_r`), which the first pass-2 word meets in its
/// second lane stage (two cycles after its read).
pub fn pass2_start(dim: usize, w: usize) -> usize {
    words(dim, w) + 1 + ACC_LATENCY + RS_LATENCY
}

/// Cycle (from `start`) of the first `y` group (`y_we`); group `j` follows in `j` cycles.
pub fn y_first(dim: usize, w: usize) -> usize {
    pass2_start(dim, w) + 1 + Y_LATENCY
}

/// Cycles from `start` (cycle 0) to `done` for a vector of `dim` elements, `w` lanes:
/// `2·⌈dim/w⌉ + 18 + ymax_latency(w)` (`2·⌈dim/w⌉ + 23` for `w = 8`).
pub fn cycles(dim: usize, w: usize) -> usize {
    // The last y group, then the maximum-magnitude tree.
    y_first(dim, w) + words(dim, w) - 1 + ymax_latency(w)
}

/// RSQRT table contents: `rsqrt[0]` then `rsqrt[1]` (address `parity · 4096 + f`).
pub fn rsqrt_words() -> Vec<u64> {
    let t = Tables::get();
    t.rsqrt[0]
        .iter()
        .chain(t.rsqrt[1].iter())
        .map(|&v| v as u64)
        .collect()
}

/// For a sum of squares `acc` (48 bits): `(parity · 4096 + f, ⌊p/2⌋)` with
/// `(p, f) = normalise(acc, RSQRT_BITS)`; `(0, 0)` for 0.
pub fn norm_addr(acc: u64) -> (u32, u32) {
    if acc == 0 {
        return (0, 0);
    }
    let p = 63 - acc.leading_zeros();
    let f = ((acc << RSQRT_BITS) >> p) & ((1 << RSQRT_BITS) - 1);
    (((p & 1) << RSQRT_BITS) | f as u32, p >> 1)
}

/// RMSNORM output exponent `g_exp + 16 - ⌊p/2⌋`, clamped to the −64..=63 of the scaler
/// (results are identical: beyond that the output is 0 or saturated either way).
pub fn rms_k(g_exp: i32, hp: u32) -> i32 {
    (g_exp + 16 - hp as i32).clamp(-64, 63)
}

/// Every RMSNorm gain vector of `qm` in program order (`2l`
/// attention of layer `l`, `2l + 1` feed-forward, `2·n_layers` final): `(mantissas, exp)`.
pub fn gain_vectors(qm: &QuantModel) -> Vec<(Vec<i16>, i32)> {
    let mut out = Vec::new();
    for l in &qm.layers {
        out.push((l.rms_att.mant.clone(), l.rms_att.exp));
        out.push((l.rms_ffn.mant.clone(), l.rms_ffn.exp));
    }
    out.push((qm.rms_final.mant.clone(), qm.rms_final.exp));
    out
}

/// Where each RMSNorm gain vector lives in the wide gains ROM: `(g_base, g_exp)` in
/// program order. `g_base` is an element index, a multiple of
/// `w` (each vector starts a new ROM word; the tail of its last word is 0).
pub fn rms_gains_layout(qm: &QuantModel, w: usize) -> Vec<(usize, i32)> {
    let mut base = 0;
    gain_vectors(qm)
        .into_iter()
        .map(|(m, e)| {
            let b = base;
            base += words(m.len(), w) * w;
            (b, e)
        })
        .collect()
}

/// Contents of the wide gains ROM: word `a` holds elements `a·W .. a·W + W` of the
/// [`rms_gains_layout`] (raw 16-bit patterns, lane `i` = element `a·W + i`).
pub fn rms_gains_words<const W: usize>(qm: &QuantModel) -> Vec<[u16; W]> {
    let mut out = Vec::new();
    for (m, _) in gain_vectors(qm) {
        for chunk in m.chunks(W) {
            let mut word = [0u16; W];
            for (d, &g) in word.iter_mut().zip(chunk) {
                *d = g as u16;
            }
            out.push(word);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// XBanks: the unit's copy of x
// ---------------------------------------------------------------------------------------

/// `dim` Q16.16 words in `W` banks (element `e` is word `e / W` of bank `e % W`).
///
/// - Write (scalar): at a rising edge with `we` and `widx < dim`, element `widx` takes
///   `wdata`; writes with `widx >= dim` are ignored.
/// - Read (`W` wide, synchronous): `rdata[i]` shows element `raddr·W + i` from the cycle
///   after `raddr` (0 when that element is `>= dim`). A read and a write of the same
///   element in one cycle read the old value.
#[derive(LogicBlock)]
pub struct XBanks<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub we: Signal<In, Bit>,
    pub widx: Signal<In, Addr>,
    pub wdata: Signal<In, Signed<32>>,
    pub raddr: Signal<In, Addr>,
    pub rdata: [Signal<Out, Signed<32>>; W],
    _dim: usize,
    _mem: Vec<i64>,
}

impl<const W: usize> XBanks<W> {
    pub fn new(dim: usize) -> Self {
        assert!(
            W.is_power_of_two() && W >= 2,
            "XBanks: W must be a power of two >= 2"
        );
        assert!(dim >= 1 && dim < 1 << 16, "XBanks: dim");
        Self {
            clock: Default::default(),
            we: Default::default(),
            widx: Default::default(),
            wdata: Default::default(),
            raddr: Default::default(),
            rdata: array_init::array_init(|_| Signal::new_with_default(Signed::default())),
            _dim: dim,
            _mem: vec![0; dim],
        }
    }
    /// Element `i` as the simulation holds it.
    pub fn peek(&self, i: usize) -> i32 {
        self._mem[i] as i32
    }
    /// Words in lane `i`'s bank: the number of elements `e < dim` with `e % W == i`.
    fn lane_depth(&self, i: usize) -> usize {
        if i < self._dim {
            (self._dim - i).div_ceil(W)
        } else {
            0
        }
    }
}

impl<const W: usize> Logic for XBanks<W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let r = self.raddr.val().index();
            for i in 0..W {
                let e = r * W + i;
                let v = if e < self._dim { self._mem[e] } else { 0 };
                self.rdata[i].next = i2s::<32>(v);
            }
            if self.we.val() {
                let e = self.widx.val().index();
                if e < self._dim {
                    self._mem[e] = s2i(self.wdata.val());
                }
            }
        }
    }
    fn connect(&mut self) {
        for d in &mut self.rdata {
            d.connect();
        }
    }
    fn hdl(&self) -> Verilog {
        let lb = W.trailing_zeros() as usize;
        let dim = self._dim;
        let mut s = String::from("integer n;\n");
        for i in 0..W {
            let depth = self.lane_depth(i);
            if depth > 0 {
                s += &format!("reg [31:0] m{i} [0:{}];\n", depth - 1);
            }
        }
        s += "initial begin\n`ifndef SYNTHESIS\n";
        for i in 0..W {
            let depth = self.lane_depth(i);
            if depth > 0 {
                s += &format!("   for (n = 0; n < {depth}; n = n + 1) m{i}[n] = 32'd0;\n");
            }
        }
        s += "`endif\n";
        for i in 0..W {
            s += &format!("   rdata${i} = 32'sd0;\n");
        }
        s += "end\n";
        s += &format!("wire wok = we && (widx < 16'd{dim});\nalways @(posedge clock) begin\n");
        for i in 0..W {
            let depth = self.lane_depth(i);
            if depth == 0 {
                s += &format!("   rdata${i} <= 32'sd0;\n");
                continue;
            }
            let b = ceil_log2(depth);
            let ridx = if b == 0 {
                "0".to_string()
            } else {
                format!("raddr[{}:0]", b - 1)
            };
            let widx = if b == 0 {
                "0".to_string()
            } else {
                format!("widx[{}:{lb}]", lb + b - 1)
            };
            s += &format!(
                "   rdata${i} <= (raddr < 16'd{depth}) ? m{i}[{ridx}] : 32'sd0;\n   if (wok && (widx[{}:0] == {lb}'d{i})) m{i}[{widx}] <= wdata;\n",
                lb - 1
            );
        }
        s += "end\n";
        Verilog::Custom(s)
    }
}

// ---------------------------------------------------------------------------------------
// RmsLanes: the W-lane arithmetic
// ---------------------------------------------------------------------------------------

/// Cycles from a word on the lanes' `x` (cycle `C`) to the sum of squares in `acc`
/// (visible from `C + ACC_LATENCY`).
pub const ACC_LATENCY: usize = 6;
/// Cycles from a word on the lanes' `x` (cycle `C`) to its output group on `y`/`yv`
/// (visible from `C + Y_LATENCY`).
pub const Y_LATENCY: usize = 8;
/// Cycles from `acc` (final from cycle `A`) to `rs_addr` (final from `A + RS_LATENCY`);
/// `k` and the scaler's flags follow two and three cycles later.
pub const RS_LATENCY: usize = 3;

/// The arithmetic of the unit, free-running, `W` lanes (`W <= 16`). With `x`, `v` and `sq`
/// presented in cycle `C` (`v`: the word is valid; `sq`: pass 1), registers load at the
/// edge ending each cycle:
///
/// - `C`: `u_i <= (2·x_i) >>> shift` (the quantiser's shift, 34 bits).
/// - `C+1`: `m_i = clamp(⌊(u_i + 1)/2⌋, ±32767)` (= [`block_mant`](llamahdl_golden::numerics::block_mant)`(x_i, shift)`), into the
///   multiplier's input registers: `ma_i <= m_i`, `mb_i <= sq ? m_i : tt_r` (`tt_r`: the
///   registered RSQRT entry of the parity two edges back, see below).
/// - `C+2`: `pr_i <= ma_i · mb_i`.
/// - `C+3`: `q_j <= Σ pr` over lanes `4j .. 4j+3`; `t_i <= round(pr_i / 2^16)`,
///   `g1_i <= g_i` (the gains word is presented in `C+3`).
/// - `C+4`: `s <= Σ q_j`; `pg_i <= t_i · g1_i`.
/// - `C+5`: `acc <= acc + s` if the word was valid pass-1 (48 bits, visible in
///   `C + ACC_LATENCY`); the scaler's shift by the low two bits of its amount:
///   `za_i <= k < 0 ? pg_i >>> (−k−1)[1:0] : pg_i << k[1:0]` (34 bits); `lk_i <=` whether
///   `pg_i << k` fits 32 bits (no sign change among bits `31−k .. 30` of `pg_i`: a mask
///   from `k`), `pz_i <= pg_i == 0`, sign.
/// - `C+6`: the rest of the shift: `w_i <= k < 0 ? (za_i >>> 4·(−k−1)[4:2])[31:0] :
///   (za_i << 4·k[4:2])[31:0]`; the flags follow.
/// - `C+7`: `y_i <= sat32(round(pg_i · 2^k))` (rounding add, saturation from `w_i` and
///   the flags), `yv <= v & !sq`; visible in `C + Y_LATENCY`.
///
/// Every edge: `a1 <= acc` as nibble flags and positions, `p <= lead_one(a1)`;
/// `rs_addr <= {p[0], f(acc, p)}`, `hp <= ⌊p/2⌋` (so `rs_addr` is `norm_addr(acc)`
/// [`RS_LATENCY`] cycles after `acc` settles); `kk <= g_exp + 16 − hp`, `k <= clamp(kk)`
/// (= [`rms_k`]); the scaler's flags (`k < 0`, `k > 30`, `k < −30`, the two 5-bit shift
/// amounts, the fits-in-32 mask) `<=` from `k`; the RSQRT entries of both parities, `tt0_r <= tt0`,
/// `tt1_r <= tt1` (unsigned; the two table halves' outputs, addressed by `rs_addr[11:0]`
/// and registered straight out of the block RAM), and the parity `rs_addr[12]` delayed by
/// two edges to select between them (`tt_r`). With `ld` (the operation's start):
/// `shift <= block_shift(x_max)`, `g_exp` latched, `acc <= 0`.
#[derive(LogicBlock)]
pub struct RmsLanes<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub ld: Signal<In, Bit>,
    pub x_max: Signal<In, Bits<32>>,
    pub g_exp: Signal<In, Signed<8>>,
    pub x: [Signal<In, Signed<32>>; W],
    pub v: Signal<In, Bit>,
    pub sq: Signal<In, Bit>,
    pub tt0: Signal<In, Addr>,
    pub tt1: Signal<In, Addr>,
    pub g: [Signal<In, Addr>; W],
    pub rs_addr: Signal<Out, Addr>,
    pub y: [Signal<Out, Signed<32>>; W],
    pub yv: Signal<Out, Bit>,
    _s: LaneState,
}

#[derive(Clone, Default)]
struct LaneState {
    shift: u32,
    gexp: i32,
    // Stage 1: the quantiser's shift.
    u: Vec<i64>,
    v1: bool,
    sq1: bool,
    // Stage 2: clamp, the multiplier's input registers.
    ma: Vec<i64>,
    mb: Vec<i64>,
    v2: bool,
    sq2: bool,
    // Stage 3: the products.
    pr: Vec<i64>,
    v3: bool,
    sq3: bool,
    // Stage 4.
    q: Vec<i64>,
    t: Vec<i64>,
    g1: Vec<i64>,
    e4: bool,
    v4: bool,
    // Stage 5.
    s: i64,
    pg: Vec<i64>,
    e5: bool,
    v5: bool,
    // Stage 6.
    acc: u64,
    za: Vec<i64>,
    lk: Vec<bool>,
    pz: Vec<bool>,
    sg: Vec<bool>,
    v6: bool,
    // Stage 7.
    w: Vec<i64>,
    lk7: Vec<bool>,
    pz7: Vec<bool>,
    sg7: Vec<bool>,
    v7: bool,
    // Stage 8.
    y: Vec<i64>,
    yv: bool,
    // Normalisation and the per-operation scaler flags.
    a1: u64,
    p: u32,
    rs: u32,
    hp: u32,
    kk: i32,
    k: i32,
    kl: u32,
    kr: u32,
    kneg: bool,
    kbl: bool,
    kbr: bool,
    kmask: u32,
    par1: bool,
    par2: bool,
    tt0r: i64,
    tt1r: i64,
}

const MASK48: u64 = (1 << 48) - 1;

/// Number of lane groups of the first adder-tree stage (four lanes each).
const fn groups(w: usize) -> usize {
    w.div_ceil(4)
}

impl<const W: usize> Default for RmsLanes<W> {
    fn default() -> Self {
        assert!(
            W.is_power_of_two() && (2..=16).contains(&W),
            "RmsLanes: W must be a power of two in 2..=16 (two adder-tree stages)"
        );
        Self {
            clock: Default::default(),
            ld: Default::default(),
            x_max: Default::default(),
            g_exp: Default::default(),
            x: array_init::array_init(|_| Default::default()),
            v: Default::default(),
            sq: Default::default(),
            tt0: Default::default(),
            tt1: Default::default(),
            g: array_init::array_init(|_| Default::default()),
            rs_addr: Signal::new_with_default(Bits::default()),
            y: array_init::array_init(|_| Signal::new_with_default(Signed::default())),
            yv: Signal::new_with_default(false),
            _s: LaneState {
                u: vec![0; W],
                ma: vec![0; W],
                mb: vec![0; W],
                pr: vec![0; W],
                q: vec![0; groups(W)],
                t: vec![0; W],
                g1: vec![0; W],
                pg: vec![0; W],
                za: vec![0; W],
                pz: vec![false; W],
                sg: vec![false; W],
                w: vec![0; W],
                lk: vec![false; W],
                lk7: vec![false; W],
                pz7: vec![false; W],
                sg7: vec![false; W],
                y: vec![0; W],
                ..Default::default()
            },
        }
    }
}

/// Sign-extend the low `bits` bits of `v`.
fn wrap(v: i64, bits: u32) -> i64 {
    (v << (64 - bits)) >> (64 - bits)
}

/// Position of the leading one of `acc` (0 for 0 and 1).
fn lead_one(acc: u64) -> u32 {
    if acc == 0 {
        0
    } else {
        63 - acc.leading_zeros()
    }
}

/// The 12 bits of `acc` below bit `p` (`acc[p-1 : p-12]`, zero-filled; 0 for `p = 0`).
fn frac_at(acc: u64, p: u32) -> u32 {
    if p == 0 {
        0
    } else {
        (((acc << RSQRT_BITS) >> p) & ((1 << RSQRT_BITS) - 1)) as u32
    }
}

/// The quantiser's second half: `clamp(⌊(u + 1)/2⌋, ±32767)`.
fn quant_clamp(u: i64) -> i64 {
    if u >= 65535 {
        32767
    } else if u <= -65536 {
        -32767
    } else {
        (u + 1) >> 1
    }
}

impl<const W: usize> Logic for RmsLanes<W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let o = &self._s;
            let ttr = if o.par2 { o.tt1r } else { o.tt0r };
            let m: Vec<i64> = o.u.iter().map(|&u| quant_clamp(u)).collect();
            // Stage 7's left shift (exact: za < 2^33, shifted by at most 28).
            let pl: Vec<i64> = o.za.iter().map(|&za| za << (o.kl & 0x1c)).collect();
            let mut n = LaneState {
                shift: o.shift,
                gexp: o.gexp,
                u: (0..W)
                    .map(|i| (s2i(self.x[i].val()) << 1) >> o.shift)
                    .collect(),
                v1: self.v.val(),
                sq1: self.sq.val(),
                ma: m.clone(),
                mb: m.iter().map(|&mi| if o.sq1 { mi } else { ttr }).collect(),
                v2: o.v1,
                sq2: o.sq1,
                pr: (0..W).map(|i| o.ma[i] * o.mb[i]).collect(),
                v3: o.v2,
                sq3: o.sq2,
                q: (0..groups(W))
                    .map(|j| o.pr[4 * j..(4 * j + 4).min(W)].iter().sum())
                    .collect(),
                t: (0..W)
                    .map(|i| wrap((o.pr[i] + (1 << 15)) >> 16, 17))
                    .collect(),
                g1: (0..W)
                    .map(|i| self.g[i].val().to_u64() as u16 as i16 as i64)
                    .collect(),
                e4: o.v3 & o.sq3,
                v4: o.v3 & !o.sq3,
                s: o.q.iter().sum(),
                pg: (0..W).map(|i| wrap(o.t[i] * o.g1[i], 31)).collect(),
                e5: o.e4,
                v5: o.v4,
                acc: if o.e5 {
                    (o.acc as i64).wrapping_add(o.s) as u64 & MASK48
                } else {
                    o.acc
                },
                za: (0..W)
                    .map(|i| {
                        if o.kneg {
                            o.pg[i] >> (o.kr & 3)
                        } else {
                            o.pg[i] << (o.kl & 3)
                        }
                    })
                    .collect(),
                // pg << k fits 32 bits: no sign change among bits 31 - k .. 30.
                lk: o
                    .pg
                    .iter()
                    .map(|&v| (v ^ (v >> 1)) & o.kmask as i64 == 0)
                    .collect(),
                pz: o.pg.iter().map(|&v| v == 0).collect(),
                sg: o.pg.iter().map(|&v| v < 0).collect(),
                v6: o.v5,
                w: (0..W)
                    .map(|i| {
                        if o.kneg {
                            wrap(o.za[i] >> (o.kr & 0x1c), 32)
                        } else {
                            wrap(pl[i], 32)
                        }
                    })
                    .collect(),
                lk7: o.lk.clone(),
                pz7: o.pz.clone(),
                sg7: o.sg.clone(),
                v7: o.v6,
                y: (0..W)
                    .map(|i| {
                        let ys = if o.sg7[i] {
                            i32::MIN as i64
                        } else {
                            i32::MAX as i64
                        };
                        let w = o.w[i];
                        if o.kbl {
                            if o.pz7[i] {
                                0
                            } else {
                                ys
                            }
                        } else if o.kbr {
                            0
                        } else if !o.kneg {
                            if o.lk7[i] {
                                w
                            } else {
                                ys
                            }
                        } else {
                            (w >> 1) + (w & 1)
                        }
                    })
                    .collect(),
                yv: o.v7,
                a1: o.acc,
                p: lead_one(o.a1),
                rs: ((o.p & 1) << RSQRT_BITS) | frac_at(o.acc, o.p),
                hp: o.p >> 1,
                kk: o.gexp + 16 - o.hp as i32,
                k: o.kk.clamp(-64, 63),
                kl: (o.k & 31) as u32,
                kr: (!o.k & 31) as u32,
                kneg: o.k < 0,
                kbl: o.k > 30,
                kbr: o.k < -30,
                kmask: {
                    let kl = (o.k & 31) as u32;
                    if kl <= 1 {
                        0
                    } else {
                        ((1 << (kl - 1)) - 1) << (31 - kl)
                    }
                },
                par1: (o.rs >> RSQRT_BITS) & 1 == 1,
                par2: o.par1,
                tt0r: self.tt0.val().to_u64() as i64,
                tt1r: self.tt1.val().to_u64() as i64,
            };
            if self.ld.val() {
                n.shift = block_shift(self.x_max.val().to_u64(), BLOCK16_BITS);
                n.gexp = s2i(self.g_exp.val()) as i32;
                n.acc = 0;
            }
            for i in 0..W {
                self.y[i].next = i2s::<32>(n.y[i]);
            }
            self.yv.next = n.yv;
            self.rs_addr.next = u2b::<16>(n.rs as u64);
            self._s = n;
        }
    }
    fn connect(&mut self) {
        self.rs_addr.connect();
        for y in &mut self.y {
            y.connect();
        }
        self.yv.connect();
    }
    fn hdl(&self) -> Verilog {
        let g = groups(W);
        let mut s = String::from(
            "\
reg [4:0] shift;
reg signed [7:0] gexp;
reg v1, sq1, v2, sq2, v3, sq3, e4, v4, e5, v5, v6, v7;
reg [47:0] acc;
reg signed [36:0] s;
// (Nibble 0's flag is never needed: its position is 0 when it is 0.)
reg [11:1] nz;
reg [23:0] ps;
reg [5:0] p;
reg [4:0] hp;
reg signed [9:0] kk;
reg signed [7:0] k;
reg [4:0] kl, kr;
reg kneg, kbl, kbr;
reg [29:0] kmask;
reg par1, par2;
reg [15:0] tt0r, tt1r;
reg [4:0] xs;
reg [11:0] f;
// Only bits 31..15 of x_max decide the shift.
/* verilator lint_off UNUSEDSIGNAL */
wire [14:0] x_max_low_unused = x_max[14:0];
/* verilator lint_on UNUSEDSIGNAL */
always @(*) begin
   xs = 5'd0;
",
        );
        for b in 15..32 {
            s += &format!("   if (x_max[{b}]) xs = 5'd{};\n", b - 14);
        }
        s += "end\n";
        // Leading one of acc in two stages: per nibble a flag and the position of its
        // leading one (nz, ps, registered), then per group of four nibbles the highest
        // one and its position, and the highest group (p, registered).
        for g in 0..3 {
            let n = |c: usize| format!("nz[{}]", 4 * g + c);
            let pp = |c: usize| format!("ps[{}:{}]", 2 * (4 * g + c) + 1, 2 * (4 * g + c));
            s += &format!(
                "wire [1:0] hg{g} = {{{n3} | {n2}, {n3} | (~{n2} & {n1})}};\n\
                 wire [1:0] gp{g} = hg{g}[1] ? (hg{g}[0] ? {p3} : {p2}) : (hg{g}[0] ? {p1} : {p0});\n",
                n3 = n(3),
                n2 = n(2),
                n1 = n(1),
                p3 = pp(3),
                p2 = pp(2),
                p1 = pp(1),
                p0 = pp(0)
            );
        }
        s += "wire gz2 = |nz[11:8];\nwire gz1 = |nz[7:4];\n";
        s += "wire [5:0] pn = gz2 ? {2'd2, hg2, gp2} : (gz1 ? {2'd1, hg1, gp1} : {2'd0, hg0, gp0});\n";
        // The 12 bits below the (registered) leading one.
        s += "always @(*) begin\n   case (p)\n";
        for b in 1..48usize {
            let body = if b >= 12 {
                format!("acc[{}:{}]", b - 1, b - 12)
            } else {
                format!("{{acc[{}:0], {}'d0}}", b - 1, 12 - b)
            };
            s += &format!("      6'd{b}: f = {body};\n");
        }
        s += "      default: f = 12'd0;\n   endcase\nend\n";
        s += "\
// Output scaling by 2^k, exact for |pg| < 2^30 (|t| <= 32767, |g| <= 32768): k >= 31
// saturates (or 0), k <= -31 gives 0, else a 5-bit shift left (with a fits-in-32 check)
// or right (round half up: floor(pg / 2^s) + bit s-1 of pg), shift and round in two
// stages.
";
        for i in 0..W {
            s += &format!(
                "\
reg signed [33:0] u{i};
reg signed [15:0] ma{i};
reg signed [16:0] mb{i};
reg signed [32:0] pr{i};
reg signed [16:0] t{i};
reg [15:0] g1{i};
reg signed [30:0] pg{i};
reg signed [33:0] za{i};
reg signed [31:0] w{i};
reg lk{i}, lk7{i};
reg pz{i}, sg{i}, pz7{i}, sg7{i};
wire signed [33:0] xe{i} = {{x${i}[31], x${i}, 1'b0}};
// clamp(floor((u + 1) / 2), +-32767): u >= 65535 saturates up, u <= -65536 down.
wire uh{i} = ~u{i}[33] & ((|u{i}[32:16]) | (&u{i}[15:0]));
wire ul{i} = u{i}[33] & (~(&u{i}[32:16]) | ~(|u{i}[15:0]));
/* verilator lint_off UNUSEDSIGNAL */
wire [16:0] ri{i} = u{i}[16:0] + 17'd1;
/* verilator lint_on UNUSEDSIGNAL */
wire signed [15:0] mq{i} = uh{i} ? 16'sd32767 : (ul{i} ? -16'sd32767 : ri{i}[16:1]);
wire signed [32:0] mp{i} = ma{i} * mb{i};
// t = round(pr / 2^16) fits 17 bits (|pr| < 2^31): the low 16 bits only round.
/* verilator lint_off UNUSEDSIGNAL */
wire signed [32:0] rr{i} = pr{i} + 33'sd32768;
/* verilator lint_on UNUSEDSIGNAL */
wire signed [30:0] pm{i} = t{i} * $signed(g1{i});
wire signed [33:0] pe{i} = {{{{3{{pg{i}[30]}}}}, pg{i}}};
wire signed [33:0] zl{i} = pe{i} <<< kl[1:0];
wire signed [33:0] zr{i} = pe{i} >>> kr[1:0];
wire [31:0] pl{i} = za{i}[31:0] << {{kl[4:2], 2'b00}};
// pg << k fits 32 bits iff pg has no sign change among bits 31 - k .. 30 (kmask).
wire [29:0] dg{i} = pg{i}[29:0] ^ pg{i}[30:1];
/* verilator lint_off UNUSEDSIGNAL */
wire signed [33:0] pu{i} = za{i} >>> {{kr[4:2], 2'b00}};
/* verilator lint_on UNUSEDSIGNAL */
wire signed [31:0] wh{i} = w{i} >>> 1;
wire signed [31:0] yr{i} = wh{i} + $signed({{31'd0, w{i}[0]}});
wire [31:0] ys{i} = sg7{i} ? 32'h80000000 : 32'h7fffffff;
"
            );
        }
        for j in 0..g {
            let terms: Vec<String> = (4 * j..(4 * j + 4).min(W))
                .map(|i| format!("{{{{2{{pr{i}[32]}}}}, pr{i}}}"))
                .collect();
            s += &format!(
                "reg signed [34:0] q{j};\nwire signed [34:0] qs{j} = {};\n",
                terms.join(" + ")
            );
        }
        let qterms: Vec<String> = (0..g)
            .map(|j| format!("{{{{2{{q{j}[34]}}}}, q{j}}}"))
            .collect();
        s += &format!("wire signed [36:0] qsum = {};\n", qterms.join(" + "));
        s += "initial begin\n   shift = 5'd0; gexp = 8'sd0; acc = 48'd0; s = 37'sd0;\n";
        s += "   nz = 11'd0; ps = 24'd0; p = 6'd0; hp = 5'd0; kk = 10'sd0; k = 8'sd0; kl = 5'd0; kr = 5'd0;\n";
        s += "   kneg = 1'b0; kbl = 1'b0; kbr = 1'b0; kmask = 30'd0; par1 = 1'b0; par2 = 1'b0; tt0r = 16'd0; tt1r = 16'd0;\n";
        s += "   v1 = 1'b0; sq1 = 1'b0; v2 = 1'b0; sq2 = 1'b0; v3 = 1'b0; sq3 = 1'b0;\n";
        s += "   e4 = 1'b0; v4 = 1'b0; e5 = 1'b0; v5 = 1'b0; v6 = 1'b0; v7 = 1'b0;\n";
        s += "   yv = 1'b0; rs_addr = 16'd0;\n";
        for i in 0..W {
            s += &format!(
                "   u{i} = 34'sd0; ma{i} = 16'sd0; mb{i} = 17'sd0; pr{i} = 33'sd0; t{i} = 17'sd0; g1{i} = 16'd0;\n   pg{i} = 31'sd0; za{i} = 34'sd0; w{i} = 32'sd0; lk{i} = 1'b0; lk7{i} = 1'b0;\n   pz{i} = 1'b0; sg{i} = 1'b0; pz7{i} = 1'b0; sg7{i} = 1'b0; y${i} = 32'sd0;\n"
            );
        }
        for j in 0..g {
            s += &format!("   q{j} = 35'sd0;\n");
        }
        s += "end\nalways @(posedge clock) begin\n";
        s += "\
   v1 <= v; sq1 <= sq;
   v2 <= v1; sq2 <= sq1;
   v3 <= v2; sq3 <= sq2;
   e4 <= v3 & sq3; v4 <= v3 & ~sq3;
   e5 <= e4; v5 <= v4;
   v6 <= v5;
   v7 <= v6;
   yv <= v7;
   s <= qsum;
   p <= pn;
   rs_addr <= {3'd0, p[0], f};
   hp <= p[5:1];
   kk <= {{2{gexp[7]}}, gexp} + 10'sd16 - {5'd0, hp};
   // clamp(kk, -64, 63): kk > 63 iff positive with a bit in 8..6; kk < -64 likewise.
   k <= (~kk[9] & (|kk[8:6])) ? 8'sd63 : ((kk[9] & ~(&kk[8:6])) ? -8'sd64 : kk[7:0]);
   kl <= k[4:0];
   kr <= ~k[4:0];
   kneg <= k[7];
   kbl <= ~k[7] & (k > 8'sd30);
   kbr <= k[7] & (k < -8'sd30);
   par1 <= rs_addr[12];
   par2 <= par1;
   tt0r <= tt0;
   tt1r <= tt1;
   if (ld) begin
      shift <= xs;
      gexp <= g_exp;
      acc <= 48'd0;
   end else if (e5) begin
      acc <= acc + {{11{s[36]}}, s};
   end
";
        // kmask[j] = j >= 31 - k[4:0] (bits 31 - k .. 29 of the sign-change vector).
        for j in 0..30 {
            s += &format!("   kmask[{j}] <= (k[4:0] >= 5'd{});\n", 31 - j);
        }
        for i in 0..W {
            s += &format!(
                "\
   u{i} <= xe{i} >>> shift;
   ma{i} <= mq{i};
   mb{i} <= sq1 ? {{mq{i}[15], mq{i}}} : {{1'b0, (par2 ? tt1r : tt0r)}};
   pr{i} <= mp{i};
   t{i} <= rr{i}[32:16];
   g1{i} <= g${i};
   pg{i} <= pm{i};
   za{i} <= kneg ? zr{i} : zl{i};
   pz{i} <= (pg{i} == 31'sd0);
   sg{i} <= pg{i}[30];
   lk{i} <= ~|(dg{i} & kmask);
   w{i} <= kneg ? pu{i}[31:0] : pl{i};
   lk7{i} <= lk{i};
   pz7{i} <= pz{i};
   sg7{i} <= sg{i};
   y${i} <= kbl ? (pz7{i} ? 32'sd0 : ys{i}) : (kbr ? 32'sd0 : (~kneg ? (lk7{i} ? w{i} : ys{i}) : yr{i}));
"
            );
        }
        for j in 0..g {
            s += &format!("   q{j} <= qs{j};\n");
        }
        for c in 0..12 {
            let a = |b: usize| format!("acc[{}]", 4 * c + b);
            if c > 0 {
                s += &format!("   nz[{c}] <= |acc[{}:{}];\n", 4 * c + 3, 4 * c);
            }
            s += &format!(
                "   ps[{}:{}] <= {{{a3} | {a2}, {a3} | (~{a2} & {a1})}};\n",
                2 * c + 1,
                2 * c,
                a3 = a(3),
                a2 = a(2),
                a1 = a(1)
            );
        }
        s += "end\n";
        Verilog::Custom(s)
    }
}

// ---------------------------------------------------------------------------------------
// AbsMax: maximum magnitude of the output groups
// ---------------------------------------------------------------------------------------

/// Latency of the maximum-magnitude tree ([`AbsMax`]) of `w` lanes: `y_max` includes a `y`
/// group `ymax_latency(w)` cycles after the group is on `y_data` (`log2(w) + 2`).
pub const fn ymax_latency(w: usize) -> usize {
    w.trailing_zeros() as usize + 2
}

/// Running maximum magnitude of `W`-wide groups, one register stage per level
/// (`|−2^31| = 2^31`): `a_i <= v ? |y_i| : 0`; then `log2(W)` levels of pairwise maxima
/// (`l1_j <= max(a_2j, a_2j+1)`, ...), one compare per stage; `mx <= max(mx, top)`. `clr`
/// zeroes every stage at the edge (it has priority). A group presented in cycle `c` is in
/// `mx` from cycle `c + ymax_latency(W)` ([`ymax_latency`]).
#[derive(LogicBlock)]
pub struct AbsMax<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub clr: Signal<In, Bit>,
    pub v: Signal<In, Bit>,
    pub y: [Signal<In, Signed<32>>; W],
    pub mx: Signal<Out, Bits<32>>,
    /// Level 0 (`W` magnitudes) to level `log2(W)` (one value).
    _lv: Vec<Vec<u32>>,
    _mx: u32,
}

impl<const W: usize> Default for AbsMax<W> {
    fn default() -> Self {
        assert!(
            W.is_power_of_two() && W >= 2,
            "AbsMax: W must be a power of two >= 2"
        );
        let n = W.trailing_zeros() as usize;
        Self {
            clock: Default::default(),
            clr: Default::default(),
            v: Default::default(),
            y: array_init::array_init(|_| Default::default()),
            mx: Signal::new_with_default(Bits::default()),
            _lv: (0..=n).map(|l| vec![0; W >> l]).collect(),
            _mx: 0,
        }
    }
}

impl<const W: usize> Logic for AbsMax<W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if self.clr.val() {
                self._lv.iter_mut().flatten().for_each(|h| *h = 0);
                self._mx = 0;
            } else {
                let top = self._lv.len() - 1;
                self._mx = self._mx.max(self._lv[top][0]);
                for l in (1..=top).rev() {
                    for j in 0..W >> l {
                        self._lv[l][j] = self._lv[l - 1][2 * j].max(self._lv[l - 1][2 * j + 1]);
                    }
                }
                let v = self.v.val();
                for i in 0..W {
                    self._lv[0][i] = if v {
                        (s2i(self.y[i].val()) as i32).unsigned_abs()
                    } else {
                        0
                    };
                }
            }
            self.mx.next = u2b::<32>(self._mx as u64);
        }
    }
    fn connect(&mut self) {
        self.mx.connect();
    }
    fn hdl(&self) -> Verilog {
        let n = W.trailing_zeros() as usize;
        let mut s = String::new();
        for l in 0..=n {
            for j in 0..W >> l {
                s += &format!("reg [31:0] l{l}_{j};\n");
            }
        }
        s += "initial begin\n   mx = 32'd0;\n";
        for l in 0..=n {
            for j in 0..W >> l {
                s += &format!("   l{l}_{j} = 32'd0;\n");
            }
        }
        s += "end\nalways @(posedge clock) begin\n   if (clr) begin\n      mx <= 32'd0;\n";
        for l in 0..=n {
            for j in 0..W >> l {
                s += &format!("      l{l}_{j} <= 32'd0;\n");
            }
        }
        s += &format!("   end else begin\n      mx <= (l{n}_0 > mx) ? l{n}_0 : mx;\n");
        for l in 1..=n {
            for j in 0..W >> l {
                let (a, b) = (
                    format!("l{}_{}", l - 1, 2 * j),
                    format!("l{}_{}", l - 1, 2 * j + 1),
                );
                s += &format!("      l{l}_{j} <= ({a} > {b}) ? {a} : {b};\n");
            }
        }
        for i in 0..W {
            s += &format!("      l0_{i} <= ~v ? 32'd0 : (y${i}[31] ? (~y${i} + 32'd1) : y${i});\n");
        }
        s += "   end\nend\n";
        Verilog::Custom(s)
    }
}

// ---------------------------------------------------------------------------------------
// The unit
// ---------------------------------------------------------------------------------------

#[derive(LogicBlock)]
pub struct RmsUnit<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub xw_we: Signal<In, Bit>,
    pub xw_idx: Signal<In, Addr>,
    pub xw_data: Signal<In, Signed<32>>,
    pub x_max: Signal<In, Bits<32>>,
    pub start: Signal<In, Bit>,
    pub g_base: Signal<In, Addr>,
    pub g_exp: Signal<In, Signed<8>>,
    /// Streamed gains (a unit built with [`RmsUnit::streaming`]): write word `gw_addr`
    /// of the gains memory (`W` mantissas, lane `i` = element `gw_addr · W + i`).
    /// Ignored by a unit with a gains ROM.
    pub gw_we: Signal<In, Bit>,
    pub gw_addr: Signal<In, Addr>,
    pub gw_data: [Signal<In, Bits<16>>; W],
    pub y_we: Signal<Out, Bit>,
    pub y_idx: Signal<Out, Addr>,
    pub y_data: [Signal<Out, Signed<32>>; W],
    pub y_max: Signal<Out, Bits<32>>,
    pub done: Signal<Out, Bit>,
    pub busy: Signal<Out, Bit>,
    xmem: XBanks<W>,
    lanes: RmsLanes<W>,
    amax: AbsMax<W>,
    gains: WordRom<W>,
    /// The gains memory of a streaming unit (one word in a unit with a gains ROM).
    gram: LaneRam<W, 16>,
    from_ram: Constant<Bit>,
    rsqrt0: TableRom<16>,
    rsqrt1: TableRom<16>,
    run: DFF<Bit>,
    t: DFF<Addr>,
    p1: DFF<Bit>,
    p2: DFF<Bit>,
    rw: DFF<Addr>,
    dv: DFF<Bit>,
    dsq: DFF<Bit>,
    d2a: DFF<Bit>,
    d2b: DFF<Bit>,
    d2c: DFF<Bit>,
    ga: DFF<Addr>,
    yi: DFF<Addr>,
    go: Signal<Local, Bit>,
    fin: Signal<Local, Bit>,
    c_zero: Constant<Addr>,
    c_one: Constant<Addr>,
    c_w: Constant<Addr>,
    c_lw: Constant<Addr>,
    c_fmask: Constant<Addr>,
    c_p1_end: Constant<Addr>,
    c_p2_pre: Constant<Addr>,
    c_p2_end: Constant<Addr>,
    c_done: Constant<Addr>,
    _dim: usize,
}

impl<const W: usize> RmsUnit<W> {
    /// A unit for `qm`'s shape (`dim` = `qm.config.dim`) whose gains ROM holds every RMSNorm
    /// gain vector of `qm` ([`rms_gains_layout`], [`rms_gains_words`]).
    pub fn new(qm: &QuantModel) -> Self {
        Self::build(qm.config.dim, Some(rms_gains_words::<W>(qm)), 1)
    }

    /// A unit for vectors of `dim` elements whose gains are written through `gw_*` (the
    /// design with weights in DRAM): a gains memory of `words` words of `W` mantissas.
    pub fn streaming(dim: usize, words: usize) -> Self {
        Self::build(dim, None, words)
    }

    fn build(dim: usize, rom: Option<Vec<[u16; W]>>, ram_words: usize) -> Self {
        assert!(
            W.is_power_of_two() && W >= 2,
            "RmsUnit: W must be a power of two >= 2"
        );
        assert!(dim >= 1 && cycles(dim, W) < 1 << 16, "RmsUnit: dim");
        let from_ram = rom.is_none();
        let nw = words(dim, W);
        let k = |v: usize| Constant::new(u2b::<16>(v as u64));
        Self {
            clock: Default::default(),
            xw_we: Default::default(),
            xw_idx: Default::default(),
            xw_data: Default::default(),
            x_max: Default::default(),
            start: Default::default(),
            g_base: Default::default(),
            g_exp: Default::default(),
            gw_we: Default::default(),
            gw_addr: Default::default(),
            gw_data: array_init::array_init(|_| Default::default()),
            y_we: Default::default(),
            y_idx: Default::default(),
            y_data: array_init::array_init(|_| Default::default()),
            y_max: Default::default(),
            done: Default::default(),
            busy: Default::default(),
            xmem: XBanks::new(dim),
            lanes: Default::default(),
            amax: Default::default(),
            gains: WordRom::new(rom.unwrap_or_else(|| vec![[0; W]])),
            gram: LaneRam::new(ram_words),
            from_ram: Constant::new(from_ram),
            rsqrt0: TableRom::new(rsqrt_words()[..1 << RSQRT_BITS].to_vec()),
            rsqrt1: TableRom::new(rsqrt_words()[1 << RSQRT_BITS..].to_vec()),
            run: Default::default(),
            t: Default::default(),
            p1: Default::default(),
            p2: Default::default(),
            rw: Default::default(),
            dv: Default::default(),
            dsq: Default::default(),
            d2a: Default::default(),
            d2b: Default::default(),
            d2c: Default::default(),
            ga: Default::default(),
            yi: Default::default(),
            go: Default::default(),
            fin: Default::default(),
            c_zero: k(0),
            c_one: k(1),
            c_w: k(W),
            c_lw: k(W.trailing_zeros() as usize),
            c_fmask: k((1 << RSQRT_BITS) - 1),
            c_p1_end: k(nw),
            c_p2_pre: k(pass2_start(dim, W) - 1),
            c_p2_end: k(pass2_start(dim, W) - 1 + nw),
            c_done: k(cycles(dim, W)),
            _dim: dim,
        }
    }

    /// The vector length this unit was built for.
    pub fn dim(&self) -> usize {
        self._dim
    }

    /// Element `i` of the unit's copy of `x` (simulation only).
    pub fn peek_x(&self, i: usize) -> i32 {
        self.xmem.peek(i)
    }
}

impl<const W: usize> Logic for RmsUnit<W> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, run, t, p1, p2, rw, dv, dsq, d2a, d2b, d2c, ga, yi);
        clock!(self, clock, xmem, lanes, amax, gains, gram, rsqrt0, rsqrt1);
        self.go.next = self.start.val() & !self.run.q.val();
        // Capture of x.
        self.xmem.we.next = self.xw_we.val();
        self.xmem.widx.next = self.xw_idx.val();
        self.xmem.wdata.next = self.xw_data.val();
        self.xmem.raddr.next = self.rw.q.val();
        // Sequencing: t counts cycles from start (1 in the cycle after it).
        if self.run.q.val() {
            self.t.d.next = self.t.q.val() + self.c_one.val();
        }
        if self.p1.q.val() | self.p2.q.val() {
            self.rw.d.next = self.rw.q.val() + self.c_one.val();
        }
        if self.p1.q.val() & (self.t.q.val() == self.c_p1_end.val()) {
            self.p1.d.next = false;
        }
        if self.run.q.val() & (self.t.q.val() == self.c_p2_pre.val()) {
            self.p2.d.next = true;
            self.rw.d.next = self.c_zero.val();
        }
        if self.p2.q.val() & (self.t.q.val() == self.c_p2_end.val()) {
            self.p2.d.next = false;
        }
        self.dv.d.next = self.p1.q.val() | self.p2.q.val();
        self.dsq.d.next = self.p1.q.val();
        // Gains word of pass-2 read j is due (on the ROM's address) three cycles after the
        // read (on the lanes' g four cycles after it).
        self.d2a.d.next = self.p2.q.val();
        self.d2b.d.next = self.d2a.q.val();
        self.d2c.d.next = self.d2b.q.val();
        if self.d2c.q.val() {
            self.ga.d.next = self.ga.q.val() + self.c_one.val();
        }
        self.fin.next = self.run.q.val() & (self.t.q.val() == self.c_done.val());
        if self.fin.val() {
            self.run.d.next = false;
        }
        self.done.next = self.fin.val();
        self.busy.next = self.run.q.val();
        // Outputs.
        self.y_we.next = self.lanes.yv.val();
        self.y_idx.next = self.yi.q.val();
        if self.lanes.yv.val() {
            self.yi.d.next = self.yi.q.val() + self.c_w.val();
        }
        self.y_max.next = self.amax.mx.val();
        // Start.
        if self.go.val() {
            self.run.d.next = true;
            self.t.d.next = self.c_one.val();
            self.p1.d.next = true;
            self.p2.d.next = false;
            self.rw.d.next = self.c_zero.val();
            self.yi.d.next = self.c_zero.val();
            self.ga.d.next = self.g_base.val() >> self.c_lw.val();
        }
        // Datapath wiring.
        self.lanes.ld.next = self.go.val();
        self.lanes.x_max.next = self.x_max.val();
        self.lanes.g_exp.next = self.g_exp.val();
        self.lanes.v.next = self.dv.q.val();
        self.lanes.sq.next = self.dsq.q.val();
        // The two halves of the RSQRT table (parity 0 and 1) are read at once; the lanes
        // register both and select with the parity.
        self.lanes.tt0.next = self.rsqrt0.data.val();
        self.lanes.tt1.next = self.rsqrt1.data.val();
        self.rsqrt0.addr.next = self.lanes.rs_addr.val() & self.c_fmask.val();
        self.rsqrt1.addr.next = self.lanes.rs_addr.val() & self.c_fmask.val();
        self.gains.addr.next = self.ga.q.val();
        self.gram.raddr.next = self.ga.q.val();
        self.gram.we.next = self.gw_we.val();
        self.gram.waddr.next = self.gw_addr.val();
        for i in 0..W {
            self.gram.wdata[i].next = signed_cast(self.gw_data[i].val());
        }
        self.amax.clr.next = self.go.val();
        self.amax.v.next = self.lanes.yv.val();
        for i in 0..W {
            self.lanes.x[i].next = self.xmem.rdata[i].val();
            if self.from_ram.val() {
                self.lanes.g[i].next = unsigned_cast(self.gram.rdata[i].val());
            } else {
                self.lanes.g[i].next = self.gains.data[i].val();
            }
            self.amax.y[i].next = self.lanes.y[i].val();
            self.y_data[i].next = self.lanes.y[i].val();
        }
    }
}
