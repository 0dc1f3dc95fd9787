"""Identity edits from the person list: rename, split, merge, swap, delete, with undo/redo."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from inference.cache.layers import LayerCache
from ui.main_window import MainWindow


def _cache_state(w: MainWindow):
    """The cache's TrackSet (as comparable plain data) and its names."""
    with LayerCache.open(w.preview.cache.path) as cache:
        ts = cache.to_trackset(w.session.video_info())
        return ts, {t.id: t.name for t in cache.tracks()}


def test_rename_split_merge_undo_redo(qtbot, window):
    w = window
    a, b = w.persons_panel.ids()
    ts0, names0 = _cache_state(w)
    labels0 = w.persons_panel.labels()

    # Rename in place: the editor shows the name alone; committing renames in the cache.
    w.set_selected({a})
    editor = w.persons_panel.start_rename(a)
    assert isinstance(editor, QLineEdit) and editor.text() == (names0[a] or "")
    editor.setText("Alice")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.persons_panel.names()[a] == "Alice", timeout=5_000)
    assert _cache_state(w)[1][a] == "Alice"
    assert "Alice" in w.persons_panel.item_of(a).text()

    # Split person a mid-way, then merge the piece back: one person again.
    present = w.timeline.presence[a].copy()
    on = np.flatnonzero(present)
    at = int(on[len(on) // 2])
    w.show_frame(at)
    w.set_selected({a})
    new = w.split_here()
    assert new is not None and new not in (a, b)
    assert sorted(w.persons_panel.ids()) == sorted([a, b, new])
    assert set(w.timeline.presence) == {a, b, new}
    later = np.arange(len(present)) >= at
    np.testing.assert_array_equal(w.timeline.presence[new], present & later)
    np.testing.assert_array_equal(w.timeline.presence[a], present & ~later)
    w.set_selected({a, new})
    assert w.merge_selected()
    assert sorted(w.persons_panel.ids()) == [a, b]
    assert w.state.selected == {a}
    ts_merged, names_merged = _cache_state(w)
    assert names_merged[a] == "Alice"
    assert sorted(ts_merged.annotations, key=repr) == sorted(ts0.annotations, key=repr)
    assert w.undo_stack.count() == 3

    # Ctrl+Z three times (keys on the window): back to the original list and cache.
    w.activateWindow()
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert sorted(w.persons_panel.ids()) == sorted([a, b, new])
    w.undo_stack.undo()
    assert sorted(w.persons_panel.ids()) == [a, b]
    assert _cache_state(w)[1][a] == "Alice"
    w.undo_stack.undo()
    assert w.persons_panel.labels() == labels0
    ts, names = _cache_state(w)
    assert names == names0
    assert ts.tracks == ts0.tracks and ts.annotations == ts0.annotations
    assert not w.undo_stack.canUndo()

    # Redo re-applies all three (Ctrl+Shift+Z for the first).
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert w.persons_panel.names()[a] == "Alice"
    w.undo_stack.redo()
    w.undo_stack.redo()
    assert sorted(w.persons_panel.ids()) == [a, b]
    ts, names = _cache_state(w)
    assert names == names_merged
    assert ts.annotations == ts_merged.annotations


def test_refused_edit_shows_error_and_is_not_pushed(qtbot, window):
    w = window
    a, b = w.persons_panel.ids()
    w.set_selected({a, b})
    assert not w.merge_selected()  # both persons are on every frame
    assert w.last_error is not None and "both on frame" in w.last_error
    assert w.error_box.isVisible()
    assert w.undo_stack.count() == 0
    assert sorted(w.persons_panel.ids()) == [a, b]


def test_swap_and_delete(qtbot, window):
    w = window
    a, b = w.persons_panel.ids()
    w.show_frame(5)
    before = {p.track_id: p.bbox for p in w.preview.persons(8)}
    w.set_selected({a, b})
    assert w.swap_here()
    after = {p.track_id: p.bbox for p in w.preview.persons(8)}
    assert after[a] == before[b] and after[b] == before[a]
    w.set_selected({b})
    assert w.delete_selected()
    assert w.persons_panel.ids() == [a]
    assert w.state.selected == set()
    assert list(w.timeline.presence) == [a]
    w.undo_stack.undo()
    w.undo_stack.undo()
    assert {p.track_id: p.bbox for p in w.preview.persons(8)} == before
