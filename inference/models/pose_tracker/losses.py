"""Losses of the Global Pose Tracker: focal loss on heatmaps, masked L1 on regressions.

All losses take the batched target dict of :mod:`.targets` (tensors with a leading batch
dimension) and the raw network outputs (heatmap logits); they compute in float32 even when the
network ran under autocast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .network import heatmap_probs


@dataclass(frozen=True)
class LossWeights:
    """Weight of each loss term (CenterTrack's defaults: 1 everywhere, 0.1 for box size)."""

    hm: float = 1.0
    wh: float = 0.1
    reg: float = 1.0
    tracking: float = 1.0
    hps: float = 1.0
    hm_hp: float = 1.0
    hp_offset: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def gather_at(feat: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """Values of ``(B, C, H, W)`` maps at flat cell indices ``(B, M)`` -> ``(B, M, C)``."""
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1)
    return flat.gather(2, ind.unsqueeze(1).expand(b, c, ind.shape[1])).permute(0, 2, 1)


def focal_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    ind: torch.Tensor,
    mask: torch.Tensor,
    channel: torch.Tensor | None = None,
) -> torch.Tensor:
    """CornerNet's penalty-reduced pixel-wise focal loss (alpha=2, beta=4).

    Args:
        pred: ``(B, C, H, W)`` probabilities in ``(0, 1)``.
        gt: ``(B, C, H, W)`` Gaussian targets; 1.0 where not a listed positive means "ignore".
        ind: ``(B, M)`` flat cell index of each positive.
        mask: ``(B, M)`` 1 for real positives.
        channel: ``(B, M)`` channel of each positive (0 when ``None``).

    Returns:
        Scalar: ``-(sum pos + sum neg) / num_pos`` (``-sum neg`` when there are no positives).
    """
    pred, gt = pred.float(), gt.float()
    neg = torch.log(1 - pred) * pred.pow(2) * (1 - gt).pow(4)
    per_pos = gather_at(pred, ind)  # B x M x C
    ch = torch.zeros_like(ind) if channel is None else channel
    pos_pred = per_pos.gather(2, ch.unsqueeze(2)).squeeze(2)
    pos = torch.log(pos_pred) * (1 - pos_pred).pow(2) * mask
    num_pos = mask.sum()
    total = pos.sum() + neg.sum()
    return -total / num_pos.clamp(min=1.0)


def reg_l1_loss(
    output: torch.Tensor, ind: torch.Tensor, mask: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Masked L1 between ``(B, C, H, W)`` maps gathered at ``ind (B, M)`` and ``target (B, M, C)``.

    ``mask`` is ``(B, M)`` or ``(B, M, C)``; the sum of absolute errors is divided by the number
    of unmasked scalars.
    """
    pred = gather_at(output.float(), ind)
    if mask.dim() == 2:
        mask = mask.unsqueeze(2).expand_as(target)
    mask = mask.float()
    loss = F.l1_loss(pred * mask, target.float() * mask, reduction="sum")
    return loss / (mask.sum() + 1e-4)


def pose_tracker_loss(
    outputs: Mapping[str, torch.Tensor],
    batch: Mapping[str, torch.Tensor],
    weights: LossWeights = LossWeights(),
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of all terms.

    Args:
        outputs: raw network outputs (``hm``/``hm_hp`` logits), ``(B, C, Ho, Wo)`` each.
        batch: batched targets (:func:`.targets.build_targets` keys, leading batch dimension).
        weights: loss weights.

    Returns:
        ``(total, components)``: the scalar loss to back-propagate and a dict of the unweighted
        terms plus ``"total"`` as Python floats, for logging.
    """
    hm = heatmap_probs(outputs["hm"])
    hm_hp = heatmap_probs(outputs["hm_hp"])
    terms = {
        "hm": focal_loss(hm, batch["hm"], batch["ind"], batch["mask"]),
        "wh": reg_l1_loss(outputs["wh"], batch["ind"], batch["mask"], batch["wh"]),
        "reg": reg_l1_loss(outputs["reg"], batch["ind"], batch["mask"], batch["reg"]),
        "tracking": reg_l1_loss(
            outputs["tracking"], batch["ind"], batch["tracking_mask"], batch["tracking"]
        ),
        "hps": reg_l1_loss(outputs["hps"], batch["ind"], batch["hps_mask"], batch["hps"]),
        "hm_hp": focal_loss(
            hm_hp, batch["hm_hp"], batch["hp_ind"], batch["hp_mask"], batch["hp_joint"]
        ),
        "hp_offset": reg_l1_loss(
            outputs["hp_offset"], batch["hp_ind"], batch["hp_mask"], batch["hp_offset"]
        ),
    }
    w = weights.to_dict()
    total = sum(w[k] * v for k, v in terms.items())
    logged = {k: float(v.detach()) for k, v in terms.items()}
    logged["total"] = float(total.detach())
    return total, logged
