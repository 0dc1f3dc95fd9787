"""Realistic per-frame noise for clean tracks, to measure what smoothing recovers.

Used by the smoothing tests and ``benchmarks/bench_smoothing.py`` on synthetic ground truth:

* keypoints: i.i.d. Gaussian jitter of labelled joints (``sigma`` pixels per axis), and
  optionally joints dropped to ``(0, 0, 0)`` (a detector's miss, in COCO's convention);
* masks: each frame's mask eroded or dilated by a random radius (``-radius .. radius`` pixels,
  a segmenter that is a pixel or two too greedy or too shy on each frame), and optionally a
  wobbly boundary (``edge`` pixels of smooth random displacement, a new pattern every frame).

Deterministic per ``numpy.random.Generator``.  Returns new records; the input is not changed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import cv2
import numpy as np

from inference.tracks.masks import decode_mask, encode_mask, mask_bbox
from inference.tracks.model import TrackSet


@dataclass(frozen=True)
class Noise:
    """How much noise to add.

    Attributes:
        keypoint_sigma: pixels, standard deviation of the joint jitter per axis.
        keypoint_dropout: probability that a labelled joint is reported as ``(0, 0, 0)``.
        mask_radius: largest erosion/dilation radius in pixels (0: none).
        mask_edge: amplitude in pixels of the smooth random boundary displacement (0: none).
    """

    keypoint_sigma: float = 2.0
    keypoint_dropout: float = 0.0
    mask_radius: int = 1
    mask_edge: float = 0.0


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def perturb_mask(mask: np.ndarray, rng: np.random.Generator, radius: int, edge: float
                 ) -> np.ndarray:
    """One noisy copy of an ``(H, W)`` mask (uint8 0/1)."""
    m = (np.asarray(mask) != 0).astype(np.uint8)
    r = int(rng.integers(-radius, radius + 1)) if radius > 0 else 0
    if r > 0:
        m = cv2.dilate(m, _disk(r))
    elif r < 0:
        m = cv2.erode(m, _disk(-r))
    if edge > 0 and m.any():
        # Signed distance moved by a smooth random field of amplitude ~edge pixels.
        inside = cv2.distanceTransform(m, cv2.DIST_L2, 5)
        outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
        sdf = np.where(m != 0, inside - 0.5, 0.5 - outside).astype(np.float32)
        field = rng.standard_normal(m.shape).astype(np.float32)
        field = cv2.GaussianBlur(field, (0, 0), 3.0)
        field *= edge / max(float(field.std()), 1e-6)
        m = (sdf + field > 0).astype(np.uint8)
    return m


def add_noise(ts: TrackSet, noise: Noise, rng: np.random.Generator) -> TrackSet:
    """A copy of ``ts`` with ``noise`` added to every record (same ids, frames and flags,
    except dropped joints).  Boxes follow the noisy masks (their tight box)."""
    out = copy.deepcopy(ts)
    for r in out.annotations:
        kp = r.keypoints
        lab = kp[:, 2] > 0
        kp[lab, :2] += rng.normal(0.0, noise.keypoint_sigma, size=(int(lab.sum()), 2))
        if noise.keypoint_dropout > 0:
            drop = lab & (rng.random(len(kp)) < noise.keypoint_dropout)
            kp[drop] = 0.0
        if r.segmentation is not None and (noise.mask_radius > 0 or noise.mask_edge > 0):
            m = perturb_mask(decode_mask(r.segmentation), rng, noise.mask_radius,
                             noise.mask_edge)
            box = mask_bbox(m)
            if box is None:  # noise ate a tiny mask: keep the clean one
                continue
            r.segmentation = encode_mask(m)
            r.bbox = box
    return out
