"""Gate-level simulation: the accelerator's iCE40 netlist (Yosys's synthesis, its LUTs, carry
chains, flip-flops, block RAMs and DSPs simulated by the models Yosys ships) loaded through its
load port and run by the RTL's cocotb test on Icarus: logits bit-exact against the integer
reference, cycles the cycle model's plus those held back, every event counter the event model's.

A small loadable capacity (the synthesis of one design takes ~20 s); the default design's
10-image run is a benchmark (``make bench``, bench/netlist.py).
"""

import json

import numpy as np
import pytest

from secateurs.config import HardwareConfig
from secateurs.errors import InputError
from secateurs.hw.accelerator import Accelerator
from secateurs.hw.build.fpga import NETLIST, synthesize_netlist
from secateurs.hw.capacity import Capacity
from secateurs.sim.netlist import primitive_models, prove_netlist
from secateurs.sw.reference import forward
from tests.helpers.cli import secateurs
from tests.helpers.models import packed, random_inputs, random_model
from tests.helpers.runs import OVERRIDES, ROOT, tiny_run

pytestmark = pytest.mark.fpga

TARGET = "ice40-up5k"
HW = HardwareConfig(pes=2, queue_depth=2)
#: Room for the model below and more: the netlist is the design's, not the model's.
CAPACITY = Capacity.for_shape([(9, 7), (5, 9)], pes=2, queue_depth=2)


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(12)
    return packed(random_model(rng, [7, 9, 4], 0.5), pes=2), random_inputs(rng, 5, 7)


@pytest.fixture(scope="module", params=["sparse", "dense"])
def netlist(request, tmp_path_factory):
    design = Accelerator(CAPACITY, kind=request.param)
    name = f"{request.param}_accelerator"
    path = synthesize_netlist(design, toplevel=name, target=TARGET,
                              path=tmp_path_factory.mktemp("netlist") / "accelerator.netlist.v")
    return design, path.read_text()


def test_the_netlist_is_gates(netlist):
    """The accelerator's module holds primitives and wires, no behaviour of its own; the
    banks are in SPRAM, as in the bitstream."""
    design, text = netlist
    body = text[text.index(f"module {design.kind}_accelerator("):]
    body = body[:body.index("endmodule")]
    assert "always" not in body and "reg " not in body
    for primitive in ("SB_LUT4", "SB_CARRY", "SB_DFF", "SB_RAM40_4K", "SB_SPRAM256KA",
                      "SB_MAC16"):
        assert f"{primitive} " in body, primitive


def test_the_netlist_is_bit_and_cycle_exact(netlist, model, build_cache):
    design, text = netlist
    p, x = model
    proof = prove_netlist(p, x, netlist=text, design=design, target=TARGET, hw=HW,
                          build_root=build_cache, idle_seed=4)
    np.testing.assert_array_equal(proof.result.logits, forward(p.model, x)[-1])
    assert proof.result.held_cycles.sum() > 0
    np.testing.assert_array_equal(proof.cycles, proof.expected + proof.result.held_cycles)


def test_a_target_without_readable_models_is_refused():
    with pytest.raises(InputError, match="runs on ice40-up5k, not 'ecp5-25k'"):
        primitive_models("ecp5-25k")


def test_bitstream_writes_the_netlist(tmp_path):
    """``secateurs bitstream`` writes the netlist beside the bitstream and lists it in
    report.json and in what it prints. On the ECP5: a loadable digits MLP, even this small one,
    needs more logic cells than the UP5K has (BENCHMARKS.md, FPGA capacity)."""
    run = tiny_run(tmp_path / "run", 0.3)
    out = tmp_path / "bitstream"
    sets = [a for o in OVERRIDES for a in ("--set", o)]
    done = secateurs("bitstream", "--config", "configs/digits_mlp.toml", *sets, "--set",
                     "prune.density=0.3", "--model", run / "model.bin", "--out", out,
                     "--target", "ecp5-25k", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["netlist"] == NETLIST
    assert json.loads(done.stdout.strip().splitlines()[-1])["netlist"] == str(out / NETLIST)
    text = (out / NETLIST).read_text()
    body = text[text.index("module sparse_accelerator("):]
    assert "always" not in body[:body.index("endmodule")]
    for primitive in ("LUT4", "TRELLIS_FF", "MULT18X18D"):
        assert f"  {primitive} " in body, primitive
