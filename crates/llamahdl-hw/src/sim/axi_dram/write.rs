//! The write side of [`AxiDram`] (AW, W, B), for write masters (the boot copy, the
//! key/value cache). Driven like the read side, with its own pair of calls each cycle:
//! [`AxiDram::drive_write`] before settling the master (the slave's `awready`, `wready`,
//! `bvalid`, `bresp` depend only on its state), [`AxiDram::observe_write`] with the
//! master's outputs before the edge. Both sides share the memory; a testbench that uses
//! only one side never calls the other's functions.
//!
//! # Behaviour
//!
//! * AW: `awready` is low while `max_queue` write bursts are accepted and not yet
//!   answered on B, and otherwise with probability `ar_stall` per cycle.
//! * W: beats are taken in AW order, only for a burst whose AW was accepted in an earlier
//!   cycle (`wready` is low while there is none: a master that sends W before AW waits, it
//!   is not an error); before each beat it could take, the slave idles with probability
//!   `r_stall` (geometric gaps, counted in [`WriteStats::w_gap_cycles`]). Each beat's
//!   bytes with their `wstrb` bit set are written; a beat not inside the memory makes the
//!   burst's response DECERR (nothing written).
//! * B: a burst's response is presented `latency` cycles after its last beat, in order,
//!   and held until `bready`. [`DramConfig::write_error_at`] `= Some((n, resp))` answers
//!   write burst `n` (0-based) with `resp`, its data still written.
//! * The generator is the read side's seed mixed with a constant, so adding writes to a
//!   run leaves the read side's gaps unchanged.
//!
//! # Checks of the master ([`Violation`](super::Violation)s, as on the read side)
//!
//! AW stability until `awready`, the burst rules (INCR, `awsize`, alignment, `awlen <=
//! 255`, no 4 KiB crossing); W payload (`wdata`, `wstrb`, `wlast`) stable while `wvalid &
//! !wready` and `wvalid` not dropped; `wlast` exactly on each burst's last beat;
//! `bready` high whenever `bvalid` (with `require_rready`).

use super::{AxiDram, SplitMix};
use crate::units::dram::axi_read::{RESP_DECERR, RESP_OKAY};
use std::collections::VecDeque;

/// What the slave drives on the write channels in a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteSlaveOut {
    pub awready: bool,
    pub wready: bool,
    pub bvalid: bool,
    pub bresp: u64,
}

/// What a write master drives in a cycle (as seen before the rising edge).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteMasterOut {
    pub awvalid: bool,
    pub awaddr: u64,
    pub awlen: u64,
    pub awsize: u64,
    pub awburst: u64,
    pub wvalid: bool,
    /// `bus_bytes` bytes, byte `j` in bits `8j+7..8j`.
    pub wdata: Vec<u8>,
    /// Bit `j`: write byte `j`.
    pub wstrb: u64,
    pub wlast: bool,
    pub bready: bool,
}

/// Counts of the write side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// AW handshakes.
    pub bursts: u64,
    /// W handshakes.
    pub beats: u64,
    /// Cycle of the first and of the last W handshake.
    pub first_beat: Option<u64>,
    pub last_beat: Option<u64>,
    /// Gap cycles the slave inserted while it could have taken a beat.
    pub w_gap_cycles: u64,
    /// B handshakes, and those with a response other than OKAY.
    pub responses: u64,
    pub error_responses: u64,
    /// Most write bursts accepted and not answered at once.
    pub max_in_flight: usize,
}

impl WriteStats {
    /// W beats per cycle from the first beat to the last.
    pub fn utilisation(&self) -> f64 {
        match (self.first_beat, self.last_beat) {
            (Some(a), Some(b)) => self.beats as f64 / (b - a + 1) as f64,
            _ => 0.0,
        }
    }
}

struct WBurst {
    accepted: u64,
    next_addr: u64,
    left: u64,
    resp: u64,
}

/// The write side's state (inside [`AxiDram`]).
pub(super) struct WriteSide {
    rng: SplitMix,
    /// Accepted, W not complete, in order.
    bursts: VecDeque<WBurst>,
    /// W complete: (cycle the response may be presented, resp).
    answers: VecDeque<(u64, u64)>,
    awready: bool,
    wready: bool,
    bvalid: bool,
    gap_now: bool,
    prev_aw: Option<WriteMasterOut>,
    prev_w: Option<WriteMasterOut>,
    burst_no: u64,
    pub(super) stats: WriteStats,
}

impl WriteSide {
    pub(super) fn new(seed: u64) -> Self {
        WriteSide {
            rng: SplitMix(seed ^ 0x5752_4954_455f_5349),
            bursts: VecDeque::new(),
            answers: VecDeque::new(),
            awready: false,
            wready: false,
            bvalid: false,
            gap_now: false,
            prev_aw: None,
            prev_w: None,
            burst_no: 0,
            stats: WriteStats::default(),
        }
    }
}

impl AxiDram {
    /// The write side's counts.
    pub fn write_stats(&self) -> WriteStats {
        self.wr.stats
    }

    /// True when no write burst is accepted and unanswered.
    pub fn write_quiet(&self) -> bool {
        self.wr.bursts.is_empty() && self.wr.answers.is_empty()
    }

    /// The slave's write-channel outputs for this cycle.
    pub fn drive_write(&mut self) -> WriteSlaveOut {
        let cycle = self.cycle;
        let w = &mut self.wr;
        let held = w.bursts.len() + w.answers.len();
        w.awready = held < self.cfg.max_queue && !w.rng.gen_bool(self.cfg.ar_stall);
        w.gap_now = false;
        w.wready = false;
        if w.bursts.front().is_some_and(|b| b.accepted < cycle) {
            if w.rng.gen_bool(self.cfg.r_stall) {
                w.gap_now = true;
            } else {
                w.wready = true;
            }
        }
        let front = w.answers.front().copied();
        w.bvalid = front.is_some_and(|(at, _)| at <= cycle);
        WriteSlaveOut {
            awready: w.awready,
            wready: w.wready,
            bvalid: w.bvalid,
            bresp: if w.bvalid { front.unwrap().1 } else { 0 },
        }
    }

    /// Take this cycle's write handshakes, check the master, and advance one cycle. Call
    /// it after [`AxiDram::observe`] when both sides are in use (only `observe` counts
    /// the cycle), or alone for a write-only testbench with `alone = true`.
    pub fn observe_write(&mut self, m: &WriteMasterOut, alone: bool) {
        let cycle = if alone { self.cycle } else { self.cycle - 1 };
        let bytes = self.cfg.bus_bytes;
        // AW.
        if let Some(p) = self.wr.prev_aw.take() {
            if !m.awvalid {
                self.violation("awvalid dropped before awready".into());
            } else if (p.awaddr, p.awlen, p.awsize, p.awburst)
                != (m.awaddr, m.awlen, m.awsize, m.awburst)
            {
                self.violation(format!(
                    "AW payload changed while waiting: {:#x}/{} -> {:#x}/{}",
                    p.awaddr, p.awlen, m.awaddr, m.awlen
                ));
            }
        }
        if m.awvalid {
            self.check_burst("aw", m.awaddr, m.awlen, m.awsize, m.awburst);
            if self.wr.awready {
                let mut resp = RESP_OKAY;
                if let Some((n, r)) = self.cfg.write_error_at {
                    if n == self.wr.burst_no {
                        resp = r;
                    }
                }
                self.wr.burst_no += 1;
                self.wr.bursts.push_back(WBurst {
                    accepted: cycle,
                    next_addr: m.awaddr,
                    left: m.awlen + 1,
                    resp,
                });
                self.wr.stats.bursts += 1;
                let n = self.wr.bursts.len() + self.wr.answers.len();
                self.wr.stats.max_in_flight = self.wr.stats.max_in_flight.max(n);
            } else {
                self.wr.prev_aw = Some(m.clone());
            }
        }
        // W.
        if let Some(p) = self.wr.prev_w.take() {
            if !m.wvalid {
                self.violation("wvalid dropped before wready".into());
            } else if (&p.wdata, p.wstrb, p.wlast) != (&m.wdata, m.wstrb, m.wlast) {
                self.violation("W payload changed while waiting for wready".into());
            }
        }
        if self.wr.gap_now {
            self.wr.stats.w_gap_cycles += 1;
        }
        if m.wvalid {
            if self.wr.wready {
                let b = self.wr.bursts.front_mut().expect("wready without a burst");
                let addr = b.next_addr;
                b.next_addr += bytes as u64;
                b.left -= 1;
                let last = b.left == 0;
                let inside = addr >= self.base
                    && (addr - self.base)
                        .checked_add(bytes as u64)
                        .is_some_and(|e| e <= self.mem.len() as u64);
                if inside {
                    let o = (addr - self.base) as usize;
                    for j in 0..bytes {
                        if m.wstrb >> j & 1 == 1 {
                            self.mem[o + j] = m.wdata[j];
                        }
                    }
                } else {
                    b.resp = RESP_DECERR;
                }
                if m.wlast != last {
                    self.violation(format!(
                        "wlast {} on a beat at {addr:#x} that is{} its burst's last",
                        m.wlast,
                        if last { "" } else { " not" }
                    ));
                }
                if last {
                    let b = self.wr.bursts.pop_front().unwrap();
                    self.wr
                        .answers
                        .push_back((cycle + self.cfg.latency, b.resp));
                }
                self.wr.stats.beats += 1;
                self.wr.stats.first_beat.get_or_insert(cycle);
                self.wr.stats.last_beat = Some(cycle);
            } else {
                self.wr.prev_w = Some(m.clone());
            }
        }
        // B.
        if self.wr.bvalid {
            if m.bready {
                let (_, resp) = self.wr.answers.pop_front().unwrap();
                self.wr.stats.responses += 1;
                if resp != RESP_OKAY {
                    self.wr.stats.error_responses += 1;
                }
            } else if self.cfg.require_rready {
                self.violation("bready low while bvalid is high".into());
            }
        }
        if alone {
            self.stats.cycles += 1;
            self.cycle += 1;
        }
    }
}
