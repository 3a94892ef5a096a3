//! The boot path: from the block device (eMMC-class flash) into DRAM
//! (`docs/boot.md`).
//!
//! - [`copier::BootCopier`]: reads the weight image from the block device, writes it into
//!   DRAM with an AXI4 burst write master and checks the header and every region's CRC-32
//!   on the way; `ready` or a precise error.
//! - [`pack::Pack32`]: the device's 32-bit words into bus words.
//!
//! ## The block-device interface
//!
//! One narrow interface, so that an eMMC controller, an SD card in SPI mode or a processor
//! copying from its own storage can sit behind it:
//!
//! | signal | from | width | meaning |
//! |--------|------|-------|---------|
//! | `bd_cmd_valid`, `bd_cmd_ready` | fabric, device | 1, 1 | a read command is taken at an edge with both high |
//! | `bd_lba`, `bd_count` | fabric | 32, 32 | first 512-byte block, number of blocks |
//! | `bd_valid`, `bd_ready`, `bd_data` | device, fabric, device | 1, 1, 32 | the blocks' bytes in order, four a word, the first byte in bits 7..0; a word moves at an edge with both high |
//! | `bd_error` | device | 1 | the command failed (read error, or a block past the device's end); held until `bd_abort` |
//! | `bd_abort` | fabric | 1 | one-cycle pulse: end the running command (or clear `bd_error`) |
//!
//! The device may take any number of cycles before the first word and between words. The
//! model for simulation is [`crate::sim::block_dev::BlockDev`].

pub mod copier;
pub mod pack;

pub use copier::{BootCopier, BootLayout, BootParams};
pub use pack::Pack32;
