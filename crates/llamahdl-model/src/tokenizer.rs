//! llama2.c tokenizer files and run.c's encode/decode.
//!
//! File layout (little-endian): `i32 max_token_length`, then for each of the checkpoint's
//! `vocab_size` entries: `f32 score`, `i32 len`, `len` bytes of the piece. The file does not
//! store the entry count; it comes from the checkpoint.
//!
//! Token ids: 0 `<unk>`, 1 BOS, 2 EOS, 3..=258 the byte-fallback pieces `<0x00>`..`<0xFF>`.

use crate::error::ModelError;
use std::collections::{BinaryHeap, HashMap};
use std::io::Read;
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
    /// Length of the longest piece.
    longest_piece: usize,
}

/// run.c's `best_score` before the scan of each merge round: only pairs scoring above it
/// are ever merged.
const RUN_C_FIRST_BEST: f32 = -1e10;

/// A candidate merge of adjacent tokens (node indices `left`, `right`).
struct Cand {
    score: f32,
    left: usize,
    right: usize,
    left_tok: u32,
    right_tok: u32,
    id: u32,
}

impl PartialEq for Cand {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Cand {}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cand {
    /// Greater = merged first: the higher score, then (as run.c's first-on-ties scan) the
    /// leftmost pair. Scores compare as run.c's `>` does (-0.0 equals 0.0).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(other.left.cmp(&self.left))
    }
}

/// Longest accepted `max_token_length` (llama2.c's tokenizers use 7 to 27; run.c sizes
/// its merge buffer from it, so a huge value is a corrupt header, not a vocabulary).
pub const MAX_TOKEN_LENGTH: usize = 1024;

/// Most bytes read after the last entry, to tell further entries from garbage.
const TRAILING_LIMIT: u64 = 1 << 20;

/// Reads the tokenizer file's fields from a byte stream, keeping the offset for errors.
struct Cursor<'a, R: Read> {
    r: R,
    offset: usize,
    what: &'a str,
    path: &'a Path,
    buf: Vec<u8>,
}

impl<R: Read> Cursor<'_, R> {
    /// Read exactly `n` bytes into `self.buf`, or report the file truncated.
    fn take(&mut self, n: usize, item: &dyn Fn() -> String) -> Result<&[u8], ModelError> {
        self.buf.clear();
        let got = crate::input::read_up_to(&mut self.r, n as u64, &mut self.buf, self.path)?;
        if (got as usize) < n {
            return Err(ModelError::TokenizerTruncated {
                what: self.what.to_string(),
                item: item(),
                offset: self.offset,
                needed: n,
                available: got as usize,
            });
        }
        self.offset += n;
        Ok(&self.buf)
    }

    fn word(&mut self, item: &dyn Fn() -> String) -> Result<[u8; 4], ModelError> {
        let b = self.take(4, item)?;
        Ok([b[0], b[1], b[2], b[3]])
    }

    /// True when the stream is at its end (reads one byte ahead into `peeked`).
    fn at_end(&mut self, peeked: &mut Vec<u8>) -> Result<bool, ModelError> {
        if !peeked.is_empty() {
            return Ok(false);
        }
        Ok(crate::input::read_up_to(&mut self.r, 1, peeked, self.path)? == 0)
    }
}

/// Parse one entry `(score, len, piece)` from `b` at `*at`; `None` when `b` ends first or
/// the length is negative or above `max_len`.
fn entry_in(b: &[u8], at: &mut usize, max_len: usize) -> Option<()> {
    let head = b.get(*at..*at + 8)?;
    let len = i32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len < 0 || len as usize > max_len {
        return None;
    }
    let end = *at + 8 + len as usize;
    if end > b.len() {
        return None;
    }
    *at = end;
    Some(())
}

impl Tokenizer {
    /// Read a tokenizer file holding `vocab_size` entries (the checkpoint's vocabulary size).
    ///
    /// The file is read as a stream, entry by entry, and never further than its
    /// `vocab_size` entries plus a bounded tail (see [`Tokenizer::from_bytes`] for the
    /// rules), so `/dev/zero` or an endless pipe is refused quickly; a FIFO with no writer
    /// reads as empty.
    pub fn load(path: &Path, vocab_size: usize) -> Result<Tokenizer, ModelError> {
        let file = crate::input::open(path)?;
        Self::parse(
            std::io::BufReader::new(file),
            vocab_size,
            &path.display().to_string(),
            path,
        )
    }

    /// Parse tokenizer bytes holding `vocab_size` entries; `what` names the source.
    ///
    /// Errors: the file ends inside an entry ([`ModelError::TokenizerTruncated`]); it ends
    /// after fewer whole entries than `vocab_size`, or continues with further whole entries
    /// ([`ModelError::VocabMismatch`]); `max_token_length` not in `1..=`[`MAX_TOKEN_LENGTH`],
    /// a piece longer than `max_token_length` or negative, a non-finite score, missing byte
    /// pieces, or trailing bytes that are not whole entries
    /// ([`ModelError::TokenizerMalformed`]).
    pub fn from_bytes(
        bytes: &[u8],
        vocab_size: usize,
        what: &str,
    ) -> Result<Tokenizer, ModelError> {
        Self::parse(bytes, vocab_size, what, Path::new(what))
    }

    fn parse<R: Read>(
        r: R,
        vocab_size: usize,
        what: &str,
        path: &Path,
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
            r,
            offset: 0,
            what,
            path,
            buf: Vec::with_capacity(64),
        };
        let max_len = i32::from_le_bytes(cur.word(&|| "max_token_length".to_string())?);
        if max_len <= 0 || max_len as usize > MAX_TOKEN_LENGTH {
            return Err(malformed(format!(
                "max_token_length is {max_len}; it must be between 1 and {MAX_TOKEN_LENGTH}"
            )));
        }
        let max_len = max_len as usize;
        let mut vocab: Vec<Vec<u8>> = Vec::new();
        let mut scores: Vec<f32> = Vec::new();
        let mut peeked = Vec::with_capacity(1);
        for id in 0..vocab_size {
            if cur.at_end(&mut peeked)? {
                return Err(ModelError::VocabMismatch {
                    what: what.to_string(),
                    found: id,
                    expected: vocab_size,
                });
            }
            // The byte read ahead is the first byte of this entry's score.
            let score_at = cur.offset;
            let mut score_bytes = [0u8; 4];
            score_bytes[0] = peeked[0];
            peeked.clear();
            cur.offset += 1;
            let rest = cur.take(3, &|| format!("the score of token {id}"))?;
            score_bytes[1..].copy_from_slice(rest);
            let score = f32::from_le_bytes(score_bytes);
            let len_at = cur.offset;
            let len = i32::from_le_bytes(cur.word(&|| format!("the length of token {id}"))?);
            if len < 0 {
                return Err(malformed(format!(
                    "token {id} has negative length {len} (at offset {len_at})"
                )));
            }
            if len as usize > max_len {
                return Err(malformed(format!(
                    "token {id} is {len} bytes long (at offset {len_at}), longer than \
                     max_token_length {max_len}"
                )));
            }
            let piece = cur
                .take(len as usize, &|| {
                    format!("the {len}-byte piece of token {id}")
                })?
                .to_vec();
            if !score.is_finite() {
                return Err(malformed(format!(
                    "token {id} has non-finite score {score} (at offset {score_at})"
                )));
            }
            scores.push(score);
            vocab.push(piece);
        }
        if !cur.at_end(&mut peeked)? {
            // Whole further entries mean a bigger vocabulary; anything else is garbage.
            let start = cur.offset;
            let mut tail = std::mem::take(&mut peeked);
            crate::input::read_up_to(&mut cur.r, TRAILING_LIMIT, &mut tail, path)?;
            if tail.len() as u64 > TRAILING_LIMIT {
                return Err(malformed(format!(
                    "more than {TRAILING_LIMIT} bytes follow the last of {vocab_size} entries \
                     (offset {start})"
                )));
            }
            let (mut at, mut extra) = (0, 0);
            while at < tail.len() && entry_in(&tail, &mut at, max_len).is_some() {
                extra += 1;
            }
            if at == tail.len() && extra > 0 {
                return Err(ModelError::VocabMismatch {
                    what: what.to_string(),
                    found: vocab_size + extra,
                    expected: vocab_size,
                });
            }
            return Err(malformed(format!(
                "{} trailing bytes after the last of {vocab_size} entries (offset {start})",
                tail.len()
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
        let longest_piece = vocab.iter().map(Vec::len).max().unwrap_or(0);
        Ok(Tokenizer {
            vocab,
            scores,
            max_token_length: max_len,
            lookup,
            longest_piece,
        })
    }

    /// Length in bytes of the longest piece.
    pub fn longest_piece(&self) -> usize {
        self.longest_piece
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
    /// ties) whose concatenation is a piece, as long as that score is above run.c's
    /// starting best of -1e10; EOS if `eos`.
    ///
    /// run.c rescans every pair after each merge (quadratic in the text length); this keeps
    /// the candidate pairs in a priority queue ordered by (score, position) instead, which
    /// picks the same pair at every step, so the result is identical
    /// ([`Tokenizer::encode_quadratic`] is run.c's loop, kept to check that).
    pub fn encode(&self, text: &str, bos: bool, eos: bool) -> Vec<u32> {
        let mut tokens = self.initial_tokens(text, bos);
        self.merge_pairs(&mut tokens);
        if eos {
            tokens.push(EOS);
        }
        tokens
    }

    /// [`Tokenizer::encode`] with run.c's quadratic merge loop, pair by pair. For tests and
    /// fuzzing (the two must agree on every input).
    #[doc(hidden)]
    pub fn encode_quadratic(&self, text: &str, bos: bool, eos: bool) -> Vec<u32> {
        let mut tokens = self.initial_tokens(text, bos);
        let mut pair: Vec<u8> = Vec::new();
        loop {
            let mut best: Option<(f32, usize, u32)> = None;
            for i in 0..tokens.len().saturating_sub(1) {
                pair.clear();
                pair.extend_from_slice(&self.vocab[tokens[i] as usize]);
                pair.extend_from_slice(&self.vocab[tokens[i + 1] as usize]);
                if let Some(id) = self.id_of(&pair) {
                    let score = self.scores[id as usize];
                    if score > best.map_or(RUN_C_FIRST_BEST, |(s, _, _)| s) {
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

    /// A lower bound on the length of `encode(text, bos, eos)`, from the byte count alone:
    /// every token's piece is at most the longest piece, and the pieces of the merged
    /// tokens spell at least the text's bytes. Lets a caller refuse a prompt that is
    /// certainly too long without encoding it.
    pub fn min_encoded_len(&self, text: &str, eos: bool) -> usize {
        text.len().div_ceil(self.longest_piece.max(1)) + usize::from(eos)
    }

    /// BOS, the dummy prefix and the code points (or their byte fallbacks), before merging.
    fn initial_tokens(&self, text: &str, bos: bool) -> Vec<u32> {
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
        tokens
    }

    /// The merge candidate for the pair `(left, right)` of node indices, if their pieces
    /// concatenate to a piece scoring above run.c's starting best.
    fn candidate(
        &self,
        tok: &[u32],
        left: usize,
        right: usize,
        pair: &mut Vec<u8>,
    ) -> Option<Cand> {
        pair.clear();
        pair.extend_from_slice(&self.vocab[tok[left] as usize]);
        pair.extend_from_slice(&self.vocab[tok[right] as usize]);
        let id = self.id_of(pair)?;
        let score = self.scores[id as usize];
        (score > RUN_C_FIRST_BEST).then_some(Cand {
            score,
            left,
            right,
            left_tok: tok[left],
            right_tok: tok[right],
            id,
        })
    }

    /// run.c's merge loop, with a priority queue of candidate pairs over a linked list of
    /// tokens. Entries made stale by a merge are recognised when popped (the pair is no
    /// longer adjacent or either token changed) and dropped.
    fn merge_pairs(&self, tokens: &mut Vec<u32>) {
        const NONE: usize = usize::MAX;
        let n = tokens.len();
        if n < 2 {
            return;
        }
        let mut tok = std::mem::take(tokens);
        let mut next: Vec<usize> = (1..=n).map(|i| if i == n { NONE } else { i }).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        prev[0] = NONE;
        let mut alive = vec![true; n];
        let mut pair = Vec::new();
        let mut heap = BinaryHeap::new();
        for i in 0..n - 1 {
            if let Some(c) = self.candidate(&tok, i, i + 1, &mut pair) {
                heap.push(c);
            }
        }
        while let Some(c) = heap.pop() {
            let (l, r) = (c.left, c.right);
            if !alive[l]
                || !alive[r]
                || next[l] != r
                || tok[l] != c.left_tok
                || tok[r] != c.right_tok
            {
                continue;
            }
            tok[l] = c.id;
            alive[r] = false;
            next[l] = next[r];
            if next[r] != NONE {
                prev[next[r]] = l;
            }
            if prev[l] != NONE {
                if let Some(c) = self.candidate(&tok, prev[l], l, &mut pair) {
                    heap.push(c);
                }
            }
            if next[l] != NONE {
                if let Some(c) = self.candidate(&tok, l, next[l], &mut pair) {
                    heap.push(c);
                }
            }
        }
        *tokens = tok
            .into_iter()
            .zip(alive)
            .filter_map(|(t, a)| a.then_some(t))
            .collect();
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

    /// A tokenizer file from `(piece, score)` extras with the given max_token_length.
    fn tokenizer_with(extra: &[(Vec<u8>, f32)], max_len: i32) -> Vec<u8> {
        let mut out = tokenizer_bytes(&[]);
        out[..4].copy_from_slice(&max_len.to_le_bytes());
        for (p, s) in extra {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&(p.len() as i32).to_le_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    /// The priority-queue merge gives run.c's quadratic loop's result on random
    /// vocabularies over a small alphabet (many merges, many tied scores, scores below
    /// run.c's -1e10 floor) and random texts.
    #[test]
    fn heap_merge_equals_run_c_loop() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let alphabet = [b'a', b'b', b'c', b' '];
        for round in 0..200 {
            let mut extra: Vec<(Vec<u8>, f32)> = vec![];
            for _ in 0..rng.gen_range(1..40) {
                let len = rng.gen_range(1..6);
                let p: Vec<u8> = (0..len).map(|_| alphabet[rng.gen_range(0..4)]).collect();
                let score = match rng.gen_range(0..4) {
                    0 => -2e10,
                    1 => -0.0,
                    2 => 0.0,
                    _ => -(rng.gen_range(0..5) as f32),
                };
                extra.push((p, score));
            }
            let bytes = tokenizer_with(&extra, 8);
            let t = Tokenizer::from_bytes(&bytes, 259 + extra.len(), "r").unwrap();
            for _ in 0..20 {
                let n = rng.gen_range(0..30);
                let text: String = (0..n)
                    .map(|_| alphabet[rng.gen_range(0..4)] as char)
                    .collect();
                let bos = rng.gen_bool(0.5);
                assert_eq!(
                    t.encode(&text, bos, false),
                    t.encode_quadratic(&text, bos, false),
                    "round {round}, text {text:?}"
                );
                assert!(t.min_encoded_len(&text, false) <= t.encode(&text, bos, false).len());
            }
        }
    }

    /// A pair scoring at or below -1e10 is never merged (run.c starts from that best).
    #[test]
    fn pairs_below_run_c_floor_are_not_merged() {
        let extra = vec![(b"a".to_vec(), 0.0), (b"aa".to_vec(), -1e10)];
        let t = Tokenizer::from_bytes(&tokenizer_with(&extra, 8), 261, "f").unwrap();
        let a = t.id_of(b"a").unwrap();
        assert_eq!(t.encode("aa", false, false), vec![a, a]);
    }

    #[test]
    fn max_token_length_bounds() {
        let extra = vec![(b"abcdefghij".to_vec(), 0.0)];
        for (max_len, ok) in [(10, true), (9, false), (0, false), (i32::MAX, false)] {
            let r = Tokenizer::from_bytes(&tokenizer_with(&extra, max_len), 260, "m.bin");
            assert_eq!(r.is_ok(), ok, "{max_len}: {r:?}");
            if let Err(e) = r {
                assert!(matches!(e, ModelError::TokenizerMalformed { .. }), "{e}");
                assert!(e.to_string().contains("m.bin"), "{e}");
            }
        }
    }

    /// A long text is encoded in well under a second (run.c's loop is quadratic).
    #[test]
    fn long_text_encodes_fast() {
        let t = small();
        let text = "ab".repeat(20_000);
        let started = std::time::Instant::now();
        let ids = t.encode(&text, true, false);
        assert!(
            started.elapsed().as_secs_f64() < 1.0,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(ids.len(), 1 + 20_000);
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
