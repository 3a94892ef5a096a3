//! `llamahdl sim`: generate with the decoder RTL simulated natively, cycle by cycle, and
//! check every logit against the golden model.

use crate::output::write_stdout;
use crate::run::{generate, prepare, GenArgs, Prepared};
use anyhow::Context;
use clap::builder::TypedValueParser as _;
use clap::{Args, ValueEnum};
use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_hw::sim::engine::{engine, HwForward};
use std::io::BufWriter;
use std::path::PathBuf;
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

    /// Multiply-accumulate lanes of the simulated design (8, 16, 32 or 64).
    #[arg(long, value_name = "L", default_value_t = llamahdl_hw::decoder::limits::DEFAULT_LANES,
          value_parser = clap::builder::PossibleValuesParser::new(["8", "16", "32", "64"])
              .map(|s| s.parse::<usize>().unwrap()))]
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

/// `llamahdl sim`.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    let Prepared {
        ck,
        tokenizer,
        prompt,
        steps,
    } = prepare(&args.gen)?;
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    let vcd: Option<Box<dyn std::io::Write>> = match &args.vcd {
        Some(p) => Some(Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        ))),
        None => None,
    };
    let stream = (args.weights == Weights::Ram).then_some(&qm);
    let hw = engine(&qm, args.lanes, stream, vcd).map_err(anyhow::Error::msg)?;
    let mut fwd = HwForward {
        hw,
        positions: vec![],
    };
    let started = Instant::now();
    let gen = generate(&mut fwd, &prompt, steps, "sim")?;
    let elapsed = started.elapsed().as_secs_f64();
    let total_cycles = fwd.hw.total_cycles();
    drop(fwd.hw);

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
    if !golden_match {
        anyhow::bail!("the simulated hardware disagrees with the golden model");
    }
    Ok(())
}
