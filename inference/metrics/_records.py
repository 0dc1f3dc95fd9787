"""Pairing predicted and ground-truth :class:`TrackSet` videos, and grouping their records.

Every metric in this package evaluates a prediction against ground truth video by video.  The
ground truth defines the videos; a predicted video is paired with the ground-truth video of the
same id, or, when both sets hold exactly one video, with that one whatever its id (a clip run
through the pipeline and its annotation file rarely agree on ids).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pycocotools import mask as _cocomask

from inference.errors import InputError
from inference.tracks.model import PersonRecord, TrackSet, VideoInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoPair:
    """One ground-truth video with the predicted and ground-truth records that belong to it.

    ``pred`` and ``gt`` keep the order of ``TrackSet.annotations``.
    """

    video: VideoInfo
    pred: list[PersonRecord]
    gt: list[PersonRecord]


def _check_records(records: Iterable[PersonRecord], video: VideoInfo, role: str) -> None:
    seen: set[tuple[int, int]] = set()
    for rec in records:
        key = (rec.track_id, rec.frame_index)
        if key in seen:
            raise InputError(
                f"{role} track {rec.track_id} has two records on frame {rec.frame_index} of video "
                f"{video.id} ({video.file_name})",
                hint="keep one record per track per frame",
            )
        seen.add(key)
        seg = rec.segmentation
        if seg is not None:
            h, w = (int(v) for v in seg["size"])
            if (h, w) != (video.height, video.width) and video.height > 0 and video.width > 0:
                raise InputError(
                    f"{role} mask of track {rec.track_id} on frame {rec.frame_index} is {w}x{h} "
                    f"but video {video.id} ({video.file_name}) is {video.width}x{video.height}",
                    hint="masks must cover the whole displayed frame",
                )


def pair_videos(pred: TrackSet, gt: TrackSet) -> list[VideoPair]:
    """Pair the videos of ``pred`` with those of ``gt``; raise :class:`InputError` on a mismatch.

    Returns one :class:`VideoPair` per ground-truth video, in ascending video id order.
    """
    if not gt.videos:
        raise InputError("the ground truth has no videos", hint="pass a tracks file with a video")
    gt_ids = {v.id for v in gt.videos}
    pred_ids = {v.id for v in pred.videos} | {a.video_id for a in pred.annotations}
    remap: dict[int, int] = {}
    if len(gt.videos) == 1 and len(pred_ids) == 1 and pred_ids != gt_ids:
        (pid,) = pred_ids
        remap[pid] = gt.videos[0].id
        log.info("pairing predicted video %d with ground-truth video %d", pid, gt.videos[0].id)
    else:
        unknown = sorted(pred_ids - gt_ids)
        if unknown:
            raise InputError(
                f"predicted video id {unknown[0]} has no ground-truth video "
                f"(ground truth has ids {sorted(gt_ids)})",
                hint="evaluate predictions against the annotation file of the same clips",
            )
    pred_videos = {remap.get(v.id, v.id): v for v in pred.videos}
    by_gt: dict[int, VideoInfo] = {v.id: v for v in gt.videos}
    for vid, pv in pred_videos.items():
        gv = by_gt[vid]
        if (
            pv.width
            and pv.height
            and gv.width
            and gv.height
            and (pv.width, pv.height)
            != (
                gv.width,
                gv.height,
            )
        ):
            raise InputError(
                f"predicted video {pv.id} ({pv.file_name}) is {pv.width}x{pv.height} but its "
                f"ground truth {gv.id} ({gv.file_name}) is {gv.width}x{gv.height}",
                hint="evaluate predictions made on the same clip as the annotation",
            )
    pairs: dict[int, VideoPair] = {vid: VideoPair(by_gt[vid], [], []) for vid in sorted(by_gt)}
    for ann in gt.annotations:
        if ann.video_id not in pairs:
            raise InputError(
                f"ground-truth record refers to video id {ann.video_id}, which the file does not "
                "list",
                hint="list every video in the tracks file",
            )
        pairs[ann.video_id].gt.append(ann)
    for ann in pred.annotations:
        pairs[remap.get(ann.video_id, ann.video_id)].pred.append(ann)
    for p in pairs.values():
        _check_records(p.gt, p.video, "ground-truth")
        _check_records(p.pred, p.video, "predicted")
    return list(pairs.values())


def tracks_in_order(records: Iterable[PersonRecord]) -> dict[int, list[PersonRecord]]:
    """Records grouped by track id; tracks in order of first appearance, records by frame."""
    out: dict[int, list[PersonRecord]] = {}
    for rec in records:
        out.setdefault(rec.track_id, []).append(rec)
    for recs in out.values():
        recs.sort(key=lambda r: r.frame_index)
    return out


def frames_in_order(*record_lists: Iterable[PersonRecord]) -> list[int]:
    """Sorted frame indices that hold at least one record in any of the lists."""
    return sorted({r.frame_index for recs in record_lists for r in recs})


def by_frame(records: Iterable[PersonRecord]) -> dict[int, list[PersonRecord]]:
    """Records grouped by frame index, each group in input order."""
    out: dict[int, list[PersonRecord]] = {}
    for rec in records:
        out.setdefault(rec.frame_index, []).append(rec)
    return out


def cocoapi_rle(rle: dict[str, Any]) -> dict[str, Any]:
    """An RLE dict as pycocotools' C functions take it (compressed, ``counts`` as bytes)."""
    counts = rle["counts"]
    h, w = (int(v) for v in rle["size"])
    if isinstance(counts, list):
        return _cocomask.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    return {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
