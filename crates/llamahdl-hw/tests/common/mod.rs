//! Shared helpers of the llamahdl-hw integration tests: seeded weight streams, the
//! software reference of the address generator, and drivers for the loader.
#![allow(dead_code)]

use llamahdl_hw::bits::{s2i, signed_of};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::weight_path::row_addr::RowAddrGen;
use llamahdl_hw::units::weight_path::shape::{BeatPos, Shape, ADDR_BITS, MATRIX_DONE};
use llamahdl_hw::units::weight_path::weight_buffer::QkvLoader;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Runs `f` on a thread with a stack large enough for the 64-lane and whole-decoder
/// designs (their blocks are built by value; a test thread's default stack is not enough).
pub fn on_big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// The region named `name` (e.g. `layer 2 w1`) of the weight image `bytes` (verified
/// first), with its index.
pub fn image_region(bytes: &[u8], name: &str) -> (usize, llamahdl_image::format::Region) {
    let img = llamahdl_image::verify::verify(&mut &bytes[..], "image").expect("a valid image");
    img.regions
        .iter()
        .enumerate()
        .find(|(_, r)| r.name() == name)
        .map(|(i, r)| (i, *r))
        .unwrap_or_else(|| panic!("the image has no region {name}"))
}

/// A DRAM model of `bus_bytes` a beat: first-beat latency `latency`, ARREADY and R stalls
/// each with probability `stall` from `seed`, 8 bursts queued.
pub fn dram_behaviour(
    bus_bytes: usize,
    latency: u64,
    stall: f64,
    seed: u64,
) -> llamahdl_hw::sim::axi_dram::DramConfig {
    llamahdl_hw::sim::axi_dram::DramConfig {
        latency,
        ar_stall: stall,
        r_stall: stall,
        seed,
        max_queue: 8,
        ..llamahdl_hw::sim::axi_dram::DramConfig::new(bus_bytes)
    }
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// One streamed row: `dim` int8 values and its scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub vals: Vec<i8>,
    pub mant: u8,
    pub exp: i8,
}

/// `qkv_rows` random rows (full int8 range, including -128 and 127).
pub fn random_rows(shape: &Shape, seed: u64) -> Vec<Row> {
    let mut r = rng(seed);
    (0..shape.qkv_rows)
        .map(|_| Row {
            vals: (0..shape.dim).map(|_| r.gen::<i8>()).collect(),
            mant: r.gen_range(128..=255u8),
            exp: r.gen::<i8>(),
        })
        .collect()
}

/// Lanes of beat `beat` of `row` (zero padding past `dim`).
pub fn beat_lanes(shape: &Shape, row: &Row, beat: usize) -> Vec<i8> {
    (0..shape.lanes)
        .map(|i| row.vals.get(beat * shape.lanes + i).copied().unwrap_or(0))
        .collect()
}

/// What the generator's outputs must read (software reference).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenOut {
    pub beat: usize,
    pub row: usize,
    pub matrix: usize,
    pub head: usize,
    pub row_index: usize,
    pub addr: usize,
    pub last_beat: bool,
    pub load_done: bool,
}

/// Reference model of `RowAddrGen`: a beat counter.
pub struct GenModel {
    pub shape: Shape,
    pub count: usize,
    pub done: bool,
}

impl GenModel {
    pub fn new(shape: Shape) -> Self {
        GenModel {
            shape,
            count: 0,
            done: false,
        }
    }
    pub fn out(&self) -> GenOut {
        if self.done {
            GenOut {
                beat: 0,
                row: 0,
                matrix: MATRIX_DONE as usize,
                head: 0,
                row_index: self.shape.qkv_rows,
                addr: self.shape.total_beats % (1 << ADDR_BITS),
                last_beat: self.shape.beats == 1,
                load_done: true,
            }
        } else {
            let p: BeatPos = self.shape.beat_pos(self.count);
            GenOut {
                beat: p.beat,
                row: p.row,
                matrix: p.matrix,
                head: p.head,
                row_index: p.row_index,
                addr: p.addr,
                last_beat: p.last_beat,
                load_done: false,
            }
        }
    }
    pub fn wr_en(&self, valid: bool, trigger: bool) -> bool {
        valid && !trigger && !self.done
    }
    /// The rising edge.
    pub fn step(&mut self, valid: bool, trigger: bool) {
        if trigger {
            self.count = 0;
            self.done = false;
        } else if self.wr_en(valid, trigger) {
            self.count += 1;
            if self.count == self.shape.total_beats {
                self.done = true;
            }
        }
    }
}

/// Outputs of a `RowAddrGen`.
pub fn gen_out_rag(u: &RowAddrGen) -> GenOut {
    GenOut {
        beat: u.beat.val().index(),
        row: u.row.val().index(),
        matrix: u.matrix.val().index(),
        head: u.head.val().index(),
        row_index: u.row_index.val().index(),
        addr: u.addr.val().index(),
        last_beat: u.last_beat.val(),
        load_done: u.load_done.val(),
    }
}

pub fn gen_driver(shape: &Shape) -> Driver<RowAddrGen> {
    Driver::new(RowAddrGen::from_shape(shape), |u, c| {
        u.clock.next = c.into()
    })
}

pub fn loader_driver<const L: usize>(cfg: &llamahdl_model::Config) -> Driver<QkvLoader<L>> {
    Driver::new(QkvLoader::<L>::new(cfg), |u, c| u.clock.next = c.into())
}

/// Put beat `beat` of `row` on the loader's inputs (valid high).
pub fn present_beat<const L: usize>(u: &mut QkvLoader<L>, shape: &Shape, row: &Row, beat: usize) {
    let lanes = beat_lanes(shape, row, beat);
    for (port, &v) in u.data.iter_mut().zip(&lanes) {
        port.next = signed_of::<8>(v as i64);
    }
    u.scale_mant.next = (row.mant as u64).into();
    u.scale_exp.next = signed_of::<8>(row.exp as i64);
    u.valid.next = true;
}

/// Random garbage on the data inputs with valid low (a gap).
pub fn present_gap<const L: usize>(u: &mut QkvLoader<L>, r: &mut ChaCha8Rng) {
    for i in 0..L {
        u.data[i].next = signed_of::<8>(r.gen::<i8>() as i64);
    }
    u.scale_mant.next = (r.gen::<u8>() as u64).into();
    u.scale_exp.next = signed_of::<8>(r.gen::<i8>() as i64);
    u.valid.next = false;
}

/// Stream `rows[first..first+n]` into the loader with random gaps (probability `gap_p`),
/// checking the generator outputs each cycle against `model`. Returns cycles used.
pub fn stream_rows<const L: usize>(
    d: &mut Driver<QkvLoader<L>>,
    model: &mut GenModel,
    rows: &[Row],
    first: usize,
    n: usize,
    gap_p: f64,
    r: &mut ChaCha8Rng,
) -> usize {
    let shape = model.shape;
    let mut cycles = 0;
    for (row_i, row) in rows.iter().enumerate().skip(first).take(n) {
        for beat in 0..shape.beats {
            while r.gen_bool(gap_p) {
                present_gap(&mut d.uut, r);
                d.uut.layer_change.next = false;
                d.settle();
                assert_eq!(gen_out_of(&d.uut), model.out(), "cycle {}", d.cycle());
                assert!(!d.uut.wr_en.val());
                model.step(false, false);
                d.tick();
                cycles += 1;
            }
            present_beat(&mut d.uut, &shape, row, beat);
            d.uut.layer_change.next = false;
            d.settle();
            let o = gen_out_of(&d.uut);
            assert_eq!(o, model.out(), "cycle {}", d.cycle());
            assert_eq!((o.row_index, o.beat), (row_i, beat));
            assert!(d.uut.wr_en.val());
            model.step(true, false);
            d.tick();
            cycles += 1;
        }
    }
    d.uut.valid.next = false;
    cycles
}

pub fn gen_out_of<const L: usize>(u: &QkvLoader<L>) -> GenOut {
    GenOut {
        beat: u.beat.val().index(),
        row: u.row.val().index(),
        matrix: u.matrix.val().index(),
        head: u.head.val().index(),
        row_index: u.row_index.val().index(),
        addr: u.addr.val().index(),
        last_beat: u.last_beat.val(),
        load_done: u.load_done.val(),
    }
}

/// Read back rows `0..n` through the loader's read port and compare with `rows`.
pub fn check_readback<const L: usize>(
    d: &mut Driver<QkvLoader<L>>,
    shape: &Shape,
    rows: &[Row],
    n: usize,
) {
    d.uut.valid.next = false;
    d.uut.layer_change.next = false;
    // Present address a in cycle t, see its data in cycle t+1 (pipelined, one per cycle).
    let addrs: Vec<(usize, usize, usize)> = (0..n)
        .flat_map(|r| (0..shape.beats).map(move |b| (r, b, r * shape.beats + b)))
        .collect();
    let mut prev: Option<(usize, usize)> = None;
    for k in 0..=addrs.len() {
        if let Some(&(_, _, a)) = addrs.get(k) {
            d.uut.rd_addr.next = (a as u64).into();
            d.uut.rd_row.next = (addrs[k].0 as u64).into();
        }
        d.settle();
        if let Some((r, b)) = prev {
            let want = beat_lanes(shape, &rows[r], b);
            let got: Vec<i8> = (0..L).map(|i| s2i(d.uut.rd_data[i].val()) as i8).collect();
            assert_eq!(got, want, "read-back of row {r} beat {b}");
            assert_eq!(
                d.uut.rd_scale_mant.val().index() as u8,
                rows[r].mant,
                "mant of row {r}"
            );
            assert_eq!(
                s2i(d.uut.rd_scale_exp.val()) as i8,
                rows[r].exp,
                "exp of row {r}"
            );
        }
        prev = addrs.get(k).map(|&(r, b, _)| (r, b));
        d.tick();
    }
}
