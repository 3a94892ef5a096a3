//! The boot copy (`units/boot/`): a weight image from the block device model
//! (`sim/block_dev.rs`) through the boot copier into the write side of the AXI DRAM model
//! (`sim/boot.rs` runs the three in our own clock loop). A clean boot puts the image in
//! DRAM byte for byte and says `ready`; every fault is reported with its precise code and
//! never as `ready`, and a clean boot afterwards succeeds: a flipped bit in the header, the
//! table and every region in turn, a truncated image, a device read error, a DRAM write
//! error, a reset at 10 points of the copy. The copy rate against the device's cap; the
//! emitted Verilog co-simulated in Icarus and Verilator and linted.

mod common;
use common::on_big_stack;
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::cosim::{emit_verilog, run_icarus, run_verilator};
use llamahdl_hw::sim::axi_dram::DramConfig;
use llamahdl_hw::sim::block_dev::{BlockDev, BlockDevConfig, BLOCK_BYTES};
use llamahdl_hw::sim::boot::{BootBench, BootReport, BootStatus};
use llamahdl_hw::units::boot::copier::*;
use llamahdl_hw::units::boot::{BootLayout, BootParams};
use llamahdl_hw::units::dram::axi_read::RESP_SLVERR;
use llamahdl_image::write::image_bytes;
use llamahdl_model::{synth, Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BASE: u64 = 0x4000;
/// Blocks before the image on the device (its partition starts there).
const LBA: u64 = 3;

fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

/// The device's contents: `LBA` blocks of noise, then `image`.
fn device_bytes(image: &[u8]) -> Vec<u8> {
    let mut r = ChaCha8Rng::seed_from_u64(99);
    let mut v: Vec<u8> = (0..LBA as usize * BLOCK_BYTES).map(|_| r.gen()).collect();
    v.extend_from_slice(image);
    v
}

fn dram(bus_bytes: usize, latency: u64, stall: f64, seed: u64) -> DramConfig {
    DramConfig {
        latency,
        ar_stall: stall,
        r_stall: stall,
        seed,
        max_queue: 8,
        ..DramConfig::new(bus_bytes)
    }
}

fn dev_cfg(latency: u64, cap: f64) -> BlockDevConfig {
    BlockDevConfig {
        latency,
        bytes_per_cycle: cap,
        error_block: None,
    }
}

struct Case {
    layout: BootLayout,
    image: Vec<u8>,
}

fn tiny_case(lanes: u32, bus_bits: u32) -> Case {
    let qm = quant(&Config::TINY, 5);
    Case {
        layout: BootLayout::of(&qm.config, lanes, bus_bits).unwrap(),
        image: image_bytes(&qm, lanes, bus_bits).unwrap(),
    }
}

fn params() -> BootParams {
    BootParams {
        base: BASE,
        lba: LBA,
        ..Default::default()
    }
}

fn bench<const DW: usize, const SW: usize>(
    c: &Case,
    dev: BlockDev,
    d: DramConfig,
) -> BootBench<DW, SW, 9> {
    let bytes = (c.layout.image_bytes as usize + 8191) / 4096 * 4096;
    BootBench::<DW, SW, 9>::new(&c.layout, params(), dev, d, bytes).unwrap()
}

/// The image is in DRAM at `BASE`, every byte.
fn assert_copied<const DW: usize, const SW: usize>(b: &BootBench<DW, SW, 9>, image: &[u8]) {
    let mem = b.dram.mem();
    if let Some(i) = (0..image.len()).find(|&i| mem[i] != image[i]) {
        panic!(
            "DRAM byte {i} (image offset) is {:#x}, the image has {:#x}",
            mem[i], image[i]
        );
    }
}

fn assert_clean(r: &BootReport) {
    assert!(
        r.violations.is_empty(),
        "protocol violations: {:?}",
        r.violations
    );
}

fn budget(c: &Case, cap: f64) -> u64 {
    ((c.layout.image_bytes as f64 + 4096.0) / cap) as u64 + 100_000
}

/// A clean boot: ready, the image in DRAM, no protocol violation; returns the report.
fn clean_boot<const DW: usize, const SW: usize>(
    b: &mut BootBench<DW, SW, 9>,
    c: &Case,
    cap: f64,
) -> BootReport {
    let r = b.run(budget(c, cap));
    assert_eq!(r.status, BootStatus::Ready, "{r:?}");
    assert_clean(&r);
    assert_copied(b, &c.image);
    r
}

/// Copy rate: image bytes per cycle from the command to the last device word, against
/// the cap.
fn rate(r: &BootReport, c: &Case, cap: f64) -> f64 {
    let words = r.device.words as f64;
    let span = (r.device.last_word.unwrap() + 1) as f64;
    assert!(words * 4.0 >= c.layout.image_bytes as f64);
    c.layout.image_bytes as f64 / span / cap
}

#[test]
fn boot_tiny_image_at_every_bus_width() {
    on_big_stack(|| {
        fn one<const DW: usize, const SW: usize>() {
            let c = tiny_case(16, DW as u32);
            for (i, &(lat, stall, cap)) in [(40, 0.1, 1.0), (1, 0.3, 4.0), (100, 0.0, 0.5)]
                .iter()
                .enumerate()
            {
                let dev = BlockDev::new(dev_cfg(50, cap), device_bytes(&c.image));
                let mut b = bench::<DW, SW>(&c, dev, dram(DW / 8, lat, stall, i as u64 + 1));
                let r = clean_boot(&mut b, &c, cap);
                println!(
                    "{DW}-bit bus, {} bytes, DRAM latency {lat} stalls {stall}, device cap {cap} B/cycle: \
                     ready after {} cycles, {:.3} of the cap",
                    c.layout.image_bytes,
                    r.cycles,
                    rate(&r, &c, cap)
                );
                // The copy command asks for exactly the image's blocks from LBA.
                assert_eq!(r.device.commands, 1);
                assert_eq!(r.device.words, c.layout.blocks() * 128);
            }
        }
        one::<64, 8>();
        one::<128, 16>();
        one::<256, 32>();
        one::<512, 64>();
    });
}

/// The copy keeps up with the device: at least 90 % of the cap from the first word to
/// the last (here on a 20 KiB image; `make boot-bench` measures a stories15M image).
#[test]
fn boot_copy_runs_at_the_device_cap() {
    on_big_stack(|| {
        let qm = quant(
            &Config {
                dim: 64,
                hidden_dim: 96,
                n_layers: 2,
                n_heads: 4,
                n_kv_heads: 4,
                vocab_size: 64,
                seq_len: 16,
                shared_classifier: true,
            },
            3,
        );
        let c = Case {
            layout: BootLayout::of(&qm.config, 32, 128).unwrap(),
            image: image_bytes(&qm, 32, 128).unwrap(),
        };
        for cap in [4.0, 1.0] {
            let dev = BlockDev::new(dev_cfg(200, cap), device_bytes(&c.image));
            let mut b = bench::<128, 16>(&c, dev, dram(16, 40, 0.1, 7));
            let r = clean_boot(&mut b, &c, cap);
            let q = rate(&r, &c, cap);
            println!(
                "{} bytes at a cap of {cap} B/cycle: device words from cycle {} to {}, ready at {}: {q:.4} of the cap",
                c.layout.image_bytes,
                r.device.first_word.unwrap(),
                r.device.last_word.unwrap(),
                r.cycles
            );
            assert!(q >= 0.9, "copy at {q:.4} of the cap");
        }
    });
}

/// Expect an error with `code` (and `detail`, when given), then a clean boot of the good
/// image with a fresh device and DRAM behaviour, after a reset.
fn fault_then_clean(
    c: &Case,
    dev: BlockDev,
    d: DramConfig,
    code: u64,
    detail: Option<u64>,
    what: &str,
) {
    fault_then_clean_any(c, dev, d, &[code], detail, what)
}

/// As [`fault_then_clean`], with any of `codes` accepted.
fn fault_then_clean_any(
    c: &Case,
    dev: BlockDev,
    d: DramConfig,
    codes: &[u64],
    detail: Option<u64>,
    what: &str,
) {
    let mut b = bench::<128, 16>(c, dev, d);
    let r = b.run(budget(c, 1.0));
    match r.status {
        BootStatus::Error {
            code: got,
            detail: det,
        } => {
            assert!(
                codes.contains(&got),
                "{what}: error code {got}, want one of {codes:?} ({r:?})"
            );
            if let Some(want) = detail {
                assert_eq!(det, want, "{what}: detail {det}, want {want}");
            }
        }
        s => panic!("{what}: the copier reported {s:?}, want an error in {codes:?}"),
    }
    assert_clean(&r);
    // A clean boot afterwards: the good image, a healthy device and DRAM.
    b.dev = BlockDev::new(dev_cfg(50, 2.0), device_bytes(&c.image));
    b.set_dram(dram(16, 20, 0.1, 5), None);
    b.reset();
    clean_boot(&mut b, c, 2.0);
}

#[test]
fn a_flipped_bit_in_every_region_header_and_table_is_reported() {
    on_big_stack(|| {
        let c = tiny_case(16, 128);
        let img = &c.image;
        let v = llamahdl_image::verify::verify(&mut &img[..], "tiny").unwrap();
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let flip = |at: usize, bit: u8| {
            let mut i = img.clone();
            i[at] ^= 1 << bit;
            i
        };
        let d = || dram(16, 20, 0.1, 3);
        for (k, reg) in v.regions.iter().enumerate() {
            let at = reg.offset as usize + r.gen_range(0..reg.length as usize);
            let dev = BlockDev::new(dev_cfg(50, 2.0), device_bytes(&flip(at, r.gen_range(0..8))));
            fault_then_clean(
                &c,
                dev,
                d(),
                ERR_REGION_CRC,
                Some(k as u64),
                &format!("region {k} ({})", reg.name()),
            );
        }
        // A compared header field (dim, in word 1 of a 16-byte bus), the header's CRC,
        // a table entry's `rows`, and a region's CRC in the table.
        for (at, code, detail, what) in [
            (16usize, ERR_HEADER, Some(1u64), "header dim"),
            (0, ERR_HEADER, Some(0), "magic"),
            (125, ERR_HEADER_CRC, None, "header_crc"),
            (97, ERR_HEADER_CRC, None, "table_crc field"),
            (128 + 48 + 4, ERR_TABLE_CRC, None, "table rows"),
            (
                128 + 48 * 3 + 40,
                ERR_TABLE_CRC,
                None,
                "table crc32 of region 3",
            ),
        ] {
            let dev = BlockDev::new(dev_cfg(50, 2.0), device_bytes(&flip(at, 2)));
            fault_then_clean(&c, dev, d(), code, detail, what);
        }
    });
}

#[test]
fn truncated_image_device_error_and_dram_error_are_reported() {
    on_big_stack(|| {
        let c = tiny_case(16, 128);
        let d = || dram(16, 20, 0.1, 3);
        // The device ends early, on a block boundary: the copier reads past its end.
        let blocks = c.layout.blocks() as usize;
        for keep in [2, blocks / 2, blocks - 1] {
            let dev = BlockDev::new(dev_cfg(50, 2.0), device_bytes(&c.image[..keep * 512]));
            fault_then_clean(
                &c,
                dev,
                d(),
                ERR_DEVICE,
                None,
                &format!("truncated to {keep} blocks"),
            );
        }
        // Inside a block (the device pads it with zeros): the table's or a region's CRC
        // fails before the read past the end, whichever comes first.
        for keep in [600usize, c.image.len() / 2 + 100, c.image.len() - 3] {
            let dev = BlockDev::new(dev_cfg(50, 2.0), device_bytes(&c.image[..keep]));
            fault_then_clean_any(
                &c,
                dev,
                d(),
                &[ERR_TABLE_CRC, ERR_REGION_CRC, ERR_DEVICE],
                None,
                &format!("truncated to {keep} bytes"),
            );
        }
        // A read error in the image's first, a middle and its last block.
        for blk in [0, c.layout.blocks() / 2, c.layout.blocks() - 1] {
            let mut cfg = dev_cfg(50, 2.0);
            cfg.error_block = Some(LBA + blk);
            let dev = BlockDev::new(cfg, device_bytes(&c.image));
            fault_then_clean(
                &c,
                dev,
                d(),
                ERR_DEVICE,
                None,
                &format!("read error in block {blk}"),
            );
        }
        // DRAM answers a write burst with SLVERR.
        for burst in [0u64, 1] {
            let mut dc = d();
            dc.write_error_at = Some((burst, RESP_SLVERR));
            let dev = BlockDev::new(dev_cfg(50, 2.0), device_bytes(&c.image));
            fault_then_clean(
                &c,
                dev,
                dc,
                ERR_DRAM,
                Some(RESP_SLVERR),
                &format!("write error in burst {burst}"),
            );
        }
    });
}

#[test]
fn a_reset_at_ten_points_of_the_copy_recovers() {
    on_big_stack(|| {
        let c = tiny_case(16, 128);
        let dev = BlockDev::new(dev_cfg(50, 2.0), device_bytes(&c.image));
        let mut b = bench::<128, 16>(&c, dev, dram(16, 20, 0.1, 4));
        let whole = clean_boot(&mut b, &c, 2.0).cycles;
        for k in 1..=10u64 {
            // A fresh DRAM, so that the reboot has to write everything again.
            let zeros = vec![0; b.dram.mem().len()];
            b.set_dram(dram(16, 20, 0.1, 4 + k), Some(zeros));
            b.reset();
            let at = whole * k / 11;
            for _ in 0..at {
                b.step(false);
            }
            assert_eq!(b.status(), BootStatus::Busy, "reset point {k}: cycle {at}");
            b.reset();
            let r = clean_boot(&mut b, &c, 2.0);
            println!(
                "reset at cycle {at} of {whole}: ready {} cycles after it",
                r.cycles
            );
        }
    });
}

/// The copier's Verilog (64- and 128-bit buses; the trace co-simulation takes ports of
/// at most 128 bits) replayed in Icarus and Verilator against native runs: a clean boot,
/// and one with a region CRC error.
#[test]
fn cosim_icarus_and_verilator() {
    on_big_stack(|| {
        fn one<const DW: usize, const SW: usize>(flip: bool) {
            let c = tiny_case(16, DW as u32);
            let mut img = c.image.clone();
            if flip {
                let n = img.len();
                img[n - 5] ^= 0x10;
            }
            let dev = BlockDev::new(dev_cfg(9, 2.0), device_bytes(&img));
            let b = bench::<DW, SW>(&c, dev, dram(DW / 8, 7, 0.2, 2));
            let mut b = b.traced();
            let r = b.run(budget(&c, 2.0));
            let want = if flip { "error" } else { "ready" };
            assert_eq!(r.status == BootStatus::Ready, !flip, "{r:?}");
            let mut t = b.drv.take_trace().unwrap();
            // The FIFO's block RAM output is undefined in Verilog until its first write.
            for k in 0..t.len() {
                if t.raw(k, "wvalid") == 0 {
                    t.set_dont_care(k, "wdata");
                }
            }
            let v =
                emit_verilog(BootCopier::<DW, SW, 9>::with_layout(&c.layout, params()).unwrap());
            let dir = tempfile::tempdir().unwrap();
            let rep = run_icarus(&v, "top", &t, dir.path()).expect("icarus could not run");
            rep.assert_clean();
            assert_eq!(rep.cycles, t.len());
            let dir = tempfile::tempdir().unwrap();
            let rep = run_verilator(&v, "top", &t, dir.path()).expect("verilator could not run");
            rep.assert_clean();
            println!(
                "{DW}-bit, {want}: {} cycles agree in Icarus and Verilator",
                t.len()
            );
        }
        one::<64, 8>(false);
        one::<128, 16>(true);
    });
}

fn boot_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/units/boot")
}

/// The copier's Verilog for the tiny shape on a 64-bit bus (`src/units/boot/snapshots/`;
/// update with `INSTA_UPDATE=always cargo test -p llamahdl-hw --test boot`).
#[test]
fn snapshot_boot_copier_tiny_64bit() {
    let c = tiny_case(16, 64);
    let v = emit_verilog(BootCopier::<64, 8, 9>::with_layout(&c.layout, params()).unwrap());
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(boot_dir().join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!("boot_copier_tiny_w64", v));
}

/// `verilator --lint-only -Wall` of the copier at every bus width (the write master's and
/// the checks' waivers, `src/units/dram/verilator_waivers.vlt`, apply).
#[test]
fn lint_boot_copier_all_widths() {
    fn one<const DW: usize, const SW: usize>() {
        let c = tiny_case(16, DW as u32);
        let v = emit_verilog(BootCopier::<DW, SW, 9>::with_layout(&c.layout, params()).unwrap());
        llamahdl_hw::cosim::assert_lint_clean_with(
            &format!("boot copier {DW}"),
            &v,
            &boot_dir().join("verilator_waivers.vlt"),
        );
    }
    one::<64, 8>();
    one::<128, 16>();
    one::<256, 32>();
    one::<512, 64>();
}

/// Bad placements and shapes are refused with a reason, not a panic.
#[test]
fn refuses_bad_parameters() {
    let c = tiny_case(16, 64);
    let bad = |p: BootParams| {
        BootCopier::<64, 8, 9>::with_layout(&c.layout, p)
            .err()
            .map(|e| e.0)
    };
    let e = bad(BootParams {
        base: 0x1234,
        ..params()
    })
    .expect("unaligned base refused");
    assert!(e.contains("multiple of 4096"), "{e}");
    let e = bad(BootParams {
        lba: u32::MAX as u64,
        ..params()
    })
    .expect("huge lba refused");
    assert!(e.contains("32 bits"), "{e}");
    assert!(BootCopier::<64, 8, 9>::new(&Config::TINY, 16, params()).is_ok());
}
