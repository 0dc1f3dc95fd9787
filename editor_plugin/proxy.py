"""Scrubbing proxies: an all-intra, preview-resolution copy of a clip (editors' "optimized media").

A random frame of a long-GOP H.264 clip costs a decode from the keyframe before it (hundreds
of milliseconds at 1080p, see ``docs/benchmarks.md``).  The app therefore scrubs on a proxy:
the same frames, scaled to at most :data:`PROXY_MAX_HEIGHT` rows, every frame a keyframe, so
frame ``i`` is one seek and one intra decode.  Exports never read the proxy.

Format: Motion JPEG, 4:4:4 (``yuv444p``, full range, BT.601 as JFIF), quantiser 3, in a
QuickTime ``.mov`` whose time base is the source's (``1 / time_base.denominator``), so every
proxy frame keeps the source frame's exact timestamp.

Which intra codec decodes faster at 960x540 was measured (the 1080p synthetic benchmark clip
scaled to 960x540; median of one random frame read with :class:`ProxyReader`, RGB conversion
included, CPU time on a busy 2-core Xeon): MJPEG 4:2:0 q2 2.2 ms, H.264 all-intra (``g=1``,
CRF 14, ``tune=fastdecode``) 3.5 ms, MJPEG 4:4:4 q3 4.9 ms, H.264 all-intra without
``fastdecode`` about 8 ms.  MJPEG 4:2:0 decodes fastest, but chroma subsampling costs colour
edges (against the source frame downscaled: 37.5 dB PSNR at 960x540, 33 dB at 160x120, where
MJPEG 4:4:4 q3 keeps 40 and 38 dB); H.264 encodes 5-6x slower (1.6 s against 0.3 s for 48
frames), which is the proxy's build time.  4:4:4 MJPEG costs about 3 ms per frame more than
4:2:0, small against the 50 ms scrubbing budget.  Size on that clip: about 70 KB per frame.

Layout: ``<cache_root>/<clip_hash[:16]>/proxy-<W>x<H>.mov``, next to the clip's layer caches
(:mod:`inference.cache.store`), so a proxy is found again by the clip's content hash and the
proxy size.  The file's ``comment`` tag records the proxy version, the clip hash, the frame
count and the last frame's time; a proxy that disagrees with the clip, does not open, or whose
last frame does not decode (a truncated file) is rebuilt, with a logged warning.  Writing goes
to a hidden temporary name in the same folder, renamed when complete; a cancel or an error
removes it, and a leftover of a killed build is removed by the next build.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2

from editor_plugin.derived import build_derived, check_derived, derived_tag
from editor_plugin.media import VideoReader
from editor_plugin.pipeline import prefetch
from editor_plugin.session import ClipSession
from inference.cache import cache_root
from inference.errors import CancelledError

log = logging.getLogger(__name__)

#: Default proxy height in pixels (the frame is scaled to this many rows when taller).
PROXY_MAX_HEIGHT = 540
#: Bump when the proxy format changes: older proxies are then rebuilt.
PROXY_VERSION = 1
_PIX_FMT = "yuv444p"
_QUANTISER = "3"
_RANGE_JPEG = 2  # AVCOL_RANGE_JPEG (full range)

ProgressFn = Callable[[int, int], None]


class ProxyReader(VideoReader):
    """A :class:`~editor_plugin.media.VideoReader` for proxies: one decoder thread, so a
    random :meth:`read` is one seek to that frame (every frame is a keyframe) and one intra
    decode, with no frame-threading delay.  Frames are ``(h, w, 3)`` uint8 RGB at the proxy
    size; index ``i`` and the times are the source clip's."""

    def __init__(self, path: str | Path):
        super().__init__(path, threads=1)


def proxy_size(width: int, height: int, max_height: int = PROXY_MAX_HEIGHT
               ) -> tuple[int, int] | None:
    """``(w, h)`` of the proxy of a ``width`` x ``height`` clip (displayed size), both even,
    aspect kept; None when the clip is no taller than ``max_height`` (it needs no proxy)."""
    if max_height < 2:
        raise ValueError(f"max_height must be at least 2, got {max_height}")
    if height <= max_height:
        return None
    h = max_height - max_height % 2
    w = max(2, 2 * round(width * h / height / 2))
    return w, h


def proxy_path(clip_hash: str, size: tuple[int, int], root: Path | None = None) -> Path:
    """Where the ``size`` = (w, h) proxy of the clip with content hash ``clip_hash`` lives."""
    root = cache_root() if root is None else Path(root)
    return root / clip_hash[:16] / f"proxy-{size[0]}x{size[1]}.mov"


def check_proxy(path: Path, session: ClipSession, size: tuple[int, int]) -> str | None:
    """Why the proxy at ``path`` cannot be used for ``session``'s clip, or None when it can.

    Checks the recorded version, clip hash, frame count and last frame time against the
    clip, the frame size, and that the last frame decodes (catches a truncated file)."""
    return check_derived(path, key="humanfx_proxy", version=PROXY_VERSION, session=session,
                         size=size, open_reader=lambda _meta: ProxyReader(path))


def _write(session: ClipSession, out: Path, size: tuple[int, int],
           progress: ProgressFn | None, cancel: threading.Event | None) -> None:
    """Decode the clip, scale each frame to ``size`` and write the proxy to ``out``."""
    with VideoReader(session.path) as src:
        tb = Fraction(src.info.time_base)
        out_tb = Fraction(1, tb.denominator)  # pts * numerator: exact, and MOV-friendly
        n = len(src)
        container = av.open(str(out), "w", format="mov")
        frames = None
        try:
            container.metadata["comment"] = derived_tag("humanfx_proxy", PROXY_VERSION, session, n,
                                                         src.timestamps[-1])
            stream = container.add_stream("mjpeg", rate=src.info.fps,
                                          options={"qmin": _QUANTISER, "qmax": _QUANTISER})
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], _PIX_FMT
            stream.codec_context.color_range = _RANGE_JPEG
            stream.codec_context.time_base = out_tb
            stream.time_base = out_tb
            last = -1
            frames = prefetch(src.iter_frames(), depth=4, name="proxy-decode")
            for frame in frames:
                if cancel is not None and cancel.is_set():
                    raise CancelledError("proxy build cancelled; nothing was kept",
                                         path=session.path)
                small = cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA)
                vf = av.VideoFrame.from_ndarray(small, format="rgb24")
                vf = vf.reformat(format=_PIX_FMT, dst_color_range="JPEG")
                pts = int(frame.time / out_tb)
                if pts <= last:  # frames sharing a timestamp in the source
                    log.debug("%s: frame %d repeats a timestamp; shifting it by one tick",
                              session.path, frame.index)
                    pts = last + 1
                vf.pts, vf.time_base, last = pts, out_tb, pts
                container.mux(stream.encode(vf))
                if progress is not None:
                    progress(frame.index + 1, n)
            container.mux(stream.encode(None))
        finally:
            if frames is not None:
                frames.close()  # stops the decode thread before the reader closes
            container.close()


def build_proxy(session_or_clip: ClipSession | str | Path, *,
                max_height: int = PROXY_MAX_HEIGHT, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None) -> Path | None:
    """The all-intra proxy of a clip, built unless a valid one exists; returns its path.

    ``session_or_clip``: a :class:`~editor_plugin.session.ClipSession` (its ``cache_root``
    is honoured) or a clip path.  ``max_height``: proxy rows (see :func:`proxy_size`);
    returns None, writing nothing, when the clip is no taller.  ``progress(done, total)``
    is called per frame written; ``cancel.set()`` stops at the next frame with
    :class:`~inference.errors.CancelledError` and leaves no file.  A proxy already there
    and valid (:func:`check_proxy`) is returned at once; a stale or damaged one is rebuilt.
    Raises :class:`~editor_plugin.media.MediaError` naming the file when the clip does not
    decode or the proxy cannot be written.
    """
    session = session_or_clip if isinstance(session_or_clip, ClipSession) \
        else ClipSession(session_or_clip)
    info = session.info
    size = proxy_size(info.width, info.height, max_height)
    if size is None:
        log.info("%s: %dx%d needs no proxy (max height %d)", session.path, info.width,
                 info.height, max_height)
        return None
    path = proxy_path(session.clip_hash, size, session.cache_root)
    t0 = time.monotonic()
    built = build_derived(session, path, what="proxy",
                          check=lambda p: check_proxy(p, session, size),
                          write=lambda temp: _write(session, temp, size, progress, cancel))
    if not built:
        return path
    log.info("%s: wrote %dx%d proxy %s (%d frames, %.1f s)", session.path, *size, path,
             info.frame_count, time.monotonic() - t0)
    return path


__all__ = ["PROXY_MAX_HEIGHT", "PROXY_VERSION", "ProxyReader", "build_proxy", "check_proxy",
           "proxy_path", "proxy_size"]
