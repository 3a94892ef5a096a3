//! Writing results: whole outputs to stdout in one go, progress bars on stderr.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};

/// Write `bytes` to stdout and flush. A closed pipe (`llamahdl run ... | head`) is not an
/// error: the reader has what it wanted.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}

/// A progress bar over `len` steps on stderr, drawn only when stderr is a terminal (hidden
/// otherwise, so logs and pipes see nothing of it).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} positions (eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// `--lanes`: one of the lane counts the tool is compiled for
/// (`llamahdl_hw::decoder::limits::SUPPORTED_LANES`).
pub fn parse_lanes(s: &str) -> Result<usize, String> {
    use llamahdl_hw::decoder::limits::SUPPORTED_LANES;
    match s.parse::<usize>() {
        Ok(l) if SUPPORTED_LANES.contains(&l) => Ok(l),
        _ => Err(format!(
            "{s} is not a supported lane count: choose one of {SUPPORTED_LANES:?}"
        )),
    }
}

/// A model shape in one line: `dim 64 hidden 172 layers 5 heads 8/4 vocab 512 seq_len 512`,
/// with `, separate classifier` when the classifier is not the embedding.
pub fn shape_summary(c: &llamahdl_model::Config) -> String {
    format!(
        "dim {} hidden {} layers {} heads {}/{} vocab {} seq_len {}{}",
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
    )
}
