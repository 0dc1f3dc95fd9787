"""Matte controls end to end: expand/choke, guided filter and temporal stabilisation through
``render()``, ``render_project()``, project files and the ``humanfx render`` flags.

Real parts: a synthetic clip written with PyAV (FFV1, lossless), person layers in a real SQLite
cache, a real EGL context for the compositor / StackRenderer, FFV1 output decoded again and
compared with a NumPy composite made with :mod:`effects.refine` directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from editor_plugin.cli import main
from editor_plugin.media import Codec, VideoReader
from editor_plugin.project import MatteSettings, Project
from editor_plugin.render import RenderSpec, render, render_project
from editor_plugin.session import ClipSession
from effects.backgrounds import SolidColor
from effects.matte import build_alpha
from effects.refine import MatteRefiner, expand_matte
from inference.errors import InputError

GREEN = SolidColor((0, 255, 0))
PERSONS = (1, 2)


def _frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as r:
        return [f.image.copy() for f in r.iter_frames()]


def _masks(session: ClipSession, persons=PERSONS) -> list[list[np.ndarray]]:
    """Per frame, the cached masks of ``persons`` (uint8 0/1, (H, W))."""
    with session.layers() as cache:
        return [[p.mask for p in cache.frame(i, tracks=persons) if p.mask is not None]
                for i in range(session.info.frame_count)]


def _composite(src: np.ndarray, alpha: np.ndarray, color=(0, 255, 0)) -> np.ndarray:
    """alpha (H, W) uint8 -> alpha * src + (1 - alpha) * colour, float (H, W, 3)."""
    a = alpha.astype(np.float64)[..., None] / 255.0
    return a * src.astype(np.float64) + (1.0 - a) * np.asarray(color, np.float64)


def _max_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - want).max())


def test_expand_none_equals_numpy_dilated_composite(session, tmp_path):
    out = tmp_path / "expand.mkv"
    assert main(["-q", "render", str(session.path), "-o", str(out), "--person", "1,2",
                 "--background", "color:#00FF00", "--refine", "none", "--expand", "3",
                 "--codec", "ffv1", "--no-audio"]) == 0
    src, got, masks = _frames(session.path), _frames(out), _masks(session)
    assert len(got) == len(src) == 12
    grown = 0
    for i, (s, g) in enumerate(zip(src, got, strict=True)):
        hard = build_alpha(masks[i], "none", shape=s.shape[:2])
        alpha = expand_matte(hard, 3)
        grown += int((alpha > 0).sum() - (hard > 0).sum())
        err = _max_err(g, _composite(s, alpha))
        assert err <= 1, f"frame {i}: max abs error {err}"
    assert grown > 0, "the expand must add pixels"
    # A choke removes them instead (and differs from the hard render).
    choke = tmp_path / "choke.mkv"
    render(session, RenderSpec(persons=PERSONS, background=GREEN, codec=Codec.FFV1,
                               refine="none", expand_px=-2, audio=False), choke)
    for i, (s, g) in enumerate(zip(src, _frames(choke), strict=True)):
        alpha = expand_matte(build_alpha(masks[i], "none", shape=s.shape[:2]), -2)
        assert _max_err(g, _composite(s, alpha)) <= 1, f"frame {i}"


def test_guided_render_equals_numpy_matte_refiner(session, tmp_path):
    out = tmp_path / "guided.mkv"
    spec = RenderSpec(persons=PERSONS, background=GREEN, codec=Codec.FFV1, refine="guided",
                      feather_px=1.0, expand_px=1.0, guided_radius=4, guided_eps=1e-3,
                      audio=False)
    render(session, spec, out)
    src, got, masks = _frames(session.path), _frames(out), _masks(session)
    ref = MatteRefiner(refine="guided", feather_px=1.0, expand_px=1.0, radius=4, eps=1e-3)
    soft = 0
    for i, (s, g) in enumerate(zip(src, got, strict=True)):
        alpha = ref(build_alpha(masks[i], "none", shape=s.shape[:2]), s)
        soft += int(((alpha > 0) & (alpha < 255)).sum())
        err = _max_err(g, _composite(s, alpha))
        assert err <= 1, f"frame {i}: max abs error {err}"
    assert soft > 0, "the guided filter gives a soft edge"
    # It is not the plain feather.
    plain = tmp_path / "feather.mkv"
    render(session, RenderSpec(persons=PERSONS, background=GREEN, codec=Codec.FFV1,
                               refine="feather", feather_px=1.0, audio=False), plain)
    assert any(not np.array_equal(a, b) for a, b in zip(got, _frames(plain), strict=True))


def test_project_guided_applies_the_refiner_to_each_person(session, tmp_path):
    """Per-person mattes on padded crops equal the full-frame refinement of each mask."""
    settings = MatteSettings("guided", 1.0, expand_px=2.0, guided_radius=3, guided_eps=1e-3)
    out = tmp_path / "project.mkv"
    render_project(session, Project(clip=session.path, selected=PERSONS, background=GREEN,
                                    matte=settings), out, codec=Codec.FFV1, audio=False)
    src, got, masks = _frames(session.path), _frames(out), _masks(session)
    for i, (s, g) in enumerate(zip(src, got, strict=True)):
        keep_bg = np.ones(s.shape[:2], np.float64)
        for m in masks[i]:
            ref = MatteRefiner(refine="guided", feather_px=1.0, expand_px=2.0, radius=3, eps=1e-3)
            a = ref(build_alpha([m], "none"), s).astype(np.float64) / 255.0
            keep_bg *= 1.0 - a
        want = (1.0 - keep_bg)[..., None] * s + keep_bg[..., None] * np.array([0.0, 255.0, 0.0])
        err = _max_err(g, want)
        assert err <= 1, f"frame {i}: max abs error {err}"


@pytest.mark.parametrize("mode,same_frames", [("ema", 1), ("median3", 2)])
def test_temporal_changes_later_frames_only(session, tmp_path, mode, same_frames):
    off, on = tmp_path / "off.mkv", tmp_path / "on.mkv"
    base = {"persons": PERSONS, "background": GREEN, "codec": Codec.FFV1, "refine": "none",
            "audio": False}
    render(session, RenderSpec(**base), off)
    render(session, RenderSpec(**base, temporal=mode), on)
    a, b = _frames(off), _frames(on)
    # EMA: frame 0 is as is; median3 needs three frames, so 0 and 1 are as is.
    for i in range(same_frames):
        assert np.array_equal(a[i], b[i]), f"frame {i} must not change"
    for i in range(2, len(a)):
        assert not np.array_equal(a[i], b[i]), f"frame {i} must be stabilised"
    # The NumPy reference: one refiner over the stream, in frame order.
    src, masks = _frames(session.path), _masks(session)
    ref = MatteRefiner(refine="none", temporal=mode)
    for i, (s, g) in enumerate(zip(src, b, strict=True)):
        alpha = ref(build_alpha(masks[i], "none", shape=s.shape[:2]))
        assert _max_err(g, _composite(s, alpha)) <= 1, f"frame {i}"

    # The project path keeps one stabiliser per person.
    p_off, p_on = tmp_path / "p_off.mkv", tmp_path / "p_on.mkv"
    project = Project(clip=session.path, selected=PERSONS, background=GREEN,
                      matte=MatteSettings("none"))
    render_project(session, project, p_off, codec=Codec.FFV1, audio=False)
    render_project(session, project.replace(matte=MatteSettings("none", temporal=mode)), p_on,
                   codec=Codec.FFV1, audio=False)
    a, b = _frames(p_off), _frames(p_on)
    for i in range(same_frames):
        assert np.array_equal(a[i], b[i]), f"project frame {i} must not change"
    for i in range(2, len(a)):
        assert not np.array_equal(a[i], b[i]), f"project frame {i} must be stabilised"


def test_project_round_trip_with_the_new_matte_keys(clip_files, tmp_path):
    clip = clip_files[0]
    matte = MatteSettings("guided", 2.0, expand_px=-1.5, guided_radius=5, guided_eps=1e-4,
                          temporal="median3")
    project = Project(clip=clip.resolve(), selected=(1,), background=GREEN, matte=matte)
    f = tmp_path / "p.json"
    project.save(f)
    data = json.loads(f.read_text())
    assert data["matte"] == {"refine": "guided", "feather_px": 2.0, "expand_px": -1.5,
                             "guided_radius": 5, "guided_eps": 1e-4, "temporal": "median3"}
    assert Project.load(f) == project
    # Defaults are left out, so such a file is the same as before the new keys existed ...
    plain = project.replace(matte=MatteSettings("none", 2.0))
    plain.save(f)
    assert json.loads(f.read_text())["matte"] == {"refine": "none", "feather_px": 2.0}
    # ... and a file without them loads with the defaults.
    assert Project.load(f).matte == MatteSettings("none", 2.0, 0.0, 8, 1e-3, "off")

    bad = [("expand_px", 500, "$.matte.expand_px", "[-100, 100]"),
           ("expand_px", "3", "$.matte.expand_px", "number"),
           ("guided_radius", 2.5, "$.matte.guided_radius", "whole number"),
           ("guided_radius", 0, "$.matte.guided_radius", "[1, 200]"),
           ("guided_eps", 0, "$.matte.guided_eps", "number in"),
           ("temporal", "smooth", "$.matte.temporal", "off, ema, median3"),
           ("refine", "blur", "$.matte.refine", "none, feather, guided"),
           ("wobble", 1, "$.matte.wobble", "not a matte key")]
    for key, value, jpath, words in bad:
        doc = project.to_dict()
        doc["matte"][key] = value
        f.write_text(json.dumps(doc))
        with pytest.raises(InputError) as err:
            Project.load(f)
        msg = str(err.value)
        assert msg.startswith(f"{f}: {jpath}: ") and words in msg, msg
    with pytest.raises(InputError, match="temporal"):
        MatteSettings(temporal="sometimes")
    with pytest.raises(InputError, match="guided_radius"):
        MatteSettings(guided_radius=True)


def test_cli_matte_flags(session, tmp_path, capsys):
    out = tmp_path / "cli.mkv"
    assert main(["-q", "render", str(session.path), "-o", str(out), "--person", "1",
                 "--background", "color:#00FF00", "--codec", "ffv1", "--no-audio",
                 "--refine", "guided", "--feather", "2", "--expand", "-1",
                 "--temporal", "median3"]) == 0
    want = tmp_path / "api.mkv"
    render(session, RenderSpec(persons=(1,), background=GREEN, codec=Codec.FFV1,
                               refine="guided", feather_px=2.0, expand_px=-1.0,
                               temporal="median3", audio=False), want)
    fa, fb = _frames(out), _frames(want)
    assert len(fa) == len(fb) == 12
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))

    # With a project, the flags override only the matte keys they name.
    pfile = tmp_path / "p.json"
    Project(clip=session.path, selected=(1,), background=GREEN,
            matte=MatteSettings("feather", 2.0, guided_radius=3)).save(pfile)
    pout = tmp_path / "p.mkv"
    assert main(["-q", "render", str(session.path), "--project", str(pfile), "-o", str(pout),
                 "--codec", "ffv1", "--no-audio", "--expand", "2", "--temporal", "ema"]) == 0
    pwant = tmp_path / "p_api.mkv"
    render_project(session, Project.load(pfile).replace(
        matte=MatteSettings("feather", 2.0, 2.0, 3, 1e-3, "ema")), pwant, codec=Codec.FFV1,
        audio=False)
    assert all(np.array_equal(x, y)
               for x, y in zip(_frames(pout), _frames(pwant), strict=True))
    capsys.readouterr()

    for flags, words in ((["--refine", "smooth"], "--refine 'smooth'"),
                         (["--temporal", "always"], "--temporal 'always'"),
                         (["--feather", "-1"], "--feather '-1'"),
                         (["--feather", "wide"], "--feather 'wide'"),
                         (["--expand", "1e9"], "--expand '1e9'"),
                         (["--expand", "nan"], "--expand 'nan'")):
        bad = tmp_path / "bad.mkv"
        code = main(["-q", "render", str(session.path), "-o", str(bad), "--person", "1",
                     "--background", "color:#00FF00", *flags])
        err = capsys.readouterr().err
        assert code == 1, flags
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("humanfx: error: ") and words in err, err
        assert not bad.exists()
