"""Analysis of a clip's frames: detect people (R-CNN or the seed's networks), carry them with
optical flow between keyframes, track them with stable identities.  Works on NumPy frames;
reading video and writing the layer cache is :mod:`editor_plugin.analyze`'s job.

* :mod:`.analyzer` - :class:`Analyzer` (``init_state`` / ``propagate`` / ``finish``).
* :mod:`.detection` - the frame detectors (:class:`SeedDetector`, :func:`build_detector`).
* :mod:`.keyframes` - DIS optical-flow propagation of masks, joints and boxes.
* :mod:`.store` - :class:`DetectionStore`, the per-frame detections a resumed run replays.
* :mod:`.device` - device choice, autocast and per-device defaults.
"""

# The submodules import torch; load them on first use so that importing a constant (the CLI's
# choices) or one submodule stays cheap.
import importlib

#: Choices offered by the CLI, kept here so listing them needs no torch import.
MODEL_CHOICES = ("rcnn", "seed")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
#: ``RCNNSettings.mask_boxes`` (:data:`inference.models.rcnn.MASK_BOXES`), for the CLI.
MASK_BOXES_CHOICES = ("own", "pose")

_EXPORTS = {
    "analyzer": ("FLOW", "KEYFRAME", "REPLAY", "AnalysisState", "Analyzer", "AnalyzerConfig",
                 "FrameResult", "final_records", "full_res_rle", "online_records",
                 "process_shape"),
    "detection": ("FrameDetector", "PersonDetection", "SeedDetector", "build_detector",
                  "detector_identity"),
    "device": ("DeviceDefaults", "autocast", "defaults_for", "resolve_device"),
    "keyframes": ("FlowPropagator",),
    "store": ("DetectionStore", "StoredDetection"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}

# The lazily imported names are listed in _EXPORTS once; ruff cannot see strings there.
__all__ = ["DEVICE_CHOICES", "MASK_BOXES_CHOICES", "MODEL_CHOICES", *sorted(_WHERE)]  # noqa: PLE0604


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value
