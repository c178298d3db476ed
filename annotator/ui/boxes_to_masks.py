"""Tools > Boxes to masks (issue 14 item 3, issue 12 item 6): box prompts for every box-only object.

The box-only objects (imported from a COCO, YOLO detection or VOC file without a segmentation, or drawn and kept
with Edit > Accept as box) of the current
image, or of all images, are segmented in the background with the window's current engine (a segmenter of its
own, built from ``window.engine_request``; the classical engine when no checkpoint is loaded), each box as the
prompt; an image already in the disk embedding cache is not encoded again. A progress dialog counts boxes and
offers Cancel (the masks decoded so far are kept). The masks go into the review queue as proposals (source
``box-sam`` / ``box-classic``) with the box's category; in review mode (R) accepting one turns that box object
into a mask object with the same id and category (one undoable step), rejecting it keeps the box, and refine
(clicks) works as for any proposal. A new run replaces the undecided box proposals of its images, and no other
proposals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QMessageBox, QProgressDialog

from annotator.core.box_objects import SOURCE_BOX_CLASSIC, SOURCE_BOX_SAM, BoxImage, project_box_prompts
from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.errors import CoreError
from annotator.core.model import ImageStatus
from annotator.core.review import ReviewQueue
from annotator.ui.job_runner import (
    BackgroundJobRunner,
    close_job_progress,
    open_job_progress,
    set_job_progress,
)
from annotator.workers.box_worker import BoxJob, BoxWorker
from annotator.workers.requests import EngineRequest, SegmenterFactory, create_engine_segmenter
from annotator.workers.segment_worker import DiskCacheStore

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow

BOX_SOURCES = (SOURCE_BOX_SAM, SOURCE_BOX_CLASSIC)
NO_BOXES = (
    "There are no box-only objects {where}.\n\nBox-only objects come from importing boxes without a "
    "segmentation (File > Import…: COCO boxes, YOLO detection labels, VOC XML, labelme rectangles), or from a "
    "box dragged with the prompt tool and kept with Shift+Enter (Edit > Accept as box)."
)

ScopeQuestion = Callable[["MainWindow", int, int], str | None]
"""``ask(window, boxes_on_current_image, boxes_in_all_images) -> "current" | "all" | None`` (cancelled)."""


class BoxMaskRunner(BackgroundJobRunner):
    """Starts, cancels and follows one "Boxes to masks" job at a time.

    Signals: those of :class:`BackgroundJobRunner`; ``progress(done, total)`` counts boxes.
    ``proposals`` / ``empty`` / ``failed`` sum up the current (or last) job.
    """

    job_kind = "boxes to masks"

    def __init__(
        self,
        queue: ReviewQueue,
        *,
        make_segmenter: SegmenterFactory = create_engine_segmenter,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(queue, make_segmenter, parent)
        self.proposals = self.empty = self.failed = 0

    def start(
        self, images: list[BoxImage], engine: EngineRequest, *, cache: EmbeddingCache | None = None
    ) -> int:
        """Segment the boxes of ``images`` in the background (embeddings from / into ``cache``); returns the
        job id (``RuntimeError`` when a job is already running)."""
        self._check_idle()
        job = BoxJob(self._next_id(), self.queue.project.root, tuple(images), engine, cache=cache)
        self.proposals = self.empty = self.failed = 0
        return self._launch(job, BoxWorker(self.make_segmenter), "box-worker")

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if self._current(job_id):
            self.progress.emit(done, max(total, 1))

    @Slot(int, str, object, object)
    def _on_image_done(self, job_id: int, key: str, drafts: tuple, notes: tuple = ()) -> None:
        if not self._accepts(job_id, key):
            return
        self.empty += len(notes)
        try:
            self.queue.add_proposals(key, list(drafts), replace_pending=False, replace_sources=BOX_SOURCES)
        except CoreError as exc:
            self._report_failure(key, str(exc))
            return
        self.proposals += len(drafts)
        self.image_proposed.emit(key, len(drafts))

    def _report_failure(self, key: str, message: str) -> None:
        self.failed += 1
        super()._report_failure(key, message)


def ask_scope(window: MainWindow, current: int, total: int) -> str | None:
    """Ask which boxes to segment: those of the current image or of all images (``None``: cancelled)."""
    box = QMessageBox(window)
    box.setWindowTitle("Boxes to masks")
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(
        f"Segment box-only objects with the current model, each box as the prompt?\n\n"
        f"This image: {current} box(es). All images: {total} box(es).\n\n"
        "The masks go into the review queue (R): accept turns a box into a mask object, reject keeps the box."
    )
    this = box.addButton("This image", QMessageBox.ButtonRole.AcceptRole)
    every = box.addButton("All images", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    this.setEnabled(current > 0)
    box.setDefaultButton(this if current > 0 else every)
    box.exec()
    clicked = box.clickedButton()
    return "current" if clicked is this else "all" if clicked is every else None


class BoxesToMasks(QObject):
    """The "Boxes to masks" command of one main window (action, question, progress, results)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.queue = window.review.queue
        self.runner = BoxMaskRunner(self.queue, parent=self)
        self.progress_dialog: QProgressDialog | None = None
        self.ask_scope: ScopeQuestion = ask_scope
        """The scope question (replaceable in tests)."""
        window.actions_by_id["boxes_to_masks"].triggered.connect(self.ask)
        self.runner.progress.connect(lambda done, total: set_job_progress(self.progress_dialog, done, total))
        self.runner.image_failed.connect(lambda key, msg: self._say(f"Skipped {key}: {msg}"))
        self.runner.image_proposed.connect(lambda key, n: self._say(f"Boxes to masks: {n} mask(s) for {key}"))
        self.runner.finished.connect(self._on_finished)

    def ask(self) -> None:
        """Count the box-only objects, ask for the scope, then run in the background."""
        if self.runner.running:
            self._say("Boxes are already being segmented")
            return
        key = self.controller.current_key
        every = self._images(None)
        total = sum(len(i.prompts) for i in every)
        if total == 0:
            QMessageBox.information(self.window, "Boxes to masks", NO_BOXES.format(where="in this project"))
            return
        current = sum(len(i.prompts) for i in every if i.file_name == key)
        scope = self.ask_scope(self.window, current, total)
        if scope is None:
            return
        self.start([key] if scope == "current" and key is not None else None)

    def start(self, keys: list[str] | None) -> bool:
        """Segment the box-only objects of ``keys`` (``None``: all images); returns whether a job started."""
        images = self._images(keys)
        if not images:
            where = "on this image" if keys is not None else "in this project"
            QMessageBox.information(self.window, "Boxes to masks", NO_BOXES.format(where=where))
            return False
        count = sum(len(i.prompts) for i in images)
        store = self.controller.client.worker.disk_cache
        cache = store.cache if isinstance(store, DiskCacheStore) else None
        self.runner.start(images, self.window.engine_request, cache=cache)
        self.progress_dialog = open_job_progress(
            self.window,
            f"Segmenting {count} box(es) on {len(images)} image(s)…",
            count,
            name="boxes_progress",
            title="Boxes to masks",
            cancel=self.runner.cancel,
            value=0,
        )
        return True

    def shutdown(self) -> None:
        """Stop a run (window closing)."""
        self.runner.shutdown()
        self._close_dialog()

    def _images(self, keys: list[str] | None) -> list[BoxImage]:
        project = self.controller.project
        boxes = project_box_prompts(project, keys)
        return [i for i in boxes.images if project.image(i.file_name).status is not ImageStatus.ERROR]

    def _on_finished(self, cancelled: bool, message: str) -> None:
        self._close_dialog()
        if message:
            self.window.show_error("Cannot segment the boxes", message)
            return
        runner = self.runner
        text = f"{runner.proposals} mask(s) proposed"
        if runner.empty:
            text += f", {runner.empty} box(es) without a mask"
        if runner.failed:
            text += f", {runner.failed} image(s) skipped"
        if cancelled:
            text = f"Boxes to masks cancelled: {text} before it stopped"
        else:
            text = f"Boxes to masks: {text}"
        self._say(f"{text}. Press R to review them." if runner.proposals else f"{text}.", 0)

    def _close_dialog(self) -> None:
        if self.progress_dialog is None:
            return
        dialog, self.progress_dialog = self.progress_dialog, None
        close_job_progress(dialog, self.window)

    def _say(self, text: str, timeout_ms: int = 8000) -> None:
        self.window.statusBar().showMessage(text, timeout_ms)
