"""The per-person layer cache: one SQLite file per (clip, analysis source, settings).

:class:`LayerCache` creates, opens (upgrading older files when opened writable), writes and
reads one cache file.  The schema (version :data:`SCHEMA_VERSION`), its migrations
(:data:`MIGRATIONS`), the connection and meta-table helpers, :func:`canonical_json` and the
records a cache hands out (:class:`CacheMeta`, :class:`TrackSummary`, :class:`PersonLayer`) live
in :mod:`inference.cache.db` and are re-exported here.

In the ``persons`` rows, ``bbox`` is 4 and ``keypoints`` 51 little-endian float64 (exact round
trip of JSON floats); ``rle`` is the compressed COCO RLE ``counts`` (ASCII) of a full-frame
``(height, width)`` mask, NULL when the person has no mask.

Crash safety: WAL journal with ``synchronous=NORMAL``.  :meth:`LayerCache.write_frames`
commits records and their frames' done marks in one transaction, so a process killed at any
moment leaves a consistent file that resumes at :meth:`LayerCache.next_frame_to_do` (only an OS
crash or power loss can lose the last commits, never consistency).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

import cv2
import numpy as np

from inference.cache.db import (
    CACHE_FORMAT,
    MIGRATIONS,
    SCHEMA_VERSION,
    CacheMeta,
    PersonLayer,
    TrackSummary,
    _connect,
    _init_db,
    _read_meta,
    _remove_db,
    _schema_version,
    _temp_sibling,
    _upgrade,
    canonical_json,
)
from inference.errors import InputError
from inference.tracks.masks import check_rle, compress_rle, rle_counts
from inference.tracks.model import NUM_KEYPOINTS, PersonRecord, Track, TrackSet, VideoInfo


def _decode(rle: dict[str, Any]) -> np.ndarray:
    """Compressed RLE -> ``(H, W)`` C-contiguous uint8 0/1 mask.

    Same result as ``masks.decode_mask`` but ~6x faster at 1080p: run lengths expanded with
    ``np.repeat`` (column-major), then one ``cv2.transpose``.  Stored RLEs were validated on
    write, so the runs cover exactly ``H * W`` pixels.
    """
    h, w = rle["size"]
    counts = rle_counts(rle)
    values = np.zeros(len(counts), dtype=np.uint8)
    values[1::2] = 1
    column_major = np.repeat(values, counts).reshape(w, h)
    return cv2.transpose(column_major) if h > 0 and w > 0 else np.zeros((h, w), np.uint8)


def _box(blob: bytes) -> tuple[float, float, float, float]:
    x, y, w, h = np.frombuffer(blob, "<f8").tolist()
    return x, y, w, h


def _f8(values: Any, count: int) -> bytes:
    arr = np.ascontiguousarray(values, dtype="<f8").reshape(-1)
    if arr.size != count:
        raise ValueError(f"expected {count} numbers, got {arr.size}")
    return arr.tobytes()


class LayerCache:
    """An open layer cache (a context manager).  Use :meth:`create`, :meth:`open` or
    :meth:`from_trackset`.  Safe to share between threads (calls are serialised)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, meta: CacheMeta,
                 info: dict[str, Any], readonly: bool, *, schema_version: int = SCHEMA_VERSION):
        self._conn = conn
        self.path = path
        self.meta = meta
        self.info = info
        self.readonly = readonly
        #: The file's schema version: :data:`SCHEMA_VERSION`, or older for a file opened
        #: read-only that was not upgraded yet (it has no edit log).
        self.schema_version = schema_version
        self._lock = threading.RLock()

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = True) -> LayerCache:
        """Open an existing cache; InputError when it is missing, foreign or incompatible."""
        path = Path(path)
        if not path.is_file():
            raise InputError("there is no layer cache here", path=path,
                             hint="run the analysis (or import tracks) first")
        conn = _connect(path, readonly)
        try:
            meta, info = _read_meta(conn, path)
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                _upgrade(conn, path)
            version = _schema_version(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, meta, info, readonly, schema_version=version)

    @classmethod
    def create(cls, path: str | Path, meta: CacheMeta) -> LayerCache:
        """Create a cache for ``meta``, or open the existing one with the same meta (resume).

        An existing cache with different meta (clip, source, settings, size, frame count, fps)
        raises InputError.  A new file appears atomically, fully initialised.
        """
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = _temp_sibling(path)
            try:
                _init_db(tmp, meta, {}).close()
                for side in ("-wal", "-shm", "-journal"):  # stale leftovers of a deleted file
                    Path(f"{path}{side}").unlink(missing_ok=True)
                try:
                    os.link(tmp, path)  # fails if another process created it meanwhile
                except FileExistsError:
                    pass
                except OSError:  # no hard links on this file system
                    if not path.exists():
                        os.replace(tmp, path)
            finally:
                _remove_db(tmp)
        cache = cls.open(path, readonly=False)
        diffs = cache.meta.differences(meta)
        if diffs:
            cache.close()
            raise InputError(f"this layer cache was made with a different "
                             f"{', '.join(diffs)}", path=path,
                             hint="delete it or use another cache path")
        if meta.clip_name and cache.meta.clip_name != meta.clip_name:
            with cache._lock:
                cache._conn.execute("UPDATE meta SET value = ? WHERE key = 'clip_name'",
                                    (meta.clip_name,))
            cache.meta = replace(cache.meta, clip_name=meta.clip_name)
        return cache

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LayerCache({str(self.path)!r}, source={self.meta.source!r})"

    # -- writing -----------------------------------------------------------------------------
    def _check_writable(self) -> None:
        if self.readonly:
            raise ValueError(f"{self.path} is open read-only")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside ``BEGIN IMMEDIATE`` .. ``COMMIT`` (``ROLLBACK`` on any
        exception), holding the cache's lock.  For extensions of the cache in this package
        (:mod:`inference.cache.edits`); ``ValueError`` when the cache is open read-only."""
        self._check_writable()
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """All rows of one read-only SQL statement (for extensions in this package)."""
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def add_tracks(self, tracks: Iterable[Track]) -> None:
        """Add tracks or set their names (a ``None`` name leaves an existing name alone)."""
        self._check_writable()
        rows = [(int(t.id), t.name) for t in tracks]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO tracks (track_id, name) VALUES (?, ?) ON CONFLICT (track_id) "
                    "DO UPDATE SET name = COALESCE(excluded.name, tracks.name)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _rows(self, index: int, records: list[PersonRecord]) -> list[tuple[Any, ...]]:
        """Validated database rows of one frame (``ValueError`` on bad input)."""
        if not 0 <= index < self.meta.frame_count:
            raise ValueError(f"frame {index} is outside the clip's {self.meta.frame_count} "
                             "frames")
        rows, seen = [], set()
        for r in records:
            if r.frame_index != index:
                raise ValueError(f"a record of frame {r.frame_index} was given for frame {index}")
            if r.track_id in seen:
                raise ValueError(f"track {r.track_id} appears twice on frame {index}")
            seen.add(r.track_id)
            rle = None
            if r.segmentation is not None:
                try:
                    check_rle(r.segmentation, self.meta.height, self.meta.width)
                except ValueError as exc:
                    raise ValueError(f"mask of track {r.track_id} on frame {index}: {exc}") \
                        from None
                rle = compress_rle(r.segmentation)["counts"].encode("ascii")
            rows.append((index, int(r.track_id), r.id, float(r.score), _f8(r.bbox, 4),
                         _f8(r.keypoints, 3 * NUM_KEYPOINTS), rle))
        return rows

    def write_frames(self, frames: Iterable[tuple[int, list[PersonRecord]]]) -> None:
        """Store the persons of each frame and mark the frames done, in ONE transaction.

        A frame written again is replaced.  Tracks new to the cache are added (unnamed).
        Nothing is committed if the iterable or the validation raises.  The iterable is consumed
        inside the transaction (holding the write lock): pass finished results in batches,
        not a generator that runs the model.
        """
        self._check_writable()
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for index, records in frames:
                    rows = self._rows(int(index), list(records))
                    conn.execute("DELETE FROM persons WHERE frame_index = ?", (int(index),))
                    conn.executemany("INSERT INTO persons VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                    conn.executemany("INSERT OR IGNORE INTO tracks (track_id) VALUES (?)",
                                     [(r[1],) for r in rows])
                    conn.execute("INSERT OR IGNORE INTO frames VALUES (?)", (int(index),))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- progress ----------------------------------------------------------------------------
    def frames_done(self) -> np.ndarray:
        """Sorted int64 indices of the analysed frames (including frames with nobody)."""
        with self._lock:
            rows = self._conn.execute("SELECT frame_index FROM frames ORDER BY frame_index")
            return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def next_frame_to_do(self) -> int:
        """The first frame not analysed yet (``frame_count`` when complete)."""
        done = self.frames_done()
        done = done[(done >= 0) & (done < self.meta.frame_count)]
        gaps = np.flatnonzero(done != np.arange(len(done)))
        return int(gaps[0]) if gaps.size else len(done)

    def is_complete(self) -> bool:
        with self._lock:
            (n,) = self._conn.execute(
                "SELECT COUNT(*) FROM frames WHERE frame_index >= 0 AND frame_index < ?",
                (self.meta.frame_count,)).fetchone()
        return n == self.meta.frame_count

    def integrity_check(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check`` problems (empty when the file is sound)."""
        with self._lock:
            out = [r[0] for r in self._conn.execute("PRAGMA integrity_check")]
        return [] if out == ["ok"] else out

    # -- reading -----------------------------------------------------------------------------
    def _rle(self, counts: bytes | None) -> dict[str, Any] | None:
        if counts is None:
            return None
        return {"size": [self.meta.height, self.meta.width], "counts": counts.decode("ascii")}

    def frame(self, index: int, *, decode_masks: bool = True,
              tracks: Iterable[int] | None = None) -> list[PersonLayer]:
        """All persons of frame ``index`` (only ``tracks`` when given), by track id; empty when
        nobody is there or the frame is not analysed."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT track_id, ann_id, score, bbox, keypoints, rle FROM persons "
                "WHERE frame_index = ? ORDER BY track_id", (int(index),)).fetchall()
        if tracks is not None:
            wanted = set(tracks)
            rows = [r for r in rows if r[0] in wanted]
        out = []
        for tid, ann_id, score, bbox, kp, counts in rows:
            rle = self._rle(counts)
            out.append(PersonLayer(
                track_id=tid, bbox=_box(bbox),
                keypoints=np.frombuffer(kp, "<f8").reshape(NUM_KEYPOINTS, 3).copy(),
                score=score, mask=_decode(rle) if decode_masks and rle else None, rle=rle,
                annotation_id=ann_id))
        return out

    def track_ids(self) -> list[int]:
        with self._lock:
            return [r[0] for r in self._conn.execute(
                "SELECT track_id FROM tracks ORDER BY track_id")]

    def tracks(self) -> list[TrackSummary]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT t.track_id, t.name, MIN(p.frame_index), MAX(p.frame_index), "
                "COUNT(p.frame_index) FROM tracks t LEFT JOIN persons p "
                "ON p.track_id = t.track_id GROUP BY t.track_id ORDER BY t.track_id").fetchall()
        n = self.meta.frame_count
        return [TrackSummary(id=tid, name=name, first_frame=first, last_frame=last,
                             frames_present=count, coverage=count / n if n else 0.0)
                for tid, name, first, last, count in rows]

    def records(self, track_id: int | None = None, *, video_id: int = 1
                ) -> Iterator[PersonRecord]:
        """Stored records in (frame, track) order, of one track or all, as ``video_id``."""
        sql = ("SELECT frame_index, track_id, ann_id, score, bbox, keypoints, rle FROM persons")
        args: tuple[Any, ...] = ()
        if track_id is not None:
            sql += " WHERE track_id = ?"
            args = (int(track_id),)
        sql += " ORDER BY frame_index, track_id"
        with self._lock:
            cur = self._conn.execute(sql, args)
            batch = cur.fetchmany(512)
        while batch:
            for fi, tid, ann_id, score, bbox, kp, counts in batch:
                yield PersonRecord(
                    video_id=video_id, frame_index=fi, track_id=tid,
                    bbox=_box(bbox),
                    keypoints=np.frombuffer(kp, "<f8").reshape(NUM_KEYPOINTS, 3).copy(),
                    segmentation=self._rle(counts), score=score, id=ann_id)
            with self._lock:
                batch = cur.fetchmany(512)

    def to_trackset(self, video: VideoInfo) -> TrackSet:
        """The whole cache as a :class:`TrackSet` of ``video`` (its size must match)."""
        if (video.width, video.height) != (self.meta.width, self.meta.height):
            raise InputError(f"the layer cache is for {self.meta.width}x{self.meta.height} "
                             f"frames, not {video.width}x{video.height}", path=self.path)
        with self._lock:
            names = self._conn.execute(
                "SELECT track_id, name FROM tracks ORDER BY track_id").fetchall()
        return TrackSet(videos=[video],
                        tracks=[Track(id=t, video_id=video.id, name=n) for t, n in names],
                        annotations=list(self.records(video_id=video.id)), info=dict(self.info))

    @classmethod
    def from_trackset(cls, path: str | Path, ts: TrackSet, meta: CacheMeta, *,
                      video_id: int | None = None) -> LayerCache:
        """Build a complete cache from a tracks set (one video: ``video_id`` or the first).

        Every frame of the clip is marked analysed.  Built under a temporary name and renamed
        over ``path``, so an existing cache there is replaced atomically.  Returns it open
        read-write.  Raises InputError when the tracks do not fit ``meta`` (frame range, size).
        """
        path = Path(path)
        if not ts.videos:
            raise InputError("the tracks have no video", path=path)
        vid = ts.videos[0].id if video_id is None else video_id
        by_frame: dict[int, list[PersonRecord]] = {}
        for r in ts.annotations:
            if r.video_id == vid:
                by_frame.setdefault(r.frame_index, []).append(r)
        outside = sorted(f for f in by_frame if not 0 <= f < meta.frame_count)
        if outside:
            raise InputError(f"cannot cache these tracks: frame {outside[0]} is outside the "
                             f"clip's {meta.frame_count} frames", path=path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_sibling(path)
        try:
            conn = _init_db(tmp, meta, ts.info)
            try:
                cache = cls(conn, tmp, meta, ts.info, readonly=False)
                cache.add_tracks(t for t in ts.tracks if t.video_id == vid)
                try:
                    cache.write_frames((f, by_frame.get(f, [])) for f in range(meta.frame_count))
                except ValueError as exc:
                    raise InputError(f"cannot cache these tracks: {exc}", path=path) from None
            finally:
                conn.close()
            for side in ("-wal", "-shm", "-journal"):
                Path(f"{path}{side}").unlink(missing_ok=True)
            os.replace(tmp, path)
        finally:
            _remove_db(tmp)
        return cls.open(path, readonly=False)


__all__ = ["CACHE_FORMAT", "MIGRATIONS", "SCHEMA_VERSION", "CacheMeta", "LayerCache", "PersonLayer",
           "TrackSummary", "canonical_json"]
