//! Shared bench of the AXI read master tests: an `AxiReadMaster` in our clock loop with
//! the `AxiDram` model, commands fed from a list, the output stream checked word by word
//! against the memory.
#![allow(dead_code)]

use llamahdl_hw::bits::bytes_of_bits;
use llamahdl_hw::sim::axi_dram::{drive_master, master_out, AxiDram, DramConfig};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::dram::axi_read::{AxiReadMaster, AxiReadParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// Memory base: just below 4 GiB, so streams cross address bit 32 (40-bit addresses).
pub const BASE: u64 = 0xFFFF_0000;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` random bytes.
pub fn random_mem(n: usize, seed: u64) -> Vec<u8> {
    let mut r = rng(seed ^ 0x5eed);
    (0..n).map(|_| r.gen()).collect()
}

/// Random commands inside `[BASE, BASE + mem_len)`: word-aligned starts, many near or
/// across 4 KiB boundaries, lengths from 1 to `max_words`.
pub fn random_cmds(
    r: &mut ChaCha8Rng,
    n: usize,
    w: usize,
    mem_len: usize,
    max_words: usize,
) -> Vec<(u64, u64)> {
    let words_in_mem = mem_len / w;
    (0..n)
        .map(|_| {
            let len = match r.gen_range(0..4) {
                0 => r.gen_range(1..=4),
                1 => r.gen_range(1..=300),
                _ => r.gen_range(1..=max_words),
            }
            .min(words_in_mem);
            let start_word = if r.gen_bool(0.5) {
                // A few words before a 4 KiB boundary.
                let pages = mem_len / 4096;
                let page = r.gen_range(1..pages);
                (page * 4096 / w).saturating_sub(r.gen_range(0..=8))
            } else {
                r.gen_range(0..words_in_mem)
            };
            let start_word = start_word.min(words_in_mem - len);
            (BASE + (start_word * w) as u64, len as u64)
        })
        .collect()
}

/// Knobs of one run.
#[derive(Debug, Clone)]
pub struct RunCfg {
    pub dram: DramConfig,
    pub params: AxiReadParams,
    /// Probability that `out_ready` is low in a cycle.
    pub out_stall: f64,
    /// Probability that `cmd_valid` is withheld in a cycle (gaps between commands).
    pub cmd_gap: f64,
    pub seed: u64,
    pub max_cycles: u64,
    pub trace: bool,
}

impl RunCfg {
    pub fn new(bus_bytes: usize) -> Self {
        RunCfg {
            dram: DramConfig::new(bus_bytes),
            params: AxiReadParams::default(),
            out_stall: 0.0,
            cmd_gap: 0.0,
            seed: 1,
            max_cycles: 2_000_000,
            trace: false,
        }
    }
}

/// What a run produced.
pub struct RunResult {
    pub dram: AxiDram,
    pub cycles: u64,
    /// Words taken from the output stream (each checked against memory).
    pub words: u64,
    pub error: bool,
    pub error_resp: u64,
    pub stat_beats: u64,
    pub stat_busy: u64,
    pub stat_ar_stall: u64,
    pub max_outstanding_seen: u64,
    pub max_level_seen: u64,
    pub trace: Option<llamahdl_hw::cosim::Trace>,
}

pub fn driver<const DW: usize, const FA: usize>(
    p: AxiReadParams,
    trace: bool,
) -> Driver<AxiReadMaster<DW, FA>> {
    let d = Driver::new(AxiReadMaster::<DW, FA>::new(p).unwrap(), |u, c| {
        u.clock.next = c.into()
    });
    if trace {
        d.with_trace()
    } else {
        d
    }
}

/// Run `cmds` through a fresh master and the model over `mem` at [`BASE`]. Every word
/// popped is checked against memory in order (panics on a mismatch, a protocol
/// violation, an overfull FIFO or too many bursts outstanding). Stops when every word is
/// out and the master is idle, or (after an error) when the master is idle with nothing
/// left to pop, or after `max_cycles` (panics).
pub fn run<const DW: usize, const FA: usize>(
    cfg: &RunCfg,
    mem: Vec<u8>,
    cmds: &[(u64, u64)],
) -> RunResult {
    let w = DW / 8;
    let depth = 1u64 << FA;
    let mut d = driver::<DW, FA>(cfg.params, cfg.trace);
    let mut dram = AxiDram::new(cfg.dram.clone(), BASE, mem);
    let mut r = rng(cfg.seed);
    let mut pending: VecDeque<(u64, u64)> = cmds.iter().copied().collect();
    let mut expected: VecDeque<u64> = VecDeque::new(); // byte addresses of words due
    let mut words = 0;
    let (mut max_out, mut max_level) = (0, 0);
    let mut cycles = 0;
    loop {
        let cmd_valid = !pending.is_empty() && !r.gen_bool(cfg.cmd_gap);
        if let Some(&(a, n)) = pending.front() {
            d.uut.cmd_addr.next = a.into();
            d.uut.cmd_words.next = n.into();
        }
        d.uut.cmd_valid.next = cmd_valid;
        let out_ready = !r.gen_bool(cfg.out_stall);
        d.uut.out_ready.next = out_ready;
        let s = dram.drive();
        drive_master(&mut d.uut, &s);
        d.settle();
        let u = &d.uut;
        let accepted = cmd_valid && u.cmd_ready.val();
        if accepted {
            let (a, n) = pending.pop_front().unwrap();
            let a = a / w as u64 * w as u64;
            expected.extend((0..n).map(|k| a + k * w as u64));
        }
        if out_ready && u.out_valid.val() {
            let addr = expected
                .pop_front()
                .unwrap_or_else(|| panic!("cycle {cycles}: a word nobody asked for"));
            let got = bytes_of_bits::<DW>(u.out_data.val());
            let o = (addr - BASE) as usize;
            assert_eq!(
                got,
                &dram.mem()[o..o + w],
                "cycle {cycles}: word {words} (address {addr:#x})"
            );
            words += 1;
        }
        let outstanding = u.outstanding.val().to_u64();
        let level = u.fifo_level.val().to_u64();
        assert!(
            outstanding <= cfg.params.max_outstanding as u64,
            "cycle {cycles}: {outstanding} bursts outstanding"
        );
        assert!(level <= depth, "cycle {cycles}: FIFO level {level}");
        max_out = max_out.max(outstanding);
        max_level = max_level.max(level);
        let idle = u.idle.val() && !accepted;
        let error = u.error.val();
        let out_valid = u.out_valid.val();
        dram.observe(&master_out(u));
        d.tick_settled();
        cycles += 1;
        // Nothing left: no command, no burst outstanding, nothing in or on its way into
        // the FIFO (a beat taken in this cycle shows in `level` from the next one).
        let finished = expected.is_empty() || error;
        if (pending.is_empty() || error)
            && idle
            && finished
            && level == 0
            && !out_valid
            && dram.quiet()
        {
            break;
        }
        assert!(
            cycles < cfg.max_cycles,
            "no end after {cycles} cycles ({} words out, {} due)",
            words,
            expected.len()
        );
    }
    dram.assert_clean();
    let u = &d.uut;
    let res = RunResult {
        cycles,
        words,
        error: u.error.val(),
        error_resp: u.error_resp.val().to_u64(),
        stat_beats: u.stat_beats.val().to_u64(),
        stat_busy: u.stat_busy.val().to_u64(),
        stat_ar_stall: u.stat_ar_stall.val().to_u64(),
        max_outstanding_seen: max_out,
        max_level_seen: max_level,
        trace: d.take_trace(),
        dram,
    };
    if !res.error {
        assert!(expected.is_empty(), "{} words never came", expected.len());
    }
    res
}
