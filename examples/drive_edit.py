"""Drive a whole humanfx edit through the plugin server, as an editor plugin would.

    python examples/drive_edit.py WORKDIR [--clip CLIP --tracks TRACKS.json]

Without ``--clip`` a small synthetic clip (and its ground-truth tracks) is written into
WORKDIR first.  The script starts ``humanfx serve --stdio`` with WORKDIR (and the clip's
folder) as allowed roots, then: opens the clip, imports the tracks, lists the persons, names
one, swaps the background behind them, previews one frame as a PNG and exports the clip with
progress.  See docs/server.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from editor_plugin.client import HumanfxClient, ServerError


def progress(method: str, params: dict) -> None:
    if method == "progress":
        print(f"\r  {params['job_id']}: {params['done']}/{params['total']} frames", end="",
              file=sys.stderr, flush=True)
    elif method == "job_finished":
        print(f"\n  {params['job_id']}: {params['state']}", file=sys.stderr)


def drive(workdir: Path, clip: Path, tracks: Path) -> Path:
    roots = sorted({workdir.resolve(), clip.resolve().parent, tracks.resolve().parent})
    with HumanfxClient.spawn_stdio(roots=roots, on_notification=progress) as server:
        opened = server.call("open_clip", path=str(clip.resolve()))
        clip_id, info = opened["clip_id"], opened["info"]
        print(f"opened {info['name']}: {info['width']}x{info['height']}, "
              f"{info['frame_count']} frames at {info['fps']} fps")

        imported = server.call("import_tracks", clip_id=clip_id, path=str(tracks.resolve()))
        print(f"imported {imported['tracks']} persons")
        persons = server.call("list_persons", clip_id=clip_id)["persons"]
        for p in persons:
            print(f"  person {p['id']}: frames {p['first_frame']}-{p['last_frame']}")

        star = max(persons, key=lambda p: p["frames_present"])["id"]
        edit = server.call("edit_tracks", clip_id=clip_id, op="rename",
                           args={"track": star, "name": "lead"})
        print(f"edit {edit['edit']['id']}: {edit['edit']['summary']}")

        server.call("set_effects", clip_id=clip_id, background="blur:12", selected=[star],
                    refine="feather")
        preview = workdir / "preview.png"
        frame = server.call("render_frame", clip_id=clip_id,
                            frame_index=info["frame_count"] // 2, path=str(preview.resolve()))
        print(f"preview of frame {frame['frame_index']}: {frame['path']}")

        out = workdir / "background-swap.mp4"
        job = server.call("export", clip_id=clip_id, output=str(out.resolve()))["job_id"]
        result = server.wait_job(job)
        print(f"exported {result['output']}")
        server.call("shutdown")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--clip", type=Path, help="a clip (default: a synthetic one)")
    ap.add_argument("--tracks", type=Path, help="its tracks file (with --clip)")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.clip is None:
        from editor_plugin.synth_io import write_synthetic_clip
        from inference.synth import SynthConfig

        args.clip, args.tracks = write_synthetic_clip(
            args.workdir / "synthetic", SynthConfig(people=2, frames=24, width=320, height=192))
    elif args.tracks is None:
        ap.error("--clip needs --tracks")
    try:
        drive(args.workdir, args.clip, args.tracks)
    except ServerError as exc:
        print(f"drive_edit: server error {exc.code}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
