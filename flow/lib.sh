# Shell pieces shared by flow/timing.sh and flow/bitstream.sh (sourced, not run).

stamp() { date -u +%H:%M:%S; }

timed() { # timed NAME CMD... : run CMD, wall time and peak RSS into NAME.time
    local name=$1
    shift
    /usr/bin/time -f '%e %M' -o "$name.time" "$@"
}

# The yosys commands that synthesise TOP for the ECP5 into synth.json (and stat.json),
# after the sources are read. Registers whose names contain `_dup` are deliberate copies
# (one per group of loads, so that a select's fan-out stays local); they are marked
# `keep` before synthesis so that opt_merge does not fold them back into one.
ecp5_synth_script() { # ecp5_synth_script TOP
    printf '%s' "hierarchy -top $1; proc; select -set dups w:*_dup* %ci1:+\$dff[Q]; \
setattr -set keep 1 @dups; select -clear; synth_ecp5 -top $1 -json synth.json; \
tee -q -o stat.json stat -json"
}

# The nextpnr-ecp5 arguments for the ULX3S's part (LFE5U-85F, speed 6, CABGA381) with the
# run's frequency, seed and reports; ROUTER, NO_ROUTE and PNR_EXTRA from the environment.
# Prints one argument per line (read with mapfile).
ecp5_pnr_args() {
    printf '%s\n' --85k --package CABGA381 --speed 6 --json synth.json --lpf pins.lpf \
        --freq "$FREQ" --seed "$SEED" --timing-allow-fail \
        --report report.json --detailed-timing-report --log pnr.log
    [ -n "${ROUTER:-}" ] && printf '%s\n' --router "$ROUTER"
    # Placed only: the placed netlist too, for flow/depth.py --placed (nextpnr names no
    # paths before routing).
    [ "${NO_ROUTE:-0}" = 1 ] && printf '%s\n' --no-route --write placed.json
    # shellcheck disable=SC2086
    [ -n "${PNR_EXTRA:-}" ] && printf '%s\n' $PNR_EXTRA
    true
}

# Run nextpnr-ecp5 with ARGS under `timeout PNR_TIMEOUT`; writes pnr.stdout, pnr.time and
# pnr.status (`finished`, `timeout after Ns`, `failed (exit N)`).
run_pnr() {
    set +e
    timed pnr timeout "$PNR_TIMEOUT" "$NEXTPNR" "$@" >pnr.stdout 2>&1
    local rc=$?
    set -e
    case $rc in
        0) echo "finished" >pnr.status ;;
        124) echo "timeout after ${PNR_TIMEOUT}s" >pnr.status ;;
        *) echo "failed (exit $rc)" >pnr.status ;;
    esac
}
