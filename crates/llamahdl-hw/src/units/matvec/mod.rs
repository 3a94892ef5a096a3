//! General matrix-vector unit: `y[r] = W[r] · x` for a run of rows of the weight ROM (or
//! of the QKV weight buffer), `L` lanes per cycle, exactly as
//! `llamahdl_golden::numerics::dot_row` computes.
//!
//! ## Interface
//! - Input vector: an [`XMem`] of 32-bit lanes written either a word of `L` 16-bit
//!   mantissas at a time (`x_we`/`x_waddr`/`x_wdata`) or an element at a time
//!   (`xs_we`/`xs_waddr`/`xs_wdata`, 32 bits) or [`XP`] elements at a time
//!   (`xp_we`/`xp_idx`/`xp_data`); lanes past the row length must be 0. With
//!   `x_raw` low the words are block mantissas (`llamahdl_golden::numerics::to_block16`)
//!   whose shift is on `x_shift`; with `x_raw` high they are raw Q16.16 values and
//!   `x_shift` is their block shift: each beat is converted to mantissas as it is read
//!   (in [`DotAcc`]'s first stage), so no separate conversion pass is needed.
//! - `start` (one cycle, ignored while `busy`) samples `use_ram`, `x_raw`, `x_shift`,
//!   `x_base` (first XMem word of the input), `rom_base` (ROM word of the first row), `rom_row_base` (its row in the scale ROM),
//!   `rows_m1`, `beats_m1` (rows and words per row, minus one), `dst`, `post` and `src`,
//!   then runs every row.
//! - `post` fuses element-wise work into the output stream: [`POST_NONE`] writes
//!   `y[r]` to `dst + r`; [`POST_ACC`] writes `add_q16(vm[dst + r], y[r])` (the residual
//!   add, read-modify-write through `vm_raddr`/`vm_rdata`); [`POST_SWIGLU`] writes
//!   `mul_q16(silu(vm[src + r]), y[r])` ([`SiluMul`]), [`SWIGLU_EXTRA`] cycles later than the others,
//!   for the rows from `split` on; rows before `split` are written as with [`POST_NONE`]
//!   (so W1 and W3, one after the other in the ROM, run as one operation: W3's row `r`
//!   gates on W1's result, written long before; `src` and `r` add modulo 2^16). Such
//!   SwiGLU writes are flagged by `vm_sw`.
//! - Weights: `use_ram` low reads the compiled-in ROM; high reads the QKV weight buffer
//!   through `buf_rd_addr` (word within the run) and `buf_rd_row` (row within the run),
//!   answered on `buf_rd_data`/`buf_rd_mant`/`buf_rd_exp` one cycle later (the unit
//!   registers that answer once more, so both sources arrive [`MEM_LATENCY`] cycles
//!   after the address).
//! - Stream mode (`stream` high at `start`; the design with weights in DRAM): every
//!   word, and its row's scale, comes from a stream in consumption order (row by row,
//!   `beats` words a row; an embedding's row once, `ceil(len / L)` words). The caller
//!   keeps the stream's head word in a queue and raises `st_valid` while there is one;
//!   the unit issues a word only in a cycle with `st_valid` and then pulses `st_pop`
//!   (an embedding pops at each lane 0 and re-uses the word for its other lanes, without
//!   waiting). The popped word must be on `buf_rd_data`, with the row's scale on
//!   `buf_rd_mant`/`buf_rd_exp`, in the next cycle and held until the next pop (a
//!   register loaded on `st_pop`), like the weight buffer's answer. The ROM is not read.
//!   Cycles without `st_valid` are bubbles that travel down the pipeline; the result is
//!   the same as without them, and every row's result still comes [`LATENCY`] cycles
//!   after its last word's issue.
//! - Output: `out_valid` with `out_row` (row within the run) and `out_data` (Q16.16), one
//!   row every `beats` cycles; the same result (or its post-operation) is written to the
//!   vector memory at `dst + out_row` (`vm_we`/`vm_waddr`/`vm_wdata`) a cycle later
//!   ([`SWIGLU_EXTRA`] cycles later with SwiGLU); `done` pulses with the last row's
//!   write. The vector memory answers `vm_raddr` on `vm_rdata` one cycle later.
//!
//! ## Timing
//! Cycle 0 is the `start` cycle. Word `b` of row `r` is issued in cycle
//! `1 + r * beats + b` (in stream mode: in the `(r * beats + b + 1)`-th cycle with
//! `st_valid` from cycle 1 on); the row's result appears on `out_valid` [`LATENCY`] cycles after
//! its last word is issued, its write one cycle later: `done` comes
//! `rows * beats + LATENCY + 1` cycles after `start` (`rows * beats + LATENCY +`
//! [`SWIGLU_EXTRA`] with [`POST_SWIGLU`]).
//! An embedding run outputs element `e` in cycle `1 + e + EMBED_LATENCY`.
//! `busy` is high from the cycle after `start` through the `done` cycle; `start` is
//! accepted only when `busy` is low.
//!
//! Pipeline of a word issued in cycle t (every stage registered):
//!
//! | cycle | stage |
//! | --- | --- |
//! | t | addresses: weight ROM, scale ROM, input memory (or the weight buffer) |
//! | t + 3 | words read ([`MEM_LATENCY`]); the weight source selected into [`DotAcc`] |
//! | t + 10 | the row's sum in the accumulator ([`DOT_LATENCY`]) |
//! | t + 16 | the rescaled row ([`FINISH_LATENCY`]): `out_valid` |
//! | t + 17 | the vector-memory write (and `done` with the last row) |
//!
//! The row tags (last word, row, row scale, destination address) travel beside the data
//! in delay lines, and every memory address comes from a register. For [`POST_ACC`] the
//! destination is read in cycle t + 14, registered, and added in t + 16; for
//! [`POST_SWIGLU`] the gate is read in cycle t + 1 and delayed to meet [`SiluMul`]'s
//! [`post::SILU_H`] stages.

pub mod post;

use crate::bits::{Addr, ADDR_SPACE};
use crate::leaf::{
    Delay, DelayBit, DelayS, DotAcc, LaneReg, LaneRom, LaneShift, RowFinish, ScaleRom, TableRom,
    XMem, DOT_LATENCY, FINISH_LATENCY, MEM_LATENCY, XP,
};
use llamahdl_golden::QMatrix;
use post::{silu_pair_words, AddSat32, SiluMul};
use rust_hdl::prelude::*;

/// Cycles from issuing a row's last word to its `out_valid`: memory read
/// ([`MEM_LATENCY`]), the quantise-multiply-accumulate pipeline ([`DOT_LATENCY`]), the
/// rescale pipeline ([`FINISH_LATENCY`]).
pub const LATENCY: usize = MEM_LATENCY + DOT_LATENCY + FINISH_LATENCY;

/// Cycles from issuing an embedding element to its output: memory read, the lane pick
/// (registered), and rescale.
pub const EMBED_LATENCY: usize = MEM_LATENCY + 1 + FINISH_LATENCY;

/// Cycles the gate read for [`POST_SWIGLU`] (data one cycle after the read) waits
/// before it enters [`SiluMul`], so that SiluMul samples the row result when it appears.
const GATE_DELAY: usize = LATENCY - 2 - post::SILU_H;
const _: () = assert!(LATENCY >= 3 + post::SILU_H, "SwiGLU gate read too late");

/// Cycles [`POST_SWIGLU`]'s writes and `done` come after `out_valid`: SiluMul's stages
/// after it samples the row result.
pub const SWIGLU_EXTRA: usize = post::SILU_Y - post::SILU_H;

/// `post`: write the row results as they are.
pub const POST_NONE: u64 = 0;
/// `post`: residual add into the destination.
pub const POST_ACC: u64 = 1;
/// `post`: SwiGLU with the vector at `src`.
pub const POST_SWIGLU: u64 = 2;

/// Words of `L` int8 weights for a ROM holding `mats` one after another, row by row,
/// `ceil(cols / L)` words per row, zero-padded.
pub fn rom_words<const L: usize>(mats: &[&QMatrix]) -> Vec<[i8; L]> {
    let mut words = Vec::new();
    for m in mats {
        for r in 0..m.rows {
            for chunk in m.row(r).chunks(L) {
                let mut w = [0i8; L];
                w[..chunk.len()].copy_from_slice(chunk);
                words.push(w);
            }
        }
    }
    words
}

/// Row scales of `mats`, in row order.
pub fn rom_scales(mats: &[&QMatrix]) -> Vec<(u8, i8)> {
    mats.iter()
        .flat_map(|m| m.mant.iter().copied().zip(m.exp.iter().copied()))
        .collect()
}

#[derive(LogicBlock)]
pub struct MatVec<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub x_we: Signal<In, Bit>,
    pub x_waddr: Signal<In, Addr>,
    pub x_wdata: [Signal<In, Signed<16>>; L],
    pub xs_we: Signal<In, Bit>,
    pub xs_waddr: Signal<In, Addr>,
    pub xs_wdata: Signal<In, Signed<32>>,
    /// Group write of [`XP`] raw elements (`xp_idx` a multiple of [`XP`]; the RMSNorm
    /// unit's output).
    pub xp_we: Signal<In, Bit>,
    pub xp_idx: Signal<In, Addr>,
    pub xp_data: [Signal<In, Signed<32>>; XP],
    pub x_shift: Signal<In, Bits<5>>,
    pub x_raw: Signal<In, Bit>,
    /// First XMem word of the input vector (sampled at `start`).
    pub x_base: Signal<In, Addr>,
    pub post: Signal<In, Bits<2>>,
    pub src: Signal<In, Addr>,
    /// With [`POST_SWIGLU`]: the first row that takes it (sampled at `start`).
    pub split: Signal<In, Addr>,
    pub vm_rdata: Signal<In, Signed<32>>,
    pub start: Signal<In, Bit>,
    pub use_ram: Signal<In, Bit>,
    pub rom_base: Signal<In, Addr>,
    pub rom_row_base: Signal<In, Addr>,
    pub rows_m1: Signal<In, Addr>,
    pub beats_m1: Signal<In, Addr>,
    pub dst: Signal<In, Addr>,
    /// Embedding mode (sampled at `start`): instead of dot products, output the
    /// `len_m1 + 1` weights of the row at `rom_base`/`rom_row_base` one per cycle,
    /// dequantised to Q16.16.
    pub embed: Signal<In, Bit>,
    pub len_m1: Signal<In, Addr>,
    /// Stream mode (sampled at `start`): the weights and row scales arrive as a stream
    /// of words on `buf_rd_*` instead of from the ROM or the weight buffer (see the
    /// module docs).
    pub stream: Signal<In, Bit>,
    /// Stream mode: a word is at the head of the stream (the caller's queue).
    pub st_valid: Signal<In, Bit>,
    /// Stream mode: the head word is taken in this cycle (it must be on `buf_rd_*` in the
    /// next cycle). Combinational from `st_valid` and this unit's registers.
    pub st_pop: Signal<Out, Bit>,
    pub buf_rd_addr: Signal<Out, Addr>,
    pub buf_rd_row: Signal<Out, Addr>,
    pub buf_rd_data: [Signal<In, Signed<8>>; L],
    pub buf_rd_mant: Signal<In, Bits<8>>,
    pub buf_rd_exp: Signal<In, Signed<8>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_row: Signal<Out, Addr>,
    pub out_data: Signal<Out, Signed<32>>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub vm_raddr: Signal<Out, Addr>,
    pub vm_we: Signal<Out, Bit>,
    pub vm_waddr: Signal<Out, Addr>,
    pub vm_wdata: Signal<Out, Signed<32>>,
    /// High with `vm_we` when the write is a SwiGLU result (a row from `split` on).
    pub vm_sw: Signal<Out, Bit>,
    /// The lane multipliers lent to another unit (the attention unit) while this one is
    /// idle: [`DotAcc`]'s `ext_sel`, `ext_a`, `ext_b`, `ext_p` (see there for the timing).
    pub ext_sel: Signal<In, Bit>,
    pub ext_a: [Signal<In, Signed<18>>; L],
    pub ext_b: [Signal<In, Signed<11>>; L],
    pub ext_p: [Signal<Out, Signed<29>>; L],
    rows_r: DFF<Addr>,
    len_r: DFF<Addr>,
    dshift: DFF<Bits<5>>,
    xbase_r: DFF<Addr>,
    post_r: DFF<Bits<2>>,
    src_r: DFF<Addr>,
    split_r: DFF<Addr>,
    beats_r: DFF<Addr>,
    dst_r: DFF<Addr>,
    running: DFF<Bit>,
    sel_ram: DFF<Bit>,
    /// Stream mode of the running operation.
    sel_st: DFF<Bit>,
    /// This cycle issues the current word (stream mode: only when one is there).
    adv: Signal<Local, Bit>,
    shift: DFF<Bits<5>>,
    addr: DFF<Addr>,
    beat: DFF<Addr>,
    row: DFF<Addr>,
    rbase: DFF<Addr>,
    rrbase: DFF<Addr>,
    emb: DFF<Bit>,
    lane: DFF<Addr>,
    elem: DFF<Addr>,
    /// Cycles until the last issued word has left the pipeline (`busy` after `running`).
    drain: DFF<Bits<5>>,
    drain_n: DFF<Bits<5>>,
    // Row tags. s1: the cycle after issue; m: words read (DotAcc input); sq: row scale
    // registered; a: the accumulator holds the row; p: the cycle before the rescaled row;
    // s4: the rescaled row (out_valid); s5: SwiGLU's result (SWIGLU_EXTRA later).
    s1_valid: DFF<Bit>,
    s1_first: DFF<Bit>,
    s1_last: DFF<Bit>,
    s1_row: DFF<Addr>,
    // t + 2: the tags wait for the memories' third read stage.
    s2_valid: DFF<Bit>,
    s2_first: DFF<Bit>,
    s2_last: DFF<Bit>,
    s2_row: DFF<Addr>,
    e2_valid: DFF<Bit>,
    e2_lane: DFF<Addr>,
    e2_elem: DFF<Addr>,
    bq2_data: LaneReg<L>,
    bq2_mant: DFF<Bits<8>>,
    bq2_exp: DFF<Signed<8>>,
    m_valid: DFF<Bit>,
    m_first: DFF<Bit>,
    m_last: DFF<Bit>,
    m_row: DFF<Addr>,
    sq_mant: DFF<Bits<8>>,
    sq_exp: DFF<Signed<8>>,
    a_last: DelayBit,
    a_row: Delay<16>,
    a_mant: Delay<8>,
    a_exp: DelayS<8>,
    p_last: DelayBit,
    p_row: Delay<16>,
    s4_last: DFF<Bit>,
    s4_row: DFF<Addr>,
    /// The row at s4 takes SwiGLU (`post` is SwiGLU and its row is at or past `split`).
    s4_sw: DFF<Bit>,
    s5_last: DelayBit,
    // Absolute addresses: ROM word, scale row, input word (kept beside the relative
    // counters so that no adder sits in front of a memory address), and the
    // destination row along the pipeline (m, a, read r = t + 14, write w = t + 17, SwiGLU
    // write sw).
    rom_a: DFF<Addr>,
    srow_a: DFF<Addr>,
    xaddr_a: DFF<Addr>,
    s1_src: DFF<Addr>,
    m_dst: DFF<Addr>,
    a_dst: Delay<16>,
    r_dst: Delay<16>,
    w_dst: Delay<16>,
    sw_dst: Delay<16>,
    w_last: DFF<Bit>,
    /// `done` registered: the last row's (or the embedding's last element's) write, decided
    /// a cycle ahead (`w_done`, `s5_done`, `eo_done` beside `w_last`, `s5_last`, `eo_valid`).
    w_done: DFF<Bit>,
    s5_done: DelayBit,
    eo_done: DelayBit,
    /// The destination's old value (POST_ACC), the sum, and the plain result, registered.
    rq: DFF<Signed<32>>,
    acc_sum: DFF<Signed<32>>,
    y_w: DFF<Signed<32>>,
    em_dst: DFF<Addr>,
    eo_dst: Delay<16>,
    // Embedding tags: e1 the cycle after issue, em the word read, eo the output.
    e1_valid: DFF<Bit>,
    e1_lane: DFF<Addr>,
    e1_elem: DFF<Addr>,
    em_valid: DFF<Bit>,
    /// The element is lane 0 of its word: the word is loaded into `lane_shift`.
    em_first: DFF<Bit>,
    em_elem: DFF<Addr>,
    // The embedding's element out of `lane_shift` (registered, cycle t + 4), with its tags.
    em2_valid: DFF<Bit>,
    em2_elem: DFF<Addr>,
    em2_dst: DFF<Addr>,
    eo_valid: DelayBit,
    eo_elem: Delay<16>,
    // The weight buffer's answer, registered to the ROMs' latency.
    bq_data: LaneReg<L>,
    bq_mant: DFF<Bits<8>>,
    bq_exp: DFF<Signed<8>>,
    gate: DelayS<32>,
    post_acc: Constant<Bits<2>>,
    post_swiglu: Constant<Bits<2>>,
    zero5: Constant<Bits<5>>,
    one5: Constant<Bits<5>>,
    drain_mv: Constant<Bits<5>>,
    drain_sw: Constant<Bits<5>>,
    drain_emb: Constant<Bits<5>>,
    lanes_m1: Constant<Addr>,
    sixteen: Constant<Bits<5>>,
    zero16: Constant<Addr>,
    one16: Constant<Addr>,
    silu: SiluMul,
    silu_tab: TableRom<34>,
    addsat: AddSat32,
    lane_shift: LaneShift<L>,
    rom: LaneRom<L>,
    scale_rom: ScaleRom,
    xram: XMem<L>,
    dot: DotAcc<L>,
    finish: RowFinish,
}

impl<const L: usize> MatVec<L> {
    /// Cycles in which a borrower took the lane multipliers from a beat in flight (in
    /// simulation; see [`DotAcc::collisions`]).
    pub fn bank_collisions(&self) -> u64 {
        self.dot.collisions()
    }

    /// A unit whose ROM holds `mats` one after another (see [`rom_words`]) and whose
    /// input memory holds vectors of up to `max_cols` elements.
    pub fn new(mats: &[&QMatrix], max_cols: usize) -> Self {
        Self::build(rom_words::<L>(mats), rom_scales(mats), max_cols)
    }

    /// A unit without weights, for stream mode only (its ROM is one zero word), whose
    /// input memory holds vectors of up to `max_cols` elements.
    pub fn streaming(max_cols: usize) -> Self {
        Self::build(vec![[0; L]], vec![(128, 0)], max_cols)
    }

    fn build(words: Vec<[i8; L]>, scales: Vec<(u8, i8)>, max_cols: usize) -> Self {
        assert!(!words.is_empty() && words.len() <= ADDR_SPACE, "ROM size");
        Self {
            clock: Default::default(),
            x_we: Default::default(),
            x_waddr: Default::default(),
            x_wdata: array_init::array_init(|_| Default::default()),
            xs_we: Default::default(),
            xs_waddr: Default::default(),
            xs_wdata: Default::default(),
            xp_we: Default::default(),
            xp_idx: Default::default(),
            xp_data: array_init::array_init(|_| Default::default()),
            x_shift: Default::default(),
            x_raw: Default::default(),
            x_base: Default::default(),
            post: Default::default(),
            src: Default::default(),
            split: Default::default(),
            vm_rdata: Default::default(),
            start: Default::default(),
            use_ram: Default::default(),
            rom_base: Default::default(),
            rom_row_base: Default::default(),
            rows_m1: Default::default(),
            beats_m1: Default::default(),
            dst: Default::default(),
            embed: Default::default(),
            len_m1: Default::default(),
            stream: Default::default(),
            st_valid: Default::default(),
            st_pop: Default::default(),
            buf_rd_addr: Default::default(),
            buf_rd_row: Default::default(),
            buf_rd_data: array_init::array_init(|_| Default::default()),
            buf_rd_mant: Default::default(),
            buf_rd_exp: Default::default(),
            out_valid: Default::default(),
            out_row: Default::default(),
            out_data: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            vm_raddr: Default::default(),
            vm_we: Default::default(),
            vm_waddr: Default::default(),
            vm_wdata: Default::default(),
            vm_sw: Default::default(),
            ext_sel: Default::default(),
            ext_a: array_init::array_init(|_| Default::default()),
            ext_b: array_init::array_init(|_| Default::default()),
            ext_p: array_init::array_init(|_| Default::default()),
            rows_r: Default::default(),
            len_r: Default::default(),
            dshift: Default::default(),
            xbase_r: Default::default(),
            post_r: Default::default(),
            src_r: Default::default(),
            split_r: Default::default(),
            beats_r: Default::default(),
            dst_r: Default::default(),
            running: Default::default(),
            sel_ram: Default::default(),
            sel_st: Default::default(),
            adv: Default::default(),
            shift: Default::default(),
            addr: Default::default(),
            beat: Default::default(),
            row: Default::default(),
            rbase: Default::default(),
            rrbase: Default::default(),
            emb: Default::default(),
            lane: Default::default(),
            elem: Default::default(),
            drain: Default::default(),
            drain_n: Default::default(),
            s1_valid: Default::default(),
            s1_first: Default::default(),
            s1_last: Default::default(),
            s1_row: Default::default(),
            s2_valid: Default::default(),
            s2_first: Default::default(),
            s2_last: Default::default(),
            s2_row: Default::default(),
            e2_valid: Default::default(),
            e2_lane: Default::default(),
            e2_elem: Default::default(),
            bq2_data: Default::default(),
            bq2_mant: Default::default(),
            bq2_exp: Default::default(),
            m_valid: Default::default(),
            m_first: Default::default(),
            m_last: Default::default(),
            m_row: Default::default(),
            sq_mant: Default::default(),
            sq_exp: Default::default(),
            a_last: DelayBit::new(DOT_LATENCY),
            a_row: Delay::new(DOT_LATENCY),
            a_mant: Delay::new(DOT_LATENCY - 1),
            a_exp: DelayS::new(DOT_LATENCY - 1),
            p_last: DelayBit::new(FINISH_LATENCY - 1),
            p_row: Delay::new(FINISH_LATENCY - 1),
            s4_last: Default::default(),
            s4_row: Default::default(),
            s4_sw: Default::default(),
            s5_last: DelayBit::new(SWIGLU_EXTRA),
            rom_a: Default::default(),
            srow_a: Default::default(),
            xaddr_a: Default::default(),
            s1_src: Default::default(),
            m_dst: Default::default(),
            a_dst: Delay::new(DOT_LATENCY),
            r_dst: Delay::new(FINISH_LATENCY - 2),
            w_dst: Delay::new(3),
            sw_dst: Delay::new(SWIGLU_EXTRA - 1),
            w_last: Default::default(),
            w_done: Default::default(),
            s5_done: DelayBit::new(SWIGLU_EXTRA),
            eo_done: DelayBit::new(FINISH_LATENCY),
            rq: Default::default(),
            acc_sum: Default::default(),
            y_w: Default::default(),
            em_dst: Default::default(),
            eo_dst: Delay::new(FINISH_LATENCY),
            e1_valid: Default::default(),
            e1_lane: Default::default(),
            e1_elem: Default::default(),
            em_valid: Default::default(),
            em_first: Default::default(),
            em_elem: Default::default(),
            em2_valid: Default::default(),
            em2_elem: Default::default(),
            em2_dst: Default::default(),
            eo_valid: DelayBit::new(FINISH_LATENCY),
            eo_elem: Delay::new(FINISH_LATENCY),
            bq_data: Default::default(),
            bq_mant: Default::default(),
            bq_exp: Default::default(),
            gate: DelayS::new(GATE_DELAY),
            post_acc: Constant::new(POST_ACC.into()),
            post_swiglu: Constant::new(POST_SWIGLU.into()),
            zero5: Constant::new(0u64.into()),
            one5: Constant::new(1u64.into()),
            drain_mv: Constant::new((LATENCY as u64 + 1).into()),
            drain_sw: Constant::new(((LATENCY + SWIGLU_EXTRA) as u64).into()),
            drain_emb: Constant::new((EMBED_LATENCY as u64).into()),
            lanes_m1: Constant::new(((L - 1) as u64).into()),
            sixteen: Constant::new(16u64.into()),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            silu: Default::default(),
            silu_tab: TableRom::new(silu_pair_words()),
            addsat: Default::default(),
            lane_shift: Default::default(),
            rom: LaneRom::new(words),
            scale_rom: ScaleRom::new(scales),
            xram: XMem::new(max_cols.div_ceil(L).max(1)),
            dot: Default::default(),
            finish: Default::default(),
        }
    }
}

impl<const L: usize> Logic for MatVec<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, rows_r, len_r, dshift, xbase_r, post_r, src_r, split_r, beats_r, dst_r,
            running, sel_ram, sel_st, shift, addr, beat, row, rbase, rrbase, emb, lane, elem,
            drain, drain_n, s1_valid, s1_first, s1_last, s1_row, m_valid, m_first, m_last, m_row,
            sq_mant, sq_exp, s4_last, s4_row, s4_sw, e1_valid, e1_lane, e1_elem, em_valid,
            em_first, em_elem, em2_valid, em2_elem, em2_dst, bq_mant, bq_exp, rom_a, srow_a,
            xaddr_a, s1_src, m_dst, w_last, rq, acc_sum, y_w, em_dst, w_done, s2_valid, s2_first,
            s2_last, s2_row, e2_valid, e2_lane, e2_elem, bq2_mant, bq2_exp
        );
        clock!(
            self, clock, a_last, a_row, a_mant, a_exp, p_last, p_row, s5_last, s5_done, eo_done,
            a_dst, r_dst, w_dst, sw_dst, eo_dst, eo_valid, eo_elem, bq_data, bq2_data, gate, silu,
            silu_tab, rom, scale_rom, xram, dot, finish, lane_shift
        );
        // Input vector write port.
        self.xram.wwe.next = self.x_we.val();
        self.xram.wwaddr.next = self.x_waddr.val();
        for i in 0..L {
            self.xram.wwdata[i].next = self.x_wdata[i].val();
        }
        self.xram.swe.next = self.xs_we.val();
        self.xram.swaddr.next = self.xs_waddr.val();
        self.xram.swdata.next = self.xs_wdata.val();
        self.xram.pwe.next = self.xp_we.val();
        self.xram.pwidx.next = self.xp_idx.val();
        for j in 0..XP {
            self.xram.pwdata[j].next = self.xp_data[j].val();
        }
        // Issue stage (cycle t): addresses of the current word.
        self.rom.addr.next = self.rom_a.q.val();
        self.scale_rom.addr.next = self.srow_a.q.val();
        self.buf_rd_addr.next = self.addr.q.val();
        self.buf_rd_row.next = self.row.q.val();
        self.xram.raddr.next = self.xaddr_a.q.val();
        self.s1_src.d.next = self.src_r.q.val() + self.row.q.val();
        // Stream mode: a word is issued only when the stream has one (an embedding needs
        // one for each lane 0; its other lanes re-use it); the others always issue.
        self.adv.next = self.running.q.val()
            & (!self.sel_st.q.val()
                | self.st_valid.val()
                | (self.emb.q.val() & (self.lane.q.val() != self.zero16.val())));
        self.st_pop.next = self.adv.val()
            & self.sel_st.q.val()
            & (!self.emb.q.val() | (self.lane.q.val() == self.zero16.val()));
        self.s1_valid.d.next = self.adv.val() & !self.emb.q.val();
        self.s1_first.d.next = self.beat.q.val() == self.zero16.val();
        self.s1_last.d.next =
            self.adv.val() & !self.emb.q.val() & (self.beat.q.val() == self.beats_r.q.val());
        self.s1_row.d.next = self.row.q.val();
        self.e1_valid.d.next = self.adv.val() & self.emb.q.val();
        self.e1_lane.d.next = self.lane.q.val();
        self.e1_elem.d.next = self.elem.q.val();
        if self.adv.val() & self.emb.q.val() {
            // Embedding: one element per cycle, re-reading the word for each lane.
            self.elem.d.next = self.elem.q.val() + self.one16.val();
            if self.lane.q.val() == self.lanes_m1.val() {
                self.lane.d.next = self.zero16.val();
                self.addr.d.next = self.addr.q.val() + self.one16.val();
                self.rom_a.d.next = self.rom_a.q.val() + self.one16.val();
            } else {
                self.lane.d.next = self.lane.q.val() + self.one16.val();
            }
            if self.elem.q.val() == self.len_r.q.val() {
                self.running.d.next = false;
            }
        }
        if self.adv.val() & !self.emb.q.val() {
            self.addr.d.next = self.addr.q.val() + self.one16.val();
            self.rom_a.d.next = self.rom_a.q.val() + self.one16.val();
            if self.beat.q.val() == self.beats_r.q.val() {
                self.beat.d.next = self.zero16.val();
                self.xaddr_a.d.next = self.xbase_r.q.val();
                self.srow_a.d.next = self.srow_a.q.val() + self.one16.val();
                self.row.d.next = self.row.q.val() + self.one16.val();
                if self.row.q.val() == self.rows_r.q.val() {
                    self.running.d.next = false;
                }
            } else {
                self.beat.d.next = self.beat.q.val() + self.one16.val();
                self.xaddr_a.d.next = self.xaddr_a.q.val() + self.one16.val();
            }
        }
        // Busy until the last issued word has drained (its done cycle).
        if self.running.q.val() {
            self.drain.d.next = self.drain_n.q.val();
        } else if self.drain.q.val() != self.zero5.val() {
            self.drain.d.next = self.drain.q.val() - self.one5.val();
        }
        // Start only when the whole pipeline is idle (the sampled shift and weight
        // source must stay fixed while earlier rows drain).
        if self.start.val() & !(self.running.q.val() | (self.drain.q.val() != self.zero5.val())) {
            self.running.d.next = true;
            self.addr.d.next = self.zero16.val();
            self.beat.d.next = self.zero16.val();
            self.row.d.next = self.zero16.val();
            self.sel_ram.d.next = self.use_ram.val();
            self.sel_st.d.next = self.stream.val();
            self.shift.d.next = self.x_shift.val();
            // DotAcc's block shift, from a register (DotAcc copies it beside its lanes).
            if self.x_raw.val() {
                self.dshift.d.next = self.x_shift.val();
            } else {
                self.dshift.d.next = self.zero5.val();
            }
            self.xbase_r.d.next = self.x_base.val();
            self.post_r.d.next = self.post.val();
            self.src_r.d.next = self.src.val();
            self.split_r.d.next = self.split.val();
            self.rbase.d.next = self.rom_base.val();
            self.rrbase.d.next = self.rom_row_base.val();
            self.rows_r.d.next = self.rows_m1.val();
            self.beats_r.d.next = self.beats_m1.val();
            self.dst_r.d.next = self.dst.val();
            self.len_r.d.next = self.len_m1.val();
            self.emb.d.next = self.embed.val();
            self.lane.d.next = self.zero16.val();
            self.elem.d.next = self.zero16.val();
            self.rom_a.d.next = self.rom_base.val();
            self.srow_a.d.next = self.rom_row_base.val();
            self.xaddr_a.d.next = self.x_base.val();
            if self.embed.val() {
                self.drain_n.d.next = self.drain_emb.val();
            } else if self.post.val() == self.post_swiglu.val() {
                self.drain_n.d.next = self.drain_sw.val();
            } else {
                self.drain_n.d.next = self.drain_mv.val();
            }
        }
        // Cycle t + 1: the memories read; the weight buffer answers (registered once
        // more to meet the ROMs).
        self.s2_valid.d.next = self.s1_valid.q.val();
        self.s2_first.d.next = self.s1_first.q.val();
        self.s2_last.d.next = self.s1_last.q.val();
        self.s2_row.d.next = self.s1_row.q.val();
        self.e2_valid.d.next = self.e1_valid.q.val();
        self.e2_lane.d.next = self.e1_lane.q.val();
        self.e2_elem.d.next = self.e1_elem.q.val();
        for i in 0..L {
            self.bq2_data.d[i].next = self.bq_data.q[i].val();
        }
        self.bq2_mant.d.next = self.bq_mant.q.val();
        self.bq2_exp.d.next = self.bq_exp.q.val();
        // Cycle t + 2: the tags registered once more.
        self.m_valid.d.next = self.s2_valid.q.val();
        self.m_first.d.next = self.s2_first.q.val();
        self.m_last.d.next = self.s2_last.q.val();
        self.m_row.d.next = self.s2_row.q.val();
        self.m_dst.d.next = self.dst_r.q.val() + self.s2_row.q.val();
        for i in 0..L {
            self.bq_data.d[i].next = self.buf_rd_data[i].val();
        }
        self.bq_mant.d.next = self.buf_rd_mant.val();
        self.bq_exp.d.next = self.buf_rd_exp.val();
        self.em_valid.d.next = self.e2_valid.q.val();
        self.em_first.d.next = self.e2_lane.q.val() == self.zero16.val();
        self.em_elem.d.next = self.e2_elem.q.val();
        self.em_dst.d.next = self.dst_r.q.val() + self.e2_elem.q.val();
        // Cycle t + 3: words present; select the weight source into DotAcc.
        for i in 0..L {
            if self.sel_ram.q.val() | self.sel_st.q.val() {
                self.dot.w[i].next = self.bq2_data.q[i].val();
            } else {
                self.dot.w[i].next = self.rom.data[i].val();
            }
            self.dot.x[i].next = self.xram.rdata[i].val();
        }
        self.dot.shift.next = self.dshift.q.val();
        self.dot.en.next = self.m_valid.q.val();
        self.dot.first.next = self.m_first.q.val();
        // The multipliers lent out.
        self.dot.ext_sel.next = self.ext_sel.val();
        for i in 0..L {
            self.dot.ext_a[i].next = self.ext_a[i].val();
            self.dot.ext_b[i].next = self.ext_b[i].val();
            self.ext_p[i].next = self.dot.ext_p[i].val();
        }
        // (An embedding reads the ROM's scales unless it streams.)
        if (self.sel_ram.q.val() & !self.emb.q.val()) | self.sel_st.q.val() {
            self.sq_mant.d.next = self.bq2_mant.q.val();
            self.sq_exp.d.next = self.bq2_exp.q.val();
        } else {
            self.sq_mant.d.next = self.scale_rom.mant.val();
            self.sq_exp.d.next = self.scale_rom.exp.val();
        }
        // The row tags travel beside DotAcc to the accumulator (cycle t + 10).
        self.a_last.d.next = self.m_last.q.val();
        self.a_row.d.next = self.m_row.q.val();
        self.a_mant.d.next = self.sq_mant.q.val();
        self.a_exp.d.next = self.sq_exp.q.val();
        // Rescale: the row sum (or, embedding, one weight) through RowFinish.
        // The embedding: the word (read again for every lane) loaded into the shift register
        // with its lane 0, the next lanes shifted out one per cycle (t + 4, beside the row
        // scale in `sq_*`).
        for i in 0..L {
            if self.sel_st.q.val() {
                self.lane_shift.data[i].next = self.bq2_data.q[i].val();
            } else {
                self.lane_shift.data[i].next = self.rom.data[i].val();
            }
        }
        self.lane_shift.load.next = self.em_valid.q.val() & self.em_first.q.val();
        self.em2_valid.d.next = self.em_valid.q.val();
        self.em2_elem.d.next = self.em_elem.q.val();
        self.em2_dst.d.next = self.em_dst.q.val();
        if self.emb.q.val() {
            self.finish.en.next = self.em2_valid.q.val();
            self.finish.acc.next = self.lane_shift.y.val();
            self.finish.mant.next = self.sq_mant.q.val();
            self.finish.exp.next = self.sq_exp.q.val();
            self.finish.shift.next = self.sixteen.val();
        } else {
            self.finish.en.next = self.a_last.q.val();
            self.finish.acc.next = self.dot.acc.val();
            self.finish.mant.next = self.a_mant.q.val();
            self.finish.exp.next = self.a_exp.q.val();
            self.finish.shift.next = self.shift.q.val();
        }
        self.eo_valid.d.next = self.em2_valid.q.val();
        self.eo_elem.d.next = self.em2_elem.q.val();
        self.eo_dst.d.next = self.em2_dst.q.val();
        self.p_last.d.next = self.a_last.q.val();
        self.p_row.d.next = self.a_row.q.val();
        self.s4_last.d.next = self.p_last.q.val();
        self.s4_row.d.next = self.p_row.q.val();
        self.s4_sw.d.next = (self.post_r.q.val() == self.post_swiglu.val())
            & (self.p_row.q.val() >= self.split_r.q.val());
        // A row is written in t + 17 (`w_last`), or with SwiGLU SWIGLU_EXTRA later
        // (`s5_last`); a run's plain rows all come before its SwiGLU rows, so the two never
        // write in the same cycle.
        self.w_last.d.next = self.s4_last.q.val() & !self.s4_sw.q.val();
        self.s5_last.d.next = self.s4_last.q.val() & self.s4_sw.q.val();
        // (`w_done` only for a plain last row, `s5_done` for a SwiGLU one: `done` is their
        // OR.)
        self.w_done.d.next = self.s4_last.q.val()
            & (self.s4_row.q.val() == self.rows_r.q.val())
            & !self.s4_sw.q.val();
        self.s5_done.d.next = self.s4_last.q.val()
            & (self.s4_row.q.val() == self.rows_r.q.val())
            & self.s4_sw.q.val();
        self.eo_done.d.next =
            self.em2_valid.q.val() & (self.em2_elem.q.val() == self.len_r.q.val());
        self.a_dst.d.next = self.m_dst.q.val();
        self.r_dst.d.next = self.a_dst.q.val();
        self.w_dst.d.next = self.r_dst.q.val();
        self.sw_dst.d.next = self.w_dst.q.val();
        // Post-operations. SwiGLU: the gate (row `r` of `src`) is read in cycle t + 1 and
        // delayed so that SiluMul samples the row result as it appears. Residual add: the
        // destination is read in cycle t + 14, registered, added to the result in
        // t + 16 and written in t + 17.
        self.gate.d.next = self.vm_rdata.val();
        self.silu.x.next = self.gate.q.val();
        self.silu_tab.addr.next = self.silu.sig_addr.val();
        self.silu.rom.next = self.silu_tab.data.val();
        self.silu.h.next = self.finish.y.val();
        self.rq.d.next = self.vm_rdata.val();
        self.addsat.a.next = self.finish.y.val();
        self.addsat.b.next = self.rq.q.val();
        self.acc_sum.d.next = self.addsat.y.val();
        self.y_w.d.next = self.finish.y.val();
        // Cycle t + 16: result.
        self.out_valid.next = self.s4_last.q.val() | self.eo_valid.q.val();
        if self.emb.q.val() {
            self.out_row.next = self.eo_elem.q.val();
        } else {
            self.out_row.next = self.s4_row.q.val();
        }
        self.out_data.next = self.finish.y.val();
        if self.post_r.q.val() == self.post_swiglu.val() {
            self.vm_raddr.next = self.s1_src.q.val();
        } else {
            self.vm_raddr.next = self.r_dst.q.val();
        }
        // Writes: embedding in t + 10 (its output), rows in t + 17, SwiGLU later.
        self.vm_sw.next = false;
        if self.emb.q.val() {
            self.vm_we.next = self.eo_valid.q.val();
            self.vm_waddr.next = self.eo_dst.q.val();
            self.vm_wdata.next = self.finish.y.val();
        } else if self.s5_last.q.val() {
            self.vm_sw.next = true;
            self.vm_we.next = true;
            self.vm_waddr.next = self.sw_dst.q.val();
            self.vm_wdata.next = self.silu.y.val();
        } else if self.post_r.q.val() == self.post_acc.val() {
            self.vm_we.next = self.w_last.q.val();
            self.vm_waddr.next = self.w_dst.q.val();
            self.vm_wdata.next = self.acc_sum.q.val();
        } else {
            self.vm_we.next = self.w_last.q.val();
            self.vm_waddr.next = self.w_dst.q.val();
            self.vm_wdata.next = self.y_w.q.val();
        }
        self.done.next = self.w_done.q.val() | self.s5_done.q.val() | self.eo_done.q.val();
        self.busy.next = self.running.q.val() | (self.drain.q.val() != self.zero5.val());
    }
}
