#!/usr/bin/env python3
"""Summarise one timing run (a directory written by flow/timing.sh).

Reads, all in DIR:
  stat.json    yosys `stat -json` after synth_ecp5 (cells of the flattened wrapper)
  report.json  nextpnr `--report` (+ `--detailed-timing-report`): Fmax per clock,
               critical paths, utilisation; present when nextpnr finished
  depth-placed.json  flow/depth.py --placed: the paths when nextpnr named none (a run
               with NO_ROUTE=1)
  pnr.log      nextpnr's log: when there is no report.json (routing timed out or
               failed) the last timing analysis in it is used, labelled with the stage it
               followed (post-placement estimate), and the utilisation it printed
  pnr.status   `finished`, `timeout after Ns` or `failed (exit N)`
  *.time       `wall-seconds peak-KB` of each step

Writes DIR/summary.json (read by flow/render_docs.py) and DIR/summary.md.

Usage: render.py DIR [--top T] [--design F] [--freq MHZ] [--seed N]
"""
import argparse
import json
import os
import re

# Net names yosys and nextpnr make up: not the Verilog signals of the design.
AUTO = re.compile(r"^(\$nextpnr|\$abc\$|\$auto\$|\$techmap|\$flatten|\$delete_wire|\$iopadmap|\$0\\)"
                  r"|\$(abc|auto|techmap|opt|alumacc|memory|delete_wire)\$")


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def step_time(d, name):
    try:
        wall, kb = open(os.path.join(d, name + ".time")).read().split()[-2:]
        return {"seconds": float(wall), "peak_mb": round(int(kb) / 1024)}
    except (OSError, ValueError):
        return None


# Suffixes yosys appends when it names a net after the cell it drives or comes from
# (`x.q_LUT4_B_Z_PFUMX_C0_Z`, `acc_CCU2C_A0`): cut from the first of them.
CELL_SUFFIX = re.compile(r"_(LUT4|TRELLIS_FF|TRELLIS_COMB|CCU2C|PFUMX|L6MUX21|MULT18X18D|"
                         r"ALU54B|DP16KD|TRELLIS_DPR16X4|DPR16X4|DCCA|TRELLIS_IO)(_|$).*")


def signal_name(net):
    """The Verilog signal a nextpnr net stands for: the wrapper instance (`dut.`), yosys'
    escapes, cell-name suffixes and the bit index removed; None for names yosys or
    nextpnr made up."""
    if not net or AUTO.search(net):
        return None
    n = net.replace("\\", "")
    if n.startswith("$glbnet$"):
        return n[len("$glbnet$"):]
    if n.startswith("dut."):
        n = n[4:]
    n = CELL_SUFFIX.sub("", n)
    n = re.sub(r"\[\d+\]$", "", n)
    n = re.sub(r"\$(TRELLIS_IO_IN|TRELLIS_IO_OUT)$", " (pin)", n)
    return n or None


def cell_name(c):
    n = c.replace("\\", "")
    if n.startswith("dut."):
        n = n[4:]
    return CELL_SUFFIX.sub("", n)


def path_from_report(p):
    """One critical path of report.json as a list of steps and the signals it runs
    through."""
    steps, signals = [], []
    total = 0.0
    for seg in p.get("path", []):
        total += seg.get("delay", 0.0)
        frm, to = seg.get("from", {}), seg.get("to", {})
        steps.append({
            "type": seg.get("type"),
            "delay": seg.get("delay"),
            "from": f"{frm.get('cell', '')}.{frm.get('port', '')}",
            "to": f"{to.get('cell', '')}.{to.get('port', '')}",
            "net": seg.get("net"),
        })
        s = signal_name(seg.get("net"))
        if s and s not in signals:
            signals.append(s)
    steps_ = p.get("path", [])
    start = cell_name(steps_[0].get("from", {}).get("cell", "")) if steps_ else ""
    end = cell_name(steps_[-1].get("to", {}).get("cell", "")) if steps_ else ""
    return {"from": p.get("from"), "to": p.get("to"), "delay_ns": round(total, 2),
            "start": start, "end": end, "steps": steps, "signals": signals}


def parse_log(text):
    """Timing analyses and utilisation from a nextpnr log.

    Returns (stages, util): stages is a list of {"after": stage, "fmax": {clock:
    (achieved, constraint)}, "paths": [{"clock", "delay_ns", "signals"}]} in log order;
    util maps bel type to (used, available)."""
    stage = "start"
    stages, util = [], {}
    cur = None
    path = None
    in_util = False
    for line in text.splitlines():
        body = line[6:] if line.startswith("Info: ") else line
        if line.startswith("Info: Device utilisation"):
            in_util, util = True, {}
            continue
        if in_util:
            m = re.match(r"\s*(\S+):\s+(\d+)/\s*(\d+)", body)
            if m:
                util[m.group(1)] = (int(m.group(2)), int(m.group(3)))
                continue
            in_util = False
        if re.search(r"Running placement|Placing|Running (simulated annealing|analytic)", body):
            stage = "placement"
        if re.search(r"Routing\.\.|Router2|Routing globals|Setting up routing queue", body):
            stage = "routing"
        if "Program finished normally" in body:
            stage = "end"
        m = re.match(r"Max frequency for clock\s+'([^']+)':\s*([\d.]+) MHz \((PASS|FAIL) at ([\d.]+) MHz\)", body)
        if m:
            if cur is None or cur.get("_closed"):
                cur = {"after": stage, "fmax": {}, "paths": []}
                stages.append(cur)
            cur["fmax"][m.group(1)] = (float(m.group(2)), float(m.group(4)))
            continue
        m = re.match(r"Critical path report for clock '([^']+)'", body)
        if m or body.startswith("Critical path report for cross-domain path"):
            if cur is None or cur.get("_closed") or cur["fmax"]:
                cur = {"after": stage, "fmax": {}, "paths": []}
                stages.append(cur)
            path = {"clock": m.group(1) if m else body, "delay_ns": None, "signals": []}
            cur["paths"].append(path)
            continue
        if path is not None:
            m = re.match(r"\s*(?:\w[\w-]*\s+)?([\d.]+)\s+([\d.]+)\s+Net\s+(\S+)", body)
            if m:
                path["delay_ns"] = float(m.group(2))
                s = signal_name(m.group(3))
                if s and s not in path["signals"]:
                    path["signals"].append(s)
                continue
            m = re.match(r"\s*(?:\w[\w-]*\s+)?([\d.]+)\s+([\d.]+)\s+(Source|Setup)\s", body)
            if m:
                path["delay_ns"] = float(m.group(2))
                continue
            m = re.match(r"\s*([\d.]+) ns logic, ([\d.]+) ns routing", body)
            if m:
                path["logic_ns"], path["routing_ns"] = float(m.group(1)), float(m.group(2))
                path = None
                continue
        if cur is not None and cur["fmax"] and body.startswith("Slack histogram"):
            cur["_closed"] = True
    for s in stages:
        s.pop("_closed", None)
    return stages, util


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--top")
    ap.add_argument("--design")
    ap.add_argument("--freq", type=float)
    ap.add_argument("--seed")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    d = a.dir
    quiet = a.quiet
    # Re-rendering an earlier run (make timing-docs): keep what it was run with.
    old = load(os.path.join(d, "summary.json")) or {}
    a.top = a.top if a.top is not None else old.get("top", "")
    a.design = a.design if a.design is not None else old.get("design", "")
    a.freq = a.freq if a.freq is not None else old.get("freq_mhz", 100.0)
    a.seed = a.seed if a.seed is not None else old.get("seed", "1")
    out = {"top": a.top, "design": a.design, "freq_mhz": a.freq, "seed": a.seed,
           "device": "LFE5U-85F, speed 6, CABGA381",
           "times": {k: step_time(d, k) for k in ("synth", "pnr")}}
    try:
        out["pnr_status"] = open(os.path.join(d, "pnr.status")).read().strip()
    except OSError:
        out["pnr_status"] = "not run"

    stat = load(os.path.join(d, "stat.json"))
    if stat:
        mods = stat.get("modules", {})
        top = mods.get("\\timing_top") or (next(iter(mods.values())) if mods else {})
        out["yosys_cells"] = dict(sorted(
            (top.get("num_cells_by_type") or top.get("cells") or {}).items()))

    rep = load(os.path.join(d, "report.json"))
    log = ""
    try:
        log = open(os.path.join(d, "pnr.log"), errors="replace").read()
    except OSError:
        pass
    stages, util = parse_log(log)
    # With --no-route nextpnr writes a report without timing: use the log then.
    if rep and rep.get("fmax"):
        out["timing_source"] = "nextpnr report.json (after routing)"
        out["fmax"] = {k: {"achieved_mhz": round(v["achieved"], 2),
                           "constraint_mhz": round(v["constraint"], 2)}
                       for k, v in rep.get("fmax", {}).items()}
        out["utilisation"] = {k: [v["used"], v["available"]]
                              for k, v in rep.get("utilization", {}).items()}
        out["critical_paths"] = [path_from_report(p) for p in rep.get("critical_paths", [])]
    else:
        out["utilisation"] = {k: list(v) for k, v in util.items()}
        if stages:
            last = stages[-1]
            label = {"placement": "post-placement estimate (routing not finished)",
                     "routing": "during routing (not final)"}.get(
                last["after"], f"after {last['after']}")
            out["timing_source"] = f"nextpnr log: {label}"
            out["fmax"] = {k: {"achieved_mhz": v[0], "constraint_mhz": v[1]}
                           for k, v in last["fmax"].items()}
            out["critical_paths"] = last["paths"]
        else:
            out["timing_source"] = "none (nextpnr reached no timing analysis)"
            out["fmax"], out["critical_paths"] = {}, []
    # No paths from nextpnr (it names them only after routing): the slowest paths of the
    # placed netlist by flow/depth.py --placed, nextpnr's own pre-routing net estimate.
    placed = load(os.path.join(d, "depth-placed.json"))
    if not out["critical_paths"] and placed and placed.get("paths"):
        out["critical_paths_source"] = ("flow/depth.py --placed (the placed netlist with "
                                        "nextpnr's pre-routing net delay estimate)")
        out["critical_paths"] = []
        for pth in placed["paths"][:10]:
            sig, seen = [], set()
            for n in pth["path"]:
                if n.get("net") and n["net"] not in seen:
                    seen.add(n["net"])
                    sig.append(n["net"])
            out["critical_paths"].append({
                "from": "placed estimate", "to": pth["endpoint"],
                "delay_ns": pth["delay_ns"], "start": sig[0] if sig else "",
                "end": pth["endpoint"], "signals": sig})
    # How far nextpnr got: its last progress line.
    last = [l[6:].strip() for l in log.splitlines() if l.startswith("Info: ") and l[6:].strip()]
    out["pnr_last"] = last[-1] if last else ""
    out["log_stages"] = [{"after": s["after"], "fmax": s["fmax"]} for s in stages]
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write(markdown(out))
    if not quiet:
        print(markdown(out))


def fmt_time(t):
    if not t:
        return "–"
    s = t["seconds"]
    return (f"{s / 60:.1f} min" if s >= 120 else f"{s:.0f} s") + f", {t['peak_mb']} MB"


def markdown(o):
    lines = [f"# Timing of `{o['top']}` ({o['device']})", "",
             f"Design: `{o['design']}`; target {o['freq_mhz']:g} MHz, seed {o['seed']}; "
             f"nextpnr: {o['pnr_status']}; timing from {o['timing_source']}.", "",
             f"nextpnr's last line: `{o.get('pnr_last', '')}`.", "",
             f"Wall time: yosys {fmt_time(o['times'].get('synth'))}; "
             f"nextpnr {fmt_time(o['times'].get('pnr'))}.", "",
             "| clock | Fmax (MHz) | target (MHz) |", "| --- | --- | --- |"]
    for k, v in o["fmax"].items():
        lines.append(f"| `{k}` | {v['achieved_mhz']:.2f} | {v['constraint_mhz']:.2f} |")
    lines += ["", "## Utilisation (nextpnr)", "", "| bel | used | available | % |",
              "| --- | --- | --- | --- |"]
    for k, (u, av) in o["utilisation"].items():
        if u:
            lines.append(f"| {k} | {u} | {av} | {100 * u / av:.0f} |")
    if o.get("yosys_cells"):
        lines += ["", "## Cells after synth_ecp5 (yosys stat)", "", "| cell | count |",
                  "| --- | --- |"]
        for k, v in o["yosys_cells"].items():
            lines.append(f"| {k} | {v} |")
    lines += ["", "## Critical paths", ""]
    if o.get("critical_paths_source"):
        lines += [f"From {o['critical_paths_source']}.", ""]
    for p in o["critical_paths"]:
        head = p.get("clock") or f"{p.get('from')} -> {p.get('to')}"
        se = f" (`{p['start']}` -> `{p['end']}`)" if p.get("start") else ""
        lines.append(f"- `{head}`{se}: {p.get('delay_ns')} ns through "
                     + (", ".join(f"`{s}`" for s in p["signals"]) or "(no named signals)"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
