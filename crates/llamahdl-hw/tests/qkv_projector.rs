//! QKV projector (plan step 3): bit-exact with the golden model, RAM select behaviour,
//! co-simulation of the emitted Verilog.

use llamahdl_golden::numerics::{to_block16, Block};
use llamahdl_golden::{QMatrix, QuantModel, ScaleMode};
use llamahdl_hw::bits::{i2s, s2i, u2b};
use llamahdl_hw::cosim::run_icarus;
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::weight_path::qkv_projector::{
    rom_scales, rom_words, QkvProjector, LATENCY,
};
use llamahdl_model::{synth, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::Block as _;
use rust_hdl::prelude::*;

/// A behavioural weight buffer answering the projector's read port one cycle later, as
/// the real buffer does.
struct BufModel<const L: usize> {
    words: Vec<[i8; L]>,
    scales: Vec<(u8, i8)>,
}

fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

fn random_x(rng: &mut ChaCha8Rng, dim: usize) -> Vec<i32> {
    // Q16.16 values of a normalised activation, roughly N(0, 1) scaled by a random gain.
    let gain: f64 = rng.gen_range(0.05..8.0);
    (0..dim)
        .map(|_| (rng.gen_range(-1.5f64..1.5) * gain * 65536.0) as i32)
        .collect()
}

/// Drive one projection; returns the rows in output order and the cycle of `done`.
fn project<const L: usize>(
    d: &mut Driver<QkvProjector<L>>,
    buf: &BufModel<L>,
    x: &Block,
    use_ram: bool,
    layer: usize,
    qkv_rows: usize,
    beats: usize,
) -> (Vec<i32>, usize) {
    // Write the input block.
    for b in 0..beats {
        d.uut.x_we.next = true;
        d.uut.x_waddr.next = u2b::<16>(b as u64);
        for i in 0..L {
            let v = x.mant.get(b * L + i).copied().unwrap_or(0);
            d.uut.x_wdata[i].next = i2s::<16>(v as i64);
        }
        d.tick();
    }
    d.uut.x_we.next = false;
    d.uut.x_shift.next = u2b::<5>(x.shift as u64);
    d.uut.use_ram.next = use_ram;
    d.uut.rom_base.next = u2b::<16>((layer * qkv_rows * beats) as u64);
    d.uut.rom_row_base.next = u2b::<16>((layer * qkv_rows) as u64);
    d.uut.start.next = true;
    d.tick();
    d.uut.start.next = false;
    let mut out = vec![None; qkv_rows];
    let mut done_at = None;
    // The buffer's registered read: answer what was addressed in the previous cycle.
    let mut pending = (0usize, 0usize);
    for cyc in 0..qkv_rows * beats + LATENCY + 8 {
        let (a, r) = pending;
        let w = buf.words.get(a).copied().unwrap_or([0; L]);
        let (m, e) = buf.scales.get(r).copied().unwrap_or((0, 0));
        for i in 0..L {
            d.uut.buf_rd_data[i].next = i2s::<8>(w[i] as i64);
        }
        d.uut.buf_rd_mant.next = u2b::<8>(m as u64);
        d.uut.buf_rd_exp.next = i2s::<8>(e as i64);
        d.settle();
        pending = (
            d.uut.buf_rd_addr.val().index(),
            d.uut.buf_rd_row.val().index(),
        );
        if d.uut.out_valid.val() {
            let row = d.uut.out_row.val().index();
            assert!(out[row].is_none(), "row {row} produced twice");
            out[row] = Some(s2i(d.uut.out_data.val()) as i32);
        }
        if d.uut.done.val() {
            done_at = Some(cyc);
        }
        d.tick();
    }
    assert!(!d.uut.busy.val(), "projector still busy");
    let rows: Vec<i32> = out
        .into_iter()
        .enumerate()
        .map(|(r, v)| v.unwrap_or_else(|| panic!("row {r} never produced")))
        .collect();
    (rows, done_at.expect("done never pulsed"))
}

fn buf_of<const L: usize>(m: &QMatrix) -> BufModel<L> {
    BufModel {
        words: rom_words::<L>(&[m]),
        scales: rom_scales(&[m]),
    }
}

fn check_shape<const L: usize>(cfg: &Config, seed: u64) {
    let qm = quant(cfg, seed);
    let other = quant(cfg, seed + 1000);
    let rows = cfg.qkv_rows();
    let beats = cfg.dim.div_ceil(L);
    let layers: Vec<&QMatrix> = qm.layers.iter().map(|l| &l.wqkv).collect();
    let mut d = Driver::new(QkvProjector::<L>::new(rows, cfg.dim, &layers), |u, c| {
        u.clock.next = c.into()
    });
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for layer in 0..cfg.n_layers {
        let xb = random_x(&mut rng, cfg.dim);
        let x = to_block16(&xb);
        let want = qm.layers[layer].wqkv.matvec(&xb);
        let want_other = other.layers[layer].wqkv.matvec(&xb);
        // A: use-RAM low: the compiled-in weights, bit-exact with the golden model.
        let same_buf = buf_of::<L>(&qm.layers[layer].wqkv);
        let other_buf = buf_of::<L>(&other.layers[layer].wqkv);
        let (rom_out, done_rom) = project(&mut d, &other_buf, &x, false, layer, rows, beats);
        assert_eq!(
            rom_out, want,
            "use_ram=0, layer {layer}: differs from the golden model"
        );
        // `done` comes with the last row's vector-memory write, a cycle after its `out_valid`.
        assert_eq!(done_rom, rows * beats + LATENCY, "schedule");
        // B: use-RAM high with the same weights in the buffer: identical outputs.
        let (ram_same, done_ram) = project(&mut d, &same_buf, &x, true, layer, rows, beats);
        assert_eq!(ram_same, rom_out, "use_ram=1 with the same weights differs");
        assert_eq!(done_ram, done_rom, "the weight source changed the schedule");
        // C: use-RAM high with different weights: the buffer's weights are used.
        let (ram_other, _) = project(&mut d, &other_buf, &x, true, layer, rows, beats);
        assert_eq!(
            ram_other, want_other,
            "use_ram=1 did not compute with the buffer's weights"
        );
        assert_ne!(
            ram_other, rom_out,
            "different weights gave the same outputs"
        );
    }
}

#[test]
fn projector_tiny_one_beat_per_row() {
    check_shape::<16>(&Config::TINY, 1);
}

#[test]
fn projector_tiny_multi_beat() {
    check_shape::<4>(&Config::TINY, 2);
}

#[test]
fn projector_stories260k_shape_64_lanes() {
    check_shape::<64>(&Config::STORIES260K, 3);
}

#[test]
fn projector_stories260k_shape_16_lanes() {
    check_shape::<16>(&Config::STORIES260K, 4);
}

/// dim not a multiple of the lane count: the last beat is zero-padded.
#[test]
fn projector_ragged_last_beat() {
    let cfg = Config {
        dim: 24,
        n_heads: 4,
        n_kv_heads: 2,
        ..Config::TINY
    };
    check_shape::<16>(&cfg, 5);
}

/// The real checkpoint's weights, when available.
#[test]
fn projector_real_stories260k_bit_exact() {
    let Some(ck) = llamahdl_model::testutil::stories260k() else {
        return;
    };
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    let cfg = qm.config;
    let layers: Vec<&QMatrix> = qm.layers.iter().map(|l| &l.wqkv).collect();
    let mut d = Driver::new(
        QkvProjector::<64>::new(cfg.qkv_rows(), cfg.dim, &layers),
        |u, c| u.clock.next = c.into(),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let none = BufModel::<64> {
        words: vec![],
        scales: vec![],
    };
    for layer in 0..cfg.n_layers {
        let xb = random_x(&mut rng, cfg.dim);
        let (out, _) = project(
            &mut d,
            &none,
            &to_block16(&xb),
            false,
            layer,
            cfg.qkv_rows(),
            1,
        );
        assert_eq!(out, qm.layers[layer].wqkv.matvec(&xb), "layer {layer}");
    }
}

/// The emitted Verilog of the projector (ROM path and RAM path) matches the native
/// simulation cycle for cycle in Icarus.
fn cosim_shape<const L: usize>(cfg: &Config, seed: u64) {
    let qm = quant(cfg, seed);
    let other = quant(cfg, seed + 7);
    let rows = cfg.qkv_rows();
    let beats = cfg.dim.div_ceil(L);
    let layers: Vec<&QMatrix> = qm.layers.iter().map(|l| &l.wqkv).collect();
    let make = || QkvProjector::<L>::new(rows, cfg.dim, &layers);
    let mut fresh = make();
    fresh.connect_all();
    let verilog = generate_verilog(&fresh);
    let mut d = Driver::new(make(), |u, c| u.clock.next = c.into()).with_trace();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let buf = buf_of::<L>(&other.layers[0].wqkv);
    for (layer, use_ram) in [(0, false), (cfg.n_layers - 1, false), (0, true)] {
        let xb = random_x(&mut rng, cfg.dim);
        project(&mut d, &buf, &to_block16(&xb), use_ram, layer, rows, beats);
    }
    let trace = d.take_trace().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = run_icarus(&verilog, "top", &trace, dir.path()).expect("icarus run");
    report.assert_clean();
}

#[test]
fn projector_cosim_tiny() {
    cosim_shape::<4>(&Config::TINY, 11);
}

#[test]
fn projector_cosim_stories260k_shape() {
    cosim_shape::<64>(&Config::STORIES260K, 12);
}
