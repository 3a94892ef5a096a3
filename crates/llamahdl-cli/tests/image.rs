//! `llamahdl image`: writing (reproducible, atomic, never over an input), `--check`'s
//! table and JSON, and every kind of bad image refused by `--check` with a message naming
//! the file and the problem, exit status 1 and nothing on stdout. The bad images are made
//! by corrupting a good one: of a synthetic checkpoint (always run) and of the real
//! stories260K (run when LLAMAHDL_MODELS is set; otherwise `SKIPPED (not run)`).

use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_model::{synth, testutil, Config};
use std::path::Path;

mod common;
use common::*;

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Recompute the region table's and the header's CRC-32 of a well-formed image.
fn reseal(b: &mut [u8]) {
    let data = u64::from_le_bytes(b[80..88].try_into().unwrap()) as usize;
    put32(b, 96, crc32fast::hash(&b[128..data]));
    put32(b, 124, crc32fast::hash(&b[..124]));
}

/// `image --check IMG --json`, parsed.
fn table(img: &Path) -> serde_json::Value {
    let o = run_ok(&["image", "--check", s(img), "--json"]);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Index and offset of the region called `name`.
fn region(t: &serde_json::Value, name: &str) -> (usize, u64, u64) {
    let r = t["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no region {name}"));
    (
        r["index"].as_u64().unwrap() as usize,
        r["offset"].as_u64().unwrap(),
        r["crc32"].as_u64().unwrap(),
    )
}

/// Every image error, each made by corrupting the image of checkpoint `ck` (`other`: a
/// checkpoint of another shape, `twin`: one of the same shape with other weights).
fn every_bad_image_is_refused(f: &Files, ck: &Path, other: &Path, twin: &Path) {
    let img = f.path("good.img");
    run_ok(&["image", "--checkpoint", s(ck), "--out", s(&img)]);
    let good = std::fs::read(&img).unwrap();
    let t = table(&img);
    let n = good.len();
    // A corrupted copy, refused with these needles.
    let refused = |name: &str, bytes: &[u8], extra: &[&str], needles: &[&str]| {
        let p = f.write(name, bytes);
        let mut args = vec!["image", "--check", s(&p)];
        args.extend_from_slice(extra);
        let mut all = vec![s(&p)];
        all.extend_from_slice(needles);
        fails(&args, 1, &all);
        // With --json too: still nothing on stdout.
        args.push("--json");
        fails(&args, 1, &all);
    };

    let mut b = good.clone();
    b[..8].copy_from_slice(b"GGUF\x03\0\0\0");
    refused(
        "magic.img",
        &b,
        &[],
        &["bad magic", "not a llamahdl weight image"],
    );
    refused(
        "ck-as-image.img",
        &std::fs::read(ck).unwrap(),
        &[],
        &["bad magic"],
    );

    let mut b = good.clone();
    put32(&mut b, 8, 2);
    refused(
        "version.img",
        &b,
        &[],
        &["unknown format version 2 (this tool reads version 1)"],
    );

    refused(
        "empty.img",
        &[],
        &[],
        &["truncated image: 0 bytes, shorter than 128 bytes (the header)"],
    );
    refused(
        "short-header.img",
        &good[..100],
        &[],
        &["truncated image: 100 bytes, shorter than 128 bytes (the header)"],
    );
    let cut = format!(
        "truncated image: {} bytes, shorter than {n} bytes (the image size in its header)",
        n - 64
    );
    refused("cut.img", &good[..n - 64], &[], &[&cut]);
    let cut = format!("truncated image: 1000 bytes, shorter than {n} bytes");
    refused("cut-in-table.img", &good[..1000], &[], &[&cut]);
    let mut b = good.clone();
    b.extend_from_slice(&[0; 64]);
    refused("long.img", &b, &[], &["64 trailing bytes"]);

    let mut b = good.clone();
    b[16] ^= 0x40; // dim
    refused(
        "header-crc.img",
        &b,
        &[],
        &["header CRC-32 mismatch (stored 0x"],
    );
    let mut b = good.clone();
    b[128 + 48 + 4] ^= 1; // rows of region 1
    refused("table-crc.img", &b, &[], &["region table CRC-32 mismatch"]);

    let (index, offset, crc) = region(&t, "layer 1 w1");
    let mut b = good.clone();
    b[offset as usize + 300] ^= 0x08;
    let want =
        format!("region {index} (layer 1 w1): CRC-32 mismatch (stored 0x{crc:08x}, computed 0x");
    refused("region-crc.img", &b, &[], &[&want]);

    // Forged (CRCs recomputed): a shape the header's table does not fit, an invalid shape,
    // lanes the format does not allow, overlapping and misaligned regions.
    let mut b = good.clone();
    put32(&mut b, 24, 1); // n_layers
    reseal(&mut b);
    refused(
        "forged-layers.img",
        &b,
        &[],
        &["header field region_count is"],
    );
    let mut b = good.clone();
    put32(&mut b, 16, 0);
    reseal(&mut b);
    refused("forged-dim.img", &b, &[], &["header shape", "dim is 0"]);
    let mut b = good.clone();
    put32(&mut b, 48, 3);
    reseal(&mut b);
    refused("forged-lanes.img", &b, &[], &["header field lanes is 3"]);
    let (i3, _, _) = region(&t, "layer 0 wo");
    let (_, o2, _) = region(&t, "layer 0 wqkv");
    let mut b = good.clone();
    put64(&mut b, 128 + 48 * i3 + 24, o2);
    reseal(&mut b);
    refused(
        "forged-overlap.img",
        &b,
        &[],
        &[&format!(
            "region {i3} (layer 0 wo): offset {o2} overlaps region"
        )],
    );
    let mut b = good.clone();
    put64(&mut b, 128 + 48 * i3 + 24, u64::MAX - 63);
    reseal(&mut b);
    refused("forged-past-end.img", &b, &[], &["reaches past the end"]);
    let mut b = good.clone();
    put64(&mut b, 128 + 48 * i3 + 32, u64::MAX - 63);
    reseal(&mut b);
    refused("forged-length.img", &b, &[], &["reaches past the end"]);
    let mut b = good.clone();
    put64(&mut b, 128 + 48 * i3 + 24, o2 + 8);
    reseal(&mut b);
    refused(
        "forged-misaligned.img",
        &b,
        &[],
        &["not a multiple of the 64-byte bus word"],
    );
    // Blocks of 32 rows where the layout has 32 + 64-byte rows; forged to 33.
    let stride = t["regions"][i3]["block_stride"].as_u64().unwrap();
    assert_eq!(stride, 64 + 32 * 64);
    let mut b = good.clone();
    put32(&mut b, 128 + 48 * i3 + 20, stride as u32 + 64);
    reseal(&mut b);
    let want = format!(
        "region {i3} (layer 0 wo): block_stride is {}, but the header's shape and layout need \
         {stride}",
        stride + 64
    );
    refused("forged-block-stride.img", &b, &[], &[&want]);
    // A dirty byte after the one scale of the embedding's block 3 (token 3), its CRC-32
    // recomputed.
    let (e, eo, _) = region(&t, "embedding");
    assert_eq!(t["regions"][e]["block_rows"], 1);
    let mut b = good.clone();
    b[eo as usize + 3 * 128 + 2] = 1;
    let len = t["regions"][e]["length"].as_u64().unwrap() as usize;
    let crc = crc32fast::hash(&b[eo as usize..eo as usize + len]);
    put32(&mut b, 128 + 48 * e + 40, crc);
    reseal(&mut b);
    refused(
        "dirty-scale-word.img",
        &b,
        &[],
        &["region 0 (embedding): byte 386 (unused scale slots of block 3) is 0x01"],
    );

    // Not the design, the flags or the checkpoint asked for.
    let img_s = s(&img);
    fails(
        &["image", "--check", img_s, "--lanes", "16"],
        1,
        &[img_s, "laid out for 32 lanes, not the 16 lanes asked for"],
    );
    fails(
        &["image", "--check", img_s, "--bus-bits", "128"],
        1,
        &[img_s, "512-bit bus, not the 128-bit bus asked for"],
    );
    fails(
        &["image", "--check", img_s, "--checkpoint", s(other)],
        1,
        &[
            img_s,
            "the image's model shape is not",
            s(other),
            "in the image",
        ],
    );
    fails(
        &["image", "--check", img_s, "--checkpoint", s(twin)],
        1,
        &[
            img_s,
            "region 0 (embedding)",
            "differ from",
            s(twin),
            "made from another checkpoint",
        ],
    );
    // The good image passes every check it is asked for.
    let o = run_ok(&[
        "image",
        "--check",
        img_s,
        "--checkpoint",
        s(ck),
        "--lanes",
        "32",
        "--bus-bits",
        "512",
    ]);
    assert!(
        stdout(&o).contains("same shape and weights"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_synthetic_images_are_refused() {
    let f = Files::new();
    let c = Config::STORIES260K;
    let ck = f.model_seeded("s.bin", &c, 3);
    let other = f.model_seeded("o.bin", &Config { n_layers: 2, ..c }, 3);
    let twin = f.model_seeded("t.bin", &c, 4);
    every_bad_image_is_refused(&f, &ck, &other, &twin);
}

#[test]
fn bad_real_images_are_refused() {
    let Some(dir) = testutil::models_dir() else {
        return;
    };
    let f = Files::new();
    let ck = dir.join("stories260K.bin");
    let c = Config::STORIES260K;
    let other = f.model_seeded("o.bin", &Config { dim: 128, ..c }, 1);
    let twin = f.model_seeded("t.bin", &c, 1);
    every_bad_image_is_refused(&f, &ck, &other, &twin);
}

/// Images the format allows but this design cannot run.
#[test]
fn images_for_another_design_are_refused() {
    let f = Files::new();
    let qm = QuantModel::quantise(&synth::generate(&Config::TINY, 1), ScaleMode::Mant8);
    let wide = f.write(
        "128.img",
        &llamahdl_image::image_bytes(&qm, 128, 256).unwrap(),
    );
    fails(
        &["image", "--check", s(&wide)],
        1,
        &[
            s(&wide),
            "does not match this design: 128 lanes",
            "[4, 8, 16, 32, 64]",
        ],
    );
    let c = Config {
        dim: 64,
        n_heads: 4,
        n_kv_heads: 4,
        ..Config::TINY
    };
    let qm = QuantModel::quantise(&synth::generate(&c, 1), ScaleMode::Mant8);
    // head_dim 16 on 8 lanes: the attention splits a head into two chunks, so the image
    // is accepted (it was refused before heads could be split), and the writer makes the
    // same bytes.
    let narrow = f.write("8.img", &llamahdl_image::image_bytes(&qm, 8, 64).unwrap());
    run_ok(&["image", "--check", s(&narrow)]);
    let ck = f.model_seeded("hd16.bin", &c, 1);
    let out = f.path("hd16.img");
    run_ok(&[
        "image",
        "--checkpoint",
        s(&ck),
        "--out",
        s(&out),
        "--lanes",
        "8",
        "--bus-bits",
        "64",
    ]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&narrow).unwrap()
    );
}

#[test]
fn images_are_reproducible_and_checked_tables_are_printed() {
    let f = Files::new();
    let ck = f.model_seeded("odd.bin", &Config::ODD, 2);
    let a = f.path("a.img");
    let b = f.path("b.img");
    for out in [&a, &b] {
        let o = run_ok(&[
            "image",
            "--checkpoint",
            s(&ck),
            "--out",
            s(out),
            "--lanes",
            "16",
            "--bus-bits",
            "128",
        ]);
        assert!(o.stdout.is_empty());
        assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
    }
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    let t = table(&a);
    assert_eq!(t["valid"], true);
    assert_eq!(t["lanes"], 16);
    assert_eq!(t["bus_bits"], 128);
    assert_eq!(t["bus_word_bytes"], 16);
    assert_eq!(t["config"]["dim"], 48);
    assert_eq!(t["quant"]["scale_mode"], "Mant8");
    assert_eq!(
        t["image_bytes"].as_u64().unwrap(),
        std::fs::metadata(&a).unwrap().len()
    );
    let regions = t["regions"].as_array().unwrap();
    // Embedding, 7 per layer, final gains, separate classifier.
    assert_eq!(regions.len(), 1 + 7 * 3 + 1 + 1);
    let names: Vec<&str> = regions
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[..9],
        [
            "embedding",
            "layer 0 rms_att",
            "layer 0 wqkv",
            "layer 0 wo",
            "layer 0 rms_ffn",
            "layer 0 w1",
            "layer 0 w3",
            "layer 0 w2",
            "layer 1 rms_att"
        ]
    );
    assert_eq!(names[names.len() - 1], "classifier");
    // 16-byte words and 16 lanes: 48-column rows take 48 bytes; the embedding has one row
    // a block, the streamed matrices 8 (one word of scales), the gains one.
    for (i, (rows, stride)) in [(0, (1, 16 + 48)), (2, (8, 16 + 8 * 48)), (1, (1, 16 + 96))] {
        assert_eq!(regions[i]["block_rows"], rows, "{}", names[i]);
        assert_eq!(regions[i]["block_stride"], stride, "{}", names[i]);
    }
    let text = stdout(&run_ok(&["image", "--check", s(&a)]));
    for needle in [
        "format:        llamahdl weight image version 1",
        "layout:        16 lanes, 128-bit bus (16-byte words)",
        "dim 48 hidden 128 layers 3 heads 6/2 vocab 300 seq_len 64, separate classifier",
        "24 regions at byte 128",
        "row_stride  block_rows  block_stride",
        "layer 2 w2",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    // Another layout gives another image, which --check tells apart.
    let c = f.path("c.img");
    run_ok(&["image", "--checkpoint", s(&ck), "--out", s(&c)]);
    assert_eq!(table(&c)["lanes"], 32);
    assert_eq!(table(&c)["bus_bits"], 512);
    // Rewriting an image in place is fine (it is the output, not an input).
    run_ok(&["image", "--checkpoint", s(&ck), "--out", s(&c)]);
    assert_eq!(f.listing(), ["a.img", "b.img", "c.img", "odd.bin"]);
}

#[test]
fn writing_never_touches_an_input_nor_leaves_a_partial_file() {
    let f = Files::new();
    let ck = f.model_seeded("m.bin", &Config::TINY, 1);
    let before = std::fs::read(&ck).unwrap();
    let link = f.path("link.bin");
    std::os::unix::fs::symlink(&ck, &link).unwrap();
    for out in [&ck, &link] {
        fails(
            &["image", "--checkpoint", s(&ck), "--out", s(out)],
            1,
            &[s(out), "refusing to overwrite"],
        );
    }
    assert!(
        std::fs::read(&ck).unwrap() == before,
        "the checkpoint changed"
    );
    fails(
        &["image", "--checkpoint", s(&ck), "--out", s(f.dir.path())],
        1,
        &["names a directory"],
    );
    // A bad checkpoint: named, and no image.
    let bad = f.write("bad.bin", &before[..before.len() - 4]);
    let out = f.path("x.img");
    fails(
        &["image", "--checkpoint", s(&bad), "--out", s(&out)],
        1,
        &[s(&bad), "file size does not match the header"],
    );
    assert!(!out.exists());
    // --check of the checkpoint with itself, a directory, a device.
    fails(
        &["image", "--check", s(&ck), "--checkpoint", s(&ck)],
        1,
        &[s(&ck), "same file"],
    );
    fails(&["image", "--check", s(f.dir.path())], 1, &["directory"]);
    fails(
        &["image", "--check", "/dev/zero"],
        1,
        &["/dev/zero", "bad magic"],
    );
    // A FIFO nobody writes to reads as empty at once instead of blocking.
    let fifo = f.path("fifo.img");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = std::process::Command::new(BIN)
        .args(["image", "--check", s(&fifo)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("image --check FIFO: still running after 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    check_fails(&o, &[], 1, &[s(&fifo), "truncated image: 0 bytes"]);
    std::fs::remove_file(&fifo).unwrap();
    fails(
        &["image", "--check", s(&f.path("missing.img"))],
        1,
        &["missing.img"],
    );
    assert_eq!(f.listing(), ["bad.bin", "link.bin", "m.bin"]);
}

#[test]
fn usage_errors() {
    let f = Files::new();
    let ck = f.model_seeded("m.bin", &Config::TINY, 1);
    let out = f.path("x.img");
    for (args, needle) in [
        (vec!["image"], "required"),
        (vec!["image", "--out", s(&out)], "--checkpoint"),
        (
            vec!["image", "--checkpoint", s(&ck), "--out", s(&out), "--json"],
            "cannot be used with",
        ),
        (
            vec![
                "image",
                "--checkpoint",
                s(&ck),
                "--out",
                s(&out),
                "--bus-bits",
                "100",
            ],
            "not a supported bus width",
        ),
        (
            vec![
                "image",
                "--checkpoint",
                s(&ck),
                "--out",
                s(&out),
                "--lanes",
                "12",
            ],
            "not a supported lane count",
        ),
        (
            vec!["image", "--check", s(&out), "--out", s(&out)],
            "cannot be used with",
        ),
    ] {
        fails(&args, 2, &[needle]);
    }
    assert!(!out.exists());
}
