//! Vector unit: every op bit-exact with the golden numerics on random and edge-case
//! vectors, write ranges, `done` and cycle counts; each arithmetic leaf against its
//! Verilog in Icarus; the whole unit co-simulated in Icarus and linted by Verilator.

use llamahdl_golden::numerics::{self, to_block16};
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::cosim::{
    assert_icarus_clean as cosim_trace, assert_lint_clean as lint_clean, emit_verilog,
};
use llamahdl_hw::leaf::{i2s, s2i, u2b};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::vec_unit::*;
use llamahdl_model::{synth, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

// ----------------------------------------------------------------------------------
// Stimulus
// ----------------------------------------------------------------------------------

/// Interesting Q16.16 words: extremes, zero, tiny, the sigmoid range boundaries,
/// values that round up to 2^15 after a block shift.
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
    -(1 << 20) - 1,
    (1 << 20) - 512,
    -(1 << 20) + 511,
    1 << 30,
    -(1 << 30),
];

fn edge_word(rng: &mut ChaCha8Rng) -> i32 {
    EDGES[rng.gen_range(0..EDGES.len())]
}

/// A random vector of kind `kind` (0..8).
fn vector(rng: &mut ChaCha8Rng, n: usize, kind: usize) -> Vec<i32> {
    match kind {
        // Activation-like: ~N(0,1)·gain.
        0 => {
            let gain: f64 = rng.gen_range(0.01..40.0);
            (0..n)
                .map(|_| (rng.gen_range(-1.5f64..1.5) * gain * 65536.0) as i32)
                .collect()
        }
        // All zeros.
        1 => vec![0; n],
        // Tiny values.
        2 => (0..n).map(|_| rng.gen_range(-4..=4)).collect(),
        // Large magnitudes near ±2^31.
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
        // Negative, in the sigmoid's interesting range [-20, 20).
        5 => (0..n).map(|_| -rng.gen_range(0..(20 << 16))).collect(),
        // Uniform over [-20, 20) (every sigmoid table interval).
        6 => (0..n)
            .map(|_| rng.gen_range(-(20 << 16)..(20 << 16)))
            .collect(),
        // Full 32-bit range.
        _ => (0..n).map(|_| rng.gen()).collect(),
    }
}

// ----------------------------------------------------------------------------------
// Testbench: behavioural vector memory and XMem around the unit
// ----------------------------------------------------------------------------------

const VM_WORDS: usize = 2048;

struct Bench {
    d: Driver<VecUnit>,
    vm: Vec<i32>,
    xm: Vec<i32>,
    /// Word the memory returns in the current cycle (read in the previous one).
    rdata: i32,
    /// Run RMSNORM with `pre` (the input's maximum magnitude given, scan skipped).
    pre: bool,
}

/// What one operation did.
#[derive(Debug, Default)]
struct OpRun {
    vm_writes: Vec<(usize, i32)>,
    xm_writes: Vec<(usize, i32)>,
    reads: Vec<usize>,
    /// Cycles (start = 0) with `done` high, within the observation window.
    done: Vec<usize>,
    shift_at_done: Option<u32>,
    shift_after: u32,
}

#[derive(Clone, Copy, Debug)]
struct Params {
    op: u64,
    a: usize,
    b: usize,
    c: usize,
    n: usize,
    g_base: usize,
    g_exp: i32,
}

impl Bench {
    fn new(uut: VecUnit, trace: bool) -> Self {
        let d = Driver::new(uut, |u, c| u.clock.next = c.into());
        let d = if trace { d.with_trace() } else { d };
        Bench {
            d,
            vm: vec![0; VM_WORDS],
            xm: vec![0; 1 << 16],
            rdata: 0,
            pre: false,
        }
    }

    /// One clock cycle with the memories answering; returns (vm write, xm write, done).
    #[allow(clippy::type_complexity)]
    fn cycle(&mut self) -> (Option<(usize, i32)>, Option<(usize, i32)>, bool, usize) {
        self.d.uut.vm_rdata.next = i2s::<32>(self.rdata as i64);
        self.d.settle();
        let u = &self.d.uut;
        let raddr = u.vm_raddr.val().index();
        // Read-old-data: sample before this cycle's write lands.
        self.rdata = self.vm.get(raddr).copied().unwrap_or(0);
        let vw = if u.vm_we.val() {
            Some((u.vm_waddr.val().index(), s2i(u.vm_wdata.val()) as i32))
        } else {
            None
        };
        let xw = if u.xm_we.val() {
            Some((u.xm_waddr.val().index(), s2i(u.xm_wdata.val()) as i32))
        } else {
            None
        };
        let done = u.done.val();
        if let Some((a, v)) = vw {
            assert!(
                a < self.vm.len(),
                "write outside the vector memory model: {a}"
            );
            self.vm[a] = v;
        }
        if let Some((a, v)) = xw {
            self.xm[a] = v;
        }
        self.d.tick();
        (vw, xw, done, raddr)
    }

    fn idle(&mut self, cycles: usize) {
        for _ in 0..cycles {
            let (vw, xw, done, _) = self.cycle();
            assert!(vw.is_none() && xw.is_none() && !done, "activity while idle");
        }
    }

    /// Run one op: start pulse, then until `done` and `tail` cycles more.
    fn run(&mut self, p: Params, tail: usize) -> OpRun {
        let u = &mut self.d.uut;
        u.op.next = u2b::<4>(p.op);
        u.a.next = u2b::<16>(p.a as u64);
        u.b.next = u2b::<16>(p.b as u64);
        u.c.next = u2b::<16>(p.c as u64);
        u.n.next = u2b::<16>(p.n as u64);
        u.g_base.next = u2b::<16>(p.g_base as u64);
        u.g_exp.next = i2s::<8>(p.g_exp as i64);
        let mx = self.vm[p.a..p.a + p.n]
            .iter()
            .map(|v| v.unsigned_abs() as u64)
            .max()
            .unwrap_or(0);
        u.pre.next = self.pre;
        u.pre_max.next = u2b::<32>(mx);
        u.start.next = true;
        let mut run = OpRun::default();
        let limit = 3 * p.n + 40;
        let mut cyc = 0;
        let mut done_at = None;
        while done_at.map_or(true, |d| cyc <= d + tail) {
            assert!(
                cyc < limit,
                "op {} n {}: no done within {limit} cycles",
                p.op,
                p.n
            );
            let shift = self.d.uut.xm_shift.val().to_u64() as u32;
            let (vw, xw, done, raddr) = self.cycle();
            if cyc == 0 {
                self.d.uut.start.next = false;
            }
            if done_at.is_none() && cyc > 0 {
                run.reads.push(raddr);
            }
            if let Some(w) = vw {
                run.vm_writes.push(w);
            }
            if let Some(w) = xw {
                run.xm_writes.push(w);
            }
            if done {
                run.done.push(cyc);
                if done_at.is_none() {
                    done_at = Some(cyc);
                    run.shift_at_done = Some(shift);
                }
            }
            cyc += 1;
        }
        run.shift_after = self.d.uut.xm_shift.val().to_u64() as u32;
        run
    }
}

fn gains_slice(words: &[u64], base: usize, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| words.get(base + i).map_or(0, |&w| w as u16 as i16))
        .collect()
}

/// Run `p` on `bench` with the vectors already in memory; check against the golden
/// model. Returns the done cycle.
fn check_op(bench: &mut Bench, p: Params, gains: &[u64], what: &str) -> usize {
    let before = bench.vm.clone();
    let xs: Vec<i32> = before[p.a..p.a + p.n].to_vec();
    let run = bench.run(p, 6);
    assert_eq!(run.done.len(), 1, "{what}: done pulsed {:?}", run.done);
    let done = run.done[0];
    assert_eq!(done, cycles_pre(p.op, p.n, bench.pre), "{what}: done cycle");
    // Reads stay in the source regions.
    let in_region = |r: usize, base: usize| r >= base && r < base + p.n;
    for &r in &run.reads {
        let ok = match p.op {
            OP_ADD => in_region(r, p.a) || in_region(r, p.c),
            OP_SWIGLU => in_region(r, p.a) || in_region(r, p.b),
            _ => in_region(r, p.a),
        };
        assert!(ok, "{what}: read of {r} outside the sources");
    }
    let want: Vec<i32> = match p.op {
        OP_BLOCK => {
            let b = to_block16(&xs);
            assert!(
                run.vm_writes.is_empty(),
                "{what}: BLOCK wrote the vector memory"
            );
            let expect: Vec<(usize, i32)> = b.mant.iter().copied().enumerate().collect();
            assert_eq!(run.xm_writes, expect, "{what}: XMem writes");
            assert_eq!(
                run.shift_at_done,
                Some(b.shift as u32),
                "{what}: xm_shift at done"
            );
            assert_eq!(run.shift_after, b.shift as u32, "{what}: xm_shift after");
            return done;
        }
        OP_RMSNORM => numerics::rmsnorm(&xs, &gains_slice(gains, p.g_base, p.n), p.g_exp),
        OP_ADD => (0..p.n)
            .map(|i| numerics::add_q16(before[p.c + i], before[p.a + i]))
            .collect(),
        OP_SWIGLU => (0..p.n)
            .map(|i| numerics::mul_q16(numerics::silu(before[p.a + i]), before[p.b + i]))
            .collect(),
        _ => unreachable!(),
    };
    assert!(run.xm_writes.is_empty(), "{what}: wrote XMem");
    assert_eq!(run.vm_writes.len(), p.n, "{what}: number of writes");
    for (i, &(addr, v)) in run.vm_writes.iter().enumerate() {
        assert_eq!(addr, p.c + i, "{what}: write {i} address");
        assert_eq!(
            v,
            want[i],
            "{what}: element {i} (input a={}, b={}, c={})",
            before[p.a + i],
            before.get(p.b + i).copied().unwrap_or(0),
            before.get(p.c + i).copied().unwrap_or(0)
        );
    }
    // Nothing else changed.
    for (addr, (&new, &old)) in bench.vm.iter().zip(&before).enumerate() {
        if addr < p.c || addr >= p.c + p.n {
            assert_eq!(
                new, old,
                "{what}: word {addr} outside the destination changed"
            );
        }
    }
    done
}

const SIZES: [usize; 5] = [1, 7, 16, 64, 172];

/// Every op, every size, every vector kind, on the stories260K-shaped synthetic model.
#[test]
fn ops_bit_exact_with_golden() {
    let qm = quant(&Config::STORIES260K, 11);
    let layout = gains_layout(&qm);
    let gains = gains_words(&qm);
    assert_eq!(layout.len(), 2 * qm.config.n_layers + 1);
    assert_eq!(gains.len(), layout.len() * qm.config.dim);
    let mut bench = Bench::new(VecUnit::new(&qm), false);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut report = vec![];
    let t0 = std::time::Instant::now();
    let cycles0 = bench.d.cycle();
    for &n in &SIZES {
        for kind in 0..8 {
            let (a, b, c) = (100, 500, 900);
            for (addr, v) in bench.vm.iter_mut().enumerate() {
                *v = if addr % 3 == 0 {
                    edge_word(&mut rng)
                } else {
                    rng.gen()
                };
            }
            let va = vector(&mut rng, n, kind);
            let vb = vector(&mut rng, n, (kind + 3) % 8);
            let vc = vector(&mut rng, n, (kind + 5) % 8);
            bench.vm[a..a + n].copy_from_slice(&va);
            bench.vm[b..b + n].copy_from_slice(&vb);
            bench.vm[c..c + n].copy_from_slice(&vc);
            let what = |op: &str| format!("{op} n={n} kind={kind}");
            let dn = check_op(
                &mut bench,
                Params {
                    op: OP_BLOCK,
                    a,
                    b,
                    c,
                    n,
                    g_base: 0,
                    g_exp: 0,
                },
                &gains,
                &what("BLOCK"),
            );
            if kind == 0 {
                report.push(("BLOCK", n, dn));
            }
            // RMSNORM with a gain vector of the model (n = dim) or a window of the ROM.
            let (g_base, g_exp) = if n == qm.config.dim {
                layout[kind % layout.len()]
            } else {
                let l = layout[kind % layout.len()];
                (rng.gen_range(0..gains.len() - n.min(gains.len() - 1)), l.1)
            };
            let dn = check_op(
                &mut bench,
                Params {
                    op: OP_RMSNORM,
                    a,
                    b,
                    c,
                    n,
                    g_base,
                    g_exp,
                },
                &gains,
                &what("RMSNORM"),
            );
            if kind == 0 {
                report.push(("RMSNORM", n, dn));
            }
            bench.idle(1);
            let dn = check_op(
                &mut bench,
                Params {
                    op: OP_ADD,
                    a,
                    b,
                    c,
                    n,
                    g_base: 0,
                    g_exp: 0,
                },
                &gains,
                &what("ADD"),
            );
            if kind == 0 {
                report.push(("ADD", n, dn));
            }
            let dn = check_op(
                &mut bench,
                Params {
                    op: OP_SWIGLU,
                    a,
                    b,
                    c,
                    n,
                    g_base: 0,
                    g_exp: 0,
                },
                &gains,
                &what("SWIGLU"),
            );
            if kind == 0 {
                report.push(("SWIGLU", n, dn));
            }
        }
    }
    let total = bench.d.cycle() - cycles0;
    println!("cycles from start to done (n elements):");
    for (op, n, c) in report {
        println!("  {op:<8} n={n:<4} done at cycle {c}");
    }
    println!(
        "{total} cycles simulated in {:.2} s ({:.0} cycles/s)",
        t0.elapsed().as_secs_f64(),
        total as f64 / t0.elapsed().as_secs_f64()
    );
}

/// RMSNORM with every gain vector of the model at its layout position, extreme gain
/// exponents (output saturation and underflow), and in place (c = a); ADD in place
/// (c = a: x += x); back-to-back starts in the cycle after done; an unknown op.
#[test]
fn rmsnorm_layout_extremes_in_place_and_back_to_back() {
    let qm = quant(&Config::STORIES260K, 12);
    let dim = qm.config.dim;
    let layout = gains_layout(&qm);
    let gains = gains_words(&qm);
    // The layout points at the model's vectors.
    for (l, layer) in qm.layers.iter().enumerate() {
        assert_eq!(
            gains_slice(&gains, layout[2 * l].0, dim),
            layer.rms_att.mant
        );
        assert_eq!(layout[2 * l].1, layer.rms_att.exp);
        assert_eq!(
            gains_slice(&gains, layout[2 * l + 1].0, dim),
            layer.rms_ffn.mant
        );
        assert_eq!(layout[2 * l + 1].1, layer.rms_ffn.exp);
    }
    let last = layout[2 * qm.config.n_layers];
    assert_eq!(gains_slice(&gains, last.0, dim), qm.rms_final.mant);
    assert_eq!(last.1, qm.rms_final.exp);

    let mut bench = Bench::new(VecUnit::new(&qm), false);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let (a, c) = (10, 300);
    for (gi, &(g_base, g_exp)) in layout.iter().enumerate() {
        // Every other gain vector with the maximum given in advance (`pre`).
        bench.pre = gi % 2 == 1;
        for kind in [0, 2, 3, 4] {
            let v = vector(&mut rng, dim, kind);
            bench.vm[a..a + dim].copy_from_slice(&v);
            for ge in [g_exp, -128, 127, g_exp + 20, g_exp - 20] {
                check_op(
                    &mut bench,
                    Params {
                        op: OP_RMSNORM,
                        a,
                        b: 0,
                        c,
                        n: dim,
                        g_base,
                        g_exp: ge,
                    },
                    &gains,
                    &format!("RMSNORM gains {gi} kind {kind} g_exp {ge}"),
                );
            }
            // In place.
            check_op(
                &mut bench,
                Params {
                    op: OP_RMSNORM,
                    a,
                    b: 0,
                    c: a,
                    n: dim,
                    g_base,
                    g_exp,
                },
                &gains,
                &format!("RMSNORM in place gains {gi} kind {kind}"),
            );
            check_op(
                &mut bench,
                Params {
                    op: OP_ADD,
                    a,
                    b: 0,
                    c: a,
                    n: dim,
                    g_base: 0,
                    g_exp: 0,
                },
                &gains,
                &format!("ADD in place kind {kind}"),
            );
        }
    }
    // Unknown ops: done in the next cycle, no writes.
    for op in [0, 5, 15] {
        let run = bench.run(
            Params {
                op,
                a,
                b: 0,
                c,
                n: 4,
                g_base: 0,
                g_exp: 0,
            },
            5,
        );
        assert_eq!(run.done, vec![1], "op {op}");
        assert!(run.vm_writes.is_empty() && run.xm_writes.is_empty());
    }
    // A start while busy is ignored: pulse start again mid-op.
    let v = vector(&mut rng, 16, 0);
    bench.vm[a..a + 16].copy_from_slice(&v);
    let before = bench.vm.clone();
    bench.d.uut.op.next = u2b::<4>(OP_ADD);
    bench.d.uut.a.next = u2b::<16>(a as u64);
    bench.d.uut.c.next = u2b::<16>(c as u64);
    bench.d.uut.n.next = u2b::<16>(16);
    bench.d.uut.start.next = true;
    bench.cycle();
    bench.cycle(); // start high again while busy
    bench.d.uut.start.next = false;
    let mut dones = 0;
    for _ in 0..60 {
        dones += bench.cycle().2 as usize;
    }
    assert_eq!(dones, 1);
    for i in 0..16 {
        assert_eq!(
            bench.vm[c + i],
            numerics::add_q16(before[c + i], before[a + i])
        );
    }
}

/// The ops of one decoder layer back to back (start in the cycle after done), as the
/// sequencer will issue them.
#[test]
fn back_to_back_ops() {
    let qm = quant(&Config::STORIES260K, 13);
    let dim = qm.config.dim;
    let hid = qm.config.hidden_dim;
    let layout = gains_layout(&qm);
    let gains = gains_words(&qm);
    let mut bench = Bench::new(VecUnit::new(&qm), false);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (x, xb, tmp, h1, h3, hb) = (0, 64, 128, 192, 400, 600);
    let v = vector(&mut rng, dim, 0);
    bench.vm[x..x + dim].copy_from_slice(&v);
    for i in 0..2000 {
        if !(x..x + dim).contains(&i) {
            bench.vm[i] = (rng.gen_range(-3.0f64..3.0) * 65536.0) as i32;
        }
    }
    let ops = [
        Params {
            op: OP_RMSNORM,
            a: x,
            b: 0,
            c: xb,
            n: dim,
            g_base: layout[0].0,
            g_exp: layout[0].1,
        },
        Params {
            op: OP_BLOCK,
            a: xb,
            b: 0,
            c: 0,
            n: dim,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: OP_ADD,
            a: tmp,
            b: 0,
            c: x,
            n: dim,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: OP_SWIGLU,
            a: h1,
            b: h3,
            c: hb,
            n: hid,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: OP_BLOCK,
            a: hb,
            b: 0,
            c: 0,
            n: hid,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: OP_ADD,
            a: tmp,
            b: 0,
            c: x,
            n: dim,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: OP_RMSNORM,
            a: x,
            b: 0,
            c: xb,
            n: dim,
            g_base: layout[1].0,
            g_exp: layout[1].1,
        },
    ];
    for (k, p) in ops.iter().enumerate() {
        // tail 0: the next start is in the cycle right after done.
        let before = bench.vm.clone();
        let xs = before[p.a..p.a + p.n].to_vec();
        let run = bench.run(*p, 0);
        assert_eq!(run.done, vec![cycles(p.op, p.n)], "op {k}");
        match p.op {
            OP_BLOCK => {
                let b = to_block16(&xs);
                let got: Vec<i32> = run.xm_writes.iter().map(|w| w.1).collect();
                assert_eq!(got, b.mant, "op {k}");
                assert_eq!(run.shift_after, b.shift as u32);
            }
            _ => {
                let want: Vec<i32> = match p.op {
                    OP_RMSNORM => {
                        numerics::rmsnorm(&xs, &gains_slice(&gains, p.g_base, p.n), p.g_exp)
                    }
                    OP_ADD => (0..p.n)
                        .map(|i| numerics::add_q16(before[p.c + i], xs[i]))
                        .collect(),
                    _ => (0..p.n)
                        .map(|i| numerics::mul_q16(numerics::silu(xs[i]), before[p.b + i]))
                        .collect(),
                };
                let got: Vec<i32> = run.vm_writes.iter().map(|w| w.1).collect();
                assert_eq!(got, want, "op {k}");
            }
        }
    }
}

// ----------------------------------------------------------------------------------
// Leaves: native model vs golden, and vs their Verilog
// ----------------------------------------------------------------------------------

fn word(rng: &mut ChaCha8Rng) -> i32 {
    match rng.gen_range(0..4) {
        0 => edge_word(rng),
        1 => rng.gen_range(-(20 << 16)..(20 << 16)),
        _ => rng.gen(),
    }
}

#[test]
fn leaf_block_conv_matches_golden_and_verilog() {
    // Golden: the leaf's quantiser with the scanned shift is to_block16.
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for kind in 0..8 {
        for n in [1, 5, 64] {
            let x = vector(&mut rng, n, kind);
            let b = to_block16(&x);
            let m = x.iter().map(|v| v.unsigned_abs()).max().unwrap();
            assert_eq!(max_shift(m) as i32, b.shift);
            let q: Vec<i32> = x.iter().map(|&v| block_quant(v, max_shift(m))).collect();
            assert_eq!(q, b.mant);
        }
    }
    let mut d = Driver::new(BlockConv::default(), |u, c| u.clock.next = c.into()).with_trace();
    for _ in 0..4000 {
        d.uut.clr.next = rng.gen_bool(0.05);
        d.uut.ld.next = rng.gen_bool(0.05);
        d.uut.mx.next = u2b::<32>(word(&mut rng).unsigned_abs() as u64);
        d.uut.scan.next = rng.gen_bool(0.7);
        d.uut.x.next = i2s::<32>(word(&mut rng) as i64);
        d.tick();
    }
    cosim_trace(
        &emit_verilog(BlockConv::default()),
        &d.take_trace().unwrap(),
    );
    lint_clean("BlockConv", &emit_verilog(BlockConv::default()));
}

#[test]
fn leaf_sum_sq_norm_matches_golden_and_verilog() {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    for _ in 0..20000 {
        let n: u64 = match rng.gen_range(0..3) {
            0 => rng.gen_range(1..1 << 13),
            1 => 1u64 << rng.gen_range(0..47),
            _ => rng.gen_range(1..1u64 << 47),
        };
        let (p, f) = numerics::normalise(n, numerics::RSQRT_BITS);
        assert_eq!(norm_addr(n), (((p & 1) << 12) | f as u32, p / 2), "{n}");
    }
    let mut d = Driver::new(SumSqNorm::default(), |u, c| u.clock.next = c.into()).with_trace();
    for i in 0..4000 {
        d.uut.clr.next = rng.gen_bool(0.03) || i == 0;
        d.uut.en.next = rng.gen_bool(0.8);
        let m: i64 = match rng.gen_range(0..4) {
            0 => [-32768, 32767, -32767, 0, 1, -1][rng.gen_range(0..6)],
            1 => rng.gen_range(-8..8),
            _ => rng.gen_range(-32768..32768),
        };
        d.uut.m.next = i2s::<16>(m);
        d.tick();
    }
    // Also wrap the 48-bit accumulator once: 2^18 · 2^30 = 2^48.
    d.uut.clr.next = false;
    d.uut.en.next = true;
    d.uut.m.next = i2s::<16>(-32768);
    d.run(300);
    cosim_trace(
        &emit_verilog(SumSqNorm::default()),
        &d.take_trace().unwrap(),
    );
    lint_clean("SumSqNorm", &emit_verilog(SumSqNorm::default()));
}

#[test]
fn leaf_rms_scale_matches_golden_and_verilog() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let mut d = Driver::new(RmsScale::default(), |u, c| u.clock.next = c.into()).with_trace();
    // y in cycle c+2 is the function of mant/tt/g of cycle c and g_exp/hp of cycle c+1.
    let mut hist: Vec<(i64, u64, i64)> = vec![];
    for cyc in 0..4000 {
        let mant: i64 = match rng.gen_range(0..3) {
            0 => [-32768, 32767, -32767, 0, 1, -1][rng.gen_range(0..6)],
            _ => rng.gen_range(-32768..32768),
        };
        let tt: u64 = if rng.gen_bool(0.2) {
            65535
        } else {
            rng.gen_range(0..65536)
        };
        let g: i64 = rng.gen_range(-32768..32768);
        let ge: i64 = if rng.gen_bool(0.2) {
            [-128, 127, 0][rng.gen_range(0..3)]
        } else {
            rng.gen_range(-30..10)
        };
        let hp: u64 = rng.gen_range(0..32);
        d.uut.mant.next = i2s::<16>(mant);
        d.uut.tt.next = u2b::<16>(tt);
        d.uut.g.next = u2b::<16>(g as u64 & 0xFFFF);
        d.uut.g_exp.next = i2s::<8>(ge);
        d.uut.hp.next = u2b::<5>(hp);
        d.tick();
        hist.push((mant, tt, g));
        if cyc >= 1 {
            // After this tick, y = f(inputs of cycle cyc-1 (stage A), ge/hp of cycle cyc).
            let (m, t, gg) = hist[cyc - 1];
            let ti = numerics::shift_round(m * t as i64, -16);
            let k = ge as i32 - hp as i32 + 16;
            let want = numerics::sat32(numerics::shift_round(ti * gg, k));
            assert_eq!(s2i(d.uut.y.val()) as i32, want, "m={m} T={t} g={gg} k={k}");
        }
    }
    cosim_trace(&emit_verilog(RmsScale::default()), &d.take_trace().unwrap());
    lint_clean("RmsScale", &emit_verilog(RmsScale::default()));
}

#[test]
fn leaf_add_sat_matches_golden_and_verilog() {
    let mut rng = ChaCha8Rng::seed_from_u64(24);
    let mut d = Driver::new(AddSat::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut prev = 0i32;
    for _ in 0..3000 {
        let x = word(&mut rng);
        d.uut.x.next = i2s::<32>(x as i64);
        d.tick();
        assert_eq!(s2i(d.uut.y.val()) as i32, numerics::add_q16(prev, x));
        prev = x;
    }
    cosim_trace(&emit_verilog(AddSat::default()), &d.take_trace().unwrap());
    lint_clean("AddSat", &emit_verilog(AddSat::default()));
}

#[test]
fn leaf_swiglu_matches_golden_and_verilog() {
    let mut rng = ChaCha8Rng::seed_from_u64(25);
    let table = sigmoid_words();
    // Pipeline with a behavioural sigmoid ROM: alternating x / h3 words.
    let mut d = Driver::new(SwiGlu::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut rom_data = 0u64;
    let mut inputs: Vec<(i32, i32)> = vec![];
    let mut outs: Vec<i32> = vec![];
    let total = 3000;
    for cyc in 0..2 * total + 8 {
        let e = cyc / 2;
        let x = if e < total {
            if cyc % 2 == 0 {
                let v = word(&mut rng);
                inputs.push((v, word(&mut rng)));
                v
            } else {
                inputs[e].1
            }
        } else {
            rng.gen()
        };
        d.uut.ph.next = cyc % 2 == 0;
        d.uut.x.next = i2s::<32>(x as i64);
        d.uut.rom.next = u2b::<17>(rom_data);
        d.settle();
        let addr = d.uut.sig_addr.val().index();
        rom_data = table.get(addr).copied().unwrap_or(0);
        d.tick();
        // Element e's x is presented in cycle 2e (T0); y is visible after the tick of T0+4.
        if cyc >= 4 && (cyc - 4) % 2 == 0 && (cyc - 4) / 2 < total {
            outs.push(s2i(d.uut.y.val()) as i32);
        }
    }
    for (e, (&(x, h), &y)) in inputs.iter().zip(&outs).enumerate() {
        assert_eq!(
            y,
            numerics::mul_q16(numerics::silu(x), h),
            "element {e}: x={x} h={h}"
        );
    }
    assert_eq!(outs.len(), total);
    cosim_trace(&emit_verilog(SwiGlu::default()), &d.take_trace().unwrap());
    // Random ROM data and phases too (interpolation beyond the table's range).
    let mut d = Driver::new(SwiGlu::default(), |u, c| u.clock.next = c.into()).with_trace();
    for _ in 0..3000 {
        d.uut.ph.next = rng.gen_bool(0.5);
        d.uut.x.next = i2s::<32>(word(&mut rng) as i64);
        d.uut.rom.next = u2b::<17>(rng.gen_range(0..1 << 17));
        d.tick();
    }
    cosim_trace(&emit_verilog(SwiGlu::default()), &d.take_trace().unwrap());
    lint_clean("SwiGlu", &emit_verilog(SwiGlu::default()));
}

// ----------------------------------------------------------------------------------
// Whole unit: Icarus co-simulation and Verilator lint (TINY model: small ROMs)
// ----------------------------------------------------------------------------------

#[test]
fn unit_cosim_icarus() {
    let qm = quant(&Config::TINY, 3);
    let layout = gains_layout(&qm);
    let gains = gains_words(&qm);
    let mut bench = Bench::new(VecUnit::new(&qm), true);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for (i, v) in bench.vm.iter_mut().enumerate() {
        *v = if i % 4 == 0 {
            edge_word(&mut rng)
        } else {
            word(&mut rng)
        };
    }
    bench.idle(2);
    let dim = qm.config.dim;
    let plan = [
        Params {
            op: OP_BLOCK,
            a: 0,
            b: 0,
            c: 0,
            n: 5,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: OP_RMSNORM,
            a: 20,
            b: 0,
            c: 60,
            n: dim,
            g_base: layout[1].0,
            g_exp: layout[1].1,
        },
        Params {
            op: OP_ADD,
            a: 40,
            b: 0,
            c: 80,
            n: 6,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: OP_SWIGLU,
            a: 100,
            b: 120,
            c: 140,
            n: 9,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: OP_BLOCK,
            a: 200,
            b: 0,
            c: 0,
            n: dim,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: 7,
            a: 0,
            b: 0,
            c: 0,
            n: 1,
            g_base: 0,
            g_exp: 0,
        },
        Params {
            op: OP_RMSNORM,
            a: 220,
            b: 0,
            c: 220,
            n: 3,
            g_base: layout[4].0,
            g_exp: -60,
        },
        Params {
            op: OP_SWIGLU,
            a: 300,
            b: 301,
            c: 330,
            n: 1,
            g_base: 0,
            g_exp: 0,
        },
    ];
    for (k, p) in plan.iter().enumerate() {
        if p.op > OP_SWIGLU {
            bench.run(*p, 1);
        } else {
            check_op(&mut bench, *p, &gains, &format!("cosim plan step {k}"));
        }
        bench.idle(k % 2);
    }
    let trace = bench.d.take_trace().unwrap();
    println!("co-simulating {} cycles", trace.len());
    cosim_trace(&emit_verilog(VecUnit::new(&qm)), &trace);
}

#[test]
fn unit_verilator_lint() {
    lint_clean(
        "VecUnit tiny",
        &emit_verilog(VecUnit::new(&quant(&Config::TINY, 3))),
    );
}
