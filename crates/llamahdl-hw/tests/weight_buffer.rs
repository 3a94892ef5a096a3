//! Native testbenches of `QkvWeightBuffer` and `QkvLoader` (plan step 2) for Config::TINY
//! and Config::STORIES260K, with L = dim (one beat per row) and L = 8 (several beats).

mod common;

use common::*;
use llamahdl_hw::bits::{s2i, signed_of};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::weight_path::shape::Shape;
use llamahdl_hw::units::weight_path::weight_buffer::QkvWeightBuffer;
use llamahdl_model::Config;

/// Stream head 0 of Q (head_dim rows) with gaps: those rows read back exactly, and the
/// buffer is not yet fully loaded. Then stream the rest: fully_loaded one cycle after
/// load_done, full read-back equal to the stream. Then a layer change clears
/// fully_loaded, and a second stream (other weights) loads and reads back.
fn load_and_read_back<const L: usize>(cfg: Config, seed: u64) {
    let shape = Shape::new(&cfg, L).unwrap();
    let rows = random_rows(&shape, seed);
    let mut r = rng(seed ^ 0x5eed);
    let mut d = loader_driver::<L>(&cfg);
    let mut m = GenModel::new(shape);

    // Head 0 of Q.
    stream_rows(&mut d, &mut m, &rows, 0, shape.head_dim, 0.4, &mut r);
    d.settle();
    assert_eq!(d.uut.row_index.val().index(), shape.head_dim);
    assert_eq!(
        d.uut.head.val().index(),
        if shape.n_heads > 1 { 1 } else { 0 }
    );
    assert!(!d.uut.load_done.val() && !d.uut.fully_loaded.val());
    check_readback(&mut d, &shape, &rows, shape.head_dim);

    // The rest, then load_done and fully_loaded.
    stream_rows(
        &mut d,
        &mut m,
        &rows,
        shape.head_dim,
        shape.qkv_rows - shape.head_dim,
        0.3,
        &mut r,
    );
    d.settle();
    assert!(
        d.uut.load_done.val(),
        "load_done the cycle after the last beat"
    );
    assert!(
        !d.uut.fully_loaded.val(),
        "fully_loaded is one cycle behind load_done"
    );
    d.tick();
    d.settle();
    assert!(d.uut.fully_loaded.val());
    // Extra beats after the load are ignored (no write): read-back still equals the stream.
    let junk = random_rows(&shape, seed + 1);
    for b in 0..shape.beats {
        present_beat(&mut d.uut, &shape, &junk[0], b);
        d.settle();
        assert!(!d.uut.wr_en.val());
        d.tick();
    }
    check_readback(&mut d, &shape, &rows, shape.qkv_rows);
    d.settle();
    assert!(
        d.uut.fully_loaded.val(),
        "reads do not disturb fully_loaded"
    );

    // Layer change: fully_loaded drops at the next edge, the generator restarts.
    d.uut.layer_change.next = true;
    d.uut.valid.next = true;
    d.settle();
    assert!(!d.uut.wr_en.val(), "no write in the layer-change cycle");
    d.tick();
    d.uut.layer_change.next = false;
    d.uut.valid.next = false;
    d.settle();
    assert!(!d.uut.fully_loaded.val() && !d.uut.load_done.val());
    assert_eq!(d.uut.addr.val().index(), 0);
    let rows2 = random_rows(&shape, seed + 2);
    let mut m2 = GenModel::new(shape);
    stream_rows(&mut d, &mut m2, &rows2, 0, shape.qkv_rows, 0.2, &mut r);
    d.tick();
    d.settle();
    assert!(d.uut.fully_loaded.val());
    check_readback(&mut d, &shape, &rows2, shape.qkv_rows);
}

#[test]
fn loader_tiny_one_beat_per_row() {
    load_and_read_back::<16>(Config::TINY, 1);
}

#[test]
fn loader_tiny_l8() {
    load_and_read_back::<8>(Config::TINY, 2);
}

#[test]
fn loader_tiny_l5_padded() {
    // 16 values on 5 lanes: 4 beats, the last one carries 1 value and 4 zeros.
    load_and_read_back::<5>(Config::TINY, 3);
}

#[test]
fn loader_stories260k_one_beat_per_row() {
    load_and_read_back::<64>(Config::STORIES260K, 4);
}

#[test]
fn loader_stories260k_l8() {
    load_and_read_back::<8>(Config::STORIES260K, 5);
}

/// Memory depths follow the shape at run time: exactly qkv_rows * beats words.
#[test]
fn buffer_depth_follows_the_shape() {
    let s = Shape::new(&Config::STORIES260K, 8).unwrap();
    assert_eq!(s.total_beats, 128 * 8);
    let v = llamahdl_hw::cosim::emit_verilog(QkvWeightBuffer::<8>::new(&Config::STORIES260K));
    assert!(v.contains("mem [0:1023]"), "weight memory depth");
    assert!(v.contains("mem [0:127]"), "scale memory depth");
}

/// The buffer alone: read latency 1, read-before-write, scale written only on wr_last,
/// clear has priority over load_done, fully_loaded sticky.
#[test]
fn buffer_ports_and_timing() {
    let _ = Shape::new(&Config::TINY, 4).unwrap();
    let mut d = Driver::new(QkvWeightBuffer::<4>::new(&Config::TINY), |u, c| {
        u.clock.next = c.into()
    });
    let put = |u: &mut QkvWeightBuffer<4>, addr: u64, base: i64, last: bool, row: u64| {
        u.wr_en.next = true;
        u.wr_addr.next = addr.into();
        u.wr_last.next = last;
        u.wr_row.next = row.into();
        for i in 0..4 {
            u.wr_data[i].next = signed_of::<8>(base + i as i64);
        }
        u.wr_scale_mant.next = (200 + row).into();
        u.wr_scale_exp.next = signed_of::<8>(-(row as i64) - 100);
    };
    // Write addr 3 (not last: no scale), then addr 4 (last of row 2).
    put(&mut d.uut, 3, -128, false, 1);
    d.uut.rd_addr.next = 3.into();
    d.tick();
    put(&mut d.uut, 4, 10, true, 2);
    d.uut.rd_row.next = 1.into();
    d.settle();
    // rd_data now shows addr 3 as read at the previous edge (read before write): old = 0.
    assert_eq!(s2i(d.uut.rd_data[0].val()), 0, "read-before-write");
    d.tick();
    d.uut.wr_en.next = false;
    d.uut.rd_addr.next = 3.into();
    d.uut.rd_row.next = 2.into();
    d.settle();
    assert_eq!(
        d.uut.rd_scale_mant.val().index(),
        0,
        "row 1 scale never written (no wr_last)"
    );
    d.tick();
    d.settle();
    let lanes: Vec<i64> = (0..4).map(|i| s2i(d.uut.rd_data[i].val())).collect();
    assert_eq!(lanes, vec![-128, -127, -126, -125]);
    assert_eq!(d.uut.rd_scale_mant.val().index(), 202);
    assert_eq!(s2i(d.uut.rd_scale_exp.val()), -102);
    // Changing the address changes rd_data only after the next edge.
    d.uut.rd_addr.next = 4.into();
    d.settle();
    assert_eq!(s2i(d.uut.rd_data[0].val()), -128, "latency 1");
    d.tick();
    d.settle();
    assert_eq!(s2i(d.uut.rd_data[3].val()), 13);

    // fully_loaded: set the cycle after load_done, sticky, clear wins.
    assert!(!d.uut.fully_loaded.val());
    d.uut.load_done.next = true;
    d.settle();
    assert!(!d.uut.fully_loaded.val());
    d.tick();
    d.uut.load_done.next = false;
    d.settle();
    assert!(d.uut.fully_loaded.val());
    d.tick();
    d.settle();
    assert!(d.uut.fully_loaded.val(), "sticky");
    d.uut.load_done.next = true;
    d.uut.clear.next = true;
    d.tick();
    d.settle();
    assert!(!d.uut.fully_loaded.val(), "clear has priority");
}

#[test]
fn loader_native_speed() {
    let cfg = Config::STORIES260K;
    let shape = Shape::new(&cfg, 64).unwrap();
    let rows = random_rows(&shape, 9);
    let mut d = loader_driver::<64>(&cfg);
    let t = std::time::Instant::now();
    let n = 20_000;
    for c in 0..n {
        present_beat(&mut d.uut, &shape, &rows[c % shape.qkv_rows], 0);
        d.uut.layer_change.next = c % 200 == 199;
        d.uut.rd_addr.next = ((c % 128) as u64).into();
        d.tick();
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    eprintln!("QkvLoader<64> native simulation: {rate:.0} cycles/s");
}
