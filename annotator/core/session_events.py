"""What the interactive session tells its views: typed events (an enum and a frozen dataclass), no strings.

:class:`~annotator.core.session.Session` emits a :class:`SessionEvent` on its :class:`SessionEmitter` for every
change a view may draw; the Qt adapter (``annotator.ui.controller``) turns each kind into one Qt signal. The
``kind`` says which fields are set (see :class:`SessionChange`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class SessionChange(Enum):
    """The kinds of session events, and the :class:`SessionEvent` fields each one sets."""

    IMAGE_CHANGED = "image_changed"
    """The current image is now ``image_key`` (its pixels follow with ``IMAGE_SHOWN``)."""
    IMAGE_SHOWN = "image_shown"
    """``image`` (the loader's object, with ``key`` and ``rgb``) is decoded and shown."""
    IMAGE_FAILED = "image_failed"
    """``image_key`` cannot be shown; ``text`` says why."""
    LIVE = "live"
    """``Session.live_labels()`` changed (answer, candidate, override, cleared, category colour)."""
    PROMPTS = "prompts"
    """``Session.prompt_state`` changed (the markers)."""
    CANDIDATE = "candidate"
    """``candidate`` is the candidate shown (``None``: none, or a single answer)."""
    SELECTION = "selection"
    """``instance_id`` is the selected object (``None``: none); ``previous_id`` the one selected before."""
    INSTANCES = "instances"
    """The current image's objects must all be redrawn (another image shown, categories changed)."""
    OBJECT = "object"
    """One object of the current image ``image_key`` changed: ``change`` says how (:class:`ObjectChange`),
    ``instance_id`` which, ``index`` its drawing position (before its removal, for ``REMOVED``),
    ``category_id`` its category (for ``CHANGED``, ``previous_category_id`` the one before) and ``fields``
    what changed (``CHANGED``). Views update that object alone (issue 15: 2,000 objects on an image)."""
    HOVER = "hover"
    """``Session.hover.labels()`` changed (the hover preview shown or dropped)."""
    STATUS = "status"
    """``text``: a status-bar line."""
    MESSAGE = "message"
    """An error the user must see: ``title`` and ``text``."""
    NOTICE = "notice"
    """``text``: what an undo/redo did or is about to do."""


class ObjectChange(Enum):
    """How one object changed (the ``change`` of a :attr:`SessionChange.OBJECT` event)."""

    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


@dataclass(frozen=True)
class CandidateView:
    """What the status bar says about the shown candidate: ``index`` of ``count``, its predicted IoU."""

    index: int
    count: int
    score: float

    def text(self) -> str:
        return f"Candidate {self.index + 1}/{self.count} · predicted IoU {self.score:.2f}"


@dataclass(frozen=True)
class SessionEvent:
    """One change of the session; ``kind`` tells which of the other fields carry something."""

    kind: SessionChange
    image_key: str | None = None
    instance_id: int | None = None
    candidate: CandidateView | None = None
    image: object = None
    text: str = ""
    title: str = ""
    change: ObjectChange | None = None
    index: int | None = None
    category_id: int | None = None
    previous_category_id: int | None = None
    fields: tuple[str, ...] = ()
    previous_id: int | None = None


SessionCallback = Callable[[SessionEvent], object]


class SessionEmitter:
    """Callbacks called in connection order with each :class:`SessionEvent` (exceptions propagate)."""

    def __init__(self) -> None:
        self._callbacks: list[SessionCallback] = []

    def connect(self, callback: SessionCallback) -> SessionCallback:
        """Subscribe ``callback`` (twice is a no-op); returns it."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: SessionCallback) -> None:
        """Unsubscribe ``callback``; unknown callbacks are ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, event: SessionEvent) -> None:
        for callback in list(self._callbacks):
            callback(event)
