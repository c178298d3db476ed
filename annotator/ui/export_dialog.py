"""File > Export…: one dialog for every format (COCO, YOLO segmentation/detection, Pascal VOC, labelme).

The dialog gathers :class:`~annotator.core.formats.export.ExportOptions` and the target; the project is
snapshotted on the GUI thread (:func:`~annotator.core.formats.selection.select_for_export`, no mask decoded)
and written by :class:`ExportRunner` in a worker thread (a ``BackgroundTask``: an unexpected error ends the
export with its message too), with the shared progress dialog of
:mod:`annotator.ui.job_runner` (Cancel stops between images). The result box lists what the format could not
express.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from annotator.core.errors import CoreError
from annotator.core.formats.export import (
    EXPORT_FORMATS,
    FORMAT_LABELS,
    ExportOptions,
    export_dataset,
    report_lines,
)
from annotator.core.formats.output import ExportCancelled
from annotator.core.formats.selection import IMAGE_CHOICES, ExportSelection, select_for_export
from annotator.core.model import SEGMENTATION_MODES, Project
from annotator.ui.job_runner import close_job_progress, open_job_progress, set_job_progress
from annotator.workers.background import BackgroundTask, TaskCancelled, TaskContext

if TYPE_CHECKING:
    from PySide6.QtWidgets import QProgressDialog

    from annotator.ui.main_window import MainWindow


IMAGE_LABELS = {
    "annotated": "Images with objects or marked done",
    "done": "Only images marked done",
    "all": "All images (unlabelled ones become negatives)",
}
MODE_LABELS = {
    "auto": "Polygons, holes kept (RLE only where needed)",
    "polygon": "Polygons, approximate where exact ones fail",
    "rle": "RLE for every object",
}


def default_path(root: Path, name: str) -> Path:
    """Where an export goes unless the user says otherwise: COCO in the folder, the others beside it."""
    if name == "coco":
        return root / "annotations.coco.json"
    return root.parent / f"{root.name}_{name.replace('-', '_')}"


class ExportDialog(QDialog):
    """The format, which images, the format's own choices and where to write."""

    def __init__(self, parent: QWidget | None, project: Project) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.root = project.root
        layout = QFormLayout(self)
        self.format_box = QComboBox()
        for name in EXPORT_FORMATS:
            self.format_box.addItem(FORMAT_LABELS[name], name)
        self.images_box = QComboBox()
        for choice in IMAGE_CHOICES:
            self.images_box.addItem(IMAGE_LABELS[choice], choice)
        self.mode_box = QComboBox()
        for mode in SEGMENTATION_MODES:
            self.mode_box.addItem(MODE_LABELS[mode], mode)
        self.mode_box.setCurrentIndex(SEGMENTATION_MODES.index(project.settings.segmentation_mode))
        self.contiguous_box = QCheckBox("Number categories 1..N (instead of the project's ids)")
        self.val_box = QDoubleSpinBox()
        self.val_box.setRange(0.0, 0.9)
        self.val_box.setSingleStep(0.05)
        self.val_box.setToolTip("Fraction of the images in a validation split (0: no split)")
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.copy_box = QCheckBox("Copy the images (default: link them)")
        self.path_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit)
        row.addWidget(browse)
        layout.addRow("Format:", self.format_box)
        layout.addRow("Images:", self.images_box)
        layout.addRow("Masks (COCO):", self.mode_box)
        layout.addRow("", self.contiguous_box)
        layout.addRow("Validation fraction:", self.val_box)
        layout.addRow("Split seed:", self.seed_box)
        layout.addRow("", self.copy_box)
        layout.addRow("Write to:", row)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addRow(self.buttons)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    @property
    def format(self) -> str:
        return str(self.format_box.currentData())

    def _format_changed(self) -> None:
        coco = self.format == "coco"
        for widget in (self.mode_box, self.contiguous_box):
            widget.setEnabled(coco)
        self.copy_box.setEnabled(not coco)
        split = self.format in ("yolo-seg", "yolo-det", "voc")
        self.val_box.setEnabled(split)
        self.seed_box.setEnabled(split)
        self.path_edit.setText(str(default_path(self.root, self.format)))

    def _browse(self) -> None:
        if self.format == "coco":
            path, _ = QFileDialog.getSaveFileName(
                self, "Export COCO", self.path_edit.text(), "COCO JSON (*.json)"
            )
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", self.path_edit.text())
        if path:
            self.path_edit.setText(path)

    def options(self) -> ExportOptions:
        coco = self.format == "coco"
        return ExportOptions(
            format=self.format,
            images=str(self.images_box.currentData()),
            mode=str(self.mode_box.currentData()),
            contiguous_ids=coco and self.contiguous_box.isChecked(),
            val_fraction=0.0 if coco or self.format == "labelme" else float(self.val_box.value()),
            seed=int(self.seed_box.value()),
            image_mode="copy" if not coco and self.copy_box.isChecked() else "link",
        )

    def path(self) -> Path:
        return Path(self.path_edit.text()).expanduser()


class ExportRunner(QObject):
    """One background export at a time (a :class:`~annotator.workers.background.BackgroundTask`), with the
    progress dialog of the proposal jobs.

    Signals:
        finished(object report, str error, bool cancelled): the report (``None`` on error or cancel).
    """

    finished = Signal(object, str, bool)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.cancel_event = threading.Event()
        self._task: BackgroundTask | None = None
        self.dialog: QProgressDialog | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self, selection: ExportSelection, path: Path, options: ExportOptions) -> None:
        """Write ``selection`` at ``path`` in the background. Raises ``RuntimeError`` while one runs."""
        if self.running:
            raise RuntimeError("an export is already running")
        self.cancel_event = cancel = threading.Event()

        def job(context: TaskContext) -> object:
            def progress(done: int, total: int) -> None:
                context.progress((done, total))

            try:
                return export_dataset(selection, path, options, progress=progress, cancel=cancel)
            except ExportCancelled:
                raise TaskCancelled from None

        task = BackgroundTask(job, label=f"exporting {path}", thread_name="export", parent=self)
        task.progressed.connect(self._on_progress)
        task.returned.connect(lambda report: self._on_finished(report, "", False))
        task.errored.connect(lambda error: self._on_finished(None, error.message, False))
        task.cancelled.connect(lambda: self._on_finished(None, "", True))
        task.finished.connect(task.deleteLater)
        self._task = task
        total = len(selection.images)
        self.dialog = open_job_progress(
            self.window,
            f"Exporting {total} images as {FORMAT_LABELS[options.format]}…",
            max(total, 1),
            name="export_progress",
            title="Export",
            cancel=self.cancel_event.set,
            value=0,
        )
        task.start()

    def shutdown(self) -> None:
        """Cancel and wait for the worker thread (on window close)."""
        self.cancel_event.set()
        if self._task is not None:
            self._task.shutdown()
        self._stop()

    def _stop(self) -> None:
        self._task = None
        if self.dialog is not None:
            close_job_progress(self.dialog, self.window)
            self.dialog = None

    @Slot(object)
    def _on_progress(self, value: tuple[int, int]) -> None:
        done, total = value
        set_job_progress(self.dialog, done, total)

    def _on_finished(self, report: object, error: str, cancelled: bool) -> None:
        if self._task is None:
            return  # shut down: nobody waits for the answer
        self._stop()
        self.finished.emit(report, error, cancelled)


def result_box(parent: QWidget, report: object, error: str, cancelled: bool) -> QMessageBox:
    """The non-modal box that ends an export: the summary, and every line of what was not expressed."""
    if error:
        box = QMessageBox(
            QMessageBox.Icon.Warning, "Export failed", error, QMessageBox.StandardButton.Ok, parent
        )
    elif cancelled:
        text = "Export cancelled; the files written so far are left in place."
        box = QMessageBox(QMessageBox.Icon.Information, "Export", text, QMessageBox.StandardButton.Ok, parent)
    else:
        lines = report_lines(report)  # type: ignore[arg-type]
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Export",
            "\n".join(lines[:2]),
            QMessageBox.StandardButton.Ok,
            parent,
        )
        if len(lines) > 2:
            box.setInformativeText(
                f"{len(lines) - 2} notes on what the format could not express: see Details."
            )
            box.setDetailedText("\n".join(lines[2:]))
    box.setObjectName("export_result")
    box.setModal(False)
    box.finished.connect(box.deleteLater)
    box.show()
    return box


def start_export(window: MainWindow, runner: ExportRunner, path: Path, options: ExportOptions) -> bool:
    """Snapshot the project and start the export; asks before writing into a non-empty folder. Returns
    whether it started."""
    if options.format != "coco" and path.is_dir() and any(path.iterdir()):
        answer = QMessageBox.question(
            window,
            "Export",
            f"{path} is not empty. Write into it (files of the same names are replaced)?",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        options = replace(options, overwrite=True)
    try:
        selection = select_for_export(window.controller.project, options.images)
    except CoreError as exc:
        QMessageBox.warning(window, "Export failed", str(exc))
        return False
    runner.start(selection, path, options)
    return True


def make_export_runner(window: MainWindow) -> ExportRunner:
    """The window's export runner, its end shown in a result box."""
    runner = ExportRunner(window)
    runner.finished.connect(lambda report, error, cancelled: result_box(window, report, error, cancelled))
    return runner


def ask_export(window: MainWindow, runner: ExportRunner) -> None:
    """File > Export…: the dialog, then the background export (its result box shows when done)."""
    if runner.running:
        QMessageBox.information(window, "Export", "An export is already running.")
        return
    dialog = ExportDialog(window, window.controller.project)
    if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.path_edit.text().strip():
        return
    start_export(window, runner, dialog.path(), dialog.options())
