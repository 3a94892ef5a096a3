//! The golden model tracks the float engine on synthetic shapes unlike stories260K
//! (grouped-query attention with 3 query heads per kv head, a separate classifier, a
//! hidden size that is not a multiple of 16), so nothing is tied to one shape.

use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_model::generate::Forward;
use llamahdl_model::{synth, Config, FloatEngine};

fn compare(cfg: Config, seed: u64) -> (f64, f64) {
    let ck = synth::generate(&cfg, seed);
    let mut fl = FloatEngine::new(&ck);
    let mut gd = Golden::new(QuantModel::quantise(&ck, ScaleMode::Mant8));
    let (mut err, mut mag, mut n) = (0.0, 0.0, 0usize);
    let mut token = 1u32;
    for pos in 0..cfg.seq_len.min(24) {
        let a = fl.forward(token, pos).unwrap().to_vec();
        let b = gd.forward(token, pos).unwrap();
        for (x, y) in a.iter().zip(&b) {
            err += (*x as f64 - *y as f64).abs();
            mag += (*x as f64).abs();
            n += 1;
        }
        token = (token * 7 + 3) % cfg.vocab_size as u32;
    }
    (err / n as f64, mag / n as f64)
}

#[test]
fn golden_tracks_float_on_odd_shapes() {
    let odd = Config {
        hidden_dim: 100,
        ..Config::ODD
    };
    for (name, cfg) in [
        ("tiny", Config::TINY),
        ("odd", odd),
        ("stories260K shape", Config::STORIES260K),
    ] {
        let (err, mag) = compare(cfg, 5);
        println!("{name}: mean |float - golden| {err:.5}, mean |float| {mag:.4}");
        assert!(
            err < 0.03 * mag,
            "{name}: golden drifts from float: {err} vs {mag}"
        );
    }
}

#[test]
fn golden_refuses_positions_past_seq_len_and_bad_tokens() {
    let ck = synth::generate(&Config::TINY, 2);
    let mut gd = Golden::new(QuantModel::quantise(&ck, ScaleMode::Mant8));
    assert!(gd.forward(1, Config::TINY.seq_len).is_err());
    assert!(gd.forward(Config::TINY.vocab_size as u32, 0).is_err());
    assert!(gd.forward(1, 0).is_ok());
}
