"""The detection store: every frame's raw detections during an analysis, in SQLite.

The person tracker's final identities only exist once the whole clip has been seen
(:meth:`~inference.tracking.PersonTracker.finish` drops short tracks, interpolates gaps and
renumbers), and the tracker's state cannot be saved.  So an analysis keeps, next to its layer
cache, what the detector (or keyframe propagation) produced for each frame -- exactly what the
tracker was fed -- plus each detection's full-resolution RLE.  A resumed run replays these
frames through a fresh tracker (same detections, same images: same identities) instead of
running the detector again, and the final cache is built from them.  The store is deleted once
the layer cache is complete.

Tables::

    meta(key TEXT PRIMARY KEY, value TEXT)     -- format, version, key (what it belongs to)
    frames(frame_index INTEGER PRIMARY KEY, source TEXT)   -- "keyframe" / "flow"
    dets(frame_index, det_index, score REAL, bbox BLOB, keypoints BLOB, mask BLOB, rle BLOB,
         PRIMARY KEY (frame_index, det_index)) WITHOUT ROWID

``bbox`` (4) and ``keypoints`` (51, or NULL) are little-endian float64 at the *processing*
resolution; ``mask`` is the compressed RLE counts of the binary processing-resolution mask
(``soft >= 128``), ``rle`` those of the full-resolution mask; NULL when there is no mask.
A frame's detections and its ``frames`` row are committed in one transaction.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from inference.cache.layers import canonical_json
from inference.models.rcnn import PersonDetection
from inference.tracks.masks import decode_mask, encode_mask
from inference.tracks.model import NUM_KEYPOINTS

log = logging.getLogger(__name__)

FORMAT = "humanfx-detections"
VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS frames (frame_index INTEGER PRIMARY KEY, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dets (
    frame_index INTEGER NOT NULL,
    det_index INTEGER NOT NULL,
    score REAL NOT NULL,
    bbox BLOB NOT NULL,
    keypoints BLOB,
    mask BLOB,
    rle BLOB,
    PRIMARY KEY (frame_index, det_index)
) WITHOUT ROWID;
"""


@dataclass
class StoredDetection:
    """One stored detection: the tracker's input (``detection``, processing resolution, its
    mask binary 0/255 when decoded) and the full-resolution RLE (``None`` without a mask)."""

    detection: PersonDetection
    rle: dict[str, Any] | None


def remove_store(path: str | Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class DetectionStore:
    """Open (or create) the store at ``path`` for ``key``; a store made for another key (other
    clip, settings or resolution) or an unreadable one is replaced by an empty store.

    Args:
        path: the store file.
        key: JSON-able description of what the detections belong to.
        process_size: ``(w, h)`` processing resolution.
        frame_size: ``(W, H)`` full resolution.
    """

    def __init__(self, path: str | Path, key: dict[str, Any], *, process_size: tuple[int, int],
                 frame_size: tuple[int, int]):
        self.path = Path(path)
        self.process_size = (int(process_size[0]), int(process_size[1]))
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self._key = canonical_json({**key, "process_size": self.process_size,
                                    "frame_size": self.frame_size})
        self._lock = threading.RLock()
        self._conn = self._open()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=30.0)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = None
        try:
            conn = self._connect()
            rows = dict(conn.execute("SELECT key, value FROM meta")) if conn.execute(
                "SELECT name FROM sqlite_master WHERE name = 'meta'").fetchone() else {}
            if rows and rows == {"format": FORMAT, "version": VERSION, "key": self._key}:
                return conn
            if rows:
                log.info("%s: detections of other settings; starting afresh", self.path)
        except sqlite3.DatabaseError as exc:
            log.warning("%s: unreadable detection store (%s); starting afresh", self.path, exc)
        if conn is not None:
            conn.close()
        remove_store(self.path)
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                         [("format", FORMAT), ("version", VERSION), ("key", self._key)])
        conn.execute("COMMIT")
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def remove(self) -> None:
        """Close and delete the store."""
        with contextlib.suppress(sqlite3.Error):
            self.close()
        remove_store(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------
    def write(self, frames: Iterable[tuple[int, str, list[tuple[PersonDetection, bytes | None]]]]
              ) -> None:
        """Store ``(frame_index, source, [(detection, full-res RLE counts or None)])`` for
        each frame, replacing what a frame had, in one transaction."""
        rows, done = [], []
        for index, source, dets in frames:
            done.append((int(index), str(source)))
            for j, (d, rle) in enumerate(dets):
                kp = None if d.keypoints is None else \
                    np.ascontiguousarray(d.keypoints, "<f8").reshape(-1).tobytes()
                mask = None if d.mask is None else \
                    encode_mask(d.mask >= 128)["counts"].encode("ascii")
                rows.append((int(index), j, float(d.score),
                             np.ascontiguousarray(d.bbox, "<f8").tobytes(), kp, mask, rle))
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("DELETE FROM dets WHERE frame_index = ?",
                                 [(i,) for i, _ in done])
                conn.executemany("INSERT INTO dets VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                conn.executemany("INSERT OR REPLACE INTO frames VALUES (?, ?)", done)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- reading -------------------------------------------------------------------------------
    def frames(self) -> np.ndarray:
        """Sorted int64 indices of the stored frames."""
        with self._lock:
            rows = self._conn.execute("SELECT frame_index FROM frames ORDER BY frame_index")
            return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def read(self, index: int, *, masks: bool = True) -> list[StoredDetection]:
        """The detections of frame ``index`` in their original order (empty if none or not
        stored); ``masks=False`` skips decoding the processing-resolution masks."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT score, bbox, keypoints, mask, rle FROM dets WHERE frame_index = ? "
                "ORDER BY det_index", (int(index),)).fetchall()
        w, h = self.process_size
        big_w, big_h = self.frame_size
        out = []
        for score, bbox, kp, mask, rle in rows:
            m = None
            if mask is not None and masks:
                m = decode_mask({"size": [h, w], "counts": mask}) * np.uint8(255)
            det = PersonDetection(
                np.frombuffer(bbox, "<f8").copy(), score,
                None if kp is None else np.frombuffer(kp, "<f8").reshape(NUM_KEYPOINTS, 3).copy(),
                m)
            full = None if rle is None else {"size": [big_h, big_w], "counts": rle.decode("ascii")}
            out.append(StoredDetection(det, full))
        return out


__all__ = ["FORMAT", "DetectionStore", "StoredDetection", "remove_store"]
