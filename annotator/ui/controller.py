"""The Qt adapter of the interactive session: :class:`~annotator.core.session.Session` events in, Qt signals out.

The rules of the session (prompts, decode requests and their stale answers, the live mask and its overrides,
candidates, accepting and refining objects, selection, navigation, prefetch) live in the Qt-free
``annotator.core.session`` (its docstring follows a left click from start to finish). This module only:

* owns the worker handles (segment client, image loader, autosaver) and the session built over them;
* forwards the workers' answers to the session (``decoded`` -> ``Session.decoded``...) and asks the client to
  prefetch what the session plans;
* turns each :class:`~annotator.core.session_events.SessionEvent` into one Qt signal;
* forwards the widgets' input (a click, Enter, Tab...) to the session, and renders the object layers
  (``instance_layer``); the hover preview is ``hover`` (:class:`~annotator.ui.controller_hover.HoverPreview`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal, Slot

from annotator.core.events import Event
from annotator.core.model import ImageStatus, Instance, Project
from annotator.core.overlay_style import OverlayStyle
from annotator.core.project_store import Autosaver
from annotator.core.prompts import PromptSession, PromptState
from annotator.core.session import Session
from annotator.core.session_events import CandidateView, SessionChange, SessionEvent
from annotator.core.undo import UndoStack, UndoStep
from annotator.ui.controller_hover import HoverPreview
from annotator.ui.instance_layer import InstanceLayers, LayerUpdate
from annotator.ui.overlay import FILL_ALPHA, color_table
from annotator.workers.image_loader import DecodedImage, ImageLoader
from annotator.workers.mask_outline import MaskOutline, outline_for
from annotator.workers.requests import DecodeResult
from annotator.workers.segment_client import SegmentClient

__all__ = ["CandidateView", "SessionController"]

log = logging.getLogger(__name__)

SAVE_FAILED_TITLE = "Cannot save the project"
"""Title of the message a failed autosave sends (the window shows it with retry / save elsewhere / export)."""


class SessionController(QObject):
    """The session as Qt sees it: signals for its events, slots for the workers, methods for the widgets.

    Signals:
        image_loaded(DecodedImage): show this image (a new pixmap); layers follow with their own signals.
        image_failed(str key, str message): the image could not be shown.
        live_changed(): ``live_labels()`` changed (new answer, candidate, stroke, cleared).
        live_region_changed(QRect): an in-place edit of ``live_labels()`` inside this rectangle.
        instances_changed(): every object must be redrawn (``instance_layers()``; another image, category colours).
        object_changed(SessionEvent): one object of the current image changed (a ``SessionChange.OBJECT`` event:
        ``change``, ``instance_id``, ``index``); views update that object alone (``object_layers(event)``).
        prompts_changed(): ``prompt_state`` changed (markers to redraw).
        candidate_changed(object): a :class:`CandidateView` or ``None``.
        selection_changed(object): the selected instance id or ``None``.
        current_image_changed(str): the current image key.
        status(str): a status-bar line. message(str, str): an error to show the user (title, text).
        notice(str): what an undo/redo did or is about to do (shown until the next one; ``""`` clears it).
        history_changed(): what Undo/Redo would do changed (``undo_step()`` / ``redo_step()``).
    """

    image_loaded = Signal(object)
    image_failed = Signal(object, str)
    live_changed = Signal()
    live_region_changed = Signal(QRect)
    instances_changed = Signal()
    object_changed = Signal(object)
    prompts_changed = Signal()
    candidate_changed = Signal(object)
    selection_changed = Signal(object)
    current_image_changed = Signal(object)
    status = Signal(str)
    message = Signal(str, str)
    project_event = Signal(object)
    notice = Signal(str)
    history_changed = Signal()

    def __init__(
        self,
        project: Project,
        client: SegmentClient,
        loader: ImageLoader,
        *,
        autosaver: Autosaver | None = None,
        prefetch_depth: int = 0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.autosaver = autosaver
        self.client = client
        self.loader = loader
        project.events.connect(self.project_event.emit)  # before the session's own subscription
        self.session = Session(project, client, loader, prefetch_depth=prefetch_depth)
        self.layers = InstanceLayers()  # kept between changes: repaints only what changed
        self._signals = {
            SessionChange.LIVE: self.live_changed.emit,
            SessionChange.INSTANCES: self.instances_changed.emit,
            SessionChange.PROMPTS: self.prompts_changed.emit,
        }
        self.session.events.connect(self._on_session_event)
        self.hover = HoverPreview(self.session, client, self)
        self.prompts_changed.connect(self.hover.timer.stop)  # the session dropped the preview
        self.current_image_changed.connect(lambda _key: self.hover.timer.stop())
        self.session.undo_stack.events.connect(lambda _event: self.history_changed.emit())
        self.current_image_changed.connect(lambda _key: self.history_changed.emit())
        client.decoded.connect(self._on_decoded)
        client.failed.connect(self.session.decode_failed)
        client.encoding_started.connect(lambda _key: self.status.emit("Encoding image…"))
        client.encoded.connect(self._on_encoded)
        client.engine_ready.connect(lambda _info: self.session.engine_changed())
        client.status.connect(self.status)
        loader.loaded.connect(self._on_image_loaded)
        loader.failed.connect(self.session.image_failed)
        if autosaver is not None:
            autosaver.events.connect(self._on_autosave_event)
        self._closed = False

    def _on_session_event(self, event: SessionEvent) -> None:
        kind = event.kind
        if kind in self._signals:
            self._signals[kind]()
        elif kind is SessionChange.HOVER:
            self.hover.changed.emit()
        elif kind is SessionChange.CANDIDATE:
            self.candidate_changed.emit(event.candidate)
        elif kind is SessionChange.OBJECT:
            self.object_changed.emit(event)
        elif kind is SessionChange.SELECTION:
            self.selection_changed.emit(event.instance_id)
        elif kind is SessionChange.STATUS:
            self.status.emit(event.text)
        elif kind is SessionChange.MESSAGE:
            self.message.emit(event.title, event.text)
        elif kind is SessionChange.NOTICE:
            self.notice.emit(event.text)
        elif kind is SessionChange.IMAGE_CHANGED:
            self.current_image_changed.emit(event.image_key)
        elif kind is SessionChange.IMAGE_SHOWN:
            self.image_loaded.emit(event.image)
        elif kind is SessionChange.IMAGE_FAILED:
            self.image_failed.emit(event.image_key, event.text)

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

    # --- workers -> session ---------------------------------------------------------------------------------
    @Slot(object)
    def _on_image_loaded(self, image: DecodedImage) -> None:
        self.session.image_shown(image)

    @Slot(object)
    def _on_decoded(self, result: DecodeResult) -> None:
        self.session.decoded(result)

    @Slot(object)
    def _on_encoded(self, key: str) -> None:
        if self.client.pending_decode:
            self.status.emit("Decoding…")
        plan = self.session.encoded(key)
        if plan is not None:
            self.client.prefetch_files([(k, self.session.image_path(k)) for k in plan])

    # --- session state the widgets read ---------------------------------------------------------------------
    @property
    def undo_stack(self) -> UndoStack:
        return self.session.undo_stack

    @property
    def prompts(self) -> PromptSession:
        return self.session.live.prompts

    @property
    def prompt_state(self) -> PromptState:
        return self.session.prompt_state

    @property
    def current_key(self) -> str | None:
        return self.session.current_key

    @property
    def current_image(self) -> DecodedImage | None:
        return self.session.current_image  # type: ignore[return-value]  # the loader's images

    @property
    def current_category_id(self) -> int | None:
        return self.session.current_category_id

    @property
    def selected_id(self) -> int | None:
        return self.session.selected_id

    @property
    def nav_direction(self) -> int:
        return self.session.nav_direction

    @property
    def decode_requests(self) -> int:
        return self.session.live.decode_requests

    @property
    def overlay_style(self) -> OverlayStyle:
        return self.session.overlay_style

    @property
    def image_keys(self) -> list[str]:
        return self.session.image_keys

    def image_path(self, key: str) -> Path:
        return self.session.image_path(key)

    def current_instances(self) -> tuple[Instance, ...]:
        return self.session.objects.current()

    def selected_instance(self) -> Instance | None:
        return self.session.objects.selected()

    def selection_hint(self) -> str:
        return self.session.objects.selection_hint()

    def live_mask(self) -> np.ndarray | None:
        return self.session.live_mask()

    def live_labels(self) -> np.ndarray | None:
        """``H x W`` uint8 (0/1) of the live mask for the live layer (shared, do not edit)."""
        return self.session.live.live_labels()

    def live_outline(self) -> MaskOutline | None:
        """The outline of ``live_labels()`` as the worker traced it; ``None`` for a hand-painted mask (or none)."""
        answer = self.session.live.answer
        if not isinstance(answer, DecodeResult):
            return None
        return outline_for(self.live_labels(), answer.masks, answer.outlines)

    def live_table(self) -> list[int]:
        category = self.session.current_category()
        color = category.color if category is not None else (255, 255, 255)
        return color_table([color], alpha=FILL_ALPHA + 30)

    def unaccepted_images(self) -> list[str]:
        return self.session.live.unaccepted_images()

    def undo_step(self) -> UndoStep:
        return self.session.undo_step()

    def redo_step(self) -> UndoStep:
        return self.session.redo_step()

    def instance_layers(self, exclude: int | None = None) -> LayerUpdate:
        """Every object of the current image drawn anew (see ``instance_layer.InstanceLayers.rebuild``)."""
        return self.layers.rebuild(self.session, exclude)

    def object_layers(self, event: SessionEvent, exclude: int | None = None) -> LayerUpdate | None:
        """One object's change applied to the layers (``None``: call :meth:`instance_layers` instead)."""
        return self.layers.object_changed(self.session, event, exclude)

    def selection_layers(self, exclude: int | None = None) -> LayerUpdate | None:
        """The objects selected before and now redrawn (``None``: call :meth:`instance_layers` instead)."""
        return self.layers.selection_changed(self.session, exclude)

    def touch_layers(self, ids: list[int | None], exclude: int | None = None) -> LayerUpdate | None:
        """The objects ``ids`` redrawn (``None``: call :meth:`instance_layers` instead)."""
        return self.layers.touch(self.session, ids, exclude)

    # --- widget input -> session ----------------------------------------------------------------------------
    def open_image(self, key: str) -> None:
        self.session.open_image(key)

    def step_image(self, direction: int) -> None:
        self.session.step_image(direction)

    def set_current_category(self, category_id: int) -> None:
        self.session.set_current_category(category_id)

    def set_status(self, status: ImageStatus) -> None:
        self.session.set_status(status)

    def undo(self) -> None:
        self.session.undo()

    def redo(self) -> None:
        self.session.redo()

    def click(self, x: float, y: float, label: int) -> None:
        self.session.click(x, y, label)

    def add_point(self, x: float, y: float, label: int) -> None:
        self.session.add_point(x, y, label)

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.session.set_box(x0, y0, x1, y1)

    def clear_prompts(self) -> None:
        self.session.clear_prompts()

    def cycle_candidate(self) -> None:
        self.session.cycle_candidate()

    def accept(self) -> None:
        self.session.objects.accept()

    def accept_box(self) -> None:
        self.session.objects.accept_box()

    def select_instance(self, instance_id: int | None) -> None:
        self.session.objects.select(instance_id)

    def cycle_select_at(self, x: float, y: float) -> None:
        self.session.objects.cycle_select_at(x, y)

    def new_object(self) -> None:
        self.session.objects.new_object()

    def segment_box(self) -> None:
        self.session.objects.segment_box()

    def delete_instance(self, instance_id: int) -> None:
        self.session.objects.delete(instance_id)

    def set_instance_category(self, instance_id: int, category_id: int) -> None:
        self.session.objects.set_category(instance_id, category_id)

    def set_instance_hidden(self, instance_id: int, hidden: bool) -> None:
        self.session.objects.set_hidden(instance_id, hidden)

    def set_instance_mask(self, instance_id: int, mask: np.ndarray, text: str = "Edit mask") -> None:
        self.session.objects.set_mask(instance_id, mask, text)

    def set_live_override(self, mask: np.ndarray | None, image_key: str | None = None) -> None:
        """A hand-edited live mask (``None`` = the decoded candidate); see ``LiveLoop.set_override``."""
        self.session.live.set_override(mask, image_key)

    def paint_live_mask(self, mask: np.ndarray, text: str) -> None:
        """A brush/eraser stroke on the live mask (``H x W`` bool), one undoable step."""
        self.session.paint_live_mask(mask, text)

    def set_overlay_style(self, style: OverlayStyle) -> None:
        """Change how objects are drawn (opacity, outline-only, hide-all)."""
        self.session.overlay_style = style
        self.instances_changed.emit()

    def discard_unaccepted(self) -> None:
        self.session.live.discard_unaccepted()

    def start_refinement(self, mask: np.ndarray) -> None:
        self.session.start_refinement(mask)

    def finish_refinement(self) -> None:
        self.session.finish_refinement()
