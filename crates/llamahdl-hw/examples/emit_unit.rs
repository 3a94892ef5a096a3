//! Write the Verilog of one unit of the decoder (see `llamahdl_hw::emit_units`):
//!
//! `cargo run --release -p llamahdl-hw --example emit_unit -- UNIT MODEL LANES CONTEXT OUT.v`
//!
//! UNIT is `matvec`, `rms`, `attention`, `layer_stack` or `decoder`; MODEL a llama2.c checkpoint, or
//! `tiny` for the synthetic tiny model (seed 1, as `llamahdl verilog --config tiny`);
//! CONTEXT 0 means the model's seq_len. Used by `make timing-unit`.

use anyhow::{bail, Context, Result};
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::emit_units::{unit_module, unit_verilog};
use llamahdl_model::{synth, Checkpoint, Config};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        bail!("usage: emit_unit UNIT MODEL|tiny LANES CONTEXT OUT.v");
    }
    let ck = if args[1] == "tiny" {
        synth::try_generate(&Config::TINY, 1)?
    } else {
        Checkpoint::load(std::path::Path::new(&args[1]))?
    };
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    let lanes: usize = args[2].parse().context("LANES")?;
    let context: usize = args[3].parse().context("CONTEXT")?;
    let text = unit_verilog(&args[0], &qm, lanes, context)?;
    std::fs::write(&args[4], text).with_context(|| format!("{}: cannot write", args[4]))?;
    eprintln!("{}: {} ({lanes} lanes)", args[4], unit_module(&args[0]));
    Ok(())
}
