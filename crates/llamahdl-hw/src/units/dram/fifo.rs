//! `ReadFifo`: the output FIFO of [`super::axi_read::AxiReadMaster`] (first-word
//! fall-through, one block RAM, synchronous reset).
//!
//! # Interface
//!
//! | port        | dir | width      | meaning |
//! |-------------|-----|------------|---------|
//! | `clock`     | in  | clock      | rising-edge clock |
//! | `reset`     | in  | 1          | synchronous: empty the FIFO (priority over everything) |
//! | `push`      | in  | 1          | write `push_data` at this rising edge (the caller guarantees room) |
//! | `push_data` | in  | `DW`       | word to write |
//! | `pop`       | in  | 1          | the reader takes `data` at this edge (ignored while `valid` is low) |
//! | `data`      | out | `DW`       | oldest word, valid while `valid` is high |
//! | `valid`     | out | 1          | a word is readable |
//! | `level`     | out | 16         | words written and not yet popped (the true occupancy) |
//!
//! # Timing
//!
//! * A word pushed at the edge ending cycle `t` is readable (`valid`, `data`) from cycle
//!   `t + 2` (the block RAM's registered read needs the edge after the write), unless older
//!   words are ahead of it. `level` counts it from cycle `t + 1`.
//! * Popping every cycle drains one word per cycle: the RAM's read address is the next
//!   read pointer (`rp + 1` in a cycle with a pop), so `data` is the next word in the
//!   following cycle with no bubble.
//! * `data` comes straight from the RAM's read register (no logic after it).
//! * Writing into a full FIFO is not detected here: the master's credit counter makes it
//!   impossible (proved in `formal/axi_read.sv`).
//!
//! Why not rust-hdl's `SynchronousFIFO`: it has no reset (an AXI master must come out of
//! `ARESETn` empty), and its `NP1` pointer width needs a second const parameter that a
//! caller can get wrong; the logic here is the same scheme (registered read with a
//! forwarded address, readable-count delayed one cycle) with a reset and the occupancy
//! the formal proof talks about.

use rust_hdl::prelude::*;

/// Width of [`ReadFifo::level`] (and of the master's credit counter).
pub const LEVEL_BITS: usize = 16;

/// First-word fall-through FIFO of `2^FA` words of `DW` bits. See the [module docs](self).
#[derive(LogicBlock)]
pub struct ReadFifo<const DW: usize, const FA: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub push: Signal<In, Bit>,
    pub push_data: Signal<In, Bits<DW>>,
    pub pop: Signal<In, Bit>,
    pub data: Signal<Out, Bits<DW>>,
    pub valid: Signal<Out, Bit>,
    pub level: Signal<Out, Bits<LEVEL_BITS>>,
    store: RAM<Bits<DW>, FA>,
    wp: DFF<Bits<FA>>,
    rp: DFF<Bits<FA>>,
    avail: DFF<Bits<LEVEL_BITS>>,
    count: DFF<Bits<LEVEL_BITS>>,
    push_q: DFF<Bit>,
    zero_p: Constant<Bits<FA>>,
    one_p: Constant<Bits<FA>>,
    zero_l: Constant<Bits<LEVEL_BITS>>,
    one_l: Constant<Bits<LEVEL_BITS>>,
    do_pop: Signal<Local, Bit>,
}

impl<const DW: usize, const FA: usize> Default for ReadFifo<DW, FA> {
    fn default() -> Self {
        assert!(
            (2..=14).contains(&FA),
            "ReadFifo: FA = {FA} (depth 2^FA) must be 2..=14"
        );
        Self {
            clock: Default::default(),
            reset: Default::default(),
            push: Default::default(),
            push_data: Default::default(),
            pop: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            level: Default::default(),
            store: Default::default(),
            wp: Default::default(),
            rp: Default::default(),
            avail: Default::default(),
            count: Default::default(),
            push_q: Default::default(),
            zero_p: Constant::new(0u64.into()),
            one_p: Constant::new(1u64.into()),
            zero_l: Constant::new(0u64.into()),
            one_l: Constant::new(1u64.into()),
            do_pop: Default::default(),
        }
    }
}

impl<const DW: usize, const FA: usize> Logic for ReadFifo<DW, FA> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, wp, rp, avail, count, push_q);
        self.do_pop.next = self.pop.val() & (self.avail.q.val() != self.zero_l.val());
        self.store.write_clock.next = self.clock.val();
        self.store.read_clock.next = self.clock.val();
        self.store.write_enable.next = self.push.val() & (!self.reset.val());
        self.store.write_address.next = self.wp.q.val();
        self.store.write_data.next = self.push_data.val();
        self.store.read_address.next = self.rp.q.val();
        if self.do_pop.val() {
            self.store.read_address.next = self.rp.q.val() + self.one_p.val();
        }
        self.data.next = self.store.read_data.val();
        self.valid.next = self.avail.q.val() != self.zero_l.val();
        self.level.next = self.count.q.val();
        self.push_q.d.next = self.push.val();
        if self.push.val() {
            self.wp.d.next = self.wp.q.val() + self.one_p.val();
        }
        if self.do_pop.val() {
            self.rp.d.next = self.rp.q.val() + self.one_p.val();
        }
        if self.push_q.q.val() & (!self.do_pop.val()) {
            self.avail.d.next = self.avail.q.val() + self.one_l.val();
        }
        if (!self.push_q.q.val()) & self.do_pop.val() {
            self.avail.d.next = self.avail.q.val() - self.one_l.val();
        }
        if self.push.val() & (!self.do_pop.val()) {
            self.count.d.next = self.count.q.val() + self.one_l.val();
        }
        if (!self.push.val()) & self.do_pop.val() {
            self.count.d.next = self.count.q.val() - self.one_l.val();
        }
        if self.reset.val() {
            self.wp.d.next = self.zero_p.val();
            self.rp.d.next = self.zero_p.val();
            self.avail.d.next = self.zero_l.val();
            self.count.d.next = self.zero_l.val();
            self.push_q.d.next = false;
        }
    }
}
