"""Typed data model of per-person tracks: the in-memory form of the COCO-video tracks format.

Coordinate frame: pixels of the *displayed* frame (after rotation metadata is applied), origin at
the top-left corner of the top-left pixel, x to the right, y down.  A pixel's centre is at
(col + 0.5, row + 0.5), as in COCO.

Time: frames are addressed by a 0-based ``frame_index`` into the clip's decoded frame sequence;
rates are exact rationals (:class:`fractions.Fraction`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

#: The 17 COCO keypoint names, in COCO order.
COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

#: COCO's person skeleton: pairs of 1-based keypoint indices, exactly as in COCO's annotations.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip

NUM_KEYPOINTS = len(COCO_KEYPOINTS)
PERSON_CATEGORY_ID = 1

#: Keypoint visibility flags, as in COCO: 0 not labelled (or outside the frame),
#: 1 labelled but occluded, 2 labelled and visible.
V_NONE, V_OCCLUDED, V_VISIBLE = 0, 1, 2


def keypoint_index(name: str) -> int:
    """0-based index of a COCO keypoint name; raises ``KeyError`` naming the valid names."""
    try:
        return COCO_KEYPOINTS.index(name)
    except ValueError:
        raise KeyError(f"{name!r} is not a COCO joint; use one of: {', '.join(COCO_KEYPOINTS)}")


@dataclass(frozen=True)
class VideoInfo:
    """One video of a tracks file.  ``length`` is the number of frames; ``fps`` is exact."""

    id: int
    file_name: str
    width: int
    height: int
    length: int
    fps: Fraction


@dataclass(frozen=True)
class Track:
    """A person identity that persists across frames."""

    id: int
    video_id: int
    name: str | None = None


@dataclass
class PersonRecord:
    """One person in one frame.

    Attributes:
        video_id: the video this record belongs to.
        frame_index: 0-based frame index in the clip.
        track_id: the :class:`Track` id.
        bbox: ``(x, y, w, h)`` in pixels, float.
        keypoints: ``(17, 3)`` float64 array of ``(x, y, v)``; ``v`` is a visibility flag
            (``V_NONE``/``V_OCCLUDED``/``V_VISIBLE``).  All-zero for mask-only tracks.
        segmentation: COCO *compressed* RLE of the full frame, ``{"size": [h, w], "counts": str}``,
            or ``None`` when the record has no mask.
        score: confidence in [0, 1]; 1.0 for ground truth.
        id: the annotation id, when the record came from (or goes to) a file.
    """

    video_id: int
    frame_index: int
    track_id: int
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((NUM_KEYPOINTS, 3)))
    segmentation: dict[str, Any] | None = None
    score: float = 1.0
    id: int | None = None

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float64)
        if kp.shape != (NUM_KEYPOINTS, 3):
            kp = kp.reshape(NUM_KEYPOINTS, 3)
        self.keypoints = kp
        self.bbox = tuple(float(v) for v in self.bbox)  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        """Field-wise equality; ``keypoints`` compare exactly (``np.array_equal``)."""
        if not isinstance(other, PersonRecord):
            return NotImplemented
        return (
            self.video_id == other.video_id
            and self.frame_index == other.frame_index
            and self.track_id == other.track_id
            and self.bbox == other.bbox
            and np.array_equal(self.keypoints, other.keypoints)
            and self.segmentation == other.segmentation
            and self.score == other.score
            and self.id == other.id
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like any eq dataclass

    @property
    def has_keypoints(self) -> bool:
        return bool(np.any(self.keypoints[:, 2] > 0))


@dataclass
class TrackSet:
    """A whole tracks file: videos, tracks and per-frame person records."""

    videos: list[VideoInfo]
    tracks: list[Track]
    annotations: list[PersonRecord]
    info: dict[str, Any] = field(default_factory=dict)

    def by_frame(self, video_id: int | None = None) -> dict[int, list[PersonRecord]]:
        """Records grouped by frame index (for one video, or the first when ``None``)."""
        vid = self.videos[0].id if video_id is None and self.videos else video_id
        out: dict[int, list[PersonRecord]] = {}
        for ann in self.annotations:
            if ann.video_id == vid:
                out.setdefault(ann.frame_index, []).append(ann)
        return out
