//! Helpers for tests that need the real model files, shared with the other crates.
//!
//! Tests call [`models_dir`] / [`reference_dir`] (or the loaders built on them); when the
//! environment variable is unset these print a `SKIPPED (not run)` line and return `None`,
//! and the test returns without checking anything. When the variable is set but the files
//! are missing or invalid, the loaders panic with the error: that is a failed test.

use crate::checkpoint::Checkpoint;
use crate::reference::Reference;
use crate::tokenizer::Tokenizer;
use crate::{MODELS_ENV, REFERENCE_ENV};
use std::path::PathBuf;

/// The reference cases in `$LLAMAHDL_REFERENCE/stories260K/`.
pub const REFERENCE_CASES: [&str; 2] = ["once_upon_a_time", "bos"];

fn env_dir(var: &str, holds: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => {
            println!("SKIPPED (not run): set {var} to the folder holding {holds}");
            None
        }
    }
}

/// `$LLAMAHDL_MODELS`: the folder holding `stories260K.bin` and `tok512.bin`, or `None`
/// (after printing the skip message) when unset.
pub fn models_dir() -> Option<PathBuf> {
    env_dir(
        MODELS_ENV,
        "stories260K.bin and tok512.bin (e.g. ../shared/models)",
    )
}

/// `$LLAMAHDL_REFERENCE/stories260K`: the folder of llama2.c reference outputs, or `None`
/// (after printing the skip message) when unset.
pub fn reference_dir() -> Option<PathBuf> {
    env_dir(
        REFERENCE_ENV,
        "the llama2.c reference outputs, containing stories260K/ (e.g. ../shared/reference)",
    )
    .map(|d| d.join("stories260K"))
}

/// The real stories260K checkpoint, or `None` when `LLAMAHDL_MODELS` is unset.
///
/// # Panics
/// When the variable is set and the file cannot be loaded.
pub fn stories260k() -> Option<Checkpoint> {
    let path = models_dir()?.join("stories260K.bin");
    Some(Checkpoint::load(&path).unwrap_or_else(|e| panic!("{e}")))
}

/// The real tok512 tokenizer (512 entries), or `None` when `LLAMAHDL_MODELS` is unset.
///
/// # Panics
/// When the variable is set and the file cannot be loaded.
pub fn tok512() -> Option<Tokenizer> {
    let path = models_dir()?.join("tok512.bin");
    Some(Tokenizer::load(&path, 512).unwrap_or_else(|e| panic!("{e}")))
}

/// Reference case `name` (see [`REFERENCE_CASES`]), or `None` when `LLAMAHDL_REFERENCE` is
/// unset.
///
/// # Panics
/// When the variable is set and the case cannot be loaded.
pub fn reference(name: &str) -> Option<Reference> {
    let dir = reference_dir()?;
    Some(Reference::load(&dir, name).unwrap_or_else(|e| panic!("{e}")))
}
