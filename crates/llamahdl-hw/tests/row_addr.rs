//! Native testbenches of `RowAddrGen` (plan step 1) for Config::TINY and
//! Config::STORIES260K, with one beat per row (L = dim) and several (L = 8).

mod common;

use common::*;
use llamahdl_hw::units::weight_path::shape::{Shape, MATRIX_K, MATRIX_Q, MATRIX_V};
use llamahdl_model::Config;
use rand::Rng;

fn shapes() -> Vec<(&'static str, Shape)> {
    let mut v = vec![];
    for (name, cfg) in [("tiny", Config::TINY), ("stories260K", Config::STORIES260K)] {
        for lanes in [cfg.dim, 8, 5] {
            v.push((name, Shape::new(&cfg, lanes).unwrap()));
        }
    }
    v
}

/// Present (valid, trigger), check all outputs against the reference, clock.
fn step(
    d: &mut llamahdl_hw::sim::Driver<llamahdl_hw::units::weight_path::row_addr::RowAddrGen>,
    m: &mut GenModel,
    valid: bool,
    trigger: bool,
) {
    d.uut.valid.next = valid;
    d.uut.trigger.next = trigger;
    d.settle();
    assert_eq!(
        gen_out_rag(&d.uut),
        m.out(),
        "cycle {} (valid {valid}, trigger {trigger})",
        d.cycle()
    );
    assert_eq!(
        d.uut.wr_en.val(),
        m.wr_en(valid, trigger),
        "wr_en in cycle {}",
        d.cycle()
    );
    m.step(valid, trigger);
    d.tick();
}

#[test]
fn addresses_in_order_without_gaps() {
    for (name, s) in shapes() {
        let mut d = gen_driver(&s);
        let mut m = GenModel::new(s);
        let mut seen_rows = vec![];
        for n in 0..s.total_beats {
            d.uut.valid.next = true;
            d.uut.trigger.next = false;
            d.settle();
            let o = gen_out_rag(&d.uut);
            let p = s.beat_pos(n);
            // Explicit order: row within head, then head, then matrix.
            assert_eq!(
                (o.addr, o.beat, o.row_index),
                (n, n % s.beats, n / s.beats),
                "{name} L={}",
                s.lanes
            );
            assert!(
                !o.load_done,
                "{name} L={}: load_done early at beat {n}",
                s.lanes
            );
            if o.beat == 0 {
                seen_rows.push((o.matrix, o.head, o.row));
            }
            assert_eq!((o.matrix, o.head, o.row), (p.matrix, p.head, p.row));
            step(&mut d, &mut m, true, false);
        }
        // The row order is Q heads 0.., then K heads, then V heads, rows 0..head_dim within.
        let mut want = vec![];
        for (mtx, heads) in [
            (MATRIX_Q, s.n_heads),
            (MATRIX_K, s.n_kv_heads),
            (MATRIX_V, s.n_kv_heads),
        ] {
            for h in 0..heads {
                for r in 0..s.head_dim {
                    want.push((mtx as usize, h, r));
                }
            }
        }
        assert_eq!(seen_rows, want, "{name} L={}", s.lanes);
        d.settle();
        assert!(
            d.uut.load_done.val(),
            "{name} L={}: load_done after all rows",
            s.lanes
        );
        assert!(!d.uut.wr_en.val());
    }
}

#[test]
fn stories260k_matrix_boundaries_and_load_done_after_128_rows() {
    for lanes in [64, 8] {
        let s = Shape::new(&Config::STORIES260K, lanes).unwrap();
        assert_eq!(s.qkv_rows, 128);
        let mut d = gen_driver(&s);
        d.uut.valid.next = true;
        let mut rows_done = 0;
        while rows_done < 128 {
            d.settle();
            let o = gen_out_rag(&d.uut);
            assert_eq!(o.row_index, rows_done);
            assert!(
                !o.load_done,
                "load_done high after only {rows_done} rows (L={lanes})"
            );
            let want_matrix = match rows_done {
                0..=63 => 0,
                64..=95 => 1,
                _ => 2,
            };
            assert_eq!(o.matrix, want_matrix, "matrix of row {rows_done}");
            assert_eq!(
                o.head,
                (rows_done % 64) / 8 % if want_matrix == 0 { 8 } else { 4 }
            );
            assert_eq!(o.row, rows_done % 8);
            if o.last_beat {
                rows_done += 1;
            }
            d.tick();
        }
        d.settle();
        assert!(
            d.uut.load_done.val(),
            "load_done right after row 128 (L={lanes})"
        );
        assert_eq!(d.uut.matrix.val().index(), 3);
        assert_eq!(d.uut.row_index.val().index(), 128);
    }
}

#[test]
fn gaps_with_valid_low_are_not_counted() {
    for (k, (name, s)) in shapes().into_iter().enumerate() {
        let mut r = rng(100 + k as u64);
        let mut d = gen_driver(&s);
        let mut m = GenModel::new(s);
        let mut cycles = 0;
        while !m.done {
            let valid = r.gen_bool(0.55);
            step(&mut d, &mut m, valid, false);
            cycles += 1;
        }
        assert!(
            cycles > s.total_beats,
            "{name}: the test must have had gaps"
        );
        d.uut.valid.next = false;
        d.settle();
        assert!(d.uut.load_done.val());
    }
}

#[test]
fn beats_after_load_done_are_ignored_until_trigger() {
    for (_, s) in shapes() {
        let mut d = gen_driver(&s);
        let mut m = GenModel::new(s);
        for _ in 0..s.total_beats {
            step(&mut d, &mut m, true, false);
        }
        for _ in 0..3 * s.beats + 5 {
            step(&mut d, &mut m, true, false); // wr_en low, state frozen
        }
        // Trigger together with valid: that beat is not counted.
        step(&mut d, &mut m, true, true);
        d.uut.trigger.next = false;
        d.uut.valid.next = false;
        d.settle();
        assert_eq!(
            gen_out_rag(&d.uut),
            GenModel::new(s).out(),
            "back to (0, Q, 0)"
        );
        // A full second load.
        for _ in 0..s.total_beats {
            step(&mut d, &mut m, true, false);
        }
        d.settle();
        assert!(d.uut.load_done.val());
    }
}

#[test]
fn trigger_mid_load_returns_to_q_head_0() {
    for (name, s) in shapes() {
        let mut d = gen_driver(&s);
        let mut m = GenModel::new(s);
        // Stop somewhere in K (or later), mid-row if rows have several beats.
        let stop = (s.n_heads * s.head_dim + 1) * s.beats + s.beats / 2;
        for _ in 0..stop {
            step(&mut d, &mut m, true, false);
        }
        d.settle();
        assert_eq!(d.uut.matrix.val().index(), 1, "{name}: in K");
        step(&mut d, &mut m, true, true);
        d.uut.valid.next = true;
        d.uut.trigger.next = false;
        d.settle();
        let o = gen_out_rag(&d.uut);
        assert_eq!(
            (
                o.beat,
                o.row,
                o.matrix,
                o.head,
                o.row_index,
                o.addr,
                o.load_done
            ),
            (0, 0, 0, 0, 0, 0, false),
            "{name}"
        );
        assert!(d.uut.wr_en.val());
        // Trigger held for several cycles keeps the generator at 0.
        for _ in 0..3 {
            step(&mut d, &mut m, true, true);
        }
        while !m.done {
            step(&mut d, &mut m, true, false);
        }
    }
}

#[test]
fn random_valid_and_triggers_match_the_reference() {
    for (k, (_, s)) in shapes().into_iter().enumerate() {
        let mut r = rng(7000 + k as u64);
        let mut d = gen_driver(&s);
        let mut m = GenModel::new(s);
        let mut loads = 0;
        for _ in 0..6 * s.total_beats {
            let trigger = r.gen_bool(if m.done {
                0.2
            } else {
                0.3 / s.total_beats as f64
            });
            let valid = r.gen_bool(0.7);
            if m.done && trigger {
                loads += 1;
            }
            step(&mut d, &mut m, valid, trigger);
        }
        assert!(loads >= 1, "at least one complete load in the random run");
    }
}

#[test]
fn generator_is_fast_natively() {
    let s = Shape::new(&Config::STORIES260K, 8).unwrap();
    let mut d = gen_driver(&s);
    let t = std::time::Instant::now();
    let n = 200_000;
    for i in 0..n {
        d.uut.valid.next = true;
        d.uut.trigger.next = i % 1500 == 0;
        d.tick();
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    eprintln!("RowAddrGen native simulation: {rate:.0} cycles/s");
}
