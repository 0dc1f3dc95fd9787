"""CLEAR-MOT and identity metrics (MOTA, IDF1, ID switches, ...) via py-motmetrics.

motmetrics is a test/benchmark dependency (``humanfx[test]``), imported lazily.  Box distances
are computed here (``1 - IoU``, pairs with IoU below the threshold cannot match) because
motmetrics 1.4.0's own ``iou_matrix`` calls ``np.asfarray``, removed in NumPy 2.
The result matches ``motmetrics.utils.compare_to_groundtruth(gt, hyp, 'iou', distth=0.5)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from inference.errors import HumanfxError

from .costs import iou_matrix

#: Metric names computed by :func:`mot_metrics` (motmetrics' names).
METRICS = ("mota", "motp", "idf1", "num_switches", "num_false_positives", "num_misses",
           "recall", "precision", "mostly_tracked", "mostly_lost", "num_unique_objects",
           "num_fragmentations")

Boxes = Sequence[tuple[int, np.ndarray]]


def mot_metrics(gt: Mapping[int, Boxes], hyp: Mapping[int, Boxes],
                iou_threshold: float = 0.5) -> dict[str, float]:
    """Score tracker output against ground truth.

    Args:
        gt: ``{frame_index: [(object_id, bbox (4,) xywh), ...]}``.
        hyp: same layout for the tracker's hypotheses.
        iou_threshold: minimum IoU for a ground-truth/hypothesis pair to count as a match.

    Returns:
        ``{name: value}`` for every name in :data:`METRICS` (``motp`` is mean ``1 - IoU``).
    """
    try:
        import motmetrics as mm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise HumanfxError("motmetrics is not installed",
                           hint="install the test extras: pip install 'humanfx[test]'") from exc
    acc = mm.MOTAccumulator(auto_id=False)
    for f in sorted(set(gt) | set(hyp)):
        g = gt.get(f, [])
        h = hyp.get(f, [])
        gb = np.array([b for _, b in g], dtype=np.float64).reshape(-1, 4)
        hb = np.array([b for _, b in h], dtype=np.float64).reshape(-1, 4)
        dist = 1.0 - iou_matrix(gb, hb)
        dist[dist > 1.0 - iou_threshold] = np.nan
        acc.update([i for i, _ in g], [i for i, _ in h], dist, frameid=f)
    summary = mm.metrics.create().compute(acc, metrics=list(METRICS), name="seq")
    return {k: float(summary[k].iloc[0]) for k in METRICS}


def persons_to_boxes(frames: Mapping[int, Sequence]) -> dict[int, list[tuple[int, np.ndarray]]]:
    """``{frame: [TrackedPerson, ...]}`` -> ``{frame: [(track_id, bbox), ...]}``."""
    return {f: [(p.track_id, np.asarray(p.bbox, dtype=np.float64)) for p in ps]
            for f, ps in frames.items()}
