//! The key/value cache of the attention unit ([`KvCacheW`]): one wide word per (layer,
//! position) holding every kv head, written whole from staging registers, read with the
//! lanes routed to their query heads. A hand-written leaf (native `update()` plus a
//! Verilog body), co-simulated in `tests/attention.rs`.

use crate::bits::{index_bits, sext, u2b, Addr};
use rust_hdl::prelude::*;

/// Edges from a read address (`raddr`, `rv`, `grp`) to its routed words on the outputs.
pub const READ_LATENCY: usize = 3;

/// Lane routing of the key/value cache for one group (or one chunk of a head): for each
/// lane, the kv head it reads and the field of the word (or none).
type Route = Vec<Option<(usize, usize)>>;

/// One registered read of [`KvCacheW`]: the four words, the value select and the group.
#[derive(Clone)]
struct ReadStage {
    k: Vec<u64>,
    v: Vec<u64>,
    ks: Vec<u64>,
    vs: Vec<u64>,
    sel: bool,
    grp: usize,
}

impl ReadStage {
    fn new(kvd: usize, nkv: usize) -> Self {
        Self {
            k: vec![0; kvd],
            v: vec![0; kvd],
            ks: vec![0; nkv],
            vs: vec![0; nkv],
            sel: false,
            grp: 0,
        }
    }
}

/// Native state of [`KvCacheW`].
struct KvState {
    depth: usize,
    kvd: usize,
    nkv: usize,
    /// `route[group][lane]`: the kv head of the lane's query head and the word's field.
    route: Vec<Route>,
    k: Vec<u64>,
    v: Vec<u64>,
    ks: Vec<u64>,
    vs: Vec<u64>,
    /// Staging: the position being stored.
    kst: Vec<u64>,
    vst: Vec<u64>,
    kss: Vec<u64>,
    vss: Vec<u64>,
    /// The block RAMs' read registers (with `rv` and `grp`), then the same registered once
    /// more in the fabric (the routing stage's inputs).
    r1: ReadStage,
    r2: ReadStage,
    /// The pushes of the last cycle (registered inputs): (push, pv, field, data) and
    /// (spush, spv, sfield, sdata).
    pr: (bool, bool, usize, u64),
    spr: (bool, bool, usize, u64),
    /// The commit pipeline: (commit, waddr) of the last cycle and of the cycle before.
    cr: (bool, usize),
    crr: (bool, usize),
}

/// The key/value cache: four wide memories of `depth` words (word = one (layer,
/// position)): key mantissas and value mantissas (`kv_dim` fields of 11 bits, field
/// `kvh·head_dim + i` = element `i` of kv head `kvh`), key shifts and value shifts
/// (`n_kv` fields of 5 bits).
///
/// Write: staging registers collect one position: with `push`, field `pfield` of the key
/// (`pv` low) or value (`pv` high) staging word becomes `pdata`; with `spush`, field
/// `sfield` of the key/value shift staging word becomes `sdata`. The push inputs are
/// registered first (a push in cycle c is in the staging word from cycle c + 2), so the
/// field decode starts from a register. With `commit` in cycle c, the four staging words
/// *including the pushes up to cycle c* are written to word `waddr` (dropped if `waddr >=
/// depth`) at the edge ending cycle c + 2: the memory's write data and address come
/// straight from registers. A read of that word returns it from cycle c + 3 on (`raddr` in
/// cycle c + 3 or later).
///
/// Read (synchronous, read-old-data, [`READ_LATENCY`] = three edges): the four words at
/// `raddr` are registered (0 past the depth), with `rv` and `grp`, at the edge ending the
/// cycle of `raddr` (the block RAMs' own read registers); the next edge registers them
/// again in the fabric beside the memories (a block RAM's clock-to-out is too slow to
/// feed the routing in the same cycle); the third registers their routing to the `A` lanes
/// for that `grp` on the outputs (so the word read with `raddr` and `grp` in cycle `c` is
/// on the outputs in cycle `c + 3`). Every lane has its own copy of the registered group,
/// value select and in-range flag (names ending in `_dup`, which the synthesis flow keeps
/// apart), so that no select fans out across the whole cache: lane `j`
/// belongs to query head `h = grp·G
/// + j / head_dim` of kv head `kvh = h / kv_mul`; `mant[j]` is element `j mod head_dim`
/// of kv head `kvh` of the value word (registered `rv` high) or key word, `ksh[j]` /
/// `vsh[j]` the key / value shift of `kvh`; 0 for lanes without a head and for `grp` past
/// the last group (with a single group `grp` is ignored: the routing is plain wiring).
#[derive(LogicBlock)]
pub struct KvCacheW<const A: usize> {
    pub clock: Signal<In, Clock>,
    pub push: Signal<In, Bit>,
    pub pv: Signal<In, Bit>,
    pub pfield: Signal<In, Addr>,
    pub pdata: Signal<In, Bits<11>>,
    pub spush: Signal<In, Bit>,
    pub spv: Signal<In, Bit>,
    pub sfield: Signal<In, Bits<8>>,
    pub sdata: Signal<In, Bits<5>>,
    pub commit: Signal<In, Bit>,
    pub waddr: Signal<In, Bits<24>>,
    pub raddr: Signal<In, Bits<24>>,
    pub rv: Signal<In, Bit>,
    pub grp: Signal<In, Bits<8>>,
    pub mant: [Signal<Out, Bits<11>>; A],
    pub ksh: [Signal<Out, Bits<5>>; A],
    pub vsh: [Signal<Out, Bits<5>>; A],
    /// A commit is on its way to the memory (`commit` now or in the last cycle): a read
    /// of its word must wait until this is low (combinational from `commit`).
    pub wbusy: Signal<Out, Bit>,
    _s: KvState,
}

impl<const A: usize> KvCacheW<A> {
    /// A cache of `depth` words for heads of `hd` elements, `nh` query heads over `nkv` kv
    /// heads, `g` query heads per group.
    pub fn new(depth: usize, hd: usize, nh: usize, nkv: usize, g: usize) -> Self {
        Self::with_chunks(depth, hd, nh, nkv, g, 1)
    }

    /// As [`KvCacheW::new`] for heads of `hd > A` elements in `ch = ceil(hd / A)` chunks
    /// (`g = 1`; `ch = 1` is [`KvCacheW::new`]): `grp` names head `h` and chunk `c` as
    /// `h·ch + c`, and lane `j` reads element `c·A + j` of the head's kv head (0 past
    /// `hd`).
    pub fn with_chunks(
        depth: usize,
        hd: usize,
        nh: usize,
        nkv: usize,
        g: usize,
        ch: usize,
    ) -> Self {
        assert!(depth >= 1 && depth < 1 << 24, "KvCacheW depth");
        assert!(g >= 1 && nh % nkv == 0 && nkv * hd < 1 << 16);
        assert!(
            (ch == 1 && g * hd <= A) || (ch > 1 && g == 1 && ch == hd.div_ceil(A)),
            "KvCacheW: {g} heads of {hd} in {ch} chunks on {A} lanes"
        );
        let kv_mul = nh / nkv;
        let ng = nh.div_ceil(g) * ch;
        assert!(ng <= 256, "too many groups");
        let route = (0..ng)
            .map(|gi| {
                (0..A)
                    .map(|j| {
                        if ch > 1 {
                            let (h, e) = (gi / ch, (gi % ch) * A + j);
                            (e < hd).then_some((h / kv_mul, (h / kv_mul) * hd + e))
                        } else {
                            let h = gi * g + j / hd;
                            (j < g * hd && h < nh)
                                .then_some((h / kv_mul, (h / kv_mul) * hd + j % hd))
                        }
                    })
                    .collect()
            })
            .collect();
        let kvd = nkv * hd;
        Self {
            clock: Default::default(),
            push: Default::default(),
            pv: Default::default(),
            pfield: Default::default(),
            pdata: Default::default(),
            spush: Default::default(),
            spv: Default::default(),
            sfield: Default::default(),
            sdata: Default::default(),
            commit: Default::default(),
            waddr: Default::default(),
            raddr: Default::default(),
            rv: Default::default(),
            grp: Default::default(),
            mant: array_init::array_init(|_| Signal::new_with_default(Bits::default())),
            ksh: array_init::array_init(|_| Signal::new_with_default(Bits::default())),
            vsh: array_init::array_init(|_| Signal::new_with_default(Bits::default())),
            wbusy: Default::default(),
            _s: KvState {
                depth,
                kvd,
                nkv,
                route,
                k: vec![0; depth * kvd],
                v: vec![0; depth * kvd],
                ks: vec![0; depth * nkv],
                vs: vec![0; depth * nkv],
                kst: vec![0; kvd],
                vst: vec![0; kvd],
                kss: vec![0; nkv],
                vss: vec![0; nkv],
                r1: ReadStage::new(kvd, nkv),
                r2: ReadStage::new(kvd, nkv),
                pr: (false, false, 0, 0),
                spr: (false, false, 0, 0),
                cr: (false, 0),
                crr: (false, 0),
            },
        }
    }

    /// Words (positions of all layers) the cache holds.
    pub fn depth(&self) -> usize {
        self._s.depth
    }

    /// Word `addr` as the simulation holds it: key mantissas, key shifts, value mantissas,
    /// value shifts (mantissas sign-extended).
    pub fn peek(&self, addr: usize) -> (Vec<i32>, Vec<u8>, Vec<i32>, Vec<u8>) {
        let s = &self._s;
        let m = |v: &Vec<u64>| -> Vec<i32> {
            v[addr * s.kvd..(addr + 1) * s.kvd]
                .iter()
                .map(|&x| sext(x, 11) as i32)
                .collect()
        };
        let sh = |v: &Vec<u64>| -> Vec<u8> {
            v[addr * s.nkv..(addr + 1) * s.nkv]
                .iter()
                .map(|&x| x as u8)
                .collect()
        };
        (m(&s.k), sh(&s.ks), m(&s.v), sh(&s.vs))
    }

    fn route_outputs(&mut self) {
        let s = &self._s;
        let r2 = &s.r2;
        let g = r2.grp;
        // A single group is plain wiring: `grp` is ignored.
        let gi = if s.route.len() == 1 { 0 } else { g as usize };
        let route = s.route.get(gi);
        for j in 0..A {
            let kvh = route.and_then(|r| r[j]);
            let (m, ks, vs) = match kvh {
                Some((h, f)) => {
                    let m = if r2.sel { r2.v[f] } else { r2.k[f] };
                    (m, r2.ks[h], r2.vs[h])
                }
                None => (0, 0, 0),
            };
            self.mant[j].next = u2b::<11>(m);
            self.ksh[j].next = u2b::<5>(ks);
            self.vsh[j].next = u2b::<5>(vs);
        }
    }
}

impl<const A: usize> Logic for KvCacheW<A> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            // The output registers take the routing of the read registers before they
            // change.
            self.route_outputs();
            let s = &mut self._s;
            let (kvd, nkv) = (s.kvd, s.nkv);
            // The fabric registers take the block RAMs' read registers.
            s.r2.clone_from(&s.r1);
            // Read (old data) before the write.
            let r = self.raddr.val().index();
            let r1 = &mut s.r1;
            if r < s.depth {
                r1.k.copy_from_slice(&s.k[r * kvd..(r + 1) * kvd]);
                r1.v.copy_from_slice(&s.v[r * kvd..(r + 1) * kvd]);
                r1.ks.copy_from_slice(&s.ks[r * nkv..(r + 1) * nkv]);
                r1.vs.copy_from_slice(&s.vs[r * nkv..(r + 1) * nkv]);
            } else {
                r1.k.fill(0);
                r1.v.fill(0);
                r1.ks.fill(0);
                r1.vs.fill(0);
            }
            r1.sel = self.rv.val();
            r1.grp = self.grp.val().index();
            // The commit of two cycles ago writes the staging registers as they are.
            let (c, w) = s.crr;
            if c && w < s.depth {
                s.k[w * kvd..(w + 1) * kvd].copy_from_slice(&s.kst);
                s.v[w * kvd..(w + 1) * kvd].copy_from_slice(&s.vst);
                s.ks[w * nkv..(w + 1) * nkv].copy_from_slice(&s.kss);
                s.vs[w * nkv..(w + 1) * nkv].copy_from_slice(&s.vss);
            }
            // Staging takes last cycle's (registered) pushes.
            let (p, pv, f, d) = s.pr;
            if p && f < kvd {
                if pv {
                    s.vst[f] = d;
                } else {
                    s.kst[f] = d;
                }
            }
            let (p, pv, f, d) = s.spr;
            if p && f < nkv {
                if pv {
                    s.vss[f] = d;
                } else {
                    s.kss[f] = d;
                }
            }
            // Input registers.
            s.pr = (
                self.push.val(),
                self.pv.val(),
                self.pfield.val().index(),
                self.pdata.val().to_u64(),
            );
            s.spr = (
                self.spush.val(),
                self.spv.val(),
                self.sfield.val().index(),
                self.sdata.val().to_u64(),
            );
            s.crr = s.cr;
            s.cr = (self.commit.val(), self.waddr.val().index());
        }
        self.wbusy.next = self.commit.val() | self._s.cr.0;
    }
    fn connect(&mut self) {
        self.wbusy.connect();
        for j in 0..A {
            self.mant[j].connect();
            self.ksh[j].connect();
            self.vsh[j].connect();
        }
    }
    fn hdl(&self) -> Verilog {
        let s = &self._s;
        let (depth, kvd, nkv) = (s.depth, s.kvd, s.nkv);
        let (kw, sw) = (kvd * 11, nkv * 5);
        let ib = index_bits(depth).min(24);
        let mut v = String::new();
        v += &format!(
            "\
reg [{km}:0] kmem [0:{dm}];
reg [{km}:0] vmem [0:{dm}];
reg [{sm}:0] ksm [0:{dm}];
reg [{sm}:0] vsm [0:{dm}];
reg [{km}:0] kst;
reg [{km}:0] vst;
reg [{sm}:0] kss;
reg [{sm}:0] vss;
reg [{km}:0] kst_n;
reg [{km}:0] vst_n;
reg [{sm}:0] kss_n;
reg [{sm}:0] vss_n;
reg [{km}:0] rk;
reg [{km}:0] rvw;
reg [{sm}:0] rks;
reg [{sm}:0] rvs;
reg [{km}:0] rk2;
reg [{km}:0] rvw2;
reg [{sm}:0] rks2;
reg [{sm}:0] rvs2;
reg rin_1;
reg rsel_1;
reg [7:0] grp_1;
reg p_r;
reg pv_r;
reg [15:0] pf_r;
reg [10:0] pd_r;
reg sp_r;
reg spv_r;
reg [7:0] sf_r;
reg [4:0] sd_r;
reg c_r;
reg c_rr;
reg [23:0] wa_r;
reg [23:0] wa_rr;
integer i;
initial begin
   kst = {kw}'d0;
   vst = {kw}'d0;
   kss = {sw}'d0;
   vss = {sw}'d0;
   rk = {kw}'d0;
   rvw = {kw}'d0;
   rks = {sw}'d0;
   rvs = {sw}'d0;
   rk2 = {kw}'d0;
   rvw2 = {kw}'d0;
   rks2 = {sw}'d0;
   rvs2 = {sw}'d0;
   rin_1 = 1'b0;
   rsel_1 = 1'b0;
   grp_1 = 8'd0;
   p_r = 1'b0;
   pv_r = 1'b0;
   pf_r = 16'd0;
   pd_r = 11'd0;
   sp_r = 1'b0;
   spv_r = 1'b0;
   sf_r = 8'd0;
   sd_r = 5'd0;
   c_r = 1'b0;
   c_rr = 1'b0;
   wa_r = 24'd0;
   wa_rr = 24'd0;
{oinit}`ifndef SYNTHESIS
   for (i = 0; i < {depth}; i = i + 1) begin
      kmem[i] = {kw}'d0;
      vmem[i] = {kw}'d0;
      ksm[i] = {sw}'d0;
      vsm[i] = {sw}'d0;
   end
`endif
end
always @(*) begin
   kst_n = kst;
   vst_n = vst;
   kss_n = kss;
   vss_n = vss;
",
            km = kw - 1,
            sm = sw - 1,
            dm = depth - 1,
            oinit = (0..A)
                .map(|j| format!("   mant${j} = 11'd0;\n   ksh${j} = 5'd0;\n   vsh${j} = 5'd0;\n"))
                .collect::<String>(),
        );
        for f in 0..kvd {
            let (hi, lo) = (f * 11 + 10, f * 11);
            v += &format!(
                "   if (p_r && (pf_r == 16'd{f})) begin\n      if (pv_r) vst_n[{hi}:{lo}] = pd_r;\n      else kst_n[{hi}:{lo}] = pd_r;\n   end\n"
            );
        }
        for f in 0..nkv {
            let (hi, lo) = (f * 5 + 4, f * 5);
            v += &format!(
                "   if (sp_r && (sf_r == 8'd{f})) begin\n      if (spv_r) vss_n[{hi}:{lo}] = sd_r;\n      else kss_n[{hi}:{lo}] = sd_r;\n   end\n"
            );
        }
        v += &format!(
            "\
end
always @(posedge clock) begin
   kst <= kst_n;
   vst <= vst_n;
   kss <= kss_n;
   vss <= vss_n;
   p_r <= push;
   pv_r <= pv;
   pf_r <= pfield;
   pd_r <= pdata;
   sp_r <= spush;
   spv_r <= spv;
   sf_r <= sfield;
   sd_r <= sdata;
   c_r <= commit;
   wa_r <= waddr;
   c_rr <= c_r;
   wa_rr <= wa_r;
   // The block RAMs' own read registers (nothing between them and the memories), then
   // fabric registers beside them; a read past the depth is zeroed in the routing stage
   // (`rin_dup*`).
   rk <= kmem[raddr[{im}:0]];
   rvw <= vmem[raddr[{im}:0]];
   rks <= ksm[raddr[{im}:0]];
   rvs <= vsm[raddr[{im}:0]];
   rk2 <= rk;
   rvw2 <= rvw;
   rks2 <= rks;
   rvs2 <= rvs;
   rin_1 <= (raddr < 24'd{depth});
   rsel_1 <= rv;
   grp_1 <= grp;
   if (c_rr && (wa_rr < 24'd{depth})) begin
      kmem[wa_rr[{im}:0]] <= kst;
      vmem[wa_rr[{im}:0]] <= vst;
      ksm[wa_rr[{im}:0]] <= kss;
      vsm[wa_rr[{im}:0]] <= vss;
   end
end
",
            im = ib - 1,
        );
        // Routing.
        let lane = |j: usize, kvh: Option<(usize, usize)>, ind: &str| -> String {
            match kvh {
                Some((h, f)) => {
                    let (hi, lo) = (f * 11 + 10, f * 11);
                    let (shi, slo) = (h * 5 + 4, h * 5);
                    format!(
                        "{ind}mant${j} <= rin_dup{j} ? (rsel_dup{j} ? rvw2[{hi}:{lo}] : rk2[{hi}:{lo}]) : 11'd0;\n{ind}ksh${j} <= rin_dup{j} ? rks2[{shi}:{slo}] : 5'd0;\n{ind}vsh${j} <= rin_dup{j} ? rvs2[{shi}:{slo}] : 5'd0;\n"
                    )
                }
                None => format!(
                    "{ind}mant${j} <= 11'd0;\n{ind}ksh${j} <= 5'd0;\n{ind}vsh${j} <= 5'd0;\n"
                ),
            }
        };
        // Per-lane copies of the in-range flag, the value select and the group, registered
        // with the fabric copy of the read (lanes that never hold a head have none).
        let ng = s.route.len();
        let used: Vec<bool> = (0..A)
            .map(|j| s.route.iter().any(|r| r[j].is_some()))
            .collect();
        let mut regs = String::new();
        for j in (0..A).filter(|&j| used[j]) {
            v += &format!(
                "reg rin_dup{j};\nreg rsel_dup{j};\ninitial rin_dup{j} = 1'b0;\ninitial rsel_dup{j} = 1'b0;\n"
            );
            regs += &format!("   rin_dup{j} <= rin_1;\n   rsel_dup{j} <= rsel_1;\n");
            if ng > 1 {
                v += &format!("reg [7:0] grp_dup{j};\ninitial grp_dup{j} = 8'd0;\n");
                regs += &format!("   grp_dup{j} <= grp_1;\n");
            }
        }
        v += &format!("always @(posedge clock) begin\n{regs}end\n");
        v += "always @(posedge clock) begin\n";
        if ng == 1 {
            for j in 0..A {
                v += &lane(j, s.route[0][j], "   ");
            }
        } else {
            // Lane by lane, on the lane's own copy of the group.
            for j in 0..A {
                if !used[j] {
                    v += &lane(j, None, "   ");
                    continue;
                }
                v += &format!("   case (grp_dup{j})\n");
                for (gi, r) in s.route.iter().enumerate() {
                    v += &format!("   8'd{gi}: begin\n{}   end\n", lane(j, r[j], "      "));
                }
                v += &format!("   default: begin\n{}   end\n", lane(j, None, "      "));
                v += "   endcase\n";
            }
        }
        v += "end\n";
        if ng == 1 {
            v += "wire unused_grp = ^grp_1;\n";
        }
        v += "always @(*) wbusy = commit | c_r;\n";
        Verilog::Custom(v)
    }
}
