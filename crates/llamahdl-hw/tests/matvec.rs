//! The general matrix-vector unit: every matrix kind of a layer (including W2, whose rows
//! span several words) and the embedding mode, bit-exact with the golden model, results
//! written to the vector memory; inputs given as block mantissas and as raw values
//! (converted on the fly); the fused residual add and SwiGLU against a behavioural
//! vector memory; co-simulated in Icarus.

use llamahdl_golden::numerics::{add_q16, mul_q16, silu, to_block16};
use llamahdl_golden::{QMatrix, QuantModel, ScaleMode};
use llamahdl_hw::bits::{i2s, s2i, u2b};
use llamahdl_hw::cosim::run_icarus;
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::matvec::{MatVec, POST_ACC, POST_NONE, POST_SWIGLU};
use llamahdl_model::{synth, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::Block as _;
use rust_hdl::prelude::*;
use std::collections::VecDeque;

/// The weight stream of stream mode: the words of the run in consumption order with their
/// row's scale, the word last popped (registered, on `buf_rd_*`), and random gaps.
struct Stream<const L: usize> {
    q: VecDeque<([i8; L], u8, i8)>,
    rng: ChaCha8Rng,
    /// Probability that the head is withheld in a cycle.
    gap: f64,
    /// Cycles in which the head was withheld while the unit was running.
    gaps: u64,
}

struct Run<'a, const L: usize> {
    stream: Option<Stream<L>>,
    d: Driver<MatVec<L>>,
    mats: Vec<&'a QMatrix>,
    /// Behavioural vector memory behind `vm_raddr`/`vm_rdata` and the writes.
    vm: Vec<i32>,
    /// `vm_sw` of each write of the last run.
    sw: Vec<bool>,
}

impl<'a, const L: usize> Run<'a, L> {
    fn bases(&self, k: usize) -> (usize, usize) {
        let words = self.mats[..k]
            .iter()
            .map(|m| m.rows * m.cols.div_ceil(L))
            .sum();
        let rows = self.mats[..k].iter().map(|m| m.rows).sum();
        (words, rows)
    }

    /// Write `x` element by element (block mantissas, or the raw values when `raw`), run
    /// matrix `k` with post-operation `post` (`src` for SwiGLU), collect the
    /// vector-memory writes.
    fn matvec(
        &mut self,
        k: usize,
        x: &[i32],
        dst: usize,
        raw: bool,
        post: u64,
        src: usize,
    ) -> Vec<(usize, i32)> {
        let rows = self.mats[k].rows;
        self.matvec_split(k, rows, 0, x, dst, raw, post, src)
    }

    /// As [`Self::matvec`], over `rows` rows from matrix `k`'s first (running on into the
    /// matrices after it) with SwiGLU from row `split` on.
    #[allow(clippy::too_many_arguments)]
    fn matvec_split(
        &mut self,
        k: usize,
        rows: usize,
        split: usize,
        x: &[i32],
        dst: usize,
        raw: bool,
        post: u64,
        src: usize,
    ) -> Vec<(usize, i32)> {
        let b = to_block16(x);
        for (i, &m) in b.mant.iter().enumerate() {
            let v = if raw { x[i] } else { m };
            self.d.uut.xs_we.next = true;
            self.d.uut.xs_waddr.next = u2b::<16>(i as u64);
            self.d.uut.xs_wdata.next = i2s::<32>(v as i64);
            self.d.tick();
        }
        // Clear the padding lanes of the last word.
        let cols = self.mats[k].cols;
        for i in cols..cols.div_ceil(L) * L {
            self.d.uut.xs_waddr.next = u2b::<16>(i as u64);
            self.d.uut.xs_wdata.next = i2s::<32>(0);
            self.d.tick();
        }
        self.d.uut.xs_we.next = false;
        self.d.uut.x_shift.next = u2b::<5>(b.shift as u64);
        self.d.uut.x_raw.next = raw;
        self.d.uut.x_base.next = u2b::<16>(0);
        self.d.uut.post.next = u2b::<2>(post);
        self.d.uut.src.next = u2b::<16>(src as u64);
        self.d.uut.split.next = u2b::<16>(split as u64);
        let (wb, rb) = self.bases(k);
        self.feed(k, 0, rows);
        self.go(wb, rb, rows - 1, cols.div_ceil(L) - 1, dst, false, 0)
    }

    /// Stream mode: queue `rows` rows from row `first` of matrix `k` (running on into
    /// the matrices after it), word by word, each with its row's scale.
    fn feed(&mut self, k: usize, first: usize, rows: usize) {
        let Some(st) = &mut self.stream else { return };
        let (mut m, mut r) = (k, first);
        for _ in 0..rows {
            while r >= self.mats[m].rows {
                r -= self.mats[m].rows;
                m += 1;
            }
            let mat = self.mats[m];
            for chunk in mat.row(r).chunks(L) {
                let mut w = [0i8; L];
                w[..chunk.len()].copy_from_slice(chunk);
                st.q.push_back((w, mat.mant[r], mat.exp[r]));
            }
            r += 1;
        }
    }

    fn embed(&mut self, k: usize, token: usize, dst: usize) -> Vec<(usize, i32)> {
        let (wb, rb) = self.bases(k);
        let beats = self.mats[k].cols.div_ceil(L);
        self.d.uut.post.next = u2b::<2>(POST_NONE);
        self.feed(k, token, 1);
        self.go(
            wb + token * beats,
            rb + token,
            0,
            0,
            dst,
            true,
            self.mats[k].cols - 1,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn go(
        &mut self,
        wb: usize,
        rb: usize,
        rows_m1: usize,
        beats_m1: usize,
        dst: usize,
        embed: bool,
        len_m1: usize,
    ) -> Vec<(usize, i32)> {
        let u = &mut self.d.uut;
        u.rom_base.next = u2b::<16>(wb as u64);
        u.rom_row_base.next = u2b::<16>(rb as u64);
        u.rows_m1.next = u2b::<16>(rows_m1 as u64);
        u.beats_m1.next = u2b::<16>(beats_m1 as u64);
        u.dst.next = u2b::<16>(dst as u64);
        u.embed.next = embed;
        u.len_m1.next = u2b::<16>(len_m1 as u64);
        u.stream.next = self.stream.is_some();
        u.start.next = true;
        self.d.tick();
        self.d.uut.start.next = false;
        let mut writes = vec![];
        self.sw.clear();
        let mut rdata = 0;
        let mut popped = None;
        for _ in 0..400_000 {
            self.d.uut.vm_rdata.next = i2s::<32>(rdata as i64);
            // The word popped in the previous cycle, on buf_rd_* from this cycle on (like
            // the weight buffer's answer).
            if let Some((w, m, e)) = popped.take() {
                for (s, v) in self.d.uut.buf_rd_data.iter_mut().zip(w) {
                    s.next = i2s::<8>(v as i64);
                }
                self.d.uut.buf_rd_mant.next = u2b::<8>(m as u64);
                self.d.uut.buf_rd_exp.next = i2s::<8>(e as i64);
            }
            if let Some(st) = &mut self.stream {
                let show = !st.q.is_empty() && !st.rng.gen_bool(st.gap);
                if !show && !st.q.is_empty() {
                    st.gaps += 1;
                }
                self.d.uut.st_valid.next = show;
            }
            self.d.settle();
            if self.d.uut.st_pop.val() {
                let st = self.stream.as_mut().expect("st_pop outside stream mode");
                assert!(self.d.uut.st_valid.val(), "st_pop without st_valid");
                popped = st.q.pop_front();
            }
            // Read-old-data: the word at this cycle's read address before its write.
            rdata = self.vm[self.d.uut.vm_raddr.val().index() % self.vm.len()];
            if self.d.uut.vm_we.val() {
                let (a, v) = (
                    self.d.uut.vm_waddr.val().index(),
                    s2i(self.d.uut.vm_wdata.val()) as i32,
                );
                writes.push((a, v));
                self.sw.push(self.d.uut.vm_sw.val());
                self.vm[a] = v;
            }
            let done = self.d.uut.done.val();
            self.d.tick_settled();
            if done {
                if let Some(st) = &self.stream {
                    assert!(st.q.is_empty(), "{} stream words left over", st.q.len());
                }
                return writes;
            }
        }
        panic!("no done");
    }
}

/// `gap`: run in stream mode, withholding the stream's head with that probability each
/// cycle.
fn check<const L: usize>(cfg: &Config, seed: u64, trace: bool, gap: Option<f64>) {
    let qm = QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8);
    let l0 = &qm.layers[cfg.n_layers - 1];
    let mats: Vec<&QMatrix> = vec![&l0.wqkv, &l0.wo, &l0.w1, &l0.w3, &l0.w2, &qm.embedding];
    let max_cols = cfg.dim.max(cfg.hidden_dim);
    let d = Driver::new(MatVec::<L>::new(&mats, max_cols), |u, c| {
        u.clock.next = c.into()
    });
    let d = if trace { d.with_trace() } else { d };
    let mut r = Run {
        stream: gap.map(|gap| Stream {
            q: VecDeque::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            gap,
            gaps: 0,
        }),
        d,
        mats: mats.clone(),
        vm: vec![0; 4096],
        sw: vec![],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kinds = if trace {
        vec![0, 4]
    } else {
        vec![0, 1, 2, 3, 4, 5]
    };
    for k in kinds {
        for raw in [false, true] {
            let x: Vec<i32> = (0..mats[k].cols)
                .map(|_| rng.gen_range(-300_000..300_000))
                .collect();
            let dst = rng.gen_range(0..1000);
            let got = r.matvec(k, &x, dst, raw, POST_NONE, 0);
            let want: Vec<(usize, i32)> = mats[k]
                .matvec(&x)
                .into_iter()
                .enumerate()
                .map(|(i, v)| (dst + i, v))
                .collect();
            assert_eq!(got, want, "matrix {k}, raw {raw}");
        }
    }
    // Fused post-operations on the W2 (residual) and W3 (SwiGLU) shapes.
    for (k, post) in [(4, POST_ACC), (3, POST_SWIGLU), (0, POST_ACC)] {
        let x: Vec<i32> = (0..mats[k].cols)
            .map(|_| rng.gen_range(-300_000..300_000))
            .collect();
        let rows = mats[k].rows;
        let (dst, src) = (1000 + rng.gen_range(0..500), 2000 + rng.gen_range(0..500));
        for i in 0..rows {
            r.vm[dst + i] = rng.gen_range(-2_000_000..2_000_000);
            r.vm[src + i] = rng.gen_range(-(20 << 16)..(20 << 16));
        }
        r.vm[dst] = i32::MAX - 5;
        let before = r.vm.clone();
        let y = mats[k].matvec(&x);
        let got = r.matvec(k, &x, dst, true, post, src);
        let want: Vec<(usize, i32)> = (0..rows)
            .map(|i| {
                let v = if post == POST_ACC {
                    add_q16(before[dst + i], y[i])
                } else {
                    mul_q16(silu(before[src + i]), y[i])
                };
                (dst + i, v)
            })
            .collect();
        assert_eq!(got, want, "matrix {k} with post-op {post}");
        assert_eq!(
            r.sw,
            vec![post == POST_SWIGLU; rows],
            "vm_sw, post-op {post}"
        );
    }
    // W1 and W3 (adjacent in the ROM) as one run with SwiGLU from W3's first row: W1's
    // results are written plain to `dst ..`, W3's row `i` gates on W1's row `i` (written by
    // this run) and goes to `dst + rows + i`. `src = dst - rows` wraps modulo 2^16.
    {
        let rows = mats[2].rows;
        assert_eq!((mats[3].rows, mats[3].cols), (rows, mats[2].cols));
        let x: Vec<i32> = (0..mats[2].cols)
            .map(|_| rng.gen_range(-300_000..300_000))
            .collect();
        let dst = rng.gen_range(0..rows);
        let src = (dst + (1 << 16) - rows) % (1 << 16);
        let (y1, y3) = (mats[2].matvec(&x), mats[3].matvec(&x));
        let got = r.matvec_split(2, 2 * rows, rows, &x, dst, true, POST_SWIGLU, src);
        let want: Vec<(usize, i32)> = (0..rows)
            .map(|i| (dst + i, y1[i]))
            .chain((0..rows).map(|i| (dst + rows + i, mul_q16(silu(y1[i]), y3[i]))))
            .collect();
        assert_eq!(got, want, "W1 and W3 fused");
        let sw: Vec<bool> = (0..2 * rows).map(|i| i >= rows).collect();
        assert_eq!(r.sw, sw, "vm_sw of the fused run");
        r.d.uut.split.next = u2b::<16>(0);
    }
    for token in [0, 1, cfg.vocab_size - 1] {
        let got = r.embed(5, token, 7);
        let want: Vec<(usize, i32)> = qm
            .embedding
            .row_q16(token)
            .into_iter()
            .enumerate()
            .map(|(i, v)| (7 + i, v))
            .collect();
        assert_eq!(got, want, "embedding of {token}");
    }
    if let (Some(st), Some(g)) = (&r.stream, gap) {
        assert_eq!(st.gaps > 0, g > 0.0, "gaps in the stream");
    }
    if trace {
        let mut fresh = MatVec::<L>::new(&mats, max_cols);
        fresh.connect_all();
        let verilog = generate_verilog(&fresh);
        let mut tr = r.d.take_trace().unwrap();
        // The multipliers are never lent here (ext_sel low), so ext_p is unspecified (see
        // DotAcc; its lending is co-simulated in leaf_cosim.rs).
        for c in 0..tr.len() {
            for i in 0..L {
                tr.set_dont_care(c, &format!("ext_p${i}"));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        run_icarus(&verilog, "top", &tr, dir.path())
            .expect("icarus")
            .assert_clean();
    }
}

#[test]
fn matvec_all_kinds_stories260k_64_lanes() {
    check::<64>(&Config::STORIES260K, 1, false, None);
}

#[test]
fn matvec_all_kinds_stories260k_16_lanes() {
    check::<16>(&Config::STORIES260K, 2, false, None);
}

#[test]
fn matvec_all_kinds_odd_shape() {
    let odd = Config::ODD;
    check::<16>(&odd, 3, false, None);
}

#[test]
fn matvec_cosim_tiny() {
    check::<4>(&Config::TINY, 4, true, None);
}

/// Stream mode: the same runs with every word taken from a stream, without gaps and
/// with a random third of the cycles withheld.
#[test]
fn matvec_stream_stories260k_32_lanes() {
    check::<32>(&Config::STORIES260K, 5, false, Some(0.0));
    check::<32>(&Config::STORIES260K, 6, false, Some(0.33));
}

#[test]
fn matvec_stream_odd_shape() {
    check::<16>(&Config::ODD, 7, false, Some(0.5));
}

/// Stream mode with gaps, co-simulated in Icarus.
#[test]
fn matvec_stream_cosim_tiny() {
    check::<4>(&Config::TINY, 8, true, Some(0.3));
}
