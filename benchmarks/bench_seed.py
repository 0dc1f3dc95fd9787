"""Speed of the seed's pipeline: the Local Segmenter per person, and the whole pipeline at 720p.

    python -m benchmarks.bench_seed [--frames 24] [--write-docs]

* **Local Segmenter, one person**: forward pass + paste-back of one person's crop, at the
  seed's 512x512 input (a network built at crop 512; random weights: same compute as trained
  ones) and at the shipped ``SYNTH_V1`` crop size; batch of 1 and of 4 persons.
* **Full pipeline at 1280x720 with 4 people**: a synthetic 720p clip with 4 people held in
  memory; per frame the Global Pose Tracker (letterbox, network, decoding, association), the
  Local Segmenter on the 4 people (crop, network, paste-back at full resolution) and humanfx's
  person tracker.  Configurations: the seed's (pose tracker at 512x512, segmenter at 512) and
  the shipped weights' (their trained input sizes).  The segmenter is given the 4 ground-truth
  people so that every frame costs exactly 4 segmentations whatever the pose tracker finds.

CPU always; CUDA too when PyTorch sees a GPU (autocast, as in analysis).  With
``--write-docs`` the ``seed-speed`` section of docs/benchmarks.md is rewritten.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from benchmarks._report import machine_line, update_section
from inference.models.pose_tracker import GlobalPoseTracker, PoseNetConfig, PoseTrackerConfig
from inference.models.pose_tracker.network import PoseTrackerNet
from inference.models.segmenter import LocalSegmenter, LocalSegmenterNet, SegmenterConfig
from inference.models.weights import SeedPoseTracker_Weights, SeedSegmenter_Weights, find_file
from inference.synth import SynthConfig, SyntheticScene
from inference.tracking import Detection, PersonTracker

log = logging.getLogger(__name__)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def segmenter_ms(seg: LocalSegmenter, image: np.ndarray, persons: list, repeat: int) -> float:
    """Milliseconds per person for ``seg.predict(image, persons)`` (after one warm-up)."""
    seg.predict(image, persons)
    _sync(seg.device)
    t0 = time.perf_counter()
    for _ in range(repeat):
        seg.predict(image, persons)
    _sync(seg.device)
    return 1000 * (time.perf_counter() - t0) / (repeat * len(persons))


def pipeline_fps(pose: GlobalPoseTracker, seg: LocalSegmenter, frames: list[np.ndarray],
                 people: list[list]) -> float:
    """Frames per second of pose tracker + segmenter (4 people) + person tracker."""
    tracker = PersonTracker()
    pose.reset()
    pose.step(frames[0])  # warm-up
    pose.reset()
    _sync(pose.device)
    t0 = time.perf_counter()
    for index, (image, persons) in enumerate(zip(frames, people)):
        poses = pose.step(image)
        alphas = seg.predict(image, persons)
        dets = [Detection(bbox=np.asarray(b, float), score=1.0, keypoints=k,
                          mask=a >= 0.5) for (b, k), a in zip(persons, alphas)]
        tracker.update(index, dets, image)
        del poses
    _sync(pose.device)
    return len(frames) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    scene = SyntheticScene(SynthConfig(people=4, frames=args.frames, width=1280, height=720,
                                       seed=11, props=False))
    frames, people = [], []
    for i in range(args.frames):
        image, ps = scene.render(i)
        frames.append(image)
        people.append([(tuple(p.bbox), np.asarray(p.keypoints, float)) for p in ps][:4])
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available()
                                        else [])
    seg_file = find_file(SeedSegmenter_Weights.DEFAULT)
    pose_file = find_file(SeedPoseTracker_Weights.DEFAULT)
    rows_seg, rows_pipe = [], []
    for dev in devices:
        torch.manual_seed(0)
        configs = [("seed: 512x512 crop", LocalSegmenter(
            LocalSegmenterNet(SegmenterConfig(crop_size=512)), device=dev))]
        if seg_file is not None:
            configs.append(("shipped SYNTH_V1", LocalSegmenter.from_checkpoint(seg_file,
                                                                               device=dev)))
        four = people[0]
        for name, seg in configs:
            s = seg.config.crop_size
            one = segmenter_ms(seg, frames[0], four[:1], 5)
            batch = segmenter_ms(seg, frames[0], four, 3)
            rows_seg.append(f"| {dev.type} | {name} ({s}x{s}) | {one:.1f} | {batch:.1f} |")
            log.info("%s %s: %.1f ms/person alone, %.1f in fours", dev, name, one, batch)
        pipes = [("seed: pose 512x512 + segmenter 512", GlobalPoseTracker(
            PoseTrackerNet(PoseNetConfig()), PoseTrackerConfig(input_size=(512, 512)),
            device=dev), configs[0][1])]
        if pose_file is not None and seg_file is not None:
            pipes.append(("shipped SYNTH_V1", GlobalPoseTracker.from_checkpoint(
                pose_file, device=dev), configs[1][1]))
        for name, pose, seg in pipes:
            fps = pipeline_fps(pose, seg, frames, people)
            w, h = pose.config.input_size
            rows_pipe.append(f"| {dev.type} | {name} (pose {w}x{h}, crop "
                             f"{seg.config.crop_size}) | {fps:.2f} |")
            log.info("%s %s: %.2f fps", dev, name, fps)
    text = "\n".join([
        f"{machine_line()}; torch {torch.__version__}, {torch.get_num_threads()} threads.",
        "",
        "Local Segmenter, per person (crop + network + paste-back at 1280x720):",
        "",
        "| device | network | ms / person alone | ms / person in a batch of 4 |",
        "|---|---|---:|---:|",
        *rows_seg,
        "",
        (f"Full seed pipeline on a 1280x720 clip with 4 people ({args.frames} frames in memory; "
        "pose tracker + segmenter x4 + person tracker):"),
        "",
        "| device | configuration | frames/s |",
        "|---|---|---:|",
        *rows_pipe,
    ])
    print(text)
    if args.write_docs:
        update_section("seed-speed", text)


if __name__ == "__main__":
    main()
