//! Co-simulation of a block's native rust-hdl simulation against its emitted Verilog.
//!
//! rust-hdl's Rust simulation and the Verilog it emits can silently disagree (see
//! `../shared/docs/rust-hdl-notes.md`, the project's notes on rust-hdl), so every block is checked cycle by cycle:
//!
//! 1. Run the native simulation with [`crate::sim::Driver::with_trace`]: every cycle, after
//!    the inputs are set and the logic has settled and before the rising edge, the values of
//!    all top-level ports are recorded in a [`Trace`] (port names, widths, signedness and
//!    directions are discovered from the block itself; clock inputs are not recorded: the
//!    testbench drives them).
//! 2. [`run_icarus`] writes a Verilog testbench that instantiates the emitted module, applies
//!    the recorded inputs cycle by cycle with the same convention (inputs change while the
//!    clock is low, outputs are compared before the rising edge), compares every output
//!    against the recorded native value, and runs it in Icarus Verilog (`iverilog -g2005`,
//!    `vvp`). An `x`/`z` bit in a compared output is a mismatch.
//! 3. The [`CosimReport`] lists the mismatches (cycle, port, Verilog value, native value).
//!    (Or step 2 in Verilator, [`run_verilator`], for long traces: see below.)
//!
//! Outputs whose native value is meaningless in some cycle (e.g. a RAM read of a location
//! never written: 0 in rust-hdl, `x` in Verilog) can be excluded with
//! [`Trace::set_dont_care`].
//!
//! **Generate the Verilog from a freshly constructed block**, not from the one that was
//! simulated: rust-hdl's `RAM` emits its *current simulated contents* as `initial` values.
//!
//! ```ignore
//! let verilog = generate_verilog(&RowAddrGen::new(&cfg, 8));        // fresh instance
//! let mut d = Driver::new(RowAddrGen::new(&cfg, 8), |u, c| u.clock.next = c.into()).with_trace();
//! /* ... drive d.uut inputs, d.tick() ... */
//! let trace = d.take_trace().unwrap();
//! let report = run_icarus(&verilog, "top", &trace, tmp.path())?;
//! report.assert_clean();
//! ```
//!
//! # Verilator
//!
//! [`run_verilator`] replays the same [`Trace`] on a Verilator model instead: same
//! arguments, same [`CosimReport`] (plus the speed of the simulation loop and the build
//! time), same cycle convention, don't-care mask and mismatch reporting. Use it for long
//! traces (whole-decoder runs of hundreds of thousands of cycles): the 64-lane
//! stories260K-shape QKV decoder simulates at ~1.5 M cycles/s after a ~12 s build, where
//! Icarus needs ~2.4 s (compilation included) for a 2,300-cycle trace.
//!
//! ```ignore
//! let report = run_verilator(&verilog, "top", &trace, workdir)?;
//! report.assert_clean();
//! println!("{:.0} cycles/s", report.cycles_per_second.unwrap());
//! ```
//!
//! How it works (files in `workdir`):
//! 1. `verilator --cc --exe -O2 -Wno-fatal -Wno-lint -Wno-style --x-assign 0 --x-initial 0
//!    --no-timing --prefix Vdut --top-module <top> -o Vtb dut.v tb.cpp` verilates the design
//!    into `obj_dir/` (model class `Vdut`).
//! 2. The ports are mapped to the model's C++ members: Verilator encodes characters other
//!    than letters, digits and `_` as `__0XX`, so rust-hdl's `data$3` is `data__0243`
//!    ([`verilator_member_name`]); the names are checked against the `VL_IN*`/`VL_OUT*`
//!    declarations of `obj_dir/Vdut.h` (which also reveals a `__SYM__` prefix on C++
//!    keywords) and a port that is not found is an error.
//! 3. A C++ testbench `tb.cpp` is generated for the ports only (port widths up to 128 bits:
//!    `CData`/`SData`/`IData`/`QData`/`VlWide`), and `make -f Vdut.mk` builds `obj_dir/Vtb`.
//!    The stimulus, expected values and care mask are *not* compiled in: `Vtb <cycles>
//!    <max_reported>` reads `stim.hex`, `exp.hex` and `care.hex` (the files the Icarus flow
//!    writes). So the build does not depend on the trace, and a later call with the same
//!    Verilog and the same `workdir` reuses the model (no re-verilation, nothing recompiled):
//!    pass a persistent `workdir` to run several traces of one design.
//! 4. Per cycle: inputs applied with the clock low, `eval()`, outputs compared, rising edge
//!    `eval()`, falling edge `eval()`. The loop is timed (`COSIM_TIME`) for
//!    [`CosimReport::cycles_per_second`].
//!
//! Verilator is 2-state: uninitialised registers and RAMs and `x` assignments read 0 (as in
//! the native simulation), so it does not flag reads of never-written RAM the way Icarus
//! does; keep the Icarus run on short traces for that. Missing `verilator`, `make` or a C++
//! compiler is an error (install them: `apt-get install verilator g++ make`), never a skip.
//!
//! # Lint
//!
//! [`verilator_lint`] runs `verilator --lint-only -Wall` on emitted Verilog with the waiver
//! file `sim/verilator_waivers.vlt` ([`default_waiver_file`]).

use anyhow::{anyhow, bail, Context, Result};
use rust_hdl::prelude::*;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub mod dram_verilator;

pub use crate::sim::trace::{Port, PortDir, Trace};

impl Trace {
    fn width_of(&self, dir: PortDir) -> usize {
        self.ports
            .iter()
            .filter(|p| p.dir == dir)
            .map(|p| p.width)
            .sum()
    }

    /// Hex lines (one per cycle) of the concatenation `{port_a, port_b, ...}` of the ports
    /// with direction `dir` (first port in the most significant bits); with `care`, the
    /// compare mask instead of the values. Each line has `max(1, ceil(width / 4))` digits.
    fn hex_lines(&self, dir: PortDir, care: bool) -> String {
        let total = self.width_of(dir);
        let digits = total.div_ceil(4).max(1);
        let sel: Vec<(usize, usize)> = self
            .ports
            .iter()
            .enumerate()
            .filter(|(_, p)| p.dir == dir)
            .map(|(i, p)| (i, p.width))
            .collect();
        let mut out = String::with_capacity(self.rows.len() * (digits + 1));
        // Nibbles of one line, least significant first.
        let mut nib: Vec<u8> = Vec::with_capacity(digits + 1);
        for (c, row) in self.rows.iter().enumerate() {
            nib.clear();
            let (mut acc, mut n) = (0u128, 0usize);
            // Last port first: it holds the least significant bits.
            for &(i, width) in sel.iter().rev() {
                let mut v = if care {
                    if self.dont_care.contains(&(c, i)) {
                        0
                    } else {
                        u128::MAX
                    }
                } else {
                    row[i]
                };
                let mut w = width;
                while w > 0 {
                    let take = w.min(64);
                    acc |= (v & ((1u128 << take) - 1)) << n;
                    n += take;
                    v = if take == 64 { v >> 64 } else { 0 };
                    w -= take;
                    while n >= 4 {
                        nib.push((acc & 15) as u8);
                        acc >>= 4;
                        n -= 4;
                    }
                }
            }
            if n > 0 {
                nib.push((acc & 15) as u8);
            }
            nib.resize(digits, 0);
            out.extend(
                nib.iter()
                    .rev()
                    .map(|&d| std::char::from_digit(d as u32, 16).unwrap()),
            );
            out.push('\n');
        }
        out
    }

    /// The Verilog testbench (module `cosim_tb`) for module `top_module`, reading
    /// `stim.hex`, `exp.hex` and `care.hex` from the working directory.
    pub fn testbench(&self, top_module: &str, max_reported: usize) -> String {
        let n = self.rows.len();
        let iw = self.width_of(PortDir::In);
        let ow = self.width_of(PortDir::Out);
        let mut v = String::new();
        let decl = |w: usize| {
            if w == 1 {
                String::new()
            } else {
                format!("[{}:0] ", w - 1)
            }
        };
        writeln!(
            v,
            "// Generated by llamahdl_hw::cosim: replays {n} cycles of a native trace."
        )
        .unwrap();
        writeln!(v, "module cosim_tb;").unwrap();
        writeln!(v, "  reg clock;").unwrap();
        writeln!(v, "  integer cyc, errors, reported;").unwrap();
        let (mut ins, mut outs) = (vec![], vec![]);
        for (i, p) in self.ports.iter().enumerate() {
            match p.dir {
                PortDir::In => {
                    writeln!(v, "  reg {}i{} = 0; // {}", decl(p.width), i, p.name).unwrap();
                    ins.push(format!("i{i}"));
                }
                PortDir::Out => {
                    writeln!(v, "  wire {}o{}; // {}", decl(p.width), i, p.name).unwrap();
                    outs.push(format!("o{i}"));
                }
            }
        }
        if iw > 0 {
            writeln!(v, "  reg [{}:0] stim [0:{}];", iw - 1, n.max(1) - 1).unwrap();
        }
        if ow > 0 {
            writeln!(v, "  reg [{}:0] expv [0:{}];", ow - 1, n.max(1) - 1).unwrap();
            writeln!(v, "  reg [{}:0] care [0:{}];", ow - 1, n.max(1) - 1).unwrap();
            writeln!(v, "  reg [{}:0] e, m;", ow - 1).unwrap();
            writeln!(v, "  wire [{}:0] outv = {{{}}};", ow - 1, outs.join(", ")).unwrap();
        }
        // Instance.
        let mut conns: Vec<String> = self.clocks.iter().map(|c| format!(".{c}(clock)")).collect();
        for (i, p) in self.ports.iter().enumerate() {
            let sig = match p.dir {
                PortDir::In => format!("i{i}"),
                PortDir::Out => format!("o{i}"),
            };
            conns.push(format!(".{}({})", p.name, sig));
        }
        writeln!(
            v,
            "  {top_module} dut (\n    {}\n  );",
            conns.join(",\n    ")
        )
        .unwrap();
        // Stimulus and checks.
        writeln!(v, "  initial begin").unwrap();
        if iw > 0 {
            writeln!(v, "    $readmemh(\"stim.hex\", stim);").unwrap();
        }
        if ow > 0 {
            writeln!(v, "    $readmemh(\"exp.hex\", expv);").unwrap();
            writeln!(v, "    $readmemh(\"care.hex\", care);").unwrap();
        }
        writeln!(v, "    clock = 0; errors = 0; reported = 0;").unwrap();
        writeln!(v, "    for (cyc = 0; cyc < {n}; cyc = cyc + 1) begin").unwrap();
        if iw > 0 {
            writeln!(v, "      {{{}}} = stim[cyc];", ins.join(", ")).unwrap();
        }
        writeln!(v, "      #1;").unwrap();
        if ow > 0 {
            writeln!(v, "      e = expv[cyc]; m = care[cyc];").unwrap();
            let mut off = ow;
            for (i, p) in self.ports.iter().enumerate() {
                if p.dir != PortDir::Out {
                    continue;
                }
                let hi = off - 1;
                let lo = off - p.width;
                off = lo;
                writeln!(
                    v,
                    "      if (((o{i} ^ e[{hi}:{lo}]) & m[{hi}:{lo}]) !== {w}'d0) begin\n        errors = errors + 1;\n        if (reported < {max_reported}) begin\n          reported = reported + 1;\n          $display(\"MISMATCH %0d {name} %h %h\", cyc, o{i}, e[{hi}:{lo}]);\n        end\n      end",
                    w = p.width,
                    name = p.name
                )
                .unwrap();
            }
        }
        writeln!(v, "      #4 clock = 1;").unwrap();
        writeln!(v, "      #5 clock = 0;").unwrap();
        writeln!(v, "    end").unwrap();
        writeln!(v, "    $display(\"COSIM_DONE %0d %0d\", cyc, errors);").unwrap();
        writeln!(v, "    $finish;").unwrap();
        writeln!(v, "  end").unwrap();
        writeln!(v, "endmodule").unwrap();
        v
    }
}

/// One output that differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub cycle: usize,
    pub port: String,
    /// Value from the Verilog simulation (hex, may contain `x`/`z`).
    pub verilog: String,
    /// Native rust-hdl value (hex).
    pub native: String,
}

/// Result of a co-simulation run.
#[derive(Debug, Clone)]
pub struct CosimReport {
    /// Cycles the Verilog simulation completed.
    pub cycles: usize,
    /// Total number of (cycle, port) mismatches.
    pub mismatch_count: usize,
    /// The first mismatches (at most `max_reported` of [`run_icarus_with`] /
    /// [`run_verilator_with`]).
    pub mismatches: Vec<Mismatch>,
    /// Compiler warnings and simulator output.
    pub log: String,
    /// Wall time of the simulation loop (Verilator only; excludes loading the trace files).
    pub elapsed: Option<Duration>,
    /// `cycles / elapsed` (Verilator only).
    pub cycles_per_second: Option<f64>,
    /// Time spent verilating and compiling the model in this call (Verilator only; near
    /// zero when a model built earlier in the same `workdir` was reused).
    pub build_time: Option<Duration>,
}

impl CosimReport {
    /// True when every compared output matched in every cycle.
    pub fn is_clean(&self) -> bool {
        self.mismatch_count == 0
    }

    /// Panic with a readable summary unless clean.
    pub fn assert_clean(&self) {
        if !self.is_clean() {
            let mut s = format!(
                "co-simulation: {} mismatches in {} cycles; first ones:\n",
                self.mismatch_count, self.cycles
            );
            for m in &self.mismatches {
                writeln!(
                    s,
                    "  cycle {:>6} {:<20} verilog {:>10} native {:>10}",
                    m.cycle, m.port, m.verilog, m.native
                )
                .unwrap();
            }
            panic!("{s}");
        }
    }
}

fn tool(name: &str) -> Command {
    Command::new(name)
}

/// Test helper for tests that skip when an optional tool is missing: the first of `tools`
/// (each a program and an argument it answers harmlessly, e.g. `("yosys", "-V")`) that
/// cannot be run here or prints nothing.
pub fn missing_tool(tools: &[(&'static str, &str)]) -> Option<&'static str> {
    tools
        .iter()
        .find(|(name, arg)| {
            tool(name)
                .arg(arg)
                .output()
                .map_or(true, |o| o.stdout.is_empty() && o.stderr.is_empty())
        })
        .map(|(name, _)| *name)
}

fn run_tool(mut cmd: Command, what: &str, install_hint: &str) -> Result<std::process::Output> {
    match cmd.output() {
        Ok(o) => Ok(o),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{what} is not installed or not on PATH ({e}); install it ({install_hint}) — \
             co-simulation and lint tests require it"
        ),
        Err(e) => Err(e).with_context(|| format!("running {what}")),
    }
}

/// [`run_icarus_with`] reporting at most 50 mismatches.
pub fn run_icarus(
    verilog: &str,
    top_module: &str,
    trace: &Trace,
    workdir: &Path,
) -> Result<CosimReport> {
    run_icarus_with(verilog, top_module, trace, workdir, 50)
}

/// Co-simulate `trace` against `verilog` (whose top module is `top_module`, `top` for
/// rust-hdl's `generate_verilog`) in Icarus Verilog, using `workdir` for the files
/// (`dut.v`, `cosim_tb.v`, `*.hex`, `cosim.vvp`). Errors if the tools are missing, the
/// Verilog does not compile, or the simulation does not finish; mismatches are in the report.
pub fn run_icarus_with(
    verilog: &str,
    top_module: &str,
    trace: &Trace,
    workdir: &Path,
    max_reported: usize,
) -> Result<CosimReport> {
    if trace.is_empty() {
        bail!("empty trace");
    }
    std::fs::create_dir_all(workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let w = |name: &str, text: &str| -> Result<()> {
        std::fs::write(workdir.join(name), text).with_context(|| format!("writing {name}"))
    };
    w("dut.v", verilog)?;
    w("cosim_tb.v", &trace.testbench(top_module, max_reported))?;
    w("stim.hex", &trace.hex_lines(PortDir::In, false))?;
    w("exp.hex", &trace.hex_lines(PortDir::Out, false))?;
    w("care.hex", &trace.hex_lines(PortDir::Out, true))?;

    let mut c = tool("iverilog");
    c.current_dir(workdir).args([
        "-g2005",
        "-o",
        "cosim.vvp",
        "-s",
        "cosim_tb",
        "cosim_tb.v",
        "dut.v",
    ]);
    let out = run_tool(c, "iverilog (Icarus Verilog)", "apt-get install iverilog")?;
    let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        bail!("iverilog failed to compile the design:\n{log}");
    }
    let mut c = tool("vvp");
    c.current_dir(workdir).args(["-n", "cosim.vvp"]);
    let out = run_tool(c, "vvp (Icarus Verilog)", "apt-get install iverilog")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&stdout);
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("vvp failed:\n{log}");
    }

    parse_sim_output(trace, &stdout, log)
}

/// Collect the `MISMATCH cycle port verilog expected`, `COSIM_TIME seconds` and
/// `COSIM_DONE cycles errors` lines a testbench printed.
fn parse_sim_output(trace: &Trace, stdout: &str, log: String) -> Result<CosimReport> {
    let mut mismatches = vec![];
    let mut done: Option<(usize, usize)> = None;
    let mut elapsed = None;
    for line in stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first() {
            Some(&"MISMATCH") if f.len() == 5 => {
                let cycle: usize = f[1].parse()?;
                let port = f[2].to_owned();
                let idx = trace.port_index(&port);
                let width = trace.ports[idx].width;
                mismatches.push(Mismatch {
                    cycle,
                    port,
                    verilog: f[3].to_owned(),
                    native: format!("{:0w$x}", trace.rows[cycle][idx], w = width.div_ceil(4)),
                });
            }
            Some(&"COSIM_TIME") if f.len() == 2 => {
                let secs: f64 = f[1].parse()?;
                elapsed = Some(Duration::from_secs_f64(secs.max(0.0)));
            }
            Some(&"COSIM_DONE") if f.len() == 3 => {
                done = Some((f[1].parse()?, f[2].parse()?));
            }
            _ => {}
        }
    }
    let (cycles, mismatch_count) =
        done.ok_or_else(|| anyhow!("the Verilog simulation did not finish:\n{log}"))?;
    if cycles != trace.len() {
        bail!(
            "the Verilog simulation ran {cycles} of {} cycles",
            trace.len()
        );
    }
    let cycles_per_second = elapsed
        .filter(|d| !d.is_zero())
        .map(|d| cycles as f64 / d.as_secs_f64());
    Ok(CosimReport {
        cycles,
        mismatch_count,
        mismatches,
        log,
        elapsed,
        cycles_per_second,
        build_time: None,
    })
}

/// Verilator's C++ member name for the Verilog identifier `name` (its `encodeName`):
/// characters other than letters, digits and `_` become `__0XX` (hex code, so `data$3` is
/// `data__0243`), the second `_` of `__` becomes `__05F` (`a__b` is `a___05Fb`), and a
/// leading digit is encoded too. Names that are C++ keywords additionally get a `__SYM__`
/// prefix, which [`run_verilator`] discovers from the generated header.
pub fn verilator_member_name(name: &str) -> String {
    let b = name.as_bytes();
    let mut out = String::with_capacity(name.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let plain = if i == 0 {
            c.is_ascii_alphabetic()
        } else {
            c.is_ascii_alphanumeric()
        };
        if plain {
            out.push(c as char);
        } else if c == b'_' {
            if b.get(i + 1) == Some(&b'_') {
                out.push_str("___05F");
                i += 1;
            } else {
                out.push('_');
            }
        } else {
            write!(out, "__0{c:02X}").unwrap();
        }
        i += 1;
    }
    out
}

/// The port members (`VL_IN8(&name, ...)`, `VL_OUTW(&name, ...)`, ...) declared in a
/// Verilator model header.
fn verilator_header_ports(header: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in header.lines() {
        let t = line.trim_start();
        if !(t.starts_with("VL_IN") || t.starts_with("VL_OUT")) {
            continue;
        }
        if let Some(start) = t.find("(&") {
            let rest = &t[start + 2..];
            if let Some(end) = rest.find(',') {
                names.insert(rest[..end].trim().to_owned());
            }
        }
    }
    names
}

/// The options of every simulation build with Verilator (a C++ model and a bench).
const VERILATOR_SIM_FLAGS: [&str; 11] = [
    "--cc",
    "--exe",
    "-O2",
    "-Wno-fatal",
    // rust-hdl's Verilog is full of width/unused/style warnings that do not matter
    // here (`verilator_lint` is the place for those).
    "-Wno-lint",
    "-Wno-style",
    // 2-state, deterministic: X assignments and uninitialised state are 0, as in the
    // native rust-hdl simulation.
    "--x-assign",
    "0",
    "--x-initial",
    "0",
    "--no-timing",
];

/// Arguments of the `verilator` call (verilation only; the model is compiled by `make`).
fn verilator_args(top_module: &str) -> Vec<String> {
    let rest = [
        "--prefix",
        "Vdut",
        "--top-module",
        top_module,
        "-o",
        "Vtb",
        "dut.v",
        "tb.cpp",
    ];
    VERILATOR_SIM_FLAGS
        .iter()
        .chain(rest.iter())
        .map(|s| s.to_string())
        .collect()
}

/// C++ storage class of a Verilator port of `width` bits.
fn verilator_ctype(width: usize) -> &'static str {
    match width {
        0..=8 => "CData",
        9..=16 => "SData",
        17..=32 => "IData",
        33..=64 => "QData",
        _ => "VlWide",
    }
}

impl Trace {
    /// The C++ testbench for the Verilator model class `Vdut`. `members[i]` is the C++
    /// member of `ports[i]`, `clock_members` those of the clocks. Reads `stim.hex`,
    /// `exp.hex` and `care.hex` (as written for Icarus); the cycle count and the number of
    /// mismatches to print are its command-line arguments.
    fn verilator_testbench(&self, clock_members: &[String], members: &[String]) -> String {
        let iw = self.width_of(PortDir::In);
        let ow = self.width_of(PortDir::Out);
        let mut v = String::new();
        v.push_str(VERILATOR_TB_PRELUDE);
        writeln!(v, "static const int IW = {iw}, OW = {ow};").unwrap();
        writeln!(
            v,
            "static const int IWORDS = IW / 32 + 2, OWORDS = OW / 32 + 2;"
        )
        .unwrap();
        // Inputs.
        writeln!(
            v,
            "static inline void apply(Vdut* top, const uint32_t* s) {{"
        )
        .unwrap();
        writeln!(v, "  uint32_t t[4];").unwrap();
        writeln!(v, "  (void)t; (void)s;").unwrap();
        let mut off = iw;
        for (i, p) in self.ports.iter().enumerate() {
            if p.dir != PortDir::In {
                continue;
            }
            off -= p.width;
            let m = &members[i];
            writeln!(
                v,
                "  get_bits(s, {off}, {w}, t); // {}",
                p.name,
                w = p.width
            )
            .unwrap();
            match p.width {
                0..=32 => writeln!(v, "  top->{m} = ({})t[0];", verilator_ctype(p.width)).unwrap(),
                33..=64 => writeln!(v, "  top->{m} = (QData)t[0] | ((QData)t[1] << 32);").unwrap(),
                w => {
                    for k in 0..w.div_ceil(32) {
                        writeln!(v, "  top->{m}[{k}] = t[{k}];").unwrap();
                    }
                }
            }
        }
        writeln!(v, "}}").unwrap();
        // Output checks.
        writeln!(
            v,
            "static inline void check(Vdut* top, long cyc, const uint32_t* e, const uint32_t* m) {{"
        )
        .unwrap();
        writeln!(v, "  uint32_t o[4], ev[4], mv[4];").unwrap();
        writeln!(
            v,
            "  (void)o; (void)ev; (void)mv; (void)e; (void)m; (void)top; (void)cyc;"
        )
        .unwrap();
        let mut off = ow;
        for (i, p) in self.ports.iter().enumerate() {
            if p.dir != PortDir::Out {
                continue;
            }
            off -= p.width;
            let m = &members[i];
            writeln!(v, "  {{ // {}", p.name).unwrap();
            if p.width <= 64 {
                writeln!(v, "    uint64_t x = (uint64_t)top->{m};").unwrap();
                writeln!(v, "    o[0] = (uint32_t)x; o[1] = (uint32_t)(x >> 32);").unwrap();
            } else {
                for k in 0..p.width.div_ceil(32) {
                    writeln!(v, "    o[{k}] = top->{m}[{k}];").unwrap();
                }
            }
            writeln!(
                v,
                "    check_port(cyc, \"{name}\", {w}, o, e, m, {off});",
                name = p.name,
                w = p.width
            )
            .unwrap();
            writeln!(v, "  }}").unwrap();
        }
        writeln!(v, "}}").unwrap();
        // Clock.
        writeln!(v, "static inline void set_clock(Vdut* top, int c) {{").unwrap();
        writeln!(v, "  (void)top; (void)c;").unwrap();
        for m in clock_members {
            writeln!(v, "  top->{m} = c;").unwrap();
        }
        writeln!(v, "}}").unwrap();
        v.push_str(VERILATOR_TB_MAIN);
        v
    }
}

/// Helpers and file loading of the Verilator testbench (before the generated part).
const VERILATOR_TB_PRELUDE: &str = r#"// Generated by llamahdl_hw::cosim: replays a native trace on the Verilator model Vdut.
// Usage: Vtb <cycles> <max_reported>; reads stim.hex, exp.hex, care.hex.
#include "Vdut.h"
#include "verilated.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

static long g_errors = 0, g_reported = 0, g_max_reported = 0;

// Bits [lo, lo + width) of a row (32-bit words, least significant first), width <= 128.
static inline void get_bits(const uint32_t* row, int lo, int width, uint32_t* out) {
  int nw = (width + 31) / 32;
  for (int k = 0; k < nw; k++) {
    int bit = lo + 32 * k;
    int w = bit >> 5, s = bit & 31;
    uint32_t x = row[w] >> s;
    if (s) x |= row[w + 1] << (32 - s);
    int rem = width - 32 * k;
    if (rem < 32) x &= (1u << rem) - 1u;
    out[k] = x;
  }
}

static void print_hex(const uint32_t* v, int width) {
  for (int d = (width + 3) / 4 - 1; d >= 0; d--) {
    int bit = d * 4;
    putchar("0123456789abcdef"[(v[bit >> 5] >> (bit & 31)) & 15]);
  }
}

// Compare output value o (masked to width here) with bits [lo, lo + width) of the expected
// row e under the care row m.
static inline void check_port(long cyc, const char* name, int width, uint32_t* o,
                              const uint32_t* e, const uint32_t* m, int lo) {
  uint32_t ev[4], mv[4];
  int nw = (width + 31) / 32;
  if (width % 32) o[nw - 1] &= (1u << (width % 32)) - 1u;
  get_bits(e, lo, width, ev);
  get_bits(m, lo, width, mv);
  bool bad = false;
  for (int k = 0; k < nw; k++) bad |= ((o[k] ^ ev[k]) & mv[k]) != 0;
  if (!bad) return;
  g_errors++;
  if (g_reported < g_max_reported) {
    g_reported++;
    printf("MISMATCH %ld %s ", cyc, name);
    print_hex(o, width);
    putchar(' ');
    print_hex(ev, width);
    putchar('\n');
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// n lines of ceil(bits / 4) (at least 1) hex digits into n rows of `words` words.
static void load_hex(const char* path, int bits, int words, long n, std::vector<uint32_t>& out) {
  FILE* f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "COSIM_ERROR cannot open %s\n", path); exit(2); }
  std::vector<char> buf;
  char chunk[1 << 16];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + got);
  fclose(f);
  int digits = bits == 0 ? 1 : (bits + 3) / 4;
  out.assign((size_t)n * words, 0u);
  size_t p = 0;
  for (long r = 0; r < n; r++) {
    if (p + digits > buf.size()) {
      fprintf(stderr, "COSIM_ERROR %s: %ld lines, %ld expected\n", path, r, n);
      exit(2);
    }
    uint32_t* row = &out[(size_t)r * words];
    for (int k = 0; k < digits; k++) {
      int d = hexval(buf[p + k]);
      if (d < 0) { fprintf(stderr, "COSIM_ERROR %s line %ld: bad digit\n", path, r + 1); exit(2); }
      int bit = (digits - 1 - k) * 4;
      row[bit >> 5] |= (uint32_t)d << (bit & 31);
    }
    p += digits;
    if (p < buf.size() && buf[p] == '\r') p++;
    if (p < buf.size() && buf[p] == '\n') p++;
    else if (p < buf.size()) {
      fprintf(stderr, "COSIM_ERROR %s line %ld: %d digits expected\n", path, r + 1, digits);
      exit(2);
    }
  }
}

"#;

/// The simulation loop of the Verilator testbench (after the generated part).
const VERILATOR_TB_MAIN: &str = r#"
int main(int argc, char** argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s <cycles> <max_reported>\n", argv[0]); return 2; }
  long n = atol(argv[1]);
  g_max_reported = atol(argv[2]);
  std::vector<uint32_t> stim, expv, care;
  load_hex("stim.hex", IW, IWORDS, n, stim);
  load_hex("exp.hex", OW, OWORDS, n, expv);
  load_hex("care.hex", OW, OWORDS, n, care);
  std::unique_ptr<VerilatedContext> ctx{new VerilatedContext};
  std::unique_ptr<Vdut> top{new Vdut{ctx.get(), "dut"}};
  set_clock(top.get(), 0);
  top->eval();
  auto t0 = std::chrono::steady_clock::now();
  long cyc;
  for (cyc = 0; cyc < n; cyc++) {
    // Inputs change while the clock is low; outputs are compared before the rising edge.
    apply(top.get(), &stim[(size_t)cyc * IWORDS]);
    top->eval();
    check(top.get(), cyc, &expv[(size_t)cyc * OWORDS], &care[(size_t)cyc * OWORDS]);
    set_clock(top.get(), 1);
    top->eval();
    set_clock(top.get(), 0);
    top->eval();
  }
  auto t1 = std::chrono::steady_clock::now();
  top->final();
  printf("COSIM_TIME %.9f\n", std::chrono::duration<double>(t1 - t0).count());
  printf("COSIM_DONE %ld %ld\n", cyc, g_errors);
  return 0;
}
"#;

/// [`run_verilator_with`] reporting at most 50 mismatches.
pub fn run_verilator(
    verilog: &str,
    top_module: &str,
    trace: &Trace,
    workdir: &Path,
) -> Result<CosimReport> {
    run_verilator_with(verilog, top_module, trace, workdir, 50)
}

/// Co-simulate `trace` against `verilog` (top module `top_module`) in Verilator, with the
/// semantics of [`run_icarus_with`] (but 2-state: uninitialised state reads 0, as in the
/// native simulation). Files in `workdir`: `dut.v`, `tb.cpp`, `*.hex`, `obj_dir/` (the
/// model, binary `obj_dir/Vtb`). A model built earlier in the same `workdir` from the same
/// Verilog is reused, so several traces of one design compile it once. Errors if
/// Verilator or the C++ toolchain is missing, the Verilog does not verilate or compile, or
/// the simulation does not finish; mismatches are in the report, with the speed of the
/// simulation loop.
pub fn run_verilator_with(
    verilog: &str,
    top_module: &str,
    trace: &Trace,
    workdir: &Path,
    max_reported: usize,
) -> Result<CosimReport> {
    if trace.is_empty() {
        bail!("empty trace");
    }
    std::fs::create_dir_all(workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let path = |name: &str| workdir.join(name);
    let w = |name: &str, text: &str| -> Result<()> {
        std::fs::write(path(name), text).with_context(|| format!("writing {name}"))
    };
    let hint = "apt-get install verilator g++ make";
    let t_build = Instant::now();
    let mut log = String::new();

    // 1. Verilate, unless this Verilog was verilated with these arguments before.
    let args = verilator_args(top_module);
    let stamp_text = format!("{}\n", args.join(" "));
    let stamp = path("verilated.stamp");
    let header_path = path("obj_dir/Vdut.h");
    let reuse = std::fs::read_to_string(path("dut.v")).is_ok_and(|old| old == verilog)
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == stamp_text)
        && header_path.exists();
    if !reuse {
        let _ = std::fs::remove_file(&stamp);
        w("dut.v", verilog)?;
        let mut c = tool("verilator");
        c.current_dir(workdir).args(&args);
        let out = run_tool(c, "verilator", hint)?;
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            bail!("verilator failed to verilate the design:\n{log}");
        }
        w("verilated.stamp", &stamp_text)?;
    }

    // 2. Map the ports to the model's C++ members (see `verilator_member_name`).
    let header = std::fs::read_to_string(&header_path)
        .with_context(|| format!("reading {}", header_path.display()))?;
    let members = verilator_header_ports(&header);
    let member = |name: &str| -> Result<String> {
        let enc = verilator_member_name(name);
        [enc.clone(), format!("__SYM__{enc}")]
            .into_iter()
            .find(|m| members.contains(m))
            .ok_or_else(|| {
                anyhow!(
                    "port {name} (expected C++ member {enc}) not found in the Verilator header; \
                     members: {members:?}"
                )
            })
    };
    let clock_members = trace
        .clocks
        .iter()
        .map(|c| member(c))
        .collect::<Result<Vec<_>>>()?;
    let port_members = trace
        .ports
        .iter()
        .map(|p| member(&p.name))
        .collect::<Result<Vec<_>>>()?;
    if members.len() != clock_members.len() + port_members.len() {
        bail!(
            "the Verilator model has {} ports, the trace {} (+{} clocks)",
            members.len(),
            port_members.len(),
            clock_members.len()
        );
    }

    // 3. Compile (make is incremental: an unchanged testbench is not rewritten).
    let tb = trace.verilator_testbench(&clock_members, &port_members);
    if std::fs::read_to_string(path("tb.cpp")).ok().as_deref() != Some(tb.as_str()) {
        w("tb.cpp", &tb)?;
    }
    // The model is compiled with Verilator's default `-Os`: as fast as `-O2` here
    // (measured on the 64-lane decoder) and no slower to build.
    let mut c = tool("make");
    c.current_dir(path("obj_dir"))
        .args(["-f", "Vdut.mk", "Vtb"]);
    let out = run_tool(c, "make", hint)?;
    if !out.status.success() {
        bail!(
            "compiling the Verilator model failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let build_time = t_build.elapsed();

    // 4. Simulate.
    w("stim.hex", &trace.hex_lines(PortDir::In, false))?;
    w("exp.hex", &trace.hex_lines(PortDir::Out, false))?;
    w("care.hex", &trace.hex_lines(PortDir::Out, true))?;
    let mut c = Command::new(path("obj_dir/Vtb"));
    c.current_dir(workdir)
        .arg(trace.len().to_string())
        .arg(max_reported.to_string());
    let out = run_tool(c, "the compiled Verilator model obj_dir/Vtb", hint)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&stdout);
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("the Verilator simulation failed ({}):\n{log}", out.status);
    }
    let mut report = parse_sim_output(trace, &stdout, log)?;
    report.build_time = Some(build_time);
    Ok(report)
}

/// Connect a freshly constructed block and emit its Verilog (top module `top`).
///
/// Take the block by value so a simulated instance (whose RAM contents would be emitted as
/// `initial` values) is not passed by accident.
pub fn emit_verilog<B: Block>(mut uut: B) -> String {
    uut.connect_all();
    generate_verilog(&uut)
}

/// The project's Verilator waiver file, `sim/verilator_waivers.vlt` at the repository root.
pub fn default_waiver_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim/verilator_waivers.vlt")
}

/// Result of a Verilator lint run.
#[derive(Debug, Clone)]
pub struct LintReport {
    /// Verilator exited successfully and printed no `%Warning`/`%Error`.
    pub clean: bool,
    /// Everything Verilator printed.
    pub output: String,
}

/// `verilator --lint-only -Wall` on `verilog` (top module `top_module`) with the waiver
/// file `waivers` (if any), in `workdir`.
pub fn verilator_lint(
    verilog: &str,
    top_module: &str,
    waivers: Option<&Path>,
    workdir: &Path,
) -> Result<LintReport> {
    std::fs::create_dir_all(workdir)?;
    // Named after the top module, so Verilator's DECLFILENAME check is satisfied.
    let file_name = format!("{top_module}.v");
    std::fs::write(workdir.join(&file_name), verilog)?;
    let mut c = tool("verilator");
    c.current_dir(workdir)
        .args(["--lint-only", "-Wall", "--top-module", top_module]);
    if let Some(w) = waivers {
        if !w.exists() {
            bail!("waiver file {} does not exist", w.display());
        }
        c.arg(w);
    }
    c.arg(&file_name);
    let out = run_tool(c, "verilator", "apt-get install verilator")?;
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    let clean = out.status.success() && !output.contains("%Warning") && !output.contains("%Error");
    Ok(LintReport { clean, output })
}

/// Test helper: run `verilog` (top module `top`) in Icarus against `trace` in a fresh
/// temporary directory and panic on any mismatch (or if Icarus cannot run).
pub fn assert_icarus_clean(verilog: &str, trace: &Trace) {
    let dir = tempfile::tempdir().expect("temporary directory");
    run_icarus(verilog, "top", trace, dir.path())
        .expect("icarus")
        .assert_clean();
}

/// Test helper: take the trace `d` recorded (a driver made `with_trace`) and check that
/// `verilog` (top module `top`, emitted from a fresh instance) reproduces it in Icarus.
pub fn assert_driver_cosim<B: Block>(verilog: String, d: &mut crate::sim::Driver<B>) {
    let trace = d
        .take_trace()
        .expect("the driver records no trace (use with_trace)");
    assert_icarus_clean(&verilog, &trace);
}

/// Test helper: `verilator --lint-only -Wall` on `verilog` (top module `top`) with the
/// project's waiver file; panic with the report unless it is clean. `name` labels the
/// message.
pub fn assert_lint_clean(name: &str, verilog: &str) {
    assert_lint_clean_with(name, verilog, &default_waiver_file());
}

/// [`assert_lint_clean`] with the waiver file `waivers` instead of the project's.
pub fn assert_lint_clean_with(name: &str, verilog: &str, waivers: &Path) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let report = verilator_lint(verilog, "top", Some(waivers), dir.path())
        .unwrap_or_else(|e| panic!("{name}: lint could not run: {e:#}"));
    assert!(
        report.clean,
        "{name}: verilator -Wall reported:\n{}",
        report.output
    );
}
