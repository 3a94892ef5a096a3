//! `QkvWeightBuffer`: on-chip store of one layer's Q/K/V weights (plan step 2), and
//! `QkvLoader`: the buffer fed by a [`RowAddrGen`], the unit the decoder instantiates.
//!
//! # Storage
//!
//! * Weights: one [`LaneRam<L, 8>`] (L int8 lanes per word) of depth `qkv_rows * beats`.
//!   Lane `i` of beat address `a` holds value `a % beats * L + i` of row `a / beats` (zero
//!   padding past `dim`). Depth is a run-time parameter of the shape; yosys maps the
//!   memory to block RAM.
//! * Row scales: a [`LaneRam<2, 8>`] of depth `qkv_rows` (lane 0 the mantissa's bit
//!   pattern, lane 1 the exponent), written on the last beat of each row.
//!
//! Memories start as all zeros, in the rust-hdl model, in the Verilog and in FPGA block
//! RAM.

use crate::leaf::LaneRam;
use crate::units::weight_path::row_addr::RowAddrGen;
use crate::units::weight_path::shape::*;
use llamahdl_model::checkpoint::Config;
use rust_hdl::prelude::*;

/// Q/K/V weight store: `L` int8 lanes per beat, `qkv_rows * beats` beats, `qkv_rows` row scales.
///
/// # Interface
///
/// | port            | dir | width        | meaning |
/// |-----------------|-----|--------------|---------|
/// | `clock`         | in  | clock        | one clock for both ports |
/// | `wr_en`         | in  | 1            | store `wr_data` at `wr_addr` this cycle |
/// | `wr_addr`       | in  | 16           | beat address |
/// | `wr_last`       | in  | 1            | last beat of a row: with `wr_en`, store the scale at `wr_row` |
/// | `wr_row`        | in  | 16           | row index for the scale store |
/// | `wr_data`       | in  | L x s8       | the beat's lanes |
/// | `wr_scale_mant` | in  | 8            | row scale mantissa (128..=255), sampled on `wr_last` |
/// | `wr_scale_exp`  | in  | s8           | row scale exponent, sampled on `wr_last` |
/// | `load_done`     | in  | 1            | all rows written (from the generator) |
/// | `clear`         | in  | 1            | layer change: drop `fully_loaded` (priority over `load_done`) |
/// | `fully_loaded`  | out | 1            | registered, sticky: set the cycle after `load_done`, cleared the cycle after `clear` |
/// | `rd_addr`       | in  | 16           | read beat address |
/// | `rd_data`       | out | L x s8       | lanes at `rd_addr` of the previous cycle |
/// | `rd_row`        | in  | 16           | read row index |
/// | `rd_scale_mant` | out | 8            | scale mantissa of `rd_row` of the previous cycle |
/// | `rd_scale_exp`  | out | s8           | scale exponent of `rd_row` of the previous cycle |
///
/// # Timing
///
/// * Writes take effect at the rising edge ending the cycle with `wr_en` high.
/// * Reads have latency 1: the address presented in cycle `t` is sampled at the rising
///   edge and its data is on `rd_*` during cycle `t+1`. Reading the address being written
///   in the same cycle returns the old data (read-before-write), in rust-hdl and Verilog.
/// * `fully_loaded` = register(`clear ? 0 : load_done ? 1 : fully_loaded`).
#[derive(LogicBlock)]
pub struct QkvWeightBuffer<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub wr_en: Signal<In, Bit>,
    pub wr_addr: Signal<In, Bits<ADDR_BITS>>,
    pub wr_last: Signal<In, Bit>,
    pub wr_row: Signal<In, Bits<ROW_INDEX_BITS>>,
    pub wr_data: [Signal<In, Signed<8>>; L],
    pub wr_scale_mant: Signal<In, Bits<8>>,
    pub wr_scale_exp: Signal<In, Signed<8>>,
    pub load_done: Signal<In, Bit>,
    pub clear: Signal<In, Bit>,
    pub fully_loaded: Signal<Out, Bit>,
    pub rd_addr: Signal<In, Bits<ADDR_BITS>>,
    pub rd_data: [Signal<Out, Signed<8>>; L],
    pub rd_row: Signal<In, Bits<ROW_INDEX_BITS>>,
    pub rd_scale_mant: Signal<Out, Bits<8>>,
    pub rd_scale_exp: Signal<Out, Signed<8>>,
    lanes: LaneRam<L, 8>,
    scales: LaneRam<2, 8>,
    loaded_r: DFF<Bit>,
}

impl<const L: usize> QkvWeightBuffer<L> {
    /// A buffer sized for the Q/K/V weights of `cfg` (panics if the shape does not fit
    /// the fixed widths, see [`Shape::new`]).
    pub fn new(cfg: &Config) -> Self {
        let shape = Shape::new(cfg, L).unwrap_or_else(|e| panic!("QkvWeightBuffer<{L}>: {e}"));
        Self::from_shape(&shape)
    }

    /// A buffer for `shape` (whose lane count must be `L`).
    pub fn from_shape(shape: &Shape) -> Self {
        assert!(L > 0, "QkvWeightBuffer needs at least one lane");
        Self {
            clock: Default::default(),
            wr_en: Default::default(),
            wr_addr: Default::default(),
            wr_last: Default::default(),
            wr_row: Default::default(),
            wr_data: array_init::array_init(|_| Default::default()),
            wr_scale_mant: Default::default(),
            wr_scale_exp: Default::default(),
            load_done: Default::default(),
            clear: Default::default(),
            fully_loaded: Default::default(),
            rd_addr: Default::default(),
            rd_data: array_init::array_init(|_| Default::default()),
            rd_row: Default::default(),
            rd_scale_mant: Default::default(),
            rd_scale_exp: Default::default(),
            lanes: LaneRam::new(shape.total_beats),
            scales: LaneRam::new(shape.qkv_rows),
            loaded_r: Default::default(),
        }
    }
}

impl<const L: usize> Logic for QkvWeightBuffer<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, loaded_r);
        self.lanes.clock.next = self.clock.val();
        self.lanes.we.next = self.wr_en.val();
        self.lanes.waddr.next = self.wr_addr.val();
        self.lanes.raddr.next = self.rd_addr.val();
        for i in 0..L {
            self.lanes.wdata[i].next = self.wr_data[i].val();
            self.rd_data[i].next = self.lanes.rdata[i].val();
        }
        self.scales.clock.next = self.clock.val();
        self.scales.we.next = self.wr_en.val() & self.wr_last.val();
        self.scales.waddr.next = self.wr_row.val();
        self.scales.raddr.next = self.rd_row.val();
        self.scales.wdata[0].next = signed_cast(self.wr_scale_mant.val());
        self.scales.wdata[1].next = self.wr_scale_exp.val();
        self.rd_scale_mant.next = unsigned_cast(self.scales.rdata[0].val());
        self.rd_scale_exp.next = self.scales.rdata[1].val();
        if self.clear.val() {
            self.loaded_r.d.next = false;
        } else if self.load_done.val() {
            self.loaded_r.d.next = true;
        }
        self.fully_loaded.next = self.loaded_r.q.val();
    }
}

/// [`RowAddrGen`] + [`QkvWeightBuffer`]: loads one layer's Q/K/V weight stream and serves
/// reads to the QKV projector.
///
/// # Interface
///
/// | port            | dir | width     | meaning |
/// |-----------------|-----|-----------|---------|
/// | `clock`         | in  | clock     | |
/// | `valid`         | in  | 1         | a beat is on `data` this cycle |
/// | `layer_change`  | in  | 1         | restart the load (generator `trigger`, buffer `clear`) |
/// | `data`          | in  | L x s8    | the beat |
/// | `scale_mant`    | in  | 8         | the row's scale mantissa; must be valid at least on the row's last beat |
/// | `scale_exp`     | in  | s8        | the row's scale exponent (same) |
/// | `fully_loaded`  | out | 1         | all rows stored (1 cycle after `load_done`) |
/// | `load_done`, `wr_en`, `beat`, `row`, `matrix`, `head`, `row_index`, `addr`, `last_beat` | out | | the generator's outputs, see [`RowAddrGen`] |
/// | `rd_addr`, `rd_row` | in | 16, 16 | read addresses |
/// | `rd_data`, `rd_scale_mant`, `rd_scale_exp` | out | | read data, latency 1 |
///
/// # Timing
///
/// The generator's position outputs describe the beat on `data` in the same cycle; the
/// beat is written at the rising edge (when `wr_en`); on the last beat of a row the scale is
/// written to row `row_index`. `load_done` rises the cycle after the last beat,
/// `fully_loaded` one cycle later. `layer_change` drops `load_done` and `fully_loaded` at the
/// next edge and restarts at row 0; buffer contents are overwritten by the next load.
#[derive(LogicBlock)]
pub struct QkvLoader<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub valid: Signal<In, Bit>,
    pub layer_change: Signal<In, Bit>,
    pub data: [Signal<In, Signed<8>>; L],
    pub scale_mant: Signal<In, Bits<8>>,
    pub scale_exp: Signal<In, Signed<8>>,
    pub fully_loaded: Signal<Out, Bit>,
    pub load_done: Signal<Out, Bit>,
    pub wr_en: Signal<Out, Bit>,
    pub beat: Signal<Out, Bits<BEAT_BITS>>,
    pub row: Signal<Out, Bits<ROW_BITS>>,
    pub matrix: Signal<Out, Bits<MATRIX_BITS>>,
    pub head: Signal<Out, Bits<HEAD_BITS>>,
    pub row_index: Signal<Out, Bits<ROW_INDEX_BITS>>,
    pub addr: Signal<Out, Bits<ADDR_BITS>>,
    pub last_beat: Signal<Out, Bit>,
    pub rd_addr: Signal<In, Bits<ADDR_BITS>>,
    pub rd_data: [Signal<Out, Signed<8>>; L],
    pub rd_row: Signal<In, Bits<ROW_INDEX_BITS>>,
    pub rd_scale_mant: Signal<Out, Bits<8>>,
    pub rd_scale_exp: Signal<Out, Signed<8>>,
    addr_gen: RowAddrGen,
    store: QkvWeightBuffer<L>,
}

impl<const L: usize> QkvLoader<L> {
    /// Loader for `cfg`; panics if the shape does not fit the fixed widths (see [`Shape::new`]).
    pub fn new(cfg: &Config) -> Self {
        let shape = Shape::new(cfg, L).unwrap_or_else(|e| panic!("QkvLoader<{L}>: {e}"));
        Self {
            clock: Default::default(),
            valid: Default::default(),
            layer_change: Default::default(),
            data: array_init::array_init(|_| Default::default()),
            scale_mant: Default::default(),
            scale_exp: Default::default(),
            fully_loaded: Default::default(),
            load_done: Default::default(),
            wr_en: Default::default(),
            beat: Default::default(),
            row: Default::default(),
            matrix: Default::default(),
            head: Default::default(),
            row_index: Default::default(),
            addr: Default::default(),
            last_beat: Default::default(),
            rd_addr: Default::default(),
            rd_data: array_init::array_init(|_| Default::default()),
            rd_row: Default::default(),
            rd_scale_mant: Default::default(),
            rd_scale_exp: Default::default(),
            addr_gen: RowAddrGen::from_shape(&shape),
            store: QkvWeightBuffer::from_shape(&shape),
        }
    }
}

impl<const L: usize> Logic for QkvLoader<L> {
    #[hdl_gen]
    fn update(&mut self) {
        self.addr_gen.clock.next = self.clock.val();
        self.addr_gen.valid.next = self.valid.val();
        self.addr_gen.trigger.next = self.layer_change.val();
        self.store.clock.next = self.clock.val();
        self.store.wr_en.next = self.addr_gen.wr_en.val();
        self.store.wr_addr.next = self.addr_gen.addr.val();
        self.store.wr_last.next = self.addr_gen.last_beat.val();
        self.store.wr_row.next = self.addr_gen.row_index.val();
        for i in 0..L {
            self.store.wr_data[i].next = self.data[i].val();
            self.rd_data[i].next = self.store.rd_data[i].val();
        }
        self.store.wr_scale_mant.next = self.scale_mant.val();
        self.store.wr_scale_exp.next = self.scale_exp.val();
        self.store.load_done.next = self.addr_gen.load_done.val();
        self.store.clear.next = self.layer_change.val();
        self.store.rd_addr.next = self.rd_addr.val();
        self.store.rd_row.next = self.rd_row.val();
        self.rd_scale_mant.next = self.store.rd_scale_mant.val();
        self.rd_scale_exp.next = self.store.rd_scale_exp.val();
        self.fully_loaded.next = self.store.fully_loaded.val();
        self.load_done.next = self.addr_gen.load_done.val();
        self.wr_en.next = self.addr_gen.wr_en.val();
        self.beat.next = self.addr_gen.beat.val();
        self.row.next = self.addr_gen.row.val();
        self.matrix.next = self.addr_gen.matrix.val();
        self.head.next = self.addr_gen.head.val();
        self.row_index.next = self.addr_gen.row_index.val();
        self.addr.next = self.addr_gen.addr.val();
        self.last_beat.next = self.addr_gen.last_beat.val();
    }
}
