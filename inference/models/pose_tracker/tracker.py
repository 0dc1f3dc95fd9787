"""Online Global Pose Tracker: one frame in, tracked people (id, box, 17 joints) out.

Each :meth:`GlobalPoseTracker.step` letterboxes the frame, feeds the network the current frame,
the previous frame and the centre heatmap ``C_{t-1}`` rendered from the tracker's own previous
outputs, decodes the heads and associates the detections with the previous ones CenterTrack's
way: each detection's centre plus its tracking offset is a guess of where it was in the
previous frame; detections, best score first, greedily take the nearest unclaimed previous
track whose centre lies within both boxes' size (squared distance below both box areas).
All coordinates returned are **frame** pixels.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inference.errors import InputError
from inference.tracks.model import NUM_KEYPOINTS, PersonRecord

from .checkpoint import CheckpointInfo, load_pose_tracker
from .decode import Detection, decode, to_frame
from .letterbox import Letterbox, as_size
from .network import PoseTrackerNet, activate
from .targets import render_center_heatmap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoseTrackerConfig:
    """Inference settings of :class:`GlobalPoseTracker`.

    Attributes:
        input_size: ``(width, height)`` network input, multiples of 32 (the seed uses 512x512).
        max_detections: centre peaks decoded per frame.
        track_thresh: detections scoring below this are dropped before association.
        pre_thresh: outputs scoring at least this are drawn into the next ``C_{t-1}``.
        new_thresh: an unmatched detection needs at least this score to start a new track.
        max_age: frames an unmatched track stays matchable (0: only the previous frame, as
            CenterTrack); a lost track moves on with its last per-frame displacement.
        joint_thresh: minimum joint-heatmap peak a regressed joint snaps onto.
        visible_thresh: joints with confidence at least this get ``V_VISIBLE``.
        min_overlap: Gaussian radius parameter of ``C_{t-1}`` (as in training).
        amp: run the network under float16 autocast on CUDA.
    """

    input_size: tuple[int, int] = (512, 512)
    max_detections: int = 100
    track_thresh: float = 0.4
    pre_thresh: float = 0.5
    new_thresh: float = 0.4
    max_age: int = 0
    joint_thresh: float = 0.1
    visible_thresh: float = 0.3
    min_overlap: float = 0.7
    amp: bool = True

    @classmethod
    def for_checkpoint(cls, info: CheckpointInfo) -> PoseTrackerConfig:
        """The settings a checkpoint was made for: its input size and the inference settings
        calibrated with it (``info.inference``), defaults for the rest."""
        known = {f.name for f in dataclasses.fields(cls)} - {"input_size"}
        unknown = sorted(set(info.inference) - known)
        if unknown:
            raise InputError(f"pose-tracker checkpoint has unknown inference settings {unknown}",
                             path=info.path, hint="re-export it with this humanfx")
        return cls(input_size=info.input_size, **info.inference)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", as_size(self.input_size))
        if not 0 <= self.track_thresh <= 1 or not 0 <= self.new_thresh <= 1:
            raise InputError("pose tracker thresholds must lie in [0, 1]")
        if self.max_age < 0 or self.max_detections < 1:
            raise InputError("pose tracker max_age must be >= 0 and max_detections >= 1")


@dataclass
class PoseDetection:
    """One tracked person in one frame (frame pixels).

    Attributes:
        track_id: identity, stable while the tracker follows the person (from 1).
        bbox: ``(x, y, w, h)`` float.
        keypoints: ``(17, 3)`` float64 ``(x, y, v)`` with COCO visibility flags.
        score: detection confidence in [0, 1].
        joint_scores: ``(17,)`` float64 joint confidences.
    """

    track_id: int
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float
    joint_scores: np.ndarray = field(default_factory=lambda: np.zeros(NUM_KEYPOINTS))

    def to_record(self, video_id: int, frame_index: int) -> PersonRecord:
        """This detection as a :class:`PersonRecord` (no mask)."""
        return PersonRecord(
            video_id, frame_index, self.track_id, self.bbox, self.keypoints.copy(), None, self.score
        )


def greedy_match(
    det_prev: np.ndarray, det_areas: np.ndarray, track_centres: np.ndarray, track_areas: np.ndarray
) -> list[tuple[int, int]]:
    """CenterTrack's greedy association.

    Args:
        det_prev: ``(N, 2)`` detections' guessed previous centres, best score first.
        det_areas: ``(N,)`` detections' box areas.
        track_centres: ``(M, 2)`` previous tracks' centres.
        track_areas: ``(M,)`` previous tracks' box areas.

    Returns:
        ``(detection, track)`` index pairs.  A pair is allowed only when the squared distance is
        below both areas; each detection in order takes its nearest allowed free track.
    """
    n, m = len(det_prev), len(track_centres)
    if n == 0 or m == 0:
        return []
    d2 = ((det_prev[:, None, :] - track_centres[None, :, :]) ** 2).sum(-1)
    d2[(d2 > track_areas[None, :]) | (d2 > det_areas[:, None])] = np.inf
    pairs = []
    for i in range(n):
        j = int(np.argmin(d2[i]))
        if np.isfinite(d2[i, j]):
            pairs.append((i, j))
            d2[:, j] = np.inf
    return pairs


@dataclass
class _Track:
    track_id: int
    centre: np.ndarray
    area: float
    velocity: np.ndarray
    age: int = 0  # frames since last matched


class CenterTrackAssociator:
    """Track identities from per-frame :class:`Detection` lists (no network involved)."""

    def __init__(self, *, new_thresh: float = 0.4, max_age: int = 0):
        self.new_thresh = new_thresh
        self.max_age = max_age
        self.reset()

    def reset(self) -> None:
        """Forget every track; ids start again from 1."""
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, detections: Sequence[Detection]) -> list[int]:
        """Ids for ``detections`` (any order); -1 for an unmatched one below ``new_thresh``."""
        order = sorted(range(len(detections)), key=lambda i: -detections[i].score)
        dets = [detections[i] for i in order]
        prev = np.array([d.prev_centre for d in dets], dtype=np.float64).reshape(-1, 2)
        areas = np.array([d.bbox[2] * d.bbox[3] for d in dets], dtype=np.float64)
        t_ct = np.array([t.centre for t in self._tracks], dtype=np.float64).reshape(-1, 2)
        t_area = np.array([t.area for t in self._tracks], dtype=np.float64)
        pairs = dict(greedy_match(prev, areas, t_ct, t_area))
        ids = [-1] * len(dets)
        tracks: list[_Track] = []
        for i, det in enumerate(dets):
            centre = np.asarray(det.centre, dtype=np.float64)
            if i in pairs:
                tid = self._tracks[pairs[i]].track_id
            elif det.score >= self.new_thresh:
                tid, self._next_id = self._next_id, self._next_id + 1
            else:
                continue
            ids[i] = tid
            tracks.append(_Track(tid, centre, areas[i], -np.asarray(det.tracking, np.float64)))
        matched = set(pairs.values())
        for j, t in enumerate(self._tracks):
            if j not in matched and t.age < self.max_age:
                tracks.append(
                    _Track(t.track_id, t.centre + t.velocity, t.area, t.velocity, t.age + 1)
                )
        self._tracks = tracks
        out = [-1] * len(detections)
        for rank, i in enumerate(order):
            out[i] = ids[rank]
        return out


class GlobalPoseTracker:
    """CenterTrack-style online multi-person pose tracker.

    Args:
        model: a :class:`PoseTrackerNet` (moved to ``device`` and put in eval mode).
        config: inference settings.
        device: torch device; CUDA when available by default.
    """

    def __init__(
        self,
        model: PoseTrackerNet,
        config: PoseTrackerConfig = PoseTrackerConfig(),
        *,
        device: str | torch.device | None = None,
    ):
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self._assoc = CenterTrackAssociator(new_thresh=config.new_thresh, max_age=config.max_age)
        self.reset()

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        config: PoseTrackerConfig | None = None,
        *,
        device: str | torch.device | None = None,
    ) -> GlobalPoseTracker:
        """Tracker for a trained checkpoint; the input size defaults to the trained one."""
        model, info = load_pose_tracker(path)
        config = config or PoseTrackerConfig.for_checkpoint(info)
        return cls(model, config, device=device)

    def reset(self) -> None:
        """Forget the previous frame and every track (call at scene cuts)."""
        self._assoc.reset()
        self._prev_image: torch.Tensor | None = None
        self._prev_frame_size: tuple[int, int] | None = None
        self._prev_boxes = np.zeros((0, 4))  # frame px (x1, y1, x2, y2), score >= pre_thresh

    def step(self, frame: np.ndarray) -> list[PoseDetection]:
        """Track one ``(H, W, 3)`` uint8 RGB frame; returns its people, best score first."""
        return self.step_batch([frame])[0]

    def step_batch(self, frames: Sequence[np.ndarray]) -> list[list[PoseDetection]]:
        """Track consecutive frames: letterboxed together, moved to the device in one transfer,
        then run one after the other (each needs the previous frame's outputs)."""
        if not frames:
            return []
        for f in frames:
            _check_frame(f)
        boxes = [Letterbox.fit((f.shape[1], f.shape[0]), self.config.input_size) for f in frames]
        stacked = torch.from_numpy(np.stack([lb.apply(f) for lb, f in zip(boxes, frames)]))
        if self.device.type == "cuda":
            stacked = stacked.pin_memory()
        images = stacked.to(self.device, non_blocking=True).permute(0, 3, 1, 2).contiguous()
        return [self._track(images[i : i + 1], lb) for i, lb in enumerate(boxes)]

    def _track(self, image_u8: torch.Tensor, lb: Letterbox) -> list[PoseDetection]:
        cfg = self.config
        if self._prev_frame_size is not None and self._prev_frame_size != lb.frame_size:
            log.info(
                "frame size changed from %s to %s: tracker reset",
                self._prev_frame_size,
                lb.frame_size,
            )
            self.reset()
        image = image_u8.float() / 255.0
        pre_image = image if self._prev_image is None else self._prev_image
        in_boxes = lb.frame_to_input(self._prev_boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        pre_hm = render_center_heatmap(in_boxes, cfg.input_size, min_overlap=cfg.min_overlap)
        pre_hm_t = torch.from_numpy(pre_hm)[None, None].to(self.device)
        amp = cfg.amp and self.device.type == "cuda"
        with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=amp):
            heads = activate(self.model(image, pre_image, pre_hm_t))
            decoded = decode(heads, k=cfg.max_detections, joint_thresh=cfg.joint_thresh)
        dets = to_frame(
            decoded, 0, lb, score_thresh=cfg.track_thresh, visible_thresh=cfg.visible_thresh
        )
        ids = self._assoc.update(dets)
        out = [
            PoseDetection(tid, d.bbox, d.keypoints, d.score, d.joint_scores)
            for d, tid in zip(dets, ids)
            if tid >= 0
        ]
        keep = [p for p in out if p.score >= cfg.pre_thresh]
        self._prev_boxes = np.array(
            [[p.bbox[0], p.bbox[1], p.bbox[0] + p.bbox[2], p.bbox[1] + p.bbox[3]] for p in keep],
            dtype=np.float64,
        ).reshape(-1, 4)
        self._prev_image = image
        self._prev_frame_size = lb.frame_size
        return out


def _check_frame(frame: np.ndarray) -> None:
    if (
        not isinstance(frame, np.ndarray)
        or frame.dtype != np.uint8
        or frame.ndim != 3
        or (frame.shape[2] != 3)
    ):
        got = getattr(frame, "shape", type(frame).__name__)
        raise InputError(
            f"pose tracker needs (H, W, 3) uint8 RGB frames, got {got}",
            hint="decode the video to RGB24 frames first",
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError("pose tracker got an empty frame", hint="check the decoded video")
