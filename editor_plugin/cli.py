"""The ``humanfx`` command line.

Every sub-command is a thin layer over :mod:`editor_plugin`'s API.  Exit codes: 0 on success,
1 on a user-facing error (one line on stderr: ``humanfx: error: ...``), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from tqdm import tqdm

from editor_plugin import (
    commands_batch,
    commands_export,
    commands_media,
    commands_models,
    commands_serve,
    commands_tracks,
)
from inference.errors import CancelledError, HumanfxError, InputError

log = logging.getLogger("humanfx")

EPILOG = """\
typical session:
  humanfx synth demo/ --people 3 --frames 96           # a synthetic clip + its ground truth
  humanfx import demo/clip.mp4 demo/clip.tracks.json   # person layers into the cache
  humanfx persons demo/clip.mp4                        # who is in it
  humanfx render demo/clip.mp4 -o out.mp4 --person 1 --background blur:25
"""


class _Progress:
    """tqdm progress bar as a ``progress(done, total)`` callback."""

    def __init__(self, desc: str, unit: str = "frame", disable: bool = False):
        self._bar: tqdm | None = None
        self._desc, self._unit, self._disable = desc, unit, disable

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = tqdm(total=total, desc=self._desc, unit=self._unit,
                             disable=self._disable, leave=False, file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def progress_bars(quiet: bool = False) -> Callable[[str], _Progress]:
    """``desc -> progress(done, total)`` factory of tqdm bars on stderr (off when ``quiet``)."""
    return lambda desc: _Progress(desc, disable=quiet)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w < 16 or h < 16:
            raise ValueError
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use WxH, e.g. 640x360 (min 16x16)")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return v


def _person_ids(text: str) -> list[int]:
    try:
        ids = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad person list {text!r}: use ID or ID,ID (numbers)")
    if not ids:
        raise argparse.ArgumentTypeError("empty person list")
    return ids


def _fps(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"bad frame rate {text!r}: use e.g. 24, 25 or 30000/1001")
    if value <= 0:
        raise argparse.ArgumentTypeError("frame rate must be positive")
    return value


# -- commands ---------------------------------------------------------------------------------

def cmd_synth(args: argparse.Namespace) -> int:
    from editor_plugin.synth_io import write_synthetic_clip
    from inference.synth import SynthConfig

    w, h = args.size
    cfg = SynthConfig(people=args.people, frames=args.frames, width=w, height=h, fps=args.fps,
                      seed=args.seed)
    bar = _Progress("synth", disable=args.quiet)
    try:
        clip, tracks = write_synthetic_clip(args.out_dir, cfg, codec=args.codec, progress=bar)
    finally:
        bar.close()
    print(f"wrote {clip}\nwrote {tracks}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from editor_plugin.session import ClipSession

    session = ClipSession(args.clip)
    result = session.import_tracks(args.tracks)
    print(f"imported {result.tracks} persons, {result.annotations} person-frames "
          f"({result.frames_with_people} frames with people) into {result.cache_path}")
    return 0


def cmd_persons(args: argparse.Namespace) -> int:
    from editor_plugin.session import ClipSession

    session = ClipSession(args.clip)
    persons = session.persons(args.layers)
    if args.json:
        import json

        print(json.dumps([p.to_dict() for p in persons], indent=2))
        return 0
    if not persons:
        print("nobody was found in this clip")
        return 0
    n = session.info.frame_count
    print(f"{'id':>4}  {'name':<16} {'frames':<13} {'present':>7}  coverage")
    for p in persons:
        span = f"{p.first_frame}-{p.last_frame}"
        print(f"{p.id:>4}  {(p.name or '')[:16]:<16} {span:<13} {p.frames_present:>7}  "
              f"{100.0 * p.frames_present / max(1, n):5.1f}%")
    return 0


def _matte_flags(args: argparse.Namespace) -> dict:
    """The matte flags given on the command line, checked: ``refine``, ``feather_px``,
    ``expand_px``, ``temporal`` (keys of :class:`~editor_plugin.project.MatteSettings`).
    A bad value raises :class:`InputError` (one line)."""
    from effects.refine import REFINE_MODES, TEMPORAL_MODES

    out: dict = {}
    for flag, key, modes in (("--refine", "refine", REFINE_MODES),
                             ("--temporal", "temporal", TEMPORAL_MODES)):
        value = getattr(args, key)
        if value is not None:
            if value not in modes:
                raise InputError(f"{flag} {value!r} is not a choice",
                                 hint=f"use one of {', '.join(modes)}")
            out[key] = value
    for flag, key, lo, hi in (("--feather", "feather", 0.0, 100.0),
                              ("--expand", "expand", -100.0, 100.0)):
        text = getattr(args, key)
        if text is None:
            continue
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not lo <= value <= hi:  # NaN fails too
            raise InputError(f"{flag} {text!r} is not a number of pixels in {lo:g}..{hi:g}",
                             hint=f"e.g. {flag} 2" + (" (negative chokes)" if lo < 0 else ""))
        out[f"{key}_px"] = value
    return out


def _person_background_flags(args: argparse.Namespace) -> dict:
    """``--person-background`` (``person_backgrounds``: id -> background), ``--background-seam``
    (``seam_px``) and ``--background-reach`` (``reach_px``) as given, checked (InputError)."""
    from effects.partition import check_reach, check_seam, parse_person_background

    out: dict = {}
    for text in args.person_background or ():
        tid, bg = parse_person_background(text)
        if tid in out.setdefault("person_backgrounds", {}):
            raise InputError(f"--person-background: person {tid} is given twice")
        out["person_backgrounds"][tid] = bg
    for flag, key, check in (("--background-seam", "seam", check_seam),
                             ("--background-reach", "reach", check_reach)):
        text = getattr(args, f"background_{key}")
        if text is not None:
            try:
                out[f"{key}_px"] = check(float(text), flag)
            except ValueError:
                raise InputError(f"{flag} {text!r} is not a number of pixels") from None
    return out


def cmd_render(args: argparse.Namespace) -> int:
    import dataclasses

    from editor_plugin.media import Codec
    from editor_plugin.render import FrameRange, RenderSpec, render, render_project
    from editor_plugin.session import ClipSession
    from effects.backgrounds import parse_background

    matte_flags = _matte_flags(args)
    bg_flags = _person_background_flags(args)
    session = ClipSession(args.clip)
    frames = FrameRange.parse(args.range) if args.range else FrameRange()
    bar = _Progress("render", disable=args.quiet)
    if args.project is not None:
        from editor_plugin.project import Project

        project = Project.load(args.project)
        if project.clip.resolve() != session.path.resolve():
            log.warning("rendering %s with project %s, which was made for %s",
                        session.path, args.project, project.clip)
        changes: dict = {"clip": session.path}
        if args.person is not None:
            changes["selected"] = tuple(args.person)
        if args.background is not None:
            changes["background"] = parse_background(args.background)
        if matte_flags:
            changes["matte"] = dataclasses.replace(project.matte, **matte_flags)
        if args.layers is not None:
            changes["layers"] = args.layers
        if "person_backgrounds" in bg_flags:
            changes["backgrounds"] = {**dict(project.backgrounds), **bg_flags["person_backgrounds"]}
        for key in ("seam_px", "reach_px"):
            if key in bg_flags:
                changes[f"background_{key}"] = bg_flags[key]
        project = project.replace(**changes)
        try:
            out = render_project(session, project, args.output, codec=Codec(args.codec),
                                 frames=frames, audio=not args.no_audio, quality=args.quality,
                                 progress=bar)
        finally:
            bar.close()
        print(f"wrote {out}")
        return 0
    for flag, value in (("--person", args.person), ("--background", args.background)):
        if value is None:
            raise InputError(f"{flag} is required", hint="pass it, or --project P.json")
    spec = RenderSpec(
        persons=tuple(args.person),
        background=parse_background(args.background),
        codec=Codec(args.codec),
        frames=frames,
        audio=not args.no_audio,
        layers=args.layers,
        quality=args.quality,
        **{"refine": "feather", **matte_flags, **bg_flags},
    )
    try:
        out = render(session, spec, args.output, progress=bar)
    finally:
        bar.close()
    print(f"wrote {out}")
    return 0


def cmd_export_tracks(args: argparse.Namespace) -> int:
    from editor_plugin.session import ClipSession

    session = ClipSession(args.clip)
    out = session.export_tracks(args.output, args.format, source=args.layers,
                                persons=args.person, joints=args.joint, smoothed=args.smoothed,
                                start_number=args.start_number)
    print(f"wrote {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from editor_plugin.demo import run_demo

    result = run_demo(Path(args.out),
                      progress_factory=progress_bars(args.quiet))
    how = ("analyzed by the seed networks" if result.source == "seed"
           else "ground-truth layers imported")
    print(f"demo written to {result.out_dir} ({result.clip.name}, {how}); "
          f"open it with `humanfx {result.clip}`")
    return 0


def cmd_track(args: argparse.Namespace) -> int:
    from inference.tracking import track_mot

    result = track_mot(args.detections, args.output)
    ids = {p.track_id for persons in result.values() for p in persons}
    print(f"tracked {len(ids)} persons over {len(result)} frames; wrote {args.output}")
    return 0


_COUNT_METRICS = {"id_switches", "false_positives", "misses", "fragmentations", "mostly_tracked",
                  "partially_tracked", "mostly_lost", "gt_boxes", "pred_boxes"}


def cmd_eval(args: argparse.Namespace) -> int:
    import json
    import math

    from inference.metrics import METRIC_DESCRIPTIONS, evaluate
    from inference.tracks.io import load_tracks

    scores = evaluate(load_tracks(args.pred), load_tracks(args.gt),
                      dilation_ratio=args.dilation_ratio)
    if args.json:
        print(json.dumps({k: (None if math.isnan(v) else v) for k, v in scores.items()}, indent=2))
        return 0
    width = max(len(k) for k in scores)
    for key, value in scores.items():
        if math.isnan(value):
            shown = "n/a"
        elif key in _COUNT_METRICS:
            shown = str(int(value))
        else:
            shown = f"{value:.4f}"
        print(f"{key:<{width}}  {shown:>10}  {METRIC_DESCRIPTIONS.get(key, '')}")
    return 0


# -- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="humanfx",
        description="Find and track every person in a clip, cache them as per-person layers, "
        "swap the background behind chosen people and export.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("synth", help="write a synthetic clip with ground-truth tracks",
                       description="Procedural people walking, gesturing and crossing on a moving "
                       "textured background, with an audio track; writes CLIP and "
                       "CLIP.tracks.json (COCO-video). Deterministic per --seed.")
    s.add_argument("out_dir", type=Path, help="folder to write into (created if missing)")
    s.add_argument("--people", type=_positive_int, default=3, help="number of people (default 3)")
    s.add_argument("--frames", type=_positive_int, default=48, help="clip length in frames (48)")
    s.add_argument("--size", type=_size, default=(640, 360), help="WxH (default 640x360)")
    s.add_argument("--fps", type=_fps, default=Fraction(24), help="frame rate (24; 30000/1001 ok)")
    s.add_argument("--seed", type=int, default=0, help="random seed (0)")
    s.add_argument("--codec", default="h264", choices=["h264", "ffv1"],
                   help="h264 (clip.mp4, default) or ffv1 (lossless clip.mkv)")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("import", help="import tracks (COCO-video, YouTube-VIS, PoseTrack) for a clip",
                       description="Read a tracks file into the clip's person-layer cache. The "
                       "format is detected from the content. The file must match the clip's "
                       "frame size and frame count.")
    s.add_argument("clip", type=Path)
    s.add_argument("tracks", type=Path)
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("persons", help="list the persons of a clip",
                       description="Ids, frame ranges and coverage of each tracked person.")
    s.add_argument("clip", type=Path)
    s.add_argument("--layers", help="which cache (source name) to read; default the newest")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_persons)

    s = sub.add_parser("render", help="swap the background behind chosen persons and export",
                       description="Composite the selected persons over a new background and "
                       "write a video (or PNG sequence). Audio is kept.",
                       epilog="backgrounds:\n  color:#RRGGBB        solid colour\n"
                       "  image:PATH[:fit|fill|tile] a picture (fill by default)\n"
                       "  blur:RADIUS          the original, blurred (pixels)\n"
                       "  video:PATH[:fit|fill] another video, looped and time-synced\n"
                       "  desaturate[:AMOUNT]  the original in grey (0..1)\n"
                       "  pixelate:BLOCK       mosaic of the original (pixels)\n"
                       "  dim:AMOUNT           the original, darkened (0..1)\n"
                       "  vignette:STRENGTH    the original, darker towards the corners\n"
                       "  colorkey:#RRGGBB[:TOL] grey except hues near the key colour",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("clip", type=Path)
    s.add_argument("-o", "--output", type=Path, required=True,
                   help="output file (.mp4/.mov/.mkv) or folder for --codec png")
    s.add_argument("--project", type=Path, metavar="P.json",
                   help="render a project file (background, matte, effects); the flags below "
                   "override its settings")
    s.add_argument("--person", type=_person_ids, help="ID or ID,ID (required without --project)")
    s.add_argument("--background", help="see 'backgrounds' below (required without --project)")
    s.add_argument("--person-background", action="append", metavar="ID=BACKGROUND",
                   help="a background of person ID's own, shown around them (nearest person "
                   "wins, soft seam); BACKGROUND as below or 'original'; repeatable")
    s.add_argument("--background-seam", metavar="PX",
                   help="width of the blend between persons' backgrounds (default 24)")
    s.add_argument("--background-reach", metavar="PX",
                   help="show --background beyond PX pixels from every person (default: "
                   "each pixel goes to its nearest person)")
    s.add_argument("--codec", default="h264", choices=["h264", "hevc", "prores4444", "ffv1", "png"])
    s.add_argument("--range", help="START:END frame range (END exclusive)")
    s.add_argument("--refine", metavar="none|feather|guided",
                   help="matte edge: none = hard matte exactly as given; feather = Gaussian "
                   "(default, or the project's); guided = feather, then a guided filter that "
                   "follows the picture's edges")
    s.add_argument("--feather", metavar="PX",
                   help="feather sigma in pixels, 0..100 (default 1.5, or the project's)")
    s.add_argument("--expand", metavar="PX",
                   help="grow the matte by PX pixels before softening; negative chokes it "
                   "(-100..100, default 0)")
    s.add_argument("--temporal", metavar="off|ema|median3",
                   help="matte stabilisation across frames: off (default), ema (blend with the "
                   "previous matte) or median3 (median of the last three)")
    s.add_argument("--quality", type=int, help="codec quality (H.264/HEVC CRF; lower is better)")
    s.add_argument("--no-audio", action="store_true", help="drop the audio")
    s.add_argument("--layers", help="which cache (source name) to use; default the newest")
    s.set_defaults(func=cmd_render)

    s = sub.add_parser("export-tracks", help="write the clip's tracks to a file",
                       description="Write the person layers of a clip as a tracks file.")
    s.add_argument("clip", type=Path)
    s.add_argument("--format", default="cocovideo",
                   choices=["cocovideo", "youtube-vis", "posetrack", "mot", "after-effects",
                            "nuke-chan", "csv", "json"])
    s.add_argument("-o", "--output", type=Path, required=True)
    s.add_argument("--layers", help="which cache (source name) to read; default the newest")
    from editor_plugin.commands_export import add_track_selection_options
    add_track_selection_options(s)
    s.set_defaults(func=cmd_export_tracks)

    s = sub.add_parser("track", help="track external detections (MOTChallenge in and out)",
                       description="Run humanfx's person tracker alone on a detector's output: "
                       "MOTChallenge det.txt rows `frame,-1,x,y,w,h,score,...` (1-based frames) "
                       "in, MOTChallenge results `frame,id,x,y,w,h,1,-1,-1,-1` out.")
    s.add_argument("--detections", type=Path, required=True, help="det.txt")
    s.add_argument("--format", default="mot", choices=["mot"], help="detections format (mot)")
    s.add_argument("-o", "--output", type=Path, required=True, help="results file to write")
    s.set_defaults(func=cmd_track)

    s = sub.add_parser("eval", help="score predicted tracks against ground truth",
                       description="Temporal mask AP (TMIoU) and temporal boundary AP (TBIoU) as "
                       "in the design paper, sMOTSA, COCO keypoint AP, MOTA/IDF1 — whatever both "
                       "files support. Both are tracks files (COCO-video, YouTube-VIS, PoseTrack).")
    s.add_argument("pred", type=Path)
    s.add_argument("gt", type=Path)
    s.add_argument("--dilation-ratio", type=float, default=0.01,
                   help="boundary band width as a fraction of the image diagonal (0.01)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_eval)

    # Command groups kept in their own modules (each imports its heavy parts lazily).
    for module in (commands_export, commands_media, commands_models, commands_tracks,
                   commands_serve, commands_batch):
        module.register(sub)
    s = sub.add_parser("demo", help="synthesize a clip, analyze it with the seed networks and "
                       "open it in the app (headless: render background swaps)",
                       description="Runs offline: writes a synthetic clip, analyzes it with the "
                       "seed's networks shipped in assets/weights, then opens the app on it "
                       "when a display is available, else renders background swaps into --out.")
    s.add_argument("--out", default="humanfx-demo", help="output folder (humanfx-demo)")
    s.add_argument("--no-app", action="store_true",
                   help="do not open the app; render background swaps instead")
    s.set_defaults(func=cmd_demo)
    return p


def command_names() -> list[str]:
    """Names of the headless sub-commands (the launcher opens the app for anything else)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("humanfx: interrupted; nothing partial was kept", file=sys.stderr)
        return 130
    except CancelledError as exc:
        print(f"humanfx: {exc}", file=sys.stderr)
        return 130
    except (HumanfxError, InputError) as exc:
        print(f"humanfx: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"humanfx: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
