"""Identity edits on a layer cache: merge, split, swap, delete and rename persons, with undo/redo.

Every edit is one SQLite transaction that rewrites the affected ``persons`` and ``tracks`` rows
and appends an entry to the cache's edit log (tables ``edits``, ``edit_rows``, ``edit_tracks``,
schema version 2, see :mod:`inference.cache.db`).  The log stores exactly the rows the
edit changed, as they were before and after, so that

* :meth:`TrackEditor.undo` puts the previous rows back bit for bit and :meth:`TrackEditor.redo`
  re-applies the edit, each in one transaction;
* the history survives closing and reopening the file; a new edit discards the undone ones
  (the usual linear undo stack);
* an undo/redo first checks that the rows are still as the edit left them, and refuses with an
  InputError when something else rewrote them meanwhile (re-analysis, an import).

Track ids are the cache's ``track_id``; frames are 0-based frame indices of the clip.

    >>> with LayerCache.open(path, readonly=False) as cache:      # doctest: +SKIP
    ...     ed = TrackEditor(cache)
    ...     ed.merge(1, 4)            # person 4 was person 1 after all
    ...     new = ed.split(2, 120)    # from frame 120 on, "2" is someone else
    ...     ed.undo()
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inference.cache.layers import SCHEMA_VERSION, LayerCache, canonical_json
from inference.errors import InputError

log = logging.getLogger(__name__)

#: A ``persons`` row: (frame_index, track_id, ann_id, score, bbox, keypoints, rle).
Row = tuple[Any, ...]
_COLUMNS = "frame_index, track_id, ann_id, score, bbox, keypoints, rle"
_MAX_NAME = 200


@dataclass(frozen=True)
class Edit:
    """One entry of the edit log.

    Attributes:
        id: 1, 2, ... in the order the edits were made.
        op: ``"merge"``, ``"split"``, ``"swap"``, ``"delete"`` or ``"rename"``.
        args: the operation's arguments (JSON-ready), e.g. ``{"a": 1, "b": 4}``.
        summary: one line for people, e.g. ``"merge person 4 into person 1 (37 frames)"``.
        created_at: POSIX time of the edit.
        tracks: the track ids the edit touched.
        undone: True while the edit is undone (it can be redone).
    """

    id: int
    op: str
    args: dict[str, Any]
    summary: str
    created_at: float
    tracks: tuple[int, ...]
    undone: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "op": self.op, "args": self.args, "summary": self.summary,
                "created_at": self.created_at, "tracks": list(self.tracks),
                "undone": self.undone}


def _frames_text(frames: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(f) for f in frames[:limit])
    return shown + (f" and {len(frames) - limit} more" if len(frames) > limit else "")


class TrackEditor:
    """Identity edits on one open :class:`LayerCache`.

    Reading (:meth:`history`, :meth:`can_undo`, :meth:`can_redo`) works on any cache; edits,
    undo and redo need one opened writable (``LayerCache.open(path, readonly=False)``).
    """

    def __init__(self, cache: LayerCache):
        self.cache = cache

    # -- reading ------------------------------------------------------------------------------
    def _has_log(self) -> bool:
        return self.cache.schema_version >= 2

    def history(self) -> list[Edit]:
        """All logged edits, oldest first (undone ones included, with ``undone=True``)."""
        if not self._has_log():
            return []
        rows = self.cache.query("SELECT edit_id, op, args, summary, created_at, tracks, undone "
                                "FROM edits ORDER BY edit_id")
        return [Edit(id=i, op=op, args=json.loads(args), summary=summary, created_at=t,
                     tracks=tuple(json.loads(tracks)), undone=bool(undone))
                for i, op, args, summary, t, tracks, undone in rows]

    def can_undo(self) -> bool:
        return any(not e.undone for e in self.history())

    def can_redo(self) -> bool:
        return any(e.undone for e in self.history())

    # -- the edits ----------------------------------------------------------------------------
    def merge(self, a: int, b: int, *, keep_first: bool = False) -> Edit:
        """Person ``b``'s records become person ``a``'s; ``b`` disappears.

        On frames where both have a record: InputError naming the frames, or with
        ``keep_first`` keep ``a``'s record there and drop ``b``'s.  ``a`` keeps its name (or
        takes ``b``'s when it has none).
        """
        a, b = self._ids(a, b)
        if a == b:
            raise InputError(f"cannot merge person {a} with itself", path=self.cache.path,
                             hint="name two different persons")

        def change(rows: dict, names: dict) -> tuple[dict, dict, str]:
            fa = {f for f, t in rows if t == a}
            both = sorted(f for f, t in rows if t == b and f in fa)
            if both and not keep_first:
                raise InputError(
                    f"persons {a} and {b} are both on frame{'s' if len(both) > 1 else ''} "
                    f"{_frames_text(both)}", path=self.cache.path,
                    hint=f"split or swap first, or keep person {a}'s records on those frames "
                    "(keep_first, --keep-first)")
            out = {}
            moved = 0
            for (f, t), row in rows.items():
                if t == b:
                    if f in fa:
                        continue
                    out[(f, a)] = (f, a, *row[2:])
                    moved += 1
                else:
                    out[(f, t)] = row
            new_names = {a: names[a] if names[a] is not None else names[b]}
            dropped = (f", person {b}'s records on {len(both)} shared frames dropped"
                       if both else "")
            return out, new_names, (f"merge person {b} into person {a} ({moved} frames moved"
                                    f"{dropped})")

        return self._edit("merge", {"a": a, "b": b, "keep_first": bool(keep_first)}, (a, b),
                          change)

    def split(self, track: int, at_frame: int) -> int:
        """Person ``track``'s records from frame ``at_frame`` on become a new person; its id.

        The new id is one more than the largest id in the cache.  ``at_frame`` must leave
        records on both sides (after the track's first frame, at or before its last).
        """
        (track,) = self._ids(track)
        at_frame = self._int(at_frame, "frame")
        new = 0  # set inside the transaction

        def change(rows: dict, names: dict) -> tuple[dict, dict, str]:
            frames = sorted(f for f, t in rows if t == track)
            if not frames:
                raise InputError(f"cannot split person {track}: the person is on no frame",
                                 path=self.cache.path)
            if not frames[0] < at_frame <= frames[-1]:
                raise InputError(
                    f"cannot split person {track} at frame {at_frame}: the person is on "
                    f"frames {frames[0]}-{frames[-1]}", path=self.cache.path,
                    hint=f"split at a frame from {frames[0] + 1} to {frames[-1]}"
                    if len(frames) > 1 else "a person on one frame cannot be split")
            out = {}
            for (f, t), row in rows.items():
                if t == track and f >= at_frame:
                    out[(f, new)] = (f, new, *row[2:])
                else:
                    out[(f, t)] = row
            moved = sum(1 for f in frames if f >= at_frame)
            return out, {track: names[track], new: None}, (
                f"split person {track} at frame {at_frame}: {moved} frames became person {new}")

        with self._transaction() as conn:
            new = self._next_id(conn)
            edit_id = self._apply(conn, "split",
                                  {"track": track, "at_frame": at_frame, "new_track": new},
                                  (track, new), change)
        self._logged(edit_id)
        return new

    def swap(self, a: int, b: int, from_frame: int = 0) -> Edit:
        """Exchange persons ``a`` and ``b`` on frames ``from_frame`` and later (names stay with
        the ids).  InputError when neither has a record there."""
        a, b = self._ids(a, b)
        from_frame = self._int(from_frame, "frame")
        if a == b:
            raise InputError(f"cannot swap person {a} with itself", path=self.cache.path,
                             hint="name two different persons")

        def change(rows: dict, names: dict) -> tuple[dict, dict, str]:
            out = {}
            swapped = set()
            for (f, t), row in rows.items():
                if f >= from_frame and t in (a, b):
                    other = b if t == a else a
                    out[(f, other)] = (f, other, *row[2:])
                    swapped.add(f)
                else:
                    out[(f, t)] = row
            if not swapped:
                raise InputError(f"persons {a} and {b} are not on any frame from {from_frame} "
                                 "on: nothing to swap", path=self.cache.path,
                                 hint="pick an earlier frame")
            return out, dict(names), (f"swap persons {a} and {b} from frame {from_frame} "
                                      f"({len(swapped)} frames)")

        return self._edit("swap", {"a": a, "b": b, "from_frame": from_frame}, (a, b), change)

    def delete(self, track: int) -> Edit:
        """Remove person ``track`` and all its records."""
        (track,) = self._ids(track)

        def change(rows: dict, names: dict) -> tuple[dict, dict, str]:
            return {}, {}, f"delete person {track} ({len(rows)} frames)"

        return self._edit("delete", {"track": track}, (track,), change)

    def rename(self, track: int, name: str | None) -> Edit:
        """Name person ``track`` (``None`` or an empty name clears it)."""
        (track,) = self._ids(track)
        if name is not None:
            if not isinstance(name, str):
                raise InputError(f"a person's name must be text, not {name!r}")
            name = name.strip() or None
        if name is not None and (len(name) > _MAX_NAME or not name.isprintable()):
            raise InputError(f"bad name for person {track}: use up to {_MAX_NAME} printable "
                             "characters on one line", path=self.cache.path)

        def change(rows: dict, names: dict) -> tuple[dict, dict, str]:
            old = names[track]
            what = f"{old!r} -> {name!r}" if old is not None else f"{name!r}"
            return rows, {track: name}, f"rename person {track}: {what}"

        return self._edit("rename", {"track": track, "name": name}, (track,), change)

    # -- undo / redo --------------------------------------------------------------------------
    def undo(self) -> Edit:
        """Undo the latest applied edit (restoring exactly the rows it changed); that edit."""
        with self._transaction() as conn:
            row = conn.execute("SELECT edit_id FROM edits WHERE undone = 0 "
                               "ORDER BY edit_id DESC LIMIT 1").fetchone()
            if row is None:
                raise InputError("nothing to undo", path=self.cache.path,
                                 hint="`humanfx tracks history CLIP` lists the edits")
            self._replay(conn, row[0], forward=False)
            conn.execute("UPDATE edits SET undone = 1 WHERE edit_id = ?", (row[0],))
        return self._get(row[0])

    def redo(self) -> Edit:
        """Re-apply the earliest undone edit; that edit."""
        with self._transaction() as conn:
            row = conn.execute("SELECT edit_id FROM edits WHERE undone = 1 "
                               "ORDER BY edit_id LIMIT 1").fetchone()
            if row is None:
                raise InputError("nothing to redo", path=self.cache.path,
                                 hint="only undone edits can be redone, until a new edit")
            self._replay(conn, row[0], forward=True)
            conn.execute("UPDATE edits SET undone = 0 WHERE edit_id = ?", (row[0],))
        return self._get(row[0])

    # -- machinery ----------------------------------------------------------------------------
    def _transaction(self):
        if self.cache.readonly:
            raise InputError("the layer cache is open read-only", path=self.cache.path,
                             hint="open it with LayerCache.open(path, readonly=False) to edit")
        if not self._has_log():  # cannot happen for a writable cache (open() upgrades it)
            raise InputError(f"the layer cache predates schema version {SCHEMA_VERSION}",
                             path=self.cache.path, hint="open it writable to upgrade it")
        return self.cache.transaction()

    def _get(self, edit_id: int) -> Edit:
        return next(e for e in self.history() if e.id == edit_id)

    def _int(self, value: Any, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{what} {value!r} is not a whole number", path=self.cache.path)
        return int(value)

    def _ids(self, *ids: int) -> tuple[int, ...]:
        ids = tuple(self._int(i, "person id") for i in ids)
        known = set(self.cache.track_ids())
        unknown = [i for i in ids if i not in known]
        if unknown:
            listing = ", ".join(str(i) for i in sorted(known)) or "none"
            raise InputError(
                f"person {', '.join(map(str, dict.fromkeys(unknown)))} is not in this layer "
                f"cache (persons: {listing})", path=self.cache.path,
                hint="run `humanfx persons CLIP` to list them")
        return ids

    @staticmethod
    def _next_id(conn: sqlite3.Connection) -> int:
        (top,) = conn.execute(
            "SELECT MAX(m) FROM (SELECT MAX(track_id) AS m FROM tracks "
            "UNION ALL SELECT MAX(track_id) FROM persons)").fetchone()
        return 1 if top is None else int(top) + 1

    @staticmethod
    def _state(conn: sqlite3.Connection, tracks: tuple[int, ...]
               ) -> tuple[dict[tuple[int, int], Row], dict[int, str | None]]:
        marks = ",".join("?" * len(tracks))
        rows = conn.execute(f"SELECT {_COLUMNS} FROM persons WHERE track_id IN ({marks})",
                            tracks).fetchall()
        names = dict(conn.execute(
            f"SELECT track_id, name FROM tracks WHERE track_id IN ({marks})", tracks).fetchall())
        return {(r[0], r[1]): tuple(r) for r in rows}, names

    def _edit(self, op: str, args: dict[str, Any], tracks: tuple[int, ...],
              change: Callable[[dict, dict], tuple[dict, dict, str]]) -> Edit:
        """:meth:`_apply` in a transaction of its own; the logged edit."""
        with self._transaction() as conn:
            edit_id = self._apply(conn, op, args, tracks, change)
        return self._logged(edit_id)

    def _logged(self, edit_id: int) -> Edit:
        edit = self._get(edit_id)
        log.info("%s: edit %d: %s", self.cache.path, edit.id, edit.summary)
        return edit

    def _apply(self, conn: sqlite3.Connection, op: str, args: dict[str, Any],
               tracks: tuple[int, ...],
               change: Callable[[dict, dict], tuple[dict, dict, str]]) -> int:
        """Run ``change(rows, names) -> (new_rows, new_names, summary)`` on the ``persons``
        rows (by ``(frame, track)``) and names (``None`` for absent tracks) of ``tracks``;
        write the difference and log it.  Tracks missing from ``new_names`` are removed.
        Returns the new edit's id."""
        tracks = tuple(dict.fromkeys(tracks))
        rows, before_names = self._state(conn, tracks)
        names = {t: before_names.get(t) for t in tracks}
        new_rows, new_names, summary = change(rows, names)
        before = {k: r for k, r in rows.items() if new_rows.get(k) != r}
        after = {k: r for k, r in new_rows.items() if rows.get(k) != r}
        self._write(conn, before, after, tracks, new_names)
        # A new edit ends the redo stack.
        for table in ("edit_rows", "edit_tracks", "edits"):
            conn.execute(f"DELETE FROM {table} WHERE edit_id IN "
                         "(SELECT edit_id FROM edits WHERE undone = 1)")
        cur = conn.execute(
            "INSERT INTO edits (op, args, summary, created_at, tracks, undone) "
            "VALUES (?, ?, ?, ?, ?, 0)",
            (op, canonical_json(args), summary, time.time(), canonical_json(list(tracks))))
        edit_id = int(cur.lastrowid)
        conn.executemany(f"INSERT INTO edit_rows (edit_id, after, {_COLUMNS}) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [(edit_id, 0, *r) for r in before.values()]
                         + [(edit_id, 1, *r) for r in after.values()])
        conn.executemany("INSERT INTO edit_tracks VALUES (?, ?, ?, ?)",
                         [(edit_id, 0, t, n) for t, n in before_names.items()]
                         + [(edit_id, 1, t, n) for t, n in new_names.items()])
        return edit_id

    @staticmethod
    def _write(conn: sqlite3.Connection, old: dict[tuple[int, int], Row],
               new: dict[tuple[int, int], Row], tracks: tuple[int, ...],
               names: dict[int, str | None]) -> None:
        """Replace rows ``old`` by rows ``new`` and the ``tracks`` rows by ``names``."""
        conn.executemany("DELETE FROM persons WHERE frame_index = ? AND track_id = ?",
                         list(old))
        conn.executemany(f"INSERT INTO persons ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         list(new.values()))
        conn.executemany("DELETE FROM tracks WHERE track_id = ?", [(t,) for t in tracks])
        conn.executemany("INSERT INTO tracks (track_id, name) VALUES (?, ?)", names.items())

    def _replay(self, conn: sqlite3.Connection, edit_id: int, *, forward: bool) -> None:
        """Move from one side of edit ``edit_id`` to the other, checking the current side."""
        (tracks_json,) = conn.execute("SELECT tracks FROM edits WHERE edit_id = ?",
                                      (edit_id,)).fetchone()
        tracks = tuple(json.loads(tracks_json))
        sides = []
        for after in (0, 1):
            rows = conn.execute(f"SELECT {_COLUMNS} FROM edit_rows WHERE edit_id = ? AND "
                                "after = ?", (edit_id, after)).fetchall()
            names = dict(conn.execute("SELECT track_id, name FROM edit_tracks WHERE "
                                      "edit_id = ? AND after = ?", (edit_id, after)).fetchall())
            sides.append(({(r[0], r[1]): tuple(r) for r in rows}, names))
        (src_rows, src_names), (dst_rows, dst_names) = sides if forward else sides[::-1]
        current, names = self._state(conn, tracks)
        keys = set(src_rows) | set(dst_rows)
        stale = any(current.get(k) != src_rows.get(k) for k in keys) or names != src_names
        if stale:
            word = "redone" if forward else "undone"
            raise InputError(f"edit {edit_id} cannot be {word}: the persons it changed were "
                             "rewritten since (re-analysis or import)", path=self.cache.path,
                             hint="re-import or re-analyse to start over")
        self._write(conn, {k: current[k] for k in keys if k in current}, dst_rows, tracks,
                    dst_names)


__all__ = ["Edit", "TrackEditor"]
