//! The rust-hdl blocks of llamahdl, their native testbenches, co-simulation against the
//! emitted Verilog, and Verilog emission.

pub mod attention;
pub mod attention_par;
pub mod cosim;
pub mod emit_units;
pub mod engine;
pub mod hierarchy;
pub mod leaf;
pub mod matvec;
pub mod params;
pub mod post;
pub mod program;
pub mod qkv_projector;
pub mod rms_unit;
pub mod row_addr;
pub mod sim;
pub mod top;
pub mod vec_unit;
pub mod verilog;
pub mod weight_buffer;
