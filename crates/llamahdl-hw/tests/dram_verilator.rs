//! The DRAM-streaming decoder's emitted Verilog run in Verilator with the C++ AXI4 DRAM of
//! `sim/verilator/dram_tb.cpp` in the loop (`cosim::dram_verilator`), at a 512-bit bus: every
//! logit equal to the golden model's under latency and random stalls, and, since the C++ DRAM
//! draws the same random sequence as the native model, the cycles of every position, the
//! header check's cycles and every bus figure equal to the native `DramEngine`'s. A
//! corrupted image, a foreign header and an error response are refused with no token.
//!
//! One Verilator model (tiny shape, 64 lanes, 512-bit bus) serves every test; it is built in
//! the target's test directory and reused by later runs while the design and bench are
//! unchanged.

mod common;
use common::{image_region, on_big_stack};
use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_hw::cosim::dram_verilator::DramVerilatorModel;
use llamahdl_hw::decoder::dram::DramParams;
use llamahdl_hw::sim::axi_dram::DramConfig;
use llamahdl_hw::sim::dram_engine::DramEngine;
use llamahdl_hw::sim::engine::HwRun;
use llamahdl_hw::units::dram::axi_read::{AxiReadParams, RESP_SLVERR};
use llamahdl_image::write::image_bytes;
use llamahdl_model::{synth, Config};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const L: usize = 64;
const DW: usize = 512;
const BASE: u64 = 0x3000;

fn quant(seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(&Config::TINY, seed), ScaleMode::Mant8)
}

fn dram(latency: u64, stall: f64, seed: u64) -> DramConfig {
    common::dram_behaviour(DW / 8, latency, stall, seed)
}

/// The shared model: built once per test run (every test waits for it).
fn model() -> &'static DramVerilatorModel {
    static MODEL: OnceLock<Result<DramVerilatorModel, String>> = OnceLock::new();
    let m = MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dram-verilator-tiny-64-512");
        let m = DramVerilatorModel::build(&Config::TINY, L, DW, Config::TINY.seq_len, BASE, &dir)
            .map_err(|e| format!("{e:#}"))?;
        println!(
            "Verilator model of the tiny 64-lane / 512-bit design: {} in {:.1} s",
            if m.reused() { "reused" } else { "built" },
            m.build_time().as_secs_f64()
        );
        Ok(m)
    });
    m.as_ref()
        .unwrap_or_else(|e| panic!("building the Verilator model: {e}"))
}

/// `bytes` in a file of `dir`.
fn image_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn token_at(pos: usize) -> u32 {
    ((pos * 37 + 1) % Config::TINY.vocab_size) as u32
}

/// `n` positions of `qm` under DRAM behaviour `d` in Verilator: every logit and next token
/// equal to the golden model's; cycles, header cycles and bus figures equal to the native
/// engine's with the same behaviour.
fn verilator_equals_golden_and_native(qm: &QuantModel, n: usize, d: DramConfig) {
    let m = model();
    let img = image_bytes(qm, L as u32, DW as u32).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = image_file(dir.path(), "tiny.img", &img);
    let positions: Vec<(u32, usize)> = (0..n).map(|p| (token_at(p), p)).collect();
    let run = m.run(&path, &d, &positions).expect("Verilator run");
    let mut g = Golden::new(qm.clone());
    for (pos, got) in run.positions.iter().enumerate() {
        let want = g.forward_q16(token_at(pos), pos).unwrap().to_vec();
        if let Some(i) = (0..want.len()).find(|&i| got.logits[i] != want[i]) {
            panic!(
                "position {pos}: logit {i}: Verilator {} golden {}",
                got.logits[i], want[i]
            );
        }
        assert_eq!(got.next_token, g.argmax_q16(), "position {pos}: argmax");
    }
    for r in &run.records {
        // The design's own beat counter agrees with the bench's count, and it reads.
        assert_eq!(r.stat_beats, r.beats, "position {}: stat_beats", r.pos);
        assert!(r.beats > 0 && r.stat_busy > 0, "position {}: {r:?}", r.pos);
        assert_eq!(
            r.violation_count, 0,
            "position {}: {:?}",
            r.pos, r.violations
        );
    }
    // The native simulation with the same DRAM behaviour.
    let p = DramParams {
        ctx: Config::TINY.seq_len,
        base: BASE,
        axi: AxiReadParams::default(),
    };
    let mut hw = DramEngine::<L, DW>::new(&qm.config, p, d.clone(), img).unwrap();
    let native: Vec<u64> = positions
        .iter()
        .map(|&(t, p)| hw.run_position(t, p).expect("native run").cycles)
        .collect();
    let vl: Vec<u64> = run.positions.iter().map(|p| p.cycles).collect();
    println!(
        "latency {}, stalls {}, seed {}: Verilator cycles {vl:?} (native {native:?}), header {} \
         cycles, bus {:.3}, {:.0} cycles/s",
        d.latency,
        d.ar_stall,
        d.seed,
        run.header_cycles,
        run.bus.utilisation,
        run.cycles_per_second
    );
    assert_eq!(vl, native, "cycles per position, Verilator vs native");
    assert_eq!(run.header_cycles, hw.header_cycles(), "header cycles");
    assert_eq!(run.bus, hw.bus(), "bus figures");
    assert_eq!(run.total_cycles, hw.total_cycles(), "total cycles");
    assert!(run.bus.dram.r_gap_cycles > 0, "the DRAM inserted no gap");
}

#[test]
fn verilator_512_bit_bus_latency_40_stalls_10_percent() {
    on_big_stack(|| verilator_equals_golden_and_native(&quant(51), 5, dram(40, 0.1, 51)));
}

#[test]
fn verilator_512_bit_bus_latency_3_stalls_30_percent() {
    on_big_stack(|| verilator_equals_golden_and_native(&quant(52), 4, dram(3, 0.3, 52)));
}

/// The stories15M shape (synthetic weights, seed 1; head_dim 48) at 32 lanes on a 128-bit
/// bus: attention splits each head into chunks of 32 + 16 lanes. Its Verilog in Verilator
/// (its own model, a 16-position context), positions 0..3 under latency 40 and 10 %
/// stalls: every logit and next token equal to the golden model's.
#[test]
fn verilator_stories15m_shape_32_lanes_128_bit_bus() {
    on_big_stack(|| {
        let cfg = Config::STORIES15M;
        let (l, dw, ctx) = (32usize, 128usize, 16usize);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dram-verilator-stories15m-32-128");
        let m = DramVerilatorModel::build(&cfg, l, dw, ctx, BASE, &dir).expect("Verilator model");
        let qm = QuantModel::quantise(&synth::generate(&cfg, 1), ScaleMode::Mant8);
        let img = image_bytes(&qm, l as u32, dw as u32).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = image_file(tmp.path(), "s15.img", &img);
        let tok = |p: usize| ((p * 37 + 1) % cfg.vocab_size) as u32;
        let positions: Vec<(u32, usize)> = (0..3).map(|p| (tok(p), p)).collect();
        let d = common::dram_behaviour(dw / 8, 40, 0.1, 1);
        let run = m.run(&path, &d, &positions).expect("Verilator run");
        assert_eq!(run.positions.len(), 3);
        let mut g = Golden::new(qm.clone());
        for (pos, got) in run.positions.iter().enumerate() {
            let want = g.forward_q16(tok(pos), pos).unwrap().to_vec();
            if let Some(i) = (0..want.len()).find(|&i| got.logits[i] != want[i]) {
                panic!(
                    "position {pos}: logit {i}: Verilator {} golden {}",
                    got.logits[i], want[i]
                );
            }
            assert_eq!(got.next_token, g.argmax_q16(), "position {pos}: argmax");
        }
        for r in &run.records {
            assert_eq!(
                r.violation_count, 0,
                "position {}: {:?}",
                r.pos, r.violations
            );
        }
        let cycles: Vec<u64> = run.positions.iter().map(|p| p.cycles).collect();
        println!(
            "stories15M shape, 32 lanes / 128-bit: cycles {cycles:?}, bus {:.4}, {:.0} cycles/s",
            run.bus.utilisation, run.cycles_per_second
        );
    });
}

/// A flipped byte in a weight region: `crc_error` names the region and the position gives
/// no token; a flipped magic byte: the header is refused; an SLVERR response: the decoder
/// stops with `axi_error`.
#[test]
fn verilator_corrupted_image_and_bus_error_give_no_token() {
    on_big_stack(|| {
        let m = model();
        let qm = quant(53);
        let good = image_bytes(&qm, L as u32, DW as u32).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dram(40, 0.1, 53);

        let (w1, r) = image_region(&good, "layer 1 w1");
        let mut b = good.clone();
        b[(r.offset + r.length / 2 + 3) as usize] ^= 0x10;
        let path = image_file(dir.path(), "weight.img", &b);
        let mut e = m.start(&path, &d).unwrap();
        assert!(
            e.header_ok(),
            "the header of the weight-corrupted image is good"
        );
        let err = e
            .run_position(1, 0)
            .expect_err("a corrupted weight")
            .to_string();
        assert!(
            err.contains(&format!("region {w1}'s CRC-32")) && err.contains("void"),
            "{err}"
        );
        let rec = e.last_record().unwrap();
        assert!(rec.done && rec.crc_error && rec.image_error, "{rec:?}");
        assert_eq!(rec.bad_region, w1);

        let mut b = good.clone();
        b[1] ^= 0x04;
        let path = image_file(dir.path(), "magic.img", &b);
        let mut e = m.start(&path, &d).unwrap();
        assert!(!e.header_ok());
        assert_eq!(e.header_bad_word(), Some(0));
        let err = e.run_position(1, 0).expect_err("a bad magic").to_string();
        assert!(err.contains("refused the weight image"), "{err}");
        let rec = e.last_record().unwrap();
        assert!(rec.done && rec.image_error && !rec.ready, "{rec:?}");
        assert_eq!(rec.produced, 0, "a refused header gives no logit");

        let path = image_file(dir.path(), "good.img", &good);
        let bus_error = DramConfig {
            error_at: Some((60, RESP_SLVERR)),
            ..d.clone()
        };
        let mut e = m.start(&path, &bus_error).unwrap();
        let err = e.run_position(1, 0).expect_err("SLVERR").to_string();
        assert!(err.contains("error response"), "{err}");
        let rec = e.last_record().unwrap();
        assert!(rec.axi_stop && rec.axi_error && !rec.done, "{rec:?}");
        drop(e);

        // An image too short for the design: the reads past its end answer DECERR.
        let path = image_file(dir.path(), "short.img", &good[..good.len() / 2]);
        let mut e = m.start(&path, &d).unwrap();
        let err = e.run_position(1, 0).expect_err("DECERR").to_string();
        assert!(err.contains("error response"), "{err}");
        assert!(e.last_record().unwrap().dram.error_beats > 0);
    });
}

/// Refusals before anything runs: a missing image, a DRAM of another bus width, a build
/// directory that holds something else.
#[test]
fn verilator_bad_requests_are_refused() {
    on_big_stack(|| {
        let m = model();
        let dir = tempfile::tempdir().unwrap();
        let e = m
            .start(&dir.path().join("none.img"), &dram(1, 0.0, 0))
            .err()
            .expect("a missing image");
        assert!(e.to_string().contains("no such image file"), "{e}");
        let path = image_file(dir.path(), "x.img", &[0u8; 4096]);
        let e = m
            .start(&path, &DramConfig::new(16))
            .err()
            .expect("another bus width");
        assert!(e.to_string().contains("128-bit bus"), "{e}");
        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
        let e = DramVerilatorModel::build(&Config::TINY, L, DW, 16, BASE, &foreign)
            .expect_err("a foreign directory");
        assert!(e.to_string().contains("not empty"), "{e}");
        assert!(foreign.join("notes.txt").exists());
        let e = DramVerilatorModel::build(&Config::TINY, 16, 512, 16, BASE, dir.path())
            .expect_err("16 lanes on a 512-bit bus");
        assert!(e.to_string().contains("lanes"), "{e}");
    });
}
