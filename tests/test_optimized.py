"""Optimized media: real clips in, lossless all-intra copies out, read back bit for bit."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media_fixtures import has_bframes, make_clip

from editor_plugin.media import VideoReader
from editor_plugin.optimized import (
    OptimizedReader,
    build_optimized,
    check_optimized,
    find_optimized,
    open_optimized,
    optimized_path,
)
from editor_plugin.session import ClipSession
from inference.cache import cache_root
from inference.errors import CancelledError

W, H = 320, 192


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """H.264 with B-frames and 15-frame GOPs, VFR H.264, 4:4:4 H.264, and full-range MJPEG
    (``yuvj420p``, which the copy stores as exact RGB)."""
    d = tmp_path_factory.mktemp("optimized-clips")
    vfr = np.cumsum([0, 40, 33, 50, 41, 20, 70, 33, 33, 34, 66, 25, 41, 40, 35, 45, 33, 34])
    out = {
        "bframes": make_clip(d / "bframes.mp4", 36, fps=30, width=W, height=H),
        "vfr": make_clip(d / "vfr.mp4", 18, pts=[int(p) for p in vfr],
                         time_base=Fraction(1, 1000), width=W, height=H),
        "yuv444": make_clip(d / "444.mp4", 12, fps=25, width=W, height=H, pix_fmt="yuv444p"),
        "mjpeg": make_clip(d / "mjpeg.mov", 12, fps=24, codec="mjpeg", width=W, height=H,
                           pix_fmt="yuvj420p"),
    }
    assert has_bframes(out["bframes"])
    return out


def _same_frames(clip: Path, path: Path, session: ClipSession) -> None:
    with VideoReader(clip) as src, open_optimized(session, path) as opt:
        assert len(opt) == len(src)
        assert opt.timestamps == src.timestamps  # exact Fractions, VFR included
        assert (opt.info.width, opt.info.height) == (src.info.width, src.info.height)
        order = list(range(len(src)))
        random.Random(str(clip)).shuffle(order)
        for i in order:
            got, want = opt.read(i), src.read(i)
            assert got.time == want.time
            assert np.array_equal(got.image, want.image), i


@pytest.mark.parametrize("kind", ["bframes", "vfr", "yuv444", "mjpeg"])
def test_optimized_frames_are_bit_identical_to_the_clip(clips, kind):
    session = ClipSession(clips[kind])
    path = build_optimized(session)
    assert path == optimized_path(session.clip_hash) == \
        cache_root() / session.clip_hash[:16] / "optimized.mov"
    _same_frames(clips[kind], path, session)
    with av.open(str(path)) as c:  # all-intra: every packet is a keyframe
        vs = c.streams.video[0]
        stored = vs.codec_context.pix_fmt
        packets = [p for p in c.demux(vs) if p.size]
        assert len(packets) == session.info.frame_count
        assert all(p.is_keyframe for p in packets)
    # Formats MagicYUV stores are kept; full-range MJPEG goes through exact RGB.
    assert stored == {"bframes": "yuv420p", "vfr": "yuv420p", "yuv444": "yuv444p",
                      "mjpeg": "gbrp"}[kind]


def test_a_rotated_clip_reads_upright_and_identical(tmp_path):
    clip = make_clip(tmp_path / "phone.mp4", 10, width=W, height=H, rotation=90)
    session = ClipSession(clip)
    assert (session.info.width, session.info.height) == (H, W)
    path = build_optimized(session)
    _same_frames(clip, path, session)
    # Without the clip's rotation the stored frames are the coded (landscape) ones.
    with OptimizedReader(path) as raw:
        assert (raw.info.width, raw.info.height) == (W, H)


def test_cancel_or_failure_leaves_nothing(clips):
    session = ClipSession(clips["bframes"])
    folder = cache_root() / session.clip_hash[:16]
    optimized_path(session.clip_hash).unlink(missing_ok=True)
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done == 4:
            cancel.set()

    with pytest.raises(CancelledError, match="cancelled"):
        build_optimized(session, progress=progress, cancel=cancel)
    assert seen == [(1, 36), (2, 36), (3, 36), (4, 36)]

    def crash(done, total):
        if done == 7:
            raise RuntimeError("disk unplugged")

    with pytest.raises(RuntimeError, match="disk unplugged"):
        build_optimized(session, progress=crash)
    left = sorted(p.name for p in folder.glob("*optimized*")) if folder.is_dir() else []
    assert left == []
    assert find_optimized(session) is None


def test_second_build_reuses_and_damage_rebuilds(clips, caplog):
    session = ClipSession(clips["vfr"])
    first = build_optimized(session)
    st = first.stat()
    calls = []
    again = build_optimized(ClipSession(clips["vfr"]), progress=lambda d, t: calls.append(d))
    assert again == first and calls == []  # found by content hash: nothing decoded
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert find_optimized(session) == first

    good = first.read_bytes()
    first.write_bytes(good[: len(good) // 2])  # truncated: the last frame does not decode
    assert check_optimized(first, session) is not None and find_optimized(session) is None
    caplog.set_level("WARNING")
    rebuilt = build_optimized(session, progress=lambda d, t: calls.append(d))
    assert rebuilt == first and len(calls) == 18
    assert any("stale or damaged" in r.getMessage() and str(first) in r.getMessage()
               for r in caplog.records)
    _same_frames(clips["vfr"], rebuilt, session)

    # Another clip's copy under this clip's name is recognised as such.
    other = build_optimized(ClipSession(clips["yuv444"]))
    first.write_bytes(other.read_bytes())
    assert "another clip" in check_optimized(first, session)


def test_cli_optimize(clips, tmp_path):
    out = subprocess.run([sys.executable, "-m", "editor_plugin.cli", "optimize", "-q",
                          str(clips["yuv444"])], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    path = optimized_path(ClipSession(clips["yuv444"]).clip_hash)
    assert out.stdout.startswith(str(path)) and path.is_file()
    bad = tmp_path / "notavideo.mp4"
    bad.write_bytes(b"nothing here")
    out = subprocess.run([sys.executable, "-m", "editor_plugin.cli", "optimize", str(bad)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1 and str(bad) in out.stderr and "Traceback" not in out.stderr


# -- the app --------------------------------------------------------------------------------------

def test_app_builds_and_reads_optimized_media(qtbot, tmp_path):
    from editor_plugin.synth_io import write_synthetic_clip
    from inference.synth import SynthConfig
    from ui.main_window import MainWindow

    clip, tracks = write_synthetic_clip(
        tmp_path, SynthConfig(people=2, frames=16, width=160, height=96, seed=3))
    w = MainWindow()
    qtbot.addWidget(w)
    w.scrub.auto_build = False
    w.show()
    assert w.open_clip(clip)
    w.import_tracks(tracks)
    qtbot.waitUntil(lambda: w.persons_panel.count() == 2, timeout=10_000)
    w.set_selected(set(w.persons_panel.ids()[:1]))
    w.background_panel.set_blur(5.0)
    assert w.preview.reader_source == "clip"
    w.show_frame(11)
    before = w.composite.copy()

    job = w.optimized.build()
    assert job is not None
    qtbot.waitUntil(lambda: job.done, timeout=20_000)
    qtbot.waitUntil(lambda: w.preview.reader_source == "optimized", timeout=5_000)
    assert w.current == 11 and np.array_equal(w.composite, before)  # same pixels
    with VideoReader(clip) as src:
        for i in (3, 14, 0):
            assert np.array_equal(w.preview.read(i).image, src.read(i).image)
    assert w.optimized.build() is None  # in use already: nothing to do
    # Reopening the clip finds the copy at once.
    assert w.open_clip(clip) and w.preview.reader_source == "optimized"
    w.close()
