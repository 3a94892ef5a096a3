//! `llamahdl sim --weights emmc`: the weight image on the block device model, copied into
//! DRAM by the boot copier (which checks it), then the streaming decoder. A clean run
//! agrees with the golden model and with `--weights dram`; a corrupted or truncated image
//! is refused by the copier with a message naming the file and the fault, exit 1 and no
//! token on stdout; flags that do not apply are refused.

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

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn sim_emmc_boots_then_agrees_with_the_golden_model_and_dram_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, img) = tiny(dir.path(), 1);
    let args = |w: &'static str| -> Vec<&str> {
        let mut a = vec![
            "sim",
            "--checkpoint",
            s(&ck),
            "--steps",
            "6",
            "--weights",
            w,
            "--image",
            s(&img),
            "--dram-stall-seed",
            "3",
            "--json",
        ];
        if w == "emmc" {
            a.extend(["--device-latency", "50", "--device-cap", "2"]);
        }
        a
    };
    let o = run_ok(&args("emmc"));
    let v = json(&o);
    assert_eq!(v["golden_match"], true);
    assert_eq!(v["weights"], "emmc");
    let boot = &v["boot"];
    let size = std::fs::metadata(&img).unwrap().len();
    assert_eq!(boot["image_bytes"].as_u64().unwrap(), size);
    assert_eq!(boot["blocks"].as_u64().unwrap(), size.div_ceil(512));
    assert_eq!(boot["device_latency"], 50);
    assert_eq!(boot["device_cap"], 2.0);
    let rate = boot["rate_of_cap"].as_f64().unwrap();
    assert!(rate > 0.9 && rate <= 1.0, "boot copy at {rate} of the cap");
    let err = stderr(&o);
    assert!(
        err.contains("boot: copying") && err.contains("boot: ready after"),
        "{err}"
    );
    // The same tokens and cycles as the image placed in DRAM directly.
    let d = json(&run_ok(&args("dram")));
    assert_eq!(v["ids"], d["ids"]);
    assert_eq!(v["argmax"], d["argmax"]);
    assert_eq!(v["cycles"], d["cycles"]);
}

#[test]
fn sim_emmc_refuses_corrupted_and_truncated_images_and_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, img) = tiny(dir.path(), 2);
    let good = std::fs::read(&img).unwrap();
    let check = |bytes: &[u8], name: &str, needles: &[&str]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let a = [
            "sim",
            "--checkpoint",
            s(&ck),
            "--steps",
            "2",
            "--weights",
            "emmc",
            "--image",
            s(&p),
        ];
        let err = fails(&a, 1, needles);
        assert!(err.contains(s(&p)), "the message names the file: {err}");
        assert!(err.contains("no token computed"), "{err}");
        // The input is left as it was.
        assert_eq!(std::fs::read(&p).unwrap(), bytes);
    };
    // A flipped bit in the last region (the final gains) and in the first (embedding).
    let v = llamahdl_image::verify::verify(&mut &good[..], "tiny").unwrap();
    let n = v.regions.len();
    for (k, needle) in [(n - 1, "rms_final"), (0, "embedding")] {
        let mut b = good.clone();
        b[v.regions[k].offset as usize + 3] ^= 0x20;
        check(
            &b,
            &format!("flip{k}.img"),
            &[&format!("region {k} ("), needle, "CRC-32", "error code 4"],
        );
    }
    // A table entry changed, a header field changed (the copier compares it with the
    // design's header), a truncated image.
    let mut b = good.clone();
    b[128 + 4] ^= 1;
    check(&b, "table.img", &["region table", "error code 3"]);
    let mut b = good.clone();
    b[124] ^= 1;
    check(&b, "hcrc.img", &["header's CRC-32", "error code 2"]);
    check(
        &good[..good.len() / 2 / 512 * 512],
        "short.img",
        &["truncated", "error code 5"],
    );
    // The magic and a shape field: the copier compares the header with the design's.
    let mut b = good.clone();
    b[1] = b'X';
    check(
        &b,
        "magic.img",
        &["header differs", "bus word 0", "error code 1"],
    );
    let mut b = good.clone();
    b[20] ^= 1; // hidden_dim, in the second 16-byte word
    check(
        &b,
        "shape.img",
        &["header differs", "bus word 1", "error code 1"],
    );
    // Flags.
    fails(
        &["sim", "--checkpoint", s(&ck), "--device-cap", "2"],
        1,
        &["--device-cap applies only with --weights emmc"],
    );
    fails(
        &[
            "sim",
            "--checkpoint",
            s(&ck),
            "--weights",
            "emmc",
            "--image",
            s(&img),
            "--device-cap",
            "5",
        ],
        1,
        &["--device-cap 5 must be above 0 and at most 4"],
    );
    fails(
        &["sim", "--checkpoint", s(&ck), "--weights", "emmc"],
        1,
        &["--weights emmc needs the weight image"],
    );
    fails(
        &[
            "sim",
            "--checkpoint",
            s(&ck),
            "--weights",
            "emmc",
            "--image",
            s(&img),
            "--rtl",
            "verilator",
        ],
        1,
        &["not available with --weights emmc"],
    );
}

#[test]
fn verilog_emmc_writes_the_booted_top() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rtl");
    let o = run_ok(&[
        "verilog",
        "--weights",
        "emmc",
        "--shape",
        "tiny",
        "--lanes",
        "16",
        "--bus-bits",
        "128",
        "--lba",
        "64",
        "--base",
        "0x10000",
        "--out",
        s(&out),
    ]);
    assert!(
        stdout(&o).contains("llamahdl_booted_decoder.v"),
        "{}",
        stdout(&o)
    );
    let v = std::fs::read_to_string(out.join("llamahdl_booted_decoder.v")).unwrap();
    assert!(v.starts_with("// Generated by `llamahdl verilog --weights emmc`"));
    assert!(v.contains("from block 64") && v.contains("image at 0x10000"));
    assert!(v.contains("module llamahdl_booted_decoder("));
    // The copier's block-device port is there.
    for port in [
        "bd_cmd_valid",
        "bd_data",
        "awvalid",
        "arvalid",
        "boot_ready",
    ] {
        assert!(v.contains(port), "no port {port}");
    }
    fails(
        &[
            "verilog",
            "--shape",
            "tiny",
            "--weights",
            "dram",
            "--lba",
            "3",
            "--out",
            s(&out),
        ],
        1,
        &["--lba applies only with --weights emmc"],
    );
}
