//! The error type of the model crate.
//!
//! Every variant carries `what`: the file (or other source) the problem is in, and its
//! message states that source and the problem, so a user can tell which file to fix.
//! Nothing in this crate panics on bad input; it returns one of these.

use std::path::Path;

/// Errors from reading, validating and running models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The operating system could not read or write the file.
    #[error("{what}: {source}")]
    Io {
        /// The file.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The checkpoint is shorter than its 28-byte header.
    #[error(
        "{what}: truncated checkpoint: {actual} bytes, shorter than the {expected}-byte header \
         (7 × int32)"
    )]
    TruncatedHeader {
        /// The file.
        what: String,
        /// Header size in bytes (28).
        expected: usize,
        /// The file's size in bytes.
        actual: usize,
    },

    /// The file's size does not match the size its header implies.
    #[error(
        "{what}: file size does not match the header: expected {expected} bytes, found {actual} \
         bytes ({detail})"
    )]
    SizeMismatch {
        /// The file.
        what: String,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes found.
        actual: u64,
        /// What the expectation was computed from.
        detail: String,
    },

    /// A header dimension is zero or negative.
    #[error("{what}: header field {field} is {value}; it must be positive")]
    NonPositiveDimension {
        /// The file.
        what: String,
        /// Header field name.
        field: &'static str,
        /// Its value.
        value: i64,
    },

    /// A header dimension, or the parameter count it implies, is implausibly large.
    #[error(
        "{what}: {field} is {value}, above the limit of {limit}; the header is probably corrupt"
    )]
    AbsurdDimension {
        /// The file.
        what: String,
        /// Header field name (or "parameter count").
        field: &'static str,
        /// Its value.
        value: u128,
        /// The largest accepted value.
        limit: u128,
    },

    /// `dim` is not a multiple of `n_heads`.
    #[error("{what}: dim {dim} is not divisible by n_heads {n_heads}")]
    HeadsDoNotDivideDim {
        /// The file.
        what: String,
        /// Model width.
        dim: usize,
        /// Query heads.
        n_heads: usize,
    },

    /// `n_heads` is not a multiple of `n_kv_heads` (grouped-query attention needs it).
    #[error("{what}: n_heads {n_heads} is not a multiple of n_kv_heads {n_kv_heads}")]
    KvHeadsDoNotDivideHeads {
        /// The file.
        what: String,
        /// Query heads.
        n_heads: usize,
        /// Key/value heads.
        n_kv_heads: usize,
    },

    /// The head size is odd; RoPE rotates pairs of elements.
    #[error("{what}: head size dim/n_heads = {head_dim} is odd; RoPE needs pairs")]
    OddHeadDim {
        /// The file.
        what: String,
        /// dim / n_heads.
        head_dim: usize,
    },

    /// A weight is NaN or infinite.
    #[error("{what}: non-finite value {value} in tensor {tensor} at index {index}")]
    NonFinite {
        /// The file.
        what: String,
        /// Tensor name (with layer).
        tensor: String,
        /// Flat index inside the tensor.
        index: usize,
        /// The value.
        value: f32,
    },

    /// The tokenizer file ends in the middle of its header or an entry.
    #[error(
        "{what}: truncated tokenizer: needs {needed} bytes at offset {offset} for {item}, only \
         {available} left"
    )]
    TokenizerTruncated {
        /// The file.
        what: String,
        /// What was being read.
        item: String,
        /// Byte offset.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },

    /// The tokenizer file is malformed.
    #[error("{what}: malformed tokenizer: {problem}")]
    TokenizerMalformed {
        /// The file.
        what: String,
        /// What is wrong.
        problem: String,
    },

    /// The tokenizer holds a different number of entries than the checkpoint's vocabulary.
    #[error(
        "{what}: tokenizer holds {found} entries but the checkpoint's vocab_size is {expected}"
    )]
    VocabMismatch {
        /// The file.
        what: String,
        /// Entries found.
        found: usize,
        /// vocab_size of the checkpoint.
        expected: usize,
    },

    /// The prompt does not fit in the context.
    #[error("{what}: prompt is {len} tokens, longer than seq_len {seq_len}")]
    PromptTooLong {
        /// The source.
        what: String,
        /// Prompt tokens.
        len: usize,
        /// Context length.
        seq_len: usize,
    },

    /// The prompt is empty (generation needs at least the BOS token).
    #[error("{what}: the prompt has no tokens; it needs at least one (BOS)")]
    EmptyPrompt {
        /// The source.
        what: String,
    },

    /// More steps were requested than positions exist.
    #[error("{what}: {steps} steps requested but seq_len is {seq_len}")]
    TooManySteps {
        /// The source.
        what: String,
        /// Requested steps.
        steps: usize,
        /// Context length.
        seq_len: usize,
    },

    /// A token id is not in the vocabulary.
    #[error("{what}: token id {token} is out of range (vocab_size {vocab_size})")]
    TokenOutOfRange {
        /// The source.
        what: String,
        /// The token.
        token: u64,
        /// Vocabulary size.
        vocab_size: usize,
    },

    /// A position is outside the context.
    #[error("{what}: position {pos} is out of range (seq_len {seq_len})")]
    PositionOutOfRange {
        /// The source.
        what: String,
        /// The position.
        pos: usize,
        /// Context length.
        seq_len: usize,
    },

    /// A JSON file could not be parsed.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        /// The file.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },

    /// Any other inconsistency in a file's contents.
    #[error("{what}: {problem}")]
    Invalid {
        /// The file.
        what: String,
        /// What is wrong.
        problem: String,
    },
}

impl ModelError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, e: std::io::Error) -> ModelError {
        ModelError::Io {
            what: path.display().to_string(),
            source: e,
        }
    }

    /// The file or source the error is about.
    pub fn what(&self) -> &str {
        match self {
            ModelError::Io { what, .. }
            | ModelError::TruncatedHeader { what, .. }
            | ModelError::SizeMismatch { what, .. }
            | ModelError::NonPositiveDimension { what, .. }
            | ModelError::AbsurdDimension { what, .. }
            | ModelError::HeadsDoNotDivideDim { what, .. }
            | ModelError::KvHeadsDoNotDivideHeads { what, .. }
            | ModelError::OddHeadDim { what, .. }
            | ModelError::NonFinite { what, .. }
            | ModelError::TokenizerTruncated { what, .. }
            | ModelError::TokenizerMalformed { what, .. }
            | ModelError::VocabMismatch { what, .. }
            | ModelError::PromptTooLong { what, .. }
            | ModelError::EmptyPrompt { what }
            | ModelError::TooManySteps { what, .. }
            | ModelError::TokenOutOfRange { what, .. }
            | ModelError::PositionOutOfRange { what, .. }
            | ModelError::Json { what, .. }
            | ModelError::Invalid { what, .. } => what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_names_the_file() {
        let e = ModelError::io(
            Path::new("/no/such/model.bin"),
            std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
        );
        let msg = e.to_string();
        assert!(msg.contains("/no/such/model.bin"), "{msg}");
        assert!(msg.contains("not found"), "{msg}");
        assert_eq!(e.what(), "/no/such/model.bin");
    }

    #[test]
    fn size_mismatch_message_has_both_sizes() {
        let e = ModelError::SizeMismatch {
            what: "m.bin".into(),
            expected: 100,
            actual: 96,
            detail: "x".into(),
        };
        let msg = e.to_string();
        assert!(msg.starts_with("m.bin: "), "{msg}");
        assert!(msg.contains("expected 100 bytes, found 96 bytes"), "{msg}");
    }
}
