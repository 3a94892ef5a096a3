//! `Ecp5Pll`: the ECP5's `EHXPLLL` phase-locked loop as a black-box primitive, making the
//! core clock from the board's oscillator, and [`PllConfig`], the divider search.
//!
//! # Interface
//!
//! | port      | dir | width | meaning |
//! |-----------|-----|-------|---------|
//! | `clk_in`  | in  | clock | reference clock (the ULX3S's 25 MHz oscillator) |
//! | `clk_out` | out | clock | `CLKOP`, at `f_in * CLKFB_DIV / CLKI_DIV` |
//! | `locked`  | out | 1     | the PLL's `LOCK` (asynchronous to `clk_out`: synchronise it) |
//!
//! # Verilog and simulation
//!
//! `hdl()` is a rust-hdl `Wrapper`: an `EHXPLLL` instance with the dividers of
//! [`PllConfig`], feedback from `CLKOP` (`FEEDBK_PATH = "CLKOP"`), every dynamic-phase,
//! standby and reset input tied off. yosys's `synth_ecp5` knows `EHXPLLL` as a primitive
//! cell. For simulators and lint the emitted file also carries, inside
//! `` `ifndef SYNTHESIS `` (yosys defines `SYNTHESIS`, Verilator and Icarus do not), a
//! *simulation model* of `EHXPLLL` that passes `CLKI` straight to `CLKOP` and holds `LOCK`
//! high; the native model ([`Logic::update`]) does the same. So a simulation runs the core
//! at the oscillator's rate, cycle for cycle equal to the real core clock's sequence of
//! edges; only the wall-clock period differs (the design has no timers that care, apart from
//! the UART's bit time, which is in core cycles).
//!
//! # Dividers ([`PllConfig::for_output`])
//!
//! With feedback from `CLKOP`: `f_out = f_in * CLKFB_DIV / CLKI_DIV` and
//! `f_vco = f_out * CLKOP_DIV`. The limits used (Lattice's ECP5 sysCLOCK PLL figures, as
//! Project Trellis's `ecppll` uses them): each divider 1..=128, the phase detector input
//! `f_in / CLKI_DIV` 3.125..=400 MHz, `f_vco` 400..=800 MHz, `f_out` 3.125..=400 MHz. Among
//! the exact solutions the one with `f_vco` nearest 600 MHz (mid-range) and then the
//! highest phase-detector rate is chosen. A frequency no divider set makes exactly is an
//! error that names the nearest ones that can be made. `CLKOP_CPHASE = CLKOP_DIV - 1`,
//! `CLKOP_FPHASE = 0` (no phase shift, as Lattice's tools set it).

use rust_hdl::prelude::*;

/// Lowest and highest VCO frequency used (MHz).
pub const VCO_MIN_MHZ: f64 = 400.0;
pub const VCO_MAX_MHZ: f64 = 800.0;
/// Phase-detector input range (MHz).
pub const PFD_MIN_MHZ: f64 = 3.125;
pub const PFD_MAX_MHZ: f64 = 400.0;
/// Output range (MHz).
pub const OUT_MIN_MHZ: f64 = 3.125;
pub const OUT_MAX_MHZ: f64 = 400.0;
/// Largest value of each divider.
pub const DIV_MAX: u32 = 128;

/// `EHXPLLL` dividers for one output frequency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PllConfig {
    pub in_mhz: f64,
    pub clki_div: u32,
    pub clkfb_div: u32,
    pub clkop_div: u32,
}

impl PllConfig {
    /// Output frequency (MHz).
    pub fn out_mhz(&self) -> f64 {
        self.in_mhz * self.clkfb_div as f64 / self.clki_div as f64
    }
    /// VCO frequency (MHz).
    pub fn vco_mhz(&self) -> f64 {
        self.out_mhz() * self.clkop_div as f64
    }
    /// Phase-detector input (MHz).
    pub fn pfd_mhz(&self) -> f64 {
        self.in_mhz / self.clki_div as f64
    }

    /// Every divider set within the limits of the [module docs](self), any output.
    fn candidates(in_mhz: f64) -> impl Iterator<Item = PllConfig> {
        (1..=DIV_MAX).flat_map(move |i| {
            (1..=DIV_MAX).flat_map(move |fb| {
                (1..=DIV_MAX).filter_map(move |op| {
                    let c = PllConfig {
                        in_mhz,
                        clki_div: i,
                        clkfb_div: fb,
                        clkop_div: op,
                    };
                    let ok = (PFD_MIN_MHZ..=PFD_MAX_MHZ).contains(&c.pfd_mhz())
                        && (VCO_MIN_MHZ..=VCO_MAX_MHZ).contains(&c.vco_mhz())
                        && (OUT_MIN_MHZ..=OUT_MAX_MHZ).contains(&c.out_mhz());
                    ok.then_some(c)
                })
            })
        })
    }

    /// The dividers making exactly `out_mhz` from `in_mhz` (see the [module docs](self)),
    /// or an error naming the nearest frequencies that can be made.
    pub fn for_output(in_mhz: f64, out_mhz: f64) -> Result<PllConfig, String> {
        if !(OUT_MIN_MHZ..=OUT_MAX_MHZ).contains(&out_mhz) || !out_mhz.is_finite() {
            return Err(format!(
                "PLL output {out_mhz} MHz is outside the ECP5 PLL's {OUT_MIN_MHZ}..{OUT_MAX_MHZ} MHz"
            ));
        }
        let exact = |c: &PllConfig| (c.out_mhz() - out_mhz).abs() <= 1e-9 * out_mhz;
        let best = Self::candidates(in_mhz).filter(exact).min_by(|a, b| {
            let ka = ((a.vco_mhz() - 600.0).abs(), -a.pfd_mhz());
            let kb = ((b.vco_mhz() - 600.0).abs(), -b.pfd_mhz());
            ka.partial_cmp(&kb).unwrap()
        });
        if let Some(c) = best {
            return Ok(c);
        }
        let below = Self::candidates(in_mhz)
            .map(|c| c.out_mhz())
            .filter(|&f| f < out_mhz)
            .fold(f64::NAN, f64::max);
        let above = Self::candidates(in_mhz)
            .map(|c| c.out_mhz())
            .filter(|&f| f > out_mhz)
            .fold(f64::NAN, f64::min);
        Err(format!(
            "the ECP5 PLL cannot make exactly {out_mhz} MHz from {in_mhz} MHz \
             (VCO {VCO_MIN_MHZ}..{VCO_MAX_MHZ} MHz, phase detector >= {PFD_MIN_MHZ} MHz, \
             dividers 1..{DIV_MAX}); nearest: {below:.4} MHz and {above:.4} MHz"
        ))
    }
}

/// The `EHXPLLL` wrapper. See the [module docs](self).
#[derive(LogicBlock)]
pub struct Ecp5Pll {
    pub clk_in: Signal<In, Clock>,
    pub clk_out: Signal<Out, Clock>,
    pub locked: Signal<Out, Bit>,
    _cfg: PllConfig,
}

impl Ecp5Pll {
    pub fn new(cfg: PllConfig) -> Self {
        Self {
            clk_in: Default::default(),
            clk_out: Default::default(),
            locked: Default::default(),
            _cfg: cfg,
        }
    }
    /// The dividers this instance was built with.
    pub fn config(&self) -> PllConfig {
        self._cfg
    }
}

/// Port list of the `EHXPLLL` simulation model (inputs, then outputs).
const PLL_INPUTS: [&str; 14] = [
    "CLKI",
    "CLKFB",
    "PHASESEL1",
    "PHASESEL0",
    "PHASEDIR",
    "PHASESTEP",
    "PHASELOADREG",
    "STDBY",
    "PLLWAKESYNC",
    "RST",
    "ENCLKOP",
    "ENCLKOS",
    "ENCLKOS2",
    "ENCLKOS3",
];
const PLL_OUTPUTS: [&str; 8] = [
    "CLKOP", "CLKOS", "CLKOS2", "CLKOS3", "LOCK", "INTLOCK", "REFCLK", "CLKINTFB",
];

/// The simulation model of `EHXPLLL` (not read by synthesis).
fn sim_model() -> String {
    let mut s = String::from(
        "`ifndef SYNTHESIS\n\
         // Simulation model of the ECP5 EHXPLLL (llamahdl): CLKOP follows CLKI, LOCK is high.\n\
         // Synthesis (SYNTHESIS defined) uses the real primitive instead.\n\
         /* verilator lint_off UNUSEDSIGNAL */\n\
         /* verilator lint_off UNUSEDPARAM */\n",
    );
    let ports: Vec<&str> = PLL_INPUTS.iter().chain(&PLL_OUTPUTS).copied().collect();
    s += &format!("module EHXPLLL({});\n", ports.join(", "));
    for p in [
        "CLKI_DIV",
        "CLKFB_DIV",
        "CLKOP_DIV",
        "CLKOP_CPHASE",
        "CLKOP_FPHASE",
    ] {
        s += &format!("  parameter integer {p} = 1;\n");
    }
    for p in [
        "FEEDBK_PATH",
        "CLKOP_ENABLE",
        "PLLRST_ENA",
        "INTFB_WAKE",
        "STDBY_ENABLE",
        "DPHASE_SOURCE",
        "OUTDIVIDER_MUXA",
    ] {
        s += &format!("  parameter {p} = \"\";\n");
    }
    for p in PLL_INPUTS {
        s += &format!("  input {p};\n");
    }
    for p in PLL_OUTPUTS {
        s += &format!("  output {p};\n");
    }
    s += "  assign CLKOP = CLKI;\n  assign LOCK = 1'b1;\n";
    for p in ["CLKOS", "CLKOS2", "CLKOS3", "INTLOCK", "REFCLK", "CLKINTFB"] {
        s += &format!("  assign {p} = 1'b0;\n");
    }
    s += "endmodule\n/* verilator lint_on UNUSEDPARAM */\n/* verilator lint_on UNUSEDSIGNAL */\n`endif\n";
    s
}

impl Logic for Ecp5Pll {
    fn update(&mut self) {
        self.clk_out.next = self.clk_in.val();
        self.locked.next = true;
    }
    fn connect(&mut self) {
        self.clk_out.connect();
        self.locked.connect();
    }
    fn hdl(&self) -> Verilog {
        let c = self._cfg;
        let code = format!(
            r#"
wire clkop;
// The secondary outputs (CLKOS*, INTLOCK, REFCLK, CLKINTFB) are not used.
/* verilator lint_off PINMISSING */
(* FREQUENCY_PIN_CLKI="{fin}" *) (* FREQUENCY_PIN_CLKOP="{fout}" *)
EHXPLLL #(
    .PLLRST_ENA("DISABLED"), .INTFB_WAKE("DISABLED"), .STDBY_ENABLE("DISABLED"),
    .DPHASE_SOURCE("DISABLED"), .OUTDIVIDER_MUXA("DIVA"), .CLKOP_ENABLE("ENABLED"),
    .FEEDBK_PATH("CLKOP"), .CLKI_DIV({i}), .CLKFB_DIV({fb}), .CLKOP_DIV({op}),
    .CLKOP_CPHASE({cph}), .CLKOP_FPHASE(0)
) pll_i (
    .CLKI(clk_in), .CLKFB(clkop), .CLKOP(clkop), .LOCK(locked),
    .RST(1'b0), .STDBY(1'b0), .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b1),
    .PHASESTEP(1'b1), .PHASELOADREG(1'b1), .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0),
    .ENCLKOS(1'b0), .ENCLKOS2(1'b0), .ENCLKOS3(1'b0)
);
/* verilator lint_on PINMISSING */
assign clk_out = clkop;
"#,
            fin = c.in_mhz,
            fout = c.out_mhz(),
            i = c.clki_div,
            fb = c.clkfb_div,
            op = c.clkop_div,
            cph = c.clkop_div - 1,
        );
        Verilog::Wrapper(Wrapper {
            code,
            cores: sim_model(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dividers_for_common_frequencies() {
        for f in [100.0, 50.0, 75.0, 125.0, 62.5, 25.0] {
            let c = PllConfig::for_output(25.0, f).unwrap();
            assert!((c.out_mhz() - f).abs() < 1e-9, "{f}: {c:?}");
            assert!((VCO_MIN_MHZ..=VCO_MAX_MHZ).contains(&c.vco_mhz()), "{c:?}");
            assert!(c.pfd_mhz() >= PFD_MIN_MHZ, "{c:?}");
        }
        // 100 MHz: 25 * 4 / 1, VCO 600 MHz exactly.
        let c = PllConfig::for_output(25.0, 100.0).unwrap();
        assert_eq!((c.clki_div, c.clkfb_div, c.clkop_div), (1, 4, 6));
    }

    #[test]
    fn impossible_frequencies_are_refused() {
        let e = PllConfig::for_output(25.0, 1000.0).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        // 25 * fb / i = 100.3 needs i >= 250 (phase detector below 3.125 MHz).
        let e = PllConfig::for_output(25.0, 100.3).unwrap_err();
        assert!(e.contains("cannot make exactly 100.3"), "{e}");
        assert!(e.contains("nearest"), "{e}");
    }
}
