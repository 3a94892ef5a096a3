//! The weight path of the user's plan (steps 1-3): the row address generator
//! ([`row_addr::RowAddrGen`]), the QKV weight buffer and its loader
//! ([`weight_buffer::QkvWeightBuffer`], [`weight_buffer::QkvLoader`]), and the QKV
//! projector with its RAM select ([`qkv_projector::QkvProjector`]); [`shape`] holds the
//! stream's shape and counter widths.

pub mod qkv_projector;
pub mod row_addr;
pub mod shape;
pub mod weight_buffer;
