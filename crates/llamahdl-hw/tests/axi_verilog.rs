//! The AXI read and write masters' emitted Verilog (the write master: 64-bit, 512-word
//! FIFO, 4 outstanding, 256-beat bursts, and lint at every width). The read master's: a snapshot of one configuration (64-bit bus,
//! 512-word FIFO, 4 bursts outstanding, 256-beat bursts; stored in
//! `src/units/dram/snapshots/`, update with `INSTA_UPDATE=always cargo test -p llamahdl-hw
//! --test axi_verilog`) and `verilator --lint-only -Wall` of every bus width with the
//! waivers in `src/units/dram/verilator_waivers.vlt`. Fails if Verilator reports anything,
//! or is missing.

use llamahdl_hw::cosim::{assert_lint_clean_with, emit_verilog, verilator_lint};
use llamahdl_hw::units::dram::axi_read::{AxiReadMaster, AxiReadParams};
use llamahdl_hw::units::dram::axi_write::{AxiWriteMaster, AxiWriteParams};
use std::path::Path;

fn params(max_outstanding: usize, max_burst: usize) -> AxiReadParams {
    AxiReadParams {
        max_outstanding,
        max_burst,
    }
}

fn dram_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/units/dram")
}

#[test]
fn snapshot_axi_read_master_64bit() {
    let make = || emit_verilog(AxiReadMaster::<64, 9>::new(params(4, 256)).unwrap());
    let v = make();
    assert_eq!(v, make(), "Verilog emission is not deterministic");
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(dram_dir().join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!("axi_read_master_w64_f9_o4_b256", v));
}

fn lint(name: &str, verilog: String) {
    assert_lint_clean_with(name, &verilog, &dram_dir().join("verilator_waivers.vlt"));
}

#[test]
fn lint_axi_read_master_all_widths() {
    lint(
        "AxiReadMaster 64-bit",
        emit_verilog(AxiReadMaster::<64, 9>::new(params(4, 256)).unwrap()),
    );
    lint(
        "AxiReadMaster 128-bit",
        emit_verilog(AxiReadMaster::<128, 8>::new(params(8, 128)).unwrap()),
    );
    lint(
        "AxiReadMaster 256-bit",
        emit_verilog(AxiReadMaster::<256, 10>::new(params(16, 256)).unwrap()),
    );
    lint(
        "AxiReadMaster 512-bit",
        emit_verilog(AxiReadMaster::<512, 9>::new(params(2, 64)).unwrap()),
    );
}

/// Without the waivers Verilator does report the casts (the lint is not vacuous).
#[test]
fn lint_reports_without_waivers() {
    let dir = tempfile::tempdir().unwrap();
    let v = emit_verilog(AxiReadMaster::<64, 9>::new(params(4, 256)).unwrap());
    let report = verilator_lint(&v, "top", None, dir.path()).expect("verilator must be installed");
    assert!(!report.clean);
    assert!(report.output.contains("WIDTH"), "{}", report.output);
}

fn wparams(max_outstanding: usize, max_burst: usize) -> AxiWriteParams {
    AxiWriteParams {
        max_outstanding,
        max_burst,
    }
}

#[test]
fn snapshot_axi_write_master_64bit() {
    let make = || emit_verilog(AxiWriteMaster::<64, 8, 9>::new(wparams(4, 256)).unwrap());
    let v = make();
    assert_eq!(v, make(), "Verilog emission is not deterministic");
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(dram_dir().join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!("axi_write_master_w64_f9_o4_b256", v));
}

#[test]
fn lint_axi_write_master_all_widths() {
    lint(
        "AxiWriteMaster 64-bit",
        emit_verilog(AxiWriteMaster::<64, 8, 9>::new(wparams(4, 256)).unwrap()),
    );
    lint(
        "AxiWriteMaster 128-bit",
        emit_verilog(AxiWriteMaster::<128, 16, 8>::new(wparams(8, 128)).unwrap()),
    );
    lint(
        "AxiWriteMaster 256-bit",
        emit_verilog(AxiWriteMaster::<256, 32, 10>::new(wparams(15, 256)).unwrap()),
    );
    lint(
        "AxiWriteMaster 512-bit",
        emit_verilog(AxiWriteMaster::<512, 64, 9>::new(wparams(2, 64)).unwrap()),
    );
}
