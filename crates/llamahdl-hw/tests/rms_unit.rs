//! Wide RMSNorm unit (`rms_unit.rs`): bit-exact with `numerics::rmsnorm` for every gain
//! vector of several model shapes and W = 4, 8, 16, on random and edge-case vectors;
//! output order, lanes past dim, `y_max`, `done`/`busy` timing against `cycles()`;
//! captures between back-to-back operations; each hand-written leaf against its Verilog in
//! Icarus; the whole unit co-simulated in Icarus and linted by Verilator.

use llamahdl_golden::numerics::{self, to_block16};
use llamahdl_golden::numerics::{block_mant, block_shift, BLOCK16_BITS};
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::bits::{i2s, s2i, u2b};
use llamahdl_hw::cosim::{
    assert_icarus_clean as cosim_icarus, assert_lint_clean as lint_clean, emit_verilog,
};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::rms::*;
use llamahdl_model::{synth, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

/// dim 20: not a multiple of 8 or 16 (partial last word).
const DIM20: Config = Config {
    dim: 20,
    hidden_dim: 24,
    n_layers: 1,
    n_heads: 5,
    n_kv_heads: 5,
    vocab_size: 16,
    seq_len: 8,
    shared_classifier: true,
};

/// dim 2: smaller than every W (one partial word).
const DIM2: Config = Config {
    dim: 2,
    hidden_dim: 4,
    n_layers: 1,
    n_heads: 1,
    n_kv_heads: 1,
    vocab_size: 8,
    seq_len: 4,
    shared_classifier: true,
};

fn configs() -> Vec<(&'static str, Config)> {
    vec![
        ("TINY", Config::TINY),
        ("ODD", Config::ODD),
        ("STORIES260K", Config::STORIES260K),
        ("DIM20", DIM20),
        ("DIM2", DIM2),
    ]
}

// ----------------------------------------------------------------------------------
// Stimulus
// ----------------------------------------------------------------------------------

const EDGES: &[i32] = &[
    i32::MIN,
    i32::MIN + 1,
    i32::MAX,
    i32::MAX - 1,
    0,
    1,
    -1,
    3,
    -3,
    32767,
    -32767,
    32768,
    -32768,
    65535,
    -65535,
    65536,
    -65536,
    (1 << 20) - 1,
    1 << 20,
    -(1 << 20),
    1 << 30,
    -(1 << 30),
];

fn edge_word(rng: &mut ChaCha8Rng) -> i32 {
    EDGES[rng.gen_range(0..EDGES.len())]
}

const KINDS: usize = 11;

/// A vector of kind `kind` (0..KINDS).
fn vector(rng: &mut ChaCha8Rng, n: usize, kind: usize) -> Vec<i32> {
    match kind {
        // Activation-like.
        0 => {
            let gain: f64 = rng.gen_range(0.01..40.0);
            (0..n)
                .map(|_| (rng.gen_range(-1.5f64..1.5) * gain * 65536.0) as i32)
                .collect()
        }
        // All zero.
        1 => vec![0; n],
        // Tiny values.
        2 => (0..n).map(|_| rng.gen_range(-4..=4)).collect(),
        // Near ±2^31.
        3 => (0..n)
            .map(|_| {
                if rng.gen_bool(0.5) {
                    i32::MAX - rng.gen_range(0..1000)
                } else {
                    i32::MIN + rng.gen_range(0..1000)
                }
            })
            .collect(),
        // Edge words mixed with anything.
        4 => (0..n)
            .map(|_| {
                if rng.gen_bool(0.5) {
                    edge_word(rng)
                } else {
                    rng.gen()
                }
            })
            .collect(),
        // One large element among small ones.
        5 => {
            let mut v: Vec<i32> = (0..n).map(|_| rng.gen_range(-300..300)).collect();
            let big = [i32::MIN, i32::MAX, 1 << 28, -(1 << 24)][rng.gen_range(0..4)];
            v[rng.gen_range(0..n)] = big;
            v
        }
        // Exactly the extremes ±2^31 (and 2^31 − 1).
        6 => (0..n)
            .map(|_| [i32::MIN, i32::MAX, i32::MIN][rng.gen_range(0..3)])
            .collect(),
        // A single nonzero tiny element.
        7 => {
            let mut v = vec![0; n];
            v[rng.gen_range(0..n)] = [1, -1, 2][rng.gen_range(0..3)];
            v
        }
        // All equal.
        8 => vec![rng.gen_range(-(1 << 20)..(1 << 20)); n],
        // Values around the rounding points of a block shift.
        9 => {
            let s = rng.gen_range(1..17);
            (0..n)
                .map(|_| {
                    let m: i32 = rng.gen_range(-32767..32767);
                    (m << s).wrapping_add(if rng.gen_bool(0.5) { 1 << (s - 1) } else { 0 })
                })
                .collect()
        }
        // Full 32-bit range.
        _ => (0..n).map(|_| rng.gen()).collect(),
    }
}

fn max_mag(x: &[i32]) -> u64 {
    x.iter().map(|v| v.unsigned_abs() as u64).max().unwrap_or(0)
}

// ----------------------------------------------------------------------------------
// Testbench
// ----------------------------------------------------------------------------------

struct Bench<const W: usize> {
    d: Driver<RmsUnit<W>>,
    /// What the unit's copy of x should hold.
    x: Vec<i32>,
    dim: usize,
}

/// What one operation did, cycle 0 = start.
#[derive(Debug, Default)]
struct OpRun {
    /// (cycle, y_idx, lanes)
    groups: Vec<(usize, usize, Vec<i32>)>,
    done: Vec<usize>,
    busy: Vec<bool>,
    y_max_at_done: u64,
    y_max_after: Vec<u64>,
}

impl<const W: usize> Bench<W> {
    fn new(qm: &QuantModel, trace: bool) -> Self {
        let d = Driver::new(RmsUnit::<W>::new(qm), |u, c| u.clock.next = c.into());
        let d = if trace { d.with_trace() } else { d };
        Bench {
            d,
            x: vec![0; qm.config.dim],
            dim: qm.config.dim,
        }
    }

    fn set_capture(&mut self, w: Option<(usize, i32)>) {
        let u = &mut self.d.uut;
        match w {
            Some((i, v)) => {
                u.xw_we.next = true;
                u.xw_idx.next = u2b::<16>(i as u64);
                u.xw_data.next = i2s::<32>(v as i64);
                if i < self.dim {
                    self.x[i] = v;
                }
            }
            None => {
                u.xw_we.next = false;
            }
        }
    }

    /// One idle cycle with an optional capture; the unit must be quiet.
    fn idle(&mut self, w: Option<(usize, i32)>) {
        self.set_capture(w);
        self.d.settle();
        let u = &self.d.uut;
        assert!(
            !u.y_we.val() && !u.done.val() && !u.busy.val(),
            "activity while idle"
        );
        self.d.tick();
        self.set_capture(None);
    }

    /// Capture all of `v` (random order) plus `junk` writes past dim, one per cycle.
    fn load(&mut self, rng: &mut ChaCha8Rng, v: &[i32], junk: usize) {
        let mut order: Vec<Option<usize>> = (0..v.len()).map(Some).collect();
        order.extend((0..junk).map(|_| None));
        for i in (1..order.len()).rev() {
            order.swap(i, rng.gen_range(0..=i));
        }
        for o in order {
            let w = match o {
                Some(i) => (i, v[i]),
                None => (rng.gen_range(self.dim..1 << 16), rng.gen()),
            };
            self.idle(Some(w));
        }
    }

    /// Start an operation (with an optional capture in the start cycle) and run it to
    /// `done` plus `tail` cycles. `x_max` is the tracked maximum of x (after the capture).
    fn run(
        &mut self,
        g_base: usize,
        g_exp: i32,
        cap: Option<(usize, i32)>,
        tail: usize,
        restart_at: Option<usize>,
    ) -> OpRun {
        self.set_capture(cap);
        let u = &mut self.d.uut;
        u.g_base.next = u2b::<16>(g_base as u64);
        u.g_exp.next = i2s::<8>(g_exp as i64);
        u.x_max.next = u2b::<32>(max_mag(&self.x));
        u.start.next = true;
        let mut run = OpRun::default();
        let limit = cycles(self.dim, W) + 50;
        let mut cyc = 0;
        let mut done_at: Option<usize> = None;
        while done_at.map_or(true, |d| cyc <= d + tail) {
            assert!(cyc < limit, "no done within {limit} cycles");
            if restart_at == Some(cyc) {
                // A start while busy, with other parameters: must be ignored.
                let u = &mut self.d.uut;
                u.start.next = true;
                u.g_exp.next = i2s::<8>(-100);
                u.x_max.next = u2b::<32>(1);
            }
            self.d.settle();
            let u = &self.d.uut;
            run.busy.push(u.busy.val());
            if u.y_we.val() {
                let lanes = (0..W).map(|i| s2i(u.y_data[i].val()) as i32).collect();
                run.groups.push((cyc, u.y_idx.val().index(), lanes));
            }
            let ym = u.y_max.val().to_u64();
            if u.done.val() {
                run.done.push(cyc);
                if done_at.is_none() {
                    done_at = Some(cyc);
                    run.y_max_at_done = ym;
                }
            } else if done_at.is_some() {
                run.y_max_after.push(ym);
            }
            self.d.tick();
            self.d.uut.start.next = false;
            if cyc == 0 {
                self.set_capture(None);
            }
            cyc += 1;
        }
        run
    }

    /// Run one RMSNORM on the current x and check everything against the golden model.
    fn check(&mut self, gv: &[i16], g_base: usize, g_exp: i32, what: &str) -> usize {
        let x = self.x.clone();
        let run = self.run(g_base, g_exp, None, 3, None);
        self.verify(&run, &x, gv, g_exp, what)
    }

    fn verify(&self, run: &OpRun, x: &[i32], gv: &[i16], g_exp: i32, what: &str) -> usize {
        let dim = self.dim;
        let nw = words(dim, W);
        let want = numerics::rmsnorm(x, gv, g_exp);
        let c = cycles(dim, W);
        assert_eq!(run.done, vec![c], "{what}: done cycles");
        for (cyc, &b) in run.busy.iter().enumerate() {
            assert_eq!(b, cyc >= 1 && cyc <= c, "{what}: busy in cycle {cyc}");
        }
        assert_eq!(run.groups.len(), nw, "{what}: number of y groups");
        for (j, (cyc, idx, lanes)) in run.groups.iter().enumerate() {
            assert_eq!(*idx, j * W, "{what}: y_idx of group {j}");
            assert_eq!(*cyc, y_first(dim, W) + j, "{what}: cycle of group {j}");
            assert!(*cyc <= c, "{what}: y after done");
            for (i, &v) in lanes.iter().enumerate() {
                let e = j * W + i;
                let w = if e < dim { want[e] } else { 0 };
                assert_eq!(
                    v,
                    w,
                    "{what}: element {e} (x = {}, g = {})",
                    x.get(e).copied().unwrap_or(0),
                    gv.get(e).copied().unwrap_or(0)
                );
            }
        }
        let ym = max_mag(&want);
        assert_eq!(run.y_max_at_done, ym, "{what}: y_max at done");
        for &m in &run.y_max_after {
            assert_eq!(m, ym, "{what}: y_max held after done");
        }
        c
    }
}

// ----------------------------------------------------------------------------------
// Layout and cycle counts
// ----------------------------------------------------------------------------------

#[test]
fn gains_layout_and_cycles() {
    for (name, cfg) in configs() {
        let qm = quant(&cfg, 1);
        let vectors = gain_vectors(&qm);
        assert_eq!(vectors.len(), 2 * cfg.n_layers + 1, "{name}");
        for w in [4usize, 8, 16] {
            let lay = rms_gains_layout(&qm, w);
            assert_eq!(lay.len(), vectors.len(), "{name}");
            for (k, (&(b, e), (_, ve))) in lay.iter().zip(&vectors).enumerate() {
                assert_eq!(e, *ve, "{name} W={w} vector {k}: exponent");
                assert_eq!(b % w, 0, "{name} W={w} vector {k}: base not aligned");
            }
        }
        let check_words = |words_flat: Vec<u16>, w: usize| {
            let lay = rms_gains_layout(&qm, w);
            for (k, &(b, _)) in lay.iter().enumerate() {
                let gv = &gain_vectors(&qm)[k].0;
                let n = words(gv.len(), w) * w;
                for i in 0..n {
                    let want = gv.get(i).map_or(0, |&g| g as u16);
                    assert_eq!(words_flat[b + i], want, "{name} W={w} vector {k} lane {i}");
                }
            }
        };
        check_words(rms_gains_words::<4>(&qm).concat(), 4);
        check_words(rms_gains_words::<8>(&qm).concat(), 8);
        check_words(rms_gains_words::<16>(&qm).concat(), 16);
    }
    assert_eq!(cycles(64, 8), 39);
    assert_eq!(cycles(64, 16), 32);
    for w in [4usize, 8, 16] {
        for dim in [2usize, 20, 64] {
            let nw = words(dim, w);
            assert_eq!(cycles(dim, w), 2 * nw + 18 + ymax_latency(w));
            assert_eq!(y_first(dim, w), nw + 19);
        }
    }
    println!("cycles(dim, W) from start to done:");
    for dim in [16, 20, 48, 64] {
        for w in [4, 8, 16] {
            println!(
                "  dim {dim:>3} W {w:>2}: {:>3} (scalar VecUnit RMSNORM with pre: {})",
                cycles(dim, w),
                2 * dim + 5
            );
        }
    }
}

// ----------------------------------------------------------------------------------
// Whole unit, native: bit-exact, every gain vector, every shape, W = 4, 8, 16
// ----------------------------------------------------------------------------------

fn bit_exact<const W: usize>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (name, cfg) in configs() {
        let qm = quant(&cfg, seed + 100);
        let dim = cfg.dim;
        let lay = rms_gains_layout(&qm, W);
        let gvs = gain_vectors(&qm);
        let mut b = Bench::<W>::new(&qm, false);
        let mut ops = 0;
        for (k, (&(g_base, g_exp), (gv, _))) in lay.iter().zip(&gvs).enumerate() {
            for kind in 0..KINDS {
                let v = vector(&mut rng, dim, kind);
                b.load(&mut rng, &v, 2);
                for (i, &xv) in v.iter().enumerate() {
                    assert_eq!(b.d.uut.peek_x(i), xv, "{name}: capture of element {i}");
                }
                // The model's exponent, and sometimes another one (saturation, underflow).
                let ge = match rng.gen_range(0..6) {
                    0 => rng.gen_range(-128..=127),
                    1 => (g_exp + rng.gen_range(1..24)).min(127),
                    _ => g_exp,
                };
                let what = format!("W={W} {name} vector {k} kind {kind} g_exp {ge}");
                b.check(gv, g_base, ge, &what);
                ops += 1;
                b.idle(None);
            }
        }
        println!("W={W} {name}: {ops} operations bit-exact");
    }
}

#[test]
fn bit_exact_w4() {
    bit_exact::<4>(1);
}

#[test]
fn bit_exact_w8() {
    bit_exact::<8>(2);
}

#[test]
fn bit_exact_w16() {
    bit_exact::<16>(3);
}

/// Operations back to back (start in the cycle after done), with and without captures
/// between them (including one in the start cycle), a start while busy (ignored).
fn back_to_back<const W: usize>(cfg: &Config, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let qm = quant(cfg, seed);
    let dim = cfg.dim;
    let lay = rms_gains_layout(&qm, W);
    let gvs = gain_vectors(&qm);
    let mut b = Bench::<W>::new(&qm, false);
    let v = vector(&mut rng, dim, 0);
    b.load(&mut rng, &v, 0);
    for step in 0..60 {
        let k = rng.gen_range(0..lay.len());
        let (g_base, g_exp) = lay[k];
        let what = format!("W={W} dim {dim} step {step}");
        match step % 4 {
            // Straight back to back.
            0 => {
                let x = b.x.clone();
                let run = b.run(g_base, g_exp, None, 0, None);
                b.verify(&run, &x, &gvs[k].0, g_exp, &what);
            }
            // A few captures (some past dim) in the cycles between operations.
            1 => {
                for _ in 0..rng.gen_range(1..4) {
                    let i = if rng.gen_bool(0.8) {
                        rng.gen_range(0..dim)
                    } else {
                        rng.gen_range(dim..1 << 16)
                    };
                    let val = if rng.gen_bool(0.3) {
                        edge_word(&mut rng)
                    } else {
                        vector(&mut rng, 1, 0)[0]
                    };
                    b.idle(Some((i, val)));
                }
                let x = b.x.clone();
                let run = b.run(g_base, g_exp, None, 0, None);
                b.verify(&run, &x, &gvs[k].0, g_exp, &what);
            }
            // A capture in the start cycle itself.
            2 => {
                let i = rng.gen_range(0..dim);
                let val = edge_word(&mut rng);
                let mut x = b.x.clone();
                x[i] = val;
                let run = b.run(g_base, g_exp, Some((i, val)), 0, None);
                b.verify(&run, &x, &gvs[k].0, g_exp, &what);
            }
            // A start while busy.
            _ => {
                let x = b.x.clone();
                let at = rng.gen_range(1..=cycles(dim, W));
                let run = b.run(g_base, g_exp, None, 0, Some(at));
                b.verify(&run, &x, &gvs[k].0, g_exp, &what);
            }
        }
        for (i, &xv) in b.x.iter().enumerate() {
            assert_eq!(b.d.uut.peek_x(i), xv, "{what}: x[{i}]");
        }
    }
}

#[test]
fn back_to_back_with_captures() {
    back_to_back::<4>(&Config::STORIES260K, 31);
    back_to_back::<8>(&Config::ODD, 32);
    back_to_back::<16>(&DIM20, 33);
    back_to_back::<16>(&Config::TINY, 34);
    back_to_back::<8>(&DIM2, 35);
}

// ----------------------------------------------------------------------------------
// Leaves against their Verilog (and simple models)
// ----------------------------------------------------------------------------------

fn word(rng: &mut ChaCha8Rng) -> i32 {
    match rng.gen_range(0..4) {
        0 => edge_word(rng),
        1 => rng.gen_range(-(20 << 16)..(20 << 16)),
        _ => rng.gen(),
    }
}

fn xbanks_case<const W: usize>(dim: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = Driver::new(XBanks::<W>::new(dim), |u, c| u.clock.next = c.into()).with_trace();
    let mut model = vec![0i32; dim];
    let nw = words(dim, W);
    for cyc in 0..3000 {
        let we = rng.gen_bool(0.6);
        let idx = if rng.gen_bool(0.85) {
            rng.gen_range(0..dim)
        } else {
            rng.gen_range(dim..1 << 16)
        };
        let data = word(&mut rng);
        let raddr = if rng.gen_bool(0.9) {
            rng.gen_range(0..nw)
        } else {
            rng.gen_range(nw..1 << 16)
        };
        d.uut.we.next = we;
        d.uut.widx.next = u2b::<16>(idx as u64);
        d.uut.wdata.next = i2s::<32>(data as i64);
        d.uut.raddr.next = u2b::<16>(raddr as u64);
        let expect: Vec<i32> = (0..W)
            .map(|i| model.get(raddr * W + i).copied().unwrap_or(0))
            .collect();
        d.tick();
        let got: Vec<i32> = (0..W).map(|i| s2i(d.uut.rdata[i].val()) as i32).collect();
        assert_eq!(
            got, expect,
            "W={W} dim {dim} cycle {cyc}: read of word {raddr}"
        );
        if we && idx < dim {
            model[idx] = data;
        }
        for (i, &m) in model.iter().enumerate() {
            assert_eq!(d.uut.peek(i), m);
        }
    }
    cosim_icarus(
        &emit_verilog(XBanks::<W>::new(dim)),
        &d.take_trace().unwrap(),
    );
    lint_clean(
        &format!("XBanks<{W}> dim {dim}"),
        &emit_verilog(XBanks::<W>::new(dim)),
    );
}

#[test]
fn leaf_xbanks_matches_model_and_verilog() {
    xbanks_case::<4>(10, 41);
    xbanks_case::<8>(20, 42);
    xbanks_case::<16>(64, 43);
    xbanks_case::<16>(6, 44);
    xbanks_case::<8>(1, 45);
}

/// RmsLanes with random stimulus against its Verilog; and its sum-of-squares path against
/// the golden normalisation (a pass-1 burst, then `rs_addr`).
fn lanes_case<const W: usize>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rs = rsqrt_words();
    let mut d = Driver::new(RmsLanes::<W>::default(), |u, c| u.clock.next = c.into()).with_trace();
    for round in 0..60 {
        // ld with a maximum and an exponent.
        let xs: Vec<Vec<i32>> = (0..rng.gen_range(1..6))
            .map(|_| {
                let kind = rng.gen_range(0..KINDS);
                vector(&mut rng, W, kind)
            })
            .collect();
        let flat: Vec<i32> = xs.concat();
        let mx = max_mag(&flat);
        let ge: i64 = if rng.gen_bool(0.3) {
            [-128, 127, 0, 40, -40][rng.gen_range(0..5)]
        } else {
            rng.gen_range(-30..10)
        };
        // Flush what the random cycles of the previous round left in flight.
        d.uut.v.next = false;
        d.uut.sq.next = false;
        d.run(Y_LATENCY + 2);
        d.uut.ld.next = true;
        d.uut.x_max.next = u2b::<32>(mx);
        d.uut.g_exp.next = i2s::<8>(ge);
        d.uut.v.next = false;
        d.uut.sq.next = false;
        d.tick();
        d.uut.ld.next = false;
        // Pass 1: the words, then flush.
        for w in &xs {
            for i in 0..W {
                d.uut.x[i].next = i2s::<32>(w[i] as i64);
            }
            d.uut.v.next = true;
            d.uut.sq.next = true;
            d.tick();
        }
        d.uut.v.next = false;
        d.uut.sq.next = false;
        d.run(ACC_LATENCY + RS_LATENCY + 1);
        let b = to_block16(&flat);
        let n: u64 = b.mant.iter().map(|&m| (m as i64 * m as i64) as u64).sum();
        assert_eq!(
            d.uut.rs_addr.val().index() as u32,
            norm_addr(n).0,
            "W={W} round {round}: RSQRT address"
        );
        // Pass 2 with the table entries (both parities, as the unit's two table halves
        // give them), random gains, random flags around it.
        let f0 = norm_addr(n).0 as usize & 4095;
        for _ in 0..rng.gen_range(1..12) {
            for i in 0..W {
                d.uut.x[i].next = i2s::<32>(word(&mut rng) as i64);
                d.uut.g[i].next = u2b::<16>(rng.gen_range(0..1 << 16));
            }
            let (t0, t1) = if rng.gen_bool(0.8) {
                (rs[f0], rs[f0 + 4096])
            } else {
                (rng.gen_range(0..1 << 16), rng.gen_range(0..1 << 16))
            };
            d.uut.tt0.next = u2b::<16>(t0);
            d.uut.tt1.next = u2b::<16>(t1);
            d.uut.v.next = rng.gen_bool(0.8);
            d.uut.sq.next = rng.gen_bool(0.2);
            d.tick();
        }
        // Fully random cycles (ld, flags, everything).
        for _ in 0..20 {
            d.uut.ld.next = rng.gen_bool(0.1);
            d.uut.x_max.next = u2b::<32>(rng.gen::<u32>() as u64);
            d.uut.g_exp.next = i2s::<8>(rng.gen_range(-128..128));
            for i in 0..W {
                d.uut.x[i].next = i2s::<32>(word(&mut rng) as i64);
                d.uut.g[i].next = u2b::<16>(rng.gen_range(0..1 << 16));
            }
            d.uut.tt0.next = u2b::<16>(rng.gen_range(0..1 << 16));
            d.uut.tt1.next = u2b::<16>(rng.gen_range(0..1 << 16));
            d.uut.v.next = rng.gen_bool(0.5);
            d.uut.sq.next = rng.gen_bool(0.5);
            d.tick();
        }
        d.uut.ld.next = false;
    }
    let trace = d.take_trace().unwrap();
    println!("RmsLanes<{W}>: co-simulating {} cycles", trace.len());
    cosim_icarus(&emit_verilog(RmsLanes::<W>::default()), &trace);
    lint_clean(
        &format!("RmsLanes<{W}>"),
        &emit_verilog(RmsLanes::<W>::default()),
    );
}

#[test]
fn leaf_rms_lanes_matches_golden_and_verilog() {
    // The quantiser and shift the lanes use are to_block16's.
    let mut rng = ChaCha8Rng::seed_from_u64(50);
    for kind in 0..KINDS {
        let x = vector(&mut rng, 33, kind);
        let b = to_block16(&x);
        let s = block_shift(max_mag(&x), BLOCK16_BITS);
        assert_eq!(s as i32, b.shift);
        let q: Vec<i32> = x
            .iter()
            .map(|&v| block_mant(v as i64, s, BLOCK16_BITS) as i32)
            .collect();
        assert_eq!(q, b.mant);
    }
    lanes_case::<4>(51);
    lanes_case::<8>(52);
    lanes_case::<16>(53);
}

fn abs_max_case<const W: usize>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = Driver::new(AbsMax::<W>::default(), |u, c| u.clock.next = c.into()).with_trace();
    // Reference: mx after cycle c includes the groups of cycles since the last clr, up to
    // c − (L − 1) (L = ymax_latency(W) stages; clr zeroes everything in flight).
    let lag = ymax_latency(W) - 1;
    let mut hist: Vec<(bool, u64)> = vec![]; // (clr, group max or 0 if not v)
    for cyc in 0..3000 {
        let clr = rng.gen_bool(0.03);
        let v = rng.gen_bool(0.7);
        let ys: Vec<i32> = (0..W)
            .map(|_| match rng.gen_range(0..6) {
                0 => i32::MIN,
                1 => i32::MAX,
                2 => rng.gen_range(-5..5),
                _ => rng.gen_range(-(1 << 20)..(1 << 20)),
            })
            .collect();
        d.uut.clr.next = clr;
        d.uut.v.next = v;
        for i in 0..W {
            d.uut.y[i].next = i2s::<32>(ys[i] as i64);
        }
        d.tick();
        hist.push((clr, if v { max_mag(&ys) } else { 0 }));
        // Expected mx now (after the edge ending cycle cyc): max over groups of cycles
        // c' <= cyc − lag after the last clr at or before cyc.
        let last_clr = (0..=cyc).rev().find(|&c| hist[c].0);
        let from = last_clr.map_or(0, |c| c + 1);
        let want = if cyc >= lag {
            (from..=cyc - lag).map(|c| hist[c].1).max().unwrap_or(0)
        } else {
            0
        };
        assert_eq!(d.uut.mx.val().to_u64(), want, "W={W} cycle {cyc}");
    }
    cosim_icarus(
        &emit_verilog(AbsMax::<W>::default()),
        &d.take_trace().unwrap(),
    );
    lint_clean(
        &format!("AbsMax<{W}>"),
        &emit_verilog(AbsMax::<W>::default()),
    );
}

#[test]
fn leaf_abs_max_matches_model_and_verilog() {
    abs_max_case::<4>(61);
    abs_max_case::<8>(62);
    abs_max_case::<16>(63);
}

// ----------------------------------------------------------------------------------
// Whole unit: Icarus co-simulation and Verilator lint
// ----------------------------------------------------------------------------------

fn unit_cosim<const W: usize>(cfg: &Config, seed: u64) {
    let qm = quant(cfg, seed);
    let dim = cfg.dim;
    let lay = rms_gains_layout(&qm, W);
    let gvs = gain_vectors(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Bench::<W>::new(&qm, true);
    b.idle(None);
    for (step, kind) in [0, 4, 1, 6, 5].into_iter().enumerate() {
        let v = vector(&mut rng, dim, kind);
        b.load(&mut rng, &v, 1);
        let k = step % lay.len();
        let what = format!("cosim W={W} step {step}");
        b.check(&gvs[k].0, lay[k].0, lay[k].1, &what);
        // Back to back, after a capture in the start cycle.
        let i = rng.gen_range(0..dim);
        let mut x = b.x.clone();
        x[i] = edge_word(&mut rng);
        let run = b.run(lay[k].0, lay[k].1 + 3, Some((i, x[i])), 0, Some(3));
        b.verify(&run, &x, &gvs[k].0, lay[k].1 + 3, &what);
    }
    let trace = b.d.take_trace().unwrap();
    println!(
        "RmsUnit<{W}> dim {dim}: co-simulating {} cycles",
        trace.len()
    );
    cosim_icarus(&emit_verilog(RmsUnit::<W>::new(&qm)), &trace);
}

#[test]
fn unit_cosim_icarus() {
    unit_cosim::<4>(&Config::TINY, 71);
    unit_cosim::<8>(&DIM20, 72);
}

#[test]
fn unit_verilator_lint() {
    let tiny = quant(&Config::TINY, 3);
    let d20 = quant(&DIM20, 3);
    lint_clean("RmsUnit<4> TINY", &emit_verilog(RmsUnit::<4>::new(&tiny)));
    lint_clean("RmsUnit<8> DIM20", &emit_verilog(RmsUnit::<8>::new(&d20)));
    lint_clean("RmsUnit<16> TINY", &emit_verilog(RmsUnit::<16>::new(&tiny)));
    lint_clean(
        "RmsUnit<16> DIM2",
        &emit_verilog(RmsUnit::<16>::new(&quant(&DIM2, 3))),
    );
}
