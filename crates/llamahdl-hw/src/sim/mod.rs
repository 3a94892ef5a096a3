//! Native simulation: the clock loop that drives a block ([`Driver`]), the port traces it
//! records for co-simulation ([`trace`]), and the engine that runs the decoder position by
//! position ([`engine`]).

pub mod board;
mod driver;
pub mod engine;
pub mod trace;

pub use driver::*;
