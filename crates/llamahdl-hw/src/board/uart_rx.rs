//! `UartRx`: an 8N1 serial receiver (start bit, eight data bits least significant first,
//! stop bit, no parity) sampling each bit once, in its middle.
//!
//! # Interface
//!
//! | port        | dir | width | meaning |
//! |-------------|-----|-------|---------|
//! | `clock`     | in  | clock | rising-edge clock |
//! | `rst`       | in  | 1     | synchronous reset: drop a byte in reception, wait for a start bit |
//! | `rxd`       | in  | 1     | the serial line, asynchronous (idle high) |
//! | `data`      | out | 8     | the last byte received (registered, held until the next) |
//! | `valid`     | out | 1     | one-cycle pulse: `data` holds a new byte |
//! | `frame_err` | out | 1     | one-cycle pulse: a byte whose stop bit read 0 (the byte is dropped) |
//!
//! The bit time is `clocks_per_bit` cycles, a run-time constant of [`UartRx::new`] (at
//! least 4, so the middle of a bit is well defined).
//!
//! # Timing
//!
//! - `rxd` passes through a two-flip-flop synchroniser first (2 cycles of latency; the
//!   first flip-flop may go metastable, the second is what the logic reads).
//! - A low synchronised line while idle begins a start bit. `clocks_per_bit / 2` cycles
//!   later the line is sampled again: still low, the byte is received; high, it was a glitch
//!   and the receiver is idle again. Each data bit and the stop bit are then sampled
//!   `clocks_per_bit` cycles apart.
//! - `valid` (or `frame_err`) pulses in the cycle after the stop bit's sample, that is
//!   about 9.5 bit times plus 3 cycles after the start bit's falling edge on `rxd`; the
//!   receiver is idle in that cycle already, so a start bit right after the stop bit is
//!   caught. Tolerated clock mismatch: as any middle-sampling receiver, about ±4 % between
//!   sender and receiver over a byte.
//! - Power-up state: idle. The synchroniser powers up reading 0, which looks like a start
//!   bit for two cycles; the check in the start bit's middle rejects it.

use rust_hdl::prelude::*;

/// 8N1 receiver. See the [module docs](self).
#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    pub rst: Signal<In, Bit>,
    pub rxd: Signal<In, Bit>,
    pub data: Signal<Out, Bits<8>>,
    pub valid: Signal<Out, Bit>,
    pub frame_err: Signal<Out, Bit>,
    sync1: DFF<Bit>,
    sync2: DFF<Bit>,
    /// 0 idle, 1 start bit, 2 data bits, 3 stop bit.
    state: DFF<Bits<2>>,
    cnt: DFF<Bits<16>>,
    /// Data bits received so far.
    nbits: DFF<Bits<4>>,
    shreg: DFF<Bits<8>>,
    out: DFF<Bits<8>>,
    valid_r: DFF<Bit>,
    ferr_r: DFF<Bit>,
    cpb_m1: Constant<Bits<16>>,
    half_m1: Constant<Bits<16>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    zero4: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    seven4: Constant<Bits<4>>,
    msb8: Constant<Bits<8>>,
    s_idle: Constant<Bits<2>>,
    s_start: Constant<Bits<2>>,
    s_data: Constant<Bits<2>>,
    s_stop: Constant<Bits<2>>,
}

impl UartRx {
    /// A receiver with a bit time of `clocks_per_bit` cycles (4..=65536).
    pub fn new(clocks_per_bit: u32) -> Self {
        assert!(
            (4..=65536).contains(&clocks_per_bit),
            "clocks per bit {clocks_per_bit} outside 4..=65536"
        );
        Self {
            clock: Default::default(),
            rst: Default::default(),
            rxd: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            frame_err: Default::default(),
            sync1: Default::default(),
            sync2: Default::default(),
            state: Default::default(),
            cnt: Default::default(),
            nbits: Default::default(),
            shreg: Default::default(),
            out: Default::default(),
            valid_r: Default::default(),
            ferr_r: Default::default(),
            cpb_m1: Constant::new(((clocks_per_bit - 1) as u64).into()),
            half_m1: Constant::new(((clocks_per_bit / 2 - 1) as u64).into()),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            zero4: Constant::new(0u64.into()),
            one4: Constant::new(1u64.into()),
            seven4: Constant::new(7u64.into()),
            msb8: Constant::new(0x80u64.into()),
            s_idle: Constant::new(0u64.into()),
            s_start: Constant::new(1u64.into()),
            s_data: Constant::new(2u64.into()),
            s_stop: Constant::new(3u64.into()),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sync1, sync2, state, cnt, nbits, shreg, out, valid_r, ferr_r);
        self.sync1.d.next = self.rxd.val();
        self.sync2.d.next = self.sync1.q.val();
        self.data.next = self.out.q.val();
        self.valid.next = self.valid_r.q.val();
        self.frame_err.next = self.ferr_r.q.val();
        self.valid_r.d.next = false;
        self.ferr_r.d.next = false;
        self.cnt.d.next = self.cnt.q.val() + self.one16.val();
        if self.rst.val() {
            self.state.d.next = self.s_idle.val();
            self.cnt.d.next = self.zero16.val();
        } else if self.state.q.val() == self.s_idle.val() {
            self.cnt.d.next = self.zero16.val();
            if !self.sync2.q.val() {
                self.state.d.next = self.s_start.val();
            }
        } else if self.state.q.val() == self.s_start.val() {
            if self.cnt.q.val() == self.half_m1.val() {
                self.cnt.d.next = self.zero16.val();
                self.nbits.d.next = self.zero4.val();
                if self.sync2.q.val() {
                    self.state.d.next = self.s_idle.val();
                } else {
                    self.state.d.next = self.s_data.val();
                }
            }
        } else if self.state.q.val() == self.s_data.val() {
            if self.cnt.q.val() == self.cpb_m1.val() {
                self.cnt.d.next = self.zero16.val();
                if self.sync2.q.val() {
                    self.shreg.d.next = (self.shreg.q.val() >> 1) | self.msb8.val();
                } else {
                    self.shreg.d.next = self.shreg.q.val() >> 1;
                }
                self.nbits.d.next = self.nbits.q.val() + self.one4.val();
                if self.nbits.q.val() == self.seven4.val() {
                    self.state.d.next = self.s_stop.val();
                }
            }
        } else if self.cnt.q.val() == self.cpb_m1.val() {
            // Stop bit's middle.
            self.cnt.d.next = self.zero16.val();
            self.state.d.next = self.s_idle.val();
            if self.sync2.q.val() {
                self.out.d.next = self.shreg.q.val();
                self.valid_r.d.next = true;
            } else {
                self.ferr_r.d.next = true;
            }
        }
    }
}
