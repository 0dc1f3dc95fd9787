"""Where the analysis runs, and the defaults that follow from it.

``auto`` picks CUDA when PyTorch sees a GPU, else the CPU.  The defaults trade accuracy for
speed where compute is scarce: on the CPU the detector runs on every 5th frame at a reduced
resolution and DIS optical flow carries the results in between (keyframe mode); on a GPU every
frame is detected, in batches, at torchvision's usual resolution.

The CPU defaults (:data:`CPU_DEFAULTS`) aim at 3 frames/s at 720p on two cores with the R-CNN
backend (``python -m benchmarks.bench_analyze``).  Measured on a 2-core Xeon (AVX-512), one
720p keyframe with four people through both R-CNNs: 3.5 s with torchvision's settings at 512 px;
2.5 s with 300 proposals (Mask R-CNN v2's box head costs ~0.23 GFLOP per proposal); 2.25 s with
channels-last convolutions (:class:`~inference.models.rcnn.RCNNDetector`, always on the CPU);
1.65 s with Mask R-CNN's mask head on the poses' boxes (its region proposals and box head
skipped); 1.35 s at 448 px.  A carried frame (flow, tracker) costs ~15 ms, so five frames take
~1.45 s (about 3.5 frames/s; every frame detected: about 0.7).  What each costs:

* ``keyframe_every=5``: with ground truth at the keyframes, carrying people over longer spans
  loses much of the masks' accuracy on the synthetic clips (temporal mask AP 41 at 5, 16 at 8,
  9 at 10; MOTA 86, 81, 65): the interval stays at 5.
* ``process_size=448``: people need to be ~15% taller in the frame than at 512 px to be found
  as reliably (Keypoint R-CNN's smallest anchors are 32 px).
* ``rcnn_proposals=300``: Faster R-CNN's own test setting; crowds of many dozens may lose
  people.
* ``rcnn_mask_boxes="pose"``: every pose gets the mask of its own box (no pairing to get wrong);
  people whom only Mask R-CNN would have found are not reported.
* ``parallel_networks=True``: no change to the results (float rounding aside) and none to the
  speed on an idle machine, but with one other busy thread on it (another process, or the
  analysis' own decoding and writing) a 448 px keyframe takes 2.2 s instead of 2.8 s: one
  thread per network, no thread team waiting at its barriers for a core.

Each is overridable (``AnalyzeOptions``, ``humanfx analyze --keyframe-every / --rcnn-size /
--rcnn-proposals / --rcnn-mask-boxes / --[no-]parallel-networks``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from inference.analysis import DEVICE_CHOICES
from inference.errors import HumanfxError, InputError


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` -> a usable :class:`torch.device`.

    Raises HumanfxError when CUDA is asked for but PyTorch sees no GPU.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else \
                f"built for CUDA {torch.version.cuda}, but no GPU or driver is visible"
            raise HumanfxError(f"--device {spec} was asked for, but this PyTorch is {build}",
                               hint="use --device cpu (or auto), or install a CUDA build of "
                                    "PyTorch and the NVIDIA driver")
        device = torch.device(spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise HumanfxError(f"--device {spec}: there are only {torch.cuda.device_count()} "
                               "GPUs", hint="use --device cuda (the first GPU)")
        return device
    raise InputError(f"unknown device {spec!r}", hint=f"use one of {', '.join(DEVICE_CHOICES)}")


def autocast(device: torch.device) -> AbstractContextManager:
    """bf16 (or fp16 where bf16 is not supported) autocast on CUDA; nothing on the CPU."""
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@dataclass(frozen=True)
class DeviceDefaults:
    """Analysis defaults for a device.

    Attributes:
        keyframe_every: run the detector on every N-th frame, flow in between (1: every frame).
        batch_size: frames per detector call.
        process_size: shorter side, pixels, of the resolution frames are analysed at (frames
            are never upscaled).
        rcnn_proposals: the R-CNN's region proposals per frame
            (``RCNNSettings.proposals``, torchvision's ``rpn_post_nms_top_n_test``).
        rcnn_mask_boxes: where the R-CNN's masks come from (``RCNNSettings.mask_boxes``):
            ``"own"`` (Mask R-CNN's own detections, paired with the poses) or ``"pose"`` (Mask
            R-CNN's mask head on the Keypoint R-CNN's boxes).
        parallel_networks: run the Keypoint and Mask R-CNN at the same time, the CPU threads
            split between them.
    """

    keyframe_every: int
    batch_size: int
    process_size: int
    rcnn_proposals: int
    rcnn_mask_boxes: str
    parallel_networks: bool


CPU_DEFAULTS = DeviceDefaults(keyframe_every=5, batch_size=1, process_size=448,
                              rcnn_proposals=300, rcnn_mask_boxes="pose",
                              parallel_networks=True)
GPU_DEFAULTS = DeviceDefaults(keyframe_every=1, batch_size=8, process_size=800,
                              rcnn_proposals=1000, rcnn_mask_boxes="own",
                              parallel_networks=False)


def defaults_for(device: torch.device) -> DeviceDefaults:
    return GPU_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS


__all__ = ["CPU_DEFAULTS", "DEVICE_CHOICES", "GPU_DEFAULTS", "DeviceDefaults", "autocast",
           "defaults_for", "resolve_device"]
