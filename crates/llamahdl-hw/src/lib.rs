//! The rust-hdl blocks of llamahdl, their native simulation, co-simulation against the
//! emitted Verilog, and Verilog emission.
//!
//! - [`decoder`]: the whole decoder (`Decoder`: sequencer, vector memory, argmax), its
//!   per-token program and memory map, and the width limits a model must fit.
//! - [`units`]: the functional units the decoder sequences: the matrix-vector unit with
//!   its fused post-operations, the RMSNorm unit, the attention unit, and the weight path
//!   of the user's plan (row address generator, QKV weight buffer, QKV projector).
//! - [`leaf`]: hand-written leaves (a native `update()` plus a Verilog body) shared by
//!   the units: memories, the dot-product accumulator, the row rescale.
//! - [`bits`]: conversions between rust-hdl's `Bits`/`Signed` and Rust integers.
//! - [`sim`]: the native clock loop ([`sim::Driver`]), port traces, and the engine that
//!   runs the decoder token by token.
//! - [`cosim`]: co-simulation of a native trace against the emitted Verilog (Icarus,
//!   Verilator) and Verilator lint; test support, not used by the library itself.
//! - [`emit`]: Verilog files of a design; [`emit_units`]: one unit on its own (timing flow).

pub mod bits;
pub mod board;
pub mod cosim;
pub mod decoder;
pub mod emit;
pub mod emit_units;
pub mod leaf;
pub mod sim;
pub mod units;
