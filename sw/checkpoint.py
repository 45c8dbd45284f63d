"""The integer model between the quantize and pack steps, as a plain ``.npz`` (no pickle)."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from ..atomic import write_bytes
from .conv import ConvGeometry, Pool
from .reference import QuantLayer, QuantModel

#: Array fields of a layer; the optional ones are absent from the file when None.
ARRAYS = ("weight", "bias", "multiplier", "weight_scale", "codebook")


def save_quant_model(path: str | Path, model: QuantModel) -> None:
    arrays: dict[str, np.ndarray] = {}
    scalars = []
    for i, layer in enumerate(model.layers):
        for name in ARRAYS:
            value = getattr(layer, name)
            if value is not None:
                arrays[f"{i}.{name}"] = np.asarray(value)
        scalars.append({f.name: getattr(layer, f.name) for f in fields(layer)
                        if f.name not in ARRAYS and f.name != "geometry"})
        if layer.geometry is not None:
            scalars[-1]["geometry"] = asdict(layer.geometry)
    header = {"input_scale": model.input_scale, "layers": scalars}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes(path, buffer.getvalue())


def load_quant_model(path: str | Path) -> QuantModel:
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(f["header"].tobytes())
        layers = []
        for i, scalars in enumerate(header["layers"]):
            arrays = {n: f[f"{i}.{n}"] if f"{i}.{n}" in f else None for n in ARRAYS}
            geometry = scalars.pop("geometry", None)
            layers.append(QuantLayer(**arrays, **scalars, geometry=_geometry(geometry)))
    return QuantModel(input_scale=header["input_scale"], layers=tuple(layers))


def _geometry(values: dict | None) -> ConvGeometry | None:
    """A conv layer's geometry from its JSON form (tuples came back as lists)."""
    if values is None:
        return None
    pool = values.pop("pool")
    pairs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return ConvGeometry(**pairs, pool=None if pool is None else Pool(
        pool["kind"], tuple(pool["size"]), tuple(pool["stride"])))
