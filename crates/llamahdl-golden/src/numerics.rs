//! Integer arithmetic primitives shared by the golden model and (bit for bit) by the RTL.
//!
//! Every function here is written so that a hardware block can compute exactly the same
//! integers: shifts round half up, every narrowing saturates, and every non-linear
//! function is a table built in Rust at generation time. `docs/numerics.md` explains
//! the formats; the constants here are the single source of truth for them.

use std::sync::OnceLock;

/// Fraction bits of the activation format (Q16.16 in an i32).
pub const ACT_FRAC: i32 = 16;
/// One in Q16.16.
pub const ACT_ONE: i64 = 1 << ACT_FRAC;
/// Width of the matrix-vector accumulator (signed, saturating).
pub const ACC_BITS: u32 = 40;
/// Mantissa bits (sign excluded) of a matrix-vector input vector (block floating point).
pub const BLOCK16_BITS: u32 = 15;
/// Mantissa bits (sign excluded) of a key/value cache vector (11-bit signed entries).
pub const KV_MANT_BITS: u32 = 10;
/// Index bits (after the leading one) of the inverse-square-root table.
pub const RSQRT_BITS: u32 = 12;
/// Index bits of the 2^-f table used by exp.
pub const EXP2_BITS: u32 = 10;
/// Index bits (after the leading one) of the reciprocal table used by softmax.
pub const RECIP_BITS: u32 = 10;
/// log2(e) in Q16.16.
pub const LOG2E_Q16: i64 = 94548;
/// Sigmoid table: covers [-SIG_RANGE, SIG_RANGE) in steps of 2^-SIG_STEP_BITS.
pub const SIG_RANGE: i64 = 16;
pub const SIG_STEP_BITS: i32 = 6;
/// Fraction bits of the RoPE cos/sin table (1.0 = 65536, stored in 18-bit signed).
pub const ROPE_FRAC: i32 = 16;

/// Saturate `v` to a signed `bits`-bit integer.
#[inline]
pub fn sat(v: i64, bits: u32) -> i64 {
    let max = (1i64 << (bits - 1)) - 1;
    let min = -(1i64 << (bits - 1));
    v.clamp(min, max)
}

/// Saturate to i32.
#[inline]
pub fn sat32(v: i64) -> i32 {
    sat(v, 32) as i32
}

/// Multiply by 2^k: left shifts saturate to the i64 range, right shifts round half up
/// (add 2^(-k-1), then arithmetic shift). Shifts of 62 or more to the right give the
/// rounded result of an arithmetic shift by 62.
#[inline]
pub fn shift_round(v: i64, k: i32) -> i64 {
    if k >= 0 {
        if k >= 63 {
            return if v > 0 {
                i64::MAX
            } else if v < 0 {
                i64::MIN
            } else {
                0
            };
        }
        let r = (v as i128) << k;
        r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    } else {
        let s = (-k).min(62) as u32;
        let half = 1i128 << (s - 1);
        ((v as i128 + half) >> s) as i64
    }
}

/// Number of bits needed to hold the magnitude `m` (0 for 0).
#[inline]
pub fn bitlen(m: u64) -> u32 {
    64 - m.leading_zeros()
}

/// A vector in block floating point: `value_i = mant_i * 2^(shift - 16)`, i.e. the
/// Q16.16 integer is approximately `mant_i << shift`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub mant: Vec<i32>,
    pub shift: i32,
}

/// The block shift for a largest magnitude `m` and `bits` mantissa bits: the smallest
/// non-negative shift that brings `m` below `2^bits`, `max(bitlen(m) - bits, 0)`.
#[inline]
pub fn block_shift(m: u64, bits: u32) -> u32 {
    bitlen(m).saturating_sub(bits)
}

/// One block mantissa: `v / 2^shift` rounded half up, saturated to `±(2^bits - 1)`.
#[inline]
pub fn block_mant(v: i64, shift: u32, bits: u32) -> i64 {
    let lim = (1i64 << bits) - 1;
    shift_round(v, -(shift as i32)).clamp(-lim, lim)
}

/// Convert Q16.16 integers to a block with `bits` mantissa bits plus sign: the shift is
/// [`block_shift`] of the largest magnitude, each mantissa [`block_mant`].
pub fn to_block(x: &[i32], bits: u32) -> Block {
    let m = x.iter().map(|v| v.unsigned_abs() as u64).max().unwrap_or(0);
    let shift = block_shift(m, bits);
    let mant = x
        .iter()
        .map(|&v| block_mant(v as i64, shift, bits) as i32)
        .collect();
    Block {
        mant,
        shift: shift as i32,
    }
}

/// Matrix-vector input format: 15-bit mantissas + sign.
pub fn to_block16(x: &[i32]) -> Block {
    to_block(x, BLOCK16_BITS)
}

/// Key/value cache format: `KV_MANT_BITS` mantissa bits + sign, one shift per vector.
pub fn to_block_kv(x: &[i32]) -> Block {
    to_block(x, KV_MANT_BITS)
}

/// One quantised weight row applied to a block vector: `acc = sum q_j * mant_j` in an
/// ACC_BITS saturating accumulator, then `y = sat32(round(acc * scale_mant * 2^(scale_exp + shift)))`
/// as Q16.16. This is exactly what a projector lane computes.
#[inline]
pub fn dot_row(q: &[i8], scale_mant: u8, scale_exp: i8, x: &Block) -> i32 {
    let mut acc: i64 = 0;
    for (w, m) in q.iter().zip(x.mant.iter()) {
        acc = sat(acc + (*w as i64) * (*m as i64), ACC_BITS);
    }
    finish_row(acc, scale_mant, scale_exp, x.shift)
}

/// The rescaling step after accumulation (see [`dot_row`]).
#[inline]
pub fn finish_row(acc: i64, scale_mant: u8, scale_exp: i8, shift: i32) -> i32 {
    sat32(shift_round(
        acc * scale_mant as i64,
        scale_exp as i32 + shift,
    ))
}

/// Tables of the non-linear functions, built once.
pub struct Tables {
    /// `rsqrt[parity][f]`: 2^16 / sqrt(m) for the mantissa interval `f` (midpoint),
    /// m = 1.f (parity 0) or 2 * 1.f (parity 1).
    pub rsqrt: [Vec<u16>; 2],
    /// `exp2[j] = round(2^16 * 2^-((j + 0.5) / 2^EXP2_BITS))`.
    pub exp2: Vec<u32>,
    /// `recip[f] = round(2^16 / 1.f)` (midpoint of the interval).
    pub recip: Vec<u32>,
    /// `sigmoid[i] = round(2^16 * sigmoid(-SIG_RANGE + i * 2^-SIG_STEP_BITS))`, one extra
    /// entry at the top for interpolation.
    pub sigmoid: Vec<u32>,
}

impl Tables {
    fn build() -> Tables {
        let nr = 1usize << RSQRT_BITS;
        let rs = |par: usize| {
            (0..nr)
                .map(|f| {
                    let m = (1.0 + (f as f64 + 0.5) / nr as f64) * if par == 1 { 2.0 } else { 1.0 };
                    (65536.0 / m.sqrt()).round() as u16
                })
                .collect::<Vec<u16>>()
        };
        let ne = 1usize << EXP2_BITS;
        let exp2 = (0..ne)
            .map(|j| (65536.0 * (-(j as f64 + 0.5) / ne as f64).exp2()).round() as u32)
            .collect();
        let nc = 1usize << RECIP_BITS;
        let recip = (0..nc)
            .map(|f| (65536.0 / (1.0 + (f as f64 + 0.5) / nc as f64)).round() as u32)
            .collect();
        let steps = (2 * SIG_RANGE as usize) << SIG_STEP_BITS;
        let sigmoid = (0..=steps)
            .map(|i| {
                let x = -(SIG_RANGE as f64) + i as f64 / (1u64 << SIG_STEP_BITS) as f64;
                (65536.0 / (1.0 + (-x).exp())).round() as u32
            })
            .collect();
        Tables {
            rsqrt: [rs(0), rs(1)],
            exp2,
            recip,
            sigmoid,
        }
    }

    /// The process-wide tables.
    pub fn get() -> &'static Tables {
        static T: OnceLock<Tables> = OnceLock::new();
        T.get_or_init(Tables::build)
    }
}

/// Normalise a positive integer: returns (p, f) with `n = 1.f * 2^p`, `f` the `bits`
/// bits after the leading one (truncated).
#[inline]
pub fn normalise(n: u64, bits: u32) -> (u32, usize) {
    debug_assert!(n > 0);
    let p = bitlen(n) - 1;
    let f = if p >= bits {
        (n >> (p - bits)) & ((1 << bits) - 1)
    } else {
        (n << (bits - p)) & ((1 << bits) - 1)
    };
    (p, f as usize)
}

/// RMSNorm of a Q16.16 vector with gains `g` given as a block (`g_i = gm_i * 2^g_exp`,
/// the gains already multiplied by sqrt(dim) at quantisation time). Output Q16.16.
///
/// Steps: `b = to_block16(x)`; `n = sum b.mant_i^2`; `(p, f) = normalise(n)`;
/// `T = rsqrt[p & 1][f]`; `t_i = round(b.mant_i * T / 2^16)`;
/// `y_i = sat32(round(t_i * gm_i * 2^(g_exp - floor(p/2) + 16)))`.
/// llama2.c's eps (1e-5) is below the resolution of this format and is not added; an
/// all-zero input gives an all-zero output.
pub fn rmsnorm(x: &[i32], gm: &[i16], g_exp: i32) -> Vec<i32> {
    let b = to_block16(x);
    let n: u64 = b.mant.iter().map(|&m| (m as i64 * m as i64) as u64).sum();
    if n == 0 {
        return vec![0; x.len()];
    }
    let (p, f) = normalise(n, RSQRT_BITS);
    let t = Tables::get().rsqrt[(p & 1) as usize][f] as i64;
    let k = g_exp - (p / 2) as i32 + ACT_FRAC;
    b.mant
        .iter()
        .zip(gm)
        .map(|(&m, &g)| {
            let ti = shift_round(m as i64 * t, -16);
            sat32(shift_round(ti * g as i64, k))
        })
        .collect()
}

/// Unnormalised softmax weights of Q16.16 scores: `e_t ≈ 2^16 · exp(s_t − max)`.
///
/// `d_t = max - s_t`; `u = round(d_t * LOG2E_Q16 / 2^16)` (Q16.16);
/// `e_t = round(exp2[frac(u) >> (16 - EXP2_BITS)] / 2^int(u))` (0 when int(u) >= 32).
/// The maximum itself gives `exp2[0] > 0`, so the sum is never 0.
pub fn softmax_exp(scores: &[i32]) -> Vec<u32> {
    let mx = scores.iter().copied().max().unwrap_or(0);
    scores
        .iter()
        .map(|&s| exp_neg(mx as i64 - s as i64))
        .collect()
}

/// `round(2^16 · exp(−d / 2^16))` for `d >= 0` (Q16.16), with the table as in [`softmax_exp`].
#[inline]
pub fn exp_neg(d: i64) -> u32 {
    let u = shift_round(d * LOG2E_Q16, -16);
    let ip = u >> 16;
    let fr = (u & 0xFFFF) as usize;
    if ip >= 32 {
        0
    } else {
        let v = Tables::get().exp2[fr >> (16 - EXP2_BITS)] as i64;
        shift_round(v, -(ip as i32)) as u32
    }
}

/// Reciprocal of a positive integer: `(R, p)` with `1/z ≈ R · 2^(−16 − p)`,
/// `R = recip[f]` where `z = 1.f · 2^p` (10 bits of `f`).
#[inline]
pub fn recip(z: u64) -> (i64, i32) {
    let (p, f) = normalise(z.max(1), RECIP_BITS);
    (Tables::get().recip[f] as i64, p as i32)
}

/// Softmax weights (Q0.16, sum ≈ 65536): `p_t = round(e_t · R / 2^p)` with
/// `(R, p) = recip(Σ e_t)`. (The attention datapath normalises after the weighted sum
/// instead; this form is for tests and reports.)
pub fn softmax(scores: &[i32]) -> Vec<u32> {
    let e = softmax_exp(scores);
    let (r, pz) = recip(e.iter().map(|&v| v as u64).sum());
    e.iter()
        .map(|&v| shift_round(v as i64 * r, -pz) as u32)
        .collect()
}

/// SiLU of a Q16.16 value: `x * sigmoid(x)` with the sigmoid linearly interpolated in
/// a table over [-16, 16) (step 1/64); outside, 0 or 1.
pub fn silu(x: i32) -> i32 {
    let tb = Tables::get();
    let lo = -SIG_RANGE << ACT_FRAC;
    let hi = SIG_RANGE << ACT_FRAC;
    let xv = x as i64;
    let sig: i64 = if xv < lo {
        0
    } else if xv >= hi {
        ACT_ONE
    } else {
        let off = xv - lo; // >= 0
        let fbits = ACT_FRAC - SIG_STEP_BITS;
        let i = (off >> fbits) as usize;
        let fr = off & ((1 << fbits) - 1);
        let a = tb.sigmoid[i] as i64;
        let b = tb.sigmoid[i + 1] as i64;
        a + shift_round((b - a) * fr, -fbits)
    };
    sat32(shift_round(xv * sig, -ACT_FRAC))
}

/// Product of two Q16.16 values, Q16.16.
#[inline]
pub fn mul_q16(a: i32, b: i32) -> i32 {
    sat32(shift_round(a as i64 * b as i64, -ACT_FRAC))
}

/// Saturating Q16.16 add.
#[inline]
pub fn add_q16(a: i32, b: i32) -> i32 {
    sat32(a as i64 + b as i64)
}

/// Float to Q16.16 (round to nearest, saturate). Used only at image time and in tests.
pub fn q16_from_f64(v: f64) -> i32 {
    sat32(
        (v * ACT_ONE as f64)
            .round()
            .clamp(i64::MIN as f64, i64::MAX as f64) as i64,
    )
}

/// Q16.16 to float.
pub fn q16_to_f32(v: i32) -> f32 {
    (v as f64 / ACT_ONE as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_round_rounds_half_up_and_saturates() {
        assert_eq!(shift_round(5, -1), 3);
        assert_eq!(shift_round(-5, -1), -2);
        assert_eq!(shift_round(4, -2), 1);
        assert_eq!(shift_round(1, 62), 1 << 62);
        assert_eq!(shift_round(3, 62), i64::MAX);
        assert_eq!(shift_round(-3, 62), i64::MIN);
        assert_eq!(shift_round(-1, -100), 0);
    }

    #[test]
    fn blocks_fit_their_mantissa_and_approximate_the_input() {
        let x = [65536, -131072, 3, 0, 40000];
        let b = to_block16(&x);
        assert!(b.mant.iter().all(|m| m.abs() <= 32767));
        for (m, v) in b.mant.iter().zip(x) {
            let back = (*m as i64) << b.shift;
            assert!((back - v as i64).abs() <= 1 << b.shift);
        }
        let bk = to_block_kv(&x);
        assert!(bk.mant.iter().all(|m| m.abs() < 1 << KV_MANT_BITS));
        assert_eq!(to_block_kv(&[0, 0]).shift, 0);
    }

    #[test]
    fn rmsnorm_matches_float_within_resolution() {
        let xs: Vec<f64> = (0..64)
            .map(|i| ((i * 37 % 23) as f64 - 11.0) * 0.37)
            .collect();
        let x: Vec<i32> = xs.iter().map(|&v| q16_from_f64(v)).collect();
        let ms = xs.iter().map(|v| v * v).sum::<f64>() / 64.0;
        let inv = 1.0 / (ms + 1e-5).sqrt();
        // gains 1.0 * sqrt(64) = 8 as block: gm = 16384, exp = -11
        let y = rmsnorm(&x, &vec![16384; 64], -11);
        for (yi, xi) in y.iter().zip(&xs) {
            let want = xi * inv;
            assert!(
                (q16_to_f32(*yi) as f64 - want).abs() < 0.01 * want.abs().max(0.1),
                "{yi} {want}"
            );
        }
    }

    #[test]
    fn softmax_sums_to_one_and_orders() {
        let s: Vec<i32> = [0.5, -1.0, 2.0, 2.0, -30.0]
            .iter()
            .map(|&v| q16_from_f64(v))
            .collect();
        let p = softmax(&s);
        let sum: u32 = p.iter().sum();
        assert!((sum as i64 - 65536).abs() < 64, "{sum}");
        assert_eq!(p[2], p[3]);
        assert!(p[0] > p[1] && p[2] > p[0]);
        let fl: Vec<f64> = [0.5f64, -1.0, 2.0, 2.0, -30.0]
            .iter()
            .map(|v| v.exp())
            .collect();
        let z: f64 = fl.iter().sum();
        for (pi, f) in p.iter().zip(fl) {
            assert!((*pi as f64 / 65536.0 - f / z).abs() < 2e-3);
        }
    }

    #[test]
    fn silu_matches_float() {
        for i in -400..400 {
            let v = i as f64 * 0.05;
            let want = v / (1.0 + (-v).exp());
            let got = q16_to_f32(silu(q16_from_f64(v))) as f64;
            assert!((got - want).abs() < 2e-3, "{v}: {got} vs {want}");
        }
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;

    #[test]
    fn block_shift_and_mant_edges() {
        // The shift brings the magnitude below 2^bits, and no smaller shift would.
        for m in [0u64, 1, 32767, 32768, 65535, 1 << 31, u32::MAX as u64] {
            let s = block_shift(m, 15);
            assert!(m >> s < 1 << 15, "m {m}");
            assert!(s == 0 || m >> (s - 1) >= 1 << 15, "m {m}");
        }
        assert_eq!(block_mant(3, 1, 15), 2); // 1.5 rounds half up
        assert_eq!(block_mant(-3, 1, 15), -1); // -1.5 rounds half up
        assert_eq!(block_mant(i32::MIN as i64, 16, 15), -32767); // saturated to ±(2^15 - 1)
        assert_eq!(block_mant(70000, 0, 15), 32767);
        let b = to_block(&[40000, -3, 12], 15);
        assert_eq!((b.shift, b.mant.clone()), (1, vec![20000, -1, 6]));
    }
}
