"""The drawing context effects get each frame, and the person they draw for.

:class:`FxContext` is what an effect's :meth:`~effects.model.OverlayEffect.draw` or
:meth:`~effects.model.PersonModifier.modify` draws with (GL resources, the float canvas, the
frame, clip time, pose history); :class:`PersonState` is the person it draws for.
:class:`Geometry` is the reusable vertex buffer behind :meth:`FxContext.draw_over`, and
:func:`quad` / :func:`rgb01` are small helpers for effects.  Positions are image pixels
(x right, y down).  Everything here is re-exported by :mod:`effects.model`, where it used to live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import moderngl
import numpy as np

if TYPE_CHECKING:
    from effects.anchors import PoseHistory
    from effects.canvas import CanvasRegions
    from effects.gl import RenderResources, RenderTarget
    from inference.cache.layers import PersonLayer


@dataclass
class PersonState:
    """One person in the frame being rendered.

    ``layer``: the cached person (keypoints, bbox, mask (H, W) uint8 0/1 or None).  ``depth``:
    the depth key (larger is nearer the camera, see :func:`effects.stack.depth_key`).
    ``box``: ``(x0, y0, x1, y1)`` in integer pixels, end-exclusive, outside which the person's
    matte is zero (the mask's bounding box, grown by the feather when the matte is softened);
    ``None`` when the person has no (or an empty) mask.
    """

    layer: PersonLayer
    depth: float
    box: tuple[int, int, int, int] | None

    @property
    def track_id(self) -> int:
        return self.layer.track_id


class FxContext:
    """What an effect gets to draw one frame: GL resources, the canvas, the frame, time, history.

    ``canvas`` is the float RGBA render target the stack composites into (image space, see
    :mod:`effects.gl`); ``frame_tex`` the uploaded original frame (RGBA8); ``history`` the
    pose history for effects that look back in time.  ``scratch`` is a per-frame dict for
    caches shared between effects (e.g. a person's distance field).

    ``regions`` (a :class:`~effects.canvas.CanvasRegions`): the canvas holds the background
    only where it is live; :meth:`draw_over` makes the rectangle it draws on live first (and
    :meth:`draw_over_fullscreen` the whole canvas), but for the parts an opaque person drawn
    later hides.  Reading :attr:`canvas` to draw on it directly makes the whole canvas live
    (correct, but the slow path).  ``None``: the whole canvas is live already.  Making a
    rectangle live binds texture unit 15 (:data:`effects.stack.BASE_TEXTURE_UNIT`): effects
    bind their textures to units 0..14.
    """

    def __init__(
        self,
        res: RenderResources,
        canvas: RenderTarget,
        frame_tex: moderngl.Texture,
        frame_index: int,
        time: Fraction,
        history: PoseHistory,
        geometry: Geometry,
        *,
        regions: CanvasRegions | None = None,
    ):
        self.res = res
        self.ctx = res.ctx
        self._canvas = canvas
        self.regions = regions
        self.frame_tex = frame_tex
        self.frame_index = frame_index
        self.time = time
        self.history = history
        self.geometry = geometry
        self.scratch: dict[Any, Any] = {}

    @property
    def canvas(self) -> RenderTarget:
        """The float canvas, all of it live (see the class docstring)."""
        if self.regions is not None:
            self.regions.ensure_all()
        return self._canvas

    @property
    def size(self) -> tuple[int, int]:
        """Output ``(width, height)`` in pixels."""
        return self.res.size

    def slot_key(self, kind: str) -> str:
        """``"fx.<kind>.<n>"`` for the n-th call with ``kind`` in this frame: a texture slot
        name (:meth:`RenderResources.slot <effects.gl.RenderResources.slot>`) that the same
        effect gets again next frame, so unchanged images need no new upload."""
        n = self.scratch.get(("slot", kind), 0)
        self.scratch[("slot", kind)] = n + 1
        return f"fx.{kind}.{n}"

    def program(self, name: str, defines: Mapping[str, Any] | None = None) -> moderngl.Program:
        """The shader library's program ``<name>.glsl`` (with ``u_size`` set if it has one)."""
        prog = self.res.shaders.program(name, defines)
        if "u_size" in prog:
            prog["u_size"] = tuple(float(v) for v in self.size)
        return prog

    def draw_over(
        self,
        prog: moderngl.Program,
        vertices: np.ndarray,
        attrs: tuple[str, ...],
        *,
        extent: tuple[float, float, float, float] | None = None,
    ) -> None:
        """Blend triangles (premultiplied "over") onto the canvas.

        ``vertices``: (n, k) float32 rows, 3 per triangle; ``attrs`` names the program's vertex
        inputs, each a float vector, in column order (their widths are inferred from the
        program).  Positions are image pixels (x right, y down), converted by the shader.

        The draw is confined (scissored) to ``extent`` = ``(x0, y0, x1, y1)`` image pixels,
        by default the bounding box of the ``in_pos`` column (no ``in_pos``: the whole
        canvas); a program that moves its vertices away from ``in_pos`` must pass ``extent``.
        """
        if extent is None:
            from effects.canvas import position_extent

            col = None
            if "in_pos" in attrs:
                col = sum(prog[a].dimension for a in attrs[: attrs.index("in_pos")])
            extent = position_extent(vertices, col, self.size)
        if extent is None:
            return
        target = self._canvas
        if self.regions is not None:
            rect = self.regions.ensure(extent)
            if rect is None:
                return
            x0, y0, x1, y1 = rect
            target.fbo.scissor = (x0, y0, x1 - x0, y1 - y0)
        try:
            with _blending(self.ctx):
                self.geometry.draw(prog, vertices, attrs, target.fbo)
        finally:
            target.fbo.scissor = None

    def draw_over_fullscreen(self, prog: moderngl.Program) -> None:
        """Blend a full-canvas pass (premultiplied "over")."""
        from effects.gl import draw_fullscreen

        with _blending(self.ctx):
            draw_fullscreen(self.res.fullscreen(prog), self.canvas.fbo)


class _blending:
    """Context manager: premultiplied-alpha "over" blending on, restored to off on exit."""

    def __init__(self, ctx: moderngl.Context):
        self.ctx = ctx

    def __enter__(self) -> None:
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_equation = moderngl.FUNC_ADD
        self.ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA

    def __exit__(self, *exc: object) -> None:
        self.ctx.disable(moderngl.BLEND)


class Geometry:
    """One growable vertex buffer and the vertex arrays that read it, reused every frame."""

    def __init__(self, ctx: moderngl.Context):
        self.ctx = ctx
        self.buffer = ctx.buffer(reserve=64 * 1024, dynamic=True)
        self._vaos: dict[tuple, tuple[moderngl.Program, moderngl.VertexArray]] = {}

    def draw(
        self,
        prog: moderngl.Program,
        vertices: np.ndarray,
        attrs: tuple[str, ...],
        fbo: moderngl.Framebuffer,
    ) -> None:
        data = np.ascontiguousarray(vertices, dtype=np.float32)
        if data.ndim != 2 or data.shape[0] % 3:
            raise ValueError(f"vertices must be (3n, k) float32, got {vertices.shape}")
        if data.shape[0] == 0:
            return
        widths = [prog[a].dimension for a in attrs]
        if sum(widths) != data.shape[1]:
            raise ValueError(f"vertex columns {data.shape[1]} != {attrs} widths {widths}")
        if data.nbytes > self.buffer.size:
            self.buffer.orphan(max(data.nbytes, 2 * self.buffer.size))
        self.buffer.write(data)
        key = (id(prog), attrs)
        hit = self._vaos.get(key)
        if hit is None or hit[0] is not prog:
            fmt = " ".join(f"{w}f" for w in widths)
            vao = self.ctx.vertex_array(prog, [(self.buffer, fmt, *attrs)])
            self._vaos[key] = hit = (prog, vao)
        fbo.use()
        hit[1].render(moderngl.TRIANGLES, vertices=data.shape[0])

    def release(self) -> None:
        for _, vao in self._vaos.values():
            vao.release()
        self._vaos.clear()
        self.buffer.release()


def quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Two triangles covering the axis-aligned box, as (6, 2) float32 pixel positions."""
    return np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def rgb01(color: tuple[float, ...]) -> tuple[float, float, float]:
    """An (r, g, b) colour parameter in 0..255 as floats in 0..1."""
    return (color[0] / 255.0, color[1] / 255.0, color[2] / 255.0)
