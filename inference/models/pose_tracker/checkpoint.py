"""Pose-tracker checkpoints: atomic writes, safe loads (``weights_only=True``), clear errors.

A checkpoint is a ``torch.save`` dict of plain data and tensors:

``format`` (``"humanfx.pose_tracker"``), ``version`` (1), ``net`` (:class:`PoseNetConfig` as a
dict), ``input_size`` (``[w, h]`` the model was trained at), ``step`` (optimizer steps done),
``seed``, ``model`` (state dict) and, for training checkpoints, ``optimizer`` (state dict).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from inference.errors import InputError
from inference.models.compact import SCALES_KEY, compact_state, expand_checkpoint

from .network import PoseNetConfig, PoseTrackerNet

FORMAT = "humanfx.pose_tracker"
VERSION = 1


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about its model."""

    path: Path
    net: PoseNetConfig
    input_size: tuple[int, int]
    step: int
    seed: int
    #: inference settings calibrated for these weights (``PoseTrackerConfig`` fields, e.g.
    #: ``track_thresh``); empty when the file has none.
    inference: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus format/version) atomically: temp file in the folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict:
    """Load and validate a checkpoint dict; every failure is an :class:`InputError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "pose-tracker checkpoint not found",
            path=path,
            hint="train one with train_pose_tracker or pass the right path",
        )
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, pickle errors, foreign objects...
        raise InputError(
            f"cannot read pose-tracker checkpoint ({type(exc).__name__})",
            path=path,
            hint="the file is truncated or not a humanfx checkpoint; re-train or re-download it",
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(
            "not a humanfx pose-tracker checkpoint",
            path=path,
            hint="pass a file written by train_pose_tracker",
        )
    if data.get("version") != VERSION:
        raise InputError(
            f"pose-tracker checkpoint version {data.get('version')} is not supported",
            path=path,
            hint=f"this humanfx reads version {VERSION}",
        )
    for key in ("net", "model", "input_size", "step"):
        if key not in data:
            raise InputError(
                f"pose-tracker checkpoint lacks {key!r}",
                path=path,
                hint="the file is damaged; re-train it",
            )
    return expand_checkpoint(data, path)


def checkpoint_info(path: str | Path, data: dict) -> CheckpointInfo:
    """The :class:`CheckpointInfo` of a loaded checkpoint dict."""
    try:
        net = PoseNetConfig.from_dict(data["net"])
    except (TypeError, KeyError, ValueError) as exc:
        raise InputError(
            f"pose-tracker checkpoint has a bad architecture record ({exc})",
            path=path,
            hint="re-train it",
        )
    w, h = data["input_size"]
    inference = data.get("inference", {})
    if not isinstance(inference, dict):
        raise InputError("pose-tracker checkpoint has a bad 'inference' record", path=path,
                         hint="re-export it")
    return CheckpointInfo(
        Path(path), net, (int(w), int(h)), int(data["step"]), int(data.get("seed", 0)),
        dict(inference),
    )


def load_state(model: PoseTrackerNet, state: dict, path: str | Path) -> None:
    """``model.load_state_dict(state)`` with a mismatch reported as an :class:`InputError`."""
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"pose-tracker checkpoint does not fit the {model.config.backbone} architecture "
            f"({first[:160]})",
            path=path,
            hint="use a checkpoint trained with the same network settings",
        ) from exc


def load_pose_tracker(
    path: str | Path, *, device: str | torch.device = "cpu", net: PoseNetConfig | None = None
) -> tuple[PoseTrackerNet, CheckpointInfo]:
    """Build the network a checkpoint describes (or ``net``, which must match) and load it.

    Returns the model in eval mode on ``device`` and the checkpoint's :class:`CheckpointInfo`.
    """
    data = read_checkpoint(path)
    info = checkpoint_info(path, data)
    model = PoseTrackerNet(net or info.net)
    load_state(model, data["model"], path)
    return model.to(device).eval(), info


def export_weights(checkpoint: str | Path, dest: str | Path, *, half: bool = False,
                   int8: bool = False, inference: dict[str, Any] | None = None) -> Path:
    """Write the inference-only file of a training checkpoint (no optimizer state), float
    tensors in float16 when ``half`` and large weights in 8 bits when ``int8``
    (:mod:`inference.models.compact`; read back as float32).  ``inference``:
    ``PoseTrackerConfig`` settings calibrated for these weights (e.g. ``{"track_thresh":
    0.3}``), used by default when the file is loaded for tracking.  Atomic; returns ``dest``."""
    data = read_checkpoint(checkpoint)
    state, scales = compact_state(data["model"], half=half, int8=int8)
    payload = {"net": data["net"], "input_size": list(data["input_size"]),
               "step": int(data["step"]), "seed": int(data.get("seed", 0)), "model": state,
               "exported": {"half": half, "int8": int8}, "inference": dict(inference or {})}
    if scales:
        payload[SCALES_KEY] = scales
    return save_checkpoint(dest, payload)
