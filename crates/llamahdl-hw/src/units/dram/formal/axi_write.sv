// Formal properties of AxiWriteMaster (crates/llamahdl-hw/src/units/dram/axi_write.rs),
// checked on its emitted Verilog (module `top`) with yosys (read_verilog -formal) and
// yosys-smtbmc (cvc5): see prove.sh. The configuration is fixed by the Rust test that emits the
// Verilog (tests/axi_formal.rs): 64-bit bus (8-byte beats, 512 beats a 4 KiB page),
// DEPTH = 16-word input FIFO, MAX_OUT = 2 bursts outstanding, MAX_BURST = 8 beats. The
// input FIFO's block RAM is replaced by store_stub.v (no property here looks at data); the
// burst-length queue (top$lenq$store) is the emitted one, since W framing depends on it.
//
// Environment (assumptions): every input is free (commands, words pushed, awready, wready,
// clear, reset, bresp) except that the slave answers like an AXI slave: bvalid only for a
// burst whose AW and last W beat it has both taken and that it has not answered yet, none
// during reset; and commands ask for fewer than 32 words (to keep the counters small).
//
// Reference: the bursts the master has presented on AW (a new payload with awvalid),
// in order, with their beats not yet sent on W.
//
// Properties (assertions):
//   - no burst crosses a 4 KiB boundary: awaddr[11:0] + 8 * (awlen + 1) <= 4096;
//   - awlen + 1 <= MAX_BURST, awsize = 3, awburst = INCR, awaddr aligned, wstrb all ones;
//   - AW stability: awvalid stays high with the same awaddr/awlen until awready;
//     W stability: wvalid stays high with the same wlast until wready;
//   - W framing: wvalid only while a presented burst has beats left, wlast exactly on
//     its last beat; no gap inside a burst (once a burst's first beat has gone, wvalid
//     stays high until its last);
//   - presented bursts not yet fully written <= outstanding = presented bursts not yet
//     answered <= MAX_OUT;
//   - every presented burst's beats were in the FIFO when it was presented (beats
//     presented <= words pushed), and never more than the commands asked for; when idle
//     with no error since the last reset or clear, every word asked for was presented and
//     sent; fifo_level <= DEPTH, in_ready = (fifo_level < DEPTH), bready = 1.
// Covers: two bursts outstanding at once; a command split at a 4 KiB boundary completes;
// a W beat sent before its burst's AW handshake; an error is reported.
module formal_axi_write (
    input wire clock,
    input wire reset,
    input wire in_valid,
    input wire [63:0] in_data,
    input wire cmd_valid,
    input wire [39:0] cmd_addr,
    input wire [31:0] cmd_words,
    input wire awready,
    input wire wready,
    input wire bvalid,
    input wire [1:0] bresp,
    input wire clear
);
    localparam DEPTH = 16;
    localparam MAX_OUT = 2;
    localparam MAX_BURST = 8;

    wire in_ready, cmd_ready, awvalid, wvalid, wlast, bready, error, idle;
    wire [39:0] awaddr;
    wire [7:0] awlen;
    wire [2:0] awsize;
    wire [1:0] awburst, error_resp;
    wire [63:0] wdata;
    wire [7:0] wstrb;
    wire [4:0] outstanding;
    wire [15:0] fifo_level;
    wire [31:0] stat_beats, stat_busy, stat_aw_stall;

    top dut (
        .clock(clock), .reset(reset),
        .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_addr(cmd_addr), .cmd_words(cmd_words),
        .awvalid(awvalid), .awready(awready), .awaddr(awaddr), .awlen(awlen),
        .awsize(awsize), .awburst(awburst),
        .wvalid(wvalid), .wready(wready), .wdata(wdata), .wstrb(wstrb), .wlast(wlast),
        .bvalid(bvalid), .bready(bready), .bresp(bresp),
        .error(error), .error_resp(error_resp), .clear(clear), .idle(idle),
        .outstanding(outstanding), .fifo_level(fifo_level),
        .stat_beats(stat_beats), .stat_busy(stat_busy), .stat_aw_stall(stat_aw_stall)
    );

    // Presented bursts with beats left to send (q0 the oldest), and whether q0 has begun.
    reg [8:0] q0 = 0, q1 = 0, q2 = 0;
    reg [1:0] nq = 0;
    reg started = 0;
    reg [4:0] ref_out = 0;           // presented and not answered (before this cycle)
    reg [4:0] aw_open = 0;           // AW handshaken and not answered
    reg [4:0] w_open = 0;            // last W beat taken and not answered
    reg [15:0] pushed = 0, asked = 0, presented = 0, sent = 0;
    reg err_seen = 0;
    reg past_aw_wait = 0, past_w_wait = 0, past_wlast = 0;
    reg [39:0] past_awaddr = 0;
    reg [7:0] past_awlen = 0;
    reg split_seen = 0;              // a command crossing a 4 KiB boundary was taken
    reg w_lead_seen = 0;             // a W beat went before its burst's AW handshake

    wire aw_hs = awvalid && awready;
    wire w_hs = wvalid && wready;
    wire cmd_hs = cmd_valid && cmd_ready;
    wire push = in_valid && in_ready;
    wire clr = clear && idle;
    wire [8:0] aw_beats = {1'b0, awlen} + 9'd1;
    // A new AW payload this cycle (the previous one, if any, was taken).
    wire new_aw = awvalid && !past_aw_wait;
    // The presented bursts including this cycle's new one.
    wire [8:0] e0 = (nq >= 1) ? q0 : (new_aw ? aw_beats : 9'd0);
    wire [8:0] e1 = (nq >= 2) ? q1 : ((nq == 1 && new_aw) ? aw_beats : 9'd0);
    wire [8:0] e2 = (nq >= 3) ? q2 : ((nq == 2 && new_aw) ? aw_beats : 9'd0);
    wire [2:0] ne = {1'b0, nq} + {2'b0, new_aw};

    always @(*) begin
        assume (cmd_words < 32);
        if (bvalid) assume (aw_open != 0 && w_open != 0);
        if (reset) assume (!bvalid);
    end

    always @(posedge clock) begin
        past_aw_wait <= awvalid && !awready && !reset;
        past_w_wait <= wvalid && !wready && !reset;
        past_wlast <= wlast;
        past_awaddr <= awaddr;
        past_awlen <= awlen;
        if (reset) begin
            q0 <= 0; q1 <= 0; q2 <= 0; nq <= 0; started <= 0;
            ref_out <= 0; aw_open <= 0; w_open <= 0;
            pushed <= 0; asked <= 0; presented <= 0; sent <= 0;
            err_seen <= 0; split_seen <= 0; w_lead_seen <= 0;
        end else begin
            // The queue: this cycle's new burst joins, a W beat takes from the front.
            if (w_hs && e0 == 1) begin
                q0 <= e1; q1 <= e2; q2 <= 0; nq <= ne - 1; started <= 0;
            end else begin
                q0 <= w_hs ? e0 - 1 : e0; q1 <= e1; q2 <= e2; nq <= ne;
                if (w_hs) started <= 1;
            end
            ref_out <= ref_out + (new_aw ? 1 : 0) - (bvalid ? 1 : 0);
            aw_open <= aw_open + (aw_hs ? 1 : 0) - (bvalid ? 1 : 0);
            w_open <= w_open + ((w_hs && wlast) ? 1 : 0) - (bvalid ? 1 : 0);
            if (w_hs && aw_open == 0 && !aw_hs) w_lead_seen <= 1;
            if (error) err_seen <= 1;
            if (clr) begin
                // The FIFO is emptied (a word pushed at this edge is dropped); a command
                // taken at this edge stays.
                pushed <= 0; presented <= 0; sent <= 0; err_seen <= 0;
                asked <= cmd_hs ? cmd_words[15:0] : 0;
            end else begin
                if (push) pushed <= pushed + 1;
                if (cmd_hs) asked <= asked + cmd_words[15:0];
                if (new_aw) presented <= presented + aw_beats;
                if (w_hs) sent <= sent + 1;
            end
            if (cmd_hs && {4'd0, cmd_addr[11:3]} + cmd_words > 512) split_seen <= 1;
        end
    end

    wire [15:0] presented_now = presented + (new_aw ? aw_beats : 0);

    always @(*) begin
        if (awvalid) begin
            assert ({20'd0, awaddr[11:0]} + {20'd0, aw_beats, 3'b000} <= 4096);
            assert (aw_beats <= MAX_BURST);
            assert (awsize == 3 && awburst == 1);
            assert (awaddr[2:0] == 0);
        end
        assert (wstrb == 8'hff);
        if (past_aw_wait) begin
            assert (awvalid);
            assert (awaddr == past_awaddr && awlen == past_awlen);
        end
        if (past_w_wait) begin
            assert (wvalid);
            assert (wlast == past_wlast);
        end
        if (wvalid) begin
            assert (ne != 0);
            assert (wlast == (e0 == 1));
        end
        if (started && !reset) assert (wvalid);
        assert (ne <= MAX_OUT);
        assert (outstanding == ref_out + (new_aw ? 1 : 0));
        assert (outstanding <= MAX_OUT);
        assert (fifo_level <= DEPTH);
        assert (in_ready == (fifo_level < DEPTH));
        assert (bready);
        assert (presented_now <= pushed);
        assert (presented_now <= asked);
        assert (sent <= presented_now);
        if (idle && !reset) assert (sent == presented && ne == 0);
        if (idle && !err_seen && !error && !reset) assert (presented == asked);
`ifdef COVERS
        cover (ref_out == 2);
        cover (split_seen && idle && !err_seen && asked != 0 && presented == asked && !reset);
        cover (w_lead_seen);
        cover (error);
`endif
    end
endmodule
