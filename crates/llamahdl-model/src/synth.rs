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
    let collect = |rng: &mut ChaCha8Rng, t: Tensor| {
        let mut v = Vec::with_capacity(t.len(&c));
        t.generate(rng, &c, |x| v.push(x));
        v
    };
    let token_embedding = collect(&mut rng, Tensor::Embedding);
    let layers = (0..c.n_layers)
        .map(|_| LayerWeights {
            rms_att: collect(&mut rng, Tensor::Layer(0)),
            wq: collect(&mut rng, Tensor::Layer(1)),
            wk: collect(&mut rng, Tensor::Layer(2)),
            wv: collect(&mut rng, Tensor::Layer(3)),
            wo: collect(&mut rng, Tensor::Layer(4)),
            rms_ffn: collect(&mut rng, Tensor::Layer(5)),
            w1: collect(&mut rng, Tensor::Layer(6)),
            w2: collect(&mut rng, Tensor::Layer(7)),
            w3: collect(&mut rng, Tensor::Layer(8)),
        })
        .collect();
    let rms_final = collect(&mut rng, Tensor::RmsFinal);
    let wcls = (!c.shared_classifier).then(|| collect(&mut rng, Tensor::Classifier));
    Ok(Checkpoint {
        config: c,
        token_embedding,
        layers,
        rms_final,
        wcls,
    })
}

/// Write the checkpoint [`try_generate`] would give for `config` and `seed` as llama2.c
/// bytes (exactly [`Checkpoint::to_bytes`]'s), holding no tensor in memory: any shape the
/// validation accepts can be written with constant memory. Returns the bytes written.
///
/// The generator draws tensors layer by layer while the file stores them kind by kind
/// across layers, so a first pass runs the random stream through once, noting where each
/// tensor's draws start; the second pass seeks the stream there for each tensor in file
/// order. `what` names the output in errors (the shape check and write failures).
pub fn write_to(
    config: &Config,
    seed: u64,
    out: &mut impl std::io::Write,
    what: &str,
) -> Result<u64, ModelError> {
    validate_config(config, what)?;
    let c = *config;
    let io = |e: std::io::Error| ModelError::Io {
        what: what.to_string(),
        source: e,
    };
    // Pass 1: the stream position at the start of every tensor, in generation order.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut starts = std::collections::HashMap::new();
    let mut skip = |rng: &mut ChaCha8Rng, t: Tensor| {
        starts.insert(t_key(t), rng.get_word_pos());
        t.generate(rng, &c, |_| ());
    };
    skip(&mut rng, Tensor::Embedding);
    let mut layer_starts = vec![[0u128; 9]; c.n_layers];
    for ls in layer_starts.iter_mut() {
        for (k, s) in ls.iter_mut().enumerate() {
            *s = rng.get_word_pos();
            Tensor::Layer(k).generate(&mut rng, &c, |_| ());
        }
    }
    skip(&mut rng, Tensor::RmsFinal);
    if !c.shared_classifier {
        skip(&mut rng, Tensor::Classifier);
    }
    // Pass 2: file order.
    let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut written: u64 = 0;
    let mut err: Option<std::io::Error> = None;
    let mut put = |w: &mut std::io::BufWriter<_>, x: f32| {
        if err.is_none() {
            if let Err(e) = std::io::Write::write_all(w, &x.to_le_bytes()) {
                err = Some(e);
            }
            written += 4;
        }
    };
    std::io::Write::write_all(&mut w, &crate::checkpoint::header_bytes(&c)).map_err(io)?;
    let mut emit = |w: &mut std::io::BufWriter<_>, t: Tensor, pos: u128| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_word_pos(pos);
        t.generate(&mut rng, &c, |x| put(w, x));
    };
    emit(&mut w, Tensor::Embedding, starts[&t_key(Tensor::Embedding)]);
    for k in 0..9 {
        for ls in &layer_starts {
            emit(&mut w, Tensor::Layer(k), ls[k]);
        }
    }
    emit(&mut w, Tensor::RmsFinal, starts[&t_key(Tensor::RmsFinal)]);
    let mut freq_err = None;
    crate::checkpoint::for_each_freq_cis(&c, |x| {
        if freq_err.is_none() {
            freq_err = std::io::Write::write_all(&mut w, &x.to_le_bytes()).err();
        }
    });
    if let Some(e) = freq_err {
        return Err(io(e));
    }
    if !c.shared_classifier {
        emit(
            &mut w,
            Tensor::Classifier,
            starts[&t_key(Tensor::Classifier)],
        );
    }
    if let Some(e) = err {
        return Err(io(e));
    }
    std::io::Write::flush(&mut w).map_err(io)?;
    Ok(c.file_bytes() as u64)
}

/// The tensors of a checkpoint as the generator draws them.
#[derive(Clone, Copy, Debug)]
enum Tensor {
    Embedding,
    /// Per-layer kind: 0 rms_att, 1 wq, 2 wk, 3 wv, 4 wo, 5 rms_ffn, 6 w1, 7 w2, 8 w3.
    Layer(usize),
    RmsFinal,
    Classifier,
}

fn t_key(t: Tensor) -> u8 {
    match t {
        Tensor::Embedding => 0,
        Tensor::Layer(_) => 1,
        Tensor::RmsFinal => 2,
        Tensor::Classifier => 3,
    }
}

impl Tensor {
    fn len(self, c: &Config) -> usize {
        let (dim, hidden, kv_dim, vocab) = (c.dim, c.hidden_dim, c.kv_dim(), c.vocab_size);
        match self {
            Tensor::Embedding | Tensor::Classifier => vocab * dim,
            Tensor::RmsFinal | Tensor::Layer(0) | Tensor::Layer(5) => dim,
            Tensor::Layer(1) | Tensor::Layer(4) => dim * dim,
            Tensor::Layer(2) | Tensor::Layer(3) => kv_dim * dim,
            Tensor::Layer(_) => hidden * dim,
        }
    }

    /// Draw the tensor's values from `rng`, in order, into `f`.
    fn generate(self, rng: &mut ChaCha8Rng, c: &Config, f: impl FnMut(f32)) {
        let n = self.len(c);
        match self {
            Tensor::Embedding => normal(rng, n, f),
            Tensor::RmsFinal | Tensor::Layer(0) | Tensor::Layer(5) => rms(rng, n, f),
            // wcls: standard deviation 1/sqrt(dim); w2's fan-in is hidden_dim.
            Tensor::Layer(7) => matrix(rng, n, c.hidden_dim, f),
            _ => matrix(rng, n, c.dim, f),
        }
    }
}

/// `n` values uniform with standard deviation `1/sqrt(fan_in)`.
fn matrix(rng: &mut ChaCha8Rng, n: usize, fan_in: usize, mut f: impl FnMut(f32)) {
    let a = (3.0 / fan_in as f32).sqrt();
    for _ in 0..n {
        f(rng.gen_range(-a..a));
    }
}

/// RMSNorm weights uniform in `0.5..1.5`.
fn rms(rng: &mut ChaCha8Rng, n: usize, mut f: impl FnMut(f32)) {
    for _ in 0..n {
        f(rng.gen_range(0.5f32..1.5));
    }
}

/// Approximately standard normal values (Box–Muller), clamped to ±4.
fn normal(rng: &mut ChaCha8Rng, n: usize, mut f: impl FnMut(f32)) {
    for _ in 0..n {
        let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
        let u2: f64 = rng.gen();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        f(z.clamp(-4.0, 4.0) as f32);
    }
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
    fn streamed_bytes_equal_the_in_memory_checkpoint() {
        for (c, seed) in [
            (Config::TINY, 1),
            (Config::ODD, 9),
            (
                Config {
                    shared_classifier: false,
                    ..Config::TINY
                },
                4,
            ),
        ] {
            let mut out = Vec::new();
            let n = write_to(&c, seed, &mut out, "t.bin").unwrap();
            assert_eq!(n as usize, out.len());
            assert!(out == generate(&c, seed).to_bytes(), "{c:?}");
        }
        let bad = Config {
            n_kv_heads: 3,
            ..Config::TINY
        };
        let e = write_to(&bad, 0, &mut Vec::new(), "out.bin").unwrap_err();
        assert!(e.to_string().starts_with("out.bin: "), "{e}");
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
