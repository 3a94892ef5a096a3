//! [`AxiDram`]: an AXI4 read-only DRAM slave model for native testbenches, driven from
//! our own clock loop, and the protocol checks it makes of the master it talks to.
//!
//! The model is plain Rust (not a rust-hdl block): each cycle the testbench
//!
//! 1. calls [`AxiDram::drive`] *before* settling the master, and copies the returned
//!    [`SlaveOut`] (`arready`, `rvalid`, `rdata`, `rresp`, `rlast`) onto the master's
//!    inputs. The slave's outputs depend only on its own state (registered behaviour, no
//!    combinational path from the master's outputs, as AXI recommends);
//! 2. settles the master and calls [`AxiDram::observe`] with the master's AR and R
//!    outputs ([`MasterOut`]) as they are before the rising edge. `observe` takes the
//!    handshakes of this cycle (AR: `arvalid & arready`; R: `rvalid & rready`), checks the
//!    protocol rules and advances the model by one cycle;
//! 3. ticks the master.
//!
//! For an [`AxiReadMaster`], [`drive_master`] does step 1's copy and [`master_out`]
//! collects step 2's outputs; a whole-decoder testbench does the same with its own ports.
//!
//! # Behaviour
//!
//! * Memory: a byte buffer placed at `base` ([`AxiDram::new`], [`AxiDram::from_file`]);
//!   a beat whose bytes are not all inside it is answered with DECERR and zero data.
//! * Latency: the first beat of a burst accepted at the edge ending cycle `t` can be
//!   presented (`rvalid`) in cycle `t + latency` at the earliest (`latency >= 1`); later
//!   beats follow at one per cycle. Bursts queue (up to `max_queue`; `arready` is low
//!   while the queue is full) and are answered in order, each with its own latency
//!   counted from its own AR handshake, so several bursts overlap.
//! * Random back-pressure from a seed: `arready` is low with probability `ar_stall`
//!   in a cycle; before a beat that could be presented, a gap cycle is inserted with
//!   probability `r_stall` (repeatedly: gaps are geometric). Such gap cycles are counted
//!   ([`DramStats::r_gap_cycles`]): they are the slave's, not the master's.
//! * Error injection: [`DramConfig::error_at`] `= Some((n, resp))` answers the `n`-th beat
//!   (0-based, over the whole run) with `resp` instead of OKAY.
//! * The slave's own duties hold by construction and are self-checked: once `rvalid` is
//!   high it stays high with the same `rdata`/`rresp`/`rlast` until `rready`.
//!
//! # Checks of the master (each a [`Violation`], collected, never a panic)
//!
//! * AR: `arvalid` once high stays high with a stable payload until `arready`; the
//!   burst is INCR (`arburst = 1`), `arsize` is the bus width, `araddr` is aligned to it,
//!   `arlen <= 255`, and the burst does not cross a 4 KiB boundary.
//! * R: with [`DramConfig::require_rready`], `rready` is high in every cycle with `rvalid`
//!   (the master under test promises that); otherwise cycles with `rvalid & !rready` are
//!   counted.

use crate::bits::bits_of_bytes;
use crate::units::dram::axi_read::{AxiReadMaster, BURST_INCR, RESP_DECERR, RESP_OKAY};
use std::collections::VecDeque;
use std::path::Path;

mod write;
pub use write::{WriteMasterOut, WriteSlaveOut, WriteStats};

/// Settings of an [`AxiDram`].
#[derive(Debug, Clone)]
pub struct DramConfig {
    /// Bytes per beat (8, 16, 32 or 64).
    pub bus_bytes: usize,
    /// Cycles from an AR handshake to that burst's first beat at the earliest (>= 1).
    pub latency: u64,
    /// Bursts accepted and not finished at most (`arready` low while full).
    pub max_queue: usize,
    /// Probability that `arready` is low in a cycle.
    pub ar_stall: f64,
    /// Probability of a gap cycle before each beat that could be presented.
    pub r_stall: f64,
    /// Seed of the back-pressure.
    pub seed: u64,
    /// `(n, resp)`: answer beat `n` (0-based, over the run) with `resp`.
    pub error_at: Option<(u64, u64)>,
    /// `(n, resp)`: answer write burst `n` (0-based, over the run) with `resp`.
    pub write_error_at: Option<(u64, u64)>,
    /// Report a violation when `rvalid` is high and `rready` low (and `bvalid` / `bready`).
    pub require_rready: bool,
}

impl DramConfig {
    /// No stalls, latency 1, 8 bursts queued, `rready` required.
    pub fn new(bus_bytes: usize) -> Self {
        DramConfig {
            bus_bytes,
            latency: 1,
            max_queue: 8,
            ar_stall: 0.0,
            r_stall: 0.0,
            seed: 1,
            error_at: None,
            write_error_at: None,
            require_rready: true,
        }
    }
}

/// What the slave drives in a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveOut {
    pub arready: bool,
    pub rvalid: bool,
    /// `bus_bytes` bytes, byte `j` in bits `8j+7..8j`.
    pub rdata: Vec<u8>,
    pub rresp: u64,
    pub rlast: bool,
}

/// What the master drives in a cycle (as seen before the rising edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MasterOut {
    pub arvalid: bool,
    pub araddr: u64,
    pub arlen: u64,
    pub arsize: u64,
    pub arburst: u64,
    pub rready: bool,
}

/// A protocol rule the master broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub cycle: u64,
    pub what: String,
}

/// A burst accepted on the AR channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// Cycle of the AR handshake.
    pub cycle: u64,
    pub addr: u64,
    /// Beats (`arlen + 1`).
    pub beats: u64,
}

/// Counts of what went over the bus (also as the Verilator bench reports them,
/// `cosim::dram_verilator`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct DramStats {
    /// Cycles observed.
    pub cycles: u64,
    /// R handshakes.
    pub beats: u64,
    /// Cycle of the first and of the last R handshake.
    pub first_beat: Option<u64>,
    pub last_beat: Option<u64>,
    /// Gap cycles the slave inserted while it had a beat it could present.
    pub r_gap_cycles: u64,
    /// Cycles with `rvalid & !rready`.
    pub r_backpressure: u64,
    /// AR handshakes.
    pub bursts: u64,
    /// Largest number of bursts accepted and not finished at once.
    pub max_in_flight: usize,
    /// Beats answered with a response other than OKAY.
    pub error_beats: u64,
}

impl DramStats {
    /// Beats per cycle from the first beat to the last (1.0 is the bus's peak).
    pub fn utilisation(&self) -> f64 {
        match (self.first_beat, self.last_beat) {
            (Some(a), Some(b)) => self.beats as f64 / (b - a + 1) as f64,
            _ => 0.0,
        }
    }

    /// Beats per cycle in which the slave offered to send (the same window, less the gap
    /// cycles the slave chose): 1.0 means the master never left the bus idle.
    pub fn master_efficiency(&self) -> f64 {
        match (self.first_beat, self.last_beat) {
            (Some(a), Some(b)) => {
                let window = b - a + 1;
                self.beats as f64 / (window - self.r_gap_cycles.min(window - 1)) as f64
            }
            _ => 0.0,
        }
    }
}

/// SplitMix64: the model's own small generator (deterministic per seed, no dependency).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p` (0 never, 1 always).
    fn gen_bool(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64) < p * (1u64 << 53) as f64
    }
}

struct Active {
    burst: Burst,
    next_addr: u64,
    left: u64,
}

/// The model. See the [module docs](self).
pub struct AxiDram {
    cfg: DramConfig,
    base: u64,
    mem: Vec<u8>,
    rng: SplitMix,
    cycle: u64,
    queue: VecDeque<Active>,
    /// The beat on the bus (rvalid high), if any: kept until accepted.
    held: Option<SlaveOut>,
    arready: bool,
    prev_ar: Option<MasterOut>,
    beat_no: u64,
    gap_now: bool,
    /// Every burst accepted, in order.
    pub bursts: Vec<Burst>,
    pub violations: Vec<Violation>,
    pub stats: DramStats,
    wr: write::WriteSide,
}

impl AxiDram {
    /// A slave serving `mem`, whose byte 0 is at address `base`. Panics on a bus width
    /// other than 8, 16, 32, 64 bytes or a latency of 0 (testbench parameters).
    pub fn new(cfg: DramConfig, base: u64, mem: Vec<u8>) -> Self {
        assert!(
            [8, 16, 32, 64].contains(&cfg.bus_bytes),
            "AxiDram: bus of {} bytes",
            cfg.bus_bytes
        );
        assert!(cfg.latency >= 1, "AxiDram: latency must be at least 1");
        assert!(cfg.max_queue >= 1, "AxiDram: max_queue must be at least 1");
        let rng = SplitMix(cfg.seed);
        let cfg_seed = cfg.seed;
        AxiDram {
            cfg,
            base,
            mem,
            rng,
            cycle: 0,
            queue: VecDeque::new(),
            held: None,
            arready: false,
            prev_ar: None,
            beat_no: 0,
            gap_now: false,
            bursts: vec![],
            violations: vec![],
            stats: DramStats::default(),
            wr: write::WriteSide::new(cfg_seed),
        }
    }

    /// A slave serving the bytes of `path` (e.g. a weight image) at `base`.
    pub fn from_file(cfg: DramConfig, base: u64, path: &Path) -> std::io::Result<Self> {
        Ok(Self::new(cfg, base, std::fs::read(path)?))
    }

    /// The memory's bytes.
    pub fn mem(&self) -> &[u8] {
        &self.mem
    }

    /// Cycles observed so far.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Bursts accepted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// True when no burst is waiting or being answered.
    pub fn quiet(&self) -> bool {
        self.queue.is_empty() && self.held.is_none()
    }

    fn violation(&mut self, what: String) {
        self.violations.push(Violation {
            cycle: self.cycle,
            what,
        });
    }

    /// Panics listing the violations, if any (for tests).
    pub fn assert_clean(&self) {
        if !self.violations.is_empty() {
            let list: Vec<String> = self
                .violations
                .iter()
                .take(10)
                .map(|v| format!("  cycle {}: {}", v.cycle, v.what))
                .collect();
            panic!(
                "{} AXI protocol violation(s) by the master:\n{}",
                self.violations.len(),
                list.join("\n")
            );
        }
    }

    fn beat(&mut self, addr: u64, last: bool) -> SlaveOut {
        let w = self.cfg.bus_bytes;
        let mut rdata = vec![0u8; w];
        let mut rresp = RESP_OKAY;
        let inside = addr >= self.base
            && (addr - self.base)
                .checked_add(w as u64)
                .is_some_and(|end| end <= self.mem.len() as u64);
        if inside {
            let o = (addr - self.base) as usize;
            rdata.copy_from_slice(&self.mem[o..o + w]);
        } else {
            rresp = RESP_DECERR;
        }
        if let Some((n, resp)) = self.cfg.error_at {
            if n == self.beat_no {
                rresp = resp;
            }
        }
        if rresp != RESP_OKAY {
            self.stats.error_beats += 1;
        }
        self.beat_no += 1;
        SlaveOut {
            arready: false,
            rvalid: true,
            rdata,
            rresp,
            rlast: last,
        }
    }

    /// The slave's outputs for this cycle (step 1 of the module docs).
    pub fn drive(&mut self) -> SlaveOut {
        self.arready =
            self.queue.len() < self.cfg.max_queue && !self.rng.gen_bool(self.cfg.ar_stall);
        self.gap_now = false;
        if self.held.is_none() {
            let ready = self
                .queue
                .front()
                .is_some_and(|a| self.cycle >= a.burst.cycle + self.cfg.latency);
            if ready {
                if self.rng.gen_bool(self.cfg.r_stall) {
                    self.gap_now = true;
                } else {
                    let (addr, last) = {
                        let a = self.queue.front().unwrap();
                        (a.next_addr, a.left == 1)
                    };
                    let b = self.beat(addr, last);
                    self.held = Some(b);
                }
            }
        }
        let mut out = self.held.clone().unwrap_or(SlaveOut {
            arready: false,
            rvalid: false,
            rdata: vec![0; self.cfg.bus_bytes],
            rresp: 0,
            rlast: false,
        });
        out.arready = self.arready;
        out
    }

    fn check_ar(&mut self, m: &MasterOut) {
        self.check_burst("ar", m.araddr, m.arlen, m.arsize, m.arburst);
    }

    /// The rules every burst request obeys (`ch`: "ar" or "aw", the names' prefix).
    fn check_burst(&mut self, ch: &str, addr: u64, len: u64, size: u64, burst: u64) {
        let w = self.cfg.bus_bytes as u64;
        if burst != BURST_INCR {
            self.violation(format!("{ch}burst {burst} is not INCR"));
        }
        if 1u64 << size != w {
            self.violation(format!("{ch}size {size} is not the bus width ({w} bytes)"));
        }
        if addr % w != 0 {
            self.violation(format!("{ch}addr {addr:#x} not aligned to {w} bytes"));
        }
        if len > 255 {
            self.violation(format!("{ch}len {len} > 255"));
        }
        let end = addr % 4096 + (len + 1) * w;
        if end > 4096 {
            self.violation(format!(
                "burst at {addr:#x} of {} beats crosses a 4 KiB boundary",
                len + 1
            ));
        }
    }

    /// Take this cycle's handshakes, check the master's outputs, and advance one cycle
    /// (step 2 of the module docs).
    pub fn observe(&mut self, m: &MasterOut) {
        // AR stability: a pending request may not change or drop.
        if let Some(p) = self.prev_ar {
            if !m.arvalid {
                self.violation("arvalid dropped before arready".into());
            } else if (p.araddr, p.arlen, p.arsize, p.arburst)
                != (m.araddr, m.arlen, m.arsize, m.arburst)
            {
                self.violation(format!(
                    "AR payload changed while waiting: {:#x}/{} -> {:#x}/{}",
                    p.araddr, p.arlen, m.araddr, m.arlen
                ));
            }
        }
        self.prev_ar = None;
        if m.arvalid {
            self.check_ar(m);
            if self.arready {
                let b = Burst {
                    cycle: self.cycle,
                    addr: m.araddr,
                    beats: m.arlen + 1,
                };
                self.bursts.push(b);
                self.queue.push_back(Active {
                    burst: b,
                    next_addr: m.araddr,
                    left: m.arlen + 1,
                });
                self.stats.bursts += 1;
                self.stats.max_in_flight = self.stats.max_in_flight.max(self.queue.len());
            } else {
                self.prev_ar = Some(*m);
            }
        }
        // R.
        if self.gap_now {
            self.stats.r_gap_cycles += 1;
        }
        if let Some(h) = &self.held {
            if m.rready {
                let last = h.rlast;
                self.held = None;
                self.stats.beats += 1;
                self.stats.first_beat.get_or_insert(self.cycle);
                self.stats.last_beat = Some(self.cycle);
                let a = self.queue.front_mut().expect("a beat without a burst");
                a.left -= 1;
                a.next_addr += self.cfg.bus_bytes as u64;
                debug_assert_eq!(last, a.left == 0, "slave model: rlast");
                if a.left == 0 {
                    self.queue.pop_front();
                }
            } else {
                self.stats.r_backpressure += 1;
                if self.cfg.require_rready {
                    self.violation("rready low while rvalid is high".into());
                }
            }
        }
        self.stats.cycles += 1;
        self.cycle += 1;
    }
}

/// Copy the slave's outputs onto an [`AxiReadMaster`]'s inputs (step 1).
pub fn drive_master<const DW: usize, const FA: usize>(m: &mut AxiReadMaster<DW, FA>, s: &SlaveOut) {
    m.arready.next = s.arready;
    m.rvalid.next = s.rvalid;
    m.rdata.next = bits_of_bytes::<DW>(&s.rdata);
    m.rresp.next = s.rresp.into();
    m.rlast.next = s.rlast;
}

/// An [`AxiReadMaster`]'s AR/R outputs, for [`AxiDram::observe`] (step 2).
pub fn master_out<const DW: usize, const FA: usize>(m: &AxiReadMaster<DW, FA>) -> MasterOut {
    MasterOut {
        arvalid: m.arvalid.val(),
        araddr: m.araddr.val().to_u64(),
        arlen: m.arlen.val().to_u64(),
        arsize: m.arsize.val().to_u64(),
        arburst: m.arburst.val().to_u64(),
        rready: m.rready.val(),
    }
}
