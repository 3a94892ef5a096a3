//! The bit-exact integer golden model: computes exactly what the RTL computes, step by
//! step, with the primitives of [`crate::numerics`]. It is the oracle of every RTL test.
//!
//! Per position (`docs/numerics.md` has the formats):
//! 1. `x = embedding row of token` (Q16.16).
//! 2. Per layer: `xb = rmsnorm(x)`; `[q; k; v] = Wqkv · block16(xb)`; RoPE on q and k
//!    (table in Q1.16); k and v stored in the cache as 11-bit blocks (one shift per head);
//!    per query head: `score_t = q·k_t` (16-bit q block times 11-bit k mantissas),
//!    `e_t = exp(score_t − max)` from a table, `acc = Σ e_t v_t` with each `e_t` aligned to
//!    the largest v shift, then `out = acc / Σ e_t` (table reciprocal); `x += Wo · out`; `xb = rmsnorm(x)`;
//!    `x += W2 · (silu(W1 xb) * (W3 xb))`.
//! 3. `logits = Wcls · rmsnorm(x)` (Q16.16), greedy = first maximum.

use crate::numerics::{self, add_q16, mul_q16, sat32, shift_round, to_block16, to_block_kv};
use crate::quant::QuantModel;
use llamahdl_model::generate::Forward;
use llamahdl_model::{Config, ModelError};

/// One layer's key/value cache: per position, per kv head, `head_dim` mantissas of
/// `KV_MANT_BITS` bits plus sign and one shift (Q16.16 value ≈ mant << shift).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvCache {
    /// Key mantissas, `[pos][kv_head][head_dim]` flattened.
    pub k: Vec<i32>,
    /// Key block shifts, `[pos][kv_head]`.
    pub k_shift: Vec<u8>,
    /// Value mantissas, as `k`.
    pub v: Vec<i32>,
    /// Value block shifts, as `k_shift`.
    pub v_shift: Vec<u8>,
}

/// Store position `pos`'s keys and values (the k and v parts of a QKV vector, after
/// RoPE) in `cache` as key/value blocks, one per kv head. Positions are written in order;
/// re-running an earlier position truncates the cache there.
pub fn kv_store(cache: &mut KvCache, c: &Config, k: &[i32], v: &[i32], pos: usize) {
    let (hd, nkv) = (c.head_dim(), c.n_kv_heads);
    let keep = pos * nkv;
    cache.k.truncate(keep * hd);
    cache.v.truncate(keep * hd);
    cache.k_shift.truncate(keep);
    cache.v_shift.truncate(keep);
    for h in 0..nkv {
        let kb = to_block_kv(&k[h * hd..(h + 1) * hd]);
        let vb = to_block_kv(&v[h * hd..(h + 1) * hd]);
        cache.k.extend(kb.mant.iter().copied());
        cache.v.extend(vb.mant.iter().copied());
        cache.k_shift.push(kb.shift as u8);
        cache.v_shift.push(vb.shift as u8);
    }
}

/// Attention of the query vector `q` (all heads, after RoPE) over cache positions
/// `0..=pos`; returns the attention output (dim, Q16.16). See `docs/numerics.md`.
pub fn attend(cache: &KvCache, c: &Config, q: &[i32], pos: usize) -> Vec<i32> {
    let (dim, hd, nh, nkv) = (c.dim, c.head_dim(), c.n_heads, c.n_kv_heads);
    let kv_mul = c.kv_mul();
    let mut att = vec![0i32; dim];
    for h in 0..nh {
        let kh = h / kv_mul;
        let qb = to_block16(&q[h * hd..(h + 1) * hd]);
        let scores: Vec<i32> = (0..=pos)
            .map(|t| {
                let e = t * nkv + kh;
                let kt = &cache.k[e * hd..(e + 1) * hd];
                let dot: i64 = qb
                    .mant
                    .iter()
                    .zip(kt)
                    .map(|(&a, &b)| a as i64 * b as i64)
                    .sum();
                sat32(shift_round(dot, qb.shift + cache.k_shift[e] as i32 - 16))
            })
            .collect();
        let e = numerics::softmax_exp(&scores);
        let smax = (0..=pos)
            .map(|t| cache.v_shift[t * nkv + kh] as i32)
            .max()
            .unwrap_or(0);
        let mut acc = vec![0i64; hd];
        let mut z = 0u64;
        for (t, &et) in e.iter().enumerate() {
            let idx = t * nkv + kh;
            z += et as u64;
            let w = shift_round(et as i64, cache.v_shift[idx] as i32 - smax);
            for (a, &vm) in acc.iter_mut().zip(&cache.v[idx * hd..(idx + 1) * hd]) {
                *a += w * vm as i64;
            }
        }
        let (r, pz) = numerics::recip(z);
        for (o, a) in att[h * hd..(h + 1) * hd].iter_mut().zip(acc) {
            *o = sat32(shift_round(a * r, smax - 16 - pz));
        }
    }
    att
}

/// The integer golden model with its key/value cache.
pub struct Golden {
    pub model: QuantModel,
    cache: Vec<KvCache>,
    logits: Vec<i32>,
}

/// Apply RoPE in place to consecutive pairs of `v` (each head of `head_dim`).
pub fn rope(v: &mut [i32], table: &[i32], pos: usize, head_dim: usize) {
    let half = head_dim / 2;
    for (i, pair) in v.chunks_exact_mut(2).enumerate() {
        let j = i % half;
        let c = table[(pos * half + j) * 2] as i64;
        let s = table[(pos * half + j) * 2 + 1] as i64;
        let (a, b) = (pair[0] as i64, pair[1] as i64);
        pair[0] = sat32(shift_round(a * c - b * s, -numerics::ROPE_FRAC));
        pair[1] = sat32(shift_round(a * s + b * c, -numerics::ROPE_FRAC));
    }
}

impl Golden {
    pub fn new(model: QuantModel) -> Golden {
        let n = model.config.n_layers;
        Golden {
            model,
            cache: vec![KvCache::default(); n],
            logits: Vec::new(),
        }
    }

    /// Layer `l`'s key/value cache (positions run so far).
    pub fn cache(&self, l: usize) -> &KvCache {
        &self.cache[l]
    }

    /// The integer (Q16.16) logits of the last forward pass.
    pub fn logits_q16(&self) -> &[i32] {
        &self.logits
    }

    /// Greedy choice on the exact integer logits (first maximum).
    pub fn argmax_q16(&self) -> u32 {
        let mut best = 0;
        for (i, &v) in self.logits.iter().enumerate() {
            if v > self.logits[best] {
                best = i;
            }
        }
        best as u32
    }

    /// The Q/K/V projection of one layer for the normalised input `xb` (Q16.16):
    /// `Wqkv · block16(xb)`, before RoPE. This is what the QKV projector block computes.
    pub fn qkv_projection(&self, layer: usize, xb: &[i32]) -> Vec<i32> {
        self.model.layers[layer].wqkv.matvec(xb)
    }

    /// Run one position; returns the Q16.16 logits.
    pub fn forward_q16(&mut self, token: u32, pos: usize) -> Result<&[i32], ModelError> {
        let c = self.model.config;
        if pos >= c.seq_len {
            return Err(ModelError::PositionOutOfRange {
                what: "golden model".to_string(),
                pos,
                seq_len: c.seq_len,
            });
        }
        if token as usize >= c.vocab_size {
            return Err(ModelError::TokenOutOfRange {
                what: "golden model".to_string(),
                token: token as u64,
                vocab_size: c.vocab_size,
            });
        }
        if pos == 0 {
            for kv in &mut self.cache {
                *kv = KvCache::default();
            }
        }
        let (dim, hd, nkv) = (c.dim, c.head_dim(), c.n_kv_heads);
        let mut x = self.model.embedding.row_q16(token as usize);
        for (l, layer) in self.model.layers.iter().enumerate() {
            let xb = numerics::rmsnorm(&x, &layer.rms_att.mant, layer.rms_att.exp);
            let mut qkv = layer.wqkv.matvec(&xb);
            let (q, rest) = qkv.split_at_mut(dim);
            let (k, v) = rest.split_at_mut(nkv * hd);
            rope(q, &self.model.rope, pos, hd);
            rope(k, &self.model.rope, pos, hd);
            kv_store(&mut self.cache[l], &c, k, v, pos);
            let att = attend(&self.cache[l], &c, q, pos);
            let o = layer.wo.matvec(&att);
            for (xi, oi) in x.iter_mut().zip(o) {
                *xi = add_q16(*xi, oi);
            }
            let xb = numerics::rmsnorm(&x, &layer.rms_ffn.mant, layer.rms_ffn.exp);
            let h1 = layer.w1.matvec(&xb);
            let h3 = layer.w3.matvec(&xb);
            let hb: Vec<i32> = h1
                .iter()
                .zip(&h3)
                .map(|(&a, &b)| mul_q16(numerics::silu(a), b))
                .collect();
            let y = layer.w2.matvec(&hb);
            for (xi, yi) in x.iter_mut().zip(y) {
                *xi = add_q16(*xi, yi);
            }
        }
        let xf = numerics::rmsnorm(&x, &self.model.rms_final.mant, self.model.rms_final.exp);
        self.logits = self.model.classifier().matvec(&xf);
        Ok(&self.logits)
    }
}

impl Forward for Golden {
    fn forward(&mut self, token: u32, pos: usize) -> Result<Vec<f32>, ModelError> {
        let l = self.forward_q16(token, pos)?;
        Ok(l.iter().map(|&v| numerics::q16_to_f32(v)).collect())
    }

    fn argmax(&self, _logits: &[f32]) -> u32 {
        self.argmax_q16()
    }

    fn seq_len(&self) -> Option<usize> {
        Some(self.model.config.seq_len)
    }
}
