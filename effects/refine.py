"""Matte controls: guided-filter refinement, expand/choke, feather and temporal stabilisation.

All functions take and return (H, W) alpha mattes in image space (row 0 = top); uint8 mattes
use 255 = person, float32 mattes 1.0 = person.  The order :class:`MatteRefiner` applies them in
is expand/choke -> feather -> guided filter -> temporal stabilisation.

* :func:`guided_filter` -- He, Sun & Tang, "Guided Image Filtering" (ECCV 2010 / TPAMI 2013),
  the grey-guide box-filter formulation (their Algorithm 1) in float32 with ``cv2.boxFilter``
  (``cv2.ximgproc`` is not in opencv-python-headless).  With the frame's luma as the guide, a
  hard or feathered matte follows the picture's edges: soft, hair-level transitions where the
  frame has them.  ``radius`` (box half-width, px) and ``eps`` (regularisation, in guide units
  squared, guide in 0..1) are the paper's r and epsilon.
* :func:`expand_matte` -- grow (``px > 0``) or choke (``px < 0``) the matte by a distance in
  pixels: the matte is thresholded at half and every pixel within ``px`` (Euclidean distance,
  ``cv2.distanceTransform`` with the precise mask, so fractional amounts work) of it is added
  (or removed); the result is a hard matte.
* :func:`feather_matte` -- a Gaussian of sigma ``px`` (as ``effects.matte.build_alpha``'s
  ``feather`` mode).
* :class:`TemporalStabilizer` -- stateful, for streaming: ``'ema'`` blends each new matte with
  the previous output, ``out = w * new + (1 - w) * previous`` (``weight`` w in (0, 1]; 1 = off);
  ``'median3'`` is the per-pixel median of the current and the two previous input mattes (causal:
  no added latency; a one-frame flicker is removed entirely, a real edge move shows up one frame
  late).  Call :meth:`TemporalStabilizer.reset` on a cut or a seek.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from inference.errors import InputError

#: Refinement modes of :class:`MatteRefiner`.
REFINE_MODES = ("none", "feather", "guided")
#: Temporal stabilisation modes of :class:`TemporalStabilizer`.
TEMPORAL_MODES = ("off", "ema", "median3")

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def _to_float(alpha: np.ndarray) -> np.ndarray:
    if alpha.dtype == np.uint8:
        return alpha.astype(np.float32) * np.float32(1.0 / 255.0)
    if alpha.dtype == np.bool_:
        return alpha.astype(np.float32)
    return alpha.astype(np.float32, copy=False)


def _like(result: np.ndarray, template: np.ndarray) -> np.ndarray:
    """float32 0..1 ``result`` in the dtype of ``template`` (uint8 rounded, bool -> uint8)."""
    if template.dtype in (np.uint8, np.bool_):
        return np.floor(np.clip(result, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.clip(result, 0.0, 1.0).astype(np.float32)


def guide_luma(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 Rec. 709 luma in 0..1 (the guided filter's guide)."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"guide frame must be (H, W, 3) RGB, got {frame.shape}")
    return (frame.astype(np.float32) @ _LUMA) * np.float32(1.0 / 255.0)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey guide: (H, W) float32.

    ``guide``, ``src``: (H, W) float32 (any other dtype is converted; uint8 is NOT rescaled
    here, see :func:`refine_guided`).  ``radius``: box half-width r >= 1 (window 2r+1).
    ``eps`` > 0.  Box means use ``cv2.boxFilter`` (normalised, ``BORDER_REFLECT``)::

        mean_I = f(I); mean_p = f(p); cov_Ip = f(I p) - mean_I mean_p; var_I = f(I I) - mean_I^2
        a = cov_Ip / (var_I + eps); b = mean_p - a mean_I
        q = f(a) I + f(b)
    """
    if radius < 1 or eps <= 0:
        raise ValueError(f"guided filter needs radius >= 1 and eps > 0, got {radius}, {eps}")
    i = np.asarray(guide, np.float32)
    p = np.asarray(src, np.float32)
    if i.shape != p.shape or i.ndim != 2:
        raise ValueError(f"guide {i.shape} and source {p.shape} must be the same (H, W)")
    k = (2 * int(radius) + 1,) * 2

    def f(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, k, normalize=True, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = f(i), f(p)
    cov_ip = f(i * p) - mean_i * mean_p
    var_i = f(i * i) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return f(a) * i + f(b)


def refine_guided(alpha: np.ndarray, frame: np.ndarray, radius: int = 8,
                  eps: float = 1e-3) -> np.ndarray:
    """``alpha`` (uint8/float/bool (H, W)) refined by :func:`guided_filter` with ``frame``'s
    luma as the guide; clipped to 0..1 and returned in ``alpha``'s dtype (bool -> uint8)."""
    if frame.shape[:2] != alpha.shape:
        raise ValueError(f"frame {frame.shape[:2]} and matte {alpha.shape} differ in size")
    q = guided_filter(guide_luma(frame), _to_float(alpha), radius, eps)
    return _like(q, alpha)


def expand_matte(alpha: np.ndarray, px: float) -> np.ndarray:
    """Grow (``px > 0``) or choke (``px < 0``) the matte by ``|px|`` pixels (see the module
    docstring); a hard matte in ``alpha``'s dtype (bool -> uint8 0/255).  ``px == 0``: as is."""
    if not math.isfinite(px):
        raise ValueError(f"expand amount must be finite, got {px}")
    if px == 0:
        return alpha
    inside = (_to_float(alpha) >= 0.5).astype(np.uint8)
    if px > 0:
        # Distance of each pixel to the nearest matte pixel (0 inside).
        d = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        hard = d <= px
    else:
        d = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        hard = d > -px
    return _like(hard.astype(np.float32), alpha)


def feather_matte(alpha: np.ndarray, px: float) -> np.ndarray:
    """Gaussian feather of sigma ``px`` (edges replicated); ``px <= 0``: unchanged."""
    if px <= 0:
        return alpha
    src = alpha.view(np.uint8) * np.uint8(255) if alpha.dtype == np.bool_ else alpha
    return cv2.GaussianBlur(src, (0, 0), sigmaX=float(px), borderType=cv2.BORDER_REPLICATE)


@dataclass
class TemporalStabilizer:
    """Reduces frame-to-frame matte flicker in a stream (see the module docstring).

    ``mode``: ``'off'``, ``'ema'`` or ``'median3'``; ``weight``: the EMA's weight of the new
    matte.  :meth:`__call__` takes each frame's (H, W) matte in order and returns the
    stabilised one in the same dtype.  A size change restarts it.
    """

    mode: str = "ema"
    weight: float = 0.5
    _prev: np.ndarray | None = field(default=None, init=False, repr=False)
    _window: deque = field(default_factory=lambda: deque(maxlen=3), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in TEMPORAL_MODES:
            raise InputError(f"temporal mode {self.mode!r}: use one of {', '.join(TEMPORAL_MODES)}")
        if not (0.0 < self.weight <= 1.0):
            raise InputError(f"temporal EMA weight must be in (0, 1], got {self.weight!r}")

    def reset(self) -> None:
        """Forget the past frames (after a cut or a seek)."""
        self._prev = None
        self._window.clear()

    def __call__(self, alpha: np.ndarray) -> np.ndarray:
        if self.mode == "off":
            return alpha
        a = _to_float(alpha)
        if self._prev is not None and self._prev.shape != a.shape:
            self.reset()
        if self.mode == "ema":
            out = a if self._prev is None else self.weight * a + (1.0 - self.weight) * self._prev
            self._prev = out
        else:
            self._window.append(a)
            out = np.median(np.stack(self._window), axis=0) if len(self._window) == 3 else a
            self._prev = a
        return _like(out, alpha)


@dataclass
class MatteRefiner:
    """All matte controls for one stream of mattes, applied as the module docstring says.

    ``refine``: ``'none'``, ``'feather'`` (Gaussian of ``feather_px``) or ``'guided'`` (a
    feather of ``feather_px`` if > 0, then the guided filter with ``radius``/``eps``).
    ``expand_px``: grow (> 0) or choke (< 0), pixels.  ``temporal``: see
    :class:`TemporalStabilizer` (stateful: use one refiner per stream, in frame order).
    """

    refine: str = "none"
    feather_px: float = 0.0
    expand_px: float = 0.0
    radius: int = 8
    eps: float = 1e-3
    temporal: str = "off"
    ema_weight: float = 0.5
    _stab: TemporalStabilizer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.refine not in REFINE_MODES:
            raise InputError(f"matte refine {self.refine!r}: use one of {', '.join(REFINE_MODES)}")
        for name, lo, hi in (("feather_px", 0.0, 100.0), ("expand_px", -100.0, 100.0),
                             ("eps", 1e-8, 1.0)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
                raise InputError(f"matte {name} {v!r}: use {lo:g}..{hi:g}")
        if not (isinstance(self.radius, int) and 1 <= self.radius <= 200):
            raise InputError(f"guided filter radius {self.radius!r}: use an integer 1..200")
        self._stab = TemporalStabilizer(self.temporal, self.ema_weight)

    def reset(self) -> None:
        """Restart temporal stabilisation (after a cut or a seek)."""
        self._stab.reset()

    def __call__(self, alpha: np.ndarray, frame: np.ndarray | None = None) -> np.ndarray:
        """Refine one frame's (H, W) matte; ``frame`` (H, W, 3) uint8 RGB is the guide
        (required for ``'guided'``).  Returns the matte in ``alpha``'s dtype (bool -> uint8)."""
        out = alpha.view(np.uint8) * np.uint8(255) if alpha.dtype == np.bool_ else alpha
        out = expand_matte(out, self.expand_px)
        if self.refine in ("feather", "guided"):
            out = feather_matte(out, self.feather_px)
        if self.refine == "guided":
            if frame is None:
                raise ValueError("guided matte refinement needs the frame as a guide")
            out = refine_guided(out, frame, self.radius, self.eps)
        return self._stab(out)
