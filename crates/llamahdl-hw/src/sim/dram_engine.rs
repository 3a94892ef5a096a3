//! [`DramEngine`]: the native simulation of [`DramDecoder`] with its DRAM ([`AxiDram`],
//! preloaded with a weight image) in the loop, one position at a time, as an inference
//! engine ([`HwRun`]); it also counts what went over the bus.

use super::axi_dram::{AxiDram, DramConfig, DramStats, MasterOut};
use super::engine::{HwRun, Position, Profile};
use crate::bits::{bits_of_bytes, s2i, u2b};
use crate::decoder::dram::{DramDecoder, DramParams};
use crate::sim::Driver;
use llamahdl_model::{Config, ModelError};

/// Bus figures of the positions run so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BusFigures {
    /// The data bus width.
    pub bus_bits: u32,
    /// Bytes read from DRAM.
    pub bytes: u64,
    /// R beats received.
    pub beats: u64,
    /// Cycles of the positions (start to done).
    pub cycles: u64,
    /// Beats per position cycle (1.0 = the bus's peak).
    pub utilisation: f64,
    /// The DRAM model's own counts (gaps it inserted, bursts, ...).
    pub dram: DramStats,
}

/// The decoder with `L` lanes on a `DW`-bit AXI bus, with an [`AxiDram`].
pub struct DramEngine<const L: usize, const DW: usize> {
    d: Driver<DramDecoder<L, DW>>,
    dram: AxiDram,
    config: Config,
    beats: u64,
    cycles: u64,
    /// Before the first position, run until the header check's verdict (so that no
    /// position's cycles include it); off: start at once (the start is held).
    wait_header: bool,
    /// Cycles spent on the header check (when waited for).
    header_cycles: u64,
}

/// What the native engine's errors name.
const WHAT: &str = "hardware simulation (weights in DRAM)";

/// Cycles a position may take at most before the engine gives up.
pub const POSITION_BUDGET: u64 = 1 << 34;

/// Cycles the image header check may take at most.
pub const HEADER_BUDGET: u64 = 1 << 20;

fn sim_error(problem: String) -> ModelError {
    ModelError::Invalid {
        what: WHAT.into(),
        problem,
    }
}

/// How a position of a [`DramDecoder`] ended, as seen on its ports after `done`: the
/// verdict every engine of the design (native, Verilator) gives from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PositionEnd {
    /// `crc_error` with `bad_region`.
    pub crc_error: Option<usize>,
    /// `image_error` with `bad_word`.
    pub image_error: Option<usize>,
    /// The DRAM model's first protocol violation (cycle, what).
    pub violation: Option<(u64, String)>,
    /// Cycles in which attention took the lane multipliers from a beat in flight (native
    /// simulation only; 0 elsewhere).
    pub collisions: u64,
    pub pos_error: bool,
}

impl PositionEnd {
    /// The position's token is valid, or why not (`what` names the engine).
    pub fn check(&self, what: &str, pos: usize, seq_len: usize) -> Result<(), ModelError> {
        let err = |problem: String| ModelError::Invalid {
            what: what.into(),
            problem,
        };
        if let Some(region) = self.crc_error {
            return Err(err(format!(
                "position {pos}: the decoder found a corrupted weight image: region {region}'s \
                 CRC-32 differs from the region table's; the position's token is void and no \
                 further position runs"
            )));
        }
        if let Some(word) = self.image_error {
            return Err(err(format!(
                "position {pos}: the decoder refused the weight image: its header differs \
                 from the one the design was generated for (bus word {word} of the header); no \
                 token was computed"
            )));
        }
        if let Some((cycle, v)) = &self.violation {
            return Err(err(format!("AXI protocol violation in cycle {cycle}: {v}")));
        }
        if self.collisions != 0 {
            return Err(err(format!(
                "design error: attention took the lane multipliers from a matrix-vector beat \
                 in flight in {} cycles",
                self.collisions
            )));
        }
        if self.pos_error {
            return Err(ModelError::PositionOutOfRange {
                what: "hardware (the decoder refused the position)".into(),
                pos,
                seq_len,
            });
        }
        Ok(())
    }

    /// The error of a position that did not finish within `budget` cycles.
    pub fn timed_out(what: &str, pos: usize, budget: u64) -> ModelError {
        ModelError::Invalid {
            what: what.into(),
            problem: format!("position {pos} did not finish within {budget} cycles"),
        }
    }

    /// The error of a position stopped by an error response from the DRAM.
    pub fn axi_stopped(what: &str, pos: usize) -> ModelError {
        ModelError::Invalid {
            what: what.into(),
            problem: format!(
                "position {pos}: the DRAM answered a read with an error response; the decoder \
                 stopped"
            ),
        }
    }
}

impl<const L: usize, const DW: usize> DramEngine<L, DW> {
    /// `image` (a weight image for shape `c`, `L` lanes, a `DW`-bit bus) placed at
    /// `p.base` in a DRAM with the behaviour `dram`.
    pub fn new(
        c: &Config,
        p: DramParams,
        dram: DramConfig,
        image: Vec<u8>,
    ) -> Result<Self, String> {
        Self::build(c, p, dram, image, false)
    }

    /// As [`DramEngine::new`], recording every top-level port each cycle for
    /// co-simulation (`driver().take_trace()`; ports up to 128 bits, so `DW = 128`).
    pub fn with_trace(
        c: &Config,
        p: DramParams,
        dram: DramConfig,
        image: Vec<u8>,
    ) -> Result<Self, String> {
        Self::build(c, p, dram, image, true)
    }

    fn build(
        c: &Config,
        p: DramParams,
        dram: DramConfig,
        image: Vec<u8>,
        trace: bool,
    ) -> Result<Self, String> {
        let uut = DramDecoder::<L, DW>::new(c, p).map_err(|e| e.to_string())?;
        let d = Driver::new(uut, |u, c| u.clock.next = c.into());
        Ok(DramEngine {
            d: if trace { d.with_trace() } else { d },
            dram: AxiDram::new(dram, p.base, image),
            config: *c,
            beats: 0,
            cycles: 0,
            wait_header: true,
            header_cycles: 0,
        })
    }

    /// The simulation driver (for tests that look inside).
    pub fn driver(&mut self) -> &mut Driver<DramDecoder<L, DW>> {
        &mut self.d
    }

    /// Start the first position at once, before the header check's verdict (the design
    /// holds the start); its cycles then include the check.
    pub fn start_at_once(&mut self) {
        self.wait_header = false;
    }

    /// Cycles from power-up to the header check's verdict (0 until waited for).
    pub fn header_cycles(&self) -> u64 {
        self.header_cycles
    }

    /// The DRAM model.
    pub fn dram(&self) -> &AxiDram {
        &self.dram
    }

    /// What went over the bus during the positions run so far.
    pub fn bus(&self) -> BusFigures {
        BusFigures {
            bus_bits: DW as u32,
            bytes: self.beats * (DW / 8) as u64,
            beats: self.beats,
            cycles: self.cycles,
            utilisation: if self.cycles == 0 {
                0.0
            } else {
                self.beats as f64 / self.cycles as f64
            },
            dram: self.dram.stats,
        }
    }

    /// One cycle with the DRAM in the loop: the slave drives, the design settles, the
    /// slave observes, the clock ticks. Returns (done, a logit) seen in the cycle.
    fn cycle(&mut self) -> (bool, Option<(usize, i32)>) {
        let s = self.dram.drive();
        let u = &mut self.d.uut;
        u.arready.next = s.arready;
        u.rvalid.next = s.rvalid;
        u.rdata.next = bits_of_bytes::<DW>(&s.rdata);
        u.rresp.next = s.rresp.into();
        u.rlast.next = s.rlast;
        self.d.settle();
        let u = &self.d.uut;
        let m = MasterOut {
            arvalid: u.arvalid.val(),
            araddr: u.araddr.val().to_u64(),
            arlen: u.arlen.val().to_u64(),
            arsize: u.arsize.val().to_u64(),
            arburst: u.arburst.val().to_u64(),
            rready: u.rready.val(),
        };
        if s.rvalid && m.rready {
            self.beats += 1;
        }
        let logit = u
            .logit_valid
            .val()
            .then(|| (u.logit_index.val().index(), s2i(u.logit_value.val()) as i32));
        let done = u.done.val();
        self.dram.observe(&m);
        self.d.tick_settled();
        (done, logit)
    }
}

impl<const L: usize, const DW: usize> HwRun for DramEngine<L, DW> {
    fn run_position(&mut self, token: u32, pos: usize) -> Result<Position, ModelError> {
        let c = self.config;
        super::engine::check_position_args(&c, token, pos)?;
        if self.wait_header {
            self.wait_header = false;
            let c0 = self.d.cycle();
            while !(self.d.uut.ready.val() || self.d.uut.image_error.val()) {
                if self.d.cycle() - c0 > HEADER_BUDGET {
                    return Err(sim_error("the image header check never finished".into()));
                }
                self.cycle();
            }
            self.header_cycles = self.d.cycle() - c0;
        }
        let u = &mut self.d.uut;
        u.token.next = u2b::<16>(token as u64);
        u.pos.next = u2b::<16>(pos as u64);
        u.start.next = true;
        let c0 = self.d.cycle();
        let mut logits = vec![None; c.vocab_size];
        let (mut done, l) = self.cycle();
        self.d.uut.start.next = false;
        if let Some((i, v)) = l {
            logits[i] = Some(v);
        }
        let budget = POSITION_BUDGET;
        while !done {
            if self.d.cycle() - c0 > budget {
                return Err(PositionEnd::timed_out(WHAT, pos, budget));
            }
            if self.d.uut.axi_error.val() {
                return Err(PositionEnd::axi_stopped(WHAT, pos));
            }
            let (dn, l) = self.cycle();
            done = dn;
            if let Some((i, v)) = l {
                if i < logits.len() {
                    logits[i] = Some(v);
                }
            }
        }
        let cycles = self.d.cycle() - c0;
        self.cycles += cycles;
        let u = &self.d.uut;
        PositionEnd {
            crc_error: u.crc_error.val().then(|| u.bad_region.val().index()),
            image_error: u.image_error.val().then(|| u.bad_word.val().index()),
            violation: self
                .dram
                .violations
                .first()
                .map(|v| (v.cycle, v.what.clone())),
            collisions: u.core().bank_collisions(),
            pos_error: u.pos_error.val(),
        }
        .check(WHAT, pos, c.seq_len)?;
        let logits = super::engine::all_logits(logits, WHAT)?;
        Ok(Position {
            logits,
            next_token: self.d.uut.next_token.val().index() as u32,
            cycles,
        })
    }

    fn config(&self) -> Config {
        self.config
    }

    fn total_cycles(&self) -> u64 {
        self.d.cycle()
    }

    fn enable_profile(&mut self) {}

    fn profile(&self) -> Profile {
        Profile::default()
    }

    fn bus(&self) -> Option<BusFigures> {
        Some(DramEngine::bus(self))
    }
}

/// The (lanes, bus bits) pairs the tool is compiled for with weights in DRAM: a 128-,
/// 256- or 512-bit bus no wider than the lanes.
pub const DRAM_LAYOUTS: [(usize, usize); 6] = [
    (16, 128),
    (32, 128),
    (32, 256),
    (64, 128),
    (64, 256),
    (64, 512),
];

/// A boxed [`DramEngine`] for `lanes` and `bus_bits` (one of [`DRAM_LAYOUTS`]) running
/// `image` for shape `c`.
pub fn dram_engine(
    c: &Config,
    lanes: usize,
    bus_bits: usize,
    p: DramParams,
    dram: DramConfig,
    image: Vec<u8>,
) -> Result<Box<dyn HwRun>, String> {
    fn make<const L: usize, const DW: usize>(
        c: &Config,
        p: DramParams,
        d: DramConfig,
        image: Vec<u8>,
    ) -> Result<Box<dyn HwRun>, String> {
        Ok(Box::new(DramEngine::<L, DW>::new(c, p, d, image)?))
    }
    match (lanes, bus_bits) {
        (16, 128) => make::<16, 128>(c, p, dram, image),
        (32, 128) => make::<32, 128>(c, p, dram, image),
        (32, 256) => make::<32, 256>(c, p, dram, image),
        (64, 128) => make::<64, 128>(c, p, dram, image),
        (64, 256) => make::<64, 256>(c, p, dram, image),
        (64, 512) => make::<64, 512>(c, p, dram, image),
        _ => Err(format!(
            "{lanes} lanes with a {bus_bits}-bit bus: the streaming decoder is built for \
             (lanes, bus bits) in {DRAM_LAYOUTS:?}"
        )),
    }
}
