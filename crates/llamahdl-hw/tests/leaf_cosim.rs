//! Each hand-written leaf (native `update()` + Verilog body) against its own Verilog in
//! Icarus, cycle for cycle, on random stimulus with edge cases, and against the golden
//! numerics where the leaf implements one of its functions.

use llamahdl_golden::numerics::{block_mant, BLOCK16_BITS};
use llamahdl_hw::bits::{i2s, s2i, u2b};
use llamahdl_hw::cosim::emit_verilog;
use llamahdl_hw::leaf::*;
use llamahdl_hw::sim::Driver;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use llamahdl_hw::cosim::assert_driver_cosim as cosim;

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

#[test]
fn mul_shift2_matches_golden_and_verilog() {
    let mut d = Driver::new(MulShift2::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut expect: Option<i32> = None;
    for _ in 0..3000 {
        let (a1, b1, a2, b2) = (
            edge(&mut rng, 48),
            edge(&mut rng, 32),
            edge(&mut rng, 48),
            edge(&mut rng, 32),
        );
        let k = rng.gen_range(-64..=63);
        d.uut.en.next = true;
        d.uut.a1.next = i2s::<48>(a1);
        d.uut.b1.next = i2s::<32>(b1);
        d.uut.a2.next = i2s::<48>(a2);
        d.uut.b2.next = i2s::<32>(b2);
        d.uut.k.next = i2s::<8>(k);
        d.tick();
        let got = s2i(d.uut.y.val()) as i32;
        // Where the golden model's i64 arithmetic does not overflow, it must agree.
        if let (Some(p1), Some(p2)) = (a1.checked_mul(b1), a2.checked_mul(b2)) {
            if let Some(p) = p1.checked_add(p2) {
                if k <= 0 || (p.abs() < (1 << 40) && k < 20) {
                    let want = llamahdl_golden::numerics::sat32(
                        llamahdl_golden::numerics::shift_round(p, k as i32),
                    );
                    assert_eq!(got, want, "{a1}*{b1}+{a2}*{b2} k={k}");
                }
            }
        }
        expect = Some(got);
    }
    assert!(expect.is_some());
    cosim(emit_verilog(MulShift2::default()), &mut d);
}

#[test]
fn row_finish_matches_golden_and_verilog() {
    // y = sat32(shift_round(acc * mant, exp + shift)) FINISH_LATENCY cycles after en,
    // held in between; exponents and accumulators at their extremes included.
    let mut d = Driver::new(RowFinish::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut pending: std::collections::VecDeque<Option<i32>> = Default::default();
    let mut want = 0i32;
    let mut checked = 0;
    for _ in 0..3000 {
        let en = rng.gen_bool(0.8);
        let acc = edge(&mut rng, 40);
        let mant = rng.gen_range(0..256i64);
        let exp = edge(&mut rng, 8);
        let shift = rng.gen_range(0..32i64);
        d.uut.en.next = en;
        d.uut.acc.next = i2s::<40>(acc);
        d.uut.mant.next = u2b::<8>(mant as u64);
        d.uut.exp.next = i2s::<8>(exp);
        d.uut.shift.next = u2b::<5>(shift as u64);
        pending.push_back(en.then(|| {
            let v = llamahdl_golden::numerics::shift_round(acc * mant, (exp + shift) as i32);
            llamahdl_golden::numerics::sat32(v)
        }));
        d.tick();
        if pending.len() == FINISH_LATENCY {
            if let Some(y) = pending.pop_front().flatten() {
                want = y;
                checked += 1;
            }
            assert_eq!(s2i(d.uut.y.val()) as i32, want);
        }
    }
    assert!(checked > 2000);
    cosim(emit_verilog(RowFinish::default()), &mut d);
}

/// DotAcc<L> against a model built on the golden quantiser: acc after each beat is the
/// running sum of w · block_mant(x, shift, BLOCK16_BITS), DOT_LATENCY cycles later; then
/// against its own Verilog. Between beats the multipliers are lent (`ext_sel` in a cycle
/// after one without a beat, random full-range operands): `ext_p` two cycles later is the
/// exact product (natively and in the Verilog; other cycles of `ext_p` are don't-care),
/// and the beats' sums are untouched.
fn dot_acc_matches<const L: usize>(seed: u64, beats: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = Driver::new(DotAcc::<L>::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut pending: std::collections::VecDeque<Option<(bool, i64)>> = Default::default();
    let mut model_acc = 0i64;
    let mut checked = 0;
    // Products expected in cycle c + 2 of a borrowed cycle c; cycles where ext_p is defined.
    let mut lent: std::collections::VecDeque<(usize, Vec<i64>)> = Default::default();
    let mut defined = vec![false; beats + 2];
    let (mut prev_en, mut lends) = (true, 0);
    let mut prev_sh = 0u32;
    for cyc in 0..beats {
        if let Some((c, p)) = lent.front() {
            if *c == cyc {
                for i in 0..L {
                    assert_eq!(s2i(d.uut.ext_p[i].val()), p[i], "{L} lanes: ext_p${i}");
                }
                defined[cyc] = true;
                lent.pop_front();
            }
        }
        let ext = !prev_en && rng.gen_bool(0.5);
        d.uut.ext_sel.next = ext;
        let mut prods = vec![0i64; L];
        for (i, p) in prods.iter_mut().enumerate() {
            let a = edge(&mut rng, 18);
            let b = edge(&mut rng, 11);
            d.uut.ext_a[i].next = i2s::<18>(a);
            d.uut.ext_b[i].next = i2s::<11>(b);
            *p = a * b;
        }
        if ext {
            lent.push_back((cyc + 2, prods));
            lends += 1;
        }
        let en = rng.gen_bool(0.6);
        prev_en = en;
        let first = rng.gen_bool(0.2);
        // The beat is quantised with the shift of the cycle before it (registered).
        let sh = prev_sh;
        prev_sh = rng.gen_range(0..18u32);
        d.uut.en.next = en;
        d.uut.first.next = first;
        d.uut.shift.next = u2b::<5>(prev_sh as u64);
        let mut sum = 0i64;
        for i in 0..L {
            let w = edge(&mut rng, 8);
            let x = edge(&mut rng, 32);
            d.uut.w[i].next = i2s::<8>(w);
            d.uut.x[i].next = i2s::<32>(x);
            sum += w * block_mant(x, sh, BLOCK16_BITS);
        }
        pending.push_back(en.then_some((first, sum)));
        d.tick();
        if pending.len() == DOT_LATENCY {
            if let Some(Some((f, s))) = pending.pop_front() {
                model_acc = if f { s } else { model_acc + s };
                assert_eq!(s2i(d.uut.acc.val()), model_acc, "{L} lanes");
                checked += 1;
            }
        }
    }
    assert!(
        checked > beats / 3 && lends > beats / 10,
        "{checked} beats, {lends} lends"
    );
    assert_eq!(d.uut.collisions(), 0);
    let t = d.trace_mut().unwrap();
    for (c, &def) in defined.iter().enumerate().take(beats) {
        if !def {
            for i in 0..L {
                t.set_dont_care(c, &format!("ext_p${i}"));
            }
        }
    }
    cosim(emit_verilog(DotAcc::<L>::default()), &mut d);
}

/// A beat whose multiplier cycle is taken by a borrower is counted as a collision.
#[test]
fn dot_acc_counts_collisions() {
    let mut d = Driver::new(DotAcc::<4>::default(), |u, c| u.clock.next = c.into());
    d.uut.en.next = true;
    d.tick();
    d.uut.en.next = false;
    d.uut.ext_sel.next = true;
    d.tick();
    d.tick();
    assert_eq!(d.uut.collisions(), 1);
}

#[test]
fn dot_acc_matches_golden_and_verilog_at_every_tree_shape() {
    // 4: one partial stage; 8, 16: two; 32: 8 -> 2 -> 1; 64: 16 -> 4 -> 1.
    dot_acc_matches::<4>(10, 1500);
    dot_acc_matches::<8>(11, 2000);
    dot_acc_matches::<16>(12, 800);
    dot_acc_matches::<32>(13, 500);
    dot_acc_matches::<64>(14, 300);
}

#[test]
fn delay_lines_match_verilog() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    for depth in [1usize, 2, 3, 7] {
        let mut d =
            Driver::new(Delay::<13>::new(depth), |u, c| u.clock.next = c.into()).with_trace();
        let mut hist = Vec::new();
        for t in 0..300 {
            let v = rng.gen_range(0..1u64 << 13);
            d.uut.d.next = u2b::<13>(v);
            hist.push(v);
            d.tick();
            let want = if t + 1 >= depth {
                hist[t + 1 - depth]
            } else {
                0
            };
            assert_eq!(d.uut.q.val().to_u64(), want, "Delay depth {depth}");
        }
        cosim(emit_verilog(Delay::<13>::new(depth)), &mut d);
        let mut d =
            Driver::new(DelayS::<9>::new(depth), |u, c| u.clock.next = c.into()).with_trace();
        for _ in 0..300 {
            d.uut.d.next = i2s::<9>(edge(&mut rng, 9));
            d.tick();
        }
        cosim(emit_verilog(DelayS::<9>::new(depth)), &mut d);
        let mut d = Driver::new(DelayBit::new(depth), |u, c| u.clock.next = c.into()).with_trace();
        for _ in 0..300 {
            d.uut.d.next = rng.gen_bool(0.5);
            d.tick();
        }
        cosim(emit_verilog(DelayBit::new(depth)), &mut d);
    }
}

#[test]
fn table_rom_and_lane_ram_match_verilog() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let contents: Vec<u64> = (0..300).map(|_| rng.gen::<u64>()).collect();
    let make = || TableRom::<17>::new(contents.clone());
    let mut d = Driver::new(make(), |u, c| u.clock.next = c.into()).with_trace();
    for _ in 0..1000 {
        let a = rng.gen_range(0..320u64);
        d.uut.addr.next = u2b::<16>(a);
        d.tick();
        let want = contents.get(a as usize).map(|v| v & 0x1FFFF).unwrap_or(0);
        assert_eq!(d.uut.data.val().to_u64(), want);
    }
    cosim(emit_verilog(make()), &mut d);

    let mut d = Driver::new(LaneRam::<4, 11>::new(37), |u, c| u.clock.next = c.into()).with_trace();
    for _ in 0..1500 {
        d.uut.we.next = rng.gen_bool(0.5);
        d.uut.waddr.next = u2b::<16>(rng.gen_range(0..40));
        d.uut.raddr.next = u2b::<16>(rng.gen_range(0..40));
        for i in 0..4 {
            d.uut.wdata[i].next = i2s::<11>(edge(&mut rng, 11));
        }
        d.tick();
    }
    cosim(emit_verilog(LaneRam::<4, 11>::new(37)), &mut d);
}

/// XMem: wide, scalar and group writes against a behavioural model and the Verilog, with
/// more lanes than a group (8) and fewer (4: a group spans two words).
#[test]
fn xmem_ports_match_model_and_verilog() {
    fn go<const L: usize>(seed: u64) {
        let depth = 24 / L + 2;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut d = Driver::new(XMem::<L>::new(depth), |u, c| u.clock.next = c.into()).with_trace();
        let mut model = vec![[0i64; L]; depth];
        // The words read in the previous cycle and the one before (MEM_LATENCY = 3: the
        // older shows now).
        let mut want = vec![0i64; L];
        let mut want_old = vec![0i64; L];
        let mut pend: Vec<(usize, usize, i64)> = Vec::new();
        assert_eq!(XMEM_WRITE_LATENCY, 1);
        for _ in 0..3000 {
            let kind = rng.gen_range(0..4);
            d.uut.wwe.next = kind == 0;
            d.uut.swe.next = kind == 1;
            d.uut.pwe.next = kind == 2;
            let ww = rng.gen_range(0..depth + 1);
            let se = rng.gen_range(0..(depth + 1) * L);
            let pe = rng.gen_range(0..(depth * L) / XP + 1) * XP;
            let raddr = rng.gen_range(0..depth + 1);
            d.uut.wwaddr.next = u2b::<16>(ww as u64);
            d.uut.swaddr.next = u2b::<16>(se as u64);
            d.uut.pwidx.next = u2b::<16>(pe as u64);
            d.uut.raddr.next = u2b::<16>(raddr as u64);
            let wide: Vec<i64> = (0..L).map(|_| edge(&mut rng, 16)).collect();
            let group: Vec<i64> = (0..XP).map(|_| edge(&mut rng, 32)).collect();
            let sv = edge(&mut rng, 32);
            for i in 0..L {
                d.uut.wwdata[i].next = i2s::<16>(wide[i]);
            }
            for j in 0..XP {
                d.uut.pwdata[j].next = i2s::<32>(group[j]);
            }
            d.uut.swdata.next = i2s::<32>(sv);
            d.tick();
            assert_eq!(MEM_LATENCY, 3);
            let got: Vec<i64> = (0..L).map(|i| s2i(d.uut.rdata[i].val())).collect();
            assert_eq!(got, want_old, "read of the word addressed two cycles ago");
            want_old = std::mem::take(&mut want);
            // The edge: the read sees the memory before the write registered at the last
            // edge lands; this cycle's write is registered (XMEM_WRITE_LATENCY = 1).
            want = model.get(raddr).copied().unwrap_or([0; L]).to_vec();
            for (a, i, v) in pend.drain(..) {
                model[a][i] = v;
            }
            match kind {
                0 if ww < depth => pend.extend(wide.iter().enumerate().map(|(i, &v)| (ww, i, v))),
                1 if se / L < depth => pend.push((se / L, se % L, sv)),
                2 => {
                    for (j, &v) in group.iter().enumerate() {
                        let e = pe + j;
                        if e / L < depth {
                            pend.push((e / L, e % L, v));
                        }
                    }
                }
                _ => {}
            }
        }
        cosim(emit_verilog(XMem::<L>::new(depth)), &mut d);
    }
    go::<8>(41);
    go::<16>(42);
    go::<4>(43);
}
