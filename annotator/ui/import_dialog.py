"""File > Import…: a COCO, YOLO, VOC or labelme dataset, its format detected or chosen, as one undo step.

The dialog only collects the path and the format (and shows what detection found); the import is the core's
:class:`~annotator.core.formats.dataset_import.ImportDatasetCommand`, pushed on the undo stack so that one
Ctrl+Z removes it. An unusable dataset keeps the dialog open with the reason; a finished import shows its
report (summary, then every skipped item and every image matched only by file name).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QWidget,
)

from annotator.core.coco_import import ImportReport
from annotator.core.errors import CoreError
from annotator.core.formats.dataset_import import ImportDatasetCommand
from annotator.core.formats.detect import detect_format
from annotator.ui.controller import SessionController

FORMAT_LABELS = {
    None: "Detect from the files",
    "coco": "COCO JSON",
    "yolo-seg": "YOLO segmentation (polygons)",
    "yolo-det": "YOLO detection (boxes)",
    "voc": "Pascal VOC (XML boxes, object PNGs)",
    "labelme": "labelme JSON",
}
DETECT_DELAY_MS = 300
DETECTED = {"coco": "COCO", "yolo": "YOLO", "voc": "Pascal VOC", "labelme": "labelme"}


def import_dataset_into(controller: SessionController, path: Path, fmt: str | None) -> ImportReport:
    """Import ``path`` as one undo step (Ctrl+Z removes the whole import); raises ``CoreError``."""
    command = ImportDatasetCommand(controller.project, path, fmt)
    controller.undo_stack.push(command)
    report = command.report
    if report is None or report.journal is None:
        raise CoreError(f"{path}: the import did not run")
    if not len(report.journal):
        controller.undo_stack.discard(lambda c: c is command)  # nothing changed: nothing to undo
    controller.status.emit(f"{report.format}: {report.summary()}")
    return report


class ImportDialog(QDialog):
    """The dataset path (file or folder), its format, and the import itself on OK."""

    def __init__(self, parent: QWidget | None, controller: SessionController) -> None:
        super().__init__(parent)
        self.controller = controller
        self.report: ImportReport | None = None
        self.setWindowTitle("Import annotations")
        self.setMinimumWidth(520)
        layout = QFormLayout(self)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText(
            "COCO .json, YOLO folder or data.yaml, VOC folder, labelme folder or .json"
        )
        file_button, folder_button = QPushButton("File…"), QPushButton("Folder…")
        file_button.clicked.connect(self._choose_file)
        folder_button.clicked.connect(self._choose_folder)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(file_button)
        row.addWidget(folder_button)
        layout.addRow("Dataset:", row)
        self.format_box = QComboBox()
        for fmt, label in FORMAT_LABELS.items():
            self.format_box.addItem(label, fmt)
        layout.addRow("Format:", self.format_box)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addRow("", self.status)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addRow(self.buttons)
        self._detect_timer = QTimer(self, singleShot=True, interval=DETECT_DELAY_MS)
        self._detect_timer.timeout.connect(self._update)
        self.path_edit.textChanged.connect(self._path_edited)
        self.format_box.currentIndexChanged.connect(self._update)
        self._update()

    def path(self) -> Path | None:
        text = self.path_edit.text().strip()
        return Path(text) if text else None

    def chosen_format(self) -> str | None:
        return self.format_box.currentData()

    def _choose_file(self) -> None:
        start = str(self.path() or self.controller.project.root)
        name, _ = QFileDialog.getOpenFileName(
            self, "Dataset file", start, "Datasets (*.json *.yaml *.yml classes.txt);;All files (*)"
        )
        if name:
            self.path_edit.setText(name)

    def _choose_folder(self) -> None:
        name = QFileDialog.getExistingDirectory(
            self, "Dataset folder", str(self.path() or self.controller.project.root)
        )
        if name:
            self.path_edit.setText(name)

    def _path_edited(self) -> None:
        """Detection waits until typing pauses (every prefix of a path is a folder too)."""
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.status.setText("…")
        self._detect_timer.start()

    def _update(self) -> None:
        """Say what detection finds (or why nothing fits); OK only for an existing path."""
        path = self.path()
        ok = path is not None and path.exists()
        if path is None:
            self.status.setText("Choose a dataset file or folder.")
        elif not ok:
            self.status.setText(f"{path}: not found")
        elif self.chosen_format() is None:
            try:
                self.status.setText(f"Detected: {DETECTED[detect_format(path)]}")
            except CoreError as exc:
                self.status.setText(str(exc))
                ok = False
        else:
            self.status.setText("")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def accept(self) -> None:
        path = self.path()
        if path is None:
            return
        try:
            self.report = import_dataset_into(self.controller, path, self.chosen_format())
        except CoreError as exc:
            self.status.setText(f"Import failed: {exc}")  # the dialog stays open to fix the choice
            return
        super().accept()


def import_report_text(report: ImportReport) -> str:
    return "\n".join([f"{report.format}: {report.summary()}", *(str(m) for m in report.messages)])


def ask_import(parent: QWidget, controller: SessionController) -> None:
    """File > Import…: the dialog, then the report (not modal to the app: the import is already done)."""
    dialog = ImportDialog(parent, controller)
    dialog.finished.connect(dialog.deleteLater)
    if dialog.exec() != QDialog.DialogCode.Accepted or dialog.report is None:
        return
    box = QMessageBox(
        QMessageBox.Icon.Information,
        "Import",
        f"{dialog.report.format}: {dialog.report.summary()}",
        QMessageBox.StandardButton.Ok,
        parent,
    )
    box.setDetailedText(import_report_text(dialog.report))
    box.finished.connect(box.deleteLater)
    box.open()
