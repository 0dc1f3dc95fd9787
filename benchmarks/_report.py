"""Shared benchmark plumbing: where the shared data is, the machine line, and docs updates.

Each benchmark owns one section of ``docs/benchmarks.md`` between
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` markers and rewrites only that section.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"


def shared_data() -> Path:
    """The real-data folder: ``$HUMANFX_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("HUMANFX_SHARED_DATA", ROOT.parent / "shared" / "data"))


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    renderer = ""
    try:
        # create_context loads Triton before Mesa's LLVM (see effects.gl): a benchmark that
        # imports torch after this line must not crash.
        from effects.gl import create_context, renderer_name

        ctx = create_context()
        renderer = f", GL: {renderer_name(ctx)}"
        ctx.release()
    except Exception:  # noqa: BLE001 - informational only
        renderer = ", GL: none"
    return (f"{cpu}, {os.cpu_count()} cores{mem}{renderer}; Python {platform.python_version()}; "
            f"measured {_dt.date.today().isoformat()}")


def update_section(name: str, markdown: str, doc: Path = DOC) -> None:
    """Replace (or append) the section ``name`` of ``doc`` (docs/benchmarks.md) with
    ``markdown``."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\nFigures measured by the scripts in `benchmarks/`.\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    tmp = doc.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(doc)
