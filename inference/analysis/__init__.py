"""Analysis of a clip's frames: detect people (R-CNN or the seed's networks), carry them with
optical flow between keyframes, track them with stable identities.  Works on NumPy frames;
reading video and writing the layer cache is :mod:`editor_plugin.analyze`'s job.

* :mod:`.analyzer` - :class:`Analyzer` (``init_state`` / ``propagate`` / ``finish``).
* :mod:`.detection` - the frame detectors (:class:`SeedDetector`, :func:`build_detector`).
* :mod:`.keyframes` - DIS optical-flow propagation of masks, joints and boxes.
* :mod:`.store` - :class:`DetectionStore`, the per-frame detections a resumed run replays.
* :mod:`.device` - device choice, autocast and per-device defaults.
"""

from inference.analysis.analyzer import (
    FLOW,
    KEYFRAME,
    REPLAY,
    AnalysisState,
    Analyzer,
    AnalyzerConfig,
    FrameResult,
    final_records,
    full_res_rle,
    online_records,
    process_shape,
)
from inference.analysis.detection import (
    MODEL_CHOICES,
    FrameDetector,
    PersonDetection,
    SeedDetector,
    build_detector,
    detector_identity,
)
from inference.analysis.device import DeviceDefaults, autocast, defaults_for, resolve_device
from inference.analysis.keyframes import FlowPropagator
from inference.analysis.store import DetectionStore, StoredDetection

__all__ = [
    "FLOW", "KEYFRAME", "MODEL_CHOICES", "REPLAY", "AnalysisState", "Analyzer", "AnalyzerConfig",
    "DetectionStore", "DeviceDefaults", "FlowPropagator", "FrameDetector", "FrameResult",
    "PersonDetection", "SeedDetector", "StoredDetection", "autocast", "build_detector",
    "defaults_for", "detector_identity", "final_records", "full_res_rle", "online_records",
    "process_shape", "resolve_device",
]
