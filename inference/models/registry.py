"""humanfx's model zoo, torchvision style: ``get_model(name, weights=...)``.

    >>> list_models()
    ['keypointrcnn_resnet50_fpn', 'maskrcnn_resnet50_fpn_v2', 'seed_pose_tracker', 'seed_segmenter']
    >>> get_model_weights("keypointrcnn_resnet50_fpn").DEFAULT
    KeypointRCNN_ResNet50_FPN_Weights.COCO_V1

``weights`` may be ``None`` (random initialisation), ``"DEFAULT"``, a member name
(``"COCO_V1"`` or ``"KeypointRCNN_ResNet50_FPN_Weights.COCO_V1"``), an enum member, or a
local :class:`~inference.models.weights.Weights` (``Weights.local(path)``).  Files are found in
(or downloaded to) the torch hub cache; see :mod:`inference.models.weights`.  Nothing is
downloaded for ``weights=None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from inference.errors import HumanfxError, InputError
from inference.models import rcnn
from inference.models.weights import (
    KeypointRCNN_ResNet50_FPN_Weights,
    MaskRCNN_ResNet50_FPN_V2_Weights,
    SeedPoseTracker_Weights,
    SeedSegmenter_Weights,
    Weights,
    WeightsEnum,
    weights_file,
)


def _resolve(enum_cls: type[WeightsEnum], weights: Any):
    return weights if isinstance(weights, Weights) else enum_cls.verify(weights)


def seed_segmenter(*, weights: Any = None, progress: bool = True,
                   device: str | torch.device = "cpu", **kwargs: Any) -> torch.nn.Module:
    """The seed's Local Segmenter network (``LocalSegmenterNet``); ``kwargs`` are
    :class:`SegmenterConfig` fields when ``weights`` is ``None`` (the checkpoint's own
    settings are used otherwise)."""
    from inference.models.segmenter import LocalSegmenterNet, SegmenterConfig, load_network

    w = _resolve(SeedSegmenter_Weights, weights)
    if w is None:
        return LocalSegmenterNet(SegmenterConfig(**kwargs)).to(device).eval()
    net, _ = load_network(weights_file(w, progress=progress), device)
    return net


def seed_pose_tracker(*, weights: Any = None, progress: bool = True,
                      device: str | torch.device = "cpu", **kwargs: Any) -> torch.nn.Module:
    """The seed's Global Pose Tracker network (``PoseTrackerNet``); ``kwargs`` are
    :class:`PoseNetConfig` fields when ``weights`` is ``None``."""
    from inference.models.pose_tracker import PoseNetConfig, PoseTrackerNet, load_pose_tracker

    w = _resolve(SeedPoseTracker_Weights, weights)
    if w is None:
        return PoseTrackerNet(PoseNetConfig(**kwargs)).to(device).eval()
    model, _ = load_pose_tracker(weights_file(w, progress=progress), device=device)
    return model


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its builder, weights enum and a one-line description."""

    name: str
    builder: Callable[..., torch.nn.Module]
    weights: type[WeightsEnum]
    description: str


_MODELS: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry("keypointrcnn_resnet50_fpn", rcnn.keypointrcnn_resnet50_fpn,
               KeypointRCNN_ResNet50_FPN_Weights,
               "torchvision Keypoint R-CNN: person boxes + 17 COCO joints"),
    ModelEntry("maskrcnn_resnet50_fpn_v2", rcnn.maskrcnn_resnet50_fpn_v2,
               MaskRCNN_ResNet50_FPN_V2_Weights,
               "torchvision Mask R-CNN v2: instance masks (person class used)"),
    ModelEntry("seed_pose_tracker", seed_pose_tracker, SeedPoseTracker_Weights,
               "the seed's Global Pose Tracker (CenterTrack-style poses)"),
    ModelEntry("seed_segmenter", seed_segmenter, SeedSegmenter_Weights,
               "the seed's Local Segmenter (fine masks from crops + joints)"),
)}


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_MODELS)


def model_entry(name: str) -> ModelEntry:
    try:
        return _MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r} (models: {', '.join(list_models())})",
                         hint="run `humanfx models list`") from None


def get_model_weights(name: str) -> type[WeightsEnum]:
    """The weights enum of a registered model."""
    return model_entry(name).weights


def get_weight(name: str) -> WeightsEnum:
    """``"Enum.MEMBER"`` -> the weights member."""
    from inference.models.weights import weights_by_name

    return weights_by_name(name)


def get_model(name: str, *, weights: Any = None, progress: bool = True,
              **kwargs: Any) -> torch.nn.Module:
    """Build a registered model (eval mode) and load ``weights`` into it.

    Raises:
        InputError: unknown model or weights name.
        HumanfxError: the weights file is missing and cannot be downloaded (the message says
            how to get it), fails its hash check, or does not fit the network.
    """
    entry = model_entry(name)
    if weights is not None and not isinstance(weights, Weights | WeightsEnum | str):
        raise HumanfxError(f"weights for {name} must be None, a name or a Weights entry, not "
                           f"{type(weights).__name__}")
    return entry.builder(weights=weights, progress=progress, **kwargs)


__all__ = ["ModelEntry", "get_model", "get_model_weights", "get_weight", "list_models",
           "model_entry", "seed_pose_tracker", "seed_segmenter"]
