"""The `humanfx` console script: the app for no command or a clip, the headless CLI otherwise."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from editor_plugin.cli import command_names
from ui.launcher import _wants_app


def test_app_or_command(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    commands = set(command_names())
    assert {"render", "import", "synth", "demo"} <= commands
    assert _wants_app([], commands)
    assert _wants_app(["app"], commands)
    assert _wants_app([str(clip)], commands)
    assert not _wants_app(["render", str(clip)], commands)
    assert not _wants_app(["--help"], commands)
    assert not _wants_app([str(tmp_path / "missing.mp4")], commands)


def test_console_script_runs_headless_commands(tmp_path):
    exe = shutil.which("humanfx") or str(Path(sys.executable).with_name("humanfx"))
    result = subprocess.run([exe, "persons", str(tmp_path / "missing.mp4")], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "missing.mp4" in result.stderr
    # headless commands never load Qt
    probe = subprocess.run([sys.executable, "-c",
                            ("import sys; from ui.launcher import main; "
                            "main(['persons', 'nope.mp4']); print('PySide6' in sys.modules)")],
                           capture_output=True, text=True, timeout=120, check=False)
    assert probe.stdout.strip() == "False", probe.stderr


def test_display_detection(monkeypatch):
    from ui.launcher import has_display

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert not has_display()
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert has_display()
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not has_display()
    monkeypatch.setenv("DISPLAY", ":0")
    assert has_display()
