//! The ULX3S board top: the whole top natively simulated with a host UART model (prompt
//! in, tokens out, equal to the golden model's greedy generation; protocol errors; reset
//! button; LEDs), its emitted Verilog co-simulated in Verilator and linted, and its LPF
//! checked against the board maker's pin file and against the committed
//! `constraints/ulx3s_85f.lpf`.

use llamahdl_golden::{Golden, QuantModel, ScaleMode};
use llamahdl_hw::board::protocol::*;
use llamahdl_hw::board::ulx3s::{BoardParams, Ulx3sBoard};
use llamahdl_hw::board::{emit_ulx3s, ULX3S_MODULE};
use llamahdl_hw::sim::board::{run_prompt, BoardSim};
use llamahdl_model::generate::greedy;
use llamahdl_model::{synth, Config};
use std::collections::BTreeMap;
use std::path::Path;

const CPB: u32 = 4;
/// Cycles allowed per position (tiny: a few thousand; the board adds the UART).
const BUDGET: u64 = 2_000_000;

fn quant(cfg: &Config, seed: u64) -> QuantModel {
    QuantModel::quantise(&synth::generate(cfg, seed), ScaleMode::Mant8)
}

/// Golden greedy ids for `prompt` and `steps` positions (stops after a generated BOS).
fn golden_ids(qm: &QuantModel, prompt: &[u32], steps: usize) -> Vec<u32> {
    let mut g = Golden::new(qm.clone());
    greedy(&mut g, prompt, steps, false, |_| {}).unwrap().ids
}

/// The board's sequence cut where greedy stops (after the first generated BOS).
fn cut_at_bos(seq: &[u32], prompt_len: usize) -> Vec<u32> {
    match seq[prompt_len..].iter().position(|&t| t == 1) {
        Some(i) => seq[..prompt_len + i + 1].to_vec(),
        None => seq.to_vec(),
    }
}

#[test]
fn board_tiny_prompt_to_tokens_equal_golden() {
    let cfg = Config::TINY;
    for seed in [1u64, 7] {
        let qm = quant(&cfg, seed);
        let mut sim = BoardSim::<8>::new(&qm, cfg.seq_len, CPB).unwrap();
        sim.press_reset(5);
        let prompt = [1u32, 9, 20, 3];
        let steps = cfg.seq_len;
        let seq = run_prompt(&mut sim, &prompt, steps, BUDGET).unwrap();
        assert_eq!(seq.len(), steps + 1);
        let want = golden_ids(&qm, &prompt, steps);
        assert_eq!(cut_at_bos(&seq, prompt.len()), want, "seed {seed}");
        assert_eq!(sim.host_framing_errors, 0);
        println!(
            "tiny seed {seed}: {} tokens over the UART in {} cycles: {seq:?}",
            seq.len() - prompt.len(),
            sim.cycles()
        );
    }
}

#[test]
fn board_protocol_errors_status_and_leds() {
    let cfg = Config::TINY;
    let qm = quant(&cfg, 3);
    let ctx = 4;
    let mut sim = BoardSim::<8>::new(&qm, ctx, CPB).unwrap();
    // Power-up: in reset for two cycles (loading LED), then ready.
    assert_eq!(sim.leds() & 8, 8, "loading LED at power-up");
    for _ in 0..4 {
        sim.step();
    }
    assert_eq!(sim.leds() & 0x0f, 1, "ready LED only");
    assert_eq!(
        sim.command(&[CMD_STATUS], BUDGET).unwrap(),
        vec![Frame::Status {
            pos: 0,
            ctx: 4,
            vocab: 32
        }]
    );
    assert_eq!(
        sim.command(b"?", BUDGET).unwrap(),
        vec![Frame::Error(ERR_UNKNOWN)]
    );
    assert_eq!(sim.leds() & 4, 4, "error LED after an error");
    assert_eq!(
        sim.command(&[CMD_RESET], BUDGET).unwrap(),
        vec![Frame::Reset]
    );
    assert_eq!(sim.leds() & 4, 0, "error LED cleared by R");
    assert_eq!(
        sim.command(&[CMD_GENERATE, 3, 0], BUDGET).unwrap(),
        vec![Frame::Error(ERR_NO_TOKEN)],
        "G before any T"
    );
    assert_eq!(
        sim.command(&[CMD_TOKEN, cfg.vocab_size as u8, 0], BUDGET)
            .unwrap(),
        vec![Frame::Error(ERR_TOKEN_RANGE)]
    );
    assert_eq!(
        sim.command(&[CMD_TOKEN, 0, 1], BUDGET).unwrap(),
        vec![Frame::Error(ERR_TOKEN_RANGE)],
        "token 256"
    );
    // G 0 is answered at once; positions fill the context, the next one is refused.
    let mut g = Golden::new(qm.clone());
    g.forward_q16(1, 0).unwrap();
    let t = g.argmax_q16();
    assert_eq!(
        sim.command(&[CMD_TOKEN, 1, 0], BUDGET).unwrap(),
        vec![Frame::Token(t as u16)]
    );
    assert_eq!(
        sim.command(&[CMD_GENERATE, 0, 0], BUDGET).unwrap(),
        vec![Frame::GenDone]
    );
    let frames = sim.command(&[CMD_GENERATE, 10, 0], BUDGET * 10).unwrap();
    // Positions 1, 2, 3 give tokens; position 4 is past the context of 4.
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert!(frames[..3].iter().all(|f| matches!(f, Frame::Token(_))));
    assert_eq!(frames[3], Frame::Error(ERR_CONTEXT));
    assert_eq!(
        sim.command(&[CMD_STATUS], BUDGET).unwrap(),
        vec![Frame::Status {
            pos: 4,
            ctx: 4,
            vocab: 32
        }]
    );
    assert_eq!(
        sim.command(&[CMD_TOKEN, 1, 0], BUDGET).unwrap(),
        vec![Frame::Error(ERR_CONTEXT)]
    );
    // The reset button: back to position 0, error LED off.
    sim.press_reset(3);
    for _ in 0..3 {
        sim.step();
    }
    assert_eq!(sim.leds() & 0x0f, 1);
    assert_eq!(
        sim.command(&[CMD_STATUS], BUDGET).unwrap(),
        vec![Frame::Status {
            pos: 0,
            ctx: 4,
            vocab: 32
        }]
    );
    // A framing error (stop bit 0) is reported; the board then answers normally.
    let from = sim.received.len();
    // Start bit, eight zero bits, stop bit 0, then idle.
    for _ in 0..10 * CPB {
        sim.driver().uut.ftdi_txd.next = false;
        sim.driver().tick();
    }
    let frames = sim.await_reply(CMD_STATUS, from, BUDGET).unwrap();
    assert_eq!(frames, vec![Frame::Error(ERR_FRAMING)]);
    assert_eq!(sim.command(&[CMD_STATUS], BUDGET).unwrap().len(), 1);
    assert_eq!(sim.host_framing_errors, 0);
}

#[test]
fn board_real_stories260k_prompt_equal_golden() {
    let (Some(ck), Some(tok)) = (
        llamahdl_model::testutil::stories260k(),
        llamahdl_model::testutil::tok512(),
    ) else {
        println!("SKIPPED (not run): LLAMAHDL_MODELS unset or without stories260K.bin/tok512.bin");
        return;
    };
    let qm = QuantModel::quantise(&ck, ScaleMode::Mant8);
    let prompt = tok.encode("Once upon a time", true, false);
    let steps = prompt.len() + 6;
    let mut sim = BoardSim::<32>::new(&qm, 96, CPB).unwrap();
    let t0 = std::time::Instant::now();
    let seq = run_prompt(&mut sim, &prompt, steps, 50_000_000).unwrap();
    let want = golden_ids(&qm, &prompt, steps);
    assert_eq!(cut_at_bos(&seq, prompt.len()), want);
    println!(
        "stories260K, 32 lanes, context 96: {:?} -> {:?} ({}) in {} cycles, {:.1} s",
        prompt,
        &seq[prompt.len()..],
        tok.decode_ids(&seq).unwrap(),
        sim.cycles(),
        t0.elapsed().as_secs_f64()
    );
}

/// The board top's Verilog (EHXPLLL's simulation model included) replays the native
/// simulation of a short session cycle for cycle in Verilator.
#[test]
fn board_verilog_matches_native_in_verilator() {
    let cfg = Config::TINY;
    let qm = quant(&cfg, 2);
    let mut sim = BoardSim::<8>::with_trace(&qm, cfg.seq_len, CPB).unwrap();
    sim.press_reset(3);
    let seq = run_prompt(&mut sim, &[1, 5, 6], 6, BUDGET).unwrap();
    assert_eq!(cut_at_bos(&seq, 3), golden_ids(&qm, &[1, 5, 6], 6));
    let trace = sim.driver().take_trace().unwrap();
    let p = BoardParams {
        core_mhz: 100.0,
        clocks_per_bit: CPB,
    };
    let files = emit_ulx3s(&qm, 8, cfg.seq_len, p).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = llamahdl_hw::cosim::run_verilator(&files[0].text, ULX3S_MODULE, &trace, dir.path())
        .expect("verilator");
    r.assert_clean();
    println!(
        "board top in Verilator: {} cycles clean, {:.0} cycles/s",
        r.cycles,
        r.cycles_per_second.unwrap_or(0.0)
    );
    assert!(r.cycles > 1000);
}

#[test]
fn board_top_lints_clean() {
    let qm = quant(&Config::TINY, 1);
    for lanes in [8, 32] {
        let files = emit_ulx3s(&qm, lanes, Config::TINY.seq_len, BoardParams::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let r = llamahdl_hw::cosim::verilator_lint(
            &files[0].text,
            ULX3S_MODULE,
            Some(&llamahdl_hw::cosim::default_waiver_file()),
            dir.path(),
        )
        .unwrap();
        assert!(r.clean, "lanes {lanes}:\n{}", r.output);
        assert!(files[0].text.contains("EHXPLLL #("), "PLL instance");
        assert!(files[0].text.contains(".CLKFB_DIV(4)"), "100 MHz dividers");
    }
}

fn locates(lpf: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in lpf.lines() {
        let l = line.split('#').next().unwrap().trim();
        if let Some(rest) = l.strip_prefix("LOCATE COMP \"") {
            let (name, rest) = rest.split_once('"').unwrap();
            let site = rest
                .trim()
                .strip_prefix("SITE \"")
                .and_then(|s| s.split_once('"'))
                .map(|(s, _)| s.to_string())
                .unwrap_or_else(|| panic!("bad LOCATE line: {line}"));
            assert!(m.insert(name.to_string(), site).is_none(), "{name} twice");
        }
    }
    m
}

#[test]
fn lpf_pins_match_the_makers_file_and_the_committed_lpf() {
    let qm = quant(&Config::TINY, 1);
    let b = Ulx3sBoard::<8>::new(&qm, 16, BoardParams::default()).unwrap();
    let lpf = b.lpf();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let maker = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ulx3s_v20_excerpt.lpf"),
    )
    .unwrap();
    let maker = locates(&maker);
    let ours = locates(&lpf);
    // Our port name -> the maker's name where they differ.
    let alias = BTreeMap::from([("btn_fire1", "btn[1]")]);
    assert_eq!(ours.len(), 13, "{ours:?}");
    for (name, site) in &ours {
        let mname = alias.get(name.as_str()).copied().unwrap_or(name);
        assert_eq!(
            maker.get(mname),
            Some(site),
            "{name}: site {site} is not the maker's ({mname})"
        );
    }
    // Every port of the top has a site; the clock its frequency; all LVCMOS33.
    assert!(
        lpf.contains("FREQUENCY PORT \"clk_25mhz\" 25 MHz;"),
        "{lpf}"
    );
    assert_eq!(lpf.matches("IO_TYPE=LVCMOS33").count(), 13);
    let committed = root.join("constraints/ulx3s_85f.lpf");
    let on_disk = std::fs::read_to_string(&committed)
        .unwrap_or_else(|e| panic!("{}: {e}", committed.display()));
    assert!(
        on_disk == lpf,
        "constraints/ulx3s_85f.lpf is stale: regenerate it (docs/board-ulx3s.md)"
    );
}

#[test]
fn board_params_refuse_what_cannot_be_made() {
    assert!(BoardParams::new(100.3, 115_200)
        .unwrap_err()
        .contains("cannot make"));
    assert!(BoardParams::new(100.0, 30_000_000)
        .unwrap_err()
        .contains("4..65536"));
    let p = BoardParams::new(100.0, 115_200).unwrap();
    assert_eq!(p.clocks_per_bit, 868);
    let e = BoardParams::new(25.0, 2_000_000).unwrap_err();
    assert!(e.contains("% off"), "{e}");
}
