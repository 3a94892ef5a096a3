//! End to end on the real model: prompt text → run.c's tokenizer → greedy float generation
//! → the text run.c printed. Skipped unless LLAMAHDL_MODELS and LLAMAHDL_REFERENCE are set.

use llamahdl_model::testutil;
use llamahdl_model::{greedy, FloatEngine};

#[test]
fn prompt_to_text_matches_llama2c() {
    let (Some(ck), Some(tok)) = (testutil::stories260k(), testutil::tok512()) else {
        return;
    };
    for name in testutil::REFERENCE_CASES {
        let Some(r) = testutil::reference(name) else {
            return;
        };
        let prompt_ids = tok.encode(&r.prompt, true, false);
        assert_eq!(prompt_ids, r.prompt_ids, "{name}");
        let mut engine = FloatEngine::new(&ck);
        let mut positions = 0;
        let g = greedy(&mut engine, &prompt_ids, 256, true, |_| positions += 1).unwrap();
        assert_eq!(positions, 256);
        assert_eq!(g.ids, r.ids, "{name}");
        assert_eq!(g.logits, r.logits, "{name}: logits not bit-identical");
        assert_eq!(tok.decode_ids(&g.ids).unwrap(), r.text, "{name}");
    }
}

#[test]
fn real_checkpoint_serialises_to_the_same_weights() {
    let Some(dir) = testutil::models_dir() else {
        return;
    };
    let original = std::fs::read(dir.join("stories260K.bin")).unwrap();
    let ck = llamahdl_model::Checkpoint::from_bytes(&original, "stories260K.bin").unwrap();
    let ours = ck.to_bytes();
    assert_eq!(ours.len(), original.len());
    // Everything except the unused freq_cis tables is byte-identical.
    let c = ck.config;
    let freq_start = 28 + 4 * (c.param_count() as usize);
    let freq_end = freq_start + 8 * c.freq_cis_len() as usize;
    assert_eq!(ours[..freq_start], original[..freq_start]);
    assert_eq!(ours[freq_end..], original[freq_end..]);
    // The unused cos/sin tables agree to float rounding (the exporter used PyTorch's maths).
    let f = |b: &[u8], i: usize| f32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let (mut differing, mut worst) = (0, 0.0f32);
    for i in (freq_start..freq_end).step_by(4) {
        let d = (f(&ours, i) - f(&original, i)).abs();
        differing += usize::from(d > 0.0);
        worst = worst.max(d);
    }
    println!("freq_cis floats differing from the original file: {differing}, max {worst:e}");
    assert!(worst < 1e-6);
}
