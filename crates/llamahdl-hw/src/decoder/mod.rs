//! The whole decoder: token in, logits and the next token out (`docs/architecture.md`).
//!
//! The layer stack ([`layer_stack::LayerStack`], the sequencer) runs the per-token program
//! ([`program::build`]) from a ROM, one operation at a time, on the matrix-vector unit ([`MatVec`]: matrix products with the residual add and
//! SwiGLU fused on their outputs, embedding lookup, QKV from the ROM or the
//! streamed-weight buffer), the RMSNorm unit ([`RmsUnit`], `XP` elements per cycle, its
//! output written straight into the matrix-vector input memory) and the attention unit
//! ([`AttnUnit`]: RoPE, key/value cache, attention on the L lanes; its outputs to the
//! vector memory one per cycle or, when `XP` divides head_dim, `XP` per cycle straight into
//! the matrix-vector input memory like RMSNorm's). The units share the
//! vector memory ([`memory_map::Layout`]); the QKV projection takes its weights from the
//! ROM or, with `use_ram`, from the QKV weight buffer filled by the weight stream
//! ([`QkvLoader`]: the plan's row address generator and buffer). [`argmax::Argmax`]
//! follows the classifier's outputs.
//!
//! Sub-blocks (instance names, as in the Verilog): `layer_stack`, `matvec`, `rms`,
//! `attention`, `qkv_weights`, `vmem` (vector memory), `x_max` / `tee_max` (running
//! maxima of the residual stream and of teed writes), `tee_shift`, `emb_offset_r` (the
//! token's embedding offset, registered), `xg_we` / `xg_att` /
//! `xg_idx` / `xg_data` (the registered group write into the matrix-vector input memory),
//! `argmax`.
//!
//! ## Interface
//! - `start` (pulse, while not `busy`) with `token` and `pos`: compute position `pos`.
//!   `pos` must be the next position (0, 1, 2, ...; 0 starts a new sequence). A position at
//!   or past the on-chip context is refused: `pos_error` rises with `done` and nothing is
//!   computed.
//! - `use_ram` (sampled at `start`): take each layer's Q/K/V weights from the streamed
//!   weight buffer instead of the compiled-in ROM. Before a layer's QKV projection the
//!   decoder pulses `w_req` with `w_layer` (the buffer is cleared at the same time) and
//!   waits until that layer's rows have streamed in on `w_valid`/`w_data`/`w_scale_*`
//!   (`fully_loaded`); a buffer already holding the layer is reused.
//! - Results: every logit as it is computed (`logit_valid`, `logit_index`, `logit_value`,
//!   Q16.16), then `done` (pulse) with `next_token` (the first maximum of the logits).
//!
//! ## Timing
//! About `2` cycles of sequencing per operation plus each unit's own time; the cycles per
//! token are measured by `llamahdl sim` and reported in `docs/performance.md`.

pub mod argmax;
pub mod booted;
pub mod dram;
pub mod layer_stack;
pub mod limits;
pub mod memory_map;
pub mod program;

use crate::bits::{Addr, Pos, Token};
use crate::leaf::{Delay, DelayBit, DelayS, LaneRam, XP};
use crate::units::attention::AttnUnit;
use crate::units::matvec::post::{MaxTrack, ShiftOf};
use crate::units::matvec::{MatVec, POST_ACC, POST_NONE, POST_SWIGLU};
use crate::units::rms::{rms_gains_layout, RmsUnit};
use crate::units::weight_path::weight_buffer::QkvLoader;
use argmax::Argmax;
use layer_stack::LayerStack;
use llamahdl_golden::QuantModel;
use llamahdl_model::Config;
use memory_map::{Layout, WeightMap};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Decoder<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub token: Signal<In, Token>,
    pub pos: Signal<In, Pos>,
    pub use_ram: Signal<In, Bit>,
    pub w_valid: Signal<In, Bit>,
    pub w_data: [Signal<In, Signed<8>>; L],
    pub w_scale_mant: Signal<In, Bits<8>>,
    pub w_scale_exp: Signal<In, Signed<8>>,
    pub done: Signal<Out, Bit>,
    pub busy: Signal<Out, Bit>,
    pub next_token: Signal<Out, Token>,
    pub pos_error: Signal<Out, Bit>,
    pub logit_valid: Signal<Out, Bit>,
    pub logit_index: Signal<Out, Addr>,
    pub logit_value: Signal<Out, Signed<32>>,
    pub w_req: Signal<Out, Bit>,
    pub w_layer: Signal<Out, Bits<8>>,
    pub fully_loaded: Signal<Out, Bit>,
    /// Streamed weights (a decoder built with [`Decoder::streaming`]; tie low otherwise):
    /// the matrix-vector unit's word stream (`st_valid`, the head word `st_data` with
    /// its row's scale `st_mant`/`st_exp`; `st_pop` takes it) and the RMSNorm gains
    /// (`g_we`/`g_waddr`/`g_data` group writes into the gains memory, `g_done` with
    /// `g_exp` when a vector is complete; `g_free` allows the next vector), as the
    /// stream router ([`crate::units::dram::router::StreamRouter`]) delivers them.
    pub st_valid: Signal<In, Bit>,
    pub st_data: [Signal<In, Signed<8>>; L],
    pub st_mant: Signal<In, Bits<8>>,
    pub st_exp: Signal<In, Signed<8>>,
    pub st_pop: Signal<Out, Bit>,
    pub g_we: Signal<In, Bit>,
    pub g_waddr: Signal<In, Addr>,
    pub g_data: [Signal<In, Bits<16>>; XP],
    pub g_done: Signal<In, Bit>,
    pub g_exp: Signal<In, Signed<8>>,
    pub g_free: Signal<Out, Bit>,
    /// Pulses once for each position that runs (a refused one does not), the cycle after
    /// `start`: the streamed design's read requests go out then.
    pub accepted: Signal<Out, Bit>,
    /// The weights stream (generation parameter).
    streamed: Constant<Bit>,
    /// The word last popped from the stream, with its scale (the matrix-vector unit's
    /// weight-buffer input in stream mode).
    sd_data: [DFF<Signed<8>>; L],
    sd_mant: DFF<Bits<8>>,
    sd_exp: DFF<Signed<8>>,
    /// Streamed gains: the two banks' exponents, the bank the next vector is written to
    /// and the bank the next RMSNORM reads, vectors written and not yet started
    /// (`gavail`) or not yet finished (`gpend`), each 0..=2.
    gexp0: DFF<Signed<8>>,
    gexp1: DFF<Signed<8>>,
    gwbank: DFF<Bit>,
    grbank: DFF<Bit>,
    gavail: DFF<Bits<2>>,
    gpend: DFF<Bits<2>>,
    /// Element base of gains bank 1.
    gbank1: Constant<Addr>,
    zero2: Constant<Bits<2>>,
    one2: Constant<Bits<2>>,
    two2: Constant<Bits<2>>,
    /// Embedding row offset of the token: token × words per row.
    emb_offset: Signal<Local, Bits<32>>,
    /// `emb_offset`, registered (the EMBED operation issues cycles after the token is
    /// latched): no multiplier in front of the matrix-vector unit's ROM base.
    emb_offset_r: Delay<16>,
    emb_beats: Constant<Addr>,
    /// The active unit's vector-memory write (teed into XMem with TEE).
    vw_we: Signal<Local, Bit>,
    vw_addr: Signal<Local, Addr>,
    vw_data: Signal<Local, Signed<32>>,
    /// The active unit's write, registered once before it fans out (vector memory, XMem's
    /// scalar port, the running maxima, RMSNorm's capture of x), with its derived
    /// addresses and enables computed from the operation's fields in the write's cycle.
    wr_we: DelayBit,
    wr_addr: Delay<16>,
    wr_data: DelayS<32>,
    wr_tee: DelayBit,
    wr_xs_addr: Delay<16>,
    wr_xtrack: DelayBit,
    wr_x_idx: Delay<16>,
    /// `b - c` (a tee's XMem element minus its vector-memory address) and `c`, registered
    /// from the operation's fields (stable from its issue, writes come later).
    tee_off: Delay<16>,
    /// The QKV projection is running (attention's stream enable), registered twice (the
    /// rows are registered once on their way).
    st_en_r: DelayBit,
    /// The projection's rows registered on their way to attention (the matrix-vector
    /// unit's outputs also feed the vector memory and the logits, far from attention).
    st_row_r: Delay<16>,
    st_valid_r: DelayBit,
    st_data_r: DelayS<32>,
    c_r: Delay<16>,
    zero16: Constant<Addr>,
    one16: Constant<Addr>,
    zero32: Constant<Bits<32>>,
    post_acc: Constant<Bits<2>>,
    post_swiglu: Constant<Bits<2>>,
    post_none: Constant<Bits<2>>,
    layer_stack: LayerStack,
    vmem: LaneRam<1, 32>,
    matvec: MatVec<L>,
    rms: RmsUnit<XP>,
    attention: AttnUnit<L>,
    qkv_weights: QkvLoader<L>,
    /// XMem's group write, registered: RMSNORM's output or attention's (`XP` at a time);
    /// `xg_att`: an attention group (its magnitudes go to `tee_max`).
    xg_we: DelayBit,
    xg_att: DelayBit,
    xg_idx: Delay<16>,
    xg_data: [DelayS<32>; XP],
    tee_max: MaxTrack,
    tee_shift: ShiftOf,
    x_max: MaxTrack,
    argmax: Argmax,
}

impl<const L: usize> Decoder<L> {
    /// The decoder for `qm` with `L` multiply-accumulate lanes, used by the matrix-vector
    /// unit and by attention (`floor(L / head_dim)` query heads at once, or a head in
    /// `ceil(head_dim / L)` chunks when head_dim exceeds `L`; see [`limits::check_fits`]);
    /// the on-chip context is the model's seq_len.
    pub fn new(qm: &QuantModel) -> Self {
        Self::with_context(qm, qm.config.seq_len)
    }

    /// As [`Decoder::new`] with an on-chip context of `ctx` positions (1..=seq_len): the
    /// key/value cache and RoPE table hold `ctx` positions, and `pos >= ctx` is refused.
    pub fn with_context(qm: &QuantModel, ctx: usize) -> Self {
        let c = qm.config;
        let lay = Layout::new(qm);
        let wm = WeightMap::new(qm, L);
        let gains = rms_gains_layout(qm, XP);
        let max_cols = Self::max_cols(&c);
        Self::build(
            &c,
            LayerStack::new(&program::build(qm, L, &gains), ctx),
            LaneRam::new(lay.total),
            MatVec::new(&wm.mats, max_cols),
            RmsUnit::new(qm),
            AttnUnit::with_context(qm, ctx),
            wm.embedding.beats,
            None,
        )
    }

    /// The decoder for shape `c` whose weights stream in (from DRAM, through the stream
    /// router: `st_*`, `g_*`), with an on-chip context of `ctx` positions and gain
    /// vectors of `bank_groups` groups of `XP` (two banks). Nothing in it depends on the
    /// weights. The logits are not kept in the vector memory (only streamed out).
    pub fn streaming(c: &Config, ctx: usize, bank_groups: usize) -> Self {
        let lay = Layout::for_config(c);
        Self::build(
            c,
            LayerStack::streaming(&program::build_streaming(c, L), ctx),
            LaneRam::new(lay.logits),
            MatVec::streaming(Self::max_cols(c)),
            RmsUnit::streaming(c.dim, 2 * bank_groups),
            AttnUnit::for_shape(c, ctx),
            c.dim.div_ceil(L),
            Some(bank_groups),
        )
    }

    /// XMem: bank A (dim-sized inputs) then bank B (the hidden-sized SwiGLU output).
    fn max_cols(c: &Config) -> usize {
        (c.dim.div_ceil(L) + c.hidden_dim.div_ceil(L)) * L
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        c: &Config,
        layer_stack: LayerStack,
        vmem: LaneRam<1, 32>,
        matvec: MatVec<L>,
        rms: RmsUnit<XP>,
        attention: AttnUnit<L>,
        emb_beats: usize,
        bank_groups: Option<usize>,
    ) -> Self {
        // The QKV weight buffer of scenarios B and C (unused when everything streams).
        let qkv_cfg = if bank_groups.is_some() {
            Config::TINY
        } else {
            *c
        };
        Self {
            clock: Default::default(),
            start: Default::default(),
            token: Default::default(),
            pos: Default::default(),
            use_ram: Default::default(),
            w_valid: Default::default(),
            w_data: array_init::array_init(|_| Default::default()),
            w_scale_mant: Default::default(),
            w_scale_exp: Default::default(),
            done: Default::default(),
            busy: Default::default(),
            next_token: Default::default(),
            pos_error: Default::default(),
            logit_valid: Default::default(),
            logit_index: Default::default(),
            logit_value: Default::default(),
            w_req: Default::default(),
            w_layer: Default::default(),
            fully_loaded: Default::default(),
            st_valid: Default::default(),
            st_data: array_init::array_init(|_| Default::default()),
            st_mant: Default::default(),
            st_exp: Default::default(),
            st_pop: Default::default(),
            g_we: Default::default(),
            g_waddr: Default::default(),
            g_data: array_init::array_init(|_| Default::default()),
            g_done: Default::default(),
            g_exp: Default::default(),
            g_free: Default::default(),
            accepted: Default::default(),
            streamed: Constant::new(bank_groups.is_some()),
            sd_data: array_init::array_init(|_| Default::default()),
            sd_mant: Default::default(),
            sd_exp: Default::default(),
            gexp0: Default::default(),
            gexp1: Default::default(),
            gwbank: Default::default(),
            grbank: Default::default(),
            gavail: Default::default(),
            gpend: Default::default(),
            gbank1: Constant::new(((bank_groups.unwrap_or(0) * XP) as u64).into()),
            zero2: Constant::new(0u64.into()),
            one2: Constant::new(1u64.into()),
            two2: Constant::new(2u64.into()),
            emb_offset: Default::default(),
            emb_offset_r: Delay::new(1),
            emb_beats: Constant::new((emb_beats as u64).into()),
            vw_we: Default::default(),
            vw_addr: Default::default(),
            vw_data: Default::default(),
            wr_we: DelayBit::new(1),
            wr_addr: Delay::new(1),
            wr_data: DelayS::new(1),
            wr_tee: DelayBit::new(1),
            wr_xs_addr: Delay::new(1),
            wr_xtrack: DelayBit::new(1),
            wr_x_idx: Delay::new(1),
            tee_off: Delay::new(1),
            st_en_r: DelayBit::new(2),
            st_row_r: Delay::new(1),
            st_valid_r: DelayBit::new(1),
            st_data_r: DelayS::new(1),
            c_r: Delay::new(1),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            zero32: Constant::new(0u64.into()),
            post_acc: Constant::new(POST_ACC.into()),
            post_swiglu: Constant::new(POST_SWIGLU.into()),
            post_none: Constant::new(POST_NONE.into()),
            layer_stack,
            vmem,
            matvec,
            rms,
            attention,
            qkv_weights: QkvLoader::new(&qkv_cfg),
            xg_we: DelayBit::new(1),
            xg_att: DelayBit::new(1),
            xg_idx: Delay::new(1),
            xg_data: array_init::array_init(|_| DelayS::new(1)),
            tee_max: Default::default(),
            tee_shift: Default::default(),
            x_max: Default::default(),
            argmax: Default::default(),
        }
    }
}

impl<const L: usize> Decoder<L> {
    /// Cycles in which attention took the lane multipliers from a matrix-vector beat in
    /// flight (simulation; zero in a correct design, see [`crate::leaf::DotAcc`]).
    pub fn bank_collisions(&self) -> u64 {
        self.matvec.bank_collisions()
    }

    /// The sequencer's program counter, when a position is running (simulation).
    pub fn program_counter(&self) -> Option<usize> {
        self.layer_stack
            .is_running()
            .then(|| self.layer_stack.program_counter())
    }

    /// The per-token program in the sequencer's ROM.
    pub fn program(&self) -> &[program::Instr] {
        self.layer_stack.program()
    }
}

impl<const L: usize> Logic for Decoder<L> {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(
            self,
            clock,
            layer_stack,
            vmem,
            matvec,
            rms,
            attention,
            qkv_weights,
            emb_offset_r,
            wr_we,
            wr_addr,
            wr_data,
            wr_tee,
            wr_xs_addr,
            wr_xtrack,
            wr_x_idx,
            tee_off,
            st_en_r,
            st_row_r,
            st_valid_r,
            st_data_r,
            c_r,
            xg_we,
            xg_att,
            xg_idx,
            tee_max,
            x_max,
            argmax
        );
        dff_setup!(self, clock, sd_mant, sd_exp, gexp0, gexp1, gwbank, grbank, gavail, gpend);
        for j in 0..XP {
            self.xg_data[j].clock.next = self.clock.val();
        }
        for i in 0..L {
            self.sd_data[i].clock.next = self.clock.val();
            self.sd_data[i].d.next = self.sd_data[i].q.val();
        }
        // ---- Layer stack: the sequencer, told when each unit is done. ----
        self.layer_stack.start.next = self.start.val();
        self.layer_stack.token.next = self.token.val();
        self.layer_stack.pos.next = self.pos.val();
        self.layer_stack.use_ram.next = self.use_ram.val();
        self.layer_stack.rms_done.next = self.rms.done.val();
        self.layer_stack.attn_done.next = self.attention.done.val();
        self.layer_stack.mv_done.next = self.matvec.done.val();
        self.layer_stack.qkv_loaded.next = self.qkv_weights.fully_loaded.val();
        self.layer_stack.gains_ready.next = self.gavail.q.val() != self.zero2.val();
        self.accepted.next = self.layer_stack.accepted.val();

        // ---- Streamed weights: the word stream into the matrix-vector unit (the popped
        // word registered, as the weight buffer's answer is), the gains into the RMSNorm
        // unit's memory, two banks used in turn. ----
        self.matvec.stream.next = self.streamed.val();
        self.matvec.st_valid.next = self.st_valid.val();
        self.st_pop.next = self.matvec.st_pop.val();
        if self.matvec.st_pop.val() {
            for i in 0..L {
                self.sd_data[i].d.next = self.st_data[i].val();
            }
            self.sd_mant.d.next = self.st_mant.val();
            self.sd_exp.d.next = self.st_exp.val();
        }
        self.rms.gw_we.next = self.g_we.val();
        self.rms.gw_addr.next = self.g_waddr.val();
        for j in 0..XP {
            self.rms.gw_data[j].next = self.g_data[j].val();
        }
        if self.g_done.val() {
            self.gwbank.d.next = !self.gwbank.q.val();
            if self.gwbank.q.val() {
                self.gexp1.d.next = self.g_exp.val();
            } else {
                self.gexp0.d.next = self.g_exp.val();
            }
        }
        if self.layer_stack.rms_start.val() {
            self.grbank.d.next = !self.grbank.q.val();
        }
        if self.g_done.val() & !self.layer_stack.rms_start.val() {
            self.gavail.d.next = self.gavail.q.val() + self.one2.val();
        } else if !self.g_done.val() & self.layer_stack.rms_start.val() {
            self.gavail.d.next = self.gavail.q.val() - self.one2.val();
        }
        if self.g_done.val() & !self.rms.done.val() {
            self.gpend.d.next = self.gpend.q.val() + self.one2.val();
        } else if !self.g_done.val() & self.rms.done.val() {
            self.gpend.d.next = self.gpend.q.val() - self.one2.val();
        }
        self.g_free.next = self.gpend.q.val() != self.two2.val();

        // ---- Streamed QKV weights into the weight buffer (plan steps 1, 2, 4). ----
        self.qkv_weights.valid.next = self.w_valid.val();
        for i in 0..L {
            self.qkv_weights.data[i].next = self.w_data[i].val();
        }
        self.qkv_weights.scale_mant.next = self.w_scale_mant.val();
        self.qkv_weights.scale_exp.next = self.w_scale_exp.val();
        self.qkv_weights.layer_change.next = self.layer_stack.w_req.val();

        // ---- Matrix-vector unit (plan step 3: its QKV rows from the ROM or the buffer). ----
        self.emb_offset.next = self.layer_stack.token_r.val() * self.emb_beats.val();
        self.emb_offset_r.d.next = self.emb_offset.val().get_bits::<16>(0);
        self.matvec.start.next = self.layer_stack.mv_start.val();
        self.matvec.x_we.next = false;
        self.matvec.x_waddr.next = self.zero16.val();
        for i in 0..L {
            self.matvec.x_wdata[i].next = signed_cast(self.zero16.val());
            if self.streamed.val() {
                self.matvec.buf_rd_data[i].next = self.sd_data[i].q.val();
            } else {
                self.matvec.buf_rd_data[i].next = self.qkv_weights.rd_data[i].val();
            }
        }
        self.matvec.x_raw.next = true;
        self.matvec.x_base.next = self.layer_stack.gbase.val();
        self.matvec.src.next = self.layer_stack.a.val();
        self.matvec.split.next = self.layer_stack.n.val();
        if self.layer_stack.acc.val() {
            self.matvec.post.next = self.post_acc.val();
        } else if self.layer_stack.swiglu.val() {
            self.matvec.post.next = self.post_swiglu.val();
        } else {
            self.matvec.post.next = self.post_none.val();
        }
        self.matvec.vm_rdata.next = self.vmem.rdata[0].val();
        self.matvec.use_ram.next = self.layer_stack.use_ram_r.val() & self.layer_stack.qkv.val();
        if self.layer_stack.is_embed.val() {
            self.matvec.rom_base.next = self.layer_stack.wbase.val() + self.emb_offset_r.q.val();
            self.matvec.rom_row_base.next =
                self.layer_stack.rbase.val() + self.layer_stack.token_r.val();
            self.matvec.embed.next = true;
        } else {
            self.matvec.rom_base.next = self.layer_stack.wbase.val();
            self.matvec.rom_row_base.next = self.layer_stack.rbase.val();
            self.matvec.embed.next = false;
        }
        self.matvec.rows_m1.next = self.layer_stack.rows_m1.val();
        self.matvec.beats_m1.next = self.layer_stack.beats_m1.val();
        self.matvec.dst.next = self.layer_stack.c.val();
        self.matvec.len_m1.next = self.layer_stack.n.val() - self.one16.val();
        if self.streamed.val() {
            self.matvec.buf_rd_mant.next = self.sd_mant.q.val();
            self.matvec.buf_rd_exp.next = self.sd_exp.q.val();
        } else {
            self.matvec.buf_rd_mant.next = self.qkv_weights.rd_scale_mant.val();
            self.matvec.buf_rd_exp.next = self.qkv_weights.rd_scale_exp.val();
        }
        self.qkv_weights.rd_addr.next = self.matvec.buf_rd_addr.val();
        self.qkv_weights.rd_row.next = self.matvec.buf_rd_row.val();

        // ---- RMSNorm unit. ----
        self.rms.start.next = self.layer_stack.rms_start.val();
        if self.streamed.val() {
            if self.grbank.q.val() {
                self.rms.g_base.next = self.gbank1.val();
                self.rms.g_exp.next = self.gexp1.q.val();
            } else {
                self.rms.g_base.next = self.zero16.val();
                self.rms.g_exp.next = self.gexp0.q.val();
            }
        } else {
            self.rms.g_base.next = self.layer_stack.gbase.val();
            self.rms.g_exp.next = self.layer_stack.gexp.val();
        }

        // ---- Attention unit. ----
        self.attention.start.next = self.layer_stack.attn_start.val();
        self.attention.att.next = self.layer_stack.c.val();
        self.attention.layer.next = self.layer_stack.layer.val();
        self.attention.pos.next = self.layer_stack.pos_r.val();
        // The QKV projection's rows stream into the attention unit as they are computed:
        // RoPE, the key/value store and q's block conversion happen on the way.
        // Registered: the projection's first row comes many cycles after its issue, and
        // the attention after it waits longer than one cycle for the stream anyway.
        self.st_en_r.d.next = self.layer_stack.is_mv.val() & self.layer_stack.qkv.val();
        self.attention.st_en.next = self.st_en_r.q.val();
        self.st_valid_r.d.next = self.matvec.out_valid.val();
        self.st_row_r.d.next = self.matvec.out_row.val();
        self.st_data_r.d.next = self.matvec.out_data.val();
        self.attention.st_valid.next = self.st_valid_r.q.val();
        self.attention.st_row.next = self.st_row_r.q.val();
        self.attention.st_data.next = self.st_data_r.q.val();
        // One bank of lane multipliers: the matrix-vector unit's, lent to attention while
        // it runs (the two never run at the same time).
        self.matvec.ext_sel.next = self.attention.m_sel.val();
        for i in 0..L {
            self.matvec.ext_a[i].next = self.attention.m_a[i].val();
            self.matvec.ext_b[i].next = self.attention.m_b[i].val();
            self.attention.m_p[i].next = self.matvec.ext_p[i].val();
        }

        // ---- Vector memory: the active unit's port. ----
        if self.layer_stack.is_attn.val() {
            // Attention only writes (its outputs to ATT), when it writes one at a time.
            self.vmem.raddr.next = self.zero16.val();
            self.vw_we.next = self.attention.vm_we.val();
            self.vw_addr.next = self.attention.vm_waddr.val();
            self.vw_data.next = self.attention.vm_wdata.val();
        } else if self.layer_stack.is_mv.val() {
            self.vmem.raddr.next = self.matvec.vm_raddr.val();
            // (Streamed: the logits are not kept.)
            self.vw_we.next =
                self.matvec.vm_we.val() & !(self.streamed.val() & self.layer_stack.logits.val());
            self.vw_addr.next = self.matvec.vm_waddr.val();
            self.vw_data.next = self.matvec.vm_wdata.val();
        } else {
            // RMSNORM writes XMem directly (XP elements per cycle), not the vector memory.
            self.vmem.raddr.next = self.zero16.val();
            self.vw_we.next = false;
            self.vw_addr.next = self.zero16.val();
            self.vw_data.next = signed_cast(self.zero32.val());
        }
        // The write, registered: everything below sees it one cycle later, with the
        // enables and addresses of the operation that made it.
        self.wr_we.d.next = self.vw_we.val();
        self.wr_addr.d.next = self.vw_addr.val();
        self.wr_data.d.next = self.vw_data.val();
        // (Of a matrix-vector operation only its SwiGLU writes are teed: W1's rows, run
        // before W3's in the same operation, are not.)
        self.wr_tee.d.next = self.layer_stack.tee.val()
            & self.vw_we.val()
            & (!self.layer_stack.is_mv.val() | self.matvec.vm_sw.val());
        self.tee_off.d.next = self.layer_stack.b.val() - self.layer_stack.c.val();
        self.c_r.d.next = self.layer_stack.c.val();
        self.wr_xs_addr.d.next = self.vw_addr.val() + self.tee_off.q.val();
        self.wr_xtrack.d.next = self.layer_stack.xtrack.val() & self.vw_we.val();
        self.wr_x_idx.d.next = self.vw_addr.val() - self.c_r.q.val();
        self.vmem.we.next = self.wr_we.q.val();
        self.vmem.waddr.next = self.wr_addr.q.val();
        self.vmem.wdata[0].next = self.wr_data.q.val();

        // ---- Tee: the active unit's vector-memory writes also go to XMem (element
        // `b + waddr - c`), their block shift tracked for the next matrix-vector product;
        // a teeing operation starts a new tracked vector at its issue (the matrix-vector
        // unit samples the previous one's shift in that same cycle). ----
        self.matvec.xs_we.next = self.wr_tee.q.val();
        self.matvec.xs_waddr.next = self.wr_xs_addr.q.val();
        self.matvec.xs_wdata.next = self.wr_data.q.val();
        self.tee_max.en.next = self.wr_tee.q.val();
        self.tee_max.v.next = self.wr_data.q.val();
        self.tee_max.clear.next = self.layer_stack.issue.val() & self.layer_stack.tee.val();
        // RMSNORM's output goes to XMem XP elements at a time; its maximum magnitude
        // comes with `done` and replaces the tracked one.
        self.tee_max.ld.next = self.layer_stack.is_rms.val() & self.rms.done.val();
        self.tee_max.mx.next = self.rms.y_max.val();
        // Attention with K = XP outputs per cycle writes them there too (element `b +
        // y_idx`; it writes no vector memory then: nothing reads ATT back, Wo reads XMem)
        // and its groups' magnitudes merge into the tracked maximum. The group write is
        // registered: the last group (in attention's `done` cycle) is written, and merged,
        // at the next edge, before the next operation's issue samples the shift.
        if self.layer_stack.is_attn.val() {
            self.xg_we.d.next = self.layer_stack.tee.val() & self.attention.y_we.val();
            self.xg_idx.d.next = self.layer_stack.b.val() + self.attention.y_idx.val();
            for j in 0..XP {
                self.xg_data[j].d.next = self.attention.y_data[j].val();
            }
        } else {
            self.xg_we.d.next = self.rms.y_we.val();
            self.xg_idx.d.next = self.layer_stack.b.val() + self.rms.y_idx.val();
            for j in 0..XP {
                self.xg_data[j].d.next = self.rms.y_data[j].val();
            }
        }
        self.xg_att.d.next =
            self.layer_stack.is_attn.val() & self.layer_stack.tee.val() & self.attention.y_we.val();
        self.matvec.xp_we.next = self.xg_we.q.val();
        self.matvec.xp_idx.next = self.xg_idx.q.val();
        self.tee_max.gen.next = self.xg_att.q.val();
        for j in 0..XP {
            self.matvec.xp_data[j].next = self.xg_data[j].q.val();
            self.tee_max.gv[j].next = self.xg_data[j].q.val();
        }
        self.tee_shift.m.next = self.tee_max.m.val();
        self.matvec.x_shift.next = self.tee_shift.shift.val();

        // ---- The residual stream's maximum, tracked as EMBED, Wo and W2 rewrite it,
        // spares RMSNORM its scan pass; the RMSNorm unit keeps its own copy of x,
        // captured from the same writes. ----
        self.x_max.en.next = self.wr_xtrack.q.val();
        self.x_max.v.next = self.wr_data.q.val();
        self.x_max.clear.next = self.layer_stack.issue.val() & self.layer_stack.xtrack.val();
        self.x_max.ld.next = false;
        self.x_max.mx.next = self.zero32.val();
        self.x_max.gen.next = false;
        for j in 0..XP {
            self.x_max.gv[j].next = signed_cast(self.zero32.val());
        }
        self.rms.xw_we.next = self.wr_xtrack.q.val();
        self.rms.xw_idx.next = self.wr_x_idx.q.val();
        self.rms.xw_data.next = self.wr_data.q.val();
        self.rms.x_max.next = self.x_max.m.val();

        // ---- Logits and argmax. ----
        self.logit_valid.next = self.layer_stack.logits.val() & self.matvec.out_valid.val();
        self.logit_index.next = self.matvec.out_row.val();
        self.logit_value.next = self.matvec.out_data.val();
        self.argmax.clear.next = self.layer_stack.started.val();
        self.argmax.valid.next = self.layer_stack.logits.val() & self.matvec.out_valid.val();
        self.argmax.index.next = self.matvec.out_row.val();
        self.argmax.value.next = self.matvec.out_data.val();

        // ---- Status. ----
        self.done.next = self.layer_stack.done.val();
        self.next_token.next = self.argmax.best.val();
        // The attention unit refuses positions past its cache too (it never sees one: the
        // layer stack refuses them first).
        self.pos_error.next = self.layer_stack.refused.val()
            | (self.layer_stack.is_attn.val() & self.attention.pos_error.val());
        self.busy.next =
            self.layer_stack.running.val() | self.matvec.busy.val() | self.rms.busy.val();
        self.w_req.next = self.layer_stack.w_req.val();
        self.w_layer.next = self.layer_stack.w_layer.val();
        self.fully_loaded.next = self.qkv_weights.fully_loaded.val();
    }
}
