"""The per-frame GL compositor: original frame over a background through an alpha matte.

``out = alpha * frame + (1 - alpha) * background`` per pixel and channel, computed in float on
the GPU (or Mesa's llvmpipe) and rounded to the nearest 8-bit value.  All images are NumPy
arrays in image space, top row first; see :mod:`effects.gl` for why nothing is ever flipped.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import cv2
import moderngl
import numpy as np

from effects.backgrounds import Background, BackgroundLayer
from effects.gl import OutputSurface, RenderTarget, draw_fullscreen
from effects.shaders import ShaderLibrary

log = logging.getLogger(__name__)


class Compositor(OutputSurface):
    """Composites frames of one size, keeping its textures and framebuffers between frames.

    GL objects are (re)allocated only when the frame size changes (``composite`` adapts to
    the size of the frame it gets).  Not thread-safe: use it from the thread that owns ``ctx``.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        width: int,
        height: int,
        shaders: ShaderLibrary | None = None,
    ):
        super().__init__(ctx, width, height, shaders)
        self._programs = {
            solid: self.shaders.program("composite", {"SOLID_BACKGROUND": None} if solid else {})
            for solid in (False, True)
        }
        for prog in self._programs.values():
            prog["u_frame"] = 0
            prog["u_alpha"] = 1
        self._programs[False]["u_background"] = 2

    def composite_to_target(
        self,
        frame: np.ndarray,
        alpha: np.ndarray,
        background: Background,
        *,
        frame_index: int,
        time: Fraction,
    ) -> RenderTarget:
        """Composite into the compositor's RGBA8 output target and return it (no readback).

        For GL consumers (previews, effects drawn on top).  Arguments as :meth:`composite`.
        """
        frame, alpha = _check_inputs(frame, alpha)
        out, _, _ = self._composite(frame, alpha, background, frame_index, time, False)
        return out

    def composite(
        self,
        frame: np.ndarray,
        alpha: np.ndarray,
        background: Background,
        *,
        frame_index: int,
        time: Fraction,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``alpha * frame + (1 - alpha) * background``, as (H, W, 3) uint8 RGB.

        ``frame``: (H, W, 3) uint8 RGB, top row first.  ``alpha``: (H, W), uint8 (255 keeps
        the frame pixel, i.e. a selected person; 0 shows the background), float32 in [0, 1],
        or bool.  ``frame_index`` / ``time`` (exact clip time in seconds) drive time-dependent
        backgrounds.

        Returns a new array, or fills and returns ``out`` (a C-contiguous (H, W, 3) uint8
        array) when given.  The GL readback always goes into a preallocated staging buffer.
        When the background is on the CPU already
        (:attr:`BackgroundLayer.image <effects.backgrounds.BackgroundLayer.image>`, a colour)
        only the box of the non-zero alpha is composited in GL and read back, the rest is
        copied from there: the same pixels as :meth:`composite_to_target`.
        """
        frame, alpha = _check_inputs(frame, alpha)
        target, layer, box = self._composite(frame, alpha, background, frame_index, time, True)
        pixels = layer.pixels()
        if box is None or pixels is None:
            return self.read(target, out)
        return self.read_over(target, pixels, [box] if box[2] > box[0] else [], out)

    def _composite(
        self,
        frame: np.ndarray,
        alpha: np.ndarray,
        background: Background,
        frame_index: int,
        time: Fraction,
        partial: bool,
    ) -> tuple[RenderTarget, BackgroundLayer, tuple[int, int, int, int] | None]:
        """The composite in the output target, everywhere; or, with ``partial`` and the
        background's pixels on the CPU, only inside the box of the non-zero alpha, which is
        returned too (``(x0, y0, x1, y1)``, end-exclusive; empty when the alpha is all 0)."""
        h, w = frame.shape[:2]
        self.resize(w, h)
        res = self.resources
        frame_tex = res.slot("frame", linear=True).upload(frame)
        key = "alpha.f4" if alpha.dtype == np.float32 else "alpha.u8"
        alpha_tex = res.slot(key).upload(alpha)
        layer = background.render(res, frame_tex, frame_index, time)
        out = res.target("composite.out", (w, h))
        box = None
        if partial and layer.pixels() is not None:
            m = alpha if alpha.dtype == np.uint8 else (alpha != 0).view(np.uint8)
            x, y, bw, bh = cv2.boundingRect(m)
            box = (x, y, x + bw, y + bh)
            if not (bw and bh):
                return out, layer, (0, 0, 0, 0)
        frame_tex.use(0)
        alpha_tex.use(1)
        if layer.color is not None:
            prog = self._programs[True]
            prog["u_bg_color"] = layer.color
        else:
            assert layer.texture is not None
            prog = self._programs[False]
            layer.texture.use(2)
            prog["u_bg_uv_scale"] = layer.uv_scale
            prog["u_bg_uv_offset"] = layer.uv_offset
        draw_fullscreen(res.fullscreen(prog), out.fbo, box)
        return out, layer, box


def _check_inputs(frame: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes/dtypes; returns C-contiguous frame and uint8-or-float32 alpha."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    if alpha.shape != frame.shape[:2]:
        raise ValueError(f"alpha must be {frame.shape[:2]} to match the frame, got {alpha.shape}")
    if alpha.dtype == np.bool_:
        alpha = alpha.view(np.uint8) * np.uint8(255)
    elif alpha.dtype not in (np.uint8, np.float32):
        if not np.issubdtype(alpha.dtype, np.floating):
            raise ValueError(f"alpha must be uint8, float or bool, got {alpha.dtype}")
        alpha = alpha.astype(np.float32)
    return np.ascontiguousarray(frame), np.ascontiguousarray(alpha)
