//! The byte layout of an image: the header, the region table entries and the region kinds
//! (docs/image-format.md is the specification; this module is its code).
//!
//! Every integer is little-endian. The header is [`HEADER_BYTES`] long; its last four
//! bytes are the CRC-32 (IEEE, as `crc32fast` computes it) of the bytes before them.

use crate::error::{Problem, RegionProblem};
use llamahdl_golden::ScaleMode;
use llamahdl_model::Config;

/// The first eight bytes of every image.
pub const MAGIC: [u8; 8] = *b"LLHDLIMG";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_BYTES: usize = 128;
/// Size of one region table entry in bytes.
pub const ENTRY_BYTES: usize = 48;
/// The bus widths an image can be laid out for (bits).
pub const BUS_BITS: [u32; 4] = [64, 128, 256, 512];
/// The default bus width (bits).
pub const DEFAULT_BUS_BITS: u32 = 512;
/// Largest lane count the format describes (the design supports fewer; see the CLI).
pub const MAX_LANES: u32 = 1024;
/// The `layer` field of a region that belongs to no layer.
pub const NO_LAYER: u16 = 0xFFFF;

/// Quantisation parameters of version 1 (the only values it allows).
pub mod quant {
    /// Bits of a weight (int8, -127..=127).
    pub const WEIGHT_BITS: u8 = 8;
    /// Bits of a row scale's mantissa (128..=255; always 128 in power-of-two mode).
    pub const SCALE_MANT_BITS: u8 = 8;
    /// Bits of an RMSNorm gain mantissa (int16, -32767..=32767).
    pub const GAIN_BITS: u8 = 16;
    /// Fraction bits of the activations (Q16.16).
    pub const ACT_FRAC_BITS: u8 = 16;
    /// `quant_flags` bit: Wq's rows (the first `dim` rows of each QKV region) are
    /// multiplied by 1/sqrt(head_dim) before quantisation.
    pub const FLAG_WQ_PRESCALED: u8 = 1;
    /// `quant_flags` bit: every RMSNorm gain is multiplied by sqrt(dim) before quantisation.
    pub const FLAG_GAINS_SQRT_DIM: u8 = 2;
    /// The `quant_flags` of version 1.
    pub const FLAGS: u8 = FLAG_WQ_PRESCALED | FLAG_GAINS_SQRT_DIM;
}

/// `flags` bit of the header: the classifier is the token embedding (no classifier region).
pub const FLAG_SHARED_CLASSIFIER: u32 = 1;

/// What a region holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    /// Token embedding `[vocab_size, dim]` (row `t` is token `t`'s).
    Embedding,
    /// A layer's attention RMSNorm gains `[dim]`.
    RmsAtt,
    /// A layer's `[Wq / sqrt(head_dim); Wk; Wv]`, `qkv_rows` rows of `dim`.
    Wqkv,
    /// A layer's attention output projection `[dim, dim]`.
    Wo,
    /// A layer's feed-forward RMSNorm gains `[dim]`.
    RmsFfn,
    /// A layer's gate projection `[hidden_dim, dim]`.
    W1,
    /// A layer's up projection `[hidden_dim, dim]`.
    W3,
    /// A layer's down projection `[dim, hidden_dim]`.
    W2,
    /// The final RMSNorm gains `[dim]`.
    RmsFinal,
    /// The separate classifier `[vocab_size, dim]` (absent when shared).
    Classifier,
}

impl RegionKind {
    /// The kinds of a layer's regions, in the order the decoder consumes them.
    pub const LAYER: [RegionKind; 7] = [
        RegionKind::RmsAtt,
        RegionKind::Wqkv,
        RegionKind::Wo,
        RegionKind::RmsFfn,
        RegionKind::W1,
        RegionKind::W3,
        RegionKind::W2,
    ];

    /// The `kind` field's value.
    pub fn code(self) -> u16 {
        match self {
            RegionKind::Embedding => 1,
            RegionKind::RmsAtt => 2,
            RegionKind::Wqkv => 3,
            RegionKind::Wo => 4,
            RegionKind::RmsFfn => 5,
            RegionKind::W1 => 6,
            RegionKind::W3 => 7,
            RegionKind::W2 => 8,
            RegionKind::RmsFinal => 9,
            RegionKind::Classifier => 10,
        }
    }

    /// The kind of a `kind` field's value.
    pub fn from_code(code: u16) -> Option<RegionKind> {
        [
            RegionKind::Embedding,
            RegionKind::RmsFinal,
            RegionKind::Classifier,
        ]
        .into_iter()
        .chain(RegionKind::LAYER)
        .find(|k| k.code() == code)
    }

    /// Its name in messages and in `--check`'s table.
    pub fn name(self) -> &'static str {
        match self {
            RegionKind::Embedding => "embedding",
            RegionKind::RmsAtt => "rms_att",
            RegionKind::Wqkv => "wqkv",
            RegionKind::Wo => "wo",
            RegionKind::RmsFfn => "rms_ffn",
            RegionKind::W1 => "w1",
            RegionKind::W3 => "w3",
            RegionKind::W2 => "w2",
            RegionKind::RmsFinal => "rms_final",
            RegionKind::Classifier => "classifier",
        }
    }

    /// True for RMSNorm gain vectors; false for matrices.
    pub fn is_gains(self) -> bool {
        matches!(
            self,
            RegionKind::RmsAtt | RegionKind::RmsFfn | RegionKind::RmsFinal
        )
    }

    /// True for the kinds that belong to a layer.
    pub fn per_layer(self) -> bool {
        !matches!(
            self,
            RegionKind::Embedding | RegionKind::RmsFinal | RegionKind::Classifier
        )
    }
}

/// The quantisation parameters of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Quant {
    /// Bits of a weight.
    pub weight_bits: u8,
    /// How row scales are chosen.
    pub scale_mode: ScaleMode,
    /// Bits of a row scale's mantissa.
    pub scale_mant_bits: u8,
    /// Bits of an RMSNorm gain mantissa.
    pub gain_bits: u8,
    /// Fraction bits of the activations.
    pub act_frac_bits: u8,
    /// [`quant::FLAG_WQ_PRESCALED`] | [`quant::FLAG_GAINS_SQRT_DIM`].
    pub flags: u8,
}

impl Quant {
    /// The version-1 parameters with `mode`'s row scales.
    pub fn v1(mode: ScaleMode) -> Quant {
        Quant {
            weight_bits: quant::WEIGHT_BITS,
            scale_mode: mode,
            scale_mant_bits: quant::SCALE_MANT_BITS,
            gain_bits: quant::GAIN_BITS,
            act_frac_bits: quant::ACT_FRAC_BITS,
            flags: quant::FLAGS,
        }
    }
}

/// `scale_mode` byte.
fn scale_mode_code(m: ScaleMode) -> u8 {
    match m {
        ScaleMode::Pow2 => 0,
        ScaleMode::Mant8 => 1,
    }
}

/// Header bytes whose value depends on the weights (`table_crc` at 96 and `header_crc` at
/// 124). Every other header byte follows from the shape, lane count, bus width and
/// quantisation alone, so a decoder generated for one shape can check them against a
/// constant (`llamahdl_hw::units::dram::header_check`).
pub const HEADER_DATA_DEPENDENT: [std::ops::Range<usize>; 2] = [96..100, 124..128];

/// The header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Model shape.
    pub config: Config,
    /// Lanes: int8 weights per beat of the decoder's weight stream.
    pub lanes: u32,
    /// Bus width in bits.
    pub bus_bits: u32,
    /// Quantisation parameters.
    pub quant: Quant,
    /// Number of regions.
    pub region_count: u32,
    /// Byte offset of the region table (always [`HEADER_BYTES`]).
    pub table_offset: u64,
    /// Byte offset of the first region (the table padded to a bus word).
    pub data_offset: u64,
    /// Size of the whole image in bytes.
    pub image_bytes: u64,
    /// CRC-32 of the bytes `table_offset..data_offset`.
    pub table_crc: u32,
}

impl Header {
    /// Bytes per bus word.
    pub fn word_bytes(&self) -> u64 {
        self.bus_bits as u64 / 8
    }

    /// The header's CRC-32 (its last four bytes).
    pub fn crc(&self) -> u32 {
        get32(&self.encode(), HEADER_BYTES - 4)
    }

    /// The header's bytes, its CRC-32 last.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let c = &self.config;
        let mut b = [0u8; HEADER_BYTES];
        b[0..8].copy_from_slice(&MAGIC);
        put32(&mut b, 8, VERSION);
        put32(&mut b, 12, HEADER_BYTES as u32);
        for (i, (_, d)) in c.dims().into_iter().enumerate() {
            put32(&mut b, 16 + 4 * i, d as u32);
        }
        let flags = if c.shared_classifier {
            FLAG_SHARED_CLASSIFIER
        } else {
            0
        };
        put32(&mut b, 44, flags);
        put32(&mut b, 48, self.lanes);
        put32(&mut b, 52, self.bus_bits);
        b[56] = self.quant.weight_bits;
        b[57] = scale_mode_code(self.quant.scale_mode);
        b[58] = self.quant.scale_mant_bits;
        b[59] = self.quant.gain_bits;
        b[60] = self.quant.act_frac_bits;
        b[61] = self.quant.flags;
        put32(&mut b, 64, self.region_count);
        put64(&mut b, 72, self.table_offset);
        put64(&mut b, 80, self.data_offset);
        put64(&mut b, 88, self.image_bytes);
        put32(&mut b, 96, self.table_crc);
        let crc = crc32fast::hash(&b[..HEADER_BYTES - 4]);
        put32(&mut b, HEADER_BYTES - 4, crc);
        b
    }

    /// Parse a header from the first bytes of an image (`bytes` may be shorter than the
    /// header: the error then says so). Checks, in this order: the magic, the version,
    /// the length, the CRC-32, then each field's range (not yet that the fields agree with
    /// each other: [`crate::layout::plan`] does that).
    pub fn parse(bytes: &[u8]) -> Result<Header, Problem> {
        let n = bytes.len() as u64;
        let truncated = || Problem::Truncated {
            part: "the header".to_string(),
            needed: HEADER_BYTES as u64,
            actual: n,
        };
        if bytes.is_empty() {
            return Err(truncated());
        }
        let head = &bytes[..bytes.len().min(8)];
        if head != &MAGIC[..head.len()] {
            return Err(Problem::BadMagic {
                found: head.to_vec(),
            });
        }
        if bytes.len() < 12 {
            return Err(truncated());
        }
        let version = get32(bytes, 8);
        if version != VERSION {
            return Err(Problem::UnknownVersion { found: version });
        }
        if bytes.len() < HEADER_BYTES {
            return Err(truncated());
        }
        let b = &bytes[..HEADER_BYTES];
        let stored = get32(b, HEADER_BYTES - 4);
        let computed = crc32fast::hash(&b[..HEADER_BYTES - 4]);
        if stored != computed {
            return Err(Problem::HeaderCrc { stored, computed });
        }
        let bad = |field: &'static str, value: i64, reason: String| Problem::BadField {
            field,
            value,
            reason,
        };
        let header_bytes = get32(b, 12);
        if header_bytes != HEADER_BYTES as u32 {
            return Err(bad(
                "header_bytes",
                header_bytes as i64,
                format!("version {VERSION} headers are {HEADER_BYTES} bytes"),
            ));
        }
        let flags = get32(b, 44);
        if flags & !FLAG_SHARED_CLASSIFIER != 0 {
            return Err(bad(
                "flags",
                flags as i64,
                "only bit 0 (shared classifier) is defined".to_string(),
            ));
        }
        let dim = |i: usize| get32(b, 16 + 4 * i) as usize;
        let config = Config {
            dim: dim(0),
            hidden_dim: dim(1),
            n_layers: dim(2),
            n_heads: dim(3),
            n_kv_heads: dim(4),
            vocab_size: dim(5),
            seq_len: dim(6),
            shared_classifier: flags & FLAG_SHARED_CLASSIFIER != 0,
        };
        config
            .validate("header shape")
            .map_err(|e| Problem::BadShape(strip_prefix(&e.to_string(), "header shape: ")))?;
        let lanes = get32(b, 48);
        if !lanes.is_power_of_two() || lanes > MAX_LANES {
            return Err(bad(
                "lanes",
                lanes as i64,
                format!("it must be a power of two from 1 to {MAX_LANES}"),
            ));
        }
        let bus_bits = get32(b, 52);
        if !BUS_BITS.contains(&bus_bits) {
            return Err(bad(
                "bus_bits",
                bus_bits as i64,
                format!("it must be one of {BUS_BITS:?}"),
            ));
        }
        let scale_mode = match b[57] {
            0 => ScaleMode::Pow2,
            1 => ScaleMode::Mant8,
            v => {
                return Err(bad(
                    "scale_mode",
                    v as i64,
                    "0 (power-of-two scales) and 1 (8-bit mantissa) are defined".to_string(),
                ))
            }
        };
        let fixed: [(&'static str, usize, u8); 5] = [
            ("weight_bits", 56, quant::WEIGHT_BITS),
            ("scale_mant_bits", 58, quant::SCALE_MANT_BITS),
            ("gain_bits", 59, quant::GAIN_BITS),
            ("act_frac_bits", 60, quant::ACT_FRAC_BITS),
            ("quant_flags", 61, quant::FLAGS),
        ];
        for (field, at, want) in fixed {
            if b[at] != want {
                return Err(bad(
                    field,
                    b[at] as i64,
                    format!("version {VERSION} images have {want}"),
                ));
            }
        }
        let quant = Quant {
            weight_bits: b[56],
            scale_mode,
            scale_mant_bits: b[58],
            gain_bits: b[59],
            act_frac_bits: b[60],
            flags: b[61],
        };
        let reserved: [(&'static str, std::ops::Range<usize>); 3] = [
            ("reserved (bytes 62..64)", 62..64),
            ("reserved (bytes 68..72)", 68..72),
            ("reserved (bytes 100..124)", 100..124),
        ];
        for (field, r) in reserved {
            if let Some(i) = b[r.clone()].iter().position(|&x| x != 0) {
                return Err(bad(
                    field,
                    b[r.start + i] as i64,
                    "reserved bytes must be 0".to_string(),
                ));
            }
        }
        Ok(Header {
            config,
            lanes,
            bus_bits,
            quant,
            region_count: get32(b, 64),
            table_offset: get64(b, 72),
            data_offset: get64(b, 80),
            image_bytes: get64(b, 88),
            table_crc: get32(b, 96),
        })
    }
}

fn strip_prefix(s: &str, p: &str) -> String {
    s.strip_prefix(p).unwrap_or(s).to_string()
}

/// One region: a table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    /// What it holds.
    pub kind: RegionKind,
    /// Its layer (`None` for the embedding, the final gains and the classifier).
    pub layer: Option<u16>,
    /// Rows (matrices: the matrix's rows; gains: 1).
    pub rows: u32,
    /// Bytes of data in a row before its padding (matrices: the columns; gains: 2·dim).
    pub row_bytes: u32,
    /// Bytes a row occupies with its padding (a whole number of lane words and of bus
    /// words): the distance between consecutive rows of a block.
    pub row_stride: u32,
    /// Rows per block. A region is blocks of this many rows (the last may have fewer),
    /// each block one bus word of prefix (the block's row scales, or the gain exponent)
    /// followed by its rows: half the bus word's bytes for a streamed matrix (one word
    /// holds their scales), 1 for the embedding (random access, one row per token) and
    /// for gains.
    pub block_rows: u32,
    /// Bytes from the start of one block to the next: the bus word plus `block_rows`
    /// row strides.
    pub block_stride: u32,
    /// Byte offset of the region in the image (a multiple of the bus word).
    pub offset: u64,
    /// Length in bytes (a whole number of bus words).
    pub length: u64,
    /// CRC-32 of the region's `length` bytes.
    pub crc32: u32,
}

impl Region {
    /// Its name in messages: `embedding`, `layer 1 w1`, ...
    pub fn name(&self) -> String {
        match self.layer {
            Some(l) => format!("layer {l} {}", self.kind.name()),
            None => self.kind.name().to_string(),
        }
    }

    /// Bytes of a block's prefix: what a block's stride holds besides its rows (the bus
    /// word in a valid image).
    pub fn prefix_bytes(&self) -> u64 {
        (self.block_stride as u64).saturating_sub(self.block_rows as u64 * self.row_stride as u64)
    }

    /// Number of blocks: `rows / block_rows` rounded up.
    pub fn blocks(&self) -> u64 {
        (self.rows as u64).div_ceil((self.block_rows as u64).max(1))
    }

    /// Rows in block `k` (`block_rows`, fewer in the last block).
    pub fn rows_in_block(&self, k: u64) -> u64 {
        let s = self.block_rows as u64;
        (self.rows as u64).saturating_sub(k * s).min(s)
    }

    /// Offset of block `k` from the start of the region.
    pub fn block_at(&self, k: u64) -> u64 {
        k * self.block_stride as u64
    }

    /// Offset of row `r`'s scale (mantissa, then exponent) from the start of the region.
    pub fn scale_at(&self, r: u32) -> u64 {
        let s = (self.block_rows as u64).max(1);
        self.block_at(r as u64 / s) + 2 * (r as u64 % s)
    }

    /// Offset of row `r`'s first byte from the start of the region.
    pub fn row_at(&self, r: u32) -> u64 {
        let s = (self.block_rows as u64).max(1);
        self.block_at(r as u64 / s) + self.prefix_bytes() + (r as u64 % s) * self.row_stride as u64
    }

    /// Byte offset (in the image) of row `r`.
    pub fn row_offset(&self, r: u32) -> u64 {
        self.offset + self.row_at(r)
    }

    /// Byte offset (in the image) of row `r`'s scale.
    pub fn scale_offset(&self, r: u32) -> u64 {
        self.offset + self.scale_at(r)
    }

    /// The entry's bytes.
    pub fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut b = [0u8; ENTRY_BYTES];
        put16(&mut b, 0, self.kind.code());
        put16(&mut b, 2, self.layer.unwrap_or(NO_LAYER));
        put32(&mut b, 4, self.rows);
        put32(&mut b, 8, self.row_bytes);
        put32(&mut b, 12, self.row_stride);
        put32(&mut b, 16, self.block_rows);
        put32(&mut b, 20, self.block_stride);
        put64(&mut b, 24, self.offset);
        put64(&mut b, 32, self.length);
        put32(&mut b, 40, self.crc32);
        b
    }

    /// Parse entry `b` ([`ENTRY_BYTES`] long). Only the kind and the reserved field are
    /// checked here.
    pub fn parse(b: &[u8]) -> Result<Region, RegionProblem> {
        let code = get16(b, 0);
        let kind = RegionKind::from_code(code).ok_or(RegionProblem::UnknownKind(code))?;
        let reserved = get32(b, 44);
        if reserved != 0 {
            return Err(RegionProblem::Reserved {
                field: "bytes 44..48",
                value: reserved,
            });
        }
        let layer = get16(b, 2);
        Ok(Region {
            kind,
            layer: (layer != NO_LAYER).then_some(layer),
            rows: get32(b, 4),
            row_bytes: get32(b, 8),
            row_stride: get32(b, 12),
            block_rows: get32(b, 16),
            block_stride: get32(b, 20),
            offset: get64(b, 24),
            length: get64(b, 32),
            crc32: get32(b, 40),
        })
    }

    /// A name for an entry that could not be parsed (from its raw kind and layer fields).
    pub fn raw_name(b: &[u8]) -> String {
        let code = get16(b, 0);
        let layer = get16(b, 2);
        let kind = RegionKind::from_code(code)
            .map(|k| k.name().to_string())
            .unwrap_or_else(|| format!("kind {code}"));
        if layer == NO_LAYER {
            kind
        } else {
            format!("layer {layer} {kind}")
        }
    }
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
/// Little-endian u32 at `at` (the caller has checked the length).
pub(crate) fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn get64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}
