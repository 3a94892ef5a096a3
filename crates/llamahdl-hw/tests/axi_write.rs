//! Testbenches of the AXI4 burst write master (`units/dram/axi_write.rs`) against the
//! write side of the AXI DRAM model (`sim/axi_dram/write.rs`), in our own clock loop:
//! random commands near and across 4 KiB boundaries with random data gaps, command gaps,
//! latencies and back-pressure (the memory afterwards compared byte for byte with what
//! should have been written, the model checking the protocol), the exact burst split, a
//! BRESP error then `clear`, a reset in the middle of a run, full-rate streaming,
//! parameter errors; and the emitted Verilog replayed in Icarus and Verilator against
//! the native traces, every output compared every cycle. The co-simulations FAIL (not
//! skip) when iverilog/verilator are missing.

use llamahdl_hw::bits::{bits_of_bytes, bytes_of_bits};
use llamahdl_hw::cosim::{emit_verilog, run_icarus, run_verilator, Trace};
use llamahdl_hw::sim::axi_dram::{AxiDram, DramConfig, WriteMasterOut, WriteSlaveOut};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::dram::axi_read::{RESP_OKAY, RESP_SLVERR};
use llamahdl_hw::units::dram::axi_write::{AxiWriteMaster, AxiWriteParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

const BASE: u64 = 0xFFFF_0000;
const MEM: usize = 32 * 1024;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Random commands inside the memory, many a few words before a 4 KiB boundary.
fn random_cmds(r: &mut ChaCha8Rng, n: usize, w: usize, max_words: usize) -> Vec<(u64, u64)> {
    let words_in_mem = MEM / w;
    (0..n)
        .map(|_| {
            let len = match r.gen_range(0..3) {
                0 => r.gen_range(1..=4),
                _ => r.gen_range(1..=max_words),
            }
            .min(words_in_mem);
            let start = if r.gen_bool(0.5) {
                let page = r.gen_range(1..MEM / 4096);
                (page * 4096 / w).saturating_sub(r.gen_range(0..=8))
            } else {
                r.gen_range(0..words_in_mem)
            }
            .min(words_in_mem - len);
            (BASE + (start * w) as u64, len as u64)
        })
        .collect()
}

fn reference_split(cmds: &[(u64, u64)], w: u64, max_burst: u64) -> Vec<(u64, u64)> {
    let mut v = vec![];
    for &(a, n) in cmds {
        let (mut a, mut n) = (a, n);
        while n > 0 {
            let k = n.min((4096 - a % 4096) / w).min(max_burst);
            v.push((a, k));
            a += k * w;
            n -= k;
        }
    }
    v
}

#[derive(Clone)]
struct Cfg {
    dram: DramConfig,
    params: AxiWriteParams,
    /// Probability that `in_valid` is withheld in a cycle.
    in_gap: f64,
    /// Probability that `cmd_valid` is withheld in a cycle.
    cmd_gap: f64,
    seed: u64,
    trace: bool,
    /// Assert `reset` (master and a fresh model over the same memory) in this cycle.
    reset_at: Option<u64>,
}

impl Cfg {
    fn new(bus_bytes: usize, seed: u64) -> Self {
        Cfg {
            dram: DramConfig {
                seed,
                ..DramConfig::new(bus_bytes)
            },
            params: AxiWriteParams::default(),
            in_gap: 0.0,
            cmd_gap: 0.0,
            seed,
            trace: false,
            reset_at: None,
        }
    }
}

struct Outcome {
    mem: Vec<u8>,
    bursts: Vec<(u64, u64)>,
    cycles: u64,
    error: bool,
    error_resp: u64,
    stat_beats: u64,
    beats: u64,
    max_in_flight: usize,
    trace: Option<Trace>,
}

fn driver<const DW: usize, const SW: usize, const FA: usize>(
    p: AxiWriteParams,
    trace: bool,
) -> Driver<AxiWriteMaster<DW, SW, FA>> {
    let d = Driver::new(AxiWriteMaster::<DW, SW, FA>::new(p).unwrap(), |u, c| {
        u.clock.next = c.into()
    });
    if trace {
        d.with_trace()
    } else {
        d
    }
}

/// Copy the slave's write-channel outputs onto the master's inputs.
fn drive<const DW: usize, const SW: usize, const FA: usize>(
    u: &mut AxiWriteMaster<DW, SW, FA>,
    s: &WriteSlaveOut,
) {
    u.awready.next = s.awready;
    u.wready.next = s.wready;
    u.bvalid.next = s.bvalid;
    u.bresp.next = s.bresp.into();
}

/// The master's write-channel outputs, for the model's `observe_write`.
fn master_out<const DW: usize, const SW: usize, const FA: usize>(
    u: &AxiWriteMaster<DW, SW, FA>,
) -> WriteMasterOut {
    WriteMasterOut {
        awvalid: u.awvalid.val(),
        awaddr: u.awaddr.val().to_u64(),
        awlen: u.awlen.val().to_u64(),
        awsize: u.awsize.val().to_u64(),
        awburst: u.awburst.val().to_u64(),
        wvalid: u.wvalid.val(),
        wdata: bytes_of_bits::<DW>(u.wdata.val()),
        wstrb: u.wstrb.val().to_u64(),
        wlast: u.wlast.val(),
        bready: u.bready.val(),
    }
}

/// The data word `k` of command `i` (distinct everywhere).
fn word(i: usize, k: u64, w: usize, seed: u64) -> Vec<u8> {
    let mut r = rng(seed ^ ((i as u64) << 32) ^ k);
    (0..w).map(|_| r.gen()).collect()
}

fn all_words(cmds: &[(u64, u64)], w: usize, seed: u64) -> VecDeque<Vec<u8>> {
    cmds.iter()
        .enumerate()
        .flat_map(|(i, &(_, n))| (0..n).map(move |k| (i, k)))
        .map(|(i, k)| word(i, k, w, seed))
        .collect()
}

/// Runs `cmds` (each with its words pushed on the input stream, in order) until every
/// command is taken, every word pushed, the master idle and the model quiet.
fn run<const DW: usize, const SW: usize, const FA: usize>(
    c: &Cfg,
    mem: Vec<u8>,
    cmds: &[(u64, u64)],
) -> Outcome {
    let w = DW / 8;
    let mut d = driver::<DW, SW, FA>(c.params, c.trace);
    let mut dram = AxiDram::new(c.dram.clone(), BASE, mem);
    let mut r = rng(c.seed ^ 0xabc);
    let mut pending: VecDeque<(u64, u64)> = cmds.iter().copied().collect();
    let mut data = all_words(cmds, w, c.seed);
    let mut bursts = vec![];
    let mut cycles = 0u64;
    loop {
        if c.reset_at == Some(cycles) {
            // Reset the master with a fresh slave over the memory as it is, then start
            // all over: the second run must write everything (the same data).
            d.uut.reset.next = true;
            d.uut.cmd_valid.next = false;
            d.uut.in_valid.next = false;
            d.settle();
            d.tick_settled();
            d.uut.reset.next = false;
            dram = AxiDram::new(c.dram.clone(), BASE, dram.mem().to_vec());
            pending = cmds.iter().copied().collect();
            data = all_words(cmds, w, c.seed);
            bursts.clear();
            cycles += 1;
            continue;
        }
        let cmd_valid = !pending.is_empty() && !r.gen_bool(c.cmd_gap);
        if let Some(&(a, n)) = pending.front() {
            d.uut.cmd_addr.next = a.into();
            d.uut.cmd_words.next = n.into();
        }
        d.uut.cmd_valid.next = cmd_valid;
        let in_valid = !data.is_empty() && !r.gen_bool(c.in_gap);
        if let Some(x) = data.front() {
            d.uut.in_data.next = bits_of_bytes::<DW>(x);
        }
        d.uut.in_valid.next = in_valid;
        let s = dram.drive_write();
        drive(&mut d.uut, &s);
        d.settle();
        let u = &d.uut;
        if cmd_valid && u.cmd_ready.val() {
            pending.pop_front();
        }
        if in_valid && u.in_ready.val() {
            data.pop_front();
        }
        assert!(
            u.outstanding.val().to_u64() <= c.params.max_outstanding as u64,
            "cycle {cycles}: too many bursts outstanding"
        );
        let m = master_out(u);
        if m.awvalid && s.awready {
            bursts.push((m.awaddr, m.awlen + 1));
        }
        let idle = u.idle.val();
        let error = u.error.val();
        dram.observe_write(&m, true);
        d.tick_settled();
        cycles += 1;
        if (pending.is_empty() || error) && (data.is_empty() || error) && idle && dram.write_quiet()
        {
            break;
        }
        assert!(cycles < 1_000_000, "no end after {cycles} cycles");
    }
    dram.assert_clean();
    let u = &d.uut;
    Outcome {
        mem: dram.mem().to_vec(),
        bursts,
        cycles,
        error: u.error.val(),
        error_resp: u.error_resp.val().to_u64(),
        stat_beats: u.stat_beats.val().to_u64(),
        beats: dram.write_stats().beats,
        max_in_flight: dram.write_stats().max_in_flight,
        trace: d.take_trace(),
    }
}

/// What memory holds after `cmds` wrote their words over `mem`.
fn expected_mem(mut mem: Vec<u8>, cmds: &[(u64, u64)], w: usize, seed: u64) -> Vec<u8> {
    for (i, &(a, n)) in cmds.iter().enumerate() {
        for k in 0..n {
            let o = (a - BASE) as usize + k as usize * w;
            mem[o..o + w].copy_from_slice(&word(i, k, w, seed));
        }
    }
    mem
}

fn random_mem(seed: u64) -> Vec<u8> {
    let mut r = rng(seed ^ 0x5eed);
    (0..MEM).map(|_| r.gen()).collect()
}

fn checked<const DW: usize, const SW: usize, const FA: usize>(
    c: &Cfg,
    cmds: &[(u64, u64)],
) -> Outcome {
    let w = DW / 8;
    let mem = random_mem(c.seed);
    let want = expected_mem(mem.clone(), cmds, w, c.seed);
    let o = run::<DW, SW, FA>(c, mem, cmds);
    let total: u64 = cmds.iter().map(|c| c.1).sum();
    assert!(!o.error, "unexpected error {}", o.error_resp);
    assert!(o.mem == want, "memory differs from what was written");
    assert_eq!(
        o.bursts,
        reference_split(cmds, w as u64, c.params.max_burst as u64),
        "burst split"
    );
    assert_eq!(o.stat_beats, total);
    assert_eq!(o.beats, total);
    assert!(o.max_in_flight <= c.params.max_outstanding);
    o
}

#[test]
fn random_commands_latencies_and_stalls() {
    let mut n = 0;
    for (k, latency) in [1u64, 40].into_iter().enumerate() {
        for (j, stall) in [0.0, 0.1, 0.3].into_iter().enumerate() {
            let seed = 100 + 3 * k as u64 + j as u64;
            let mut c = Cfg::new(8, seed);
            c.dram.latency = latency;
            c.dram.ar_stall = stall;
            c.dram.r_stall = stall;
            c.in_gap = [0.0, 0.2, 0.6][(k + j) % 3];
            c.cmd_gap = 0.2;
            c.params = AxiWriteParams {
                max_outstanding: [1, 2, 4, 15][(k + j) % 4],
                max_burst: [256, 16, 100, 3][(j + 2 * k) % 4],
            };
            let cmds = random_cmds(&mut rng(seed), 10, 8, 700);
            let o = checked::<64, 8, 9>(&c, &cmds);
            println!(
                "latency {latency} stall {stall} {:?}: {} bursts, {} cycles",
                c.params,
                o.bursts.len(),
                o.cycles
            );
            n += 1;
        }
    }
    assert_eq!(n, 6);
}

#[test]
fn wide_buses() {
    fn one<const DW: usize, const SW: usize, const FA: usize>(seed: u64) {
        let w = DW / 8;
        let mut c = Cfg::new(w, seed);
        c.dram.latency = 20;
        c.dram.ar_stall = 0.1;
        c.dram.r_stall = 0.1;
        c.in_gap = 0.3;
        c.params.max_burst = 64;
        let cmds = random_cmds(&mut rng(seed), 5, w, 200);
        let o = checked::<DW, SW, FA>(&c, &cmds);
        assert!(o.bursts.iter().all(|b| b.1 <= 4096 / w as u64));
    }
    one::<128, 16, 8>(201);
    one::<256, 32, 7>(202);
    one::<512, 64, 7>(203);
}

/// With the data ready and a slave that never stalls, long commands go at the bus rate:
/// after the first burst, one beat per cycle.
#[test]
fn full_rate() {
    let mut c = Cfg::new(8, 7);
    c.dram.latency = 30;
    let cmds = [(BASE, 2048u64)];
    let o = checked::<64, 8, 10>(&c, &cmds);
    // Words take 2 cycles to be readable; each burst's AW needs its 256 words in the
    // FIFO; the last response comes `latency` cycles after the last beat.
    println!("2048 beats in {} cycles", o.cycles);
    assert!(
        o.cycles <= 2048 + 256 + 30 + 16,
        "{} cycles for 2048 beats",
        o.cycles
    );
}

#[test]
fn bresp_error_then_clear() {
    let mut c = Cfg::new(8, 9);
    c.dram.latency = 5;
    c.dram.write_error_at = Some((2, RESP_SLVERR));
    c.params.max_burst = 8;
    let cmds = [(BASE, 64u64)];
    let mem = random_mem(9);
    let o = run::<64, 8, 6>(&c, mem, &cmds);
    assert!(o.error);
    assert_eq!(o.error_resp, RESP_SLVERR);
    // Bursts issued before the error was seen are completed (their W sent, B taken),
    // and no more are issued after it.
    assert!(o.bursts.len() >= 3 && o.bursts.len() < 8, "{:?}", o.bursts);
    assert_eq!(o.beats, 8 * o.bursts.len() as u64);

    // clear, then the master works again.
    let mut d = driver::<64, 8, 6>(c.params, false);
    let mut dram = AxiDram::new(DramConfig::new(8), BASE, vec![0; 4096]);
    let mut dram_err = DramConfig::new(8);
    dram_err.write_error_at = Some((0, RESP_SLVERR));
    let mut dram_e = AxiDram::new(dram_err, BASE, vec![0; 4096]);
    // First an error (burst 0), then clear, then a clean write into a fresh model.
    let mut phase = 0;
    let mut pushed = 0u64;
    for cycle in 0..2000u64 {
        let cmd_valid = phase == 0 || phase == 3;
        d.uut.cmd_valid.next = cmd_valid;
        d.uut.cmd_addr.next = BASE.into();
        d.uut.cmd_words.next = 4u64.into();
        d.uut.in_valid.next = pushed < 4;
        d.uut.in_data.next = bits_of_bytes::<64>(&[if phase < 3 { 1u8 } else { 3 }; 8]);
        d.uut.clear.next = phase == 2;
        let model = if phase <= 2 { &mut dram_e } else { &mut dram };
        let s = model.drive_write();
        drive(&mut d.uut, &s);
        d.settle();
        let u = &d.uut;
        let took_cmd = cmd_valid && u.cmd_ready.val();
        if pushed < 4 && u.in_ready.val() {
            pushed += 1;
        }
        let m = master_out(u);
        let (idle, error) = (u.idle.val(), u.error.val());
        model.observe_write(&m, true);
        d.tick_settled();
        match phase {
            0 if took_cmd => phase = 1,
            1 if error && idle => phase = 2,
            2 => {
                assert!(!d.uut.error.val(), "clear did not clear the error");
                assert_eq!(d.uut.fifo_level.val().to_u64(), 0);
                pushed = 0;
                phase = 3;
            }
            3 if took_cmd => phase = 4,
            4 if idle && dram.write_quiet() && pushed == 4 => {
                assert!(!error);
                assert_eq!(&dram.mem()[..32], &[3u8; 32][..]);
                dram.assert_clean();
                dram_e.assert_clean();
                println!("recovered at cycle {cycle}");
                return;
            }
            _ => {}
        }
    }
    let u = &d.uut;
    panic!(
        "no recovery (phase {phase}): error {} idle {} outstanding {} level {} awvalid {} wvalid {} {:?}",
        u.error.val(),
        u.idle.val(),
        u.outstanding.val().to_u64(),
        u.fifo_level.val().to_u64(),
        u.awvalid.val(),
        u.wvalid.val(),
        dram_e.write_stats()
    );
}

/// A reset in the middle of a run (master and slave), then the whole run again from
/// the reset state: everything lands, the split is the reference's, the model sees a
/// clean protocol after the reset.
#[test]
fn reset_mid_run_then_clean() {
    for reset_at in [3u64, 40, 150, 400, 900] {
        let mut c = Cfg::new(8, 300 + reset_at);
        c.dram.latency = 10;
        c.dram.r_stall = 0.2;
        c.in_gap = 0.2;
        c.reset_at = Some(reset_at);
        let cmds = random_cmds(&mut rng(reset_at), 6, 8, 300);
        let o = checked::<64, 8, 8>(&c, &cmds);
        assert!(o.cycles > reset_at);
    }
}

#[test]
fn parameter_errors() {
    assert!(AxiWriteMaster::<64, 8, 4>::new(AxiWriteParams {
        max_outstanding: 4,
        max_burst: 17
    })
    .is_err());
    assert!(AxiWriteMaster::<64, 8, 9>::new(AxiWriteParams {
        max_outstanding: 16,
        max_burst: 16
    })
    .is_err());
    assert!(AxiWriteMaster::<64, 4, 9>::new(AxiWriteParams::default()).is_err());
    assert!(AxiWriteMaster::<64, 8, 9>::new(AxiWriteParams::default()).is_ok());
}

fn cosim_scenario(seed: u64, error: bool) -> (String, Trace) {
    let mut c = Cfg::new(8, seed);
    c.trace = true;
    c.dram.latency = 7;
    c.dram.ar_stall = 0.2;
    c.dram.r_stall = 0.2;
    c.in_gap = 0.3;
    c.cmd_gap = 0.3;
    c.params = AxiWriteParams {
        max_outstanding: 3,
        max_burst: 32,
    };
    if error {
        c.dram.write_error_at = Some((4, RESP_SLVERR));
    }
    let cmds = random_cmds(&mut rng(seed), 5, 8, 200);
    let o = run::<64, 8, 6>(&c, random_mem(seed), &cmds);
    assert_eq!(o.error, error);
    if !error {
        assert_eq!(o.error_resp, RESP_OKAY);
    }
    let mut t = o.trace.unwrap();
    for k in 0..t.len() {
        if t.raw(k, "wvalid") == 0 {
            t.set_dont_care(k, "wdata");
        }
    }
    let v = emit_verilog(AxiWriteMaster::<64, 8, 6>::new(c.params).unwrap());
    (v, t)
}

#[test]
fn cosim_icarus_and_verilator() {
    for (seed, error) in [(1u64, false), (2, true)] {
        let (v, t) = cosim_scenario(seed, error);
        let dir = tempfile::tempdir().unwrap();
        let rep = run_icarus(&v, "top", &t, dir.path()).expect("icarus could not run");
        rep.assert_clean();
        assert_eq!(rep.cycles, t.len());
        let dir = tempfile::tempdir().unwrap();
        let rep = run_verilator(&v, "top", &t, dir.path()).expect("verilator could not run");
        rep.assert_clean();
        println!(
            "seed {seed}: {} cycles agree in Icarus and Verilator",
            t.len()
        );
    }
}
