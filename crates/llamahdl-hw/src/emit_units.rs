//! Verilog of one functional unit of the whole decoder on its own, built exactly as
//! [`Decoder`] builds it, for per-unit synthesis and timing (`make timing-unit`,
//! `docs/timing.md`).
//!
//! | name | block | built as in `decoder/mod.rs` |
//! | --- | --- | --- |
//! | `matvec` | [`MatVec<L>`] | the whole weight ROM ([`WeightMap`]), input memory of both banks |
//! | `rms` | [`RmsUnit<XP>`] | every RMSNorm gain of the model |
//! | `attention` | [`AttnWithBank<L>`] (the unit with a multiplier bank of its own) | `L / head_dim` heads at once, cache of `context` positions |
//! | `layer_stack` | [`LayerStack`] | the sequencer with the model's program |
//! | `decoder` | [`Decoder<L>`] | the whole decoder |
//!
//! Leaves of the matrix-vector unit, for a loop of minutes while pipelining it:
//!
//! | name | block |
//! | --- | --- |
//! | `dot_acc` | [`DotAcc<L>`]: quantiser, products, adder tree, accumulator |
//! | `row_finish` | [`RowFinish`]: the row rescale |
//! | `silu_mul` | [`SiluMul`] with its table |
//! | `xmem` | [`XMem<L>`] of both banks, as the unit's input memory |
//! | `lane_rom` | [`LaneRom<L>`] with the whole weight ROM |
//!
//! The module is named [`unit_module`] (`llamahdl_<name>`, sub-modules prefixed the same
//! way, see [`rename_top`]); the text is deterministic.

use crate::decoder::layer_stack::LayerStack;
use crate::decoder::limits::{check_fits, unsupported_lanes};
use crate::decoder::memory_map::WeightMap;
use crate::decoder::{program, Decoder};
use crate::emit::rename_top;
use crate::leaf::{DotAcc, LaneRom, RowFinish, TableRom, XMem, XP};
use crate::units::attention::AttnWithBank;
use crate::units::matvec::post::{silu_pair_words, SiluMul};
use crate::units::matvec::rom_words;
use crate::units::matvec::MatVec;
use crate::units::rms::{rms_gains_layout, RmsUnit};
use anyhow::{bail, Result};
use llamahdl_golden::QuantModel;
use rust_hdl::prelude::*;

/// The units [`unit_verilog`] knows, in the order `make timing-units` runs them.
pub const UNITS: [&str; 5] = ["matvec", "rms", "attention", "layer_stack", "decoder"];

/// The leaves [`unit_verilog`] also knows (see the module documentation).
pub const LEAVES: [&str; 5] = ["dot_acc", "row_finish", "silu_mul", "xmem", "lane_rom"];

/// Top module name of unit `unit` (`llamahdl_<unit>`).
pub fn unit_module(unit: &str) -> String {
    format!("llamahdl_{unit}")
}

/// The Verilog of unit `unit` (one of [`UNITS`]) for model `qm` with `lanes` lanes (one of
/// [`crate::decoder::limits::SUPPORTED_LANES`]) and an on-chip context of `context` positions (0: the model's
/// seq_len; only the attention unit and the whole decoder depend on it).
pub fn unit_verilog(unit: &str, qm: &QuantModel, lanes: usize, context: usize) -> Result<String> {
    let ctx = if context == 0 {
        qm.config.seq_len
    } else {
        context
    };
    if !UNITS.contains(&unit) && !LEAVES.contains(&unit) {
        bail!("unknown unit {unit:?}: choose one of {UNITS:?} or a leaf of {LEAVES:?}");
    }
    if let Err(e) = check_fits(qm, lanes, ctx) {
        bail!("the model does not fit the decoder with {lanes} lanes and context {ctx}: {e}");
    }
    crate::with_lanes!(lanes, unit_lanes(unit, qm, ctx))
        .ok_or_else(|| anyhow::anyhow!(unsupported_lanes(lanes)))
}

fn unit_lanes<const L: usize>(unit: &str, qm: &QuantModel, ctx: usize) -> String {
    let c = qm.config;
    match unit {
        "matvec" => {
            let wm = WeightMap::new(qm, L);
            // As `Decoder::with_context`: XMem bank A (dim) then bank B (hidden).
            let max_cols = (c.dim.div_ceil(L) + c.hidden_dim.div_ceil(L)) * L;
            emit(unit, qm, L, ctx, MatVec::<L>::new(&wm.mats, max_cols))
        }
        "rms" => emit(unit, qm, L, ctx, RmsUnit::<XP>::new(qm)),
        "attention" => emit(unit, qm, L, ctx, AttnWithBank::<L>::with_context(qm, ctx)),
        "layer_stack" => {
            let prog = program::build(qm, L, &rms_gains_layout(qm, XP));
            emit(unit, qm, L, ctx, LayerStack::new(&prog, ctx))
        }
        "decoder" => emit(unit, qm, L, ctx, Decoder::<L>::with_context(qm, ctx)),
        "dot_acc" => emit(unit, qm, L, ctx, DotAcc::<L>::default()),
        "row_finish" => emit(unit, qm, L, ctx, RowFinish::default()),
        "silu_mul" => emit(unit, qm, L, ctx, SiluWithTable::default()),
        "xmem" => {
            let max_cols = (c.dim.div_ceil(L) + c.hidden_dim.div_ceil(L)) * L;
            emit(unit, qm, L, ctx, XMem::<L>::new(max_cols / L))
        }
        "lane_rom" => {
            let wm = WeightMap::new(qm, L);
            emit(
                unit,
                qm,
                L,
                ctx,
                LaneRom::<L>::new(rom_words::<L>(&wm.mats)),
            )
        }
        _ => unreachable!("checked by unit_verilog"),
    }
}

fn emit<B: Block>(unit: &str, qm: &QuantModel, lanes: usize, ctx: usize, mut uut: B) -> String {
    uut.connect_all();
    let c = qm.config;
    format!(
        "// Generated by llamahdl_hw::emit_units (llamahdl {}): do not edit; regenerate instead.\n\
         // Unit: {unit}; shape: dim {} hidden {} layers {} heads {} kv_heads {} vocab {} \
         seq_len {}; lanes {lanes}; context {ctx}\n\n{}",
        env!("CARGO_PKG_VERSION"),
        c.dim,
        c.hidden_dim,
        c.n_layers,
        c.n_heads,
        c.n_kv_heads,
        c.vocab_size,
        c.seq_len,
        rename_top(&generate_verilog(&uut), &unit_module(unit))
    )
}

/// [`SiluMul`] with its sigmoid pair table, wired as in the matrix-vector unit.
#[derive(LogicBlock)]
struct SiluWithTable {
    clock: Signal<In, Clock>,
    x: Signal<In, Signed<32>>,
    h: Signal<In, Signed<32>>,
    y: Signal<Out, Signed<32>>,
    silu: SiluMul,
    tab: TableRom<34>,
}

impl Default for SiluWithTable {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            x: Default::default(),
            h: Default::default(),
            y: Default::default(),
            silu: Default::default(),
            tab: TableRom::new(silu_pair_words()),
        }
    }
}

impl Logic for SiluWithTable {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, silu, tab);
        self.silu.x.next = self.x.val();
        self.tab.addr.next = self.silu.sig_addr.val();
        self.silu.rom.next = self.tab.data.val();
        self.silu.h.next = self.h.val();
        self.y.next = self.silu.y.val();
    }
}
