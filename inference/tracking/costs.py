"""Pairwise association terms (IoU, OKS, appearance) and gated Hungarian assignment.

Boxes are ``(N, 4)`` float ``x, y, w, h`` in pixels (top-left corner + size); keypoints are
``(17, 3)`` ``x, y, v`` in pixels, COCO order, ``v > 0`` meaning labelled.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

#: COCO's per-keypoint OKS sigmas (COCO order), as in pycocotools' COCOeval.
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                        1.07, 1.07, .87, .87, .89, .89]) / 10.0

#: Cost given to forbidden pairs; anything at or above it is never assigned.
INFEASIBLE = 1e6


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of ``a (N, 4)`` and ``b (M, 4)`` (xywh) -> ``(N, M)`` float64."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax0, ay0 = a[:, 0:1], a[:, 1:2]
    ax1, ay1 = ax0 + a[:, 2:3], ay0 + a[:, 3:4]
    bx0, by0 = b[:, 0], b[:, 1]
    bx1, by1 = bx0 + b[:, 2], by0 + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0.0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0.0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def shift_keypoints(keypoints: np.ndarray, from_box: np.ndarray, to_box: np.ndarray) -> np.ndarray:
    """Move ``(17, 3)`` keypoints with their box: ``from_box`` -> ``to_box`` (both xywh).

    Positions are mapped by the box's translation and per-axis scale; visibility is kept.
    """
    kp = np.array(keypoints, dtype=np.float64, copy=True)
    fb = np.asarray(from_box, dtype=np.float64)
    tb = np.asarray(to_box, dtype=np.float64)
    sx = tb[2] / max(fb[2], 1e-6)
    sy = tb[3] / max(fb[3], 1e-6)
    kp[:, 0] = tb[0] + (kp[:, 0] - fb[0]) * sx
    kp[:, 1] = tb[1] + (kp[:, 1] - fb[1]) * sy
    return kp


def oks_matrix(pred: np.ndarray, det: np.ndarray, det_boxes: np.ndarray,
               min_joints: int = 3) -> np.ndarray:
    """Object keypoint similarity between predicted and detected poses.

    Args:
        pred: ``(N, 17, 3)`` predicted keypoints (NaN-filled rows mean "no keypoints").
        det: ``(M, 17, 3)`` detected keypoints (NaN-filled rows mean "no keypoints").
        det_boxes: ``(M, 4)`` xywh boxes of the detections; the object scale is their area.
        min_joints: joints labelled on both sides required for a value.

    Returns:
        ``(N, M)`` float64 OKS in [0, 1], NaN where it is undefined.
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 17, 3)
    det = np.asarray(det, dtype=np.float64).reshape(-1, 17, 3)
    if len(pred) == 0 or len(det) == 0:
        return np.full((len(pred), len(det)), np.nan)
    both = (np.nan_to_num(pred[:, None, :, 2]) > 0) & (np.nan_to_num(det[None, :, :, 2]) > 0)
    d2 = ((pred[:, None, :, :2] - det[None, :, :, :2]) ** 2).sum(-1)  # (N, M, 17)
    area = np.maximum(np.asarray(det_boxes, dtype=np.float64)[:, 2] * det_boxes[:, 3], 1.0)
    k2 = (2.0 * COCO_SIGMAS) ** 2
    e = d2 / (2.0 * area[None, :, None] * k2[None, None, :])
    sim = np.where(both, np.exp(-np.nan_to_num(e, nan=np.inf)), 0.0)
    count = both.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        oks = sim.sum(-1) / count
    return np.where(count >= min_joints, oks, np.nan)


def fuse_costs(iou: np.ndarray, *, iou_gate: float, weight_iou: float = 1.0,
               oks: np.ndarray | None = None, oks_gate: float = 1.0, weight_oks: float = 0.0,
               app: np.ndarray | None = None, app_gate: float | np.ndarray = 1.0,
               weight_app: float = 0.0) -> np.ndarray:
    """Gated, weighted-mean association cost.

    Each pair's cost is the weighted mean of the terms available for it: ``1 - iou`` always,
    ``1 - oks`` where ``oks`` is not NaN, and ``app`` (a distance in [0, 1]) where it is not NaN.
    A pair is forbidden (``INFEASIBLE``) when its IoU is below ``iou_gate`` and its OKS (if
    any) is below ``oks_gate``, or when its appearance distance exceeds ``app_gate``.

    Matrices are ``(N, M)``; ``app_gate`` is a float or broadcasts to ``(N, M)`` (e.g. one
    gate per row as ``(N, 1)``).  Returns ``(N, M)`` float64.
    """
    cost = weight_iou * (1.0 - iou)
    norm = np.full(iou.shape, float(weight_iou))
    geo_ok = iou >= iou_gate
    if oks is not None and weight_oks > 0.0:
        has = ~np.isnan(oks)
        o = np.nan_to_num(oks)
        cost = cost + np.where(has, weight_oks * (1.0 - o), 0.0)
        norm = norm + np.where(has, weight_oks, 0.0)
        geo_ok |= has & (o >= oks_gate)
    ok = geo_ok
    if app is not None:
        has = ~np.isnan(app)
        d = np.nan_to_num(app)
        if weight_app > 0.0:
            cost = cost + np.where(has, weight_app * d, 0.0)
            norm = norm + np.where(has, weight_app, 0.0)
        ok = ok & ~(has & (d > app_gate))
    return np.where(ok, cost / norm, INFEASIBLE)


def assign(cost: np.ndarray, max_cost: float = INFEASIBLE) -> tuple[list[tuple[int, int]],
                                                                    list[int], list[int]]:
    """Minimum-cost matching of rows to columns (Hungarian, scipy), skipping forbidden pairs.

    Args:
        cost: ``(N, M)`` cost matrix; entries ``>= max_cost`` are never matched.

    Returns:
        ``(matches, unmatched_rows, unmatched_cols)`` with ``matches`` as ``(row, col)`` pairs.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return [], list(range(n)), list(range(m))
    rows, cols = linear_sum_assignment(np.minimum(cost, max_cost))
    matches = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < max_cost]
    mr = {r for r, _ in matches}
    mc = {c for _, c in matches}
    return (matches, [r for r in range(n) if r not in mr], [c for c in range(m) if c not in mc])
