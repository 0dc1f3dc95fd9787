"""Per-frame evaluation of an effect stack: depth order and behind / in-front layering.

An :class:`EffectStack` is an immutable description: effects per person (by track id) and
effects for everyone, each list applied in order, plus optional depth overrides.  A
:class:`StackRenderer` turns it into pixels, frame by frame, in a float RGBA canvas:

1. **background** -- the :class:`~effects.backgrounds.Background` shown behind the layered
   persons (as :class:`~effects.compositor.Compositor` does), or the original frame;
2. **behind effects** -- every :class:`~effects.model.OverlayEffect` with ``layer='behind'``,
   person by person from the back to the front;
3. **persons** -- each layered person's pixels (after their
   :class:`~effects.model.PersonModifier` effects) through their mask, back to front, so a
   nearer person covers a farther one where their masks overlap and everything drawn in step 2
   is hidden exactly where a mask covers it;
4. **in-front effects** -- every overlay with ``layer='front'``, back to front;

then rounded to 8 bits.  Depth: a person's key is the largest y of their usable ankles, else
the bottom of their box (:func:`depth_key`); larger is nearer the camera.  ``depth_override``
replaces the key of the persons it names.  Ties go by track id.  Within a person, effects for
everyone come first, then the person's own, each in list order.  A person absent from a frame
gets no effects that frame.

Only the rectangles something is drawn on go through the float canvas
(:mod:`effects.canvas`); everywhere else the output is the background, and inside a person
who is opaque there (and has no colour modifiers) the frame, rounded the same way.
:meth:`StackRenderer.render` copies those parts from the CPU when the background is there
already (the frame, a colour, an image, a blur resampled by OpenCV on a software renderer) and
reads back only the rest from GL: on llvmpipe a full-frame GL pass costs several milliseconds.

Each person's refined matte comes from :class:`~effects.person_mattes.PersonMattes` (also
importable from here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import moderngl
import numpy as np

from effects.anchors import PoseHistory
from effects.backgrounds import Background, BackgroundLayer
from effects.canvas import (
    CanvasRegions,
    Rect,
    complement,
    opaque_core,
    rect_quads,
    tile_rects,
)
from effects.gl import OutputSurface, RenderTarget, draw_fullscreen
from effects.model import (
    Effect,
    FxContext,
    Geometry,
    OverlayEffect,
    PersonModifier,
    PersonState,
)
from effects.person_mattes import PersonMattes
from effects.shaders import ShaderLibrary
from inference.cache.layers import PersonLayer
from inference.tracks.model import COCO_KEYPOINTS, V_NONE

log = logging.getLogger(__name__)

_ANKLES = [COCO_KEYPOINTS.index("left_ankle"), COCO_KEYPOINTS.index("right_ankle")]
#: The texture unit the background is bound to when it fills the canvas (which can happen in
#: the middle of an effect's :meth:`~effects.model.FxContext.draw_over`, after the effect has
#: bound its own textures): effects use units 0..14.
BASE_TEXTURE_UNIT = 15
#: Side of the blocks a person is drawn in (those their matte does not touch are skipped).
_PERSON_TILE = 16


def depth_key(person: PersonLayer) -> float:
    """Foot position in pixels: the largest y of the usable ankles, else the box's bottom."""
    kp = np.asarray(person.keypoints, np.float64).reshape(-1, 3)[_ANKLES]
    usable = kp[kp[:, 2] > V_NONE]
    if len(usable):
        return float(usable[:, 1].max())
    return float(person.bbox[1] + person.bbox[3])


@dataclass(frozen=True, init=False)
class EffectStack:
    """Effects per person (``per_person``: track id -> effects) and for ``everyone``.

    ``depth_override``: track id -> depth key (pixels, larger is nearer) replacing
    :func:`depth_key` for that person.  Immutable; build new stacks with :meth:`with_effects`.
    """

    per_person: tuple[tuple[int, tuple[Effect, ...]], ...]
    everyone: tuple[Effect, ...]
    depth_override: tuple[tuple[int, float], ...]

    def __init__(
        self,
        per_person: Mapping[int, Iterable[Effect]] | None = None,
        everyone: Iterable[Effect] = (),
        depth_override: Mapping[int, float] | None = None,
    ):
        pp = tuple(sorted((int(k), tuple(v)) for k, v in (per_person or {}).items()))
        ev = tuple(everyone)
        for e in (*ev, *(x for _, v in pp for x in v)):
            if not isinstance(e, Effect):
                raise TypeError(f"an effect stack holds Effect values, not {e!r}")
        object.__setattr__(self, "per_person", pp)
        object.__setattr__(self, "everyone", ev)
        object.__setattr__(
            self,
            "depth_override",
            tuple(sorted((int(k), float(v)) for k, v in (depth_override or {}).items())),
        )

    def effects_for(self, track_id: int) -> tuple[Effect, ...]:
        """Everyone's effects, then ``track_id``'s own, in order."""
        own = dict(self.per_person).get(track_id, ())
        return self.everyone + own

    def with_effects(self, track_id: int | None, *effects: Effect) -> EffectStack:
        """A stack with ``effects`` appended to ``track_id``'s list (None: everyone's)."""
        pp = {k: list(v) for k, v in self.per_person}
        ev = list(self.everyone)
        (ev if track_id is None else pp.setdefault(track_id, [])).extend(effects)
        return EffectStack(pp, ev, dict(self.depth_override))

    def at(self, time: Fraction) -> EffectStack:
        """Every effect at clip ``time`` (see :meth:`Effect.at <effects.model.Effect.at>`)."""
        return EffectStack(
            {k: [e.at(time) for e in v] for k, v in self.per_person},
            [e.at(time) for e in self.everyone],
            dict(self.depth_override),
        )

    def lookback(self) -> int:
        """Frames of pose history the stack reads (the maximum over its effects)."""
        effects = (*self.everyone, *(e for _, v in self.per_person for e in v))
        return max((e.lookback() for e in effects), default=0)

    def order(self, persons: Sequence[PersonLayer]) -> list[PersonLayer]:
        """``persons`` sorted back to front (depth key, then track id)."""
        override = dict(self.depth_override)
        return sorted(persons, key=lambda p: (override.get(p.track_id, depth_key(p)), p.track_id))


class StackRenderer(OutputSurface):
    """Renders frames of one size through an :class:`EffectStack` (see the module docstring).

    GL objects persist between frames and are reallocated only when the size changes.
    ``history`` (default: a new :class:`~effects.anchors.PoseHistory`) receives every rendered
    frame's persons; give one with a ``source`` for random access.  Not thread-safe.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        width: int,
        height: int,
        shaders: ShaderLibrary | None = None,
        history: PoseHistory | None = None,
    ):
        self.history = history if history is not None else PoseHistory()
        self.geometry = Geometry(ctx)
        super().__init__(ctx, width, height, shaders)

    def render_to_target(
        self,
        frame: np.ndarray,
        persons: Sequence[PersonLayer],
        stack: EffectStack,
        *,
        frame_index: int,
        time: Fraction,
        background: Background | None = None,
        selected: Iterable[int] | None = None,
        refine: str = "none",
        feather_px: float = 1.5,
        mattes: PersonMattes | None = None,
    ) -> RenderTarget:
        """Render one frame into an RGBA8 target of the output size (no readback).

        ``frame``: (H, W, 3) uint8 RGB.  ``persons``: the persons present in this frame (masks
        (H, W), any non-zero value is the person; ``None``: not layered).  ``selected``: the
        track ids drawn as person layers over the background (None: every person with a mask).
        ``background=None`` keeps the original frame.  ``refine``/``feather_px`` soften each
        person's matte as :func:`effects.matte.build_alpha` does.  ``mattes``: the stream's
        :class:`PersonMattes` (all matte controls, temporal state across frames); when given,
        ``refine``/``feather_px`` are ignored.
        """
        out, base, framed, regions = self._render(
            frame, persons, stack, frame_index=frame_index, time=time, background=background,
            selected=selected, refine=refine, feather_px=feather_px, mattes=mattes)
        self._draw_rest(base, framed, regions, out)
        return out

    def render(
        self,
        frame: np.ndarray,
        persons: Sequence[PersonLayer],
        stack: EffectStack,
        *,
        frame_index: int,
        time: Fraction,
        background: Background | None = None,
        selected: Iterable[int] | None = None,
        refine: str = "none",
        feather_px: float = 1.5,
        mattes: PersonMattes | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`render_to_target`, read back as (H, W, 3) uint8 RGB (into ``out`` if given).

        Where no effect or person was drawn the result is the background, and inside an
        opaque person with nothing drawn over it the frame; when the background is on the CPU
        already (:attr:`BackgroundLayer.image <effects.backgrounds.BackgroundLayer.image>`, a
        colour, the frame itself) both are copied from there and only the rest is read back:
        the same pixels, without GL passes over the whole frame.
        """
        target, base, framed, regions = self._render(
            frame, persons, stack, frame_index=frame_index, time=time, background=background,
            selected=selected, refine=refine, feather_px=feather_px, mattes=mattes)
        pixels = base.pixels()
        if pixels is None or regions.full:
            self._draw_rest(base, framed, regions, target)
            return self.read(target, out)
        out = self.read_over(target, pixels, regions.rects, out)
        for x0, y0, x1, y1 in regions.frame_rects:
            out[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
        return out

    def _render(
        self,
        frame: np.ndarray,
        persons: Sequence[PersonLayer],
        stack: EffectStack,
        *,
        frame_index: int,
        time: Fraction,
        background: Background | None,
        selected: Iterable[int] | None,
        refine: str,
        feather_px: float,
        mattes: PersonMattes | None,
    ) -> tuple[RenderTarget, BackgroundLayer, BackgroundLayer, CanvasRegions]:
        """Everything but what is outside the live canvas (see :class:`CanvasRegions`):
        (output target, the background layer, the frame as a layer, the canvas regions)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        persons = list(persons)
        self.resize(w, h)
        res = self.resources
        frame_tex = res.slot("frame", linear=True).upload(np.ascontiguousarray(frame))
        # Keep at least the frames the effects look back over (plus the current one).
        self.history.capacity = max(self.history.capacity, stack.lookback() + 1)
        self.history.add(frame_index, persons)
        concrete = stack.at(time)
        chosen = None if selected is None else set(selected)
        if mattes is None:
            mattes_ = PersonMattes(refine, feather_px)
        else:
            mattes_ = mattes
        mattes_.begin_frame(frame_index)

        states: list[PersonState] = []
        person_mattes: dict[int, np.ndarray] = {}
        for p in concrete.order(persons):
            box = None
            if p.mask is not None:
                if p.mask.shape != (h, w):
                    raise ValueError(f"person {p.track_id}: mask {p.mask.shape} != frame {(h, w)}")
                got = mattes_.matte(p.track_id, p.mask, frame, frame_index)
                if got is not None:
                    box, person_mattes[p.track_id] = got
            states.append(PersonState(p, depth_key(p), box))
        effects = {s.track_id: concrete.effects_for(s.track_id) for s in states}
        self._register_shader_dirs(e for v in effects.values() for e in v)

        canvas = res.target("fx.canvas", (w, h), 4, "f4")
        base = self._base_layer(frame, frame_tex, background, frame_index, time)
        framed = BackgroundLayer(frame_tex, uv_scale=(1.0 / w, 1.0 / h), image=frame)
        regions = CanvasRegions((w, h), lambda rects, from_frame: self._draw_base(
            framed if from_frame else base, canvas, rects))
        fx = FxContext(res, canvas, frame_tex, frame_index, time, self.history, self.geometry,
                       regions=regions)
        drawn = [(i, s, person_mattes[s.track_id]) for i, s in enumerate(states)
                 if s.track_id in person_mattes and (chosen is None or s.track_id in chosen)]
        # Where a person without colour modifiers is opaque, the result is the frame's pixels
        # whatever is drawn behind: the canvas is not needed there (unless drawn on later).
        cores: dict[int, Rect] = {}
        for _, s, matte in drawn:
            if s.box is not None and not any(isinstance(e, PersonModifier)
                                             for e in effects[s.track_id]):
                core = opaque_core(matte, _PERSON_TILE, (s.box[0], s.box[1]))
                if core is not None:
                    cores[s.track_id] = core
                    regions.reserve(core)
        self._overlays(fx, states, effects, "behind")
        for i, s, matte in drawn:
            self._draw_person(fx, s, matte, i, effects[s.track_id], cores.get(s.track_id))
        self._overlays(fx, states, effects, "front")

        out = res.target("fx.out", (w, h))
        if regions.rects:
            prog = self.shaders.program("fx_resolve")
            prog["u_canvas"] = 0
            canvas.texture.use(0)
            self._draw(prog, out, None if regions.full else regions.rects)
        return out, base, framed, regions

    # -- passes ------------------------------------------------------------------------------

    def _register_shader_dirs(self, effects: Iterable[Effect]) -> None:
        for cls in {type(e) for e in effects}:
            d = cls.shader_dir
            if d is not None and d not in self.shaders.search_path:
                self.shaders.add_directory(d)
                log.debug("shader directory %s added for effect %s", d, cls.label())

    def _base_layer(
        self,
        frame: np.ndarray,
        frame_tex: moderngl.Texture,
        background: Background | None,
        frame_index: int,
        time: Fraction,
    ) -> BackgroundLayer:
        """This frame's background (the original frame when ``background`` is None)."""
        res = self.resources
        if background is None:
            w, h = res.size
            return BackgroundLayer(frame_tex, uv_scale=(1.0 / w, 1.0 / h), image=frame)
        return background.render(res, frame_tex, frame_index, time)

    def _draw_base(
        self,
        layer: BackgroundLayer,
        target: RenderTarget,
        rects: list[Rect] | None,
        *,
        resolve: bool = False,
    ) -> None:
        """Draw ``layer`` unblended into ``target`` over ``rects`` (None: everywhere); with
        ``resolve`` rounded to 8 bits as the canvas's resolve pass rounds (``fx_base.glsl``)."""
        defines: dict[str, None] = {}
        if layer.color is not None:
            defines["SOLID_BACKGROUND"] = None
        if resolve:
            defines["RESOLVE"] = None
        prog = self.shaders.program("fx_base", defines)
        if layer.color is not None:
            prog["u_color"] = layer.color
        else:
            assert layer.texture is not None
            prog["u_background"] = BASE_TEXTURE_UNIT
            prog["u_uv_scale"] = layer.uv_scale
            prog["u_uv_offset"] = layer.uv_offset
            layer.texture.use(BASE_TEXTURE_UNIT)
        self._draw(prog, target, rects)

    def _draw(self, prog: moderngl.Program, target: RenderTarget, rects: list[Rect] | None
              ) -> None:
        """Run ``prog`` (blending off) over ``rects`` of ``target``, or all of it (None)."""
        vao = self.resources.fullscreen(prog)
        for rect in [None] if rects is None else rects:
            draw_fullscreen(vao, target.fbo, rect)

    def _draw_rest(self, base: BackgroundLayer, framed: BackgroundLayer, regions: CanvasRegions,
                   out: RenderTarget) -> None:
        """Into ``out``, rounded as the canvas is resolved: the frame (``framed``) over the
        canvas's frame rectangles, the background everywhere else the canvas is not live."""
        if regions.full:
            return
        frame_rects = regions.frame_rects
        done = regions.rects + frame_rects
        self._draw_base(base, out, complement(done, regions.size) if done else None,
                        resolve=True)
        if frame_rects:
            self._draw_base(framed, out, frame_rects, resolve=True)

    @staticmethod
    def _overlays(
        fx: FxContext, states: list[PersonState], effects: dict[int, tuple[Effect, ...]], layer: str
    ) -> None:
        for s in states:
            for e in effects[s.track_id]:
                if isinstance(e, OverlayEffect) and e.layer == layer:
                    e.draw(fx, s)

    def _draw_person(
        self,
        fx: FxContext,
        s: PersonState,
        matte: np.ndarray,
        i: int,
        effects: tuple[Effect, ...],
        core: Rect | None,
    ) -> None:
        """Draw person ``s`` over the canvas in the blocks of their box the matte touches
        (blending a zero matte changes nothing), but for ``core``, a rectangle of those blocks
        where the matte is opaque and the colours are the frame's: that is claimed as the
        frame's pixels (see :meth:`CanvasRegions.claim`) instead."""
        assert s.box is not None and fx.regions is not None
        x0, y0 = s.box[:2]
        active = matte
        if core is not None:
            active = matte != 0
            active[core[1] - y0 : core[3] - y0, core[0] - x0 : core[2] - x0] = False
        rects = tile_rects(active, _PERSON_TILE, (x0, y0))
        if len(rects):
            self._draw_matted(fx, s, matte, i, effects, rects)
        if core is not None:  # after drawing, so that the draw does not fill it
            fx.regions.claim(core)

    def _draw_matted(self, fx: FxContext, s: PersonState, matte: np.ndarray, i: int,
                     effects: tuple[Effect, ...], rects: np.ndarray) -> None:
        """Person ``s``, their modifiers applied, over ``rects`` of the canvas through
        ``matte`` (over their box)."""
        res = self.resources
        assert s.box is not None
        x0, y0, x1, y1 = s.box
        color: moderngl.Texture = fx.frame_tex
        offset = (0, 0)
        modifiers = [e for e in effects if isinstance(e, PersonModifier)]
        for k, e in enumerate(modifiers):
            dst = res.target(f"fx.person.{k % 2}", (x1 - x0, y1 - y0), 4, "f4")
            e.modify(fx, s, color, offset, dst)
            color, offset = dst.texture, (x0, y0)
        mask_tex = res.slot(f"fx.matte.{i}").upload(matte)
        prog = fx.program("fx_person")
        prog["u_color"] = 0
        prog["u_color_offset"] = offset
        prog["u_mask"] = 1
        prog["u_mask_origin"] = (x0, y0)
        color.use(0)
        mask_tex.use(1)
        fx.draw_over(prog, rect_quads(rects), ("in_pos",))

    def release(self) -> None:
        """Release the GL objects (not the shader library's programs)."""
        super().release()
        self.geometry.release()
