"""Mask losses of the Local Segmenter: ``L = L_bce + L_dice`` (seed equation 4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dice_loss(logits: torch.Tensor, target: torch.Tensor, *, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss (Milletari et al. 2016), averaged over the batch.

    Args:
        logits: ``(B, 1, S, S)`` (or ``(B, ...)``) mask logits.
        target: same shape, probabilities in ``[0, 1]``.
        smooth: added to numerator and denominator so an empty target with an empty
            prediction costs 0.

    Returns:
        Scalar ``mean_b(1 - (2 sum(p t) + smooth) / (sum(p) + sum(t) + smooth))``.
    """
    p = torch.sigmoid(logits.float()).flatten(1)
    t = target.float().flatten(1)
    inter = (p * t).sum(1)
    dice = (2.0 * inter + smooth) / (p.sum(1) + t.sum(1) + smooth)
    return (1.0 - dice).mean()


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy on logits (numerically stable)."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Seed eq. 4: ``BCE + Dice``; a scalar float32 tensor."""
    return bce_loss(logits, target) + dice_loss(logits, target)


def mask_iou(logits: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Per-sample IoU of ``sigmoid(logits) >= threshold`` against ``target >= threshold``.

    Returns ``(B,)`` float32; a sample where both masks are empty scores 1.
    """
    p = (torch.sigmoid(logits.float()) >= threshold).flatten(1)
    t = (target.float() >= threshold).flatten(1)
    inter = (p & t).sum(1).float()
    union = (p | t).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1.0), torch.ones_like(union))
