"""Render a clip with the background behind selected persons swapped.

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

from editor_plugin.media import AudioSpec, Codec, VideoReader, VideoWriter
from editor_plugin.pipeline import BackgroundSink, prefetch
from editor_plugin.session import ClipSession
from effects.backgrounds import Background, VideoBackground, VideoBackgroundSpec
from effects.compositor import Compositor
from effects.gl import create_context
from effects.matte import build_alpha
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
    """What to render: whose background is swapped, with what, and how it is written."""

    persons: tuple[int, ...]
    background: Background | VideoBackgroundSpec
    codec: Codec = Codec.H264
    frames: FrameRange = field(default_factory=FrameRange)
    refine: str = "feather"
    audio: bool = True
    layers: str | None = None
    quality: int | None = None


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
    start, stop = spec.frames.resolve(info.frame_count)
    selected = set(spec.persons)

    background = spec.background
    looping: LoopingVideo | None = None
    if isinstance(background, VideoBackgroundSpec):
        looping = LoopingVideo(background.path)
        background = VideoBackground(frames=looping, mode=background.mode,
                                     source=str(background.path))

    ctx = create_context()
    compositor = Compositor(ctx, info.width, info.height)
    try:
        with session.layers(spec.layers) as cache, VideoReader(info.path) as reader:
            times = reader.timestamps
            t0 = times[start]
            audio = None
            if spec.audio and info.has_audio:
                end = times[stop] if stop < len(times) else None
                audio = AudioSpec(source=info.path, start=t0, end=end)
            writer = VideoWriter(out, codec=spec.codec, width=info.width, height=info.height,
                                 fps=info.fps, time_base=info.time_base, audio=audio,
                                 quality=spec.quality)
            with writer:
                with BackgroundSink(lambda item: writer.write(item[0], time=item[1]),
                                    depth=3, name="encode") as sink:
                    frames = prefetch(reader.iter_frames(start, stop), depth=3, name="decode")
                    for done, frame in enumerate(frames, 1):
                        if cancel is not None and cancel.is_set():
                            raise CancelledError("render cancelled; nothing was written",
                                                 path=out)
                        masks = [p.mask for p in cache.frame(frame.index)
                                 if p.track_id in selected and p.mask is not None]
                        alpha = build_alpha(masks, refine=spec.refine,
                                            shape=frame.image.shape[:2])
                        image = compositor.composite(frame.image, alpha, background,
                                                     frame_index=frame.index, time=frame.time)
                        sink.put((image, frame.time - t0))  # a new array per frame
                        if progress is not None:
                            progress(done, stop - start)
            return writer.close()
    finally:
        compositor.release()
        ctx.release()
        if looping is not None:
            looping.close()
