//! The DRAM read path: an AXI4 burst read master ([`axi_read::AxiReadMaster`]) with its
//! output FIFO ([`fifo::ReadFifo`]), and the check of the image header that gates the
//! decoder ([`header_check::HeaderCheck`]). See `docs/dram.md`; the native AXI slave model for
//! testbenches is [`crate::sim::axi_dram`].

pub mod axi_read;
pub mod axi_write;
pub mod burst_split;
pub mod crc;
pub mod fifo;
pub mod header_check;
pub mod region_check;
pub mod router;
pub mod unpack;
