"""``python -m bench.harness``: measure only the C++-harness-vs-cocotb table and splice it into
the simulation section of BENCHMARKS.md (the whole ``bench simulation`` rewrites it too)."""

from __future__ import annotations

import re

from ..sections import BENCHMARKS, write_section
from ..simulation import OUT, SPEED_DENSITY, _harness, _markdown, _model

HEADING = "### cocotb vs a plain C++ harness"


def main() -> None:
    measured = _harness(_model(SPEED_DENSITY), OUT / "build")
    table = _markdown([], {SPEED_DENSITY: None}, {}, 0.0, measured, harness_only=True)
    text = BENCHMARKS.read_text()
    section = re.search(r"<!-- simulation:start -->\n(.*?)\n<!-- simulation:end -->", text, re.S)
    body = section.group(1) if section else ""
    pattern = re.compile(re.escape(HEADING) + r".*?(?=\n### |\Z)", re.S)
    if pattern.search(body):
        body = pattern.sub(lambda _: table.strip() + "\n", body)
    else:
        marker = "### Whole test split on the RTL"
        body = body.replace(marker, f"{table.strip()}\n\n{marker}") if marker in body else \
            f"{body}\n\n{table.strip()}"
    write_section("simulation", body)
    print(table)


if __name__ == "__main__":
    main()
