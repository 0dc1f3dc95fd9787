"""The effect model, keyframes and the entry-point registry (with a real third-party plugin)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from effects.joints import GlowOrb, MotionTrail, Particles, Sticker, TextLabel
from effects.keyframes import Keyframe, Keyframes, ease
from effects.model import UI_HINTS, Effect, OverlayEffect, PersonModifier
from effects.person import ColorGrade, Glow, Outline, Spotlight
from effects.registry import (
    ENTRY_POINT_GROUP,
    EffectRegistry,
    create,
    effect_from_dict,
    get_effect,
    list_effects,
)
from inference.errors import InputError

PLUGIN_SRC = Path(__file__).resolve().parent / "plugin_pkg"
BUILTINS = {
    "outline": Outline, "glow": Glow, "grade": ColorGrade, "spotlight": Spotlight,
    "sticker": Sticker, "orb": GlowOrb, "trail": MotionTrail, "particles": Particles, "label": TextLabel,
}  # fmt: skip


@pytest.fixture()
def sticker_png(tmp_path: Path) -> Path:
    img = np.zeros((6, 8, 4), np.uint8)
    img[..., 1] = 200
    img[1:5, 1:7, 3] = 255
    path = tmp_path / "star.png"
    assert cv2.imwrite(str(path), img)
    return path


# -- parameters and validation --------------------------------------------------------------------


def test_builtins_come_from_entry_points():
    eps = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert set(BUILTINS) <= set(eps)
    assert set(BUILTINS) <= set(list_effects())
    for name, cls in BUILTINS.items():
        found = get_effect(name)
        assert eps[name] == f"{found.__module__}:{found.__qualname__}"
        assert found.effect_name == name
        assert found is cls


def test_every_builtin_describes_its_parameters(sticker_png):
    for name in BUILTINS:
        cls = get_effect(name)
        params = cls.params()
        assert params, name
        assert issubclass(cls, (OverlayEffect, PersonModifier))
        for pname, p in params.items():
            assert p.ui in UI_HINTS, (name, pname, p.ui)
            assert p.type in (bool, int, float, str, Path, tuple), (name, pname)
            if p.type in (int, float):
                assert p.min is not None and p.max is not None, (name, pname)
            if p.choices:
                assert p.default in p.choices
        required = {k: sticker_png for k, p in params.items() if p.required}
        effect = cls(**required)  # every default is valid
        for pname, p in params.items():
            if not p.required:
                value = getattr(effect, pname)
                assert value == (p.type(p.default) if p.type is not tuple else p.default)
    assert get_effect("glow").params()["radius"].unit == "px"
    assert get_effect("glow").params()["color"].ui == "color"
    assert get_effect("sticker").params()["image"].ui == "file"
    assert get_effect("sticker").params()["image"].required
    assert get_effect("orb").params()["joints"].ui == "joints"


@pytest.mark.parametrize(
    ("name", "params", "words"),
    [
        ("glow", {"radius": 0.2}, ["glow", "radius", "out of range", "[1, 500] px"]),
        ("glow", {"intensity": 1.5}, ["glow", "intensity"]),
        ("glow", {"radius": "big"}, ["glow", "radius", "number"]),
        ("glow", {"radius": float("nan")}, ["glow", "radius", "finite"]),
        ("glow", {"blend": "multiply"}, ["glow", "blend", "normal, add"]),
        ("outline", {"color": (255, 0)}, ["outline", "color", "3 items"]),
        ("outline", {"color": (255, 0, 300)}, ["outline", "color", "out of range"]),
        ("particles", {"rate": 2.5}, ["particles", "rate", "whole number"]),
        ("particles", {"rate": True}, ["particles", "rate"]),
        ("spotlight", {"layer": "middle"}, ["spotlight", "layer", "behind, front"]),
        ("orb", {"joints": ("left_hand",)}, ["orb", "joints", "'left_hand'", "COCO"]),
        ("trail", {"joints": "nose,elbow"}, ["trail", "joints", "'elbow'"]),
        ("label", {"hold_frames": -1}, ["label", "hold_frames"]),
    ],
)
def test_bad_parameters_name_effect_and_parameter(name, params, words):
    with pytest.raises(InputError) as info:
        create(name, **params)
    msg = str(info.value)
    for w in words:
        assert w in msg, (w, msg)
    assert "\n" not in msg


def test_sticker_joint_lists_and_file(tmp_path, sticker_png):
    with pytest.raises(InputError, match="scale_joints.*two joints"):
        Sticker(image=sticker_png, scale_joints=("left_shoulder",))
    with pytest.raises(InputError, match="rotate_joints.*'chin'"):
        Sticker(image=sticker_png, rotate_joints=("nose", "chin"))
    missing = tmp_path / "no-such-sticker.png"
    with pytest.raises(InputError, match="no-such-sticker.png: sticker image not found"):
        Sticker(image=missing)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(InputError, match="junk.png: cannot decode sticker image"):
        Sticker(image=junk)
    with pytest.raises(InputError, match="needs parameter 'image'"):
        create("sticker")
    s = create("sticker", image=str(sticker_png), joints="left_eye, right_eye")
    assert s.image == sticker_png and s.joints == ("left_eye", "right_eye")


def test_effects_are_frozen_values_and_replace_validates():
    g = Glow(radius=10)
    assert g.radius == 10.0 and isinstance(g.radius, float)  # coerced to the declared type
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.radius = 12  # type: ignore[misc]
    g2 = g.replace(radius=20, color=[1, 2, 3])
    assert g2 is not g and g.radius == 10.0 and g2.radius == 20.0
    assert g2.color == (1.0, 2.0, 3.0)
    assert g2 == Glow(radius=20, color=(1, 2, 3)) and hash(g2) == hash(
        Glow(radius=20, color=(1, 2, 3))
    )
    with pytest.raises(InputError, match="glow.*radius"):
        g.replace(radius=1e6)
    with pytest.raises(InputError, match="no parameter 'sigma'.*radius"):
        g.replace(sigma=3)
    with pytest.raises(InputError, match="no parameter 'sigma'"):
        create("glow", sigma=3)
    with pytest.raises(InputError, match="unknown effect 'sparkles'.*glow"):
        create("sparkles")


# -- keyframes ------------------------------------------------------------------------------------


def test_keyframe_interpolation_is_exact_at_rational_times():
    t1 = Fraction(1)
    third = Fraction(1, 3)
    for easing, expected in (
        ("linear", Fraction(1)),  # 3 * 1/3
        ("ease_in", Fraction(1, 3)),  # 3 * (1/3)^2
        ("ease_out", Fraction(5, 3)),  # 3 * 1/3 * (2 - 1/3)
        ("ease_in_out", Fraction(7, 9)),  # 3 * (1/3)^2 * (3 - 2/3)
        ("hold", Fraction(0)),
    ):
        kf = Keyframes([(0, 0, easing), (t1, 3)])
        got = kf.value_at(third)
        assert got == expected and isinstance(got, Fraction), easing
        assert kf.value_at(0) == 0 and kf.value_at(t1) == 3
        assert kf.value_at(Fraction(-5)) == 0 and kf.value_at(Fraction(7)) == 3
    # Segments each use their own start key's easing; keys are sorted; times may be strings.
    kf = Keyframes([Keyframe("2", 10, "ease_in"), (Fraction(1, 30), 4), (Fraction(1), 6, "hold")])
    assert [k.time for k in kf.keys] == [Fraction(1, 30), 1, 2]
    assert kf.value_at(Fraction(31, 60)) == 5  # linear midpoint of 4 -> 6
    assert kf.value_at(Fraction(3, 2)) == 6  # held until the next key
    assert kf.value_at(2) == 10
    # Tuples interpolate per component; floats stay floats.
    col = Keyframes([(0, (0, 100, 255.0)), (Fraction(1, 2), (255, 100, 0.0))])
    assert col.value_at(Fraction(1, 4)) == (Fraction(255, 2), 100, 127.5)
    assert isinstance(Keyframes([(0, 1.0), (1, 2.0)]).value_at(Fraction(1, 2)), float)
    assert ease("ease_in_out", Fraction(1, 2)) == Fraction(1, 2)


def test_keyframes_reject_inexact_times_and_bad_keys():
    with pytest.raises(InputError, match="exact"):
        Keyframes([(0.5, 1.0)])
    with pytest.raises(InputError, match="same time"):
        Keyframes([(1, 1.0), (Fraction(2, 2), 2.0)])
    with pytest.raises(InputError, match="easing"):
        Keyframes([(0, 1.0, "bounce")])
    with pytest.raises(InputError, match="at least one"):
        Keyframes([])
    with pytest.raises(InputError, match="all be numbers or all tuples"):
        Keyframes([(0, 1.0), (1, (1.0, 2.0))])
    with pytest.raises(InputError, match="number or a tuple"):
        Keyframes([(0, "red")])
    with pytest.raises(InputError, match="exact"):
        Keyframes([(0, 1.0)]).value_at(0.25)  # type: ignore[arg-type]


def test_effect_at_time_gives_concrete_values():
    g = Glow(
        radius=Keyframes([(0, 10.0, "ease_in"), (Fraction(2), 30.0)]),
        color=Keyframes([(0, (0, 0, 0)), (Fraction(1), (255, 51, 0))]),
    )
    assert g.animated
    g1 = g.at(Fraction(1))
    assert not g1.animated and g1 is not g
    assert g1.radius == 15.0 and isinstance(g1.radius, float)  # 10 + 20 * (1/2)^2
    assert g1.color == (255.0, 51.0, 0.0)
    assert g.at(Fraction(1, 2)).color == (127.5, 25.5, 0.0)
    assert isinstance(g.radius, Keyframes)  # at() never mutates
    plain = Glow(radius=5)
    assert plain.at(Fraction(3)) is plain
    # Integer parameters round half up.
    p = Particles(rate=Keyframes([(0, 0), (Fraction(1), 3)]))
    assert [p.at(Fraction(k, 6)).rate for k in range(7)] == [0, 1, 1, 2, 2, 3, 3]
    # Every keyframe value is validated; non-numeric parameters cannot be keyframed.
    with pytest.raises(InputError, match="glow: parameter radius"):
        Glow(radius=Keyframes([(0, 10.0), (1, 9999.0)]))
    with pytest.raises(InputError, match="blend cannot be keyframed"):
        Glow(blend=Keyframes([(0, 1.0)]))  # type: ignore[arg-type]


def test_to_dict_round_trip(sticker_png):
    effects: list[Effect] = [
        Glow(radius=Keyframes([(0, 4.0), (Fraction(7, 30), 9.0, "ease_out")]), blend="add"),
        Sticker(
            image=sticker_png,
            joints=("left_eye", "right_eye"),
            offset=Keyframes([(0, (0.0, -0.5)), (1, (0.0, 0.5))]),
        ),
        TextLabel(text="hi {track_id}"),
    ]
    for e in effects:
        data = e.to_dict()
        again = effect_from_dict(json.loads(json.dumps(data)))
        assert again == e
    with pytest.raises(InputError):
        effect_from_dict({"params": {}})


# -- third-party plugin through real entry points -------------------------------------------------


@pytest.fixture()
def installed_plugin(tmp_path, monkeypatch) -> Path:
    """The demo plugin built and installed by pip into a temporary folder put on sys.path."""
    src = tmp_path / "src"
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
           "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--target", str(site),
           str(src)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    monkeypatch.syspath_prepend(str(site))
    yield site
    for mod in [m for m in sys.modules if m.startswith("humanfx_demo_plugin")]:
        del sys.modules[mod]


def test_plugin_effect_shows_up_and_renders(installed_plugin, caplog):
    from effects.gl import create_context
    from effects.stack import EffectStack, StackRenderer
    from inference.cache.layers import PersonLayer

    registry = EffectRegistry()
    with caplog.at_level(logging.WARNING, logger="effects.registry"):
        names = registry.names()
    assert "demo_box" in names and set(BUILTINS) <= set(names)
    # The broken entry points are skipped, each with a warning naming it; the rest load.
    assert "demo_broken" not in names and "demo_not_an_effect" not in names
    assert "broken on purpose" in registry.failures["demo_broken"]
    assert "not an effects.model.Effect subclass" in registry.failures["demo_not_an_effect"]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "'demo_broken'" in logged and "'demo_not_an_effect'" in logged
    with pytest.raises(InputError, match="demo_broken.*failed to load"):
        registry.get("demo_broken")

    cls = registry.get("demo_box")
    assert cls.__module__ == "humanfx_demo_plugin"
    assert cls.params()["alpha"].max == 1.0
    with pytest.raises(InputError, match="demo_box: parameter alpha"):
        registry.create("demo_box", alpha=2.0)
    effect = registry.create("demo_box", color=(0, 255, 0), alpha=0.25)

    h, w = 24, 32
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    person = PersonLayer(7, (4.0, 3.0, 10.0, 12.0), np.zeros((17, 3)), 1.0, None, None)
    ctx = create_context()
    try:
        with StackRenderer(ctx, w, h) as renderer:
            out = renderer.render(
                frame, [person], EffectStack({7: [effect]}), frame_index=0, time=Fraction(0)
            )
    finally:
        ctx.release()
    expected = frame.astype(np.float64)
    box = expected[3:15, 4:14]
    box[:] = 0.25 * np.array([0, 255, 0]) + 0.75 * box
    expected = np.floor(expected + 0.5)
    assert np.abs(out.astype(np.float64) - expected).max() <= 1
    assert not np.array_equal(out, frame)
