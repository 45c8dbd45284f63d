"""BENCHMARKS.md is made of sections between markers; each benchmark rewrites only its own."""

from __future__ import annotations

import re
from pathlib import Path

from secateurs.atomic import write_text

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
TITLE = "# secateurs benchmarks\n\nWritten by `make bench`; each section is measured in one run, beside its baseline.\n"


def write_section(name: str, markdown: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section ``name`` of BENCHMARKS.md, leaving the others alone."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else TITLE
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    write_text(path, text)
