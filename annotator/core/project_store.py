"""Saving and opening projects: atomic saves with a backup, recovery, and an autosaver. See ADR 0003.

Default location: ``<image folder>/.sam-annotator/project.json`` (backup ``project.json.bak`` beside it); a
project file elsewhere can be chosen, its ``root`` then points at the image folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from annotator.core.atomic import atomic_write_bytes
from annotator.core.errors import ImageLoadError, ProjectFileError
from annotator.core.events import Event, EventEmitter
from annotator.core.images import list_images, read_image_info
from annotator.core.model import Project
from annotator.core.project_format import FORMAT_NAME, FORMAT_VERSION, project_from_dict, project_to_dict

PROJECT_DIR = ".sam-annotator"
PROJECT_FILE = "project.json"
_VERSION_RE = re.compile(rb'"version"\s*:\s*(\d+)')


def default_project_file(folder: str | Path) -> Path:
    """``<folder>/.sam-annotator/project.json``."""
    return Path(folder) / PROJECT_DIR / PROJECT_FILE


def backup_file(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def load_project(path: str | Path, root: str | Path | None = None) -> Project:
    """Read a project file. ``root`` overrides the image folder stored in the file.

    Raises :class:`ProjectFileError` (file + reason) when it is missing, not JSON, not a project, written by a
    newer version, or inconsistent.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProjectFileError(path, "file not found") from None
    except OSError as exc:
        raise ProjectFileError(path, f"cannot read: {exc}") from exc
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProjectFileError(path, f"broken project file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ProjectFileError(path, "not a sam-annotator project file")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise ProjectFileError(path, f"invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ProjectFileError(path, _newer_reason(version))
    if root is None:
        stored = Path(str(data.get("root", "..")))
        root = stored if stored.is_absolute() else (path.parent / stored).resolve()
    try:
        return project_from_dict(data, root)
    except ValueError as exc:
        raise ProjectFileError(path, str(exc)) from None


def _newer_reason(version: int) -> str:
    return (
        f"written by a newer version of the app (format {version}; "
        f"this version reads up to {FORMAT_VERSION}); "
        "update the app to open it (the file was left untouched)"
    )


def _relative_root(project: Project, path: Path) -> str:
    try:
        return Path(os.path.relpath(project.root.resolve(), path.parent.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return str(project.root.resolve())


def save_project(project: Project, path: str | Path) -> None:
    """Atomically write ``project`` to ``path``, keeping the previous file as ``<path>.bak``.

    Refuses (``ProjectFileError``) to overwrite a file written by a newer format version.
    """
    path = Path(path)
    _refuse_newer(path)
    data = json.dumps(project_to_dict(project, _relative_root(project, path)), separators=(",", ":"))
    try:
        atomic_write_bytes(path, data.encode("utf-8"), backup=backup_file(path))
    except OSError as exc:
        raise ProjectFileError(path, f"cannot save: {exc}") from exc


def _refuse_newer(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ProjectFileError(path, f"cannot read: {exc}") from exc
    match = _VERSION_RE.search(head)
    if match and int(match.group(1)) > FORMAT_VERSION:
        raise ProjectFileError(path, _newer_reason(int(match.group(1))))


class ProjectStore:
    """A project bound to its file. ``warnings`` holds messages for the user (e.g. recovered from backup)."""

    def __init__(self, project: Project, path: Path, warnings: list[str] | None = None) -> None:
        self.project = project
        self.path = path
        self.warnings: list[str] = warnings or []

    @classmethod
    def open(cls, folder: str | Path, project_file: str | Path | None = None) -> ProjectStore:
        """Open the project of image folder ``folder`` (or ``project_file``), or start an empty one.

        A broken project file falls back to its backup when that is good: the broken file is kept as
        ``<name>.broken-<time>`` and a message is added to ``warnings``. A newer-version file raises
        :class:`ProjectFileError` and is never overwritten.
        """
        folder = Path(folder)
        path = Path(project_file) if project_file is not None else default_project_file(folder)
        if not path.exists():
            if not folder.is_dir():
                raise ProjectFileError(folder, "image folder not found")
            return cls(Project(folder), path)
        try:
            return cls(load_project(path, root=folder), path)
        except ProjectFileError as exc:
            if "newer version" in exc.reason or not backup_file(path).exists():
                raise
            first = exc
        backup = backup_file(path)
        try:
            project = load_project(backup, root=folder)
        except ProjectFileError as exc:
            raise ProjectFileError(
                path, f"{first.reason}; the backup is not usable either ({exc.reason})"
            ) from None
        kept = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, kept)
        message = (
            f"{path} could not be read ({first.reason}); restored the backup {backup.name}. "
            f"The unreadable file was kept as {kept.name}; the last change before it may be missing."
        )
        return cls(project, path, [message])

    def save(self) -> float:
        """Save now (atomic, with backup); returns the seconds it took."""
        start = time.perf_counter()
        save_project(self.project, self.path)
        return time.perf_counter() - start


class Autosaver:
    """Saves the store synchronously after every project change (so no accepted instance is ever lost).

    ``paused()`` groups a bulk change into one save at the end. A failed save is emitted as ``save_failed``
    (``event.info["error"]``: the :class:`ProjectFileError`) on ``events`` when someone listens, otherwise
    raised; the project stays ``dirty`` and the next change (or ``flush()``) retries.
    """

    def __init__(self, store: ProjectStore) -> None:
        self.store = store
        self.events = EventEmitter()
        self.dirty = False
        self.save_count = 0
        self.last_duration_s = 0.0
        self._paused = 0
        store.project.events.connect(self._on_change)

    def close(self) -> None:
        """Stop listening (flushes first)."""
        self.flush()
        self.store.project.events.disconnect(self._on_change)

    def _on_change(self, event: Event) -> None:
        self.dirty = True
        if not self._paused:
            self.flush()

    def flush(self) -> None:
        """Save if there are unsaved changes."""
        if not self.dirty:
            return
        try:
            self.last_duration_s = self.store.save()
        except ProjectFileError as exc:
            if not len(self.events):
                raise
            self.events.emit(Event("save_failed", self, info={"error": exc}))
            return
        self.dirty = False
        self.save_count += 1
        self.events.emit(Event("saved", self, info={"seconds": self.last_duration_s}))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Defer saving until the block ends (then save once if anything changed)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1
            if not self._paused:
                self.flush()


@dataclass
class SyncReport:
    """Result of :func:`sync_images`: new records, records whose file is gone, files that cannot be read."""

    added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one-line messages naming the file and reason


def sync_images(project: Project, *, recursive: bool = False) -> SyncReport:
    """Add a record for every image file of ``project.root`` not yet in the project (size from the header,
    EXIF orientation in ``metadata["exif_orientation"]``). Records of vanished files are kept (reported as
    missing), so no annotation is ever dropped. Emits one ``reset`` event when something was added."""
    report = SyncReport()
    files = list_images(project.root, recursive=recursive)
    present = set(files)
    with project.events.blocked():
        for name in files:
            if project.has_image(name):
                continue
            try:
                info = read_image_info(project.root / name)
            except ImageLoadError as exc:
                report.failed.append(str(exc))
                continue
            project.add_image(
                name, info.width, info.height, metadata={"exif_orientation": info.exif_orientation}
            )
            report.added.append(name)
    report.missing = [r.file_name for r in project.images if r.file_name not in present]
    if report.added:
        project.emit_reset()
    return report
