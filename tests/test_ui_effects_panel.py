"""The Effects and Matte panels, offscreen: generated controls for every registered effect,
real rendered pixels in the viewer and the export, reorder/remove, keyframes, undo, projects."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from editor_plugin.media import Codec, VideoReader
from editor_plugin.project import MatteSettings, Project
from editor_plugin.render import FrameRange, RenderSpec, render
from editor_plugin.session import ClipSession
from effects.backgrounds import SolidColor
from effects.keyframes import Keyframes
from effects.registry import EffectRegistry, get_effect, list_effects
from ui.effect_editor import KEY_OFF, KEY_ON, EffectEditor
from ui.effect_stack_panel import EffectStackPanel
from ui.main_window import MainWindow
from ui.param_widgets import (
    SLIDER_STEPS,
    BoolWidget,
    ChoiceWidget,
    ColorWidget,
    JointsWidget,
    NumberWidget,
    PathWidget,
    TextWidget,
    VectorWidget,
)

PLUGIN_SRC = Path(__file__).resolve().parent / "plugin_pkg"


def _png(path: Path, rgb: tuple[int, int, int]) -> Path:
    img = np.zeros((10, 10, 4), np.uint8)
    img[..., :3] = rgb[::-1]  # OpenCV writes BGR(A)
    img[..., 3] = 255
    assert cv2.imwrite(str(path), img)
    return path


@pytest.fixture()
def sticker_png(tmp_path: Path) -> Path:
    return _png(tmp_path / "green.png", (0, 255, 0))


def _click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# -- generated controls ---------------------------------------------------------------------------


def _drive(widget, p, current, tmp_path: Path):
    """Set a new valid value through ``widget``'s Qt controls; the value the effect must hold."""
    if isinstance(widget, NumberWidget):
        lo, hi = widget.spin.minimum(), widget.spin.maximum()
        for frac in (0.37, 0.61):
            target = lo + (hi - lo) * frac
            target = round(target) if widget.integer else round(target, widget.spin.decimals())
            if target != current:
                break
        widget.spin.setValue(target)
        return widget.spin.value()
    if isinstance(widget, BoolWidget):
        widget.box.click()
        return not current
    if isinstance(widget, ChoiceWidget):
        i = (widget.combo.currentIndex() + 1) % widget.combo.count()
        widget.combo.setCurrentIndex(i)
        return widget.combo.itemText(i)
    if isinstance(widget, PathWidget):
        other = _png(tmp_path / "other.png", (255, 0, 0))
        widget.choose(other)
        return other
    if isinstance(widget, TextWidget):
        widget.edit.setText("hello {track_id}")
        widget.edit.editingFinished.emit()
        return "hello {track_id}"
    if isinstance(widget, ColorWidget):
        widget.choose((12, 34, 56))
        return (12.0, 34.0, 56.0)
    if isinstance(widget, VectorWidget):
        widget.spins[0].setValue(1.5)
        return (widget.spins[0].value(), *current[1:])
    if isinstance(widget, JointsWidget):
        picked = [j for j in ("left_wrist", "right_wrist") if j not in current]
        widget.joint_actions[picked[0]].trigger()
        return None  # checked by the caller (may need a second joint)
    raise AssertionError(f"no driver for {type(widget).__name__}")


@pytest.mark.parametrize("name", list_effects())
def test_controls_of_every_registered_effect_round_trip(qtbot, name, sticker_png, tmp_path):
    cls = get_effect(name)
    required = {k: sticker_png for k, p in cls.params().items() if p.required}
    effect = cls(**required)
    editor = EffectEditor()
    qtbot.addWidget(editor)
    seen: list[tuple[object, str]] = []
    editor.changed.connect(lambda e, n, merge: seen.append((e, n)))
    editor.set_effect(effect, Fraction(0))
    params = cls.params()
    assert set(editor.widgets) == set(params)
    assert set(editor.key_buttons) == {n for n, p in params.items() if p.animatable}
    for pname, p in params.items():
        w = editor.widgets[pname]
        current = getattr(editor.effect, pname)
        shown = w.value()
        if p.type is float or (p.type is tuple and p.item is float):  # shown to 2-3 decimals
            np.testing.assert_allclose(np.asarray(shown, float), np.asarray(current, float),
                                       atol=0.005)
        else:
            assert shown == current, (pname, shown, current)
        expected = _drive(w, p, current, tmp_path)
        if isinstance(w, JointsWidget):
            if editor.error_text(pname):  # e.g. a sticker's rotate_joints needs two
                assert "two joints" in editor.error_text(pname)
                assert getattr(editor.effect, pname) == current  # refused: unchanged
                w.joint_actions["right_wrist"].trigger()
            expected = w.value()
            assert len(expected) > len(current)
        assert editor.error_text(pname) == "", editor.error_text(pname)
        got = getattr(editor.effect, pname)
        assert got == expected, (pname, got, expected)
        assert seen and seen[-1][1] == pname and seen[-1][0] is editor.effect

    # Out-of-range numbers are clamped by the spin boxes: they never reach the effect.
    for pname, p in params.items():
        w = editor.widgets[pname]
        if isinstance(w, NumberWidget) and p.max is not None and p.min is not None:
            limit = 2**31 - 1 if w.integer else float("inf")  # what a Qt int can hold
            w.spin.setValue(min(p.max + 1000, limit))
            assert getattr(editor.effect, pname) == p.max
            w.spin.setValue(max(p.min - 1000, -limit))
            assert getattr(editor.effect, pname) == p.min
            if w.slider is not None:
                w.slider.setValue(SLIDER_STEPS)
                assert getattr(editor.effect, pname) == p.max
            assert editor.error_text(pname) == ""
    cls(**{k: getattr(editor.effect, k) for k in params})  # what the editor holds is valid


def test_refused_values_are_shown_inline_and_never_reach_the_effect(qtbot, sticker_png, tmp_path):
    effect = get_effect("sticker")(image=sticker_png)
    editor = EffectEditor()
    qtbot.addWidget(editor)
    seen = []
    editor.changed.connect(lambda *a: seen.append(a))
    editor.set_effect(effect, Fraction(0))
    missing = tmp_path / "nowhere.png"
    editor.widgets["image"].choose(missing)
    assert "nowhere.png" in editor.error_text("image") and "not found" in editor.error_text("image")
    assert not editor.errors["image"].isHidden()
    assert editor.effect == effect and not seen
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    editor.widgets["image"].choose(not_an_image)
    assert "cannot decode" in editor.error_text("image") and editor.effect == effect
    editor.widgets["image"].choose(sticker_png.parent / "green.png")  # fixed: accepted
    assert editor.error_text("image") == "" and not seen  # same value: no change to report
    editor.widgets["rotate_joints"].joint_actions["left_eye"].trigger()
    assert "rotate_joints must name two joints" in editor.error_text("rotate_joints")
    assert editor.effect.rotate_joints == ()
    editor.widgets["rotate_joints"].joint_actions["right_eye"].trigger()
    assert editor.effect.rotate_joints == ("left_eye", "right_eye")
    assert editor.error_text("rotate_joints") == ""


def test_plugin_effects_are_in_the_add_menu(qtbot, tmp_path, monkeypatch):
    src = tmp_path / "src"
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
           "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--target", str(site),
           str(src)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    monkeypatch.syspath_prepend(str(site))
    try:
        panel = EffectStackPanel(registry=EffectRegistry())
        qtbot.addWidget(panel)
        panel.stack_edited.connect(lambda stack, text, key: panel.set_stack(stack))
        panel.add_menu.aboutToShow.emit()
        actions = {a.text(): a for a in panel.add_menu.actions()}
        assert {"glow", "sticker", "demo_box"} <= set(actions)
        assert not actions["demo_broken (failed to load)"].isEnabled()
        assert "broken on purpose" in actions["demo_broken (failed to load)"].toolTip()
        actions["demo_box"].trigger()
        assert [type(e).label() for e in panel.stack.everyone] == ["demo_box"]
        assert set(panel.editor.widgets) == {"layer", "color", "alpha"}
        panel.editor.widgets["alpha"].spin.setValue(0.25)
        assert panel.stack.everyone[0].alpha == 0.25
    finally:
        for mod in [m for m in sys.modules if m.startswith("humanfx_demo_plugin")]:
            del sys.modules[mod]


# -- the panel in the window ----------------------------------------------------------------------


def _near(mask: np.ndarray, changed: np.ndarray, reach: float) -> bool:
    """Whether every changed pixel is within ``reach`` pixels of ``mask``."""
    dist = cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, 5)
    return bool((dist[changed] <= reach).all())


def test_glow_and_sticker_change_the_viewer_and_the_export(qtbot, window, sticker_png, tmp_path):
    w = window
    tid = w.persons_panel.ids()[0]
    w.set_selected({tid})
    w.show_frame(5)
    panel = w.effects.stack_panel
    assert panel.target() == tid  # the panel follows the selected person
    before = w.composite.copy()
    person = next(p for p in w.preview.persons(5) if p.track_id == tid)

    glow = panel.add_effect("glow", radius=10.0, color=(255, 0, 0), intensity=1.0)
    assert w.state.stack.effects_for(tid) == (glow,)
    assert panel.labels() == ["glow (behind)"] and panel.current_effect() == glow
    assert w.projects.dirty
    glowing = w.composite.copy()
    changed = np.any(glowing != before, axis=2)
    assert changed.sum() > 30
    assert _near(person.mask, changed, 11.0)  # the halo is around this person only
    red = glowing[changed].astype(int) - before[changed].astype(int)
    assert red[:, 0].mean() > 20 and red[:, 1].mean() < 0

    sticker = panel.add_effect("sticker", image=sticker_png, size=12.0, joints=("nose",))
    assert w.state.stack.effects_for(tid) == (glow, sticker)
    stuck = w.composite.copy()
    changed = np.any(stuck != glowing, axis=2)
    nose = person.keypoints[0]
    ys, xs = np.nonzero(changed)
    assert len(xs) > 40
    assert np.hypot(xs + 0.5 - nose[0], ys + 0.5 - nose[1]).max() < 12.0
    assert (stuck[changed][:, 1] > 200).mean() > 0.5  # green sticker pixels

    # The export renders the project with its effects: the same pixels as the viewer.
    dlg = w.open_export_dialog()
    assert dlg is not None and dlg.uses_effects
    dlg.set_codec(Codec.FFV1)
    out = tmp_path / "fx.mkv"
    dlg.path.setText(str(out))
    dlg.start.setValue(3)
    dlg.stop.setValue(7)
    dlg.audio.setChecked(False)
    _click(qtbot, dlg.export_button)
    qtbot.waitUntil(lambda: dlg.output is not None or dlg.error is not None, timeout=30_000)
    assert dlg.error is None and dlg.output == out
    with VideoReader(out) as got:
        assert len(got) == 4
        np.testing.assert_array_equal(got.read(2).image, stuck)


def test_reorder_and_remove(qtbot, window):
    w = window
    tid = w.persons_panel.ids()[1]
    w.set_selected({tid})
    w.show_frame(4)
    before = w.composite.copy()
    panel = w.effects.stack_panel
    outline = panel.add_effect("outline", width=3.0, color=(0, 0, 255))
    glow = panel.add_effect("glow", radius=6.0, color=(255, 0, 0), intensity=1.0)
    assert panel.labels() == ["outline (behind)", "glow (behind)"]
    assert panel.current_row() == 1
    glow_on_top = w.composite.copy()
    assert not panel.down_button.isEnabled() and panel.up_button.isEnabled()
    _click(qtbot, panel.up_button)
    assert w.state.stack.effects_for(tid) == (glow, outline)
    assert panel.labels() == ["glow (behind)", "outline (behind)"] and panel.current_row() == 0
    outline_on_top = w.composite.copy()
    assert not np.array_equal(glow_on_top, outline_on_top)  # draw order is visible
    assert panel.move_current(1)
    assert w.state.stack.effects_for(tid) == (outline, glow)
    np.testing.assert_array_equal(w.composite, glow_on_top)
    panel.select(0)
    _click(qtbot, panel.remove_button)
    assert w.state.stack.effects_for(tid) == (glow,)
    assert panel.remove_current()
    assert w.state.stack.effects_for(tid) == () and panel.labels() == []
    assert not panel.remove_button.isEnabled()
    np.testing.assert_array_equal(w.composite, before)
    # Everyone's list is separate and applies to every person.
    panel.set_target(None)
    grade = panel.add_effect("grade", saturation=0.0)
    assert w.state.stack.everyone == (grade,)
    assert w.state.stack.effects_for(w.persons_panel.ids()[0]) == (grade,)


def test_keyframes_toggled_at_two_times_animate_the_parameter(qtbot, window):
    w = window
    tid = w.persons_panel.ids()[0]
    w.set_selected({tid})
    panel = w.effects.stack_panel
    editor = panel.editor
    panel.add_effect("glow", radius=6.0, color=(255, 255, 0), intensity=1.0)
    w.show_frame(2)
    t2 = w.preview.time_of(2)
    with VideoReader(w.session.path) as r:
        assert t2 == r.timestamps[2] and isinstance(t2, Fraction)
    assert editor.time == t2 and editor.key_buttons["radius"].text() == KEY_OFF
    _click(qtbot, editor.key_buttons["radius"])
    radius = panel.current_effect().radius
    assert isinstance(radius, Keyframes) and [(k.time, k.value) for k in radius.keys] == [(t2, 6.0)]
    assert editor.key_buttons["radius"].text() == KEY_ON
    at2 = w.composite.copy()

    w.show_frame(9)
    t9 = w.preview.time_of(9)
    assert isinstance(t9, Fraction) and t9 > t2
    assert editor.key_buttons["radius"].text() == KEY_OFF  # animated, no key here
    _click(qtbot, editor.key_buttons["radius"])
    editor.widgets["radius"].spin.setValue(30.0)  # edits the key at the playhead
    effect = panel.current_effect()
    assert [(k.time, k.value) for k in effect.radius.keys] == [(t2, 6.0), (t9, 30.0)]
    assert effect.at(t2).radius == 6.0 and effect.at(t9).radius == 30.0
    mid = (t2 + t9) / 2
    assert 6.0 < effect.at(mid).radius < 30.0
    assert effect.at(t2) != effect.at(t9)

    # The widget shows the value at the playhead; the viewer renders it.
    w.show_frame(5)
    assert editor.widgets["radius"].value() == pytest.approx(
        effect.at(w.preview.time_of(5)).radius, abs=1e-2)
    assert editor.key_buttons["radius"].text() == KEY_OFF
    w.show_frame(2)
    assert editor.widgets["radius"].value() == 6.0
    np.testing.assert_array_equal(w.composite, at2)

    # Removing keys: the last one turns the parameter back into a plain value.
    _click(qtbot, editor.key_buttons["radius"])  # at t2
    assert [k.time for k in panel.current_effect().radius.keys] == [t9]
    w.show_frame(9)
    _click(qtbot, editor.key_buttons["radius"])
    assert panel.current_effect().radius == 30.0 and not panel.current_effect().animated
    w.undo_stack.undo()
    w.undo_stack.undo()
    assert panel.current_effect().radius == effect.radius


def test_undo_restores_the_previous_stack(qtbot, window):
    w = window
    tid = w.persons_panel.ids()[0]
    w.set_selected({tid})
    w.show_frame(3)
    before_stack, before = w.state.stack, w.composite.copy()
    panel = w.effects.stack_panel
    n = w.undo_stack.count()
    panel.add_effect("outline", width=2.0, color=(255, 0, 255))
    outlined = w.composite.copy()
    assert not np.array_equal(outlined, before)
    spin = panel.editor.widgets["width"].spin
    spin.setValue(5.0)
    spin.setValue(8.0)  # merged with the previous edit: one step
    assert w.undo_stack.count() == n + 2
    assert w.undo_stack.undoText() == "Change outline width"
    assert panel.current_effect().width == 8.0
    w.undo_action.trigger()
    assert panel.current_effect().width == 2.0 and spin.value() == 2.0
    np.testing.assert_array_equal(w.composite, outlined)
    w.undo_action.trigger()
    assert w.state.stack == before_stack and panel.labels() == []
    np.testing.assert_array_equal(w.composite, before)
    w.redo_action.trigger()
    w.redo_action.trigger()
    assert panel.current_effect().width == 8.0
    assert w.state.stack.effects_for(tid)[0].width == 8.0


def test_matte_panel_edits_the_project_matte(qtbot, window, tmp_path):
    w = window
    tid = w.persons_panel.ids()[0]
    w.set_selected({tid})
    w.background_panel.set_color((0, 255, 0))
    w.show_frame(0)
    before = w.composite.copy()
    mp = w.effects.matte_panel
    assert not mp.radius.isEnabled()
    mp.expand.setValue(4.0)
    assert w.state.matte == MatteSettings(expand_px=4.0)
    grown = w.composite.copy()
    assert (np.any(grown != before, axis=2)).sum() > 20
    # The viewer shows what a headless render with the same matte writes.
    ref = render(ClipSession(w.session.path),
                 RenderSpec(persons=(tid,), background=SolidColor((0, 255, 0)),
                            codec=Codec.FFV1, frames=FrameRange(0, 1), audio=False,
                            expand_px=4.0), tmp_path / "ref.mkv")
    with VideoReader(ref) as r:
        np.testing.assert_array_equal(grown, r.read(0).image)
    dlg = w.open_export_dialog()  # no effects: render() with the project's matte
    assert dlg is not None and not dlg.uses_effects
    assert dlg.spec().expand_px == 4.0 and dlg.spec().refine == "feather"
    dlg.reject()
    mp.refine.setCurrentText("guided")
    assert w.state.matte.refine == "guided" and mp.radius.isEnabled() and mp.eps.isEnabled()
    assert w.projects.project().matte == w.state.matte
    w.undo_stack.undo()
    w.undo_stack.undo()
    assert w.state.matte == MatteSettings() and mp.expand.value() == 0.0
    np.testing.assert_array_equal(w.composite, before)


def test_saved_project_has_the_effects_and_reloads(qtbot, window, tmp_path, sticker_png):
    w = window
    tid = w.persons_panel.ids()[1]
    w.set_selected({tid})
    panel = w.effects.stack_panel
    panel.add_effect("sticker", image=sticker_png, size=9.0)
    w.show_frame(1)
    _click(qtbot, panel.editor.key_buttons["size"])
    w.show_frame(6)
    panel.editor.widgets["size"].spin.setValue(14.0)
    panel.set_target(None)
    panel.add_effect("grade", brightness=0.2)
    w.effects.matte_panel.feather.setValue(3.0)
    w.show_frame(6)
    composite = w.composite.copy()
    assert (composite != w.preview.read(6).image).any()  # the effects are in the picture
    out = tmp_path / "fx.humanfx.json"
    assert w.save_project(out)

    data = json.loads(out.read_text())
    assert [e["effect"] for e in data["effects"]["everyone"]] == ["grade"]
    sticker = data["effects"]["persons"][str(tid)][0]
    assert sticker["effect"] == "sticker" and len(sticker["params"]["size"]["keyframes"]) == 2
    assert data["matte"]["feather_px"] == 3.0
    saved = Project.load(out)
    assert saved.stack == w.state.stack and saved.matte == w.state.matte

    other = MainWindow()
    qtbot.addWidget(other)
    try:
        assert other.open_project(out)
        assert other.state.stack == saved.stack and other.state.matte == saved.matte
        assert other.effects.matte_panel.feather.value() == 3.0
        other.effects.stack_panel.set_target(tid)
        assert other.effects.stack_panel.labels() == ["sticker ◆"]
        other.show_frame(6)
        np.testing.assert_array_equal(other.composite, composite)
        assert not other.projects.dirty
    finally:
        other.close()


def test_an_effect_failing_to_render_shows_an_error_and_keeps_the_edit(qtbot, window, tmp_path):
    w = window
    tid = w.persons_panel.ids()[0]
    w.set_selected({tid})
    png = _png(tmp_path / "gone.png", (255, 0, 255))
    sticker = w.effects.stack_panel.add_effect("sticker", image=png, size=10.0)
    assert sticker is not None and w.last_error is None
    png.unlink()
    w.show_frame(3)
    assert w.last_error is not None and "gone.png" in w.last_error and "\n" not in w.last_error
    np.testing.assert_array_equal(w.composite, w.preview.read(3).image)  # the plain frame
    assert w.state.stack.effects_for(tid) == (sticker,)  # the edit is kept, to be fixed
    _png(png, (255, 0, 255))
    w.show_frame(3)
    assert (w.composite != w.preview.read(3).image).any()
