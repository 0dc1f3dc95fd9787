"""The effect registry, fed by the ``humanfx.effects`` entry-point group.

Built-in effects are registered exactly like third-party ones, as entry points of the installed
``humanfx`` distribution (``pyproject.toml``)::

    [project.entry-points."humanfx.effects"]
    sticker = "effects.joints:Sticker"

A plugin package declares its own in the same group; its effect class must subclass
:class:`~effects.model.Effect` (in practice :class:`~effects.model.OverlayEffect` or
:class:`~effects.model.PersonModifier`) and may ship GLSL programs in its ``shader_dir``.
A plugin that fails to import, or whose object is not an effect class, is logged (WARNING,
naming the entry point) and skipped; the others still load.  The first entry point of a name
wins; later duplicates are logged and skipped.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Mapping
from typing import Any

from effects.keyframes import Keyframes
from effects.model import Effect
from inference.errors import InputError

log = logging.getLogger(__name__)

#: The entry-point group effects are registered in.
ENTRY_POINT_GROUP = "humanfx.effects"


class EffectRegistry:
    """Effect classes by name, discovered from the entry points of ``group`` on first use.

    ``failures`` maps the names of entry points that could not be loaded to why.
    """

    def __init__(self, group: str = ENTRY_POINT_GROUP):
        self.group = group
        self._effects: dict[str, type[Effect]] | None = None
        self.failures: dict[str, str] = {}
        self._lock = threading.Lock()

    def _discover(self) -> dict[str, type[Effect]]:
        found: dict[str, type[Effect]] = {}
        failures: dict[str, str] = {}
        for ep in importlib.metadata.entry_points(group=self.group):
            if ep.name in found:
                log.warning(
                    "effect %r from %s ignored: already registered by %s.%s",
                    ep.name,
                    ep.value,
                    found[ep.name].__module__,
                    found[ep.name].__qualname__,
                )
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 -- any plugin failure must not stop us
                why = f"{type(exc).__name__}: {exc}"
                log.warning("skipping effect plugin %r (%s): %s", ep.name, ep.value, why)
                failures[ep.name] = why
                continue
            if not (isinstance(obj, type) and issubclass(obj, Effect)):
                why = f"{ep.value} is not an effects.model.Effect subclass"
                log.warning("skipping effect plugin %r: %s", ep.name, why)
                failures[ep.name] = why
                continue
            if obj.effect_name and obj.effect_name != ep.name:
                log.warning(
                    "effect class %s calls itself %r but is registered as %r",
                    obj.__qualname__,
                    obj.effect_name,
                    ep.name,
                )
            found[ep.name] = obj
        if not any(cls.__module__.startswith("effects.") for cls in found.values()):
            log.warning(
                "no built-in effects found in the %r entry points: reinstall humanfx "
                "(pip install -e .) so that its entry points are registered",
                self.group,
            )
        self.failures = failures
        log.debug("effects registered: %s", ", ".join(sorted(found)))
        return found

    def _table(self) -> dict[str, type[Effect]]:
        with self._lock:
            if self._effects is None:
                self._effects = self._discover()
            return self._effects

    def reload(self) -> None:
        """Forget what was discovered; the next lookup scans the entry points again."""
        with self._lock:
            self._effects = None

    def names(self) -> list[str]:
        """Registered effect names, sorted."""
        return sorted(self._table())

    def get(self, name: str) -> type[Effect]:
        """The effect class registered as ``name``; :class:`InputError` listing the known ones."""
        table = self._table()
        cls = table.get(name)
        if cls is None:
            why = (
                f" (its plugin failed to load: {self.failures[name]})"
                if name in self.failures
                else ""
            )
            raise InputError(
                f"unknown effect {name!r}{why}; known effects: {', '.join(sorted(table)) or 'none'}"
            )
        return cls

    def create(self, name: str, **params: Any) -> Effect:
        """``get(name)(**params)``; unknown parameters -> :class:`InputError` naming them."""
        cls = self.get(name)
        known = cls.params()
        unknown = [k for k in params if k not in known]
        if unknown:
            raise InputError(
                f"effect {name} has no parameter {unknown[0]!r}; "
                f"its parameters are: {', '.join(known)}"
            )
        missing = [k for k, p in known.items() if p.required and k not in params]
        if missing:
            raise InputError(f"effect {name} needs parameter {missing[0]!r}")
        return cls(**params)

    def from_dict(self, data: Mapping[str, Any]) -> Effect:
        """Inverse of :meth:`Effect.to_dict <effects.model.Effect.to_dict>`."""
        if not isinstance(data, Mapping) or "effect" not in data:
            raise InputError(f"an effect is {{'effect': NAME, 'params': {{...}}}}, got {data!r}")
        params = {
            k: Keyframes.from_json(v)
            if isinstance(v, Mapping) and "keyframes" in v
            else tuple(v)
            if isinstance(v, list)
            else v
            for k, v in dict(data.get("params", {})).items()
        }
        return self.create(str(data["effect"]), **params)


#: The process-wide registry behind :func:`get_effect`, :func:`list_effects` and :func:`create`.
REGISTRY = EffectRegistry()


def get_effect(name: str) -> type[Effect]:
    """The effect class registered as ``name`` (see :class:`EffectRegistry`)."""
    return REGISTRY.get(name)


def list_effects() -> list[str]:
    """The names of every registered effect, sorted."""
    return REGISTRY.names()


def create(name: str, **params: Any) -> Effect:
    """A new effect ``name`` with ``params``; :class:`InputError` on any bad name or value."""
    return REGISTRY.create(name, **params)


def effect_from_dict(data: Mapping[str, Any]) -> Effect:
    """An effect from its :meth:`~effects.model.Effect.to_dict` form."""
    return REGISTRY.from_dict(data)
