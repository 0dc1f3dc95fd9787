"""Analysis speed: the R-CNN backend + optical flow + tracker, and the tracker alone.

    python -m benchmarks.bench_analyze [--frames 20] [--write-docs]

Runs :class:`inference.analysis.Analyzer` over a synthetic 1280x720 clip held in memory (no
decode, no layer cache): on the CPU in keyframe mode (the CPU defaults of
:mod:`inference.analysis.device`: detect every 5th frame at reduced resolution with fewer
region proposals, Mask R-CNN's mask head on the poses' boxes, both networks at once; DIS flow in
between) and per-frame mode (every frame detected, same settings); on a GPU, when PyTorch sees
one, per-frame mode with the GPU defaults (batches of 8 at 800 pixels, autocast).  Each row
also gives the share of the time spent in the detector (the rest: flow, tracker, resizing).  The networks are built with random weights (no download): for a given number of
detections their compute is that of the trained weights, and detections are capped at
``--max-persons`` a frame, as in a sparse scene.  Then the tracker alone with 10 people, boxes
and joints only, and with the frames and masks (appearance, camera motion).

With ``--write-docs`` the ``analyze`` section of docs/benchmarks.md is rewritten.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks._report import machine_line, update_section
from inference.analysis import KEYFRAME, Analyzer, AnalyzerConfig
from inference.analysis.device import CPU_DEFAULTS, GPU_DEFAULTS, DeviceDefaults
from inference.models.rcnn import (
    PersonDetection,
    RCNNDetector,
    RCNNSettings,
    keypointrcnn_resnet50_fpn,
    maskrcnn_resnet50_fpn_v2,
)
from inference.synth import SynthConfig, SyntheticScene
from inference.tracking import Detection, PersonTracker

log = logging.getLogger(__name__)

HEADER = ("| what | device | frames | detected | seconds | fps | ms/frame | in detector |\n"
          "|---|---|---|---|---|---|---|---|")


@dataclass
class Row:
    """One line of the table."""

    what: str
    device: str
    frames: int
    seconds: float
    detected: int
    persons: float = 0.0  # mean detections per detected frame
    detector_seconds: float | None = None  # of ``seconds``, in the detector

    @property
    def fps(self) -> float:
        return self.frames / self.seconds


def device_settings(settings: RCNNSettings, defaults: DeviceDefaults) -> RCNNSettings:
    """``settings`` with the device's R-CNN defaults filled in (as ``analyze_clip`` does)."""
    return settings.resolve(proposals=defaults.rcnn_proposals,
                            mask_boxes=defaults.rcnn_mask_boxes)


def random_detector(settings: RCNNSettings, device: torch.device,
                    parallel: bool = False) -> RCNNDetector:
    """Both R-CNNs with random weights (seeded), on ``device``."""
    torch.manual_seed(0)
    kp = keypointrcnn_resnet50_fpn(weights=None, **settings.model_kwargs())
    mk = maskrcnn_resnet50_fpn_v2(weights=None, **settings.model_kwargs())
    return RCNNDetector(kp, mk, settings=settings, device=device, parallel=parallel,
                        identity={"detector": "rcnn", "weights": "random"})


class TimedDetector:
    """A detector that adds up the seconds its ``detect_batch`` calls take."""

    def __init__(self, detector: Any):
        self.detector = detector
        self.name = detector.name
        self.identity = detector.identity
        self.device = detector.device
        self.seconds = 0.0
        self.detections = 0

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[PersonDetection]]:
        t0 = time.perf_counter()
        try:
            found = self.detector.detect_batch(images)
            self.detections += sum(len(f) for f in found)
            return found
        finally:
            self.seconds += time.perf_counter() - t0


def keypoint_segmenter_detector(settings: RCNNSettings, device: torch.device):
    """Keypoint R-CNN (random weights) + the shipped Local Segmenter as the mask stage (the
    ``--model rcnn --segmenter-weights`` path), or ``None`` without the shipped file."""
    from inference.analysis.hybrid import KeypointSegmenterDetector
    from inference.models.segmenter import LocalSegmenter
    from inference.models.weights import SeedSegmenter_Weights, find_file

    path = find_file(SeedSegmenter_Weights.DEFAULT)
    if path is None:
        return None
    torch.manual_seed(0)
    kp = keypointrcnn_resnet50_fpn(weights=None, **settings.model_kwargs())
    return KeypointSegmenterDetector(kp, LocalSegmenter.from_checkpoint(path, device=device),
                                     settings=settings, device=device)


def render_clip(config: SynthConfig) -> list[np.ndarray]:
    scene = SyntheticScene(config)
    return [scene.render(i)[0] for i in range(config.frames)]


def time_analysis(detector: Any, frames: list[np.ndarray], defaults: DeviceDefaults,
                  keyframe_every: int) -> tuple[float, int, float, float]:
    """Seconds for a whole analysis (``propagate`` + ``finish``), the keyframes detected, their
    mean number of detections and the seconds spent in the detector."""
    detector = TimedDetector(detector)
    analyzer = Analyzer(detector, AnalyzerConfig(keyframe_every=keyframe_every,
                                                 batch_size=defaults.batch_size,
                                                 process_size=defaults.process_size))
    h, w = frames[0].shape[:2]
    if detector.device.type == "cuda":
        torch.cuda.synchronize(detector.device)
    t0 = time.perf_counter()
    state = analyzer.init_state(enumerate(frames), frame_size=(w, h))
    found = [len(r.detections) for r in analyzer.propagate(state) if r.source == KEYFRAME]
    analyzer.finish(state)
    if detector.device.type == "cuda":
        torch.cuda.synchronize(detector.device)
    return (time.perf_counter() - t0, len(found), float(np.mean(found)) if found else 0.0,
            detector.seconds)


def end_to_end(detector: Any, frames: list[np.ndarray]) -> Row:
    """What ``humanfx analyze CLIP`` does on the CPU, timed whole: the frames written to an
    H.264 file first (not timed), then :func:`editor_plugin.analyze.analyze_clip` with the CPU
    defaults: decoding, keyframe mode, the tracker and the layer cache writes."""
    from editor_plugin.analyze import AnalyzeOptions, analyze_clip
    from editor_plugin.media import Codec, VideoWriter
    from editor_plugin.session import ClipSession

    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        with VideoWriter(clip, codec=Codec.H264, width=w, height=h, fps=Fraction(30)) as out:
            for f in frames:
                out.write(f)
        timed = TimedDetector(detector)
        t0 = time.perf_counter()
        r = analyze_clip(ClipSession(clip, cache_root=Path(tmp) / "cache"),
                         AnalyzeOptions(device="cpu", show_download=False), detector=timed)
        sec = time.perf_counter() - t0
    return Row(f"`analyze_clip` end to end: H.264 decode, keyframe every {r.keyframe_every}, "
               f"{min(r.process_size)} px, layer cache", "cpu", len(frames), sec,
               r.frames_detected, timed.detections / max(r.frames_detected, 1), timed.seconds)


def warm_up(detector: RCNNDetector, frames: list[np.ndarray], defaults: DeviceDefaults) -> None:
    """Three batches of different frames first: lazy initialisation, cuDNN autotuning,
    allocator growth, and oneDNN's kernels for the region-head shapes (they depend on the
    number of boxes, which differs from frame to frame), as a long clip has them after a few
    keyframes."""
    analyzer = Analyzer(detector, AnalyzerConfig(batch_size=defaults.batch_size,
                                                 process_size=defaults.process_size))
    for frame in frames[:: max(1, len(frames) // 3)][:3]:
        detector.detect_batch([analyzer.prepare(frame)] * defaults.batch_size)


def bench_analyze(frames: list[np.ndarray], settings: RCNNSettings) -> list[Row]:
    rows = []
    cpu_settings = device_settings(settings, CPU_DEFAULTS)
    cpu = random_detector(cpu_settings, torch.device("cpu"), CPU_DEFAULTS.parallel_networks)
    warm_up(cpu, frames, CPU_DEFAULTS)
    for label, every in ((f"keyframe every {CPU_DEFAULTS.keyframe_every}",
                          CPU_DEFAULTS.keyframe_every), ("every frame", 1)):
        sec, det, per, in_det = time_analysis(cpu, frames, CPU_DEFAULTS, every)
        rows.append(Row(f"analyze, {label}, {CPU_DEFAULTS.process_size} px", "cpu",
                        len(frames), sec, det, per, in_det))
        print(_fmt(rows[-1]), flush=True)
    rows.append(end_to_end(cpu, frames))
    print(_fmt(rows[-1]), flush=True)
    hybrid = keypoint_segmenter_detector(cpu_settings, torch.device("cpu"))
    if hybrid is not None:
        warm_up(hybrid, frames, CPU_DEFAULTS)
        every = CPU_DEFAULTS.keyframe_every
        sec, det, per, in_det = time_analysis(hybrid, frames, CPU_DEFAULTS, every)
        rows.append(Row(f"analyze, Keypoint R-CNN + Local Segmenter (SYNTH_V1) masks, keyframe "
                        f"every {every}, {CPU_DEFAULTS.process_size} px", "cpu", len(frames), sec,
                        det, per, in_det))
        print(_fmt(rows[-1]), flush=True)
    del cpu
    if torch.cuda.is_available():
        gpu = random_detector(device_settings(settings, GPU_DEFAULTS), torch.device("cuda"),
                              GPU_DEFAULTS.parallel_networks)
        warm_up(gpu, frames, GPU_DEFAULTS)
        sec, det, per, in_det = time_analysis(gpu, frames, GPU_DEFAULTS,
                                              GPU_DEFAULTS.keyframe_every)
        rows.append(Row(f"analyze, every frame, batch {GPU_DEFAULTS.batch_size}, autocast, "
                        f"{GPU_DEFAULTS.process_size} px", torch.cuda.get_device_name(),
                        len(frames), sec, det, per, in_det))
        print(_fmt(rows[-1]), flush=True)
    return rows


def bench_tracker(config: SynthConfig) -> list[Row]:
    """Tracker alone on ground-truth detections of ``config.people`` people."""
    scene = SyntheticScene(config)
    clip = []
    for i in range(config.frames):
        image, persons = scene.render(i)
        clip.append((image, [Detection(np.asarray(p.bbox), 0.95, p.keypoints, p.mask)
                             for p in persons]))
    people = sum(len(d) for _, d in clip) / max(len(clip), 1)
    rows = []
    for label, images in (("boxes + joints", False), ("boxes + joints + frames + masks", True)):
        tracker = PersonTracker()
        t0 = time.perf_counter()
        for i, (image, dets) in enumerate(clip):
            if images:
                tracker.update(i, dets, image)
            else:
                tracker.update(i, [Detection(d.bbox, d.score, d.keypoints) for d in dets])
        tracker.finish()
        rows.append(Row(f"tracker, {people:.1f} people/frame, {label}, "
                        f"{config.width}×{config.height}", "cpu", config.frames,
                        time.perf_counter() - t0, 0))
        print(_fmt(rows[-1]), flush=True)
    return rows


def _fmt(r: Row) -> str:
    det = f"{r.detected} ({r.persons:.1f} persons)" if r.detected else "–"
    share = "–" if r.detector_seconds is None else f"{100 * r.detector_seconds / r.seconds:.0f}%"
    return (f"| {r.what} | {r.device} | {r.frames} | {det} | {r.seconds:.2f} | {r.fps:.2f} "
            f"| {1000 * r.seconds / r.frames:.1f} | {share} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20, help="frames of the analysed clip")
    ap.add_argument("--size", default="1280x720", help="WxH of the analysed clip")
    ap.add_argument("--people", type=int, default=3, help="people in the analysed clip")
    ap.add_argument("--max-persons", type=int, default=4,
                    help="detections per frame and network (random weights find many)")
    ap.add_argument("--min-score", type=float, default=0.05,
                    help="detection score threshold: random weights score low, and at 0.05 "
                         "each network reaches --max-persons, so the per-person heads cost what "
                         "a scene of that many people costs")
    ap.add_argument("--tracker-people", type=int, default=10)
    ap.add_argument("--tracker-frames", type=int, default=48)
    ap.add_argument("--write-docs", action="store_true",
                    help="rewrite the analyze section of docs/benchmarks.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    w, h = (int(v) for v in args.size.split("x"))
    frames = render_clip(SynthConfig(people=args.people, frames=args.frames, width=w,
                                     height=h, seed=11))
    settings = RCNNSettings(max_persons=args.max_persons, min_score=args.min_score)
    print(HEADER)
    rows = bench_analyze(frames, settings)
    # the tracker runs at the processing resolution: 512 px shorter side on the CPU
    pw = round(w * CPU_DEFAULTS.process_size / min(w, h))
    ph = round(h * CPU_DEFAULTS.process_size / min(w, h))
    rows += bench_tracker(SynthConfig(people=args.tracker_people, frames=args.tracker_frames,
                                      width=pw, height=ph, seed=5))

    md = [
        "## Analyze: detection + flow + tracking speed",
        "",
        (f"Machine: {machine_line()}; PyTorch {torch.__version__}, "
         f"{torch.get_num_threads()} CPU threads."),
        (f"Synthetic {w}×{h} clip, {args.frames} frames, {args.people} people, frames in memory "
         "(no decode, no layer cache), except the `analyze_clip` row: the same frames written to an "
         "H.264 file first, then what `humanfx analyze` does with them (decode, keyframe mode, "
         "tracker, layer cache writes), timed whole. CPU goal: ≥ 3 frames/s in keyframe mode. "
         "R-CNN backend (Keypoint R-CNN + Mask R-CNN v2) with "
         "random weights, which cost the same compute as trained ones for a given number of "
         f"detections; score threshold {args.min_score}, at which they find the cap of "
         f"{args.max_persons} detections per frame and network. "
         f"CPU defaults: keyframe every {CPU_DEFAULTS.keyframe_every} frames at "
         f"{CPU_DEFAULTS.process_size} px with DIS flow in between, "
         f"{CPU_DEFAULTS.rcnn_proposals} proposals, masks from boxes "
         f"\"{CPU_DEFAULTS.rcnn_mask_boxes}\", networks "
         f"{'in parallel' if CPU_DEFAULTS.parallel_networks else 'one after the other'}; "
         f"GPU defaults: every frame, batches of {GPU_DEFAULTS.batch_size} at "
         f"{GPU_DEFAULTS.process_size} px under autocast, {GPU_DEFAULTS.rcnn_proposals} "
         f"proposals, masks from boxes \"{GPU_DEFAULTS.rcnn_mask_boxes}\" "
         "(`inference/analysis/device.py`). \"detected\": frames that went "
         "through the detector (mean detections each); \"in detector\": the share of the time "
         "in the detector (the rest: optical flow, tracker, resizing); model warm-up (three batches of different frames) "
         "is not timed. The tracker rows feed ground-truth detections of a "
         f"{args.tracker_people}-person synthetic clip at the CPU processing resolution."),
        "",
        HEADER,
        *(_fmt(r) for r in rows),
        "",
        "Reproduce: `python -m benchmarks.bench_analyze --write-docs`.",
    ]
    text = "\n".join(md)
    if args.write_docs:
        update_section("analyze", text)
    else:
        print()
        print(text)


if __name__ == "__main__":
    main()
