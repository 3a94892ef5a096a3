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

/// Extra edges of [`Blocker`]'s quantise over a single registered stage.
pub const BLOCKER_EXTRA: usize = 4;

/// Block conversion (`numerics::to_block`) of a vector streamed through it, pipelined:
/// - scan: with `en_scan` in cycle `c`, `|x|` and `wide` are registered (edge `c`), then
///   `m = (first ? 0 : m) | |x|` (an OR: not the maximum, but its bit length, all the
///   shift reads; no compare in the loop) and the format `wm = wide` (edge `c + 1`), then
///   `sreg = max(0, bitlen(m) − B)` (edge `c + 2`; `B` = 15 when `wm`, else 10: a priority
///   encoder of `m`'s top bits);
/// - quantise: with `en_q` in cycle `u`, `xq` is delayed two edges, then quantised with
///   the `sreg` and `wm` of cycle `u + 2` in two stages; at edge `u + 4` `y =
///   clamp(round(xq / 2^sreg), ±(2^B − 1))` is registered as 16-bit (`y16`) and 11-bit
///   (`y11`) two's complement patterns together with its `shift` (= that `sreg`); they
///   hold until the next quantised value. A vector's last scan in cycle `c` allows its first
///   quantise from cycle `c + 1`; the next vector's first scan in cycle `c'` changes `wm`
///   from cycle `c' + 2` and `sreg` from `c' + 3`.
#[derive(LogicBlock)]
pub struct Blocker {
    pub clock: Signal<In, Clock>,
    pub en_scan: Signal<In, Bit>,
    pub first: Signal<In, Bit>,
    pub en_q: Signal<In, Bit>,
    pub wide: Signal<In, Bit>,
    pub x: Signal<In, Signed<32>>,
    pub xq: Signal<In, Signed<32>>,
    pub shift: Signal<Out, Bits<5>>,
    pub y16: Signal<Out, Addr>,
    pub y11: Signal<Out, Bits<11>>,
    _s: BlockerState,
}

#[derive(Default, Clone, Copy)]
struct BlockerState {
    ax1: u64,
    e1: bool,
    f1: bool,
    wd1: bool,
    m: u64,
    wm: bool,
    sreg: u32,
    /// Quantise: the input delayed (valid, value) two edges, then the result (valid,
    /// mantissa, shift) two edges.
    qv: [bool; 2],
    qx: [i64; 2],
    rv: [bool; 2],
    rq: [i64; 2],
    rs: [u32; 2],
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
            xq: Default::default(),
            shift: Signal::new_with_default(Bits::default()),
            y16: Signal::new_with_default(Bits::default()),
            y11: Signal::new_with_default(Bits::default()),
            _s: Default::default(),
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
        if !self.clock.pos_edge() {
            return;
        }
        let o = self._s;
        let s = &mut self._s;
        // Quantise output stage.
        if o.rv[1] {
            self.y16.next = u2b::<16>(o.rq[1] as u64);
            self.y11.next = u2b::<11>(o.rq[1] as u64);
            self.shift.next = u2b::<5>(o.rs[1] as u64);
        }
        s.rv = [o.qv[1], o.rv[0]];
        s.rq = [
            numerics::block_mant(o.qx[1], o.sreg, Self::bits(o.wm)),
            o.rq[0],
        ];
        s.rs = [o.sreg, o.rs[0]];
        s.qv = [self.en_q.val(), o.qv[0]];
        s.qx = [s2i(self.xq.val()), o.qx[0]];
        // Scan.
        s.sreg = numerics::block_shift(o.m, Self::bits(o.wm));
        if o.e1 {
            s.m = if o.f1 { o.ax1 } else { o.m | o.ax1 };
            s.wm = o.wd1;
        }
        s.e1 = self.en_scan.val();
        s.f1 = self.first.val();
        s.wd1 = self.wide.val();
        if s.e1 {
            s.ax1 = s2i(self.x.val()).unsigned_abs();
        }
    }
    fn connect(&mut self) {
        self.shift.connect();
        self.y16.connect();
        self.y11.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut v = String::from(
            "\
reg [31:0] ax1;
reg e1;
reg f1;
reg wd1;
// The running maximum is kept as the OR of the magnitudes, which has its bit length
// (bitlen(max(a, b)) = bitlen(a | b)): one LUT level per bit in the loop, no compare.
reg [31:0] mor;
reg [4:0] sh_w;
reg [4:0] sh_n;
reg wm;
reg [4:0] sreg;
reg qv1;
reg qv2;
reg signed [31:0] qx1;
reg signed [31:0] qx2;
reg signed [32:0] x2;
reg [4:0] sh3;
reg w3;
reg v3;
reg signed [32:0] rnd;
reg [4:0] sh4;
reg w4;
reg v4;
wire [31:0] ux = x;
wire [31:0] ax = ux[31] ? ((~ux) + 32'd1) : ux;
",
        );
        // max(0, bitlen(m) − B): the top set bit `b` of m gives b + 1 − B.
        for (name, bits) in [
            ("sh_w", numerics::BLOCK16_BITS),
            ("sh_n", numerics::KV_MANT_BITS),
        ] {
            v += &format!("always @(*) begin\n   {name} = 5'd0;\n");
            for b in bits..32 {
                v += &format!("   if (mor[{b}]) {name} = 5'd{};\n", b + 1 - bits);
            }
            v += "end\n";
        }
        v += "\
wire signed [32:0] x2n = $signed({qx2, 1'b0}) >>> sreg;
wire signed [32:0] rndn = (x2 + 33'sd1) >>> 1;
wire signed [32:0] lim = w4 ? 33'sd32767 : 33'sd1023;
wire signed [32:0] q = (rnd > lim) ? lim : ((rnd < -lim) ? -lim : rnd);
// (mor's bits below 10 never decide a shift.)
wire unused_q = ^{q[32:16], mor[9:0]};
initial begin
   ax1 = 32'd0;
   e1 = 1'b0;
   f1 = 1'b0;
   wd1 = 1'b0;
   mor = 32'd0;
   wm = 1'b0;
   sreg = 5'd0;
   qv1 = 1'b0;
   qv2 = 1'b0;
   qx1 = 32'sd0;
   qx2 = 32'sd0;
   x2 = 33'sd0;
   sh3 = 5'd0;
   w3 = 1'b0;
   v3 = 1'b0;
   rnd = 33'sd0;
   sh4 = 5'd0;
   w4 = 1'b0;
   v4 = 1'b0;
   shift = 5'd0;
   y16 = 16'd0;
   y11 = 11'd0;
end
always @(posedge clock) begin
   if (v4) begin
      y16 <= q[15:0];
      y11 <= q[10:0];
      shift <= sh4;
   end
   rnd <= rndn;
   sh4 <= sh3;
   w4 <= w3;
   v4 <= v3;
   x2 <= x2n;
   sh3 <= sreg;
   w3 <= wm;
   v3 <= qv2;
   qv1 <= en_q;
   qv2 <= qv1;
   qx1 <= xq;
   qx2 <= qx1;
   sreg <= wm ? sh_w : sh_n;
   if (e1) begin
      mor <= f1 ? ax1 : (mor | ax1);
      wm <= wd1;
   end
   e1 <= en_scan;
   f1 <= first;
   wd1 <= wide;
   if (en_scan) ax1 <= ax;
end
";
        Verilog::Custom(v)
    }
}

/// Extra edges of [`Rope2`] over a single registered stage.
pub const ROPE_EXTRA: usize = 5;

/// RoPE rotation of one pair, pipelined: with `en` in cycle `t`, from cycle `t + 1 +`
/// [`ROPE_EXTRA`] (registered at edge `t + 5`, held until the next result):
/// `y0 = sat32(round((a·c − b·s) / 2^16))`, `y1 = sat32(round((a·s + b·c) / 2^16))`;
/// `cs`, `sn` are 18-bit two's complement (Q1.16). Stages: inputs registered; eight
/// 18 × 18 partial products; their sums per product; the two sums; the rounding shift;
/// the saturation.
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
    /// Results in flight: (valid, y0, y1), newest first.
    _p: [(bool, i64, i64); ROPE_EXTRA],
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
            _p: [(false, 0, 0); ROPE_EXTRA],
        }
    }
}

impl Logic for Rope2 {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        let (v, r0, r1) = self._p[ROPE_EXTRA - 1];
        if v {
            self.y0.next = i2s::<32>(r0);
            self.y1.next = i2s::<32>(r1);
        }
        self._p.copy_within(0..ROPE_EXTRA - 1, 1);
        let a = s2i(self.a.val()) as i128;
        let b = s2i(self.b.val()) as i128;
        let c = sext(self.cs.val().to_u64(), 18) as i128;
        let s = sext(self.sn.val().to_u64(), 18) as i128;
        let f = -numerics::ROPE_FRAC;
        self._p[0] = (
            self.en.val(),
            shift_sat32(a * c - b * s, f),
            shift_sat32(a * s + b * c, f),
        );
    }
    fn connect(&mut self) {
        self.y0.connect();
        self.y1.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut v = String::from(
            "\
reg signed [31:0] ra;
reg signed [31:0] rb;
reg signed [17:0] rc;
reg signed [17:0] rs;
reg [4:0] e;
",
        );
        let pairs = [("a", "c"), ("b", "s"), ("a", "s"), ("b", "c")];
        for (x, y) in pairs {
            v += &format!(
                "reg signed [35:0] p{x}{y}_l;\nreg signed [32:0] p{x}{y}_h;\nreg signed [49:0] p{x}{y};\n"
            );
        }
        v += "\
reg signed [51:0] p0;
reg signed [51:0] p1;
reg signed [35:0] r0;
reg signed [35:0] r1;
wire signed [51:0] r0w = (p0 + 52'sd32768) >>> 16;
wire signed [51:0] r1w = (p1 + 52'sd32768) >>> 16;
wire f0 = (r0[35:31] == 5'd0) | (r0[35:31] == 5'h1f);
wire f1 = (r1[35:31] == 5'd0) | (r1[35:31] == 5'h1f);
wire unused_r = ^{r0w[51:36], r1w[51:36]};
initial begin
   ra = 32'sd0;
   rb = 32'sd0;
   rc = 18'sd0;
   rs = 18'sd0;
   e = 5'd0;
   p0 = 52'sd0;
   p1 = 52'sd0;
   r0 = 36'sd0;
   r1 = 36'sd0;
   y0 = 32'sd0;
   y1 = 32'sd0;
";
        for (x, y) in pairs {
            v += &format!("   p{x}{y}_l = 36'sd0;\n   p{x}{y}_h = 33'sd0;\n   p{x}{y} = 50'sd0;\n");
        }
        v += "end\nalways @(posedge clock) begin\n   ra <= a;\n   rb <= b;\n   rc <= cs;\n   rs <= sn;\n   e <= {e[3:0], en};\n";
        for (x, y) in pairs {
            v += &format!(
                "   p{x}{y}_l <= $signed({{1'b0, r{x}[16:0]}}) * r{y};\n   p{x}{y}_h <= $signed(r{x}[31:17]) * r{y};\n   p{x}{y} <= $signed({{p{x}{y}_h, 17'd0}}) + $signed({{{{14{{p{x}{y}_l[35]}}}}, p{x}{y}_l}});\n"
            );
        }
        v += "\
   p0 <= $signed({{2{pac[49]}}, pac}) - $signed({{2{pbs[49]}}, pbs});
   p1 <= $signed({{2{pas[49]}}, pas}) + $signed({{2{pbc[49]}}, pbc});
   r0 <= r0w[35:0];
   r1 <= r1w[35:0];
   if (e[4]) begin
      y0 <= f0 ? r0[31:0] : (r0[35] ? 32'h80000000 : 32'h7fffffff);
      y1 <= f1 ? r1[31:0] : (r1[35] ? 32'h80000000 : 32'h7fffffff);
   end
end
";
        Verilog::Custom(v)
    }
}

/// The stream's row tags delayed by [`ROPE_EXTRA`] edges (alongside [`Rope2`]): each
/// output shows its input of `ROPE_EXTRA` edges before; `busy` is high while a valid row
/// is in the delay (combinational from its registers).
#[derive(LogicBlock)]
pub struct RowDelay {
    pub clock: Signal<In, Clock>,
    pub valid: Signal<In, Bit>,
    pub data: Signal<In, Signed<32>>,
    pub odd: Signal<In, Bit>,
    pub is_v: Signal<In, Bit>,
    pub one: Signal<In, Bit>,
    pub valid_o: Signal<Out, Bit>,
    pub data_o: Signal<Out, Signed<32>>,
    pub odd_o: Signal<Out, Bit>,
    pub is_v_o: Signal<Out, Bit>,
    pub one_o: Signal<Out, Bit>,
    pub busy: Signal<Out, Bit>,
    /// (valid, data, odd, is_v, one), newest first.
    _p: [(bool, i64, bool, bool, bool); ROPE_EXTRA],
}

impl Default for RowDelay {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            data: Default::default(),
            odd: Default::default(),
            is_v: Default::default(),
            one: Default::default(),
            valid_o: Signal::new_with_default(false),
            data_o: Signal::new_with_default(Signed::default()),
            odd_o: Signal::new_with_default(false),
            is_v_o: Signal::new_with_default(false),
            one_o: Signal::new_with_default(false),
            busy: Default::default(),
            _p: [(false, 0, false, false, false); ROPE_EXTRA],
        }
    }
}

impl Logic for RowDelay {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self._p.copy_within(0..ROPE_EXTRA - 1, 1);
            self._p[0] = (
                self.valid.val(),
                s2i(self.data.val()),
                self.odd.val(),
                self.is_v.val(),
                self.one.val(),
            );
            let (v, d, o, iv, one) = self._p[ROPE_EXTRA - 1];
            self.valid_o.next = v;
            self.data_o.next = i2s::<32>(d);
            self.odd_o.next = o;
            self.is_v_o.next = iv;
            self.one_o.next = one;
        }
        self.busy.next = self._p.iter().any(|p| p.0);
    }
    fn connect(&mut self) {
        self.valid_o.connect();
        self.data_o.connect();
        self.odd_o.connect();
        self.is_v_o.connect();
        self.one_o.connect();
        self.busy.connect();
    }
    fn hdl(&self) -> Verilog {
        let n = ROPE_EXTRA;
        let mut v = String::new();
        for k in 1..n {
            v += &format!(
                "reg dv{k};\nreg signed [31:0] dd{k};\nreg do{k};\nreg di{k};\nreg dn{k};\n"
            );
        }
        let vs: Vec<String> = (1..n).map(|k| format!("dv{k}")).collect();
        v += &format!(
            "always @(*) busy = valid_o | {};\ninitial begin\n",
            vs.join(" | ")
        );
        for k in 1..n {
            v += &format!("   dv{k} = 1'b0;\n   dd{k} = 32'sd0;\n   do{k} = 1'b0;\n   di{k} = 1'b0;\n   dn{k} = 1'b0;\n");
        }
        v += "   valid_o = 1'b0;\n   data_o = 32'sd0;\n   odd_o = 1'b0;\n   is_v_o = 1'b0;\n   one_o = 1'b0;\nend\nalways @(posedge clock) begin\n";
        v += "   dv1 <= valid;\n   dd1 <= data;\n   do1 <= odd;\n   di1 <= is_v;\n   dn1 <= one;\n";
        for k in 2..n {
            let p = k - 1;
            v += &format!("   dv{k} <= dv{p};\n   dd{k} <= dd{p};\n   do{k} <= do{p};\n   di{k} <= di{p};\n   dn{k} <= dn{p};\n");
        }
        let p = n - 1;
        v += &format!("   valid_o <= dv{p};\n   data_o <= dd{p};\n   odd_o <= do{p};\n   is_v_o <= di{p};\n   one_o <= dn{p};\nend\n");
        Verilog::Custom(v)
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

/// Verilog of `sat32(round(v · 2^k))` ([`shift_sat32`]) in 4 registered stages, for a signed `w`-bit `v` (35 <= `w` <= 65) and a signed 7-bit `k` (both
/// registers or registered-input wires; any `k`): the result is in the 32-bit register
/// `y` (declared by the caller) 4 edges after `v` / `k`. Returns (declarations
/// and combinational logic, the statements for the `always @(posedge clock)` block). The
/// stages: (1) right path `g = v >>> (−k − 1)`, left path `c = clamp32(v)`; (2) `f =
/// clamp33(g >>> 1)` and the rounding bit `g[0]`, `c << k`; (3) `f + g[0]` (one 34-bit
/// carry chain), the left result saturated; (4) the right result saturated, the select.
pub(crate) fn sat_stages_verilog(p: &str, w: usize, v: &str, k: &str, y: &str) -> (String, String) {
    assert!((35..=65).contains(&w));
    let hi = w - 1;
    let decl = format!(
        "\
wire [5:0] {p}_rs = ~{k}[5:0];
wire signed [{hi}:0] {p}_gw = {v} >>> {p}_rs;
wire {p}_vf = ({v}[{hi}:31] == {{{n31}{{1'b0}}}}) | ({v}[{hi}:31] == {{{n31}{{1'b1}}}});
wire [31:0] {p}_cw = {p}_vf ? {v}[31:0] : ({v}[{hi}] ? 32'h80000000 : 32'h7fffffff);
reg signed [{hi}:0] {p}_g;
reg [31:0] {p}_c;
reg [5:0] {p}_kl;
reg {p}_n1;
wire {p}_gf = ({p}_g[{hi}:33] == {{{n33}{{1'b0}}}}) | ({p}_g[{hi}:33] == {{{n33}{{1'b1}}}});
wire [32:0] {p}_fw = {p}_gf ? {p}_g[33:1] : ({p}_g[{hi}] ? 33'h100000000 : 33'h0ffffffff);
wire [63:0] {p}_lw = {{{{32{{{p}_c[31]}}}}, {p}_c}} << {p}_kl;
reg [32:0] {p}_f;
reg {p}_b;
reg [63:0] {p}_l;
reg {p}_big;
reg {p}_cs;
reg {p}_n2;
wire {p}_lf = ({p}_l[63:31] == 33'd0) | ({p}_l[63:31] == {{33{{1'b1}}}});
wire [31:0] {p}_lres = {p}_big ? ({p}_cs ? 32'h80000000 : 32'h7fffffff) :
   ({p}_lf ? {p}_l[31:0] : ({p}_l[63] ? 32'h80000000 : 32'h7fffffff));
reg [33:0] {p}_r;
reg [31:0] {p}_lr;
reg {p}_n3;
wire {p}_rf = ({p}_r[33:31] == 3'd0) | ({p}_r[33:31] == 3'd7);
wire [31:0] {p}_rres = {p}_rf ? {p}_r[31:0] : ({p}_r[33] ? 32'h80000000 : 32'h7fffffff);
initial begin
   {p}_g = 0;
   {p}_c = 0;
   {p}_kl = 0;
   {p}_n1 = 0;
   {p}_f = 0;
   {p}_b = 0;
   {p}_l = 0;
   {p}_big = 0;
   {p}_cs = 0;
   {p}_n2 = 0;
   {p}_r = 0;
   {p}_lr = 0;
   {p}_n3 = 0;
end
",
        n31 = w - 31,
        n33 = w - 33,
    );
    let seq = format!(
        "\
   {p}_g <= {p}_gw;
   {p}_c <= {p}_cw;
   {p}_kl <= {k}[5:0];
   {p}_n1 <= {k}[6];
   {p}_f <= {p}_fw;
   {p}_b <= {p}_g[0];
   {p}_l <= {p}_lw;
   {p}_big <= {p}_kl[5] & ({p}_c != 32'd0);
   {p}_cs <= {p}_c[31];
   {p}_n2 <= {p}_n1;
   {p}_r <= {{{p}_f[32], {p}_f}} + {{33'd0, {p}_b}};
   {p}_lr <= {p}_lres;
   {p}_n3 <= {p}_n2;
   {y} <= {p}_n3 ? {p}_rres : {p}_lr;
"
    );
    (decl, seq)
}

/// Verilog of the bit length minus one of a 32-bit `x` (the index of its highest set bit;
/// 0 for 0) as a 5-bit wire `o`, a balanced tree (about log2(32) mux levels).
pub(crate) fn msb32_verilog(o: &str, x: &str) -> String {
    // Level by level: for each block of 2^l bits, its any-bit flag and its index.
    let mut s = String::new();
    for b in 0..16 {
        s += &format!(
            "wire {o}_a1_{b} = |{x}[{h}:{l}];\nwire [0:0] {o}_i1_{b} = {x}[{h}];\n",
            h = 2 * b + 1,
            l = 2 * b
        );
    }
    for lv in 2..=5 {
        let n = 32 >> lv;
        for b in 0..n {
            let (hb, lb) = (2 * b + 1, 2 * b);
            s += &format!(
                "wire {o}_a{lv}_{b} = {o}_a{p}_{hb} | {o}_a{p}_{lb};\nwire [{m}:0] {o}_i{lv}_{b} = {o}_a{p}_{hb} ? {{1'b1, {o}_i{p}_{hb}}} : {{1'b0, {o}_i{p}_{lb}}};\n",
                p = lv - 1,
                m = lv - 1,
            );
        }
    }
    s += &format!("wire [4:0] {o} = {o}_i5_0;\nwire unused_{o} = {o}_a5_0;\n");
    s
}
