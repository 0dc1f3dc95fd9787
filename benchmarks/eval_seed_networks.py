"""Accuracy of the seed's networks on freshly generated synthetic clips, and the ablation.

    python -m benchmarks.eval_seed_networks [--clips 6] [--write-docs]
    python -m benchmarks.eval_seed_networks --ablation box=runs/seg-box/last.pt \\
        keypoint=runs/seg-keypoint/last.pt keypoint+mixer=runs/seg-keypoint+mixer/step1000.pt

Every clip is rendered from a scene seed the training never used (training scenes start at
seed 1000 and number a few dozen; evaluation scenes start at 9000), written losslessly, then
analyzed by the real product path (``analyze_clip`` with ``--model seed``, every frame
detected, the person tracker, offline smoothing) and scored with
:func:`inference.metrics.evaluate`: temporal mask AP and temporal boundary AP (the seed's
TMIoU/TBIoU-based AP), MOTA and IDF1.  Figures are means over the clips.

Without ``--pose``/``--segmenter`` the shipped ``SYNTH_V1`` weights are used.  With
``--ablation`` each ``NAME=CHECKPOINT`` segmenter runs behind the same pose tracker (the seed's
Table 3 rows: ``box``, ``keypoint``, ``keypoint+mixer``).  ``--write-docs`` rewrites the
``seed-accuracy`` (or ``seed-ablation``) section of docs/seed-networks.md.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._report import ROOT, machine_line, update_section
from editor_plugin.analyze import AnalyzeOptions
from editor_plugin.evaluation import ClipScore, evaluate_synthetic, mean_metrics
from inference.models.weights import (
    SeedPoseTracker_Weights,
    SeedSegmenter_Weights,
    Weights,
    weights_file,
)
from inference.synth import SynthConfig

log = logging.getLogger(__name__)

DOC = ROOT / "docs" / "seed-networks.md"
#: First scene seed of the evaluation clips (training uses 1000 + i).
EVAL_SEED = 9000


def eval_configs(clips: int, frames: int, width: int, height: int,
                 people: tuple[int, int], first_seed: int = EVAL_SEED) -> list[SynthConfig]:
    rng = np.random.default_rng(first_seed)
    return [SynthConfig(people=int(rng.integers(people[0], people[1] + 1)), frames=frames,
                        width=width, height=height, seed=first_seed + i) for i in range(clips)]


def run(configs: list[SynthConfig], pose: Weights, segmenter: Weights) -> list[ClipScore]:
    options = AnalyzeOptions(model="seed", device="cpu", keyframe_every=1,
                             weights={"pose": pose, "segmenter": segmenter},
                             show_download=False)
    scores = []
    with tempfile.TemporaryDirectory(prefix="humanfx-eval-") as tmp:
        for cfg in configs:
            scores.append(evaluate_synthetic(cfg, Path(tmp) / f"clip{cfg.seed}", options))
    return scores


def _local(path: str, fmt: str) -> Weights:
    return Weights.local(path, format=fmt)


def _row(name: str, m: dict[str, float]) -> str:
    return (f"| {name} | {100 * m['mask_ap']:.1f} | {100 * m['mask_ap50']:.1f} | "
            f"{100 * m['mask_ap75']:.1f} | {100 * m['boundary_ap']:.1f} | "
            f"{100 * m['mota']:.1f} | {100 * m['idf1']:.1f} |")


HEADER = ("| weights | mask AP | mask AP50 | mask AP75 | boundary AP | MOTA | IDF1 |\n"
          "|---|---:|---:|---:|---:|---:|---:|")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--people", type=int, nargs=2, default=(2, 4))
    ap.add_argument("--pose", help="pose-tracker file (default: shipped SYNTH_V1)")
    ap.add_argument("--segmenter", help="segmenter file (default: shipped SYNTH_V1)")
    ap.add_argument("--ablation", nargs="+", metavar="NAME=CHECKPOINT")
    ap.add_argument("--seed-base", type=int, default=EVAL_SEED,
                    help="first scene seed (a training seed such as 1000 calibrates thresholds "
                    "without looking at the evaluation scenes)")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    w, h = (int(v) for v in args.size.split("x"))
    configs = eval_configs(args.clips, args.frames, w, h, tuple(args.people), args.seed_base)
    pose = (_local(args.pose, "humanfx.pose_tracker") if args.pose
            else Weights.local(weights_file(SeedPoseTracker_Weights.DEFAULT),
                               format="humanfx.pose_tracker"))
    clips_line = (f"{len(configs)} clips of {args.frames} frames at {w}x{h}, "
                  f"{args.people[0]}-{args.people[1]} people, scene seeds "
                  f"{args.seed_base}-{args.seed_base + len(configs) - 1}; {machine_line()}.")
    if args.ablation:
        rows = []
        for item in args.ablation:
            name, path = item.split("=", 1)
            t0 = time.perf_counter()
            m = mean_metrics(run(configs, pose, _local(path, "humanfx.local_segmenter")))
            log.info("%s: %.1f s", name, time.perf_counter() - t0)
            rows.append(_row(name, m))
        table = "\n".join([HEADER, *rows])
        print(table)
        if args.write_docs:
            update_section("seed-ablation", f"{clips_line}\n\n{table}\n", doc=DOC)
        return
    seg = (_local(args.segmenter, "humanfx.local_segmenter") if args.segmenter
           else Weights.local(weights_file(SeedSegmenter_Weights.DEFAULT),
                              format="humanfx.local_segmenter"))
    scores = run(configs, pose, seg)
    m = mean_metrics(scores)
    per_clip = "\n".join(_row(f"clip seed {s.config.seed} ({s.config.people} people)",
                              s.metrics) for s in scores)
    fps = sum(s.config.frames for s in scores) / sum(s.seconds for s in scores)
    table = "\n".join([HEADER, _row("**mean**", m), per_clip])
    print(table)
    print(f"analysis speed {fps:.1f} frames/s (whole analyze_clip, CPU)")
    if args.write_docs:
        update_section("seed-accuracy", f"{clips_line}\n\n{table}\n\nWhole `analyze_clip` on "
                       f"these clips: {fps:.1f} frames/s on the CPU.\n", doc=DOC)


if __name__ == "__main__":
    main()
