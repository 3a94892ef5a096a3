//! An image back into the golden model's quantised tensors.

use crate::error::ImageError;
use crate::format::{get32, Region, RegionKind};
use crate::verify::{verify, Image};
use llamahdl_golden::quant::{rope_table, QGains, QLayer, QMatrix};
use llamahdl_golden::QuantModel;

/// The bytes of region `r` of `bytes` (a verified image).
pub fn region_bytes<'a>(bytes: &'a [u8], r: &Region) -> &'a [u8] {
    &bytes[r.offset as usize..(r.offset + r.length) as usize]
}

/// The matrix of a verified matrix region.
fn matrix(b: &[u8], r: &Region) -> QMatrix {
    let (rows, cols) = (r.rows as usize, r.row_bytes as usize);
    let mut q = Vec::with_capacity(rows * cols);
    let (mut mant, mut exp) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for i in 0..r.rows {
        let at = r.row_at(i) as usize;
        q.extend(b[at..at + cols].iter().map(|&x| x as i8));
        let s = r.scale_at(i) as usize;
        mant.push(b[s]);
        exp.push(b[s + 1] as i8);
    }
    QMatrix {
        rows,
        cols,
        q,
        mant,
        exp,
    }
}

/// The gains of a verified gains region (one block: the exponent's word, then the row).
fn gains(b: &[u8], r: &Region) -> QGains {
    let at = r.row_at(0) as usize;
    QGains {
        mant: b[at..at + r.row_bytes as usize]
            .chunks_exact(2)
            .map(|m| i16::from_le_bytes([m[0], m[1]]))
            .collect(),
        exp: get32(b, 0) as i32,
    }
}

/// The quantised model held by `bytes`, verified first (`what` names it in errors). The
/// RoPE table is not in the image: it is computed from the shape, as the golden model does.
pub fn decode(bytes: &[u8], what: &str) -> Result<(QuantModel, Image), ImageError> {
    let image = verify(&mut &bytes[..], what)?;
    Ok((decode_verified(bytes, &image), image))
}

/// The quantised model of an image that [`verify`] accepted.
pub fn decode_verified(bytes: &[u8], image: &Image) -> QuantModel {
    let c = image.header.config;
    let get = |kind: RegionKind, layer: Option<u16>| {
        let r = image
            .region(kind, layer)
            .expect("a verified image has every planned region");
        (region_bytes(bytes, r), r)
    };
    let mat = |kind, layer| {
        let (b, r) = get(kind, layer);
        matrix(b, r)
    };
    let gain = |kind, layer| {
        let (b, r) = get(kind, layer);
        gains(b, r)
    };
    let layers = (0..c.n_layers as u16)
        .map(|l| QLayer {
            rms_att: gain(RegionKind::RmsAtt, Some(l)),
            wqkv: mat(RegionKind::Wqkv, Some(l)),
            wo: mat(RegionKind::Wo, Some(l)),
            rms_ffn: gain(RegionKind::RmsFfn, Some(l)),
            w1: mat(RegionKind::W1, Some(l)),
            w2: mat(RegionKind::W2, Some(l)),
            w3: mat(RegionKind::W3, Some(l)),
        })
        .collect();
    QuantModel {
        config: c,
        mode: image.header.quant.scale_mode,
        embedding: mat(RegionKind::Embedding, None),
        layers,
        rms_final: gain(RegionKind::RmsFinal, None),
        wcls: (!c.shared_classifier).then(|| mat(RegionKind::Classifier, None)),
        rope: rope_table(&c),
    }
}
