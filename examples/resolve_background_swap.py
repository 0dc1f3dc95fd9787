"""humanfx background swap for the clip under DaVinci Resolve's playhead.

Run it from Resolve (Workspace > Scripts > resolve_background_swap); see docs/server.md,
"Driving humanfx from DaVinci Resolve".  It takes the video clip under the playhead of the
current timeline, starts ``humanfx serve --stdio`` (or connects to a running ``humanfx serve
--port N`` when ``HUMANFX_PORT`` and ``HUMANFX_TOKEN`` are set), analyses the clip, keeps the
person present in most frames in front of a blurred background, exports the composite and every
person's matte as ProRes 4444, imports them into a "humanfx" bin of the media pool and puts the
composite on a new video track above the clip.  Progress is printed to Resolve's console.

Environment (all optional):

* ``HUMANFX_HOME``: a humanfx checkout to import the client from (when humanfx is not
  installed in the Python that Resolve runs scripts with).
* ``HUMANFX_PYTHON``: the Python that has humanfx installed (its virtualenv's ``bin/python``),
  used to start the server (default: the Python running this script).
* ``HUMANFX_OUT``: the output folder (default: ``humanfx/`` next to the clip).
* ``HUMANFX_BACKGROUND``: the background spec (default ``blur:25``).
* ``HUMANFX_MODEL``: the analysis model, ``rcnn`` (default) or ``seed``.

Everything humanfx-side is :func:`swap_background`, which needs no Resolve (the tests run it).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

if os.environ.get("HUMANFX_HOME"):
    sys.path.insert(0, os.environ["HUMANFX_HOME"])

try:
    from editor_plugin.client import ConnectionLost, HumanfxClient, ServerError
except ImportError as exc:  # Resolve's Python without humanfx on its path
    raise SystemExit(f"humanfx is not importable here ({exc}): set HUMANFX_HOME to the humanfx "
                     "checkout; see docs/server.md") from None

BIN_NAME = "humanfx"
NOT_IN_RESOLVE = ("run this from DaVinci Resolve's Workspace > Scripts menu; "
                  "see docs/server.md")


def print_progress(method: str, params: dict[str, Any]) -> None:
    """A client ``on_notification``: job progress as lines in Resolve's console."""
    if method == "progress" and params["total"]:
        done, total = params["done"], params["total"]
        if done == total or done % max(1, total // 10) == 0:
            print(f"humanfx: {params['job_id']} {done}/{total} frames", flush=True)
    elif method == "job_finished":
        print(f"humanfx: {params['job_id']} {params['state']}", flush=True)


def swap_background(client: HumanfxClient, clip_path: str | Path, out_dir: str | Path, *,
                    background: str = "blur:25", person: int | None = None,
                    analyze: bool = True, tracks: str | Path | None = None,
                    frames: tuple[int, int] | None = None,
                    analyze_options: dict[str, Any] | None = None) -> dict[str, Path]:
    """Swap the background behind one person of ``clip_path`` through a humanfx server.

    The person layers come from ``tracks`` (a tracks file, imported) when given, else from
    ``analyze`` (the server's analyzer with ``analyze_options``, e.g. ``{"model": "seed"}``;
    see ``analyze`` in docs/server.md), else from the clip's existing layer cache.  ``person`` is kept in front (default: the person present in most frames).
    ``frames`` is ``(start, stop)`` in the clip's 0-based frame indices, stop exclusive
    (default: the whole clip).  ``clip_path``, ``tracks`` and ``out_dir`` must be absolute or
    are made so, and lie inside the server's ``--root`` folders (or the clip's folder).

    Returns ``{"composite": OUT/<stem>-humanfx.mov, "matte-<id>":
    OUT/<stem>-mattes/person-<id>.mov, ...}``: the composite and every person's matte (ProRes
    4444), one frame per frame of the range.  Raises :class:`ServerError` with the server's
    one-line message, ValueError when nobody is in the clip.
    """
    clip_path, out_dir = Path(clip_path).resolve(), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    opened = client.call("open_clip", path=str(clip_path))
    clip_id, info = opened["clip_id"], opened["info"]
    print(f"humanfx: {info['name']} {info['width']}x{info['height']}, "
          f"{info['frame_count']} frames at {info['fps']} fps", flush=True)
    rng = None if frames is None else [int(frames[0]), min(int(frames[1]), info["frame_count"])]
    try:
        if tracks is not None:
            got = client.call("import_tracks", clip_id=clip_id, path=str(Path(tracks).resolve()))
            print(f"humanfx: imported {got['tracks']} persons from {tracks}", flush=True)
        elif analyze:
            options = dict(analyze_options or {}, **({} if rng is None else {"frames": rng}))
            job = client.call("analyze", clip_id=clip_id, options=options)["job_id"]
            got = client.wait_job(job)
            print(f"humanfx: analysed {got['frames_total']} frames, {got['persons']} persons "
                  f"({got['device']})", flush=True)
        persons = client.call("list_persons", clip_id=clip_id)["persons"]
        for p in persons:
            print(f"humanfx:   person {p['id']} ({p['name']}): frames {p['first_frame']}-"
                  f"{p['last_frame']}, present in {p['frames_present']}", flush=True)
        if not persons:
            raise ValueError(f"humanfx found nobody in {clip_path}; nothing to swap")
        if person is None:
            person = max(persons, key=lambda p: (p["frames_present"], -p["id"]))["id"]
        print(f"humanfx: person {person} in front of {background}", flush=True)
        client.call("set_effects", clip_id=clip_id, background=background, selected=[person])

        composite = out_dir / f"{clip_path.stem}-humanfx.mov"
        job = client.call("export", clip_id=clip_id, output=str(composite), codec="prores4444",
                          range=rng)["job_id"]
        outputs = {"composite": Path(client.wait_job(job)["output"])}
        job = client.call("export_mattes", clip_id=clip_id, codec="prores4444", range=rng,
                          output=str(out_dir / f"{clip_path.stem}-mattes"))["job_id"]
        mattes = client.wait_job(job)["persons"]
        for tid in sorted(mattes, key=int):
            outputs[f"matte-{tid}"] = Path(mattes[tid])
        return outputs
    finally:
        with contextlib.suppress(ServerError, ConnectionLost):
            client.call("close_clip", clip_id=clip_id)


# -- Resolve glue -------------------------------------------------------------------------------

def connect(roots: list[Path]) -> HumanfxClient:
    """A running TCP server (``HUMANFX_PORT``, ``HUMANFX_TOKEN``) or a new stdio one."""
    if os.environ.get("HUMANFX_PORT"):
        return HumanfxClient.connect(int(os.environ["HUMANFX_PORT"]),
                                     os.environ.get("HUMANFX_TOKEN"),
                                     on_notification=print_progress)
    cmd = [os.environ.get("HUMANFX_PYTHON", sys.executable), "-m", "editor_plugin.cli",
           "serve", "--stdio"]
    for root in roots:
        cmd += ["--root", str(root)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    return HumanfxClient(proc.stdout, proc.stdin, on_notification=print_progress, process=proc)


def _rate(value: Any) -> float:
    """A frame rate as Resolve reports it (``"23.976"``, ``25.0``, ``"29.97 DF"``); 0 if none."""
    try:
        return float(str(value).split()[0])
    except (ValueError, IndexError):
        return 0.0


def clip_under_playhead(resolve: Any) -> tuple[Any, Any, Path, tuple[int, int]]:
    """(timeline, timeline item, source file, (start, stop) source frames) of the video clip
    under the playhead.  Resolve counts the item's offset and duration in timeline frames."""
    project = resolve.GetProjectManager().GetCurrentProject()
    timeline = project.GetCurrentTimeline() if project else None
    item = timeline.GetCurrentVideoItem() if timeline else None
    media = item.GetMediaPoolItem() if item else None
    if media is None:
        raise RuntimeError("put the playhead over a video clip of the current timeline")
    path = Path(media.GetClipProperty("File Path") or "")
    if not path.is_file():
        raise RuntimeError(f"the clip's file {str(path)!r} is not on this machine")
    tl_fps, src_fps = _rate(timeline.GetSetting("timelineFrameRate")), _rate(
        media.GetClipProperty("FPS"))
    ratio = src_fps / tl_fps if tl_fps and src_fps else 1.0
    start = round(item.GetLeftOffset() * ratio)
    return timeline, item, path, (start, start + round(item.GetDuration() * ratio))


def import_results(resolve: Any, timeline: Any, item: Any, outputs: dict[str, Path],
                   frames: int) -> None:
    """Import ``outputs`` into the "humanfx" bin; the composite (``frames`` long) on a new
    video track, at ``item``'s place in the timeline."""
    pool = resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    root = pool.GetRootFolder()
    folder = next((f for f in root.GetSubFolderList() or [] if f.GetName() == BIN_NAME), None)
    pool.SetCurrentFolder(folder or pool.AddSubFolder(root, BIN_NAME))
    imported = pool.ImportMedia([str(p) for p in outputs.values()]) or []
    print(f"humanfx: imported {len(imported)} files into the '{BIN_NAME}' bin", flush=True)
    name = outputs["composite"].name
    composite = next((m for m in imported
                      if Path(m.GetClipProperty("File Path") or "").name == name), None)
    if composite is not None and timeline.AddTrack("video"):
        track = timeline.GetTrackCount("video")
        placed = pool.AppendToTimeline([{
            "mediaPoolItem": composite, "startFrame": 0, "endFrame": frames, "mediaType": 1,
            "trackIndex": track, "recordFrame": item.GetStart()}])
        print(f"humanfx: composite on video track {track}" if placed else
              "humanfx: could not place the composite; drag it from the bin", flush=True)


def main() -> int:
    """Entry point inside Resolve; a clear message (and exit code 2) anywhere else."""
    try:
        import DaVinciResolveScript  # type: ignore[import-not-found]

        resolve = DaVinciResolveScript.scriptapp("Resolve")
    except ImportError:
        resolve = globals().get("resolve")  # what Resolve's Scripts menu defines for a script
    if resolve is None:
        print(NOT_IN_RESOLVE, file=sys.stderr)
        return 2
    try:
        timeline, item, clip, frames = clip_under_playhead(resolve)
        out_dir = Path(os.environ.get("HUMANFX_OUT") or clip.parent / BIN_NAME).resolve()
        print(f"humanfx: {clip} frames {frames[0]}-{frames[1] - 1} -> {out_dir}", flush=True)
        with connect([clip.parent, out_dir]) as client:
            outputs = swap_background(
                client, clip, out_dir, frames=frames,
                background=os.environ.get("HUMANFX_BACKGROUND", "blur:25"),
                analyze_options={"model": os.environ.get("HUMANFX_MODEL", "rcnn")})
        import_results(resolve, timeline, item, outputs, frames[1] - frames[0])
    except (RuntimeError, ValueError, OSError, ServerError, ConnectionLost) as exc:
        print(f"humanfx: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    if code := main():  # no SystemExit on success: Resolve's console would report it
        sys.exit(code)
