"""Backgrounds per person: the frame's background split among the persons drawn over it.

A :class:`PersonBackgrounds` holds a ``default`` background (``None``: the original frame) and
backgrounds of their own for some persons (by track id).  For each frame,
:meth:`PersonBackgrounds.for_frame` takes the masks of the persons drawn over the background
(the *owners*) and returns one :class:`~effects.backgrounds.Background` for the compositor or
the effect stack:

* every background pixel goes to its **nearest owner** (Euclidean distance to the owner's
  mask; a Voronoi partition computed from the masks) and shows that owner's background -- its
  own, or the default for an owner without one;
* with ``reach_px`` set, the default background also competes as if it were an owner at
  distance ``reach_px`` everywhere: pixels farther than that from every owner show the default;
* a **soft seam** of ``seam_px`` pixels blends neighbouring regions: each background's
  indicator (1 where its owners' regions are) is box-filtered with a square window of
  :func:`seam_cells` (``seam_px`` rounded to an odd number of cells), so across a straight
  region boundary the backgrounds cross-fade linearly over ``seam_px`` pixels, and a pixel
  whose window lies inside one region shows that background exactly.  The seam is as wide far
  from the persons as near them (a blend on the distance difference ``d_a - d_b`` would widen
  along the boundary like a hyperbola).  A seam below two grid cells (``2 f`` pixels, see
  below) is a hard partition; ties between owners go to the lower track id, and between a
  person and the reach to the person.

The persons themselves are drawn over the result as usual.  A person with a background of
their own who is absent from a frame (or whose mask is empty) owns nothing that frame: their
background does not appear.  A frame where no owner has a background of their own gets the
``default`` itself, so renders without person backgrounds are unchanged.

Where the distances are computed: on the CPU with ``cv2.distanceTransform`` (exact Euclidean,
``DIST_MASK_PRECISE``) on a grid of ``f x f``-pixel cells, ``f = ceil(max(W, H) / grid_limit)``
(1 -- exact, per pixel -- up to 640 pixels; 3 at 1920x1080: about 3 ms per owner).  A cell
belongs to a person when any of its pixels does; distances are between cell centres, in output
pixels.  The weights are computed per cell and interpolated bilinearly by the GPU
(``bg_partition.glsl``, texel centres at cell centres), so with ``f > 1`` region boundaries are
placed to within about ``f`` pixels.  A jump flood in GLSL was not used: on a software renderer
its ~10 full-resolution passes per owner cost far more than the CPU distance transform.

Each background is drawn into its own :meth:`~effects.gl.RenderResources.child` resources (so
two blurs or two images do not share targets and uploads persist between frames); one pass
(``bg_partition.glsl``, up to :data:`PASS_GROUPS` backgrounds) sums them, weighted, into a
float target (``partition.out``) that is then used like any background layer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import moderngl
import numpy as np

from effects.backgrounds import Background, BackgroundLayer, VideoBackgroundSpec, parse_background
from effects.gl import draw_fullscreen
from effects.person import mask_box
from inference.errors import InputError

log = logging.getLogger(__name__)

#: Default width of the blend between neighbouring persons' backgrounds, pixels.
DEFAULT_SEAM_PX = 24.0
#: Largest seam width accepted, pixels.
MAX_SEAM_PX = 1000.0
#: Largest reach accepted, pixels.
MAX_REACH_PX = 100_000.0
#: Distances are computed on a grid with at most this many cells along the frame's long side.
GRID_LIMIT = 640

#: Backgrounds summed per GL pass (``bg_partition.glsl``); more take more passes.
PASS_GROUPS = 4
#: Spelling of "the original frame" in ``--person-background ID=original``.
ORIGINAL = "original"


def check_seam(value: Any, what: str = "background seam") -> float:
    """``value`` as a seam width in pixels (0..:data:`MAX_SEAM_PX`); :class:`InputError`."""
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not math.isfinite(value) or not 0 <= value <= MAX_SEAM_PX):
        raise InputError(f"{what} {value!r} is not a width in 0..{MAX_SEAM_PX:g} pixels",
                         hint=f"e.g. {DEFAULT_SEAM_PX:g}; 0 is a hard edge")
    return float(value)


def check_reach(value: Any, what: str = "background reach") -> float | None:
    """``value`` as a reach in pixels (> 0, up to :data:`MAX_REACH_PX`) or None."""
    if value is None:
        return None
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not math.isfinite(value) or not 0 < value <= MAX_REACH_PX):
        raise InputError(f"{what} {value!r} is not a distance in (0, {MAX_REACH_PX:g}] pixels",
                         hint="or leave it out: every pixel then goes to its nearest person")
    return float(value)


def parse_person_background(text: str) -> tuple[int, Background | VideoBackgroundSpec | None]:
    """``ID=BACKGROUND`` (``--person-background``) -> ``(track id, background)``.

    BACKGROUND is a :func:`~effects.backgrounds.parse_background` spec, or ``original`` for the
    original frame (``None``).  Raises :class:`InputError` naming the text.
    """
    ident, sep, spec = text.partition("=")
    if not sep or not ident.strip().isdigit() or not spec.strip():
        raise InputError(f"--person-background {text!r}: use ID=BACKGROUND",
                         hint="e.g. --person-background 2=color:#00FF00")
    tid = int(ident)
    if spec.strip().lower() == ORIGINAL:
        return tid, None
    try:
        return tid, parse_background(spec.strip())
    except InputError as exc:
        raise InputError(f"--person-background {text!r}: person {tid}: {exc.message}",
                         hint=exc.hint) from None


# -- distances and weights -------------------------------------------------------------------


def grid_factor(width: int, height: int, limit: int = GRID_LIMIT) -> int:
    """The cell size ``f`` (pixels) of the distance grid for a ``width x height`` frame."""
    return max(1, -(-max(width, height) // max(1, limit)))


def person_distance(mask: np.ndarray, factor: int,
                    box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Distance from each grid cell to a person, in output pixels: (gh, gw) float32.

    ``mask``: (H, W), non-zero = the person, not empty; ``box``: its
    :func:`~effects.person.mask_box` if known.  The grid has ``gw = ceil(W / f)``,
    ``gh = ceil(H / f)`` cells of ``f x f`` pixels from the top-left corner; a cell holding any
    person pixel is at distance 0; others get the exact Euclidean distance between their centre
    and the nearest such cell's centre, times ``f``.
    """
    if mask.dtype != np.uint8:
        mask = (mask != 0).view(np.uint8)
    h, w = mask.shape
    f = int(factor)
    box = box if box is not None else mask_box(mask)
    if box is None:
        raise ValueError("person_distance needs a non-empty mask")
    if f == 1:
        src = cv2.compare(mask, 0, cv2.CMP_EQ)  # 0 on the person, 255 elsewhere
    else:
        x0, y0, x1, y1 = box
        cx0, cy0, cx1, cy1 = x0 // f, y0 // f, -(-x1 // f), -(-y1 // f)
        sub = cv2.compare(mask[cy0 * f: cy1 * f, cx0 * f: cx1 * f], 0, cv2.CMP_NE)
        # Each cell's maximum: dilate towards the top-left, keep each cell's first pixel.
        cells = cv2.dilate(sub, np.ones((f, f), np.uint8), anchor=(0, 0))[::f, ::f]
        src = np.full((-(-h // f), -(-w // f)), 255, np.uint8)
        src[cy0:cy1, cx0:cx1] = 255 - cells
    dist = cv2.distanceTransform(src, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # Squared distances between cell centres are whole numbers of cells: rounding them drops
    # the last-bit noise OpenCV's result can have (it varies with the buffers' alignment), so
    # that ties between persons, and renders, are reproducible.
    np.sqrt(np.rint(dist * dist), out=dist)
    return dist * np.float32(f) if f > 1 else dist


def seam_cells(seam_px: float, factor: int) -> int:
    """The box filter's size in grid cells: the odd number nearest ``seam_px / factor``, ties
    going up (1 is no blend): ``2 * floor(seam_px / (2 * factor)) + 1``."""
    return 2 * math.floor(seam_px / (2.0 * factor)) + 1


def partition_weights(distances: Sequence[np.ndarray], groups: Sequence[int], n_groups: int,
                      seam_px: float, factor: int = 1) -> np.ndarray:
    """Each group's weight per cell: (n_groups, gh, gw) float32, summing to 1 per cell.

    ``distances[i]``: (gh, gw) distance of owner ``i`` (pixels; a constant array for the reach);
    ``groups[i]``: the group (background) owner ``i`` belongs to.  Each cell goes to its
    nearest owner (ties: the first); each group's indicator is then box-filtered over
    :func:`seam_cells` cells (edges replicated), see the module docstring.
    """
    best = np.array(distances[0], np.float32)
    label = np.full(best.shape, groups[0], np.intp)
    for d, g in zip(distances[1:], groups[1:], strict=True):
        nearer = d < best  # strictly: ties stay with the earlier owner
        np.copyto(best, d, where=nearer)
        label[nearer] = g
    k = seam_cells(seam_px, factor)
    out = np.empty((n_groups, *best.shape), np.float32)
    for g in range(n_groups):
        ind = (label == g).astype(np.float32)
        out[g] = cv2.blur(ind, (k, k), borderType=cv2.BORDER_REPLICATE) if k > 1 else ind
    return out


# -- the per-frame background ------------------------------------------------------------------


@dataclass(frozen=True)
class OriginalFrame(Background):
    """The original frame itself, as a background (where a person's background is
    ``original``)."""

    @property
    def spec(self) -> str:
        return ORIGINAL

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        w, h = res.size
        return BackgroundLayer(frame_tex, uv_scale=(1.0 / w, 1.0 / h))


@dataclass(frozen=True, eq=False)
class PartitionedBackground(Background):
    """One frame's backgrounds and their weights (made by :meth:`PersonBackgrounds.for_frame`).

    ``layers``: ``(key, background or None for the original frame, weights)``, ``weights``
    (gh, gw) float32 on the grid of ``factor``-pixel cells (see :func:`person_distance`);
    ``key`` names the background's child resources (stable across frames).  :attr:`spec`
    describes it; it is not a :func:`~effects.backgrounds.parse_background` string.
    """

    layers: tuple[tuple[str, Background | None, np.ndarray], ...]
    factor: int

    @property
    def spec(self) -> str:
        parts = (f"{k}={bg.spec if bg is not None else ORIGINAL}" for k, bg, _ in self.layers)
        return f"partition({', '.join(parts)})"

    def render(self, res, frame_tex, frame_index, time) -> BackgroundLayer:
        w, h = res.size
        layers = [(bg if bg is not None else OriginalFrame()).render(
            res.child(f"partition.{key}"), frame_tex, frame_index, time)
            for key, bg, _ in self.layers]
        out = res.target("partition.out", (w, h), 4, "f4")
        ctx: moderngl.Context = res.ctx
        gh, gw = self.layers[0][2].shape
        for start in range(0, len(layers), PASS_GROUPS):  # one pass, unless > 4 backgrounds
            chunk = layers[start:start + PASS_GROUPS]
            defines: dict[str, None | int] = {"GROUPS": len(chunk)}
            defines.update({f"SOLID_{j}": None for j, la in enumerate(chunk) if la.color is not None})
            prog = res.shaders.program("bg_partition", defines)
            for j, layer in enumerate(chunk):
                if layer.color is not None:
                    prog[f"u_color{j}"] = layer.color
                else:
                    assert layer.texture is not None
                    layer.texture.use(1 + j)
                    prog[f"u_bg{j}"] = 1 + j
                    prog[f"u_uv{j}"] = (*layer.uv_scale, *layer.uv_offset)
            grid = np.zeros((gh, gw, 4), np.float32)
            for j in range(len(chunk)):
                grid[..., j] = self.layers[start + j][2]
            res.slot(f"partition.weight.{start}", linear=True).upload(grid).use(0)
            prog["u_weight"] = 0
            prog["u_weight_scale"] = (1.0 / (gw * self.factor), 1.0 / (gh * self.factor))
            if start:
                ctx.enable(moderngl.BLEND)
                ctx.blend_equation = moderngl.FUNC_ADD
                ctx.blend_func = moderngl.ONE, moderngl.ONE
            try:
                draw_fullscreen(res.fullscreen(prog), out.fbo)
            finally:
                ctx.disable(moderngl.BLEND)
        return BackgroundLayer(out.texture, uv_scale=(1.0 / w, 1.0 / h))


@dataclass(frozen=True, init=False)
class PersonBackgrounds:
    """The default background and the persons' own (see the module docstring).

    ``default``: the background of every pixel no owner with a background of their own claims
    (None: the original frame).  ``per_person``: ``(track id, background or None for the
    original frame)`` pairs, sorted by id.  ``seam_px``: blend width (0..1000 px).
    ``reach_px``: None (every pixel goes to its nearest owner) or the distance beyond which
    the default shows.  ``grid_limit``: see :func:`grid_factor`.  Video backgrounds must be
    resolved into :class:`~effects.backgrounds.VideoBackground` values first (editor_plugin).
    """

    default: Background | None
    per_person: tuple[tuple[int, Background | None], ...]
    seam_px: float
    reach_px: float | None
    grid_limit: int

    def __init__(self, default: Background | None,
                 per_person: Mapping[int, Background | None] | None = None, *,
                 seam_px: float = DEFAULT_SEAM_PX, reach_px: float | None = None,
                 grid_limit: int = GRID_LIMIT):
        pp = tuple(sorted((int(k), v) for k, v in (per_person or {}).items()))
        for k, v in pp:
            if v is not None and not isinstance(v, Background):
                raise TypeError(f"person {k}'s background must be a Background (open video "
                                f"specs first), not {v!r}")
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "per_person", pp)
        object.__setattr__(self, "seam_px", check_seam(seam_px))
        object.__setattr__(self, "reach_px", check_reach(reach_px))
        object.__setattr__(self, "grid_limit", max(1, int(grid_limit)))

    def _group_key(self, track_id: int) -> str:
        """The child-resources key of ``track_id``'s background: ``default`` when it has none
        of its own or the same as the default, else ``p<id>`` of the first person with an equal
        background (equal backgrounds are drawn once)."""
        own = dict(self.per_person)
        if track_id not in own or own[track_id] == self.default:
            return "default"
        bg = own[track_id]
        return f"p{next(k for k, v in self.per_person if v == bg)}"

    def for_frame(self, masks: Mapping[int, np.ndarray]) -> Background | None:
        """The background of one frame whose owners (persons drawn over the background) have
        ``masks`` (track id -> (H, W), non-zero = the person; empty masks own nothing).

        Returns ``default`` when no owner present has a background of their own, a single
        background when only one gets any weight, else a :class:`PartitionedBackground`.
        None means the original frame.
        """
        own = dict(self.per_person)
        if not any(k in own for k in masks):
            return self.default  # the common case: nothing to compute
        present = [(k, m, box) for k, m in sorted(masks.items())
                   if m is not None and (box := mask_box(m)) is not None]
        if not any(k in own for k, _, _ in present):
            return self.default
        h, w = present[0][1].shape
        f = grid_factor(w, h, self.grid_limit)
        keys: list[str] = []
        backgrounds: dict[str, Background | None] = {"default": self.default}
        distances: list[np.ndarray] = []
        groups: list[int] = []
        for k, m, box in present:
            if m.shape != (h, w):
                raise ValueError(f"person {k}: mask {m.shape} != {(h, w)}")
            key = self._group_key(k)
            backgrounds.setdefault(key, own.get(k))
            if key not in keys:
                keys.append(key)
            groups.append(keys.index(key))
            distances.append(person_distance(m, f, box))
        if self.reach_px is not None:
            if "default" not in keys:
                keys.append("default")
            groups.append(keys.index("default"))
            distances.append(np.full(distances[0].shape, self.reach_px, np.float32))
        weights = partition_weights(distances, groups, len(keys), self.seam_px, f)
        used = [i for i in range(len(keys)) if weights[i].max() > 0]
        if len(used) == 1:
            return backgrounds[keys[used[0]]]
        return PartitionedBackground(
            tuple((keys[i], backgrounds[keys[i]], weights[i]) for i in used), f)
