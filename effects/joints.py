"""Joint-anchored effects: stickers, glow orbs, motion trails, particles and text labels.

Each is pinned to its person by ``joints`` (the mean of those COCO joints, or the top centre of
the person's box) and follows the visibility rule of :mod:`effects.anchors`: a lost joint is
held, then faded, never sent to (0, 0); a person absent from a frame gets no effects that frame.
Each can sit behind the persons (hidden exactly where a mask covers it) or in front of
everything (``layer``).  Positions are image pixels (x right, y down, pixel centres at +0.5).
Their CPU-side images and vertices (sticker loading, discs, label rasters) are in
:mod:`effects.sprites` and importable from here too.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import moderngl
import numpy as np

from effects.anchors import (
    HeldJointEffect,
    JointEffect,
    PoseHistory,
    anchor_point,
    joint_positions,
)
from effects.keyframes import Keyframes
from effects.model import FxContext, PersonState, describe, quad, rgb01
from effects.person import BLENDS
from effects.sprites import (
    _DISC_ATTRS,
    SpritePlacement,
    _load_sticker,
    _version,
    disc_vertices,
    load_sticker,
    premultiply_pad,  # noqa: F401 -- re-exported: it lived here before effects.sprites
    raster_label,
)

log = logging.getLogger(__name__)


# -- sticker ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Sticker(HeldJointEffect):
    """An image (PNG with alpha) pinned to joints.

    Centre: the anchor, plus ``offset`` times the sticker's width along its own (rotated) axes.
    Width: ``size`` pixels, or ``size`` times the distance between the two ``scale_joints``
    (e.g. the shoulders) when given.  Rotation: ``rotation`` degrees, plus the angle of the
    vector from the first to the second ``rotate_joints`` (e.g. right eye -> left eye) when
    given.  Bilinear (mipmapped when shrunk), premultiplied alpha.
    """

    effect_name: ClassVar[str] = "sticker"

    image: Path = field(
        metadata=describe(type=Path, doc="PNG (or any OpenCV-readable image) with alpha")
    )
    size: float | Keyframes = field(
        default=64.0,
        metadata=describe(
            min=0.01,
            max=10000.0,
            unit="px or x scale",
            doc="width in pixels, or times the scale joints' distance",
        ),
    )
    scale_joints: tuple[str, ...] = field(
        default=(),
        metadata=describe(
            type=tuple, item=str, ui="joints", doc="two joints whose distance scales the sticker"
        ),
    )
    rotate_joints: tuple[str, ...] = field(
        default=(),
        metadata=describe(
            type=tuple, item=str, ui="joints", doc="two joints whose direction rotates it"
        ),
    )
    rotation: float | Keyframes = field(
        default=0.0, metadata=describe(min=-3600.0, max=3600.0, unit="deg")
    )
    offset: tuple[float, ...] | Keyframes = field(
        default=(0.0, 0.0),
        metadata=describe(
            min=-100.0, max=100.0, length=2, unit="x width", doc="shift (right, down)"
        ),
    )

    def joint_params(self) -> dict[str, tuple[str, ...]]:
        return {
            "joints": self.joints,
            "scale_joints": self.scale_joints,
            "rotate_joints": self.rotate_joints,
        }

    def validate(self) -> None:
        super().validate()
        for name in ("scale_joints", "rotate_joints"):
            if len(getattr(self, name)) not in (0, 2):
                raise self._error(name, "must name two joints, or none")
        load_sticker(self.image)

    def placement(
        self, history: PoseHistory, track_id: int, frame_index: int
    ) -> SpritePlacement | None:
        """Where the sticker is drawn in ``frame_index`` (None: not drawn)."""
        anchor = self.anchor(history, track_id, frame_index)
        if anchor is None or anchor.opacity <= 0.0:
            return None
        pose = anchor.pose
        cx, cy = anchor_point(pose, self.joints)  # type: ignore[misc]
        width = self.size
        if self.scale_joints:
            a, b = joint_positions(pose, self.scale_joints)  # type: ignore[misc]
            width = self.size * float(np.hypot(*(b - a)))
        angle = math.radians(self.rotation)
        if self.rotate_joints:
            a, b = joint_positions(pose, self.rotate_joints)  # type: ignore[misc]
            angle += math.atan2(b[1] - a[1], b[0] - a[0])
        h, w = load_sticker(self.image).shape[:2]
        height = width * (h - 2) / (w - 2)
        c, s = math.cos(angle), math.sin(angle)
        dx, dy = self.offset[0] * width, self.offset[1] * width
        center = (cx + c * dx - s * dy, cy + s * dx + c * dy)
        return SpritePlacement(center, (width, height), angle, self.opacity * anchor.opacity)

    def draw(self, fx: FxContext, person: PersonState) -> None:
        place = self.placement(fx.history, person.track_id, fx.frame_index)
        if place is None or place.size[0] <= 0:
            return
        version = _version(self.image)
        img = _load_sticker(self.image, *version)
        tex = _upload(fx, f"fx.sticker.{self.image}", img, version, mipmaps=True)
        h, w = img.shape[:2]
        texel = place.size[0] / (w - 2)
        hx, hy = w * texel / 2.0, h * texel / 2.0
        c, s = math.cos(place.angle), math.sin(place.angle)
        corners = []
        for lx, ly, u, v in ((-hx, -hy, 0, 0), (hx, -hy, 1, 0), (-hx, hy, 0, 1), (hx, hy, 1, 1)):
            corners.append(
                (place.center[0] + c * lx - s * ly, place.center[1] + s * lx + c * ly, u, v)
            )
        verts = np.array([corners[i] for i in (0, 1, 2, 1, 3, 2)], np.float32)
        prog = fx.program("fx_sprite")
        prog["u_tex"] = 0
        prog["u_opacity"] = place.opacity
        tex.use(0)
        fx.draw_over(prog, verts, ("in_pos", "in_uv"))


def _upload(
    fx: FxContext, key: str, img: np.ndarray, version: object, *, mipmaps: bool = False
) -> moderngl.Texture:
    """Upload ``img`` to the slot ``key`` unless this ``version`` of it is already there."""
    slot = fx.res.slot(key, linear=True)
    if fx.res.state.get(key) != version or slot.texture is None:
        tex = slot.upload(img)
        if mipmaps:
            tex.build_mipmaps()
            tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        else:
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        fx.res.state[key] = version
        log.debug("uploaded %s (%dx%d)", key, img.shape[1], img.shape[0])
    assert slot.texture is not None
    return slot.texture


# -- glow orb -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GlowOrb(HeldJointEffect):
    """A soft glowing disc at the anchor: alpha ``intensity * falloff(r / radius)`` (see
    :func:`effects.person.falloff`), times the opacity of the visibility rule."""

    effect_name: ClassVar[str] = "orb"

    joints: tuple[str, ...] = field(
        default=("right_wrist",),
        metadata=describe(type=tuple, item=str, ui="joints", doc="anchor joints"),
    )
    radius: float | Keyframes = field(
        default=24.0, metadata=describe(min=0.5, max=2000.0, unit="px")
    )
    color: tuple[float, ...] | Keyframes = field(
        default=(120.0, 200.0, 255.0), metadata=describe(min=0, max=255, length=3, ui="color")
    )
    intensity: float | Keyframes = field(
        default=1.0, metadata=describe(min=0.0, max=1.0, doc="alpha at the centre")
    )
    blend: str = field(
        default="add", metadata=describe(choices=BLENDS, doc="normal: cover; add: add light")
    )

    def discs(self, history: PoseHistory, track_id: int, frame_index: int) -> np.ndarray:
        """(n, 8) discs to draw (see :func:`disc_vertices`); n is 0 or 1."""
        anchor = self.anchor(history, track_id, frame_index)
        if anchor is None or anchor.opacity <= 0.0:
            return np.zeros((0, 8))
        x, y = anchor_point(anchor.pose, self.joints)  # type: ignore[misc]
        strength = self.intensity * self.opacity * anchor.opacity
        return np.array(
            [[x, y, self.radius, *rgb01(self.color), strength, 1.0 if self.blend == "add" else 0.0]]
        )

    def draw(self, fx: FxContext, person: PersonState) -> None:
        discs = self.discs(fx.history, person.track_id, fx.frame_index)
        if len(discs):
            fx.draw_over(fx.program("fx_disc"), disc_vertices(discs), _DISC_ATTRS)


# -- motion trail ---------------------------------------------------------------------------------

MAX_TRAIL = 64


@dataclass(frozen=True, kw_only=True)
class MotionTrail(JointEffect):
    """A tapering, fading line through the anchor's positions in the last ``length`` frames
    (only frames where its joints were usable; see ``effects/shaders/fx_trail.glsl``)."""

    effect_name: ClassVar[str] = "trail"

    layer: str = field(
        default="behind", metadata=describe(choices=("behind", "front"), doc="behind or in front")
    )
    joints: tuple[str, ...] = field(
        default=("right_wrist",),
        metadata=describe(type=tuple, item=str, ui="joints", doc="anchor joints"),
    )
    length: int = field(
        default=12, metadata=describe(min=2, max=MAX_TRAIL, unit="frames", doc="how far back")
    )
    width: float | Keyframes = field(
        default=8.0, metadata=describe(min=0.5, max=500.0, unit="px", doc="at the head")
    )
    color: tuple[float, ...] | Keyframes = field(
        default=(255.0, 255.0, 255.0), metadata=describe(min=0, max=255, length=3, ui="color")
    )
    opacity: float | Keyframes = field(default=0.8, metadata=describe(min=0.0, max=1.0))

    def lookback(self) -> int:
        return self.length

    def points(self, history: PoseHistory, track_id: int, frame_index: int) -> np.ndarray:
        """(n, 3) rows ``x, y, age`` (frames), newest first, ages < ``length``."""
        rows = []
        for age in range(self.length):
            pose = history.pose(frame_index - age, track_id)
            p = None if pose is None else anchor_point(pose, self.joints)
            if p is not None:
                rows.append((p[0], p[1], float(age)))
        return np.array(rows, np.float64).reshape(-1, 3)

    def draw(self, fx: FxContext, person: PersonState) -> None:
        pts = self.points(fx.history, person.track_id, fx.frame_index)
        if not len(pts):
            return
        pad = self.width / 2.0 + 2.0
        x0, y0 = np.floor(pts[:, :2].min(axis=0) - pad)
        x1, y1 = np.ceil(pts[:, :2].max(axis=0) + pad)
        prog = fx.program("fx_trail", {"MAX_POINTS": MAX_TRAIL})
        xy = np.zeros((MAX_TRAIL, 2), np.float32)
        ages = np.zeros(MAX_TRAIL, np.float32)
        xy[: len(pts)] = pts[:, :2]
        ages[: len(pts)] = pts[:, 2]
        prog["u_points"].write(xy.tobytes())
        prog["u_ages"].write(ages.tobytes())
        prog["u_count"] = len(pts)
        prog["u_length"] = float(self.length)
        prog["u_width"] = self.width
        prog["u_opacity"] = self.opacity
        prog["u_color"] = rgb01(self.color)
        fx.draw_over(prog, quad(x0, y0, x1, y1), ("in_pos",))


# -- particles ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Particles(JointEffect):
    """Particles emitted from the anchor, deterministic per ``seed``.

    Each frame ``e`` in which the anchor's joints are usable emits ``rate`` particles from the
    anchor's position there.  Particle ``j`` of frame ``e`` gets its direction (``direction`` +-
    ``spread / 2`` degrees; 0 = right, 90 = down) and speed (``speed`` +- ``speed_jitter``) from
    ``numpy.random.default_rng([seed, track_id, e])``, so any frame renders the same whatever
    was rendered before it.  ``age`` frames later it is at ``p_e + v age + (0, gravity age^2 / 2)``
    with radius ``size (0.25 + 0.75 life)`` and strength ``opacity life``,
    ``life = 1 - age / lifetime``; it is drawn as a soft disc (like the orb), oldest first.
    Live particles move with the parameters of the current time (keyframing ``speed`` or
    ``gravity`` changes every particle's path, not only new ones).
    """

    effect_name: ClassVar[str] = "particles"

    joints: tuple[str, ...] = field(
        default=("right_wrist",),
        metadata=describe(type=tuple, item=str, ui="joints", doc="emitter joints"),
    )
    rate: int = field(default=4, metadata=describe(min=0, max=200, unit="per frame"))
    lifetime: int = field(default=20, metadata=describe(min=1, max=600, unit="frames"))
    speed: float | Keyframes = field(
        default=3.0, metadata=describe(min=0.0, max=500.0, unit="px/frame")
    )
    speed_jitter: float = field(
        default=0.5, metadata=describe(min=0.0, max=1.0, doc="relative speed variation")
    )
    direction: float | Keyframes = field(
        default=-90.0, metadata=describe(min=-3600.0, max=3600.0, unit="deg")
    )
    spread: float | Keyframes = field(
        default=120.0, metadata=describe(min=0.0, max=360.0, unit="deg")
    )
    gravity: float | Keyframes = field(
        default=0.15, metadata=describe(min=-100.0, max=100.0, unit="px/frame^2")
    )
    size: float | Keyframes = field(
        default=4.0, metadata=describe(min=0.5, max=500.0, unit="px", doc="radius at birth")
    )
    color: tuple[float, ...] | Keyframes = field(
        default=(255.0, 210.0, 90.0), metadata=describe(min=0, max=255, length=3, ui="color")
    )
    opacity: float | Keyframes = field(default=1.0, metadata=describe(min=0.0, max=1.0))
    blend: str = field(
        default="add", metadata=describe(choices=BLENDS, doc="normal: cover; add: add light")
    )
    seed: int = field(default=0, metadata=describe(min=0, max=2**31 - 1, ui="spin"))

    def lookback(self) -> int:
        return self.lifetime

    def discs(self, history: PoseHistory, track_id: int, frame_index: int) -> np.ndarray:
        """(n, 8) discs (see :func:`disc_vertices`), oldest first."""
        rows = []
        rgb = rgb01(self.color)
        additive = 1.0 if self.blend == "add" else 0.0
        for age in range(self.lifetime - 1, -1, -1):
            e = frame_index - age
            pose = history.pose(e, track_id) if e >= 0 else None
            p = None if pose is None else anchor_point(pose, self.joints)
            if p is None or self.rate == 0:
                continue
            rng = np.random.default_rng([self.seed, track_id % 2**32, e])
            u = rng.random((self.rate, 2))
            theta = np.radians(self.direction + self.spread * (u[:, 0] - 0.5))
            v = self.speed * (1.0 + self.speed_jitter * (2.0 * u[:, 1] - 1.0))
            life = 1.0 - age / self.lifetime
            x = p[0] + v * np.cos(theta) * age
            y = p[1] + v * np.sin(theta) * age + 0.5 * self.gravity * age * age
            block = np.empty((self.rate, 8))
            block[:, 0], block[:, 1] = x, y
            block[:, 2] = self.size * (0.25 + 0.75 * life)
            block[:, 3:6] = rgb
            block[:, 6] = self.opacity * life
            block[:, 7] = additive
            rows.append(block)
        return np.concatenate(rows) if rows else np.zeros((0, 8))

    def draw(self, fx: FxContext, person: PersonState) -> None:
        discs = self.discs(fx.history, person.track_id, fx.frame_index)
        if len(discs):
            fx.draw_over(fx.program("fx_disc"), disc_vertices(discs), _DISC_ATTRS)


# -- text label -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TextLabel(HeldJointEffect):
    """A text label following the person: its bottom centre at the anchor plus ``offset``,
    on whole pixels (crisp).  ``{track_id}`` in ``text`` is replaced by the person's id."""

    effect_name: ClassVar[str] = "label"

    joints: tuple[str, ...] = field(
        default=(),
        metadata=describe(
            type=tuple,
            item=str,
            ui="joints",
            doc="anchor joints; none: the top of the person's box",
        ),
    )
    text: str = field(
        default="Person {track_id}",
        metadata=describe(doc="{track_id} is replaced by the person's id"),
    )
    offset: tuple[float, ...] | Keyframes = field(
        default=(0.0, -6.0), metadata=describe(min=-10000.0, max=10000.0, length=2, unit="px")
    )
    font_scale: float = field(default=0.5, metadata=describe(min=0.1, max=20.0, unit="x"))
    thickness: int = field(default=1, metadata=describe(min=1, max=50, unit="px"))
    color: tuple[float, ...] = field(
        default=(255.0, 255.0, 255.0), metadata=describe(min=0, max=255, length=3, ui="color")
    )
    plate_color: tuple[float, ...] = field(
        default=(0.0, 0.0, 0.0), metadata=describe(min=0, max=255, length=3, ui="color")
    )
    plate_opacity: float = field(default=0.6, metadata=describe(min=0.0, max=1.0))
    padding: int = field(default=3, metadata=describe(min=0, max=200, unit="px"))

    def _raster_args(self, track_id: int) -> tuple:
        text = self.text.replace("{track_id}", str(track_id))
        return (text, self.font_scale, self.thickness, self.color, self.plate_color,
                self.plate_opacity, self.padding)  # fmt: skip

    def image(self, track_id: int) -> np.ndarray:
        """The label of ``track_id`` as premultiplied RGBA (see :func:`raster_label`)."""
        return raster_label(*self._raster_args(track_id))

    def placement(
        self, history: PoseHistory, track_id: int, frame_index: int
    ) -> tuple[int, int, float] | None:
        """(x0, y0, opacity): the label image's top-left pixel, or None (not drawn)."""
        anchor = self.anchor(history, track_id, frame_index)
        if anchor is None or anchor.opacity <= 0.0:
            return None
        ax, ay = anchor_point(anchor.pose, self.joints)  # type: ignore[misc]
        h, w = self.image(track_id).shape[:2]
        x0 = math.floor(ax + self.offset[0] - w / 2.0 + 0.5)
        y0 = math.floor(ay + self.offset[1] - h + 0.5)
        return x0, y0, self.opacity * anchor.opacity

    def draw(self, fx: FxContext, person: PersonState) -> None:
        place = self.placement(fx.history, person.track_id, fx.frame_index)
        if place is None:
            return
        x0, y0, opacity = place
        img = self.image(person.track_id)
        h, w = img.shape[:2]
        tex = _upload(fx, fx.slot_key("label"), img, self._raster_args(person.track_id))
        verts = np.concatenate([quad(x0, y0, x0 + w, y0 + h), quad(0, 0, 1, 1)], axis=1)
        prog = fx.program("fx_sprite")
        prog["u_tex"] = 0
        prog["u_opacity"] = opacity
        tex.use(0)
        fx.draw_over(prog, verts, ("in_pos", "in_uv"))
