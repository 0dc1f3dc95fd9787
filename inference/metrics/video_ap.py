"""Temporal Mask AP (TMIoU) and Temporal Boundary AP (TBIoU) of person tracks.

Both are YouTube-VIS-style average precision (see :mod:`inference.metrics.coco_ap`) where one
"detection" is a whole predicted track and one "ground truth" a whole ground-truth track of the
same video, and their similarity is a *video* IoU summed over all frames::

    TMIoU(G, P) = Σ_t |G_t ∩ P_t| / Σ_t |G_t ∪ P_t|                      (seed eq. 7)
    TBIoU(G, P) = Σ_t |∂G_t ∩ ∂P_t| / Σ_t |∂G_t ∪ ∂P_t|,  ∂M = M_d ∩ M    (seed eq. 8)

A frame where only one of the two tracks has a mask adds that mask's area to the union (as in
``YTVOSeval.computeIoU``); a frame without either adds nothing.  ``∂M`` is the Boundary IoU
boundary region (:mod:`inference.metrics.boundary`), ``d = dilation_ratio × image diagonal``;
the seed uses ``dilation_ratio = 0.01``.

A predicted track's score is the mean of its per-frame ``score`` values.  Tracks are ordered by
first appearance in ``TrackSet.annotations`` (this only matters for exact score ties).
AP is reported over IoU thresholds 0.50:0.05:0.95 with 101-point interpolation, at most
``max_dets`` (default 100, as YouTube-VIS) predicted tracks per video.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as _cocomask

from inference.metrics._records import VideoPair, cocoapi_rle, pair_videos, tracks_in_order
from inference.metrics.boundary import DEFAULT_DILATION_RATIO, boundary_rle
from inference.metrics.coco_ap import IOU_THRESHOLDS, APResult, APSummary, accumulate, match_image
from inference.tracks.model import PersonRecord, TrackSet

log = logging.getLogger(__name__)

#: One track's masks: frame index -> pycocotools RLE (``counts`` as bytes).
MaskSequence = dict[int, dict[str, Any]]


def video_iou_matrix(
    dt: Sequence[MaskSequence], gt: Sequence[MaskSequence]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Video IoU of every predicted track with every ground-truth track.

    Args:
        dt: ``D`` predicted mask sequences (frame index -> RLE, compressed or not).
        gt: ``G`` ground-truth mask sequences.

    Returns:
        ``(iou, intersection, union)``: ``(D, G)`` float64 and two ``(D, G)`` int64 arrays of
        pixel counts summed over frames; ``iou`` is 0 where the union is empty.
    """
    n_d, n_g = len(dt), len(gt)
    inter = np.zeros((n_d, n_g), dtype=np.int64)
    area_d = np.zeros(n_d, dtype=np.int64)
    area_g = np.zeros(n_g, dtype=np.int64)
    frames: dict[int, tuple[list[int], list[dict], list[int], list[dict]]] = {}
    for i, seq in enumerate(dt):
        for f, rle in seq.items():
            frames.setdefault(f, ([], [], [], []))
            frames[f][0].append(i)
            frames[f][1].append(cocoapi_rle(rle))
    for j, seq in enumerate(gt):
        for f, rle in seq.items():
            frames.setdefault(f, ([], [], [], []))
            frames[f][2].append(j)
            frames[f][3].append(cocoapi_rle(rle))
    for di, drles, gi, grles in frames.values():
        ad = _cocomask.area(drles).astype(np.int64) if drles else np.zeros(0, np.int64)
        ag = _cocomask.area(grles).astype(np.int64) if grles else np.zeros(0, np.int64)
        np.add.at(area_d, di, ad)
        np.add.at(area_g, gi, ag)
        if not drles or not grles:
            continue
        iou = np.asarray(_cocomask.iou(drles, grles, [0] * len(grles)), dtype=np.float64)
        iou = iou.reshape(len(drles), len(grles))
        # pycocotools gives i/u with u = a_d + a_g - i; invert it exactly (counts are integers).
        tot = ad[:, None] + ag[None, :]
        i_px = np.rint(iou * tot / (1.0 + iou)).astype(np.int64)
        inter[np.ix_(di, gi)] += i_px
    union = area_d[:, None] + area_g[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        ious = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return ious, inter, union


@dataclass(frozen=True)
class TrackMatch:
    """One ground-truth track and its best predicted track, for debugging.

    ``best_pred_track_id`` is the predicted track of highest video IoU (``None`` if none
    overlaps); ``matched_pred_track_id_50`` the one AP matched it to at IoU 0.5 (``None`` if
    missed).
    """

    video_id: int
    gt_track_id: int
    best_pred_track_id: int | None
    best_iou: float
    matched_pred_track_id_50: int | None


@dataclass(frozen=True)
class VideoIoUs:
    """Per-video similarity matrix: rows ``pred_track_ids``, columns ``gt_track_ids``."""

    video_id: int
    pred_track_ids: tuple[int, ...]
    gt_track_ids: tuple[int, ...]
    pred_scores: tuple[float, ...]
    iou: np.ndarray


@dataclass(frozen=True)
class VideoAPResult(APSummary):
    """Temporal AP of one kind (``"mask"`` or ``"boundary"``) with per-track detail."""

    kind: str
    ap_result: APResult
    videos: tuple[VideoIoUs, ...]
    tracks: tuple[TrackMatch, ...]
    dilation_ratio: float | None = None



def _mean_score(scores: list[float]) -> float:
    """Mean of a track's frame scores; exactly the score itself when all frames agree."""
    s = np.asarray(scores, dtype=np.float64)
    return float(s[0] + np.mean(s - s[0]))


def _track_sequences(
    records: list[PersonRecord], transform: Callable[[dict[str, Any]], dict[str, Any]] | None
) -> tuple[list[int], list[float], list[MaskSequence]]:
    ids: list[int] = []
    scores: list[float] = []
    seqs: list[MaskSequence] = []
    for tid, recs in tracks_in_order(records).items():
        with_mask = [r for r in recs if r.segmentation is not None]
        if not with_mask:
            continue
        ids.append(tid)
        scores.append(_mean_score([r.score for r in recs]))
        seqs.append(
            {
                r.frame_index: (transform(r.segmentation) if transform else r.segmentation)
                for r in with_mask
            }
        )
    return ids, scores, seqs


def _temporal_ap(
    pairs: list[VideoPair],
    kind: str,
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None,
    max_dets: int | None,
    dilation_ratio: float | None,
) -> VideoAPResult:
    images = []
    videos = []
    tracks = []
    i50 = int(np.flatnonzero(np.isclose(IOU_THRESHOLDS, 0.5))[0])
    for pair in pairs:
        d_ids, d_scores, d_seqs = _track_sequences(pair.pred, transform)
        g_ids, _, g_seqs = _track_sequences(pair.gt, transform)
        if not d_ids and not g_ids:
            continue
        iou, _, _ = video_iou_matrix(d_seqs, g_seqs)
        videos.append(VideoIoUs(pair.video.id, tuple(d_ids), tuple(g_ids), tuple(d_scores), iou))
        im = match_image(iou, d_scores, np.zeros(len(g_ids), bool), max_dets=max_dets)
        images.append(im)
        matched = {
            int(m): d_ids[int(im.dt_index[k])] for k, m in enumerate(im.dt_match[i50]) if m >= 0
        }
        for j, gid in enumerate(g_ids):
            col = iou[:, j] if d_ids else np.zeros(0)
            best = int(np.argmax(col)) if col.size and col.max() > 0 else None
            tracks.append(
                TrackMatch(
                    pair.video.id,
                    gid,
                    None if best is None else d_ids[best],
                    float(col[best]) if best is not None else 0.0,
                    matched.get(j),
                )
            )
    return VideoAPResult(kind, accumulate(images), tuple(videos), tuple(tracks), dilation_ratio)


def temporal_mask_ap(pred: TrackSet, gt: TrackSet, *, max_dets: int | None = 100) -> VideoAPResult:
    """Temporal Mask AP (TMIoU, seed eq. 7) of ``pred`` against ``gt``.

    Only records with a ``segmentation`` take part; a track without any mask is left out.
    """
    return _temporal_ap(pair_videos(pred, gt), "mask", None, max_dets, None)


def temporal_boundary_ap(
    pred: TrackSet,
    gt: TrackSet,
    *,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
    max_dets: int | None = 100,
) -> VideoAPResult:
    """Temporal Boundary AP (TBIoU, seed eq. 8); ``d = dilation_ratio × image diagonal``."""

    def to_boundary(rle: dict[str, Any]) -> dict[str, Any]:
        return boundary_rle(rle, dilation_ratio)

    return _temporal_ap(pair_videos(pred, gt), "boundary", to_boundary, max_dets, dilation_ratio)
