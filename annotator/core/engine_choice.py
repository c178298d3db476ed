"""The engine the user chose: which checkpoint (``None``: the classical engine), on which device, in which precision.

:class:`EngineRequest` is the value; :class:`EngineChoice` is the session's (``Session.engine``, Qt-free): it
changes the choice and has the segment worker load it (``annotator.workers.requests`` builds the segmenter).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol


@dataclass(frozen=True)
class EngineRequest:
    """Replace the worker's segmenter: ``checkpoint`` ``None`` = the classical engine; ``device`` ``auto`` /
    ``cpu`` / ``cuda``...; ``dtype`` ``auto`` / ``float32`` / ``bfloat16``."""

    checkpoint: str | None
    device: str = "auto"
    dtype: str = "auto"


class EngineLoader(Protocol):
    """What loads an engine (the app's segment client): ``engine`` is the one running, if any."""

    @property
    def engine(self) -> RunningEngine | None: ...

    def load_engine(self, request: EngineRequest) -> None: ...


class RunningEngine(Protocol):
    """The engine in use, as its loader reports it."""

    @property
    def checkpoint(self) -> str | None: ...

    @property
    def device(self) -> str: ...

    @property
    def dtype(self) -> str: ...


class EngineChoice:
    """The session's engine choice (``request``) and its loading: a new checkpoint, device or precision is
    loaded at once; when loading fails, the choice goes back to the engine still running."""

    def __init__(self, loader: EngineLoader) -> None:
        self.request = EngineRequest(None)
        self._loader = loader

    def load(self, request: EngineRequest) -> None:
        """Choose ``request`` and load it (in the background; the loader reports when it runs)."""
        self.request = request
        self._loader.load_engine(request)

    def set_device(self, device: str) -> None:
        self.load(replace(self.request, device=device))

    def set_dtype(self, dtype: str) -> None:
        self.load(replace(self.request, dtype=dtype))

    def failed(self) -> RunningEngine | None:
        """The engine asked for did not load: the choice becomes the engine still running (returned), if any."""
        running = self._loader.engine
        if running is not None:
            self.request = EngineRequest(running.checkpoint, running.device, running.dtype)
        return running
