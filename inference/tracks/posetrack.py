"""PoseTrack 2018 per-video JSON: read as keypoint tracks; export tracks in the same layout.

Layout (one file per video)::

    {"images": [{"id", "file_name", "frame_id", "vid_id", "nframes", "is_labeled", ...}],
     "annotations": [{"id", "image_id", "track_id", "category_id", "bbox": [x, y, w, h],
                      "keypoints": [x, y, v] * 17, "scores"?: [17], "score"?, ...}],
     "categories": [{"id": 1, "name": "person", "keypoints": [17 names], "skeleton": [...]}]}

Keypoint order (PoseTrack 2018): nose, head_bottom, head_top, left_ear, right_ear, then the
12 COCO body joints (shoulders, elbows, wrists, hips, knees, ankles) in COCO order.  Joints are
mapped *by name* to COCO (from the file's category when it lists names): nose, ears and the 12
body joints map to the same COCO joint; head_bottom and head_top have no COCO counterpart and
are dropped; COCO's eyes are never set (v=0).  PoseTrack 2018 never labels the ears, so they
are v=0 in practice.

Frames: the frame index of an image is its position among the images sorted by ``frame_id``
(else ``file_name``, else file order) when the images cover all ``nframes`` frames; when they
list only some frames, it is the number in the image's file name (``000042.jpg`` -> 42).

Visibility: PoseTrack 2018 flags are 0/1 (1 = labelled; occlusion is not annotated), so a file
with no flag 2 anywhere is read with 1 -> ``V_VISIBLE``.  Files with 2s (and files humanfx
wrote, marked ``"info": {"visibility": "coco"}``) use COCO's 0/1/2 and are copied as they are.

PoseTrack files carry neither frame size nor frame rate: pass the clip as ``video=``
(images with ``width``/``height`` are used when present).
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from inference.errors import InputError
from inference.tracks.cocovideo import (
    JsonChecker,
    as_box,
    canonical,
    check_unique,
    derive_bbox,
    json_number,
    read_json,
    write_text_atomic,
)
from inference.tracks.model import (
    COCO_KEYPOINTS,
    NUM_KEYPOINTS,
    PERSON_CATEGORY_ID,
    V_VISIBLE,
    PersonRecord,
    Track,
    TrackSet,
    VideoInfo,
)

log = logging.getLogger(__name__)

#: PoseTrack 2018's 17 keypoint names, in file order.
POSETRACK18_KEYPOINTS: tuple[str, ...] = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear",
    *COCO_KEYPOINTS[5:],
)  # fmt: skip

#: PoseTrack 2018's skeleton (1-based), as in its category.
POSETRACK18_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip

_EXPORT_INFO = {"format": "humanfx-posetrack", "visibility": "coco"}


def _mapping(names: tuple[str, ...] | list[str]) -> list[tuple[int, int]]:
    """``(source index, COCO index)`` pairs for the names that exist in COCO."""
    return [(i, COCO_KEYPOINTS.index(n)) for i, n in enumerate(names) if n in COCO_KEYPOINTS]


def is_posetrack(data: Any) -> bool:
    """``images`` + ``annotations``, with video fields on the images or track ids on the
    annotations."""
    if not isinstance(data, dict) or "videos" in data:
        return False
    images, anns = data.get("images"), data.get("annotations")
    if not isinstance(images, list) or not isinstance(anns, list):
        return False
    video_keys = ("vid_id", "frame_id", "nframes")
    return (any(isinstance(im, dict) and any(k in im for k in video_keys) for im in images[:10])
            or any(isinstance(a, dict) and "track_id" in a for a in anns[:10]))


def _frame_numbers(ck: JsonChecker, images: list[dict[str, Any]], nframes: int | None
                   ) -> list[int]:
    """Frame index of each image (same order as ``images``)."""
    if all("frame_id" in im for im in images):
        keys = [ck.integer(im["frame_id"], f"images[{i}].frame_id") for i, im in
                enumerate(images)]
    elif all(isinstance(im.get("file_name"), str) for im in images):
        keys = [im["file_name"] for im in images]
    else:
        keys = list(range(len(images)))
    order = sorted(range(len(images)), key=lambda i: keys[i])  # type: ignore[arg-type,return-value]
    if nframes is None or len(images) >= nframes:
        index = [0] * len(images)
        for pos, i in enumerate(order):
            index[i] = pos
        return index
    out = []
    for i, im in enumerate(images):
        m = re.fullmatch(r"(\d+)", posixpath.splitext(posixpath.basename(
            str(im.get("file_name", ""))))[0])
        if m is None:
            ck.fail(f"images[{i}].file_name", f"gives no frame number, and the images list "
                    f"only {len(images)} of the video's {nframes} frames")
        out.append(int(m.group(1)))
    return out


def _keypoints(ck: JsonChecker, a: dict[str, Any], w: str, pairs: list[tuple[int, int]],
               coco_flags: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(17, 3) COCO keypoints and the (17,) source-order per-joint scores (or None)."""
    kp = np.zeros((NUM_KEYPOINTS, 3))
    if "keypoints" in a and a["keypoints"] is not None:
        src = ck.numbers(a["keypoints"], f"{w}.keypoints", 3 * NUM_KEYPOINTS).reshape(-1, 3)
        if not np.isin(src[:, 2], (0.0, 1.0, 2.0)).all():
            ck.fail(f"{w}.keypoints", "visibility flags must be 0, 1 or 2")
        for s, d in pairs:
            if src[s, 2] > 0:
                kp[d] = src[s]
                if not coco_flags:
                    kp[d, 2] = V_VISIBLE
    scores = None
    if a.get("scores"):  # ground truth has "scores": []
        scores = ck.numbers(a["scores"], f"{w}.scores", NUM_KEYPOINTS)
    return kp, scores


def parse_posetrack(data: Any, path: str | Path | None = None, *,
                    video: VideoInfo | None = None) -> TrackSet:
    """Build a keypoint-only :class:`TrackSet` (one video) from parsed PoseTrack 2018 JSON.

    Args:
        video: the clip; gives frame size and rate (PoseTrack has neither) and the video id;
            its length must equal the file's ``nframes``.  Without it the images must carry
            ``width``/``height`` and the frame rate is recorded as unknown (``Fraction(0)``).
    """
    ck = JsonChecker(path)
    ck.obj(data, "the file")
    images = ck.array(ck.field(data, "images", "the file"), "images")
    by_id: dict[int, int] = {}
    nframes = None
    for i, im in enumerate(images):
        ck.obj(im, f"images[{i}]")
        iid = ck.integer(ck.field(im, "id", f"images[{i}]"), f"images[{i}].id")
        if iid in by_id:
            ck.fail(f"images[{i}].id", f"repeats image id {iid}")
        by_id[iid] = i
        if "nframes" in im:
            n = ck.integer(im["nframes"], f"images[{i}].nframes", minimum=0)
            nframes = n if nframes is None else max(nframes, n)
    frames = _frame_numbers(ck, images, nframes)
    length = nframes if nframes is not None else len(images)
    if frames and max(frames) >= length:
        length = max(frames) + 1
    info_block = data.get("info") if isinstance(data.get("info"), dict) else {}

    if video is not None:
        if length != video.length:
            ck.fail("images", f"describe {length} frames but the clip has {video.length}",
                    hint="import the tracks that belong to this clip")
        vinfo = video
    else:
        sized = [i for i, im in enumerate(images) if "width" in im and "height" in im]
        if not sized:
            ck.fail("images", "carry no frame size (PoseTrack files do not)",
                    hint="load it with the clip (video=)")
        first, k = images[0], sized[0]
        vid_raw = str(first.get("vid_id", ""))
        vinfo = VideoInfo(
            id=int(vid_raw) if vid_raw.isdigit() else 1,
            file_name=posixpath.dirname(str(first.get("file_name", ""))),
            width=ck.integer(images[k]["width"], f"images[{k}].width", minimum=1),
            height=ck.integer(images[k]["height"], f"images[{k}].height", minimum=1),
            length=length, fps=Fraction(0))

    names: tuple[str, ...] | list[str] = POSETRACK18_KEYPOINTS
    for i, c in enumerate(ck.array(data.get("categories", []), "categories")):
        if isinstance(c, dict) and c.get("id", PERSON_CATEGORY_ID) == PERSON_CATEGORY_ID \
                and isinstance(c.get("keypoints"), list):
            if len(c["keypoints"]) != NUM_KEYPOINTS:
                ck.fail(f"categories[{i}].keypoints", "must name 17 keypoints")
            names = [str(n) for n in c["keypoints"]]
    pairs = _mapping(names)

    anns = ck.array(data.get("annotations", []), "annotations")
    coco_flags = info_block.get("visibility") == "coco" or any(
        isinstance(a, dict) and isinstance(a.get("keypoints"), list)
        and 2 in a["keypoints"][2::3] for a in anns)
    records: list[tuple[str, PersonRecord]] = []
    skipped = 0
    for i, a in enumerate(anns):
        w = f"annotations[{i}]"
        ck.obj(a, w)
        if ck.integer(a.get("category_id", PERSON_CATEGORY_ID), f"{w}.category_id") != 1:
            continue
        iid = ck.integer(ck.field(a, "image_id", w), f"{w}.image_id")
        if iid not in by_id:
            ck.fail(f"{w}.image_id", f"is {iid}, which is not in 'images'")
        tid = ck.integer(ck.field(a, "track_id", w), f"{w}.track_id")
        kp, scores = _keypoints(ck, a, w, pairs, coco_flags)
        if a.get("bbox") is not None:
            box = ck.numbers(a["bbox"], f"{w}.bbox", 4)
            if box[2] < 0 or box[3] < 0:
                ck.fail(f"{w}.bbox", "must have a non-negative width and height")
            bbox = as_box(box)
        else:
            derived = derive_bbox(kp, None)
            if derived is None:
                skipped += 1
                continue
            bbox = derived
        if "score" in a:
            score = ck.number(a["score"], f"{w}.score")
        elif scores is not None and np.any(kp[:, 2] > 0):
            labelled = [s for s, d in pairs if kp[d, 2] > 0]
            score = float(np.mean(scores[labelled]))
        else:
            score = 1.0
        ann_id = a.get("id")
        records.append((w, PersonRecord(
            video_id=vinfo.id, frame_index=frames[by_id[iid]], track_id=tid, bbox=bbox,
            keypoints=kp, score=score,
            id=None if ann_id is None else ck.integer(ann_id, f"{w}.id"))))
    if skipped:
        log.warning("%s: %d annotations have neither a box nor labelled keypoints; skipped",
                    path, skipped)
    check_unique(ck, records)
    track_ids = sorted({r.track_id for _, r in records})
    return canonical(TrackSet(videos=[vinfo],
                              tracks=[Track(id=t, video_id=vinfo.id) for t in track_ids],
                              annotations=[r for _, r in records]))


def load_posetrack(path: str | Path, *, video: VideoInfo | None = None) -> TrackSet:
    return parse_posetrack(read_json(path), path, video=video)


def _image_id(video_id: int, frame: int, length: int) -> int:
    """PoseTrack's ``1VVVVVVFFFF`` image ids where they fit, else ``frame + 1``."""
    if 0 <= video_id < 1_000_000 and length <= 10_000:
        return 10_000_000_000 + video_id * 10_000 + frame
    return frame + 1


def to_posetrack(ts: TrackSet, *, video_id: int | None = None) -> dict[str, Any]:
    """PoseTrack 2018 JSON (a dict) for one video of ``ts`` (the only one, or ``video_id``).

    Every frame gets an image entry (``nframes`` = the video length), so the file reads back
    with the same frame indices.  COCO eyes are dropped (PoseTrack has no eyes), head_bottom
    and head_top are written as unlabelled; masks and track names are not part of PoseTrack.
    Visibility flags are COCO's (the file says so in ``info``); per-joint ``scores`` repeat the
    record's score on labelled joints.
    """
    if video_id is None:
        if len(ts.videos) != 1:
            raise InputError(f"a PoseTrack file holds one video; these tracks have "
                             f"{len(ts.videos)}", hint="choose a video id")
        video = ts.videos[0]
    else:
        match = [v for v in ts.videos if v.id == video_id]
        if not match:
            raise InputError(f"there is no video {video_id} in these tracks")
        video = match[0]
    stem = Path(video.file_name).stem or f"{video.id:06d}"
    recs = sorted((r for r in ts.annotations if r.video_id == video.id),
                  key=lambda r: (r.frame_index, r.track_id))
    labelled = {r.frame_index for r in recs}
    images = [{"id": _image_id(video.id, f, video.length),
               "file_name": f"images/{stem}/{f:06d}.jpg",
               "frame_id": _image_id(video.id, f, video.length),
               "vid_id": f"{video.id:06d}", "nframes": video.length,
               "is_labeled": f in labelled} for f in range(video.length)]
    pairs = _mapping(POSETRACK18_KEYPOINTS)
    used = [r.id for r in recs if r.id is not None]
    next_id = max(used, default=0) + 1
    anns = []
    for r in recs:
        kp = np.zeros((NUM_KEYPOINTS, 3))
        for s, d in pairs:
            kp[s] = r.keypoints[d]
        if r.id is None:
            ann_id, next_id = next_id, next_id + 1
        else:
            ann_id = r.id
        anns.append({
            "id": ann_id, "image_id": _image_id(video.id, r.frame_index, video.length),
            "track_id": r.track_id, "category_id": PERSON_CATEGORY_ID,
            "bbox": [json_number(v) for v in r.bbox],
            "keypoints": [json_number(v) for v in kp.ravel()],
            "scores": [json_number(r.score) if v > 0 else 0 for v in kp[:, 2]],
            "score": json_number(r.score),
        })
    return {
        "info": dict(_EXPORT_INFO),
        "images": images,
        "annotations": anns,
        "categories": [{"id": PERSON_CATEGORY_ID, "name": "person", "supercategory": "person",
                        "keypoints": list(POSETRACK18_KEYPOINTS),
                        "skeleton": [list(p) for p in POSETRACK18_SKELETON]}],
    }


def save_posetrack(ts: TrackSet, path: str | Path, *, video_id: int | None = None) -> Path:
    """Write :func:`to_posetrack` as JSON, atomically."""
    text = json.dumps(to_posetrack(ts, video_id=video_id), separators=(",", ":"),
                      allow_nan=False) + "\n"
    return write_text_atomic(path, text)
