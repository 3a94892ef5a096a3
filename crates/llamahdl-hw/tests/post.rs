//! The matrix-vector unit's fused output/input leaves (`post.rs`) against the golden
//! numerics and against their own Verilog in Icarus, cycle for cycle.

use llamahdl_golden::numerics::{
    add_q16, block_mant, block_shift, mul_q16, silu, to_block16, BLOCK16_BITS,
};
use llamahdl_hw::bits::{i2s, s2i, u2b};
use llamahdl_hw::cosim::emit_verilog;
use llamahdl_hw::leaf::XP;
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::matvec::post::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use llamahdl_hw::cosim::assert_driver_cosim as cosim;

/// Q16.16 test values: mostly the sigmoid table's range, some far outside, extremes.
fn act(rng: &mut ChaCha8Rng) -> i32 {
    match rng.gen_range(0..10) {
        0 => i32::MAX,
        1 => i32::MIN,
        2 => 0,
        3 => rng.gen_range(-(40 << 16)..(40 << 16)),
        4 => rng.gen(),
        _ => rng.gen_range(-(17 << 16)..(17 << 16)),
    }
}

#[test]
fn silu_mul_matches_golden_and_verilog() {
    let pair = silu_pair_words();
    assert_eq!(pair.len(), 2048);
    let mut d = Driver::new(SiluMul::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut xs: Vec<i32> = vec![];
    let mut hs: Vec<i32> = vec![];
    let mut checked = 0;
    for k in 0..4000usize {
        let x = act(&mut rng);
        let h = act(&mut rng);
        d.uut.x.next = i2s::<32>(x as i64);
        d.uut.h.next = i2s::<32>(h as i64);
        let rom = xs
            .last()
            .map(|&xp| pair[sig_index(xp).0 as usize])
            .unwrap_or(0);
        d.uut.rom.next = u2b::<34>(rom);
        xs.push(x);
        hs.push(h);
        d.tick();
        // y after this edge belongs to the x of cycle c = k + 1 - SILU_Y and the h of
        // cycle c + SILU_H.
        if k + 1 >= SILU_Y {
            let c = k + 1 - SILU_Y;
            let want = mul_q16(silu(xs[c]), hs[c + SILU_H]);
            assert_eq!(s2i(d.uut.y.val()) as i32, want, "cycle {k}");
            checked += 1;
        }
    }
    assert!(checked > 3900);
    cosim(emit_verilog(SiluMul::default()), &mut d);
}

#[test]
fn add_sat32_matches_golden_and_verilog() {
    let mut d = Driver::new(AddSat32::default(), |_, _| {}).with_trace();
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for _ in 0..2000 {
        let (a, b) = (act(&mut rng), act(&mut rng));
        d.uut.a.next = i2s::<32>(a as i64);
        d.uut.b.next = i2s::<32>(b as i64);
        d.tick();
        assert_eq!(s2i(d.uut.y.val()) as i32, add_q16(a, b));
    }
    cosim(emit_verilog(AddSat32::default()), &mut d);
}

#[test]
fn shift_of_matches_to_block16_and_verilog() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let mut s = Driver::new(ShiftOf::default(), |_, _| {}).with_trace();
    for _ in 0..3000 {
        let n = rng.gen_range(1..=4);
        let v: Vec<i32> = (0..n)
            .map(|_| act(&mut rng) >> rng.gen_range(0..31))
            .collect();
        let want = to_block16(&v);
        let m = v.iter().map(|x| x.unsigned_abs() as u64).max().unwrap();
        s.uut.m.next = u2b::<32>(m);
        s.tick();
        let shift = s.uut.shift.val().to_u64() as u32;
        assert_eq!(shift as i32, want.shift, "shift of {v:?}");
        assert_eq!(shift, block_shift(m, BLOCK16_BITS));
        for i in 0..n {
            assert_eq!(
                block_mant(v[i] as i64, shift, BLOCK16_BITS) as i32,
                want.mant[i],
                "{v:?}"
            );
        }
    }
    cosim(emit_verilog(ShiftOf::default()), &mut s);
}

#[test]
fn max_track_matches_model_and_verilog() {
    let mut d = Driver::new(MaxTrack::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let mut m: u64 = 0;
    // The true largest magnitude since the last clear or load.
    let mut top: u64 = 0;
    for _ in 0..3000 {
        let clear = rng.gen_bool(0.05);
        let ld = rng.gen_bool(0.05);
        let en = rng.gen_bool(0.7);
        let v = act(&mut rng) >> rng.gen_range(0..31);
        let mx = rng.gen::<u32>() as u64;
        let gen = rng.gen_bool(0.2);
        let gv: Vec<i32> = (0..XP)
            .map(|_| act(&mut rng) >> rng.gen_range(0..31))
            .collect();
        d.uut.clear.next = clear;
        d.uut.ld.next = ld;
        d.uut.mx.next = u2b::<32>(mx);
        d.uut.en.next = en;
        d.uut.v.next = i2s::<32>(v as i64);
        d.uut.gen.next = gen;
        for (p, &g) in d.uut.gv.iter_mut().zip(&gv) {
            p.next = i2s::<32>(g as i64);
        }
        d.tick();
        if clear {
            m = 0;
            top = 0;
        } else if ld {
            m = mx;
            top = mx;
        } else if gen {
            m = gv.iter().fold(m, |o, g| o | g.unsigned_abs() as u64);
            top = gv.iter().fold(top, |o, g| o.max(g.unsigned_abs() as u64));
        } else if en {
            m |= v.unsigned_abs() as u64;
            top = top.max(v.unsigned_abs() as u64);
        }
        assert_eq!(d.uut.m.val().to_u64(), m);
        // Its bit length is that of the largest magnitude since the last clear or load.
        assert_eq!(m.leading_zeros(), top.leading_zeros());
    }
    // A group merge keeps the bit length of the largest magnitude (all the block shift
    // reads), whatever came before.
    for _ in 0..200 {
        let gv: Vec<i32> = (0..XP)
            .map(|_| act(&mut rng) >> rng.gen_range(0..31))
            .collect();
        let before = d.uut.m.val().to_u64();
        d.uut.clear.next = false;
        d.uut.ld.next = false;
        d.uut.en.next = false;
        d.uut.gen.next = true;
        for (p, &g) in d.uut.gv.iter_mut().zip(&gv) {
            p.next = i2s::<32>(g as i64);
        }
        d.tick();
        let want = gv
            .iter()
            .map(|g| g.unsigned_abs() as u64)
            .fold(before, u64::max);
        assert_eq!(
            64 - d.uut.m.val().to_u64().leading_zeros(),
            64 - want.leading_zeros()
        );
    }
    d.uut.gen.next = false;
    d.uut.clear.next = true;
    d.tick();
    d.uut.clear.next = false;
    d.uut.ld.next = false;
    d.uut.en.next = true;
    d.uut.v.next = i2s::<32>(i32::MIN as i64);
    d.tick();
    assert_eq!(d.uut.m.val().to_u64(), 1 << 31);
    cosim(emit_verilog(MaxTrack::default()), &mut d);
}
