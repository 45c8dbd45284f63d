"""The FPGA shell: the accelerator behind one UART, so the design needs two pins and a clock.

Each request starts with a command byte:

* ``LOAD`` (``"L"``): a 4-byte little-endian count N, then N 32-bit words of the load port
  (:func:`~..load.load_words`), 4 bytes each, little-endian; the shell answers ``LOAD`` once the
  last word is written. A baked design needs no load, and takes one (a new model) all the same.
* ``INFER`` (``"I"``): the input vector, one int8 per byte (as many as the loaded network has
  inputs). The shell starts a run as soon as the vector is complete and any earlier answer is
  sent and, when it is done, answers with the class, the logits (one byte each, as many as the
  network has outputs) and the run's cycle count (4 bytes, little-endian).

The next request may follow at once: it is received while an answer is sent. Any other command
byte is ignored.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .uart import UARTReceiver, UARTTransmitter

__all__ = ["CYCLE_BYTES", "LOAD", "INFER", "UARTShell"]

CYCLE_BYTES = 4  # the cycles counter, little-endian
WORD_BYTES = 4  # a load word (and the load count), little-endian
LOAD = ord("L")
INFER = ord("I")


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
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     acc.input.payload.eq(rx.o.payload),
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

        word = Signal(8 * WORD_BYTES)  # the count, then each load word, assembled LSB first
        got = Signal(range(WORD_BYTES))  # bytes of it received
        left = Signal(8 * WORD_BYTES)  # load words still to come
        fed = Signal.like(acc.features)  # input values given to the accelerator
        run_pending = Signal()  # an input vector is complete; the run waits for the reply
        ack_pending = Signal()  # a load is complete; its answer waits for the transmitter
        received = rx.o.valid & rx.o.ready
        assembled = Signal.like(word)
        m.d.comb += assembled.eq(word | (rx.o.payload << (8 * got)))
        with m.FSM(name="request"):  # the receiving side: commands, loads and input vectors
            with m.State("COMMAND"):
                m.d.comb += rx.o.ready.eq(1)
                m.d.sync += [word.eq(0), got.eq(0), fed.eq(0)]
                with m.If(received & (rx.o.payload == LOAD)):
                    m.next = "COUNT"
                with m.If(received & (rx.o.payload == INFER)):
                    m.next = "INPUT"
            with m.State("COUNT"):
                m.d.comb += rx.o.ready.eq(1)
                with m.If(received):
                    m.d.sync += [word.eq(assembled), got.eq(got + 1)]
                    with m.If(got == WORD_BYTES - 1):
                        m.d.sync += [left.eq(assembled), word.eq(0), got.eq(0)]
                        m.next = "WORDS"
            with m.State("WORDS"):
                with m.If(left == 0):
                    m.d.sync += ack_pending.eq(1)
                    m.next = "COMMAND"
                with m.Elif(acc.load.valid):  # a whole word waits for the load port
                    with m.If(acc.load.ready):
                        m.d.sync += [acc.load.valid.eq(0), word.eq(0), left.eq(left - 1)]
                with m.Else():
                    m.d.comb += rx.o.ready.eq(1)
                    with m.If(received):
                        m.d.sync += [word.eq(assembled), got.eq(got + 1)]
                        with m.If(got == WORD_BYTES - 1):
                            m.d.sync += [acc.load.valid.eq(1), got.eq(0)]
            with m.State("INPUT"):
                m.d.comb += [acc.input.valid.eq(rx.o.valid), rx.o.ready.eq(acc.input.ready)]
                with m.If(received):
                    m.d.sync += fed.eq(fed + 1)
                with m.If(fed == acc.features):
                    m.d.sync += run_pending.eq(1)
                    m.next = "COMMAND"
        with m.FSM(name="answer"):  # the transmitting side: runs and their answers
            with m.State("IDLE"):
                with m.If(ack_pending):
                    m.next = "ACK"
                with m.Elif(run_pending):
                    m.d.comb += acc.start.eq(1)  # the vector is complete: taken at once
                    m.d.sync += run_pending.eq(0)
                    m.next = "RUN"
            with m.State("ACK"):
                m.d.comb += [tx.i.payload.eq(LOAD), tx.i.valid.eq(1)]
                with m.If(tx.i.ready):
                    m.d.sync += ack_pending.eq(0)
                    m.next = "IDLE"
            with m.State("RUN"):
                with m.If(acc.done & ~acc.busy):
                    m.d.sync += reply.eq(0)
                    m.next = "REPLY"
            with m.State("REPLY"):
                m.d.comb += [tx.i.payload.eq(byte), tx.i.valid.eq(1)]
                with m.If(tx.i.ready):
                    m.d.sync += reply.eq(reply + 1)
                    with m.If(reply == outputs + CYCLE_BYTES):
                        m.next = "IDLE"
        m.d.comb += acc.load.payload.eq(word)
        return m
