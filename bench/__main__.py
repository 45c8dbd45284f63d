"""``make bench``: run every benchmark in turn; each writes its own section of BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib
import time

#: Benchmark modules of this package, in the order BENCHMARKS.md lists them.
MODULES = ("pruning", "formats", "hardware", "fpga", "netlist", "simulation", "sweeps", "flow",
           "lenet300")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("only", nargs="*", help=f"benchmarks to run (default all: {', '.join(MODULES)})")
    args = parser.parse_args()
    for name in args.only or MODULES:
        if name not in MODULES:
            parser.error(f"unknown benchmark {name!r}; valid: {', '.join(MODULES)}")
        start = time.perf_counter()
        print(f"[bench] {name} …", flush=True)
        importlib.import_module(f"bench.{name}").main()
        print(f"[bench] {name} done in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
