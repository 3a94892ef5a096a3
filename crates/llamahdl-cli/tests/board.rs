//! `llamahdl board` against the board top simulated natively behind a pseudo-terminal:
//! the host command opens the pty's slave as its serial port; a thread feeds what it
//! writes into the simulated board's UART line (4 core cycles per bit) and writes the
//! board's replies back. The output must equal `llamahdl run --engine golden`'s. Then the
//! hostile cases: a prompt longer than the board's context, a missing port, a file that is
//! not a terminal, a board that does not answer, a wrong flag.

mod common;
use common::*;
use llamahdl_golden::{QuantModel, ScaleMode};
use llamahdl_hw::sim::board::BoardSim;
use llamahdl_model::Checkpoint;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A pseudo-terminal: the master's descriptor and the slave's path.
struct Pty {
    master: i32,
    slave: String,
}

impl Pty {
    fn open() -> Pty {
        // SAFETY: plain libc calls on a descriptor this function owns.
        unsafe {
            let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(m >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(m), 0);
            assert_eq!(libc::unlockpt(m), 0);
            let mut buf = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()), 0);
            let fl = libc::fcntl(m, libc::F_GETFL);
            libc::fcntl(m, libc::F_SETFL, fl | libc::O_NONBLOCK);
            Pty {
                master: m,
                slave: CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned(),
            }
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        unsafe { libc::close(self.master) };
    }
}

/// Serve the simulated board on the pty's master until `stop`.
fn serve(master: i32, qm: QuantModel, stop: Arc<AtomicBool>) {
    let mut sim = BoardSim::<8>::new(&qm, qm.config.seq_len, 4).unwrap();
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut buf = [0u8; 256];
        let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            sim.send(&buf[..n as usize]);
        }
        for _ in 0..500 {
            sim.step();
        }
        if sim.received.len() > sent {
            let b = &sim.received[sent..];
            let w = unsafe { libc::write(master, b.as_ptr().cast(), b.len()) };
            if w > 0 {
                sent += w as usize;
            }
        }
    }
}

/// Run `llamahdl board` with `args` (the port added) against a simulated board of `ck`.
fn with_board(ck: &std::path::Path, args: &[&str]) -> std::process::Output {
    let qm = QuantModel::quantise(&Checkpoint::load(ck).unwrap(), ScaleMode::Mant8);
    let pty = Pty::open();
    let stop = Arc::new(AtomicBool::new(false));
    let (m, s2) = (pty.master, stop.clone());
    let h = std::thread::spawn(move || serve(m, qm, s2));
    let mut a = vec!["board", "--port", pty.slave.as_str()];
    a.extend_from_slice(args);
    let o = llamahdl(&a);
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    o
}

#[test]
fn board_over_a_pty_equals_the_golden_run() {
    let f = Files::new();
    let ck = f.small();
    let tok = f.small_tok();
    let (ck_s, tok_s) = (s(&ck).to_string(), s(&tok).to_string());
    // Text in and out, and ids in and out.
    let o = with_board(
        &ck,
        &["--tokenizer", &tok_s, "--prompt", "ab a", "--steps", "12"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let want = run_ok(&[
        "run",
        "--checkpoint",
        &ck_s,
        "--tokenizer",
        &tok_s,
        "--prompt",
        "ab a",
        "--steps",
        "12",
        "--engine",
        "golden",
    ]);
    assert_eq!(stdout(&o), stdout(&want));
    assert!(
        stderr(&o).contains("positions on the board"),
        "{}",
        stderr(&o)
    );

    let o = with_board(&ck, &["--prompt-ids", "1 260 262", "--steps", "16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = run_ok(&[
        "run",
        "--checkpoint",
        &ck_s,
        "--prompt-ids",
        "1 260 262",
        "--steps",
        "16",
        "--engine",
        "golden",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&want)).unwrap();
    let ids: Vec<String> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.to_string())
        .collect();
    assert_eq!(stdout(&o).trim(), ids.join(" "));
}

#[test]
fn board_refuses_a_prompt_longer_than_the_context() {
    let f = Files::new();
    let ck = f.small();
    let ids: Vec<String> = (0..17).map(|i| (1 + i % 5).to_string()).collect();
    let args = ["--prompt-ids", &ids.join(" ")];
    let o = with_board(&ck, &args);
    check_fails(
        &o,
        &args,
        1,
        &["17 tokens", "longer than the board's context of 16"],
    );
    let args = ["--prompt-ids", "1 300"];
    let o = with_board(&ck, &args);
    check_fails(&o, &args, 1, &["token 300", "vocabulary size 264"]);
}

#[test]
fn board_hostile_ports_and_flags() {
    fails(
        &[
            "board",
            "--port",
            "/nonexistent/ttyUSB9",
            "--prompt-ids",
            "1",
        ],
        1,
        &["/nonexistent/ttyUSB9", "cannot open the serial port"],
    );
    fails(
        &["board", "--port", "/dev/null", "--prompt-ids", "1"],
        1,
        &["/dev/null", "not a serial port"],
    );
    fails(
        &["board", "--port", "/dev/null", "--bogus"],
        2,
        &["--bogus"],
    );
    fails(&["board", "--prompt-ids", "1"], 2, &["--port"]);
    fails(
        &["board", "--port", "/dev/null", "--baud", "12345"],
        1,
        &["--baud 12345"],
    );
    // A terminal nobody answers on.
    let pty = Pty::open();
    fails(
        &["board", "--port", &pty.slave, "--timeout", "0.5"],
        1,
        &[&pty.slave, "no reply from the board within 0.5 s"],
    );
}
