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

/// Cycles from [`SiluMul`]'s `x` to the cycle in which it samples `h`.
pub const SILU_H: usize = 3;

/// `y = mul_q16(silu(x), h)` (golden `numerics::silu` and `mul_q16`), fully pipelined.
///
/// Timing (cycle `c` is when `x` is presented): `sig_addr` is combinational from `x` in
/// cycle `c`; the pair table (a `TableRom<34>` of [`silu_pair_words`]) must answer on
/// `rom` in `c + 1`; `h` is sampled in `c + 3`; `y` is valid in `c + 4`. One new `x`
/// per cycle; there is no enable (the caller picks the outputs it needs).
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

#[derive(Clone, Copy, Default)]
struct SiluState {
    x1: i64,
    fr1: u32,
    lo1: bool,
    hi1: bool,
    x2: i64,
    sig2: u32,
    silu3: i64,
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
            _s: SiluState::default(),
        }
    }
}

impl Logic for SiluMul {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let x = s2i(self.x.val());
            let rom = self.rom.val().to_u64();
            let o = self._s;
            let (_, fr, lo, hi) = sig_index(x as i32);
            let h = s2i(self.h.val());
            self.y.next = i2s::<32>(rsh16_sat32(o.silu3 as i128 * h as i128));
            self._s = SiluState {
                x1: x,
                fr1: fr,
                lo1: lo,
                hi1: hi,
                x2: o.x1,
                sig2: sig_interp(
                    (rom & 0x1FFFF) as u32,
                    (rom >> 17) as u32,
                    o.fr1,
                    o.lo1,
                    o.hi1,
                ),
                silu3: rsh16_sat32(o.x2 as i128 * o.sig2 as i128),
            };
        }
        self.sig_addr.next = u2b::<16>(sig_index(s2i(self.x.val()) as i32).0 as u64);
    }
    fn connect(&mut self) {
        self.sig_addr.connect();
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from(
            "\
reg signed [31:0] x1, x2, silu3;
reg [9:0] fr1;
reg lo1, hi1;
reg [16:0] sig2;
wire inr = (x[31:20] == 12'h000) || (x[31:20] == 12'hfff);
always @(*) sig_addr = {5'd0, ~x[20], x[19:10]};
wire [16:0] sa = rom[16:0];
wire [16:0] sb = rom[33:17];
wire signed [28:0] de = $signed({12'd0, sb}) - $signed({12'd0, sa});
wire signed [28:0] fe = {19'd0, fr1};
wire signed [28:0] dp = de * fe;
wire signed [28:0] dr = (dp + 29'sd512) >>> 10;
wire signed [28:0] sgw = $signed({12'd0, sa}) + dr;
wire signed [49:0] xe2 = {{18{x2[31]}}, x2};
wire signed [49:0] se2 = {33'd0, sig2};
wire signed [49:0] sp = xe2 * se2;
wire signed [49:0] spr = (sp + 50'sd32768) >>> 16;
wire signed [63:0] ae = {{32{silu3[31]}}, silu3};
wire signed [63:0] be = {{32{h[31]}}, h};
wire signed [63:0] pp = ae * be;
wire signed [63:0] ppr = (pp + 64'sd32768) >>> 16;
initial begin
   x1 = 32'sd0; x2 = 32'sd0; silu3 = 32'sd0; y = 32'sd0;
   fr1 = 10'd0; lo1 = 1'b0; hi1 = 1'b0; sig2 = 17'd0;
end
always @(posedge clock) begin
   x1 <= x;
   fr1 <= x[9:0];
   lo1 <= x[31] & ~inr;
   hi1 <= ~x[31] & ~inr;
   x2 <= x1;
   sig2 <= lo1 ? 17'd0 : (hi1 ? 17'd65536 : ((sgw < 29'sd0) ? 17'd0 : ((sgw > 29'sd65536) ? 17'd65536 : sgw[16:0])));
",
        );
        s += &format!("   silu3 <= {};\n", sat32_v("spr", 50));
        s += &format!("   y <= {};\nend\n", sat32_v("ppr", 64));
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

/// Running maximum magnitude of a stream of Q16.16 values (the block shift of a vector
/// written element by element, without a pass of its own): on a clock edge `clear` sets
/// `m` to 0, else `ld` sets `m = mx` (a maximum computed elsewhere), else `en` sets
/// `m = max(m, |v|)` (`|−2^31| = 2^31`). `m` is registered.
#[derive(LogicBlock)]
pub struct MaxTrack {
    pub clock: Signal<In, Clock>,
    pub clear: Signal<In, Bit>,
    pub en: Signal<In, Bit>,
    pub v: Signal<In, Signed<32>>,
    pub ld: Signal<In, Bit>,
    pub mx: Signal<In, Bits<32>>,
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
            } else if self.en.val() && a > m {
                self.m.next = u2b::<32>(a);
            }
        }
    }
    fn connect(&mut self) {
        self.m.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
wire [31:0] a = v[31] ? (~v + 32'd1) : v;
initial m = 32'd0;
always @(posedge clock) begin
   if (clear) m <= 32'd0;
   else if (ld) m <= mx;
   else if (en && (a > m)) m <= a;
end
"
            .into(),
        )
    }
}
