// Formal properties of QkvLoader (RowAddrGen feeding QkvWeightBuffer,
// crates/llamahdl-hw/src/weight_buffer.rs), checked on its emitted Verilog
// (llamahdl_qkv_loader.v) with yosys (read_verilog -formal) and yosys-smtbmc: see
// prove.sh. Parameters: the emitted shape (defaults: prove.sh's small shape at 4 lanes,
// which is also the lane count of the data ports below).
//
// Reference model: n = beats accepted since the last layer change, and loaded = the
// specified fully_loaded register (cleared by a layer change, set the cycle after
// load_done). Properties:
//   - the load-done count: load_done exactly when n = qkv_rows * beats;
//   - no write outside the buffer: a stored beat's address is below qkv_rows * beats and a
//     stored row scale's row is below qkv_rows;
//   - fully loaded exactly after the last row: fully_loaded = loaded, and fully_loaded
//     implies that every beat of the layer has been stored;
//   - clearing on a layer change: the cycle after one, fully_loaded and load_done are low
//     and the address is back to 0;
//   - storage: for an arbitrary beat address A and row R, what is read back (latency 1,
//     read-before-write) is the last beat (scale) stored there, zero before any store.
module formal_qkv_loader #(
    parameter BEATS = 1,
    parameter HEAD_DIM = 2,
    parameter N_HEADS = 2,
    parameter N_KV_HEADS = 1
) (
    input wire clock,
    input wire valid,
    input wire layer_change,
    input wire [31:0] data,
    input wire [7:0] scale_mant,
    input wire [7:0] scale_exp,
    input wire [15:0] rd_addr,
    input wire [15:0] rd_row
);
    localparam ROWS = HEAD_DIM * (N_HEADS + 2 * N_KV_HEADS);
    localparam TOTAL = ROWS * BEATS;

    wire fully_loaded, load_done, wr_en, last_beat;
    wire [11:0] beat;
    wire [7:0] row;
    wire [1:0] matrix;
    wire [7:0] head;
    wire [15:0] row_index;
    wire [15:0] addr;
    wire [7:0] rd0, rd1, rd2, rd3;
    wire [7:0] rd_mant, rd_exp;

    llamahdl_qkv_loader dut (
        .clock(clock), .valid(valid), .layer_change(layer_change),
        .data$0(data[7:0]), .data$1(data[15:8]), .data$2(data[23:16]), .data$3(data[31:24]),
        .scale_mant(scale_mant), .scale_exp(scale_exp),
        .fully_loaded(fully_loaded), .load_done(load_done), .wr_en(wr_en),
        .beat(beat), .row(row), .matrix(matrix), .head(head),
        .row_index(row_index), .addr(addr), .last_beat(last_beat),
        .rd_addr(rd_addr),
        .rd_data$0(rd0), .rd_data$1(rd1), .rd_data$2(rd2), .rd_data$3(rd3),
        .rd_row(rd_row), .rd_scale_mant(rd_mant), .rd_scale_exp(rd_exp)
    );

    // An arbitrary address and row, fixed for the whole trace.
    (* anyconst *) reg [15:0] A;
    (* anyconst *) reg [15:0] R;

    reg [15:0] n = 0;
    reg loaded = 0;
    reg past_valid = 0;
    reg past_change = 0;
    reg [31:0] shadow = 0;       // last beat stored at A
    reg [15:0] shadow_scale = 0; // last scale stored at R
    reg [31:0] want_rd = 0;      // what rd_data must show this cycle
    reg [15:0] want_scale = 0;
    reg check_rd = 0, check_scale = 0;
    reg was_loaded = 0;
    always @(posedge clock) begin
        past_valid <= 1;
        if (fully_loaded) was_loaded <= 1;
        past_change <= layer_change;
        if (layer_change) n <= 0;
        else if (valid && n < TOTAL) n <= n + 1;
        if (layer_change) loaded <= 0;
        else if (load_done) loaded <= 1;
        // Read-before-write: the read sees the memory before this cycle's store.
        check_rd <= (rd_addr == A);
        want_rd <= (A < TOTAL) ? shadow : 0;
        check_scale <= (rd_row == R);
        want_scale <= (R < ROWS) ? shadow_scale : 0;
        if (wr_en && addr == A) shadow <= data;
        if (wr_en && last_beat && row_index == R) shadow_scale <= {scale_exp, scale_mant};
    end

    // Where the generator must be after n beats (as in row_addr_gen.sv; asserted here too so
    // that the properties below are inductive).
    localparam Q_ROWS = HEAD_DIM * N_HEADS;
    localparam KV_ROWS = HEAD_DIM * N_KV_HEADS;
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
        assert (wr_en == (valid && !layer_change && n < TOTAL));
        if (wr_en) assert (addr < TOTAL);
        if (wr_en && last_beat) assert (row_index < ROWS);
        assert (fully_loaded == loaded);
        if (fully_loaded) assert (n == TOTAL);
        if (past_valid && past_change) begin
            assert (!fully_loaded && !load_done && addr == 0);
        end
`ifndef CONTROL_ONLY
        // (Not inductive without an invariant on the memory contents, which the wrapper
        // cannot name: prove.sh's induction step defines CONTROL_ONLY.)
        if (past_valid && check_rd) assert ({rd3, rd2, rd1, rd0} == want_rd);
        if (past_valid && check_scale) assert ({rd_exp, rd_mant} == want_scale);
`endif
        cover (fully_loaded);
        cover (was_loaded && past_change && !fully_loaded);
    end
endmodule
