"""A tiny Qt-free event emitter (napari style). Views subscribe; the model emits.

The UI bridges to Qt by connecting a callback that emits a Qt signal (``emitter.connect(signal.emit)``);
callbacks run synchronously in the thread that changed the model (always the GUI thread in the app).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One change notification.

    Attributes:
        type: what happened, e.g. ``"instance_added"`` (see :class:`annotator.core.model.Project` for the
        list).
        source: the object that emitted it (a ``Project``, ``PromptSession``, ``UndoStack``...).
        image_key: the image concerned (its relative ``file_name``), if any.
        instance_id: the instance concerned, if any.
        category_id: the category concerned, if any.
        info: extra fields (e.g. ``{"fields": ("category_id",)}``); never needed to stay consistent.
    """

    type: str
    source: object
    image_key: str | None = None
    instance_id: int | None = None
    category_id: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


Callback = Callable[[Event], object]


class EventEmitter:
    """A list of callbacks called with an :class:`Event`, in connection order.

    A callback that raises propagates the exception to the code that changed the model (nothing is swallowed);
    the remaining callbacks are then not called.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._blocked = 0

    def connect(self, callback: Callback) -> Callback:
        """Subscribe ``callback``; returns it (usable as a decorator). Connecting twice is a no-op."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback) -> None:
        """Unsubscribe ``callback``; unknown callbacks are ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, event: Event) -> None:
        """Call every callback with ``event`` unless blocked."""
        if self._blocked:
            return
        for callback in list(self._callbacks):
            callback(event)

    def blocked(self) -> _Blocker:
        """Context manager that suppresses emission while active (nestable)."""
        return _Blocker(self)

    def __len__(self) -> int:
        return len(self._callbacks)


class _Blocker:
    def __init__(self, emitter: EventEmitter) -> None:
        self._emitter = emitter

    def __enter__(self) -> None:
        self._emitter._blocked += 1

    def __exit__(self, *exc: object) -> None:
        self._emitter._blocked -= 1
