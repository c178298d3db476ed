"""One entry for every export format, used by ``main.py export`` and File > Export.

:func:`export_dataset` writes an :class:`~annotator.core.formats.selection.ExportSelection` (taken on the
thread that owns the project) in one of :data:`EXPORT_FORMATS`; it may run in a background thread, with
``progress`` and ``cancel``. COCO writes one file, the other formats a folder.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from annotator.core.coco import ExportReport, build_coco_from, write_coco
from annotator.core.errors import ModelError
from annotator.core.formats.labelme_export import export_labelme
from annotator.core.formats.output import IMAGE_MODES, FormatReport
from annotator.core.formats.selection import ExportSelection, Progress
from annotator.core.formats.voc_export import export_voc
from annotator.core.formats.yolo_export import export_yolo

EXPORT_FORMATS: tuple[str, ...] = ("coco", "yolo-seg", "yolo-det", "voc", "labelme")
"""``coco`` (a JSON file) first: the default."""

FORMAT_LABELS = {
    "coco": "COCO JSON (one file)",
    "yolo-seg": "YOLO segmentation (Ultralytics)",
    "yolo-det": "YOLO detection (boxes)",
    "voc": "Pascal VOC (PNG masks + XML)",
    "labelme": "labelme JSON (one file per image)",
}


@dataclass(frozen=True)
class ExportOptions:
    """The choices of an export. ``mode`` and ``contiguous_ids``: COCO only (``mode`` ``None``: the
    project's, resolved by the caller); ``val_fraction``/``seed``: YOLO and VOC; ``image_mode`` and
    ``overwrite`` (write into a non-empty folder): the folder formats."""

    format: str = "coco"
    images: str = "annotated"
    mode: str = "auto"
    contiguous_ids: bool = False
    val_fraction: float = 0.0
    seed: int = 0
    image_mode: str = "link"
    overwrite: bool = False

    def check(self) -> None:
        """Raise :class:`ModelError` for a value no exporter takes."""
        if self.format not in EXPORT_FORMATS:
            raise ModelError(f"export format must be one of {EXPORT_FORMATS}, got {self.format!r}")
        if self.image_mode not in IMAGE_MODES:
            raise ModelError(f"images must be placed by one of {IMAGE_MODES}, got {self.image_mode!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ModelError(f"the validation fraction must be in [0, 1), got {self.val_fraction}")


def export_dataset(
    selection: ExportSelection,
    out: str | Path,
    options: ExportOptions,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ExportReport | FormatReport:
    """Write ``selection`` at ``out`` in ``options.format``; returns that format's report.

    Raises a :class:`~annotator.core.errors.CoreError` (``ModelError``, ``CocoError``, ``ExportError``) or
    :class:`~annotator.core.formats.output.ExportCancelled`.
    """
    options.check()
    if options.format == "coco":
        coco, report = build_coco_from(
            selection, options.mode, contiguous_ids=options.contiguous_ids, progress=progress, cancel=cancel
        )
        return write_coco(coco, report, out)
    common = {"image_mode": options.image_mode, "overwrite": options.overwrite}
    common |= {"progress": progress, "cancel": cancel}
    if options.format == "labelme":
        return export_labelme(selection, out, **common)  # type: ignore[arg-type]
    split = {"val_fraction": options.val_fraction, "seed": options.seed}
    if options.format == "voc":
        return export_voc(selection, out, **split, **common)  # type: ignore[arg-type]
    return export_yolo(selection, out, task=options.format, **split, **common)  # type: ignore[arg-type]


def report_lines(report: ExportReport | FormatReport) -> list[str]:
    """What the user reads after an export, summary first (COCO's report or a folder format's)."""
    if isinstance(report, FormatReport):
        return [f"Wrote {report.path}", *report.lines()]
    lines = [f"Wrote {report.path}", report.summary()]
    lines += [
        f"only RLE can represent it (polygon-mode trainers refuse it): {item}" for item in report.rle_objects
    ]
    return lines + report.warnings
