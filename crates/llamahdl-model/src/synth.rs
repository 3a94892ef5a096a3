//! Seeded synthetic checkpoints of any valid shape, for tests.
//!
//! The weights have realistic scales so that activations stay in the ranges a trained
//! model produces: matrices uniform with standard deviation `1/sqrt(fan_in)`, RMSNorm
//! weights uniform in `0.5..1.5`, token embedding approximately N(0, 1) and a separate
//! classifier (when not shared) with standard deviation `1/sqrt(dim)`. The same config and
//! seed always give the same checkpoint (ChaCha8).

use crate::checkpoint::{validate_config, Checkpoint, Config, LayerWeights};
use crate::error::ModelError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Generate a synthetic checkpoint.
///
/// # Panics
/// When `config` breaks the shape rules of [`validate_config`] (a programming error in the
/// caller; use [`try_generate`] to get the error instead).
pub fn generate(config: &Config, seed: u64) -> Checkpoint {
    match try_generate(config, seed) {
        Ok(ck) => ck,
        Err(e) => panic!("synth::generate: {e}"),
    }
}

/// Generate a synthetic checkpoint, or say why the shape is invalid.
pub fn try_generate(config: &Config, seed: u64) -> Result<Checkpoint, ModelError> {
    let what = format!("synthetic checkpoint (seed {seed})");
    validate_config(config, &what)?;
    let c = *config;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (dim, hidden, kv_dim, vocab) = (c.dim, c.hidden_dim, c.kv_dim(), c.vocab_size);

    let token_embedding = normal(&mut rng, vocab * dim);
    let layers = (0..c.n_layers)
        .map(|_| LayerWeights {
            rms_att: rms(&mut rng, dim),
            wq: matrix(&mut rng, dim, dim),
            wk: matrix(&mut rng, kv_dim, dim),
            wv: matrix(&mut rng, kv_dim, dim),
            wo: matrix(&mut rng, dim, dim),
            rms_ffn: rms(&mut rng, dim),
            w1: matrix(&mut rng, hidden, dim),
            w2: matrix(&mut rng, dim, hidden),
            w3: matrix(&mut rng, hidden, dim),
        })
        .collect();
    let rms_final = rms(&mut rng, dim);
    let wcls = (!c.shared_classifier).then(|| matrix(&mut rng, vocab, dim));
    Ok(Checkpoint {
        config: c,
        token_embedding,
        layers,
        rms_final,
        wcls,
    })
}

/// `[rows, fan_in]` uniform with standard deviation `1/sqrt(fan_in)`.
fn matrix(rng: &mut ChaCha8Rng, rows: usize, fan_in: usize) -> Vec<f32> {
    let a = (3.0 / fan_in as f32).sqrt();
    (0..rows * fan_in).map(|_| rng.gen_range(-a..a)).collect()
}

/// RMSNorm weights uniform in `0.5..1.5`.
fn rms(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(0.5f32..1.5)).collect()
}

/// Approximately standard normal values (Box–Muller), clamped to ±4.
fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
            let u2: f64 = rng.gen();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            z.clamp(-4.0, 4.0) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_seed_dependent() {
        let a = generate(&Config::TINY, 7);
        let b = generate(&Config::TINY, 7);
        let c = generate(&Config::TINY, 8);
        assert_eq!(a, b);
        assert_ne!(a.token_embedding, c.token_embedding);
        a.validate("synthetic").unwrap();
    }

    #[test]
    fn honours_shared_classifier() {
        let shared = generate(&Config::TINY, 1);
        assert!(shared.wcls.is_none());
        let cfg = Config {
            shared_classifier: false,
            ..Config::TINY
        };
        let sep = generate(&cfg, 1);
        assert_eq!(sep.wcls.as_ref().unwrap().len(), cfg.vocab_size * cfg.dim);
        sep.validate("synthetic").unwrap();
    }

    #[test]
    fn scales_are_realistic() {
        let ck = generate(&Config::STORIES260K, 3);
        let std = |v: &[f32]| {
            let m = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
            (v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
        };
        let e = std(&ck.token_embedding);
        assert!((0.9..1.1).contains(&e), "{e}");
        let w1 = std(&ck.layers[0].w1);
        let want = 1.0 / (64f64).sqrt();
        assert!((w1 / want - 1.0).abs() < 0.05, "{w1}");
        assert!(ck.rms_final.iter().all(|&x| (0.5..1.5).contains(&x)));
    }

    #[test]
    fn invalid_shapes_are_errors() {
        let bad = Config {
            n_kv_heads: 3,
            ..Config::TINY
        };
        assert!(matches!(
            try_generate(&bad, 0),
            Err(ModelError::KvHeadsDoNotDivideHeads { .. })
        ));
        let odd = Config {
            dim: 12,
            ..Config::TINY
        };
        assert!(matches!(
            try_generate(&odd, 0),
            Err(ModelError::OddHeadDim { .. })
        ));
    }
}
