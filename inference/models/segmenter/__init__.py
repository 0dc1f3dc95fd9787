"""The Local Segmenter (seed section 3.2): a fine person mask from a high-resolution crop and
the person's joints.  Needs PyTorch and torchvision.

Public API:

* :class:`SegmenterConfig`, :data:`ABLATION_VARIANTS` - architecture and crop settings.
* :class:`LocalSegmenterNet` - ResNet-18 (Res2-Res4) + one Mixer layer on Res3 + decoder.
* :class:`MixerLayer` - seed equation 3.
* :class:`LocalSegmenter` - ``predict(image, persons) -> [alpha (H, W) float32]``.
* :mod:`.crops` - box expansion, crop, joint heatmap, paste-back.
* :func:`assign_regions` - the training-crop assignment rule (equations 5-6).
"""

from inference.models.segmenter.assign import RegionAssignment, assign_regions, coverage_matrix
from inference.models.segmenter.checkpoint import load_checkpoint, load_network, save_checkpoint
from inference.models.segmenter.crops import (
    CropWindow,
    crop_image,
    crop_window,
    expand_box,
    joint_heatmap,
    paste_back,
)
from inference.models.segmenter.inputs import PersonInput, person_input, skip_reason
from inference.models.segmenter.mixer import MixerLayer
from inference.models.segmenter.network import (
    ABLATION_VARIANTS,
    LocalSegmenterNet,
    SegmenterConfig,
    count_parameters,
)
from inference.models.segmenter.predictor import LocalSegmenter

__all__ = [
    "ABLATION_VARIANTS", "CropWindow", "LocalSegmenter", "LocalSegmenterNet", "MixerLayer",
    "PersonInput", "RegionAssignment", "SegmenterConfig", "assign_regions", "count_parameters",
    "coverage_matrix", "crop_image", "crop_window", "expand_box", "joint_heatmap",
    "load_checkpoint", "load_network", "paste_back", "person_input", "save_checkpoint",
    "skip_reason",
]
