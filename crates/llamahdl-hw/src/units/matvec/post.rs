//! Leaves of the matrix-vector unit's output and input paths, which fuse element-wise work
//! into the stream of rows so that it costs no pass of its own:
//!
//! - [`SiluMul`]: `mul_q16(silu(x), h)` at one element per cycle (the SwiGLU of the
//!   feed-forward network, applied as W3's rows come out, `x` being W1's row read back).
//! - [`AddSat32`]: the saturating residual add (`add_q16`), combinational.
//! - [`ShiftOf`]: the block shift of a running maximum magnitude, combinational.
//!
//! Each is bit-exact with `llamahdl_golden::numerics` and co-simulated against its own
//! Verilog in `tests/post.rs`.

use crate::bits::Addr;
use crate::bits::{i2s, s2i, u2b};
use crate::leaf::XP;
use llamahdl_golden::numerics::{self, Tables, BLOCK16_BITS};
use rust_hdl::prelude::*;

/// `sat32(round(v / 2^16))`.
fn rsh16_sat32(v: i128) -> i64 {
    ((v + (1 << 15)) >> 16).clamp(i32::MIN as i128, i32::MAX as i128) as i64
}

/// Verilog `sat32(name)` of a signed `w`-bit wire.
fn sat32_v(name: &str, w: usize) -> String {
    format!(
        "(({name} > {w}'sd2147483647) ? 32'sh7fffffff : (({name} < -{w}'sd2147483648) ? 32'sh80000000 : {name}[31:0]))"
    )
}

/// The sigmoid table as interpolation pairs: word `i` holds entry `i` in bits 16..0 and
/// entry `i + 1` in bits 33..17, so one read gives both ends of the interval (2048 words).
pub fn silu_pair_words() -> Vec<u64> {
    let s = &Tables::get().sigmoid;
    (0..s.len() - 1)
        .map(|i| s[i] as u64 | (s[i + 1] as u64) << 17)
        .collect()
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

/// Interpolated sigmoid from the stage registers of [`SiluMul`].
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

/// Cycles from [`SiluMul`]'s `x` to the cycle in which it samples `h`.
pub const SILU_H: usize = 10;
/// Cycles from [`SiluMul`]'s `x` to its `y`.
pub const SILU_Y: usize = 15;

/// `y = mul_q16(silu(x), h)` (golden `numerics::silu` and `mul_q16`), pipelined for the
/// clock, one new `x` per cycle; there is no enable (the caller picks the outputs it
/// needs).
///
/// Timing (cycle `c` is when `x` is presented): `sig_addr` is combinational from `x` in
/// cycle `c` (bit selects only); the pair table (a `TableRom<34>` of [`silu_pair_words`])
/// must answer on `rom` in `c + 1`; `h` is sampled in `c +` [`SILU_H`]; `y` is valid in
/// `c +` [`SILU_Y`]. Stages: c + 2 the table pair registered; c + 3 its difference;
/// c + 4 the interpolation product (a registered multiplier); c + 5 the rounded sum;
/// c + 6 the clamped sigmoid; c + 7 `x` and `σ` registered (multiplier inputs); c + 8 two
/// partial products of `x · σ`; c + 9 their rounded sum; c + 10 `silu(x)` saturated;
/// c + 11 `silu` and `h` registered (multiplier inputs); c + 12 four 16 × 16 partial
/// products; c + 13 the middle two summed; c + 14 the rounded 64-bit product; c + 15 `y`
/// saturated.
#[derive(LogicBlock)]
pub struct SiluMul {
    pub clock: Signal<In, Clock>,
    pub x: Signal<In, Signed<32>>,
    pub sig_addr: Signal<Out, Addr>,
    pub rom: Signal<In, Bits<34>>,
    pub h: Signal<In, Signed<32>>,
    pub y: Signal<Out, Signed<32>>,
    _s: SiluState,
}

#[derive(Clone, Default)]
struct SiluState {
    /// `x` of the last edge with its table position.
    x1: i64,
    fr1: u32,
    lo1: bool,
    hi1: bool,
    /// `silu(x)` of the values in flight until `h` is sampled (oldest first).
    silu: std::collections::VecDeque<i64>,
    /// Results in flight until `y` (oldest first).
    out: std::collections::VecDeque<i64>,
}

impl Default for SiluMul {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            x: Default::default(),
            sig_addr: Signal::new_with_default(Bits::default()),
            rom: Default::default(),
            h: Default::default(),
            y: Signal::new_with_default(Signed::default()),
            _s: SiluState {
                silu: std::iter::repeat(0).take(SILU_H - 1).collect(),
                out: std::iter::repeat(0).take(SILU_Y - SILU_H - 1).collect(),
                ..Default::default()
            },
        }
    }
}

impl Logic for SiluMul {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let st = &mut self._s;
            // y: the product computed SILU_Y - SILU_H - 1 edges ago.
            self.y.next = i2s::<32>(st.out.pop_front().unwrap_or(0));
            // h meets silu(x) of SILU_H cycles ago.
            let sv = st.silu.pop_front().unwrap_or(0);
            let h = s2i(self.h.val());
            st.out.push_back(rsh16_sat32(sv as i128 * h as i128));
            // The table answers for the x of the last edge.
            let rom = self.rom.val().to_u64();
            let sig = sig_interp(
                (rom & 0x1FFFF) as u32,
                (rom >> 17) as u32,
                st.fr1,
                st.lo1,
                st.hi1,
            );
            st.silu.push_back(rsh16_sat32(st.x1 as i128 * sig as i128));
            let x = s2i(self.x.val());
            let (_, fr, lo, hi) = sig_index(x as i32);
            st.x1 = x;
            st.fr1 = fr;
            st.lo1 = lo;
            st.hi1 = hi;
        }
        self.sig_addr.next = u2b::<16>(sig_index(s2i(self.x.val()) as i32).0 as u64);
    }
    fn connect(&mut self) {
        self.sig_addr.connect();
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        let s = String::from(
            "\
reg signed [31:0] x1, x2, x3, x4, x5, x6, sl11, h11;
reg [9:0] fr1, fr2, fr3;
reg lo1, hi1, lo2, hi2, lo3, hi3, lo4, hi4, lo5, hi5;
reg [16:0] sa2, sb2, sa3, sa4, sig6, sig7;
reg signed [31:0] x7;
reg signed [17:0] de3;
reg signed [28:0] dp4;
reg signed [18:0] sg5;
reg [32:0] spl8;
reg signed [33:0] sph8;
reg signed [33:0] spr9;
reg signed [31:0] silu10;
reg [31:0] ll12;
reg signed [32:0] lh12, hl12;
reg signed [31:0] hh12, hh13;
reg [31:0] ll13;
reg signed [33:0] mid13;
reg signed [47:0] pp14;
wire inr = (x[31:20] == 12'h000) || (x[31:20] == 12'hfff);
always @(*) sig_addr = {5'd0, ~x[20], x[19:10]};
// The sums' low bits are the fractions the rounding shifts drop.
/* verilator lint_off UNUSEDSIGNAL */
wire signed [28:0] sg_sum = dp4 + $signed({2'd0, sa4, 10'h200});
wire signed [49:0] sp_sum = $signed({sph8, 16'h8000}) + $signed({17'd0, spl8});
wire signed [63:0] pp_sum = $signed({hh13, ll13}) + $signed({{14{mid13[33]}}, mid13, 16'h8000});
/* verilator lint_on UNUSEDSIGNAL */
initial begin
   x1 = 0; x2 = 0; x3 = 0; x4 = 0; x5 = 0; x6 = 0; sl11 = 0; h11 = 0;
   fr1 = 0; fr2 = 0; fr3 = 0;
   lo1 = 0; hi1 = 0; lo2 = 0; hi2 = 0; lo3 = 0; hi3 = 0; lo4 = 0; hi4 = 0; lo5 = 0; hi5 = 0;
   sa2 = 0; sb2 = 0; sa3 = 0; sa4 = 0; sig6 = 0; de3 = 0; dp4 = 0; sg5 = 0;
   x7 = 0; sig7 = 0; spl8 = 0; sph8 = 0; spr9 = 0; silu10 = 0;
   ll12 = 0; lh12 = 0; hl12 = 0; hh12 = 0; hh13 = 0; ll13 = 0; mid13 = 0; pp14 = 0;
   y = 32'sd0;
end
always @(posedge clock) begin
   // c + 1: x and its table position.
   x1 <= x;
   fr1 <= x[9:0];
   lo1 <= x[31] & ~inr;
   hi1 <= ~x[31] & ~inr;
   // c + 2: the table pair registered.
   x2 <= x1; fr2 <= fr1; lo2 <= lo1; hi2 <= hi1;
   sa2 <= rom[16:0];
   sb2 <= rom[33:17];
   // c + 3: difference.
   x3 <= x2; fr3 <= fr2; lo3 <= lo2; hi3 <= hi2; sa3 <= sa2;
   de3 <= $signed({1'b0, sb2}) - $signed({1'b0, sa2});
   // c + 4: interpolation product.
   x4 <= x3; lo4 <= lo3; hi4 <= hi3; sa4 <= sa3;
   dp4 <= de3 * $signed({1'b0, fr3});
   // c + 5: sa + round(dp / 2^10) = (dp + sa * 2^10 + 2^9) >>> 10.
   x5 <= x4; lo5 <= lo4; hi5 <= hi4;
   sg5 <= sg_sum[28:10];
   // c + 6: clamped sigmoid.
   x6 <= x5;
   sig6 <= lo5 ? 17'd0 : (hi5 ? 17'd65536 : (sg5[18] ? 17'd0 : ((sg5 > 19'sd65536) ? 17'd65536 : sg5[16:0])));
   // c + 7: the multiplier inputs registered (beside the multipliers).
   x7 <= x6;
   sig7 <= sig6;
   // c + 8: x * sig as two partial products (low half unsigned, high half signed).
   spl8 <= x7[15:0] * sig7;
   sph8 <= $signed(x7[31:16]) * $signed({1'b0, sig7});
   // c + 9: round(x * sig / 2^16).
   spr9 <= sp_sum[49:16];
   // c + 10: silu(x), saturated.
   silu10 <= ((&spr9[33:31]) | (~|spr9[33:31])) ? spr9[31:0] : (spr9[33] ? 32'sh80000000 : 32'sh7fffffff);
   // c + 11: multiplier inputs (h sampled in c + 10).
   sl11 <= silu10;
   h11 <= h;
   // c + 12: four 16 x 16 partial products of silu * h.
   ll12 <= sl11[15:0] * h11[15:0];
   lh12 <= $signed({1'b0, sl11[15:0]}) * $signed(h11[31:16]);
   hl12 <= $signed(sl11[31:16]) * $signed({1'b0, h11[15:0]});
   hh12 <= $signed(sl11[31:16]) * $signed(h11[31:16]);
   // c + 13: the middle terms.
   mid13 <= lh12 + hl12;
   ll13 <= ll12;
   hh13 <= hh12;
   // c + 14: round(silu * h / 2^16).
   pp14 <= pp_sum[63:16];
   // c + 15: saturate.
   y <= ((&pp14[47:31]) | (~|pp14[47:31])) ? pp14[31:0] : (pp14[47] ? 32'sh80000000 : 32'sh7fffffff);
end
",
        );
        Verilog::Custom(s)
    }
}

/// `y = add_q16(a, b)`: saturating Q16.16 add, combinational.
#[derive(LogicBlock, Default)]
pub struct AddSat32 {
    pub a: Signal<In, Signed<32>>,
    pub b: Signal<In, Signed<32>>,
    pub y: Signal<Out, Signed<32>>,
}

impl Logic for AddSat32 {
    fn update(&mut self) {
        let a = s2i(self.a.val()) as i32;
        let b = s2i(self.b.val()) as i32;
        self.y.next = i2s::<32>(numerics::add_q16(a, b) as i64);
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s =
            String::from("wire signed [32:0] sum = {a[31], a} + {b[31], b};\nalways @(*) y = ");
        s += &sat32_v("sum", 33);
        s += ";\n";
        Verilog::Custom(s)
    }
}

/// The block shift of a maximum magnitude `m` (golden `to_block16`): `max(bitlen(m) − 15, 0)`,
/// combinational.
#[derive(LogicBlock)]
pub struct ShiftOf {
    pub m: Signal<In, Bits<32>>,
    pub shift: Signal<Out, Bits<5>>,
}

impl Default for ShiftOf {
    fn default() -> Self {
        Self {
            m: Default::default(),
            shift: Signal::new_with_default(Bits::default()),
        }
    }
}

impl Logic for ShiftOf {
    fn update(&mut self) {
        self.shift.next =
            u2b::<5>(numerics::block_shift(self.m.val().to_u64(), BLOCK16_BITS) as u64);
    }
    fn connect(&mut self) {
        self.shift.connect();
    }
    fn hdl(&self) -> Verilog {
        // Only bits 31..15 decide the shift; the low bits are part of the interface.
        let mut s = String::from(
            "/* verilator lint_off UNUSEDSIGNAL */\nwire [14:0] low_bits_unused = m[14:0];\n/* verilator lint_on UNUSEDSIGNAL */\nalways @(*) begin\n   shift = 5'd0;\n",
        );
        for b in 15..32 {
            s += &format!("   if (m[{b}]) shift = 5'd{};\n", b - 14);
        }
        s += "end\n";
        Verilog::Custom(s)
    }
}

/// Running bit length of the largest magnitude of a stream of Q16.16 values (the block
/// shift of a vector written element by element, without a pass of its own): on a clock
/// edge `clear` sets `m` to 0, else `ld` sets `m = mx` (a maximum computed elsewhere),
/// else `gen` merges a group of [`XP`] values written at once: `m = m | |gv_0| | … |
/// |gv_{XP−1}|`, else `en` merges one value: `m = m | |v|` (`|−2^31| = 2^31`). `m` is
/// registered.
///
/// The merges are ORs, not maxima (no compare after the magnitudes, so a merge fits one
/// cycle beside them): `m` is not the largest magnitude but has its bit length (the bit
/// length of a maximum of non-negative values is that of their OR), which is all the
/// block shift ([`ShiftOf`], `numerics::block_shift`) and RMSNorm's shift read.
#[derive(LogicBlock)]
pub struct MaxTrack {
    pub clock: Signal<In, Clock>,
    pub clear: Signal<In, Bit>,
    pub en: Signal<In, Bit>,
    pub v: Signal<In, Signed<32>>,
    pub ld: Signal<In, Bit>,
    pub mx: Signal<In, Bits<32>>,
    pub gen: Signal<In, Bit>,
    pub gv: [Signal<In, Signed<32>>; XP],
    pub m: Signal<Out, Bits<32>>,
}

impl Default for MaxTrack {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            clear: Default::default(),
            en: Default::default(),
            v: Default::default(),
            ld: Default::default(),
            mx: Default::default(),
            gen: Default::default(),
            gv: array_init::array_init(|_| Default::default()),
            m: Signal::new_with_default(Bits::default()),
        }
    }
}

impl Logic for MaxTrack {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let m = self.m.val().to_u64();
            let a = (s2i(self.v.val()) as i32).unsigned_abs() as u64;
            if self.clear.val() {
                self.m.next = u2b::<32>(0);
            } else if self.ld.val() {
                self.m.next = self.mx.val();
            } else if self.gen.val() {
                let o = self
                    .gv
                    .iter()
                    .fold(m, |o, g| o | (s2i(g.val()) as i32).unsigned_abs() as u64);
                self.m.next = u2b::<32>(o);
            } else if self.en.val() {
                self.m.next = u2b::<32>(m | a);
            }
        }
    }
    fn connect(&mut self) {
        self.m.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from("wire [31:0] a = v[31] ? (~v + 32'd1) : v;\n");
        let mut terms = vec![];
        for j in 0..XP {
            s += &format!("wire [31:0] ga{j} = gv${j}[31] ? (~gv${j} + 32'd1) : gv${j};\n");
            terms.push(format!("ga{j}"));
        }
        s += &format!(
            "\
wire [31:0] go = {};
initial m = 32'd0;
always @(posedge clock) begin
   if (clear) m <= 32'd0;
   else if (ld) m <= mx;
   else if (gen) m <= m | go;
   else if (en) m <= m | a;
end
",
            terms.join(" | ")
        );
        Verilog::Custom(s)
    }
}
