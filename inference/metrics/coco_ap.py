"""COCO-style average precision, shared by temporal mask/boundary AP and keypoint (OKS) AP.

This follows pycocotools' ``COCOeval`` (and the YouTube-VIS fork ``YTVOSeval``, which differs only
in how the similarity of a detection and a ground truth is computed) step for step:

* per image (or video): detections sorted by score (stable), cut to ``max_dets``; ground truths
  that are *ignored* go last.  At each similarity threshold ``t`` each detection in turn takes the
  still-free ground truth with the highest similarity ``>= t`` (ties go to the later one, as in
  COCO); non-ignored ground truths are preferred, and a detection matched to an ignored ground
  truth is itself ignored;
* over all images: detections sorted by score (stable), cumulative TP/FP, precision made
  monotone from the right, sampled at the 101 recall thresholds 0:0.01:1 (``searchsorted``,
  left), precision 0 beyond the highest recall reached;
* AP is the mean of those 101 samples, averaged over the thresholds 0.50:0.05:0.95.

Crowd regions and area ranges are not modelled: everything is COCO's area range ``'all'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: COCO's similarity thresholds 0.50:0.05:0.95, built exactly as pycocotools builds them.
IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
#: COCO's 101 recall thresholds 0:0.01:1, built exactly as pycocotools builds them.
RECALL_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1)


@dataclass(frozen=True)
class ImageMatches:
    """The matching of one image (or one video) at every threshold.

    Attributes:
        dt_index: ``(D,)`` int, the caller's detection indices in evaluation order (score
            descending, stable, at most ``max_dets``).
        dt_scores: ``(D,)`` float64 scores in that order.
        dt_match: ``(T, D)`` int, the caller's index of the matched ground truth, or -1.
        dt_ignore: ``(T, D)`` bool, detections matched to an ignored ground truth.
        gt_ignore: ``(G,)`` bool, in the caller's ground-truth order.
    """

    dt_index: np.ndarray
    dt_scores: np.ndarray
    dt_match: np.ndarray
    dt_ignore: np.ndarray
    gt_ignore: np.ndarray


def match_image(
    similarity: np.ndarray,
    dt_scores: Sequence[float] | np.ndarray,
    gt_ignore: Sequence[bool] | np.ndarray | None = None,
    *,
    thresholds: np.ndarray = IOU_THRESHOLDS,
    max_dets: int | None = 100,
) -> ImageMatches:
    """Greedy COCO matching of one image's detections to its ground truths.

    Args:
        similarity: ``(D, G)`` float (IoU, video IoU or OKS), rows in the caller's detection
            order, columns in the caller's ground-truth order.
        dt_scores: ``(D,)`` detection confidences.
        gt_ignore: ``(G,)`` flags of ground truths that are ignored (neither needed nor counted).
        thresholds: ``(T,)`` similarity thresholds.
        max_dets: keep only this many highest-scoring detections (``None``: all).
    """
    scores = np.asarray(dt_scores, dtype=np.float64).reshape(-1)
    n_dt = scores.shape[0]
    sim = np.asarray(similarity, dtype=np.float64)
    if gt_ignore is not None:
        n_gt = len(gt_ignore)
    else:
        n_gt = sim.shape[1] if sim.ndim == 2 else 0
    if sim.size == 0:
        sim = np.zeros((n_dt, n_gt))
    elif sim.shape != (n_dt, n_gt):
        raise ValueError(f"similarity is {sim.shape}, expected {(n_dt, n_gt)}")
    ig = np.zeros(n_gt, bool) if gt_ignore is None else np.asarray(gt_ignore, bool).reshape(n_gt)
    order = np.argsort(-scores, kind="mergesort")
    if max_dets is not None:
        order = order[:max_dets]
    n_t = len(thresholds)
    dt_match = np.full((n_t, len(order)), -1, dtype=np.int64)
    dt_ignore = np.zeros((n_t, len(order)), dtype=bool)
    if len(order) and n_gt:
        sim = sim[order]
        regular = ~ig
        for ti, t in enumerate(thresholds):
            floor = min(float(t), 1 - 1e-10)
            taken = np.zeros(n_gt, dtype=bool)
            for di in range(len(order)):
                row = sim[di]
                m = -1
                for group in (regular, ig):  # regular ground truths first, then ignored ones
                    cand = group & ~taken & (row >= floor)
                    if cand.any():
                        best = row[cand].max()
                        m = int(np.flatnonzero(cand & (row == best))[-1])
                        break
                if m < 0:
                    continue
                taken[m] = True
                dt_match[ti, di] = m
                dt_ignore[ti, di] = ig[m]
    return ImageMatches(order, scores[order], dt_match, dt_ignore, ig)


@dataclass(frozen=True)
class APResult:
    """Accumulated COCO-style precision/recall.

    Attributes:
        thresholds: ``(T,)`` similarity thresholds.
        precision: ``(T, 101)`` interpolated precision at the recall thresholds; all NaN when
            there is no (non-ignored) ground truth.
        recall: ``(T,)`` the highest recall reached; NaN when there is no ground truth.
        num_gt: number of non-ignored ground truths.
        num_dt: number of detections evaluated (after ``max_dets``).
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    num_gt: int
    num_dt: int

    @property
    def ap(self) -> float:
        """AP averaged over all thresholds (NaN without ground truth)."""
        return float(np.mean(self.precision)) if self.num_gt else float("nan")

    @property
    def ar(self) -> float:
        """Recall averaged over all thresholds (COCO's AR at this ``max_dets``)."""
        return float(np.mean(self.recall)) if self.num_gt else float("nan")

    def _index(self, threshold: float) -> int:
        idx = np.flatnonzero(np.isclose(self.thresholds, threshold, rtol=0, atol=1e-9))
        if len(idx) == 0:
            raise KeyError(f"threshold {threshold} is not one of {self.thresholds.tolist()}")
        return int(idx[0])

    def ap_at(self, threshold: float) -> float:
        """AP at one of the thresholds, e.g. ``0.5`` or ``0.75``."""
        return (
            float(np.mean(self.precision[self._index(threshold)])) if self.num_gt else float("nan")
        )

    def recall_at(self, threshold: float) -> float:
        return float(self.recall[self._index(threshold)])


def accumulate(
    images: Sequence[ImageMatches],
    *,
    thresholds: np.ndarray = IOU_THRESHOLDS,
    recall_thresholds: np.ndarray = RECALL_THRESHOLDS,
) -> APResult:
    """Precision/recall over all images, as ``COCOeval.accumulate`` computes it."""
    n_t, n_r = len(thresholds), len(recall_thresholds)
    gt_ig = np.concatenate([im.gt_ignore for im in images]) if images else np.zeros(0, bool)
    npig = int(np.count_nonzero(~gt_ig))
    scores = np.concatenate([im.dt_scores for im in images]) if images else np.zeros(0)
    if npig == 0:
        nan = np.full((n_t, n_r), np.nan)
        return APResult(thresholds, nan, np.full(n_t, np.nan), 0, len(scores))
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([im.dt_match >= 0 for im in images], axis=1)[:, order]
    ignored = np.concatenate([im.dt_ignore for im in images], axis=1)[:, order]
    tps = matched & ~ignored
    fps = ~matched & ~ignored
    tp_sum = np.cumsum(tps, axis=1).astype(np.float64)
    fp_sum = np.cumsum(fps, axis=1).astype(np.float64)
    precision = np.zeros((n_t, n_r))
    recall = np.zeros(n_t)
    for t in range(n_t):
        tp, fp = tp_sum[t], fp_sum[t]
        nd = len(tp)
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        recall[t] = rc[-1] if nd else 0.0
        if nd == 0:
            continue
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope from the right
        inds = np.searchsorted(rc, recall_thresholds, side="left")
        ok = inds < nd
        precision[t, ok] = pr[inds[ok]]
    return APResult(thresholds, precision, recall, npig, len(scores))


class APSummary:
    """The usual summary numbers of a result that holds an :class:`APResult` as ``ap_result``."""

    ap_result: APResult

    @property
    def ap(self) -> float:
        return self.ap_result.ap

    @property
    def ap50(self) -> float:
        return self.ap_result.ap_at(0.5)

    @property
    def ap75(self) -> float:
        return self.ap_result.ap_at(0.75)

    @property
    def ar(self) -> float:
        return self.ap_result.ar

    def ap_at(self, threshold: float) -> float:
        return self.ap_result.ap_at(threshold)
