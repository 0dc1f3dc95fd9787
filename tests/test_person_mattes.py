"""Matte settings per person: :class:`effects.stack.PersonMattes` with overrides on a real GL
context against single-person :class:`effects.refine.MatteRefiner` references, temporal state
per track, ``$.person_mattes`` in project files, ``render_project`` and ``humanfx render
--project``.

Real parts: a real EGL context (llvmpipe on CPU machines), a synthetic clip written with PyAV
(FFV1, lossless), its ground-truth layers in a real SQLite cache, outputs decoded again.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor_plugin.cli import main
from editor_plugin.media import Codec, VideoReader
from editor_plugin.project import MatteSettings, Project
from editor_plugin.render import render_project
from editor_plugin.session import ClipSession
from effects.backgrounds import SolidColor
from effects.matte import build_alpha
from effects.matte_settings import MatteOverride, resolve_overrides
from effects.refine import MatteRefiner
from effects.stack import EffectStack, PersonMattes, StackRenderer
from inference.cache.layers import PersonLayer
from inference.errors import InputError

H, W = 72, 128
BLACK = SolidColor((0, 0, 0))
WHITE_FRAME = np.full((H, W, 3), 255, np.uint8)
DEFAULT = MatteSettings("feather", 1.5)


def _ellipse(cx: int, cy: int, ax: int, ay: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.ellipse(m, (cx, cy), (ax, ay), 0, 0, 360, 1, -1)
    return m


def _person(track_id: int, mask: np.ndarray) -> PersonLayer:
    x, y, w, h = cv2.boundingRect(mask)
    return PersonLayer(track_id, (float(x), float(y), float(w), float(h)), np.zeros((17, 3)),
                       1.0, mask, None)


def _refiner(m: MatteSettings) -> MatteRefiner:
    return MatteRefiner(refine=m.refine, feather_px=m.feather_px, expand_px=m.expand_px,
                        radius=m.guided_radius, eps=m.guided_eps, temporal=m.temporal)


def _alpha(renderer: StackRenderer, persons: list[PersonLayer], mattes: PersonMattes,
           index: int) -> np.ndarray:
    """The rendered alpha (H, W) in 0..255: a white frame over a black background."""
    out = renderer.render(WHITE_FRAME, persons, EffectStack(), frame_index=index,
                          time=Fraction(index, 24), background=BLACK, mattes=mattes)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    return out[..., 0].astype(int)


# -- effects: PersonMattes with overrides on a real GL context --------------------------------------

def test_each_person_gets_their_own_matte(ctx):
    a, b = _ellipse(32, 36, 13, 22), _ellipse(96, 36, 12, 20)
    persons = [_person(1, a), _person(2, b)]
    own = resolve_overrides(DEFAULT, {1: MatteOverride(expand_px=6), 2: MatteOverride(
        expand_px=-3)})
    assert own == {1: MatteSettings("feather", 1.5, 6.0), 2: MatteSettings("feather", 1.5, -3.0)}
    ref_a = _refiner(own[1])(build_alpha([a], "none")).astype(int)
    ref_b = _refiner(own[2])(build_alpha([b], "none")).astype(int)
    assert not (ref_a & ref_b).any()  # far apart: each pixel is one person's
    with StackRenderer(ctx, W, H) as r:
        got = _alpha(r, persons, PersonMattes.from_settings(DEFAULT, own), 0)
        plain = _alpha(r, persons, PersonMattes.from_settings(DEFAULT), 0)
    left, right = np.s_[:, : W // 2], np.s_[:, W // 2:]
    assert np.abs(got[left] - ref_a[left]).max() <= 1
    assert np.abs(got[right] - ref_b[right]).max() <= 1
    # The overrides changed each person the way they say: grown on the left, choked right.
    ref_plain = _refiner(DEFAULT)(build_alpha([a, b], "none")).astype(int)
    assert np.abs(plain - ref_plain).max() <= 1
    assert (got[left] > 127).sum() > (plain[left] > 127).sum() + 100
    assert (got[right] > 127).sum() < (plain[right] > 127).sum() - 50


def test_pad_covers_the_largest_reach():
    own = {1: MatteSettings("feather", 1.5, 6.0), 2: MatteSettings("guided", 2.0,
                                                                    guided_radius=5)}
    m = PersonMattes.from_settings(MatteSettings("none"), own)
    assert m.pad(1) == 6 + 1 + 8  # expand + 1 + ceil(4 sigma) + 2
    assert m.pad(2) == 1 + 10 + 3 * 5 + 2
    assert m.pad(3) == 0  # the default: a hard matte reaches nowhere
    assert m.pad() == max(m.pad(1), m.pad(2))
    assert PersonMattes.from_settings(MatteSettings("none")).pad() == 0


def test_temporal_state_is_kept_per_track(ctx):
    """Person 1 stabilised by EMA, person 2 by median3, both moving: each equals their own
    single-person refiner over the stream (one shared state would mix the two)."""
    own = resolve_overrides(DEFAULT, {1: MatteOverride(expand_px=6, temporal="ema"),
                                      2: MatteOverride(expand_px=-3, temporal="median3")})
    refs = {tid: _refiner(m) for tid, m in own.items()}
    still = {tid: _refiner(MatteSettings(m.refine, m.feather_px, m.expand_px))
             for tid, m in own.items()}
    mattes = PersonMattes.from_settings(DEFAULT, own)
    moved = {1: 0, 2: 0}
    with StackRenderer(ctx, W, H) as r:
        for i in range(5):
            masks = {1: _ellipse(28 + 3 * i, 36, 12, 20), 2: _ellipse(98, 30 + 2 * i, 11, 18)}
            got = _alpha(r, [_person(t, m) for t, m in masks.items()], mattes, i)
            want = {t: refs[t](build_alpha([m], "none")).astype(int) for t, m in masks.items()}
            for t, m in masks.items():
                side = np.s_[:, : W // 2] if t == 1 else np.s_[:, W // 2:]
                assert np.abs(got[side] - want[t][side]).max() <= 1, (i, t)
                moved[t] += int((want[t] != still[t](build_alpha([m], "none"))).sum())
    assert moved[1] > 0 and moved[2] > 0  # the stabilisers did something


def test_matte_override_values_are_checked():
    o = MatteOverride({"expand_px": 4}, refine="guided")
    assert o.values == (("refine", "guided"), ("expand_px", 4.0))
    assert o.to_dict() == {"refine": "guided", "expand_px": 4.0}
    assert o.resolve(MatteSettings("none", 3.0, temporal="ema")) == MatteSettings(
        "guided", 3.0, 4.0, 8, 1e-3, "ema")
    assert MatteOverride().resolve(DEFAULT) == DEFAULT
    assert o.with_value("expand_px", -2).to_dict() == {"refine": "guided", "expand_px": -2.0}
    for kw, words in (({"feather_px": -1}, "feather_px"), ({"guided_radius": 2.5},
                      "guided_radius"), ({"temporal": "soon"}, "temporal"),
                      ({"wobble": 1}, "wobble")):
        with pytest.raises(InputError, match=words):
            MatteOverride(**kw)


# -- projects, render_project, the CLI -------------------------------------------------------------

GREEN = SolidColor((0, 255, 0))


def _frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as r:
        return [f.image.copy() for f in r.iter_frames()]


def _project(session: ClipSession) -> Project:
    return Project(clip=session.path, selected=(1, 2), background=GREEN, matte=DEFAULT,
                   person_mattes={2: MatteOverride(expand_px=-3, refine="none"),
                                  1: MatteOverride(expand_px=6)})


def test_project_round_trip_and_render(session, tmp_path):
    project = _project(session)
    assert project.person_mattes == ((1, MatteOverride(expand_px=6.0)),
                                     (2, MatteOverride(refine="none", expand_px=-3.0)))
    f = tmp_path / "p.humanfx.json"
    project.save(f)
    data = json.loads(f.read_text())
    assert data["person_mattes"] == {"1": {"expand_px": 6.0},
                                     "2": {"refine": "none", "expand_px": -3.0}}
    assert list(data).index("person_mattes") == list(data).index("matte") + 1
    loaded = Project.load(f)
    assert loaded == project
    # Not overridden: inherited from $.matte, also when $.matte changes.
    assert loaded.replace(matte=MatteSettings("feather", 3.0)).person_matte_settings()[1] \
        == MatteSettings("feather", 3.0, 6.0)

    a, b = tmp_path / "mem.mkv", tmp_path / "file.mkv"
    render_project(session, project, a, codec=Codec.FFV1, audio=False)
    render_project(session, loaded, b, codec=Codec.FFV1, audio=False)
    got, src = _frames(a), _frames(session.path)
    assert len(got) == len(src) == 12
    assert all(np.array_equal(x, y) for x, y in zip(got, _frames(b), strict=True))
    # Each person's matte is their own settings' refinement of their mask alone.
    own = project.person_matte_settings()
    with session.layers() as cache:
        for i, (s, g) in enumerate(zip(src, got, strict=True)):
            keep_bg = np.ones(s.shape[:2], np.float64)
            for p in cache.frame(i, tracks=(1, 2)):
                if p.mask is not None:
                    keep_bg *= 1.0 - _refiner(own[p.track_id])(build_alpha([p.mask], "none")) / 255
            want = (1.0 - keep_bg)[..., None] * s + keep_bg[..., None] * np.array([0, 255.0, 0])
            assert np.abs(g.astype(np.float64) - want).max() <= 1, f"frame {i}"
    # Without the overrides the picture is another one.
    plain = tmp_path / "plain.mkv"
    render_project(session, project.replace(person_mattes={}), plain, codec=Codec.FFV1,
                   audio=False)
    assert any(not np.array_equal(x, y) for x, y in zip(got, _frames(plain), strict=True))

    # `humanfx render --project` gets them through the project.
    cli = tmp_path / "cli.mkv"
    assert main(["-q", "render", str(session.path), "--project", str(f), "-o", str(cli),
                 "--codec", "ffv1", "--no-audio"]) == 0
    assert all(np.array_equal(x, y) for x, y in zip(got, _frames(cli), strict=True))


def test_a_file_without_person_mattes_saves_byte_identically(tmp_path):
    doc = {"format": "humanfx-project", "version": 1,
           "clip": {"path": "clip.mkv", "content_hash": None}, "layers": None,
           "selected": [1], "background": "blur:25",
           "matte": {"refine": "guided", "feather_px": 1.5, "expand_px": 2.0},
           "effects": {"everyone": [], "persons": {}}, "depth_override": None}
    f = tmp_path / "old.json"
    f.write_text(json.dumps(doc, indent=2) + "\n")
    p = Project.load(f)
    assert p.person_mattes == ()
    p.save(f)
    assert f.read_text() == json.dumps(doc, indent=2) + "\n"


def _doc(clip: Path, **extra) -> dict:
    return {"format": "humanfx-project", "version": 1, "clip": {"path": str(clip)},
            "selected": [1, 2], "background": "blur:5", **extra}


@pytest.mark.parametrize(("person_mattes", "where", "words"), [
    ({"2": {"feather_px": -1}}, '$.person_mattes["2"].feather_px', "[0, 100]"),
    ({"2": {"expand_px": 500}}, '$.person_mattes["2"].expand_px', "[-100, 100]"),
    ({"2": {"expand_px": "3"}}, '$.person_mattes["2"].expand_px', "number"),
    ({"2": {"guided_radius": 2.5}}, '$.person_mattes["2"].guided_radius', "whole number"),
    ({"2": {"guided_eps": 0}}, '$.person_mattes["2"].guided_eps', "number in"),
    ({"2": {"refine": "blur"}}, '$.person_mattes["2"].refine', "none, feather, guided"),
    ({"2": {"temporal": "smooth"}}, '$.person_mattes["2"].temporal', "off, ema, median3"),
    ({"2": {"wobble": 1}}, '$.person_mattes["2"].wobble', "not a matte key"),
    ({"2": 4}, '$.person_mattes["2"]', "JSON object"),
    ({"x": {}}, "$.person_mattes.x", "person id"),
    (["2"], "$.person_mattes", "JSON object"),
])
def test_bad_person_mattes_name_the_json_path(clip_files, tmp_path, person_mattes, where, words):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(_doc(clip_files[0], person_mattes=person_mattes)))
    with pytest.raises(InputError) as err:
        Project.load(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}: {where}: ") and words in msg, msg


def test_an_unknown_person_with_a_matte_is_an_error(session, tmp_path):
    project = _project(session).replace(person_mattes={7: MatteOverride(expand_px=2)})
    with pytest.raises(InputError, match="person 7 is not in this clip"):
        render_project(session, project, tmp_path / "o.mkv", codec=Codec.FFV1)
    assert not (tmp_path / "o.mkv").exists()
