"""The model is data: one design (one capacity, one Verilog text) runs different models loaded
through the load port, each bit-exact and cycle-exact; a model too big is refused; a baked
design runs without loading; a cut-short load stream leaves the design idle and runnable; reset
returns what loading wrote into registers to its initial value."""

import dataclasses
import re

import numpy as np
import pytest
from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.sim import Simulator

from secateurs.hw.accelerator import Accelerator
from secateurs.hw.build.export import export_verilog
from secateurs.hw.capacity import Capacity
from secateurs.hw.image import network_image
from secateurs.hw.load import load_words
from secateurs.hw.memories import memory_map
from secateurs.sim.amaranth_host import simulate_network
from secateurs.sw.formats import container
from secateurs.sw.reference import QuantLayer, QuantModel, forward
from tests.helpers.models import packed, random_inputs, random_model
from tests.hw.engines.bench import nm_model
from tests.hw.test_accelerator import _check, _expected_events

SHAPES = [(20, 12), (9, 20), (5, 9)]  # (rows, cols) of the capacity's layers: 12-20-9-5


def _models(pes):
    """Two models on one capacity: sparse and three layers; denser, narrower and two layers."""
    rng = np.random.default_rng(pes)
    a = packed(random_model(rng, [12, 20, 9, 5], 0.2), pes=pes)
    b = packed(random_model(rng, [12, 16, 5], 0.7), pes=pes)
    return a, b


def _check_events(p, x, runs, kind, issue_width):
    for name, values in _expected_events(p, x, kind, issue_width).items():
        assert [run.counters[name] for run in runs] == values.tolist(), name


@pytest.mark.parametrize("kind,pes,queue_depth,issue_width", [
    ("sparse", 3, 2, 2), ("sparse", 4, 4, 4), ("dense", 3, 4, 2)])
def test_two_models_back_to_back_on_one_design(kind, pes, queue_depth, issue_width):
    """A, then B loaded over it, then A again: each run exact, in the cycles of its own model."""
    a, b = _models(pes)
    capacity = Capacity.for_shape(SHAPES, pes=pes, queue_depth=queue_depth,
                                  issue_width=issue_width)
    dut = Accelerator(capacity, kind=kind)
    words = {name: load_words(network_image(p), capacity, kind) for name, p in
             (("a", a), ("b", b))}
    rng = np.random.default_rng(7)
    x = random_inputs(rng, 7, 12)
    x[3] = 0  # B with no work in its first layer
    runs = simulate_network(dut, x, seed=3, idle=0.3,
                            load={0: words["a"], 3: words["b"], 5: words["a"]})
    for p, rows in ((a, [0, 1, 2, 5, 6]), (b, [3, 4])):
        picked = [runs[i] for i in rows]
        _check(p, x[rows], picked, queue_depth=queue_depth, kind=kind, issue_width=issue_width)
        _check_events(p, x[rows], picked, kind, issue_width)
    assert runs[0].counters["cycles"] != runs[3].counters["cycles"] or kind == "dense"


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_nm_and_codebook_models_on_one_design(kind):
    """The other word formats: two N:M models of different density, and two codebook models
    with different codebooks, each pair on one design."""
    rng = np.random.default_rng(12)
    x = random_inputs(rng, 4, 14)
    nm = [container.decode(container.encode(nm_model(rng, [14, 10, 5], n, 4), pes=2, fmt="nm",
                                            n=2, m=4)) for n in (1, 2)]
    capacity = Capacity.for_shape([(10, 14), (5, 10)], pes=2, format="nm", index_bits=None,
                                  n=2, m=4)
    dut = Accelerator(capacity, kind=kind)
    load = {2 * i: load_words(network_image(p), capacity, kind) for i, p in enumerate(nm)}
    runs = simulate_network(dut, x, seed=1, idle=0.2, load=load)
    for i, p in enumerate(nm):
        _check(p, x[2 * i:2 * i + 2], runs[2 * i:2 * i + 2], queue_depth=4, kind=kind)

    books = [np.array([0, -90, -40, -7, 3, 25, 64, 127], dtype=np.int8),
             np.array([0, 1, -2, 4, -8, 16, -32, 100], dtype=np.int8)]
    shared = []
    for book in books:
        layers = []
        for q in random_model(rng, [14, 10, 5], 0.4).layers:
            codes = rng.integers(1, len(book), q.weight.shape) * (q.weight != 0)
            layers.append(QuantLayer(weight=book[codes], bias=q.bias, multiplier=q.multiplier,
                                     shift=q.shift, relu=q.relu, weight_scale=None,
                                     in_scale=1.0, out_scale=1.0, codebook=book))
        shared.append(packed(QuantModel(1.0, tuple(layers)), pes=2))
    capacity = Capacity.for_shape([(10, 14), (5, 10)], pes=2, value_bits=3, codebook=True)
    dut = Accelerator(capacity, kind=kind)
    load = {2 * i: load_words(network_image(p), capacity, kind) for i, p in enumerate(shared)}
    runs = simulate_network(dut, x, seed=2, idle=0.2, load=load)
    for i, p in enumerate(shared):
        _check(p, x[2 * i:2 * i + 2], runs[2 * i:2 * i + 2], queue_depth=4, kind=kind)


def test_a_model_that_does_not_fit_is_refused():
    a, _ = _models(3)
    image = network_image(a)
    small = Capacity.for_shape([(20, 12), (9, 20)], pes=3)  # two layers
    with pytest.raises(ValueError) as error:
        Accelerator(small, kind="sparse", image=image)
    assert str(error.value) == "The model has 3 layers; the hardware has 2"
    narrow = Capacity.for_shape([(16, 12), (9, 16), (5, 9)], pes=3)
    with pytest.raises(ValueError) as error:
        load_words(image, narrow, "dense")
    assert str(error.value) == "Layer 0 has 20 rows; the hardware has 16"


def test_verilog_depends_only_on_the_capacity():
    """One capacity, two models: the same Verilog text; baking either model changes it."""
    rng = np.random.default_rng(5)
    models = [packed(random_model(rng, [6, 5, 3], density), pes=2) for density in (0.2, 0.9)]
    capacities = [Capacity.for_shape([(5, 6), (3, 5)], pes=2) for _ in models]
    assert capacities[0] == capacities[1]
    for p in models:  # both fit
        capacities[0].check(network_image(p), "sparse")
    texts = [export_verilog(Accelerator(c, kind="sparse"), name="top") for c in capacities]
    assert texts[0] == texts[1]
    baked = [export_verilog(Accelerator(capacities[0], kind="sparse", image=network_image(p)),
                            name="top") for p in models]
    assert baked[0] != texts[0] and baked[0] != baked[1]


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_loaded_memories_have_no_contents_in_the_verilog(kind):
    """The memories the load port fills declare no initial contents, so the Verilog does not grow
    with their depth (LeNet-300-100's 66,600-word banks were 1.7 MB of zeros each); the
    accumulators, state of the design, keep theirs (zeros)."""
    shallow = Capacity.for_shape(SHAPES, pes=2)
    deep = dataclasses.replace(shallow, bank_depth=1 << 16, param_depth=4000, pointer_depth=3000)
    texts = [export_verilog(Accelerator(c, kind=kind), name="top") for c in (shallow, deep)]
    # address widths only: under 1 % of the text, where one bank's 2^16 words written out
    # would be 2^16 lines
    assert abs(len(texts[1]) - len(texts[0])) < len(texts[0]) // 100
    for text in texts:
        for memory in ("bank", "params") + (("pointers",) if kind == "sparse" else ()):
            assert re.search(r'\(\* contents = "loaded" \*\)\n  reg \[\d+:0\] %s ' % memory,
                             text), memory
            assert f"{memory}[0] = " not in text
        assert "accumulators[0] = 32'd0;" in text
    baked = export_verilog(Accelerator(shallow, kind=kind, image=network_image(_models(2)[0])),
                           name="top")
    assert "bank[0] = " in baked and 'contents = "loaded"' not in baked


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_baked_design_runs_without_loading_and_still_loads(kind):
    a, b = _models(2)
    capacity = Capacity.for_shape(SHAPES, pes=2)
    dut = Accelerator(capacity, kind=kind, image=network_image(a))
    x = random_inputs(np.random.default_rng(8), 4, 12)
    runs = simulate_network(dut, x, seed=4, idle=0.3,
                            load={2: load_words(network_image(b), capacity, kind)})
    _check(a, x[:2], runs[:2], queue_depth=4, kind=kind)
    _check(b, x[2:], runs[2:], queue_depth=4, kind=kind)


def test_a_cut_short_stream_leaves_the_design_idle_safe():
    """B's stream cut inside its first word writes nothing: the next runs are still A's, and the
    run's start drops the partial transfer, so B's full stream then loads cleanly."""
    a, b = _models(3)
    capacity = Capacity.for_shape(SHAPES, pes=3)
    dut = Accelerator(capacity, kind="sparse")
    words_b = load_words(network_image(b), capacity, "sparse")
    first = words_b[0] >> 24
    chunks = -(-memory_map(capacity, "sparse")[first].width // 32)
    assert chunks > 1, "the cut should fall inside a word"
    cut = words_b[:2 + chunks - 1]
    x = random_inputs(np.random.default_rng(9), 5, 12)
    runs = simulate_network(dut, x, seed=5, idle=0.3,
                            load={0: load_words(network_image(a), capacity, "sparse"), 1: cut,
                                  3: words_b})
    _check(a, x[:3], runs[:3], queue_depth=4, kind="sparse")
    _check(b, x[3:], runs[3:], queue_depth=4, kind="sparse")


def test_reset_returns_the_table_and_the_load_port_to_their_initial_values():
    """Reset clears the layer table (registers) and drops a partial transfer; the banks,
    pointers and parameters (RAM) keep the model, so reloading the table alone restores it."""
    a, _ = _models(2)
    image = network_image(a)
    capacity = Capacity.for_shape(SHAPES, pes=2)
    dut = Accelerator(capacity, kind="sparse")
    words = load_words(image, capacity, "sparse")
    table = words[:2 + words[1] * -(-memory_map(capacity, "sparse")[0].width // 32)]
    assert words[0] >> 24 == 0, "the layer table is the first transfer"
    rst = Signal()
    m = Module()
    m.submodules.dut = ResetInserter(rst)(dut)
    x = random_inputs(np.random.default_rng(10), 2, 12)
    logits = []

    async def stream(ctx, port, values):
        for value in values:
            ctx.set(port.payload, int(value))
            ctx.set(port.valid, 1)
            await ctx.tick().until(port.ready)
        ctx.set(port.valid, 0)

    async def infer(ctx, row):
        await stream(ctx, dut.input, row)
        ctx.set(dut.output.ready, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().until(dut.done)
        got = []
        for i in range(5):
            ctx.set(dut.logit_addr, i)
            got.append(ctx.get(dut.logit))
        logits.append(got)

    async def bench(ctx):
        await stream(ctx, dut.load, words)
        assert (ctx.get(dut.features), ctx.get(dut.classes)) == (12, 5)
        await infer(ctx, x[0])
        await stream(ctx, dut.load, words[:3])  # cut inside the table's first entry
        ctx.set(rst, 1)
        await ctx.tick()
        ctx.set(rst, 0)
        assert (ctx.get(dut.features), ctx.get(dut.classes)) == (0, 0)
        await ctx.tick().repeat(dut.clear_cycles)  # busy while the accumulators clear
        assert not ctx.get(dut.busy) and not ctx.get(dut.done) and ctx.get(dut.load.ready)
        await stream(ctx, dut.load, table)  # a header again: the partial transfer is gone
        assert (ctx.get(dut.features), ctx.get(dut.classes)) == (12, 5)
        await infer(ctx, x[1])

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    np.testing.assert_array_equal(logits, forward(a.model, x)[-1])


def test_an_empty_design_ignores_start_and_input_until_loaded():
    dut = Accelerator(Capacity.for_shape(SHAPES, pes=2), kind="sparse")

    async def bench(ctx):
        ctx.set(dut.start, 1)
        ctx.set(dut.input.valid, 1)
        await ctx.tick().repeat(dut.clear_cycles)  # the clear sweep after power-on
        for _ in range(5):
            assert ctx.get(dut.load.ready) and not ctx.get(dut.input.ready)
            await ctx.tick()
            assert not ctx.get(dut.busy) and not ctx.get(dut.done)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
