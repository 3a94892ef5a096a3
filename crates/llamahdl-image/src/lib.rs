//! The weight image: the golden model's quantised weights laid out for a decoder that
//! streams them from DRAM, with a header and a region table, each region aligned to the
//! bus word and checked by a CRC-32. The format is specified in `docs/image-format.md`;
//! this crate writes it, verifies it and reads it back. It has no hardware in it (no
//! rust-hdl), so the simulator's DRAM model and any host tool can use it.
//!
//! - [`format`]: the header and table-entry bytes, the region kinds, the constants.
//! - [`layout`]: [`layout::plan`], the one place the layout is decided (writer and
//!   verifier both use it).
//! - [`write`]: an image from a [`llamahdl_golden::QuantModel`].
//! - [`verify`]: every check of an image, from a byte slice or a file.
//! - [`decode`]: an image back into a `QuantModel`.
//! - [`compare`]: whether an image is the one a checkpoint and a design call for.
//! - [`error`]: typed errors; nothing here panics on the contents of an image.

#![warn(missing_docs)]

pub mod compare;
pub mod decode;
pub mod error;
pub mod format;
pub mod layout;
pub mod verify;
pub mod write;

pub use decode::{decode, decode_verified};
pub use error::{ImageError, Problem, RegionProblem};
pub use format::{Header, Region, RegionKind, BUS_BITS, DEFAULT_BUS_BITS};
pub use layout::{plan, Plan};
pub use verify::{read_file, verify, verify_file, Image};
pub use write::{image_bytes, plan_with_crcs, write_image};
