"""Backgrounds per person (effects.partition): the GL partition against an independent NumPy
reference, what shows next to each person, absent persons, project files and the CLI.

Real parts: a synthetic clip written with PyAV (FFV1, lossless), its ground-truth layers in a
real SQLite cache, a real EGL context (llvmpipe on CPU machines), outputs decoded again.
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
from editor_plugin.project import Project
from editor_plugin.render import RenderSpec, render, render_project
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from effects.backgrounds import (
    BlurBackground,
    ImageBackground,
    SolidColor,
    VideoBackgroundSpec,
    parse_background,
)
from effects.backgrounds_extra import DesaturateBackground
from effects.compositor import Compositor
from effects.partition import (
    PartitionedBackground,
    PersonBackgrounds,
    parse_person_background,
    person_distance,
)
from effects.stack import EffectStack, StackRenderer
from inference.errors import InputError
from inference.synth import SynthConfig

W, H = 192, 112
GREEN, MAGENTA = (0, 255, 0), (255, 0, 255)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    """3 people (1 and 2 on the left, 3 on the right), 6 frames, 192x112, lossless."""
    cfg = SynthConfig(people=3, frames=6, width=W, height=H, seed=6)
    return write_synthetic_clip(tmp_path_factory.mktemp("pbg-clip"), cfg, codec="ffv1")


@pytest.fixture()
def sess(clip) -> ClipSession:
    s = ClipSession(clip[0])
    s.import_tracks(clip[1])
    return s


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    """A real image file for ``image:`` backgrounds (a colour ramp)."""
    y, x = np.mgrid[0:90, 0:160]
    img = np.dstack([x * 255 // 159, y * 255 // 89, 255 - x * 255 // 159]).astype(np.uint8)
    path = tmp_path_factory.mktemp("pbg-img") / "ramp.png"
    cv2.imwrite(str(path), img)
    return path


def _frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as r:
        return [f.image.copy() for f in r.iter_frames()]


def _same(a: Path, b: Path) -> None:
    fa, fb = _frames(a), _frames(b)
    assert len(fa) == len(fb) > 0
    for i, (x, y) in enumerate(zip(fa, fb, strict=True)):
        assert np.array_equal(x, y), f"frame {i} differs"


def _frame_and_masks(sess: ClipSession, index: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    with VideoReader(sess.path) as r:
        image = r.read(index).image.copy()
    with sess.layers(None) as cache:
        masks = {p.track_id: p.mask for p in cache.frame(index) if p.mask is not None}
    assert sorted(masks) == [1, 2, 3]
    return image, masks


# -- an independent reference: brute-force distances, NumPy box filter and bilinear upsampling --

def _ref_distance(mask: np.ndarray, f: int) -> np.ndarray:
    gh, gw = -(-H // f), -(-W // f)
    padded = np.zeros((gh * f, gw * f), bool)
    padded[:H, :W] = mask > 0
    ys, xs = np.nonzero(padded.reshape(gh, f, gw, f).max(axis=(1, 3)))
    out = np.empty((gh, gw), np.float64)
    gx = np.arange(gw, dtype=np.float64)
    for row in range(gh):  # row by row: (gw, n) pairs at a time
        d2 = (gx[:, None] - xs[None, :]) ** 2 + (row - ys[None, :]) ** 2
        out[row] = np.sqrt(d2.min(axis=1)) * f
    return out


def _ref_box(img: np.ndarray, k: int) -> np.ndarray:
    r = k // 2
    p = np.pad(img, r, mode="edge")
    c = np.pad(p.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    s = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    return s / (k * k)


def _ref_upsample(grid: np.ndarray, f: int) -> np.ndarray:
    """Bilinear, texel centres at cell centres, edges clamped (what GL LINEAR sampling does)."""
    gh, gw = grid.shape

    def axis(n: int, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = np.clip((np.arange(n) + 0.5) / f - 0.5, 0.0, g - 1.0)
        i0 = np.floor(s).astype(int)
        return i0, np.minimum(i0 + 1, g - 1), s - i0

    y0, y1, fy = axis(H, gh)
    x0, x1, fx = axis(W, gw)
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    bot = grid[y1][:, x0] * (1 - fx) + grid[y1][:, x1] * fx
    return top * (1 - fy[:, None]) + bot * fy[:, None]


def _ref_weights(owners: list[tuple[int, np.ndarray]], n_groups: int, seam: float, f: int,
                 reach: float | None, reach_group: int) -> np.ndarray:
    """(n_groups, H, W) weights: nearest owner per cell, box-filtered indicators, upsampled."""
    d = [_ref_distance(m, f) for _, m in owners]
    groups = [g for g, _ in owners]
    if reach is not None:
        d.append(np.full_like(d[0], reach))
        groups.append(reach_group)
    label = np.asarray(groups)[np.argmin(np.stack(d), axis=0)]
    k = 2 * int(seam / f // 2) + 1  # the odd number nearest seam / f
    return np.stack([_ref_upsample(_ref_box((label == g).astype(np.float64), k), f)
                     for g in range(n_groups)])


def _alone(comp: Compositor, image: np.ndarray, bg) -> np.ndarray:
    """One background on its own (alpha 0), as the compositor draws it."""
    if bg is None:
        return image.astype(np.float64)
    return comp.composite(image, np.zeros((H, W), np.uint8), bg, frame_index=0,
                          time=Fraction(0)).astype(np.float64)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


# -- the partition against the reference ------------------------------------------------------

def test_person_distance_is_the_exact_euclidean_distance(sess):
    _, masks = _frame_and_masks(sess, 2)
    for f in (1, 3, 4):
        for m in masks.values():
            got = person_distance(m, f)
            assert got.shape == (-(-H // f), -(-W // f))
            np.testing.assert_allclose(got, _ref_distance(m, f), atol=1e-3 * f)
            assert np.array_equal(person_distance(m.astype(bool), f), got)


CASES = [  # (frame, seam_px, reach_px, grid_limit -> cell size)
    (1, 24.0, None, 640),    # 1-pixel cells: exact
    (4, 0.0, 30.0, 640),     # hard partition, with the default beyond 30 px
    (3, 24.0, 40.0, 48),     # 4-pixel cells: weights upsampled by the GPU
]


@pytest.mark.parametrize("case", CASES, ids=["exact", "hard-reach", "grid4"])
def test_gl_partition_matches_the_reference(ctx, sess, picture, case):
    index, seam, reach, limit = case
    image, masks = _frame_and_masks(sess, index)
    default = BlurBackground(9.0)
    own = {1: ImageBackground(picture, "fill"), 2: BlurBackground(2.0),
           3: DesaturateBackground(1.0)}
    pb = PersonBackgrounds(default, own, seam_px=seam, reach_px=reach, grid_limit=limit)
    bg = pb.for_frame(masks)
    assert isinstance(bg, PartitionedBackground)
    f = bg.factor
    assert f == (4 if limit == 48 else 1)
    comp = Compositor(ctx, W, H)
    try:
        got = comp.composite(image, np.zeros((H, W), np.uint8), bg, frame_index=index,
                             time=Fraction(index, 24)).astype(np.float64)
        # groups: 0 = default (reach), 1..3 = persons 1..3
        wts = _ref_weights([(k, masks[k]) for k in (1, 2, 3)], 4, seam, f, reach, 0)
        layers = [_alone(comp, image, b) for b in (default, own[1], own[2], own[3])]
    finally:
        comp.release()
    want = sum(w[..., None] * layer for w, layer in zip(wts, layers, strict=True))
    err = np.abs(got - want)
    assert err.max() <= 2, err.max()
    assert _psnr(got, want) >= 45.0
    # Each person's own background (and, with a reach, the default) really shows somewhere.
    for g in range(0 if reach is not None else 1, 4):
        assert (wts[g] > 0.5).sum() > 20, g


def test_more_backgrounds_than_one_pass_holds(ctx, sess, picture):
    """Seven backgrounds (six persons' and the default beyond a reach) take two GL passes."""
    image, _ = _frame_and_masks(sess, 0)
    centres = [(20, 20), (70, 30), (130, 25), (170, 80), (100, 90), (30, 85)]
    discs = []
    for cx, cy in centres:
        m = np.zeros((H, W), np.uint8)
        cv2.circle(m, (cx, cy), 7, 1, -1)
        discs.append(m)
    own = {1: SolidColor(GREEN), 2: SolidColor(MAGENTA), 3: BlurBackground(4.0),
           4: ImageBackground(picture), 5: DesaturateBackground(0.5), 6: SolidColor((9, 9, 9))}
    default = BlurBackground(12.0)
    pb = PersonBackgrounds(default, own, seam_px=12.0, reach_px=25.0)
    bg = pb.for_frame({i + 1: m for i, m in enumerate(discs)})
    assert isinstance(bg, PartitionedBackground) and len(bg.layers) == 7
    comp = Compositor(ctx, W, H)
    try:
        got = comp.composite(image, np.zeros((H, W), np.uint8), bg, frame_index=0,
                             time=Fraction(0)).astype(np.float64)
        wts = _ref_weights([(i + 1, m) for i, m in enumerate(discs)], 7, 12.0, 1, 25.0, 0)
        layers = [_alone(comp, image, b) for b in (default, *(own[k] for k in range(1, 7)))]
    finally:
        comp.release()
    want = sum(w[..., None] * layer for w, layer in zip(wts, layers, strict=True))
    assert np.abs(got - want).max() <= 2


def test_each_persons_background_shows_right_next_to_them(sess, tmp_path):
    """Person 3 (right) gets green, person 1 (left) magenta, person 2 the default blur.

    With an 8-pixel seam (a box of 9 x 9 pixels), a pixel whose distance to the nearest other
    person exceeds its distance to this one by more than 13 px is over 6.5 px from the region
    boundary, so its square window lies in this person's region: exactly their background."""
    spec = RenderSpec(persons=(1, 2, 3), background=BlurBackground(6.0), codec=Codec.FFV1,
                      refine="none", seam_px=8.0,
                      person_backgrounds={3: SolidColor(GREEN), 1: SolidColor(MAGENTA)})
    out = render(sess, spec, tmp_path / "o.mkv")
    frames = _frames(out)
    checked = 0
    with sess.layers(None) as cache:
        for index, img in enumerate(frames):
            masks = {p.track_id: p.mask for p in cache.frame(index) if p.mask is not None}
            dist = {k: cv2.distanceTransform(np.where(m > 0, 0, 255).astype(np.uint8),
                                             cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
                    for k, m in masks.items()}
            for tid, color in ((3, GREEN), (1, MAGENTA)):
                others = np.min([d for k, d in dist.items() if k != tid], axis=0)
                # 1-3 px from the person, nearer them than anyone else by more than the seam
                near = (dist[tid] >= 1) & (dist[tid] <= 3) & (others - dist[tid] > 13)
                assert near.sum() > 10, (index, tid)
                diff = np.abs(img[near].astype(int) - np.array(color)).max()
                assert diff <= 2, (index, tid, diff)
                checked += 1
            # Next to person 2 (no background of their own) the default blur shows.
            others = np.min([dist[1], dist[3]], axis=0)
            near2 = (dist[2] >= 1) & (dist[2] <= 3) & (others - dist[2] > 13)
            if near2.any():
                px = img[near2].astype(int)
                assert (np.abs(px - GREEN).max(axis=1) > 40).all()
                assert (np.abs(px - MAGENTA).max(axis=1) > 40).all()
    assert checked == 2 * len(frames)


def test_absent_person_gets_no_background(ctx, sess):
    image, masks = _frame_and_masks(sess, 2)
    pb = PersonBackgrounds(BlurBackground(5.0), {3: SolidColor(GREEN)})
    without3 = {k: m for k, m in masks.items() if k != 3}
    assert pb.for_frame(without3) == BlurBackground(5.0)
    assert pb.for_frame({**without3, 3: np.zeros_like(masks[3])}) == BlurBackground(5.0)
    assert pb.for_frame({}) == BlurBackground(5.0)
    # Only person 3 drawn: the whole frame is theirs.
    assert pb.for_frame({3: masks[3]}) == SolidColor(GREEN)
    # Through the effect stack: a frame without person 3 renders as the default background.
    with StackRenderer(ctx, W, H) as r:
        with sess.layers(None) as cache:
            persons = [p for p in cache.frame(2) if p.track_id != 3]
        kw = {"frame_index": 2, "time": Fraction(2, 24), "selected": None}
        a = r.render(image, persons, EffectStack(),
                     background=pb.for_frame({p.track_id: p.mask for p in persons}), **kw)
        b = r.render(image, persons, EffectStack(), background=BlurBackground(5.0), **kw)
    assert np.array_equal(a, b)
    assert not (np.abs(a.astype(int) - GREEN).max(axis=2) <= 2).any()


# -- projects, the CLI, errors ------------------------------------------------------------------

def _project(sess: ClipSession, picture: Path) -> Project:
    return Project(clip=sess.path, selected=(1, 2, 3), background=BlurBackground(7.0),
                   backgrounds={3: SolidColor(GREEN), 1: ImageBackground(picture, "fit"),
                                2: None},
                   background_seam_px=10.0)


def test_project_save_load_render_gives_identical_frames(sess, tmp_path, picture):
    project = _project(sess, picture)
    pfile = tmp_path / "edit" / "p.humanfx.json"
    pfile.parent.mkdir()
    project.save(pfile)
    data = json.loads(pfile.read_text())
    assert data["version"] == 1
    assert data["backgrounds"]["3"] == "color:#00ff00" and data["backgrounds"]["2"] is None
    assert not Path(data["backgrounds"]["1"].split(":")[1]).is_absolute()
    assert data["background_seam_px"] == 10.0 and "background_reach_px" not in data
    loaded = Project.load(pfile)
    assert loaded == project
    a, b = tmp_path / "mem.mkv", tmp_path / "file.mkv"
    render_project(sess, project, a, codec=Codec.FFV1)
    render_project(sess, loaded, b, codec=Codec.FFV1)
    _same(a, b)
    # The persons' backgrounds changed the picture.
    plain = tmp_path / "plain.mkv"
    render_project(sess, project.replace(backgrounds={}), plain, codec=Codec.FFV1)
    assert any(not np.array_equal(x, y) for x, y in zip(_frames(a), _frames(plain), strict=True))


def test_a_file_without_person_backgrounds_saves_byte_identically(sess, tmp_path):
    doc = {"format": "humanfx-project", "version": 1,
           "clip": {"path": "clip.mkv", "content_hash": None}, "layers": None,
           "selected": [1], "background": "blur:25",
           "matte": {"refine": "feather", "feather_px": 1.5},
           "effects": {"everyone": [], "persons": {}}, "depth_override": None}
    f = tmp_path / "old.json"
    f.write_text(json.dumps(doc, indent=2) + "\n")
    p = Project.load(f)
    assert p.backgrounds == () and p.background_reach_px is None
    p.save(f)
    assert f.read_text() == json.dumps(doc, indent=2) + "\n"


def test_cli_person_background_matches_the_api_render(sess, tmp_path, capsys, picture):
    out = tmp_path / "cli.mkv"
    assert main(["-q", "render", str(sess.path), "-o", str(out), "--codec", "ffv1",
                 "--person", "1,2,3", "--background", "blur:25", "--refine", "none",
                 "--person-background", "3=color:#00FF00",
                 "--person-background", f"1=video:{sess.path}",
                 "--background-seam", "8", "--background-reach", "40"]) == 0
    assert "wrote" in capsys.readouterr().out
    want = tmp_path / "api.mkv"
    render(sess, RenderSpec(persons=(1, 2, 3), background=BlurBackground(25.0),
                            codec=Codec.FFV1, refine="none", seam_px=8.0, reach_px=40.0,
                            person_backgrounds={3: SolidColor(GREEN),
                                                1: VideoBackgroundSpec(sess.path)}), want)
    _same(out, want)

    # With a project: the flag adds to (or replaces) the project's persons' backgrounds.
    pfile = tmp_path / "p.json"
    _project(sess, picture).save(pfile)
    out2 = tmp_path / "cli2.mkv"
    assert main(["-q", "render", str(sess.path), "--project", str(pfile), "-o", str(out2),
                 "--codec", "ffv1", "--person-background", "2=color:#ff00ff"]) == 0
    want2 = tmp_path / "api2.mkv"
    project = _project(sess, picture)
    render_project(sess, project.replace(backgrounds={**dict(project.backgrounds),
                                                      2: SolidColor(MAGENTA)}),
                   want2, codec=Codec.FFV1)
    _same(out2, want2)


@pytest.mark.parametrize(("argv", "words"), [
    (["--person-background", "9=color:#00ff00", "--person", "1,2,9"], "person 9 is not in"),
    (["--person-background", "3=color:#00ff00"], "person 3 has a background of their own"),
    (["--person-background", "2=colr:#00ff00"], "'2=colr:#00ff00': person 2: bad background"),
    (["--person-background", "two=blur:3"], "'two=blur:3': use ID=BACKGROUND"),
    (["--person-background", "2=blur:3", "--person-background", "2=blur:4"], "given twice"),
    (["--person-background", "2=blur:3", "--background-seam", "-3"], "--background-seam -3"),
    (["--person-background", "2=blur:3", "--background-reach", "far"], "--background-reach"),
])
def test_cli_bad_input_names_it(sess, tmp_path, capsys, argv, words):
    base = ["-q", "render", str(sess.path), "-o", str(tmp_path / "x.mkv"), "--codec", "ffv1",
            "--background", "blur:3"]
    if "--person" not in argv:
        argv = [*argv, "--person", "1,2"]
    assert main([*base, *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("humanfx: error: ") and words in err, err
    assert not (tmp_path / "x.mkv").exists()


def _doc(clip: Path, **extra) -> dict:
    return {"format": "humanfx-project", "version": 1, "clip": {"path": str(clip)},
            "selected": [1, 2], "background": "blur:5", **extra}


@pytest.mark.parametrize(("extra", "where", "words"), [
    ({"backgrounds": {"2": "colr:#00ff00"}}, '$.backgrounds["2"]', "unknown kind"),
    ({"backgrounds": {"x": "blur:3"}}, "$.backgrounds.x", "person id"),
    ({"backgrounds": {"3": "blur:3"}}, '$.backgrounds["3"]', "person 3 is not selected"),
    ({"backgrounds": {"2": 5}}, '$.backgrounds["2"]', "background spec string"),
    ({"backgrounds": ["blur:3"]}, "$.backgrounds", "JSON object"),
    ({"background_seam_px": -1}, "$.background_seam_px", "0..1000"),
    ({"background_reach_px": "far"}, "$.background_reach_px", "distance"),
])
def test_project_errors_name_the_json_path(clip, tmp_path, extra, where, words):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(_doc(clip[0], **extra)))
    with pytest.raises(InputError) as err:
        Project.load(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}: {where}: ") and words in msg, msg


def test_unknown_person_ids_are_errors_naming_them(sess, tmp_path):
    everyone = Project(clip=sess.path, selected=None, background=BlurBackground(3.0),
                       backgrounds={7: SolidColor(GREEN)})
    with pytest.raises(InputError, match="person 7 is not in this clip"):
        render_project(sess, everyone, tmp_path / "o.mkv", codec=Codec.FFV1)
    with pytest.raises(InputError, match="person 3 has a background of their own"):
        render_project(sess, everyone.replace(selected=(1, 2), backgrounds={3: None}),
                       tmp_path / "o.mkv", codec=Codec.FFV1)
    with pytest.raises(InputError, match="person 4 has a background of their own"):
        RenderSpec(persons=(1,), background=BlurBackground(3.0),
                   person_backgrounds={4: SolidColor(GREEN)})
    assert parse_person_background("2=original") == (2, None)
    assert parse_person_background("2=blur:3") == (2, parse_background("blur:3"))
    assert not any(tmp_path.iterdir())
