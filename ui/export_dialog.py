"""The export dialog: codec, frame range, audio and output file; renders on a worker thread.

The render is :func:`editor_plugin.render.render` with the window's selection, background and
matte -- or, when the edit has effects, persons' own backgrounds or persons' own mattes,
:func:`editor_plugin.render.render_project` of the window's project (background, persons' own
backgrounds, mattes and effect stack; what the viewer shows then, :mod:`ui.preview`) -- run by
a :class:`~ui.workers.Job`: a progress bar follows it, Cancel sets the job's
``threading.Event`` (the render then removes its partial output), and the UI thread never
waits for it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor_plugin.media import Codec
from editor_plugin.project import Project
from editor_plugin.render import FrameRange, RenderSpec, render, render_project
from editor_plugin.session import ClipSession
from effects.backgrounds import Background
from ui.workers import Job

#: (label, codec, default suffix; "" = a folder of PNG files)
CODECS: tuple[tuple[str, Codec, str], ...] = (
    ("H.264", Codec.H264, ".mp4"),
    ("HEVC (H.265)", Codec.HEVC, ".mp4"),
    ("ProRes 4444", Codec.PRORES4444, ".mov"),
    ("FFV1 (lossless)", Codec.FFV1, ".mkv"),
    ("PNG sequence", Codec.PNG, ""),
)


class ExportDialog(QDialog):
    """Export ``session``'s clip with ``background`` behind ``persons``.

    ``project``: the window's project; its matte settings are used, and when it has effects,
    persons' own backgrounds or persons' own mattes (:attr:`renders_project`) the export
    renders the whole project (``background`` may then be None: the original frame where no
    one's own shows).

    State for callers and tests: :attr:`job` (the running or last job), :attr:`output` (the
    written path after success), :attr:`error` (the one-line message after a failure or a
    cancel).
    """

    def __init__(self, session: ClipSession, persons: tuple[int, ...],
                 background: Background | None, *, refine: str = "feather",
                 parent: QWidget | None = None, project: Project | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.session = session
        self.persons = persons
        self.background = background
        self.refine = refine
        self.project = project
        self.job: Job | None = None
        self.output: Path | None = None
        self.error: str | None = None
        n = session.info.frame_count

        self.codec = QComboBox()
        for label, _, _ in CODECS:
            self.codec.addItem(label)
        self.path = QLineEdit(str(session.path.with_name(session.path.stem + "-humanfx.mp4")))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.start = QSpinBox()
        self.start.setRange(0, n - 1)
        self.stop = QSpinBox()
        self.stop.setRange(1, n)
        self.stop.setValue(n)
        rng = QHBoxLayout()
        rng.addWidget(self.start)
        rng.addWidget(QLabel("to"))
        rng.addWidget(self.stop)
        rng.addWidget(QLabel("(end exclusive)"))
        self.audio = QCheckBox("Include the clip's audio")
        self.audio.setChecked(session.info.has_audio)
        self.audio.setEnabled(session.info.has_audio)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        n_fx = len(project.stack.everyone) + sum(len(v) for _, v in project.stack.per_person) \
            if project is not None else 0
        n_own = len(project.backgrounds) if project is not None else 0
        n_mattes = len(project.person_mattes) if project is not None else 0
        self.status = QLabel(f"{len(persons)} person(s), background "
                             f"{background.spec if background is not None else 'none'}"
                             + (f", {n_own} person(s) with their own" if n_own else "")
                             + (f", {n_mattes} person(s) with their own matte"
                                if n_mattes else "")
                             + (f", {n_fx} effect(s)" if n_fx else ""))
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Codec", self.codec)
        form.addRow("Output", row)
        form.addRow("Frames", rng)
        form.addRow("", self.audio)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button.clicked.connect(self._cancel_or_close)
        self.codec.currentIndexChanged.connect(self._codec_changed)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    # -- settings -------------------------------------------------------------------------------
    def set_codec(self, codec: Codec) -> None:
        self.codec.setCurrentIndex([c for _, c, _ in CODECS].index(codec))

    @property
    def uses_effects(self) -> bool:
        """Whether the export renders the project's effect stack (render_project)."""
        p = self.project
        return p is not None and (bool(p.stack.everyone) or any(v for _, v in p.stack.per_person))

    @property
    def renders_project(self) -> bool:
        """Whether the export is :func:`render_project` of the project (it has effects,
        persons' own backgrounds or persons' own mattes) rather than :func:`render` of
        :meth:`spec`."""
        p = self.project
        return self.uses_effects or (p is not None and bool(p.backgrounds or p.person_mattes))

    def spec(self) -> RenderSpec:
        """The render as set in the dialog (without effects)."""
        _, codec, _ = CODECS[self.codec.currentIndex()]
        if self.background is None:
            raise ValueError("a render without effects needs a background")
        matte: dict[str, object] = {"refine": self.refine}
        if self.project is not None:
            # MatteSettings' fields are RenderSpec's matte fields, by name.
            matte = dataclasses.asdict(self.project.matte)
        return RenderSpec(persons=self.persons, background=self.background, codec=codec,
                          frames=FrameRange(self.start.value(), self.stop.value()),
                          audio=self.audio.isChecked(), **matte)

    def _codec_changed(self, index: int) -> None:
        _, _, suffix = CODECS[index]
        p = Path(self.path.text())
        base = p.with_suffix("") if p.suffix else p
        self.path.setText(str(base) + suffix)

    def _browse(self) -> None:
        _, codec, suffix = CODECS[self.codec.currentIndex()]
        if codec is Codec.PNG:
            path = QFileDialog.getExistingDirectory(self, "Export PNG frames to")
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(),
                                                  f"Video (*{suffix})")
        if path:
            self.path.setText(path)

    # -- running --------------------------------------------------------------------------------
    def start_export(self) -> Job:
        """Start rendering on a worker thread; returns the job."""
        out = Path(self.path.text()).expanduser()
        session = self.session
        if self.renders_project:
            assert self.project is not None
            project, (_, codec, _) = self.project, CODECS[self.codec.currentIndex()]
            frames = FrameRange(self.start.value(), self.stop.value())
            audio = self.audio.isChecked()

            def run(progress, cancel):
                return render_project(session, project, out, codec=codec, frames=frames,
                                      audio=audio, progress=progress, cancel=cancel)
        else:
            spec = self.spec()

            def run(progress, cancel):
                return render(session, spec, out, progress=progress, cancel=cancel)
        self.output = None
        self.error = None
        self.progress.setValue(0)
        self.status.setText(f"Exporting to {out}…")
        self.job = Job(run, name="export", parent=self)
        self.job.progressed.connect(self._on_progress)
        self.job.succeeded.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        self._set_running(True)
        self.job.start()
        return self.job

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def _set_running(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        for w in (self.codec, self.path, self.start, self.stop, self.audio):
            w.setEnabled(not running and (w is not self.audio or self.session.info.has_audio))

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setValue(int(100 * done / max(1, total)))

    def _on_done(self, path: object) -> None:
        self.output = Path(str(path))
        self.progress.setValue(100)
        self.status.setText(f"Wrote {self.output}")
        self._set_running(False)
        self.cancel_button.setText("Close")

    def _on_failed(self, message: str) -> None:
        self.error = message
        self.status.setText(message)
        self._set_running(False)

    def _cancel_or_close(self) -> None:
        if self.running:
            assert self.job is not None
            self.status.setText("Cancelling…")
            self.job.cancel()
        else:
            self.reject()

    def done(self, result: int) -> None:
        if self.running:
            assert self.job is not None
            self.job.cancel()
            self.job.wait()
        super().done(result)
