"""The Ray actor of a cluster run: one model per actor, loaded once, working through batches of image names.

:class:`ImageWorker` is a plain class (testable without Ray); :func:`remote_worker_class` wraps it with
``ray.remote`` and the run's resources and retry policy. An image that fails for its own reason (corrupt file,
rejected by the engine) becomes an :class:`~annotator.cluster.tasks.ImageResult` with ``error`` set and the
batch goes on; only a dying worker process fails a whole batch (the driver then retries it image by image).
A model that does not load is reported by :meth:`ImageWorker.ready` instead of killing the actor, so the driver
can stop the run with that message instead of restarting actors that can never work.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from annotator.cluster.tasks import ImageResult, ImageTask


class ImageWorker:
    """Holds one :class:`ImageTask` with its model loaded (``task.open()`` in the constructor)."""

    def __init__(self, task: ImageTask) -> None:
        self.task = task
        self.model_id: str | None = None
        self.load_error: str | None = None
        start = time.perf_counter()
        try:
            self.model_id = task.open()
        except Exception as exc:  # reported by ready(): the driver stops the run with this message
            self.load_error = f"{type(exc).__name__}: {exc}"
        self.load_seconds = time.perf_counter() - start

    def ready(self) -> dict[str, Any]:
        """``{"model_id", "error", "load_seconds", "pid", "threads"}`` of this actor (``threads``: torch's
        intra-op threads, ``None`` when the engine does not use torch; Ray sets ``OMP_NUM_THREADS`` to the
        actor's ``num_cpus``)."""
        torch = sys.modules.get("torch")
        return {
            "model_id": self.model_id,
            "error": self.load_error,
            "load_seconds": self.load_seconds,
            "pid": os.getpid(),
            "threads": torch.get_num_threads() if torch is not None else None,
        }

    def process(self, folder: str, batch: Sequence[tuple[str, Any]]) -> list[ImageResult]:
        """Do each ``(name, item)`` of the batch; an image's own failure is its result's ``error``."""
        from annotator.cluster.tasks import ImageFailure
        from annotator.core.errors import ImageLoadError

        out: list[ImageResult] = []
        for name, item in batch:
            if self.load_error is not None:
                out.append(ImageResult(name, error=f"model not loaded: {self.load_error}"))
                continue
            try:
                out.append(self.task.process(folder, name, item))
            except ImageLoadError as exc:
                out.append(ImageResult(name, error=f"skipped ({exc.reason})"))
            except ImageFailure as exc:
                out.append(ImageResult(name, error=f"skipped ({exc})"))
            except (
                Exception
            ) as exc:  # the image's fault as far as the actor can tell: reported, never retried
                out.append(ImageResult(name, error=f"failed: {type(exc).__name__}: {exc}"))
        return out


def remote_worker_class(
    *, num_cpus: float, num_gpus: float, max_restarts: int = -1, max_task_retries: int = 3
) -> Any:
    """``ImageWorker`` as a Ray actor class: ``num_cpus`` / ``num_gpus`` reserved per actor; a dead actor is
    restarted (``max_restarts``, -1: always) and its unfinished calls retried ``max_task_retries`` times."""
    import ray

    return ray.remote(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        max_restarts=max_restarts,
        max_task_retries=max_task_retries,
    )(ImageWorker)
