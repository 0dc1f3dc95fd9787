"""Input and output records of the person tracker.

Coordinates are pixels of the frame passed to the tracker (origin top-left, x right, y down).
Frames are addressed by the caller's ``frame_index`` (humanfx uses 0-based indices).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.errors import InputError
from inference.tracks.model import NUM_KEYPOINTS


@dataclass
class Detection:
    """One person found in one frame.

    Attributes:
        bbox: ``(4,)`` float ``x, y, w, h`` in pixels (top-left corner and size).
        score: detector confidence in [0, 1].
        keypoints: ``(17, 3)`` float ``x, y, v`` in COCO order (``v > 0``: labelled), or ``None``
            for box-only detectors.
        mask: ``(H, W)`` bool full-frame mask, or ``None``.
    """

    bbox: np.ndarray
    score: float
    keypoints: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.bbox = np.asarray(self.bbox, dtype=np.float64).reshape(-1)
        self.score = float(self.score)
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, dtype=np.float64)
            if kp.size != NUM_KEYPOINTS * 3:
                raise InputError(f"detection keypoints must be ({NUM_KEYPOINTS}, 3), got "
                                 f"{kp.shape}", hint="pass COCO-order x, y, v rows")
            self.keypoints = kp.reshape(NUM_KEYPOINTS, 3)


@dataclass
class TrackedPerson:
    """One tracked person in one frame.

    Attributes:
        track_id: stable identity (online: assigned at confirmation; after ``finish()``:
            renumbered ``1..N`` by first appearance).
        frame_index: the frame.
        bbox: ``(4,)`` float64 ``x, y, w, h`` in pixels: the detection's box (interpolated
            between detections for ``interpolated`` records).
        score: the detection's score (the lower end score for interpolated records).
        keypoints: ``(17, 3)`` float64 ``x, y, v`` or ``None``.
        detection_index: index of the matched detection in that frame's ``detections`` list
            (use it to get the mask); ``None`` for interpolated records.
        interpolated: filled in by ``finish()`` across a short gap, not observed.
    """

    track_id: int
    frame_index: int
    bbox: np.ndarray
    score: float
    keypoints: np.ndarray | None = None
    detection_index: int | None = None
    interpolated: bool = False
