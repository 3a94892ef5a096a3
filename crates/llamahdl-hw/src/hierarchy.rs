//! The decoder hierarchy with the RAM weight path threaded through it (plan step 4):
//! [`Decoder`] → [`LayerStack`] → [`TransformerLayer`] → [`MultiHeadAttention`] →
//! [`QkvProjector`].
//!
//! The weight buffer read port (`buf_*`) and `use_ram` pass down every level to the
//! projector; each level is where a later stage attaches (RMSNorm and the feed-forward in
//! the layer; RoPE, the key/value cache and softmax in attention), so filling those in
//! needs no re-plumbing.
//!
//! ## Decoder interface
//! - Weight stream (from external memory): `w_valid`, `w_data[L]`, `w_scale_mant`,
//!   `w_scale_exp`: one beat of the current layer's `[Wq; Wk; Wv]` row stream per cycle
//!   with `w_valid` (see [`crate::params`]). `load_trigger` restarts the stream (a new
//!   load of the current layer); a layer change restarts it too.
//! - `use_ram`: compute with the streamed weights (high) or the compiled-in ROM (low).
//! - QKV stage input: `x_we`/`x_waddr`/`x_wdata` write the normalised input block (16-bit
//!   mantissas), `x_shift` its shift (see [`QkvProjector`]).
//! - `start` (pulse): run the QKV projection of the current layer. With `use_ram` high the
//!   start is held (`waiting` high) until the buffer reports `fully_loaded`.
//! - `next_layer` (pulse, while idle): advance to the next layer (wrapping after the last),
//!   which also clears the weight buffer (`layer_changed` pulses).
//! - Outputs: `qkv_valid`, `qkv_row`, `qkv_data` (Q16.16) per projected row, `done`,
//!   `busy`, `waiting`, `fully_loaded`, `layer`, and the loader's position outputs for
//!   introspection (`ld_wr_en`, `ld_beat`, `ld_row`, `ld_matrix`, `ld_head`, `ld_row_index`,
//!   `ld_addr`, `ld_last_beat`, `ld_load_done`).
//!
//! ## Timing
//! A start issued in cycle t (or when the buffer becomes fully loaded) reaches the
//! projector in cycle t+1; the projector's own timing follows (see its docs).

use crate::params::*;
use crate::qkv_projector::QkvProjector;
use crate::weight_buffer::QkvLoader;
use llamahdl_golden::QMatrix;
use llamahdl_golden::QuantModel;
use rust_hdl::prelude::*;

/// Multi-head attention. Today: the QKV projection with its weight-source select; RoPE,
/// the key/value cache, scores, softmax and the weighted sum of values attach here.
#[derive(LogicBlock)]
pub struct MultiHeadAttention<const L: usize> {
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
    pub qkv_valid: Signal<Out, Bit>,
    pub qkv_row: Signal<Out, Bits<16>>,
    pub qkv_data: Signal<Out, Signed<32>>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    qkv: QkvProjector<L>,
}

impl<const L: usize> MultiHeadAttention<L> {
    pub fn new(qkv: QkvProjector<L>) -> Self {
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
            qkv_valid: Default::default(),
            qkv_row: Default::default(),
            qkv_data: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            qkv,
        }
    }
}

impl<const L: usize> Logic for MultiHeadAttention<L> {
    #[hdl_gen]
    fn update(&mut self) {
        self.qkv.clock.next = self.clock.val();
        self.qkv.x_we.next = self.x_we.val();
        self.qkv.x_waddr.next = self.x_waddr.val();
        self.qkv.x_shift.next = self.x_shift.val();
        self.qkv.start.next = self.start.val();
        self.qkv.use_ram.next = self.use_ram.val();
        self.qkv.rom_base.next = self.rom_base.val();
        self.qkv.rom_row_base.next = self.rom_row_base.val();
        self.qkv.buf_rd_mant.next = self.buf_rd_mant.val();
        self.qkv.buf_rd_exp.next = self.buf_rd_exp.val();
        for i in 0..L {
            self.qkv.x_wdata[i].next = self.x_wdata[i].val();
            self.qkv.buf_rd_data[i].next = self.buf_rd_data[i].val();
        }
        self.buf_rd_addr.next = self.qkv.buf_rd_addr.val();
        self.buf_rd_row.next = self.qkv.buf_rd_row.val();
        self.busy.next = self.qkv.busy.val();
        self.done.next = self.qkv.done.val();
        self.qkv_valid.next = self.qkv.out_valid.val();
        self.qkv_row.next = self.qkv.out_row.val();
        self.qkv_data.next = self.qkv.out_data.val();
    }
}

/// One transformer layer (time-multiplexed over all layers by [`LayerStack`]). Today:
/// attention's QKV stage; the RMSNorms, output projection, residual adds and the SwiGLU
/// feed-forward attach here.
#[derive(LogicBlock)]
pub struct TransformerLayer<const L: usize> {
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
    pub qkv_valid: Signal<Out, Bit>,
    pub qkv_row: Signal<Out, Bits<16>>,
    pub qkv_data: Signal<Out, Signed<32>>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    attention: MultiHeadAttention<L>,
}

impl<const L: usize> TransformerLayer<L> {
    pub fn new(attention: MultiHeadAttention<L>) -> Self {
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
            qkv_valid: Default::default(),
            qkv_row: Default::default(),
            qkv_data: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            attention,
        }
    }
}

impl<const L: usize> Logic for TransformerLayer<L> {
    #[hdl_gen]
    fn update(&mut self) {
        self.attention.clock.next = self.clock.val();
        self.attention.x_we.next = self.x_we.val();
        self.attention.x_waddr.next = self.x_waddr.val();
        self.attention.x_shift.next = self.x_shift.val();
        self.attention.start.next = self.start.val();
        self.attention.use_ram.next = self.use_ram.val();
        self.attention.rom_base.next = self.rom_base.val();
        self.attention.rom_row_base.next = self.rom_row_base.val();
        self.attention.buf_rd_mant.next = self.buf_rd_mant.val();
        self.attention.buf_rd_exp.next = self.buf_rd_exp.val();
        for i in 0..L {
            self.attention.x_wdata[i].next = self.x_wdata[i].val();
            self.attention.buf_rd_data[i].next = self.buf_rd_data[i].val();
        }
        self.buf_rd_addr.next = self.attention.buf_rd_addr.val();
        self.buf_rd_row.next = self.attention.buf_rd_row.val();
        self.busy.next = self.attention.busy.val();
        self.done.next = self.attention.done.val();
        self.qkv_valid.next = self.attention.qkv_valid.val();
        self.qkv_row.next = self.attention.qkv_row.val();
        self.qkv_data.next = self.attention.qkv_data.val();
    }
}

/// The layer stack: runs the one [`TransformerLayer`] with each layer's weights in turn.
/// Holds the current layer index and that layer's base addresses in the compiled-in ROM.
/// `next_layer` (honoured while idle) advances the layer, wrapping to 0 after the last,
/// and pulses `layer_changed` (the weight buffer clears and expects the next layer).
#[derive(LogicBlock)]
pub struct LayerStack<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub x_we: Signal<In, Bit>,
    pub x_waddr: Signal<In, Bits<16>>,
    pub x_wdata: [Signal<In, Signed<16>>; L],
    pub x_shift: Signal<In, Bits<5>>,
    pub start: Signal<In, Bit>,
    pub use_ram: Signal<In, Bit>,
    pub next_layer: Signal<In, Bit>,
    pub layer: Signal<Out, Bits<8>>,
    pub layer_changed: Signal<Out, Bit>,
    pub buf_rd_addr: Signal<Out, Bits<16>>,
    pub buf_rd_row: Signal<Out, Bits<16>>,
    pub buf_rd_data: [Signal<In, Signed<8>>; L],
    pub buf_rd_mant: Signal<In, Bits<8>>,
    pub buf_rd_exp: Signal<In, Signed<8>>,
    pub qkv_valid: Signal<Out, Bit>,
    pub qkv_row: Signal<Out, Bits<16>>,
    pub qkv_data: Signal<Out, Signed<32>>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    layer_reg: DFF<Bits<8>>,
    rom_base: DFF<Bits<16>>,
    rom_row_base: DFF<Bits<16>>,
    changed: DFF<Bit>,
    last_layer: Constant<Bits<8>>,
    rom_stride: Constant<Bits<16>>,
    row_stride: Constant<Bits<16>>,
    zero8: Constant<Bits<8>>,
    one8: Constant<Bits<8>>,
    zero16: Constant<Bits<16>>,
    body: TransformerLayer<L>,
}

impl<const L: usize> LayerStack<L> {
    /// `n_layers` layers of `qkv_rows` rows of `beats` words each in the ROM.
    pub fn new(body: TransformerLayer<L>, n_layers: usize, qkv_rows: usize, beats: usize) -> Self {
        assert!((1..=256).contains(&n_layers));
        assert!(n_layers * qkv_rows * beats <= 1 << 16);
        Self {
            clock: Default::default(),
            x_we: Default::default(),
            x_waddr: Default::default(),
            x_wdata: array_init::array_init(|_| Default::default()),
            x_shift: Default::default(),
            start: Default::default(),
            use_ram: Default::default(),
            next_layer: Default::default(),
            layer: Default::default(),
            layer_changed: Default::default(),
            buf_rd_addr: Default::default(),
            buf_rd_row: Default::default(),
            buf_rd_data: array_init::array_init(|_| Default::default()),
            buf_rd_mant: Default::default(),
            buf_rd_exp: Default::default(),
            qkv_valid: Default::default(),
            qkv_row: Default::default(),
            qkv_data: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            layer_reg: Default::default(),
            rom_base: Default::default(),
            rom_row_base: Default::default(),
            changed: Default::default(),
            last_layer: Constant::new(((n_layers - 1) as u64).into()),
            rom_stride: Constant::new(((qkv_rows * beats) as u64).into()),
            row_stride: Constant::new((qkv_rows as u64).into()),
            zero8: Constant::new(0u64.into()),
            one8: Constant::new(1u64.into()),
            zero16: Constant::new(0u64.into()),
            body,
        }
    }
}

impl<const L: usize> Logic for LayerStack<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, layer_reg, rom_base, rom_row_base, changed);
        self.body.clock.next = self.clock.val();
        self.body.x_we.next = self.x_we.val();
        self.body.x_waddr.next = self.x_waddr.val();
        self.body.x_shift.next = self.x_shift.val();
        self.body.start.next = self.start.val();
        self.body.use_ram.next = self.use_ram.val();
        self.body.rom_base.next = self.rom_base.q.val();
        self.body.rom_row_base.next = self.rom_row_base.q.val();
        self.body.buf_rd_mant.next = self.buf_rd_mant.val();
        self.body.buf_rd_exp.next = self.buf_rd_exp.val();
        for i in 0..L {
            self.body.x_wdata[i].next = self.x_wdata[i].val();
            self.body.buf_rd_data[i].next = self.buf_rd_data[i].val();
        }
        self.buf_rd_addr.next = self.body.buf_rd_addr.val();
        self.buf_rd_row.next = self.body.buf_rd_row.val();
        self.busy.next = self.body.busy.val();
        self.done.next = self.body.done.val();
        self.qkv_valid.next = self.body.qkv_valid.val();
        self.qkv_row.next = self.body.qkv_row.val();
        self.qkv_data.next = self.body.qkv_data.val();
        self.changed.d.next = false;
        if self.next_layer.val() & !self.body.busy.val() {
            self.changed.d.next = true;
            if self.layer_reg.q.val() == self.last_layer.val() {
                self.layer_reg.d.next = self.zero8.val();
                self.rom_base.d.next = self.zero16.val();
                self.rom_row_base.d.next = self.zero16.val();
            } else {
                self.layer_reg.d.next = self.layer_reg.q.val() + self.one8.val();
                self.rom_base.d.next = self.rom_base.q.val() + self.rom_stride.val();
                self.rom_row_base.d.next = self.rom_row_base.q.val() + self.row_stride.val();
            }
        }
        self.layer.next = self.layer_reg.q.val();
        self.layer_changed.next = self.changed.q.val();
    }
}

/// The decoder top: the QKV weight loader (row address generator + weight buffer) and the
/// layer stack. See the [module docs](self) for the interface.
#[derive(LogicBlock)]
pub struct Decoder<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub w_valid: Signal<In, Bit>,
    pub w_data: [Signal<In, Signed<8>>; L],
    pub w_scale_mant: Signal<In, Bits<8>>,
    pub w_scale_exp: Signal<In, Signed<8>>,
    pub load_trigger: Signal<In, Bit>,
    pub use_ram: Signal<In, Bit>,
    pub x_we: Signal<In, Bit>,
    pub x_waddr: Signal<In, Bits<16>>,
    pub x_wdata: [Signal<In, Signed<16>>; L],
    pub x_shift: Signal<In, Bits<5>>,
    pub start: Signal<In, Bit>,
    pub next_layer: Signal<In, Bit>,
    pub qkv_valid: Signal<Out, Bit>,
    pub qkv_row: Signal<Out, Bits<16>>,
    pub qkv_data: Signal<Out, Signed<32>>,
    pub done: Signal<Out, Bit>,
    pub busy: Signal<Out, Bit>,
    pub waiting: Signal<Out, Bit>,
    pub fully_loaded: Signal<Out, Bit>,
    pub layer: Signal<Out, Bits<8>>,
    pub ld_wr_en: Signal<Out, Bit>,
    pub ld_row: Signal<Out, Bits<ROW_BITS>>,
    pub ld_matrix: Signal<Out, Bits<MATRIX_BITS>>,
    pub ld_head: Signal<Out, Bits<HEAD_BITS>>,
    pub ld_row_index: Signal<Out, Bits<ROW_INDEX_BITS>>,
    pub ld_load_done: Signal<Out, Bit>,
    pub ld_beat: Signal<Out, Bits<BEAT_BITS>>,
    pub ld_addr: Signal<Out, Bits<ADDR_BITS>>,
    pub ld_last_beat: Signal<Out, Bit>,
    pending: DFF<Bit>,
    issue: Signal<Local, Bit>,
    loader: QkvLoader<L>,
    stack: LayerStack<L>,
}

impl<const L: usize> Decoder<L> {
    /// The decoder for a quantised model: every layer's Wqkv compiled into the ROM.
    pub fn new(qm: &QuantModel) -> Self {
        let c = qm.config;
        let layers: Vec<&QMatrix> = qm.layers.iter().map(|l| &l.wqkv).collect();
        let qkv = QkvProjector::<L>::new(c.qkv_rows(), c.dim, &layers);
        let body = TransformerLayer::new(MultiHeadAttention::new(qkv));
        let stack = LayerStack::new(body, c.n_layers, c.qkv_rows(), beats_per_row(c.dim, L));
        Self {
            clock: Default::default(),
            w_valid: Default::default(),
            w_data: array_init::array_init(|_| Default::default()),
            w_scale_mant: Default::default(),
            w_scale_exp: Default::default(),
            load_trigger: Default::default(),
            use_ram: Default::default(),
            x_we: Default::default(),
            x_waddr: Default::default(),
            x_wdata: array_init::array_init(|_| Default::default()),
            x_shift: Default::default(),
            start: Default::default(),
            next_layer: Default::default(),
            qkv_valid: Default::default(),
            qkv_row: Default::default(),
            qkv_data: Default::default(),
            done: Default::default(),
            busy: Default::default(),
            waiting: Default::default(),
            fully_loaded: Default::default(),
            layer: Default::default(),
            ld_wr_en: Default::default(),
            ld_row: Default::default(),
            ld_matrix: Default::default(),
            ld_head: Default::default(),
            ld_row_index: Default::default(),
            ld_load_done: Default::default(),
            ld_beat: Default::default(),
            ld_addr: Default::default(),
            ld_last_beat: Default::default(),
            pending: Default::default(),
            issue: Default::default(),
            loader: QkvLoader::new(&c),
            stack,
        }
    }
}

impl<const L: usize> Logic for Decoder<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, pending);
        // Weight stream into the loader; a new load or a layer change restarts it.
        self.loader.clock.next = self.clock.val();
        self.loader.valid.next = self.w_valid.val();
        self.loader.layer_change.next = self.load_trigger.val() | self.stack.layer_changed.val();
        for i in 0..L {
            self.loader.data[i].next = self.w_data[i].val();
            self.stack.x_wdata[i].next = self.x_wdata[i].val();
            self.stack.buf_rd_data[i].next = self.loader.rd_data[i].val();
        }
        self.loader.scale_mant.next = self.w_scale_mant.val();
        self.loader.scale_exp.next = self.w_scale_exp.val();
        // Buffer read port, threaded down to the projector.
        self.loader.rd_addr.next = self.stack.buf_rd_addr.val();
        self.loader.rd_row.next = self.stack.buf_rd_row.val();
        self.stack.buf_rd_mant.next = self.loader.rd_scale_mant.val();
        self.stack.buf_rd_exp.next = self.loader.rd_scale_exp.val();
        // Start gating: with use_ram, wait for a fully loaded buffer.
        self.issue.next = (self.start.val() | self.pending.q.val())
            & (!self.use_ram.val() | self.loader.fully_loaded.val())
            & !self.stack.busy.val();
        self.pending.d.next = (self.start.val() | self.pending.q.val()) & !self.issue.val();
        self.stack.clock.next = self.clock.val();
        self.stack.x_we.next = self.x_we.val();
        self.stack.x_waddr.next = self.x_waddr.val();
        self.stack.x_shift.next = self.x_shift.val();
        self.stack.start.next = self.issue.val();
        self.stack.use_ram.next = self.use_ram.val();
        self.stack.next_layer.next = self.next_layer.val();
        self.qkv_valid.next = self.stack.qkv_valid.val();
        self.qkv_row.next = self.stack.qkv_row.val();
        self.qkv_data.next = self.stack.qkv_data.val();
        self.done.next = self.stack.done.val();
        self.busy.next = self.stack.busy.val() | self.pending.q.val();
        self.waiting.next = self.pending.q.val();
        self.fully_loaded.next = self.loader.fully_loaded.val();
        self.layer.next = self.stack.layer.val();
        self.ld_wr_en.next = self.loader.wr_en.val();
        self.ld_row.next = self.loader.row.val();
        self.ld_matrix.next = self.loader.matrix.val();
        self.ld_head.next = self.loader.head.val();
        self.ld_row_index.next = self.loader.row_index.val();
        self.ld_load_done.next = self.loader.load_done.val();
        self.ld_beat.next = self.loader.beat.val();
        self.ld_addr.next = self.loader.addr.val();
        self.ld_last_beat.next = self.loader.last_beat.val();
    }
}
