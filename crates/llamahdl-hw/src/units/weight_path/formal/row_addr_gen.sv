// Formal properties of RowAddrGen (crates/llamahdl-hw/src/row_addr.rs), checked on its
// emitted Verilog (llamahdl_row_addr_gen.v) with yosys (read_verilog -formal) and
// yosys-smtbmc: see prove.sh. The parameters are the shape the Verilog was emitted for
// (prove.sh passes them; the defaults are its small shape at 4 lanes).
//
// A reference model counts the beats accepted since the last trigger (n). Properties:
//   - the position outputs follow n: addr = n, beat = n mod BEATS, row_index = n / BEATS,
//     row = row_index mod HEAD_DIM, matrix/head from row_index (Q heads, then K, then V);
//   - load_done exactly when n = the layer's beat count (qkv_rows * beats), and n never
//     passes it (the load-done count);
//   - wr_en = valid & !trigger & !load_done, and every accepted beat's address is inside
//     the buffer (addr < qkv_rows * beats, row_index < qkv_rows);
//   - last_beat = (beat = BEATS - 1);
//   - a trigger returns to (beat 0, row 0, Q, head 0), addr 0, load_done low.
// Cover: load_done is reached after the last beat, and a trigger after it clears it.
module formal_row_addr_gen #(
    parameter BEATS = 1,
    parameter HEAD_DIM = 2,
    parameter N_HEADS = 2,
    parameter N_KV_HEADS = 1
) (
    input wire clock,
    input wire valid,
    input wire trigger
);
    localparam Q_ROWS = HEAD_DIM * N_HEADS;
    localparam KV_ROWS = HEAD_DIM * N_KV_HEADS;
    localparam ROWS = Q_ROWS + 2 * KV_ROWS;
    localparam TOTAL = ROWS * BEATS;

    wire [11:0] beat;
    wire [7:0] row;
    wire [1:0] matrix;
    wire [7:0] head;
    wire [15:0] row_index;
    wire [15:0] addr;
    wire last_beat, wr_en, load_done;

    llamahdl_row_addr_gen dut (
        .clock(clock), .valid(valid), .trigger(trigger),
        .beat(beat), .row(row), .matrix(matrix), .head(head),
        .row_index(row_index), .addr(addr), .last_beat(last_beat),
        .wr_en(wr_en), .load_done(load_done)
    );

    // Reference: beats accepted since power-up or the last trigger.
    reg [15:0] n = 0;
    reg past_valid = 0;
    reg past_trigger = 0;
    reg done_seen = 0;
    always @(posedge clock) begin
        past_valid <= 1;
        past_trigger <= trigger;
        if (trigger) n <= 0;
        else if (valid && n < TOTAL) n <= n + 1;
        if (load_done) done_seen <= 1; // sticky: a load has completed
    end

    wire [15:0] ri = n / BEATS;
    wire [15:0] want_matrix = ri < Q_ROWS ? 0 : ri < Q_ROWS + KV_ROWS ? 1 : ri < ROWS ? 2 : 3;
    wire [15:0] want_head = ri < Q_ROWS ? ri / HEAD_DIM
                          : ri < Q_ROWS + KV_ROWS ? (ri - Q_ROWS) / HEAD_DIM
                          : ri < ROWS ? (ri - Q_ROWS - KV_ROWS) / HEAD_DIM : 0;

    always @(*) begin
        assert (n <= TOTAL);
        assert (addr == n);
        assert (beat == n % BEATS);
        assert (row_index == ri);
        assert (row == (ri < ROWS ? ri % HEAD_DIM : 0));
        assert (matrix == want_matrix[1:0]);
        assert (head == want_head[7:0]);
        assert (load_done == (n == TOTAL));
        assert (last_beat == (beat == BEATS - 1));
        assert (wr_en == (valid && !trigger && !load_done));
        if (wr_en) begin
            assert (addr < TOTAL);
            assert (row_index < ROWS);
        end
        if (past_valid && past_trigger) begin
            assert (beat == 0 && row == 0 && matrix == 0 && head == 0);
            assert (addr == 0 && row_index == 0 && !load_done);
        end
        cover (load_done);
        cover (done_seen && past_valid && past_trigger && !load_done);
    end
endmodule
