"""Read any tracks file humanfx knows, by content; write one in a chosen format.

Formats: ``cocovideo`` (humanfx's own COCO-video JSON, canonical), ``youtube-vis`` (results
list; datasets are read too) and ``posetrack`` (PoseTrack 2018 per-video JSON).  See
``docs/tracks-format.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference.errors import InputError
from inference.tracks.cocovideo import is_cocovideo, parse_cocovideo, read_json, save_cocovideo
from inference.tracks.model import TrackSet, VideoInfo
from inference.tracks.posetrack import is_posetrack, parse_posetrack, save_posetrack
from inference.tracks.youtube_vis import (
    is_youtube_vis,
    parse_youtube_vis,
    save_youtube_vis_results,
)

FORMATS: tuple[str, ...] = ("cocovideo", "youtube-vis", "posetrack")

_ALIASES = {
    "cocovideo": "cocovideo", "coco-video": "cocovideo", "coco_video": "cocovideo",
    "youtube-vis": "youtube-vis", "youtube_vis": "youtube-vis", "youtubevis": "youtube-vis",
    "ytvis": "youtube-vis",
    "posetrack": "posetrack", "posetrack18": "posetrack", "posetrack2018": "posetrack",
}  # fmt: skip


def detect_format(data: Any) -> str | None:
    """The format name of parsed JSON, or ``None`` when it is none humanfx knows."""
    if is_cocovideo(data):
        return "cocovideo"
    if is_youtube_vis(data):
        return "youtube-vis"
    if is_posetrack(data):
        return "posetrack"
    return None


def load_tracks(path: str | Path, *, video: VideoInfo | None = None,
                category_id: int | None = None) -> TrackSet:
    """Read a tracks file, choosing the format by its content.

    Args:
        path: a COCO-video, YouTube-VIS (results or dataset) or PoseTrack 2018 JSON file.
        video: the clip the tracks belong to.  Formats without video metadata (YouTube-VIS,
            PoseTrack) take the frame size, length and rate from it and check against it; a
            COCO-video file carries its own and ``video`` is not used.
        category_id: the person category of a YouTube-VIS results list with several
            categories (1 in YouTube-VIS 2019, 26 in 2021).

    Raises:
        InputError: the file is missing, not JSON, of an unknown kind, or invalid (the message
            names the file and the JSON path of the first bad element).
    """
    data = read_json(path)
    fmt = detect_format(data)
    if fmt == "cocovideo":
        return parse_cocovideo(data, path)
    if fmt == "youtube-vis":
        return parse_youtube_vis(data, path, video=video, category_id=category_id)
    if fmt == "posetrack":
        return parse_posetrack(data, path, video=video)
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        raise InputError("is a COCO image dataset without video tracks", path=path,
                         hint="use a COCO-video, YouTube-VIS or PoseTrack 2018 file")
    raise InputError("is not a tracks file humanfx knows", path=path,
                     hint="use a COCO-video, YouTube-VIS or PoseTrack 2018 JSON file")


def normalize_format(name: str) -> str:
    """Canonical format name for ``name`` (case and aliases); InputError when unknown."""
    fmt = _ALIASES.get(name.strip().lower())
    if fmt is None:
        raise InputError(f"unknown tracks format {name!r}",
                         hint=f"use one of: {', '.join(FORMATS)}")
    return fmt


def save_tracks(trackset: TrackSet, path: str | Path, format: str = "cocovideo") -> Path:
    """Write ``trackset`` to ``path`` in ``format`` (atomically).  Returns the path.

    ``cocovideo`` keeps everything; ``youtube-vis`` keeps masks only (tracks without masks are
    left out); ``posetrack`` keeps keypoints and boxes of a single video.
    """
    fmt = normalize_format(format)
    path = Path(path)
    if fmt == "cocovideo":
        return save_cocovideo(trackset, path)
    if fmt == "youtube-vis":
        return save_youtube_vis_results(trackset, path)
    try:
        return save_posetrack(trackset, path)
    except InputError as exc:
        if exc.path is None:
            raise InputError(exc.message, path=path, hint=exc.hint) from None
        raise
