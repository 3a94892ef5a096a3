//! Co-simulation of a block's native rust-hdl simulation against its emitted Verilog.
//!
//! rust-hdl's Rust simulation and the Verilog it emits can silently disagree (see
//! `docs/rust-hdl-notes.md`), so every block is checked cycle by cycle:
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
//! [`verilator_lint`] runs `verilator --lint-only -Wall` on emitted Verilog with the waiver
//! file `sim/verilator_waivers.vlt` ([`default_waiver_file`]).

use anyhow::{anyhow, bail, Context, Result};
use rust_hdl::prelude::*;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Direction of a top-level port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortDir {
    In,
    Out,
}

/// A top-level port of the block, named as in the emitted Verilog (`data$3` for element 3
/// of an array field `data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub width: usize,
    pub signed: bool,
    pub dir: PortDir,
}

/// Per-cycle values of a block's top-level ports, sampled before each rising edge.
///
/// Values are raw bit patterns (two's complement for signed ports), at most 128 bits wide.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Clock inputs (driven by the testbench, not recorded).
    pub clocks: Vec<String>,
    /// Recorded ports, inputs and outputs, in the block's field order.
    pub ports: Vec<Port>,
    /// `rows[cycle][port]`: the raw value.
    pub rows: Vec<Vec<u128>>,
    /// `(cycle, port)` pairs whose output is not compared.
    pub dont_care: BTreeSet<(usize, usize)>,
}

/// Visits the top scope of a block, collecting its ports and (optionally) their values.
struct PortProbe {
    depth: usize,
    namespace: Vec<String>,
    ports: Vec<Port>,
    clocks: Vec<String>,
    values: Vec<u128>,
    error: Option<String>,
}

impl PortProbe {
    fn new() -> Self {
        PortProbe {
            depth: 0,
            namespace: vec![],
            ports: vec![],
            clocks: vec![],
            values: vec![],
            error: None,
        }
    }
}

fn vcd_to_u128(v: &VCDValue, width: usize) -> std::result::Result<u128, String> {
    let bits: Vec<String> = match v {
        VCDValue::Single(b) => vec![b.to_string()],
        VCDValue::Vector(bs) => bs.iter().map(|b| b.to_string()).collect(),
        other => return Err(format!("unsupported port value {other:?}")),
    };
    if bits.len() != width {
        return Err(format!("value has {} bits, port {}", bits.len(), width));
    }
    let mut x = 0u128;
    for b in bits {
        x <<= 1;
        match b.as_str() {
            "0" => {}
            "1" => x |= 1,
            other => return Err(format!("bit value {other}")),
        }
    }
    Ok(x)
}

impl Probe for PortProbe {
    fn visit_start_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth += 1;
    }
    fn visit_start_namespace(&mut self, name: &str, _node: &dyn Block) {
        if self.depth == 1 {
            self.namespace.push(name.to_owned());
        }
    }
    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        if self.depth != 1 {
            return;
        }
        let dir = match signal.kind() {
            AtomKind::InputParameter => PortDir::In,
            AtomKind::OutputParameter | AtomKind::OutputPassthrough => PortDir::Out,
            AtomKind::InOutParameter => {
                self.error
                    .get_or_insert(format!("inout port {name} is not supported by cosim"));
                return;
            }
            _ => return,
        };
        let mut full = self.namespace.join("$");
        if !full.is_empty() {
            full.push('$');
        }
        full.push_str(name);
        let desc = signal.descriptor();
        if dir == PortDir::In && desc.name == "clock" {
            self.clocks.push(full);
            return;
        }
        let width = signal.bits();
        if width > 128 {
            self.error.get_or_insert(format!(
                "port {full} is {width} bits wide (cosim limit 128)"
            ));
            return;
        }
        match vcd_to_u128(&signal.vcd(), width) {
            Ok(v) => self.values.push(v),
            Err(e) => {
                self.error.get_or_insert(format!("port {full}: {e}"));
                self.values.push(0);
            }
        }
        self.ports.push(Port {
            name: full,
            width,
            signed: matches!(desc.kind, TypeKind::Signed(_)),
            dir,
        });
    }
    fn visit_end_namespace(&mut self, _name: &str, _node: &dyn Block) {
        if self.depth == 1 {
            self.namespace.pop();
        }
    }
    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth -= 1;
    }
}

impl Trace {
    /// An empty trace with the ports of `uut` (panics on ports cosim cannot handle).
    pub fn for_block<B: Block>(uut: &B) -> Trace {
        let mut p = PortProbe::new();
        uut.accept("top", &mut p);
        if let Some(e) = p.error {
            panic!("Trace::for_block: {e}");
        }
        Trace {
            clocks: p.clocks,
            ports: p.ports,
            rows: vec![],
            dont_care: BTreeSet::new(),
        }
    }

    /// Append the current port values of `uut` as the next cycle.
    pub fn record<B: Block>(&mut self, uut: &B) {
        let mut p = PortProbe::new();
        uut.accept("top", &mut p);
        if let Some(e) = p.error {
            panic!("Trace::record: {e}");
        }
        assert_eq!(
            p.ports.len(),
            self.ports.len(),
            "ports changed while tracing"
        );
        self.rows.push(p.values);
    }

    /// Number of recorded cycles.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No cycles recorded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Index of the port called `name` (panics if absent).
    pub fn port_index(&self, name: &str) -> usize {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no port {name} in trace"))
    }

    /// Raw value of `name` in `cycle`.
    pub fn raw(&self, cycle: usize, name: &str) -> u128 {
        self.rows[cycle][self.port_index(name)]
    }

    /// Value of `name` in `cycle`, sign-extended if the port is signed.
    pub fn value(&self, cycle: usize, name: &str) -> i128 {
        let i = self.port_index(name);
        let p = &self.ports[i];
        let raw = self.rows[cycle][i];
        if p.signed {
            crate::sim::sign_extend(raw, p.width)
        } else {
            raw as i128
        }
    }

    /// Do not compare output `name` in `cycle`.
    pub fn set_dont_care(&mut self, cycle: usize, name: &str) {
        let i = self.port_index(name);
        assert_eq!(self.ports[i].dir, PortDir::Out, "{name} is not an output");
        self.dont_care.insert((cycle, i));
    }

    fn width_of(&self, dir: PortDir) -> usize {
        self.ports
            .iter()
            .filter(|p| p.dir == dir)
            .map(|p| p.width)
            .sum()
    }

    /// Hex lines (one per cycle) of the concatenation `{port_a, port_b, ...}` of the ports
    /// with direction `dir` (first port in the most significant bits); with `care`, the
    /// compare mask instead of the values.
    fn hex_lines(&self, dir: PortDir, care: bool) -> String {
        let total = self.width_of(dir);
        let digits = total.div_ceil(4).max(1);
        let mut out = String::with_capacity(self.rows.len() * (digits + 1));
        for (c, row) in self.rows.iter().enumerate() {
            // MSB-first bit vector.
            let mut bits: Vec<bool> = Vec::with_capacity(digits * 4);
            bits.resize(digits * 4 - total, false);
            for (i, p) in self.ports.iter().enumerate() {
                if p.dir != dir {
                    continue;
                }
                let v = if care {
                    if self.dont_care.contains(&(c, i)) {
                        0
                    } else {
                        u128::MAX
                    }
                } else {
                    row[i]
                };
                for b in (0..p.width).rev() {
                    bits.push((v >> b) & 1 == 1);
                }
            }
            for nib in bits.chunks(4) {
                let d = nib.iter().fold(0u32, |a, &b| (a << 1) | b as u32);
                out.push(std::char::from_digit(d, 16).unwrap());
            }
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
    /// The first mismatches (at most `max_reported` of [`run_icarus_with`]).
    pub mismatches: Vec<Mismatch>,
    /// Compiler warnings and simulator output.
    pub log: String,
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

    let mut mismatches = vec![];
    let mut done: Option<(usize, usize)> = None;
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
    Ok(CosimReport {
        cycles,
        mismatch_count,
        mismatches,
        log,
    })
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
