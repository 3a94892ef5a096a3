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
//!   `mul_q16(silu(vm[src + r]), y[r])` ([`SiluMul`]), one cycle later than the others.
//! - Weights: `use_ram` low reads the compiled-in ROM; high reads the QKV weight buffer
//!   through `buf_rd_addr` (word within the run) and `buf_rd_row` (row within the run),
//!   answered on `buf_rd_data`/`buf_rd_mant`/`buf_rd_exp` one cycle later.
//! - Output: `out_valid` with `out_row` (row within the run) and `out_data` (Q16.16), one
//!   row every `beats` cycles; the same result is written to the vector memory at
//!   `dst + out_row` (`vm_we`/`vm_waddr`/`vm_wdata`; `vm_raddr` is unused, 0). `done`
//!   pulses with the last row.
//!
//! ## Timing
//! Cycle 0 is the `start` cycle. Word `b` of row `r` is issued in cycle
//! `1 + r * beats + b`; the row's result appears [`LATENCY`] cycles after its last word
//! is issued: `rows * beats + LATENCY` cycles after `start` for the whole run
//! (`+ 1` with [`POST_SWIGLU`], whose writes and `done` come a cycle after `out_valid`).

pub mod post;

use crate::bits::{Addr, ADDR_SPACE};
use crate::leaf::{DotAcc, LaneRom, LaneSel, RowFinish, ScaleRom, TableRom, XMem, DOT_LATENCY, XP};
use llamahdl_golden::QMatrix;
use post::{silu_pair_words, AddSat32, SiluMul};
use rust_hdl::prelude::*;

/// Cycles from issuing a row's last word to its `out_valid`: memory read (1), the
/// quantise-multiply-accumulate pipeline ([`DOT_LATENCY`]), the rescale register (1).
pub const LATENCY: usize = 1 + DOT_LATENCY + 1;

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
    rows_r: DFF<Addr>,
    len_r: DFF<Addr>,
    raw_r: DFF<Bit>,
    xbase_r: DFF<Addr>,
    post_r: DFF<Bits<2>>,
    src_r: DFF<Addr>,
    sq_valid: DFF<Bit>,
    sq_last: DFF<Bit>,
    sq_row: DFF<Addr>,
    sq_mant: DFF<Bits<8>>,
    sq_exp: DFF<Signed<8>>,
    s5_last: DFF<Bit>,
    s5_row: DFF<Addr>,
    post_acc: Constant<Bits<2>>,
    post_swiglu: Constant<Bits<2>>,
    zero5: Constant<Bits<5>>,
    silu: SiluMul,
    silu_tab: TableRom<34>,
    addsat: AddSat32,
    emb: DFF<Bit>,
    lane: DFF<Addr>,
    elem: DFF<Addr>,
    e1_valid: DFF<Bit>,
    e1_lane: DFF<Addr>,
    e1_elem: DFF<Addr>,
    e2_valid: DFF<Bit>,
    e2_elem: DFF<Addr>,
    lanes_m1: Constant<Addr>,
    sixteen: Constant<Bits<5>>,
    lane_pick: LaneSel<L>,
    beats_r: DFF<Addr>,
    dst_r: DFF<Addr>,
    zero16: Constant<Addr>,
    one16: Constant<Addr>,
    rom: LaneRom<L>,
    scale_rom: ScaleRom,
    xram: XMem<L>,
    dot: DotAcc<L>,
    finish: RowFinish,
    running: DFF<Bit>,
    sel_ram: DFF<Bit>,
    shift: DFF<Bits<5>>,
    addr: DFF<Addr>,
    beat: DFF<Addr>,
    row: DFF<Addr>,
    rbase: DFF<Addr>,
    rrbase: DFF<Addr>,
    // Pipeline flags: stage 1 = memory data present, 2 = products registered,
    // 3 = accumulator holds the row, 4 = rescaled result registered.
    s1_valid: DFF<Bit>,
    s1_first: DFF<Bit>,
    s1_last: DFF<Bit>,
    s1_row: DFF<Addr>,
    s2_last: DFF<Bit>,
    s2_row: DFF<Addr>,
    s2_mant: DFF<Bits<8>>,
    s2_exp: DFF<Signed<8>>,
    s3_last: DFF<Bit>,
    s3_row: DFF<Addr>,
    s3_mant: DFF<Bits<8>>,
    s3_exp: DFF<Signed<8>>,
    s4_last: DFF<Bit>,
    s4_row: DFF<Addr>,
}

impl<const L: usize> MatVec<L> {
    /// A unit whose ROM holds `mats` one after another (see [`rom_words`]) and whose
    /// input memory holds vectors of up to `max_cols` elements.
    pub fn new(mats: &[&QMatrix], max_cols: usize) -> Self {
        let words = rom_words::<L>(mats);
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
            rows_r: Default::default(),
            len_r: Default::default(),
            raw_r: Default::default(),
            xbase_r: Default::default(),
            post_r: Default::default(),
            src_r: Default::default(),
            sq_valid: Default::default(),
            sq_last: Default::default(),
            sq_row: Default::default(),
            sq_mant: Default::default(),
            sq_exp: Default::default(),
            s5_last: Default::default(),
            s5_row: Default::default(),
            post_acc: Constant::new(POST_ACC.into()),
            post_swiglu: Constant::new(POST_SWIGLU.into()),
            zero5: Constant::new(0u64.into()),
            silu: Default::default(),
            silu_tab: TableRom::new(silu_pair_words()),
            addsat: Default::default(),
            emb: Default::default(),
            lane: Default::default(),
            elem: Default::default(),
            e1_valid: Default::default(),
            e1_lane: Default::default(),
            e1_elem: Default::default(),
            e2_valid: Default::default(),
            e2_elem: Default::default(),
            lanes_m1: Constant::new(((L - 1) as u64).into()),
            sixteen: Constant::new(16u64.into()),
            lane_pick: Default::default(),
            beats_r: Default::default(),
            dst_r: Default::default(),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            rom: LaneRom::new(words),
            scale_rom: ScaleRom::new(rom_scales(mats)),
            xram: XMem::new(max_cols.div_ceil(L).max(1)),
            dot: Default::default(),
            finish: Default::default(),
            running: Default::default(),
            sel_ram: Default::default(),
            shift: Default::default(),
            addr: Default::default(),
            beat: Default::default(),
            row: Default::default(),
            rbase: Default::default(),
            rrbase: Default::default(),
            s1_valid: Default::default(),
            s1_first: Default::default(),
            s1_last: Default::default(),
            s1_row: Default::default(),
            s2_last: Default::default(),
            s2_row: Default::default(),
            s2_mant: Default::default(),
            s2_exp: Default::default(),
            s3_last: Default::default(),
            s3_row: Default::default(),
            s3_mant: Default::default(),
            s3_exp: Default::default(),
            s4_last: Default::default(),
            s4_row: Default::default(),
        }
    }
}

impl<const L: usize> Logic for MatVec<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, rows_r, beats_r, dst_r, len_r, raw_r, xbase_r, post_r, src_r, sq_valid,
            sq_last, sq_row, sq_mant, sq_exp, s5_last, s5_row, emb, lane, elem, e1_valid, e1_lane,
            e1_elem, e2_valid, e2_elem, running, sel_ram, shift, addr, beat, row, rbase, rrbase,
            s1_valid, s1_first, s1_last, s1_row, s2_last, s2_row, s2_mant, s2_exp, s3_last, s3_row,
            s3_mant, s3_exp, s4_last, s4_row
        );
        clock!(self, clock, rom, scale_rom, xram, dot, finish, silu, silu_tab);
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
        // Issue stage: addresses of the current beat.
        self.rom.addr.next = self.rbase.q.val() + self.addr.q.val();
        self.scale_rom.addr.next = self.rrbase.q.val() + self.row.q.val();
        self.buf_rd_addr.next = self.addr.q.val();
        self.buf_rd_row.next = self.row.q.val();
        self.xram.raddr.next = self.xbase_r.q.val() + self.beat.q.val();
        self.s1_valid.d.next = self.running.q.val() & !self.emb.q.val();
        self.s1_first.d.next = self.beat.q.val() == self.zero16.val();
        self.s1_last.d.next =
            self.running.q.val() & !self.emb.q.val() & (self.beat.q.val() == self.beats_r.q.val());
        self.s1_row.d.next = self.row.q.val();
        self.e1_valid.d.next = self.running.q.val() & self.emb.q.val();
        self.e1_lane.d.next = self.lane.q.val();
        self.e1_elem.d.next = self.elem.q.val();
        if self.running.q.val() & self.emb.q.val() {
            // Embedding: one element per cycle, re-reading the word for each lane.
            self.elem.d.next = self.elem.q.val() + self.one16.val();
            if self.lane.q.val() == self.lanes_m1.val() {
                self.lane.d.next = self.zero16.val();
                self.addr.d.next = self.addr.q.val() + self.one16.val();
            } else {
                self.lane.d.next = self.lane.q.val() + self.one16.val();
            }
            if self.elem.q.val() == self.len_r.q.val() {
                self.running.d.next = false;
            }
        }
        if self.running.q.val() & !self.emb.q.val() {
            self.addr.d.next = self.addr.q.val() + self.one16.val();
            if self.beat.q.val() == self.beats_r.q.val() {
                self.beat.d.next = self.zero16.val();
                self.row.d.next = self.row.q.val() + self.one16.val();
                if self.row.q.val() == self.rows_r.q.val() {
                    self.running.d.next = false;
                }
            } else {
                self.beat.d.next = self.beat.q.val() + self.one16.val();
            }
        }
        // Start only when the whole pipeline is idle (the sampled shift and weight
        // source must stay fixed while earlier rows drain).
        if self.start.val()
            & !(self.running.q.val()
                | self.e1_valid.q.val()
                | self.e2_valid.q.val()
                | self.s1_valid.q.val()
                | self.sq_valid.q.val()
                | self.s2_last.q.val()
                | self.s3_last.q.val()
                | self.s4_last.q.val()
                | self.s5_last.q.val())
        {
            self.running.d.next = true;
            self.addr.d.next = self.zero16.val();
            self.beat.d.next = self.zero16.val();
            self.row.d.next = self.zero16.val();
            self.sel_ram.d.next = self.use_ram.val();
            self.shift.d.next = self.x_shift.val();
            self.raw_r.d.next = self.x_raw.val();
            self.xbase_r.d.next = self.x_base.val();
            self.post_r.d.next = self.post.val();
            self.src_r.d.next = self.src.val();
            self.rbase.d.next = self.rom_base.val();
            self.rrbase.d.next = self.rom_row_base.val();
            self.rows_r.d.next = self.rows_m1.val();
            self.beats_r.d.next = self.beats_m1.val();
            self.dst_r.d.next = self.dst.val();
            self.len_r.d.next = self.len_m1.val();
            self.emb.d.next = self.embed.val();
            self.lane.d.next = self.zero16.val();
            self.elem.d.next = self.zero16.val();
        }
        // Stage 1: weights and inputs arrive; select the weight source; DotAcc registers
        // the weights and the inputs' mantissas.
        for i in 0..L {
            if self.sel_ram.q.val() {
                self.dot.w[i].next = self.buf_rd_data[i].val();
            } else {
                self.dot.w[i].next = self.rom.data[i].val();
            }
            self.dot.x[i].next = self.xram.rdata[i].val();
        }
        if self.raw_r.q.val() {
            self.dot.shift.next = self.shift.q.val();
        } else {
            self.dot.shift.next = self.zero5.val();
        }
        self.dot.en.next = self.s1_valid.q.val();
        self.dot.first.next = self.s1_first.q.val();
        if self.sel_ram.q.val() {
            self.sq_mant.d.next = self.buf_rd_mant.val();
            self.sq_exp.d.next = self.buf_rd_exp.val();
        } else {
            self.sq_mant.d.next = self.scale_rom.mant.val();
            self.sq_exp.d.next = self.scale_rom.exp.val();
        }
        self.sq_valid.d.next = self.s1_valid.q.val();
        self.sq_last.d.next = self.s1_last.q.val();
        self.sq_row.d.next = self.s1_row.q.val();
        // Quantised stage (inside DotAcc): carry the row's tags along.
        self.s2_mant.d.next = self.sq_mant.q.val();
        self.s2_exp.d.next = self.sq_exp.q.val();
        self.s2_last.d.next = self.sq_last.q.val();
        self.s2_row.d.next = self.sq_row.q.val();
        // Stage 2 -> 3: products registered inside the MAC; carry the row scale along.
        self.s3_last.d.next = self.s2_last.q.val();
        self.s3_row.d.next = self.s2_row.q.val();
        self.s3_mant.d.next = self.s2_mant.q.val();
        self.s3_exp.d.next = self.s2_exp.q.val();
        // Stage 3: the accumulator holds the finished row; rescale it.
        for i in 0..L {
            self.lane_pick.data[i].next = self.rom.data[i].val();
        }
        self.lane_pick.sel.next = self.e1_lane.q.val();
        self.e2_valid.d.next = self.e1_valid.q.val();
        self.e2_elem.d.next = self.e1_elem.q.val();
        if self.emb.q.val() {
            self.finish.en.next = self.e1_valid.q.val();
            self.finish.acc.next = self.lane_pick.y.val();
            self.finish.mant.next = self.scale_rom.mant.val();
            self.finish.exp.next = self.scale_rom.exp.val();
            self.finish.shift.next = self.sixteen.val();
        } else {
            self.finish.en.next = self.s3_last.q.val();
            self.finish.acc.next = self.dot.acc.val();
            self.finish.mant.next = self.s3_mant.q.val();
            self.finish.exp.next = self.s3_exp.q.val();
            self.finish.shift.next = self.shift.q.val();
        }
        self.s4_last.d.next = self.s3_last.q.val();
        self.s4_row.d.next = self.s3_row.q.val();
        self.s5_last.d.next =
            self.s4_last.q.val() & (self.post_r.q.val() == self.post_swiglu.val());
        self.s5_row.d.next = self.s4_row.q.val();
        // Post-operations. SwiGLU: the gate input (row `r` of `src`) is read when the row
        // is in stage 1, so that SiluMul meets the row result in stage 4.
        self.silu.x.next = self.vm_rdata.val();
        self.silu_tab.addr.next = self.silu.sig_addr.val();
        self.silu.rom.next = self.silu_tab.data.val();
        self.silu.h.next = self.finish.y.val();
        self.addsat.a.next = self.finish.y.val();
        self.addsat.b.next = self.vm_rdata.val();
        // Stage 4: result.
        self.out_valid.next = self.s4_last.q.val() | self.e2_valid.q.val();
        if self.emb.q.val() {
            self.out_row.next = self.e2_elem.q.val();
        } else {
            self.out_row.next = self.s4_row.q.val();
        }
        self.out_data.next = self.finish.y.val();
        if self.post_r.q.val() == self.post_swiglu.val() {
            self.vm_raddr.next = self.src_r.q.val() + self.s1_row.q.val();
        } else {
            self.vm_raddr.next = self.dst_r.q.val() + self.s3_row.q.val();
        }
        if self.emb.q.val() {
            self.vm_we.next = self.e2_valid.q.val();
            self.vm_waddr.next = self.dst_r.q.val() + self.e2_elem.q.val();
            self.vm_wdata.next = self.finish.y.val();
        } else if self.post_r.q.val() == self.post_swiglu.val() {
            self.vm_we.next = self.s5_last.q.val();
            self.vm_waddr.next = self.dst_r.q.val() + self.s5_row.q.val();
            self.vm_wdata.next = self.silu.y.val();
        } else if self.post_r.q.val() == self.post_acc.val() {
            self.vm_we.next = self.s4_last.q.val();
            self.vm_waddr.next = self.dst_r.q.val() + self.s4_row.q.val();
            self.vm_wdata.next = self.addsat.y.val();
        } else {
            self.vm_we.next = self.s4_last.q.val();
            self.vm_waddr.next = self.dst_r.q.val() + self.s4_row.q.val();
            self.vm_wdata.next = self.finish.y.val();
        }
        if self.post_r.q.val() == self.post_swiglu.val() {
            self.done.next = (self.s5_last.q.val() & (self.s5_row.q.val() == self.rows_r.q.val()))
                | (self.e2_valid.q.val() & (self.e2_elem.q.val() == self.len_r.q.val()));
        } else {
            self.done.next = (self.s4_last.q.val() & (self.s4_row.q.val() == self.rows_r.q.val()))
                | (self.e2_valid.q.val() & (self.e2_elem.q.val() == self.len_r.q.val()));
        }
        self.busy.next = self.running.q.val()
            | self.e1_valid.q.val()
            | self.e2_valid.q.val()
            | self.s1_valid.q.val()
            | self.sq_valid.q.val()
            | self.s2_last.q.val()
            | self.s3_last.q.val()
            | self.s4_last.q.val()
            | self.s5_last.q.val();
    }
}
