"""The UI thread stays responsive while an export runs on the worker.

A 5 ms QTimer on the UI thread records the largest gap between its ticks while the export
dialog renders a 48-frame 320x240 clip (blur background, H.264) on its worker thread.  The
issue's target is 50 ms.  Measured on the 2-core development machine (software GL; the worker
decodes, composites and encodes): 13.5-16.4 ms max gap over five runs, 21.3 ms with another
test file running alongside.  The bound asserted is the target, 50 ms: a blocked UI thread (a
render on it, a ``wait()`` on the job) shows up as a gap of the whole render, far above it.
This is the one timing assertion of the suite, asked for by the issue.
"""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("pytestqt")  # the app's tests need pytest-qt

from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from editor_plugin.media import Codec
from editor_plugin.synth_io import write_synthetic_clip
from inference.synth import SynthConfig
from ui.main_window import MainWindow

log = logging.getLogger(__name__)

CONFIG = SynthConfig(people=2, frames=48, width=320, height=240, seed=4)
#: Largest gap between UI-thread timer ticks allowed during the export, ms.
BOUND_MS = 50.0


class GapMeter:
    """Ticks a 5 ms precise timer; :attr:`max_gap_ms` is the longest time between ticks."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.last = 0
        self.gaps: list[float] = []

    def start(self) -> None:
        self.clock.start()
        self.last = self.clock.nsecsElapsed()
        self.timer.start(5)

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.gaps.append((now - self.last) / 1e6)
        self.last = now

    @property
    def max_gap_ms(self) -> float:
        return max(self.gaps, default=0.0)


def test_ui_thread_never_blocks_during_export(qtbot, tmp_path):
    clip, tracks = write_synthetic_clip(tmp_path, CONFIG)
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(700, 500)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_clip(clip)
    w.import_tracks(tracks)
    qtbot.waitUntil(lambda: w.persons_panel.count() == 2, timeout=10_000)
    w.set_selected({w.persons_panel.ids()[0]})
    w.background_panel.set_blur(11.0)
    dlg = w.open_export_dialog()
    dlg.set_codec(Codec.H264)
    dlg.path.setText(str(tmp_path / "out.mp4"))
    dlg.audio.setChecked(False)

    meter = GapMeter()
    meter.start()
    qtbot.wait(100)  # baseline ticks before the job
    job = dlg.start_export()
    qtbot.waitUntil(lambda: dlg.output is not None or dlg.error is not None, timeout=60_000)
    meter.stop()
    assert dlg.error is None and job.done
    ticks = len(meter.gaps)
    log.warning("UI max gap during export: %.1f ms over %d ticks", meter.max_gap_ms, ticks)
    print(f"UI max gap during export: {meter.max_gap_ms:.1f} ms over {ticks} ticks")
    assert ticks > 20  # the timer really ran throughout
    assert meter.max_gap_ms < BOUND_MS
    w.close()
