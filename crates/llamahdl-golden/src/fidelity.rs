//! Agreement of an engine with llama2.c's reference outputs.

use llamahdl_model::generate::{greedy, Forward};
use llamahdl_model::reference::Reference;
use llamahdl_model::ModelError;

/// A position where the engine's argmax differs from the reference's next token.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Miss {
    pub pos: usize,
    /// llama2.c's next token (`ids[pos + 1]`).
    pub reference: u32,
    /// The engine's argmax.
    pub ours: u32,
    /// The engine's max logit minus its logit for the reference token (>= 0).
    pub gap: f32,
}

/// Teacher-forced and free-running agreement with a reference case.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Fidelity {
    pub positions: usize,
    /// Positions whose argmax equals the reference's next token.
    pub argmax_matches: usize,
    pub misses: Vec<Miss>,
    /// Mean over every position and vocabulary entry of |logit - reference logit|.
    pub mean_abs_logit_error: f64,
    pub max_abs_logit_error: f64,
    /// Generated tokens (after the prompt) equal to the reference before the first
    /// difference, when run free (greedy) from the reference prompt.
    pub free_running_matches: usize,
    /// How many generated tokens were compared.
    pub free_running_compared: usize,
}

impl Fidelity {
    /// The largest `gap` over the misses (0 when there are none).
    pub fn worst_gap(&self) -> f32 {
        self.misses.iter().map(|m| m.gap).fold(0.0, f32::max)
    }
}

/// Measure `engine` against `reference`: teacher forcing over every reference position,
/// then (on `fresh`, a second engine in its initial state) free-running greedy from the
/// prompt for as many positions as the reference has.
pub fn measure<F: Forward>(
    engine: &mut F,
    fresh: &mut F,
    reference: &Reference,
) -> Result<Fidelity, ModelError> {
    let rows = reference.logits.len();
    let mut argmax_matches = 0;
    let mut misses = Vec::new();
    let mut abs_sum = 0.0f64;
    let mut abs_max = 0.0f64;
    let mut count = 0usize;
    for pos in 0..rows {
        let logits = engine.forward(reference.ids[pos], pos)?;
        let ours = engine.argmax(&logits);
        let want = reference.ids[pos + 1];
        for (a, b) in logits.iter().zip(&reference.logits[pos]) {
            let d = (*a as f64 - *b as f64).abs();
            abs_sum += d;
            abs_max = abs_max.max(d);
            count += 1;
        }
        if ours == want {
            argmax_matches += 1;
        } else {
            misses.push(Miss {
                pos,
                reference: want,
                ours,
                gap: logits[ours as usize] - logits[want as usize],
            });
        }
    }
    let gen = greedy(fresh, &reference.prompt_ids, rows, false, |_| {})?;
    let start = reference.prompt_ids.len();
    let compared = reference.ids.len().saturating_sub(start);
    let free_running_matches = (start..reference.ids.len())
        .take_while(|&i| gen.ids.get(i) == Some(&reference.ids[i]))
        .count();
    Ok(Fidelity {
        positions: rows,
        argmax_matches,
        misses,
        mean_abs_logit_error: abs_sum / count.max(1) as f64,
        max_abs_logit_error: abs_max,
        free_running_matches,
        free_running_compared: compared,
    })
}
