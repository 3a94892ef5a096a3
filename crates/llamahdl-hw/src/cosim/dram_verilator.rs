//! The DRAM-streaming decoder's emitted Verilog in Verilator with a DRAM model in the loop.
//!
//! [`run_verilator`](super::run_verilator) replays a native trace and takes ports of at most
//! 128 bits; this module instead runs the design on its own: the Verilog of
//! [`DramDecoder`](crate::decoder::dram::DramDecoder) (`emit::generate_dram`, the file
//! `llamahdl verilog --weights dram` writes) is verilated together with the hand-written C++
//! bench `sim/verilator/dram_tb.cpp`, which holds an AXI4 read slave preloaded with a weight
//! image. That slave is a line-for-line C++ port of [`AxiDram`](crate::sim::axi_dram::AxiDram)
//! (same SplitMix64 stream, drawn in the same order), so with the same [`DramConfig`] the
//! Verilog sees exactly the answers the native [`DramEngine`](crate::sim::dram_engine::DramEngine)
//! gives, and cycles, beats and gap cycles agree with the native simulation cycle for cycle.
//! Any bus width works (the bench fills `rdata`, a `VlWide` in Verilator, from bytes).
//!
//! 1. [`DramVerilatorModel::build`] writes `llamahdl_dram_decoder.v` and `dram_tb.cpp`
//!    into a work directory, runs `verilator --cc --exe` and `make` (model `Vdram`, binary
//!    `obj_dir/Vdram_tb`). A later build with the same Verilog, bench and arguments in the
//!    same directory reuses the binary; a directory holding anything else is refused.
//! 2. [`DramVerilatorModel::start`] runs the binary on an image file and a DRAM behaviour:
//!    it holds `reset`, waits for the header check's verdict, then answers commands
//!    `run TOKEN POS` on its stdin with one JSON line each ([`PositionRecord`]).
//!    [`VerilatorDramEngine`] is that process as an [`HwRun`], so the CLI generates with it
//!    exactly as with the native engine and checks every logit against the golden model.
//! 3. [`DramVerilatorModel::run`] runs a list of (token, position) and collects the results.
//!
//! Every failure (Verilator or a C++ compiler missing, a build error, the bench dying, a
//! protocol violation, a corrupted image) is an error with its reason, never a panic.

use super::run_tool;
use crate::sim::axi_dram::{DramConfig, DramStats};
use crate::sim::dram_engine::{BusFigures, PositionEnd, HEADER_BUDGET, POSITION_BUDGET};
use crate::sim::engine::{all_logits, check_position_args, HwRun, Position, Profile};
use anyhow::{anyhow, bail, Context, Result};
use llamahdl_model::{Config, ModelError};
use serde::Deserialize;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The C++ bench (`sim/verilator/dram_tb.cpp`), compiled into the crate so that the
/// `llamahdl` binary needs no source tree.
pub const HARNESS: &str = include_str!("../../../../sim/verilator/dram_tb.cpp");

/// The file that marks a directory as one of these builds.
const MARKER: &str = ".llamahdl-verilator";
const MODULE: &str = "llamahdl_dram_decoder";
const HINT: &str = "apt-get install verilator g++ make";
/// What the Verilator engine's errors name.
const WHAT: &str = "hardware simulation in Verilator (weights in DRAM)";

/// A verilated and compiled DRAM decoder with its bench.
#[derive(Clone, Debug)]
pub struct DramVerilatorModel {
    dir: PathBuf,
    config: Config,
    lanes: usize,
    bus_bits: usize,
    base: u64,
    build_time: Duration,
    reused: bool,
    log: String,
}

fn verilator_args(bus_bits: usize) -> Vec<String> {
    let mut a: Vec<String> = super::VERILATOR_SIM_FLAGS
        .iter()
        .chain(&["--prefix", "Vdram", "--top-module", MODULE, "-CFLAGS"])
        .map(|s| s.to_string())
        .collect();
    a.push(format!("-DDRAM_BUS_BITS={bus_bits}"));
    a.extend(["-o", "Vdram_tb", "llamahdl_dram_decoder.v", "dram_tb.cpp"].map(String::from));
    a
}

/// Jobs for `make`: `LLAMAHDL_VERILATOR_JOBS`, else the machine's parallelism.
fn make_jobs() -> usize {
    std::env::var("LLAMAHDL_VERILATOR_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&j| j >= 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `dir` may hold a build: new, empty, or marked as one.
fn claim_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{}: not a directory", dir.display());
        }
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot read the directory", dir.display()))?;
        if entries.next().is_some() && !dir.join(MARKER).is_file() {
            bail!(
                "{}: the directory is not empty and is not a Verilator build directory of \
                 llamahdl (it has no {MARKER}); name a new or empty directory",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "Verilator build of llamahdl's DRAM decoder (llamahdl_hw::cosim::dram_verilator)\n",
    )
    .with_context(|| format!("{}: cannot write", dir.display()))
}

/// Write `text` to `path` unless it already holds exactly that; true when written.
fn write_if_changed(path: &Path, text: &str) -> Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

impl DramVerilatorModel {
    /// Emit the DRAM decoder for shape `c` (`lanes`, `bus_bits`, on-chip context `ctx`, the
    /// image at `base`), verilate it with the bench and compile it in `workdir` (see the
    /// [module docs](self)).
    pub fn build(
        c: &Config,
        lanes: usize,
        bus_bits: usize,
        ctx: usize,
        base: u64,
        workdir: &Path,
    ) -> Result<Self> {
        let emitted = crate::emit::generate_dram(c, lanes, bus_bits, ctx, base)?;
        let verilog = emitted
            .iter()
            .find(|e| e.module == MODULE)
            .ok_or_else(|| anyhow!("generate_dram emitted no {MODULE}"))?;
        claim_dir(workdir)?;
        let t0 = Instant::now();
        let args = verilator_args(bus_bits);
        let stamp_text = format!("{}\n", args.join(" "));
        let stamp = workdir.join("verilated.stamp");
        let binary = workdir.join("obj_dir/Vdram_tb");
        let changed_v = write_if_changed(&workdir.join("llamahdl_dram_decoder.v"), &verilog.text)?;
        let changed_tb = write_if_changed(&workdir.join("dram_tb.cpp"), HARNESS)?;
        let reused = !changed_v
            && !changed_tb
            && std::fs::read_to_string(&stamp).is_ok_and(|s| s == stamp_text)
            && binary.is_file();
        let mut log = String::new();
        if !reused {
            let _ = std::fs::remove_file(&stamp);
            let mut v = Command::new("verilator");
            v.current_dir(workdir).args(&args);
            let out = run_tool(v, "verilator", HINT)?;
            log.push_str(&String::from_utf8_lossy(&out.stdout));
            log.push_str(&String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                bail!("verilator failed on the DRAM decoder and its bench:\n{log}");
            }
            let mut m = Command::new("make");
            m.current_dir(workdir.join("obj_dir")).args([
                "-j",
                &make_jobs().to_string(),
                "-f",
                "Vdram.mk",
                "Vdram_tb",
            ]);
            let out = run_tool(m, "make", HINT)?;
            if !out.status.success() {
                bail!(
                    "compiling the Verilator model of the DRAM decoder failed:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::fs::write(&stamp, &stamp_text)
                .with_context(|| format!("writing {}", stamp.display()))?;
        }
        Ok(DramVerilatorModel {
            dir: workdir.to_path_buf(),
            config: *c,
            lanes,
            bus_bits,
            base,
            build_time: t0.elapsed(),
            reused,
            log,
        })
    }

    /// The compiled bench.
    pub fn binary(&self) -> PathBuf {
        self.dir.join("obj_dir/Vdram_tb")
    }

    /// Time spent verilating and compiling in [`DramVerilatorModel::build`] (near zero
    /// when an earlier build was reused).
    pub fn build_time(&self) -> Duration {
        self.build_time
    }

    /// True when the build found a binary of the same design and bench to reuse.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// What Verilator printed.
    pub fn log(&self) -> &str {
        &self.log
    }

    pub fn lanes(&self) -> usize {
        self.lanes
    }

    pub fn bus_bits(&self) -> usize {
        self.bus_bits
    }

    /// Start the bench on the weight image in `image` with the DRAM behaving as `dram`
    /// (its `bus_bytes` must be the design's); returns once the header check's verdict is
    /// in.
    pub fn start(&self, image: &Path, dram: &DramConfig) -> Result<VerilatorDramEngine> {
        VerilatorDramEngine::start(self, image, dram)
    }

    /// Run `positions` (token, position) in order on a fresh bench and collect the
    /// results; the first position that fails ends the run with its error.
    pub fn run(
        &self,
        image: &Path,
        dram: &DramConfig,
        positions: &[(u32, usize)],
    ) -> Result<DramVerilatorRun> {
        let mut e = self.start(image, dram)?;
        let mut out = DramVerilatorRun {
            header_cycles: e.header_cycles(),
            positions: vec![],
            records: vec![],
            bus: e.bus(),
            total_cycles: 0,
            sim_seconds: 0.0,
            cycles_per_second: 0.0,
        };
        for &(token, pos) in positions {
            let p = e.run_position(token, pos)?;
            out.records.extend(e.last_record().cloned());
            out.positions.push(p);
        }
        out.bus = e.bus();
        let end = e.finish()?;
        out.total_cycles = end.total_cycles;
        out.sim_seconds = end.sim_seconds;
        out.cycles_per_second = end.cycles_per_second;
        Ok(out)
    }
}

/// The results of [`DramVerilatorModel::run`].
#[derive(Clone, Debug)]
pub struct DramVerilatorRun {
    /// Cycles from the end of reset to the header check's verdict.
    pub header_cycles: u64,
    /// Logits, next token and cycles of each position.
    pub positions: Vec<Position>,
    /// Everything the bench reported of each position (without the logits).
    pub records: Vec<PositionRecord>,
    /// What went over the bus (as [`DramEngine::bus`](crate::sim::dram_engine::DramEngine::bus)).
    pub bus: BusFigures,
    /// Cycles simulated after reset.
    pub total_cycles: u64,
    /// Wall time of the bench's simulation loops.
    pub sim_seconds: f64,
    pub cycles_per_second: f64,
}

/// A protocol rule the master broke, as the bench reports it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct BenchViolation {
    pub cycle: u64,
    pub what: String,
}

/// One position as the bench reports it (after `done`, or after it stopped).
#[derive(Clone, Debug, Deserialize)]
pub struct PositionRecord {
    pub token: u32,
    pub pos: usize,
    /// Cycles from the `start` cycle to the `done` cycle, both included.
    pub cycles: u64,
    pub done: bool,
    /// The position ran out of the cycle budget.
    pub timeout: bool,
    /// The position stopped on `axi_error` before `done`.
    pub axi_stop: bool,
    pub axi_error: bool,
    pub crc_error: bool,
    pub bad_region: usize,
    pub image_error: bool,
    pub bad_word: usize,
    pub ready: bool,
    pub pos_error: bool,
    pub next_token: u32,
    /// R handshakes in this position, counted by the bench.
    pub beats: u64,
    /// The design's own counters over the position: R beats, cycles with a burst
    /// outstanding.
    pub stat_beats: u64,
    pub stat_busy: u64,
    /// Gap cycles the DRAM inserted in this position.
    pub gap_cycles: u64,
    /// Cycles and R beats since reset.
    pub total_cycles: u64,
    pub total_beats: u64,
    pub sim_seconds: f64,
    /// Logits whose index was outside the vocabulary, or that came twice.
    pub logits_outside: u64,
    pub logits_repeated: u64,
    /// The DRAM model's counts since reset.
    pub dram: DramStats,
    pub violation_count: u64,
    /// The first violations (at most 16).
    pub violations: Vec<BenchViolation>,
    /// By index; `None` for one never produced. (Taken out by
    /// [`VerilatorDramEngine::run_position`]: they are the [`Position`]'s.)
    pub logits: Vec<Option<i32>>,
    /// How many logits came out (set by [`VerilatorDramEngine::run_position`]).
    #[serde(skip)]
    pub produced: usize,
}

#[derive(Debug, Deserialize)]
struct HeaderRecord {
    bus_bits: usize,
    cycles: u64,
    timeout: bool,
    ready: bool,
    image_error: bool,
    bad_word: usize,
    beats: u64,
}

/// The bench's summary when it ends.
#[derive(Clone, Debug, Deserialize)]
pub struct EndRecord {
    pub total_cycles: u64,
    pub total_beats: u64,
    pub sim_seconds: f64,
    pub cycles_per_second: f64,
    pub dram: DramStats,
    pub violation_count: u64,
    pub violations: Vec<BenchViolation>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Event {
    Header(HeaderRecord),
    Position(Box<PositionRecord>),
    End(EndRecord),
}

impl Event {
    fn describe(&self) -> String {
        match self {
            Event::Header(_) => "a header verdict".into(),
            Event::Position(r) => format!("the result of token {} at position {}", r.token, r.pos),
            Event::End(_) => "its end summary".into(),
        }
    }
}

/// The Verilator bench of a [`DramVerilatorModel`] running, as an [`HwRun`]: each
/// position is a command to the process and its JSON answer.
pub struct VerilatorDramEngine {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: std::fs::File,
    config: Config,
    bus_bytes: u64,
    header: HeaderRecord,
    last: Option<PositionRecord>,
    position_cycles: u64,
}

/// `x` as the bench reads a probability: Rust's shortest round-trip decimal, which C's
/// `strtod` reads back as the same `f64`.
fn prob(x: f64) -> String {
    format!("{x:?}")
}

impl VerilatorDramEngine {
    fn start(m: &DramVerilatorModel, image: &Path, dram: &DramConfig) -> Result<Self> {
        if dram.bus_bytes * 8 != m.bus_bits {
            bail!(
                "the DRAM model has a {}-bit bus, the design {} bits",
                dram.bus_bytes * 8,
                m.bus_bits
            );
        }
        if !image.is_file() {
            bail!("{}: no such image file", image.display());
        }
        let stderr = tempfile::tempfile().context("creating a file for the bench's stderr")?;
        let mut cmd = Command::new(m.binary());
        cmd.arg("--image")
            .arg(image)
            .args(["--base", &m.base.to_string()])
            .args(["--vocab", &m.config.vocab_size.to_string()])
            .args(["--latency", &dram.latency.to_string()])
            .args(["--queue", &dram.max_queue.to_string()])
            .args(["--ar-stall", &prob(dram.ar_stall)])
            .args(["--r-stall", &prob(dram.r_stall)])
            .args(["--seed", &dram.seed.to_string()])
            .args(["--header-budget", &HEADER_BUDGET.to_string()])
            .args(["--position-budget", &POSITION_BUDGET.to_string()]);
        if let Some((beat, resp)) = dram.error_at {
            cmd.args(["--error-at", &format!("{beat}:{resp}")]);
        }
        if !dram.require_rready {
            cmd.arg("--allow-rready-low");
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr.try_clone()?));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the Verilator bench {}", m.binary().display()))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut e = VerilatorDramEngine {
            child,
            stdin,
            stdout,
            stderr,
            config: m.config,
            bus_bytes: dram.bus_bytes as u64,
            header: HeaderRecord {
                bus_bits: 0,
                cycles: 0,
                timeout: false,
                ready: false,
                image_error: false,
                bad_word: 0,
                beats: 0,
            },
            last: None,
            position_cycles: 0,
        };
        match e.next_event()? {
            Event::Header(h) => e.header = h,
            other => bail!(
                "the bench began with {} instead of the header verdict",
                other.describe()
            ),
        }
        if e.header.bus_bits != m.bus_bits {
            bail!(
                "the bench was compiled for a {}-bit bus, the design has {}",
                e.header.bus_bits,
                m.bus_bits
            );
        }
        if e.header.timeout {
            bail!("the image header check never finished");
        }
        Ok(e)
    }

    /// What the bench wrote on stderr so far.
    fn bench_stderr(&mut self) -> String {
        let mut s = String::new();
        let _ = self.stderr.rewind();
        let _ = self.stderr.read_to_string(&mut s);
        s
    }

    /// The bench ended or misbehaved: its exit status and stderr.
    fn died(&mut self, what: &str) -> anyhow::Error {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => s.to_string(),
            _ => {
                let _ = self.child.kill();
                self.child
                    .wait()
                    .map_or("killed".into(), |s| format!("{s}, stopped"))
            }
        };
        anyhow!(
            "the Verilator bench {what} ({status}); it said: {}",
            self.bench_stderr().trim()
        )
    }

    fn next_event(&mut self) -> Result<Event> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .stdout
                .read_line(&mut line)
                .context("reading the Verilator bench's output")?;
            if n == 0 {
                return Err(self.died("ended without an answer"));
            }
            if line.trim_start().starts_with('{') {
                break;
            }
        }
        serde_json::from_str(&line).map_err(|e| {
            let head: String = line.chars().take(200).collect();
            anyhow!("the Verilator bench wrote a line that is not an event ({e}): {head}")
        })
    }

    fn send(&mut self, cmd: &str) -> Result<()> {
        let ok = match self.stdin.as_mut() {
            Some(w) => w.write_all(cmd.as_bytes()).and_then(|_| w.flush()).is_ok(),
            None => false,
        };
        if ok {
            Ok(())
        } else {
            Err(self.died("stopped taking commands"))
        }
    }

    fn position(&mut self, token: u32, pos: usize) -> Result<PositionRecord> {
        self.send(&format!("run {token} {pos}\n"))?;
        match self.next_event()? {
            Event::Position(r) if r.token == token && r.pos == pos => Ok(*r),
            other => bail!(
                "the bench answered `run {token} {pos}` with {}",
                other.describe()
            ),
        }
    }

    /// Cycles from the end of reset to the header check's verdict.
    pub fn header_cycles(&self) -> u64 {
        self.header.cycles
    }

    /// The header check passed (`ready`); false with `image_error`.
    pub fn header_ok(&self) -> bool {
        self.header.ready && !self.header.image_error
    }

    /// The header's first differing bus word when it was refused.
    pub fn header_bad_word(&self) -> Option<usize> {
        self.header.image_error.then_some(self.header.bad_word)
    }

    /// Everything the bench reported of the last position run (its `logits` taken out:
    /// they are the [`Position`]'s).
    pub fn last_record(&self) -> Option<&PositionRecord> {
        self.last.as_ref()
    }

    /// Wall time of the bench's simulation loops so far.
    pub fn sim_seconds(&self) -> f64 {
        self.last.as_ref().map_or(0.0, |r| r.sim_seconds)
    }

    /// Cycles after reset per second of the bench's simulation loops so far.
    pub fn cycles_per_second(&self) -> f64 {
        match &self.last {
            Some(r) if r.sim_seconds > 0.0 => r.total_cycles as f64 / r.sim_seconds,
            _ => 0.0,
        }
    }

    /// End the bench (end of its input) and return its summary.
    pub fn finish(mut self) -> Result<EndRecord> {
        drop(self.stdin.take());
        let end = match self.next_event()? {
            Event::End(e) => e,
            other => bail!("the bench ended with {}", other.describe()),
        };
        let status = self
            .child
            .wait()
            .context("waiting for the Verilator bench")?;
        if !status.success() {
            return Err(self.died("failed"));
        }
        Ok(end)
    }

    /// What went over the bus: R beats since reset (the header's and the region table's
    /// included), cycles of the positions, as the native engine counts them.
    pub fn bus(&self) -> BusFigures {
        let (beats, dram) = match &self.last {
            Some(r) => (r.total_beats, r.dram),
            None => (self.header.beats, DramStats::default()),
        };
        BusFigures {
            bus_bits: (self.bus_bytes * 8) as u32,
            bytes: beats * self.bus_bytes,
            beats,
            cycles: self.position_cycles,
            utilisation: if self.position_cycles == 0 {
                0.0
            } else {
                beats as f64 / self.position_cycles as f64
            },
            dram,
        }
    }
}

impl Drop for VerilatorDramEngine {
    fn drop(&mut self) {
        // The bench may be in the middle of a position (an error on this side): stop it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn invalid(e: anyhow::Error) -> ModelError {
    ModelError::Invalid {
        what: WHAT.into(),
        problem: format!("{e:#}"),
    }
}

impl HwRun for VerilatorDramEngine {
    fn run_position(&mut self, token: u32, pos: usize) -> Result<Position, ModelError> {
        let c = self.config;
        check_position_args(&c, token, pos)?;
        let mut r = self.position(token, pos).map_err(invalid)?;
        let logits = std::mem::take(&mut r.logits);
        r.produced = logits.iter().filter(|v| v.is_some()).count();
        let end = PositionEnd {
            crc_error: r.crc_error.then_some(r.bad_region),
            image_error: r.image_error.then_some(r.bad_word),
            violation: r.violations.first().map(|v| (v.cycle, v.what.clone())),
            collisions: 0,
            pos_error: r.pos_error,
        };
        let (timeout, axi_stop, cycles) = (r.timeout, r.axi_stop, r.cycles);
        let (outside, repeated, next_token) = (r.logits_outside, r.logits_repeated, r.next_token);
        self.last = Some(r);
        if timeout {
            return Err(PositionEnd::timed_out(WHAT, pos, POSITION_BUDGET));
        }
        if axi_stop {
            return Err(PositionEnd::axi_stopped(WHAT, pos));
        }
        self.position_cycles += cycles;
        end.check(WHAT, pos, c.seq_len)?;
        if outside != 0 || repeated != 0 {
            return Err(ModelError::Invalid {
                what: WHAT.into(),
                problem: format!(
                    "position {pos}: design error: {outside} logit(s) with an index outside \
                     the vocabulary, {repeated} index(es) streamed twice"
                ),
            });
        }
        let logits = all_logits(logits, WHAT)?;
        Ok(Position {
            logits,
            next_token,
            cycles,
        })
    }

    fn config(&self) -> Config {
        self.config
    }

    fn total_cycles(&self) -> u64 {
        self.last
            .as_ref()
            .map_or(self.header.cycles, |r| r.total_cycles)
    }

    fn enable_profile(&mut self) {}

    fn profile(&self) -> Profile {
        Profile::default()
    }

    fn bus(&self) -> Option<BusFigures> {
        Some(VerilatorDramEngine::bus(self))
    }

    fn rtl_seconds(&self) -> Option<f64> {
        Some(self.sim_seconds())
    }
}
