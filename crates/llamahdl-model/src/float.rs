//! The float32 forward pass, operation for operation as llama2.c's `run.c`.
//!
//! Every reduction accumulates in f32 in index order, and the transcendental functions are
//! the f32 ones (`powf`, `cosf`, `sinf`, `expf`, `sqrtf`), so the logits agree with run.c
//! to float rounding of the platform's maths library.

use crate::checkpoint::{Checkpoint, Config};
use crate::error::ModelError;
use crate::generate::Forward;

/// RMSNorm epsilon (run.c's `1e-5f`).
pub const RMS_EPS: f32 = 1e-5;

/// RoPE base frequency.
pub const ROPE_THETA: f32 = 10000.0;

/// The float32 engine: a checkpoint plus run.c's run state (activations and KV cache).
#[derive(Clone, Debug)]
pub struct FloatEngine {
    ck: Checkpoint,
    x: Vec<f32>,
    xb: Vec<f32>,
    xb2: Vec<f32>,
    hb: Vec<f32>,
    hb2: Vec<f32>,
    q: Vec<f32>,
    att: Vec<f32>,
    logits: Vec<f32>,
    /// `[layer][pos][kv_dim]`.
    key_cache: Vec<f32>,
    /// `[layer][pos][kv_dim]`.
    value_cache: Vec<f32>,
    /// Positions the caches hold (at most seq_len).
    positions: usize,
}

impl FloatEngine {
    /// Build an engine for `ck` with caches for all of its `seq_len` positions (the
    /// checkpoint is cloned; the caches start empty).
    ///
    /// # Panics
    /// When the caches cannot be allocated; [`FloatEngine::with_positions`] returns an
    /// error instead and sizes them for the positions actually run.
    pub fn new(ck: &Checkpoint) -> FloatEngine {
        match Self::with_positions(ck, ck.config.seq_len) {
            Ok(e) => e,
            Err(e) => panic!("FloatEngine::new: {e}"),
        }
    }

    /// Build an engine whose key/value cache holds `positions` positions (clamped to
    /// `1..=seq_len`): the positions a generation will run, not the model's whole context,
    /// which may be far larger. Memory that cannot be reserved is an error naming the sizes.
    pub fn with_positions(ck: &Checkpoint, positions: usize) -> Result<FloatEngine, ModelError> {
        let c = ck.config;
        let positions = positions.clamp(1, c.seq_len);
        let zeros = |n: Option<usize>, what: &str| -> Result<Vec<f32>, ModelError> {
            let fail = || ModelError::Invalid {
                what: "float engine".to_string(),
                problem: format!(
                    "cannot allocate the {what} for {positions} positions ({} floats)",
                    n.map_or("too many".to_string(), |n| n.to_string())
                ),
            };
            let n = n.ok_or_else(fail)?;
            let mut v = Vec::new();
            v.try_reserve_exact(n).map_err(|_| fail())?;
            v.resize(n, 0.0);
            Ok(v)
        };
        let cache = c
            .n_layers
            .checked_mul(positions)
            .and_then(|n| n.checked_mul(c.kv_dim()));
        Ok(FloatEngine {
            ck: ck.clone(),
            x: vec![0.0; c.dim],
            xb: vec![0.0; c.dim],
            xb2: vec![0.0; c.dim],
            hb: vec![0.0; c.hidden_dim],
            hb2: vec![0.0; c.hidden_dim],
            q: vec![0.0; c.dim],
            att: zeros(c.n_heads.checked_mul(positions), "attention scores")?,
            logits: vec![0.0; c.vocab_size],
            key_cache: zeros(cache, "key cache")?,
            value_cache: zeros(cache, "value cache")?,
            positions,
        })
    }

    /// The model shape.
    pub fn config(&self) -> &Config {
        &self.ck.config
    }

    /// The checkpoint being run.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.ck
    }

    /// Run one position: feed `token` at `pos` (positions `0..pos` must have been run
    /// before, as their keys and values are read from the cache) and return the logits.
    pub fn forward(&mut self, token: u32, pos: usize) -> Result<&[f32], ModelError> {
        let c = self.ck.config;
        if token as usize >= c.vocab_size {
            return Err(ModelError::TokenOutOfRange {
                what: "float engine".to_string(),
                token: token as u64,
                vocab_size: c.vocab_size,
            });
        }
        if pos >= self.positions {
            return Err(ModelError::PositionOutOfRange {
                what: "float engine".to_string(),
                pos,
                seq_len: self.positions,
            });
        }
        let (dim, hidden, kv_dim, head_size) = (c.dim, c.hidden_dim, c.kv_dim(), c.head_dim());
        let kv_mul = c.kv_mul();
        let t = token as usize;
        self.x
            .copy_from_slice(&self.ck.token_embedding[t * dim..(t + 1) * dim]);

        for (l, w) in self.ck.layers.iter().enumerate() {
            rmsnorm(&mut self.xb, &self.x, &w.rms_att);

            let loff = l * self.positions * kv_dim;
            let at = loff + pos * kv_dim;
            matmul(&mut self.q, &self.xb, &w.wq);
            matmul(&mut self.key_cache[at..at + kv_dim], &self.xb, &w.wk);
            matmul(&mut self.value_cache[at..at + kv_dim], &self.xb, &w.wv);

            // RoPE: rotate pairs (i, i+1) of q (all of dim) and k (the first kv_dim).
            let k = &mut self.key_cache[at..at + kv_dim];
            for i in (0..dim).step_by(2) {
                let head_dim = i % head_size;
                let freq = 1.0f32 / ROPE_THETA.powf(head_dim as f32 / head_size as f32);
                let val = pos as f32 * freq;
                let (fcr, fci) = (val.cos(), val.sin());
                rotate(&mut self.q[i..i + 2], fcr, fci);
                if i < kv_dim {
                    rotate(&mut k[i..i + 2], fcr, fci);
                }
            }

            // Multi-head attention over positions 0..=pos.
            let scale = (head_size as f32).sqrt();
            for h in 0..c.n_heads {
                let q = &self.q[h * head_size..(h + 1) * head_size];
                let att = &mut self.att[h * self.positions..h * self.positions + pos + 1];
                let kv_off = (h / kv_mul) * head_size;
                for (ti, a) in att.iter_mut().enumerate() {
                    let ko = loff + ti * kv_dim + kv_off;
                    let k = &self.key_cache[ko..ko + head_size];
                    let mut score = 0.0f32;
                    for i in 0..head_size {
                        score += q[i] * k[i];
                    }
                    *a = score / scale;
                }
                softmax(att);
                let xb = &mut self.xb[h * head_size..(h + 1) * head_size];
                xb.fill(0.0);
                for (ti, &a) in att.iter().enumerate() {
                    let vo = loff + ti * kv_dim + kv_off;
                    let v = &self.value_cache[vo..vo + head_size];
                    for i in 0..head_size {
                        xb[i] += a * v[i];
                    }
                }
            }

            matmul(&mut self.xb2, &self.xb, &w.wo);
            for i in 0..dim {
                self.x[i] += self.xb2[i];
            }

            // SwiGLU feed-forward.
            rmsnorm(&mut self.xb, &self.x, &w.rms_ffn);
            matmul(&mut self.hb, &self.xb, &w.w1);
            matmul(&mut self.hb2, &self.xb, &w.w3);
            for i in 0..hidden {
                let mut val = self.hb[i];
                val *= 1.0f32 / (1.0f32 + (-val).exp());
                val *= self.hb2[i];
                self.hb[i] = val;
            }
            matmul(&mut self.xb, &self.hb, &w.w2);
            for i in 0..dim {
                self.x[i] += self.xb[i];
            }
        }

        // run.c normalises x in place; reading x into xb gives the same values.
        rmsnorm(&mut self.xb, &self.x, &self.ck.rms_final);
        matmul(&mut self.logits, &self.xb, self.ck.classifier());
        Ok(&self.logits)
    }
}

impl Forward for FloatEngine {
    fn forward(&mut self, token: u32, pos: usize) -> Result<Vec<f32>, ModelError> {
        FloatEngine::forward(self, token, pos).map(|l| l.to_vec())
    }

    fn seq_len(&self) -> Option<usize> {
        Some(self.positions)
    }
}

/// run.c's `rmsnorm`: `o = weight * (x / sqrt(mean(x²) + 1e-5))`, all in f32.
pub fn rmsnorm(o: &mut [f32], x: &[f32], weight: &[f32]) {
    let mut ss = 0.0f32;
    for &v in x {
        ss += v * v;
    }
    ss /= x.len() as f32;
    ss += RMS_EPS;
    ss = 1.0f32 / ss.sqrt();
    for j in 0..x.len() {
        o[j] = weight[j] * (ss * x[j]);
    }
}

/// run.c's `matmul`: `out[i] = sum_j w[i * n + j] * x[j]` with `n = x.len()`, accumulated
/// in f32 in order of `j`.
pub fn matmul(out: &mut [f32], x: &[f32], w: &[f32]) {
    let n = x.len();
    for (i, o) in out.iter_mut().enumerate() {
        let row = &w[i * n..(i + 1) * n];
        let mut val = 0.0f32;
        for j in 0..n {
            val += row[j] * x[j];
        }
        *o = val;
    }
}

/// run.c's `softmax` in place: subtract the maximum, `expf`, divide by the f32 sum.
pub fn softmax(x: &mut [f32]) {
    let Some(&first) = x.first() else { return };
    let mut max = first;
    for &v in &x[1..] {
        if v > max {
            max = v;
        }
    }
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

fn rotate(v: &mut [f32], fcr: f32, fci: f32) {
    let (v0, v1) = (v[0], v[1]);
    v[0] = v0 * fcr - v1 * fci;
    v[1] = v0 * fci + v1 * fcr;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::greedy;
    use crate::synth;

    #[test]
    fn rejects_bad_token_and_position() {
        let ck = synth::generate(&Config::TINY, 1);
        let mut e = FloatEngine::new(&ck);
        assert!(matches!(
            e.forward(32, 0),
            Err(ModelError::TokenOutOfRange { .. })
        ));
        assert!(matches!(
            e.forward(1, 16),
            Err(ModelError::PositionOutOfRange { .. })
        ));
        assert_eq!(e.forward(1, 0).unwrap().len(), 32);
    }

    #[test]
    fn synthetic_runs_finite_and_deterministic() {
        for shared in [true, false] {
            let cfg = Config {
                shared_classifier: shared,
                ..Config::TINY
            };
            let ck = synth::generate(&cfg, 9);
            let mut a = FloatEngine::new(&ck);
            let mut b = FloatEngine::new(&ck);
            let ga = greedy(&mut a, &[1, 5, 7], 16, true, |_| {}).unwrap();
            let gb = greedy(&mut b, &[1, 5, 7], 16, true, |_| {}).unwrap();
            assert_eq!(ga.ids, gb.ids);
            assert!(ga.logits.iter().flatten().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn softmax_and_rmsnorm_basics() {
        let mut v = [1.0f32, 2.0, 3.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(v[2] > v[1] && v[1] > v[0]);
        let mut o = [0.0f32; 2];
        rmsnorm(&mut o, &[3.0, 4.0], &[1.0, 2.0]);
        let r = 1.0 / (12.5f32 + 1e-5).sqrt();
        assert_eq!(o, [3.0 * r, 2.0 * (4.0 * r)]);
    }

    /// Every logit at every position of both reference cases within 1e-4 of llama2.c, and
    /// greedy generation reproduces the reference ids.
    #[test]
    fn stories260k_matches_reference() {
        let Some(ck) = crate::testutil::stories260k() else {
            return;
        };
        let mut worst = 0.0f32;
        for name in crate::testutil::REFERENCE_CASES {
            let Some(r) = crate::testutil::reference(name) else {
                return;
            };
            // Teacher forcing with the reference ids.
            let mut e = FloatEngine::new(&ck);
            for (pos, row) in r.logits.iter().enumerate() {
                let logits = e.forward(r.ids[pos], pos).unwrap();
                for (i, (&a, &b)) in logits.iter().zip(row).enumerate() {
                    let d = (a - b).abs();
                    worst = worst.max(d);
                    assert!(d <= 1e-4, "{name} pos {pos} logit {i}: {a} vs {b}");
                }
            }
            // Free-running greedy from the prompt.
            let mut e = FloatEngine::new(&ck);
            let g = greedy(&mut e, &r.prompt_ids, r.logits.len(), false, |_| {}).unwrap();
            assert_eq!(g.ids, r.ids, "{name}");
        }
        println!("max abs logit error vs llama2.c: {worst:e}");
    }
}
