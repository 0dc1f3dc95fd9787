"""A third-party humanfx effect: a translucent box over the person's bounding box."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from effects.model import FxContext, OverlayEffect, PersonState, describe, quad, rgb01


@dataclass(frozen=True, kw_only=True)
class DemoBox(OverlayEffect):
    """Covers the person's box (rounded to whole pixels) with ``color`` at ``alpha``."""

    effect_name: ClassVar[str] = "demo_box"
    shader_dir: ClassVar[Path] = Path(__file__).resolve().parent / "shaders"

    color: tuple[float, ...] = field(
        default=(255.0, 0.0, 255.0), metadata=describe(min=0, max=255, length=3, ui="color")
    )
    alpha: float = field(default=0.5, metadata=describe(min=0.0, max=1.0))

    def draw(self, fx: FxContext, person: PersonState) -> None:
        x, y, w, h = person.layer.bbox
        prog = fx.program("demo_box")
        prog["u_color"] = rgb01(self.color)
        prog["u_alpha"] = self.alpha
        fx.draw_over(prog, quad(round(x), round(y), round(x + w), round(y + h)), ("in_pos",))
