//! Hostile input to the `llamahdl` binary (issue 12): outputs over inputs, unbounded
//! reads, allocation failures, partial files, messages that name no file, slow refusals.
//! Each test reproduces one defect as reported and checks the fixed behaviour. None needs
//! the real model files: the models are synthetic, made in a temporary directory.

use llamahdl_model::{synth, Config};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// Run and require success.
fn ok(args: &[&str]) -> Output {
    run_ok(args)
}

/// Wait for `child` at most `limit`; kill it and fail the test if it is still running.
fn wait_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Send SIGINT (what Ctrl-C sends) to `child`.
fn interrupt(child: &Child) {
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn tokenizer_bytes(max_len: i32, extra: &[&str]) -> Vec<u8> {
    tokenizer_bytes_with(max_len, extra)
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success(), "mkfifo failed");
}

// ---------------------------------------------------------------------------------------
// 1. Output over input
// ---------------------------------------------------------------------------------------

/// `sim --vcd M.bin` with `--checkpoint M.bin` overwrote the checkpoint; also refused when
/// the VCD is the tokenizer, or a link to the checkpoint.
#[test]
fn sim_vcd_never_overwrites_an_input() {
    let f = Files::new();
    let ck = f.model("M.bin", &SMALL);
    let tok = f.write("tok.bin", &tokenizer_bytes(16, &EXTRA));
    let link = f.path("link.bin");
    std::os::unix::fs::symlink(&ck, &link).unwrap();
    let before = (std::fs::read(&ck).unwrap(), std::fs::read(&tok).unwrap());
    for vcd in [&ck, &link, &tok] {
        fails(
            &[
                "sim",
                "--checkpoint",
                s(&ck),
                "--tokenizer",
                s(&tok),
                "--steps",
                "1",
                "--lanes",
                "8",
                "--vcd",
                s(vcd),
            ],
            1,
            &[s(vcd), "refusing to overwrite"],
        );
    }
    assert!(
        std::fs::read(&ck).unwrap() == before.0,
        "checkpoint changed"
    );
    assert!(
        std::fs::read(&tok).unwrap() == before.1,
        "tokenizer changed"
    );
}

/// `verilog --checkpoint DIR/model.bin --out DIR` (DIR from an earlier `verilog`) deleted
/// model.bin; a user's file in such a directory was deleted too.
#[test]
fn verilog_never_removes_files_it_did_not_write() {
    let f = Files::new();
    let out = f.path("rtl");
    ok(&[
        "verilog",
        "--config",
        "tiny",
        "--lanes",
        "8",
        "--out",
        s(&out),
    ]);
    let written = listing(&out);
    let model = out.join("model.bin");
    std::fs::write(&model, synth::generate(&SMALL, 2).to_bytes()).unwrap();
    fails(
        &[
            "verilog",
            "--checkpoint",
            s(&model),
            "--lanes",
            "8",
            "--out",
            s(&out),
        ],
        1,
        &[s(&out), "holds the input", s(&model)],
    );
    assert!(model.is_file(), "the input was removed");
    std::fs::remove_file(&model).unwrap();
    // A user's file (and a user's folder) in the directory: refused, kept.
    let notes = out.join("notes.txt");
    std::fs::write(&notes, "keep me").unwrap();
    std::fs::create_dir(out.join("mine")).unwrap();
    fails(
        &[
            "verilog",
            "--config",
            "tiny",
            "--lanes",
            "8",
            "--out",
            s(&out),
        ],
        1,
        &[s(&out), "mine, notes.txt", "did not write"],
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "keep me");
    std::fs::remove_file(&notes).unwrap();
    std::fs::remove_dir(out.join("mine")).unwrap();
    // Only its own files left: replaced, with the same listing.
    ok(&[
        "verilog",
        "--config",
        "tiny",
        "--lanes",
        "8",
        "--out",
        s(&out),
    ]);
    assert_eq!(listing(&out), written);
    // A directory written by the earlier version (one-line marker) is still replaceable.
    std::fs::write(
        out.join(".llamahdl-rtl"),
        "Written by `llamahdl verilog`; the directory is replaced as a whole on the next run.\n",
    )
    .unwrap();
    ok(&[
        "verilog",
        "--config",
        "tiny",
        "--lanes",
        "8",
        "--out",
        s(&out),
    ]);
    assert_eq!(listing(f.dir.path()), vec!["rtl"]);
}

// ---------------------------------------------------------------------------------------
// 2. Unbounded reads
// ---------------------------------------------------------------------------------------

/// `info --checkpoint /dev/zero` grew without bound; same with `--tokenizer /dev/zero`.
#[test]
fn devices_are_refused_quickly() {
    let f = Files::new();
    let ck = f.model("small.bin", &SMALL);
    let args = ["info", "--checkpoint", "/dev/zero"];
    let o = wait_within(spawn(&args), Duration::from_secs(10), "info /dev/zero");
    check_fails(&o, &args, 1, &["/dev/zero", "dim is 0"]);
    let args = ["run", "--checkpoint", s(&ck), "--tokenizer", "/dev/zero"];
    let o = wait_within(
        spawn(&args),
        Duration::from_secs(10),
        "--tokenizer /dev/zero",
    );
    check_fails(&o, &args, 1, &["/dev/zero", "max_token_length is 0"]);
}

/// An endless stream after a valid header is read no further than the header allows
/// (checkpoint: its size plus one byte; tokenizer: its entries plus a bounded tail).
#[test]
fn endless_streams_are_read_only_as_far_as_the_format_allows() {
    let f = Files::new();
    let ck = f.model("small.bin", &SMALL);
    let header = synth::generate(&SMALL, 1).to_bytes()[..28].to_vec();
    let tok_header = 16i32.to_le_bytes().to_vec();
    let cases: Vec<(Vec<&str>, Vec<u8>, &str)> = vec![
        (
            vec!["info", "--checkpoint"],
            header,
            "file size does not match the header",
        ),
        (
            vec!["run", "--checkpoint", s(&ck), "--tokenizer"],
            tok_header,
            "follow the last of 264 entries",
        ),
    ];
    for (i, (args, head, needle)) in cases.into_iter().enumerate() {
        let fifo = f.path(&format!("endless{i}"));
        mkfifo(&fifo);
        let mut args = args.clone();
        args.push(s(&fifo));
        // The writer must be connected before the command opens the FIFO (a FIFO without
        // a writer reads as empty, by design): a reader end held open here (it never
        // reads) lets the writer's open return at once; it is closed once the command
        // has exited, which ends the writer with a broken pipe.
        let hold = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
                .unwrap()
        };
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        // The writer: the header, then zeros until the reader goes away.
        let path = fifo.clone();
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            opened_tx.send(()).unwrap();
            if w.write_all(&head).is_err() {
                return 0u64;
            }
            let zeros = vec![0u8; 1 << 16];
            let mut sent = 0u64;
            while w.write_all(&zeros).is_ok() {
                sent += zeros.len() as u64;
            }
            sent
        });
        opened_rx.recv().unwrap();
        let child = spawn(&args);
        let o = wait_within(child, Duration::from_secs(20), "endless stream");
        drop(hold);
        check_fails(&o, &args, 1, &[s(&fifo), needle]);
        let sent = writer.join().unwrap();
        assert!(sent < 64 << 20, "the reader took {sent} bytes");
    }
}

/// A FIFO with no writer blocked forever; now it reads as empty.
#[test]
fn fifo_without_writer_does_not_block() {
    let f = Files::new();
    let ck = f.model("small.bin", &SMALL);
    let fifo = f.path("fifo");
    mkfifo(&fifo);
    for args in [
        vec!["info", "--checkpoint", s(&fifo)],
        vec!["run", "--checkpoint", s(&ck), "--tokenizer", s(&fifo)],
    ] {
        let o = wait_within(spawn(&args), Duration::from_secs(10), "FIFO without writer");
        check_fails(&o, &args, 1, &[s(&fifo), "truncated"]);
    }
}

// ---------------------------------------------------------------------------------------
// 3. Allocation aborts
// ---------------------------------------------------------------------------------------

/// A 12.8 MB checkpoint the tool's own `synth` writes, with seq_len 2^20 and 1000 layers,
/// made `run` abort ("memory allocation of 67108864000 bytes failed"): the cache is now
/// sized for the positions run, and a run of all seq_len positions that cannot be
/// allocated is an error naming the file.
#[test]
fn run_sizes_the_cache_for_the_positions_run() {
    let f = Files::new();
    let ck = f.path("huge_ctx.bin");
    ok(&[
        "synth",
        "--out",
        s(&ck),
        "--dim",
        "16",
        "--n-heads",
        "8",
        "--n-kv-heads",
        "8",
        "--hidden-dim",
        "1",
        "--n-layers",
        "1000",
        "--vocab-size",
        "1",
        "--seq-len",
        "1048576",
    ]);
    assert_eq!(std::fs::metadata(&ck).unwrap().len(), 12_804_764);
    let o = ok(&[
        "run",
        "--checkpoint",
        s(&ck),
        "--prompt-ids",
        "0",
        "--steps",
        "4",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["argmax"].as_array().unwrap().len(), 4);
    // All 2^20 positions (steps 0 means seq_len): 2 x 67 GB of cache.
    fails(
        &[
            "run",
            "--checkpoint",
            s(&ck),
            "--prompt-ids",
            "0",
            "--steps",
            "0",
        ],
        1,
        &[
            s(&ck),
            "cannot allocate the key cache for 1048576 positions",
        ],
    );
}

/// A tokenizer whose max_token_length is 2^31-1 was accepted (and encode reserved 4 GiB).
#[test]
fn absurd_max_token_length_is_refused() {
    let f = Files::new();
    let ck = f.model("small.bin", &SMALL);
    let tok = f.write("tok.bin", &tokenizer_bytes(i32::MAX, &EXTRA));
    fails(
        &[
            "run",
            "--checkpoint",
            s(&ck),
            "--tokenizer",
            s(&tok),
            "--prompt",
            "ab",
        ],
        1,
        &[s(&tok), "max_token_length is 2147483647"],
    );
    // A piece longer than the declared max_token_length is refused too.
    let tok = f.write("short_max.bin", &tokenizer_bytes(5, &EXTRA));
    fails(
        &["run", "--checkpoint", s(&ck), "--tokenizer", s(&tok)],
        1,
        &[s(&tok), "longer than max_token_length 5"],
    );
}

/// `synth` of a 4e9-parameter shape allocated everything in memory and aborted. Now it
/// either refuses up front with the size it needs (not enough free disk) or streams:
/// its memory stays small while it runs, and an interrupt leaves nothing behind.
#[test]
fn synth_of_a_huge_shape_streams_or_refuses() {
    let f = Files::new();
    let out = f.path("huge.bin");
    // 3.98e9 parameters: 15.9 GB.
    let args = [
        "synth",
        "--out",
        s(&out),
        "--dim",
        "4096",
        "--hidden-dim",
        "11008",
        "--n-layers",
        "19",
        "--n-heads",
        "32",
        "--n-kv-heads",
        "32",
        "--vocab-size",
        "32000",
        "--seq-len",
        "2048",
    ];
    let child = spawn(&args);
    let pid = child.id();
    let started = Instant::now();
    let mut max_rss_kb = 0u64;
    let mut refused = None;
    let mut child = Some(child);
    while started.elapsed() < Duration::from_millis(1500) {
        if let Some(st) = child.as_mut().unwrap().try_wait().unwrap() {
            refused = Some(st);
            break;
        }
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            for line in status.lines() {
                if let Some(kb) = line.strip_prefix("VmRSS:") {
                    let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap();
                    max_rss_kb = max_rss_kb.max(kb);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let child = child.take().unwrap();
    if refused.is_some() {
        let o = child.wait_with_output().unwrap();
        check_fails(&o, &args, 1, &[s(&out), "the checkpoint needs", "free"]);
    } else {
        assert!(
            max_rss_kb < 200_000,
            "synth used {max_rss_kb} kB while streaming"
        );
        interrupt(&child);
        let o = wait_within(child, Duration::from_secs(10), "interrupted synth");
        assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    }
    assert!(
        listing(f.dir.path()).is_empty(),
        "{:?}",
        listing(f.dir.path())
    );
}

// ---------------------------------------------------------------------------------------
// 4. Partial files
// ---------------------------------------------------------------------------------------

/// An interrupted `verilog` left hidden `.DIR.tmp-XXXX/` directories behind. Interrupts at
/// several moments leave the parent holding only the model and, at most, a complete DIR.
#[test]
fn interrupted_verilog_leaves_no_temporaries() {
    let f = Files::new();
    let ck = f.path("s.bin");
    ok(&["synth", "--out", s(&ck), "--config", "stories260k"]);
    // What a complete run writes.
    let full_dir = tempfile::tempdir().unwrap();
    let full = full_dir.path().join("rtl");
    ok(&["verilog", "--checkpoint", s(&ck), "--out", s(&full)]);
    let complete = listing(&full);
    assert!(complete.len() > 1, "{complete:?}");
    let out = f.path("rtl");
    for ms in [50, 150, 300, 500, 700, 900] {
        let child = spawn(&["verilog", "--checkpoint", s(&ck), "--out", s(&out)]);
        std::thread::sleep(Duration::from_millis(ms));
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let o = wait_within(child, Duration::from_secs(30), "interrupted verilog");
        assert!(
            matches!(o.status.code(), Some(0) | Some(130)),
            "{ms} ms: {:?} {}",
            o.status,
            stderr(&o)
        );
        let left = listing(f.dir.path());
        assert!(
            left == ["rtl", "s.bin"] || left == ["s.bin"],
            "after an interrupt at {ms} ms: {left:?}"
        );
        if out.exists() {
            assert_eq!(listing(&out), complete, "after an interrupt at {ms} ms");
        }
    }
}

/// An interrupted `sim --vcd` left a truncated VCD: now neither the VCD nor a temporary.
#[test]
fn interrupted_sim_leaves_no_vcd() {
    let f = Files::new();
    let ck = f.path("t.bin");
    ok(&["synth", "--out", s(&ck), "--config", "tiny"]);
    let vcd = f.path("w.vcd");
    // Sixteen forced positions (a few seconds with the waveform).
    let ids = ["5"; 16].join(" ");
    let child = spawn(&[
        "sim",
        "--checkpoint",
        s(&ck),
        "--prompt-ids",
        &ids,
        "--steps",
        "16",
        "--lanes",
        "8",
        "--vcd",
        s(&vcd),
    ]);
    // Wait until the waveform is being written, then interrupt.
    let started = Instant::now();
    while !listing(f.dir.path())
        .iter()
        .any(|n| n.contains("w.vcd.tmp"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no temporary VCD"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&child);
    let o = wait_within(child, Duration::from_secs(10), "interrupted sim");
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(listing(f.dir.path()), vec!["t.bin"]);
}

/// `sim` created the VCD before checking that the model fits (an empty file was left on
/// the error); `verilog --out D > /dev/full` failed but left D written; likewise a VCD is
/// not kept when stdout fails.
#[test]
fn failed_commands_leave_no_output() {
    let f = Files::new();
    let ck = f.path("wide.bin");
    // A vocabulary of 70,000: the classifier exceeds the weight ROM's address space.
    ok(&["synth", "--out", s(&ck), "--vocab-size", "70000"]);
    let vcd = f.path("w.vcd");
    fails(
        &[
            "sim",
            "--checkpoint",
            s(&ck),
            "--steps",
            "1",
            "--lanes",
            "8",
            "--vcd",
            s(&vcd),
        ],
        1,
        &[s(&ck), "weight ROM words", "exceeds this design's limit"],
    );
    assert!(!vcd.exists(), "the VCD was created before the check");
    let full = || std::fs::File::create("/dev/full").unwrap();
    let out = f.path("rtl");
    let o = Command::new(BIN)
        .args([
            "verilog",
            "--config",
            "tiny",
            "--lanes",
            "8",
            "--out",
            s(&out),
        ])
        .stdout(full())
        .output()
        .unwrap();
    check_fails(&o, &[], 1, &["writing to stdout"]);
    let tiny = f.path("tiny.bin");
    ok(&["synth", "--out", s(&tiny), "--config", "tiny"]);
    let o = Command::new(BIN)
        .args([
            "sim",
            "--checkpoint",
            s(&tiny),
            "--steps",
            "1",
            "--lanes",
            "8",
            "--vcd",
            s(&vcd),
        ])
        .stdout(full())
        .output()
        .unwrap();
    check_fails(&o, &[], 1, &["writing to stdout"]);
    assert_eq!(listing(f.dir.path()), vec!["tiny.bin", "wide.bin"]);
}

// ---------------------------------------------------------------------------------------
// 5. Messages
// ---------------------------------------------------------------------------------------

/// `verilog --lanes 4` blamed "65536-word address spaces" for a head_dim problem (a
/// head_dim above the lane count is now split into chunks; one too large for attention's
/// wait count is refused by name); `synth` errors called the output "synthetic checkpoint
/// (seed 1)"; `--steps -1` gave clap's "unexpected argument".
#[test]
fn messages_name_the_file_and_the_real_problem() {
    let f = Files::new();
    let ck = f.path("s.bin");
    ok(&[
        "synth",
        "--out",
        s(&ck),
        "--dim",
        "250",
        "--n-heads",
        "1",
        "--n-kv-heads",
        "1",
        "--hidden-dim",
        "16",
        "--n-layers",
        "1",
    ]);
    let out = f.path("rtl");
    let err = fails(
        &[
            "verilog",
            "--checkpoint",
            s(&ck),
            "--lanes",
            "64",
            "--out",
            s(&out),
        ],
        1,
        &[
            s(&ck),
            "head_dim (attention's 8-bit wait count",
            "250 exceeds",
        ],
    );
    assert!(!err.contains("65536"), "{err}");
    assert!(!out.exists());
    let bad = f.path("bad.bin");
    let err = fails(
        &["synth", "--out", s(&bad), "--dim", "30", "--n-heads", "4"],
        1,
        &[s(&bad), "divisible"],
    );
    assert!(!err.contains("seed"), "{err}");
    assert!(!bad.exists());
    for cmd in ["run", "sim"] {
        let err = fails(
            &[cmd, "--checkpoint", s(&ck), "--steps", "-1"],
            2,
            &["-1", "negative", "--steps"],
        );
        assert!(!err.contains("unexpected argument"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------
// 6. Slow refusal
// ---------------------------------------------------------------------------------------

/// A 20,000-character prompt took 6.1 s to be refused as longer than seq_len. Refused at
/// once by its byte count when that proves it too long; otherwise encoded in near-linear
/// time and refused on its token count.
#[test]
fn long_prompts_are_refused_quickly() {
    let f = Files::new();
    let tok = f.write("tok.bin", &tokenizer_bytes(16, &EXTRA));
    let prompt = "ab".repeat(10_000);
    // seq_len 16: 20,000 bytes over pieces of at most 6 bytes cannot fit.
    let ck = f.model("small.bin", &SMALL);
    let started = Instant::now();
    fails(
        &[
            "run",
            "--checkpoint",
            s(&ck),
            "--tokenizer",
            s(&tok),
            "--prompt",
            &prompt,
        ],
        1,
        &[
            "--prompt",
            "20000 bytes",
            "at least 3334 tokens",
            "seq_len 16",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // seq_len 8192: the byte count allows it, the encoding (10,001 tokens) does not.
    let ck = f.model(
        "long.bin",
        &Config {
            seq_len: 8192,
            ..SMALL
        },
    );
    let started = Instant::now();
    fails(
        &[
            "run",
            "--checkpoint",
            s(&ck),
            "--tokenizer",
            s(&tok),
            "--prompt",
            &prompt,
        ],
        1,
        &["prompt is 10001 tokens, longer than seq_len 8192"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
