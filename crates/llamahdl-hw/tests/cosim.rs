//! Co-simulation: the native rust-hdl simulation and the emitted Verilog (Icarus) must agree
//! cycle for cycle on every output, for random stimulus with gaps, triggers/layer changes
//! and reads. These tests FAIL (not skip) when iverilog/vvp are missing.

mod common;

use common::*;
use llamahdl_hw::bits::signed_of;
use llamahdl_hw::cosim::{emit_verilog, run_icarus, Trace};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::weight_path::row_addr::RowAddrGen;
use llamahdl_hw::units::weight_path::shape::Shape;
use llamahdl_hw::units::weight_path::weight_buffer::QkvLoader;
use llamahdl_model::Config;
use rand::Rng;
use rust_hdl::prelude::*;
use std::collections::HashSet;

fn cosim_row_addr(cfg: Config, lanes: usize, seed: u64) {
    let shape = Shape::new(&cfg, lanes).unwrap();
    let verilog = emit_verilog(RowAddrGen::from_shape(&shape));
    let mut d = Driver::new(RowAddrGen::from_shape(&shape), |u, c| {
        u.clock.next = c.into()
    })
    .with_trace();
    let mut m = GenModel::new(shape);
    let mut r = rng(seed);
    let mut loads = 0;
    let cycles = 3 * shape.total_beats + 200;
    for c in 0..cycles {
        // One forced mid-load trigger, rare random ones, frequent ones once loaded.
        let trigger = c == shape.total_beats / 3
            || r.gen_bool(if m.done {
                0.15
            } else {
                0.2 / shape.total_beats as f64
            });
        let valid = r.gen_bool(0.7);
        loads += (m.done && trigger) as usize;
        d.uut.valid.next = valid;
        d.uut.trigger.next = trigger;
        m.step(valid, trigger);
        d.tick();
    }
    assert!(loads >= 1, "the stimulus must include a complete load");
    let trace = d.take_trace().unwrap();
    assert_eq!(trace.len(), cycles);
    let dir = tempfile::tempdir().unwrap();
    let report =
        run_icarus(&verilog, "top", &trace, dir.path()).expect("co-simulation could not run");
    report.assert_clean();
    assert_eq!(report.cycles, cycles);
}

#[test]
fn cosim_row_addr_tiny_l16() {
    cosim_row_addr(Config::TINY, 16, 11);
}

#[test]
fn cosim_row_addr_tiny_l8() {
    cosim_row_addr(Config::TINY, 8, 12);
}

#[test]
fn cosim_row_addr_stories260k_l64() {
    cosim_row_addr(Config::STORIES260K, 64, 13);
}

#[test]
fn cosim_row_addr_stories260k_l8() {
    cosim_row_addr(Config::STORIES260K, 8, 14);
}

/// Random loads with gaps and layer changes plus random reads. Reads of never-written
/// locations (0 in rust-hdl, x in Verilog) and the first cycle's read registers are
/// excluded from the comparison.
fn cosim_loader<const L: usize>(cfg: Config, seed: u64) {
    let shape = Shape::new(&cfg, L).unwrap();
    let verilog = emit_verilog(QkvLoader::<L>::new(&cfg));
    let mut d = Driver::new(QkvLoader::<L>::new(&cfg), |u, c| u.clock.next = c.into()).with_trace();
    let mut m = GenModel::new(shape);
    let mut r = rng(seed);
    let mut written_addrs: HashSet<usize> = HashSet::new();
    let mut written_rows: HashSet<usize> = HashSet::new();
    // Whether the read data shown in cycle c is defined in Verilog.
    let mut data_ok = vec![false];
    let mut scale_ok = vec![false];
    let mut loads = 0;
    let cycles = 3 * shape.total_beats + 300;
    for c in 0..cycles {
        let layer_change = c == shape.total_beats / 3
            || r.gen_bool(if m.done {
                0.1
            } else {
                0.2 / shape.total_beats as f64
            });
        let valid = r.gen_bool(0.75);
        loads += (m.done && layer_change) as usize;
        for i in 0..L {
            d.uut.data[i].next = signed_of::<8>(r.gen::<i8>() as i64);
        }
        d.uut.scale_mant.next = (r.gen_range(128..=255u8) as u64).into();
        d.uut.scale_exp.next = signed_of::<8>(r.gen::<i8>() as i64);
        d.uut.valid.next = valid;
        d.uut.layer_change.next = layer_change;
        // Mostly read written locations, sometimes anything.
        let rd_addr = if r.gen_bool(0.9) && !written_addrs.is_empty() {
            r.gen_range(0..=*written_addrs.iter().max().unwrap())
        } else {
            r.gen_range(0..shape.total_beats)
        };
        let rd_row = if r.gen_bool(0.9) && !written_rows.is_empty() {
            r.gen_range(0..=*written_rows.iter().max().unwrap())
        } else {
            r.gen_range(0..shape.qkv_rows)
        };
        d.uut.rd_addr.next = (rd_addr as u64).into();
        d.uut.rd_row.next = (rd_row as u64).into();
        // Read happens at this edge, before this cycle's write.
        data_ok.push(written_addrs.contains(&rd_addr));
        scale_ok.push(written_rows.contains(&rd_row));
        let o = m.out();
        if m.wr_en(valid, layer_change) {
            written_addrs.insert(o.addr);
            if o.last_beat {
                written_rows.insert(o.row_index);
            }
        }
        m.step(valid, layer_change);
        d.tick();
    }
    assert!(loads >= 1, "the stimulus must include a complete load");
    let mut trace: Trace = d.take_trace().unwrap();
    let mut excluded = 0;
    for c in 0..trace.len() {
        if !data_ok[c] {
            excluded += 1;
            for i in 0..L {
                trace.set_dont_care(c, &format!("rd_data${i}"));
            }
        }
        if !scale_ok[c] {
            trace.set_dont_care(c, "rd_scale_mant");
            trace.set_dont_care(c, "rd_scale_exp");
        }
    }
    assert!(
        excluded < cycles / 5,
        "most reads must be compared ({excluded} excluded)"
    );
    let dir = tempfile::tempdir().unwrap();
    let report =
        run_icarus(&verilog, "top", &trace, dir.path()).expect("co-simulation could not run");
    report.assert_clean();
    assert_eq!(report.cycles, cycles);
}

#[test]
fn cosim_loader_tiny_l16() {
    cosim_loader::<16>(Config::TINY, 21);
}

#[test]
fn cosim_loader_tiny_l8() {
    cosim_loader::<8>(Config::TINY, 22);
}

#[test]
fn cosim_loader_stories260k_l64() {
    cosim_loader::<64>(Config::STORIES260K, 23);
}

#[test]
fn cosim_loader_stories260k_l8() {
    cosim_loader::<8>(Config::STORIES260K, 24);
}

/// The harness itself: a tampered native value is reported (port, cycle, both values),
/// and marking it don't-care hides it again. Also checks port discovery.
#[test]
fn cosim_detects_a_mismatch() {
    let shape = Shape::new(&Config::TINY, 8).unwrap();
    let verilog = emit_verilog(RowAddrGen::from_shape(&shape));
    let mut d = Driver::new(RowAddrGen::from_shape(&shape), |u, c| {
        u.clock.next = c.into()
    })
    .with_trace();
    for i in 0..40 {
        d.uut.valid.next = i % 3 != 0;
        d.uut.trigger.next = i == 30;
        d.tick();
    }
    let mut trace = d.take_trace().unwrap();
    assert_eq!(trace.clocks, vec!["clock".to_string()]);
    let names: Vec<&str> = trace.ports.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "valid",
            "trigger",
            "beat",
            "row",
            "matrix",
            "head",
            "row_index",
            "addr",
            "last_beat",
            "wr_en",
            "load_done"
        ]
    );
    assert_eq!(trace.ports[7].width, 16);
    let ai = trace.port_index("addr");
    assert_eq!(trace.value(10, "addr"), 6);
    trace.rows[10][ai] ^= 0x100;
    let dir = tempfile::tempdir().unwrap();
    let report = run_icarus(&verilog, "top", &trace, dir.path()).unwrap();
    assert_eq!(report.mismatch_count, 1, "{:?}", report.mismatches);
    let mm = &report.mismatches[0];
    assert_eq!(
        (
            mm.cycle,
            mm.port.as_str(),
            mm.verilog.as_str(),
            mm.native.as_str()
        ),
        (10, "addr", "0006", "0106")
    );
    assert!(std::panic::catch_unwind(|| report.assert_clean()).is_err());
    trace.set_dont_care(10, "addr");
    let report = run_icarus(&verilog, "top", &trace, dir.path()).unwrap();
    report.assert_clean();
}

/// A block whose Verilog never drives its output (x), while the native model says 0.
#[derive(LogicBlock)]
struct NeverDriven {
    pub clock: Signal<In, Clock>,
    pub probe: Signal<In, Signed<8>>,
    pub y: Signal<Out, Bits<4>>,
}

impl Logic for NeverDriven {
    fn update(&mut self) {
        self.y.next = 0.into();
    }
    fn connect(&mut self) {
        self.y.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(String::new())
    }
}

/// Signed ports are recorded with their sign, and an `x` in the Verilog is a mismatch.
#[test]
fn cosim_reports_x_as_mismatch() {
    let make = || NeverDriven {
        clock: Default::default(),
        probe: Default::default(),
        y: Default::default(),
    };
    let verilog = emit_verilog(make());
    let mut d = Driver::new(make(), |u, c| u.clock.next = c.into()).with_trace();
    d.uut.probe.next = signed_of::<8>(-128);
    d.tick();
    d.tick();
    let trace = d.take_trace().unwrap();
    let p = &trace.ports[trace.port_index("probe")];
    assert!(p.signed && p.width == 8);
    assert_eq!(trace.value(0, "probe"), -128);
    let dir = tempfile::tempdir().unwrap();
    let report = run_icarus(&verilog, "top", &trace, dir.path()).unwrap();
    let ports: HashSet<String> = report.mismatches.iter().map(|m| m.port.clone()).collect();
    assert!(ports.contains("y"), "{:?}", report.mismatches);
    assert!(report.mismatches.iter().all(|m| m.verilog.contains('x')));
}
