"""cocotb test of the AXI write master's emitted Verilog against cocotbext-axi's AxiRamWrite
(an independent AXI4 slave that asserts on 4 KiB crossings), under Icarus, with random
pauses on the AW, W and B channels and a random data source.

Parameters come from the environment (set by ../run.py): AXI_DW (bus bits) and AXI_SEED. The
FIFO depth and the bursts outstanding are those of the emitted master (tests/axi_cocotb.rs).
"""
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import AxiBus, AxiRamWrite

MEM = 64 * 1024


class FaultyRam(AxiRamWrite):
    """AxiRamWrite whose writes at or above `limit` fail: cocotbext-axi answers them SLVERR."""

    limit = MEM

    async def _write(self, address, data):
        if address + len(data) > self.limit:
            raise ValueError(f"write at {address:#x} past {self.limit:#x}")
        return await super()._write(address, data)


def pauses(rng, p):
    while True:
        yield rng.random() < p


async def setup(dut, seed, stall):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    ram = FaultyRam(AxiBus.from_prefix(dut, "m_axi").write, dut.clk, dut.rst, size=2 * MEM)
    for k, ch in enumerate([ram.aw_channel, ram.w_channel, ram.b_channel]):
        ch.set_pause_generator(pauses(random.Random(seed + 1 + k), stall))
    dut.rst.value = 1
    for sig in [dut.cmd_valid, dut.in_valid, dut.clear, dut.cmd_addr, dut.cmd_words, dut.in_data]:
        sig.value = 0
    for _ in range(5):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    return random.Random(seed), ram


async def write(dut, rng, cmds, words, in_gap, max_cycles=300_000):
    """Feed `cmds` and push `words` (bytes each) with random gaps; return (cycles, error)."""
    pending = list(cmds)
    data = list(words)
    for cycle in range(max_cycles):
        if pending:
            a, n = pending[0]
            dut.cmd_addr.value = a
            dut.cmd_words.value = n
            dut.cmd_valid.value = 1
        else:
            dut.cmd_valid.value = 0
        push = bool(data) and rng.random() >= in_gap
        if data:
            dut.in_data.value = int.from_bytes(data[0], "little")
        dut.in_valid.value = int(push)
        await ReadOnly()
        if pending and dut.cmd_ready.value == 1:
            pending.pop(0)
        if push and dut.in_ready.value == 1:
            data.pop(0)
        err = dut.error.value == 1
        done = (not pending or err) and (not data or err) and dut.idle.value == 1
        await RisingEdge(dut.clk)
        if done:
            return cycle, err
    raise AssertionError(f"no end after {max_cycles} cycles")


def random_cmds(rng, n, w, max_words):
    cmds = []
    for _ in range(n):
        words = rng.choice([rng.randint(1, 4), rng.randint(1, 300), rng.randint(1, max_words)])
        words = min(words, MEM // w)
        if rng.random() < 0.5:
            start = max(0, rng.randint(1, MEM // 4096 - 1) * 4096 // w - rng.randint(0, 8))
        else:
            start = rng.randrange(MEM // w)
        start = min(start, MEM // w - words)
        cmds.append((start * w, words))
    return cmds


@cocotb.test()
async def random_writes(dut):
    """Random commands near and across 4 KiB boundaries, 30% AW/W/B pauses, gappy source:
    the RAM afterwards holds exactly what was written (later commands win)."""
    w = int(os.environ["AXI_DW"]) // 8
    seed = int(os.environ.get("AXI_SEED", "1"))
    rng, ram = await setup(dut, seed, 0.3)
    cmds = random_cmds(rng, 12, w, 1000)
    words = [bytes(rng.getrandbits(8) for _ in range(w)) for _ in range(sum(n for _, n in cmds))]
    want = bytearray(ram.read(0, MEM))
    k = 0
    for a, n in cmds:
        for j in range(n):
            want[a + j * w:a + (j + 1) * w] = words[k]
            k += 1
    cycles, err = await write(dut, rng, cmds, words, 0.3)
    assert not err, f"error {int(dut.error_resp.value)}"
    assert ram.read(0, MEM) == bytes(want), "RAM differs from what was written"
    assert int(dut.stat_beats.value) == len(words)
    dut._log.info("%d words in %d cycles, %d commands", len(words), cycles, len(cmds))


@cocotb.test()
async def streaming_utilisation(dut):
    """One long write, no pauses, data always ready: beats per busy cycle (printed)."""
    w = int(os.environ["AXI_DW"]) // 8
    rng, ram = await setup(dut, 7, 0.0)
    n = MEM // w - 1
    words = [bytes(rng.getrandbits(8) for _ in range(w)) for _ in range(n)]
    cycles, err = await write(dut, rng, [(w, n)], words, 0.0)
    assert not err
    assert ram.read(w, n * w) == b"".join(words)
    busy = int(dut.stat_busy.value)
    dut._log.info("UTILISATION %.3f beats per busy cycle (%d beats, %d busy cycles)",
                  n / busy, n, busy)
    assert n / busy > 0.5


@cocotb.test()
async def slverr_then_clear(dut):
    """A write past MEM is answered SLVERR (FaultyRam): sticky error with its code, the
    master ends idle; clear; a good command works again."""
    w = int(os.environ["AXI_DW"]) // 8
    rng, ram = await setup(dut, 3, 0.2)
    n = 40
    words = [bytes([0xA5]) * w for _ in range(n)]
    cycles, err = await write(dut, rng, [(MEM - 10 * w, n)], words, 0.2)
    assert err and int(dut.error_resp.value) == 2, "SLVERR not reported"
    dut.clear.value = 1
    await RisingEdge(dut.clk)
    dut.clear.value = 0
    await ReadOnly()
    assert dut.error.value == 0 and int(dut.fifo_level.value) == 0
    await RisingEdge(dut.clk)
    words = [bytes([k]) * w for k in range(50)]
    cycles, err = await write(dut, rng, [(4096 - 2 * w, 50)], words, 0.2)
    assert not err
    assert ram.read(4096 - 2 * w, 50 * w) == b"".join(words)
