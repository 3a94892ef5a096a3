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
//! - [`LaneShift`]: a word of L lanes out one lane per cycle through a shift register (the
//!   embedding lookup).
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

/// Pipeline latency of [`DotAcc`]: inputs presented in cycle c are in `acc` from cycle
/// c + 7, whatever the lane count (see [`DotAcc`] for the stages).
pub const DOT_LATENCY: usize = 7;

/// Adder-tree stages of [`DotAcc`], each summing groups of up to four terms, so up to
/// 4^3 = 64 lanes.
const DOT_TREE_STAGES: usize = 3;

/// L-lane block quantisation and multiply-accumulate, pipelined for the clock.
///
/// Each lane's raw input is converted to a 16-bit block mantissa
/// `m[i] = clamp(round(x[i] / 2^shift), ±32767)` (golden `block_mant` with the given
/// shift; `shift = 0` passes mantissas through), multiplied by its int8 weight, and the L
/// products are summed into a 40-bit accumulator (enough for any row of up to 2^17
/// products, so it never overflows). Stages, for a beat presented in cycle c (with `en`,
/// `first`), quantised with the `shift` of cycle c − 1 (it is registered beside every
/// four lanes' shifters: copies named `_dup`, which the flow keeps apart, instead of one
/// register driving every lane; the matrix-vector unit holds it for a whole operation):
///
/// | register in cycle | holds |
/// | --- | --- |
/// | c + 1 | `x >>> shift` and the rounding bit `x[shift − 1]` per lane (one 33-bit shifter); the weights |
/// | c + 2 | the clamped mantissas and the weights (the multipliers' input registers) |
/// | c + 3 | the L products (the multipliers' output registers) |
/// | c + 4 .. c + 6 | the adder tree: groups of four terms per stage (64 → 16 → 4 → 1; fewer lanes pass through) |
/// | c + 7 | `acc`: the sum added to the accumulator, or replacing it when `first` was high |
///
/// So `acc` shows the effect of a beat [`DOT_LATENCY`] cycles after it was presented; in
/// other cycles it holds. Every stage register loads every cycle; only `en` and `first`
/// travel with the data and decide whether the accumulator changes.
///
/// **The lane multipliers are lent.** The L multipliers (one MULT18X18D each: an 18-bit
/// signed by 11-bit signed product, inputs and output registered) are the decoder's only
/// bank of lane multipliers; the attention unit borrows them while it runs (it never runs
/// while the matrix-vector unit does). With `ext_sel` high in cycle c, the multipliers'
/// input registers take `ext_a`, `ext_b` instead of the beat of cycle c − 1, and `ext_p`
/// shows `ext_a · ext_b` from cycle c + 2 (29 bits, exact) until the next product. In
/// cycles more than two after the last `ext_sel` `ext_p` is not specified (the native model
/// holds the last borrowed product; the Verilog shows whatever the bank computes), and a
/// beat presented with `en` in cycle c − 1 is lost when `ext_sel` is high in cycle c:
/// [`DotAcc::collisions`] counts such cycles in simulation (tests require none).
#[derive(LogicBlock)]
pub struct DotAcc<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub en: Signal<In, Bit>,
    pub first: Signal<In, Bit>,
    pub shift: Signal<In, Bits<5>>,
    pub w: [Signal<In, Signed<8>>; L],
    pub x: [Signal<In, Signed<32>>; L],
    pub acc: Signal<Out, Signed<40>>,
    /// The borrowed multipliers (see above).
    pub ext_sel: Signal<In, Bit>,
    pub ext_a: [Signal<In, Signed<18>>; L],
    pub ext_b: [Signal<In, Signed<11>>; L],
    pub ext_p: [Signal<Out, Signed<29>>; L],
    /// The beats in flight, oldest first: `(en, first, exact sum of the products)`; the
    /// oldest reaches the accumulator on the next clock edge.
    _pipe: [(bool, bool, i64); DOT_LATENCY - 1],
    _acc: i64,
    /// `en` of the last cycle; the borrowed operands registered last edge (when `_ext`).
    _en1: bool,
    _ext: bool,
    _ea: [i64; L],
    _eb: [i64; L],
    _collisions: u64,
    /// `shift` of the last cycle (the registered copies).
    _sh1: u32,
}

impl<const L: usize> DotAcc<L> {
    /// Cycles in which `ext_sel` took the multipliers from a beat in flight (simulation).
    pub fn collisions(&self) -> u64 {
        self._collisions
    }
}

impl<const L: usize> Default for DotAcc<L> {
    fn default() -> Self {
        assert!(
            (1..=64).contains(&L),
            "DotAcc supports 1..=64 lanes (three 4-input adder stages)"
        );
        Self {
            clock: Default::default(),
            en: Default::default(),
            first: Default::default(),
            shift: Default::default(),
            w: array_init::array_init(|_| Default::default()),
            x: array_init::array_init(|_| Default::default()),
            acc: Signal::new_with_default(Signed::default()),
            ext_sel: Default::default(),
            ext_a: array_init::array_init(|_| Default::default()),
            ext_b: array_init::array_init(|_| Default::default()),
            ext_p: array_init::array_init(|_| Signal::new_with_default(Signed::default())),
            _pipe: [(false, false, 0); DOT_LATENCY - 1],
            _acc: 0,
            _en1: false,
            _ext: false,
            _ea: [0; L],
            _eb: [0; L],
            _collisions: 0,
            _sh1: 0,
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
            let (en, first, sum) = self._pipe[0];
            if en {
                let base = if first { 0 } else { self._acc };
                self._acc = wrap40(base + sum);
                self.acc.next = i2s::<40>(self._acc);
            }
            self._pipe.rotate_left(1);
            let en = self.en.val();
            let sh = self._sh1;
            self._sh1 = self.shift.val().to_u64() as u32;
            let sum = if en {
                (0..L)
                    .map(|i| {
                        s2i(self.w[i].val()) * block_mant(s2i(self.x[i].val()), sh, BLOCK16_BITS)
                    })
                    .sum()
            } else {
                0
            };
            self._pipe[DOT_LATENCY - 2] = (en, self.first.val(), sum);
            // The borrowed multipliers: the product of the operands registered last edge.
            if self._ext {
                for i in 0..L {
                    self.ext_p[i].next = i2s::<29>(self._ea[i] * self._eb[i]);
                }
            }
            self._ext = self.ext_sel.val();
            if self._ext {
                if self._en1 {
                    self._collisions += 1;
                }
                for i in 0..L {
                    self._ea[i] = s2i(self.ext_a[i].val());
                    self._eb[i] = s2i(self.ext_b[i].val());
                }
            }
            self._en1 = en;
        }
    }
    fn connect(&mut self) {
        self.acc.connect();
        for p in &mut self.ext_p {
            p.connect();
        }
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::new();
        let mut init = String::from("initial begin\n   acc = 40'sd0;\n");
        let mut seq = String::from("always @(posedge clock) begin\n");
        // Flags travel with the data: stage j of en/first is `ve[j]`/`vf[j]`, j = 1..=6.
        s += "reg [6:1] ve;\nreg [6:1] vf;\n";
        init += "   ve = 6'd0;\n   vf = 6'd0;\n";
        seq += "   ve <= {ve[5:1], en};\n   vf <= {vf[5:1], first};\n";
        seq += "   if (ve[6]) acc <= vf[6] ? tree_sum : (acc + tree_sum);\n";
        // The shift, registered once per four lanes.
        for g in 0..L.div_ceil(4) {
            s += &format!("reg [4:0] sh_dup{g};\n");
            init += &format!("   sh_dup{g} = 5'd0;\n");
            seq += &format!("   sh_dup{g} <= shift;\n");
        }
        // Stage 1: arithmetic shift and rounding bit. Stage 2: rounded, clamped mantissa:
        // `a + rb` leaves ±32767 exactly when `a > 32767`, `a = 32767` with `rb`,
        // `a < −32768`, or `a = −32768` without `rb`; otherwise its low 16 bits are the
        // mantissa, so the clamp needs no wide adder.
        for i in 0..L {
            s += &format!(
                "reg signed [31:0] a{i};\nreg rb{i};\nreg signed [7:0] w1_{i};\nreg signed [17:0] qm{i};\nreg signed [10:0] qw{i};\nwire signed [23:0] p{i} = ext_p${i}[23:0];\nwire tz{i} = ~|a{i}[31:15];\nwire to{i} = &a{i}[31:15];\nwire hi{i} = (~a{i}[31] & ~tz{i}) | (tz{i} & (&a{i}[14:0]) & rb{i});\nwire lo{i} = (a{i}[31] & ~to{i}) | (to{i} & (~|a{i}[14:0]) & ~rb{i});\nwire [15:0] rs{i} = a{i}[15:0] + {{15'd0, rb{i}}};\n"
            );
            init += &format!(
                "   a{i} = 32'sd0;\n   rb{i} = 1'b0;\n   w1_{i} = 8'sd0;\n   qm{i} = 18'sd0;\n   qw{i} = 11'sd0;\n   ext_p${i} = 29'sd0;\n"
            );
            // One 33-bit shifter gives both: bit 0 of `{x, 0} >>> shift` is x[shift − 1]
            // (0 for shift 0), no subtractor or second bit select in front of it.
            s += &format!(
                "wire signed [32:0] xs{i} = $signed({{x${i}, 1'b0}}) >>> sh_dup{};\n",
                i / 4
            );
            seq +=
                &format!("   a{i} <= xs{i}[32:1];\n   rb{i} <= xs{i}[0];\n   w1_{i} <= w${i};\n");
            seq += &format!(
                "   qm{i} <= ext_sel ? ext_a${i} : (hi{i} ? 18'sd32767 : (lo{i} ? -18'sd32767 : {{{{2{{rs{i}[15]}}}}, rs{i}}}));\n   qw{i} <= ext_sel ? ext_b${i} : {{{{3{{w1_{i}[7]}}}}, w1_{i}}};\n   ext_p${i} <= qm{i} * qw{i};\n"
            );
        }
        // Stages 4..6: the adder tree, groups of up to four per stage summed as two
        // levels of two-input adders. Terms of stage k are `t{k}_{j}`, 24 + 2k bits
        // (exact: a sum of 4^k products of 24 bits).
        let mut terms: Vec<String> = (0..L).map(|i| format!("p{i}")).collect();
        for k in 1..=DOT_TREE_STAGES {
            let (wi, wo) = (24 + 2 * (k - 1), 24 + 2 * k);
            let ext = |t: &String| format!("{{{{2{{{t}[{}]}}}}, {t}}}", wi - 1);
            let mut next = Vec::new();
            for (j, g) in terms.chunks(4).enumerate() {
                let e: Vec<String> = g.iter().map(ext).collect();
                let sum = match e.len() {
                    1 => e[0].clone(),
                    2 => format!("$signed({}) + $signed({})", e[0], e[1]),
                    3 => format!(
                        "($signed({}) + $signed({})) + $signed({})",
                        e[0], e[1], e[2]
                    ),
                    _ => format!(
                        "($signed({}) + $signed({})) + ($signed({}) + $signed({}))",
                        e[0], e[1], e[2], e[3]
                    ),
                };
                s += &format!("reg signed [{}:0] t{k}_{j};\n", wo - 1);
                init += &format!("   t{k}_{j} = {wo}'sd0;\n");
                seq += &format!("   t{k}_{j} <= {sum};\n");
                next.push(format!("t{k}_{j}"));
            }
            terms = next;
        }
        let wt = 24 + 2 * DOT_TREE_STAGES;
        s += &format!(
            "wire signed [39:0] tree_sum = {{{{{}{{t3_0[{}]}}}}, t3_0}};\n",
            40 - wt,
            wt - 1
        );
        assert_eq!(
            terms.len(),
            1,
            "DotAcc: more lanes than the adder tree holds"
        );
        init += "end\n";
        seq += "end\n";
        s += &init;
        s += &seq;
        Verilog::Custom(s)
    }
}

/// Pipeline latency of [`RowFinish`]: `y` shows the result of inputs presented with `en`
/// in cycle c from cycle c + 6.
pub const FINISH_LATENCY: usize = 6;

/// Row rescale: `y = sat32(shift_round(acc * mant, k))` (see
/// `llamahdl_golden::numerics::finish_row`), `k = exp + shift` (row exponent plus the
/// input block shift), pipelined for the clock. For inputs presented with `en` in cycle
/// c, the registers of cycle
///
/// | cycle | hold |
/// | --- | --- |
/// | c + 1 | `acc`, `mant` and `k` (the multipliers' input registers) |
/// | c + 2 | three partial products of `acc · mant` (17, 17 and 6 bits of `acc`; the multipliers' output registers) |
/// | c + 3 | the 49-bit product; the shift decoded (direction, amount) |
/// | c + 4 | the product shifted: left by `k` (`0 ≤ k ≤ 40`), or right by `−k − 1` (`k < 0`; the rounding bit stays in bit 0), or a saturate / zero flag |
/// | c + 5 | the rounded right shift `(t + 1) >>> 1`, or the left shift's overflow flag |
/// | c + 6 | `y`, saturated to 32 bits |
///
/// `y` changes only [`FINISH_LATENCY`] cycles after a cycle with `en`; it holds otherwise.
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
    /// Results in flight, oldest first (`None` for a cycle without `en`).
    _pipe: [Option<i32>; FINISH_LATENCY - 1],
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
            _pipe: [None; FINISH_LATENCY - 1],
        }
    }
}

impl Logic for RowFinish {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if let Some(y) = self._pipe[0] {
                self.y.next = i2s::<32>(y as i64);
            }
            self._pipe.rotate_left(1);
            self._pipe[FINISH_LATENCY - 2] = self.en.val().then(|| {
                let acc = s2i(self.acc.val());
                let mant = self.mant.val().to_u64() as i64;
                let k = s2i(self.exp.val()) as i32 + self.shift.val().to_u64() as i32;
                let v = llamahdl_golden::numerics::shift_round(acc * mant, k);
                llamahdl_golden::numerics::sat32(v)
            });
        }
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            "\
localparam [1:0] LEFT = 2'd0, RIGHT = 2'd1, SAT = 2'd2, ZERO = 2'd3;
reg e1, e2, e3, e4, e5;
reg signed [39:0] acc1;
reg [7:0] m1;
reg signed [9:0] k1, k2;
reg [5:0] ls3, rs3;
reg [1:0] kmode3;
reg [24:0] p0, p1;
reg signed [14:0] p2;
reg signed [48:0] prod3;
reg [1:0] mode4, mode5;
reg neg4, neg5, ovf5;
reg signed [88:0] wl4;
reg signed [48:0] t4, u5;
reg [31:0] lo5;
wire signed [9:0] nk2 = -k2;
wire signed [49:0] t4e = {t4[48], t4};
// Bit 0 of t + 1 is the dropped half of the rounding.
/* verilator lint_off UNUSEDSIGNAL */
wire signed [49:0] t4r = t4e + 50'sd1;
/* verilator lint_on UNUSEDSIGNAL */
wire hi_ones = &wl4[88:31];
wire hi_zeros = ~|wl4[88:31];
wire u_fits = (&u5[48:31]) | (~|u5[48:31]);
initial begin
   y = 32'sd0;
   e1 = 1'b0; e2 = 1'b0; e3 = 1'b0; e4 = 1'b0; e5 = 1'b0;
   acc1 = 40'sd0; m1 = 8'd0; k1 = 10'sd0; k2 = 10'sd0;
   ls3 = 6'd0; rs3 = 6'd0; kmode3 = LEFT;
   p0 = 25'd0; p1 = 25'd0; p2 = 15'sd0; prod3 = 49'sd0;
   mode4 = LEFT; mode5 = LEFT; neg4 = 1'b0; neg5 = 1'b0; ovf5 = 1'b0;
   wl4 = 89'sd0; t4 = 49'sd0; u5 = 49'sd0; lo5 = 32'd0;
end
always @(posedge clock) begin
   // c + 1: input registers.
   e1 <= en;
   acc1 <= acc;
   m1 <= mant;
   k1 <= {{2{exp[7]}}, exp} + $signed({5'd0, shift});
   // c + 2: partial products (acc = a2 * 2^34 + a1 * 2^17 + a0, a0 and a1 unsigned).
   e2 <= e1;
   k2 <= k1;
   p0 <= acc1[16:0] * m1;
   p1 <= acc1[33:17] * m1;
   p2 <= $signed(acc1[39:34]) * $signed({1'b0, m1});
   // c + 3: the product.
   // The shift decoded: mode (SAT stands for k > 40 until the product is known),
   // left amount k, right amount -k - 1.
   e3 <= e2;
   ls3 <= k2[5:0];
   rs3 <= nk2[5:0] - 6'd1;
   if (!k2[9]) kmode3 <= (k2 > 10'sd40) ? SAT : LEFT;
   else kmode3 <= (nk2 > 10'sd62) ? ZERO : RIGHT;
   prod3 <= $signed({24'd0, p0}) + $signed({7'd0, p1, 17'd0}) + $signed({p2, 34'd0});
   // c + 4: shift.
   e4 <= e3;
   neg4 <= prod3[48];
   wl4 <= {{40{prod3[48]}}, prod3} <<< ls3;
   t4 <= prod3 >>> rs3;
   mode4 <= ((kmode3 == SAT) && (prod3 == 49'sd0)) ? ZERO : kmode3;
   // c + 5: round, overflow flag.
   e5 <= e4;
   mode5 <= mode4;
   neg5 <= (mode4 == LEFT) ? wl4[88] : neg4;
   ovf5 <= ~(hi_ones | hi_zeros);
   lo5 <= wl4[31:0];
   u5 <= t4r[49:1];
   // c + 6: saturate.
   if (e5) begin
      case (mode5)
         LEFT: y <= ovf5 ? (neg5 ? 32'sh80000000 : 32'sh7fffffff) : lo5;
         RIGHT: y <= u_fits ? u5[31:0] : (u5[48] ? 32'sh80000000 : 32'sh7fffffff);
         SAT: y <= neg5 ? 32'sh80000000 : 32'sh7fffffff;
         default: y <= 32'sd0;
      endcase
   end
end
"
            .into(),
        )
    }
}

/// Words per block-RAM bank of [`LaneRom`] and [`ScaleRom`] (a DP16KD is 512 × 36).
pub const ROM_BANK: usize = 512;

/// Verilog of a ROM of `width`-bit words (`hex(a)`: word `a` in hex, `width / 4` digits)
/// read in [`MEM_LATENCY`] cycles into `word3`, addressed by `addr`. The words are split
/// into banks of [`ROM_BANK`] (`mem_k`); every bank's block RAM reads into its own read
/// register (`word_k`, inside the block RAM), then into a fabric register beside it that
/// holds the word only when the address was in that bank and in range (`w2_k`, 0
/// otherwise), and `word3` is the OR of those. So no block-RAM output and no bank select
/// precedes a long route in one cycle: the routes across the chip start from `w2_k`.
fn banked_rom_v(width: usize, depth: usize, hex: impl Fn(usize) -> String) -> String {
    let banks = depth.div_ceil(ROM_BANK);
    let w1 = width - 1;
    let mut s = String::new();
    let mut init = String::from("initial begin\n");
    let mut seq = String::from("always @(posedge clock) begin\n");
    let bb = 16 - ROM_BANK.trailing_zeros() as usize;
    s += &format!(
        "reg [{}:0] bsel1;\nreg inr1;\nreg [{w1}:0] word3;\n",
        bb - 1
    );
    init += "   bsel1 = 0;\n   inr1 = 1'b0;\n   word3 = 0;\n";
    seq += &format!(
        "   bsel1 <= addr[15:{}];\n   inr1 <= (addr < 16'd{depth});\n",
        16 - bb
    );
    let mut or = vec![];
    for k in 0..banks {
        let bd = (depth - k * ROM_BANK).min(ROM_BANK);
        s += &format!(
            "reg [{w1}:0] mem_{k} [0:{}];\nreg [{w1}:0] word_{k};\nreg [{w1}:0] w2_{k};\n",
            bd - 1
        );
        for a in 0..bd {
            init += &format!("   mem_{k}[{a}] = {width}'h{};\n", hex(k * ROM_BANK + a));
        }
        init += &format!("   word_{k} = 0;\n   w2_{k} = 0;\n");
        seq += &format!(
            "   word_{k} <= mem_{k}[{}];\n   w2_{k} <= (inr1 && bsel1 == {bb}'d{k}) ? word_{k} : {width}'d0;\n",
            mem_index("addr", bd)
        );
        or.push(format!("w2_{k}"));
    }
    seq += &format!("   word3 <= {};\n", or.join(" | "));
    init += "end\n";
    seq += "end\n";
    s + &init + &seq
}

/// Read latency of the matrix-vector unit's memories ([`LaneRom`], [`ScaleRom`],
/// [`XMem`]): `data` shows the word addressed in cycle c from cycle c + 3 — the block
/// RAM's own read register, a register in the fabric beside it (with the bank select,
/// see [`banked_rom_v`]), then the register after the banks' OR, so that no logic and no
/// long route follows a block RAM output in the same cycle.
pub const MEM_LATENCY: usize = 3;

/// L lanes of int8 weights, one word of L values per address, read in
/// [`MEM_LATENCY`] cycles (`data` shows `mem[addr]` two cycles after `addr`). Depth is the length of the
/// contents given at construction (addresses past it read 0); the Verilog initialises
/// the memory inline so synthesis keeps the contents (block RAM on ECP5).
#[derive(LogicBlock)]
pub struct LaneRom<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Addr>,
    pub data: [Signal<Out, Signed<8>>; L],
    _mem: Vec<[i8; L]>,
    /// The word read at the last edge (the block RAM's read register), and the one
    /// before (the bank registers).
    _word: [i8; L],
    _word2: [i8; L],
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
            _word: [0; L],
            _word2: [0; L],
        }
    }
    pub fn depth(&self) -> usize {
        self._mem.len()
    }
}

impl<const L: usize> Logic for LaneRom<L> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            for (d, v) in self.data.iter_mut().zip(self._word2) {
                d.next = i2s::<8>(v as i64);
            }
            self._word2 = self._word;
            let a = self.addr.val().index();
            self._word = self._mem.get(a).copied().unwrap_or([0; L]);
        }
    }
    fn connect(&mut self) {
        for d in &mut self.data {
            d.connect();
        }
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let mut s = banked_rom_v(8 * L, depth, |a| {
            self._mem[a]
                .iter()
                .rev()
                .map(|v| format!("{:02x}", *v as u8))
                .collect()
        });
        for i in 0..L {
            s += &format!("always @(*) data${i} = word3[{}:{}];\n", 8 * i + 7, 8 * i);
        }
        Verilog::Custom(s)
    }
}

/// Row scales: `(mant, exp)` per row, read in [`MEM_LATENCY`] cycles like [`LaneRom`].
#[derive(LogicBlock)]
pub struct ScaleRom {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Addr>,
    pub mant: Signal<Out, Bits<8>>,
    pub exp: Signal<Out, Signed<8>>,
    _mem: Vec<(u8, i8)>,
    _word: (u8, i8),
    _word2: (u8, i8),
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
            _word: (0, 0),
            _word2: (0, 0),
        }
    }
}

impl Logic for ScaleRom {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let (m, e) = self._word2;
            self.mant.next = u2b::<8>(m as u64);
            self.exp.next = i2s::<8>(e as i64);
            self._word2 = self._word;
            self._word = self
                ._mem
                .get(self.addr.val().index())
                .copied()
                .unwrap_or((0, 0));
        }
    }
    fn connect(&mut self) {
        self.mant.connect();
        self.exp.connect();
    }
    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let mut s = banked_rom_v(16, depth, |a| {
            let (m, e) = self._mem[a];
            format!("{:02x}{:02x}", m, e as u8)
        });
        s += "always @(*) mant = word3[15:8];\nalways @(*) exp = word3[7:0];\n";
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
/// elements at once (`pwe`, `pwidx` = element index of the first, **a multiple of
/// [`XP`]**, `pwdata[XP]`; with `L < XP` one group spans several words); one L-wide read
/// port (`rdata` shows word `raddr` [`MEM_LATENCY`] cycles later). Each lane is its own
/// small memory.
///
/// Writes are registered before they reach the memories ([`XMEM_WRITE_LATENCY`]): with
/// `L >= XP` each lane's write (enable, word, data) is decoded from the ports and
/// registered, so no port mux or lane decode sits in front of the memories (the group
/// port's lane group is `pwidx`'s bits above the group, an OR, no adder); with `L < XP` the
/// ports themselves are registered and decoded after. A write presented in cycle c is in
/// the memory at the edge ending cycle c + 1: a read with `raddr` in cycle c + 2 or later
/// returns it (in cycle c + 1 the read sees the old word).
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
    _word: [i64; L],
    _word2: [i64; L],
    /// The writes registered at the last edge: (word, lane, value).
    _pend: Vec<(usize, usize, i64)>,
}

/// Cycles [`XMem`] holds a write in its registers before the memory takes it.
pub const XMEM_WRITE_LATENCY: usize = 1;

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
            _word: [0; L],
            _word2: [0; L],
            _pend: Vec::new(),
        }
    }

    /// The writes the ports ask for this cycle: (word, lane, value), in range.
    fn decode_writes(&self) -> Vec<(usize, usize, i64)> {
        let depth = self._mem.len();
        let mut w = Vec::new();
        if self.wwe.val() {
            let a = self.wwaddr.val().index();
            if a < depth {
                for i in 0..L {
                    w.push((a, i, s2i(self.wwdata[i].val())));
                }
            }
        } else if self.swe.val() {
            let e = self.swaddr.val().index();
            if e / L < depth {
                w.push((e / L, e % L, s2i(self.swdata.val())));
            }
        } else if self.pwe.val() {
            let e0 = self.pwidx.val().index();
            for j in 0..XP {
                // With L >= XP the hardware ORs the offset in (`pwidx` a multiple of XP).
                let e = if L >= XP { e0 | j } else { e0 + j };
                if e / L < depth {
                    w.push((e / L, e % L, s2i(self.pwdata[j].val())));
                }
            }
        }
        w
    }
}

impl<const L: usize> Logic for XMem<L> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            for (d, v) in self.rdata.iter_mut().zip(self._word2) {
                d.next = i2s::<32>(v);
            }
            self._word2 = self._word;
            self._word = self
                ._mem
                .get(self.raddr.val().index())
                .copied()
                .unwrap_or([0; L]);
            for (a, i, v) in std::mem::take(&mut self._pend) {
                self._mem[a][i] = v;
            }
            self._pend = self.decode_writes();
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
        let ab = ((usize::BITS - (depth - 1).leading_zeros()) as usize).max(1);
        let mut s = String::from("integer i;\n");
        for i in 0..L {
            s += &format!(
                "reg [31:0] m{i} [0:{}];\nreg [31:0] rd{i};\ninitial rd{i} = 32'd0;\nreg [31:0] rq{i};\ninitial rq{i} = 32'd0;\n",
                depth - 1
            );
        }
        s += "reg rinr;\ninitial rinr = 1'b0;\n";
        // The registered writes.
        let wide = L >= XP;
        if wide {
            s += &format!(
                "wire [15:0] sword = swaddr >> {lb};\nwire [15:0] pword = pwidx >> {lb};\n"
            );
            for i in 0..L {
                s += &format!("reg we{i};\nreg [31:0] wd{i};\n");
                if depth > 1 {
                    s += &format!("reg [{}:0] wa{i};\n", ab - 1);
                }
            }
        } else {
            s += "reg r_wwe;\nreg [15:0] r_wwaddr;\nreg r_swe;\nreg [15:0] r_swaddr;\nreg [31:0] r_swdata;\nreg r_pwe;\nreg [15:0] r_pwidx;\n";
            for i in 0..L {
                s += &format!("reg [15:0] r_wwdata{i};\n");
            }
            for j in 0..XP {
                s += &format!("reg [31:0] r_pwdata{j};\n");
            }
            s += &format!("wire [15:0] sword = r_swaddr >> {lb};\n");
            for j in 0..XP {
                s += &format!(
                    "wire [15:0] pe{j} = r_pwidx + 16'd{j};\nwire [15:0] pw{j} = pe{j} >> {lb};\n"
                );
            }
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
        if wide {
            for i in 0..L {
                s += &format!("   we{i} = 1'b0;\n   wd{i} = 32'd0;\n");
                if depth > 1 {
                    s += &format!("   wa{i} = {ab}'d0;\n");
                }
            }
        } else {
            s += "   r_wwe = 1'b0;\n   r_wwaddr = 16'd0;\n   r_swe = 1'b0;\n   r_swaddr = 16'd0;\n   r_swdata = 32'd0;\n   r_pwe = 1'b0;\n   r_pwidx = 16'd0;\n";
            for i in 0..L {
                s += &format!("   r_wwdata{i} = 16'd0;\n");
            }
            for j in 0..XP {
                s += &format!("   r_pwdata{j} = 32'd0;\n");
            }
        }
        s += "end\nalways @(posedge clock) begin\n";
        s += &format!("   rinr <= (raddr < 16'd{depth});\n");
        for i in 0..L {
            // The read (LUT RAM), the range check, then one more register to meet the
            // ROMs' [`MEM_LATENCY`].
            s += &format!(
                "   rd{i} <= m{i}[{ri}];\n   rq{i} <= rinr ? rd{i} : 32'd0;\n   rdata${i} <= rq{i};\n"
            );
        }
        if wide {
            // The word register (none for a one-word memory).
            let wa_set = |i: usize, a: &str| {
                if depth > 1 {
                    format!("      wa{i} <= {a}[{}:0];\n", ab - 1)
                } else {
                    String::new()
                }
            };
            for i in 0..L {
                s += &format!(
                    "   if (we{i}) m{i}[{}] <= wd{i};\n",
                    mem_index(&format!("wa{i}"), depth)
                );
            }
            s += "   if (wwe) begin\n";
            for i in 0..L {
                s += &format!(
                    "      we{i} <= (wwaddr < 16'd{depth});\n{}      wd{i} <= {{{{16{{wwdata${i}[15]}}}}, wwdata${i}}};\n",
                    wa_set(i, "wwaddr")
                );
            }
            s += "   end else if (swe) begin\n";
            for i in 0..L {
                s += &format!(
                    "      we{i} <= (sword < 16'd{depth}) && (swaddr[{}:0] == {lb}'d{i});\n{}      wd{i} <= swdata;\n",
                    lb - 1,
                    wa_set(i, "sword")
                );
            }
            s += "   end else if (pwe) begin\n";
            let gb = XP.trailing_zeros() as usize;
            for i in 0..L {
                let hit = if lb > gb {
                    format!(" && (pwidx[{}:{gb}] == {}'d{})", lb - 1, lb - gb, i >> gb)
                } else {
                    String::new()
                };
                s += &format!(
                    "      we{i} <= (pword < 16'd{depth}){hit};\n{}      wd{i} <= pwdata${};\n",
                    wa_set(i, "pword"),
                    i % XP
                );
            }
            s += "   end else begin\n";
            for i in 0..L {
                s += &format!("      we{i} <= 1'b0;\n");
            }
            s += "   end\n";
        } else {
            s += "   r_wwe <= wwe;\n   r_wwaddr <= wwaddr;\n   r_swe <= swe;\n   r_swaddr <= swaddr;\n   r_swdata <= swdata;\n   r_pwe <= pwe;\n   r_pwidx <= pwidx;\n";
            for i in 0..L {
                s += &format!("   r_wwdata{i} <= wwdata${i};\n");
            }
            for j in 0..XP {
                s += &format!("   r_pwdata{j} <= pwdata${j};\n");
            }
            let wi = mem_index("r_wwaddr", depth);
            s += &format!("   if (r_wwe) begin\n      if (r_wwaddr < 16'd{depth}) begin\n");
            for i in 0..L {
                s += &format!(
                    "         m{i}[{wi}] <= {{{{16{{r_wwdata{i}[15]}}}}, r_wwdata{i}}};\n"
                );
            }
            let sw = mem_index("sword", depth);
            s += &format!("      end\n   end else if (r_swe && (sword < 16'd{depth})) begin\n");
            for i in 0..L {
                s += &format!(
                    "      if (r_swaddr[{}:0] == {lb}'d{i}) m{i}[{sw}] <= r_swdata;\n",
                    lb - 1
                );
            }
            s += "   end else if (r_pwe) begin\n";
            for j in 0..XP {
                s += &format!("      if (pw{j} < 16'd{depth}) begin\n");
                let pwi = mem_index(&format!("pw{j}"), depth);
                for i in 0..L {
                    s += &format!(
                        "         if (pe{j}[{}:0] == {lb}'d{i}) m{i}[{pwi}] <= r_pwdata{j};\n",
                        lb - 1
                    );
                }
                s += "      end\n";
            }
            s += "   end\n";
        }
        s += "end\n";
        Verilog::Custom(s)
    }
}

/// A word of L int8 lanes serialised one lane per cycle through a shift register (the
/// embedding lookup), so that no L-to-1 multiplexer sits between the memory and the
/// output. At a clock edge with `load` high, `y` becomes lane 0 of `data` (sign-extended
/// to 40 bits) and the register takes lanes 1 .. L; at an edge with `load` low, `y`
/// becomes the next lane held (lane `k` at the `k`-th edge after the load; 0 past lane
/// L − 1). `y` is registered: one edge from `data` to `y`.
#[derive(LogicBlock)]
pub struct LaneShift<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub load: Signal<In, Bit>,
    pub data: [Signal<In, Signed<8>>; L],
    pub y: Signal<Out, Signed<40>>,
    _sh: [i64; L],
}

impl<const L: usize> Default for LaneShift<L> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            load: Default::default(),
            data: array_init::array_init(|_| Default::default()),
            y: Signal::new_with_default(Signed::default()),
            _sh: [0; L],
        }
    }
}

impl<const L: usize> Logic for LaneShift<L> {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        if self.load.val() {
            self.y.next = i2s::<40>(s2i(self.data[0].val()));
            for i in 0..L {
                self._sh[i] = if i + 1 < L {
                    s2i(self.data[i + 1].val())
                } else {
                    0
                };
            }
        } else {
            self.y.next = i2s::<40>(self._sh[0]);
            self._sh.rotate_left(1);
            self._sh[L - 1] = 0;
        }
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::new();
        for i in 0..L {
            s += &format!("reg signed [7:0] sh{i};\n");
        }
        s += "initial begin\n   y = 40'sd0;\n";
        for i in 0..L {
            s += &format!("   sh{i} = 8'sd0;\n");
        }
        // The load takes `data$0` into `y` and `data$1 ..` into the register; a shift takes
        // `sh0` and `sh1 ..`.
        let step = |src: &str, sep: &str| {
            let mut b = format!("      y <= {{{{32{{{src}{sep}0[7]}}}}, {src}{sep}0}};\n");
            for i in 0..L {
                if i + 1 < L {
                    b += &format!("      sh{i} <= {src}{sep}{};\n", i + 1);
                } else {
                    b += &format!("      sh{i} <= 8'sd0;\n");
                }
            }
            b
        };
        s += "end\nalways @(posedge clock) begin\n   if (load) begin\n";
        s += &step("data", "$");
        s += "   end else begin\n";
        s += &step("sh", "");
        s += "   end\nend\n";
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

macro_rules! delay_line {
    ($(#[$doc:meta])* $name:ident, $ty:ident, $to:expr, $from:expr, $signed:literal) => {
        $(#[$doc])*
        #[derive(LogicBlock)]
        pub struct $name<const W: usize> {
            pub clock: Signal<In, Clock>,
            pub d: Signal<In, $ty<W>>,
            pub q: Signal<Out, $ty<W>>,
            _line: std::collections::VecDeque<i64>,
        }

        impl<const W: usize> $name<W> {
            /// A delay of `depth` clock cycles (at least 1).
            pub fn new(depth: usize) -> Self {
                assert!(depth >= 1 && W <= 64, "delay line depth and width");
                Self {
                    clock: Default::default(),
                    d: Default::default(),
                    q: Signal::new_with_default(Default::default()),
                    // The values in flight besides the one `q` shows.
                    _line: std::iter::repeat(0).take(depth - 1).collect(),
                }
            }
            pub fn depth(&self) -> usize {
                self._line.len() + 1
            }
        }

        impl<const W: usize> Logic for $name<W> {
            fn update(&mut self) {
                if self.clock.pos_edge() {
                    self._line.push_back($to(self.d.val()));
                    let v = self._line.pop_front().unwrap_or(0);
                    self.q.next = $from(v);
                }
            }
            fn connect(&mut self) {
                self.q.connect();
            }
            fn hdl(&self) -> Verilog {
                let n = self._line.len() + 1;
                let mut s = String::new();
                let sg = if $signed { "signed " } else { "" };
                for j in 1..n {
                    s += &format!("reg {sg}[{}:0] r{j};\ninitial r{j} = 0;\n", W - 1);
                }
                s += "initial q = 0;\nalways @(posedge clock) begin\n";
                if n == 1 {
                    s += "   q <= d;\n";
                } else {
                    s += "   r1 <= d;\n";
                    for j in 2..n {
                        s += &format!("   r{j} <= r{};\n", j - 1);
                    }
                    s += &format!("   q <= r{};\n", n - 1);
                }
                s += "end\n";
                Verilog::Custom(s)
            }
        }
    };
}

delay_line!(
    /// `q` is `d` of `depth` cycles earlier (a shift register of `Bits<W>`; 0 at first).
    /// Carries the tags (row, flags, scales) of a datapath along its pipeline stages.
    Delay,
    Bits,
    |v: Bits<W>| v.to_u64() as i64,
    |v: i64| u2b::<W>(v as u64),
    false
);

delay_line!(
    /// [`Delay`] for `Signed<W>` values.
    DelayS,
    Signed,
    |v: Signed<W>| s2i(v),
    |v: i64| i2s::<W>(v),
    true
);

/// [`Delay`] for one `Bit` (a valid or last flag).
#[derive(LogicBlock)]
pub struct DelayBit {
    pub clock: Signal<In, Clock>,
    pub d: Signal<In, Bit>,
    pub q: Signal<Out, Bit>,
    _line: std::collections::VecDeque<bool>,
}

impl DelayBit {
    /// A delay of `depth` clock cycles (at least 1).
    pub fn new(depth: usize) -> Self {
        assert!(depth >= 1, "delay line depth");
        Self {
            clock: Default::default(),
            d: Default::default(),
            q: Signal::new_with_default(false),
            _line: std::iter::repeat(false).take(depth - 1).collect(),
        }
    }
}

impl Logic for DelayBit {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self._line.push_back(self.d.val());
            self.q.next = self._line.pop_front().unwrap_or(false);
        }
    }
    fn connect(&mut self) {
        self.q.connect();
    }
    fn hdl(&self) -> Verilog {
        let n = self._line.len() + 1;
        let mut s = String::from("initial q = 1'b0;\n");
        if n == 1 {
            s += "always @(posedge clock) q <= d;\n";
        } else {
            s += &format!(
                "reg [{}:0] r;\ninitial r = 0;\nalways @(posedge clock) begin\n",
                n - 2
            );
            if n == 2 {
                s += "   r <= d;\n   q <= r[0];\nend\n";
            } else {
                s += &format!(
                    "   r <= {{r[{}:0], d}};\n   q <= r[{}];\nend\n",
                    n - 3,
                    n - 2
                );
            }
        }
        Verilog::Custom(s)
    }
}

/// L lanes of `Signed<8>` registered once (`q` shows `d` of the cycle before): aligns a
/// one-cycle memory (the QKV weight buffer) with the [`MEM_LATENCY`] of the ROMs.
#[derive(LogicBlock)]
pub struct LaneReg<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub d: [Signal<In, Signed<8>>; L],
    pub q: [Signal<Out, Signed<8>>; L],
}

impl<const L: usize> Default for LaneReg<L> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            d: array_init::array_init(|_| Default::default()),
            q: array_init::array_init(|_| Signal::new_with_default(Signed::default())),
        }
    }
}

impl<const L: usize> Logic for LaneReg<L> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            for i in 0..L {
                self.q[i].next = self.d[i].val();
            }
        }
    }
    fn connect(&mut self) {
        for q in &mut self.q {
            q.connect();
        }
    }
    fn hdl(&self) -> Verilog {
        let mut s = String::from("initial begin\n");
        for i in 0..L {
            s += &format!("   q${i} = 8'sd0;\n");
        }
        s += "end\nalways @(posedge clock) begin\n";
        for i in 0..L {
            s += &format!("   q${i} <= d${i};\n");
        }
        s += "end\n";
        Verilog::Custom(s)
    }
}
