#!/usr/bin/env python3
"""Rough static timing of a yosys synth_ecp5 netlist, without placement.

    flow/depth.py SYNTH.json [--top timing_top] [--paths 20] [--json OUT]
                  [--placed PLACED.json]

nextpnr reports the critical paths only after routing, which takes over an hour on the
whole decoder. This walks the mapped netlist (LUT4, CCU2C, PFUMX, L6MUX21, LUT RAM,
DP16KD, MULT18X18D, TRELLIS_FF) with a fixed delay per cell arc and per net (the net
delay grows with the log of its fanout) and prints the slowest register-to-register
paths by the Verilog signal names they run through. The delays are rough ECP5 speed-6
figures, not nextpnr's model: use it to find deep logic and high-fanout nets, and
nextpnr for the real Fmax.

With --placed (the JSON that `nextpnr-ecp5 --no-route --write PLACED.json` writes after
placement, an hour sooner than a routed report) each net's delay is instead nextpnr's own
pre-routing estimate from the distance between the placed driver and sink (ECP5
`Arch::predictDelay`: 80 ps x (6 + tiles beyond 5 in x and y + 2 x tiles up to 5)), so
the paths are the ones behind nextpnr's post-placement Fmax, each net shown with the tile
of its driver and its distance.
"""

import argparse
import json
import math
import re
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


def predict_delay(a, b):
    """nextpnr-ecp5's pre-routing net delay (ns) between placed tiles a and b (speed 6)."""
    dx, dy = abs(a[0] - b[0]), abs(a[1] - b[1])
    return 0.080 * (6 + max(dx - 5, 0) + max(dy - 5, 0) + 2 * (min(dx, 5) + min(dy, 5)))


def placed_tiles(path):
    """Cell name -> (x, y) tile from a nextpnr --write JSON (NEXTPNR_BEL `X../Y../...`)."""
    with open(path) as f:
        mods = json.load(f)["modules"]
    tiles = {}
    for m in mods.values():
        for cn, c in m["cells"].items():
            bel = c.get("attributes", {}).get("NEXTPNR_BEL", "")
            mm = re.match(r"X(\d+)/Y(\d+)/", bel)
            if mm:
                tiles[cn] = (int(mm.group(1)), int(mm.group(2)))
    return tiles


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("netlist")
    ap.add_argument("--top", default="timing_top")
    ap.add_argument("--paths", type=int, default=20)
    ap.add_argument("--json")
    ap.add_argument("--placed", help="nextpnr --write JSON after placement")
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

    # Placement: the tile of each synthesised cell. The packer keeps LUT4, FF, block RAM
    # and multiplier names, splits a CCU2C into NAME$CCU2_COMB0/1 and folds PFUMX and
    # L6MUX21 into the slice of the LUT (or PFUMX) feeding them.
    tile = {}
    if a.placed:
        placed = placed_tiles(a.placed)

        def locate(cn, depth=0):
            if cn in tile:
                return tile[cn]
            t = placed.get(cn) or placed.get(cn + "$CCU2_COMB0")
            if t is None and depth < 4 and cells[cn]["type"] in ("PFUMX", "L6MUX21"):
                for p in ("ALUT", "BLUT", "D0", "D1"):
                    for b in cells[cn]["connections"].get(p, []):
                        if isinstance(b, int) and b in driver:
                            t = locate(driver[b][0], depth + 1)
                            if t:
                                break
                    if t:
                        break
            if t is None:
                for suffix in ("$DPRAM_COMB0", "$DPRAM_RAMW", "$RAMW"):
                    t = placed.get(cn + suffix)
                    if t:
                        break
            tile[cn] = t
            return t

        for cn in cells:
            locate(cn)
        found = sum(1 for v in tile.values() if v)
        print(f"placement: {found} of {len(cells)} cells located in {a.placed}")

    def wire(b, cn):
        """Delay of the net carrying bit b from its driver to cell cn."""
        d = driver.get(b)
        if tile and d and tile.get(d[0]) and tile.get(cn):
            return predict_delay(tile[d[0]], tile[cn])
        return net_delay(fanout.get(b, 1))

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
                comb_in[o] = (cn, list(src))
        elif t == "TRELLIS_DPR16X4":
            src = bits_of("RAD")
            for _, o in outs:
                comb_in[o] = (cn, [(b, 0.6) for b in src])
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
                comb_in[o] = (cn, arcs)
        elif t == "MULT18X18D":
            src = [b for p in conn if p.startswith(("A", "B")) and dirs.get(p) == "input"
                   for b in bits_of(p)]
            for _, o in outs:
                comb_in[o] = (cn, [(b, MULT) for b in src])
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
            cn, arcs = comb_in[b]
            for ib, d in arcs:
                x = arr(ib) + (-d if d < 0 else wire(ib, cn) + d)
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
            ends.append((arr(b) + wire(b, cn) + SETUP, b, cn, p))
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
        at = ""
        if d and tile.get(d[0]):
            at = f", X{tile[d[0]][0]}/Y{tile[d[0]][1]}"
        return f"{n or '<' + str(b) + '>'} ({cell}, fanout {fanout.get(b, 0)}{at})"

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
                                 "fanout": fanout.get(x, 0),
                                 "tile": tile.get(driver[x][0]) if x in driver else None}
                                for x in pb]})
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
