//! The image header check (`units/dram/header_check.rs`): a header planned for the design
//! passes on every bus width (whatever its CRC fields hold, with gaps between words);
//! every single-bit flip in a compared byte is an `error` naming its word; an image
//! planned for another shape, lane count or bus width is refused; the real stories260K
//! image's header passes (when `LLAMAHDL_MODELS` is set). Co-simulated in Icarus
//! (64- and 128-bit: the harness's port limit), linted for every width, snapshot of the
//! 64-bit Verilog in `src/units/dram/snapshots/`.

use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::bits::bits_of_bytes;
use llamahdl_hw::cosim::{assert_driver_cosim, assert_lint_clean_with, emit_verilog};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::dram::header_check::{compared_bytes, header_words, HeaderCheck};
use llamahdl_image::format::{HEADER_BYTES, HEADER_DATA_DEPENDENT};
use llamahdl_image::layout::plan;
use llamahdl_model::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

fn header(cfg: &Config, lanes: u32, bus: u32) -> [u8; HEADER_BYTES] {
    plan(cfg, lanes, bus, ScaleMode::Mant8)
        .expect("plan")
        .header
        .encode()
}

fn driver<const DW: usize>(expected: &[u8; HEADER_BYTES], trace: bool) -> Driver<HeaderCheck<DW>> {
    let d = Driver::new(HeaderCheck::<DW>::new(expected), |u, c| {
        u.clock.next = c.into()
    });
    if trace {
        d.with_trace()
    } else {
        d
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Ok,
    Error(u64),
}

/// Reset, start, then stream `bytes` (the header followed by `extra` more words) with a
/// random gap between words; returns the verdict and checks the timing on the way.
fn check<const DW: usize>(
    d: &mut Driver<HeaderCheck<DW>>,
    bytes: &[u8],
    seed: u64,
    gaps: f64,
) -> Verdict {
    let wb = DW / 8;
    let nw = header_words(DW);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    d.uut.reset.next = true;
    d.uut.start.next = false;
    d.uut.take.next = false;
    d.uut.in_data.next = Default::default();
    d.tick();
    d.uut.reset.next = false;
    assert!(!d.uut.busy.val() && !d.uut.ok.val() && !d.uut.error.val());
    d.uut.start.next = true;
    d.tick();
    d.uut.start.next = false;
    assert!(d.uut.busy.val(), "busy after start");
    let words = bytes.len() / wb;
    let mut k = 0;
    while k < words {
        // Junk on the bus without `take` must be ignored.
        let take = !rng.gen_bool(gaps);
        d.uut.take.next = take;
        d.uut.in_data.next = if take {
            bits_of_bytes::<DW>(&bytes[k * wb..(k + 1) * wb])
        } else {
            bits_of_bytes::<DW>(&(0..wb).map(|_| rng.gen()).collect::<Vec<u8>>())
        };
        d.tick();
        assert!(!(d.uut.ok.val() && d.uut.error.val()));
        if take {
            k += 1;
            if k == nw {
                // The verdict comes 2 cycles after the last header word.
                assert!(!d.uut.ok.val(), "ok too early");
                d.uut.take.next = false;
                d.tick();
                assert!(
                    d.uut.ok.val() || d.uut.error.val(),
                    "no verdict 2 cycles after the last word"
                );
                assert!(!d.uut.busy.val(), "busy after the verdict");
            }
        }
    }
    d.uut.take.next = false;
    for _ in 0..3 {
        d.tick();
    }
    assert!(!d.uut.busy.val());
    match (d.uut.ok.val(), d.uut.error.val()) {
        (true, false) => Verdict::Ok,
        (false, true) => Verdict::Error(d.uut.bad_word.val().index() as u64),
        other => panic!("ok/error = {other:?}"),
    }
}

/// The header plus two words of the stream after it (the checker must ignore them).
fn stream(h: &[u8; HEADER_BYTES], wb: usize, fill: u8) -> Vec<u8> {
    let mut v = h.to_vec();
    v.extend(std::iter::repeat(fill).take(2 * wb));
    v
}

fn planned_header_passes<const DW: usize>() {
    let bus = DW as u32;
    for (cfg, lanes) in [
        (Config::STORIES260K, 64),
        (Config::ODD, 16),
        (Config::TINY, 128),
    ] {
        let lanes = lanes.max(bus / 8);
        let h = header(&cfg, lanes, bus);
        let mut d = driver::<DW>(&h, false);
        // The CRC fields as an image with weights would have them.
        let mut img = h;
        for r in HEADER_DATA_DEPENDENT {
            for (i, b) in img[r].iter_mut().enumerate() {
                *b = 0xA5 ^ i as u8;
            }
        }
        for seed in 0..4 {
            let gaps = [0.0, 0.3, 0.7, 0.0][seed as usize];
            assert_eq!(
                check(&mut d, &stream(&img, DW / 8, 0x5A), seed, gaps),
                Verdict::Ok
            );
        }
    }
}

#[test]
fn planned_header_passes_64() {
    planned_header_passes::<64>();
}

#[test]
fn planned_header_passes_128() {
    planned_header_passes::<128>();
}

#[test]
fn planned_header_passes_256() {
    planned_header_passes::<256>();
}

#[test]
fn planned_header_passes_512() {
    planned_header_passes::<512>();
}

fn every_bit_flip<const DW: usize>() {
    let wb = DW / 8;
    let h = header(&Config::STORIES260K, 64, DW as u32);
    let m = compared_bytes();
    let mut d = driver::<DW>(&h, false);
    let mut caught = 0;
    for byte in 0..HEADER_BYTES {
        for bit in [0, 7, (byte % 8) as u8] {
            let mut bad = h;
            bad[byte] ^= 1 << bit;
            let want = if m[byte] == 0 {
                Verdict::Ok
            } else {
                caught += 1;
                Verdict::Error((byte / wb) as u64)
            };
            assert_eq!(
                check(&mut d, &stream(&bad, wb, 0), byte as u64, 0.2),
                want,
                "byte {byte} bit {bit}"
            );
        }
    }
    assert_eq!(caught, 3 * 120);
}

#[test]
fn every_compared_bit_flip_is_an_error_64() {
    every_bit_flip::<64>();
}

#[test]
fn every_compared_bit_flip_is_an_error_512() {
    every_bit_flip::<512>();
}

/// Two bad words: `bad_word` names the first.
#[test]
fn first_bad_word_is_reported() {
    let h = header(&Config::STORIES260K, 64, 64);
    let mut bad = h;
    bad[20] ^= 0x10; // word 2
    bad[70] ^= 0x01; // word 8
    let mut d = driver::<64>(&h, false);
    assert_eq!(
        check(&mut d, &stream(&bad, 8, 0), 3, 0.4),
        Verdict::Error(2)
    );
}

/// Images planned for another shape, lane count or bus width (the user's likely
/// mistakes) are refused, and the word named is the first field that differs.
#[test]
fn other_layouts_are_refused() {
    let want = header(&Config::STORIES260K, 64, 128);
    let mut d = driver::<128>(&want, false);
    let mut other_shape = Config::STORIES260K;
    other_shape.seq_len *= 2;
    let cases = [
        ("another shape", header(&other_shape, 64, 128)),
        ("another lane count", header(&Config::STORIES260K, 32, 128)),
        ("another bus width", header(&Config::STORIES260K, 64, 256)),
        ("another model", header(&Config::ODD, 64, 128)),
    ];
    for (what, img) in cases {
        let first = (0..HEADER_BYTES)
            .find(|&i| compared_bytes()[i] != 0 && img[i] != want[i])
            .unwrap_or_else(|| panic!("{what}: no compared byte differs"));
        assert_eq!(
            check(&mut d, &stream(&img, 16, 0), 9, 0.1),
            Verdict::Error((first / 16) as u64),
            "{what}"
        );
    }
    // A stream of zeros (DRAM never filled) fails on the magic.
    assert_eq!(
        check(&mut d, &[0u8; HEADER_BYTES + 32], 1, 0.0),
        Verdict::Error(0)
    );
}

/// The real stories260K image, as `llamahdl image` writes it, against the header planned
/// from its shape alone.
#[test]
fn real_stories260k_image_header_passes() {
    let Some(ck) = llamahdl_model::testutil::stories260k() else {
        println!("SKIPPED (not run): LLAMAHDL_MODELS is not set (stories260K image header)");
        return;
    };
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    for bus in [64u32, 512] {
        let img = llamahdl_image::write::image_bytes(&qm, 64, bus).expect("image");
        let h = header(&qm.config, 64, bus);
        assert_ne!(
            img[..HEADER_BYTES],
            h[..],
            "the real header's CRC fields are set"
        );
        let words = &img[..HEADER_BYTES + 4 * bus as usize / 8];
        if bus == 64 {
            let mut d = driver::<64>(&h, false);
            assert_eq!(check(&mut d, words, 5, 0.3), Verdict::Ok);
        } else {
            let mut d = driver::<512>(&h, false);
            assert_eq!(check(&mut d, words, 5, 0.3), Verdict::Ok);
        }
    }
}

fn cosim<const DW: usize>() {
    let h = header(&Config::STORIES260K, 64, DW as u32);
    let mut d = driver::<DW>(&h, true);
    let mut bad = h;
    bad[40] ^= 4;
    assert_eq!(check(&mut d, &stream(&h, DW / 8, 1), 1, 0.3), Verdict::Ok);
    assert!(matches!(
        check(&mut d, &stream(&bad, DW / 8, 2), 2, 0.3),
        Verdict::Error(_)
    ));
    assert_eq!(check(&mut d, &stream(&h, DW / 8, 3), 3, 0.0), Verdict::Ok);
    assert_driver_cosim(emit_verilog(HeaderCheck::<DW>::new(&h)), &mut d);
}

#[test]
fn cosim_icarus_64() {
    cosim::<64>();
}

#[test]
fn cosim_icarus_128() {
    cosim::<128>();
}

fn dram_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/units/dram")
}

#[test]
fn lint_every_width() {
    let w = dram_dir().join("verilator_waivers.vlt");
    let h = header(&Config::STORIES260K, 64, 64);
    assert_lint_clean_with(
        "HeaderCheck 64",
        &emit_verilog(HeaderCheck::<64>::new(&h)),
        &w,
    );
    let h = header(&Config::STORIES260K, 64, 128);
    assert_lint_clean_with(
        "HeaderCheck 128",
        &emit_verilog(HeaderCheck::<128>::new(&h)),
        &w,
    );
    let h = header(&Config::STORIES260K, 64, 256);
    assert_lint_clean_with(
        "HeaderCheck 256",
        &emit_verilog(HeaderCheck::<256>::new(&h)),
        &w,
    );
    let h = header(&Config::STORIES260K, 64, 512);
    assert_lint_clean_with(
        "HeaderCheck 512",
        &emit_verilog(HeaderCheck::<512>::new(&h)),
        &w,
    );
}

#[test]
fn snapshot_header_check_64() {
    let h = header(&Config::STORIES260K, 64, 64);
    let v = emit_verilog(HeaderCheck::<64>::new(&h));
    assert_eq!(
        v,
        emit_verilog(HeaderCheck::<64>::new(&h)),
        "not deterministic"
    );
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(dram_dir().join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!("header_check_w64_stories260k_l64", v));
}
