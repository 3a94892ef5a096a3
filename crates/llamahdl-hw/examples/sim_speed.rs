//! Native simulation speed of the whole decoder for the stories260K shape (synthetic
//! weights): `cargo run --release -p llamahdl-hw --example sim_speed [lanes] [positions]`.
//! Runs `positions` positions (default 8) with the project's own clock loop and prints
//! the cycles of each position, the wall time and cycles per second.

use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::decoder::limits::{DEFAULT_LANES, SUPPORTED_LANES};
use llamahdl_hw::sim::engine::engine;
use llamahdl_model::{synth, Config};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let lanes: usize = args.next().map_or(DEFAULT_LANES, |a| {
        a.parse()
            .unwrap_or_else(|_| panic!("lanes: one of {SUPPORTED_LANES:?}"))
    });
    let positions: usize = args
        .next()
        .map_or(8, |a| a.parse().expect("positions: a number"));
    let qm = QuantModel::quantise(&synth::generate(&Config::STORIES260K, 1), ScaleMode::Mant8);
    let mut hw = engine(&qm, lanes, None, None).unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let mut per_pos = vec![];
    for pos in 0..positions {
        let p = hw
            .run_position((1 + 37 * pos as u32) % 512, pos)
            .expect("position");
        per_pos.push(p.cycles);
    }
    let secs = t0.elapsed().as_secs_f64();
    let cycles = hw.total_cycles();
    println!(
        "lanes {lanes}: {positions} positions, cycles per position {per_pos:?}; \
         {cycles} cycles in {secs:.2} s = {:.0} cycles/s",
        cycles as f64 / secs
    );
}
