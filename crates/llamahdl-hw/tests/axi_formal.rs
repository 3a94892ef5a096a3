//! Formal proofs of the AXI masters' properties on their emitted Verilog
//! (`src/units/dram/formal/prove.sh`; yosys -formal, yosys-smtbmc with cvc5).
//! The read master (`axi_read.sv`): no 4 KiB crossing, burst length, AR stability,
//! outstanding bursts, beats in flight within the FIFO's free space, beats requested equal
//! to beats asked. The write master (`axi_write.sv`): no 4 KiB crossing, burst length, AW
//! and W stability, W framing (`wlast` on each burst's last beat, no gap inside a burst),
//! outstanding bursts, no burst presented before its data is in the FIFO, every word asked
//! for written when idle. Skipped, with the reason printed, when a tool is missing.
//! Mutants of the emitted Verilog must be refused: for the read master the 4 KiB split
//! removed and `arlen` one too large; for the write master the same two on AW, and an AW
//! issued before its data is in the FIFO.
//!
//! The bounded depth is 8 cycles by default for the read master (about 16 s; each further
//! cycle costs several times the one before: depth 10 took 4 minutes), which covers a
//! command, its first two bursts on the AR channel and their first beats; 7 for the write
//! master (39 s; depth 8 takes about 225 s and holds too), which covers a command, its
//! first burst's AW, W beats and response. Set `LLAMAHDL_AXI_FORMAL_DEPTH` for a deeper
//! run of both (`make formal-axi LLAMAHDL_AXI_FORMAL_DEPTH=8`).

use llamahdl_hw::cosim::{emit_verilog, missing_tool};
use llamahdl_hw::units::dram::axi_read::{AxiReadMaster, AxiReadParams};
use llamahdl_hw::units::dram::axi_write::{AxiWriteMaster, AxiWriteParams};
use std::path::{Path, PathBuf};
use std::process::Command;

const COVER_DEPTH: &str = "10";
/// The write master's covers need more cycles: a command split at a 4 KiB boundary is
/// written and acknowledged in step 11 at the earliest.
const WRITE_COVER_DEPTH: &str = "12";

/// The bounded depth for the property set `name`.
fn depth(name: &str) -> String {
    std::env::var("LLAMAHDL_AXI_FORMAL_DEPTH")
        .unwrap_or_else(|_| if name == "axi_write" { "7" } else { "8" }.into())
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

/// The configuration axi_write.sv is written for.
fn write_verilog() -> String {
    emit_verilog(
        AxiWriteMaster::<64, 8, 4>::new(AxiWriteParams {
            max_outstanding: 2,
            max_burst: 8,
        })
        .unwrap(),
    )
}

/// Runs prove.sh on `v` in a temporary directory, or in `$LLAMAHDL_FORMAL_KEEP/<name>`
/// when that is set (the logs and a counterexample VCD are kept there).
fn prove_named(name: &str, v: &str, cover_depth: &str) -> (bool, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("LLAMAHDL_FORMAL_KEEP") {
        Some(d) => {
            let d = PathBuf::from(d).join(name);
            std::fs::create_dir_all(&d).unwrap();
            d
        }
        None => tmp.path().to_path_buf(),
    };
    let work = dir.as_path();
    let f = work.join("dut.v");
    std::fs::write(&f, v).unwrap();
    let o = Command::new("sh")
        .arg(prove_sh())
        .arg(name)
        .arg(&f)
        .arg(work.join("w"))
        .args([depth(name).as_str(), cover_depth])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    (
        o.status.success(),
        out + &String::from_utf8_lossy(&o.stderr),
    )
}

/// `name`'s properties hold on `v`: the bounded proof and the covers pass.
fn assert_proved(name: &str, v: &str, cover_depth: &str) {
    let (ok, out) = prove_named(name, v, cover_depth);
    println!("{out}");
    assert!(ok, "prove.sh failed:\n{out}");
    for step in [
        format!(
            "every assertion holds in all states reachable within {} cycles",
            depth(name)
        ),
        format!("every cover reached within {cover_depth} cycles"),
    ] {
        assert!(out.contains(&format!("{name}: PASS: {step}")), "{out}");
    }
}

/// `v` with `good` (found exactly once) replaced by `bad` must fail `name`'s bounded proof.
fn assert_refused(name: &str, v: &str, good: &str, bad: &str, cover_depth: &str) {
    assert_eq!(
        v.matches(good).count(),
        1,
        "the emitted master changed: {good}"
    );
    let (ok, out) = prove_named(name, &v.replace(good, bad), cover_depth);
    assert!(!ok, "the mutant {bad:?} passed:\n{out}");
    assert!(
        out.contains(&format!(
            "{name}: FAILED: bounded proof to depth {}",
            depth(name)
        )),
        "{out}"
    );
}

#[test]
fn axi_read_properties_hold() {
    if skip() {
        return;
    }
    assert_proved("axi_read", &verilog(), COVER_DEPTH);
}

fn mutant(good: &str, bad: &str) {
    assert_refused("axi_read", &verilog(), good, bad, COVER_DEPTH);
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

#[test]
fn axi_write_properties_hold() {
    if skip() {
        return;
    }
    assert_proved("axi_write", &write_verilog(), WRITE_COVER_DEPTH);
}

fn write_mutant(good: &str, bad: &str) {
    assert_refused("axi_write", &write_verilog(), good, bad, WRITE_COVER_DEPTH);
}

#[test]
fn a_write_burst_across_4k_is_caught() {
    if skip() {
        return;
    }
    write_mutant("room = page_words_c - offw$q;", "room = page_words_c;");
}

#[test]
fn an_awlen_one_too_long_is_caught() {
    if skip() {
        return;
    }
    write_mutant(
        "aw_len$d = split$b_len[(32'h0)+:(8)] - one_8;",
        "aw_len$d = split$b_len[(32'h0)+:(8)];",
    );
}

#[test]
fn an_aw_before_its_data_is_caught() {
    if skip() {
        return;
    }
    write_mutant(
        "((split$b_len <= spare$q) & ((~aw_v$q) | awready))",
        "((~aw_v$q) | awready)",
    );
}
