//! `StreamRouter<L, DW>`: turns the weight image's bus words, in the order the decoder
//! reads them, into the decoder's two streams: `L`-lane matrix beats with their row's
//! scale (for the matrix-vector unit) and RMSNorm gain groups (written into the RMSNorm
//! unit's gains memory).
//!
//! The router walks a script of the regions one token reads (`docs/image-format.md`):
//! the token's embedding block, every layer's `rms_att`, `wqkv`, `wo`, `rms_ffn`, `w1`,
//! `w3`, `w2`, then `rms_final` and the classifier (its own region, or the embedding
//! again), and starts over for the next token. The script is a ROM of one entry per
//! region, derived from the image layout at generation time ([`script`]); the words
//! arrive as three reads per token (the decoder's command issuer asks for them), but the
//! router only sees one stream and needs no addresses.
//!
//! - A matrix region is blocks of a prefix word (the block's row scales, 2 bytes each)
//!   and then its rows, `K = L / W` bus words a beat, `beats` beats a row. The prefix
//!   word goes into the scale register; each beat is queued with the current row's scale;
//!   after a row's last beat the scale register moves to the next row's.
//! - A gains region is a prefix word (its exponent in byte 0) and `words` bus words of
//!   int16 gains, written `DW / 128` groups of [`GROUP`] a word into bank `bank` of the
//!   gains memory (group `a` of the vector at address `bank · bank_groups + a`). The
//!   router starts a vector only while `g_free` is high (the decoder's RMSNorm unit is
//!   done with the bank), and pulses `g_done` with the exponent on `g_exp` after the
//!   vector's last write; the bank alternates from one vector to the next.
//!
//! # Interface
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `clock`, `reset` | in | clock, 1 | `reset`: back to the first region, queue emptied (synchronous) |
//! | `in_valid`, `in_data`, `in_ready` | in, in, out | 1, `DW`, 1 | the bus words; a word is taken in a cycle with `in_valid & in_ready` (`in_ready` depends on `in_valid`) |
//! | `st_valid`, `st_data`, `st_mant`, `st_exp` | out | 1, `L` × 8, 8, 8 | the beat queue's head: weights and row scale |
//! | `st_pop` | in | 1 | the head is taken |
//! | `g_we`, `g_waddr`, `g_data` | out | 1, 16, [`GROUP`] × 16 | a gain group write |
//! | `g_done`, `g_exp` | out | 1, 8 | a gain vector is complete (pulse), its exponent |
//! | `g_free` | in | 1 | a new gain vector may be written |
//! | `region` | out | 16 | the script entry being read (for status and tests) |
//!
//! # Timing
//! One bus word a cycle at most. A matrix word is taken when the beat queue has room
//! for the beat it completes (the queue's `level` is a register: no path from `st_pop`
//! to `in_ready`). A beat is at the head the cycle after its last word is taken. A
//! gains word is written over the next `DW / 128` cycles (one group a cycle; the next
//! word is taken in the last of them). Region changes cost two cycles (the script ROM's
//! read).

use super::unpack::{Unpack, GROUP};
use crate::bits::Addr;
use crate::leaf::WordRom;
use llamahdl_image::format::Region;
use rust_hdl::prelude::*;

/// Script entry fields.
pub const F_KIND: usize = 0;
pub const F_ROWS_M1: usize = 1;
pub const F_BEATS_M1: usize = 2;
pub const F_BLK_M1: usize = 3;
/// Script fields per entry.
pub const FIELDS: usize = 4;
/// `kind` of a matrix region (1: gains).
pub const KIND_MATRIX: u16 = 0;
pub const KIND_GAINS: u16 = 1;

/// The router's script for a token: `[kind, rows - 1, beats - 1 (a gains region: its
/// words - 1), block_rows - 1]` per region read, in order: the embedding block (one row),
/// every region from layer 0's `rms_att` to `rms_final`, the classifier (its region, or
/// the embedding's every row). `regions` is the image plan's table, `lanes` and `word`
/// (bytes) its layout.
pub fn script(regions: &[Region], lanes: usize, word: usize, shared: bool) -> Vec<[u16; FIELDS]> {
    let f = |v: u64| -> u16 {
        assert!(v < 1 << 16, "router script field {v} does not fit 16 bits");
        v as u16
    };
    let entry = |r: &Region, rows: u64| -> [u16; FIELDS] {
        if r.kind.is_gains() {
            [KIND_GAINS, 0, f(r.row_stride as u64 / word as u64 - 1), 0]
        } else {
            [
                KIND_MATRIX,
                f(rows - 1),
                f(r.row_stride as u64 / lanes as u64 - 1),
                f(r.block_rows as u64 - 1),
            ]
        }
    };
    let emb = &regions[0];
    let mut s = vec![entry(emb, 1)];
    let last = if shared {
        regions.len()
    } else {
        regions.len() - 1
    };
    for r in &regions[1..last] {
        s.push(entry(r, r.rows as u64));
    }
    if shared {
        s.push(entry(emb, emb.rows as u64));
    } else {
        let c = &regions[last];
        s.push(entry(c, c.rows as u64));
    }
    s
}

// Router states.
const S_FETCH: u64 = 0;
const S_LATCH: u64 = 1;
const S_PREFIX: u64 = 2;
const S_ROWS: u64 = 3;
const S_GAINS: u64 = 4;

#[derive(LogicBlock)]
pub struct StreamRouter<const L: usize, const DW: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub in_valid: Signal<In, Bit>,
    pub in_data: Signal<In, Bits<DW>>,
    pub in_ready: Signal<Out, Bit>,
    pub st_valid: Signal<Out, Bit>,
    pub st_data: [Signal<Out, Signed<8>>; L],
    pub st_mant: Signal<Out, Bits<8>>,
    pub st_exp: Signal<Out, Signed<8>>,
    pub st_pop: Signal<In, Bit>,
    pub g_we: Signal<Out, Bit>,
    pub g_waddr: Signal<Out, Addr>,
    pub g_data: [Signal<Out, Bits<16>>; GROUP],
    pub g_done: Signal<Out, Bit>,
    pub g_exp: Signal<Out, Signed<8>>,
    pub g_free: Signal<In, Bit>,
    pub region: Signal<Out, Addr>,
    unpack: Unpack<L, DW>,
    prog: WordRom<FIELDS>,
    state: DFF<Bits<3>>,
    entry: DFF<Addr>,
    kind_r: DFF<Bit>,
    rows_m1: DFF<Addr>,
    beats_m1: DFF<Addr>,
    blk_m1: DFF<Addr>,
    row: DFF<Addr>,
    rib: DFF<Addr>,
    beat: DFF<Addr>,
    wib: DFF<Addr>,
    /// Gains: words taken, groups left in the gains register, the write address, the
    /// bank, the last word taken.
    gw: DFF<Addr>,
    gcnt: DFF<Addr>,
    ga: DFF<Addr>,
    gbank: DFF<Bit>,
    glast: DFF<Bit>,
    take: Signal<Local, Bit>,
    row_end: Signal<Local, Bit>,
    region_end: Signal<Local, Bit>,
    gwrite: Signal<Local, Bit>,
    c_fetch: Constant<Bits<3>>,
    c_latch: Constant<Bits<3>>,
    c_prefix: Constant<Bits<3>>,
    c_rows: Constant<Bits<3>>,
    c_gains: Constant<Bits<3>>,
    c_last_entry: Constant<Addr>,
    c_k_m1: Constant<Addr>,
    c_groups: Constant<Addr>,
    c_bank_groups: Constant<Addr>,
    c_full: Constant<Bits<3>>,
    c_zero: Constant<Addr>,
    c_one: Constant<Addr>,
    c_kind_gains: Constant<Addr>,
}

impl<const L: usize, const DW: usize> StreamRouter<L, DW> {
    /// A router running `script` (see [`script`]), writing gain vectors into banks of
    /// `bank_groups` groups.
    pub fn new(script: Vec<[u16; FIELDS]>, bank_groups: usize) -> Self {
        assert!(!script.is_empty() && script.len() < 1 << 16);
        assert!(2 * bank_groups < 1 << 16);
        let k = |v: usize| Constant::new((v as u64).into());
        let c3 = |v: u64| Constant::new(v.into());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            in_valid: Default::default(),
            in_data: Default::default(),
            in_ready: Default::default(),
            st_valid: Default::default(),
            st_data: array_init::array_init(|_| Default::default()),
            st_mant: Default::default(),
            st_exp: Default::default(),
            st_pop: Default::default(),
            g_we: Default::default(),
            g_waddr: Default::default(),
            g_data: array_init::array_init(|_| Default::default()),
            g_done: Default::default(),
            g_exp: Default::default(),
            g_free: Default::default(),
            region: Default::default(),
            unpack: Default::default(),
            c_last_entry: k(script.len() - 1),
            prog: WordRom::new(script),
            state: Default::default(),
            entry: Default::default(),
            kind_r: Default::default(),
            rows_m1: Default::default(),
            beats_m1: Default::default(),
            blk_m1: Default::default(),
            row: Default::default(),
            rib: Default::default(),
            beat: Default::default(),
            wib: Default::default(),
            gw: Default::default(),
            gcnt: Default::default(),
            ga: Default::default(),
            gbank: Default::default(),
            glast: Default::default(),
            take: Default::default(),
            row_end: Default::default(),
            region_end: Default::default(),
            gwrite: Default::default(),
            c_fetch: c3(S_FETCH),
            c_latch: c3(S_LATCH),
            c_prefix: c3(S_PREFIX),
            c_rows: c3(S_ROWS),
            c_gains: c3(S_GAINS),
            c_k_m1: k(L / (DW / 8) - 1),
            c_groups: k(DW / 128),
            c_bank_groups: k(bank_groups),
            c_full: c3(super::unpack::DEPTH as u64),
            c_zero: k(0),
            c_one: k(1),
            c_kind_gains: k(KIND_GAINS as usize),
        }
    }
}

impl<const L: usize, const DW: usize> Logic for StreamRouter<L, DW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, entry, kind_r, rows_m1, beats_m1, blk_m1, row, rib, beat, wib, gw,
            gcnt, ga, gbank, glast
        );
        clock!(self, clock, unpack, prog);
        self.prog.addr.next = self.entry.q.val();
        self.unpack.reset.next = self.reset.val();
        self.unpack.word.next = self.in_data.val();
        self.unpack.pop.next = self.st_pop.val();
        // Defaults.
        self.take.next = false;
        self.row_end.next = false;
        self.region_end.next = false;
        self.gwrite.next = false;
        self.unpack.gather.next = false;
        self.unpack.push.next = false;
        self.unpack.scale_ld.next = false;
        self.unpack.scale_next.next = false;
        self.unpack.g_ld.next = false;
        self.unpack.g_next.next = false;
        self.g_done.next = false;
        // The script entry: the ROM reads `entry` in FETCH, its fields are latched in
        // LATCH.
        if self.state.q.val() == self.c_fetch.val() {
            self.state.d.next = self.c_latch.val();
        }
        if self.state.q.val() == self.c_latch.val() {
            // (Fields F_KIND, F_ROWS_M1, F_BEATS_M1, F_BLK_M1: hdl_gen takes literal indices.)
            self.kind_r.d.next = self.prog.data[0].val() == self.c_kind_gains.val();
            self.rows_m1.d.next = self.prog.data[1].val();
            self.beats_m1.d.next = self.prog.data[2].val();
            self.blk_m1.d.next = self.prog.data[3].val();
            self.row.d.next = self.c_zero.val();
            self.state.d.next = self.c_prefix.val();
        }
        // A block's prefix word (a gains region's: only while the decoder frees a bank).
        if self.state.q.val() == self.c_prefix.val() {
            self.take.next = self.in_valid.val() & (!self.kind_r.q.val() | self.g_free.val());
            if self.take.val() {
                self.unpack.scale_ld.next = true;
                self.rib.d.next = self.c_zero.val();
                self.beat.d.next = self.c_zero.val();
                self.wib.d.next = self.c_zero.val();
                self.gw.d.next = self.c_zero.val();
                self.gcnt.d.next = self.c_zero.val();
                self.glast.d.next = false;
                if self.gbank.q.val() {
                    self.ga.d.next = self.c_bank_groups.val();
                } else {
                    self.ga.d.next = self.c_zero.val();
                }
                if self.kind_r.q.val() {
                    self.state.d.next = self.c_gains.val();
                } else {
                    self.state.d.next = self.c_rows.val();
                }
            }
        }
        // Matrix rows: gather K words a beat, queue the beat with the row's scale.
        if self.state.q.val() == self.c_rows.val() {
            self.take.next = self.in_valid.val()
                & ((self.wib.q.val() != self.c_k_m1.val())
                    | (self.unpack.level.val() != self.c_full.val()));
            if self.take.val() {
                if self.wib.q.val() == self.c_k_m1.val() {
                    self.unpack.push.next = true;
                    self.wib.d.next = self.c_zero.val();
                    if self.beat.q.val() == self.beats_m1.q.val() {
                        self.row_end.next = true;
                        self.beat.d.next = self.c_zero.val();
                    } else {
                        self.beat.d.next = self.beat.q.val() + self.c_one.val();
                    }
                } else {
                    self.unpack.gather.next = true;
                    self.wib.d.next = self.wib.q.val() + self.c_one.val();
                }
            }
            if self.row_end.val() {
                self.unpack.scale_next.next = true;
                self.row.d.next = self.row.q.val() + self.c_one.val();
                if self.row.q.val() == self.rows_m1.q.val() {
                    self.region_end.next = true;
                } else if self.rib.q.val() == self.blk_m1.q.val() {
                    self.state.d.next = self.c_prefix.val();
                } else {
                    self.rib.d.next = self.rib.q.val() + self.c_one.val();
                }
            }
        }
        // Gains: each word into the gains register, then one group a cycle into the
        // gains memory; the next word is taken with the last group's write.
        if self.state.q.val() == self.c_gains.val() {
            self.gwrite.next = self.gcnt.q.val() != self.c_zero.val();
            self.take.next = self.in_valid.val()
                & !self.glast.q.val()
                & ((self.gcnt.q.val() == self.c_zero.val())
                    | (self.gcnt.q.val() == self.c_one.val()));
            if self.gwrite.val() {
                self.unpack.g_next.next = true;
                self.ga.d.next = self.ga.q.val() + self.c_one.val();
                self.gcnt.d.next = self.gcnt.q.val() - self.c_one.val();
            }
            if self.take.val() {
                self.unpack.g_ld.next = true;
                self.gcnt.d.next = self.c_groups.val();
                self.gw.d.next = self.gw.q.val() + self.c_one.val();
                if self.gw.q.val() == self.beats_m1.q.val() {
                    self.glast.d.next = true;
                }
            }
            if self.glast.q.val() & (self.gcnt.q.val() == self.c_zero.val()) {
                self.g_done.next = true;
                self.gbank.d.next = !self.gbank.q.val();
                self.region_end.next = true;
            }
        }
        if self.region_end.val() {
            if self.entry.q.val() == self.c_last_entry.val() {
                self.entry.d.next = self.c_zero.val();
            } else {
                self.entry.d.next = self.entry.q.val() + self.c_one.val();
            }
            self.state.d.next = self.c_fetch.val();
        }
        if self.reset.val() {
            self.entry.d.next = self.c_zero.val();
            self.state.d.next = self.c_fetch.val();
            self.gbank.d.next = false;
        }
        self.in_ready.next = self.take.val();
        self.g_we.next = self.gwrite.val();
        self.g_waddr.next = self.ga.q.val();
        for j in 0..GROUP {
            self.g_data[j].next = self.unpack.gains[j].val();
        }
        self.g_exp.next = signed_cast(self.unpack.sc_lo.val());
        self.st_valid.next = self.unpack.valid.val();
        for i in 0..L {
            self.st_data[i].next = self.unpack.head[i].val();
        }
        self.st_mant.next = self.unpack.head_mant.val();
        self.st_exp.next = self.unpack.head_exp.val();
        self.region.next = self.entry.q.val();
    }
}
