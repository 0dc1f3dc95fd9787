"""CLI commands ``humanfx analyze`` and ``humanfx models list|download|import|verify``.

:func:`register` adds them to ``humanfx``'s sub-command parser.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from inference.errors import CancelledError, HumanfxError, InputError


class _Bar:
    """tqdm progress bar as a ``progress(done, total)`` callback."""

    def __init__(self, desc: str, disable: bool):
        self._bar: tqdm | None = None
        self._desc, self._disable = desc, disable

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = tqdm(total=total, desc=self._desc, unit="frame", disable=self._disable,
                             leave=False, file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return v


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return v


def _frame_range(text: str) -> tuple[int, int | None]:
    try:
        a, b = text.split(":")
        return int(a) if a.strip() else 0, int(b) if b.strip() else None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad range {text!r}: use START:END in frame numbers, e.g. 0:120") from None


# -- analyze --------------------------------------------------------------------------------------

def cmd_analyze(args: argparse.Namespace) -> int:
    from editor_plugin.analyze import AnalyzeOptions, analyze_clip
    from editor_plugin.session import ClipSession
    from inference.models.rcnn import RCNNSettings
    from inference.models.weights import Weights

    slots = {"keypoint": args.keypoint_weights, "mask": args.mask_weights,
             "pose": args.pose_weights, "segmenter": args.segmenter_weights}
    given = {k: v for k, v in slots.items() if v is not None}
    applies = {"rcnn": ("keypoint", "mask", "segmenter"), "seed": ("pose", "segmenter")}
    wrong = [k for k in given if k not in applies.get(args.model, ())]
    if wrong:
        raise InputError(f"--{wrong[0]}-weights does not apply to --model {args.model}",
                         hint="rcnn takes --keypoint/--mask-weights (or --segmenter-weights "
                              "for the Local Segmenter as its mask stage), seed --pose/"
                              "--segmenter-weights")
    if args.model == "rcnn" and "mask" in given and "segmenter" in given:
        raise InputError("give --mask-weights or --segmenter-weights, not both",
                         hint="the R-CNN's masks come from Mask R-CNN or the Local Segmenter")
    formats = {"pose": "humanfx.pose_tracker", "segmenter": "humanfx.local_segmenter"}
    weights: dict[str, Any] = {k: Weights.local(v, format=formats.get(k))
                               for k, v in given.items()}
    defaults = RCNNSettings()
    rcnn = RCNNSettings(
        min_score=defaults.min_score if args.min_score is None else args.min_score,
        max_persons=args.max_persons or defaults.max_persons,
        proposals=args.rcnn_proposals, mask_boxes=args.rcnn_mask_boxes)
    options = AnalyzeOptions(model=args.model, device=args.device,
                             keyframe_every=args.keyframe_every, batch_size=args.batch,
                             process_size=args.rcnn_size, frames=args.range, rcnn=rcnn,
                             weights=weights, parallel_networks=args.parallel_networks,
                             show_download=not args.quiet)
    session = ClipSession(args.clip)
    bar = _Bar("analyze", disable=args.quiet)
    try:
        result = analyze_clip(session, options, progress=bar)
    except KeyboardInterrupt:
        raise CancelledError("interrupted; the frames analysed so far are saved", path=args.clip,
                             hint="run the same command again to continue") from None
    finally:
        bar.close()
    if result.reused:
        print(f"already analysed: {result.persons} persons ({result.cache_path})")
        return 0
    work = (f"{result.frames_detected} detected, {result.frames_carried} carried by optical "
            f"flow, {result.frames_replayed} replayed")
    print(f"analysed {session.path.name} on {result.device} at "
          f"{result.process_size[0]}x{result.process_size[1]} ({work}) in "
          f"{result.seconds:.1f} s")
    if not result.complete:
        print(f"part of the clip is analysed ({result.persons} persons so far); run without "
              f"--range to finish it: {result.cache_path}")
    elif result.persons == 0:
        print(f"nobody was found in this clip; the (empty) analysis is complete: "
              f"{result.cache_path}")
    else:
        print(f"{result.persons} persons: {result.cache_path}")
    return 0


# -- models ---------------------------------------------------------------------------------------

def _entry_status(w: Any) -> tuple[str, Path | None]:
    from inference.models.weights import ASSETS_DIR, cache_location, find_file

    path = find_file(w)
    if path is not None:
        return "present", path
    if w.url is not None:
        return "not downloaded", cache_location(w)
    if w.bundled:
        return "not shipped yet", ASSETS_DIR / w.filename
    return w.note or "unavailable", None


def cmd_models_list(args: argparse.Namespace) -> int:
    from inference.models.registry import get_model_weights, list_models, model_entry

    rows = []
    for name in list_models():
        enum_cls = get_model_weights(name)
        default = enum_cls.DEFAULT if "DEFAULT" in enum_cls.__members__ else None
        for w in enum_cls:
            status, path = _entry_status(w)
            rows.append({"model": name, "description": model_entry(name).description,
                         "weights": w.full_name, "default": w is default, "status": status,
                         "path": None if path is None else str(path), "url": w.url,
                         "sha256": w.sha256, "hash_is_prefix": w.hash_is_prefix,
                         "note": w.note})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    last = None
    for r in rows:
        if r["model"] != last:
            print(f"{r['model']}: {r['description']}")
            last = r["model"]
        mark = " (default)" if r["default"] else ""
        sha = "" if r["sha256"] is None else \
            f", sha256 {'prefix ' if r['hash_is_prefix'] else ''}{r['sha256']}"
        where = f" {r['path']}" if r["path"] else ""
        print(f"  {r['weights']}{mark}: {r['status']}{where}{sha}")
        if r["note"] and r["status"] != r["note"]:
            print(f"      {r['note']}")
    return 0


def _named_weights(name: str) -> list[Any]:
    from inference.models.registry import get_model_weights, list_models
    from inference.models.weights import all_weights, weights_by_name

    if name == "all":
        return [w for w in all_weights() if w.url is not None]
    if name in list_models():
        return [get_model_weights(name).DEFAULT]
    return [weights_by_name(name)]


def cmd_models_download(args: argparse.Namespace) -> int:
    from inference.models.weights import download

    for w in _named_weights(args.name):
        path = download(w, progress=not args.quiet, force=args.force)
        print(f"{w.full_name}: {path}")
    return 0


def cmd_models_import(args: argparse.Namespace) -> int:
    from inference.models.weights import import_file

    entry, dest = import_file(args.path, args.name)
    print(f"imported {args.path} as {entry.full_name}: {dest}")
    return 0


def cmd_models_verify(args: argparse.Namespace) -> int:
    from inference.models.weights import all_weights, find_file, verify_file

    entries = [w for n in args.names for w in _named_weights(n)] if args.names else \
        list(all_weights())
    failed = checked = 0
    for w in entries:
        path = find_file(w)
        if path is None:
            if args.names:
                print(f"{w.full_name}: no file ({_entry_status(w)[0]})")
            continue
        checked += 1
        try:
            digest = verify_file(path, w, rehash=True)
        except HumanfxError as exc:
            failed += 1
            print(f"{w.full_name}: FAILED: {exc}")
            continue
        how = f"sha256 {digest[:16]}..." if w.sha256 is not None else "loads as " + \
            (w.format or "a state dict")
        print(f"{w.full_name}: ok ({how}) {path}")
    if checked == 0:
        print("no weights files to verify")
    if failed:
        raise HumanfxError(f"{failed} weights file(s) failed verification",
                           hint="delete them and download or import them again")
    return 0


# -- parser ---------------------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:
    """Add ``analyze`` and ``models`` to ``humanfx``'s sub-commands."""
    from inference.analysis import DEVICE_CHOICES, MASK_BOXES_CHOICES, MODEL_CHOICES

    s = sub.add_parser(
        "analyze", help="find and track every person of a clip into its layer cache",
        description="Detect people (boxes, 17 joints, masks), track them with stable ids and "
        "store them as person layers. Resumable: re-running continues from the last saved "
        "frame; a finished analysis is reused. On the CPU the detector runs on every 5th frame "
        "at reduced resolution and optical flow carries its results in between; on a GPU every "
        "frame is detected. The CPU defaults (inference/analysis/device.py) aim at 3 frames/s "
        "at 720p on two cores; every option below overrides one.")
    s.add_argument("clip", type=Path)
    s.add_argument("--model", default="rcnn", choices=MODEL_CHOICES,
                   help="rcnn: torchvision Keypoint + Mask R-CNN (default); seed: the seed's "
                        "pose tracker + segmenter (needs their weights)")
    s.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                   help="auto (default): a GPU when there is one")
    s.add_argument("--keyframe-every", type=_count, metavar="N",
                   help="detect every N-th frame, optical flow in between (default 5 on the "
                        "CPU, 1 on a GPU)")
    s.add_argument("--batch", type=_count, metavar="N",
                   help="frames per detector call (default 1 on the CPU, 8 on a GPU)")
    s.add_argument("--range", type=_frame_range, metavar="START:END",
                   help="analyse only these frames (END exclusive); later runs add the rest")
    s.add_argument("--rcnn-size", "--process-size", dest="rcnn_size", type=_count, metavar="PX",
                   help="shorter side of the analysis resolution (default 448 on the CPU, 800 "
                        "on a GPU); smaller is faster and finds fewer small people")
    s.add_argument("--min-score", type=_fraction, metavar="S",
                   help="R-CNN person score threshold (default 0.2)")
    s.add_argument("--max-persons", type=_count, metavar="N",
                   help="at most N detections per frame (default 50)")
    s.add_argument("--rcnn-proposals", type=_count, metavar="N",
                   help="R-CNN region proposals per frame (default 300 on the CPU, 1000 on a "
                        "GPU; fewer is faster and may miss people in crowds)")
    s.add_argument("--rcnn-mask-boxes", choices=MASK_BOXES_CHOICES,
                   help="pose: Mask R-CNN's mask head on the Keypoint R-CNN's boxes (default "
                        "on the CPU: skips about half of Mask R-CNN's compute); own: Mask "
                        "R-CNN's own detections paired with the poses, keeping persons only it "
                        "finds (default on a GPU)")
    s.add_argument("--parallel-networks", action=argparse.BooleanOptionalAction, default=None,
                   help="run the Keypoint and Mask R-CNN at the same time, the CPU threads "
                        "split between them (default on the CPU, not on a GPU)")
    for slot, what in (("keypoint", "Keypoint R-CNN"), ("mask", "Mask R-CNN v2"),
                       ("pose", "seed pose tracker"), ("segmenter", "seed segmenter")):
        s.add_argument(f"--{slot}-weights", type=Path, metavar="PATH",
                       help=f"use this {what} weights file instead of the registered one")
    s.set_defaults(func=cmd_analyze)

    m = sub.add_parser("models", help="list, download, import or verify model weights",
                       description="Weights live in the torch hub cache "
                       "($TORCH_HOME/hub/checkpoints). Offline machines: download on a "
                       "connected one, copy the file over and `humanfx models import` it.")
    msub = m.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    a = msub.add_parser("list", help="the models and the state of their weights")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(func=cmd_models_list)
    a = msub.add_parser("download", help="download weights (a model's default, ENUM.MEMBER, "
                        "or all)")
    a.add_argument("name", help="model name, weights name (e.g. "
                   "KeypointRCNN_ResNet50_FPN_Weights.COCO_V1) or 'all'")
    a.add_argument("--force", action="store_true", help="download again even if present")
    a.set_defaults(func=cmd_models_download)
    a = msub.add_parser("import", help="copy a weights file into the cache after checking it")
    a.add_argument("path", type=Path)
    a.add_argument("--name", metavar="ENUM.MEMBER",
                   help="the slot it is for (required for weights without a published hash, "
                        "such as the seed's networks)")
    a.set_defaults(func=cmd_models_import)
    a = msub.add_parser("verify", help="re-hash the weights files present")
    a.add_argument("names", nargs="*", metavar="NAME", help="only these (default: all)")
    a.set_defaults(func=cmd_models_verify)


__all__ = ["cmd_analyze", "cmd_models_download", "cmd_models_import", "cmd_models_list",
           "cmd_models_verify", "register"]
