//! The board's serial blocks: UartTx and UartRx against a line-level model of the other
//! side (bit times, bit order, stop bits, back-to-back bytes, a framing error, a glitch,
//! reset), then each against its own emitted Verilog in Icarus, cycle for cycle.

use llamahdl_hw::board::uart_rx::UartRx;
use llamahdl_hw::board::uart_tx::UartTx;
use llamahdl_hw::cosim::{assert_driver_cosim, emit_verilog};
use llamahdl_hw::sim::Driver;

/// The 8N1 line levels of `bytes`, `cpb` cycles per bit, with `gap` idle cycles after each.
fn line_of(bytes: &[u8], cpb: usize, gap: usize, bad_stop: Option<usize>) -> Vec<bool> {
    let mut v = vec![];
    for (k, &b) in bytes.iter().enumerate() {
        let stop = bad_stop != Some(k);
        let bits = std::iter::once(false)
            .chain((0..8).map(|i| (b >> i) & 1 == 1))
            .chain(std::iter::once(stop));
        for bit in bits {
            v.extend(std::iter::repeat(bit).take(cpb));
        }
        v.extend(std::iter::repeat(true).take(gap));
    }
    v
}

#[test]
fn tx_sends_8n1_at_the_bit_time() {
    for cpb in [4usize, 5, 13] {
        let mut d =
            Driver::new(UartTx::new(cpb as u32), |u, c| u.clock.next = c.into()).with_trace();
        let bytes = [0x55u8, 0x00, 0xff, 0xa3, 0x01, 0x80];
        let mut line = vec![];
        let mut next = 0;
        let mut starts = vec![];
        for cyc in 0..(bytes.len() * 10 * cpb + 50) {
            d.uut.start.next = false;
            d.settle();
            if d.uut.ready.val() && next < bytes.len() {
                d.uut.data.next = (bytes[next] as u64).into();
                d.uut.start.next = true;
                starts.push(cyc);
                next += 1;
            }
            d.settle();
            line.push(d.uut.txd.val());
            d.tick_settled();
        }
        assert_eq!(next, bytes.len());
        // Back to back: each start taken exactly 10 bit times after the previous one.
        for w in starts.windows(2) {
            assert_eq!(w[1] - w[0], 10 * cpb, "cpb {cpb}: gap between bytes");
        }
        // The line from the cycle after the first start is exactly the 8N1 frames.
        let want = line_of(&bytes, cpb, 0, None);
        let s = starts[0] + 1;
        assert_eq!(&line[s..s + want.len()], &want[..], "cpb {cpb}: line");
        assert!(line[..s].iter().all(|&b| b), "idle high before");
        assert!(line[s + want.len()..].iter().all(|&b| b), "idle high after");
        assert_driver_cosim(emit_verilog(UartTx::new(cpb as u32)), &mut d);
    }
}

#[test]
fn tx_reset_abandons_a_byte() {
    let mut d = Driver::new(UartTx::new(4), |u, c| u.clock.next = c.into());
    d.uut.data.next = 0x00u64.into();
    d.uut.start.next = true;
    d.tick();
    d.uut.start.next = false;
    d.run(10);
    d.settle();
    assert!(!d.uut.txd.val() && !d.uut.ready.val(), "sending zeros");
    d.uut.rst.next = true;
    d.tick();
    d.uut.rst.next = false;
    d.settle();
    assert!(d.uut.txd.val() && d.uut.ready.val(), "idle after reset");
}

/// Feed `line` to a receiver; the bytes and framing errors it reports.
fn receive(cpb: usize, line: &[bool], cosim: bool) -> (Vec<u8>, usize) {
    let mut d = Driver::new(UartRx::new(cpb as u32), |u, c| u.clock.next = c.into()).with_trace();
    let (mut got, mut ferr) = (vec![], 0);
    for &l in line.iter().chain(std::iter::repeat(&true).take(3 * cpb)) {
        d.uut.rxd.next = l;
        d.settle();
        if d.uut.valid.val() {
            got.push(d.uut.data.val().index() as u8);
        }
        if d.uut.frame_err.val() {
            ferr += 1;
        }
        d.tick_settled();
    }
    if cosim {
        assert_driver_cosim(emit_verilog(UartRx::new(cpb as u32)), &mut d);
    }
    (got, ferr)
}

#[test]
fn rx_receives_bytes_back_to_back_and_with_gaps() {
    let bytes: Vec<u8> = (0..40u32)
        .map(|i| (i * 97 + 13) as u8)
        .chain([0, 255, 0x55, 0xaa])
        .collect();
    for cpb in [4usize, 7, 16] {
        for gap in [0usize, 1, 9] {
            let (got, ferr) = receive(cpb, &line_of(&bytes, cpb, gap, None), gap == 1);
            assert_eq!(got, bytes, "cpb {cpb} gap {gap}");
            assert_eq!(ferr, 0);
        }
    }
}

#[test]
fn rx_tolerates_a_slow_or_fast_sender() {
    // A sender 3 % slow / fast: 33 or 31 cycles per bit against 32.
    let bytes = [0x00u8, 0xff, 0x5a, 0x81];
    for sender in [31usize, 33] {
        let (got, _) = receive(32, &line_of(&bytes, sender, 0, None), false);
        assert_eq!(got, bytes, "sender at {sender} cycles per bit");
    }
}

#[test]
fn rx_reports_a_bad_stop_bit_and_rejects_a_glitch() {
    let cpb = 8;
    let bytes = [0x12u8, 0x34, 0x56];
    let mut line = line_of(&bytes, cpb, 2, Some(1));
    // Idle, then a 2-cycle glitch (shorter than half a bit), then a good byte.
    line.extend(std::iter::repeat(true).take(4 * cpb));
    line.extend([false, false]);
    line.extend(std::iter::repeat(true).take(4 * cpb));
    line.extend(line_of(&[0x78], cpb, 0, None));
    let (got, ferr) = receive(cpb, &line, true);
    assert_eq!(got, vec![0x12, 0x56, 0x78]);
    assert_eq!(ferr, 1);
}

#[test]
fn tx_into_rx_loopback() {
    // The two blocks against each other at 4 clocks per bit, 256 byte values.
    let mut tx = Driver::new(UartTx::new(4), |u, c| u.clock.next = c.into());
    let mut rx = Driver::new(UartRx::new(4), |u, c| u.clock.next = c.into());
    let mut next = 0u32;
    let mut got = vec![];
    for _ in 0..(256 * 40 + 100) {
        tx.uut.start.next = false;
        tx.settle();
        if tx.uut.ready.val() && next < 256 {
            tx.uut.data.next = (next as u64).into();
            tx.uut.start.next = true;
            next += 1;
        }
        tx.settle();
        rx.uut.rxd.next = tx.uut.txd.val();
        rx.settle();
        if rx.uut.valid.val() {
            got.push(rx.uut.data.val().index() as u32);
        }
        tx.tick_settled();
        rx.tick_settled();
    }
    assert_eq!(got, (0..256).collect::<Vec<_>>());
}
