//! The ULX3S board top simulated natively with a host on the other end of its serial line
//! ([`BoardSim`]): the host side is a line-level UART model (bits on `ftdi_txd`, sampled
//! from `ftdi_rxd`, each `clocks_per_bit` core cycles), so the board's own receiver,
//! controller, decoder and transmitter all run as they would on the board. The PLL's
//! native model passes the oscillator through: one oscillator cycle here is one core cycle.

use crate::board::protocol::{parse_frames, Frame};
use crate::board::ulx3s::{BoardParams, Ulx3sBoard};
use crate::sim::Driver;
use llamahdl_golden::QuantModel;
use std::collections::VecDeque;

/// The host's serial receiver (samples `ftdi_rxd` in the middle of each bit).
#[derive(Default)]
struct HostRx {
    /// Cycles until the next sample, and bits sampled so far (0 = start bit).
    active: Option<(u32, u32, u16)>,
}

/// The board top with a host UART model. See the [module docs](self).
pub struct BoardSim<const L: usize> {
    d: Driver<Ulx3sBoard<L>>,
    cpb: u32,
    /// Line levels still to drive, one per cycle.
    line: VecDeque<bool>,
    rx: HostRx,
    /// Every byte the board sent, in order.
    pub received: Vec<u8>,
    /// Bytes whose stop bit the host read as 0.
    pub host_framing_errors: usize,
}

impl<const L: usize> BoardSim<L> {
    /// The board top for `qm` (context `ctx`, UART bit time `clocks_per_bit` core cycles,
    /// core clock 100 MHz nominal: only the PLL's dividers depend on it).
    pub fn new(qm: &QuantModel, ctx: usize, clocks_per_bit: u32) -> Result<Self, String> {
        Self::with(qm, ctx, clocks_per_bit, |d| d)
    }

    /// As [`BoardSim::new`], recording the top's ports for co-simulation.
    pub fn with_trace(qm: &QuantModel, ctx: usize, clocks_per_bit: u32) -> Result<Self, String> {
        Self::with(qm, ctx, clocks_per_bit, |d| d.with_trace())
    }

    fn with(
        qm: &QuantModel,
        ctx: usize,
        clocks_per_bit: u32,
        f: impl FnOnce(Driver<Ulx3sBoard<L>>) -> Driver<Ulx3sBoard<L>>,
    ) -> Result<Self, String> {
        let p = BoardParams {
            core_mhz: crate::board::ulx3s::DEFAULT_CORE_MHZ,
            clocks_per_bit,
        };
        let mut d = f(Driver::new(Ulx3sBoard::<L>::new(qm, ctx, p)?, |u, c| {
            u.clk_25mhz.next = c.into()
        }));
        d.uut.ftdi_txd.next = true;
        d.uut.btn_fire1.next = false;
        Ok(BoardSim {
            d,
            cpb: clocks_per_bit,
            line: VecDeque::new(),
            rx: HostRx::default(),
            received: vec![],
            host_framing_errors: 0,
        })
    }

    /// The simulation driver.
    pub fn driver(&mut self) -> &mut Driver<Ulx3sBoard<L>> {
        &mut self.d
    }

    /// Queue `bytes` on the host's transmit line (8N1, back to back).
    pub fn send(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let bits = std::iter::once(false)
                .chain((0..8).map(|i| (b >> i) & 1 == 1))
                .chain(std::iter::once(true));
            for bit in bits {
                self.line
                    .extend(std::iter::repeat(bit).take(self.cpb as usize));
            }
        }
    }

    /// Hold the reset button for `cycles` cycles, then release it.
    pub fn press_reset(&mut self, cycles: usize) {
        self.d.uut.btn_fire1.next = true;
        for _ in 0..cycles {
            self.step();
        }
        self.d.uut.btn_fire1.next = false;
    }

    /// The LEDs in this cycle.
    pub fn leds(&mut self) -> u8 {
        self.d.settle();
        self.d.uut.led.val().index() as u8
    }

    /// One core cycle: the host drives its line and samples the board's.
    pub fn step(&mut self) {
        self.d.uut.ftdi_txd.next = self.line.pop_front().unwrap_or(true);
        self.d.settle();
        let level = self.d.uut.ftdi_rxd.val();
        match self.rx.active {
            None => {
                if !level {
                    // Start bit seen: sample its middle, then every bit time.
                    self.rx.active = Some((self.cpb / 2, 0, 0));
                }
            }
            Some((wait, n, acc)) => {
                if wait > 1 {
                    self.rx.active = Some((wait - 1, n, acc));
                } else if n == 0 {
                    self.rx.active = if level {
                        None // a glitch, not a start bit
                    } else {
                        Some((self.cpb, 1, 0))
                    };
                } else if n <= 8 {
                    let acc = acc | ((level as u16) << (n - 1));
                    self.rx.active = Some((self.cpb, n + 1, acc));
                } else {
                    if level {
                        self.received.push(acc as u8);
                    } else {
                        self.host_framing_errors += 1;
                    }
                    self.rx.active = None;
                }
            }
        }
        self.d.tick_settled();
    }

    /// Run until the frames received from `from` on hold one that ends command `cmd`
    /// (at most `max_cycles`); returns the frames of the command.
    pub fn await_reply(
        &mut self,
        cmd: u8,
        from: usize,
        max_cycles: u64,
    ) -> Result<Vec<Frame>, String> {
        let c0 = self.d.cycle();
        loop {
            let (frames, _) = parse_frames(&self.received[from..])?;
            if frames.iter().any(|f| f.is_terminal_for(cmd)) {
                return Ok(frames);
            }
            if self.d.cycle() - c0 > max_cycles {
                return Err(format!(
                    "no reply ending command '{}' within {max_cycles} cycles (received {:?})",
                    cmd as char,
                    &self.received[from..]
                ));
            }
            self.step();
        }
    }

    /// Send one command and wait for its reply frames.
    pub fn command(&mut self, bytes: &[u8], max_cycles: u64) -> Result<Vec<Frame>, String> {
        let from = self.received.len();
        self.send(bytes);
        self.await_reply(bytes[0], from, max_cycles)
    }

    /// Cycles simulated so far.
    pub fn cycles(&self) -> u64 {
        self.d.cycle()
    }
}

/// The protocol session of the host command for a prompt (ids, BOS included) and `steps`
/// positions in all (`steps >= prompt.len() >= 1`), as the board sees it: `R`, one `T` per
/// prompt token (the last one's reply is the first generated token), then `G` for the
/// `steps - prompt.len()` positions left. Returns the whole sequence as
/// `llamahdl_model::generate::greedy` does (prompt, then one token per position from the
/// last prompt position on: `steps + 1` ids), without its stop at a generated BOS.
pub fn run_prompt<const L: usize>(
    sim: &mut BoardSim<L>,
    prompt: &[u32],
    steps: usize,
    max_cycles_per_position: u64,
) -> Result<Vec<u32>, String> {
    use crate::board::protocol::*;
    if prompt.is_empty() || steps < prompt.len() {
        return Err(format!(
            "{steps} steps for a prompt of {} tokens (need steps >= prompt length >= 1)",
            prompt.len()
        ));
    }
    let budget = max_cycles_per_position;
    match sim.command(&[CMD_RESET], budget)?.as_slice() {
        [Frame::Reset] => {}
        other => return Err(format!("reset answered {other:?}")),
    }
    let mut seq: Vec<u32> = prompt.to_vec();
    let mut next = 0;
    for &t in prompt {
        let [lo, hi] = (t as u16).to_le_bytes();
        match sim.command(&[CMD_TOKEN, lo, hi], budget)?.as_slice() {
            [Frame::Token(n)] => next = *n as u32,
            other => return Err(format!("token {t} answered {other:?}")),
        }
    }
    seq.push(next);
    let n = (steps - prompt.len()) as u16;
    let [lo, hi] = n.to_le_bytes();
    let frames = sim.command(&[CMD_GENERATE, lo, hi], budget * (n as u64 + 1))?;
    for f in &frames {
        match f {
            Frame::Token(t) => seq.push(*t as u32),
            Frame::GenDone => {}
            other => return Err(format!("generate answered {other:?}")),
        }
    }
    if seq.len() != steps + 1 {
        return Err(format!(
            "generate gave {} tokens, asked for {n}",
            seq.len() - prompt.len() - 1
        ));
    }
    Ok(seq)
}
