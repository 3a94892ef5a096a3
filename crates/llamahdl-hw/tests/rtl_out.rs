//! `rtl_out/` holds the Verilog of the stories260K design (real weights in the ROM,
//! default lanes), produced by `make rtl` (`llamahdl verilog --config stories260k`).
//! This test regenerates it in memory and fails when the committed files are stale.
//! Needs LLAMAHDL_MODELS (prints SKIPPED otherwise).

use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::decoder::limits::DEFAULT_LANES;
use llamahdl_hw::emit::generate;
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn rtl_out_is_up_to_date() {
    let Some(ck) = llamahdl_model::testutil::stories260k() else {
        return;
    };
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    let fresh = generate(&qm, DEFAULT_LANES).expect("emission");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rtl_out");
    let committed: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make rtl`)", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".v"))
        .collect();
    let expected: BTreeSet<String> = fresh.iter().map(|f| f.file.clone()).collect();
    assert_eq!(
        committed, expected,
        "rtl_out/ has a different set of files: run `make rtl`"
    );
    for f in &fresh {
        let on_disk = std::fs::read_to_string(dir.join(&f.file)).unwrap();
        assert!(
            on_disk == f.text,
            "rtl_out/{} is stale: run `make rtl`",
            f.file
        );
    }
}

/// Every file of the emitted design lints clean under `verilator --lint-only -Wall` with
/// its renamed top module (tiny shape, so it needs no model files).
#[test]
fn emitted_files_lint_clean() {
    use llamahdl_hw::cosim::{default_waiver_file, verilator_lint};
    let qm = QuantModel::quantise(
        &llamahdl_model::synth::generate(&llamahdl_model::Config::TINY, 1),
        ScaleMode::Mant8,
    );
    for lanes in [4, DEFAULT_LANES] {
        for f in generate(&qm, lanes).unwrap() {
            let dir = tempfile::tempdir().unwrap();
            let r = verilator_lint(&f.text, &f.module, Some(&default_waiver_file()), dir.path())
                .unwrap_or_else(|e| panic!("{}: lint could not run: {e:#}", f.file));
            assert!(r.clean, "{} (lanes {lanes}):\n{}", f.file, r.output);
        }
    }
}
