//! `verilator --lint-only -Wall` on the emitted Verilog of every block of this part, for
//! Config::TINY and Config::STORIES260K with L = dim and L = 8. Waivers live in
//! `sim/verilator_waivers.vlt`. Fails if Verilator reports anything, or is missing.

use llamahdl_hw::cosim::{default_waiver_file, emit_verilog, verilator_lint};
use llamahdl_hw::units::weight_path::row_addr::RowAddrGen;
use llamahdl_hw::units::weight_path::weight_buffer::{QkvLoader, QkvWeightBuffer};
use llamahdl_model::Config;

fn lint(name: &str, verilog: String) {
    let dir = tempfile::tempdir().unwrap();
    let waivers = default_waiver_file();
    let report = verilator_lint(&verilog, "top", Some(&waivers), dir.path())
        .unwrap_or_else(|e| panic!("{name}: lint could not run: {e:#}"));
    assert!(
        report.clean,
        "{name}: verilator -Wall reported:\n{}",
        report.output
    );
}

#[test]
fn lint_row_addr_gen() {
    for (n, cfg) in [("tiny", Config::TINY), ("stories260K", Config::STORIES260K)] {
        for lanes in [cfg.dim, 8] {
            lint(
                &format!("RowAddrGen {n} L={lanes}"),
                emit_verilog(RowAddrGen::new(&cfg, lanes)),
            );
        }
    }
}

#[test]
fn lint_weight_buffer() {
    lint(
        "QkvWeightBuffer tiny L=16",
        emit_verilog(QkvWeightBuffer::<16>::new(&Config::TINY)),
    );
    lint(
        "QkvWeightBuffer tiny L=8",
        emit_verilog(QkvWeightBuffer::<8>::new(&Config::TINY)),
    );
    lint(
        "QkvWeightBuffer stories260K L=64",
        emit_verilog(QkvWeightBuffer::<64>::new(&Config::STORIES260K)),
    );
    lint(
        "QkvWeightBuffer stories260K L=8",
        emit_verilog(QkvWeightBuffer::<8>::new(&Config::STORIES260K)),
    );
}

#[test]
fn lint_loader() {
    lint(
        "QkvLoader tiny L=16",
        emit_verilog(QkvLoader::<16>::new(&Config::TINY)),
    );
    lint(
        "QkvLoader tiny L=8",
        emit_verilog(QkvLoader::<8>::new(&Config::TINY)),
    );
    lint(
        "QkvLoader stories260K L=64",
        emit_verilog(QkvLoader::<64>::new(&Config::STORIES260K)),
    );
    lint(
        "QkvLoader stories260K L=8",
        emit_verilog(QkvLoader::<8>::new(&Config::STORIES260K)),
    );
}

/// The lint check is not vacuous: without the waiver file, Verilator's DECLFILENAME
/// warning (one file, many modules) is reported and the report is not clean.
#[test]
fn lint_reports_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let report = verilator_lint(
        &emit_verilog(RowAddrGen::new(&Config::TINY, 4)),
        "top",
        None,
        dir.path(),
    )
    .expect("verilator must be installed");
    assert!(!report.clean);
    assert!(report.output.contains("DECLFILENAME"), "{}", report.output);
}

fn quant(cfg: &Config) -> llamahdl_golden::QuantModel {
    llamahdl_golden::QuantModel::quantise(
        &llamahdl_model::synth::generate(cfg, 3),
        llamahdl_golden::ScaleMode::Mant8,
    )
}

#[test]
fn lint_qkv_projector() {
    use llamahdl_hw::units::weight_path::qkv_projector::QkvProjector;
    for (n, cfg) in [("tiny", Config::TINY), ("stories260K", Config::STORIES260K)] {
        let qm = quant(&cfg);
        let layers: Vec<_> = qm.layers.iter().map(|l| &l.wqkv).collect();
        lint(
            &format!("QkvProjector {n} L=16"),
            emit_verilog(QkvProjector::<16>::new(cfg.qkv_rows(), cfg.dim, &layers)),
        );
        lint(
            &format!("QkvProjector {n} L=8"),
            emit_verilog(QkvProjector::<8>::new(cfg.qkv_rows(), cfg.dim, &layers)),
        );
    }
}

#[test]
fn lint_decoder_top() {
    use llamahdl_hw::decoder::Decoder;
    lint(
        "Decoder tiny L=4",
        emit_verilog(Decoder::<4>::new(&quant(&Config::TINY))),
    );
    lint(
        "Decoder stories260K shape L=64",
        emit_verilog(Decoder::<64>::new(&quant(&Config::STORIES260K))),
    );
}
