//! Formal proofs of the weight-path blocks (RowAddrGen, QkvLoader) on the Verilog that
//! `llamahdl verilog` emits: `crates/llamahdl-hw/src/units/weight_path/formal/prove.sh`
//! (yosys -formal, yosys-smtbmc with z3). Skipped, with the reason printed, when a tool
//! is missing. A second test checks that the properties can fail: a mutant of the emitted
//! RowAddrGen (load_done after the K rows instead of the V rows) is refused.

use llamahdl_hw::cosim::missing_tool;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_llamahdl");

/// Bounded depths (prove.sh's arguments): RowAddrGen, QkvLoader (z3 slows down steeply
/// on its memories), covers. The small shape's layer is 8 beats: load done (step 8), a
/// layer change after it and its effect (step 10) are inside the cover depth.
const ROW_DEPTH: &str = "12";
const LOADER_DEPTH: &str = "6";
const COVER_DEPTH: &str = "12";

fn prove_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../llamahdl-hw/src/units/weight_path/formal/prove.sh")
}

fn skip() -> bool {
    match missing_tool(&[("yosys", "-V"), ("yosys-smtbmc", "-h"), ("z3", "--version")]) {
        Some(tool) => {
            println!("SKIPPED (not run): {tool} is not installed (apt-get install yosys z3)");
            true
        }
        None => false,
    }
}

#[test]
fn weight_path_properties_hold() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let o = Command::new("sh")
        .arg(prove_sh())
        .args([BIN, work.path().to_str().unwrap()])
        .args([ROW_DEPTH, LOADER_DEPTH, COVER_DEPTH])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    println!("{out}");
    assert!(
        o.status.success(),
        "prove.sh failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for (block, depth) in [("row_addr_gen", ROW_DEPTH), ("qkv_loader", LOADER_DEPTH)] {
        for step in [
            format!("every assertion holds in all states reachable within {depth} cycles"),
            format!("every cover reached within {COVER_DEPTH} cycles"),
            "k-induction (k = 6)".to_string(),
        ] {
            let line = format!("{block}: PASS: {step}");
            assert!(out.contains(&line), "missing {line:?} in:\n{out}");
        }
    }
}

#[test]
fn a_wrong_load_done_is_caught() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let rtl = work.path().join("rtl");
    let ck = work.path().join("m.bin");
    // The small shape of prove.sh.
    let synth = Command::new(BIN)
        .args([
            "synth",
            "--out",
            ck.to_str().unwrap(),
            "--dim",
            "8",
            "--n-heads",
            "2",
        ])
        .args(["--n-kv-heads", "1", "--hidden-dim", "8", "--n-layers", "1"])
        .args(["--vocab-size", "8", "--seq-len", "4"])
        .output()
        .unwrap();
    assert!(synth.status.success());
    let v = Command::new(BIN)
        .args([
            "verilog",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--lanes",
            "4",
            "--out",
        ])
        .arg(&rtl)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let file = rtl.join("llamahdl_row_addr_gen.v");
    let text = std::fs::read_to_string(&file).unwrap();
    let good = "if (matrix_r$q == matrix_v) begin";
    assert_eq!(
        text.matches(good).count(),
        1,
        "the emitted RowAddrGen changed"
    );
    std::fs::write(
        &file,
        text.replace(good, "if (matrix_r$q == matrix_one) begin"),
    )
    .unwrap();
    let o = Command::new("sh")
        .arg(prove_sh())
        .args([BIN, work.path().join("w").to_str().unwrap()])
        .args([ROW_DEPTH, LOADER_DEPTH, COVER_DEPTH])
        .env("RTL", &rtl)
        .env("SHAPE", "1 2 2 1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "the mutant passed:\n{out}");
    assert!(
        out.contains(&format!(
            "row_addr_gen: FAILED: bounded proof to depth {ROW_DEPTH}"
        )),
        "{out}"
    );
}
