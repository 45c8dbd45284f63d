// The batch feeder of the accelerator's simulation wrapper (see sim/feeder.py, which
// instantiates it with these parameters and passes the file names, so Python stays their
// authority). Simulation only: it reads and writes files.
//
// On a rising `go` it opens its files and first streams the model into the design's load port:
// each line of LOAD_FILE is one 32-bit load word in hex (hw/load.py's protocol; the same format
// as the rtl step's model.load), one a cycle while `l_ready`; an empty file loads nothing. The
// first line of INPUTS_FILE is "features outputs" (the loaded model's counts). Then, per sample,
// it streams `features` input words in (each further line of INPUTS_FILE is "gap junk value":
// `gap` idle cycles with `junk` on the payload,
// then the value, honouring `in_ready`), pulses `start`, takes `outputs` values from the output
// stream (keeping each waiting for the cycles the next line of HOLDS_FILE says: back-pressure),
// counts the edges from the launch edge to `done`, and appends one line to RESULTS_FILE:
// "out_0 .. out_{outputs-1} cycles predicted counter_0 .. counter_{COUNTERS-1}". After `count`
// samples, or HANG_CYCLES edges into one that never finishes, it raises `done` (and `hung`).
// While it is idle (`feeding` low) the wrapper passes the host ports through unchanged.
module secateurs_feeder #(
  parameter VALUE_BITS = 8,
  parameter ACT_BITS = 8,
  parameter PREDICTED_BITS = 1,
  parameter COUNTERS = 1,
  parameter COUNTER_BITS = 32,
  parameter HANG_CYCLES = 2000000,
  parameter LOAD_FILE = "feed_load.txt",
  parameter INPUTS_FILE = "feed_inputs.txt",
  parameter HOLDS_FILE = "feed_holds.txt",
  parameter RESULTS_FILE = "feed_results.txt"
) (
  input wire clk,
  input wire go,
  input wire [31:0] count,
  output reg done = 1'b0,
  output reg hung = 1'b0,
  output wire feeding,
  output reg f_valid = 1'b0,
  output reg [ACT_BITS-1:0] f_payload = 0,
  output reg f_start = 1'b0,
  output wire f_ready,
  output reg f_lvalid = 1'b0,
  output reg [31:0] f_lpayload = 0,
  input wire l_ready,
  input wire in_ready,
  input wire out_valid,
  input wire signed [VALUE_BITS-1:0] out_payload,
  input wire dut_done,
  input wire [PREDICTED_BITS-1:0] predicted,
  input wire [COUNTER_BITS*COUNTERS-1:0] counters
);
  localparam IDLE = 3'd0, GAP = 3'd1, STREAM = 3'd2, START = 3'd3, WAIT = 3'd4, LOAD = 3'd5;
  reg [2:0] state = IDLE;
  reg [ACT_BITS-1:0] value = 0;
  reg [31:0] sample = 0, word = 0, gap = 0, cycles = 0, elapsed = 0;
  reg [31:0] hold = 0, taken = 0;
  reg [31:0] w_gap, w_junk, w_value, w_hold, w_load, features = 0, outputs = 0;
  integer f_in = 0, f_holds = 0, f_out = 0, f_load = 0, i;
  assign feeding = state != IDLE;
  assign f_ready = hold == 0;

  // The next "gap junk value" line: junk for `gap` idle cycles, then the value.
  task load_word(input first);
    begin
      if ($fscanf(f_in, "%d %d %d\n", w_gap, w_junk, w_value) != 3)
        $fatal(1, "feeder: %0s ends before sample %0d", INPUTS_FILE, sample);
      if (first) elapsed <= 0;
      value <= w_value[ACT_BITS-1:0];
      if (w_gap != 0) begin
        f_valid <= 0; f_payload <= w_junk[ACT_BITS-1:0]; gap <= w_gap; state <= GAP;
      end else begin
        f_valid <= 1; f_payload <= w_value[ACT_BITS-1:0]; state <= STREAM;
      end
    end
  endtask

  // The first sample, or the end of an empty batch.
  task begin_batch;
    begin
      if (count == 0) close_batch(0);
      else load_word(1);
    end
  endtask

  // Offer the next load word, or close the load file and begin the batch after the last.
  task next_load;
    begin
      if ($fscanf(f_load, "%h\n", w_load) == 1) begin
        f_lvalid <= 1; f_lpayload <= w_load; state <= LOAD;
      end else begin
        f_lvalid <= 0; $fclose(f_load);
        begin_batch;
      end
    end
  endtask

  // How long the next output value is kept waiting (`ready` is high while nothing is owed).
  task load_hold;
    begin
      if ($fscanf(f_holds, "%d\n", w_hold) != 1)
        $fatal(1, "feeder: %0s ends before sample %0d", HOLDS_FILE, sample);
      hold <= w_hold;
    end
  endtask

  // Close the files and raise `done` (and `hung` if the batch gave up).
  task close_batch(input gave_up);
    begin
      $fclose(f_in); $fclose(f_holds); $fclose(f_out);
      done <= 1; hung <= gave_up; state <= IDLE;
    end
  endtask

  always @(posedge clk) begin
    if (feeding) elapsed <= elapsed + 1;
    // A value offered while owed a hold waits a cycle; one taken goes on the sample's line.
    if (state == WAIT && out_valid) begin
      if (hold != 0) hold <= hold - 1;
      else begin
        $fwrite(f_out, "%0d ", out_payload);
        taken <= taken + 1;
        if (taken + 1 != outputs) load_hold;
      end
    end
    case (state)
    IDLE: if (!go) done <= 0;
    else if (!done) begin
      f_in = $fopen(INPUTS_FILE, "r");
      f_holds = $fopen(HOLDS_FILE, "r");
      f_out = $fopen(RESULTS_FILE, "w");
      f_load = $fopen(LOAD_FILE, "r");
      if (f_in == 0 || f_holds == 0 || f_out == 0 || f_load == 0)
        $fatal(1, "feeder: cannot open its files");
      if ($fscanf(f_in, "%d %d\n", features, outputs) != 2)
        $fatal(1, "feeder: %0s has no \"features outputs\" line", INPUTS_FILE);
      sample <= 0; word <= 0; elapsed <= 0;
      next_load;
    end
    LOAD: if (l_ready) next_load;
    GAP: begin
      gap <= gap - 1;
      if (gap == 1) begin
        f_valid <= 1; f_payload <= value; state <= STREAM;
      end
    end
    STREAM: if (in_ready) begin
      if (word == features - 1) begin
        word <= 0; f_valid <= 0; f_start <= 1; state <= START;
      end else begin
        word <= word + 1;
        load_word(0);
      end
    end
    // The edge that samples start launches the run; the design counts it as cycle 1.
    START: begin
      f_start <= 0; cycles <= 1; taken <= 0; state <= WAIT;
      load_hold;
    end
    WAIT: if (!dut_done) cycles <= cycles + 1;
    else begin
      $fwrite(f_out, "%0d %0d", cycles, predicted);
      for (i = 0; i < COUNTERS; i = i + 1)
        $fwrite(f_out, " %0d", counters[COUNTER_BITS*i +: COUNTER_BITS]);
      $fwrite(f_out, "\n");
      sample <= sample + 1;
      if (sample + 1 == count) close_batch(0);
      else load_word(1);
    end
    default: ;
    endcase
    if (feeding && elapsed == HANG_CYCLES) close_batch(1);
  end
endmodule
