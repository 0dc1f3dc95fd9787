"""Shared test set-up: every test gets its own layer-cache folder, never the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt tests run without a display (pytest-qt creates the QApplication on first use).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("humanfx-cache")
    monkeypatch.setenv("HUMANFX_CACHE_DIR", str(root))
    return root


@pytest.fixture(scope="module")
def ctx():
    """A real standalone OpenGL context (EGL; llvmpipe on CPU machines), one per test module."""
    from effects.gl import create_context

    c = create_context()
    yield c
    c.release()


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory) -> tuple[Path, Path]:
    """A small lossless synthetic clip (2 people, 12 frames, 96x64) and its ground truth."""
    from editor_plugin.synth_io import write_synthetic_clip
    from inference.synth import SynthConfig

    cfg = SynthConfig(people=2, frames=12, width=96, height=64, seed=1)
    return write_synthetic_clip(tmp_path_factory.mktemp("clip"), cfg, codec="ffv1")


@pytest.fixture()
def session(clip_files):
    """A ClipSession on ``clip_files`` with its ground truth imported into this test's cache."""
    from editor_plugin.session import ClipSession

    clip, tracks = clip_files
    s = ClipSession(clip)
    s.import_tracks(tracks)
    return s


@pytest.fixture(scope="module")
def ui_clip(tmp_path_factory) -> tuple[Path, Path]:
    """A small H.264 synthetic clip (2 people, 12 frames, 96x64) and its ground truth."""
    from editor_plugin.synth_io import write_synthetic_clip
    from inference.synth import SynthConfig

    cfg = SynthConfig(people=2, frames=12, width=96, height=64, seed=1)
    return write_synthetic_clip(tmp_path_factory.mktemp("ui-clip"), cfg)


@pytest.fixture
def window(qtbot, ui_clip):
    """The app's main window, shown offscreen, on ``ui_clip`` with its ground truth imported."""
    from ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(700, 500)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_clip(ui_clip[0])
    w.import_tracks(ui_clip[1])
    qtbot.waitUntil(lambda: w.persons_panel.count() == 2, timeout=10_000)
    yield w
    w.close()
