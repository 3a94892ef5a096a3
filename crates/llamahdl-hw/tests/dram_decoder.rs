//! The decoder with its weights in DRAM ([`DramDecoder`]): a weight image written by
//! `llamahdl-image` in an AXI4 DRAM model, streamed through the read master and the
//! router into the streaming decoder core; every logit of every position bit-exact with
//! the golden model, under first-beat latencies and random stalls from several seeds.

mod common;
use common::{image_region, on_big_stack};
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

use common::dram_behaviour as dram;

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
    on_big_stack(|| {
        let qm = quant(&Config::TINY, 1);
        let (cycles, util) = bit_exact::<16, 128>(&qm, 6, dram(16, 1, 0.0, 0), 16);
        println!("tiny, 16 lanes, 128-bit bus: cycles {cycles:?}, bus utilisation {util:.3}");
    });
}

/// Five DRAM behaviours: first-beat latencies from 1 to 100 cycles, 10 % to 30 % random
/// ARREADY and R stalls, each from its own seed.
const BEHAVIOURS: [(u64, f64, u64); 5] = [
    (40, 0.1, 1),
    (1, 0.3, 2),
    (100, 0.1, 3),
    (40, 0.2, 4),
    (7, 0.05, 5),
];

#[test]
fn dram_tiny_bit_exact_under_latency_and_stalls() {
    on_big_stack(|| {
        for (i, &(lat, stall, seed)) in BEHAVIOURS.iter().enumerate() {
            let qm = quant(&Config::TINY, 10 + i as u64);
            let (cycles, util) = bit_exact::<16, 128>(&qm, 8, dram(16, lat, stall, seed), 16);
            println!(
                "latency {lat}, stalls {stall}, seed {seed}: cycles {cycles:?}, bus {util:.3}"
            );
        }
    });
}

/// The odd shape (grouped-query attention 6/2, a separate classifier region) with 32
/// lanes on a 256-bit bus and 16 lanes on a 128-bit bus.
#[test]
fn dram_odd_shape_bit_exact() {
    on_big_stack(|| {
        let qm = quant(&Config::ODD, 3);
        assert!(!qm.config.shared_classifier || qm.wcls.is_none());
        let (c32, _) = bit_exact::<32, 256>(&qm, 5, dram(32, 40, 0.1, 9), qm.config.seq_len);
        let (c16, _) = bit_exact::<16, 128>(&qm, 5, dram(16, 40, 0.1, 8), qm.config.seq_len);
        println!("odd shape: 32 lanes/256-bit {c32:?}, 16 lanes/128-bit {c16:?}");
    });
}

/// Heads split into chunks in the DRAM decoder, every logit of 4 positions bit-exact:
/// head_dim 48 (stories15M's, in a small model so that the native simulation is quick)
/// on 32 lanes with a 128-bit bus (chunks of 32 + 16), four query heads over two kv heads;
/// head_dim 32 on 16 lanes with a 128-bit bus (two exact chunks), six query heads over two
/// kv heads.
#[test]
fn dram_head_split_into_chunks_bit_exact() {
    on_big_stack(|| {
        let hd48 = Config {
            dim: 192,
            hidden_dim: 128,
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            vocab_size: 64,
            seq_len: 16,
            shared_classifier: true,
        };
        let qm = quant(&hd48, 12);
        let (c32, u) = bit_exact::<32, 128>(&qm, 4, dram(16, 40, 0.1, 12), hd48.seq_len);
        println!("head_dim 48, 32 lanes / 128-bit: cycles {c32:?}, bus {u:.3}");
        let hd32 = Config {
            dim: 192,
            n_heads: 6,
            n_kv_heads: 2,
            ..hd48
        };
        let qm = quant(&hd32, 13);
        let (c16, u) = bit_exact::<16, 128>(&qm, 4, dram(16, 7, 0.2, 13), hd32.seq_len);
        println!("head_dim 32, 16 lanes / 128-bit: cycles {c16:?}, bus {u:.3}");
    });
}

fn real_model() -> Option<QuantModel> {
    let Ok(dir) = std::env::var("LLAMAHDL_MODELS") else {
        println!("SKIPPED (not run): LLAMAHDL_MODELS is not set");
        return None;
    };
    let ck = llamahdl_model::Checkpoint::load(&std::path::Path::new(&dir).join("stories260K.bin"))
        .expect("stories260K.bin");
    Some(QuantModel::quantise(&ck, ScaleMode::Mant8))
}

/// stories260K from its weight image: 16 positions, every logit equal to the golden
/// model, under DRAM behaviour `k` of [`BEHAVIOURS`] (one test each, so they run in
/// parallel).
fn stories260k(k: usize) {
    on_big_stack(move || stories260k_on_thread(k));
}

fn stories260k_on_thread(k: usize) {
    let Some(qm) = real_model() else { return };
    let (lat, stall, seed) = BEHAVIOURS[k];
    let (cycles, util) = if k % 2 == 0 {
        bit_exact::<64, 512>(&qm, 16, dram(64, lat, stall, seed), 512)
    } else {
        bit_exact::<32, 128>(&qm, 16, dram(16, lat, stall, seed), 512)
    };
    println!(
        "stories260K, behaviour {k} (latency {lat}, stalls {stall}, seed {seed}): cycles {cycles:?}, bus {util:.3}"
    );
}

#[test]
fn dram_stories260k_behaviour_0() {
    stories260k(0);
}
#[test]
fn dram_stories260k_behaviour_1() {
    stories260k(1);
}
#[test]
fn dram_stories260k_behaviour_2() {
    stories260k(2);
}
#[test]
fn dram_stories260k_behaviour_3() {
    stories260k(3);
}
#[test]
fn dram_stories260k_behaviour_4() {
    stories260k(4);
}

/// The emitted Verilog of the DRAM design, in Verilator, cycle for cycle equal to the
/// native simulation with the DRAM model in the loop (every top-level port every cycle;
/// the DRAM's answers replayed from the native run, which is itself checked against the
/// golden model).
fn verilator_matches<const L: usize>(qm: &QuantModel, n: usize, d: DramConfig, ctx: usize) {
    use llamahdl_hw::cosim::run_verilator;
    use llamahdl_hw::decoder::dram::DramDecoder;
    let img = image_bytes(qm, L as u32, 128).expect("image");
    let p = DramParams {
        ctx,
        base: 0x1000,
        axi: AxiReadParams::default(),
    };
    let mut hw = DramEngine::<L, 128>::with_trace(&qm.config, p, d, img).expect("build");
    let mut g = Golden::new(qm.clone());
    for pos in 0..n {
        let tok = ((pos * 37 + 1) % qm.config.vocab_size) as u32;
        let got = hw.run_position(tok, pos).expect("hardware run");
        assert_eq!(
            got.logits,
            g.forward_q16(tok, pos).unwrap(),
            "native vs golden at {pos}"
        );
    }
    let trace = hw.driver().take_trace().unwrap();
    let mut uut = DramDecoder::<L, 128>::new(&qm.config, p).unwrap();
    rust_hdl::prelude::Block::connect_all(&mut uut);
    let verilog = rust_hdl::prelude::generate_verilog(&uut);
    let dir = tempfile::tempdir().unwrap();
    let report = run_verilator(&verilog, "top", &trace, dir.path()).expect("verilator run");
    println!(
        "{} cycles in Verilator: build {:?}, {:.0} cycles/s",
        report.cycles,
        report.build_time.unwrap_or_default(),
        report.cycles_per_second.unwrap_or(0.0)
    );
    report.assert_clean();
}

#[test]
fn dram_tiny_verilator_cycle_for_cycle() {
    on_big_stack(|| {
        let qm = quant(&Config::TINY, 21);
        verilator_matches::<16>(&qm, 4, dram(16, 40, 0.1, 21), 16);
    });
}

#[test]
fn dram_stories260k_verilator_cycle_for_cycle() {
    on_big_stack(|| {
        let Some(qm) = real_model() else { return };
        verilator_matches::<32>(&qm, 2, dram(16, 40, 0.1, 22), 512);
    });
}

/// A start given at power-up is held until the header check passes, then runs: the same
/// logits as a start after the verdict.
#[test]
fn dram_start_before_the_header_verdict_is_held() {
    on_big_stack(|| {
        let qm = quant(&Config::TINY, 31);
        let img = image_bytes(&qm, 16, 128).expect("image");
        let p = DramParams {
            ctx: 16,
            base: 0,
            axi: AxiReadParams::default(),
        };
        let mut hw = DramEngine::<16, 128>::new(&qm.config, p, dram(16, 40, 0.0, 0), img).unwrap();
        hw.start_at_once();
        let got = hw.run_position(5, 0).expect("run");
        let mut g = Golden::new(qm.clone());
        assert_eq!(got.logits, g.forward_q16(5, 0).unwrap());
        assert_eq!(hw.header_cycles(), 0);
    });
}

/// Images the design was not generated for: the header check refuses them and no token
/// is computed (no logit comes out).
#[test]
fn dram_refuses_a_foreign_image_header() {
    on_big_stack(|| {
        let qm = quant(&Config::TINY, 32);
        let good = image_bytes(&qm, 16, 128).expect("image");
        let p = DramParams {
            ctx: 16,
            base: 0,
            axi: AxiReadParams::default(),
        };
        let other = quant(&Config::ODD, 1);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("bad magic", {
                let mut b = good.clone();
                b[0] ^= 0x20;
                b
            }),
            ("unknown version", {
                let mut b = good.clone();
                b[8] = 2;
                b
            }),
            ("another dim", {
                let mut b = good.clone();
                b[16] = 32;
                b
            }),
            ("another lane layout", image_bytes(&qm, 32, 128).unwrap()),
            ("another bus width", image_bytes(&qm, 16, 256).unwrap()),
            ("another model shape", image_bytes(&other, 16, 128).unwrap()),
            ("truncated image size field", {
                let mut b = good.clone();
                b[88] ^= 0x10;
                b
            }),
            ("all zero (empty DRAM)", vec![0u8; good.len()]),
        ];
        for (what, img) in cases {
            let mut hw =
                DramEngine::<16, 128>::new(&qm.config, p, dram(16, 40, 0.1, 3), img).unwrap();
            let e = hw.run_position(1, 0).expect_err(what).to_string();
            assert!(
                e.contains("refused the weight image") && e.contains("no token"),
                "{what}: {e}"
            );
            assert!(!hw.driver().uut.ready.val(), "{what}: ready");
        }
        // The good image passes.
        let mut hw = DramEngine::<16, 128>::new(&qm.config, p, dram(16, 40, 0.1, 3), good).unwrap();
        hw.run_position(1, 0).expect("good image");
        assert!(hw.header_cycles() > 40);
    });
}

/// `verilator --lint-only -Wall` on the DRAM design's Verilog (with the project's
/// waivers): the tiny shape at 16 lanes and 128 bits, stories260K's shape at 64 lanes and
/// 512 bits and at 32 lanes and 256 bits.
#[test]
fn dram_decoder_verilog_lints_clean() {
    on_big_stack(|| {
        use llamahdl_hw::cosim::{default_waiver_file, emit_verilog, verilator_lint};
        use llamahdl_hw::decoder::dram::DramDecoder;
        let p = |ctx| DramParams {
            ctx,
            base: 0,
            axi: AxiReadParams::default(),
        };
        let designs = [
            (
                "tiny 16/128",
                emit_verilog(DramDecoder::<16, 128>::new(&Config::TINY, p(16)).unwrap()),
            ),
            (
                "stories260K 64/512",
                emit_verilog(DramDecoder::<64, 512>::new(&Config::STORIES260K, p(64)).unwrap()),
            ),
            (
                "stories260K 32/256",
                emit_verilog(DramDecoder::<32, 256>::new(&Config::STORIES260K, p(64)).unwrap()),
            ),
        ];
        for (name, v) in designs {
            let dir = tempfile::tempdir().unwrap();
            let r = verilator_lint(&v, "top", Some(&default_waiver_file()), dir.path())
                .unwrap_or_else(|e| panic!("{name}: lint could not run: {e:#}"));
            assert!(r.clean, "{name}: verilator -Wall reported:\n{}", r.output);
        }
    });
}

/// Every region of an image, in turn, with one flipped bit (a weight, a scale, a gain, a
/// padding byte): the decoder's region check names that region and no token comes out;
/// the region table's own corruption (a wrong stored CRC) is caught the same way.
fn region_faults<const L: usize, const DW: usize>(qm: &QuantModel, positions: usize) {
    let good = image_bytes(qm, L as u32, DW as u32).expect("image");
    let img = llamahdl_image::verify::verify(&mut good.as_slice(), "good").expect("verify");
    let p = DramParams {
        ctx: qm.config.seq_len,
        base: 0,
        axi: AxiReadParams::default(),
    };
    for (i, r) in img.regions.iter().enumerate() {
        if i == 0 && !qm.config.shared_classifier {
            // With a separate classifier the embedding region is only read a block at a
            // time: no whole-region CRC to compare (docs/dram.md).
            continue;
        }
        let mut b = good.clone();
        // A byte in the middle of the region.
        let at = (r.offset + r.length / 2 + 3) as usize;
        b[at] ^= 0x10;
        let mut hw =
            DramEngine::<L, DW>::new(&qm.config, p, dram(DW / 8, 40, 0.1, i as u64), b).unwrap();
        // The embedding region is checked when it is read whole: as the shared
        // classifier, at the end of each position.
        let mut err = None;
        for pos in 0..positions {
            match hw.run_position(1, pos) {
                Ok(_) => continue,
                Err(e) => {
                    err = Some(e.to_string());
                    break;
                }
            }
        }
        let e = err.unwrap_or_else(|| panic!("region {i} ({}): no error", r.name()));
        assert!(
            e.contains(&format!("region {i}'s CRC-32")) && e.contains("void"),
            "region {i}: {e}"
        );
    }
}

#[test]
fn dram_tiny_every_region_corrupted_is_caught() {
    on_big_stack(|| region_faults::<16, 128>(&quant(&Config::TINY, 40), 2));
}

#[test]
fn dram_odd_shape_every_region_corrupted_is_caught() {
    on_big_stack(|| region_faults::<32, 256>(&quant(&Config::ODD, 41), 1));
}

/// The real stories260K image, corrupted: a flipped magic byte is refused by the header
/// check, a flipped weight in layer 2's W1 by the region check; no token either way.
#[test]
fn dram_stories260k_corrupted_image_refused() {
    on_big_stack(|| {
        let Some(qm) = real_model() else { return };
        let good = image_bytes(&qm, 32, 128).expect("image");
        let p = DramParams {
            ctx: 512,
            base: 0,
            axi: AxiReadParams::default(),
        };
        let (w1, r) = image_region(&good, "layer 2 w1");
        let mut magic = good.clone();
        magic[3] ^= 1;
        let mut weight = good.clone();
        weight[(r.offset + r.length / 3) as usize] ^= 0x40;
        for (what, b, needle) in [
            ("magic", magic, "refused the weight image".to_string()),
            ("weight", weight, format!("region {w1}'s CRC-32")),
        ] {
            let mut hw =
                DramEngine::<32, 128>::new(&qm.config, p, dram(16, 40, 0.1, 7), b).unwrap();
            let e = hw.run_position(1, 0).expect_err(what).to_string();
            assert!(e.contains(&needle), "{what}: {e}");
        }
    });
}
