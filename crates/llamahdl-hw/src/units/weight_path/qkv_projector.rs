//! QKV projector with RAM select (plan step 3).
//!
//! Computes `[q; k; v] = Wqkv · x` for one layer, one output row at a time, `L` lanes
//! per cycle, exactly as `llamahdl_golden::numerics::dot_row` does. It is a
//! [`MatVec`] with the run fixed to one layer's Wqkv.
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
//!   `out_data` (Q16.16), one row every `beats` cycles; `done` pulses a cycle after the
//!   last row's `out_valid` (with the matrix-vector unit's write of that row).
//!
//! ## Timing
//! Cycle 0 is the `start` cycle. Beat `b` of row `r` is issued in cycle
//! `1 + r * beats + b`; the row's result appears [`LATENCY`] cycles after its last beat
//! is issued; `done` comes `qkv_rows * beats + LATENCY + 1` cycles after `start`.

use crate::bits::{Addr, ADDR_SPACE};
use crate::leaf::XP;
use crate::units::matvec::MatVec;
pub use crate::units::matvec::{rom_scales, rom_words, LATENCY};
use llamahdl_golden::QMatrix;
use rust_hdl::prelude::*;

/// The QKV projection: a [`MatVec`] whose ROM holds every layer's Wqkv and whose run
/// length is fixed to the shape (`qkv_rows` rows of `ceil(dim / L)` words).
#[derive(LogicBlock)]
pub struct QkvProjector<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub x_we: Signal<In, Bit>,
    pub x_waddr: Signal<In, Addr>,
    pub x_wdata: [Signal<In, Signed<16>>; L],
    pub x_shift: Signal<In, Bits<5>>,
    pub start: Signal<In, Bit>,
    pub use_ram: Signal<In, Bit>,
    pub rom_base: Signal<In, Addr>,
    pub rom_row_base: Signal<In, Addr>,
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
    /// Rows of Wqkv minus one.
    rows_m1: Constant<Addr>,
    /// Words per row minus one.
    beats_m1: Constant<Addr>,
    zero16: Constant<Addr>,
    zero32: Constant<Bits<32>>,
    zero2: Constant<Bits<2>>,
    zs18: Constant<Signed<18>>,
    zs11: Constant<Signed<11>>,
    mv: MatVec<L>,
}

impl<const L: usize> QkvProjector<L> {
    /// A projector for matrices of `qkv_rows` rows of `cols` inputs, with `rom_layers`
    /// compiled into its ROM (one Wqkv per layer).
    pub fn new(qkv_rows: usize, cols: usize, rom_layers: &[&QMatrix]) -> Self {
        let beats = cols.div_ceil(L);
        assert!(qkv_rows >= 1 && beats >= 1 && qkv_rows * beats <= ADDR_SPACE);
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
            zero32: Constant::new(0u64.into()),
            zero2: Constant::new(0u64.into()),
            zs18: Constant::new(Signed::default()),
            zs11: Constant::new(Signed::default()),
            mv: MatVec::new(rom_layers, cols),
        }
    }
}

impl<const L: usize> Logic for QkvProjector<L> {
    #[hdl_gen]
    fn update(&mut self) {
        self.mv.clock.next = self.clock.val();
        self.mv.x_we.next = self.x_we.val();
        self.mv.x_waddr.next = self.x_waddr.val();
        for i in 0..L {
            self.mv.x_wdata[i].next = self.x_wdata[i].val();
            self.mv.buf_rd_data[i].next = self.buf_rd_data[i].val();
            // The lane multipliers are not lent out here.
            self.mv.ext_a[i].next = self.zs18.val();
            self.mv.ext_b[i].next = self.zs11.val();
        }
        self.mv.ext_sel.next = false;
        self.mv.xs_we.next = false;
        self.mv.xs_waddr.next = self.zero16.val();
        self.mv.xs_wdata.next = signed_cast(self.zero32.val());
        self.mv.x_raw.next = false;
        self.mv.xp_we.next = false;
        self.mv.xp_idx.next = self.zero16.val();
        for j in 0..XP {
            self.mv.xp_data[j].next = signed_cast(self.zero32.val());
        }
        self.mv.x_base.next = self.zero16.val();
        self.mv.post.next = self.zero2.val();
        self.mv.src.next = self.zero16.val();
        self.mv.split.next = self.zero16.val();
        self.mv.vm_rdata.next = signed_cast(self.zero32.val());
        self.mv.x_shift.next = self.x_shift.val();
        self.mv.start.next = self.start.val();
        self.mv.use_ram.next = self.use_ram.val();
        self.mv.stream.next = false;
        self.mv.st_valid.next = false;
        self.mv.rom_base.next = self.rom_base.val();
        self.mv.rom_row_base.next = self.rom_row_base.val();
        self.mv.rows_m1.next = self.rows_m1.val();
        self.mv.beats_m1.next = self.beats_m1.val();
        self.mv.dst.next = self.zero16.val();
        self.mv.embed.next = false;
        self.mv.len_m1.next = self.zero16.val();
        self.mv.buf_rd_mant.next = self.buf_rd_mant.val();
        self.mv.buf_rd_exp.next = self.buf_rd_exp.val();
        self.buf_rd_addr.next = self.mv.buf_rd_addr.val();
        self.buf_rd_row.next = self.mv.buf_rd_row.val();
        self.out_valid.next = self.mv.out_valid.val();
        self.out_row.next = self.mv.out_row.val();
        self.out_data.next = self.mv.out_data.val();
        self.busy.next = self.mv.busy.val();
        self.done.next = self.mv.done.val();
    }
}
