//! Formal proofs of the AXI read master's properties on its emitted Verilog
//! (`src/units/dram/formal/prove.sh`, `axi_read.sv`: yosys -formal, yosys-smtbmc with cvc5):
//! no 4 KiB crossing, burst length, AR stability, outstanding bursts, beats in flight
//! within the FIFO's free space, beats requested equal to beats asked. Skipped, with the
//! reason printed, when a tool is missing. Mutants of the emitted Verilog (the 4 KiB split
//! removed; `arlen` one too large) must be refused.
//!
//! The bounded depth is 8 cycles by default (about 16 s; each further cycle costs several
//! times the one before: depth 10 took 4 minutes), which covers a command, its first two
//! bursts on the AR channel and their first beats. Set `LLAMAHDL_AXI_FORMAL_DEPTH` for a
//! deeper run (`make formal-axi LLAMAHDL_AXI_FORMAL_DEPTH=12`).

use llamahdl_hw::cosim::{emit_verilog, missing_tool};
use llamahdl_hw::units::dram::axi_read::{AxiReadMaster, AxiReadParams};
use std::path::{Path, PathBuf};
use std::process::Command;

const COVER_DEPTH: &str = "10";

fn depth() -> String {
    std::env::var("LLAMAHDL_AXI_FORMAL_DEPTH").unwrap_or_else(|_| "8".into())
}

fn prove_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/units/dram/formal/prove.sh")
}

fn skip() -> bool {
    match missing_tool(&[
        ("yosys", "-V"),
        ("yosys-smtbmc", "-h"),
        ("cvc5", "--version"),
    ]) {
        Some(tool) => {
            println!("SKIPPED (not run): {tool} is not installed (apt-get install yosys cvc5)");
            true
        }
        None => false,
    }
}

/// The configuration axi_read.sv is written for.
fn verilog() -> String {
    emit_verilog(
        AxiReadMaster::<64, 4>::new(AxiReadParams {
            max_outstanding: 2,
            max_burst: 8,
        })
        .unwrap(),
    )
}

fn prove(v: &str) -> (bool, String) {
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("dut.v");
    std::fs::write(&f, v).unwrap();
    let o = Command::new("sh")
        .arg(prove_sh())
        .arg(&f)
        .arg(work.path().join("w"))
        .args([depth().as_str(), COVER_DEPTH])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    (
        o.status.success(),
        out + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn axi_read_properties_hold() {
    if skip() {
        return;
    }
    let (ok, out) = prove(&verilog());
    println!("{out}");
    assert!(ok, "prove.sh failed:\n{out}");
    for step in [
        format!(
            "every assertion holds in all states reachable within {} cycles",
            depth()
        ),
        format!("every cover reached within {COVER_DEPTH} cycles"),
    ] {
        assert!(out.contains(&format!("axi_read: PASS: {step}")), "{out}");
    }
}

fn mutant(good: &str, bad: &str) {
    let v = verilog();
    assert_eq!(
        v.matches(good).count(),
        1,
        "the emitted master changed: {good}"
    );
    let (ok, out) = prove(&v.replace(good, bad));
    assert!(!ok, "the mutant {bad:?} passed:\n{out}");
    assert!(
        out.contains(&format!(
            "axi_read: FAILED: bounded proof to depth {}",
            depth()
        )),
        "{out}"
    );
}

#[test]
fn a_burst_across_4k_is_caught() {
    if skip() {
        return;
    }
    mutant("room = page_words_c - offw$q;", "room = page_words_c;");
}

#[test]
fn an_arlen_one_too_long_is_caught() {
    if skip() {
        return;
    }
    mutant("ar_len$d = blen_lo - one_8;", "ar_len$d = blen_lo;");
}
