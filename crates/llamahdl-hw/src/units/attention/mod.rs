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

pub mod core;
pub mod kv_cache;
pub mod leaves;
pub mod pos_bases;

pub use self::core::AttnCore;
pub use kv_cache::KvCacheW;
use leaves::{Blocker, LaneMem, Rope2};
pub use pos_bases::PosBases;

use crate::decoder::program::opcode;
use crate::leaf::TableRom;
use llamahdl_golden::QuantModel;
use llamahdl_model::Config;
use rust_hdl::prelude::*;

/// Operation codes on the unit's `op` input (the program's opcodes).
pub const OP_ROPE: u64 = opcode::ROPE as u64;
/// KVSTORE.
pub const OP_KVSTORE: u64 = opcode::KVSTORE as u64;
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
