"""Temporal-stability and accuracy measures of per-person tracks (before/after smoothing).

All measures work on :class:`~inference.tracks.model.PersonRecord` sequences (a
:class:`~inference.tracks.model.TrackSet` or any iterable of records of ONE video), in the
pixel coordinates of the frame.  Records are grouped by ``track_id`` and ordered by
``frame_index``; "consecutive" means frame indices ``f - 1, f`` (``, f + 1``) all present.

* :func:`keypoint_jitter` — mean ``‖p(f+1) − 2·p(f) + p(f−1)‖`` (pixels/frame²) over every
  joint of every track with the joint labelled (``v > 0``) on three consecutive frames.  It
  measures acceleration; real motion has some, noise adds much more.
* :func:`mask_flicker` — mean over consecutive mask pairs of ``1 − IoU(mask_t, shift(mask_{t−1}))``
  where ``shift`` translates by the motion of the mask's tight-box centre from ``t − 1`` to
  ``t``, rounded to whole pixels.  0 for a mask that only translates; per-frame boundary noise
  raises it.
* :func:`keypoint_error` — mean Euclidean distance (pixels) to the ground truth over the
  ``(frame, track, joint)`` labelled in both.
* :func:`mask_iou` — mean IoU with the ground truth over the ``(frame, track)`` pairs that have
  a mask in both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from inference.tracks.masks import decode_mask, mask_bbox
from inference.tracks.model import PersonRecord, TrackSet


def _records(data: TrackSet | Iterable[PersonRecord]) -> list[PersonRecord]:
    return list(data.annotations if isinstance(data, TrackSet) else data)


def by_track(data: TrackSet | Iterable[PersonRecord]) -> dict[int, list[PersonRecord]]:
    """Records grouped by track id, each list sorted by frame index."""
    out: dict[int, list[PersonRecord]] = {}
    for r in _records(data):
        out.setdefault(r.track_id, []).append(r)
    for recs in out.values():
        recs.sort(key=lambda r: r.frame_index)
    return out


def keypoint_jitter(data: TrackSet | Iterable[PersonRecord]) -> float:
    """Mean norm of the second difference of labelled joints, pixels/frame² (NaN if none)."""
    total, count = 0.0, 0
    for recs in by_track(data).values():
        frames = np.array([r.frame_index for r in recs])
        kp = np.stack([r.keypoints for r in recs]) if recs else np.zeros((0, 17, 3))
        if len(recs) < 3:
            continue
        ok3 = (frames[2:] - frames[:-2]) == 2  # three consecutive frames
        lab = kp[:, :, 2] > 0
        valid = ok3[:, None] & lab[:-2] & lab[1:-1] & lab[2:]
        acc = kp[2:, :, :2] - 2 * kp[1:-1, :, :2] + kp[:-2, :, :2]
        norms = np.linalg.norm(acc, axis=2)[valid]
        total += float(norms.sum())
        count += int(norms.size)
    return total / count if count else float("nan")


def shift_mask(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``mask`` translated by whole pixels ``(dx, dy)`` (right, down); no wrap-around."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    x, y, w, h = box
    return x + w / 2, y + h / 2


def mask_flicker(data: TrackSet | Iterable[PersonRecord]) -> float:
    """Mean ``1 − IoU`` of each mask with the previous frame's mask moved by the box-centre
    motion (see the module docstring); NaN when no track has two consecutive masks."""
    values: list[float] = []
    for recs in by_track(data).values():
        prev: tuple[int, np.ndarray, tuple[float, float]] | None = None
        for r in recs:
            if r.segmentation is None:
                prev = None
                continue
            m = decode_mask(r.segmentation).astype(bool)
            box = mask_bbox(m)
            if box is None:
                prev = None
                continue
            c = _centre(box)
            if prev is not None and prev[0] == r.frame_index - 1:
                dx, dy = round(c[0] - prev[2][0]), round(c[1] - prev[2][1])
                values.append(1.0 - _iou(m, shift_mask(prev[1], dx, dy)))
            prev = (r.frame_index, m, c)
    return float(np.mean(values)) if values else float("nan")


def _index(data: TrackSet | Iterable[PersonRecord]) -> dict[tuple[int, int], PersonRecord]:
    return {(r.frame_index, r.track_id): r for r in _records(data)}


def keypoint_error(pred: TrackSet | Iterable[PersonRecord],
                   gt: TrackSet | Iterable[PersonRecord]) -> float:
    """Mean pixel distance to the ground truth over joints labelled in both (NaN if none).

    Records are paired by ``(frame_index, track_id)``: use it on tracks whose ids match the
    ground truth (e.g. a perturbed copy of it).
    """
    g = _index(gt)
    dists: list[np.ndarray] = []
    for key, p in _index(pred).items():
        t = g.get(key)
        if t is None:
            continue
        both = (p.keypoints[:, 2] > 0) & (t.keypoints[:, 2] > 0)
        dists.append(np.linalg.norm(p.keypoints[both, :2] - t.keypoints[both, :2], axis=1))
    d = np.concatenate(dists) if dists else np.zeros(0)
    return float(d.mean()) if d.size else float("nan")


def mask_iou(pred: TrackSet | Iterable[PersonRecord],
             gt: TrackSet | Iterable[PersonRecord]) -> float:
    """Mean mask IoU with the ground truth over records paired by ``(frame, track)``."""
    g = _index(gt)
    values = []
    for key, p in _index(pred).items():
        t = g.get(key)
        if t is None or p.segmentation is None or t.segmentation is None:
            continue
        values.append(_iou(decode_mask(p.segmentation).astype(bool),
                           decode_mask(t.segmentation).astype(bool)))
    return float(np.mean(values)) if values else float("nan")


def stability_report(data: TrackSet | Iterable[PersonRecord],
                     gt: TrackSet | Iterable[PersonRecord] | None = None) -> dict[str, Any]:
    """``{"keypoint_jitter", "mask_flicker"}`` and, with ``gt``, ``"keypoint_error"`` and
    ``"mask_iou"`` (floats, NaN where undefined)."""
    recs = _records(data)
    out: dict[str, Any] = {"keypoint_jitter": keypoint_jitter(recs),
                           "mask_flicker": mask_flicker(recs)}
    if gt is not None:
        g = _records(gt)
        out["keypoint_error"] = keypoint_error(recs, g)
        out["mask_iou"] = mask_iou(recs, g)
    return out
