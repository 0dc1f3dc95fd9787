"""The Local Segmenter network (seed section 3.2, Figure 3) and its settings.

Encoder: torchvision ResNet-18 (no pretrained weights are downloaded) whose first convolution
takes the 4-channel input ``RGB + joint heatmap`` (3 channels for the no-keypoint ablation).
Its Res2 (``layer1``, stride 4, 64 ch), Res3 (``layer2``, stride 8, 128 ch) and Res4 (``layer3``,
stride 16, 256 ch) features are used; ``layer4`` is dropped.  One :class:`MixerLayer` is inserted
on Res3: its output feeds both Res4 and the Res3 skip connection.

Decoder: residual blocks with skip connections in the style of STM (Oh et al. 2019, from the
same group as the seed): Res4 -> conv + residual block; then for Res3 and Res2 a "refine" step
(conv + residual block on the skip, add the 2x-upsampled coarser map, residual block); a 3x3
conv predicts one mask logit at stride 4, bilinearly upsampled to the input size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from inference.errors import InputError
from inference.models.segmenter.crops import BOX_EXPAND
from inference.models.segmenter.mixer import MixerLayer

#: The three rows of the seed's ablation (Table 3): name -> (use_heatmap, use_mixer).
ABLATION_VARIANTS: dict[str, tuple[bool, bool]] = {
    "box": (False, False),
    "keypoint": (True, False),
    "keypoint+mixer": (True, True),
}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class SegmenterConfig:
    """Architecture and crop settings of the Local Segmenter (stored in every checkpoint).

    Attributes:
        crop_size: side ``S`` of the square network input, pixels; a multiple of 32 (the seed
            uses 512).  The Mixer's token MLP has ``(S/8)^2`` inputs, so it is fixed per model.
        use_heatmap: 4th input channel with the joint heatmap (ablation: off = box only).
        use_mixer: the Mixer layer on Res3 (ablation).
        heatmap_sigma: Gaussian sigma in crop pixels; ``None`` -> ``crop_size / 64`` (8 px at
            512).  That is one Res3 cell: a joint's blob still covers about 3x3 tokens after the
            stride-8 encoder (so the Mixer sees it), while neighbouring joints (a shoulder width is
            60-80 px at 512) stay separate.  It matches the usual pose-heatmap choice (sigma 2 on
            a 64-px-high map, i.e. ~1/32-1/64 of the person).
        box_expand: growth of the person box before cropping (seed: 1.5).
        square_crop: square window keeping the aspect ratio (see :mod:`.crops`).
        mixer_token_hidden: hidden width of the token-mixing MLP (not given by the seed; 256 as
            in MLP-Mixer S/B).
        mixer_channel_hidden: hidden width of the channel-mixing MLP (not given; ``4 c = 512``
            as in MLP-Mixer).
        mixer_dropout: dropout inside the Mixer (seed: 0.1).
        decoder_channels: width of the decoder (not given by the seed).  64: at 512 x 512 the
            whole network is then 25.0 GFLOP (encoder 15.1, Mixer 1.6, decoder 8.3); with 128 the
            stride-4 refine stage alone would cost 29 of 46 GFLOP, against the seed's aim of a
            light segmenter whose Mixer adds "minimal overhead".
        min_box_size: persons whose box is narrower or lower than this (frame pixels) are
            skipped.
    """

    crop_size: int = 512
    use_heatmap: bool = True
    use_mixer: bool = True
    heatmap_sigma: float | None = None
    box_expand: float = BOX_EXPAND
    square_crop: bool = True
    mixer_token_hidden: int = 256
    mixer_channel_hidden: int = 512
    mixer_dropout: float = 0.1
    decoder_channels: int = 64
    min_box_size: float = 4.0

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> None:
            raise InputError(f"SegmenterConfig.{name} = {getattr(self, name)!r} {why}",
                             hint="fix the segmenter setting")

        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("bool",) and not isinstance(v, bool):
                bad(f.name, "must be True or False")
            if f.type in ("int",) and (isinstance(v, bool) or not isinstance(v, int)):
                bad(f.name, "must be an integer")
        if self.crop_size < 32 or self.crop_size % 32:
            bad("crop_size", "must be a multiple of 32, at least 32")
        if self.heatmap_sigma is not None and not (math.isfinite(self.heatmap_sigma)
                                                   and self.heatmap_sigma > 0):
            bad("heatmap_sigma", "must be > 0 or None")
        if not (math.isfinite(self.box_expand) and self.box_expand >= 1.0):
            bad("box_expand", "must be >= 1")
        for name in ("mixer_token_hidden", "mixer_channel_hidden", "decoder_channels"):
            if getattr(self, name) < 1:
                bad(name, "must be >= 1")
        if not 0.0 <= self.mixer_dropout < 1.0:
            bad("mixer_dropout", "must be in [0, 1)")
        if not (math.isfinite(self.min_box_size) and self.min_box_size >= 1.0):
            bad("min_box_size", "must be >= 1 pixel")

    @classmethod
    def for_variant(cls, name: str, **overrides: Any) -> SegmenterConfig:
        """Config of an ablation row: ``"box"``, ``"keypoint"`` or ``"keypoint+mixer"``."""
        if name not in ABLATION_VARIANTS:
            raise InputError(f"unknown segmenter variant {name!r}",
                             hint=f"use one of: {', '.join(ABLATION_VARIANTS)}")
        heat, mix = ABLATION_VARIANTS[name]
        return cls(use_heatmap=heat, use_mixer=mix, **overrides)

    @property
    def sigma(self) -> float:
        """The heatmap sigma actually used, in crop pixels."""
        return self.heatmap_sigma if self.heatmap_sigma is not None else self.crop_size / 64.0

    @property
    def in_channels(self) -> int:
        return 4 if self.use_heatmap else 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmenterConfig:
        """Inverse of :meth:`to_dict`; raises ``InputError`` on unknown or bad fields."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown segmenter settings {unknown}")
        return cls(**data)


def _conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1)


class ResBlock(nn.Module):
    """Pre-activation residual block: ``x + conv(relu(conv(relu(x))))``, same shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(channels, channels)
        self.conv2 = _conv3x3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Refine(nn.Module):
    """Merge a skip feature with the upsampled coarser decoder map (STM's ``Refine``)."""

    def __init__(self, skip_channels: int, channels: int) -> None:
        super().__init__()
        self.conv_skip = _conv3x3(skip_channels, channels)
        self.res_skip = ResBlock(channels)
        self.res_merge = ResBlock(channels)

    def forward(self, skip: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        s = self.res_skip(self.conv_skip(skip))
        up = F.interpolate(coarse, size=s.shape[-2:], mode="bilinear", align_corners=False)
        return self.res_merge(s + up)


class Decoder(nn.Module):
    """Res4/Res3/Res2 -> one mask logit at stride 4."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_res4 = _conv3x3(256, channels)
        self.res_res4 = ResBlock(channels)
        self.refine3 = Refine(128, channels)
        self.refine2 = Refine(64, channels)
        self.pred = _conv3x3(channels, 1)

    def forward(self, r4: torch.Tensor, r3: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
        m = self.res_res4(self.conv_res4(r4))
        m = self.refine3(r3, m)
        m = self.refine2(r2, m)
        return self.pred(F.relu(m))


class LocalSegmenterNet(nn.Module):
    """ResNet-18 encoder (Res2..Res4) + one Mixer on Res3 + residual decoder.

    ``forward(x)``: ``x`` is ``(B, C, S, S)`` float with ``C = config.in_channels``: channels 0-2
    RGB in ``[0, 1]`` (normalised inside with ImageNet statistics), channel 3 the joint heatmap in
    ``[0, 1]``.  Returns ``(B, 1, S, S)`` mask logits.
    """

    def __init__(self, config: SegmenterConfig) -> None:
        super().__init__()
        self.config = config
        resnet = torchvision.models.resnet18(weights=None)
        self.conv1 = nn.Conv2d(config.in_channels, 64, kernel_size=7, stride=2, padding=3,
                               bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1 = resnet.bn1
        self.maxpool = resnet.maxpool
        self.res2 = resnet.layer1   # stride 4, 64 ch
        self.res3 = resnet.layer2   # stride 8, 128 ch
        self.res4 = resnet.layer3   # stride 16, 256 ch
        g = config.crop_size // 8
        self.mixer: nn.Module = (
            MixerLayer(128, (g, g), token_hidden=config.mixer_token_hidden,
                       channel_hidden=config.mixer_channel_hidden, dropout=config.mixer_dropout)
            if config.use_mixer else nn.Identity())
        self.decoder = Decoder(config.decoder_channels)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalised input -> ``(res2, res3_mixed, res4)`` features."""
        x = F.relu(self.bn1(self.conv1(x)))
        r2 = self.res2(self.maxpool(x))
        r3 = self.mixer(self.res3(r2))
        r4 = self.res4(r3)
        return r2, r3, r4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, s = self.config.in_channels, self.config.crop_size
        if x.dim() != 4 or x.shape[1] != c or x.shape[2] != s or x.shape[3] != s:
            raise ValueError(f"expected input (B, {c}, {s}, {s}), got {tuple(x.shape)}")
        rgb = (x[:, :3] - self.mean) / self.std
        x = torch.cat([rgb, x[:, 3:]], dim=1)
        r2, r3, r4 = self.encode(x)
        logits = self.decoder(r4, r3, r2)
        return F.interpolate(logits, size=(s, s), mode="bilinear", align_corners=False)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
