"""Accuracy of an analysis on synthetic clips with known ground truth.

:func:`evaluate_synthetic` is the whole product path, scored: render a synthetic clip to a real
video file (with its ground-truth tracks), analyze it with :func:`analyze_clip` (any model and
weights), export the layer cache as COCO-video tracks, and score them against the ground truth
with :func:`inference.metrics.evaluate` (temporal mask/boundary AP, MOTA, IDF1, ...).

Used by ``benchmarks/eval_seed_networks.py`` (the seed networks' accuracy and ablation, in
``docs/seed-networks.md``) and by the test that holds the shipped weights to their measured
accuracy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from editor_plugin.analyze import AnalyzeOptions, analyze_clip
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from inference.metrics import evaluate
from inference.synth import SynthConfig
from inference.tracks.io import load_tracks

log = logging.getLogger(__name__)

#: Metrics reported in the tables (keys of :func:`inference.metrics.evaluate`).
TABLE_METRICS = ("mask_ap", "mask_ap50", "mask_ap75", "boundary_ap", "mota", "idf1")


@dataclass(frozen=True)
class ClipScore:
    """Metrics of one clip (``metrics``: :func:`inference.metrics.evaluate`'s dict) and the
    analysis time in seconds."""

    config: SynthConfig
    metrics: dict[str, float]
    seconds: float


def evaluate_synthetic(config: SynthConfig, work_dir: str | Path, options: AnalyzeOptions,
                       *, codec: str = "ffv1") -> ClipScore:
    """Render ``config`` into ``work_dir``, analyze it with ``options`` and score the result.

    The clip is written losslessly (``ffv1``) by default so that the score measures the
    analysis, not the encoder.  The layer cache goes to ``work_dir/cache``.
    """
    work = Path(work_dir)
    clip, gt_path = write_synthetic_clip(work, config, codec=codec)
    session = ClipSession(clip, cache_root=work / "cache")
    result = analyze_clip(session, options)
    pred_path = session.export_tracks(work / "pred.tracks.json", "cocovideo", result.source,
                                      smoothed=True)
    gt = load_tracks(gt_path)
    pred = load_tracks(pred_path, video=gt.videos[0])
    metrics = evaluate(pred, gt)
    if "mask_ap" not in metrics:  # nobody found (no predicted masks): the APs are 0
        for k in ("mask_ap", "mask_ap50", "mask_ap75", "boundary_ap"):
            metrics[k] = 0.0
    log.info("seed %d: %s", config.seed, ", ".join(f"{k} {metrics.get(k, float('nan')):.3f}"
                                                  for k in TABLE_METRICS))
    return ClipScore(config, metrics, result.seconds)


def mean_metrics(scores: Sequence[ClipScore]) -> dict[str, float]:
    """Per-metric mean over clips (metrics missing from a clip are left out of its mean)."""
    keys = sorted({k for s in scores for k in s.metrics})
    return {k: float(np.mean([s.metrics[k] for s in scores if k in s.metrics])) for k in keys}


__all__ = ["TABLE_METRICS", "ClipScore", "evaluate_synthetic", "mean_metrics"]
