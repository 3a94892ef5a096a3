//! Running the decoder RTL as an inference engine: [`HwEngine`] drives the native
//! simulation of [`Decoder`] one position at a time (implementing
//! `llamahdl_model::generate::Forward`), plays the part of external memory when the
//! design runs on streamed weights, and counts cycles.

use crate::bits::{i2s, s2i, u2b};
use crate::decoder::limits::{check_fits, unsupported_lanes};
use crate::decoder::program::{flag, opcode, Instr};
use crate::decoder::Decoder;
use crate::sim::Driver;
use crate::units::matvec::rom_words;
use llamahdl_golden::numerics::q16_to_f32;
use llamahdl_golden::QuantModel;
use llamahdl_model::generate::Forward;
use llamahdl_model::{Config, ModelError};
use std::io::Write;

/// What the decoder sees of one position.
#[derive(Clone, Debug)]
pub struct Position {
    /// Q16.16 logits in index order.
    pub logits: Vec<i32>,
    /// The decoder's argmax.
    pub next_token: u32,
    /// Clock cycles from `start` to `done`.
    pub cycles: u64,
}

/// An engine over the native simulation, object-safe so the lane count can be chosen at
/// run time.
pub trait HwRun {
    fn run_position(&mut self, token: u32, pos: usize) -> Result<Position, ModelError>;
    fn config(&self) -> Config;
    /// Total cycles simulated so far (including weight streaming).
    fn total_cycles(&self) -> u64;
    /// Start counting, from the next position on, the cycles spent on each operation of
    /// the sequencer's program ([`HwRun::profile`]).
    fn enable_profile(&mut self);
    /// Cycles per program operation summed over the positions run since
    /// [`HwRun::enable_profile`] (empty when it was not called).
    fn profile(&self) -> Profile;
    /// What went over the DRAM bus (a design with weights in DRAM), else `None`.
    fn bus(&self) -> Option<crate::sim::dram_engine::BusFigures> {
        None
    }
    /// Wall time the simulator spent in its own clock loop, when it measures it apart
    /// from everything else (the Verilator bench); `None` for the native simulation.
    fn rtl_seconds(&self) -> Option<f64> {
        None
    }
}

/// Where a position's cycles go: per operation of the per-token program, the cycles from
/// its fetch to its unit's `done` (the sequencer's program counter pointing at it),
/// summed over positions.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub ops: Vec<OpCycles>,
    /// Cycles of the positions outside every operation (the start cycle; weight streaming
    /// requests are not counted at all).
    pub other: u64,
    pub positions: u64,
}

/// One operation of the program and the cycles spent on it.
#[derive(Clone, Debug)]
pub struct OpCycles {
    pub index: usize,
    pub instr: Instr,
    /// What the operation is, e.g. `matvec qkv` (see [`op_kind`]).
    pub kind: &'static str,
    pub cycles: u64,
}

/// A short name for what an instruction does: `embed`, `rmsnorm`, `attention`, `matvec
/// qkv`, `matvec w1`, `matvec w3+swiglu`, `matvec w1+w3+swiglu` (the two as one
/// operation), `matvec +residual` (Wo, W2), `matvec classifier`, `end`.
pub fn op_kind(i: &Instr) -> &'static str {
    let f = i.flags as u16;
    match i.op {
        opcode::END => "end",
        opcode::RMSNORM => "rmsnorm",
        opcode::ATTN => "attention",
        opcode::EMBED => "embed",
        _ if f & flag::QKV != 0 => "matvec qkv",
        _ if f & flag::LOGITS != 0 => "matvec classifier",
        _ if f & flag::SWIGLU != 0 && i.n > 0 => "matvec w1+w3+swiglu",
        _ if f & flag::SWIGLU != 0 => "matvec w3+swiglu",
        _ if f & flag::ACC != 0 => "matvec +residual",
        _ => "matvec w1",
    }
}

/// One beat of a layer's weight stream: `L` int8 weights and the row's scale (mant, exp).
type Beat<const L: usize> = ([i8; L], u8, i8);

/// The decoder with `L` lanes (matrix-vector unit and attention), simulated natively.
pub struct HwEngine<const L: usize> {
    d: Driver<Decoder<L>>,
    config: Config,
    /// Per layer, the words and row scales streamed when the design asks for them.
    stream: Option<Vec<Vec<Beat<L>>>>,
    /// Cycle counts, once [`HwRun::enable_profile`] was called.
    profile: Option<Counts>,
}

/// The profile's raw counts: cycles per program counter value, cycles outside the
/// program, positions run.
#[derive(Default)]
struct Counts {
    ops: Vec<u64>,
    other: u64,
    positions: u64,
}

impl<const L: usize> HwEngine<L> {
    /// `qm` is compiled into the ROM. With `stream`, the design runs on streamed QKV
    /// weights (`use_ram`) and this engine streams `stream`'s Wqkv of each layer on
    /// request (the same model for the plan's scenario B, another one for scenario C).
    pub fn new(qm: &QuantModel, stream: Option<&QuantModel>) -> Self {
        Self::with_driver(qm, stream, qm.config.seq_len, |d| d)
    }

    /// As [`HwEngine::new`] with an on-chip context of `ctx` positions (positions from
    /// `ctx` on are refused by the hardware).
    pub fn with_context(qm: &QuantModel, ctx: usize) -> Self {
        Self::with_driver(qm, None, ctx, |d| d)
    }

    /// As [`HwEngine::new`], recording every top-level port each cycle for
    /// co-simulation (`driver().take_trace()`).
    pub fn with_trace(qm: &QuantModel, stream: Option<&QuantModel>) -> Self {
        Self::with_driver(qm, stream, qm.config.seq_len, |d| d.with_trace())
    }

    /// As [`HwEngine::new`], writing a VCD of every signal to `vcd`.
    pub fn with_vcd<W: Write + 'static>(
        qm: &QuantModel,
        stream: Option<&QuantModel>,
        vcd: W,
    ) -> Self {
        Self::with_driver(qm, stream, qm.config.seq_len, |d| d.with_vcd(vcd))
    }

    fn with_driver(
        qm: &QuantModel,
        stream: Option<&QuantModel>,
        ctx: usize,
        f: impl FnOnce(Driver<Decoder<L>>) -> Driver<Decoder<L>>,
    ) -> Self {
        let d = f(Driver::new(Decoder::<L>::with_context(qm, ctx), |u, c| {
            u.clock.next = c.into()
        }));
        let stream = stream.map(|s| {
            s.layers
                .iter()
                .map(|l| {
                    let beats = l.wqkv.cols.div_ceil(L);
                    rom_words::<L>(&[&l.wqkv])
                        .into_iter()
                        .enumerate()
                        .map(|(i, w)| (w, l.wqkv.mant[i / beats], l.wqkv.exp[i / beats]))
                        .collect()
                })
                .collect()
        });
        HwEngine {
            d,
            config: qm.config,
            stream,
            profile: None,
        }
    }

    /// The simulation driver (for tests that look inside).
    pub fn driver(&mut self) -> &mut Driver<Decoder<L>> {
        &mut self.d
    }

    fn stream_layer(&mut self, layer: usize) {
        let beats = &self.stream.as_ref().expect("streamed weights")[layer];
        for &(w, m, e) in beats {
            self.d.uut.w_valid.next = true;
            for (d, v) in self.d.uut.w_data.iter_mut().zip(w) {
                d.next = i2s::<8>(v as i64);
            }
            self.d.uut.w_scale_mant.next = u2b::<8>(m as u64);
            self.d.uut.w_scale_exp.next = i2s::<8>(e as i64);
            self.d.tick();
        }
        self.d.uut.w_valid.next = false;
    }
}

impl<const L: usize> HwRun for HwEngine<L> {
    fn run_position(&mut self, token: u32, pos: usize) -> Result<Position, ModelError> {
        let c = self.config;
        check_position_args(&c, token, pos)?;
        let u = &mut self.d.uut;
        u.token.next = u2b::<16>(token as u64);
        u.pos.next = u2b::<16>(pos as u64);
        u.use_ram.next = self.stream.is_some();
        u.start.next = true;
        let c0 = self.d.cycle();
        self.d.tick();
        self.d.uut.start.next = false;
        let mut logits = vec![None; c.vocab_size];
        // A position takes well under a million cycles; a design that never finishes is
        // an error, not a hang.
        let budget = 1u64 << 28;
        loop {
            if self.d.cycle() - c0 > budget {
                return Err(ModelError::Invalid {
                    what: "hardware simulation".into(),
                    problem: format!("position {pos} did not finish within {budget} cycles"),
                });
            }
            self.d.settle();
            if let Some(p) = &mut self.profile {
                match self.d.uut.program_counter() {
                    Some(pc) if pc < p.ops.len() => p.ops[pc] += 1,
                    _ => p.other += 1,
                }
            }
            if self.d.uut.logit_valid.val() {
                let i = self.d.uut.logit_index.val().index();
                logits[i] = Some(s2i(self.d.uut.logit_value.val()) as i32);
            }
            if self.d.uut.w_req.val() {
                let layer = self.d.uut.w_layer.val().index();
                self.d.tick();
                self.stream_layer(layer);
                continue;
            }
            let done = self.d.uut.done.val();
            self.d.tick_settled();
            if done {
                break;
            }
        }
        let cycles = self.d.cycle() - c0;
        if let Some(p) = &mut self.profile {
            p.other += 1; // the start cycle
            p.positions += 1;
        }
        let collisions = self.d.uut.bank_collisions();
        if collisions != 0 {
            return Err(ModelError::Invalid {
                what: "hardware simulation".into(),
                problem: format!(
                    "design error: attention took the lane multipliers from a \
                     matrix-vector beat in flight in {collisions} cycles"
                ),
            });
        }
        if self.d.uut.pos_error.val() {
            return Err(ModelError::PositionOutOfRange {
                what: "hardware (the decoder refused the position)".into(),
                pos,
                seq_len: c.seq_len,
            });
        }
        let logits = all_logits(logits, "hardware simulation")?;
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

    fn enable_profile(&mut self) {
        if self.profile.is_none() {
            self.profile = Some(Counts {
                ops: vec![0; self.d.uut.program().len()],
                ..Counts::default()
            });
        }
    }

    fn profile(&self) -> Profile {
        let Some(Counts {
            ops,
            other,
            positions,
        }) = &self.profile
        else {
            return Profile::default();
        };
        let prog = self.d.uut.program();
        Profile {
            ops: ops
                .iter()
                .enumerate()
                .map(|(index, &cycles)| OpCycles {
                    index,
                    instr: prog[index],
                    kind: op_kind(&prog[index]),
                    cycles,
                })
                .collect(),
            other: *other,
            positions: *positions,
        }
    }
}

/// A boxed engine with `lanes` lanes (one of [`crate::decoder::limits::SUPPORTED_LANES`]).
/// With `vcd`, every signal is written there as a VCD waveform (10-30x slower).
pub fn engine(
    qm: &QuantModel,
    lanes: usize,
    stream: Option<&QuantModel>,
    vcd: Option<Box<dyn Write>>,
) -> Result<Box<dyn HwRun>, String> {
    fn make<const L: usize>(
        qm: &QuantModel,
        stream: Option<&QuantModel>,
        vcd: Option<Box<dyn Write>>,
    ) -> Box<dyn HwRun> {
        match vcd {
            Some(w) => Box::new(HwEngine::<L>::with_vcd(qm, stream, w)),
            None => Box::new(HwEngine::<L>::new(qm, stream)),
        }
    }
    check_fits(qm, lanes, qm.config.seq_len)?;
    crate::with_lanes!(lanes, make(qm, stream, vcd)).ok_or_else(|| unsupported_lanes(lanes))
}

/// [`HwRun`] as a `Forward` engine, recording each position.
pub struct HwForward {
    pub hw: Box<dyn HwRun>,
    pub positions: Vec<Position>,
}

impl Forward for HwForward {
    fn forward(&mut self, token: u32, pos: usize) -> Result<Vec<f32>, ModelError> {
        let p = self.hw.run_position(token, pos)?;
        let f = p.logits.iter().map(|&v| q16_to_f32(v)).collect();
        self.positions.push(p);
        Ok(f)
    }

    fn argmax(&self, _logits: &[f32]) -> u32 {
        self.positions.last().map(|p| p.next_token).unwrap_or(0)
    }

    fn seq_len(&self) -> Option<usize> {
        Some(self.hw.config().seq_len)
    }
}

/// A position's token and position as every engine takes them: the token inside the
/// vocabulary, the position inside the 16-bit position port.
pub(crate) fn check_position_args(c: &Config, token: u32, pos: usize) -> Result<(), ModelError> {
    if token as usize >= c.vocab_size {
        return Err(ModelError::TokenOutOfRange {
            what: "hardware simulation".into(),
            token: token as u64,
            vocab_size: c.vocab_size,
        });
    }
    if pos >= 1 << 16 {
        return Err(ModelError::PositionOutOfRange {
            what: "hardware simulation".into(),
            pos,
            seq_len: c.seq_len,
        });
    }
    Ok(())
}

/// The logits collected during a position, every one of them present.
pub(crate) fn all_logits(logits: Vec<Option<i32>>, what: &str) -> Result<Vec<i32>, ModelError> {
    logits
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.ok_or(i))
        .collect::<Result<_, usize>>()
        .map_err(|i| ModelError::Invalid {
            what: what.into(),
            problem: format!("logit {i} was never produced"),
        })
}
