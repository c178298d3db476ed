"""Which dataset format a path holds, when the user did not say (``main.py import`` without ``--format``).

* a ``.json`` file: labelme when its opening holds ``"shapes"`` and ``"version"``/``"imagePath"``, else
  COCO (whose reader reports a file that is not COCO either);
* a ``.yaml``/``.yml`` file, ``classes.txt`` or ``obj.names``: YOLO;
* a folder: VOC when it (or ``VOCdevkit/VOC*`` / one ``VOC*`` folder inside) has ``Annotations/`` or
  ``SegmentationObject/``; YOLO when it has a ``data.yaml`` (or one YAML with ``names``), a ``classes.txt`` or
  a ``labels/`` folder; labelme when it holds labelme JSON files (at any depth).

YOLO is returned as ``yolo``: segmentation or detection is then told from the label lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from annotator.core.formats.dataset import DatasetError
from annotator.core.formats.yolo_layout import NAME_FILES, find_names_file, find_yaml

FORMATS = ("coco", "yolo-seg", "yolo-det", "voc", "labelme")
"""The formats ``--format`` accepts."""
_PEEK = 1 << 16
DETECT_ENTRIES = 20_000
"""Most files detection looks at in a folder tree before it gives up on labelme."""


def _opening(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(_PEEK)
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from None


def json_kind(path: Path) -> str | None:
    """``labelme``, ``coco`` or ``None`` from the opening of the JSON file ``path``."""
    text = _opening(path)
    if '"shapes"' in text and any(f'"{k}"' in text for k in ("version", "imagePath", "imageHeight")):
        return "labelme"
    if '"images"' in text or '"annotations"' in text:
        return "coco"
    return None


def voc_root(folder: Path) -> Path | None:
    """The VOC folder (the one holding ``Annotations/`` or ``SegmentationObject/``) at or just under
    ``folder``."""
    candidates = [folder, *sorted(folder.glob("VOC*")), *sorted(folder.glob("VOCdevkit/VOC*"))]
    for candidate in candidates:
        if (candidate / "Annotations").is_dir() or (candidate / "SegmentationObject").is_dir():
            return candidate
    return None


def _json_files(folder: Path, max_entries: int | None) -> Iterator[Path]:
    """``.json`` files under ``folder`` in sorted walk order, hidden folders skipped, unreadable folders and
    links to folders passed over; stops after ``max_entries`` directory entries when given."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            seen += 1
            if max_entries is not None and seen > max_entries:
                return
            if name.lower().endswith(".json") and not name.startswith("."):
                yield Path(dirpath) / name


def labelme_files(folder: Path, *, first_only: bool = False) -> list[Path]:
    """The labelme JSON files under ``folder`` (any depth). ``first_only``: the first one, looking at no
    more than ``DETECT_ENTRIES`` files (detection must stay quick, even on a folder like ``/``)."""
    found = []
    for path in _json_files(folder, DETECT_ENTRIES if first_only else None):
        try:
            kind = json_kind(path)
        except DatasetError:  # unreadable: detection passes it over, an import reports it
            kind = None if first_only else "labelme"
        if kind == "labelme":
            found.append(path)
            if first_only:
                break
    return found


def detect_format(path: Path) -> str:
    """``coco``, ``yolo``, ``voc`` or ``labelme``; :class:`DatasetError` naming ``path`` when none fits."""
    if not path.exists():
        raise DatasetError(path, "not found")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".json":  # neither kind recognised: COCO, whose reader says what is wrong
            return json_kind(path) or "coco"
        if suffix in (".yaml", ".yml") or path.name in NAME_FILES:
            return "yolo"
        raise DatasetError(
            path, "unknown dataset file: give a COCO or labelme JSON, a YOLO data.yaml or a folder"
        )
    if voc_root(path) is not None:
        return "voc"
    if find_yaml(path) is not None or find_names_file(path) is not None or (path / "labels").is_dir():
        return "yolo"
    if labelme_files(path, first_only=True):
        return "labelme"
    raise DatasetError(
        path,
        "no dataset recognised: expected a YOLO data.yaml/classes.txt, VOC Annotations/ or SegmentationObject/, "
        "or labelme JSON files (or give --format)",
    )
