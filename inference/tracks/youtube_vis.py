"""YouTube-VIS files: model *results* lists and *dataset* (ground truth) files, read as mask-only
person tracks; and export of tracks as a results list.

Results: ``[{"video_id", "category_id", "segmentations": [RLE | null per frame], "score"}]``;
each entry becomes one track.  Dataset: ``{"videos": [{id, width, height, length,
file_names}], "categories": [...], "annotations": [{id, video_id, category_id,
segmentations, bboxes?, areas?, iscrowd}]}``; each annotation becomes one track (its id is the
track id).

Neither carries a frame rate, and results carry no frame size except inside the masks: pass the
clip as ``video=`` to fill them in (its length and size must then match).  Without it the frame
rate is recorded as unknown (``Fraction(0)``).  Empty masks (zero area) are read as absent.

Person is category 1 in YouTube-VIS 2019 but 26 in 2021, and results lists do not name their
categories: a results list with more than one category needs ``category_id``.
"""

from __future__ import annotations

import json
import logging
import posixpath
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from inference.errors import InputError
from inference.tracks.cocovideo import (
    JsonChecker,
    as_box,
    canonical,
    parse_segmentation,
    read_json,
    write_text_atomic,
)
from inference.tracks.masks import compress_rle, rle_area, rle_bbox
from inference.tracks.model import NUM_KEYPOINTS, PersonRecord, Track, TrackSet, VideoInfo

log = logging.getLogger(__name__)

#: The person category id in YouTube-VIS 2019 (also humanfx's own) and in YouTube-VIS 2021.
YTVIS2019_PERSON = 1
YTVIS2021_PERSON = 26


def is_youtube_vis(data: Any) -> bool:
    """A results list, or a dataset file whose annotations carry ``segmentations`` lists."""
    if isinstance(data, list):
        return all(isinstance(e, dict) and "segmentations" in e for e in data[:10])
    if isinstance(data, dict) and isinstance(data.get("videos"), list) and "tracks" not in data:
        anns = data.get("annotations", [])
        return isinstance(anns, list) and all(
            isinstance(a, dict) and "segmentations" in a for a in anns[:10])
    return False


def _finish(videos: list[VideoInfo], tracks: list[Track], records: list[PersonRecord]
            ) -> TrackSet:
    """Canonical order and fresh annotation ids 1..N."""
    ts = canonical(TrackSet(videos=videos, tracks=tracks, annotations=records))
    for i, r in enumerate(ts.annotations, 1):
        r.id = i
    return ts


def _mask_record(seg: dict[str, Any] | None, video: VideoInfo, frame: int, track_id: int,
                 score: float, bbox: Any = None) -> PersonRecord | None:
    if seg is None or rle_area(seg) == 0:
        return None
    box = rle_bbox(seg) if bbox is None else as_box(bbox)
    return PersonRecord(video_id=video.id, frame_index=frame, track_id=track_id, bbox=box,
                        keypoints=np.zeros((NUM_KEYPOINTS, 3)), segmentation=seg, score=score)


def _check_against(ck: JsonChecker, where: str, video: VideoInfo | None, length: int,
                   size: tuple[int, int] | None) -> None:
    if video is None:
        return
    if length != video.length:
        ck.fail(where, f"has {length} frames but the clip has {video.length}",
                hint="import the tracks that belong to this clip")
    if size is not None and size != (video.height, video.width):
        ck.fail(where, f"has {size[1]}x{size[0]} masks but the clip is "
                f"{video.width}x{video.height}", hint="import the tracks that belong to this clip")


# -- results -------------------------------------------------------------------------------------
def _parse_results(ck: JsonChecker, data: list[Any], video: VideoInfo | None,
                   category_id: int | None) -> TrackSet:
    entries = []
    for i, e in enumerate(data):
        w = f"[{i}]"
        ck.obj(e, w)
        entries.append((i, e, ck.integer(ck.field(e, "video_id", w), f"{w}.video_id"),
                        ck.integer(ck.field(e, "category_id", w), f"{w}.category_id")))
    cats = sorted({c for _, _, _, c in entries})
    if category_id is None and len(cats) > 1:
        ck.fail("the results", f"have {len(cats)} categories ({', '.join(map(str, cats))}) and "
                "do not say which is person",
                hint=f"pass category_id ({YTVIS2019_PERSON} = person in YouTube-VIS 2019, "
                f"{YTVIS2021_PERSON} in 2021)")
    if category_id is not None:
        entries = [x for x in entries if x[3] == category_id]
    vids = sorted({v for _, _, v, _ in entries})
    if video is not None and len(vids) > 1:
        entries = [x for x in entries if x[2] == video.id]
        if not entries:
            ck.fail("the results", f"have no entries for video {video.id} "
                    f"(videos: {', '.join(map(str, vids))})")
        vids = [video.id]

    # Per video: length from the segmentation lists, size from the masks.
    groups: dict[int, list[tuple[int, dict[str, Any]]]] = {v: [] for v in vids}
    for i, e, v, _ in entries:
        groups[v].append((i, e))
    videos: list[VideoInfo] = [] if vids or video is None else [video]
    tracks: list[Track] = []
    records: list[PersonRecord] = []
    next_track = 1
    for vid, items in groups.items():
        length, size = None, None
        for i, e in items:
            segs = ck.array(ck.field(e, "segmentations", f"[{i}]"), f"[{i}].segmentations")
            if length is None:
                length = len(segs)
            elif len(segs) != length:
                ck.fail(f"[{i}].segmentations", f"has {len(segs)} frames but another entry of "
                        f"video {vid} has {length}")
            for f, s in enumerate(segs):
                if size is None and isinstance(s, dict) and "size" in s:
                    sz = s["size"]
                    if (not isinstance(sz, list) or len(sz) != 2
                            or not all(type(x) is int and x > 0 for x in sz)):
                        ck.fail(f"[{i}].segmentations[{f}].size", "must be [height, width]")
                    size = (sz[0], sz[1])
        if video is not None:
            _check_against(ck, f"video {vid} of the results", video, length or 0, size)
            info = VideoInfo(id=video.id, file_name=video.file_name, width=video.width,
                             height=video.height, length=video.length, fps=video.fps)
        else:
            if size is None:
                ck.fail(f"video {vid} of the results", "has no masks, so its frame size is "
                        "unknown", hint="load it with the clip (video=)")
            info = VideoInfo(id=vid, file_name="", width=int(size[1]), height=int(size[0]),
                             length=length or 0, fps=Fraction(0))
        videos.append(info)
        for i, e in items:
            score = ck.number(e.get("score", 1.0), f"[{i}].score")
            tid, next_track = next_track, next_track + 1
            tracks.append(Track(id=tid, video_id=info.id))
            for f, s in enumerate(e["segmentations"]):
                seg = parse_segmentation(ck, s, f"[{i}].segmentations[{f}]", info.height,
                                         info.width)
                rec = _mask_record(seg, info, f, tid, score)
                if rec is not None:
                    records.append(rec)
    return _finish(videos, tracks, records)


# -- dataset -------------------------------------------------------------------------------------
def _person_category(ck: JsonChecker, data: dict[str, Any], category_id: int | None) -> int:
    if category_id is not None:
        return category_id
    for i, c in enumerate(ck.array(data.get("categories", []), "categories")):
        if isinstance(c, dict) and c.get("name") == "person":
            return ck.integer(ck.field(c, "id", f"categories[{i}]"), f"categories[{i}].id")
    ck.fail("categories", "has no 'person' category", hint="pass category_id")


def _parse_dataset(ck: JsonChecker, data: dict[str, Any], video: VideoInfo | None,
                   category_id: int | None) -> TrackSet:
    person = _person_category(ck, data, category_id)
    file_videos: dict[int, VideoInfo] = {}
    for i, v in enumerate(ck.array(data["videos"], "videos")):
        w = f"videos[{i}]"
        ck.obj(v, w)
        vid = ck.integer(ck.field(v, "id", w), f"{w}.id")
        names = ck.array(v.get("file_names", []), f"{w}.file_names")
        length = ck.integer(v.get("length", len(names)), f"{w}.length", minimum=0)
        first = names[0] if names and isinstance(names[0], str) else ""
        file_videos[vid] = VideoInfo(
            id=vid, file_name=posixpath.dirname(first) or first,
            width=ck.integer(ck.field(v, "width", w), f"{w}.width", minimum=1),
            height=ck.integer(ck.field(v, "height", w), f"{w}.height", minimum=1),
            length=length, fps=Fraction(0))
    if video is not None:
        if len(file_videos) == 1:
            (only,) = file_videos.values()
            _check_against(ck, f"video {only.id}", video, only.length,
                           (only.height, only.width))
            mapping = {only.id: video}
        elif video.id in file_videos:
            v0 = file_videos[video.id]
            _check_against(ck, f"video {v0.id}", video, v0.length, (v0.height, v0.width))
            mapping = {video.id: video}
        else:
            ck.fail("videos", f"has {len(file_videos)} videos and none with id {video.id}")
    else:
        mapping = dict(file_videos)

    tracks, records, seen = [], [], set()
    for i, a in enumerate(ck.array(data.get("annotations", []), "annotations")):
        w = f"annotations[{i}]"
        ck.obj(a, w)
        if ck.integer(a.get("category_id", person), f"{w}.category_id") != person:
            continue
        vid = ck.integer(ck.field(a, "video_id", w), f"{w}.video_id")
        if vid not in file_videos:
            ck.fail(f"{w}.video_id", f"is {vid}, which is not in 'videos'")
        if vid not in mapping:
            continue
        info = mapping[vid]
        tid = ck.integer(ck.field(a, "id", w), f"{w}.id")
        if tid in seen:
            ck.fail(f"{w}.id", f"repeats annotation id {tid}")
        seen.add(tid)
        segs = ck.array(ck.field(a, "segmentations", w), f"{w}.segmentations")
        if len(segs) != info.length:
            ck.fail(f"{w}.segmentations", f"has {len(segs)} frames but the video has "
                    f"{info.length}")
        boxes = a.get("bboxes")
        if boxes is not None and (not isinstance(boxes, list) or len(boxes) != len(segs)):
            ck.fail(f"{w}.bboxes", f"must be a list of {len(segs)} boxes or nulls")
        tracks.append(Track(id=tid, video_id=info.id))
        for f, s in enumerate(segs):
            seg = parse_segmentation(ck, s, f"{w}.segmentations[{f}]", info.height, info.width)
            box = None
            if boxes is not None and boxes[f] is not None:
                box = ck.numbers(boxes[f], f"{w}.bboxes[{f}]", 4)
            rec = _mask_record(seg, info, f, tid, 1.0, box)
            if rec is not None:
                records.append(rec)
    return _finish(list(mapping.values()), tracks, records)


# -- public API ----------------------------------------------------------------------------------
def parse_youtube_vis(data: Any, path: str | Path | None = None, *,
                      video: VideoInfo | None = None, category_id: int | None = None) -> TrackSet:
    """Build a mask-only :class:`TrackSet` from parsed YouTube-VIS results or dataset JSON.

    Args:
        video: the clip these tracks belong to.  Required when the file has no masks at all;
            when given, the file's frame count and mask size must match it, the result uses its
            id, name and frame rate, and a file with several videos is narrowed to ``video.id``.
        category_id: which category is "person" (default: the dataset's category named
            "person"; for results, the only category present).
    """
    ck = JsonChecker(path)
    if isinstance(data, list):
        return _parse_results(ck, data, video, category_id)
    ck.obj(data, "the file")
    return _parse_dataset(ck, data, video, category_id)


def load_youtube_vis(path: str | Path, *, video: VideoInfo | None = None,
                     category_id: int | None = None) -> TrackSet:
    return parse_youtube_vis(read_json(path), path, video=video, category_id=category_id)


def to_youtube_vis_results(ts: TrackSet, *, category_id: int = YTVIS2019_PERSON
                           ) -> list[dict[str, Any]]:
    """One results entry per track that has at least one mask, in (video, track id) order.

    ``segmentations`` has one compressed RLE or ``None`` per frame of the video; ``score`` is
    the records' common score, or their mean when they differ.
    """
    videos = {v.id: v for v in ts.videos}
    by_track: dict[int, list[PersonRecord]] = {}
    for r in ts.annotations:
        by_track.setdefault(r.track_id, []).append(r)
    out = []
    for t in sorted(ts.tracks, key=lambda t: (t.video_id, t.id)):
        recs = [r for r in by_track.get(t.id, []) if r.segmentation is not None]
        if not recs:
            log.info("track %d has no masks; it is left out of the YouTube-VIS results", t.id)
            continue
        video = videos.get(t.video_id)
        if video is None:
            raise InputError(f"track {t.id} belongs to video {t.video_id}, which is not in the "
                             "tracks set")
        segs: list[dict[str, Any] | None] = [None] * video.length
        for r in recs:
            segs[r.frame_index] = compress_rle(r.segmentation)  # type: ignore[arg-type]
        scores = {r.score for r in recs}
        score = scores.pop() if len(scores) == 1 else float(np.mean([r.score for r in recs]))
        out.append({"video_id": t.video_id, "category_id": category_id,
                    "segmentations": segs, "score": score})
    return out


def save_youtube_vis_results(ts: TrackSet, path: str | Path, *,
                             category_id: int = YTVIS2019_PERSON) -> Path:
    """Write :func:`to_youtube_vis_results` as JSON, atomically."""
    text = json.dumps(to_youtube_vis_results(ts, category_id=category_id),
                      separators=(",", ":"), allow_nan=False) + "\n"
    return write_text_atomic(path, text)
