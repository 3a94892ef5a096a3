//! Attention unit (ROPE, KVSTORE, ATTN): bit-exact with the golden model's `rope`,
//! `kv_store` and `attend` over sequences of positions and interleaved layers, refusal of
//! positions past the context, cycle counts, co-simulation of the emitted Verilog in
//! Icarus and Verilator lint.

use llamahdl_golden::golden::{attend, kv_store, rope, KvCache};
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::attention::{cycles, AttnUnitL, OP_ATTN, OP_KVSTORE, OP_ROPE};
use llamahdl_hw::cosim::{default_waiver_file, emit_verilog, run_icarus, verilator_lint};
use llamahdl_hw::leaf::{i2s, s2i, u2b};
use llamahdl_hw::sim::Driver;
use llamahdl_model::{synth, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VM_WORDS: usize = 1 << 16;

fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

const ODD: Config = Config::ODD;

/// The unit, a behavioural vector memory answering `vm_raddr` one cycle later (the word
/// before this cycle's write), and the region bases used by the tests.
struct Tb<const L: usize> {
    d: Driver<AttnUnitL<L>>,
    vm: Vec<i32>,
    rdata_next: i32,
    qkv: usize,
    att: usize,
}

/// What one operation did.
struct OpRun {
    cycles: usize,
    writes: Vec<(usize, i32)>,
}

impl<const L: usize> Tb<L> {
    fn new(unit: AttnUnitL<L>, trace: bool, qkv: usize, att: usize) -> Tb<L> {
        let mut d = Driver::new(unit, |u, c| u.clock.next = c.into());
        if trace {
            d = d.with_trace();
        }
        Tb {
            d,
            vm: vec![0; VM_WORDS],
            rdata_next: 0,
            qkv,
            att,
        }
    }

    /// One cycle of the memory model around the unit; returns `done` of this cycle.
    fn cycle(&mut self, writes: &mut Vec<(usize, i32)>) -> bool {
        self.d.uut.vm_rdata.next = i2s::<32>(self.rdata_next as i64);
        self.d.settle();
        let raddr = self.d.uut.vm_raddr.val().index();
        let next = self.vm[raddr];
        let done = self.d.uut.done.val();
        if self.d.uut.vm_we.val() {
            let a = self.d.uut.vm_waddr.val().index();
            let v = s2i(self.d.uut.vm_wdata.val()) as i32;
            self.vm[a] = v;
            writes.push((a, v));
        }
        self.rdata_next = next;
        self.d.tick();
        done
    }

    /// Pulse start with `op`; run until `done`. Returns the cycles from start to done.
    fn run(&mut self, op: u64, layer: usize, pos: usize) -> OpRun {
        let u = &mut self.d.uut;
        u.op.next = u2b::<4>(op);
        u.qkv.next = u2b::<16>(self.qkv as u64);
        u.att.next = u2b::<16>(self.att as u64);
        u.layer.next = u2b::<8>(layer as u64);
        u.pos.next = u2b::<16>(pos as u64);
        u.start.next = true;
        let mut writes = vec![];
        let mut n = 0usize;
        let limit = 4_000_000;
        loop {
            let done = self.cycle(&mut writes);
            self.d.uut.start.next = false;
            if done {
                break;
            }
            n += 1;
            assert!(n < limit, "op {op} never finished");
        }
        // Idle afterwards: no stray activity.
        for _ in 0..2 {
            let done = self.cycle(&mut writes);
            assert!(!done, "done pulsed twice");
        }
        OpRun { cycles: n, writes }
    }

    fn pos_error(&mut self, pos: usize) -> bool {
        self.d.uut.pos.next = u2b::<16>(pos as u64);
        self.d.settle();
        self.d.uut.pos_error.val()
    }

    fn load(&mut self, qkv: &[i32]) {
        self.vm[self.qkv..self.qkv + qkv.len()].copy_from_slice(qkv);
    }
}

/// A Q16.16 vector with realistic magnitudes (|x| up to about 8) and, now and then, edge
/// cases: zeros, a single large element, saturated extremes, rounding boundaries.
fn random_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<i32> {
    let mode = rng.gen_range(0..12);
    let gain: f64 = match rng.gen_range(0..4) {
        0 => rng.gen_range(0.001..0.05),
        1 => rng.gen_range(0.05..1.0),
        _ => rng.gen_range(1.0..8.0),
    };
    let mut v: Vec<i32> = (0..n)
        .map(|_| (rng.gen_range(-1.0f64..1.0) * gain * 65536.0) as i32)
        .collect();
    match mode {
        0 => v.iter_mut().for_each(|x| *x = 0),
        1 => {
            let i = rng.gen_range(0..n);
            v[i] = if rng.gen() { i32::MAX } else { i32::MIN };
        }
        2 => {
            for x in v.iter_mut() {
                *x = match rng.gen_range(0..4) {
                    0 => i32::MAX,
                    1 => i32::MIN,
                    2 => 0,
                    _ => rng.gen_range(-3..3),
                };
            }
        }
        3 => {
            // Halfway cases of the 11-bit and 16-bit block roundings.
            for x in v.iter_mut() {
                let s = rng.gen_range(1..12);
                *x = ((rng.gen_range(-1023i32..1023) << s) + (1 << (s - 1)))
                    .clamp(i32::MIN, i32::MAX);
            }
        }
        4 => {
            let i = rng.gen_range(0..n);
            v[i] = rng.gen_range(-(2000 << 16)..(2000 << 16));
        }
        _ => {}
    }
    v
}

struct Golden {
    cfg: Config,
    table: Vec<i32>,
    caches: Vec<KvCache>,
}

/// One position of one layer through ROPE, KVSTORE and ATTN, checked against the golden
/// model. Returns the cycles of the three operations.
fn step<const L: usize>(
    tb: &mut Tb<L>,
    g: &mut Golden,
    rng: &mut ChaCha8Rng,
    layer: usize,
    pos: usize,
    attn: bool,
) -> [usize; 3] {
    let c = g.cfg;
    let (dim, kvd, hd) = (c.dim, c.kv_dim(), c.head_dim());
    let mut qkv = random_vec(rng, dim);
    qkv.extend(random_vec(rng, kvd));
    qkv.extend(random_vec(rng, kvd));
    tb.load(&qkv);
    let att_before: Vec<i32> = tb.vm[tb.att..tb.att + dim].to_vec();
    // ROPE.
    let r = tb.run(OP_ROPE, layer, pos);
    let mut want = qkv.clone();
    {
        let (q, rest) = want.split_at_mut(dim);
        rope(q, &g.table, pos, hd);
        rope(&mut rest[..kvd], &g.table, pos, hd);
    }
    assert_eq!(
        &tb.vm[tb.qkv..tb.qkv + dim + 2 * kvd],
        &want[..],
        "ROPE layer {layer} pos {pos}"
    );
    assert!(r
        .writes
        .iter()
        .all(|&(a, _)| a >= tb.qkv && a < tb.qkv + dim + kvd));
    assert_eq!(r.writes.len(), dim + kvd, "ROPE writes");
    assert_eq!(r.cycles, tb.d.uut.cycles(OP_ROPE, pos), "ROPE cycles");
    // KVSTORE.
    let k = tb.run(OP_KVSTORE, layer, pos);
    assert!(k.writes.is_empty(), "KVSTORE wrote the vector memory");
    kv_store(
        &mut g.caches[layer],
        &c,
        &want[dim..dim + kvd],
        &want[dim + kvd..],
        pos,
    );
    let gc = &g.caches[layer];
    let nkv = c.n_kv_heads;
    let (km, ksh, vm, vsh) = tb.d.uut.peek_cache(layer, pos);
    assert_eq!(
        km,
        gc.k[pos * kvd..(pos + 1) * kvd],
        "k mantissas l{layer} p{pos}"
    );
    assert_eq!(
        vm,
        gc.v[pos * kvd..(pos + 1) * kvd],
        "v mantissas l{layer} p{pos}"
    );
    assert_eq!(
        ksh,
        gc.k_shift[pos * nkv..(pos + 1) * nkv],
        "k shifts l{layer} p{pos}"
    );
    assert_eq!(
        vsh,
        gc.v_shift[pos * nkv..(pos + 1) * nkv],
        "v shifts l{layer} p{pos}"
    );
    assert_eq!(k.cycles, tb.d.uut.cycles(OP_KVSTORE, pos), "KVSTORE cycles");
    if !attn {
        return [r.cycles, k.cycles, 0];
    }
    // ATTN.
    let a = tb.run(OP_ATTN, layer, pos);
    let want_att = attend(&g.caches[layer], &c, &want[..dim], pos);
    let got = &tb.vm[tb.att..tb.att + dim];
    assert_eq!(got, &want_att[..], "ATTN layer {layer} pos {pos}");
    assert_ne!(
        att_before, want_att,
        "test vector left ATT unchanged (weak check)"
    );
    assert_eq!(a.writes.len(), dim, "ATTN writes");
    assert!(a
        .writes
        .iter()
        .all(|&(ad, _)| ad >= tb.att && ad < tb.att + dim));
    assert_eq!(a.cycles, tb.d.uut.cycles(OP_ATTN, pos), "ATTN cycles");
    // The q, k, v of QKV are untouched by KVSTORE and ATTN.
    assert_eq!(&tb.vm[tb.qkv..tb.qkv + dim + 2 * kvd], &want[..]);
    [r.cycles, k.cycles, a.cycles]
}

fn golden_for(qm: &QuantModel) -> Golden {
    Golden {
        cfg: qm.config,
        table: qm.rope.clone(),
        caches: vec![KvCache::default(); qm.config.n_layers],
    }
}

/// Positions 0..npos, each through the given layers in turn (interleaved).
fn run_shape<const L: usize>(
    cfg: &Config,
    seed: u64,
    npos: usize,
    layers: &[usize],
    ctx: Option<usize>,
) -> Vec<[usize; 3]> {
    let qm = quant(cfg, seed);
    let unit = match ctx {
        Some(c) => AttnUnitL::<L>::with_context(&qm, c),
        None => AttnUnitL::<L>::new(&qm),
    };
    // Odd bases, QKV and ATT not adjacent.
    let mut tb = Tb::new(unit, false, 37, 37 + cfg.dim + 2 * cfg.kv_dim() + 11);
    let mut g = golden_for(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(seed * 7 + 1);
    let mut out = vec![];
    for pos in 0..npos {
        for &l in layers {
            out.push(step(&mut tb, &mut g, &mut rng, l, pos, true));
        }
    }
    out
}

#[test]
fn attention_tiny_bit_exact() {
    let cfg = Config::TINY;
    let c = run_shape::<1>(&cfg, 3, cfg.seq_len, &[0, 1], None);
    assert_eq!(c.len(), 2 * cfg.seq_len);
    run_shape::<2>(&cfg, 4, cfg.seq_len, &[1, 0], None);
    run_shape::<4>(&cfg, 5, cfg.seq_len, &[0, 1], None);
}

#[test]
fn attention_odd_shape_bit_exact() {
    run_shape::<2>(&ODD, 5, 24, &[0, 2, 1], None);
    run_shape::<8>(&ODD, 6, 24, &[2, 1, 0], Some(30));
    run_shape::<1>(&ODD, 7, 6, &[1, 2], None);
}

#[test]
fn attention_stories260k_bit_exact_and_cycles() {
    let cfg = Config::STORIES260K;
    let c8 = run_shape::<8>(&cfg, 11, 41, &[0, 4], None);
    let c1 = run_shape::<1>(&cfg, 13, 41, &[2], None);
    // c8[2 * pos] is layer 0 at pos; c1[pos] is layer 2 at pos.
    for (name, at) in [("L=8", [c8[0], c8[80]]), ("L=1", [c1[0], c1[40]])] {
        eprintln!(
            "stories260K {name} cycles: pos 0: ROPE {} KVSTORE {} ATTN {}; pos 40: ROPE {} KVSTORE {} ATTN {}",
            at[0][0], at[0][1], at[0][2], at[1][0], at[1][1], at[1][2]
        );
    }
    assert_eq!([c8[0][2], c8[80][2]], [314, 1274]);
    assert_eq!(
        [c1[0][2], c1[40][2]],
        [
            cycles(&cfg, 512, 1, OP_ATTN, 0),
            cycles(&cfg, 512, 1, OP_ATTN, 40)
        ]
    );
}

/// The last positions of the full 512-position context of stories260K (the earlier
/// positions are stored without running attention, to keep the test short).
#[test]
fn attention_stories260k_end_of_context() {
    let cfg = Config::STORIES260K;
    let qm = quant(&cfg, 12);
    let mut tb = Tb::new(AttnUnitL::<8>::new(&qm), false, 1000, 3000);
    let mut g = golden_for(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let layer = 3;
    for pos in 0..cfg.seq_len {
        let attn = pos + 3 >= cfg.seq_len;
        step(&mut tb, &mut g, &mut rng, layer, pos, attn);
    }
    assert!(tb.pos_error(cfg.seq_len));
    assert!(!tb.pos_error(cfg.seq_len - 1));
}

#[test]
fn refuses_positions_past_the_context() {
    let cfg = Config::TINY;
    let qm = quant(&cfg, 4);
    let ctx = 6;
    let mut tb = Tb::new(AttnUnitL::<2>::with_context(&qm, ctx), false, 5, 200);
    let mut g = golden_for(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for pos in 0..ctx {
        for layer in [1, 0] {
            step(&mut tb, &mut g, &mut rng, layer, pos, true);
        }
    }
    assert!(!tb.pos_error(ctx - 1));
    let snapshot = tb.vm.clone();
    let caches: Vec<_> = (0..cfg.n_layers)
        .flat_map(|l| (0..ctx).map(move |p| (l, p)))
        .map(|(l, p)| tb.d.uut.peek_cache(l, p))
        .collect();
    for &pos in &[ctx, ctx + 1, cfg.seq_len, 0xFFFF] {
        assert!(tb.pos_error(pos), "pos_error low at {pos}");
        for op in [OP_ROPE, OP_KVSTORE, OP_ATTN] {
            let r = tb.run(op, 1, pos);
            assert_eq!(r.cycles, 1, "refusal takes one cycle");
            assert!(
                r.writes.is_empty(),
                "refused op {op} wrote {:?}",
                &r.writes[..1]
            );
        }
    }
    // Unknown ops and layers past the model do nothing either.
    for op in [0, 4, 8, 15] {
        let r = tb.run(op, 0, 1);
        assert_eq!((r.cycles, r.writes.len()), (1, 0), "op {op}");
    }
    for op in [OP_ROPE, OP_KVSTORE, OP_ATTN] {
        let r = tb.run(op, cfg.n_layers, 1);
        assert_eq!(
            (r.cycles, r.writes.len()),
            (1, 0),
            "layer past the model, op {op}"
        );
    }
    assert!(tb.vm == snapshot, "vector memory changed");
    let after: Vec<_> = (0..cfg.n_layers)
        .flat_map(|l| (0..ctx).map(move |p| (l, p)))
        .map(|(l, p)| tb.d.uut.peek_cache(l, p))
        .collect();
    assert!(after == caches, "cache changed");
    // And the unit still works afterwards (re-running the last position of layer 1).
    step(&mut tb, &mut g, &mut rng, 1, ctx - 1, true);
}

#[test]
fn cycle_formulas() {
    let c = Config::STORIES260K;
    assert_eq!(cycles(&c, 512, 8, OP_ROPE, 0), 100);
    assert_eq!(cycles(&c, 512, 8, OP_KVSTORE, 0), 139);
    assert_eq!(cycles(&c, 512, 8, OP_ATTN, 0), 8 * (3 + 24 + 2 + 10) + 2);
    assert_eq!(cycles(&c, 512, 1, OP_ATTN, 0), 8 * (17 + 24 + 16 + 10) + 2);
    assert_eq!(cycles(&c, 512, 8, OP_ATTN, 512), 1);
}

fn cosim_tiny<const L: usize>(seed: u64) {
    let cfg = Config::TINY;
    let qm = quant(&cfg, seed);
    let verilog = emit_verilog(AttnUnitL::<L>::new(&qm));
    let mut tb = Tb::new(AttnUnitL::<L>::new(&qm), true, 9, 100);
    let mut g = golden_for(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for pos in 0..3 {
        for layer in [1, 0] {
            step(&mut tb, &mut g, &mut rng, layer, pos, true);
        }
    }
    // A refused start too.
    let r = tb.run(OP_ATTN, 0, cfg.seq_len);
    assert_eq!(r.cycles, 1);
    let trace = tb.d.take_trace().unwrap();
    eprintln!("L={L}: co-simulating {} cycles", trace.len());
    let dir = tempfile::tempdir().unwrap();
    run_icarus(&verilog, "top", &trace, dir.path())
        .expect("icarus")
        .assert_clean();
}

#[test]
fn attention_cosim_icarus_tiny() {
    cosim_tiny::<1>(21);
    cosim_tiny::<2>(22);
}

fn lint_unit<const L: usize>(name: &str, cfg: Config, ctx: Option<usize>) {
    let qm = quant(&cfg, 1);
    let unit = match ctx {
        Some(c) => AttnUnitL::<L>::with_context(&qm, c),
        None => AttnUnitL::<L>::new(&qm),
    };
    let dir = tempfile::tempdir().unwrap();
    let report = verilator_lint(
        &emit_verilog(unit),
        "top",
        Some(&default_waiver_file()),
        dir.path(),
    )
    .unwrap_or_else(|e| panic!("{name}: lint could not run: {e:#}"));
    assert!(
        report.clean,
        "{name} L={L}: verilator -Wall reported:\n{}",
        report.output
    );
}

#[test]
fn attention_verilator_lint() {
    lint_unit::<1>("tiny", Config::TINY, None);
    lint_unit::<4>("tiny", Config::TINY, None);
    lint_unit::<2>("odd", ODD, Some(40));
    lint_unit::<8>("stories260K", Config::STORIES260K, None);
    lint_unit::<1>("stories260K", Config::STORIES260K, Some(64));
}

// ---------------------------------------------------------------------------------------
// The unit's hand-written leaves, each against its own Verilog (and the golden numerics
// where it implements one of its functions), on random stimulus with edge cases. The
// unit-level co-simulation cannot hit rare cases such as exact rounding ties often.
// ---------------------------------------------------------------------------------------

mod leaves {
    use llamahdl_golden::numerics::{self, sat32, shift_round, to_block};
    use llamahdl_hw::attention::{
        AttnBases, Blocker, ExpW, LaneAcc, LaneDot, LaneMem, OutFin, Ram, Rope2, ScoreFin,
    };
    use llamahdl_hw::cosim::{emit_verilog, run_icarus};
    use llamahdl_hw::leaf::{i2s, s2i, u2b};
    use llamahdl_hw::sim::Driver;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rust_hdl::prelude::Block;

    fn cosim<B: Block>(verilog: String, d: &mut Driver<B>) {
        let trace = d.take_trace().unwrap();
        let dir = tempfile::tempdir().unwrap();
        run_icarus(&verilog, "top", &trace, dir.path())
            .expect("icarus")
            .assert_clean();
    }

    /// A signed `bits`-bit value, edge cases often.
    fn edge(rng: &mut ChaCha8Rng, bits: u32) -> i64 {
        let max = (1i64 << (bits - 1)) - 1;
        match rng.gen_range(0..8) {
            0 => max,
            1 => -max - 1,
            2 => 0,
            3 => rng.gen_range(-4..4),
            _ => rng.gen_range(-max - 1..=max),
        }
    }

    fn sext(v: u64, w: u32) -> i64 {
        ((v << (64 - w)) as i64) >> (64 - w)
    }

    #[test]
    fn rope2_matches_golden_and_verilog() {
        let mut d = Driver::new(Rope2::default(), |u, c| u.clock.next = c.into()).with_trace();
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        for _ in 0..3000 {
            let mut a = edge(&mut rng, 32);
            let mut b = edge(&mut rng, 32);
            let (c, s) = match rng.gen_range(0..4) {
                // Exact ties: y0 = a·1 − b·0, y1 = a·0 + b·1 with a, b ≡ 2^15 (mod 2^16).
                0 => {
                    a = (a & !0xFFFF) | 0x8000;
                    b = (b & !0xFFFF) | 0x8000;
                    (1, 0)
                }
                1 => (65536, 0),
                _ => (edge(&mut rng, 18), edge(&mut rng, 18)),
            };
            let en = rng.gen_bool(0.9);
            d.uut.en.next = en;
            d.uut.a.next = i2s::<32>(a);
            d.uut.b.next = i2s::<32>(b);
            d.uut.cs.next = u2b::<18>(c as u64);
            d.uut.sn.next = u2b::<18>(s as u64);
            d.tick();
            if en {
                let w0 = sat32(shift_round(a * c - b * s, -16));
                let w1 = sat32(shift_round(a * s + b * c, -16));
                assert_eq!(s2i(d.uut.y0.val()) as i32, w0, "{a} {b} {c} {s}");
                assert_eq!(s2i(d.uut.y1.val()) as i32, w1, "{a} {b} {c} {s}");
            }
        }
        cosim(emit_verilog(Rope2::default()), &mut d);
    }

    #[test]
    fn blocker_matches_to_block_and_verilog() {
        let mut d = Driver::new(Blocker::default(), |u, c| u.clock.next = c.into()).with_trace();
        let mut rng = ChaCha8Rng::seed_from_u64(32);
        for _ in 0..150 {
            let n = rng.gen_range(1..12);
            let wide = rng.gen_bool(0.5);
            let x: Vec<i32> = (0..n)
                .map(|_| match rng.gen_range(0..5) {
                    0 => edge(&mut rng, 32) as i32,
                    1 => {
                        // Rounding ties of the mantissa.
                        let s = rng.gen_range(1..20);
                        ((rng.gen_range(-1024i64..1024) << s) + (1 << (s - 1))) as i32
                    }
                    _ => (rng.gen_range(-1.0f64..1.0) * 10f64.powi(rng.gen_range(0..9))) as i32,
                })
                .collect();
            d.uut.wide.next = wide;
            for (j, &v) in x.iter().enumerate() {
                d.uut.en_scan.next = true;
                d.uut.first.next = j == 0;
                d.uut.en_q.next = false;
                d.uut.x.next = i2s::<32>(v as i64);
                d.tick();
            }
            d.uut.en_scan.next = false;
            d.settle();
            let want = to_block(&x, if wide { 15 } else { 10 });
            assert_eq!(d.uut.shift.val().index() as i32, want.shift, "{x:?}");
            for (j, &v) in x.iter().enumerate() {
                d.uut.en_q.next = true;
                d.uut.x.next = i2s::<32>(v as i64);
                d.tick();
                let y16 = sext(d.uut.y16.val().to_u64(), 16) as i32;
                let y11 = sext(d.uut.y11.val().to_u64(), 11) as i32;
                assert_eq!(y16, want.mant[j], "{x:?}");
                if !wide {
                    assert_eq!(y11, want.mant[j], "{x:?}");
                }
            }
            // Random noise on the controls between vectors.
            for _ in 0..rng.gen_range(0..3) {
                d.uut.en_q.next = rng.gen();
                d.uut.en_scan.next = rng.gen();
                d.uut.first.next = rng.gen();
                d.uut.x.next = i2s::<32>(edge(&mut rng, 32));
                d.tick();
            }
        }
        cosim(emit_verilog(Blocker::default()), &mut d);
    }

    #[test]
    fn lanes_score_out_match_verilog() {
        let mut rng = ChaCha8Rng::seed_from_u64(33);
        let mut d =
            Driver::new(LaneDot::<3>::default(), |u, c| u.clock.next = c.into()).with_trace();
        let mut acc = 0i64;
        for _ in 0..2000 {
            let (en, first) = (rng.gen_bool(0.8), rng.gen_bool(0.1));
            d.uut.en.next = en;
            d.uut.first.next = first;
            let mut s = 0;
            for j in 0..3 {
                let (q, k) = (edge(&mut rng, 16), edge(&mut rng, 11));
                d.uut.qa[j].next = u2b::<16>(q as u64);
                d.uut.kb[j].next = u2b::<11>(k as u64);
                s += q * k;
            }
            d.tick();
            if en {
                acc = if first { s } else { acc + s };
                assert_eq!(s2i(d.uut.acc.val()), acc);
            }
        }
        cosim(emit_verilog(LaneDot::<3>::default()), &mut d);

        let mut d =
            Driver::new(LaneAcc::<3>::default(), |u, c| u.clock.next = c.into()).with_trace();
        let (mut accs, mut sr) = ([0i64; 3], [0i64; 3]);
        for _ in 0..2000 {
            let (en, first, ld, sh) = (
                rng.gen_bool(0.8),
                rng.gen_bool(0.1),
                rng.gen_bool(0.1),
                rng.gen_bool(0.5),
            );
            let w = rng.gen_range(0..1i64 << 17);
            d.uut.en.next = en;
            d.uut.first.next = first;
            d.uut.ld.next = ld;
            d.uut.sh.next = sh;
            d.uut.w.next = u2b::<17>(w as u64);
            let vb: Vec<i64> = (0..3).map(|_| edge(&mut rng, 11)).collect();
            for j in 0..3 {
                d.uut.vb[j].next = u2b::<11>(vb[j] as u64);
            }
            d.tick();
            if ld {
                sr = accs;
            } else if sh {
                sr = [sr[1], sr[2], 0];
            }
            if en {
                for j in 0..3 {
                    accs[j] = if first { 0 } else { accs[j] } + w * vb[j];
                }
            }
            d.settle();
            assert_eq!(s2i(d.uut.so.val()), sr[0]);
        }
        cosim(emit_verilog(LaneAcc::<3>::default()), &mut d);

        let mut d = Driver::new(ScoreFin::default(), |u, c| u.clock.next = c.into()).with_trace();
        for _ in 0..3000 {
            let dot = if rng.gen_bool(0.2) {
                // A rounding tie at the shift in use.
                let k = rng.gen_range(1..17);
                (rng.gen_range(-1i64 << 30..1 << 30) << k) + (1 << (k - 1))
            } else {
                edge(&mut rng, 48)
            };
            let (sq, ks) = (rng.gen_range(0..32u64), rng.gen_range(0..32u64));
            let en = rng.gen_bool(0.9);
            d.uut.en.next = en;
            d.uut.first.next = rng.gen_bool(0.2);
            d.uut.dot.next = i2s::<48>(dot);
            d.uut.sq.next = u2b::<5>(sq);
            d.uut.ks.next = u2b::<5>(ks);
            d.uut.vs.next = u2b::<5>(rng.gen_range(0..32));
            d.tick();
            if en {
                let want = sat32(shift_round(dot, sq as i32 + ks as i32 - 16));
                assert_eq!(sext(d.uut.score.val().to_u64(), 32) as i32, want);
            }
        }
        cosim(emit_verilog(ScoreFin::default()), &mut d);

        let mut d = Driver::new(OutFin::default(), |u, c| u.clock.next = c.into()).with_trace();
        for _ in 0..3000 {
            let acc = if rng.gen_bool(0.5) {
                rng.gen_range(-1i64 << 42..1 << 42)
            } else {
                edge(&mut rng, 48)
            };
            let r = rng.gen_range(0..1u64 << 17);
            let (vmax, pz) = (rng.gen_range(0..32u64), rng.gen_range(0..32u64));
            let en = rng.gen_bool(0.9);
            d.uut.en.next = en;
            d.uut.acc.next = i2s::<48>(acc);
            d.uut.r.next = u2b::<17>(r);
            d.uut.vmax.next = u2b::<5>(vmax);
            d.uut.pz.next = u2b::<5>(pz);
            d.tick();
            if en && acc.abs() < 1 << 42 {
                let want = sat32(shift_round(acc * r as i64, vmax as i32 - 16 - pz as i32));
                assert_eq!(s2i(d.uut.y.val()) as i32, want);
            }
        }
        cosim(emit_verilog(OutFin::default()), &mut d);
    }

    #[test]
    fn expw_matches_exp_neg_and_verilog() {
        let tb = numerics::Tables::get();
        let mut rng = ChaCha8Rng::seed_from_u64(34);
        let mut d = Driver::new(ExpW::default(), |u, c| u.clock.next = c.into()).with_trace();
        // Streaming as the unit does: stage A in cycle c, the table word for its index in
        // cycle c + 2 together with stage B. Items: (mx, s, vs, vmax).
        let n = 3000;
        let items: Vec<(i64, i64, u64, u64)> = (0..n)
            .map(|_| {
                let mx = edge(&mut rng, 32);
                let s = match rng.gen_range(0..4) {
                    0 => mx,
                    1 => mx - rng.gen_range(0..(40i64 << 16)),
                    2 => edge(&mut rng, 32),
                    _ => mx - rng.gen_range(0..1000),
                }
                .max(i32::MIN as i64);
                let vs = rng.gen_range(0..23u64);
                let vmax = if rng.gen_bool(0.5) {
                    vs
                } else {
                    rng.gen_range(vs..32)
                };
                (mx, s, vs, vmax)
            })
            .collect();
        let mut z: u64 = 0;
        let mut idx_hist: Vec<usize> = vec![];
        for c in 0..n + 3 {
            // Stage A of item c.
            let a = items.get(c);
            d.uut.en_a.next = a.is_some();
            if let Some(&(mx, s, vs, _)) = a {
                d.uut.mx.next = u2b::<32>(mx as u64);
                d.uut.s.next = u2b::<32>(s as u64);
                d.uut.vs.next = u2b::<5>(vs);
            }
            // Stage B of item c − 2; the ROM answers the index registered by its stage A.
            let b = c
                .checked_sub(2)
                .and_then(|j| items.get(j).map(|it| (j, *it)));
            d.uut.en_b.next = b.is_some();
            d.uut.first_b.next = c == 2;
            if let Some((j, (_, _, _, vmax))) = b {
                d.uut.tbl.next = u2b::<17>(tb.exp2[idx_hist[j]] as u64);
                d.uut.vmax.next = u2b::<5>(vmax);
            } else {
                d.uut.tbl.next = u2b::<17>(rng.gen_range(0..1u64 << 17));
            }
            d.tick();
            if a.is_some() {
                idx_hist.push(d.uut.idx.val().index());
            }
            if let Some((_, (mx, s, vs, vmax))) = b {
                let e = numerics::exp_neg((mx - s).max(0)) as u64;
                let want_w = shift_round(e as i64, vs as i32 - vmax as i32) as u64;
                z += e;
                assert_eq!(
                    d.uut.w.val().to_u64(),
                    want_w,
                    "mx {mx} s {s} vs {vs} vmax {vmax}"
                );
                let (r, p) = numerics::recip(z);
                assert_eq!(tb.recip[d.uut.ridx.val().index()] as i64, r);
                assert_eq!(d.uut.pz.val().index() as i32, p);
            }
        }
        cosim(emit_verilog(ExpW::default()), &mut d);
    }

    #[test]
    fn ram_and_bases_match_verilog() {
        let mut rng = ChaCha8Rng::seed_from_u64(35);
        let mk = || Ram::<24, 11>::new(300);
        let mut d = Driver::new(mk(), |u, c| u.clock.next = c.into()).with_trace();
        let mut model = vec![0u64; 300];
        for _ in 0..3000 {
            let (wa, ra) = (rng.gen_range(0..320u64), rng.gen_range(0..320u64));
            let we = rng.gen_bool(0.5);
            let wd = rng.gen_range(0..1u64 << 11);
            d.uut.we.next = we;
            d.uut.waddr.next = u2b::<24>(wa);
            d.uut.wdata.next = u2b::<11>(wd);
            d.uut.raddr.next = u2b::<24>(ra);
            // Read-old-data: the word before this cycle's write; 0 past the depth.
            let expect = model.get(ra as usize).copied().unwrap_or(0);
            if we && (wa as usize) < 300 {
                model[wa as usize] = wd;
            }
            d.tick();
            assert_eq!(d.uut.rdata.val().to_u64(), expect);
        }
        cosim(emit_verilog(mk()), &mut d);

        let mk = || LaneMem::<3, 24, 11>::new(50);
        let mut d = Driver::new(mk(), |u, c| u.clock.next = c.into()).with_trace();
        let mut model = vec![[0u64; 3]; 50];
        for _ in 0..3000 {
            let (wa, ra) = (rng.gen_range(0..55u64), rng.gen_range(0..55u64));
            let (we, lane) = (rng.gen_bool(0.6), rng.gen_range(0..4u64));
            let wd = rng.gen_range(0..1u64 << 11);
            d.uut.we.next = we;
            d.uut.waddr.next = u2b::<24>(wa);
            d.uut.wlane.next = u2b::<8>(lane);
            d.uut.wdata.next = u2b::<11>(wd);
            d.uut.raddr.next = u2b::<24>(ra);
            let expect = model.get(ra as usize).copied().unwrap_or([0; 3]);
            if we && (wa as usize) < 50 && lane < 3 {
                model[wa as usize][lane as usize] = wd;
            }
            d.tick();
            for j in 0..3 {
                assert_eq!(d.uut.rdata[j].val().to_u64(), expect[j]);
            }
        }
        cosim(emit_verilog(mk()), &mut d);

        let mk = || AttnBases::new(5, 100, 32, 4, 8);
        let mut d = Driver::new(mk(), |u, c| u.clock.next = c.into()).with_trace();
        for _ in 0..500 {
            let l = rng.gen_range(0..8u64);
            let p = if rng.gen() {
                rng.gen_range(0..110u64)
            } else {
                rng.gen_range(0..1 << 16)
            };
            d.uut.layer.next = u2b::<8>(l);
            d.uut.pos.next = u2b::<16>(p);
            d.settle();
            assert_eq!(d.uut.pos_error.val(), p >= 100);
            assert_eq!(d.uut.bad.val(), p >= 100 || l >= 5);
            d.tick();
            if p < 100 && l < 5 {
                assert_eq!(d.uut.kv_pos.val().to_u64(), (l * 100 + p) * 32);
                assert_eq!(d.uut.sh_pos.val().to_u64(), (l * 100 + p) * 4);
                assert_eq!(d.uut.rope_base.val().to_u64(), p * 8);
            }
        }
        cosim(emit_verilog(mk()), &mut d);
    }
}
