//! Fast native simulation driver.
//!
//! rust-hdl's threaded `Simulation` API hands the circuit between threads on every event
//! (~7k cycles/s). [`Driver`] instead owns the block and drives its clock in a plain loop,
//! calling [`rust_hdl::core::simulate::simulate`] to settle the logic after every change
//! (millions of cycles/s for small blocks).
//!
//! # Cycle convention
//!
//! One call of [`Driver::tick`] is one clock cycle:
//!
//! 1. the testbench has set the inputs (`drv.uut.x.next = ...`) while the clock is low;
//! 2. the combinational logic settles ([`Driver::settle`]); outputs now describe this
//!    cycle and may be sampled (a testbench that needs them calls `settle()` itself, reads
//!    them, then calls `tick()`); the trace row (if recording) is taken here;
//! 3. rising edge: clock high, settle (registers load);
//! 4. clock low, settle. Outputs of registers now show the new state.
//!
//! Inputs keep their values across ticks until the testbench changes them.
//!
//! Virtual times (for the optional VCD): cycle `c` is sampled at `10c+1`, its rising edge
//! is at `10c+5`, the falling edge at `10c+10`.
//!
//! # Example
//!
//! ```ignore
//! let mut d = Driver::new(RowAddrGen::new(&Config::TINY, 4), |u, c| u.clock.next = c.into());
//! d.uut.valid.next = true;
//! d.settle();
//! assert_eq!(d.uut.addr.val(), 0);
//! d.tick();
//! ```

use crate::sim::trace::Trace;
use rust_hdl::core::check_error::check_all;
use rust_hdl::core::vcd_probe::{write_vcd_change, write_vcd_dump, write_vcd_header, VCDProbe};
use rust_hdl::prelude::*;
use std::io::Write;

/// Iterations allowed for the logic to settle after a change (as rust-hdl's `Simulation`).
pub const MAX_SETTLE_ITERS: usize = 100;

/// Owns a block and clocks it natively. See the [module docs](self) for the convention.
pub struct Driver<B: Block> {
    /// The block under test; set inputs through `uut.<port>.next`, read outputs with `.val()`.
    pub uut: B,
    set_clock: fn(&mut B, bool),
    cycle: u64,
    vcd: Option<VCDProbe<Box<dyn Write>>>,
    trace: Option<Trace>,
}

impl<B: Block> Driver<B> {
    /// Connect and check `uut` (panics on rust-hdl check errors such as unconnected
    /// signals), set the clock low and settle. `set_clock` drives the clock input, e.g.
    /// `|u, c| u.clock.next = c.into()`.
    pub fn new(mut uut: B, set_clock: fn(&mut B, bool)) -> Self {
        uut.connect_all();
        if let Err(e) = check_all(&uut) {
            panic!("rust-hdl check of the block failed: {e:?}");
        }
        set_clock(&mut uut, false);
        let mut d = Driver {
            uut,
            set_clock,
            cycle: 0,
            vcd: None,
            trace: None,
        };
        d.settle();
        d
    }

    /// Also write a VCD of every signal of the hierarchy to `w` (opt-in: 10-30x slower).
    pub fn with_vcd<W: Write + 'static>(mut self, w: W) -> Self {
        let boxed: Box<dyn Write> = Box::new(w);
        let vcd = write_vcd_header(boxed, &self.uut);
        self.vcd = Some(write_vcd_dump(vcd, &self.uut));
        self
    }

    /// Record the top-level ports each cycle (step 2 of the convention) for co-simulation.
    pub fn with_trace(mut self) -> Self {
        self.trace = Some(Trace::for_block(&self.uut));
        self
    }

    /// Cycles ticked so far (the index of the cycle now being set up).
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// The trace recorded so far, if recording.
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }

    /// Mutable access to the trace (e.g. to mark don't-care outputs).
    pub fn trace_mut(&mut self) -> Option<&mut Trace> {
        self.trace.as_mut()
    }

    /// Stop recording and return the trace.
    pub fn take_trace(&mut self) -> Option<Trace> {
        self.trace.take()
    }

    /// Settle the logic with the current inputs (clock unchanged). Panics if it does not
    /// converge (a combinational loop).
    pub fn settle(&mut self) {
        if !simulate(&mut self.uut, MAX_SETTLE_ITERS) {
            panic!(
                "logic failed to settle within {MAX_SETTLE_ITERS} iterations in cycle {}",
                self.cycle
            );
        }
    }

    fn vcd_at(&mut self, t: u64) {
        if let Some(mut vcd) = self.vcd.take() {
            vcd.timestamp(t).expect("VCD write failed");
            self.vcd = Some(write_vcd_change(vcd, &self.uut));
        }
    }

    /// One clock cycle: settle and sample (trace), rising edge, falling edge.
    pub fn tick(&mut self) {
        self.settle();
        self.edge();
    }

    /// [`Driver::tick`] for a caller that has just called [`Driver::settle`] and changed
    /// no input since (saves one settling pass per cycle in long runs).
    pub fn tick_settled(&mut self) {
        self.edge();
    }

    fn edge(&mut self) {
        if let Some(t) = self.trace.as_mut() {
            t.record(&self.uut);
        }
        let t0 = self.cycle * 10;
        self.vcd_at(t0 + 1);
        (self.set_clock)(&mut self.uut, true);
        self.settle();
        self.vcd_at(t0 + 5);
        // Falling edge: nothing in the design reacts to it, so the logic is settled by the
        // next cycle's first settle (only a VCD needs the values at this instant).
        (self.set_clock)(&mut self.uut, false);
        if self.vcd.is_some() {
            self.settle();
            self.vcd_at(t0 + 10);
        }
        self.cycle += 1;
    }

    /// `n` cycles with the inputs unchanged.
    pub fn run(&mut self, n: usize) {
        for _ in 0..n {
            self.tick();
        }
    }

    /// Give the block back (and the trace, if one was recorded).
    pub fn finish(self) -> (B, Option<Trace>) {
        (self.uut, self.trace)
    }
}

/// One clock cycle on a bare block (no [`Driver`]): settle, rising edge, falling edge.
/// The block must already be connected (`connect_all`). Panics if the logic does not settle.
pub fn tick<B: Block>(uut: &mut B, mut set_clock: impl FnMut(&mut B, bool)) {
    for level in [None, Some(true), Some(false)] {
        if let Some(c) = level {
            set_clock(uut, c);
        }
        assert!(simulate(uut, MAX_SETTLE_ITERS), "logic failed to settle");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(LogicBlock, Default)]
    struct Counter {
        clock: Signal<In, Clock>,
        enable: Signal<In, Bit>,
        count: Signal<Out, Bits<8>>,
        reg_: DFF<Bits<8>>,
    }

    impl Logic for Counter {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, reg_);
            self.count.next = self.reg_.q.val();
            if self.enable.val() {
                self.reg_.d.next = self.reg_.q.val() + 1;
            }
        }
    }

    #[test]
    fn driver_counts_rising_edges() {
        let mut d = Driver::new(Counter::default(), |u, c| u.clock.next = c.into());
        d.uut.enable.next = true;
        d.settle();
        assert_eq!(d.uut.count.val(), 0);
        d.run(5);
        d.settle();
        assert_eq!(d.uut.count.val(), 5);
        d.uut.enable.next = false;
        d.run(3);
        assert_eq!(d.uut.count.val(), 5);
        assert_eq!(d.cycle(), 8);
    }

    #[test]
    fn driver_writes_vcd_when_asked() {
        #[derive(Clone)]
        struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.borrow_mut().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Shared(Default::default());
        let mut d =
            Driver::new(Counter::default(), |u, c| u.clock.next = c.into()).with_vcd(buf.clone());
        d.uut.enable.next = true;
        d.run(3);
        drop(d);
        let text = String::from_utf8(buf.0.borrow().clone()).unwrap();
        assert!(text.contains("$var"), "no VCD header");
        assert!(text.contains("#25"), "no timestamp of cycle 2's edge");
    }

    #[test]
    fn bare_tick() {
        let mut c = Counter::default();
        c.connect_all();
        c.enable.next = true;
        for _ in 0..4 {
            tick(&mut c, |u, v| u.clock.next = v.into());
        }
        assert_eq!(c.count.val(), 4);
    }
}
