//! [`BlockDev`]: an eMMC-class block device model for native testbenches (the boot copy's
//! source), speaking the fabric's narrow block-device interface
//! ([`crate::units::boot`]: one read command of `count` 512-byte blocks from `lba`, then
//! the blocks' bytes as 32-bit words, or an error).
//!
//! Driven from our own clock loop like [`super::axi_dram::AxiDram`]: each cycle the
//! testbench calls [`BlockDev::drive`] before settling the fabric (the device's outputs
//! depend only on its state) and [`BlockDev::observe`] with the fabric's outputs before
//! the rising edge.
//!
//! # Behaviour
//!
//! * Contents: a byte image (a weight image file), padded with zeros to whole 512-byte
//!   blocks. A command that reaches past the last block is refused: `bd_error` from the
//!   cycle its first block past the end would start (the blocks before it are delivered).
//! * Latency: a command accepted at the edge ending cycle `t` presents its first word in
//!   cycle `t + latency` at the earliest (`latency >= 1`); the rest follow at the rate cap.
//! * Bandwidth cap: `bytes_per_cycle` (for example 1.0 for an 8-bit eMMC bus at the fabric
//!   clock, 0.5 for SPI at a quarter of it): a credit of `bytes_per_cycle` accrues each
//!   cycle while a command runs (at most one word's worth is kept) and a word is presented
//!   only when 4 bytes of credit are there; so the words never come faster than the cap.
//! * Error injection: [`BlockDevConfig::error_block`] `= Some(b)` reports a device error
//!   instead of block `b`'s first word (a CRC or timeout error of a real card).
//! * `bd_error` stays high until the fabric's `bd_abort` (or a reset); a command while
//!   one is running is a protocol violation, as is `bd_abort` with no command running
//!   (both collected, never a panic).
//! * [`BlockDev::reset`] forgets the command (the fabric's reset; the contents stay).

/// Bytes in a block.
pub const BLOCK_BYTES: usize = 512;
/// Bytes in one word of the interface.
pub const WORD_BYTES: usize = 4;

/// Settings of a [`BlockDev`].
#[derive(Debug, Clone)]
pub struct BlockDevConfig {
    /// Cycles from a command's acceptance to its first word (at least 1).
    pub latency: u64,
    /// The bandwidth cap in bytes per cycle (greater than 0, at most 4).
    pub bytes_per_cycle: f64,
    /// Report a device error instead of this block (0-based LBA).
    pub error_block: Option<u64>,
}

impl Default for BlockDevConfig {
    fn default() -> Self {
        BlockDevConfig {
            latency: 100,
            bytes_per_cycle: 1.0,
            error_block: None,
        }
    }
}

/// What the device drives in a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockDevOut {
    pub cmd_ready: bool,
    pub valid: bool,
    /// Four bytes of the image, the first in bits 7..0.
    pub data: u32,
    pub error: bool,
}

/// What the fabric drives in a cycle (as seen before the rising edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockDevIn {
    pub cmd_valid: bool,
    pub lba: u64,
    pub count: u64,
    pub ready: bool,
    pub abort: bool,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockDevStats {
    pub commands: u64,
    pub words: u64,
    /// Cycle of the first and the last word handed over.
    pub first_word: Option<u64>,
    pub last_word: Option<u64>,
    /// Cycles with a word presented and not taken.
    pub stalled: u64,
}

struct Cmd {
    /// Next byte to send, and the end (exclusive) of the command.
    next: u64,
    end: u64,
    /// First cycle a word may be presented.
    start: u64,
}

/// The model. See the [module docs](self).
pub struct BlockDev {
    cfg: BlockDevConfig,
    data: Vec<u8>,
    cycle: u64,
    cmd: Option<Cmd>,
    credit: f64,
    error: bool,
    pub violations: Vec<String>,
    pub stats: BlockDevStats,
}

impl BlockDev {
    /// A device holding `image` (zero-padded to whole blocks). Panics on a latency of 0 or
    /// a cap outside (0, 4] (testbench parameters).
    pub fn new(cfg: BlockDevConfig, mut image: Vec<u8>) -> Self {
        assert!(cfg.latency >= 1, "BlockDev: latency must be at least 1");
        assert!(
            cfg.bytes_per_cycle > 0.0 && cfg.bytes_per_cycle <= WORD_BYTES as f64,
            "BlockDev: bytes_per_cycle must be in (0, 4]"
        );
        image.resize(image.len().div_ceil(BLOCK_BYTES) * BLOCK_BYTES, 0);
        BlockDev {
            cfg,
            data: image,
            cycle: 0,
            cmd: None,
            credit: 0.0,
            error: false,
            violations: vec![],
            stats: BlockDevStats::default(),
        }
    }

    /// Blocks the device holds.
    pub fn blocks(&self) -> u64 {
        (self.data.len() / BLOCK_BYTES) as u64
    }

    /// Cycles observed so far.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// The fabric's reset: no command, no error (the contents stay).
    pub fn reset(&mut self) {
        self.cmd = None;
        self.error = false;
        self.credit = 0.0;
    }

    /// No command running and no error pending.
    pub fn idle(&self) -> bool {
        self.cmd.is_none() && !self.error
    }

    fn word_ready(&self) -> Option<u32> {
        let c = self.cmd.as_ref()?;
        if self.error || self.cycle < c.start || self.credit < WORD_BYTES as f64 {
            return None;
        }
        let n = c.next as usize;
        Some(u32::from_le_bytes(self.data[n..n + 4].try_into().unwrap()))
    }

    /// The device's outputs in this cycle (call before settling the fabric).
    pub fn drive(&mut self) -> BlockDevOut {
        // An error replaces the first word of a block past the end or of the faulty block.
        if let Some(c) = &self.cmd {
            if !self.error && self.cycle >= c.start && c.next % BLOCK_BYTES as u64 == 0 {
                let blk = c.next / BLOCK_BYTES as u64;
                if blk >= self.blocks() || Some(blk) == self.cfg.error_block {
                    self.error = true;
                }
            }
        }
        let w = self.word_ready();
        BlockDevOut {
            cmd_ready: self.cmd.is_none() && !self.error,
            valid: w.is_some(),
            data: w.unwrap_or(0),
            error: self.error,
        }
    }

    /// Takes the fabric's outputs of this cycle and advances one cycle.
    pub fn observe(&mut self, f: &BlockDevIn) {
        let out_cmd_ready = self.cmd.is_none() && !self.error;
        let presented = self.word_ready().is_some();
        if presented && f.ready {
            let c = self.cmd.as_mut().unwrap();
            c.next += WORD_BYTES as u64;
            self.credit -= WORD_BYTES as f64;
            self.stats.words += 1;
            self.stats.first_word.get_or_insert(self.cycle);
            self.stats.last_word = Some(self.cycle);
            if c.next == c.end {
                self.cmd = None;
            }
        } else if presented {
            self.stats.stalled += 1;
        }
        if f.abort {
            if self.cmd.is_none() && !self.error {
                self.violations
                    .push(format!("cycle {}: bd_abort with no command", self.cycle));
            }
            self.cmd = None;
            self.error = false;
        } else if f.cmd_valid {
            if out_cmd_ready {
                let end = (f.lba + f.count) * BLOCK_BYTES as u64;
                self.stats.commands += 1;
                if f.count > 0 {
                    self.cmd = Some(Cmd {
                        next: f.lba * BLOCK_BYTES as u64,
                        end,
                        start: self.cycle + self.cfg.latency,
                    });
                }
            } else if self.cmd.is_some() {
                self.violations.push(format!(
                    "cycle {}: a command while one is running",
                    self.cycle
                ));
            }
        }
        // Credit: accrues while a command runs, at most one word's worth is kept.
        if self.cmd.is_some() {
            self.credit = (self.credit + self.cfg.bytes_per_cycle).min(WORD_BYTES as f64);
        } else {
            self.credit = 0.0;
        }
        self.cycle += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `count` blocks from `lba` taking every word at once; returns the bytes, the
    /// cycles from the command to the last word, and whether an error came.
    fn read(dev: &mut BlockDev, lba: u64, count: u64) -> (Vec<u8>, u64, bool) {
        let mut out = vec![];
        let mut sent = false;
        for _ in 0..10_000_000u64 {
            let o = dev.drive();
            if o.error {
                dev.observe(&BlockDevIn {
                    abort: true,
                    ..Default::default()
                });
                return (out, 0, true);
            }
            if o.valid {
                out.extend_from_slice(&o.data.to_le_bytes());
            }
            let cmd = !sent && o.cmd_ready;
            sent |= cmd;
            dev.observe(&BlockDevIn {
                cmd_valid: cmd,
                lba,
                count,
                ready: true,
                abort: false,
            });
            if sent && dev.idle() {
                return (out, dev.stats.last_word.unwrap() + 1, false);
            }
        }
        panic!("no end");
    }

    #[test]
    fn reads_blocks_at_the_cap() {
        let img: Vec<u8> = (0..3000u32).map(|i| (i * 7 + 3) as u8).collect();
        for cap in [0.5, 1.0, 2.0, 4.0] {
            let mut dev = BlockDev::new(
                BlockDevConfig {
                    latency: 20,
                    bytes_per_cycle: cap,
                    error_block: None,
                },
                img.clone(),
            );
            assert_eq!(dev.blocks(), 6);
            let (got, cycles, err) = read(&mut dev, 1, 4);
            assert!(!err);
            assert_eq!(
                &got[..],
                &{
                    let mut p = img.clone();
                    p.resize(3072, 0);
                    p
                }[512..2560]
            );
            // 2048 bytes at `cap` bytes a cycle after the latency, never faster.
            let min = 20 + (2048.0 / cap) as u64 - (4.0 / cap) as u64;
            assert!(cycles >= min, "cap {cap}: {cycles} < {min}");
            assert!(cycles <= min + 8, "cap {cap}: {cycles} > {min} + 8");
            assert!(dev.violations.is_empty(), "{:?}", dev.violations);
        }
    }

    #[test]
    fn refuses_reads_past_the_end_and_injects_errors() {
        let img = vec![0x5au8; 2048];
        let mut dev = BlockDev::new(BlockDevConfig::default(), img.clone());
        let (got, _, err) = read(&mut dev, 2, 3);
        assert!(err, "a read past block 3 must fail");
        assert_eq!(got.len(), 1024, "blocks 2 and 3 are delivered first");
        // After the abort the device answers again.
        let (got, _, err) = read(&mut dev, 0, 1);
        assert!(!err && got == vec![0x5a; 512]);
        let mut dev = BlockDev::new(
            BlockDevConfig {
                error_block: Some(1),
                ..Default::default()
            },
            img,
        );
        let (got, _, err) = read(&mut dev, 0, 4);
        assert!(err && got.len() == 512);
        assert!(dev.violations.is_empty(), "{:?}", dev.violations);
    }
}
