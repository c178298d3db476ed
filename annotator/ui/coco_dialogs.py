"""File > Export COCO… and File > Import COCO…: dialogs over the core's COCO functions."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from annotator.core.coco import ExportReport, export_coco
from annotator.core.coco_import import ImportReport
from annotator.core.coco_journal import ImportCocoCommand
from annotator.core.errors import CoreError
from annotator.core.model import Project
from annotator.ui.controller import SessionController


def export_report_text(report: ExportReport) -> str:
    lines = [
        f"Wrote {report.path}",
        f"{report.images} images, {report.annotations} annotations "
        f"({report.polygons} polygons, {report.rle} RLE).",
    ]
    lines += report.warnings
    return "\n".join(lines)


def import_report_text(report: ImportReport) -> str:
    """The summary line then every item-by-item message."""
    return "\n".join([report.summary(), *(str(m) for m in report.messages)])


def ask_export(parent: QWidget, project: Project) -> ExportReport | None:
    default = str(project.root / "annotations.coco.json")
    path, _ = QFileDialog.getSaveFileName(parent, "Export COCO", default, "COCO JSON (*.json)")
    if not path:
        return None
    try:
        report = export_coco(project, Path(path))
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


def ask_import(parent: QWidget, controller: SessionController) -> ImportReport | None:
    path, _ = QFileDialog.getOpenFileName(
        parent, "Import COCO", str(controller.project.root), "COCO JSON (*.json)"
    )
    if not path:
        return None
    try:
        report = import_into(controller, Path(path))
    except CoreError as exc:
        QMessageBox.warning(parent, "Import failed", str(exc))
        return None
    box = QMessageBox(
        QMessageBox.Icon.Information, "Import COCO", report.summary(), QMessageBox.StandardButton.Ok, parent
    )
    box.setDetailedText(import_report_text(report))
    box.exec()
    return report
