//! Leaves of the attention unit shared by its stream and its core: [`Blocker`] (block
//! conversion of a vector streamed through it), [`Rope2`] (the RoPE rotation of one pair)
//! and [`LaneMem`] (L lanes of words per address, scalar write port, wide read port). Each
//! is a hand-written leaf (native `update()` plus a Verilog body), co-simulated in
//! `tests/attention_leaves.rs`.

use crate::bits::{i2s, index_bits, mask, s2i, sext, u2b, Addr};
use llamahdl_golden::numerics;
use rust_hdl::prelude::*;

/// `sat32(round(v · 2^k))` on i128 (exact where the golden i64 arithmetic is; any `k`).
pub(crate) fn shift_sat32(v: i128, k: i32) -> i64 {
    let r: i128 = if k >= 0 {
        if v == 0 {
            0
        } else if k >= 64 || v.unsigned_abs() >= (1u128 << (126 - k)) {
            if v > 0 {
                i128::MAX
            } else {
                i128::MIN
            }
        } else {
            v << k
        }
    } else {
        let s = (-k).min(120) as u32;
        (v + (1i128 << (s - 1))) >> s
    };
    r.clamp(i32::MIN as i128, i32::MAX as i128) as i64
}

/// Round half up of `v / 2^s` for non-negative `v` (any `s`).
pub(crate) fn urshift(v: u64, s: u32) -> u64 {
    if s == 0 {
        v
    } else if s >= 64 {
        0
    } else {
        ((v as u128 + (1u128 << (s - 1))) >> s) as u64
    }
}

/// Block conversion (`numerics::to_block`) of a vector streamed through `x`:
/// - scan: with `en_scan`, `m = max(first ? 0 : m, |x|)` (registered);
///   `shift = max(0, bitlen(m) − B)` (combinational), `B` = 15 when `wide`, else 10;
/// - quantise: with `en_q`, `y = clamp(round(x / 2^shift), ±(2^B − 1))`, registered, as
///   16-bit (`y16`) and 11-bit (`y11`) two's complement patterns.
#[derive(LogicBlock)]
pub struct Blocker {
    pub clock: Signal<In, Clock>,
    pub en_scan: Signal<In, Bit>,
    pub first: Signal<In, Bit>,
    pub en_q: Signal<In, Bit>,
    pub wide: Signal<In, Bit>,
    pub x: Signal<In, Signed<32>>,
    pub shift: Signal<Out, Bits<5>>,
    pub y16: Signal<Out, Addr>,
    pub y11: Signal<Out, Bits<11>>,
    _m: u64,
}

impl Default for Blocker {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en_scan: Default::default(),
            first: Default::default(),
            en_q: Default::default(),
            wide: Default::default(),
            x: Default::default(),
            shift: Default::default(),
            y16: Signal::new_with_default(Bits::default()),
            y11: Signal::new_with_default(Bits::default()),
            _m: 0,
        }
    }
}

impl Blocker {
    /// Mantissa bits of the format: 15 (`wide`, q) or 10 (k and v).
    fn bits(wide: bool) -> u32 {
        if wide {
            numerics::BLOCK16_BITS
        } else {
            numerics::KV_MANT_BITS
        }
    }
}

impl Logic for Blocker {
    fn update(&mut self) {
        let wide = self.wide.val();
        if self.clock.pos_edge() {
            let x = s2i(self.x.val());
            if self.en_q.val() {
                let bits = Self::bits(wide);
                let q = numerics::block_mant(x, numerics::block_shift(self._m, bits), bits);
                self.y16.next = u2b::<16>(q as u64);
                self.y11.next = u2b::<11>(q as u64);
            }
            if self.en_scan.val() {
                let ax = x.unsigned_abs();
                let base = if self.first.val() { 0 } else { self._m };
                self._m = base.max(ax);
            }
        }
        self.shift.next = u2b::<5>(numerics::block_shift(self._m, Self::bits(wide)) as u64);
    }
    fn connect(&mut self) {
        self.shift.connect();
        self.y16.connect();
        self.y11.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
reg [31:0] m;
wire [31:0] ux = x;
wire [31:0] ax = ux[31] ? ((~ux) + 32'd1) : ux;
reg [5:0] bl;
integer k;
always @(*) begin
   bl = 6'd0;
   for (k = 0; k < 32; k = k + 1) if (m[k]) bl = k[5:0] + 6'd1;
end
wire [5:0] bw = wide ? 6'd15 : 6'd10;
wire [5:0] sh6 = (bl > bw) ? (bl - bw) : 6'd0;
always @(*) shift = sh6[4:0];
wire signed [32:0] x33 = {x[31], x};
wire signed [32:0] half = (sh6 == 6'd0) ? 33'sd0 : (33'sd1 <<< (sh6 - 6'd1));
wire signed [32:0] rnd = (x33 + half) >>> sh6;
wire signed [32:0] lim = wide ? 33'sd32767 : 33'sd1023;
wire signed [32:0] q = (rnd > lim) ? lim : ((rnd < -lim) ? -lim : rnd);
wire unused_q = ^q[32:16];
initial begin
   m = 32'd0;
   y16 = 16'd0;
   y11 = 11'd0;
end
always @(posedge clock) begin
   if (en_q) begin
      y16 <= q[15:0];
      y11 <= q[10:0];
   end
   if (en_scan) m <= (first || (ax > m)) ? ax : m;
end
"
            .into(),
        )
    }
}

/// RoPE rotation of one pair, registered one cycle after `en`:
/// `y0 = sat32(round((a·c − b·s) / 2^16))`, `y1 = sat32(round((a·s + b·c) / 2^16))`;
/// `cs`, `sn` are 18-bit two's complement (Q1.16).
#[derive(LogicBlock)]
pub struct Rope2 {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub a: Signal<In, Signed<32>>,
    pub b: Signal<In, Signed<32>>,
    pub cs: Signal<In, Bits<18>>,
    pub sn: Signal<In, Bits<18>>,
    pub y0: Signal<Out, Signed<32>>,
    pub y1: Signal<Out, Signed<32>>,
}

impl Default for Rope2 {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en: Default::default(),
            a: Default::default(),
            b: Default::default(),
            cs: Default::default(),
            sn: Default::default(),
            y0: Signal::new_with_default(Signed::default()),
            y1: Signal::new_with_default(Signed::default()),
        }
    }
}

impl Logic for Rope2 {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.en.val() {
            let a = s2i(self.a.val()) as i128;
            let b = s2i(self.b.val()) as i128;
            let c = sext(self.cs.val().to_u64(), 18) as i128;
            let s = sext(self.sn.val().to_u64(), 18) as i128;
            let f = -numerics::ROPE_FRAC;
            self.y0.next = i2s::<32>(shift_sat32(a * c - b * s, f));
            self.y1.next = i2s::<32>(shift_sat32(a * s + b * c, f));
        }
    }
    fn connect(&mut self) {
        self.y0.connect();
        self.y1.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
localparam signed [51:0] MAX32 = 52'sd2147483647;
localparam signed [51:0] MIN32 = -52'sd2147483648;
wire signed [51:0] a52 = {{20{a[31]}}, a};
wire signed [51:0] b52 = {{20{b[31]}}, b};
wire signed [51:0] c52 = {{34{cs[17]}}, cs};
wire signed [51:0] s52 = {{34{sn[17]}}, sn};
wire signed [51:0] p0 = (a52 * c52) - (b52 * s52);
wire signed [51:0] p1 = (a52 * s52) + (b52 * c52);
wire signed [51:0] r0 = (p0 + 52'sd32768) >>> 16;
wire signed [51:0] r1 = (p1 + 52'sd32768) >>> 16;
initial begin
   y0 = 32'sd0;
   y1 = 32'sd0;
end
always @(posedge clock) begin
   if (en) begin
      y0 <= (r0 > MAX32) ? MAX32[31:0] : ((r0 < MIN32) ? MIN32[31:0] : r0[31:0]);
      y1 <= (r1 > MAX32) ? MAX32[31:0] : ((r1 < MIN32) ? MIN32[31:0] : r1[31:0]);
   end
end
"
            .into(),
        )
    }
}

/// `L` lanes of `W`-bit words (raw patterns) per address, `A`-bit word addresses,
/// run-time depth (words). Scalar write port: `wdata` into lane `wlane` of word `waddr`;
/// L-wide synchronous read port (`rdata[j]` shows lane j of word `raddr` from the next
/// cycle; read-old-data). Each lane is its own memory. Writes past the depth (or to a lane
/// `>= L`) are dropped, reads past it give 0.
#[derive(LogicBlock)]
pub struct LaneMem<const L: usize, const A: usize, const W: usize> {
    pub clock: Signal<In, Clock>,
    pub we: Signal<In, Bit>,
    pub waddr: Signal<In, Bits<A>>,
    pub wlane: Signal<In, Bits<8>>,
    pub wdata: Signal<In, Bits<W>>,
    pub raddr: Signal<In, Bits<A>>,
    pub rdata: [Signal<Out, Bits<W>>; L],
    _mem: Vec<u64>,
}

impl<const L: usize, const A: usize, const W: usize> LaneMem<L, A, W> {
    pub fn new(depth: usize) -> Self {
        assert!(L >= 1 && L <= 256 && A <= 32 && W <= 64, "LaneMem shape");
        assert!(depth >= 1 && depth <= 1usize << A, "LaneMem depth");
        Self {
            clock: Default::default(),
            we: Default::default(),
            waddr: Default::default(),
            wlane: Default::default(),
            wdata: Default::default(),
            raddr: Default::default(),
            rdata: array_init::array_init(|_| Signal::new_with_default(Bits::default())),
            _mem: vec![0; depth * L],
        }
    }
    /// Depth in words.
    pub fn depth(&self) -> usize {
        self._mem.len() / L
    }
    /// Lane `lane` of word `addr` as seen by the simulation (raw pattern).
    pub fn peek(&self, addr: usize, lane: usize) -> u64 {
        self._mem[addr * L + lane]
    }
}

impl<const L: usize, const A: usize, const W: usize> Logic for LaneMem<L, A, W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let depth = self.depth();
            let r = self.raddr.val().index();
            for j in 0..L {
                let v = if r < depth { self._mem[r * L + j] } else { 0 };
                self.rdata[j].next = u2b::<W>(v);
            }
            if self.we.val() {
                let w = self.waddr.val().index();
                let lane = self.wlane.val().index();
                if w < depth && lane < L {
                    self._mem[w * L + lane] = self.wdata.val().to_u64() & mask(W);
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
        let depth = self.depth();
        let ib = index_bits(depth).min(A);
        let (rin, win) = if depth == 1usize << A {
            ("1'b1".to_string(), "1'b1".to_string())
        } else {
            (
                format!("(raddr < {A}'d{depth})"),
                format!("(waddr < {A}'d{depth})"),
            )
        };
        let mut s = String::new();
        for j in 0..L {
            s += &format!("reg [{}:0] m{j} [0:{}];\n", W - 1, depth - 1);
        }
        s += "integer i;\ninitial begin\n";
        for j in 0..L {
            s += &format!("   rdata${j} = {W}'d0;\n");
        }
        s += &format!("`ifndef SYNTHESIS\n   for (i = 0; i < {depth}; i = i + 1) begin\n");
        for j in 0..L {
            s += &format!("      m{j}[i] = {W}'d0;\n");
        }
        s += "   end\n`endif\nend\nalways @(posedge clock) begin\n";
        for j in 0..L {
            s += &format!(
                "   rdata${j} <= {rin} ? m{j}[raddr[{im}:0]] : {W}'d0;\n   if (we && {win} && (wlane == 8'd{j})) m{j}[waddr[{im}:0]] <= wdata;\n",
                im = ib - 1
            );
        }
        s += "end\n";
        Verilog::Custom(s)
    }
}
