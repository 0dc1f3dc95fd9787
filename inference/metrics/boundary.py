"""Boundary regions of binary masks, as in Boundary IoU (Cheng et al., CVPR 2021).

The boundary region of a mask ``G`` is ``G_d ∩ G``: the mask pixels within ``d`` pixels of its
contour, where ``d = max(1, round(dilation_ratio × image diagonal))`` and the distance is the
chessboard distance of ``d`` iterated 3×3 erosions.  Pixels outside the image count as
background, so a mask cut by the frame edge has a boundary along that edge too (the reference
pads the mask with one row/column of zeros before eroding).  This matches the reference
``mask_to_boundary`` of boundary-iou-api pixel for pixel.

The humanfx seed paper (Temporal Boundary IoU) uses ``dilation_ratio = 0.01``:
``d = 15`` px on a 1280×720 frame.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as _cocomask

from inference.metrics._records import cocoapi_rle
from inference.tracks.masks import compress_rle

#: The seed paper's dilation ratio for Temporal Boundary IoU (Boundary IoU's own default is 0.02).
DEFAULT_DILATION_RATIO = 0.01

_KERNEL = np.ones((3, 3), dtype=np.uint8)


def dilation_pixels(height: int, width: int, dilation_ratio: float = DEFAULT_DILATION_RATIO) -> int:
    """Boundary width ``d`` in pixels for an image of ``height × width``: at least 1."""
    d = round(dilation_ratio * math.sqrt(height**2 + width**2))
    return max(d, 1)


def _erode_with_zero_border(mask: np.ndarray, d: int) -> np.ndarray:
    h, w = mask.shape
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    return cv2.erode(padded, _KERNEL, iterations=d)[1 : h + 1, 1 : w + 1]


def mask_to_boundary(
    mask: np.ndarray, dilation_ratio: float = DEFAULT_DILATION_RATIO
) -> np.ndarray:
    """Boundary region of a full-frame binary mask (boundary-iou-api's ``mask_to_boundary``).

    Args:
        mask: ``(H, W)`` bool/uint8, non-zero = inside; the frame's diagonal sets ``d``.
        dilation_ratio: ``d = max(1, round(dilation_ratio × diagonal))``.

    Returns:
        ``(H, W)`` uint8 of 0/1: mask minus its ``d``-fold 3×3 erosion.
    """
    m = (np.asarray(mask) != 0).astype(np.uint8)
    h, w = m.shape
    return m - _erode_with_zero_border(m, dilation_pixels(h, w, dilation_ratio))


def boundary_iou(
    gt: np.ndarray, dt: np.ndarray, dilation_ratio: float = DEFAULT_DILATION_RATIO
) -> float:
    """Boundary IoU of two ``(H, W)`` binary masks (0.0 when both boundaries are empty)."""
    gb = mask_to_boundary(gt, dilation_ratio).astype(bool)
    db = mask_to_boundary(dt, dilation_ratio).astype(bool)
    union = np.count_nonzero(gb | db)
    return float(np.count_nonzero(gb & db) / union) if union else 0.0


def rle_counts(rle: dict[str, Any]) -> np.ndarray:
    """Run lengths of a COCO RLE (column-major, starting with a run of zeros) as int64.

    Parses the compressed ``counts`` string as pycocotools' ``rleFrString`` does.
    """
    counts = rle["counts"]
    if isinstance(counts, list):
        return np.asarray(counts, dtype=np.int64)
    s = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    c = np.frombuffer(s, dtype=np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (c & 0x20) == 0  # the last 5-bit chunk of each number
    group = np.concatenate(([0], np.cumsum(last)[:-1]))
    first = np.flatnonzero(np.concatenate(([True], last[:-1])))
    k = np.arange(c.size) - first[group]  # chunk index within its number
    x = np.bincount(group, weights=(c & 0x1F) << (5 * k)).astype(np.int64)
    ends = np.flatnonzero(last)
    negative = (c[ends] & 0x10) != 0
    x[negative] -= np.int64(1) << (5 * (k[ends[negative]] + 1))
    # counts after the third are deltas from the count two before
    out = x.copy()
    out[1::2] = np.cumsum(x[1::2])
    out[2::2] = np.cumsum(x[2::2])
    return out


def _decode_columns(counts: np.ndarray, height: int, x0: int, x1: int) -> np.ndarray:
    """Columns ``x0:x1`` of an RLE mask as a ``(height, x1 - x0)`` uint8 array."""
    ends = np.cumsum(counts)
    starts = ends - counts
    lo, hi = x0 * height, x1 * height
    values = (np.arange(len(counts)) % 2).astype(np.uint8)
    lengths = np.clip(np.minimum(ends, hi) - np.maximum(starts, lo), 0, None)
    flat = np.repeat(values, lengths)
    return flat.reshape(x1 - x0, height).T


def _runs_to_rle(strip: np.ndarray, x0: int, width: int) -> dict[str, Any]:
    """Compressed RLE of a full ``(H, width)`` frame that is zero outside columns
    ``x0 .. x0 + strip.shape[1]``, where it equals ``strip`` (``(H, cw)`` 0/1 uint8)."""
    h, cw = strip.shape
    v = strip.reshape(-1, order="F")
    edges = np.concatenate(([0], np.flatnonzero(v[1:] != v[:-1]) + 1, [v.size]))
    counts = np.diff(edges).tolist()
    if v[0]:
        counts.insert(0, 0)  # COCO RLE starts with a run of zeros
    counts[0] += x0 * h
    tail = (width - x0 - cw) * h
    if tail:
        if len(counts) % 2:  # ends on a run of zeros
            counts[-1] += tail
        else:
            counts.append(tail)
    rle = _cocomask.frPyObjects({"size": [h, width], "counts": counts}, h, width)
    return {"size": [h, width], "counts": rle["counts"].decode("ascii")}


def boundary_rle(
    rle: dict[str, Any], dilation_ratio: float = DEFAULT_DILATION_RATIO
) -> dict[str, Any]:
    """Boundary region of an RLE mask, as compressed RLE (``str`` counts) of the same frame.

    Equal to ``encode_mask(mask_to_boundary(decode_mask(rle)))`` but decodes and erodes only
    the mask's bounding box (everything outside it is background either way), so it costs
    little on large frames.
    """
    c = cocoapi_rle(rle)
    h, w = (int(v) for v in c["size"])
    x, y, bw, bh = (int(v) for v in _cocomask.toBbox(c))  # whole pixels
    if bw == 0 or bh == 0:
        return compress_rle(c)
    cols = _decode_columns(rle_counts(c), h, x, x + bw)
    crop = np.ascontiguousarray(cols[y : y + bh])
    strip = np.zeros((h, bw), dtype=np.uint8)
    strip[y : y + bh] = crop - _erode_with_zero_border(crop, dilation_pixels(h, w, dilation_ratio))
    return _runs_to_rle(strip, x, w)
