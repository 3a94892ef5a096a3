//! Native simulation: the clock loop that drives a block ([`Driver`]), the port traces it
//! records for co-simulation ([`trace`]), the engine that runs the decoder
//! position by position ([`engine`]), an AXI4 DRAM slave model ([`axi_dram`]) and a block
//! device (eMMC-class flash) model ([`block_dev`]).

pub mod axi_dram;
pub mod block_dev;
pub mod board;
pub mod boot;
pub mod dram_engine;
mod driver;
pub mod engine;
pub mod trace;

pub use driver::*;
