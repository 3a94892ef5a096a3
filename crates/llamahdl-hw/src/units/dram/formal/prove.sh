#!/bin/sh
# Proofs of an AXI master's properties (axi_read.sv for AxiReadMaster, axi_write.sv for
# AxiWriteMaster) on its emitted Verilog, with yosys
# (read_verilog -formal) and yosys-smtbmc with cvc5 (SOLVER=...: Debian's z3 4.8.12 does not
# come back, even on an empty query, once this design's transition relation is defined;
# cvc5 answers each step in milliseconds). The data FIFO's block RAM (top$fifo$store) is
# replaced by store_stub.v: no property looks at data.
#
#   prove.sh NAME VERILOG WORK_DIR DEPTH COVER_DEPTH
#
# NAME is axi_read or axi_write (the properties NAME.sv, module formal_NAME); VERILOG is
# the master's emitted Verilog (module `top`) in the configuration NAME.sv names
# (tests/axi_formal.rs writes it: 64-bit bus, 16-word FIFO, 2 bursts outstanding, 8-beat
# bursts). Steps:
#   1. bounded model check: every assertion holds in every state reachable within DEPTH
#      cycles from power-up, for every input sequence the slave assumptions allow;
#   2. cover: each cover statement is reached within COVER_DEPTH cycles;
#   3. k-induction (K = 4), reported as "holds at every depth" or "not proved" (a failed
#      induction step is not a counterexample: it may start from an unreachable state).
# Prints one line per step; exits non-zero when step 1 or 2 fails (logs and a
# counterexample VCD are left in WORK_DIR).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=$1
RTL=$2
WORK=$3
DEPTH=$4
COVER_DEPTH=$5
K=4
SOLVER=${SOLVER:-cvc5}
mkdir -p "$WORK"

smt2() { # defines output
    yosys -q -l "$WORK/$NAME.yosys.log" -p "
        read_verilog -formal $1 $RTL
        delete top\$fifo\$store
        read_verilog -formal $HERE/store_stub.v
        read_verilog -formal -sv $1 $HERE/$NAME.sv
        prep -top formal_$NAME
        flatten
        memory_nordff
        async2sync
        dffunmap
        write_smt2 -wires $2
    "
}

check() { # step log args...
    step=$1; log=$2; shift 2
    if ! yosys-smtbmc -s $SOLVER "$@" > "$log" 2>&1; then
        grep -E "failed|Unreached|FAILED|ERROR" "$log" | head -5
        echo "$NAME: FAILED: $step (log: $log)"
        exit 1
    fi
}

smt2 "" "$WORK/$NAME.smt2"
check "bounded proof to depth $DEPTH" "$WORK/$NAME.bmc.log" \
    -t "$DEPTH" --dump-vcd "$WORK/$NAME.fail.vcd" "$WORK/$NAME.smt2"
echo "$NAME: PASS: every assertion holds in all states reachable within $DEPTH cycles"
smt2 "-DCOVERS" "$WORK/$NAME.cover.smt2"
check "covers within $COVER_DEPTH cycles" "$WORK/$NAME.cover.log" \
    -c -t "$COVER_DEPTH" "$WORK/$NAME.cover.smt2"
echo "$NAME: PASS: every cover reached within $COVER_DEPTH cycles"
if yosys-smtbmc -s $SOLVER -i -t "$K" "$WORK/$NAME.smt2" > "$WORK/$NAME.ind.log" 2>&1; then
    echo "$NAME: PASS: k-induction (k = $K): every assertion holds at every depth"
else
    echo "$NAME: NOT PROVED: k-induction (k = $K) (log: $WORK/$NAME.ind.log)"
fi
