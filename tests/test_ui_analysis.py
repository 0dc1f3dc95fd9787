"""Analysis from the app: a worker with a progress dialog; errors in the non-blocking box."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from editor_plugin.synth_io import write_synthetic_clip
from inference.synth import SynthConfig
from ui.analysis import eta_text
from ui.main_window import MainWindow

CONFIG = SynthConfig(people=2, frames=8, width=96, height=64, seed=3)


def test_analysis_without_weights_shows_how_to_get_them(qtbot, tmp_path, monkeypatch):
    # No weights anywhere: an empty torch hub folder (and no network on the test machines).
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    clip, _ = write_synthetic_clip(tmp_path, CONFIG)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_clip(clip)
    job = w.start_analysis()
    assert job is not None
    assert w.analysis.dialog is not None and w.analysis.dialog.isVisible()
    # The window keeps working while the analysis runs.
    w.step(1)
    assert w.current == 1
    qtbot.waitUntil(lambda: job.done and w.last_error is not None, timeout=60_000)
    assert "humanfx models" in w.last_error  # how to get the weights
    assert "\n" not in w.last_error
    assert w.error_box is not None and w.error_box.isVisible()
    assert w.error_box.text() == w.last_error
    assert not w.analysis.dialog.isVisible()
    assert not job.cancelled and w.analysis.result is None
    # Still usable with the box open: the timeline scrubs, a new run can start.
    x = w.timeline._x_of(5.5)
    qtbot.mouseClick(w.timeline, Qt.MouseButton.LeftButton, pos=QPoint(int(x), 30))
    assert w.current == 5
    job2 = w.start_analysis()
    assert job2 is not None and job2 is not job
    qtbot.waitUntil(lambda: job2.done, timeout=60_000)
    w.close()


def test_analysis_needs_a_clip(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    assert w.start_analysis() is None
    assert "open a clip" in w.last_error


def test_eta_text():
    assert eta_text(0, 100, 0.0) == "0/100 frames"
    assert eta_text(10, 100, 5.0) == "10/100 frames, about 45 s left"
    assert eta_text(10, 100, 20.0) == "10/100 frames, about 3 min 0 s left"
    assert eta_text(100, 100, 20.0) == "100/100 frames"
