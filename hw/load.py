"""The load port: how a host writes a model into the accelerator's memories.

The Verilog depends only on the :class:`~.capacity.Capacity`; every weight, pointer,
requantization parameter, codebook and layer constant is written at run time through ``load``,
a valid/ready stream of 32-bit words (``load__valid``, ``load__ready``, ``load__payload`` on the
Verilog top). :func:`load_words` gives the whole model as that stream.

Protocol
--------
A stream is a sequence of *transfers*, each:

1. a header word: bits 31..24 the target memory id, bits 23..0 the address of the first word;
2. a count word: bits 23..0 the number N of memory words that follow (0: none; bits 31..24
   are ignored);
3. N memory words at consecutive addresses, each sent as ``ceil(width / 32)`` 32-bit chunks,
   least significant first (the last chunk's unused high bits are ignored).

Targets (the memory map, :func:`~.memories.memory_map`; widths follow from the capacity):

=============  ===========================================================================
id             memory (address unit)
=============  ===========================================================================
0              layer table: one :func:`~.memories.layer_config` word per layer (rows, cols,
               rows per PE, shift, ReLU, last, pointer/parameter/dense bases, groups, the
               nonempty-column mask, ``raw``: the last layer streams raw accumulators); the
               network's layer count, inputs, outputs and readout follow
1              parameters: ``(bias, multiplier)`` per output row of every layer
2              pointers (sparse design only): CSC block pointer words / N:M group pointers
3              codebooks (sparse design with codebook words only): one table per layer
4              patch table (a capacity with conv layers): per patch column of every conv
               layer, its input's offset from the position's corner and its ky, kx
0x80 + p       weight bank of PE p (0 <= p < P)
=============  ===========================================================================

``ready`` is high while the accelerator is idle (not ``busy``): writes happen only between
runs, never during one. A memory word is written on the edge its last chunk is taken. A word
for an unknown target or past its memory's depth is consumed (one chunk per word for an unknown
target) and dropped. A stream cut short leaves the words already completed written and the rest
unchanged; the accelerator stays idle and runnable, and a run's ``start`` drops the partial
transfer, so the next word is a header again. Reset does the same, and returns the layer table
and codebooks (registers) to their initial values (zero, or the baked model's); the banks,
pointers and parameters are RAM and keep their contents, so a host reloads after a reset.

Cost: one cycle per 32-bit word, before ``start``; loading is not part of a run's cycles
(``sw/cycles.py`` counts from the launch edge). A design built with ``image=`` (a baked,
self-contained bitstream) starts with the model in its memories and needs no load.
"""

from __future__ import annotations

from .core.loader import chunks
from .memories import (BANK, CODEBOOKS, LAYER_TABLE, PARAMETERS, PATCHES, POINTERS, memory_images,
                       memory_map)
from .params import LOAD_ADDRESS_BITS as ADDRESS_BITS
from .params import LOAD_COUNT_BITS as COUNT_BITS
from .params import LOAD_TARGET_BITS as TARGET_BITS
from .params import LOAD_WORD_BITS

__all__ = ["LAYER_TABLE", "PARAMETERS", "POINTERS", "CODEBOOKS", "PATCHES", "BANK", "header",
           "transfer",
           "load_words"]

_WORD_MASK = (1 << LOAD_WORD_BITS) - 1


def header(target: int, address: int = 0) -> int:
    """The header word of a transfer to ``target`` starting at ``address``."""
    if not isinstance(target, int) or not 0 <= target < 1 << TARGET_BITS:
        raise ValueError(f"Load target must be an integer in 0..{(1 << TARGET_BITS) - 1}, "
                         f"not {target!r}")
    if not isinstance(address, int) or not 0 <= address < 1 << ADDRESS_BITS:
        raise ValueError(f"Load address must be an integer in 0..{(1 << ADDRESS_BITS) - 1}, "
                         f"not {address!r}")
    return target << ADDRESS_BITS | address


def transfer(target: int, words, *, width: int, address: int = 0) -> list[int]:
    """One transfer: header, count and ``words`` (raw integers ``width`` bits wide) in chunks."""
    words = [int(w) for w in words]
    if len(words) >= 1 << COUNT_BITS:
        raise ValueError(f"A transfer holds at most {(1 << COUNT_BITS) - 1} words, "
                         f"not {len(words)}")
    out = [header(target, address), len(words)]
    n = chunks(width)
    for word in words:
        if not 0 <= word < 1 << width:
            raise ValueError(f"Word {word:#x} is wider than {width} bits")
        out.extend(word >> (LOAD_WORD_BITS * k) & _WORD_MASK for k in range(n))
    return out


def load_words(image, capacity, kind: str, readout: str = "logits") -> list[int]:
    """The whole model ``image`` as the ``kind`` design of ``capacity`` loads it, its last layer
    read out as ``readout`` ("logits", or raw "accumulators": the layer table's ``raw`` bit): one
    transfer per memory, from address 0 (``capacity.check`` first: a model that does not fit is
    refused with ValueError)."""
    images = memory_images(image, capacity, kind, readout)
    specs = memory_map(capacity, kind)
    out = []
    for target, words in images.items():
        out.extend(transfer(target, words, width=specs[target].width))
    return out
