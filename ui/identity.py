"""Identity edits from the app: rename, merge, split, swap and delete persons, with undo.

Each edit goes through :class:`~inference.cache.edits.TrackEditor` on the clip's layer cache
(opened writable for the edit only, so the preview's read-only handle stays valid and is
reloaded afterwards).  The app wraps each edit in an :class:`EditCommand` on a
:class:`QUndoStack`: the edit itself is made *before* the command is pushed (so a refused
edit never reaches the stack), the command's first ``redo()`` is a no-op, and later
``undo()``/``redo()`` calls :meth:`TrackEditor.undo` / :meth:`TrackEditor.redo` once per
cache edit the command made (a merge of three persons is two cache edits, one command).

Track ids are the cache's ids; frames are 0-based frame indices of the clip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QUndoCommand

from inference.cache.edits import TrackEditor
from inference.cache.layers import LayerCache
from inference.errors import HumanfxError

log = logging.getLogger(__name__)


class CacheEdits:
    """Runs :class:`TrackEditor` operations on the layer cache at :attr:`path`.

    Every call opens the cache writable, makes its edits in order and closes it.  When one
    edit of a multi-edit call fails, the ones already made are undone before the error is
    re-raised, so a call either makes all its edits or none.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def run(self, ops: list[Callable[[TrackEditor], object]]) -> list[object]:
        """Apply ``ops`` (each ``op(editor)``); their results.  Raises HumanfxError."""
        results: list[object] = []
        with LayerCache.open(self.path, readonly=False) as cache:
            editor = TrackEditor(cache)
            try:
                for op in ops:
                    results.append(op(editor))
            except HumanfxError:
                for _ in results:
                    editor.undo()
                raise
        return results

    def undo(self, count: int) -> None:
        with LayerCache.open(self.path, readonly=False) as cache:
            editor = TrackEditor(cache)
            for _ in range(count):
                editor.undo()

    def redo(self, count: int) -> None:
        with LayerCache.open(self.path, readonly=False) as cache:
            editor = TrackEditor(cache)
            for _ in range(count):
                editor.redo()


class EditCommand(QUndoCommand):
    """One app-level identity edit already applied to the cache as ``count`` cache edits.

    ``refresh()`` is called after every undo/redo (reload layers, list, timeline, viewer);
    ``on_error(message)`` when the cache refuses (its persons were rewritten since).
    """

    def __init__(self, text: str, edits: CacheEdits, count: int,
                 refresh: Callable[[], None], on_error: Callable[[str], None]):
        super().__init__(text)
        self.edits = edits
        self.count = count
        self._refresh = refresh
        self._on_error = on_error
        self._first = True

    def redo(self) -> None:
        if self._first:  # the edit was made before the push
            self._first = False
            return
        self._run(self.edits.redo)

    def undo(self) -> None:
        self._run(self.edits.undo)

    def _run(self, fn: Callable[[int], None]) -> None:
        try:
            fn(self.count)
        except HumanfxError as err:
            self.setObsolete(True)
            self._on_error(str(err))
        self._refresh()


def merge_ops(ids: list[int]) -> list[Callable[[TrackEditor], object]]:
    """Merge every id of ``ids`` into the smallest one (one cache edit per merged person)."""
    target, *rest = sorted(ids)
    return [lambda ed, b=b: ed.merge(target, b) for b in rest]


__all__ = ["CacheEdits", "EditCommand", "merge_ops"]
