"""Identity edits from the app: rename, merge, split, swap and delete persons, with undo.

Each edit goes through :class:`~inference.cache.edits.TrackEditor` on the clip's layer cache
(opened writable for the edit only, so the preview's read-only handle stays valid and is
reloaded afterwards).  The app wraps each edit in an :class:`EditCommand` on a
:class:`QUndoStack`: the edit itself is made *before* the command is pushed (so a refused
edit never reaches the stack), the command's first ``redo()`` is a no-op, and later
``undo()``/``redo()`` calls :meth:`TrackEditor.undo` / :meth:`TrackEditor.redo` once per
cache edit the command made (a merge of three persons is two cache edits, one command).

What the edit refers to by track id (effects per person, depth overrides, persons' own
backgrounds and mattes: :class:`~ui.person_refs.PersonRefs`) follows in the same step: after
a merge it moves to the merge's target, after a delete it is dropped
(:func:`~ui.person_refs.carry_refs`, each change logged as a warning), and undo/redo put back
the refs from before/after, so saving or exporting after an identity edit never names a
person the clip no longer has.

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
from ui.person_refs import PersonRefs, carry_refs, refs_of

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
    ``refs``: the window's :class:`~ui.person_refs.PersonRefs` before and after the edit
    (None: unchanged), put back by ``apply_refs`` after the cache's undo / redo.
    """

    def __init__(self, text: str, edits: CacheEdits, count: int,
                 refresh: Callable[[], None], on_error: Callable[[str], None],
                 refs: tuple[PersonRefs, PersonRefs] | None = None,
                 apply_refs: Callable[[PersonRefs], None] | None = None):
        super().__init__(text)
        self.edits = edits
        self.count = count
        self.refs = refs
        self._refresh = refresh
        self._on_error = on_error
        self._apply_refs = apply_refs
        self._first = True

    def redo(self) -> None:
        if self._first:  # the edit was made before the push
            self._first = False
            return
        self._run(self.edits.redo, 1)

    def undo(self) -> None:
        self._run(self.edits.undo, 0)

    def _run(self, fn: Callable[[int], None], side: int) -> None:
        try:
            fn(self.count)
        except HumanfxError as err:
            self.setObsolete(True)
            self._on_error(str(err))
        else:
            if self.refs is not None and self._apply_refs is not None:
                self._apply_refs(self.refs[side])
        self._refresh()


def merge_ops(ids: list[int]) -> list[Callable[[TrackEditor], object]]:
    """Merge every id of ``ids`` into the smallest one (one cache edit per merged person)."""
    target, *rest = sorted(ids)
    return [lambda ed, b=b: ed.merge(target, b) for b in rest]


class IdentityEditing:
    """The main window's identity edits (a mixin of :class:`~ui.main_window.MainWindow`,
    which provides ``preview``, ``state``, ``current``, ``undo_stack``, ``persons_panel``,
    ``effects``, ``backgrounds``, ``projects``, ``set_selected``, ``show_error``,
    ``show_frame``, ``statusBar`` and ``_reload_persons``).
    Each edit acts on the selected persons and, for split and swap, the current frame."""

    def edit_persons(self, text: str, ops: list[Callable[[TrackEditor], object]],
                     carry: dict[int, int] | None = None) -> list[object] | None:
        """Make ``ops`` on the clip's layer cache as one undoable step named ``text``; their
        results, or None (error shown) when the cache refused.  ``carry``: gone id -> the id
        it became (a merge), for what the edit refers to by id (:func:`carry_refs`)."""
        if self.preview is None or self.preview.cache is None:
            self.show_error("no person layers to edit (import tracks or analyse the clip first)")
            return None
        edits = CacheEdits(self.preview.cache.path)
        try:
            results = edits.run(ops)
        except HumanfxError as err:
            self.show_error(str(err))
            return None
        before = refs_of(self.state)
        with LayerCache.open(edits.path) as cache:
            known = set(cache.track_ids())
        after, notes = carry_refs(before, known, carry)
        for note in notes:
            log.warning("%s: %s", text, note)
        refs = None
        if after != before:
            refs = (before, after)
            self.apply_refs(after)
        self.undo_stack.push(EditCommand(text, edits, len(ops), self.refresh_persons,
                                         self.show_error, refs, self.apply_refs))
        self.refresh_persons()
        self.statusBar().showMessage(text)
        return results

    def apply_refs(self, refs: PersonRefs) -> None:
        """Put ``refs`` (effects per person, depth overrides, own backgrounds and mattes) in
        the state and the panels (the caller refreshes the viewer)."""
        self.state.stack = refs.stack
        self.state.person_backgrounds = refs.backgrounds
        self.state.person_mattes = refs.mattes
        self.effects.sync()
        self.backgrounds.sync()
        self.projects.mark_dirty()

    def refresh_persons(self) -> None:
        """Re-read the layers after an edit: list, lanes, selection and the viewer."""
        if self.preview is None:
            return
        self.preview.reload_layers()
        known = set(self.preview.cache.track_ids()) if self.preview.cache is not None else set()
        self.state.selected &= known
        self._reload_persons()
        self.show_frame(self.current)

    def _need(self, count: int, what: str) -> list[int] | None:
        """The selected ids, sorted, if there are ``count`` of them (negative: at least
        ``-count``); else None with an error shown."""
        ids = sorted(self.state.selected)
        ok = len(ids) >= -count if count < 0 else len(ids) == count
        if not ok:
            self.show_error(f"{what}: select {'at least ' if count < 0 else ''}{abs(count)} "
                            f"person{'s' if abs(count) > 1 else ''} first (now {len(ids)})")
            return None
        return ids

    def rename_person(self, track_id: int, name: str) -> bool:
        """Name person ``track_id`` ("" clears the name)."""
        return self.edit_persons(f"Rename person {track_id}",
                                 [lambda ed: ed.rename(track_id, name or None)]) is not None

    def _rename_current(self) -> None:
        ids = self._need(1, "rename")
        if ids is not None:
            self.persons_panel.start_rename(ids[0])

    def merge_selected(self) -> bool:
        """Merge the selected persons into the one with the smallest id."""
        ids = self._need(-2, "merge")
        if ids is None:
            return False
        done = self.edit_persons(f"Merge persons {', '.join(map(str, ids))}", merge_ops(ids),
                                 carry={b: ids[0] for b in ids[1:]})
        if done is not None:
            self.set_selected({ids[0]})
        return done is not None

    def split_here(self) -> int | None:
        """Split the selected person at the current frame; the new person's id."""
        ids = self._need(1, "split")
        if ids is None:
            return None
        at = self.current
        done = self.edit_persons(f"Split person {ids[0]} at frame {at}",
                                 [lambda ed: ed.split(ids[0], at)])
        return None if done is None else int(done[0])

    def swap_here(self) -> bool:
        """Swap the two selected persons from the current frame on."""
        ids = self._need(2, "swap")
        if ids is None:
            return False
        a, b, at = ids[0], ids[1], self.current
        return self.edit_persons(f"Swap persons {a} and {b} from frame {at}",
                                 [lambda ed: ed.swap(a, b, at)]) is not None

    def delete_selected(self) -> bool:
        """Delete the selected persons."""
        ids = self._need(-1, "delete")
        if ids is None:
            return False
        return self.edit_persons(f"Delete person{'s' if len(ids) > 1 else ''} "
                                 f"{', '.join(map(str, ids))}",
                                 [lambda ed, t=t: ed.delete(t) for t in ids]) is not None


__all__ = ["CacheEdits", "EditCommand", "IdentityEditing", "merge_ops"]
