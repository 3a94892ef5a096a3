//! Native simulation speed of the decoder (QKV stage) for the stories260K shape:
//! `cargo run --release -p llamahdl-hw --example sim_speed [lanes]`.
//! Runs repeated QKV projections from the compiled-in ROM with the project's own clock
//! loop and prints cycles, wall time and cycles per second, plus the projection latency.

use llamahdl_golden::numerics::to_block16;
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::hierarchy::Decoder;
use llamahdl_hw::leaf::{i2s, u2b};
use llamahdl_hw::sim::Driver;
use llamahdl_model::{synth, Config};
use std::time::Instant;

fn bench<const L: usize>(qm: &QuantModel) {
    let cfg = qm.config;
    let mut d = Driver::new(Decoder::<L>::new(qm), |u, c| u.clock.next = c.into());
    let xb: Vec<i32> = (0..cfg.dim as i32).map(|i| (i - 30) * 4000).collect();
    let x = to_block16(&xb);
    for b in 0..cfg.dim.div_ceil(L) {
        d.uut.x_we.next = true;
        d.uut.x_waddr.next = u2b::<16>(b as u64);
        for i in 0..L {
            d.uut.x_wdata[i].next = i2s::<16>(*x.mant.get(b * L + i).unwrap_or(&0) as i64);
        }
        d.tick();
    }
    d.uut.x_we.next = false;
    d.uut.x_shift.next = u2b::<5>(x.shift as u64);
    let projections = 200;
    let t0 = Instant::now();
    let c0 = d.cycle();
    let mut latency = 0;
    for _ in 0..projections {
        d.uut.start.next = true;
        d.tick();
        d.uut.start.next = false;
        let s = d.cycle();
        loop {
            d.settle();
            let done = d.uut.done.val();
            d.tick();
            if done {
                latency = d.cycle() - s;
                break;
            }
        }
    }
    let cycles = d.cycle() - c0;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "lanes {L}: {projections} QKV projections, {cycles} cycles in {secs:.3} s = {:.0} cycles/s; \
         one projection: {} cycles after start ({} rows)",
        cycles as f64 / secs,
        latency + 1,
        cfg.qkv_rows()
    );
}

fn main() {
    let qm = QuantModel::quantise(&synth::generate(&Config::STORIES260K, 1), ScaleMode::Mant8);
    match std::env::args().nth(1).as_deref() {
        Some("8") => bench::<8>(&qm),
        Some("16") => bench::<16>(&qm),
        _ => bench::<64>(&qm),
    }
}
