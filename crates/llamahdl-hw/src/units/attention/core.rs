//! The attention datapath ([`AttnCore`]): the q bank, the shared lane multipliers, the
//! score pass, the exponential / weighted-sum pass and the output rescale. A hand-written
//! leaf (native `update()` plus a Verilog body), co-simulated in `tests/attention.rs`.

use super::leaves::{shift_sat32, urshift};
use crate::bits::{i2s, index_bits, mask, sext, Addr};
use llamahdl_golden::numerics;
use rust_hdl::prelude::*;

/// Tables and the score memory of [`AttnCore`] (not copied every cycle).
struct CoreMem {
    exp2: Vec<u64>,
    recip: Vec<u64>,
    smem: Vec<i64>,
    /// q bank: `ng` words of `nl` raw 16-bit mantissas, and of `g` 5-bit shifts.
    ng: usize,
    qb: Vec<u64>,
    sb: Vec<u64>,
}

/// Native registers of [`AttnCore`].
#[derive(Clone)]
struct CoreState {
    hd: usize,
    g: usize,
    nl: usize,
    ctx: usize,
    q: Vec<i64>,
    sq: Vec<i64>,
    prod: Vec<i64>,
    // Score pipeline: P (products), T (tree), F (finish), then max / score memory.
    pv: bool,
    pf: bool,
    pt: usize,
    pks: Vec<i64>,
    vmax: Vec<i64>,
    tv: bool,
    tf: bool,
    tt: usize,
    tks: Vec<i64>,
    dot: Vec<i64>,
    fv: bool,
    ff: bool,
    ft: usize,
    sc: Vec<i64>,
    mx: Vec<i64>,
    srd: Vec<i64>,
    // Exp / weighted-sum pipeline, stages 1..6.
    ev: [bool; 6],
    ef: [bool; 6],
    d1: Vec<i64>,
    ix2: Vec<u64>,
    ip2: Vec<u64>,
    tb3: Vec<u64>,
    ip3: Vec<u64>,
    ex4: Vec<u64>,
    w5: Vec<u64>,
    vs: [Vec<i64>; 4],
    vm: [Vec<i64>; 5],
    z: Vec<u64>,
    acc: Vec<i64>,
    // Output pipeline, stages 1..5.
    oa: [i64; 3],
    oz1: u64,
    ovm: [i64; 3],
    pz: [i64; 2],
    fi2: u64,
    r3: u64,
    op4: i128,
    k4: i32,
}

/// The attention datapath for one group of `G` query heads (`NL = G·head_dim` active
/// lanes, lane `j` of head `j / head_dim`). All stages are registered; `t` below is the
/// cycle in which the named enable is high.
///
/// - q bank (`ng` words, one per head group): with `bwe`, lane
///   `blane` of word `bgrp` becomes `bdata`; with `bswe`, head `bshead` of the shift word
///   `bgrp` becomes `bsdata` (dropped past `ng`, the lanes or the heads). With `qld`, every
///   lane's q register and every head's q shift take word `lgrp` of the banks (old data if
///   written in the same edge; 0 past `ng`). The q registers change only with `qld`.
/// - Score pass (`s_en` high in cycle `t`: `mant` holds the key mantissas of position
///   `s_t`, `ksh`/`vsh` its shifts, routed per lane; head `g` reads lane `g·head_dim`'s
///   shifts): edge `t`: `prod[j] = q[j]·mant[j]`, `vmax[g] = max(first ? 0 : vmax[g],
///   vs)`; edge `t+1`: `dot[g] = Σ` of the head's products; edge `t+2`: `score[g] =
///   sat32(round(dot·2^(sq+ks−16)))`; edge `t+3`: the `G` scores to word `s_t` of the
///   score memory, `mx[g] = max(first ? score : mx[g], score)`.
/// - Score memory read: every edge, the word at `sm_raddr` is registered (0 past `ctx`).
/// - Exp pass (`e_en` high in cycle `t`: the score memory read port holds the scores of a
///   position, `mant` / `vsh` its values and value shifts): edge `t`: `d = max(0, mx −
///   s)`; `t+1`: `u = round(d·LOG2E/2^16)`, EXP2 index and `min(int(u), 32)`; `t+2`: the
///   EXP2 word; `t+3`: `e = round(tbl/2^int(u))` (0 from 32); `t+4`: `w = round(e /
///   2^(vmax−vs))`, `z[g] = (first ? 0 : z[g]) + e`; `t+5`: `prod[j] = w[head]·v[j]`
///   (when `s_en` is low); `t+6`: `acc[j] = (first ? 0 : acc[j]) + prod[j]`.
/// - Output (`o_en` high in cycle `t`, `o_head` the head of lane 0): edge `t`: takes
///   `acc[0]`, `z` and `vmax` of `o_head`, and shifts the accumulators down one lane
///   (unless they accumulate in that edge); `y = sat32(round(acc·R·2^(vmax−16−pz)))` with
///   `(R, pz) = recip(z)` is on `y` from cycle `t + 5`.
#[derive(LogicBlock)]
pub struct AttnCore<const A: usize> {
    pub clock: Signal<In, Clock>,
    pub bwe: Signal<In, Bit>,
    pub bgrp: Signal<In, Bits<8>>,
    pub blane: Signal<In, Addr>,
    pub bdata: Signal<In, Addr>,
    pub bswe: Signal<In, Bit>,
    pub bshead: Signal<In, Bits<8>>,
    pub bsdata: Signal<In, Bits<5>>,
    pub qld: Signal<In, Bit>,
    pub lgrp: Signal<In, Bits<8>>,
    pub mant: [Signal<In, Bits<11>>; A],
    pub ksh: [Signal<In, Bits<5>>; A],
    pub vsh: [Signal<In, Bits<5>>; A],
    pub s_en: Signal<In, Bit>,
    pub s_first: Signal<In, Bit>,
    pub s_t: Signal<In, Addr>,
    pub sm_raddr: Signal<In, Addr>,
    pub e_en: Signal<In, Bit>,
    pub e_first: Signal<In, Bit>,
    pub o_en: Signal<In, Bit>,
    pub o_head: Signal<In, Bits<8>>,
    pub y: Signal<Out, Signed<32>>,
    _s: Box<CoreState>,
    _m: CoreMem,
}

impl<const A: usize> AttnCore<A> {
    /// A core for `g` heads of `hd` elements (`g·hd <= A`), a score memory of `ctx`
    /// positions and a q bank of `ng` words (one per head group).
    pub fn new(hd: usize, g: usize, ctx: usize, ng: usize) -> Self {
        assert!(hd >= 1 && g >= 1 && g * hd <= A && g <= 255 && A <= 1 << 15);
        assert!((1..=255).contains(&ng), "AttnCore q bank");
        assert!(ctx >= 1 && ctx < 1 << 16, "AttnCore context");
        let tb = numerics::Tables::get();
        let nl = g * hd;
        Self {
            clock: Default::default(),
            bwe: Default::default(),
            bgrp: Default::default(),
            blane: Default::default(),
            bdata: Default::default(),
            bswe: Default::default(),
            bshead: Default::default(),
            bsdata: Default::default(),
            qld: Default::default(),
            lgrp: Default::default(),
            mant: array_init::array_init(|_| Default::default()),
            ksh: array_init::array_init(|_| Default::default()),
            vsh: array_init::array_init(|_| Default::default()),
            s_en: Default::default(),
            s_first: Default::default(),
            s_t: Default::default(),
            sm_raddr: Default::default(),
            e_en: Default::default(),
            e_first: Default::default(),
            o_en: Default::default(),
            o_head: Default::default(),
            y: Signal::new_with_default(Signed::default()),
            _s: Box::new(CoreState {
                hd,
                g,
                nl,
                ctx,
                q: vec![0; nl],
                sq: vec![0; g],
                prod: vec![0; nl],
                pv: false,
                pf: false,
                pt: 0,
                pks: vec![0; g],
                vmax: vec![0; g],
                tv: false,
                tf: false,
                tt: 0,
                tks: vec![0; g],
                dot: vec![0; g],
                fv: false,
                ff: false,
                ft: 0,
                sc: vec![0; g],
                mx: vec![0; g],
                srd: vec![0; g],
                ev: [false; 6],
                ef: [false; 6],
                d1: vec![0; g],
                ix2: vec![0; g],
                ip2: vec![0; g],
                tb3: vec![0; g],
                ip3: vec![0; g],
                ex4: vec![0; g],
                w5: vec![0; g],
                vs: std::array::from_fn(|_| vec![0; g]),
                vm: std::array::from_fn(|_| vec![0; nl]),
                z: vec![0; g],
                acc: vec![0; nl],
                oa: [0; 3],
                oz1: 0,
                ovm: [0; 3],
                pz: [0; 2],
                fi2: 0,
                r3: 0,
                op4: 0,
                k4: 0,
            }),
            _m: CoreMem {
                exp2: tb.exp2.iter().map(|&v| v as u64).collect(),
                recip: tb.recip.iter().map(|&v| v as u64).collect(),
                smem: vec![0; ctx * g],
                ng,
                qb: vec![0; ng * nl],
                sb: vec![0; ng * g],
            },
        }
    }
}

impl<const A: usize> Logic for AttnCore<A> {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        let o = (*self._s).clone();
        let s = &mut *self._s;
        let mem = &mut self._m;
        let (hd, g, nl) = (o.hd, o.g, o.nl);
        let s_en = self.s_en.val();
        let s_first = self.s_first.val();
        let e_en = self.e_en.val();
        let ksh = |j: usize| self.ksh[j].val().to_u64() as i64;
        let vsh = |j: usize| self.vsh[j].val().to_u64() as i64;
        // q bank: load (old data), then write.
        if self.qld.val() {
            let gi = self.lgrp.val().index();
            for j in 0..nl {
                s.q[j] = if gi < mem.ng {
                    sext(mem.qb[gi * nl + j], 16)
                } else {
                    0
                };
            }
            for h in 0..g {
                s.sq[h] = if gi < mem.ng {
                    mem.sb[gi * g + h] as i64
                } else {
                    0
                };
            }
        }
        let bg = self.bgrp.val().index();
        if self.bwe.val() && bg < mem.ng {
            let l = self.blane.val().index();
            if l < nl {
                mem.qb[bg * nl + l] = self.bdata.val().to_u64();
            }
        }
        if self.bswe.val() && bg < mem.ng {
            let h = self.bshead.val().index();
            if h < g {
                mem.sb[bg * g + h] = self.bsdata.val().to_u64();
            }
        }
        // Shared multipliers.
        for j in 0..nl {
            s.prod[j] = if s_en {
                o.q[j] * sext(self.mant[j].val().to_u64(), 11)
            } else {
                o.w5[j / hd] as i64 * o.vm[4][j]
            };
        }
        // Score pipeline.
        s.pv = s_en;
        s.pf = s_first;
        s.pt = self.s_t.val().index();
        for h in 0..g {
            s.pks[h] = ksh(h * hd);
            if s_en {
                let v = vsh(h * hd);
                s.vmax[h] = if s_first || v > o.vmax[h] {
                    v
                } else {
                    o.vmax[h]
                };
            }
        }
        s.tv = o.pv;
        s.tf = o.pf;
        s.tt = o.pt;
        s.tks.clone_from(&o.pks);
        for h in 0..g {
            s.dot[h] = o.prod[h * hd..(h + 1) * hd].iter().sum();
        }
        s.fv = o.tv;
        s.ff = o.tf;
        s.ft = o.tt;
        for h in 0..g {
            let k = (o.sq[h] + o.tks[h] - 16) as i32;
            s.sc[h] = shift_sat32(o.dot[h] as i128, k);
        }
        if o.fv {
            for h in 0..g {
                s.mx[h] = if o.ff || o.sc[h] > o.mx[h] {
                    o.sc[h]
                } else {
                    o.mx[h]
                };
            }
        }
        // Score memory: read (old data), then write.
        let ra = self.sm_raddr.val().index();
        for h in 0..g {
            s.srd[h] = if ra < o.ctx { mem.smem[ra * g + h] } else { 0 };
        }
        if o.fv && o.ft < o.ctx {
            mem.smem[o.ft * g..(o.ft + 1) * g].copy_from_slice(&o.sc);
        }
        // Exp / weighted-sum pipeline.
        s.ev = [e_en, o.ev[0], o.ev[1], o.ev[2], o.ev[3], o.ev[4]];
        s.ef = [
            self.e_first.val(),
            o.ef[0],
            o.ef[1],
            o.ef[2],
            o.ef[3],
            o.ef[4],
        ];
        for h in 0..g {
            s.d1[h] = (o.mx[h] - o.srd[h]).max(0);
            s.vs[0][h] = vsh(h * hd);
            let u = ((o.d1[h] as u64) * numerics::LOG2E_Q16 as u64 + (1 << 15)) >> 16;
            s.ix2[h] = (u & 0xFFFF) >> (16 - numerics::EXP2_BITS);
            s.ip2[h] = (u >> 16).min(32);
            s.vs[1][h] = o.vs[0][h];
            s.tb3[h] = mem.exp2[o.ix2[h] as usize];
            s.ip3[h] = o.ip2[h];
            s.vs[2][h] = o.vs[1][h];
            s.ex4[h] = if o.ip3[h] >= 32 {
                0
            } else {
                urshift(o.tb3[h], o.ip3[h] as u32)
            };
            s.vs[3][h] = o.vs[2][h];
            let dv = ((o.vmax[h] - o.vs[3][h]) & 31) as u32;
            s.w5[h] = urshift(o.ex4[h], dv) & mask(17);
            if o.ev[3] {
                let base = if o.ef[3] { 0 } else { o.z[h] };
                s.z[h] = (base + o.ex4[h]) & mask(32);
            }
        }
        for j in 0..nl {
            s.vm[0][j] = sext(self.mant[j].val().to_u64(), 11);
            for k in 1..5 {
                s.vm[k][j] = o.vm[k - 1][j];
            }
        }
        // Accumulators: accumulate, or shift down one lane for the output.
        if o.ev[5] {
            for j in 0..nl {
                let base = if o.ef[5] { 0 } else { o.acc[j] };
                s.acc[j] = sext(((base + o.prod[j]) as u64) & mask(48), 48);
            }
        } else if self.o_en.val() {
            for j in 0..nl {
                s.acc[j] = if j + 1 < nl { o.acc[j + 1] } else { 0 };
            }
        }
        // Output pipeline.
        let oh = self.o_head.val().index();
        s.oa[0] = o.acc[0];
        s.oz1 = if oh < g { o.z[oh] } else { 0 };
        s.ovm[0] = if oh < g { o.vmax[oh] } else { 0 };
        let (p, f) = numerics::normalise(o.oz1.max(1), numerics::RECIP_BITS);
        s.pz[0] = p as i64;
        s.fi2 = f as u64;
        s.oa[1] = o.oa[0];
        s.ovm[1] = o.ovm[0];
        s.r3 = mem.recip[o.fi2 as usize];
        s.pz[1] = o.pz[0];
        s.oa[2] = o.oa[1];
        s.ovm[2] = o.ovm[1];
        s.op4 = o.oa[2] as i128 * o.r3 as i128;
        s.k4 = (o.ovm[2] - 16 - o.pz[1]) as i32;
        self.y.next = i2s::<32>(shift_sat32(o.op4, o.k4));
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        let s = &*self._s;
        let mem = &self._m;
        let (hd, g, nl, ctx) = (s.hd, s.g, s.nl, s.ctx);
        let ib = index_bits(ctx).min(16);
        let gw = g * 32;
        let mut v = String::new();
        v += "\
localparam signed [111:0] MAX32 = 112'sd2147483647;
localparam signed [111:0] MIN32 = -112'sd2147483648;
localparam signed [127:0] OMAX32 = 128'sd2147483647;
localparam signed [127:0] OMIN32 = -128'sd2147483648;
integer i;
integer k;
";
        v += &format!(
            "reg [16:0] exp2 [0:1023];\nreg [16:0] rcp [0:1023];\nreg [{}:0] smem [0:{}];\nreg [{}:0] srd;\n",
            gw - 1,
            ctx - 1,
            gw - 1
        );
        // Per-lane registers.
        for j in 0..nl {
            v += &format!(
                "reg signed [15:0] q_{j};\nreg signed [28:0] pr_{j};\nreg signed [47:0] ac_{j};\n"
            );
            for st in 1..6 {
                v += &format!("reg signed [10:0] vm{st}_{j};\n");
            }
        }
        // q bank.
        let ng = mem.ng;
        let gb = index_bits(ng);
        let bank = |name: &str, w: usize| -> String {
            if ng == 1 {
                format!("reg [{}:0] {name};\n", w - 1)
            } else {
                format!("reg [{}:0] {name} [0:{}];\n", w - 1, ng - 1)
            }
        };
        let bank_rd = |name: &str, w: usize| -> String {
            if ng == 1 {
                format!("((lgrp == 8'd0) ? {name} : {w}'d0)")
            } else {
                format!("((lgrp < 8'd{ng}) ? {name}[lgrp[{}:0]] : {w}'d0)", gb - 1)
            }
        };
        let bank_wr = |name: &str, en: &str, data: &str| -> String {
            if ng == 1 {
                format!("   if ({en} && (bgrp == 8'd0)) {name} <= {data};\n")
            } else {
                format!(
                    "   if ({en} && (bgrp < 8'd{ng})) {name}[bgrp[{}:0]] <= {data};\n",
                    gb - 1
                )
            }
        };
        let bank_init = |name: &str, w: usize| -> String {
            if ng == 1 {
                format!("   {name} = {w}'d0;\n")
            } else {
                format!("`ifndef SYNTHESIS\n   for (i = 0; i < {ng}; i = i + 1) {name}[i] = {w}'d0;\n`endif\n")
            }
        };
        for j in 0..nl {
            v += &bank(&format!("qb_{j}"), 16);
        }
        for h in 0..g {
            v += &bank(&format!("sb_{h}"), 5);
        }
        // Per-head registers.
        for h in 0..g {
            v += &format!(
                "\
reg [4:0] sq_{h};
reg [4:0] pks_{h};
reg [4:0] vmax_{h};
reg [4:0] tks_{h};
reg signed [47:0] dot_{h};
reg [31:0] sc_{h};
reg [31:0] mx_{h};
reg [31:0] d1_{h};
reg [9:0] ix2_{h};
reg [5:0] ip2_{h};
reg [16:0] tb3_{h};
reg [5:0] ip3_{h};
reg [16:0] ex4_{h};
reg [16:0] w5_{h};
reg [4:0] vs1_{h};
reg [4:0] vs2_{h};
reg [4:0] vs3_{h};
reg [4:0] vs4_{h};
reg [31:0] z_{h};
"
            );
        }
        v += "\
reg pv;
reg pf;
reg [15:0] pt;
reg tv;
reg tf;
reg [15:0] tt;
reg fv;
reg ff;
reg [15:0] ft;
reg [5:0] ev;
reg [5:0] ef;
reg signed [47:0] oa1;
reg signed [47:0] oa2;
reg signed [47:0] oa3;
reg [31:0] oz1;
reg [4:0] ovm1;
reg [4:0] ovm2;
reg [4:0] ovm3;
reg [4:0] pz2;
reg [4:0] pz3;
reg [9:0] fi2;
reg [16:0] r3;
reg signed [65:0] op4;
reg signed [6:0] k4;
";
        // Tables and initial values.
        v += "initial begin\n";
        for (a, x) in mem.exp2.iter().enumerate() {
            v += &format!("   exp2[{a}] = 17'h{x:05x};\n");
        }
        for (a, x) in mem.recip.iter().enumerate() {
            v += &format!("   rcp[{a}] = 17'h{x:05x};\n");
        }
        v += &format!(
            "`ifndef SYNTHESIS\n   for (i = 0; i < {ctx}; i = i + 1) smem[i] = {gw}'d0;\n`endif\n   srd = {gw}'d0;\n"
        );
        for j in 0..nl {
            v += &bank_init(&format!("qb_{j}"), 16);
        }
        for h in 0..g {
            v += &bank_init(&format!("sb_{h}"), 5);
        }
        for j in 0..nl {
            v += &format!("   q_{j} = 16'sd0;\n   pr_{j} = 29'sd0;\n   ac_{j} = 48'sd0;\n");
            for st in 1..6 {
                v += &format!("   vm{st}_{j} = 11'sd0;\n");
            }
        }
        for h in 0..g {
            for r in [
                "sq", "pks", "vmax", "tks", "vs1", "vs2", "vs3", "vs4", "dot", "sc", "mx", "d1",
                "ix2", "ip2", "tb3", "ip3", "ex4", "w5", "z",
            ] {
                v += &format!("   {r}_{h} = 0;\n");
            }
        }
        for r in [
            "pv", "pf", "pt", "tv", "tf", "tt", "fv", "ff", "ft", "ev", "ef", "oa1", "oa2", "oa3",
            "oz1", "ovm1", "ovm2", "ovm3", "pz2", "pz3", "fi2", "r3", "op4", "k4", "y",
        ] {
            v += &format!("   {r} = 0;\n");
        }
        v += "end\n";
        // Combinational logic per head.
        let mut unused: Vec<String> = vec![];
        for h in 0..g {
            let l0 = h * hd;
            let terms: Vec<String> = (0..hd)
                .map(|i| format!("{{{{19{{pr_{j}[28]}}}}, pr_{j}}}", j = l0 + i))
                .collect();
            v += &format!(
                "\
wire [47:0] dsum_{h} = {sum};
wire signed [6:0] sk_{h} = $signed({{2'd0, sq_{h}}}) + $signed({{2'd0, tks_{h}}}) - 7'sd16;
wire [5:0] snk_{h} = 6'd0 - sk_{h}[5:0];
wire signed [111:0] sd_{h} = {{{{64{{dot_{h}[47]}}}}, dot_{h}}};
reg signed [111:0] swd_{h};
always @(*) begin
   if (!sk_{h}[6])
      swd_{h} = sd_{h} <<< sk_{h}[5:0];
   else
      swd_{h} = (sd_{h} + (112'sd1 <<< (snk_{h} - 6'd1))) >>> snk_{h};
end
wire [31:0] scn_{h} = (swd_{h} > MAX32) ? MAX32[31:0] : ((swd_{h} < MIN32) ? MIN32[31:0] : swd_{h}[31:0]);
wire [31:0] srd_{h} = srd[{shi}:{slo}];
wire signed [32:0] dd_{h} = $signed({{mx_{h}[31], mx_{h}}}) - $signed({{srd_{h}[31], srd_{h}}});
wire [50:0] pu_{h} = {{19'd0, d1_{h}}} * 51'd94548;
wire [50:0] u_{h} = (pu_{h} + 51'd32768) >> 16;
wire [5:0] ipn_{h} = (u_{h}[50:21] != 30'd0) ? 6'd32 : {{1'b0, u_{h}[20:16]}};
wire [31:0] t32_{h} = {{15'd0, tb3_{h}}};
wire [31:0] en_{h} = ip3_{h}[5] ? 32'd0 :
   ((ip3_{h} == 6'd0) ? t32_{h} : ((t32_{h} + (32'd1 << (ip3_{h}[4:0] - 5'd1))) >> ip3_{h}[4:0]));
wire [4:0] dv_{h} = vmax_{h} - vs4_{h};
wire [31:0] e32_{h} = {{15'd0, ex4_{h}}};
wire [31:0] wv_{h} = (dv_{h} == 5'd0) ? e32_{h} : ((e32_{h} + (32'd1 << (dv_{h} - 5'd1))) >> dv_{h});
",
                sum = terms.join(" + "),
                shi = h * 32 + 31,
                slo = h * 32,
            );
            unused.push(format!("u_{h}[5:0]"));
            unused.push(format!("en_{h}[31:17]"));
            unused.push(format!("wv_{h}[31:17]"));
        }
        for j in 0..A {
            let lane_used = j < nl;
            let head_lane = lane_used && j % hd == 0;
            if !lane_used {
                unused.push(format!("mant${j}"));
            }
            if !head_lane {
                unused.push(format!("ksh${j}"));
                unused.push(format!("vsh${j}"));
            }
        }
        // Per-lane multiplier operands.
        for j in 0..nl {
            let h = j / hd;
            v += &format!(
                "wire signed [17:0] ma_{j} = s_en ? {{{{2{{q_{j}[15]}}}}, q_{j}}} : {{1'b0, w5_{h}}};\nwire signed [10:0] mb_{j} = s_en ? mant${j} : vm5_{j};\n"
            );
        }
        // Output stage combinational logic.
        v += "reg [31:0] ozm;\nreg [4:0] ovmm;\nalways @(*) begin\n   ozm = 32'd0;\n   ovmm = 5'd0;\n   case (o_head)\n";
        for h in 0..g {
            v += &format!("   8'd{h}: begin\n      ozm = z_{h};\n      ovmm = vmax_{h};\n   end\n");
        }
        v += "   default: begin\n      ozm = 32'd0;\n      ovmm = 5'd0;\n   end\n   endcase\nend\n";
        v += "\
wire [31:0] oz = (oz1 == 32'd0) ? 32'd1 : oz1;
reg [4:0] op;
always @(*) begin
   op = 5'd0;
   for (k = 0; k < 32; k = k + 1) if (oz[k]) op = k[4:0];
end
wire [31:0] ofsh = (op >= 5'd10) ? (oz >> (op - 5'd10)) : (oz << (5'd10 - op));
wire signed [65:0] oa66 = {{18{oa3[47]}}, oa3};
wire signed [65:0] r66 = {49'd0, r3};
wire signed [127:0] op128 = {{62{op4[65]}}, op4};
wire [5:0] onk = 6'd0 - k4[5:0];
reg signed [127:0] owd;
always @(*) begin
   if (!k4[6])
      owd = op128 <<< k4[5:0];
   else
      owd = (op128 + (128'sd1 <<< (onk - 6'd1))) >>> onk;
end
";
        unused.push("ofsh[31:10]".into());
        // Registers.
        v += "always @(posedge clock) begin\n";
        for j in 0..nl {
            v += &format!(
                "   if (qld) q_{j} <= {};\n",
                bank_rd(&format!("qb_{j}"), 16)
            );
            v += &bank_wr(
                &format!("qb_{j}"),
                &format!("bwe && (blane == 16'd{j})"),
                "bdata",
            );
            v += &format!("   pr_{j} <= ma_{j} * mb_{j};\n");
            v += &format!("   vm1_{j} <= mant${j};\n");
            for st in 2..6 {
                v += &format!("   vm{st}_{j} <= vm{}_{j};\n", st - 1);
            }
            let next = if j + 1 < nl {
                format!("ac_{}", j + 1)
            } else {
                "48'sd0".to_string()
            };
            v += &format!(
                "   if (ev[5]) ac_{j} <= (ef[5] ? 48'sd0 : ac_{j}) + {{{{19{{pr_{j}[28]}}}}, pr_{j}}};\n   else if (o_en) ac_{j} <= {next};\n"
            );
        }
        for h in 0..g {
            let l0 = h * hd;
            v += &format!(
                "\
   if (qld) sq_{h} <= {rd};
{wr}   pks_{h} <= ksh${l0};
   if (s_en) vmax_{h} <= (s_first || (vsh${l0} > vmax_{h})) ? vsh${l0} : vmax_{h};
   tks_{h} <= pks_{h};
   dot_{h} <= dsum_{h};
   sc_{h} <= scn_{h};
   if (fv) mx_{h} <= (ff || ($signed(sc_{h}) > $signed(mx_{h}))) ? sc_{h} : mx_{h};
   d1_{h} <= dd_{h}[32] ? 32'd0 : dd_{h}[31:0];
   vs1_{h} <= vsh${l0};
   ix2_{h} <= u_{h}[15:6];
   ip2_{h} <= ipn_{h};
   vs2_{h} <= vs1_{h};
   tb3_{h} <= exp2[ix2_{h}];
   ip3_{h} <= ip2_{h};
   vs3_{h} <= vs2_{h};
   ex4_{h} <= en_{h}[16:0];
   vs4_{h} <= vs3_{h};
   w5_{h} <= wv_{h}[16:0];
   if (ev[3]) z_{h} <= (ef[3] ? 32'd0 : z_{h}) + e32_{h};
",
                rd = bank_rd(&format!("sb_{h}"), 5),
                wr = bank_wr(
                    &format!("sb_{h}"),
                    &format!("bswe && (bshead == 8'd{h})"),
                    "bsdata"
                ),
            );
        }
        let scores: Vec<String> = (0..g).rev().map(|h| format!("sc_{h}")).collect();
        v += &format!(
            "\
   pv <= s_en;
   pf <= s_first;
   pt <= s_t;
   tv <= pv;
   tf <= pf;
   tt <= pt;
   fv <= tv;
   ff <= tf;
   ft <= tt;
   srd <= (sm_raddr < 16'd{ctx}) ? smem[sm_raddr[{im}:0]] : {gw}'d0;
   if (fv && (ft < 16'd{ctx})) smem[ft[{im}:0]] <= {{{sc}}};
   ev <= {{ev[4:0], e_en}};
   ef <= {{ef[4:0], e_first}};
   oa1 <= ac_0;
   oz1 <= ozm;
   ovm1 <= ovmm;
   pz2 <= op;
   fi2 <= ofsh[9:0];
   oa2 <= oa1;
   ovm2 <= ovm1;
   r3 <= rcp[fi2];
   pz3 <= pz2;
   oa3 <= oa2;
   ovm3 <= ovm2;
   op4 <= oa66 * r66;
   k4 <= $signed({{2'd0, ovm3}}) - 7'sd16 - $signed({{2'd0, pz3}});
   y <= (owd > OMAX32) ? OMAX32[31:0] : ((owd < OMIN32) ? OMIN32[31:0] : owd[31:0]);
end
",
            im = ib - 1,
            sc = scores.join(", "),
        );
        v += &format!("wire unused_core = ^{{{}}};\n", unused.join(", "));
        Verilog::Custom(v)
    }
}
