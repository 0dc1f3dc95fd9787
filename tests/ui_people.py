"""Shared pieces of the app tests on a three-person clip (per-person backgrounds and mattes):
the clip, a shown window, per-person distance maps, a project export and frame reads."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import Qt

from editor_plugin.media import Codec, VideoReader
from editor_plugin.synth_io import write_synthetic_clip
from inference.synth import SynthConfig
from ui.main_window import MainWindow

W, H = 192, 112
FRAME = 3


def three_people_clip(folder: Path) -> tuple[Path, Path]:
    """3 people (1 and 2 on the left, 3 on the right), 6 frames, 192x112, lossless."""
    cfg = SynthConfig(people=3, frames=6, width=W, height=H, seed=6)
    return write_synthetic_clip(folder, cfg, codec="ffv1")


def make_window(qtbot, clip: Path | None = None, tracks: Path | None = None) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(700, 500)
    w.show()
    qtbot.waitExposed(w)
    if clip is not None:
        assert w.open_clip(clip)
    if tracks is not None:
        w.import_tracks(tracks)
        qtbot.waitUntil(lambda: w.persons_panel.count() == 3, timeout=10_000)
    return w


def distances(w: MainWindow, index: int) -> dict[int, np.ndarray]:
    """Per person of frame ``index``: (H, W) Euclidean distance to their mask, pixels."""
    return {p.track_id: cv2.distanceTransform(np.where(p.mask > 0, 0, 255).astype(np.uint8),
                                              cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            for p in w.preview.persons(index) if p.mask is not None}


def export_project(qtbot, w: MainWindow, out: Path, start: int, stop: int) -> Path:
    """Export frames ``start:stop`` through the app's dialog (FFV1, no audio)."""
    dlg = w.open_export_dialog()
    assert dlg is not None, w.last_error
    assert dlg.renders_project
    dlg.set_codec(Codec.FFV1)
    dlg.path.setText(str(out))
    dlg.start.setValue(start)
    dlg.stop.setValue(stop)
    dlg.audio.setChecked(False)
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.output is not None or dlg.error is not None, timeout=60_000)
    assert dlg.error is None and dlg.output == out
    return out


def read_frame(path: Path, i: int = 0) -> np.ndarray:
    with VideoReader(path) as r:
        return r.read(i).image.copy()
