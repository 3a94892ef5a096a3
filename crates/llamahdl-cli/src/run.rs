//! `llamahdl run`: greedy generation with the float or the golden engine.

use crate::output::{progress, write_stdout};
use anyhow::Context;
use clap::{Args, ValueEnum};
use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_model::generate::{greedy, Forward, Generation};
use llamahdl_model::tokenizer::BOS;
use llamahdl_model::{Checkpoint, FloatEngine, ModelError, Tokenizer};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Steps when `--steps` is not given (run.c's default).
pub const DEFAULT_STEPS: usize = 256;

/// Arguments of `llamahdl run`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  llamahdl run --checkpoint stories260K.bin --tokenizer tok512.bin --prompt \"Once upon a time\"
  llamahdl run --checkpoint stories260K.bin --prompt-ids \"1 403 407\" --engine golden --json

With --json, stdout is one JSON object: {\"engine\", \"ids\", \"argmax\", \"text\"}. \"ids\" is the \
whole sequence from position 0 (prompt included, a generated BOS included); \"argmax\" is the \
engine's greedy choice at each position run (inside the prompt too, where the next prompt \
token overrides it); \"text\" is present when --tokenizer is given.")]
pub struct RunArgs {
    #[command(flatten)]
    pub gen: GenArgs,

    /// Engine: `float` is float32 equal to run.c; `golden` is the bit-exact integer model
    /// of the hardware (weights quantised to int8 with 8-bit row-scale mantissas).
    #[arg(long, value_enum, default_value_t = Engine::Float)]
    pub engine: Engine,
}

/// The generation flags shared by `run` and `sim`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// llama2.c checkpoint (legacy v0 format), e.g. stories260K.bin.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: PathBuf,

    /// llama2.c tokenizer file, e.g. tok512.bin. Needed by --prompt; when given, the output
    /// is decoded text instead of token ids.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,

    /// Prompt text, encoded with BOS first as run.c does (needs --tokenizer). Without
    /// --prompt and --prompt-ids the prompt is BOS alone, as run.c's empty prompt.
    #[arg(long, value_name = "TEXT", requires = "tokenizer")]
    pub prompt: Option<String>,

    /// Prompt as token ids separated by spaces or commas, e.g. "1 403 407". Used exactly as
    /// given: BOS (1) is not added for you.
    #[arg(
        long,
        value_name = "IDS",
        conflicts_with = "prompt",
        value_parser = parse_prompt_ids
    )]
    pub prompt_ids: Option<PromptIds>,

    /// Forward passes (positions) to run, prompt included, as run.c's -n. 0 or more than the
    /// model's seq_len means seq_len (run.c's clamp). Generation also stops after a
    /// generated BOS.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_STEPS,
          allow_negative_numbers = true, value_parser = parse_steps)]
    pub steps: usize,

    /// Print one JSON object on stdout instead of the text (nothing on stdout on error).
    #[arg(long)]
    pub json: bool,
}

/// The engines `run` can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// float32, operation for operation as llama2.c's run.c.
    Float,
    /// The integer golden model of the accelerator (bit-exact with the RTL).
    Golden,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Float => "float",
            Engine::Golden => "golden",
        }
    }
}

/// Token ids given with `--prompt-ids`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptIds(pub Vec<u32>);

/// Parse `--prompt-ids`: non-negative integers separated by whitespace and/or commas, at
/// least one.
pub fn parse_prompt_ids(s: &str) -> Result<PromptIds, String> {
    let ids = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>()
                .map_err(|_| format!("'{t}' is not a token id (a non-negative integer)"))
        })
        .collect::<Result<Vec<u32>, String>>()?;
    if ids.is_empty() {
        return Err("no token ids given; the prompt needs at least one (BOS is 1)".into());
    }
    Ok(PromptIds(ids))
}

/// Parse `--steps`: a count of positions, 0 or more (a negative number is refused with
/// that reason rather than taken for a flag).
pub fn parse_steps(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(n) if n < 0 => Err(format!(
            "{n} is negative: --steps counts positions, 0 or more (0 means seq_len)"
        )),
        Ok(n) => usize::try_from(n).map_err(|_| format!("{n} is too large")),
        Err(_) => Err(format!(
            "'{s}' is not a number of steps (an integer, 0 or more; 0 means seq_len)"
        )),
    }
}

/// The JSON object printed by `run --json`.
#[derive(serde::Serialize)]
struct JsonOutput<'a> {
    engine: Engine,
    ids: &'a [u32],
    argmax: &'a [u32],
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// run.c's clamp: 0 or more than `seq_len` steps means `seq_len`.
pub fn clamp_steps(steps: usize, seq_len: usize) -> usize {
    if steps == 0 || steps > seq_len {
        seq_len
    } else {
        steps
    }
}

/// Check prompt ids against the checkpoint: at least one, each below `vocab_size`, at most
/// `seq_len` of them. `what` names where they came from.
fn check_prompt(ids: &[u32], ck: &Checkpoint, what: &str) -> Result<(), ModelError> {
    let c = &ck.config;
    if ids.is_empty() {
        return Err(ModelError::EmptyPrompt { what: what.into() });
    }
    if let Some(&bad) = ids.iter().find(|&&t| t as usize >= c.vocab_size) {
        return Err(ModelError::TokenOutOfRange {
            what: what.into(),
            token: bad.into(),
            vocab_size: c.vocab_size,
        });
    }
    if ids.len() > c.seq_len {
        return Err(ModelError::PromptTooLong {
            what: what.into(),
            len: ids.len(),
            seq_len: c.seq_len,
        });
    }
    Ok(())
}

/// Run `engine` greedily with a progress bar on a terminal.
pub fn generate<F: Forward>(
    engine: &mut F,
    prompt: &[u32],
    steps: usize,
    label: &str,
) -> anyhow::Result<Generation> {
    let bar = progress(steps as u64, label);
    let gen = greedy(engine, prompt, steps, false, |_| bar.inc(1));
    bar.finish_and_clear();
    Ok(gen?)
}

/// What `GenArgs` resolve to: the checkpoint, the tokenizer, the prompt, the steps.
pub struct Prepared {
    pub ck: Checkpoint,
    pub tokenizer: Option<Tokenizer>,
    pub prompt: Vec<u32>,
    pub steps: usize,
}

/// Load and check everything `GenArgs` name.
pub fn prepare(args: &GenArgs) -> anyhow::Result<Prepared> {
    let ck = Checkpoint::load(&args.checkpoint)?;
    let c = ck.config;
    let ck_name = args.checkpoint.display();
    let tokenizer = args
        .tokenizer
        .as_deref()
        .map(|p: &Path| Tokenizer::load(p, c.vocab_size))
        .transpose()?;

    let (prompt, source) = match (&args.prompt, &args.prompt_ids) {
        (Some(text), _) => {
            let tok = tokenizer
                .as_ref()
                .context("--prompt needs --tokenizer to encode the text")?;
            // Refuse at once a text whose byte count alone proves it too long.
            let at_least = tok.min_encoded_len(text, false);
            if at_least > c.seq_len {
                anyhow::bail!(
                    "--prompt (checkpoint {ck_name}): prompt is {} bytes, so at least \
                     {at_least} tokens (no piece of the tokenizer is longer than {} bytes), \
                     longer than seq_len {}",
                    text.len(),
                    tok.longest_piece(),
                    c.seq_len
                );
            }
            (tok.encode(text, true, false), "--prompt")
        }
        (None, Some(PromptIds(ids))) => (ids.clone(), "--prompt-ids"),
        (None, None) => (vec![BOS], "the default prompt (BOS)"),
    };
    check_prompt(&prompt, &ck, &format!("{source} (checkpoint {ck_name})"))?;
    let steps = clamp_steps(args.steps, c.seq_len);
    Ok(Prepared {
        ck,
        tokenizer,
        prompt,
        steps,
    })
}

/// `llamahdl run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let Prepared {
        ck,
        tokenizer,
        prompt,
        steps,
    } = prepare(&args.gen)?;
    let started = Instant::now();
    let gen = match args.engine {
        Engine::Float => {
            // The cache holds the positions run (at least the prompt's, which the greedy
            // loop checks), not all of seq_len, which may be huge.
            let positions = steps.max(prompt.len());
            let mut engine = FloatEngine::with_positions(&ck, positions).with_context(|| {
                format!(
                    "{}: cannot run the float engine",
                    args.gen.checkpoint.display()
                )
            })?;
            generate(&mut engine, &prompt, steps, "float")?
        }
        Engine::Golden => {
            let mut engine = Golden::new(QuantModel::quantise(&ck, ScaleMode::Mant8));
            generate(&mut engine, &prompt, steps, "golden")?
        }
    };
    let elapsed = started.elapsed().as_secs_f64();

    let text = tokenizer
        .as_ref()
        .map(|t| t.decode_ids_bytes(&gen.ids))
        .transpose()?;

    if args.gen.json {
        let out = JsonOutput {
            engine: args.engine,
            ids: &gen.ids,
            argmax: &gen.argmax,
            text: text.map(|b| String::from_utf8_lossy(&b).into_owned()),
        };
        let mut s = serde_json::to_string(&out).context("serialising the JSON output")?;
        s.push('\n');
        write_stdout(s.as_bytes())
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
        let positions = gen.argmax.len();
        eprintln!(
            "achieved tok/s: {:.1} ({positions} positions in {elapsed:.3} s, {} engine)",
            positions as f64 / elapsed.max(1e-9),
            args.engine.name()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_ids_parse() {
        assert_eq!(parse_prompt_ids("1 403 407").unwrap().0, vec![1, 403, 407]);
        assert_eq!(parse_prompt_ids(" 1,2,\t3 ").unwrap().0, vec![1, 2, 3]);
        assert!(parse_prompt_ids("").is_err());
        assert!(parse_prompt_ids(" , ").is_err());
        let e = parse_prompt_ids("1 x 3").unwrap_err();
        assert!(e.contains("'x'"), "{e}");
        assert!(parse_prompt_ids("-1").is_err());
        assert!(parse_prompt_ids("99999999999").is_err());
    }

    #[test]
    fn steps_parse() {
        assert_eq!(parse_steps("0"), Ok(0));
        assert_eq!(parse_steps("256"), Ok(256));
        assert!(parse_steps("-1").unwrap_err().contains("negative"));
        assert!(parse_steps("x").unwrap_err().contains("not a number"));
        assert!(parse_steps("1e3").is_err());
    }

    #[test]
    fn steps_clamp_as_run_c() {
        assert_eq!(clamp_steps(0, 512), 512);
        assert_eq!(clamp_steps(256, 512), 256);
        assert_eq!(clamp_steps(513, 512), 512);
        assert_eq!(clamp_steps(512, 512), 512);
    }
}
