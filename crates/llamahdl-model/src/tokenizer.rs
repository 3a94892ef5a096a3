//! llama2.c tokenizer files and run.c's encode/decode.
//!
//! File layout (little-endian): `i32 max_token_length`, then for each of the checkpoint's
//! `vocab_size` entries: `f32 score`, `i32 len`, `len` bytes of the piece. The file does not
//! store the entry count; it comes from the checkpoint.
//!
//! Token ids: 0 `<unk>`, 1 BOS, 2 EOS, 3..=258 the byte-fallback pieces `<0x00>`..`<0xFF>`.

use crate::error::ModelError;
use std::collections::HashMap;
use std::path::Path;

/// Beginning-of-sequence token id.
pub const BOS: u32 = 1;
/// End-of-sequence token id.
pub const EOS: u32 = 2;
/// Id of the byte-fallback piece for byte 0 (byte `b` is `b + BYTE_OFFSET`).
pub const BYTE_OFFSET: u32 = 3;

/// A loaded llama2.c tokenizer.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    /// The piece (raw bytes) of each token id.
    pub vocab: Vec<Vec<u8>>,
    /// The merge score of each token id.
    pub scores: Vec<f32>,
    /// `max_token_length` from the file header.
    pub max_token_length: usize,
    /// Piece → id (the lowest id when a piece occurs twice).
    lookup: HashMap<Vec<u8>, u32>,
}

/// Byte cursor over the tokenizer file.
struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
    what: &'a str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, item: &dyn Fn() -> String) -> Result<&'a [u8], ModelError> {
        let available = self.bytes.len() - self.offset;
        if n > available {
            return Err(ModelError::TokenizerTruncated {
                what: self.what.to_string(),
                item: item(),
                offset: self.offset,
                needed: n,
                available,
            });
        }
        let s = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        Ok(s)
    }

    fn word(&mut self, item: &dyn Fn() -> String) -> Result<[u8; 4], ModelError> {
        let b = self.take(4, item)?;
        Ok([b[0], b[1], b[2], b[3]])
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// Read one entry: `(score, piece)`.
    fn entry(&mut self, id: usize) -> Result<(f32, &'a [u8]), ModelError> {
        let score = f32::from_le_bytes(self.word(&|| format!("the score of token {id}"))?);
        let len_at = self.offset;
        let len = i32::from_le_bytes(self.word(&|| format!("the length of token {id}"))?);
        if len < 0 {
            return Err(ModelError::TokenizerMalformed {
                what: self.what.to_string(),
                problem: format!("token {id} has negative length {len} (at offset {len_at})"),
            });
        }
        let piece = self.take(len as usize, &|| {
            format!("the {len}-byte piece of token {id}")
        })?;
        Ok((score, piece))
    }
}

impl Tokenizer {
    /// Read a tokenizer file holding `vocab_size` entries (the checkpoint's vocabulary size).
    pub fn load(path: &Path, vocab_size: usize) -> Result<Tokenizer, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_bytes(&bytes, vocab_size, &path.display().to_string())
    }

    /// Parse tokenizer bytes holding `vocab_size` entries; `what` names the source.
    ///
    /// Errors: the file ends inside an entry ([`ModelError::TokenizerTruncated`]); it ends
    /// after fewer whole entries than `vocab_size`, or continues with further whole entries
    /// ([`ModelError::VocabMismatch`]); a negative length, non-finite score, or trailing
    /// bytes that are not whole entries ([`ModelError::TokenizerMalformed`]).
    pub fn from_bytes(
        bytes: &[u8],
        vocab_size: usize,
        what: &str,
    ) -> Result<Tokenizer, ModelError> {
        let malformed = |problem: String| ModelError::TokenizerMalformed {
            what: what.to_string(),
            problem,
        };
        if vocab_size < (BYTE_OFFSET + 256) as usize {
            return Err(malformed(format!(
                "vocab_size {vocab_size} is too small: llama2.c vocabularies hold <unk>, BOS, \
                 EOS and 256 byte pieces"
            )));
        }
        let mut cur = Cursor {
            bytes,
            offset: 0,
            what,
        };
        let max_len = i32::from_le_bytes(cur.word(&|| "max_token_length".to_string())?);
        if max_len <= 0 {
            return Err(malformed(format!("max_token_length is {max_len}")));
        }
        let mut vocab = Vec::with_capacity(vocab_size);
        let mut scores = Vec::with_capacity(vocab_size);
        for id in 0..vocab_size {
            if cur.remaining() == 0 {
                return Err(ModelError::VocabMismatch {
                    what: what.to_string(),
                    found: id,
                    expected: vocab_size,
                });
            }
            let (score, piece) = cur.entry(id)?;
            if !score.is_finite() {
                return Err(malformed(format!(
                    "token {id} has non-finite score {score}"
                )));
            }
            scores.push(score);
            vocab.push(piece.to_vec());
        }
        if cur.remaining() > 0 {
            // Whole further entries mean a bigger vocabulary; anything else is garbage.
            let start = cur.offset;
            let mut extra = 0;
            while cur.remaining() > 0 && cur.entry(vocab_size + extra).is_ok() {
                extra += 1;
            }
            if cur.remaining() == 0 && extra > 0 {
                return Err(ModelError::VocabMismatch {
                    what: what.to_string(),
                    found: vocab_size + extra,
                    expected: vocab_size,
                });
            }
            return Err(malformed(format!(
                "{} trailing bytes after the last of {vocab_size} entries (offset {start})",
                bytes.len() - start
            )));
        }
        for b in 0..=255u32 {
            let id = (b + BYTE_OFFSET) as usize;
            let want = format!("<0x{b:02X}>");
            if vocab[id] != want.as_bytes() {
                return Err(malformed(format!(
                    "token {id} is {:?}, expected the byte piece {want}",
                    String::from_utf8_lossy(&vocab[id])
                )));
            }
        }
        let mut lookup = HashMap::with_capacity(vocab_size);
        for (id, piece) in vocab.iter().enumerate() {
            lookup.entry(piece.clone()).or_insert(id as u32);
        }
        Ok(Tokenizer {
            vocab,
            scores,
            max_token_length: max_len as usize,
            lookup,
        })
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The id whose piece is exactly `piece`.
    pub fn id_of(&self, piece: &[u8]) -> Option<u32> {
        self.lookup.get(piece).copied()
    }

    /// Encode `text` as run.c does: BOS if `bos`; for non-empty text the id of `" "` (the
    /// dummy prefix); each UTF-8 code point's piece, or its bytes as byte-fallback ids
    /// (`byte + 3`); then repeatedly merge the adjacent pair with the highest score (first on
    /// ties) whose concatenation is a piece; EOS if `eos`.
    pub fn encode(&self, text: &str, bos: bool, eos: bool) -> Vec<u32> {
        let mut tokens: Vec<u32> = Vec::with_capacity(text.len() + 3);
        if bos {
            tokens.push(BOS);
        }
        if !text.is_empty() {
            if let Some(id) = self.id_of(b" ") {
                tokens.push(id);
            }
        }
        // Group each lead byte with up to 3 following continuation bytes (run.c's loop).
        let bytes = text.as_bytes();
        let mut buf: Vec<u8> = Vec::with_capacity(4);
        for (i, &c) in bytes.iter().enumerate() {
            if c & 0xC0 != 0x80 {
                buf.clear();
            }
            buf.push(c);
            let next_continues = bytes.get(i + 1).is_some_and(|&n| n & 0xC0 == 0x80);
            if next_continues && buf.len() < 4 {
                continue;
            }
            match self.id_of(&buf) {
                Some(id) => tokens.push(id),
                None => tokens.extend(buf.iter().map(|&b| b as u32 + BYTE_OFFSET)),
            }
            buf.clear();
        }
        let mut pair: Vec<u8> = Vec::with_capacity(2 * self.max_token_length + 2);
        loop {
            let mut best: Option<(f32, usize, u32)> = None;
            for i in 0..tokens.len().saturating_sub(1) {
                pair.clear();
                pair.extend_from_slice(&self.vocab[tokens[i] as usize]);
                pair.extend_from_slice(&self.vocab[tokens[i + 1] as usize]);
                if let Some(id) = self.id_of(&pair) {
                    let score = self.scores[id as usize];
                    if best.map_or(true, |(s, _, _)| score > s) {
                        best = Some((score, i, id));
                    }
                }
            }
            let Some((_, i, id)) = best else { break };
            tokens[i] = id;
            tokens.remove(i + 1);
        }
        if eos {
            tokens.push(EOS);
        }
        tokens
    }

    /// The bytes run.c's `decode` gives for `token` following `prev_token`: the piece, with
    /// its leading space removed after BOS, and `<0xXX>` pieces turned into the raw byte.
    pub fn decode(&self, prev_token: u32, token: u32) -> Result<Vec<u8>, ModelError> {
        let piece = self
            .vocab
            .get(token as usize)
            .ok_or_else(|| ModelError::TokenOutOfRange {
                what: "tokenizer decode".to_string(),
                token: token as u64,
                vocab_size: self.vocab.len(),
            })?;
        // run.c handles pieces as C strings: they end at a NUL byte.
        let piece = match piece.iter().position(|&b| b == 0) {
            Some(n) => &piece[..n],
            None => &piece[..],
        };
        let piece = if prev_token == BOS && piece.first() == Some(&b' ') {
            &piece[1..]
        } else {
            piece
        };
        if let Some(b) = parse_byte_piece(piece) {
            return Ok(vec![b]);
        }
        Ok(piece.to_vec())
    }

    /// The text run.c prints for a sequence: for each position `p >= 1` the decoded piece of
    /// `ids[p]` after `ids[p - 1]`, stopping at a BOS (which is not printed). Single-byte
    /// pieces that are neither printable ASCII nor whitespace are dropped (run.c's
    /// `safe_printf`), and a raw NUL byte prints nothing. Invalid UTF-8 is replaced with
    /// U+FFFD; [`Tokenizer::decode_ids_bytes`] gives the exact bytes.
    pub fn decode_ids(&self, ids: &[u32]) -> Result<String, ModelError> {
        Ok(String::from_utf8_lossy(&self.decode_ids_bytes(ids)?).into_owned())
    }

    /// The bytes run.c prints for a sequence (see [`Tokenizer::decode_ids`]).
    pub fn decode_ids_bytes(&self, ids: &[u32]) -> Result<Vec<u8>, ModelError> {
        let mut out = Vec::new();
        for w in ids.windows(2) {
            let (prev, next) = (w[0], w[1]);
            if next == BOS {
                break;
            }
            let piece = self.decode(prev, next)?;
            if let [b] = piece[..] {
                let printable = (0x20..=0x7E).contains(&b);
                let space = matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
                if !(printable || space) {
                    continue;
                }
            }
            // A NUL inside would end run.c's printf; decode already cut pieces at NUL.
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }
}

/// Parse a `<0xXX>` piece as run.c's `sscanf("<0x%02hhX>")` does: `<0x` then one or two hex
/// digits. Returns the byte.
fn parse_byte_piece(piece: &[u8]) -> Option<u8> {
    let rest = piece.strip_prefix(b"<0x")?;
    let digits: Vec<u8> = rest
        .iter()
        .take(2)
        .take_while(|b| b.is_ascii_hexdigit())
        .copied()
        .collect();
    if digits.is_empty() {
        return None;
    }
    let s = std::str::from_utf8(&digits).ok()?;
    u8::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small synthetic tokenizer file: specials, 256 byte pieces, then `extra` pieces.
    fn tokenizer_bytes(extra: &[(&str, f32)]) -> Vec<u8> {
        let mut pieces: Vec<(Vec<u8>, f32)> = vec![
            (b"<unk>".to_vec(), 0.0),
            (b"\n<s>\n".to_vec(), 0.0),
            (b"\n</s>\n".to_vec(), 0.0),
        ];
        for b in 0..=255u32 {
            pieces.push((format!("<0x{b:02X}>").into_bytes(), 0.0));
        }
        for (p, s) in extra {
            pieces.push((p.as_bytes().to_vec(), *s));
        }
        let mut out = 16i32.to_le_bytes().to_vec();
        for (p, s) in &pieces {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&(p.len() as i32).to_le_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    const EXTRA: &[(&str, f32)] = &[
        (" ", -1.0),
        ("a", -2.0),
        ("b", -3.0),
        ("ab", -4.0),
        (" ab", -5.0),
        ("é", -6.0),
        ("ba", -4.0),
    ];

    fn small() -> Tokenizer {
        Tokenizer::from_bytes(&tokenizer_bytes(EXTRA), 259 + EXTRA.len(), "small").unwrap()
    }

    #[test]
    fn encode_merges_and_falls_back() {
        let t = small();
        let sp = t.id_of(b" ").unwrap();
        let a = t.id_of(b"a").unwrap();
        let ab = t.id_of(b"ab").unwrap();
        let sab = t.id_of(b" ab").unwrap();
        let e = t.id_of("é".as_bytes()).unwrap();
        assert_eq!(t.encode("", true, false), vec![BOS]);
        assert_eq!(t.encode("", false, true), vec![EOS]);
        // " " + "a" + "b": "ab" (-4) beats nothing else; then " ab" (-5).
        assert_eq!(t.encode("ab", true, true), vec![BOS, sab, EOS]);
        // "aba": "ab" and "ba" tie at -4, the first occurrence wins.
        assert_eq!(t.encode("aba", false, false), vec![sab, a]);
        // Unknown "z" → byte fallback; "é" is one code point piece; "€" (3 bytes) falls back.
        assert_eq!(
            t.encode("zé€", false, false),
            vec![sp, b'z' as u32 + 3, e, 0xE2 + 3, 0x82 + 3, 0xAC + 3]
        );
        let _ = ab;
    }

    #[test]
    fn decode_rules() {
        let t = small();
        let sab = t.id_of(b" ab").unwrap();
        assert_eq!(t.decode(BOS, sab).unwrap(), b"ab");
        assert_eq!(t.decode(5, sab).unwrap(), b" ab");
        assert_eq!(t.decode(5, b'\n' as u32 + 3).unwrap(), b"\n");
        assert_eq!(t.decode(5, 0xC3 + 3).unwrap(), vec![0xC3]);
        assert!(matches!(
            t.decode(5, 100_000),
            Err(ModelError::TokenOutOfRange { .. })
        ));
        // Unprintable single bytes are not printed; whitespace is; BOS ends the text.
        let ids = [BOS, sab, 7 + 3, b'\t' as u32 + 3, sab, BOS, sab];
        assert_eq!(t.decode_ids(&ids).unwrap(), "ab\t ab");
    }

    #[test]
    fn file_errors() {
        let good = tokenizer_bytes(EXTRA);
        let n = 259 + EXTRA.len();
        // Ends inside an entry.
        let e = Tokenizer::from_bytes(&good[..good.len() - 1], n, "t.bin").unwrap_err();
        assert!(matches!(e, ModelError::TokenizerTruncated { .. }), "{e}");
        assert!(e.to_string().contains("t.bin"));
        // Header only.
        let e = Tokenizer::from_bytes(&good[..2], n, "t.bin").unwrap_err();
        assert!(matches!(e, ModelError::TokenizerTruncated { .. }), "{e}");
        // Fewer whole entries than the checkpoint's vocabulary.
        let e = Tokenizer::from_bytes(&good, n + 3, "t.bin").unwrap_err();
        assert!(
            matches!(e, ModelError::VocabMismatch { found, expected, .. } if found == n && expected == n + 3),
            "{e}"
        );
        // More whole entries than the checkpoint's vocabulary.
        let e = Tokenizer::from_bytes(&good, n - 2, "t.bin").unwrap_err();
        assert!(
            matches!(e, ModelError::VocabMismatch { found, expected, .. } if found == n && expected == n - 2),
            "{e}"
        );
        // Garbage after the last entry.
        let mut junk = good.clone();
        junk.extend_from_slice(&[1, 2, 3]);
        let e = Tokenizer::from_bytes(&junk, n, "t.bin").unwrap_err();
        assert!(matches!(e, ModelError::TokenizerMalformed { .. }), "{e}");
        // Negative length.
        let mut neg = good.clone();
        neg[8..12].copy_from_slice(&(-5i32).to_le_bytes());
        let e = Tokenizer::from_bytes(&neg, n, "t.bin").unwrap_err();
        assert!(matches!(e, ModelError::TokenizerMalformed { .. }), "{e}");
        // Empty file.
        let e = Tokenizer::from_bytes(&[], n, "t.bin").unwrap_err();
        assert!(matches!(e, ModelError::TokenizerTruncated { .. }), "{e}");
    }

    #[test]
    fn byte_piece_parsing() {
        assert_eq!(parse_byte_piece(b"<0x0A>"), Some(10));
        assert_eq!(parse_byte_piece(b"<0xff>"), Some(255));
        assert_eq!(parse_byte_piece(b"<0x"), None);
        assert_eq!(parse_byte_piece(b"hello"), None);
    }

    #[test]
    fn stories_encode_once_upon_a_time() {
        let Some(dir) = crate::testutil::models_dir() else {
            return;
        };
        let t = Tokenizer::load(&dir.join("tok512.bin"), 512).unwrap();
        assert_eq!(t.max_token_length, 7);
        assert_eq!(
            t.encode("Once upon a time", true, false),
            vec![1, 403, 407, 261, 378]
        );
        // Wrong vocabulary size from the checkpoint.
        let e = Tokenizer::load(&dir.join("tok512.bin"), 500).unwrap_err();
        assert!(matches!(e, ModelError::VocabMismatch { .. }), "{e}");
    }

    #[test]
    fn stories_decode_reference_text() {
        let Some(dir) = crate::testutil::models_dir() else {
            return;
        };
        let t = Tokenizer::load(&dir.join("tok512.bin"), 512).unwrap();
        for name in crate::testutil::REFERENCE_CASES {
            let Some(r) = crate::testutil::reference(name) else {
                return;
            };
            assert_eq!(t.encode(&r.prompt, true, false), r.prompt_ids, "{name}");
            assert_eq!(t.decode_ids(&r.ids).unwrap(), r.text, "{name}");
        }
    }
}
