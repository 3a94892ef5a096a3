// cocotb top for the AXI write master's emitted Verilog (module `top`, written by
// crates/llamahdl-hw/tests/axi_cocotb.rs into the build directory as dut.v): renames its
// AXI ports to the m_axi_* names cocotbext-axi looks for and adds the one-bit IDs it
// requires (the master uses a single ID: awid is 0, bid is ignored).
`timescale 1ns / 1ps
module tb_top #(parameter DW = 64) (
    input  wire            clk,
    input  wire            rst,
    input  wire            in_valid,
    output wire            in_ready,
    input  wire [DW-1:0]   in_data,
    input  wire            cmd_valid,
    output wire            cmd_ready,
    input  wire [39:0]     cmd_addr,
    input  wire [31:0]     cmd_words,
    output wire            error,
    output wire [1:0]      error_resp,
    input  wire            clear,
    output wire            idle,
    output wire [31:0]     stat_beats,
    output wire [31:0]     stat_busy,
    output wire [4:0]      outstanding,
    output wire [15:0]     fifo_level,
    output wire [0:0]      m_axi_awid,
    output wire [39:0]     m_axi_awaddr,
    output wire [7:0]      m_axi_awlen,
    output wire [2:0]      m_axi_awsize,
    output wire [1:0]      m_axi_awburst,
    output wire            m_axi_awvalid,
    input  wire            m_axi_awready,
    output wire [DW-1:0]   m_axi_wdata,
    output wire [DW/8-1:0] m_axi_wstrb,
    output wire            m_axi_wlast,
    output wire            m_axi_wvalid,
    input  wire            m_axi_wready,
    input  wire [0:0]      m_axi_bid,
    input  wire [1:0]      m_axi_bresp,
    input  wire            m_axi_bvalid,
    output wire            m_axi_bready
);
    wire [31:0] stat_aw_stall_unused;
    assign m_axi_awid = 1'b0;
    top dut (
        .clock(clk), .reset(rst),
        .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_addr(cmd_addr), .cmd_words(cmd_words),
        .awvalid(m_axi_awvalid), .awready(m_axi_awready), .awaddr(m_axi_awaddr),
        .awlen(m_axi_awlen), .awsize(m_axi_awsize), .awburst(m_axi_awburst),
        .wvalid(m_axi_wvalid), .wready(m_axi_wready), .wdata(m_axi_wdata),
        .wstrb(m_axi_wstrb), .wlast(m_axi_wlast),
        .bvalid(m_axi_bvalid), .bready(m_axi_bready), .bresp(m_axi_bresp),
        .error(error), .error_resp(error_resp), .clear(clear), .idle(idle),
        .outstanding(outstanding), .fifo_level(fifo_level),
        .stat_beats(stat_beats), .stat_busy(stat_busy), .stat_aw_stall(stat_aw_stall_unused)
    );
endmodule
