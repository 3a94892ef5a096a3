//! Model side of llamahdl: everything that has no hardware in it.
//!
//! - [`checkpoint`]: llama2.c legacy checkpoints (header of 7 int32, float32 tensors in
//!   run.c's order), validated with errors that name the file and the problem.
//! - [`tokenizer`]: llama2.c tokenizer files, encode/decode exactly as run.c.
//! - [`synth`]: seeded synthetic checkpoints of any shape, for tests.
//! - [`float`]: the float32 forward pass, equal to run.c.
//! - [`reference`](mod@reference): readers for the llama2.c reference outputs in `../shared/reference`.
//! - [`generate`]: the [`generate::Forward`] engine trait and the greedy loop every engine
//!   shares.
//! - [`testutil`]: helpers for tests that need the real model files (skipped when the
//!   environment variables are unset).

#![warn(missing_docs)]

pub mod checkpoint;
pub mod error;
pub mod float;
pub mod generate;
pub mod input;
pub mod reference;
pub mod synth;
pub mod testutil;
pub mod tokenizer;

pub use checkpoint::{Checkpoint, Config, LayerWeights};
pub use error::ModelError;
pub use float::FloatEngine;
pub use generate::{greedy, Forward, Generation};
pub use reference::Reference;
pub use tokenizer::Tokenizer;

/// Environment variable naming the folder that holds `stories260K.bin` and `tok512.bin`.
/// Tests that need the real model read it; when unset they print that they did not run.
pub const MODELS_ENV: &str = "LLAMAHDL_MODELS";

/// Environment variable naming the folder of llama2.c reference outputs
/// (`.../reference`, containing `stories260K/`).
pub const REFERENCE_ENV: &str = "LLAMAHDL_REFERENCE";

/// Greedy argmax as run.c's `sample_argmax`: the first index of the maximum.
pub fn argmax_f32(v: &[f32]) -> usize {
    let mut best = 0;
    for i in 1..v.len() {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}
