//! The vector unit: element-wise operations on the vector memory, bit for bit as
//! `llamahdl_golden::numerics` computes them.
//!
//! ## Operations (`op`, sampled with `start`)
//! - [`OP_BLOCK`] (1): `to_block16(a[0..n])`: mantissa `i` is written to the matrix-vector
//!   input memory (`xm_we`, `xm_waddr = i`, `xm_wdata`) and the block shift is published on
//!   `xm_shift`.
//! - [`OP_RMSNORM`] (2): `c[i] = rmsnorm(a[0..n], gains[g_base..g_base+n], g_exp)[i]`; the
//!   gain mantissas come from the unit's gains ROM (every RMSNorm vector of the model, see
//!   [`gains_layout`]).
//! - [`OP_ADD`] (3): `c[i] = add_q16(c[i], a[i])`.
//! - [`OP_SWIGLU`] (4): `c[i] = mul_q16(silu(a[i]), b[i])`.
//! - Any other op does nothing and pulses `done` in the cycle after `start`.
//!
//! ## Interface (the unit port convention of `docs/architecture.md`)
//! | port | dir | type | |
//! | --- | --- | --- | --- |
//! | `clock` | in | Clock | |
//! | `start` | in | Bit | pulse; ignored while busy |
//! | `op` | in | Bits<4> | operation |
//! | `done` | out | Bit | pulse, in the cycle of the last write |
//! | `vm_raddr` | out | Bits<16> | vector memory read address |
//! | `vm_rdata` | in | Signed<32> | word at the previous cycle's `vm_raddr` |
//! | `vm_we`, `vm_waddr`, `vm_wdata` | out | Bit, Bits<16>, Signed<32> | vector memory write |
//! | `a`, `b`, `c` | in | Bits<16> | base addresses (sources a, b; destination c) |
//! | `n` | in | Bits<16> | element count, >= 1 |
//! | `g_base`, `g_exp` | in | Bits<16>, Signed<8> | RMSNORM gain vector (ROM index, exponent) |
//! | `xm_we`, `xm_waddr`, `xm_wdata` | out | Bit, Bits<16>, Signed<16> | XMem element write |
//! | `xm_shift` | out | Bits<5> | block shift of the last BLOCK (registered) |
//!
//! Parameters must be stable from `start` to `done`. `vm_raddr`, `vm_waddr`, `vm_wdata`,
//! `xm_waddr` and `xm_wdata` are meaningful only with their enables. Destination and
//! source regions must be identical or disjoint (reads run ahead of writes). The unit
//! never writes outside `c..c+n` (`xm`: `0..n`), and each element is written once, in
//! order.
//!
//! ## Timing
//! Cycle 0 is the `start` cycle; one read is issued per cycle from cycle 1.
//! `done` is high in cycle [`cycles`]`(op, n)`:
//!
//! | op | passes over the input | `done` at |
//! | --- | --- | --- |
//! | BLOCK | max-magnitude scan, quantise + write | `2n + 2` |
//! | RMSNORM | scan, sum of squares, (1 idle) normalise + write | `3n + 5` |
//! | RMSNORM with `pre` | sum of squares, (1 idle) normalise + write | `2n + 5` |
//! | ADD | read c[i], a[i] alternately | `2n + 2` |
//! | SWIGLU | read a[i], b[i] alternately | `2n + 5` |
//!
//! `xm_shift` takes the new shift at the clock edge before the BLOCK's `done` cycle (so
//! it is valid in the `done` cycle) and holds until the next BLOCK finishes.
//!
//! ## Structure
//! The control is `#[hdl_gen]` (counters, pass sequencing, a valid delay line). The
//! arithmetic is in small hand-written leaves below (native `update()` + Verilog body,
//! each co-simulated in `tests/vec_unit.rs`), free-running pipelines whose outputs the
//! control picks up at fixed latencies:
//! - [`BlockConv`]: running max |x| → block shift; quantise x to a 16-bit mantissa.
//! - [`SumSqNorm`]: Σ mant², leading one → RSQRT address and ⌊p/2⌋.
//! - [`RmsScale`]: `t = round(m·T/2^16)`, `y = sat32(round(t·g·2^k))`.
//! - [`AddSat`]: saturating add of two consecutive words.
//! - [`SwiGlu`]: sigmoid index, interpolation, SiLU and the product.
//!
//! Multipliers (exact widths, no shared wide multiplier): 16×16 (sum of squares),
//! 16×17 and 17×16 (RMSNORM), 18×11, 32×18 and 32×32 (SwiGLU).
//!
//! Tables ([`TableRom`]): the gains ROM, RSQRT (2 × 4096 u16, address `parity·4096 + f`)
//! and SIGMOID (2049 u17). The sigmoid table is read twice per element (`i`, then `i+1`).

use crate::leaf::{i2s, s2i, u2b, TableRom};
use llamahdl_golden::numerics::{Tables, RSQRT_BITS};
use llamahdl_golden::QuantModel;
use rust_hdl::prelude::*;

/// `to_block16(a)` → XMem, shift → `xm_shift`.
pub const OP_BLOCK: u64 = 1;
/// `c = rmsnorm(a, gains at g_base, g_exp)`.
pub const OP_RMSNORM: u64 = 2;
/// `c = add_q16(c, a)`.
pub const OP_ADD: u64 = 3;
/// `c = mul_q16(silu(a), b)`.
pub const OP_SWIGLU: u64 = 4;

/// The cycle (counting the `start` cycle as 0) in which `done` is high.
pub fn cycles_pre(op: u64, n: usize, pre: bool) -> usize {
    if pre && op == OP_RMSNORM {
        2 * n + 5
    } else {
        cycles(op, n)
    }
}

/// Cycles from `start` to `done` of `op` on `n` elements (without `pre`).
pub fn cycles(op: u64, n: usize) -> usize {
    match op {
        OP_BLOCK => 2 * n + 2,
        OP_RMSNORM => 3 * n + 5,
        OP_ADD => 2 * n + 2,
        OP_SWIGLU => 2 * n + 5,
        _ => 1,
    }
}

/// Where each RMSNORM gain vector lives in the gains ROM: `(g_base, g_exp)`, index `2l`
/// = attention gains of layer `l`, `2l + 1` = feed-forward gains of layer `l`,
/// `2 · n_layers` = the final gains.
pub fn gains_layout(qm: &QuantModel) -> Vec<(usize, i32)> {
    let mut out = Vec::new();
    let mut base = 0;
    let mut push = |g: &llamahdl_golden::quant::QGains| {
        out.push((base, g.exp));
        base += g.mant.len();
    };
    for l in &qm.layers {
        push(&l.rms_att);
        push(&l.rms_ffn);
    }
    push(&qm.rms_final);
    out
}

/// Contents of the gains ROM (raw 16-bit patterns), in [`gains_layout`] order.
pub fn gains_words(qm: &QuantModel) -> Vec<u64> {
    let mut w = Vec::new();
    for l in &qm.layers {
        w.extend(l.rms_att.mant.iter().map(|&m| m as u16 as u64));
        w.extend(l.rms_ffn.mant.iter().map(|&m| m as u16 as u64));
    }
    w.extend(qm.rms_final.mant.iter().map(|&m| m as u16 as u64));
    w
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

/// SIGMOID table contents (2049 entries, Q0.16, at most 65536).
pub fn sigmoid_words() -> Vec<u64> {
    Tables::get().sigmoid.iter().map(|&v| v as u64).collect()
}

// ---------------------------------------------------------------------------------------
// Native models of the leaves (shared by their `update()` and the tests).
// ---------------------------------------------------------------------------------------

/// Block shift for the largest magnitude `m`: `max(0, bitlen(m) - 15)`.
pub fn max_shift(m: u32) -> u32 {
    (32 - m.leading_zeros()).saturating_sub(15)
}

/// `clamp(round(x / 2^s), ±32767)` (round half up), as `to_block16` does per element.
pub fn block_quant(x: i32, s: u32) -> i32 {
    let half = if s == 0 { 0 } else { 1i64 << (s - 1) };
    ((x as i64 + half) >> s).clamp(-32767, 32767) as i32
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

/// Sigmoid table position of `x`: `(i, frac, below, above)` with
/// `x + 16·2^16 = i·2^10 + frac` when `x` is in `[-16, 16)`; `below`/`above` flag the
/// saturated ranges (`i` is then meaningless but a valid address).
pub fn sig_index(x: i32) -> (u32, u32, bool, bool) {
    let u = x as u32;
    let top = u >> 20;
    let inr = top == 0 || top == 0xFFF;
    let idx = ((u >> 10) & 0x7FF) ^ 0x400;
    (idx, u & 0x3FF, x < 0 && !inr, x >= 0 && !inr)
}

fn sat(v: i128, bits: u32) -> i128 {
    v.clamp(-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
}

/// `sat32(round(v / 2^16))`.
fn rsh16_sat32(v: i128) -> i32 {
    sat((v + (1 << 15)) >> 16, 32) as i32
}

/// Interpolated sigmoid from the stage registers of [`SwiGlu`].
pub fn sig_interp(sa: u32, sb: u32, fr: u32, lo: bool, hi: bool) -> u32 {
    if lo {
        0
    } else if hi {
        65536
    } else {
        let d = sb as i64 - sa as i64;
        let v = sa as i64 + ((d * fr as i64 + 512) >> 10);
        v.clamp(0, 65536) as u32
    }
}

/// Verilog expression `sat32(name)` for a signed `w`-bit wire `name`.
fn sat32_verilog(name: &str, w: usize) -> String {
    format!(
        "(({name} > {w}'sd2147483647) ? 32'sh7fffffff : (({name} < -{w}'sd2147483648) ? 32'sh80000000 : {name}[31:0]))"
    )
}

// ---------------------------------------------------------------------------------------
// Leaves
// ---------------------------------------------------------------------------------------

/// Max-magnitude scan and block quantiser.
///
/// - `shift` (combinational from the internal maximum `m`): `max(0, bitlen(m) - 15)`.
/// - At each rising edge: `mant <= clamp(round(x / 2^shift), ±32767)` (free-running);
///   `m <= 0` if `clr`, else `m <= mx` if `ld` (a maximum known in advance), else
///   `m <= max(m, |x|)` if `scan`.
#[derive(LogicBlock)]
pub struct BlockConv {
    pub clock: Signal<In, Clock>,
    pub clr: Signal<In, Bit>,
    pub ld: Signal<In, Bit>,
    pub mx: Signal<In, Bits<32>>,
    pub scan: Signal<In, Bit>,
    pub x: Signal<In, Signed<32>>,
    pub shift: Signal<Out, Bits<5>>,
    pub mant: Signal<Out, Signed<16>>,
    _m: u32,
}

impl Default for BlockConv {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            clr: Default::default(),
            ld: Default::default(),
            mx: Default::default(),
            scan: Default::default(),
            x: Default::default(),
            shift: Signal::new_with_default(Bits::default()),
            mant: Signal::new_with_default(Signed::default()),
            _m: 0,
        }
    }
}

impl Logic for BlockConv {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let x = s2i(self.x.val()) as i32;
            self.mant.next = i2s::<16>(block_quant(x, max_shift(self._m)) as i64);
            if self.clr.val() {
                self._m = 0;
            } else if self.ld.val() {
                self._m = self.mx.val().to_u64() as u32;
            } else if self.scan.val() && x.unsigned_abs() > self._m {
                self._m = x.unsigned_abs();
            }
        }
        self.shift.next = u2b::<5>(max_shift(self._m) as u64);
    }
    fn connect(&mut self) {
        self.shift.connect();
        self.mant.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from(
            "\
reg [31:0] m;
wire [31:0] xu = x;
wire [31:0] ax = xu[31] ? (~xu + 32'd1) : xu;
always @(*) begin
",
        );
        for b in (15..32).rev() {
            let kw = if b == 31 { "   if" } else { "   else if" };
            s += &format!("{kw} (m[{b}]) shift = 5'd{};\n", b - 14);
        }
        s += "   else shift = 5'd0;\nend\n";
        s += "\
wire signed [32:0] xe = {x[31], x};
wire signed [32:0] half = (shift == 5'd0) ? 33'sd0 : (33'sd1 <<< (shift - 5'd1));
wire signed [32:0] r = (xe + half) >>> shift;
initial begin
   m = 32'd0;
   mant = 16'sd0;
end
always @(posedge clock) begin
   mant <= (r > 33'sd32767) ? 16'sd32767 : ((r < -33'sd32767) ? -16'sd32767 : r[15:0]);
   if (clr) m <= 32'd0;
   else if (ld) m <= mx;
   else if (scan && (ax > m)) m <= ax;
end
";
        Verilog::Custom(s)
    }
}

/// Sum of squares and its normalisation for the RSQRT lookup.
///
/// At each rising edge: `acc <= 0` if `clr`, else `acc <= acc + m²` (48 bits) if `en`.
/// Combinational from `acc`: `rs_addr = (p & 1) · 4096 + f`, `hp = ⌊p/2⌋` where `p` is the
/// leading-one position of `acc` and `f` the 12 bits below it ([`norm_addr`]).
#[derive(LogicBlock)]
pub struct SumSqNorm {
    pub clock: Signal<In, Clock>,
    pub clr: Signal<In, Bit>,
    pub en: Signal<In, Bit>,
    pub m: Signal<In, Signed<16>>,
    pub rs_addr: Signal<Out, Bits<16>>,
    pub hp: Signal<Out, Bits<5>>,
    _acc: u64,
}

impl Default for SumSqNorm {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            clr: Default::default(),
            en: Default::default(),
            m: Default::default(),
            rs_addr: Signal::new_with_default(Bits::default()),
            hp: Signal::new_with_default(Bits::default()),
            _acc: 0,
        }
    }
}

const MASK48: u64 = (1 << 48) - 1;

impl Logic for SumSqNorm {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if self.clr.val() {
                self._acc = 0;
            } else if self.en.val() {
                let m = s2i(self.m.val());
                self._acc = (self._acc + (m * m) as u64) & MASK48;
            }
        }
        let (a, hp) = norm_addr(self._acc);
        self.rs_addr.next = u2b::<16>(a as u64);
        self.hp.next = u2b::<5>(hp as u64);
    }
    fn connect(&mut self) {
        self.rs_addr.connect();
        self.hp.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from(
            "\
reg [47:0] acc;
reg [5:0] p;
reg [11:0] f;
wire signed [31:0] me = {{16{m[15]}}, m};
wire signed [31:0] sq = me * me;
always @(*) begin
",
        );
        for b in (1..48).rev() {
            let kw = if b == 47 { "   if" } else { "   else if" };
            s += &format!("{kw} (acc[{b}]) p = 6'd{b};\n");
        }
        s += "   else p = 6'd0;\nend\nalways @(*) begin\n   case (p)\n";
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
always @(*) rs_addr = {3'd0, p[0], f};
always @(*) hp = p[5:1];
initial acc = 48'd0;
always @(posedge clock) begin
   if (clr) acc <= 48'd0;
   else if (en) acc <= acc + {16'd0, sq};
end
";
        Verilog::Custom(s)
    }
}

/// RMSNORM output scaling, two free-running stages:
/// `t <= sat17(round(mant · tt / 2^16))`, `g1 <= g`; then
/// `y <= sat32(round(t · g1 · 2^k))` with `k = clamp(g_exp + 16 − hp, −64, 63)`
/// ([`rms_k`]). `tt` is the RSQRT entry (unsigned), `g` the gain mantissa (two's complement).
#[derive(LogicBlock)]
pub struct RmsScale {
    pub clock: Signal<In, Clock>,
    pub mant: Signal<In, Signed<16>>,
    pub tt: Signal<In, Bits<16>>,
    pub g: Signal<In, Bits<16>>,
    pub g_exp: Signal<In, Signed<8>>,
    pub hp: Signal<In, Bits<5>>,
    pub y: Signal<Out, Signed<32>>,
    _t: i64,
    _g1: i64,
}

impl Default for RmsScale {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            mant: Default::default(),
            tt: Default::default(),
            g: Default::default(),
            g_exp: Default::default(),
            hp: Default::default(),
            y: Signal::new_with_default(Signed::default()),
            _t: 0,
            _g1: 0,
        }
    }
}

impl Logic for RmsScale {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let k = rms_k(s2i(self.g_exp.val()) as i32, self.hp.val().to_u64() as u32);
            let y = crate::leaf::mul_shift2(self._t, self._g1, 0, 0, k);
            self.y.next = i2s::<32>(y as i64);
            let mt = s2i(self.mant.val()) as i128 * self.tt.val().to_u64() as i128;
            self._t = sat((mt + (1 << 15)) >> 16, 17) as i64;
            self._g1 = self.g.val().to_u64() as u16 as i16 as i64;
        }
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from(
            "\
reg signed [16:0] t;
reg [15:0] g1;
wire signed [32:0] me = {{17{mant[15]}}, mant};
wire signed [32:0] te = {17'd0, tt};
wire signed [32:0] mt = me * te;
wire signed [32:0] tr = (mt + 33'sd32768) >>> 16;
wire signed [32:0] t33 = {{16{t[16]}}, t};
wire signed [32:0] g33 = {{17{g1[15]}}, g1};
wire signed [32:0] pr = t33 * g33;
wire signed [96:0] pw = {{64{pr[32]}}, pr};
wire signed [9:0] kk = {{2{g_exp[7]}}, g_exp} + 10'sd16 - {5'd0, hp};
wire signed [7:0] k = (kk > 10'sd63) ? 8'sd63 : ((kk < -10'sd64) ? -8'sd64 : kk[7:0]);
wire signed [7:0] nk = -k;
reg signed [96:0] wide;
always @(*) begin
   if (!k[7]) wide = pw <<< k;
   else wide = (pw + (97'sd1 <<< (nk - 8'sd1))) >>> nk;
end
initial begin
   t = 17'sd0;
   g1 = 16'd0;
   y = 32'sd0;
end
always @(posedge clock) begin
   t <= (tr > 33'sd65535) ? 17'sd65535 : ((tr < -33'sd65536) ? -17'sd65536 : tr[16:0]);
   g1 <= g;
",
        );
        s += &format!("   y <= {};\nend\n", sat32_verilog("wide", 97));
        Verilog::Custom(s)
    }
}

/// Saturating add of the words of two consecutive cycles: `prev <= x`,
/// `y <= sat32(prev + x)` at every rising edge.
#[derive(LogicBlock)]
pub struct AddSat {
    pub clock: Signal<In, Clock>,
    pub x: Signal<In, Signed<32>>,
    pub y: Signal<Out, Signed<32>>,
    _prev: i64,
}

impl Default for AddSat {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            x: Default::default(),
            y: Signal::new_with_default(Signed::default()),
            _prev: 0,
        }
    }
}

impl Logic for AddSat {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let x = s2i(self.x.val());
            self.y.next = i2s::<32>(sat((self._prev + x) as i128, 32) as i64);
            self._prev = x;
        }
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from(
            "\
reg signed [31:0] prev;
wire signed [32:0] sum = {prev[31], prev} + {x[31], x};
initial begin
   prev = 32'sd0;
   y = 32'sd0;
end
always @(posedge clock) begin
   prev <= x;
",
        );
        s += &format!("   y <= {};\nend\n", sat32_verilog("sum", 33));
        Verilog::Custom(s)
    }
}

/// SwiGLU pipeline, free-running. With `ph` high in cycle T0 (`x` = a[i]) and `x` =
/// b[i] in T0+1, the sigmoid table answering `sig_addr` one cycle later on `rom`:
///
/// - `sig_addr` (combinational) = `ph ? i(x) : i1 + 1` (`i1`: the index registered in T0);
/// - T0: `x1, i1, fr1, lo1, hi1 <= x, sig_index(x)`;
/// - T0+1: `h2 <= x`, `sa2 <= rom`, `x2, fr2, lo2, hi2 <= x1, fr1, lo1, hi1`;
/// - T0+2: `sig3 <= interp(sa2, rom, fr2)` (0 below, 65536 above the range), `x3, h3r <= x2, h2`;
/// - T0+3: `silu4 <= sat32(round(x3 · sig3 / 2^16))`, `h4 <= h3r`;
/// - T0+4: `y <= sat32(round(silu4 · h4 / 2^16))`, visible in T0+5.
#[derive(LogicBlock)]
pub struct SwiGlu {
    pub clock: Signal<In, Clock>,
    pub ph: Signal<In, Bit>,
    pub x: Signal<In, Signed<32>>,
    pub rom: Signal<In, Bits<17>>,
    pub sig_addr: Signal<Out, Bits<16>>,
    pub y: Signal<Out, Signed<32>>,
    _s: SwiState,
}

#[derive(Clone, Copy, Default)]
struct SwiState {
    x1: i64,
    i1: u32,
    fr1: u32,
    lo1: bool,
    hi1: bool,
    h2: i64,
    sa2: u32,
    x2: i64,
    fr2: u32,
    lo2: bool,
    hi2: bool,
    sig3: u32,
    x3: i64,
    h3r: i64,
    silu4: i64,
    h4: i64,
}

impl Default for SwiGlu {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            ph: Default::default(),
            x: Default::default(),
            rom: Default::default(),
            sig_addr: Signal::new_with_default(Bits::default()),
            y: Signal::new_with_default(Signed::default()),
            _s: SwiState::default(),
        }
    }
}

impl Logic for SwiGlu {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let x = s2i(self.x.val());
            let rom = self.rom.val().to_u64() as u32;
            let o = self._s;
            let (i, fr, lo, hi) = sig_index(x as i32);
            let y = rsh16_sat32(o.silu4 as i128 * o.h4 as i128);
            self.y.next = i2s::<32>(y as i64);
            self._s = SwiState {
                x1: x,
                i1: i,
                fr1: fr,
                lo1: lo,
                hi1: hi,
                h2: x,
                sa2: rom,
                x2: o.x1,
                fr2: o.fr1,
                lo2: o.lo1,
                hi2: o.hi1,
                sig3: sig_interp(o.sa2, rom, o.fr2, o.lo2, o.hi2),
                x3: o.x2,
                h3r: o.h2,
                silu4: rsh16_sat32(o.x3 as i128 * o.sig3 as i128) as i64,
                h4: o.h3r,
            };
        }
        let a = if self.ph.val() {
            sig_index(s2i(self.x.val()) as i32).0
        } else {
            self._s.i1 + 1
        };
        self.sig_addr.next = u2b::<16>(a as u64);
    }
    fn connect(&mut self) {
        self.sig_addr.connect();
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from(
            "\
reg signed [31:0] x1, x2, x3, h2, h3r, h4, silu4;
reg [10:0] i1;
reg [9:0] fr1, fr2;
reg lo1, hi1, lo2, hi2;
reg [16:0] sa2, sig3;
wire inr = (x[31:20] == 12'h000) || (x[31:20] == 12'hfff);
wire [10:0] idx = {~x[20], x[19:10]};
always @(*) sig_addr = ph ? {5'd0, idx} : ({5'd0, i1} + 16'd1);
wire signed [28:0] de = $signed({12'd0, rom}) - $signed({12'd0, sa2});
wire signed [28:0] fe = {19'd0, fr2};
wire signed [28:0] dp = de * fe;
wire signed [28:0] dr = (dp + 29'sd512) >>> 10;
wire signed [28:0] sgw = $signed({12'd0, sa2}) + dr;
wire signed [49:0] xe3 = {{18{x3[31]}}, x3};
wire signed [49:0] se3 = {33'd0, sig3};
wire signed [49:0] sp = xe3 * se3;
wire signed [49:0] spr = (sp + 50'sd32768) >>> 16;
wire signed [63:0] ae = {{32{silu4[31]}}, silu4};
wire signed [63:0] be = {{32{h4[31]}}, h4};
wire signed [63:0] pp = ae * be;
wire signed [63:0] ppr = (pp + 64'sd32768) >>> 16;
initial begin
   x1 = 32'sd0; x2 = 32'sd0; x3 = 32'sd0; h2 = 32'sd0; h3r = 32'sd0; h4 = 32'sd0;
   silu4 = 32'sd0; y = 32'sd0;
   i1 = 11'd0; fr1 = 10'd0; fr2 = 10'd0;
   lo1 = 1'b0; hi1 = 1'b0; lo2 = 1'b0; hi2 = 1'b0;
   sa2 = 17'd0; sig3 = 17'd0;
end
always @(posedge clock) begin
   x1 <= x;
   i1 <= idx;
   fr1 <= x[9:0];
   lo1 <= x[31] & ~inr;
   hi1 <= ~x[31] & ~inr;
   h2 <= x;
   sa2 <= rom;
   x2 <= x1;
   fr2 <= fr1;
   lo2 <= lo1;
   hi2 <= hi1;
   sig3 <= lo2 ? 17'd0 : (hi2 ? 17'd65536 : ((sgw < 29'sd0) ? 17'd0 : ((sgw > 29'sd65536) ? 17'd65536 : sgw[16:0])));
   x3 <= x2;
   h3r <= h2;
   h4 <= h3r;
",
        );
        s += &format!("   silu4 <= {};\n", sat32_verilog("spr", 50));
        s += &format!("   y <= {};\nend\n", sat32_verilog("ppr", 64));
        Verilog::Custom(s)
    }
}

// ---------------------------------------------------------------------------------------
// The unit
// ---------------------------------------------------------------------------------------

#[derive(LogicBlock)]
pub struct VecUnit {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub op: Signal<In, Bits<4>>,
    pub done: Signal<Out, Bit>,
    pub vm_raddr: Signal<Out, Bits<16>>,
    pub vm_rdata: Signal<In, Signed<32>>,
    pub vm_we: Signal<Out, Bit>,
    pub vm_waddr: Signal<Out, Bits<16>>,
    pub vm_wdata: Signal<Out, Signed<32>>,
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<16>>,
    pub c: Signal<In, Bits<16>>,
    pub n: Signal<In, Bits<16>>,
    pub g_base: Signal<In, Bits<16>>,
    pub g_exp: Signal<In, Signed<8>>,
    /// RMSNORM only: the input's maximum magnitude is known (`pre_max`, e.g. tracked as
    /// the vector was written), so the scan pass is skipped.
    pub pre: Signal<In, Bit>,
    pub pre_max: Signal<In, Bits<32>>,
    pub xm_we: Signal<Out, Bit>,
    pub xm_waddr: Signal<Out, Bits<16>>,
    pub xm_wdata: Signal<Out, Signed<16>>,
    pub xm_shift: Signal<Out, Bits<5>>,
    op_block: Constant<Bits<4>>,
    op_rms: Constant<Bits<4>>,
    op_add: Constant<Bits<4>>,
    op_swiglu: Constant<Bits<4>>,
    p_scan: Constant<Bits<2>>,
    p_two: Constant<Bits<2>>,
    p_three: Constant<Bits<2>>,
    p_elem: Constant<Bits<2>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    gains: TableRom<16>,
    rsqrt: TableRom<16>,
    sigmoid: TableRom<17>,
    blk: BlockConv,
    ssq: SumSqNorm,
    rms: RmsScale,
    adder: AddSat,
    swiglu: SwiGlu,
    busy: DFF<Bit>,
    issuing: DFF<Bit>,
    resume: DFF<Bit>,
    nop: DFF<Bit>,
    pass: DFF<Bits<2>>,
    cnt: DFF<Bits<16>>,
    sub: DFF<Bit>,
    ridx: DFF<Bits<16>>,
    wi: DFF<Bits<16>>,
    d1: DFF<Bit>,
    d2: DFF<Bit>,
    d3: DFF<Bit>,
    d4: DFF<Bit>,
    d5: DFF<Bit>,
    dl1: DFF<Bit>,
    s1: DFF<Bit>,
    q1: DFF<Bit>,
    q2: DFF<Bit>,
    ph: DFF<Bit>,
    xs: DFF<Bits<5>>,
    is_block: Signal<Local, Bit>,
    is_rms: Signal<Local, Bit>,
    is_add: Signal<Local, Bit>,
    is_swi: Signal<Local, Bit>,
    nm1: Signal<Local, Bits<16>>,
    last_i: Signal<Local, Bit>,
    wv0: Signal<Local, Bit>,
    wnow: Signal<Local, Bit>,
    fin: Signal<Local, Bit>,
}

impl VecUnit {
    /// A vector unit whose gains ROM holds every RMSNorm gain vector of `qm`
    /// ([`gains_layout`]).
    pub fn new(qm: &QuantModel) -> Self {
        let k4 = |v: u64| Constant::new(v.into());
        let k2 = |v: u64| Constant::new(v.into());
        Self {
            clock: Default::default(),
            start: Default::default(),
            op: Default::default(),
            done: Default::default(),
            vm_raddr: Default::default(),
            vm_rdata: Default::default(),
            vm_we: Default::default(),
            vm_waddr: Default::default(),
            vm_wdata: Default::default(),
            a: Default::default(),
            b: Default::default(),
            c: Default::default(),
            n: Default::default(),
            g_base: Default::default(),
            g_exp: Default::default(),
            pre: Default::default(),
            pre_max: Default::default(),
            xm_we: Default::default(),
            xm_waddr: Default::default(),
            xm_wdata: Default::default(),
            xm_shift: Default::default(),
            op_block: k4(OP_BLOCK),
            op_rms: k4(OP_RMSNORM),
            op_add: k4(OP_ADD),
            op_swiglu: k4(OP_SWIGLU),
            p_scan: k2(0),
            p_two: k2(1),
            p_three: k2(2),
            p_elem: k2(3),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            gains: TableRom::new(gains_words(qm)),
            rsqrt: TableRom::new(rsqrt_words()),
            sigmoid: TableRom::new(sigmoid_words()),
            blk: Default::default(),
            ssq: Default::default(),
            rms: Default::default(),
            adder: Default::default(),
            swiglu: Default::default(),
            busy: Default::default(),
            issuing: Default::default(),
            resume: Default::default(),
            nop: Default::default(),
            pass: Default::default(),
            cnt: Default::default(),
            sub: Default::default(),
            ridx: Default::default(),
            wi: Default::default(),
            d1: Default::default(),
            d2: Default::default(),
            d3: Default::default(),
            d4: Default::default(),
            d5: Default::default(),
            dl1: Default::default(),
            s1: Default::default(),
            q1: Default::default(),
            q2: Default::default(),
            ph: Default::default(),
            xs: Default::default(),
            is_block: Default::default(),
            is_rms: Default::default(),
            is_add: Default::default(),
            is_swi: Default::default(),
            nm1: Default::default(),
            last_i: Default::default(),
            wv0: Default::default(),
            wnow: Default::default(),
            fin: Default::default(),
        }
    }
}

impl Logic for VecUnit {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, busy, issuing, resume, nop, pass, cnt, sub, ridx, wi, d1, d2, d3, d4, d5,
            dl1, s1, q1, q2, ph, xs
        );
        clock!(self, clock, gains, rsqrt, sigmoid, blk, ssq, rms, adder, swiglu);
        // Decode.
        self.is_block.next = self.op.val() == self.op_block.val();
        self.is_rms.next = self.op.val() == self.op_rms.val();
        self.is_add.next = self.op.val() == self.op_add.val();
        self.is_swi.next = self.op.val() == self.op_swiglu.val();
        self.nm1.next = self.n.val() - self.one16.val();
        self.last_i.next = self.cnt.q.val() == self.nm1.val();
        // Read address of the current issue slot.
        self.vm_raddr.next = self.a.val() + self.cnt.q.val();
        if self.pass.q.val() == self.p_elem.val() {
            if self.sub.q.val() {
                if !self.is_add.val() {
                    self.vm_raddr.next = self.b.val() + self.cnt.q.val();
                }
            } else if self.is_add.val() {
                self.vm_raddr.next = self.c.val() + self.cnt.q.val();
            }
        }
        // Issue sequencing.
        self.wv0.next = false;
        self.nop.d.next = false;
        if self.resume.q.val() {
            self.issuing.d.next = true;
            self.resume.d.next = false;
        }
        if self.issuing.q.val() {
            if self.pass.q.val() == self.p_scan.val() {
                if self.last_i.val() {
                    self.cnt.d.next = self.zero16.val();
                    self.pass.d.next = self.p_two.val();
                } else {
                    self.cnt.d.next = self.cnt.q.val() + self.one16.val();
                }
            } else if self.pass.q.val() == self.p_two.val() {
                self.wv0.next = self.is_block.val();
                if self.last_i.val() {
                    self.cnt.d.next = self.zero16.val();
                    self.issuing.d.next = false;
                    if self.is_rms.val() {
                        self.pass.d.next = self.p_three.val();
                        self.resume.d.next = true;
                    }
                } else {
                    self.cnt.d.next = self.cnt.q.val() + self.one16.val();
                }
            } else if self.pass.q.val() == self.p_three.val() {
                self.wv0.next = true;
                if self.last_i.val() {
                    self.issuing.d.next = false;
                } else {
                    self.cnt.d.next = self.cnt.q.val() + self.one16.val();
                }
            } else {
                self.sub.d.next = !self.sub.q.val();
                if self.sub.q.val() {
                    self.wv0.next = true;
                    if self.last_i.val() {
                        self.issuing.d.next = false;
                    } else {
                        self.cnt.d.next = self.cnt.q.val() + self.one16.val();
                    }
                }
            }
        }
        // Stage flags: s1 = scan data present, q2 = mantissa of the sum-of-squares pass
        // present, ph = SwiGLU x present, dl1 = last element of the second pass present.
        self.s1.d.next = self.issuing.q.val() & (self.pass.q.val() == self.p_scan.val());
        self.q1.d.next =
            self.issuing.q.val() & (self.pass.q.val() == self.p_two.val()) & self.is_rms.val();
        self.q2.d.next = self.q1.q.val();
        self.ph.d.next =
            self.issuing.q.val() & (self.pass.q.val() == self.p_elem.val()) & !self.sub.q.val();
        self.dl1.d.next =
            self.issuing.q.val() & (self.pass.q.val() == self.p_two.val()) & self.last_i.val();
        self.ridx.d.next = self.cnt.q.val();
        // Write delay line (d_k: an element's result is due k cycles after its last read).
        self.d1.d.next = self.wv0.val();
        self.d2.d.next = self.d1.q.val() & self.busy.q.val();
        self.d3.d.next = self.d2.q.val() & self.busy.q.val();
        self.d4.d.next = self.d3.q.val() & self.busy.q.val();
        self.d5.d.next = self.d4.q.val() & self.busy.q.val();
        self.wnow.next = self.busy.q.val()
            & (((self.is_block.val() | self.is_add.val()) & self.d2.q.val())
                | (self.is_rms.val() & self.d4.q.val())
                | (self.is_swi.val() & self.d5.q.val()));
        self.fin.next = self.wnow.val() & (self.wi.q.val() == self.nm1.val());
        // Writes.
        self.vm_we.next = self.wnow.val() & !self.is_block.val();
        self.vm_waddr.next = self.c.val() + self.wi.q.val();
        self.vm_wdata.next = self.rms.y.val();
        if self.is_add.val() {
            self.vm_wdata.next = self.adder.y.val();
        }
        if self.is_swi.val() {
            self.vm_wdata.next = self.swiglu.y.val();
        }
        self.xm_we.next = self.wnow.val() & self.is_block.val();
        self.xm_waddr.next = self.wi.q.val();
        self.xm_wdata.next = self.blk.mant.val();
        self.xm_shift.next = self.xs.q.val();
        if self.wnow.val() {
            self.wi.d.next = self.wi.q.val() + self.one16.val();
        }
        if self.fin.val() {
            self.busy.d.next = false;
        }
        if self.is_block.val() & self.dl1.q.val() {
            self.xs.d.next = self.blk.shift.val();
        }
        self.done.next = self.fin.val() | self.nop.q.val();
        // Start.
        self.blk.clr.next = false;
        self.blk.ld.next = false;
        self.blk.mx.next = self.pre_max.val();
        self.ssq.clr.next = false;
        if self.start.val() & !self.busy.q.val() {
            self.blk.clr.next = !(self.is_rms.val() & self.pre.val());
            self.blk.ld.next = self.is_rms.val() & self.pre.val();
            self.ssq.clr.next = true;
            self.cnt.d.next = self.zero16.val();
            self.wi.d.next = self.zero16.val();
            self.sub.d.next = false;
            self.resume.d.next = false;
            if self.is_rms.val() & self.pre.val() {
                self.busy.d.next = true;
                self.issuing.d.next = true;
                self.pass.d.next = self.p_two.val();
            } else if self.is_block.val() | self.is_rms.val() {
                self.busy.d.next = true;
                self.issuing.d.next = true;
                self.pass.d.next = self.p_scan.val();
            } else if self.is_add.val() | self.is_swi.val() {
                self.busy.d.next = true;
                self.issuing.d.next = true;
                self.pass.d.next = self.p_elem.val();
            } else {
                self.nop.d.next = true;
            }
        }
        // Datapath wiring.
        self.blk.x.next = self.vm_rdata.val();
        self.blk.scan.next = self.s1.q.val();
        self.ssq.en.next = self.q2.q.val();
        self.ssq.m.next = self.blk.mant.val();
        self.rsqrt.addr.next = self.ssq.rs_addr.val();
        self.gains.addr.next = self.g_base.val() + self.ridx.q.val();
        self.rms.mant.next = self.blk.mant.val();
        self.rms.tt.next = self.rsqrt.data.val();
        self.rms.g.next = self.gains.data.val();
        self.rms.g_exp.next = self.g_exp.val();
        self.rms.hp.next = self.ssq.hp.val();
        self.adder.x.next = self.vm_rdata.val();
        self.swiglu.x.next = self.vm_rdata.val();
        self.swiglu.ph.next = self.ph.q.val();
        self.sigmoid.addr.next = self.swiglu.sig_addr.val();
        self.swiglu.rom.next = self.sigmoid.data.val();
    }
}
