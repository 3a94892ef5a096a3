//! Snapshots of the emitted Verilog of every block on the synthetic tiny shape
//! (`Config::TINY`, seed 1, L = 4 lanes; no real model needed), so any change in the
//! generated hardware shows up as an RTL diff in review. Each snapshot is stored beside the
//! block it pins (`src/<folder of the block>/snapshots/`). The whole decoder's Verilog is
//! pinned as a digest (its modules, each with its line count and a SHA-256 of its text),
//! so a change names the modules it touches. Update with `INSTA_UPDATE=always cargo test
//! -p llamahdl-hw --test verilog_snapshots` (or `cargo insta review`).

use llamahdl_hw::cosim::emit_verilog;
use llamahdl_hw::decoder::memory_map::WeightMap;
use llamahdl_hw::decoder::Decoder;
use llamahdl_hw::units::attention::AttnUnit;
use llamahdl_hw::units::matvec::MatVec;
use llamahdl_hw::units::rms::RmsUnit;
use llamahdl_hw::units::weight_path::row_addr::RowAddrGen;
use llamahdl_hw::units::weight_path::weight_buffer::{QkvLoader, QkvWeightBuffer};
use llamahdl_model::Config;
use sha2::{Digest, Sha256};

/// Pin `text` as snapshot `name` in `src/<dir>/snapshots/`.
fn pin(dir: &str, name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => format!("{}/src/{dir}/snapshots", env!("CARGO_MANIFEST_DIR")),
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

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
    pin("units/weight_path", "row_addr_gen_tiny_l4", &v);
}

#[test]
fn qkv_weight_buffer_tiny_l4() {
    // TINY on 4 lanes: 32 rows x 4 beats = 128 beats, 32 row scales.
    let v = stable(|| emit_verilog(QkvWeightBuffer::<4>::new(&Config::TINY)));
    pin("units/weight_path", "qkv_weight_buffer_tiny_l4", &v);
}

#[test]
fn qkv_loader_tiny_l4() {
    let v = stable(|| emit_verilog(QkvLoader::<4>::new(&Config::TINY)));
    pin("units/weight_path", "qkv_loader_tiny_l4", &v);
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
    pin("units/weight_path", "qkv_projector_tiny_l4", &v);
}

#[test]
fn matvec_tiny_l4() {
    // Every matrix of the tiny model in the ROM, as the decoder holds them.
    let qm = tiny_quant();
    let wm = WeightMap::new(&qm, 4);
    let c = qm.config;
    let max_cols = (c.dim.div_ceil(4) + c.hidden_dim.div_ceil(4)) * 4;
    let v = stable(|| emit_verilog(MatVec::<4>::new(&wm.mats, max_cols)));
    pin("units/matvec", "matvec_tiny_l4", &v);
}

#[test]
fn rms_unit_tiny() {
    let qm = tiny_quant();
    let v = stable(|| emit_verilog(RmsUnit::<8>::new(&qm)));
    pin("units/rms", "rms_unit_tiny_w8", &v);
}

#[test]
fn attention_unit_tiny_l4() {
    let qm = tiny_quant();
    let v = stable(|| emit_verilog(AttnUnit::<4>::new(&qm)));
    pin("units/attention", "attention_unit_tiny_l4", &v);
}

/// The attention unit writing XP outputs per cycle (ODD: head_dim 8; 8 lanes, one head per
/// group, a 4-position cache), as a per-module digest.
#[test]
fn attention_unit_odd_l8_wide_digest() {
    let qm = llamahdl_golden::QuantModel::quantise(
        &llamahdl_model::synth::generate(&Config::ODD, 1),
        llamahdl_golden::ScaleMode::Mant8,
    );
    let v = stable(|| emit_verilog(AttnUnit::<8>::with_context(&qm, 4)));
    pin(
        "units/attention",
        "attention_unit_odd_l8_wide_digest",
        &digest(&v),
    );
}

/// The modules of `verilog` in order, each `name  lines  sha256[..16]`, then the totals.
fn digest(verilog: &str) -> String {
    let mut out = String::new();
    let mut total = 0;
    let mut module: Option<(String, Vec<&str>)> = None;
    for line in verilog.lines() {
        total += 1;
        if let Some(rest) = line.strip_prefix("module ") {
            let name = rest.split(['(', ' ']).next().unwrap_or("").to_string();
            module = Some((name, vec![]));
        }
        if let Some((_, lines)) = module.as_mut() {
            lines.push(line);
        }
        if line.starts_with("endmodule") {
            if let Some((name, lines)) = module.take() {
                let hash = Sha256::digest(lines.join("\n").as_bytes());
                let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
                out += &format!("{name}  {}  {hex}\n", lines.len());
            }
        }
    }
    let hash = Sha256::digest(verilog.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    out += &format!("total {total} lines, sha256 {hex}\n");
    out
}

#[test]
fn decoder_tiny_l4_digest() {
    let qm = tiny_quant();
    let v = stable(|| emit_verilog(Decoder::<4>::new(&qm)));
    assert!(
        v.lines().count() > 1000,
        "the whole decoder is expected to be large"
    );
    pin("decoder", "decoder_tiny_l4_digest", &digest(&v));
}

/// The stream router's byte datapath: 32 lanes from a 128-bit bus (two words a beat).
#[test]
fn unpack_l32_w128() {
    use llamahdl_hw::units::dram::unpack::Unpack;
    let v = stable(|| emit_verilog(Unpack::<32, 128>::default()));
    pin("units/dram", "unpack_l32_w128", &v);
}

fn tiny_dram_plan() -> llamahdl_image::layout::Plan {
    llamahdl_image::layout::plan(&Config::TINY, 16, 128, llamahdl_golden::ScaleMode::Mant8).unwrap()
}

/// The stream router for the tiny shape, 16 lanes, 128-bit bus.
#[test]
fn stream_router_tiny_l16_w128() {
    use llamahdl_hw::units::dram::router::{script, StreamRouter};
    let p = tiny_dram_plan();
    let v = stable(|| {
        emit_verilog(StreamRouter::<16, 128>::new(
            script(&p.regions, 16, 16, true),
            2,
        ))
    });
    pin("units/dram", "stream_router_tiny_l16_w128", &v);
}

/// The whole decoder with its weights in DRAM (tiny shape, 16 lanes, 128-bit bus), as a
/// per-module digest.
#[test]
fn dram_decoder_tiny_l16_w128_digest() {
    use llamahdl_hw::decoder::dram::{DramDecoder, DramParams};
    let p = DramParams {
        ctx: 16,
        base: 0,
        axi: Default::default(),
    };
    let v = stable(|| emit_verilog(DramDecoder::<16, 128>::new(&Config::TINY, p).unwrap()));
    pin("decoder", "dram_decoder_tiny_l16_w128_digest", &digest(&v));
}

/// The boot copier and the DRAM decoder in one top (tiny shape, 16 lanes, 128-bit bus,
/// the image from block 0), as a per-module digest.
#[test]
fn booted_decoder_tiny_l16_w128_digest() {
    use llamahdl_hw::decoder::booted::BootedDecoder;
    use llamahdl_hw::decoder::dram::DramParams;
    let p = DramParams {
        ctx: 16,
        base: 0,
        axi: Default::default(),
    };
    let v =
        stable(|| emit_verilog(BootedDecoder::<16, 128, 16>::new(&Config::TINY, p, 0).unwrap()));
    pin(
        "decoder",
        "booted_decoder_tiny_l16_w128_digest",
        &digest(&v),
    );
}
