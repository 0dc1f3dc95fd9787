"""Project files: save/load round trip, upgrade from version 0, validation errors and rendering.

Real parts: a synthetic clip written with PyAV, person layers in a real SQLite cache, a real
EGL context behind StackRenderer, FFV1 output decoded again and compared exactly.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from editor_plugin.cli import main
from editor_plugin.media import Codec, VideoReader
from editor_plugin.project import PROJECT_VERSION, UPGRADES, MatteSettings, Project
from editor_plugin.render import FrameRange, RenderSpec, render, render_project
from effects.backgrounds import BlurBackground, SolidColor, parse_background
from effects.keyframes import Keyframes
from effects.registry import create
from effects.stack import EffectStack
from inference.errors import InputError


def _frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as r:
        return [f.image.copy() for f in r.iter_frames()]


def _same(a: Path, b: Path) -> None:
    fa, fb = _frames(a), _frames(b)
    assert len(fa) == len(fb) > 0
    for i, (x, y) in enumerate(zip(fa, fb, strict=True)):
        assert np.array_equal(x, y), f"frame {i} differs"


def _effects_project(clip: Path) -> Project:
    orb = create("orb", joints=("right_wrist",), color=(255, 80, 40),
                 radius=Keyframes([(0, 6), (Fraction(1, 3), 14, "ease_in_out")]))
    trail = create("trail", joints=("left_wrist",), length=6, width=3.0, layer="front")
    stack = EffectStack(
        {1: [create("outline", width=2.0, color=(255, 0, 0)), orb],
         2: [create("grade", brightness=0.2), trail]},
        [create("glow", radius=6.0, intensity=0.5)],
        {2: 1000.0},
    )
    return Project(clip=clip.resolve(), selected=(1, 2), background=BlurBackground(7.0),
                   matte=MatteSettings("feather", 2.0), stack=stack)


def test_save_load_render_matches_the_in_memory_project(session, tmp_path):
    project = _effects_project(session.path).replace(content_hash=session.clip_hash)
    pfile = tmp_path / "edit" / "p.humanfx.json"
    pfile.parent.mkdir()
    project.save(pfile)
    assert sorted(p.name for p in pfile.parent.iterdir()) == ["p.humanfx.json"]  # no temp left
    data = json.loads(pfile.read_text())
    assert data["format"] == "humanfx-project" and data["version"] == PROJECT_VERSION
    assert not Path(data["clip"]["path"]).is_absolute()  # relative to the project file
    assert data["effects"]["persons"]["1"][1]["params"]["radius"]["keyframes"][1]["easing"] == (
        "ease_in_out")

    loaded = Project.load(pfile)
    assert loaded == project
    assert loaded.to_dict(pfile.parent) == data

    a, b = tmp_path / "mem.mkv", tmp_path / "file.mkv"
    render_project(session, project, a, codec=Codec.FFV1)
    render_project(session, loaded, b, codec=Codec.FFV1)
    _same(a, b)
    # The effects really drew something: without them the output differs.
    plain = tmp_path / "plain.mkv"
    render_project(session, project.replace(stack=EffectStack()), plain, codec=Codec.FFV1)
    assert any(not np.array_equal(x, y) for x, y in zip(_frames(a), _frames(plain), strict=True))


@pytest.mark.parametrize("background", ["blur:5", "color:#20a040"])
def test_no_effects_equals_plain_render(session, tmp_path, background):
    project = Project(clip=session.path, selected=(1,), background=parse_background(background),
                      matte=MatteSettings("none"))
    a, b = tmp_path / "project.mkv", tmp_path / "plain.mkv"
    render_project(session, project, a, codec=Codec.FFV1)
    render(session, RenderSpec(persons=(1,), background=parse_background(background),
                               codec=Codec.FFV1, refine="none"), b)
    _same(a, b)


def test_range_render_matches_the_full_render(session, tmp_path):
    """Trails and holds read the cache's history, so a range starts as the full render does."""
    trail = create("trail", joints=("right_wrist",), length=8, width=4.0, layer="front")
    orb = create("orb", joints=("left_ankle",), radius=8.0, hold_frames=3, fade_frames=3)
    project = Project(clip=session.path, selected=None, background=None,
                      stack=EffectStack({1: [trail], 2: [trail, orb]}))
    full, part = tmp_path / "full.mkv", tmp_path / "part.mkv"
    render_project(session, project, full, codec=Codec.FFV1)
    render_project(session, project, part, codec=Codec.FFV1, frames=FrameRange(6, 12))
    ff, fp = _frames(full), _frames(part)
    assert len(fp) == 6
    for i, img in enumerate(fp):
        assert np.array_equal(img, ff[6 + i]), f"frame {6 + i} differs"


def _v0(clip: str) -> dict:
    return {
        "format": "humanfx-project",
        "version": 0,
        "clip": clip,
        "persons": [1, 2],
        "background": "color:#102030",
        "refine": "none",
        "effects": [
            {"effect": "outline", "params": {"width": 2.0}, "person": 1},
            {"effect": "glow", "params": {"radius": 5.0}},
            {"effect": "trail", "params": {"joints": ["right_wrist"], "length": 4}, "person": 2},
            {"effect": "grade", "params": {"brightness": 0.1}, "person": None},
        ],
    }


def test_version_0_upgrades_and_renders(session, tmp_path):
    assert 0 in UPGRADES
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_v0(str(session.path))))
    project = Project.load(old)
    assert project.selected == (1, 2)
    assert project.background == SolidColor((0x10, 0x20, 0x30))
    assert project.matte == MatteSettings("none", 1.5)
    assert [e.label() for e in project.stack.everyone] == ["glow", "grade"]
    per = dict(project.stack.per_person)
    assert [e.label() for e in per[1]] == ["outline"]
    assert per[2][0].joints == ("right_wrist",) and per[2][0].length == 4
    # Saving writes the current version, which loads back to the same project.
    new = tmp_path / "new.json"
    project.save(new)
    assert json.loads(new.read_text())["version"] == PROJECT_VERSION
    assert Project.load(new) == project
    a, b = tmp_path / "old.mkv", tmp_path / "new.mkv"
    assert main(["-q", "render", str(session.path), "--project", str(old), "-o", str(a),
                 "--codec", "ffv1"]) == 0
    render_project(session, Project.load(new), b, codec=Codec.FFV1)
    _same(a, b)


def test_version_0_relative_clip_resolves_next_to_the_file(clip_files, tmp_path):
    clip = clip_files[0]
    f = clip.parent / "legacy.json"
    f.write_text(json.dumps(_v0(clip.name)))
    assert Project.load(f).clip == clip.resolve()


def _v1(clip: Path) -> dict:
    return _effects_project(clip).to_dict()


def _set(d: dict, path: tuple, value) -> None:
    for k in path[:-1]:
        d = d[k]
    if value is _DELETE:
        del d[path[-1]]
    else:
        d[path[-1]] = value


_DELETE = object()

BAD_CASES = [
    # (what, JSON path in the document, value, JSON path named in the error, words)
    ("unknown effect", ("effects", "persons", "1", 0, "effect"), "sparkles",
     '$.effects.persons["1"][0]', "unknown effect 'sparkles'"),
    ("bad parameter", ("effects", "everyone", 0, "params", "radius"), -3,
     "$.effects.everyone[0]", "radius"),
    ("unknown parameter", ("effects", "persons", "2", 0, "params", "wobble"), 1,
     '$.effects.persons["2"][0]', "wobble"),
    ("bad keyframes", ("effects", "persons", "1", 1, "params", "radius", "keyframes", 0, "value"),
     9999, '$.effects.persons["1"][1]', "radius"),
    ("effect not an object", ("effects", "everyone", 0), "glow", "$.effects.everyone[0]",
     "JSON object"),
    ("wrong version", ("version",), 7, "$.version", "upgrade humanfx"),
    ("version not a number", ("version",), "1", "$.version", "version number"),
    ("wrong format", ("format",), "something-else", "$.format", "humanfx-project"),
    ("missing clip", ("clip",), _DELETE, "$.clip", "missing"),
    ("clip without path", ("clip", "path"), 3, "$.clip.path", "path"),
    ("bad background", ("background",), "plaid:3", "$.background", "unknown kind"),
    ("bad refine", ("matte", "refine"), "smooth", "$.matte.refine", "none, feather"),
    ("bad feather", ("matte", "feather_px"), -1, "$.matte.feather_px", "[0, 100]"),
    ("bad selected", ("selected", 1), "two", "$.selected[1]", "person id"),
    ("bad person key", ("effects", "persons", "bob"), [], '$.effects.persons.bob', "person id"),
    ("bad depth", ("depth_override", "2"), "near", '$.depth_override["2"]', "number"),
    ("unknown key", ("colour",), 1, "$.colour", "not a project key"),
]


@pytest.mark.parametrize("case", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_every_validation_error_names_the_file_and_element(clip_files, tmp_path, case):
    _what, where, value, jpath, words = case
    doc = _v1(clip_files[0])
    _set(doc, where, value)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(InputError) as err:
        Project.load(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}: {jpath}: "), msg
    assert words in msg, msg


def test_version_0_errors_and_unreadable_files(tmp_path):
    doc = _v0("clip.mp4")
    doc["effects"][2]["person"] = "x"
    f = tmp_path / "v0.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"v0\.json: \$\.effects\[2\]\.person: must be a person"):
        Project.load(f)
    doc = _v0("clip.mp4")
    del doc["clip"]
    f.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"v0\.json: \$\.clip: is missing"):
        Project.load(f)
    f.write_text('{"format": "humanfx-project",')
    with pytest.raises(InputError, match=r"v0\.json: not valid JSON \(line 1"):
        Project.load(f)
    with pytest.raises(InputError, match=r"nope\.json: project file not found"):
        Project.load(tmp_path / "nope.json")
    # Valid documents are not changed by loading (the upgrade works on a copy).
    doc = _v0("clip.mp4")
    before = copy.deepcopy(doc)
    Project.from_dict(doc, base_dir=tmp_path)
    assert doc == before


def test_cli_render_with_project_and_overrides(session, tmp_path, capsys):
    project = _effects_project(session.path)
    pfile = tmp_path / "p.json"
    project.save(pfile)
    out = tmp_path / "cli.mkv"
    assert main(["-q", "render", str(session.path), "--project", str(pfile), "-o", str(out),
                 "--codec", "ffv1"]) == 0
    assert "wrote" in capsys.readouterr().out
    want = tmp_path / "api.mkv"
    render_project(session, project, want, codec=Codec.FFV1)
    _same(out, want)

    # Explicit flags override the project's settings.
    out2 = tmp_path / "override.mkv"
    assert main(["-q", "render", str(session.path), "--project", str(pfile), "-o", str(out2),
                 "--codec", "ffv1", "--person", "1", "--background", "color:#000000",
                 "--refine", "none", "--range", "2:8"]) == 0
    want2 = tmp_path / "api2.mkv"
    render_project(session, project.replace(selected=(1,), background=SolidColor((0, 0, 0)),
                                            matte=MatteSettings("none", 2.0)),
                   want2, codec=Codec.FFV1, frames=FrameRange(2, 8))
    _same(out2, want2)

    # Without a project, --person and --background are still needed.
    assert main(["-q", "render", str(session.path), "-o", str(tmp_path / "x.mkv"),
                 "--background", "blur:3"]) == 1
    assert "--person is required" in capsys.readouterr().err


def test_render_checks_persons_and_clip_hash(session, tmp_path):
    project = Project(clip=session.path, selected=(1,), background=BlurBackground(3.0),
                      stack=EffectStack({9: [create("outline")]}))
    with pytest.raises(InputError, match="person 9 is not in this clip"):
        render_project(session, project, tmp_path / "o.mkv", codec=Codec.FFV1)
    stale = project.replace(stack=EffectStack(), content_hash="0" * 64)
    with pytest.raises(InputError, match="content hash differs"):
        render_project(session, stale, tmp_path / "o.mkv", codec=Codec.FFV1)
    with pytest.raises(InputError, match="no person selected"):
        render_project(session, project.replace(selected=(), stack=EffectStack()),
                       tmp_path / "o.mkv", codec=Codec.FFV1)
    assert not any(tmp_path.iterdir())
