// Formal properties of AxiReadMaster (crates/llamahdl-hw/src/units/dram/axi_read.rs),
// checked on its emitted Verilog (module `top`) with yosys (read_verilog -formal) and
// yosys-smtbmc (cvc5): see prove.sh. The configuration is fixed by the Rust test that emits the
// Verilog (tests/axi_formal.rs): 64-bit bus (8-byte beats, 512 beats a 4 KiB page),
// DEPTH = 16-word FIFO, MAX_OUT = 2 bursts outstanding, MAX_BURST = 8 beats. The FIFO's
// block RAM is replaced by store_stub.v (no property here looks at data).
//
// Environment (assumptions): every input is free (commands, arready, out_ready, clear,
// reset, rresp, rdata) except that the slave answers like an AXI slave: rvalid only while a
// burst it accepted is unfinished, rlast exactly on a burst's last beat, and commands ask
// for fewer than 32 words (to keep the counters small).
//
// Properties (assertions):
//   - no burst crosses a 4 KiB boundary: araddr[11:0] + 8 * (arlen + 1) <= 4096;
//   - arlen + 1 <= MAX_BURST (so arlen <= 255), arsize = 3, arburst = INCR, araddr aligned;
//   - AR stability: arvalid stays high with the same araddr/arlen until arready;
//   - bursts handshaken and unfinished <= MAX_OUT, and the master's `outstanding` <= MAX_OUT;
//   - beats requested and not yet received <= the FIFO's free space (DEPTH - fifo_level),
//     so rready = 1 never overflows it; fifo_level <= DEPTH; rready = 1;
//   - beats requested never exceed the words the commands asked for, and equal them
//     whenever the master is idle with no error since the last reset.
// Covers: two bursts outstanding at once; a command split at a 4 KiB boundary completes
// with the requested count equal to the asked count; an error is reported.
module formal_axi_read (
    input wire clock,
    input wire reset,
    input wire cmd_valid,
    input wire [39:0] cmd_addr,
    input wire [31:0] cmd_words,
    input wire arready,
    input wire rvalid,
    input wire [63:0] rdata,
    input wire [1:0] rresp,
    input wire rlast,
    input wire out_ready,
    input wire clear
);
    localparam DEPTH = 16;
    localparam MAX_OUT = 2;
    localparam MAX_BURST = 8;

    wire cmd_ready, arvalid, rready, out_valid, error, idle;
    wire [39:0] araddr;
    wire [7:0] arlen;
    wire [2:0] arsize;
    wire [1:0] arburst, error_resp;
    wire [63:0] out_data;
    wire [4:0] outstanding;
    wire [15:0] fifo_level;
    wire [31:0] stat_beats, stat_busy, stat_ar_stall;

    top dut (
        .clock(clock), .reset(reset),
        .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_addr(cmd_addr), .cmd_words(cmd_words),
        .arvalid(arvalid), .arready(arready), .araddr(araddr), .arlen(arlen),
        .arsize(arsize), .arburst(arburst),
        .rvalid(rvalid), .rready(rready), .rdata(rdata), .rresp(rresp), .rlast(rlast),
        .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data),
        .error(error), .error_resp(error_resp), .clear(clear), .idle(idle),
        .outstanding(outstanding), .fifo_level(fifo_level),
        .stat_beats(stat_beats), .stat_busy(stat_busy), .stat_ar_stall(stat_ar_stall)
    );

    // Reference: bursts the slave accepted (a queue of their lengths), beats owed.
    reg [8:0] q0 = 0, q1 = 0, q2 = 0; // beats left of the 1st, 2nd, 3rd unfinished burst
    reg [1:0] nq = 0;                // unfinished bursts
    reg [15:0] owed = 0;             // beats requested and not received
    reg [15:0] asked = 0, requested = 0;
    reg err_seen = 0;
    reg past_ar_wait = 0;
    reg [39:0] past_araddr = 0;
    reg [7:0] past_arlen = 0;
    reg split_seen = 0; // a command crossing a 4 KiB boundary was accepted

    wire ar_hs = arvalid && arready;
    wire r_hs = rvalid && rready;
    wire [8:0] ar_beats = {1'b0, arlen} + 9'd1;

    // The slave's side of the protocol.
    always @(*) begin
        assume (cmd_words < 32);
        if (rvalid) assume (nq != 0);
        if (rvalid) assume (rlast == (q0 == 1));
        if (reset) assume (!rvalid);
    end

    always @(posedge clock) begin
        past_ar_wait <= arvalid && !arready && !reset;
        past_araddr <= araddr;
        past_arlen <= arlen;
        if (reset) begin
            nq <= 0; q0 <= 0; q1 <= 0; q2 <= 0; owed <= 0;
            asked <= 0; requested <= 0; err_seen <= 0; split_seen <= 0;
        end else begin
            if (cmd_valid && cmd_ready) begin
                asked <= asked + cmd_words[15:0];
                if ({4'd0, cmd_addr[11:3]} + cmd_words > 512) split_seen <= 1;
            end
            if (ar_hs) requested <= requested + ar_beats;
            owed <= owed + (ar_hs ? ar_beats : 0) - (r_hs ? 1 : 0);
            if (error) err_seen <= 1;
            // Queue of unfinished bursts: pop the front at its last beat, push at AR.
            if (r_hs && rlast) begin
                q0 <= q1; q1 <= q2; q2 <= 0;
                if (ar_hs) begin
                    if (nq == 1) q0 <= ar_beats;
                    else if (nq == 2) q1 <= ar_beats;
                    else q2 <= ar_beats;
                end else nq <= nq - 1;
            end else begin
                if (r_hs) q0 <= q0 - 1;
                if (ar_hs) begin
                    if (nq == 0) q0 <= ar_beats;
                    else if (nq == 1) q1 <= ar_beats;
                    else q2 <= ar_beats;
                    nq <= nq + 1;
                end
            end
        end
    end

    always @(*) begin
        if (arvalid) begin
            assert ({20'd0, araddr[11:0]} + {20'd0, ar_beats, 3'b000} <= 4096);
            assert (ar_beats <= MAX_BURST);
            assert (arsize == 3 && arburst == 1);
            assert (araddr[2:0] == 0);
        end
        if (past_ar_wait) begin
            assert (arvalid);
            assert (araddr == past_araddr && arlen == past_arlen);
        end
        assert (nq <= MAX_OUT);
        assert (outstanding <= MAX_OUT);
        assert (fifo_level <= DEPTH);
        assert (owed + fifo_level <= DEPTH);
        assert (rready);
        assert (requested <= asked);
        if (idle && !err_seen && !error && !reset) assert (requested == asked);
`ifdef COVERS
        cover (nq == 2);
        cover (split_seen && idle && !err_seen && asked != 0 && requested == asked && !reset);
        cover (error);
`endif
    end
endmodule
