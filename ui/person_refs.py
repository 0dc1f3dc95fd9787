"""What of the edit refers to persons by track id, and how it follows identity edits.

The window's :class:`~ui.preview.ViewState` names persons in its effect stack (effects per
person, depth overrides), its persons' own backgrounds and its persons' own mattes.  After an
identity edit (:mod:`ui.identity`) some ids may be gone: a merged person lives on as the
merge's target, a deleted one does not.  :func:`carry_refs` moves what referred to a merged
person to the target and drops what referred to a deleted one, so saving and exporting
afterwards never name a person the clip no longer has ("person N is not in the clip").  The
selection is filtered separately (:meth:`ui.identity.IdentityEditing.refresh_persons`).

Track ids are the layer cache's ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from effects.stack import EffectStack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PersonRefs:
    """The parts of the edit keyed by track id: the effect stack (``per_person`` and
    ``depth_override``), the persons' own backgrounds (sorted ``(id, background)`` pairs,
    as :attr:`ui.preview.ViewState.person_backgrounds`) and own mattes (sorted ``(id,
    MatteOverride)`` pairs, as :attr:`ui.preview.ViewState.person_mattes`)."""

    stack: EffectStack
    backgrounds: tuple[tuple[int, Any], ...]
    mattes: tuple[tuple[int, Any], ...] = ()

    def ids(self) -> set[int]:
        """Every track id referred to."""
        return ({k for k, _ in self.stack.per_person} | {k for k, _ in self.stack.depth_override}
                | {k for k, _ in self.backgrounds} | {k for k, _ in self.mattes})


def refs_of(state: Any) -> PersonRefs:
    """The :class:`PersonRefs` of a :class:`~ui.preview.ViewState`."""
    return PersonRefs(state.stack, tuple(state.person_backgrounds), tuple(state.person_mattes))


def carry_refs(refs: PersonRefs, known: AbstractSet[int], carry: Mapping[int, int] | None = None
               ) -> tuple[PersonRefs, list[str]]:
    """``refs`` with every id not in ``known`` carried or dropped; and one line per change.

    ``carry``: gone id -> the id it became (a merge's target; must be in ``known`` to count).
    A carried person's effects are appended to the target's (the target's own first, then the
    carried persons' in id order); their depth override, own background and own matte go to
    the target only when it has none (else they are dropped).  Everything of an id with
    nowhere to go is dropped.
    """
    carry = carry or {}
    notes: list[str] = []

    def dest(tid: int) -> int | None:
        t = carry.get(tid)
        return t if t is not None and t in known else None

    effects = {k: list(v) for k, v in refs.stack.per_person if k in known}
    for k, v in refs.stack.per_person:
        if k in known or not v:
            continue
        t = dest(k)
        if t is None:
            notes.append(f"person {k} is gone: dropped their {len(v)} effect(s)")
        else:
            effects.setdefault(t, []).extend(v)
            notes.append(f"person {k} was merged into {t}: their effects moved to {t}")
    depth = _carry_single(dict(refs.stack.depth_override), known, dest, "depth override", notes)
    own = _carry_single(dict(refs.backgrounds), known, dest, "own background", notes)
    mattes = _carry_single(dict(refs.mattes), known, dest, "own matte", notes)
    stack = EffectStack(effects, refs.stack.everyone, depth)
    return PersonRefs(stack, tuple(sorted(own.items())), tuple(sorted(mattes.items()))), notes


def _carry_single(values: dict[int, Any], known: AbstractSet[int],
                  dest: Callable[[int], int | None], what: str, notes: list[str]) -> dict[int, Any]:
    """One value per person (a depth override, an own background or matte): kept for known
    ids, carried to a target that has none, else dropped."""
    out = {k: v for k, v in values.items() if k in known}
    for k in sorted(values):
        if k in known:
            continue
        t = dest(k)
        if t is not None and t not in out:
            out[t] = values[k]
            notes.append(f"person {k} was merged into {t}: their {what} moved to {t}")
        else:
            why = "is gone" if t is None else f"was merged into {t}, which has one"
            notes.append(f"person {k} {why}: dropped their {what}")
    return out


__all__ = ["PersonRefs", "carry_refs", "refs_of"]
