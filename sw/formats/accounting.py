"""Where the bits of a ``model.bin`` go, per layer: what ``secateurs inspect`` and the benchmark report.

Per layer, the format's own breakdown (values, index, fillers) and everything else in its two
sections as metadata (pointers or counts, codebook, biases, multipliers, header, framing), so
the parts add up to the file. Compression is against the dense float32 layer (weights and
biases); the Huffman column is Deep Compression's storage figure (values and indices coded).
"""

from __future__ import annotations

from dataclasses import asdict

from . import format_of
from .container import PackedModel
from .huffman import coded_bits, table_bits

__all__ = ["layer_storage", "model_storage", "FP32_BITS"]

FP32_BITS = 32  #: the dense baseline stores every weight and bias as float32


def _huffman_bits(layer, fixed_bits: int) -> int:
    """The layer's value and index streams Huffman-coded (with their tables), instead of fixed."""
    streams = format_of(layer).symbols(layer).values()
    coded = sum(coded_bits(fields) + table_bits(width) for fields, width in streams if len(fields))
    return min(coded, fixed_bits)  # a coder would store a stream raw if coding did not pay


def layer_storage(q, layer, section_bytes: int) -> dict:
    """One layer's storage breakdown (bits and bits per nonzero) and compression."""
    f = format_of(layer)
    size = f.size_bits(layer)
    nonzeros = layer.nonzeros
    stream_bits = size.values + size.index + size.fillers
    bits = {**asdict(size), "metadata": 8 * section_bytes - stream_bits, "total": 8 * section_bytes}
    dense = FP32_BITS * (q.rows * q.cols + q.rows)
    huffman = bits["total"] - stream_bits + _huffman_bits(layer, stream_bits)
    description = f.describe(layer)
    return {
        "format": f.name, "payload": layer.payload.name, "shape": [q.rows, q.cols],
        "nonzeros": nonzeros, "density": nonzeros / (q.rows * q.cols),
        **{k: description[k] for k in ("pes", "index_bits", "n", "m", "words", "fillers")
           if k in description},
        "bits": bits,
        "bits_per_nonzero": {k: (v / nonzeros if nonzeros else None) for k, v in bits.items()},
        "bytes": section_bytes,
        "dense_fp32_bytes": dense // 8,
        "compression": dense / bits["total"],
        "huffman_bits": huffman,
        "huffman_compression": dense / huffman,
    }


def model_storage(packed: PackedModel) -> dict:
    """Every layer's storage and the file's totals."""
    layers = [layer_storage(q, l, b) for q, l, b in
              zip(packed.model.layers, packed.layers, packed.layer_bytes)]
    dense = sum(8 * l["dense_fp32_bytes"] for l in layers)
    nonzeros = sum(l["nonzeros"] for l in layers)
    file_bits = 8 * packed.file_bytes
    huffman = file_bits - sum(l["bits"]["total"] - l["huffman_bits"] for l in layers)
    return {
        "bytes": packed.file_bytes, "nonzeros": nonzeros,
        "density": nonzeros / sum(l["shape"][0] * l["shape"][1] for l in layers),
        "bits_per_nonzero": file_bits / nonzeros if nonzeros else None,
        "dense_fp32_bytes": dense // 8, "compression": dense / file_bits,
        "huffman_bytes": -(-huffman // 8), "huffman_compression": dense / huffman,
        "layers": layers,
    }
