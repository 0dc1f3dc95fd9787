"""Chunked renders for ``humanfx batch``: the frame ranges of the chunks
(:func:`chunk_bounds`), the ``--chunk i/N`` argument (:func:`parse_chunk`) and the join of the
rendered parts into one file (:func:`join_parts`).

A render's frame range ``[R0, R1)`` is split into N ranges ``[a_k, a_{k+1})`` with
``a_k = R0 + k*(R1-R0)//N``.  The parts are joined by re-muxing their video packets (no
re-encoding): each part starts with a keyframe and video timestamps are set to the clip's exact
frame times.  Parts carry no audio; the join writes the range's audio from the source in one
go, exactly as a single render does, so there is no seam at the joins.

:mod:`editor_plugin.batch` renders the parts and re-exports these names.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from inference.errors import InputError

_INTRA = frozenset({"ffv1", "prores", "png"})


def chunk_bounds(start: int, stop: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` consecutive, non-empty ``[a, b)`` ranges covering ``[start, stop)``."""
    n = stop - start
    if not 1 <= chunks <= n:
        raise InputError(f"cannot split {n} frames into {chunks} chunks",
                         hint=f"use 1 to {n} chunks")
    return [(start + k * n // chunks, start + (k + 1) * n // chunks) for k in range(chunks)]


def parse_chunk(text: str) -> tuple[int, int]:
    """``"i/N"`` (1-based ``i``) -> ``(i, N)``; ValueError for anything else."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"bad chunk {text!r}: use i/N, e.g. 2/3") from None
    if not 1 <= i <= n:
        raise ValueError(f"bad chunk {text!r}: i must be 1..N")
    return i, n


def join_parts(parts: Sequence[Path], out: Path, *, frame_times: Sequence[Fraction],
               starts: Sequence[int], time_base: Fraction, audio: Any = None) -> Path:
    """Concatenate rendered parts into ``out`` by re-muxing their video packets (no re-encoding).

    ``frame_times[j]``: exact output time (seconds) of output frame ``j``; ``starts[k]``: index
    of part ``k``'s first frame in ``frame_times``; ``time_base``: the clip's time base, in
    which every frame time is a whole number.  Intra-only codecs (FFV1, ProRes) get each
    frame's exact time; inter codecs (H.264/HEVC; every part starts with a keyframe) are
    shifted by the part's start.  ``audio``: an :class:`~editor_plugin.media.AudioSpec` for the
    whole range, written exactly as a single render writes it (copied or encoded once, so there
    is no seam at the joins), or None.  Atomic.
    """
    import av

    from editor_plugin.media.audio import AudioTrack

    kind = {".mp4": "mp4", ".mov": "mov", ".mkv": "mkv"}.get(out.suffix.lower())
    if kind is None:
        raise InputError("parts are joined into .mp4, .mov or .mkv files", path=out)
    tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.tmp{out.suffix}")
    opts = {"movflags": "+faststart"} if kind != "mkv" else {}
    track = None
    try:
        with av.open(str(parts[0])) as first, \
                av.open(str(tmp), "w", format="matroska" if kind == "mkv" else kind,
                        container_options=opts) as dst:
            ov = dst.add_stream_from_template(first.streams.video[0])
            track = AudioTrack(audio, dst, kind, out) if audio is not None else None
            dst.start_encoding()
            if track is not None:
                track.start()
            for k, part in enumerate(parts):
                expected = (starts[k + 1] if k + 1 < len(starts) else len(frame_times)) - starts[k]
                with av.open(str(part)) as src:
                    vs = src.streams.video[0]
                    pts = sorted(p.pts for p in src.demux(vs) if p.size)
                    if len(pts) != expected:
                        raise InputError(f"has {len(pts)} frames, {expected} expected", path=part,
                                         hint="delete the part and render its chunk again")
                    rank = {p: r for r, p in enumerate(pts)}
                    intra = vs.codec_context.name in _INTRA
                    src.seek(0)
                    for pkt in src.demux(vs):
                        if not pkt.size or pkt.pts is None:
                            continue
                        t = frame_times[starts[k] + rank[pkt.pts]]
                        if intra:
                            pkt.pts = pkt.dts = int(t / time_base)
                            pkt.time_base = time_base
                        else:
                            shift = round(frame_times[starts[k]] / Fraction(pkt.time_base)) - pts[0]
                            pkt.dts = (pkt.pts if pkt.dts is None else pkt.dts) + shift
                            pkt.pts += shift
                        pkt.stream = ov
                        dst.mux(pkt)
                        if track is not None:
                            track.pump(t)
            if track is not None:
                track.finish()
        os.replace(tmp, out)
    except BaseException:
        if track is not None:
            track.close()
        tmp.unlink(missing_ok=True)
        raise
    return out


__all__ = ["chunk_bounds", "join_parts", "parse_chunk"]
