//! `llamahdl info`: a checkpoint's header, derived shape and parameter count.

use crate::output::write_stdout;
use anyhow::Context;
use clap::Args;
use llamahdl_model::{Checkpoint, Config};
use std::path::PathBuf;

/// Arguments of `llamahdl info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// llama2.c checkpoint (legacy v0 format), e.g. stories260K.bin. It is fully read and
    /// validated.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: PathBuf,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `info --json` prints.
#[derive(serde::Serialize)]
struct Info {
    checkpoint: String,
    file_bytes: u128,
    config: Config,
    head_dim: usize,
    kv_dim: usize,
    kv_mul: usize,
    qkv_rows: usize,
    parameters: u128,
}

impl Info {
    fn new(ck: &Checkpoint, path: &str) -> Info {
        let c = ck.config;
        Info {
            checkpoint: path.to_string(),
            file_bytes: c.file_bytes(),
            config: c,
            head_dim: c.head_dim(),
            kv_dim: c.kv_dim(),
            kv_mul: c.kv_mul(),
            qkv_rows: c.qkv_rows(),
            parameters: c.param_count(),
        }
    }

    fn text(&self) -> String {
        let c = &self.config;
        let classifier = if c.shared_classifier {
            "shared with the token embedding"
        } else {
            "separate (wcls)"
        };
        format!(
            "checkpoint:  {}\n\
             file bytes:  {}\n\
             dim:         {}\n\
             hidden_dim:  {}\n\
             n_layers:    {}\n\
             n_heads:     {}\n\
             n_kv_heads:  {}\n\
             vocab_size:  {}\n\
             seq_len:     {}\n\
             classifier:  {classifier}\n\
             head_dim:    {}\n\
             kv_dim:      {}\n\
             kv_mul:      {}\n\
             qkv_rows:    {}\n\
             parameters:  {}\n",
            self.checkpoint,
            self.file_bytes,
            c.dim,
            c.hidden_dim,
            c.n_layers,
            c.n_heads,
            c.n_kv_heads,
            c.vocab_size,
            c.seq_len,
            self.head_dim,
            self.kv_dim,
            self.kv_mul,
            self.qkv_rows,
            self.parameters,
        )
    }
}

/// `llamahdl info`.
pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let ck = Checkpoint::load(&args.checkpoint)?;
    let info = Info::new(&ck, &args.checkpoint.display().to_string());
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&info).context("serialising the JSON output")?;
        s.push('\n');
        s
    } else {
        info.text()
    };
    write_stdout(out.as_bytes())
}
