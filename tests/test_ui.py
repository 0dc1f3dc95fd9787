"""The desktop app, offscreen: open a real clip, import tracks, select by clicking, export."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from editor_plugin.media import Codec, VideoReader
from editor_plugin.render import FrameRange, RenderSpec, render
from editor_plugin.session import ClipSession
from effects.backgrounds import BlurBackground
from ui.main_window import MainWindow


def _click(qtbot, w: MainWindow, x: int, y: int, shift: bool = False) -> None:
    pt = w.viewer.frame_to_widget(x, y).toPoint()
    assert w.viewer.widget_to_frame(QPointF(pt)) == (x, y)
    mods = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
    qtbot.mouseClick(w.viewer, Qt.MouseButton.LeftButton, mods, pt)


def _inside(mask: np.ndarray, others: list[np.ndarray]) -> tuple[int, int]:
    """A pixel (x, y) of ``mask`` that no other mask covers."""
    only = mask.astype(bool)
    for o in others:
        only &= ~o.astype(bool)
    ys, xs = np.nonzero(only)
    assert len(xs), "the person is fully covered"
    k = len(xs) // 2
    return int(xs[k]), int(ys[k])


def test_click_selects_the_person_under_the_cursor(qtbot, window):
    w = window
    assert set(w.persons_panel.ids()) == {t.id for t in ClipSession(w.session.path).persons()}
    assert w.timeline.presence and all(p.shape == (12,) for p in w.timeline.presence.values())
    people = w.preview.persons(w.current)
    assert len(people) == 2
    a, b = people
    xa, ya = _inside(a.mask, [b.mask])
    _click(qtbot, w, xa, ya)
    assert w.state.selected == {a.track_id}
    assert w.persons_panel.selected_ids() == {a.track_id}
    xb, yb = _inside(b.mask, [a.mask])
    _click(qtbot, w, xb, yb, shift=True)
    assert w.state.selected == {a.track_id, b.track_id}
    # Background: no mask there.
    union = a.mask.astype(bool) | b.mask.astype(bool)
    ys, xs = np.nonzero(~union)
    _click(qtbot, w, int(xs[0]), int(ys[0]))
    assert w.state.selected == set()
    assert w.persons_panel.selected_ids() == set()
    # The list drives the selection too.
    w.persons_panel.item(1).setSelected(True)
    assert w.state.selected == {w.persons_panel.ids()[1]}


def test_keys_and_timeline_move_the_frame(qtbot, window):
    w = window
    w.activateWindow()
    qtbot.keyClick(w, Qt.Key.Key_Right)
    assert w.current == 1
    qtbot.keyClick(w, Qt.Key.Key_End)
    assert w.current == 11
    qtbot.keyClick(w, Qt.Key.Key_Left)
    assert w.current == 10
    qtbot.keyClick(w, Qt.Key.Key_Home)
    assert w.current == 0
    qtbot.keyClick(w, Qt.Key.Key_L)
    assert w.playing and w.rate == 1
    qtbot.keyClick(w, Qt.Key.Key_L)
    assert w.rate == 2
    qtbot.keyClick(w, Qt.Key.Key_K)
    assert not w.playing
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.playing
    qtbot.waitUntil(lambda: not w.playing, timeout=10_000)  # plays to the end and stops
    assert w.current == 11
    x = w.timeline._x_of(5.5)
    qtbot.mouseClick(w.timeline, Qt.MouseButton.LeftButton, pos=QPoint(int(x), 30))
    assert w.current == 5


def test_blur_export_matches_headless_render(qtbot, window, tmp_path):
    w = window
    tid = w.persons_panel.ids()[0]
    w.set_selected({tid})
    before = w.composite.copy()
    w.background_panel.set_blur(9.0)
    assert isinstance(w.state.background, BlurBackground)
    assert not np.array_equal(before, w.composite)  # the viewer shows the new background

    dlg = w.open_export_dialog()
    assert dlg is not None
    dlg.set_codec(Codec.FFV1)
    out = tmp_path / "ui.mkv"
    dlg.path.setText(str(out))
    dlg.start.setValue(2)
    dlg.stop.setValue(9)
    dlg.audio.setChecked(False)
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.output is not None or dlg.error is not None, timeout=20_000)
    assert dlg.error is None and dlg.output == out and out.is_file()
    assert dlg.progress.value() == 100

    ref = render(ClipSession(w.session.path),
                 RenderSpec(persons=(tid,), background=BlurBackground(radius=9.0),
                            codec=Codec.FFV1, frames=FrameRange(2, 9), audio=False),
                 tmp_path / "ref.mkv")
    with VideoReader(out) as got, VideoReader(ref) as want:
        assert len(got) == len(want) == 7
        for i in range(7):
            np.testing.assert_array_equal(got.read(i).image, want.read(i).image)
        # The viewer's composite is the exported picture.
        w.show_frame(4)
        np.testing.assert_array_equal(w.composite, want.read(2).image)


def test_cancelled_export_leaves_nothing(qtbot, window, tmp_path):
    w = window
    w.set_selected({w.persons_panel.ids()[0]})
    w.background_panel.set_color((0, 255, 0))
    dlg = w.open_export_dialog()
    dlg.set_codec(Codec.FFV1)
    out = tmp_path / "cancelled.mkv"
    dlg.path.setText(str(out))
    dlg.start_export()
    dlg.job.cancel()  # before the render reaches its first frame check
    qtbot.waitUntil(lambda: dlg.error is not None or dlg.output is not None, timeout=20_000)
    assert dlg.job.cancelled and "cancelled" in dlg.error
    assert not out.exists()


def test_dropping_a_text_file_shows_the_error(qtbot, window, tmp_path):
    w = window
    clip_before = w.session.path
    note = tmp_path / "notes.txt"
    note.write_text("not a video\n")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(note))])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                    Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    w.dropEvent(ev)
    assert w.last_error is not None and "notes.txt" in w.last_error
    assert "\n" not in w.last_error
    assert w.error_box is not None and w.error_box.isVisible()
    assert w.error_box.text() == w.last_error
    assert w.session.path == clip_before  # the open clip stays


def test_export_needs_a_selection(qtbot, window):
    w = window
    w.set_selected(set())
    assert w.open_export_dialog() is None
    assert "no person selected" in w.last_error
