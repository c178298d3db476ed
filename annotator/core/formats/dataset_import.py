"""Import any supported dataset (COCO, YOLO, VOC, labelme) into a project, as one undoable step.

:func:`import_dataset` detects the format when none is given, has the format's reader build a COCO dataset
in memory (:class:`~annotator.core.formats.dataset.DatasetBuilder`) and merges it with the COCO importer, so
every format is idempotent (objects already in the project are counted and skipped), reported item by item
(the reader's messages first: images matched by file name, images not found, lines skipped) and undone in one
step (:class:`ImportDatasetCommand`). A COCO file is read as it is, except that a ``file_name`` that is no
project image but has the file name of exactly one (``train2017/a.jpg``, a path of another machine) is taken
as that image, and reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annotator.core.coco_import import ImportReport, import_coco_data, load_coco
from annotator.core.formats.dataset import DatasetBuilder, DatasetError
from annotator.core.formats.detect import FORMATS, detect_format
from annotator.core.formats.image_match import ImageMatcher
from annotator.core.model import Project
from annotator.core.undo import UndoCommand


def read_dataset(project: Project, path: Path, fmt: str) -> DatasetBuilder:
    """The dataset ``path`` in format ``fmt`` (``yolo``, ``yolo-seg``, ``yolo-det``, ``voc``, ``labelme``)
    read into a builder; :class:`DatasetError` when it is not such a dataset."""
    if fmt in ("yolo", "yolo-seg", "yolo-det"):
        from annotator.core.formats.yolo_import import read_yolo

        return read_yolo(project, path, {"yolo": "auto", "yolo-seg": "seg", "yolo-det": "det"}[fmt])
    if fmt == "voc":
        from annotator.core.formats.voc_import import read_voc

        return read_voc(project, path)
    if fmt == "labelme":
        from annotator.core.formats.labelme_import import read_labelme

        return read_labelme(project, path)
    raise DatasetError(path, f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def import_dataset(project: Project, path: str | Path, fmt: str | None = None) -> ImportReport:
    """Import the dataset ``path`` (format ``fmt``, detected when ``None``) into ``project``; one ``reset``
    event. Raises :class:`DatasetError` / ``CocoError`` when ``path`` is not a dataset of that format."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "coco":
        data, builder = _coco_by_file_name(project, path)
    else:
        builder = read_dataset(project, path, fmt)
        data = builder.coco()
    report = ImportReport(path, format=builder.format)
    report.messages.extend(builder.messages)
    import_coco_data(project, data, report)
    report.messages = builder.relabel(report.messages)
    return report


def _coco_by_file_name(project: Project, path: Path) -> tuple[dict[str, Any], DatasetBuilder]:
    """The COCO file ``path`` with each ``file_name`` that is no project image, but has the file name of
    exactly one, taken as that image (reported in the builder's messages); every other value as the file has
    it (the COCO importer reports what is missing)."""
    data = load_coco(path)
    builder = DatasetBuilder(path, "coco")
    matcher = ImageMatcher(project, builder)
    images = []
    for item in data["images"]:
        name = item.get("file_name") if isinstance(item, dict) else None
        key = matcher.by_file_name(name) if isinstance(name, str) and name else None
        images.append({**item, "file_name": key} if key is not None else item)
    return {**data, "images": images}, builder


class ImportDatasetCommand(UndoCommand):
    """Import a dataset as one undo step (project-wide: ``image_key`` is ``None``).

    The first ``redo`` reads it (raising when it is not a dataset, so nothing is pushed); ``report`` then
    holds the :class:`ImportReport`."""

    def __init__(self, project: Project, path: str | Path, fmt: str | None = None) -> None:
        self.project, self.path, self.fmt = project, Path(path), fmt
        self.text = f"Import {self.path.name}"
        self.report: ImportReport | None = None

    def redo(self) -> None:
        if self.report is None:
            self.report = import_dataset(self.project, self.path, self.fmt)
        elif self.report.journal is not None:
            self.report.journal.redo()

    def undo(self) -> None:
        if self.report is not None and self.report.journal is not None:
            self.report.journal.undo()
