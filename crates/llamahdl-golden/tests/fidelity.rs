//! Fidelity of the integer golden model against llama2.c on the real stories260K.
//! Needs LLAMAHDL_MODELS and LLAMAHDL_REFERENCE; prints SKIPPED otherwise.

use llamahdl_golden::fidelity::measure;
use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_model::testutil;

fn run(mode: ScaleMode, case: &str) -> Option<llamahdl_golden::fidelity::Fidelity> {
    let ck = testutil::stories260k()?;
    let reference = testutil::reference(case)?;
    let qm = QuantModel::quantise(&ck, mode);
    let mut a = Golden::new(qm.clone());
    let mut b = Golden::new(qm);
    let f = measure(&mut a, &mut b, &reference).expect("golden model run");
    println!(
        "{case} {mode:?}: argmax {}/{}, worst miss gap {:.4}, mean |logit err| {:.5}, max {:.4}, free-running {}/{}",
        f.argmax_matches,
        f.positions,
        f.worst_gap(),
        f.mean_abs_logit_error,
        f.max_abs_logit_error,
        f.free_running_matches,
        f.free_running_compared
    );
    for m in &f.misses {
        println!(
            "  miss at {}: reference {} ours {} gap {:.4}",
            m.pos, m.reference, m.ours, m.gap
        );
    }
    Some(f)
}

/// The bars: >= 250/256 argmax agreement, every miss a near tie (< 0.1),
/// >= 60 free-running tokens equal to llama2.c.
#[test]
fn golden_meets_fidelity_bars_on_once_upon_a_time() {
    let Some(f) = run(ScaleMode::Mant8, "once_upon_a_time") else {
        return;
    };
    assert_eq!(f.positions, 256);
    assert!(
        f.argmax_matches >= 250,
        "argmax agreement {}",
        f.argmax_matches
    );
    assert!(
        f.worst_gap() < 0.1,
        "a miss is not a near tie: {:?}",
        f.misses
    );
    assert!(
        f.free_running_matches >= 60,
        "free-running {}",
        f.free_running_matches
    );
}

#[test]
fn golden_fidelity_on_bos_case() {
    let Some(f) = run(ScaleMode::Mant8, "bos") else {
        return;
    };
    assert!(
        f.argmax_matches >= 250,
        "argmax agreement {}",
        f.argmax_matches
    );
    assert!(
        f.worst_gap() < 0.1,
        "a miss is not a near tie: {:?}",
        f.misses
    );
}

/// Report only (the power-of-two scale variant is documented in docs/numerics.md).
#[test]
fn golden_fidelity_pow2_scales_report() {
    let Some(f) = run(ScaleMode::Pow2, "once_upon_a_time") else {
        return;
    };
    assert!(
        f.argmax_matches >= 240,
        "argmax agreement {}",
        f.argmax_matches
    );
}
