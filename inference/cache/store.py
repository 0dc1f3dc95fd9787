"""Where layer caches live and how they are named.

``<cache_root>/<clip_hash[:16]>/<source>-<settings_key>.sqlite``: one folder per clip content,
one file per analysis source and settings.  The clip is identified by its *content*
(:func:`clip_content_hash`), so renaming or moving a clip keeps its caches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from inference.cache.layers import CacheMeta, LayerCache, canonical_json
from inference.errors import InputError

log = logging.getLogger(__name__)

ENV_CACHE_DIR = "HUMANFX_CACHE_DIR"

#: Files smaller than this are hashed whole.
WHOLE_FILE_LIMIT = 16 * 1024 * 1024
#: Larger files: this many evenly spaced chunks of CHUNK_SIZE bytes, plus the last chunk.
SAMPLE_CHUNKS = 16
CHUNK_SIZE = 64 * 1024

_SOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HASH_RE = re.compile(r"[0-9a-f]{16,}")


def cache_root() -> Path:
    """``$HUMANFX_CACHE_DIR`` when set, else the user cache dir's ``humanfx/layers``."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("humanfx", appauthor=False)) / "layers"


def clip_content_hash(path: str | Path) -> str:
    """Hex BLAKE2b-256 of a clip's content, independent of its name and location.

    Hashes the file size, then the whole file when it is under 16 MiB, else 16 evenly spaced
    64 KiB chunks plus the last 64 KiB (about 1 MiB read, so a multi-GB clip hashes in
    milliseconds).  Trade-off: two files of the *same size* that differ only outside the
    sampled chunks would share a hash; re-encoding or trimming a clip changes its size and
    its container header/index (at the start or end, both sampled), so in practice only a
    deliberate same-length in-place edit of frame data goes unnoticed.
    """
    path = Path(path)
    h = hashlib.blake2b(digest_size=32, person=b"humanfx-clip-v1")
    try:
        size = path.stat().st_size
        h.update(size.to_bytes(8, "little"))
        with path.open("rb") as fh:
            if size < WHOLE_FILE_LIMIT:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            else:
                offsets = [i * size // SAMPLE_CHUNKS for i in range(SAMPLE_CHUNKS)]
                for offset in [*offsets, size - CHUNK_SIZE]:
                    fh.seek(offset)
                    h.update(fh.read(CHUNK_SIZE))
    except FileNotFoundError:
        raise InputError("no such clip", path=path, hint="check the path") from None
    except OSError as exc:
        raise InputError(f"cannot read the clip: {exc.strerror}", path=path) from None
    return h.hexdigest()


def settings_key(source: str, settings: dict[str, Any]) -> str:
    """16 hex digits identifying ``(source, settings)``; stable across runs and key order."""
    text = canonical_json({"source": source, "settings": settings})
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def cache_path(clip_hash: str, source: str, settings: dict[str, Any],
               root: Path | None = None) -> Path:
    """``root/<clip_hash[:16]>/<source>-<settings_key>.sqlite`` (root: :func:`cache_root`)."""
    if not _HASH_RE.fullmatch(clip_hash):
        raise ValueError(f"{clip_hash!r} is not a clip content hash")
    if not _SOURCE_RE.fullmatch(source):
        raise ValueError(f"source {source!r} must be letters, digits, '_', '.' or '-'")
    root = cache_root() if root is None else Path(root)
    return root / clip_hash[:16] / f"{source}-{settings_key(source, settings)}.sqlite"


@dataclass(frozen=True)
class CacheEntry:
    """One cache of a clip, as listed by :func:`list_caches`.

    ``modified`` is a POSIX timestamp (the newer of the file and its WAL);
    ``frames_done`` counts the analysed frames.
    """

    path: Path
    meta: CacheMeta
    modified: float
    frames_done: int
    complete: bool
    size_bytes: int


def _mtime_and_size(path: Path) -> tuple[float, int]:
    st = path.stat()
    mtime, size = st.st_mtime, st.st_size
    wal = Path(f"{path}-wal")
    if wal.exists():
        wst = wal.stat()
        if wst.st_size:  # an empty WAL is only a reader's leftover
            mtime, size = max(mtime, wst.st_mtime), size + wst.st_size
    return mtime, size


def list_caches(clip_hash: str, root: Path | None = None) -> list[CacheEntry]:
    """The readable caches of a clip, newest first.

    Files that are not humanfx caches, are of another schema version, or belong to another
    clip with the same hash prefix are skipped (with a logged warning for the first two).
    """
    root = cache_root() if root is None else Path(root)
    folder = root / clip_hash[:16]
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.glob("*.sqlite")):
        try:
            mtime, size = _mtime_and_size(path)  # before opening touches the side files
            with LayerCache.open(path) as cache:
                if cache.meta.clip_hash != clip_hash:
                    continue
                done = len(cache.frames_done())
                complete = cache.is_complete()
                meta = cache.meta
        except InputError as exc:
            log.warning("skipping layer cache: %s", exc)
            continue
        except OSError as exc:  # vanished while listing
            log.warning("skipping layer cache %s: %s", path, exc)
            continue
        entries.append(CacheEntry(path=path, meta=meta, modified=mtime, frames_done=done,
                                  complete=complete, size_bytes=size))
    entries.sort(key=lambda e: (-e.modified, e.path.name))
    return entries
