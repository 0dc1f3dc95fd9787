"""CLI for ``humanfx export-otio`` and ``humanfx batch``.

``cli.build_parser`` calls :func:`register`; heavy modules are imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BATCH_EPILOG = """\
render farm:
  humanfx batch jobs.json --chunk 1/3      # on worker 1 (2/3, 3/3 on the others)
  humanfx batch jobs.json --join           # once, after all chunks: join + mattes/exports
A plain `humanfx batch jobs.json` does everything, skipping what is already done.
See docs/batch.md for the manifest.
"""


def _chunk(text: str) -> tuple[int, int]:
    from editor_plugin.batch import parse_chunk

    try:
        return parse_chunk(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_export_otio(args: argparse.Namespace) -> int:
    from editor_plugin.exports.otio import export_otio
    from editor_plugin.session import ClipSession

    out = export_otio(ClipSession(args.clip), args.output, render=args.render,
                      mattes_dir=args.mattes, layers=args.layers)
    print(f"wrote {out}")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from editor_plugin.batch import load_manifest, run_batch

    summary = run_batch(load_manifest(args.manifest), chunk=args.chunk, join=args.join,
                        summary_path=args.summary)
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.table())
    return 1 if summary.failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export-otio`` and ``batch`` to the ``humanfx`` sub-commands."""
    s = subparsers.add_parser(
        "export-otio", help="write an OpenTimelineIO timeline of a clip, render and mattes",
        description="Source clip on V1, the render (--render) on V2, one track per person "
        "matte (--mattes, a folder from export-mattes), the source audio on A1; metadata "
        "under 'humanfx' names the layer cache, the clip's content hash and the persons.")
    s.add_argument("clip", type=Path)
    s.add_argument("-o", "--output", type=Path, required=True, help="timeline file (.otio)")
    s.add_argument("--render", type=Path, help="a composited render of the clip")
    s.add_argument("--mattes", type=Path, metavar="DIR", help="folder of person mattes")
    s.add_argument("--layers", help="which cache (source name) to name; default the newest")
    s.set_defaults(func=cmd_export_otio)

    s = subparsers.add_parser(
        "batch", help="process a manifest of clips (import, render, mattes, exports)",
        description="Run each job of MANIFEST.json in turn, skipping steps already done; a "
        "failing job is logged and the others go on (exit code 1 if any failed).",
        epilog=BATCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("manifest", type=Path, metavar="MANIFEST.json")
    group = s.add_mutually_exclusive_group()
    group.add_argument("--chunk", type=_chunk, metavar="i/N",
                       help="render only chunk i of N (1-based) of every render")
    group.add_argument("--join", action="store_true",
                       help="join rendered chunks (never render a missing one) and finish")
    s.add_argument("--summary", type=Path, help="summary JSON (default in the output folder)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_batch)
