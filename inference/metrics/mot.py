"""CLEAR MOT (MOTA, MOTP, ID switches, fragmentations, MT/PT/ML) and ID metrics (IDF1/IDP/IDR)
on box tracks.

Follows py-motmetrics (``MOTAccumulator`` + ``metrics``, v1.4) event for event, so its numbers
agree with motmetrics' ``compare_to_groundtruth(gt, pred, 'iou', distth=1 - iou_threshold)``:

* a ground-truth box and a predicted box may pair when ``1 - IoU <= 1 - iou_threshold``;
* per frame, pairs kept from the previous frame stay matched if they still may pair; the rest
  are assigned by minimum total ``1 - IoU`` (Hungarian).  A ground truth matched to a different
  prediction than at its last match is an ID switch (no time limit);
* ``MOTA = 1 - (misses + false positives + switches) / ground-truth boxes``;
* ``MOTP`` here is the mean IoU of matched pairs (MOTChallenge convention, higher is better);
  motmetrics' ``motp`` is the mean ``1 - IoU``, i.e. ``1 - motp``;
* IDF1 from the global one-to-one track assignment that maximises the number of frames where
  the pair may pair (``IDTP``): ``IDF1 = 2 IDTP / (gt boxes + predicted boxes)``.

Boxes are ``(x, y, w, h)`` pixels.  Several videos are evaluated separately and their counts
summed (motmetrics' "OVERALL").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy.optimize import linear_sum_assignment

from inference.metrics._records import by_frame, frames_in_order, pair_videos
from inference.tracks.model import TrackSet


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (``(N, 4)`` xywh) with every box in ``b`` (``(M, 4)``): ``(N, M)``.

    Same arithmetic as motmetrics' ``boxiou`` (so thresholds cut identically).
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)[:, None]
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)[None, :]
    a_min, a_max = a[..., :2], a[..., :2] + a[..., 2:]
    b_min, b_max = b[..., :2], b[..., :2] + b[..., 2:]
    i_size = np.maximum(np.minimum(a_max, b_max) - np.maximum(a_min, b_min), 0)
    i_vol = np.prod(i_size, axis=-1)
    a_vol = np.prod(np.maximum(a_max - a_min, 0), axis=-1)
    b_vol = np.prod(np.maximum(b_max - b_min, 0), axis=-1)
    u_vol = a_vol + b_vol - i_vol
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(i_vol == 0, 0.0, i_vol / u_vol)


def _assign_min_cost(costs: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment where NaN marks a forbidden pair (motmetrics' scipy path)."""
    if costs.size == 0:
        return []
    valid = np.isfinite(costs)
    if not valid.any():
        return []
    finite = costs.copy()
    if not valid.all():
        c = np.abs(costs[valid]).max() + 1
        finite = np.where(valid, costs, 2 * min(costs.shape) * c + 1)
    rows, cols = linear_sum_assignment(finite)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if valid[r, c]]


@dataclass
class MOTResult:
    """Counts of a CLEAR MOT / ID evaluation; the rates are properties.  Add results with ``+``."""

    num_frames: int = 0
    num_gt: int = 0  #: ground-truth boxes (motmetrics ``num_objects``)
    num_pred: int = 0  #: predicted boxes (``num_predictions``)
    num_matches: int = 0  #: matches that are not switches
    num_switches: int = 0
    num_false_positives: int = 0
    num_misses: int = 0
    num_fragmentations: int = 0
    num_unique_objects: int = 0
    mostly_tracked: int = 0
    partially_tracked: int = 0
    mostly_lost: int = 0
    idtp: int = 0
    sum_iou: float = 0.0  #: IoU summed over matches and switches

    def __add__(self, other: MOTResult) -> MOTResult:
        return MOTResult(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @staticmethod
    def _div(a: float, b: float) -> float:
        return float(a) / b if b else float("nan")

    @property
    def num_detections(self) -> int:
        return self.num_matches + self.num_switches

    @property
    def idfn(self) -> int:
        return self.num_gt - self.idtp

    @property
    def idfp(self) -> int:
        return self.num_pred - self.idtp

    @property
    def mota(self) -> float:
        bad = self.num_misses + self.num_switches + self.num_false_positives
        return 1.0 - bad / self.num_gt if self.num_gt else float("nan")

    @property
    def motp(self) -> float:
        """Mean IoU of matched pairs (higher is better)."""
        return self._div(self.sum_iou, self.num_detections)

    @property
    def idf1(self) -> float:
        return self._div(2 * self.idtp, self.num_gt + self.num_pred)

    @property
    def idp(self) -> float:
        return self._div(self.idtp, self.num_pred)

    @property
    def idr(self) -> float:
        return self._div(self.idtp, self.num_gt)

    @property
    def recall(self) -> float:
        return self._div(self.num_detections, self.num_gt)

    @property
    def precision(self) -> float:
        return self._div(self.num_detections, self.num_detections + self.num_false_positives)

    def as_dict(self) -> dict[str, float]:
        """Rates and counts by the names :func:`inference.metrics.evaluate` reports."""
        return {
            "mota": self.mota, "motp": self.motp, "idf1": self.idf1, "idp": self.idp,
            "idr": self.idr, "id_switches": float(self.num_switches),
            "false_positives": float(self.num_false_positives), "misses": float(self.num_misses),
            "fragmentations": float(self.num_fragmentations), "recall": self.recall,
            "precision": self.precision, "mostly_tracked": float(self.mostly_tracked),
            "partially_tracked": float(self.partially_tracked),
            "mostly_lost": float(self.mostly_lost), "gt_boxes": float(self.num_gt),
            "pred_boxes": float(self.num_pred),
        }  # fmt: skip


class ClearMotAccumulator:
    """Frame-by-frame CLEAR MOT / ID bookkeeping for one video (motmetrics' algorithm).

    Call :meth:`update` once per frame, in frame order, then :meth:`result`.
    """

    def __init__(self, iou_threshold: float = 0.5):
        self.max_dist = 1.0 - iou_threshold
        self._last: dict[int, int] = {}  # gt id -> pred id at its last match
        self._history: dict[int, list[bool]] = {}  # gt id -> tracked? per frame it is present
        self._gt_frames: dict[int, int] = {}
        self._pred_frames: dict[int, int] = {}
        self._pair_frames: dict[tuple[int, int], int] = {}
        self._res = MOTResult()

    def update(self, gt_ids: Sequence[int], pred_ids: Sequence[int], iou: np.ndarray) -> None:
        """Add one frame.

        Args:
            gt_ids: ``N`` ground-truth track ids present in the frame.
            pred_ids: ``M`` predicted track ids present in the frame.
            iou: ``(N, M)`` similarity (IoU) of each pair.
        """
        n, m = len(gt_ids), len(pred_ids)
        iou = np.asarray(iou, dtype=np.float64).reshape(n, m)
        dist = 1.0 - iou
        dist = np.where(dist > self.max_dist, np.nan, dist)
        res = self._res
        res.num_frames += 1
        res.num_gt += n
        res.num_pred += m
        for g in gt_ids:
            self._gt_frames[g] = self._gt_frames.get(g, 0) + 1
        for p in pred_ids:
            self._pred_frames[p] = self._pred_frames.get(p, 0) + 1
        for i, j in zip(*np.nonzero(np.isfinite(dist))):
            key = (gt_ids[i], pred_ids[j])
            self._pair_frames[key] = self._pair_frames.get(key, 0) + 1

        gt_done = np.zeros(n, bool)
        pred_done = np.zeros(m, bool)
        if n and m:
            # 1. keep last frame's pairs that may still pair
            for i, g in enumerate(gt_ids):
                if g not in self._last:
                    continue
                js = np.flatnonzero(~pred_done & (np.asarray(pred_ids) == self._last[g]))
                if len(js) and np.isfinite(dist[i, js[0]]):
                    j = int(js[0])
                    gt_done[i] = pred_done[j] = True
                    res.num_matches += 1
                    res.sum_iou += iou[i, j]
            # 2. Hungarian on the rest
            rest = dist.copy()
            rest[gt_done, :] = np.nan
            rest[:, pred_done] = np.nan
            for i, j in _assign_min_cost(rest):
                g, p = gt_ids[i], pred_ids[j]
                if g in self._last and self._last[g] != p:
                    res.num_switches += 1
                else:
                    res.num_matches += 1
                res.sum_iou += iou[i, j]
                gt_done[i] = pred_done[j] = True
                self._last[g] = p
        res.num_misses += int(np.count_nonzero(~gt_done))
        res.num_false_positives += int(np.count_nonzero(~pred_done))
        for i, g in enumerate(gt_ids):
            self._history.setdefault(g, []).append(bool(gt_done[i]))

    def result(self) -> MOTResult:
        """The counts so far, with track-level (MT/PT/ML, FM) and ID (IDTP) terms filled in."""
        out = MOTResult(**{f.name: getattr(self._res, f.name) for f in fields(MOTResult)})
        out.num_unique_objects = len(self._history)
        out.mostly_tracked = out.partially_tracked = out.mostly_lost = 0
        out.num_fragmentations = 0
        for hist in self._history.values():
            ratio = sum(hist) / len(hist)
            if ratio >= 0.8:
                out.mostly_tracked += 1
            elif ratio >= 0.2:
                out.partially_tracked += 1
            else:
                out.mostly_lost += 1
            tracked = np.flatnonzero(hist)
            if len(tracked):
                span = np.asarray(hist[tracked[0] : tracked[-1] + 1], dtype=np.int8)
                out.num_fragmentations += int(np.count_nonzero(np.diff(span) == -1))
        gts = sorted(self._gt_frames)
        preds = sorted(self._pred_frames)
        out.idtp = 0
        if gts and preds and self._pair_frames:
            gi = {g: k for k, g in enumerate(gts)}
            pi = {p: k for k, p in enumerate(preds)}
            tp = np.zeros((len(gts), len(preds)))
            for (g, p), c in self._pair_frames.items():
                tp[gi[g], pi[p]] = c
            rows, cols = linear_sum_assignment(tp, maximize=True)
            out.idtp = int(tp[rows, cols].sum())
        return out


def mot_metrics(pred: TrackSet, gt: TrackSet, *, iou_threshold: float = 0.5) -> MOTResult:
    """CLEAR MOT and ID metrics of ``pred``'s boxes against ``gt``'s, summed over videos.

    Every frame that holds a record of either set is evaluated, in frame order.
    """
    total = MOTResult()
    for pair in pair_videos(pred, gt):
        acc = ClearMotAccumulator(iou_threshold)
        gf, pf = by_frame(pair.gt), by_frame(pair.pred)
        for f in frames_in_order(pair.gt, pair.pred):
            g, p = gf.get(f, []), pf.get(f, [])
            iou = box_iou_matrix([r.bbox for r in g], [r.bbox for r in p])
            acc.update([r.track_id for r in g], [r.track_id for r in p], iou)
        total = total + acc.result()
    return total
