"""CLI for the NLE exports: ``humanfx export-mattes`` and the selection options of
``humanfx export-tracks`` (``--person``, ``--joint``, ``--smoothed``/``--raw``,
``--start-number``).

Kept out of :mod:`editor_plugin.cli` so the exports can grow without touching the core
commands; ``cli.build_parser`` calls :func:`register` and :func:`add_track_selection_options`.
Heavy modules are imported when a command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from editor_plugin.exports import parse_person_selection

MATTES_EPILOG = """\
outputs (in OUT):
  person-<ID>.mov | .mkv | person-<ID>/       one matte per person (ProRes 4444 / FFV1 / PNGs)
  id-matte.mov | .mkv | id-matte/, id-matte.json   with --id-matte: IDs and their legend

ProRes 4444 carries the matte as luma and as alpha (straight); FFV1 and PNG as grey.
Mattes have the clip's frame rate and frame times. See docs/nle-exports.md.
"""


def _persons(text: str) -> tuple[int, ...] | None:
    try:
        return parse_person_selection(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _start_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _range(text: str):
    from editor_plugin.render import FrameRange

    return FrameRange.parse(text)


def cmd_export_mattes(args: argparse.Namespace) -> int:
    from editor_plugin.cli import _Progress
    from editor_plugin.exports.mattes import MatteSpec, export_mattes
    from editor_plugin.media import Codec
    from editor_plugin.render import FrameRange
    from editor_plugin.session import ClipSession

    spec = MatteSpec(
        persons=args.person,
        codec=Codec(args.codec),
        bit_depth=args.bit_depth,
        start_number=args.start_number,
        id_matte=args.id_matte,
        frames=_range(args.range) if args.range else FrameRange(),
        refine=args.refine,
        layers=args.layers,
    )
    session = ClipSession(args.clip)
    bar = _Progress("mattes", disable=args.quiet)
    try:
        result = export_mattes(session, spec, args.output, progress=bar)
    finally:
        bar.close()
    for path in (*result.persons.values(), result.id_matte, result.legend):
        if path is not None:
            print(f"wrote {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export-mattes`` to the ``humanfx`` sub-commands."""
    s = subparsers.add_parser(
        "export-mattes", help="write per-person mattes (and an ID matte) for an NLE",
        description="Write each chosen person's matte as ProRes 4444 (luma + alpha), a PNG "
        "sequence (8- or 16-bit) or FFV1, frame-aligned with the clip, into the folder OUT. "
        "Nothing is written unless every output completes.",
        epilog=MATTES_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("clip", type=Path)
    s.add_argument("--person", type=_persons, required=True, metavar="ID[,ID]|all",
                   help="whose mattes to write")
    s.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                   help="output folder (created if missing)")
    s.add_argument("--codec", default="prores4444", choices=["prores4444", "png", "ffv1"],
                   help="prores4444 (default, .mov), png (a sequence per person) or ffv1 (.mkv)")
    s.add_argument("--bit-depth", type=int, default=8, choices=[8, 16],
                   help="8 (default) or 16 (PNG only: 16-bit grey)")
    s.add_argument("--start-number", type=_start_number, metavar="N",
                   help="number of the first PNG file, e.g. 1001 (default: the first frame's "
                   "index in the clip)")
    s.add_argument("--id-matte", action="store_true",
                   help="also write an ID matte (one value per person, nearer persons win) and "
                   "its legend id-matte.json")
    s.add_argument("--range", metavar="START:END", help="frame range (END exclusive)")
    s.add_argument("--refine", default="none", choices=["none", "feather"],
                   help="matte edge: none (default) = the masks exactly; feather = softened")
    s.add_argument("--layers", help="which cache (source name) to read; default the newest")
    s.set_defaults(func=cmd_export_mattes)


def add_track_selection_options(parser: argparse.ArgumentParser) -> None:
    """``--person``, ``--joint``, ``--smoothed``/``--raw`` and ``--start-number`` for
    ``humanfx export-tracks``."""
    parser.add_argument("--person", type=_persons, default=None, metavar="ID[,ID]|all",
                        help="whose tracks to export (default all)")
    parser.add_argument("--joint", default=None, metavar="NAME[,NAME]|all",
                        help="COCO joints for after-effects, nuke-chan, csv and json "
                        "(e.g. left_wrist; default all)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--smoothed", dest="smoothed", action="store_const", const=True,
                       default=None, help="temporally smoothed joints (and masks)")
    group.add_argument("--raw", dest="smoothed", action="store_const", const=False,
                       help="the raw analysis, never smoothed")
    parser.add_argument("--start-number", type=_start_number, default=None, metavar="N",
                        help="frame number of the clip's first frame in after-effects "
                        "(default 0) and nuke-chan (default 1) files")
