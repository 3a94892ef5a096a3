// cocotb top for the AXI read master's emitted Verilog (module `top`, written by
// crates/llamahdl-hw/tests/axi_cocotb.rs into the build directory as dut.v): renames its
// AXI ports to the m_axi_* names cocotbext-axi looks for and adds the one-bit IDs it
// requires (the master uses a single ID: arid is 0, rid is ignored).
`timescale 1ns / 1ps
module tb_top #(parameter DW = 64) (
    input  wire          clk,
    input  wire          rst,
    input  wire          cmd_valid,
    output wire          cmd_ready,
    input  wire [39:0]   cmd_addr,
    input  wire [31:0]   cmd_words,
    output wire          out_valid,
    input  wire          out_ready,
    output wire [DW-1:0] out_data,
    output wire          error,
    output wire [1:0]    error_resp,
    input  wire          clear,
    output wire          idle,
    output wire [31:0]   stat_beats,
    output wire [31:0]   stat_busy,
    output wire [4:0]    outstanding,
    output wire [15:0]   fifo_level,
    output wire [0:0]    m_axi_arid,
    output wire [39:0]   m_axi_araddr,
    output wire [7:0]    m_axi_arlen,
    output wire [2:0]    m_axi_arsize,
    output wire [1:0]    m_axi_arburst,
    output wire          m_axi_arvalid,
    input  wire          m_axi_arready,
    input  wire [0:0]    m_axi_rid,
    input  wire [DW-1:0] m_axi_rdata,
    input  wire [1:0]    m_axi_rresp,
    input  wire          m_axi_rlast,
    input  wire          m_axi_rvalid,
    output wire          m_axi_rready
);
    wire [31:0] stat_ar_stall_unused;
    assign m_axi_arid = 1'b0;
    top dut (
        .clock(clk), .reset(rst),
        .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_addr(cmd_addr), .cmd_words(cmd_words),
        .arvalid(m_axi_arvalid), .arready(m_axi_arready), .araddr(m_axi_araddr),
        .arlen(m_axi_arlen), .arsize(m_axi_arsize), .arburst(m_axi_arburst),
        .rvalid(m_axi_rvalid), .rready(m_axi_rready), .rdata(m_axi_rdata),
        .rresp(m_axi_rresp), .rlast(m_axi_rlast),
        .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data),
        .error(error), .error_resp(error_resp), .clear(clear), .idle(idle),
        .outstanding(outstanding), .fifo_level(fifo_level),
        .stat_beats(stat_beats), .stat_busy(stat_busy), .stat_ar_stall(stat_ar_stall_unused)
    );
endmodule
