"""What a cluster run does to one image: the :class:`ImageTask` contract and the :class:`ImageResult` it returns.

A task is a small picklable value (its options, no model) sent to every actor. In the actor, :meth:`ImageTask.
open` loads the model once and :meth:`ImageTask.process` does one image (with :meth:`ImageTask.item`'s per-image
input, sent along with the batch). On the driver, :meth:`ImageTask.commit`
turns a result into the JSON record of the image's shard (and may store a payload first, e.g. an embedding in
the cache), so a worker never writes anything itself. ``identity()`` says what makes two runs' shards
interchangeable: a rerun with another identity refuses to mix its shards with the old ones.

Adding a command to the cluster path is one subclass of :class:`ImageTask` (see ``task_auto.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from annotator.core.errors import CoreError


class ClusterError(CoreError):
    """A cluster run that cannot go on (no Ray, the model does not load on a worker, shards of another run...);
    the message says what to do."""


class ImageFailure(CoreError):
    """Raised by :meth:`ImageTask.process` for an image that cannot be done (the message names the file and
    the reason); reported as ``skipped (<message>)`` and never retried in the run."""


@dataclass(frozen=True)
class ImageResult:
    """One image's outcome, made in an actor and returned to the driver.

    Attributes:
        name: the image's file name relative to the run's folder.
        record: JSON-able facts for the shard (``None`` when the image failed).
        payload: data the driver stores before writing the shard (an embedding), or ``None``.
        error: why the image failed (its own fault: unreadable file, rejected by the engine), or ``None``.
        seconds: the actor's time on this image, in seconds.
    """

    name: str
    record: dict[str, Any] | None = None
    payload: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ModelSpec:
    """The model options of a model-running command: checkpoint (``None``: the classical engine), device,
    precision and architecture JSON. Paths must be visible from every node (shared storage)."""

    checkpoint: str | None
    device: str = "auto"
    dtype: str = "auto"
    config: str | None = None

    def load(self) -> Any:
        """The engine (a :class:`~sam_model.protocol.Segmenter`); imports torch."""
        from annotator.cli.model_options import load_engine

        return load_engine(
            self.checkpoint,
            device=self.device,
            dtype=self.dtype,
            config=Path(self.config) if self.config else None,
        )

    def identity(self) -> dict[str, Any]:
        """The checkpoint by path, size and modification time (hashing a 2.5 GB file on every run is too slow;
        the shards also record the engine's ``model_id``), and the precision."""
        facts: dict[str, Any] = {"checkpoint": self.checkpoint, "dtype": self.dtype, "config": self.config}
        if self.checkpoint is not None:
            try:
                st = os.stat(self.checkpoint)
                facts["checkpoint_stat"] = [st.st_size, st.st_mtime_ns]
            except OSError:
                facts["checkpoint_stat"] = None
        return facts


@dataclass
class ImageTask:
    """Base class of per-image work. Subclasses set ``kind`` and implement ``open``, ``process`` and
    ``identity``; ``commit`` stores nothing by default."""

    kind: ClassVar[str] = ""
    model: ModelSpec

    def identity(self) -> dict[str, Any]:
        raise NotImplementedError

    def open(self) -> str:
        """Load the model in the actor (once); returns the engine's ``model_id``."""
        raise NotImplementedError

    def item(self, name: str) -> Any:
        """On the driver: what the actor needs besides the name to do image ``name`` (e.g. its boxes); sent
        with the batch. ``None`` by default."""
        return None

    def process(self, folder: str, name: str, item: Any = None) -> ImageResult:
        """Do one image of ``folder`` (a folder path or an object-storage URL: read the image with
        :func:`~annotator.cluster.sources.load_source_image`; ``item``: :meth:`item`'s value); raise
        :class:`~annotator.core.errors.ImageLoadError`, :class:`ImageFailure` (or any error the image causes)
        for an image that cannot be done. Runs in the actor, after :meth:`open`."""
        raise NotImplementedError

    def commit(self, result: ImageResult) -> dict[str, Any]:
        """On the driver: store ``result.payload`` where it belongs, return the shard's record."""
        return dict(result.record or {})
