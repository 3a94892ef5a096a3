#!/bin/sh
# Proofs of the weight-path blocks' properties (row_addr_gen.sv, qkv_loader.sv) on their
# emitted Verilog, with yosys (read_verilog -formal) and yosys-smtbmc (z3).
#
#   prove.sh LLAMAHDL WORK_DIR ROW_DEPTH LOADER_DEPTH COVER_DEPTH
#
# LLAMAHDL is the llamahdl binary. It writes a small synthetic model into WORK_DIR (dim 4,
# 2 query heads, 1 key/value head: head_dim 2, 8 Q/K/V rows of 1 beat at 4 lanes, so a
# layer is 8 beats and a depth of 12 holds a whole load, the layer change after it and
# its effect) and emits its Verilog with `llamahdl verilog --lanes 4`. To
# prove Verilog emitted elsewhere instead, set RTL=DIR and SHAPE="BEATS HEAD_DIM N_HEADS
# N_KV_HEADS" (it must be 4 lanes: the QkvLoader wrapper has 4 data lanes); e.g. the tiny
# shape: `llamahdl verilog --config tiny --lanes 4 --out DIR`, SHAPE="4 4 4 2".
#
# For each block:
#   1. bounded model check: every assertion holds in every state reachable within
#      ROW_DEPTH (RowAddrGen) or LOADER_DEPTH (QkvLoader) clock cycles from power-up
#      (z3's time grows steeply with depth on QkvLoader's memories: 6 takes seconds, 12
#      more than ten minutes);
#   2. cover: each cover statement (load done after the last beat, cleared by a layer
#      change after it) is reached within COVER_DEPTH cycles (12 holds a whole load of
#      the small shape);
#   3. k-induction (K = 6): the assertions (for QkvLoader those on control, not the
#      read-back ones, which need an invariant on the memory) hold at every depth.
# Prints one line per block and step; exits non-zero on the first failure (logs and a
# counterexample VCD are left in WORK_DIR).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
LLAMAHDL=$1
WORK=$2
ROW_DEPTH=$3
LOADER_DEPTH=$4
COVER_DEPTH=$5
K=6
mkdir -p "$WORK"
if [ -z "${RTL:-}" ]; then
    RTL=$WORK/rtl
    "$LLAMAHDL" synth --out "$WORK/formal.bin" --dim 4 --n-heads 2 --n-kv-heads 1 \
        --hidden-dim 4 --n-layers 1 --vocab-size 4 --seq-len 2 --seed 1 2>/dev/null
    "$LLAMAHDL" verilog --checkpoint "$WORK/formal.bin" --lanes 4 --out "$RTL" >/dev/null 2>&1
    SHAPE="1 2 2 1"
fi
set -- ${SHAPE:-1 2 2 1}
PARAMS="-set BEATS $1 -set HEAD_DIM $2 -set N_HEADS $3 -set N_KV_HEADS $4"

smt2() { # block defines output
    yosys -q -l "$WORK/$1.yosys.log" -p "
        read_verilog -formal $2 $RTL/llamahdl_$1.v
        read_verilog -formal -sv $2 $HERE/$1.sv
        chparam $PARAMS formal_$1
        prep -top formal_$1
        flatten
        memory_nordff
        async2sync
        dffunmap
        write_smt2 -wires $3
    "
}

check() { # block step log args...
    b=$1; step=$2; log=$3; shift 3
    if ! yosys-smtbmc -s z3 "$@" > "$log" 2>&1; then
        grep -E "failed|Unreached|FAILED|ERROR" "$log" | head -5
        echo "$b: FAILED: $step (log: $log)"
        exit 1
    fi
}

for b in row_addr_gen qkv_loader; do
    if [ $b = row_addr_gen ]; then DEPTH=$ROW_DEPTH; else DEPTH=$LOADER_DEPTH; fi
    smt2 $b "" "$WORK/$b.smt2"
    check $b "bounded proof to depth $DEPTH" "$WORK/$b.bmc.log" \
        -t "$DEPTH" --dump-vcd "$WORK/$b.fail.vcd" "$WORK/$b.smt2"
    echo "$b: PASS: every assertion holds in all states reachable within $DEPTH cycles"
    check $b "covers within $COVER_DEPTH cycles" "$WORK/$b.cover.log" \
        -c -t "$COVER_DEPTH" "$WORK/$b.smt2"
    echo "$b: PASS: every cover reached within $COVER_DEPTH cycles"
    smt2 $b "-DCONTROL_ONLY" "$WORK/$b.ind.smt2"
    check $b "k-induction (k = $K)" "$WORK/$b.ind.log" -i -t "$K" "$WORK/$b.ind.smt2"
    if [ $b = qkv_loader ]; then
        echo "$b: PASS: k-induction (k = $K): the control assertions hold at every depth"
    else
        echo "$b: PASS: k-induction (k = $K): every assertion holds at every depth"
    fi
done
