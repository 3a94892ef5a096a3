//! Errors of the image crate.
//!
//! Every error names its source (`what`: the file, or another description) and states one
//! problem, so a message reads `IMG: region 7 (layer 1 w1): CRC-32 mismatch (...)`. The
//! problem is a typed value ([`Problem`], [`RegionProblem`]) that tests and callers can
//! match on. Nothing in this crate panics on the contents of an image.

use crate::format::VERSION;

/// Errors from writing, reading and verifying images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The operating system could not read or write the file.
    #[error("{what}: {source}")]
    Io {
        /// The file.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The image (or the model being written) breaks the format.
    #[error("{what}: {problem}")]
    Invalid {
        /// The file.
        what: String,
        /// What is wrong.
        problem: Problem,
    },
}

impl ImageError {
    /// The problem, when the error is not an I/O failure.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ImageError::Invalid { problem, .. } => Some(problem),
            ImageError::Io { .. } => None,
        }
    }

    /// An [`ImageError::Invalid`] for `what`.
    pub fn invalid(what: &str, problem: Problem) -> ImageError {
        ImageError::Invalid {
            what: what.to_string(),
            problem,
        }
    }

    /// An [`ImageError::Io`] for `what`.
    pub fn io(what: &str, source: std::io::Error) -> ImageError {
        ImageError::Io {
            what: what.to_string(),
            source,
        }
    }
}

/// What is wrong with an image as a whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The file ends before a part that must be there.
    #[error("truncated image: {actual} bytes, shorter than {needed} bytes ({part})")]
    Truncated {
        /// What is cut off.
        part: String,
        /// Bytes needed for it.
        needed: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// The file is longer than its header says.
    #[error(
        "the file has {actual} bytes but its header says the image is {expected} bytes \
         ({} trailing bytes)", actual - expected
    )]
    TrailingBytes {
        /// Bytes the header says.
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// The first eight bytes are not the magic.
    #[error(
        "bad magic {}: not a llamahdl weight image (those start with \"LLHDLIMG\")",
        show_bytes(.found)
    )]
    BadMagic {
        /// The bytes found (as many of the eight as the file has).
        found: Vec<u8>,
    },
    /// A format version this code does not read.
    #[error("unknown format version {found} (this tool reads version {VERSION})")]
    UnknownVersion {
        /// The version in the header.
        found: u32,
    },
    /// The header's CRC-32 is not that of its bytes.
    #[error("header CRC-32 mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    HeaderCrc {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the header's bytes.
        computed: u32,
    },
    /// A header field has a value the format does not allow.
    #[error("header field {field} is {value}: {reason}")]
    BadField {
        /// The field's name (as in docs/image-format.md).
        field: &'static str,
        /// Its value.
        value: i64,
        /// What it must be.
        reason: String,
    },
    /// The model shape in the header is not a valid llama2 shape.
    #[error("header shape: {0}")]
    BadShape(String),
    /// The region table's CRC-32 is not that of its bytes.
    #[error("region table CRC-32 mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    TableCrc {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the table's bytes.
        computed: u32,
    },
    /// One region is wrong.
    #[error("region {index} ({name}): {problem}")]
    Region {
        /// Its index in the table.
        index: usize,
        /// Its name (`layer 1 w1`, `embedding`, ...).
        name: String,
        /// What is wrong with it.
        problem: RegionProblem,
    },
    /// The image does not match the design, checkpoint or flags it is checked against
    /// (the message names both values).
    #[error("{0}")]
    Mismatch(String),
    /// The file cannot be read as an image (a directory, for example).
    #[error("{0}")]
    Unreadable(String),
    /// The quantised model cannot be written in this format.
    #[error("{0}")]
    Unwritable(String),
}

/// What is wrong with one region.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegionProblem {
    /// A kind code the format does not define.
    #[error("unknown region kind {0}")]
    UnknownKind(u16),
    /// The region does not start on a bus word.
    #[error(
        "offset {offset} is not a multiple of the {word}-byte bus word (regions are aligned \
         to it)"
    )]
    Misaligned {
        /// Its offset.
        offset: u64,
        /// Bus word bytes.
        word: u64,
    },
    /// The region's length is not a whole number of bus words.
    #[error("length {length} is not a whole number of {word}-byte bus words")]
    RaggedLength {
        /// Its length.
        length: u64,
        /// Bus word bytes.
        word: u64,
    },
    /// The region reaches past the end of the image.
    #[error(
        "offset {offset} + length {length} reaches past the end of the {image_bytes}-byte image"
    )]
    PastEnd {
        /// Its offset.
        offset: u64,
        /// Its length.
        length: u64,
        /// The image's size.
        image_bytes: u64,
    },
    /// The region starts inside the previous one (or inside the header and table).
    #[error("offset {offset} overlaps {previous}, which ends at {previous_end}")]
    Overlap {
        /// Its offset.
        offset: u64,
        /// What it overlaps (`region 3 (layer 0 wo)`, `the region table`).
        previous: String,
        /// Where that ends.
        previous_end: u64,
    },
    /// The region does not start where the previous one ends.
    #[error("offset {offset} leaves a gap: regions follow each other, this one must start at {expected}")]
    Gap {
        /// Its offset.
        offset: u64,
        /// Where it must start.
        expected: u64,
    },
    /// A field differs from what the header's shape and layout need.
    #[error("{field} is {stored}, but the header's shape and layout need {expected}")]
    Field {
        /// The field.
        field: &'static str,
        /// Its value.
        stored: String,
        /// The value it must have.
        expected: String,
    },
    /// A reserved field is not zero.
    #[error("reserved field {field} is {value}; it must be 0")]
    Reserved {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u32,
    },
    /// The region's bytes do not have the CRC-32 its table entry gives.
    #[error("CRC-32 mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    Crc {
        /// The CRC in the table.
        stored: u32,
        /// The CRC of its bytes.
        computed: u32,
    },
    /// A value inside the region is outside its range, or a padding byte is not zero.
    #[error("{0}")]
    Value(String),
    /// The region's bytes are valid but are not what the checkpoint it is compared with
    /// quantises to.
    #[error(
        "its contents differ from {source_name}'s quantised weights (CRC-32 0x{stored:08x} in \
         the image, 0x{expected:08x} from the checkpoint): the image was made from another \
         checkpoint"
    )]
    Differs {
        /// The checkpoint.
        source_name: String,
        /// The image's CRC.
        stored: u32,
        /// The CRC the checkpoint gives.
        expected: u32,
    },
}

/// Bytes as text when they are printable ASCII, else as hex.
fn show_bytes(b: &[u8]) -> String {
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("\"{}\"", String::from_utf8_lossy(b))
    } else {
        let hex: Vec<String> = b.iter().map(|c| format!("{c:02x}")).collect();
        format!("[{}]", hex.join(" "))
    }
}
