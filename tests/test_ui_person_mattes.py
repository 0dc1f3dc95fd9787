"""Matte settings per person in the app, offscreen: the Matte panel's scope, real rendered
pixels around each person in the viewer, undo, the viewer against a headless
``render_project`` of the saved project and the app's export, projects opened and saved, and
identity edits carrying or dropping a person's matte.

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
from editor_plugin.project import MatteSettings, Project
from editor_plugin.render import FrameRange, render_project
from editor_plugin.session import ClipSession
from effects.backgrounds import SolidColor
from effects.matte_settings import MatteOverride
from effects.stack import EffectStack
from ui.person_refs import PersonRefs, carry_refs

GREEN = (0, 255, 0)


@pytest.fixture(scope="module")
def pm_clip(tmp_path_factory) -> tuple[Path, Path]:
    return three_people_clip(tmp_path_factory.mktemp("ui-pm-clip"))


@pytest.fixture()
def win(qtbot, pm_clip):
    w = _make(qtbot, *pm_clip)
    yield w
    w.close()


def test_a_persons_own_matte_changes_only_them_and_matches_the_export(qtbot, win, tmp_path):
    w, mp = win, win.effects.matte_panel
    w.set_selected({1, 2, 3})
    w.background_panel.set_color(GREEN)
    mp.refine.setCurrentText("none")  # everyone's: hard mattes, exactly as cached
    w.show_frame(FRAME)
    before = w.composite.copy()
    dist = _distances(w, FRAME)
    near3 = (dist[3] > 0) & (dist[3] <= 5)
    others = (np.minimum(dist[1], dist[2]) <= 6) & (dist[3] > 20)
    assert near3.sum() > 50 and others.sum() > 50

    # Person 3's own matte: grown by 6 px.  Everyone's stays hard.
    mp.set_scope(3)
    assert mp.default_box.isVisible() and mp.default_box.isChecked()
    assert "uses the default" in mp.note.text()
    mp.expand.setValue(6.0)
    assert w.state.person_mattes == ((3, MatteOverride(expand_px=6.0)),)
    assert w.state.matte == MatteSettings("none")
    assert not mp.default_box.isChecked() and "expand/choke" in mp.note.text()
    after = w.composite.copy()
    changed = np.any(after != before, axis=2)
    assert changed[near3].mean() > 0.9  # person 3's pixels reach 5 px further out ...
    assert not changed[others].any()  # ... and around persons 1 and 2 nothing moved
    assert np.abs(before[near3].astype(int) - GREEN).max() <= 2

    # Undo puts the default matte back; redo the own one.
    w.undo_stack.undo()
    assert w.state.person_mattes == () and mp.default_box.isChecked()
    assert mp.expand.value() == 0.0
    np.testing.assert_array_equal(w.composite, before)
    w.undo_stack.redo()
    np.testing.assert_array_equal(w.composite, after)

    # Everyone's matte is inherited where person 3 has nothing of their own.
    mp.set_scope(None)
    assert mp.expand.value() == 0.0
    mp.feather.setValue(2.0)
    mp.refine.setCurrentText("feather")
    mp.set_scope(3)
    assert mp.refine.currentText() == "feather" and mp.feather.value() == 2.0
    assert mp.expand.value() == 6.0
    assert w.state.person_mattes == ((3, MatteOverride(expand_px=6.0)),)
    w.show_frame(FRAME)
    comp = w.composite.copy()

    # The saved project renders headlessly to the viewer's pixels; so does the app's export.
    saved = tmp_path / "pm.humanfx.json"
    assert w.save_project(saved)
    data = json.loads(saved.read_text())
    assert data["person_mattes"] == {"3": {"expand_px": 6.0}}
    assert data["matte"] == {"refine": "feather", "feather_px": 2.0}
    ref = render_project(ClipSession(w.session.path), Project.load(saved), tmp_path / "ref.mkv",
                         codec=Codec.FFV1, frames=FrameRange(FRAME, FRAME + 1), audio=False)
    np.testing.assert_array_equal(_frame(ref), comp)
    out = _export(qtbot, w, tmp_path / "app.mkv", FRAME - 1, FRAME + 1)
    np.testing.assert_array_equal(_frame(out, 1), comp)

    # "Use the default matte" removes it, undoably.
    mp.use_default()
    assert w.state.person_mattes == ()
    assert mp.expand.value() == 0.0
    w.undo_stack.undo()
    assert w.state.person_mattes == ((3, MatteOverride(expand_px=6.0)),)
    np.testing.assert_array_equal(w.composite, comp)


def test_project_with_person_mattes_opens_and_saves_them(qtbot, pm_clip, tmp_path):
    clip, tracks = pm_clip
    importer = ClipSession(clip)
    importer.import_tracks(tracks)
    src = tmp_path / "in.humanfx.json"
    Project(clip=clip, selected=(1, 2, 3), background=SolidColor(GREEN),
            matte=MatteSettings("feather", 1.0),
            person_mattes={1: MatteOverride(expand_px=-2.0, refine="none"),
                           3: MatteOverride(refine="guided", guided_radius=4)}).save(src)
    w = _make(qtbot)
    try:
        assert w.open_project(src)
        assert w.state.person_mattes == ((1, MatteOverride(refine="none", expand_px=-2.0)),
                                         (3, MatteOverride(refine="guided", guided_radius=4)))
        mp = w.effects.matte_panel
        mp.set_scope(3)
        assert not mp.default_box.isChecked()
        assert (mp.refine.currentText(), mp.feather.value(), mp.radius.value()) == \
            ("guided", 1.0, 4)
        assert mp.radius.isEnabled()
        mp.set_scope(2)
        assert mp.default_box.isChecked() and mp.refine.currentText() == "feather"
        assert not w.projects.dirty and w.undo_stack.count() == 0
        w.show_frame(FRAME)
        comp = w.composite.copy()
        out = tmp_path / "out.humanfx.json"
        assert w.save_project(out)
        a, b = json.loads(src.read_text()), json.loads(out.read_text())
        for key in ("person_mattes", "matte", "selected", "background"):
            assert b[key] == a[key], key
        ref = render_project(ClipSession(clip), Project.load(out), tmp_path / "ref.mkv",
                             codec=Codec.FFV1, frames=FrameRange(FRAME, FRAME + 1), audio=False)
        np.testing.assert_array_equal(_frame(ref), comp)
    finally:
        w.close()


def test_merge_carries_and_delete_drops_a_persons_matte(qtbot, win):
    w, mp = win, win.effects.matte_panel
    on = np.flatnonzero(w.timeline.presence[3])
    at = int(on[len(on) // 2])
    w.show_frame(at)
    w.set_selected({3})
    new = w.split_here()
    assert new is not None and new not in (1, 2, 3)
    mp.set_scope(new)
    mp.expand.setValue(-2.0)
    assert w.state.person_mattes == ((new, MatteOverride(expand_px=-2.0)),)
    w.set_selected({3, new})
    assert w.merge_selected()
    assert w.state.person_mattes == ((3, MatteOverride(expand_px=-2.0)),)
    assert mp.scope() is None  # the scope's person is gone
    assert w.projects.project().person_mattes == ((3, MatteOverride(expand_px=-2.0)),)
    w.undo_stack.undo()
    assert w.state.person_mattes == ((new, MatteOverride(expand_px=-2.0)),)
    w.undo_stack.redo()
    w.set_selected({3})
    assert w.delete_selected()
    assert w.state.person_mattes == ()
    w.undo_stack.undo()
    assert w.state.person_mattes == ((3, MatteOverride(expand_px=-2.0)),)


def test_carry_refs_moves_and_drops_own_mattes():
    a, b = MatteOverride(expand_px=3), MatteOverride(refine="none")
    refs = PersonRefs(EffectStack(), (), ((4, a), (7, b), (9, a)))
    got, notes = carry_refs(refs, known={4, 5}, carry={7: 5, 9: 4})
    assert got.mattes == ((4, a), (5, b))  # 7's went to 5; 4 keeps its own, 9's is dropped
    assert any("9" in n and "dropped their own matte" in n for n in notes)
    assert got.ids() == {4, 5}
    assert carry_refs(refs, known={4, 7, 9})[0] == refs
