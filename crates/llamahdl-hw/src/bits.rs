//! Conversions between rust-hdl's `Bits`/`Signed` values and Rust integers, without going
//! through rust-hdl's big-integer paths (hot in native simulation), and the small integer
//! helpers the blocks' constructors share. The one home of these: blocks, tests and the
//! engine all use them from here.

use rust_hdl::prelude::*;

/// Bits of every on-chip address the decoder's blocks carry: vector-memory words, weight
/// ROM words and rows, matrix-vector input elements, program counter and fields, QKV
/// stream beats. The 16-bit limits of a model (see `decoder::limits::check_fits`) follow
/// from it.
pub const ADDR_BITS: usize = 16;
/// Words an [`ADDR_BITS`]-bit address space holds.
pub const ADDR_SPACE: usize = 1 << ADDR_BITS;
/// An on-chip address (or an element count / index within one address space).
pub type Addr = Bits<ADDR_BITS>;
/// Bits of a token id.
pub const TOKEN_BITS: usize = 16;
/// A token id.
pub type Token = Bits<TOKEN_BITS>;
/// Bits of a position.
pub const POS_BITS: usize = 16;
/// A position in the sequence.
pub type Pos = Bits<POS_BITS>;

/// Read a `Signed<N>` (N <= 64) as i64 without going through big integers.
#[inline]
pub fn s2i<const N: usize>(v: Signed<N>) -> i64 {
    let u = v.inner().to_u64();
    if N == 64 {
        u as i64
    } else {
        let shift = 64 - N as u32;
        ((u << shift) as i64) >> shift
    }
}

/// Build a `Signed<N>` (N <= 64) from the low N bits of `v` (two's complement wrap).
#[inline]
pub fn i2s<const N: usize>(v: i64) -> Signed<N> {
    let mask = if N == 64 { u64::MAX } else { (1u64 << N) - 1 };
    signed_cast(Bits::<N>::from((v as u64) & mask))
}

/// Build `Bits<N>` (N <= 64) from the low N bits of `v`.
#[inline]
pub fn u2b<const N: usize>(v: u64) -> Bits<N> {
    let mask = if N == 64 { u64::MAX } else { (1u64 << N) - 1 };
    Bits::<N>::from(v & mask)
}

/// Sign-extend the low `bits` bits of `raw` (a two's complement pattern) to `i128`.
pub fn sign_extend(raw: u128, bits: usize) -> i128 {
    if bits == 0 || bits >= 128 {
        return raw as i128;
    }
    let shift = 128 - bits;
    ((raw << shift) as i128) >> shift
}

/// `Signed<N>` from an `i64`, checked (rust-hdl's `Signed::from` silently wraps).
pub fn signed_of<const N: usize>(v: i64) -> Signed<N> {
    let lo = -(1i128 << (N - 1));
    let hi = (1i128 << (N - 1)) - 1;
    assert!(
        (v as i128) >= lo && (v as i128) <= hi,
        "{v} does not fit Signed<{N}>"
    );
    Signed::<N>::from(v)
}

/// All-ones mask of the low `w` bits (`w` up to 64).
pub fn mask(w: usize) -> u64 {
    if w >= 64 {
        u64::MAX
    } else {
        (1u64 << w) - 1
    }
}

/// Sign-extend the low `w` bits of `v` (1 <= `w` <= 64).
pub fn sext(v: u64, w: usize) -> i64 {
    let s = 64 - w as u32;
    ((v << s) as i64) >> s
}

/// Smallest `b` with `2^b >= n` (0 for n <= 1).
pub fn ceil_log2(n: usize) -> usize {
    (usize::BITS - n.saturating_sub(1).leading_zeros()) as usize
}

/// Address bits of a memory of `depth` words: `ceil_log2(depth)`, at least 1.
pub fn index_bits(depth: usize) -> usize {
    ceil_log2(depth).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_helpers() {
        assert_eq!(s2i(signed_of::<8>(-128)), -128);
        assert_eq!(s2i(signed_of::<8>(127)), 127);
        assert_eq!(sign_extend(0xff, 8), -1);
        assert_eq!(sign_extend(0x7f, 8), 127);
    }

    #[test]
    fn widths() {
        assert_eq!(s2i(i2s::<8>(200)), -56);
        assert_eq!(u2b::<4>(0x1f).to_u64(), 0xf);
        assert_eq!((mask(3), mask(64)), (7, u64::MAX));
        assert_eq!(sext(0x80, 8), -128);
        assert_eq!(
            (ceil_log2(1), ceil_log2(2), ceil_log2(3), ceil_log2(4)),
            (0, 1, 2, 2)
        );
        assert_eq!((index_bits(1), index_bits(5)), (1, 3));
    }
}

/// `bytes` (little-endian: byte `j` in bits `8j+7..8j`) as a `Bits<N>` (`N = 8 * len`).
pub fn bits_of_bytes<const N: usize>(bytes: &[u8]) -> Bits<N> {
    assert_eq!(bytes.len() * 8, N, "bits_of_bytes: {} bytes", bytes.len());
    let mut v = Bits::<N>::default();
    for (k, chunk) in bytes.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        if N <= 64 {
            return Bits::<N>::from(x);
        }
        v.set_bits::<64>(64 * k, x.into());
    }
    v
}

/// The bytes of a `Bits<N>` (inverse of [`bits_of_bytes`]).
pub fn bytes_of_bits<const N: usize>(v: Bits<N>) -> Vec<u8> {
    let mut out = Vec::with_capacity(N / 8);
    if N <= 64 {
        out.extend_from_slice(&v.to_u64().to_le_bytes()[..N / 8]);
        return out;
    }
    for k in 0..N / 64 {
        out.extend_from_slice(&v.get_bits::<64>(64 * k).to_u64().to_le_bytes());
    }
    out
}
