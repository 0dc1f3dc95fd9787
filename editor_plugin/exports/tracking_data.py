"""Per-person joint tracks for NLEs, compositors and scripts, and the tracks formats.

Formats (``fmt``; see ``docs/nle-exports.md`` for each layout):

* ``after-effects``: "Adobe After Effects 8.0 Keyframe Data" clipboard text, one
  ``Transform / Position`` block per file (one person's joint), to paste onto a null;
* ``nuke-chan``: Nuke ``.chan`` (``frame tx ty tz rx ry rz`` per line), ``ty`` flipped to
  Nuke's bottom-left origin (``ty = height - y``);
* ``csv``: ``frame,time,track_id,joint,x,y,v,score``, one row per labelled joint;
* ``json``: ``humanfx-joint-tracks`` version 1, per person, columnar (for Blender and scripts);
* ``cocovideo``, ``youtube-vis``, ``posetrack`` (:func:`inference.tracks.io.save_tracks`) and
  ``mot`` (MOTChallenge results, 1-based frames, via
  :func:`inference.tracking.write_mot_results`).

Coordinates are the tracks' own (:mod:`inference.tracks.model`): pixels of the displayed frame,
origin at the top-left corner, x right, y down, pixel centres at ``+0.5`` -- the same as After
Effects' comp pixels.  A joint "has a position" on a frame when the person has a record there
and the joint's visibility ``v`` is 1 (occluded, estimated) or 2 (visible); frames without a
position are left out of the keyframe and CSV outputs (After Effects and Nuke interpolate
across them) and are ``null`` in JSON.

Every file is written atomically; a folder of keyframe files is staged beside its destination
and renamed into place as a whole.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from editor_plugin.exports import check_replaceable, publish, staging_folder
from inference.errors import InputError
from inference.tracks.cocovideo import write_text_atomic
from inference.tracks.io import FORMATS as TRACKS_FORMATS
from inference.tracks.io import normalize_format, save_tracks
from inference.tracks.model import COCO_KEYPOINTS, PersonRecord, TrackSet, VideoInfo

if TYPE_CHECKING:
    from editor_plugin.session import ClipSession

log = logging.getLogger(__name__)

JSON_FORMAT_NAME = "humanfx-joint-tracks"
JSON_FORMAT_VERSION = 1
#: Formats that carry joints, one position per joint per frame (``--joint`` applies to them).
JOINT_FORMATS: tuple[str, ...] = ("after-effects", "nuke-chan", "csv", "json")
#: Everything ``humanfx export-tracks --format`` writes.
EXPORT_FORMATS: tuple[str, ...] = (*TRACKS_FORMATS, "mot", *JOINT_FORMATS)
#: Formats written as one file per (person, joint): their suffix, and default first frame number.
KEYFRAME_FORMATS: dict[str, tuple[str, int]] = {"after-effects": (".txt", 0),
                                                "nuke-chan": (".chan", 1)}
#: Formats whose masks ``--smoothed`` stabilises too (the others carry no masks).
_MASK_FORMATS = ("cocovideo", "youtube-vis", "mot")
_SMOOTH_SUFFIX = ".smooth"  # inference.smoothing.SMOOTH_SUFFIX, without importing scipy here

_ALIASES = {
    "after-effects": "after-effects", "aftereffects": "after-effects", "ae": "after-effects",
    "nuke-chan": "nuke-chan", "nuke": "nuke-chan", "chan": "nuke-chan",
    "csv": "csv", "json": "json", "joints-json": "json",
    "mot": "mot", "motchallenge": "mot",
}  # fmt: skip

Point = tuple[int, float, float]  # (frame_index, x, y)


# -- small helpers -----------------------------------------------------------------------------
def normalize_export_format(name: str) -> str:
    """Canonical export format name (case and aliases); InputError when unknown."""
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return normalize_format(key)
    except InputError:
        raise InputError(f"unknown export format {name!r}",
                         hint=f"use one of: {', '.join(EXPORT_FORMATS)}") from None


def decimal_string(value: Fraction | int, places: int = 9) -> str:
    """``value`` as a plain decimal with at most ``places`` decimals, rounded (half to even)
    from the exact rational -- exact whenever ``value`` has that few decimals.  No exponent,
    no trailing zeros: ``Fraction(1, 24)`` -> ``"0.041666667"``, ``Fraction(3, 2)`` -> ``"1.5"``."""
    scale = 10**places
    q = round(Fraction(value) * scale)
    sign, q = ("-" if q < 0 else ""), abs(q)
    whole, frac = divmod(q, scale)
    text = f"{whole}.{frac:0{places}d}".rstrip("0").rstrip(".") if places else str(whole)
    return sign + text if q else "0"


def _num(x: float) -> str:
    """Shortest decimal that reads back as the same float, never in exponent notation."""
    return np.format_float_positional(float(x), trim="-")


def parse_joints(joints: Sequence[str] | str | None) -> list[int]:
    """Joint names (``"left_wrist"``, ``"left-wrist"``; a comma list; ``"all"``; ``None`` = all)
    -> 0-based COCO indices in COCO order.  InputError names the valid joints."""
    if joints is None:
        return list(range(len(COCO_KEYPOINTS)))
    names = joints.split(",") if isinstance(joints, str) else list(joints)
    names = [n.strip().lower().replace("-", "_").replace(" ", "_") for n in names if n.strip()]
    if not names or "all" in names:
        return list(range(len(COCO_KEYPOINTS)))
    bad = [n for n in names if n not in COCO_KEYPOINTS]
    if bad:
        raise InputError(f"{bad[0]!r} is not a COCO joint",
                         hint=f"use all or one of: {', '.join(COCO_KEYPOINTS)}")
    return sorted({COCO_KEYPOINTS.index(n) for n in names})


def select_persons(ts: TrackSet, persons: Sequence[int] | None) -> TrackSet:
    """``ts`` narrowed to the first video and the given track ids (``None`` = everyone).
    Records are shared, not copied.  InputError for an id that is not a track of ``ts``."""
    if not ts.videos:
        raise InputError("the tracks have no video")
    vid = ts.videos[0].id
    known = {t.id for t in ts.tracks if t.video_id == vid}
    keep = known if persons is None else set(persons)
    unknown = sorted(keep - known)
    if unknown:
        listing = ", ".join(map(str, sorted(known))) or "none"
        raise InputError(f"person {', '.join(map(str, unknown))} is not in these tracks "
                         f"(persons: {listing})", hint="run `humanfx persons CLIP` to list them")
    return TrackSet(
        videos=[ts.videos[0]],
        tracks=sorted((t for t in ts.tracks if t.video_id == vid and t.id in keep),
                      key=lambda t: t.id),
        annotations=sorted((a for a in ts.annotations if a.video_id == vid
                            and a.track_id in keep), key=lambda a: (a.frame_index, a.track_id)),
        info=dict(ts.info))


def frame_times(video: VideoInfo) -> list[Fraction]:
    """Constant-rate frame times ``i / fps`` (use the clip's real timestamps when known)."""
    if video.fps <= 0:
        raise InputError("the tracks do not say the frame rate, so frame times are unknown",
                         hint="export from the clip (humanfx export-tracks CLIP ...)")
    return [Fraction(i) / video.fps for i in range(video.length)]


def joint_points(records: Sequence[PersonRecord], joint: int) -> list[Point]:
    """``(frame_index, x, y)`` of one joint over one track's records, where it has a position
    (``v > 0``), in frame order."""
    out = [(r.frame_index, float(r.keypoints[joint, 0]), float(r.keypoints[joint, 1]))
           for r in records if r.keypoints[joint, 2] > 0]
    return sorted(out, key=lambda p: p[0])


def _by_track(ts: TrackSet) -> dict[int, list[PersonRecord]]:
    out: dict[int, list[PersonRecord]] = {t.id: [] for t in ts.tracks}
    for r in ts.annotations:
        out.setdefault(r.track_id, []).append(r)
    for recs in out.values():
        recs.sort(key=lambda r: r.frame_index)
    return out


# -- After Effects and Nuke --------------------------------------------------------------------
def after_effects_keyframes(points: Sequence[Point], video: VideoInfo, *,
                            start_number: int = 0) -> str:
    """After Effects 8.0 keyframe data (CRLF text) with one ``Transform / Position`` block:
    a keyframe ``start_number + frame_index, x, y, 0`` per point.  ``Units Per Second`` is the
    clip's rate to 3 decimals (``29.97``, ``23.976``: how After Effects writes NTSC rates)."""
    lines = ["Adobe After Effects 8.0 Keyframe Data", "",
             f"\tUnits Per Second\t{decimal_string(video.fps, 3)}",
             f"\tSource Width\t{video.width}", f"\tSource Height\t{video.height}",
             "\tSource Pixel Aspect Ratio\t1", "\tComp Pixel Aspect Ratio\t1", "",
             "Transform\tPosition", "\tFrame\tX pixels\tY pixels\tZ pixels\t"]
    lines += [f"\t{start_number + f}\t{_num(x)}\t{_num(y)}\t0\t" for f, x, y in points]
    lines += ["", "", "End of Keyframe Data", ""]
    return "\r\n".join(lines)


def nuke_chan(points: Sequence[Point], video: VideoInfo, *, start_number: int = 1) -> str:
    """Nuke ``.chan`` text: ``frame tx ty tz rx ry rz`` per point, frame ``start_number +
    frame_index``, ``tx = x``, ``ty = height - y`` (Nuke's origin is bottom-left, y up), the
    rest 0."""
    return "".join(f"{start_number + f} {_num(x)} {_num(video.height - y)} 0 0 0 0\n"
                   for f, x, y in points)


def _keyframe_files(ts: TrackSet, fmt: str, joints: list[int], start_number: int
                    ) -> dict[str, str]:
    suffix = KEYFRAME_FORMATS[fmt][0]
    video = ts.videos[0]
    files: dict[str, str] = {}
    for tid, recs in _by_track(ts).items():
        for j in joints:
            pts = joint_points(recs, j)
            if not pts:
                log.info("person %d has no %s positions; no file for it", tid, COCO_KEYPOINTS[j])
                continue
            text = (after_effects_keyframes(pts, video, start_number=start_number)
                    if fmt == "after-effects" else nuke_chan(pts, video, start_number=start_number))
            files[f"person-{tid}_{COCO_KEYPOINTS[j]}{suffix}"] = text
    return files


def _write_keyframes(ts: TrackSet, out: Path, fmt: str, joints: list[int],
                     start_number: int) -> Path:
    suffix = KEYFRAME_FORMATS[fmt][0]
    single = len(ts.tracks) == 1 and len(joints) == 1
    files = _keyframe_files(ts, fmt, joints, start_number)
    if not files:
        raise InputError("there are no joint positions to export for this selection",
                         hint="these layers may be mask-only; choose other persons or joints")
    if out.suffix:
        if not single:
            raise InputError(f"{len(ts.tracks)} person(s) x {len(joints)} joint(s) make one file "
                             "each, written into a folder", path=out,
                             hint="give a folder (no suffix), or one --person and one --joint")
        if out.suffix.lower() != suffix:
            raise InputError(f"{fmt} files end in {suffix}", path=out,
                             hint=f"name it like {out.stem}{suffix}")
        (text,) = files.values()
        return write_text_atomic(out, text)
    if not out.parent.is_dir():
        raise InputError("the folder above it does not exist", path=out,
                         hint="create it first or choose another output folder")
    check_replaceable(out, is_dir=True,
                      own=re.compile(r"person-\d+_[a-z_]+" + re.escape(suffix) + r"\Z"))
    with staging_folder(out.parent, out.name) as stage:
        folder = stage / out.name
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_bytes(text.encode("utf-8"))
        publish([(folder, out)])
    return out


# -- CSV and JSON ------------------------------------------------------------------------------
def joints_csv(ts: TrackSet, joints: list[int], times: Sequence[Fraction]) -> str:
    """CSV text: header ``frame,time,track_id,joint,x,y,v,score`` and one row per joint with a
    position, by frame, track id and COCO joint order.  ``frame`` is the 0-based frame index;
    ``time`` seconds (:func:`decimal_string` of the frame's exact time); ``v`` 1 or 2; ``x``,
    ``y`` and ``score`` read back as the exact stored floats."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "time", "track_id", "joint", "x", "y", "v", "score"])
    for r in sorted(ts.annotations, key=lambda r: (r.frame_index, r.track_id)):
        t = decimal_string(times[r.frame_index])
        for j in joints:
            x, y, v = r.keypoints[j]
            if v > 0:
                w.writerow([r.frame_index, t, r.track_id, COCO_KEYPOINTS[j], _num(x), _num(y),
                            int(v), _num(r.score)])
    return buf.getvalue()


def joints_json(ts: TrackSet, joints: list[int], times: Sequence[Fraction]) -> dict[str, Any]:
    """The ``humanfx-joint-tracks`` version 1 document (see ``docs/nle-exports.md``)."""
    video = ts.videos[0]
    names = {t.id: t.name for t in ts.tracks}
    persons = []
    for tid, recs in _by_track(ts).items():
        if not recs:
            continue
        kp = np.stack([r.keypoints for r in recs])  # (F, 17, 3)
        jd = {}
        for j in joints:
            has = kp[:, j, 2] > 0
            jd[COCO_KEYPOINTS[j]] = {
                "x": [float(v) if h else None for v, h in zip(kp[:, j, 0], has)],
                "y": [float(v) if h else None for v, h in zip(kp[:, j, 1], has)],
                "v": [int(v) for v in kp[:, j, 2]],
            }
        fr = [r.frame_index for r in recs]
        persons.append({
            "track_id": tid, "name": names.get(tid),
            "frames": fr,
            "time": [decimal_string(times[f]) for f in fr],
            "time_exact": [f"{times[f].numerator}/{times[f].denominator}" for f in fr],
            "score": [float(r.score) for r in recs],
            "bbox": [[float(v) for v in r.bbox] for r in recs],
            "joints": jd,
        })
    return {
        "format": JSON_FORMAT_NAME,
        "version": JSON_FORMAT_VERSION,
        "video": {"file_name": video.file_name, "width": video.width, "height": video.height,
                  "frame_count": video.length,
                  "fps": f"{video.fps.numerator}/{video.fps.denominator}",
                  "fps_decimal": decimal_string(video.fps, 6)},
        "coordinates": {"units": "pixels", "origin": "top-left corner of the frame",
                        "x": "right", "y": "down", "pixel_centre": 0.5},
        "smoothing": ts.info.get("smoothing"),
        "joints": [COCO_KEYPOINTS[j] for j in joints],
        "persons": persons,
    }


def _write_mot(ts: TrackSet, out: Path) -> Path:
    from inference.tracking import TrackedPerson, write_mot_results

    if not out.parent.is_dir():
        raise InputError("the folder does not exist", path=out.parent,
                         hint="create it or choose another output path")
    frames: dict[int, list[TrackedPerson]] = {}
    for r in ts.annotations:
        if r.bbox[2] <= 0 or r.bbox[3] <= 0:
            log.info("frame %d, person %d: empty box left out of the MOT file", r.frame_index,
                     r.track_id)
            continue
        frames.setdefault(r.frame_index, []).append(TrackedPerson(
            track_id=r.track_id, frame_index=r.frame_index, bbox=np.asarray(r.bbox),
            score=r.score))
    write_mot_results(out, frames)
    return out


# -- public API --------------------------------------------------------------------------------
def write_tracking(ts: TrackSet, out: str | Path, fmt: str, *,
                   persons: Sequence[int] | None = None,
                   joints: Sequence[str] | str | None = None,
                   times: Sequence[Fraction] | None = None,
                   start_number: int | None = None) -> Path:
    """Write the first video of ``ts`` to ``out`` in ``fmt``; returns what was written.

    Args:
        persons: track ids to export (``None`` = all).
        joints: joint names for the joint formats (``None`` = all 17); InputError for others.
        times: exact time in seconds of every frame of the video (default ``i / fps``); used by
            ``csv`` and ``json``.
        start_number: frame number of the clip's first frame in ``after-effects`` (default 0)
            and ``nuke-chan`` (default 1, the first frame of a movie read in Nuke) output.

    ``after-effects``/``nuke-chan`` write one file when exactly one person and one joint are
    selected and ``out`` has the format's suffix (``.txt``/``.chan``); otherwise ``out`` is a
    folder of ``person-<id>_<joint>.txt|.chan`` files (persons/joints without any position get
    no file).
    """
    out = Path(out)
    fmt = normalize_export_format(fmt)
    if joints is not None and fmt not in JOINT_FORMATS and parse_joints(joints) != list(
            range(len(COCO_KEYPOINTS))):
        raise InputError(f"--joint applies to {', '.join(JOINT_FORMATS)} exports, not {fmt}")
    if start_number is not None:
        if fmt not in KEYFRAME_FORMATS:
            raise InputError(f"--start-number applies to after-effects and nuke-chan exports, "
                             f"not {fmt}")
        if start_number < 0:
            raise InputError(f"start number {start_number} is negative", hint="use 0 or more")
    ts = select_persons(ts, persons)
    if fmt in TRACKS_FORMATS:
        return save_tracks(ts, out, format=fmt)
    if fmt == "mot":
        return _write_mot(ts, out)
    joint_ids = parse_joints(joints)
    if fmt in KEYFRAME_FORMATS:
        first = KEYFRAME_FORMATS[fmt][1] if start_number is None else start_number
        return _write_keyframes(ts, out, fmt, joint_ids, first)
    video = ts.videos[0]
    times = frame_times(video) if times is None else list(times)
    if len(times) < video.length:
        raise ValueError(f"{len(times)} frame times for a video of {video.length} frames")
    if fmt == "csv":
        return write_text_atomic(out, joints_csv(ts, joint_ids, times))
    import json

    doc = joints_json(ts, joint_ids, times)
    return write_text_atomic(out, json.dumps(doc, separators=(",", ":"), ensure_ascii=False,
                                             allow_nan=False) + "\n")


def smooth_for_export(ts: TrackSet, fmt: str) -> TrackSet:
    """A smoothed copy of ``ts`` for ``fmt``: keypoints (and boxes) always, masks too for the
    formats that carry them (COCO-video, YouTube-VIS, MOT boxes), with the smoother's default
    settings.  InputError when :mod:`inference.smoothing` is not available."""
    try:
        from inference.smoothing import KeypointSmoothing, MaskSmoothing, smooth_trackset
    except ImportError:
        raise InputError("smoothing is not available yet",
                         hint="export with --raw") from None
    masks = MaskSmoothing() if normalize_export_format(fmt) in _MASK_FORMATS else None
    return smooth_trackset(ts, KeypointSmoothing(), masks)


def _layers_source(session: ClipSession, source: str | None, smoothed: bool | None) -> str | None:
    """The layer cache to read: ``--raw`` never reads smoothed layers."""
    if smoothed is not False:
        return source
    if source is not None:
        if source.endswith(_SMOOTH_SUFFIX):
            raise InputError(f"the layers {source!r} are smoothed, but --raw was asked for",
                             path=session.path,
                             hint=f"use --layers {source[:-len(_SMOOTH_SUFFIX)]} or --smoothed")
        return source
    entries = [e for e in session.layer_caches() if e.complete]
    raw = [e for e in entries if not e.meta.source.endswith(_SMOOTH_SUFFIX)]
    if entries and not raw:
        raise InputError("this clip has only smoothed person layers, and --raw was asked for",
                         path=session.path, hint="re-import or re-analyse the clip")
    return raw[0].meta.source if raw else None


def export_clip_tracks(session: ClipSession, out: str | Path, fmt: str = "cocovideo", *,
                       source: str | None = None, persons: Sequence[int] | None = None,
                       joints: Sequence[str] | str | None = None,
                       smoothed: bool | None = None,
                       start_number: int | None = None) -> Path:
    """Export the person layers of ``session``'s clip (see :func:`write_tracking`).

    ``smoothed``: ``None`` exports the layers as they are; ``False`` (``--raw``) reads raw
    (never smoothed) layers; ``True`` (``--smoothed``) reads smoothed layers as they are, or
    smooths raw ones with :func:`smooth_for_export`.  Frame times are the clip's exact
    timestamps (variable frame rate included).
    """
    fmt = normalize_export_format(fmt)
    source = _layers_source(session, source, smoothed)
    if persons is not None:
        session.check_persons(list(persons), source)
    video = session.video_info()
    with session.layers(source) as cache:
        already = cache.meta.source.endswith(_SMOOTH_SUFFIX)
        ts = cache.to_trackset(video)
    if smoothed and not already:
        ts = smooth_for_export(select_persons(ts, persons), fmt)
    elif smoothed:
        log.info("the layers %r are already smoothed; exporting them as they are", source)
    times = None
    if fmt in ("csv", "json"):
        from editor_plugin.media import VideoReader

        with VideoReader(session.path) as reader:
            times = reader.timestamps
    return write_tracking(ts, out, fmt, persons=persons, joints=joints, times=times,
                          start_number=start_number)


__all__ = ["EXPORT_FORMATS", "JOINT_FORMATS", "JSON_FORMAT_NAME", "JSON_FORMAT_VERSION",
           "after_effects_keyframes", "decimal_string", "export_clip_tracks", "joint_points",
           "joints_csv", "joints_json", "normalize_export_format", "nuke_chan", "parse_joints",
           "select_persons", "smooth_for_export", "write_tracking"]
