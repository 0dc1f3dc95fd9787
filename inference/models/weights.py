"""Pretrained weights, torchvision style: enums of :class:`Weights` entries, plus the file side
(where the files live, download, hash verification, import, safe loading).

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
import hashlib
import logging
import os
import pickle
import secrets
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from inference.errors import HumanfxError, InputError
from inference.tracks.model import COCO_KEYPOINTS

log = logging.getLogger(__name__)

#: Seconds without data before a download gives up.
DOWNLOAD_TIMEOUT = 30.0
_CHUNK = 1 << 20

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


# -- hashing and checks -----------------------------------------------------------------------

def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                h.update(block)
    except OSError as exc:
        raise InputError(f"cannot read the weights file: {exc.strerror or exc}",
                         path=path) from None
    return h.hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}


def _memo_key(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"cannot read the weights file: {exc.strerror or exc}",
                         path=path) from None
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _hash_cached(path: Path) -> str:
    key = _memo_key(path)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return _VERIFIED[key]


def hash_matches(digest: str, w: WeightsLike) -> bool:
    expected = _entry(w).sha256
    return expected is not None and digest.startswith(expected.lower())


def verify_file(path: str | Path, w: WeightsLike, *, rehash: bool = False) -> str:
    """Check ``path`` is the file of ``w``; returns its SHA-256.

    With a published hash (or prefix) the digest must match; without one the file must load
    safely and, for humanfx checkpoints, carry the expected ``format``.  A mismatch raises
    :class:`HumanfxError` naming the file.  Digests are remembered per (file, size, mtime)
    within a process unless ``rehash``.
    """
    path = Path(path)
    e = _entry(w)
    if rehash:
        _VERIFIED.pop(_memo_key(path), None)
    digest = _hash_cached(path)
    if e.sha256 is not None:
        if not hash_matches(digest, w):
            what = "the first digits of its SHA-256" if e.hash_is_prefix else "its SHA-256"
            raise HumanfxError(
                f"{what} ({digest[:len(e.sha256)]}) do not match {weights_name(w)}'s "
                f"({e.sha256}): the file is corrupt, truncated or another file", path=path,
                hint="delete it and download it again (`humanfx models download "
                f"{weights_name(w)}`)")
    else:
        check_loadable(path, w)
    return digest


def check_loadable(path: str | Path, w: WeightsLike) -> Any:
    """Load ``path`` safely and check its kind (humanfx ``format`` or a state dict)."""
    e = _entry(w)
    data = safe_load(path)
    if e.format is not None:
        if not isinstance(data, dict) or data.get("format") != e.format:
            raise HumanfxError(f"is not a {e.format} checkpoint, so it is not "
                               f"{weights_name(w)}", path=path,
                               hint="import the file trained for this slot")
    elif not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor)
                                                  for v in data.values()):
        raise HumanfxError("is not a state dict (a mapping of names to tensors)", path=path,
                           hint="save the weights with torch.save(model.state_dict(), PATH)")
    return data


def safe_load(path: str | Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``; any failure -- a truncated
    or corrupt file, or one that holds code -- is a :class:`HumanfxError` naming the file."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError("no such weights file", path=path, hint="check the path") from None
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise HumanfxError(f"refused to load the weights: the file holds more than tensors "
                           f"({first})", path=path,
                           hint="only load weights from a source you trust; re-download it")\
            from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError,
            AttributeError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise HumanfxError(f"cannot read the weights ({type(exc).__name__}): the file is "
                           "truncated, corrupt or not a PyTorch file", path=path,
                           hint="delete it and download or import it again") from None


# -- getting files ------------------------------------------------------------------------------

def _how_to_get(w: WeightsLike, dest: Path) -> str:
    name = weights_name(w)
    return (f"on a connected machine run `humanfx models download {name}` and copy "
            f"{_entry(w).filename} to {dest}, or run `humanfx models import PATH` with the file")


def _unavailable(w: WeightsLike) -> HumanfxError:
    e = _entry(w)
    if e.bundled:
        return HumanfxError(
            f"the weights {weights_name(w)} are not shipped yet (they are trained separately)",
            path=ASSETS_DIR / e.filename,
            hint=f"train them and save them there, or `humanfx models import PATH --name "
                 f"{weights_name(w)}`; or analyze with --model rcnn")
    why = e.note or "they have no download address"
    return HumanfxError(f"the weights {weights_name(w)} are not available: {why}",
                        path=cache_location(w),
                        hint="use other weights (`humanfx models list`) or --model rcnn")


def download(w: WeightsLike, *, progress: bool = True, force: bool = False) -> Path:
    """Download ``w`` into the weights folder (temp name, hash check, rename); returns the
    path.  An existing verified file is kept unless ``force``.  No network (or any URL
    error) -> :class:`HumanfxError` saying how to get the file another way."""
    e = _entry(w)
    dest = cache_location(w)
    if dest.is_file() and not force:
        try:
            verify_file(dest, w, rehash=True)
            return dest
        except HumanfxError as exc:
            if e.url is None:
                raise
            log.warning("%s; downloading it again", exc)
    if e.url is None:
        raise _unavailable(w)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        req = urllib.request.Request(e.url, headers={"User-Agent": "humanfx"})
        try:
            with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT) as response, \
                    open(tmp, "wb") as out:
                total = response.headers.get("Content-Length")
                with tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                          unit_divisor=1024, desc=e.filename, disable=not progress,
                          leave=False) as bar:
                    for block in iter(lambda: response.read(_CHUNK), b""):
                        out.write(block)
                        bar.update(len(block))
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise HumanfxError(f"cannot download {e.filename} from {e.url} ({reason})",
                               path=dest, hint=_how_to_get(w, dest)) from None
        except OSError as exc:
            if isinstance(exc.filename, str) and Path(exc.filename) == tmp:
                raise  # writing failed (disk full...): the OSError names the file
            raise HumanfxError(f"cannot download {e.filename} from {e.url} ({exc})",
                               path=dest, hint=_how_to_get(w, dest)) from None
        verify_file(tmp, w)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("downloaded %s to %s", weights_name(w), dest)
    return dest


def weights_file(w: WeightsLike, *, download_missing: bool = True,
                 progress: bool = True) -> Path:
    """The verified file of ``w``: found locally, or downloaded when allowed."""
    path = find_file(w)
    if path is None:
        if _entry(w).url is not None and download_missing:
            return download(w, progress=progress)
        if _entry(w).url is None:
            raise _unavailable(w)
        dest = cache_location(w)
        raise HumanfxError(f"the weights {weights_name(w)} are not downloaded", path=dest,
                           hint=_how_to_get(w, dest))
    verify_file(path, w)
    return path


def load_weights(w: WeightsLike, *, download_missing: bool = True,
                 progress: bool = True) -> Any:
    """The verified, safely loaded content of ``w``'s file (a state dict or checkpoint)."""
    path = weights_file(w, download_missing=download_missing, progress=progress)
    return check_loadable(path, w)


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


def import_file(src: str | Path, name: str | None = None) -> tuple[WeightsEnum, Path]:
    """Copy a user-supplied file into the weights folder after checking what it is.

    Without ``name`` the file's SHA-256 must match a registered entry's published hash.  With
    ``name`` (``Enum.MEMBER``) it must match that entry's hash, or -- for entries without a
    published hash, such as the seed's networks -- load as that entry's checkpoint format.
    The copy is atomic.  Returns ``(entry, destination)``.
    """
    src = Path(src)
    if not src.is_file():
        raise InputError("no such file", path=src, hint="pass the weights file to import")
    digest = sha256_file(src)
    if name is None:
        matches = [w for w in all_weights() if hash_matches(digest, w)]
        if not matches:
            raise HumanfxError(
                f"its SHA-256 ({digest[:16]}...) matches no known weights", path=src,
                hint="check it is the right file (`humanfx models list` shows the expected "
                     "hashes), or pass --name ENUM.MEMBER for a slot without a published hash")
        entry = matches[0]
    else:
        entry = weights_by_name(name)
        if entry.sha256 is not None:
            if not hash_matches(digest, entry):
                raise HumanfxError(
                    f"its SHA-256 ({digest[:16]}...) does not match {entry.full_name}'s "
                    f"({entry.sha256})", path=src, hint="import the right file")
        else:
            check_loadable(src, entry)
    dest = cache_location(entry)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        shutil.copyfile(src, tmp)
        if sha256_file(tmp) != digest:
            raise HumanfxError("the copy differs from the original (disk problem?)",
                               path=tmp, hint="free some space and retry")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return entry, dest


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
        url=None, filename="seed_segmenter_synth_v1.pt", sha256=None, bundled=True,
        format="humanfx.local_segmenter",
        meta={"keypoint_names": COCO_KEYPOINTS, "trained_on": "humanfx synthetic clips",
              "input_size": "person crops (SegmenterConfig.crop_size)",
              "license": "humanfx's licence"},
        note="trained on synthetic clips; ships in assets/weights/ once trained")
    COCO_V1 = Weights(
        url=None, filename="seed_segmenter_coco_v1.pt", sha256=None,
        format="humanfx.local_segmenter", meta={"keypoint_names": COCO_KEYPOINTS},
        note=_SEED_NOTE)
    DEFAULT = SYNTH_V1


@register_weights_enum
class SeedPoseTracker_Weights(WeightsEnum):
    """The seed's Global Pose Tracker (:mod:`inference.models.pose_tracker`)."""

    SYNTH_V1 = Weights(
        url=None, filename="seed_pose_tracker_synth_v1.pt", sha256=None, bundled=True,
        format="humanfx.pose_tracker",
        meta={"keypoint_names": COCO_KEYPOINTS, "trained_on": "humanfx synthetic clips",
              "input_size": "letterboxed to the checkpoint's input_size (512x512 by default)",
              "license": "humanfx's licence"},
        note="trained on synthetic clips; ships in assets/weights/ once trained")
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
