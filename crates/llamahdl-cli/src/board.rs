//! `llamahdl board`: the host side of the board protocol (docs/board-protocol.md) over a
//! serial port: reset the board's sequence, feed the prompt token by token, ask for the
//! rest, print the text (or the ids).
//!
//! The port is opened as a file and set raw with termios (libc): 8N1, no flow control, the
//! requested speed. No serial-port crate is used: the common one needs libudev's headers,
//! which this machine does not have, and termios is all a USB serial adapter needs.

use crate::output::write_stdout;
use crate::run::{parse_prompt_ids, parse_steps, PromptIds};
use anyhow::{bail, Context};
use clap::Args;
use llamahdl_hw::board::protocol::*;
use llamahdl_model::tokenizer::BOS;
use llamahdl_model::Tokenizer;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Arguments of `llamahdl board`.
#[derive(Args, Debug)]
#[command(after_help = "Example:
  llamahdl board --port /dev/ttyUSB0 --tokenizer tok512.bin --prompt \"Once upon a time\" --steps 64

The board must hold a bitstream of `make bitstream` (docs/board-ulx3s.md). The text (or the \
ids, without --tokenizer) goes to stdout once generation is complete; the token count and rate \
to stderr. Generation stops after a generated BOS, as `llamahdl run` does.")]
pub struct BoardArgs {
    /// Serial port of the board (the ULX3S's FTDI appears as /dev/ttyUSB0 on Linux).
    #[arg(long, value_name = "PATH")]
    pub port: PathBuf,

    /// Serial rate; the bitstream's (`make bitstream BAUD=...`, default 115200).
    #[arg(long, value_name = "BAUD", default_value_t = 115_200)]
    pub baud: u32,

    /// llama2.c tokenizer file (e.g. tok512.bin): encodes --prompt and decodes the output.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,

    /// Prompt text, encoded with BOS first (needs --tokenizer).
    #[arg(long, value_name = "TEXT", requires = "tokenizer")]
    pub prompt: Option<String>,

    /// Prompt as token ids ("1 403 407"), used as given.
    #[arg(long, value_name = "IDS", conflicts_with = "prompt", value_parser = parse_prompt_ids)]
    pub prompt_ids: Option<PromptIds>,

    /// Positions to run, prompt included (0 or more than the board's context: the context).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = parse_steps)]
    pub steps: usize,

    /// Seconds to wait for each reply before giving up.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub timeout: f64,
}

/// termios speed constant of `baud`.
fn speed(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        9600 => libc::B9600,
        19200 => libc::B19200,
        38400 => libc::B38400,
        57600 => libc::B57600,
        115200 => libc::B115200,
        230400 => libc::B230400,
        460800 => libc::B460800,
        921600 => libc::B921600,
        1000000 => libc::B1000000,
        2000000 => libc::B2000000,
        3000000 => libc::B3000000,
        _ => return None,
    })
}

/// A serial port in raw mode.
pub struct Port {
    file: File,
    name: String,
    timeout: Duration,
    pending: Vec<u8>,
}

impl Port {
    /// Open `path` read-write and set it raw, 8N1, `baud`, reads returning within 0.1 s.
    pub fn open(path: &Path, baud: u32, timeout: Duration) -> anyhow::Result<Port> {
        let name = path.display().to_string();
        let sp = speed(baud).with_context(|| {
            format!("--baud {baud}: not a standard serial rate (e.g. 115200, 921600)")
        })?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .with_context(|| format!("{name}: cannot open the serial port"))?;
        let fd = file.as_raw_fd();
        // SAFETY: fd is an open descriptor owned by `file`; termios is plain data.
        unsafe {
            if libc::isatty(fd) != 1 {
                bail!("{name}: not a serial port (not a terminal device)");
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("{name}: cannot read the port's settings"));
            }
            libc::cfmakeraw(&mut t);
            t.c_cflag |= libc::CLOCAL | libc::CREAD;
            t.c_cflag &= !(libc::CSTOPB | libc::PARENB | libc::CRTSCTS);
            t.c_cc[libc::VMIN] = 0;
            t.c_cc[libc::VTIME] = 1;
            if libc::cfsetispeed(&mut t, sp) != 0
                || libc::cfsetospeed(&mut t, sp) != 0
                || libc::tcsetattr(fd, libc::TCSANOW, &t) != 0
            {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("{name}: cannot set the port raw at {baud} baud"));
            }
            libc::tcflush(fd, libc::TCIOFLUSH);
        }
        Ok(Port {
            file,
            name,
            timeout,
            pending: vec![],
        })
    }

    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.file
            .write_all(bytes)
            .and_then(|_| self.file.flush())
            .with_context(|| format!("{}: cannot write to the port", self.name))
    }

    /// The next reply frame (waiting at most the timeout for it).
    fn frame(&mut self) -> anyhow::Result<Frame> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(&tag) = self.pending.first() {
                let n = frame_len(tag).with_context(|| {
                    format!(
                        "{}: unexpected byte 0x{tag:02x} from the board (not a reply; \
                         wrong --baud or another bitstream?)",
                        self.name
                    )
                })?;
                if self.pending.len() > n {
                    let f = Frame::decode(tag, &self.pending[1..=n]).map_err(anyhow::Error::msg)?;
                    self.pending.drain(..=n);
                    return Ok(f);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{}: no reply from the board within {:.1} s (is the bitstream loaded, \
                     the port and --baud right?)",
                    self.name,
                    self.timeout.as_secs_f64()
                );
            }
            let mut buf = [0u8; 256];
            match self.file.read(&mut buf) {
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("{}: cannot read the port", self.name))
                }
            }
        }
    }

    /// Send a command and return its frames up to the terminal one; an error frame is an
    /// error.
    fn command(
        &mut self,
        bytes: &[u8],
        mut each: impl FnMut(&Frame),
    ) -> anyhow::Result<Vec<Frame>> {
        self.send(bytes)?;
        let mut frames = vec![];
        loop {
            let f = self.frame()?;
            if let Frame::Error(code) = f {
                bail!(
                    "{}: the board answered command '{}' with error {code}: {}",
                    self.name,
                    bytes[0] as char,
                    error_text(code)
                );
            }
            each(&f);
            let end = f.is_terminal_for(bytes[0]);
            frames.push(f);
            if end {
                return Ok(frames);
            }
        }
    }
}

use std::os::unix::fs::OpenOptionsExt;

/// `llamahdl board`.
pub fn run(args: BoardArgs) -> anyhow::Result<()> {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        bail!(
            "--timeout {}: must be a positive number of seconds",
            args.timeout
        );
    }
    let mut port = Port::open(&args.port, args.baud, Duration::from_secs_f64(args.timeout))?;
    let pname = args.port.display().to_string();
    port.command(&[CMD_RESET], |_| {})?;
    let (ctx, vocab) = match port.command(&[CMD_STATUS], |_| {})?.as_slice() {
        [Frame::Status { pos: 0, ctx, vocab }] => (*ctx as usize, *vocab as usize),
        other => bail!("{pname}: unexpected status after a reset: {other:?}"),
    };
    let tokenizer = args
        .tokenizer
        .as_deref()
        .map(|p| Tokenizer::load(p, vocab))
        .transpose()?;
    let prompt = match (&args.prompt, &args.prompt_ids) {
        (Some(text), _) => tokenizer
            .as_ref()
            .context("--prompt needs --tokenizer")?
            .encode(text, true, false),
        (None, Some(PromptIds(ids))) => ids.clone(),
        (None, None) => vec![BOS],
    };
    let what = if args.prompt.is_some() {
        "--prompt"
    } else {
        "--prompt-ids"
    };
    if prompt.len() > ctx {
        bail!(
            "{what}: the prompt is {} tokens, longer than the board's context of {ctx} \
             positions ({pname})",
            prompt.len()
        );
    }
    if let Some(&t) = prompt.iter().find(|&&t| t as usize >= vocab) {
        bail!("{what}: token {t} is not below the board's vocabulary size {vocab}");
    }
    let steps = if args.steps == 0 || args.steps > ctx {
        ctx
    } else {
        args.steps
    };
    if steps < prompt.len() {
        bail!(
            "--steps {steps} is less than the prompt's {} tokens",
            prompt.len()
        );
    }
    let t0 = Instant::now();
    let mut ids = prompt.clone();
    let mut out = Emit::new(tokenizer.as_ref(), &prompt)?;
    let mut next = BOS;
    for &t in &prompt {
        let [lo, hi] = (t as u16).to_le_bytes();
        if let [Frame::Token(n)] = port.command(&[CMD_TOKEN, lo, hi], |_| {})?.as_slice() {
            next = *n as u32;
        }
    }
    ids.push(next);
    out.token(next)?;
    let n = (steps - prompt.len()) as u16;
    if n > 0 && next != BOS {
        let [lo, hi] = n.to_le_bytes();
        let mut err = Ok(());
        let mut stop = false;
        port.send(&[CMD_GENERATE, lo, hi])?;
        loop {
            let f = port.frame()?;
            match f {
                Frame::Token(t) => {
                    if !stop {
                        ids.push(t as u32);
                        if err.is_ok() {
                            err = out.token(t as u32);
                        }
                        stop = t as u32 == BOS;
                    }
                }
                Frame::GenDone => break,
                Frame::Error(code) => bail!(
                    "{pname}: the board stopped generating with error {code}: {}",
                    error_text(code)
                ),
                other => bail!("{pname}: unexpected reply {other:?} while generating"),
            }
        }
        err?;
    }
    out.finish()?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "{} positions on the board ({} prompt tokens, {} generated) in {secs:.2} s: {:.1} tokens/s",
        ids.len() - 1,
        prompt.len(),
        ids.len() - prompt.len(),
        (ids.len() - 1) as f64 / secs
    );
    Ok(())
}

/// The output: decoded text with a tokenizer (as run.c prints it: every token after the
/// first), else the ids; written to stdout only once the whole command has succeeded.
struct Emit<'a> {
    tok: Option<&'a Tokenizer>,
    prev: u32,
    text: Vec<u8>,
}

impl<'a> Emit<'a> {
    fn new(tok: Option<&'a Tokenizer>, prompt: &[u32]) -> anyhow::Result<Self> {
        let mut e = Emit {
            tok,
            prev: prompt[0],
            text: vec![],
        };
        if e.tok.is_none() {
            e.text.extend(format!("{}", prompt[0]).bytes());
        }
        for &t in &prompt[1..] {
            e.token(t)?;
        }
        Ok(e)
    }
    fn token(&mut self, t: u32) -> anyhow::Result<()> {
        match self.tok {
            Some(tok) => self.text.extend(tok.decode(self.prev, t)?),
            None => self.text.extend(format!(" {t}").bytes()),
        }
        self.prev = t;
        Ok(())
    }
    fn finish(mut self) -> anyhow::Result<()> {
        self.text.push(b'\n');
        write_stdout(&self.text)
    }
}
