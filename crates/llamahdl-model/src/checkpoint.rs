//! llama2.c legacy (version 0) checkpoint format.
//!
//! Layout (little-endian): 7 × i32 header `dim, hidden_dim, n_layers, n_heads, n_kv_heads,
//! vocab_size, seq_len`, then float32 tensors in this order:
//! token_embedding `[vocab, dim]`, rms_att `[L, dim]`, wq `[L, dim, dim]`,
//! wk `[L, kv_dim, dim]`, wv `[L, kv_dim, dim]`, wo `[L, dim, dim]`, rms_ffn `[L, dim]`,
//! w1 `[L, hidden, dim]`, w2 `[L, dim, hidden]`, w3 `[L, hidden, dim]`, rms_final `[dim]`,
//! freq_cis_real `[seq_len, head_size/2]`, freq_cis_imag `[seq_len, head_size/2]`
//! (both unused, skipped), then `wcls [vocab, dim]` only when the header's vocab_size is
//! negative (otherwise the classifier shares the token embedding).
//!
//! Matrices are row-major `[out, in]`: `y[r] = sum_c W[r][c] * x[c]`.

use crate::error::ModelError;
use std::path::Path;

/// Model shape, from the checkpoint header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// Model width (residual stream size).
    pub dim: usize,
    /// Width of the SwiGLU feed-forward hidden layer.
    pub hidden_dim: usize,
    /// Number of transformer layers.
    pub n_layers: usize,
    /// Number of query heads.
    pub n_heads: usize,
    /// Number of key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: usize,
    /// Vocabulary size (the header stores it negated when the classifier is separate).
    pub vocab_size: usize,
    /// Maximum context length (positions).
    pub seq_len: usize,
    /// True when the classifier is the token embedding (header vocab_size > 0).
    pub shared_classifier: bool,
}

impl Config {
    /// Size of one attention head: `dim / n_heads`.
    pub fn head_dim(&self) -> usize {
        self.dim / self.n_heads
    }
    /// Width of the key/value vectors: `head_dim * n_kv_heads`.
    pub fn kv_dim(&self) -> usize {
        self.head_dim() * self.n_kv_heads
    }
    /// Query heads per key/value head (grouped-query attention factor).
    pub fn kv_mul(&self) -> usize {
        self.n_heads / self.n_kv_heads
    }
    /// Rows of the Q, K and V matrices of one layer together:
    /// `head_dim * (n_heads + 2 * n_kv_heads)`.
    pub fn qkv_rows(&self) -> usize {
        self.head_dim() * (self.n_heads + 2 * self.n_kv_heads)
    }

    /// The stories260K shape (dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512,
    /// seq_len 512, shared classifier).
    pub const STORIES260K: Config = Config {
        dim: 64,
        hidden_dim: 172,
        n_layers: 5,
        n_heads: 8,
        n_kv_heads: 4,
        vocab_size: 512,
        seq_len: 512,
        shared_classifier: true,
    };

    /// A tiny synthetic shape for fast tests and readable Verilog snapshots
    /// (dim 16, head_dim 4, 4 query heads, 2 kv heads).
    pub const TINY: Config = Config {
        dim: 16,
        hidden_dim: 32,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        vocab_size: 32,
        seq_len: 16,
        shared_classifier: true,
    };

    /// A synthetic shape unlike both of the above, to show nothing is tied to one shape:
    /// dim 48, 6 query heads over 2 key/value heads (3 per group), hidden 128, 3 layers,
    /// vocabulary 300, seq_len 64, a separate classifier.
    pub const ODD: Config = Config {
        dim: 48,
        hidden_dim: 128,
        n_layers: 3,
        n_heads: 6,
        n_kv_heads: 2,
        vocab_size: 300,
        seq_len: 64,
        shared_classifier: false,
    };

    /// The stories15M shape of llama2.c (dim 288, hidden 768, 6 layers, 6 heads, vocab
    /// 32000, seq_len 256, shared classifier).
    pub const STORIES15M: Config = Config {
        dim: 288,
        hidden_dim: 768,
        n_layers: 6,
        n_heads: 6,
        n_kv_heads: 6,
        vocab_size: 32000,
        seq_len: 256,
        shared_classifier: true,
    };

    /// The stories42M shape (dim 512, hidden 1376, 8 layers, 8 heads, vocab 32000,
    /// seq_len 1024, shared classifier).
    pub const STORIES42M: Config = Config {
        dim: 512,
        hidden_dim: 1376,
        n_layers: 8,
        n_heads: 8,
        n_kv_heads: 8,
        vocab_size: 32000,
        seq_len: 1024,
        shared_classifier: true,
    };

    /// The stories110M shape (dim 768, hidden 2048, 12 layers, 12 heads, vocab 32000,
    /// seq_len 1024, shared classifier).
    pub const STORIES110M: Config = Config {
        dim: 768,
        hidden_dim: 2048,
        n_layers: 12,
        n_heads: 12,
        n_kv_heads: 12,
        vocab_size: 32000,
        seq_len: 1024,
        shared_classifier: true,
    };

    /// The Llama 2 7B shape as llama2.c's export writes it (dim 4096, hidden 11008, 32
    /// layers, 32 heads, vocab 32000, seq_len 2048, a separate classifier).
    pub const LLAMA2_7B: Config = Config {
        dim: 4096,
        hidden_dim: 11008,
        n_layers: 32,
        n_heads: 32,
        n_kv_heads: 32,
        vocab_size: 32000,
        seq_len: 2048,
        shared_classifier: false,
    };

    /// The seven header dimensions with their names, in header order (`dim`,
    /// `hidden_dim`, `n_layers`, `n_heads`, `n_kv_heads`, `vocab_size`, `seq_len`).
    pub fn dims(&self) -> [(&'static str, usize); 7] {
        [
            ("dim", self.dim),
            ("hidden_dim", self.hidden_dim),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("n_kv_heads", self.n_kv_heads),
            ("vocab_size", self.vocab_size),
            ("seq_len", self.seq_len),
        ]
    }

    /// Check the shape for consistency. `what` names the source (file) in the error.
    pub fn validate(&self, what: &str) -> Result<(), ModelError> {
        crate::checkpoint::validate_config(self, what)
    }
}

/// One transformer layer's float weights (row-major `[out][in]`, flattened).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerWeights {
    /// Attention RMSNorm weights `[dim]`.
    pub rms_att: Vec<f32>,
    /// Query projection `[dim, dim]`.
    pub wq: Vec<f32>,
    /// Key projection `[kv_dim, dim]`.
    pub wk: Vec<f32>,
    /// Value projection `[kv_dim, dim]`.
    pub wv: Vec<f32>,
    /// Attention output projection `[dim, dim]`.
    pub wo: Vec<f32>,
    /// Feed-forward RMSNorm weights `[dim]`.
    pub rms_ffn: Vec<f32>,
    /// Gate projection `[hidden_dim, dim]` (goes through SiLU).
    pub w1: Vec<f32>,
    /// Down projection `[dim, hidden_dim]`.
    pub w2: Vec<f32>,
    /// Up projection `[hidden_dim, dim]`.
    pub w3: Vec<f32>,
}

/// A whole float checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Shape.
    pub config: Config,
    /// Token embedding `[vocab, dim]`.
    pub token_embedding: Vec<f32>,
    /// Per-layer weights, `n_layers` of them.
    pub layers: Vec<LayerWeights>,
    /// Final RMSNorm weights `[dim]`.
    pub rms_final: Vec<f32>,
    /// Classifier `[vocab, dim]`; `None` when shared with `token_embedding`.
    pub wcls: Option<Vec<f32>>,
}

impl Checkpoint {
    /// The classifier matrix `[vocab, dim]` (the embedding when shared).
    pub fn classifier(&self) -> &[f32] {
        self.wcls.as_deref().unwrap_or(&self.token_embedding)
    }

    /// Read and validate only a checkpoint file's header: its shape (the weights are not
    /// read, so this is quick for any size; the file's length is not checked).
    pub fn load_config(path: &Path) -> Result<Config, ModelError> {
        let what = path.display().to_string();
        let mut file = crate::input::open(path)?;
        let mut bytes = Vec::new();
        crate::input::read_up_to(&mut file, HEADER_BYTES as u64, &mut bytes, path)?;
        let config = parse_header(&bytes, &what)?;
        validate_config(&config, &what)?;
        Ok(config)
    }

    /// Read and validate a checkpoint file.
    ///
    /// The header is read first; the body is then read only up to the size the header
    /// implies plus one byte, so a device or an endless pipe (`/dev/zero`) cannot make the
    /// reader grow, and a FIFO with no writer reads as empty instead of blocking.
    pub fn load(path: &Path) -> Result<Checkpoint, ModelError> {
        let what = path.display().to_string();
        let mut file = crate::input::open(path)?;
        let mut bytes = Vec::new();
        crate::input::read_up_to(&mut file, HEADER_BYTES as u64, &mut bytes, path)?;
        let config = parse_header(&bytes, &what)?;
        validate_config(&config, &what)?;
        let expected = config.file_bytes() as u64;
        if bytes.try_reserve_exact(expected as usize).is_err() {
            return Err(ModelError::Invalid {
                what,
                problem: format!(
                    "its header implies a {expected}-byte file and that much memory could \
                     not be reserved to read it"
                ),
            });
        }
        let body = expected - HEADER_BYTES as u64;
        crate::input::read_up_to(&mut file, body + 1, &mut bytes, path)?;
        if bytes.len() as u64 > expected {
            // Longer than the header allows: report the real size when it is known.
            let actual = crate::input::regular_len(&file).unwrap_or(bytes.len() as u64);
            return Err(size_mismatch(&config, &what, expected, actual));
        }
        Self::from_bytes(&bytes, &what)
    }

    /// Parse and validate checkpoint bytes; `what` names the source in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Checkpoint, ModelError> {
        crate::checkpoint::parse(bytes, what)
    }

    /// Serialise in llama2.c's legacy format (used by the synthetic generator and tests).
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::checkpoint::serialise(self)
    }
}

/// Largest accepted value of any header dimension.
pub const MAX_DIMENSION: usize = 1 << 20;

/// Largest accepted total parameter count (about 32 GB of float32): Llama 2 7B (6.7
/// billion) is accepted.
pub const MAX_PARAMETERS: u128 = 8_000_000_000;

/// Size of the legacy header in bytes (7 × int32).
pub const HEADER_BYTES: usize = 28;

impl Config {
    /// Number of float parameters (embedding, layers, final norm and, when not shared, the
    /// classifier). Computed in `u128` so that it cannot overflow for any header.
    pub fn param_count(&self) -> u128 {
        let dim = self.dim as u128;
        let hidden = self.hidden_dim as u128;
        let kv_dim = self.kv_dim() as u128;
        let vocab = self.vocab_size as u128;
        let per_layer = 2 * dim + 2 * dim * dim + 2 * kv_dim * dim + 3 * dim * hidden;
        let cls = if self.shared_classifier {
            0
        } else {
            vocab * dim
        };
        vocab * dim + self.n_layers as u128 * per_layer + dim + cls
    }

    /// Floats in each of the two unused `freq_cis` tensors: `seq_len * head_dim / 2`.
    pub fn freq_cis_len(&self) -> u128 {
        self.seq_len as u128 * (self.head_dim() / 2) as u128
    }

    /// Exact size in bytes of a legacy checkpoint file of this shape.
    pub fn file_bytes(&self) -> u128 {
        HEADER_BYTES as u128 + 4 * (self.param_count() + 2 * self.freq_cis_len())
    }
}

impl Checkpoint {
    /// Check the configuration, every tensor's length and that every weight is finite.
    /// `what` names the source in errors.
    pub fn validate(&self, what: &str) -> Result<(), ModelError> {
        validate_config(&self.config, what)?;
        for (name, data, len) in self.tensors() {
            if data.len() != len {
                return Err(ModelError::Invalid {
                    what: what.to_string(),
                    problem: format!(
                        "tensor {name} has {} values, the shape needs {len}",
                        data.len()
                    ),
                });
            }
            check_finite(data, &name, what)?;
        }
        if self.layers.len() != self.config.n_layers {
            return Err(ModelError::Invalid {
                what: what.to_string(),
                problem: format!(
                    "{} layers present, the shape needs {}",
                    self.layers.len(),
                    self.config.n_layers
                ),
            });
        }
        if self.config.shared_classifier == self.wcls.is_some() {
            return Err(ModelError::Invalid {
                what: what.to_string(),
                problem: format!(
                    "shared_classifier is {} but wcls is {}",
                    self.config.shared_classifier,
                    if self.wcls.is_some() {
                        "present"
                    } else {
                        "absent"
                    }
                ),
            });
        }
        Ok(())
    }

    /// Every tensor with its name and the length the shape requires, in file order.
    fn tensors(&self) -> Vec<(String, &[f32], usize)> {
        let c = &self.config;
        let (dim, hidden, kv_dim, vocab) = (c.dim, c.hidden_dim, c.kv_dim(), c.vocab_size);
        let mut v: Vec<(String, &[f32], usize)> =
            vec![("token_embedding".into(), &self.token_embedding, vocab * dim)];
        for (l, w) in self.layers.iter().enumerate() {
            v.push((format!("layer {l} rms_att"), &w.rms_att, dim));
            v.push((format!("layer {l} wq"), &w.wq, dim * dim));
            v.push((format!("layer {l} wk"), &w.wk, kv_dim * dim));
            v.push((format!("layer {l} wv"), &w.wv, kv_dim * dim));
            v.push((format!("layer {l} wo"), &w.wo, dim * dim));
            v.push((format!("layer {l} rms_ffn"), &w.rms_ffn, dim));
            v.push((format!("layer {l} w1"), &w.w1, hidden * dim));
            v.push((format!("layer {l} w2"), &w.w2, dim * hidden));
            v.push((format!("layer {l} w3"), &w.w3, hidden * dim));
        }
        v.push(("rms_final".into(), &self.rms_final, dim));
        if let Some(wcls) = &self.wcls {
            v.push(("wcls".into(), wcls, vocab * dim));
        }
        v
    }
}

/// Check a shape: every dimension positive and at most [`MAX_DIMENSION`], at most
/// [`MAX_PARAMETERS`] parameters, `dim` divisible by `n_heads`, `n_heads` a multiple of
/// `n_kv_heads`, and an even head size. The same rules apply to files and to synthetic
/// shapes. `what` names the source in the error.
pub fn validate_config(c: &Config, what: &str) -> Result<(), ModelError> {
    for (field, value) in c.dims() {
        if value == 0 {
            return Err(ModelError::NonPositiveDimension {
                what: what.to_string(),
                field,
                value: 0,
            });
        }
        if value > MAX_DIMENSION {
            return Err(ModelError::AbsurdDimension {
                what: what.to_string(),
                field,
                value: value as u128,
                limit: MAX_DIMENSION as u128,
            });
        }
    }
    if c.dim % c.n_heads != 0 {
        return Err(ModelError::HeadsDoNotDivideDim {
            what: what.to_string(),
            dim: c.dim,
            n_heads: c.n_heads,
        });
    }
    if c.n_heads % c.n_kv_heads != 0 {
        return Err(ModelError::KvHeadsDoNotDivideHeads {
            what: what.to_string(),
            n_heads: c.n_heads,
            n_kv_heads: c.n_kv_heads,
        });
    }
    if c.head_dim() % 2 != 0 {
        return Err(ModelError::OddHeadDim {
            what: what.to_string(),
            head_dim: c.head_dim(),
        });
    }
    let params = c.param_count();
    if params > MAX_PARAMETERS {
        return Err(ModelError::AbsurdDimension {
            what: what.to_string(),
            field: "parameter count",
            value: params,
            limit: MAX_PARAMETERS,
        });
    }
    Ok(())
}

fn check_finite(data: &[f32], tensor: &str, what: &str) -> Result<(), ModelError> {
    match data.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(index) => Err(ModelError::NonFinite {
            what: what.to_string(),
            tensor: tensor.to_string(),
            index,
            value: data[index],
        }),
    }
}

/// Decode the 7-int header into a [`Config`] (not yet validated beyond signs).
fn parse_header(bytes: &[u8], what: &str) -> Result<Config, ModelError> {
    if bytes.len() < HEADER_BYTES {
        return Err(ModelError::TruncatedHeader {
            what: what.to_string(),
            expected: HEADER_BYTES,
            actual: bytes.len(),
        });
    }
    let mut h = [0i64; 7];
    for (i, v) in h.iter_mut().enumerate() {
        let b = [
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ];
        *v = i32::from_le_bytes(b) as i64;
    }
    const NAMES: [&str; 7] = [
        "dim",
        "hidden_dim",
        "n_layers",
        "n_heads",
        "n_kv_heads",
        "vocab_size",
        "seq_len",
    ];
    for (i, (&value, field)) in h.iter().zip(NAMES).enumerate() {
        // vocab_size (index 5) may be negative: that flags a separate classifier.
        let bad = if i == 5 { value == 0 } else { value <= 0 };
        if bad {
            return Err(ModelError::NonPositiveDimension {
                what: what.to_string(),
                field,
                value,
            });
        }
    }
    Ok(Config {
        dim: h[0] as usize,
        hidden_dim: h[1] as usize,
        n_layers: h[2] as usize,
        n_heads: h[3] as usize,
        n_kv_heads: h[4] as usize,
        vocab_size: h[5].unsigned_abs() as usize,
        seq_len: h[6] as usize,
        shared_classifier: h[5] > 0,
    })
}

/// Reads consecutive float32 tensors from the checkpoint body.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
    what: &'a str,
}

impl Reader<'_> {
    fn tensor(&mut self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let end = self.offset + 4 * len;
        // The size was checked up front; this guard keeps a bug from becoming a panic.
        let Some(chunk) = self.bytes.get(self.offset..end) else {
            return Err(ModelError::Invalid {
                what: self.what.to_string(),
                problem: format!("tensor {name} runs past the end of the file"),
            });
        };
        self.offset = end;
        let v: Vec<f32> = chunk
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        check_finite(&v, name, self.what)?;
        Ok(v)
    }

    fn skip(&mut self, len: usize) {
        self.offset += 4 * len;
    }
}

/// The error for a file of `actual` bytes whose header implies `expected`.
fn size_mismatch(config: &Config, what: &str, expected: u64, actual: u64) -> ModelError {
    ModelError::SizeMismatch {
        what: what.to_string(),
        expected,
        actual,
        detail: format!(
            "header: dim {}, hidden_dim {}, n_layers {}, n_heads {}, n_kv_heads {}, \
             vocab_size {}, seq_len {}, {} classifier",
            config.dim,
            config.hidden_dim,
            config.n_layers,
            config.n_heads,
            config.n_kv_heads,
            config.vocab_size,
            config.seq_len,
            if config.shared_classifier {
                "shared"
            } else {
                "separate"
            }
        ),
    }
}

/// Parse and validate a legacy checkpoint. `what` names the source in errors.
pub fn parse(bytes: &[u8], what: &str) -> Result<Checkpoint, ModelError> {
    let config = parse_header(bytes, what)?;
    validate_config(&config, what)?;
    let expected = config.file_bytes();
    if expected != bytes.len() as u128 {
        return Err(size_mismatch(
            &config,
            what,
            expected as u64,
            bytes.len() as u64,
        ));
    }
    let c = config;
    let (dim, hidden, kv_dim, vocab) = (c.dim, c.hidden_dim, c.kv_dim(), c.vocab_size);
    let mut r = Reader {
        bytes,
        offset: HEADER_BYTES,
        what,
    };
    let token_embedding = r.tensor("token_embedding", vocab * dim)?;
    let mut layers: Vec<LayerWeights> = (0..c.n_layers)
        .map(|_| LayerWeights {
            rms_att: Vec::new(),
            wq: Vec::new(),
            wk: Vec::new(),
            wv: Vec::new(),
            wo: Vec::new(),
            rms_ffn: Vec::new(),
            w1: Vec::new(),
            w2: Vec::new(),
            w3: Vec::new(),
        })
        .collect();
    // Tensors are stored by kind, each kind covering all layers.
    type Field = fn(&mut LayerWeights) -> &mut Vec<f32>;
    let kinds: [(&str, usize, Field); 9] = [
        ("rms_att", dim, |w| &mut w.rms_att),
        ("wq", dim * dim, |w| &mut w.wq),
        ("wk", kv_dim * dim, |w| &mut w.wk),
        ("wv", kv_dim * dim, |w| &mut w.wv),
        ("wo", dim * dim, |w| &mut w.wo),
        ("rms_ffn", dim, |w| &mut w.rms_ffn),
        ("w1", hidden * dim, |w| &mut w.w1),
        ("w2", dim * hidden, |w| &mut w.w2),
        ("w3", hidden * dim, |w| &mut w.w3),
    ];
    for (name, len, field) in kinds {
        for (l, layer) in layers.iter_mut().enumerate() {
            *field(layer) = r.tensor(&format!("layer {l} {name}"), len)?;
        }
    }
    let rms_final = r.tensor("rms_final", dim)?;
    let freq = c.freq_cis_len() as usize;
    r.skip(2 * freq);
    let wcls = if c.shared_classifier {
        None
    } else {
        Some(r.tensor("wcls", vocab * dim)?)
    };
    Ok(Checkpoint {
        config,
        token_embedding,
        layers,
        rms_final,
        wcls,
    })
}

/// Serialise in the legacy format: positive vocab_size when the classifier is shared,
/// negative followed by `wcls` when not. The unused `freq_cis` tensors are written with
/// the RoPE cos/sin values llama2.c's exporter stores (`theta = 10000`). Parsing the result
/// gives back an equal checkpoint. Dimensions are written as int32; use validated shapes.
pub fn serialise(ck: &Checkpoint) -> Vec<u8> {
    let c = &ck.config;
    let mut out = Vec::with_capacity(c.file_bytes().min(1 << 34) as usize);
    out.extend_from_slice(&header_bytes(c));
    let mut put = |v: &[f32]| {
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    };
    put(&ck.token_embedding);
    type Get = fn(&LayerWeights) -> &[f32];
    let kinds: [Get; 9] = [
        |w| &w.rms_att,
        |w| &w.wq,
        |w| &w.wk,
        |w| &w.wv,
        |w| &w.wo,
        |w| &w.rms_ffn,
        |w| &w.w1,
        |w| &w.w2,
        |w| &w.w3,
    ];
    for get in kinds {
        for layer in &ck.layers {
            put(get(layer));
        }
    }
    put(&ck.rms_final);
    for_each_freq_cis(c, |x| out.extend_from_slice(&x.to_le_bytes()));
    if let Some(wcls) = &ck.wcls {
        for x in wcls {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// The 28-byte legacy header of `c` (vocab_size negated for a separate classifier).
pub(crate) fn header_bytes(c: &Config) -> [u8; HEADER_BYTES] {
    let vocab = if c.shared_classifier {
        c.vocab_size as i32
    } else {
        -(c.vocab_size as i32)
    };
    let mut out = [0u8; HEADER_BYTES];
    for (i, v) in [
        c.dim as i32,
        c.hidden_dim as i32,
        c.n_layers as i32,
        c.n_heads as i32,
        c.n_kv_heads as i32,
        vocab,
        c.seq_len as i32,
    ]
    .into_iter()
    .enumerate()
    {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// The unused `freq_cis_real` then `freq_cis_imag` tensors, value by value: the RoPE
/// cos/sin values llama2.c's exporter stores (`theta = 10000`, computed in f32 as its
/// PyTorch float32 code does).
pub(crate) fn for_each_freq_cis(c: &Config, mut f: impl FnMut(f32)) {
    let half = c.head_dim() / 2;
    let angle = |pos: usize, i: usize| {
        let freq = 1.0f32 / 10000f32.powf((2 * i) as f32 / c.head_dim() as f32);
        pos as f32 * freq
    };
    for p in 0..c.seq_len {
        for i in 0..half {
            f(angle(p, i).cos());
        }
    }
    for p in 0..c.seq_len {
        for i in 0..half {
            f(angle(p, i).sin());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    fn header(h: [i32; 7]) -> Vec<u8> {
        h.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Header followed by exactly as many zero bytes as the header implies (when valid).
    fn file_for(h: [i32; 7]) -> Vec<u8> {
        let mut b = header(h);
        if let Ok(c) = parse_header(&b, "t") {
            if validate_config(&c, "t").is_ok() {
                b.resize(c.file_bytes() as usize, 0);
            }
        }
        b
    }

    #[test]
    fn round_trip_shared_classifier() {
        let ck = synth::generate(&Config::TINY, 1);
        let bytes = ck.to_bytes();
        assert_eq!(bytes.len() as u128, Config::TINY.file_bytes());
        let back = Checkpoint::from_bytes(&bytes, "tiny").unwrap();
        assert_eq!(back, ck);
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn round_trip_separate_classifier() {
        let cfg = Config {
            shared_classifier: false,
            ..Config::TINY
        };
        let ck = synth::generate(&cfg, 2);
        assert!(ck.wcls.is_some());
        let bytes = ck.to_bytes();
        assert_eq!(
            i32::from_le_bytes(bytes[20..24].try_into().unwrap()),
            -(cfg.vocab_size as i32)
        );
        let back = Checkpoint::from_bytes(&bytes, "tiny").unwrap();
        assert_eq!(back, ck);
        assert_eq!(back.classifier(), ck.wcls.as_deref().unwrap());
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn truncated_header() {
        for n in [0, 4, 27] {
            let b = vec![0u8; n];
            let e = parse(&b, "short.bin").unwrap_err();
            assert!(
                matches!(e, ModelError::TruncatedHeader { actual, expected: 28, .. } if actual == n),
                "{e}"
            );
            assert!(e.to_string().contains("short.bin"));
        }
    }

    #[test]
    fn size_mismatch_both_ways() {
        let bytes = synth::generate(&Config::TINY, 3).to_bytes();
        let n = bytes.len() as u64;
        for b in [&bytes[..bytes.len() - 4], &[&bytes[..], &[0u8; 4]].concat()] {
            let e = parse(b, "m.bin").unwrap_err();
            match &e {
                ModelError::SizeMismatch {
                    expected, actual, ..
                } => {
                    assert_eq!(*expected, n);
                    assert_eq!(*actual, b.len() as u64);
                }
                _ => panic!("wrong variant: {e}"),
            }
            let msg = e.to_string();
            assert!(
                msg.contains("m.bin") && msg.contains(&n.to_string()),
                "{msg}"
            );
        }
        // Header only: the body is missing entirely.
        let e = parse(&bytes[..28], "m.bin").unwrap_err();
        assert!(matches!(e, ModelError::SizeMismatch { .. }), "{e}");
    }

    #[test]
    fn bad_dimensions() {
        let ok = [16, 32, 2, 4, 2, 32, 16];
        assert!(parse(&file_for(ok), "ok").is_ok());
        let cases: Vec<([i32; 7], &str)> = vec![
            ([0, 32, 2, 4, 2, 32, 16], "nonpositive"),
            ([16, -1, 2, 4, 2, 32, 16], "nonpositive"),
            ([16, 32, 0, 4, 2, 32, 16], "nonpositive"),
            ([16, 32, 2, 4, 2, 0, 16], "nonpositive"),
            ([16, 32, 2, 4, 2, 32, i32::MIN], "nonpositive"),
            ([1 << 21, 32, 2, 4, 2, 32, 16], "absurd"),
            ([16, 32, 2, 4, 2, 32, i32::MAX], "absurd"),
            ([16, 32, 2, 4, 2, i32::MIN + 1, 16], "absurd"),
            ([1 << 20, 1 << 20, 1000, 4, 2, 32, 16], "absurd"),
            ([18, 32, 2, 4, 2, 32, 16], "heads"),
            ([16, 32, 2, 4, 3, 32, 16], "kv"),
            ([16, 32, 2, 4, 8, 32, 16], "kv"),
            ([12, 32, 2, 4, 2, 32, 16], "odd"),
        ];
        for (h, kind) in cases {
            let e = parse(&file_for(h), "bad.bin").unwrap_err();
            let ok = match kind {
                "nonpositive" => matches!(e, ModelError::NonPositiveDimension { .. }),
                "absurd" => matches!(e, ModelError::AbsurdDimension { .. }),
                "heads" => matches!(e, ModelError::HeadsDoNotDivideDim { .. }),
                "kv" => matches!(e, ModelError::KvHeadsDoNotDivideHeads { .. }),
                "odd" => matches!(e, ModelError::OddHeadDim { .. }),
                _ => unreachable!(),
            };
            assert!(ok, "{h:?}: expected {kind}, got {e}");
            assert!(e.to_string().starts_with("bad.bin: "), "{e}");
        }
    }

    /// The named shapes are valid, Llama 2 7B's 6.7 billion parameters included; a shape
    /// just past the limit is refused as absurd.
    #[test]
    fn named_shapes_are_valid() {
        for c in [
            Config::TINY,
            Config::STORIES260K,
            Config::STORIES15M,
            Config::STORIES42M,
            Config::STORIES110M,
            Config::LLAMA2_7B,
        ] {
            c.validate("shape").unwrap_or_else(|e| panic!("{c:?}: {e}"));
        }
        assert!(Config::LLAMA2_7B.param_count() > 6_000_000_000);
        let big = Config {
            n_layers: 80,
            ..Config::LLAMA2_7B
        };
        assert!(big.param_count() > MAX_PARAMETERS);
        assert!(matches!(
            big.validate("big"),
            Err(ModelError::AbsurdDimension { .. })
        ));
    }

    #[test]
    fn non_finite_weight() {
        let ck = synth::generate(&Config::TINY, 4);
        let mut bytes = ck.to_bytes();
        // First float of layer 0's wq: after header, embedding and all rms_att tensors.
        let c = Config::TINY;
        let off = 28 + 4 * (c.vocab_size * c.dim + c.n_layers * c.dim);
        bytes[off..off + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let e = parse(&bytes, "nan.bin").unwrap_err();
        match &e {
            ModelError::NonFinite { tensor, index, .. } => {
                assert_eq!(tensor, "layer 0 wq");
                assert_eq!(*index, 0);
            }
            _ => panic!("wrong variant: {e}"),
        }
    }

    #[test]
    fn validate_catches_inconsistent_checkpoint() {
        let mut ck = synth::generate(&Config::TINY, 5);
        assert!(ck.validate("x").is_ok());
        ck.layers[1].w2.pop();
        assert!(matches!(ck.validate("x"), Err(ModelError::Invalid { .. })));
    }

    #[test]
    fn stories260k_header() {
        let Some(dir) = crate::testutil::models_dir() else {
            return;
        };
        let path = dir.join("stories260K.bin");
        let ck = Checkpoint::load(&path).unwrap();
        assert_eq!(ck.config, Config::STORIES260K);
        assert!(ck.wcls.is_none());
        assert_eq!(Config::STORIES260K.file_bytes(), 1_056_540);
        // Our writer stores the same cos/sin tables, so the file round-trips byte for byte
        // up to float rounding of those unused tables; the weights are exact.
        let again = Checkpoint::from_bytes(&ck.to_bytes(), "again").unwrap();
        assert_eq!(again, ck);
    }

    #[test]
    fn missing_file_is_io_error() {
        let e = Checkpoint::load(Path::new("/definitely/not/here.bin")).unwrap_err();
        assert!(matches!(e, ModelError::Io { .. }));
        assert!(e.to_string().contains("/definitely/not/here.bin"));
    }
}
