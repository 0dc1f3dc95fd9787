"""Pretrained weights, torchvision style: enums of :class:`Weights` entries, the registry of
those enums and where their files are looked for.  The rest of the file side (hash
verification, safe loading, download, import) is in :mod:`inference.models.weights_files`;
its public names are re-exported here, so import everything from this module.

Every entry carries ``url`` (``None`` when there is nothing to download), ``filename``,
``sha256`` (the full hex digest, or only a prefix where that is all that is published),
``transforms`` (the input preparation the network was trained with) and ``meta`` (keypoint
names, categories, input size, licence, published metrics...).

Files live in the torch hub cache, ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub``),
like torchvision's; the seed's networks may also be shipped in the repository's
``assets/weights/``.  Downloads go to a temporary name in that folder, are hash-checked, then
renamed into place, so a broken download never leaves a file that looks complete.  Every file is
read with ``torch.load(..., weights_only=True)``: a file holding code or anything but tensors
and plain containers is refused, never unpickled.

Hashes: torchvision publishes its weights with the first 8 hex digits of the file's SHA-256 in
the file name (``keypointrcnn_resnet50_fpn_coco-fc266e95.pth``) and nothing more, so for those
entries only that prefix is stored and verified (``Weights.hash_is_prefix``).  The seed's
networks are not trained yet, so they have no hash: their files are checked by loading them
and looking at the checkpoint's ``format`` field.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.errors import InputError
from inference.models.weights_files import (
    check_loadable,
    download,
    hash_matches,
    import_file,
    load_weights,
    safe_load,
    sha256_file,
    verify_file,
    weights_file,
)
from inference.tracks.model import COCO_KEYPOINTS

#: The repository's folder of shipped weights (``assets/weights``, next to the packages).
ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets" / "weights"


def to_float_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32 in ``[0, 1]``: the R-CNN input
    preparation (torchvision's ``ObjectDetection`` preset does the same for tensors and PIL
    images; the models normalise internally)."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


@dataclass(frozen=True)
class Weights:
    """One set of pretrained weights.

    Attributes:
        url: where the file is downloaded from; ``None`` when there is none (shipped in
            ``assets/weights``, not trained yet, or a local file).
        filename: the file's name in the weights folder.
        sha256: lower-case hex SHA-256 of the file, or a published prefix of it; ``None`` when
            nothing is published (then the file is checked by loading it).
        transforms: callable preparing one ``(H, W, 3)`` uint8 RGB frame for the network.
        meta: what is known about the weights (``keypoint_names``, ``categories``,
            ``input_size``, ``license``, ``metrics``, ``num_params``, ``recipe``, ...).
        bundled: the file ships in the repository's ``assets/weights/``.
        format: for humanfx checkpoints, the ``format`` string the file's dict must carry.
        note: a line shown by ``humanfx models list`` (e.g. "not yet trained").
        file: an explicit location (local weights that are not in any registry).
    """

    url: str | None
    filename: str
    sha256: str | None
    transforms: Callable[[np.ndarray], Any] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    bundled: bool = False
    format: str | None = None
    note: str = ""
    file: Path | None = None

    @property
    def hash_is_prefix(self) -> bool:
        return self.sha256 is not None and len(self.sha256) < 64

    @classmethod
    def local(cls, path: str | Path, *, meta: Mapping[str, Any] | None = None,
              format: str | None = None) -> Weights:
        """Weights from a file of the user's (fine-tuned, or built in a test): its SHA-256 is
        computed now, so the analysis cache can tell different files apart."""
        path = Path(path)
        if not path.is_file():
            raise InputError("no such weights file", path=path, hint="check the path")
        return cls(url=None, filename=path.name, sha256=sha256_file(path), meta=dict(meta or {}),
                   format=format, file=path)


class WeightsEnum(enum.Enum):
    """Base of the weights enums: members' values are :class:`Weights`; their fields read
    through (``Member.url``, ``Member.meta``...), as in torchvision."""

    @classmethod
    def verify(cls, obj: Any) -> WeightsEnum | None:
        """``None``, a member, ``"DEFAULT"``, ``"COCO_V1"`` or ``"Enum.COCO_V1"`` -> a member."""
        if obj is None or isinstance(obj, cls):
            return obj
        if isinstance(obj, str):
            name = obj.split(".", 1)[1] if obj.startswith(cls.__name__ + ".") else obj
            try:
                return cls[name]
            except KeyError:
                pass
        names = ", ".join(m.full_name for m in cls)
        raise InputError(f"{obj!r} is not one of {cls.__name__}'s weights ({names})",
                         hint="run `humanfx models list`")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.value, name)

    @property
    def full_name(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def __repr__(self) -> str:
        return self.full_name


#: What functions taking weights accept: an enum member or a plain :class:`Weights`.
WeightsLike = WeightsEnum | Weights


def _entry(w: WeightsLike) -> Weights:
    return w.value if isinstance(w, WeightsEnum) else w


def weights_name(w: WeightsLike) -> str:
    """``Enum.MEMBER`` for registered weights, ``file:<name>@<sha256[:16]>`` for local ones."""
    if isinstance(w, WeightsEnum):
        return w.full_name
    return f"file:{w.filename}@{(w.sha256 or '')[:16]}"


# -- where files live ------------------------------------------------------------------------

def weights_dir() -> Path:
    """The torch hub cache's ``checkpoints`` folder (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cache_location(w: WeightsLike) -> Path:
    """Where downloads and imports of ``w`` go (an explicit ``file`` for local weights)."""
    e = _entry(w)
    return e.file if e.file is not None else weights_dir() / e.filename


def candidate_paths(w: WeightsLike) -> list[Path]:
    """Where ``w`` is looked for, in order."""
    e = _entry(w)
    if e.file is not None:
        return [e.file]
    out = [ASSETS_DIR / e.filename] if e.bundled else []
    return [*out, weights_dir() / e.filename]


def find_file(w: WeightsLike) -> Path | None:
    """The existing file of ``w``, or ``None``."""
    return next((p for p in candidate_paths(w) if p.is_file()), None)



# -- registry-wide operations -----------------------------------------------------------------

_ENUMS: list[type[WeightsEnum]] = []


def register_weights_enum(cls: type[WeightsEnum]) -> type[WeightsEnum]:
    """Class decorator: make an enum visible to :func:`all_weights` (import, list, verify)."""
    if cls not in _ENUMS:
        _ENUMS.append(cls)
    return cls


def all_weights() -> Iterator[WeightsEnum]:
    """Every registered weights entry (aliases such as ``DEFAULT`` once)."""
    for cls in _ENUMS:
        yield from cls


def weights_by_name(name: str) -> WeightsEnum:
    """``"Enum.MEMBER"`` -> the member (InputError listing the known names otherwise)."""
    for cls in _ENUMS:
        if name.startswith(cls.__name__ + "."):
            return cls.verify(name)  # type: ignore[return-value]
    known = ", ".join(w.full_name for w in all_weights())
    raise InputError(f"unknown weights {name!r} (known: {known})",
                     hint="run `humanfx models list`")



# -- the weights of humanfx's models ----------------------------------------------------------

_TV_LICENSE = ("torchvision, BSD-3-Clause; trained on COCO train2017, whose images have their "
               "own (Flickr) licences")
_COCO_PERSON_CATEGORIES = ("no person", "person")


@register_weights_enum
class KeypointRCNN_ResNet50_FPN_Weights(WeightsEnum):
    """torchvision's Keypoint R-CNN (ResNet-50 FPN): person boxes and 17 COCO joints."""

    COCO_V1 = Weights(
        url="https://download.pytorch.org/models/keypointrcnn_resnet50_fpn_coco-fc266e95.pth",
        filename="keypointrcnn_resnet50_fpn_coco-fc266e95.pth",
        sha256="fc266e95",
        transforms=to_float_tensor,
        meta={
            "categories": _COCO_PERSON_CATEGORIES,
            "keypoint_names": COCO_KEYPOINTS,
            "input_size": "shorter side 800, longer at most 1333 (resized inside the model)",
            "min_size": (1, 1),
            "num_params": 59137258,
            "recipe": "https://github.com/pytorch/vision/tree/main/references/detection"
                      "#keypoint-r-cnn",
            "metrics": {"COCO-val2017": {"box_map": 54.6, "kp_map": 65.0}},
            "gflops": 137.42,
            "file_size_mb": 226.054,
            "license": _TV_LICENSE,
        },
    )
    DEFAULT = COCO_V1


@register_weights_enum
class MaskRCNN_ResNet50_FPN_V2_Weights(WeightsEnum):
    """torchvision's Mask R-CNN v2 (ResNet-50 FPN, improved recipe): 91 COCO categories with
    instance masks; humanfx keeps the person class."""

    COCO_V1 = Weights(
        url="https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
        filename="maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
        sha256="73cbd019",
        transforms=to_float_tensor,
        meta={
            "categories": "the 91 COCO detection categories (index 1: person)",
            "person_label": 1,
            "input_size": "shorter side 800, longer at most 1333 (resized inside the model)",
            "min_size": (1, 1),
            "num_params": 46359409,
            "recipe": "https://github.com/pytorch/vision/pull/5773",
            "metrics": {"COCO-val2017": {"box_map": 47.4, "mask_map": 41.8}},
            "gflops": 333.577,
            "file_size_mb": 177.219,
            "license": _TV_LICENSE,
        },
    )
    DEFAULT = COCO_V1


_SEED_NOTE = "not yet trained (no file or hash published)"


@register_weights_enum
class SeedSegmenter_Weights(WeightsEnum):
    """The seed's Local Segmenter (:mod:`inference.models.segmenter`)."""

    SYNTH_V1 = Weights(
        url=None, filename="seed_segmenter_synth_v1.pt",
        sha256="bdcd009e0a8f9972fda57fb17dd7c03ee9044af175365b989a4298a3335a6b93", bundled=True,
        format="humanfx.local_segmenter",
        meta={"keypoint_names": COCO_KEYPOINTS,
              "trained_on": "humanfx synthetic clips (scene seeds 1000-1047, 320x240)",
              "input_size": "128x128 person crops (box expanded 1.5x) + joint heatmap",
              "variant": "keypoint+mixer", "num_params": 3677825,
              "recipe": "python -m inference.train segmenter --variant keypoint+mixer "
                        "--crop-size 128 --steps 2500 (SAM, lr 1e-4, batch 8, CPU)",
              "metrics": "docs/seed-networks.md", "file_size_mb": 7.4,
              "license": "humanfx's licence"},
        note="Local Segmenter trained on synthetic clips (ships in assets/weights/)")
    COCO_V1 = Weights(
        url=None, filename="seed_segmenter_coco_v1.pt", sha256=None,
        format="humanfx.local_segmenter", meta={"keypoint_names": COCO_KEYPOINTS},
        note=_SEED_NOTE)
    DEFAULT = SYNTH_V1


@register_weights_enum
class SeedPoseTracker_Weights(WeightsEnum):
    """The seed's Global Pose Tracker (:mod:`inference.models.pose_tracker`)."""

    SYNTH_V1 = Weights(
        url=None, filename="seed_pose_tracker_synth_v1.pt",
        sha256="ae58a077afe96a34b6a42e25bf38fd64d58290dd115126187993f4cdaa211dc6", bundled=True,
        format="humanfx.pose_tracker",
        meta={"keypoint_names": COCO_KEYPOINTS,
              "trained_on": "humanfx synthetic clips (scene seeds 1000-1063, 320x240)",
              "input_size": "frames letterboxed to 256x192", "backbone": "resnet18",
              "num_params": 13095868, "track_thresh": 0.25,
              "recipe": "python -m inference.train tracker --input-size 256x192 --scenes 64 "
                        "--steps 2800 --int8 (AdamW, lr 1e-4, batch 8, CPU)",
              "metrics": "docs/seed-networks.md", "file_size_mb": 16.9,
              "license": "humanfx's licence"},
        note="Global Pose Tracker trained on synthetic clips (ships in assets/weights/)")
    COCO_V1 = Weights(
        url=None, filename="seed_pose_tracker_coco_v1.pt", sha256=None,
        format="humanfx.pose_tracker", meta={"keypoint_names": COCO_KEYPOINTS},
        note=_SEED_NOTE)
    DEFAULT = SYNTH_V1


__all__ = [
    "ASSETS_DIR", "KeypointRCNN_ResNet50_FPN_Weights", "MaskRCNN_ResNet50_FPN_V2_Weights",
    "SeedPoseTracker_Weights", "SeedSegmenter_Weights", "Weights", "WeightsEnum", "WeightsLike",
    "all_weights", "cache_location", "candidate_paths", "check_loadable", "download",
    "find_file", "hash_matches", "import_file", "load_weights", "register_weights_enum",
    "safe_load", "sha256_file", "to_float_tensor", "verify_file", "weights_by_name",
    "weights_dir", "weights_file", "weights_name",
]
