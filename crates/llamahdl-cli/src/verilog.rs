//! `llamahdl verilog`: quantise a model and emit the accelerator's Verilog.
//!
//! The files are written into a fresh temporary directory next to the target, which is
//! renamed over the target only once emission has succeeded: a failed run leaves the
//! previous output (or its absence) untouched. A marker file ([`MARKER`]) identifies
//! directories written by this command; an existing non-empty directory without it is
//! never replaced.

use crate::cleanup::locked;
use crate::output::write_stdout;
use anyhow::{bail, Context};
use clap::{ArgGroup, Args, ValueEnum};
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_model::{synth, Checkpoint, Config, MODELS_ENV};
use std::path::{Path, PathBuf};

/// Name of the marker file written into every output directory.
pub const MARKER: &str = ".llamahdl-rtl";

/// Seed of the synthetic `--config tiny` model.
pub const TINY_SEED: u64 = 1;

/// Arguments of `llamahdl verilog`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("model").required(true).args(["config", "checkpoint", "shape"])))]
#[command(
    after_help = "The output directory is replaced as a whole, and only on success: \
    the files are written to a temporary directory beside it first. A directory is only \
    replaced if it is empty or was written by this command (it holds a .llamahdl-rtl file). \
    The paths of the files written are printed on stdout, one per line."
)]
pub struct VerilogArgs {
    /// A built-in model: `tiny` is a synthetic model of the tiny test shape (seed 1);
    /// `stories260k` is $LLAMAHDL_MODELS/stories260K.bin (pass --checkpoint otherwise).
    #[arg(long, value_enum, value_name = "NAME")]
    pub config: Option<ConfigName>,

    /// llama2.c checkpoint (legacy v0 format) to quantise and emit.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Output directory (created, or replaced when it holds an earlier output).
    #[arg(long, value_name = "DIR", default_value = "rtl_out")]
    pub out: PathBuf,

    /// Parallel lanes: int8 weights per beat of the weight stream and multiply-accumulates
    /// per cycle (4, 8, 16, 32 or 64).
    #[arg(long, value_name = "L", default_value_t = llamahdl_hw::decoder::limits::DEFAULT_LANES,
          value_parser = crate::output::parse_lanes)]
    pub lanes: usize,

    /// On-chip context of the whole decoder (positions held in the key/value cache);
    /// default: the model's seq_len. Smaller contexts need less block RAM.
    #[arg(long, value_name = "N")]
    pub context: Option<usize>,

    /// Where the weights live: `onchip` (compiled into ROMs: the design is for one
    /// checkpoint's weights), `dram` (streamed from a weight image over AXI4: the
    /// design depends only on the shape, lanes, bus and context; writes
    /// llamahdl_dram_decoder.v) or `emmc` (the same decoder behind the boot copier, which
    /// copies and checks the image from a block device into DRAM at power-up; writes
    /// llamahdl_booted_decoder.v, docs/boot.md).
    #[arg(long, value_enum, default_value_t = WeightsMode::Onchip)]
    pub weights: WeightsMode,

    /// With --weights dram: the model shape, by name (stories15m, stories42m, stories110m,
    /// llama2-7b, stories260k, tiny) or as
    /// `dim=D,hidden=H,layers=N,heads=Q,kv_heads=K,vocab=V,seq_len=S[,separate]`
    /// (--checkpoint reads only a checkpoint's header).
    #[arg(long, value_name = "SHAPE", value_parser = parse_shape)]
    pub shape: Option<Config>,

    /// With --weights dram: the AXI data bus width (128, 256 or 512; default the lanes'
    /// bytes, at most 512 bits).
    #[arg(long, value_name = "B")]
    pub bus_bits: Option<usize>,

    /// With --weights dram: the byte address of the weight image in DRAM (a multiple of
    /// 4096; decimal or 0x hex).
    #[arg(long, value_name = "ADDR", default_value = "0", value_parser = parse_addr)]
    pub base: u64,

    /// With --weights emmc: the block device's block that holds the image's first byte.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub lba: u64,

    /// Emit a board top instead of the stand-alone blocks: `ulx3s-85f` writes
    /// llamahdl_board_ulx3s.v (PLL, UART, protocol controller, decoder) and its pin
    /// constraints ulx3s_85f.lpf (docs/board-ulx3s.md).
    #[arg(long, value_enum, value_name = "BOARD")]
    pub board: Option<BoardName>,

    /// Core clock made by the board's PLL, in MHz (with --board).
    #[arg(long, value_name = "MHZ", default_value_t = llamahdl_hw::board::ulx3s::DEFAULT_CORE_MHZ,
          requires = "board")]
    pub freq: f64,

    /// Serial rate of the board's UART (with --board).
    #[arg(long, value_name = "BAUD", default_value_t = llamahdl_hw::board::ulx3s::DEFAULT_BAUD,
          requires = "board")]
    pub baud: u32,
}

/// `--weights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WeightsMode {
    Onchip,
    Dram,
    Emmc,
}

/// A named shape or `dim=..,hidden=..,...`.
pub fn parse_shape(s: &str) -> Result<Config, String> {
    let named = match s.to_ascii_lowercase().as_str() {
        "stories15m" => Some(Config::STORIES15M),
        "stories42m" => Some(Config::STORIES42M),
        "stories110m" => Some(Config::STORIES110M),
        "llama2-7b" => Some(Config::LLAMA2_7B),
        "stories260k" => Some(Config::STORIES260K),
        "tiny" => Some(Config::TINY),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(c);
    }
    if !s.contains('=') {
        return Err(format!(
            "unknown shape {s:?}: name one of stories15m, stories42m, stories110m, llama2-7b, \
             stories260k, tiny, or give dim=D,hidden=H,layers=N,heads=Q,kv_heads=K,vocab=V,seq_len=S[,separate]"
        ));
    }
    let mut v: [Option<usize>; 7] = [None; 7];
    let keys = [
        "dim", "hidden", "layers", "heads", "kv_heads", "vocab", "seq_len",
    ];
    let mut shared = true;
    for part in s.split(',') {
        if part == "separate" {
            shared = false;
            continue;
        }
        let (k, val) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected key=value"))?;
        let i = keys
            .iter()
            .position(|&n| n == k)
            .ok_or_else(|| format!("unknown shape key {k:?} (keys: {})", keys.join(", ")))?;
        let n: usize = val
            .parse()
            .map_err(|_| format!("{k}={val:?}: not a positive whole number"))?;
        v[i] = Some(n);
    }
    let get = |i: usize| v[i].ok_or_else(|| format!("the shape lacks {}=", keys[i]));
    let c = Config {
        dim: get(0)?,
        hidden_dim: get(1)?,
        n_layers: get(2)?,
        n_heads: get(3)?,
        n_kv_heads: get(4)?,
        vocab_size: get(5)?,
        seq_len: get(6)?,
        shared_classifier: shared,
    };
    c.validate("--shape").map_err(|e| e.to_string())?;
    Ok(c)
}

fn parse_addr(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("{s:?} is not an address (decimal or 0x hex)"))
}

/// The boards of `--board`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BoardName {
    /// Radiona ULX3S with the LFE5U-85F (the on-chip decoder, weights in ROM).
    #[value(name = "ulx3s-85f")]
    Ulx3s85f,
}

/// The built-in models of `--config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConfigName {
    /// Synthetic weights of `Config::TINY` (dim 16, 4 heads, 2 kv heads), seed 1.
    Tiny,
    /// The real stories260K checkpoint from $LLAMAHDL_MODELS.
    #[value(name = "stories260k")]
    Stories260k,
}

/// The model to emit and a description of where it came from.
fn load_model(args: &VerilogArgs) -> anyhow::Result<(Checkpoint, String)> {
    if let Some(path) = &args.checkpoint {
        return Ok((Checkpoint::load(path)?, path.display().to_string()));
    }
    match args.config {
        Some(ConfigName::Tiny) => Ok((
            synth::try_generate(&Config::TINY, TINY_SEED)?,
            format!("synthetic tiny model (seed {TINY_SEED})"),
        )),
        Some(ConfigName::Stories260k) => {
            let dir = std::env::var_os(MODELS_ENV)
                .filter(|v| !v.is_empty())
                .with_context(|| {
                    format!(
                        "--config stories260k reads ${MODELS_ENV}/stories260K.bin, but \
                         {MODELS_ENV} is not set; set it or pass --checkpoint FILE"
                    )
                })?;
            let path = PathBuf::from(dir).join("stories260K.bin");
            if !path.exists() {
                bail!(
                    "{}: no such file (--config stories260k reads ${MODELS_ENV}/stories260K.bin); \
                     pass --checkpoint FILE instead",
                    path.display()
                );
            }
            Ok((Checkpoint::load(&path)?, path.display().to_string()))
        }
        None => bail!("pass --config or --checkpoint"),
    }
}

/// `llamahdl verilog`.
pub fn run(args: VerilogArgs) -> anyhow::Result<()> {
    if let Some(ck) = &args.checkpoint {
        check_not_input(&args.out, ck)?;
    }
    if args.lba != 0 && args.weights != WeightsMode::Emmc {
        bail!("--lba applies only with --weights emmc");
    }
    if args.weights != WeightsMode::Onchip {
        return run_dram(&args);
    }
    if args.shape.is_some() || args.bus_bits.is_some() || args.base != 0 {
        bail!("--shape, --bus-bits and --base apply only with --weights dram or emmc");
    }
    let target = Target::new(&args.out)?;
    let (ck, source) = load_model(&args)?;
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    let lanes = args.lanes;
    let c = qm.config;
    let ctx = args.context.unwrap_or(c.seq_len);
    if ctx == 0 || ctx > c.seq_len {
        bail!(
            "{source}: --context {ctx} must be between 1 and the model's seq_len {}",
            c.seq_len
        );
    }
    llamahdl_hw::decoder::limits::check_fits(&qm, lanes, ctx).map_err(|e| {
        anyhow::anyhow!(
            "{source}: the model does not fit the decoder at {lanes} lanes with a context of \
             {ctx}: {e}"
        )
    })?;
    let emitted = match args.board {
        None => llamahdl_hw::emit::generate_with_context(&qm, lanes, ctx)
            .with_context(|| format!("emitting Verilog for {source}"))?,
        Some(BoardName::Ulx3s85f) => {
            let p = llamahdl_hw::board::ulx3s::BoardParams::new(args.freq, args.baud)
                .map_err(|e| anyhow::anyhow!("--freq {} / --baud {}: {e}", args.freq, args.baud))?;
            llamahdl_hw::board::emit_ulx3s(&qm, lanes, ctx, p)
                .map_err(|e| anyhow::anyhow!("{source}: board top: {e}"))?
        }
    };
    let staged = target.stage(&emitted)?;
    // The listing goes out before the directory is put in place: if stdout fails (a full
    // disk, `> /dev/full`), the command fails and the target is left as it was.
    let mut listing = String::new();
    for f in &emitted {
        listing.push_str(&args.out.join(&f.file).display().to_string());
        listing.push('\n');
    }
    write_stdout(listing.as_bytes())?;
    let files = staged.commit()?;
    eprintln!(
        "wrote {} files to {} ({source}, {lanes} lanes)",
        files.len(),
        args.out.display()
    );
    Ok(())
}

/// Refuse an input file that replacing `out` would remove or overwrite: one inside the
/// directory (it is replaced as a whole), or the directory itself.
pub fn check_not_input(out: &Path, input: &Path) -> anyhow::Result<()> {
    let (Ok(inp), Ok(dir)) = (input.canonicalize(), out.canonicalize()) else {
        return Ok(()); // the output does not exist yet (or the input does not: load says so)
    };
    if inp.starts_with(&dir) {
        bail!(
            "{}: --out is replaced as a whole and holds the input {}; refusing to replace \
             it: choose another --out",
            out.display(),
            input.display()
        );
    }
    Ok(())
}

/// The marker's first line; the names of the files written follow, one per line.
const MARKER_HEAD: &str =
    "Written by `llamahdl verilog`; the directory is replaced as a whole on the next run.";

/// An output directory that is replaced atomically.
#[derive(Debug)]
pub struct Target {
    /// The directory as given.
    out: PathBuf,
    /// Its parent (`.` for a bare name).
    parent: PathBuf,
    /// Its last component.
    name: String,
}

/// The files of a [`Target`], written into a temporary directory beside it.
pub struct Staged<'a> {
    target: &'a Target,
    tmp: Option<tempfile::TempDir>,
    names: Vec<String>,
}

impl Target {
    /// Check that `out` can be (re)placed: it is a name with a final component, and if it
    /// exists it is a directory that is empty, or holds [`MARKER`] and nothing but the
    /// files the marker lists (what an earlier run wrote).
    pub fn new(out: &Path) -> anyhow::Result<Target> {
        let name = match out.file_name() {
            Some(n) => n.to_string_lossy().into_owned(),
            None => bail!(
                "{}: --out must name a directory (it is replaced as a whole)",
                out.display()
            ),
        };
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        match std::fs::symlink_metadata(out) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("{}", out.display())),
            Ok(m) if !m.is_dir() => bail!(
                "{}: exists and is not a directory; remove it or choose another --out",
                out.display()
            ),
            Ok(_) => {
                let entries: Vec<String> = std::fs::read_dir(out)
                    .with_context(|| format!("{}: cannot list the directory", out.display()))?
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("{}: cannot list the directory", out.display()))?;
                if !entries.is_empty() {
                    let Ok(marker) = std::fs::read_to_string(out.join(MARKER)) else {
                        bail!(
                            "{}: exists, is not empty and was not written by `llamahdl \
                             verilog` (no {MARKER} file); refusing to replace it: remove it \
                             or choose another --out",
                            out.display()
                        );
                    };
                    let listed = marker_files(&marker);
                    let ours = |e: &str| {
                        listed.as_ref().map_or_else(
                            || e.starts_with("llamahdl_") && e.ends_with(".v"),
                            |l| l.iter().any(|n| n == e),
                        )
                    };
                    let is_file =
                        |e: &str| std::fs::symlink_metadata(out.join(e)).is_ok_and(|m| m.is_file());
                    let mut foreign: Vec<&String> = entries
                        .iter()
                        .filter(|e| *e != MARKER && !(ours(e) && is_file(e)))
                        .collect();
                    foreign.sort();
                    if !foreign.is_empty() {
                        let names: Vec<&str> = foreign.iter().map(|s| s.as_str()).collect();
                        bail!(
                            "{}: holds {} that `llamahdl verilog` did not write; refusing to \
                             replace it (its files would be lost): move them or choose \
                             another --out",
                            out.display(),
                            names.join(", ")
                        );
                    }
                }
            }
        }
        Ok(Target {
            out: out.to_path_buf(),
            parent,
            name,
        })
    }

    /// Write `files` and the marker into a fresh temporary directory beside the target,
    /// uninterruptibly (an interrupt waits, then removes the directory).
    pub fn stage(&self, files: &[llamahdl_hw::emit::Emitted]) -> anyhow::Result<Staged<'_>> {
        std::fs::create_dir_all(&self.parent)
            .with_context(|| format!("{}: cannot create the directory", self.parent.display()))?;
        locked(|reg| {
            // Mode 0777 less the umask, as for any new directory (not tempfile's 0700).
            let tmp = tempfile::Builder::new()
                .prefix(&format!(".{}.tmp-", self.name))
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o777))
                .tempdir_in(&self.parent)
                .with_context(|| {
                    format!(
                        "{}: cannot create a temporary directory",
                        self.parent.display()
                    )
                })?;
            reg.add(tmp.path());
            let mut staged = Staged {
                target: self,
                tmp: Some(tmp),
                names: vec![],
            };
            let dir = staged.dir().to_path_buf();
            let mut marker = format!("{MARKER_HEAD}\n");
            for f in files {
                let p = dir.join(&f.file);
                std::fs::write(&p, &f.text)
                    .with_context(|| format!("{}: cannot write {}", self.out.display(), f.file))?;
                marker.push_str(&f.file);
                marker.push('\n');
                staged.names.push(f.file.clone());
            }
            std::fs::write(dir.join(MARKER), marker)
                .with_context(|| format!("{}: cannot write {MARKER}", self.out.display()))?;
            Ok(staged)
        })
    }

    /// Run `fill` on a fresh temporary directory beside the target, then put that directory
    /// in the target's place. Returns the paths `fill` returned, moved under the target.
    /// On any error the target is left as it was and the temporary directory is removed.
    pub fn write(
        &self,
        fill: impl FnOnce(&Path) -> anyhow::Result<Vec<PathBuf>>,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let mut staged = self.stage(&[])?;
        let dir = staged.dir().to_path_buf();
        let files = fill(&dir)?;
        for f in &files {
            if let Ok(rel) = f.strip_prefix(&dir) {
                staged.names.push(rel.display().to_string());
            }
        }
        let mut marker = format!("{MARKER_HEAD}\n");
        for n in &staged.names {
            marker.push_str(n);
            marker.push('\n');
        }
        std::fs::write(dir.join(MARKER), marker)
            .with_context(|| format!("{}: cannot write {MARKER}", self.out.display()))?;
        staged.commit()
    }
}

/// The file names a marker lists, or `None` for a marker of an earlier version, which
/// listed none (the files it went with were the `llamahdl_*.v` ones).
fn marker_files(marker: &str) -> Option<Vec<String>> {
    if marker.lines().count() <= 1 {
        return None;
    }
    Some(
        marker
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

impl Staged<'_> {
    fn dir(&self) -> &Path {
        self.tmp
            .as_ref()
            .expect("present until commit or drop")
            .path()
    }

    /// Put the staged directory in the target's place (the previous output is moved aside
    /// first and removed after). Returns the paths of the files, under the target.
    pub fn commit(mut self) -> anyhow::Result<Vec<PathBuf>> {
        let t = self.target;
        let tmp = self.tmp.take().expect("present until commit or drop");
        let files: Vec<PathBuf> = self.names.iter().map(|n| t.out.join(n)).collect();
        locked(|reg| {
            let tmp_path = tmp.path().to_path_buf();
            // Move the previous output aside, put the new one in place, then delete the old.
            let old = if t.out.exists() {
                let aside = tempfile::Builder::new()
                    .prefix(&format!(".{}.old-", t.name))
                    .tempdir_in(&t.parent)
                    .with_context(|| {
                        format!(
                            "{}: cannot create a temporary directory",
                            t.parent.display()
                        )
                    })?;
                reg.add(aside.path());
                let old = aside.path().join(&t.name);
                if let Err(e) = std::fs::rename(&t.out, &old) {
                    reg.forget(aside.path());
                    return Err(e).with_context(|| {
                        format!("{}: cannot move the previous output aside", t.out.display())
                    });
                }
                Some((aside, old))
            } else {
                None
            };
            if let Err(e) = std::fs::rename(&tmp_path, &t.out) {
                if let Some((aside, old)) = &old {
                    let _ = std::fs::rename(old, &t.out);
                    reg.forget(aside.path());
                }
                reg.forget(&tmp_path);
                return Err(e).with_context(|| {
                    format!("{}: cannot move the new output into place", t.out.display())
                });
            }
            // The temporary directory is now the target: forget it rather than delete it.
            let _ = tmp.keep();
            reg.forget(&tmp_path);
            if let Some((aside, _)) = old {
                let p = aside.path().to_path_buf();
                drop(aside); // removes the previous output
                reg.forget(&p);
            }
            Ok(files)
        })
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let p = tmp.path().to_path_buf();
            locked(|reg| {
                drop(tmp);
                reg.forget(&p);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_then_replaces_only_on_success() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("sub/rtl");
        let t = Target::new(&out).unwrap();
        let files = t
            .write(|d| {
                std::fs::write(d.join("a.v"), "module a; endmodule\n")?;
                Ok(vec![d.join("a.v")])
            })
            .unwrap();
        assert_eq!(files, vec![out.join("a.v")]);
        assert_eq!(listing(&out), vec![MARKER.to_string(), "a.v".to_string()]);

        // A failing emission leaves the previous output alone and no temporary behind.
        let t = Target::new(&out).unwrap();
        let err = t
            .write(|d| {
                std::fs::write(d.join("b.v"), "partial")?;
                bail!("boom")
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert_eq!(listing(&out), vec![MARKER.to_string(), "a.v".to_string()]);
        assert_eq!(listing(&root.path().join("sub")), vec!["rtl".to_string()]);

        // A successful one replaces it whole.
        let t = Target::new(&out).unwrap();
        t.write(|d| {
            std::fs::write(d.join("b.v"), "module b; endmodule\n")?;
            Ok(vec![d.join("b.v")])
        })
        .unwrap();
        assert_eq!(listing(&out), vec![MARKER.to_string(), "b.v".to_string()]);
        assert_eq!(listing(&root.path().join("sub")), vec!["rtl".to_string()]);
    }

    #[test]
    fn refuses_foreign_directories_and_files() {
        let root = tempfile::tempdir().unwrap();
        let foreign = root.path().join("mine");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "keep me").unwrap();
        let e = Target::new(&foreign).unwrap_err().to_string();
        assert!(e.contains("refusing to replace"), "{e}");
        let file = root.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = Target::new(&file).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
        // An empty directory is fine.
        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        Target::new(&empty).unwrap();
        assert!(Target::new(Path::new("/")).is_err());
    }
}

/// `llamahdl verilog --weights dram`.
fn run_dram(args: &VerilogArgs) -> anyhow::Result<()> {
    if args.board.is_some() {
        bail!("--board is not available with --weights dram yet (the board tops hold the on-chip design)");
    }
    let (c, source) = match (&args.shape, &args.checkpoint, args.config) {
        (Some(c), _, _) => (*c, "--shape".to_string()),
        (None, Some(p), _) => (
            Checkpoint::load_config(p)?,
            format!("{} (its header)", p.display()),
        ),
        (None, None, Some(ConfigName::Tiny)) => (Config::TINY, "the tiny shape".to_string()),
        (None, None, Some(ConfigName::Stories260k)) => {
            (Config::STORIES260K, "the stories260K shape".to_string())
        }
        (None, None, None) => bail!("pass --shape, --config or --checkpoint"),
    };
    let lanes = args.lanes;
    let bus = args.bus_bits.unwrap_or((lanes * 8).min(512));
    let ctx = args.context.unwrap_or(c.seq_len);
    let target = Target::new(&args.out)?;
    let started = std::time::Instant::now();
    let emitted = if args.weights == WeightsMode::Emmc {
        llamahdl_hw::emit::generate_booted(&c, lanes, bus, ctx, args.base, args.lba)
    } else {
        llamahdl_hw::emit::generate_dram(&c, lanes, bus, ctx, args.base)
    }
    .map_err(|e| {
        anyhow::anyhow!(
            "{source}: cannot build the streaming decoder ({lanes} lanes, {bus}-bit bus, \
             context {ctx}): {e}"
        )
    })?;
    let staged = target.stage(&emitted)?;
    let mut listing = String::new();
    for f in &emitted {
        listing.push_str(&args.out.join(&f.file).display().to_string());
        listing.push('\n');
    }
    write_stdout(listing.as_bytes())?;
    let files = staged.commit()?;
    let bytes: usize = emitted.iter().map(|e| e.text.len()).sum();
    eprintln!(
        "wrote {} file(s) to {} ({source}: {}; {lanes} lanes, {bus}-bit bus, context {ctx}; \
         {bytes} bytes in {:.2} s)",
        files.len(),
        args.out.display(),
        crate::output::shape_summary(&c),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
