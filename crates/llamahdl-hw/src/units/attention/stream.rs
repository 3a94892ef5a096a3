//! The QKV stream front end of the attention unit ([`QkvStream`]): RoPE on the
//! projection's rows as they arrive, then per-head block conversion, q heads into the q
//! bank of [`super::AttnCore`], k and v heads into the staging registers of
//! [`super::KvCacheW`], the last v element committing the position.
//!
//! Pipeline of a row (stage 0 = the cycle it is on the unit's `st_*` ports):
//! - stage 1 (`row_*_s1`): registered; the RoPE table read (`rope_base + elem_s1`) and the
//!   cache word of the stream captured;
//! - stage 2 (`row_*_s2`): even q/k rows are held with their cos (`pair_first`,
//!   `pair_cos`); odd rows are rotated with the held element through [`Rope2`] (pipelined:
//!   its result comes [`super::leaves::ROPE_EXTRA`] cycles later, and the row tags follow
//!   it through [`RowDelay`] `rot_dly`);
//! - stages 3 and 4 (after the delay): the rotated pair's first element (stage 3) and
//!   second element (stage 4), and v rows (stage 4, unrotated), are registered one element
//!   per cycle in row order (`in_*`, [`IN_REG`]) and enter the head conversion from there.
//!
//! Head conversion: each head (q heads, then k heads, then v heads) is written into one
//! half of a two-head buffer (`head_buf`) while its half's [`Blocker`] tracks the maximum
//! magnitude; in the cycle its last element arrives, its elements start to be read back
//! (`rd_*`), one per cycle, and enter the quantiser one cycle later (`rd_*_s1`, the
//! Blocker's `en_q`); the converted element comes out of the Blocker's pipeline 5 cycles
//! later (`rd_*_s6`) and goes to its destination (`to_block16` for q, `to_block_kv` for k
//! and v), while the next head fills the other half (the Blocker takes the format, `wide`,
//! with the scan, and holds the shift of the head being quantised).
//!
//! Every output is a function of registers only (no combinational path from the `st_*`
//! inputs); `in_flight` is high while a row is in the pipeline or a head is being
//! converted.

use crate::bits::Addr;
use crate::leaf::TableRom;
use llamahdl_model::Config;
use rust_hdl::prelude::*;

use super::leaves::{Blocker, LaneMem, Rope2, RowDelay};
use super::{c16, c8};

/// The register between the rotated stream and the head conversion (cycles it adds to the
/// stream's latency).
pub const IN_REG: usize = 1;

/// The stream front end (see the module docs). `layer`/`pos`-derived inputs (`rope_base`,
/// `row_pos`, `bad`) come from the unit's [`super::PosBases`].
#[derive(LogicBlock)]
pub struct QkvStream {
    pub clock: Signal<In, Clock>,
    /// A row is delivered in this cycle (`st_valid & st_en` of the unit).
    pub row_valid: Signal<In, Bit>,
    pub row: Signal<In, Addr>,
    pub row_data: Signal<In, Signed<32>>,
    /// RoPE table row of `pos` (`pos·head_dim`, registered by `PosBases`).
    pub rope_base: Signal<In, Addr>,
    /// Cache word of (`layer`, `pos`) (registered by `PosBases`).
    pub row_pos: Signal<In, Bits<24>>,
    /// (`layer`, `pos`) is outside the cache (combinational from the parameters).
    pub bad: Signal<In, Bit>,
    /// Rows or head conversions in flight (not counting this cycle's row).
    pub in_flight: Signal<Out, Bit>,
    /// q bank write port (to `AttnCore`'s `bwe` .. `bsdata`).
    pub bank_we: Signal<Out, Bit>,
    pub bank_group: Signal<Out, Bits<8>>,
    pub bank_lane: Signal<Out, Addr>,
    pub bank_data: Signal<Out, Addr>,
    pub bank_shift_we: Signal<Out, Bit>,
    pub bank_shift_head: Signal<Out, Bits<8>>,
    pub bank_shift: Signal<Out, Bits<5>>,
    /// Cache staging port (to `KvCacheW`'s `push` .. `waddr`).
    pub cache_push: Signal<Out, Bit>,
    pub cache_is_v: Signal<Out, Bit>,
    pub cache_field: Signal<Out, Addr>,
    pub cache_data: Signal<Out, Bits<11>>,
    pub cache_shift_push: Signal<Out, Bit>,
    pub cache_shift_field: Signal<Out, Bits<8>>,
    pub cache_shift: Signal<Out, Bits<5>>,
    pub cache_commit: Signal<Out, Bit>,
    pub cache_waddr: Signal<Out, Bits<24>>,
    // Shape constants.
    hd16: Constant<Addr>,
    /// head_dim rounded up to a power of two: the second half of the head buffer starts
    /// there, so its addresses are the element index with one bit set (no adder in front
    /// of the buffer's write port).
    half16: Constant<Addr>,
    hd_m1: Constant<Addr>,
    /// First v row (`dim + kv_dim`).
    v_row0: Constant<Addr>,
    /// Heads of the stream: q heads are `0..nh`, k heads `nh..nh + nkv`, v heads after.
    nh8: Constant<Bits<8>>,
    v_head0: Constant<Bits<8>>,
    last_head: Constant<Bits<8>>,
    g_m1: Constant<Bits<8>>,
    /// One head per group (`G = 1`): head 0 is the last.
    g_one: Constant<Bit>,
    zero8: Constant<Bits<8>>,
    one8: Constant<Bits<8>>,
    zero16: Constant<Addr>,
    one16: Constant<Addr>,
    // Leaves.
    rope_rom: TableRom<18>,
    rot: Rope2,
    /// The row tags of stage 2, delayed alongside the rotation.
    rot_dly: RowDelay,
    /// Block conversion of the heads in buffer half 0 / half 1.
    blk0: Blocker,
    blk1: Blocker,
    head_buf: LaneMem<1, 16, 32>,
    // Row pipeline. `next_elem`: element index in its head (row mod head_dim) of the next
    // row; stage n: valid, data, odd row, v row, row 1 (completes the stream's first pair).
    next_elem: DFF<Addr>,
    elem_s1: DFF<Addr>,
    row_valid_s1: DFF<Bit>,
    row_valid_s2: DFF<Bit>,
    row_valid_s3: DFF<Bit>,
    row_valid_s4: DFF<Bit>,
    row_data_s1: DFF<Signed<32>>,
    row_data_s2: DFF<Signed<32>>,
    row_data_s3: DFF<Signed<32>>,
    row_data_s4: DFF<Signed<32>>,
    row_odd_s1: DFF<Bit>,
    row_odd_s2: DFF<Bit>,
    row_odd_s3: DFF<Bit>,
    row_odd_s4: DFF<Bit>,
    row_is_v_s1: DFF<Bit>,
    row_is_v_s2: DFF<Bit>,
    row_is_v_s3: DFF<Bit>,
    row_is_v_s4: DFF<Bit>,
    row_one_s1: DFF<Bit>,
    row_one_s2: DFF<Bit>,
    row_one_s3: DFF<Bit>,
    /// RoPE pair: first element and its cos.
    pair_first: DFF<Signed<32>>,
    pair_cos: DFF<Bits<18>>,
    /// The stream's (`layer`, `pos`) is bad (no cache write); its cache word.
    stream_bad: DFF<Bit>,
    stream_word: DFF<Bits<24>>,
    /// Head buffer input: element in head and head of the next element; 16-bit conversion
    /// (a q head) of the head in half 0 / half 1.
    in_elem: DFF<Addr>,
    in_head: DFF<Bits<8>>,
    /// Read-back of a complete head: active, element, buffer half, head; then the quantise
    /// stage (s1) and the output stage (s2).
    rd_active: DFF<Bit>,
    rd_elem: DFF<Addr>,
    rd_half: DFF<Bit>,
    rd_head: DFF<Bits<8>>,
    rd_valid_s1: DFF<Bit>,
    rd_half_s1: DFF<Bit>,
    rd_elem_s1: DFF<Addr>,
    rd_head_s1: DFF<Bits<8>>,
    rd_valid_s2: DFF<Bit>,
    rd_half_s2: DFF<Bit>,
    rd_elem_s2: DFF<Addr>,
    rd_head_s2: DFF<Bits<8>>,
    rd_valid_s3: DFF<Bit>,
    rd_half_s3: DFF<Bit>,
    rd_elem_s3: DFF<Addr>,
    rd_head_s3: DFF<Bits<8>>,
    rd_valid_s4: DFF<Bit>,
    rd_half_s4: DFF<Bit>,
    rd_elem_s4: DFF<Addr>,
    rd_head_s4: DFF<Bits<8>>,
    rd_valid_s5: DFF<Bit>,
    rd_half_s5: DFF<Bit>,
    rd_elem_s5: DFF<Addr>,
    rd_head_s5: DFF<Bits<8>>,
    rd_valid_s6: DFF<Bit>,
    rd_half_s6: DFF<Bit>,
    rd_elem_s6: DFF<Addr>,
    /// Stage 6's decode, registered from stage 5 (so the bank and cache ports' selects
    /// come from flip-flops): element 0, last element, a q head, a v head, the stream's
    /// first element (head 0, element 0), the first element of the k or v heads, the last
    /// head, the shift field (kv head) of a k or v head.
    rd_e0_s6: DFF<Bit>,
    rd_el_s6: DFF<Bit>,
    rd_q_s6: DFF<Bit>,
    rd_v_s6: DFF<Bit>,
    rd_z_s6: DFF<Bit>,
    rd_f0_s6: DFF<Bit>,
    rd_lh_s6: DFF<Bit>,
    rd_sf_s6: DFF<Bits<8>>,
    /// `bank_head_r` is the group's last head (`G − 1`).
    bh_last: DFF<Bit>,
    /// Destinations: q bank lane base, head in group, group; cache field.
    bank_lane_r: DFF<Addr>,
    bank_head_r: DFF<Bits<8>>,
    bank_group_r: DFF<Bits<8>>,
    field_r: DFF<Addr>,
    // Combinational: the element entering the head buffer (valid, data, first of the
    // stream, its element and head, its buffer half); the converted element; the
    // destinations of this element.
    /// The element entering the head buffer and the blockers, registered (stage 5: the
    /// rotated pair or the v element of stage 3/4) with its element and head and what the
    /// head conversion decodes from them (last and first element, buffer half, 16-bit
    /// format), so that the buffer's addresses and the blockers' controls come from
    /// flip-flops.
    in_valid: DFF<Bit>,
    in_data: DFF<Signed<32>>,
    in_e: DFF<Addr>,
    in_h: DFF<Bits<8>>,
    in_last: DFF<Bit>,
    in_first: DFF<Bit>,
    in_half: DFF<Bit>,
    in_wide: DFF<Bit>,
    /// An element is loaded into `in_*` (`in_load`), the stream's first (`in_restart`), and
    /// its element and head (`in_elem_e`, `in_head_e`).
    in_load: Signal<Local, Bit>,
    in_restart: Signal<Local, Bit>,
    in_elem_e: Signal<Local, Addr>,
    in_head_e: Signal<Local, Bits<8>>,
    /// `bank_head_e` is the group's last head.
    bh_last_e: Signal<Local, Bit>,
    conv_y16: Signal<Local, Addr>,
    conv_y11: Signal<Local, Bits<11>>,
    conv_shift: Signal<Local, Bits<5>>,
    bank_lane_e: Signal<Local, Addr>,
    bank_head_e: Signal<Local, Bits<8>>,
    bank_group_e: Signal<Local, Bits<8>>,
    field_e: Signal<Local, Addr>,
}

impl QkvStream {
    /// The front end for shape `c` with `g` query heads per group and the RoPE table
    /// `rope` (`context·head_dim` raw 18-bit patterns).
    pub fn new(c: &Config, g: usize, rope: Vec<u64>) -> Self {
        let (dim, hd, nh, nkv, kvd) = (c.dim, c.head_dim(), c.n_heads, c.n_kv_heads, c.kv_dim());
        Self {
            clock: Default::default(),
            row_valid: Default::default(),
            row: Default::default(),
            row_data: Default::default(),
            rope_base: Default::default(),
            row_pos: Default::default(),
            bad: Default::default(),
            in_flight: Default::default(),
            bank_we: Default::default(),
            bank_group: Default::default(),
            bank_lane: Default::default(),
            bank_data: Default::default(),
            bank_shift_we: Default::default(),
            bank_shift_head: Default::default(),
            bank_shift: Default::default(),
            cache_push: Default::default(),
            cache_is_v: Default::default(),
            cache_field: Default::default(),
            cache_data: Default::default(),
            cache_shift_push: Default::default(),
            cache_shift_field: Default::default(),
            cache_shift: Default::default(),
            cache_commit: Default::default(),
            cache_waddr: Default::default(),
            hd16: c16(hd),
            half16: c16(hd.next_power_of_two()),
            hd_m1: c16(hd - 1),
            v_row0: c16(dim + kvd),
            nh8: c8(nh),
            v_head0: c8(nh + nkv),
            last_head: c8(nh + 2 * nkv - 1),
            g_m1: c8(g - 1),
            g_one: Constant::new(g == 1),
            zero8: c8(0),
            one8: c8(1),
            zero16: c16(0),
            one16: c16(1),
            rope_rom: TableRom::new(rope),
            rot: Default::default(),
            rot_dly: Default::default(),
            blk0: Default::default(),
            blk1: Default::default(),
            head_buf: LaneMem::new(2 * hd.next_power_of_two()),
            next_elem: Default::default(),
            elem_s1: Default::default(),
            row_valid_s1: Default::default(),
            row_valid_s2: Default::default(),
            row_valid_s3: Default::default(),
            row_valid_s4: Default::default(),
            row_data_s1: Default::default(),
            row_data_s2: Default::default(),
            row_data_s3: Default::default(),
            row_data_s4: Default::default(),
            row_odd_s1: Default::default(),
            row_odd_s2: Default::default(),
            row_odd_s3: Default::default(),
            row_odd_s4: Default::default(),
            row_is_v_s1: Default::default(),
            row_is_v_s2: Default::default(),
            row_is_v_s3: Default::default(),
            row_is_v_s4: Default::default(),
            row_one_s1: Default::default(),
            row_one_s2: Default::default(),
            row_one_s3: Default::default(),
            pair_first: Default::default(),
            pair_cos: Default::default(),
            stream_bad: Default::default(),
            stream_word: Default::default(),
            in_elem: Default::default(),
            in_head: Default::default(),
            rd_active: Default::default(),
            rd_elem: Default::default(),
            rd_half: Default::default(),
            rd_head: Default::default(),
            rd_valid_s1: Default::default(),
            rd_half_s1: Default::default(),
            rd_elem_s1: Default::default(),
            rd_head_s1: Default::default(),
            rd_valid_s2: Default::default(),
            rd_half_s2: Default::default(),
            rd_elem_s2: Default::default(),
            rd_head_s2: Default::default(),
            rd_valid_s3: Default::default(),
            rd_half_s3: Default::default(),
            rd_elem_s3: Default::default(),
            rd_head_s3: Default::default(),
            rd_valid_s4: Default::default(),
            rd_half_s4: Default::default(),
            rd_elem_s4: Default::default(),
            rd_head_s4: Default::default(),
            rd_valid_s5: Default::default(),
            rd_half_s5: Default::default(),
            rd_elem_s5: Default::default(),
            rd_head_s5: Default::default(),
            rd_valid_s6: Default::default(),
            rd_half_s6: Default::default(),
            rd_elem_s6: Default::default(),
            rd_e0_s6: Default::default(),
            rd_el_s6: Default::default(),
            rd_q_s6: Default::default(),
            rd_v_s6: Default::default(),
            rd_z_s6: Default::default(),
            rd_f0_s6: Default::default(),
            rd_lh_s6: Default::default(),
            rd_sf_s6: Default::default(),
            bh_last: Default::default(),
            bank_lane_r: Default::default(),
            bank_head_r: Default::default(),
            bank_group_r: Default::default(),
            field_r: Default::default(),
            in_valid: Default::default(),
            in_data: Default::default(),
            in_e: Default::default(),
            in_h: Default::default(),
            in_last: Default::default(),
            in_first: Default::default(),
            in_half: Default::default(),
            in_wide: Default::default(),
            in_load: Default::default(),
            in_restart: Default::default(),
            in_elem_e: Default::default(),
            in_head_e: Default::default(),
            bh_last_e: Default::default(),
            conv_y16: Default::default(),
            conv_y11: Default::default(),
            conv_shift: Default::default(),
            bank_lane_e: Default::default(),
            bank_head_e: Default::default(),
            bank_group_e: Default::default(),
            field_e: Default::default(),
        }
    }
}

impl Logic for QkvStream {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            next_elem,
            elem_s1,
            row_valid_s1,
            row_valid_s2,
            row_valid_s3,
            row_valid_s4,
            row_data_s1,
            row_data_s2,
            row_data_s3,
            row_data_s4,
            row_odd_s1,
            row_odd_s2,
            row_odd_s3,
            row_odd_s4,
            row_is_v_s1,
            row_is_v_s2,
            row_is_v_s3,
            row_is_v_s4,
            row_one_s1,
            row_one_s2,
            row_one_s3,
            pair_first,
            pair_cos,
            stream_bad,
            stream_word,
            in_valid,
            in_data,
            in_e,
            in_h,
            in_last,
            in_first,
            in_half,
            in_wide,
            in_elem,
            in_head,
            rd_active,
            rd_elem,
            rd_half,
            rd_head,
            rd_valid_s1,
            rd_half_s1,
            rd_elem_s1,
            rd_head_s1,
            rd_valid_s2,
            rd_half_s2,
            rd_elem_s2,
            rd_head_s2,
            rd_valid_s3,
            rd_half_s3,
            rd_elem_s3,
            rd_head_s3,
            rd_valid_s4,
            rd_half_s4,
            rd_elem_s4,
            rd_head_s4,
            rd_valid_s5,
            rd_half_s5,
            rd_elem_s5,
            rd_head_s5,
            rd_valid_s6,
            rd_half_s6,
            rd_elem_s6,
            rd_e0_s6,
            rd_el_s6,
            rd_q_s6,
            rd_v_s6,
            rd_z_s6,
            rd_f0_s6,
            rd_lh_s6,
            rd_sf_s6,
            bh_last,
            bank_lane_r,
            bank_head_r,
            bank_group_r,
            field_r
        );
        clock!(self, clock, rope_rom, rot, rot_dly, blk0, blk1, head_buf);
        self.in_flight.next = self.row_valid_s1.q.val()
            | self.row_valid_s2.q.val()
            | self.row_valid_s3.q.val()
            | self.row_valid_s4.q.val()
            | self.rot_dly.busy.val()
            | self.in_valid.q.val()
            | self.rd_active.q.val()
            | self.rd_valid_s1.q.val()
            | self.rd_valid_s2.q.val()
            | self.rd_valid_s3.q.val()
            | self.rd_valid_s4.q.val()
            | self.rd_valid_s5.q.val();
        // Stage 0: the row on the ports.
        self.row_valid_s1.d.next = self.row_valid.val();
        self.row_data_s1.d.next = self.row_data.val();
        self.row_odd_s1.d.next = self.row.val().get_bit(0);
        self.row_is_v_s1.d.next = self.row.val() >= self.v_row0.val();
        self.row_one_s1.d.next = self.row.val() == self.one16.val();
        if self.row.val() == self.zero16.val() {
            self.elem_s1.d.next = self.zero16.val();
        } else {
            self.elem_s1.d.next = self.next_elem.q.val();
        }
        if self.row_valid.val() {
            self.stream_bad.d.next = self.bad.val();
            if self.next_elem.q.val() == self.hd_m1.val() {
                self.next_elem.d.next = self.zero16.val();
            } else {
                self.next_elem.d.next = self.next_elem.q.val() + self.one16.val();
            }
            if self.row.val() == self.zero16.val() {
                self.next_elem.d.next = self.one16.val();
            }
        }
        // Stage 1: RoPE table read; the cache word of the stream.
        self.row_valid_s2.d.next = self.row_valid_s1.q.val();
        self.row_data_s2.d.next = self.row_data_s1.q.val();
        self.row_odd_s2.d.next = self.row_odd_s1.q.val();
        self.row_is_v_s2.d.next = self.row_is_v_s1.q.val();
        self.row_one_s2.d.next = self.row_one_s1.q.val();
        self.rope_rom.addr.next = self.rope_base.val() + self.elem_s1.q.val();
        if self.row_valid_s1.q.val() {
            self.stream_word.d.next = self.row_pos.val();
        }
        // Stage 2: hold the first element of a pair and its cos; rotate on the second.
        self.rot_dly.valid.next = self.row_valid_s2.q.val();
        self.rot_dly.data.next = self.row_data_s2.q.val();
        self.rot_dly.odd.next = self.row_odd_s2.q.val();
        self.rot_dly.is_v.next = self.row_is_v_s2.q.val();
        self.rot_dly.one.next = self.row_one_s2.q.val();
        self.row_valid_s3.d.next = self.rot_dly.valid_o.val();
        self.row_data_s3.d.next = self.rot_dly.data_o.val();
        self.row_odd_s3.d.next = self.rot_dly.odd_o.val();
        self.row_is_v_s3.d.next = self.rot_dly.is_v_o.val();
        self.row_one_s3.d.next = self.rot_dly.one_o.val();
        self.rot.en.next = false;
        self.rot.a.next = self.pair_first.q.val();
        self.rot.cs.next = self.pair_cos.q.val();
        self.rot.b.next = self.row_data_s2.q.val();
        self.rot.sn.next = self.rope_rom.data.val();
        if self.row_valid_s2.q.val() & !self.row_is_v_s2.q.val() {
            if self.row_odd_s2.q.val() {
                self.rot.en.next = true;
            } else {
                self.pair_first.d.next = self.row_data_s2.q.val();
                self.pair_cos.d.next = self.rope_rom.data.val();
            }
        }
        self.row_valid_s4.d.next = self.row_valid_s3.q.val();
        self.row_data_s4.d.next = self.row_data_s3.q.val();
        self.row_odd_s4.d.next = self.row_odd_s3.q.val();
        self.row_is_v_s4.d.next = self.row_is_v_s3.q.val();
        // Stages 3 and 4: the rotated pair (first element in stage 3, second in stage 4),
        // v rows in stage 4: one element per cycle, in row order.
        self.in_valid.d.next = false;
        self.in_data.d.next = self.rot.y0.val();
        self.in_load.next = false;
        self.in_restart.next = false;
        if self.row_valid_s3.q.val() & !self.row_is_v_s3.q.val() & self.row_odd_s3.q.val() {
            self.in_load.next = true;
            self.in_data.d.next = self.rot.y0.val();
            self.in_restart.next = self.row_one_s3.q.val();
        }
        if self.row_valid_s4.q.val() & !self.row_is_v_s4.q.val() & self.row_odd_s4.q.val() {
            self.in_load.next = true;
            self.in_data.d.next = self.rot.y1.val();
        }
        if self.row_valid_s4.q.val() & self.row_is_v_s4.q.val() {
            self.in_load.next = true;
            self.in_data.d.next = self.row_data_s4.q.val();
        }
        self.in_valid.d.next = self.in_load.val();
        // The loaded element's place: element 0 of head 0 for the stream's first, else
        // the counters' (`in_elem`, `in_head`: the next element's), which move on.
        if self.in_restart.val() {
            self.in_elem_e.next = self.zero16.val();
            self.in_head_e.next = self.zero8.val();
        } else {
            self.in_elem_e.next = self.in_elem.q.val();
            self.in_head_e.next = self.in_head.q.val();
        }
        if self.in_load.val() {
            self.in_e.d.next = self.in_elem_e.val();
            self.in_h.d.next = self.in_head_e.val();
            self.in_last.d.next = self.in_elem_e.val() == self.hd_m1.val();
            self.in_first.d.next = self.in_elem_e.val() == self.zero16.val();
            self.in_half.d.next = self.in_head_e.val().get_bit(0);
            self.in_wide.d.next = self.in_head_e.val() < self.nh8.val();
            if self.in_elem_e.val() == self.hd_m1.val() {
                self.in_elem.d.next = self.zero16.val();
                self.in_head.d.next = self.in_head_e.val() + self.one8.val();
            } else {
                self.in_elem.d.next = self.in_elem_e.val() + self.one16.val();
                self.in_head.d.next = self.in_head_e.val();
            }
        }
        // Each head: max scan in blocker (head & 1) while it is written to half (head & 1)
        // of the buffer.
        self.head_buf.we.next = self.in_valid.q.val();
        self.head_buf.wlane.next = self.zero8.val();
        self.head_buf.wdata.next = unsigned_cast(self.in_data.q.val());
        if self.in_half.q.val() {
            self.head_buf.waddr.next = self.half16.val() | self.in_e.q.val();
        } else {
            self.head_buf.waddr.next = self.in_e.q.val();
        }
        self.blk0.en_scan.next = self.in_valid.q.val() & !self.in_half.q.val();
        self.blk1.en_scan.next = self.in_valid.q.val() & self.in_half.q.val();
        self.blk0.first.next = self.in_first.q.val();
        self.blk1.first.next = self.in_first.q.val();
        self.blk0.x.next = self.in_data.q.val();
        self.blk1.x.next = self.in_data.q.val();
        self.blk0.wide.next = self.in_wide.q.val();
        self.blk1.wide.next = self.in_wide.q.val();
        self.blk0.xq.next = signed_cast(self.head_buf.rdata[0].val());
        self.blk1.xq.next = signed_cast(self.head_buf.rdata[0].val());
        self.blk0.en_q.next = false;
        self.blk1.en_q.next = false;
        // Conversion of a complete head: its elements read back one per cycle (the first
        // in the cycle its last element arrives), quantised one cycle later.
        self.rd_valid_s1.d.next = false;
        self.rd_half_s1.d.next = self.rd_half.q.val();
        self.rd_elem_s1.d.next = self.rd_elem.q.val();
        self.rd_head_s1.d.next = self.rd_head.q.val();
        if self.rd_half.q.val() {
            self.head_buf.raddr.next = self.half16.val() | self.rd_elem.q.val();
        } else {
            self.head_buf.raddr.next = self.rd_elem.q.val();
        }
        if self.rd_active.q.val() {
            self.rd_valid_s1.d.next = true;
            self.rd_elem.d.next = self.rd_elem.q.val() + self.one16.val();
            if self.rd_elem.q.val() == self.hd_m1.val() {
                self.rd_active.d.next = false;
            }
        }
        if self.in_valid.q.val() & self.in_last.q.val() {
            self.rd_valid_s1.d.next = true;
            self.rd_half_s1.d.next = self.in_half.q.val();
            self.rd_elem_s1.d.next = self.zero16.val();
            self.rd_head_s1.d.next = self.in_h.q.val();
            self.rd_active.d.next = true;
            self.rd_elem.d.next = self.one16.val();
            self.rd_half.d.next = self.in_half.q.val();
            self.rd_head.d.next = self.in_h.q.val();
            if self.in_half.q.val() {
                self.head_buf.raddr.next = self.half16.val();
            } else {
                self.head_buf.raddr.next = self.zero16.val();
            }
        }
        self.rd_valid_s2.d.next = self.rd_valid_s1.q.val();
        self.rd_half_s2.d.next = self.rd_half_s1.q.val();
        self.rd_elem_s2.d.next = self.rd_elem_s1.q.val();
        self.rd_head_s2.d.next = self.rd_head_s1.q.val();
        self.rd_valid_s3.d.next = self.rd_valid_s2.q.val();
        self.rd_half_s3.d.next = self.rd_half_s2.q.val();
        self.rd_elem_s3.d.next = self.rd_elem_s2.q.val();
        self.rd_head_s3.d.next = self.rd_head_s2.q.val();
        self.rd_valid_s4.d.next = self.rd_valid_s3.q.val();
        self.rd_half_s4.d.next = self.rd_half_s3.q.val();
        self.rd_elem_s4.d.next = self.rd_elem_s3.q.val();
        self.rd_head_s4.d.next = self.rd_head_s3.q.val();
        self.rd_valid_s5.d.next = self.rd_valid_s4.q.val();
        self.rd_half_s5.d.next = self.rd_half_s4.q.val();
        self.rd_elem_s5.d.next = self.rd_elem_s4.q.val();
        self.rd_head_s5.d.next = self.rd_head_s4.q.val();
        self.rd_valid_s6.d.next = self.rd_valid_s5.q.val();
        self.rd_half_s6.d.next = self.rd_half_s5.q.val();
        self.rd_elem_s6.d.next = self.rd_elem_s5.q.val();
        self.rd_e0_s6.d.next = self.rd_elem_s5.q.val() == self.zero16.val();
        self.rd_el_s6.d.next = self.rd_elem_s5.q.val() == self.hd_m1.val();
        self.rd_q_s6.d.next = self.rd_head_s5.q.val() < self.nh8.val();
        self.rd_v_s6.d.next = self.rd_head_s5.q.val() >= self.v_head0.val();
        self.rd_z_s6.d.next = (self.rd_head_s5.q.val() == self.zero8.val())
            & (self.rd_elem_s5.q.val() == self.zero16.val());
        self.rd_f0_s6.d.next = ((self.rd_head_s5.q.val() == self.nh8.val())
            | (self.rd_head_s5.q.val() == self.v_head0.val()))
            & (self.rd_elem_s5.q.val() == self.zero16.val());
        self.rd_lh_s6.d.next = self.rd_head_s5.q.val() == self.last_head.val();
        if self.rd_head_s5.q.val() >= self.v_head0.val() {
            self.rd_sf_s6.d.next = self.rd_head_s5.q.val() - self.v_head0.val();
        } else {
            self.rd_sf_s6.d.next = self.rd_head_s5.q.val() - self.nh8.val();
        }
        if self.rd_valid_s1.q.val() {
            if self.rd_half_s1.q.val() {
                self.blk1.en_q.next = true;
            } else {
                self.blk0.en_q.next = true;
            }
        }
        // The converted element: q to the bank, k / v to the cache staging.
        if self.rd_half_s6.q.val() {
            self.conv_y16.next = self.blk1.y16.val();
            self.conv_y11.next = self.blk1.y11.val();
            self.conv_shift.next = self.blk1.shift.val();
        } else {
            self.conv_y16.next = self.blk0.y16.val();
            self.conv_y11.next = self.blk0.y11.val();
            self.conv_shift.next = self.blk0.shift.val();
        }
        self.bh_last_e.next = self.bh_last.q.val();
        if self.rd_z_s6.q.val() {
            self.bh_last_e.next = self.g_one.val();
            self.bank_lane_e.next = self.zero16.val();
            self.bank_head_e.next = self.zero8.val();
            self.bank_group_e.next = self.zero8.val();
        } else {
            self.bank_lane_e.next = self.bank_lane_r.q.val();
            self.bank_head_e.next = self.bank_head_r.q.val();
            self.bank_group_e.next = self.bank_group_r.q.val();
        }
        if self.rd_f0_s6.q.val() {
            self.field_e.next = self.zero16.val();
        } else {
            self.field_e.next = self.field_r.q.val();
        }
        // q bank port.
        self.bank_we.next = false;
        self.bank_shift_we.next = false;
        self.bank_group.next = self.bank_group_e.val();
        self.bank_lane.next = self.bank_lane_e.val() + self.rd_elem_s6.q.val();
        self.bank_data.next = self.conv_y16.val();
        self.bank_shift_head.next = self.bank_head_e.val();
        self.bank_shift.next = self.conv_shift.val();
        // Cache staging port.
        self.cache_push.next = false;
        self.cache_shift_push.next = false;
        self.cache_commit.next = false;
        self.cache_is_v.next = self.rd_v_s6.q.val();
        self.cache_field.next = self.field_e.val();
        self.cache_data.next = self.conv_y11.val();
        self.cache_shift_field.next = self.rd_sf_s6.q.val();
        self.cache_shift.next = self.conv_shift.val();
        self.cache_waddr.next = self.stream_word.q.val();
        if self.rd_valid_s6.q.val() {
            if self.rd_q_s6.q.val() {
                self.bank_we.next = true;
                self.bank_shift_we.next = self.rd_e0_s6.q.val();
                self.bank_lane_r.d.next = self.bank_lane_e.val();
                self.bank_head_r.d.next = self.bank_head_e.val();
                self.bank_group_r.d.next = self.bank_group_e.val();
                self.bh_last.d.next = self.bh_last_e.val();
                if self.rd_el_s6.q.val() {
                    if self.bh_last_e.val() {
                        self.bank_lane_r.d.next = self.zero16.val();
                        self.bank_head_r.d.next = self.zero8.val();
                        self.bank_group_r.d.next = self.bank_group_e.val() + self.one8.val();
                        self.bh_last.d.next = self.g_one.val();
                    } else {
                        self.bank_lane_r.d.next = self.bank_lane_e.val() + self.hd16.val();
                        self.bank_head_r.d.next = self.bank_head_e.val() + self.one8.val();
                        self.bh_last.d.next =
                            (self.bank_head_e.val() + self.one8.val()) == self.g_m1.val();
                    }
                }
            } else {
                self.cache_push.next = true;
                self.field_r.d.next = self.field_e.val() + self.one16.val();
                self.cache_shift_push.next = self.rd_e0_s6.q.val();
                if self.rd_lh_s6.q.val() & self.rd_el_s6.q.val() {
                    self.cache_commit.next = !self.stream_bad.q.val();
                }
            }
        }
    }
}
