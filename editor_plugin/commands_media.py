"""CLI for media derived from a clip: ``humanfx optimize`` (lossless all-intra optimized
media, :mod:`editor_plugin.optimized`) and ``humanfx proxy`` (the app's scrubbing proxy,
:mod:`editor_plugin.proxy`).  Both are found again by the clip's content hash, so a second run
only checks the file.  ``cli.build_parser`` calls :func:`register`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_optimize(args: argparse.Namespace) -> int:
    from editor_plugin.cli import _Progress
    from editor_plugin.optimized import build_optimized

    bar = _Progress("optimize", disable=args.quiet)
    try:
        path = build_optimized(args.clip, progress=bar)
    finally:
        bar.close()
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _cmd_proxy(args: argparse.Namespace) -> int:
    from editor_plugin.cli import _Progress
    from editor_plugin.proxy import build_proxy

    bar = _Progress("proxy", disable=args.quiet)
    try:
        path = build_proxy(args.clip, max_height=args.height, progress=bar)
    finally:
        bar.close()
    print(path if path is not None else f"{args.clip}: no proxy needed (not taller than "
          f"{args.height} rows)")
    return 0


def _height(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: the proxy needs at least 2 rows")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``optimize`` and ``proxy`` to the ``humanfx`` sub-commands."""
    s = subparsers.add_parser(
        "optimize", help="write the clip's optimized media (lossless, every frame a keyframe)",
        description="Copy the clip losslessly with every frame a keyframe (MagicYUV in the "
        "clip's pixel format, about 1.3 MB per 1080p frame) into the cache, so that any frame "
        "decodes on its own: the plugin server's render_frame then answers random frames as "
        "fast as the next one.  Frames read from the copy are bit-identical to the clip's.")
    s.add_argument("clip", type=Path)
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_optimize)

    s = subparsers.add_parser(
        "proxy", help="write the app's scrubbing proxy (all-intra MJPEG at preview size)",
        description="Write the all-intra, preview-size proxy the app scrubs on (the app builds "
        "it by itself when a clip opens; this does it ahead, e.g. for a batch of clips).")
    s.add_argument("clip", type=Path)
    s.add_argument("--height", type=_height, default=540, metavar="ROWS",
                   help="proxy height in rows (default 540)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_proxy)
