"""Which box and joints a training crop is taken from (seed section 4, equations 5-6).

Given ``M`` ground-truth boxes ``B*`` and ``N`` predicted boxes ``B^`` (a tracker's output, or
jittered ground truth standing in for it), the coverage score is

    O(m, n) = Area(B*_m  ∩  B^_n) / Area(B*_m)            (eq. 5, in [0, 1])

Ground truths and predictions are paired one-to-one by the Hungarian algorithm maximising the
total ``O`` (pairs with ``O = 0`` are not pairs).  For each ground truth ``m``:

    r_m = B^_n   if it is paired with n and O(m, n) >= tau      (eq. 6)
          B*_m   otherwise (a poor or missing prediction)

and the joints follow the same choice (the prediction's joints with its box, the ground truth's
with its own).  Every ground truth gets exactly one region; its target is always its own mask.
Predictions left unpaired have no ground truth and give no training crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

#: The seed's threshold on the coverage score.
TAU = 0.5


@dataclass(frozen=True)
class RegionAssignment:
    """The crop region chosen for one ground-truth person.

    Attributes:
        gt_index: index ``m`` into the ground-truth list.
        pred_index: index ``n`` of the paired prediction, or ``None``.
        overlap: ``O(m, n)`` of the pair (0.0 when unpaired).
        use_prediction: ``True`` when the region is the predicted box (``overlap >= tau``).
        bbox: the chosen ``(x, y, w, h)`` box, frame coordinates.
        keypoints: the chosen ``(K, 3)`` joints, or ``None`` when that source has none.
    """

    gt_index: int
    pred_index: int | None
    overlap: float
    use_prediction: bool
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray | None


def coverage_matrix(gt_boxes: np.ndarray, pred_boxes: np.ndarray) -> np.ndarray:
    """Eq. 5: ``(M, N)`` float64 share of each ground-truth box covered by each prediction.

    Boxes are ``(M, 4)`` / ``(N, 4)`` arrays of ``(x, y, w, h)``; a ground truth with zero area
    scores 0 against everything.
    """
    g = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    p = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    gx0, gy0 = g[:, 0:1], g[:, 1:2]
    gx1, gy1 = gx0 + g[:, 2:3], gy0 + g[:, 3:4]
    px0, py0 = p[None, :, 0], p[None, :, 1]
    px1, py1 = px0 + p[None, :, 2], py0 + p[None, :, 3]
    iw = np.clip(np.minimum(gx1, px1) - np.maximum(gx0, px0), 0.0, None)
    ih = np.clip(np.minimum(gy1, py1) - np.maximum(gy0, py0), 0.0, None)
    area = (g[:, 2] * g[:, 3])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        o = np.where(area > 0, iw * ih / np.where(area > 0, area, 1.0), 0.0)
    return np.clip(o, 0.0, 1.0)


def assign_regions(gt_boxes: np.ndarray, pred_boxes: np.ndarray,
                   gt_keypoints: list[np.ndarray | None] | None = None,
                   pred_keypoints: list[np.ndarray | None] | None = None,
                   *, tau: float = TAU) -> list[RegionAssignment]:
    """Eqs. 5-6 with Hungarian pairing: one :class:`RegionAssignment` per ground truth, in order.

    Args:
        gt_boxes: ``(M, 4)`` ground-truth boxes ``(x, y, w, h)``.
        pred_boxes: ``(N, 4)`` predicted boxes (``N`` may be 0).
        gt_keypoints / pred_keypoints: per-box ``(K, 3)`` joints (or ``None``), same order.
        tau: coverage threshold (seed: 0.5).
    """
    g = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    p = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    m, n = len(g), len(p)
    gt_kp = list(gt_keypoints) if gt_keypoints is not None else [None] * m
    pr_kp = list(pred_keypoints) if pred_keypoints is not None else [None] * n
    if len(gt_kp) != m or len(pr_kp) != n:
        raise ValueError("keypoint lists must match the box lists in length")
    pair: dict[int, int] = {}
    o = coverage_matrix(g, p)
    if m and n:
        rows, cols = linear_sum_assignment(o, maximize=True)
        pair = {int(r): int(c) for r, c in zip(rows, cols) if o[r, c] > 0.0}
    out = []
    for i in range(m):
        j = pair.get(i)
        score = float(o[i, j]) if j is not None else 0.0
        use_pred = j is not None and score >= tau
        src_box, src_kp = (p[j], pr_kp[j]) if use_pred else (g[i], gt_kp[i])
        out.append(RegionAssignment(
            gt_index=i, pred_index=j, overlap=score, use_prediction=use_pred,
            bbox=tuple(float(v) for v in src_box),  # type: ignore[arg-type]
            keypoints=None if src_kp is None else np.asarray(src_kp, dtype=np.float64)))
    return out
