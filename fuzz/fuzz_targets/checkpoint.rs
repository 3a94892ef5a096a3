//! The checkpoint reader on arbitrary bytes: never a panic, and whatever it accepts is a
//! valid checkpoint that serialises and parses back to itself.
//!
//! The first byte picks the mode: odd means "fit the body to the header", so that inputs
//! reach the tensor parsing (a random length rarely equals the size a header implies).
#![no_main]

use libfuzzer_sys::fuzz_target;
use llamahdl_model::checkpoint::{Checkpoint, HEADER_BYTES};

/// Largest body the fit mode builds (keeps each execution fast).
const FIT_LIMIT: u128 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 && bytes.len() >= HEADER_BYTES {
        let mut h = [0i32; 7];
        for (i, v) in h.iter_mut().enumerate() {
            *v = i32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
        }
        // Size from the header as the reader computes it; only small shapes are fitted.
        if let Ok(ck_cfg) = header_size(&h) {
            if ck_cfg <= FIT_LIMIT {
                bytes.resize(ck_cfg as usize, 0);
            }
        }
    }
    if let Ok(ck) = Checkpoint::from_bytes(&bytes, "fuzz") {
        ck.validate("fuzz").expect("an accepted checkpoint is valid");
        let again = Checkpoint::from_bytes(&ck.to_bytes(), "again").expect("round trip");
        assert!(again == ck, "round trip changed the checkpoint");
    }
});

/// The file size a header implies, when its fields form a valid shape.
fn header_size(h: &[i32; 7]) -> Result<u128, ()> {
    let c = llamahdl_model::Config {
        dim: usize::try_from(h[0]).map_err(|_| ())?,
        hidden_dim: usize::try_from(h[1]).map_err(|_| ())?,
        n_layers: usize::try_from(h[2]).map_err(|_| ())?,
        n_heads: usize::try_from(h[3]).map_err(|_| ())?,
        n_kv_heads: usize::try_from(h[4]).map_err(|_| ())?,
        vocab_size: h[5].unsigned_abs() as usize,
        seq_len: usize::try_from(h[6]).map_err(|_| ())?,
        shared_classifier: h[5] > 0,
    };
    c.validate("fuzz").map_err(|_| ())?;
    Ok(c.file_bytes())
}
