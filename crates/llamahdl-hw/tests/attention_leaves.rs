//! The attention unit's shared leaves (`Rope2`, `RowDelay`, `Blocker`, `LaneMem`), each against its
//! own Verilog in Icarus and, where it implements one, the golden numerics, on random
//! stimulus with edge cases (rounding ties, extremes) that unit-level runs rarely hit.

use llamahdl_golden::numerics::{sat32, shift_round, to_block};
use llamahdl_hw::bits::{i2s, s2i, sext, u2b};
use llamahdl_hw::cosim::emit_verilog;
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::attention::leaves::{Blocker, LaneMem, Rope2, RowDelay, ROPE_EXTRA};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use llamahdl_hw::cosim::assert_driver_cosim as cosim;

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

#[test]
fn rope2_matches_golden_and_verilog() {
    let mut d = Driver::new(Rope2::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let mut want = vec![];
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
        let w0 = sat32(shift_round(a * c - b * s, -16));
        let w1 = sat32(shift_round(a * s + b * c, -16));
        want.push((en, w0, w1, (a, b, c, s)));
        // The result is on the outputs ROPE_EXTRA cycles after the one-stage position.
        if want.len() > ROPE_EXTRA {
            let (en, w0, w1, args) = want[want.len() - 1 - ROPE_EXTRA];
            if en {
                assert_eq!(s2i(d.uut.y0.val()) as i32, w0, "{args:?}");
                assert_eq!(s2i(d.uut.y1.val()) as i32, w1, "{args:?}");
            }
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
        let want = to_block(&x, if wide { 15 } else { 10 });
        // Quantised from the cycle after the last scan; each result (with the shift) is on
        // the outputs 5 cycles after its input.
        for j in 0..n + 4 {
            d.uut.en_q.next = j < n;
            d.uut.xq.next = i2s::<32>(if j < n {
                x[j] as i64
            } else {
                edge(&mut rng, 32)
            });
            d.uut.x.next = i2s::<32>(edge(&mut rng, 32));
            d.tick();
            if j >= 4 {
                let k = j - 4;
                let y16 = sext(d.uut.y16.val().to_u64(), 16) as i32;
                let y11 = sext(d.uut.y11.val().to_u64(), 11) as i32;
                assert_eq!(d.uut.shift.val().index() as i32, want.shift, "{x:?}");
                assert_eq!(y16, want.mant[k], "{x:?}");
                if !wide {
                    assert_eq!(y11, want.mant[k], "{x:?}");
                }
            }
        }
        // Random noise on the controls between vectors.
        for _ in 0..rng.gen_range(0..3) {
            d.uut.en_q.next = rng.gen();
            d.uut.en_scan.next = rng.gen();
            d.uut.first.next = rng.gen();
            d.uut.wide.next = rng.gen();
            d.uut.x.next = i2s::<32>(edge(&mut rng, 32));
            d.uut.xq.next = i2s::<32>(edge(&mut rng, 32));
            d.tick();
        }
    }
    cosim(emit_verilog(Blocker::default()), &mut d);
}

#[test]
fn lane_mem_matches_verilog() {
    let mut rng = ChaCha8Rng::seed_from_u64(35);

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
}

#[test]
fn row_delay_matches_verilog() {
    let mut d = Driver::new(RowDelay::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut rng = ChaCha8Rng::seed_from_u64(36);
    let mut ins = vec![];
    for _ in 0..600 {
        let v = rng.gen_bool(0.3);
        let x = edge(&mut rng, 32) as i32;
        let (o, iv, one) = (rng.gen(), rng.gen(), rng.gen());
        d.uut.valid.next = v;
        d.uut.data.next = i2s::<32>(x as i64);
        d.uut.odd.next = o;
        d.uut.is_v.next = iv;
        d.uut.one.next = one;
        d.tick();
        ins.push((v, x, o, iv, one));
        // Each output shows the input driven ROPE_EXTRA cycles before; busy while one is
        // inside.
        let n = ins.len();
        if n > ROPE_EXTRA {
            let (v, x, o, iv, one) = ins[n - ROPE_EXTRA];
            assert_eq!(d.uut.valid_o.val(), v);
            assert_eq!(s2i(d.uut.data_o.val()) as i32, x);
            assert_eq!(
                (d.uut.odd_o.val(), d.uut.is_v_o.val(), d.uut.one_o.val()),
                (o, iv, one)
            );
            let inside = ins[n - ROPE_EXTRA..].iter().any(|p| p.0);
            d.settle();
            assert_eq!(d.uut.busy.val(), inside);
        }
    }
    cosim(emit_verilog(RowDelay::default()), &mut d);
}
