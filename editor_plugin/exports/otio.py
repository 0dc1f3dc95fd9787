"""OpenTimelineIO export: the clip, its composited render and per-person mattes as one timeline.

Layout of the written timeline (``.otio``, OTIO JSON)::

    V1  "source"        the source clip (ExternalReference to the clip file)
    V2  "render"        the composited render, when one is given
    V3… "person-<id>"   one track per person matte (a movie file, or an ImageSequenceReference
                        for a PNG-sequence folder)
    A1  "source audio"  the source clip's audio, when it has any

Time: every range is in frames at the clip's exact rate.  OTIO stores rates as doubles, so
``RationalTime(n, float(fps))`` is used (30000/1001 -> 29.97002997…, which OTIO recognises as
the NTSC rate); the exact rational rate is also kept as text in the metadata (``"fps":
"30000/1001"``), together with the time base, so a reader never has to guess it.  A render or
matte that covers only part of the clip is placed at its first frame when that is known (PNG
sequences are numbered by source frame), else at the start; its duration is its own frame
count (probed).

Metadata: ``timeline.metadata["humanfx"]`` holds ``clip`` (path), ``content_hash`` (the clip's
:func:`~inference.cache.clip_content_hash`), ``layer_cache`` (path of the layer cache used),
``layers_source``, ``fps``, ``time_base``, ``frame_count`` and ``persons``
(``[{"id", "name"}]``); each clip's ``metadata["humanfx"]`` has its ``role`` (``source``,
``render``, ``matte`` or ``audio``) and, for mattes, ``person_id``.  Media paths are absolute
``file://`` URLs.

The file is written atomically (temporary name in the same folder + ``os.replace``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editor_plugin.exports.mattes import ID_MATTE_NAME, MATTE_CODECS
from inference.errors import InputError
from inference.tracks.cocovideo import write_text_atomic

if TYPE_CHECKING:
    import opentimelineio as otio

    from editor_plugin.session import ClipSession

log = logging.getLogger(__name__)

METADATA_KEY = "humanfx"
_MATTE_RE = re.compile(r"person-(\d+)(\.mov|\.mkv)?\Z")
_SEQ_RE = re.compile(r"(?P<prefix>.+\.)(?P<num>\d+)(?P<suffix>\.png)\Z")


@dataclass(frozen=True)
class MediaItem:
    """A file (or PNG-sequence folder) to place on a track.

    ``start``: the clip frame its first frame shows; ``frames``: its frame count.
    """

    path: Path
    start: int
    frames: int


def _probe_media(path: Path, default_start: int = 0) -> MediaItem:
    """Frame count (and, for a PNG sequence, the first frame number) of a render or matte."""
    if path.is_dir():
        numbers = sorted(int(m["num"]) for p in path.iterdir()
                         if (m := _SEQ_RE.match(p.name)) is not None)
        if not numbers:
            raise InputError("holds no numbered PNG files", path=path,
                             hint="give a render or matte file, or a PNG-sequence folder")
        return MediaItem(path, numbers[0], len(numbers))
    from editor_plugin.media import probe

    return MediaItem(path, default_start, probe(path).frame_count)


def find_mattes(folder: str | Path) -> dict[int, Path]:
    """``{track_id: path}`` of the per-person mattes in an ``export-mattes`` folder (the ID
    matte and other files are left out)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("is not a folder of mattes", path=folder,
                         hint="give the folder written by `humanfx export-mattes`")
    suffixes = set(MATTE_CODECS.values())
    out: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        m = _MATTE_RE.match(p.name)
        if m is None or p.name.startswith(ID_MATTE_NAME):
            continue
        if (m.group(2) or "") in suffixes and (p.is_dir() == (m.group(2) is None)):
            out[int(m.group(1))] = p
    return out


def _url(path: Path) -> str:
    return path.resolve().as_uri()


def _range(start: int, frames: int, rate: float) -> otio.opentime.TimeRange:
    import opentimelineio as otio

    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate),
                                   otio.opentime.RationalTime(frames, rate))


def _reference(item: MediaItem, rate: float) -> otio.core.MediaReference:
    import opentimelineio as otio

    if item.path.is_dir():
        first = min((p for p in item.path.iterdir() if _SEQ_RE.match(p.name)),
                    key=lambda p: int(_SEQ_RE.match(p.name)["num"]))
        m = _SEQ_RE.match(first.name)
        return otio.schema.ImageSequenceReference(
            target_url_base=_url(item.path) + "/", name_prefix=m["prefix"],
            name_suffix=m["suffix"], start_frame=item.start, frame_step=1, rate=rate,
            frame_zero_padding=len(m["num"]), available_range=_range(0, item.frames, rate))
    return otio.schema.ExternalReference(target_url=_url(item.path),
                                         available_range=_range(0, item.frames, rate))


def _track(name: str, kind: str, item: MediaItem, rate: float, meta: dict[str, Any]
           ) -> otio.schema.Track:
    import opentimelineio as otio

    track = otio.schema.Track(name=name, kind=kind)
    if item.start > 0:
        track.append(otio.schema.Gap(source_range=_range(0, item.start, rate)))
    track.append(otio.schema.Clip(name=item.path.name, media_reference=_reference(item, rate),
                                  source_range=_range(0, item.frames, rate),
                                  metadata={METADATA_KEY: meta}))
    return track


def build_timeline(session: ClipSession, *, render: str | Path | None = None,
                   mattes: dict[int, Path] | None = None, layers: str | None = None,
                   name: str | None = None) -> otio.schema.Timeline:
    """The timeline of ``session``'s clip (see the module docstring).

    ``render``: a composited render (file or PNG folder); ``mattes``: ``{track_id: path}``
    (e.g. :func:`find_mattes`); ``layers``: which layer cache (source name) the metadata
    names (None: the newest).  Raises InputError for a missing file or unknown person.
    """
    import opentimelineio as otio

    info = session.info
    rate = float(info.fps)
    with session.layers(layers) as cache:
        cache_file = cache.path
        source = cache.meta.source
        persons = cache.tracks()
    names = {p.id: p.name for p in persons}
    mattes = dict(mattes or {})
    unknown = sorted(set(mattes) - set(names))
    if unknown:
        raise InputError(f"matte of person {unknown[0]} is not a person of this clip",
                         path=mattes[unknown[0]], hint="export the mattes of this clip")
    for p in ([Path(render)] if render is not None else []) + list(mattes.values()):
        if not p.exists():
            raise InputError("not found", path=p, hint="render or export it first")

    timeline = otio.schema.Timeline(name=name or session.path.stem,
                                    global_start_time=otio.opentime.RationalTime(0, rate))
    timeline.metadata[METADATA_KEY] = {
        "clip": str(session.path.resolve()),
        "content_hash": session.clip_hash,
        "layer_cache": str(cache_file),
        "layers_source": source,
        "fps": str(Fraction(info.fps)),
        "time_base": str(Fraction(info.time_base)),
        "frame_count": info.frame_count,
        "persons": [{"id": p.id, "name": p.name} for p in persons],
    }
    src = MediaItem(session.path, 0, info.frame_count)
    tracks = timeline.tracks
    tracks.append(_track("source", otio.schema.TrackKind.Video, src, rate, {"role": "source"}))
    if render is not None:
        tracks.append(_track("render", otio.schema.TrackKind.Video, _probe_media(Path(render)),
                             rate, {"role": "render"}))
    for tid in sorted(mattes):
        tracks.append(_track(f"person-{tid}", otio.schema.TrackKind.Video,
                             _probe_media(mattes[tid]), rate,
                             {"role": "matte", "person_id": tid, "person_name": names[tid]}))
    if info.has_audio:
        tracks.append(_track("source audio", otio.schema.TrackKind.Audio, src, rate,
                             {"role": "audio"}))
    return timeline


def export_otio(session: ClipSession, out: str | Path, *, render: str | Path | None = None,
                mattes_dir: str | Path | None = None, layers: str | None = None) -> Path:
    """Write the timeline of :func:`build_timeline` to ``out`` (OTIO JSON), atomically.

    ``mattes_dir``: a folder written by ``humanfx export-mattes`` (its ``person-<id>`` files).
    Returns ``out``.
    """
    import opentimelineio as otio

    out = Path(out)
    mattes = find_mattes(mattes_dir) if mattes_dir is not None else None
    if mattes_dir is not None and not mattes:
        raise InputError("holds no person mattes", path=mattes_dir,
                         hint="run `humanfx export-mattes` into it first")
    timeline = build_timeline(session, render=render, mattes=mattes, layers=layers)
    text = otio.adapters.write_to_string(timeline, "otio_json")
    write_text_atomic(out, text)
    log.info("wrote %s (%d tracks)", out, len(timeline.tracks))
    return out


__all__ = ["METADATA_KEY", "MediaItem", "build_timeline", "export_otio", "find_mattes"]
