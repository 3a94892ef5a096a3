//! `Ulx3sBoard<L>`: the board top for the Radiona ULX3S-85F (LFE5U-85F-6BG381C) with the
//! on-chip decoder (weights in the compiled-in ROM).
//!
//! ```text
//!  clk_25mhz ──> Ecp5Pll ──> core clock ──┬── ResetSync <── btn_fire1 | !locked
//!                                         ├── UartRx <── ftdi_txd (FTDI's TX, board's RX)
//!                                         ├── Controller <──> Decoder<L> (ROM weights)
//!                                         └── UartTx ──> ftdi_rxd (board's TX, FTDI's RX)
//!  led[0] ready  led[1] running  led[2] error  led[3] in reset (loading: PLL not locked
//!  or the button held)  led[7:4] off;  wifi_gpio0 high
//! ```
//!
//! # Pins (`constraints/ulx3s_85f.lpf`, from [`Ulx3sBoard::lpf`])
//!
//! | port | site | what |
//! |------|------|------|
//! | `clk_25mhz` | G2 | 25 MHz oscillator, `FREQUENCY 25 MHz` |
//! | `ftdi_txd` | M1 | serial data from the FTDI chip (the board receives) |
//! | `ftdi_rxd` | L4 | serial data to the FTDI chip (the board transmits) |
//! | `btn_fire1` | R1 | button FIRE1 (the maker's `btn[1]`, high when pressed, pull-down): reset |
//! | `led[0..7]` | B2 C2 C1 D2 D1 E2 E1 H3 | LEDs |
//! | `wifi_gpio0` | L2 | held high, as the maker's examples do, so the ESP32 leaves the FPGA alone |
//!
//! All LVCMOS33. The sites are checked against the maker's pin file by
//! `crates/llamahdl-hw/tests/board.rs`.
//!
//! # Timing
//!
//! Everything but the PLL runs on the PLL's output (`BoardParams::core_mhz`, default
//! 100 MHz). The UART's bit time is `BoardParams::clocks_per_bit` core cycles. The
//! decoder's interface and timing are those of [`crate::decoder::Decoder`]; the
//! controller's those of [`super::controller`].

use super::controller::Controller;
use super::pll::{Ecp5Pll, PllConfig};
use super::reset::ResetSync;
use super::uart_rx::UartRx;
use super::uart_tx::UartTx;
use crate::decoder::Decoder;
use crate::leaf::XP;
use llamahdl_golden::QuantModel;
use rust_hdl::core::constraint::{PeriodicTiming, PinConstraint, Timing};
use rust_hdl::prelude::*;

/// The oscillator of the ULX3S (MHz).
pub const OSC_MHZ: f64 = 25.0;
/// Default core clock (MHz) and serial rate.
pub const DEFAULT_CORE_MHZ: f64 = 100.0;
pub const DEFAULT_BAUD: u32 = 115_200;

/// The board top's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoardParams {
    /// Core clock made by the PLL (MHz).
    pub core_mhz: f64,
    /// UART bit time in core cycles.
    pub clocks_per_bit: u32,
}

impl BoardParams {
    /// `core_mhz` with the bit time for `baud` (rounded; refused if the rate would be off
    /// by more than 1 %, or the PLL cannot make `core_mhz`).
    pub fn new(core_mhz: f64, baud: u32) -> Result<BoardParams, String> {
        PllConfig::for_output(OSC_MHZ, core_mhz)?;
        if baud == 0 {
            return Err("baud rate 0".into());
        }
        let exact = core_mhz * 1e6 / baud as f64;
        let cpb = exact.round();
        if !(4.0..=65536.0).contains(&cpb) {
            return Err(format!(
                "{baud} baud at {core_mhz} MHz is {exact:.1} clocks per bit; the UART needs 4..65536"
            ));
        }
        let err = (cpb - exact).abs() / exact;
        if err > 0.01 {
            return Err(format!(
                "{baud} baud at {core_mhz} MHz: {cpb} clocks per bit is {:.2} % off (more than 1 %)",
                err * 100.0
            ));
        }
        Ok(BoardParams {
            core_mhz,
            clocks_per_bit: cpb as u32,
        })
    }
}

impl Default for BoardParams {
    fn default() -> Self {
        BoardParams::new(DEFAULT_CORE_MHZ, DEFAULT_BAUD).unwrap()
    }
}

/// The ULX3S-85F board top. See the [module docs](self).
#[derive(LogicBlock)]
pub struct Ulx3sBoard<const L: usize> {
    pub clk_25mhz: Signal<In, Clock>,
    pub btn_fire1: Signal<In, Bit>,
    pub ftdi_txd: Signal<In, Bit>,
    pub ftdi_rxd: Signal<Out, Bit>,
    pub led: Signal<Out, Bits<8>>,
    pub wifi_gpio0: Signal<Out, Bit>,
    leds: Signal<Local, Bits<8>>,
    led_ready: Constant<Bits<8>>,
    led_running: Constant<Bits<8>>,
    led_error: Constant<Bits<8>>,
    led_loading: Constant<Bits<8>>,
    zero8: Constant<Bits<8>>,
    zero16: Constant<Bits<16>>,
    pll: Ecp5Pll,
    reset: ResetSync,
    rx: UartRx,
    tx: UartTx,
    ctl: Controller,
    pub decoder: Decoder<L>,
}

/// Pin of a one-bit port: site, I/O standard and any extra IOBUF attributes.
fn pin<D: Direction, T: Synth>(s: &mut Signal<D, T>, index: usize, site: &str) {
    s.add_location(index, site);
    s.add_signal_type(index, SignalType::LowVoltageCMOS_3v3);
}

/// The LED sites, led[0] first (the maker's pin file).
pub const LED_SITES: [&str; 8] = ["B2", "C2", "C1", "D2", "D1", "E2", "E1", "H3"];

impl<const L: usize> Ulx3sBoard<L> {
    /// The board top for `qm` with `L` lanes and an on-chip context of `ctx` positions.
    pub fn new(qm: &QuantModel, ctx: usize, p: BoardParams) -> Result<Self, String> {
        let pll = PllConfig::for_output(OSC_MHZ, p.core_mhz)?;
        let c = qm.config;
        let k = |v: u64| Constant::new(v.into());
        let mut b = Self {
            clk_25mhz: Default::default(),
            btn_fire1: Default::default(),
            ftdi_txd: Default::default(),
            ftdi_rxd: Default::default(),
            led: Default::default(),
            wifi_gpio0: Default::default(),
            leds: Default::default(),
            led_ready: k(1),
            led_running: k(2),
            led_error: k(4),
            led_loading: k(8),
            zero8: k(0),
            zero16: Constant::new(0u64.into()),
            pll: Ecp5Pll::new(pll),
            reset: Default::default(),
            rx: UartRx::new(p.clocks_per_bit),
            tx: UartTx::new(p.clocks_per_bit),
            ctl: Controller::new(ctx, c.vocab_size),
            decoder: Decoder::with_context(qm, ctx),
        };
        pin(&mut b.clk_25mhz, 0, "G2");
        b.clk_25mhz.add_constraint(PinConstraint {
            index: 0,
            constraint: Constraint::Timing(Timing::Periodic(PeriodicTiming {
                net: "clk_25mhz".into(),
                period_nanoseconds: 1000.0 / OSC_MHZ,
                duty_cycle: 50.0,
            })),
        });
        pin(&mut b.ftdi_txd, 0, "M1");
        pin(&mut b.ftdi_rxd, 0, "L4");
        pin(&mut b.btn_fire1, 0, "R1");
        b.btn_fire1.add_constraint(PinConstraint {
            index: 0,
            constraint: Constraint::Custom("IOBUF PORT \"btn_fire1\" PULLMODE=DOWN".into()),
        });
        b.ftdi_txd.add_constraint(PinConstraint {
            index: 0,
            constraint: Constraint::Custom("IOBUF PORT \"ftdi_txd\" PULLMODE=UP".into()),
        });
        for (i, site) in LED_SITES.iter().enumerate() {
            pin(&mut b.led, i, site);
        }
        pin(&mut b.wifi_gpio0, 0, "L2");
        Ok(b)
    }

    /// The PLL's dividers.
    pub fn pll_config(&self) -> PllConfig {
        self.pll.config()
    }

    /// The pin constraints as an LPF (rust-hdl-fpga-support's `generate_lpf`), with a
    /// header naming the maker's pin file the sites were checked against.
    pub fn lpf(&self) -> String {
        let body = rust_hdl_fpga_support::toolchains::ecp5::generate_lpf(self);
        format!("{LPF_HEADER}{body}")
    }
}

/// Header of the generated LPF.
pub const LPF_HEADER: &str = "\
# ULX3S-85F (LFE5U-85F-6BG381C) pins of llamahdl's board top (llamahdl_board_ulx3s).
# Generated by `llamahdl verilog --board ulx3s-85f` through rust-hdl-fpga-support's
# generate_lpf: do not edit. Sites checked (crates/llamahdl-hw/tests/board.rs) against the
# board maker's pin file doc/constraints/ulx3s_v20.lpf (\"ULX3S v2.x.x and v3.0.x\") of
# https://github.com/emard/ulx3s, commit ca5fa288bc64c4fd83302ade4adae811e53bd451 (the
# file's last change, 2021-06-05; repository head 6a92cec6b177191c5b0f80e260013a1f8ec147dd).
";

impl<const L: usize> Logic for Ulx3sBoard<L> {
    #[hdl_gen]
    fn update(&mut self) {
        self.pll.clk_in.next = self.clk_25mhz.val();
        self.reset.clock.next = self.pll.clk_out.val();
        self.rx.clock.next = self.pll.clk_out.val();
        self.tx.clock.next = self.pll.clk_out.val();
        self.ctl.clock.next = self.pll.clk_out.val();
        self.decoder.clock.next = self.pll.clk_out.val();
        self.reset.rst_in.next = self.btn_fire1.val() | (!self.pll.locked.val());

        self.rx.rst.next = self.reset.rst.val();
        self.rx.rxd.next = self.ftdi_txd.val();
        self.tx.rst.next = self.reset.rst.val();
        self.tx.data.next = self.ctl.tx_data.val();
        self.tx.start.next = self.ctl.tx_start.val();
        self.ftdi_rxd.next = self.tx.txd.val();

        self.ctl.rst.next = self.reset.rst.val();
        self.ctl.rx_data.next = self.rx.data.val();
        self.ctl.rx_valid.next = self.rx.valid.val();
        self.ctl.rx_ferr.next = self.rx.frame_err.val();
        self.ctl.tx_ready.next = self.tx.ready.val();
        self.ctl.dec_done.next = self.decoder.done.val();
        self.ctl.dec_busy.next = self.decoder.busy.val();
        self.ctl.dec_next.next = self.decoder.next_token.val();
        self.ctl.dec_pos_error.next = self.decoder.pos_error.val();

        // The decoder on its compiled-in ROM: the streamed-weight port is tied off.
        self.decoder.start.next = self.ctl.dec_start.val();
        self.decoder.token.next = self.ctl.dec_token.val();
        self.decoder.pos.next = self.ctl.dec_pos.val();
        self.decoder.use_ram.next = false;
        self.decoder.w_valid.next = false;
        for i in 0..L {
            self.decoder.w_data[i].next = signed_cast(self.zero8.val());
        }
        self.decoder.w_scale_mant.next = self.zero8.val();
        self.decoder.w_scale_exp.next = signed_cast(self.zero8.val());
        self.decoder.st_valid.next = false;
        for i in 0..L {
            self.decoder.st_data[i].next = signed_cast(self.zero8.val());
        }
        self.decoder.st_mant.next = self.zero8.val();
        self.decoder.st_exp.next = signed_cast(self.zero8.val());
        self.decoder.g_we.next = false;
        self.decoder.g_waddr.next = self.zero16.val();
        for j in 0..XP {
            self.decoder.g_data[j].next = self.zero16.val();
        }
        self.decoder.g_done.next = false;
        self.decoder.g_exp.next = signed_cast(self.zero8.val());

        self.leds.next = self.zero8.val();
        if self.ctl.led_ready.val() {
            self.leds.next = self.leds.val() | self.led_ready.val();
        }
        if self.ctl.led_running.val() {
            self.leds.next = self.leds.val() | self.led_running.val();
        }
        if self.ctl.led_error.val() {
            self.leds.next = self.leds.val() | self.led_error.val();
        }
        if self.reset.rst.val() {
            self.leds.next = self.leds.val() | self.led_loading.val();
        }
        self.led.next = self.leds.val();
        self.wifi_gpio0.next = true;
    }
}
