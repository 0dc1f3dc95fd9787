"""Smaller weights files: float16 tensors, and 8-bit convolution/linear weights.

:func:`compact_state` turns a ``state_dict`` into what an exported weights file stores;
:func:`expand_state` undoes it when the file is read, so networks always get float32 tensors.

8-bit weights are symmetric and per output channel: a weight ``W`` of shape ``(C_out, ...)``
is stored as ``int8`` ``Q = round(W / s)`` with ``s[c] = max|W[c]| / 127`` (float32, one per
output channel) and read back as ``Q * s``; the error per weight is at most ``s[c] / 2``.  Only
tensors with at least :data:`MIN_INT8_ELEMENTS` (2^20) elements and two or more dimensions are
quantized: the large convolutions of a backbone's last stage, most of the parameters (8.3 M of
the pose tracker's 13.1 M) but the least sensitive ones; everything else is stored in float16.
Quantizing every convolution of the pose tracker instead (threshold 1024) cost 6.5 points of
temporal mask AP on the synthetic evaluation clips (35.9 -> 29.4).
The scales travel next to the state dict (``{name: scales}``), so the file still loads with
``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from inference.errors import InputError

#: Key of the 8-bit scales in a checkpoint dict (next to ``"model"``).
SCALES_KEY = "int8_scales"

#: Smallest tensor (elements) stored in 8 bits.
MIN_INT8_ELEMENTS = 1 << 20


def compact_state(state: Mapping[str, torch.Tensor], *, half: bool = False, int8: bool = False
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(state, int8 scales)`` to store: large weights in 8 bits when ``int8``, the other
    float tensors in float16 when ``half`` (or ``int8``); non-float tensors unchanged."""
    out: dict[str, torch.Tensor] = {}
    scales: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        if not t.is_floating_point():
            out[name] = t
        elif int8 and t.dim() >= 2 and t.numel() >= MIN_INT8_ELEMENTS:
            w = t.detach().float()
            s = w.abs().amax(dim=tuple(range(1, w.dim()))).clamp_min(1e-12) / 127.0
            out[name] = torch.round(w / s.view(-1, *([1] * (w.dim() - 1)))).clamp_(
                -127, 127).to(torch.int8)
            scales[name] = s
        else:
            out[name] = t.half() if (half or int8) else t
    return out, scales


def expand_state(state: Mapping[str, torch.Tensor], scales: Mapping[str, torch.Tensor]
                 ) -> dict[str, torch.Tensor]:
    """The float32 ``state_dict`` of a stored one (inverse of :func:`compact_state` up to
    rounding).  Raises ``ValueError`` when a scale does not fit its tensor."""
    out = dict(state)
    for name, s in scales.items():
        q = out.get(name)
        if q is None or q.dtype != torch.int8 or s.dim() != 1 or s.numel() != q.shape[0]:
            raise ValueError(f"8-bit scales of {name!r} do not fit its tensor")
        out[name] = q.float() * s.float().view(-1, *([1] * (q.dim() - 1)))
    return out


def expand_checkpoint(data: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """A loaded checkpoint dict with its ``"model"`` expanded to float32 (in place; returned).
    Bad scales -> :class:`InputError` naming the file."""
    scales = data.pop(SCALES_KEY, None)
    if scales is None:
        return data
    try:
        if not isinstance(scales, dict):
            raise TypeError("the 8-bit scales are not a mapping")
        data["model"] = expand_state(data["model"], scales)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"damaged 8-bit weights ({exc})", path=path,
                         hint="re-export or re-download the file") from None
    return data


__all__ = ["MIN_INT8_ELEMENTS", "SCALES_KEY", "compact_state", "expand_checkpoint",
           "expand_state"]
