"""The load port's decoder: a stream of 32-bit words in, one memory write a word out.

The protocol (header, count, words in 32-bit chunks LSB first) is documented in :mod:`..load`.
Each memory owner picks its writes off the shared :class:`WriteSignature` bus by target id
(:func:`connect_write`); the decoder drops a word whose target it does not know or whose address
is past the memory's depth, so a bad transfer can never write out of place.
"""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import LOAD_ADDRESS_BITS as ADDRESS_BITS
from ..params import LOAD_COUNT_BITS as COUNT_BITS
from ..params import LOAD_TARGET_BITS as TARGET_BITS
from ..params import LOAD_WORD_BITS, check_positive

__all__ = ["WriteSignature", "chunks", "Loader", "connect_write", "register_writes"]


class WriteSignature(wiring.Signature):
    """One memory word written on this edge: ``target`` memory, ``addr`` and ``data`` (as wide
    as the widest memory; each takes its own low bits)."""

    def __init__(self, *, addr_bits: int, data_bits: int):
        self.addr_bits = check_positive("Address width", addr_bits)
        self.data_bits = check_positive("Data width", data_bits)
        super().__init__({
            "en": Out(1),
            "target": Out(TARGET_BITS),
            "addr": Out(addr_bits),
            "data": Out(data_bits),
        })

    def __eq__(self, other):
        return (type(other) is WriteSignature
                and (self.addr_bits, self.data_bits) == (other.addr_bits, other.data_bits))

    def __hash__(self):
        return hash((self.addr_bits, self.data_bits))

    def __repr__(self):
        return f"WriteSignature(addr_bits={self.addr_bits}, data_bits={self.data_bits})"

    @classmethod
    def of(cls, specs: dict) -> "WriteSignature":
        """The bus of a memory map (target id → :class:`~..memories.MemorySpec`)."""
        return cls(addr_bits=max(max(s.depth for s in specs.values()) - 1, 1).bit_length(),
                   data_bits=max(s.width for s in specs.values()))


def chunks(width: int) -> int:
    """32-bit chunks of one memory word ``width`` bits wide."""
    return -(-width // LOAD_WORD_BITS)


class Loader(wiring.Component):
    """The decoder of the load stream for the memory map ``specs``.

    ``load`` is ready while ``enable`` is high (the accelerator is idle); ``restart`` (a run
    starts) drops a partial transfer, so the next word is a header again.
    """

    def __init__(self, specs: dict):
        if not specs:
            raise ValueError("A loader needs at least one memory")
        self._specs = dict(specs)
        self._chunks = max(chunks(s.width) for s in self._specs.values())
        super().__init__({
            "load": In(stream.Signature(unsigned(LOAD_WORD_BITS))),
            "enable": In(1),
            "restart": In(1),
            "write": Out(WriteSignature.of(self._specs)),
        })

    def elaborate(self, platform):
        m = Module()
        word = self.load.payload
        target = Signal(TARGET_BITS)
        addr = Signal(ADDRESS_BITS)
        left = Signal(COUNT_BITS)  # memory words still to come
        chunk = Signal(range(self._chunks))  # chunk of the current word this one is
        held = Signal(max(1, (self._chunks - 1) * LOAD_WORD_BITS))  # its earlier chunks
        last_chunk = Signal(range(self._chunks))
        in_range = Signal()  # the current word's target exists and its address is inside
        for t, spec in self._specs.items():
            with m.If(target == t):
                m.d.comb += [last_chunk.eq(chunks(spec.width) - 1), in_range.eq(addr < spec.depth)]

        taken = Signal()
        m.d.comb += [self.load.ready.eq(self.enable & ~self.restart),
                     taken.eq(self.load.valid & self.load.ready)]
        with m.FSM():
            with m.State("HEADER"):
                m.d.sync += held.eq(0)
                with m.If(taken):
                    m.d.sync += [target.eq(word[ADDRESS_BITS:]), addr.eq(word[:ADDRESS_BITS])]
                    m.next = "COUNT"
            with m.State("COUNT"):
                with m.If(taken):
                    m.d.sync += [left.eq(word[:COUNT_BITS]), chunk.eq(0)]
                    with m.If(word[:COUNT_BITS] != 0):
                        m.next = "DATA"
                    with m.Else():
                        m.next = "HEADER"
                with m.If(self.restart):
                    m.next = "HEADER"
            with m.State("DATA"):
                with m.If(taken & (chunk == last_chunk)):
                    m.d.comb += [
                        self.write.en.eq(in_range),
                        self.write.target.eq(target),
                        self.write.addr.eq(addr),
                        self.write.data.eq(held | (word << (chunk * LOAD_WORD_BITS))),
                    ]
                    # the next word's chunks land in a cleared register, so a narrower word
                    # never picks up a wider one's high chunks
                    m.d.sync += [addr.eq(addr + 1), left.eq(left - 1), chunk.eq(0), held.eq(0)]
                    with m.If(left == 1):
                        m.next = "HEADER"
                if self._chunks > 1:
                    with m.Elif(taken):
                        m.d.sync += [held.word_select(chunk, LOAD_WORD_BITS).eq(word),
                                     chunk.eq(chunk + 1)]
                with m.If(self.restart):
                    m.next = "HEADER"
        return m


def connect_write(m: Module, bus, target: int, port) -> None:
    """Drive memory write ``port`` (``en``, ``addr``, ``data``) from ``bus``'s writes to
    ``target``."""
    m.d.comb += [
        port.en.eq(bus.en & (bus.target == target)),
        port.addr.eq(bus.addr),
        port.data.eq(bus.data),
    ]


def register_writes(m: Module, bus, target: int, registers: list) -> None:
    """Write ``registers[addr]`` (a register file) from ``bus``'s writes to ``target``."""
    for a, register in enumerate(registers):
        with m.If(bus.en & (bus.target == target) & (bus.addr == a)):
            m.d.sync += register.eq(bus.data)
