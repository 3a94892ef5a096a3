//! `BurstSplit`: turns a command `(byte address, number of bus words)` into AXI4 INCR
//! bursts of at most `max_burst` (≤ 256) beats that never cross a 4 KiB boundary, one
//! burst at a time, for a master's address channel (the read master's AR, the write
//! master's AW).
//!
//! # Interface
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `clock` | in | clock | rising-edge clock |
//! | `reset` | in | 1 | synchronous: back to idle (priority over everything) |
//! | `abort` | in | 1 | while high: no command is taken, nothing is offered, and a command being split is dropped at the next edge |
//! | `cmd_valid`, `cmd_ready` | in, out | 1, 1 | command handshake (at a rising edge with both high); `cmd_ready` = idle and not `abort` |
//! | `cmd_addr` | in | 40 | byte address of the first word; its low `log2(W)` bits are ignored |
//! | `cmd_words` | in | 32 | number of bus words; 0 is taken and does nothing |
//! | `offer` | out | 1 | a burst is offered in this cycle: `b_addr`, `b_len` are valid |
//! | `b_addr` | out | 40 | the burst's byte address (word aligned) |
//! | `b_len` | out | 16 | its beats, `1 ..= max_burst` (`AxLEN` is `b_len − 1`) |
//! | `take` | in | 1 | the consumer takes the offered burst at this edge (only while `offer`) |
//! | `idle` | out | 1 | no command being split |
//!
//! # Timing
//!
//! A command taken at the edge ending cycle `c` has its first burst offered in cycle
//! `c + 3` (page room, length, offer). The offer holds with a stable payload until
//! `take`; the next burst is offered 3 cycles after a take (enough for the full bus rate
//! with bursts of 3 beats or more). After the last burst's take the splitter is idle in
//! the next cycle and takes the next command. Everything offered comes from registers
//! except `b_addr`'s concatenation of two of them.
//!
//! # Timing closure
//!
//! The 4 KiB split works on a 16-bit word offset within the page
//! (the 28-bit page number is incremented, never added to), the length takes two cycles
//! (room to the page end limited by `max_burst`, then the minimum with the remaining
//! words).

use super::axi_read::{ADDR_BITS, PAGE_BITS, WORDS_BITS};
use super::fifo::LEVEL_BITS;
use rust_hdl::prelude::*;

const PH_IDLE: u64 = 0;
const PH_CAP: u64 = 1;
const PH_LEN: u64 = 2;
const PH_OFFER: u64 = 3;

/// The burst splitter of an AXI4 master. See the [module docs](self).
#[derive(LogicBlock)]
pub struct BurstSplit {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub abort: Signal<In, Bit>,
    pub cmd_valid: Signal<In, Bit>,
    pub cmd_ready: Signal<Out, Bit>,
    pub cmd_addr: Signal<In, Bits<ADDR_BITS>>,
    pub cmd_words: Signal<In, Bits<WORDS_BITS>>,
    pub offer: Signal<Out, Bit>,
    pub b_addr: Signal<Out, Bits<ADDR_BITS>>,
    pub b_len: Signal<Out, Bits<LEVEL_BITS>>,
    pub take: Signal<In, Bit>,
    pub idle: Signal<Out, Bit>,
    phase: DFF<Bits<2>>,
    page: DFF<Bits<PAGE_BITS>>,
    offw: DFF<Bits<LEVEL_BITS>>,
    rem: DFF<Bits<WORDS_BITS>>,
    cap: DFF<Bits<LEVEL_BITS>>,
    blen: DFF<Bits<LEVEL_BITS>>,
    blen_w: DFF<Bits<WORDS_BITS>>,
    last_burst: DFF<Bit>,
    page_words_c: Constant<Bits<LEVEL_BITS>>,
    max_burst_c: Constant<Bits<LEVEL_BITS>>,
    shift_c: Constant<Bits<LEVEL_BITS>>,
    low12_c: Constant<Bits<LEVEL_BITS>>,
    ph_idle: Constant<Bits<2>>,
    ph_cap: Constant<Bits<2>>,
    ph_len: Constant<Bits<2>>,
    ph_offer: Constant<Bits<2>>,
    zero_l: Constant<Bits<LEVEL_BITS>>,
    zero_w: Constant<Bits<WORDS_BITS>>,
    zero_g: Constant<Bits<PAGE_BITS>>,
    one_g: Constant<Bits<PAGE_BITS>>,
    room: Signal<Local, Bits<LEVEL_BITS>>,
    next_off: Signal<Local, Bits<LEVEL_BITS>>,
}

impl BurstSplit {
    /// A splitter for a bus of `bus_bytes` bytes a beat (8..=64, a power of two) and
    /// bursts of at most `max_burst` beats (1..=256); the caller checks the ranges.
    pub fn new(bus_bytes: usize, max_burst: usize) -> Self {
        assert!(bus_bytes.is_power_of_two() && (8..=64).contains(&bus_bytes));
        assert!((1..=256).contains(&max_burst));
        let shift = bus_bytes.trailing_zeros() as u64;
        Self {
            clock: Default::default(),
            reset: Default::default(),
            abort: Default::default(),
            cmd_valid: Default::default(),
            cmd_ready: Default::default(),
            cmd_addr: Default::default(),
            cmd_words: Default::default(),
            offer: Default::default(),
            b_addr: Default::default(),
            b_len: Default::default(),
            take: Default::default(),
            idle: Default::default(),
            phase: Default::default(),
            page: Default::default(),
            offw: Default::default(),
            rem: Default::default(),
            cap: Default::default(),
            blen: Default::default(),
            blen_w: Default::default(),
            last_burst: Default::default(),
            page_words_c: Constant::new(((4096 / bus_bytes) as u64).into()),
            max_burst_c: Constant::new((max_burst as u64).into()),
            shift_c: Constant::new(shift.into()),
            low12_c: Constant::new(0xfffu64.into()),
            ph_idle: Constant::new(PH_IDLE.into()),
            ph_cap: Constant::new(PH_CAP.into()),
            ph_len: Constant::new(PH_LEN.into()),
            ph_offer: Constant::new(PH_OFFER.into()),
            zero_l: Constant::new(0u64.into()),
            zero_w: Constant::new(0u64.into()),
            zero_g: Constant::new(0u64.into()),
            one_g: Constant::new(1u64.into()),
            room: Default::default(),
            next_off: Default::default(),
        }
    }
}

impl Logic for BurstSplit {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, phase, page, offw, rem, cap, blen, blen_w, last_burst);
        self.room.next = self.page_words_c.val() - self.offw.q.val();
        self.next_off.next = self.offw.q.val() + self.blen.q.val();
        self.idle.next = self.phase.q.val() == self.ph_idle.val();
        self.cmd_ready.next = (self.phase.q.val() == self.ph_idle.val()) & (!self.abort.val());
        self.offer.next = (self.phase.q.val() == self.ph_offer.val()) & (!self.abort.val());
        self.b_addr.next = (bit_cast::<ADDR_BITS, PAGE_BITS>(self.page.q.val()) << 12)
            | bit_cast::<ADDR_BITS, LEVEL_BITS>(self.offw.q.val() << self.shift_c.val());
        self.b_len.next = self.blen.q.val();
        if self.phase.q.val() == self.ph_idle.val() {
            if self.cmd_valid.val() & (!self.abort.val()) {
                self.page.d.next = self.cmd_addr.val().get_bits::<PAGE_BITS>(12);
                self.offw.d.next = (self.cmd_addr.val().get_bits::<LEVEL_BITS>(0)
                    & self.low12_c.val())
                    >> self.shift_c.val();
                self.rem.d.next = self.cmd_words.val();
                if self.cmd_words.val() != self.zero_w.val() {
                    self.phase.d.next = self.ph_cap.val();
                }
            }
        }
        if self.phase.q.val() == self.ph_cap.val() {
            self.cap.d.next = self.room.val();
            if self.room.val() > self.max_burst_c.val() {
                self.cap.d.next = self.max_burst_c.val();
            }
            self.phase.d.next = self.ph_len.val();
        }
        if self.phase.q.val() == self.ph_len.val() {
            self.blen.d.next = self.cap.q.val();
            self.blen_w.d.next = bit_cast::<WORDS_BITS, LEVEL_BITS>(self.cap.q.val());
            self.last_burst.d.next = false;
            if (self.rem.q.val().get_bits::<LEVEL_BITS>(16) == self.zero_l.val())
                & (self.rem.q.val().get_bits::<LEVEL_BITS>(0) <= self.cap.q.val())
            {
                self.blen.d.next = self.rem.q.val().get_bits::<LEVEL_BITS>(0);
                self.blen_w.d.next = self.rem.q.val();
                self.last_burst.d.next = true;
            }
            self.phase.d.next = self.ph_offer.val();
        }
        if (self.phase.q.val() == self.ph_offer.val()) & self.take.val() {
            self.rem.d.next = self.rem.q.val() - self.blen_w.q.val();
            if self.next_off.val() == self.page_words_c.val() {
                self.offw.d.next = self.zero_l.val();
                self.page.d.next = self.page.q.val() + self.one_g.val();
            } else {
                self.offw.d.next = self.next_off.val();
            }
            if self.last_burst.q.val() {
                self.phase.d.next = self.ph_idle.val();
            } else {
                self.phase.d.next = self.ph_cap.val();
            }
        }
        if self.abort.val() {
            self.phase.d.next = self.ph_idle.val();
        }
        if self.reset.val() {
            self.phase.d.next = self.ph_idle.val();
            self.page.d.next = self.zero_g.val();
            self.offw.d.next = self.zero_l.val();
            self.rem.d.next = self.zero_w.val();
            self.cap.d.next = self.zero_l.val();
            self.blen.d.next = self.zero_l.val();
            self.blen_w.d.next = self.zero_w.val();
            self.last_burst.d.next = false;
        }
    }
}
