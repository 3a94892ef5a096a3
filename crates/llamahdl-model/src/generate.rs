//! The engine interface and the greedy generation loop shared by every engine (float,
//! integer golden model, hardware simulation).

use crate::error::ModelError;
use crate::tokenizer::BOS;

/// One forward step of a model with its own KV cache.
pub trait Forward {
    /// Logits for `token` at `pos` (dequantised to f32 for integer engines).
    fn forward(&mut self, token: u32, pos: usize) -> Result<Vec<f32>, ModelError>;

    /// Greedy choice from the last forward (default: argmax_f32 of the logits). Integer
    /// engines override to argmax their exact integers.
    fn argmax(&self, logits: &[f32]) -> u32 {
        crate::argmax_f32(logits) as u32
    }

    /// The context length, when known. [`greedy`] uses it to reject a prompt or step count
    /// that does not fit before running anything; engines should override it.
    fn seq_len(&self) -> Option<usize> {
        None
    }
}

/// The result of [`greedy`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct Generation {
    /// The whole sequence: the prompt, then the generated tokens (position 0 first). One
    /// longer than the number of positions run.
    pub ids: Vec<u32>,
    /// The engine's argmax at each position run (inside the prompt it is overridden by the
    /// next prompt token).
    pub argmax: Vec<u32>,
    /// The logits of each position run (empty unless `keep_logits`).
    pub logits: Vec<Vec<f32>>,
}

/// Greedy decoding as run.c's generate loop: feed `prompt_ids[0]` at position 0; at each
/// position the next token is the next prompt token while inside the prompt, else the
/// engine's argmax. Runs `steps` positions, or stops early after a generated BOS (which is
/// included in `ids`). `on_position(pos)` is called after each position.
///
/// Errors: empty prompt, prompt longer than the engine's `seq_len`, `steps > seq_len`, and
/// any error of the engine's `forward`.
pub fn greedy<F: Forward>(
    engine: &mut F,
    prompt_ids: &[u32],
    steps: usize,
    keep_logits: bool,
    mut on_position: impl FnMut(usize),
) -> Result<Generation, ModelError> {
    let what = || "greedy generation".to_string();
    let Some(&first) = prompt_ids.first() else {
        return Err(ModelError::EmptyPrompt { what: what() });
    };
    if let Some(seq_len) = engine.seq_len() {
        if prompt_ids.len() > seq_len {
            return Err(ModelError::PromptTooLong {
                what: what(),
                len: prompt_ids.len(),
                seq_len,
            });
        }
        if steps > seq_len {
            return Err(ModelError::TooManySteps {
                what: what(),
                steps,
                seq_len,
            });
        }
    }
    let last_prompt = prompt_ids.len() - 1;
    let mut gen = Generation {
        ids: Vec::with_capacity(steps + 1),
        argmax: Vec::with_capacity(steps),
        logits: Vec::new(),
    };
    gen.ids.push(first);
    let mut token = first;
    for pos in 0..steps {
        let logits = engine.forward(token, pos)?;
        let best = engine.argmax(&logits);
        gen.argmax.push(best);
        if keep_logits {
            gen.logits.push(logits);
        }
        let next = if pos < last_prompt {
            prompt_ids[pos + 1]
        } else {
            best
        };
        gen.ids.push(next);
        on_position(pos);
        if next == BOS && pos >= last_prompt {
            break;
        }
        token = next;
    }
    Ok(gen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake engine whose argmax is a fixed script per position, logging what it is fed.
    struct Script {
        out: Vec<u32>,
        fed: Vec<(u32, usize)>,
        seq_len: Option<usize>,
    }

    impl Forward for Script {
        fn forward(&mut self, token: u32, pos: usize) -> Result<Vec<f32>, ModelError> {
            self.fed.push((token, pos));
            let mut l = vec![0.0; 8];
            l[self.out[pos] as usize] = 1.0;
            Ok(l)
        }
        fn seq_len(&self) -> Option<usize> {
            self.seq_len
        }
    }

    fn script(out: &[u32]) -> Script {
        Script {
            out: out.to_vec(),
            fed: vec![],
            seq_len: Some(8),
        }
    }

    #[test]
    fn prompt_is_forced_then_argmax_follows() {
        let mut e = script(&[7, 7, 4, 5, 6, 3]);
        let mut seen = vec![];
        let g = greedy(&mut e, &[1, 2, 3], 5, true, |p| seen.push(p)).unwrap();
        assert_eq!(g.ids, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(g.argmax, vec![7, 7, 4, 5, 6]);
        assert_eq!(g.logits.len(), 5);
        assert_eq!(e.fed, vec![(1, 0), (2, 1), (3, 2), (4, 3), (5, 4)]);
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn generated_bos_stops_but_prompt_bos_does_not() {
        // Argmax 1 inside the prompt is overridden; a generated 1 ends the run.
        let mut e = script(&[1, 1, 5, 1, 6, 6]);
        let g = greedy(&mut e, &[1, 2], 6, false, |_| {}).unwrap();
        assert_eq!(g.ids, vec![1, 2, 1]);
        assert!(g.logits.is_empty());
        let mut e = script(&[1, 5, 1, 6, 6, 6]);
        let g = greedy(&mut e, &[1, 2, 3], 6, false, |_| {}).unwrap();
        assert_eq!(g.ids, vec![1, 2, 3, 1]);
    }

    #[test]
    fn argument_errors() {
        let mut e = script(&[0; 8]);
        assert!(matches!(
            greedy(&mut e, &[], 3, false, |_| {}),
            Err(ModelError::EmptyPrompt { .. })
        ));
        assert!(matches!(
            greedy(&mut e, &[1; 9], 3, false, |_| {}),
            Err(ModelError::PromptTooLong {
                len: 9,
                seq_len: 8,
                ..
            })
        ));
        assert!(matches!(
            greedy(&mut e, &[1], 9, false, |_| {}),
            Err(ModelError::TooManySteps { .. })
        ));
        assert!(e.fed.is_empty());
        let g = greedy(&mut e, &[1], 0, false, |_| {}).unwrap();
        assert_eq!(g.ids, vec![1]);
    }
}
