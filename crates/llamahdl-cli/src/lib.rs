//! `llamahdl`: the command-line tool of the llamahdl project (the binary's `main` is
//! [`main`]; the library exposes the argument parser for the fuzz targets).
//!
//! Subcommands:
//! - `run`: greedy generation with the float32 engine (equal to llama2.c's run.c) or the
//!   bit-exact integer golden model of the hardware.
//! - `verilog`: quantise a model and emit the accelerator's Verilog for it.
//! - `info`: a checkpoint's header, derived shape and parameter count.
//! - `synth`: a seeded synthetic checkpoint of any shape.
//! - `sim`: generation on the natively simulated decoder RTL, checked against the golden model.
//! - `board`: generate on a board over its serial port (docs/board-protocol.md).
//! - `image`: write a checkpoint's weight image for a decoder that streams its weights
//!   from DRAM, or verify one (docs/image-format.md).
//!
//! Errors are printed to stderr as `Error: <file>: <problem>` and exit with status 1
//! (usage errors exit with 2, as clap does). Nothing is written to stdout, and no output
//! directory is touched, when a command fails. An interrupt (Ctrl-C, SIGTERM, SIGHUP)
//! removes the partial outputs and exits with status 130 (see [`cleanup`]).

pub mod board;
pub mod cleanup;
pub mod image;
pub mod info;
pub mod output;
pub mod run;
pub mod sim;
pub mod synth;
pub mod verilog;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// LLaMA-2 decoder accelerator in rust-hdl: run models, emit Verilog, inspect checkpoints.
#[derive(Parser, Debug)]
#[command(name = "llamahdl", version)]
#[command(
    after_help = "Model files use llama2.c's formats: legacy (v0) checkpoints such as \
    stories260K.bin and tokenizer files such as tok512.bin."
)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Generate text greedily (temperature 0), as llama2.c's run.c does.
    Run(run::RunArgs),
    /// Quantise a model and emit the accelerator's Verilog into a directory.
    Verilog(verilog::VerilogArgs),
    /// Print a checkpoint's header, derived shape and parameter count.
    Info(info::InfoArgs),
    /// Write a seeded synthetic checkpoint of any shape (for tests and demos).
    Synth(synth::SynthArgs),
    /// Generate with the decoder RTL simulated natively; checks it against the golden model.
    Sim(sim::SimArgs),
    /// Write a checkpoint's weight image (--out), or verify one and print its table (--check).
    Image(image::ImageArgs),
    /// Generate on a board (the ULX3S top of `make bitstream`) over its serial port.
    Board(board::BoardArgs),
}

/// The whole program: parse the command line (clap exits with 2 on a usage error), install
/// the Ctrl-C handler that removes partial outputs, run the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    cleanup::install();
    let result = execute(cli);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", error_message(&e));
            ExitCode::FAILURE
        }
    }
}

/// Run a parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Verilog(args) => verilog::run(args),
        Command::Info(args) => info::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Image(args) => image::run(args),
        Command::Board(args) => board::run(args),
    }
}

/// The error and its causes joined by `: `, leaving out a cause whose text the message
/// already holds (the model crate's errors embed their I/O cause in their own text).
pub fn error_message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn error_causes_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "not found");
        let e = anyhow::Error::new(llamahdl_model::ModelError::io(
            std::path::Path::new("m.bin"),
            io,
        ));
        assert_eq!(error_message(&e), "m.bin: not found");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_message(&e), "outer: inner");
    }
}
