"""The project file (``Project.1``): one clip, its background swap, matte and effect stack.

A project is a JSON document (see ``docs/project-format.md``)::

    {"format": "humanfx-project", "version": 1,
     "clip": {"path": "clip.mp4", "content_hash": "ab12..."},
     "layers": null, "selected": [1, 2], "background": "blur:25",
     "backgrounds": {"2": "color:#00ff00"},  # optional, + background_seam_px/_reach_px
     "matte": {"refine": "feather", "feather_px": 1.5},  # + optional matte keys
     "person_mattes": {"2": {"expand_px": 4.0}},  # optional: persons' own matte keys
     "effects": {"everyone": [EFFECT, ...], "persons": {"1": [EFFECT, ...]}},
     "depth_override": {"2": 310.0}}

``EFFECT`` is :meth:`Effect.to_dict <effects.model.Effect.to_dict>` (keyframes included).
Relative paths (the clip, ``image:``/``video:`` backgrounds) are relative to the project
file's folder; in memory they are absolute.  Older versions are upgraded on load through
:data:`UPGRADES`; every problem raises :class:`~inference.errors.InputError` naming the file
and the JSON path of the bad element (``$.effects.persons["2"][0]``).
:class:`~effects.matte_settings.MatteSettings` and its ranges live in
:mod:`effects.matte_settings` and are importable from here too.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import numbers
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from effects.backgrounds import (
    Background,
    ImageBackground,
    VideoBackgroundSpec,
    parse_background,
)
from effects.backgrounds_extra import TiledImageBackground
from effects.matte_settings import (
    GUIDED_EPS_RANGE,
    MATTE_KEYS,
    MAX_EXPAND_PX,
    MAX_FEATHER_PX,
    MAX_GUIDED_RADIUS,
    MatteOverride,
    MatteSettings,
    resolve_overrides,
)
from effects.model import Effect
from effects.partition import DEFAULT_SEAM_PX, check_reach, check_seam
from effects.refine import REFINE_MODES, TEMPORAL_MODES
from effects.registry import effect_from_dict
from effects.stack import EffectStack
from inference.errors import InputError

#: Backgrounds that name a file: stored relative to the project file.
_PATH_BACKGROUNDS = (ImageBackground, TiledImageBackground, VideoBackgroundSpec)

log = logging.getLogger(__name__)

PROJECT_FORMAT = "humanfx-project"
PROJECT_VERSION = 1
#: ``$.matte`` keys; all but ``refine``/``feather_px`` were added within version 1 and are
#: optional (left out when at their defaults, so such files still load in older readers).
_MATTE_KEYS = MATTE_KEYS

_TOP_KEYS = ("format", "version", "clip", "layers", "selected", "background", "backgrounds",
             "background_seam_px", "background_reach_px", "matte", "person_mattes", "effects",
             "depth_override")


# -- errors and JSON paths ----------------------------------------------------------------------

def _key(path: str, key: str | int) -> str:
    """``path`` extended by an object key (``.name`` or ``["2"]``) or a list index (``[0]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"


class _Ctx:
    """Where we are while validating: the file (for messages) and its folder (for paths)."""

    def __init__(self, source: Path | None, base_dir: Path):
        self.source = source
        self.base_dir = base_dir

    def error(self, where: str, why: str, hint: str | None = None) -> InputError:
        return InputError(f"{where}: {why}", path=self.source, hint=hint)

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"must be a JSON object, got {_show(value)}")
        return value

    def lst(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(where, f"must be a JSON list, got {_show(value)}")
        return value

    def track_id(self, value: Any, where: str) -> int:
        """A person id: a non-negative int, or a string of one (object keys)."""
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.error(where, f"must be a person id (a whole number >= 0), got {_show(value)}")
        return value

    def number(self, value: Any, where: str, lo: float, hi: float) -> float:
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                or not math.isfinite(float(value)) or not lo <= float(value) <= hi):
            raise self.error(where, f"must be a number in [{lo:g}, {hi:g}], got {_show(value)}")
        return float(value)


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, Path) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- upgrades -------------------------------------------------------------------------------------

def upgrade_0_to_1(data: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
    """Version 0 (the pre-release layout) to version 1.

    Version 0: ``"clip": "PATH"``, ``"persons": [ids]`` (selected), ``"refine": "none|feather"``
    (feather sigma 1.5), ``"effects": [{"effect", "params", "person": id|null}, ...]`` (a flat
    list; ``person`` null or absent: everyone), no layers/depth override.
    """
    out: dict[str, Any] = {"format": PROJECT_FORMAT, "version": 1}
    clip = data.get("clip")
    if clip is None:
        raise ctx.error("$.clip", "is missing", hint="name the clip the project edits")
    if not isinstance(clip, str):
        raise ctx.error("$.clip", f"must be a path (version 0), got {_show(clip)}")
    out["clip"] = {"path": clip}
    out["layers"] = data.get("layers")
    out["selected"] = data.get("persons", [])
    out["background"] = data.get("background")
    out["matte"] = {"refine": data.get("refine", "feather"), "feather_px": 1.5}
    everyone: list[Any] = []
    persons: dict[str, list[Any]] = {}
    for i, item in enumerate(ctx.lst(data.get("effects", []), "$.effects")):
        item = dict(ctx.obj(item, _key("$.effects", i)))
        who = item.pop("person", None)
        if who is None:
            everyone.append(item)
        else:
            tid = ctx.track_id(who, _key(_key("$.effects", i), "person"))
            persons.setdefault(str(tid), []).append(item)
    out["effects"] = {"everyone": everyone, "persons": persons}
    out["depth_override"] = None
    unknown = set(data) - {"format", "version", "clip", "layers", "persons", "background",
                           "refine", "effects"}
    if unknown:
        raise ctx.error(_key("$", min(unknown)), "is not a version 0 project key")
    return out


#: ``UPGRADES[v]`` turns a version ``v`` document into a version ``v + 1`` one.
UPGRADES: dict[int, Callable[[dict[str, Any], _Ctx], dict[str, Any]]] = {0: upgrade_0_to_1}


def _upgrade(data: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
    if data.get("format") != PROJECT_FORMAT:
        raise ctx.error("$.format", f"must be {PROJECT_FORMAT!r}, got {_show(data.get('format'))}",
                        hint="is this a humanfx project file?")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ctx.error("$.version", f"must be a version number, got {_show(version)}")
    if version > PROJECT_VERSION:
        raise ctx.error("$.version", f"is {version}, but this humanfx reads up to version "
                        f"{PROJECT_VERSION}", hint="upgrade humanfx to open it")
    while version < PROJECT_VERSION:
        step = UPGRADES.get(version)
        if step is None:  # pragma: no cover -- the table covers every older version
            raise ctx.error("$.version", f"version {version} can no longer be read")
        data = step(data, ctx)
        version += 1
        log.info("project %s upgraded to version %d", ctx.source, version)
    return data


# -- the model --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Project:
    """An edit of one clip (see the module docstring for the file).

    ``clip``: the source video (absolute after :meth:`load`).  ``content_hash``: the clip's
    :func:`~inference.cache.clip_content_hash` when saved, checked before rendering (None: not
    checked).  ``layers``: layer-cache source name (None: the newest).  ``selected``: the
    persons drawn over ``background`` (None: every person with a mask).  ``background``: what
    replaces the rest of the frame (None: the original frame, for effects only).  ``stack``:
    the effects and depth overrides.  ``backgrounds``: selected persons' own backgrounds
    (sorted ``(id, background or None)`` pairs; a mapping is accepted), laid out around them
    by :class:`effects.partition.PersonBackgrounds` with ``background_seam_px`` and
    ``background_reach_px``.  ``matte``: everyone's matte settings; ``person_mattes``: some
    persons' own (sorted ``(id, MatteOverride)`` pairs; a mapping is accepted), each naming
    the fields it replaces, the rest inherited from ``matte`` (:meth:`person_matte_settings`).
    """

    clip: Path
    content_hash: str | None = None
    layers: str | None = None
    selected: tuple[int, ...] | None = ()
    background: Background | VideoBackgroundSpec | None = None
    matte: MatteSettings = field(default_factory=MatteSettings)
    stack: EffectStack = field(default_factory=EffectStack)
    backgrounds: tuple[tuple[int, Background | VideoBackgroundSpec | None], ...] = ()
    background_seam_px: float = DEFAULT_SEAM_PX
    background_reach_px: float | None = None
    person_mattes: tuple[tuple[int, MatteOverride], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "backgrounds", tuple(sorted(dict(self.backgrounds).items())))
        object.__setattr__(self, "person_mattes",
                           tuple(sorted(dict(self.person_mattes).items())))
        for tid, own in self.person_mattes:
            if not isinstance(own, MatteOverride):
                raise TypeError(f"person {tid}'s matte must be a MatteOverride, not {own!r}")
        object.__setattr__(self, "background_seam_px", check_seam(self.background_seam_px))
        object.__setattr__(self, "background_reach_px", check_reach(self.background_reach_px))

    def replace(self, **changes: Any) -> Project:
        return dataclasses.replace(self, **changes)

    def person_matte_settings(self) -> dict[int, MatteSettings]:
        """Track id -> the complete matte settings of each person with their own."""
        return resolve_overrides(self.matte, self.person_mattes)

    # -- JSON ----------------------------------------------------------------------------------
    def to_dict(self, base_dir: Path | None = None) -> dict[str, Any]:
        """The version-1 document; paths relative to ``base_dir`` when given and possible."""
        depth = dict(self.stack.depth_override)
        extra: dict[str, Any] = {}  # added within version 1: only when not at their defaults
        if self.backgrounds:
            extra["backgrounds"] = {str(k): _background_spec(v, base_dir)
                                    for k, v in self.backgrounds}
        if self.background_seam_px != DEFAULT_SEAM_PX:
            extra["background_seam_px"] = self.background_seam_px
        if self.background_reach_px is not None:
            extra["background_reach_px"] = self.background_reach_px
        own_mattes: dict[str, Any] = {}  # likewise: only when someone has their own
        if self.person_mattes:
            own_mattes["person_mattes"] = {str(k): v.to_dict() for k, v in self.person_mattes}
        return {
            "format": PROJECT_FORMAT,
            "version": PROJECT_VERSION,
            "clip": {"path": _rel(self.clip, base_dir), "content_hash": self.content_hash},
            "layers": self.layers,
            "selected": None if self.selected is None else list(self.selected),
            "background": _background_spec(self.background, base_dir),
            **extra,
            "matte": self.matte.to_dict(),
            **own_mattes,
            "effects": {
                "everyone": [e.to_dict() for e in self.stack.everyone],
                "persons": {str(k): [e.to_dict() for e in v] for k, v in self.stack.per_person},
            },
            "depth_override": {str(k): v for k, v in depth.items()} if depth else None,
        }

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: Path | None = None,
                  source: Path | None = None) -> Project:
        """Validate (upgrading an older version) and build; :class:`InputError` naming
        ``source`` and the JSON path of the first bad element."""
        ctx = _Ctx(source, Path(base_dir) if base_dir is not None else Path.cwd())
        data = _upgrade(dict(ctx.obj(data, "$")), ctx)
        unknown = sorted(set(data) - set(_TOP_KEYS))
        if unknown:
            raise ctx.error(_key("$", unknown[0]), "is not a project key",
                            hint=f"keys are: {', '.join(_TOP_KEYS)}")
        clip, content_hash = _parse_clip(data.get("clip"), ctx)
        layers = data.get("layers")
        if layers is not None and not (isinstance(layers, str) and layers):
            raise ctx.error("$.layers", f"must be a cache source name or null, got {_show(layers)}")
        selected_raw = data.get("selected", [])
        selected = None if selected_raw is None else tuple(
            ctx.track_id(v, _key("$.selected", i))
            for i, v in enumerate(ctx.lst(selected_raw, "$.selected")))
        background = _parse_background(data.get("background"), ctx)
        backgrounds = _parse_backgrounds(data, selected, ctx)
        matte = MatteSettings(**_parse_matte(data.get("matte", {}), ctx))
        person_mattes = {}
        raw_pm = data.get("person_mattes")
        for k, v in (ctx.obj(raw_pm, "$.person_mattes") if raw_pm is not None else {}).items():
            where = _key("$.person_mattes", k)
            person_mattes[ctx.track_id(k, where)] = MatteOverride(_parse_matte(v, ctx, where))
        everyone, persons = _parse_effects(data.get("effects", {}), ctx)
        depth: dict[int, float] = {}
        raw_depth = data.get("depth_override")
        if raw_depth is not None:
            for k, v in ctx.obj(raw_depth, "$.depth_override").items():
                where = _key("$.depth_override", k)
                depth[ctx.track_id(k, where)] = ctx.number(v, where, -1e9, 1e9)
        return cls(clip=clip, content_hash=content_hash, layers=layers, selected=selected,
                   background=background, matte=matte, person_mattes=person_mattes,
                   stack=EffectStack(persons, everyone, depth), **backgrounds)

    # -- files ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Project:
        """Read a project file (any supported version); :class:`InputError` on any problem."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("project file not found", path=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the project file: {exc}", path=path) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                             path=path) from None
        return cls.from_dict(data, base_dir=path.resolve().parent, source=path)

    def save(self, path: str | Path) -> Path:
        """Write the project as version-1 JSON, atomically; paths relative to its folder."""
        path = Path(path)
        data = self.to_dict(base_dir=path.resolve().parent)
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


# -- parsing helpers ----------------------------------------------------------------------------

def _parse_clip(raw: Any, ctx: _Ctx) -> tuple[Path, str | None]:
    if raw is None:
        raise ctx.error("$.clip", "is missing", hint='add "clip": {"path": "CLIP.mp4"}')
    raw = ctx.obj(raw, "$.clip")
    extra = sorted(set(raw) - {"path", "content_hash"})
    if extra:
        raise ctx.error(_key("$.clip", extra[0]), "is not a clip key (path, content_hash)")
    p = raw.get("path")
    if not isinstance(p, str) or not p.strip():
        raise ctx.error("$.clip.path", f"must be the clip's path, got {_show(p)}")
    h = raw.get("content_hash")
    if h is not None and not (isinstance(h, str) and h):
        raise ctx.error("$.clip.content_hash", f"must be a hash string or null, got {_show(h)}")
    return _abs(Path(p), ctx.base_dir), h


def _parse_background(raw: Any, ctx: _Ctx, where: str = "$.background"
                      ) -> Background | VideoBackgroundSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ctx.error(where, f"must be a background spec string or null, got {_show(raw)}")
    try:
        bg = parse_background(raw)
    except InputError as exc:
        raise ctx.error(where, exc.message, hint=exc.hint) from None
    if isinstance(bg, _PATH_BACKGROUNDS):
        bg = dataclasses.replace(bg, path=_abs(bg.path, ctx.base_dir))
    return bg


def _parse_backgrounds(data: dict[str, Any], selected: tuple[int, ...] | None,
                       ctx: _Ctx) -> dict[str, Any]:
    """``$.backgrounds`` (persons' own, each selected), ``$.background_seam_px`` and
    ``$.background_reach_px`` as :class:`Project` keyword arguments."""
    own: dict[int, Background | VideoBackgroundSpec | None] = {}
    raw = data.get("backgrounds")
    for k, v in (ctx.obj(raw, "$.backgrounds") if raw is not None else {}).items():
        where = _key("$.backgrounds", k)
        tid = ctx.track_id(k, where)
        if selected is not None and tid not in selected:
            raise ctx.error(where, f"person {tid} is not selected",
                            hint=f"add {tid} to $.selected, or remove its background")
        own[tid] = _parse_background(v, ctx, where)
    out: dict[str, Any] = {"backgrounds": own}
    for key, check in (("background_seam_px", check_seam), ("background_reach_px", check_reach)):
        if key in data:
            try:
                out[key] = check(data[key])
            except InputError as exc:
                raise ctx.error(_key("$", key), exc.message, hint=exc.hint) from None
    return out


def _parse_matte(raw: Any, ctx: _Ctx, where: str = "$.matte") -> dict[str, Any]:
    """The matte keys of the object at ``where``, checked: ``$.matte`` (missing keys take
    :class:`MatteSettings`' defaults) or a person's ``$.person_mattes["<id>"]`` (only the
    keys given: the rest are inherited)."""
    raw = ctx.obj(raw, where)
    extra = sorted(set(raw) - set(_MATTE_KEYS))
    if extra:
        raise ctx.error(_key(where, extra[0]),
                        f"is not a matte key ({', '.join(_MATTE_KEYS)})")
    out: dict[str, Any] = {}
    for name, modes in (("refine", REFINE_MODES), ("temporal", TEMPORAL_MODES)):
        if name in raw and raw[name] not in modes:
            raise ctx.error(_key(where, name), f"must be one of {', '.join(modes)}, "
                            f"got {_show(raw[name])}")
    for name, lo, hi in (("feather_px", 0.0, MAX_FEATHER_PX),
                         ("expand_px", -MAX_EXPAND_PX, MAX_EXPAND_PX),
                         ("guided_eps", *GUIDED_EPS_RANGE)):
        if name in raw:
            out[name] = ctx.number(raw[name], _key(where, name), lo, hi)
    radius = raw.get("guided_radius", 8)
    if (not isinstance(radius, int) or isinstance(radius, bool)
            or not 1 <= radius <= MAX_GUIDED_RADIUS):
        raise ctx.error(_key(where, "guided_radius"), f"must be a whole number in "
                        f"[1, {MAX_GUIDED_RADIUS}], got {_show(radius)}")
    out.update({k: raw[k] for k in ("refine", "guided_radius", "temporal") if k in raw})
    return {k: out[k] for k in _MATTE_KEYS if k in out}


def _parse_effect_list(raw: Any, where: str, ctx: _Ctx) -> list[Effect]:
    out = []
    for i, item in enumerate(ctx.lst(raw, where)):
        at = _key(where, i)
        item = ctx.obj(item, at)
        extra = sorted(set(item) - {"effect", "params"})
        if extra:
            raise ctx.error(_key(at, extra[0]), "is not an effect key (effect, params)")
        if not isinstance(item.get("effect"), str):
            raise ctx.error(_key(at, "effect"), f"must be an effect name, got "
                            f"{_show(item.get('effect'))}")
        ctx.obj(item.get("params", {}), _key(at, "params"))
        try:
            out.append(effect_from_dict(item))
        except InputError as exc:
            raise ctx.error(at, exc.message, hint=exc.hint) from None
    return out


def _parse_effects(raw: Any, ctx: _Ctx) -> tuple[list[Effect], dict[int, list[Effect]]]:
    raw = ctx.obj(raw, "$.effects")
    extra = sorted(set(raw) - {"everyone", "persons"})
    if extra:
        raise ctx.error(_key("$.effects", extra[0]), "is not an effects key (everyone, persons)")
    everyone = _parse_effect_list(raw.get("everyone", []), "$.effects.everyone", ctx)
    persons: dict[int, list[Effect]] = {}
    for k, v in ctx.obj(raw.get("persons", {}), "$.effects.persons").items():
        where = _key("$.effects.persons", k)
        persons[ctx.track_id(k, where)] = _parse_effect_list(v, where, ctx)
    return everyone, persons


def _abs(p: Path, base: Path) -> Path:
    return Path(os.path.normpath(p if p.is_absolute() else base / p))


def _rel(p: Path, base: Path | None) -> str:
    if base is None:
        return str(p)
    try:
        return os.path.relpath(Path(p).resolve(), base)
    except ValueError:  # another drive (Windows)
        return str(Path(p).resolve())


def _background_spec(bg: Background | VideoBackgroundSpec | None, base: Path | None) -> str | None:
    if bg is None:
        return None
    if isinstance(bg, _PATH_BACKGROUNDS):
        bg = dataclasses.replace(bg, path=Path(_rel(bg.path, base)))
    return bg.spec

