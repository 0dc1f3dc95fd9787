"""Zero-phase keypoint smoothing of recorded tracks (Savitzky–Golay, per run of labelled frames).

The clip is recorded, so every frame can use its future as well as its past: each joint's
``(x, y)`` path is fitted, frame by frame, with a least-squares polynomial over a centred
window (:func:`scipy.signal.savgol_filter`) — no lag, and polynomial motion (constant velocity
for ``polyorder >= 1``, constant acceleration for ``polyorder >= 2``) passes through unchanged.

Visibility is respected:

* a joint is *labelled* on a frame when the track has a record there and the joint's
  ``v > 0`` (occluded joints, ``v = 1``, carry estimated positions and are smoothed too);
* each joint is smoothed separately over each *run*: a maximal stretch of consecutive frames on
  which it is labelled.  A missing frame or a ``v = 0`` frame ends the run, so a joint is never
  pulled towards ``(0, 0)`` (COCO's "not labelled") nor across a gap;
* a run shorter than the window uses the largest odd window that fits; a run too short for any
  window longer than ``polyorder`` is left as it is;
* ``v`` flags and unlabelled joints are copied unchanged.

Coordinates are pixels of the frame (see :mod:`inference.tracks.model`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.signal import savgol_filter

from inference.errors import InputError


@dataclass(frozen=True)
class KeypointSmoothing:
    """Parameters of the keypoint smoother.

    Attributes:
        window: frames in the centred fitting window (odd, >= 3).  At 24-30 fps, 9 frames
            (~0.3 s) removes detector jitter while keeping gestures; use fewer frames for
            very fast motion, more for a static speaker.
        polyorder: degree of the local polynomial (0 <= polyorder < window).  2 keeps
            accelerating motion (a swinging arm) with little overshoot; 1 smooths harder.
    """

    window: int = 9
    polyorder: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) \
                or self.window < 3 or self.window % 2 == 0:
            raise InputError(f"keypoint smoothing window {self.window!r} must be an odd number "
                             "of frames, 3 or more", hint="e.g. 9")
        if isinstance(self.polyorder, bool) or not isinstance(self.polyorder, int) \
                or not 0 <= self.polyorder < self.window:
            raise InputError(f"keypoint smoothing polyorder {self.polyorder!r} must be 0 to "
                             f"{self.window - 1} (less than the window)", hint="e.g. 2")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges of the maximal runs of True in a 1-D bool array."""
    v = np.concatenate(([False], np.asarray(valid, bool), [False]))
    d = np.diff(v.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def smooth_series(values: np.ndarray, valid: np.ndarray, params: KeypointSmoothing
                  ) -> np.ndarray:
    """Smooth ``values`` ``(N, D)`` float over each run of ``valid`` ``(N,)`` bool.

    Rows are consecutive frames.  Invalid rows, and runs too short to fit, are returned
    unchanged.  Returns a new ``(N, D)`` float64 array.
    """
    out = np.array(values, dtype=np.float64, copy=True)
    for a, b in runs(valid):
        n = b - a
        w = min(params.window, n if n % 2 else n - 1)
        if w <= params.polyorder or w < 3:
            continue
        out[a:b] = savgol_filter(out[a:b], w, params.polyorder, axis=0, mode="interp")
    return out


def smooth_track_keypoints(frames: np.ndarray, keypoints: np.ndarray,
                           params: KeypointSmoothing) -> np.ndarray:
    """Smooth one track's joints.

    Args:
        frames: ``(N,)`` int, strictly increasing frame indices of the track's records.
        keypoints: ``(N, 17, 3)`` float ``(x, y, v)`` of those records.
        params: the smoother's settings.

    Returns:
        ``(N, 17, 3)`` float64: ``x, y`` smoothed where labelled, ``v`` and unlabelled joints
        unchanged.
    """
    frames = np.asarray(frames, dtype=np.int64)
    kp = np.array(keypoints, dtype=np.float64, copy=True)
    if len(frames) == 0:
        return kp
    if np.any(np.diff(frames) <= 0):
        raise ValueError("frames must be strictly increasing")
    # A frame step > 1 is a gap: insert a break by splitting the index into blocks.
    blocks = np.split(np.arange(len(frames)), np.flatnonzero(np.diff(frames) > 1) + 1)
    for idx in blocks:
        for j in range(kp.shape[1]):
            labelled = kp[idx, j, 2] > 0
            if labelled.sum() < 3:
                continue
            kp[idx, j, :2] = smooth_series(kp[idx, j, :2], labelled, params)
    return kp


def smooth_track_boxes(frames: np.ndarray, boxes: np.ndarray, params: KeypointSmoothing
                       ) -> np.ndarray:
    """Smooth ``(N, 4)`` ``(x, y, w, h)`` boxes of one track the same way (runs of consecutive
    frames); widths and heights are kept >= 0."""
    frames = np.asarray(frames, dtype=np.int64)
    out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    blocks = np.split(np.arange(len(frames)), np.flatnonzero(np.diff(frames) > 1) + 1)
    for idx in blocks:
        if len(idx):
            out[idx] = smooth_series(out[idx], np.ones(len(idx), bool), params)
    out[:, 2:] = np.maximum(out[:, 2:], 0.0)
    return out
