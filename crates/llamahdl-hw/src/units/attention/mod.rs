//! Parallel attention unit: all query heads of a group at once, one cached position per
//! cycle, bit for bit as `llamahdl_golden::golden::{rope, kv_store, attend}`. A drop-in
//! replacement for [`crate::units::attention::parts::AttnUnitL`] (same ports, ops, refusal behaviour and
//! Rust-side API), plus the QKV stream inputs and the fused ATTN (below; with `st_en` and
//! `fused` low it behaves exactly as before).
//!
//! [`AttnUnitP<A>`] has `A` multiply lanes, `A` a multiple of `head_dim`: `G = min(A /
//! head_dim, n_heads)` query heads are processed together (lane `g·head_dim + i` holds
//! element `i` of the group's head `g`); the heads run in `ceil(n_heads / G)` groups (the
//! last one may be partial).
//!
//! ## Operations (ports and parameters as `AttnUnitL`, `docs/architecture.md`)
//! - **ROPE** (5): as `AttnUnitL` (one element per cycle through one `Rope2`).
//! - **KVSTORE** (6): as `AttnUnitL` (max scan and quantisation of each kv head's k, then
//!   v, one element per cycle); the mantissas and shifts are collected in staging
//!   registers and the whole position is written to the cache in one cycle.
//! - **ATTN** (7), per group: (1) the group's q heads are block-converted (`to_block16`,
//!   per head) into the lane registers; (2) score pass, one position per cycle: one read of
//!   the key word of (`layer`, `t`) (all kv heads), the `G·head_dim` products, one adder
//!   tree per head, the score finish (`sat32(round(dot·2^(sq+ks−16)))`), the scores of
//!   the position into the score memory, the running maximum score per head and the
//!   running maximum value shift per head; (3) exp/weighted-sum pass, one position per
//!   cycle: the scores and the value word of `t` in one read each, `e_t` per head (EXP2
//!   table path), the weight aligned to the largest value shift, `acc += w·v_mant` in
//!   every lane, `z += e_t` per head; (4) the `G·head_dim` outputs, one per cycle, through
//!   the reciprocal of `z` and the output rescale, written to `ATT`.
//!
//! A start with `pos >= context`, `layer >= n_layers` or an unknown op does nothing but
//! pulse `done` in the next cycle.
//!
//! ## QKV stream (replaces ROPE and KVSTORE, and ATTN's q load)
//! Ports: `st_en`, `st_valid`, `st_row` (Bits<16>), `st_data` (Signed<32>); `fused`.
//! - While `st_en` is high, each cycle with `st_valid` high delivers row `st_row` of the
//!   layer's QKV projection `[q; k; v]` (Q16.16, before RoPE), rows strictly in order `0,
//!   1, …, dim + 2·kv_dim − 1`, any number of idle cycles between rows. `st_valid` is
//!   ignored while `st_en` is low. `layer` and `pos` must be valid in every cycle with a
//!   row (they are captured per row: the stream's cache word and "bad" flag). Row 0
//!   restarts the stream's counters; `st_row` gives the row's parity and whether it is a v
//!   row.
//! - Per row (stage 0 = the cycle on the ports): stage 1 registered, RoPE table read
//!   (`pos·head_dim + row mod head_dim`); stage 2: the first element of a pair and its cos
//!   held, the second element rotated through `Rope2` (golden `rope`); stage 3 / 4: the
//!   rotated pair's first / second element (v rows: stage 4) enter the head conversion,
//!   one element per cycle in row order. Each head (q heads, then k heads, then v heads)
//!   is written to one half of a two-head buffer while a `Blocker` (one per half) tracks
//!   its maximum magnitude; in the cycle its last element arrives, its elements start to
//!   be read back, one per cycle, and quantised one cycle later (`to_block16` for q,
//!   `to_block_kv` for k and v, exactly as golden `kv_store` / `attend`), while the next
//!   head fills the other half. q mantissas and shifts go to the q bank of [`AttnCore`]
//!   (one word per head group, all heads held), k and v to the cache staging registers;
//!   the last v element commits the position to (`layer`, `pos`).
//! - **Latency**: with the last row in cycle `c`, the cache word is written at the end of
//!   cycle `c + head_dim + 5` ([`stream_latency`]; readable from the next cycle), and the
//!   last stream activity (`busy`) ends by cycle `c + head_dim + 4`.
//! - A stream at `pos >= context` or `layer >= n_layers` writes nothing to the cache (its
//!   q still goes to the bank; a fused ATTN at that position is refused anyway).
//! - The stream and ROPE / KVSTORE / non-fused ATTN share the RoPE table, `Rope2` and the
//!   cache staging port: no such operation may run while a stream is in flight (from its
//!   first row to `c + head_dim + 5`). A fused ATTN may be started at any time.
//! - **Fused ATTN**: `fused` is sampled with `start` of an ATTN. When high, ATTN takes q
//!   from the q bank (one cycle per group, no vector-memory reads) instead of loading and
//!   converting it: after `setup`, it waits `W = head_dim + 1` cycles ([`fused_wait`])
//!   *and* until the stream is processed (`st_en` low, no row in flight), loads group 0's
//!   q and goes to the score pass; each later group's q is loaded in the last cycle of the
//!   previous group's output. Started at least 2 cycles after the last row (with `st_en`
//!   low by then), the wait never extends beyond `W` and the cycles are exactly
//!   [`cycles_fused`]; started earlier (even during the stream), it waits for the stream
//!   and takes longer, with the same results.
//!
//! ## Cycles (from the `start` cycle to the `done` cycle; `P = pos + 1`, `NG` groups)
//! - ROPE: `dim + kv_dim + 4`
//! - KVSTORE: `4·kv_dim + 2·n_kv_heads + 3`
//! - ATTN: `n_heads·(3·head_dim + 1) + NG·(2·P + 12) + 6`
//! - fused ATTN (started ≥ 2 cycles after the stream's last row): `W + 7 + NG·(2·P + 11)
//!   + dim`, `W = head_dim + 1` (the `dim` term is the output pass: one vector-memory write
//!   per cycle)
//! - refused: 1
//!
//! ([`cycles`] and [`cycles_fused`] compute these.) stories260K with `A = 64` (one group
//! of 8 heads): ATTN `2·P + 218`, fused ATTN `2·P + 91` (93, 347, 1115 at positions 0,
//! 127, 511).
//!
//! ## Hardware
//! - Multipliers: `G·head_dim` lanes of one signed 18 × 11 multiplier each (shared: q
//!   mantissa (16 bits) × key mantissa in the score pass, weight (17 bits, unsigned) × value
//!   mantissa in the weighted sum), products registered; per head one 33 × 17 (`d·log2 e`)
//!   in the exp path; one 48 × 17 output rescale; plus `Rope2` (two 32 × 18 pairs) and the
//!   address bases.
//! - Memories ([`KvCacheW`]): key cache and value cache, each ONE memory of
//!   `n_layers·context` words of `kv_dim·11` bits (word = one (layer, position), all kv
//!   heads); key shifts and value shifts, each `n_layers·context` words of `n_kv·5` bits.
//!   [`AttnCore`]: the score memory, `context` words of `G·32` bits; the EXP2 table (1024 ×
//!   17, `G` read ports) and the RECIP table (1024 × 17, one read port). The RoPE table
//!   (`context·head_dim` × 18) is a `TableRom`.
//! - Stream: no multiplier of its own (RoPE shares the `Rope2` of ROPE); the head buffer
//!   (`2·head_dim` × 32, a `LaneMem`), two more `Blocker`s (max tracking, leading-one
//!   detector, rounding shifter: no multipliers), the q bank in [`AttnCore`] (`NG` words
//!   of `G·head_dim` × 16 bits plus `NG` × `G` × 5-bit shifts: `dim` × 16 + `n_heads` × 5
//!   bits in all, for stories260K 1,064 bits), and about 60 flip-flops of control.
//!
//! ## Structure
//! Control is `#[hdl_gen]` (an issue stage plus a tag pipeline, as in `AttnUnitL`); the
//! datapath is in hand-written leaves (native `update()` plus a Verilog body, co-simulated
//! in `tests/attention_par.rs`): [`PosBases`], [`KvCacheW`], [`AttnCore`], and
//! `attention::{Blocker, Rope2}` reused.

pub mod parts;

use crate::bits::{i2s, index_bits, mask, sext, u2b};
use crate::decoder::program::opcode;
use crate::leaf::TableRom;
use llamahdl_golden::numerics;
use llamahdl_golden::QuantModel;
use llamahdl_model::Config;
use parts::{shift_sat32, urshift, Blocker, LaneMem, Rope2};
use rust_hdl::prelude::*;

/// Operation codes on the unit's `op` input (the program's opcodes).
pub const OP_ROPE: u64 = 5;
/// KVSTORE.
pub const OP_KVSTORE: u64 = 6;
/// ATTN.
pub const OP_ATTN: u64 = opcode::ATTN as u64;

/// Query heads processed together by a unit with `lanes` lanes.
pub fn heads_per_group(c: &Config, lanes: usize) -> usize {
    (lanes / c.head_dim()).min(c.n_heads).max(1)
}

/// Cycles from `start` to `done` of `op` at position `pos` on a unit with `lanes` lanes
/// and a cache of `context` positions (see the module docs); 1 for a refused start.
pub fn cycles(c: &Config, context: usize, lanes: usize, op: u64, pos: usize) -> usize {
    let (hd, nh, nkv) = (c.head_dim(), c.n_heads, c.n_kv_heads);
    if pos >= context {
        return 1;
    }
    let p = pos + 1;
    let ng = nh.div_ceil(heads_per_group(c, lanes));
    match op {
        OP_ROPE => c.dim + c.kv_dim() + 4,
        OP_KVSTORE => 4 * c.kv_dim() + 2 * nkv + 3,
        OP_ATTN => nh * (3 * hd + 1) + ng * (2 * p + 12) + 6,
        _ => 1,
    }
}

/// Cycles of a fused ATTN (`fused` high) from `start` to `done`, started at least 2
/// cycles after the last row of the stream (see the module docs): `W + 7 + NG·(2·P + 11)
/// + dim` with `W = head_dim + 1` ([`fused_wait`]); 1 for a refused start.
pub fn cycles_fused(c: &Config, context: usize, lanes: usize, pos: usize) -> usize {
    if pos >= context {
        return 1;
    }
    let ng = c.n_heads.div_ceil(heads_per_group(c, lanes));
    fused_wait(c) + 7 + ng * (2 * (pos + 1) + 11) + c.dim
}

/// Wait cycles at the start of a fused ATTN: covers the stream's conversion latency when
/// ATTN starts 2 cycles after the last row.
pub fn fused_wait(c: &Config) -> usize {
    c.head_dim() + 1
}

/// Cycles from the last stream row (cycle `c`) to the cache write of the position: the
/// write happens at the end of cycle `c + stream_latency` (readable from the next cycle).
pub fn stream_latency(c: &Config) -> usize {
    c.head_dim() + 5
}

// ---------------------------------------------------------------------------------------
// Leaves
// ---------------------------------------------------------------------------------------

/// Address bases for (`layer`, `pos`), registered every cycle (valid one cycle after the
/// parameters are): `row_layer = layer·context`, `row_pos = row_layer + pos` (cache word
/// addresses), `rope_base = pos·head_dim`. Combinational: `pos_error = pos >= context`,
/// `bad = pos_error | layer >= n_layers`.
#[derive(LogicBlock)]
pub struct PosBases {
    pub clock: Signal<In, Clock>,
    pub layer: Signal<In, Bits<8>>,
    pub pos: Signal<In, Bits<16>>,
    pub row_layer: Signal<Out, Bits<24>>,
    pub row_pos: Signal<Out, Bits<24>>,
    pub rope_base: Signal<Out, Bits<16>>,
    pub pos_error: Signal<Out, Bit>,
    pub bad: Signal<Out, Bit>,
    _ctx: u64,
    _hd: u64,
    _nl: u64,
}

impl PosBases {
    pub fn new(n_layers: usize, ctx: usize, hd: usize) -> Self {
        assert!(n_layers * ctx < 1 << 24 && ctx * hd <= 1 << 16 && ctx < 1 << 16);
        assert!(n_layers <= 255);
        Self {
            clock: Default::default(),
            layer: Default::default(),
            pos: Default::default(),
            row_layer: Signal::new_with_default(Bits::default()),
            row_pos: Signal::new_with_default(Bits::default()),
            rope_base: Signal::new_with_default(Bits::default()),
            pos_error: Default::default(),
            bad: Default::default(),
            _ctx: ctx as u64,
            _hd: hd as u64,
            _nl: n_layers as u64,
        }
    }
}

impl Logic for PosBases {
    fn update(&mut self) {
        let l = self.layer.val().to_u64();
        let p = self.pos.val().to_u64();
        let perr = p >= self._ctx;
        self.pos_error.next = perr;
        self.bad.next = perr || l >= self._nl;
        if self.clock.pos_edge() {
            let rl = l * self._ctx;
            self.row_layer.next = u2b::<24>(rl);
            self.row_pos.next = u2b::<24>(rl + p);
            self.rope_base.next = u2b::<16>(p * self._hd);
        }
    }
    fn connect(&mut self) {
        self.row_layer.connect();
        self.row_pos.connect();
        self.rope_base.connect();
        self.pos_error.connect();
        self.bad.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
wire [23:0] l24 = {{16'd0, layer}};
wire [23:0] p24 = {{8'd0, pos}};
wire [15:0] rb = pos * 16'd{hd};
initial begin
   row_layer = 24'd0;
   row_pos = 24'd0;
   rope_base = 16'd0;
end
always @(*) pos_error = (pos >= 16'd{ctx});
always @(*) bad = (pos >= 16'd{ctx}) | (layer >= 8'd{nl});
always @(posedge clock) begin
   row_layer <= l24 * 24'd{ctx};
   row_pos <= (l24 * 24'd{ctx}) + p24;
   rope_base <= rb;
end
",
            hd = self._hd,
            nl = self._nl,
            ctx = self._ctx,
        ))
    }
}

/// Lane routing of the key/value cache for one group: for each lane, the kv head it reads
/// (or none).
type Route = Vec<Option<usize>>;

/// Native state of [`KvCacheW`].
struct KvState {
    depth: usize,
    kvd: usize,
    nkv: usize,
    hd: usize,
    /// `route[group][lane]`: the kv head of the lane's query head.
    route: Vec<Route>,
    k: Vec<u64>,
    v: Vec<u64>,
    ks: Vec<u64>,
    vs: Vec<u64>,
    /// Staging: the position being stored.
    kst: Vec<u64>,
    vst: Vec<u64>,
    kss: Vec<u64>,
    vss: Vec<u64>,
    /// Registered read words.
    rk: Vec<u64>,
    rv: Vec<u64>,
    rks: Vec<u64>,
    rvs: Vec<u64>,
    rsel: bool,
    last_grp: u64,
}

/// The key/value cache: four wide memories of `depth` words (word = one (layer,
/// position)): key mantissas and value mantissas (`kv_dim` fields of 11 bits, field
/// `kvh·head_dim + i` = element `i` of kv head `kvh`), key shifts and value shifts
/// (`n_kv` fields of 5 bits).
///
/// Write: staging registers collect one position: with `push`, field `pfield` of the key
/// (`pv` low) or value (`pv` high) staging word becomes `pdata`; with `spush`, field
/// `sfield` of the key/value shift staging word becomes `sdata`. With `commit`, the four
/// staging words *including this cycle's pushes* are written to word `waddr` (dropped if
/// `waddr >= depth`).
///
/// Read (synchronous, read-old-data): the four words at `raddr` are registered (0 past the
/// depth), with `rv`; the outputs route them to the `A` lanes for group `grp`
/// (combinational from the registers and `grp`): lane `j` belongs to query head `h = grp·G
/// + j / head_dim` of kv head `kvh = h / kv_mul`; `mant[j]` is element `j mod head_dim`
/// of kv head `kvh` of the value word (registered `rv` high) or key word, `ksh[j]` /
/// `vsh[j]` the key / value shift of `kvh`; 0 for lanes without a head and for `grp` past
/// the last group (with a single group `grp` is ignored: the routing is plain wiring).
#[derive(LogicBlock)]
pub struct KvCacheW<const A: usize> {
    pub clock: Signal<In, Clock>,
    pub push: Signal<In, Bit>,
    pub pv: Signal<In, Bit>,
    pub pfield: Signal<In, Bits<16>>,
    pub pdata: Signal<In, Bits<11>>,
    pub spush: Signal<In, Bit>,
    pub spv: Signal<In, Bit>,
    pub sfield: Signal<In, Bits<8>>,
    pub sdata: Signal<In, Bits<5>>,
    pub commit: Signal<In, Bit>,
    pub waddr: Signal<In, Bits<24>>,
    pub raddr: Signal<In, Bits<24>>,
    pub rv: Signal<In, Bit>,
    pub grp: Signal<In, Bits<8>>,
    pub mant: [Signal<Out, Bits<11>>; A],
    pub ksh: [Signal<Out, Bits<5>>; A],
    pub vsh: [Signal<Out, Bits<5>>; A],
    _s: KvState,
}

impl<const A: usize> KvCacheW<A> {
    /// A cache of `depth` words for heads of `hd` elements, `nh` query heads over `nkv` kv
    /// heads, `g` query heads per group.
    pub fn new(depth: usize, hd: usize, nh: usize, nkv: usize, g: usize) -> Self {
        assert!(depth >= 1 && depth < 1 << 24, "KvCacheW depth");
        assert!(g >= 1 && g * hd <= A && nh % nkv == 0 && nkv * hd < 1 << 16);
        let kv_mul = nh / nkv;
        let ng = nh.div_ceil(g);
        assert!(ng <= 256, "too many groups");
        let route = (0..ng)
            .map(|gi| {
                (0..A)
                    .map(|j| {
                        let h = gi * g + j / hd;
                        (j < g * hd && h < nh).then_some(h / kv_mul)
                    })
                    .collect()
            })
            .collect();
        let kvd = nkv * hd;
        Self {
            clock: Default::default(),
            push: Default::default(),
            pv: Default::default(),
            pfield: Default::default(),
            pdata: Default::default(),
            spush: Default::default(),
            spv: Default::default(),
            sfield: Default::default(),
            sdata: Default::default(),
            commit: Default::default(),
            waddr: Default::default(),
            raddr: Default::default(),
            rv: Default::default(),
            grp: Default::default(),
            mant: array_init::array_init(|_| Signal::new_with_default(Bits::default())),
            ksh: array_init::array_init(|_| Signal::new_with_default(Bits::default())),
            vsh: array_init::array_init(|_| Signal::new_with_default(Bits::default())),
            _s: KvState {
                depth,
                kvd,
                nkv,
                hd,
                route,
                k: vec![0; depth * kvd],
                v: vec![0; depth * kvd],
                ks: vec![0; depth * nkv],
                vs: vec![0; depth * nkv],
                kst: vec![0; kvd],
                vst: vec![0; kvd],
                kss: vec![0; nkv],
                vss: vec![0; nkv],
                rk: vec![0; kvd],
                rv: vec![0; kvd],
                rks: vec![0; nkv],
                rvs: vec![0; nkv],
                rsel: false,
                last_grp: 0,
            },
        }
    }

    /// Words (positions of all layers) the cache holds.
    pub fn depth(&self) -> usize {
        self._s.depth
    }

    /// Word `addr` as the simulation holds it: key mantissas, key shifts, value mantissas,
    /// value shifts (mantissas sign-extended).
    pub fn peek(&self, addr: usize) -> (Vec<i32>, Vec<u8>, Vec<i32>, Vec<u8>) {
        let s = &self._s;
        let m = |v: &Vec<u64>| -> Vec<i32> {
            v[addr * s.kvd..(addr + 1) * s.kvd]
                .iter()
                .map(|&x| sext(x, 11) as i32)
                .collect()
        };
        let sh = |v: &Vec<u64>| -> Vec<u8> {
            v[addr * s.nkv..(addr + 1) * s.nkv]
                .iter()
                .map(|&x| x as u8)
                .collect()
        };
        (m(&s.k), sh(&s.ks), m(&s.v), sh(&s.vs))
    }

    fn route_outputs(&mut self) {
        let s = &self._s;
        let g = self.grp.val().to_u64();
        // A single group is plain wiring: `grp` is ignored.
        let gi = if s.route.len() == 1 { 0 } else { g as usize };
        let route = s.route.get(gi);
        for j in 0..A {
            let kvh = route.and_then(|r| r[j]);
            let (m, ks, vs) = match kvh {
                Some(h) => {
                    let f = h * s.hd + j % s.hd;
                    let m = if s.rsel { s.rv[f] } else { s.rk[f] };
                    (m, s.rks[h], s.rvs[h])
                }
                None => (0, 0, 0),
            };
            self.mant[j].next = u2b::<11>(m);
            self.ksh[j].next = u2b::<5>(ks);
            self.vsh[j].next = u2b::<5>(vs);
        }
        self._s.last_grp = g;
    }
}

impl<const A: usize> Logic for KvCacheW<A> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let s = &mut self._s;
            // Staging, with this cycle's pushes.
            if self.push.val() {
                let f = self.pfield.val().index();
                if f < s.kvd {
                    let d = self.pdata.val().to_u64();
                    if self.pv.val() {
                        s.vst[f] = d;
                    } else {
                        s.kst[f] = d;
                    }
                }
            }
            if self.spush.val() {
                let f = self.sfield.val().index();
                if f < s.nkv {
                    let d = self.sdata.val().to_u64();
                    if self.spv.val() {
                        s.vss[f] = d;
                    } else {
                        s.kss[f] = d;
                    }
                }
            }
            // Read (old data) before the write.
            let r = self.raddr.val().index();
            let (kvd, nkv) = (s.kvd, s.nkv);
            if r < s.depth {
                s.rk.copy_from_slice(&s.k[r * kvd..(r + 1) * kvd]);
                s.rv.copy_from_slice(&s.v[r * kvd..(r + 1) * kvd]);
                s.rks.copy_from_slice(&s.ks[r * nkv..(r + 1) * nkv]);
                s.rvs.copy_from_slice(&s.vs[r * nkv..(r + 1) * nkv]);
            } else {
                s.rk.iter_mut().for_each(|x| *x = 0);
                s.rv.iter_mut().for_each(|x| *x = 0);
                s.rks.iter_mut().for_each(|x| *x = 0);
                s.rvs.iter_mut().for_each(|x| *x = 0);
            }
            s.rsel = self.rv.val();
            if self.commit.val() {
                let w = self.waddr.val().index();
                if w < s.depth {
                    s.k[w * kvd..(w + 1) * kvd].copy_from_slice(&s.kst);
                    s.v[w * kvd..(w + 1) * kvd].copy_from_slice(&s.vst);
                    s.ks[w * nkv..(w + 1) * nkv].copy_from_slice(&s.kss);
                    s.vs[w * nkv..(w + 1) * nkv].copy_from_slice(&s.vss);
                }
            }
            self.route_outputs();
        } else if self.grp.val().to_u64() != self._s.last_grp {
            self.route_outputs();
        }
    }
    fn connect(&mut self) {
        for j in 0..A {
            self.mant[j].connect();
            self.ksh[j].connect();
            self.vsh[j].connect();
        }
    }
    fn hdl(&self) -> Verilog {
        let s = &self._s;
        let (depth, kvd, nkv, hd) = (s.depth, s.kvd, s.nkv, s.hd);
        let (kw, sw) = (kvd * 11, nkv * 5);
        let ib = index_bits(depth).min(24);
        let mut v = String::new();
        v += &format!(
            "\
reg [{km}:0] kmem [0:{dm}];
reg [{km}:0] vmem [0:{dm}];
reg [{sm}:0] ksm [0:{dm}];
reg [{sm}:0] vsm [0:{dm}];
reg [{km}:0] kst;
reg [{km}:0] vst;
reg [{sm}:0] kss;
reg [{sm}:0] vss;
reg [{km}:0] kst_n;
reg [{km}:0] vst_n;
reg [{sm}:0] kss_n;
reg [{sm}:0] vss_n;
reg [{km}:0] rk;
reg [{km}:0] rvw;
reg [{sm}:0] rks;
reg [{sm}:0] rvs;
reg rsel;
integer i;
initial begin
   kst = {kw}'d0;
   vst = {kw}'d0;
   kss = {sw}'d0;
   vss = {sw}'d0;
   rk = {kw}'d0;
   rvw = {kw}'d0;
   rks = {sw}'d0;
   rvs = {sw}'d0;
   rsel = 1'b0;
`ifndef SYNTHESIS
   for (i = 0; i < {depth}; i = i + 1) begin
      kmem[i] = {kw}'d0;
      vmem[i] = {kw}'d0;
      ksm[i] = {sw}'d0;
      vsm[i] = {sw}'d0;
   end
`endif
end
always @(*) begin
   kst_n = kst;
   vst_n = vst;
   kss_n = kss;
   vss_n = vss;
",
            km = kw - 1,
            sm = sw - 1,
            dm = depth - 1,
        );
        for f in 0..kvd {
            let (hi, lo) = (f * 11 + 10, f * 11);
            v += &format!(
                "   if (push && (pfield == 16'd{f})) begin\n      if (pv) vst_n[{hi}:{lo}] = pdata;\n      else kst_n[{hi}:{lo}] = pdata;\n   end\n"
            );
        }
        for f in 0..nkv {
            let (hi, lo) = (f * 5 + 4, f * 5);
            v += &format!(
                "   if (spush && (sfield == 8'd{f})) begin\n      if (spv) vss_n[{hi}:{lo}] = sdata;\n      else kss_n[{hi}:{lo}] = sdata;\n   end\n"
            );
        }
        v += &format!(
            "\
end
always @(posedge clock) begin
   kst <= kst_n;
   vst <= vst_n;
   kss <= kss_n;
   vss <= vss_n;
   rsel <= rv;
   if (raddr < 24'd{depth}) begin
      rk <= kmem[raddr[{im}:0]];
      rvw <= vmem[raddr[{im}:0]];
      rks <= ksm[raddr[{im}:0]];
      rvs <= vsm[raddr[{im}:0]];
   end else begin
      rk <= {kw}'d0;
      rvw <= {kw}'d0;
      rks <= {sw}'d0;
      rvs <= {sw}'d0;
   end
   if (commit && (waddr < 24'd{depth})) begin
      kmem[waddr[{im}:0]] <= kst_n;
      vmem[waddr[{im}:0]] <= vst_n;
      ksm[waddr[{im}:0]] <= kss_n;
      vsm[waddr[{im}:0]] <= vss_n;
   end
end
",
            im = ib - 1,
        );
        // Routing.
        let lanes = |r: &Route, ind: &str| -> String {
            let mut o = String::new();
            for (j, kvh) in r.iter().enumerate() {
                match kvh {
                    Some(h) => {
                        let f = h * hd + j % hd;
                        let (hi, lo) = (f * 11 + 10, f * 11);
                        let (shi, slo) = (h * 5 + 4, h * 5);
                        o += &format!(
                            "{ind}mant${j} = rsel ? rvw[{hi}:{lo}] : rk[{hi}:{lo}];\n{ind}ksh${j} = rks[{shi}:{slo}];\n{ind}vsh${j} = rvs[{shi}:{slo}];\n"
                        );
                    }
                    None => {
                        o += &format!(
                            "{ind}mant${j} = 11'd0;\n{ind}ksh${j} = 5'd0;\n{ind}vsh${j} = 5'd0;\n"
                        );
                    }
                }
            }
            o
        };
        v += "always @(*) begin\n";
        if s.route.len() == 1 {
            v += &lanes(&s.route[0], "   ");
        } else {
            v += "   case (grp)\n";
            for (gi, r) in s.route.iter().enumerate() {
                v += &format!("   8'd{gi}: begin\n{}   end\n", lanes(r, "      "));
            }
            let none: Route = vec![None; A];
            v += &format!("   default: begin\n{}   end\n", lanes(&none, "      "));
            v += "   endcase\n";
        }
        v += "end\n";
        if s.route.len() == 1 {
            v += "wire unused_grp = ^grp;\n";
        }
        Verilog::Custom(v)
    }
}

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
/// - q registers: with `qwe`, lane `qlane`'s q mantissa becomes `qdata` (16-bit signed);
///   with `sqwe`, head `sqhead`'s q block shift becomes `sqdata`.
/// - q bank (`ng` words, one per head group; [`AttnCore::with_bank`]): with `bwe`, lane
///   `blane` of word `bgrp` becomes `bdata`; with `bswe`, head `bshead` of the shift word
///   `bgrp` becomes `bsdata` (dropped past `ng`, the lanes or the heads). With `qld`, every
///   lane's q register and every head's q shift take word `lgrp` of the banks (old data if
///   written in the same edge; 0 past `ng`); `qld` wins over `qwe`/`sqwe`.
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
    pub qwe: Signal<In, Bit>,
    pub qlane: Signal<In, Bits<16>>,
    pub qdata: Signal<In, Bits<16>>,
    pub sqwe: Signal<In, Bit>,
    pub sqhead: Signal<In, Bits<8>>,
    pub sqdata: Signal<In, Bits<5>>,
    pub bwe: Signal<In, Bit>,
    pub bgrp: Signal<In, Bits<8>>,
    pub blane: Signal<In, Bits<16>>,
    pub bdata: Signal<In, Bits<16>>,
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
    pub s_t: Signal<In, Bits<16>>,
    pub sm_raddr: Signal<In, Bits<16>>,
    pub e_en: Signal<In, Bit>,
    pub e_first: Signal<In, Bit>,
    pub o_en: Signal<In, Bit>,
    pub o_head: Signal<In, Bits<8>>,
    pub y: Signal<Out, Signed<32>>,
    _s: Box<CoreState>,
    _m: CoreMem,
}

impl<const A: usize> AttnCore<A> {
    /// A core for `g` heads of `hd` elements (`g·hd <= A`) and a score memory of `ctx`
    /// positions, with a q bank of one word.
    pub fn new(hd: usize, g: usize, ctx: usize) -> Self {
        Self::with_bank(hd, g, ctx, 1)
    }

    /// As [`AttnCore::new`] with a q bank of `ng` words (one per head group).
    pub fn with_bank(hd: usize, g: usize, ctx: usize, ng: usize) -> Self {
        assert!(hd >= 1 && g >= 1 && g * hd <= A && g <= 255 && A <= 1 << 15);
        assert!((1..=255).contains(&ng), "AttnCore q bank");
        assert!(ctx >= 1 && ctx < 1 << 16, "AttnCore context");
        let tb = numerics::Tables::get();
        let nl = g * hd;
        Self {
            clock: Default::default(),
            qwe: Default::default(),
            qlane: Default::default(),
            qdata: Default::default(),
            sqwe: Default::default(),
            sqhead: Default::default(),
            sqdata: Default::default(),
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
        // q registers.
        if self.qwe.val() {
            let l = self.qlane.val().index();
            if l < nl {
                s.q[l] = sext(self.qdata.val().to_u64(), 16);
            }
        }
        if self.sqwe.val() {
            let h = self.sqhead.val().index();
            if h < g {
                s.sq[h] = self.sqdata.val().to_u64() as i64;
            }
        }
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
            v += &format!("   if (qwe && (qlane == 16'd{j})) q_{j} <= qdata;\n");
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
   if (sqwe && (sqhead == 8'd{h})) sq_{h} <= sqdata;
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

// ---------------------------------------------------------------------------------------
// The unit
// ---------------------------------------------------------------------------------------

/// The parallel attention unit with `A` lanes (`head_dim` divides `A`). See the module
/// docs.
#[derive(LogicBlock)]
pub struct AttnUnitP<const A: usize> {
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
    /// QKV stream (see the module docs).
    pub st_en: Signal<In, Bit>,
    pub st_valid: Signal<In, Bit>,
    pub st_row: Signal<In, Bits<16>>,
    pub st_data: Signal<In, Signed<32>>,
    /// ATTN on the q of the latest stream (sampled with `start`).
    pub fused: Signal<In, Bit>,
    // Shape constants.
    op_rope: Constant<Bits<4>>,
    op_kvstore: Constant<Bits<4>>,
    op_attn: Constant<Bits<4>>,
    dim16: Constant<Bits<16>>,
    hd16: Constant<Bits<16>>,
    hd_m1: Constant<Bits<16>>,
    rope_last: Constant<Bits<16>>,
    nkv8: Constant<Bits<8>>,
    nkv_m1: Constant<Bits<8>>,
    nvec_m1: Constant<Bits<8>>,
    nh8: Constant<Bits<8>>,
    nh_m1: Constant<Bits<8>>,
    g_m1: Constant<Bits<8>>,
    g8: Constant<Bits<8>>,
    lastg8: Constant<Bits<8>>,
    ng_m1: Constant<Bits<8>>,
    kvb16: Constant<Bits<16>>,
    nhkv8: Constant<Bits<8>>,
    lasthead8: Constant<Bits<8>>,
    wfuse: Constant<Bits<8>>,
    zero4: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    two4: Constant<Bits<4>>,
    three4: Constant<Bits<4>>,
    four4: Constant<Bits<4>>,
    six4: Constant<Bits<4>>,
    zero8: Constant<Bits<8>>,
    one8: Constant<Bits<8>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
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
    s_out: Constant<Bits<4>>,
    s_drain: Constant<Bits<4>>,
    s_fwait: Constant<Bits<4>>,
    // Pipeline item kinds.
    k_none: Constant<Bits<4>>,
    k_rope: Constant<Bits<4>>,
    k_scan: Constant<Bits<4>>,
    k_quant_k: Constant<Bits<4>>,
    k_quant_v: Constant<Bits<4>>,
    k_quant_q: Constant<Bits<4>>,
    k_score: Constant<Bits<4>>,
    k_exp: Constant<Bits<4>>,
    k_out: Constant<Bits<4>>,
    // Leaves.
    bases: PosBases,
    rope_rom: TableRom<18>,
    cache: KvCacheW<A>,
    core: AttnCore<A>,
    blk: Blocker,
    rot: Rope2,
    /// Stream: block conversion of alternate heads, and the buffer of two heads.
    sblk0: Blocker,
    sblk1: Blocker,
    sbuf: LaneMem<1, 16, 32>,
    // Control state.
    state: DFF<Bits<4>>,
    nxt: DFF<Bits<4>>,
    drain: DFF<Bits<4>>,
    wide: DFF<Bit>,
    /// Element counter.
    i: DFF<Bits<16>>,
    /// Position counter.
    t: DFF<Bits<16>>,
    /// Cache word address of position `t`.
    kt: DFF<Bits<24>>,
    /// RoPE table offset (element index mod head_dim).
    m: DFF<Bits<16>>,
    /// Vector-memory base of the current vector.
    vb: DFF<Bits<16>>,
    /// ATT output address.
    oa: DFF<Bits<16>>,
    /// KVSTORE: vector (k heads, then v heads); cache field of the element.
    vv: DFF<Bits<8>>,
    fld: DFF<Bits<16>>,
    /// ATTN: heads loaded so far, heads of the current group, group, lane base, output head.
    h: DFF<Bits<8>>,
    gl: DFF<Bits<8>>,
    grp: DFF<Bits<8>>,
    lane: DFF<Bits<16>>,
    oh: DFF<Bits<8>>,
    areg: DFF<Signed<32>>,
    creg: DFF<Bits<18>>,
    // Tag pipeline: stage n describes the item issued n cycles ago.
    k1: DFF<Bits<4>>,
    k2: DFF<Bits<4>>,
    k3: DFF<Bits<4>>,
    k4: DFF<Bits<4>>,
    k5: DFF<Bits<4>>,
    f1: DFF<Bit>,
    f2: DFF<Bit>,
    f3: DFF<Bit>,
    l1: DFF<Bit>,
    l2: DFF<Bit>,
    a1: DFF<Bits<16>>,
    a2: DFF<Bits<16>>,
    a3: DFF<Bits<16>>,
    a4: DFF<Bits<16>>,
    a5: DFF<Bits<16>>,
    n1: DFF<Bits<16>>,
    n2: DFF<Bits<16>>,
    // Stream, input side: element counter of the next row, then stages 1-4 of a row
    // (valid, data, odd row, v row, second row of the stream, RoPE index).
    sm: DFF<Bits<16>>,
    sm1: DFF<Bits<16>>,
    sv1: DFF<Bit>,
    sv2: DFF<Bit>,
    sv3: DFF<Bit>,
    sv4: DFF<Bit>,
    sx1: DFF<Signed<32>>,
    sx2: DFF<Signed<32>>,
    sx3: DFF<Signed<32>>,
    sx4: DFF<Signed<32>>,
    so1: DFF<Bit>,
    so2: DFF<Bit>,
    so3: DFF<Bit>,
    so4: DFF<Bit>,
    vr1: DFF<Bit>,
    vr2: DFF<Bit>,
    vr3: DFF<Bit>,
    vr4: DFF<Bit>,
    sf1: DFF<Bit>,
    sf2: DFF<Bit>,
    sf3: DFF<Bit>,
    /// RoPE pair: first element and its cos.
    sareg: DFF<Signed<32>>,
    screg: DFF<Bits<18>>,
    /// Stream of a bad (layer, pos): no cache write. Cache word of the stream.
    sbad: DFF<Bit>,
    swa: DFF<Bits<24>>,
    /// Rotated elements: element in head, head (q heads, k heads, v heads), width per
    /// blocker.
    pi: DFF<Bits<16>>,
    pn: DFF<Bits<8>>,
    wd0: DFF<Bit>,
    wd1: DFF<Bit>,
    /// Conversion: active, element, blocker, head; then two stages.
    qa: DFF<Bit>,
    qi: DFF<Bits<16>>,
    qx: DFF<Bit>,
    qn: DFF<Bits<8>>,
    qv1: DFF<Bit>,
    qx1: DFF<Bit>,
    qi1: DFF<Bits<16>>,
    qn1: DFF<Bits<8>>,
    qv2: DFF<Bit>,
    qx2: DFF<Bit>,
    qi2: DFF<Bits<16>>,
    qn2: DFF<Bits<8>>,
    /// Destinations: q bank lane base, head in group, group; cache field.
    bl: DFF<Bits<16>>,
    bh: DFF<Bits<8>>,
    bg: DFF<Bits<8>>,
    fc: DFF<Bits<16>>,
    /// ATTN: fused (sampled with start), wait counter.
    fz: DFF<Bit>,
    wcnt: DFF<Bits<8>>,
    // Combinational temporaries.
    pe_v: Signal<Local, Bit>,
    pe_x: Signal<Local, Signed<32>>,
    pe_f: Signal<Local, Bit>,
    pi_e: Signal<Local, Bits<16>>,
    pn_e: Signal<Local, Bits<8>>,
    px: Signal<Local, Bit>,
    qy16: Signal<Local, Bits<16>>,
    qy11: Signal<Local, Bits<11>>,
    qsh: Signal<Local, Bits<5>>,
    bl_e: Signal<Local, Bits<16>>,
    bh_e: Signal<Local, Bits<8>>,
    bg_e: Signal<Local, Bits<8>>,
    fc_e: Signal<Local, Bits<16>>,
    busy: Signal<Local, Bit>,
    _cfg: Config,
    _ctx: usize,
}

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

impl<const A: usize> AttnUnitP<A> {
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
            A >= hd && A % hd == 0,
            "AttnUnitP: lanes A = {A} must be a non-zero multiple of head_dim {hd}"
        );
        assert!(A <= 4096, "AttnUnitP: at most 4096 lanes");
        assert!(ctx < 1 << 16 && ctx * hd <= 1 << 16, "RoPE table too large");
        assert!(dim + 2 * kvd <= 1 << 16);
        assert!(nh + 2 * nkv <= 255 && c.n_layers <= 255);
        assert!(c.n_layers * ctx < 1 << 24, "cache too large");
        assert!(fused_wait(&c) <= 255);
        let g = heads_per_group(&c, A);
        let ng = nh.div_ceil(g);
        let rope: Vec<u64> = qm.rope[..ctx * hd]
            .iter()
            .map(|&v| v as i64 as u64)
            .collect();
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
            st_en: Default::default(),
            st_valid: Default::default(),
            st_row: Default::default(),
            st_data: Default::default(),
            fused: Default::default(),
            op_rope: c4(OP_ROPE),
            op_kvstore: c4(OP_KVSTORE),
            op_attn: c4(OP_ATTN),
            dim16: c16(dim),
            hd16: c16(hd),
            hd_m1: c16(hd - 1),
            rope_last: c16(dim + kvd - 1),
            nkv8: c8(nkv),
            nkv_m1: c8(nkv - 1),
            nvec_m1: c8(2 * nkv - 1),
            nh8: c8(nh),
            nh_m1: c8(nh - 1),
            g_m1: c8(g - 1),
            g8: c8(g),
            lastg8: c8(nh - (ng - 1) * g),
            ng_m1: c8(ng - 1),
            kvb16: c16(dim + kvd),
            nhkv8: c8(nh + nkv),
            lasthead8: c8(nh + 2 * nkv - 1),
            wfuse: c8(fused_wait(&c)),
            zero4: c4(0),
            one4: c4(1),
            two4: c4(2),
            three4: c4(3),
            four4: c4(4),
            six4: c4(6),
            zero8: c8(0),
            one8: c8(1),
            zero16: c16(0),
            one16: c16(1),
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
            s_out: c4(12),
            s_drain: c4(13),
            s_fwait: c4(14),
            k_none: c4(0),
            k_rope: c4(1),
            k_scan: c4(2),
            k_quant_k: c4(3),
            k_quant_v: c4(4),
            k_quant_q: c4(5),
            k_score: c4(6),
            k_exp: c4(7),
            k_out: c4(8),
            bases: PosBases::new(c.n_layers, ctx, hd),
            rope_rom: TableRom::new(rope),
            cache: KvCacheW::new(c.n_layers * ctx, hd, nh, nkv, g),
            core: AttnCore::with_bank(hd, g, ctx, ng),
            blk: Default::default(),
            rot: Default::default(),
            sblk0: Default::default(),
            sblk1: Default::default(),
            sbuf: LaneMem::new(2 * hd),
            state: Default::default(),
            nxt: Default::default(),
            drain: Default::default(),
            wide: Default::default(),
            i: Default::default(),
            t: Default::default(),
            kt: Default::default(),
            m: Default::default(),
            vb: Default::default(),
            oa: Default::default(),
            vv: Default::default(),
            fld: Default::default(),
            h: Default::default(),
            gl: Default::default(),
            grp: Default::default(),
            lane: Default::default(),
            oh: Default::default(),
            areg: Default::default(),
            creg: Default::default(),
            k1: Default::default(),
            k2: Default::default(),
            k3: Default::default(),
            k4: Default::default(),
            k5: Default::default(),
            f1: Default::default(),
            f2: Default::default(),
            f3: Default::default(),
            l1: Default::default(),
            l2: Default::default(),
            a1: Default::default(),
            a2: Default::default(),
            a3: Default::default(),
            a4: Default::default(),
            a5: Default::default(),
            n1: Default::default(),
            n2: Default::default(),
            sm: Default::default(),
            sm1: Default::default(),
            sv1: Default::default(),
            sv2: Default::default(),
            sv3: Default::default(),
            sv4: Default::default(),
            sx1: Default::default(),
            sx2: Default::default(),
            sx3: Default::default(),
            sx4: Default::default(),
            so1: Default::default(),
            so2: Default::default(),
            so3: Default::default(),
            so4: Default::default(),
            vr1: Default::default(),
            vr2: Default::default(),
            vr3: Default::default(),
            vr4: Default::default(),
            sf1: Default::default(),
            sf2: Default::default(),
            sf3: Default::default(),
            sareg: Default::default(),
            screg: Default::default(),
            sbad: Default::default(),
            swa: Default::default(),
            pi: Default::default(),
            pn: Default::default(),
            wd0: Default::default(),
            wd1: Default::default(),
            qa: Default::default(),
            qi: Default::default(),
            qx: Default::default(),
            qn: Default::default(),
            qv1: Default::default(),
            qx1: Default::default(),
            qi1: Default::default(),
            qn1: Default::default(),
            qv2: Default::default(),
            qx2: Default::default(),
            qi2: Default::default(),
            qn2: Default::default(),
            bl: Default::default(),
            bh: Default::default(),
            bg: Default::default(),
            fc: Default::default(),
            fz: Default::default(),
            wcnt: Default::default(),
            pe_v: Default::default(),
            pe_x: Default::default(),
            pe_f: Default::default(),
            pi_e: Default::default(),
            pn_e: Default::default(),
            px: Default::default(),
            qy16: Default::default(),
            qy11: Default::default(),
            qsh: Default::default(),
            bl_e: Default::default(),
            bh_e: Default::default(),
            bg_e: Default::default(),
            fc_e: Default::default(),
            busy: Default::default(),
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

    /// Query heads processed together.
    pub fn heads_per_group(&self) -> usize {
        heads_per_group(&self._cfg, A)
    }

    /// Cycles of `op` at `pos` on this unit (see [`cycles`]).
    pub fn cycles(&self, op: u64, pos: usize) -> usize {
        cycles(&self._cfg, self._ctx, A, op, pos)
    }

    /// Cycles of a fused ATTN at `pos` on this unit (see [`cycles_fused`]).
    pub fn cycles_fused(&self, pos: usize) -> usize {
        cycles_fused(&self._cfg, self._ctx, A, pos)
    }

    /// Simulated cache contents of (`layer`, `pos`): key mantissas, key shifts, value
    /// mantissas, value shifts (as `golden::KvCache` stores one position).
    pub fn peek_cache(&self, layer: usize, pos: usize) -> (Vec<i32>, Vec<u8>, Vec<i32>, Vec<u8>) {
        self.cache.peek(layer * self._ctx + pos)
    }
}

impl<const A: usize> Logic for AttnUnitP<A> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, nxt, drain, wide, i, t, kt, m, vb, oa, vv, fld, h, gl, grp, lane,
            oh, areg, creg, k1, k2, k3, k4, k5, f1, f2, f3, l1, l2, a1, a2, a3, a4, a5, n1, n2, sm,
            sm1, sv1, sv2, sv3, sv4, sx1, sx2, sx3, sx4, so1, so2, so3, so4, vr1, vr2, vr3, vr4,
            sf1, sf2, sf3, sareg, screg, sbad, swa, pi, pn, wd0, wd1, qa, qi, qx, qn, qv1, qx1,
            qi1, qn1, qv2, qx2, qi2, qn2, bl, bh, bg, fc, fz, wcnt
        );
        clock!(self, clock, bases, rope_rom, cache, core, blk, rot, sblk0, sblk1, sbuf);
        // Parameters.
        self.bases.layer.next = self.layer.val();
        self.bases.pos.next = self.pos.val();
        self.pos_error.next = self.bases.pos_error.val();
        // Stream work in flight (a fused ATTN waits for it).
        self.busy.next = self.st_en.val()
            | self.sv1.q.val()
            | self.sv2.q.val()
            | self.sv3.q.val()
            | self.sv4.q.val()
            | self.qa.q.val()
            | self.qv1.q.val();
        // Issue-stage addresses (meaningful in the states that use them).
        self.vm_raddr.next = self.vb.q.val() + self.i.q.val();
        self.rope_rom.addr.next = self.bases.rope_base.val() + self.m.q.val();
        self.cache.raddr.next = self.kt.q.val();
        self.cache.rv.next = false;
        self.cache.grp.next = self.grp.q.val();
        self.core.sm_raddr.next = self.t.q.val();
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
        for j in 0..A {
            self.core.mant[j].next = self.cache.mant[j].val();
            self.core.ksh[j].next = self.cache.ksh[j].val();
            self.core.vsh[j].next = self.cache.vsh[j].val();
        }
        self.core.qwe.next = false;
        self.core.qlane.next = self.n2.q.val();
        self.core.qdata.next = self.blk.y16.val();
        self.core.sqwe.next = false;
        self.core.sqhead.next = self.gl.q.val();
        self.core.sqdata.next = self.blk.shift.val();
        self.core.bwe.next = false;
        self.core.bgrp.next = self.bg.q.val();
        self.core.blane.next = self.bl.q.val();
        self.core.bdata.next = self.sblk0.y16.val();
        self.core.bswe.next = false;
        self.core.bshead.next = self.bh.q.val();
        self.core.bsdata.next = self.sblk0.shift.val();
        self.core.qld.next = false;
        self.core.lgrp.next = self.grp.q.val();
        self.core.s_en.next = false;
        self.core.s_first.next = self.f1.q.val();
        self.core.s_t.next = self.a1.q.val();
        self.core.e_en.next = false;
        self.core.e_first.next = self.f1.q.val();
        self.core.o_en.next = false;
        self.core.o_head.next = self.oh.q.val();
        // Cache write ports.
        self.cache.push.next = false;
        self.cache.pv.next = self.k2.q.val() == self.k_quant_v.val();
        self.cache.pfield.next = self.n2.q.val();
        self.cache.pdata.next = self.blk.y11.val();
        self.cache.spush.next = false;
        self.cache.spv.next = self.vv.q.val() > self.nkv_m1.val();
        if self.vv.q.val() > self.nkv_m1.val() {
            self.cache.sfield.next = self.vv.q.val() - self.nkv8.val();
        } else {
            self.cache.sfield.next = self.vv.q.val();
        }
        self.cache.sdata.next = self.blk.shift.val();
        self.cache.commit.next = false;
        self.cache.waddr.next = self.bases.row_pos.val();
        self.vm_we.next = false;
        self.vm_waddr.next = self.a5.q.val();
        self.vm_wdata.next = self.core.y.val();
        self.done.next = false;

        // Tag pipeline: nothing issued unless the state says so.
        self.k1.d.next = self.k_none.val();
        self.f1.d.next = false;
        self.l1.d.next = false;
        self.a1.d.next = self.zero16.val();
        self.n1.d.next = self.zero16.val();
        self.k2.d.next = self.k1.q.val();
        self.k3.d.next = self.k2.q.val();
        self.k4.d.next = self.k3.q.val();
        self.k5.d.next = self.k4.q.val();
        self.f2.d.next = self.f1.q.val();
        self.f3.d.next = self.f2.q.val();
        self.l2.d.next = self.l1.q.val();
        self.a2.d.next = self.a1.q.val();
        self.a3.d.next = self.a2.q.val();
        self.a4.d.next = self.a3.q.val();
        self.a5.d.next = self.a4.q.val();
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
            self.core.s_en.next = true;
        }
        if self.k1.q.val() == self.k_exp.val() {
            self.core.e_en.next = true;
        }
        // Stage 2.
        if (self.k2.q.val() == self.k_rope.val()) & self.f2.q.val() {
            self.vm_we.next = true;
            self.vm_waddr.next = self.a2.q.val() - self.one16.val();
            self.vm_wdata.next = self.rot.y0.val();
        }
        if (self.k2.q.val() == self.k_quant_k.val()) | (self.k2.q.val() == self.k_quant_v.val()) {
            self.cache.push.next = true;
            self.cache.commit.next = self.l2.q.val();
        }
        if self.k2.q.val() == self.k_quant_q.val() {
            self.core.qwe.next = true;
        }
        // Stage 3.
        if (self.k3.q.val() == self.k_rope.val()) & self.f3.q.val() {
            self.vm_we.next = true;
            self.vm_waddr.next = self.a3.q.val();
            self.vm_wdata.next = self.rot.y1.val();
        }
        // Stage 5.
        if self.k5.q.val() == self.k_out.val() {
            self.vm_we.next = true;
            self.vm_waddr.next = self.a5.q.val();
            self.vm_wdata.next = self.core.y.val();
        }

        // Issue stage / control.
        if self.state.q.val() == self.s_idle.val() {
            if self.start.val() {
                self.fz.d.next = self.fused.val();
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
            self.vv.d.next = self.zero8.val();
            self.fld.d.next = self.zero16.val();
            self.h.d.next = self.zero8.val();
            self.gl.d.next = self.zero8.val();
            self.grp.d.next = self.zero8.val();
            self.lane.d.next = self.zero16.val();
            self.oh.d.next = self.zero8.val();
            if self.op.val() == self.op_rope.val() {
                self.vb.d.next = self.qkv.val();
                self.state.d.next = self.s_rope.val();
            }
            if self.op.val() == self.op_kvstore.val() {
                self.vb.d.next = self.qkv.val() + self.dim16.val();
                self.wide.d.next = false;
                self.state.d.next = self.s_k_scan.val();
            }
            if self.op.val() == self.op_attn.val() {
                self.vb.d.next = self.qkv.val();
                self.oa.d.next = self.att.val();
                self.wide.d.next = true;
                if self.fz.q.val() {
                    self.wcnt.d.next = self.wfuse.val();
                    self.state.d.next = self.s_fwait.val();
                } else {
                    self.state.d.next = self.s_q_scan.val();
                }
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
        // KVSTORE: per vector (k heads, then v heads): max scan, gap, quantise into the
        // staging registers; the last element commits the whole position.
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
            self.n1.d.next = self.fld.q.val();
            self.l1.d.next =
                (self.vv.q.val() == self.nvec_m1.val()) & (self.i.q.val() == self.hd_m1.val());
            if self.i.q.val() == self.zero16.val() {
                self.cache.spush.next = true;
            }
            self.i.d.next = self.i.q.val() + self.one16.val();
            self.fld.d.next = self.fld.q.val() + self.one16.val();
            if self.i.q.val() == self.hd_m1.val() {
                self.i.d.next = self.zero16.val();
                self.vb.d.next = self.vb.q.val() + self.hd16.val();
                self.vv.d.next = self.vv.q.val() + self.one8.val();
                if self.vv.q.val() == self.nkv_m1.val() {
                    self.fld.d.next = self.zero16.val();
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
        // ATTN, per head of the group: max scan of q, gap, quantise q into its lanes.
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
            self.n1.d.next = self.lane.q.val() + self.i.q.val();
            if self.i.q.val() == self.zero16.val() {
                self.core.sqwe.next = true;
            }
            self.i.d.next = self.i.q.val() + self.one16.val();
            if self.i.q.val() == self.hd_m1.val() {
                self.i.d.next = self.zero16.val();
                self.vb.d.next = self.vb.q.val() + self.hd16.val();
                self.lane.d.next = self.lane.q.val() + self.hd16.val();
                self.h.d.next = self.h.q.val() + self.one8.val();
                self.gl.d.next = self.gl.q.val() + self.one8.val();
                if (self.gl.q.val() == self.g_m1.val()) | (self.h.q.val() == self.nh_m1.val()) {
                    self.t.d.next = self.zero16.val();
                    self.kt.d.next = self.bases.row_layer.val();
                    self.state.d.next = self.s_drain.val();
                    self.drain.d.next = self.zero4.val();
                    self.nxt.d.next = self.s_score.val();
                } else {
                    self.state.d.next = self.s_q_scan.val();
                }
            }
        }
        // Score pass: one position per cycle.
        if self.state.q.val() == self.s_score.val() {
            self.k1.d.next = self.k_score.val();
            self.f1.d.next = self.t.q.val() == self.zero16.val();
            self.a1.d.next = self.t.q.val();
            self.t.d.next = self.t.q.val() + self.one16.val();
            self.kt.d.next = self.kt.q.val() + self.one24.val();
            if self.t.q.val() == self.pos.val() {
                self.t.d.next = self.zero16.val();
                self.kt.d.next = self.bases.row_layer.val();
                self.state.d.next = self.s_drain.val();
                self.drain.d.next = self.three4.val();
                self.nxt.d.next = self.s_exp.val();
            }
        }
        // Exponentials and weighted sum of values: one position per cycle.
        if self.state.q.val() == self.s_exp.val() {
            self.cache.rv.next = true;
            self.k1.d.next = self.k_exp.val();
            self.f1.d.next = self.t.q.val() == self.zero16.val();
            self.t.d.next = self.t.q.val() + self.one16.val();
            self.kt.d.next = self.kt.q.val() + self.one24.val();
            if self.t.q.val() == self.pos.val() {
                self.t.d.next = self.zero16.val();
                self.i.d.next = self.zero16.val();
                self.oh.d.next = self.zero8.val();
                self.state.d.next = self.s_drain.val();
                self.drain.d.next = self.six4.val();
                self.nxt.d.next = self.s_out.val();
            }
        }
        // Output: the group's outputs, one per cycle.
        if self.state.q.val() == self.s_out.val() {
            self.core.o_en.next = true;
            self.k1.d.next = self.k_out.val();
            self.a1.d.next = self.oa.q.val();
            self.oa.d.next = self.oa.q.val() + self.one16.val();
            self.i.d.next = self.i.q.val() + self.one16.val();
            if self.i.q.val() == self.hd_m1.val() {
                self.i.d.next = self.zero16.val();
                self.oh.d.next = self.oh.q.val() + self.one8.val();
                if (self.oh.q.val() + self.one8.val()) == self.gl.q.val() {
                    // Group finished.
                    if self.h.q.val() == self.nh8.val() {
                        self.state.d.next = self.s_drain.val();
                        self.drain.d.next = self.four4.val();
                        self.nxt.d.next = self.s_idle.val();
                    } else {
                        self.grp.d.next = self.grp.q.val() + self.one8.val();
                        self.gl.d.next = self.zero8.val();
                        self.lane.d.next = self.zero16.val();
                        if self.fz.q.val() {
                            // Fused: the next group's q from the bank, straight to scores.
                            self.core.qld.next = true;
                            self.core.lgrp.next = self.grp.q.val() + self.one8.val();
                            if (self.grp.q.val() + self.one8.val()) == self.ng_m1.val() {
                                self.gl.d.next = self.lastg8.val();
                                self.h.d.next = self.h.q.val() + self.lastg8.val();
                            } else {
                                self.gl.d.next = self.g8.val();
                                self.h.d.next = self.h.q.val() + self.g8.val();
                            }
                            self.t.d.next = self.zero16.val();
                            self.kt.d.next = self.bases.row_layer.val();
                            self.state.d.next = self.s_score.val();
                        } else {
                            self.state.d.next = self.s_q_scan.val();
                        }
                    }
                }
            }
        }
        // Fused ATTN: wait (fixed count, and until the stream is processed), then group
        // 0's q from the bank.
        if self.state.q.val() == self.s_fwait.val() {
            if self.wcnt.q.val() != self.zero8.val() {
                self.wcnt.d.next = self.wcnt.q.val() - self.one8.val();
            }
            if (self.wcnt.q.val() == self.zero8.val()) & !self.busy.val() {
                self.core.qld.next = true;
                self.core.lgrp.next = self.grp.q.val();
                if self.grp.q.val() == self.ng_m1.val() {
                    self.gl.d.next = self.lastg8.val();
                    self.h.d.next = self.h.q.val() + self.lastg8.val();
                } else {
                    self.gl.d.next = self.g8.val();
                    self.h.d.next = self.h.q.val() + self.g8.val();
                }
                self.t.d.next = self.zero16.val();
                self.kt.d.next = self.bases.row_layer.val();
                self.state.d.next = self.s_score.val();
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

        // ---- QKV stream (independent of the operations above; see the module docs) ----
        // Stage 0: the row on the ports.
        self.sv1.d.next = self.st_valid.val() & self.st_en.val();
        self.sx1.d.next = self.st_data.val();
        self.so1.d.next = self.st_row.val().get_bit(0);
        self.vr1.d.next = self.st_row.val() >= self.kvb16.val();
        self.sf1.d.next = self.st_row.val() == self.one16.val();
        if self.st_row.val() == self.zero16.val() {
            self.sm1.d.next = self.zero16.val();
        } else {
            self.sm1.d.next = self.sm.q.val();
        }
        if self.st_valid.val() & self.st_en.val() {
            self.sbad.d.next = self.bases.bad.val();
            if self.sm.q.val() == self.hd_m1.val() {
                self.sm.d.next = self.zero16.val();
            } else {
                self.sm.d.next = self.sm.q.val() + self.one16.val();
            }
            if self.st_row.val() == self.zero16.val() {
                self.sm.d.next = self.one16.val();
            }
        }
        // Stage 1: RoPE table read; the cache word of the stream.
        self.sv2.d.next = self.sv1.q.val();
        self.sx2.d.next = self.sx1.q.val();
        self.so2.d.next = self.so1.q.val();
        self.vr2.d.next = self.vr1.q.val();
        self.sf2.d.next = self.sf1.q.val();
        if self.sv1.q.val() {
            self.rope_rom.addr.next = self.bases.rope_base.val() + self.sm1.q.val();
            self.swa.d.next = self.bases.row_pos.val();
        }
        // Stage 2: hold the first element of a pair and its cos; rotate on the second.
        self.sv3.d.next = self.sv2.q.val();
        self.sx3.d.next = self.sx2.q.val();
        self.so3.d.next = self.so2.q.val();
        self.vr3.d.next = self.vr2.q.val();
        self.sf3.d.next = self.sf2.q.val();
        if self.sv2.q.val() & !self.vr2.q.val() {
            if self.so2.q.val() {
                self.rot.en.next = true;
                self.rot.a.next = self.sareg.q.val();
                self.rot.cs.next = self.screg.q.val();
                self.rot.b.next = self.sx2.q.val();
                self.rot.sn.next = self.rope_rom.data.val();
            } else {
                self.sareg.d.next = self.sx2.q.val();
                self.screg.d.next = self.rope_rom.data.val();
            }
        }
        self.sv4.d.next = self.sv3.q.val();
        self.sx4.d.next = self.sx3.q.val();
        self.so4.d.next = self.so3.q.val();
        self.vr4.d.next = self.vr3.q.val();
        // Stages 3 and 4: the rotated pair (first element in stage 3, second in stage 4),
        // v rows in stage 4: one element per cycle, in row order.
        self.pe_v.next = false;
        self.pe_x.next = self.rot.y0.val();
        self.pe_f.next = false;
        if self.sv3.q.val() & !self.vr3.q.val() & self.so3.q.val() {
            self.pe_v.next = true;
            self.pe_x.next = self.rot.y0.val();
            self.pe_f.next = self.sf3.q.val();
        }
        if self.sv4.q.val() & !self.vr4.q.val() & self.so4.q.val() {
            self.pe_v.next = true;
            self.pe_x.next = self.rot.y1.val();
        }
        if self.sv4.q.val() & self.vr4.q.val() {
            self.pe_v.next = true;
            self.pe_x.next = self.sx4.q.val();
        }
        if self.pe_f.val() {
            self.pi_e.next = self.zero16.val();
            self.pn_e.next = self.zero8.val();
        } else {
            self.pi_e.next = self.pi.q.val();
            self.pn_e.next = self.pn.q.val();
        }
        self.px.next = self.pn_e.val().get_bit(0);
        // Each head: max scan in blocker (head & 1) while it is written to half (head & 1)
        // of the buffer.
        self.sbuf.we.next = self.pe_v.val();
        self.sbuf.wlane.next = self.zero8.val();
        self.sbuf.wdata.next = unsigned_cast(self.pe_x.val());
        if self.px.val() {
            self.sbuf.waddr.next = self.hd16.val() + self.pi_e.val();
        } else {
            self.sbuf.waddr.next = self.pi_e.val();
        }
        self.sblk0.en_scan.next = self.pe_v.val() & !self.px.val();
        self.sblk1.en_scan.next = self.pe_v.val() & self.px.val();
        self.sblk0.first.next = self.pi_e.val() == self.zero16.val();
        self.sblk1.first.next = self.pi_e.val() == self.zero16.val();
        self.sblk0.x.next = self.pe_x.val();
        self.sblk1.x.next = self.pe_x.val();
        self.sblk0.wide.next = self.wd0.q.val();
        self.sblk1.wide.next = self.wd1.q.val();
        self.sblk0.en_q.next = false;
        self.sblk1.en_q.next = false;
        if self.pe_v.val() {
            if self.pi_e.val() == self.zero16.val() {
                if self.px.val() {
                    self.wd1.d.next = self.pn_e.val() < self.nh8.val();
                } else {
                    self.wd0.d.next = self.pn_e.val() < self.nh8.val();
                }
            }
            if self.pi_e.val() == self.hd_m1.val() {
                self.pi.d.next = self.zero16.val();
                self.pn.d.next = self.pn_e.val() + self.one8.val();
            } else {
                self.pi.d.next = self.pi_e.val() + self.one16.val();
                self.pn.d.next = self.pn_e.val();
            }
        }
        // Conversion of a complete head: its elements read back one per cycle (the first
        // in the cycle its last element arrives), quantised one cycle later.
        self.qv1.d.next = false;
        self.qx1.d.next = self.qx.q.val();
        self.qi1.d.next = self.qi.q.val();
        self.qn1.d.next = self.qn.q.val();
        if self.qx.q.val() {
            self.sbuf.raddr.next = self.hd16.val() + self.qi.q.val();
        } else {
            self.sbuf.raddr.next = self.qi.q.val();
        }
        if self.qa.q.val() {
            self.qv1.d.next = true;
            self.qi.d.next = self.qi.q.val() + self.one16.val();
            if self.qi.q.val() == self.hd_m1.val() {
                self.qa.d.next = false;
            }
        }
        if self.pe_v.val() & (self.pi_e.val() == self.hd_m1.val()) {
            self.qv1.d.next = true;
            self.qx1.d.next = self.px.val();
            self.qi1.d.next = self.zero16.val();
            self.qn1.d.next = self.pn_e.val();
            self.qa.d.next = true;
            self.qi.d.next = self.one16.val();
            self.qx.d.next = self.px.val();
            self.qn.d.next = self.pn_e.val();
            if self.px.val() {
                self.sbuf.raddr.next = self.hd16.val();
            } else {
                self.sbuf.raddr.next = self.zero16.val();
            }
        }
        self.qv2.d.next = self.qv1.q.val();
        self.qx2.d.next = self.qx1.q.val();
        self.qi2.d.next = self.qi1.q.val();
        self.qn2.d.next = self.qn1.q.val();
        if self.qv1.q.val() {
            if self.qx1.q.val() {
                self.sblk1.en_q.next = true;
                self.sblk1.x.next = signed_cast(self.sbuf.rdata[0].val());
            } else {
                self.sblk0.en_q.next = true;
                self.sblk0.x.next = signed_cast(self.sbuf.rdata[0].val());
            }
        }
        // The converted element: q to the bank, k / v to the cache staging.
        if self.qx2.q.val() {
            self.qy16.next = self.sblk1.y16.val();
            self.qy11.next = self.sblk1.y11.val();
            self.qsh.next = self.sblk1.shift.val();
        } else {
            self.qy16.next = self.sblk0.y16.val();
            self.qy11.next = self.sblk0.y11.val();
            self.qsh.next = self.sblk0.shift.val();
        }
        if (self.qn2.q.val() == self.zero8.val()) & (self.qi2.q.val() == self.zero16.val()) {
            self.bl_e.next = self.zero16.val();
            self.bh_e.next = self.zero8.val();
            self.bg_e.next = self.zero8.val();
        } else {
            self.bl_e.next = self.bl.q.val();
            self.bh_e.next = self.bh.q.val();
            self.bg_e.next = self.bg.q.val();
        }
        if ((self.qn2.q.val() == self.nh8.val()) | (self.qn2.q.val() == self.nhkv8.val()))
            & (self.qi2.q.val() == self.zero16.val())
        {
            self.fc_e.next = self.zero16.val();
        } else {
            self.fc_e.next = self.fc.q.val();
        }
        if self.qv2.q.val() {
            if self.qn2.q.val() < self.nh8.val() {
                self.core.bwe.next = true;
                self.core.bgrp.next = self.bg_e.val();
                self.core.blane.next = self.bl_e.val() + self.qi2.q.val();
                self.core.bdata.next = self.qy16.val();
                self.core.bshead.next = self.bh_e.val();
                self.core.bsdata.next = self.qsh.val();
                self.core.bswe.next = self.qi2.q.val() == self.zero16.val();
                self.bl.d.next = self.bl_e.val();
                self.bh.d.next = self.bh_e.val();
                self.bg.d.next = self.bg_e.val();
                if self.qi2.q.val() == self.hd_m1.val() {
                    if self.bh_e.val() == self.g_m1.val() {
                        self.bl.d.next = self.zero16.val();
                        self.bh.d.next = self.zero8.val();
                        self.bg.d.next = self.bg_e.val() + self.one8.val();
                    } else {
                        self.bl.d.next = self.bl_e.val() + self.hd16.val();
                        self.bh.d.next = self.bh_e.val() + self.one8.val();
                    }
                }
            } else {
                self.cache.push.next = true;
                self.cache.pv.next = self.qn2.q.val() >= self.nhkv8.val();
                self.cache.pfield.next = self.fc_e.val();
                self.cache.pdata.next = self.qy11.val();
                self.fc.d.next = self.fc_e.val() + self.one16.val();
                self.cache.spush.next = self.qi2.q.val() == self.zero16.val();
                self.cache.spv.next = self.qn2.q.val() >= self.nhkv8.val();
                if self.qn2.q.val() >= self.nhkv8.val() {
                    self.cache.sfield.next = self.qn2.q.val() - self.nhkv8.val();
                } else {
                    self.cache.sfield.next = self.qn2.q.val() - self.nh8.val();
                }
                self.cache.sdata.next = self.qsh.val();
                if (self.qn2.q.val() == self.lasthead8.val())
                    & (self.qi2.q.val() == self.hd_m1.val())
                {
                    self.cache.commit.next = !self.sbad.q.val();
                    self.cache.waddr.next = self.swa.q.val();
                }
            }
        }
    }
}
