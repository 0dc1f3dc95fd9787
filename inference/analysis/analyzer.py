"""The analyzer: frames in, tracked people out, one frame at a time (SAM2-style).

    analyzer = Analyzer(detector, AnalyzerConfig(keyframe_every=5))
    state = analyzer.init_state(frames, frame_size=(W, H))
    for result in analyzer.propagate(state):   # a generator: work streams, close() cancels
        ...                                     # result.detections, result.tracked
    final = analyzer.finish(state)              # {frame: [TrackedPerson]} with final ids

``frames`` yields ``(frame_index, image)`` in increasing order (gaps allowed); images may be
full resolution or already at the processing resolution (:meth:`Analyzer.prepare`, which a
decode thread can call).  Everything runs at the processing resolution ``(w, h)`` (shorter side
``process_size``, never upscaled): detector, optical flow, tracker (boxes, joints, masks and the
image it uses for appearance and camera motion).  Full-resolution masks only ever exist one at a
time, to be encoded as RLE (:func:`full_res_rle`), so memory stays bounded for 4K clips.

Per frame: a *keyframe* is detected (frames ``i`` with ``i % keyframe_every == 0``, the first
frame, and the first after a gap or after replayed frames); other frames get the previous
frame's detections carried by DIS optical flow (:mod:`.keyframes`); *replayed* frames come with
stored detections (a resumed analysis).  Keyframes are detected ``batch_size`` at a time (a
last, partial batch is padded, so results do not depend on the grouping).
Detections go to :class:`~inference.tracking.PersonTracker` with their masks and the image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from inference.analysis.detection import FrameDetector
from inference.analysis.keyframes import FLOW_PRESETS, FlowPropagator, to_gray
from inference.errors import InputError
from inference.models.rcnn import PersonDetection
from inference.tracking import Detection, PersonTracker, TrackedPerson, TrackerConfig
from inference.tracks.masks import decode_mask, encode_mask
from inference.tracks.model import NUM_KEYPOINTS, PersonRecord

log = logging.getLogger(__name__)

KEYFRAME, FLOW, REPLAY = "keyframe", "flow", "replay"


@dataclass(frozen=True)
class AnalyzerConfig:
    """Settings of one analysis.

    Attributes:
        keyframe_every: detect every N-th frame, carry with optical flow in between (1: detect
            every frame).
        batch_size: keyframes per detector call.
        process_size: shorter side of the processing resolution, pixels (``None``: full).
        flow_preset: DIS preset of keyframe mode (``fast``, ``ultrafast``, ``medium``).
        tracker: the person tracker's settings.
    """

    keyframe_every: int = 1
    batch_size: int = 1
    process_size: int | None = 800
    flow_preset: str = "fast"
    tracker: TrackerConfig = field(default_factory=TrackerConfig)

    def __post_init__(self) -> None:
        if self.keyframe_every < 1:
            raise InputError(f"keyframe_every = {self.keyframe_every} must be >= 1",
                             hint="use --keyframe-every 1 to detect every frame")
        if self.batch_size < 1:
            raise InputError(f"batch size {self.batch_size} must be >= 1")
        if self.process_size is not None and self.process_size < 32:
            raise InputError(f"processing size {self.process_size} must be >= 32 pixels")
        if self.flow_preset not in FLOW_PRESETS:
            raise InputError(f"flow preset {self.flow_preset!r} is not one of "
                             f"{', '.join(FLOW_PRESETS)}")


def process_shape(frame_size: tuple[int, int], process_size: int | None) -> tuple[int, int]:
    """``(w, h)`` processing resolution of a ``(W, H)`` frame: shorter side ``process_size``,
    aspect kept, never larger than the frame."""
    big_w, big_h = int(frame_size[0]), int(frame_size[1])
    short = min(big_w, big_h)
    if process_size is None or process_size >= short:
        return big_w, big_h
    s = process_size / short
    return max(1, round(big_w * s)), max(1, round(big_h * s))


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` at ``(w, h)`` (area averaging when shrinking); unchanged when it fits."""
    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return np.ascontiguousarray(image)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def full_res_rle(soft: np.ndarray, frame_size: tuple[int, int]) -> dict[str, Any]:
    """Compressed RLE of a processing-resolution ``(h, w)`` uint8 soft mask at the full
    ``(W, H)`` resolution (bilinear, ``>= 128``), upsampling only the mask's neighbourhood."""
    big_w, big_h = int(frame_size[0]), int(frame_size[1])
    h, w = soft.shape
    full = np.zeros((big_h, big_w), dtype=np.uint8)
    ys, xs = np.nonzero(soft >= 128)  # a bilinear mix >= 128 needs a source pixel >= 128
    if len(xs):
        sx, sy = w / big_w, h / big_h
        x0 = max(0, int(np.floor((xs.min() - 1) / sx)))
        x1 = min(big_w, int(np.ceil((xs.max() + 2) / sx)))
        y0 = max(0, int(np.floor((ys.min() - 1) / sy)))
        y1 = min(big_h, int(np.ceil((ys.max() + 2) / sy)))
        # destination pixel centre X + 0.5 maps to source (X + 0.5) * sx - 0.5
        m = np.array([[sx, 0.0, (x0 + 0.5) * sx - 0.5], [0.0, sy, (y0 + 0.5) * sy - 0.5]])
        crop = cv2.warpAffine(soft, m, (x1 - x0, y1 - y0),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        full[y0:y1, x0:x1] = crop >= 128
    return encode_mask(full)


def scale_box(bbox: np.ndarray, scale: tuple[float, float]) -> tuple[float, float, float, float]:
    sx, sy = scale
    x, y, w, h = (float(v) for v in bbox)
    return x * sx, y * sy, w * sx, h * sy


def scale_keypoints(kp: np.ndarray | None, scale: tuple[float, float]) -> np.ndarray:
    if kp is None:
        return np.zeros((NUM_KEYPOINTS, 3))
    out = np.array(kp, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    out[:, 0] *= scale[0]
    out[:, 1] *= scale[1]
    return out


@dataclass
class FrameResult:
    """What :meth:`Analyzer.propagate` yields per frame.

    Attributes:
        index: the frame.
        source: ``"keyframe"`` (detected), ``"flow"`` (carried) or ``"replay"`` (stored).
        detections: what the tracker was given (processing resolution).
        tracked: ``(online track id, detection index)`` of the confirmed tracks matched in this
            frame (ids are the tracker's online ids; :meth:`Analyzer.finish` renumbers).
    """

    index: int
    source: str
    detections: list[PersonDetection]
    tracked: list[tuple[int, int]]


@dataclass
class AnalysisState:
    """Everything an analysis carries between frames (create with :meth:`Analyzer.init_state`)."""

    frames: Iterator[tuple[int, np.ndarray]]
    frame_size: tuple[int, int]
    process_size: tuple[int, int]
    replay: Callable[[int], list[PersonDetection] | None] | None
    tracker: PersonTracker
    propagator: FlowPropagator | None
    prev_index: int | None = None
    prev_source: str | None = None
    prev_gray: np.ndarray | None = None
    prev_dets: list[PersonDetection] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {KEYFRAME: 0, FLOW: 0, REPLAY: 0})

    @property
    def scale(self) -> tuple[float, float]:
        """Processing -> full resolution factors ``(sx, sy)``."""
        return (self.frame_size[0] / self.process_size[0],
                self.frame_size[1] / self.process_size[1])


class Analyzer:
    """Detect (or carry, or replay), then track, frame after frame; see the module docstring."""

    def __init__(self, detector: FrameDetector, config: AnalyzerConfig = AnalyzerConfig()):
        self.detector = detector
        self.config = config

    def process_shape(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        return process_shape(frame_size, self.config.process_size)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """A full-resolution frame at the processing resolution (thread-safe, no state)."""
        return resize_to(image, self.process_shape((image.shape[1], image.shape[0])))

    def init_state(self, frames: Iterable[tuple[int, np.ndarray]], *,
                   frame_size: tuple[int, int],
                   replay: Callable[[int], list[PersonDetection] | None] | None = None
                   ) -> AnalysisState:
        """A new analysis over ``frames``.

        Args:
            frames: ``(frame_index, (H, W, 3) uint8 RGB)`` in increasing index order.
            frame_size: ``(W, H)`` of the clip.
            replay: ``replay(i)`` returns frame ``i``'s stored detections (processing
                resolution) to feed the tracker instead of detecting, or ``None`` to detect.
        """
        cfg = self.config
        return AnalysisState(
            frames=iter(frames), frame_size=(int(frame_size[0]), int(frame_size[1])),
            process_size=self.process_shape(frame_size), replay=replay,
            tracker=PersonTracker(cfg.tracker),
            propagator=FlowPropagator(cfg.flow_preset) if cfg.keyframe_every > 1 else None)

    # -- the loop ------------------------------------------------------------------------------
    def propagate(self, state: AnalysisState) -> Iterator[FrameResult]:
        """Yield a :class:`FrameResult` per frame, in order.  Closing the generator stops the
        analysis after the frame in progress (the state is then no longer usable)."""
        pending: list[tuple[int, np.ndarray, bool]] = []
        for index, image in state.frames:
            image = self._fit(image, state)
            stored = state.replay(index) if state.replay is not None else None
            if stored is not None:
                yield from self._flush(state, pending)
                yield self._track(state, index, image, stored, REPLAY)
                continue
            key = self._is_keyframe(state, index, pending)
            if key and sum(k for _, _, k in pending) >= self.config.batch_size:
                yield from self._flush(state, pending)
            pending.append((index, image, key))
        yield from self._flush(state, pending)

    def finish(self, state: AnalysisState) -> dict[int, list[TrackedPerson]]:
        """Final identities for every frame seen (see :meth:`PersonTracker.finish`)."""
        return state.tracker.finish()

    def _fit(self, image: np.ndarray, state: AnalysisState) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"analysis needs (H, W, 3) uint8 RGB frames, got {image.shape} "
                             f"{image.dtype}")
        w, h = state.process_size
        if image.shape[:2] == (h, w):
            return image
        if image.shape[:2] != (state.frame_size[1], state.frame_size[0]):
            raise InputError(f"frame is {image.shape[1]}x{image.shape[0]}, the clip "
                             f"{state.frame_size[0]}x{state.frame_size[1]}")
        return resize_to(image, (w, h))

    def _is_keyframe(self, state: AnalysisState, index: int,
                     pending: list[tuple[int, np.ndarray, bool]]) -> bool:
        if self.config.keyframe_every == 1:
            return True
        prev, prev_source = (pending[-1][0], None) if pending else \
            (state.prev_index, state.prev_source)
        return (prev is None or index != prev + 1 or prev_source == REPLAY
                or index % self.config.keyframe_every == 0)

    def _flush(self, state: AnalysisState, pending: list[tuple[int, np.ndarray, bool]]
               ) -> Iterator[FrameResult]:
        if not pending:
            return
        batch = list(pending)
        pending.clear()
        keys = [image for _, image, key in batch if key]
        if keys and len(keys) < self.config.batch_size:
            # Pad a partial batch so every frame is detected in a batch of the same size: a
            # result then does not depend on how frames happened to be grouped (a resumed
            # analysis equals an uninterrupted one; batch-size-dependent kernels differ ~1e-4).
            keys = keys + [keys[-1]] * (self.config.batch_size - len(keys))
        found = iter(self.detector.detect_batch(keys) if keys else [])
        for index, image, key in batch:
            gray = to_gray(image) if state.propagator is not None else None
            if key:
                dets = next(found)
            else:
                assert state.propagator is not None and state.prev_gray is not None
                dets = state.propagator.carry(state.prev_dets, state.prev_gray, gray)
            state.prev_gray, state.prev_dets = gray, dets
            yield self._track(state, index, image, dets, KEYFRAME if key else FLOW)

    def _track(self, state: AnalysisState, index: int, image: np.ndarray,
               dets: list[PersonDetection], source: str) -> FrameResult:
        tracker_input = [Detection(d.bbox, d.score, d.keypoints,
                                   None if d.mask is None else d.mask >= 128) for d in dets]
        tracked = state.tracker.update(index, tracker_input, image)
        state.prev_index, state.prev_source = index, source
        if source == REPLAY:
            state.prev_gray, state.prev_dets = None, []
        state.counts[source] += 1
        return FrameResult(index, source, dets,
                           [(p.track_id, int(p.detection_index)) for p in tracked
                            if p.detection_index is not None])


# -- records -----------------------------------------------------------------------------------

def online_records(result: FrameResult, rles: list[dict[str, Any] | None],
                   scale: tuple[float, float], video_id: int = 1) -> list[PersonRecord]:
    """Full-resolution records of a frame's tracked people (online ids)."""
    out = []
    for track_id, d in result.tracked:
        det = result.detections[d]
        out.append(PersonRecord(video_id, result.index, track_id, scale_box(det.bbox, scale),
                                scale_keypoints(det.keypoints, scale), rles[d], det.score))
    return out


def _warp_rle(rle: dict[str, Any], src_box: tuple[float, ...], dst_box: tuple[float, ...]
              ) -> dict[str, Any]:
    """Move a full-resolution mask from one box to another (scale + shift)."""
    mask = decode_mask(rle)
    sx = dst_box[2] / max(src_box[2], 1e-6)
    sy = dst_box[3] / max(src_box[3], 1e-6)
    m = np.array([[sx, 0.0, dst_box[0] - sx * src_box[0]], [0.0, sy, dst_box[1] - sy * src_box[1]]])
    h, w = mask.shape
    return encode_mask(cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST))


def final_records(finished: dict[int, list[TrackedPerson]],
                  stored: Callable[[int], list[Any]], scale: tuple[float, float],
                  video_id: int = 1) -> dict[int, list[PersonRecord]]:
    """Full-resolution records with the final ids.

    Observed records take their stored detection (``stored(frame)[detection_index]``, a
    :class:`~inference.analysis.store.StoredDetection`); records the tracker interpolated across
    a gap get the interpolated box and joints and the nearest observed mask of their track,
    moved from that box to theirs.
    """
    out: dict[int, list[PersonRecord]] = {}
    observed: dict[int, list[tuple[int, PersonRecord]]] = {}
    gaps: list[tuple[int, TrackedPerson]] = []
    for frame in sorted(finished):
        persons = finished[frame]
        rows = stored(frame) if any(p.detection_index is not None for p in persons) else []
        recs = out.setdefault(frame, [])
        for p in persons:
            if p.detection_index is None:
                gaps.append((frame, p))
                continue
            sd = rows[p.detection_index]
            det = sd.detection
            rec = PersonRecord(video_id, frame, p.track_id, scale_box(det.bbox, scale),
                               scale_keypoints(det.keypoints, scale), sd.rle, p.score)
            recs.append(rec)
            observed.setdefault(p.track_id, []).append((frame, rec))
    for frame, p in gaps:
        box = scale_box(p.bbox, scale)
        seg = None
        near = [(abs(f - frame), r) for f, r in observed.get(p.track_id, [])
                if r.segmentation is not None]
        if near:
            src = min(near, key=lambda t: t[0])[1]
            seg = _warp_rle(src.segmentation, src.bbox, box)
        out[frame].append(PersonRecord(video_id, frame, p.track_id, box,
                                       scale_keypoints(p.keypoints, scale), seg, p.score))
    for recs in out.values():
        recs.sort(key=lambda r: r.track_id)
    return out


__all__ = ["FLOW", "KEYFRAME", "REPLAY", "AnalysisState", "Analyzer", "AnalyzerConfig",
           "FrameResult", "final_records", "full_res_rle", "online_records", "process_shape",
           "resize_to", "scale_box", "scale_keypoints"]
