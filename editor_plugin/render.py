"""Render a clip with the background behind selected persons swapped.

:func:`render` swaps the background behind persons (a :class:`RenderSpec`);
:func:`render_project` renders a :class:`~editor_plugin.project.Project` -- background, matte
and effect stack -- through :class:`~effects.stack.StackRenderer`.

Streaming: frames are decoded on one thread, composited on the calling thread (which owns the
GL context and the SQLite connection) and encoded on another, each a few frames apart, so memory
does not grow with the clip and the two CPU cores stay busy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from editor_plugin.media import AudioSpec, Codec, VideoFrame, VideoReader, VideoWriter
from editor_plugin.pipeline import BackgroundSink, prefetch
from editor_plugin.project import Project
from editor_plugin.session import ClipSession
from effects.anchors import PoseHistory
from effects.backgrounds import Background, VideoBackground, VideoBackgroundSpec
from effects.compositor import Compositor
from effects.gl import create_context
from effects.matte import build_alpha
from effects.refine import MatteRefiner
from effects.stack import PersonMattes, StackRenderer
from inference.cache.layers import LayerCache
from inference.errors import CancelledError, InputError

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class FrameRange:
    """Frames ``start`` (inclusive) to ``stop`` (exclusive); ``stop=None`` means to the end."""

    start: int = 0
    stop: int | None = None

    @classmethod
    def parse(cls, text: str) -> FrameRange:
        """``START:END`` in frame indices (either side may be empty)."""
        try:
            a, b = text.split(":")
            return cls(int(a) if a.strip() else 0, int(b) if b.strip() else None)
        except ValueError:
            raise InputError(f"bad range {text!r}", hint="use START:END in frame numbers, e.g. 0:120")

    def resolve(self, frame_count: int) -> tuple[int, int]:
        stop = frame_count if self.stop is None else self.stop
        if not (0 <= self.start < stop <= frame_count):
            raise InputError(
                f"range {self.start}:{stop} is outside the clip's {frame_count} frames",
                hint=f"use a range within 0:{frame_count}",
            )
        return self.start, stop


@dataclass(frozen=True)
class RenderSpec:
    """What to render: whose background is swapped, with what, and how it is written.

    Matte controls (see :class:`effects.refine.MatteRefiner`, applied to the union of the
    selected persons' masks in the order expand -> feather -> guided -> temporal):
    ``refine`` ``none|feather|guided``; ``feather_px`` Gaussian sigma (0..100, used by
    ``feather`` and ``guided``); ``expand_px`` grow (> 0) or choke (< 0) in pixels;
    ``guided_radius``/``guided_eps`` the guided filter's r (px) and epsilon (guide in 0..1);
    ``temporal`` ``off|ema|median3`` (state across the frames of one render; it restarts
    after a frame where nobody selected is present).  ``none``/``feather`` without expand or
    temporal is :func:`effects.matte.build_alpha` exactly; otherwise the refinement runs on
    the union's box grown by the controls' reach (:class:`effects.stack.PersonMattes`), which
    equals :meth:`matte_refiner` on the whole frame to within one 8-bit level.
    """

    persons: tuple[int, ...]
    background: Background | VideoBackgroundSpec
    codec: Codec = Codec.H264
    frames: FrameRange = field(default_factory=FrameRange)
    refine: str = "feather"
    audio: bool = True
    layers: str | None = None
    quality: int | None = None
    feather_px: float = 1.5
    expand_px: float = 0.0
    guided_radius: int = 8
    guided_eps: float = 1e-3
    temporal: str = "off"

    def __post_init__(self) -> None:
        self.matte_refiner()  # validates the matte controls (InputError)

    def matte_refiner(self) -> MatteRefiner:
        """A new :class:`~effects.refine.MatteRefiner` (fresh temporal state): what
        :func:`render` applies to each frame's union matte, in frame order."""
        return MatteRefiner(refine=self.refine, feather_px=self.feather_px,
                            expand_px=self.expand_px, radius=self.guided_radius,
                            eps=self.guided_eps, temporal=self.temporal)

    @property
    def plain_matte(self) -> bool:
        """True when the matte is :func:`effects.matte.build_alpha`'s (the fast path)."""
        return (self.refine in ("none", "feather") and self.expand_px == 0
                and self.temporal == "off")


class LoopingVideo:
    """A background video, looped and time-synced: clip time ``t`` -> its frame at ``t mod dur``.

    Returns the video's own ``(h, w, 3)`` uint8 RGB frames; :class:`VideoBackground` scales them
    to fit or fill the output.  Sequential clip times decode sequentially (no seeks).
    """

    def __init__(self, path: Path):
        self._reader = VideoReader(path)
        self._duration = self._reader.info.duration
        self._last: tuple[int, np.ndarray] | None = None

    def __call__(self, t: Fraction) -> np.ndarray:
        dur = self._duration if self._duration > 0 else Fraction(1)
        idx = self._reader.index_at_time(Fraction(t) % dur)
        if self._last is None or self._last[0] != idx:
            self._last = (idx, self._reader.read(idx).image)
        return self._last[1]

    def close(self) -> None:
        self._reader.close()


FrameFn = Callable[[VideoFrame, LayerCache], np.ndarray]


def _stream(session: ClipSession, out: str | Path, *, layers: str | None, frames: FrameRange,
            codec: Codec, audio: bool, quality: int | None,
            make_draw: Callable[[LayerCache], FrameFn],
            progress: ProgressFn | None, cancel: threading.Event | None) -> Path:
    """Decode ``frames`` of the clip, draw each with ``make_draw(cache)`` and encode them.

    Decoding and encoding run on their own threads; drawing runs on the calling thread (which
    owns the GL context and the SQLite connection).  ``draw`` must return a new (H, W, 3)
    uint8 RGB array per frame (the encoder holds it).  Atomic: see :func:`render`.
    """
    info = session.info
    start, stop = frames.resolve(info.frame_count)
    with session.layers(layers) as cache, VideoReader(info.path) as reader:
        draw = make_draw(cache)
        times = reader.timestamps
        t0 = times[start]
        audio_spec = None
        if audio and info.has_audio:
            end = times[stop] if stop < len(times) else None
            audio_spec = AudioSpec(source=info.path, start=t0, end=end)
        writer = VideoWriter(out, codec=codec, width=info.width, height=info.height,
                             fps=info.fps, time_base=info.time_base, audio=audio_spec,
                             quality=quality)
        with writer, BackgroundSink(lambda item: writer.write(item[0], time=item[1]),
                                    depth=3, name="encode") as sink:
            decoded = prefetch(reader.iter_frames(start, stop), depth=3, name="decode")
            for done, frame in enumerate(decoded, 1):
                if cancel is not None and cancel.is_set():
                    raise CancelledError("render cancelled; nothing was written", path=out)
                sink.put((draw(frame, cache), frame.time - t0))  # a new array per frame
                if progress is not None:
                    progress(done, stop - start)
        return writer.close()


def _open_background(background: Background | VideoBackgroundSpec | None
                     ) -> tuple[Background | None, LoopingVideo | None]:
    """A renderable background; a video spec becomes a looping decoder (close it after)."""
    if isinstance(background, VideoBackgroundSpec):
        looping = LoopingVideo(background.path)
        return VideoBackground(frames=looping, mode=background.mode,
                               source=str(background.path)), looping
    return background, None


def render(session: ClipSession, spec: RenderSpec, out: str | Path, *,
           progress: ProgressFn | None = None,
           cancel: threading.Event | None = None) -> Path:
    """Render ``session``'s clip per ``spec`` into ``out``; returns the written path.

    The output is written under a temporary name and renamed at the end: a failure, a cancel
    (``cancel.set()``) or Ctrl-C leaves nothing under ``out``.
    """
    info = session.info
    if not spec.persons:
        raise InputError("no person selected", hint="pass --person ID (see `humanfx persons CLIP`)")
    session.check_persons(list(spec.persons), spec.layers)
    spec.frames.resolve(info.frame_count)
    selected = set(spec.persons)
    background, looping = _open_background(spec.background)
    assert background is not None

    ctx = create_context()
    compositor = Compositor(ctx, info.width, info.height)

    def make_draw(cache: LayerCache) -> FrameFn:
        # One per stream: temporal state lives across frames.  The refinement runs on the
        # union's box grown by the controls' reach (as for one person), not the whole frame.
        union = PersonMattes(spec.refine, spec.feather_px, spec.expand_px, spec.guided_radius,
                             spec.guided_eps, spec.temporal)
        plain = spec.plain_matte

        def draw(frame: VideoFrame, cache: LayerCache) -> np.ndarray:
            masks = [p.mask for p in cache.frame(frame.index, tracks=selected)
                     if p.mask is not None]
            shape = frame.image.shape[:2]
            if plain:
                alpha = build_alpha(masks, refine=spec.refine, feather_px=spec.feather_px,
                                    shape=shape)
            else:
                alpha = np.zeros(shape, np.uint8)
                got = union.matte(0, build_alpha(masks, "none", shape=shape), frame.image,
                                  frame.index)
                if got is not None:
                    (x0, y0, x1, y1), crop = got
                    alpha[y0:y1, x0:x1] = crop
            return compositor.composite(frame.image, alpha, background,
                                        frame_index=frame.index, time=frame.time)
        return draw

    try:
        return _stream(session, out, layers=spec.layers, frames=spec.frames, codec=spec.codec,
                       audio=spec.audio, quality=spec.quality, make_draw=make_draw,
                       progress=progress, cancel=cancel)
    finally:
        compositor.release()
        ctx.release()
        if looping is not None:
            looping.close()


def render_project(session: ClipSession, project: Project, out: str | Path, *,
                   codec: Codec = Codec.H264, frames: FrameRange | None = None,
                   audio: bool = True, quality: int | None = None,
                   progress: ProgressFn | None = None,
                   cancel: threading.Event | None = None) -> Path:
    """Render ``project`` (its background, matte and effect stack) of ``session``'s clip.

    Streaming, threaded and atomic like :func:`render`.  Each frame goes through an
    :class:`~effects.stack.StackRenderer` whose pose history reads the layer cache
    (:meth:`~effects.anchors.PoseHistory.from_cache`), so effects that look back (trails,
    holds, particles) are the same when only a range is rendered.  The project's person ids
    must be in the clip; its ``content_hash``, when set, must match the session's clip.
    The project's matte settings are applied to each person's matte separately
    (:class:`~effects.stack.PersonMattes`: per-person temporal state, keyed by track id).
    """
    info = session.info
    frames = frames if frames is not None else FrameRange()
    if project.content_hash is not None and project.content_hash != session.clip_hash:
        raise InputError("the project was made for a different version of this clip "
                         "(its content hash differs)", path=session.path,
                         hint="re-link the project to the right clip or clear clip.content_hash")
    if project.background is not None and project.selected is not None and not project.selected:
        raise InputError("no person selected", hint="set the project's selected persons "
                         "or pass --person ID (see `humanfx persons CLIP`)")
    ids = list(project.selected or ()) + [k for k, _ in project.stack.per_person]
    if ids:
        session.check_persons(sorted(set(ids)), project.layers)
    frames.resolve(info.frame_count)
    background, looping = _open_background(project.background)
    stack = project.stack
    matte = project.matte

    ctx = create_context()
    renderers: list[StackRenderer] = []

    def make_draw(cache: LayerCache) -> FrameFn:
        renderer = StackRenderer(ctx, info.width, info.height,
                                 history=PoseHistory.from_cache(cache))
        renderers.append(renderer)
        # One per stream: each person's temporal state lives across frames.
        mattes = PersonMattes(matte.refine, matte.feather_px, matte.expand_px,
                              matte.guided_radius, matte.guided_eps, matte.temporal)

        def draw(frame: VideoFrame, cache: LayerCache) -> np.ndarray:
            return renderer.render(frame.image, cache.frame(frame.index), stack,
                                   frame_index=frame.index, time=frame.time,
                                   background=background, selected=project.selected,
                                   mattes=mattes)
        return draw

    try:
        return _stream(session, out, layers=project.layers, frames=frames, codec=codec,
                       audio=audio, quality=quality, make_draw=make_draw,
                       progress=progress, cancel=cancel)
    finally:
        for r in renderers:
            r.release()
        ctx.release()
        if looping is not None:
            looping.close()
