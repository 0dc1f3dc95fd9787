"""The file side of :mod:`inference.models.weights`: hashing, verifying, safely loading,
downloading and importing weights files.

:func:`sha256_file` and :func:`verify_file` (digests remembered per file, size and mtime),
:func:`check_loadable` and :func:`safe_load` (``torch.load(..., weights_only=True)``: a file
holding code is refused, never unpickled), :func:`download` (temporary name, hash check,
rename), :func:`weights_file` and :func:`load_weights` (found locally or downloaded, then
verified and loaded) and :func:`import_file` (a user's file copied into the weights folder
after checking what it is).

The entries, the enum registry and where files are looked for (``ASSETS_DIR``,
:func:`~inference.models.weights.find_file`...) live in :mod:`inference.models.weights`, which
re-exports this module's public names: import them from there.  The functions here look those
up in that module when called, so a monkeypatched ``weights.ASSETS_DIR`` or registry is seen.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import secrets
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from inference.errors import HumanfxError, InputError

if TYPE_CHECKING:
    from inference.models.weights import WeightsEnum, WeightsLike

log = logging.getLogger(__name__)

#: Seconds without data before a download gives up.
DOWNLOAD_TIMEOUT = 30.0
_CHUNK = 1 << 20


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
    expected = _weights._entry(w).sha256
    return expected is not None and digest.startswith(expected.lower())


def verify_file(path: str | Path, w: WeightsLike, *, rehash: bool = False) -> str:
    """Check ``path`` is the file of ``w``; returns its SHA-256.

    With a published hash (or prefix) the digest must match; without one the file must load
    safely and, for humanfx checkpoints, carry the expected ``format``.  A mismatch raises
    :class:`HumanfxError` naming the file.  Digests are remembered per (file, size, mtime)
    within a process unless ``rehash``.
    """
    path = Path(path)
    e = _weights._entry(w)
    if rehash:
        _VERIFIED.pop(_memo_key(path), None)
    digest = _hash_cached(path)
    if e.sha256 is not None:
        if not hash_matches(digest, w):
            what = "the first digits of its SHA-256" if e.hash_is_prefix else "its SHA-256"
            raise HumanfxError(
                f"{what} ({digest[:len(e.sha256)]}) do not match {_weights.weights_name(w)}'s "
                f"({e.sha256}): the file is corrupt, truncated or another file", path=path,
                hint="delete it and download it again (`humanfx models download "
                f"{_weights.weights_name(w)}`)")
    else:
        check_loadable(path, w)
    return digest


def check_loadable(path: str | Path, w: WeightsLike) -> Any:
    """Load ``path`` safely and check its kind (humanfx ``format`` or a state dict)."""
    e = _weights._entry(w)
    data = safe_load(path)
    if e.format is not None:
        if not isinstance(data, dict) or data.get("format") != e.format:
            raise HumanfxError(f"is not a {e.format} checkpoint, so it is not "
                               f"{_weights.weights_name(w)}", path=path,
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
    name = _weights.weights_name(w)
    return (f"on a connected machine run `humanfx models download {name}` and copy "
            f"{_weights._entry(w).filename} to {dest}, or run `humanfx models import PATH` "
            "with the file")


def _unavailable(w: WeightsLike) -> HumanfxError:
    e = _weights._entry(w)
    if e.bundled:
        return HumanfxError(
            f"the weights {_weights.weights_name(w)} are not shipped yet "
            "(they are trained separately)",
            path=_weights.ASSETS_DIR / e.filename,
            hint=f"train them and save them there, or `humanfx models import PATH --name "
                 f"{_weights.weights_name(w)}`; or analyze with --model rcnn")
    why = e.note or "they have no download address"
    return HumanfxError(f"the weights {_weights.weights_name(w)} are not available: {why}",
                        path=_weights.cache_location(w),
                        hint="use other weights (`humanfx models list`) or --model rcnn")


def download(w: WeightsLike, *, progress: bool = True, force: bool = False) -> Path:
    """Download ``w`` into the weights folder (temp name, hash check, rename); returns the
    path.  An existing verified file is kept unless ``force``.  No network (or any URL
    error) -> :class:`HumanfxError` saying how to get the file another way."""
    e = _weights._entry(w)
    dest = _weights.cache_location(w)
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
    log.info("downloaded %s to %s", _weights.weights_name(w), dest)
    return dest


def weights_file(w: WeightsLike, *, download_missing: bool = True,
                 progress: bool = True) -> Path:
    """The verified file of ``w``: found locally, or downloaded when allowed."""
    path = _weights.find_file(w)
    if path is None:
        if _weights._entry(w).url is not None and download_missing:
            return download(w, progress=progress)
        if _weights._entry(w).url is None:
            raise _unavailable(w)
        dest = _weights.cache_location(w)
        raise HumanfxError(f"the weights {_weights.weights_name(w)} are not downloaded", path=dest,
                           hint=_how_to_get(w, dest))
    verify_file(path, w)
    return path


def load_weights(w: WeightsLike, *, download_missing: bool = True,
                 progress: bool = True) -> Any:
    """The verified, safely loaded content of ``w``'s file (a state dict or checkpoint)."""
    path = weights_file(w, download_missing=download_missing, progress=progress)
    return check_loadable(path, w)


# -- importing a user's file ------------------------------------------------------------------

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
        matches = [w for w in _weights.all_weights() if hash_matches(digest, w)]
        if not matches:
            raise HumanfxError(
                f"its SHA-256 ({digest[:16]}...) matches no known weights", path=src,
                hint="check it is the right file (`humanfx models list` shows the expected "
                     "hashes), or pass --name ENUM.MEMBER for a slot without a published hash")
        entry = matches[0]
    else:
        entry = _weights.weights_by_name(name)
        if entry.sha256 is not None:
            if not hash_matches(digest, entry):
                raise HumanfxError(
                    f"its SHA-256 ({digest[:16]}...) does not match {entry.full_name}'s "
                    f"({entry.sha256})", path=src, hint="import the right file")
        else:
            check_loadable(src, entry)
    dest = _weights.cache_location(entry)
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


__all__ = [
    "DOWNLOAD_TIMEOUT", "check_loadable", "download", "hash_matches", "import_file",
    "load_weights", "safe_load", "sha256_file", "verify_file", "weights_file",
]

# Last, so that either module can be imported first: weights.py imports this module's functions
# at its top, and they reach weights.py's entries, registry and ASSETS_DIR only when called.
from inference.models import weights as _weights
