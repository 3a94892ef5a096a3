//! Helpers shared by the integration tests of the `llamahdl` binary.
#![allow(dead_code)]

use llamahdl_model::{synth, Config};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_llamahdl");

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn llamahdl(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("could not start the llamahdl binary")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run and require success (and no panic message).
pub fn run_ok(args: &[&str]) -> Output {
    let o = llamahdl(args);
    assert!(
        o.status.success(),
        "llamahdl {args:?} failed ({:?}):\n{}",
        o.status,
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    o
}

/// Require a clean failure of `o` (from `args`): exit `code`, nothing on stdout, no panic
/// or abort, every needle in stderr. Returns stderr.
pub fn check_fails(o: &Output, args: &[&str], code: i32, needles: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "llamahdl {args:?}: expected exit {code}; stderr:\n{err}"
    );
    assert!(
        o.stdout.is_empty(),
        "llamahdl {args:?}: stdout not empty on error:\n{}",
        stdout(o)
    );
    assert!(
        !err.contains("panicked"),
        "llamahdl {args:?} panicked:\n{err}"
    );
    for n in needles {
        assert!(
            err.contains(n),
            "llamahdl {args:?}: stderr lacks {n:?}:\n{err}"
        );
    }
    err
}

/// Run and require a clean failure (see [`check_fails`]).
pub fn fails(args: &[&str], code: i32, needles: &[&str]) -> String {
    check_fails(&llamahdl(args), args, code, needles)
}

/// A llama2.c tokenizer file (header `max_len`): `<unk>`, BOS, EOS, the 256 byte pieces,
/// then `extra`, with scores 0, -1, -2, ...
pub fn tokenizer_bytes_with(max_len: i32, extra: &[&str]) -> Vec<u8> {
    let mut pieces: Vec<Vec<u8>> =
        vec![b"<unk>".to_vec(), b"\n<s>\n".to_vec(), b"\n</s>\n".to_vec()];
    pieces.extend((0..=255u32).map(|b| format!("<0x{b:02X}>").into_bytes()));
    pieces.extend(extra.iter().map(|p| p.as_bytes().to_vec()));
    let mut out = max_len.to_le_bytes().to_vec();
    for (i, p) in pieces.iter().enumerate() {
        out.extend_from_slice(&(-(i as f32)).to_le_bytes());
        out.extend_from_slice(&(p.len() as i32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Pieces after the byte pieces in the tests' tokenizers.
pub const EXTRA: [&str; 5] = [" ", "a", "b", "ab", " ab"];

/// A small shape whose 264-entry vocabulary holds [`tokenizer_bytes_with`]`(_, &EXTRA)`.
pub const SMALL: Config = Config {
    dim: 16,
    hidden_dim: 32,
    n_layers: 1,
    n_heads: 4,
    n_kv_heads: 2,
    vocab_size: 264,
    seq_len: 16,
    shared_classifier: true,
};

/// Files in a temporary directory (removed with it).
pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Files {
    pub fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// A synthetic checkpoint of shape `c` (seed 5).
    pub fn model(&self, name: &str, c: &Config) -> PathBuf {
        self.model_seeded(name, c, 5)
    }

    /// A synthetic checkpoint of shape `c` made with `seed`.
    pub fn model_seeded(&self, name: &str, c: &Config, seed: u64) -> PathBuf {
        self.write(name, &synth::generate(c, seed).to_bytes())
    }

    /// The [`SMALL`] synthetic checkpoint, as `small.bin`.
    pub fn small(&self) -> PathBuf {
        self.model("small.bin", &SMALL)
    }

    /// A tokenizer matching [`SMALL`], as `small_tok.bin`.
    pub fn small_tok(&self) -> PathBuf {
        self.write("small_tok.bin", &tokenizer_bytes_with(16, &EXTRA))
    }

    /// The names in the directory, sorted.
    pub fn listing(&self) -> Vec<String> {
        listing(self.dir.path())
    }
}

/// The names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
