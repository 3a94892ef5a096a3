//! Writing an image from a quantised model.
//!
//! The layout comes from [`crate::layout::plan`]. The regions are produced twice, a bus
//! word of prefix or a row at a time: once into a CRC-32 each (the header and table come
//! first in the file and hold those CRCs), then into the output. Nothing but one row and
//! one word is held beyond the model itself, and the same model and flags always give the
//! same bytes.

use crate::error::{ImageError, Problem};
use crate::format::{Region, RegionKind, HEADER_BYTES};
use crate::layout::{plan, Plan};
use llamahdl_golden::quant::{QGains, QMatrix};
use llamahdl_golden::QuantModel;
use std::io::Write;

/// The matrix a matrix region holds.
fn matrix<'a>(qm: &'a QuantModel, r: &Region) -> Option<&'a QMatrix> {
    let layer = |l: Option<u16>| l.and_then(|l| qm.layers.get(l as usize));
    match r.kind {
        RegionKind::Embedding => Some(&qm.embedding),
        RegionKind::Classifier => qm.wcls.as_ref(),
        RegionKind::Wqkv => layer(r.layer).map(|l| &l.wqkv),
        RegionKind::Wo => layer(r.layer).map(|l| &l.wo),
        RegionKind::W1 => layer(r.layer).map(|l| &l.w1),
        RegionKind::W3 => layer(r.layer).map(|l| &l.w3),
        RegionKind::W2 => layer(r.layer).map(|l| &l.w2),
        RegionKind::RmsAtt | RegionKind::RmsFfn | RegionKind::RmsFinal => None,
    }
}

/// The gain vector a gains region holds.
fn gains<'a>(qm: &'a QuantModel, r: &Region) -> Option<&'a QGains> {
    let layer = |l: Option<u16>| l.and_then(|l| qm.layers.get(l as usize));
    match r.kind {
        RegionKind::RmsAtt => layer(r.layer).map(|l| &l.rms_att),
        RegionKind::RmsFfn => layer(r.layer).map(|l| &l.rms_ffn),
        RegionKind::RmsFinal => Some(&qm.rms_final),
        _ => None,
    }
}

/// Feed region `r`'s bytes (`r.length` of them) to `sink`, a piece at a time.
fn emit_region(
    qm: &QuantModel,
    r: &Region,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), Problem> {
    let unwritable = |what: String| Problem::Unwritable(format!("region {}: {what}", r.name()));
    let io = |e: std::io::Error| Problem::Unwritable(e.to_string());
    let prefix = r.prefix_bytes() as usize;
    let mut word = vec![0u8; prefix];
    let mut row = vec![0u8; r.row_stride as usize];
    if r.kind.is_gains() {
        let g = gains(qm, r).ok_or_else(|| unwritable("the model has no such gains".into()))?;
        if g.mant.len() * 2 != r.row_bytes as usize {
            return Err(unwritable(format!(
                "{} gains where the shape needs {}",
                g.mant.len(),
                r.row_bytes / 2
            )));
        }
        let exp = i8::try_from(g.exp).map_err(|_| {
            unwritable(format!(
                "gain exponent {} is outside -128..=127 (the decoder holds an i8)",
                g.exp
            ))
        })?;
        word[..4].copy_from_slice(&(exp as i32).to_le_bytes());
        sink(&word).map_err(io)?;
        for (d, m) in row.chunks_exact_mut(2).zip(&g.mant) {
            d.copy_from_slice(&m.to_le_bytes());
        }
        return sink(&row).map_err(io);
    }
    let m = matrix(qm, r).ok_or_else(|| unwritable("the model has no such matrix".into()))?;
    if m.rows != r.rows as usize || m.cols != r.row_bytes as usize {
        return Err(unwritable(format!(
            "the matrix is {}x{} where the shape needs {}x{}",
            m.rows, m.cols, r.rows, r.row_bytes
        )));
    }
    // Block by block: the word of the block's row scales (unused slots 0), then its rows.
    let per_block = r.block_rows as usize;
    for k in 0..r.blocks() as usize {
        let first = k * per_block;
        let rows = first..first + r.rows_in_block(k as u64) as usize;
        word.fill(0);
        for (d, i) in word.chunks_exact_mut(2).zip(rows.clone()) {
            d[0] = m.mant[i];
            d[1] = m.exp[i] as u8;
        }
        sink(&word).map_err(io)?;
        for i in rows {
            for (d, &q) in row.iter_mut().zip(m.row(i)) {
                *d = q as u8;
            }
            sink(&row).map_err(io)?;
        }
    }
    Ok(())
}

/// The image's plan with every CRC filled in (no bytes are written).
pub fn plan_with_crcs(qm: &QuantModel, lanes: u32, bus_bits: u32) -> Result<Plan, Problem> {
    let mut p = plan(&qm.config, lanes, bus_bits, qm.mode)?;
    for r in &mut p.regions {
        let mut h = crc32fast::Hasher::new();
        emit_region(qm, r, &mut |b| {
            h.update(b);
            Ok(())
        })?;
        r.crc32 = h.finalize();
    }
    let table = table_bytes(&p);
    p.header.table_crc = crc32fast::hash(&table);
    Ok(p)
}

/// The bytes from the table offset to the first region: the entries, zero-padded.
fn table_bytes(p: &Plan) -> Vec<u8> {
    let mut t = Vec::with_capacity((p.header.data_offset - p.header.table_offset) as usize);
    for r in &p.regions {
        t.extend_from_slice(&r.encode());
    }
    t.resize((p.header.data_offset - p.header.table_offset) as usize, 0);
    t
}

/// Write the image of `qm` for `lanes` lanes and a `bus_bits`-bit bus to `out` (`what`
/// names it in errors). Returns its plan, CRCs filled in.
pub fn write_image(
    qm: &QuantModel,
    lanes: u32,
    bus_bits: u32,
    out: &mut dyn Write,
    what: &str,
) -> Result<Plan, ImageError> {
    let p = plan_with_crcs(qm, lanes, bus_bits).map_err(|e| ImageError::invalid(what, e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
    let fail = |e: std::io::Error| ImageError::io(what, e);
    w.write_all(&p.header.encode()).map_err(fail)?;
    debug_assert_eq!(p.header.table_offset, HEADER_BYTES as u64);
    w.write_all(&table_bytes(&p)).map_err(fail)?;
    let mut err = None;
    for r in &p.regions {
        emit_region(qm, r, &mut |b| {
            w.write_all(b).map_err(|e| {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                err.get_or_insert(e);
                copy
            })
        })
        .map_err(|e| match err.take() {
            Some(io) => fail(io),
            None => ImageError::invalid(what, e),
        })?;
    }
    w.flush().map_err(fail)?;
    Ok(p)
}

/// The image of `qm` as bytes.
pub fn image_bytes(qm: &QuantModel, lanes: u32, bus_bits: u32) -> Result<Vec<u8>, ImageError> {
    let mut v = Vec::new();
    write_image(qm, lanes, bus_bits, &mut v, "image")?;
    Ok(v)
}
