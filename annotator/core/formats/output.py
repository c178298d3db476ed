"""Writing a dataset folder: the folder check, image links (or copies), small text files, and the report.

Every folder format (YOLO, VOC, labelme) writes through these, so they all refuse a non-empty folder unless told
to write into it, link images the same way, and report in the same shape.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from annotator.core.errors import FileError

IMAGE_MODES: tuple[str, ...] = ("link", "copy")
"""``link``: hard link, else symbolic link, else copy (reported); ``copy``: always a copy."""


class ExportError(FileError):
    """A dataset folder cannot be written (not empty, not a folder, a write failed)."""


class ExportCancelled(Exception):
    """The user cancelled an export; what was written so far stays (the report says so)."""


@dataclass
class FormatReport:
    """What a folder export wrote, and what it could not express (one line per object or image)."""

    format: str
    path: Path | None = None
    images: int = 0
    objects: int = 0
    images_skipped: int = 0
    empty_skipped: int = 0
    not_written: list[str] = field(default_factory=list)
    """Objects the format cannot hold at all (crowd regions, box-only objects in a mask format...)."""
    changed: list[str] = field(default_factory=list)
    """Objects written differently from the mask (holes filled, parts merged, approximate polygons...)."""
    min_polygon_iou: float | None = None
    """Polygon formats: the lowest IoU of a written object (rasterised with pycocotools) against its mask."""
    copied_images: int = 0
    """Images copied although linking was asked (links not possible there)."""
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what was written and left out."""
        return (
            f"{self.format}: {self.images} images, {self.objects} objects; "
            f"{len(self.not_written)} objects not expressible, {len(self.changed)} changed; "
            f"{self.images_skipped} images and {self.empty_skipped} empty masks not written"
        )

    def lines(self) -> list[str]:
        """Everything the user should read, summary first."""
        out = [self.summary()]
        out += [f"not written: {line}" for line in self.not_written]
        out += [f"changed: {line}" for line in self.changed]
        if self.min_polygon_iou is not None:
            out.append(f"lowest IoU of a written polygon against its mask: {self.min_polygon_iou:.4f}")
        if self.copied_images:
            out.append(f"{self.copied_images} images copied (links are not possible there)")
        return out + self.warnings


def prepare_folder(path: Path, *, overwrite: bool) -> None:
    """Create ``path``; a folder with files in it is refused unless ``overwrite`` (files of the same names are
    then replaced, others left). Raises :class:`ExportError`."""
    if path.exists() and not path.is_dir():
        raise ExportError(
            path, "exists and is not a folder (the YOLO, VOC and labelme formats write a folder)"
        )
    if path.is_dir() and not overwrite and any(path.iterdir()):
        raise ExportError(path, "the folder is not empty (choose an empty one, or allow writing into it)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(path, f"cannot create the folder: {exc}") from exc


def write_text(path: Path, text: str) -> None:
    """Write a UTF-8 text file as :func:`write_bytes` does. Raises :class:`ExportError`."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file (parents created) through a temporary file and ``os.replace``: a reader never sees half a
    file. Not fsynced (thousands of small files; an interrupted export is simply run again, unlike the
    project file). Raises :class:`ExportError`."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ExportError(path, f"cannot write: {exc}") from exc


def place_image(source: Path, target: Path, mode: str) -> bool:
    """Put the image ``source`` at ``target`` (``mode``: one of :data:`IMAGE_MODES`); returns whether it was
    copied although a link was asked. ``target`` the same file as ``source``: nothing to do. Raises
    :class:`ExportError`."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            if target.exists() and os.path.samefile(source, target):
                return False
            target.unlink()
        if mode == "link":
            try:
                os.link(source, target)
                return False
            except OSError:
                pass
            try:
                os.symlink(source.resolve(), target)
                return False
            except OSError:
                pass
        shutil.copy2(source, target)
        return mode == "link"
    except OSError as exc:
        raise ExportError(target, f"cannot place the image {source}: {exc}") from exc


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`ExportCancelled` when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise ExportCancelled("export cancelled")
