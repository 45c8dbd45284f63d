"""A processing element of the whole-network accelerator: weight bank, value decode, MAC into RAM.

One bank address may be issued per cycle with its activation; the word comes back a cycle later
and is registered (the RAM's slow output ends in a flip-flop); the next cycle its row is decoded
and the product registered; the next adds it into the row's accumulator. Here the accumulators
live in a RAM (one read, one write port) so that a PE holds every row of the widest layer: the
add reads the row on the decode cycle and writes it back the cycle after. The read port is transparent to the write port, so a row written on one
edge and read on the same edge (the last word of a column and the first of the next hitting the
same row) sees the new sum. Between layers the host side reads each row out (``drain``) and
writes it back to zero (``clear``), so every layer starts from zero accumulators.

The value path decodes a word's ``value`` field into an int8 weight: as it is (int8 words), or
through the current layer's codebook, given on ``codebook`` (the field is then an unsigned code).

The bank is a single-port RAM written through ``write`` (the load port, between runs; a write
takes the port's one address, and the read holds); ``init`` makes it start with a model's words
(a baked design).
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..layout import codebook_table
from ..params import ACT_BITS, WEIGHT_BITS, check_positive, loaded_attrs

__all__ = ["IssueSignature", "BankWriteSignature", "ProcessingElement"]

#: Yosys's RAM kind of the iCE40 UltraPlus SPRAM (16k x 16, single port, no initial contents).
SPRAM_STYLE = {"ram_style": "huge"}


def _bank_attrs(platform, init) -> dict:
    """On an iCE40 UltraPlus, an empty (loadable) bank goes to SPRAM: Yosys would pick block RAM
    by cost, of which the UP5K has only 30 x 4 kbit against 4 x 256 kbit of SPRAM."""
    device = str(getattr(platform, "device", ""))
    spram = device.startswith("iCE40UP") and not init
    return {**loaded_attrs(init), **(SPRAM_STYLE if spram else {})}



class IssueSignature(wiring.Signature):
    """One bank read per cycle, with the activation its word multiplies.

    ``first`` marks the first word of a column: its ``zeros`` counts from local row 0.
    """

    def __init__(self, *, bank_depth: int):
        super().__init__({
            "valid": Out(1),
            "addr": Out(range(bank_depth)),
            "first": Out(1),
            "x": Out(signed(ACT_BITS)),
        })


class BankWriteSignature(wiring.Signature):
    """A write of one bank word."""

    def __init__(self, *, depth: int, width: int):
        super().__init__({"en": Out(1), "addr": Out(range(depth)), "data": Out(width)})


class ProcessingElement(wiring.Component):
    """Weight bank of ``bank_depth`` words of ``word`` layout, ``local_rows`` accumulators in RAM.

    Parameters
    ----------
    word : data.StructLayout
        Bank word: a ``value`` field (``code`` with codebooks) and, for CSC, a ``zeros`` field
        (absent: every word lands on the next local row, as the dense twin's do).
    bank_depth : int
        Words of the bank.
    init : list of int
        Raw words the bank starts with (the rest are 0).
    codebook : bool
        The value field is a code; the current layer's table comes on ``codebook``.
    group : int or None
        N:M words (a ``position`` field): the M activations of the group come on ``xs`` and the
        local row on ``row`` with each issue; the word's position picks the activation.
    """

    def __init__(self, *, word, bank_depth, local_rows, acc_bits, init=(), codebook=False,
                 group=None):
        check_positive("Bank depth", bank_depth)
        check_positive("Local row count", local_rows)
        check_positive("Accumulator width", acc_bits)
        init = [int(w) for w in init]
        if len(init) > bank_depth:
            raise ValueError(f"A bank of {bank_depth} words cannot start with {len(init)}")
        self._word, self._bank_depth, self._init = word, bank_depth, init
        self._local_rows, self._acc_bits = local_rows, acc_bits
        self._codebook = codebook
        self._group = group
        self._value_field = "code" if codebook else "value"
        super().__init__({
            "issue": In(IssueSignature(bank_depth=bank_depth)),
            "write": In(BankWriteSignature(depth=bank_depth, width=word.size)),
            **({"codebook": In(codebook_table(word["code"].width))} if codebook else {}),
            "drain_en": In(1),
            "drain_addr": In(range(local_rows)),
            "clear_en": In(1),
            "clear_addr": In(range(local_rows)),
            **({} if group is None else {
                "xs": In(data.ArrayLayout(signed(ACT_BITS), group)),
                "row": In(range(local_rows)),
            }),
            "acc": Out(signed(acc_bits)),
            "settling": Out(1),
            "read": Out(1),
            "mac": Out(1),
            "update": Out(1),
        })

    @property
    def bank_depth(self) -> int:
        return self._bank_depth

    def _weight(self, m: Module, value) -> Signal:
        weight = Signal(signed(WEIGHT_BITS))
        if not self._codebook:
            m.d.comb += weight.eq(value)
        else:
            m.d.comb += weight.eq(self.codebook[value.as_unsigned()])
        return weight

    def elaborate(self, platform):
        m = Module()
        rows = self._local_rows
        has_zeros = "zeros" in dict(self._word)
        row_shape = range(rows + (1 << self._word["zeros"].width if has_zeros else 1))

        m.submodules.bank = bank = memory.Memory(
            shape=unsigned(self._word.size), depth=self._bank_depth, init=self._init,
            attrs=_bank_attrs(platform, self._init))
        # One address for both ports: writes (load, idle) and reads (runs) never share a cycle,
        # so the bank is a single-port RAM, which the iCE40 UP5K's SPRAM can hold.
        write = bank.write_port()
        read = bank.read_port()
        addr = Signal(range(self._bank_depth))
        m.d.comb += [addr.eq(Mux(self.write.en, self.write.addr, self.issue.addr)),
                     write.en.eq(self.write.en), write.addr.eq(addr),
                     write.data.eq(self.write.data),
                     read.addr.eq(addr), read.en.eq(self.issue.valid & ~self.write.en)]
        # Stage 1: the word arrives and is registered, with what was issued beside it.
        arrived = Signal()
        arrived_first = Signal()
        arrived_x = Signal(signed(ACT_BITS))
        word = data.View(self._word, Signal(self._word.size, name="word"))
        m.d.sync += [arrived.eq(self.issue.valid), arrived_first.eq(self.issue.first),
                     arrived_x.eq(self.issue.x)]
        with m.If(arrived):
            m.d.sync += word.as_value().eq(read.data)

        m.submodules.accumulators = accs = memory.Memory(
            shape=signed(self._acc_bits), depth=rows, init=[])
        acc_write = accs.write_port()
        acc_read = accs.read_port(transparent_for=(acc_write,))

        # Stage 2: decode the word's row, read that row, register the product.
        fetched = Signal()
        first = Signal()
        x = Signal(signed(ACT_BITS))
        m.d.sync += [fetched.eq(arrived), first.eq(arrived_first)]
        if self._group is None:
            m.d.sync += x.eq(arrived_x)
        row = Signal(row_shape)  # local row of the last decoded word of the current column
        this_row = Signal(row_shape)
        if self._group is None:
            skipped = word.zeros if has_zeros else 0
            m.d.comb += this_row.eq(row + skipped + 1)
            with m.If(first):
                m.d.comb += this_row.eq(skipped)
        else:  # N:M: the row comes with the issue, the activation is picked by position
            group_x = Signal(data.ArrayLayout(signed(ACT_BITS), self._group))
            issued_row = Signal(range(rows))
            arrived_xs = Signal.like(group_x)
            arrived_row = Signal.like(issued_row)
            with m.If(self.issue.valid):
                m.d.sync += [arrived_xs.eq(self.xs), arrived_row.eq(self.row)]
            with m.If(arrived):
                m.d.sync += [group_x.eq(arrived_xs), issued_row.eq(arrived_row)]
            m.d.comb += [this_row.eq(issued_row), x.eq(group_x[word.position])]
        weight = self._weight(m, word[self._value_field])

        product = Signal(signed(WEIGHT_BITS + ACT_BITS))
        product_row = Signal(range(rows))
        product_valid = Signal()
        m.d.sync += product_valid.eq(fetched)
        with m.If(fetched):
            m.d.sync += [row.eq(this_row), product_row.eq(this_row), product.eq(weight * x)]
            m.d.comb += [acc_read.addr.eq(this_row), acc_read.en.eq(1)]
        with m.Else():
            m.d.comb += [acc_read.addr.eq(self.drain_addr), acc_read.en.eq(self.drain_en)]

        # Stage 3: add the product to the row read back; write the sum.
        with m.If(product_valid):
            m.d.comb += [
                acc_write.en.eq(1),
                acc_write.addr.eq(product_row),
                acc_write.data.eq(acc_read.data + product),
            ]
        with m.Else():
            m.d.comb += [acc_write.en.eq(self.clear_en), acc_write.addr.eq(self.clear_addr)]

        m.d.comb += [
            self.acc.eq(acc_read.data),
            self.settling.eq(arrived | fetched),
            self.read.eq(self.issue.valid),
            self.mac.eq(fetched & (weight != 0) & (x != 0)),
            self.update.eq(product_valid),
        ]
        return m
