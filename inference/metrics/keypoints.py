"""COCO keypoint AP by Object Keypoint Similarity (OKS), frame by frame.

Every frame of every video is one COCO "image"; the numbers agree with pycocotools'
``COCOeval(iouType='keypoints')`` (area range ``'all'``, at most 20 detections per image):

* ``OKS = mean over labelled ground-truth joints of exp(-d² / (2 · s² · k²))``, with
  ``s² = area`` of the ground truth and ``k = 2σ`` per joint (COCO's sigmas);
* a ground truth with no labelled joint (all ``v = 0``) is ignored: for it, ``d`` is the
  distance to its box grown by the box size on each side, and a detection matched to it is
  ignored too;
* the ground-truth ``area`` is its mask area when it has a ``segmentation`` (as in COCO),
  otherwise its box area ``w × h``;
* predicted records without any keypoint (``v`` all 0) are left out; the visibility of the
  predicted joints is otherwise not used, as in COCO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.metrics._records import by_frame, frames_in_order, pair_videos
from inference.metrics.coco_ap import APResult, APSummary, ImageMatches, accumulate, match_image
from inference.tracks.masks import rle_area
from inference.tracks.model import PersonRecord, TrackSet

#: COCO's per-joint OKS sigmas, in COCO keypoint order.
COCO_OKS_SIGMAS: np.ndarray = (
    np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07,
              0.87, 0.87, 0.89, 0.89]) / 10.0
)  # fmt: skip


def oks_matrix(
    dt_keypoints: np.ndarray,
    gt_keypoints: np.ndarray,
    gt_areas: np.ndarray,
    gt_bboxes: np.ndarray,
    sigmas: np.ndarray = COCO_OKS_SIGMAS,
) -> np.ndarray:
    """OKS of every detection with every ground truth, as ``COCOeval.computeOks``.

    Args:
        dt_keypoints: ``(D, K, 3)`` float ``(x, y, v)`` in pixels (``v`` unused).
        gt_keypoints: ``(G, K, 3)`` float ``(x, y, v)``; joints with ``v > 0`` count.
        gt_areas: ``(G,)`` object scale ``s²`` in px².
        gt_bboxes: ``(G, 4)`` ``(x, y, w, h)``, used only for ground truths with no labelled joint.
        sigmas: ``(K,)`` per-joint sigmas.

    Returns:
        ``(D, G)`` float64 in [0, 1].
    """
    dt = np.asarray(dt_keypoints, dtype=np.float64).reshape(-1, len(sigmas), 3)
    gt = np.asarray(gt_keypoints, dtype=np.float64).reshape(-1, len(sigmas), 3)
    areas = np.asarray(gt_areas, dtype=np.float64).reshape(-1)
    boxes = np.asarray(gt_bboxes, dtype=np.float64).reshape(-1, 4)
    var = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    out = np.zeros((len(dt), len(gt)))
    if len(dt) == 0 or len(gt) == 0:
        return out
    xd, yd = dt[:, :, 0], dt[:, :, 1]
    zero = np.zeros_like(xd)
    for j in range(len(gt)):
        xg, yg, vg = gt[j, :, 0], gt[j, :, 1], gt[j, :, 2]
        labelled = vg > 0
        if labelled.any():
            dx, dy = xd - xg, yd - yg
        else:
            bx, by, bw, bh = boxes[j]
            x0, x1, y0, y1 = bx - bw, bx + bw * 2, by - bh, by + bh * 2
            dx = np.maximum(zero, x0 - xd) + np.maximum(zero, xd - x1)
            dy = np.maximum(zero, y0 - yd) + np.maximum(zero, yd - y1)
        e = (dx**2 + dy**2) / var / (areas[j] + np.spacing(1)) / 2
        if labelled.any():
            e = e[:, labelled]
        for i in range(len(dt)):
            out[i, j] = np.sum(np.exp(-e[i])) / e.shape[1]
    return out


def _gt_area(rec: PersonRecord) -> float:
    if rec.segmentation is not None:
        return float(rle_area(rec.segmentation))
    return float(rec.bbox[2] * rec.bbox[3])


@dataclass(frozen=True)
class KeypointAPResult(APSummary):
    """Keypoint AP over OKS thresholds 0.50:0.05:0.95."""

    ap_result: APResult


def frame_matches(
    dt: list[PersonRecord], gt: list[PersonRecord], *, max_dets: int | None = 20
) -> ImageMatches:
    """COCO matching of one frame's predicted records to its ground-truth records by OKS."""
    scores = [r.score for r in dt]
    ignore = np.array([not r.has_keypoints for r in gt], dtype=bool)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    if max_dets is not None:
        order = order[:max_dets]
    sim = np.zeros((len(dt), len(gt)))
    if len(order) and len(gt):
        kept = [dt[i] for i in order]
        sim[order] = oks_matrix(
            np.stack([r.keypoints for r in kept]),
            np.stack([r.keypoints for r in gt]),
            np.array([_gt_area(r) for r in gt]),
            np.array([r.bbox for r in gt]),
        )
    return match_image(sim, scores, ignore, max_dets=max_dets)


def keypoint_ap(pred: TrackSet, gt: TrackSet, *, max_dets: int | None = 20) -> KeypointAPResult:
    """COCO keypoint AP of ``pred`` against ``gt`` over all frames of all videos."""
    images = []
    for pair in pair_videos(pred, gt):
        dts = [r for r in pair.pred if r.has_keypoints]
        gf, pf = by_frame(pair.gt), by_frame(dts)
        for f in frames_in_order(pair.gt, dts):
            g, d = gf.get(f, []), pf.get(f, [])
            if not g and not d:
                continue
            images.append(frame_matches(d, g, max_dets=max_dets))
    return KeypointAPResult(accumulate(images))
