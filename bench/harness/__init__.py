"""A plain C++ Verilator harness of the accelerator, the yardstick for the cocotb simulation."""
