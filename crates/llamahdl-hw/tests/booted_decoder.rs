//! The boot copier and the DRAM-streaming decoder in one top ([`BootedDecoder`]): the
//! image on the block device model, one AXI4 DRAM model serving both (the copier's writes,
//! the decoder's reads), in our own clock loop. A start given at power-up is held through
//! the copy and the decoder's header check; every logit of every position equals the
//! golden model. With a corrupted image the copier fails and a start only pulses `done`:
//! no logit, no token. The top's Verilog lints clean.

mod common;
use common::on_big_stack;
use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_hw::bits::{bits_of_bytes, bytes_of_bits, s2i, u2b};
use llamahdl_hw::cosim::emit_verilog;
use llamahdl_hw::decoder::booted::BootedDecoder;
use llamahdl_hw::decoder::dram::DramParams;
use llamahdl_hw::sim::axi_dram::{AxiDram, DramConfig, MasterOut, WriteMasterOut};
use llamahdl_hw::sim::block_dev::{BlockDev, BlockDevConfig, BlockDevIn};
use llamahdl_hw::sim::Driver;
use llamahdl_hw::units::boot::copier::ERR_REGION_CRC;
use llamahdl_hw::units::dram::axi_read::AxiReadParams;
use llamahdl_image::write::image_bytes;
use llamahdl_model::{synth, Config};

const BASE: u64 = 0x2000;

struct Bench {
    d: Driver<BootedDecoder<16, 128, 16>>,
    dev: BlockDev,
    dram: AxiDram,
}

/// What a cycle showed.
#[derive(Default)]
struct Seen {
    done: bool,
    logit: Option<(usize, i32)>,
}

impl Bench {
    fn new(c: &Config, device: Vec<u8>, image_bytes: usize) -> Self {
        let p = DramParams {
            ctx: c.seq_len,
            base: BASE,
            axi: AxiReadParams::default(),
        };
        let top = BootedDecoder::<16, 128, 16>::new(c, p, 0).unwrap();
        let d = Driver::new(top, |u, c| u.clock.next = c.into());
        let dram = DramConfig {
            latency: 20,
            ar_stall: 0.1,
            r_stall: 0.1,
            seed: 3,
            max_queue: 8,
            ..DramConfig::new(16)
        };
        let dev = BlockDev::new(
            BlockDevConfig {
                latency: 30,
                bytes_per_cycle: 4.0,
                error_block: None,
            },
            device,
        );
        Bench {
            d,
            dev,
            dram: AxiDram::new(dram, BASE, vec![0; image_bytes.div_ceil(4096) * 4096]),
        }
    }

    fn cycle(&mut self) -> Seen {
        let r = self.dram.drive();
        let w = self.dram.drive_write();
        let b = self.dev.drive();
        let u = &mut self.d.uut;
        u.arready.next = r.arready;
        u.rvalid.next = r.rvalid;
        u.rdata.next = bits_of_bytes::<128>(&r.rdata);
        u.rresp.next = r.rresp.into();
        u.rlast.next = r.rlast;
        u.awready.next = w.awready;
        u.wready.next = w.wready;
        u.bvalid.next = w.bvalid;
        u.bresp.next = w.bresp.into();
        u.bd_cmd_ready.next = b.cmd_ready;
        u.bd_valid.next = b.valid;
        u.bd_data.next = (b.data as u64).into();
        u.bd_error.next = b.error;
        self.d.settle();
        let u = &self.d.uut;
        let m = MasterOut {
            arvalid: u.arvalid.val(),
            araddr: u.araddr.val().to_u64(),
            arlen: u.arlen.val().to_u64(),
            arsize: u.arsize.val().to_u64(),
            arburst: u.arburst.val().to_u64(),
            rready: u.rready.val(),
        };
        let wm = WriteMasterOut {
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
        let seen = Seen {
            done: u.done.val(),
            logit: u
                .logit_valid
                .val()
                .then(|| (u.logit_index.val().index(), s2i(u.logit_value.val()) as i32)),
        };
        self.dram.observe(&m);
        self.dram.observe_write(&wm, false);
        self.dev.observe(&f);
        self.d.tick_settled();
        seen
    }

    /// A start at once (from power-up for the first), then cycles until `done`: the logits
    /// seen and the cycles taken.
    fn position(&mut self, token: u32, pos: usize, vocab: usize) -> (Vec<Option<i32>>, u64) {
        let u = &mut self.d.uut;
        u.token.next = u2b::<16>(token as u64);
        u.pos.next = u2b::<16>(pos as u64);
        u.start.next = true;
        let mut logits = vec![None; vocab];
        let mut n = 0u64;
        loop {
            let s = self.cycle();
            self.d.uut.start.next = false;
            n += 1;
            if let Some((i, v)) = s.logit {
                logits[i] = Some(v);
            }
            if s.done {
                return (logits, n);
            }
            assert!(n < 5_000_000, "position {pos} did not finish");
        }
    }
}

fn quant(c: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(c, seed), ScaleMode::Mant8)
}

#[test]
fn a_start_at_power_up_runs_after_the_boot_and_every_logit_is_exact() {
    on_big_stack(|| {
        let qm = quant(&Config::TINY, 7);
        let img = image_bytes(&qm, 16, 128).unwrap();
        let mut b = Bench::new(&qm.config, img.clone(), img.len());
        let mut g = Golden::new(qm.clone());
        for pos in 0..5 {
            let tok = ((pos * 11 + 2) % qm.config.vocab_size) as u32;
            let (got, cycles) = b.position(tok, pos, qm.config.vocab_size);
            let want = g.forward_q16(tok, pos).unwrap().to_vec();
            for (i, w) in want.iter().enumerate() {
                assert_eq!(got[i], Some(*w), "position {pos}: logit {i}");
            }
            assert_eq!(
                b.d.uut.next_token.val().index() as u32,
                g.argmax_q16(),
                "position {pos}: argmax"
            );
            if pos == 0 {
                // The first position waited for the whole copy.
                assert!(b.d.uut.boot_ready.val());
                assert!(cycles > b.dev.stats.last_word.unwrap());
                println!("position 0 (the boot copy included): {cycles} cycles");
            }
        }
        assert_eq!(&b.dram.mem()[..img.len()], &img[..], "DRAM holds the image");
        b.dram.assert_clean();
        assert!(b.dev.violations.is_empty(), "{:?}", b.dev.violations);
    });
}

#[test]
fn a_corrupted_image_gives_no_token() {
    on_big_stack(|| {
        let qm = quant(&Config::TINY, 8);
        let mut img = image_bytes(&qm, 16, 128).unwrap();
        let n = img.len();
        img[n - 20] ^= 0x40; // in the last region
        let mut b = Bench::new(&qm.config, img, n);
        let (got, _) = b.position(3, 0, qm.config.vocab_size);
        assert!(
            got.iter().all(|l| l.is_none()),
            "a logit came out of a failed boot"
        );
        let u = &b.d.uut;
        assert!(u.boot_error.val() && !u.boot_ready.val());
        assert_eq!(u.boot_code.val().to_u64(), ERR_REGION_CRC);
        // The decoder never left reset: it read nothing.
        assert_eq!(b.dram.stats.bursts, 0);
        // A later start is refused the same way.
        let (got, cycles) = b.position(3, 1, qm.config.vocab_size);
        assert!(got.iter().all(|l| l.is_none()) && cycles <= 2);
    });
}

#[test]
fn the_top_lints_clean() {
    on_big_stack(|| {
        let v = emit_verilog(
            BootedDecoder::<16, 128, 16>::new(
                &Config::TINY,
                DramParams {
                    ctx: 16,
                    base: BASE,
                    axi: AxiReadParams::default(),
                },
                0,
            )
            .unwrap(),
        );
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let w = std::env::temp_dir().join(format!("booted-waivers-{}.vlt", std::process::id()));
        // The decoder's waivers and the copier's together.
        let mut s = std::fs::read_to_string(root.join("../../sim/verilator_waivers.vlt")).unwrap();
        let boot =
            std::fs::read_to_string(root.join("src/units/boot/verilator_waivers.vlt")).unwrap();
        s += &boot.replace("`verilator_config", "");
        std::fs::write(&w, s).unwrap();
        llamahdl_hw::cosim::assert_lint_clean_with("booted decoder", &v, &w);
        std::fs::remove_file(&w).ok();
    });
}
