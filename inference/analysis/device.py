"""Where the analysis runs, and the defaults that follow from it.

``auto`` picks CUDA when PyTorch sees a GPU, else the CPU.  The defaults trade accuracy for
speed where compute is scarce: on the CPU the detector runs on every 5th frame at a reduced
resolution and DIS optical flow carries the results in between (keyframe mode); on a GPU every
frame is detected, in batches, at torchvision's usual resolution.
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
    """

    keyframe_every: int
    batch_size: int
    process_size: int


CPU_DEFAULTS = DeviceDefaults(keyframe_every=5, batch_size=1, process_size=512)
GPU_DEFAULTS = DeviceDefaults(keyframe_every=1, batch_size=8, process_size=800)


def defaults_for(device: torch.device) -> DeviceDefaults:
    return GPU_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS


__all__ = ["CPU_DEFAULTS", "DEVICE_CHOICES", "GPU_DEFAULTS", "DeviceDefaults", "autocast",
           "defaults_for", "resolve_device"]
