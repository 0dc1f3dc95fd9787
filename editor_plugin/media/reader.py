"""Frame-accurate, streaming video decoding on PyAV.

:class:`VideoReader` keeps one open container.  Frames are identified by matching each decoded
frame's pts against the packet index built by :func:`~editor_plugin.media.probe.scan`, never by
counting, so random access is exact for H.264 with B-frames, VFR clips, MKV and MP4.  Memory use
does not depend on the clip's length (apart from the index: 8 bytes per frame).
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import av
import numpy as np

from editor_plugin.media.errors import AV_ERRORS, MediaError, reason
from editor_plugin.media.probe import (
    ClipInfo,
    FrameIndex,
    configure_decoder,
    open_input,
    scan,
    video_stream,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One decoded frame.

    Attributes:
        index: 0-based frame index in presentation order.
        pts: presentation timestamp in ``ClipInfo.time_base`` units.
        time: seconds from the first frame's pts (the first frame is at time 0).
        image: ``(H, W, 3)`` uint8 RGB, C-contiguous, rotation applied (displayed size).
    """

    index: int
    pts: int
    time: Fraction
    image: np.ndarray


class VideoReader:
    """Read a clip's frames sequentially or at random, exactly.

    Use as a context manager.  ``threads`` is the decoder thread count (0 = automatic).
    Reads are serialised by a lock, and :meth:`close` waits for a read in progress on another
    thread (then further reads raise ``ValueError``); for parallel decoding use one reader per
    thread.
    """

    def __init__(self, path: str | Path, *, threads: int = 0):
        self.path = Path(path)
        self._threads = int(threads)
        self._container = open_input(self.path)
        try:
            self._stream = self._video_stream()
            self.info: ClipInfo
            self._index: FrameIndex
            self.info, self._index = scan(self._container, self.path, self._stream)
        except BaseException:
            self._container.close()
            raise
        self._tb = self.info.time_base
        self._pts0 = int(self._index.pts[0])
        self._k_rot = -self.info.rotation // 90  # np.rot90 turns counter-clockwise
        self._reorder_depth = 0
        self._frames: Iterator[tuple[int, Any]] | None = None
        self._next_index = -1
        self._closed = False
        self._lock = threading.Lock()

    # -- public API -------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.info.frame_count

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def timestamps(self) -> list[Fraction]:
        """Time in seconds of every frame (from the index), ``len == frame_count``."""
        return [self._time(int(p)) for p in self._index.pts]

    def index_at_time(self, t: Fraction) -> int:
        """Index of the frame shown at time ``t`` seconds: the last frame with ``time <= t``,
        clamped to ``[0, frame_count - 1]``."""
        return min(max(bisect_right(self.timestamps, Fraction(t)) - 1, 0), len(self) - 1)

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[VideoFrame]:
        """Decode frames ``start`` .. ``stop - 1`` in order, seeking once to ``start``."""
        n = len(self)
        stop = n if stop is None else min(stop, n)
        if not 0 <= start <= n:
            raise IndexError(f"start frame {start} outside 0..{n}")
        for i in range(start, stop):
            yield self.read(i)

    def read(self, index: int) -> VideoFrame:
        """Frame ``index`` (0-based).  Sequential reads (``index == last + 1``) continue
        decoding; any other index seeks to the keyframe before it and decodes forward."""
        index = self._check_index(index)
        return self._to_video_frame(index, self._next_decoded(index, "read"))

    def read_raw(self, index: int) -> av.VideoFrame:
        """Frame ``index`` as the decoder gave it: its own pixel format and colour tags, the
        display rotation *not* applied, its pts in the clip's time base.  The frame that
        :meth:`read` would convert to RGB (a frame that does not decode is stood in for by
        the one before it, as there).  Seeks like :meth:`read`."""
        index = self._check_index(index)
        return self._next_decoded(index, "read_raw")

    def _check_index(self, index: int) -> int:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"frame {index} outside 0..{n - 1}")
        return index

    def _next_decoded(self, index: int, what: str) -> av.VideoFrame:
        with self._lock:
            if self._closed:
                raise ValueError(f"{what}() on a closed VideoReader")
            if self._frames is None or index != self._next_index:
                self._frames = self._decode_from(index)
            got, frame = next(self._frames)
            assert got == index, (got, index)
            self._next_index = index + 1
        return frame

    def close(self) -> None:
        """Release the file (waits for a read in progress).  Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._frames = None
                self._container.close()

    # -- internals --------------------------------------------------------------------------

    def _time(self, pts: int) -> Fraction:
        return (pts - self._pts0) * self._tb

    def _to_video_frame(self, index: int, frame: av.VideoFrame) -> VideoFrame:
        try:
            rgb = frame.to_ndarray(format="rgb24")
        except AV_ERRORS as exc:
            raise MediaError(f"frame {index} cannot be converted to RGB ({reason(exc)})",
                             path=self.path) from None
        if self._k_rot % 4:
            rgb = np.rot90(rgb, self._k_rot)
        pts = int(self._index.pts[index])
        return VideoFrame(index=index, pts=pts, time=self._time(pts),
                          image=np.ascontiguousarray(rgb))

    def _seek(self, k: int) -> int:
        """Seek to keyframe ``k`` of the index (-1: the start of the stream).  Returns the index
        of the frame landed on, used to count frames that carry no timestamp."""
        ts = int(self._index.pts[0] if k < 0 else self._index.key_pts[k])
        try:
            self._container.seek(ts, stream=self._stream, backward=True)
        except AV_ERRORS as exc:  # e.g. raw elementary streams: start again from the top
            log.debug("%s: seek failed (%s); reopening", self.path, reason(exc))
            self._reopen()
            return 0
        if self._reorder_depth:
            self._stream.codec_context.reorder_depth = self._reorder_depth
        return 0 if k < 0 else max(self._index.find(ts), 0)

    def _video_stream(self) -> av.video.stream.VideoStream:
        stream = video_stream(self._container, self.path)
        configure_decoder(stream, self._threads)
        return stream

    def _reopen(self) -> None:
        self._container.close()
        self._container = open_input(self.path)
        self._stream = self._video_stream()

    def _decoded(self) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decode from the current position; yield ``(index or -1, frame)`` as decoded."""
        cc = self._stream.codec_context
        for pkt in self._container.demux(self._stream):
            try:
                frames = self._stream.decode(pkt if pkt.size else None)
            except AV_ERRORS as exc:
                log.warning("%s: skipping an undecodable video packet (%s)", self.path,
                            reason(exc))
                continue
            self._reorder_depth = max(self._reorder_depth, cc.reorder_depth)
            for frame in frames:
                ts = frame.pts if frame.pts is not None else frame.dts
                yield (self._index.find(ts) if ts is not None else -1), frame

    def _decode_from(self, index: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield ``(i, frame)`` for ``i = index, index + 1, ...`` to the end, exactly once each.

        Frames that do not decode are stood in for by the previous decoded frame (logged).
        """
        k = self._index.seek_point(index)
        while True:
            base = self._seek(k)
            decoded = self._decoded()
            first = next(decoded, None)
            if first is not None and first[0] < 0:
                first = (base, first[1])
            if first is not None and (first[0] <= index or k < 0):
                break
            if k < 0:
                raise MediaError(f"frame {index} does not decode", path=self.path,
                                 hint="re-export the clip")
            # Landed after the target (or nothing decoded): start from an earlier keyframe.
            log.debug("%s: seek for frame %d landed late; retrying from keyframe %d",
                      self.path, index, k - 1)
            k -= 1
        return self._in_order(index, first, decoded)

    def _in_order(self, index: int, first: tuple[int, av.VideoFrame],
                  decoded: Iterator[tuple[int, av.VideoFrame]]
                  ) -> Iterator[tuple[int, av.VideoFrame]]:
        n = len(self)
        expected = index
        last: av.VideoFrame | None = None
        counted = first[0]
        for i, frame in _chain(first, decoded):
            if i < 0:  # no timestamp on the decoded frame: count from the previous one
                i = counted
            counted = i + 1
            if i < expected:
                last = frame
                continue
            if i >= n:
                break
            if i > expected:
                log.warning("%s: frames %d..%d did not decode; repeating the previous frame",
                            self.path, expected, i - 1)
            while expected < i:
                yield expected, (last if last is not None else frame)
                expected += 1
            yield i, frame
            last = frame
            expected = i + 1
        if expected < n:
            if last is None:
                raise MediaError(f"frame {expected} does not decode", path=self.path,
                                 hint="re-export the clip")
            log.warning("%s: the last %d frames did not decode; repeating frame %d",
                        self.path, n - expected, expected - 1)
            while expected < n:
                yield expected, last
                expected += 1


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
