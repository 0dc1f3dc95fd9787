"""Scrubbing proxies: real clips in, real proxy files out, and the app scrubbing on them."""

from __future__ import annotations

import os
import random
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from media_fixtures import frame_number, has_bframes, make_clip
from PySide6.QtCore import QPointF, Qt

from editor_plugin.media import Codec, VideoReader
from editor_plugin.proxy import ProxyReader, build_proxy, check_proxy, proxy_path, proxy_size
from editor_plugin.render import FrameRange, RenderSpec, render
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from effects.backgrounds import BlurBackground
from inference.cache import cache_root
from inference.errors import CancelledError
from inference.synth import SynthConfig

W, H = 320, 192  # stamped test clips; proxies at max_height 96 are 160x96
PROXY_H = 96


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, dB (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Stamped clips (every frame shows its number): CFR FFV1 (no B-frames), H.264 with
    B-frames, and H.264 with irregular (VFR) timestamps."""
    d = tmp_path_factory.mktemp("proxy-clips")
    vfr_pts = np.cumsum([0, 40, 33, 50, 41, 20, 70, 33, 33, 34, 66, 25, 41, 40, 35, 45, 33, 34,
                         90, 33])
    out = {
        "cfr": make_clip(d / "cfr.mkv", 20, fps=25, codec="ffv1", width=W, height=H),
        "bframes": make_clip(d / "bframes.mp4", 20, fps=30, width=W, height=H),
        "vfr": make_clip(d / "vfr.mp4", 20, pts=[int(p) for p in vfr_pts],
                         time_base=Fraction(1, 1000), width=W, height=H),
    }
    assert not has_bframes(out["cfr"]) and has_bframes(out["bframes"])
    return out


def _proxy_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*proxy*")) if folder.is_dir() else []


@pytest.mark.parametrize("kind", ["cfr", "bframes", "vfr"])
def test_proxy_frame_i_is_clip_frame_i(clips, kind):
    session = ClipSession(clips[kind])
    path = build_proxy(session, max_height=PROXY_H)
    assert path == cache_root() / session.clip_hash[:16] / "proxy-160x96.mov"
    with VideoReader(clips[kind]) as src, ProxyReader(path) as proxy:
        assert len(proxy) == len(src) == 20
        assert proxy.timestamps == src.timestamps  # exact Fractions, VFR included
        assert (proxy.info.width, proxy.info.height) == (160, 96)
        order = list(range(20))
        random.Random(kind).shuffle(order)  # random access: one intra decode each
        for i in order:
            got = proxy.read(i).image
            want = cv2.resize(src.read(i).image, (160, 96), interpolation=cv2.INTER_AREA)
            assert psnr(got, want) >= 35.0, (i, psnr(got, want))
            up = cv2.resize(got, (W, H), interpolation=cv2.INTER_NEAREST)
            assert frame_number(up) == i
    with av.open(str(path)) as c:  # all-intra: every packet is a keyframe
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
        assert len(packets) == 20 and all(p.is_keyframe for p in packets)


def test_a_rotated_clip_gets_an_upright_proxy(tmp_path):
    clip = make_clip(tmp_path / "phone.mp4", 10, width=W, height=H, rotation=90)
    session = ClipSession(clip)
    assert (session.info.width, session.info.height) == (H, W)  # displayed: portrait
    path = build_proxy(session, max_height=PROXY_H)
    with VideoReader(clip) as src, ProxyReader(path) as proxy:
        assert proxy.info.rotation == 0 and (proxy.info.width, proxy.info.height) == (58, 96)
        assert proxy.timestamps == src.timestamps
        for i in range(len(src)):
            want = cv2.resize(src.read(i).image, (58, 96), interpolation=cv2.INTER_AREA)
            assert psnr(proxy.read(i).image, want) >= 35.0


def test_synthetic_people_clip_keeps_35_db(tmp_path):
    clip, _ = write_synthetic_clip(tmp_path, SynthConfig(people=3, frames=8, width=320,
                                                         height=240, seed=4))
    path = build_proxy(clip, max_height=120)
    with VideoReader(clip) as src, ProxyReader(path) as proxy:
        values = [psnr(proxy.read(i).image,
                       cv2.resize(src.read(i).image, (160, 120), interpolation=cv2.INTER_AREA))
                  for i in range(len(src))]
    assert min(values) >= 35.0, values


def test_a_small_clip_gets_no_proxy(clips):
    session = ClipSession(clips["cfr"])
    assert proxy_size(W, H, H) is None and proxy_size(W, H, 191) == (316, 190)
    assert build_proxy(session, max_height=H) is None
    assert _proxy_files(cache_root() / session.clip_hash[:16]) == []


def test_cancel_or_failure_leaves_nothing(clips):
    session = ClipSession(clips["bframes"])
    folder = cache_root() / session.clip_hash[:16]
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 3:
            cancel.set()

    with pytest.raises(CancelledError, match="cancelled"):
        build_proxy(session, max_height=PROXY_H, progress=progress, cancel=cancel)
    assert seen == [1, 2, 3]
    assert _proxy_files(folder) == []

    def crash(done, total):
        if done == 5:
            raise RuntimeError("disk unplugged")

    with pytest.raises(RuntimeError, match="disk unplugged"):
        build_proxy(session, max_height=PROXY_H, progress=crash)
    assert _proxy_files(folder) == []


def test_second_build_reuses_the_proxy(clips):
    session = ClipSession(clips["cfr"])
    first = build_proxy(session, max_height=PROXY_H)
    st = first.stat()
    calls = []
    again = build_proxy(ClipSession(clips["cfr"]), max_height=PROXY_H,
                        progress=lambda d, t: calls.append(d))
    assert again == first and calls == []  # found by content hash + size: nothing decoded
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    # Another size is another proxy, beside it.
    other = build_proxy(session, max_height=64)
    assert other == proxy_path(session.clip_hash, (106, 64)) and other.parent == first.parent
    assert check_proxy(first, session, (160, 96)) is None


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other clip"])
def test_damaged_or_stale_proxy_is_rebuilt(clips, caplog, damage):
    session = ClipSession(clips["vfr"])
    path = build_proxy(session, max_height=PROXY_H)
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) * 2 // 3])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a movie" * 100)
    else:  # the proxy of another clip under this clip's name (same size)
        other = build_proxy(ClipSession(clips["bframes"]), max_height=PROXY_H)
        path.write_bytes(other.read_bytes())
    assert check_proxy(path, session, (160, 96)) is not None
    caplog.set_level("WARNING", logger="editor_plugin.proxy")
    calls = []
    again = build_proxy(session, max_height=PROXY_H, progress=lambda d, t: calls.append(d))
    assert again == path and len(calls) == 20
    msgs = [r.getMessage() for r in caplog.records if "rebuilding" in r.getMessage()]
    assert len(msgs) == 1 and "stale or damaged" in msgs[0] and str(path) in msgs[0]
    if damage == "other clip":
        assert "another clip" in msgs[0]
    assert check_proxy(path, session, (160, 96)) is None
    with ProxyReader(path) as proxy, VideoReader(clips["vfr"]) as src:
        assert proxy.timestamps == src.timestamps


def test_leftover_of_a_killed_build_is_removed(clips):
    session = ClipSession(clips["cfr"])
    folder = cache_root() / session.clip_hash[:16]
    folder.mkdir(parents=True, exist_ok=True)
    dead = folder / ".proxy-160x96.dead0001.tmp.mov"
    live = folder / ".proxy-160x96.live0002.tmp.mov"  # another process writing right now
    for p in (dead, live):
        p.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(dead, (old, old))
    build_proxy(session, max_height=PROXY_H)
    assert not dead.exists() and live.exists()


# -- the app --------------------------------------------------------------------------------------

UI_PROXY_H = 120  # the 320x240 app clip scrubs on a 160x120 proxy


@pytest.fixture(scope="module")
def app_clip(tmp_path_factory) -> tuple[Path, Path]:
    cfg = SynthConfig(people=2, frames=48, width=320, height=240, seed=1)
    return write_synthetic_clip(tmp_path_factory.mktemp("proxy-app"), cfg)


@pytest.fixture
def proxy_window(qtbot, app_clip):
    """The main window on ``app_clip`` (tracks imported) with its proxy built and loaded."""
    from ui.main_window import MainWindow

    w = MainWindow()
    w.scrub.max_height = UI_PROXY_H
    qtbot.addWidget(w)
    w.resize(700, 500)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_clip(app_clip[0])
    qtbot.waitUntil(lambda: w.scrub.proxy is not None, timeout=20_000)
    w.import_tracks(app_clip[1])
    qtbot.waitUntil(lambda: w.persons_panel.count() == 2, timeout=10_000)
    yield w
    w.close()


def _rested(qtbot, w) -> None:
    qtbot.waitUntil(lambda: not w.scrub.showing_proxy, timeout=5_000)


def test_scrub_shows_the_proxy_then_the_full_frame(qtbot, proxy_window):
    w = proxy_window
    assert w.scrub.proxy.size == (160, 120)
    assert not w.scrub.progress_bar.isVisible()
    tid = w.persons_panel.ids()[0]
    w.set_selected({tid})
    w.background_panel.set_blur(9.0)
    full_rect = w.viewer.image_rect()

    w.seek(20)  # what a timeline click or drag does
    assert w.scrub.showing_proxy and w.current == 20
    assert w.composite.shape == (120, 160, 3) and w.viewer.image_size == (160, 120)
    assert w.viewer.image_rect() == full_rect  # same place on screen, only softer
    full, _ = w.preview.render(20, w.state)
    small_full = cv2.resize(full, (160, 120), interpolation=cv2.INTER_AREA)
    plain = w.scrub.proxy.read(20).image
    # The proxy composite is the full composite at proxy size: the blur is there...
    assert psnr(w.composite, small_full) >= 35.0  # 44.7 dB measured
    assert psnr(w.composite, small_full) > psnr(plain, small_full) + 10.0  # plain: 29.6 dB
    # ...and the selected person is the proxy's own pixels (masks scaled to the proxy).
    person = w.preview.persons(20)[0 if w.preview.persons(20)[0].track_id == tid else 1]
    inside = cv2.resize(person.mask, (160, 120), interpolation=cv2.INTER_AREA) > 0
    inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert inside.sum() > 10
    diff = np.abs(w.composite[inside].astype(int) - plain[inside].astype(int))
    assert diff.max() <= 1  # the GL blend's rounding

    _rested(qtbot, w)  # 150 ms at rest: the full-resolution frame
    assert w.composite.shape == (240, 320, 3) and w.viewer.image_size == (320, 240)
    np.testing.assert_array_equal(w.composite, full)

    w.activateWindow()
    qtbot.keyClick(w, Qt.Key.Key_Right)
    assert w.current == 21 and w.scrub.showing_proxy
    _rested(qtbot, w)
    np.testing.assert_array_equal(w.composite, w.preview.render(21, w.state)[0])
    qtbot.keyClick(w, Qt.Key.Key_L)  # playback runs on proxy frames...
    assert w.playing
    qtbot.waitUntil(lambda: w.scrub.showing_proxy and w.current > 21, timeout=5_000)
    qtbot.keyClick(w, Qt.Key.Key_K)  # ...and the frame sharpens once stopped
    _rested(qtbot, w)
    assert w.composite.shape == (240, 320, 3)


def test_clicks_on_a_proxy_frame_pick_clip_pixels(qtbot, proxy_window):
    w = proxy_window
    w.seek(30)
    assert w.scrub.showing_proxy
    a, b = w.preview.persons(30)
    only_a = a.mask.astype(bool) & ~cv2.dilate(b.mask, np.ones((9, 9), np.uint8)).astype(bool)
    only_a = cv2.erode(only_a.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    ys, xs = np.nonzero(only_a)
    x, y = int(xs[len(xs) // 2]), int(ys[len(ys) // 2])
    pt = w.viewer.frame_to_widget(x, y)
    assert w.viewer.widget_to_frame(QPointF(pt.toPoint())) == (x, y)  # clip pixels
    assert w.viewer.image_size == (160, 120)  # while the proxy frame is on screen
    qtbot.mouseClick(w.viewer, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     pt.toPoint())
    assert w.state.selected == {a.track_id}


def test_export_never_reads_the_proxy(qtbot, proxy_window, tmp_path):
    w = proxy_window
    tid = w.persons_panel.ids()[1]
    w.set_selected({tid})
    w.background_panel.set_blur(9.0)
    w.seek(7)
    assert w.scrub.showing_proxy
    dlg = w.open_export_dialog()
    assert dlg is not None and not w.scrub.showing_proxy  # the full frame before exporting
    assert w.composite.shape == (240, 320, 3)
    dlg.set_codec(Codec.FFV1)
    out = tmp_path / "with-proxy.mkv"
    dlg.path.setText(str(out))
    dlg.start.setValue(3)
    dlg.stop.setValue(11)
    dlg.audio.setChecked(False)
    dlg.start_export()
    qtbot.waitUntil(lambda: dlg.output is not None or dlg.error is not None, timeout=30_000)
    assert dlg.error is None and dlg.output == out
    ref = render(ClipSession(w.session.path),
                 RenderSpec(persons=(tid,), background=BlurBackground(radius=9.0),
                            codec=Codec.FFV1, frames=FrameRange(3, 11), audio=False),
                 tmp_path / "headless.mkv")
    with VideoReader(out) as got, VideoReader(ref) as want, ProxyReader(w.scrub.proxy.path) as px:
        assert len(got) == len(want) == 8
        for i in range(8):
            image = got.read(i).image
            np.testing.assert_array_equal(image, want.read(i).image)
            assert image.shape == (240, 320, 3)
            up = cv2.resize(px.read(3 + i).image, (320, 240), interpolation=cv2.INTER_LINEAR)
            assert not np.array_equal(image, up)
        w.seek(7)
        _rested(qtbot, w)
        np.testing.assert_array_equal(w.composite, want.read(4).image)


def test_cancel_in_the_status_bar_leaves_no_proxy(qtbot, app_clip):
    from ui.main_window import MainWindow

    w = MainWindow()
    w.scrub.max_height = UI_PROXY_H
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_clip(app_clip[0])
    job = w.scrub.job
    assert job is not None and w.scrub.cancel_button.isVisible()
    qtbot.mouseClick(w.scrub.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.done and not w.scrub.building, timeout=20_000)
    qtbot.waitUntil(lambda: not w.scrub.cancel_button.isVisible(), timeout=5_000)
    assert job.cancelled and w.scrub.proxy is None
    assert "cancelled" in w.statusBar().currentMessage()
    assert _proxy_files(cache_root() / w.session.clip_hash[:16]) == []
    w.seek(10)  # no proxy: scrubbing shows the full frame
    assert not w.scrub.showing_proxy and w.composite.shape == (240, 320, 3)
    w.close()
