//! `RowAddrGen`: the address generator of the Q/K/V weight stream (plan step 1).
//!
//! The weights of one layer's Q/K/V projection arrive row by row as beats of `L` int8 lanes
//! (see [`crate::units::weight_path::shape`]). This block counts the beats and tells, for the beat present in
//! the current cycle, where it belongs: beat within the row, row within the head, head
//! within the matrix, which matrix (Q, K, V), the flat row index and the flat beat address.
//!
//! # Interface
//!
//! | port        | dir | width            | meaning |
//! |-------------|-----|------------------|---------|
//! | `clock`     | in  | clock            | rising-edge clock |
//! | `valid`     | in  | 1                | a beat is present this cycle |
//! | `trigger`   | in  | 1                | new load / layer change: restart (priority over `valid`) |
//! | `beat`      | out | [`BEAT_BITS`]    | beat within the row, `0..beats` |
//! | `row`       | out | [`ROW_BITS`]     | row within the head, `0..head_dim` |
//! | `matrix`    | out | [`MATRIX_BITS`]  | 0 = Q, 1 = K, 2 = V (3 once `load_done`) |
//! | `head`      | out | [`HEAD_BITS`]    | head within the matrix |
//! | `row_index` | out | [`ROW_INDEX_BITS`]| flat row index `0..qkv_rows` |
//! | `addr`      | out | [`ADDR_BITS`]    | flat beat address `row_index * beats + beat` |
//! | `last_beat` | out | 1                | `beat == beats - 1` |
//! | `wr_en`     | out | 1                | `valid & !trigger & !load_done`: this beat is stored |
//! | `load_done` | out | 1                | registered: all `qkv_rows` rows have been received |
//!
//! Shape parameters (`beats`, `head_dim`, `n_heads`, `n_kv_heads`) are runtime constants set
//! by [`RowAddrGen::new`] (as `last_*` = value - 1 constants).
//!
//! # Timing
//!
//! * All position outputs (`beat` .. `last_beat`) are combinational functions of the state
//!   registers only: they describe the beat presented *in this cycle*, valid from the start
//!   of the cycle (no dependence on `valid`). `wr_en` is combinational from the inputs.
//! * A beat is consumed at the rising edge that ends a cycle with `wr_en` high; the
//!   position outputs advance for the next cycle. Cycles with `valid` low change nothing.
//! * Rows advance after the beat with `last_beat`; the head advances after `head_dim` rows;
//!   the matrix moves Q -> K after `n_heads` heads and K -> V after `n_kv_heads` heads.
//! * `load_done` goes high in the cycle after the last beat of the last row was consumed
//!   (latency 1), stays high, and while it is high `wr_en` is low (beats are ignored). The
//!   position outputs then read "one past the end": `beat 0, row 0, head 0, matrix 3,
//!   row_index = qkv_rows, addr = qkv_rows * beats` (mod 2^16).
//! * `trigger` returns synchronously to `(beat 0, row 0, Q, head 0)`, `row_index 0`,
//!   `addr 0`, `load_done` low, visible in the next cycle. It has priority over `valid`:
//!   a beat presented together with `trigger` is not counted (and `wr_en` is low).
//! * Power-up state (rust-hdl and the emitted Verilog's `initial`) equals the state after
//!   a `trigger`.

use crate::units::weight_path::shape::*;
use llamahdl_model::checkpoint::Config;
use rust_hdl::prelude::*;

/// Address generator of the Q/K/V weight stream. See the [module docs](self).
#[derive(LogicBlock)]
pub struct RowAddrGen {
    pub clock: Signal<In, Clock>,
    pub valid: Signal<In, Bit>,
    pub trigger: Signal<In, Bit>,
    pub beat: Signal<Out, Bits<BEAT_BITS>>,
    pub row: Signal<Out, Bits<ROW_BITS>>,
    pub matrix: Signal<Out, Bits<MATRIX_BITS>>,
    pub head: Signal<Out, Bits<HEAD_BITS>>,
    pub row_index: Signal<Out, Bits<ROW_INDEX_BITS>>,
    pub addr: Signal<Out, Bits<ADDR_BITS>>,
    pub last_beat: Signal<Out, Bit>,
    pub wr_en: Signal<Out, Bit>,
    pub load_done: Signal<Out, Bit>,
    // Shape constants (value - 1, so they fit the counter widths).
    last_beat_c: Constant<Bits<BEAT_BITS>>,
    last_row_c: Constant<Bits<ROW_BITS>>,
    last_q_head_c: Constant<Bits<HEAD_BITS>>,
    last_kv_head_c: Constant<Bits<HEAD_BITS>>,
    // Sized literals: rust-hdl emits integer literals as 32-bit constants (`32'h1`), which
    // Verilator -Wall reports as WIDTH warnings; these localparams have the right widths.
    zero12: Constant<Bits<BEAT_BITS>>,
    one12: Constant<Bits<BEAT_BITS>>,
    zero8: Constant<Bits<ROW_BITS>>,
    one8: Constant<Bits<ROW_BITS>>,
    zero16: Constant<Bits<ADDR_BITS>>,
    one16: Constant<Bits<ADDR_BITS>>,
    matrix_q: Constant<Bits<MATRIX_BITS>>,
    matrix_v: Constant<Bits<MATRIX_BITS>>,
    matrix_one: Constant<Bits<MATRIX_BITS>>,
    // State.
    beat_r: DFF<Bits<BEAT_BITS>>,
    row_r: DFF<Bits<ROW_BITS>>,
    head_r: DFF<Bits<HEAD_BITS>>,
    matrix_r: DFF<Bits<MATRIX_BITS>>,
    row_index_r: DFF<Bits<ROW_INDEX_BITS>>,
    addr_r: DFF<Bits<ADDR_BITS>>,
    done_r: DFF<Bit>,
    // Combinational temporaries.
    is_last_beat: Signal<Local, Bit>,
    is_last_row: Signal<Local, Bit>,
    is_last_head: Signal<Local, Bit>,
    accept: Signal<Local, Bit>,
}

impl RowAddrGen {
    /// Generator for `cfg` streamed on `lanes` lanes. Panics if the shape does not fit the
    /// widths of [`crate::units::weight_path::shape`] (see [`Shape::new`]).
    pub fn new(cfg: &Config, lanes: usize) -> Self {
        let shape = Shape::new(cfg, lanes).unwrap_or_else(|e| panic!("RowAddrGen: {e}"));
        Self::from_shape(&shape)
    }

    /// Generator for an already checked [`Shape`].
    pub fn from_shape(s: &Shape) -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            trigger: Default::default(),
            beat: Default::default(),
            row: Default::default(),
            matrix: Default::default(),
            head: Default::default(),
            row_index: Default::default(),
            addr: Default::default(),
            last_beat: Default::default(),
            wr_en: Default::default(),
            load_done: Default::default(),
            last_beat_c: Constant::new(((s.beats - 1) as u64).into()),
            last_row_c: Constant::new(((s.head_dim - 1) as u64).into()),
            last_q_head_c: Constant::new(((s.n_heads - 1) as u64).into()),
            last_kv_head_c: Constant::new(((s.n_kv_heads - 1) as u64).into()),
            zero12: Constant::new(0.into()),
            one12: Constant::new(1.into()),
            zero8: Constant::new(0.into()),
            one8: Constant::new(1.into()),
            zero16: Constant::new(0.into()),
            one16: Constant::new(1.into()),
            matrix_q: Constant::new(MATRIX_Q.into()),
            matrix_v: Constant::new(MATRIX_V.into()),
            matrix_one: Constant::new(1.into()),
            beat_r: Default::default(),
            row_r: Default::default(),
            head_r: Default::default(),
            matrix_r: Default::default(),
            row_index_r: Default::default(),
            addr_r: Default::default(),
            done_r: Default::default(),
            is_last_beat: Default::default(),
            is_last_row: Default::default(),
            is_last_head: Default::default(),
            accept: Default::default(),
        }
    }
}

impl Logic for RowAddrGen {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            beat_r,
            row_r,
            head_r,
            matrix_r,
            row_index_r,
            addr_r,
            done_r
        );
        // Decodes of the current position.
        self.is_last_beat.next = self.beat_r.q.val() == self.last_beat_c.val();
        self.is_last_row.next = self.row_r.q.val() == self.last_row_c.val();
        self.is_last_head.next = false;
        if self.matrix_r.q.val() == self.matrix_q.val() {
            self.is_last_head.next = self.head_r.q.val() == self.last_q_head_c.val();
        } else {
            self.is_last_head.next = self.head_r.q.val() == self.last_kv_head_c.val();
        }
        self.accept.next = (self.valid.val() & (!self.trigger.val())) & (!self.done_r.q.val());
        // Outputs: the beat present this cycle.
        self.beat.next = self.beat_r.q.val();
        self.row.next = self.row_r.q.val();
        self.head.next = self.head_r.q.val();
        self.matrix.next = self.matrix_r.q.val();
        self.row_index.next = self.row_index_r.q.val();
        self.addr.next = self.addr_r.q.val();
        self.last_beat.next = self.is_last_beat.val();
        self.wr_en.next = self.accept.val();
        self.load_done.next = self.done_r.q.val();
        // Next state.
        if self.trigger.val() {
            self.beat_r.d.next = self.zero12.val();
            self.row_r.d.next = self.zero8.val();
            self.head_r.d.next = self.zero8.val();
            self.matrix_r.d.next = self.matrix_q.val();
            self.row_index_r.d.next = self.zero16.val();
            self.addr_r.d.next = self.zero16.val();
            self.done_r.d.next = false;
        } else if self.accept.val() {
            self.addr_r.d.next = self.addr_r.q.val() + self.one16.val();
            if self.is_last_beat.val() {
                self.beat_r.d.next = self.zero12.val();
                self.row_index_r.d.next = self.row_index_r.q.val() + self.one16.val();
                if self.is_last_row.val() {
                    self.row_r.d.next = self.zero8.val();
                    if self.is_last_head.val() {
                        self.head_r.d.next = self.zero8.val();
                        self.matrix_r.d.next = self.matrix_r.q.val() + self.matrix_one.val();
                        if self.matrix_r.q.val() == self.matrix_v.val() {
                            self.done_r.d.next = true;
                        }
                    } else {
                        self.head_r.d.next = self.head_r.q.val() + self.one8.val();
                    }
                } else {
                    self.row_r.d.next = self.row_r.q.val() + self.one8.val();
                }
            } else {
                self.beat_r.d.next = self.beat_r.q.val() + self.one12.val();
            }
        }
    }
}
