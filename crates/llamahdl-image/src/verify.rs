//! Reading and verifying an image.
//!
//! [`verify`] checks an image from any [`Source`] (a byte slice, or a file read with
//! positioned reads so that a large image is never held whole): the header (magic,
//! version, length, CRC-32, each field), that its fields describe the layout
//! [`crate::layout::plan`] gives for its shape, lanes and bus, the file's length, the
//! region table (its CRC-32, then every entry: alignment, bounds, overlap, gaps, then each
//! field against the plan), then every region (its CRC-32, then the range of every value
//! and that every padding byte is 0). The first problem found is returned; nothing is
//! allocated from a size the header or table states before that size has been checked
//! against the shape's plan and the file's real length.

use crate::error::{ImageError, Problem, RegionProblem};
use crate::format::{get32, Header, Region, ENTRY_BYTES, HEADER_BYTES};
use crate::layout::{plan, Plan};
use llamahdl_golden::ScaleMode;
use std::path::Path;

/// Random-access bytes of an image.
pub trait Source {
    /// Its length in bytes.
    fn len(&self) -> u64;
    /// True when it has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fill `buf` from byte `offset` (the caller keeps within [`Source::len`]).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Source for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= <[u8]>::len(self))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
}

/// A regular file read with positioned reads.
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// A verified image's header and region table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The header.
    pub header: Header,
    /// The regions, in table order.
    pub regions: Vec<Region>,
}

impl Image {
    /// The region of `kind` in `layer`.
    pub fn region(&self, kind: crate::RegionKind, layer: Option<u16>) -> Option<&Region> {
        self.regions
            .iter()
            .find(|r| r.kind == kind && r.layer == layer)
    }
}

/// Check that a parsed header's fields describe the layout its shape, lanes and bus give;
/// returns that layout.
pub fn check_header(h: &Header) -> Result<Plan, Problem> {
    let p = plan(&h.config, h.lanes, h.bus_bits, h.quant.scale_mode)?;
    let need = |field: &'static str, value: u64, want: u64| {
        if value == want {
            Ok(())
        } else {
            Err(Problem::BadField {
                field,
                value: value as i64,
                reason: format!(
                    "the header's shape, lanes and bus width need {want} (docs/image-format.md)"
                ),
            })
        }
    };
    need("table_offset", h.table_offset, p.header.table_offset)?;
    need(
        "region_count",
        h.region_count as u64,
        p.header.region_count as u64,
    )?;
    need("data_offset", h.data_offset, p.header.data_offset)?;
    need("image_bytes", h.image_bytes, p.header.image_bytes)?;
    Ok(p)
}

/// Check a file of `len` bytes against the image size in its header.
fn check_length(h: &Header, len: u64) -> Result<(), Problem> {
    if len < h.image_bytes {
        return Err(Problem::Truncated {
            part: "the image size in its header".to_string(),
            needed: h.image_bytes,
            actual: len,
        });
    }
    if len > h.image_bytes {
        return Err(Problem::TrailingBytes {
            expected: h.image_bytes,
            actual: len,
        });
    }
    Ok(())
}

/// The structural checks of entry `i` (`r`), whose planned counterpart is `want`;
/// `prev` is where the previous region (or the table) ends and what it is called.
fn check_entry(
    r: &Region,
    want: &Region,
    h: &Header,
    prev: (u64, &str),
) -> Result<(), RegionProblem> {
    let word = h.word_bytes();
    if r.offset % word != 0 {
        return Err(RegionProblem::Misaligned {
            offset: r.offset,
            word,
        });
    }
    if r.length % word != 0 {
        return Err(RegionProblem::RaggedLength {
            length: r.length,
            word,
        });
    }
    match r.offset.checked_add(r.length) {
        Some(end) if end <= h.image_bytes => {}
        _ => {
            return Err(RegionProblem::PastEnd {
                offset: r.offset,
                length: r.length,
                image_bytes: h.image_bytes,
            })
        }
    }
    if r.offset < prev.0 {
        return Err(RegionProblem::Overlap {
            offset: r.offset,
            previous: prev.1.to_string(),
            previous_end: prev.0,
        });
    }
    if r.offset > prev.0 {
        return Err(RegionProblem::Gap {
            offset: r.offset,
            expected: prev.0,
        });
    }
    let field = |field: &'static str, stored: String, expected: String| {
        if stored == expected {
            Ok(())
        } else {
            Err(RegionProblem::Field {
                field,
                stored,
                expected,
            })
        }
    };
    let layer = |l: Option<u16>| l.map_or("none".to_string(), |l| l.to_string());
    field(
        "kind",
        r.kind.name().to_string(),
        want.kind.name().to_string(),
    )?;
    field("layer", layer(r.layer), layer(want.layer))?;
    let sizes: [(&'static str, u64, u64); 6] = [
        ("rows", r.rows.into(), want.rows.into()),
        ("row_bytes", r.row_bytes.into(), want.row_bytes.into()),
        ("row_stride", r.row_stride.into(), want.row_stride.into()),
        ("block_rows", r.block_rows.into(), want.block_rows.into()),
        (
            "block_stride",
            r.block_stride.into(),
            want.block_stride.into(),
        ),
        ("length", r.length, want.length),
    ];
    for (name, stored, expected) in sizes {
        field(name, stored.to_string(), expected.to_string())?;
    }
    Ok(())
}

/// The first byte of `b[range]` that is not 0, as an error.
fn zeros(b: &[u8], range: std::ops::Range<usize>, what: &str) -> Result<(), RegionProblem> {
    match b[range.clone()].iter().position(|&x| x != 0) {
        None => Ok(()),
        Some(i) => Err(RegionProblem::Value(format!(
            "byte {} ({what}) is 0x{:02x}; padding must be 0",
            range.start + i,
            b[range.start + i]
        ))),
    }
}

/// Check the values of region `r`, whose bytes are `b` (its entry already matches the
/// plan): every weight in -127..=127, every row scale's mantissa in its mode's range,
/// every gain in -32767..=32767 with an exponent in -128..=127, every padding byte 0.
pub fn check_values(r: &Region, b: &[u8], mode: ScaleMode) -> Result<(), RegionProblem> {
    let value = |s: String| Err(RegionProblem::Value(s));
    let row_bytes = r.row_bytes as usize;
    let stride = r.row_stride as usize;
    let prefix = r.prefix_bytes() as usize;
    if r.kind.is_gains() {
        let exp = get32(b, 0) as i32;
        if !(-128..=127).contains(&exp) {
            return value(format!("gain exponent {exp} is outside -128..=127"));
        }
        zeros(b, 4..prefix, "after the gain exponent")?;
        let g = &b[prefix..prefix + row_bytes];
        for (i, m) in g.chunks_exact(2).enumerate() {
            let m = i16::from_le_bytes([m[0], m[1]]);
            if m == i16::MIN {
                return value(format!("gain {i} is -32768, outside -32767..=32767"));
            }
        }
        return zeros(b, prefix + row_bytes..prefix + stride, "after the gains");
    }
    let per_block = r.block_rows as usize;
    for k in 0..r.blocks() as usize {
        let start = r.block_at(k as u64) as usize;
        let n = r.rows_in_block(k as u64) as usize;
        for (j, s) in b[start..start + 2 * n].chunks_exact(2).enumerate() {
            let ok = match mode {
                ScaleMode::Mant8 => s[0] >= 128,
                ScaleMode::Pow2 => s[0] == 128,
            };
            if !ok {
                let range = match mode {
                    ScaleMode::Mant8 => "128..=255 (8-bit mantissa scales)",
                    ScaleMode::Pow2 => "128 (power-of-two scales)",
                };
                return value(format!(
                    "row {}: scale mantissa {} is outside {range}",
                    k * per_block + j,
                    s[0]
                ));
            }
        }
        zeros(
            b,
            start + 2 * n..start + prefix,
            &format!("unused scale slots of block {k}"),
        )?;
        for j in 0..n {
            let i = k * per_block + j;
            let at = start + prefix + j * stride;
            let row = &b[at..at + stride];
            if let Some(c) = row[..row_bytes].iter().position(|&q| q == 0x80) {
                return value(format!("row {i}: weight {c} is -128, outside -127..=127"));
            }
            zeros(
                b,
                at + row_bytes..at + stride,
                &format!("padding of row {i}"),
            )?;
        }
    }
    Ok(())
}

/// Verify the image in `src` (`what` names it in errors). See the module doc for what is
/// checked and in which order.
pub fn verify(src: &mut dyn Source, what: &str) -> Result<Image, ImageError> {
    let invalid = |p: Problem| ImageError::invalid(what, p);
    let io = |e: std::io::Error| ImageError::io(what, e);
    let len = src.len();
    let mut head = vec![0u8; len.min(HEADER_BYTES as u64) as usize];
    src.read_at(0, &mut head).map_err(io)?;
    let header = Header::parse(&head).map_err(invalid)?;
    let p = check_header(&header).map_err(invalid)?;
    check_length(&header, len).map_err(invalid)?;
    let mut table = vec![0u8; (header.data_offset - header.table_offset) as usize];
    src.read_at(header.table_offset, &mut table).map_err(io)?;
    let computed = crc32fast::hash(&table);
    if computed != header.table_crc {
        return Err(invalid(Problem::TableCrc {
            stored: header.table_crc,
            computed,
        }));
    }
    let mut regions = Vec::with_capacity(p.regions.len());
    let mut prev = (header.data_offset, "the region table".to_string());
    for (index, want) in p.regions.iter().enumerate() {
        let raw = &table[index * ENTRY_BYTES..(index + 1) * ENTRY_BYTES];
        let region_err = |name: String, problem| {
            invalid(Problem::Region {
                index,
                name,
                problem,
            })
        };
        let r = Region::parse(raw).map_err(|e| region_err(Region::raw_name(raw), e))?;
        check_entry(&r, want, &header, (prev.0, &prev.1)).map_err(|e| region_err(r.name(), e))?;
        prev = (
            r.offset + r.length,
            format!("region {index} ({})", r.name()),
        );
        regions.push(r);
    }
    // The table is as planned: every region lies inside the file, so its length can be
    // read.
    let mut buf = Vec::new();
    for (index, r) in regions.iter().enumerate() {
        let region_err = |problem| {
            invalid(Problem::Region {
                index,
                name: r.name(),
                problem,
            })
        };
        buf.resize(r.length as usize, 0);
        src.read_at(r.offset, &mut buf).map_err(io)?;
        let computed = crc32fast::hash(&buf);
        if computed != r.crc32 {
            return Err(region_err(RegionProblem::Crc {
                stored: r.crc32,
                computed,
            }));
        }
        check_values(r, &buf, header.quant.scale_mode).map_err(region_err)?;
    }
    Ok(Image { header, regions })
}

/// Open `path` for reading (a FIFO without a writer does not block; a directory is refused).
fn open(path: &Path, what: &str) -> Result<std::fs::File, ImageError> {
    llamahdl_model::input::open(path).map_err(|e| match e {
        llamahdl_model::ModelError::Io { source, .. } => ImageError::io(what, source),
        llamahdl_model::ModelError::Invalid { problem, .. } => {
            ImageError::invalid(what, Problem::Unreadable(problem))
        }
        other => ImageError::invalid(what, Problem::Unreadable(other.to_string())),
    })
}

/// Read a file into memory: its header, then no more than the size its (checked) header
/// gives, plus one byte. `known_len` is the size of a regular file (checked against the
/// header's before the rest is read).
fn read_bounded(
    file: &mut std::fs::File,
    path: &Path,
    what: &str,
    known_len: Option<u64>,
) -> Result<Vec<u8>, ImageError> {
    let io = |e: llamahdl_model::ModelError| match e {
        llamahdl_model::ModelError::Io { source, .. } => ImageError::io(what, source),
        other => ImageError::invalid(what, Problem::Unreadable(other.to_string())),
    };
    let mut bytes = Vec::new();
    llamahdl_model::input::read_up_to(file, HEADER_BYTES as u64, &mut bytes, path).map_err(io)?;
    let header = Header::parse(&bytes).map_err(|p| ImageError::invalid(what, p))?;
    check_header(&header).map_err(|p| ImageError::invalid(what, p))?;
    if let Some(len) = known_len {
        check_length(&header, len).map_err(|p| ImageError::invalid(what, p))?;
    }
    let rest = header.image_bytes - HEADER_BYTES as u64 + 1;
    llamahdl_model::input::read_up_to(file, rest, &mut bytes, path).map_err(io)?;
    Ok(bytes)
}

/// Verify the image file at `path` (errors name it as given). A regular file is read a
/// region at a time, never whole; a FIFO or device is read no further than the header
/// allows.
pub fn verify_file(path: &Path) -> Result<Image, ImageError> {
    let what = path.display().to_string();
    let mut file = open(path, &what)?;
    match llamahdl_model::input::regular_len(&file) {
        Some(len) => verify(&mut FileSource { file, len }, &what),
        None => {
            let bytes = read_bounded(&mut file, path, &what, None)?;
            verify(&mut bytes.as_slice(), &what)
        }
    }
}

/// Read the whole image file at `path` into memory and verify it.
pub fn read_file(path: &Path) -> Result<(Vec<u8>, Image), ImageError> {
    let what = path.display().to_string();
    let mut file = open(path, &what)?;
    let len = llamahdl_model::input::regular_len(&file);
    let bytes = read_bounded(&mut file, path, &what, len)?;
    let image = verify(&mut bytes.as_slice(), &what)?;
    Ok((bytes, image))
}
