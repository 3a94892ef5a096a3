"""cocotb test of the AXI read master's emitted Verilog against cocotbext-axi's AxiRamRead
(an independent AXI4 slave that asserts on 4 KiB crossings), under Icarus, with random
pauses on the AR and R channels and a random reader.

Parameters come from the environment (set by ../run.py): AXI_DW (bus bits) and AXI_SEED. The
FIFO depth and the bursts outstanding are those of the emitted master (tests/axi_cocotb.rs).
"""
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import AxiBus, AxiRamRead

MEM = 64 * 1024


class FaultyRam(AxiRamRead):
    """AxiRamRead whose reads at or above `limit` fail: cocotbext-axi answers them SLVERR."""

    limit = MEM

    async def _read(self, address, length):
        if address + length > self.limit:
            raise ValueError(f"read at {address:#x} past {self.limit:#x}")
        return await super()._read(address, length)


def pauses(rng, p):
    while True:
        yield rng.random() < p


async def setup(dut, seed, stall):
    rng = random.Random(seed)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    ram = FaultyRam(AxiBus.from_prefix(dut, "m_axi").read, dut.clk, dut.rst, size=2 * MEM)
    ram.ar_channel.set_pause_generator(pauses(random.Random(seed + 1), stall))
    ram.r_channel.set_pause_generator(pauses(random.Random(seed + 2), stall))
    data = bytes(rng.getrandbits(8) for _ in range(MEM))
    ram.write(0, data)
    dut.rst.value = 1
    dut.cmd_valid.value = 0
    dut.out_ready.value = 0
    dut.clear.value = 0
    dut.cmd_addr.value = 0
    dut.cmd_words.value = 0
    for _ in range(5):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    return rng, data


async def stream(dut, rng, data, cmds, w, out_stall, max_cycles=200_000):
    """Feed `cmds`, pop words with random out_ready; return (words, cycles, error)."""
    expected = []
    pending = list(cmds)
    got = 0
    for cycle in range(max_cycles):
        if pending:
            a, n = pending[0]
            dut.cmd_addr.value = a
            dut.cmd_words.value = n
            dut.cmd_valid.value = 1
        else:
            dut.cmd_valid.value = 0
        ready = rng.random() >= out_stall
        dut.out_ready.value = int(ready)
        await ReadOnly()
        if pending and dut.cmd_ready.value == 1:
            a, n = pending.pop(0)
            a -= a % w
            expected.extend(a + k * w for k in range(n))
        if ready and dut.out_valid.value == 1:
            assert expected, f"cycle {cycle}: a word nobody asked for"
            addr = expected.pop(0)
            word = int(dut.out_data.value).to_bytes(w, "little")
            assert word == data[addr:addr + w], f"word {got} at {addr:#x}"
            got += 1
        err = dut.error.value == 1
        done = (not pending or err) and dut.idle.value == 1 and int(dut.fifo_level.value) == 0 \
            and dut.out_valid.value == 0 and (not expected or err)
        await RisingEdge(dut.clk)
        if done:
            return got, cycle, err, expected
    raise AssertionError(f"no end after {max_cycles} cycles ({got} words, {len(expected)} due)")


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
        cmds.append((start * w + rng.choice([0, 0, 0, 3]), words))
    return cmds


@cocotb.test()
async def random_streams(dut):
    """Random commands near and across 4 KiB boundaries, 30% AR/R pauses, slow reader."""
    w = int(os.environ["AXI_DW"]) // 8
    seed = int(os.environ.get("AXI_SEED", "1"))
    rng, data = await setup(dut, seed, 0.3)
    cmds = random_cmds(rng, 20, w, 2000)
    got, cycles, err, left = await stream(dut, rng, data, cmds, w, 0.3)
    total = sum(n for _, n in cmds)
    assert not err, f"error {int(dut.error_resp.value)}"
    assert got == total and not left
    assert int(dut.stat_beats.value) == total
    dut._log.info("%d words in %d cycles, %d commands", got, cycles, len(cmds))


@cocotb.test()
async def streaming_utilisation(dut):
    """One long stream, no pauses: beats per cycle while streaming (printed)."""
    w = int(os.environ["AXI_DW"]) // 8
    rng, data = await setup(dut, 7, 0.0)
    words = MEM // w - 1
    got, cycles, err, left = await stream(dut, rng, data, [(w, words)], w, 0.0)
    assert not err and got == words
    busy = int(dut.stat_busy.value)
    util = words / busy
    dut._log.info("UTILISATION %.3f beats per busy cycle (%d beats, %d busy cycles)",
                  util, words, busy)
    assert util > 0.5


@cocotb.test()
async def slverr_stops_the_stream(dut):
    """A read past MEM is answered with SLVERR (FaultyRam): sticky error, words before it
    delivered, none after; clear once idle; a good command works again."""
    w = int(os.environ["AXI_DW"]) // 8
    rng, data = await setup(dut, 3, 0.2)
    before = 10
    got, cycles, err, left = await stream(dut, rng, data, [(MEM - before * w, 40)], w, 0.2)
    assert err and int(dut.error_resp.value) == 2, "SLVERR not reported"
    assert got == before, f"{got} words before the error"
    dut.clear.value = 1
    await RisingEdge(dut.clk)
    dut.clear.value = 0
    await ReadOnly()
    assert dut.error.value == 0
    await RisingEdge(dut.clk)
    got, cycles, err, left = await stream(dut, rng, data, [(4096 - 2 * w, 50)], w, 0.2)
    assert not err and got == 50
