"""Score tracker output on box tracks (MOTA, IDF1, ID switches, ...).

A thin adapter from the tracker's ``{frame: [(id, bbox)]}`` layout to
:class:`inference.metrics.mot.ClearMotAccumulator` — the project's one CLEAR-MOT / ID-metric
implementation, cross-checked number for number against py-motmetrics in
``tests/test_metrics_crosscheck.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from inference.metrics.mot import ClearMotAccumulator, box_iou_matrix

#: Metric names returned by :func:`mot_metrics` (py-motmetrics' names).
METRICS = ("mota", "motp", "idf1", "num_switches", "num_false_positives", "num_misses",
           "recall", "precision", "mostly_tracked", "mostly_lost", "num_unique_objects",
           "num_fragmentations")

Boxes = Sequence[tuple[int, np.ndarray]]


def mot_metrics(gt: Mapping[int, Boxes], hyp: Mapping[int, Boxes],
                iou_threshold: float = 0.5) -> dict[str, float]:
    """Score tracker output against ground truth.

    Args:
        gt: ``{frame_index: [(object_id, bbox (4,) xywh pixels), ...]}``.
        hyp: same layout for the tracker's hypotheses.
        iou_threshold: minimum IoU for a ground-truth/hypothesis pair to count as a match.

    Returns:
        ``{name: value}`` for every name in :data:`METRICS`; ``motp`` is the mean IoU of matches
        (MOTChallenge's convention, higher is better).
    """
    acc = ClearMotAccumulator(iou_threshold)
    for f in sorted(set(gt) | set(hyp)):
        g, h = gt.get(f, []), hyp.get(f, [])
        iou = box_iou_matrix(np.array([b for _, b in g], np.float64).reshape(-1, 4),
                             np.array([b for _, b in h], np.float64).reshape(-1, 4))
        acc.update([i for i, _ in g], [i for i, _ in h], iou)
    r = acc.result()
    return {k: float(getattr(r, k)) for k in METRICS}


def persons_to_boxes(frames: Mapping[int, Sequence]) -> dict[int, list[tuple[int, np.ndarray]]]:
    """``{frame: [TrackedPerson, ...]}`` -> ``{frame: [(track_id, bbox), ...]}``."""
    return {f: [(p.track_id, np.asarray(p.bbox, dtype=np.float64)) for p in ps]
            for f, ps in frames.items()}
