"""The UI thread keeps running its event loop while an export runs on the worker.

A 5 ms QTimer on the UI thread records the largest gap between its ticks while the export
dialog renders a 48-frame 320x240 clip on its worker thread.  This is a structural check, not a
speed target: a render on the UI thread (or a ``wait()`` on the job) would stall the timer for
most of the export, so the largest gap must stay well below the export's duration.  The
issue's 50 ms target is measured by ``benchmarks/bench_ui.py`` (results in
docs/benchmarks.md), since speed targets live in benchmarks, not unit tests.
"""

from __future__ import annotations

import logging

from editor_plugin.media import Codec
from editor_plugin.synth_io import write_synthetic_clip
from inference.synth import SynthConfig
from ui.main_window import MainWindow
from ui.responsiveness import GapMeter

log = logging.getLogger(__name__)

CONFIG = SynthConfig(people=2, frames=48, width=320, height=240, seed=4)


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
    started = meter.clock.elapsed()
    job = dlg.start_export()
    qtbot.waitUntil(lambda: dlg.output is not None or dlg.error is not None, timeout=60_000)
    meter.stop()
    export_ms = meter.clock.elapsed() - started
    assert dlg.error is None and job.done
    ticks = len(meter.gaps)
    log.warning("UI max gap during export: %.1f ms over %d ticks", meter.max_gap_ms, ticks)
    assert ticks > 20  # the timer really ran throughout
    # never stalled for a large part of the export (it takes seconds on the 2-core machine)
    assert meter.max_gap_ms < max(250.0, export_ms / 4), (meter.max_gap_ms, export_ms)
    w.close()
