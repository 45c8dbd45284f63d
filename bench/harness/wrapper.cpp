// The simulation wrapper that cocotb runs (the accelerator, its clock made in Verilog with
// `--timing`, and the Verilog feeder) driven from plain C++, without VPI or cocotb: the time
// loop of cocotb's Verilator main without its callbacks. Set apart from the bare harness
// (main.cpp), it says what the wrapper costs and what cocotb costs (bench/harness/cpp.py).
//
//   wrapper COUNT
// run in the folder holding the feeder's files (sim/feeder.py); the feeder writes its results
// there. It holds `rst` for RESET_CYCLES rising edges, then raises `feed_go` until `feed_done`,
// as the cocotb driver does. Standard output gets "cycles <simulated clock periods> seconds
// <wall seconds of the time loop>".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "Vtop.h"
#include "verilated.h"

#ifndef PERIOD_STEPS
#define PERIOD_STEPS 10000
#endif
// Rising edges the synchronous reset is held, as the cocotb driver holds it.
static const int RESET_CYCLES = 2;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s COUNT\n", argv[0]);
        return 2;
    }
    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vtop>(context.get());
    const auto began = std::chrono::steady_clock::now();
    top->rst = 1;
    top->start = 0;
    top->input___05Fvalid = 0;
    top->load___05Fvalid = 0;
    top->output___05Fready = 1;
    top->feed_go = 0;
    top->feed_count = std::atol(argv[1]);
    int rises = 0;
    while (!context->gotFinish()) {
        top->eval();
        // The clock is the wrapper's own register: its rising edges are at half a period.
        if (context->time() % PERIOD_STEPS == PERIOD_STEPS / 2) {
            ++rises;
            if (top->feed_go && top->feed_done) break;
            if (rises == RESET_CYCLES) top->rst = 0;
            if (rises == RESET_CYCLES + 1) top->feed_go = 1;
        }
        if (!top->eventsPending()) break;
        context->time(top->nextTimeSlot());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    const unsigned long long periods = context->time() / PERIOD_STEPS;
    top->final();
    top.reset();  // before its context goes
    std::printf("cycles %llu seconds %.6f\n", periods, seconds);
    return 0;
}
