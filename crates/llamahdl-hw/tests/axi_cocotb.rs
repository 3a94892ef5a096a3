//! The AXI read and write masters' emitted Verilog against a third-party AXI model:
//! cocotb with cocotbext-axi's `AxiRamRead` / `AxiRamWrite` under Icarus
//! (`sim/cocotb/axi_read/`, `sim/cocotb/axi_write/`), random pauses on every channel, for
//! the 64- and 512-bit buses. `make cocotb-axi` installs the
//! Python packages into `build/venv-cocotb` and runs this test.
//!
//! The Python is `$LLAMAHDL_COCOTB_PYTHON` or `build/venv-cocotb/bin/python`. When the
//! variable is unset and that venv (with cocotb and cocotbext-axi) or iverilog is missing,
//! the test prints `SKIPPED (not run): cocotb AXI test: <reason>` and passes without
//! checking anything. When the variable is set (as `make test` and `make cocotb-axi` do),
//! a missing tool fails the test.

use llamahdl_hw::cosim::{emit_verilog, missing_tool};
use llamahdl_hw::units::dram::axi_read::{AxiReadMaster, AxiReadParams};
use llamahdl_hw::units::dram::axi_write::{AxiWriteMaster, AxiWriteParams};
use std::path::{Path, PathBuf};
use std::process::Command;

const PYTHON_ENV: &str = "LLAMAHDL_COCOTB_PYTHON";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    std::env::var_os(PYTHON_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("build/venv-cocotb/bin/python"))
}

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let py = python();
    let ok = Command::new(&py)
        .args(["-c", "import cocotb, cocotbext.axi, cocotb_tools.runner"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return Some(format!(
            "{} cannot import cocotb, cocotbext.axi and cocotb_tools.runner (run `make \
             cocotb-axi`, or set {PYTHON_ENV})",
            py.display()
        ));
    }
    if missing_tool(&[("iverilog", "-V")]).is_some() {
        return Some("iverilog is not installed (apt-get install iverilog)".into());
    }
    None
}

fn run(bench: &str, tests: &[&str], dw: usize, verilog: String, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let dut = dir.path().join("dut.v");
    std::fs::write(&dut, verilog).unwrap();
    let t = std::time::Instant::now();
    let o = Command::new(python())
        .arg(repo().join("sim/cocotb/run.py"))
        .arg(bench)
        .arg(&dut)
        .arg(dir.path().join("build"))
        .arg(dw.to_string())
        .arg(seed.to_string())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    let summary: Vec<&str> = out
        .lines()
        .chain(err.lines())
        .filter(|l| {
            l.contains("PASS")
                || l.contains("FAIL")
                || l.contains("UTILISATION")
                || l.contains("words in")
                || l.contains("COCOTB_RESULT")
        })
        .collect();
    println!(
        "{bench} {dw}-bit, {:.1} s:\n{}",
        t.elapsed().as_secs_f64(),
        summary.join("\n")
    );
    assert!(o.status.success(), "cocotb failed:\n{out}\n{err}");
    assert!(
        out.contains(&format!("COCOTB_RESULT dw={dw} failures=0")),
        "no result line:\n{out}\n{err}"
    );
    for test in tests {
        assert!(
            summary
                .iter()
                .any(|l| l.contains(test) && l.contains("PASS")),
            "{test} did not pass:\n{out}\n{err}"
        );
    }
}

#[test]
fn cocotbext_axi_ram_64_and_512_bit() {
    if let Some(why) = missing() {
        assert!(
            std::env::var_os(PYTHON_ENV).is_none(),
            "{PYTHON_ENV} is set, but the cocotb AXI test cannot run: {why}"
        );
        println!("SKIPPED (not run): cocotb AXI test: {why}");
        return;
    }
    let p = AxiReadParams {
        max_outstanding: 4,
        max_burst: 256,
    };
    run(
        READ,
        READ_TESTS,
        64,
        emit_verilog(AxiReadMaster::<64, 9>::new(p).unwrap()),
        1,
    );
    let p = AxiReadParams {
        max_outstanding: 4,
        max_burst: 64,
    };
    run(
        READ,
        READ_TESTS,
        512,
        emit_verilog(AxiReadMaster::<512, 8>::new(p).unwrap()),
        2,
    );
}

const READ: &str = "axi_read";
const READ_TESTS: &[&str] = &[
    "random_streams",
    "streaming_utilisation",
    "slverr_stops_the_stream",
];
const WRITE: &str = "axi_write";
const WRITE_TESTS: &[&str] = &[
    "random_writes",
    "streaming_utilisation",
    "slverr_then_clear",
];

#[test]
fn cocotbext_axi_ram_write_64_and_512_bit() {
    if let Some(why) = missing() {
        assert!(
            std::env::var_os(PYTHON_ENV).is_none(),
            "{PYTHON_ENV} is set, but the cocotb AXI test cannot run: {why}"
        );
        println!("SKIPPED (not run): cocotb AXI write test: {why}");
        return;
    }
    let p = AxiWriteParams {
        max_outstanding: 4,
        max_burst: 256,
    };
    let v = emit_verilog(AxiWriteMaster::<64, 8, 9>::new(p).unwrap());
    run(WRITE, WRITE_TESTS, 64, v, 1);
    let p = AxiWriteParams {
        max_outstanding: 6,
        max_burst: 64,
    };
    let v = emit_verilog(AxiWriteMaster::<512, 64, 8>::new(p).unwrap());
    run(WRITE, WRITE_TESTS, 512, v, 2);
}
