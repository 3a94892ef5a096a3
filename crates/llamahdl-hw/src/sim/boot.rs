//! [`BootBench`]: the boot copier ([`BootCopier`]) in our own clock loop with the block
//! device model ([`BlockDev`]) and the write side of the AXI DRAM model ([`AxiDram`]):
//! the image goes from the device through the copier into the DRAM model's memory.
//!
//! Each cycle: both models drive the copier's inputs (their outputs depend only on their
//! state), the copier settles, both models observe its outputs and advance, the copier's
//! clock ticks. [`BootBench::reset`] asserts the copier's reset for one cycle together
//! with the models' (the device forgets its command; the DRAM model is made afresh over
//! the same memory, as an interconnect reset leaves DRAM's contents alone).

use super::axi_dram::{AxiDram, DramConfig, WriteMasterOut, WriteStats};
use super::block_dev::{BlockDev, BlockDevIn, BlockDevStats};
use super::Driver;
use crate::bits::bytes_of_bits;
use crate::units::boot::copier::{BootCopier, BootLayout, BootParams};

/// The copier's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootStatus {
    /// Still copying.
    Busy,
    /// The image is in DRAM and every check passed.
    Ready,
    /// The copy failed: `err_code` (`units::boot::copier::ERR_*`) and `err_detail`.
    Error { code: u64, detail: u64 },
}

/// A finished (or timed-out) boot.
#[derive(Debug, Clone)]
pub struct BootReport {
    pub status: BootStatus,
    /// Cycles from the (last) reset to the verdict.
    pub cycles: u64,
    pub device: BlockDevStats,
    pub dram: WriteStats,
    /// Protocol violations seen by the models (AXI, block device).
    pub violations: Vec<String>,
}

/// The bench. See the [module docs](self).
pub struct BootBench<const DW: usize, const SW: usize, const FA: usize> {
    pub drv: Driver<BootCopier<DW, SW, FA>>,
    pub dev: BlockDev,
    pub dram: AxiDram,
    dram_cfg: DramConfig,
    base: u64,
    since_reset: u64,
}

impl<const DW: usize, const SW: usize, const FA: usize> BootBench<DW, SW, FA> {
    /// A copier for `layout` with `params`, reading `dev`, writing a DRAM model of
    /// `dram_bytes` bytes at `params.base` (zero-filled) that behaves as `dram`.
    pub fn new(
        layout: &BootLayout,
        params: BootParams,
        dev: BlockDev,
        dram: DramConfig,
        dram_bytes: usize,
    ) -> Result<Self, crate::units::boot::copier::BootBuildError> {
        let copier = BootCopier::<DW, SW, FA>::with_layout(layout, params)?;
        let mut drv = Driver::new(copier, |u, c| u.clock.next = c.into());
        drv.settle();
        let mem = AxiDram::new(dram.clone(), params.base, vec![0u8; dram_bytes]);
        Ok(BootBench {
            drv,
            dev,
            dram: mem,
            dram_cfg: dram,
            base: params.base,
            since_reset: 0,
        })
    }

    /// Records the copier's ports every cycle, for a co-simulation of its Verilog.
    pub fn traced(mut self) -> Self {
        self.drv = self.drv.with_trace();
        self
    }

    /// The copier's status in this cycle (from its registers; every step, reset and
    /// [`BootBench::new`] leave the logic settled, so nothing is settled again here).
    pub fn status(&mut self) -> BootStatus {
        let u = &self.drv.uut;
        if u.ready.val() {
            BootStatus::Ready
        } else if u.error.val() {
            BootStatus::Error {
                code: u.err_code.val().to_u64(),
                detail: u.err_detail.val().to_u64(),
            }
        } else {
            BootStatus::Busy
        }
    }

    /// One clock cycle (with `reset` high when `reset`).
    pub fn step(&mut self, reset: bool) {
        let s = self.dram.drive_write();
        let b = self.dev.drive();
        {
            let u = &mut self.drv.uut;
            u.reset.next = reset;
            u.awready.next = s.awready;
            u.wready.next = s.wready;
            u.bvalid.next = s.bvalid;
            u.bresp.next = s.bresp.into();
            u.bd_cmd_ready.next = b.cmd_ready;
            u.bd_valid.next = b.valid;
            u.bd_data.next = (b.data as u64).into();
            u.bd_error.next = b.error;
        }
        self.drv.settle();
        let u = &self.drv.uut;
        let m = WriteMasterOut {
            awvalid: u.awvalid.val(),
            awaddr: u.awaddr.val().to_u64(),
            awlen: u.awlen.val().to_u64(),
            awsize: u.awsize.val().to_u64(),
            awburst: u.awburst.val().to_u64(),
            wvalid: u.wvalid.val(),
            wdata: bytes_of_bits(u.wdata.val()),
            wstrb: u.wstrb.val().to_u64(),
            wlast: u.wlast.val(),
            bready: u.bready.val(),
        };
        let f = BlockDevIn {
            cmd_valid: u.bd_cmd_valid.val(),
            lba: u.bd_lba.val().to_u64(),
            count: u.bd_count.val().to_u64(),
            ready: u.bd_ready.val(),
            abort: u.bd_abort.val(),
        };
        self.dram.observe_write(&m, true);
        self.dev.observe(&f);
        self.drv.tick_settled();
        self.since_reset += 1;
    }

    /// A new DRAM model behaving as `cfg` (used from now on, across resets too) over
    /// `mem`, or over the present memory.
    pub fn set_dram(&mut self, cfg: DramConfig, mem: Option<Vec<u8>>) {
        let mem = mem.unwrap_or_else(|| self.dram.mem().to_vec());
        self.dram_cfg = cfg.clone();
        self.dram = AxiDram::new(cfg, self.base, mem);
    }

    /// A one-cycle reset of the copier with the device's and the interconnect's.
    pub fn reset(&mut self) {
        let mem = self.dram.mem().to_vec();
        self.dev.reset();
        self.dram = AxiDram::new(self.dram_cfg.clone(), self.base, mem);
        // The reset cycle itself: the models see an idle fabric.
        self.drv.uut.reset.next = true;
        self.drv.tick();
        self.drv.uut.reset.next = false;
        self.since_reset = 0;
    }

    /// Runs until the copier is ready or failed (and the models are quiet), or for
    /// `max_cycles`.
    pub fn run(&mut self, max_cycles: u64) -> BootReport {
        let mut st = self.status();
        let mut verdict_at = None;
        for _ in 0..max_cycles {
            if st != BootStatus::Busy {
                verdict_at.get_or_insert(self.since_reset);
                if self.dram.write_quiet() && self.dev.idle() {
                    break;
                }
            }
            self.step(false);
            st = self.status();
        }
        let mut violations: Vec<String> = self
            .dram
            .violations
            .iter()
            .map(|v| format!("AXI cycle {}: {}", v.cycle, v.what))
            .collect();
        violations.extend(
            self.dev
                .violations
                .iter()
                .map(|v| format!("block device {v}")),
        );
        BootReport {
            status: st,
            cycles: verdict_at.unwrap_or(self.since_reset),
            device: self.dev.stats,
            dram: self.dram.write_stats(),
            violations,
        }
    }
}

/// What each `err_code` means, for messages.
pub fn describe_error(code: u64, detail: u64, layout_regions: &[String]) -> String {
    use crate::units::boot::copier::*;
    match code {
        ERR_HEADER => format!(
            "the image's header differs from the one this design was generated for \
             (bus word {detail} of the header: magic, version, shape, lanes, bus width or size)"
        ),
        ERR_HEADER_CRC => "the header's CRC-32 does not match its bytes".to_string(),
        ERR_TABLE_CRC => {
            "the region table's CRC-32 does not match the header's table_crc".to_string()
        }
        ERR_REGION_CRC => format!(
            "region {detail} ({}) does not match its CRC-32",
            layout_regions
                .get(detail as usize)
                .map(String::as_str)
                .unwrap_or("?")
        ),
        ERR_DEVICE => "the block device reported an error (a read error, or the image is \
                       longer than the device holds: truncated)"
            .to_string(),
        ERR_DRAM => format!("DRAM answered a write with an error (BRESP {detail})"),
        _ => format!("unknown error code {code} (detail {detail})"),
    }
}

/// A whole boot copy of `device` (the block device's contents, the image from block
/// `params.lba`) for `layout` on a `bus_bits`-bit bus (64, 128, 256 or 512): the report
/// and DRAM's contents from `params.base` (the image's length).
pub fn boot_copy(
    layout: &BootLayout,
    bus_bits: usize,
    params: BootParams,
    dev: BlockDev,
    dram: DramConfig,
) -> Result<(BootReport, Vec<u8>), String> {
    fn run<const DW: usize, const SW: usize>(
        layout: &BootLayout,
        params: BootParams,
        dev: BlockDev,
        dram: DramConfig,
    ) -> Result<(BootReport, Vec<u8>), String> {
        let bytes = layout.image_bytes.div_ceil(4096) as usize * 4096;
        let mut b = BootBench::<DW, SW, 9>::new(layout, params, dev, dram, bytes)
            .map_err(|e| e.to_string())?;
        // Generous: the device at 1/16 byte a cycle, plus fixed costs.
        let budget = layout.image_bytes * 64 + 10_000_000;
        let r = b.run(budget);
        let n = layout.image_bytes as usize;
        Ok((r, b.dram.mem()[..n].to_vec()))
    }
    match bus_bits {
        64 => run::<64, 8>(layout, params, dev, dram),
        128 => run::<128, 16>(layout, params, dev, dram),
        256 => run::<256, 32>(layout, params, dev, dram),
        512 => run::<512, 64>(layout, params, dev, dram),
        b => Err(format!(
            "a {b}-bit bus: the boot copier takes 64, 128, 256 or 512 bits"
        )),
    }
}
