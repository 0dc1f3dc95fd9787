"""Colour appearance descriptors of people: HSV histograms in horizontal stripes.

A person's box is resampled (nearest neighbour) to a fixed ``32 x 64`` patch and cut into
``S`` horizontal stripes (head and shoulders, torso, legs, ...).  Each stripe gets a colour
histogram of ``BINS`` bins: 8 hues x 2 saturations x 2 values for chromatic pixels plus 4 grey
levels for unsaturated or dark pixels.  When the detection has a mask, only pixels inside it
are pooled, and pixels that two masks claim are left out (an occluder's colours must not leak
into the occluded person's descriptor; cf. HVISNet's sampling inside the mask); a box-only
detection pools the central part of its box.

Distance between two descriptors: ``1 - BC`` (Bhattacharyya coefficient ``sum(sqrt(p * q))``)
averaged over the stripes valid in both, in [0, 1]; NaN if they share no valid stripe.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PATCH_W, PATCH_H = 32, 64
_HUE_BINS, _SAT_BINS, _VAL_BINS, _GREY_BINS = 8, 2, 2, 4
BINS = _HUE_BINS * _SAT_BINS * _VAL_BINS + _GREY_BINS
_MIN_SAT, _MIN_VAL = 48, 40  # below: the pixel's hue is meaningless -> grey bins


@dataclass
class Appearance:
    """One person's descriptor.

    Attributes:
        hist: ``(S, BINS)`` float64; each valid stripe sums to 1.
        valid: ``(S,)`` bool; stripes with enough pixels.
    """

    hist: np.ndarray
    valid: np.ndarray

    def blend(self, other: Appearance, ema: float) -> Appearance:
        """EMA update ``ema * self + (1 - ema) * other`` on stripes valid in ``other``."""
        hist = self.hist.copy()
        both = self.valid & other.valid
        only_new = other.valid & ~self.valid
        hist[both] = ema * hist[both] + (1.0 - ema) * other.hist[both]
        hist[only_new] = other.hist[only_new]
        sums = hist.sum(axis=1, keepdims=True)
        hist = np.where(sums > 0, hist / np.maximum(sums, 1e-12), 0.0)
        return Appearance(hist, self.valid | other.valid)


def _quantize(hsv: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 OpenCV HSV (H in [0, 180)) -> ``(...)`` int bin index in [0, BINS)."""
    h = hsv[..., 0].astype(np.int32)
    s = hsv[..., 1].astype(np.int32)
    v = hsv[..., 2].astype(np.int32)
    hb = np.minimum(h * _HUE_BINS // 180, _HUE_BINS - 1)
    sb = np.minimum((s - _MIN_SAT) * _SAT_BINS // (256 - _MIN_SAT), _SAT_BINS - 1)
    vb = np.minimum((v - _MIN_VAL) * _VAL_BINS // (256 - _MIN_VAL), _VAL_BINS - 1)
    chroma = (hb * _SAT_BINS + sb) * _VAL_BINS + vb
    grey = _HUE_BINS * _SAT_BINS * _VAL_BINS + np.minimum(v * _GREY_BINS // 256, _GREY_BINS - 1)
    return np.where((s >= _MIN_SAT) & (v >= _MIN_VAL), chroma, grey)


def _crop_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), width), min(int(np.ceil(y + h)), height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return x0, y0, x1, y1


def compute_descriptors(image: np.ndarray, boxes: np.ndarray,
                        masks: list[np.ndarray | None] | None = None, *, stripes: int = 4,
                        box_shrink: float = 0.15,
                        min_pixels: int = 20) -> list[Appearance | None]:
    """Descriptors of every person in one frame.

    Args:
        image: ``(H, W, 3)`` uint8 RGB frame.
        boxes: ``(N, 4)`` xywh boxes in pixels of ``image``.
        masks: ``N`` entries, each ``None`` or an ``(H, W)`` bool full-frame mask.
        stripes: number of horizontal stripes.
        box_shrink: box-only persons: fraction of the box width dropped on each side.
        min_pixels: stripes with fewer usable pixels (in the ``32 x 64`` patch) are invalid.

    Returns:
        ``N`` descriptors; ``None`` for a person with no usable pixel (outside the frame, ...).
    """
    img_h, img_w = image.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    masks = list(masks) if masks is not None else [None] * len(boxes)
    crops = [_crop_box(b, img_w, img_h) for b in boxes]
    out: list[Appearance | None] = []
    stripe_of_row = np.minimum(np.arange(PATCH_H) * stripes // PATCH_H, stripes - 1)
    for i, crop in enumerate(crops):
        if crop is None:
            out.append(None)
            continue
        x0, y0, x1, y1 = crop
        # Nearest-neighbour resampling of the box to the patch grid (pixel centres).
        rows = y0 + ((np.arange(PATCH_H) + 0.5) * (y1 - y0) / PATCH_H).astype(np.intp)
        if masks[i] is None:
            margin = box_shrink * (x1 - x0)
            cols = x0 + margin + (np.arange(PATCH_W) + 0.5) * (x1 - x0 - 2 * margin) / PATCH_W
            cols = np.clip(cols.astype(np.intp), x0, x1 - 1)
            keep_p = np.ones((PATCH_H, PATCH_W), dtype=bool)
        else:
            cols = x0 + ((np.arange(PATCH_W) + 0.5) * (x1 - x0) / PATCH_W).astype(np.intp)
            keep_p = np.asarray(masks[i], dtype=bool)[np.ix_(rows, cols)]
            for j, other in enumerate(masks):
                oc = crops[j]
                if j == i or other is None or oc is None:
                    continue
                if oc[0] >= x1 or oc[2] <= x0 or oc[1] >= y1 or oc[3] <= y0:
                    continue
                keep_p &= ~np.asarray(other, dtype=bool)[np.ix_(rows, cols)]
        if not keep_p.any():
            out.append(None)
            continue
        patch = np.ascontiguousarray(image[np.ix_(rows, cols)])
        bins = _quantize(cv2.cvtColor(patch, cv2.COLOR_RGB2HSV))
        stripe_idx = np.broadcast_to(stripe_of_row[:, None], bins.shape)
        flat = (stripe_idx * BINS + bins)[keep_p]
        hist = np.bincount(flat, minlength=stripes * BINS).reshape(stripes, BINS).astype(float)
        counts = hist.sum(axis=1)
        valid = counts >= min_pixels
        hist = np.where(valid[:, None], hist / np.maximum(counts[:, None], 1.0), 0.0)
        out.append(Appearance(hist, valid) if valid.any() else None)
    return out


def distance_matrix(a: list[Appearance | None], b: list[Appearance | None]) -> np.ndarray:
    """Appearance distances ``(len(a), len(b))`` float64 in [0, 1]; NaN where undefined."""
    out = np.full((len(a), len(b)), np.nan)
    ia = [i for i, d in enumerate(a) if d is not None]
    ib = [j for j, d in enumerate(b) if d is not None]
    if not ia or not ib:
        return out
    ha = np.sqrt(np.stack([a[i].hist for i in ia]))  # (n, S, B)
    hb = np.sqrt(np.stack([b[j].hist for j in ib]))
    va = np.stack([a[i].valid for i in ia])  # (n, S)
    vb = np.stack([b[j].valid for j in ib])
    bc = np.einsum("nsb,msb->nms", ha, hb)
    both = va[:, None, :] & vb[None, :, :]
    count = both.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(both, 1.0 - np.clip(bc, 0.0, 1.0), 0.0).sum(-1) / count
    d[count == 0] = np.nan
    out[np.ix_(ia, ib)] = d
    return out
