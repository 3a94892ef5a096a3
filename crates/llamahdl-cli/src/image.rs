//! `llamahdl image`: write the weight image of a checkpoint (`--out`), or verify one and
//! print its header and region table (`--check`). The format: docs/image-format.md; the
//! code: the `llamahdl-image` crate.

use crate::cleanup::{parent_of, same_file, TempOutput};
use crate::output::write_stdout;
use anyhow::{bail, Context};
use clap::{ArgGroup, Args};
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::decoder::limits::{DEFAULT_LANES, SUPPORTED_LANES};
use llamahdl_image::format::{Header, Region};
use llamahdl_image::{Image, ImageError, BUS_BITS, DEFAULT_BUS_BITS};
use llamahdl_model::{Checkpoint, Config};
use std::path::{Path, PathBuf};

/// Arguments of `llamahdl image`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("mode").required(true).args(["out", "check"])))]
#[command(
    after_help = "Write: llamahdl image --checkpoint F --out IMG [--lanes L] [--bus-bits B]. \
    The image is written under a temporary name beside IMG and renamed into place when \
    complete; the same checkpoint and flags always give the same bytes.\n\
    Check: llamahdl image --check IMG [--json] [--checkpoint F] [--lanes L] [--bus-bits B]. \
    Verifies the header, the region table and every region's CRC-32 and values, and prints \
    them; with --checkpoint, --lanes or --bus-bits, also refuses an image made for another \
    model, lane count or bus width. The format is specified in docs/image-format.md."
)]
pub struct ImageArgs {
    /// llama2.c checkpoint: the model to write (with --out) or to compare with (--check).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Write the image of --checkpoint to this file.
    #[arg(long, value_name = "IMG", requires = "checkpoint")]
    pub out: Option<PathBuf>,

    /// Verify this image and print its header and region table.
    #[arg(long, value_name = "IMG")]
    pub check: Option<PathBuf>,

    /// Lanes of the design: int8 weights per beat of its weight stream (4, 8, 16, 32 or
    /// 64; writing: default 32; checking: the image's must be this).
    #[arg(long, value_name = "L", value_parser = crate::output::parse_lanes)]
    pub lanes: Option<usize>,

    /// Width of the DRAM bus in bits (64, 128, 256 or 512; writing: default 512; checking:
    /// the image's must be this).
    #[arg(long, value_name = "B", value_parser = parse_bus_bits)]
    pub bus_bits: Option<u32>,

    /// With --check: print one JSON object instead of text.
    #[arg(long, requires = "check", conflicts_with = "out")]
    pub json: bool,
}

/// `--bus-bits`: one of [`BUS_BITS`].
pub fn parse_bus_bits(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(b) if BUS_BITS.contains(&b) => Ok(b),
        _ => Err(format!(
            "{s} is not a supported bus width: choose one of {BUS_BITS:?} (bits)"
        )),
    }
}

/// `llamahdl image`.
pub fn run(args: ImageArgs) -> anyhow::Result<()> {
    match (&args.out, &args.check) {
        (Some(out), None) => write(&args, out),
        (None, Some(img)) => check(&args, img),
        _ => bail!("pass --out IMG (write an image) or --check IMG (verify one)"),
    }
}

/// The design's own conditions on a lane count for a model shape (the format allows
/// more): a lane count the tool is built for (a head_dim above it is split into chunks
/// by the attention unit).
fn design_lanes(_c: &Config, lanes: u32) -> Result<(), String> {
    if !SUPPORTED_LANES.contains(&(lanes as usize)) {
        return Err(format!(
            "{lanes} lanes: this design is built for {SUPPORTED_LANES:?} lanes"
        ));
    }
    Ok(())
}

fn write(args: &ImageArgs, out: &Path) -> anyhow::Result<()> {
    let ck_path = args
        .checkpoint
        .as_ref()
        .context("--out needs --checkpoint")?;
    let out_name = out.display().to_string();
    if same_file(out, ck_path) {
        bail!(
            "{out_name}: --out names the input checkpoint ({}); refusing to overwrite it",
            ck_path.display()
        );
    }
    if out.is_dir() {
        bail!("{out_name}: --out names a directory; give a file name");
    }
    let lanes = args.lanes.unwrap_or(DEFAULT_LANES) as u32;
    let bus_bits = args.bus_bits.unwrap_or(DEFAULT_BUS_BITS);
    let ck = Checkpoint::load(ck_path)?;
    let source = ck_path.display().to_string();
    design_lanes(&ck.config, lanes).map_err(|e| {
        anyhow::anyhow!("{source}: the model does not fit the decoder at {lanes} lanes: {e}")
    })?;
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    drop(ck);
    let plan = llamahdl_image::plan(&qm.config, lanes, bus_bits, qm.mode)
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    let needed = plan.header.image_bytes;
    let parent = parent_of(out);
    if let Some(free) = crate::synth::free_bytes(&parent) {
        if free < needed {
            bail!(
                "{out_name}: the image needs {needed} bytes but only {free} bytes are free in {}",
                parent.display()
            );
        }
    }
    let tmp = TempOutput::create(out)?;
    let mut file = tmp.file();
    let written = llamahdl_image::write_image(&qm, lanes, bus_bits, &mut file, &out_name)?;
    file.sync_all()
        .with_context(|| format!("{out_name}: write failed"))?;
    tmp.commit()?;
    let h = &written.header;
    eprintln!(
        "wrote {out_name} ({} bytes, {} regions) from {source}: {}; {lanes} lanes, {bus_bits}-bit bus",
        h.image_bytes,
        h.region_count,
        crate::output::shape_summary(&h.config)
    );
    Ok(())
}

fn check(args: &ImageArgs, img: &Path) -> anyhow::Result<()> {
    let what = img.display().to_string();
    if let Some(ck) = &args.checkpoint {
        if same_file(img, ck) {
            bail!("{what}: --check and --checkpoint name the same file");
        }
    }
    let image = llamahdl_image::verify_file(img)?;
    let h = &image.header;
    let mismatch = |p: llamahdl_image::Problem| ImageError::invalid(&what, p);
    design_lanes(&h.config, h.lanes)
        .map_err(|e| anyhow::anyhow!("{what}: the image does not match this design: {e}"))?;
    llamahdl_image::compare::check_layout(&image, args.lanes.map(|l| l as u32), args.bus_bits)
        .map_err(mismatch)?;
    let mut against = None;
    if let Some(ck_path) = &args.checkpoint {
        let ck = Checkpoint::load(ck_path)?;
        let source = ck_path.display().to_string();
        let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
        llamahdl_image::compare::check_model(&image, &qm, &source).map_err(mismatch)?;
        against = Some(source);
    }
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&JsonReport::new(&what, &image, against))
            .context("serialising the JSON output")?;
        s.push('\n');
        s
    } else {
        text_report(&what, &image, against.as_deref())
    };
    write_stdout(out.as_bytes())
}

/// What `image --check --json` prints.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    image: &'a str,
    valid: bool,
    /// The checkpoint the image was compared with and matched, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
    version: u32,
    header_bytes: usize,
    header_crc32: u32,
    config: Config,
    lanes: u32,
    bus_bits: u32,
    bus_word_bytes: u64,
    quant: llamahdl_image::format::Quant,
    region_count: u32,
    table_offset: u64,
    data_offset: u64,
    image_bytes: u64,
    table_crc32: u32,
    regions: Vec<JsonRegion<'a>>,
}

#[derive(serde::Serialize)]
struct JsonRegion<'a> {
    index: usize,
    name: String,
    #[serde(flatten)]
    region: &'a Region,
}

impl<'a> JsonReport<'a> {
    fn new(what: &'a str, image: &'a Image, checkpoint: Option<String>) -> JsonReport<'a> {
        let h: &Header = &image.header;
        JsonReport {
            image: what,
            valid: true,
            checkpoint,
            version: llamahdl_image::format::VERSION,
            header_bytes: llamahdl_image::format::HEADER_BYTES,
            header_crc32: h.crc(),
            config: h.config,
            lanes: h.lanes,
            bus_bits: h.bus_bits,
            bus_word_bytes: h.word_bytes(),
            quant: h.quant,
            region_count: h.region_count,
            table_offset: h.table_offset,
            data_offset: h.data_offset,
            image_bytes: h.image_bytes,
            table_crc32: h.table_crc,
            regions: image
                .regions
                .iter()
                .enumerate()
                .map(|(index, r)| JsonRegion {
                    index,
                    name: r.name(),
                    region: r,
                })
                .collect(),
        }
    }
}

fn text_report(what: &str, image: &Image, against: Option<&str>) -> String {
    use std::fmt::Write;
    let h = &image.header;
    let c = &h.config;
    let q = &h.quant;
    let scales = match q.scale_mode {
        ScaleMode::Mant8 => "8-bit mantissa (128..=255) and i8 exponent",
        ScaleMode::Pow2 => "power of two (mantissa 128, i8 exponent)",
    };
    let mut s = String::new();
    let _ = writeln!(s, "image:         {what}");
    let _ = writeln!(
        s,
        "format:        llamahdl weight image version {}, {}-byte header (CRC-32 0x{:08x})",
        llamahdl_image::format::VERSION,
        llamahdl_image::format::HEADER_BYTES,
        h.crc()
    );
    let classifier = if c.shared_classifier {
        ", classifier shared with the embedding"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "shape:         {}{classifier}",
        crate::output::shape_summary(c)
    );
    let _ = writeln!(
        s,
        "layout:        {} lanes, {}-bit bus ({}-byte words)",
        h.lanes,
        h.bus_bits,
        h.word_bytes()
    );
    let _ = writeln!(
        s,
        "quantisation:  int{} weights, one scale per row: {scales}; {}-bit RMSNorm gains \
         (x sqrt(dim)), one exponent per vector; Wq x 1/sqrt(head_dim); Q16.{} activations",
        q.weight_bits, q.gain_bits, q.act_frac_bits
    );
    let _ = writeln!(
        s,
        "table:         {} regions at byte {} (CRC-32 0x{:08x}); data from byte {}",
        h.region_count, h.table_offset, h.table_crc, h.data_offset
    );
    let _ = writeln!(s, "image bytes:   {}", h.image_bytes);
    let checked = match against {
        Some(src) => format!(", and the same shape and weights as {src}"),
        None => String::new(),
    };
    let _ = writeln!(
        s,
        "valid:         header, table and {} regions (CRC-32 and values){checked}",
        h.region_count
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:>5}  {:<17}  {:>12}  {:>11}  {:>6}  {:>9}  {:>10}  {:>10}  {:>12}  {:>10}",
        "index",
        "region",
        "offset",
        "length",
        "rows",
        "row_bytes",
        "row_stride",
        "block_rows",
        "block_stride",
        "crc32"
    );
    for (i, r) in image.regions.iter().enumerate() {
        let _ = writeln!(
            s,
            "{:>5}  {:<17}  {:>12}  {:>11}  {:>6}  {:>9}  {:>10}  {:>10}  {:>12}  0x{:08x}",
            i,
            r.name(),
            r.offset,
            r.length,
            r.rows,
            r.row_bytes,
            r.row_stride,
            r.block_rows,
            r.block_stride,
            r.crc32
        );
    }
    s
}
