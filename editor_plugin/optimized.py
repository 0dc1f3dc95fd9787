"""Optimized media: a lossless, all-intra, full-resolution copy of a clip for random access.

A long-GOP H.264 clip decodes a random frame from the keyframe before it: about 250 ms at
1080p on two cores (``docs/benchmarks.md``), which is what an editor's panel pays for every
frame it asks the server for out of order.  NLEs solve this with "optimized media"; so does
humanfx.  The copy holds every decoded frame of the clip, in the decoder's own pixel format
and colour tags, compressed losslessly with MagicYUV (every frame a keyframe), so

* a random frame is one seek and one intra decode (about 8 ms at 1080p 4:2:0), and
* a frame read from it is **bit-identical** to the same frame read from the clip: the same
  YUV samples go through the same conversion to RGB (:meth:`VideoReader.read
  <editor_plugin.media.VideoReader.read>`), and the display rotation is applied the same way.

Sources whose pixel format MagicYUV does not store (10-bit video, ``yuvj420p``, NV12 ...)
are stored as planar RGB (``gbrp``) of the exact RGB frames instead: still bit-identical,
about 3x larger and slower to decode.  Exports read the clip itself; a render of the
optimized media and of the clip give the same pixels either way.

Choice of codec (1920x1080 frames of the effects benchmark, random frame read including the
RGB conversion, busy 2-core Xeon): MagicYUV 4:2:0 11.5 ms and 1.3 MB per frame; FFV1 79 ms;
Ut Video 21 ms; FFV-Huffyuv 15 ms (no MOV support); lossy MJPEG 4:4:4 q3 22 ms at 37 dB and
H.264 all-intra 28 ms, neither exact.  The price is disk: about 1.3 MB per 1080p frame
(roughly 2.3 GB per minute at 30 fps), which is why it is built on request only.

Layout: ``<cache_root>/<clip_hash[:16]>/optimized.mov``.  The ``comment`` tag records the
version, the clip hash, the frame count, the last frame's time, the stored pixel format and the
clip's display rotation; a file that disagrees with the clip or whose last frame does not decode
is rebuilt.  Writing is atomic (:mod:`editor_plugin.derived`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

from editor_plugin.derived import build_derived, check_derived, derived_tag
from editor_plugin.media import VideoReader
from editor_plugin.session import ClipSession
from inference.cache import cache_root
from inference.errors import CancelledError

log = logging.getLogger(__name__)

#: Bump when the format changes: older files are then rebuilt.
OPTIMIZED_VERSION = 1
_TAG = "humanfx_optimized"
_CODEC = "magicyuv"
#: Pixel formats stored as they are; anything else is stored as exact RGB (``gbrp``).
NATIVE_PIX_FMTS = frozenset({"yuv420p", "yuv422p", "yuv444p", "gbrp", "gray"})
_RGB_FALLBACK = "gbrp"
_COLOR_ATTRS = ("color_range", "colorspace", "color_primaries", "color_trc")

ProgressFn = Callable[[int, int], None]


def optimized_path(clip_hash: str, root: Path | None = None) -> Path:
    """Where the optimized media of the clip with content hash ``clip_hash`` lives."""
    root = cache_root() if root is None else Path(root)
    return root / clip_hash[:16] / "optimized.mov"


class OptimizedReader(VideoReader):
    """A :class:`~editor_plugin.media.VideoReader` over optimized media: one decoder thread
    (every frame is a keyframe, so a random read is one seek and one decode) and the source
    clip's display ``rotation`` (clockwise degrees) applied, so ``read(i).image`` equals the
    clip's ``read(i).image`` bit for bit, ``(h, w, 3)`` uint8 RGB at the displayed size."""

    def __init__(self, path: str | Path, rotation: int = 0):
        super().__init__(path, threads=1)
        if rotation % 90:
            raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
        self._k_rot = -rotation // 90
        w, h = self.info.width, self.info.height
        if rotation in (90, 270):
            w, h = h, w
        self.info = dataclasses.replace(self.info, width=w, height=h, rotation=rotation)


def check_optimized(path: Path, session: ClipSession) -> str | None:
    """Why the optimized media at ``path`` cannot stand in for ``session``'s clip, or None.

    Checks the recorded version, clip hash, frame count, last frame time and frame size against
    the clip, and that the last frame decodes (catches a truncated file)."""
    info = session.info
    return check_derived(
        path, key=_TAG, version=OPTIMIZED_VERSION, session=session,
        size=(info.width, info.height),
        open_reader=lambda meta: OptimizedReader(path, int(meta.get("rotation", 0))))


def _write(session: ClipSession, out: Path, progress: ProgressFn | None,
           cancel: threading.Event | None) -> None:
    """Copy every decoded frame of the clip, losslessly, to ``out``."""
    with VideoReader(session.path) as src:
        tb = Fraction(src.info.time_base)
        out_tb = Fraction(1, tb.denominator)  # pts * numerator: exact, and MOV-friendly
        n = len(src)
        first = src.read_raw(0)
        native = first.format.name in NATIVE_PIX_FMTS
        pix_fmt = first.format.name if native else _RGB_FALLBACK
        if not native:
            log.info("%s: pixel format %s is stored as exact RGB (%s) in optimized media",
                     session.path, first.format.name, _RGB_FALLBACK)
        container = av.open(str(out), "w", format="mov")
        try:
            container.metadata["comment"] = derived_tag(
                _TAG, OPTIMIZED_VERSION, session, n, src.timestamps[-1], pix_fmt=pix_fmt,
                rotation=src.info.rotation)
            stream = container.add_stream(_CODEC, rate=src.info.fps)
            stream.width, stream.height = first.width, first.height
            stream.pix_fmt = pix_fmt
            if native:
                for attr in _COLOR_ATTRS:  # the decoder converts to RGB as it did the clip
                    setattr(stream.codec_context, attr, getattr(first, attr))
            stream.codec_context.time_base = stream.time_base = out_tb
            last = -1
            for i in range(n):
                if cancel is not None and cancel.is_set():
                    raise CancelledError("optimized media build cancelled; nothing was kept",
                                         path=session.path)
                raw = first if i == 0 else src.read_raw(i)
                if native:
                    frame = raw
                else:  # the reader's own RGB conversion, unrotated, stored exactly
                    rgb = raw.to_ndarray(format="rgb24")
                    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                        format=_RGB_FALLBACK)
                pts = int(src.timestamps[i] / out_tb)
                if pts <= last:  # frames sharing a timestamp in the source
                    pts = last + 1
                frame.pts, frame.time_base, last = pts, out_tb, pts
                container.mux(stream.encode(frame))
                if progress is not None:
                    progress(i + 1, n)
            container.mux(stream.encode(None))
        finally:
            container.close()


def find_optimized(session: ClipSession) -> Path | None:
    """The valid optimized media of ``session``'s clip, or None (nothing is built)."""
    path = optimized_path(session.clip_hash, session.cache_root)
    if path.exists() and check_optimized(path, session) is None:
        return path
    return None


def open_optimized(session: ClipSession, path: Path) -> OptimizedReader:
    """An :class:`OptimizedReader` over ``path`` with ``session``'s clip's rotation."""
    return OptimizedReader(path, session.info.rotation)


def open_reader(session: ClipSession) -> tuple[VideoReader, str]:
    """The fastest exact reader of ``session``'s clip: ``(reader, "optimized")`` over its valid
    optimized media, else ``(VideoReader(clip), "clip")``.  Both read identical frames."""
    path = find_optimized(session)
    if path is None:
        return VideoReader(session.path), "clip"
    return open_optimized(session, path), "optimized"


def build_optimized(session_or_clip: ClipSession | str | Path, *,
                    progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> Path:
    """The optimized media of a clip, built unless a valid one exists; returns its path.

    ``session_or_clip``: a :class:`~editor_plugin.session.ClipSession` (its ``cache_root`` is
    honoured) or a clip path.  ``progress(done, total)`` is called per frame written;
    ``cancel.set()`` stops at the next frame with :class:`~inference.errors.CancelledError`
    and leaves no file.  Raises :class:`~editor_plugin.media.MediaError` naming the file when
    the clip does not decode or the copy cannot be written.
    """
    session = session_or_clip if isinstance(session_or_clip, ClipSession) \
        else ClipSession(session_or_clip)
    path = optimized_path(session.clip_hash, session.cache_root)
    t0 = time.monotonic()
    built = build_derived(session, path, what="optimized media",
                          check=lambda p: check_optimized(p, session),
                          write=lambda temp: _write(session, temp, progress, cancel))
    if built:
        log.info("%s: wrote optimized media %s (%d frames, %.1f MB, %.1f s)", session.path,
                 path, session.info.frame_count, path.stat().st_size / 1e6,
                 time.monotonic() - t0)
    return path


__all__ = ["NATIVE_PIX_FMTS", "OPTIMIZED_VERSION", "OptimizedReader", "build_optimized",
           "check_optimized", "find_optimized", "open_optimized", "open_reader", "optimized_path"]
