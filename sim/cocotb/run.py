"""Build and run a cocotb bench of this folder on DUT_V (a master's emitted Verilog) with Icarus.

    python run.py BENCH DUT_V BUILD_DIR DW [SEED]

BENCH is a subfolder (axi_read, axi_write) holding tb_top.v and test_BENCH.py. Prints the
cocotb summary; exits non-zero if a test fails.
"""
import sys
from pathlib import Path

from cocotb_tools.runner import get_runner

bench = sys.argv[1]
here = Path(__file__).resolve().parent / bench
dut_v, build, dw = Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve(), sys.argv[4]
seed = sys.argv[5] if len(sys.argv) > 5 else "1"
runner = get_runner("icarus")
runner.build(
    sources=[dut_v, here / "tb_top.v"],
    hdl_toplevel="tb_top",
    parameters={"DW": int(dw)},
    build_dir=build,
    timescale=("1ns", "1ps"),
    always=True,
)
results = runner.test(
    hdl_toplevel="tb_top",
    test_module=f"test_{bench}",
    test_dir=here,
    build_dir=build,
    extra_env={"AXI_DW": dw, "AXI_SEED": seed},
    results_xml=str(build / "results.xml"),
)
text = Path(results).read_text()
failures = text.count("<failure")
print(f"COCOTB_RESULT dw={dw} failures={failures}")
sys.exit(1 if failures else 0)
