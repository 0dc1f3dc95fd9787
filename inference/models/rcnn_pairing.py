"""Pairing the Keypoint R-CNN's poses with the Mask R-CNN's person masks (``mask_boxes="own"``).

Boxes are ``x1, y1, x2, y2`` processing pixels; masks ``(h, w)`` uint8 soft masks (``>= 128``
is the person); joints ``(17, 3)`` COCO ``x, y, v``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from inference.tracks.model import V_VISIBLE


def box_iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, M)`` IoU of ``(N, 4)`` and ``(M, 4)`` ``x1, y1, x2, y2`` boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    iw, ih = np.moveaxis(np.clip(hi - lo, 0, None), -1, 0)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def joints_inside(keypoints: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``(P, M)`` share of each pose's visible joints lying on each mask (0 without joints).

    ``keypoints`` ``(P, 17, 3)`` processing pixels; ``masks`` ``(M, h, w)`` uint8 soft masks.
    """
    p, m = len(keypoints), len(masks)
    out = np.zeros((p, m))
    if p == 0 or m == 0:
        return out
    h, w = masks.shape[1:]
    for i, kp in enumerate(keypoints):
        vis = kp[:, 2] >= V_VISIBLE
        if not vis.any():
            continue
        xs = np.clip(np.floor(kp[vis, 0]).astype(np.int64), 0, w - 1)
        ys = np.clip(np.floor(kp[vis, 1]).astype(np.int64), 0, h - 1)
        out[i] = (masks[:, ys, xs] >= 128).mean(axis=1)
    return out


def pair_poses_with_masks(pose_boxes: np.ndarray, pose_keypoints: np.ndarray,
                          mask_boxes: np.ndarray, masks: np.ndarray, *,
                          min_iou: float) -> list[tuple[int, int]]:
    """Hungarian pairing of poses with masks; returns ``(pose, mask)`` index pairs.

    Affinity = mean of box IoU and the share of the pose's visible joints inside the mask;
    pairs whose boxes overlap less than ``min_iou`` are forbidden.
    """
    if len(pose_boxes) == 0 or len(mask_boxes) == 0:
        return []
    iou = box_iou_xyxy(pose_boxes, mask_boxes)
    affinity = 0.5 * iou + 0.5 * joints_inside(pose_keypoints, masks)
    feasible = iou >= min_iou
    cost = np.where(feasible, -affinity, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if feasible[r, c]]


__all__ = ["box_iou_xyxy", "joints_inside", "pair_poses_with_masks"]
