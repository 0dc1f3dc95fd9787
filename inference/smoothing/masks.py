"""Temporal stabilisation of per-person masks: a motion-aligned, truncated signed-distance vote.

Segmenters label the boundary of a person slightly differently on every frame (a pixel in, a
pixel out), which shows as a shimmering edge.  For each frame ``t`` of a track, the masks of
the frames ``t - radius .. t + radius`` (where the track has a mask) are

1. **aligned** to frame ``t`` by the translation of their anchor point (the centroid of the
   mask, sub-pixel, by bilinear warping), so that walking or a panning camera do not smear the
   result;
2. turned into **truncated signed distances** to their boundary (positive inside, clamped to
   ``±band`` pixels), and
3. **averaged** with Gaussian weights in time (``sigma`` frames); the new mask is where the
   average is positive.

Only the position of the boundary is averaged, so random per-frame erosion/dilation cancels
out while the shape is kept.  Because distances are clamped at ``band``, a neighbour that
disagrees by more than ``band`` pixels (a limb that really moved) counts no more than one that
disagrees by ``band``, and the current frame outweighs any single neighbour: moving edges stay
where the frame puts them unless most of the window agrees otherwise.  The result differs from
the frame's own mask only near boundaries (within about ``band`` pixels) and in small parts
that the window as a whole contradicts.

Masks are ``(H, W)`` uint8/bool full-frame arrays; rows/cols are pixel coordinates of the frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from inference.errors import InputError


@dataclass(frozen=True)
class MaskSmoothing:
    """Parameters of the mask stabiliser.

    Attributes:
        radius: frames on each side of the current one that vote (0 turns it off).
        sigma: standard deviation, in frames, of the Gaussian temporal weights.
        band: pixels; signed distances are clamped to ``±band``: how far a boundary may be
            moved, and how much a neighbour's disagreement can weigh.
    """

    radius: int = 2
    sigma: float = 1.0
    band: float = 2.0
    align: str = "centroid"

    @property
    def clamp(self) -> float:
        """Pixels at which signed distances are clamped (``3 * band``)."""
        return 3.0 * self.band

    def __post_init__(self) -> None:
        if isinstance(self.radius, bool) or not isinstance(self.radius, int) \
                or not 0 <= self.radius <= 15:
            raise InputError(f"mask smoothing radius {self.radius!r} must be 0 to 15 frames",
                             hint="e.g. 2")
        for name in ("sigma", "band"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (
                    math.isfinite(v) and 0 < v <= 64):
                raise InputError(f"mask smoothing {name} {v!r} must be a positive number "
                                 "up to 64", hint=f"e.g. {getattr(MaskSmoothing, name)}")
            object.__setattr__(self, name, float(v))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def weights(self) -> np.ndarray:
        """``(2 * radius + 1,)`` float64 temporal weights for offsets ``-radius .. radius``."""
        k = np.arange(-self.radius, self.radius + 1, dtype=np.float64)
        return np.exp(-0.5 * (k / self.sigma) ** 2)


@dataclass
class _Field:
    """Truncated signed distance of one mask over a crop, and the mask's anchor point."""

    x0: int
    y0: int
    sdf: np.ndarray  # (h, w) float32, positive inside, in [-band, band]
    anchor: tuple[float, float]  # (x, y) pixel coordinates of the frame


def _field(mask: np.ndarray, band: float) -> _Field | None:
    """The truncated signed distance of ``mask`` around its box, or None when it is empty."""
    m = np.asarray(mask) != 0
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return None
    H, W = m.shape
    pad = int(math.ceil(band)) + 1
    x0, y0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    x1, y1 = min(W, int(xs.max()) + pad + 1), min(H, int(ys.max()) + pad + 1)
    crop = m[y0:y1, x0:x1].astype(np.uint8)
    inside = cv2.distanceTransform(crop, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - crop, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # Boundary half way between an inside and an outside pixel centre.
    sdf = np.where(crop != 0, inside - 0.5, 0.5 - outside).astype(np.float32)
    np.clip(sdf, -band, band, out=sdf)
    anchor = (float(xs.mean()) + 0.5, float(ys.mean()) + 0.5)
    return _Field(x0, y0, sdf, anchor)


def smooth_track_masks(frames: np.ndarray, masks: Sequence[np.ndarray | None],
                       params: MaskSmoothing) -> list[np.ndarray | None]:
    """Stabilise one track's masks; the list form of :func:`iter_smooth_track_masks`."""
    return list(iter_smooth_track_masks(frames, masks, params))


def iter_smooth_track_masks(frames: np.ndarray, masks: Sequence[np.ndarray | None],
                            params: MaskSmoothing) -> Iterator[np.ndarray | None]:
    """Stabilise one track's masks, yielding one result per record, in order.

    Args:
        frames: ``(N,)`` int, strictly increasing frame indices of the track's records.
        masks: ``N`` full-frame ``(H, W)`` masks (uint8/bool, non-zero = person), or ``None``
            where the record has no mask.  Indexed lazily (each item about twice, within a
            sliding window), so it may decode on demand.
        params: the stabiliser's settings.

    Yields:
        ``N`` ``(H, W)`` uint8 0/1 masks (``None`` where the input was ``None``).  Empty input
        masks, and results that would be empty, are returned as given.
    """
    frames = np.asarray(frames, dtype=np.int64)
    if np.any(np.diff(frames) <= 0):
        raise ValueError("frames must be strictly increasing")
    if len(frames) != len(masks):
        raise ValueError("frames and masks differ in length")
    clamp = params.clamp
    weights = params.weights()
    fields: dict[int, _Field | None] = {}

    def field(i: int) -> _Field | None:
        if i not in fields:
            m = masks[i]
            fields[i] = None if m is None else _field(m, clamp)
        return fields[i]

    for i in range(len(frames)):
        m = masks[i]
        if m is None:
            yield None
            continue
        m8 = (np.asarray(m) != 0).astype(np.uint8)
        me = field(i)
        lo = int(np.searchsorted(frames, frames[i] - params.radius))
        hi = int(np.searchsorted(frames, frames[i] + params.radius, side="right"))
        for j in [j for j in fields if j < lo]:
            del fields[j]
        if me is None or hi - lo < 2:
            yield m8
            continue
        votes: list[tuple[float, _Field, float, float]] = []
        for j in range(lo, hi):
            f = field(j)
            if f is None:
                continue
            dx, dy = (me.anchor[0] - f.anchor[0], me.anchor[1] - f.anchor[1]) \
                if params.align == "centroid" else (0.0, 0.0)
            votes.append((float(weights[frames[j] - frames[i] + params.radius]), f, dx, dy))
        res = _vote(votes, me, m8.shape, params)
        yield res if res.any() else m8


def _vote(votes: list[tuple[float, _Field, float, float]], me: _Field, shape: tuple[int, int],
          params: MaskSmoothing) -> np.ndarray:
    """The ``(H, W)`` uint8 mask where the bilateral average of the aligned fields is > 0."""
    H, W = shape
    clamp = params.clamp
    # The region any aligned field reaches (everything outside it is "outside" for all).
    rx0, ry0, rx1, ry1 = W, H, 0, 0
    for _, f, dx, dy in votes:
        h, w = f.sdf.shape
        rx0 = min(rx0, math.floor(f.x0 + dx) - 1)
        ry0 = min(ry0, math.floor(f.y0 + dy) - 1)
        rx1 = max(rx1, math.ceil(f.x0 + dx + w) + 1)
        ry1 = max(ry1, math.ceil(f.y0 + dy + h) + 1)
    rx0, ry0, rx1, ry1 = max(0, rx0), max(0, ry0), min(W, rx1), min(H, ry1)
    size = (rx1 - rx0, ry1 - ry0)

    def warp(f: _Field, dx: float, dy: float) -> np.ndarray:
        shift = np.float32([[1, 0, f.x0 + dx - rx0], [0, 1, f.y0 + dy - ry0]])
        return cv2.warpAffine(f.sdf, shift, size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=-clamp)

    own = warp(me, 0.0, 0.0)
    num = np.zeros_like(own)
    den = np.zeros_like(own)
    inv = np.float32(-0.5 / params.band ** 2)
    for wgt, f, dx, dy in votes:
        d = warp(f, dx, dy)
        w = np.float32(wgt) * np.exp(inv * (d - own) ** 2)
        num += w * d
        den += w
    res = np.zeros((H, W), np.uint8)
    res[ry0:ry1, rx0:rx1] = num > 0
    return res
