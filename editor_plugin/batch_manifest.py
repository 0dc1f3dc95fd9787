"""The ``humanfx batch`` manifest: reading and checking it (:func:`load_manifest`) into
:class:`Manifest` and :class:`Job` records, with every path made absolute.

The schema is in ``docs/batch.md``; :mod:`editor_plugin.batch` runs the jobs and re-exports
these names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.errors import InputError

MANIFEST_FORMAT = "humanfx-batch"
MANIFEST_VERSION = 1
RENDER_SUFFIX = {"h264": ".mp4", "hevc": ".mp4", "prores4444": ".mov", "ffv1": ".mkv", "png": ""}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_JOB_KEYS = {"name", "clip", "tracks", "analyze", "output", "renders", "mattes",
             "tracks_exports", "otio"}
_RENDER_KEYS = {"name", "project", "person", "background", "codec", "range", "refine", "audio",
                "quality", "chunks", "file"}


@dataclass(frozen=True)
class Job:
    """One clip's work, paths absolute.  ``raw`` is the job's manifest entry (for hashing)."""

    name: str
    clip: Path
    output: Path
    tracks: Path | None = None
    analyze: dict[str, Any] | None = None
    renders: tuple[dict[str, Any], ...] = ()
    mattes: dict[str, Any] | None = None
    tracks_exports: tuple[dict[str, Any], ...] = ()
    otio: bool = False
    base: Path = Path(".")
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    path: Path
    output: Path
    jobs: tuple[Job, ...]


def load_manifest(path: str | Path) -> Manifest:
    """Read and check a batch manifest; relative paths are relative to its folder."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("manifest not found", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable JSON manifest ({exc})", path=path) from None

    def bad(where: str, why: str) -> InputError:
        return InputError(f"{where}: {why}", path=path, hint="see docs/batch.md")

    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise bad("$.format", f"must be {MANIFEST_FORMAT!r}")
    if data.get("version") != MANIFEST_VERSION:
        raise bad("$.version", f"must be {MANIFEST_VERSION}")
    base = path.resolve().parent
    root = base / data.get("output", ".")
    jobs, names = [], set()
    raw_jobs = data.get("jobs")
    if not isinstance(raw_jobs, list) or not raw_jobs:
        raise bad("$.jobs", "must be a non-empty list of jobs")
    for i, raw in enumerate(raw_jobs):
        at = f"$.jobs[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("clip"), str):
            raise bad(at, 'must be an object with a "clip" path')
        extra = sorted(set(raw) - _JOB_KEYS)
        if extra:
            raise bad(f"{at}.{extra[0]}", f"is not a job key ({', '.join(sorted(_JOB_KEYS))})")
        clip = base / raw["clip"]
        name = raw.get("name") or re.sub(r"[^A-Za-z0-9_.-]", "_", clip.stem)
        if not _NAME_RE.match(name) or name in names:
            raise bad(f"{at}.name", f"{name!r} must be unique: letters, digits, '_', '.', '-'")
        names.add(name)
        renders = raw.get("renders", [])
        rnames = set()
        for k, r in enumerate(renders if isinstance(renders, list) else [None]):
            where = f"{at}.renders[{k}]"
            if not isinstance(r, dict) or not _NAME_RE.match(str(r.get("name", ""))):
                raise bad(where, 'must be an object with a "name" (letters, digits, _ . -)')
            if sorted(set(r) - _RENDER_KEYS) or r["name"] in rnames:
                raise bad(where, f"unknown key or repeated name ({', '.join(sorted(_RENDER_KEYS))})")
            rnames.add(r["name"])
            if r.get("codec", "h264") not in RENDER_SUFFIX:
                raise bad(f"{where}.codec", f"must be one of {', '.join(RENDER_SUFFIX)}")
            if "project" not in r and not ("person" in r and "background" in r):
                raise bad(where, 'needs "project", or "person" and "background"')
            if int(r.get("chunks", 1)) > 1 and r.get("codec", "h264") == "png":
                raise bad(f"{where}.chunks", "PNG sequences are not chunked; use ffv1 or prores4444")
        exports = raw.get("tracks_exports", [])
        if not isinstance(exports, list) or not all(
                isinstance(e, dict) and isinstance(e.get("format"), str) for e in exports):
            raise bad(f"{at}.tracks_exports", 'must be a list of {"format": ...} objects')
        if raw.get("tracks") is not None and raw.get("analyze") is not None:
            raise bad(at, 'give "tracks" (import) or "analyze", not both')
        jobs.append(Job(name=name, clip=clip, output=base / raw.get("output", root / name),
                        tracks=base / raw["tracks"] if raw.get("tracks") else None,
                        analyze=raw.get("analyze"), renders=tuple(renders),
                        mattes=raw.get("mattes"), tracks_exports=tuple(exports),
                        otio=bool(raw.get("otio", False)), base=base, raw=raw))
    return Manifest(path=path, output=root, jobs=tuple(jobs))


__all__ = ["MANIFEST_FORMAT", "MANIFEST_VERSION", "RENDER_SUFFIX", "Job", "Manifest",
           "load_manifest"]
