"""Local Segmenter checkpoint files: atomic save, safe load (``weights_only=True``), checks.

A checkpoint is a ``torch.save`` dict:

``{"format": "humanfx.local_segmenter", "version": 1, "config": SegmenterConfig.to_dict(),
"model": state_dict, ...}`` plus, for training checkpoints, ``"step"``, ``"optimizer"``,
``"rng"`` and ``"train"`` (see :mod:`inference.train.segmenter`).  Only tensors, numbers,
strings, lists, tuples and dicts are stored, so it loads with ``weights_only=True``.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from inference.errors import InputError
from inference.models.compact import SCALES_KEY, compact_state, expand_checkpoint
from inference.models.segmenter.network import LocalSegmenterNet, SegmenterConfig

FORMAT = "humanfx.local_segmenter"
VERSION = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (with ``format``/``version`` added) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "version": VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint dict; ``InputError`` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError("segmenter checkpoint not found", path=path,
                         hint="pass the .pt file written by train_segmenter")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError,
            zipfile.BadZipFile, KeyError, AttributeError, TypeError) as exc:
        raise InputError(f"cannot read the segmenter checkpoint ({type(exc).__name__}); "
                         "the file is truncated or not a PyTorch checkpoint", path=path,
                         hint="re-download or re-train it") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError("not a humanfx Local Segmenter checkpoint", path=path,
                         hint="pass a checkpoint written by train_segmenter")
    if data.get("version") != VERSION:
        raise InputError(f"unsupported segmenter checkpoint version {data.get('version')!r}",
                         path=path, hint=f"this humanfx reads version {VERSION}")
    if not isinstance(data.get("config"), dict) or not isinstance(data.get("model"), dict):
        raise InputError("segmenter checkpoint lacks its config or weights", path=path)
    return expand_checkpoint(data, path)


def config_from_checkpoint(data: dict[str, Any], path: str | Path) -> SegmenterConfig:
    """The :class:`SegmenterConfig` stored in a loaded checkpoint (``InputError`` if bad)."""
    try:
        return SegmenterConfig.from_dict(data["config"])
    except (InputError, TypeError) as exc:
        raise InputError(f"bad segmenter settings in checkpoint: {exc}", path=path) from exc


def _mismatch(model: LocalSegmenterNet, state: dict[str, Any]) -> str:
    """One-line summary of how ``state`` differs from ``model``'s parameters ("" if it fits)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shaped = [k for k in own if k in state and tuple(getattr(state[k], "shape", ()))
              != tuple(own[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensors missing, e.g. {missing[0]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
    if shaped:
        k = shaped[0]
        parts.append(f"{len(shaped)} of another shape, e.g. {k} "
                     f"{tuple(getattr(state[k], 'shape', ()))} instead of {tuple(own[k].shape)}")
    return "; ".join(parts)


def load_state(model: LocalSegmenterNet, state: dict[str, Any], path: str | Path) -> None:
    """``model.load_state_dict(state, strict=True)``; a mismatch -> ``InputError``."""
    detail = _mismatch(model, state)
    try:
        if not detail:
            model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        detail = str(exc).strip().splitlines()[0][:120]
    if detail:
        raise InputError("checkpoint weights do not match the Local Segmenter architecture "
                         f"({detail})", path=path,
                         hint="use a checkpoint written by this humanfx's train_segmenter")


def load_network(path: str | Path, device: str | torch.device = "cpu"
                 ) -> tuple[LocalSegmenterNet, dict[str, Any]]:
    """Build the network a checkpoint describes and load its weights (eval mode).

    Returns ``(network, checkpoint dict)``.
    """
    data = load_checkpoint(path, map_location="cpu")
    net = LocalSegmenterNet(config_from_checkpoint(data, path))
    load_state(net, data["model"], path)
    net.to(device).eval()
    return net, data


def export_weights(checkpoint: str | Path, dest: str | Path, *, half: bool = False,
                   int8: bool = False) -> Path:
    """Write the inference-only file of a training checkpoint: config + weights (no optimizer,
    RNG or training state), float tensors in float16 when ``half`` and large weights in 8 bits
    when ``int8`` (:mod:`inference.models.compact`; read back as float32).  Written
    atomically; returns ``dest``."""
    data = load_checkpoint(checkpoint)
    state, scales = compact_state(data["model"], half=half, int8=int8)
    payload: dict[str, Any] = {"config": data["config"], "model": state,
                               "exported": {"step": int(data.get("step", 0)), "half": half,
                                            "int8": int8}}
    if scales:
        payload[SCALES_KEY] = scales
    if isinstance(data.get("train"), dict):
        payload["train"] = data["train"]
    return save_checkpoint(dest, payload)
