"""The FPGA shell: the accelerator behind one UART, so the design needs two pins and a clock.

The host sends the input vector, one int8 per byte. The shell starts a run as soon as the
vector is complete and, when it is done, answers with the class, the logits (one byte each, as
many as the network has outputs) and the run's cycle count (4 bytes, little-endian). The model
is the one baked into the accelerator (``Accelerator(..., image=...)``).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .uart import UARTReceiver, UARTTransmitter

__all__ = ["CYCLE_BYTES", "UARTShell"]

CYCLE_BYTES = 4  # the cycles counter, little-endian


class UARTShell(wiring.Component):
    """``accelerator`` (an :class:`~secateurs.hw.accelerator.Accelerator`) behind ``rx``/``tx``."""

    rx: In(1, init=1)
    tx: Out(1, init=1)

    def __init__(self, accelerator, *, divisor):
        self._accelerator, self._divisor = accelerator, divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        acc = self._accelerator
        outputs = acc.classes  # the loaded network's
        most = acc.signature.outputs
        m.submodules.accelerator = acc
        m.submodules.receiver = rx = UARTReceiver(divisor=self._divisor)
        m.submodules.transmitter = tx = UARTTransmitter(divisor=self._divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        m.d.comb += [acc.input.payload.eq(rx.o.payload), acc.input.valid.eq(rx.o.valid),
                     rx.o.ready.eq(acc.input.ready),
                     acc.output.ready.eq(1)]  # the reply reads the logits' registers

        reply = Signal(range(1 + most + CYCLE_BYTES + 1))  # bytes of the answer sent so far
        m.d.comb += acc.logit_addr.eq(reply - 1)
        byte = Signal(8)
        with m.If(reply == 0):
            m.d.comb += byte.eq(acc.predicted)
        with m.Elif(reply <= outputs):
            m.d.comb += byte.eq(acc.logit)
        for k in range(CYCLE_BYTES):
            with m.If(reply == 1 + outputs + k):
                m.d.comb += byte.eq(acc.counters.cycles[8 * k:8 * k + 8])
        m.d.comb += tx.i.payload.eq(byte)
        with m.FSM():
            with m.State("LOAD"):
                m.d.comb += acc.start.eq(1)  # taken once the input vector is complete
                with m.If(acc.busy):
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(acc.done):
                    m.d.sync += reply.eq(0)
                    m.next = "REPLY"
            with m.State("REPLY"):
                m.d.comb += tx.i.valid.eq(1)
                with m.If(tx.i.ready):
                    m.d.sync += reply.eq(reply + 1)
                    with m.If(reply == outputs + CYCLE_BYTES):
                        m.next = "LOAD"
        return m
