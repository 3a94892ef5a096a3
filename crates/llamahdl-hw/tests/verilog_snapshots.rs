//! Snapshots of the emitted Verilog (Config::TINY, L = 4), so any change in the generated
//! hardware shows up in review. Update with `INSTA_UPDATE=always cargo test -p llamahdl-hw
//! --test verilog_snapshots` (or `cargo insta review`).

use llamahdl_hw::cosim::emit_verilog;
use llamahdl_hw::units::weight_path::row_addr::RowAddrGen;
use llamahdl_hw::units::weight_path::weight_buffer::{QkvLoader, QkvWeightBuffer};
use llamahdl_model::Config;

/// Emit twice from fresh instances: generation must be deterministic.
fn stable(make: impl Fn() -> String) -> String {
    let a = make();
    let b = make();
    assert_eq!(a, b, "Verilog emission is not deterministic");
    a
}

#[test]
fn row_addr_gen_tiny_l4() {
    let v = stable(|| emit_verilog(RowAddrGen::new(&Config::TINY, 4)));
    insta::assert_snapshot!("row_addr_gen_tiny_l4", v);
}

#[test]
fn qkv_weight_buffer_tiny_l4() {
    // TINY on 4 lanes: 32 rows x 4 beats = 128 beats, 32 row scales.
    let v = stable(|| emit_verilog(QkvWeightBuffer::<4>::new(&Config::TINY)));
    insta::assert_snapshot!("qkv_weight_buffer_tiny_l4", v);
}

#[test]
fn qkv_loader_tiny_l4() {
    let v = stable(|| emit_verilog(QkvLoader::<4>::new(&Config::TINY)));
    insta::assert_snapshot!("qkv_loader_tiny_l4", v);
}

fn tiny_quant() -> llamahdl_golden::QuantModel {
    llamahdl_golden::QuantModel::quantise(
        &llamahdl_model::synth::generate(&Config::TINY, 1),
        llamahdl_golden::ScaleMode::Mant8,
    )
}

#[test]
fn qkv_projector_tiny_l4() {
    use llamahdl_hw::units::weight_path::qkv_projector::QkvProjector;
    let qm = tiny_quant();
    let layers: Vec<_> = qm.layers.iter().map(|l| &l.wqkv).collect();
    let v = stable(|| {
        emit_verilog(QkvProjector::<4>::new(
            Config::TINY.qkv_rows(),
            Config::TINY.dim,
            &layers,
        ))
    });
    insta::assert_snapshot!("qkv_projector_tiny_l4", v);
}

#[test]
fn decoder_tiny_l4() {
    use llamahdl_hw::decoder::Decoder;
    let qm = tiny_quant();
    let v = stable(|| emit_verilog(Decoder::<4>::new(&qm)));
    insta::assert_snapshot!("decoder_tiny_l4", v);
}
