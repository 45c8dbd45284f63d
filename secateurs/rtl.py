"""The hardware of a configuration, as the flow and the CLI write it: one capacity, two designs.

The capacity comes from the network's layer shapes and its packing (word format, index bits,
value bits, codebook) and the hardware configuration, never from a model's weights, so every
model of those shapes (any density, any sweep point) runs on the same Verilog and the same
builds. The model travels beside the Verilog as its load words (:mod:`secateurs.hw.load`), one
file per design; ``bake=True`` instead writes the ROM-initialised variant that needs no load.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import atomic
from .config import HardwareConfig
from .errors import InputError

__all__ = ["LOAD_FILES", "hardware_image", "capacity_for", "write_rtl"]

#: The load words of the model for each design, one 8-hex-digit 32-bit word a line, in stream
#: order (``$readmemh`` reads it; the simulation feeder streams the same format).
LOAD_FILES = {"sparse": "model.sparse.load", "dense": "model.dense.load"}


def hardware_image(model):
    """The :class:`~secateurs.hw.image.NetworkImage` of ``model`` (a decoded model.bin, or an
    image, returned as it is): every layer's words and requantization, and each conv layer's
    geometry as the address generator walks it. InputError, one line naming the layer, for a
    layer the accelerator cannot run."""
    from .hw.image import NetworkImage, network_image

    if isinstance(model, NetworkImage):
        return model
    try:
        return network_image(model)
    except ValueError as e:
        raise InputError(f"model.bin cannot run on the accelerator: {e}") from None


def capacity_for(model, hw: HardwareConfig):
    """The :class:`~secateurs.hw.capacity.Capacity` of hardware ``hw`` for networks of
    ``model``'s layer shapes, conv geometries and word format (a model.bin or its image): it
    holds every model of those shapes and that packing, whatever its weights."""
    from .hw.capacity import Capacity

    image = hardware_image(model)
    if image.pes != hw.pes:
        raise InputError(f"the model is packed for {image.pes} PEs but the hardware has {hw.pes}")
    words = Capacity._format_of(image)
    try:
        return Capacity.for_shape([(layer.rows, layer.cols) for layer in image.layers],
                                  convs=[layer.conv for layer in image.layers],
                                  pes=hw.pes, **words, value_bits=image.value_bits,
                                  codebook=image.codebook, queue_depth=hw.queue_depth,
                                  issue_width=hw.issue_width, acc_bits=hw.acc_bits)
    except ValueError as e:
        raise InputError(f"cannot size the accelerator: {e}") from None


def write_rtl(out: str | Path, image, hw: HardwareConfig, *, bake: bool = False) -> dict:
    """Both designs of ``image``'s capacity in ``out`` (linted, read by Yosys), and the model's
    load words for each (:data:`LOAD_FILES`); with ``bake``, the model baked into the memories
    instead (no load files). Returns ``accelerators.json``: each design's file, top and
    parameters, its load file, and the capacity. ValueError if a design fails its checks;
    InputError if the model does not fit."""
    from .hw.build.lint import write_checked_accelerators
    from .hw.load import load_words

    out = Path(out)
    image = hardware_image(image)
    capacity = capacity_for(image, hw)
    try:
        words = {kind: load_words(image, capacity, kind) for kind in LOAD_FILES}
    except ValueError as e:
        raise InputError(f"the model does not fit the accelerator: {e}") from None
    described = write_checked_accelerators(out, capacity, image=image if bake else None)
    described["capacity"] = capacity.as_dict()
    described["baked"] = bake
    for kind, name in LOAD_FILES.items():
        described[kind]["load"] = None if bake else name
        if not bake:
            atomic.write_text(out / name, "".join(f"{w:08x}\n" for w in words[kind]))
    atomic.write_text(out / "accelerators.json", json.dumps(described, indent=2) + "\n")
    return described
