//! Where everything goes: the one function ([`plan`]) that both the writer and the
//! verifier use, so that an image is valid exactly when it is laid out as written.
//!
//! Regions follow each other without gaps from the first bus word after the region
//! table, in the order the decoder consumes them for a token:
//!
//! 1. the embedding (read at random, one row per token);
//! 2. per layer `l`: `rms_att`, `wqkv`, `wo`, `rms_ffn`, `w1`, `w3`, `w2`;
//! 3. `rms_final`;
//! 4. the classifier, when it is not the embedding (when it is, the decoder reads the
//!    embedding region again, row by row).
//!
//! Every region is a run of blocks: one bus word of prefix, then `block_rows` rows of
//! `row_stride` bytes each (the last block may have fewer rows). A row is its data
//! zero-padded to a whole number of lane words and then of bus words.
//!
//! - A streamed matrix (QKV, Wo, W1, W3, W2, a separate classifier) has blocks of
//!   `W / 2` rows (`W` the bus word's bytes), so the prefix word holds exactly their row
//!   scales, 2 bytes each: one sequential read delivers every scale a word ahead of the
//!   rows it belongs to, and the decoder holds one or two words of scales, never the
//!   whole matrix's.
//! - The embedding has blocks of one row: token `t`'s scale word and row are one
//!   contiguous range at a fixed stride, fetched in one burst.
//! - A gains region is one block of one row: the exponent's word, then the `dim` 16-bit
//!   mantissas.

use crate::error::Problem;
use crate::format::{
    Header, Quant, Region, RegionKind, BUS_BITS, ENTRY_BYTES, HEADER_BYTES, MAX_LANES, NO_LAYER,
};
use llamahdl_golden::ScaleMode;
use llamahdl_model::Config;

/// `v` rounded up to a multiple of `m` (a power of two).
pub fn round_up(v: u64, m: u64) -> u64 {
    v.div_ceil(m) * m
}

/// An image's header and region table with every CRC still 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The header (its `table_crc` 0).
    pub header: Header,
    /// The regions in table order (their `crc32` 0).
    pub regions: Vec<Region>,
}

/// The (kind, layer) of every region, in table order.
pub fn region_order(c: &Config) -> Vec<(RegionKind, Option<u16>)> {
    let mut v = vec![(RegionKind::Embedding, None)];
    for l in 0..c.n_layers {
        let l = Some(l as u16);
        for k in RegionKind::LAYER {
            v.push((k, l));
        }
    }
    v.push((RegionKind::RmsFinal, None));
    if !c.shared_classifier {
        v.push((RegionKind::Classifier, None));
    }
    v
}

/// `(rows, cols)` of a matrix kind's matrix for shape `c`.
pub fn matrix_shape(c: &Config, kind: RegionKind) -> (usize, usize) {
    match kind {
        RegionKind::Embedding | RegionKind::Classifier => (c.vocab_size, c.dim),
        RegionKind::Wqkv => (c.qkv_rows(), c.dim),
        RegionKind::Wo => (c.dim, c.dim),
        RegionKind::W1 | RegionKind::W3 => (c.hidden_dim, c.dim),
        RegionKind::W2 => (c.dim, c.hidden_dim),
        RegionKind::RmsAtt | RegionKind::RmsFfn | RegionKind::RmsFinal => (1, c.dim),
    }
}

/// Rows per block of a region of `kind` on a bus of `word` bytes: one row for the
/// embedding (read at random, a token's scale and row together) and for gains; for the
/// streamed matrices as many rows as one word holds scales (2 bytes each).
pub fn block_rows(kind: RegionKind, word: u64) -> u64 {
    match kind {
        RegionKind::Embedding | RegionKind::RmsAtt | RegionKind::RmsFfn | RegionKind::RmsFinal => 1,
        RegionKind::Wqkv
        | RegionKind::Wo
        | RegionKind::W1
        | RegionKind::W3
        | RegionKind::W2
        | RegionKind::Classifier => word / 2,
    }
}

/// The layout of an image of shape `c` for `lanes` lanes and a `bus_bits`-bit bus.
///
/// `c` must be a valid shape ([`Config::validate`]); then every size fits its field (the
/// shape limits keep rows and columns below 2^22). `lanes` must be a power of two up to
/// [`MAX_LANES`] and `bus_bits` one of [`BUS_BITS`].
pub fn plan(c: &Config, lanes: u32, bus_bits: u32, mode: ScaleMode) -> Result<Plan, Problem> {
    c.validate("shape")
        .map_err(|e| Problem::BadShape(e.to_string()))?;
    if c.n_layers >= NO_LAYER as usize {
        return Err(Problem::BadShape(format!(
            "n_layers {} exceeds the image format's limit of {} (a region's layer is 16 bits)",
            c.n_layers,
            NO_LAYER - 1
        )));
    }
    if !lanes.is_power_of_two() || lanes > MAX_LANES {
        return Err(Problem::BadField {
            field: "lanes",
            value: lanes as i64,
            reason: format!("it must be a power of two from 1 to {MAX_LANES}"),
        });
    }
    if !BUS_BITS.contains(&bus_bits) {
        return Err(Problem::BadField {
            field: "bus_bits",
            value: bus_bits as i64,
            reason: format!("it must be one of {BUS_BITS:?}"),
        });
    }
    let word = bus_bits as u64 / 8;
    let order = region_order(c);
    let table_offset = HEADER_BYTES as u64;
    let data_offset = round_up(table_offset + (ENTRY_BYTES * order.len()) as u64, word);
    let mut at = data_offset;
    let mut regions = Vec::with_capacity(order.len());
    for (kind, layer) in order {
        let (rows, cols) = matrix_shape(c, kind);
        let (rows, cols) = (rows as u64, cols as u64);
        let (row_bytes, row_stride) = if kind.is_gains() {
            (2 * cols, round_up(2 * cols, word))
        } else {
            // A row is whole lane words, then whole bus words: both are powers of two, so
            // that is a whole number of the larger.
            (cols, round_up(cols, word.max(lanes as u64)))
        };
        let block_rows = block_rows(kind, word);
        let block_stride = word + block_rows * row_stride;
        let length = rows.div_ceil(block_rows) * word + rows * row_stride;
        regions.push(Region {
            kind,
            layer,
            rows: rows as u32,
            row_bytes: row_bytes as u32,
            row_stride: row_stride as u32,
            block_rows: block_rows as u32,
            block_stride: block_stride as u32,
            offset: at,
            length,
            crc32: 0,
        });
        at += length;
    }
    Ok(Plan {
        header: Header {
            config: *c,
            lanes,
            bus_bits,
            quant: Quant::v1(mode),
            region_count: regions.len() as u32,
            table_offset,
            data_offset,
            image_bytes: at,
            table_crc: 0,
        },
        regions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stories260k_at_32_lanes_and_512_bits() {
        let c = Config::STORIES260K;
        let p = plan(&c, 32, 512, ScaleMode::Mant8).unwrap();
        // 1 + 7 per layer + final gains; the classifier is shared.
        assert_eq!(p.regions.len(), 1 + 7 * 5 + 1);
        assert_eq!(p.header.data_offset, 128 + round_up(48 * 37, 64));
        let e = &p.regions[0];
        assert_eq!(
            (e.kind, e.rows, e.row_bytes, e.row_stride),
            (RegionKind::Embedding, 512, 64, 64)
        );
        // One row a block: token t's scale word and row are 128 contiguous bytes.
        assert_eq!(
            (e.block_rows, e.block_stride, e.length),
            (1, 128, 512 * 128)
        );
        assert_eq!((e.scale_at(5), e.row_at(5)), (5 * 128, 5 * 128 + 64));
        let w2 = &p.regions[7];
        assert_eq!((w2.kind, w2.layer), (RegionKind::W2, Some(0)));
        // 172 columns: 6 lane words of 32 = 192 bytes, 3 bus words; 32 rows a block.
        assert_eq!((w2.rows, w2.row_bytes, w2.row_stride), (64, 172, 192));
        assert_eq!((w2.block_rows, w2.block_stride), (32, 64 + 32 * 192));
        assert_eq!(w2.length, 2 * 64 + 64 * 192);
        // Row 33 is the second row of the second block; its scale is that block's slot 1.
        assert_eq!(w2.scale_at(33), w2.block_stride as u64 + 2);
        assert_eq!(w2.row_at(33), w2.block_stride as u64 + 64 + 192);
        // 172 rows of W1: 5 full blocks and one of 12.
        let w1 = &p.regions[5];
        assert_eq!((w1.blocks(), w1.rows_in_block(5)), (6, 12));
        assert_eq!(w1.length, 6 * 64 + 172 * 64);
        let g = &p.regions[1];
        assert_eq!(
            (
                g.kind,
                g.rows,
                g.row_bytes,
                g.row_stride,
                g.block_rows,
                g.block_stride
            ),
            (RegionKind::RmsAtt, 1, 128, 128, 1, 192)
        );
        for r in &p.regions {
            assert_eq!(r.prefix_bytes(), 64, "{}", r.name());
            assert_eq!(
                r.length,
                r.blocks() * 64 + r.rows as u64 * r.row_stride as u64
            );
        }
        for w in p.regions.windows(2) {
            assert_eq!(w[0].offset + w[0].length, w[1].offset);
        }
        let last = p.regions.last().unwrap();
        assert_eq!(last.offset + last.length, p.header.image_bytes);
    }

    #[test]
    fn lanes_wider_than_the_bus_pad_rows_to_lane_words() {
        // 64 lanes on a 64-bit bus: a row of 48 is one 64-byte lane word (8 bus words).
        let c = Config::ODD;
        let p = plan(&c, 64, 64, ScaleMode::Mant8).unwrap();
        assert_eq!(p.regions[0].row_stride, 64);
        // 4 lanes on a 512-bit bus: a row of 48 fills one 64-byte bus word.
        let p = plan(&c, 4, 512, ScaleMode::Mant8).unwrap();
        assert_eq!(p.regions[0].row_stride, 64);
        assert_eq!(p.regions.last().unwrap().kind, RegionKind::Classifier);
        assert!(plan(&c, 3, 512, ScaleMode::Mant8).is_err());
        assert!(plan(&c, 32, 100, ScaleMode::Mant8).is_err());
    }
}
