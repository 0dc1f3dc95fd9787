"""MOTS metrics (Voigtlaender et al., "MOTS: Multi-Object Tracking and Segmentation", CVPR 2019).

Per frame, a predicted mask ``h`` is mapped to the ground-truth mask ``c(h)`` it overlaps with
mask IoU ``> 0.5`` (strictly).  For non-overlapping masks, as in MOTS, that mapping is unique;
when predicted masks overlap, the pairs are chosen to maximise the summed IoU among pairs above
0.5.  Then, with ``M`` the set of ground-truth masks::

    TP    = mapped predicted masks           TP~ = Σ_{h ∈ TP} IoU(h, c(h))
    FP    = unmapped predicted masks          FN  = unmapped ground-truth masks
    IDS   = ground-truth masks that are mapped and whose track's last mapped mask (its
            "tracked predecessor") was mapped from a different predicted track id
    MOTSA  = (|TP| - |FP| - |IDS|) / |M|
    sMOTSA = (TP~ - |FP| - |IDS|) / |M|
    MOTSP  = TP~ / |TP|
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from pycocotools import mask as _cocomask
from scipy.optimize import linear_sum_assignment

from inference.metrics._records import by_frame, cocoapi_rle, frames_in_order, pair_videos
from inference.tracks.model import TrackSet

#: A predicted mask maps to a ground-truth mask when their IoU is strictly above this.
MOTS_IOU_THRESHOLD = 0.5


def mask_iou_matrix(gt: Sequence[dict[str, Any]], pred: Sequence[dict[str, Any]]) -> np.ndarray:
    """Mask IoU of every ground-truth RLE with every predicted RLE: ``(len(gt), len(pred))``."""
    if not gt or not pred:
        return np.zeros((len(gt), len(pred)))
    g = [cocoapi_rle(r) for r in gt]
    p = [cocoapi_rle(r) for r in pred]
    return np.asarray(_cocomask.iou(g, p, [0] * len(p)), dtype=np.float64).reshape(len(g), len(p))


@dataclass
class MOTSResult:
    """MOTS counts; the scores are properties.  Add results with ``+``."""

    num_gt: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    ids: int = 0
    tp_soft: float = 0.0

    def __add__(self, other: MOTSResult) -> MOTSResult:
        return MOTSResult(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @property
    def motsa(self) -> float:
        return (self.tp - self.fp - self.ids) / self.num_gt if self.num_gt else float("nan")

    @property
    def smotsa(self) -> float:
        return (self.tp_soft - self.fp - self.ids) / self.num_gt if self.num_gt else float("nan")

    @property
    def motsp(self) -> float:
        return self.tp_soft / self.tp if self.tp else float("nan")


class MOTSAccumulator:
    """Frame-by-frame MOTS bookkeeping for one video; call :meth:`update` in frame order."""

    def __init__(self) -> None:
        self._last: dict[int, int] = {}  # gt id -> predicted id at its last mapped frame
        self.result = MOTSResult()

    def update(
        self, gt_ids: Sequence[int], pred_ids: Sequence[int], iou: np.ndarray
    ) -> list[tuple[int, int]]:
        """Add one frame; ``iou`` is ``(len(gt_ids), len(pred_ids))`` mask IoU.

        Returns the mapped ``(gt id, predicted id)`` pairs of the frame.
        """
        n, m = len(gt_ids), len(pred_ids)
        iou = np.asarray(iou, dtype=np.float64).reshape(n, m)
        valid = iou > MOTS_IOU_THRESHOLD
        pairs: list[tuple[int, int]] = []
        if valid.any():
            rows, cols = linear_sum_assignment(np.where(valid, iou, 0.0), maximize=True)
            pairs = [(int(i), int(j)) for i, j in zip(rows, cols) if valid[i, j]]
        res = self.result
        res.num_gt += n
        res.tp += len(pairs)
        res.fp += m - len(pairs)
        res.fn += n - len(pairs)
        out = []
        for i, j in pairs:
            g, p = gt_ids[i], pred_ids[j]
            res.tp_soft += iou[i, j]
            if g in self._last and self._last[g] != p:
                res.ids += 1
            self._last[g] = p
            out.append((g, p))
        return out


def mots_metrics(pred: TrackSet, gt: TrackSet) -> MOTSResult:
    """sMOTSA, MOTSA and MOTSP of ``pred``'s masks against ``gt``'s, summed over videos.

    Records without a ``segmentation`` are left out on both sides.
    """
    total = MOTSResult()
    for pair in pair_videos(pred, gt):
        acc = MOTSAccumulator()
        g_recs = [r for r in pair.gt if r.segmentation is not None]
        p_recs = [r for r in pair.pred if r.segmentation is not None]
        gf, pf = by_frame(g_recs), by_frame(p_recs)
        for f in frames_in_order(g_recs, p_recs):
            g, p = gf.get(f, []), pf.get(f, [])
            iou = mask_iou_matrix([r.segmentation for r in g], [r.segmentation for r in p])
            acc.update([r.track_id for r in g], [r.track_id for r in p], iou)
        total = total + acc.result
    return total
