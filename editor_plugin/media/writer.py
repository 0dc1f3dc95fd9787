"""Atomic video writing on PyAV: H.264, HEVC, ProRes 4444, FFV1 and PNG sequences, with audio.

Output goes to a temporary name beside the destination and is renamed into place by
:meth:`VideoWriter.close`; an exception inside ``with VideoWriter(...)`` or :meth:`abort`
deletes it, so a partial file never appears under the final name.

Colour: RGB input is converted to Y'CbCr with the BT.709 matrix, limited range, and the stream
is tagged BT.709 (primaries, transfer, matrix), which :class:`VideoReader` (via swscale) honours.
FFV1 stores RGB (``bgr0``: the encoder takes no 8-bit ``gbrp``) and PNG stores RGB(A), both
lossless, so decoding gives back exactly what was written.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import numpy as np

from editor_plugin.media.audio import AudioSpec, AudioTrack
from editor_plugin.media.errors import AV_ERRORS, MediaError, reason
from editor_plugin.media.sequence import PngSequenceOutput

log = logging.getLogger(__name__)


class Codec(str, Enum):
    """Output video codecs."""

    H264 = "h264"
    HEVC = "hevc"
    PRORES4444 = "prores4444"
    FFV1 = "ffv1"
    PNG = "png"


@dataclass(frozen=True)
class _CodecSpec:
    encoder: str
    pix_fmt: str
    suffixes: tuple[str, ...]
    even: bool = False  # 4:2:0 needs an even width and height
    alpha: bool = False  # accepts (H, W, 4) RGBA input
    ycbcr: bool = True
    options: dict[str, str] = field(default_factory=dict)


_SPECS: dict[Codec, _CodecSpec] = {
    Codec.H264: _CodecSpec("libx264", "yuv420p", (".mp4", ".mov", ".mkv"), even=True),
    Codec.HEVC: _CodecSpec("libx265", "yuv420p", (".mp4", ".mov", ".mkv"), even=True,
                           options={"x265-params": "log-level=error"}),
    Codec.PRORES4444: _CodecSpec("prores_ks", "yuva444p10le", (".mov",), alpha=True,
                                 options={"profile": "4444", "vendor": "apl0"}),
    Codec.FFV1: _CodecSpec("ffv1", "bgr0", (".mkv",), ycbcr=False,
                           options={"level": "3", "slicecrc": "1"}),
    Codec.PNG: _CodecSpec("png", "rgb24", (), alpha=True, ycbcr=False),
}
#: suffix -> (FFmpeg muxer, output kind used by the audio policy)
_CONTAINERS = {".mp4": ("mp4", "mp4"), ".mov": ("mov", "mov"), ".mkv": ("matroska", "mkv")}
#: default x264/x265 CRF and preset (``quality`` overrides the CRF: lower is better)
_CRF = {Codec.H264: 18, Codec.HEVC: 20}
_PRESET = "fast"
_GOP_SECONDS = 2
_BT709 = 1  # AVCOL_PRI_BT709 == AVCOL_TRC_BT709 == AVCOL_SPC_BT709
_RANGE_MPEG = 1


def _check_output_folder(path: Path) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise MediaError("the output folder does not exist or is not a folder", path=path,
                         hint="create the folder first or choose another one")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise MediaError("cannot write here (permission denied)", path=path,
                         hint="choose a folder you can write to")
    if path.is_dir():
        raise MediaError("is a folder", path=path, hint="give a file name such as out.mp4")


class _ContainerOutput:
    """Backend for codecs written into one container file (.mp4, .mov, .mkv)."""

    def __init__(self, path: Path, codec: Codec, *, width: int, height: int, fps: Fraction,
                 time_base: Fraction, audio: AudioSpec | None, quality: int | None,
                 threads: int):
        spec = _SPECS[codec]
        suffix = path.suffix.lower()
        if suffix not in spec.suffixes:
            raise MediaError(
                f"{codec.value} cannot be written to a '{suffix or '(no suffix)'}' file",
                path=path, hint=f"use {' or '.join(spec.suffixes)}")
        _check_output_folder(path)
        fmt, kind = _CONTAINERS[suffix]
        self.path = path
        self._spec = spec
        self._tb = time_base
        self.temp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
        self.container: av.container.OutputContainer | None = None
        self.audio: AudioTrack | None = None
        try:
            options = {"movflags": "+faststart"} if kind in ("mp4", "mov") else {}
            self.container = av.open(str(self.temp), "w", format=fmt, container_options=options)
            self.stream = self._add_video(codec, kind, width, height, fps, quality, threads)
            if audio is not None:
                self.audio = AudioTrack(audio, self.container, kind, path)
            self.container.start_encoding()
            if self.audio is not None:
                self.audio.start()
        except AV_ERRORS as exc:
            self.abort()
            file_problem = isinstance(exc, OSError)
            raise MediaError(f"cannot start writing ({reason(exc)})", path=path,
                             hint="choose a folder you can write to" if file_problem
                             else None) from None
        except BaseException:
            self.abort()
            raise

    def _add_video(self, codec: Codec, kind: str, width: int, height: int, fps: Fraction,
                   quality: int | None, threads: int) -> av.video.stream.VideoStream:
        spec = self._spec
        options = dict(spec.options)
        if codec in _CRF:
            options["crf"] = str(_CRF[codec] if quality is None else int(quality))
            options["preset"] = _PRESET
            # a keyframe every ~2 s keeps seeking in the output cheap
            options["g"] = str(max(1, round(_GOP_SECONDS * fps)))
        elif quality is not None:
            log.debug("%s: quality is ignored for %s", self.path, codec.value)
        stream = self.container.add_stream(spec.encoder, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, spec.pix_fmt
        cc = stream.codec_context
        cc.time_base = self._tb
        stream.time_base = self._tb
        cc.thread_type = "AUTO"
        cc.thread_count = int(threads)
        if spec.ycbcr:
            cc.color_primaries = cc.color_trc = cc.colorspace = _BT709
            cc.color_range = _RANGE_MPEG
        if codec is Codec.HEVC and kind in ("mp4", "mov"):
            stream.codec_tag = "hvc1"  # Apple players refuse the default hev1
        return stream

    def write(self, image: np.ndarray, index: int, pts: int, time: Fraction) -> None:
        try:
            frame = av.VideoFrame.from_ndarray(image, format="rgba" if image.shape[2] == 4
                                               else "rgb24")
            if self._spec.ycbcr:
                frame = frame.reformat(format=self._spec.pix_fmt, dst_colorspace="itu709",
                                       dst_color_range="MPEG")
            else:
                frame = frame.reformat(format=self._spec.pix_fmt)
            frame.pts = pts
            frame.time_base = self._tb
            self.container.mux(self.stream.encode(frame))
        except AV_ERRORS as exc:
            raise MediaError(f"could not encode frame {index} ({reason(exc)})",
                             path=self.path) from None
        if self.audio is not None:
            self.audio.pump(time)

    def finish(self) -> Path:
        try:
            self.container.mux(self.stream.encode(None))
            if self.audio is not None:
                self.audio.finish()
            self.container.close()
            self.container = None
            os.replace(self.temp, self.path)
        except AV_ERRORS as exc:
            raise MediaError(f"could not finish writing ({reason(exc)})", path=self.path,
                             hint="check the free disk space") from None
        return self.path

    def abort(self) -> None:
        if self.audio is not None:
            self.audio.close()
        if self.container is not None:
            try:
                self.container.close()
            except AV_ERRORS:
                pass
            self.container = None
        self.temp.unlink(missing_ok=True)


class VideoWriter:
    """Write RGB(A) frames to a video file or PNG sequence, atomically.

    Args:
        path: output file; its suffix picks the container (``.mp4``/``.mov``/``.mkv``).  For
            ``Codec.PNG`` a folder, or a pattern such as ``out/frame_%06d.png``.
        codec: see :class:`Codec`.  H.264/HEVC: .mp4/.mov/.mkv; ProRes 4444: .mov;
            FFV1: .mkv; PNG: a folder.
        width, height: size of the images passed to :meth:`write`.  H.264/HEVC need even
            sizes: an odd last row/column is padded by repeating the edge.
        fps: frame rate, exact.
        time_base: timestamp unit in seconds (default ``1 / fps``); frame times are stored
            exactly when they are multiples of it and the container allows (Matroska stores
            milliseconds).
        audio: where the audio comes from (see :class:`AudioSpec`), or None for no audio.
        quality: x264/x265 CRF (lower is better; default 18 for H.264, 20 for HEVC).
        start_number: number of the first PNG file.
        threads: encoder threads (0 = automatic).
    """

    def __init__(self, path: str | Path, *, codec: Codec, width: int, height: int,
                 fps: Fraction, time_base: Fraction | None = None,
                 audio: AudioSpec | None = None, quality: int | None = None,
                 start_number: int = 0, threads: int = 0):
        self.path = Path(path)
        try:
            self.codec = Codec(codec)
        except ValueError:
            raise MediaError(f"unknown codec {codec!r}", path=self.path,
                             hint=f"use one of {', '.join(c.value for c in Codec)}") from None
        if width < 1 or height < 1:
            raise ValueError(f"bad frame size {width}x{height}")
        self.fps = Fraction(fps)
        if self.fps <= 0:
            raise ValueError(f"bad frame rate {fps}")
        self.time_base = Fraction(time_base) if time_base is not None else 1 / self.fps
        if self.time_base <= 0:
            raise ValueError(f"bad time base {time_base}")
        self.width, self.height = int(width), int(height)
        spec = _SPECS[self.codec]
        self._alpha_ok = spec.alpha
        self._pad = (self.height % 2, self.width % 2) if spec.even else (0, 0)
        if any(self._pad):
            log.info("%s: %s needs an even size; padding %dx%d to %dx%d by repeating the edge",
                     self.path, self.codec.value, self.width, self.height,
                     self.width + self._pad[1], self.height + self._pad[0])
        size = {"width": self.width + self._pad[1], "height": self.height + self._pad[0]}
        self._out: _ContainerOutput | PngSequenceOutput
        if self.codec is Codec.PNG:
            self._out = PngSequenceOutput(self.path, audio=audio, start_number=start_number,
                                          threads=threads, **size)
        else:
            self._out = _ContainerOutput(self.path, self.codec, fps=self.fps,
                                         time_base=self.time_base, audio=audio,
                                         quality=quality, threads=threads, **size)
        try:  # a Ctrl-C from here to the caller's ``with`` must not leave the temp file
            self.frames_written = 0
            self._last_pts: int | None = None
            self._warned_rounding = False
            self._result: Path | None = None
            self._aborted = False
            self._lock = threading.Lock()  # abort() from another thread waits for a write
        except BaseException:
            self._out.abort()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
        elif self._result is None and not self._aborted:
            self.close()

    def write(self, image: np.ndarray, time: Fraction | None = None) -> None:
        """Append one frame.

        ``image``: ``(height, width, 3)`` uint8 RGB, or ``(height, width, 4)`` RGBA for
        ProRes 4444 and PNG.  ``time``: presentation time in seconds (default
        ``frames_written / fps``); must increase from frame to frame.
        """
        image = np.asarray(image)
        channels = (3, 4) if self._alpha_ok else (3,)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in channels \
                or image.shape[:2] != (self.height, self.width):
            want = "3 (RGB) or 4 (RGBA)" if self._alpha_ok else "3 (RGB)"
            raise ValueError(f"expected a ({self.height}, {self.width}, C) uint8 image with C "
                             f"{want}, got {image.shape} {image.dtype}")
        t = Fraction(time) if time is not None else self.frames_written / self.fps
        exact = t / self.time_base
        pts = round(exact)
        if pts != exact and not self._warned_rounding:
            self._warned_rounding = True
            log.warning("%s: frame time %s is not a multiple of the time base %s; rounding",
                        self.path, t, self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"frame time {t} s is not after the previous frame's")
        if any(self._pad):
            image = np.pad(image, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        with self._lock:
            if self._result is not None or self._aborted:
                raise ValueError("write() on a closed VideoWriter")
            self._out.write(np.ascontiguousarray(image), self.frames_written, pts, t)
            self._last_pts = pts
            self.frames_written += 1

    def close(self) -> Path:
        """Flush, mux the remaining audio and move the output into place; returns the final
        path (the folder for a PNG sequence).  Calling it again returns the same path."""
        with self._lock:
            if self._result is not None:
                return self._result
            if self._aborted:
                raise ValueError("close() on an aborted VideoWriter")
            if self.frames_written == 0:
                self._abort()
                raise MediaError("no frames were written, so nothing was saved", path=self.path)
            try:
                self._result = self._out.finish()
            except BaseException:
                self._abort()
                raise
            return self._result

    def abort(self) -> None:
        """Stop and delete everything written so far (waits for a write in progress on another
        thread).  Idempotent; does nothing after a successful :meth:`close`."""
        with self._lock:
            self._abort()

    def _abort(self) -> None:
        if self._result is None and not self._aborted:
            self._aborted = True
            self._out.abort()
