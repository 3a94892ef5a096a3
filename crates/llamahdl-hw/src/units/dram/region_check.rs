//! The region CRC check of the weight stream: [`CrcTable`] keeps every region's CRC-32
//! from the image's region table (read once after the header), and [`StreamCheck`]
//! computes the CRC-32 of every region as its words pass on the way to the router and
//! compares it with the table's, region by region, token after token.
//!
//! The per-token stream is a fixed sequence of segments ([`segments`]): the token's
//! embedding block (a part of a region: not checked), every region from layer 0's
//! `rms_att` to `rms_final`, and the classifier (its region, or the whole embedding
//! region when the classifier is shared). Their lengths in bus words follow from the
//! image layout, so the check counts words and needs nothing from the router.
//!
//! # `CrcTable<DW>` interface
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `clock`, `reset` | in | clock, 1 | `reset` restarts the word count (synchronous) |
//! | `we`, `word` | in | 1, `DW` | the next word of the region table (from byte 128 of the image) |
//! | `full` | out | 1 | every table word has been taken (a register) |
//! | `raddr`, `rdata` | in, out | 8, 32 | region `raddr`'s CRC-32, registered (from the next cycle) |
//!
//! Entry `i`'s CRC is table bytes `48 i + 40 .. 48 i + 44`, which never straddle a
//! 16-byte boundary: each table word holds at most `ceil(W / 48)` of them, at offsets
//! fixed at generation time (a `case` on the word count).
//!
//! # `StreamCheck<DW>` interface
//!
//! | port | dir | width | meaning |
//! |------|-----|-------|---------|
//! | `clock`, `reset` | in | clock, 1 | `reset`: back to the first segment, CRCs and error cleared |
//! | `take`, `word` | in | 1, `DW` | a word of the stream goes to the router in this cycle |
//! | `exp_idx`, `exp_crc` | out, in | 8, 32 | the table index of the current segment's region; its CRC (registered read of a [`CrcTable`]) |
//! | `error` | out | 1 | sticky: a region's CRC differed |
//! | `bad_region` | out | 8 | the first such region's table index (valid with `error`) |
//!
//! Timing: the segment's last word taken in cycle `t`, its CRC is compared in cycle `t + 1`
//! and `error` is high from `t + 2`. Two CRC units take turns (even and odd segments), so
//! a segment's first word can follow the previous one's last word at once.

use super::crc::Crc32Word;
use crate::bits::bytes_of_bits;
use crate::leaf::WordRom;
use llamahdl_image::format::Region;
use rust_hdl::prelude::*;

/// Width of a region index.
pub const IDX_BITS: usize = 8;

/// One segment of the per-token stream: bus words, the region's table index, whether it
/// is a whole region (checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub words: u64,
    pub index: usize,
    pub check: bool,
}

/// The per-token stream's segments for the image plan's `regions`, bus words of `word`
/// bytes.
pub fn segments(regions: &[Region], word: usize, shared: bool) -> Vec<Segment> {
    let w = word as u64;
    let emb = &regions[0];
    let mut v = vec![Segment {
        words: emb.block_stride as u64 / w,
        index: 0,
        check: false,
    }];
    let last = if shared {
        regions.len()
    } else {
        regions.len() - 1
    };
    for (i, r) in regions.iter().enumerate().take(last).skip(1) {
        v.push(Segment {
            words: r.length / w,
            index: i,
            check: true,
        });
    }
    let (ci, c) = if shared {
        (0, emb)
    } else {
        (last, &regions[last])
    };
    v.push(Segment {
        words: c.length / w,
        index: ci,
        check: true,
    });
    v
}

/// The region table's CRC fields. See the [module docs](self).
#[derive(LogicBlock)]
pub struct CrcTable<const DW: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub we: Signal<In, Bit>,
    pub word: Signal<In, Bits<DW>>,
    pub full: Signal<Out, Bit>,
    pub raddr: Signal<In, Bits<IDX_BITS>>,
    pub rdata: Signal<Out, Bits<32>>,
    _regions: usize,
    _words: usize,
    _k: usize,
    _mem: Vec<u32>,
}

impl<const DW: usize> CrcTable<DW> {
    /// A table of `regions` entries, `words` bus words (the table and its padding).
    pub fn new(regions: usize, words: usize) -> Self {
        assert!(regions >= 1 && regions < 1 << IDX_BITS, "CrcTable: regions");
        assert!(words >= 1 && words < 1 << 16, "CrcTable: words");
        Self {
            clock: Default::default(),
            reset: Default::default(),
            we: Default::default(),
            word: Default::default(),
            full: Signal::new_with_default(false),
            raddr: Default::default(),
            rdata: Signal::new_with_default(Bits::default()),
            _regions: regions,
            _words: words,
            _k: 0,
            _mem: vec![0; regions],
        }
    }

    /// `(word, byte offset in it, region)` of every CRC field.
    fn fields(&self) -> Vec<(usize, usize, usize)> {
        let w = DW / 8;
        (0..self._regions)
            .map(|i| {
                let b = 48 * i + 40;
                (b / w, b % w, i)
            })
            .collect()
    }
}

impl<const DW: usize> Logic for CrcTable<DW> {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        let r = self.raddr.val().index();
        self.rdata.next = (self._mem.get(r).copied().unwrap_or(0) as u64).into();
        if self.reset.val() {
            self._k = 0;
        } else if self.we.val() && self._k < self._words {
            let bytes = bytes_of_bits(self.word.val());
            for (k, o, i) in self.fields() {
                if k == self._k {
                    self._mem[i] = u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
                }
            }
            self._k += 1;
        }
        self.full.next = self._k >= self._words;
    }

    fn connect(&mut self) {
        self.full.connect();
        self.rdata.connect();
    }

    fn hdl(&self) -> Verilog {
        // (256 entries, one per index value: the index needs no range check.)
        let mut s = String::from("reg [31:0] mem [0:255];\nreg [15:0] k;\n");
        s += "integer i;\ninitial begin\n   k = 16'd0;\n   rdata = 32'd0;\n";
        s += "   for (i = 0; i < 256; i = i + 1) mem[i] = 32'd0;\nend\n";
        // Only the CRC fields' bytes of a table word are used.
        s += "/* verilator lint_off UNUSEDSIGNAL */\nwire unused_word = &{1'b0, word};\n/* verilator lint_on UNUSEDSIGNAL */\n";
        s += &format!(
            "always @(*) full = k >= 16'd{};\nalways @(posedge clock) begin\n",
            self._words
        );
        s += "   rdata <= mem[raddr];\n";
        s += "   if (reset) k <= 16'd0;\n   else if (we & ~full) begin\n      k <= k + 16'd1;\n      case (k)\n";
        let f = self.fields();
        let mut ks: Vec<usize> = f.iter().map(|x| x.0).collect();
        ks.dedup();
        for k in ks {
            s += &format!("         16'd{k}: begin\n");
            for &(_, o, i) in f.iter().filter(|x| x.0 == k) {
                s += &format!("            mem[{i}] <= word[{}:{}];\n", 8 * o + 31, 8 * o);
            }
            s += "         end\n";
        }
        s += "         default: ;\n      endcase\n   end\nend\n";
        Verilog::Custom(s)
    }
}

/// The stream's region CRC check. See the [module docs](self).
#[derive(LogicBlock)]
pub struct StreamCheck<const DW: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub take: Signal<In, Bit>,
    pub word: Signal<In, Bits<DW>>,
    pub exp_idx: Signal<Out, Bits<IDX_BITS>>,
    pub exp_crc: Signal<In, Bits<32>>,
    pub error: Signal<Out, Bit>,
    pub bad_region: Signal<Out, Bits<IDX_BITS>>,
    crc0: Crc32Word<DW>,
    crc1: Crc32Word<DW>,
    /// Segments: words - 1 (low, high 16 bits), table index, check.
    prog: WordRom<4>,
    /// The ROM is being primed with segment 0 after reset (two cycles).
    prime: DFF<Bits<2>>,
    nseg: DFF<Bits<16>>,
    cur_lo: DFF<Bits<16>>,
    cur_hi: DFF<Bits<16>>,
    cur_idx: DFF<Bits<IDX_BITS>>,
    cur_chk: DFF<Bit>,
    par: DFF<Bit>,
    cnt: DFF<Bits<32>>,
    /// The segment that just ended: compare in this cycle.
    cmp: DFF<Bit>,
    cmp_par: DFF<Bit>,
    cmp_chk: DFF<Bit>,
    cmp_idx: DFF<Bits<IDX_BITS>>,
    err: DFF<Bit>,
    bad: DFF<Bits<IDX_BITS>>,
    last: Signal<Local, Bit>,
    got: Signal<Local, Bits<32>>,
    c_nsegs_m1: Constant<Bits<16>>,
    c_zero16: Constant<Bits<16>>,
    c_one16: Constant<Bits<16>>,
    c_zero32: Constant<Bits<32>>,
    c_one32: Constant<Bits<32>>,
    c_two2: Constant<Bits<2>>,
    c_one2: Constant<Bits<2>>,
    c_zero2: Constant<Bits<2>>,
}

impl<const DW: usize> StreamCheck<DW> {
    /// A check of the stream made of `segs` (see [`segments`]), repeated token after
    /// token.
    pub fn new(segs: &[Segment]) -> Self {
        assert!(segs.len() >= 2 && segs.len() < 1 << 16);
        let rom: Vec<[u16; 4]> = segs
            .iter()
            .map(|s| {
                assert!(
                    s.words >= 2 && s.words <= 1 << 32,
                    "segment of {} words",
                    s.words
                );
                assert!(s.index < 1 << IDX_BITS);
                let m = s.words - 1;
                [
                    (m & 0xFFFF) as u16,
                    (m >> 16) as u16,
                    s.index as u16,
                    s.check as u16,
                ]
            })
            .collect();
        let k16 = |v: u64| Constant::new(v.into());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            take: Default::default(),
            word: Default::default(),
            exp_idx: Default::default(),
            exp_crc: Default::default(),
            error: Default::default(),
            bad_region: Default::default(),
            crc0: Default::default(),
            crc1: Default::default(),
            c_nsegs_m1: k16(segs.len() as u64 - 1),
            prog: WordRom::new(rom),
            prime: Default::default(),
            nseg: Default::default(),
            cur_lo: Default::default(),
            cur_hi: Default::default(),
            cur_idx: Default::default(),
            cur_chk: Default::default(),
            par: Default::default(),
            cnt: Default::default(),
            cmp: Default::default(),
            cmp_par: Default::default(),
            cmp_chk: Default::default(),
            cmp_idx: Default::default(),
            err: Default::default(),
            bad: Default::default(),
            last: Default::default(),
            got: Default::default(),
            c_zero16: k16(0),
            c_one16: k16(1),
            c_zero32: Constant::new(0u64.into()),
            c_one32: Constant::new(1u64.into()),
            c_two2: Constant::new(2u64.into()),
            c_one2: Constant::new(1u64.into()),
            c_zero2: Constant::new(0u64.into()),
        }
    }
}

impl<const DW: usize> Logic for StreamCheck<DW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, prime, nseg, cur_lo, cur_hi, cur_idx, cur_chk, par, cnt, cmp, cmp_par,
            cmp_chk, cmp_idx, err, bad
        );
        clock!(self, clock, crc0, crc1, prog);
        self.prog.addr.next = self.nseg.q.val();
        // After reset the ROM shows segment 0 two cycles later: it becomes the current
        // segment, and the ROM moves on to segment 1 (read ahead, as at every change).
        if self.prime.q.val() != self.c_two2.val() {
            self.prime.d.next = self.prime.q.val() + self.c_one2.val();
            if self.prime.q.val() == self.c_one2.val() {
                self.cur_lo.d.next = self.prog.data[0].val();
                self.cur_hi.d.next = self.prog.data[1].val();
                self.cur_idx.d.next = self.prog.data[2].val().get_bits::<8>(0);
                self.cur_chk.d.next = self.prog.data[3].val() != self.c_zero16.val();
                self.nseg.d.next = self.c_one16.val();
            }
        }
        // Words of the current segment into its CRC unit; its last word ends it.
        self.crc0.data.next = self.word.val();
        self.crc1.data.next = self.word.val();
        self.crc0.en.next = self.take.val() & !self.par.q.val();
        self.crc1.en.next = self.take.val() & self.par.q.val();
        self.crc0.clear.next = false;
        self.crc1.clear.next = false;
        self.last.next = self.take.val()
            & (self.cnt.q.val().get_bits::<16>(0) == self.cur_lo.q.val())
            & (self.cnt.q.val().get_bits::<16>(16) == self.cur_hi.q.val());
        self.cmp.d.next = self.last.val();
        if self.take.val() {
            self.cnt.d.next = self.cnt.q.val() + self.c_one32.val();
        }
        if self.last.val() {
            self.cnt.d.next = self.c_zero32.val();
            self.cmp_par.d.next = self.par.q.val();
            self.cmp_chk.d.next = self.cur_chk.q.val();
            self.cmp_idx.d.next = self.cur_idx.q.val();
            self.par.d.next = !self.par.q.val();
            self.cur_lo.d.next = self.prog.data[0].val();
            self.cur_hi.d.next = self.prog.data[1].val();
            self.cur_idx.d.next = self.prog.data[2].val().get_bits::<8>(0);
            self.cur_chk.d.next = self.prog.data[3].val() != self.c_zero16.val();
            if self.nseg.q.val() == self.c_nsegs_m1.val() {
                self.nseg.d.next = self.c_zero16.val();
            } else {
                self.nseg.d.next = self.nseg.q.val() + self.c_one16.val();
            }
        }
        // The cycle after a segment's last word: its CRC against the table's; that CRC
        // unit is cleared for the segment after next.
        if self.cmp_par.q.val() {
            self.got.next = self.crc1.crc.val();
        } else {
            self.got.next = self.crc0.crc.val();
        }
        if self.cmp.q.val() {
            if self.cmp_par.q.val() {
                self.crc1.clear.next = true;
            } else {
                self.crc0.clear.next = true;
            }
            if self.cmp_chk.q.val() & (self.got.val() != self.exp_crc.val()) & !self.err.q.val() {
                self.err.d.next = true;
                self.bad.d.next = self.cmp_idx.q.val();
            }
        }
        if self.reset.val() {
            self.prime.d.next = self.c_zero2.val();
            self.nseg.d.next = self.c_zero16.val();
            self.par.d.next = false;
            self.cnt.d.next = self.c_zero32.val();
            self.cmp.d.next = false;
            self.err.d.next = false;
            self.crc0.clear.next = true;
            self.crc1.clear.next = true;
        }
        self.exp_idx.next = self.cur_idx.q.val();
        self.error.next = self.err.q.val();
        self.bad_region.next = self.bad.q.val();
    }
}
