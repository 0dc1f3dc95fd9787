"""The viewer's picture while scrubbing: a frame of the clip's proxy, composited at its size.

:class:`ProxyPreview` reads frames from the all-intra proxy (:mod:`editor_plugin.proxy`) and
composites them like :class:`~ui.preview.PreviewRenderer` does, at the proxy's resolution:
the persons' layers of the (full-resolution) layer cache are scaled to the proxy (masks by
area averaging, rounded back to 0/1; keypoints and boxes by the x and y scale), and so
are the pixel sizes of the background (blur radius, pixelate block) and of the matte
(feather, expand/choke, guided radius), with the same GL compositor and matte code.  At half
size a picture costs about a quarter of the full one, and the frame decode is one intra JPEG.

What cannot be scaled exactly falls back to the full-resolution composite of the proxy
frame upscaled to the clip's size (still without the long-GOP decode): edits with effects or
persons' own backgrounds (:attr:`~ui.preview.ViewState.renders_project`; effect parameters
are in clip pixels) and backgrounds with no known pixel-size parameter (a tiled image,
third-party backgrounds).

All images are (h, w, 3) uint8 RGB, row 0 at the top; the proxy's pixels are
``(x * w / W, y * h / H)`` of the clip's (W, H) frame pixels.  GUI thread only: this object
owns its own GL context, so its lifetime is independent of the renderer's.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import moderngl
import numpy as np

from editor_plugin.media import VideoFrame
from editor_plugin.project import MatteSettings
from editor_plugin.proxy import ProxyReader
from effects.backgrounds import (
    Background,
    BlurBackground,
    ImageBackground,
    SolidColor,
    VideoBackground,
)
from effects.backgrounds_extra import (
    ColorKeyBackground,
    DesaturateBackground,
    DimBackground,
    PixelateBackground,
    VignetteBackground,
)
from effects.compositor import Compositor
from effects.gl import create_context
from effects.stack import PersonMattes
from inference.cache.layers import PersonLayer
from ui.preview import PreviewRenderer, ViewState, draw_overlays, release_gl, union_alpha

log = logging.getLogger(__name__)

#: Backgrounds that look the same at any resolution (colours, fitted pictures, per-pixel looks).
_SIZE_FREE = (SolidColor, ImageBackground, VideoBackground, DesaturateBackground, DimBackground,
              VignetteBackground, ColorKeyBackground)


def scale_background(bg: Background, scale: float) -> Background | None:
    """``bg`` for a frame ``scale`` times the clip's size; None when it cannot be scaled."""
    if isinstance(bg, _SIZE_FREE):
        return bg
    if isinstance(bg, BlurBackground):
        return BlurBackground(bg.radius * scale)
    if isinstance(bg, PixelateBackground):
        return PixelateBackground(max(1, round(bg.block * scale)))
    return None


def scale_matte(m: MatteSettings, scale: float) -> MatteSettings:
    """``m`` with its pixel sizes (feather, expand/choke, guided radius) times ``scale``."""
    return dataclasses.replace(m, feather_px=m.feather_px * scale, expand_px=m.expand_px * scale,
                               guided_radius=max(1, round(m.guided_radius * scale)))


def scale_people(people: list[PersonLayer], frame_size: tuple[int, int],
                 size: tuple[int, int]) -> list[PersonLayer]:
    """``people`` of a ``frame_size`` = (W, H) frame scaled to ``size`` = (w, h).

    Masks: area-averaged, a pixel is the person's when about half of it or more was; keypoints
    and boxes: x times w / W, y times h / H.  The compressed RLE is dropped (it describes the
    full-size mask)."""
    (big_w, big_h), (w, h) = frame_size, size
    sx, sy = w / big_w, h / big_h
    out = []
    for p in people:
        mask = None
        if p.mask is not None:
            m = p.mask if p.mask.dtype == np.uint8 else (p.mask != 0).view(np.uint8)
            # 0/1 in, area mean rounded out: a pixel is the person's when about half was.
            mask = cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA)
        kp = np.array(p.keypoints, dtype=np.float64, copy=True)
        kp[:, 0] *= sx
        kp[:, 1] *= sy
        x, y, bw, bh = p.bbox
        out.append(dataclasses.replace(p, mask=mask, rle=None, keypoints=kp,
                                       bbox=(x * sx, y * sy, bw * sx, bh * sy)))
    return out


class ProxyPreview:
    """Frames of a clip's proxy, composited at the proxy's size (see the module docstring).

    ``path``: the proxy (:func:`editor_plugin.proxy.build_proxy`); ``frame_size``: the clip's
    displayed (W, H)."""

    def __init__(self, path: str | Path, frame_size: tuple[int, int]):
        self.path = Path(path)
        self.reader = ProxyReader(self.path)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.size = (self.reader.info.width, self.reader.info.height)
        self.scale = self.size[1] / self.frame_size[1]
        self._ctx: moderngl.Context | None = None
        self._compositor: Compositor | None = None
        self._mattes: tuple[MatteSettings, PersonMattes] | None = None

    def __len__(self) -> int:
        return len(self.reader)

    def read(self, index: int) -> VideoFrame:
        """Proxy frame ``index``: (h, w, 3) uint8 RGB, the clip's frame ``index`` scaled."""
        return self.reader.read(index)

    def _union_mattes(self, settings: MatteSettings) -> PersonMattes:
        if self._mattes is None or self._mattes[0] != settings:
            m = settings
            self._mattes = (settings, PersonMattes(m.refine, m.feather_px, m.expand_px,
                                                   m.guided_radius, m.guided_eps, m.temporal))
        return self._mattes[1]

    def _composite(self, frame: VideoFrame, people: list[PersonLayer], state: ViewState,
                   background: Background) -> np.ndarray:
        matte = scale_matte(state.matte, self.scale)
        masks = [p.mask for p in people if p.track_id in state.selected and p.mask is not None]
        alpha = union_alpha(masks, frame, matte, self._union_mattes(matte))
        if self._ctx is None:
            self._ctx = create_context()
        with self._ctx:  # current: another context may have been used on this thread since
            if self._compositor is None:
                self._compositor = Compositor(self._ctx, *self.size)
            return self._compositor.composite(frame.image, alpha, background,
                                              frame_index=frame.index, time=frame.time)

    def render(self, renderer: PreviewRenderer, index: int, state: ViewState
               ) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``index`` as ``(composite, annotated)`` from the proxy, with ``renderer``'s
        layers: at the proxy's size, or at the clip's size where the edit cannot be scaled
        (module docstring).  Overlays as :meth:`PreviewRenderer.render` draws them."""
        frame = self.read(index)
        frame = dataclasses.replace(frame, time=renderer.time_of(index))
        people = renderer.persons(index)
        background = None
        if not state.renders_project and state.background is not None:
            background = scale_background(state.background, self.scale)
        if state.renders_project or (state.background is not None and background is None):
            big = cv2.resize(frame.image, self.frame_size, interpolation=cv2.INTER_LINEAR)
            comp = renderer.composite(dataclasses.replace(frame, image=big), people, state)
            return comp, draw_overlays(comp, people, state.selected, state.overlays)
        small_people = scale_people(people, self.frame_size, self.size)
        comp = frame.image if background is None else \
            self._composite(frame, small_people, state, background)
        return comp, draw_overlays(comp, small_people, state.selected, state.overlays)

    def close(self) -> None:
        """Release the proxy file and the GL resources.  Idempotent."""
        release_gl(self._ctx, self._compositor)
        self._ctx = self._compositor = None
        self.reader.close()
