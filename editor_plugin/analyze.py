"""``humanfx analyze``: run the analyzer over a clip and fill its person-layer cache.

How the cache stays correct although the tracker's final identities come only at the end:

1. Each frame's detections (exactly what the tracker is fed, plus full-resolution RLEs) go to a
   :class:`~inference.analysis.store.DetectionStore` next to the cache
   (``<cache>.detections.db``); the frame's tracked people, with the tracker's *online* ids, go
   to the layer cache.  Both are written in batches by a writer thread, the store first, each
   batch one transaction, so the cache's analysed frames are always a subset of the stored
   ones.  The clip's last frame is never streamed, so a streaming cache is never complete.
2. When every frame is stored, ``PersonTracker.finish()`` gives the final ids (short tracks
   dropped, gaps interpolated, ids ``1..N``); the cache is rebuilt from the stored detections
   under a temporary name and renamed over the streaming one (``LayerCache.from_trackset``:
   atomic), then the store is deleted.  A complete cache is therefore always a finished one.
3. Re-running the same command reuses a complete cache.  Otherwise it resumes: stored frames
   are decoded again and *replayed* through a fresh tracker (same detections, same images, so
   the same identities as an uninterrupted run), and detection continues with the first frame
   not stored -- in keyframe mode from the keyframe before it, so the flow-carried frames come
   out exactly as they would have.  A store whose frames do not cover the cache's is discarded
   with the cache.  ``--range`` fills part of the clip; ids are then final over the frames
   analysed so far, and the cache completes when a later run covers the rest.

Decoding (and the resize to the processing resolution) runs in a background thread; writing
(full-resolution RLE encoding and SQLite) in another.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from editor_plugin.media import VideoReader
from editor_plugin.pipeline import BackgroundSink, prefetch
from editor_plugin.session import ClipSession
from inference.analysis import (
    FLOW,
    KEYFRAME,
    REPLAY,
    Analyzer,
    AnalyzerConfig,
    DetectionStore,
    FrameDetector,
    FrameResult,
    build_detector,
    defaults_for,
    detector_identity,
    final_records,
    full_res_rle,
    online_records,
    process_shape,
    resolve_device,
)
from inference.analysis.store import remove_store
from inference.cache import CacheMeta, LayerCache, cache_path
from inference.errors import CancelledError, InputError
from inference.models.rcnn import RCNNSettings
from inference.tracking import TrackerConfig
from inference.tracks.model import Track, TrackSet

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class AnalyzeOptions:
    """How to analyze a clip.  ``None`` fields take the device's defaults
    (:func:`inference.analysis.defaults_for`).

    Attributes:
        model: ``"rcnn"`` (torchvision R-CNNs, the default) or ``"seed"`` (the seed's networks).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        keyframe_every: detect every N-th frame, optical flow in between.
        batch_size: keyframes per detector call.
        process_size: shorter side of the analysis resolution, pixels.
        frames: ``(start, stop)`` frames to analyse (``stop`` exclusive, ``None``: the end);
            ``None``: the whole clip.
        rcnn: the R-CNN's settings; its ``None`` fields (``proposals``, ``mask_boxes``) take
            the device's defaults.
        weights: weights per slot (``keypoint``/``mask`` or ``pose``/``segmenter``): names,
            enum members or ``Weights.local(path)``.
        tracker: the person tracker's settings.
        flow_preset: DIS preset of keyframe mode.
        parallel_networks: run the Keypoint and Mask R-CNN at the same time, the CPU threads
            split between them (``None``: the device's default).
        commit_every: frames per cache transaction.
        download: download missing weights (with a progress bar when ``show_download``).
    """

    model: str = "rcnn"
    device: str = "auto"
    keyframe_every: int | None = None
    batch_size: int | None = None
    process_size: int | None = None
    frames: tuple[int, int | None] | None = None
    rcnn: RCNNSettings = field(default_factory=RCNNSettings)
    weights: Mapping[str, Any] | None = None
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    flow_preset: str = "fast"
    parallel_networks: bool | None = None
    commit_every: int = 16
    show_download: bool = True


@dataclass(frozen=True)
class AnalyzeResult:
    """What an analysis did.  ``persons`` counts the tracks in the cache."""

    cache_path: Path
    source: str
    reused: bool
    complete: bool
    persons: int
    frames_total: int
    frames_detected: int
    frames_carried: int
    frames_replayed: int
    seconds: float
    device: str
    keyframe_every: int
    process_size: tuple[int, int]


def store_path(cache_file: Path) -> Path:
    """The detection store that goes with a layer cache file."""
    return cache_file.with_name(cache_file.stem + ".detections.db")


def _range(frames: tuple[int, int | None] | None, n: int) -> tuple[int, int]:
    start, stop = (0, None) if frames is None else frames
    stop = n if stop is None else stop
    if not 0 <= start < stop <= n:
        raise InputError(f"range {start}:{stop} is outside the clip's {n} frames",
                         hint=f"use a range within 0:{n}")
    return start, stop


def plan_frames(start: int, stop: int, stored: set[int], keyframe_every: int) -> set[int]:
    """Frames to detect: those of ``[start, stop)`` not stored, plus, in keyframe mode, the
    stored frames between a to-do run's start and the keyframe before it (so that the run
    starts at a keyframe, as an uninterrupted analysis would have)."""
    todo = {f for f in range(start, stop) if f not in stored}
    if keyframe_every > 1:
        for k in sorted(todo):
            if k - 1 in todo:
                continue
            kf = k - k % keyframe_every
            if kf < k and all(f in stored for f in range(kf, k)):
                todo.update(range(kf, k))
    return todo


def _remove_cache(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _rebuild_partial(path: Path, meta: CacheMeta, records: dict, tracks: list[int]) -> None:
    """Replace the cache at ``path`` by one holding ``records`` (final ids) only: built under
    a temporary name, then renamed (a cache that is not complete, after ``--range``)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with LayerCache.create(tmp, meta) as cache:
            cache.add_tracks(Track(t, 1) for t in tracks)
            cache.write_frames((f, records[f]) for f in sorted(records))
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, path)
    finally:
        _remove_cache(tmp)


def analyze_clip(session: ClipSession, options: AnalyzeOptions = AnalyzeOptions(),
                 *, detector: FrameDetector | None = None, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> AnalyzeResult:
    """Analyze ``session``'s clip into its layer cache (resuming or reusing earlier work).

    Args:
        session: the clip.
        options: see :class:`AnalyzeOptions`.
        detector: a ready detector (its ``identity`` keys the cache); built from ``options``
            when ``None``.
        progress: ``progress(done, total)`` after each frame (replayed frames included).
        cancel: set it to stop after the frame in progress; what is done is kept.

    Raises:
        CancelledError: ``cancel`` was set (the work done is saved; re-run to continue).
        KeyboardInterrupt: passed on after saving the work done.
        HumanfxError: no weights, no GPU for ``device="cuda"``, unreadable clip...
    """
    t0 = time.monotonic()
    device = resolve_device(options.device)
    d = defaults_for(device)
    cfg = AnalyzerConfig(keyframe_every=options.keyframe_every or d.keyframe_every,
                         batch_size=options.batch_size or d.batch_size,
                         process_size=options.process_size or d.process_size,
                         flow_preset=options.flow_preset, tracker=options.tracker)
    info = session.info
    n = info.frame_count
    start, stop = _range(options.frames, n)
    rcnn = options.rcnn.resolve(proposals=d.rcnn_proposals, mask_boxes=d.rcnn_mask_boxes)
    identity = detector.identity if detector is not None else detector_identity(
        options.model, weights=dict(options.weights or {}), rcnn_settings=rcnn)
    source = str(identity["detector"])
    settings = {"detector": identity, "keyframe_every": cfg.keyframe_every,
                "process_size": cfg.process_size,
                "flow_preset": cfg.flow_preset if cfg.keyframe_every > 1 else None,
                "tracker": asdict(cfg.tracker)}
    path = cache_path(session.clip_hash, source, settings, root=session.cache_root)
    meta = session.cache_meta(source, settings)
    frame_size = (info.width, info.height)

    def result(**kw: Any) -> AnalyzeResult:
        base = {"cache_path": path, "source": source, "reused": False, "complete": False,
                "persons": 0, "frames_total": n, "frames_detected": 0, "frames_carried": 0,
                "frames_replayed": 0, "seconds": time.monotonic() - t0, "device": str(device),
                "keyframe_every": cfg.keyframe_every,
                "process_size": process_shape(frame_size, cfg.process_size)}
        return AnalyzeResult(**{**base, **kw})

    if path.exists():
        with LayerCache.open(path) as existing:
            if existing.is_complete() and not existing.meta.differences(meta):
                remove_store(store_path(path))  # a leftover of a run killed while finishing
                return result(reused=True, complete=True, persons=len(existing.track_ids()))

    if detector is None:
        parallel = d.parallel_networks if options.parallel_networks is None else \
            options.parallel_networks
        detector = build_detector(options.model, device=device,
                                  weights=dict(options.weights or {}), rcnn_settings=rcnn,
                                  progress=options.show_download, parallel=parallel)
    analyzer = Analyzer(detector, cfg)
    pshape = analyzer.process_shape(frame_size)
    scale = (frame_size[0] / pshape[0], frame_size[1] / pshape[1])
    store = DetectionStore(store_path(path), {"clip_hash": session.clip_hash,
                                              "settings": settings},
                           process_size=pshape, frame_size=frame_size)
    try:
        cache = LayerCache.create(path, meta)
        stored = set(store.frames().tolist())
        if not set(cache.frames_done().tolist()) <= stored:
            log.warning("%s: the analysed frames are not all in %s; starting afresh", path,
                        store.path)
            cache.close()
            _remove_cache(path)
            cache = LayerCache.create(path, meta)
        try:
            todo = plan_frames(start, stop, stored, cfg.keyframe_every)
            visit = sorted(stored | todo)
            if todo:
                log.info("%s: %d frames to analyse, %d to replay", session.path.name, len(todo),
                         len(visit) - len(todo))
            counts = _run(session, analyzer, store, cache, visit, todo, n, frame_size, scale,
                          options.commit_every, progress, cancel)
        finally:
            cache.close()
        records = final_records(analyzer.finish(counts["state"]),
                                lambda f: store.read(f, masks=False), scale)
        tracks = sorted({r.track_id for recs in records.values() for r in recs})
        complete = set(store.frames().tolist()) >= set(range(n))
        if complete:
            ts = TrackSet(videos=[session.video_info()], tracks=[Track(t, 1) for t in tracks],
                          annotations=[r for f in sorted(records) for r in records[f]],
                          info={"analysis": {"source": source, "detector": identity,
                                             "keyframe_every": cfg.keyframe_every,
                                             "process_size": list(pshape),
                                             "device": str(device)}})
            LayerCache.from_trackset(path, ts, meta).close()
            store.remove()
        else:
            _rebuild_partial(path, meta, records, tracks)
    finally:
        with contextlib.suppress(Exception):
            store.close()
    return result(complete=complete, persons=len(tracks),
                  frames_detected=counts[KEYFRAME], frames_carried=counts[FLOW],
                  frames_replayed=counts[REPLAY])


def _run(session: ClipSession, analyzer: Analyzer, store: DetectionStore, cache: LayerCache,
         visit: list[int], todo: set[int], n: int, frame_size: tuple[int, int],
         scale: tuple[float, float], commit_every: int, progress: Progress | None,
         cancel: threading.Event | None) -> dict[str, Any]:
    """Decode, analyse and stream-write ``visit``; returns the counts and the state."""

    def write(results: list[FrameResult]) -> None:  # the writer thread
        rows, frames = [], []
        for r in results:
            rles = [None if det.mask is None else full_res_rle(det.mask, frame_size)
                    for det in r.detections]
            rows.append((r.index, r.source,
                         [(det, None if rle is None else rle["counts"].encode("ascii"))
                          for det, rle in zip(r.detections, rles, strict=True)]))
            if r.index != n - 1:  # the last frame is written when the tracks are final
                frames.append((r.index, online_records(r, rles, scale)))
        store.write(rows)
        cache.write_frames(frames)

    def replay(index: int):
        if index in todo:
            return None
        return [sd.detection for sd in store.read(index)]

    with VideoReader(session.path) as reader:
        def decode():
            for i in visit:
                yield i, analyzer.prepare(reader.read(i).image)

        source = prefetch(decode(), depth=8, name="analyze-decode")
        state = analyzer.init_state(source, frame_size=frame_size, replay=replay)
        frames_iter = analyzer.propagate(state)
        sink: BackgroundSink[list[FrameResult]] = BackgroundSink(write, depth=4,
                                                                 name="analyze-writer")
        batch: list[FrameResult] = []
        stopped: BaseException | None = None
        done = 0
        try:
            for res in frames_iter:
                done += 1
                if res.source != REPLAY:
                    batch.append(res)
                if len(batch) >= commit_every:
                    sink.put(batch)
                    batch = []
                if progress is not None:
                    progress(done, len(visit))
                if cancel is not None and cancel.is_set():
                    stopped = CancelledError(
                        f"analysis stopped at frame {res.index}; the frames done are saved",
                        path=session.path, hint="run the same command again to continue")
                    break
        except KeyboardInterrupt as exc:
            stopped = exc
        except BaseException:
            sink.abort()
            raise
        finally:
            frames_iter.close()
            source.close()  # stops the decode thread before the reader closes
        if batch:
            sink.put(batch)
        sink.close()  # waits until everything is committed
    if stopped is not None:
        raise stopped
    return {**state.counts, "state": state}


__all__ = ["AnalyzeOptions", "AnalyzeResult", "analyze_clip", "plan_frames", "store_path"]
