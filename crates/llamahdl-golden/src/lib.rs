//! Hardware number formats, weight quantisation and the bit-exact integer golden model.
//!
//! - [`numerics`]: the integer primitives (block formats, saturating shifts, the tables
//!   for inverse square root, exp, reciprocal, sigmoid) shared bit for bit with the RTL.
//! - [`quant`]: quantisation of a float checkpoint into hardware formats (Rust, at
//!   generation/image time).
//! - [`golden`]: the integer forward pass, the oracle of every RTL test.
//! - [`fidelity`]: agreement with llama2.c's reference outputs.

pub mod fidelity;
pub mod golden;
pub mod numerics;
pub mod quant;

pub use golden::Golden;
pub use quant::{QMatrix, QuantModel, ScaleMode};
