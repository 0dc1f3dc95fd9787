"""MOTChallenge text files: detections in, tracking results out.

Format (one box per line, comma-separated): ``frame, id, x, y, w, h, score, ...`` where
``frame`` is 1-based, ``id`` is -1 for detections, ``x, y`` is the top-left corner in pixels.
Results are written as ``frame, id, x, y, w, h, 1, -1, -1, -1``.

In memory, frames are humanfx's 0-based indices: ``frame_index = frame - 1``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.errors import InputError

from .config import TrackerConfig
from .tracker import PersonTracker
from .types import Detection, TrackedPerson


@dataclass(frozen=True)
class MotRow:
    """One line of a MOTChallenge file.

    Attributes:
        frame_index: 0-based frame (the file's 1-based frame minus one).
        track_id: identity, ``-1`` for detections.
        bbox: ``(x, y, w, h)`` in pixels.
        score: the 7th column (detector confidence, or 1 in results / ground truth).
    """

    frame_index: int
    track_id: int
    bbox: tuple[float, float, float, float]
    score: float


def read_mot(path: str | Path) -> list[MotRow]:
    """Parse a MOTChallenge file (det.txt, gt.txt or results); blank lines are skipped.

    Raises:
        InputError: missing file, or a malformed row (naming the 1-based line number).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=path,
                         hint="check the path to the MOT file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read MOT file: {exc}", path=path,
                         hint="pass a MOTChallenge text file") from exc
    rows: list[MotRow] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        rows.append(_parse_line(path, lineno, line))
    return rows


def _parse_line(path: Path, lineno: int, line: str) -> MotRow:
    hint = "rows are frame,id,x,y,w,h,score[,...] with a 1-based frame"
    parts = [p.strip() for p in line.split(",")]
    if len(parts) < 7:
        raise InputError(f"line {lineno}: expected at least 7 comma-separated values, got "
                         f"{len(parts)}", path=path, hint=hint)
    try:
        vals = [float(p) for p in parts[:7]]
    except ValueError:
        raise InputError(f"line {lineno}: non-numeric value in {line[:80]!r}", path=path,
                         hint=hint) from None
    if not all(math.isfinite(v) for v in vals):
        raise InputError(f"line {lineno}: non-finite value in {line[:80]!r}", path=path,
                         hint=hint)
    frame, tid, x, y, w, h, score = vals
    if frame != int(frame) or frame < 1:
        raise InputError(f"line {lineno}: frame {parts[0]!r} is not a positive integer",
                         path=path, hint=hint)
    if tid != int(tid):
        raise InputError(f"line {lineno}: id {parts[1]!r} is not an integer", path=path,
                         hint=hint)
    if w <= 0 or h <= 0:
        raise InputError(f"line {lineno}: box width/height must be > 0, got {w:g} x {h:g}",
                         path=path, hint=hint)
    return MotRow(int(frame) - 1, int(tid), (x, y, w, h), score)


def read_mot_detections(path: str | Path) -> dict[int, list[Detection]]:
    """Detections per 0-based frame (frames without detections are absent)."""
    out: dict[int, list[Detection]] = {}
    for r in read_mot(path):
        out.setdefault(r.frame_index, []).append(Detection(np.array(r.bbox), r.score))
    return out


def read_mot_tracks(path: str | Path) -> dict[int, list[tuple[int, np.ndarray]]]:
    """``{frame_index: [(track_id, bbox (4,) xywh), ...]}`` from results or ground truth."""
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    for r in read_mot(path):
        out.setdefault(r.frame_index, []).append((r.track_id, np.array(r.bbox)))
    return out


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".")


def write_mot_results(path: str | Path,
                      frames: Mapping[int, Sequence[TrackedPerson]]) -> None:
    """Write tracking results, ``frame,id,x,y,w,h,1,-1,-1,-1`` sorted by frame then id."""
    lines = []
    for f in sorted(frames):
        for p in sorted(frames[f], key=lambda p: p.track_id):
            x, y, w, h = (float(v) for v in p.bbox)
            lines.append(f"{f + 1},{p.track_id},{_fmt(x)},{_fmt(y)},{_fmt(w)},{_fmt(h)},"
                         f"1,-1,-1,-1\n")
    _write_atomic(Path(path), "".join(lines))


def write_mot_detections(path: str | Path, frames: Mapping[int, Sequence[Detection]]) -> None:
    """Write detections, ``frame,-1,x,y,w,h,score,-1,-1,-1`` (frame is 1-based)."""
    lines = []
    for f in sorted(frames):
        for d in frames[f]:
            x, y, w, h = (float(v) for v in d.bbox)
            lines.append(f"{f + 1},-1,{_fmt(x)},{_fmt(y)},{_fmt(w)},{_fmt(h)},"
                         f"{d.score:.6g},-1,-1,-1\n")
    _write_atomic(Path(path), "".join(lines))


def track_mot(det_path: str | Path, out_path: str | Path | None = None,
              config: TrackerConfig = TrackerConfig()  # noqa: B008 (frozen)
              ) -> dict[int, list[TrackedPerson]]:
    """Track a MOTChallenge det.txt (box-only, no images) and optionally write the results.

    Every frame from the first to the last frame of the file is fed to the tracker (frames
    without detections as empty lists).  Returns :meth:`PersonTracker.finish`'s result.
    """
    dets = read_mot_detections(det_path)
    tracker = PersonTracker(config)
    if dets:
        for f in range(max(dets) + 1):
            tracker.update(f, dets.get(f, []))
    result = tracker.finish()
    if out_path is not None:
        write_mot_results(out_path, result)
    return result
