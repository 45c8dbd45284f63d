"""Formats benchmark: bits per nonzero of every format, and the digits MLP compressed end to end.

Part 1 packs LeNet-300-100-shaped layers at densities 0.5 … 0.01 — random masks, and the masks
global magnitude pruning gives the trained digits model — with 4-bit shared-weight values (EIE's
setting), beside the analytic cost of each format (:mod:`secateurs.sw.formats.bounds`).
Part 2 is Deep Compression's pipeline on the digits LeNet-300-100: prune (iterative, fine-tuned),
quantize, share weights (k-means + centroid fine-tuning), pack; accuracy and size after each step.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from secateurs import pipeline
from secateurs.config import (DataConfig, FlowConfig, LayerDensity, ModelConfig, PruneConfig,
                              QuantConfig, TrainConfig)
from secateurs.sw import prune
from secateurs.sw.data import load_dataset
from secateurs.sw.formats import FORMATS, Options, bounds, codebook, container
from secateurs.sw.formats.accounting import FP32_BITS, model_storage
from secateurs.sw.formats.huffman import coded_bits, table_bits
from secateurs.sw.models import linear_layers
from secateurs.sw.prune.retrain import prune_and_retrain
from secateurs.sw.quantize import quantize
from secateurs.sw.reference import predict
from secateurs.sw.train import accuracy

from .sections import write_section

SEED = 0
HIDDEN = (300, 100)  #: LeNet-300-100, Deep Compression's MLP
DENSITIES = (0.5, 0.25, 0.1, 0.05, 0.01)
NM_AT = {0.5: (2, 4), 0.25: (1, 4), 0.1: (1, 10)}  #: N:M with M <= 16 reaching each density
CODE_BITS = 4  #: EIE's shared-weight index width
HW_PES, HW_INDEX_BITS = 4, 4  #: the accelerator's default banks
#: End-to-end recipe: 6 % of the weights overall, the small last layer kept at 30 %.
E2E_PRUNE = PruneConfig(density=0.06, schedule="geometric", steps=3, finetune_epochs=20,
                        layers=(LayerDensity(-1, 0.3),))
E2E_CODEBOOKS = (4, 3)
CENTROID_EPOCHS = 10
ACCURACY_BUDGET = 0.01  #: at most one point below the dense model
GOAL = 40.0  #: Deep Compression's LeNet-300-100 figure
TORCH_THREADS = 1  #: the digits MLP is too small for threads to pay; one keeps runs repeatable


def _dense_model(data):
    model, _ = pipeline.train_model(FlowConfig(seed=SEED, model=ModelConfig(hidden=HIDDEN)), data)
    return model


# --- part 1: bits per nonzero -------------------------------------------------------------------

def _random_weights(shapes, density, table, rng, nm=None):
    layers = []
    for rows, cols in shapes:
        w = rng.choice(table[1:], (rows, cols))
        if nm is None:
            keep = rng.random((rows, cols)) < density
        else:
            n, m = nm
            groups = -(-cols // m)
            scores = rng.random((rows, groups, m)).argsort(-1).argsort(-1) < n
            keep = scores.reshape(rows, groups * m)[:, :cols]
        layers.append(np.where(keep, w, 0))
    return layers


def _real_weights(model, data, density, nm=None):
    """The trained model pruned by magnitude to ``density`` (or N:M), shared with 4-bit codes."""
    m = copy.deepcopy(model)
    if nm is None:
        prune.prune(m, density=density, seed=SEED)
    else:
        prune.prune(m, density=nm[0] / nm[1], structure="nm",
                    options=prune.StructureOptions(n=nm[0], m=nm[1]), seed=SEED)
    prune.squash(prune.prunable(m))
    q = quantize(m, data, QuantConfig(codebook_bits=CODE_BITS), seed=SEED).model
    return [l.weight.astype(np.int64) for l in q.layers], [codebook(l.codebook) for l in q.layers]


def _bits_per_nonzero(weights, payloads, fmt, options, huffman=False) -> tuple[float, set]:
    f = FORMATS[fmt]
    total, nonzeros, widths = 0, 0, set()
    for w, payload in zip(weights, payloads):
        layer = f.pack(w, payload, options)
        size = f.size_bits(layer)
        if huffman:
            streams = f.symbols(layer).values()
            coded = sum(coded_bits(s) + table_bits(width) for s, width in streams if len(s))
            total += size.metadata + min(coded, size.total - size.metadata)
        else:
            total += size.total
        nonzeros += int(np.count_nonzero(w))
        widths.add(getattr(layer, "index_bits", None))
    return total / nonzeros, widths


def _analytic(shapes, weights, fn) -> float:
    """Nonzero-weighted mean of an analytic bits-per-nonzero over the layers."""
    counts = [int(np.count_nonzero(w)) for w in weights]
    return sum(fn(rows, cols) * c for (rows, cols), c in zip(shapes, counts)) / sum(counts)


def bits_table(model, data) -> str:
    shapes = [tuple(l.weight.shape) for l in linear_layers(model)]
    rng = np.random.default_rng(SEED)
    table = np.array([0, *rng.choice(np.setdiff1d(np.arange(-127, 128), [0]), 15, replace=False)])
    rows: dict[str, list[str]] = {}
    v = CODE_BITS
    for density in DENSITIES:
        random = _random_weights(shapes, density, table, rng)
        real, real_payloads = _real_weights(model, data, density)
        for source, weights, payloads in (("random", random, [codebook(table)] * len(random)),
                                          ("real", real, real_payloads)):
            d = sum(int(np.count_nonzero(w)) for w in weights) / sum(w.size for w in weights)

            def cell(fmt, options=Options(), huffman=False, show_r=False):
                bits, widths = _bits_per_nonzero(weights, payloads, fmt, options, huffman)
                return f"{bits:.2f}" + (f" (r={'/'.join(map(str, sorted(widths)))})" if show_r else "")

            best = _analytic(shapes, weights, lambda r, c: bounds.best_csc_bits(d, r, v)[0])
            best_r = bounds.best_csc_bits(d, max(s[0] for s in shapes), v)[1]
            entries = {
                "dense": cell("dense"),
                "bitmap": cell("bitmap"),
                "bitmap, analytic": f"{bounds.bitmap_bits(d, v):.2f}",
                "CSR (absolute column index)": cell("csr"),
                "CSR, analytic": f"{_analytic(shapes, weights, lambda r, c: bounds.csr_bits(d, r, c, v)):.2f}",
                "CSC rel-r, P=1, best r": cell("csc", show_r=True),
                "CSC rel-r, analytic, best r": f"{best:.2f} (r={best_r})",
                "CSC rel-r, P=1, best r, Huffman-coded": cell("csc", huffman=True),
                f"CSC rel-r, P={HW_PES}, r={HW_INDEX_BITS} (accelerator)":
                    cell("csc", Options(pes=HW_PES, index_bits=HW_INDEX_BITS)),
                "EIE (4-bit value + 4-bit index)": f"{bounds.EIE_BITS:.2f}",
            }
            if density in NM_AT:
                n, m = NM_AT[density]
                if source == "random":
                    nm_weights, nm_payloads = _random_weights(shapes, density, table, rng, (n, m)), payloads
                else:
                    nm_weights, nm_payloads = _real_weights(model, data, density, (n, m))
                bits, _ = _bits_per_nonzero(nm_weights, nm_payloads, "nm", Options(n=n, m=m))
                entries[f"N:M (structured: {', '.join(f'{a}:{b}' for a, b in NM_AT.values())})"] = \
                    f"{bits:.2f} ({n}:{m})"
            else:
                entries[f"N:M (structured: {', '.join(f'{a}:{b}' for a, b in NM_AT.values())})"] = "—"
            for name, value in entries.items():
                rows.setdefault(name, []).append(value)
    header = "| format | " + " | ".join(f"{d:g} {s}" for d in DENSITIES for s in ("random", "real")) + " |"
    lines = [header, "|---" * (1 + 2 * len(DENSITIES)) + "|"]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows.items()]
    return "\n".join(lines)


# --- part 2: end to end ---------------------------------------------------------------------------

def _pruned_fp32_bytes(model) -> int:
    """Pruned float model in CSC rel-r (P=1, best r) with 32-bit values, biases in fp32."""
    csc, bits = FORMATS["csc"], 0
    for layer in linear_layers(model):
        mask = (layer.weight.detach().numpy() != 0).astype(np.int64)
        sizes = []
        for r in range(1, 9):
            packed = csc.pack(mask, codebook([0, 1]), Options(index_bits=r))
            counts = csc.size_bits(packed).metadata - packed.payload.table_bits
            sizes.append(packed.n_words() * (FP32_BITS + r) + counts)
        bits += min(sizes) + FP32_BITS * layer.bias.numel()
    return -(-bits // 8)


def end_to_end(data, dense_model) -> tuple[str, str, dict]:
    dense_accuracy = accuracy(dense_model, data.test)
    dense_bytes = FP32_BITS * sum(p.numel() for p in dense_model.parameters()) // 8
    model = copy.deepcopy(dense_model)
    start = time.perf_counter()
    prune_and_retrain(model, data, E2E_PRUNE, TrainConfig(), seed=SEED)
    prune.squash(prune.prunable(model))
    pruned_accuracy, density = accuracy(model, data.test), prune.density_of(model)
    rows = [("dense fp32", dense_accuracy, 1.0, dense_bytes, None),
            (f"pruned (fp32 values in CSC), density {density:.3f}", pruned_accuracy, density,
             _pruned_fp32_bytes(model), None)]
    results = {}

    def packed(label, cfg, **pack):
        m = copy.deepcopy(model)
        q = quantize(m, data, cfg, seed=SEED)
        storage = model_storage(container.decode(container.encode(q.model, **pack)))
        acc = float((predict(q.model, data.test.x) == data.test.y).mean())
        rows.append((label, acc, density, storage["bytes"], storage))
        results[label] = (acc, storage)
        return q

    packed("quantized int8 per channel, CSC P=1 best r", QuantConfig(), pes=1, index_bits=None)
    for bits in E2E_CODEBOOKS:
        packed(f"shared {bits}-bit codebook (+{CENTROID_EPOCHS} epochs centroid fine-tuning), "
               f"CSC P=1 best r", QuantConfig(codebook_bits=bits, centroid_epochs=CENTROID_EPOCHS),
               pes=1, index_bits=None)
    bits = E2E_CODEBOOKS[-1]
    packed(f"shared {bits}-bit codebook, packed for the accelerator (P={HW_PES}, r={HW_INDEX_BITS})",
           QuantConfig(codebook_bits=bits, centroid_epochs=CENTROID_EPOCHS), pes=HW_PES,
           index_bits=HW_INDEX_BITS)
    seconds = time.perf_counter() - start

    lines = ["| step | test accuracy | Δ vs dense (points) | density | bytes | compression | "
             "Huffman-coded compression |", "|---|---|---|---|---|---|---|"]
    for label, acc, d, size, storage in rows:
        huffman = f"{storage['huffman_compression']:.1f}×" if storage else "—"
        lines.append(f"| {label} | {acc:.4f} | {100 * (acc - dense_accuracy):+.2f} | {d:.3f} | "
                     f"{size} | {dense_bytes / size:.1f}× | {huffman} |")
    eligible = [(s["compression"], label, acc, s) for label, (acc, s) in results.items()
                if acc >= dense_accuracy - ACCURACY_BUDGET]
    if eligible:
        ratio, label, acc, storage = max(eligible, key=lambda e: e[0])
        mark = "✔" if ratio >= GOAL else "✘"
        verdict = (f"{mark} Best within {100 * ACCURACY_BUDGET:.0f} point of dense "
                   f"({dense_accuracy:.4f}): **{ratio:.1f}×** fixed-width, "
                   f"{storage['huffman_compression']:.1f}× Huffman-coded ({label}, accuracy "
                   f"{acc:.4f}); goal ≥ {GOAL:.0f}× (Deep Compression, LeNet-300-100 on MNIST).")
        final = storage
    else:
        verdict = "✘ No packed model stayed within 1 point of the dense accuracy."
        final = rows[-1][4]
    detail = ["| layer | shape | density | format | value | index | fillers | metadata | bits/nz | bytes |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for i, l in enumerate(final["layers"]):
        per = l["bits_per_nonzero"]
        detail.append(f"| {i} | {l['shape'][0]}×{l['shape'][1]} | {l['density']:.3f} | "
                      f"{l['format']} {l['payload']} r={l.get('index_bits')} P={l.get('pes')} | "
                      + " | ".join(f"{per[k]:.2f}" for k in ("values", "index", "fillers", "metadata", "total"))
                      + f" | {l['bytes']} |")
    return "\n".join(lines) + f"\n\n{verdict} Pipeline time {seconds:.0f} s.", "\n".join(detail), results


def main() -> None:
    torch.set_num_threads(TORCH_THREADS)
    start = time.perf_counter()
    data = load_dataset(DataConfig(), SEED)
    dense_model = _dense_model(data)
    table = bits_table(dense_model, data)
    e2e, detail, _ = end_to_end(data, dense_model)
    seconds = time.perf_counter() - start
    markdown = f"""## Formats: bits per nonzero and end-to-end storage

`python -m bench formats` ({seconds:.0f} s on this machine). Digits (scikit-learn 8×8), LeNet-300-100
(64-300-100-10), seed {SEED}. Storage counts every bit the format keeps for the weights: values, index
fields, fillers / padding / stored zeros, and metadata (per-PE column counts or row counts, the codebook).

### Bits per nonzero, 4-bit shared-weight values

The three layers together (300×64, 100×300, 10×100). *random*: uniform masks at the density;
*real*: global magnitude pruning of the trained dense model (values shared by k-means).
Analytic rows are the expected cost for independent nonzeros in columns of the layers' lengths
(`sw/formats/bounds.py`; counts one bit wider than their mean); EIE stores 4 + 4 bits per entry
before fillers and pointers. The CSC r chosen per layer is in parentheses. N:M rows use N:M masks
of that density (magnitude N:M pruning for *real*); its fillers are padding slots, where k-means
rounded a tiny centroid to the int8 zero.

{table}

### Digits LeNet-300-100, end to end (Deep Compression's pipeline)

Pruning: {E2E_PRUNE.schedule} magnitude pruning in {E2E_PRUNE.steps} steps to
{E2E_PRUNE.density:g} overall (last layer {E2E_PRUNE.layers[0].density:g}),
{E2E_PRUNE.finetune_epochs} fine-tuning epochs per step. Sizes are whole `model.bin` files
(headers, biases, multipliers, codebooks, counts included); the dense size is fp32 weights and
biases. Accuracy is the integer reference model's (bit-exact with the hardware).

{e2e}

Where the bits of the best model go (`secateurs inspect`):

{detail}
"""
    write_section("formats", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
