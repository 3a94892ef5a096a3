//! The weight image: round trips against the golden model's quantised tensors, the byte
//! layout of rows, scales and gains, reproducibility, and every kind of bad image
//! (truncated, bit flips, forged headers and tables whose CRCs were recomputed, bad
//! values) refused with its typed error and never a panic. Synthetic models always run;
//! the real stories260K runs when LLAMAHDL_MODELS is set.

use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_image::format::{ENTRY_BYTES, HEADER_BYTES};
use llamahdl_image::{decode, image_bytes, verify, Image, Problem, RegionKind, RegionProblem};
use llamahdl_model::{synth, testutil, Config};

fn quantised(c: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(c, seed), ScaleMode::Mant8)
}

fn check(bytes: &[u8]) -> Result<Image, Problem> {
    verify(&mut &bytes[..], "img").map_err(|e| {
        let msg = e.to_string();
        assert!(msg.starts_with("img: "), "{msg}");
        e.problem().cloned().expect("not an I/O error")
    })
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn get64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Byte offset of table entry `i`.
fn entry(i: usize) -> usize {
    HEADER_BYTES + i * ENTRY_BYTES
}

/// Recompute the table's and the header's CRC-32 (what a forger, or a buggy host
/// writer, would produce).
fn reseal(b: &mut [u8]) {
    // The header's own data_offset, when it lies in the file (a forged one may not).
    let data = (get64(b, 80).min(b.len() as u64) as usize).max(HEADER_BYTES);
    let t = crc32fast::hash(&b[HEADER_BYTES..data]);
    put32(b, 96, t);
    let h = crc32fast::hash(&b[..HEADER_BYTES - 4]);
    put32(b, HEADER_BYTES - 4, h);
}

/// Recompute region `i`'s CRC-32, then [`reseal`].
fn reseal_region(b: &mut [u8], i: usize) {
    let e = entry(i);
    let (off, len) = (get64(b, e + 24) as usize, get64(b, e + 32) as usize);
    let c = crc32fast::hash(&b[off..off + len]);
    put32(b, e + 40, c);
    reseal(b);
}

fn region_problem(p: Problem) -> (usize, String, RegionProblem) {
    match p {
        Problem::Region {
            index,
            name,
            problem,
        } => (index, name, problem),
        other => panic!("not a region problem: {other}"),
    }
}

#[test]
fn every_layout_round_trips_to_the_quantised_model() {
    let shapes = [Config::TINY, Config::ODD, Config::STORIES260K];
    for (i, c) in shapes.iter().enumerate() {
        let qm = quantised(c, 3 + i as u64);
        for lanes in [4, 8, 16, 32, 64] {
            for bus in [64, 128, 256, 512] {
                let bytes = image_bytes(&qm, lanes, bus).unwrap();
                let (back, image) = decode(&bytes, "img").unwrap();
                assert!(
                    back == qm,
                    "{c:?} lanes {lanes} bus {bus}: decoded model differs"
                );
                assert_eq!(image.header.image_bytes, bytes.len() as u64);
                let word = bus as u64 / 8;
                for r in &image.regions {
                    assert_eq!(r.offset % word, 0);
                    assert_eq!(r.row_stride as u64 % word, 0);
                    assert_eq!(r.prefix_bytes(), word);
                    let random_access = r.kind.is_gains() || r.kind == RegionKind::Embedding;
                    let s = if random_access { 1 } else { word / 2 };
                    assert_eq!(r.block_rows as u64, s, "{}", r.name());
                    if !r.kind.is_gains() {
                        assert_eq!(r.row_stride % lanes, 0);
                    }
                }
                // The same model and flags give the same bytes.
                assert!(image_bytes(&qm, lanes, bus).unwrap() == bytes);
            }
        }
    }
}

#[test]
fn rows_scales_and_gains_sit_where_the_format_says() {
    let c = Config::ODD;
    let qm = quantised(&c, 9);
    // 32 lanes, 128-bit bus: a 48-column row is 2 lane words (64 bytes, 4 bus words).
    let bytes = image_bytes(&qm, 32, 128).unwrap();
    let image = check(&bytes).unwrap();
    let kinds: Vec<(RegionKind, Option<u16>)> =
        image.regions.iter().map(|r| (r.kind, r.layer)).collect();
    assert_eq!(kinds[0], (RegionKind::Embedding, None));
    assert_eq!(
        kinds[1..8],
        [
            (RegionKind::RmsAtt, Some(0)),
            (RegionKind::Wqkv, Some(0)),
            (RegionKind::Wo, Some(0)),
            (RegionKind::RmsFfn, Some(0)),
            (RegionKind::W1, Some(0)),
            (RegionKind::W3, Some(0)),
            (RegionKind::W2, Some(0)),
        ]
    );
    assert_eq!(kinds[kinds.len() - 2], (RegionKind::RmsFinal, None));
    assert_eq!(kinds[kinds.len() - 1], (RegionKind::Classifier, None));

    // Streamed matrices: blocks of 8 rows (a 16-byte word holds 8 scales), each the word
    // of scales, then the 8 rows: 16 + 8 * 64 bytes.
    let block = 16 + 8 * 64;
    let r = image.region(RegionKind::Wqkv, Some(1)).unwrap();
    assert_eq!(
        (r.rows as usize, r.row_bytes, r.row_stride),
        (c.qkv_rows(), 48, 64)
    );
    assert_eq!((r.block_rows, r.block_stride), (8, block as u32));
    let m = &qm.layers[1].wqkv;
    for row in [0, 5, 7, 8, 13, c.qkv_rows() - 1] {
        let base = r.offset as usize + row / 8 * block;
        let at = base + 16 + row % 8 * 64;
        assert_eq!(at as u64, r.row_offset(row as u32));
        let want: Vec<u8> = m.row(row).iter().map(|&q| q as u8).collect();
        assert_eq!(&bytes[at..at + 48], &want[..], "row {row}");
        assert!(bytes[at + 48..at + 64].iter().all(|&b| b == 0));
        let s = base + 2 * (row % 8);
        assert_eq!(s as u64, r.scale_offset(row as u32));
        assert_eq!((bytes[s], bytes[s + 1] as i8), (m.mant[row], m.exp[row]));
    }
    // The classifier's 300 rows: 37 full blocks, then one of 4 whose other 4 scale slots
    // are 0; the region ends with that block's last row.
    let k = image.region(RegionKind::Classifier, None).unwrap();
    assert_eq!(k.length as usize, 38 * 16 + 300 * 64);
    let last = k.offset as usize + 37 * block;
    let w = qm.wcls.as_ref().unwrap();
    for j in 0..4 {
        assert_eq!(bytes[last + 2 * j], w.mant[296 + j]);
        assert_eq!(bytes[last + 2 * j + 1] as i8, w.exp[296 + j]);
    }
    assert!(bytes[last + 8..last + 16].iter().all(|&b| b == 0));
    // The embedding: one row a block, so token t's scale word and row are one contiguous
    // range of 16 + 64 bytes at a fixed stride.
    let e = image.region(RegionKind::Embedding, None).unwrap();
    assert_eq!((e.block_rows, e.block_stride), (1, 80));
    let base = e.offset as usize + 299 * 80;
    let want: Vec<u8> = qm.embedding.row(299).iter().map(|&q| q as u8).collect();
    assert_eq!(&bytes[base + 16..base + 16 + 48], &want[..]);
    assert_eq!(
        (bytes[base], bytes[base + 1] as i8),
        (qm.embedding.mant[299], qm.embedding.exp[299])
    );
    assert!(bytes[base + 2..base + 16].iter().all(|&b| b == 0));
    // Gains: the exponent in the first bus word, then the 16-bit mantissas.
    let g = image.region(RegionKind::RmsFfn, Some(2)).unwrap();
    let o = g.offset as usize;
    assert_eq!(get32(&bytes, o) as i32, qm.layers[2].rms_ffn.exp);
    assert_eq!(
        (g.block_rows, g.block_stride, g.length),
        (1, 16 + 96, 16 + 96)
    );
    for (i, &m) in qm.layers[2].rms_ffn.mant.iter().enumerate() {
        let a = o + 16 + 2 * i;
        assert_eq!(i16::from_le_bytes([bytes[a], bytes[a + 1]]), m);
    }
}

#[test]
fn the_real_model_round_trips() {
    let Some(ck) = testutil::stories260k() else {
        return;
    };
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    for (lanes, bus) in [(32, 512), (64, 128), (8, 64)] {
        let bytes = image_bytes(&qm, lanes, bus).unwrap();
        let (back, image) = decode(&bytes, "img").unwrap();
        assert!(back == qm, "lanes {lanes} bus {bus}");
        assert_eq!(image.regions.len(), 1 + 7 * 5 + 1);
    }
}

#[test]
fn truncated_images_are_refused() {
    let qm = quantised(&Config::TINY, 1);
    let bytes = image_bytes(&qm, 8, 64).unwrap();
    let n = bytes.len();
    let lengths = (0..300).chain((300..n).step_by(97)).chain([n - 1]);
    for len in lengths {
        match check(&bytes[..len]) {
            Err(Problem::Truncated { needed, actual, .. }) => {
                assert_eq!(actual, len as u64);
                let want = if len < HEADER_BYTES { HEADER_BYTES } else { n };
                assert_eq!(needed, want as u64, "cut at {len}");
            }
            other => panic!("cut at {len}: {other:?}"),
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        check(&longer).unwrap_err(),
        Problem::TrailingBytes {
            expected: n as u64,
            actual: n as u64 + 1
        }
    );
}

#[test]
fn every_flipped_byte_is_caught() {
    let qm = quantised(&Config::TINY, 2);
    let bytes = image_bytes(&qm, 16, 128).unwrap();
    let image = check(&bytes).unwrap();
    for at in (0..bytes.len()).step_by(7).chain(0..HEADER_BYTES) {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        let p = check(&b).unwrap_err();
        let ok = match at {
            0..=7 => matches!(p, Problem::BadMagic { .. }),
            8..=11 => matches!(p, Problem::UnknownVersion { .. }),
            _ if at < HEADER_BYTES => matches!(p, Problem::HeaderCrc { .. }),
            _ if (at as u64) < image.header.data_offset => matches!(p, Problem::TableCrc { .. }),
            _ => {
                let (index, _, rp) = region_problem(p.clone());
                let r = &image.regions[index];
                (r.offset..r.offset + r.length).contains(&(at as u64))
                    && matches!(rp, RegionProblem::Crc { .. })
            }
        };
        assert!(ok, "byte {at}: {p}");
    }
}

#[test]
fn a_region_crc_mismatch_names_the_region() {
    let qm = quantised(&Config::TINY, 2);
    let mut b = image_bytes(&qm, 16, 128).unwrap();
    let image = check(&b).unwrap();
    let r = image.region(RegionKind::W1, Some(1)).unwrap();
    let index = image.regions.iter().position(|x| x == r).unwrap();
    b[r.row_offset(3) as usize] ^= 1;
    let e = verify(&mut &b[..], "m.img").unwrap_err().to_string();
    let want = format!(
        "m.img: region {index} (layer 1 w1): CRC-32 mismatch (stored 0x{:08x}, computed 0x",
        r.crc32
    );
    assert!(e.starts_with(&want), "{e}");
}

/// Forged headers: CRCs recomputed, so the field checks themselves are reached.
#[test]
fn forged_headers_are_refused_by_field() {
    let qm = quantised(&Config::TINY, 4);
    let good = image_bytes(&qm, 8, 64).unwrap();
    let forge = |at: usize, v: u64, wide: bool| {
        let mut b = good.clone();
        if wide {
            put64(&mut b, at, v);
        } else {
            put32(&mut b, at, v as u32);
        }
        reseal(&mut b);
        check(&b).unwrap_err()
    };
    let field = |p: Problem| match p {
        Problem::BadField { field, .. } => field,
        other => panic!("{other}"),
    };
    let mut b = good.clone();
    b[..8].copy_from_slice(b"GGUF\0\0\0\0");
    assert!(matches!(check(&b).unwrap_err(), Problem::BadMagic { .. }));
    assert_eq!(forge(8, 2, false), Problem::UnknownVersion { found: 2 });
    assert!(matches!(forge(16, 0, false), Problem::BadShape(s) if s.contains("dim is 0")));
    assert!(matches!(forge(16, 30, false), Problem::BadShape(s) if s.contains("divisible")));
    assert!(matches!(forge(24, 1 << 30, false), Problem::BadShape(_)));
    assert_eq!(field(forge(12, 64, false)), "header_bytes");
    assert_eq!(field(forge(44, 6, false)), "flags");
    assert_eq!(field(forge(48, 3, false)), "lanes");
    assert_eq!(field(forge(48, 1 << 20, false)), "lanes");
    assert_eq!(field(forge(52, 100, false)), "bus_bits");
    assert_eq!(field(forge(56, 4, false)), "weight_bits");
    assert_eq!(field(forge(57, 7, false)), "scale_mode");
    assert_eq!(field(forge(64, u32::MAX as u64, false)), "region_count");
    assert_eq!(field(forge(72, 0, true)), "table_offset");
    assert_eq!(field(forge(80, u64::MAX, true)), "data_offset");
    assert_eq!(field(forge(88, u64::MAX, true)), "image_bytes");
    assert_eq!(field(forge(88, 64, true)), "image_bytes");
    assert!(field(forge(100, 1, false)).starts_with("reserved"));
    // Another bus width in the header: the sizes it implies disagree with the header's.
    assert_eq!(field(forge(52, 512, false)), "image_bytes");
    // A forged shape that is valid but not the image's.
    assert_eq!(field(forge(24, 3, false)), "region_count");
}

/// Forged tables: the entry checks in their order.
#[test]
fn forged_tables_are_refused_by_entry() {
    let c = Config::ODD;
    let qm = quantised(&c, 5);
    let good = image_bytes(&qm, 32, 64).unwrap();
    let image = check(&good).unwrap();
    let n = good.len() as u64;
    let forge = |i: usize, at: usize, v: u64, wide: bool| {
        let mut b = good.clone();
        if wide {
            put64(&mut b, entry(i) + at, v);
        } else {
            put32(&mut b, entry(i) + at, v as u32);
        }
        reseal(&mut b);
        region_problem(check(&b).unwrap_err())
    };
    let r3 = image.regions[3];
    let (i, name, p) = forge(3, 24, r3.offset + 1, true);
    assert_eq!((i, name.as_str()), (3, "layer 0 wo"));
    assert_eq!(
        p,
        RegionProblem::Misaligned {
            offset: r3.offset + 1,
            word: 8
        }
    );
    assert!(matches!(
        forge(3, 32, r3.length + 4, true).2,
        RegionProblem::RaggedLength { .. }
    ));
    assert!(matches!(
        forge(3, 24, u64::MAX - 7, true).2,
        RegionProblem::PastEnd { .. }
    ));
    assert!(matches!(
        forge(3, 32, u64::MAX - 7, true).2,
        RegionProblem::PastEnd { .. }
    ));
    assert!(matches!(
        forge(3, 24, n, true).2,
        RegionProblem::PastEnd { .. }
    ));
    let (_, _, p) = forge(3, 24, image.regions[2].offset, true);
    assert!(
        matches!(&p, RegionProblem::Overlap { previous, .. } if previous == "region 2 (layer 0 wqkv)"),
        "{p}"
    );
    let (_, _, p) = forge(0, 24, 64, true);
    assert!(
        matches!(&p, RegionProblem::Overlap { previous, .. } if previous == "the region table"),
        "{p}"
    );
    assert!(matches!(
        forge(3, 24, r3.offset + 64, true).2,
        RegionProblem::Gap { .. }
    ));
    assert!(matches!(
        forge(3, 32, r3.length - 64, true).2,
        RegionProblem::Field {
            field: "length",
            ..
        }
    ));
    assert!(matches!(
        forge(3, 4, 7, false).2,
        RegionProblem::Field { field: "rows", .. }
    ));
    assert!(matches!(
        forge(3, 8, 47, false).2,
        RegionProblem::Field {
            field: "row_bytes",
            ..
        }
    ));
    assert!(matches!(
        forge(3, 12, 128, false).2,
        RegionProblem::Field {
            field: "row_stride",
            ..
        }
    ));
    assert!(matches!(
        forge(3, 16, 1, false).2,
        RegionProblem::Field {
            field: "block_rows",
            ..
        }
    ));
    assert!(matches!(
        forge(3, 20, r3.block_stride as u64 + 8, false).2,
        RegionProblem::Field {
            field: "block_stride",
            ..
        }
    ));
    assert!(matches!(
        forge(3, 44, 1, false).2,
        RegionProblem::Reserved { .. }
    ));
    // Kinds: unknown, swapped (w3 where w1 must be), another layer.
    let mut b = good.clone();
    b[entry(5)] = 99;
    reseal(&mut b);
    let (_, name, p) = region_problem(check(&b).unwrap_err());
    assert_eq!(
        (name.as_str(), p),
        ("layer 0 kind 99", RegionProblem::UnknownKind(99))
    );
    let mut b = good.clone();
    b[entry(5)] = RegionKind::W3.code() as u8;
    reseal(&mut b);
    let (_, _, p) = region_problem(check(&b).unwrap_err());
    assert_eq!(
        p.to_string(),
        "kind is w3, but the header's shape and layout need w1"
    );
    let mut b = good.clone();
    b[entry(5) + 2] = 1;
    reseal(&mut b);
    assert!(matches!(
        region_problem(check(&b).unwrap_err()).2,
        RegionProblem::Field { field: "layer", .. }
    ));
}

/// Bad values in a region whose CRC was recomputed: in every region of layer 0 and in
/// every region outside the layers, so every kind is corrupted.
#[test]
fn values_out_of_range_and_dirty_padding_are_refused() {
    let c = Config::ODD;
    let qm = quantised(&c, 6);
    // 32 lanes, 512-bit bus: 48-column rows padded to 64 bytes, 32 rows a block (48-row
    // matrices: a block of 32, then one of 16 with 16 unused scale slots), 48 gains
    // (96 bytes) padded to 128.
    let good = image_bytes(&qm, 32, 512).unwrap();
    let image = check(&good).unwrap();
    let poke = |i: usize, edits: &[(u64, u8)]| {
        let mut b = good.clone();
        for &(at, v) in edits {
            b[at as usize] = v;
        }
        reseal_region(&mut b, i);
        let (j, _, p) = region_problem(check(&b).unwrap_err());
        assert_eq!(j, i);
        match p {
            RegionProblem::Value(s) => s,
            other => panic!("{other}"),
        }
    };
    let mut kinds = std::collections::HashSet::new();
    for (i, r) in image.regions.iter().enumerate() {
        if r.layer.is_some_and(|l| l > 0) {
            continue;
        }
        kinds.insert(r.kind);
        let name = r.name();
        if r.kind.is_gains() {
            assert_eq!((r.rows, r.block_rows, r.block_stride), (1, 1, 64 + 128));
            let e = poke(i, &[(r.offset + 1, 0x10)]);
            assert!(e.contains("gain exponent"), "{name}: {e}");
            let e = poke(i, &[(r.offset + 5, 1)]);
            assert!(e.contains("after the gain exponent"), "{name}: {e}");
            let m = r.row_offset(0);
            let e = poke(i, &[(m + 4, 0), (m + 5, 0x80)]);
            assert!(e.contains("gain 2 is -32768"), "{name}: {e}");
            let e = poke(i, &[(m + 100, 3)]);
            assert!(e.contains("after the gains"), "{name}: {e}");
            continue;
        }
        let last = r.rows - 1;
        let e = poke(i, &[(r.scale_offset(last), 12)]);
        assert!(
            e.contains(&format!(
                "row {last}: scale mantissa 12 is outside 128..=255"
            )),
            "{name}: {e}"
        );
        let e = poke(i, &[(r.row_offset(last) + 9, 0x80)]);
        assert!(
            e.contains(&format!("row {last}: weight 9 is -128")),
            "{name}: {e}"
        );
        if r.row_bytes < r.row_stride {
            let e = poke(i, &[(r.row_offset(last) + r.row_bytes as u64, 1)]);
            assert!(e.contains(&format!("padding of row {last}")), "{name}: {e}");
        }
        // The slot after the last row's scale, when its block has one.
        let k = r.blocks() - 1;
        if r.rows_in_block(k) < r.block_rows as u64 {
            let e = poke(i, &[(r.scale_offset(last) + 3, 1)]);
            assert!(
                e.contains(&format!("unused scale slots of block {k}")),
                "{name}: {e}"
            );
        }
    }
    assert_eq!(kinds.len(), 10, "{kinds:?}");
    // The embedding's blocks hold one row: every scale word has 31 unused slots.
    let e = image.regions[0];
    assert_eq!(
        (e.kind, e.block_rows, e.block_stride),
        (RegionKind::Embedding, 1, 128)
    );
    let s = poke(0, &[(e.scale_offset(7) + 63, 1)]);
    assert!(
        s.contains("byte 959 (unused scale slots of block 7)"),
        "{s}"
    );
    // A 48-row matrix: the second block's scale word has 16 rows' scales, then 0s.
    let w = image.region(RegionKind::Wo, Some(0)).unwrap();
    let wi = image.regions.iter().position(|r| r == w).unwrap();
    assert_eq!((w.blocks(), w.rows_in_block(1)), (2, 16));
    let s = poke(wi, &[(w.offset + w.block_stride as u64 + 32, 1)]);
    assert!(s.contains("unused scale slots of block 1"), "{s}");
    let s = poke(wi, &[(w.scale_offset(33), 0x7f)]);
    assert!(s.contains("row 33: scale mantissa 127"), "{s}");
}

#[test]
fn the_writer_refuses_what_the_format_cannot_hold() {
    let mut qm = quantised(&Config::TINY, 1);
    qm.rms_final.exp = 200;
    let e = image_bytes(&qm, 8, 64).unwrap_err().to_string();
    assert!(
        e.contains("rms_final") && e.contains("gain exponent 200"),
        "{e}"
    );
    let qm = quantised(&Config::TINY, 1);
    assert!(image_bytes(&qm, 6, 64)
        .unwrap_err()
        .to_string()
        .contains("lanes"));
    assert!(image_bytes(&qm, 8, 32)
        .unwrap_err()
        .to_string()
        .contains("bus_bits"));
}

/// A cheap mutation loop: random bytes of the header and table replaced and resealed, or
/// random cuts; every outcome is a value (Ok or a typed error), never a panic.
#[test]
fn random_forgeries_never_panic() {
    let qm = quantised(&Config::TINY, 7);
    let good = image_bytes(&qm, 4, 64).unwrap();
    let table_end = check(&good).unwrap().header.data_offset as usize;
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut refused = 0;
    for _ in 0..3000 {
        let mut b = good.clone();
        for _ in 0..1 + next() % 4 {
            let at = 8 + (next() as usize) % (table_end - 8);
            b[at] = next() as u8;
        }
        if next() % 3 == 0 {
            let keep = (next() as usize) % b.len();
            b.truncate(keep);
        }
        if b.len() >= table_end {
            reseal(&mut b);
        }
        refused += check(&b).is_err() as usize;
    }
    assert!(refused > 2500, "{refused}");
}

#[test]
fn images_are_compared_with_a_checkpoint_and_a_layout() {
    use llamahdl_image::compare::{check_layout, check_model};
    let qm = quantised(&Config::TINY, 1);
    let image = check(&image_bytes(&qm, 8, 128).unwrap()).unwrap();
    check_model(&image, &qm, "m.bin").unwrap();
    check_layout(&image, Some(8), Some(128)).unwrap();
    let e = check_layout(&image, Some(16), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("8 lanes") && e.contains("--lanes 16"), "{e}");
    let e = check_layout(&image, None, Some(512))
        .unwrap_err()
        .to_string();
    assert!(e.contains("128-bit") && e.contains("--bus-bits 512"), "{e}");
    let other = quantised(&Config::TINY, 2);
    let (_, _, p) = region_problem(check_model(&image, &other, "o.bin").unwrap_err());
    assert!(
        p.to_string()
            .contains("differ from o.bin's quantised weights"),
        "{p}"
    );
    let odd = quantised(
        &Config {
            dim: 32,
            ..Config::TINY
        },
        1,
    );
    let e = check_model(&image, &odd, "w.bin").unwrap_err().to_string();
    assert!(e.contains("dim 16 in the image, 32 in w.bin"), "{e}");
}

#[test]
fn files_are_verified_without_reading_them_whole() {
    let dir = tempfile::tempdir().unwrap();
    let qm = quantised(&Config::TINY, 1);
    let bytes = image_bytes(&qm, 8, 128).unwrap();
    let p = dir.path().join("t.img");
    std::fs::write(&p, &bytes).unwrap();
    let image = llamahdl_image::verify_file(&p).unwrap();
    let (read, again) = llamahdl_image::read_file(&p).unwrap();
    assert!(read == bytes);
    assert_eq!(image, again);
    std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
    let e = llamahdl_image::verify_file(&p).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: truncated image", p.display())),
        "{e}"
    );
    let e = llamahdl_image::read_file(&p).unwrap_err().to_string();
    assert!(e.contains("truncated image"), "{e}");
    let e = llamahdl_image::verify_file(dir.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("directory"), "{e}");
    let e = llamahdl_image::verify_file(std::path::Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad magic"), "{e}");
}
