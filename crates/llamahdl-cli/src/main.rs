//! The `llamahdl` binary: see the library crate for the commands.

fn main() -> std::process::ExitCode {
    llamahdl_cli::main()
}
