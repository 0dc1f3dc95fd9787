"""Backgrounds per person in the app, offscreen: the Background panel's scope, real rendered
pixels in the viewer, the viewer against a headless ``render_project`` of the saved project and
the app's export, undo, projects with ``backgrounds`` opened and saved, identity edits.

Real parts: a synthetic clip written with PyAV (FFV1, lossless), its ground-truth layers in a
real SQLite cache, a real EGL context (llvmpipe on CPU machines), outputs decoded again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ui_people import FRAME, three_people_clip
from ui_people import distances as _distances
from ui_people import export_project as _export
from ui_people import make_window as _make
from ui_people import read_frame as _frame

from editor_plugin.media import Codec
from editor_plugin.project import Project
from editor_plugin.render import FrameRange, render_project
from editor_plugin.session import ClipSession
from effects.backgrounds import BlurBackground, SolidColor
from effects.stack import EffectStack
from ui.person_refs import PersonRefs, carry_refs
from ui.preview import ViewState

GREEN, MAGENTA = (0, 255, 0), (255, 0, 255)


@pytest.fixture(scope="module")
def pb_clip(tmp_path_factory) -> tuple[Path, Path]:
    return three_people_clip(tmp_path_factory.mktemp("ui-pbg-clip"))


@pytest.fixture()
def win(qtbot, pb_clip):
    w = _make(qtbot, *pb_clip)
    yield w
    w.close()


def _near(dist: dict[int, np.ndarray], tid: int, margin: float) -> np.ndarray:
    """Pixels 1-3 px from ``tid`` and nearer them than anyone else by more than ``margin``."""
    others = np.min([d for k, d in dist.items() if k != tid], axis=0)
    return (dist[tid] >= 1) & (dist[tid] <= 3) & (others - dist[tid] > margin)


def test_own_backgrounds_show_next_to_each_person_and_match_the_export(qtbot, win, tmp_path):
    w, panel = win, win.background_panel
    w.set_selected({1, 2})  # person 3 is selected by giving them a background
    w.effects.matte_panel.refine.setCurrentText("none")  # hard mattes: exact colours next to them
    panel.seam.setValue(8.0)
    assert w.state.seam_px == 8.0
    panel.set_scope(3)
    assert panel.default_box.isVisible() and panel.default_box.isChecked()
    panel.set_color(GREEN)
    assert w.state.selected == {1, 2, 3}
    assert w.state.person_backgrounds == ((3, SolidColor(GREEN)),)
    assert not panel.default_box.isChecked()
    panel.set_scope(1)
    panel.set_blur(6.0)
    assert w.state.person_backgrounds == ((1, BlurBackground(6.0)), (3, SolidColor(GREEN)))
    assert w.state.background is None  # everyone's stays the original frame

    w.show_frame(FRAME)
    comp = w.composite.copy()
    orig = w.preview.read(FRAME).image
    dist = _distances(w, FRAME)
    # An 8-px seam is a 9x9 box: 13 px nearer one person puts the box inside their region.
    near3, near1 = _near(dist, 3, 13), _near(dist, 1, 13)
    assert near3.sum() > 10 and near1.sum() > 10
    assert np.abs(comp[near3].astype(int) - GREEN).max() <= 2
    px1 = comp[near1].astype(int)
    assert (np.abs(px1 - GREEN).max(axis=1) > 40).all()  # not A's colour ...
    assert (np.abs(px1 - orig[near1].astype(int)).max(axis=1) > 0).mean() > 0.5  # ... blurred

    # The saved project renders headlessly to the same pixels.
    saved = tmp_path / "pbg.humanfx.json"
    assert w.save_project(saved)
    data = json.loads(saved.read_text())
    assert data["backgrounds"] == {"1": "blur:6", "3": "color:#00ff00"}
    assert data["background_seam_px"] == 8.0 and data["selected"] == [1, 2, 3]
    ref = render_project(ClipSession(w.session.path), Project.load(saved), tmp_path / "ref.mkv",
                         codec=Codec.FFV1, frames=FrameRange(FRAME, FRAME + 1), audio=False)
    np.testing.assert_array_equal(_frame(ref), comp)
    # So does the app's export.
    out = _export(qtbot, w, tmp_path / "app.mkv", FRAME - 1, FRAME + 1)
    np.testing.assert_array_equal(_frame(out, 1), comp)

    # Undo removes person 1's own background, then person 3's: the original frame again.
    w.undo_stack.undo()
    assert w.state.person_backgrounds == ((3, SolidColor(GREEN)),)
    assert panel.scope() == 1 and panel.default_box.isChecked()
    assert (np.abs(w.composite[near1].astype(int) - orig[near1]).max(axis=1) == 0).all()
    w.undo_stack.undo()
    assert w.state.person_backgrounds == ()
    np.testing.assert_array_equal(w.composite, orig)
    w.undo_stack.redo()
    w.undo_stack.redo()
    np.testing.assert_array_equal(w.composite, comp)


def test_use_default_removes_the_own_background_undoably(qtbot, win):
    w, panel = win, win.background_panel
    w.set_selected({1, 2, 3})
    panel.set_blur(4.0)  # everyone's
    assert w.state.background == BlurBackground(4.0)
    w.show_frame(FRAME)
    blurred = w.composite.copy()
    panel.set_scope(2)
    assert panel.background() == BlurBackground(4.0)  # shows the default it uses
    panel.set_color(MAGENTA)
    assert dict(w.state.person_backgrounds) == {2: SolidColor(MAGENTA)}
    assert (w.composite != blurred).any()
    panel.use_default()
    assert w.state.person_backgrounds == ()
    np.testing.assert_array_equal(w.composite, blurred)
    w.undo_stack.undo()
    assert dict(w.state.person_backgrounds) == {2: SolidColor(MAGENTA)}
    assert not panel.default_box.isChecked() and panel.background() == SolidColor(MAGENTA)
    # Everyone's background is its own step on the stack.
    panel.set_scope(None)
    assert panel.background() == BlurBackground(4.0)
    w.undo_stack.undo()
    w.undo_stack.undo()
    assert w.state.background is None and w.state.person_backgrounds == ()
    # Deselecting a person hides their own background (and it is not saved).
    w.undo_stack.redo()
    w.undo_stack.redo()
    assert _magentaish(w.composite) > 100
    w.set_selected({1, 3})
    assert w.state.own_backgrounds == () and w.projects.project().backgrounds == ()
    assert _magentaish(w.composite) == 0
    plain = ViewState(selected={1, 3}, background=BlurBackground(4.0), matte=w.state.matte)
    np.testing.assert_array_equal(w.composite, w.preview.render(FRAME, plain)[0])
    panel.set_scope(2)
    assert "not selected" in panel.note.text() and panel.background() == SolidColor(MAGENTA)


def _magentaish(img: np.ndarray) -> int:
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((r > 180) & (b > 180) & (g < 80)).sum())


def test_project_with_backgrounds_opens_and_saves_them(qtbot, pb_clip, tmp_path):
    clip, tracks = pb_clip
    importer = ClipSession(clip)
    importer.import_tracks(tracks)
    src = tmp_path / "in.humanfx.json"
    Project(clip=clip, selected=(1, 2, 3), background=BlurBackground(5.0),
            backgrounds={3: SolidColor(GREEN), 1: None}, background_seam_px=4.0,
            background_reach_px=30.0).save(src)
    w = _make(qtbot)
    try:
        assert w.open_project(src)
        assert w.state.person_backgrounds == ((1, None), (3, SolidColor(GREEN)))
        assert (w.state.seam_px, w.state.reach_px) == (4.0, 30.0)
        panel = w.background_panel
        assert panel.seam_px() == 4.0 and panel.reach_px() == 30.0
        panel.set_scope(3)
        assert panel.background() == SolidColor(GREEN) and not panel.default_box.isChecked()
        panel.set_scope(1)
        assert panel.background() is None and not panel.default_box.isChecked()
        assert not w.projects.dirty and w.undo_stack.count() == 0
        w.show_frame(FRAME)
        comp = w.composite.copy()
        out = tmp_path / "out.humanfx.json"
        assert w.save_project(out)
        a, b = json.loads(src.read_text()), json.loads(out.read_text())
        for key in ("backgrounds", "background_seam_px", "background_reach_px", "background",
                    "selected"):
            assert b[key] == a[key], key
        ref = render_project(ClipSession(clip), Project.load(out), tmp_path / "ref.mkv",
                             codec=Codec.FFV1, frames=FrameRange(FRAME, FRAME + 1), audio=False)
        np.testing.assert_array_equal(_frame(ref), comp)
    finally:
        w.close()


def test_merge_carries_the_own_background_and_effects_and_export_works(qtbot, win, tmp_path):
    w, panel = win, win.background_panel
    on = np.flatnonzero(w.timeline.presence[3])
    at = int(on[len(on) // 2])
    w.show_frame(at)
    w.set_selected({3})
    new = w.split_here()
    assert new is not None and new not in (1, 2, 3)
    panel.set_scope(new)
    panel.set_color(MAGENTA)
    w.effects.stack_panel.set_target(new)
    glow = w.effects.stack_panel.add_effect("glow", radius=6.0, color=(255, 0, 0))
    assert glow is not None
    assert w.state.selected == {3, new}
    w.set_selected({3, new})
    assert w.merge_selected()
    # The merged person's background and effects are now person 3's.
    assert w.state.person_backgrounds == ((3, SolidColor(MAGENTA)),)
    assert w.state.stack.per_person == ((3, (glow,)),)
    assert panel.scope() is None  # the scope's person is gone
    assert w.projects.project().backgrounds == ((3, SolidColor(MAGENTA)),)
    w.show_frame(at)
    comp = w.composite.copy()
    # Person 3 is the only one drawn: away from their glow, everything behind is magenta.
    far = _distances(w, at)[3] > 20
    assert far.sum() > 1000
    assert np.abs(comp[far].astype(int) - MAGENTA).max() <= 2
    out = _export(qtbot, w, tmp_path / "merged.mkv", at, at + 1)
    np.testing.assert_array_equal(_frame(out), comp)

    # Undo the merge: the split piece has its background and effect again.
    w.undo_stack.undo()
    assert sorted(w.persons_panel.ids()) == sorted([1, 2, 3, new])
    assert w.state.person_backgrounds == ((new, SolidColor(MAGENTA)),)
    assert w.state.stack.per_person == ((new, (glow,)),)
    w.undo_stack.redo()
    assert w.state.person_backgrounds == ((3, SolidColor(MAGENTA)),)

    # Deleting a person drops their own background; the export still works.
    w.set_selected({1})
    panel.set_scope(1)
    panel.set_blur(3.0)
    w.set_selected({1})
    assert w.delete_selected()
    assert 1 not in dict(w.state.person_backgrounds)
    w.set_selected({3})
    _export(qtbot, w, tmp_path / "deleted.mkv", 0, 2)


def test_carry_refs_moves_merged_and_drops_gone_ids():
    a, b = SolidColor(GREEN), BlurBackground(2.0)
    refs = PersonRefs(EffectStack({5: (), 7: ()}, depth_override={7: 10.0, 9: 3.0}),
                      ((4, a), (7, b), (9, None)))
    got, notes = carry_refs(refs, known={4, 5}, carry={7: 4, 9: 8})
    assert got.backgrounds == ((4, a),)  # 4 keeps its own; 7's is dropped, 9 has nowhere to go
    assert got.stack.depth_override == ((4, 10.0),)
    assert any("7" in n and "dropped" in n for n in notes)
    assert carry_refs(refs, known={4, 5, 7, 9})[0] == refs
