"""A clip session: one source clip, its analysis caches and the actions an editor takes on it.

The CLI, the app and the plugin server all go through :class:`ClipSession`, so every action
works the same headless and in the UI.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from editor_plugin.media import ClipInfo, probe
from inference.cache import CacheMeta, LayerCache, cache_path, clip_content_hash, list_caches
from inference.cache.layers import TrackSummary
from inference.errors import InputError
from inference.tracks import TrackSet, VideoInfo
from inference.tracks.io import load_tracks

log = logging.getLogger(__name__)

IMPORT_SOURCE = "import"


@dataclass(frozen=True)
class ImportResult:
    cache_path: Path
    tracks: int
    annotations: int
    frames_with_people: int


class ClipSession:
    """Everything humanfx knows about one clip.

    Args:
        clip: path of the source video.
        cache_root: where layer caches live (default: the user cache dir, or
            ``$HUMANFX_CACHE_DIR``).
    """

    def __init__(self, clip: str | Path, *, cache_root: Path | None = None):
        self.path = Path(clip)
        self.info: ClipInfo = probe(self.path)
        self.cache_root = cache_root
        self._clip_hash: str | None = None

    # -- identity -----------------------------------------------------------------------------
    @property
    def clip_hash(self) -> str:
        if self._clip_hash is None:
            self._clip_hash = clip_content_hash(self.path)
        return self._clip_hash

    def video_info(self, video_id: int = 1) -> VideoInfo:
        """The clip as a tracks-format video record (display size, exact frame count and rate)."""
        return VideoInfo(
            id=video_id,
            file_name=self.path.name,
            width=self.info.width,
            height=self.info.height,
            length=self.info.frame_count,
            fps=self.info.fps,
        )

    def cache_meta(self, source: str, settings: dict) -> CacheMeta:
        return CacheMeta(
            clip_hash=self.clip_hash,
            source=source,
            settings=settings,
            width=self.info.width,
            height=self.info.height,
            frame_count=self.info.frame_count,
            fps=self.info.fps,
            clip_name=self.path.name,
        )

    # -- layers -------------------------------------------------------------------------------
    def layer_caches(self):
        """All caches of this clip, newest first."""
        return list_caches(self.clip_hash, root=self.cache_root)

    def layers(self, source: str | None = None) -> LayerCache:
        """Open the newest complete layer cache (of ``source`` when given) for reading."""
        entries = [e for e in self.layer_caches() if source is None or e.meta.source == source]
        complete = [e for e in entries if e.complete]
        if not complete:
            what = f" from {source!r}" if source else ""
            raise InputError(
                f"no person layers{what} for this clip yet",
                path=self.path,
                hint=f"run `humanfx import {self.path} TRACKS.json` (or `humanfx analyze` once "
                "models are installed) first",
            )
        return LayerCache.open(complete[0].path)

    def persons(self, source: str | None = None) -> list[TrackSummary]:
        with self.layers(source) as cache:
            return cache.tracks()

    def check_persons(self, ids: list[int], source: str | None = None) -> None:
        """Raise an InputError naming the unknown ids and the known ones."""
        known = {t.id for t in self.persons(source)}
        unknown = [i for i in ids if i not in known]
        if unknown:
            listing = ", ".join(str(i) for i in sorted(known)) or "none"
            raise InputError(
                f"person {', '.join(map(str, unknown))} is not in this clip (persons: {listing})",
                path=self.path,
                hint="run `humanfx persons CLIP` to list them",
            )

    # -- import / export ----------------------------------------------------------------------
    def import_tracks(self, tracks_file: str | Path) -> ImportResult:
        """Read a tracks file (COCO-video, YouTube-VIS or PoseTrack 2018) into a layer cache.

        The file must describe this clip: same frame size and frame count.
        """
        tracks_file = Path(tracks_file)
        video = self.video_info()
        ts = load_tracks(tracks_file, video=video)
        self._check_matches(ts, tracks_file)
        digest = hashlib.blake2b(tracks_file.read_bytes(), digest_size=8).hexdigest()
        settings = {"file": tracks_file.name, "sha": digest}
        meta = self.cache_meta(IMPORT_SOURCE, settings)
        path = cache_path(self.clip_hash, IMPORT_SOURCE, settings, root=self.cache_root)
        # Re-importing the same file rebuilds the cache, so a stale or damaged one is replaced.
        ts = _single_video(ts, video)
        with LayerCache.from_trackset(path, ts, meta):
            pass
        return ImportResult(
            cache_path=path,
            tracks=len(ts.tracks),
            annotations=len(ts.annotations),
            frames_with_people=len({a.frame_index for a in ts.annotations}),
        )

    def _check_matches(self, ts: TrackSet, tracks_file: Path) -> None:
        if not ts.videos:
            raise InputError("the tracks file has no videos", path=tracks_file)
        if len(ts.videos) > 1:
            raise InputError(
                f"the tracks file describes {len(ts.videos)} videos; import needs one per clip",
                path=tracks_file,
                hint="split it per video first",
            )
        v = ts.videos[0]
        info = self.info
        if (v.width, v.height) != (info.width, info.height) or v.length != info.frame_count:
            raise InputError(
                f"the tracks are for a {v.width}x{v.height} clip of {v.length} frames, but "
                f"{self.path.name} is {info.width}x{info.height} with {info.frame_count} frames",
                path=tracks_file,
                hint="import the tracks file that belongs to this clip",
            )
        bad = [a for a in ts.annotations if not 0 <= a.frame_index < info.frame_count]
        if bad:
            raise InputError(
                f"annotation on frame {bad[0].frame_index} is outside the clip's "
                f"{info.frame_count} frames",
                path=tracks_file,
            )

    def export_tracks(self, out: str | Path, fmt: str = "cocovideo",
                      source: str | None = None, *, persons: list[int] | None = None,
                      joints: list[str] | str | None = None, smoothed: bool | None = None,
                      start_number: int | None = None) -> Path:
        """Write the person layers as ``fmt`` (a tracks format, ``mot``, or a joint-track
        format: ``after-effects``, ``nuke-chan``, ``csv``, ``json``); returns what was written.

        See :func:`editor_plugin.exports.tracking_data.export_clip_tracks` for ``persons``,
        ``joints``, ``smoothed`` (None: as cached, False: raw, True: smoothed) and
        ``start_number``.
        """
        from editor_plugin.exports.tracking_data import export_clip_tracks

        return export_clip_tracks(self, out, fmt, source=source, persons=persons, joints=joints,
                                  smoothed=smoothed, start_number=start_number)


def _single_video(ts: TrackSet, video: VideoInfo) -> TrackSet:
    """Renumber the one video of ``ts`` to ``video.id`` (1) and take the clip's exact metadata."""
    old = ts.videos[0].id
    if old == video.id and ts.videos[0] == video:
        return ts
    for ann in ts.annotations:
        ann.video_id = video.id
    tracks = [type(t)(id=t.id, video_id=video.id, name=t.name) for t in ts.tracks]
    v0 = ts.videos[0]
    keep = VideoInfo(id=video.id, file_name=v0.file_name or video.file_name, width=video.width,
                     height=video.height, length=video.length, fps=video.fps)
    return TrackSet(videos=[keep], tracks=tracks, annotations=ts.annotations, info=ts.info)
