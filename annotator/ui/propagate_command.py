"""Tools > Find similar in all / selected images (issue 7): PerSAM propagation of the selected object.

The selected object of the current image is the reference; :class:`PropagationRunner` searches the other
images in the background with a segmenter of its own (built from the window's engine settings) while a
progress dialog offers Cancel. What it finds goes into the review queue as proposals tagged ``persam`` or
``persam-f`` with the reference's category; the user reviews them in review mode (R).

Nothing runs without a SAM checkpoint (the classical engine has no image features to compare) or without a
selected object: a message box says what to do instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.errors import CoreError
from annotator.core.model import ImageStatus
from annotator.ui.job_runner import close_job_progress, open_job_progress, set_job_progress
from annotator.ui.propagate_runner import PropagationRunner
from annotator.workers.segment_worker import DiskCacheStore

if TYPE_CHECKING:
    from annotator.core.propagation import PropagationOptions
    from annotator.ui.main_window import MainWindow
    from annotator.ui.propagate_dialog import PropagateChoice

NEEDS_SAM = (
    "Finding similar objects (PerSAM) compares SAM image features, and the current engine is the classical "
    "one (no SAM checkpoint).\n\nLoad a SAM checkpoint with File > Load checkpoint… or choose one in "
    "Settings > Models…, then try again."
)
NEEDS_OBJECT = (
    "Select the object to look for first: click it in the Objects list (or accept a new one with Enter), "
    "then use Find similar."
)
NEEDS_TARGETS = (
    "Select the images to search in the Images list (Ctrl+click or Shift+click adds images to the "
    "selection); the reference image itself is not searched."
)


def _ask_propagate_choice(
    parent: QWidget, reference: str, scope: str, selected_count: int
) -> PropagateChoice | None:
    """The options dialog, imported on first use (it pulls in PerSAM, hence torch)."""
    from annotator.ui.propagate_dialog import ask_propagate_choice

    return ask_propagate_choice(parent, reference, scope, selected_count)


class FindSimilar(QObject):
    """The "Find similar" commands of one main window (actions, dialog, progress, results)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.queue = window.review.queue
        self.runner = PropagationRunner(self.queue, parent=self)
        self.progress_dialog: QProgressDialog | None = None
        self.ask_choice = _ask_propagate_choice
        """The options dialog (replaceable: ``(parent, reference, scope, selected_count) -> choice``)."""

        actions = window.actions_by_id
        actions["find_similar_all"].triggered.connect(lambda: self.ask("all"))
        actions["find_similar_selected"].triggered.connect(lambda: self.ask("selected"))
        window.instance_panel.add_context_actions(
            [actions["find_similar_all"], actions["find_similar_selected"]]
        )
        self.runner.progress.connect(self._on_progress)
        self.runner.image_failed.connect(lambda key, msg: self._say(f"Skipped {key}: {msg}"))
        self.runner.image_proposed.connect(
            lambda key, n: self._say(f"Find similar: {n} proposal(s) for {key}")
        )
        self.runner.finished.connect(self._on_finished)

    # --- starting ---------------------------------------------------------------------------------------
    def ask(self, scope: str) -> None:
        """Check the preconditions, ask for the options, then run in the background."""
        if self.runner.running:
            self._say("Similar objects are already being searched for")
            return
        if self.window.engine_request.checkpoint is None:
            QMessageBox.information(self.window, "Find similar needs a SAM checkpoint", NEEDS_SAM)
            return
        engine = self.controller.client.engine
        if engine is not None and engine.persam_unavailable is not None:
            QMessageBox.information(
                self.window, "Find similar is not available with this model", engine.persam_unavailable
            )
            return
        key, instance = self.controller.current_key, self.controller.selected_instance()
        if key is None or instance is None:
            QMessageBox.information(self.window, "No object selected", NEEDS_OBJECT)
            return
        selected = [k for k in self.window.file_list.selected_keys() if k != key]
        category = self._category_name(instance.category_id)
        choice = self.ask_choice(
            self.window, f"object #{instance.id} ({category}) on {key}", scope, len(selected)
        )
        if choice is None:
            return
        targets = self.controller.image_keys if choice.scope == "all" else selected
        self.start(key, instance.id, targets, choice.options)

    def start(self, key: str, instance_id: int, targets: list[str], options: PropagationOptions) -> bool:
        """Search ``targets`` for object ``instance_id`` of ``key``; returns whether a job started."""
        project = self.controller.project
        targets = [
            k
            for k in targets
            if k != key and project.has_image(k) and project.image(k).status is not ImageStatus.ERROR
        ]
        if not targets:
            QMessageBox.information(self.window, "No image to search", NEEDS_TARGETS)
            return False
        try:
            self.runner.start(
                key, instance_id, targets, self.window.engine_request, options, cache=self._disk_cache()
            )
        except CoreError as exc:
            self.window.show_error("Cannot find similar objects", str(exc))
            return False
        self.progress_dialog = open_job_progress(
            self.window,
            f"Finding similar objects ({options.source}) in {len(targets)} image(s)…",
            len(targets),
            name="propagate_progress",
            title="Find similar",
            cancel=self.runner.cancel,
            value=0,
        )
        return True

    def shutdown(self) -> None:
        """Stop a run (window closing)."""
        self.runner.shutdown()
        self._close_dialog()

    # --- following the run ------------------------------------------------------------------------------
    def _on_progress(self, done: int, total: int) -> None:
        set_job_progress(self.progress_dialog, done, total)

    def _on_finished(self, cancelled: bool, message: str) -> None:
        self._close_dialog()
        tally = self.runner.tally
        if message:
            self.window.show_error("Cannot find similar objects", message)
            return
        text = f"{tally.proposals} proposal(s) added on {tally.images} image(s)"
        if tally.failed:
            text += f"; {tally.failed} image(s) skipped"
        text = f"Find similar cancelled: {text} before it stopped" if cancelled else f"Find similar: {text}"
        self._say(f"{text}. Press R to review them." if tally.proposals else f"{text}.", 0)

    def _close_dialog(self) -> None:
        if self.progress_dialog is None:
            return
        dialog, self.progress_dialog = self.progress_dialog, None
        close_job_progress(dialog, self.window)

    # --- helpers ----------------------------------------------------------------------------------------
    def _disk_cache(self) -> EmbeddingCache | None:
        store = self.controller.client.worker.disk_cache
        return store.cache if isinstance(store, DiskCacheStore) else None

    def _category_name(self, category_id: int | None) -> str:
        project = self.controller.project
        if category_id is not None and project.has_category(category_id):
            return project.category(category_id).name
        return "no category"

    def _say(self, text: str, timeout_ms: int = 8000) -> None:
        self.window.statusBar().showMessage(text, timeout_ms)
