"""Render a clip with the background behind selected persons swapped.

:func:`render` swaps the background behind persons (a :class:`RenderSpec`);
:func:`render_project` renders a :class:`~editor_plugin.project.Project` -- background, matte
and effect stack -- through :class:`~effects.stack.StackRenderer`.  Both take backgrounds per
person too (:class:`effects.partition.PersonBackgrounds`: each person's own background around
them, the default elsewhere, from the persons' cached masks).

Streaming: frames are decoded on one thread, composited on the calling thread (which owns the
GL context and the SQLite connection) and encoded on another, each a few frames apart, so memory
does not grow with the clip and the two CPU cores stay busy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
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
from effects.partition import (
    DEFAULT_SEAM_PX,
    OriginalFrame,
    PersonBackgrounds,
    check_reach,
    check_seam,
)
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

    Backgrounds per person (:mod:`effects.partition`): ``person_backgrounds`` maps some of
    ``persons`` to a background of their own (``None``: the original frame), shown around
    them instead of ``background``; ``seam_px`` is the blend width between neighbouring
    persons' backgrounds and ``reach_px`` (None: unlimited) how far a person's own background
    reaches.  A mapping is stored as sorted ``(id, background)`` pairs.
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
    person_backgrounds: tuple[tuple[int, Background | VideoBackgroundSpec | None], ...] = ()
    seam_px: float = DEFAULT_SEAM_PX
    reach_px: float | None = None

    def __post_init__(self) -> None:
        self.matte_refiner()  # validates the matte controls (InputError)
        pb = self.person_backgrounds
        pairs = tuple(sorted(dict(pb).items()))
        object.__setattr__(self, "person_backgrounds", pairs)
        for tid, _ in pairs:
            if tid not in self.persons:
                raise InputError(f"person {tid} has a background of their own but is not "
                                 f"selected", hint=f"add {tid} to --person, or drop its "
                                 "--person-background")
        object.__setattr__(self, "seam_px", check_seam(self.seam_px))
        object.__setattr__(self, "reach_px", check_reach(self.reach_px))

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
        with VideoWriter(out, codec=codec, width=info.width, height=info.height,
                         fps=info.fps, time_base=info.time_base, audio=audio_spec,
                         quality=quality) as writer, \
                BackgroundSink(lambda item: writer.write(item[0], time=item[1]),
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


def open_backgrounds(default: Background | VideoBackgroundSpec | None,
                     per_person: Mapping[int, Background | VideoBackgroundSpec | None]
                     | None = None,
                     *, seam_px: float = DEFAULT_SEAM_PX, reach_px: float | None = None
                     ) -> tuple[PersonBackgrounds, list[LoopingVideo]]:
    """The renderable :class:`~effects.partition.PersonBackgrounds` of a render, and the video
    decoders it opened (one per ``video:`` background; close them after the render)."""
    loopings: list[LoopingVideo] = []
    try:
        opened: dict[int | None, Background | None] = {}
        for key, spec in ((None, default), *sorted((per_person or {}).items())):
            bg, looping = _open_background(spec)
            if looping is not None:
                loopings.append(looping)
            opened[key] = bg
        default_bg = opened.pop(None)
        return PersonBackgrounds(default_bg, opened, seam_px=seam_px,  # type: ignore[arg-type]
                                 reach_px=reach_px), loopings
    except BaseException:
        for looping in loopings:
            looping.close()
        raise


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
    backgrounds, loopings = open_backgrounds(spec.background, dict(spec.person_backgrounds),
                                             seam_px=spec.seam_px, reach_px=spec.reach_px)

    ctx = create_context()
    compositor = Compositor(ctx, info.width, info.height)

    def make_draw(cache: LayerCache) -> FrameFn:
        # One per stream: temporal state lives across frames.  The refinement runs on the
        # union's box grown by the controls' reach (as for one person), not the whole frame.
        union = PersonMattes(spec.refine, spec.feather_px, spec.expand_px, spec.guided_radius,
                             spec.guided_eps, spec.temporal)
        plain = spec.plain_matte

        def draw(frame: VideoFrame, cache: LayerCache) -> np.ndarray:
            layered = [p for p in cache.frame(frame.index, tracks=selected) if p.mask is not None]
            masks = [p.mask for p in layered]
            background = backgrounds.for_frame({p.track_id: p.mask for p in layered})
            if background is None:
                background = OriginalFrame()
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
        for looping in loopings:
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
    (:class:`~effects.stack.PersonMattes`: per-person temporal state, keyed by track id),
    with a person's own settings (``person_mattes``, the rest inherited) where they have them.
    The project's ``backgrounds`` (persons' own) are laid out around the drawn persons' cached
    masks (:meth:`effects.partition.PersonBackgrounds.for_frame`); they must be selected.
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
    for tid, _ in project.backgrounds:
        if project.selected is not None and tid not in project.selected:
            raise InputError(f"person {tid} has a background of their own but is not selected",
                             hint=f"select person {tid}, or remove its background")
    ids = (list(project.selected or ()) + [k for k, _ in project.stack.per_person]
           + [k for k, _ in project.backgrounds] + [k for k, _ in project.person_mattes])
    if ids:
        session.check_persons(sorted(set(ids)), project.layers)
    frames.resolve(info.frame_count)
    backgrounds, loopings = open_backgrounds(project.background, dict(project.backgrounds),
                                             seam_px=project.background_seam_px,
                                             reach_px=project.background_reach_px)
    chosen = None if project.selected is None else set(project.selected)
    stack = project.stack
    own_mattes = project.person_matte_settings()

    ctx = create_context()
    renderers: list[StackRenderer] = []

    def make_draw(cache: LayerCache) -> FrameFn:
        renderer = StackRenderer(ctx, info.width, info.height,
                                 history=PoseHistory.from_cache(cache))
        renderers.append(renderer)
        # One per stream: each person's temporal state lives across frames.
        mattes = PersonMattes.from_settings(project.matte, own_mattes)

        def draw(frame: VideoFrame, cache: LayerCache) -> np.ndarray:
            persons = cache.frame(frame.index)
            background = backgrounds.for_frame({
                p.track_id: p.mask for p in persons
                if p.mask is not None and (chosen is None or p.track_id in chosen)})
            return renderer.render(frame.image, persons, stack,
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
        for looping in loopings:
            looping.close()
