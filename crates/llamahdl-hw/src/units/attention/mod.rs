//! The attention unit [`AttnUnit<A>`]: takes the layer's QKV projection rows as they stream
//! out of the matrix-vector unit (RoPE, the key/value store of the position, q's per-head
//! block conversion, all on the way), then runs grouped-query attention for
//! (`layer`, `pos`) on `A` lanes and writes the `dim` outputs, bit for bit as
//! `llamahdl_golden::golden::{rope, kv_store, attend}`: `K` = [`out_width`] per cycle, either
//! one at a time to `ATT` in the vector memory (`vm_*`, `K = 1`) or, when [`XP`] divides
//! `head_dim`, `K = XP` at a time on the group port `y_*` (in the decoder: the
//! matrix-vector input memory's group write).
//!
//! With `A >= head_dim` (`A` need not be a multiple of it): `G = min(floor(A /
//! head_dim), n_heads)` query heads are processed together (lane `g·head_dim + i` holds
//! element `i` of the group's head `g`), in `NG = ceil(n_heads / G)` groups (the last one
//! may be partial). The lanes from `G·head_dim` up to `A` are idle: the cache routes 0 to
//! them, the core keeps no state for them and drives their multiplier operands to 0, and
//! nothing reads their products (stories15M, head_dim 48, on 64 lanes: one head per group,
//! lanes 48..63 idle). There is `C = 1` chunk per head ([`chunks`]).
//!
//! With `A < head_dim`: one head per group (`G = 1`, `NG = n_heads`), each head split into
//! `C = ceil(head_dim / A)` chunks of `A` lanes ([`chunks`]; lane `j` of chunk `c` holds
//! element `c·A + j`; the last chunk may be partial, its lanes past `head_dim` idle as
//! above). The score of a position is that of the whole head: its `C` chunks' partial dot
//! products are added at full width before the score's rounding and saturation. Each chunk
//! then runs as a group does (its own exp / weighted-sum pass over all positions, from the
//! head's score memory, maximum and value shifts, and its own outputs). `K` is 1 when `XP`
//! does not divide `A` ([`out_width_on`]), so that an output item never spans two chunks.
//! stories15M (head_dim 48) on 32 lanes: two chunks of 32 + 16 elements; Llama 2 7B
//! (head_dim 128) on 64 lanes: two chunks of 64.
//!
//! ## Ports
//! | port | dir | type | meaning |
//! | --- | --- | --- | --- |
//! | `clock` | in | Clock | |
//! | `layer` | in | Bits<8> | layer of the stream and of the attention |
//! | `pos` | in | Bits<16> | position of the stream and of the attention |
//! | `pos_error` | out | Bit | `pos >= context` (combinational) |
//! | `st_en` | in | Bit | a QKV stream is on `st_*` (rows are ignored while low) |
//! | `st_valid` | in | Bit | `st_row` / `st_data` hold a row in this cycle |
//! | `st_row` | in | Bits<16> | row index in `[q; k; v]` |
//! | `st_data` | in | Signed<32> | the row's value (Q16.16, before RoPE) |
//! | `start` | in | Bit | one-cycle pulse: attention of (`layer`, `pos`) on the latest stream |
//! | `att` | in | Bits<16> | vector-memory address of the first output |
//! | `done` | out | Bit | one-cycle pulse: finished, every write issued |
//! | `vm_we` | out | Bit | `K = 1`: write `vm_wdata` to `vm_waddr` at the end of this cycle (low with `K = XP`) |
//! | `vm_waddr` | out | Bits<16> | `att + k` for output `k` |
//! | `vm_wdata` | out | Signed<32> | output `k` (Q16.16) |
//! | `y_we` | out | Bit | `K = XP`: outputs `y_idx .. y_idx + XP` are on `y_data` in this cycle (low with `K = 1`) |
//! | `y_idx` | out | Bits<16> | `k`, the offset of the first of them from the first output (a multiple of `XP`; not added to `att`) |
//! | `y_data` | out | [Signed<32>; XP] | outputs `k .. k + XP` (Q16.16); 0 with `K = 1` |
//!
//! ## What is valid when
//! - **Stream**: while `st_en` is high, each cycle with `st_valid` high delivers row
//!   `st_row` of the layer's QKV projection, rows strictly in order `0, 1, …, dim + 2·kv_dim
//!   − 1`, any number of idle cycles between rows. `layer` and `pos` must be valid in every
//!   cycle with a row (they are captured per row). Row 0 restarts the stream's counters.
//!   The front end is [`stream::QkvStream`] (its docs give the pipeline): q heads go to the
//!   q bank of [`AttnCore`] (all heads held), k and v heads to the staging registers of
//!   [`KvCacheW`]; the last v element commits the position to (`layer`, `pos`).
//! - **Stream latency**: with the last row in cycle `c`, the cache word is written at the
//!   end of cycle `c + head_dim + 17` ([`stream_latency`]: `head_dim + 5` plus the
//!   pipeline stages of `Rope2` and `Blocker`, [`leaves::ROPE_EXTRA`] and
//!   [`leaves::BLOCKER_EXTRA`], the stream's input register [`stream::IN_REG`], and the
//!   cache's own write pipeline, [`KV_WRITE_EXTRA`]; readable from the next cycle); the
//!   stream's work in flight (the cache's pending write included) ends by cycle
//!   `c + head_dim + 16`.
//! - A stream at `pos >= context` or `layer >= n_layers` writes nothing to the cache (its q
//!   still goes to the bank; an attention at that position is refused anyway).
//! - **Attention**: `layer`, `pos` and `att` are stable from `start` until `done`. A start
//!   with `pos >= context` or `layer >= n_layers` does nothing but pulse `done` in the next
//!   cycle. Otherwise the unit waits `W = head_dim + 14` cycles ([`wait_cycles`]) *and* until
//!   the stream is processed (`st_en` low, no row in flight), loads group 0's q from the
//!   bank and, per group: (1) score pass, one cached position per cycle: the key word of
//!   (`layer`, `t`) (all kv heads), the `G·head_dim` products, one adder tree per head, the
//!   score `sat32(round(dot·2^(sq+ks−16)))` into the score memory, the running maximum
//!   score and value shift per head (with `C > 1` chunks: `C` items per position in
//!   consecutive cycles, chunk 0 to `C − 1`, each the key chunk's `A` products and the q
//!   chunk picked by the item's chunk; the core adds their sums and writes the score with
//!   the last chunk's item); then, with `C > 1`, steps (2) and (3) once per chunk, the
//!   cache routing and the accumulators those of the chunk: (2) exp / weighted-sum pass, one position per cycle:
//!   `e_t` per head (EXP2 table), the weight aligned to the largest value shift, `acc +=
//!   w·v_mant` in every lane, `z += e_t` per head; (3) the `G·head_dim` outputs in
//!   `G·head_dim / K` output items, one per cycle, each `K` consecutive elements of one
//!   head (sharing its `z`), through the reciprocal of `z` and the output rescale: the
//!   first item copies the group's accumulators, `z` and maximum value shifts into the
//!   core's output snapshot and (unless it is the last group) loads the next group's q and
//!   starts its score pass in the next cycle (with `C > 1`, before the head's last chunk:
//!   starts the next chunk's exp pass instead); the output sequencer issues the group's
//!   (chunk's) other items meanwhile. A group's (chunk's) first item waits until the
//!   previous group's (chunk's) items are all issued. An item's write (`att + k` on `vm_*`, or offset `k` on `y_*`, for its first
//!   output `k`) comes [`O_REG`] + [`core::OUT_LAT`] cycles after its issue (the item's
//!   controls reach the core through a register, since they fan out to the whole output
//!   snapshot); outputs come in order of `k`. Score and exp items enter the core three
//!   cycles after their issue (the cache's [`kv_cache::READ_LATENCY`]: its block RAMs'
//!   read registers, their fabric copies, then the registered lane routing), with the
//!   tags of stage 3.
//!
//! ## Cycles (from the `start` cycle to the `done` cycle; `P = pos + 1`)
//! Started at least 2 cycles after the stream's last row (with `st_en` low by then):
//! `W + 15 + (NG − 1)·(1 + max(S, G·head_dim/K − 1)) + S + n_last/K` ([`cycles`]) with `S =
//! 2·P + 25` the passes of one group (`P` score items, a drain of [`DRAIN_SCORE`] + 1, `P`
//! exp items, a drain of [`DRAIN_EXP`] + 1) and `n_last` the outputs of the last group
//! (the earlier groups' output items overlap the next group's passes; the last item
//! leaves the core's pipeline [`DRAIN_OUT`] cycles after its issue, in the `done` cycle);
//! refused: 1. With `C > 1` chunks the segments are the `NG·C` chunks, in order, each with
//! its passes `S_i` and its `n_i = len_i/K` output items (`len_i = A`, the last chunk of a
//! head `head_dim − (C − 1)·A`): `S_i = C·P + 9 + P + 16` for chunk 0 (the head's score
//! pass, `C·P` items, and the chunk's exp pass) and `P + 16` for the others, and the
//! cycles are `W + 15 + S_0 + Σ_{i ≥ 1} (1 + max(S_i, n_{i−1} − 1)) + n_last` (with `C
//! = 1` this is the formula above). stories15M with `A = 32` (`K = 8`; chunks of 4 and 2
//! items): `6·(4·P + 43) + W + 16 = 24·P + 336` (360 at position 0, 6480 at 255);
//! Llama 2 7B with `A = 64` (two chunks of 8 items): `32·(4·P + 43) + W + 22 = 128·P +
//! 1540`. Started earlier (even during the stream) it waits for the stream and takes
//! longer, with the same results. stories260K (head_dim 8, so `K = 8`) with `A = 64` (one
//! group of 8 heads, 8 output items): `2·P + 70` (72, 326, 1094 at positions 0, 127, 511);
//! with `A = 32` (two groups of 4, 4 items each): `4·P + 92` (96, 604, 2140 at 0, 127,
//! 511). stories15M (head_dim 48, `K = 8`) with `A = 64` (six groups of 1 head, 6 items
//! each, 16 lanes idle): `12·P + 238` (250 at position 0, 3310 at 255).
//!
//! ## Hardware
//! - Multipliers: `min(G·head_dim, A)` lanes of one signed 18 × 11 multiplier each (shared: q
//!   mantissa × key mantissa in the score pass, weight × value mantissa in the weighted
//!   sum; borrowed from the matrix-vector unit in the decoder); per head one 33 × 17
//!   (`d·log2 e`) in the exp path; `K` 48 × 17 output rescales (three 17-bit slices, 3
//!   MULT18X18D each) behind one reciprocal; `Rope2` (two 32 × 18 pairs) in the stream;
//!   the address bases.
//! - Memories ([`KvCacheW`]): key cache and value cache, each one memory of
//!   `n_layers·context` words of `kv_dim·11` bits (word = one (layer, position), all kv
//!   heads); key shifts and value shifts, each `n_layers·context` words of `n_kv·5` bits.
//!   [`AttnCore`]: the score memory (`context` words of `G·32` bits), the EXP2 table (1024
//!   × 17), the RECIP table (1024 × 17), the q bank (`NG` words of `G·head_dim` × 16 bits
//!   plus `NG` × `G` × 5-bit shifts; with `C > 1` the q registers hold the whole head and
//!   each lane picks its chunk's element, a `C`-way select, and the cache's lane routing
//!   has `NG·C` cases). Stream: the RoPE table (`context·head_dim` × 18) and
//!   the two-head buffer (two halves of head_dim rounded up to a power of two, × 32 bits).
//!
//! ## Structure
//! - `mod.rs`: this unit, the control (`#[hdl_gen]`): a state machine issuing one item
//!   (score, exp or output of `K` elements) per cycle and a tag pipeline (`*_s1` ..
//!   `*_s12`: what was issued 1 .. 12 cycles ago).
//! - [`stream`]: the QKV stream front end (`#[hdl_gen]` sub-block).
//! - Hand-written leaves (native `update()` plus a Verilog body, co-simulated in
//!   `tests/attention.rs` and `tests/attention_leaves.rs`): [`PosBases`] (`pos_bases.rs`),
//!   [`KvCacheW`] (`kv_cache.rs`), [`AttnCore`] (`core.rs`), [`leaves::Blocker`],
//!   [`leaves::Rope2`], [`leaves::LaneMem`] (`leaves.rs`).

pub mod core;
pub mod kv_cache;
pub mod leaves;
pub mod pos_bases;
pub mod stream;
pub mod with_bank;

pub use self::core::AttnCore;
pub use kv_cache::KvCacheW;
pub use pos_bases::PosBases;
pub use stream::QkvStream;
pub use with_bank::AttnWithBank;

use crate::bits::{Addr, Pos};
use crate::leaf::XP;
use llamahdl_golden::QuantModel;
use llamahdl_model::Config;
use rust_hdl::prelude::*;

/// Query heads processed together by a unit with `lanes` lanes: `floor(lanes /
/// head_dim)`, at most `n_heads`; 1 when `head_dim > lanes` (the head is then split into
/// [`chunks`]).
pub fn heads_per_group(c: &Config, lanes: usize) -> usize {
    (lanes / c.head_dim()).min(c.n_heads).max(1)
}

/// Chunks of `lanes` lanes a head is split into: `C = ceil(head_dim / lanes)` (1 when
/// `head_dim <= lanes`; the last chunk may be partial).
pub fn chunks(c: &Config, lanes: usize) -> usize {
    c.head_dim().div_ceil(lanes)
}

/// Outputs per cycle of a unit with `lanes` lanes: [`out_width`], except 1 when a head is
/// split into chunks and [`XP`] does not divide `lanes` (an output item never spans two
/// chunks).
pub fn out_width_on(c: &Config, lanes: usize) -> usize {
    let k = out_width(c);
    if chunks(c, lanes) > 1 && lanes % k != 0 {
        1
    } else {
        k
    }
}

/// Outputs the unit writes per cycle for the shape: [`XP`] (the matrix-vector input
/// memory's group write, on `y_*`) when `XP` divides `head_dim`, else 1 (on `vm_*`).
pub fn out_width(c: &Config) -> usize {
    if c.head_dim() % XP == 0 {
        XP
    } else {
        1
    }
}

/// Cycles from `start` to `done` of the attention at `pos` on a unit with `lanes` lanes and
/// a cache of `context` positions, started at least 2 cycles after the last row of the
/// stream (see the module docs): `W + 15 + (NG − 1)·(1 + max(S, G·head_dim/K − 1)) + S +
/// n_last/K` with `S = 2·P + 25`, `W = head_dim + 14` ([`wait_cycles`]), `K` =
/// [`out_width_on`]; with heads split into `C > 1` chunks, the sum over the chunks of the
/// module docs; 1 for a refused start.
pub fn cycles(c: &Config, context: usize, lanes: usize, pos: usize) -> usize {
    if pos >= context {
        return 1;
    }
    let g = heads_per_group(c, lanes);
    let ng = c.n_heads.div_ceil(g);
    let ch = chunks(c, lanes);
    let k = out_width_on(c, lanes);
    let (hd, p) = (c.head_dim(), pos + 1);
    let (score, exp) = (DRAIN_SCORE + 1, DRAIN_EXP + 1);
    // Segments: a group (with chunks: one chunk of a head), each ending in its first
    // output item: (passes before it, its output items).
    let mut segs = Vec::with_capacity(ng * ch);
    for gi in 0..ng {
        let heads = g.min(c.n_heads - gi * g);
        if ch == 1 {
            segs.push((p + score + p + exp, heads * hd / k));
        } else {
            for ci in 0..ch {
                let items = (hd - ci * lanes).min(lanes) / k;
                // Chunk 0 runs the head's score pass (C items per position).
                let pass = if ci == 0 { ch * p + score } else { 0 };
                segs.push((pass + p + exp, items));
            }
        }
    }
    // A segment's outputs drain while the next segment's passes run.
    let mut n = wait_cycles(c) + 3 + DRAIN_OUT + segs[0].0;
    for i in 1..segs.len() {
        n += 1 + segs[i].0.max(segs[i - 1].1 - 1);
    }
    n + segs[segs.len() - 1].1
}

/// Drain cycles after a score pass: the last score is in the score memory and the
/// maximum ([`core::SCORE_LAT`]) before the exp pass reads them.
pub const DRAIN_SCORE: usize = core::SCORE_LAT;
/// Drain cycles after an exp pass: the accumulators are final ([`core::EXP_LAT`] after the
/// item enters the core, [`kv_cache::READ_LATENCY`] − 1 cycles after its issue stage's
/// register: the cache's read edges) when the output pass takes the first one.
pub const DRAIN_EXP: usize = core::EXP_LAT + kv_cache::READ_LATENCY - 1;
/// Drain cycles after the last output: its value leaves the core ([`O_REG`] +
/// [`core::OUT_LAT`]) in
/// the `done` cycle.
pub const DRAIN_OUT: usize = O_REG + core::OUT_LAT - 1;

/// The register between the unit's output sequencer and the core's output controls.
pub const O_REG: usize = 1;

/// Wait cycles at the start of an attention: covers the stream's conversion latency when
/// it starts 2 cycles after the last row, and the wait's registered view of `busy`
/// ([`BUSY_REG`]).
pub fn wait_cycles(c: &Config) -> usize {
    c.head_dim()
        + 1
        + leaves::ROPE_EXTRA
        + leaves::BLOCKER_EXTRA
        + KV_WRITE_EXTRA
        + stream::IN_REG
        + BUSY_REG
}

/// The wait for the stream reads `busy` through a register (it gathers the stream's
/// pipeline and the cache's write, far apart on the chip).
pub const BUSY_REG: usize = 1;

/// Cycles [`KvCacheW`] adds between the last push of a position and its memory write
/// (registered pushes, then the write from the staging registers).
pub const KV_WRITE_EXTRA: usize = 2;

/// Cycles from the last stream row (cycle `c`) to the cache write of the position: the
/// write happens at the end of cycle `c + stream_latency` (readable from the next cycle).
pub fn stream_latency(c: &Config) -> usize {
    c.head_dim() + 5 + leaves::ROPE_EXTRA + leaves::BLOCKER_EXTRA + KV_WRITE_EXTRA + stream::IN_REG
}

pub(crate) fn c3(v: u64) -> Constant<Bits<3>> {
    Constant::new(v.into())
}
pub(crate) fn c8(v: usize) -> Constant<Bits<8>> {
    Constant::new((v as u64).into())
}
pub(crate) fn c16(v: usize) -> Constant<Addr> {
    Constant::new((v as u64).into())
}
pub(crate) fn c24(v: usize) -> Constant<Bits<24>> {
    Constant::new((v as u64).into())
}

/// The attention unit with `A` lanes (`G·head_dim` of them used, or, with `head_dim > A`,
/// heads split into chunks of `A`). See the module docs.
#[derive(LogicBlock)]
pub struct AttnUnit<const A: usize> {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub done: Signal<Out, Bit>,
    pub vm_we: Signal<Out, Bit>,
    pub vm_waddr: Signal<Out, Addr>,
    pub vm_wdata: Signal<Out, Signed<32>>,
    /// The outputs [`XP`] at a time (with `K = XP`, see the module docs).
    pub y_we: Signal<Out, Bit>,
    pub y_idx: Signal<Out, Addr>,
    pub y_data: [Signal<Out, Signed<32>>; XP],
    pub att: Signal<In, Addr>,
    pub layer: Signal<In, Bits<8>>,
    pub pos: Signal<In, Pos>,
    pub pos_error: Signal<Out, Bit>,
    /// QKV stream (see the module docs).
    pub st_en: Signal<In, Bit>,
    pub st_valid: Signal<In, Bit>,
    pub st_row: Signal<In, Addr>,
    pub st_data: Signal<In, Signed<32>>,
    /// The lane multipliers, borrowed from the matrix-vector unit (wired to its `ext_*`
    /// ports; see [`crate::leaf::DotAcc`] and [`AttnCore`]).
    pub m_sel: Signal<Out, Bit>,
    pub m_a: [Signal<Out, Signed<18>>; A],
    pub m_b: [Signal<Out, Signed<11>>; A],
    pub m_p: [Signal<In, Signed<29>>; A],
    // Shape constants.
    /// Output items per head (per chunk of a head, with chunks), minus one, and of the
    /// last chunk (the same with one chunk); `K` outputs per item, and whether `K > 1`
    /// (the outputs go to `y_*` instead of `vm_*`).
    items_m1: Constant<Addr>,
    items_lc_m1: Constant<Addr>,
    kstep: Constant<Addr>,
    wide: Constant<Bit>,
    nh8: Constant<Bits<8>>,
    /// Heads per group; heads of the last group; last group.
    g8: Constant<Bits<8>>,
    last_g8: Constant<Bits<8>>,
    last_group: Constant<Bits<8>>,
    wait8: Constant<Bits<8>>,
    /// Chunks per head (`C`, 1 unless `head_dim > A`), and `C − 1`.
    cstep: Constant<Bits<8>>,
    cm1: Constant<Bits<8>>,
    /// Drain lengths after the score pass, the exp pass and the last group's first output.
    drain_score: Constant<Addr>,
    drain_exp: Constant<Addr>,
    drain_last: Constant<Addr>,
    zero8: Constant<Bits<8>>,
    one8: Constant<Bits<8>>,
    zero16: Constant<Addr>,
    one16: Constant<Addr>,
    one24: Constant<Bits<24>>,
    // Control states.
    s_idle: Constant<Bits<3>>,
    s_refuse: Constant<Bits<3>>,
    s_setup: Constant<Bits<3>>,
    s_wait: Constant<Bits<3>>,
    s_score: Constant<Bits<3>>,
    s_exp: Constant<Bits<3>>,
    s_out: Constant<Bits<3>>,
    s_drain: Constant<Bits<3>>,
    // Blocks.
    bases: PosBases,
    stream: QkvStream,
    cache: KvCacheW<A>,
    core: AttnCore<A>,
    // Control state.
    state: DFF<Bits<3>>,
    /// Drain: cycles left, then the state to go to.
    drain_left: DFF<Bits<16>>,
    after_drain: DFF<Bits<3>>,
    /// Wait cycles left before the first score pass.
    wait_left: DFF<Bits<8>>,
    /// Position of the pass (score / exp) and its cache word address.
    t: DFF<Addr>,
    /// The chunk (of the exp pass and the outputs, or of the next score item) and the
    /// cache routing of chunk 0 of the group (`group·C`): the cache's `grp` is their sum.
    chunk: DFF<Bits<8>>,
    gbase: DFF<Bits<8>>,
    cache_addr: DFF<Bits<24>>,
    /// Output pass: next ATT address (`K = 1`) or element offset (`K > 1`); the output
    /// sequencer (the group's output items after the first: active, item in head, head in
    /// group, heads of the group), which runs while the next group's passes do.
    out_addr: DFF<Addr>,
    oq_active: DFF<Bit>,
    oq_elem: DFF<Addr>,
    oq_head: DFF<Bits<8>>,
    oq_gh: DFF<Bits<8>>,
    /// The sequencer's items per head, minus one (those of the chunk it outputs).
    oq_im1: DFF<Addr>,
    /// Heads started so far, heads of the current group, current group.
    heads_done: DFF<Bits<8>>,
    group_heads: DFF<Bits<8>>,
    group: DFF<Bits<8>>,
    /// The group the next q load takes (the core's `lgrp`, straight from this register,
    /// since it fans out to every lane) and whether it is the last group.
    ld_grp: DFF<Bits<8>>,
    ld_last: DFF<Bit>,
    /// Whether group 0 / group 1 is the last group.
    zero_last: Constant<Bit>,
    one_last: Constant<Bit>,
    // Tag pipeline: stage n describes the item issued n cycles ago. Kind (score, exp,
    // output), first position of a pass, and the address: the position of a score item,
    // the ATT address of an output item.
    score_s1: DFF<Bit>,
    exp_s1: DFF<Bit>,
    first_s1: DFF<Bit>,
    /// Stage 2 of score and exp items: their cache words are on the cache's (registered)
    /// outputs, so they enter the core.
    score_s2: DFF<Bit>,
    exp_s2: DFF<Bit>,
    first_s2: DFF<Bit>,
    addr_s2: DFF<Addr>,
    /// Stage 3: score and exp items enter the core (the cache's three read edges).
    score_s3: DFF<Bit>,
    exp_s3: DFF<Bit>,
    first_s3: DFF<Bit>,
    addr_s3: DFF<Addr>,
    /// The chunk of a score item, stages 1 to 3 (to the core with the item).
    chunk_s1: DFF<Bits<8>>,
    chunk_s2: DFF<Bits<8>>,
    chunk_s3: DFF<Bits<8>>,
    t_s2: DFF<Addr>,
    /// The pass position of one cycle ago: the score memory read of an exp item.
    t_s1: DFF<Addr>,
    out_s1: DFF<Bit>,
    out_s2: DFF<Bit>,
    out_s3: DFF<Bit>,
    out_s4: DFF<Bit>,
    out_s5: DFF<Bit>,
    out_s6: DFF<Bit>,
    out_s7: DFF<Bit>,
    out_s8: DFF<Bit>,
    out_s9: DFF<Bit>,
    out_s10: DFF<Bit>,
    out_s11: DFF<Bit>,
    out_s12: DFF<Bit>,
    out_s13: DFF<Bit>,
    /// The core's output controls, registered ([`O_REG`]): they fan out to the whole
    /// output snapshot.
    o_en_r: DFF<Bit>,
    o_ld_r: DFF<Bit>,
    qld_r: DFF<Bit>,
    done_r: DFF<Bit>,
    /// The exp pass's cache reads (high exactly while `state` is `s_exp`), from a register
    /// rather than the state decode.
    rv_r: DFF<Bit>,
    /// `busy` registered: the wait for the stream reads it a cycle late.
    busy_r: DFF<Bit>,
    lgrp_r: DFF<Bits<8>>,
    o_head_r: DFF<Bits<8>>,
    addr_s1: DFF<Addr>,
    oaddr_s1: DFF<Addr>,
    oaddr_s2: DFF<Addr>,
    oaddr_s3: DFF<Addr>,
    oaddr_s4: DFF<Addr>,
    oaddr_s5: DFF<Addr>,
    oaddr_s6: DFF<Addr>,
    oaddr_s7: DFF<Addr>,
    oaddr_s8: DFF<Addr>,
    oaddr_s9: DFF<Addr>,
    oaddr_s10: DFF<Addr>,
    oaddr_s11: DFF<Addr>,
    oaddr_s12: DFF<Addr>,
    oaddr_s13: DFF<Addr>,
    /// The stream is on the ports or in flight (an attention waits for it).
    busy: Signal<Local, Bit>,
    /// The chunk is the head's last; the output items (minus one) of this chunk.
    clast: Signal<Local, Bit>,
    seg_m1: Signal<Local, Addr>,
    _cfg: Config,
    _ctx: usize,
}

impl<const A: usize> AttnUnit<A> {
    /// A unit for the model's shape with a cache for the full context (`seq_len`).
    pub fn new(qm: &QuantModel) -> Self {
        Self::with_context(qm, qm.config.seq_len)
    }

    /// A unit whose cache (and RoPE table) hold `ctx <= seq_len` positions.
    pub fn with_context(qm: &QuantModel, ctx: usize) -> Self {
        Self::build(&qm.config, &qm.rope, ctx)
    }

    /// A unit for shape `c` whose cache holds `ctx <= seq_len` positions (the RoPE table
    /// computed from the shape, as the golden model's).
    pub fn for_shape(c: &Config, ctx: usize) -> Self {
        Self::build(c, &llamahdl_golden::quant::rope_table(c), ctx)
    }

    fn build(c: &Config, rope_q16: &[i32], ctx: usize) -> Self {
        let c = *c;
        let (dim, hd, nh, nkv, kvd) = (c.dim, c.head_dim(), c.n_heads, c.n_kv_heads, c.kv_dim());
        assert!(
            ctx >= 1 && ctx <= c.seq_len,
            "context {ctx} not in 1..=seq_len"
        );
        assert!(hd >= 2 && hd % 2 == 0 && nh % nkv == 0 && dim == nh * hd);
        assert!(A <= 4096, "AttnUnit: at most 4096 lanes");
        assert!(ctx < 1 << 16 && ctx * hd <= 1 << 16, "RoPE table too large");
        assert!(dim + 2 * kvd <= 1 << 16);
        assert!(nh + 2 * nkv <= 255 && c.n_layers <= 255);
        assert!(c.n_layers * ctx < 1 << 24, "cache too large");
        assert!(wait_cycles(&c) <= 255);
        let g = heads_per_group(&c, A);
        let ng = nh.div_ceil(g);
        let ch = chunks(&c, A);
        let k = out_width_on(&c, A);
        // Elements of a head's chunk (of the last chunk), with chunks; of a head otherwise.
        let (cl, lcl) = if ch > 1 {
            (A, hd - (ch - 1) * A)
        } else {
            (hd, hd)
        };
        assert!(ng * ch <= 256, "AttnUnit: too many groups and chunks");
        let rope: Vec<u64> = rope_q16[..ctx * hd]
            .iter()
            .map(|&v| v as i64 as u64)
            .collect();
        Self {
            clock: Default::default(),
            start: Default::default(),
            done: Default::default(),
            vm_we: Default::default(),
            vm_waddr: Default::default(),
            vm_wdata: Default::default(),
            y_we: Default::default(),
            y_idx: Default::default(),
            y_data: array_init::array_init(|_| Default::default()),
            att: Default::default(),
            layer: Default::default(),
            pos: Default::default(),
            pos_error: Default::default(),
            st_en: Default::default(),
            st_valid: Default::default(),
            st_row: Default::default(),
            st_data: Default::default(),
            m_sel: Default::default(),
            m_a: array_init::array_init(|_| Default::default()),
            m_b: array_init::array_init(|_| Default::default()),
            m_p: array_init::array_init(|_| Default::default()),
            items_m1: c16(cl / k - 1),
            items_lc_m1: c16(lcl / k - 1),
            kstep: c16(k),
            wide: Constant::new(k > 1),
            nh8: c8(nh),
            g8: c8(g),
            last_g8: c8(nh - (ng - 1) * g),
            last_group: c8(ng - 1),
            wait8: c8(wait_cycles(&c)),
            cstep: c8(ch),
            cm1: c8(ch - 1),
            drain_score: c16(DRAIN_SCORE),
            drain_exp: c16(DRAIN_EXP),
            drain_last: c16({
                let d = if ch > 1 {
                    lcl / k - 1 + DRAIN_OUT
                } else {
                    (nh - (ng - 1) * g) * hd / k - 1 + DRAIN_OUT
                };
                assert!(
                    d >= 1,
                    "the registered done needs a drain of at least two cycles"
                );
                d
            }),
            zero8: c8(0),
            one8: c8(1),
            zero16: c16(0),
            one16: c16(1),
            one24: c24(1),
            s_idle: c3(0),
            s_refuse: c3(1),
            s_setup: c3(2),
            s_wait: c3(3),
            s_score: c3(4),
            s_exp: c3(5),
            s_out: c3(6),
            s_drain: c3(7),
            bases: PosBases::new(c.n_layers, ctx, hd),
            stream: QkvStream::new(&c, g, rope),
            cache: KvCacheW::with_chunks(c.n_layers * ctx, hd, nh, nkv, g, ch),
            core: AttnCore::with_chunks(hd, g, ctx, ng, k, ch),
            state: Default::default(),
            drain_left: Default::default(),
            after_drain: Default::default(),
            wait_left: Default::default(),
            t: Default::default(),
            chunk: Default::default(),
            gbase: Default::default(),
            cache_addr: Default::default(),
            out_addr: Default::default(),
            oq_active: Default::default(),
            oq_elem: Default::default(),
            oq_head: Default::default(),
            oq_gh: Default::default(),
            oq_im1: Default::default(),
            heads_done: Default::default(),
            group_heads: Default::default(),
            group: Default::default(),
            ld_grp: Default::default(),
            ld_last: Default::default(),
            zero_last: Constant::new(ng == 1),
            one_last: Constant::new(ng == 2),
            score_s1: Default::default(),
            exp_s1: Default::default(),
            first_s1: Default::default(),
            score_s2: Default::default(),
            exp_s2: Default::default(),
            first_s2: Default::default(),
            addr_s2: Default::default(),
            score_s3: Default::default(),
            exp_s3: Default::default(),
            first_s3: Default::default(),
            addr_s3: Default::default(),
            chunk_s1: Default::default(),
            chunk_s2: Default::default(),
            chunk_s3: Default::default(),
            t_s2: Default::default(),
            t_s1: Default::default(),
            out_s1: Default::default(),
            out_s2: Default::default(),
            out_s3: Default::default(),
            out_s4: Default::default(),
            out_s5: Default::default(),
            out_s6: Default::default(),
            out_s7: Default::default(),
            out_s8: Default::default(),
            out_s9: Default::default(),
            out_s10: Default::default(),
            out_s11: Default::default(),
            out_s12: Default::default(),
            out_s13: Default::default(),
            o_en_r: Default::default(),
            o_ld_r: Default::default(),
            qld_r: Default::default(),
            done_r: Default::default(),
            rv_r: Default::default(),
            busy_r: Default::default(),
            lgrp_r: Default::default(),
            o_head_r: Default::default(),
            addr_s1: Default::default(),
            oaddr_s1: Default::default(),
            oaddr_s2: Default::default(),
            oaddr_s3: Default::default(),
            oaddr_s4: Default::default(),
            oaddr_s5: Default::default(),
            oaddr_s6: Default::default(),
            oaddr_s7: Default::default(),
            oaddr_s8: Default::default(),
            oaddr_s9: Default::default(),
            oaddr_s10: Default::default(),
            oaddr_s11: Default::default(),
            oaddr_s12: Default::default(),
            oaddr_s13: Default::default(),
            busy: Default::default(),
            clast: Default::default(),
            seg_m1: Default::default(),
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

    /// Cycles of the attention at `pos` on this unit (see [`cycles`]).
    pub fn cycles(&self, pos: usize) -> usize {
        cycles(&self._cfg, self._ctx, A, pos)
    }

    /// Simulated cache contents of (`layer`, `pos`): key mantissas, key shifts, value
    /// mantissas, value shifts (as `golden::KvCache` stores one position).
    pub fn peek_cache(&self, layer: usize, pos: usize) -> (Vec<i32>, Vec<u8>, Vec<i32>, Vec<u8>) {
        self.cache.peek(layer * self._ctx + pos)
    }
}

impl<const A: usize> Logic for AttnUnit<A> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            drain_left,
            after_drain,
            wait_left,
            t,
            chunk,
            gbase,
            cache_addr,
            out_addr,
            oq_active,
            oq_elem,
            oq_head,
            oq_gh,
            oq_im1,
            heads_done,
            group_heads,
            group,
            ld_grp,
            ld_last,
            score_s1,
            exp_s1,
            first_s1,
            score_s2,
            exp_s2,
            first_s2,
            addr_s2,
            score_s3,
            exp_s3,
            first_s3,
            addr_s3,
            chunk_s1,
            chunk_s2,
            chunk_s3,
            t_s2,
            t_s1,
            out_s1,
            out_s2,
            out_s3,
            out_s4,
            out_s5,
            out_s6,
            out_s7,
            out_s8,
            out_s9,
            out_s10,
            out_s11,
            out_s12,
            out_s13,
            o_en_r,
            o_ld_r,
            qld_r,
            done_r,
            rv_r,
            busy_r,
            lgrp_r,
            o_head_r,
            addr_s1,
            oaddr_s1,
            oaddr_s2,
            oaddr_s3,
            oaddr_s4,
            oaddr_s5,
            oaddr_s6,
            oaddr_s7,
            oaddr_s8,
            oaddr_s9,
            oaddr_s10,
            oaddr_s11,
            oaddr_s12,
            oaddr_s13
        );
        clock!(self, clock, bases, stream, cache, core);
        // The chunk is the head's last (always, with one chunk), and its output items.
        self.clast.next = self.chunk.q.val() == self.cm1.val();
        self.seg_m1.next = self.items_m1.val();
        if self.clast.val() {
            self.seg_m1.next = self.items_lc_m1.val();
        }
        // Parameters.
        self.bases.layer.next = self.layer.val();
        self.bases.pos.next = self.pos.val();
        self.pos_error.next = self.bases.pos_error.val();
        // The QKV stream front end, into the q bank and the cache staging registers.
        self.stream.row_valid.next = self.st_valid.val() & self.st_en.val();
        self.stream.row.next = self.st_row.val();
        self.stream.row_data.next = self.st_data.val();
        self.stream.rope_base.next = self.bases.rope_base.val();
        self.stream.row_pos.next = self.bases.row_pos.val();
        self.stream.bad.next = self.bases.bad.val();
        self.busy.next = self.st_en.val() | self.stream.in_flight.val() | self.cache.wbusy.val();
        self.busy_r.d.next = self.busy.val();
        self.core.bwe.next = self.stream.bank_we.val();
        self.core.bgrp.next = self.stream.bank_group.val();
        self.core.blane.next = self.stream.bank_lane.val();
        self.core.bdata.next = self.stream.bank_data.val();
        self.core.bswe.next = self.stream.bank_shift_we.val();
        self.core.bshead.next = self.stream.bank_shift_head.val();
        self.core.bsdata.next = self.stream.bank_shift.val();
        self.cache.push.next = self.stream.cache_push.val();
        self.cache.pv.next = self.stream.cache_is_v.val();
        self.cache.pfield.next = self.stream.cache_field.val();
        self.cache.pdata.next = self.stream.cache_data.val();
        self.cache.spush.next = self.stream.cache_shift_push.val();
        self.cache.spv.next = self.stream.cache_is_v.val();
        self.cache.sfield.next = self.stream.cache_shift_field.val();
        self.cache.sdata.next = self.stream.cache_shift.val();
        self.cache.commit.next = self.stream.cache_commit.val();
        self.cache.waddr.next = self.stream.cache_waddr.val();
        // Cache read port and the datapath.
        self.cache.raddr.next = self.cache_addr.q.val();
        self.cache.rv.next = self.rv_r.q.val();
        self.rv_r.d.next = false;
        self.cache.grp.next = self.gbase.q.val() + self.chunk.q.val();
        for j in 0..A {
            self.core.mant[j].next = self.cache.mant[j].val();
            self.core.ksh[j].next = self.cache.ksh[j].val();
            self.core.vsh[j].next = self.cache.vsh[j].val();
            self.m_a[j].next = self.core.m_a[j].val();
            self.m_b[j].next = self.core.m_b[j].val();
            self.core.m_p[j].next = self.m_p[j].val();
        }
        self.m_sel.next = self.core.m_sel.val();
        self.core.sm_raddr.next = self.t_s2.q.val();
        // The q load is registered (it fans out to every lane's q register), with the
        // group it names: the q registers load one cycle later, still a cycle before the
        // score pass's first operands.
        self.qld_r.d.next = false;
        self.lgrp_r.d.next = self.ld_grp.q.val();
        self.core.qld.next = self.qld_r.q.val();
        self.core.lgrp.next = self.lgrp_r.q.val();
        self.core.s_en.next = self.score_s3.q.val();
        self.core.s_first.next = self.first_s3.q.val();
        self.core.s_t.next = self.addr_s3.q.val();
        self.core.s_chunk.next = self.chunk_s3.q.val();
        self.core.e_en.next = self.exp_s3.q.val();
        self.core.e_first.next = self.first_s3.q.val();
        self.o_en_r.d.next = false;
        self.o_ld_r.d.next = false;
        self.o_head_r.d.next = self.oq_head.q.val();
        self.core.o_en.next = self.o_en_r.q.val();
        self.core.o_ld.next = self.o_ld_r.q.val();
        self.core.o_head.next = self.o_head_r.q.val();
        // Outputs leave the core in stage 13 (`O_REG` + `core::OUT_LAT`): one to the vector memory
        // (K = 1) or K at a time on the group port.
        self.vm_we.next = self.out_s13.q.val() & !self.wide.val();
        self.vm_waddr.next = self.oaddr_s13.q.val();
        self.vm_wdata.next = self.core.y[0].val();
        self.y_we.next = self.out_s13.q.val() & self.wide.val();
        self.y_idx.next = self.oaddr_s13.q.val();
        for j in 0..XP {
            self.y_data[j].next = self.core.y[j].val();
        }
        // `done` from a register (it crosses to the sequencer): set the cycle before.
        self.done_r.d.next = false;
        self.done.next = self.done_r.q.val();

        // Tag pipeline: nothing issued unless the state says so.
        self.score_s1.d.next = false;
        self.exp_s1.d.next = false;
        self.first_s1.d.next = false;
        self.out_s1.d.next = false;
        self.addr_s1.d.next = self.zero16.val();
        self.chunk_s1.d.next = self.zero8.val();
        self.chunk_s2.d.next = self.chunk_s1.q.val();
        self.chunk_s3.d.next = self.chunk_s2.q.val();
        self.oaddr_s1.d.next = self.zero16.val();
        self.score_s2.d.next = self.score_s1.q.val();
        self.exp_s2.d.next = self.exp_s1.q.val();
        self.first_s2.d.next = self.first_s1.q.val();
        self.addr_s2.d.next = self.addr_s1.q.val();
        self.score_s3.d.next = self.score_s2.q.val();
        self.exp_s3.d.next = self.exp_s2.q.val();
        self.first_s3.d.next = self.first_s2.q.val();
        self.addr_s3.d.next = self.addr_s2.q.val();
        self.t_s1.d.next = self.t.q.val();
        self.t_s2.d.next = self.t_s1.q.val();
        self.out_s2.d.next = self.out_s1.q.val();
        self.out_s3.d.next = self.out_s2.q.val();
        self.out_s4.d.next = self.out_s3.q.val();
        self.out_s5.d.next = self.out_s4.q.val();
        self.out_s6.d.next = self.out_s5.q.val();
        self.out_s7.d.next = self.out_s6.q.val();
        self.out_s8.d.next = self.out_s7.q.val();
        self.out_s9.d.next = self.out_s8.q.val();
        self.out_s10.d.next = self.out_s9.q.val();
        self.out_s11.d.next = self.out_s10.q.val();
        self.out_s12.d.next = self.out_s11.q.val();
        self.out_s13.d.next = self.out_s12.q.val();
        self.oaddr_s2.d.next = self.oaddr_s1.q.val();
        self.oaddr_s3.d.next = self.oaddr_s2.q.val();
        self.oaddr_s4.d.next = self.oaddr_s3.q.val();
        self.oaddr_s5.d.next = self.oaddr_s4.q.val();
        self.oaddr_s6.d.next = self.oaddr_s5.q.val();
        self.oaddr_s7.d.next = self.oaddr_s6.q.val();
        self.oaddr_s8.d.next = self.oaddr_s7.q.val();
        self.oaddr_s9.d.next = self.oaddr_s8.q.val();
        self.oaddr_s10.d.next = self.oaddr_s9.q.val();
        self.oaddr_s11.d.next = self.oaddr_s10.q.val();
        self.oaddr_s12.d.next = self.oaddr_s11.q.val();
        self.oaddr_s13.d.next = self.oaddr_s12.q.val();

        // Issue stage / control.
        if self.state.q.val() == self.s_idle.val() {
            if self.start.val() {
                if self.bases.bad.val() {
                    self.state.d.next = self.s_refuse.val();
                    self.done_r.d.next = true;
                } else {
                    self.state.d.next = self.s_setup.val();
                }
            }
        }
        if self.state.q.val() == self.s_refuse.val() {
            self.state.d.next = self.s_idle.val();
        }
        if self.state.q.val() == self.s_setup.val() {
            self.t.d.next = self.zero16.val();
            self.heads_done.d.next = self.zero8.val();
            self.group_heads.d.next = self.zero8.val();
            self.group.d.next = self.zero8.val();
            self.gbase.d.next = self.zero8.val();
            self.chunk.d.next = self.zero8.val();
            self.ld_grp.d.next = self.zero8.val();
            self.ld_last.d.next = self.zero_last.val();
            if self.wide.val() {
                self.out_addr.d.next = self.zero16.val();
            } else {
                self.out_addr.d.next = self.att.val();
            }
            self.wait_left.d.next = self.wait8.val();
            self.state.d.next = self.s_wait.val();
        }
        // Wait (fixed count, and until the stream is processed), then group 0's q from the
        // bank.
        if self.state.q.val() == self.s_wait.val() {
            if self.wait_left.q.val() != self.zero8.val() {
                self.wait_left.d.next = self.wait_left.q.val() - self.one8.val();
            }
            if (self.wait_left.q.val() == self.zero8.val()) & !self.busy_r.q.val() {
                self.qld_r.d.next = true;
                self.ld_grp.d.next = self.one8.val();
                self.ld_last.d.next = self.one_last.val();
                if self.ld_last.q.val() {
                    self.group_heads.d.next = self.last_g8.val();
                    self.heads_done.d.next = self.heads_done.q.val() + self.last_g8.val();
                } else {
                    self.group_heads.d.next = self.g8.val();
                    self.heads_done.d.next = self.heads_done.q.val() + self.g8.val();
                }
                self.t.d.next = self.zero16.val();
                self.cache_addr.d.next = self.bases.row_layer.val();
                self.state.d.next = self.s_score.val();
            }
        }
        // Score pass: one position per cycle (one chunk of a position per cycle, the
        // position's chunks in turn).
        if self.state.q.val() == self.s_score.val() {
            self.score_s1.d.next = true;
            self.first_s1.d.next = self.t.q.val() == self.zero16.val();
            self.addr_s1.d.next = self.t.q.val();
            self.chunk_s1.d.next = self.chunk.q.val();
            self.chunk.d.next = self.chunk.q.val() + self.one8.val();
            if self.clast.val() {
                self.chunk.d.next = self.zero8.val();
                self.t.d.next = self.t.q.val() + self.one16.val();
                self.cache_addr.d.next = self.cache_addr.q.val() + self.one24.val();
                if self.t.q.val() == self.pos.val() {
                    self.t.d.next = self.zero16.val();
                    self.cache_addr.d.next = self.bases.row_layer.val();
                    self.state.d.next = self.s_drain.val();
                    self.drain_left.d.next = self.drain_score.val();
                    self.after_drain.d.next = self.s_exp.val();
                }
            }
        }
        // Exponentials and weighted sum of values: one position per cycle.
        if self.state.q.val() == self.s_exp.val() {
            self.rv_r.d.next = true;
            self.exp_s1.d.next = true;
            self.first_s1.d.next = self.t.q.val() == self.zero16.val();
            self.t.d.next = self.t.q.val() + self.one16.val();
            self.cache_addr.d.next = self.cache_addr.q.val() + self.one24.val();
            if self.t.q.val() == self.pos.val() {
                self.t.d.next = self.zero16.val();
                self.rv_r.d.next = false;
                self.state.d.next = self.s_drain.val();
                self.drain_left.d.next = self.drain_exp.val();
                self.after_drain.d.next = self.s_out.val();
            }
        }
        // Output: the group's first output (the core copies the group's accumulators, z
        // and vmax), once the previous group's outputs are all issued; the sequencer
        // issues the others, one per cycle, while the next group's passes run.
        if self.state.q.val() == self.s_out.val() {
            if !self.oq_active.q.val() {
                self.o_ld_r.d.next = true;
                self.o_en_r.d.next = true;
                self.o_head_r.d.next = self.zero8.val();
                self.out_s1.d.next = true;
                self.oaddr_s1.d.next = self.out_addr.q.val();
                self.out_addr.d.next = self.out_addr.q.val() + self.kstep.val();
                if self.seg_m1.val() == self.zero16.val() {
                    // One item per head: the sequencer starts at the next head, if any.
                    self.oq_active.d.next = self.group_heads.q.val() != self.one8.val();
                    self.oq_elem.d.next = self.zero16.val();
                    self.oq_head.d.next = self.one8.val();
                } else {
                    self.oq_active.d.next = true;
                    self.oq_elem.d.next = self.one16.val();
                    self.oq_head.d.next = self.zero8.val();
                }
                self.oq_gh.d.next = self.group_heads.q.val();
                self.oq_im1.d.next = self.seg_m1.val();
                if !self.clast.val() {
                    // The head's next chunk: its exp pass (the score pass is the head's).
                    self.chunk.d.next = self.chunk.q.val() + self.one8.val();
                    self.t.d.next = self.zero16.val();
                    self.cache_addr.d.next = self.bases.row_layer.val();
                    self.rv_r.d.next = true;
                    self.state.d.next = self.s_exp.val();
                }
                if self.clast.val() & (self.heads_done.q.val() == self.nh8.val()) {
                    // The last group: done when its last output leaves the core.
                    self.state.d.next = self.s_drain.val();
                    self.drain_left.d.next = self.drain_last.val();
                    self.after_drain.d.next = self.s_idle.val();
                }
                if self.clast.val() & (self.heads_done.q.val() != self.nh8.val()) {
                    // The next group's q from the bank, straight to its score pass.
                    self.chunk.d.next = self.zero8.val();
                    self.gbase.d.next = self.gbase.q.val() + self.cstep.val();
                    self.group.d.next = self.ld_grp.q.val();
                    self.ld_grp.d.next = self.ld_grp.q.val() + self.one8.val();
                    self.ld_last.d.next =
                        (self.ld_grp.q.val() + self.one8.val()) == self.last_group.val();
                    self.qld_r.d.next = true;
                    if self.ld_last.q.val() {
                        self.group_heads.d.next = self.last_g8.val();
                        self.heads_done.d.next = self.heads_done.q.val() + self.last_g8.val();
                    } else {
                        self.group_heads.d.next = self.g8.val();
                        self.heads_done.d.next = self.heads_done.q.val() + self.g8.val();
                    }
                    self.t.d.next = self.zero16.val();
                    self.cache_addr.d.next = self.bases.row_layer.val();
                    self.state.d.next = self.s_score.val();
                }
            }
        }
        if self.oq_active.q.val() {
            self.o_en_r.d.next = true;
            self.o_head_r.d.next = self.oq_head.q.val();
            self.out_s1.d.next = true;
            self.oaddr_s1.d.next = self.out_addr.q.val();
            self.out_addr.d.next = self.out_addr.q.val() + self.kstep.val();
            self.oq_elem.d.next = self.oq_elem.q.val() + self.one16.val();
            if self.oq_elem.q.val() == self.oq_im1.q.val() {
                self.oq_elem.d.next = self.zero16.val();
                self.oq_head.d.next = self.oq_head.q.val() + self.one8.val();
                if (self.oq_head.q.val() + self.one8.val()) == self.oq_gh.q.val() {
                    self.oq_active.d.next = false;
                }
            }
        }
        if self.state.q.val() == self.s_drain.val() {
            self.drain_left.d.next = self.drain_left.q.val() - self.one16.val();
            if self.drain_left.q.val() == self.zero16.val() {
                self.state.d.next = self.after_drain.q.val();
                self.rv_r.d.next = self.after_drain.q.val() == self.s_exp.val();
            }
            // The last drain's final cycle (every drain lasts more than one cycle).
            if (self.drain_left.q.val() == self.one16.val())
                & (self.after_drain.q.val() == self.s_idle.val())
            {
                self.done_r.d.next = true;
            }
        }
    }
}
