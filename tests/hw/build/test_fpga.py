"""The FPGA side: the UART shell loads a model and answers with the reference's class and logits,
and a small loadable accelerator goes through YoWASP synthesis (its banks in SPRAM), place and
route and packing to a bitstream."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from secateurs.hw.accelerator import Accelerator
from secateurs.hw.capacity import Capacity
from secateurs.hw.build.fpga import build_bitstream, parse_report, platform
from secateurs.hw.build.shell import CYCLE_BYTES, INFER, LOAD, UARTShell
from secateurs.hw.image import network_image
from secateurs.hw.load import load_words
from secateurs.sw.cycles import network_cycles
from secateurs.sw.reference import classify, forward
from tests.helpers.models import packed, random_inputs, random_model

DIVISOR = 4  # clock cycles per UART bit: fast to simulate, and still sampled mid-bit


FRAME = 10 * DIVISOR  # cycles of one byte on the line
SLACK = 5_000  # cycles allowed beyond the bytes' own time (runs, gaps)


def _uart_exchange(shell, sent: list[int], replies: int) -> list[int]:
    """Send ``sent``; the bytes the shell answers within the time ``replies`` need (a shell
    that answers fewer fails the caller's length check instead of hanging)."""
    got = []

    async def host(ctx):
        ctx.set(shell.rx, 1)
        await ctx.tick().repeat(5)
        for byte in sent:
            for bit in [0, *((int(byte) >> k) & 1 for k in range(8)), 1]:
                ctx.set(shell.rx, bit)
                await ctx.tick().repeat(DIVISOR)
        ctx.set(shell.rx, 1)

    async def listener(ctx):
        while len(got) < replies:
            await ctx.tick().until(shell.tx == 0)  # start bit
            await ctx.tick().repeat(DIVISOR // 2)
            byte = 0
            for k in range(8):
                await ctx.tick().repeat(DIVISOR)
                byte |= ctx.get(shell.tx) << k
            await ctx.tick().repeat(DIVISOR)
            assert ctx.get(shell.tx) == 1, "no stop bit"
            got.append(byte)

    sim = Simulator(shell)
    sim.add_clock(1e-8)
    sim.add_testbench(host)
    sim.add_testbench(listener, background=True)
    sim.run_until(1e-8 * ((len(sent) + replies) * FRAME + SLACK))
    return got


def _check_answers(got, p, x, outputs):
    reply = 1 + outputs + CYCLE_BYTES
    logits = forward(p.model, x)[-1]
    cycles = network_cycles(p, x, queue_depth=2, array="sparse").total
    assert len(got) == len(x) * reply
    for i in range(len(x)):
        answer = got[i * reply:(i + 1) * reply]
        assert answer[0] == classify(logits)[i]
        assert [b - 256 if b > 127 else b for b in answer[1:1 + outputs]] == logits[i].tolist()
        assert int.from_bytes(bytes(answer[1 + outputs:]), "little") == cycles[i]


def _infer(x) -> list[int]:
    return [b for row in x for b in [INFER, *(int(v) & 0xFF for v in row)]]


def test_shell_answers_class_logits_and_cycles():
    rng = np.random.default_rng(2)
    p = packed(random_model(rng, [6, 8, 4], 0.5), pes=2)
    x = random_inputs(rng, 2, 6)
    image = network_image(p)
    shell = UARTShell(Accelerator(Capacity.of(image, queue_depth=2), kind="sparse", image=image),
                      divisor=DIVISOR)
    got = _uart_exchange(shell, [0x00, *_infer(x)], 2 * (1 + 4 + CYCLE_BYTES))  # 0: ignored
    _check_answers(got, p, x, 4)


def test_shell_loads_a_model_then_answers():
    """An empty design of a capacity bigger than the model: LOAD (acknowledged), then INFER."""
    rng = np.random.default_rng(3)
    p = packed(random_model(rng, [6, 8, 3], 0.5), pes=2)
    x = random_inputs(rng, 2, 6)
    capacity = Capacity.for_shape([(9, 6), (4, 9)], pes=2, queue_depth=2)
    words = load_words(network_image(p), capacity, "sparse")
    sent = [LOAD, *len(words).to_bytes(4, "little"),
            *(b for w in words for b in w.to_bytes(4, "little")), *_infer(x)]
    shell = UARTShell(Accelerator(capacity, kind="sparse"), divisor=DIVISOR)
    got = _uart_exchange(shell, sent, 1 + 2 * (1 + 3 + CYCLE_BYTES))
    assert got[0] == LOAD
    _check_answers(got[1:], p, x, 3)


def test_parse_report():
    nextpnr = ("Info: Device utilisation:\nInfo: \t ICESTORM_LC:   100/  5280     1%\n"
               "Info: \t ICESTORM_DSP:     2/     8    25%\n"
               "Info: Max frequency for clock 'clk': 20.00 MHz (PASS at 12.00 MHz)\n"
               "Info: Max frequency for clock 'clk': 31.50 MHz (PASS at 12.00 MHz)\n")
    yosys = ("Printing statistics.\n=== top ===\n      12   SB_DFFE\n       3   SB_DFF\n"
             "      90   SB_LUT4\n=== design hierarchy ===\n      12   SB_DFFE\n"
             "       3   SB_DFF\n      90   SB_LUT4\n")
    fmax, cells, luts, ffs = parse_report(nextpnr, yosys)
    assert (fmax, luts, ffs) == (31.5, 90, 15)
    assert cells == {"ICESTORM_LC": (100, 5280), "ICESTORM_DSP": (2, 8)}


def test_unknown_target():
    with pytest.raises(ValueError, match="FPGA target must be one of ice40-up5k, ecp5-25k"):
        platform("xc7a35t")


@pytest.mark.fpga
def test_small_loadable_design_to_bitstream(tmp_path):
    """A small capacity with the load port (no model baked in): its banks go to SPRAM, one
    per PE, and the rest places and routes on the UP5K."""
    capacity = Capacity.for_shape([(5, 6), (3, 5)], pes=2, queue_depth=1)
    report = build_bitstream(Accelerator(capacity, kind="sparse"), target="ice40-up5k",
                             build_dir=tmp_path)
    assert report.bitstream.exists() and report.bitstream.stat().st_size > 100_000
    assert report.fmax_mhz > 5
    assert 0 < report.used("logic") <= report.available("logic") == 5280
    assert (report.used("spram"), report.available("spram")) == (2, 4)
    assert report.luts > 0 and report.flip_flops > 0
