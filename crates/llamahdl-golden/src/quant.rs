//! Weight quantisation, done in Rust at generation/image time (never in hardware).
//!
//! Matrices: int8 per weight (±127) with one scale per row, `scale = mant * 2^exp`,
//! `mant` in 128..=255 and `exp` an i8 ([`ScaleMode::Mant8`]); [`ScaleMode::Pow2`] pins
//! `mant` to 128, which is a power-of-two scale per row. RMSNorm gains are multiplied by
//! sqrt(dim) and stored as a 16-bit block; `Wq` rows are multiplied by 1/sqrt(head_dim)
//! so attention scores need no division.

use crate::numerics::{self, sat32, shift_round};
use llamahdl_model::{Checkpoint, Config};

/// How row scales are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScaleMode {
    /// `scale = 128 * 2^exp` (a power of two).
    Pow2,
    /// `scale = mant * 2^exp`, mant 128..=255 (8-bit scale mantissa).
    Mant8,
}

/// A row-quantised matrix `[rows, cols]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QMatrix {
    pub rows: usize,
    pub cols: usize,
    /// Row-major int8 weights.
    pub q: Vec<i8>,
    pub mant: Vec<u8>,
    pub exp: Vec<i8>,
}

impl QMatrix {
    /// Quantise a row-major float matrix; each row is multiplied by `gain` first.
    pub fn quantise(w: &[f32], rows: usize, cols: usize, gain: f64, mode: ScaleMode) -> QMatrix {
        assert_eq!(w.len(), rows * cols);
        let mut q = Vec::with_capacity(rows * cols);
        let mut mant = Vec::with_capacity(rows);
        let mut exp = Vec::with_capacity(rows);
        for r in 0..rows {
            let row: Vec<f64> = w[r * cols..(r + 1) * cols]
                .iter()
                .map(|&v| v as f64 * gain)
                .collect();
            let amax = row.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            let (m, e) = row_scale(amax, mode);
            let s = m as f64 * (e as f64).exp2();
            for v in &row {
                q.push((v / s).round().clamp(-127.0, 127.0) as i8);
            }
            mant.push(m);
            exp.push(e);
        }
        QMatrix {
            rows,
            cols,
            q,
            mant,
            exp,
        }
    }

    pub fn row(&self, r: usize) -> &[i8] {
        &self.q[r * self.cols..(r + 1) * self.cols]
    }

    /// Float value of one weight.
    pub fn value(&self, r: usize, c: usize) -> f64 {
        self.q[r * self.cols + c] as f64 * self.mant[r] as f64 * (self.exp[r] as f64).exp2()
    }

    /// `y = W x` for a Q16.16 vector `x` (converted to a 16-bit block first).
    pub fn matvec(&self, x: &[i32]) -> Vec<i32> {
        let b = numerics::to_block16(x);
        (0..self.rows)
            .map(|r| numerics::dot_row(self.row(r), self.mant[r], self.exp[r], &b))
            .collect()
    }

    /// Row `r` as a Q16.16 vector (the embedding lookup).
    pub fn row_q16(&self, r: usize) -> Vec<i32> {
        let k = self.exp[r] as i32 + numerics::ACT_FRAC;
        self.row(r)
            .iter()
            .map(|&q| sat32(shift_round(q as i64 * self.mant[r] as i64, k)))
            .collect()
    }

    /// Rows `start..end` as their own matrix.
    pub fn slice_rows(&self, start: usize, end: usize) -> QMatrix {
        QMatrix {
            rows: end - start,
            cols: self.cols,
            q: self.q[start * self.cols..end * self.cols].to_vec(),
            mant: self.mant[start..end].to_vec(),
            exp: self.exp[start..end].to_vec(),
        }
    }

    /// Rows of `self` followed by the rows of `other`.
    pub fn stack(parts: &[&QMatrix]) -> QMatrix {
        let cols = parts[0].cols;
        assert!(parts.iter().all(|p| p.cols == cols));
        QMatrix {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols,
            q: parts.iter().flat_map(|p| p.q.iter().copied()).collect(),
            mant: parts.iter().flat_map(|p| p.mant.iter().copied()).collect(),
            exp: parts.iter().flat_map(|p| p.exp.iter().copied()).collect(),
        }
    }
}

/// The scale (mant, exp) for a row whose largest magnitude is `amax`: the smallest scale of
/// the form allowed by `mode` with `amax / scale <= 127`.
pub fn row_scale(amax: f64, mode: ScaleMode) -> (u8, i8) {
    if amax == 0.0 || !amax.is_finite() {
        return (128, 0);
    }
    let f = amax / 127.0;
    // mant * 2^exp >= f with mant in 128..=255.
    let mut e = f.log2().floor() as i32 - 7;
    let mant = match mode {
        ScaleMode::Pow2 => {
            while 128.0 * (e as f64).exp2() < f {
                e += 1;
            }
            while e > -128 && 128.0 * ((e - 1) as f64).exp2() >= f {
                e -= 1;
            }
            128
        }
        ScaleMode::Mant8 => {
            let mut m = (f / (e as f64).exp2()).ceil();
            if m > 255.0 {
                e += 1;
                m = (f / (e as f64).exp2()).ceil();
            }
            if m < 128.0 {
                m = 128.0;
            }
            m as u8
        }
    };
    (mant, e.clamp(-128, 127) as i8)
}

/// A vector of RMSNorm gains as a 16-bit block: `g_i = mant_i * 2^exp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QGains {
    pub mant: Vec<i16>,
    pub exp: i32,
}

impl QGains {
    /// Quantise `g_i * scale` with the largest magnitude using the full 15 bits.
    pub fn quantise(g: &[f32], scale: f64) -> QGains {
        let v: Vec<f64> = g.iter().map(|&x| x as f64 * scale).collect();
        let amax = v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let exp = if amax == 0.0 {
            0
        } else {
            (amax / 32767.0).log2().ceil() as i32
        };
        let mant = v
            .iter()
            .map(|x| (x / (exp as f64).exp2()).round().clamp(-32767.0, 32767.0) as i16)
            .collect();
        QGains { mant, exp }
    }
}

/// One layer, quantised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QLayer {
    pub rms_att: QGains,
    /// `[Wq / sqrt(head_dim); Wk; Wv]`: `qkv_rows` rows of `dim`. This row order is the
    /// order of the weight stream the QKV loader receives.
    pub wqkv: QMatrix,
    pub wo: QMatrix,
    pub rms_ffn: QGains,
    pub w1: QMatrix,
    pub w2: QMatrix,
    pub w3: QMatrix,
}

/// A whole model in hardware formats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantModel {
    pub config: Config,
    pub mode: ScaleMode,
    pub embedding: QMatrix,
    pub layers: Vec<QLayer>,
    pub rms_final: QGains,
    /// Separate classifier; `None` when it is the embedding.
    pub wcls: Option<QMatrix>,
    /// RoPE table: for position p and pair j (0..head_dim/2), `rope[(p * hd/2 + j) * 2]`
    /// is cos and `+1` is sin, in Q1.16 (1.0 = 65536).
    pub rope: Vec<i32>,
}

impl QuantModel {
    pub fn quantise(ck: &Checkpoint, mode: ScaleMode) -> QuantModel {
        let c = ck.config;
        let (dim, hd, kvd, hid) = (c.dim, c.head_dim(), c.kv_dim(), c.hidden_dim);
        let sq_dim = (dim as f64).sqrt();
        let qk_gain = 1.0 / (hd as f64).sqrt();
        let layers = ck
            .layers
            .iter()
            .map(|l| {
                let wq = QMatrix::quantise(&l.wq, dim, dim, qk_gain, mode);
                let wk = QMatrix::quantise(&l.wk, kvd, dim, 1.0, mode);
                let wv = QMatrix::quantise(&l.wv, kvd, dim, 1.0, mode);
                QLayer {
                    rms_att: QGains::quantise(&l.rms_att, sq_dim),
                    wqkv: QMatrix::stack(&[&wq, &wk, &wv]),
                    wo: QMatrix::quantise(&l.wo, dim, dim, 1.0, mode),
                    rms_ffn: QGains::quantise(&l.rms_ffn, sq_dim),
                    w1: QMatrix::quantise(&l.w1, hid, dim, 1.0, mode),
                    w2: QMatrix::quantise(&l.w2, dim, hid, 1.0, mode),
                    w3: QMatrix::quantise(&l.w3, hid, dim, 1.0, mode),
                }
            })
            .collect();
        QuantModel {
            config: c,
            mode,
            embedding: QMatrix::quantise(&ck.token_embedding, c.vocab_size, dim, 1.0, mode),
            layers,
            rms_final: QGains::quantise(&ck.rms_final, sq_dim),
            wcls: ck
                .wcls
                .as_ref()
                .map(|w| QMatrix::quantise(w, c.vocab_size, dim, 1.0, mode)),
            rope: rope_table(&c),
        }
    }

    pub fn classifier(&self) -> &QMatrix {
        self.wcls.as_ref().unwrap_or(&self.embedding)
    }
}

/// cos/sin table computed in f32 exactly as run.c does, rounded to Q1.16.
pub fn rope_table(c: &Config) -> Vec<i32> {
    let hd = c.head_dim();
    let mut t = Vec::with_capacity(c.seq_len * hd);
    for pos in 0..c.seq_len {
        for j in 0..hd / 2 {
            let freq = 1.0f32 / 10000.0f32.powf((2 * j) as f32 / hd as f32);
            let val = pos as f32 * freq;
            t.push(numerics::q16_from_f64(val.cos() as f64));
            t.push(numerics::q16_from_f64(val.sin() as f64));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_scale_covers_the_row_maximum() {
        for &a in &[1e-6, 0.003, 0.1, 0.5, 1.0, 3.7, 100.0] {
            for mode in [ScaleMode::Pow2, ScaleMode::Mant8] {
                let (m, e) = row_scale(a, mode);
                let s = m as f64 * (e as f64).exp2();
                assert!(a / s <= 127.0 + 1e-9, "{a} {mode:?}");
                assert!(a / s > 63.0, "{a} {mode:?} wastes range");
                if mode == ScaleMode::Mant8 {
                    assert!(a / s > 126.0, "{a}: {}", a / s);
                }
            }
        }
    }

    #[test]
    fn quantised_matvec_is_close_to_float() {
        let rows = 5;
        let cols = 32;
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 61) as f32 - 30.0) / 97.0)
            .collect();
        let x: Vec<f64> = (0..cols)
            .map(|i| ((i * 31 % 17) as f64 - 8.0) / 3.0)
            .collect();
        let xq: Vec<i32> = x.iter().map(|&v| numerics::q16_from_f64(v)).collect();
        let qm = QMatrix::quantise(&w, rows, cols, 1.0, ScaleMode::Mant8);
        let y = qm.matvec(&xq);
        for r in 0..rows {
            let want: f64 = (0..cols).map(|c| w[r * cols + c] as f64 * x[c]).sum();
            let got = numerics::q16_to_f32(y[r]) as f64;
            assert!((got - want).abs() < 0.02, "row {r}: {got} vs {want}");
        }
    }
}
