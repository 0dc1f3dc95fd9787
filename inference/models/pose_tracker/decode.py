"""Decoding head maps into people: peaks, boxes, joints, tracking offsets; back to frame pixels.

:func:`decode` works on batched tensors and returns **input**-pixel coordinates
(:mod:`.letterbox` conventions); :func:`to_frame` undoes the letterbox for one sample and returns
:class:`Detection` objects in **frame** pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from inference.tracks.model import V_NONE, V_OCCLUDED, V_VISIBLE

from .letterbox import Letterbox
from .losses import gather_at
from .network import OUTPUT_STRIDE


@dataclass
class DecodedBatch:
    """Top-``K`` candidates per sample, best first, in **input** pixels (float32 CPU tensors).

    Attributes:
        scores: ``(B, K)`` centre heatmap peak values.
        boxes: ``(B, K, 4)`` ``(x1, y1, x2, y2)``.
        centres: ``(B, K, 2)`` refined centres.
        prev_centres: ``(B, K, 2)`` where each person's centre was in the previous frame.
        keypoints: ``(B, K, J, 2)`` joint positions.
        joint_scores: ``(B, K, J)`` joint confidences in [0, 1].
    """

    scores: torch.Tensor
    boxes: torch.Tensor
    centres: torch.Tensor
    prev_centres: torch.Tensor
    keypoints: torch.Tensor
    joint_scores: torch.Tensor


@dataclass
class Detection:
    """One decoded person in **frame** pixels.

    Attributes:
        bbox: ``(x, y, w, h)`` float, clipped to the frame.
        keypoints: ``(J, 3)`` float64 ``(x, y, v)``; ``v`` is ``V_VISIBLE`` for confident joints,
            ``V_OCCLUDED`` for the rest, ``V_NONE`` outside the frame.
        joint_scores: ``(J,)`` float64 joint confidences.
        score: centre confidence in [0, 1].
        centre: ``(2,)`` float64 box centre predicted by the centre head.
        tracking: ``(2,)`` float64 displacement from ``centre`` to the previous-frame centre.
    """

    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray
    joint_scores: np.ndarray
    score: float
    centre: np.ndarray
    tracking: np.ndarray

    @property
    def prev_centre(self) -> np.ndarray:
        """Where this person's centre was in the previous frame (frame pixels)."""
        return self.centre + self.tracking


def nms_peaks(heat: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """Zero every value of ``(B, C, H, W)`` that is not the maximum of its ``kernel`` window."""
    hmax = F.max_pool2d(heat, kernel, stride=1, padding=(kernel - 1) // 2)
    return heat * (hmax == heat).to(heat.dtype)


def _topk_per_channel(heat: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """``(scores, inds, ys, xs)``, each ``(B, C, k)``: the ``k`` best cells of every channel."""
    b, c, h, w = heat.shape
    scores, inds = torch.topk(heat.reshape(b, c, -1), min(k, h * w))
    return scores, inds, (inds // w).float(), (inds % w).float()


def decode(
    heads: Mapping[str, torch.Tensor],
    *,
    k: int = 100,
    stride: int = OUTPUT_STRIDE,
    joint_thresh: float = 0.1,
    snap_joints: bool = True,
) -> DecodedBatch:
    """Decode head maps (CenterNet's ``multi_pose_decode`` plus CenterTrack's tracking).

    Args:
        heads: ``{name: (B, C, Ho, Wo)}`` with ``hm``/``hm_hp`` as **probabilities**
            (:func:`.network.activate`) and the regression heads as output by the network.
        k: candidates kept per sample (top-``k`` centre peaks after 3x3 max-pool NMS).
        stride: output stride (input pixels per output cell).
        joint_thresh: minimum joint-heatmap peak for a regressed joint to snap onto it.
        snap_joints: snap regressed joints to the nearest joint-heatmap peak when that peak is
            inside the box, above ``joint_thresh`` and closer than 0.3 x the box's longer side.

    Returns:
        A :class:`DecodedBatch` in input pixels.
    """
    hm = heads["hm"].float()
    b = hm.shape[0]
    scores, inds, ys, xs = (t[:, 0] for t in _topk_per_channel(nms_peaks(hm), k))
    kk = scores.shape[1]
    reg = gather_at(heads["reg"].float(), inds)
    wh = gather_at(heads["wh"].float(), inds)
    trk = gather_at(heads["tracking"].float(), inds)
    cx, cy = xs + reg[..., 0], ys + reg[..., 1]
    boxes = torch.stack(
        [cx - wh[..., 0] / 2, cy - wh[..., 1] / 2, cx + wh[..., 0] / 2, cy + wh[..., 1] / 2], -1
    )
    prev = torch.stack([xs + trk[..., 0], ys + trk[..., 1]], -1)
    hps = gather_at(heads["hps"].float(), inds)
    j = hps.shape[-1] // 2
    kps = hps.view(b, kk, j, 2) + torch.stack([xs, ys], -1).unsqueeze(2)

    hm_hp = heads["hm_hp"].float()
    joint_scores = _sample_cells(hm_hp, kps)
    if snap_joints:
        kps, joint_scores = _snap(
            kps, joint_scores, boxes, hm_hp, heads.get("hp_offset"), k, joint_thresh
        )
    s = float(stride)
    return DecodedBatch(
        scores=scores.cpu(),
        boxes=(boxes * s).cpu(),
        centres=(torch.stack([cx, cy], -1) * s).cpu(),
        prev_centres=(prev * s).cpu(),
        keypoints=(kps * s).cpu(),
        joint_scores=joint_scores.cpu(),
    )


def _sample_cells(hm_hp: torch.Tensor, kps: torch.Tensor) -> torch.Tensor:
    """Joint heatmap value at the cell under each joint, ``(B, K, J)`` (0 outside the map)."""
    b, j, h, w = hm_hp.shape
    x = kps[..., 0].floor().long()
    y = kps[..., 1].floor().long()
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    flat = (y.clamp(0, h - 1) * w + x.clamp(0, w - 1)).permute(0, 2, 1)  # B x J x K
    vals = hm_hp.reshape(b, j, -1).gather(2, flat).permute(0, 2, 1)
    return vals * inside.to(vals.dtype)


def _snap(kps, joint_scores, boxes, hm_hp, hp_offset, k, thresh):
    """Move regressed joints ``(B, K, J, 2)`` onto nearby joint-heatmap peaks (CenterNet)."""
    b, kk, j, _ = kps.shape
    pk_scores, pk_inds, pk_ys, pk_xs = _topk_per_channel(nms_peaks(hm_hp), k)  # B x J x P
    if hp_offset is not None:
        off = gather_at(hp_offset.float(), pk_inds.reshape(b, -1)).view(b, j, -1, 2)
        pk_xs, pk_ys = pk_xs + off[..., 0], pk_ys + off[..., 1]
    else:
        pk_xs, pk_ys = pk_xs + 0.5, pk_ys + 0.5
    peaks = torch.stack([pk_xs, pk_ys], -1)  # B x J x P x 2
    reg = kps.permute(0, 2, 1, 3)  # B x J x K x 2
    dist = torch.cdist(reg, peaks)  # B x J x K x P
    dist = dist + (pk_scores < thresh).unsqueeze(2).to(dist.dtype) * 1e6
    min_dist, min_ind = dist.min(dim=3)  # B x J x K
    near = peaks.gather(2, min_ind.unsqueeze(-1).expand(b, j, kk, 2))  # B x J x K x 2
    near_score = pk_scores.gather(2, min_ind)
    x1, y1, x2, y2 = (boxes[..., i].unsqueeze(1) for i in range(4))  # B x 1 x K
    longer = torch.maximum(x2 - x1, y2 - y1)
    ok = (
        (near[..., 0] >= x1)
        & (near[..., 0] <= x2)
        & (near[..., 1] >= y1)
        & (near[..., 1] <= y2)
        & (near_score >= thresh)
        & (min_dist <= 0.3 * longer)
    )
    snapped = torch.where(ok.unsqueeze(-1), near, reg).permute(0, 2, 1, 3)
    scores = torch.where(ok, near_score, joint_scores.permute(0, 2, 1)).permute(0, 2, 1)
    return snapped.contiguous(), scores.contiguous()


def to_frame(
    decoded: DecodedBatch,
    index: int,
    letterbox: Letterbox,
    *,
    score_thresh: float = 0.0,
    visible_thresh: float = 0.3,
) -> list[Detection]:
    """Detections of sample ``index`` with score >= ``score_thresh``, in frame pixels, best first.

    Boxes are clipped to the frame; joints keep their position but get ``V_NONE`` outside the
    frame, ``V_VISIBLE`` when their confidence is >= ``visible_thresh``, else ``V_OCCLUDED``.
    """
    fw, fh = letterbox.frame_size
    scores = decoded.scores[index].numpy().astype(np.float64)
    keep = np.flatnonzero(scores >= score_thresh)
    boxes = decoded.boxes[index].numpy().astype(np.float64)[keep].reshape(-1, 2, 2)
    boxes = letterbox.input_to_frame(boxes).reshape(-1, 4)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, fw)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, fh)
    centres = letterbox.input_to_frame(decoded.centres[index].numpy().astype(np.float64)[keep])
    prevs = letterbox.input_to_frame(decoded.prev_centres[index].numpy().astype(np.float64)[keep])
    kps = letterbox.input_to_frame(decoded.keypoints[index].numpy().astype(np.float64)[keep])
    jsc = decoded.joint_scores[index].numpy().astype(np.float64)[keep]
    out = []
    for n in range(len(keep)):
        inside = (
            (kps[n, :, 0] >= 0) & (kps[n, :, 0] < fw) & (kps[n, :, 1] >= 0) & (kps[n, :, 1] < fh)
        )
        v = np.where(jsc[n] >= visible_thresh, V_VISIBLE, V_OCCLUDED)
        v = np.where(inside, v, V_NONE).astype(np.float64)
        x1, y1, x2, y2 = boxes[n]
        out.append(
            Detection(
                bbox=(x1, y1, x2 - x1, y2 - y1),
                keypoints=np.concatenate([kps[n], v[:, None]], axis=1),
                joint_scores=jsc[n],
                score=float(scores[keep[n]]),
                centre=centres[n],
                tracking=prevs[n] - centres[n],
            )
        )
    return out
