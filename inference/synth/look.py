"""How the synthetic people look: appearance (sizes, colours, clothes) and painting part maps.

Colours are RGB ``uint8``.  A *part map* is an ``(h, w)`` uint8 image of body-part ids (0 = empty,
see :mod:`inference.synth.figure`); :func:`colorize` paints it with a :class:`Palette` (one
colour, and one alternate colour for the cloth pattern, per part) and the boolean cloth
patterns from :func:`pattern`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# -- materials ------------------------------------------------------------------------------------
SKIN, HAIR_M, TOP, BOTTOM, SHOES, DARK = range(6)

PATTERNS = ("plain", "stripes", "vstripes", "checks", "diagonal", "noise")
HAIR_STYLES = ("short", "long", "bald", "cap")


@dataclass(frozen=True)
class Appearance:
    """How one person looks.  Lengths are in metres; colours are RGB ``uint8`` triples."""

    height: float
    build: float  # width factor, ~0.85 (slim) .. 1.3 (broad)
    head: float  # head size factor (children ~1.15)
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_style: str
    top: tuple[int, int, int]
    top2: tuple[int, int, int]
    top_pattern: str
    top_period: float
    bottom: tuple[int, int, int]
    bottom2: tuple[int, int, int]
    bottom_pattern: str
    bottom_period: float
    shoes: tuple[int, int, int]
    long_sleeves: bool
    shorts: bool
    noise_tile: np.ndarray  # (8, 8) bool, for the "noise" pattern


_SKINS = (
    (255, 224, 196),
    (241, 194, 155),
    (224, 172, 125),
    (198, 134, 86),
    (160, 105, 66),
    (120, 78, 50),
    (88, 56, 38),
)
_HAIRS = (
    (20, 16, 14),
    (54, 36, 24),
    (96, 62, 36),
    (190, 160, 100),
    (150, 70, 30),
    (150, 150, 150),
    (235, 235, 225),
    (40, 60, 160),
    (200, 60, 120),
)


def _hsv_colour(
    rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]
) -> tuple[int, int, int]:
    hsv = np.uint8(
        [[[rng.integers(0, 180), int(255 * rng.uniform(*s)), int(255 * rng.uniform(*v))]]]
    )
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _second_colour(rng: np.random.Generator, c: tuple[int, int, int]) -> tuple[int, int, int]:
    if rng.random() < 0.5:  # contrasting
        return _hsv_colour(rng, (0.0, 0.9), (0.15, 1.0))
    f = rng.uniform(0.45, 0.75) if sum(c) > 300 else rng.uniform(1.4, 2.2)  # a shade of the same
    return tuple(int(min(255, v * f + 8)) for v in c)  # type: ignore[return-value]


def random_appearance(rng: np.random.Generator, *, height: float | None = None) -> Appearance:
    """A random :class:`Appearance` drawn from ``rng`` (the only source of randomness)."""
    child = rng.random() < 0.12
    h = (
        height
        if height is not None
        else (rng.uniform(1.05, 1.4) if child else rng.uniform(1.5, 1.95))
    )
    skin = np.array(_SKINS[rng.integers(len(_SKINS))], float) * rng.uniform(0.92, 1.05, 3)
    hair = _HAIRS[rng.choice(len(_HAIRS), p=[0.25, 0.2, 0.14, 0.1, 0.06, 0.1, 0.05, 0.05, 0.05])]
    weights = [0.3, 0.2, 0.1, 0.15, 0.1, 0.15]
    top = _hsv_colour(rng, (0.0, 0.95), (0.1, 1.0))
    bottom = _hsv_colour(rng, (0.0, 0.7), (0.08, 0.8))
    return Appearance(
        height=float(h),
        build=float(rng.uniform(0.85, 1.3)),
        head=float(rng.uniform(1.12, 1.25) if child else rng.uniform(0.95, 1.08)),
        skin=tuple(int(v) for v in np.clip(skin, 0, 255)),  # type: ignore[arg-type]
        hair=hair,
        hair_style=str(rng.choice(HAIR_STYLES, p=[0.45, 0.25, 0.12, 0.18])),
        top=top,
        top2=_second_colour(rng, top),
        top_pattern=str(rng.choice(PATTERNS, p=weights)),
        top_period=float(rng.uniform(0.03, 0.09)),
        bottom=bottom,
        bottom2=_second_colour(rng, bottom),
        bottom_pattern=str(rng.choice(PATTERNS, p=[0.5, 0.1, 0.1, 0.1, 0.05, 0.15])),
        bottom_period=float(rng.uniform(0.03, 0.08)),
        shoes=_hsv_colour(rng, (0.0, 0.6), (0.05, 0.95)),
        long_sleeves=bool(rng.random() < 0.5),
        shorts=bool(rng.random() < 0.2),
        noise_tile=rng.random((8, 8)) < 0.5,
    )


class Palette:
    """Per-part colours as OpenCV lookup tables: ``base``/``alt`` ``(1, 256, 3)`` uint8 (``alt``
    where the cloth pattern is on) and ``top``/``bottom`` ``(256,)`` uint8 flags of the parts that
    wear the top's or the bottom's pattern."""

    def __init__(self, base: np.ndarray, alt: np.ndarray, top: np.ndarray, bottom: np.ndarray):
        self.base, self.alt = _lut3(base), _lut3(alt)
        self.top, self.bottom = _lut1(top), _lut1(bottom)


def material_colours(
    app: Appearance,
) -> dict[int, tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """``material -> (colour, pattern colour)`` of one person."""
    dark = (25, 20, 20)
    return {
        SKIN: (app.skin, app.skin),
        HAIR_M: (app.hair, app.hair),
        TOP: (app.top, app.top2),
        BOTTOM: (app.bottom, app.bottom2),
        SHOES: (app.shoes, app.shoes),
        DARK: (dark, dark),
    }


def _lut3(colours: np.ndarray) -> np.ndarray:
    lut = np.zeros((1, 256, 3), np.uint8)
    lut[0, : len(colours)] = np.clip(colours, 0, 255)
    return lut


def _lut1(flags: np.ndarray) -> np.ndarray:
    lut = np.zeros(256, np.uint8)
    lut[: len(flags)] = flags
    return lut


def pattern(
    kind: str, period_px: float, rows: np.ndarray, cols: np.ndarray, tile: np.ndarray
) -> np.ndarray | None:
    """Boolean pattern of a cloth over a crop: ``rows`` ``(h,)`` and ``cols`` ``(w,)`` are the
    crop's pixel centres relative to the person's anchor, in pixels.  Returns bool ``(h, w)`` (or
    broadcastable to it), or ``None`` for plain cloth."""
    if kind == "plain":
        return None
    p = max(period_px, 1.0)
    r = np.floor(rows / p).astype(np.int64)
    c = np.floor(cols / p).astype(np.int64)
    if kind == "stripes":
        return (r & 1).astype(bool)[:, None]
    if kind == "vstripes":
        return (c & 1).astype(bool)[None, :]
    if kind == "checks":
        return ((r[:, None] + c[None, :]) & 1).astype(bool)
    if kind == "diagonal":
        return (np.floor((rows[:, None] + cols[None, :]) / (1.4 * p)).astype(np.int64) & 1).astype(
            bool
        )
    return tile[(r % tile.shape[0])[:, None], (c % tile.shape[1])[None, :]]


def colorize(
    partmap: np.ndarray, pal: Palette, pat_top: np.ndarray | None, pat_bottom: np.ndarray | None
) -> np.ndarray:
    """``(h, w)`` uint8 part map -> ``(h, w, 3)`` uint8 RGB (black where the map is 0)."""
    pm3 = cv2.merge([partmap, partmap, partmap])
    out = cv2.LUT(pm3, pal.base)
    sel = None
    if pat_top is not None:
        sel = cv2.LUT(partmap, pal.top).view(bool) & pat_top
    if pat_bottom is not None:
        sb = cv2.LUT(partmap, pal.bottom).view(bool) & pat_bottom
        sel = sb if sel is None else sel | sb
    if sel is not None:
        paste(out, cv2.LUT(pm3, pal.alt), sel.view(np.uint8))
    return out


def paste(dst: np.ndarray, src: np.ndarray, mask: np.ndarray) -> None:
    """``dst[mask != 0] = src[mask != 0]`` in place (``mask`` uint8 ``(h, w)``; ``dst`` may be a
    view into a larger array).  OpenCV's masked copy is ~20x faster than NumPy's here."""
    out = cv2.copyTo(src, mask, dst)
    if not np.shares_memory(out, dst):  # OpenCV had to reallocate: copy back
        np.copyto(dst, out)
