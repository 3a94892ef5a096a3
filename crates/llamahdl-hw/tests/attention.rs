//! The attention unit `AttnUnit<A>` (as `AttnWithBank<A>`: with a lane multiplier bank of
//! its own): the QKV rows streamed into it (back-to-back and
//! randomly spaced) and the attention that follows, bit-exact with the golden model's
//! `rope`, `kv_store` and `attend` over sequences of positions and interleaved layers, for
//! several head-group sizes (all heads, partial groups, spare lanes, head_dim not dividing
//! the lane count: head_dim 48 on 64 lanes, the stories15M shape), on the real
//! stories260K model in the loop of a full forward pass (when `LLAMAHDL_MODELS` is set);
//! measured cycles = `cycles()`, the stream latency, refusal of positions past the context
//! and of layers past the model, co-simulation of the unit and of each hand-written leaf in
//! Icarus, Verilator lint.

mod common;
use common::on_big_stack;
use llamahdl_golden::golden::{attend, kv_store, rope, Golden as GoldenModel, KvCache};
use llamahdl_golden::numerics::{self, add_q16, mul_q16};
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::bits::{i2s, s2i, u2b};
use llamahdl_hw::cosim::{default_waiver_file, emit_verilog, run_icarus, verilator_lint};
use llamahdl_hw::leaf::XP;
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::attention::{
    chunks, cycles, heads_per_group, out_width, out_width_on, stream_latency, wait_cycles,
    AttnWithBank,
};
use llamahdl_model::{synth, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VM_WORDS: usize = 1 << 16;
const ODD: Config = Config::ODD;

fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

/// The unit, a behavioural vector memory taking its writes, and the ATT base.
struct Tb<const A: usize> {
    d: Driver<AttnWithBank<A>>,
    vm: Vec<i32>,
    att: usize,
}

/// What one run did.
struct OpRun {
    cycles: usize,
    writes: Vec<(usize, i32)>,
}

impl<const A: usize> Tb<A> {
    fn new(unit: AttnWithBank<A>, trace: bool, att: usize) -> Tb<A> {
        let mut d = Driver::new(unit, |u, c| u.clock.next = c.into());
        if trace {
            d = d.with_trace();
        }
        Tb {
            d,
            vm: vec![0; VM_WORDS],
            att,
        }
    }

    /// One cycle of the memory model around the unit; returns `done` of this cycle.
    fn cycle(&mut self, writes: &mut Vec<(usize, i32)>) -> bool {
        self.d.settle();
        let done = self.d.uut.done.val();
        let u = &self.d.uut;
        if u.vm_we.val() {
            let a = u.vm_waddr.val().index();
            let v = s2i(u.vm_wdata.val()) as i32;
            self.vm[a] = v;
            writes.push((a, v));
        }
        // K = XP outputs at once: element offsets `y_idx ..` from ATT (a multiple of XP).
        if u.y_we.val() {
            let i0 = u.y_idx.val().index();
            assert_eq!(i0 % XP, 0, "group write at element {i0}");
            assert!(!u.vm_we.val(), "both output ports in one cycle");
            for j in 0..XP {
                let a = self.att + i0 + j;
                let v = s2i(u.y_data[j].val()) as i32;
                self.vm[a] = v;
                writes.push((a, v));
            }
        }
        self.d.tick_settled();
        done
    }

    /// Pulse start at (`layer`, `pos`) with no stream; run until `done`. Returns the
    /// cycles from start to done.
    fn run(&mut self, layer: usize, pos: usize) -> OpRun {
        let u = &mut self.d.uut;
        u.att.next = u2b::<16>(self.att as u64);
        u.layer.next = u2b::<8>(layer as u64);
        u.pos.next = u2b::<16>(pos as u64);
        u.start.next = true;
        let mut writes = vec![];
        let mut n = 0usize;
        loop {
            let done = self.cycle(&mut writes);
            self.d.uut.start.next = false;
            if done {
                break;
            }
            n += 1;
            assert!(n < 4_000_000, "attention never finished");
        }
        // Idle afterwards: no stray activity.
        for _ in 0..2 {
            let done = self.cycle(&mut writes);
            assert!(!done, "done pulsed twice");
        }
        OpRun { cycles: n, writes }
    }

    /// Stream the QKV rows `qkv` at (`layer`, `pos`): `gaps[r]` idle cycles before row `r`,
    /// `st_en` high from the first of them through `en_tail` cycles after the last row
    /// (`st_row` / `st_data` random when not valid, `st_valid` random once `st_en` is low).
    /// With `attn = Some(d)`, `start` is pulsed `d` cycles after the last row's cycle (`d`
    /// may be negative: during the stream) and the run ends with its `done`; without, it
    /// ends after the stream's last cycle. Returns the attention's cycles from start to
    /// done (0 without) and all vector-memory writes (nothing but the attention may write).
    fn stream(
        &mut self,
        rng: &mut ChaCha8Rng,
        qkv: &[i32],
        layer: usize,
        pos: usize,
        gaps: &[usize],
        en_tail: usize,
        attn: Option<i64>,
    ) -> OpRun {
        assert_eq!(gaps.len(), qkv.len());
        let mut sched: Vec<Option<usize>> = vec![];
        for (r, &gp) in gaps.iter().enumerate() {
            sched.extend(std::iter::repeat_n(None, gp));
            sched.push(Some(r));
        }
        let last = sched.len() - 1;
        sched.extend(std::iter::repeat_n(None, en_tail));
        let start_at = attn.map(|d| {
            let s = last as i64 + d;
            assert!(s >= 0);
            s as usize
        });
        let u = &mut self.d.uut;
        u.layer.next = u2b::<8>(layer as u64);
        u.pos.next = u2b::<16>(pos as u64);
        u.att.next = u2b::<16>(self.att as u64);
        let mut writes = vec![];
        let mut cyc = 0usize;
        let mut n = 0usize;
        loop {
            let u = &mut self.d.uut;
            let row = sched.get(cyc).copied().flatten();
            u.st_en.next = cyc < sched.len();
            u.st_valid.next = row.is_some() || (cyc >= sched.len() && rng.gen_bool(0.3));
            u.st_row.next = u2b::<16>(row.map_or(rng.gen_range(0..1u64 << 16), |r| r as u64));
            u.st_data.next = i2s::<32>(row.map_or(rng.gen::<i32>(), |r| qkv[r]) as i64);
            u.start.next = start_at == Some(cyc);
            let before = writes.len();
            let done = self.cycle(&mut writes);
            if start_at.is_none_or(|s| cyc < s) {
                assert_eq!(writes.len(), before, "write before the start (cycle {cyc})");
                assert!(!done, "done without a start");
            }
            if let Some(s) = start_at {
                if done {
                    n = cyc - s;
                    break;
                }
                assert!(cyc < s + 4_000_000, "attention never finished");
            } else if cyc + 1 >= sched.len() {
                break;
            }
            cyc += 1;
        }
        let u = &mut self.d.uut;
        u.st_en.next = false;
        u.st_valid.next = false;
        u.start.next = false;
        if attn.is_some() {
            for _ in 0..2 {
                assert!(!self.cycle(&mut writes), "done pulsed twice");
            }
        }
        OpRun { cycles: n, writes }
    }

    fn pos_error(&mut self, pos: usize) -> bool {
        self.d.uut.pos.next = u2b::<16>(pos as u64);
        self.d.settle();
        self.d.uut.pos_error.val()
    }
}

/// A Q16.16 vector with realistic magnitudes and, now and then, edge cases: zeros, a
/// single large element, saturated extremes, rounding boundaries.
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
            for x in v.iter_mut() {
                let s = rng.gen_range(1..12);
                *x = (rng.gen_range(-1023i32..1023) << s) + (1 << (s - 1));
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

fn golden_for(qm: &QuantModel) -> Golden {
    Golden {
        cfg: qm.config,
        table: qm.rope.clone(),
        caches: vec![KvCache::default(); qm.config.n_layers],
    }
}

/// How a stream's rows are spaced.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Spacing {
    /// One row per cycle.
    BackToBack,
    /// 0-3 idle cycles before each row.
    Random,
}

fn make_gaps(rng: &mut ChaCha8Rng, n: usize, sp: Spacing) -> Vec<usize> {
    (0..n)
        .map(|_| match sp {
            Spacing::BackToBack => 0,
            Spacing::Random => rng.gen_range(0..4),
        })
        .collect()
}

/// The QKV vector after golden RoPE (q and k).
fn rotated(g: &Golden, qkv: &[i32], pos: usize) -> Vec<i32> {
    let c = g.cfg;
    let (dim, kvd, hd) = (c.dim, c.kv_dim(), c.head_dim());
    let mut want = qkv.to_vec();
    let (q, rest) = want.split_at_mut(dim);
    rope(q, &g.table, pos, hd);
    rope(&mut rest[..kvd], &g.table, pos, hd);
    want
}

/// The cache word of (`layer`, `pos`) equals the golden cache's.
fn check_cache<const A: usize>(tb: &Tb<A>, g: &Golden, layer: usize, pos: usize, what: &str) {
    let c = g.cfg;
    let (kvd, nkv) = (c.kv_dim(), c.n_kv_heads);
    let gc = &g.caches[layer];
    let (km, ksh, vm, vsh) = tb.d.uut.peek_cache(layer, pos);
    assert_eq!(
        km,
        gc.k[pos * kvd..(pos + 1) * kvd],
        "{what}: k l{layer} p{pos}"
    );
    assert_eq!(
        vm,
        gc.v[pos * kvd..(pos + 1) * kvd],
        "{what}: v l{layer} p{pos}"
    );
    assert_eq!(
        ksh,
        gc.k_shift[pos * nkv..(pos + 1) * nkv],
        "{what}: ks l{layer} p{pos}"
    );
    assert_eq!(
        vsh,
        gc.v_shift[pos * nkv..(pos + 1) * nkv],
        "{what}: vs l{layer} p{pos}"
    );
}

/// One layer at `pos` through the stream path: the pre-RoPE `qkv` streamed (spacing `sp`,
/// `st_en` held 0-1 cycles past the last row), then the attention started `delay` cycles
/// after the last row. Checks the cache word against golden `kv_store` of the rotated k and
/// v, the ATT writes against golden `attend` of the rotated q, and (for `delay >= 2`) the
/// cycles against `cycles`. Returns the attention's cycles and output.
#[allow(clippy::too_many_arguments)]
fn stream_step_with<const A: usize>(
    tb: &mut Tb<A>,
    g: &mut Golden,
    rng: &mut ChaCha8Rng,
    qkv: &[i32],
    layer: usize,
    pos: usize,
    sp: Spacing,
    delay: i64,
) -> (usize, Vec<i32>) {
    let c = g.cfg;
    let dim = c.dim;
    let kvd = c.kv_dim();
    let gaps = make_gaps(rng, qkv.len(), sp);
    let en_tail = rng.gen_range(0..2);
    let r = tb.stream(rng, qkv, layer, pos, &gaps, en_tail, Some(delay));
    let want = rotated(g, qkv, pos);
    kv_store(
        &mut g.caches[layer],
        &c,
        &want[dim..dim + kvd],
        &want[dim + kvd..],
        pos,
    );
    check_cache(tb, g, layer, pos, "stream");
    let want_att = attend(&g.caches[layer], &c, &want[..dim], pos);
    assert_eq!(
        &tb.vm[tb.att..tb.att + dim],
        &want_att[..],
        "attention layer {layer} pos {pos} ({sp:?}, delay {delay})"
    );
    assert_eq!(r.writes.len(), dim, "attention writes");
    let mut order: Vec<usize> = r.writes.iter().map(|&(ad, _)| ad).collect();
    order.sort_unstable();
    assert_eq!(order, (tb.att..tb.att + dim).collect::<Vec<_>>());
    let f = tb.d.uut.cycles(pos);
    if delay >= 2 {
        assert_eq!(
            r.cycles, f,
            "attention cycles at {pos} (delay {delay}, {sp:?})"
        );
    } else {
        assert!(r.cycles >= f, "early attention: {} < {f}", r.cycles);
    }
    (r.cycles, want_att)
}

fn random_qkv(rng: &mut ChaCha8Rng, c: &Config) -> Vec<i32> {
    let mut qkv = random_vec(rng, c.dim);
    qkv.extend(random_vec(rng, c.kv_dim()));
    qkv.extend(random_vec(rng, c.kv_dim()));
    qkv
}

/// Stream `qkv` at (`layer`, `pos`) with no attention, wait until its cache word is
/// written and check it against golden `kv_store` of the rotated k and v.
fn store_only<const A: usize>(
    tb: &mut Tb<A>,
    g: &mut Golden,
    rng: &mut ChaCha8Rng,
    qkv: &[i32],
    layer: usize,
    pos: usize,
    sp: Spacing,
) {
    let c = g.cfg;
    let (dim, kvd) = (c.dim, c.kv_dim());
    let gaps = make_gaps(rng, qkv.len(), sp);
    let r = tb.stream(rng, qkv, layer, pos, &gaps, 0, None);
    assert!(r.writes.is_empty(), "a stream wrote the vector memory");
    let mut w = vec![];
    for _ in 0..stream_latency(&c) {
        tb.cycle(&mut w);
    }
    assert!(w.is_empty());
    let want = rotated(g, qkv, pos);
    kv_store(
        &mut g.caches[layer],
        &c,
        &want[dim..dim + kvd],
        &want[dim + kvd..],
        pos,
    );
    check_cache(tb, g, layer, pos, "store");
}

/// Positions 0..npos, each through every layer (in a shuffled order): back-to-back and
/// randomly spaced rows, the attention 2-9 cycles after the last row, now and then earlier
/// (during the stream or right after it), sometimes a stream with no attention; one shared
/// cache. Returns the attention cycles of the on-time starts.
fn run_stream_shape<const A: usize>(
    cfg: &Config,
    seed: u64,
    npos: usize,
    ctx: Option<usize>,
) -> Vec<(usize, usize)> {
    let qm = quant(cfg, seed);
    let unit = match ctx {
        Some(c) => AttnWithBank::<A>::with_context(&qm, c),
        None => AttnWithBank::<A>::new(&qm),
    };
    let mut tb = Tb::new(unit, false, 41 + cfg.dim + 2 * cfg.kv_dim() + 5);
    let mut g = golden_for(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(seed * 13 + 5);
    let mut out = vec![];
    for pos in 0..npos {
        let mut layers: Vec<usize> = (0..cfg.n_layers).collect();
        for i in (1..layers.len()).rev() {
            layers.swap(i, rng.gen_range(0..=i));
        }
        for l in layers {
            let qkv = random_qkv(&mut rng, cfg);
            let sp = if rng.gen() {
                Spacing::BackToBack
            } else {
                Spacing::Random
            };
            if rng.gen_range(0..8) == 0 {
                store_only(&mut tb, &mut g, &mut rng, &qkv, l, pos, sp);
                continue;
            }
            let delay = match rng.gen_range(0..10) {
                0 => -(rng.gen_range(0..6)),
                1 => rng.gen_range(0..2),
                2..=5 => 2,
                _ => rng.gen_range(3..10),
            };
            let (n, _) = stream_step_with(&mut tb, &mut g, &mut rng, &qkv, l, pos, sp, delay);
            if delay >= 2 {
                out.push((pos, n));
            }
        }
    }
    out
}

#[test]
fn tiny_bit_exact_and_cycles() {
    let cfg = Config::TINY;
    // hd 4, 4 heads over 2 kv heads: G = 4 (all), 2, 3 (groups of 3 + 1), 1. XP does not
    // divide head_dim: one output per cycle, to the vector memory port.
    assert_eq!(out_width(&cfg), 1);
    assert_eq!(
        [16, 8, 12, 4].map(|a| heads_per_group(&cfg, a)),
        [4, 2, 3, 1]
    );
    // One group of 4 heads; two groups of 2 (q of both held in the bank).
    let c = run_stream_shape::<16>(&cfg, 31, cfg.seq_len, None);
    assert!(c.len() >= cfg.seq_len, "too few on-time starts");
    for (pos, n) in c {
        assert_eq!(n, wait_cycles(&cfg) + 15 + 2 * (pos + 1) + 25 + 16);
    }
    for (pos, n) in run_stream_shape::<8>(&cfg, 32, cfg.seq_len, None) {
        assert_eq!(n, wait_cycles(&cfg) + 15 + 2 * (2 * (pos + 1) + 25) + 1 + 8);
    }
    // Groups of 3 + 1; four groups of 1.
    for (pos, n) in run_stream_shape::<12>(&cfg, 33, 10, None) {
        assert_eq!(n, wait_cycles(&cfg) + 15 + 2 * (2 * (pos + 1) + 25) + 1 + 4);
    }
    for (pos, n) in run_stream_shape::<4>(&cfg, 6, 8, None) {
        assert_eq!(n, wait_cycles(&cfg) + 15 + 4 * (2 * (pos + 1) + 25) + 3 + 4);
    }
}

#[test]
fn odd_shape_bit_exact() {
    // hd 8, 6 heads over 2 kv heads (kv_mul 3): all 6 heads at once; 3 groups of 2; 4 + 2;
    // 6 with spare lanes (A = 64); 6 groups of 1 (A = 8). XP = 8 outputs per cycle (one item per head), on the
    // group port.
    assert_eq!(out_width(&ODD), XP);
    run_stream_shape::<48>(&ODD, 34, 24, None);
    run_stream_shape::<16>(&ODD, 35, 20, Some(30));
    run_stream_shape::<32>(&ODD, 36, 8, None);
    // One head per group, one output item per group: the output sequencer never runs.
    for (pos, n) in run_stream_shape::<8>(&ODD, 39, 6, Some(8)) {
        assert_eq!(n, cycles(&ODD, 8, 8, pos));
        let s = 2 * (pos + 1) + 25;
        assert_eq!(n, wait_cycles(&ODD) + 15 + 5 * (1 + s) + s + 1);
    }
    for (pos, n) in run_stream_shape::<64>(&ODD, 8, 10, Some(40)) {
        assert_eq!(n, cycles(&ODD, 40, 64, pos));
        assert_eq!(
            n,
            wait_cycles(&ODD) + 15 + 2 * (pos + 1) + 25 + ODD.dim / XP
        );
    }
}

#[test]
fn stories260k_synthetic_bit_exact_and_cycles() {
    let cfg = Config::STORIES260K;
    assert_eq!(out_width(&cfg), XP);
    for (pos, n) in run_stream_shape::<64>(&cfg, 37, 12, None) {
        assert_eq!(n, 2 * (pos + 1) + 70, "attention cycles at {pos}");
    }
    for (pos, n) in run_stream_shape::<32>(&cfg, 38, 4, None) {
        assert_eq!(
            n,
            cycles(&cfg, cfg.seq_len, 32, pos),
            "attention cycles at {pos} (32 lanes)"
        );
    }
}

/// The end of the full 512-position context of stories260K, A = 64 (earlier positions are
/// streamed into the cache without attention, except 127, to keep the test short); prints
/// the cycles at positions 0, 127 and 511.
#[test]
fn stories260k_end_of_context() {
    let cfg = Config::STORIES260K;
    let qm = quant(&cfg, 12);
    let mut tb = Tb::new(AttnWithBank::<64>::new(&qm), false, 3000);
    let mut g = golden_for(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let layer = 3;
    let mut at = vec![];
    for pos in 0..cfg.seq_len {
        let qkv = random_qkv(&mut rng, &cfg);
        if pos == 0 || pos == 127 || pos + 3 >= cfg.seq_len {
            let sp = if pos % 2 == 0 {
                Spacing::BackToBack
            } else {
                Spacing::Random
            };
            let (n, _) = stream_step_with(&mut tb, &mut g, &mut rng, &qkv, layer, pos, sp, 2);
            if pos == 0 || pos == 127 || pos == 511 {
                at.push((pos, n));
            }
        } else {
            store_only(
                &mut tb,
                &mut g,
                &mut rng,
                &qkv,
                layer,
                pos,
                Spacing::BackToBack,
            );
        }
    }
    for (pos, n) in &at {
        println!("stories260K A=64 pos {pos}: attention {n} cycles");
    }
    assert_eq!(at, [(0, 72), (127, 326), (511, 1094)]);
    assert!(tb.pos_error(cfg.seq_len));
    assert!(!tb.pos_error(cfg.seq_len - 1));
}

/// The real stories260K model (LLAMAHDL_MODELS): every layer's QKV projection streamed
/// into the unit (A = 64, randomly spaced or back-to-back rows), the attention 2 cycles
/// after the last row, each checked against the golden functions, and the logits equal to
/// the golden model's.
#[test]
fn real_stories260k_in_the_forward_pass() {
    let Some(ck) = llamahdl_model::testutil::stories260k() else {
        println!("SKIPPED (not run): LLAMAHDL_MODELS is not set (stories260K forward pass)");
        return;
    };
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    let c = qm.config;
    let mut tb = Tb::new(AttnWithBank::<64>::new(&qm), false, 2000);
    let mut g = golden_for(&qm);
    let mut reference = GoldenModel::new(qm.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let tokens = [1u32, 403, 407, 261, 378, 432, 259, 300, 291, 285, 13, 284];
    let npos = 40;
    for pos in 0..npos {
        let token = tokens[pos % tokens.len()];
        let mut x = qm.embedding.row_q16(token as usize);
        for (l, layer) in qm.layers.iter().enumerate() {
            let xb = numerics::rmsnorm(&x, &layer.rms_att.mant, layer.rms_att.exp);
            let qkv = layer.wqkv.matvec(&xb);
            let sp = if pos % 2 == 0 {
                Spacing::Random
            } else {
                Spacing::BackToBack
            };
            let (n, att) = stream_step_with(&mut tb, &mut g, &mut rng, &qkv, l, pos, sp, 2);
            assert_eq!(n, 2 * (pos + 1) + 70, "attention cycles at {pos}");
            let o = layer.wo.matvec(&att);
            for (xi, oi) in x.iter_mut().zip(o) {
                *xi = add_q16(*xi, oi);
            }
            let xb = numerics::rmsnorm(&x, &layer.rms_ffn.mant, layer.rms_ffn.exp);
            let h1 = layer.w1.matvec(&xb);
            let h3 = layer.w3.matvec(&xb);
            let hb: Vec<i32> = h1
                .iter()
                .zip(&h3)
                .map(|(&a, &b)| mul_q16(numerics::silu(a), b))
                .collect();
            let y = layer.w2.matvec(&hb);
            for (xi, yi) in x.iter_mut().zip(y) {
                *xi = add_q16(*xi, yi);
            }
        }
        let xf = numerics::rmsnorm(&x, &qm.rms_final.mant, qm.rms_final.exp);
        let logits = qm.classifier().matvec(&xf);
        let want = reference.forward_q16(token, pos).unwrap();
        assert_eq!(&logits[..], want, "logits at position {pos}");
    }
    println!(
        "stories260K (real weights): {npos} positions x {} layers bit-exact; attention at pos {}: {} cycles",
        c.n_layers,
        npos - 1,
        cycles(&c, c.seq_len, 64, npos - 1)
    );
}

/// Starts at positions past the context or layers past the model (with no stream) take
/// one cycle and change nothing; the unit works normally afterwards.
#[test]
fn refuses_positions_past_the_context() {
    let cfg = Config::TINY;
    let qm = quant(&cfg, 4);
    let ctx = 6;
    let mut tb = Tb::new(AttnWithBank::<8>::with_context(&qm, ctx), false, 200);
    let mut g = golden_for(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for pos in 0..ctx {
        for layer in [1, 0] {
            let qkv = random_qkv(&mut rng, &cfg);
            stream_step_with(
                &mut tb,
                &mut g,
                &mut rng,
                &qkv,
                layer,
                pos,
                Spacing::Random,
                2,
            );
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
        let r = tb.run(1, pos);
        assert_eq!(r.cycles, 1, "refusal takes one cycle");
        assert_eq!(tb.d.uut.cycles(pos), 1);
        assert!(r.writes.is_empty(), "refused start wrote");
    }
    for layer in [cfg.n_layers, 200] {
        let r = tb.run(layer, 1);
        assert_eq!((r.cycles, r.writes.len()), (1, 0), "layer past the model");
    }
    assert!(tb.vm == snapshot, "vector memory changed");
    let after: Vec<_> = (0..cfg.n_layers)
        .flat_map(|l| (0..ctx).map(move |p| (l, p)))
        .map(|(l, p)| tb.d.uut.peek_cache(l, p))
        .collect();
    assert!(after == caches, "cache changed");
    // Still works afterwards: attention on the cached positions (q of the last stream).
    let r = tb.run(0, ctx - 1);
    assert_eq!(r.cycles, tb.d.uut.cycles(ctx - 1));
    assert_eq!(r.writes.len(), cfg.dim);
    let qkv = random_qkv(&mut rng, &cfg);
    stream_step_with(
        &mut tb,
        &mut g,
        &mut rng,
        &qkv,
        1,
        ctx - 1,
        Spacing::BackToBack,
        2,
    );
}

#[test]
fn cycle_formulas() {
    let c = Config::STORIES260K;
    assert_eq!(wait_cycles(&c), 22);
    assert_eq!(stream_latency(&c), 25);
    // Eight outputs per cycle (head_dim 8): the output pass of 64 outputs takes 8 cycles.
    assert_eq!(out_width(&c), 8);
    assert_eq!(cycles(&c, 512, 64, 0), 72);
    assert_eq!(cycles(&c, 512, 64, 127), 326);
    assert_eq!(cycles(&c, 512, 64, 511), 1094);
    assert_eq!(cycles(&c, 512, 64, 512), 1);
    assert_eq!(cycles(&c, 96, 64, 96), 1);
    // Two groups of 4 heads with 32 lanes (4 output items each).
    assert_eq!(cycles(&c, 512, 32, 9), 22 + 15 + 1 + 2 * (20 + 25) + 4);
    // 32 lanes: group 0's 4 output items drain during group 1's passes: 4·P + 92.
    assert_eq!(cycles(&c, 512, 32, 127), 4 * 128 + 92);
    assert_eq!(cycles(&c, 512, 32, 511), 4 * 512 + 92);
    assert_eq!(cycles(&c, 512, 32, 0), 4 + 92);
    // One output per cycle where XP does not divide head_dim (TINY: head_dim 4): one group
    // of 4 heads (16 lanes), the 16 outputs one by one; two groups of 2 (8 lanes), group
    // 0's 8 outputs drain during group 1's passes.
    let t = Config::TINY;
    assert_eq!(out_width(&t), 1);
    assert_eq!(cycles(&t, 8, 16, 0), wait_cycles(&t) + 15 + 27 + 16);
    assert_eq!(cycles(&t, 8, 8, 0), wait_cycles(&t) + 15 + 1 + 2 * 27 + 8);
    // The per-position slope: 2 cycles per cached position per layer and head group.
    assert_eq!(cycles(&c, 512, 64, 101) - cycles(&c, 512, 64, 100), 2);
    assert_eq!(cycles(&c, 512, 32, 101) - cycles(&c, 512, 32, 100), 4);
    // stories15M (head_dim 48) on 64 lanes: six groups of one head, 6 output items each.
    let s = Config::STORIES15M;
    assert_eq!((heads_per_group(&s, 64), out_width(&s)), (1, XP));
    assert_eq!(cycles(&s, 256, 64, 0), 250);
    assert_eq!(cycles(&s, 256, 64, 255), 3310);
    assert_eq!(cycles(&s, 256, 64, 100), 12 * 101 + 238);
    // Heads split into chunks (the module docs' closed forms): stories15M on 32 lanes
    // (chunks of 32 + 16, 4 + 2 output items), Llama 2 7B on 64 lanes (two chunks of 64,
    // 8 items each; measured in `head_split_into_chunks_bit_exact` on smaller shapes).
    assert_eq!(chunks(&s, 32), 2);
    assert_eq!(cycles(&s, 256, 32, 0), 360);
    assert_eq!(cycles(&s, 256, 32, 255), 6480);
    let l7 = Config::LLAMA2_7B;
    assert_eq!((chunks(&l7, 64), heads_per_group(&l7, 64)), (2, 1));
    for p in [0, 1, 63, 4095] {
        assert_eq!(cycles(&l7, 4096, 64, p), 128 * (p + 1) + 1540);
    }
}

/// The cache word is written exactly `stream_latency` cycles after the last row (checked
/// cycle by cycle), for back-to-back and spaced rows; a stream at a position past the
/// context or a layer past the model writes nothing (and an attention there is refused);
/// the unit works normally afterwards.
fn stream_latency_and_refusal<const A: usize>(cfg: &Config, ctx: usize, seed: u64) {
    let qm = quant(cfg, seed);
    let mut tb = Tb::new(AttnWithBank::<A>::with_context(&qm, ctx), false, 400);
    let mut g = golden_for(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let lat = stream_latency(cfg);
    let peek_all = |tb: &Tb<A>| -> Vec<_> {
        (0..cfg.n_layers)
            .flat_map(|l| (0..ctx).map(move |p| (l, p)))
            .map(|(l, p)| tb.d.uut.peek_cache(l, p))
            .collect()
    };
    for pos in 0..4 {
        for layer in 0..cfg.n_layers {
            let n = cfg.dim + 2 * cfg.kv_dim();
            let qkv: Vec<i32> = (0..n)
                .map(|_| rng.gen_range(-(5 << 16)..(5 << 16)))
                .collect();
            let sp = if (pos + layer) % 2 == 0 {
                Spacing::BackToBack
            } else {
                Spacing::Random
            };
            let gaps = make_gaps(&mut rng, n, sp);
            let old = tb.d.uut.peek_cache(layer, pos);
            let r = tb.stream(&mut rng, &qkv, layer, pos, &gaps, 0, None);
            assert!(r.writes.is_empty());
            // The last row was in the last cycle run; the word is written at the end of
            // cycle last + lat.
            let mut w = vec![];
            for k in 1..lat {
                tb.cycle(&mut w);
                assert!(
                    tb.d.uut.peek_cache(layer, pos) == old,
                    "cache written early ({k} cycles after the last row)"
                );
            }
            tb.cycle(&mut w);
            let want = rotated(&g, &qkv, pos);
            let (dim, kvd) = (cfg.dim, cfg.kv_dim());
            kv_store(
                &mut g.caches[layer],
                cfg,
                &want[dim..dim + kvd],
                &want[dim + kvd..],
                pos,
            );
            assert!(tb.d.uut.peek_cache(layer, pos) != old, "weak check");
            check_cache(&tb, &g, layer, pos, "latency");
            assert!(w.is_empty());
        }
    }
    // Refused streams: past the context, past the model's layers.
    let snapshot = peek_all(&tb);
    let vm = tb.vm.clone();
    for (layer, pos) in [
        (0, ctx),
        (1, ctx + 3),
        (1, 0xFFFF),
        (cfg.n_layers, 2),
        (200, 0),
    ] {
        let qkv = random_qkv(&mut rng, cfg);
        let gaps = make_gaps(&mut rng, qkv.len(), Spacing::Random);
        let r = tb.stream(&mut rng, &qkv, layer, pos, &gaps, 1, Some(2));
        assert_eq!((r.cycles, r.writes.len()), (1, 0), "attention refused");
        for _ in 0..lat + 4 {
            tb.cycle(&mut vec![]);
        }
        assert!(peek_all(&tb) == snapshot, "refused stream wrote the cache");
        assert!(tb.vm == vm);
    }
    // Still works: the next positions through the stream.
    for pos in 4..6 {
        for layer in 0..cfg.n_layers {
            let qkv = random_qkv(&mut rng, cfg);
            stream_step_with(
                &mut tb,
                &mut g,
                &mut rng,
                &qkv,
                layer,
                pos,
                Spacing::Random,
                2,
            );
        }
    }
}

#[test]
fn stream_latency_and_refusal_all_shapes() {
    stream_latency_and_refusal::<8>(&Config::TINY, 10, 51);
    stream_latency_and_refusal::<16>(&ODD, 12, 52);
    stream_latency_and_refusal::<64>(&Config::STORIES260K, 20, 53);
}

/// Synthetic shapes with stories15M's head_dim, 48, which divides no power-of-two lane
/// count: two heads (one kv head each), and four query heads over two kv heads.
const HD48: Config = Config {
    dim: 96,
    hidden_dim: 128,
    n_layers: 2,
    n_heads: 2,
    n_kv_heads: 2,
    vocab_size: 64,
    seq_len: 16,
    shared_classifier: true,
};
const HD48_GQA: Config = Config {
    dim: 192,
    n_heads: 4,
    ..HD48
};

/// head_dim 24: five query heads over one kv head.
const HD24: Config = Config {
    dim: 120,
    n_heads: 5,
    n_kv_heads: 1,
    ..HD48
};

/// head_dim not dividing the lane count: `G = floor(A / head_dim)` heads per group, the
/// lanes from `G·head_dim` on unused. head_dim 48 on 64 lanes (one head per group, 16 idle
/// lanes; K = XP, six output items per head), with and without grouped-query attention;
/// head_dim 24 on 64 lanes (groups of 2 + 2 + 1, 16 idle lanes) and 32 lanes (8 idle);
/// head_dim 4 (K = 1) on 10 lanes (two groups of 2, 2 idle lanes), 14 lanes (groups of
/// 3 + 1, 2 idle lanes) and 6 lanes (four groups of 1).
#[test]
fn head_dim_not_dividing_lanes_bit_exact() {
    on_big_stack(|| {
        for (i, cfg) in [HD48, HD48_GQA].into_iter().enumerate() {
            assert_eq!(cfg.head_dim(), 48);
            assert_eq!(heads_per_group(&cfg, 64), 1);
            assert_eq!(out_width(&cfg), XP);
            let c = run_stream_shape::<64>(&cfg, 61 + i as u64, 10, None);
            assert!(c.len() >= 10, "too few on-time starts");
            for (pos, n) in c {
                let s = 2 * (pos + 1) + 25;
                assert_eq!(
                    n,
                    wait_cycles(&cfg) + 15 + (cfg.n_heads - 1) * (1 + s) + s + 6,
                    "{cfg:?} at {pos}"
                );
            }
        }
        // head_dim 24, five query heads over one kv head: groups of 2 + 2 + 1 on 64 lanes,
        // five groups of 1 on 32 lanes (16 and 8 idle lanes).
        assert_eq!(HD24.head_dim(), 24);
        assert_eq!([64, 32].map(|a| heads_per_group(&HD24, a)), [2, 1]);
        for (pos, n) in run_stream_shape::<64>(&HD24, 63, 10, None) {
            let s = 2 * (pos + 1) + 25;
            assert_eq!(n, wait_cycles(&HD24) + 15 + 2 * (1 + s) + s + 3);
        }
        for (pos, n) in run_stream_shape::<32>(&HD24, 67, 6, None) {
            let s = 2 * (pos + 1) + 25;
            assert_eq!(n, wait_cycles(&HD24) + 15 + 4 * (1 + s) + s + 3);
        }
    });
    let t = Config::TINY;
    assert_eq!([10, 14, 6].map(|a| heads_per_group(&t, a)), [2, 3, 1]);
    for (pos, n) in run_stream_shape::<10>(&t, 64, t.seq_len, None) {
        assert_eq!(n, wait_cycles(&t) + 15 + 2 * (2 * (pos + 1) + 25) + 1 + 8);
    }
    for (pos, n) in run_stream_shape::<14>(&t, 65, 10, None) {
        assert_eq!(n, wait_cycles(&t) + 15 + 2 * (2 * (pos + 1) + 25) + 1 + 4);
    }
    run_stream_shape::<6>(&t, 66, 6, None);
}

/// The stories15M shape (synthetic weights: head_dim 48, six heads, six layers) on 64
/// lanes with a 12-position cache: every layer streamed and attended at positions 0..6,
/// bit-exact, in `cycles()`.
#[test]
fn stories15m_shape_on_64_lanes() {
    on_big_stack(|| {
        let cfg = Config::STORIES15M;
        for (pos, n) in run_stream_shape::<64>(&cfg, 68, 6, Some(12)) {
            assert_eq!(n, 12 * (pos + 1) + 238, "attention cycles at {pos}");
        }
    });
}

/// head_dim 16 (C = 2 exact chunks on 8 lanes): four query heads over two kv heads.
const HD16_GQA: Config = Config {
    dim: 64,
    n_heads: 4,
    n_kv_heads: 2,
    ..HD48
};

/// Heads of more than `A` elements, each split into `C = ceil(head_dim / A)` chunks of
/// `A` lanes (one head per group): head_dim 48 on 32 lanes (C = 2, the last chunk
/// partial: 32 + 16 elements), with and without grouped-query attention; head_dim 16 on 8
/// lanes (C = 2 exact), four query heads over two kv heads; head_dim 24 on 8 lanes
/// (C = 3), five query heads over one kv head; head_dim 4 on 2 lanes (C = 2, one output
/// per cycle). Bit-exact with the golden model over several positions and both layers,
/// in `cycles()` (checked in every on-time run), and in the closed forms below: with
/// `P = pos + 1` the score pass of a head is `C·P` items plus its drain, each chunk's exp
/// pass `P` items plus its drain, and the chunk's output items drain during the next
/// chunk's exp pass.
#[test]
fn head_split_into_chunks_bit_exact() {
    on_big_stack(|| {
        for (i, cfg) in [HD48, HD48_GQA].into_iter().enumerate() {
            assert_eq!((chunks(&cfg, 32), heads_per_group(&cfg, 32)), (2, 1));
            assert_eq!(out_width_on(&cfg, 32), XP);
            let c = run_stream_shape::<32>(&cfg, 71 + i as u64, 8, None);
            assert!(c.len() >= 8, "too few on-time starts");
            for (pos, n) in c {
                // Per head: (3P + 25) score + exp of chunk 0 (4 items), P + 16 exp of
                // chunk 1 (2 items), one cycle each for the chunks' first items.
                let p = pos + 1;
                let want = wait_cycles(&cfg) + 16 + cfg.n_heads * (4 * p + 43);
                assert_eq!(n, want, "{cfg:?} at {pos}");
                assert_eq!(n, cycles(&cfg, cfg.seq_len, 32, pos));
            }
        }
    });
    assert_eq!(HD16_GQA.head_dim(), 16);
    assert_eq!(chunks(&HD16_GQA, 8), 2);
    for (pos, n) in run_stream_shape::<8>(&HD16_GQA, 73, 8, None) {
        // One output item per chunk.
        let p = pos + 1;
        assert_eq!(
            n,
            wait_cycles(&HD16_GQA) + 15 + 4 * (4 * p + 43),
            "at {pos}"
        );
    }
    assert_eq!(chunks(&HD24, 8), 3);
    for (pos, n) in run_stream_shape::<8>(&HD24, 74, 6, None) {
        // Score pass 3P items, three exp passes, one item per chunk.
        let p = pos + 1;
        assert_eq!(n, wait_cycles(&HD24) + 15 + 5 * (6 * p + 60), "at {pos}");
    }
    let t = Config::TINY;
    assert_eq!((chunks(&t, 2), out_width_on(&t, 2)), (2, 1));
    for (pos, n) in run_stream_shape::<2>(&t, 75, 8, None) {
        // Two outputs per chunk, one per cycle (the chunk's second while the next pass
        // runs).
        let p = pos + 1;
        assert_eq!(n, wait_cycles(&t) + 16 + 4 * (4 * p + 43), "at {pos}");
    }
}

/// stories260K's shape (head_dim 8) on 4 lanes: two chunks of 4, and one output per cycle
/// (`XP` = 8 does not divide 4 lanes); positions 0..4 of every layer.
#[test]
fn stories260k_shape_on_4_lanes() {
    let cfg = Config::STORIES260K;
    assert_eq!(
        (chunks(&cfg, 4), out_width(&cfg), out_width_on(&cfg, 4)),
        (2, XP, 1)
    );
    let c = run_stream_shape::<4>(&cfg, 76, 4, Some(8));
    assert!(!c.is_empty());
}

/// Heads split into chunks in Icarus and in Verilator (the same native trace, cycle by
/// cycle): head_dim 48 on 32 lanes (32 + 16), four query heads over two kv heads;
/// head_dim 16 on 8 lanes; head_dim 24 on 8 lanes (three chunks, one kv head); head_dim 4
/// on 2 lanes (one output per cycle).
#[test]
fn cosim_head_split_into_chunks() {
    fn both<const A: usize>(cfg: Config, ctx: usize, seed: u64) {
        let (verilog, trace) = cosim_trace::<A>(cfg, ctx, seed);
        let dir = tempfile::tempdir().unwrap();
        run_icarus(&verilog, "top", &trace, dir.path())
            .expect("icarus")
            .assert_clean();
        let dir = tempfile::tempdir().unwrap();
        llamahdl_hw::cosim::run_verilator(&verilog, "top", &trace, dir.path())
            .expect("verilator")
            .assert_clean();
    }
    on_big_stack(|| both::<32>(HD48_GQA, 6, 81));
    both::<8>(HD16_GQA, 5, 82);
    both::<8>(HD24, 4, 83);
    both::<2>(Config::TINY, 4, 84);
}

/// The whole unit in Icarus (`cfg` with a cache of `ctx` positions, at least 4): streams (back-to-back and spaced) with the attention at
/// positions 0-3 (early and on-time starts), a stream with no attention, a refused stream
/// and a refused start.
fn cosim_stream<const A: usize>(cfg: Config, ctx: usize, seed: u64) {
    let (verilog, trace) = cosim_trace::<A>(cfg, ctx, seed);
    let dir = tempfile::tempdir().unwrap();
    run_icarus(&verilog, "top", &trace, dir.path())
        .expect("icarus")
        .assert_clean();
}

/// The Verilog of the unit and the native trace of [`cosim_stream`]'s stimulus (checked
/// against the golden model on the way).
fn cosim_trace<const A: usize>(
    cfg: Config,
    ctx: usize,
    seed: u64,
) -> (String, llamahdl_hw::cosim::Trace) {
    let qm = quant(&cfg, seed);
    let verilog = emit_verilog(AttnWithBank::<A>::with_context(&qm, ctx));
    let mut tb = Tb::new(AttnWithBank::<A>::with_context(&qm, ctx), true, 100);
    let mut g = golden_for(&qm);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for pos in 0..4 {
        for layer in [1, 0] {
            let qkv = random_qkv(&mut rng, &cfg);
            let sp = if (pos + layer) % 2 == 0 {
                Spacing::BackToBack
            } else {
                Spacing::Random
            };
            if pos == 1 && layer == 0 {
                store_only(&mut tb, &mut g, &mut rng, &qkv, layer, pos, sp);
                continue;
            }
            let delay = if pos == 2 && layer == 1 { -3 } else { 2 };
            stream_step_with(&mut tb, &mut g, &mut rng, &qkv, layer, pos, sp, delay);
        }
    }
    let qkv = random_qkv(&mut rng, &cfg);
    let gaps = make_gaps(&mut rng, qkv.len(), Spacing::Random);
    let r = tb.stream(&mut rng, &qkv, 0, ctx, &gaps, 1, Some(2));
    assert_eq!(r.cycles, 1);
    let r = tb.run(cfg.n_layers, 0);
    assert_eq!(r.cycles, 1);
    let trace = tb.d.take_trace().unwrap();
    eprintln!(
        "A={A} dim {}: co-simulating {} cycles",
        cfg.dim,
        trace.len()
    );
    (verilog, trace)
}

#[test]
fn cosim_icarus_tiny() {
    let t = Config::TINY;
    cosim_stream::<16>(t, t.seq_len, 23); // one group
    cosim_stream::<8>(t, t.seq_len, 24); // two groups: q of both in the bank
    cosim_stream::<12>(t, t.seq_len, 22); // groups of 3 + 1 (lane routing by group, partial group)
}

/// The unit with XP outputs per cycle (head_dim 8) in Icarus: one group of 6 heads, and
/// groups of 4 + 2 (an output sequencer running during the next group's passes).
#[test]
fn cosim_icarus_wide_outputs() {
    cosim_stream::<48>(ODD, 8, 25);
    cosim_stream::<32>(ODD, 8, 26);
}

/// head_dim not dividing the lane count in Icarus: head_dim 48 on 64 lanes (one head per
/// group, 16 idle lanes), four query heads over two kv heads; head_dim 4 on 14 lanes
/// (groups of 3 + 1, 2 idle lanes, one output per cycle).
#[test]
fn cosim_icarus_head_dim_not_dividing_lanes() {
    on_big_stack(|| cosim_stream::<64>(HD48_GQA, 6, 27));
    cosim_stream::<14>(Config::TINY, 8, 28);
}

fn lint_unit<const A: usize>(name: &str, cfg: Config, ctx: Option<usize>) {
    let qm = quant(&cfg, 1);
    let unit = match ctx {
        Some(c) => AttnWithBank::<A>::with_context(&qm, c),
        None => AttnWithBank::<A>::new(&qm),
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
        "{name} A={A}: verilator -Wall reported:\n{}",
        report.output
    );
}

#[test]
fn verilator_lint_unit() {
    lint_unit::<16>("tiny", Config::TINY, None);
    lint_unit::<12>("tiny", Config::TINY, None);
    lint_unit::<32>("odd", ODD, Some(40));
    lint_unit::<64>("odd", ODD, Some(40));
    lint_unit::<64>("stories260K", Config::STORIES260K, None);
    on_big_stack(|| lint_unit::<64>("head_dim 48", HD48_GQA, None));
    lint_unit::<14>("tiny", Config::TINY, None);
    // Heads split into chunks.
    on_big_stack(|| lint_unit::<32>("head_dim 48 in 2 chunks", HD48_GQA, None));
    lint_unit::<8>("head_dim 24 in 3 chunks", HD24, None);
    lint_unit::<8>("head_dim 16 in 2 chunks", HD16_GQA, None);
    lint_unit::<2>("head_dim 4 in 2 chunks", Config::TINY, None);
}

// ---------------------------------------------------------------------------------------
// The hand-written leaves of the unit, each against its own Verilog on random stimulus
// (and against a behavioural model where that is short).
// ---------------------------------------------------------------------------------------

mod leaves {
    use llamahdl_hw::bits::{sext, u2b};
    use llamahdl_hw::cosim::emit_verilog;
    use llamahdl_hw::sim::Driver;
    use llamahdl_hw::units::attention::{AttnCore, KvCacheW, PosBases};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use llamahdl_hw::cosim::assert_driver_cosim as cosim;

    #[test]
    fn pos_bases_match_verilog() {
        let mut rng = ChaCha8Rng::seed_from_u64(41);
        let mk = || PosBases::new(5, 100, 8);
        let mut d = Driver::new(mk(), |u, c| u.clock.next = c.into()).with_trace();
        // The cache rows of the parameters of the cycle before the last (two stages).
        let mut prev: Option<(u64, u64)> = None;
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
                assert_eq!(d.uut.rope_base.val().to_u64(), p * 8);
            }
            if let Some((pl, pp)) = prev.filter(|&(pl, pp)| pp < 100 && pl < 5) {
                assert_eq!(d.uut.row_layer.val().to_u64(), pl * 100);
                assert_eq!(d.uut.row_pos.val().to_u64(), pl * 100 + pp);
            }
            prev = Some((l, p));
        }
        cosim(emit_verilog(mk()), &mut d);
    }

    /// The cache against a behavioural model (registered pushes, the commit two cycles
    /// later from the staging registers, read-old-data, routing by group) and its Verilog: heads of 2 elements, 4 query heads
    /// over 2 kv heads, G = 3 (groups of 3 + 1), A = 8 (2 spare lanes), depth 20, random
    /// out-of-range fields, addresses and groups; then a single-group cache (grp ignored).
    #[test]
    fn kv_cache_matches_model_and_verilog() {
        const A: usize = 8;
        let (depth, hd, nh, nkv, g) = (20usize, 2usize, 4usize, 2usize, 3usize);
        let kvd = nkv * hd;
        let mk = || KvCacheW::<A>::new(depth, hd, nh, nkv, g);
        let mut d = Driver::new(mk(), |u, c| u.clock.next = c.into()).with_trace();
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        // Model: memories and staging.
        let mut mem = vec![
            (
                vec![0u64; kvd],
                vec![0u64; kvd],
                vec![0u64; nkv],
                vec![0u64; nkv]
            );
            depth
        ];
        let mut st = (
            vec![0u64; kvd],
            vec![0u64; kvd],
            vec![0u64; nkv],
            vec![0u64; nkv],
        );
        // The block RAMs' read registers, then their fabric copies (the routing's input).
        let mut rd = st.clone();
        let mut rsel = false;
        let mut rgrp = 0u64;
        let mut rd2 = st.clone();
        let mut rsel2 = false;
        let mut rgrp2 = 0u64;
        // The registered pushes and the two-stage commit pipeline.
        let mut pr = (false, false, 0usize, 0u64);
        let mut spr = pr;
        let mut cr = (false, 0usize);
        let mut crr = cr;
        // The outputs of a cycle: the routing registered at the last edge.
        let mut want_prev = vec![(0u64, 0u64, 0u64); A];
        for cyc in 0..4000 {
            let push = rng.gen_bool(0.7);
            let pv = rng.gen_bool(0.5);
            let pf = rng.gen_range(0..kvd as u64 + 2);
            let pd = rng.gen_range(0..1u64 << 11);
            let spush = rng.gen_bool(0.3);
            let spv = rng.gen_bool(0.5);
            let sf = rng.gen_range(0..nkv as u64 + 1);
            let sd = rng.gen_range(0..32u64);
            let commit = rng.gen_bool(0.15);
            let wa = rng.gen_range(0..depth as u64 + 3);
            let ra = rng.gen_range(0..depth as u64 + 3);
            let rv = rng.gen_bool(0.5);
            let grp = rng.gen_range(0..3u64);
            let u = &mut d.uut;
            u.push.next = push;
            u.pv.next = pv;
            u.pfield.next = u2b::<16>(pf);
            u.pdata.next = u2b::<11>(pd);
            u.spush.next = spush;
            u.spv.next = spv;
            u.sfield.next = u2b::<8>(sf);
            u.sdata.next = u2b::<5>(sd);
            u.commit.next = commit;
            u.waddr.next = u2b::<24>(wa);
            u.raddr.next = u2b::<24>(ra);
            u.rv.next = rv;
            u.grp.next = u2b::<8>(grp);
            d.settle();
            // Outputs of this cycle: the word read three cycles ago, routed for the grp of
            // its read (registered at the last edge).
            for j in 0..A {
                let (m, ks, vs) = want_prev[j];
                assert_eq!(d.uut.mant[j].val().to_u64(), m, "cycle {cyc} lane {j}");
                assert_eq!(d.uut.ksh[j].val().to_u64(), ks);
                assert_eq!(d.uut.vsh[j].val().to_u64(), vs);
            }
            assert_eq!(d.uut.wbusy.val(), commit | cr.0, "cycle {cyc} wbusy");
            // What the outputs register at this edge: the word read two cycles ago, routed
            // for the grp of that cycle.
            for j in 0..A {
                let h = rgrp2 as usize * g + j / hd;
                let (m, ks, vs) = if j < g * hd && h < nh {
                    let kvh = h / (nh / nkv);
                    let f = kvh * hd + j % hd;
                    let m = if rsel2 { rd2.1[f] } else { rd2.0[f] };
                    (m, rd2.2[kvh], rd2.3[kvh])
                } else {
                    (0, 0, 0)
                };
                want_prev[j] = (m, ks, vs);
            }
            // Edge: the fabric copy of the read registers, the read (old data), the commit
            // of two cycles ago with the staging as it is, then last cycle's pushes into
            // the staging.
            rd2 = rd.clone();
            rsel2 = rsel;
            rgrp2 = rgrp;
            rd = mem.get(ra as usize).cloned().unwrap_or((
                vec![0; kvd],
                vec![0; kvd],
                vec![0; nkv],
                vec![0; nkv],
            ));
            rsel = rv;
            rgrp = grp;
            if let (true, w) = crr {
                if w < depth {
                    mem[w] = st.clone();
                }
            }
            let (p, pv_, pf_, pd_) = pr;
            if p && pf_ < kvd {
                if pv_ {
                    st.1[pf_] = pd_;
                } else {
                    st.0[pf_] = pd_;
                }
            }
            let (p, spv_, sf_, sd_) = spr;
            if p && sf_ < nkv {
                if spv_ {
                    st.3[sf_] = sd_;
                } else {
                    st.2[sf_] = sd_;
                }
            }
            pr = (push, pv, pf as usize, pd);
            spr = (spush, spv, sf as usize, sd);
            crr = cr;
            cr = (commit, wa as usize);
            d.tick_settled();
        }
        for (a, w) in mem.iter().enumerate() {
            let (km, ks, vm, vs) = d.uut.peek(a);
            let m = |x: &Vec<u64>| x.iter().map(|&v| sext(v, 11) as i32).collect::<Vec<_>>();
            let s = |x: &Vec<u64>| x.iter().map(|&v| v as u8).collect::<Vec<_>>();
            assert_eq!((km, ks, vm, vs), (m(&w.0), s(&w.2), m(&w.1), s(&w.3)));
        }
        cosim(emit_verilog(mk()), &mut d);
        // One group: the group input is ignored.
        let mk1 = || KvCacheW::<8>::new(5, 4, 2, 1, 2);
        let mut d = Driver::new(mk1(), |u, c| u.clock.next = c.into()).with_trace();
        for _ in 0..300 {
            let u = &mut d.uut;
            u.push.next = rng.gen();
            u.pv.next = rng.gen();
            u.pfield.next = u2b::<16>(rng.gen_range(0..5));
            u.pdata.next = u2b::<11>(rng.gen_range(0..2048));
            u.spush.next = rng.gen();
            u.spv.next = rng.gen();
            u.sfield.next = u2b::<8>(rng.gen_range(0..2));
            u.sdata.next = u2b::<5>(rng.gen_range(0..32));
            u.commit.next = rng.gen_bool(0.3);
            u.waddr.next = u2b::<24>(rng.gen_range(0..6));
            u.raddr.next = u2b::<24>(rng.gen_range(0..6));
            u.rv.next = rng.gen();
            u.grp.next = u2b::<8>(rng.gen_range(0..3));
            d.tick();
        }
        cosim(emit_verilog(mk1()), &mut d);
    }

    /// A signed `bits`-bit value, edge cases often.
    fn edge(rng: &mut ChaCha8Rng, bits: u32) -> u64 {
        let max = (1i64 << (bits - 1)) - 1;
        let v = match rng.gen_range(0..8) {
            0 => max,
            1 => -max - 1,
            2 => 0,
            3 => rng.gen_range(-4..4),
            _ => rng.gen_range(-max - 1..=max),
        };
        (v as u64) & ((1u64 << bits) - 1)
    }

    /// The datapath core against its Verilog on random stimulus: q bank writes (a whole
    /// word, then a load, before each score pass; random writes and loads besides, also
    /// past the bank, the lanes and the heads), cache data, shifts (all 0..31), and passes
    /// driven in the order the unit uses (score pass, exp pass, output) as well as random
    /// enables, so every stage sees both meaningful and arbitrary data. Shapes, one output
    /// per item: 2 heads of 4 (A = 8) with banks of 1 and 2 words, and 3 heads of 2 with
    /// spare lanes (A = 8) and a bank of 3 words; K = XP = 8 outputs per item: 2 heads of 8
    /// (one item per head, A = 16), 2 heads of 16 (two items per head) with spare lanes
    /// (A = 40) and a bank of 2 words, one head of 8 (a single item per group, A = 8).
    #[test]
    fn attn_core_matches_verilog() {
        fn run<const A: usize>(hd: usize, g: usize, ctx: usize, ng: usize, k: usize, seed: u64) {
            let mk = || AttnCore::<A>::new(hd, g, ctx, ng, k);
            let mut d = Driver::new(mk(), |u, c| u.clock.next = c.into()).with_trace();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            // The lent multiplier bank (DotAcc's ext path): operands registered, then the
            // product registered; computed every cycle, as the Verilog bank does.
            let (mut ra, mut rb, mut rp) = ([0i64; A], [0i64; A], [0i64; A]);
            for round in 0..12 {
                let p = rng.gen_range(1..ctx + 1);
                let word = rng.gen_range(0..ng as u64);
                let phases: [(u8, usize); 6] = [
                    (0, g * hd + 2), // q bank word writes, then its load
                    (1, p),          // score pass
                    (9, 5),          // gap
                    (2, p),          // exp pass
                    (9, 8),          // gap
                    (3, g * hd / k), // output
                ];
                let chaos = round % 3 == 2;
                for (ph, n) in phases {
                    for c in 0..n {
                        let u = &mut d.uut;
                        // q bank: in phase 0 lane c (and head c) of word `word`, loaded in
                        // its last cycle; random writes (also past the bank, lanes,
                        // heads) and loads otherwise.
                        let fill = ph == 0 && c + 2 < n;
                        u.bwe.next = fill || rng.gen_bool(0.4);
                        u.bgrp.next = u2b::<8>(if fill {
                            word
                        } else {
                            rng.gen_range(0..ng as u64 + 1)
                        });
                        u.blane.next = u2b::<16>(if fill {
                            c as u64
                        } else {
                            rng.gen_range(0..A as u64 + 2)
                        });
                        u.bdata.next = u2b::<16>(edge(&mut rng, 16));
                        u.bswe.next = (fill && c < g) || rng.gen_bool(0.3);
                        u.bshead.next = u2b::<8>(if fill && c < g {
                            c as u64
                        } else {
                            rng.gen_range(0..g as u64 + 1)
                        });
                        u.bsdata.next = u2b::<5>(rng.gen_range(0..32));
                        let load = ph == 0 && c + 1 == n;
                        u.qld.next = load || (chaos && rng.gen_bool(0.1));
                        u.lgrp.next = u2b::<8>(if load {
                            word
                        } else {
                            rng.gen_range(0..ng as u64 + 1)
                        });
                        for j in 0..A {
                            u.mant[j].next = u2b::<11>(edge(&mut rng, 11));
                            u.ksh[j].next = u2b::<5>(rng.gen_range(0..32));
                            u.vsh[j].next = u2b::<5>(rng.gen_range(0..32));
                        }
                        u.s_en.next = ph == 1 || (chaos && rng.gen_bool(0.2));
                        u.s_first.next = c == 0 || (chaos && rng.gen());
                        u.s_t.next = u2b::<16>(if ph == 1 {
                            c as u64
                        } else {
                            rng.gen_range(0..ctx as u64 + 2)
                        });
                        u.sm_raddr.next = u2b::<16>(if ph == 2 {
                            c as u64
                        } else {
                            rng.gen_range(0..ctx as u64 + 2)
                        });
                        u.e_en.next = ph == 2 || (chaos && rng.gen_bool(0.2));
                        u.e_first.next = c == 0 || (chaos && rng.gen());
                        u.o_en.next = ph == 3 || (chaos && rng.gen_bool(0.2));
                        u.o_ld.next = (ph == 3 && c == 0) || (chaos && rng.gen_bool(0.1));
                        u.o_head.next = u2b::<8>(if ph == 3 {
                            (c * k / hd) as u64
                        } else {
                            rng.gen_range(0..g as u64 + 2)
                        });
                        for j in 0..A {
                            u.m_p[j].next = llamahdl_hw::bits::i2s::<29>(rp[j]);
                        }
                        d.settle();
                        for j in 0..A {
                            rp[j] = ra[j] * rb[j];
                            ra[j] = llamahdl_hw::bits::s2i(d.uut.m_a[j].val());
                            rb[j] = llamahdl_hw::bits::s2i(d.uut.m_b[j].val());
                        }
                        d.tick_settled();
                    }
                }
            }
            let n = d.trace().unwrap().len();
            eprintln!("AttnCore<{A}> hd {hd} g {g} k {k}: co-simulating {n} cycles");
            cosim(emit_verilog(mk()), &mut d);
        }
        run::<8>(4, 2, 9, 1, 1, 43);
        run::<8>(2, 3, 5, 3, 1, 44);
        run::<8>(4, 2, 7, 2, 1, 45);
        run::<16>(8, 2, 9, 1, 8, 46);
        run::<40>(16, 2, 6, 2, 8, 47);
        run::<8>(8, 1, 5, 1, 8, 48);
    }
}
