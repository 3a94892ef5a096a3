//! `llamahdl sim --weights dram` and `llamahdl verilog --weights dram`: a run from a weight
//! image that agrees with the golden model (and with the on-chip design's tokens), the bus
//! figures in the JSON, every bad image or flag refused with a clear message, exit status
//! 1 or 2 and nothing on stdout, and the weight-independent Verilog for named shapes.

use llamahdl_model::{synth, Config};
use std::path::Path;

mod common;
use common::*;

/// A synthetic tiny checkpoint and its image at 16 lanes / 128 bits in `dir`.
fn tiny(dir: &Path, seed: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let ck = dir.join(format!("tiny{seed}.bin"));
    std::fs::write(&ck, synth::generate(&Config::TINY, seed).to_bytes()).unwrap();
    let img = dir.join(format!("tiny{seed}.img"));
    run_ok(&[
        "image",
        "--checkpoint",
        s(&ck),
        "--out",
        s(&img),
        "--lanes",
        "16",
        "--bus-bits",
        "128",
    ]);
    (ck, img)
}

#[test]
fn sim_dram_agrees_with_the_golden_model_and_the_on_chip_design() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, img) = tiny(dir.path(), 1);
    let o = run_ok(&[
        "sim",
        "--checkpoint",
        s(&ck),
        "--steps",
        "6",
        "--weights",
        "dram",
        "--image",
        s(&img),
        "--dram-stall-seed",
        "4",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["golden_match"], true);
    assert_eq!(v["weights"], "dram");
    assert_eq!(v["lanes"], 16);
    let bus = &v["bus"];
    assert_eq!(bus["bus_bits"], 128);
    assert_eq!(bus["dram_latency"], 40);
    assert_eq!(bus["dram_stall"], 0.1);
    assert!(bus["dram_gap_cycles"].as_u64().unwrap() > 0);
    let util = bus["utilisation"].as_f64().unwrap();
    assert!(util > 0.0 && util <= 1.0, "{util}");
    assert_eq!(
        bus["bytes"].as_u64().unwrap(),
        16 * bus["beats"].as_u64().unwrap()
    );
    // The same tokens as the design with the weights on chip.
    let on = run_ok(&[
        "sim",
        "--checkpoint",
        s(&ck),
        "--steps",
        "6",
        "--lanes",
        "16",
        "--json",
    ]);
    let w: serde_json::Value = serde_json::from_slice(&on.stdout).unwrap();
    assert_eq!(v["ids"], w["ids"]);
    assert_eq!(v["argmax"], w["argmax"]);
}

#[test]
fn sim_dram_refuses_bad_flags_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, img) = tiny(dir.path(), 2);
    let (ck3, _) = tiny(dir.path(), 3);
    let sim = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["sim", "--checkpoint", s(&ck), "--steps", "2"]
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let run = |extra: &[&str], code: i32, needles: &[&str]| {
        let a = sim(extra);
        let a: Vec<&str> = a.iter().map(|x| x.as_str()).collect();
        fails(&a, code, needles);
    };
    run(
        &["--weights", "dram"],
        1,
        &["--weights dram needs the weight image"],
    );
    run(
        &["--image", s(&img)],
        1,
        &["--image applies only with --weights dram"],
    );
    run(
        &["--weights", "dram", "--image", s(&img), "--dram-stall", "2"],
        1,
        &["--dram-stall 2 must be between 0 and 0.9"],
    );
    run(
        &["--weights", "dram", "--image", s(&img), "--bus-bits", "256"],
        1,
        &[s(&img), "128-bit bus", "not the 256-bit bus"],
    );
    run(
        &["--weights", "dram", "--image", s(&img), "--lanes", "32"],
        1,
        &[s(&img), "16 lanes", "not the 32 lanes"],
    );
    // The image of another checkpoint (same shape, other weights).
    let mut other = sim(&["--weights", "dram", "--image"]);
    other[2] = s(&ck3).to_string();
    other.push(s(&img).to_string());
    let o: Vec<&str> = other.iter().map(|x| x.as_str()).collect();
    fails(&o, 1, &[s(&img), "CRC-32"]);
    // Corrupted images: a truncated file, a flipped weight byte, a bad magic.
    let good = std::fs::read(&img).unwrap();
    let bad = dir.path().join("bad.img");
    std::fs::write(&bad, &good[..good.len() - 16]).unwrap();
    run(
        &["--weights", "dram", "--image", s(&bad)],
        1,
        &[s(&bad), "truncated"],
    );
    let mut b = good.clone();
    let n = b.len();
    b[n - 40] ^= 1;
    std::fs::write(&bad, &b).unwrap();
    run(
        &["--weights", "dram", "--image", s(&bad)],
        1,
        &[s(&bad), "CRC-32 mismatch"],
    );
    let mut b = good.clone();
    b[0] = b'X';
    std::fs::write(&bad, &b).unwrap();
    run(
        &["--weights", "dram", "--image", s(&bad)],
        1,
        &[s(&bad), "bad magic"],
    );
    run(
        &[
            "--weights",
            "dram",
            "--image",
            s(&dir.path().join("none.img")),
        ],
        1,
        &["none.img"],
    );
    // The input image is untouched by all of this.
    assert_eq!(std::fs::read(&img).unwrap(), good);
}

#[test]
fn verilog_dram_for_named_shapes_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    // llama2-7b (head_dim 128 on 64 lanes) and stories15m at 32 lanes (head_dim 48): heads
    // split into chunks by the attention unit.
    for (shape, lanes, bus) in [
        ("stories42m", "64", "512"),
        ("tiny", "16", "128"),
        ("llama2-7b", "64", "512"),
        ("stories15m", "32", "128"),
    ] {
        let out = dir.path().join(shape);
        let o = run_ok(&[
            "verilog",
            "--weights",
            "dram",
            "--shape",
            shape,
            "--lanes",
            lanes,
            "--bus-bits",
            bus,
            "--context",
            "16",
            "--out",
            s(&out),
        ]);
        let listed = stdout(&o);
        assert!(
            listed.trim_end().ends_with("llamahdl_dram_decoder.v"),
            "{listed}"
        );
        let v = std::fs::read_to_string(out.join("llamahdl_dram_decoder.v")).unwrap();
        assert!(v.contains("module llamahdl_dram_decoder("), "{shape}");
        assert!(v.contains(&format!(
            "lanes {lanes}; bus {bus} bits; on-chip context 16"
        )));
    }
    let out = dir.path().join("x");
    let o = s(&out);
    fails(
        &[
            "verilog",
            "--weights",
            "dram",
            "--shape",
            "stories9000",
            "--out",
            o,
        ],
        2,
        &["unknown shape"],
    );
    fails(
        &[
            "verilog",
            "--weights",
            "dram",
            "--shape",
            "dim=64,hidden=172",
            "--out",
            o,
        ],
        2,
        &["lacks layers="],
    );
    fails(
        &[
            "verilog",
            "--weights",
            "dram",
            "--shape",
            "tiny",
            "--lanes",
            "16",
            "--bus-bits",
            "512",
            "--out",
            o,
        ],
        1,
        &["16 lanes with a 512-bit bus"],
    );
    // llama2-7b's default context (2,048) does not fit the on-chip key/value cache's
    // address spaces: refused, naming the limit.
    fails(
        &[
            "verilog",
            "--weights",
            "dram",
            "--shape",
            "llama2-7b",
            "--lanes",
            "64",
            "--bus-bits",
            "512",
            "--out",
            o,
        ],
        1,
        &["RoPE table entries", "exceeds this design's limit"],
    );
    fails(
        &[
            "verilog",
            "--config",
            "tiny",
            "--bus-bits",
            "128",
            "--out",
            o,
        ],
        1,
        &["apply only with --weights dram"],
    );
    assert!(!out.exists());
}

/// `sim --weights dram` JSON of the tiny image `img` with `extra` flags.
fn sim_json(ck: &Path, img: &Path, extra: &[&str]) -> serde_json::Value {
    let mut a = vec![
        "sim",
        "--checkpoint",
        s(ck),
        "--prompt-ids",
        "1 9 17",
        "--steps",
        "5",
        "--weights",
        "dram",
        "--image",
        s(img),
        "--dram-latency",
        "25",
        "--dram-stall-seed",
        "6",
        "--json",
    ];
    a.extend_from_slice(extra);
    serde_json::from_slice(&run_ok(&a).stdout).unwrap()
}

/// `sim --rtl verilator`: the emitted Verilog in Verilator with the C++ DRAM model gives
/// the native run's tokens, cycles per position and bus figures (same DRAM behaviour),
/// every logit checked against the golden model; a second run reuses the model.
#[test]
fn sim_dram_in_verilator_equals_the_native_run() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, img) = tiny(dir.path(), 5);
    let vdir = dir.path().join("vl");
    let native = sim_json(&ck, &img, &[]);
    let vl = sim_json(
        &ck,
        &img,
        &["--rtl", "verilator", "--verilator-dir", s(&vdir)],
    );
    assert_eq!(native["rtl"], "native");
    assert_eq!(vl["rtl"], "verilator");
    assert_eq!(vl["golden_match"], true);
    assert_eq!(native["cycles"].as_array().unwrap().len(), 5);
    for k in ["ids", "argmax", "cycles", "bus", "lanes", "weights"] {
        assert_eq!(vl[k], native[k], "{k}");
    }
    assert!(native.get("verilator").is_none());
    let v = &vl["verilator"];
    assert_eq!(v["reused"], false);
    assert!(v["build_seconds"].as_f64().unwrap() > 0.0);
    assert!(v["cycles_per_second"].as_f64().unwrap() > 0.0);
    let cycles: u64 = vl["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    // The header check's cycles come on top of the positions'.
    assert!(v["total_cycles"].as_u64().unwrap() > cycles);
    assert!(vdir.join("obj_dir/Vdram_tb").is_file());
    let again = sim_json(
        &ck,
        &img,
        &["--rtl", "verilator", "--verilator-dir", s(&vdir)],
    );
    assert_eq!(again["verilator"]["reused"], true);
    assert_eq!(again["cycles"], native["cycles"]);
}

#[test]
fn sim_rtl_verilator_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, img) = tiny(dir.path(), 6);
    let base = ["sim", "--checkpoint", s(&ck), "--steps", "2"];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|x| x.to_string()).collect()
    };
    let run = |extra: &[&str], needles: &[&str]| {
        let a = with(extra);
        let a: Vec<&str> = a.iter().map(|x| x.as_str()).collect();
        fails(&a, 1, needles);
    };
    let dram = ["--weights", "dram", "--image", s(&img)];
    run(
        &["--rtl", "verilator"],
        &["--rtl verilator runs the decoder that streams its weights from DRAM only"],
    );
    run(
        &[&dram[..], &["--verilator-dir", s(dir.path())]].concat(),
        &["--verilator-dir applies only with --rtl verilator"],
    );
    run(
        &[
            &dram[..],
            &["--rtl", "verilator", "--verilator-dir", s(&img)],
        ]
        .concat(),
        &["--verilator-dir names a file"],
    );
    // A directory of someone else's is not built in (nor emptied).
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    run(
        &[
            &dram[..],
            &["--rtl", "verilator", "--verilator-dir", s(&foreign)],
        ]
        .concat(),
        &[s(&foreign), "not empty"],
    );
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
    // No Verilator on PATH: a clear error, and the temporary build directory is gone.
    let empty = dir.path().join("empty-path");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&empty).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    let a = with(&[&dram[..], &["--rtl", "verilator"]].concat());
    let a: Vec<&str> = a.iter().map(|x| x.as_str()).collect();
    let o = std::process::Command::new(BIN)
        .args(&a)
        .env("PATH", &empty)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    check_fails(
        &o,
        &a,
        1,
        &["verilator is not installed", "apt-get install"],
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temporary left"
    );
}
