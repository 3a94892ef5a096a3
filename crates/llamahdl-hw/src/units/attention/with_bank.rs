//! [`AttnWithBank`]: the attention unit with a lane multiplier bank of its own, for using
//! and measuring the unit outside the decoder.
//!
//! In the decoder the attention unit borrows the matrix-vector unit's lane multipliers
//! (its [`DotAcc`]'s `ext_*` ports). Alone it needs a bank, so this wrapper gives it a
//! [`DotAcc`] whose own inputs are tied off: only the multipliers and the operand select
//! in front of them remain after synthesis, the same logic the decoder lends. The ports
//! are the unit's, without `m_*`; the timing is the unit's.

use super::AttnUnit;
use crate::bits::{Addr, Pos};
use crate::leaf::{DotAcc, XP};
use llamahdl_golden::QuantModel;
use llamahdl_model::Config;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct AttnWithBank<const A: usize> {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub done: Signal<Out, Bit>,
    pub vm_we: Signal<Out, Bit>,
    pub vm_waddr: Signal<Out, Addr>,
    pub vm_wdata: Signal<Out, Signed<32>>,
    pub y_we: Signal<Out, Bit>,
    pub y_idx: Signal<Out, Addr>,
    pub y_data: [Signal<Out, Signed<32>>; XP],
    pub att: Signal<In, Addr>,
    pub layer: Signal<In, Bits<8>>,
    pub pos: Signal<In, Pos>,
    pub pos_error: Signal<Out, Bit>,
    pub st_en: Signal<In, Bit>,
    pub st_valid: Signal<In, Bit>,
    pub st_row: Signal<In, Addr>,
    pub st_data: Signal<In, Signed<32>>,
    zero5: Constant<Bits<5>>,
    zs8: Constant<Signed<8>>,
    zs32: Constant<Signed<32>>,
    unit: AttnUnit<A>,
    bank: DotAcc<A>,
}

impl<const A: usize> AttnWithBank<A> {
    /// See [`AttnUnit::new`].
    pub fn new(qm: &QuantModel) -> Self {
        Self::wrap(AttnUnit::new(qm))
    }

    /// See [`AttnUnit::with_context`].
    pub fn with_context(qm: &QuantModel, ctx: usize) -> Self {
        Self::wrap(AttnUnit::with_context(qm, ctx))
    }

    fn wrap(unit: AttnUnit<A>) -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            done: Default::default(),
            vm_we: Default::default(),
            vm_waddr: Default::default(),
            vm_wdata: Default::default(),
            y_we: Default::default(),
            y_idx: Default::default(),
            y_data: array_init::array_init(|_| Default::default()),
            att: Default::default(),
            layer: Default::default(),
            pos: Default::default(),
            pos_error: Default::default(),
            st_en: Default::default(),
            st_valid: Default::default(),
            st_row: Default::default(),
            st_data: Default::default(),
            zero5: Constant::new(0u64.into()),
            zs8: Constant::new(Signed::default()),
            zs32: Constant::new(Signed::default()),
            unit,
            bank: DotAcc::default(),
        }
    }

    /// The wrapped unit (shape, cycles, cache contents).
    pub fn unit(&self) -> &AttnUnit<A> {
        &self.unit
    }

    /// Positions the cache holds.
    pub fn context(&self) -> usize {
        self.unit.context()
    }

    /// The model shape.
    pub fn config(&self) -> Config {
        self.unit.config()
    }

    /// Query heads processed together.
    pub fn heads_per_group(&self) -> usize {
        self.unit.heads_per_group()
    }

    /// Cycles of the attention at `pos` (see [`super::cycles`]).
    pub fn cycles(&self, pos: usize) -> usize {
        self.unit.cycles(pos)
    }

    /// See [`AttnUnit::peek_cache`].
    pub fn peek_cache(&self, layer: usize, pos: usize) -> (Vec<i32>, Vec<u8>, Vec<i32>, Vec<u8>) {
        self.unit.peek_cache(layer, pos)
    }
}

impl<const A: usize> Logic for AttnWithBank<A> {
    #[hdl_gen]
    fn update(&mut self) {
        self.unit.clock.next = self.clock.val();
        self.bank.clock.next = self.clock.val();
        self.unit.start.next = self.start.val();
        self.unit.att.next = self.att.val();
        self.unit.layer.next = self.layer.val();
        self.unit.pos.next = self.pos.val();
        self.unit.st_en.next = self.st_en.val();
        self.unit.st_valid.next = self.st_valid.val();
        self.unit.st_row.next = self.st_row.val();
        self.unit.st_data.next = self.st_data.val();
        self.done.next = self.unit.done.val();
        self.vm_we.next = self.unit.vm_we.val();
        self.vm_waddr.next = self.unit.vm_waddr.val();
        self.vm_wdata.next = self.unit.vm_wdata.val();
        self.y_we.next = self.unit.y_we.val();
        self.y_idx.next = self.unit.y_idx.val();
        for j in 0..XP {
            self.y_data[j].next = self.unit.y_data[j].val();
        }
        self.pos_error.next = self.unit.pos_error.val();
        // The bank: only its multipliers are used.
        self.bank.en.next = false;
        self.bank.first.next = false;
        self.bank.shift.next = self.zero5.val();
        self.bank.ext_sel.next = self.unit.m_sel.val();
        for j in 0..A {
            self.bank.w[j].next = self.zs8.val();
            self.bank.x[j].next = self.zs32.val();
            self.bank.ext_a[j].next = self.unit.m_a[j].val();
            self.bank.ext_b[j].next = self.unit.m_b[j].val();
            self.unit.m_p[j].next = self.bank.ext_p[j].val();
        }
    }
}
