//! The attention datapath ([`AttnCore`]): the q bank, the shared lane multipliers, the
//! score pass, the exponential / weighted-sum pass and the output rescale. A hand-written
//! leaf (native `update()` plus a Verilog body), co-simulated in `tests/attention.rs`.

use super::leaves::{msb32_verilog, sat_stages_verilog, shift_sat32, urshift};
use crate::bits::{i2s, index_bits, mask, s2i, sext, Addr};
use crate::leaf::XP;
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

/// A chain of `n` registers of `w` values each, as a ring: `get(i)` is the value pushed
/// `i` edges before the last push (register `i + 1` of the chain).
#[derive(Clone)]
struct Ring {
    n: usize,
    w: usize,
    head: usize,
    d: Vec<i64>,
}

impl Ring {
    fn new(n: usize, w: usize) -> Self {
        Self {
            n,
            w,
            head: 0,
            d: vec![0; n * w],
        }
    }
    fn get(&self, i: usize) -> &[i64] {
        let k = (self.head + self.n - i) % self.n;
        &self.d[k * self.w..(k + 1) * self.w]
    }
    /// The oldest register (read it before the push).
    fn last(&self) -> &[i64] {
        self.get(self.n - 1)
    }
    fn push(&mut self) -> &mut [i64] {
        self.head = (self.head + 1) % self.n;
        let k = self.head;
        &mut self.d[k * self.w..(k + 1) * self.w]
    }
}

/// Stage counts of the pipelines (edges; see [`AttnCore`]).
/// Score item in cycle `t`: its score is written (and the maximum updated) at edge
/// `t + SCORE_LAT`.
pub const SCORE_LAT: usize = 8;
/// Exp item in cycle `t`: its `z` term is added at edge `t + 9`, its accumulator term at
/// edge `t + EXP_LAT`.
pub const EXP_LAT: usize = 13;
/// Output item in cycle `t`: its value is on `y` from cycle `t + OUT_LAT`.
pub const OUT_LAT: usize = 12;

/// Native registers of [`AttnCore`], named as in the Verilog.
struct CoreState {
    hd: usize,
    g: usize,
    /// Multiplier lanes in use (`min(g·hd, A)`), q lanes (`g·hd`), chunks of a head
    /// (`ceil(hd / A)`, 1 unless `hd > A`) and lanes of a head's adder tree.
    nl: usize,
    nq: usize,
    ch: usize,
    hl: usize,
    ctx: usize,
    /// Outputs per issue (1 or [`XP`]).
    k: usize,
    q: Vec<i64>,
    sq: Vec<i64>,
    /// The q bank's registered write port: (`bwe`, `bgrp`, `blane`, `bdata`, `bswe`,
    /// `bshead`, `bsdata`).
    bw: (bool, usize, usize, u64, bool, usize, u64),
    /// The products of the borrowed lane multipliers, as read at this edge.
    pr: Vec<i64>,
    /// Score tags: register `i` holds the item of `i + 1` cycles ago.
    sv: [bool; 8],
    sf: [bool; 8],
    st: [usize; 8],
    /// Chunk tags of score items (with more than one chunk): first chunk, last chunk.
    cf: [bool; 8],
    cl: [bool; 8],
    pks: Vec<i64>,
    vmax: Vec<i64>,
    k1: Vec<i64>,
    k2: Vec<i64>,
    k3: Vec<i64>,
    dot2: Vec<i64>,
    dot3: Vec<i64>,
    /// Scratch: the adder trees' sums of this edge.
    dtmp: Vec<i64>,
    /// `sat32(round(dot·2^k))` from edge `t + 4`; register 3 is the score (`sc`).
    sr: Ring,
    mx: Vec<i64>,
    srd: Vec<i64>,
    // Exp / weighted-sum pipeline.
    ev: [bool; 13],
    ef: [bool; 13],
    srdr: Vec<i64>,
    vs1: Vec<i64>,
    d1: Vec<i64>,
    /// `vmax − vs` from edge `t + 1` (register 7: `dv8`).
    dv: Ring,
    /// `e` from edge `t + 2` (register 6: `ex`, edge `t + 8`).
    ed: Ring,
    xw: Vec<i64>,
    w: Vec<i64>,
    /// Value mantissas from edge `t` (register 10: `vm11`).
    vm: Ring,
    z: Vec<u64>,
    acc: Vec<i64>,
    // Output: the snapshot of the group (accumulators shifted down `k` lanes per issue,
    // z, vmax), then the pipeline (`k` accumulators per issue, one z and vmax).
    oacc: Vec<i64>,
    ozs: Vec<u64>,
    ovs: Vec<i64>,
    oa1: Vec<i64>,
    oz1: u64,
    ovm1: i64,
    /// The `k` outputs from edge `t + 1` (register 10: `y`, edge `t + 11`).
    yd: Ring,
}

/// The attention datapath for one group of `G` query heads (`NL = G·head_dim` active
/// lanes, lane `j` of head `j / head_dim`), or for one head of `head_dim > A` elements
/// in `C` chunks of the `A` lanes ([`AttnCore::with_chunks`]: `G = 1`, `NL = A`, the q
/// registers hold all `head_dim` elements). All stages are registered; `t` below is the
/// cycle in which the named enable is high, "edge `t + n`" the clock edge ending cycle
/// `t + n`.
///
/// With chunks, a score item's chunk `s_chunk` (in cycle `t`) selects the q operands
/// (`m_a[j] = q[s_chunk·A + j]`, 0 past `head_dim`); the tags "first chunk" and "last
/// chunk" travel with the item: at edge `t+3` `dot = first ? sum : dot + sum` (the
/// chunks' partial sums, 48 bits), and only the last chunk's item writes the score
/// memory and updates the maximum at edge `t+8`. Everything else is as below.
///
/// - q bank (`ng` words, one per head group), written one edge after its (registered)
///   write port: with `bwe` in cycle `t`, lane `blane` of word `bgrp` becomes `bdata` at
///   edge `t + 1`; with `bswe`, head `bshead` of the shift word `bgrp` becomes `bsdata`
///   (dropped past `ng`, the lanes or the heads). With `qld`, every
///   lane's q register and every head's q shift take word `lgrp` of the banks (old data if
///   written in the same edge; 0 past `ng`). The q registers change only with `qld`.
/// - Lane multipliers: borrowed from the matrix-vector unit ([`crate::leaf::DotAcc`]'s
///   `ext_*` ports): the core drives the operands combinationally: with `s_en` `m_a[j] = q[j]`,
///   `m_b[j] = mant[j]`; in an exp item's operand cycle (edge `t + 11` below) `m_a[j] =
///   w[head]`, `m_b[j] = v[j]`; 0 otherwise and past the group's lanes; `m_sel` is high in
///   both kinds of cycle; the bank registers them at edge `t` and the
///   product at edge `t + 1`, read on `m_p` (so the timing below is that of multipliers
///   inside the core).
/// - Score pass (`s_en` high in cycle `t`: `mant` holds the key mantissas of position
///   `s_t`, `ksh`/`vsh` its shifts, routed per lane; head `g` reads lane `g·head_dim`'s
///   shifts): edge `t`: operands, the value shift registered (`vs1`); `t+1`:
///   products, `k = sq + ks − 16`, `vmax[g] = max(first ? 0 : vmax[g], vs)`; `t+2`, `t+3`: the head's adder tree (groups of 4, then
///   their sum: `dot`); `t+4` .. `t+7`: `score = sat32(round(dot·2^k))` (4 stages); edge
///   `t+8` ([`SCORE_LAT`]): the `G` scores to word `s_t` of the score memory, `mx[g] =
///   max(first ? score : mx[g], score)`.
/// - Score memory read: every edge, the word at `sm_raddr` is registered (0 past `ctx`).
/// - Exp pass (`e_en` high in cycle `t`: the score memory read port holds the scores of a
///   position, `mant` / `vsh` its values and value shifts): edge `t`: the scores
///   registered, the value mantissas into a delay line (to `t+10`); `t+1`: `d = max(0, mx
///   − s)`, `dv = vmax − vs`; `t+2`: `d·LOG2E` (two 17-bit products); `t+3`: their sum;
///   `t+4`: `u = round(·/2^16)`: EXP2 index and `min(int(u), 32)`; `t+5`: the EXP2 word;
///   `t+6`: registered; `t+7`, `t+8`: `e = round(tbl/2^int(u))` (0 from 32); `t+9`: `z[g]
///   = (first ? 0 : z[g]) + e`, and `t+9`, `t+10`: `w = round(e / 2^dv)`; `t+11`:
///   operands `w[head]`, `v[j]` (when `s_en` is low); `t+12`: products; `t+13`
///   ([`EXP_LAT`]): `acc[j] = (first ? 0 : acc[j]) + prod[j]`.
/// - Output, `K` elements per item (`K` = `k` of [`AttnCore::new`]: 1, or [`XP`] when
///   `K` divides `head_dim`, so that the `K` elements of an item are consecutive elements
///   of one head and share its `z` and `vmax`). An output item in cycle `t`, `o_head` the
///   head of lane 0: the group's first item with `o_ld`: edge `t` takes `acc[0 .. K]`, `z`
///   and `vmax` of `o_head` and copies the accumulators shifted down `K` lanes, `z` and
///   `vmax` into the output snapshot (so the next group's passes may run while the outputs
///   drain); the next ones with `o_en` (and `o_ld` low): edge `t` takes lanes `0 .. K` of
///   the snapshot and `z`, `vmax` of `o_head` from it, and shifts the snapshot down `K`
///   lanes; `y[i] = sat32(round(acc_i·R·2^(vmax−16−pz)))` with `(R, pz) = recip(z)` is on
///   `y[i]` (`i < K`; `y[i]` is 0 from `K` on) from cycle `t + 12` ([`OUT_LAT`]): `t+1`:
///   the bit length of `z`; `t+2`: its fraction; `t+3`: RECIP word; `t+4`: registered,
///   the shift; `t+5`: per element, three 17-bit slices of `acc_i` times R (3 multipliers
///   each); `t+6`, `t+7`: their sum; `t+8` .. `t+11`: `sat32(round(·))`. Only the
///   products, their sums and the saturating shift are per element.
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
    /// The chunk of a score item (heads of more than `A` elements; ignored otherwise).
    pub s_chunk: Signal<In, Bits<8>>,
    pub sm_raddr: Signal<In, Addr>,
    pub e_en: Signal<In, Bit>,
    pub e_first: Signal<In, Bit>,
    pub o_en: Signal<In, Bit>,
    pub o_ld: Signal<In, Bit>,
    pub o_head: Signal<In, Bits<8>>,
    /// The `K` outputs of an item (see above).
    pub y: [Signal<Out, Signed<32>>; XP],
    /// The borrowed lane multipliers (see above).
    pub m_sel: Signal<Out, Bit>,
    pub m_a: [Signal<Out, Signed<18>>; A],
    pub m_b: [Signal<Out, Signed<11>>; A],
    pub m_p: [Signal<In, Signed<29>>; A],
    _s: Box<CoreState>,
    _m: CoreMem,
}

impl<const A: usize> AttnCore<A> {
    /// A core for `g` heads of `hd` elements (`g·hd <= A`), a score memory of `ctx`
    /// positions, a q bank of `ng` words (one per head group) and `k` outputs per output
    /// item (1, or [`XP`] when it divides `hd`).
    pub fn new(hd: usize, g: usize, ctx: usize, ng: usize, k: usize) -> Self {
        Self::with_chunks(hd, g, ctx, ng, k, 1)
    }

    /// As [`AttnCore::new`], for heads of `hd > A` elements split into `ch = ceil(hd / A)`
    /// chunks of `A` lanes (`g = 1`; `ch = 1` is [`AttnCore::new`]): lane `j` of chunk
    /// `c` is element `c·A + j` of the head. A score item names its chunk (`s_chunk`):
    /// the operands are the chunk's q elements (0 past `hd`), the head's dot product is
    /// accumulated over the chunks (items of one position in consecutive cycles, chunk
    /// `0 .. ch`) and its score written (and the maximum updated) only by the last
    /// chunk's item. The exp pass and the output work on the `A` lanes as for a group.
    pub fn with_chunks(hd: usize, g: usize, ctx: usize, ng: usize, k: usize, ch: usize) -> Self {
        assert!(hd >= 1 && g >= 1 && g <= 255 && A <= 1 << 15);
        assert!(
            (ch == 1 && g * hd <= A) || (ch > 1 && g == 1 && ch == hd.div_ceil(A) && ch <= 255),
            "AttnCore: {g} heads of {hd} in {ch} chunks on {A} lanes"
        );
        assert!(
            k == 1 || (k == XP && hd % XP == 0 && (ch == 1 || A % XP == 0)),
            "AttnCore: {k} outputs per item (1, or {XP} dividing head_dim {hd})"
        );
        assert!((1..=255).contains(&ng), "AttnCore q bank");
        assert!(ctx >= 1 && ctx < 1 << 16, "AttnCore context");
        assert!(hd <= 256, "AttnCore: head_dim at most 256");
        let tb = numerics::Tables::get();
        let nq = g * hd;
        let nl = nq.min(A);
        let hl = hd.min(A);
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
            s_chunk: Default::default(),
            sm_raddr: Default::default(),
            e_en: Default::default(),
            e_first: Default::default(),
            o_en: Default::default(),
            o_ld: Default::default(),
            o_head: Default::default(),
            y: array_init::array_init(|_| Signal::new_with_default(Signed::default())),
            m_sel: Default::default(),
            m_a: array_init::array_init(|_| Default::default()),
            m_b: array_init::array_init(|_| Default::default()),
            m_p: array_init::array_init(|_| Default::default()),
            _s: Box::new(CoreState {
                hd,
                g,
                nl,
                nq,
                ch,
                hl,
                ctx,
                k,
                q: vec![0; nq],
                sq: vec![0; g],
                bw: (false, 0, 0, 0, false, 0, 0),
                pr: vec![0; nl],
                sv: [false; 8],
                sf: [false; 8],
                st: [0; 8],
                cf: [false; 8],
                cl: [false; 8],
                pks: vec![0; g],
                vmax: vec![0; g],
                k1: vec![0; g],
                k2: vec![0; g],
                k3: vec![0; g],
                dot2: vec![0; g],
                dot3: vec![0; g],
                dtmp: vec![0; g],
                sr: Ring::new(4, g),
                mx: vec![0; g],
                srd: vec![0; g],
                ev: [false; 13],
                ef: [false; 13],
                srdr: vec![0; g],
                vs1: vec![0; g],
                d1: vec![0; g],
                dv: Ring::new(8, g),
                ed: Ring::new(7, g),
                xw: vec![0; g],
                w: vec![0; g],
                vm: Ring::new(11, nl),
                z: vec![0; g],
                acc: vec![0; nl],
                oacc: vec![0; nl],
                ozs: vec![0; g],
                ovs: vec![0; g],
                oa1: vec![0; k],
                oz1: 0,
                ovm1: 0,
                yd: Ring::new(11, k),
            }),
            _m: CoreMem {
                exp2: tb.exp2.iter().map(|&v| v as u64).collect(),
                recip: tb.recip.iter().map(|&v| v as u64).collect(),
                smem: vec![0; ctx * g],
                ng,
                qb: vec![0; ng * nq],
                sb: vec![0; ng * g],
            },
        }
    }
}

impl<const A: usize> Logic for AttnCore<A> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.edge();
        }
        // The borrowed multipliers' operands (combinational).
        let s = &*self._s;
        let s_en = self.s_en.val();
        self.m_sel.next = s_en | s.ev[10];
        let vm11 = s.vm.last();
        // The chunk's q elements (lane j of chunk c: element c·A + j).
        let qoff = if s.ch > 1 {
            self.s_chunk.val().index() * A
        } else {
            0
        };
        for j in 0..s.nl {
            if s_en {
                let qe = s.q.get(qoff + j).copied().unwrap_or(0);
                self.m_a[j].next = i2s::<18>(qe);
                self.m_b[j].next = i2s::<11>(sext(self.mant[j].val().to_u64(), 11));
            } else if s.ev[10] {
                self.m_a[j].next = i2s::<18>(s.w[j / s.hd]);
                self.m_b[j].next = i2s::<11>(vm11[j]);
            } else {
                self.m_a[j].next = i2s::<18>(0);
                self.m_b[j].next = i2s::<11>(0);
            }
        }
    }
    fn connect(&mut self) {
        for y in &mut self.y {
            y.connect();
        }
        self.m_sel.connect();
        for j in 0..A {
            self.m_a[j].connect();
            self.m_b[j].connect();
        }
    }
    fn hdl(&self) -> Verilog {
        self.verilog()
    }
}

impl<const A: usize> AttnCore<A> {
    /// One clock edge of the native model.
    fn edge(&mut self) {
        // Every register reads the old value of the registers it depends on: the stages
        // are updated from the last to the first.
        let s = &mut *self._s;
        let mem = &mut self._m;
        let (hd, g, nl) = (s.hd, s.g, s.nl);
        // The products registered last edge in the borrowed multipliers.
        for j in 0..nl {
            s.pr[j] = s2i(self.m_p[j].val());
        }
        let s_en = self.s_en.val();
        let e_en = self.e_en.val();
        let o_en = self.o_en.val();
        // Output pipeline: the results of the item taken last edge enter the delay line
        // (one reciprocal and shift, `k` products).
        let k = s.k;
        {
            let (p, f) = numerics::normalise(s.oz1.max(1), numerics::RECIP_BITS);
            let r = mem.recip[f];
            let sh = (s.ovm1 - 16 - p as i64) as i32;
            let oa1 = &s.oa1;
            let yv = s.yd.push();
            for i in 0..k {
                yv[i] = shift_sat32(oa1[i] as i128 * r as i128, sh);
            }
        }
        {
            let y = s.yd.get(10);
            for i in 0..XP {
                self.y[i].next = i2s::<32>(if i < k { y[i] } else { 0 });
            }
        }
        let oh = self.o_head.val().index();
        let o_ld = self.o_ld.val();
        if o_ld {
            // The first item of a group: straight from the accumulators, z and vmax,
            // which are copied (the accumulators shifted down `k` lanes).
            for i in 0..k {
                s.oa1[i] = if i < nl { s.acc[i] } else { 0 };
            }
            s.oz1 = if oh < g { s.z[oh] } else { 0 };
            s.ovm1 = if oh < g { s.vmax[oh] } else { 0 };
            for j in 0..nl {
                s.oacc[j] = if j + k < nl { s.acc[j + k] } else { 0 };
            }
            s.ozs.copy_from_slice(&s.z);
            s.ovs.copy_from_slice(&s.vmax);
        } else {
            for i in 0..k {
                s.oa1[i] = if i < nl { s.oacc[i] } else { 0 };
            }
            s.oz1 = if oh < g { s.ozs[oh] } else { 0 };
            s.ovm1 = if oh < g { s.ovs[oh] } else { 0 };
            if o_en {
                for j in 0..nl {
                    s.oacc[j] = if j + k < nl { s.oacc[j + k] } else { 0 };
                }
            }
        }
        // Accumulators (edge t+13 of an exp item).
        if s.ev[12] {
            let first = s.ef[12];
            for j in 0..nl {
                let base = if first { 0 } else { s.acc[j] };
                s.acc[j] = sext(((base + s.pr[j]) as u64) & mask(48), 48);
            }
        }
        // The adder trees read the products (a head's lanes; all `A` lanes of a chunk).
        let hl = s.hl;
        for h in 0..g {
            s.dtmp[h] = s.pr[h * hl..(h + 1) * hl].iter().sum();
        }
        // Exp pipeline, from its end.
        s.w.copy_from_slice(&s.xw);
        {
            let ex = s.ed.last();
            let dv8 = s.dv.last();
            for h in 0..g {
                s.xw[h] = (urshift(ex[h] as u64, dv8[h] as u32) & mask(17)) as i64;
                if s.ev[8] {
                    let base = if s.ef[8] { 0 } else { s.z[h] };
                    s.z[h] = (base + ex[h] as u64) & mask(32);
                }
            }
            let d1 = &s.d1;
            let e = s.ed.push();
            for h in 0..g {
                let u = ((d1[h] as u64) * numerics::LOG2E_Q16 as u64 + (1 << 15)) >> 16;
                let ix = (u & 0xFFFF) >> (16 - numerics::EXP2_BITS);
                let ip = (u >> 16).min(32);
                let tbl = mem.exp2[ix as usize];
                e[h] = if ip >= 32 {
                    0
                } else {
                    urshift(tbl, ip as u32) as i64
                };
            }
        }
        {
            let dv = s.dv.push();
            for h in 0..g {
                dv[h] = (s.vmax[h] - s.vs1[h]) & 31;
            }
        }
        // The running value-shift maximum of a score pass, one edge after its item (from
        // the registered shift `vs1` and the registered tags `sv[0]`, `sf[0]`).
        if s.sv[0] {
            for h in 0..g {
                let v = s.vs1[h];
                s.vmax[h] = if s.sf[0] || v > s.vmax[h] {
                    v
                } else {
                    s.vmax[h]
                };
            }
        }
        for h in 0..g {
            s.d1[h] = (s.mx[h] - s.srdr[h]).max(0);
            s.srdr[h] = s.srd[h];
            s.vs1[h] = self.vsh[h * hd].val().to_u64() as i64;
        }
        {
            let vm = s.vm.push();
            for (j, v) in vm.iter_mut().enumerate() {
                *v = sext(self.mant[j].val().to_u64(), 11);
            }
        }
        s.ev.copy_within(0..12, 1);
        s.ev[0] = e_en;
        s.ef.copy_within(0..12, 1);
        s.ef[0] = self.e_first.val();
        // Score pipeline, from its end: the score memory write and the maximum (edge t+8).
        let ra = self.sm_raddr.val().index();
        for h in 0..g {
            s.srd[h] = if ra < s.ctx { mem.smem[ra * g + h] } else { 0 };
        }
        {
            let sc = s.sr.last();
            // With chunks only the last chunk's item carries the head's whole dot product.
            if s.sv[7] && (s.ch == 1 || s.cl[7]) {
                for h in 0..g {
                    s.mx[h] = if s.sf[7] || sc[h] > s.mx[h] {
                        sc[h]
                    } else {
                        s.mx[h]
                    };
                }
                let ft = s.st[7];
                if ft < s.ctx {
                    mem.smem[ft * g..(ft + 1) * g].copy_from_slice(sc);
                }
            }
            let r = s.sr.push();
            for h in 0..g {
                r[h] = shift_sat32(s.dot3[h] as i128, s.k3[h] as i32);
            }
        }
        for h in 0..g {
            // With chunks: the chunks' partial dot products accumulated (exactly; `dot`
            // of the Verilog, edge t+3, tag register 2).
            s.dot3[h] = if s.ch > 1 && !s.cf[2] {
                sext(((s.dot3[h] + s.dot2[h]) as u64) & mask(48), 48)
            } else {
                s.dot2[h]
            };
            s.dot2[h] = s.dtmp[h];
            s.k3[h] = s.k2[h];
            s.k2[h] = s.k1[h];
            s.k1[h] = s.sq[h] + s.pks[h] - 16;
            s.pks[h] = self.ksh[h * hd].val().to_u64() as i64;
        }
        s.sv.copy_within(0..7, 1);
        s.sv[0] = s_en;
        s.sf.copy_within(0..7, 1);
        s.sf[0] = self.s_first.val();
        s.st.copy_within(0..7, 1);
        s.st[0] = self.s_t.val().index();
        let chunk = self.s_chunk.val().index();
        s.cf.copy_within(0..7, 1);
        s.cf[0] = chunk == 0;
        s.cl.copy_within(0..7, 1);
        s.cl[0] = chunk == s.ch - 1;
        // q bank: load (old data), then write.
        let nq = s.nq;
        if self.qld.val() {
            let gi = self.lgrp.val().index();
            for j in 0..nq {
                s.q[j] = if gi < mem.ng {
                    sext(mem.qb[gi * nq + j], 16)
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
        // The registered write port writes, then takes this cycle's write.
        let (we, bg, l, d, swe, h, sd) = s.bw;
        if we && bg < mem.ng && l < nq {
            mem.qb[bg * nq + l] = d;
        }
        if swe && bg < mem.ng && h < g {
            mem.sb[bg * g + h] = sd;
        }
        s.bw = (
            self.bwe.val(),
            self.bgrp.val().index(),
            self.blane.val().index(),
            self.bdata.val().to_u64(),
            self.bswe.val(),
            self.bshead.val().index(),
            self.bsdata.val().to_u64(),
        );
    }
    /// The Verilog body.
    fn verilog(&self) -> Verilog {
        let s = &*self._s;
        let mem = &self._m;
        let (hd, g, nl, ctx, kw) = (s.hd, s.g, s.nl, s.ctx, s.k);
        // With chunks (`ch > 1`): `nq = hd` q registers for `nl = A` lanes, one head whose
        // adder tree spans the `hl = A` lanes. With one chunk `nq = nl` and `hl = hd`.
        let (nq, ch, hl) = (s.nq, s.ch, s.hl);
        let ib = index_bits(ctx).min(16);
        let gw = g * 32;
        let mut v = String::new();
        v += "integer i;\n";
        v += &format!(
            "reg [16:0] exp2 [0:1023];\nreg [16:0] rcp [0:1023];\nreg [{}:0] smem [0:{}];\nreg [{}:0] srd;\n",
            gw - 1,
            ctx - 1,
            gw - 1
        );
        // Adder tree: groups of 4 products per head.
        let ngr = hl.div_ceil(4);
        // Per-lane registers.
        for j in 0..nl {
            v += &format!(
                "reg signed [15:0] q_{j};\nwire signed [28:0] pr_{j} = m_p${j};\nreg signed [47:0] ac_{j};\nreg signed [47:0] oac_{j};\n"
            );
            for st in 1..12 {
                v += &format!("reg signed [10:0] vm{st}_{j};\n");
            }
        }
        // The q elements past the lanes (chunks 1 .. ch of the head).
        for j in nl..nq {
            v += &format!("reg signed [15:0] q_{j};\n");
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
                format!("   if ({en} && (rbgrp == 8'd0)) {name} <= {data};\n")
            } else {
                format!(
                    "   if ({en} && (rbgrp < 8'd{ng})) {name}[rbgrp[{}:0]] <= {data};\n",
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
        for j in 0..nq {
            v += &bank(&format!("qb_{j}"), 16);
        }
        for h in 0..g {
            v += &bank(&format!("sb_{h}"), 5);
        }
        // Per-head registers.
        let head_regs: Vec<(&str, &str)> = vec![
            ("sq", "[4:0]"),
            ("pks", "[4:0]"),
            ("vmax", "[4:0]"),
            ("k1", "signed [6:0]"),
            ("k2", "signed [6:0]"),
            ("k3", "signed [6:0]"),
            ("dot", "signed [47:0]"),
            ("sc", "[31:0]"),
            ("mx", "[31:0]"),
            ("srdr", "[31:0]"),
            ("vs1", "[4:0]"),
            ("d1", "[31:0]"),
            ("pl", "[33:0]"),
            ("ph", "[31:0]"),
            ("us", "[50:0]"),
            ("ix", "[9:0]"),
            ("ip", "[5:0]"),
            ("tb", "[16:0]"),
            ("ip5", "[5:0]"),
            ("tbr", "[16:0]"),
            ("ip6", "[5:0]"),
            ("x2", "[17:0]"),
            ("ex", "[16:0]"),
            ("xw", "[17:0]"),
            ("w", "[16:0]"),
            ("z", "[31:0]"),
            ("ozs", "[31:0]"),
            ("ovs", "[4:0]"),
        ];
        let mut head_names: Vec<String> = vec![];
        for h in 0..g {
            for (r, ty) in &head_regs {
                v += &format!("reg {ty} {r}_{h};\n");
                head_names.push(format!("{r}_{h}"));
            }
            for d in 1..9 {
                v += &format!("reg [4:0] dv{d}_{h};\n");
                head_names.push(format!("dv{d}_{h}"));
            }
            for c in 0..ngr {
                v += &format!("reg signed [30:0] ps{c}_{h};\n");
                head_names.push(format!("ps{c}_{h}"));
            }
        }
        v += "\
reg rbwe;
reg [7:0] rbgrp;
reg [15:0] rblane;
reg [15:0] rbdata;
reg rbswe;
reg [7:0] rbshead;
reg [4:0] rbsdata;
reg [7:0] sv;
reg [7:0] sf;
reg [12:0] ev;
reg [12:0] ef;
reg [31:0] oz1;
reg [31:0] oz2;
reg [4:0] ovm1;
reg [4:0] ovm2;
reg [4:0] ovm3;
reg [4:0] ovm4;
reg [4:0] op2;
reg [4:0] pz3;
reg [4:0] pz4;
reg [9:0] fi3;
reg [16:0] r4;
reg [16:0] r5;
reg signed [6:0] ok5;
reg signed [6:0] ok6;
reg signed [6:0] ok7;
";
        // The output path per element of an item: the accumulator through stage 5, the
        // three slices of its product with R, their sum.
        let elem_regs: [(&str, &str); 11] = [
            ("oa1", "signed [47:0]"),
            ("oa2", "signed [47:0]"),
            ("oa3", "signed [47:0]"),
            ("oa4", "signed [47:0]"),
            ("oa5", "signed [47:0]"),
            ("opl6", "[33:0]"),
            ("opm6", "[33:0]"),
            ("oph6", "signed [31:0]"),
            ("os7", "[51:0]"),
            ("oph7", "signed [31:0]"),
            ("op8", "signed [64:0]"),
        ];
        let mut elem_names: Vec<String> = vec![];
        for i in 0..kw {
            for (r, ty) in &elem_regs {
                v += &format!("reg {ty} {r}_{i};\n");
                elem_names.push(format!("{r}_{i}"));
            }
            elem_names.push(format!("y${i}"));
        }
        for i in kw..XP {
            elem_names.push(format!("y${i}"));
        }
        for k in 0..8 {
            v += &format!("reg [15:0] st{k};\n");
        }
        if ch > 1 {
            // Score items' chunk tags: first chunk (to the dot accumulation, edge t+3) and
            // last chunk (to the score write, edge t+8).
            v += "reg [2:0] cf;\nreg [7:0] cl;\n";
        }
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
        for j in 0..nq {
            v += &bank_init(&format!("qb_{j}"), 16);
        }
        for h in 0..g {
            v += &bank_init(&format!("sb_{h}"), 5);
        }
        for j in 0..nl {
            v += &format!("   q_{j} = 16'sd0;\n   ac_{j} = 48'sd0;\n   oac_{j} = 48'sd0;\n");
            for st in 1..12 {
                v += &format!("   vm{st}_{j} = 11'sd0;\n");
            }
        }
        for r in &head_names {
            v += &format!("   {r} = 0;\n");
        }
        for r in [
            "rbwe", "rbgrp", "rblane", "rbdata", "rbswe", "rbshead", "rbsdata", "sv", "sf", "ev",
            "ef", "oz1", "oz2", "ovm1", "ovm2", "ovm3", "ovm4", "op2", "pz3", "pz4", "fi3", "r4",
            "r5", "ok5", "ok6", "ok7",
        ] {
            v += &format!("   {r} = 0;\n");
        }
        for r in &elem_names {
            v += &format!("   {r} = 0;\n");
        }
        for k in 0..8 {
            v += &format!("   st{k} = 0;\n");
        }
        for j in nl..nq {
            v += &format!("   q_{j} = 16'sd0;\n");
        }
        if ch > 1 {
            v += "   cf = 0;\n   cl = 0;\n";
        }
        v += "end\n";
        // Staged saturating shifts: per head the score, and the output.
        let mut seq_extra = String::new();
        // Combinational logic per head.
        let mut unused: Vec<String> = vec![];
        for h in 0..g {
            let l0 = h * hd;
            let ext = |j: usize| format!("{{{{2{{pr_{j}[28]}}}}, pr_{j}}}");
            let (sd, ss) = sat_stages_verilog(
                &format!("ss{h}"),
                48,
                &format!("dot_{h}"),
                &format!("k3_{h}"),
                &format!("sc_{h}"),
            );
            v += &sd;
            seq_extra += &ss;
            v += &format!(
                "\
wire [31:0] srdw_{h} = srd[{shi}:{slo}];
wire signed [32:0] dd_{h} = $signed({{mx_{h}[31], mx_{h}}}) - $signed({{srdr_{h}[31], srdr_{h}}});
wire [50:0] uh_{h} = (us_{h} + 51'd32768) >> 16;
wire [5:0] ipn_{h} = (uh_{h}[50:21] != 30'd0) ? 6'd32 : {{1'b0, uh_{h}[20:16]}};
wire [17:0] x2n_{h} = {{tbr_{h}, 1'b0}} >> ip6_{h};
wire [17:0] exr_{h} = x2_{h} + 18'd1;
wire [17:0] xwn_{h} = {{ex_{h}, 1'b0}} >> dv8_{h};
wire [17:0] wr_{h} = xw_{h} + 18'd1;
",
                shi = h * 32 + 31,
                slo = h * 32,
            );
            for c in 0..ngr {
                let terms: Vec<String> =
                    (c * 4..(c * 4 + 4).min(hl)).map(|i| ext(l0 + i)).collect();
                v += &format!("wire signed [30:0] psn{c}_{h} = {};\n", terms.join(" + "));
            }
            let parts: Vec<String> = (0..ngr)
                .map(|c| format!("{{{{17{{ps{c}_{h}[30]}}}}, ps{c}_{h}}}"))
                .collect();
            v += &format!("wire signed [47:0] dsum_{h} = {};\n", parts.join(" + "));
            unused.push(format!("uh_{h}[5:0]"));
            unused.push(format!("exr_{h}[0]"));
            unused.push(format!("wr_{h}[0]"));
            unused.push(format!("us_{h}[50:0]"));
        }
        unused.retain(|u| !u.starts_with("us_"));
        for j in 0..A {
            let lane_used = j < nl;
            let head_lane = lane_used && j % hd == 0;
            if !lane_used {
                unused.push(format!("mant${j}"));
                unused.push(format!("m_p${j}"));
            }
            if !head_lane {
                unused.push(format!("ksh${j}"));
                unused.push(format!("vsh${j}"));
            }
        }
        // Output stage combinational logic.
        v += "reg [31:0] ozm;\nreg [4:0] ovmm;\nalways @(*) begin\n   ozm = 32'd0;\n   ovmm = 5'd0;\n   case (o_head)\n";
        for h in 0..g {
            v += &format!("   8'd{h}: begin\n      ozm = o_ld ? z_{h} : ozs_{h};\n      ovmm = o_ld ? vmax_{h} : ovs_{h};\n   end\n");
        }
        v += "   default: begin\n      ozm = 32'd0;\n      ovmm = 5'd0;\n   end\n   endcase\nend\n";
        v += "wire [31:0] oz = (oz1 == 32'd0) ? 32'd1 : oz1;\n";
        // msb(max(z, 1)) = msb(z) (both 0 for 0 and 1): straight from the register.
        v += &msb32_verilog("opn", "oz1");
        // The 10 bits below the leading one: `oz2 >> (op2 − 10)` for op2 ≥ 10, else
        // `oz2 << (10 − op2)`: both are one right shift of `oz2 · 2^10` by op2 (no
        // subtractor in front of the shifter).
        v += "wire [41:0] ozx = {oz2, 10'd0};\nwire [41:0] ofsh = ozx >> op2;\n";
        unused.push("ofsh[41:10]".into());
        for i in 0..kw {
            v += &format!("wire [64:0] oph65_{i} = {{oph7_{i}[30:0], 34'd0}};\n");
            // The output shift, one register per output (`_dup`: kept apart by the flow)
            // rather than one driving every output's shifter.
            v += &format!("reg signed [6:0] ok8_dup{i};\ninitial ok8_dup{i} = 0;\n");
            seq_extra += &format!("   ok8_dup{i} <= ok7;\n");
            let (od, os) = sat_stages_verilog(
                &format!("so{i}"),
                65,
                &format!("op8_{i}"),
                &format!("ok8_dup{i}"),
                &format!("y${i}"),
            );
            v += &od;
            seq_extra += &os;
            unused.push(format!("oph7_{i}[31]"));
        }
        // Outputs past the item's width: 0 (registers held at 0).
        for i in kw..XP {
            seq_extra += &format!("   y${i} <= 32'sd0;\n");
        }
        // Registers.
        // The borrowed multipliers' operands.
        if ch > 1 {
            // A score item's q operand: element `s_chunk·A + j` (0 past the head).
            for j in 0..nl {
                let mut e = "16'sd0".to_string();
                for c in (0..ch).rev() {
                    if c * A + j < nq {
                        e = format!("((s_chunk == 8'd{c}) ? q_{} : {e})", c * A + j);
                    }
                }
                v += &format!("wire signed [15:0] qs_{j} = {e};\n");
            }
        } else {
            unused.push("s_chunk".into());
        }
        v += "always @(*) begin\n   m_sel = s_en | ev[10];\n";
        for j in 0..A {
            if j < nl {
                let h = j / hd;
                let q = if ch > 1 {
                    format!("qs_{j}")
                } else {
                    format!("q_{j}")
                };
                v += &format!(
                    "   m_a${j} = s_en ? {{{{2{{{q}[15]}}}}, {q}}} : (ev[10] ? {{1'b0, w_{h}}} : 18'sd0);\n   m_b${j} = s_en ? mant${j} : (ev[10] ? vm11_{j} : 11'sd0);\n"
                );
            } else {
                v += &format!("   m_a${j} = 18'sd0;\n   m_b${j} = 11'sd0;\n");
            }
        }
        v += "end\n";
        v += "always @(posedge clock) begin\n";
        for j in 0..nl {
            v += &format!(
                "   if (qld) q_{j} <= {};\n",
                bank_rd(&format!("qb_{j}"), 16)
            );
            v += &bank_wr(
                &format!("qb_{j}"),
                &format!("rbwe && (rblane == 16'd{j})"),
                "rbdata",
            );
            v += &format!("   vm1_{j} <= mant${j};\n");
            for st in 2..12 {
                v += &format!("   vm{st}_{j} <= vm{}_{j};\n", st - 1);
            }
            let (next, onext) = if j + kw < nl {
                (format!("ac_{}", j + kw), format!("oac_{}", j + kw))
            } else {
                ("48'sd0".to_string(), "48'sd0".to_string())
            };
            v += &format!(
                "   if (ev[12]) ac_{j} <= (ef[12] ? 48'sd0 : ac_{j}) + {{{{19{{pr_{j}[28]}}}}, pr_{j}}};\n   if (o_ld) oac_{j} <= {next};\n   else if (o_en) oac_{j} <= {onext};\n"
            );
        }
        for j in nl..nq {
            v += &format!(
                "   if (qld) q_{j} <= {};\n",
                bank_rd(&format!("qb_{j}"), 16)
            );
            v += &bank_wr(
                &format!("qb_{j}"),
                &format!("rbwe && (rblane == 16'd{j})"),
                "rbdata",
            );
        }
        // With chunks: a head's dot product accumulates over its chunks, and only the last
        // chunk's score is written.
        let sc_en = if ch > 1 { "(sv[7] && cl[7])" } else { "sv[7]" };
        for h in 0..g {
            let l0 = h * hd;
            v += &format!(
                "\
   if (qld) sq_{h} <= {rd};
{wr}   pks_{h} <= ksh${l0};
   if (sv[0]) vmax_{h} <= (sf[0] || (vs1_{h} > vmax_{h})) ? vs1_{h} : vmax_{h};
   k1_{h} <= $signed({{2'd0, sq_{h}}}) + $signed({{2'd0, pks_{h}}}) - 7'sd16;
   k2_{h} <= k1_{h};
   k3_{h} <= k2_{h};
   dot_{h} <= {dn};
   if ({sc_en}) mx_{h} <= (sf[7] || ($signed(sc_{h}) > $signed(mx_{h}))) ? sc_{h} : mx_{h};
   srdr_{h} <= srdw_{h};
   vs1_{h} <= vsh${l0};
   d1_{h} <= dd_{h}[32] ? 32'd0 : dd_{h}[31:0];
   dv1_{h} <= vmax_{h} - vs1_{h};
   pl_{h} <= d1_{h}[16:0] * 17'd94548;
   ph_{h} <= d1_{h}[31:17] * 17'd94548;
   us_{h} <= {{17'd0, pl_{h}}} + {{2'd0, ph_{h}, 17'd0}};
   ix_{h} <= uh_{h}[15:6];
   ip_{h} <= ipn_{h};
   tb_{h} <= exp2[ix_{h}];
   ip5_{h} <= ip_{h};
   tbr_{h} <= tb_{h};
   ip6_{h} <= ip5_{h};
   x2_{h} <= x2n_{h};
   ex_{h} <= exr_{h}[17:1];
   if (ev[8]) z_{h} <= (ef[8] ? 32'd0 : z_{h}) + {{15'd0, ex_{h}}};
   if (o_ld) ozs_{h} <= z_{h};
   if (o_ld) ovs_{h} <= vmax_{h};
   xw_{h} <= xwn_{h};
   w_{h} <= wr_{h}[17:1];
",
                rd = bank_rd(&format!("sb_{h}"), 5),
                dn = if ch > 1 {
                    format!("cf[2] ? dsum_{h} : (dot_{h} + dsum_{h})")
                } else {
                    format!("dsum_{h}")
                },
                wr = bank_wr(
                    &format!("sb_{h}"),
                    &format!("rbswe && (rbshead == 8'd{h})"),
                    "rbsdata"
                ),
            );
            for d in 2..9 {
                v += &format!("   dv{d}_{h} <= dv{}_{h};\n", d - 1);
            }
            for c in 0..ngr {
                v += &format!("   ps{c}_{h} <= psn{c}_{h};\n");
            }
        }
        let scores: Vec<String> = (0..g).rev().map(|h| format!("sc_{h}")).collect();
        v += &seq_extra;
        v += &format!(
            "\
   rbwe <= bwe;
   rbgrp <= bgrp;
   rblane <= blane;
   rbdata <= bdata;
   rbswe <= bswe;
   rbshead <= bshead;
   rbsdata <= bsdata;
   sv <= {{sv[6:0], s_en}};
   sf <= {{sf[6:0], s_first}};
   st0 <= s_t;
   st1 <= st0;
   st2 <= st1;
   st3 <= st2;
   st4 <= st3;
   st5 <= st4;
   st6 <= st5;
   st7 <= st6;
   srd <= (sm_raddr < 16'd{ctx}) ? smem[sm_raddr[{im}:0]] : {gw}'d0;
   if ({sc_en} && (st7 < 16'd{ctx})) smem[st7[{im}:0]] <= {{{sc}}};
   ev <= {{ev[11:0], e_en}};
   ef <= {{ef[11:0], e_first}};
   oz1 <= ozm;
   ovm1 <= ovmm;
   oz2 <= oz;
   op2 <= opn;
   ovm2 <= ovm1;
   fi3 <= ofsh[9:0];
   pz3 <= op2;
   ovm3 <= ovm2;
   r4 <= rcp[fi3];
   pz4 <= pz3;
   ovm4 <= ovm3;
   r5 <= r4;
   ok5 <= $signed({{2'd0, ovm4}}) - 7'sd16 - $signed({{2'd0, pz4}});
   ok6 <= ok5;
   ok7 <= ok6;
",
            im = ib - 1,
            sc = scores.join(", "),
        );
        if ch > 1 {
            v += &format!(
                "   cf <= {{cf[1:0], (s_chunk == 8'd0)}};\n   cl <= {{cl[6:0], (s_chunk == 8'd{})}};\n",
                ch - 1
            );
        }
        for i in 0..kw {
            v += &format!(
                "\
   oa1_{i} <= o_ld ? ac_{i} : oac_{i};
   oa2_{i} <= oa1_{i};
   oa3_{i} <= oa2_{i};
   oa4_{i} <= oa3_{i};
   oa5_{i} <= oa4_{i};
   opl6_{i} <= oa5_{i}[16:0] * r5;
   opm6_{i} <= oa5_{i}[33:17] * r5;
   oph6_{i} <= $signed(oa5_{i}[47:34]) * $signed({{1'b0, r5}});
   os7_{i} <= {{18'd0, opl6_{i}}} + {{1'b0, opm6_{i}, 17'd0}};
   oph7_{i} <= oph6_{i};
   op8_{i} <= $signed({{13'd0, os7_{i}}}) + $signed(oph65_{i});
"
            );
        }
        v += "end\n";
        v += &format!("wire unused_core = ^{{{}}};\n", unused.join(", "));
        Verilog::Custom(v)
    }
}
