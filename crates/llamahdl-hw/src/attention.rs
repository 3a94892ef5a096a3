//! Attention unit: RoPE, key/value store and attention over the on-chip key/value cache,
//! bit for bit as `llamahdl_golden::golden::{rope, kv_store, attend}`.
//!
//! [`AttnUnitL<L>`] has `L` multiply-accumulate lanes (`L` divides `head_dim`; `L =
//! head_dim` is the fast configuration, one cache word per kv head and position);
//! [`AttnUnit`] is the one-lane unit.
//!
//! ## Interface (the unit port convention of `docs/architecture.md`)
//! `clock`, `start` (pulse), `op` (4 bits), `done` (pulse), the vector-memory ports
//! `vm_raddr`/`vm_rdata` (1-cycle read latency), `vm_we`/`vm_waddr`/`vm_wdata`, and the
//! parameters (stable from `start` to `done`): `qkv` (vector-memory base of the QKV
//! vector: q (dim), k (kv_dim), v (kv_dim)), `att` (base of the ATT output, dim), `layer`,
//! `pos`. `pos_error` (combinational from `pos`) is high when `pos >= context`.
//!
//! Operations ([`OP_ROPE`], [`OP_KVSTORE`], [`OP_ATTN`]):
//! - **ROPE**: in place on the vector memory, `rope(q)` and `rope(k)` at `pos` (RoPE
//!   table: `context × head_dim` entries of 18-bit Q1.16, cos and sin interleaved).
//! - **KVSTORE**: the k and v parts of QKV as key/value blocks (11-bit mantissas, one
//!   shift per kv head) into the internal cache at (`layer`, `pos`). Cache memories: k
//!   and v mantissas each `L` lane memories of `n_layers·context·kv_dim / L` words
//!   (element `i` of kv head `h` at position `p` of layer `l`: word
//!   `((l·context + p)·n_kv_heads + h)·head_dim/L + i/L`, lane `i mod L`); shifts
//!   `[layer][pos][n_kv_heads]` (5 bits).
//! - **ATTN**: `attend(cache[layer], q, pos)` written to `ATT[0..dim]`.
//!
//! A start with `pos >= context`, `layer >= n_layers` or an unknown op does nothing but
//! pulse `done` in the next cycle (it never wraps into another position).
//!
//! ## Cycles (from the `start` cycle to the `done` cycle; `P = pos + 1`, `B = head_dim/L`)
//! - ROPE: `dim + kv_dim + 4`
//! - KVSTORE: `4·kv_dim + 2·n_kv_heads + 3`
//! - ATTN: `n_heads · (P·(2·B + 1) + 3·head_dim + 2·B + 10) + 2`
//! - refused: 1
//!
//! ([`cycles`] computes these; the tests check them.) Per query head: a max scan and a
//! quantisation pass over q (`2·head_dim`, one element per cycle), the scores (`P·B`:
//! L products per cycle), the exponentials (`P`), the weighted sum of values (`B` passes
//! of `P` cycles, L accumulators each), the `head_dim` outputs through one rescale
//! multiplier, plus pipeline drains. stories260K with `L = 8`: 314 cycles at position 0,
//! 1274 at position 40 (one lane: 538 and 5978).
//!
//! ## Structure
//! Control is `#[hdl_gen]`; an issue stage drives memory addresses and a tag pipeline
//! (kind, flags, addresses; stages 1..4) tells the later stages what to do with the data.
//! Arithmetic lives in small hand-written leaves (native `update()` plus a Verilog body,
//! each co-simulated in `tests/attention.rs`): [`Ram`], [`LaneMem`], [`AttnBases`],
//! [`Blocker`], [`Rope2`], [`LaneDot`], [`LaneAcc`], [`ScoreFin`], [`ExpW`], [`OutFin`].
//! The EXP2, RECIP and RoPE tables are `leaf::TableRom`s.

use crate::leaf::{i2s, s2i, u2b, TableRom};
use llamahdl_golden::numerics::{self, shift_round};
use llamahdl_golden::QuantModel;
use llamahdl_model::Config;
use rust_hdl::prelude::*;

/// `op` of the RoPE operation.
pub const OP_ROPE: u64 = 5;
/// `op` of the key/value store operation.
pub const OP_KVSTORE: u64 = 6;
/// `op` of the attention operation.
pub const OP_ATTN: u64 = 7;

/// Cycles from `start` to `done` of `op` at position `pos` on a unit with `lanes` lanes
/// and a cache of `context` positions (see the module docs); 1 for a refused start.
pub fn cycles(c: &Config, context: usize, lanes: usize, op: u64, pos: usize) -> usize {
    let (hd, nh, nkv) = (c.head_dim(), c.n_heads, c.n_kv_heads);
    if pos >= context {
        return 1;
    }
    let p = pos + 1;
    let b = hd / lanes;
    match op {
        OP_ROPE => c.dim + c.kv_dim() + 4,
        OP_KVSTORE => 4 * c.kv_dim() + 2 * nkv + 3,
        OP_ATTN => nh * (p * (2 * b + 1) + 3 * hd + 2 * b + 10) + 2,
        _ => 1,
    }
}

fn mask(w: usize) -> u64 {
    if w >= 64 {
        u64::MAX
    } else {
        (1u64 << w) - 1
    }
}

fn sext(v: u64, w: usize) -> i64 {
    let s = 64 - w as u32;
    ((v << s) as i64) >> s
}

/// Number of address bits a memory of `depth` words needs.
fn index_bits(depth: usize) -> usize {
    (usize::BITS - (depth.max(2) - 1).leading_zeros()) as usize
}

/// `sat32(round(v · 2^k))` on i128 (exact where the golden i64 arithmetic is).
fn shift_sat32(v: i128, k: i32) -> i64 {
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

/// Round half up of `v / 2^s` for non-negative `v` (`s` may be 0).
fn urshift(v: u64, s: u32) -> u64 {
    if s == 0 {
        v
    } else if s >= 64 {
        0
    } else {
        ((v as u128 + (1u128 << (s - 1))) >> s) as u64
    }
}

// ---------------------------------------------------------------------------------------
// Leaves
// ---------------------------------------------------------------------------------------

/// A simple RAM of `W`-bit words (raw patterns), `A`-bit addresses, run-time depth: one
/// write port, one synchronous read port (`rdata` shows `mem[raddr]` from the next cycle;
/// read-old-data). Writes past the depth are dropped, reads past it give 0.
#[derive(LogicBlock)]
pub struct Ram<const A: usize, const W: usize> {
    pub clock: Signal<In, Clock>,
    pub we: Signal<In, Bit>,
    pub waddr: Signal<In, Bits<A>>,
    pub wdata: Signal<In, Bits<W>>,
    pub raddr: Signal<In, Bits<A>>,
    pub rdata: Signal<Out, Bits<W>>,
    _mem: Vec<u64>,
}

impl<const A: usize, const W: usize> Ram<A, W> {
    pub fn new(depth: usize) -> Self {
        assert!(
            A <= 32 && W <= 64 && depth >= 1 && depth <= 1usize << A,
            "Ram shape"
        );
        Self {
            clock: Default::default(),
            we: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            raddr: Default::default(),
            rdata: Signal::new_with_default(Bits::default()),
            _mem: vec![0; depth],
        }
    }
    pub fn depth(&self) -> usize {
        self._mem.len()
    }
    /// Contents as seen by the simulation (raw pattern).
    pub fn peek(&self, addr: usize) -> u64 {
        self._mem[addr]
    }
}

impl<const A: usize, const W: usize> Logic for Ram<A, W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let r = self.raddr.val().index();
            self.rdata.next = u2b::<W>(self._mem.get(r).copied().unwrap_or(0));
            if self.we.val() {
                let w = self.waddr.val().index();
                if w < self._mem.len() {
                    self._mem[w] = self.wdata.val().to_u64() & mask(W);
                }
            }
        }
    }
    fn connect(&mut self) {
        self.rdata.connect();
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let ib = index_bits(depth).min(A);
        let (rin, win) = if depth == 1usize << A {
            ("1'b1".to_string(), "1'b1".to_string())
        } else {
            (
                format!("(raddr < {A}'d{depth})"),
                format!("(waddr < {A}'d{depth})"),
            )
        };
        Verilog::Custom(format!(
            "\
reg [{wm}:0] mem [0:{dm}];
integer i;
initial begin
   rdata = {W}'d0;
`ifndef SYNTHESIS
   for (i = 0; i < {depth}; i = i + 1) mem[i] = {W}'d0;
`endif
end
always @(posedge clock) begin
   rdata <= {rin} ? mem[raddr[{im}:0]] : {W}'d0;
   if (we && {win}) mem[waddr[{im}:0]] <= wdata;
end
",
            wm = W - 1,
            dm = depth - 1,
            im = ib - 1,
        ))
    }
}

/// Address bases for (`layer`, `pos`), registered every cycle (valid one cycle after the
/// parameters are): `kv_layer = layer·context·kv_dim`, `kv_pos = kv_layer + pos·kv_dim`,
/// `sh_layer = layer·context·n_kv`, `sh_pos = sh_layer + pos·n_kv`, `rope_base =
/// pos·head_dim`. Combinational: `pos_error = pos >= context`, `bad = pos_error | layer >=
/// n_layers`.
#[derive(LogicBlock)]
pub struct AttnBases {
    pub clock: Signal<In, Clock>,
    pub layer: Signal<In, Bits<8>>,
    pub pos: Signal<In, Bits<16>>,
    pub kv_layer: Signal<Out, Bits<24>>,
    pub kv_pos: Signal<Out, Bits<24>>,
    pub sh_layer: Signal<Out, Bits<24>>,
    pub sh_pos: Signal<Out, Bits<24>>,
    pub rope_base: Signal<Out, Bits<16>>,
    pub pos_error: Signal<Out, Bit>,
    pub bad: Signal<Out, Bit>,
    _ctx: u64,
    _kvd: u64,
    _nkv: u64,
    _hd: u64,
    _nl: u64,
}

impl AttnBases {
    pub fn new(n_layers: usize, ctx: usize, kv_dim: usize, n_kv: usize, hd: usize) -> Self {
        assert!(n_layers * ctx * kv_dim < 1 << 24 && ctx * hd <= 1 << 16 && ctx <= 1 << 16);
        assert!(n_layers <= 255);
        Self {
            clock: Default::default(),
            layer: Default::default(),
            pos: Default::default(),
            kv_layer: Signal::new_with_default(Bits::default()),
            kv_pos: Signal::new_with_default(Bits::default()),
            sh_layer: Signal::new_with_default(Bits::default()),
            sh_pos: Signal::new_with_default(Bits::default()),
            rope_base: Signal::new_with_default(Bits::default()),
            pos_error: Default::default(),
            bad: Default::default(),
            _ctx: ctx as u64,
            _kvd: kv_dim as u64,
            _nkv: n_kv as u64,
            _hd: hd as u64,
            _nl: n_layers as u64,
        }
    }
}

impl Logic for AttnBases {
    fn update(&mut self) {
        let l = self.layer.val().to_u64();
        let p = self.pos.val().to_u64();
        let perr = p >= self._ctx;
        self.pos_error.next = perr;
        self.bad.next = perr || l >= self._nl;
        if self.clock.pos_edge() {
            let kl = l * self._ctx * self._kvd;
            let sl = l * self._ctx * self._nkv;
            self.kv_layer.next = u2b::<24>(kl);
            self.kv_pos.next = u2b::<24>(kl + p * self._kvd);
            self.sh_layer.next = u2b::<24>(sl);
            self.sh_pos.next = u2b::<24>(sl + p * self._nkv);
            self.rope_base.next = u2b::<16>(p * self._hd);
        }
    }
    fn connect(&mut self) {
        self.kv_layer.connect();
        self.kv_pos.connect();
        self.sh_layer.connect();
        self.sh_pos.connect();
        self.rope_base.connect();
        self.pos_error.connect();
        self.bad.connect();
    }
    fn hdl(&self) -> Verilog {
        let ctx = self._ctx;
        let perr = if ctx >= 1 << 16 {
            "1'b0".to_string()
        } else {
            format!("(pos >= 16'd{ctx})")
        };
        Verilog::Custom(format!(
            "\
wire [23:0] l24 = {{16'd0, layer}};
wire [23:0] p24 = {{8'd0, pos}};
wire [15:0] rb = pos * 16'd{hd};
initial begin
   kv_layer = 24'd0;
   kv_pos = 24'd0;
   sh_layer = 24'd0;
   sh_pos = 24'd0;
   rope_base = 16'd0;
end
always @(*) pos_error = {perr};
always @(*) bad = {perr} | (layer >= 8'd{nl});
always @(posedge clock) begin
   kv_layer <= l24 * 24'd{lk};
   kv_pos <= (l24 * 24'd{lk}) + (p24 * 24'd{kvd});
   sh_layer <= l24 * 24'd{ls};
   sh_pos <= (l24 * 24'd{ls}) + (p24 * 24'd{nkv});
   rope_base <= rb;
end
",
            hd = self._hd,
            nl = self._nl,
            lk = ctx * self._kvd,
            ls = ctx * self._nkv,
            kvd = self._kvd,
            nkv = self._nkv,
        ))
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
    pub y16: Signal<Out, Bits<16>>,
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
    fn shift_of(m: u64, wide: bool) -> u32 {
        let b = if wide {
            numerics::BLOCK16_BITS
        } else {
            numerics::KV_MANT_BITS
        };
        numerics::bitlen(m).saturating_sub(b)
    }
}

impl Logic for Blocker {
    fn update(&mut self) {
        let wide = self.wide.val();
        if self.clock.pos_edge() {
            let x = s2i(self.x.val());
            if self.en_q.val() {
                let s = Self::shift_of(self._m, wide);
                let lim = if wide { 32767 } else { 1023 };
                let q = shift_round(x, -(s as i32)).clamp(-lim, lim);
                self.y16.next = u2b::<16>(q as u64);
                self.y11.next = u2b::<11>(q as u64);
            }
            if self.en_scan.val() {
                let ax = x.unsigned_abs();
                let base = if self.first.val() { 0 } else { self._m };
                self._m = base.max(ax);
            }
        }
        self.shift.next = u2b::<5>(Self::shift_of(self._m, wide) as u64);
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

/// L-lane dot product accumulated, registered: with `en`,
/// `acc = (first ? 0 : acc) + Σ_j qa[j]·kb[j]` (`qa` 16-bit signed, `kb` 11-bit signed
/// patterns; 48-bit accumulator). The attention scores' multiply-accumulate.
#[derive(LogicBlock)]
pub struct LaneDot<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub first: Signal<In, Bit>,
    pub qa: [Signal<In, Bits<16>>; L],
    pub kb: [Signal<In, Bits<11>>; L],
    pub acc: Signal<Out, Signed<48>>,
    _acc: i64,
}

impl<const L: usize> Default for LaneDot<L> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en: Default::default(),
            first: Default::default(),
            qa: array_init::array_init(|_| Default::default()),
            kb: array_init::array_init(|_| Default::default()),
            acc: Signal::new_with_default(Signed::default()),
            _acc: 0,
        }
    }
}

impl<const L: usize> Logic for LaneDot<L> {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.en.val() {
            let mut s = 0i64;
            for j in 0..L {
                s += sext(self.qa[j].val().to_u64(), 16) * sext(self.kb[j].val().to_u64(), 11);
            }
            let base = if self.first.val() { 0 } else { self._acc };
            self._acc = sext(((base + s) as u64) & mask(48), 48);
            self.acc.next = i2s::<48>(self._acc);
        }
    }
    fn connect(&mut self) {
        self.acc.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::new();
        let mut terms = vec![];
        for j in 0..L {
            s += &format!(
                "wire signed [28:0] p{j} = $signed({{{{13{{qa${j}[15]}}}}, qa${j}}}) * $signed({{{{18{{kb${j}[10]}}}}, kb${j}}});\n"
            );
            terms.push(format!("{{{{19{{p{j}[28]}}}}, p{j}}}"));
        }
        s += &format!("wire signed [47:0] sum = {};\n", terms.join(" + "));
        s += "initial acc = 48'sd0;\nalways @(posedge clock) begin\n   if (en) acc <= (first ? 48'sd0 : acc) + sum;\nend\n";
        Verilog::Custom(s)
    }
}

/// L accumulators of the weighted sum of values, with an output shift register: with
/// `en`, `acc[j] = (first ? 0 : acc[j]) + w·vb[j]` (`w` 17-bit unsigned, `vb` 11-bit
/// signed patterns; 48 bits); with `ld`, `sr = acc`; else with `sh`, `sr[j] = sr[j+1]`
/// (0 shifted in). `so = sr[0]` (combinational from the register).
#[derive(LogicBlock)]
pub struct LaneAcc<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub first: Signal<In, Bit>,
    pub w: Signal<In, Bits<17>>,
    pub vb: [Signal<In, Bits<11>>; L],
    pub ld: Signal<In, Bit>,
    pub sh: Signal<In, Bit>,
    pub so: Signal<Out, Signed<48>>,
    _acc: [i64; L],
    _sr: [i64; L],
}

impl<const L: usize> Default for LaneAcc<L> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en: Default::default(),
            first: Default::default(),
            w: Default::default(),
            vb: array_init::array_init(|_| Default::default()),
            ld: Default::default(),
            sh: Default::default(),
            so: Default::default(),
            _acc: [0; L],
            _sr: [0; L],
        }
    }
}

impl<const L: usize> Logic for LaneAcc<L> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if self.ld.val() {
                self._sr = self._acc;
            } else if self.sh.val() {
                for j in 0..L {
                    self._sr[j] = if j + 1 < L { self._sr[j + 1] } else { 0 };
                }
            }
            if self.en.val() {
                let w = self.w.val().to_u64() as i64;
                let first = self.first.val();
                for j in 0..L {
                    let base = if first { 0 } else { self._acc[j] };
                    let p = w * sext(self.vb[j].val().to_u64(), 11);
                    self._acc[j] = sext(((base + p) as u64) & mask(48), 48);
                }
            }
        }
        self.so.next = i2s::<48>(self._sr[0]);
    }
    fn connect(&mut self) {
        self.so.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from("wire signed [28:0] w29 = {12'd0, w};\n");
        for j in 0..L {
            s += &format!(
                "reg signed [47:0] a{j};\nreg signed [47:0] s{j};\nwire signed [28:0] p{j} = w29 * $signed({{{{18{{vb${j}[10]}}}}, vb${j}}});\n"
            );
        }
        s += "initial begin\n";
        for j in 0..L {
            s += &format!("   a{j} = 48'sd0;\n   s{j} = 48'sd0;\n");
        }
        s += "end\nalways @(*) so = s0;\nalways @(posedge clock) begin\n";
        for j in 0..L {
            let next = if j + 1 < L {
                format!("s{}", j + 1)
            } else {
                "48'sd0".to_string()
            };
            s += &format!(
                "   if (ld) s{j} <= a{j};\n   else if (sh) s{j} <= {next};\n   if (en) a{j} <= (first ? 48'sd0 : a{j}) + {{{{19{{p{j}[28]}}}}, p{j}}};\n"
            );
        }
        s += "end\n";
        Verilog::Custom(s)
    }
}

/// Score of one position, registered one cycle after `en`:
/// `score = sat32(round(dot · 2^(sq + ks − 16)))` (raw 32-bit pattern), with running
/// maxima (reset by `first`): `mx` = max score (signed), `vmax` = max `vs`.
#[derive(LogicBlock)]
pub struct ScoreFin {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub first: Signal<In, Bit>,
    pub dot: Signal<In, Signed<48>>,
    pub sq: Signal<In, Bits<5>>,
    pub ks: Signal<In, Bits<5>>,
    pub vs: Signal<In, Bits<5>>,
    pub score: Signal<Out, Bits<32>>,
    pub mx: Signal<Out, Bits<32>>,
    pub vmax: Signal<Out, Bits<5>>,
}

impl Default for ScoreFin {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en: Default::default(),
            first: Default::default(),
            dot: Default::default(),
            sq: Default::default(),
            ks: Default::default(),
            vs: Default::default(),
            score: Signal::new_with_default(Bits::default()),
            mx: Signal::new_with_default(Bits::default()),
            vmax: Signal::new_with_default(Bits::default()),
        }
    }
}

impl Logic for ScoreFin {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.en.val() {
            let dot = s2i(self.dot.val()) as i128;
            let k = self.sq.val().to_u64() as i32 + self.ks.val().to_u64() as i32 - 16;
            let sc = shift_sat32(dot, k);
            let first = self.first.val();
            let mx = sext(self.mx.val().to_u64(), 32);
            let nmx = if first || sc > mx { sc } else { mx };
            let vs = self.vs.val().to_u64();
            let vm = self.vmax.val().to_u64();
            let nvm = if first || vs > vm { vs } else { vm };
            self.score.next = u2b::<32>(sc as u64);
            self.mx.next = u2b::<32>(nmx as u64);
            self.vmax.next = u2b::<5>(nvm);
        }
    }
    fn connect(&mut self) {
        self.score.connect();
        self.mx.connect();
        self.vmax.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
localparam signed [111:0] MAX32 = 112'sd2147483647;
localparam signed [111:0] MIN32 = -112'sd2147483648;
wire signed [6:0] k = $signed({2'd0, sq}) + $signed({2'd0, ks}) - 7'sd16;
wire [5:0] nk = 6'd0 - k[5:0];
wire signed [111:0] d112 = {{64{dot[47]}}, dot};
reg signed [111:0] wide;
always @(*) begin
   if (!k[6])
      wide = d112 <<< k[5:0];
   else
      wide = (d112 + (112'sd1 <<< (nk - 6'd1))) >>> nk;
end
wire [31:0] sc = (wide > MAX32) ? MAX32[31:0] : ((wide < MIN32) ? MIN32[31:0] : wide[31:0]);
initial begin
   score = 32'd0;
   mx = 32'd0;
   vmax = 5'd0;
end
always @(posedge clock) begin
   if (en) begin
      score <= sc;
      mx <= (first || ($signed(sc) > $signed(mx))) ? sc : mx;
      vmax <= (first || (vs > vmax)) ? vs : vmax;
   end
end
"
            .into(),
        )
    }
}

/// Softmax weights, two stages (`numerics::exp_neg`, then the alignment to the largest
/// value shift):
/// - stage A (`en_a`): `d = max(0, mx − s)`, `u = round(d · LOG2E / 2^16)`; registers
///   the EXP2 table index `idx = (u mod 2^16) >> 6` and (internally) `min(u >> 16, 32)`
///   and `vs`;
/// - the internal copies move on one stage every cycle; two cycles after stage A the
///   table word `tbl` for `idx` is expected;
/// - stage B (`en_b`): `e = int(u) ≥ 32 ? 0 : round(tbl / 2^int(u))`,
///   `w = round(e / 2^(vmax − vs))`, `z = (first_b ? 0 : z) + e`; registers `w`, `z`
///   (internal), and
///   `numerics::recip`'s normalisation of the new `z`: `ridx` (10 bits after the leading
///   one) and `pz` (its position).
#[derive(LogicBlock)]
pub struct ExpW {
    pub clock: Signal<In, Clock>,
    pub en_a: Signal<In, Bit>,
    pub s: Signal<In, Bits<32>>,
    pub mx: Signal<In, Bits<32>>,
    pub vs: Signal<In, Bits<5>>,
    pub en_b: Signal<In, Bit>,
    pub first_b: Signal<In, Bit>,
    pub tbl: Signal<In, Bits<17>>,
    pub vmax: Signal<In, Bits<5>>,
    pub idx: Signal<Out, Bits<16>>,
    pub w: Signal<Out, Bits<17>>,
    pub ridx: Signal<Out, Bits<16>>,
    pub pz: Signal<Out, Bits<5>>,
    _ipa: u64,
    _vsa: u64,
    _ipb: u64,
    _vsb: u64,
    _z: u64,
}

impl Default for ExpW {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en_a: Default::default(),
            s: Default::default(),
            mx: Default::default(),
            vs: Default::default(),
            en_b: Default::default(),
            first_b: Default::default(),
            tbl: Default::default(),
            vmax: Default::default(),
            idx: Signal::new_with_default(Bits::default()),
            w: Signal::new_with_default(Bits::default()),
            ridx: Signal::new_with_default(Bits::default()),
            pz: Signal::new_with_default(Bits::default()),
            _ipa: 0,
            _vsa: 0,
            _ipb: 0,
            _vsb: 0,
            _z: 0,
        }
    }
}

impl Logic for ExpW {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            // Stage B (uses the values registered two stages back).
            if self.en_b.val() {
                let tbl = self.tbl.val().to_u64();
                let e = if self._ipb >= 32 {
                    0
                } else {
                    urshift(tbl, self._ipb as u32)
                };
                let dv = (self.vmax.val().to_u64().wrapping_sub(self._vsb)) & 31;
                let w = urshift(e, dv as u32);
                let base = if self.first_b.val() { 0 } else { self._z };
                self._z = (base + e) & mask(32);
                let (p, f) = numerics::normalise(self._z.max(1), numerics::RECIP_BITS);
                self.w.next = u2b::<17>(w);
                self.ridx.next = u2b::<16>(f as u64);
                self.pz.next = u2b::<5>(p as u64);
            }
            self._ipb = self._ipa;
            self._vsb = self._vsa;
            // Stage A.
            if self.en_a.val() {
                let s = sext(self.s.val().to_u64(), 32);
                let mx = sext(self.mx.val().to_u64(), 32);
                let d = (mx - s).max(0);
                let u = shift_round(d * numerics::LOG2E_Q16, -16);
                let fr = (u & 0xFFFF) as u64;
                self.idx.next = u2b::<16>(fr >> (16 - numerics::EXP2_BITS));
                self._ipa = ((u >> 16) as u64).min(32);
                self._vsa = self.vs.val().to_u64();
            }
        }
    }
    fn connect(&mut self) {
        self.idx.connect();
        self.w.connect();
        self.ridx.connect();
        self.pz.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
// Stage A.
wire signed [32:0] d = $signed({mx[31], mx}) - $signed({s[31], s});
wire [50:0] du = d[32] ? 51'd0 : {18'd0, d};
wire [50:0] prod = du * 51'd94548;
wire [50:0] u = (prod + 51'd32768) >> 16;
wire [5:0] ipn = (u[50:21] != 30'd0) ? 6'd32 : {1'b0, u[20:16]};
wire unused_u = ^u[5:0];
reg [5:0] ipa;
reg [5:0] ipb;
reg [4:0] vsa;
reg [4:0] vsb;
reg [31:0] zr;
// Stage B.
wire [31:0] t32 = {15'd0, tbl};
wire [31:0] e = ipb[5] ? 32'd0 :
   ((ipb == 6'd0) ? t32 : ((t32 + (32'd1 << (ipb[4:0] - 5'd1))) >> ipb[4:0]));
wire [4:0] dv = vmax - vsb;
wire [31:0] wv = (dv == 5'd0) ? e : ((e + (32'd1 << (dv - 5'd1))) >> dv);
wire [31:0] zn = (first_b ? 32'd0 : zr) + e;
wire [31:0] z1 = (zn == 32'd0) ? 32'd1 : zn;
reg [4:0] p;
integer k;
always @(*) begin
   p = 5'd0;
   for (k = 0; k < 32; k = k + 1) if (z1[k]) p = k[4:0];
end
wire [31:0] fsh = (p >= 5'd10) ? (z1 >> (p - 5'd10)) : (z1 << (5'd10 - p));
wire unused_w = ^{wv[31:17], fsh[31:10]};
initial begin
   ipa = 6'd0;
   ipb = 6'd0;
   vsa = 5'd0;
   vsb = 5'd0;
   zr = 32'd0;
   idx = 16'd0;
   w = 17'd0;
   ridx = 16'd0;
   pz = 5'd0;
end
always @(posedge clock) begin
   if (en_b) begin
      zr <= zn;
      w <= wv[16:0];
      ridx <= {6'd0, fsh[9:0]};
      pz <= p;
   end
   ipb <= ipa;
   vsb <= vsa;
   if (en_a) begin
      idx <= {6'd0, u[15:6]};
      ipa <= ipn;
      vsa <= vs;
   end
end
"
            .into(),
        )
    }
}

/// Attention output element, registered one cycle after `en`:
/// `y = sat32(round(acc · r · 2^(vmax − 16 − pz)))` (`r` unsigned).
#[derive(LogicBlock)]
pub struct OutFin {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub acc: Signal<In, Signed<48>>,
    pub r: Signal<In, Bits<17>>,
    pub vmax: Signal<In, Bits<5>>,
    pub pz: Signal<In, Bits<5>>,
    pub y: Signal<Out, Signed<32>>,
}

impl Default for OutFin {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            en: Default::default(),
            acc: Default::default(),
            r: Default::default(),
            vmax: Default::default(),
            pz: Default::default(),
            y: Signal::new_with_default(Signed::default()),
        }
    }
}

impl Logic for OutFin {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.en.val() {
            let p = s2i(self.acc.val()) as i128 * self.r.val().to_u64() as i128;
            let k = self.vmax.val().to_u64() as i32 - 16 - self.pz.val().to_u64() as i32;
            self.y.next = i2s::<32>(shift_sat32(p, k));
        }
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
localparam signed [127:0] MAX32 = 128'sd2147483647;
localparam signed [127:0] MIN32 = -128'sd2147483648;
wire signed [65:0] a66 = {{18{acc[47]}}, acc};
wire signed [65:0] r66 = {49'd0, r};
wire signed [65:0] p = a66 * r66;
wire signed [127:0] p128 = {{62{p[65]}}, p};
wire signed [6:0] k = $signed({2'd0, vmax}) - 7'sd16 - $signed({2'd0, pz});
wire [5:0] nk = 6'd0 - k[5:0];
reg signed [127:0] wide;
always @(*) begin
   if (!k[6])
      wide = p128 <<< k[5:0];
   else
      wide = (p128 + (128'sd1 <<< (nk - 6'd1))) >>> nk;
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

// ---------------------------------------------------------------------------------------
// The unit
// ---------------------------------------------------------------------------------------

/// The attention unit with `L` lanes (`L` divides `head_dim`): L multiply-accumulates
/// per cycle for the scores and for the weighted sum of values. See the module docs.
#[derive(LogicBlock)]
pub struct AttnUnitL<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub op: Signal<In, Bits<4>>,
    pub done: Signal<Out, Bit>,
    pub vm_raddr: Signal<Out, Bits<16>>,
    pub vm_rdata: Signal<In, Signed<32>>,
    pub vm_we: Signal<Out, Bit>,
    pub vm_waddr: Signal<Out, Bits<16>>,
    pub vm_wdata: Signal<Out, Signed<32>>,
    pub qkv: Signal<In, Bits<16>>,
    pub att: Signal<In, Bits<16>>,
    pub layer: Signal<In, Bits<8>>,
    pub pos: Signal<In, Bits<16>>,
    pub pos_error: Signal<Out, Bit>,
    // Shape constants.
    op_rope: Constant<Bits<4>>,
    op_kvstore: Constant<Bits<4>>,
    op_attn: Constant<Bits<4>>,
    dim16: Constant<Bits<16>>,
    hd16: Constant<Bits<16>>,
    hd_m1: Constant<Bits<16>>,
    beats_m1: Constant<Bits<16>>,
    rope_last: Constant<Bits<16>>,
    beats24: Constant<Bits<24>>,
    roww24: Constant<Bits<24>>,
    nkv24: Constant<Bits<24>>,
    lanes_m1: Constant<Bits<8>>,
    nkv_m1: Constant<Bits<8>>,
    nvec_m1: Constant<Bits<8>>,
    nh_m1: Constant<Bits<8>>,
    kvmul_m1: Constant<Bits<8>>,
    zero4: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    two4: Constant<Bits<4>>,
    three4: Constant<Bits<4>>,
    zero8: Constant<Bits<8>>,
    one8: Constant<Bits<8>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    zero24: Constant<Bits<24>>,
    one24: Constant<Bits<24>>,
    // Control states.
    s_idle: Constant<Bits<4>>,
    s_refuse: Constant<Bits<4>>,
    s_setup: Constant<Bits<4>>,
    s_rope: Constant<Bits<4>>,
    s_k_scan: Constant<Bits<4>>,
    s_k_gap: Constant<Bits<4>>,
    s_k_quant: Constant<Bits<4>>,
    s_q_scan: Constant<Bits<4>>,
    s_q_gap: Constant<Bits<4>>,
    s_q_quant: Constant<Bits<4>>,
    s_score: Constant<Bits<4>>,
    s_exp: Constant<Bits<4>>,
    s_av: Constant<Bits<4>>,
    s_out: Constant<Bits<4>>,
    s_drain: Constant<Bits<4>>,
    // Pipeline item kinds.
    k_none: Constant<Bits<4>>,
    k_rope: Constant<Bits<4>>,
    k_scan: Constant<Bits<4>>,
    k_quant_k: Constant<Bits<4>>,
    k_quant_v: Constant<Bits<4>>,
    k_quant_q: Constant<Bits<4>>,
    k_score: Constant<Bits<4>>,
    k_exp: Constant<Bits<4>>,
    k_av: Constant<Bits<4>>,
    k_out: Constant<Bits<4>>,
    // Leaves.
    bases: AttnBases,
    rope_rom: TableRom<18>,
    exp_rom: TableRom<17>,
    recip_rom: TableRom<17>,
    kcache: LaneMem<L, 24, 11>,
    vcache: LaneMem<L, 24, 11>,
    kshift: Ram<24, 5>,
    vshift: Ram<24, 5>,
    qbuf: LaneMem<L, 24, 16>,
    sbuf: Ram<16, 32>,
    wbuf: Ram<16, 17>,
    blk: Blocker,
    rot: Rope2,
    dot: LaneDot<L>,
    vacc: LaneAcc<L>,
    sfin: ScoreFin,
    expw: ExpW,
    ofin: OutFin,
    // Control state.
    state: DFF<Bits<4>>,
    nxt: DFF<Bits<4>>,
    drain: DFF<Bits<4>>,
    wide: DFF<Bit>,
    /// Element / beat counter.
    i: DFF<Bits<16>>,
    /// Position counter.
    t: DFF<Bits<16>>,
    /// RoPE table offset (element index mod head_dim).
    m: DFF<Bits<16>>,
    /// Beat counter (24-bit twin of `i` where it counts beats).
    i24: DFF<Bits<24>>,
    /// Lane counter.
    ln: DFF<Bits<8>>,
    kt: DFF<Bits<24>>,
    kvh: DFF<Bits<24>>,
    sht: DFF<Bits<24>>,
    shh: DFF<Bits<24>>,
    cb: DFF<Bits<24>>,
    shd: DFF<Bits<24>>,
    vb: DFF<Bits<16>>,
    oa: DFF<Bits<16>>,
    vv: DFF<Bits<8>>,
    h: DFF<Bits<8>>,
    g: DFF<Bits<8>>,
    sq: DFF<Bits<5>>,
    ks: DFF<Bits<5>>,
    vs: DFF<Bits<5>>,
    areg: DFF<Signed<32>>,
    creg: DFF<Bits<18>>,
    // Tag pipeline: stage n describes the item issued n cycles ago (stage 1: its memory
    // data is on the read ports now).
    k1: DFF<Bits<4>>,
    k2: DFF<Bits<4>>,
    k3: DFF<Bits<4>>,
    k4: DFF<Bits<4>>,
    f1: DFF<Bit>,
    f2: DFF<Bit>,
    f3: DFF<Bit>,
    l1: DFF<Bit>,
    l2: DFF<Bit>,
    l3: DFF<Bit>,
    o1: DFF<Bit>,
    o2: DFF<Bit>,
    o3: DFF<Bit>,
    a1: DFF<Bits<16>>,
    a2: DFF<Bits<16>>,
    a3: DFF<Bits<16>>,
    a4: DFF<Bits<16>>,
    b1: DFF<Bits<24>>,
    b2: DFF<Bits<24>>,
    n1: DFF<Bits<8>>,
    n2: DFF<Bits<8>>,
    _cfg: Config,
    _ctx: usize,
}

/// The one-lane attention unit (one multiply-accumulate per cycle).
pub type AttnUnit = AttnUnitL<1>;

fn c4(v: u64) -> Constant<Bits<4>> {
    Constant::new(v.into())
}
fn c8(v: usize) -> Constant<Bits<8>> {
    Constant::new((v as u64).into())
}
fn c16(v: usize) -> Constant<Bits<16>> {
    Constant::new((v as u64).into())
}
fn c24(v: usize) -> Constant<Bits<24>> {
    Constant::new((v as u64).into())
}

impl<const L: usize> AttnUnitL<L> {
    /// A unit for the model's shape with a cache for the full context (`seq_len`).
    pub fn new(qm: &QuantModel) -> Self {
        Self::with_context(qm, qm.config.seq_len)
    }

    /// A unit whose cache (and RoPE table) hold `ctx <= seq_len` positions.
    pub fn with_context(qm: &QuantModel, ctx: usize) -> Self {
        let c = qm.config;
        let (dim, hd, nh, nkv, kvd) = (c.dim, c.head_dim(), c.n_heads, c.n_kv_heads, c.kv_dim());
        assert!(
            ctx >= 1 && ctx <= c.seq_len,
            "context {ctx} not in 1..=seq_len"
        );
        assert!(hd >= 2 && hd % 2 == 0 && nh % nkv == 0 && dim == nh * hd);
        assert!(
            L >= 1 && L <= 255 && hd % L == 0,
            "lanes {L} must divide head_dim {hd}"
        );
        assert!(ctx < 1 << 16 && ctx * hd <= 1 << 16, "RoPE table too large");
        assert!(dim + 2 * kvd <= 1 << 16);
        assert!(nh <= 255 && 2 * nkv <= 255 && c.n_layers <= 255);
        assert!(c.n_layers * ctx * kvd < 1 << 24, "cache too large");
        let beats = hd / L;
        let tb = numerics::Tables::get();
        let rope: Vec<u64> = qm.rope[..ctx * hd]
            .iter()
            .map(|&v| v as i64 as u64)
            .collect();
        let exp2: Vec<u64> = tb.exp2.iter().map(|&v| v as u64).collect();
        let recip: Vec<u64> = tb.recip.iter().map(|&v| v as u64).collect();
        let cache_words = c.n_layers * ctx * kvd / L;
        let shifts = c.n_layers * ctx * nkv;
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
            qkv: Default::default(),
            att: Default::default(),
            layer: Default::default(),
            pos: Default::default(),
            pos_error: Default::default(),
            op_rope: c4(OP_ROPE),
            op_kvstore: c4(OP_KVSTORE),
            op_attn: c4(OP_ATTN),
            dim16: c16(dim),
            hd16: c16(hd),
            hd_m1: c16(hd - 1),
            beats_m1: c16(beats - 1),
            rope_last: c16(dim + kvd - 1),
            beats24: c24(beats),
            roww24: c24(nkv * beats),
            nkv24: c24(nkv),
            lanes_m1: c8(L - 1),
            nkv_m1: c8(nkv - 1),
            nvec_m1: c8(2 * nkv - 1),
            nh_m1: c8(nh - 1),
            kvmul_m1: c8(nh / nkv - 1),
            zero4: c4(0),
            one4: c4(1),
            two4: c4(2),
            three4: c4(3),
            zero8: c8(0),
            one8: c8(1),
            zero16: c16(0),
            one16: c16(1),
            zero24: c24(0),
            one24: c24(1),
            s_idle: c4(0),
            s_refuse: c4(1),
            s_setup: c4(2),
            s_rope: c4(3),
            s_k_scan: c4(4),
            s_k_gap: c4(5),
            s_k_quant: c4(6),
            s_q_scan: c4(7),
            s_q_gap: c4(8),
            s_q_quant: c4(9),
            s_score: c4(10),
            s_exp: c4(11),
            s_av: c4(12),
            s_out: c4(13),
            s_drain: c4(14),
            k_none: c4(0),
            k_rope: c4(1),
            k_scan: c4(2),
            k_quant_k: c4(3),
            k_quant_v: c4(4),
            k_quant_q: c4(5),
            k_score: c4(6),
            k_exp: c4(7),
            k_av: c4(8),
            k_out: c4(9),
            bases: AttnBases::new(c.n_layers, ctx, kvd / L, nkv, hd),
            rope_rom: TableRom::new(rope),
            exp_rom: TableRom::new(exp2),
            recip_rom: TableRom::new(recip),
            kcache: LaneMem::new(cache_words),
            vcache: LaneMem::new(cache_words),
            kshift: Ram::new(shifts),
            vshift: Ram::new(shifts),
            qbuf: LaneMem::new(beats),
            sbuf: Ram::new(ctx),
            wbuf: Ram::new(ctx),
            blk: Default::default(),
            rot: Default::default(),
            dot: Default::default(),
            vacc: Default::default(),
            sfin: Default::default(),
            expw: Default::default(),
            ofin: Default::default(),
            state: Default::default(),
            nxt: Default::default(),
            drain: Default::default(),
            wide: Default::default(),
            i: Default::default(),
            t: Default::default(),
            m: Default::default(),
            i24: Default::default(),
            ln: Default::default(),
            kt: Default::default(),
            kvh: Default::default(),
            sht: Default::default(),
            shh: Default::default(),
            cb: Default::default(),
            shd: Default::default(),
            vb: Default::default(),
            oa: Default::default(),
            vv: Default::default(),
            h: Default::default(),
            g: Default::default(),
            sq: Default::default(),
            ks: Default::default(),
            vs: Default::default(),
            areg: Default::default(),
            creg: Default::default(),
            k1: Default::default(),
            k2: Default::default(),
            k3: Default::default(),
            k4: Default::default(),
            f1: Default::default(),
            f2: Default::default(),
            f3: Default::default(),
            l1: Default::default(),
            l2: Default::default(),
            l3: Default::default(),
            o1: Default::default(),
            o2: Default::default(),
            o3: Default::default(),
            a1: Default::default(),
            a2: Default::default(),
            a3: Default::default(),
            a4: Default::default(),
            b1: Default::default(),
            b2: Default::default(),
            n1: Default::default(),
            n2: Default::default(),
            _cfg: c,
            _ctx: ctx,
        }
    }

    /// Positions the cache holds.
    pub fn context(&self) -> usize {
        self._ctx
    }

    /// The model shape.
    pub fn config(&self) -> Config {
        self._cfg
    }

    /// Cycles of `op` at `pos` on this unit (see [`cycles`]).
    pub fn cycles(&self, op: u64, pos: usize) -> usize {
        cycles(&self._cfg, self._ctx, L, op, pos)
    }

    /// Simulated cache contents of (`layer`, `pos`): key mantissas, key shifts, value
    /// mantissas, value shifts (as `golden::KvCache` stores one position).
    pub fn peek_cache(&self, layer: usize, pos: usize) -> (Vec<i32>, Vec<u8>, Vec<i32>, Vec<u8>) {
        let c = self._cfg;
        let (kvd, nkv) = (c.kv_dim(), c.n_kv_heads);
        let row = layer * self._ctx + pos;
        let mant = |r: &LaneMem<L, 24, 11>| -> Vec<i32> {
            (0..kvd)
                .map(|i| sext(r.peek((row * kvd + i) / L, i % L), 11) as i32)
                .collect()
        };
        let sh =
            |r: &Ram<24, 5>| -> Vec<u8> { (0..nkv).map(|h| r.peek(row * nkv + h) as u8).collect() };
        (
            mant(&self.kcache),
            sh(&self.kshift),
            mant(&self.vcache),
            sh(&self.vshift),
        )
    }
}

impl<const L: usize> Logic for AttnUnitL<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, nxt, drain, wide, i, t, m, i24, ln, kt, kvh, sht, shh, cb, shd, vb,
            oa, vv, h, g, sq, ks, vs, areg, creg, k1, k2, k3, k4, f1, f2, f3, l1, l2, l3, o1, o2,
            o3, a1, a2, a3, a4, b1, b2, n1, n2
        );
        clock!(
            self, clock, bases, rope_rom, exp_rom, recip_rom, kcache, vcache, kshift, vshift, qbuf,
            sbuf, wbuf, blk, rot, dot, vacc, sfin, expw, ofin
        );
        // Parameters.
        self.bases.layer.next = self.layer.val();
        self.bases.pos.next = self.pos.val();
        self.pos_error.next = self.bases.pos_error.val();
        // Issue-stage addresses (meaningful in the states that use them).
        self.vm_raddr.next = self.vb.q.val() + self.i.q.val();
        self.rope_rom.addr.next = self.bases.rope_base.val() + self.m.q.val();
        self.qbuf.raddr.next = self.i24.q.val();
        self.kcache.raddr.next = self.kt.q.val() + self.i24.q.val();
        self.vcache.raddr.next = self.kt.q.val() + self.i24.q.val();
        self.kshift.raddr.next = self.sht.q.val();
        self.vshift.raddr.next = self.sht.q.val();
        self.sbuf.raddr.next = self.t.q.val();
        self.wbuf.raddr.next = self.t.q.val();
        self.exp_rom.addr.next = self.expw.idx.val();
        self.recip_rom.addr.next = self.expw.ridx.val();
        // Datapath wiring.
        self.blk.x.next = self.vm_rdata.val();
        self.blk.wide.next = self.wide.q.val();
        self.blk.en_scan.next = false;
        self.blk.en_q.next = false;
        self.blk.first.next = self.f1.q.val();
        self.rot.en.next = false;
        self.rot.a.next = self.areg.q.val();
        self.rot.cs.next = self.creg.q.val();
        self.rot.b.next = self.vm_rdata.val();
        self.rot.sn.next = self.rope_rom.data.val();
        self.dot.en.next = false;
        self.dot.first.next = self.f1.q.val();
        self.vacc.en.next = false;
        self.vacc.first.next = self.f1.q.val();
        self.vacc.w.next = self.wbuf.rdata.val();
        self.vacc.ld.next = false;
        self.vacc.sh.next = false;
        for j in 0..L {
            self.dot.qa[j].next = self.qbuf.rdata[j].val();
            self.dot.kb[j].next = self.kcache.rdata[j].val();
            self.vacc.vb[j].next = self.vcache.rdata[j].val();
        }
        self.sfin.en.next = false;
        self.sfin.first.next = self.o2.q.val();
        self.sfin.dot.next = self.dot.acc.val();
        self.sfin.sq.next = self.sq.q.val();
        self.sfin.ks.next = self.ks.q.val();
        self.sfin.vs.next = self.vs.q.val();
        self.expw.en_a.next = false;
        self.expw.s.next = self.sbuf.rdata.val();
        self.expw.mx.next = self.sfin.mx.val();
        self.expw.vs.next = self.vshift.rdata.val();
        self.expw.en_b.next = false;
        self.expw.first_b.next = self.o3.q.val();
        self.expw.tbl.next = self.exp_rom.data.val();
        self.expw.vmax.next = self.sfin.vmax.val();
        self.ofin.en.next = false;
        self.ofin.acc.next = self.vacc.so.val();
        self.ofin.r.next = self.recip_rom.data.val();
        self.ofin.vmax.next = self.sfin.vmax.val();
        self.ofin.pz.next = self.expw.pz.val();
        // Memory write ports.
        self.kcache.we.next = false;
        self.kcache.waddr.next = self.b2.q.val();
        self.kcache.wlane.next = self.n2.q.val();
        self.kcache.wdata.next = self.blk.y11.val();
        self.vcache.we.next = false;
        self.vcache.waddr.next = self.b2.q.val();
        self.vcache.wlane.next = self.n2.q.val();
        self.vcache.wdata.next = self.blk.y11.val();
        self.kshift.we.next = false;
        self.kshift.waddr.next = self.shd.q.val();
        self.kshift.wdata.next = self.blk.shift.val();
        self.vshift.we.next = false;
        self.vshift.waddr.next = self.shd.q.val();
        self.vshift.wdata.next = self.blk.shift.val();
        self.qbuf.we.next = false;
        self.qbuf.waddr.next = self.b2.q.val();
        self.qbuf.wlane.next = self.n2.q.val();
        self.qbuf.wdata.next = self.blk.y16.val();
        self.sbuf.we.next = false;
        self.sbuf.waddr.next = self.a3.q.val();
        self.sbuf.wdata.next = self.sfin.score.val();
        self.wbuf.we.next = false;
        self.wbuf.waddr.next = self.a4.q.val();
        self.wbuf.wdata.next = self.expw.w.val();
        self.vm_we.next = false;
        self.vm_waddr.next = self.a1.q.val();
        self.vm_wdata.next = self.ofin.y.val();
        self.done.next = false;

        // Tag pipeline: nothing issued unless the state says so.
        self.k1.d.next = self.k_none.val();
        self.f1.d.next = false;
        self.l1.d.next = false;
        self.o1.d.next = false;
        self.a1.d.next = self.zero16.val();
        self.b1.d.next = self.zero24.val();
        self.n1.d.next = self.zero8.val();
        self.k2.d.next = self.k1.q.val();
        self.k3.d.next = self.k2.q.val();
        self.k4.d.next = self.k3.q.val();
        self.f2.d.next = self.f1.q.val();
        self.f3.d.next = self.f2.q.val();
        self.l2.d.next = self.l1.q.val();
        self.l3.d.next = self.l2.q.val();
        self.o2.d.next = self.o1.q.val();
        self.o3.d.next = self.o2.q.val();
        self.a2.d.next = self.a1.q.val();
        self.a3.d.next = self.a2.q.val();
        self.a4.d.next = self.a3.q.val();
        self.b2.d.next = self.b1.q.val();
        self.n2.d.next = self.n1.q.val();

        // Stage 1: the data of the item issued in the previous cycle is on the read ports.
        if self.k1.q.val() == self.k_rope.val() {
            if self.f1.q.val() {
                self.rot.en.next = true;
            } else {
                self.areg.d.next = self.vm_rdata.val();
                self.creg.d.next = self.rope_rom.data.val();
            }
        }
        if self.k1.q.val() == self.k_scan.val() {
            self.blk.en_scan.next = true;
        }
        if (self.k1.q.val() == self.k_quant_k.val())
            | (self.k1.q.val() == self.k_quant_v.val())
            | (self.k1.q.val() == self.k_quant_q.val())
        {
            self.blk.en_q.next = true;
        }
        if self.k1.q.val() == self.k_score.val() {
            self.dot.en.next = true;
            if self.f1.q.val() {
                self.ks.d.next = self.kshift.rdata.val();
                self.vs.d.next = self.vshift.rdata.val();
            }
        }
        if self.k1.q.val() == self.k_exp.val() {
            self.expw.en_a.next = true;
        }
        if self.k1.q.val() == self.k_av.val() {
            self.vacc.en.next = true;
        }
        if self.k1.q.val() == self.k_out.val() {
            self.vm_we.next = true;
            self.vm_waddr.next = self.a1.q.val();
            self.vm_wdata.next = self.ofin.y.val();
        }
        // Stage 2.
        if (self.k2.q.val() == self.k_rope.val()) & self.f2.q.val() {
            self.vm_we.next = true;
            self.vm_waddr.next = self.a2.q.val() - self.one16.val();
            self.vm_wdata.next = self.rot.y0.val();
        }
        if self.k2.q.val() == self.k_quant_k.val() {
            self.kcache.we.next = true;
        }
        if self.k2.q.val() == self.k_quant_v.val() {
            self.vcache.we.next = true;
        }
        if self.k2.q.val() == self.k_quant_q.val() {
            self.qbuf.we.next = true;
        }
        if (self.k2.q.val() == self.k_score.val()) & self.l2.q.val() {
            self.sfin.en.next = true;
        }
        if (self.k2.q.val() == self.k_av.val()) & self.l2.q.val() {
            self.vacc.ld.next = true;
        }
        // Stage 3.
        if (self.k3.q.val() == self.k_rope.val()) & self.f3.q.val() {
            self.vm_we.next = true;
            self.vm_waddr.next = self.a3.q.val();
            self.vm_wdata.next = self.rot.y1.val();
        }
        if (self.k3.q.val() == self.k_score.val()) & self.l3.q.val() {
            self.sbuf.we.next = true;
        }
        if self.k3.q.val() == self.k_exp.val() {
            self.expw.en_b.next = true;
        }
        // Stage 4.
        if self.k4.q.val() == self.k_exp.val() {
            self.wbuf.we.next = true;
        }

        // Issue stage / control.
        if self.state.q.val() == self.s_idle.val() {
            if self.start.val() {
                if self.bases.bad.val()
                    | ((self.op.val() != self.op_rope.val())
                        & (self.op.val() != self.op_kvstore.val())
                        & (self.op.val() != self.op_attn.val()))
                {
                    self.state.d.next = self.s_refuse.val();
                } else {
                    self.state.d.next = self.s_setup.val();
                }
            }
        }
        if self.state.q.val() == self.s_refuse.val() {
            self.done.next = true;
            self.state.d.next = self.s_idle.val();
        }
        if self.state.q.val() == self.s_setup.val() {
            self.i.d.next = self.zero16.val();
            self.t.d.next = self.zero16.val();
            self.m.d.next = self.zero16.val();
            self.i24.d.next = self.zero24.val();
            self.ln.d.next = self.zero8.val();
            self.vv.d.next = self.zero8.val();
            self.h.d.next = self.zero8.val();
            self.g.d.next = self.zero8.val();
            if self.op.val() == self.op_rope.val() {
                self.vb.d.next = self.qkv.val();
                self.state.d.next = self.s_rope.val();
            }
            if self.op.val() == self.op_kvstore.val() {
                self.vb.d.next = self.qkv.val() + self.dim16.val();
                self.cb.d.next = self.bases.kv_pos.val();
                self.shd.d.next = self.bases.sh_pos.val();
                self.wide.d.next = false;
                self.state.d.next = self.s_k_scan.val();
            }
            if self.op.val() == self.op_attn.val() {
                self.vb.d.next = self.qkv.val();
                self.oa.d.next = self.att.val();
                self.kvh.d.next = self.bases.kv_layer.val();
                self.shh.d.next = self.bases.sh_layer.val();
                self.wide.d.next = true;
                self.state.d.next = self.s_q_scan.val();
            }
        }
        // ROPE: element i of q then k; pairs rotate when their second element arrives.
        if self.state.q.val() == self.s_rope.val() {
            self.k1.d.next = self.k_rope.val();
            self.f1.d.next = self.i.q.val().get_bit(0);
            self.a1.d.next = self.vb.q.val() + self.i.q.val();
            self.i.d.next = self.i.q.val() + self.one16.val();
            if self.m.q.val() == self.hd_m1.val() {
                self.m.d.next = self.zero16.val();
            } else {
                self.m.d.next = self.m.q.val() + self.one16.val();
            }
            if self.i.q.val() == self.rope_last.val() {
                self.state.d.next = self.s_drain.val();
                self.drain.d.next = self.two4.val();
                self.nxt.d.next = self.s_idle.val();
            }
        }
        // KVSTORE: per vector (k heads, then v heads): max scan, gap, quantise + store.
        if self.state.q.val() == self.s_k_scan.val() {
            self.k1.d.next = self.k_scan.val();
            self.f1.d.next = self.i.q.val() == self.zero16.val();
            self.i.d.next = self.i.q.val() + self.one16.val();
            if self.i.q.val() == self.hd_m1.val() {
                self.i.d.next = self.zero16.val();
                self.state.d.next = self.s_k_gap.val();
            }
        }
        if self.state.q.val() == self.s_k_gap.val() {
            self.state.d.next = self.s_k_quant.val();
        }
        if self.state.q.val() == self.s_k_quant.val() {
            if self.vv.q.val() > self.nkv_m1.val() {
                self.k1.d.next = self.k_quant_v.val();
            } else {
                self.k1.d.next = self.k_quant_k.val();
            }
            self.b1.d.next = self.cb.q.val() + self.i24.q.val();
            self.n1.d.next = self.ln.q.val();
            if self.i.q.val() == self.zero16.val() {
                if self.vv.q.val() > self.nkv_m1.val() {
                    self.vshift.we.next = true;
                } else {
                    self.kshift.we.next = true;
                }
            }
            self.i.d.next = self.i.q.val() + self.one16.val();
            self.ln.d.next = self.ln.q.val() + self.one8.val();
            if self.ln.q.val() == self.lanes_m1.val() {
                self.ln.d.next = self.zero8.val();
                self.i24.d.next = self.i24.q.val() + self.one24.val();
            }
            if self.i.q.val() == self.hd_m1.val() {
                self.i.d.next = self.zero16.val();
                self.i24.d.next = self.zero24.val();
                self.ln.d.next = self.zero8.val();
                self.vb.d.next = self.vb.q.val() + self.hd16.val();
                self.vv.d.next = self.vv.q.val() + self.one8.val();
                self.shd.d.next = self.shd.q.val() + self.one24.val();
                self.cb.d.next = self.cb.q.val() + self.beats24.val();
                if self.vv.q.val() == self.nkv_m1.val() {
                    self.cb.d.next = self.bases.kv_pos.val();
                    self.shd.d.next = self.bases.sh_pos.val();
                }
                if self.vv.q.val() == self.nvec_m1.val() {
                    self.state.d.next = self.s_drain.val();
                    self.drain.d.next = self.one4.val();
                    self.nxt.d.next = self.s_idle.val();
                } else {
                    self.state.d.next = self.s_k_scan.val();
                }
            }
        }
        // ATTN, per query head: max scan of q, gap, quantise q into the lane buffer.
        if self.state.q.val() == self.s_q_scan.val() {
            self.k1.d.next = self.k_scan.val();
            self.f1.d.next = self.i.q.val() == self.zero16.val();
            self.i.d.next = self.i.q.val() + self.one16.val();
            if self.i.q.val() == self.hd_m1.val() {
                self.i.d.next = self.zero16.val();
                self.state.d.next = self.s_q_gap.val();
            }
        }
        if self.state.q.val() == self.s_q_gap.val() {
            self.state.d.next = self.s_q_quant.val();
        }
        if self.state.q.val() == self.s_q_quant.val() {
            self.k1.d.next = self.k_quant_q.val();
            self.b1.d.next = self.i24.q.val();
            self.n1.d.next = self.ln.q.val();
            if self.i.q.val() == self.zero16.val() {
                self.sq.d.next = self.blk.shift.val();
            }
            self.i.d.next = self.i.q.val() + self.one16.val();
            self.ln.d.next = self.ln.q.val() + self.one8.val();
            if self.ln.q.val() == self.lanes_m1.val() {
                self.ln.d.next = self.zero8.val();
                self.i24.d.next = self.i24.q.val() + self.one24.val();
            }
            if self.i.q.val() == self.hd_m1.val() {
                self.i.d.next = self.zero16.val();
                self.i24.d.next = self.zero24.val();
                self.ln.d.next = self.zero8.val();
                self.t.d.next = self.zero16.val();
                self.kt.d.next = self.kvh.q.val();
                self.sht.d.next = self.shh.q.val();
                self.state.d.next = self.s_drain.val();
                self.drain.d.next = self.one4.val();
                self.nxt.d.next = self.s_score.val();
            }
        }
        // Scores: for t in 0..=pos, beats of L lanes.
        if self.state.q.val() == self.s_score.val() {
            self.k1.d.next = self.k_score.val();
            self.f1.d.next = self.i.q.val() == self.zero16.val();
            self.l1.d.next = self.i.q.val() == self.beats_m1.val();
            self.o1.d.next = self.t.q.val() == self.zero16.val();
            self.a1.d.next = self.t.q.val();
            self.i.d.next = self.i.q.val() + self.one16.val();
            self.i24.d.next = self.i24.q.val() + self.one24.val();
            if self.i.q.val() == self.beats_m1.val() {
                self.i.d.next = self.zero16.val();
                self.i24.d.next = self.zero24.val();
                self.t.d.next = self.t.q.val() + self.one16.val();
                self.kt.d.next = self.kt.q.val() + self.roww24.val();
                self.sht.d.next = self.sht.q.val() + self.nkv24.val();
                if self.t.q.val() == self.pos.val() {
                    self.t.d.next = self.zero16.val();
                    self.sht.d.next = self.shh.q.val();
                    self.state.d.next = self.s_drain.val();
                    self.drain.d.next = self.two4.val();
                    self.nxt.d.next = self.s_exp.val();
                }
            }
        }
        // Exponentials and aligned weights: for t in 0..=pos.
        if self.state.q.val() == self.s_exp.val() {
            self.k1.d.next = self.k_exp.val();
            self.o1.d.next = self.t.q.val() == self.zero16.val();
            self.a1.d.next = self.t.q.val();
            self.t.d.next = self.t.q.val() + self.one16.val();
            self.sht.d.next = self.sht.q.val() + self.nkv24.val();
            if self.t.q.val() == self.pos.val() {
                self.t.d.next = self.zero16.val();
                self.i.d.next = self.zero16.val();
                self.i24.d.next = self.zero24.val();
                self.kt.d.next = self.kvh.q.val();
                self.state.d.next = self.s_drain.val();
                self.drain.d.next = self.three4.val();
                self.nxt.d.next = self.s_av.val();
            }
        }
        // Weighted sum of values, one beat (L outputs) per pass over t in 0..=pos.
        if self.state.q.val() == self.s_av.val() {
            self.k1.d.next = self.k_av.val();
            self.f1.d.next = self.t.q.val() == self.zero16.val();
            self.l1.d.next = self.t.q.val() == self.pos.val();
            self.t.d.next = self.t.q.val() + self.one16.val();
            self.kt.d.next = self.kt.q.val() + self.roww24.val();
            if self.t.q.val() == self.pos.val() {
                self.t.d.next = self.zero16.val();
                self.kt.d.next = self.kvh.q.val();
                self.ln.d.next = self.zero8.val();
                self.state.d.next = self.s_drain.val();
                self.drain.d.next = self.one4.val();
                self.nxt.d.next = self.s_out.val();
            }
        }
        // Output: the L sums of the beat, one per cycle through the output rescale.
        if self.state.q.val() == self.s_out.val() {
            self.ofin.en.next = true;
            self.vacc.sh.next = true;
            self.k1.d.next = self.k_out.val();
            self.a1.d.next = self.oa.q.val();
            self.oa.d.next = self.oa.q.val() + self.one16.val();
            self.ln.d.next = self.ln.q.val() + self.one8.val();
            if self.ln.q.val() == self.lanes_m1.val() {
                self.ln.d.next = self.zero8.val();
                self.i.d.next = self.i.q.val() + self.one16.val();
                self.i24.d.next = self.i24.q.val() + self.one24.val();
                self.state.d.next = self.s_av.val();
                if self.i.q.val() == self.beats_m1.val() {
                    // Head finished: on to the next query head.
                    self.i.d.next = self.zero16.val();
                    self.i24.d.next = self.zero24.val();
                    self.vb.d.next = self.vb.q.val() + self.hd16.val();
                    self.h.d.next = self.h.q.val() + self.one8.val();
                    self.g.d.next = self.g.q.val() + self.one8.val();
                    if self.g.q.val() == self.kvmul_m1.val() {
                        self.g.d.next = self.zero8.val();
                        self.kvh.d.next = self.kvh.q.val() + self.beats24.val();
                        self.shh.d.next = self.shh.q.val() + self.one24.val();
                    }
                    if self.h.q.val() == self.nh_m1.val() {
                        self.state.d.next = self.s_drain.val();
                        self.drain.d.next = self.zero4.val();
                        self.nxt.d.next = self.s_idle.val();
                    } else {
                        self.state.d.next = self.s_q_scan.val();
                    }
                }
            }
        }
        if self.state.q.val() == self.s_drain.val() {
            self.drain.d.next = self.drain.q.val() - self.one4.val();
            if self.drain.q.val() == self.zero4.val() {
                self.state.d.next = self.nxt.q.val();
                if self.nxt.q.val() == self.s_idle.val() {
                    self.done.next = true;
                }
            }
        }
    }
}
