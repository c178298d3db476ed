"""Review mode: decide on proposals from the keyboard (Tools > Review proposals, key R; ADR 0005).

The rules live in :class:`annotator.core.review.ReviewQueue`; this class turns key presses into queue calls,
shows the current proposal (:class:`ReviewOverlay`), follows the queue's cursor across images and runs
"Propose objects…" (:class:`ProposalRunner`).

Keys (bundled ``keymap.json``, section ``review``) are active only in review mode and win over the normal
shortcuts: on entry the clashing sequences are taken off the window's actions (restored on exit), and an
application event filter claims them (``ShortcutOverride``) and handles the key press. Keys that are not
review keys (Ctrl+Z, F, zoom, PgUp/PgDown...) keep their normal meaning; Ctrl+Z undoes the last decision
because every decision is one command on the session's undo stack. In refinement (E) only Enter and Esc are
claimed, so clicks, Tab, Ctrl+Z, brush and eraser work as usual.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressDialog,
    QTextEdit,
    QWidget,
)

from annotator.core.events import Event
from annotator.core.masks import Mask
from annotator.core.review import ReviewError
from annotator.ui.job_runner import close_job_progress, open_job_progress, set_job_progress
from annotator.ui.review_keys import ReviewKeys, load_review_keys
from annotator.ui.review_overlay import ReviewOverlay
from annotator.ui.review_propose import ProposalRunner

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow

TEXT_INPUTS = (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)


class Phase(enum.Enum):
    OFF = "off"
    REVIEW = "review"
    REFINE = "refine"


class ReviewMode(QObject):
    """Review mode and proposal runs of one main window.

    Signals: phase_changed(str): ``off`` | ``review`` | ``refine``.
    """

    phase_changed = Signal(str)
    _queue_changed = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.queue = self.controller.session.review
        self.keys = ReviewKeys(load_review_keys())
        self.overlay = ReviewOverlay(window.canvas)
        self.runner = ProposalRunner(self.queue, parent=self)
        self.phase = Phase.OFF
        self.counter = QLabel("")
        self.counter.setObjectName("review_counter")
        window.statusBar().addPermanentWidget(self.counter)
        self.progress_dialog: QProgressDialog | None = None
        self._saved_shortcuts: dict[QAction, list[QKeySequence]] = {}
        self._filter_installed = False

        self._queue_changed.connect(self._sync, Qt.ConnectionType.QueuedConnection)
        self.queue.events.connect(self._on_queue_event)
        self.controller.image_loaded.connect(lambda _image: self._refresh())
        self.controller.current_image_changed.connect(self._on_image_changed)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_run_finished)
        self.runner.image_failed.connect(
            lambda key, msg: window.statusBar().showMessage(f"No proposals for {key}: {msg}")
        )
        self.runner.image_proposed.connect(self._on_image_proposed)
        actions = window.actions_by_id
        actions["review_proposals"].setCheckable(True)
        actions["review_proposals"].triggered.connect(self.toggle)
        actions["propose_objects"].triggered.connect(self.ask_propose)
        self._update_counter()

    # --- entering and leaving -------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.phase is not Phase.OFF

    def toggle(self) -> None:
        self.leave() if self.active else self.enter()

    def enter(self) -> bool:
        """Start reviewing at the first pending proposal (of the current image, else the next ones)."""
        action = self.window.actions_by_id["review_proposals"]
        if self.queue.start(self.controller.current_key) is None:
            action.setChecked(False)
            self._say("No proposals to review: use Tools > Propose objects… first")
            return False
        self.controller.finish_refinement()
        self._set_phase(Phase.REVIEW)
        action.setChecked(True)
        self._sync()
        return True

    def leave(self) -> None:
        """Back to the normal mode (normal shortcuts restored, whole image in view)."""
        if self.phase is Phase.REFINE:
            self.controller.finish_refinement()
        self._set_phase(Phase.OFF)
        self.window.actions_by_id["review_proposals"].setChecked(False)
        self.overlay.hide()
        self.window.canvas.fit()
        self._update_counter()

    def _set_phase(self, phase: Phase) -> None:
        self._restore_shortcuts()
        self.phase = phase
        if phase is Phase.OFF:
            if self._filter_installed:
                app = QCoreApplication.instance()
                if app is not None:
                    app.removeEventFilter(self)
                self._filter_installed = False
        else:
            claimed = None if phase is Phase.REVIEW else {"accept", "leave"}
            self._claim_shortcuts(self.keys.sequences(claimed))
            if not self._filter_installed:
                app = QCoreApplication.instance()
                if app is not None:
                    app.installEventFilter(self)
                self._filter_installed = True
        self.overlay.set_refining(phase is Phase.REFINE)
        self.phase_changed.emit(phase.value)

    def _claim_shortcuts(self, sequences: set[str]) -> None:
        for action in self.window.findChildren(QAction):
            current = action.shortcuts()
            kept = [s for s in current if s.toString() not in sequences]
            if len(kept) != len(current):
                self._saved_shortcuts[action] = current
                action.setShortcuts(kept)

    def _restore_shortcuts(self) -> None:
        for action, shortcuts in self._saved_shortcuts.items():
            action.setShortcuts(shortcuts)
        self._saved_shortcuts.clear()

    def shutdown(self) -> None:
        """Stop a proposal run and leave review mode (window closing)."""
        if self.active:
            self._set_phase(Phase.OFF)
        self.runner.shutdown()
        if self.progress_dialog is not None:
            self.progress_dialog.close()
            self.progress_dialog = None

    # --- keys -----------------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride) or not self.active:
            return False
        if not isinstance(obj, QWidget) or obj.window() is not self.window or isinstance(obj, TEXT_INPUTS):
            return False
        if not isinstance(event, QKeyEvent):
            return False
        found = self.keys.command(event)
        if found is None:
            return False
        command, number = found
        if self.phase is Phase.REFINE and command not in ("accept", "leave"):
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        self.run_command(command, number)
        return True

    def run_command(self, command: str, number: int = 0) -> None:
        """Carry out a review command (what a review key does)."""
        if self.phase is Phase.REFINE:
            self._finish_refine(accept=command == "accept")
            return
        if command == "leave":
            self.leave()
            return
        if command == "back":
            self.queue.back()
            return
        proposal = self.queue.current()
        if proposal is None:
            self._say("All proposals are reviewed (Esc leaves review mode)")
            return
        if proposal.file_name != self.controller.current_key or self.controller.current_image is None:
            self._sync()  # the shown image must be the proposal's before deciding
            return
        try:
            if command == "accept":
                self.queue.accept(default_category=self.controller.current_category_id)
            elif command == "accept_category":
                categories = self.controller.project.categories
                if number > len(categories):
                    raise ReviewError(f"there is no category number {number}")
                self.queue.accept(categories[number - 1].id)
            elif command == "reject":
                self.queue.reject()
            elif command == "skip":
                self.queue.skip()
            elif command == "merge":
                self.queue.merge()
            elif command == "refine":
                self._start_refine()
        except ReviewError as exc:
            self._say(str(exc))

    # --- refinement -----------------------------------------------------------------------------------
    def _start_refine(self) -> None:
        proposal = self.queue.current()
        if proposal is None:
            return
        self.controller.start_refinement(proposal.mask.array())
        self._set_phase(Phase.REFINE)
        self._say("Refine: click to correct the mask, Enter accepts it, Esc returns to the proposal")

    def _finish_refine(self, *, accept: bool) -> None:
        mask = self.controller.live_mask()
        if accept:
            if mask is None or not mask.any():
                self._say("The mask is empty: nothing to accept (Esc returns to the proposal)")
                return
            refined = Mask.from_array(mask)
        self.controller.finish_refinement()
        self._set_phase(Phase.REVIEW)
        if accept:
            try:
                self.queue.accept(default_category=self.controller.current_category_id, mask=refined)
            except ReviewError as exc:
                self._say(str(exc))
        self._refresh()

    # --- following the queue ----------------------------------------------------------------------------
    def _on_queue_event(self, _event: Event) -> None:
        self._queue_changed.emit()  # queued: never open images in the middle of an undo command

    def _on_image_changed(self, key: str) -> None:
        cursor = self.queue.cursor
        if self.phase is not Phase.REVIEW or (cursor is not None and cursor[0] == key):
            return
        if self.queue.proposals(key):  # the user went to another image with proposals: review those
            pending = next(
                (p for p in self.queue.proposals(key) if p.is_pending), self.queue.proposals(key)[0]
            )
            self.queue.show(key, pending.id)

    def _sync(self) -> None:
        """Show the cursor's image (load it if needed) and the current proposal."""
        self._update_counter()
        if not self.active:
            return
        cursor = self.queue.cursor
        if cursor is not None and cursor[0] != self.controller.current_key:
            self.controller.open_image(cursor[0])  # _refresh follows on image_loaded
            return
        self._refresh()

    def _refresh(self) -> None:
        self._update_counter()
        if not self.active:
            return
        key = self.controller.current_key
        image = self.controller.current_image
        current = self.queue.current()
        if image is None or key is None:
            return
        if current is not None and current.file_name != key:
            current = None
        pending = [p for p in self.queue.proposals(key) if p.is_pending]
        self.overlay.show(image.rgb.shape[:2], pending, current)
        if current is None:
            decided, skipped, total = self.queue.decision_counts()
            self.overlay.set_caption(
                f"Review done: {decided} / {total} decided, {skipped} skipped · Esc leaves"
            )
            self.window.canvas.fit()
            return
        index = [p.id for p in self.queue.proposals(key)].index(current.id) + 1
        state = "" if current.is_pending else f" · {current.state.value}"
        if current.instance_id is not None:
            state += f" as object {current.instance_id}"
        suggested = ""
        if current.category_id is not None and self.controller.project.has_category(current.category_id):
            suggested = f" · suggests {self.controller.project.category(current.category_id).name}"
        self.overlay.set_caption(
            f"Proposal {index}/{len(self.queue.proposals(key))} · {current.source} · "
            f"score {current.score:.2f}{suggested}{state}"
        )
        if self.phase is Phase.REVIEW:
            self.overlay.focus(current.mask.bbox)

    def _update_counter(self) -> None:
        # Decisions (accept, reject, merge) count; skips are shown apart: a skipped proposal is not reviewed.
        decided, skipped, total = self.queue.decision_counts()
        key = self.controller.current_key
        if total == 0:
            self.counter.setText("")
            return
        on_image = self.queue.decision_counts(key) if key is not None else (0, 0, 0)
        mode = "Review" if self.active else "Proposals"
        skips = f" · {skipped} skipped" if skipped else ""
        self.counter.setText(
            f"{mode}: {decided} / {total} decided{skips} (this image {on_image[0]} / {on_image[2]})"
        )

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    # --- proposing ------------------------------------------------------------------------------------
    def ask_propose(self) -> None:
        """Tools > Propose objects…: ask for the images and parameters, then run in the background."""
        from annotator.ui.propose_dialog import ask_propose_options

        if self.runner.running:
            self._say("Objects are already being proposed")
            return
        uses_sam = self.window.engine_request.checkpoint is not None
        options = ask_propose_options(self.window, self.controller.current_key is not None, uses_sam)
        if options is None:
            return
        keys = self.controller.image_keys
        if options.scope == "current":
            keys = [self.controller.current_key] if self.controller.current_key else []
        elif options.scope == "unproposed":
            keys = [k for k in keys if not self.queue.proposals(k)]
        self.propose(keys, options.params, replace_pending=options.replace_pending)

    def propose(self, keys: list[str], params: dict | None = None, *, replace_pending: bool = True) -> None:
        """Propose objects for ``keys`` in the background, with a progress dialog that can cancel."""
        from annotator.core.model import ImageStatus

        project = self.controller.project
        keys = [k for k in keys if project.has_image(k) and project.image(k).status is not ImageStatus.ERROR]
        if not keys:
            self._say("No image to propose objects for")
            return
        self.runner.start(keys, self.window.engine_request, params, replace_pending=replace_pending)
        self.progress_dialog = open_job_progress(
            self.window,
            f"Proposing objects for {len(keys)} image(s)…",
            100,
            name="propose_progress",
            title="Propose objects",
            cancel=self.runner.cancel,
        )

    def _on_progress(self, value: int, maximum: int) -> None:
        set_job_progress(self.progress_dialog, value, maximum)

    def _on_image_proposed(self, key: str, count: int) -> None:
        self._say(f"{count} object(s) proposed for {key}")
        if key == self.controller.current_key:
            self._refresh()

    def _on_run_finished(self, cancelled: bool, message: str) -> None:
        if self.progress_dialog is not None:
            dialog, self.progress_dialog = self.progress_dialog, None
            close_job_progress(dialog, self.window)
        if message:
            self.window.show_error("Cannot propose objects", message)
        elif cancelled:
            self._say("Proposing cancelled; the proposals made so far are in the review queue")
        else:
            reviewed, total = self.queue.counts()
            self._say(f"Proposals ready: {total - reviewed} to review (R)")
        self._update_counter()
