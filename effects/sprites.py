"""CPU-side images and vertices of the joint effects (:mod:`effects.joints`).

Sticker images loaded and premultiplied (cached per file version), where a sticker goes
(:class:`SpritePlacement`), the soft-disc vertices the glow orb and particles draw
(``fx_disc.glsl``), and text labels rasterised by OpenCV.  Images are (h, w, 4) uint8
premultiplied RGBA; positions are image pixels (x right, y down).  Everything here is
re-exported by :mod:`effects.joints`, where it used to live.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inference.errors import InputError

# -- sticker --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _load_sticker(path: Path, mtime_ns: int, size: int) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read sticker image: {exc.strerror}", path=path) from exc
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise InputError("cannot decode sticker image", path=path, hint="use a PNG with alpha")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGBA)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGBA)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    out = premultiply_pad(img)
    out.setflags(write=False)  # shared by every caller through the cache
    return out


def premultiply_pad(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 4) uint8 RGBA -> (h + 2, w + 2, 4) uint8 premultiplied, with a 1-pixel transparent
    border (so bilinear sampling fades to transparent exactly at the sticker's edge)."""
    a = rgba[..., 3:4].astype(np.float64) / 255.0
    pm = np.concatenate([np.floor(rgba[..., :3] * a + 0.5), rgba[..., 3:4]], axis=2)
    out = np.zeros((rgba.shape[0] + 2, rgba.shape[1] + 2, 4), np.uint8)
    out[1:-1, 1:-1] = pm.astype(np.uint8)
    return out


def _version(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        raise InputError("sticker image not found", path=path, hint="check the path") from None
    return st.st_mtime_ns, st.st_size


def load_sticker(path: Path) -> np.ndarray:
    """The sticker at ``path`` as :func:`premultiply_pad` gives it, read-only (cached per file
    version); :class:`InputError` naming the file when it is missing or not an image."""
    return _load_sticker(path, *_version(path))


@dataclass(frozen=True)
class SpritePlacement:
    """Where a sticker goes: ``center`` (x, y) and ``size`` (w, h) in pixels of the image
    without its padding, rotated by ``angle`` radians (clockwise on screen, y being down)."""

    center: tuple[float, float]
    size: tuple[float, float]
    angle: float
    opacity: float


# -- discs (glow orb, particles) ------------------------------------------------------------------


def disc_vertices(discs: np.ndarray) -> np.ndarray:
    """(n, 8) rows ``x, y, radius, r, g, b, strength, additive`` -> (6n, 9) vertices for
    ``fx_disc.glsl`` (``in_pos``, ``in_local``, ``in_color``, ``in_additive``)."""
    n = len(discs)
    corners = np.array([[-1, -1], [1, -1], [-1, 1], [1, -1], [1, 1], [-1, 1]], np.float64)
    out = np.empty((n, 6, 9), np.float32)
    out[:, :, 0:2] = discs[:, None, 0:2] + corners[None] * discs[:, None, 2:3]
    out[:, :, 2:4] = corners[None]
    out[:, :, 4:9] = discs[:, None, 3:8]
    return out.reshape(6 * n, 9)


_DISC_ATTRS = ("in_pos", "in_local", "in_color", "in_additive")


# -- text label -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def raster_label(
    text: str,
    font_scale: float,
    thickness: int,
    color: tuple[float, ...],
    plate: tuple[float, ...],
    plate_opacity: float,
    padding: int,
) -> np.ndarray:
    """``text`` rasterised by ``cv2.putText`` (Hershey simplex, anti-aliased) over a plate:
    (h, w, 4) uint8 premultiplied RGBA.  Characters outside ASCII are drawn as ``?``."""
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text) or " "
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, font_scale, thickness)
    w, h = tw + 2 * padding, th + base + 2 * padding
    cov = np.zeros((h, w), np.uint8)
    cv2.putText(cov, text, (padding, padding + th), font, font_scale, 255, thickness, cv2.LINE_AA)
    a = cov.astype(np.float64)[..., None] / 255.0
    rgb = a * np.asarray(color) + (1.0 - a) * plate_opacity * np.asarray(plate)
    alpha = 255.0 * (a + (1.0 - a) * plate_opacity)
    out = np.floor(np.concatenate([rgb, alpha], axis=2) + 0.5).astype(np.uint8)
    out.setflags(write=False)  # shared by every caller through the cache
    return out
