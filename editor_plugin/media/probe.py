"""Probe a video file: exact frame count and timestamps from a packet index, display size, audio.

The frame index is built by demuxing every packet of the video stream *without decoding*: the
sorted presentation timestamps of those packets are the clip's frames, in presentation order.
That gives the exact frame count and every frame's time for constant and variable frame rate,
B-frames included.  Only the first frame is decoded, to prove the clip decodes and to read its
rotation (display matrix) and pixel format.

Time: ``pts`` values are integers in the video stream's ``time_base``; seconds are exact
:class:`fractions.Fraction` values measured from the first frame's pts (first frame is time 0).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from editor_plugin.media.errors import AV_ERRORS, MediaError, reason, unreadable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipInfo:
    """What a clip is, as the rest of humanfx sees it.

    Attributes:
        path: the file.
        width, height: *displayed* frame size in pixels, after rotation metadata is applied.
        frame_count: exact number of frames (from the packet index).
        fps: average frame rate; ``frame_count / duration`` for VFR clips, else the stream's
            average rate.
        time_base: the video stream's time base (seconds per pts tick).
        duration: seconds, exact: ``frame_count / fps`` for CFR clips; for VFR clips the span
            from the first frame's pts to the end of the last frame.
        rotation: clockwise degrees (0/90/180/270) applied to decoded frames for display,
            as in the legacy ``rotate`` tag (a portrait phone clip is usually 90).
        codec, pix_fmt: decoder name (e.g. ``"h264"``) and decoded pixel format.
        is_vfr: True when frame durations differ by more than timestamp rounding.
        has_audio, audio_codec, audio_rate, audio_channels: the first audio stream, if any.
    """

    path: Path
    width: int
    height: int
    frame_count: int
    fps: Fraction
    time_base: Fraction
    duration: Fraction
    rotation: int
    codec: str
    pix_fmt: str
    is_vfr: bool
    has_audio: bool
    audio_codec: str | None
    audio_rate: int | None
    audio_channels: int | None


@dataclass(frozen=True, eq=False)
class FrameIndex:
    """Packet index of a video stream, all timestamps in the stream's time base.

    Attributes:
        pts: ``(N,)`` int64, sorted presentation timestamps; ``pts[i]`` is frame ``i``.
        key_pts: ``(K,)`` int64, sorted pts of the keyframe packets.  Seeking the stream to
            ``key_pts[k]`` (FFmpeg seeks MP4/MOV and Matroska by pts) lands on keyframe ``k``.
    """

    pts: np.ndarray
    key_pts: np.ndarray

    def __len__(self) -> int:
        return int(self.pts.shape[0])

    def find(self, ts: int) -> int:
        """Frame index whose pts is exactly ``ts``, or -1."""
        i = int(np.searchsorted(self.pts, ts, side="left"))
        return i if i < len(self) and int(self.pts[i]) == ts else -1

    def seek_point(self, index: int) -> int:
        """Position ``k`` in ``key_pts`` of the latest keyframe at or before frame ``index``
        (-1 when the frame precedes every keyframe: seek to the first frame)."""
        return int(np.searchsorted(self.key_pts, self.pts[index], side="right")) - 1


def check_readable_file(path: Path) -> None:
    """Raise :class:`MediaError` when ``path`` is missing, a folder, or empty."""
    if not path.exists():
        raise MediaError("file not found", path=path, hint="check the path")
    if path.is_dir():
        raise MediaError("is a folder, not a video file", path=path, hint="pick a video file")
    if path.stat().st_size == 0:
        raise unreadable(path, "the file is empty")
    if not os.access(path, os.R_OK):
        raise MediaError("cannot be read (permission denied)", path=path,
                         hint="check the file's permissions")


def open_input(path: str | Path) -> av.container.InputContainer:
    """Open ``path`` for reading with PyAV, mapping every failure to :class:`MediaError`."""
    path = Path(path)
    check_readable_file(path)
    try:
        return av.open(str(path), "r", metadata_errors="ignore")
    except AV_ERRORS as exc:
        raise unreadable(path, reason(exc)) from None


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The clip's main video stream (cover-art pictures excluded)."""
    streams = [s for s in container.streams.video
               if not (int(s.disposition) & int(av.stream.Disposition.attached_pic))]
    if not streams:
        if container.streams.audio:
            raise MediaError("has no video stream (it is audio only)", path=path,
                             hint="open a video file")
        raise unreadable(path, "no video stream")
    return streams[0]


def configure_decoder(stream: av.video.stream.VideoStream, threads: int = 0) -> None:
    """Frame + slice threaded decoding (``threads`` = 0: automatic).  probe() and VideoReader
    decode alike, so both agree on which frames of a damaged file decode."""
    stream.codec_context.thread_type = "AUTO"
    stream.codec_context.thread_count = int(threads)


def _rotation_cw(frame: av.VideoFrame, path: Path) -> int:
    """Clockwise display rotation in {0, 90, 180, 270} from the frame's display matrix."""
    ccw = frame.rotation or 0
    cw = (-round(ccw)) % 360
    snapped = (round(cw / 90) % 4) * 90
    if abs(((cw - snapped) + 180) % 360 - 180) > 1:
        log.warning("%s: display rotation %s° is not a multiple of 90; using %s°", path, cw,
                    snapped)
    return snapped


def _drop_undecodable_tail(container: av.container.InputContainer,
                           vs: av.video.stream.VideoStream, pts: np.ndarray, last_key: int,
                           path: Path) -> np.ndarray:
    """Decode from the last keyframe to the end; drop frames there that do not decode."""
    decoded: set[int] = set()
    try:
        container.seek(int(last_key), stream=vs, backward=True)
        for pkt in container.demux(vs):
            try:
                frames = vs.decode(pkt if pkt.size else None)
            except AV_ERRORS:
                continue
            decoded.update(f.pts for f in frames if f.pts is not None)
    except AV_ERRORS as exc:
        log.debug("%s: could not check the damaged tail (%s)", path, reason(exc))
    if not decoded:
        return pts
    keep = (pts < last_key) | np.isin(pts, np.fromiter(decoded, np.int64))
    if not keep.all():
        log.warning("%s: the last %d frames do not decode; leaving them out", path,
                    int((~keep).sum()))
    return pts[keep] if keep.any() else pts


def scan(container: av.container.InputContainer, path: str | Path,
         stream: av.video.stream.VideoStream | None = None) -> tuple[ClipInfo, FrameIndex]:
    """Build the packet index of the video stream and decode its first frame.

    Reads the whole file once (packets only).  A demux error part-way (a truncated file) ends
    the index there with a warning; when the file looks damaged like that, the last keyframe
    interval is decoded and frames in it that do not decode are dropped from the index.  Raises :class:`MediaError` when there is no video stream,
    no video packet, or no frame decodes.  Leaves the container at its end; callers seek.
    """
    path = Path(path)
    vs = stream if stream is not None else video_stream(container, path)
    if vs.time_base is None:
        raise unreadable(path, "the video stream has no time base")
    tb = Fraction(vs.time_base)
    rate = vs.average_rate or vs.guessed_rate or Fraction(25)
    default_step = max(round(1 / (rate * tb)), 1)  # for packets without any timestamp

    ts_list: list[int] = []
    key_pts: list[int] = []
    dur_of: dict[int, int] = {}
    first_frame: av.VideoFrame | None = None
    decode_error: str | None = None
    damaged = False
    try:
        for pkt in container.demux(vs):
            if pkt.size == 0:
                continue
            if pkt.is_corrupt:
                log.warning("%s: skipping a corrupt video packet", path)
                damaged = True
                continue
            pts, dts = pkt.pts, pkt.dts
            ts = pts if pts is not None else dts
            if ts is None:  # no timestamp at all: assume it follows the previous frame
                ts = (ts_list[-1] + (int(pkt.duration or 0) or default_step)) if ts_list else 0
            ts_list.append(ts)
            dur_of[ts] = int(pkt.duration or 0)
            if pkt.is_keyframe:
                key_pts.append(ts)
            if first_frame is None:
                try:
                    frames = vs.decode(pkt)
                except AV_ERRORS as exc:
                    decode_error = reason(exc)
                    frames = []
                if frames:
                    first_frame = frames[0]
    except AV_ERRORS as exc:
        damaged = True
        log.warning("%s: stopped reading at a damaged or truncated part (%s); using the %d "
                    "frames before it", path, reason(exc), len(ts_list))
    if not ts_list:
        raise unreadable(path, "no video frames")
    if first_frame is None:
        try:
            frames = vs.decode(None)
            first_frame = frames[0] if frames else None
        except AV_ERRORS as exc:
            decode_error = reason(exc)
    if first_frame is None:
        raise unreadable(path, f"no frame decodes{': ' + decode_error if decode_error else ''}")

    pts_arr = np.sort(np.asarray(ts_list, dtype=np.int64))
    if damaged and key_pts:
        pts_arr = _drop_undecodable_tail(container, vs, pts_arr, max(key_pts), path)
    index = FrameIndex(pts=pts_arr, key_pts=np.sort(np.asarray(key_pts, dtype=np.int64)))
    if len(np.unique(pts_arr)) != len(pts_arr):
        log.warning("%s: some video frames share a timestamp; frame times may repeat", path)

    n = len(index)
    deltas = np.diff(pts_arr)
    median = int(np.median(deltas)) if n > 1 else 0
    spread = int(deltas.max() - deltas.min()) if n > 1 else 0
    is_vfr = n > 2 and spread > max(1, median // 100)
    avg = vs.average_rate
    last_dur = dur_of.get(int(pts_arr[-1]), 0) or median
    span = Fraction(int(pts_arr[-1] - pts_arr[0]) + last_dur) * tb
    if not is_vfr and avg and avg > 0 and (n < 2 or abs(Fraction(median) * tb - 1 / avg) <= tb):
        fps = Fraction(avg)
        duration = Fraction(n) / fps
    elif span > 0:
        fps = Fraction(n) / span
        duration = span
    else:  # a single frame of unknown length
        fps = Fraction(avg) if avg and avg > 0 else Fraction(30)
        duration = Fraction(n) / fps

    rotation = _rotation_cw(first_frame, path)
    w, h = first_frame.width, first_frame.height
    if rotation in (90, 270):
        w, h = h, w
    audio = container.streams.audio[0] if container.streams.audio else None
    info = ClipInfo(
        path=path,
        width=w,
        height=h,
        frame_count=n,
        fps=fps,
        time_base=tb,
        duration=duration,
        rotation=rotation,
        codec=vs.codec_context.name,
        pix_fmt=first_frame.format.name,
        is_vfr=bool(is_vfr),
        has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
        audio_rate=int(audio.sample_rate) if audio is not None and audio.sample_rate else None,
        audio_channels=(audio.codec_context.layout.nb_channels or None)
        if audio is not None else None,
    )
    return info, index


def probe(path: str | Path) -> ClipInfo:
    """Describe the video at ``path`` (see :class:`ClipInfo`).

    Raises :class:`MediaError` naming the file for: a missing file, a file that is not a
    video, a file with no video stream, no frames, or nothing decodable.
    """
    path = Path(path)
    container = open_input(path)
    try:
        stream = video_stream(container, path)
        configure_decoder(stream)
        info, _ = scan(container, path, stream)
        return info
    finally:
        container.close()
