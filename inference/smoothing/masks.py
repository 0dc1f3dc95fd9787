"""Temporal stabilisation of per-person masks: a motion-aligned, edge-preserving vote of signed
distances.

Segmenters put the boundary of a person slightly differently on every frame (a pixel in, a
pixel out), which shows as a shimmering edge.  For each frame ``t`` of a track, the masks of
the frames ``t - radius .. t + radius`` where the track has one are

1. **aligned** to frame ``t``: with ``align="pose"`` (the default) by the motion of the
   track's joints — each pixel moves like the joints near it (Gaussian-weighted, reach
   ``pose_reach`` × the skeleton's size), so a swinging arm is followed; with
   ``align="centroid"`` (and wherever fewer than 3 joints are labelled on both frames) by the
   translation of the mask's centroid; sub-pixel, by bilinear resampling;
2. turned into **signed distances** to their boundary (pixels, positive inside, clamped to
   ``±3·band``);
3. **averaged** per pixel with weights ``g(Δt) · exp(−(d_s − d_t)² / (2·band²))``: Gaussian in
   time (``sigma`` frames) and *bilateral* in distance — a neighbour whose boundary is within
   about ``band`` pixels of the current one votes fully, one that disagrees by much more (an
   edge that really moved, an occlusion, a limb the alignment missed) hardly counts.  The new
   mask is where the average is positive.

So per-frame erosion/dilation and boundary wobble average out, while edges that move keep
following the frame: the result differs from the frame's own mask only within a couple of
``band`` of its boundary.  The current frame always votes with weight 1.

Masks are ``(H, W)`` uint8/bool full-frame arrays; rows/cols are pixel coordinates of the frame;
keypoints ``(x, y, v)`` in pixels of the same frame (see :mod:`inference.tracks.model`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from inference.errors import InputError

ALIGN_MODES = ("pose", "centroid", "none")


@dataclass(frozen=True)
class MaskSmoothing:
    """Parameters of the mask stabiliser.

    Attributes:
        radius: frames on each side of the current one that vote (0 turns it off).
        sigma: standard deviation, in frames, of the Gaussian temporal weights.
        band: pixels; the boundary disagreement that still counts as noise (bilateral scale).
            Corrections stay within a few ``band`` of the frame's own boundary.
        align: ``"pose"`` (per pixel, from the joints; falls back to ``"centroid"``),
            ``"centroid"`` (translation of the mask's centroid) or ``"none"``.
        pose_reach: for ``"pose"``: how far a joint's motion reaches, as a fraction of the
            skeleton's extent (its larger side in pixels).
    """

    radius: int = 2
    sigma: float = 1.0
    band: float = 2.0
    align: str = "pose"
    pose_reach: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.radius, bool) or not isinstance(self.radius, int) \
                or not 0 <= self.radius <= 15:
            raise InputError(f"mask smoothing radius {self.radius!r} must be 0 to 15 frames",
                             hint="e.g. 2")
        for name, top in (("sigma", 64.0), ("band", 64.0), ("pose_reach", 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (
                    math.isfinite(v) and 0 < v <= top):
                raise InputError(f"mask smoothing {name} {v!r} must be a positive number "
                                 f"up to {top:g}", hint=f"e.g. {getattr(MaskSmoothing, name)}")
            object.__setattr__(self, name, float(v))
        if self.align not in ALIGN_MODES:
            raise InputError(f"mask alignment {self.align!r} is not one of "
                             f"{', '.join(ALIGN_MODES)}", hint="e.g. pose")

    @property
    def clamp(self) -> float:
        """Pixels at which signed distances are clamped (``3 * band``)."""
        return 3.0 * self.band

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
    sdf: np.ndarray  # (h, w) float32, positive inside, in [-clamp, clamp]
    anchor: tuple[float, float]  # (x, y) pixel coordinates of the frame


def _field(mask: np.ndarray, clamp: float) -> _Field | None:
    """The clamped signed distance of ``mask`` around its box, or None when it is empty."""
    m = np.asarray(mask) != 0
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return None
    H, W = m.shape
    pad = math.ceil(clamp) + 1
    x0, y0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    x1, y1 = min(W, int(xs.max()) + pad + 1), min(H, int(ys.max()) + pad + 1)
    crop = m[y0:y1, x0:x1].astype(np.uint8)
    inside = cv2.distanceTransform(crop, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - crop, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # Boundary half way between an inside and an outside pixel centre.
    sdf = np.where(crop != 0, inside - 0.5, 0.5 - outside).astype(np.float32)
    np.clip(sdf, -clamp, clamp, out=sdf)
    anchor = (float(xs.mean()) + 0.5, float(ys.mean()) + 0.5)
    return _Field(x0, y0, sdf, anchor)


def smooth_track_masks(frames: np.ndarray, masks: Sequence[np.ndarray | None],
                       params: MaskSmoothing, keypoints: np.ndarray | None = None
                       ) -> list[np.ndarray | None]:
    """Stabilise one track's masks; the list form of :func:`iter_smooth_track_masks`."""
    return list(iter_smooth_track_masks(frames, masks, params, keypoints))


def iter_smooth_track_masks(frames: np.ndarray, masks: Sequence[np.ndarray | None],
                            params: MaskSmoothing, keypoints: np.ndarray | None = None
                            ) -> Iterator[np.ndarray | None]:
    """Stabilise one track's masks, yielding one result per record, in order.

    Args:
        frames: ``(N,)`` int, strictly increasing frame indices of the track's records.
        masks: ``N`` full-frame ``(H, W)`` masks (uint8/bool, non-zero = person), or ``None``
            where the record has no mask.  Indexed lazily (each item about twice, within a
            sliding window), so it may decode on demand.
        params: the stabiliser's settings.
        keypoints: optional ``(N, 17, 3)`` ``(x, y, v)`` of the same records (best smoothed
            first); with ``params.align == "pose"`` they drive a per-pixel alignment.

    Yields:
        ``N`` ``(H, W)`` uint8 0/1 masks (``None`` where the input was ``None``).  Empty input
        masks, and results that would be empty, are returned as given.
    """
    frames = np.asarray(frames, dtype=np.int64)
    if np.any(np.diff(frames) <= 0):
        raise ValueError("frames must be strictly increasing")
    if len(frames) != len(masks):
        raise ValueError("frames and masks differ in length")
    if keypoints is not None:
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(len(frames), -1, 3)
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
        votes: list[_Vote] = []
        for j in range(lo, hi):
            f = field(j)
            if f is None:
                continue
            wgt = float(weights[frames[j] - frames[i] + params.radius])
            votes.append(_Vote(wgt, f, *_motion(me, f, i, j, keypoints, params)))
        res = _vote(votes, me, m8.shape, params)
        yield res if res.any() else m8


@dataclass
class _Vote:
    """One neighbour's field and temporal weight, and where each target pixel ``p`` is found in
    it: ``p + (dx, dy) + flow(p)``, where ``flow`` blends the ``moves`` of the target frame's
    ``joints`` (their displacement into the neighbour beyond the common ``(dx, dy)``)."""

    weight: float
    field: _Field
    dx: float  # neighbour position minus target position
    dy: float
    joints: np.ndarray | None = None  # (K, 2) target-frame joint positions
    moves: np.ndarray | None = None  # (K, 2) their extra displacement into the neighbour
    scale: float = 1.0  # pixels, reach of a joint's motion


def _motion(me: _Field, f: _Field, i: int, j: int, keypoints: np.ndarray | None,
            params: MaskSmoothing) -> tuple:
    """``(dx, dy[, joints, moves, scale])`` mapping target frame ``i`` into neighbour ``j``."""
    if params.align == "none" or i == j:
        return 0.0, 0.0
    dx, dy = f.anchor[0] - me.anchor[0], f.anchor[1] - me.anchor[1]
    if params.align == "pose" and keypoints is not None:
        both = (keypoints[i, :, 2] > 0) & (keypoints[j, :, 2] > 0)
        if both.sum() >= 3:
            pi, pj = keypoints[i, both, :2], keypoints[j, both, :2]
            d = pj - pi
            mean = d.mean(axis=0)
            span = np.ptp(pi, axis=0).max()
            return (float(mean[0]), float(mean[1]), pi, d - mean,
                    max(2.0, params.pose_reach * float(span)))
    return dx, dy


def _vote(votes: list[_Vote], me: _Field, shape: tuple[int, int], params: MaskSmoothing
          ) -> np.ndarray:
    """The ``(H, W)`` uint8 mask where the bilateral average of the aligned fields is > 0."""
    H, W = shape
    clamp = params.clamp
    # The region any aligned field reaches (everything outside it is "outside" for all).
    rx0, ry0, rx1, ry1 = W, H, 0, 0
    for v in votes:
        h, w = v.field.sdf.shape
        extra = 1 + (0 if v.moves is None else math.ceil(float(np.abs(v.moves).max())))
        rx0 = min(rx0, math.floor(v.field.x0 - v.dx) - extra)
        ry0 = min(ry0, math.floor(v.field.y0 - v.dy) - extra)
        rx1 = max(rx1, math.ceil(v.field.x0 - v.dx + w) + extra)
        ry1 = max(ry1, math.ceil(v.field.y0 - v.dy + h) + extra)
    rx0, ry0, rx1, ry1 = max(0, rx0), max(0, ry0), min(W, rx1), min(H, ry1)
    size = (rx1 - rx0, ry1 - ry0)
    cache: list[tuple[np.ndarray, np.ndarray]] = []

    def grid() -> tuple[np.ndarray, np.ndarray]:
        if not cache:
            gy, gx = np.mgrid[ry0:ry1, rx0:rx1].astype(np.float32) + np.float32(0.5)
            cache.append((gx, gy))
        return cache[0]

    def sample(v: _Vote) -> np.ndarray:
        f = v.field
        if v.moves is None:
            shift = np.float32([[1, 0, f.x0 - v.dx - rx0], [0, 1, f.y0 - v.dy - ry0]])
            return cv2.warpAffine(f.sdf, shift, size, flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=-clamp)
        assert v.joints is not None and v.moves is not None
        fx, fy = _joint_flow(v.joints, v.moves, v.scale, rx0, ry0, size)
        gx, gy = grid()
        mapx = gx + np.float32(v.dx - f.x0 - 0.5) + fx
        mapy = gy + np.float32(v.dy - f.y0 - 0.5) + fy
        return cv2.remap(f.sdf, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=-clamp)

    own = sample(_Vote(1.0, me, 0.0, 0.0))
    num = np.zeros_like(own)  # the weights' sum is > 0, so only the sign of num matters
    inv = np.float32(-0.5 / params.band ** 2)
    for v in votes:
        d = sample(v)
        w = np.float32(v.weight) * np.exp(inv * (d - own) ** 2)
        num += w * d
    res = np.zeros((H, W), np.uint8)
    res[ry0:ry1, rx0:rx1] = num > 0
    return res


def _joint_flow(joints: np.ndarray, moves: np.ndarray, scale: float, x0: int, y0: int,
                size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ``(fx, fy)`` ``(h, w)`` float32 over the region at ``(x0, y0)`` of ``size``
    ``(w, h)``: the Gaussian-weighted (std ``scale`` px) mean of the joints' ``moves``, fading
    to 0 far from every joint.  Computed on a grid of about ``scale / 4`` px and interpolated
    (the field is smooth at that scale)."""
    w, h = size
    step = max(1, int(scale / 4))
    cw, ch = -(-w // step), -(-h // step)
    # Centres of the coarse cells, in frame coordinates (cv2.resize's pixel-centre convention).
    cx = x0 + (np.arange(cw, dtype=np.float32) + 0.5) * step
    cy = y0 + (np.arange(ch, dtype=np.float32) + 0.5) * step
    d2 = ((cx[None, None, :] - joints[:, 0, None, None].astype(np.float32)) ** 2
          + (cy[None, :, None] - joints[:, 1, None, None].astype(np.float32)) ** 2)
    wk = np.exp(np.float32(-0.5 / scale ** 2) * d2)  # (K, ch, cw)
    den = wk.sum(axis=0) + np.float32(1e-3)
    fx = np.tensordot(moves[:, 0].astype(np.float32), wk, axes=1) / den
    fy = np.tensordot(moves[:, 1].astype(np.float32), wk, axes=1) / den
    if step > 1:
        fx = cv2.resize(fx, (cw * step, ch * step), interpolation=cv2.INTER_LINEAR)[:h, :w]
        fy = cv2.resize(fy, (cw * step, ch * step), interpolation=cv2.INTER_LINEAR)[:h, :w]
    return np.ascontiguousarray(fx, np.float32), np.ascontiguousarray(fy, np.float32)
