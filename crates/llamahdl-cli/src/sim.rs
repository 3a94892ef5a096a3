//! `llamahdl sim`: generate with the decoder RTL simulated natively, cycle by cycle, and
//! check every logit against the golden model.

use crate::cleanup::{same_file, TempOutput};
use crate::output::write_stdout;
use crate::run::{generate, prepare, GenArgs, Prepared};
use anyhow::Context;
use clap::{Args, ValueEnum};
use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_hw::sim::dram_engine::dram_engine;
use llamahdl_hw::sim::engine::{engine, HwForward};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

/// Arguments of `llamahdl sim`.
#[derive(Args, Debug)]
#[command(
    after_help = "With --json, stdout is one JSON object: run's {\"ids\", \"argmax\", \"text\"} \
plus \"cycles\" (clock cycles spent on each position), \"golden_match\" (true when the golden \
model, fed the same tokens, gives every logit of every position bit for bit), \"lanes\" and \
\"weights\"; with --weights dram a \"bus\" object (bus_bits, bytes read, R beats, cycles of the \
positions, utilisation = beats per cycle, the DRAM model's latency, stall probability and seed, \
and the gap cycles it inserted); \"rtl\" (native or verilator) and with --rtl verilator a \"verilator\" \
object (build_seconds, reused, total_cycles simulated after reset, sim_seconds and \
cycles_per_second of the Verilator bench's own clock loop); with --profile a \"profile\" object (positions, cycles outside the operations, cycles per kind of operation and per operation of the program, summed over positions)."
)]
pub struct SimArgs {
    #[command(flatten)]
    pub gen: GenArgs,

    /// Multiply-accumulate lanes of the simulated design (4, 8, 16, 32 or 64; default 32,
    /// with --weights dram the image's).
    #[arg(long, value_name = "L", value_parser = crate::output::parse_lanes)]
    pub lanes: Option<usize>,

    /// Where the weights come from: `rom` (compiled in), `ram` (each layer's Q/K/V
    /// streamed into the weight buffer before the layer, the rest compiled in), `dram`
    /// (every weight streamed from a weight image in a simulated AXI4 DRAM: --image) or
    /// `emmc` (the image on a simulated eMMC-class block device: the boot copier writes it
    /// into DRAM, checking its header and every region's CRC-32, then as `dram`).
    #[arg(long, value_enum, default_value_t = Weights::Rom)]
    pub weights: Weights,

    /// With --weights dram: the weight image (`llamahdl image`) of the checkpoint, laid
    /// out for the simulated design's lanes and bus width.
    #[arg(long, value_name = "IMG")]
    pub image: Option<PathBuf>,

    /// With --weights dram: the AXI data bus width (128, 256 or 512; default the image's).
    #[arg(long, value_name = "B")]
    pub bus_bits: Option<u32>,

    /// With --weights dram: cycles from a burst's acceptance to its first beat.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub dram_latency: u64,

    /// With --weights dram: random stalls (ARREADY low, gaps before R beats) from this
    /// seed, each with probability --dram-stall (default 0.1 when a seed is given).
    #[arg(long, value_name = "S")]
    pub dram_stall_seed: Option<u64>,

    /// With --weights dram: the probability of a stall cycle (0 to 0.9).
    #[arg(long, value_name = "P")]
    pub dram_stall: Option<f64>,

    /// With --weights emmc: cycles from the block device's read command to its first word.
    #[arg(long, value_name = "N")]
    pub device_latency: Option<u64>,

    /// With --weights emmc: the block device's bandwidth cap in bytes per cycle (above 0,
    /// at most 4: one 32-bit word a cycle).
    #[arg(long, value_name = "B")]
    pub device_cap: Option<f64>,

    /// With --weights emmc: stop after the boot copy (report it; no token is generated).
    #[arg(long)]
    pub boot_only: bool,

    /// Which simulation runs the RTL: `native` (rust-hdl, cycle by cycle in this process) or
    /// `verilator` (with --weights dram: the emitted Verilog, built with Verilator beside a
    /// C++ AXI4 DRAM that behaves exactly as the native model; needs verilator, g++, make).
    #[arg(long, value_enum, default_value_t = Rtl::Native)]
    pub rtl: Rtl,

    /// With --rtl verilator: build the Verilator model in DIR and keep it (a later run of
    /// the same design reuses it); default a temporary directory, removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub verilator_dir: Option<PathBuf>,

    /// Write a VCD waveform of every signal (GTKWave, Surfer); 10-30x slower.
    #[arg(long, value_name = "FILE")]
    pub vcd: Option<PathBuf>,

    /// Also report where the cycles go: per operation of the sequencer's per-token
    /// program (fetch to done), summed over the positions run, and per kind of operation
    /// (a table on stderr; with --json a "profile" object).
    #[arg(long)]
    pub profile: bool,
}

/// `--rtl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rtl {
    Native,
    Verilator,
}

/// `--weights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    Rom,
    Ram,
    Dram,
    Emmc,
}

#[derive(serde::Serialize)]
struct JsonOutput<'a> {
    engine: &'static str,
    ids: &'a [u32],
    argmax: &'a [u32],
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    cycles: Vec<u64>,
    golden_match: bool,
    lanes: usize,
    weights: Weights,
    rtl: Rtl,
    #[serde(skip_serializing_if = "Option::is_none")]
    verilator: Option<JsonVerilator>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<JsonProfile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bus: Option<JsonBus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot: Option<JsonBoot>,
}

#[derive(serde::Serialize, Clone)]
struct JsonBoot {
    image_bytes: u64,
    blocks: u64,
    device_latency: u64,
    device_cap: f64,
    /// Cycles from reset to `ready`.
    cycles: u64,
    /// Cycles from the first device word to the last, and the image bytes per cycle of
    /// them over the cap.
    transfer_cycles: u64,
    rate_of_cap: f64,
}

#[derive(serde::Serialize)]
struct JsonVerilator {
    /// Verilating and compiling (near 0 when reused).
    build_seconds: f64,
    reused: bool,
    /// Cycles simulated after reset (the header check's included).
    total_cycles: u64,
    /// Wall time of the bench's clock loop, and its speed.
    sim_seconds: f64,
    cycles_per_second: f64,
}

#[derive(serde::Serialize)]
struct JsonBus {
    bus_bits: u32,
    bytes: u64,
    beats: u64,
    cycles: u64,
    utilisation: f64,
    dram_latency: u64,
    dram_stall: f64,
    dram_stall_seed: u64,
    dram_gap_cycles: u64,
}

#[derive(serde::Serialize)]
struct JsonProfile {
    positions: u64,
    /// Cycles outside every operation (each position's start cycle).
    other: u64,
    /// Per kind of operation, in program order of first appearance: (kind, cycles).
    by_kind: Vec<(&'static str, u64)>,
    ops: Vec<JsonOp>,
}

#[derive(serde::Serialize)]
struct JsonOp {
    index: usize,
    kind: &'static str,
    layer: u8,
    rows: u32,
    beats: u32,
    cycles: u64,
}

fn json_profile(p: &llamahdl_hw::sim::engine::Profile) -> JsonProfile {
    let mut by_kind: Vec<(&'static str, u64)> = vec![];
    for o in &p.ops {
        match by_kind.iter_mut().find(|(k, _)| *k == o.kind) {
            Some((_, c)) => *c += o.cycles,
            None => by_kind.push((o.kind, o.cycles)),
        }
    }
    let is_mv = |o: &llamahdl_hw::sim::engine::OpCycles| o.kind.starts_with("matvec");
    JsonProfile {
        positions: p.positions,
        other: p.other,
        by_kind,
        ops: p
            .ops
            .iter()
            .map(|o| JsonOp {
                index: o.index,
                kind: o.kind,
                layer: o.instr.layer,
                rows: if is_mv(o) {
                    o.instr.rows_m1 as u32 + 1
                } else {
                    0
                },
                beats: if is_mv(o) || o.kind == "embed" {
                    o.instr.beats_m1 as u32 + 1
                } else {
                    0
                },
                cycles: o.cycles,
            })
            .collect(),
    }
}

/// The profile as a table for stderr: per kind, cycles per position and share.
fn print_profile(p: &JsonProfile) {
    let n = p.positions.max(1) as f64;
    let total: u64 = p.by_kind.iter().map(|(_, c)| c).sum::<u64>() + p.other;
    eprintln!(
        "profile over {} position(s): cycles per position by operation kind",
        p.positions
    );
    eprintln!(
        "  {:<20} {:>6} {:>12} {:>7}",
        "kind", "ops", "cycles/pos", "share"
    );
    for (k, c) in &p.by_kind {
        let ops = p.ops.iter().filter(|o| o.kind == *k).count();
        eprintln!(
            "  {:<20} {:>6} {:>12.1} {:>6.1}%",
            k,
            ops,
            *c as f64 / n,
            100.0 * *c as f64 / total.max(1) as f64
        );
    }
    eprintln!(
        "  {:<20} {:>6} {:>12.1} {:>6.1}%",
        "(start cycle)",
        "",
        p.other as f64 / n,
        100.0 * p.other as f64 / total.max(1) as f64
    );
    eprintln!("  per operation (index kind layer rows x beats: cycles/pos):");
    for o in &p.ops {
        let shape = if o.rows > 0 {
            format!(" {} x {}", o.rows, o.beats)
        } else {
            String::new()
        };
        eprintln!(
            "    {:>3} {} L{}{}: {:.1}",
            o.index,
            o.kind,
            o.layer,
            shape,
            o.cycles as f64 / n
        );
    }
}

/// Writes the waveform into the temporary VCD file, remembering the first write error
/// instead of passing it up (the simulator would stop with a panic); checked once the
/// simulation has ended.
struct VcdSink {
    w: std::io::BufWriter<std::fs::File>,
    err: Rc<RefCell<Option<std::io::Error>>>,
}

impl std::io::Write for VcdSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.err.borrow().is_none() {
            if let Err(e) = self.w.write_all(buf) {
                *self.err.borrow_mut() = Some(e);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.err.borrow().is_none() {
            if let Err(e) = self.w.flush() {
                *self.err.borrow_mut() = Some(e);
            }
        }
        Ok(())
    }
}

impl Drop for VcdSink {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// `--vcd FILE` must not be one of the inputs.
fn check_vcd_target(vcd: &std::path::Path, gen: &GenArgs) -> anyhow::Result<()> {
    let inputs = [Some(&gen.checkpoint), gen.tokenizer.as_ref()];
    for input in inputs.into_iter().flatten() {
        if same_file(vcd, input) {
            anyhow::bail!(
                "{}: --vcd names an input of this command ({}); refusing to overwrite it",
                vcd.display(),
                input.display()
            );
        }
    }
    if vcd.is_dir() {
        anyhow::bail!("{}: --vcd names a directory", vcd.display());
    }
    Ok(())
}

/// `llamahdl sim`.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    check_dram_flags(&args)?;
    if let Some(v) = &args.vcd {
        check_vcd_target(v, &args.gen)?;
    }
    let Prepared {
        ck,
        tokenizer,
        prompt,
        steps,
    } = prepare(&args.gen)?;
    let ck_name = args.gen.checkpoint.display().to_string();
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    let mut boot = None;
    let dram = match (args.weights, &args.image) {
        (Weights::Dram, Some(img)) => Some(prepare_dram(&args, img, &qm, &ck_name)?),
        (Weights::Emmc, Some(img)) => {
            let (d, b) = boot_from_device(&args, img, &qm, &ck_name)?;
            if args.boot_only {
                if args.gen.json {
                    let mut s = serde_json::to_string(&serde_json::json!({ "boot": b }))
                        .context("serialising the JSON output")?;
                    s.push('\n');
                    write_stdout(s.as_bytes())?;
                }
                return Ok(());
            }
            boot = Some(b);
            Some(d)
        }
        _ => None,
    };
    let lanes = match &dram {
        Some(d) => d.lanes,
        None => args
            .lanes
            .unwrap_or(llamahdl_hw::decoder::limits::DEFAULT_LANES),
    };
    if dram.is_none() {
        llamahdl_hw::decoder::limits::check_fits(&qm, lanes, qm.config.seq_len).map_err(|e| {
            anyhow::anyhow!(
                "{ck_name}: the model does not fit the simulated decoder at {lanes} lanes: {e}"
            )
        })?;
    }
    // Only now, with the model known to fit, create the waveform (as a temporary).
    let vcd_out = args.vcd.as_deref().map(TempOutput::create).transpose()?;
    let vcd_err = Rc::new(RefCell::new(None));
    let vcd: Option<Box<dyn std::io::Write>> = match &vcd_out {
        Some(t) => Some(Box::new(VcdSink {
            w: std::io::BufWriter::new(
                t.file()
                    .try_clone()
                    .with_context(|| format!("{}: cannot write", t_path(&args)))?,
            ),
            err: vcd_err.clone(),
        })),
        None => None,
    };
    let stream = (args.weights == Weights::Ram).then_some(&qm);
    // With --rtl verilator: the model's build directory (a temporary one unless named).
    let mut vl_build: Option<VerilatorBuild> = None;
    let hw = match dram {
        Some(d) if args.rtl == Rtl::Verilator => {
            let image = args
                .image
                .as_deref()
                .expect("checked: --image with --weights dram");
            let (hw, b) =
                verilator_engine(&qm, &d, image, args.verilator_dir.as_deref()).map_err(|e| {
                    anyhow::anyhow!("{ck_name}: cannot simulate the decoder in Verilator: {e:#}")
                })?;
            vl_build = Some(b);
            Ok(hw)
        }
        Some(d) => dram_engine(
            &qm.config,
            d.lanes,
            d.bus_bits as usize,
            d.params,
            d.cfg,
            d.bytes,
        ),
        None => engine(&qm, lanes, stream, vcd),
    }
    .map_err(|e| anyhow::anyhow!("{ck_name}: cannot simulate the decoder: {e}"))?;
    let mut fwd = HwForward {
        hw,
        positions: vec![],
    };
    if args.profile {
        fwd.hw.enable_profile();
    }
    let started = Instant::now();
    let gen = generate(&mut fwd, &prompt, steps, "sim")?;
    let elapsed = started.elapsed().as_secs_f64();
    let total_cycles = fwd.hw.total_cycles();
    let verilator = vl_build.as_ref().map(|b| {
        let secs = fwd.hw.rtl_seconds().unwrap_or(0.0);
        JsonVerilator {
            build_seconds: b.build_seconds,
            reused: b.reused,
            total_cycles,
            sim_seconds: secs,
            cycles_per_second: if secs > 0.0 {
                total_cycles as f64 / secs
            } else {
                0.0
            },
        }
    });
    let profile = args.profile.then(|| json_profile(&fwd.hw.profile()));
    let bus = fwd.hw.bus().map(|b| {
        let (stall, seed) = stall_of(&args);
        JsonBus {
            bus_bits: b.bus_bits,
            bytes: b.bytes,
            beats: b.beats,
            cycles: b.cycles,
            utilisation: b.utilisation,
            dram_latency: args.dram_latency,
            dram_stall: stall,
            dram_stall_seed: seed,
            dram_gap_cycles: b.dram.r_gap_cycles,
        }
    });
    drop(fwd.hw); // flushes the waveform; ends the Verilator bench
    drop(vl_build); // removes a temporary build directory
    if let Some(e) = vcd_err.borrow_mut().take() {
        return Err(e).with_context(|| format!("{}: write failed", t_path(&args)));
    }

    // The golden model, fed the same tokens, must give the same logits everywhere.
    let mut golden = Golden::new(qm);
    let mut golden_match = true;
    for (pos, p) in fwd.positions.iter().enumerate() {
        let want = golden.forward_q16(gen.ids[pos], pos)?;
        if want != p.logits.as_slice() || golden.argmax_q16() != p.next_token {
            golden_match = false;
        }
    }
    let cycles: Vec<u64> = fwd.positions.iter().map(|p| p.cycles).collect();
    let text = tokenizer
        .as_ref()
        .map(|t| t.decode_ids_bytes(&gen.ids))
        .transpose()?;
    if args.gen.json {
        let out = JsonOutput {
            engine: "hardware",
            ids: &gen.ids,
            argmax: &gen.argmax,
            text: text.map(|b| String::from_utf8_lossy(&b).into_owned()),
            cycles,
            golden_match,
            lanes,
            weights: args.weights,
            rtl: args.rtl,
            verilator,
            profile,
            bus,
            boot,
        };
        let mut s = serde_json::to_string(&out).context("serialising the JSON output")?;
        s.push('\n');
        write_stdout(s.as_bytes())?;
    } else {
        let mut out = match text {
            Some(bytes) => bytes,
            None => gen
                .ids
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes(),
        };
        out.push(b'\n');
        write_stdout(&out)?;
        let n = cycles.len().max(1) as u64;
        eprintln!(
            "cycles per token: mean {} (position 0: {}, last: {}); golden model agrees: {}; \
             {total_cycles} cycles simulated in {elapsed:.2} s = {:.0} cycles/s ({lanes} lanes, {:?} weights)",
            cycles.iter().sum::<u64>() / n,
            cycles.first().copied().unwrap_or(0),
            cycles.last().copied().unwrap_or(0),
            if golden_match { "yes" } else { "NO" },
            total_cycles as f64 / elapsed.max(1e-9),
            args.weights
        );
        if let Some(b) = &bus {
            eprintln!(
                "bus ({}-bit): {} bytes read in {} cycles of the positions = {:.1}% of the \
                 peak; DRAM latency {}, stall probability {} (seed {}), {} gap cycles",
                b.bus_bits,
                b.bytes,
                b.cycles,
                100.0 * b.utilisation,
                b.dram_latency,
                b.dram_stall,
                b.dram_stall_seed,
                b.dram_gap_cycles
            );
        }
        if let Some(v) = &verilator {
            eprintln!(
                "verilator: model {} ({:.1} s); its clock loop simulated {} cycles in {:.2} s = \
                 {:.0} cycles/s",
                if v.reused { "reused" } else { "built" },
                v.build_seconds,
                v.total_cycles,
                v.sim_seconds,
                v.cycles_per_second
            );
        }
        if let Some(p) = &profile {
            print_profile(p);
        }
    }
    // The waveform is complete: keep it (also when the golden model disagrees, when it is
    // most wanted).
    if let Some(t) = vcd_out {
        t.commit()?;
    }
    if !golden_match {
        anyhow::bail!("{ck_name}: the simulated hardware disagrees with the golden model");
    }
    Ok(())
}

fn t_path(args: &SimArgs) -> String {
    args.vcd
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// What `--weights dram` runs on, checked.
struct DramRun {
    lanes: usize,
    bus_bits: u32,
    params: llamahdl_hw::decoder::dram::DramParams,
    cfg: llamahdl_hw::sim::axi_dram::DramConfig,
    bytes: Vec<u8>,
}

/// The DRAM flags only with `--weights dram`, and `--image` with it; `--rtl verilator`
/// only with `--weights dram`, `--verilator-dir` only with `--rtl verilator`.
fn check_dram_flags(args: &SimArgs) -> anyhow::Result<()> {
    let emmc = args.weights == Weights::Emmc;
    let dram = args.weights == Weights::Dram || emmc;
    if !emmc {
        for (flag, given) in [
            ("--device-latency", args.device_latency.is_some()),
            ("--device-cap", args.device_cap.is_some()),
            ("--boot-only", args.boot_only),
        ] {
            if given {
                anyhow::bail!("{flag} applies only with --weights emmc");
            }
        }
    }
    if emmc && args.rtl == Rtl::Verilator {
        anyhow::bail!(
            "--rtl verilator is not available with --weights emmc yet (the boot copy runs \
             natively): use --weights dram --rtl verilator"
        );
    }
    if let Some(c) = args.device_cap {
        if !(c > 0.0 && c <= 4.0) {
            anyhow::bail!("--device-cap {c} must be above 0 and at most 4 bytes per cycle");
        }
    }
    if let Some(l) = args.device_latency {
        if !(1..=100_000_000).contains(&l) {
            anyhow::bail!("--device-latency {l} must be between 1 and 100000000 cycles");
        }
    }
    if args.rtl == Rtl::Verilator && !dram {
        anyhow::bail!(
            "--rtl verilator runs the decoder that streams its weights from DRAM only: add \
             --weights dram --image IMG"
        );
    }
    if let Some(d) = &args.verilator_dir {
        if args.rtl != Rtl::Verilator {
            anyhow::bail!("--verilator-dir applies only with --rtl verilator");
        }
        if d.exists() && !d.is_dir() {
            anyhow::bail!(
                "{}: --verilator-dir names a file, not a directory",
                d.display()
            );
        }
    }
    let given = [
        ("--image", args.image.is_some()),
        ("--bus-bits", args.bus_bits.is_some()),
        ("--dram-stall-seed", args.dram_stall_seed.is_some()),
        ("--dram-stall", args.dram_stall.is_some()),
    ];
    if !dram {
        if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
            anyhow::bail!("{flag} applies only with --weights dram or emmc");
        }
        return Ok(());
    }
    if args.image.is_none() {
        anyhow::bail!(
            "--weights {} needs the weight image: --image IMG (made by `llamahdl image`)",
            if emmc { "emmc" } else { "dram" }
        );
    }
    if args.vcd.is_some() {
        anyhow::bail!("--vcd is not available with --weights dram yet");
    }
    if args.profile {
        anyhow::bail!("--profile is not available with --weights dram yet");
    }
    if !(1..=1_000_000).contains(&args.dram_latency) {
        anyhow::bail!(
            "--dram-latency {} must be between 1 and 1000000 cycles",
            args.dram_latency
        );
    }
    if let Some(p) = args.dram_stall {
        if !(0.0..=0.9).contains(&p) {
            anyhow::bail!("--dram-stall {p} must be between 0 and 0.9");
        }
    }
    Ok(())
}

/// The DRAM model the flags ask for, on a `bus_bits`-bit bus.
fn dram_config(args: &SimArgs, bus_bits: u32) -> llamahdl_hw::sim::axi_dram::DramConfig {
    let (stall, seed) = stall_of(args);
    llamahdl_hw::sim::axi_dram::DramConfig {
        latency: args.dram_latency,
        ar_stall: stall,
        r_stall: stall,
        seed,
        ..llamahdl_hw::sim::axi_dram::DramConfig::new(bus_bits as usize / 8)
    }
}

/// The streaming decoder's parameters: the whole context, the image at address 0.
fn dram_params(ctx: usize) -> llamahdl_hw::decoder::dram::DramParams {
    llamahdl_hw::decoder::dram::DramParams {
        ctx,
        base: 0,
        axi: llamahdl_hw::units::dram::axi_read::AxiReadParams::default(),
    }
}

/// The stall probability and seed asked for.
fn stall_of(args: &SimArgs) -> (f64, u64) {
    let seed = args.dram_stall_seed.unwrap_or(0);
    let p = args
        .dram_stall
        .unwrap_or(if args.dram_stall_seed.is_some() {
            0.1
        } else {
            0.0
        });
    (p, seed)
}

/// `--weights emmc`: the image file is the block device's contents. Only its header is
/// read on the host (to pick the design's lanes and bus width); the boot copier checks
/// everything else in simulated hardware and copies it into DRAM, which the decoder then
/// streams from. A copy that fails is an error naming the file and what the copier found.
fn boot_from_device(
    args: &SimArgs,
    img: &std::path::Path,
    qm: &QuantModel,
    ck_name: &str,
) -> anyhow::Result<(DramRun, JsonBoot)> {
    use llamahdl_hw::sim::block_dev::{BlockDev, BlockDevConfig};
    use llamahdl_hw::sim::boot::{boot_copy, describe_error, BootStatus};
    use llamahdl_hw::sim::dram_engine::DRAM_LAYOUTS;
    use llamahdl_hw::units::boot::{BootLayout, BootParams};
    let what = img.display().to_string();
    let bytes = std::fs::read(img).with_context(|| format!("{what}: cannot read"))?;
    // Only the two layout fields are read here (the design must be built for them); the
    // copier checks the header, its CRC and everything after it.
    if bytes.len() < llamahdl_image::format::HEADER_BYTES {
        anyhow::bail!(
            "{what}: {} bytes, shorter than a weight image's {}-byte header",
            bytes.len(),
            llamahdl_image::format::HEADER_BYTES
        );
    }
    let field = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let (h_lanes, h_bus) = (field(48), field(52));
    let (lanes, bus_bits) = (h_lanes as usize, h_bus);
    for (flag, want, have) in [
        ("--lanes", args.lanes.map(|l| l as u32), h_lanes),
        ("--bus-bits", args.bus_bits, h_bus),
    ] {
        if let Some(w) = want.filter(|&w| w != have) {
            anyhow::bail!("{what}: the image is laid out for {have}, not {flag} {w}");
        }
    }
    if !DRAM_LAYOUTS.contains(&(lanes, bus_bits as usize)) {
        anyhow::bail!(
            "{what}: its header says {lanes} lanes and a {bus_bits}-bit bus; the streaming \
             decoder is built for (lanes, bus bits) in {DRAM_LAYOUTS:?} (is it a weight image?)"
        );
    }
    let ctx = qm.config.seq_len;
    llamahdl_hw::decoder::limits::check_fits_streaming(&qm.config, lanes, ctx).map_err(|e| {
        anyhow::anyhow!(
            "{ck_name}: the model does not fit the streaming decoder at {lanes} lanes: {e}"
        )
    })?;
    let plan = llamahdl_image::layout::plan(&qm.config, lanes as u32, bus_bits, ScaleMode::Mant8)
        .map_err(|e| anyhow::anyhow!("{ck_name}: no image layout at {lanes} lanes: {e}"))?;
    let names: Vec<String> = plan.regions.iter().map(|r| r.name()).collect();
    let layout = BootLayout::of(&qm.config, lanes as u32, bus_bits)
        .map_err(|e| anyhow::anyhow!("{ck_name}: {e}"))?;
    let dev_cfg = BlockDevConfig {
        latency: args.device_latency.unwrap_or(100),
        bytes_per_cycle: args.device_cap.unwrap_or(1.0),
        error_block: None,
    };
    let cfg = dram_config(args, bus_bits);
    eprintln!(
        "boot: copying {what} ({} bytes, {} blocks) from the block device model (latency {}, \
         cap {} B/cycle) into DRAM, checking the header and {} region CRCs",
        bytes.len(),
        bytes.len().div_ceil(512),
        dev_cfg.latency,
        dev_cfg.bytes_per_cycle,
        names.len()
    );
    let dev = BlockDev::new(dev_cfg.clone(), bytes);
    let (r, mem) = boot_copy(
        &layout,
        bus_bits as usize,
        BootParams::default(),
        dev,
        cfg.clone(),
    )
    .map_err(|e| anyhow::anyhow!("{ck_name}: cannot build the boot copier: {e}"))?;
    if !r.violations.is_empty() {
        anyhow::bail!(
            "{what}: internal error: the boot copy broke a bus protocol: {:?}",
            r.violations
        );
    }
    match r.status {
        BootStatus::Ready => {}
        BootStatus::Error { code, detail } => anyhow::bail!(
            "{what}: the boot copier refused the image: {} (error code {code}); no token computed",
            describe_error(code, detail, &names)
        ),
        BootStatus::Busy => anyhow::bail!(
            "{what}: internal error: the boot copy did not finish in {} cycles",
            r.cycles
        ),
    }
    let transfer = r.device.last_word.unwrap_or(0) + 1 - r.device.first_word.unwrap_or(0);
    let rate = layout.image_bytes as f64 / transfer as f64 / dev_cfg.bytes_per_cycle;
    eprintln!(
        "boot: ready after {} cycles; {} bytes in {transfer} cycles of transfer = {:.1}% of the \
         device cap",
        r.cycles,
        layout.image_bytes,
        100.0 * rate
    );
    let json = JsonBoot {
        image_bytes: layout.image_bytes,
        blocks: layout.blocks(),
        device_latency: dev_cfg.latency,
        device_cap: dev_cfg.bytes_per_cycle,
        cycles: r.cycles,
        transfer_cycles: transfer,
        rate_of_cap: rate,
    };
    Ok((
        DramRun {
            lanes,
            bus_bits,
            params: dram_params(ctx),
            cfg,
            bytes: mem,
        },
        json,
    ))
}

/// Verify the image (as `llamahdl image --check --checkpoint` does), check it against the
/// checkpoint and the flags, and set up the DRAM model.
fn prepare_dram(
    args: &SimArgs,
    img: &std::path::Path,
    qm: &QuantModel,
    ck_name: &str,
) -> anyhow::Result<DramRun> {
    use llamahdl_hw::sim::dram_engine::DRAM_LAYOUTS;
    use llamahdl_image::ImageError;
    let what = img.display().to_string();
    let image = llamahdl_image::verify_file(img)?;
    let mismatch = |p: llamahdl_image::Problem| ImageError::invalid(&what, p);
    llamahdl_image::compare::check_layout(&image, args.lanes.map(|l| l as u32), args.bus_bits)
        .map_err(mismatch)?;
    llamahdl_image::compare::check_model(&image, qm, ck_name).map_err(mismatch)?;
    let (lanes, bus_bits) = (image.header.lanes as usize, image.header.bus_bits);
    if !DRAM_LAYOUTS.contains(&(lanes, bus_bits as usize)) {
        anyhow::bail!(
            "{what}: laid out for {lanes} lanes and a {bus_bits}-bit bus; the streaming \
             decoder is built for (lanes, bus bits) in {DRAM_LAYOUTS:?} (make the image with \
             --lanes and --bus-bits)"
        );
    }
    let ctx = qm.config.seq_len;
    llamahdl_hw::decoder::limits::check_fits_streaming(&qm.config, lanes, ctx).map_err(|e| {
        anyhow::anyhow!(
            "{ck_name}: the model does not fit the streaming decoder at {lanes} lanes: {e}"
        )
    })?;
    let bytes = std::fs::read(img).with_context(|| format!("{what}: cannot read"))?;
    let cfg = dram_config(args, bus_bits);
    Ok(DramRun {
        lanes,
        bus_bits,
        params: dram_params(ctx),
        cfg,
        bytes,
    })
}

/// A Verilator model's build: how long it took, and its directory when temporary (removed
/// on drop, and on an interrupt).
struct VerilatorBuild {
    build_seconds: f64,
    reused: bool,
    temp: Option<tempfile::TempDir>,
}

impl Drop for VerilatorBuild {
    fn drop(&mut self) {
        if let Some(t) = self.temp.take() {
            let path = t.path().to_path_buf();
            drop(t);
            crate::cleanup::forget(&path);
        }
    }
}

/// Build (or reuse, in `dir`) the Verilator model of the DRAM decoder `d` describes and
/// start its bench on `image`.
fn verilator_engine(
    qm: &QuantModel,
    d: &DramRun,
    image: &std::path::Path,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<(Box<dyn llamahdl_hw::sim::engine::HwRun>, VerilatorBuild)> {
    use llamahdl_hw::cosim::dram_verilator::DramVerilatorModel;
    let temp = match dir {
        Some(_) => None,
        None => Some(crate::cleanup::locked(
            |r| -> anyhow::Result<tempfile::TempDir> {
                let t = tempfile::Builder::new()
                    .prefix("llamahdl-verilator-")
                    .tempdir()
                    .context("creating a temporary directory for the Verilator build")?;
                r.add(t.path());
                Ok(t)
            },
        )?),
    };
    let mut build = VerilatorBuild {
        build_seconds: 0.0,
        reused: false,
        temp,
    };
    let workdir = match (&build.temp, dir) {
        (Some(t), _) => t.path().to_path_buf(),
        (None, Some(d)) => d.to_path_buf(),
        (None, None) => unreachable!("a directory either way"),
    };
    eprintln!(
        "verilator: the DRAM decoder ({} lanes, {}-bit bus), its model built (or reused) in {}",
        d.lanes,
        d.bus_bits,
        workdir.display()
    );
    let model = DramVerilatorModel::build(
        &qm.config,
        d.lanes,
        d.bus_bits as usize,
        d.params.ctx,
        d.params.base,
        &workdir,
    )?;
    let engine = model.start(image, &d.cfg)?;
    build.build_seconds = model.build_time().as_secs_f64();
    build.reused = model.reused();
    Ok((Box::new(engine), build))
}
