"""Audio for written videos: copy packets, or decode, trim, resample and encode, progressively.

An :class:`AudioTrack` owns one audio stream of an output container.  The video writer calls
:meth:`AudioTrack.pump` after each video frame so audio is muxed alongside the video instead of
being buffered, and :meth:`AudioTrack.finish` at the end.

Time: the output audio starts at output time 0, which is ``AudioSpec.start`` on the source's
clock.  The source clock is the reader's: seconds from the source's first video frame (from
its audio stream's start when it has no video), so ``AudioSpec(source=clip, start=t0)``
lines up with ``VideoReader(clip).timestamps``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from editor_plugin.media.errors import AV_ERRORS, MediaError, reason
from editor_plugin.media.probe import open_input

log = logging.getLogger(__name__)

#: Source audio codecs copied without re-encoding, per output kind.
COPYABLE: dict[str, frozenset[str]] = {
    "mp4": frozenset({"aac", "mp3", "alac", "ac3", "eac3"}),
    "mov": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le",
                      "pcm_s16be", "pcm_s24be"}),
    "mkv": frozenset({"aac", "mp3", "opus", "vorbis", "flac", "alac", "ac3", "eac3", "dts",
                      "truehd", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"}),
    "wav": frozenset({"pcm_s16le"}),
}
#: Encoder used when the audio has to be re-encoded, per output kind.
ENCODER: dict[str, str] = {"mp4": "aac", "mov": "aac", "mkv": "flac", "wav": "pcm_s16le"}
_AAC_RATES = frozenset({96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000,
                        12000, 11025, 8000, 7350})
_KEEP_LAYOUTS = frozenset({"mono", "stereo", "5.1", "5.1(side)", "7.1"})
_CHUNK = 4096


@dataclass(frozen=True)
class AudioSpec:
    """Where the output's audio comes from.

    Either ``source`` (a media file whose first audio stream is used, from ``start`` to ``end``
    seconds on the source clock; ``end=None`` means to the end) or ``samples``: raw PCM,
    ``(channels, n)`` float32 in ``[-1, 1]`` (a 1-D array is mono) at ``sample_rate`` Hz, of
    which ``start``..``end`` is used as well.
    """

    source: Path | None = None
    start: Fraction = Fraction(0)
    end: Fraction | None = None
    samples: np.ndarray | None = None
    sample_rate: int = 48000


def _layout_name(layout: av.AudioLayout) -> str:
    """A layout name FFmpeg parses back; the default layout for the channel count otherwise."""
    try:
        return av.AudioLayout(layout.name).name
    except (ValueError, *AV_ERRORS):
        return av.AudioLayout(f"{max(layout.nb_channels, 1)}c").name


class AudioTrack:
    """One audio stream of an output container, fed from an :class:`AudioSpec`.

    Create it after the video stream and before the container's header is written; call
    :meth:`start` once the header is written (``container.start_encoding()``).
    """

    def __init__(self, spec: AudioSpec, container: av.container.OutputContainer, kind: str,
                 out_path: Path):
        if (spec.source is None) == (spec.samples is None):
            raise ValueError("AudioSpec needs exactly one of source= or samples=")
        if spec.end is not None and spec.end <= spec.start:
            raise ValueError(f"AudioSpec end {spec.end} is not after start {spec.start}")
        self._spec = spec
        self._container = container
        self._kind = kind
        self._out_path = out_path
        self._src: av.container.InputContainer | None = None
        self._src_stream: av.audio.stream.AudioStream | None = None
        self._origin = Fraction(0)
        self._copy = False
        self._done = False
        self._pending: av.Packet | None = None
        self._chunks: Iterator[np.ndarray] | None = None
        self._fed = 0  # source-rate samples handed to the encoder
        self._out_samples = 0
        self._resampler: av.AudioResampler | None = None
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        spec, kind = self._spec, self._kind
        if spec.source is not None:
            self._open_source(Path(spec.source))
            src_rate = int(self._src_stream.sample_rate)
            layout = _layout_name(self._src_stream.codec_context.layout)
        else:
            samples = np.asarray(spec.samples, dtype=np.float32)
            if samples.ndim == 1:
                samples = samples[None, :]
            if samples.ndim != 2 or not 1 <= samples.shape[0] <= 8:
                raise ValueError(f"AudioSpec.samples must be (channels, n), got {samples.shape}")
            self._samples = samples
            src_rate = int(spec.sample_rate)
            layout = av.AudioLayout(f"{samples.shape[0]}c").name
        self._src_rate = src_rate
        self._src_layout = layout  # layout of the float chunks the sources yield
        if self._copy:
            self.stream = self._container.add_stream_from_template(self._src_stream)
            return
        codec = ENCODER[kind]
        rate = src_rate if codec != "aac" or src_rate in _AAC_RATES else 48000
        self.stream = self._container.add_stream(codec, rate=rate)
        self.stream.layout = layout if layout in _KEEP_LAYOUTS else "stereo"
        if codec == "aac":
            self.stream.bit_rate = 96000 * self.stream.layout.nb_channels
        self._out_rate = rate

    # -- setup ------------------------------------------------------------------------------

    def _open_source(self, source: Path) -> None:
        self._src = open_input(source)
        audio = self._src.streams.audio
        if not audio:
            self._src.close()
            raise MediaError("has no audio stream", path=source,
                             hint="export without audio or pick another audio source")
        a = self._src_stream = audio[0]
        videos = [s for s in self._src.streams.video if s.start_time is not None
                  and not (int(s.disposition) & int(av.stream.Disposition.attached_pic))]
        if videos:
            self._origin = videos[0].start_time * Fraction(videos[0].time_base)
        elif a.start_time is not None:
            self._origin = a.start_time * Fraction(a.time_base)
        spec = self._spec
        whole = spec.start <= 0 and (spec.end is None or self._source_end() is not None
                                     and spec.end >= self._source_end())
        self._copy = (whole and a.codec_context.name in COPYABLE[self._kind]
                      and not (self._kind == "mkv" and a.codec_context.name != "opus"
                               and self._starts_early(source)))
        log.debug("%s: audio from %s: %s", self._out_path, source,
                  "copied" if self._copy else f"re-encoded as {ENCODER[self._kind]}")

    def _starts_early(self, source: Path) -> bool:
        """True when the source's first audio packet is before time 0 (encoder priming, which
        only MP4/MOV edit lists and Opus in Matroska can express)."""
        with av.open(str(source), "r", metadata_errors="ignore") as peek:
            a = peek.streams.audio[0]
            for pkt in peek.demux(a):
                ts = pkt.pts if pkt.pts is not None else pkt.dts
                if ts is not None:
                    return ts * Fraction(a.time_base) < self._origin
        return False

    def _source_end(self) -> Fraction | None:
        """End of the source audio on the source clock, if the container says."""
        a = self._src_stream
        if a.duration is not None and a.time_base is not None:
            return (int(a.start_time or 0) + a.duration) * Fraction(a.time_base) - self._origin
        if self._src.duration is not None:
            return Fraction(self._src.duration, av.time_base) - self._origin
        return None

    def start(self) -> None:
        """Call after the output header is written (codecs are open)."""
        if self._copy:
            self._copy_ticks = round(self._origin / Fraction(self._src_stream.time_base))
            self._packets = self._src.demux(self._src_stream)
            return
        cc = self.stream.codec_context
        self._resampler = av.AudioResampler(format=cc.format, layout=cc.layout,
                                            rate=cc.sample_rate,
                                            frame_size=cc.frame_size or None)
        self._chunks = self._decoded_chunks() if self._src is not None else self._raw_chunks()

    # -- feeding ----------------------------------------------------------------------------

    def pump(self, until: Fraction | None) -> None:
        """Mux audio up to output time ``until`` seconds (``None``: everything left)."""
        if self._done:
            return
        try:
            if self._copy:
                self._pump_copy(until)
            else:
                self._pump_encode(until)
        except AV_ERRORS as exc:
            raise MediaError(f"could not write audio ({reason(exc)})", path=self._out_path,
                             hint="check the audio source or export without audio") from None

    def finish(self) -> None:
        """Mux all remaining audio and flush the encoder."""
        if self._done:
            return
        self.pump(None)
        if not self._copy:
            try:
                for frame in self._resampler.resample(None):
                    self._encode(frame)
                self._container.mux(self.stream.encode(None))
            except AV_ERRORS as exc:
                raise MediaError(f"could not write audio ({reason(exc)})",
                                 path=self._out_path) from None
        self._done = True
        self.close()

    def close(self) -> None:
        """Release the source file.  Idempotent."""
        if self._src is not None:
            self._src.close()
            self._src = None

    def _pump_copy(self, until: Fraction | None) -> None:
        tb = Fraction(self._src_stream.time_base)
        while True:
            pkt = self._pending
            self._pending = None
            if pkt is None:
                pkt = next(self._packets, None)
                if pkt is None:
                    return
                if pkt.size == 0 or pkt.dts is None and pkt.pts is None:
                    continue
            t = ((pkt.pts if pkt.pts is not None else pkt.dts) - self._copy_ticks) * tb
            if until is not None and t > until:
                self._pending = pkt
                return
            if pkt.pts is not None:
                pkt.pts -= self._copy_ticks
            if pkt.dts is not None:
                pkt.dts -= self._copy_ticks
            pkt.stream = self.stream
            self._container.mux(pkt)

    def _pump_encode(self, until: Fraction | None) -> None:
        limit = None if until is None else until * self._src_rate
        while limit is None or self._fed < limit:
            chunk = next(self._chunks, None)
            if chunk is None:
                return
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp",
                                               layout=self._src_layout)
            frame.sample_rate = self._src_rate
            frame.time_base = Fraction(1, self._src_rate)
            frame.pts = self._fed
            self._fed += chunk.shape[1]
            for out in self._resampler.resample(frame):
                self._encode(out)

    def _encode(self, frame: av.AudioFrame) -> None:
        frame.pts = self._out_samples
        frame.time_base = Fraction(1, self._out_rate)
        self._out_samples += frame.samples
        self._container.mux(self.stream.encode(frame))

    # -- sources (float32 (channels, n) chunks at the source rate, trimmed) -----------------

    def _bounds(self) -> tuple[int, int | None]:
        sr = self._src_rate
        start = max(round(self._spec.start * sr), 0)
        end = None if self._spec.end is None else round(self._spec.end * sr)
        return start, end

    def _raw_chunks(self) -> Iterator[np.ndarray]:
        start, end = self._bounds()
        data = np.clip(self._samples, -1.0, 1.0)
        end = data.shape[1] if end is None else min(end, data.shape[1])
        for i in range(start, end, _CHUNK):
            yield data[:, i:min(i + _CHUNK, end)]

    def _decoded_chunks(self) -> Iterator[np.ndarray]:
        a = self._src_stream
        sr = self._src_rate
        start, end = self._bounds()
        tb = Fraction(a.time_base)
        if start > 0:  # a little early: codecs like AAC need the previous frame to settle
            target = self._origin + Fraction(start, sr) - Fraction(1, 5)
            try:
                self._src.seek(max(int(target / tb), int(a.start_time or 0)), stream=a,
                               backward=True)
            except AV_ERRORS as exc:
                log.debug("audio seek failed (%s); decoding from the start", reason(exc))
        to_float = av.AudioResampler(format="fltp", layout=self._src_layout, rate=sr)
        pos: int | None = None  # source sample index (relative to output time 0) of next chunk
        for pkt in self._src.demux(a):
            try:
                frames = a.decode(pkt if pkt.size else None)
            except AV_ERRORS as exc:
                log.warning("%s: skipping an undecodable audio packet (%s)", self._spec.source,
                            reason(exc))
                continue
            for frame in frames:
                if pos is None:
                    t0 = Fraction(frame.pts) * Fraction(frame.time_base) \
                        if frame.pts is not None else Fraction(0)
                    pos = round((t0 - self._origin) * sr)
                    if pos > start:  # the audio starts late: lead with silence
                        gap = pos - start if end is None else min(pos, end) - start
                        for i in range(0, gap, _CHUNK):
                            yield np.zeros((_channels(self._src_layout), min(_CHUNK, gap - i)),
                                           np.float32)
                for f in to_float.resample(frame):
                    arr = f.to_ndarray()
                    n = arr.shape[1]
                    lo, hi = max(pos, start), pos + n if end is None else min(pos + n, end)
                    if hi > lo:
                        yield arr[:, lo - pos:hi - pos]
                    pos += n
                    if end is not None and pos >= end:
                        return


def _channels(layout: str) -> int:
    return av.AudioLayout(layout).nb_channels
