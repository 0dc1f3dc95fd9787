"""Multi-person tracking: per-frame detections in, stable person IDs out.

Kalman motion, IoU/OKS/colour-appearance association with Hungarian assignment, ByteTrack-style
two-stage matching, a lost-track buffer with appearance re-identification, camera-motion
compensation, scene-cut handling, and MOTChallenge file I/O.
"""

from .config import TrackerConfig
from .mot import (
    MotRow,
    read_mot,
    read_mot_detections,
    read_mot_tracks,
    track_mot,
    write_mot_detections,
    write_mot_results,
)
from .tracker import PersonTracker
from .types import Detection, TrackedPerson

__all__ = [
    "Detection",
    "MotRow",
    "PersonTracker",
    "TrackedPerson",
    "TrackerConfig",
    "read_mot",
    "read_mot_detections",
    "read_mot_tracks",
    "track_mot",
    "write_mot_detections",
    "write_mot_results",
]
