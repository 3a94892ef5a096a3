//! Integration tests of the `llamahdl` binary.
//!
//! The real-model tests need `LLAMAHDL_MODELS` (stories260K.bin, tok512.bin) and
//! `LLAMAHDL_REFERENCE` (llama2.c outputs); they print `SKIPPED (not run)` when unset. The
//! error and synthetic-model tests make their files in a temporary directory.

use llamahdl_model::synth;
use llamahdl_model::testutil;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::*;

/// Run and require success; returns stdout.
fn ok(args: &[&str]) -> String {
    stdout(&run_ok(args))
}

/// Run `--json` and parse stdout.
fn ok_json(args: &[&str]) -> Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"))
}

fn ids(v: &Value, key: &str) -> Vec<u32> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no array {key:?} in {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// A tokenizer for [`SMALL`] with `extra` pieces.
fn tokenizer_bytes(extra: &[&str]) -> Vec<u8> {
    tokenizer_bytes_with(16, extra)
}

// ---------------------------------------------------------------------------------------
// Real model (skipped without LLAMAHDL_MODELS / LLAMAHDL_REFERENCE)
// ---------------------------------------------------------------------------------------

/// `(checkpoint, tokenizer)` paths of the real model, or `None` (skipped).
fn real_model() -> Option<(PathBuf, PathBuf)> {
    let d = testutil::models_dir()?;
    Some((d.join("stories260K.bin"), d.join("tok512.bin")))
}

#[test]
fn float_equals_llama2c_reference() {
    let Some((ck, tok)) = real_model() else {
        return;
    };
    let Some(r) = testutil::reference("once_upon_a_time") else {
        return;
    };
    let v = ok_json(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--tokenizer",
        s(&tok),
        "--prompt",
        "Once upon a time",
        "--steps",
        "256",
        "--json",
        "--engine",
        "float",
    ]);
    assert_eq!(v["engine"], "float");
    assert_eq!(ids(&v, "ids"), r.ids);
    assert_eq!(v["text"].as_str().unwrap(), r.text);
    // Outside the prompt the argmax is the next token.
    let (ids_v, argmax) = (ids(&v, "ids"), ids(&v, "argmax"));
    assert_eq!(argmax.len(), 256);
    for p in r.prompt_ids.len() - 1..argmax.len() {
        assert_eq!(argmax[p], ids_v[p + 1], "position {p}");
    }

    // The same run as text: exactly what run.c prints.
    let text = ok(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--tokenizer",
        s(&tok),
        "--prompt",
        "Once upon a time",
    ]);
    assert_eq!(text, format!("{}\n", r.text));
}

#[test]
fn float_with_empty_prompt_equals_reference() {
    let Some((ck, tok)) = real_model() else {
        return;
    };
    let Some(r) = testutil::reference("bos") else {
        return;
    };
    let v = ok_json(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--tokenizer",
        s(&tok),
        "--json",
    ]);
    assert_eq!(ids(&v, "ids"), r.ids);
    assert_eq!(v["text"].as_str().unwrap(), r.text);
}

#[test]
fn prompt_ids_equal_the_encoded_prompt() {
    let Some((ck, tok)) = real_model() else {
        return;
    };
    let base = ["run", "--checkpoint", s(&ck), "--tokenizer", s(&tok)];
    let mut a = base.to_vec();
    a.extend(["--prompt", "Once upon a time", "--steps", "40", "--json"]);
    let mut b = base.to_vec();
    b.extend([
        "--prompt-ids",
        "1 403 407 261 378",
        "--steps",
        "40",
        "--json",
    ]);
    let (va, vb) = (ok_json(&a), ok_json(&b));
    assert_eq!(va, vb);
    assert_eq!(ids(&va, "ids")[..5], [1, 403, 407, 261, 378]);

    // Without a tokenizer the text is left out, and plain output is the ids.
    let c = ok_json(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--prompt-ids",
        "1,403,407,261,378",
        "--steps",
        "40",
        "--json",
    ]);
    assert!(c.get("text").is_none(), "{c}");
    assert_eq!(c["ids"], va["ids"]);
    let plain = ok(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--prompt-ids",
        "1 403 407 261 378",
        "--steps",
        "40",
    ]);
    let want: Vec<String> = ids(&va, "ids").iter().map(|t| t.to_string()).collect();
    assert_eq!(plain, format!("{}\n", want.join(" ")));
}

#[test]
fn golden_follows_the_reference() {
    let Some((ck, tok)) = real_model() else {
        return;
    };
    let Some(r) = testutil::reference("once_upon_a_time") else {
        return;
    };
    let v = ok_json(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--tokenizer",
        s(&tok),
        "--prompt",
        "Once upon a time",
        "--steps",
        "64",
        "--json",
        "--engine",
        "golden",
    ]);
    assert_eq!(v["engine"], "golden");
    let got = ids(&v, "ids");
    let n = r.prompt_ids.len() + 60;
    assert!(got.len() >= n, "only {} ids", got.len());
    assert_eq!(got[..n], r.ids[..n]);
    assert_eq!(ids(&v, "argmax").len(), got.len() - 1);
}

#[test]
fn info_of_the_real_checkpoint() {
    let Some((ck, _)) = real_model() else { return };
    let v = ok_json(&["info", "--checkpoint", s(&ck), "--json"]);
    assert_eq!(v["config"]["dim"], 64);
    assert_eq!(v["qkv_rows"], 128);
    assert_eq!(v["file_bytes"], 1_056_540);
    let text = ok(&["info", "--checkpoint", s(&ck)]);
    assert!(text.contains("qkv_rows:    128"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Synthetic model: behaviour that needs no real files
// ---------------------------------------------------------------------------------------

#[test]
fn synthetic_run_prompt_text_and_steps_clamp() {
    let f = Files::new();
    let (ck, tok) = (f.small(), f.small_tok());
    // Encoding with BOS and the dummy prefix " ": " ab" merges into one piece.
    let v = ok_json(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--tokenizer",
        s(&tok),
        "--prompt",
        "ab",
        "--steps",
        "1",
        "--json",
    ]);
    assert_eq!(ids(&v, "ids"), vec![1, 263]);
    assert_eq!(v["text"], "ab");
    // The golden engine runs on any valid shape.
    let g = ok_json(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--prompt",
        "ab",
        "--tokenizer",
        s(&tok),
        "--engine",
        "golden",
        "--steps",
        "4",
        "--json",
    ]);
    assert_eq!(ids(&g, "ids")[..2], [1, 263]);
    // A full-context prompt: 0 and too many steps both mean seq_len, as run.c.
    let full = vec!["5"; SMALL.seq_len].join(" ");
    for steps in ["0", "1000"] {
        let v = ok_json(&[
            "run",
            "--checkpoint",
            s(&ck),
            "--prompt-ids",
            &full,
            "--steps",
            steps,
            "--json",
        ]);
        assert_eq!(ids(&v, "argmax").len(), SMALL.seq_len, "--steps {steps}");
        assert_eq!(ids(&v, "ids").len(), SMALL.seq_len + 1);
    }
}

// ---------------------------------------------------------------------------------------
// Errors: non-zero exit, the file and problem named, nothing on stdout, no panic
// ---------------------------------------------------------------------------------------

#[test]
fn truncated_checkpoint() {
    let f = Files::new();
    let p = f.write("trunc.bin", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for cmd in [
        vec!["run", "--checkpoint", s(&p), "--json"],
        vec!["info", "--checkpoint", s(&p)],
    ] {
        fails(&cmd, 1, &["Error: ", s(&p), "truncated checkpoint"]);
    }
}

#[test]
fn checkpoint_size_mismatch() {
    let f = Files::new();
    let mut bytes = synth::generate(&SMALL, 5).to_bytes();
    bytes.truncate(bytes.len() - 4);
    let p = f.write("short.bin", &bytes);
    fails(
        &["run", "--checkpoint", s(&p), "--json", "--engine", "golden"],
        1,
        &[s(&p), "file size does not match the header"],
    );
}

#[test]
fn nonexistent_checkpoint() {
    let f = Files::new();
    let p = f.dir.path().join("no_such_model.bin");
    let err = fails(&["run", "--checkpoint", s(&p), "--json"], 1, &[s(&p)]);
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    fails(&["info", "--checkpoint", s(&p)], 1, &[s(&p)]);
}

#[test]
fn bad_engine_value_is_a_usage_error() {
    let f = Files::new();
    let ck = f.small();
    fails(
        &["run", "--checkpoint", s(&ck), "--engine", "quantum"],
        2,
        &["quantum", "--engine"],
    );
}

#[test]
fn usage_errors() {
    let f = Files::new();
    let (ck, tok) = (f.small(), f.small_tok());
    // --prompt needs --tokenizer.
    fails(
        &["run", "--checkpoint", s(&ck), "--prompt", "ab", "--json"],
        2,
        &["--tokenizer"],
    );
    // --prompt and --prompt-ids exclude each other.
    fails(
        &[
            "run",
            "--checkpoint",
            s(&ck),
            "--tokenizer",
            s(&tok),
            "--prompt",
            "ab",
            "--prompt-ids",
            "1",
        ],
        2,
        &["--prompt-ids", "cannot be used with"],
    );
    // Malformed ids.
    fails(
        &["run", "--checkpoint", s(&ck), "--prompt-ids", "1 two 3"],
        2,
        &["'two' is not a token id"],
    );
    fails(
        &["run", "--checkpoint", s(&ck), "--prompt-ids", " "],
        2,
        &["no token ids"],
    );
    // No checkpoint at all.
    fails(&["run"], 2, &["--checkpoint"]);
    // verilog needs a model.
    fails(&["verilog"], 2, &["--config"]);
    fails(
        &["verilog", "--config", "tiny", "--lanes", "0"],
        2,
        &["--lanes"],
    );
}

#[test]
fn tokenizer_with_wrong_vocabulary_size() {
    let f = Files::new();
    let ck = f.small();
    // Two entries fewer than the checkpoint's 264.
    let tok = f.write("tok_small.bin", &tokenizer_bytes(&EXTRA[..3]));
    fails(
        &[
            "run",
            "--checkpoint",
            s(&ck),
            "--tokenizer",
            s(&tok),
            "--prompt",
            "ab",
            "--json",
        ],
        1,
        &[s(&tok), "262 entries", "vocab_size is 264"],
    );
    // Garbage.
    let junk = f.write("junk.bin", &[0xFF; 7]);
    fails(
        &["run", "--checkpoint", s(&ck), "--tokenizer", s(&junk)],
        1,
        &[s(&junk), "tokenizer"],
    );
}

#[test]
fn prompt_longer_than_seq_len() {
    let f = Files::new();
    let (ck, tok) = (f.small(), f.small_tok());
    let long = vec!["1"; SMALL.seq_len + 1].join(" ");
    fails(
        &[
            "run",
            "--checkpoint",
            s(&ck),
            "--prompt-ids",
            &long,
            "--json",
        ],
        1,
        &["--prompt-ids", s(&ck), "17 tokens", "seq_len 16"],
    );
    // The same through the encoder: " ab" then 19 × "ab", 20 tokens after BOS.
    let text = "ab".repeat(20);
    fails(
        &[
            "run",
            "--checkpoint",
            s(&ck),
            "--tokenizer",
            s(&tok),
            "--prompt",
            &text,
            "--json",
            "--engine",
            "golden",
        ],
        1,
        &["--prompt", "longer than seq_len 16"],
    );
}

#[test]
fn prompt_id_out_of_range() {
    let f = Files::new();
    let ck = f.small();
    fails(
        &[
            "run",
            "--checkpoint",
            s(&ck),
            "--prompt-ids",
            "1 264",
            "--json",
        ],
        1,
        &[
            "--prompt-ids",
            s(&ck),
            "token id 264 is out of range",
            "264",
        ],
    );
}

#[test]
fn verilog_failure_leaves_no_output() {
    let f = Files::new();
    let bad = f.write("bad.bin", &[0; 5]);
    let out = f.dir.path().join("rtl");
    fails(
        &["verilog", "--checkpoint", s(&bad), "--out", s(&out)],
        1,
        &[s(&bad), "truncated checkpoint"],
    );
    assert!(!out.exists());
    // A foreign non-empty directory is never replaced.
    let mine = f.dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    fails(
        &["verilog", "--config", "tiny", "--out", s(&mine)],
        1,
        &[s(&mine), "refusing to replace"],
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("notes.txt")).unwrap(),
        "keep"
    );
    // Nothing but what the test made is left in the parent.
    let mut left: Vec<String> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["bad.bin", "mine"]);
}

#[test]
fn verilog_tiny_writes_and_replaces() {
    let f = Files::new();
    let out = f.dir.path().join("rtl");
    let listing = ok(&["verilog", "--config", "tiny", "--out", s(&out)]);
    let files: Vec<&str> = listing.lines().collect();
    assert!(!files.is_empty());
    for file in &files {
        let p = Path::new(file);
        assert!(p.starts_with(&out), "{file} is not under {}", out.display());
        assert!(p.is_file(), "{file} missing");
    }
    assert!(out.join(".llamahdl-rtl").is_file());
    // A second run replaces the directory.
    let again = ok(&["verilog", "--config", "tiny", "--out", s(&out)]);
    assert_eq!(again, listing);
    let left: Vec<_> = std::fs::read_dir(f.dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "temporaries left behind");
}

/// `synth` writes a loadable checkpoint of the requested shape (here grouped-query with a
/// separate classifier), and both engines run on it; a bad shape is a clean error.
#[test]
fn synth_then_run_both_engines() {
    let f = Files::new();
    let ck = f.dir.path().join("s.bin");
    ok(&[
        "synth",
        "--out",
        s(&ck),
        "--dim",
        "48",
        "--n-heads",
        "6",
        "--n-kv-heads",
        "2",
        "--hidden-dim",
        "128",
        "--n-layers",
        "3",
        "--vocab-size",
        "300",
        "--seq-len",
        "64",
        "--separate-classifier",
    ]);
    let info = ok(&["info", "--checkpoint", s(&ck), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(v["config"]["dim"], 48);
    assert_eq!(v["config"]["shared_classifier"], false);
    for engine in ["float", "golden"] {
        let out = ok(&[
            "run",
            "--checkpoint",
            s(&ck),
            "--steps",
            "8",
            "--engine",
            engine,
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["argmax"].as_array().unwrap().len(),
            v["ids"].as_array().unwrap().len() - 1
        );
    }
    fails(
        &[
            "synth",
            "--out",
            s(&f.dir.path().join("bad.bin")),
            "--dim",
            "30",
            "--n-heads",
            "4",
        ],
        1,
        &["divisible"],
    );
    assert!(!f.dir.path().join("bad.bin").exists());
}

/// `sim` runs the decoder RTL natively: run's JSON plus per-position cycles and the golden
/// comparison, with compiled-in or streamed weights; `--vcd` writes a waveform.
#[test]
fn sim_json_rom_ram_and_vcd() {
    let f = Files::new();
    let ck = f.dir.path().join("t.bin");
    ok(&["synth", "--out", s(&ck), "--config", "tiny", "--seed", "3"]);
    let mut outs = vec![];
    for w in ["rom", "ram"] {
        let out = ok(&[
            "sim",
            "--checkpoint",
            s(&ck),
            "--prompt-ids",
            "1 5",
            "--steps",
            "6",
            "--lanes",
            "8",
            "--weights",
            w,
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["golden_match"], true, "{w}");
        assert_eq!(
            v["cycles"].as_array().unwrap().len(),
            v["argmax"].as_array().unwrap().len()
        );
        assert!(v["cycles"][0].as_u64().unwrap() > 100);
        outs.push(v);
    }
    assert_eq!(
        outs[0]["ids"], outs[1]["ids"],
        "streamed weights changed the tokens"
    );
    // The golden engine gives the same sequence.
    let g = ok(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--prompt-ids",
        "1 5",
        "--steps",
        "6",
        "--engine",
        "golden",
        "--json",
    ]);
    let g: serde_json::Value = serde_json::from_str(&g).unwrap();
    assert_eq!(g["ids"], outs[0]["ids"]);
    let vcd = f.dir.path().join("w.vcd");
    ok(&[
        "sim",
        "--checkpoint",
        s(&ck),
        "--steps",
        "2",
        "--lanes",
        "8",
        "--vcd",
        s(&vcd),
    ]);
    let text = std::fs::read_to_string(&vcd).unwrap();
    assert!(
        text.contains("$var") && text.contains("$enddefinitions"),
        "not a VCD"
    );
    fails(
        &["sim", "--checkpoint", s(&ck), "--lanes", "12"],
        2,
        &["12"],
    );
}

/// `sim --profile`: the cycles per operation add up to the cycles per position, every
/// operation of the program is there once, the matrix products take at least one cycle
/// per beat of their rows, and END only its issue.
#[test]
fn sim_profile_accounts_for_every_cycle() {
    let f = Files::new();
    let ck = f.dir.path().join("t.bin");
    ok(&["synth", "--out", s(&ck), "--config", "tiny", "--seed", "4"]);
    let out = ok(&[
        "sim",
        "--checkpoint",
        s(&ck),
        "--steps",
        "3",
        "--lanes",
        "8",
        "--profile",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let p = &v["profile"];
    let total: u64 = v["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(p["positions"], 3);
    let ops = p["ops"].as_array().unwrap();
    let op_sum: u64 = ops.iter().map(|o| o["cycles"].as_u64().unwrap()).sum();
    assert_eq!(op_sum + p["other"].as_u64().unwrap(), total, "{p}");
    let kind_sum: u64 = p["by_kind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k[1].as_u64().unwrap())
        .sum();
    assert_eq!(kind_sum, op_sum);
    for (i, o) in ops.iter().enumerate() {
        assert_eq!(o["index"], i);
        let (rows, beats) = (o["rows"].as_u64().unwrap(), o["beats"].as_u64().unwrap());
        if o["kind"].as_str().unwrap().starts_with("matvec") {
            assert!(o["cycles"].as_u64().unwrap() >= 3 * rows * beats, "{o}");
        }
        // Every operation but the last (END) ran in each position.
        if i + 1 < ops.len() {
            assert!(o["cycles"].as_u64().unwrap() >= 3, "{o}");
        }
    }
    assert_eq!(ops.last().unwrap()["kind"], "end");
    // END is issued and ends the position: a cycle or two, not a unit's run.
    assert!(
        ops.last().unwrap()["cycles"].as_u64().unwrap() <= 2 * 3,
        "{p}"
    );
    assert!(ops.iter().any(|o| o["kind"] == "attention"));
    // The table goes to stderr in text mode.
    let o = run_ok(&[
        "sim",
        "--checkpoint",
        s(&ck),
        "--steps",
        "1",
        "--lanes",
        "8",
        "--profile",
    ]);
    let err = stderr(&o);
    assert!(
        err.contains("profile over 1 position") && err.contains("matvec qkv"),
        "{err}"
    );
}

/// A model too big for the decoder's address widths is a clean error, not a panic.
#[test]
fn sim_and_verilog_refuse_a_model_too_big() {
    let f = Files::new();
    let ck = f.dir.path().join("big.bin");
    ok(&[
        "synth",
        "--out",
        s(&ck),
        "--dim",
        "128",
        "--hidden-dim",
        "384",
        "--n-layers",
        "4",
        "--n-heads",
        "4",
        "--n-kv-heads",
        "4",
        "--vocab-size",
        "1024",
        "--seq-len",
        "64",
    ]);
    fails(
        &[
            "sim",
            "--checkpoint",
            s(&ck),
            "--steps",
            "1",
            "--lanes",
            "8",
        ],
        1,
        &["exceeds"],
    );
    let out = f.dir.path().join("rtl");
    fails(
        &[
            "verilog",
            "--checkpoint",
            s(&ck),
            "--lanes",
            "8",
            "--out",
            s(&out),
        ],
        1,
        &["65536"],
    );
    assert!(!out.exists());
}
