"""Files derived from a clip and kept next to its layer caches: proxies, optimized media.

Both kinds live in ``<cache_root>/<clip_hash[:16]>/`` and follow one life cycle, written here
once: a file already there is checked and reused, a stale or damaged one is removed (logged)
and rebuilt, and a build writes a hidden temporary name in the same folder that is renamed
into place when complete, so a cancel, an error or a killed process never leaves a file that
looks finished.  A temporary left by a killed build is removed by the next build once it is
older than :data:`STALE_TEMP_S`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from editor_plugin.media import MediaError, VideoReader
from editor_plugin.media.errors import AV_ERRORS, reason
from editor_plugin.session import ClipSession

log = logging.getLogger(__name__)

#: A temporary file not modified for this long belongs to a build that died.
STALE_TEMP_S = 300.0


def derived_tag(key: str, version: int, session: ClipSession, frames: int, last_time: Fraction,
                **extra: Any) -> str:
    """The JSON stored in a derived file's ``comment`` tag: ``{key: version}``, the clip's
    content hash, its frame count and last frame time, and ``extra`` fields."""
    return json.dumps({key: version, "clip_hash": session.clip_hash, "frames": frames,
                       "last_time": str(last_time), **extra}, sort_keys=True)


def read_tag(path: Path, key: str, version: int, session: ClipSession
             ) -> tuple[dict[str, Any] | None, str | None]:
    """``(tag, None)`` when ``path``'s tag says it is a ``key`` file of this ``version`` for
    ``session``'s clip, else ``(None, why not)``.  Raises ``AV_ERRORS`` when it does not open."""
    with av.open(str(path), "r") as container:
        raw = container.metadata.get("comment", "")
    try:
        meta = json.loads(raw)
    except ValueError:
        return None, f"it has no humanfx {key} tag"
    if not isinstance(meta, dict) or key not in meta:
        return None, f"it has no humanfx {key} tag"
    if meta[key] != version:
        return None, "it is from another humanfx version"
    if meta.get("clip_hash") != session.clip_hash:
        return None, "it belongs to another clip"
    return meta, None


def check_derived(path: Path, *, key: str, version: int, session: ClipSession,
                  size: tuple[int, int], open_reader: Callable[[dict[str, Any]], VideoReader]
                  ) -> str | None:
    """Why the derived file at ``path`` cannot stand in for ``session``'s clip, or None.

    Checks the tag (:func:`read_tag`), then, through ``open_reader(tag)``, the frame count,
    the frame size ``(w, h)``, the last frame's time and that the last frame decodes (a
    truncated file does not)."""
    try:
        meta, why = read_tag(path, key, version, session)
        if meta is None:
            return why
        with open_reader(meta) as reader:
            n = session.info.frame_count
            if meta.get("frames") != n or len(reader) != n:
                return f"it has {len(reader)} frames, the clip {n}"
            if (reader.info.width, reader.info.height) != tuple(size):
                return f"it is {reader.info.width}x{reader.info.height}, not {size[0]}x{size[1]}"
            if str(reader.timestamps[-1]) != meta.get("last_time"):
                return "its frame times differ from the clip's"
            reader.read(n - 1)
    except MediaError as err:
        return f"it does not read ({err.message})"
    except AV_ERRORS as exc:
        return f"it does not read ({reason(exc)})"
    return None


def _remove_stale_temps(folder: Path, stem: str, suffix: str) -> None:
    now = time.time()
    for temp in folder.glob(f".{stem}.*.tmp{suffix}"):
        try:
            if now - temp.stat().st_mtime > STALE_TEMP_S:
                temp.unlink()
                log.info("removed %s, left over by an interrupted build", temp)
        except OSError:  # vanished meanwhile, or another build's
            continue


def build_derived(session: ClipSession, path: Path, *, what: str,
                  check: Callable[[Path], str | None], write: Callable[[Path], None]) -> bool:
    """Make sure a valid ``what`` file (e.g. ``"proxy"``) for ``session`` is at ``path``.

    ``check(path)`` says why an existing file cannot be used (None: it can; it is reused and
    False is returned).  Otherwise ``write(temp)`` writes a complete file to a temporary path
    in the same folder, which then replaces ``path``; returns True.  Whatever ``write`` raises
    (a cancel included) propagates after the temporary is removed; PyAV errors become a
    :class:`~editor_plugin.media.MediaError` naming ``path``.
    """
    if path.exists():
        why = check(path)
        if why is None:
            log.debug("%s: reusing %s %s", session.path, what, path)
            return False
        log.warning("%s: %s %s is stale or damaged (%s); rebuilding it", session.path, what,
                    path, why)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise MediaError(f"cannot remove the stale {what} ({exc.strerror})", path=path,
                             hint="delete it by hand") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MediaError(f"cannot create the {what} folder ({exc.strerror})", path=path.parent,
                         hint="check the cache folder or set $HUMANFX_CACHE_DIR") from None
    _remove_stale_temps(path.parent, path.stem, path.suffix)
    temp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        write(temp)
        os.replace(temp, path)
    except AV_ERRORS as exc:
        raise MediaError(f"could not write the {what} ({reason(exc)})", path=path,
                         hint="check the free disk space") from None
    finally:
        temp.unlink(missing_ok=True)
    return True


__all__ = ["STALE_TEMP_S", "build_derived", "check_derived", "derived_tag", "read_tag"]
