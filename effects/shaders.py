"""Load GLSL programs from single ``.glsl`` files, with errors that point into those files.

File format
-----------
One program per file, ``<name>.glsl``.  The first directive is ``#version``; the stages are
selected by the preprocessor::

    #version 330 core
    #if defined VERTEX_SHADER
    void main() { ... }
    #elif defined FRAGMENT_SHADER
    out vec4 f_color;
    void main() { ... }
    #endif

For each stage the loader inserts ``#define VERTEX_SHADER`` (or ``FRAGMENT_SHADER``,
``GEOMETRY_SHADER``) and then one ``#define KEY VALUE`` per entry of ``defines`` right after the
``#version`` line.  A geometry stage is compiled only when the file mentions ``GEOMETRY_SHADER``.

Compile and link errors raise :class:`ShaderError`, whose one-line message names the ``.glsl``
file and the line number *in that file* (the driver's numbers are mapped back past the inserted
lines), followed by the driver's own message.  The driver formats understood are Mesa's
``0:12(5): error: ...``, NVIDIA's ``0(12) : error C0000: ...`` and the ``ERROR: 0:12: ...``
form of AMD/Intel/ANGLE.

Shader directories form a search path so that plugins can ship their own programs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import moderngl

from inference.errors import HumanfxError

log = logging.getLogger(__name__)

#: The directory of the programs that ship with humanfx.
BUILTIN_SHADER_DIR = Path(__file__).resolve().parent / "shaders"

DefineValue = str | int | float | bool | None

_STAGES = (
    ("vertex_shader", "VERTEX_SHADER"),
    ("geometry_shader", "GEOMETRY_SHADER"),
    ("fragment_shader", "FRAGMENT_SHADER"),
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
# Line references in driver logs.  Group "line" is the line number in the compiled string.
_LINE_PATTERNS = (
    re.compile(r"\b(?P<src>\d+):(?P<line>\d+)\((?P<col>\d+)\)"),  # Mesa:   0:12(5)
    re.compile(r"\b(?P<src>\d+)\((?P<line>\d+)\)(?=\s*:)"),  # NVIDIA: 0(12) :
    re.compile(r"\b(?P<src>\d+):(?P<line>\d+)(?=:)"),  # AMD/Intel/ANGLE: 0:12:
)
_MAX_REPORTED = 3


class ShaderError(HumanfxError):
    """A GLSL program failed to load, compile or link.

    ``str(err)`` is ``"<file>.glsl:<line>: <stage> shader: <driver message>"``; the attributes
    ``glsl_path``, ``line`` (1-based, in that file; ``None`` when the driver gave none),
    ``stage`` and ``driver_message`` (the driver's log, unmodified) carry the parts.
    """

    def __init__(
        self,
        message: str,
        *,
        glsl_path: Path | None = None,
        line: int | None = None,
        stage: str | None = None,
        driver_message: str = "",
    ):
        self.glsl_path = glsl_path
        self.line = line
        self.stage = stage
        self.driver_message = driver_message
        loc = "" if glsl_path is None else f"{glsl_path}:" + ("" if line is None else f"{line}:")
        super().__init__(f"{loc} {message}" if loc else message)


@dataclass(frozen=True)
class _Source:
    """A ``.glsl`` file split around its ``#version`` line."""

    path: Path
    lines: list[str]
    version_index: int  # 0-based index of the #version line

    def stage_source(self, stage_define: str, defines: list[str]) -> tuple[str, int]:
        """GLSL for one stage, and how many lines were inserted after ``#version``."""
        inserted = [f"#define {stage_define}", *defines]
        v = self.version_index + 1
        return "\n".join(self.lines[:v] + inserted + self.lines[v:]) + "\n", len(inserted)

    def file_line(self, compiled_line: int, n_inserted: int) -> int | None:
        """Map a 1-based line of the compiled string to the file (``None``: an inserted line)."""
        v = self.version_index + 1
        if compiled_line <= v:
            return compiled_line
        if compiled_line <= v + n_inserted:
            return None
        return compiled_line - n_inserted


def _format_define(key: str, value: DefineValue) -> str:
    if not _IDENT.match(key):
        raise ValueError(f"shader define name {key!r} is not a GLSL identifier")
    if value is None:
        return f"#define {key}"
    if isinstance(value, bool):
        text = "1" if value else "0"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
        if not any(c in text for c in ".eEn"):  # 'nan'/'inf' would not compile anyway
            text += ".0"
    else:
        text = str(value)
    if "\n" in text or "\r" in text:
        raise ValueError(f"shader define {key} must be one line, got {text!r}")
    return f"#define {key} {text}"


class ShaderLibrary:
    """Compiles and caches GLSL programs by (name, defines) for one GL context.

    ``dirs`` are searched before the built-in directory, the most recently added first, so a
    plugin can add programs (and deliberately shadow a built-in one).  Add directories before
    the programs they provide are first requested: compiled programs stay cached.
    """

    def __init__(self, ctx: moderngl.Context, dirs: Iterable[str | Path] = ()):
        self.ctx = ctx
        self._dirs: list[Path] = [BUILTIN_SHADER_DIR]
        for d in dirs:
            self.add_directory(d)
        self._cache: dict[tuple[str, tuple[str, ...]], moderngl.Program] = {}

    @property
    def search_path(self) -> tuple[Path, ...]:
        """The shader directories in lookup order."""
        return tuple(self._dirs)

    def add_directory(self, path: str | Path) -> None:
        """Search ``path`` for ``<name>.glsl`` before every directory added so far."""
        p = Path(path)
        if not p.is_dir():
            raise ShaderError("shader directory does not exist", glsl_path=p)
        self._dirs.insert(0, p)

    def find(self, name: str) -> Path:
        """The ``.glsl`` file that ``program(name)`` would load; :class:`ShaderError` if none."""
        if not _NAME.match(name):
            raise ValueError(f"bad shader name {name!r}: use letters, digits, '_', '-', '.'")
        for d in self._dirs:
            p = d / f"{name}.glsl"
            if p.is_file():
                return p
        searched = ", ".join(str(d) for d in self._dirs)
        raise ShaderError(f"no shader program {name}.glsl in the search path ({searched})")

    def program(
        self, name: str, defines: Mapping[str, DefineValue] | None = None
    ) -> moderngl.Program:
        """The compiled program ``<name>.glsl`` with ``defines``, cached per (name, defines).

        ``defines`` maps macro names to values (``None``: defined without a value; bools become
        1/0).  Raises :class:`ShaderError` on a missing file or a compile/link error.
        """
        define_lines = [_format_define(k, v) for k, v in sorted((defines or {}).items())]
        key = (name, tuple(define_lines))
        prog = self._cache.get(key)
        if prog is None:
            prog = self._build(self.find(name), define_lines)
            self._cache[key] = prog
        return prog

    def release(self) -> None:
        """Release every cached program."""
        for prog in self._cache.values():
            prog.release()
        self._cache.clear()

    # -- internals -------------------------------------------------------------------------

    def _load(self, path: Path) -> _Source:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ShaderError(f"cannot read shader: {exc}", glsl_path=path) from exc
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("#version"):
                return _Source(path, lines, i)
        raise ShaderError("no #version line (it must come first)", glsl_path=path, line=1)

    def _build(self, path: Path, define_lines: list[str]) -> moderngl.Program:
        src = self._load(path)
        text = "\n".join(src.lines)
        sources: dict[str, str] = {}
        n_inserted = 0
        for kw, stage_define in _STAGES:
            if stage_define == "GEOMETRY_SHADER" and stage_define not in text:
                continue
            sources[kw], n_inserted = src.stage_source(stage_define, define_lines)
        try:
            prog = self.ctx.program(**sources)
        except moderngl.Error as exc:
            raise _shader_error(src, n_inserted, str(exc)) from None
        log.debug("compiled shader program %s (%d defines)", path, len(define_lines))
        return prog


def _shader_error(src: _Source, n_inserted: int, log_text: str) -> ShaderError:
    """Turn moderngl's error text into a :class:`ShaderError` pointing into ``src.path``."""
    stage = None
    m = re.search(r"\b(vertex|fragment|geometry)_shader\b", log_text)
    if m:
        stage = m.group(1)
    linking = "Linker" in log_text or "link" in log_text.lower().split("\n", 1)[0]
    first_line: int | None = None
    messages: list[str] = []
    for raw in log_text.splitlines():
        line = raw.strip()
        if not line or set(line) <= {"="} or line.startswith("GLSL "):
            continue
        if re.fullmatch(r"(vertex|fragment|geometry)_shader", line):
            continue
        mapped = line
        for pat in _LINE_PATTERNS:
            hit = pat.search(line)
            if hit:
                n = src.file_line(int(hit.group("line")), n_inserted)
                text = line[hit.end() :].lstrip(" :")
                if n is not None and first_line is None:
                    first_line = n  # named in the message's "file:line:" prefix
                    mapped = text
                else:
                    where = f"line {n}" if n is not None else "inserted #define"
                    mapped = f"{where}: {text}"
                break
        messages.append(mapped)
    if not messages:
        messages = [" ".join(log_text.split()) or "unknown error"]
    more = len(messages) - _MAX_REPORTED
    summary = "; ".join(messages[:_MAX_REPORTED]) + (f"; ... {more} more" if more > 0 else "")
    what = "link error" if linking else f"{stage or 'shader'} shader compile error"
    return ShaderError(
        f"{what}: {summary}",
        glsl_path=src.path,
        line=first_line,
        stage=stage,
        driver_message=log_text,
    )
