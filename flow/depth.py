#!/usr/bin/env python3
"""Rough static timing of a yosys synth_ecp5 netlist, without placement.

    flow/depth.py SYNTH.json [--top timing_top] [--paths 20] [--json OUT]

nextpnr reports the critical paths only after routing, which takes over an hour on the
whole decoder. This walks the mapped netlist (LUT4, CCU2C, PFUMX, L6MUX21, LUT RAM,
DP16KD, MULT18X18D, TRELLIS_FF) with a fixed delay per cell arc and per net (the net
delay grows with the log of its fanout) and prints the slowest register-to-register
paths by the Verilog signal names they run through. The delays are rough ECP5 speed-6
figures, not nextpnr's model: use it to find deep logic and high-fanout nets, and
nextpnr for the real Fmax.
"""

import argparse
import json
import math
import sys
from collections import defaultdict

# Cell arcs, ns. Inputs not listed for a cell type are endpoints (setup); outputs not
# driven by an arc are start points with the given clock-to-out delay.
LUT = 0.45
ARCS = {
    "LUT4": ({"A", "B", "C", "D"}, {"Z"}, LUT),
    "PFUMX": ({"ALUT", "BLUT", "C0"}, {"Z"}, 0.3),
    "L6MUX21": ({"D0", "D1", "SD"}, {"Z"}, 0.3),
    "TRELLIS_DPR16X4": ({"RAD[0]", "RAD[1]", "RAD[2]", "RAD[3]"}, None, 0.6),
}
CLK_TO_OUT = {"TRELLIS_FF": 0.45, "DP16KD": 4.4, "TRELLIS_DPR16X4": 0.0, "MULT18X18D": 0.5}
SETUP = 0.15
MULT = 4.2  # MULT18X18D without registers, A/B to P
CARRY = 0.06  # CCU2C CIN to COUT
CCU_IN = 0.5  # CCU2C A/B/C/D to S or COUT
CCU_CIN_S = 0.35


def net_delay(fanout):
    return 0.55 + 0.25 * math.log2(max(fanout, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("netlist")
    ap.add_argument("--top", default="timing_top")
    ap.add_argument("--paths", type=int, default=20)
    ap.add_argument("--json")
    a = ap.parse_args()
    with open(a.netlist) as f:
        mod = json.load(f)["modules"][a.top]
    cells = mod["cells"]
    names = {}
    for n, info in mod["netnames"].items():
        if info.get("hide_name", 0):
            continue
        for b in info["bits"]:
            if isinstance(b, int):
                old = names.get(b)
                if old is None or (n.count("$") < old.count("$")) or (
                    n.count("$") == old.count("$") and len(n) < len(old)
                ):
                    names[b] = n
    driver = {}  # bit -> (cell, port)
    sinks = defaultdict(list)  # bit -> [(cell, port)]
    for cn, c in cells.items():
        for p, bits in c["connections"].items():
            d = c["port_directions"].get(p)
            for i, b in enumerate(bits):
                if not isinstance(b, int):
                    continue
                pn = p if len(bits) == 1 else f"{p}[{i}]"
                if d == "output":
                    driver[b] = (cn, pn)
                else:
                    sinks[b].append((cn, pn))
    fanout = {b: len(s) for b, s in sinks.items()}

    # Combinational arcs: (cell, out bit) <- [(in bit, delay)].
    comb_in = {}  # out bit -> list of (in bit, delay)
    start = {}  # out bit -> clock-to-out
    for cn, c in cells.items():
        t = c["type"]
        conn = c["connections"]
        dirs = c["port_directions"]

        def bits_of(p):
            return [b for b in conn.get(p, []) if isinstance(b, int)]

        outs = [(p, b) for p in conn if dirs.get(p) == "output" for b in bits_of(p)]
        if t in ("LUT4", "PFUMX", "L6MUX21"):
            ins, _, d = ARCS[t]
            # A slice's LUT outputs into its PFUMX, and PFUMX outputs into an L6MUX21, are
            # dedicated wires (negative: no net delay).
            ded = {"ALUT", "BLUT", "D0", "D1"}
            src = [(b, -d if p in ded else d) for p in ins for b in bits_of(p)]
            for _, o in outs:
                comb_in[o] = list(src)
        elif t == "TRELLIS_DPR16X4":
            src = bits_of("RAD")
            for _, o in outs:
                comb_in[o] = [(b, 0.6) for b in src]
        elif t == "CCU2C":
            data = [b for p in ("A0", "B0", "C0", "D0") for b in bits_of(p)]
            data1 = [b for p in ("A1", "B1", "C1", "D1") for b in bits_of(p)]
            cin = bits_of("CIN")
            for p, o in outs:
                arcs = [(b, CCU_IN) for b in data]
                if p in ("S1", "COUT"):
                    arcs += [(b, CCU_IN) for b in data1]
                # The carry chain is a dedicated wire: no net delay (marked negative).
                arcs += [(b, -(CARRY if p == "COUT" else CCU_CIN_S)) for b in cin]
                comb_in[o] = arcs
        elif t == "MULT18X18D":
            src = [b for p in conn if p.startswith(("A", "B")) and dirs.get(p) == "input"
                   for b in bits_of(p)]
            for _, o in outs:
                comb_in[o] = [(b, MULT) for b in src]
        else:
            for _, o in outs:
                start[o] = CLK_TO_OUT.get(t, 0.0)

    # Arrival times by memoised depth-first search.
    sys.setrecursionlimit(1 << 20)
    arrival = {}
    pred = {}

    def arr(b):
        if b in arrival:
            return arrival[b]
        arrival[b] = 0.0  # breaks loops
        if b in start:
            v, p = start[b], None
        elif b in comb_in:
            v, p = 0.0, None
            for ib, d in comb_in[b]:
                x = arr(ib) + (-d if d < 0 else net_delay(fanout.get(ib, 1)) + d)
                if x > v:
                    v, p = x, ib
        else:
            v, p = 0.0, None  # constant or primary input
        arrival[b] = v
        pred[b] = p
        return v

    # Endpoints: inputs of sequential cells (and of block RAM / LUT RAM write ports).
    ends = []
    for b, ss in sinks.items():
        for cn, p in ss:
            t = cells[cn]["type"]
            if t in ("LUT4", "PFUMX", "L6MUX21", "CCU2C", "MULT18X18D"):
                continue
            if t == "TRELLIS_DPR16X4" and p.startswith("RAD"):
                continue
            ends.append((arr(b) + net_delay(fanout.get(b, 1)) + SETUP, b, cn, p))
    ends.sort(reverse=True)

    def path(b):
        out = []
        while b is not None:
            out.append(b)
            b = pred.get(b)
        return out[::-1]

    def label(b):
        n = names.get(b)
        d = driver.get(b)
        cell = f"{cells[d[0]]['type']}.{d[1]}" if d else "?"
        return f"{n or '<' + str(b) + '>'} ({cell}, fanout {fanout.get(b, 0)})"

    seen = set()
    report = []
    shown = 0
    for t, b, cn, p in ends:
        if shown >= a.paths:
            break
        pb = path(b)
        # One path per (start register, end register) family: names without indices.
        def base(x):
            n = names.get(x) or str(x)
            return "".join(ch for ch in n.split("_TRELLIS")[0] if not ch.isdigit())
        key = (base(pb[0]), base(b))
        if key in seen:
            continue
        seen.add(key)
        shown += 1
        report.append({"delay_ns": round(t, 2), "endpoint": f"{cn}.{p}",
                       "path": [{"net": names.get(x), "arrival_ns": round(arrival[x], 2),
                                 "fanout": fanout.get(x, 0)} for x in pb]})
        print(f"{t:6.2f} ns  -> {cells[cn]['type']}.{p}  ({len(pb)} nets)")
        last = None
        for x in pb:
            n = names.get(x)
            if n is not None and n == last:
                continue  # a carry chain: one line
            last = n
            print(f"    {arrival[x]:6.2f}  {label(x)}")
    hist = defaultdict(int)
    for t, *_ in ends:
        hist[int(t // 2) * 2] += 1
    print("\nendpoints by estimated delay (ns):")
    for k in sorted(hist):
        print(f"  [{k:3d}, {k + 2:3d}): {hist[k]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"paths": report, "histogram": hist}, f, indent=1)


if __name__ == "__main__":
    main()
