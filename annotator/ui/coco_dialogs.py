"""COCO export options and the COCO import as one undo step (File > Import… is :mod:`annotator.ui.import_dialog`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QMessageBox,
    QWidget,
)

from annotator.core.coco import IMAGE_CHOICES, ExportReport, export_coco
from annotator.core.coco_import import ImportReport
from annotator.core.coco_journal import ImportCocoCommand
from annotator.core.errors import CoreError
from annotator.core.model import SEGMENTATION_MODES, Project
from annotator.ui.controller import SessionController


@dataclass(frozen=True)
class ExportOptions:
    """The export choices of the dialog (the CLI's ``--segmentation``, ``--images``, ``--contiguous-ids``)."""

    mode: str = "auto"
    images: str = "annotated"
    contiguous_ids: bool = False


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


class ExportOptionsDialog(QDialog):
    """File > Export COCO…: which images, the segmentation format and the category ids."""

    def __init__(self, parent: QWidget | None, project: Project) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export COCO")
        layout = QFormLayout(self)
        self.images_box = QComboBox()
        for choice in IMAGE_CHOICES:
            self.images_box.addItem(IMAGE_LABELS[choice], choice)
        self.mode_box = QComboBox()
        for mode in SEGMENTATION_MODES:
            self.mode_box.addItem(MODE_LABELS[mode], mode)
        self.mode_box.setCurrentIndex(SEGMENTATION_MODES.index(project.settings.segmentation_mode))
        self.contiguous_box = QCheckBox("Number categories 1..N (instead of the project's ids)")
        layout.addRow("Images:", self.images_box)
        layout.addRow("Masks:", self.mode_box)
        layout.addRow("", self.contiguous_box)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def options(self) -> ExportOptions:
        return ExportOptions(
            mode=str(self.mode_box.currentData()),
            images=str(self.images_box.currentData()),
            contiguous_ids=self.contiguous_box.isChecked(),
        )


def export_with(project: Project, path: Path, options: ExportOptions) -> ExportReport:
    """Write the COCO file with the dialog's choices; raises ``CoreError``."""
    return export_coco(
        project, path, options.mode, images=options.images, contiguous_ids=options.contiguous_ids
    )


def export_report_text(report: ExportReport) -> str:
    lines = [f"Wrote {report.path}", report.summary() + "."]
    if report.rle_objects:
        lines.append("Only RLE can represent these objects (polygon-mode trainers refuse them):")
        lines += [f"  {item}" for item in report.rle_objects]
    lines += report.warnings
    return "\n".join(lines)


def ask_export(parent: QWidget, project: Project) -> ExportReport | None:
    dialog = ExportOptionsDialog(parent, project)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    default = str(project.root / "annotations.coco.json")
    path, _ = QFileDialog.getSaveFileName(parent, "Export COCO", default, "COCO JSON (*.json)")
    if not path:
        return None
    try:
        report = export_with(project, Path(path), dialog.options())
    except CoreError as exc:
        QMessageBox.warning(parent, "Export failed", str(exc))
        return None
    QMessageBox.information(parent, "Export COCO", export_report_text(report))
    return report


def import_into(controller: SessionController, path: Path) -> ImportReport:
    """Import ``path`` as one undo step (Ctrl+Z removes the whole import); raises ``CoreError``."""
    command = ImportCocoCommand(controller.project, path)
    controller.undo_stack.push(command)
    assert command.report is not None and command.report.journal is not None  # set by the first redo
    if not len(command.report.journal):
        controller.undo_stack.discard(lambda c: c is command)  # nothing changed: nothing to undo
    controller.status.emit(command.report.summary())
    return command.report
