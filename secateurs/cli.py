"""``secateurs`` command line: every user error becomes one stderr line and exit code 2."""

from __future__ import annotations

import contextlib
import functools
import shutil
import sys
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from . import atomic
from . import config as config_mod
from .errors import InputError, SecateursError
from .outdir import check_out_dir
from .sizes import check_matmul_size

EXIT_USER_ERROR = 2
console = Console(stderr=True)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USER_ERROR)


def user_errors(fn):
    """Turn the project's exceptions into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SecateursError as e:
            _fail(_one_line(str(e)))
        except KeyboardInterrupt:
            _fail("interrupted")
        except OSError as e:  # the safety net: every path a user gives is checked before this
            where = f"{e.filename}: " if e.filename else ""
            _fail(f"{where}{e.strerror or e}")

    return wrapper


def _one_line(message: str) -> str:
    return " ".join(message.split())


class OneLineGroup(click.Group):
    """click's group, but a usage error is one line on stderr (exit code 2), like every other
    error, instead of click's Usage / Try / Error block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            command = e.ctx.command_path if e.ctx else (prog_name or "secateurs")
            if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: its help, on stdout
                click.echo(e.ctx.get_help())
                _fail(f"missing command (see `{command} --help`)")
            _fail(f"{_one_line(e.format_message())} (see `{command} --help`)")
        except click.ClickException as e:
            _fail(_one_line(e.format_message()))
        except click.Abort:
            _fail("interrupted")
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


config_option = click.option("--config", "config_path", type=click.Path(path_type=Path),
                             default=None, help="TOML config (defaults where a key is absent).")
set_option = click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
                          help="Override one config value, e.g. --set prune.density=0.2.")


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Prune, quantize and pack a network; generate its sparse accelerator; prove it on RTL."""


@main.command()
@config_option
@set_option
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder (default runs/<name>).")
@click.option("--force", is_flag=True, help="Rerun every step, even those whose inputs did not change.")
@user_errors
def flow(config_path, overrides, out, force) -> None:
    """train → prune → quantize → pack → rtl → simulate → power → sweep → report, resumable.

    Writes OUT/summary.json, OUT/report.md and OUT/report.html; a step whose inputs did not
    change since the last run into OUT is skipped.
    """
    cfg = config_mod.load(config_path, overrides)
    from .flow import run_flow  # heavy imports only once the config is known to be good

    out = out or Path("runs") / cfg.name
    summary = run_flow(cfg, out, RichReporter(console), force=force)  # refuses a foreign folder
    print_summary(summary)
    console.print(f"wrote {out / 'summary.json'}, {out / 'report.md'} and {out / 'report.html'}")


class RichReporter:
    """The flow's log lines on stderr, and a progress bar for each long loop of a step."""

    def __init__(self, out: Console):
        self.console = out

    def log(self, message: str) -> None:
        self.console.print(message, style="dim", markup=False, highlight=False)

    @contextlib.contextmanager
    def track(self, description: str, total: int):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)


def print_summary(s: dict) -> None:
    table = Table(title="secateurs flow", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("dense_accuracy", "pruned_accuracy", "quantized_accuracy", "hardware_accuracy"):
        table.add_row(key.replace("_", " "), f"{s[key]:.4f}")
    table.add_row("hardware samples", str(s["hardware_samples"]))
    table.add_row("density", f"{s['density']:.4f}")
    table.add_row("compression ratio", f"{s['compression_ratio']:.2f}×")
    table.add_row("theoretical speedup", f"{s['theoretical_speedup']:.2f}×")
    for kind in ("sparse", "dense"):
        got, want = s[f"cycles_{kind}"], s[f"expected_cycles_{kind}"]
        mark = "==" if got == want else "!="
        table.add_row(f"cycles {kind} (RTL {mark} model)", f"{got} {mark} {want}")
    table.add_row("realised speedup", f"{s['realised_speedup']:.2f}×")
    Console().print(table)


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="Sweep TOML: settings, [models.LABEL] and [strategies.LABEL] tables.")
@set_option
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Sweep folder (default runs/<name>); finished runs in it are not run again.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="CPUs of the local Ray (default: the config's).")
@click.option("--address", default=None, metavar="HOST:PORT",
              help="Run on an existing Ray cluster instead of a local Ray.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Folder of MNIST IDX files (raw or .gz): sweep on MNIST instead of digits.")
@user_errors
def sweep(config_path, overrides, out, workers, address, data_dir) -> None:
    """A pruning sweep (models × strategies × compressions × seeds) or, with ``kind = "hardware"``
    in the config, a hardware sweep (density × structure × P × D × format), on Ray."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from . import hw_sweep
    from .sweep import load_sweep, run_sweep
    from .sweep_report import write_csv, write_report

    hardware = hw_sweep.is_hardware_sweep(config_path)
    if hardware:
        sweep_cfg = hw_sweep.load_hardware_sweep(config_path, overrides)
        out = out or Path("runs") / sweep_cfg.name
        run = functools.partial(hw_sweep.run_hardware_sweep, sweep_cfg, out)
    else:
        cfg = load_sweep(config_path, overrides, data_dir=data_dir)
        out = out or Path("runs") / cfg.settings.name
        run = functools.partial(run_sweep, cfg, out)
    from .outdir import claim_dir

    claim_dir(out, "sweep")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[last]}", style="dim"))
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("sweep", total=None, last="")

        def progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, last=name)

        rows = run(workers=workers, address=address, progress=progress)
    if hardware:
        write_csv(rows, out / "results.csv")
        paths = [out / "results.csv", *hw_sweep.hardware_figures(rows, out)]
    else:
        paths = write_report(rows, out)
    for path in paths:
        console.print(f"wrote {path}")


@main.command("config")
@config_option
@set_option
@click.option("--show", is_flag=True, required=True, help="Print the effective config as TOML.")
@user_errors
def show_config(config_path, overrides, show) -> None:
    """Print the effective config (file + overrides), every field with its documentation."""
    cfg = config_mod.load(config_path, overrides)
    click.echo(config_mod.to_toml(cfg), nl=False)


@main.command("list")
def list_registered() -> None:
    """Every registered score, structure, scope, schedule, retraining method and format."""
    import inspect

    from rich.markup import escape

    from .sw.formats import FORMATS
    from .sw.metrics import STORAGE_FORMATS
    from .sw.prune import catalogue

    out = Console()
    for kind, entries in catalogue().items():
        table = Table(title=f"{kind} (prune.{kind})", title_justify="left", show_header=True)
        for column in ("name", "description", "citation"):
            table.add_column(column, overflow="fold")
        for name, (description, citation) in entries.items():
            table.add_row(name, escape(description), escape(citation))
        out.print(table)
    table = Table(title="packed formats (model.bin)", title_justify="left")
    table.add_column("name")
    table.add_column("description", overflow="fold")
    for name, fmt in FORMATS.items():
        table.add_row(name, escape((inspect.getmodule(fmt.pack).__doc__ or "").strip().splitlines()[0]))
    out.print(table)
    table = Table(title="storage estimates (sweep metrics, fp32 values)", title_justify="left")
    table.add_column("name")
    table.add_column("description", overflow="fold")
    for name, description in STORAGE_FORMATS.items():
        table.add_row(name, escape(description))
    out.print(table)


@main.group()
def sim() -> None:
    """Run things on the generated RTL under Verilator or Icarus Verilog."""


# The simulator is checked by the command (sim.runner is slow to import), one line like any
# bad input.
simulator_option = click.option(
    "--simulator", default="verilator", show_default=True, metavar="verilator|icarus",
    help="RTL simulator: Verilator, or Icarus Verilog (slower; no waves, no switching activity).")


def _simulator(name: str, *, waves: bool = False) -> str:
    """``name`` if it is a simulator that can do what was asked; InputError otherwise."""
    from .sim.runner import SIMULATORS

    if name not in SIMULATORS:
        raise InputError(f"--simulator must be one of {', '.join(SIMULATORS)}, not {name!r}")
    if waves and name != "verilator":
        raise InputError(f"--waves needs --simulator verilator: waves are traced by Verilator "
                         f"only, not by {name}")
    return name


def _load_int8(path: Path, what: str, ndim: int = 2) -> np.ndarray:
    from .inputs import load_npy

    array = load_npy(path, what)
    if array.dtype != np.int8:
        raise InputError(f"{what} must be int8, not {array.dtype}")
    if array.ndim != ndim or 0 in array.shape:
        raise InputError(f"{what} must be a non-empty {ndim}-D array, not shape {array.shape}")
    return array


@sim.command("matmul")
@click.option("--weights", type=click.Path(path_type=Path), required=True, help="W.npy: int8, rows × cols.")
@click.option("--inputs", type=click.Path(path_type=Path), required=True, help="X.npy: int8, batch × cols.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--pes", type=int, default=4, show_default=True, help="Processing elements.")
@click.option("--queue-depth", type=int, default=4, show_default=True, help="Activation queue depth.")
# Formats and payloads are checked by sim.matmul, so a bad one is one line like any bad input.
@click.option("--format", "fmt", metavar="csc|nm", default="csc", show_default=True,
              help="Packed weight format of the sparse engine.")
@click.option("--nm", "nm_pattern", default=None, metavar="N:M",
              help="N:M pattern of --format nm (default: the tightest the weights satisfy).")
@click.option("--payload", metavar="int8|int4|codebook", default="int8", show_default=True,
              help="A stored weight: int8, int4, or a code into k-means levels.")
@simulator_option
@user_errors
def matmul(weights, inputs, out, pes, queue_depth, fmt, nm_pattern, payload, simulator) -> None:
    """One layer on the sparse and dense accelerator (a one-layer network, raw-accumulator
    readout): OUT/outputs.npy (= X @ W.T) and summary.json (whole-run cycles)."""
    simulator = _simulator(simulator)
    w = _load_int8(weights, "weights")
    x = _load_int8(inputs, "inputs")
    if x.shape[1] != w.shape[1]:
        raise InputError(f"inputs have {x.shape[1]} columns but weights have {w.shape[1]}")
    check_matmul_size(*w.shape, x.shape[0], pes=pes)
    hw = config_mod.from_dict(config_mod.HardwareConfig, {"pes": pes, "queue_depth": queue_depth})
    config_mod.validate(config_mod.FlowConfig(hardware=hw))
    from .sim.matmul import matmul_layer, parse_nm, prove_layer

    nm = None if nm_pattern is None else parse_nm(nm_pattern)
    layer = matmul_layer(w, pes=pes, fmt=fmt, payload=payload, nm=nm)  # refused before staging
    with atomic.staged_dir(out) as stage:
        result = prove_layer(layer, x, hw=hw, build_root=stage / "build", simulator=simulator)
        atomic.write_npy(stage / "outputs.npy", result.outputs.astype(np.int32))
        atomic.write_json(stage / "summary.json", {
            **result.summary(pes=pes, queue_depth=queue_depth), "simulator": simulator})
        shutil.rmtree(stage / "build", ignore_errors=True)  # our own staged build, not kept
    console.print(f"wrote {out / 'outputs.npy'} and {out / 'summary.json'}")


@sim.command("conv")
@click.option("--weights", type=click.Path(path_type=Path), required=True,
              help="W.npy: int8, (out channels, in channels, KH, KW).")
@click.option("--inputs", type=click.Path(path_type=Path), required=True,
              help="X.npy: int8, (batch, in channels, H, W).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--stride", type=int, default=1, show_default=True, help="Stride of the kernel.")
@click.option("--padding", type=int, default=0, show_default=True,
              help="Zeros around the map on every side.")
@click.option("--pes", type=int, default=4, show_default=True, help="Processing elements.")
@click.option("--queue-depth", type=int, default=4, show_default=True, help="Activation queue depth.")
@user_errors
def conv(weights, inputs, out, stride, padding, pes, queue_depth) -> None:
    """One conv layer on the sparse and dense accelerator (raw-accumulator readout):
    OUT/outputs.npy (= torch's conv2d of X by W, int32, (N, O, OH, OW)) and summary.json."""
    w = _load_int8(weights, "weights", 4)
    x = _load_int8(inputs, "inputs", 4)
    hw = config_mod.from_dict(config_mod.HardwareConfig, {"pes": pes, "queue_depth": queue_depth})
    config_mod.validate(config_mod.FlowConfig(hardware=hw))
    from .sim.conv import check_conv, prove_conv

    check_conv(w, x, hw=hw, stride=stride, padding=padding)  # refused before staging
    with atomic.staged_dir(out) as stage:
        result = prove_conv(w, x, hw=hw, build_root=stage / "build", stride=stride,
                            padding=padding)
        atomic.write_npy(stage / "outputs.npy", result.outputs.astype(np.int32))
        atomic.write_json(stage / "summary.json", result.summary(
            pes=pes, queue_depth=queue_depth, issue_width=hw.issue_width))
        shutil.rmtree(stage / "build", ignore_errors=True)  # our own staged build, not kept
    console.print(f"wrote {out / 'outputs.npy'} and {out / 'summary.json'}")


bake_option = click.option(
    "--bake-weights", "bake", is_flag=True,
    help="Bake the model into the memories (ROM-initialised: a self-contained design that needs "
         "no load; the Verilog then depends on the model).")
model_option = click.option("--model", "model_path", type=click.Path(path_type=Path), default=None,
                            help="model.bin to build (default runs/<name>/model.bin of the config).")


def _network(cfg, model_path: Path | None):
    """The hardware image of the config's model.bin, checked against its hardware section."""
    from .rtl import hardware_image
    from .sw.formats import container

    path = model_path or Path("runs") / cfg.name / "model.bin"
    if not path.exists():
        raise InputError(f"model file {str(path)!r} does not exist; run `secateurs flow` first "
                         f"or pass --model")
    packed = container.load(path)
    if packed.pes != cfg.hardware.pes:
        raise InputError(f"{path} is packed for {packed.pes} PEs but hardware.pes is "
                         f"{cfg.hardware.pes}")
    try:
        return hardware_image(packed)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None


@main.command()
@config_option
@set_option
@model_option
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@bake_option
@user_errors
def rtl(config_path, overrides, model_path, out, bake) -> None:
    """Verilog of the sparse accelerator and its dense twin for the hardware configuration (any
    model of the network's shapes and packing runs on it), the model's load words for each, and
    a JSON of the capacity and parameters; --bake-weights bakes the model in instead."""
    cfg = config_mod.load(config_path, overrides)
    check_out_dir(out)
    image = _network(cfg, model_path)
    from .rtl import LOAD_FILES, write_rtl

    with atomic.staged_dir(out, "rtl") as stage:
        try:
            write_rtl(stage, image, cfg.hardware, bake=bake)
        except ValueError as e:
            raise SecateursError(f"cannot generate or check the accelerators: {e}") from None
    loads = "" if bake else f", {', '.join(str(out / f) for f in LOAD_FILES.values())}"
    console.print(f"wrote {out / 'sparse_accelerator.v'}, {out / 'dense_accelerator.v'}{loads} "
                  f"and {out / 'accelerators.json'} (Verilator -Wall clean with "
                  f"{out / 'lint_waivers.vlt'}, read by Yosys)")


@main.command()
@config_option
@set_option
@model_option
@click.option("--target", type=click.Choice(["ice40-up5k", "ecp5-25k"]), default="ice40-up5k",
              show_default=True, help="FPGA and package.")
@click.option("--kind", type=click.Choice(["sparse", "dense"]), default="sparse",
              show_default=True, help="The accelerator or its dense twin.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Build folder (default runs/<name>/bitstream-<target>).")
@click.option("--bank-depth", type=click.IntRange(min=1), default=None, metavar="WORDS",
              help="Words of each PE's weight bank (default: as deep as the dense twin's, so "
                   "any weights of the model's shapes load); smaller fits a smaller FPGA and "
                   "takes models of at most that many words a PE.")
@bake_option
@user_errors
def bitstream(config_path, overrides, model_path, target, kind, out, bank_depth, bake) -> None:
    """Synthesise, place, route and pack the accelerator of the hardware configuration behind a
    UART shell (YoWASP tools): a host loads the model over the UART ("L"), or --bake-weights
    bakes it in. Also writes the accelerator's post-synthesis netlist."""
    import dataclasses
    import json

    cfg = config_mod.load(config_path, overrides)
    out = check_out_dir(out or Path("runs") / cfg.name / f"bitstream-{target}")
    image = _network(cfg, model_path)
    from .hw.accelerator import Accelerator
    from .hw.build.fpga import NETLIST, build_bitstream, synthesize_netlist
    from .rtl import capacity_for

    capacity = capacity_for(image, cfg.hardware)
    if bank_depth is not None:
        capacity = dataclasses.replace(capacity, bank_depth=bank_depth)
    try:
        capacity.check(image, kind)
        design = Accelerator(capacity, kind=kind, image=image if bake else None)
    except ValueError as e:
        raise InputError(f"cannot generate the {kind} accelerator: {e}") from None
    with atomic.staged_dir(out, "bitstream") as stage:
        try:
            report = build_bitstream(design, target=target, build_dir=stage)
            name = f"{kind}_accelerator"
            synthesize_netlist(design, toplevel=name, target=target, path=stage / NETLIST)
        except (RuntimeError, FileNotFoundError) as e:
            raise InputError(str(e)) from None
        summary = {"target": target, "kind": kind, "pes": image.pes, "baked": bake,
                   "capacity": capacity.as_dict(),
                   "queue_depth": cfg.hardware.queue_depth, "fmax_mhz": report.fmax_mhz,
                   "luts": report.luts, "flip_flops": report.flip_flops,
                   "dsp": report.used("dsp"), "bram": report.used("bram"),
                   "cells": {k: list(v) for k, v in report.cells.items()},
                   "bitstream": report.bitstream.name, "netlist": NETLIST,
                   "seconds": round(report.seconds, 1)}
        atomic.write_json(stage / "report.json", summary)
    table = Table(title=f"{kind} accelerator on {target}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("luts", "flip_flops", "dsp", "bram", "fmax_mhz", "seconds"):
        table.add_row(key, str(summary[key]))
    table.add_row("bitstream", str(out / report.bitstream.name))
    table.add_row("netlist", str(out / NETLIST))
    Console().print(table)
    click.echo(json.dumps({"bitstream": str(out / report.bitstream.name),
                           "netlist": str(out / NETLIST)}))


@main.command()
@click.argument("model_path", metavar="MODEL.BIN", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@user_errors
def inspect(model_path, as_json) -> None:
    """Per layer: shape, density, format, bits per nonzero, bytes and compression vs fp32."""
    import json

    from .sw.formats import container
    from .sw.formats.accounting import model_storage

    storage = model_storage(container.load(model_path))
    if as_json:
        click.echo(json.dumps({"file": str(model_path), **storage}, indent=2))
        return
    print_storage(str(model_path), storage)


INSPECT_WIDTH = 124  # the inspect table's natural width: narrower consoles would squash it


def _format_label(layer: dict) -> str:
    params = [f"r={layer['index_bits']}" if "index_bits" in layer else "",
              f"{layer['n']}:{layer['m']}" if "n" in layer else "",
              f"P={layer['pes']}" if "pes" in layer else ""]
    return " ".join([layer["format"], layer["payload"], *filter(None, params)])


def print_storage(title: str, s: dict) -> None:
    """The table ``secateurs inspect`` prints: one row per layer, then the whole file."""
    table = Table(title=f"{title} — {s['bytes']} bytes, {s['compression']:.1f}× smaller than "
                        f"fp32 ({s['huffman_compression']:.1f}× Huffman-coded)")
    columns = ("layer", "shape", "density", "format", "value", "index", "filler", "meta",
               "bits/nz", "bytes", "× fp32", "× Huffman")
    for column in columns:
        table.add_column(column, justify="left" if column == "format" else "right")
    for i, l in enumerate(s["layers"]):
        per = l["bits_per_nonzero"]
        parts = [f"{per[k]:.2f}" if per[k] is not None else "—"
                 for k in ("values", "index", "fillers", "metadata", "total")]
        table.add_row(str(i), "×".join(map(str, l["shape"])), f"{l['density']:.3f}",
                      _format_label(l), *parts, str(l["bytes"]), f"{l['compression']:.1f}",
                      f"{l['huffman_compression']:.1f}")
    total = s["bits_per_nonzero"]
    table.add_row("all", "", f"{s['density']:.3f}", "", "", "", "", "",
                  f"{total:.2f}" if total is not None else "—", str(s["bytes"]),
                  f"{s['compression']:.1f}", f"{s['huffman_compression']:.1f}")
    Console(width=max(Console().width, INSPECT_WIDTH)).print(table)

def _samples(value: str) -> int | None:
    if value == "all":
        return None
    try:
        n = int(value)
    except ValueError:
        raise InputError(f"--samples must be a positive number or 'all', not {value!r}") from None
    if n < 1:
        raise InputError(f"--samples must be a positive number or 'all', not {value!r}")
    return n


@main.command()
@click.option("--run", "run_dir", type=click.Path(path_type=Path), required=True,
              help="Run folder written by 'secateurs flow' (config.json, model.bin).")
@click.option("--samples", default="all", show_default=True, help="Test images to run, or 'all'.")
@click.option("--waves", is_flag=True, help="Also write VCD waveforms to RUN/sim/waves/.")
@click.option("--energy-table", type=click.Path(path_type=Path), default=None,
              help="TOML of picojoules per event (default: the shipped 45 nm table).")
@simulator_option
@user_errors
def simulate(run_dir, samples, waves, energy_table, simulator) -> None:
    """The test split on the sparse and dense RTL: exact outputs, cycles and power proxies
    (Icarus: event energy only; switching activity is traced by Verilator)."""
    from .flow import check_run
    from .sim.inference import SUMMARY, VERILATOR_ONLY
    from .sim.inference import simulate as run_simulation

    count = _samples(samples)  # a bad option is a usage error, before the folder is read
    simulator = _simulator(simulator, waves=waves)
    check_run(run_dir)
    power = simulator == "verilator"
    if not power:
        console.print(f"{simulator}: event energy only; {VERILATOR_ONLY}", markup=False)

    summary = run_simulation(run_dir, samples=count, waves=waves, power=power,
                             energy_table=energy_table, simulator=simulator,
                             log=lambda m: console.print(m, style="dim", markup=False))
    print_simulation(summary)
    console.print(f"wrote {run_dir / SUMMARY}")


def print_simulation(s: dict) -> None:
    table = Table(title=f"secateurs simulate: {s['samples']} inferences on {s['simulator']}, "
                        f"bit-exact", show_header=True)
    for column in ("", "sparse", "dense"):
        table.add_column(column, justify="right")
    rows = [
        ("accuracy", lambda d: f"{d['accuracy']:.4f}"),
        ("cycles / inference (mean)", lambda d: f"{d['cycles']['mean']:.1f}"),
        ("cycles min / max", lambda d: f"{d['cycles']['min']} / {d['cycles']['max']}"),
        ("model cycles (mean)", lambda d: f"{d['expected_cycles']['mean']:.1f}"),
        ("MACs / inference", lambda d: f"{d['events']['macs']:.0f}"),
        ("energy / inference (pJ)", lambda d: f"{d['energy_pj']['total']:.0f}"),
        ("toggles / inference",
         lambda d: f"{d['toggles']['per_inference']:.0f}" if "toggles" in d else "—"),
        ("activity factor", lambda d: f"{d['toggles']['alpha']:.4f}" if "toggles" in d else "—"),
        ("simulated cycles / s", lambda d: f"{d['cycles_per_second']:.0f}"),
    ]
    for label, cell in rows:
        table.add_row(label, cell(s["sparse"]), cell(s["dense"]))
    table.add_row("speedup realised / theoretical",
                  f"{s['realised_speedup']:.2f}× / {s['theoretical_speedup']:.2f}×", "1×")
    Console().print(table)


if __name__ == "__main__":
    main()
