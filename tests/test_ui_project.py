"""Project life in the app: save/open, recent files and geometry in QSettings, autosave and
recovery.  Settings go to an INI file in tmp_path, never the user's."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QSettings

from editor_plugin.project import Project
from editor_plugin.synth_io import write_synthetic_clip
from effects.backgrounds import BlurBackground, SolidColor
from inference.synth import SynthConfig
from ui.main_window import MainWindow

CONFIG = SynthConfig(people=2, frames=8, width=96, height=64, seed=2)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_synthetic_clip(tmp_path_factory.mktemp("clip"), CONFIG)


@pytest.fixture
def make_window(qtbot, clip, tmp_path):
    made = []

    def make(autosave_s: float = 60.0, with_clip: bool = True,
             resize: bool = True) -> MainWindow:
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        w = MainWindow(settings=settings, recovery_path=tmp_path / "recovery.humanfx.json",
                       autosave_s=autosave_s)
        qtbot.addWidget(w)
        if resize:
            w.resize(640, 480)
        w.show()
        qtbot.waitExposed(w)
        if with_clip:
            assert w.open_clip(clip[0])
            w.import_tracks(clip[1])
            qtbot.waitUntil(lambda: w.persons_panel.count() == 2, timeout=10_000)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def test_save_then_open_in_a_fresh_window(qtbot, make_window, tmp_path, clip):
    a = make_window()
    tid = a.persons_panel.ids()[1]
    a.set_selected({tid})
    a.background_panel.set_color((10, 200, 30))
    assert a.projects.dirty
    out = tmp_path / "edit.humanfx.json"
    assert a.save_project(out)
    assert not a.projects.dirty
    saved = Project.load(out)
    assert saved.selected == (tid,) and saved.background == SolidColor((10, 200, 30))
    rel = json.loads(out.read_text())["clip"]["path"]
    assert rel == f"../{clip[0].parent.name}/clip.mp4"  # relative to the project's folder
    composite = a.composite.copy()
    a.close()

    b = make_window(with_clip=False)
    assert b.projects.recent() == [str(out.resolve())]
    assert b.open_project(out)
    assert b.session.path == clip[0]
    assert b.state.selected == {tid} and b.persons_panel.selected_ids() == {tid}
    assert b.state.background == SolidColor((10, 200, 30))
    assert b.background_panel.background() == SolidColor((10, 200, 30))
    assert (b.composite == composite).all()
    assert not b.projects.dirty

    # Saving again (File > Save) keeps effects of the file untouched and the blur change.
    b.background_panel.set_blur(7.0)
    b.projects.save_action()
    assert Project.load(out).background == BlurBackground(radius=7.0)


def test_bad_project_file_shows_the_error(qtbot, make_window, tmp_path):
    w = make_window(with_clip=False)
    bad = tmp_path / "bad.humanfx.json"
    bad.write_text('{"format": "humanfx-project", "version": 1}')
    assert not w.open_project(bad)
    assert "bad.humanfx.json" in w.last_error and "\n" not in w.last_error
    assert w.session is None


def test_geometry_and_recent_files_persist(qtbot, make_window, tmp_path):
    a = make_window()
    a.resize(612, 433)
    qtbot.waitUntil(lambda: a.width() == 612)
    assert a.save_project(tmp_path / "one.humanfx.json")
    assert a.save_project(tmp_path / "two.humanfx.json")
    a.close()
    b = make_window(with_clip=False, resize=False)
    assert (b.width(), b.height()) == (612, 433)
    assert b.projects.recent() == [str((tmp_path / n).resolve())
                                   for n in ("two.humanfx.json", "one.humanfx.json")]
    b.projects.fill_recent_menu(b.recent_menu)
    assert [x.text() for x in b.recent_menu.actions()] == b.projects.recent()


def test_autosave_when_dirty_and_recovery_offered(qtbot, make_window, tmp_path):
    recovery = tmp_path / "recovery.humanfx.json"
    a = make_window(autosave_s=0.05)
    qtbot.wait(200)
    assert not recovery.exists()  # nothing changed yet: no autosave
    tid = a.persons_panel.ids()[0]
    a.set_selected({tid})
    a.background_panel.set_blur(5.0)
    qtbot.waitUntil(recovery.is_file, timeout=5_000)
    assert Project.load(recovery).selected == (tid,)

    # "Next start" while the first window never closed cleanly (it is still open).
    b = make_window(with_clip=False)
    box = b.projects.offer_recovery()
    assert box is not None and box.isVisible()
    b.projects.recover_button.click()
    assert b.session is not None and b.state.selected == {tid}
    assert b.state.background == BlurBackground(radius=5.0)
    assert b.projects.dirty  # recovered work is unsaved until saved
    assert b.save_project(tmp_path / "kept.humanfx.json")
    assert not recovery.exists()  # saving drops the recovery file

    # A window with nothing unsaved leaves no recovery file behind and offers none.
    a.projects.dirty = False
    a.close()
    assert not recovery.exists()
    c = make_window(with_clip=False)
    assert c.projects.offer_recovery() is None


def test_closing_with_unsaved_changes_keeps_them_for_recovery(qtbot, make_window, tmp_path):
    a = make_window()
    a.set_selected({a.persons_panel.ids()[0]})
    a.close()
    b = make_window(with_clip=False)
    box = b.projects.offer_recovery()
    assert box is not None
    b.projects.discard_button.click()
    assert not (tmp_path / "recovery.humanfx.json").exists()
    assert b.session is None
