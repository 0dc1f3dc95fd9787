"""CLI commands for identity edits and smoothing: ``humanfx tracks ...`` and ``humanfx smooth``.

``humanfx tracks merge|split|swap|delete|rename|undo|redo|history CLIP ...`` edit the person
layers of the clip's newest complete cache (or the one ``--layers SOURCE`` names) in place,
through :class:`inference.cache.edits.TrackEditor`; every edit is logged in the cache and can be
undone and redone.

``humanfx smooth CLIP`` writes the smoothed layers into a NEW cache (source
``<source>.smooth``); the raw analysis stays as it is.  Being the newest, the smoothed cache is
what ``render``/``export-tracks`` use next, unless ``--layers SOURCE`` picks the raw one.  After
identity edits on the raw layers, run ``humanfx smooth`` again.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from inference.cache import LayerCache
from inference.cache.edits import Edit, TrackEditor
from inference.errors import InputError

_LAYERS_HELP = "which cache (source name) to edit; default the newest"


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _open_writable(args: argparse.Namespace) -> LayerCache:
    from editor_plugin.session import ClipSession

    session = ClipSession(args.clip)
    with session.layers(args.layers) as found:
        path = found.path
    return LayerCache.open(path, readonly=False)


def _report(cache: LayerCache, edit: Edit, verb: str = "") -> None:
    print(f"{verb}edit {edit.id}: {edit.summary}  [{cache.meta.source} layers]")


def cmd_tracks(args: argparse.Namespace) -> int:
    with _open_writable(args) as cache:
        editor = TrackEditor(cache)
        op = args.tracks_command
        if op == "merge":
            _report(cache, editor.merge(args.a, args.b, keep_first=args.keep_first))
        elif op == "split":
            new = editor.split(args.track, args.frame)
            _report(cache, editor.history()[-1])
            print(f"new person: {new}")
        elif op == "swap":
            _report(cache, editor.swap(args.a, args.b, args.from_frame))
        elif op == "delete":
            _report(cache, editor.delete(args.track))
        elif op == "rename":
            _report(cache, editor.rename(args.track, args.name))
        elif op == "undo":
            try:
                _report(cache, editor.undo(), "undid ")
            except InputError as exc:
                raise InputError(f"{exc.message} in the {cache.meta.source!r} layers",
                                 path=cache.path,
                                 hint="pick the cache you edited with --layers SOURCE") from None
        elif op == "redo":
            _report(cache, editor.redo(), "redid ")
        elif op == "history":
            edits = editor.history()
            if args.json:
                print(json.dumps([e.to_dict() for e in edits], indent=2))
            elif not edits:
                print(f"no edits in the {cache.meta.source!r} layers")
            else:
                for e in edits:
                    print(f"{e.id:>4}  {'(undone) ' if e.undone else ''}{e.summary}")
    return 0


def _smooth_source(session: Any, layers: str | None) -> str | None:
    """``layers``, or the source of the newest complete cache that is not smoothed itself."""
    from inference.smoothing import SMOOTH_SUFFIX

    if layers is not None:
        return layers
    for entry in session.layer_caches():
        if entry.complete and not entry.meta.source.endswith(SMOOTH_SUFFIX):
            return entry.meta.source
    return None  # session.layers() then reports that there are no layers


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def cmd_smooth(args: argparse.Namespace) -> int:
    from editor_plugin.cli import _Progress
    from editor_plugin.session import ClipSession
    from inference.smoothing import (
        KeypointSmoothing,
        MaskSmoothing,
        smooth_cache,
        stability_report,
    )

    session = ClipSession(args.clip)
    kp = None if args.no_keypoints else KeypointSmoothing(window=args.window,
                                                           polyorder=args.polyorder)
    masks = None if args.no_masks else MaskSmoothing(
        radius=args.mask_radius, sigma=args.mask_sigma, band=args.mask_band, align=args.align)
    bar = _Progress("smooth", unit="person", disable=args.quiet)
    try:
        with session.layers(_smooth_source(session, args.layers)) as raw:
            out = smooth_cache(raw, keypoints=kp, masks=masks, root=session.cache_root,
                               progress=bar)
            before = stability_report(raw.records())
    finally:
        bar.close()
    with LayerCache.open(out) as smoothed:
        after = stability_report(smoothed.records())
        print(f"smoothed {raw.meta.source!r} into {smoothed.meta.source!r} layers: {out}")
    print(f"keypoint jitter {_fmt(before['keypoint_jitter'])} -> "
          f"{_fmt(after['keypoint_jitter'])} px/frame^2, mask flicker "
          f"{_fmt(before['mask_flicker'])} -> {_fmt(after['mask_flicker'])}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``tracks`` and ``smooth`` to the ``humanfx`` sub-command parsers."""
    t = subparsers.add_parser(
        "tracks", help="fix identities: merge, split, swap, delete, rename (undoable)",
        description="Edit who is who in the clip's person layers. Every edit is saved in the "
        "layer cache with its previous state: `undo` and `redo` step through them, "
        "`history` lists them. Run `humanfx smooth` again after editing.")
    ts = t.add_subparsers(dest="tracks_command", metavar="EDIT", required=True)

    def edit_parser(name: str, help_text: str) -> argparse.ArgumentParser:
        s = ts.add_parser(name, help=help_text, description=help_text)
        s.add_argument("clip", type=Path)
        s.add_argument("--layers", help=_LAYERS_HELP)
        s.set_defaults(func=cmd_tracks)
        return s

    s = edit_parser("merge", "person B's records become person A's (B disappears)")
    s.add_argument("a", type=_whole, metavar="A")
    s.add_argument("b", type=_whole, metavar="B")
    s.add_argument("--keep-first", action="store_true",
                   help="on frames where both are present keep A's record (default: error)")
    s = edit_parser("split", "from FRAME on, TRACK's records become a new person")
    s.add_argument("track", type=_whole, metavar="TRACK")
    s.add_argument("frame", type=_whole, metavar="FRAME")
    s = edit_parser("swap", "exchange persons A and B from a frame on")
    s.add_argument("a", type=_whole, metavar="A")
    s.add_argument("b", type=_whole, metavar="B")
    s.add_argument("--from", dest="from_frame", type=_whole, default=0, metavar="FRAME",
                   help="first frame to swap (default 0: the whole clip)")
    s = edit_parser("delete", "remove a person and all its records")
    s.add_argument("track", type=_whole, metavar="TRACK")
    s = edit_parser("rename", "name a person ('' clears the name)")
    s.add_argument("track", type=_whole, metavar="TRACK")
    s.add_argument("name", metavar="NAME")
    edit_parser("undo", "undo the latest edit")
    edit_parser("redo", "redo the latest undone edit")
    s = edit_parser("history", "list the edits (undone ones marked)")
    s.add_argument("--json", action="store_true", help="machine-readable output")

    s = subparsers.add_parser(
        "smooth", help="smooth keypoints and steady masks into a new layer cache",
        description="Zero-phase Savitzky-Golay smoothing of every joint (per run of labelled "
        "frames; visibility kept) and motion-aligned, edge-preserving temporal voting of the "
        "masks. Writes a NEW cache whose source is '<source>.smooth' (the raw layers are "
        "kept; pick them with --layers SOURCE) and prints jitter and flicker before/after.")
    s.add_argument("clip", type=Path)
    s.add_argument("--layers", help="which cache (source name) to smooth; default the newest "
                   "unsmoothed one")
    s.add_argument("--window", type=_whole, default=9,
                   help="keypoint window in frames, odd (default 9)")
    s.add_argument("--polyorder", type=_whole, default=2,
                   help="keypoint polynomial degree (default 2)")
    s.add_argument("--mask-radius", type=_whole, default=2,
                   help="mask frames voting on each side (default 2)")
    s.add_argument("--mask-sigma", type=float, default=1.0,
                   help="temporal Gaussian of the mask vote, frames (default 1)")
    s.add_argument("--mask-band", type=float, default=2.0,
                   help="boundary disagreement (pixels) still treated as noise (default 2)")
    s.add_argument("--align", default="pose", choices=["pose", "centroid", "none"],
                   help="how neighbouring masks are aligned (default pose: by the joints)")
    s.add_argument("--no-keypoints", action="store_true", help="leave keypoints as they are")
    s.add_argument("--no-masks", action="store_true", help="leave masks as they are")
    s.set_defaults(func=cmd_smooth)
