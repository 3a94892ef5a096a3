//! The rust-hdl blocks of llamahdl, their native testbenches, co-simulation against the
//! emitted Verilog, and Verilog emission.

pub mod cosim;
pub mod leaf;
pub mod qkv_projector;
pub mod params;
pub mod row_addr;
pub mod sim;
pub mod weight_buffer;
