"""CPU time the GUI thread spends per decode answer (issue 13's hover target on a shared machine).

Wall-clock stalls and latencies say little when other jobs share the cores: :class:`GuiCpu` wraps the GUI-thread
handlers of an answer (the hover preview's and the live mask's) and the canvas's repaint, and sums
``time.thread_time()`` (CPU of the calling thread only) per handler, counting calls made on the main thread.
Install it before the window is built (the handlers are looked up on their classes).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

HANDLERS = (
    ("annotator.core.session_hover", "HoverTracker", "answered", "hover answer (tracker + layers)"),
    ("annotator.ui.controller", "SessionController", "_on_decoded", "click answer (session)"),
    ("annotator.ui.window_sync", "WindowSync", "refresh_live", "live mask layers"),
    ("annotator.ui.overlay", "OutlineItem", "paint", "outline paint"),
    ("annotator.ui.canvas", "Canvas", "paintEvent", "canvas repaint (all items)"),
)
"""``(module, class, method, label)`` of what is timed."""


class GuiCpu:
    """Per-handler ``[calls, cpu_seconds]`` on the main thread; :meth:`install` wraps, :meth:`restore` undoes."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}
        self._undo: list[Callable[[], None]] = []

    def install(self) -> GuiCpu:
        import importlib

        for module_name, class_name, method, label in HANDLERS:
            cls = getattr(importlib.import_module(module_name), class_name)
            original = cls.__dict__[method]
            setattr(cls, method, self._timed(original, label))
            self._undo.append(functools.partial(setattr, cls, method, original))
        return self

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def _timed(self, original: Callable[..., Any], label: str) -> Callable[..., Any]:
        main = threading.main_thread()
        stats = self.stats.setdefault(label, [0, 0.0])

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not main:
                return original(*args, **kwargs)
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                stats[0] += 1
                stats[1] += time.thread_time() - start

        return timed

    def report(self) -> list[str]:
        """One line per handler: calls, CPU per call and in all (milliseconds)."""
        return [
            f"  GUI thread, {label}: {int(n)} calls, {cpu / max(n, 1) * 1000:.2f} ms CPU each, "
            f"{cpu * 1000:.0f} ms in all"
            for label, (n, cpu) in self.stats.items()
        ]
