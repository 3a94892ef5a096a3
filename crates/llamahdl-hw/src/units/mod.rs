//! The functional units the decoder sequences (`docs/architecture.md`). Every unit that
//! takes part in the per-token program follows the port convention written there.

pub mod attention;
pub mod boot;
pub mod dram;
pub mod matvec;
pub mod rms;
pub mod weight_path;
