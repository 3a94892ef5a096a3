//! Hand-written leaf blocks: a native `update()` for fast simulation plus a
//! `Verilog::Custom` body, the way rust-hdl's own DFF and RAM are written.
//!
//! Each carries two descriptions of the same logic, so each is co-simulated against its
//! emitted Verilog (tests in `tests/leaf_cosim.rs`). Keep them few and small.
//!
//! - [`DotAcc`]: L raw inputs converted to block mantissas, L signed int8 × int16 products
//!   summed and accumulated (40 bits).
//! - [`RowFinish`]: `y = sat32(round(acc * mant * 2^k))`, the rescale after a row.
//! - [`LaneRom`]: L lanes of int8 read together, synchronous read, depth set at run time.
//! - [`ScaleRom`]: one (mant, exp) row scale per row, synchronous read.
//! - [`LaneRam`]: L lanes of W-bit words per address, one write port, synchronous read.
//! - [`MulShift2`]: `sat32(round((a1·b1 + a2·b2) · 2^k))`, registered (the rescaling multiplier).
//! - [`TableRom`]: a W-bit table, synchronous read (RSQRT, SIGMOID, EXP2, RoPE tables).
//! - [`XMem`]: the matrix-vector input memory: L words read per cycle, a scalar write
//!   port, a wide write port and an [`XP`]-element group write port.
//! - [`LaneSel`]: one of L lanes, sign-extended (combinational; the embedding lookup).
//! - [`WordRom`]: N 16-bit fields per word, synchronous read (the program ROM, gains).

use crate::bits::{i2s, s2i, u2b, Addr, ADDR_SPACE};
use llamahdl_golden::numerics::{block_mant, BLOCK16_BITS};
use rust_hdl::prelude::*;

/// Verilog index expression for a memory of `depth` words addressed by the 16-bit `addr`
/// (only the bits the depth needs, so no width warnings; callers range-check `addr`).
fn mem_index(addr: &str, depth: usize) -> String {
    let bits = usize::BITS - (depth - 1).leading_zeros();
    if bits == 0 {
        "0".to_string()
    } else {
        format!("{addr}[{}:0]", bits - 1)
    }
}

/// Pipeline latency of [`DotAcc`]: inputs presented in cycle c are in `acc` from cycle c+3.
pub const DOT_LATENCY: usize = 3;

/// L-lane block quantisation and multiply-accumulate.
///
/// Timing: in a cycle with `en` high the L raw inputs are converted to 16-bit block
/// mantissas `m[i] = clamp(round(x[i] / 2^shift), ±32767)` (golden `to_block16` with the
/// given shift; `shift = 0` passes mantissas through) and registered with the weights
/// (stage 0, with `first`); one cycle later the L products `w[i] · m[i]` are registered
/// (stage 1); one cycle after that the stage-1 sum is added to the accumulator (or
/// replaces it when `first` was high). So `acc` shows the effect of a beat
/// [`DOT_LATENCY`] cycles after the beat was presented. The accumulator is 40 bits:
/// enough for any row of up to 2^17 int8 × int16 products, so it never overflows.
#[derive(LogicBlock)]
pub struct DotAcc<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub first: Signal<In, Bit>,
    pub shift: Signal<In, Bits<5>>,
    pub w: [Signal<In, Signed<8>>; L],
    pub x: [Signal<In, Signed<32>>; L],
    pub acc: Signal<Out, Signed<40>>,
    _q_en: bool,
    _q_first: bool,
    _qm: [i64; L],
    _qw: [i64; L],
    _s1_sum: i64,
    _s1_en: bool,
    _s1_first: bool,
    _acc: i64,
}

impl<const L: usize> Default for DotAcc<L> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en: Default::default(),
            first: Default::default(),
            shift: Default::default(),
            w: array_init::array_init(|_| Default::default()),
            x: array_init::array_init(|_| Default::default()),
            acc: Signal::new_with_default(Signed::default()),
            _q_en: false,
            _q_first: false,
            _qm: [0; L],
            _qw: [0; L],
            _s1_sum: 0,
            _s1_en: false,
            _s1_first: false,
            _acc: 0,
        }
    }
}

const ACC_MASK: i64 = (1i64 << 40) - 1;

#[inline]
fn wrap40(v: i64) -> i64 {
    ((v & ACC_MASK) << 24) >> 24
}

impl<const L: usize> Logic for DotAcc<L> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if self._s1_en {
                let base = if self._s1_first { 0 } else { self._acc };
                self._acc = wrap40(base + self._s1_sum);
                self.acc.next = i2s::<40>(self._acc);
            }
            self._s1_en = self._q_en;
            if self._q_en {
                self._s1_first = self._q_first;
                self._s1_sum = (0..L).map(|i| self._qw[i] * self._qm[i]).sum();
            }
            self._q_en = self.en.val();
            if self._q_en {
                self._q_first = self.first.val();
                let sh = self.shift.val().to_u64() as u32;
                for i in 0..L {
                    self._qm[i] = block_mant(s2i(self.x[i].val()), sh, BLOCK16_BITS);
                    self._qw[i] = s2i(self.w[i].val());
                }
            }
        }
    }
    fn connect(&mut self) {
        self.acc.connect();
    }
    fn hdl(&self) -> Verilog {
        // Balanced adder tree over registered products.
        fn tree(terms: &[String]) -> String {
            match terms.len() {
                1 => terms[0].clone(),
                n => format!("({} + {})", tree(&terms[..n / 2]), tree(&terms[n / 2..])),
            }
        }
        let mut s = String::from(
            "wire [32:0] half = (shift == 5'd0) ? 33'd0 : (33'd1 << (shift - 5'd1));\nreg q_en;\nreg q_first;\n",
        );
        for i in 0..L {
            s += &format!(
                "reg signed [23:0] p{i};\nreg signed [15:0] qm{i};\nreg signed [7:0] qw{i};\nwire signed [32:0] e{i} = {{x${i}[31], x${i}}};\nwire signed [32:0] r{i} = (e{i} + $signed(half)) >>> shift;\n"
            );
        }
        let terms: Vec<String> = (0..L)
            .map(|i| format!("{{{{16{{p{i}[23]}}}}, p{i}}}"))
            .collect();
        s += "reg s1_en;\nreg s1_first;\n";
        s += &format!("wire signed [39:0] s1_sum = {};\n", tree(&terms));
        s += "initial begin\n   acc = 40'sd0;\n   s1_en = 1'b0;\n   s1_first = 1'b0;\n   q_en = 1'b0;\n   q_first = 1'b0;\n";
        for i in 0..L {
            s += &format!("   p{i} = 24'sd0;\n   qm{i} = 16'sd0;\n   qw{i} = 8'sd0;\n");
        }
        s += "end\n\nalways @(posedge clock) begin\n";
        s += "   if (s1_en) acc <= s1_first ? s1_sum : (acc + s1_sum);\n";
        s += "   s1_en <= q_en;\n   if (q_en) begin\n      s1_first <= q_first;\n";
        for i in 0..L {
            s += &format!("      p{i} <= qw{i} * qm{i};\n");
        }
        s += "   end\n   q_en <= en;\n   if (en) begin\n      q_first <= first;\n";
        for i in 0..L {
            s += &format!(
                "      qw{i} <= w${i};\n      qm{i} <= (r{i} > 33'sd32767) ? 16'sd32767 : ((r{i} < -33'sd32767) ? -16'sd32767 : r{i}[15:0]);\n"
            );
        }
        s += "   end\nend\n";
        Verilog::Custom(s)
    }
}

/// Row rescale: `y = sat32(shift_round(acc * mant, k))` (see
/// `llamahdl_golden::numerics::finish_row`), registered: `y` holds the result from the
/// cycle after `en`. `k = exp + shift` (row exponent plus the input block shift).
#[derive(LogicBlock)]
pub struct RowFinish {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub acc: Signal<In, Signed<40>>,
    pub mant: Signal<In, Bits<8>>,
    /// Row scale exponent.
    pub exp: Signal<In, Signed<8>>,
    /// Block shift of the input vector (0..=17).
    pub shift: Signal<In, Bits<5>>,
    pub y: Signal<Out, Signed<32>>,
}

impl Default for RowFinish {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en: Default::default(),
            acc: Default::default(),
            mant: Default::default(),
            exp: Default::default(),
            shift: Default::default(),
            y: Signal::new_with_default(Signed::default()),
        }
    }
}

impl Logic for RowFinish {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.en.val() {
            let acc = s2i(self.acc.val());
            let mant = self.mant.val().to_u64() as i64;
            let k = s2i(self.exp.val()) as i32 + self.shift.val().to_u64() as i32;
            let v = llamahdl_golden::numerics::shift_round(acc * mant, k);
            self.y.next = i2s::<32>(llamahdl_golden::numerics::sat32(v) as i64);
        }
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
localparam signed [95:0] MAX32 = 96'sd2147483647;
localparam signed [95:0] MIN32 = -96'sd2147483648;
wire signed [48:0] prod = acc * $signed({1'b0, mant});
wire signed [95:0] p96 = {{47{prod[48]}}, prod};
wire signed [9:0] k = {{2{exp[7]}}, exp} + $signed({5'd0, shift});
wire signed [9:0] nk = -k;
reg signed [95:0] wide;
always @(*) begin
   if (!k[9]) begin
      if (k > 10'sd40)
         wide = (prod == 49'sd0) ? 96'sd0 : (prod[48] ? MIN32 - 96'sd1 : MAX32 + 96'sd1);
      else
         wide = p96 <<< k[5:0];
   end else begin
      if (nk > 10'sd62)
         wide = 96'sd0;
      else
         wide = (p96 + (96'sd1 <<< (nk[5:0] - 6'd1))) >>> nk[5:0];
   end
end
initial y = 32'sd0;
always @(posedge clock) begin
   if (en) y <= (wide > MAX32) ? MAX32[31:0] : ((wide < MIN32) ? MIN32[31:0] : wide[31:0]);
end
"
            .into(),
        )
    }
}

/// L lanes of int8 weights, one word of L values per address, synchronous read
/// (`data` shows `mem[addr]` from the cycle after `addr`). Depth is the length of the
/// contents given at construction (addresses past it read 0); the Verilog initialises
/// the memory inline so synthesis keeps the contents (block RAM on ECP5).
#[derive(LogicBlock)]
pub struct LaneRom<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Addr>,
    pub data: [Signal<Out, Signed<8>>; L],
    _mem: Vec<[i8; L]>,
}

impl<const L: usize> LaneRom<L> {
    pub fn new(contents: Vec<[i8; L]>) -> Self {
        assert!(
            !contents.is_empty() && contents.len() <= ADDR_SPACE,
            "LaneRom depth"
        );
        Self {
            clock: Default::default(),
            addr: Default::default(),
            data: array_init::array_init(|_| Signal::new_with_default(Signed::default())),
            _mem: contents,
        }
    }
    pub fn depth(&self) -> usize {
        self._mem.len()
    }
}

impl<const L: usize> Logic for LaneRom<L> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let a = self.addr.val().index();
            let word = self._mem.get(a).copied().unwrap_or([0; L]);
            for (d, v) in self.data.iter_mut().zip(word) {
                d.next = i2s::<8>(v as i64);
            }
        }
    }
    fn connect(&mut self) {
        for d in &mut self.data {
            d.connect();
        }
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let mut s = format!(
            "reg [{}:0] mem [0:{}];\ninitial begin\n",
            8 * L - 1,
            depth - 1
        );
        for (a, word) in self._mem.iter().enumerate() {
            let hex: String = word
                .iter()
                .rev()
                .map(|v| format!("{:02x}", *v as u8))
                .collect();
            s += &format!("   mem[{a}] = {}'h{hex};\n", 8 * L);
        }
        s += "end\n";
        s += &format!("reg [{}:0] word;\ninitial word = 0;\n", 8 * L - 1);
        s += &format!(
            "always @(posedge clock) begin\n   word <= (addr < 16'd{depth}) ? mem[{}] : {}'d0;\nend\n",
            mem_index("addr", depth),
            8 * L
        );
        for i in 0..L {
            s += &format!("always @(*) data${i} = word[{}:{}];\n", 8 * i + 7, 8 * i);
        }
        Verilog::Custom(s)
    }
}

/// Row scales: `(mant, exp)` per row, synchronous read like [`LaneRom`].
#[derive(LogicBlock)]
pub struct ScaleRom {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Addr>,
    pub mant: Signal<Out, Bits<8>>,
    pub exp: Signal<Out, Signed<8>>,
    _mem: Vec<(u8, i8)>,
}

impl ScaleRom {
    pub fn new(contents: Vec<(u8, i8)>) -> Self {
        assert!(
            !contents.is_empty() && contents.len() <= ADDR_SPACE,
            "ScaleRom depth"
        );
        Self {
            clock: Default::default(),
            addr: Default::default(),
            mant: Signal::new_with_default(Bits::default()),
            exp: Signal::new_with_default(Signed::default()),
            _mem: contents,
        }
    }
}

impl Logic for ScaleRom {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let (m, e) = self
                ._mem
                .get(self.addr.val().index())
                .copied()
                .unwrap_or((0, 0));
            self.mant.next = u2b::<8>(m as u64);
            self.exp.next = i2s::<8>(e as i64);
        }
    }
    fn connect(&mut self) {
        self.mant.connect();
        self.exp.connect();
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let mut s = format!("reg [15:0] mem [0:{}];\ninitial begin\n", depth - 1);
        for (a, (m, e)) in self._mem.iter().enumerate() {
            s += &format!("   mem[{a}] = 16'h{:02x}{:02x};\n", m, *e as u8);
        }
        s += "end\nreg [15:0] word;\ninitial word = 0;\n";
        s += &format!(
            "always @(posedge clock) begin\n   word <= (addr < 16'd{depth}) ? mem[{}] : 16'd0;\nend\n",
            mem_index("addr", depth)
        );
        s += "always @(*) mant = word[15:8];\nalways @(*) exp = word[7:0];\n";
        Verilog::Custom(s)
    }
}

/// L lanes of `Signed<W>` (W <= 64) in one memory: one write port, one synchronous read
/// port (`rdata` shows `mem[raddr]` from the cycle after `raddr`; a write and a read of
/// the same address in one cycle read the old word). Depth is set at construction;
/// writes past it are dropped and reads past it give 0.
#[derive(LogicBlock)]
pub struct LaneRam<const L: usize, const W: usize> {
    pub clock: Signal<In, Clock>,
    pub we: Signal<In, Bit>,
    pub waddr: Signal<In, Addr>,
    pub wdata: [Signal<In, Signed<W>>; L],
    pub raddr: Signal<In, Addr>,
    pub rdata: [Signal<Out, Signed<W>>; L],
    _mem: Vec<[i64; L]>,
}

impl<const L: usize, const W: usize> LaneRam<L, W> {
    pub fn new(depth: usize) -> Self {
        assert!(depth > 0 && depth <= ADDR_SPACE, "LaneRam depth");
        Self {
            clock: Default::default(),
            we: Default::default(),
            waddr: Default::default(),
            wdata: array_init::array_init(|_| Default::default()),
            raddr: Default::default(),
            rdata: array_init::array_init(|_| Signal::new_with_default(Signed::default())),
            _mem: vec![[0; L]; depth],
        }
    }
    pub fn depth(&self) -> usize {
        self._mem.len()
    }
    /// Contents as seen by the simulation (for introspection in testbenches).
    pub fn peek(&self, addr: usize) -> [i64; L] {
        self._mem[addr]
    }
}

impl<const L: usize, const W: usize> Logic for LaneRam<L, W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let r = self.raddr.val().index();
            let word = self._mem.get(r).copied().unwrap_or([0; L]);
            for (d, v) in self.rdata.iter_mut().zip(word) {
                d.next = i2s::<W>(v);
            }
            if self.we.val() {
                let w = self.waddr.val().index();
                if w < self._mem.len() {
                    for i in 0..L {
                        self._mem[w][i] = s2i(self.wdata[i].val());
                    }
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
        let depth = self._mem.len();
        let width = W * L;
        let mut s = format!("reg [{}:0] mem [0:{}];\n", width - 1, depth - 1);
        s += &format!("reg [{}:0] word;\ninteger i;\ninitial begin\n   word = 0;\n`ifndef SYNTHESIS\n   for (i = 0; i < {depth}; i = i + 1) mem[i] = 0;\n`endif\nend\n", width - 1);
        let cat: Vec<String> = (0..L).rev().map(|i| format!("wdata${i}")).collect();
        s += &format!(
            "always @(posedge clock) begin\n   word <= (raddr < 16'd{depth}) ? mem[{}] : {width}'d0;\n   if (we && (waddr < 16'd{depth})) mem[{}] <= {{{}}};\nend\n",
            mem_index("raddr", depth),
            mem_index("waddr", depth),
            cat.join(", ")
        );
        for i in 0..L {
            s += &format!(
                "always @(*) rdata${i} = word[{}:{}];\n",
                W * i + W - 1,
                W * i
            );
        }
        Verilog::Custom(s)
    }
}

/// Two products, summed, scaled by 2^k with rounding, saturated to int32, registered:
/// `y = sat32(round((a1·b1 + a2·b2) · 2^k))` one cycle after `en` (see
/// `llamahdl_golden::numerics::shift_round`). The general-purpose rescaling multiplier of
/// the element-wise units (RMSNorm, SiLU, RoPE, embedding, attention output).
/// Products are exact (80 bits each); `k` in −64..=63.
#[derive(LogicBlock)]
pub struct MulShift2 {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub a1: Signal<In, Signed<48>>,
    pub b1: Signal<In, Signed<32>>,
    pub a2: Signal<In, Signed<48>>,
    pub b2: Signal<In, Signed<32>>,
    pub k: Signal<In, Signed<8>>,
    pub y: Signal<Out, Signed<32>>,
}

impl Default for MulShift2 {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en: Default::default(),
            a1: Default::default(),
            b1: Default::default(),
            a2: Default::default(),
            b2: Default::default(),
            k: Default::default(),
            y: Signal::new_with_default(Signed::default()),
        }
    }
}

/// `shift_round` on 128-bit values with a 32-bit saturated result (matches
/// `numerics::shift_round` followed by `sat32` whenever the golden model's i64 does not
/// overflow).
pub fn mul_shift2(a1: i64, b1: i64, a2: i64, b2: i64, k: i32) -> i32 {
    let p = a1 as i128 * b1 as i128 + a2 as i128 * b2 as i128;
    let v: i128 = if k >= 0 {
        if p == 0 {
            0
        } else if k >= 64 {
            if p > 0 {
                i128::MAX
            } else {
                i128::MIN
            }
        } else {
            p.checked_shl(k as u32)
                .filter(|s| s >> k == p)
                .unwrap_or(if p > 0 { i128::MAX } else { i128::MIN })
        }
    } else {
        let s = (-k).min(100) as u32;
        (p + (1i128 << (s - 1))) >> s
    };
    v.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

impl Logic for MulShift2 {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.en.val() {
            let y = mul_shift2(
                s2i(self.a1.val()),
                s2i(self.b1.val()),
                s2i(self.a2.val()),
                s2i(self.b2.val()),
                s2i(self.k.val()) as i32,
            );
            self.y.next = i2s::<32>(y as i64);
        }
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
localparam signed [159:0] MAX32 = 160'sd2147483647;
localparam signed [159:0] MIN32 = -160'sd2147483648;
wire signed [80:0] p = (a1 * b1) + (a2 * b2);
wire signed [159:0] p160 = {{79{p[80]}}, p};
wire signed [7:0] nk = -k;
reg signed [159:0] wide;
always @(*) begin
   if (!k[7]) begin
      if (p == 81'sd0)
         wide = 160'sd0;
      else if (k > 8'sd63)
         wide = p[80] ? MIN32 - 160'sd1 : MAX32 + 160'sd1;
      else
         wide = p160 <<< k[5:0];
   end else begin
      wide = (p160 + (160'sd1 <<< (nk - 8'sd1))) >>> nk;
   end
end
initial y = 32'sd0;
always @(posedge clock) begin
   if (en) y <= (wide > MAX32) ? MAX32[31:0] : ((wide < MIN32) ? MIN32[31:0] : wide[31:0]);
end
"
            .into(),
        )
    }
}

/// A read-only table of `W`-bit values (W <= 64), synchronous read like [`LaneRom`]
/// (`data` shows `mem[addr]` from the cycle after `addr`; past the end reads 0). Holds
/// the non-linear function tables (RSQRT, EXP2, RECIP, SIGMOID, RoPE cos/sin).
#[derive(LogicBlock)]
pub struct TableRom<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Addr>,
    pub data: Signal<Out, Bits<W>>,
    _mem: Vec<u64>,
}

impl<const W: usize> TableRom<W> {
    /// `contents` are raw W-bit patterns (two's complement for signed tables).
    pub fn new(contents: Vec<u64>) -> Self {
        assert!(
            !contents.is_empty() && contents.len() <= ADDR_SPACE,
            "TableRom depth"
        );
        let mask = if W == 64 { u64::MAX } else { (1u64 << W) - 1 };
        Self {
            clock: Default::default(),
            addr: Default::default(),
            data: Signal::new_with_default(Bits::default()),
            _mem: contents.into_iter().map(|v| v & mask).collect(),
        }
    }
}

impl<const W: usize> Logic for TableRom<W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let v = self._mem.get(self.addr.val().index()).copied().unwrap_or(0);
            self.data.next = u2b::<W>(v);
        }
    }
    fn connect(&mut self) {
        self.data.connect();
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let digits = W.div_ceil(4);
        let mut s = format!("reg [{}:0] mem [0:{}];\ninitial begin\n", W - 1, depth - 1);
        for (a, v) in self._mem.iter().enumerate() {
            s += &format!("   mem[{a}] = {W}'h{v:0digits$x};\n");
        }
        s += "end\n";
        s += &format!(
            "initial data = 0;\nalways @(posedge clock) begin\n   data <= (addr < 16'd{depth}) ? mem[{}] : {W}'d0;\nend\n",
            mem_index("addr", depth)
        );
        Verilog::Custom(s)
    }
}

/// Elements per write of the matrix-vector input memory's group port ([`XMem`]): the
/// RMSNorm unit's lanes.
pub const XP: usize = 8;

/// The matrix-vector input memory: `L` lanes of 32-bit words (raw Q16.16 values, or 16-bit mantissas sign-extended) per word, `depth` words.
/// Two write ports, used one at a time: a wide port writing a whole word of 16-bit
/// mantissas, sign-extended (`wwe`, `wwaddr` = word, `wwdata[L]`) and a scalar port writing one element (`swe`, `swaddr` = element
/// index = word · L + lane, `swdata`), plus a group port writing [`XP`] consecutive
/// elements at once (`pwe`, `pwidx` = element index of the first, a multiple of [`XP`],
/// `pwdata[XP]`; with `L < XP` one group spans several words); one synchronous L-wide read port (`rdata` shows
/// word `raddr` from the next cycle, read-old-data). Each lane is its own small memory.
#[derive(LogicBlock)]
pub struct XMem<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub wwe: Signal<In, Bit>,
    pub wwaddr: Signal<In, Addr>,
    pub wwdata: [Signal<In, Signed<16>>; L],
    pub swe: Signal<In, Bit>,
    pub swaddr: Signal<In, Addr>,
    pub swdata: Signal<In, Signed<32>>,
    pub pwe: Signal<In, Bit>,
    pub pwidx: Signal<In, Addr>,
    pub pwdata: [Signal<In, Signed<32>>; XP],
    pub raddr: Signal<In, Addr>,
    pub rdata: [Signal<Out, Signed<32>>; L],
    _mem: Vec<[i64; L]>,
}

impl<const L: usize> XMem<L> {
    pub fn new(depth: usize) -> Self {
        assert!(L.is_power_of_two(), "XMem lanes must be a power of two");
        assert!(depth > 0 && depth * L <= ADDR_SPACE, "XMem depth");
        Self {
            clock: Default::default(),
            wwe: Default::default(),
            wwaddr: Default::default(),
            wwdata: array_init::array_init(|_| Default::default()),
            swe: Default::default(),
            swaddr: Default::default(),
            swdata: Default::default(),
            pwe: Default::default(),
            pwidx: Default::default(),
            pwdata: array_init::array_init(|_| Default::default()),
            raddr: Default::default(),
            rdata: array_init::array_init(|_| Signal::new_with_default(Signed::default())),
            _mem: vec![[0; L]; depth],
        }
    }
}

impl<const L: usize> Logic for XMem<L> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let word = self
                ._mem
                .get(self.raddr.val().index())
                .copied()
                .unwrap_or([0; L]);
            for (d, v) in self.rdata.iter_mut().zip(word) {
                d.next = i2s::<32>(v);
            }
            if self.wwe.val() {
                let a = self.wwaddr.val().index();
                if a < self._mem.len() {
                    for i in 0..L {
                        self._mem[a][i] = s2i(self.wwdata[i].val());
                    }
                }
            } else if self.swe.val() {
                let e = self.swaddr.val().index();
                if e / L < self._mem.len() {
                    self._mem[e / L][e % L] = s2i(self.swdata.val());
                }
            } else if self.pwe.val() {
                let e0 = self.pwidx.val().index();
                for j in 0..XP {
                    let e = e0 + j;
                    if e / L < self._mem.len() {
                        self._mem[e / L][e % L] = s2i(self.pwdata[j].val());
                    }
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
        let depth = self._mem.len();
        let lb = L.trailing_zeros() as usize;
        let ri = mem_index("raddr", depth);
        let wi = mem_index("wwaddr", depth);
        let sword = if depth == 1 {
            "0".to_string()
        } else {
            let bits = (usize::BITS - (depth - 1).leading_zeros()) as usize;
            format!("swaddr[{}:{}]", lb + bits - 1, lb)
        };
        let mut s = format!("wire [15:0] sword = swaddr >> {lb};\ninteger i;\n");
        for j in 0..XP {
            s += &format!(
                "wire [15:0] pe{j} = pwidx + 16'd{j};\nwire [15:0] pw{j} = pe{j} >> {lb};\n"
            );
        }
        for i in 0..L {
            s += &format!("reg [31:0] m{i} [0:{}];\n", depth - 1);
        }
        s += &format!(
            "initial begin\n`ifndef SYNTHESIS\n   for (i = 0; i < {depth}; i = i + 1) begin\n"
        );
        for i in 0..L {
            s += &format!("      m{i}[i] = 32'd0;\n");
        }
        s += "   end\n`endif\n";
        for i in 0..L {
            s += &format!("   rdata${i} = 32'sd0;\n");
        }
        s += "end\nalways @(posedge clock) begin\n";
        for i in 0..L {
            s += &format!("   rdata${i} <= (raddr < 16'd{depth}) ? m{i}[{ri}] : 32'sd0;\n");
        }
        s += &format!("   if (wwe) begin\n      if (wwaddr < 16'd{depth}) begin\n");
        for i in 0..L {
            s += &format!("         m{i}[{wi}] <= {{{{16{{wwdata${i}[15]}}}}, wwdata${i}}};\n");
        }
        s += "      end\n   end else if (swe && (sword < 16'd";
        s += &format!("{depth})) begin\n");
        let lane_sel = if lb == 0 {
            "1'b0".to_string()
        } else {
            format!("swaddr[{}:0]", lb - 1)
        };
        for i in 0..L {
            let cond = if lb == 0 {
                "1'b1".to_string()
            } else {
                format!("{lane_sel} == {lb}'d{i}")
            };
            s += &format!("      if ({cond}) m{i}[{sword}] <= swdata;\n");
        }
        s += "   end else if (pwe) begin\n";
        for j in 0..XP {
            s += &format!("      if (pw{j} < 16'd{depth}) begin\n");
            let pwi = mem_index(&format!("pw{j}"), depth);
            for i in 0..L {
                let cond = if lb == 0 {
                    "1'b1".to_string()
                } else {
                    format!("pe{j}[{}:0] == {lb}'d{i}", lb - 1)
                };
                s += &format!("         if ({cond}) m{i}[{pwi}] <= pwdata${j};\n");
            }
            s += "      end\n";
        }
        s += "   end\nend\n";
        Verilog::Custom(s)
    }
}

/// Combinational lane select with sign extension: `y = data[sel]` as a 40-bit value
/// (0 when `sel >= L`). Used to serialise a word of int8 weights one element at a time
/// (the embedding lookup).
#[derive(LogicBlock)]
pub struct LaneSel<const L: usize> {
    pub data: [Signal<In, Signed<8>>; L],
    pub sel: Signal<In, Addr>,
    pub y: Signal<Out, Signed<40>>,
}

impl<const L: usize> Default for LaneSel<L> {
    fn default() -> Self {
        Self {
            data: array_init::array_init(|_| Default::default()),
            sel: Default::default(),
            y: Default::default(),
        }
    }
}

impl<const L: usize> Logic for LaneSel<L> {
    fn update(&mut self) {
        let s = self.sel.val().index();
        let v = if s < L { s2i(self.data[s].val()) } else { 0 };
        self.y.next = i2s::<40>(v);
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from("always @(*) begin\n   case (sel)\n");
        for i in 0..L {
            s += &format!("      16'd{i}: y = {{{{32{{data${i}[7]}}}}, data${i}}};\n");
        }
        s += "      default: y = 40'sd0;\n   endcase\nend\n";
        Verilog::Custom(s)
    }
}

/// A read-only memory of words of `N` 16-bit fields (the sequencer's program), synchronous
/// read like [`LaneRom`]; depth from the contents.
#[derive(LogicBlock)]
pub struct WordRom<const N: usize> {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Addr>,
    pub data: [Signal<Out, Addr>; N],
    _mem: Vec<[u16; N]>,
}

impl<const N: usize> WordRom<N> {
    pub fn new(contents: Vec<[u16; N]>) -> Self {
        assert!(
            !contents.is_empty() && contents.len() <= ADDR_SPACE,
            "WordRom depth"
        );
        Self {
            clock: Default::default(),
            addr: Default::default(),
            data: array_init::array_init(|_| Signal::new_with_default(Bits::default())),
            _mem: contents,
        }
    }
}

impl<const N: usize> Logic for WordRom<N> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let w = self
                ._mem
                .get(self.addr.val().index())
                .copied()
                .unwrap_or([0; N]);
            for (d, v) in self.data.iter_mut().zip(w) {
                d.next = u2b::<16>(v as u64);
            }
        }
    }
    fn connect(&mut self) {
        for d in &mut self.data {
            d.connect();
        }
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let mut s = format!(
            "reg [{}:0] mem [0:{}];\ninitial begin\n",
            16 * N - 1,
            depth - 1
        );
        for (a, w) in self._mem.iter().enumerate() {
            let hex: String = w.iter().rev().map(|v| format!("{v:04x}")).collect();
            s += &format!("   mem[{a}] = {}'h{hex};\n", 16 * N);
        }
        s += &format!("end\nreg [{}:0] word;\ninitial word = 0;\n", 16 * N - 1);
        s += &format!(
            "always @(posedge clock) begin\n   word <= (addr < 16'd{depth}) ? mem[{}] : {}'d0;\nend\n",
            mem_index("addr", depth),
            16 * N
        );
        for i in 0..N {
            s += &format!("always @(*) data${i} = word[{}:{}];\n", 16 * i + 15, 16 * i);
        }
        Verilog::Custom(s)
    }
}
