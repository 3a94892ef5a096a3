//! The emitted top-level Verilog of the whole decoder, run in Verilator, produces the same
//! tokens, logits and cycle counts as the native simulation: every output port is compared
//! every cycle over 4 stories260K positions (the native run is itself checked against the
//! golden model). Needs LLAMAHDL_MODELS; a tiny-model run needs nothing.

use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_hw::cosim::{emit_verilog, run_verilator};
use llamahdl_hw::decoder::Decoder;
use llamahdl_hw::sim::engine::{HwEngine, HwRun};
use llamahdl_model::{synth, Config};

fn run<const L: usize>(qm: &QuantModel, ids: &[u32], stream: bool) {
    let mut hw = HwEngine::<L>::with_trace(qm, stream.then_some(qm));
    let mut g = Golden::new(qm.clone());
    let mut cycles = vec![];
    for (pos, &t) in ids.iter().enumerate() {
        let p = hw.run_position(t, pos).unwrap();
        assert_eq!(
            p.logits,
            g.forward_q16(t, pos).unwrap(),
            "native vs golden at {pos}"
        );
        cycles.push(p.cycles);
    }
    let trace = hw.driver().take_trace().unwrap();
    let verilog = emit_verilog(Decoder::<L>::new(qm));
    let dir = tempfile::tempdir().unwrap();
    let report = run_verilator(&verilog, "top", &trace, dir.path()).expect("verilator run");
    println!(
        "{} cycles ({cycles:?} per position) in Verilator: build {:?}, {:.0} cycles/s",
        report.cycles,
        report.build_time.unwrap_or_default(),
        report.cycles_per_second.unwrap_or(0.0)
    );
    report.assert_clean();
}

#[test]
fn top_verilator_tiny_rom_and_ram() {
    let qm = QuantModel::quantise(&synth::generate(&Config::TINY, 7), ScaleMode::Mant8);
    run::<8>(&qm, &[1, 5, 9, 30], false);
    run::<8>(&qm, &[1, 5, 9], true);
}

#[test]
fn top_verilator_stories260k_four_tokens() {
    let Some(ck) = llamahdl_model::testutil::stories260k() else {
        return;
    };
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    // The default lane count (the emitted rtl_out/ design).
    run::<32>(&qm, &[1, 403, 407, 261], false);
}
