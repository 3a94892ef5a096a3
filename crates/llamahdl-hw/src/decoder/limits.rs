//! What the decoder can be built for: the lane counts compiled into the tool, and the
//! widths of its address spaces and program fields, each a named constant that the
//! blocks use in their types and that [`check_fits`] checks a model against.

use super::memory_map::{Layout, WeightMap};
use crate::bits::{ADDR_BITS, ADDR_SPACE};
use llamahdl_golden::QuantModel;
use llamahdl_model::Config;

/// Lane counts the tool is compiled for (`--lanes`): every `L` that
/// [`with_lanes!`](crate::with_lanes) dispatches to.
pub const SUPPORTED_LANES: [usize; 5] = [4, 8, 16, 32, 64];

/// Default lane count: 32 multiply-accumulate lanes, the largest that fits a Lattice
/// ECP5-85F with stories260K's weights on chip (156 DSP multipliers: 64 lanes need 64
/// for the matrix-vector unit and 64 for attention); see docs/performance.md.
pub const DEFAULT_LANES: usize = 32;

/// Bits of a layer index and of the decoder's per-layer counters.
pub const LAYER_BITS: usize = 8;
/// Bits of a key/value cache word address (`n_layers · context` words).
pub const KV_ADDR_BITS: usize = 24;

/// Calls `$f::<L>(args...)` with the const generic `L` equal to the run-time lane count
/// `$lanes`: `Some(result)` for one of [`SUPPORTED_LANES`], `None` otherwise.
#[macro_export]
macro_rules! with_lanes {
    ($lanes:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $lanes {
            4 => Some($f::<4>($($arg),*)),
            8 => Some($f::<8>($($arg),*)),
            16 => Some($f::<16>($($arg),*)),
            32 => Some($f::<32>($($arg),*)),
            64 => Some($f::<64>($($arg),*)),
            _ => None,
        }
    };
}

/// The error for a lane count outside [`SUPPORTED_LANES`].
pub fn unsupported_lanes(lanes: usize) -> String {
    format!("unsupported lane count {lanes}: choose one of {SUPPORTED_LANES:?}")
}

/// Whether the decoder can be built for `qm` with `lanes` lanes and an on-chip context of
/// `ctx` positions: the lane count is supported, every address and program field fits its
/// width and the context is within seq_len (a head_dim above the lane count is split into
/// chunks by the attention unit, [`crate::units::attention::chunks`]). An `Err` says which
/// limit the model exceeds.
pub fn check_fits(qm: &QuantModel, lanes: usize, ctx: usize) -> Result<(), String> {
    check_with(&qm.config, lanes, ctx, Some(qm))
}

/// As [`check_fits`] for the decoder whose weights stream from DRAM (shape `c`): no
/// weight ROM, and the logits are not kept in the vector memory.
pub fn check_fits_streaming(c: &Config, lanes: usize, ctx: usize) -> Result<(), String> {
    check_with(c, lanes, ctx, None)
}

fn check_with(
    c: &Config,
    lanes: usize,
    ctx: usize,
    rom: Option<&QuantModel>,
) -> Result<(), String> {
    let c = *c;
    if !SUPPORTED_LANES.contains(&lanes) {
        return Err(unsupported_lanes(lanes));
    }
    let lay = Layout::for_config(&c);
    let (words, rows, vm) = match rom {
        Some(qm) => {
            let wm = WeightMap::new(qm, lanes);
            let words: usize = wm
                .mats
                .iter()
                .map(|m| m.rows * m.cols.div_ceil(lanes))
                .sum();
            (words, wm.mats.iter().map(|m| m.rows).sum(), lay.total)
        }
        None => (0, 0, lay.logits),
    };
    let limits = [
        (words, ADDR_SPACE, "weight ROM words (int8 x lanes)"),
        (rows, ADDR_SPACE, "weight rows"),
        (vm, ADDR_SPACE, "vector memory words"),
        (c.vocab_size, ADDR_SPACE, "vocabulary (logit index)"),
        (
            (c.dim.div_ceil(lanes) + c.hidden_dim.div_ceil(lanes)) * lanes,
            ADDR_SPACE,
            "matrix-vector input elements",
        ),
        (
            ctx * c.head_dim(),
            ADDR_SPACE,
            "RoPE table entries (context x head_dim)",
        ),
        (
            c.n_layers * ctx * c.kv_dim(),
            (1 << KV_ADDR_BITS) - 1,
            "key/value cache entries",
        ),
        (c.n_layers, (1 << LAYER_BITS) - 1, "layers"),
        (c.n_heads, (1 << LAYER_BITS) - 1, "query heads"),
        (
            c.n_heads * c.head_dim().div_ceil(lanes),
            1 << LAYER_BITS,
            "query heads x chunks of a head (attention's lane routing)",
        ),
        (
            c.head_dim(),
            (1 << LAYER_BITS) - 1 - 14,
            "head_dim (attention's 8-bit wait count, head_dim + 14)",
        ),
    ];
    for (have, max, what) in limits {
        if have > max {
            let why = if max == ADDR_SPACE {
                format!(" ({ADDR_BITS}-bit address spaces)")
            } else {
                String::new()
            };
            return Err(format!(
                "{what}: {have} exceeds this design's limit of {max}{why}"
            ));
        }
    }
    if ctx == 0 || ctx > c.seq_len {
        return Err(format!(
            "context {ctx} must be between 1 and seq_len {}",
            c.seq_len
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes_of<const L: usize>() -> usize {
        L
    }

    #[test]
    fn with_lanes_covers_exactly_the_supported_lanes() {
        for l in 0..=128 {
            let got = crate::with_lanes!(l, lanes_of());
            assert_eq!(got, SUPPORTED_LANES.contains(&l).then_some(l), "lanes {l}");
        }
    }
}
