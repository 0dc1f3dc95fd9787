"""The Global Pose Tracker network: CenterTrack with CenterNet's multi-person pose heads.

Inputs (all at the network input size ``(H, W)``, multiples of 32):

* ``image``: current frame ``I_t``, ``(B, 3, H, W)`` float RGB in [0, 1];
* ``pre_image``: previous frame ``I_{t-1}``, same layout;
* ``pre_hm``: previous centre heatmap ``C_{t-1}``, ``(B, 1, H, W)`` float in [0, 1].

The 7 input channels are fused as CenterTrack does: each input has its own stem (7x7 stride-2
conv + BN + ReLU) and the three stem outputs are **summed** before the backbone's first stage.
(Summing after the non-linearities is not equivalent to one 7-channel conv; it lets the sparse
heatmap keep its own normalisation.)

Backbone: torchvision ResNet-18 (default) or ResNet-34, randomly initialised, with an
upsampling neck to stride 4: three stages of ``3x3 conv -> BN -> ReLU -> 2x depthwise
transposed conv (bilinear init, as DLA's IDA-up) -> BN -> ReLU``, each summed with a 1x1
projection of the backbone feature of the same stride (C4, C3, C2).  DLA-34 (the seed's
backbone) is not in torchvision; ResNet-18 + deconv neck is CenterNet's fastest configuration
and the lateral skips give the stride-4 maps the fine detail DLA's aggregation provides.

Heads (stride 4, ``3x3 conv -> ReLU -> 1x1 conv`` each), output channels:
``hm`` 1 (person centre heatmap, logits), ``wh`` 2, ``reg`` 2 (sub-cell centre offset),
``tracking`` 2 (displacement to the previous centre), ``hps`` 34 (17 joints relative to the
centre cell), ``hm_hp`` 17 (joint heatmaps, logits), ``hp_offset`` 2 (sub-cell joint offset).
Heatmap heads start with bias -2.19 (prior probability 0.1), the others with bias 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torchvision
from torch import nn

from inference.errors import InputError
from inference.tracks.model import NUM_KEYPOINTS

#: Output stride of every head.
OUTPUT_STRIDE = 4

#: ImageNet RGB mean/std used to normalise [0, 1] images inside the network.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)

BACKBONES = ("resnet18", "resnet34")


def head_channels(num_joints: int = NUM_KEYPOINTS) -> dict[str, int]:
    """Output channels of each head, in a fixed order."""
    return {
        "hm": 1,
        "wh": 2,
        "reg": 2,
        "tracking": 2,
        "hps": 2 * num_joints,
        "hm_hp": num_joints,
        "hp_offset": 2,
    }


#: Heads whose outputs are heatmap logits (sigmoid gives probabilities).
HEATMAP_HEADS = ("hm", "hm_hp")


@dataclass(frozen=True)
class PoseNetConfig:
    """Architecture of :class:`PoseTrackerNet`.

    Attributes:
        backbone: ``"resnet18"`` or ``"resnet34"``.
        neck_channels: channels of the three upsampling stages (stride 16, 8, 4).
        head_channels: hidden channels of each head's 3x3 conv.
        num_joints: joints per person (17 COCO keypoints).
        heatmap_prior_bias: initial bias of the heatmap heads (``-log((1 - p) / p)``, p=0.1).
    """

    backbone: str = "resnet18"
    neck_channels: tuple[int, int, int] = (256, 128, 64)
    head_channels: int = 64
    num_joints: int = NUM_KEYPOINTS
    heatmap_prior_bias: float = -2.19

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise InputError(
                f"unknown pose-tracker backbone {self.backbone!r}",
                hint=f"use one of: {', '.join(BACKBONES)}",
            )
        object.__setattr__(self, "neck_channels", tuple(int(c) for c in self.neck_channels))

    def to_dict(self) -> dict:
        """Plain-Python form (lists, ints, floats, strs) for checkpoints."""
        d = asdict(self)
        d["neck_channels"] = list(self.neck_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PoseNetConfig:
        return cls(**{**d, "neck_channels": tuple(d["neck_channels"])})


def _stem(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def _bilinear_deconv(channels: int) -> nn.ConvTranspose2d:
    """Depthwise 2x transposed conv initialised to bilinear upsampling."""
    up = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, groups=channels, bias=False)
    f = 2.0  # ceil(4 / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    w = torch.zeros(4, 4)
    for i in range(4):
        for j in range(4):
            w[i, j] = (1 - math.fabs(i / f - c)) * (1 - math.fabs(j / f - c))
    with torch.no_grad():
        up.weight.copy_(w.expand(channels, 1, 4, 4))
    return up


class _UpStage(nn.Module):
    """``conv3x3 -> BN -> ReLU -> 2x up -> BN -> ReLU``, plus a 1x1 lateral skip."""

    def __init__(self, in_ch: int, out_ch: int, skip_ch: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )
        self.up = nn.Sequential(_bilinear_deconv(out_ch), nn.BatchNorm2d(out_ch), nn.ReLU(True))
        self.lateral = nn.Sequential(
            nn.Conv2d(skip_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.up(self.conv(x)) + self.lateral(skip)


class PoseTrackerNet(nn.Module):
    """CenterTrack-style pose tracker; see the module docstring for inputs and heads."""

    def __init__(self, config: PoseNetConfig = PoseNetConfig()):
        super().__init__()
        self.config = config
        resnet = getattr(torchvision.models, config.backbone)(weights=None)
        self.image_stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu)
        self.pre_image_stem = _stem(3, 64)
        self.pre_hm_stem = _stem(1, 64)
        self.maxpool = resnet.maxpool
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4
        c16, c8, c4 = config.neck_channels
        self.up16 = _UpStage(512, c16, 256)
        self.up8 = _UpStage(c16, c8, 128)
        self.up4 = _UpStage(c8, c4, 64)
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)
        self.heads = nn.ModuleDict()
        for name, ch in head_channels(config.num_joints).items():
            head = nn.Sequential(
                nn.Conv2d(c4, config.head_channels, 3, padding=1, bias=True),
                nn.ReLU(inplace=True),
                nn.Conv2d(config.head_channels, ch, 1, bias=True),
            )
            nn.init.constant_(head[0].bias, 0.0)
            fill = config.heatmap_prior_bias if name in HEATMAP_HEADS else 0.0
            nn.init.constant_(head[-1].bias, fill)
            self.heads[name] = head

    def features(
        self, image: torch.Tensor, pre_image: torch.Tensor, pre_hm: torch.Tensor
    ) -> torch.Tensor:
        """``(B, neck_channels[-1], H/4, W/4)`` fused features."""
        x = self.image_stem((image - self.mean) / self.std)
        x = x + self.pre_image_stem((pre_image - self.mean) / self.std)
        x = x + self.pre_hm_stem(pre_hm)
        c2 = self.layer1(self.maxpool(x))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return self.up4(self.up8(self.up16(c5, c4), c3), c2)

    def forward(
        self, image: torch.Tensor, pre_image: torch.Tensor, pre_hm: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Head outputs ``{name: (B, C, H/4, W/4)}``; ``hm``/``hm_hp`` are logits."""
        if image.shape[-1] % 32 or image.shape[-2] % 32:
            raise ValueError(f"input size {tuple(image.shape[-2:])} is not a multiple of 32")
        feats = self.features(image, pre_image, pre_hm)
        return {name: head(feats) for name, head in self.heads.items()}


def heatmap_probs(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid clamped to ``[1e-4, 1 - 1e-4]`` (CenterNet's ``_sigmoid``), in float32."""
    return torch.sigmoid(logits.float()).clamp(1e-4, 1 - 1e-4)


def activate(outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Head outputs with heatmap logits turned into probabilities, everything float32."""
    return {k: heatmap_probs(v) if k in HEATMAP_HEADS else v.float() for k, v in outputs.items()}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
