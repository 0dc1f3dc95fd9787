"""The COCO-video tracks file: humanfx's own, canonical exchange format.

One JSON file holds videos, person tracks and one annotation per person per frame (see
``docs/tracks-format.md`` for the full description).  Loading validates everything and names the
file and the JSON path of the first bad element; dumping is canonical and deterministic, so
``dumps(load(f))`` is byte-identical to ``f`` for a file humanfx wrote.

This module also holds the JSON helpers the other formats share (reading, atomic writing,
validation with JSON paths, segmentation parsing).
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from inference.errors import InputError
from inference.tracks.masks import check_rle, compress_rle, polygons_to_rle, rle_area, rle_bbox
from inference.tracks.model import (
    COCO_KEYPOINTS,
    COCO_SKELETON,
    NUM_KEYPOINTS,
    PERSON_CATEGORY_ID,
    PersonRecord,
    Track,
    TrackSet,
    VideoInfo,
)

FORMAT_NAME = "humanfx-cocovideo"
FORMAT_VERSION = 1

PERSON_CATEGORY: dict[str, Any] = {
    "id": PERSON_CATEGORY_ID,
    "name": "person",
    "supercategory": "person",
    "keypoints": list(COCO_KEYPOINTS),
    "skeleton": [list(pair) for pair in COCO_SKELETON],
}


# -- shared JSON helpers -------------------------------------------------------------------------
def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing, unreadable or malformed file raises :class:`InputError`.

    ``NaN``/``Infinity`` (which Python's json would accept) are rejected.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", path=path, hint="check the path") from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (byte {exc.start})", path=path,
                         hint="tracks files are UTF-8 JSON") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                         path=path) from None
    except ValueError as exc:
        raise InputError(f"is not valid JSON: {exc}", path=path) from None


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` via a temporary file in the same folder + ``os.replace``.

    The temporary file is removed if anything fails; an existing ``path`` is only replaced once
    the new content is complete and flushed to disk.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError("the folder does not exist", path=path.parent,
                         hint="create it or choose another output path")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class JsonChecker:
    """Validation helpers that raise :class:`InputError` naming the file and a JSON path."""

    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)

    def fail(self, where: str, message: str, hint: str | None = None) -> NoReturn:
        raise InputError(f"{where} {message}", path=self.path, hint=hint)

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, "must be a JSON object")
        return value

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(where, "must be a JSON array")
        return value

    def field(self, obj: dict[str, Any], key: str, where: str) -> Any:
        if key not in obj:
            self.fail(where, f"has no {key!r}")
        return obj[key]

    def integer(self, value: Any, where: str, *, minimum: int | None = None) -> int:
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int:
            self.fail(where, "must be a whole number")
        if minimum is not None and value < minimum:
            self.fail(where, f"must be at least {minimum} (got {value})")
        return value

    def number(self, value: Any, where: str) -> float:
        if type(value) not in (int, float) or not math.isfinite(value):
            self.fail(where, "must be a finite number")
        return float(value)

    def numbers(self, value: Any, where: str, count: int) -> np.ndarray:
        """A flat array of ``count`` finite numbers -> float64 ``(count,)``."""
        if (not isinstance(value, list) or len(value) != count
                or not all(type(v) in (int, float) for v in value)):
            self.fail(where, f"must have {count} numbers"
                      + (f" (got {len(value)})" if isinstance(value, list) else ""))
        arr = np.asarray(value, dtype=np.float64)
        if not np.isfinite(arr).all():
            self.fail(where, "must be finite numbers")
        return arr

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            self.fail(where, "must be a string")
        return value


def parse_segmentation(ck: JsonChecker, seg: Any, where: str, height: int,
                       width: int) -> dict[str, Any] | None:
    """COCO segmentation (compressed/uncompressed RLE or polygons) -> compressed RLE, or None.

    The mask must be full-frame: its ``size`` must be ``[height, width]``.
    """
    if seg is None:
        return None
    if isinstance(seg, list):
        if not seg:
            return None
        for i, poly in enumerate(seg):
            if (not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2
                    or not all(type(v) in (int, float) and math.isfinite(v) for v in poly)):
                ck.fail(f"{where}[{i}]", "must be a polygon: an even list of at least 6 numbers")
        return polygons_to_rle(seg, height, width)
    if not isinstance(seg, dict):
        ck.fail(where, "must be an RLE object or a list of polygons")
    try:
        check_rle(seg, height, width)
    except ValueError as exc:
        ck.fail(where, str(exc))
    return compress_rle(seg)


Box = tuple[float, float, float, float]


def as_box(values: Any) -> Box:
    """Four numbers -> an ``(x, y, w, h)`` tuple of floats."""
    x, y, w, h = (float(v) for v in values)
    return x, y, w, h


def json_number(x: float) -> int | float:
    """A finite float as the JSON number humanfx writes: an ``int`` when it is integral."""
    f = float(x)
    if not math.isfinite(f):
        raise ValueError(f"{x!r} is not a finite number")
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return f


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# -- canonical order -----------------------------------------------------------------------------
def canonical(ts: TrackSet) -> TrackSet:
    """A copy of ``ts`` in canonical order: videos by id, tracks by (video, id), annotations by
    (video, frame, track).  Records are shared, not copied."""
    return TrackSet(
        videos=sorted(ts.videos, key=lambda v: v.id),
        tracks=sorted(ts.tracks, key=lambda t: (t.video_id, t.id)),
        annotations=sorted(ts.annotations, key=lambda a: (a.video_id, a.frame_index, a.track_id)),
        info=dict(ts.info),
    )


# -- loading -------------------------------------------------------------------------------------
def is_cocovideo(data: Any) -> bool:
    """Whether parsed JSON looks like a COCO-video tracks file."""
    if not isinstance(data, dict):
        return False
    info = data.get("info")
    if isinstance(info, dict) and info.get("format") == FORMAT_NAME:
        return True
    anns = data.get("annotations")
    if "videos" in data and "tracks" in data:
        return True
    return (isinstance(anns, list) and bool(anns) and isinstance(anns[0], dict)
            and "frame_index" in anns[0])


def _parse_fps(ck: JsonChecker, value: Any, where: str) -> Fraction:
    if type(value) is int:
        value = [value, 1]
    if (not isinstance(value, list) or len(value) != 2
            or not all(type(v) is int for v in value) or value[1] <= 0 or value[0] < 0):
        ck.fail(where, "must be [numerator, denominator] of whole numbers, e.g. [30000, 1001] "
                "([0, 1] when unknown)")
    return Fraction(value[0], value[1])


def _parse_videos(ck: JsonChecker, data: dict[str, Any]) -> list[VideoInfo]:
    videos = []
    seen: set[int] = set()
    for i, v in enumerate(ck.array(ck.field(data, "videos", "the file"), "videos")):
        w = f"videos[{i}]"
        ck.obj(v, w)
        vid = ck.integer(ck.field(v, "id", w), f"{w}.id")
        if vid in seen:
            ck.fail(f"{w}.id", f"repeats video id {vid}")
        seen.add(vid)
        videos.append(VideoInfo(
            id=vid,
            file_name=ck.string(v.get("file_name", ""), f"{w}.file_name"),
            width=ck.integer(ck.field(v, "width", w), f"{w}.width", minimum=1),
            height=ck.integer(ck.field(v, "height", w), f"{w}.height", minimum=1),
            length=ck.integer(ck.field(v, "length", w), f"{w}.length", minimum=0),
            fps=_parse_fps(ck, v.get("fps", [0, 1]), f"{w}.fps"),
        ))
    return videos


def _parse_categories(ck: JsonChecker, data: dict[str, Any]) -> None:
    if "categories" not in data:
        return
    cats = ck.array(data["categories"], "categories")
    for i, c in enumerate(cats):
        ck.obj(c, f"categories[{i}]")
        if c.get("id") == PERSON_CATEGORY_ID:
            if c.get("name", "person") != "person":
                ck.fail(f"categories[{i}].name", "must be 'person' for category 1")
            kps = c.get("keypoints")
            if kps is not None and list(kps) != list(COCO_KEYPOINTS):
                ck.fail(f"categories[{i}].keypoints",
                        "must be the 17 COCO keypoint names in COCO order")
            return
    ck.fail("categories", "has no person category (id 1)")


def _parse_tracks(ck: JsonChecker, data: dict[str, Any], video_ids: set[int]) -> list[Track]:
    tracks = []
    seen: set[int] = set()
    for i, t in enumerate(ck.array(data.get("tracks", []), "tracks")):
        w = f"tracks[{i}]"
        ck.obj(t, w)
        tid = ck.integer(ck.field(t, "id", w), f"{w}.id")
        if tid in seen:
            ck.fail(f"{w}.id", f"repeats track id {tid}")
        seen.add(tid)
        vid = ck.integer(ck.field(t, "video_id", w), f"{w}.video_id")
        if vid not in video_ids:
            ck.fail(f"{w}.video_id", f"is {vid}, which is not in 'videos'")
        name = t.get("name")
        if name is not None:
            ck.string(name, f"{w}.name")
        tracks.append(Track(id=tid, video_id=vid, name=name))
    return tracks


def _parse_annotation(ck: JsonChecker, a: Any, w: str, videos: dict[int, VideoInfo],
                      tracks: dict[int, Track]) -> PersonRecord:
    ck.obj(a, w)
    ann_id = a.get("id")
    if ann_id is not None:
        ann_id = ck.integer(ann_id, f"{w}.id")
    vid = ck.integer(ck.field(a, "video_id", w), f"{w}.video_id")
    video = videos.get(vid)
    if video is None:
        ck.fail(f"{w}.video_id", f"is {vid}, which is not in 'videos'")
    frame = ck.integer(ck.field(a, "frame_index", w), f"{w}.frame_index", minimum=0)
    if frame >= video.length:
        ck.fail(f"{w}.frame_index", f"is {frame}, past the video's {video.length} frames")
    tid = ck.integer(ck.field(a, "track_id", w), f"{w}.track_id")
    track = tracks.get(tid)
    if track is None:
        ck.fail(f"{w}.track_id", f"is {tid}, which is not in 'tracks'",
                hint="add the track to the 'tracks' list")
    if track.video_id != vid:
        ck.fail(f"{w}.track_id", f"is track {tid} of video {track.video_id}, not video {vid}")
    if ck.integer(a.get("category_id", PERSON_CATEGORY_ID), f"{w}.category_id") != 1:
        ck.fail(f"{w}.category_id", "must be 1 (person)")
    if ck.integer(a.get("iscrowd", 0), f"{w}.iscrowd") != 0:
        ck.fail(f"{w}.iscrowd", "must be 0 (crowd regions are not person tracks)")
    if "keypoints" in a:
        kp = ck.numbers(a["keypoints"], f"{w}.keypoints", 3 * NUM_KEYPOINTS).reshape(-1, 3)
        if not np.isin(kp[:, 2], (0.0, 1.0, 2.0)).all():
            ck.fail(f"{w}.keypoints", "visibility flags must be 0, 1 or 2")
    else:
        kp = np.zeros((NUM_KEYPOINTS, 3))
    seg = parse_segmentation(ck, a.get("segmentation"), f"{w}.segmentation",
                             video.height, video.width)
    if "bbox" in a:
        bbox = ck.numbers(a["bbox"], f"{w}.bbox", 4)
        if bbox[2] < 0 or bbox[3] < 0:
            ck.fail(f"{w}.bbox", "must have a non-negative width and height")
        box = as_box(bbox)
    else:
        derived = derive_bbox(kp, seg)
        if derived is None:
            ck.fail(w, "has no 'bbox' and no mask or labelled keypoints to derive one from")
        box = derived
    score = ck.number(a.get("score", 1.0), f"{w}.score")
    return PersonRecord(video_id=vid, frame_index=frame, track_id=tid, bbox=box, keypoints=kp,
                        segmentation=seg, score=score, id=ann_id)


def derive_bbox(keypoints: np.ndarray, seg: dict[str, Any] | None) -> Box | None:
    """A box from the mask (tight, pycocotools) or else from the labelled keypoints."""
    if seg is not None and rle_area(seg) > 0:
        return rle_bbox(seg)
    lab = keypoints[keypoints[:, 2] > 0]
    if len(lab) == 0:
        return None
    x0, y0 = lab[:, 0].min(), lab[:, 1].min()
    return float(x0), float(y0), float(lab[:, 0].max() - x0), float(lab[:, 1].max() - y0)


def check_unique(ck: JsonChecker, records: Iterable[tuple[str, PersonRecord]]) -> None:
    """Each track at most once per frame; annotation ids unique."""
    slots: dict[tuple[int, int, int], str] = {}
    ids: dict[int, str] = {}
    for where, r in records:
        key = (r.video_id, r.frame_index, r.track_id)
        if key in slots:
            ck.fail(where, f"repeats track {r.track_id} on frame {r.frame_index} "
                    f"(also in {slots[key]})")
        slots[key] = where
        if r.id is not None:
            if r.id in ids:
                ck.fail(f"{where}.id", f"repeats annotation id {r.id} (also in {ids[r.id]})")
            ids[r.id] = where


def parse_cocovideo(data: Any, path: str | Path | None = None) -> TrackSet:
    """Validate parsed COCO-video JSON and build a :class:`TrackSet` (in file order)."""
    ck = JsonChecker(path)
    ck.obj(data, "the file")
    info = dict(ck.obj(data.get("info", {}), "info"))
    fmt = info.pop("format", FORMAT_NAME)
    if fmt != FORMAT_NAME:
        ck.fail("info.format", f"is {fmt!r}, not {FORMAT_NAME!r}")
    version = ck.integer(info.pop("version", FORMAT_VERSION), "info.version", minimum=1)
    if version > FORMAT_VERSION:
        ck.fail("info.version", f"is {version}; this humanfx reads version {FORMAT_VERSION}",
                hint="update humanfx to read this file")
    videos = _parse_videos(ck, data)
    _parse_categories(ck, data)
    tracks = _parse_tracks(ck, data, {v.id for v in videos})
    by_video = {v.id: v for v in videos}
    by_track = {t.id: t for t in tracks}
    anns = ck.array(data.get("annotations", []), "annotations")
    records = [_parse_annotation(ck, a, f"annotations[{i}]", by_video, by_track)
               for i, a in enumerate(anns)]
    check_unique(ck, ((f"annotations[{i}]", r) for i, r in enumerate(records)))
    return TrackSet(videos=videos, tracks=tracks, annotations=records, info=info)


def load_cocovideo(path: str | Path) -> TrackSet:
    """Read and validate a COCO-video tracks file (records in file order)."""
    return parse_cocovideo(read_json(path), path)


# -- dumping -------------------------------------------------------------------------------------
def _video_json(v: VideoInfo) -> dict[str, Any]:
    fps = Fraction(v.fps)
    return {"id": v.id, "file_name": v.file_name, "width": v.width, "height": v.height,
            "length": v.length, "fps": [fps.numerator, fps.denominator]}


def _track_json(t: Track) -> dict[str, Any]:
    out: dict[str, Any] = {"id": t.id, "video_id": t.video_id}
    if t.name is not None:
        out["name"] = t.name
    return out


def _annotation_json(r: PersonRecord, ann_id: int) -> dict[str, Any]:
    kp = np.asarray(r.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    out: dict[str, Any] = {
        "id": ann_id, "video_id": r.video_id, "frame_index": r.frame_index,
        "track_id": r.track_id, "category_id": PERSON_CATEGORY_ID,
        "bbox": [json_number(v) for v in r.bbox],
        "keypoints": [json_number(v) for v in kp.ravel()],
        "num_keypoints": int(np.count_nonzero(kp[:, 2] > 0)),
    }
    if r.segmentation is not None:
        seg = compress_rle(r.segmentation)
        out["segmentation"] = seg
        out["area"] = rle_area(seg)
    else:
        out["area"] = json_number(r.bbox[2] * r.bbox[3])
    out["iscrowd"] = 0
    out["score"] = json_number(r.score)
    return out


def _block(name: str, items: list[dict[str, Any]]) -> str:
    if not items:
        return f'"{name}":[]'
    return f'"{name}":[\n' + ",\n".join(_dumps(x) for x in items) + "\n]"


def dumps_cocovideo(ts: TrackSet) -> str:
    """The canonical COCO-video text of ``ts``.

    Canonical: sorted by video, frame and track; fixed key order; integral numbers written as
    ints; one list element per line.  Records without an ``id`` get fresh ids after the largest
    existing one, in canonical order.  Raises ``ValueError`` for non-finite numbers or a track
    repeated on one frame.
    """
    ts = canonical(ts)
    used = [a.id for a in ts.annotations if a.id is not None]
    next_id = max(used, default=0) + 1
    anns = []
    seen: set[tuple[int, int, int]] = set()
    for r in ts.annotations:
        key = (r.video_id, r.frame_index, r.track_id)
        if key in seen:
            raise ValueError(f"track {r.track_id} appears twice on frame {r.frame_index}")
        seen.add(key)
        if r.id is None:
            ann_id, next_id = next_id, next_id + 1
        else:
            ann_id = r.id
        anns.append(_annotation_json(r, ann_id))
    info = f'{{"format":"{FORMAT_NAME}","version":{FORMAT_VERSION}'
    for key in sorted(k for k in ts.info if k not in ("format", "version")):
        info += f",{_dumps(str(key))}:" + json.dumps(
            ts.info[key], ensure_ascii=False, separators=(",", ":"), sort_keys=True,
            allow_nan=False)
    blocks = [
        '"info":' + info + "}",
        _block("videos", [_video_json(v) for v in ts.videos]),
        _block("categories", [PERSON_CATEGORY]),
        _block("tracks", [_track_json(t) for t in ts.tracks]),
        _block("annotations", anns),
    ]
    return "{" + ",\n".join(blocks) + "}\n"


def save_cocovideo(ts: TrackSet, path: str | Path) -> Path:
    """Write ``ts`` as a canonical COCO-video file, atomically.  Returns the path."""
    return write_text_atomic(path, dumps_cocovideo(ts))
