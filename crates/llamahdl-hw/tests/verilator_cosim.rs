//! Verilator co-simulation ([`run_verilator`]): the emitted Verilog of the decoder, compiled
//! by Verilator, must reproduce the native trace cycle for cycle; corrupted expectations must
//! be reported at the right cycle and port; ports wider than 64 bits and names with `$` must
//! work. These tests FAIL (not skip) when Verilator (or g++/make) is missing.
//!
//! Run with `--nocapture` to see the Verilator build time and cycles/s.

use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::bits::i2s;
use llamahdl_hw::cosim::{
    emit_verilog, run_icarus, run_verilator, run_verilator_with, verilator_member_name,
    CosimReport, PortDir, Trace,
};
use llamahdl_hw::decoder::Decoder;
use llamahdl_hw::sim::engine::{HwEngine, HwRun};
use llamahdl_hw::sim::Driver;
use llamahdl_model::{synth, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::*;
use std::path::Path;
use std::time::Instant;

/// The emitted Verilog of the whole decoder for a synthetic `cfg` model and the native
/// trace of its first `positions` positions on streamed QKV weights (so the weight-stream
/// ports move too).
fn decoder_trace<const L: usize>(cfg: &Config, seed: u64, positions: usize) -> (String, Trace) {
    let qm = QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8);
    let verilog = emit_verilog(Decoder::<L>::new(&qm));
    let mut hw = HwEngine::<L>::with_trace(&qm, Some(&qm));
    for pos in 0..positions {
        hw.run_position((3 + 7 * pos as u32) % cfg.vocab_size as u32, pos)
            .unwrap();
    }
    (verilog, hw.driver().take_trace().unwrap())
}

fn print_speed(what: &str, r: &CosimReport) {
    println!(
        "{what}: {} cycles, Verilator build {:.1} s, simulation loop {:.3} ms, {:.0} cycles/s",
        r.cycles,
        r.build_time.unwrap().as_secs_f64(),
        r.elapsed.unwrap().as_secs_f64() * 1e3,
        r.cycles_per_second.unwrap()
    );
}

/// Bit-by-bit reference of the hex files the co-simulation writes (first port of a
/// direction in the most significant bits; the care mask all ones unless don't-care).
fn reference_hex(t: &Trace, dir: PortDir, care: bool) -> String {
    let total: usize = t
        .ports
        .iter()
        .filter(|p| p.dir == dir)
        .map(|p| p.width)
        .sum();
    let digits = total.div_ceil(4).max(1);
    let mut out = String::new();
    for (c, row) in t.rows.iter().enumerate() {
        let mut bits = vec![false; digits * 4 - total];
        for (i, p) in t.ports.iter().enumerate() {
            if p.dir != dir {
                continue;
            }
            let v = match (care, t.dont_care.contains(&(c, i))) {
                (false, _) => row[i],
                (true, true) => 0,
                (true, false) => u128::MAX,
            };
            bits.extend((0..p.width).rev().map(|b| (v >> b) & 1 == 1));
        }
        for nib in bits.chunks(4) {
            let d = nib.iter().fold(0u32, |a, &b| (a << 1) | b as u32);
            out.push(std::char::from_digit(d, 16).unwrap());
        }
        out.push('\n');
    }
    out
}

fn assert_hex_files(t: &Trace, dir: &Path) {
    for (file, d, care) in [
        ("stim.hex", PortDir::In, false),
        ("exp.hex", PortDir::Out, false),
        ("care.hex", PortDir::Out, true),
    ] {
        let got = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            got == reference_hex(t, d, care),
            "{file} differs from the reference"
        );
    }
}

// ---------------------------------------------------------------------------------------
// (a) The decoder runs clean in Verilator.

#[test]
fn verilator_decoder_tiny_4_lanes() {
    let (verilog, mut trace) = decoder_trace::<4>(&Config::TINY, 41, 2);
    // Some don't-care entries, so the care file is exercised.
    trace.set_dont_care(3, "logit_value");
    trace.set_dont_care(10, "w_layer");
    let dir = tempfile::tempdir().unwrap();
    let r = run_verilator(&verilog, "top", &trace, dir.path()).expect("verilator");
    r.assert_clean();
    assert_eq!(r.cycles, trace.len());
    print_speed("Decoder<4> TINY", &r);
    assert_hex_files(&trace, dir.path());
    // Same trace and files in Icarus: both simulators agree with the native simulation.
    let idir = tempfile::tempdir().unwrap();
    run_icarus(&verilog, "top", &trace, idir.path())
        .expect("icarus")
        .assert_clean();
}

#[test]
fn verilator_decoder_rerun_reuses_the_model() {
    let t = Instant::now();
    let (verilog, trace) = decoder_trace::<8>(&Config::TINY, 42, 3);
    println!(
        "Decoder<8> TINY: native trace of {} cycles in {:.1} s; {} ports, {} input bits",
        trace.len(),
        t.elapsed().as_secs_f64(),
        trace.ports.len(),
        trace
            .ports
            .iter()
            .filter(|p| p.dir == PortDir::In)
            .map(|p| p.width)
            .sum::<usize>()
    );
    let dir = tempfile::tempdir().unwrap();

    let r = run_verilator(&verilog, "top", &trace, dir.path()).expect("verilator");
    r.assert_clean();
    assert_eq!(r.cycles, trace.len());
    print_speed("Decoder<8> TINY", &r);
    // A second trace of the same design in the same directory reuses the built model.
    let mut short = trace.clone();
    short.rows.truncate(trace.len() / 2);
    let r2 = run_verilator(&verilog, "top", &short, dir.path()).expect("verilator rerun");
    r2.assert_clean();
    assert_eq!(r2.cycles, short.len());
    println!(
        "rerun with the built model: build step {:.2} s",
        r2.build_time.unwrap().as_secs_f64()
    );
    assert!(
        r2.build_time.unwrap() < r.build_time.unwrap(),
        "the model was rebuilt"
    );
}

// ---------------------------------------------------------------------------------------
// (b) Corrupted expectations are reported at the right cycle and port.

#[test]
fn verilator_reports_corrupted_expectations() {
    let (verilog, trace) = decoder_trace::<4>(&Config::TINY, 43, 2);
    let data = trace.port_index("logit_value");
    let row = trace.port_index("logit_index");
    let valid = trace.port_index("logit_valid");
    let cycles: Vec<usize> = (0..trace.len())
        .filter(|&c| trace.rows[c][valid] == 1)
        .collect();
    let (c1, c2) = (cycles[3], cycles[cycles.len() - 2]);
    let mut bad = trace.clone();
    bad.rows[c1][data] ^= 1 << 31; // sign bit of a 32-bit signed port
    bad.rows[c2][row] ^= 0x5;
    let dir = tempfile::tempdir().unwrap();
    let r = run_verilator(&verilog, "top", &bad, dir.path()).expect("verilator");
    assert_eq!(r.mismatch_count, 2, "{:?}", r.mismatches);
    let m = &r.mismatches[0];
    assert_eq!((m.cycle, m.port.as_str()), (c1, "logit_value"));
    assert_eq!(m.verilog, format!("{:08x}", trace.rows[c1][data]));
    assert_eq!(m.native, format!("{:08x}", bad.rows[c1][data]));
    let m = &r.mismatches[1];
    assert_eq!((m.cycle, m.port.as_str()), (c2, "logit_index"));
    assert_eq!(m.verilog, format!("{:04x}", trace.rows[c2][row]));
    assert_eq!(m.native, format!("{:04x}", bad.rows[c2][row]));
    assert!(!r.is_clean());

    // The don't-care mask hides exactly the marked (cycle, port).
    bad.set_dont_care(c1, "logit_value");
    let r = run_verilator(&verilog, "top", &bad, dir.path()).expect("verilator");
    assert_eq!(r.mismatch_count, 1);
    assert_eq!(r.mismatches[0].cycle, c2);

    // Every cycle of an output wrong: all counted, only `max_reported` printed.
    let mut all = trace.clone();
    let layer = all.port_index("w_layer");
    for row in &mut all.rows {
        row[layer] ^= 0x80;
    }
    let r = run_verilator_with(&verilog, "top", &all, dir.path(), 7).expect("verilator");
    assert_eq!(r.mismatch_count, trace.len());
    assert_eq!(r.mismatches.len(), 7);
    assert!(r
        .mismatches
        .iter()
        .enumerate()
        .all(|(i, m)| m.cycle == i && m.port == "w_layer"));
}

// ---------------------------------------------------------------------------------------
// Wide ports (CData .. VlWide), signed ports and `$` names.

#[derive(LogicBlock)]
struct WidePorts {
    pub clock: Signal<In, Clock>,
    pub a: Signal<In, Bits<100>>,
    pub b: Signal<In, Signed<40>>,
    pub c: Signal<In, Bits<128>>,
    pub d: Signal<In, Bits<64>>,
    pub arr: [Signal<In, Bits<12>>; 3],
    pub q: Signal<Out, Bits<100>>,
    pub s: Signal<Out, Signed<40>>,
    pub nc: Signal<Out, Bits<128>>,
    pub nd: Signal<Out, Bits<64>>,
    pub oarr: [Signal<Out, Bits<12>>; 3],
    pub flag: Signal<Out, Bit>,
    ra: DFF<Bits<100>>,
    rb: DFF<Signed<40>>,
}

impl Default for WidePorts {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            a: Default::default(),
            b: Default::default(),
            c: Default::default(),
            d: Default::default(),
            arr: array_init::array_init(|_| Default::default()),
            q: Default::default(),
            s: Default::default(),
            nc: Default::default(),
            nd: Default::default(),
            oarr: array_init::array_init(|_| Default::default()),
            flag: Default::default(),
            ra: Default::default(),
            rb: Default::default(),
        }
    }
}

impl Logic for WidePorts {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ra, rb);
        self.ra.d.next = self.a.val();
        self.rb.d.next = self.b.val();
        self.q.next = self.ra.q.val();
        self.s.next = self.rb.q.val();
        self.nc.next = !self.c.val();
        self.nd.next = !self.d.val();
        for i in 0..3 {
            self.oarr[i].next = !self.arr[i].val();
        }
        self.flag.next = self.c.val().get_bit(127);
    }
}

fn wide_bits<const N: usize>(v: u128) -> Bits<N> {
    let mut x = Bits::<N>::default();
    for i in 0..N {
        if (v >> i) & 1 == 1 {
            x = x.replace_bit(i, true);
        }
    }
    x
}

#[test]
fn verilator_wide_and_mangled_ports() {
    assert_eq!(verilator_member_name("data$3"), "data__0243");
    assert_eq!(verilator_member_name("a__b"), "a___05Fb");
    assert_eq!(verilator_member_name("o_$__3"), "o___024___05F3");
    let verilog = emit_verilog(WidePorts::default());
    let mut d = Driver::new(WidePorts::default(), |u, c| u.clock.next = c.into()).with_trace();
    let mut rng = ChaCha8Rng::seed_from_u64(44);
    for _ in 0..500 {
        d.uut.a.next = wide_bits::<100>(rng.gen::<u128>() >> 28);
        d.uut.b.next = i2s::<40>(rng.gen_range(-(1i64 << 39)..(1i64 << 39)));
        d.uut.c.next = wide_bits::<128>(rng.gen::<u128>());
        d.uut.d.next = wide_bits::<64>(rng.gen::<u64>() as u128);
        for i in 0..3 {
            d.uut.arr[i].next = wide_bits::<12>(rng.gen_range(0..4096));
        }
        d.tick();
    }
    let trace = d.take_trace().unwrap();
    assert!(trace.ports.iter().any(|p| p.name == "oarr$2"));
    let dir = tempfile::tempdir().unwrap();
    let r = run_verilator(&verilog, "top", &trace, dir.path()).expect("verilator");
    r.assert_clean();
    assert_hex_files(&trace, dir.path());
    let idir = tempfile::tempdir().unwrap();
    run_icarus(&verilog, "top", &trace, idir.path())
        .expect("icarus")
        .assert_clean();

    // Corrupt the top bit of the 128-bit output, a middle bit of the 100-bit one and an
    // array element.
    let mut bad = trace.clone();
    let (nc, q, o1) = (
        bad.port_index("nc"),
        bad.port_index("q"),
        bad.port_index("oarr$1"),
    );
    bad.rows[100][nc] ^= 1 << 127;
    bad.rows[200][q] ^= 1 << 70;
    bad.rows[300][o1] ^= 1 << 11;
    let r = run_verilator(&verilog, "top", &bad, dir.path()).expect("verilator");
    assert_eq!(r.mismatch_count, 3, "{:?}", r.mismatches);
    let got: Vec<(usize, &str, String, String)> = r
        .mismatches
        .iter()
        .map(|m| {
            (
                m.cycle,
                m.port.as_str(),
                m.verilog.clone(),
                m.native.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                100,
                "nc",
                format!("{:032x}", trace.rows[100][nc]),
                format!("{:032x}", bad.rows[100][nc])
            ),
            (
                200,
                "q",
                format!("{:025x}", trace.rows[200][q]),
                format!("{:025x}", bad.rows[200][q])
            ),
            (
                300,
                "oarr$1",
                format!("{:03x}", trace.rows[300][o1]),
                format!("{:03x}", bad.rows[300][o1])
            ),
        ]
    );
}
