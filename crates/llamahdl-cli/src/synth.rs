//! `llamahdl synth`: write a seeded synthetic llama2.c checkpoint of any shape.

use crate::cleanup::{parent_of, TempOutput};
use anyhow::Context;
use clap::{Args, ValueEnum};
use llamahdl_model::checkpoint::validate_config;
use llamahdl_model::{synth, Config};
use std::path::{Path, PathBuf};

/// Bytes available to this user on the file system holding `dir` (`None` when unknown).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` is plain data, filled in by the call; `c` is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path pointer and a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

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
    let out_name = a.out.display().to_string();
    // Shape errors name the output being made, not an internal description.
    validate_config(&c, &format!("{out_name} (--out)"))?;
    if a.out.is_dir() {
        anyhow::bail!("{out_name}: --out names a directory; give a file name");
    }
    let needed = c.file_bytes() as u64;
    let parent = parent_of(&a.out);
    if let Some(free) = free_bytes(&parent) {
        if free < needed {
            anyhow::bail!(
                "{out_name}: the checkpoint needs {needed} bytes but only {free} bytes are free \
                 in {}",
                parent.display()
            );
        }
    }
    // Streamed to a temporary file beside --out (constant memory for any shape), renamed
    // into place when complete.
    let tmp = TempOutput::create(&a.out)?;
    let mut file = tmp.file();
    let written = synth::write_to(&c, a.seed, &mut file, &out_name)?;
    file.sync_all()
        .with_context(|| format!("{out_name}: write failed"))?;
    tmp.commit()?;
    let bytes_len = written;
    eprintln!(
        "wrote {} ({} bytes): {}",
        a.out.display(),
        bytes_len,
        crate::output::shape_summary(&c)
    );
    Ok(())
}
