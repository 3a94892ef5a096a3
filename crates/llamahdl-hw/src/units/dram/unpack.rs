//! `Unpack<L, DW>`: the byte-level datapath of the weight-stream router
//! ([`super::router::StreamRouter`]): bus words of `DW` bits in, `L`-lane beats with their
//! row's scale out through a four-entry queue, and RMSNorm gain groups.
//!
//! `W = DW / 8` bytes a bus word, `K = L / W` bus words a beat (`L >= W`, `DW >= 128`);
//! a gain group is [`GROUP`] int16 gains (128 bits), `DW / 128` groups a bus word. The
//! router's control decides, each cycle, what the word on `word` is; this block only
//! moves bytes. Every output comes from a register or from a four-way choice of
//! registers.
//!
//! # Interface
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `clock`, `reset` | in | clock, 1 | `reset` empties the queue (synchronous) |
//! | `word` | in | `DW` | the bus word (byte `j` in bits `8j+7..8j`) |
//! | `gather` | in | 1 | `word` is one of a beat's first `K - 1` words: kept |
//! | `push` | in | 1 | `word` is a beat's last word: the beat (the kept words, then `word`; lane `i` is byte `i`) is queued with the scale register's low 16 bits (mantissa, exponent). The caller checks `level < 4` |
//! | `scale_ld` | in | 1 | load the scale register with `word` (a block's prefix word) |
//! | `scale_next` | in | 1 | shift the scale register down by 16 bits (the next row's scale; `scale_ld` wins) |
//! | `g_ld`, `g_next` | in | 1, 1 | load the gains register with `word`; shift it down by 128 bits (`g_ld` wins) |
//! | `pop` | in | 1 | the head entry is taken (ignored while the queue is empty) |
//! | `head`, `head_mant`, `head_exp` | out | `L` × 8, 8, 8 | the oldest queued beat and its scale |
//! | `valid`, `level` | out | 1, 3 | the queue is not empty; entries queued (0..=4) |
//! | `sc_lo` | out | 8 | the scale register's low byte (a gains prefix word's exponent) |
//! | `gains` | out | [`GROUP`] × 16 | the gains register's low 128 bits, gain `j` in bits `16j+15..16j` |
//!
//! # Timing
//! A beat pushed at the edge ending cycle `t` is at the head (if the queue was empty) from
//! cycle `t + 1`; a pop at the edge ending `t` shows the next entry from `t + 1`. `level`
//! and `valid` are registers. Registers loaded at an edge show their value from the next
//! cycle.

use crate::bits::bytes_of_bits;
use rust_hdl::prelude::*;
use std::collections::VecDeque;

/// Int16 gains in a group (one write of the RMSNorm unit's gains memory).
pub const GROUP: usize = 8;
/// Entries of the beat queue.
pub const DEPTH: usize = 4;

type Entry<const L: usize> = ([i8; L], u8, i8);

#[derive(LogicBlock)]
pub struct Unpack<const L: usize, const DW: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub word: Signal<In, Bits<DW>>,
    pub gather: Signal<In, Bit>,
    pub push: Signal<In, Bit>,
    pub scale_ld: Signal<In, Bit>,
    pub scale_next: Signal<In, Bit>,
    pub g_ld: Signal<In, Bit>,
    pub g_next: Signal<In, Bit>,
    pub pop: Signal<In, Bit>,
    pub head: [Signal<Out, Signed<8>>; L],
    pub head_mant: Signal<Out, Bits<8>>,
    pub head_exp: Signal<Out, Signed<8>>,
    pub valid: Signal<Out, Bit>,
    pub level: Signal<Out, Bits<3>>,
    pub sc_lo: Signal<Out, Bits<8>>,
    pub gains: [Signal<Out, Bits<16>>; GROUP],
    _q: VecDeque<Entry<L>>,
    /// The kept words of the beat being gathered, `(K - 1) · W` bytes, oldest first.
    _gat: Vec<u8>,
    _sc: Vec<u8>,
    _gr: Vec<u8>,
}

impl<const L: usize, const DW: usize> Default for Unpack<L, DW> {
    fn default() -> Self {
        assert!(
            [128, 256, 512].contains(&DW) && L >= DW / 8 && L % (DW / 8) == 0,
            "Unpack: DW = {DW} must be 128, 256 or 512 and L = {L} a multiple of DW / 8"
        );
        Self {
            clock: Default::default(),
            reset: Default::default(),
            word: Default::default(),
            gather: Default::default(),
            push: Default::default(),
            scale_ld: Default::default(),
            scale_next: Default::default(),
            g_ld: Default::default(),
            g_next: Default::default(),
            pop: Default::default(),
            head: array_init::array_init(|_| Signal::new_with_default(Signed::default())),
            head_mant: Signal::new_with_default(Bits::default()),
            head_exp: Signal::new_with_default(Signed::default()),
            valid: Signal::new_with_default(false),
            level: Signal::new_with_default(Bits::default()),
            sc_lo: Signal::new_with_default(Bits::default()),
            gains: array_init::array_init(|_| Signal::new_with_default(Bits::default())),
            _q: VecDeque::new(),
            _gat: vec![0; L - DW / 8],
            _sc: vec![0; DW / 8],
            _gr: vec![0; DW / 8],
        }
    }
}

/// `v` shifted down by `n` bytes, zero-filled.
fn shift_down(v: &mut [u8], n: usize) {
    let len = v.len();
    v.copy_within(n.., 0);
    v[len - n..].fill(0);
}

impl<const L: usize, const DW: usize> Logic for Unpack<L, DW> {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        let w = DW / 8;
        let need = self.gather.val() | self.push.val() | self.scale_ld.val() | self.g_ld.val();
        let word = if need {
            bytes_of_bits(self.word.val())
        } else {
            vec![]
        };
        if self.pop.val() {
            self._q.pop_front();
        }
        if self.push.val() {
            let mut beat = [0i8; L];
            for (i, b) in beat.iter_mut().enumerate() {
                *b = if i < L - w {
                    self._gat[i] as i8
                } else {
                    word[i - (L - w)] as i8
                };
            }
            self._q.push_back((beat, self._sc[0], self._sc[1] as i8));
        }
        if self.gather.val() && L > w {
            shift_down(&mut self._gat, w);
            let n = self._gat.len();
            self._gat[n - w..].copy_from_slice(&word);
        }
        if self.scale_ld.val() {
            self._sc.copy_from_slice(&word);
        } else if self.scale_next.val() {
            shift_down(&mut self._sc, 2);
        }
        if self.g_ld.val() {
            self._gr.copy_from_slice(&word);
        } else if self.g_next.val() {
            shift_down(&mut self._gr, 2 * GROUP);
        }
        if self.reset.val() {
            self._q.clear();
        }
        // (The queue never holds more than DEPTH: the caller checks `level`.)
        assert!(self._q.len() <= DEPTH, "Unpack: push into a full queue");
        let (beat, m, e) = self._q.front().copied().unwrap_or(([0; L], 0, 0));
        for (s, v) in self.head.iter_mut().zip(beat) {
            s.next = (v as i64).into();
        }
        self.head_mant.next = (m as u64).into();
        self.head_exp.next = (e as i64).into();
        self.valid.next = !self._q.is_empty();
        self.level.next = (self._q.len() as u64).into();
        self.sc_lo.next = (self._sc[0] as u64).into();
        for (j, g) in self.gains.iter_mut().enumerate() {
            g.next = ((self._gr[2 * j] as u64) | (self._gr[2 * j + 1] as u64) << 8).into();
        }
    }

    fn connect(&mut self) {
        for s in &mut self.head {
            s.connect();
        }
        self.head_mant.connect();
        self.head_exp.connect();
        self.valid.connect();
        self.level.connect();
        self.sc_lo.connect();
        for g in &mut self.gains {
            g.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        let w = DW / 8;
        let k = L / w;
        let eb = 8 * L + 16; // entry bits: beat, then mantissa, exponent
        let mut s = String::new();
        for i in 0..DEPTH {
            s += &format!("reg [{}:0] q{i};\n", eb - 1);
        }
        s += &format!("reg [{}:0] sc;\nreg [{}:0] gr;\n", DW - 1, DW - 1);
        s += "reg [1:0] rp;\nreg [1:0] wp;\nreg [2:0] cnt;\n";
        if k > 1 {
            s += &format!("reg [{}:0] gat;\n", DW * (k - 1) - 1);
        }
        s += &format!("reg [{}:0] hd;\n", eb - 1);
        s += "initial begin\n   rp = 2'd0; wp = 2'd0; cnt = 3'd0;\n";
        s += &format!("   sc = {DW}'d0; gr = {DW}'d0;\n");
        for i in 0..DEPTH {
            s += &format!("   q{i} = {eb}'d0;\n");
        }
        if k > 1 {
            s += &format!("   gat = {}'d0;\n", DW * (k - 1));
        }
        s += "end\n";
        // The entry being pushed: the kept words below `word`, the scale above.
        let beat = if k > 1 {
            "{sc[15:8], sc[7:0], word, gat}".to_string()
        } else {
            "{sc[15:8], sc[7:0], word}".to_string()
        };
        s += &format!("wire [{}:0] ent = {beat};\n", eb - 1);
        s += "wire do_pop = pop & (cnt != 3'd0);\n";
        s += "always @(posedge clock) begin\n";
        s += "   if (reset) begin\n      rp <= 2'd0; wp <= 2'd0; cnt <= 3'd0;\n   end else begin\n";
        s += "      if (do_pop) rp <= rp + 2'd1;\n      if (push) wp <= wp + 2'd1;\n";
        s += "      cnt <= cnt + {2'd0, push} - {2'd0, do_pop};\n   end\n";
        for i in 0..DEPTH {
            s += &format!("   if (push & (wp == 2'd{i})) q{i} <= ent;\n");
        }
        if k > 2 {
            s += &format!(
                "   if (gather) gat <= {{word, gat[{}:{DW}]}};\n",
                DW * (k - 1) - 1
            );
        } else if k == 2 {
            s += "   if (gather) gat <= word;\n";
        }
        s += &format!(
            "   if (scale_ld) sc <= word;\n   else if (scale_next) sc <= {{16'd0, sc[{}:16]}};\n",
            DW - 1
        );
        if DW > 128 {
            s += &format!(
                "   if (g_ld) gr <= word;\n   else if (g_next) gr <= {{128'd0, gr[{}:128]}};\n",
                DW - 1
            );
        } else {
            s += "   if (g_ld) gr <= word;\n   else if (g_next) gr <= 128'd0;\n";
        }
        s += "end\n";
        if k == 1 {
            // A beat is one word: nothing is gathered.
            s += "/* verilator lint_off UNUSEDSIGNAL */\nwire unused_gather = gather;\n/* verilator lint_on UNUSEDSIGNAL */\n";
        }
        s += "always @(*) begin\n   case (rp)\n";
        for i in 0..DEPTH {
            s += &format!("      2'd{i}: hd = q{i};\n");
        }
        s += "      default: hd = q0;\n   endcase\nend\n";
        for i in 0..L {
            s += &format!("always @(*) head${i} = hd[{}:{}];\n", 8 * i + 7, 8 * i);
        }
        s += &format!(
            "always @(*) head_mant = hd[{}:{}];\nalways @(*) head_exp = hd[{}:{}];\n",
            8 * L + 7,
            8 * L,
            8 * L + 15,
            8 * L + 8
        );
        s += "always @(*) valid = cnt != 3'd0;\nalways @(*) level = cnt;\n";
        s += "always @(*) sc_lo = sc[7:0];\n";
        for j in 0..GROUP {
            s += &format!("always @(*) gains${j} = gr[{}:{}];\n", 16 * j + 15, 16 * j);
        }
        Verilog::Custom(s)
    }
}
