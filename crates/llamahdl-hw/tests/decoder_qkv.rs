//! Plan step 4 (threading) exercised end to end at the QKV stage: weights stream into the
//! decoder's loader, pass down decoder → layer stack → layer → attention → projector, and
//! the projections equal the golden model. Scenarios as the plan's step 5:
//! A: use-RAM off equals the compiled-in weights; B: use-RAM on with the same weights
//! streamed in gives identical outputs; C: different weights streamed in give different
//! outputs (those of the streamed weights). Starts wait for `fully_loaded`.

use llamahdl_golden::numerics::{to_block16, Block};
use llamahdl_golden::{QMatrix, QuantModel, ScaleMode};
use llamahdl_hw::cosim::run_icarus;
use llamahdl_hw::hierarchy::Decoder;
use llamahdl_hw::leaf::{i2s, s2i, u2b};
use llamahdl_hw::qkv_projector::rom_words;
use llamahdl_hw::sim::Driver;
use llamahdl_model::{synth, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::Block as _;
use rust_hdl::prelude::*;

fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

/// The beats of one layer's weight stream: (lanes, scale mant, scale exp).
fn stream<const L: usize>(m: &QMatrix) -> Vec<([i8; L], u8, i8)> {
    let beats = m.cols.div_ceil(L);
    rom_words::<L>(&[m])
        .into_iter()
        .enumerate()
        .map(|(i, w)| (w, m.mant[i / beats], m.exp[i / beats]))
        .collect()
}

struct Bench<const L: usize> {
    d: Driver<Decoder<L>>,
    cfg: Config,
}

impl<const L: usize> Bench<L> {
    fn new(qm: &QuantModel, trace: bool) -> Self {
        let d = Driver::new(Decoder::<L>::new(qm), |u, c| u.clock.next = c.into());
        let d = if trace { d.with_trace() } else { d };
        Bench { d, cfg: qm.config }
    }

    fn write_x(&mut self, x: &Block) {
        let beats = self.cfg.dim.div_ceil(L);
        for b in 0..beats {
            self.d.uut.x_we.next = true;
            self.d.uut.x_waddr.next = u2b::<16>(b as u64);
            for i in 0..L {
                let v = x.mant.get(b * L + i).copied().unwrap_or(0);
                self.d.uut.x_wdata[i].next = i2s::<16>(v as i64);
            }
            self.d.tick();
        }
        self.d.uut.x_we.next = false;
        self.d.uut.x_shift.next = u2b::<5>(x.shift as u64);
    }

    /// Stream `beats` with random gaps (valid low); checks the loader's addresses.
    fn stream(&mut self, beats: &[([i8; L], u8, i8)], rng: &mut ChaCha8Rng, start_midway: bool) {
        let per_row = self.cfg.dim.div_ceil(L);
        let hd = self.cfg.head_dim();
        for (n, (w, m, e)) in beats.iter().enumerate() {
            while rng.gen_bool(0.3) {
                self.d.uut.w_valid.next = false;
                self.d.tick();
            }
            if start_midway && n == beats.len() / 2 {
                // A start while loading must wait for the full buffer.
                self.d.uut.start.next = true;
            }
            self.d.uut.w_valid.next = true;
            for i in 0..L {
                self.d.uut.w_data[i].next = i2s::<8>(w[i] as i64);
            }
            self.d.uut.w_scale_mant.next = u2b::<8>(*m as u64);
            self.d.uut.w_scale_exp.next = i2s::<8>(*e as i64);
            self.d.settle();
            let row = n / per_row;
            assert!(self.d.uut.ld_wr_en.val(), "beat {n} not written");
            assert_eq!(self.d.uut.ld_row_index.val().index(), row);
            assert_eq!(self.d.uut.ld_row.val().index(), row % hd);
            assert!(
                !self.d.uut.fully_loaded.val(),
                "fully loaded before the last beat"
            );
            self.d.tick();
            self.d.uut.start.next = false;
            if start_midway && n >= beats.len() / 2 && n + 1 < beats.len() {
                assert!(
                    self.d.uut.waiting.val(),
                    "start did not wait for the buffer"
                );
                assert!(
                    !self.d.uut.qkv_valid.val(),
                    "projection ran on a partial buffer"
                );
            }
        }
        self.d.uut.w_valid.next = false;
        self.d.run(2);
        assert!(
            self.d.uut.fully_loaded.val(),
            "not fully loaded after the last beat"
        );
    }

    /// Start (unless already pending) and collect one projection.
    fn collect(&mut self, issue_start: bool) -> Vec<i32> {
        if issue_start {
            self.d.uut.start.next = true;
            self.d.tick();
            self.d.uut.start.next = false;
        }
        let rows = self.cfg.qkv_rows();
        let mut out = vec![None; rows];
        let budget = rows * self.cfg.dim.div_ceil(L) + 32;
        for _ in 0..budget {
            self.d.settle();
            if self.d.uut.qkv_valid.val() {
                out[self.d.uut.qkv_row.val().index()] = Some(s2i(self.d.uut.qkv_data.val()) as i32);
            }
            let done = self.d.uut.done.val();
            self.d.tick();
            if done {
                break;
            }
        }
        out.into_iter().map(|v| v.expect("row missing")).collect()
    }

    fn next_layer(&mut self) {
        self.d.uut.next_layer.next = true;
        self.d.tick();
        self.d.uut.next_layer.next = false;
        self.d.run(2);
        assert!(
            !self.d.uut.fully_loaded.val(),
            "layer change did not clear the buffer"
        );
    }
}

fn random_xb(rng: &mut ChaCha8Rng, dim: usize) -> Vec<i32> {
    (0..dim).map(|_| rng.gen_range(-200_000..200_000)).collect()
}

fn scenarios<const L: usize>(cfg: &Config, seed: u64) {
    let qm = quant(cfg, seed);
    let other = quant(cfg, seed + 99);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Bench::<L>::new(&qm, false);
    let xs: Vec<Vec<i32>> = (0..cfg.n_layers)
        .map(|_| random_xb(&mut rng, cfg.dim))
        .collect();
    // A: compiled-in weights, every layer.
    let mut rom_out = vec![];
    b.d.uut.use_ram.next = false;
    for (l, xb) in xs.iter().enumerate() {
        assert_eq!(b.d.uut.layer.val().index(), l);
        b.write_x(&to_block16(xb));
        let got = b.collect(true);
        assert_eq!(got, qm.layers[l].wqkv.matvec(xb), "A: layer {l}");
        rom_out.push(got);
        b.next_layer();
    }
    assert_eq!(b.d.uut.layer.val().index(), 0, "layer index did not wrap");
    // B: the same weights streamed in, start issued mid-stream.
    b.d.uut.use_ram.next = true;
    for (l, xb) in xs.iter().enumerate() {
        b.write_x(&to_block16(xb));
        b.stream(&stream::<L>(&qm.layers[l].wqkv), &mut rng, true);
        let got = b.collect(false);
        assert_eq!(
            got, rom_out[l],
            "B: layer {l}: RAM path differs from ROM path"
        );
        b.next_layer();
    }
    // C: different weights streamed in.
    for (l, xb) in xs.iter().enumerate() {
        b.write_x(&to_block16(xb));
        b.stream(&stream::<L>(&other.layers[l].wqkv), &mut rng, false);
        let got = b.collect(true);
        assert_eq!(
            got,
            other.layers[l].wqkv.matvec(xb),
            "C: layer {l}: not the streamed weights"
        );
        assert_ne!(
            got, rom_out[l],
            "C: layer {l}: same outputs as the compiled-in weights"
        );
        b.next_layer();
    }
}

#[test]
fn decoder_qkv_tiny_4_lanes() {
    scenarios::<4>(&Config::TINY, 21);
}

#[test]
fn decoder_qkv_tiny_16_lanes() {
    scenarios::<16>(&Config::TINY, 22);
}

#[test]
fn decoder_qkv_stories260k_shape_64_lanes() {
    scenarios::<64>(&Config::STORIES260K, 23);
}

#[test]
fn decoder_qkv_stories260k_shape_16_lanes() {
    scenarios::<16>(&Config::STORIES260K, 24);
}

/// The emitted Verilog of the whole decoder hierarchy matches the native simulation cycle
/// for cycle (ROM path, then a streamed load with an early start, then the RAM path).
#[test]
fn decoder_qkv_cosim_tiny() {
    let cfg = Config::TINY;
    let qm = quant(&cfg, 31);
    let mut fresh = Decoder::<4>::new(&qm);
    fresh.connect_all();
    let verilog = generate_verilog(&fresh);
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let mut b = Bench::<4>::new(&qm, true);
    let xb = random_xb(&mut rng, cfg.dim);
    b.write_x(&to_block16(&xb));
    b.collect(true);
    b.d.uut.use_ram.next = true;
    b.stream(&stream::<4>(&qm.layers[0].wqkv), &mut rng, true);
    b.collect(false);
    b.next_layer();
    let trace = b.d.take_trace().unwrap();
    let dir = tempfile::tempdir().unwrap();
    run_icarus(&verilog, "top", &trace, dir.path())
        .expect("icarus")
        .assert_clean();
}
