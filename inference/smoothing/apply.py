"""Smoothing whole tracks sets and layer caches.

The raw analysis is never overwritten: :func:`smooth_cache` writes the smoothed layers into a
NEW cache of the same clip whose source is ``"<source>.smooth"`` (``+`` is not allowed in
source names, see :func:`inference.cache.store.cache_path`) and whose settings record the
smoother's parameters, the source's name and settings, and a digest of the source's content.
The raw cache keeps working (``--layers <source>``); smoothing the same content twice reuses
the existing smoothed cache; smoothing again after an identity edit of the source makes a new
one and deletes the superseded one (same settings, older source content).
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inference.cache.layers import CacheMeta, LayerCache, canonical_json
from inference.cache.store import cache_path, list_caches
from inference.errors import InputError
from inference.smoothing.keypoints import (
    KeypointSmoothing,
    smooth_track_boxes,
    smooth_track_keypoints,
)
from inference.smoothing.masks import MaskSmoothing, iter_smooth_track_masks
from inference.tracks.masks import decode_mask, encode_mask, mask_bbox
from inference.tracks.model import PersonRecord, TrackSet, VideoInfo

log = logging.getLogger(__name__)

SMOOTH_SUFFIX = ".smooth"
#: Version of the smoothing method, recorded in the settings of smoothed caches.
METHOD = "savgol-runs+tsdf-vote/1"
#: The default settings (frozen dataclasses, safe to share).
DEFAULT_KEYPOINTS = KeypointSmoothing()
DEFAULT_MASKS = MaskSmoothing()


class _LazyMasks(Sequence):
    """Masks of a list of records, decoded on access (``None`` for records without one)."""

    def __init__(self, records: list[PersonRecord]):
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, i):  # type: ignore[override]
        seg = self._records[i].segmentation
        return None if seg is None else decode_mask(seg)


def smoothing_settings(keypoints: KeypointSmoothing | None, masks: MaskSmoothing | None
                       ) -> dict[str, Any]:
    """The JSON-ready record of what smoothing was applied."""
    return {"method": METHOD,
            "keypoints": None if keypoints is None else keypoints.to_dict(),
            "masks": None if masks is None else masks.to_dict()}


def _smooth_records(recs: list[PersonRecord], keypoints: KeypointSmoothing | None,
                    masks: MaskSmoothing | None) -> None:
    """Smooth one track's records (sorted by frame) in place."""
    frames = np.array([r.frame_index for r in recs], dtype=np.int64)
    if keypoints is not None:
        kp = smooth_track_keypoints(frames, np.stack([r.keypoints for r in recs]), keypoints)
        for r, k in zip(recs, kp):
            r.keypoints = k
        maskless = np.array([r.segmentation is None for r in recs])
        if maskless.any():
            idx = np.flatnonzero(maskless)
            boxes = smooth_track_boxes(frames[idx], np.array([recs[i].bbox for i in idx]),
                                       keypoints)
            for i, b in zip(idx, boxes):
                recs[i].bbox = tuple(float(v) for v in b)  # type: ignore[assignment]
    if masks is not None:
        lazy = _LazyMasks(recs)
        kps = np.stack([r.keypoints for r in recs])  # smoothed above when asked to
        for r, new in zip(recs, iter_smooth_track_masks(frames, lazy, masks, kps)):
            if new is None:
                continue
            old_box = mask_bbox(decode_mask(r.segmentation)) if r.segmentation else None
            new_box = mask_bbox(new)
            if old_box is None or new_box is None:
                continue
            # Move the record's box edges as the mask's tight-box edges moved (a tight box
            # stays tight; a detector's looser box keeps its margins).
            ox0, oy0, ow, oh = old_box
            nx0, ny0, nw, nh = new_box
            x, y, w, h = r.bbox
            left, top = x + (nx0 - ox0), y + (ny0 - oy0)
            right, bottom = x + w + (nx0 + nw - ox0 - ow), y + h + (ny0 + nh - oy0 - oh)
            r.bbox = (left, top, max(0.0, right - left), max(0.0, bottom - top))
            r.segmentation = encode_mask(new)


def smooth_trackset(ts: TrackSet, keypoints: KeypointSmoothing | None = DEFAULT_KEYPOINTS,
                    masks: MaskSmoothing | None = DEFAULT_MASKS, *,
                    progress: Callable[[int, int], None] | None = None) -> TrackSet:
    """A smoothed copy of ``ts`` (``ts`` is not changed).

    Keypoints (and the boxes of mask-less records) are smoothed with ``keypoints``, masks
    stabilised with ``masks`` (and boxes moved with them); ``None`` leaves that part as it is.
    Each (video, track) is smoothed on its own.  Ids, frames, scores, visibility flags and
    track names are kept.  ``info["smoothing"]`` records the settings.  ``progress(done,
    total)`` is called after each track.
    """
    out = copy.deepcopy(ts)
    groups: dict[tuple[int, int], list[PersonRecord]] = {}
    for r in out.annotations:
        groups.setdefault((r.video_id, r.track_id), []).append(r)
    for n, recs in enumerate(groups.values()):
        recs.sort(key=lambda r: r.frame_index)
        if len({r.frame_index for r in recs}) != len(recs):
            raise InputError(f"track {recs[0].track_id} has two records on one frame",
                             hint="fix the tracks before smoothing")
        _smooth_records(recs, keypoints, masks)
        if progress is not None:
            progress(n + 1, len(groups))
    out.info = {**out.info, "smoothing": smoothing_settings(keypoints, masks)}
    return out


def content_digest(cache: LayerCache) -> str:
    """16 hex digits of BLAKE2b over a cache's tracks and records (its current content)."""
    h = hashlib.blake2b(digest_size=8, person=b"humanfx-layers")
    for s in cache.tracks():
        h.update(canonical_json([s.id, s.name]).encode())
    for r in cache.records():
        h.update(canonical_json([r.frame_index, r.track_id, r.id, r.score, list(r.bbox),
                                 None if r.segmentation is None
                                 else r.segmentation["counts"]]).encode())
        h.update(np.ascontiguousarray(r.keypoints, "<f8").tobytes())
    return h.hexdigest()


def _video(meta: CacheMeta) -> VideoInfo:
    return VideoInfo(id=1, file_name=meta.clip_name or "clip", width=meta.width,
                     height=meta.height, length=meta.frame_count, fps=meta.fps)


def smooth_cache(cache: LayerCache, *, keypoints: KeypointSmoothing | None = DEFAULT_KEYPOINTS,
                 masks: MaskSmoothing | None = DEFAULT_MASKS, root: Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the smoothed layers of ``cache`` into a new cache of the same clip; its path.

    The new cache's source is ``cache.meta.source + ".smooth"``; its settings are
    ``{"from": {"source", "settings", "digest"}, "method", "keypoints", "masks"}``; it lives
    where :func:`inference.cache.store.cache_path` puts it under ``root`` (default: the cache
    root).  If that cache exists and is complete, it is reused.  ``cache`` itself is only read.

    Raises InputError for a cache that is already smoothed or not completely analysed.
    """
    meta = cache.meta
    if meta.source.endswith(SMOOTH_SUFFIX):
        raise InputError("these person layers are already smoothed", path=cache.path,
                         hint=f"smooth the raw layers ({meta.source[:-len(SMOOTH_SUFFIX)]!r})")
    if not cache.is_complete():
        raise InputError("the layer cache is not completely analysed yet", path=cache.path,
                         hint="finish the analysis, then smooth")
    if keypoints is None and masks is None:
        raise InputError("nothing to smooth: both keypoint and mask smoothing are off")
    source = meta.source + SMOOTH_SUFFIX
    settings = {"from": {"source": meta.source, "settings": meta.settings,
                         "digest": content_digest(cache)},
                **smoothing_settings(keypoints, masks)}
    new_meta = CacheMeta(clip_hash=meta.clip_hash, source=source, settings=settings,
                         width=meta.width, height=meta.height, frame_count=meta.frame_count,
                         fps=meta.fps, clip_name=meta.clip_name)
    path = cache_path(meta.clip_hash, source, settings, root=root)
    if path.exists():
        try:
            with LayerCache.open(path) as done:
                if not done.meta.differences(new_meta) and done.is_complete():
                    log.info("reusing smoothed layers %s", path)
                    return path
        except InputError as exc:
            log.warning("rebuilding smoothed layers: %s", exc)
    ts = smooth_trackset(cache.to_trackset(_video(meta)), keypoints, masks, progress=progress)
    with LayerCache.from_trackset(path, ts, new_meta):
        pass
    log.info("wrote smoothed layers %s", path)
    _remove_superseded(new_meta, path, root)
    return path


def _remove_superseded(meta: CacheMeta, keep: Path, root: Path | None) -> None:
    """Delete this clip's other smoothed caches made with the same settings from the same
    source cache, but from an older content of it (before identity edits): derived data that
    no longer matches its source."""
    def same_recipe(settings: dict) -> bool:
        a = {k: v for k, v in settings.items() if k != "from"}
        b = {k: v for k, v in meta.settings.items() if k != "from"}
        fa, fb = settings.get("from") or {}, meta.settings["from"]
        return (canonical_json(a) == canonical_json(b)
                and fa.get("source") == fb["source"]
                and canonical_json(fa.get("settings")) == canonical_json(fb["settings"]))

    for entry in list_caches(meta.clip_hash, root=root):
        if (entry.path != keep and entry.meta.source == meta.source
                and isinstance(entry.meta.settings, dict) and same_recipe(entry.meta.settings)):
            log.info("removing superseded smoothed layers %s", entry.path)
            for side in ("", "-wal", "-shm"):
                Path(f"{entry.path}{side}").unlink(missing_ok=True)
