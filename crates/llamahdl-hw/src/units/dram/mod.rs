//! The DRAM read path: an AXI4 burst read master ([`axi_read::AxiReadMaster`]) with its
//! output FIFO ([`fifo::ReadFifo`]). See `docs/dram.md`; the native AXI slave model for
//! testbenches is [`crate::sim::axi_dram`].

pub mod axi_read;
pub mod fifo;
