"""Exports for NLEs and compositors: per-person mattes and joint tracking data.

* :mod:`editor_plugin.exports.mattes` — :func:`~editor_plugin.exports.mattes.export_mattes`:
  per-person alpha mattes (ProRes 4444, PNG sequences 8/16-bit, FFV1) and an ID matte;
* :mod:`editor_plugin.exports.tracking_data` —
  :func:`~editor_plugin.exports.tracking_data.export_clip_tracks`: joint tracks as After Effects
  keyframe data, Nuke ``.chan``, CSV and JSON, plus the tracks formats (COCO-video, YouTube-VIS,
  PoseTrack 2018, MOTChallenge).

This module holds what both share: the person selection and atomic publishing of several
outputs (files and folders) at once.  See ``docs/nle-exports.md``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from inference.errors import InputError


def parse_person_selection(text: str) -> tuple[int, ...] | None:
    """``"all"`` -> ``None`` (everyone); ``"3"`` or ``"1,3"`` -> the ids, in the given order.

    Raises ``ValueError`` (a short phrase) for anything else.
    """
    text = text.strip()
    if text.lower() == "all":
        return None
    try:
        ids = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"bad person list {text!r}: use ID, ID,ID or all") from None
    if not ids:
        raise ValueError("empty person list: use ID, ID,ID or all")
    if len(set(ids)) != len(ids):
        raise ValueError(f"person list {text!r} names a person twice")
    return ids


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.{tag}")


@contextmanager
def staging_folder(parent: Path, name: str) -> Iterator[Path]:
    """A new, empty hidden folder ``parent/.<name>.<random>.tmp``, removed on leaving.

    Write outputs into it, then :func:`publish` them before leaving the ``with`` block.
    ``parent`` must exist.
    """
    folder = parent / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        folder.mkdir()
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror or exc})", path=parent,
                         hint="choose a folder you can write to") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_replaceable(dest: Path, *, is_dir: bool, own: re.Pattern[str] | None = None) -> None:
    """Raise InputError unless ``dest`` is absent or may be replaced by an output of its kind.

    A file may replace a file; a folder may replace a folder whose entries all match ``own``
    (a previous export of the same kind) -- never someone else's files.
    """
    if not dest.exists() and not dest.is_symlink():
        return
    if is_dir:
        if not dest.is_dir() or dest.is_symlink():
            raise InputError("exists and is not a folder", path=dest,
                             hint="remove it or choose another output folder")
        foreign = [p.name for p in dest.iterdir()
                   if own is None or not own.match(p.name)]
        if foreign:
            raise InputError(f"already holds other files (e.g. {min(foreign)}); it would "
                             "be replaced", path=dest, hint="choose an empty or new folder")
    elif dest.is_dir():
        raise InputError("is a folder", path=dest, hint="remove it or choose another name")


def publish(items: Iterable[tuple[Path, Path]]) -> None:
    """Move each staged ``(source, dest)`` into place, replacing what is at ``dest``.

    Files are renamed over their destination (atomic).  A folder replaces an existing folder by
    renaming the old one aside, renaming the new one in and then deleting the old one, so
    ``dest`` always holds either the complete old or the complete new output.  Sources and
    destinations must be on the same file system (stage beside the destination).
    """
    for src, dest in items:
        if src.is_dir() and dest.is_dir() and not dest.is_symlink():
            trash = _sibling(dest, "old")
            os.rename(dest, trash)
            try:
                os.rename(src, dest)
            except BaseException:
                os.rename(trash, dest)
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(src, dest)


def ensure_output_folder(folder: Path) -> Path:
    """Create ``folder`` (its parent must exist); InputError when that is not possible."""
    if folder.exists() and not folder.is_dir():
        raise InputError("exists and is not a folder", path=folder,
                         hint="give a folder for the exports")
    if not folder.parent.is_dir():
        raise InputError("the folder above it does not exist", path=folder,
                         hint="create it first or choose another output folder")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder ({exc.strerror or exc})",
                         path=folder, hint="choose a folder you can write to") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError("cannot write here (permission denied)", path=folder,
                         hint="choose a folder you can write to")
    return folder


__all__ = ["check_replaceable", "ensure_output_folder", "parse_person_selection", "publish",
           "staging_folder"]
