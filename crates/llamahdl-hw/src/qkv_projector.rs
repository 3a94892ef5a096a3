//! QKV projector with RAM select (plan step 3).
//!
//! Computes `[q; k; v] = Wqkv · x` for one layer, one output row at a time, `L` lanes
//! per cycle, exactly as `llamahdl_golden::numerics::dot_row` does.
//!
//! ## Interface
//! - Input vector: the matrix-vector input block (`llamahdl_golden::numerics::to_block16`):
//!   write `beats = ceil(dim / L)` words of L mantissas through `x_we`/`x_waddr`/`x_wdata`
//!   (lanes past `dim` must be 0) and present the block shift on `x_shift`.
//! - `start` (one cycle, ignored while `busy`): samples `use_ram`, `x_shift`, `rom_base`
//!   (beat address of this layer's first Wqkv row in the compiled-in ROM) and
//!   `rom_row_base` (its row index in the scale ROM), then runs every row.
//! - Weight source: `use_ram` high reads the QKV weight buffer through `buf_rd_addr`
//!   (beat address within the layer) and `buf_rd_row` (row index); the buffer answers on
//!   `buf_rd_data`/`buf_rd_mant`/`buf_rd_exp` one cycle later. `use_ram` low reads the
//!   compiled-in ROM, initialised from the checkpoint when the Verilog is generated.
//!   Both paths have the same one-cycle latency, so the schedule does not depend on it.
//! - Output: `out_valid` with `out_row` (row index in `[Wq; Wk; Wv]` order) and
//!   `out_data` (Q16.16), one row every `beats` cycles; `done` pulses with the last row.
//!
//! ## Timing
//! Cycle 0 is the `start` cycle. Beat `b` of row `r` is issued in cycle
//! `1 + r * beats + b`; the row's result appears [`LATENCY`] cycles after its last beat
//! is issued. A full projection takes `qkv_rows * beats + LATENCY` cycles after `start`.

use crate::leaf::{DotAcc, LaneRam, LaneRom, RowFinish, ScaleRom, DOT_LATENCY};
use llamahdl_golden::QMatrix;
use rust_hdl::prelude::*;

/// Cycles from issuing a row's last beat to its `out_valid`: memory read (1), the MAC
/// pipeline ([`DOT_LATENCY`]), the rescale register (1).
pub const LATENCY: usize = 1 + DOT_LATENCY + 1;

/// Words of `L` int8 weights for the compiled-in ROM: every layer's Wqkv, row by row,
/// `ceil(cols / L)` words per row, zero-padded.
pub fn rom_words<const L: usize>(layers: &[&QMatrix]) -> Vec<[i8; L]> {
    let mut words = Vec::new();
    for m in layers {
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

/// Row scales of every layer's Wqkv, in row order.
pub fn rom_scales(layers: &[&QMatrix]) -> Vec<(u8, i8)> {
    layers
        .iter()
        .flat_map(|m| m.mant.iter().copied().zip(m.exp.iter().copied()))
        .collect()
}

#[derive(LogicBlock)]
pub struct QkvProjector<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub x_we: Signal<In, Bit>,
    pub x_waddr: Signal<In, Bits<16>>,
    pub x_wdata: [Signal<In, Signed<16>>; L],
    pub x_shift: Signal<In, Bits<5>>,
    pub start: Signal<In, Bit>,
    pub use_ram: Signal<In, Bit>,
    pub rom_base: Signal<In, Bits<16>>,
    pub rom_row_base: Signal<In, Bits<16>>,
    pub buf_rd_addr: Signal<Out, Bits<16>>,
    pub buf_rd_row: Signal<Out, Bits<16>>,
    pub buf_rd_data: [Signal<In, Signed<8>>; L],
    pub buf_rd_mant: Signal<In, Bits<8>>,
    pub buf_rd_exp: Signal<In, Signed<8>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_row: Signal<Out, Bits<16>>,
    pub out_data: Signal<Out, Signed<32>>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    /// Rows of Wqkv minus one.
    rows_m1: Constant<Bits<16>>,
    /// Beats per row minus one.
    beats_m1: Constant<Bits<16>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    rom: LaneRom<L>,
    scale_rom: ScaleRom,
    xram: LaneRam<L, 16>,
    dot: DotAcc<L>,
    finish: RowFinish,
    running: DFF<Bit>,
    sel_ram: DFF<Bit>,
    shift: DFF<Bits<5>>,
    addr: DFF<Bits<16>>,
    beat: DFF<Bits<16>>,
    row: DFF<Bits<16>>,
    rbase: DFF<Bits<16>>,
    rrbase: DFF<Bits<16>>,
    // Pipeline flags: stage 1 = memory data present, 2 = products registered,
    // 3 = accumulator holds the row, 4 = rescaled result registered.
    s1_valid: DFF<Bit>,
    s1_first: DFF<Bit>,
    s1_last: DFF<Bit>,
    s1_row: DFF<Bits<16>>,
    s2_last: DFF<Bit>,
    s2_row: DFF<Bits<16>>,
    s2_mant: DFF<Bits<8>>,
    s2_exp: DFF<Signed<8>>,
    s3_last: DFF<Bit>,
    s3_row: DFF<Bits<16>>,
    s3_mant: DFF<Bits<8>>,
    s3_exp: DFF<Signed<8>>,
    s4_last: DFF<Bit>,
    s4_row: DFF<Bits<16>>,
}

impl<const L: usize> QkvProjector<L> {
    /// A projector for matrices of `qkv_rows` rows of `cols` inputs, with `rom_layers`
    /// compiled into its ROM (one Wqkv per layer).
    pub fn new(qkv_rows: usize, cols: usize, rom_layers: &[&QMatrix]) -> Self {
        let beats = cols.div_ceil(L);
        assert!(qkv_rows >= 1 && beats >= 1 && qkv_rows * beats <= 1 << 16);
        for m in rom_layers {
            assert_eq!((m.rows, m.cols), (qkv_rows, cols), "ROM matrix shape");
        }
        Self {
            clock: Default::default(),
            x_we: Default::default(),
            x_waddr: Default::default(),
            x_wdata: array_init::array_init(|_| Default::default()),
            x_shift: Default::default(),
            start: Default::default(),
            use_ram: Default::default(),
            rom_base: Default::default(),
            rom_row_base: Default::default(),
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
            rows_m1: Constant::new(((qkv_rows - 1) as u64).into()),
            beats_m1: Constant::new(((beats - 1) as u64).into()),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            rom: LaneRom::new(rom_words::<L>(rom_layers)),
            scale_rom: ScaleRom::new(rom_scales(rom_layers)),
            xram: LaneRam::new(beats),
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

impl<const L: usize> Logic for QkvProjector<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, running, sel_ram, shift, addr, beat, row, rbase, rrbase, s1_valid,
            s1_first, s1_last, s1_row, s2_last, s2_row, s2_mant, s2_exp, s3_last, s3_row, s3_mant,
            s3_exp, s4_last, s4_row
        );
        clock!(self, clock, rom, scale_rom, xram, dot, finish);
        // Input vector write port.
        self.xram.we.next = self.x_we.val();
        self.xram.waddr.next = self.x_waddr.val();
        for i in 0..L {
            self.xram.wdata[i].next = self.x_wdata[i].val();
        }
        // Issue stage: addresses of the current beat.
        self.rom.addr.next = self.rbase.q.val() + self.addr.q.val();
        self.scale_rom.addr.next = self.rrbase.q.val() + self.row.q.val();
        self.buf_rd_addr.next = self.addr.q.val();
        self.buf_rd_row.next = self.row.q.val();
        self.xram.raddr.next = self.beat.q.val();
        self.s1_valid.d.next = self.running.q.val();
        self.s1_first.d.next = self.beat.q.val() == self.zero16.val();
        self.s1_last.d.next = self.running.q.val() & (self.beat.q.val() == self.beats_m1.val());
        self.s1_row.d.next = self.row.q.val();
        if self.running.q.val() {
            self.addr.d.next = self.addr.q.val() + self.one16.val();
            if self.beat.q.val() == self.beats_m1.val() {
                self.beat.d.next = self.zero16.val();
                self.row.d.next = self.row.q.val() + self.one16.val();
                if self.row.q.val() == self.rows_m1.val() {
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
                | self.s1_valid.q.val()
                | self.s2_last.q.val()
                | self.s3_last.q.val()
                | self.s4_last.q.val())
        {
            self.running.d.next = true;
            self.addr.d.next = self.zero16.val();
            self.beat.d.next = self.zero16.val();
            self.row.d.next = self.zero16.val();
            self.sel_ram.d.next = self.use_ram.val();
            self.shift.d.next = self.x_shift.val();
            self.rbase.d.next = self.rom_base.val();
            self.rrbase.d.next = self.rom_row_base.val();
        }
        // Stage 1: weights and inputs arrive; select the weight source.
        for i in 0..L {
            if self.sel_ram.q.val() {
                self.dot.w[i].next = self.buf_rd_data[i].val();
            } else {
                self.dot.w[i].next = self.rom.data[i].val();
            }
            self.dot.x[i].next = self.xram.rdata[i].val();
        }
        self.dot.en.next = self.s1_valid.q.val();
        self.dot.first.next = self.s1_first.q.val();
        if self.sel_ram.q.val() {
            self.s2_mant.d.next = self.buf_rd_mant.val();
            self.s2_exp.d.next = self.buf_rd_exp.val();
        } else {
            self.s2_mant.d.next = self.scale_rom.mant.val();
            self.s2_exp.d.next = self.scale_rom.exp.val();
        }
        self.s2_last.d.next = self.s1_last.q.val();
        self.s2_row.d.next = self.s1_row.q.val();
        // Stage 2 -> 3: products registered inside the MAC; carry the row scale along.
        self.s3_last.d.next = self.s2_last.q.val();
        self.s3_row.d.next = self.s2_row.q.val();
        self.s3_mant.d.next = self.s2_mant.q.val();
        self.s3_exp.d.next = self.s2_exp.q.val();
        // Stage 3: the accumulator holds the finished row; rescale it.
        self.finish.en.next = self.s3_last.q.val();
        self.finish.acc.next = self.dot.acc.val();
        self.finish.mant.next = self.s3_mant.q.val();
        self.finish.exp.next = self.s3_exp.q.val();
        self.finish.shift.next = self.shift.q.val();
        self.s4_last.d.next = self.s3_last.q.val();
        self.s4_row.d.next = self.s3_row.q.val();
        // Stage 4: result.
        self.out_valid.next = self.s4_last.q.val();
        self.out_row.next = self.s4_row.q.val();
        self.out_data.next = self.finish.y.val();
        self.done.next = self.s4_last.q.val() & (self.s4_row.q.val() == self.rows_m1.val());
        self.busy.next = self.running.q.val()
            | self.s1_valid.q.val()
            | self.s2_last.q.val()
            | self.s3_last.q.val()
            | self.s4_last.q.val();
    }
}
