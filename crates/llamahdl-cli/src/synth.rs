//! `llamahdl synth`: write a seeded synthetic llama2.c checkpoint of any shape.

use anyhow::Context;
use clap::{Args, ValueEnum};
use llamahdl_model::{synth, Config};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `llamahdl synth`.
#[derive(Args, Debug)]
#[command(
    after_help = "Start from --config (default tiny) and override any dimension. The file is \
    written to a temporary file beside --out and renamed into place only when complete."
)]
pub struct SynthArgs {
    /// Output checkpoint file (llama2.c legacy format).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Base shape.
    #[arg(long, value_enum, default_value = "tiny")]
    pub config: BaseShape,
    /// Random seed (the same seed and shape give the same bytes).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub dim: Option<usize>,
    #[arg(long)]
    pub hidden_dim: Option<usize>,
    #[arg(long)]
    pub n_layers: Option<usize>,
    #[arg(long)]
    pub n_heads: Option<usize>,
    #[arg(long)]
    pub n_kv_heads: Option<usize>,
    #[arg(long)]
    pub vocab_size: Option<usize>,
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Give the checkpoint its own classifier matrix (negative vocab_size in the header).
    #[arg(long)]
    pub separate_classifier: bool,
}

/// Base shapes of `--config`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BaseShape {
    /// dim 16, hidden 32, 2 layers, 4 heads, 2 kv heads, vocab 32, seq_len 16.
    Tiny,
    /// The stories260K shape (dim 64, hidden 172, 5 layers, 8/4 heads, vocab 512, seq_len 512).
    #[value(name = "stories260k")]
    Stories260k,
}

/// `llamahdl synth`.
pub fn run(a: SynthArgs) -> anyhow::Result<()> {
    let mut c = match a.config {
        BaseShape::Tiny => Config::TINY,
        BaseShape::Stories260k => Config::STORIES260K,
    };
    c.dim = a.dim.unwrap_or(c.dim);
    c.hidden_dim = a.hidden_dim.unwrap_or(c.hidden_dim);
    c.n_layers = a.n_layers.unwrap_or(c.n_layers);
    c.n_heads = a.n_heads.unwrap_or(c.n_heads);
    c.n_kv_heads = a.n_kv_heads.unwrap_or(c.n_kv_heads);
    c.vocab_size = a.vocab_size.unwrap_or(c.vocab_size);
    c.seq_len = a.seq_len.unwrap_or(c.seq_len);
    if a.separate_classifier {
        c.shared_classifier = false;
    }
    let ck = synth::try_generate(&c, a.seed)?;
    let bytes = ck.to_bytes();
    let parent = match a.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&parent)
        .with_context(|| format!("{}: cannot create a file there", parent.display()))?;
    tmp.write_all(&bytes)
        .with_context(|| format!("{}: write failed", a.out.display()))?;
    tmp.persist(&a.out)
        .with_context(|| format!("{}: cannot write", a.out.display()))?;
    eprintln!(
        "wrote {} ({} bytes): dim {} hidden {} layers {} heads {}/{} vocab {} seq_len {}{}",
        a.out.display(),
        bytes.len(),
        c.dim,
        c.hidden_dim,
        c.n_layers,
        c.n_heads,
        c.n_kv_heads,
        c.vocab_size,
        c.seq_len,
        if c.shared_classifier {
            ""
        } else {
            ", separate classifier"
        }
    );
    Ok(())
}
