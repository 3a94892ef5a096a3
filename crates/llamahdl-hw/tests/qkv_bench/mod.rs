//! The QKV-stage decoder bench shared by `decoder_qkv.rs` (native scenarios) and
//! `verilator_cosim.rs` (the same runs replayed in Verilator).
#![allow(dead_code)]

use llamahdl_golden::numerics::Block;
use llamahdl_golden::{QMatrix, QuantModel, ScaleMode};
use llamahdl_hw::hierarchy::Decoder;
use llamahdl_hw::leaf::{i2s, s2i, u2b};
use llamahdl_hw::qkv_projector::rom_words;
use llamahdl_hw::sim::Driver;
use llamahdl_model::{synth, Config};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

/// The beats of one layer's weight stream: (lanes, scale mant, scale exp).
pub fn stream<const L: usize>(m: &QMatrix) -> Vec<([i8; L], u8, i8)> {
    let beats = m.cols.div_ceil(L);
    rom_words::<L>(&[m])
        .into_iter()
        .enumerate()
        .map(|(i, w)| (w, m.mant[i / beats], m.exp[i / beats]))
        .collect()
}

pub struct Bench<const L: usize> {
    pub d: Driver<Decoder<L>>,
    pub cfg: Config,
}

impl<const L: usize> Bench<L> {
    pub fn new(qm: &QuantModel, trace: bool) -> Self {
        let d = Driver::new(Decoder::<L>::new(qm), |u, c| u.clock.next = c.into());
        let d = if trace { d.with_trace() } else { d };
        Bench { d, cfg: qm.config }
    }

    pub fn write_x(&mut self, x: &Block) {
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
    pub fn stream(
        &mut self,
        beats: &[([i8; L], u8, i8)],
        rng: &mut ChaCha8Rng,
        start_midway: bool,
    ) {
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
    pub fn collect(&mut self, issue_start: bool) -> Vec<i32> {
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

    pub fn next_layer(&mut self) {
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

pub fn random_xb(rng: &mut ChaCha8Rng, dim: usize) -> Vec<i32> {
    (0..dim).map(|_| rng.gen_range(-200_000..200_000)).collect()
}
