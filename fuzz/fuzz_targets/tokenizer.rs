//! The tokenizer reader and encoder on arbitrary bytes.
//!
//! Input layout: byte 0 = vocabulary size beyond the 259 fixed entries (0..=255), bytes
//! 1..3 = text length n (u16, little-endian), then n bytes of text (lossy UTF-8), then the
//! tokenizer file. Checks: the reader never panics; on an accepted file, the priority-queue
//! encoder equals run.c's quadratic loop, every id is in range, the byte-count lower bound
//! holds, and decoding the ids does not fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llamahdl_model::Tokenizer;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let vocab = 259 + data[0] as usize;
    let n = u16::from_le_bytes([data[1], data[2]]) as usize;
    let rest = &data[3..];
    let n = n.min(rest.len());
    let text = String::from_utf8_lossy(&rest[..n]);
    let file = &rest[n..];
    let Ok(t) = Tokenizer::from_bytes(file, vocab, "fuzz") else {
        return;
    };
    for bos in [false, true] {
        let ids = t.encode(&text, bos, !bos);
        assert_eq!(ids, t.encode_quadratic(&text, bos, !bos), "text {text:?}");
        assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
        assert!(t.min_encoded_len(&text, !bos) <= ids.len());
        t.decode_ids_bytes(&ids).expect("ids from encode decode");
    }
});
