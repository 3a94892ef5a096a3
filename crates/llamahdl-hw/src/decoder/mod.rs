//! The whole decoder: token in, logits and the next token out (`docs/architecture.md`).
//!
//! A sequencer runs the per-token program (`program::build`) from a ROM, one operation at a
//! time, on the matrix-vector unit ([`MatVec`]: matrix products with the residual add and
//! SwiGLU fused on their outputs, embedding lookup, QKV from the ROM or the
//! streamed-weight buffer), the RMSNorm unit ([`RmsUnit`], `XP` elements per cycle, its
//! output written straight into the matrix-vector input memory) and the attention unit
//! ([`AttnUnit`]: RoPE, key/value cache, attention on the L lanes). The units share the
//! vector memory.
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

pub mod limits;
pub mod memory_map;
pub mod program;

use crate::leaf::{LaneRam, WordRom, XP};
use crate::units::attention::AttnUnit;
use crate::units::matvec::post::{MaxTrack, ShiftOf};
use crate::units::matvec::{MatVec, POST_ACC, POST_NONE, POST_SWIGLU};
use crate::units::rms::{rms_gains_layout, RmsUnit};
use crate::units::weight_path::weight_buffer::QkvLoader;
use llamahdl_golden::QuantModel;
use memory_map::{Layout, WeightMap};
use program::{opcode, FIELDS};
use rust_hdl::prelude::*;

/// Sequencer states (a plain `Bits<3>` register: rust-hdl's enum registers do not lint
/// clean).
pub mod seq {
    pub const IDLE: u64 = 0;
    pub const FETCH: u64 = 1;
    pub const ISSUE: u64 = 2;
    pub const WAIT: u64 = 3;
    pub const LOAD: u64 = 4;
}

#[derive(LogicBlock)]
pub struct Decoder<const L: usize> {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub token: Signal<In, Bits<16>>,
    pub pos: Signal<In, Bits<16>>,
    pub use_ram: Signal<In, Bit>,
    pub w_valid: Signal<In, Bit>,
    pub w_data: [Signal<In, Signed<8>>; L],
    pub w_scale_mant: Signal<In, Bits<8>>,
    pub w_scale_exp: Signal<In, Signed<8>>,
    pub done: Signal<Out, Bit>,
    pub busy: Signal<Out, Bit>,
    pub next_token: Signal<Out, Bits<16>>,
    pub pos_error: Signal<Out, Bit>,
    pub logit_valid: Signal<Out, Bit>,
    pub logit_index: Signal<Out, Bits<16>>,
    pub logit_value: Signal<Out, Signed<32>>,
    pub w_req: Signal<Out, Bit>,
    pub w_layer: Signal<Out, Bits<8>>,
    pub fully_loaded: Signal<Out, Bit>,
    state: DFF<Bits<3>>,
    st_idle: Constant<Bits<3>>,
    st_fetch: Constant<Bits<3>>,
    st_issue: Constant<Bits<3>>,
    st_wait: Constant<Bits<3>>,
    st_load: Constant<Bits<3>>,
    pc: DFF<Bits<16>>,
    tok: DFF<Bits<16>>,
    posr: DFF<Bits<16>>,
    ram_r: DFF<Bit>,
    err: DFF<Bit>,
    best_val: DFF<Signed<32>>,
    best_idx: DFF<Bits<16>>,
    have_best: DFF<Bit>,
    loaded_layer: DFF<Bits<8>>,
    loaded_ok: DFF<Bit>,
    req: DFF<Bit>,
    done_r: DFF<Bit>,
    // Decoded instruction fields (combinational from the program ROM).
    op: Signal<Local, Bits<16>>,
    flags: Signal<Local, Bits<8>>,
    layer: Signal<Local, Bits<8>>,
    is_vec: Signal<Local, Bit>,
    is_attn: Signal<Local, Bit>,
    is_mv: Signal<Local, Bit>,
    unit_done: Signal<Local, Bit>,
    need_load: Signal<Local, Bit>,
    emb_off_u: Signal<Local, Bits<32>>,
    ctx: Constant<Bits<16>>,
    emb_beats: Constant<Bits<16>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    op_end: Constant<Bits<16>>,
    op_vec_max: Constant<Bits<16>>,
    op_attn_max: Constant<Bits<16>>,
    op_embed: Constant<Bits<16>>,
    flag_qkv: Constant<Bits<8>>,
    flag_logits: Constant<Bits<8>>,
    flag_tee: Constant<Bits<8>>,
    flag_acc: Constant<Bits<8>>,
    flag_swiglu: Constant<Bits<8>>,
    post_acc: Constant<Bits<2>>,
    post_swiglu: Constant<Bits<2>>,
    post_none: Constant<Bits<2>>,
    tee: Signal<Local, Bit>,
    // Writes of the active unit to the vector memory (teed into XMem with TEE).
    vw_we: Signal<Local, Bit>,
    vw_addr: Signal<Local, Bits<16>>,
    vw_data: Signal<Local, Signed<32>>,
    tmax: MaxTrack,
    xmax: MaxTrack,
    xtrack: Signal<Local, Bit>,
    flag_xtrack: Constant<Bits<8>>,
    tshift: ShiftOf,
    zero8: Constant<Bits<8>>,
    zero32: Constant<Bits<32>>,
    prog: WordRom<FIELDS>,
    vmem: LaneRam<1, 32>,
    mv: MatVec<L>,
    rms: RmsUnit<XP>,
    au: AttnUnit<L>,
    loader: QkvLoader<L>,
}

impl<const L: usize> Decoder<L> {
    /// The decoder for `qm` with `L` multiply-accumulate lanes, used by the matrix-vector
    /// unit and by attention (`L / head_dim` query heads at once; head_dim must divide `L`,
    /// see [`limits::check_fits`]); the on-chip context is the model's seq_len.
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
        let prog: Vec<[u16; FIELDS]> = program::build(qm, L, &gains)
            .iter()
            .map(|i| i.word())
            .collect();
        // XMem: bank A (dim-sized inputs) then bank B (the hidden-sized SwiGLU output).
        let max_cols = (c.dim.div_ceil(L) + c.hidden_dim.div_ceil(L)) * L;
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
            state: Default::default(),
            st_idle: Constant::new(seq::IDLE.into()),
            st_fetch: Constant::new(seq::FETCH.into()),
            st_issue: Constant::new(seq::ISSUE.into()),
            st_wait: Constant::new(seq::WAIT.into()),
            st_load: Constant::new(seq::LOAD.into()),
            pc: Default::default(),
            tok: Default::default(),
            posr: Default::default(),
            ram_r: Default::default(),
            err: Default::default(),
            best_val: Default::default(),
            best_idx: Default::default(),
            have_best: Default::default(),
            loaded_layer: Default::default(),
            loaded_ok: Default::default(),
            req: Default::default(),
            done_r: Default::default(),
            op: Default::default(),
            flags: Default::default(),
            layer: Default::default(),
            is_vec: Default::default(),
            is_attn: Default::default(),
            is_mv: Default::default(),
            unit_done: Default::default(),
            need_load: Default::default(),
            emb_off_u: Default::default(),
            ctx: Constant::new((ctx as u64).into()),
            emb_beats: Constant::new((wm.embedding.beats as u64).into()),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            op_end: Constant::new((opcode::END as u64).into()),
            op_vec_max: Constant::new((opcode::SWIGLU as u64).into()),
            op_attn_max: Constant::new((opcode::ATTN as u64).into()),
            op_embed: Constant::new((opcode::EMBED as u64).into()),
            flag_qkv: Constant::new((program::flag::QKV as u64).into()),
            flag_logits: Constant::new((program::flag::LOGITS as u64).into()),
            flag_tee: Constant::new((program::flag::TEE as u64).into()),
            flag_acc: Constant::new((program::flag::ACC as u64).into()),
            flag_swiglu: Constant::new((program::flag::SWIGLU as u64).into()),
            post_acc: Constant::new(POST_ACC.into()),
            post_swiglu: Constant::new(POST_SWIGLU.into()),
            post_none: Constant::new(POST_NONE.into()),
            tee: Default::default(),
            vw_we: Default::default(),
            vw_addr: Default::default(),
            vw_data: Default::default(),
            tmax: Default::default(),
            xmax: Default::default(),
            xtrack: Default::default(),
            flag_xtrack: Constant::new((program::flag::XTRACK as u64).into()),
            tshift: Default::default(),
            zero8: Constant::new(0u64.into()),
            zero32: Constant::new(0u64.into()),
            prog: WordRom::new(prog),
            vmem: LaneRam::new(lay.total),
            mv: MatVec::new(&wm.mats, max_cols),
            rms: RmsUnit::new(qm),
            au: AttnUnit::with_context(qm, ctx),
            loader: QkvLoader::new(&c),
        }
    }
}

impl<const L: usize> Logic for Decoder<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            pc,
            tok,
            posr,
            ram_r,
            err,
            best_val,
            best_idx,
            have_best,
            loaded_layer,
            loaded_ok,
            req,
            done_r
        );
        clock!(self, clock, prog, vmem, mv, rms, au, loader, tmax, xmax);
        // Decode.
        self.prog.addr.next = self.pc.q.val();
        self.op.next = self.prog.data[0].val();
        self.flags.next = self.prog.data[11].val().get_bits::<8>(8);
        self.layer.next = self.prog.data[11].val().get_bits::<8>(0);
        self.is_vec.next =
            (self.op.val() != self.op_end.val()) & (self.op.val() <= self.op_vec_max.val());
        self.is_attn.next =
            (self.op.val() > self.op_vec_max.val()) & (self.op.val() <= self.op_attn_max.val());
        self.is_mv.next = self.op.val() > self.op_attn_max.val();
        self.unit_done.next = (self.is_vec.val() & self.rms.done.val())
            | (self.is_attn.val() & self.au.done.val())
            | (self.is_mv.val() & self.mv.done.val());
        self.need_load.next = self.ram_r.q.val()
            & ((self.flags.val() & self.flag_qkv.val()) != self.zero8.val())
            & !(self.loaded_ok.q.val()
                & self.loader.fully_loaded.val()
                & (self.loaded_layer.q.val() == self.layer.val()));
        // Embedding row offset: token × words per row (a 16 × 16 multiply).
        self.emb_off_u.next = self.tok.q.val() * self.emb_beats.val();
        // Matrix-vector unit parameters.
        self.mv.x_we.next = false;
        self.mv.x_waddr.next = self.zero16.val();
        for i in 0..L {
            self.mv.x_wdata[i].next = signed_cast(self.zero16.val());
            self.loader.data[i].next = self.w_data[i].val();
            self.mv.buf_rd_data[i].next = self.loader.rd_data[i].val();
        }
        self.mv.x_raw.next = true;
        self.mv.x_base.next = self.prog.data[9].val();
        self.mv.src.next = self.prog.data[1].val();
        if (self.flags.val() & self.flag_acc.val()) != self.zero8.val() {
            self.mv.post.next = self.post_acc.val();
        } else if (self.flags.val() & self.flag_swiglu.val()) != self.zero8.val() {
            self.mv.post.next = self.post_swiglu.val();
        } else {
            self.mv.post.next = self.post_none.val();
        }
        self.mv.vm_rdata.next = self.vmem.rdata[0].val();
        self.mv.use_ram.next =
            self.ram_r.q.val() & ((self.flags.val() & self.flag_qkv.val()) != self.zero8.val());
        if self.op.val() == self.op_embed.val() {
            self.mv.rom_base.next =
                self.prog.data[5].val() + self.emb_off_u.val().get_bits::<16>(0);
            self.mv.rom_row_base.next = self.prog.data[6].val() + self.tok.q.val();
            self.mv.embed.next = true;
        } else {
            self.mv.rom_base.next = self.prog.data[5].val();
            self.mv.rom_row_base.next = self.prog.data[6].val();
            self.mv.embed.next = false;
        }
        self.mv.rows_m1.next = self.prog.data[7].val();
        self.mv.beats_m1.next = self.prog.data[8].val();
        self.mv.dst.next = self.prog.data[3].val();
        self.mv.len_m1.next = self.prog.data[4].val() - self.one16.val();
        self.mv.buf_rd_mant.next = self.loader.rd_scale_mant.val();
        self.mv.buf_rd_exp.next = self.loader.rd_scale_exp.val();
        self.loader.rd_addr.next = self.mv.buf_rd_addr.val();
        self.loader.rd_row.next = self.mv.buf_rd_row.val();
        // Weight stream into the loader.
        self.loader.valid.next = self.w_valid.val();
        self.loader.scale_mant.next = self.w_scale_mant.val();
        self.loader.scale_exp.next = self.w_scale_exp.val();
        self.loader.layer_change.next = self.req.q.val();
        // Vector unit parameters.
        self.rms.g_base.next = self.prog.data[9].val();
        self.rms.g_exp.next = signed_cast(self.prog.data[10].val().get_bits::<8>(0));
        // Attention unit parameters.
        self.au.att.next = self.prog.data[3].val();
        self.au.layer.next = self.layer.val();
        self.au.pos.next = self.posr.q.val();
        // The QKV projection's rows stream into the attention unit as they are computed:
        // RoPE, the key/value store and q's block conversion happen on the way, and ATTN
        // runs fused (no ROPE/KVSTORE operations, no q load).
        self.au.st_en.next =
            self.is_mv.val() & ((self.flags.val() & self.flag_qkv.val()) != self.zero8.val());
        self.au.st_valid.next = self.mv.out_valid.val();
        self.au.st_row.next = self.mv.out_row.val();
        self.au.st_data.next = self.mv.out_data.val();
        // Vector memory: the active unit's port.
        if self.is_attn.val() {
            self.vmem.raddr.next = self.zero16.val();
            self.vw_we.next = self.au.vm_we.val();
            self.vw_addr.next = self.au.vm_waddr.val();
            self.vw_data.next = self.au.vm_wdata.val();
        } else if self.is_mv.val() {
            self.vmem.raddr.next = self.mv.vm_raddr.val();
            self.vw_we.next = self.mv.vm_we.val();
            self.vw_addr.next = self.mv.vm_waddr.val();
            self.vw_data.next = self.mv.vm_wdata.val();
        } else {
            // RMSNORM writes XMem directly (XP elements per cycle), not the vector memory.
            self.vmem.raddr.next = self.zero16.val();
            self.vw_we.next = false;
            self.vw_addr.next = self.zero16.val();
            self.vw_data.next = signed_cast(self.zero32.val());
        }
        self.vmem.we.next = self.vw_we.val();
        self.vmem.waddr.next = self.vw_addr.val();
        self.vmem.wdata[0].next = self.vw_data.val();
        // Tee: the active unit's vector-memory writes also go to XMem (element
        // `b + waddr - c`), their block shift tracked for the next matrix-vector product.
        self.tee.next = (self.flags.val() & self.flag_tee.val()) != self.zero8.val();
        self.mv.xs_we.next = self.tee.val() & self.vw_we.val();
        self.mv.xs_waddr.next =
            self.prog.data[2].val() + (self.vw_addr.val() - self.prog.data[3].val());
        self.mv.xs_wdata.next = self.vw_data.val();
        self.tmax.en.next = self.tee.val() & self.vw_we.val();
        self.tmax.v.next = self.vw_data.val();
        self.tmax.clear.next = false;
        // RMSNORM's output goes to XMem XP elements at a time; its maximum magnitude
        // comes with `done` and replaces the tracked one.
        self.tmax.ld.next = self.is_vec.val() & self.rms.done.val();
        self.tmax.mx.next = self.rms.y_max.val();
        self.mv.xp_we.next = self.rms.y_we.val();
        self.mv.xp_idx.next = self.prog.data[2].val() + self.rms.y_idx.val();
        for j in 0..XP {
            self.mv.xp_data[j].next = self.rms.y_data[j].val();
        }
        self.tshift.m.next = self.tmax.m.val();
        // The residual stream's maximum, tracked as EMBED, Wo and W2 rewrite it, spares
        // RMSNORM its scan pass.
        self.xtrack.next = (self.flags.val() & self.flag_xtrack.val()) != self.zero8.val();
        self.xmax.en.next = self.xtrack.val() & self.vw_we.val();
        self.xmax.v.next = self.vw_data.val();
        self.xmax.clear.next = false;
        self.xmax.ld.next = false;
        self.xmax.mx.next = self.zero32.val();
        // The RMSNorm unit keeps its own copy of x, captured from the same writes.
        self.rms.xw_we.next = self.xtrack.val() & self.vw_we.val();
        self.rms.xw_idx.next = self.vw_addr.val() - self.prog.data[3].val();
        self.rms.xw_data.next = self.vw_data.val();
        self.rms.x_max.next = self.xmax.m.val();
        self.mv.x_shift.next = self.tshift.shift.val();
        // Logits and argmax (first maximum).
        self.logit_valid.next = false;
        if ((self.flags.val() & self.flag_logits.val()) != self.zero8.val())
            & self.mv.out_valid.val()
        {
            self.logit_valid.next = true;
            if !self.have_best.q.val() | (self.mv.out_data.val() > self.best_val.q.val()) {
                self.best_val.d.next = self.mv.out_data.val();
                self.best_idx.d.next = self.mv.out_row.val();
                self.have_best.d.next = true;
            }
        }
        self.logit_index.next = self.mv.out_row.val();
        self.logit_value.next = self.mv.out_data.val();
        // Sequencer.
        self.rms.start.next = false;
        self.au.start.next = false;
        self.mv.start.next = false;
        self.done_r.d.next = false;
        self.req.d.next = false;
        if self.state.q.val() == self.st_idle.val() {
            if self.start.val() {
                self.tok.d.next = self.token.val();
                self.posr.d.next = self.pos.val();
                self.ram_r.d.next = self.use_ram.val();
                self.have_best.d.next = false;
                self.pc.d.next = self.zero16.val();
                if self.pos.val() >= self.ctx.val() {
                    self.err.d.next = true;
                    self.done_r.d.next = true;
                } else {
                    self.err.d.next = false;
                    self.state.d.next = self.st_fetch.val();
                }
            }
        } else if self.state.q.val() == self.st_fetch.val() {
            self.state.d.next = self.st_issue.val();
        } else if self.state.q.val() == self.st_issue.val() {
            if self.op.val() == self.op_end.val() {
                self.done_r.d.next = true;
                self.state.d.next = self.st_idle.val();
            } else if self.need_load.val() {
                self.req.d.next = true;
                self.loaded_ok.d.next = false;
                self.loaded_layer.d.next = self.layer.val();
                self.state.d.next = self.st_load.val();
            } else {
                self.rms.start.next = self.is_vec.val();
                self.au.start.next = self.is_attn.val();
                self.mv.start.next = self.is_mv.val();
                // A teeing operation starts a new tracked vector (the matrix-vector
                // unit samples the previous one's shift in this same cycle).
                self.tmax.clear.next = self.tee.val();
                self.xmax.clear.next = self.xtrack.val();
                self.state.d.next = self.st_wait.val();
            }
        } else if self.state.q.val() == self.st_load.val() {
            if self.loader.fully_loaded.val() & !self.req.q.val() {
                self.loaded_ok.d.next = true;
                self.state.d.next = self.st_issue.val();
            }
        } else if self.state.q.val() == self.st_wait.val() {
            if self.unit_done.val() {
                self.pc.d.next = self.pc.q.val() + self.one16.val();
                self.state.d.next = self.st_fetch.val();
            }
        } else {
            self.state.d.next = self.st_idle.val();
        }
        self.done.next = self.done_r.q.val();
        self.next_token.next = self.best_idx.q.val();
        // The attention unit refuses positions past its cache too (it never sees one: the
        // sequencer refuses them first).
        self.pos_error.next = self.err.q.val() | (self.is_attn.val() & self.au.pos_error.val());
        self.busy.next =
            (self.state.q.val() != self.st_idle.val()) | self.mv.busy.val() | self.rms.busy.val();
        self.w_req.next = self.req.q.val();
        self.w_layer.next = self.loaded_layer.q.val();
        self.fully_loaded.next = self.loader.fully_loaded.val();
    }
}
