"""The session controller: the state of the annotation session between the widgets, the core and the worker.

It owns the :class:`~annotator.core.model.Project`, the undo stack, the prompt session, the segment client and
the image loader. Widgets send it user intents (a click, Enter, Tab...) and redraw from what it exposes when it
signals a change. Nothing here calls the model: decoding happens in the segment worker.

This module holds the controller itself (signals, images, categories, project events, undo); its features live
in mixins: prompts, decode answers, candidates and the live mask in ``controller_live.py`` (with
:class:`CandidateView`), accepting and editing instances in ``controller_instances.py``; what these parts see
of each other is declared in ``controller_base.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QRect, Signal, Slot

from annotator.core.events import Event
from annotator.core.model import Category, ImageStatus, Project
from annotator.core.project_store import Autosaver
from annotator.core.prompts import PromptSession
from annotator.core.undo import UndoStack, UndoStep, redo_step, undo_step
from annotator.ui.controller_hover import HoverMixin
from annotator.ui.controller_instances import InstanceMixin
from annotator.ui.controller_live import CandidateView, LiveMaskMixin
from annotator.ui.live_edit import LiveMaskCommand
from annotator.workers.image_loader import DecodedImage, ImageLoader
from annotator.workers.segment_client import SegmentClient

__all__ = ["CandidateView", "SessionController"]

log = logging.getLogger(__name__)

SAVE_FAILED_TITLE = "Cannot save the project"
"""Title of the message a failed autosave sends (the window shows it with retry / save elsewhere / export)."""


class SessionController(LiveMaskMixin, InstanceMixin, HoverMixin, QObject):
    """Annotation session state and the rules of the interactive loop.

    Signals:
        image_loaded(DecodedImage): show this image (a new pixmap); layers follow with their own signals.
        image_failed(str key, str message): the image could not be shown.
        live_changed(): ``live_labels()`` changed (new answer, candidate, stroke, cleared).
        live_region_changed(QRect): an in-place edit of ``live_labels()`` inside this rectangle.
        instances_changed(): ``instance_labels()`` must be rebuilt (also after category colour changes).
        prompts_changed(): ``prompt_state`` changed (markers to redraw).
        candidate_changed(object): a :class:`CandidateView` or ``None``.
        selection_changed(object): the selected instance id or ``None``.
        current_image_changed(str): the current image key.
        status(str): a status-bar line. message(str, str): an error to show the user (title, text).
        notice(str): what an undo/redo did or is about to do (shown until the next one; ``""`` clears it).
        history_changed(): what Undo/Redo would do changed (``undo_step()`` / ``redo_step()``).
        hover_changed(): ``hover_labels()`` changed (hover preview shown or dropped).
    """

    image_loaded = Signal(object)
    image_failed = Signal(object, str)
    live_changed = Signal()
    live_region_changed = Signal(QRect)
    instances_changed = Signal()
    prompts_changed = Signal()
    candidate_changed = Signal(object)
    selection_changed = Signal(object)
    current_image_changed = Signal(object)
    status = Signal(str)
    message = Signal(str, str)
    project_event = Signal(object)
    notice = Signal(str)
    history_changed = Signal()
    hover_changed = Signal()

    def __init__(
        self,
        project: Project,
        client: SegmentClient,
        loader: ImageLoader,
        *,
        autosaver: Autosaver | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.autosaver = autosaver
        self.client = client
        self.loader = loader
        self.undo_stack = UndoStack()
        self.prompts = PromptSession()
        self.current_key: str | None = None
        self.current_image: DecodedImage | None = None
        self.current_category_id: int | None = project.categories[0].id if project.categories else None
        self.selected_id: int | None = None
        self._init_live_state()
        self._init_hover()
        self._nav_direction = 1

        self.prompts.events.connect(self._on_prompt_event)
        self.undo_stack.events.connect(lambda _event: self.history_changed.emit())
        self.current_image_changed.connect(lambda _key: self.history_changed.emit())
        project.events.connect(self._on_project_event)
        client.decoded.connect(self._on_decoded)
        client.failed.connect(self._on_decode_failed)
        client.encoding_started.connect(lambda _key: self.status.emit("Encoding image…"))
        client.encoded.connect(self._on_encoded)
        client.status.connect(self.status)
        loader.loaded.connect(self._on_image_loaded)
        loader.failed.connect(self._on_image_failed)
        if autosaver is not None:
            autosaver.events.connect(self._on_autosave_event)
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` ran (the session is over)."""
        return self._closed

    def shutdown(self) -> None:
        """Save pending changes and stop the worker threads (quit + wait). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.client.shutdown()
        self.loader.shutdown()
        if self.autosaver is not None:
            self.autosaver.close()
            self.autosaver.store.close()  # releases the project's write lock

    def _on_autosave_event(self, event: Event) -> None:
        if event.type == "save_failed":
            self.message.emit(SAVE_FAILED_TITLE, str(event.info["error"]))

    # --- images ---------------------------------------------------------------------------------------
    @property
    def image_keys(self) -> list[str]:
        return [record.file_name for record in self.project.images]

    def open_image(self, key: str) -> None:
        """Make ``key`` the current image: load it in the background, then encode it in the worker."""
        if key == self.current_key and self.current_image is not None:
            return
        self.undo_stack.discard_prompt_commands()
        self.undo_stack.discard(lambda c: isinstance(c, LiveMaskCommand))
        # The selection belongs to the image being left: cleared before the new image's parked mask comes back
        # (restoring it repaints the objects, which reads the selection).
        self.selected_id = None
        old, self.current_key = self.current_key, key
        self._switch_live(old, key)  # an unaccepted mask is parked, not lost, and comes back with its image
        self.current_image = None
        self.client.clear_image()
        self.current_image_changed.emit(key)
        self.selection_changed.emit(None)
        self.status.emit(f"Loading {key}…")
        self.loader.load(key, self.project.root / key)

    def step_image(self, direction: int) -> None:
        """Go to the next (``+1``) or previous (``-1``) image, skipping images marked as errors."""
        keys = self.image_keys
        if not keys:
            return
        self._nav_direction = 1 if direction >= 0 else -1
        start = keys.index(self.current_key) if self.current_key in keys else -self._nav_direction
        index = start
        for _ in range(len(keys)):
            index += self._nav_direction
            if not 0 <= index < len(keys):
                self.status.emit("No more images in this direction")
                return
            if self.project.image(keys[index]).status is not ImageStatus.ERROR:
                self.open_image(keys[index])
                return
        self.status.emit("No other image can be opened")

    @Slot(object)
    def _on_image_loaded(self, image: DecodedImage) -> None:
        if image.key != self.current_key:
            return
        record = self.project.image(image.key)
        h, w = image.rgb.shape[:2]
        if (record.height, record.width) != (h, w):
            self.project.update_image(image.key, width=w, height=h)
        if record.status is ImageStatus.ERROR:
            self.project.set_image_status(image.key, ImageStatus.NOT_STARTED)
        self.current_image = image
        self.image_loaded.emit(image)
        self.instances_changed.emit()
        self.client.set_image(image.key, image.rgb)
        self._restore_parked(image.key)

    @Slot(object, str)
    def _on_image_failed(self, key: str, message: str) -> None:
        self.project.set_image_status(key, ImageStatus.ERROR, message)
        self.image_failed.emit(key, message)
        self.status.emit(f"Cannot open {key}: {message}")
        if key == self.current_key:
            self.current_image = None

    @Slot(object)
    def _on_encoded(self, key: str) -> None:
        if self.client.pending_decode:
            self.status.emit("Decoding…")

    # --- categories -----------------------------------------------------------------------------------
    def set_current_category(self, category_id: int) -> None:
        """Category for the next accepted object (and the live mask colour)."""
        self.current_category_id = category_id
        self.live_changed.emit()

    def current_category(self) -> Category | None:
        cid = self.current_category_id
        return self.project.category(cid) if cid is not None and self.project.has_category(cid) else None

    def category_slots(self) -> list[Category]:
        return list(self.project.categories)

    # --- project events -------------------------------------------------------------------------------
    def _on_project_event(self, event: Event) -> None:
        self.project_event.emit(event)
        if event.type.startswith("instance_") and event.image_key == self.current_key:
            if event.type == "instance_removed" and event.instance_id == self.selected_id:
                self.selected_id = None
                self.selection_changed.emit(None)
            self.instances_changed.emit()
        elif event.type.startswith("category_") or event.type == "reset":
            if self.current_category_id is not None and not self.project.has_category(
                self.current_category_id
            ):
                cats = self.project.categories
                self.current_category_id = cats[0].id if cats else None
            self.instances_changed.emit()
            self.live_changed.emit()

    # --- undo -----------------------------------------------------------------------------------------
    def undo_step(self) -> UndoStep:
        """What Ctrl+Z would do now (for the Edit menu)."""
        return undo_step(self.undo_stack, self.current_key)

    def redo_step(self) -> UndoStep:
        return redo_step(self.undo_stack, self.current_key)

    def undo(self) -> None:
        """Undo the last change; one made on another image first brings that image into view (and says so)."""
        self._take(self.undo_step(), self.undo_stack.undo, "Undone")

    def redo(self) -> None:
        """Redo the next change; one on another image first brings that image into view (and says so)."""
        self._take(self.redo_step(), self.undo_stack.redo, "Redone")

    def _take(self, step: UndoStep, apply: object, done: str) -> None:
        if step.command is None:
            return
        text = step.command.text
        if step.elsewhere is not None and self.project.has_image(step.elsewhere):
            notice = (
                f"{step.verb} {text!r} is on {step.elsewhere}: shown now; press again to {step.verb.lower()}"
            )
            self.open_image(step.elsewhere)
            self.notice.emit(notice)
            self.status.emit(notice)
            return
        apply()  # type: ignore[operator]
        where = self.current_key if step.command.image_key is not None else "the whole project"
        self.notice.emit(f"{done}: {text} ({where})")
        self.status.emit(f"{done}: {text}")

    def set_status(self, status: ImageStatus) -> None:
        if self.current_key is not None:
            self.project.set_image_status(self.current_key, status)

    def image_path(self, key: str) -> Path:
        return self.project.root / key
