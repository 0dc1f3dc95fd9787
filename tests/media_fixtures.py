"""Real media files for the media tests, written with PyAV directly (not with the code under test).

Every frame carries its own number: bit ``b`` of the frame index is a 16x16 white (1) or black
(0) block at ``x = 16 * b`` in the top rows, which survives lossy coding.  Below that is a
gradient that moves with the frame index.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 10
W, H = 160, 96


def stamped(i: int, width: int = W, height: int = H) -> np.ndarray:
    """``(height, width, 3)`` uint8 RGB frame showing frame number ``i``."""
    img = np.empty((height, width, 3), np.uint8)
    x = np.arange(width)[None, :]
    y = np.arange(height)[:, None]
    img[..., 0] = (2 * x + 3 * i) % 256
    img[..., 1] = (3 * y + 5 * i) % 256
    img[..., 2] = (x + y + 7 * i) % 256
    img[:16] = 0
    for b in range(BITS):
        if (i >> b) & 1:
            img[:16, 16 * b:16 * b + 16] = 255
    return img


def frame_number(image: np.ndarray) -> int:
    """Read back the number :func:`stamped` wrote (``image`` is RGB, at least 160 wide)."""
    return sum(1 << b for b in range(BITS) if image[4:12, 16 * b + 4:16 * b + 12].mean() > 128)


def tone(seconds: float, rate: int = 48000, channels: int = 2, freq: float = 440.0
         ) -> np.ndarray:
    """``(channels, n)`` float32 sine."""
    t = np.arange(round(seconds * rate)) / rate
    return np.repeat((0.3 * np.sin(2 * np.pi * freq * t))[None], channels, 0).astype(np.float32)


def make_clip(path: Path, n: int = 60, *, fps: int = 30, codec: str = "libx264",
              pts: Sequence[int] | None = None, time_base: Fraction | None = None,
              options: dict[str, str] | None = None, rotation: float | None = None,
              audio_seconds: float | None = None, audio_codec: str = "aac",
              audio_rate: int = 44100, width: int = W, height: int = H,
              pix_fmt: str = "yuv420p", fmt: str | None = None,
              container_options: dict[str, str] | None = None) -> Path:
    """Write ``n`` stamped frames to ``path`` (container from the suffix, or ``fmt``).

    ``pts`` gives irregular frame timestamps in ``time_base`` units (VFR); by default frame
    ``i`` is at ``i / fps``.  ``rotation`` sets a display matrix (counter-clockwise degrees,
    as PyAV's ``set_display_rotation``).  ``audio_seconds`` adds a tone of that length.
    """
    opts = {"g": "15", "bf": "3"} if codec == "libx264" else {}
    opts.update(options or {})
    with av.open(str(path), "w", format=fmt, container_options=container_options or {}) as out:
        vs = out.add_stream(codec, rate=fps, options=opts)
        vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
        tb = time_base or Fraction(1, fps)
        vs.codec_context.time_base = tb
        vs.time_base = tb
        if rotation is not None:
            vs.set_display_rotation(rotation)
        aud = None
        pending: list[tuple[int, np.ndarray]] = []
        if audio_seconds is not None:
            aud = out.add_stream(audio_codec, rate=audio_rate)
            aud.layout = "stereo"
            out.start_encoding()
            samples = tone(audio_seconds, audio_rate)
            step = aud.codec_context.frame_size or 960
            pending = [(i, samples[:, i:i + step]) for i in range(0, samples.shape[1], step)]
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(stamped(i, width, height), format="rgb24")
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = tb
            out.mux(vs.encode(frame))
            while pending and (i == n - 1 or pending[0][0] / audio_rate <= (i + 1) / fps):
                start, chunk = pending.pop(0)
                out.mux(aud.encode(_audio_frame(chunk, start, audio_rate)))
        out.mux(vs.encode(None))
        if aud is not None:
            out.mux(aud.encode(None))
    return path


def _audio_frame(chunk: np.ndarray, pts: int, rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp",
                                       layout="stereo")
    frame.sample_rate = rate
    frame.pts = pts
    return frame


def make_audio_only(path: Path, seconds: float = 1.0, codec: str = "aac") -> Path:
    """An audio-only file (e.g. ``.m4a``)."""
    with av.open(str(path), "w") as out:
        aud = out.add_stream(codec, rate=44100)
        aud.layout = "stereo"
        out.start_encoding()
        samples = tone(seconds, 44100)
        step = aud.codec_context.frame_size or 1024
        for i in range(0, samples.shape[1], step):
            out.mux(aud.encode(_audio_frame(samples[:, i:i + step], i, 44100)))
        out.mux(aud.encode(None))
    return path


def audio_samples(path: Path) -> tuple[str, int, int]:
    """``(codec, sample_rate, decoded sample count)`` of the first audio stream."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        n = sum(f.samples for f in c.decode(a))
        return a.codec_context.name, a.codec_context.sample_rate, n


def packet_layout(path: Path) -> dict[str, list[int]]:
    """Byte offsets in the file of the packets of each stream type."""
    out: dict[str, list[int]] = {}
    with av.open(str(path)) as c:
        for p in c.demux():
            if p.size:
                out.setdefault(p.stream.type, []).append(p.pos)
    return out


def has_bframes(path: Path) -> bool:
    """True when packets are not in presentation order (the stream uses B-frames)."""
    with av.open(str(path)) as c:
        pts = [p.pts for p in c.demux(c.streams.video[0]) if p.size and p.pts is not None]
    return any(b < a for a, b in itertools.pairwise(pts))
