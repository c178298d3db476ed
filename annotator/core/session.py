"""The interactive annotation session as plain Python: one object, explicit calls in, typed events out.

:class:`Session` owns what the user is doing on the open folder: the current image and the navigation
direction, the undo stack, the object being drawn (prompts, the decode in flight, the answer shown, the live
mask and its hand-painted override: :class:`~annotator.core.session_live.LiveLoop`), the selection, accepting
and refining objects, what to prefetch (:class:`~annotator.core.prefetch_policy.PrefetchPolicy`), the engine
chosen (:class:`~annotator.core.engine_choice.EngineChoice`), the review queue
(:class:`~annotator.core.review.ReviewQueue`) and the hover preview
(:class:`~annotator.core.session_hover.HoverTracker`). It never imports Qt and never waits: the decoder and the
image loader are ports (``session_ports``) whose answers come back as method calls (:meth:`Session.image_shown`,
:meth:`Session.decoded`, :meth:`Session.encoded`...). Views subscribe to ``Session.events``
(:class:`~annotator.core.session_events.SessionEvent`); in the app the Qt adapter
``annotator.ui.controller.SessionController`` turns them into signals.

What happens on a left click (prompt tool), start to finish:

1. Qt side: ``Canvas.mouseReleaseEvent`` maps the press to image pixels and emits ``point_clicked(x, y, 1)``;
   ``MainWindow._on_click`` calls ``SessionController.click``, which calls :meth:`Session.click`.
2. :meth:`Session.click`: with no object in progress (no prompts, no live mask, nothing selected) and N not
   pressed, a positive click on an accepted object *selects* it (``ObjectEditor.click_selects`` /
   ``select``: a ``SELECTION`` event) and stops here.
3. Otherwise the click is a prompt: :meth:`Session.add_point` pushes a ``SetPromptCommand`` with the new
   :class:`~annotator.core.prompts.PromptState` on the undo stack (so Ctrl+Z removes the point).
4. Applying the command sets the prompts; their event reaches ``LiveLoop.prompts_changed``
   (``session_live.py``): a ``PROMPTS`` event (markers; the hover preview is dropped) and one request to the
   decoder with all the points, the box, the last answer's logits as ``mask_input`` (or, refining a selected
   object, that object's mask as seed), three candidates for a lone click. ``Decoder.decode`` returns the
   request's number; the segment worker decodes in its own thread and never blocks this one.
5. The answer comes back as :meth:`Session.decoded` (``SegmentClient.decoded`` -> the adapter). It is dropped
   unless it carries the newest request's number for the current image (a late or out-of-order answer, one for
   another image or for prompts cleared since is never shown). A hand-painted override survives only an answer
   for the prompts it was painted on. The best candidate's logits join the prompts (not undoable), which shows
   that candidate: ``LIVE`` (the window paints the live mask) and ``CANDIDATE`` (``Candidate 2/3 · predicted
   IoU``) events, turned into ``live_changed`` / ``candidate_changed`` by the adapter.
6. Enter (``ObjectEditor.accept``) stores the live mask as a new object (or as the selected object's new
   mask) in one undo step, and clears the prompts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from annotator.core.engine_choice import EngineChoice
from annotator.core.events import Event
from annotator.core.model import Category, ImageStatus, Project
from annotator.core.overlay_style import OverlayStyle
from annotator.core.prefetch_policy import PrefetchPolicy
from annotator.core.prompts import PromptState
from annotator.core.review import ReviewQueue
from annotator.core.session_events import ObjectChange, SessionChange, SessionEmitter, SessionEvent
from annotator.core.session_hover import HoverTracker
from annotator.core.session_live import LiveLoop, LiveMaskCommand
from annotator.core.session_objects import ObjectEditor
from annotator.core.session_ports import DecodeAnswer, Decoder, ImageSource, ShownImage
from annotator.core.undo import SetPromptCommand, UndoStack, UndoStep, redo_step, undo_step

INSTANCE_EVENTS = frozenset({"instance_added", "instance_changed", "instance_removed"})
"""The project events that change the objects of an image (``Project`` docstring)."""
CATEGORY_EVENTS = frozenset({"category_added", "category_changed", "category_removed", "reset"})
"""The project events after which categories (and so colours) may differ."""


class Session:
    """The annotation session of one project (see the module docstring for a click's path).

    Attributes:
        project: the annotations; undo_stack: every user edit; live: the object being drawn;
        objects: the accepted objects of the current image (accept, select, edit);
        prefetch: the prefetch plan; engine: the engine chosen; review: the proposals waiting for review;
        hover: the hover preview; events: where :class:`SessionEvent` s go.
        current_key / current_image: the image shown (``current_image`` ``None`` while it loads);
        nav_direction: +1 / -1, the direction of the user's last move through the list.
    """

    def __init__(
        self, project: Project, decoder: Decoder, images: ImageSource, *, prefetch_depth: int = 0
    ) -> None:
        self.project = project
        self.decoder = decoder
        self.images = images
        self.events = SessionEmitter()
        self.undo_stack = UndoStack()
        self.objects = ObjectEditor(self)
        self.live = LiveLoop(decoder, self.events.emit, self.objects.seed_for_request)
        self.prefetch = PrefetchPolicy(prefetch_depth)
        self.engine = EngineChoice(decoder)
        self.review = ReviewQueue(project, self.undo_stack)
        self.hover = HoverTracker(self)
        self.current_key: str | None = None
        self.current_image: ShownImage | None = None
        self.current_category_id: int | None = project.categories[0].id if project.categories else None
        self.selected_id: int | None = None
        self.overlay_style = OverlayStyle()
        self.new_object_armed = False  # N: the next click starts a new object even on an accepted one
        self.nav_direction = 1
        project.events.connect(self._on_project_event)
        self.events.connect(self._drop_hover)  # first: the preview is gone before views redraw

    def _drop_hover(self, event: SessionEvent) -> None:
        if event.kind in (SessionChange.PROMPTS, SessionChange.IMAGE_CHANGED):
            self.hover.left()

    def status(self, text: str) -> None:
        """Say ``text`` on the status bar."""
        self.events.emit(SessionEvent(SessionChange.STATUS, text=text))

    # --- images and navigation ----------------------------------------------------------------------------
    @property
    def image_keys(self) -> list[str]:
        return [record.file_name for record in self.project.images]

    def image_path(self, key: str) -> Path:
        return self.project.root / key

    def open_image(self, key: str) -> None:
        """Make ``key`` the current image: park the unaccepted mask of the image left, load ``key``."""
        if key == self.current_key and self.current_image is not None:
            return
        self.undo_stack.discard_prompt_commands()
        self.undo_stack.discard(lambda c: isinstance(c, LiveMaskCommand))
        keys = self.image_keys
        if self.current_key in keys and key in keys and key != self.current_key:
            self.nav_direction = 1 if keys.index(key) > keys.index(self.current_key) else -1
        # The selection belongs to the image being left: cleared before the new image's parked mask comes back.
        self.selected_id = None
        self.current_key = key
        self.live.switch_image(key)  # an unaccepted mask is parked, not lost, and comes back with its image
        self.current_image = None
        self.decoder.clear_image()
        self.events.emit(SessionEvent(SessionChange.IMAGE_CHANGED, image_key=key))
        self.events.emit(SessionEvent(SessionChange.SELECTION, instance_id=None))
        self.status(f"Loading {key}…")
        self.images.load(key, self.image_path(key))

    def step_image(self, direction: int) -> None:
        """Go to the next (``+1``) or previous (``-1``) image, skipping images marked as errors."""
        keys = self.image_keys
        if not keys:
            return
        self.nav_direction = 1 if direction >= 0 else -1
        start = keys.index(self.current_key) if self.current_key in keys else -self.nav_direction
        index = start
        for _ in range(len(keys)):
            index += self.nav_direction
            if not 0 <= index < len(keys):
                self.status("No more images in this direction")
                return
            if self.project.image(keys[index]).status is not ImageStatus.ERROR:
                self.open_image(keys[index])
                return
        self.status("No other image can be opened")

    def image_shown(self, image: ShownImage) -> bool:
        """The loader decoded ``image``: show it if it is still the current one (returns whether it is)."""
        if image.key != self.current_key:
            return False
        record = self.project.image(image.key)
        h, w = image.rgb.shape[:2]
        if (record.height, record.width) != (h, w):
            self.project.update_image(image.key, width=w, height=h)
        if record.status is ImageStatus.ERROR:
            self.project.set_image_status(image.key, ImageStatus.NOT_STARTED)
        self.current_image = image
        self.events.emit(SessionEvent(SessionChange.IMAGE_SHOWN, image_key=image.key, image=image))
        self.events.emit(SessionEvent(SessionChange.INSTANCES))
        self.decoder.set_image(image.key, image.rgb)
        self.live.restore_parked(image.key)
        return True

    def image_failed(self, key: str, message: str) -> None:
        """The loader cannot decode ``key``: it becomes an error image (navigation skips it)."""
        self.project.set_image_status(key, ImageStatus.ERROR, message)
        self.events.emit(SessionEvent(SessionChange.IMAGE_FAILED, image_key=key, text=message))
        self.status(f"Cannot open {key}: {message}")
        if key == self.current_key:
            self.current_image = None

    def encoded(self, key: str) -> list[str] | None:
        """The decoder encoded ``key``: the images to prefetch now (``None``: no new plan)."""
        if key != self.current_key:
            return None
        engine = self.decoder.engine
        return self.prefetch.plan(
            self.image_keys,
            key,
            self.nav_direction,
            engine.model_id if engine is not None else None,
            skip=lambda k: self.project.image(k).status is ImageStatus.ERROR,
        )

    def engine_changed(self) -> None:
        """A new engine runs (its worker forgot the prefetched embeddings; its speed is not known yet)."""
        self.hover.engine_changed()
        self.prefetch.engine_changed()

    def set_status(self, status: ImageStatus) -> None:
        if self.current_key is not None:
            self.project.set_image_status(self.current_key, status)

    # --- categories and project events --------------------------------------------------------------------
    def set_current_category(self, category_id: int) -> None:
        """Category for the next accepted object (and the live mask colour)."""
        self.current_category_id = category_id
        self.events.emit(SessionEvent(SessionChange.LIVE))

    def current_category(self) -> Category | None:
        cid = self.current_category_id
        return self.project.category(cid) if cid is not None and self.project.has_category(cid) else None

    def _on_project_event(self, event: Event) -> None:
        if event.type in INSTANCE_EVENTS and event.image_key == self.current_key:
            if event.type == "instance_removed" and event.instance_id == self.selected_id:
                self.selected_id = None
                self.events.emit(
                    SessionEvent(SessionChange.SELECTION, instance_id=None, previous_id=event.instance_id)
                )
            self.events.emit(_object_event(event))
        elif event.type in CATEGORY_EVENTS:
            if self.current_category_id is not None and not self.project.has_category(
                self.current_category_id
            ):
                cats = self.project.categories
                self.current_category_id = cats[0].id if cats else None
            self.events.emit(SessionEvent(SessionChange.INSTANCES))
            self.events.emit(SessionEvent(SessionChange.LIVE))

    # --- undo ---------------------------------------------------------------------------------------------
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

    def _take(self, step: UndoStep, apply: Callable[[], object], done: str) -> None:
        if step.command is None:
            return
        text = step.command.text
        if step.elsewhere is not None and self.project.has_image(step.elsewhere):
            notice = (
                f"{step.verb} {text!r} is on {step.elsewhere}: shown now; press again to {step.verb.lower()}"
            )
            self.open_image(step.elsewhere)
            self.events.emit(SessionEvent(SessionChange.NOTICE, text=notice))
            self.status(notice)
            return
        apply()
        where = self.current_key if step.command.image_key is not None else "the whole project"
        self.events.emit(SessionEvent(SessionChange.NOTICE, text=f"{done}: {text} ({where})"))
        self.status(f"{done}: {text}")

    # --- prompts and the decoder's answers ------------------------------------------------------------------
    @property
    def prompt_state(self) -> PromptState:
        return self.live.prompts.state

    def click(self, x: float, y: float, label: int) -> None:
        """A click in prompt mode at image pixel ``(x, y)``: select the object under it, or add a prompt."""
        if self.current_key is None or self.current_image is None:
            return
        hit = self.objects.click_selects(x, y, label)
        if hit is not None:
            self.objects.select(hit)
            return
        self.new_object_armed = False
        self.add_point(x, y, label)

    def add_point(self, x: float, y: float, label: int) -> None:
        """A positive (1) or negative (0) point for the current object (undoable)."""
        if self.current_key is None or self.current_image is None:
            return
        self._push_prompt(self.prompt_state.with_point(x, y, label), "Add point")

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """A dragged box for the current object (replaces a previous box; points are kept)."""
        if self.current_key is None or self.current_image is None:
            return
        h, w = self.current_image.rgb.shape[:2]
        x0, x1 = sorted((min(max(x0, 0.0), w), min(max(x1, 0.0), w)))
        y0, y1 = sorted((min(max(y0, 0.0), h), min(max(y1, 0.0), h)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        self._push_prompt(self.prompt_state.with_box((x0, y0, x1, y1)), "Draw box")

    def clear_prompts(self) -> None:
        """Esc: drop the current object's prompts (undoable); with no prompts, deselect the object."""
        if self.live.has_live():
            clear = SetPromptCommand(self.live.prompts, PromptState(), "Clear prompts")
            self.undo_stack.push(self.live.with_override_cleared("Clear prompts", clear))
            self.events.emit(SessionEvent(SessionChange.LIVE))
        elif self.selected_id is not None:
            self.objects.select(None)

    def cycle_candidate(self) -> None:
        """Tab: show the next candidate mask (undoable)."""
        state = self.live.next_candidate_state()
        if state is not None:
            self._push_prompt(state, "Choose candidate")

    def _push_prompt(self, state: PromptState, text: str) -> None:
        self.undo_stack.push(SetPromptCommand(self.live.prompts, state, text))

    def decoded(self, answer: DecodeAnswer) -> bool:
        """The decoder answered; returns whether the answer was shown (stale answers are dropped)."""
        self.hover.note_decode_time(answer.decode_seconds)
        return self.live.decoded(answer)

    def decode_failed(self, message: str) -> None:
        self.live.decode_failed(message)

    # --- the live mask --------------------------------------------------------------------------------------
    def live_mask(self) -> np.ndarray | None:
        """The mask that Enter would accept (``H x W`` bool), or ``None``."""
        labels = self.live.live_labels()
        return None if labels is None else labels.view(bool)

    def paint_live_mask(self, mask: np.ndarray, text: str) -> None:
        """A brush/eraser stroke made ``mask`` (``H x W`` bool) the live mask (one undoable step)."""
        if self.current_key is not None:
            self.undo_stack.push(
                LiveMaskCommand(self.live.set_override, self.live.override, mask, self.current_key, text)
            )

    def start_refinement(self, mask: np.ndarray) -> None:
        """Review (E): show ``mask`` (``H x W`` bool) as the live mask; the first click refines it."""
        if not self.prompt_state.is_empty:
            self.live.prompts.set(PromptState())
        self.objects.select(None)
        self.live.clear()
        self.live.refine_seed = np.ascontiguousarray(mask, dtype=bool)
        self.live.set_override(np.ascontiguousarray(mask, dtype=bool))

    def finish_refinement(self) -> None:
        """Review: drop the refinement's prompts and live mask and forget their undo steps."""
        self.live.refine_seed = None
        if not self.prompt_state.is_empty:
            self.live.prompts.set(PromptState())
        self.undo_stack.discard_prompt_commands()
        self.undo_stack.discard(lambda c: isinstance(c, LiveMaskCommand))
        self.live.clear()


_OBJECT_CHANGES = {
    "instance_added": ObjectChange.ADDED,
    "instance_changed": ObjectChange.CHANGED,
    "instance_removed": ObjectChange.REMOVED,
}


def _object_event(event: Event) -> SessionEvent:
    """The session's :attr:`SessionChange.OBJECT` event for one of ``INSTANCE_EVENTS``."""
    index = event.info.get("index")
    return SessionEvent(
        SessionChange.OBJECT,
        image_key=event.image_key,
        instance_id=event.instance_id,
        change=_OBJECT_CHANGES[event.type],
        index=index if isinstance(index, int) else None,
        category_id=event.category_id,
        previous_category_id=event.info.get("old_category_id", event.category_id),
        fields=tuple(event.info.get("fields", ())),
    )
