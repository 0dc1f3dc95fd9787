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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from inference.errors import InputError
from inference.tracks.cocovideo import write_text_atomic

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "humanfx-batch"
MANIFEST_VERSION = 1
LOG_NAME = "batch.log"
DONE_DIR = ".humanfx-done"
PARTS_DIR = ".parts"
SUMMARY_NAME = "batch-summary.json"
RENDER_SUFFIX = {"h264": ".mp4", "hevc": ".mp4", "prores4444": ".mov", "ffv1": ".mkv", "png": ""}
_INTRA = frozenset({"ffv1", "prores", "png"})
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_TRACK_SUFFIX = {"cocovideo": ".json", "youtube-vis": ".json", "posetrack": ".json",
                 "json": ".json", "csv": ".csv", "mot": ".txt", "after-effects": "",
                 "nuke-chan": ""}
_JOB_KEYS = {"name", "clip", "tracks", "analyze", "output", "renders", "mattes",
             "tracks_exports", "otio"}
_RENDER_KEYS = {"name", "project", "person", "background", "codec", "range", "refine", "audio",
                "quality", "chunks", "file"}


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _file_hash(path: Path) -> str:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read it ({exc.strerror or exc})", path=path) from None


@dataclass(frozen=True)
class Job:
    """One clip's work, paths absolute.  ``raw`` is the job's manifest entry (for hashing)."""

    name: str
    clip: Path
    output: Path
    tracks: Path | None = None
    analyze: dict[str, Any] | None = None
    renders: tuple[dict[str, Any], ...] = ()
    mattes: dict[str, Any] | None = None
    tracks_exports: tuple[dict[str, Any], ...] = ()
    otio: bool = False
    base: Path = Path(".")
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    path: Path
    output: Path
    jobs: tuple[Job, ...]


def load_manifest(path: str | Path) -> Manifest:
    """Read and check a batch manifest; relative paths are relative to its folder."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("manifest not found", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable JSON manifest ({exc})", path=path) from None

    def bad(where: str, why: str) -> InputError:
        return InputError(f"{where}: {why}", path=path, hint="see docs/batch.md")

    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise bad("$.format", f"must be {MANIFEST_FORMAT!r}")
    if data.get("version") != MANIFEST_VERSION:
        raise bad("$.version", f"must be {MANIFEST_VERSION}")
    base = path.resolve().parent
    root = base / data.get("output", ".")
    jobs, names = [], set()
    raw_jobs = data.get("jobs")
    if not isinstance(raw_jobs, list) or not raw_jobs:
        raise bad("$.jobs", "must be a non-empty list of jobs")
    for i, raw in enumerate(raw_jobs):
        at = f"$.jobs[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("clip"), str):
            raise bad(at, 'must be an object with a "clip" path')
        extra = sorted(set(raw) - _JOB_KEYS)
        if extra:
            raise bad(f"{at}.{extra[0]}", f"is not a job key ({', '.join(sorted(_JOB_KEYS))})")
        clip = base / raw["clip"]
        name = raw.get("name") or re.sub(r"[^A-Za-z0-9_.-]", "_", clip.stem)
        if not _NAME_RE.match(name) or name in names:
            raise bad(f"{at}.name", f"{name!r} must be unique: letters, digits, '_', '.', '-'")
        names.add(name)
        renders = raw.get("renders", [])
        rnames = set()
        for k, r in enumerate(renders if isinstance(renders, list) else [None]):
            where = f"{at}.renders[{k}]"
            if not isinstance(r, dict) or not _NAME_RE.match(str(r.get("name", ""))):
                raise bad(where, 'must be an object with a "name" (letters, digits, _ . -)')
            if sorted(set(r) - _RENDER_KEYS) or r["name"] in rnames:
                raise bad(where, f"unknown key or repeated name ({', '.join(sorted(_RENDER_KEYS))})")
            rnames.add(r["name"])
            if r.get("codec", "h264") not in RENDER_SUFFIX:
                raise bad(f"{where}.codec", f"must be one of {', '.join(RENDER_SUFFIX)}")
            if "project" not in r and not ("person" in r and "background" in r):
                raise bad(where, 'needs "project", or "person" and "background"')
            if int(r.get("chunks", 1)) > 1 and r.get("codec", "h264") == "png":
                raise bad(f"{where}.chunks", "PNG sequences are not chunked; use ffv1 or prores4444")
        exports = raw.get("tracks_exports", [])
        if not isinstance(exports, list) or not all(
                isinstance(e, dict) and isinstance(e.get("format"), str) for e in exports):
            raise bad(f"{at}.tracks_exports", 'must be a list of {"format": ...} objects')
        if raw.get("tracks") is not None and raw.get("analyze") is not None:
            raise bad(at, 'give "tracks" (import) or "analyze", not both')
        jobs.append(Job(name=name, clip=clip, output=base / raw.get("output", root / name),
                        tracks=base / raw["tracks"] if raw.get("tracks") else None,
                        analyze=raw.get("analyze"), renders=tuple(renders),
                        mattes=raw.get("mattes"), tracks_exports=tuple(exports),
                        otio=bool(raw.get("otio", False)), base=base, raw=raw))
    return Manifest(path=path, output=root, jobs=tuple(jobs))


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


# -- chunks and joining -------------------------------------------------------------------------
def chunk_bounds(start: int, stop: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` consecutive, non-empty ``[a, b)`` ranges covering ``[start, stop)``."""
    n = stop - start
    if not 1 <= chunks <= n:
        raise InputError(f"cannot split {n} frames into {chunks} chunks",
                         hint=f"use 1 to {n} chunks")
    return [(start + k * n // chunks, start + (k + 1) * n // chunks) for k in range(chunks)]


def parse_chunk(text: str) -> tuple[int, int]:
    """``"i/N"`` (1-based ``i``) -> ``(i, N)``; ValueError for anything else."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"bad chunk {text!r}: use i/N, e.g. 2/3") from None
    if not 1 <= i <= n:
        raise ValueError(f"bad chunk {text!r}: i must be 1..N")
    return i, n


def join_parts(parts: Sequence[Path], out: Path, *, frame_times: Sequence[Fraction],
               starts: Sequence[int], time_base: Fraction, audio: Any = None) -> Path:
    """Concatenate rendered parts into ``out`` by re-muxing their video packets (no re-encoding).

    ``frame_times[j]``: exact output time (seconds) of output frame ``j``; ``starts[k]``: index
    of part ``k``'s first frame in ``frame_times``; ``time_base``: the clip's time base, in
    which every frame time is a whole number.  Intra-only codecs (FFV1, ProRes) get each
    frame's exact time; inter codecs (H.264/HEVC; every part starts with a keyframe) are
    shifted by the part's start.  ``audio``: an :class:`~editor_plugin.media.AudioSpec` for the
    whole range, written exactly as a single render writes it (copied or encoded once, so there
    is no seam at the joins), or None.  Atomic.
    """
    import av

    from editor_plugin.media.audio import AudioTrack

    kind = {".mp4": "mp4", ".mov": "mov", ".mkv": "mkv"}.get(out.suffix.lower())
    if kind is None:
        raise InputError("parts are joined into .mp4, .mov or .mkv files", path=out)
    tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.tmp{out.suffix}")
    opts = {"movflags": "+faststart"} if kind != "mkv" else {}
    track = None
    try:
        with av.open(str(parts[0])) as first, \
                av.open(str(tmp), "w", format="matroska" if kind == "mkv" else kind,
                        container_options=opts) as dst:
            ov = dst.add_stream_from_template(first.streams.video[0])
            track = AudioTrack(audio, dst, kind, out) if audio is not None else None
            dst.start_encoding()
            if track is not None:
                track.start()
            for k, part in enumerate(parts):
                expected = (starts[k + 1] if k + 1 < len(starts) else len(frame_times)) - starts[k]
                with av.open(str(part)) as src:
                    vs = src.streams.video[0]
                    pts = sorted(p.pts for p in src.demux(vs) if p.size)
                    if len(pts) != expected:
                        raise InputError(f"has {len(pts)} frames, {expected} expected", path=part,
                                         hint="delete the part and render its chunk again")
                    rank = {p: r for r, p in enumerate(pts)}
                    intra = vs.codec_context.name in _INTRA
                    src.seek(0)
                    for pkt in src.demux(vs):
                        if not pkt.size or pkt.pts is None:
                            continue
                        t = frame_times[starts[k] + rank[pkt.pts]]
                        if intra:
                            pkt.pts = pkt.dts = int(t / time_base)
                            pkt.time_base = time_base
                        else:
                            shift = round(frame_times[starts[k]] / Fraction(pkt.time_base)) - pts[0]
                            pkt.dts = (pkt.pts if pkt.dts is None else pkt.dts) + shift
                            pkt.pts += shift
                        pkt.stream = ov
                        dst.mux(pkt)
                        if track is not None:
                            track.pump(t)
            if track is not None:
                track.finish()
        os.replace(tmp, out)
    except BaseException:
        if track is not None:
            track.close()
        tmp.unlink(missing_ok=True)
        raise
    return out


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


__all__ = ["BatchSummary", "Job", "JobResult", "Manifest", "chunk_bounds", "join_parts",
           "load_manifest", "parse_chunk", "run_batch"]
