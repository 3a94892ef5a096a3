//! `llamahdl sim`: generate with the decoder RTL simulated natively, cycle by cycle, and
//! check every logit against the golden model.

use crate::cleanup::{same_file, TempOutput};
use crate::output::write_stdout;
use crate::run::{generate, prepare, GenArgs, Prepared};
use anyhow::Context;
use clap::{Args, ValueEnum};
use llamahdl_golden::{Golden, QuantModel, ScaleMode};
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
\"weights\"."
)]
pub struct SimArgs {
    #[command(flatten)]
    pub gen: GenArgs,

    /// Multiply-accumulate lanes of the simulated design (4, 8, 16, 32 or 64).
    #[arg(long, value_name = "L", default_value_t = llamahdl_hw::decoder::limits::DEFAULT_LANES,
          value_parser = crate::output::parse_lanes)]
    pub lanes: usize,

    /// Where each layer's Q/K/V weights come from: `rom` (compiled in) or `ram` (streamed
    /// into the weight buffer before each layer, as from external memory).
    #[arg(long, value_enum, default_value_t = Weights::Rom)]
    pub weights: Weights,

    /// Write a VCD waveform of every signal (GTKWave, Surfer); 10-30x slower.
    #[arg(long, value_name = "FILE")]
    pub vcd: Option<PathBuf>,
}

/// `--weights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    Rom,
    Ram,
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
    llamahdl_hw::decoder::limits::check_fits(&qm, args.lanes, qm.config.seq_len).map_err(|e| {
        anyhow::anyhow!(
            "{ck_name}: the model does not fit the simulated decoder at {} lanes: {e}",
            args.lanes
        )
    })?;
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
    let hw = engine(&qm, args.lanes, stream, vcd)
        .map_err(|e| anyhow::anyhow!("{ck_name}: cannot simulate the decoder: {e}"))?;
    let mut fwd = HwForward {
        hw,
        positions: vec![],
    };
    let started = Instant::now();
    let gen = generate(&mut fwd, &prompt, steps, "sim")?;
    let elapsed = started.elapsed().as_secs_f64();
    let total_cycles = fwd.hw.total_cycles();
    drop(fwd.hw); // flushes the waveform
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
            lanes: args.lanes,
            weights: args.weights,
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
             {total_cycles} cycles simulated in {elapsed:.2} s = {:.0} cycles/s ({} lanes, {:?} weights)",
            cycles.iter().sum::<u64>() / n,
            cycles.first().copied().unwrap_or(0),
            cycles.last().copied().unwrap_or(0),
            if golden_match { "yes" } else { "NO" },
            total_cycles as f64 / elapsed.max(1e-9),
            args.lanes,
            args.weights
        );
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
