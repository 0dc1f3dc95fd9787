"""Person effects: they use the person's mask.

* :class:`Outline` -- a solid band of ``width`` pixels around the outside of the mask.
* :class:`Glow` -- a soft halo outside the mask fading to nothing at ``radius`` pixels.
* :class:`ColorGrade` -- brightness / contrast / saturation and a colour tint of the person's
  own pixels (a :class:`~effects.model.PersonModifier`).
* :class:`Spotlight` -- darkens everything but a soft ellipse around the person.

Outline and glow are functions of the Euclidean distance ``d`` (pixels, centre to centre) from
each pixel to the nearest pixel of the mask, computed exactly with OpenCV
(``cv2.distanceTransform(..., cv2.DIST_L2, cv2.DIST_MASK_PRECISE)``) over the mask's box grown
by the effect's reach, uploaded as a float texture and shaded on the GPU
(``effects/shaders/fx_mask_distance.glsl``).  Both are zero inside the mask (``d = 0``):

    outline alpha = opacity * clamp(width + 0.5 - d, 0, 1)
    glow alpha    = intensity * falloff(d / radius)
    falloff(s)    = (exp(-4.5 s^2) - exp(-4.5)) / (1 - exp(-4.5))  for s < 1, else 0

(``falloff`` is a Gaussian with sigma = radius / 3, shifted and rescaled so that it reaches 0
exactly at ``radius``.)  Colours are RGB in 0..255.  ``blend='add'`` adds the light instead of
covering what is under it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import moderngl
import numpy as np

from effects.canvas import rect_quads, tile_rects
from effects.gl import RenderTarget, draw_fullscreen
from effects.keyframes import Keyframes
from effects.model import (
    FxContext,
    OverlayEffect,
    PersonModifier,
    PersonState,
    describe,
    rgb01,
)

BLENDS = ("normal", "add")
#: Luma weights (Rec. 709) used by the grade.
LUMA = (0.2126, 0.7152, 0.0722)


def falloff(s: np.ndarray | float) -> np.ndarray | float:
    """The glow/orb profile at ``s = distance / radius``: 1 at 0, exactly 0 from 1 on."""
    e = math.exp(-4.5)
    s = np.asarray(s, np.float64)
    return np.where(s < 1.0, (np.exp(-4.5 * s * s) - e) / (1.0 - e), 0.0)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (end-exclusive) of the non-zero pixels of an (H, W) mask, or None."""
    m = mask if mask.dtype == np.uint8 else (mask != 0).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(m)
    if w == 0 or h == 0:
        return None
    return x, y, x + w, y + h


def grow_box(
    box: tuple[int, int, int, int], margin: int, size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` pixels on every side, clipped to ``size = (W, H)``."""
    x0, y0, x1, y1 = box
    w, h = size
    return max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)


def distance_field(
    fx: FxContext, person: PersonState, reach: float
) -> tuple[moderngl.Texture, tuple[int, int, int, int]] | None:
    """The distance to ``person``'s mask over its box grown by ``ceil(reach) + 1`` pixels.

    Returns the (R32F) texture and its box ``(x0, y0, x1, y1)`` in image pixels; texel
    ``(i, j)`` is pixel ``(x0 + i, y0 + j)``.  Every pixel within ``reach`` of the mask lies in
    that box (unless outside the frame), and its value is exact there.  Cached per person and
    frame (a larger reach recomputes).  ``None`` when the person has no mask.
    """
    found = _distance(fx, person, reach)
    return None if found is None else (found[0], found[1])


def _distance(
    fx: FxContext, person: PersonState, reach: float
) -> tuple[moderngl.Texture, tuple[int, int, int, int], np.ndarray] | None:
    """:func:`distance_field` and the distances themselves ((y1 - y0, x1 - x0) float32)."""
    mask = person.layer.mask
    if mask is None or person.box is None:
        return None
    key = ("distance", person.track_id)
    hit = fx.scratch.get(key)
    if hit is not None and hit[0] >= reach:
        return hit[1], hit[2], hit[4]
    box = grow_box(person.box, math.ceil(reach) + 1, fx.size)
    x0, y0, x1, y1 = box
    outside = np.ascontiguousarray(mask[y0:y1, x0:x1] == 0, dtype=np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    slot_key = hit[3] if hit is not None else fx.slot_key("distance")
    tex = fx.res.slot(slot_key).upload(np.ascontiguousarray(dist, dtype=np.float32))
    fx.scratch[key] = (reach, tex, box, slot_key, dist)
    return tex, box, dist


#: Side of the blocks :func:`_draw_distance` skips when none of their pixels is lit.
_TILE = 16


def _draw_distance(fx: FxContext, person: PersonState, reach: float, uniforms: dict) -> None:
    """Shade the pixels at distance ``0 < d <= reach`` of the mask (the only ones an outline or
    glow of that reach lights): only the blocks of the distance box that hold one are drawn
    (the others would blend a zero alpha), which skips the person's inside and the box's
    corners."""
    found = _distance(fx, person, reach)
    if found is None:
        return
    tex, (x0, y0, _, _), dist = found
    rects = tile_rects(cv2.inRange(dist, 0.5, float(reach)), _TILE, (x0, y0))
    if not len(rects):
        return
    prog = fx.program("fx_mask_distance")
    prog["u_dist"] = 0
    prog["u_origin"] = (x0, y0)
    for k, v in uniforms.items():
        prog[k] = v
    tex.use(0)
    fx.draw_over(prog, rect_quads(rects), ("in_pos",))


@dataclass(frozen=True, kw_only=True)
class Outline(OverlayEffect):
    """A band ``width`` pixels wide around the outside of the person's mask."""

    effect_name: ClassVar[str] = "outline"

    layer: str = field(
        default="behind",
        metadata=describe(choices=("behind", "front"), doc="behind or in front of persons"),
    )
    width: float | Keyframes = field(
        default=3.0, metadata=describe(min=0.5, max=100.0, unit="px", doc="band width")
    )
    color: tuple[float, ...] | Keyframes = field(
        default=(255.0, 255.0, 255.0),
        metadata=describe(min=0, max=255, length=3, ui="color", doc="RGB, 0..255"),
    )
    opacity: float | Keyframes = field(
        default=1.0, metadata=describe(min=0.0, max=1.0, doc="0: invisible, 1: solid")
    )

    def draw(self, fx: FxContext, person: PersonState) -> None:
        _draw_distance(fx, person, self.width + 1.0, {
            "u_mode": 0, "u_color": rgb01(self.color), "u_width": self.width,
            "u_radius": 1.0, "u_strength": self.opacity, "u_additive": 0.0,
        })  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Glow(OverlayEffect):
    """A soft halo outside the person's mask, fading to zero at ``radius`` pixels."""

    effect_name: ClassVar[str] = "glow"

    layer: str = field(
        default="behind",
        metadata=describe(choices=("behind", "front"), doc="behind or in front of persons"),
    )
    radius: float | Keyframes = field(
        default=16.0, metadata=describe(min=1.0, max=500.0, unit="px", doc="halo reach")
    )
    color: tuple[float, ...] | Keyframes = field(
        default=(255.0, 220.0, 120.0),
        metadata=describe(min=0, max=255, length=3, ui="color", doc="RGB, 0..255"),
    )
    intensity: float | Keyframes = field(
        default=0.8, metadata=describe(min=0.0, max=1.0, doc="alpha next to the mask")
    )
    blend: str = field(
        default="normal", metadata=describe(choices=BLENDS, doc="normal: cover; add: add light")
    )

    def draw(self, fx: FxContext, person: PersonState) -> None:
        _draw_distance(fx, person, self.radius, {
            "u_mode": 1, "u_color": rgb01(self.color), "u_width": 0.0,
            "u_radius": self.radius, "u_strength": self.intensity,
            "u_additive": 1.0 if self.blend == "add" else 0.0,
        })  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Spotlight(OverlayEffect):
    """Darkens everything but a soft ellipse around the person.

    The ellipse is centred on the person's box, with semi-axes ``scale`` times half the box's
    width and height.  With ``r`` the elliptical radius of a pixel (1 on the ellipse) and
    ``t = clamp((r - (1 - feather)) / feather, 0, 1)``, the pixel is covered by ``color`` with
    alpha ``darkness * t^2 (3 - 2t)``.  In front (the default) it also darkens other persons;
    behind, only the background.  Several spotlights multiply their darkening.
    """

    effect_name: ClassVar[str] = "spotlight"

    darkness: float | Keyframes = field(
        default=0.7, metadata=describe(min=0.0, max=1.0, doc="0: none, 1: black")
    )
    scale: float | Keyframes = field(
        default=1.3, metadata=describe(min=0.1, max=10.0, unit="x box", doc="ellipse size")
    )
    feather: float | Keyframes = field(
        default=0.35, metadata=describe(min=0.0, max=1.0, doc="soft edge, fraction of r")
    )
    color: tuple[float, ...] | Keyframes = field(
        default=(0.0, 0.0, 0.0),
        metadata=describe(min=0, max=255, length=3, ui="color", doc="colour of the dark part"),
    )

    def ellipse(self, person: PersonState) -> tuple[tuple[float, float], tuple[float, float]]:
        """(centre (x, y), semi-axes (a, b)) in pixels."""
        x, y, w, h = person.layer.bbox
        return (x + w / 2.0, y + h / 2.0), (
            max(self.scale * w / 2.0, 0.5),
            max(self.scale * h / 2.0, 0.5),
        )

    def draw(self, fx: FxContext, person: PersonState) -> None:
        (cx, cy), (a, b) = self.ellipse(person)
        prog = fx.program("fx_spotlight")
        prog["u_center"] = (cx, cy)
        prog["u_axes"] = (a, b)
        prog["u_feather"] = self.feather
        prog["u_darkness"] = self.darkness
        prog["u_color"] = rgb01(self.color)
        fx.draw_over_fullscreen(prog)


@dataclass(frozen=True, kw_only=True)
class ColorGrade(PersonModifier):
    """A colour grade of the person's own pixels; colours in 0..1 per channel::

        c = (c - 0.5) * contrast + 0.5 + brightness
        c = mix(luma(c), c, saturation)
        c = mix(c, luma(c) * tint / 255, tint_amount)
        c = clamp(c, 0, 1)

    with ``luma`` the Rec. 709 weighted sum (:data:`LUMA`).  Applied where the person's mask
    is (a soft matte blends it), at the person's place in the depth order.
    """

    effect_name: ClassVar[str] = "grade"

    brightness: float | Keyframes = field(
        default=0.0, metadata=describe(min=-1.0, max=1.0, doc="added to each channel")
    )
    contrast: float | Keyframes = field(
        default=1.0, metadata=describe(min=0.0, max=4.0, unit="x", doc="around mid-grey")
    )
    saturation: float | Keyframes = field(
        default=1.0, metadata=describe(min=0.0, max=4.0, unit="x", doc="0: grey")
    )
    tint: tuple[float, ...] | Keyframes = field(
        default=(255.0, 160.0, 60.0),
        metadata=describe(min=0, max=255, length=3, ui="color", doc="RGB, 0..255"),
    )
    tint_amount: float | Keyframes = field(
        default=0.0, metadata=describe(min=0.0, max=1.0, doc="0: no tint")
    )

    def modify(self, fx, person, src, src_offset, dst: RenderTarget) -> None:
        assert person.box is not None
        prog = fx.program("fx_grade")
        prog["u_src"] = 0
        prog["u_offset"] = (person.box[0] - src_offset[0], person.box[1] - src_offset[1])
        prog["u_brightness"] = self.brightness
        prog["u_contrast"] = self.contrast
        prog["u_saturation"] = self.saturation
        prog["u_tint"] = rgb01(self.tint)
        prog["u_tint_amount"] = self.tint_amount
        src.use(0)
        draw_fullscreen(fx.res.fullscreen(prog), dst.fbo)
