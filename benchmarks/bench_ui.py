"""App responsiveness: UI-thread stalls during an export, and scrubbing latency at 1080p.

    QT_QPA_PLATFORM=offscreen python -m benchmarks.bench_ui [--write-docs]
    QT_QPA_PLATFORM=offscreen python -m benchmarks.bench_ui --frames 8 --samples 3  # smoke run

1. A 5 ms timer on the UI thread records the longest gap between its ticks while the export
   dialog renders a 1280×720 clip (blur background, H.264) on its worker (target ≤ 50 ms).
2. Scrubbing: ``MainWindow.seek`` (what a timeline click or drag calls) to random frames of a
   1920×1080 clip with imported layers, ms per frame including the widget update (target
   ≤ 50 ms), twice: with no proxy (decode with a GOP seek, cache read, matte, GL composite,
   overlays at 1920×1080) and with the clip's 960×540 all-intra proxy
   (:mod:`editor_plugin.proxy`; built first, its build time reported; the composite at the
   proxy's size, :mod:`ui.proxy_preview`).  Also the full-resolution frame that replaces a
   proxy frame once the playhead rests (``ScrubController.settle``).

``--frames`` shortens both clips for a smoke run; such numbers are not comparable, so it
cannot be combined with ``--write-docs``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from benchmarks._report import ROOT, machine_line, update_section
from editor_plugin.media import Codec
from editor_plugin.proxy import build_proxy
from editor_plugin.synth_io import write_synthetic_clip
from inference.synth import SynthConfig
from ui.main_window import MainWindow
from ui.responsiveness import GapMeter
from ui.scrub import IDLE_MS


def _wait(app: QApplication, cond, timeout_s: float = 600.0) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("benchmark step did not finish")
        app.processEvents()
        time.sleep(0.001)


def _open(app: QApplication, clip: Path, tracks: Path) -> MainWindow:
    w = MainWindow()
    w.scrub.auto_build = False  # the proxy is built (and timed) where a measurement wants it
    w.resize(1280, 800)
    w.show()
    assert w.open_clip(clip)
    w.import_tracks(tracks)
    _wait(app, lambda: w.persons_panel.count() > 0)
    w.set_selected({w.persons_panel.ids()[0]})
    w.background_panel.set_blur(21.0)
    return w


def export_gaps(app: QApplication, work: Path, frames: int = 72
                ) -> tuple[float, float, float, int]:
    clip, tracks = write_synthetic_clip(work / "720", SynthConfig(people=3, frames=frames,
                                                                  width=1280, height=720, seed=5))
    w = _open(app, clip, tracks)
    dlg = w.open_export_dialog()
    dlg.set_codec(Codec.H264)
    dlg.path.setText(str(work / "out.mp4"))
    meter = GapMeter()
    meter.start()
    t0 = time.perf_counter()
    dlg.start_export()
    _wait(app, lambda: dlg.output is not None or dlg.error is not None)
    seconds = time.perf_counter() - t0
    meter.stop()
    if dlg.error is not None:
        raise RuntimeError(dlg.error)
    gaps = sorted(meter.gaps)
    p99 = gaps[int(0.99 * (len(gaps) - 1))]
    w.close()
    return meter.max_gap_ms, p99, seconds, len(gaps)


def _seeks(app: QApplication, w: MainWindow, samples: int, *, settle: bool = False
           ) -> list[float]:
    """ms per ``w.seek`` to a random frame (+ the widget update); ``settle``: instead, ms of
    the full-resolution frame that replaces each proxy frame at rest."""
    rng = random.Random(0)
    w.seek(w.frame_count - 1)  # warm-up: GL contexts, shaders, decoders
    w.scrub.settle()
    app.processEvents()
    times = []
    for _ in range(samples):
        i = rng.randrange(w.frame_count)
        t0 = time.perf_counter()
        w.seek(i)
        app.processEvents()
        if settle:
            assert w.scrub.showing_proxy
            t0 = time.perf_counter()
            w.scrub.settle()
            app.processEvents()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def scrub_ms(app: QApplication, work: Path, samples: int, frames: int = 96) -> dict[str, object]:
    """Scrubbing without and with the proxy; the proxy's build time and size."""
    clip, tracks = write_synthetic_clip(work / "1080", SynthConfig(people=3, frames=frames,
                                                                   width=1920, height=1080,
                                                                   seed=6))
    w = _open(app, clip, tracks)
    out: dict[str, object] = {"frames": frames}
    assert w.scrub.proxy is None
    out["no_proxy"] = _seeks(app, w, samples)
    t0 = time.perf_counter()
    path = build_proxy(w.session)
    out["build_s"] = time.perf_counter() - t0
    assert path is not None
    out["proxy_mb"] = path.stat().st_size / 2**20
    w.scrub.build()  # the window finds the proxy just built and opens it
    _wait(app, lambda: w.scrub.proxy is not None)
    out["proxy_size"] = w.scrub.proxy.size
    out["with_proxy"] = _seeks(app, w, samples)
    out["settle"] = _seeks(app, w, samples, settle=True)
    t0 = time.perf_counter()
    job = w.optimized.build()  # View > Build optimized media
    _wait(app, lambda: w.preview.reader_source == "optimized")
    out["optimize_s"] = time.perf_counter() - t0
    out["optimized_mb"] = job.result.stat().st_size / 2**20
    out["settle_optimized"] = _seeks(app, w, samples, settle=True)
    w.close()
    return out


def _ms(times: list[float]) -> str:
    return f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms ({len(times)} seeks)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--frames", type=int, default=None,
                    help="frames of both clips (default 72 for the export, 96 for scrubbing)")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    if args.write_docs and args.frames is not None:
        ap.error("--frames is for smoke runs; leave it out with --write-docs")
    app = QApplication.instance() or QApplication([])
    (ROOT / ".bench").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / ".bench") as tmp:
        work = Path(tmp)
        os.environ["HUMANFX_CACHE_DIR"] = str(work / "cache")
        max_gap, p99, seconds, ticks = export_gaps(app, work, args.frames or 72)
        scrub = scrub_ms(app, work, args.samples, args.frames or 96)
    pw, ph = scrub["proxy_size"]
    n = scrub["frames"]
    nx = args.frames or 72
    rows = [
        (f"| UI-thread gap during a {nx}-frame 1280×720 export (blur, H.264, {seconds:.1f} s) "
         f"| max {max_gap:.1f} ms, p99 {p99:.1f} ms ({ticks} ticks) | ≤ 50 ms |"),
        (f"| scrub to a random frame, 1920×1080, 3 persons, blur, no proxy "
         f"| {_ms(scrub['no_proxy'])} | ≤ 50 ms |"),
        (f"| scrub to a random frame, same clip, {pw}×{ph} proxy "
         f"| {_ms(scrub['with_proxy'])} | ≤ 50 ms |"),
        (f"| full-resolution frame replacing a proxy frame at rest (after {IDLE_MS} ms idle) "
         f"| {_ms(scrub['settle'])} | — |"),
        (f"| the same, reading the clip's optimized media "
         f"| {_ms(scrub['settle_optimized'])} | — |"),
        (f"| proxy build ({n} frames, MJPEG 4:4:4; in the app it runs on a worker) "
         f"| {scrub['build_s']:.1f} s ({n / scrub['build_s']:.0f} frames/s), "
         f"{scrub['proxy_mb']:.1f} MiB | — |"),
        (f"| optimized media build ({n} frames, lossless MagicYUV, all-intra; on a worker) "
         f"| {scrub['optimize_s']:.1f} s ({n / scrub['optimize_s']:.0f} frames/s), "
         f"{scrub['optimized_mb']:.0f} MiB | — |"),
    ]
    md = "\n".join([
        "## App responsiveness (offscreen Qt, CPU)",
        "",
        f"Machine: {machine_line()}.",
        ("Scrubbing time covers `MainWindow.seek` and the widget update. Without a proxy: a "
         "frame-accurate seek and decode from the previous keyframe, the cache read, matte, GL "
         "composite and overlays at 1920×1080. With the proxy (`editor_plugin.proxy`, built "
         "first): one intra decode of the proxy frame, the cache read, masks scaled to the "
         "proxy, matte, GL composite and overlays at the proxy's size; the full-resolution "
         "frame follows when the playhead rests.  Optimized media (`editor_plugin.optimized`, "
         "*View ▸ Build optimized media*): a lossless all-intra copy of the clip, so that the "
         "full-resolution frame is one intra decode too, with the same pixels."),
        "",
        "| what | measured | target |",
        "|---|---|---|",
        *rows,
        "",
        "Reproduce: `python -m benchmarks.bench_ui --write-docs`.",
    ])
    print(md)
    if args.write_docs:
        update_section("ui", md)


if __name__ == "__main__":
    main()
