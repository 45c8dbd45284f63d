"""A UART (8 data bits, no parity, 1 stop bit) as two streams: the FPGA shell's only wires.

``divisor`` is clock cycles per bit. The receiver samples each bit in its middle, after a start
bit that is still low half a bit in; a frame whose stop bit is low gives no byte, and the
receiver waits for the line to go high before it looks for the next start bit. A byte that is
not taken before the next one completes is dropped (the host paces its bytes). The transmitter
sends a byte as soon as one is offered.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_positive

__all__ = ["UARTReceiver", "UARTTransmitter"]

DATA_BITS = 8
FRAME_BITS = DATA_BITS + 2  # start bit, data bits, stop bit


class UARTReceiver(wiring.Component):
    """``rx`` line in, one byte out per frame."""

    rx: In(1, init=1)
    o: Out(stream.Signature(DATA_BITS))

    def __init__(self, *, divisor):
        self._divisor = check_positive("UART divisor", divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.d.sync += rx.eq(self.rx)  # one register against metastability
        timer = Signal(range(self._divisor * 3 // 2 + 1))
        bit = Signal(range(DATA_BITS + 1))
        shift = Signal(DATA_BITS)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += [timer.eq(self._divisor * 3 // 2 - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)), bit.eq(bit + 1),
                                 timer.eq(self._divisor - 1)]
                    with m.If(bit == DATA_BITS - 1):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():  # framing error: no byte, and no start bit until the line idles
                        m.next = "RECOVER"
            with m.State("RECOVER"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    """One byte in per frame, ``tx`` line out (high when idle)."""

    i: In(stream.Signature(DATA_BITS))
    tx: Out(1, init=1)

    def __init__(self, *, divisor):
        self._divisor = check_positive("UART divisor", divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self._divisor))
        frame = Signal(FRAME_BITS)
        left = Signal(range(FRAME_BITS + 1))
        m.d.comb += self.i.ready.eq(left == 0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [frame.eq(Cat(0, self.i.payload, 1)), left.eq(FRAME_BITS),
                         timer.eq(self._divisor - 1), self.tx.eq(0)]
        with m.Elif(left != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [frame.eq(frame[1:]), left.eq(left - 1), timer.eq(self._divisor - 1),
                             self.tx.eq(frame[1] | (left == 1))]
        return m
