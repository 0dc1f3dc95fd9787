"""The layer cache's SQLite side: schema, migrations, connections, the meta table, and the
small records a cache hands out (:class:`CacheMeta`, :class:`TrackSummary`, :class:`PersonLayer`).

Tables (schema version :data:`SCHEMA_VERSION`)::

    meta(key TEXT PRIMARY KEY, value TEXT)           -- format, schema_version, CacheMeta, info
    tracks(track_id INTEGER PRIMARY KEY, name TEXT)
    frames(frame_index INTEGER PRIMARY KEY)          -- analysed frames ("done" marks)
    persons(frame_index, track_id, ann_id, score REAL, bbox BLOB, keypoints BLOB, rle BLOB,
            PRIMARY KEY (frame_index, track_id)) WITHOUT ROWID
    index persons_by_track(track_id, frame_index)
    -- since version 2: the identity-edit log (see inference.cache.edits)
    edits(edit_id INTEGER PRIMARY KEY, op, args JSON, summary, created_at REAL,
          tracks JSON, undone INTEGER)
    edit_rows(edit_id, after, <the persons columns>, PRIMARY KEY (edit_id, after,
              frame_index, track_id)) WITHOUT ROWID  -- the rows an edit changed, before/after
    edit_tracks(edit_id, after, track_id, name, PRIMARY KEY (edit_id, after, track_id))

Version 1 files (no edit log) are still read; opening one writable upgrades it in place, in one
transaction (:data:`MIGRATIONS`).

:class:`~inference.cache.layers.LayerCache` is built on these helpers;
:mod:`inference.cache.layers` re-exports the public names (import them from there or from
:mod:`inference.cache`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from inference.errors import InputError

log = logging.getLogger(__name__)

CACHE_FORMAT = "humanfx-layer-cache"
SCHEMA_VERSION = 2
APPLICATION_ID = 0x48465843  # "HFXC", in the SQLite header
_REBUILD = "delete it and re-run the analysis (or the import) to rebuild it"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE tracks (track_id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE frames (frame_index INTEGER PRIMARY KEY);
CREATE TABLE persons (
    frame_index INTEGER NOT NULL,
    track_id INTEGER NOT NULL,
    ann_id INTEGER,
    score REAL NOT NULL,
    bbox BLOB NOT NULL,
    keypoints BLOB NOT NULL,
    rle BLOB,
    PRIMARY KEY (frame_index, track_id)
) WITHOUT ROWID;
CREATE INDEX persons_by_track ON persons (track_id, frame_index);
"""

#: The identity-edit log (schema version 2).
_EDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS edits (
    edit_id INTEGER PRIMARY KEY,
    op TEXT NOT NULL,
    args TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_at REAL NOT NULL,
    tracks TEXT NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS edit_rows (
    edit_id INTEGER NOT NULL,
    after INTEGER NOT NULL,
    frame_index INTEGER NOT NULL,
    track_id INTEGER NOT NULL,
    ann_id INTEGER,
    score REAL NOT NULL,
    bbox BLOB NOT NULL,
    keypoints BLOB NOT NULL,
    rle BLOB,
    PRIMARY KEY (edit_id, after, frame_index, track_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edit_tracks (
    edit_id INTEGER NOT NULL,
    after INTEGER NOT NULL,
    track_id INTEGER NOT NULL,
    name TEXT,
    PRIMARY KEY (edit_id, after, track_id)
) WITHOUT ROWID;
"""


def _statements(script: str) -> list[str]:
    return [s for s in script.split(";") if s.strip()]


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2: add the (empty) identity-edit log."""
    for statement in _statements(_EDIT_SCHEMA):
        conn.execute(statement)


#: ``{from_version: upgrade}``: each step runs inside the caller's transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


def _json_default(value: Any) -> Any:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces); Fractions as ``"num/den"``, Paths as str."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_json_default)


@dataclass(frozen=True)
class CacheMeta:
    """What a cache was computed from.  ``clip_name`` is informational (renames are fine)."""

    clip_hash: str
    source: str
    settings: dict
    width: int
    height: int
    frame_count: int
    fps: Fraction
    clip_name: str = ""

    def differences(self, other: CacheMeta) -> list[str]:
        """Names of the fields that differ, ignoring ``clip_name``; settings compare as JSON."""
        out = [name for name in ("clip_hash", "source", "width", "height", "frame_count", "fps")
               if getattr(self, name) != getattr(other, name)]
        if canonical_json(self.settings) != canonical_json(other.settings):
            out.append("settings")
        return out


@dataclass(frozen=True)
class TrackSummary:
    """One person of a cache.  ``coverage`` = ``frames_present / frame_count`` of the clip."""

    id: int
    name: str | None
    first_frame: int | None
    last_frame: int | None
    frames_present: int
    coverage: float


@dataclass
class PersonLayer:
    """One person in one frame, as read from the cache.

    ``bbox`` is ``(x, y, w, h)`` pixels; ``keypoints`` ``(17, 3)`` float64 ``(x, y, v)``;
    ``mask`` ``(H, W)`` uint8 0/1 (``None`` when not decoded or absent); ``rle`` the compressed
    RLE dict (``None`` when the person has no mask).
    """

    track_id: int
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float
    mask: np.ndarray | None
    rle: dict[str, Any] | None
    annotation_id: int | None = None


def _temp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _remove_db(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        p.unlink(missing_ok=True)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    """Readers use a read-write handle with ``query_only`` so that the last connection to
    close removes the WAL/SHM side files (a ``mode=ro`` handle cannot), falling back to
    ``mode=ro`` where the file or folder is not writable."""
    uri = path.resolve().as_uri()
    if not readonly:
        return sqlite3.connect(uri + "?mode=rwc", uri=True, isolation_level=None,
                               check_same_thread=False, timeout=30.0)
    conn = sqlite3.connect(uri + "?mode=rw", uri=True, isolation_level=None,
                           check_same_thread=False, timeout=30.0)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:  # read-only file or folder
        conn.close()
    except sqlite3.DatabaseError:  # not a database: _read_meta reports it
        return conn
    return sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False, timeout=30.0)


def _init_db(path: Path, meta: CacheMeta, info: dict[str, Any]) -> sqlite3.Connection:
    """A new cache file with schema and meta; returns the open connection (WAL mode)."""
    conn = _connect(path, readonly=False)
    try:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN")
        for statement in _statements(_SCHEMA) + _statements(_EDIT_SCHEMA):
            conn.execute(statement)
        fps = Fraction(meta.fps)
        rows = {
            "format": CACHE_FORMAT, "schema_version": str(SCHEMA_VERSION),
            "clip_hash": meta.clip_hash, "source": meta.source,
            "settings": canonical_json(meta.settings), "width": str(int(meta.width)),
            "height": str(int(meta.height)), "frame_count": str(int(meta.frame_count)),
            "fps": f"{fps.numerator}/{fps.denominator}", "clip_name": meta.clip_name,
            "info": canonical_json(info), "created_at": str(time.time()),
        }
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", rows.items())
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        raise
    return conn


def _read_meta(conn: sqlite3.Connection, path: Path) -> tuple[CacheMeta, dict[str, Any]]:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rows = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise InputError("the layer cache is locked by another process", path=path,
                             hint="wait for it to finish, then retry") from None
        raise InputError("is not a humanfx layer cache (not an SQLite database)", path=path,
                         hint=_REBUILD) from None
    if rows.get("format") != CACHE_FORMAT or not {"tracks", "frames", "persons"} <= tables:
        raise InputError("is not a humanfx layer cache", path=path, hint=_REBUILD)
    version = rows.get("schema_version", "?")
    if version != str(SCHEMA_VERSION) and not (version.isdigit() and int(version) in MIGRATIONS):
        newer = version.isdigit() and int(version) > SCHEMA_VERSION
        raise InputError(
            f"the layer cache has schema version {version}, this humanfx reads version "
            f"{SCHEMA_VERSION}", path=path,
            hint=("it was written by a newer humanfx; update humanfx, or " if newer else "")
            + _REBUILD)
    try:
        num, den = rows["fps"].split("/")
        meta = CacheMeta(
            clip_hash=rows["clip_hash"], source=rows["source"],
            settings=json.loads(rows["settings"]), width=int(rows["width"]),
            height=int(rows["height"]), frame_count=int(rows["frame_count"]),
            fps=Fraction(int(num), int(den)), clip_name=rows.get("clip_name", ""))
        info = json.loads(rows.get("info", "{}"))
    except (KeyError, ValueError, ZeroDivisionError):
        raise InputError("the layer cache's meta table is damaged", path=path,
                         hint=_REBUILD) from None
    return meta, info


def _schema_version(conn: sqlite3.Connection) -> int:
    (value,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(value)


def _upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Bring an older (readable) schema up to :data:`SCHEMA_VERSION`, in one transaction."""
    if _schema_version(conn) == SCHEMA_VERSION:
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = _schema_version(conn)  # again, under the write lock
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                         (str(SCHEMA_VERSION),))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        raise InputError(f"cannot upgrade the layer cache to schema version {SCHEMA_VERSION} "
                         f"({exc})", path=path,
                         hint="make the file writable, or open it read-only") from None
    log.info("upgraded layer cache %s to schema version %d", path, SCHEMA_VERSION)


__all__ = ["APPLICATION_ID", "CACHE_FORMAT", "MIGRATIONS", "SCHEMA_VERSION", "CacheMeta",
           "PersonLayer", "TrackSummary", "canonical_json"]
