//! Readers for llama2.c reference outputs (`NAME.json` + `NAME.logits.f32`).
//!
//! `NAME.json` holds `prompt`, `prompt_ids` (BOS first), `ids` (the whole sequence),
//! `text` (as run.c prints it), `logits_rows` and `vocab_size`; `NAME.logits.f32` holds
//! `logits_rows` little-endian float32 rows of `vocab_size`, row `p` being the logits after
//! feeding `ids[p]` at position `p`.

use crate::error::ModelError;
use std::path::Path;

/// The JSON half of a reference case.
#[derive(Clone, Debug, serde::Deserialize)]
struct Meta {
    prompt: String,
    prompt_ids: Vec<u32>,
    ids: Vec<u32>,
    text: String,
    logits_rows: usize,
    vocab_size: usize,
}

/// One reference case.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// Case name (file stem).
    pub name: String,
    /// The prompt text.
    pub prompt: String,
    /// The prompt encoded by run.c (BOS first).
    pub prompt_ids: Vec<u32>,
    /// The whole sequence: prompt, then generated tokens.
    pub ids: Vec<u32>,
    /// The text run.c printed.
    pub text: String,
    /// Vocabulary size (row length of `logits`).
    pub vocab_size: usize,
    /// `logits[p]`: the logits at position `p`.
    pub logits: Vec<Vec<f32>>,
}

impl Reference {
    /// Load `dir/NAME.json` and `dir/NAME.logits.f32`.
    pub fn load(dir: &Path, name: &str) -> Result<Reference, ModelError> {
        let json_path = dir.join(format!("{name}.json"));
        let json_what = json_path.display().to_string();
        let json = std::fs::read(&json_path).map_err(|e| ModelError::io(&json_path, e))?;
        let meta: Meta = serde_json::from_slice(&json).map_err(|source| ModelError::Json {
            what: json_what.clone(),
            source,
        })?;
        let invalid = |problem: String| ModelError::Invalid {
            what: json_what.clone(),
            problem,
        };
        if meta.vocab_size == 0 {
            return Err(invalid("vocab_size is 0".into()));
        }
        if meta.prompt_ids.is_empty() || !meta.ids.starts_with(&meta.prompt_ids) {
            return Err(invalid(
                "ids do not start with the (non-empty) prompt_ids".into(),
            ));
        }
        if let Some(&t) = meta.ids.iter().find(|&&t| t as usize >= meta.vocab_size) {
            return Err(ModelError::TokenOutOfRange {
                what: json_what.clone(),
                token: t as u64,
                vocab_size: meta.vocab_size,
            });
        }
        if meta.logits_rows >= meta.ids.len() {
            return Err(invalid(format!(
                "logits_rows {} but only {} ids (rows need the id fed at each position)",
                meta.logits_rows,
                meta.ids.len()
            )));
        }

        let bin_path = dir.join(format!("{name}.logits.f32"));
        let bin = std::fs::read(&bin_path).map_err(|e| ModelError::io(&bin_path, e))?;
        let expected = meta.logits_rows as u64 * meta.vocab_size as u64 * 4;
        if bin.len() as u64 != expected {
            return Err(ModelError::SizeMismatch {
                what: bin_path.display().to_string(),
                expected,
                actual: bin.len() as u64,
                detail: format!(
                    "{} rows × {} logits × 4 bytes from {}",
                    meta.logits_rows, meta.vocab_size, json_what
                ),
            });
        }
        let logits = bin
            .chunks_exact(4 * meta.vocab_size)
            .map(|row| {
                row.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            })
            .collect();
        Ok(Reference {
            name: name.to_string(),
            prompt: meta.prompt,
            prompt_ids: meta.prompt_ids,
            ids: meta.ids,
            text: meta.text,
            vocab_size: meta.vocab_size,
            logits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_case(dir: &Path, rows: usize, bytes: usize) {
        let json = serde_json::json!({
            "prompt": "", "prompt_ids": [1], "ids": [1, 3, 2], "text": "x",
            "logits_rows": rows, "vocab_size": 4
        });
        std::fs::write(dir.join("c.json"), json.to_string()).unwrap();
        let data: Vec<u8> = (0..bytes / 4)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        std::fs::write(dir.join("c.logits.f32"), data).unwrap();
    }

    #[test]
    fn loads_rows() {
        let d = tempfile::tempdir().unwrap();
        write_case(d.path(), 2, 32);
        let r = Reference::load(d.path(), "c").unwrap();
        assert_eq!(
            r.logits,
            vec![vec![0.0, 1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0, 7.0]]
        );
        assert_eq!(r.ids, vec![1, 3, 2]);
    }

    #[test]
    fn wrong_logits_size() {
        let d = tempfile::tempdir().unwrap();
        write_case(d.path(), 2, 28);
        let e = Reference::load(d.path(), "c").unwrap_err();
        assert!(
            matches!(
                e,
                ModelError::SizeMismatch {
                    expected: 32,
                    actual: 28,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("c.logits.f32"));
    }

    #[test]
    fn missing_and_bad_json() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            Reference::load(d.path(), "nope"),
            Err(ModelError::Io { .. })
        ));
        std::fs::write(d.path().join("b.json"), "{").unwrap();
        assert!(matches!(
            Reference::load(d.path(), "b"),
            Err(ModelError::Json { .. })
        ));
    }

    #[test]
    fn real_references_load() {
        for name in crate::testutil::REFERENCE_CASES {
            let Some(r) = crate::testutil::reference(name) else {
                return;
            };
            assert_eq!(r.ids.len(), 257, "{name}");
            assert_eq!(r.logits.len(), 256, "{name}");
            assert_eq!(r.vocab_size, 512, "{name}");
        }
    }
}
