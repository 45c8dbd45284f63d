// A plain C++ Verilator harness for the whole-network accelerator: the yardstick the cocotb
// simulation is measured against (bench/harness/cpp.py builds and runs it).
//
// It instantiates the Verilated top (the bare accelerator, built with `--prefix Vtop`), toggles
// `clk` itself, resets for RESET_CYCLES edges, streams the model's load words into the `load`
// port (honouring `load.ready`, low while the accumulators clear after reset), then per sample
// streams FEATURES input values (honouring `input.ready`), pulses `start`, takes OUTPUTS values
// from the output stream (always ready) and counts the edges from the launch edge to `done`, as
// the simulation's feeder does.
//
//   harness INPUTS RESULTS
// Verilator spells a double underscore in a port name "___05F" (input__valid: input___05Fvalid).
// INPUTS: "batch features outputs words", then `words` load words, then batch x features
// values. RESULTS gets one line per sample: "out_0 .. out_{outputs-1} cycles predicted
// counter_cycles". Standard output gets "cycles <edges simulated> seconds <wall seconds of the
// simulation loop>".
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

#ifndef VALUE_BITS
#define VALUE_BITS 8
#endif
// Edges the synchronous reset is held, as the cocotb driver holds it.
static const int RESET_CYCLES = 2;
// An inference longer than this many edges is a hang (the feeder's HANG_CYCLES).
static const uint64_t HANG_CYCLES = 2000000;
// A stream not ready for this many edges is a hang (the driver's READY_TIMEOUT_CYCLES).
static const uint64_t READY_TIMEOUT_CYCLES = 100000;

static std::unique_ptr<Vtop> top;
static uint64_t edges = 0;

// One rising and one falling edge; inputs set before it are sampled by the rising one.
static inline void tick() {
    top->clk = 1;
    top->eval();
    top->clk = 0;
    top->eval();
    ++edges;
}

// Offer one word on a valid/ready stream until an edge takes it; false if none does in time.
template <typename Payload>
static bool offer(Payload& payload, uint64_t word, unsigned char& ready) {
    payload = word;
    for (uint64_t waited = 0; waited < READY_TIMEOUT_CYCLES; ++waited) {
        top->eval();
        const bool accepted = ready;  // what the coming edge does
        tick();
        if (accepted) return true;
    }
    return false;
}

static inline long long signed_value(uint64_t v) {
    const uint64_t sign = 1ull << (VALUE_BITS - 1);
    v &= (VALUE_BITS == 64) ? ~0ull : ((1ull << VALUE_BITS) - 1);
    return (long long)((v ^ sign) - sign);
}

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s INPUTS RESULTS\n", argv[0]);
        return 2;
    }
    FILE* in = std::fopen(argv[1], "r");
    FILE* out = std::fopen(argv[2], "w");
    if (!in || !out) {
        std::fprintf(stderr, "harness: cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    long batch, features, outputs, words;
    if (std::fscanf(in, "%ld %ld %ld %ld", &batch, &features, &outputs, &words) != 4) return 2;
    std::vector<unsigned long> load(words);
    for (auto& w : load)
        if (std::fscanf(in, "%lu", &w) != 1) return 2;
    std::vector<int> x(batch * features);
    for (auto& v : x)
        if (std::fscanf(in, "%d", &v) != 1) return 2;
    std::fclose(in);
    std::vector<long long> results(batch * (outputs + 3));

    auto context = std::make_unique<VerilatedContext>();
    top = std::make_unique<Vtop>(context.get());
    const auto began = std::chrono::steady_clock::now();
    top->clk = 0;
    top->start = 0;
    top->input___05Fvalid = 0;
    top->load___05Fvalid = 0;
    top->output___05Fready = 1;
    top->rst = 1;
    top->eval();
    for (int i = 0; i < RESET_CYCLES; ++i) tick();
    top->rst = 0;
    tick();
    top->load___05Fvalid = 1;
    for (long w = 0; w < words; ++w) {
        if (!offer(top->load___05Fpayload, load[w], top->load___05Fready)) {
            std::fprintf(stderr, "harness: load word %ld was not taken\n", w);
            return 1;
        }
    }
    top->load___05Fvalid = 0;
    for (long s = 0; s < batch; ++s) {
        long long* row = &results[s * (outputs + 3)];
        top->input___05Fvalid = 1;
        for (long f = 0; f < features; ++f) {
            if (!offer(top->input___05Fpayload, (uint8_t)x[s * features + f],
                       top->input___05Fready)) {
                std::fprintf(stderr, "harness: sample %ld input %ld was not taken\n", s, f);
                return 1;
            }
        }
        top->input___05Fvalid = 0;
        top->start = 1;
        long taken = 0;
        uint64_t cycles = 1;
        // The launch edge, then one edge at a time until done.
        top->eval();
        if (top->output___05Fvalid && taken < outputs) row[taken++] = signed_value(top->output___05Fpayload);
        tick();
        top->start = 0;
        top->eval();
        while (!top->done) {
            if (top->output___05Fvalid && taken < outputs) row[taken++] = signed_value(top->output___05Fpayload);
            tick();
            if (++cycles > HANG_CYCLES) {
                std::fprintf(stderr, "harness: sample %ld hung\n", s);
                return 1;
            }
        }
        row[outputs] = (long long)cycles;
        row[outputs + 1] = top->predicted;
        row[outputs + 2] = top->counters___05Fcycles;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    top->final();
    top.reset();  // before its context goes
    for (long s = 0; s < batch; ++s) {
        for (long i = 0; i < outputs + 3; ++i)
            std::fprintf(out, i ? " %lld" : "%lld", results[s * (outputs + 3) + i]);
        std::fprintf(out, "\n");
    }
    std::fclose(out);
    std::printf("cycles %llu seconds %.6f\n", (unsigned long long)edges, seconds);
    return 0;
}
