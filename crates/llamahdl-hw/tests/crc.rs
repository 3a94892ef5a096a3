//! The stream CRC-32 (`units/dram/crc.rs`): its affine map against `crc32fast`, the native
//! block against `crc32fast::hash` on random streams with gaps and clears, the CRC of every
//! region of the real stories260K image equal to the region table's (with
//! `LLAMAHDL_MODELS`), the emitted Verilog against the native simulation in Icarus (64,
//! 128 bits) and in a self-checking Icarus bench at 256 and 512 bits, lint of every width,
//! a snapshot of the 64-bit Verilog.

use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::bits::bits_of_bytes;
use llamahdl_hw::cosim::{assert_driver_cosim, assert_lint_clean_with, emit_verilog};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::dram::crc::{word_map, Crc32Word};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::process::Command;

fn driver<const DW: usize>(trace: bool) -> Driver<Crc32Word<DW>> {
    let d = Driver::new(Crc32Word::<DW>::default(), |u, c| u.clock.next = c.into());
    if trace {
        d.with_trace()
    } else {
        d
    }
}

/// Feed `words` (DW/8 bytes each) with random gaps; returns the block's CRC one cycle after
/// the last word (and checks the running CRC after every word).
fn run<const DW: usize>(
    d: &mut Driver<Crc32Word<DW>>,
    bytes: &[u8],
    rng: &mut ChaCha8Rng,
    gaps: f64,
) -> u32 {
    let wb = DW / 8;
    d.uut.clear.next = true;
    d.uut.en.next = rng.gen();
    d.tick();
    d.uut.clear.next = false;
    assert_eq!(d.uut.crc.val().to_u64(), 0, "crc after clear");
    let mut k = 0;
    while k < bytes.len() / wb {
        let en = !rng.gen_bool(gaps);
        d.uut.en.next = en;
        d.uut.data.next = if en {
            bits_of_bytes::<DW>(&bytes[k * wb..(k + 1) * wb])
        } else {
            bits_of_bytes::<DW>(&(0..wb).map(|_| rng.gen()).collect::<Vec<u8>>())
        };
        d.tick();
        if en {
            k += 1;
            if rng.gen_bool(0.1) || k == bytes.len() / wb {
                assert_eq!(
                    d.uut.crc.val().to_u64() as u32,
                    crc32fast::hash(&bytes[..k * wb]),
                    "running CRC after {k} words"
                );
            }
        }
    }
    d.uut.en.next = false;
    d.tick();
    d.uut.crc.val().to_u64() as u32
}

/// The map the Verilog is built from, applied in Rust, equals crc32fast.
#[test]
fn word_map_matches_crc32fast() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for dw in [64usize, 128, 256, 512] {
        let (a, b, k) = word_map(dw);
        for _ in 0..200 {
            let c: u32 = rng.gen();
            let w: Vec<u8> = (0..dw / 8).map(|_| rng.gen()).collect();
            let mut n = k;
            for (i, col) in a.iter().enumerate() {
                if c >> i & 1 == 1 {
                    n ^= col;
                }
            }
            for (j, col) in b.iter().enumerate() {
                if w[j / 8] >> (j % 8) & 1 == 1 {
                    n ^= col;
                }
            }
            let mut h = crc32fast::Hasher::new_with_initial(c);
            h.update(&w);
            assert_eq!(n, h.finalize(), "dw {dw}");
        }
    }
}

fn random_streams<const DW: usize>() {
    let mut d = driver::<DW>(false);
    let mut rng = ChaCha8Rng::seed_from_u64(DW as u64);
    for (n, gaps) in [(1usize, 0.0), (2, 0.5), (37, 0.2), (300, 0.0), (129, 0.6)] {
        let bytes: Vec<u8> = (0..n * DW / 8).map(|_| rng.gen()).collect();
        assert_eq!(run(&mut d, &bytes, &mut rng, gaps), crc32fast::hash(&bytes));
    }
    // All zeros and all ones (the affine constant and every column at once).
    for fill in [0u8, 0xFF] {
        let bytes = vec![fill; 16 * DW / 8];
        assert_eq!(run(&mut d, &bytes, &mut rng, 0.1), crc32fast::hash(&bytes));
    }
}

#[test]
fn random_streams_64() {
    random_streams::<64>();
}

#[test]
fn random_streams_128() {
    random_streams::<128>();
}

#[test]
fn random_streams_512() {
    random_streams::<512>();
}

/// Every region of the real stories260K image, streamed as bus words, has the CRC-32 its
/// table entry records.
#[test]
fn real_stories260k_region_crcs() {
    let Some(ck) = llamahdl_model::testutil::stories260k() else {
        println!("SKIPPED (not run): LLAMAHDL_MODELS is not set (stories260K region CRCs)");
        return;
    };
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    let img = llamahdl_image::write::image_bytes(&qm, 64, 512).expect("image");
    let (_, image) = llamahdl_image::decode(&img, "stories260K image").expect("decode");
    let mut d = driver::<512>(false);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for r in &image.regions {
        let b = llamahdl_image::decode::region_bytes(&img, r);
        assert_eq!(b.len() % 64, 0, "{}: not whole bus words", r.name());
        assert_eq!(run(&mut d, b, &mut rng, 0.05), r.crc32, "{}", r.name());
    }
    println!("{} regions checked", image.regions.len());
}

fn cosim<const DW: usize>() {
    let mut d = driver::<DW>(true);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for n in [5usize, 40, 17] {
        let bytes: Vec<u8> = (0..n * DW / 8).map(|_| rng.gen()).collect();
        assert_eq!(run(&mut d, &bytes, &mut rng, 0.3), crc32fast::hash(&bytes));
    }
    assert_driver_cosim(emit_verilog(Crc32Word::<DW>::default()), &mut d);
}

#[test]
fn cosim_icarus_64() {
    cosim::<64>();
}

#[test]
fn cosim_icarus_128() {
    cosim::<128>();
}

/// Wider than the co-simulation harness's ports: a self-checking Icarus bench feeds words
/// and compares the final CRC with crc32fast's.
fn icarus_bench<const DW: usize>() {
    let wb = DW / 8;
    let mut rng = ChaCha8Rng::seed_from_u64(DW as u64 + 1);
    let words = 23;
    let bytes: Vec<u8> = (0..words * wb).map(|_| rng.gen()).collect();
    let want = crc32fast::hash(&bytes);
    let mut tb = format!(
        "module tb;\nreg clock = 0, clear = 1, en = 0;\nreg [{}:0] data = 0;\nwire [31:0] crc;\n\
         top dut(.clock(clock), .clear(clear), .en(en), .data(data), .crc(crc));\n\
         always #5 clock = ~clock;\ninitial begin\n@(negedge clock); clear = 0; en = 1;\n",
        DW - 1
    );
    for k in 0..words {
        let hex: String = bytes[k * wb..(k + 1) * wb]
            .iter()
            .rev()
            .map(|b| format!("{b:02x}"))
            .collect();
        tb += &format!("data = {DW}'h{hex}; @(negedge clock);\n");
        if k == 10 {
            // A gap with junk on the bus.
            tb += &format!("en = 0; data = ~data; @(negedge clock); en = 1;\n");
        }
    }
    tb += &format!(
        "en = 0; @(negedge clock);\nif (crc === 32'h{want:08x}) $display(\"PASS\");\n\
         else $display(\"FAIL %h\", crc);\n$finish;\nend\nendmodule\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("top.v"),
        emit_verilog(Crc32Word::<DW>::default()),
    )
    .unwrap();
    std::fs::write(dir.path().join("tb.v"), tb).unwrap();
    let st = Command::new("iverilog")
        .current_dir(dir.path())
        .args(["-o", "sim", "tb.v", "top.v"])
        .status()
        .expect("iverilog must be installed");
    assert!(st.success(), "iverilog failed");
    let out = Command::new("vvp")
        .current_dir(dir.path())
        .arg("sim")
        .output()
        .expect("vvp");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PASS"), "{DW}-bit CRC in Icarus: {text}");
}

#[test]
fn icarus_bench_256() {
    icarus_bench::<256>();
}

#[test]
fn icarus_bench_512() {
    icarus_bench::<512>();
}

fn dram_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/units/dram")
}

#[test]
fn lint_every_width() {
    let w = dram_dir().join("verilator_waivers.vlt");
    assert_lint_clean_with(
        "Crc32Word 64",
        &emit_verilog(Crc32Word::<64>::default()),
        &w,
    );
    assert_lint_clean_with(
        "Crc32Word 128",
        &emit_verilog(Crc32Word::<128>::default()),
        &w,
    );
    assert_lint_clean_with(
        "Crc32Word 256",
        &emit_verilog(Crc32Word::<256>::default()),
        &w,
    );
    assert_lint_clean_with(
        "Crc32Word 512",
        &emit_verilog(Crc32Word::<512>::default()),
        &w,
    );
}

#[test]
fn snapshot_crc32_64() {
    let v = emit_verilog(Crc32Word::<64>::default());
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(dram_dir().join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!("crc32_word_w64", v));
}
