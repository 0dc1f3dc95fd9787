"""``humanfx batch``: process a manifest of clips -- import/analyze, render, mattes, exports.

See ``docs/batch.md`` for the manifest schema.  Jobs run one after the other; a failing job is
logged (``<job output>/batch.log``) and the batch goes on.  Every step of a job (``layers``,
``render:<name>``, ``mattes``, ``tracks:<n>``, ``otio``) records a done-marker
(``<job output>/.humanfx-done/<step>.json``) holding a hash of its definition, of the clip's
content hash and of the files it reads (tracks file, project file); a step whose marker matches
and whose outputs exist is skipped, so a re-run does only what changed or was not finished.

Chunks: a render is split into N frame ranges ``[a_k, a_{k+1})`` (``a_k = R0 + k*(R1-R0)//N``);
chunk ``k`` is rendered into ``<job output>/.parts/<render>-<hash>/part-<k>-of-<N><suffix>``
(written atomically, so an existing part is complete) and, once every part exists, the parts
are joined into the final output by re-muxing their video packets (no re-encoding): each part
starts with a keyframe and video timestamps are set to the clip's exact frame times.  Parts are
rendered without audio; the join writes the range's audio from the source in one go, exactly as
a single render does, so there is no seam at the joins.

The manifest is read by :mod:`editor_plugin.batch_manifest`; chunk ranges and the join of the
parts are in :mod:`editor_plugin.batch_chunks`.  Their public names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import shutil
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from editor_plugin.batch_chunks import chunk_bounds, join_parts, parse_chunk
from editor_plugin.batch_manifest import (
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    RENDER_SUFFIX,
    Job,
    Manifest,
    load_manifest,
)
from inference.errors import InputError
from inference.tracks.cocovideo import write_text_atomic

log = logging.getLogger(__name__)

LOG_NAME = "batch.log"
DONE_DIR = ".humanfx-done"
PARTS_DIR = ".parts"
SUMMARY_NAME = "batch-summary.json"
_TRACK_SUFFIX = {"cocovideo": ".json", "youtube-vis": ".json", "posetrack": ".json",
                 "json": ".json", "csv": ".csv", "mot": ".txt", "after-effects": "",
                 "nuke-chan": ""}


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _file_hash(path: Path) -> str:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read it ({exc.strerror or exc})", path=path) from None


# -- results ------------------------------------------------------------------------------------
@dataclass
class JobResult:
    name: str
    clip: str
    status: str = "pending"  # done | skipped | partial | failed
    steps_run: list[str] = field(default_factory=list)
    steps_skipped: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    log: str | None = None
    seconds: float = 0.0


@dataclass
class BatchSummary:
    manifest: str
    chunk: str | None
    jobs: list[JobResult]

    @property
    def failed(self) -> int:
        return sum(j.status == "failed" for j in self.jobs)

    def to_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "chunk": self.chunk, "failed": self.failed,
                "jobs": [asdict(j) for j in self.jobs]}

    def table(self) -> str:
        rows = [("job", "status", "run", "skipped", "seconds", "note")]
        for j in self.jobs:
            rows.append((j.name, j.status, str(len(j.steps_run)), str(len(j.steps_skipped)),
                         f"{j.seconds:.1f}", j.error or (j.log or "")))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        return "\n".join("  ".join(r[c].ljust(widths[c]) for c in range(5)) + "  " + r[5]
                         for r in rows)


class _JobLog:
    """Appends timestamped lines to ``<job output>/batch.log`` and collects library warnings."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = path.open("a", encoding="utf-8")
        self._handler = logging.StreamHandler(self._fh)
        self._handler.setLevel(logging.WARNING)
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                                     "%(message)s"))
        logging.getLogger().addHandler(self._handler)

    def __call__(self, message: str) -> None:
        self._fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        self._fh.flush()

    def close(self) -> None:
        logging.getLogger().removeHandler(self._handler)
        self._fh.close()


# -- running ----------------------------------------------------------------------------------
class _Runner:
    """Runs one job's steps (see the module docstring); ``chunk`` and ``join`` as in
    :func:`run_batch`."""

    def __init__(self, job: Job, jlog: _JobLog, result: JobResult, *,
                 chunk: tuple[int, int] | None, join: bool):
        from editor_plugin.session import ClipSession

        self.job, self.log, self.result = job, jlog, result
        self.chunk, self.join = chunk, join
        self.session = ClipSession(job.clip)
        self.layers: str | None = None
        self._layers_ready = False
        base = {"clip": self.session.clip_hash, "analyze": job.analyze,
                "tracks": _file_hash(job.tracks) if job.tracks else None}
        self.base_hash = _hash(base)
        self.done_dir = job.output / DONE_DIR

    # markers
    def _marker(self, step: str) -> Path:
        return self.done_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", step) + ".json")

    def _is_done(self, step: str, h: str, outputs: Sequence[Path]) -> bool:
        try:
            saved = json.loads(self._marker(step).read_text(encoding="utf-8")).get("hash")
        except (OSError, ValueError):
            return False
        return saved == h and all(p.exists() for p in outputs)

    def _mark(self, step: str, h: str) -> None:
        self.done_dir.mkdir(exist_ok=True)
        write_text_atomic(self._marker(step), json.dumps({"hash": h, "at": time.time()}) + "\n")

    def _step(self, step: str, definition: Any, outputs: Sequence[Path], work) -> None:
        h = _hash({"base": self.base_hash, "step": definition})
        self.result.outputs += [str(p) for p in outputs]
        if self._is_done(step, h, outputs):
            self.result.steps_skipped.append(step)
            self.log(f"step {step}: skipped (up to date)")
            return
        self._ensure_layers()
        t0 = time.monotonic()
        work()
        self._mark(step, h)
        self.result.steps_run.append(step)
        self.log(f"step {step}: done in {time.monotonic() - t0:.2f}s")

    def _ensure_layers(self) -> None:
        if self._layers_ready:
            return
        job, s = self.job, self.session
        if job.tracks is not None:
            digest = hashlib.blake2b(job.tracks.read_bytes(), digest_size=8).hexdigest()
            self.layers = "import"
            if not any(e.complete and e.meta.source == "import"
                       and e.meta.settings.get("sha") == digest for e in s.layer_caches()):
                r = s.import_tracks(job.tracks)
                self.log(f"step layers: imported {r.tracks} tracks from {job.tracks.name}")
                self.result.steps_run.append("layers")
        elif job.analyze is not None:
            from editor_plugin.analyze import AnalyzeOptions, analyze_clip

            opts = dict(job.analyze)
            if "frames" in opts and opts["frames"] is not None:
                opts["frames"] = tuple(opts["frames"])
            try:
                options = AnalyzeOptions(**opts)
            except TypeError as exc:
                raise InputError(f"bad analyze options ({exc})", path=job.clip) from None
            r = analyze_clip(s, options)
            self.layers = r.source
            self.log(f"step layers: analyze {'reused' if r.reused else 'ran'} ({r.persons} persons)")
            if not r.reused:
                self.result.steps_run.append("layers")
        self._layers_ready = True

    # steps
    def run(self) -> None:
        for r in self.job.renders:
            self._render(r)
        if self.chunk is not None:
            return  # a chunk worker renders its parts (and joins when all exist) only
        job = self.job
        if job.mattes is not None:
            self._step("mattes", job.mattes, [job.output / "mattes"], self._mattes)
        for i, e in enumerate(job.tracks_exports):
            out = job.output / e.get("file", f"tracks-{e['format']}"
                                     f"{_TRACK_SUFFIX.get(e['format'], '.json')}")
            self._step(f"tracks:{i}", e, [out], lambda e=e, out=out: self.session.export_tracks(
                out, e["format"], source=self.layers,
                persons=None if e.get("person", "all") == "all" else tuple(e["person"]),
                joints=e.get("joint"), smoothed=e.get("smoothed")))
        if job.otio:
            render = self._render_out(job.renders[0]) if job.renders else None
            mattes = job.output / "mattes" if job.mattes is not None else None
            out = job.output / f"{job.name}.otio"
            deps = [self._render_def(r) for r in job.renders] + [job.mattes]

            def otio() -> None:
                from editor_plugin.exports.otio import export_otio

                export_otio(self.session, out, render=render, mattes_dir=mattes, layers=self.layers)
            self._step("otio", deps, [out], otio)

    def _render_out(self, r: dict[str, Any]) -> Path:
        codec = r.get("codec", "h264")
        return self.job.output / r.get("file", r["name"] + RENDER_SUFFIX[codec])

    def _render_def(self, r: dict[str, Any]) -> dict[str, Any]:
        """What defines a render's output (the chunk count does not)."""
        d = {k: v for k, v in r.items() if k != "chunks"}
        if "project" in r:
            d["project_sha"] = _file_hash(self._project_path(r))
        return d

    def _project_path(self, r: dict[str, Any]) -> Path:
        return self.job.base / r["project"]

    def _render(self, r: dict[str, Any]) -> None:
        from editor_plugin.render import FrameRange

        out = self._render_out(r)
        definition = self._render_def(r)
        step = f"render:{r['name']}"
        n_chunks = self.chunk[1] if self.chunk else int(r.get("chunks", 1))
        frames = FrameRange.parse(r["range"]) if r.get("range") else FrameRange()
        start, stop = frames.resolve(self.session.info.frame_count)
        h = _hash({"base": self.base_hash, "step": definition})
        parts_dir = self.job.output / PARTS_DIR / f"{r['name']}-{h[:12]}"
        suffix = out.suffix
        bounds = chunk_bounds(start, stop, n_chunks) if n_chunks > 1 else [(start, stop)]
        parts = [parts_dir / f"part-{k + 1:03d}-of-{n_chunks:03d}{suffix}" for k in range(n_chunks)]

        def work() -> None:
            if n_chunks == 1:
                self._render_range(r, out, FrameRange(start, stop))
                return
            todo = [self.chunk[0] - 1] if self.chunk else range(n_chunks)
            for k in todo:
                if parts[k].exists():
                    self.log(f"{step}: part {k + 1}/{n_chunks} exists, not rendered again")
                    continue
                if self.join:
                    raise InputError(f"part {k + 1}/{n_chunks} of render {r['name']!r} is "
                                     "missing", path=parts[k],
                                     hint=f"run `humanfx batch MANIFEST --chunk {k + 1}/{n_chunks}`")
                parts_dir.mkdir(parents=True, exist_ok=True)
                # parts carry no audio: the join writes the whole range's audio in one go
                self._render_range({**r, "audio": False}, parts[k], FrameRange(*bounds[k]))
                self.log(f"{step}: rendered part {k + 1}/{n_chunks} frames {bounds[k]}")
            missing = [p for p in parts if not p.exists()]
            if missing:
                raise _Pending(f"{len(missing)} of {n_chunks} parts still to render")
            from editor_plugin.media import AudioSpec, VideoReader

            with VideoReader(self.session.path) as reader:
                times = reader.timestamps
            audio = None
            if r.get("audio", True) and self.session.info.has_audio:
                audio = AudioSpec(source=self.session.path, start=times[start],
                                  end=times[stop] if stop < len(times) else None)
            join_parts(parts, out, frame_times=[t - times[start] for t in times[start:stop]],
                       starts=[a - start for a, _ in bounds],
                       time_base=self.session.info.time_base, audio=audio)
            self.log(f"{step}: joined {n_chunks} parts into {out.name}")
            for old in parts_dir.parent.glob(f"{r['name']}-*"):  # this and outdated part sets
                shutil.rmtree(old, ignore_errors=True)

        if self.chunk is None and n_chunks == 1:  # a plain run joins parts a farm left
            sets = sorted(parts_dir.parent.glob(f"{r['name']}-{h[:12]}/part-001-of-*{suffix}"))
            for p in sets:
                n = int(p.stem.split("-of-")[1])
                if all((parts_dir / f"part-{k + 1:03d}-of-{n:03d}{suffix}").exists()
                       for k in range(n)):
                    return self._render_as(r, n)
        try:
            self._step(step, definition, [out], work)
        except _Pending as exc:
            self.result.steps_run.append(f"{step}#{self.chunk[0] if self.chunk else ''}")
            self.log(f"{step}: {exc}")
            self.result.status = "partial"

    def _render_as(self, r: dict[str, Any], n: int) -> None:
        self._render({**r, "chunks": n})

    def _render_range(self, r: dict[str, Any], out: Path, frames) -> None:
        from editor_plugin.media import Codec
        from editor_plugin.render import RenderSpec, render, render_project
        from effects.backgrounds import parse_background

        codec = Codec(r.get("codec", "h264"))
        audio, quality = bool(r.get("audio", True)), r.get("quality")
        persons = r.get("person")
        if persons is not None:
            persons = (persons,) if isinstance(persons, int) else tuple(persons)
        if "project" in r:
            from editor_plugin.project import Project

            project = Project.load(self._project_path(r))
            changes: dict[str, Any] = {"clip": self.session.path, "layers": self.layers}
            if persons is not None:
                changes["selected"] = persons
            if r.get("background") is not None:
                changes["background"] = parse_background(r["background"])
            if r.get("refine") is not None:
                changes["matte"] = dataclasses.replace(project.matte, refine=r["refine"])
            render_project(self.session, project.replace(**changes), out, codec=codec,
                           frames=frames, audio=audio, quality=quality)
        else:
            spec = RenderSpec(persons=persons, background=parse_background(r["background"]),
                              codec=codec, frames=frames, refine=r.get("refine", "feather"),
                              audio=audio, layers=self.layers, quality=quality)
            render(self.session, spec, out)

    def _mattes(self) -> None:
        from editor_plugin.exports import parse_person_selection
        from editor_plugin.exports.mattes import MatteSpec, export_mattes
        from editor_plugin.media import Codec
        from editor_plugin.render import FrameRange

        m = self.job.mattes
        who = m.get("person", "all")
        spec = MatteSpec(
            persons=parse_person_selection(who if isinstance(who, str)
                                           else ",".join(map(str, who))),
            codec=Codec(m.get("codec", "prores4444")), bit_depth=int(m.get("bit_depth", 8)),
            id_matte=bool(m.get("id_matte", False)), refine=m.get("refine", "none"),
            frames=FrameRange.parse(m["range"]) if m.get("range") else FrameRange(),
            layers=self.layers)
        export_mattes(self.session, spec, self.job.output / "mattes")


class _Pending(Exception):
    """A chunked render whose other parts are still to be rendered (by other workers)."""


def run_batch(manifest: Manifest, *, chunk: tuple[int, int] | None = None, join: bool = False,
              summary_path: Path | None = None) -> BatchSummary:
    """Run every job of ``manifest`` in order; returns the summary (also written as JSON).

    ``chunk=(i, N)``: render only chunk ``i`` (1-based) of N of every render (joining when all
    parts exist), nothing else.  ``join=True``: never render a missing part (error instead);
    join and finish the other steps.  The summary goes to ``summary_path`` (default
    ``<output>/batch-summary.json``, or ``batch-summary.chunk-I-of-N.json`` for a chunk).
    """
    if chunk is not None and join:
        raise InputError("--chunk and --join exclude each other",
                         hint="run the chunks first, then --join once")
    summary = BatchSummary(manifest=str(manifest.path),
                           chunk=f"{chunk[0]}/{chunk[1]}" if chunk else None, jobs=[])
    for job in manifest.jobs:
        result = JobResult(name=job.name, clip=str(job.clip))
        summary.jobs.append(result)
        t0 = time.monotonic()
        try:
            job.output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            result.status, result.error = "failed", f"{job.output}: cannot create ({exc.strerror})"
            continue
        jlog = _JobLog(job.output / LOG_NAME)
        result.log = str(jlog.path)
        jlog(f"== run ({'chunk ' + summary.chunk if chunk else 'join' if join else 'full'}) "
             f"of {job.name}: {job.clip}")
        try:
            _Runner(job, jlog, result, chunk=chunk, join=join).run()
            if result.status != "partial":
                result.status = "done" if result.steps_run else "skipped"
        except Exception as exc:  # noqa: BLE001 -- a failed job must not stop the batch
            result.status, result.error = "failed", str(exc).splitlines()[0] if str(exc) else \
                type(exc).__name__
            jlog(f"FAILED: {result.error}\n{traceback.format_exc()}")
            log.error("job %s failed: %s", job.name, result.error)
        finally:
            result.seconds = time.monotonic() - t0
            jlog(f"== {result.status}: {len(result.steps_run)} step(s) run, "
                 f"{len(result.steps_skipped)} skipped, {result.seconds:.2f}s")
            jlog.close()
    if summary_path is None:
        name = SUMMARY_NAME if chunk is None else f"batch-summary.chunk-{chunk[0]}-of-{chunk[1]}.json"
        summary_path = manifest.output / name
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(summary_path, json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


__all__ = ["MANIFEST_FORMAT", "MANIFEST_VERSION", "RENDER_SUFFIX", "BatchSummary", "Job",
           "JobResult", "Manifest", "chunk_bounds", "join_parts", "load_manifest", "parse_chunk",
           "run_batch"]
