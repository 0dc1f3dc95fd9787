"""Person crops for the Local Segmenter: box expansion, crop, joint heatmap and paste-back.

Coordinate frames (as in :mod:`inference.tracks.model`):

* **frame coordinates**: continuous pixels of the full-resolution frame, origin at the top-left
  corner of the top-left pixel, x right, y down; pixel ``(row, col)`` has its centre at
  ``(col + 0.5, row + 0.5)``.  Boxes are ``(x, y, w, h)`` and keypoints ``(x, y, v)`` in this frame.
* **crop coordinates**: the same convention on the ``S x S`` network input.

A :class:`CropWindow` is the axis-aligned affine map between the two,
``u = (x - x0) * sx``, ``v = (y - y0) * sy``.

Design choices (the seed says only "expand the box 1.5x and resize the crop to 512x512"):

* **Square window, aspect kept** (default, ``square=True``): the window side is
  ``expand * max(w, h)`` about the box centre, so the resize is isotropic (``sx == sy``).  A
  person is not squashed differently depending on whether they stand, lie or stretch their arms,
  the Gaussian joint heatmap is round in the frame too, and the long side of the box is sampled
  exactly as densely as in a stretched crop.  The price is more background beside a standing
  person; that context is cheap and the heatmap says which person is meant.  ``square=False``
  gives the stretched ``expand*w x expand*h`` window for comparison.
* **Zero padding** outside the frame: replicating the border would smear a limb that touches the
  frame edge into stripes that look like foreground; black is an unambiguous "no image here"
  signal and is identical in training and inference (the same function makes both crops).
* **Anti-aliasing**: when a window is shrunk (a big person in a 4K frame), the frame region is
  blurred with ``sigma = (1/scale - 1) / 2`` before bilinear resampling; the same is done for the
  probability map when it is pasted back into a smaller frame region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Default growth of the person box before cropping (seed section 3.2).
BOX_EXPAND = 1.5


@dataclass(frozen=True)
class CropWindow:
    """An axis-aligned window of the frame resampled to ``size x size`` crop pixels.

    Attributes:
        x0, y0: top-left corner of the window, frame coordinates (may lie outside the frame).
        sx, sy: crop pixels per frame pixel along x and y (equal for square windows).
        size: side ``S`` of the crop in pixels.
    """

    x0: float
    y0: float
    sx: float
    sy: float
    size: int

    @property
    def width(self) -> float:
        """Window width in frame pixels."""
        return self.size / self.sx

    @property
    def height(self) -> float:
        """Window height in frame pixels."""
        return self.size / self.sy

    def frame_to_crop(self, xy: np.ndarray) -> np.ndarray:
        """``(..., 2)`` frame coordinates -> ``(..., 2)`` float64 crop coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack([(xy[..., 0] - self.x0) * self.sx, (xy[..., 1] - self.y0) * self.sy], -1)

    def crop_to_frame(self, uv: np.ndarray) -> np.ndarray:
        """``(..., 2)`` crop coordinates -> ``(..., 2)`` float64 frame coordinates."""
        uv = np.asarray(uv, dtype=np.float64)
        return np.stack([uv[..., 0] / self.sx + self.x0, uv[..., 1] / self.sy + self.y0], -1)

    def index_matrix(self, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
        """``(2, 3)`` float64 affine map from frame pixel *indices* to crop pixel *indices*.

        OpenCV puts pixel centres at integer positions; with ``offset = (ox, oy)`` the source
        indices are those of ``frame[oy:, ox:]``.  ``ui = sx * (xi + ox + 0.5 - x0) - 0.5``.
        """
        ox, oy = offset
        return np.array(
            [[self.sx, 0.0, self.sx * (ox + 0.5 - self.x0) - 0.5],
             [0.0, self.sy, self.sy * (oy + 0.5 - self.y0) - 0.5]], dtype=np.float64)

    def frame_bounds(self, frame_hw: tuple[int, int], margin: int = 0) -> tuple[int, int, int, int]:
        """Integer ``(xa, ya, xb, yb)`` of the frame pixels the window touches, grown by
        ``margin`` and clipped to the frame (``xa >= xb`` or ``ya >= yb`` when disjoint)."""
        h, w = frame_hw
        xa = max(0, math.floor(self.x0) - margin)
        ya = max(0, math.floor(self.y0) - margin)
        xb = min(w, math.ceil(self.x0 + self.width) + margin)
        yb = min(h, math.ceil(self.y0 + self.height) + margin)
        return xa, ya, xb, yb


def expand_box(bbox: tuple[float, float, float, float], factor: float = BOX_EXPAND, *,
               square: bool = True) -> tuple[float, float, float, float]:
    """Grow an ``(x, y, w, h)`` box by ``factor`` about its centre (frame coordinates).

    With ``square=True`` both sides become ``factor * max(w, h)``.
    """
    x, y, w, h = (float(v) for v in bbox)
    cx, cy = x + w / 2.0, y + h / 2.0
    if square:
        w = h = max(w, h)
    w, h = w * factor, h * factor
    return cx - w / 2.0, cy - h / 2.0, w, h


def crop_window(bbox: tuple[float, float, float, float], size: int, *,
                expand: float = BOX_EXPAND, square: bool = True) -> CropWindow:
    """The :class:`CropWindow` of a person box: expanded by ``expand``, resampled to ``size``.

    Raises ``ValueError`` for a box with a non-positive or non-finite side (callers skip
    such persons before getting here).
    """
    x, y, w, h = expand_box(bbox, expand, square=square)
    if not (math.isfinite(w) and math.isfinite(h) and math.isfinite(x) and math.isfinite(y)) \
            or w <= 0 or h <= 0:
        raise ValueError(f"degenerate person box {tuple(bbox)}")
    return CropWindow(x0=x, y0=y, sx=size / w, sy=size / h, size=int(size))


def _antialias_sigma(scale: float) -> float:
    """Gaussian sigma (source pixels) that removes what a ``scale < 1`` resample would alias."""
    return 0.5 * (1.0 / scale - 1.0) if scale < 1.0 else 0.0


def _blur(image: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    if sigma_x <= 0.0 and sigma_y <= 0.0:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigmaX=max(sigma_x, 1e-3), sigmaY=max(sigma_y, 1e-3))


def crop_image(image: np.ndarray, window: CropWindow, *, antialias: bool = True) -> np.ndarray:
    """Resample the window of a frame to ``(S, S[, C])``, zeros where it leaves the frame.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` frame, uint8 or float32 (e.g. RGB or a mask).
        window: the crop window.
        antialias: blur before shrinking (see module docstring).

    Returns:
        Array of the same dtype and channel count, ``(S, S)`` or ``(S, S, C)``, bilinear.
    """
    h, w = image.shape[:2]
    sig_x = _antialias_sigma(window.sx) if antialias else 0.0
    sig_y = _antialias_sigma(window.sy) if antialias else 0.0
    margin = math.ceil(3.0 * max(sig_x, sig_y)) + 2
    xa, ya, xb, yb = window.frame_bounds((h, w), margin)
    shape = (window.size, window.size) + tuple(image.shape[2:])
    if xa >= xb or ya >= yb:
        return np.zeros(shape, dtype=image.dtype)
    region = np.ascontiguousarray(image[ya:yb, xa:xb])
    region = _blur(region, sig_x, sig_y)
    out = cv2.warpAffine(region, window.index_matrix((xa, ya)), (window.size, window.size),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(shape)


def joint_heatmap(keypoints: np.ndarray | None, window: CropWindow, sigma: float) -> np.ndarray:
    """One joint-agnostic heatmap: the max over labelled joints of a unit-peak 2D Gaussian.

    Args:
        keypoints: ``(K, 3)`` frame coordinates ``(x, y, v)``; joints with ``v > 0`` (visible or
            occluded but labelled) and finite coordinates count.  ``None`` or none labelled ->
            all zeros.
        window: the crop window.
        sigma: Gaussian standard deviation in crop pixels.

    Returns:
        ``(S, S)`` float32 in ``[0, 1]``; ``1`` at a joint that sits on a pixel centre.
    """
    size = window.size
    heat = np.zeros((size, size), dtype=np.float32)
    if keypoints is None:
        return heat
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    ok = (kp[:, 2] > 0) & np.isfinite(kp[:, 0]) & np.isfinite(kp[:, 1])
    if not np.any(ok):
        return heat
    uv = window.frame_to_crop(kp[ok, :2])
    reach = 4.0 * sigma
    near = ((uv[:, 0] > -reach) & (uv[:, 0] < size + reach)
            & (uv[:, 1] > -reach) & (uv[:, 1] < size + reach))
    centres = np.arange(size, dtype=np.float64) + 0.5
    inv = 1.0 / (2.0 * sigma * sigma)
    for u, v in uv[near]:
        gx = np.exp(-((centres - u) ** 2) * inv).astype(np.float32)
        gy = np.exp(-((centres - v) ** 2) * inv).astype(np.float32)
        np.maximum(heat, gy[:, None] * gx[None, :], out=heat)
    return heat


def paste_back(prob: np.ndarray, window: CropWindow, frame_hw: tuple[int, int], *,
               antialias: bool = True) -> np.ndarray:
    """Map a crop-space probability map back onto the full frame.

    Args:
        prob: ``(S, S)`` float32 probabilities in ``[0, 1]`` (crop coordinates).
        window: the window the crop was taken with.
        frame_hw: ``(H, W)`` of the full frame.

    Returns:
        ``(H, W)`` float32 alpha in ``[0, 1]``; zero outside the window.
    """
    h, w = frame_hw
    alpha = np.zeros((h, w), dtype=np.float32)
    xa, ya, xb, yb = window.frame_bounds((h, w))
    if xa >= xb or ya >= yb:
        return alpha
    src = np.ascontiguousarray(prob, dtype=np.float32)
    # Going crop -> frame shrinks by 1/sx: blur the crop first when the frame region is smaller.
    if antialias:
        src = _blur(src, _antialias_sigma(1.0 / window.sx), _antialias_sigma(1.0 / window.sy))
    region = cv2.warpAffine(src, window.index_matrix((xa, ya)), (xb - xa, yb - ya),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha[ya:yb, xa:xb] = np.clip(region, 0.0, 1.0)
    return alpha
