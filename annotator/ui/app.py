"""Assemble the application: open the folder's project, start the workers, build the window."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

from PySide6.QtWidgets import QWidget

from annotator.bundled import resource
from annotator.core.errors import CoreError, ImageLoadError
from annotator.core.images import list_images, read_image_info
from annotator.core.model import ImageStatus, Project
from annotator.core.project_lock import ProjectLock, ProjectLockedError
from annotator.core.project_store import Autosaver, ProjectStore, default_project_file, sync_images
from annotator.ui.controller import SessionController
from annotator.workers.image_loader import ImageLoader
from annotator.workers.requests import EngineRequest
from annotator.workers.segment_client import SegmentClient
from annotator.workers.segment_worker import EmbeddingStore, SegmenterFactory
from sam_model.protocol import Segmenter

log = logging.getLogger(__name__)

DEFAULT_CATEGORIES: Path | Traversable = resource("default_categories.json")


def samples_folder() -> Path:
    """The sample images opened when no folder is given: a copy of the bundled ones in the settings folder
    (``<settings>/samples``), so their project is never written into the installed package."""
    from annotator.bundled import writable_copy
    from annotator.core.settings import config_dir

    return writable_copy("samples", config_dir() / "samples")


OPEN_WINDOWS: list[QWidget] = []  # windows opened by File > Open folder… (kept alive here)


class StartupError(Exception):
    """A problem the user can act on when opening a folder (one line, names the file)."""


@dataclass
class OpenedProject:
    store: ProjectStore
    warnings: list[str]


LockChoice = Callable[[ProjectLockedError], str]
"""Asked when another process holds the project's lock: returns ``"read_only"``, ``"take_over"`` (only
offered for a stale lock) or ``"cancel"``."""


def _lock(path: Path, on_locked: LockChoice | None) -> tuple[ProjectLock | None, str | None]:
    """Take the write lock of ``path``: ``(lock, None)``, or ``(None, reason)`` for a read-only session."""
    lock = ProjectLock(path)
    try:
        lock.acquire()
        return lock, None
    except ProjectLockedError as exc:
        choice = on_locked(exc) if on_locked is not None else "cancel"
        if choice == "take_over" and exc.stale:
            lock.acquire(take_over_stale=True)
            return lock, None
        if choice == "read_only":
            return None, f"opened read-only: {exc.holder.describe()} has it open for writing"
        raise StartupError(str(exc)) from None


def _hex_to_rgb(text: str) -> tuple[int, int, int]:
    text = text.lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def add_default_categories(project: Project, path: Path | Traversable = DEFAULT_CATEGORIES) -> None:
    """Give a project without categories the bundled default ones."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for item in data["categories"]:
        project.add_category(item["name"], _hex_to_rgb(item["color"]), item.get("supercategory", ""))


def open_project(folder: Path, on_locked: LockChoice | None = None) -> OpenedProject:
    """Open (or start) the project of ``folder``; unreadable image files become ``error`` records.

    The project's write lock is taken first; when another process holds it, ``on_locked`` chooses a
    read-only session (every save refused, so closing asks), taking over a stale lock, or cancel
    (``StartupError``)."""
    if not folder.is_dir():
        raise StartupError(f"{folder}: image folder not found")
    lock, read_only = _lock(default_project_file(folder), on_locked)
    try:
        store = ProjectStore.open(folder)
    except CoreError as exc:
        if lock is not None:
            lock.release()
        raise StartupError(str(exc)) from None
    store.lock, store.read_only_reason = lock, read_only
    project = store.project
    warnings = list(store.warnings)
    # Records in folder order; an unreadable file becomes an ``error`` record (1 x 1 until it can be read).
    for name in list_images(folder):
        if project.has_image(name):
            continue
        try:
            info = read_image_info(folder / name)
        except ImageLoadError as exc:
            project.add_image(name, 1, 1, status=ImageStatus.ERROR, error=str(exc))
            continue
        project.add_image(name, info.width, info.height, metadata={"exif_orientation": info.exif_orientation})
    report = sync_images(project)
    if report.missing:
        warnings.append(
            f"{len(report.missing)} image file(s) of the project are missing: {report.missing[:5]}"
        )
    if not project.categories:
        add_default_categories(project)
    return OpenedProject(store, warnings)


def create_controller(
    folder: Path,
    *,
    segmenter: Segmenter | None = None,
    factory: SegmenterFactory | None = None,
    engine: EngineRequest | None = None,
    disk_cache: EmbeddingStore | None = None,
    prefetch_depth: int = 0,
    parent: QWidget | None = None,
    on_locked: LockChoice | None = None,
) -> tuple[SessionController, list[str]]:
    """Open ``folder`` and start the workers. With ``segmenter`` that engine is used as is; otherwise
    ``engine`` (default: the classical engine) is loaded in the worker. ``disk_cache`` keeps embeddings
    across sessions; ``prefetch_depth`` images ahead are encoded in the background (ADR 0006)."""
    opened = open_project(folder, on_locked)
    client = SegmentClient(
        segmenter, factory=factory, disk_cache=disk_cache, lru_capacity=max(3, prefetch_depth + 2)
    )
    loader = ImageLoader()
    autosaver = Autosaver(opened.store)
    controller = SessionController(
        opened.store.project,
        client,
        loader,
        autosaver=autosaver,
        prefetch_depth=prefetch_depth,
        parent=parent,
    )
    if segmenter is None:
        client.load_engine(engine or EngineRequest(None))
    return controller, opened.warnings


def reopen_folder(window: QWidget, folder: Path) -> None:
    """File > Open folder…: replace the window's session with ``folder``'s (errors shown in a dialog)."""
    from PySide6.QtWidgets import QMessageBox

    from annotator.ui.lock_dialog import ask_locked
    from annotator.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    if not window.confirm_discard_unaccepted():
        return
    old = window.controller
    try:
        controller, warnings = create_controller(
            folder,
            engine=window.engine_request,
            disk_cache=old.client.worker.disk_cache,
            prefetch_depth=old.session.prefetch.depth,
            on_locked=lambda exc: ask_locked(window, exc),
        )
    except StartupError as exc:
        QMessageBox.warning(window, "Cannot open the folder", str(exc))
        return
    new = MainWindow(controller)
    new.engine_request = window.engine_request
    OPEN_WINDOWS.append(new)
    new.show()
    window.close()  # stops the old session's threads (MainWindow.closeEvent)
    if window in OPEN_WINDOWS:
        OPEN_WINDOWS.remove(window)
    window.deleteLater()
    for warning in warnings:
        new.show_error("Project restored from backup", warning)
    if controller.image_keys:
        controller.step_image(+1)
