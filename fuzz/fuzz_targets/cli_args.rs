//! The command line's argument handling on arbitrary arguments: the input is split at NUL
//! bytes into arguments. Parsing (clap with the tool's own value parsers: --prompt-ids,
//! --steps, --lanes, enums) must return a value or an error, never panic, and rendering the
//! error (what the user sees) must not panic either. Nothing is executed.
#![no_main]

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use llamahdl_cli::Cli;

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> = data
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let argv = std::iter::once("llamahdl".to_string()).chain(args.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(cli) => {
            let _ = format!("{cli:?}");
        }
        Err(e) => {
            let _ = e.render().to_string();
            let _ = e.exit_code();
        }
    }
    for a in &args {
        let _ = llamahdl_cli::run::parse_prompt_ids(a);
        let _ = llamahdl_cli::run::parse_steps(a);
    }
});
