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

from annotator.core import limits
from annotator.core.atomic import atomic_write_bytes
from annotator.core.errors import ImageLoadError, LimitError, ProjectAccessError, ProjectFileError
from annotator.core.events import Event, EventEmitter
from annotator.core.images import list_images, read_image_info
from annotator.core.model import Project
from annotator.core.project_format import FORMAT_NAME, FORMAT_VERSION, project_from_dict, project_to_dict
from annotator.core.project_lock import ProjectLock
from annotator.core.project_text import ProjectText

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
        data = limits.read_json(path, max_bytes=limits.MAX_PROJECT_BYTES)
    except FileNotFoundError:
        raise ProjectFileError(path, "file not found") from None
    except PermissionError as exc:
        raise ProjectAccessError(
            path, f"permission denied ({exc.strerror}); fix the file's permissions (nothing was changed)"
        ) from None
    except OSError as exc:
        raise ProjectFileError(path, f"cannot read: {exc}") from exc
    except LimitError as exc:
        raise ProjectFileError(path, f"broken project file ({exc})") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
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
    except (ValueError, OverflowError, RecursionError) as exc:
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


def save_project(project: Project, path: str | Path, text: ProjectText | None = None) -> None:
    """Atomically write ``project`` to ``path``, keeping the previous file as ``<path>.bak``.

    ``text``: the project's cached JSON text (:class:`ProjectText`), so that only what changed since the last
    save is serialised again (the same bytes either way). Refuses (``ProjectFileError``) to overwrite a file
    written by a newer format version.
    """
    path = Path(path)
    _refuse_newer(path)
    root = _relative_root(project, path)
    if text is not None and text.project is project:
        data = text.text(root)
    else:
        data = json.dumps(project_to_dict(project, root), separators=(",", ":"))
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


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # no cheap check: treat as alive unless the lock says otherwise (ADR 0009)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete the temporary files (``.<name>.tmp-<pid>``, ``.<name>.bak.tmp-<pid>``) that saves of
    ``path`` killed mid-way left behind; files of processes still running are kept. Returns those removed."""
    folder = path.parent
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    pattern = re.compile(re.escape(f".{path.name}") + r"(?:\.bak)?\.tmp-(\d+)$")
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


class ProjectStore:
    """A project bound to its file. ``warnings`` holds messages for the user (e.g. recovered from backup);
    ``needs_save`` is true when the opened state is not on disk yet (a restore that could not be written)."""

    def __init__(
        self, project: Project, path: Path, warnings: list[str] | None = None, *, needs_save: bool = False
    ) -> None:
        self.project = project
        self.path = path
        self.warnings: list[str] = warnings or []
        self.needs_save = needs_save
        self.read_only_reason: str | None = None  # set: every save is refused with this reason
        self.lock: ProjectLock | None = None  # the write lock this store holds (released by close())
        self.text = ProjectText(project)  # cached JSON pieces: a save serialises only what changed

    def close(self) -> None:
        """Release the write lock, if any (ADR 0009)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @classmethod
    def open(cls, folder: str | Path, project_file: str | Path | None = None) -> ProjectStore:
        """Open the project of image folder ``folder`` (or ``project_file``), or start an empty one.

        Temporary files of interrupted saves are removed first. A broken (or missing) project file falls
        back to its backup when that is good: the broken file is kept as ``<name>.broken-<time>``, the
        restored project is written at once (the backup itself is left as it is) and a message is added to
        ``warnings``. A file the system refuses to read raises :class:`ProjectAccessError` and nothing is
        changed; a newer-version file raises :class:`ProjectFileError` and is never overwritten.
        """
        folder = Path(folder)
        path = Path(project_file) if project_file is not None else default_project_file(folder)
        remove_stale_temp_files(path)
        backup = backup_file(path)
        if not path.exists():
            if backup.exists():
                return cls._restore(folder, path, ProjectFileError(path, "file not found"))
            if not folder.is_dir():
                raise ProjectFileError(folder, "image folder not found")
            return cls(Project(folder), path)
        try:
            return cls(load_project(path, root=folder), path)
        except ProjectAccessError:
            raise
        except ProjectFileError as exc:
            if "newer version" in exc.reason or not backup.exists():
                raise
            return cls._restore(folder, path, exc)

    @classmethod
    def _restore(cls, folder: Path, path: Path, first: ProjectFileError) -> ProjectStore:
        """Load the backup, move the broken file aside and write the restored project to ``path`` (which
        no longer exists, so the save leaves the backup untouched)."""
        backup = backup_file(path)
        try:
            project = load_project(backup, root=folder)
        except ProjectFileError as exc:
            raise ProjectFileError(
                path, f"{first.reason}; the backup is not usable either ({exc.reason})"
            ) from None
        message = f"{path} could not be read ({first.reason}); restored the backup {backup.name}."
        if path.exists():
            kept = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(path, kept)
            except OSError as exc:
                raise ProjectFileError(path, f"{first.reason}; cannot move it aside: {exc}") from exc
            message += (
                f" The unreadable file was kept as {kept.name}; the last change before it may be missing."
            )
        store = cls(project, path, [message])
        try:
            store.save()
        except ProjectFileError as exc:
            store.needs_save = True
            store.warnings[0] += (
                f" The restored project could not be written ({exc.reason}); "
                "it is saved with the next change, and the backup is kept until then."
            )
        return store

    def save(self) -> float:
        """Save now (atomic, with backup); returns the seconds it took."""
        if self.read_only_reason is not None:
            raise ProjectFileError(self.path, self.read_only_reason)
        start = time.perf_counter()
        save_project(self.project, self.path, self.text)
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
        self.dirty = store.needs_save
        self.save_count = 0
        self.last_duration_s = 0.0
        self._paused = 0
        store.text.prime()  # the per-change saves that follow serialise only what changed
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
        self.store.needs_save = False
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
