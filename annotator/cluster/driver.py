"""The driver of a cluster run: connect to Ray, start the actors, hand out batches, write the shards.

Exactly once: the driver is the only writer of shards and writes one per image when its result arrives; an
image with a shard is never handed out again (in this run or a rerun). A batch whose actor dies is retried by
Ray (``max_task_retries``, on the restarted actor); if it still fails, the driver splits it into single images
and runs each alone on an actor (nothing else in flight there), and an image whose worker dies again gets a
failure shard: a file that crashes the decoder is reported by name, never retried forever.

Usage::

    summary = run_cluster(task, folder, names, ShardStore(out_dir, task.identity()), ClusterOptions())
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.cluster.progress import Progress, RunSummary
from annotator.cluster.shards import ShardStore
from annotator.cluster.sources import source_location
from annotator.cluster.tasks import ClusterError, ImageResult, ImageTask

LOCAL = "local"
"""``--cluster`` without an address: start a Ray instance on this machine with all its cores."""


@dataclass(frozen=True)
class ClusterOptions:
    """How to run: ``address`` (``local``, ``auto`` or ``ray://host:port``), ``workers`` (``None``: as many
    as the cluster's CPUs / GPUs allow), resources per actor, images per call, retry policy."""

    address: str = LOCAL
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    batch_size: int = 1
    max_task_retries: int = 3
    in_flight: int = 2
    retry_failed: bool = False


@dataclass
class _Batch:
    names: tuple[str, ...]
    alone: bool = False  # retried after a worker death: runs with nothing else on its actor


Hook = Callable[[list[Any], ImageResult], None]
"""Called on the driver after each image's shard is written, with the actor handles (tests kill one)."""


def connect(address: str) -> bool:
    """Connect to Ray (``local``: a new instance with this machine's cores); returns whether this call
    started it (the caller then shuts it down). An instance already running in this process is used as is."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError("--cluster needs Ray: pip install 'sam-annotator[cluster]' (ray[data])") from exc
    if ray.is_initialized():
        return False
    root = str(Path(__file__).resolve().parents[2])  # workers import this checkout's packages
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}
    kwargs: dict[str, Any] = {"runtime_env": runtime_env, "logging_level": "WARNING"}
    try:
        if address == LOCAL:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"--cluster {address}: cannot connect to Ray ({exc})") from exc
    return True


def worker_count(options: ClusterOptions, pending: int) -> int:
    """``options.workers``, else what the cluster's resources hold; never more than the images to do."""
    import ray

    if options.workers is not None:
        count = options.workers
    else:
        resources = ray.cluster_resources()
        if options.gpus_per_worker > 0:
            count = int(resources.get("GPU", 0) // options.gpus_per_worker)
        else:
            count = int(resources.get("CPU", 1) // max(options.cpus_per_worker, 1e-9))
    return max(1, min(count, pending))


def run_cluster(
    task: ImageTask,
    folder: Path | str,
    names: Sequence[str],
    store: ShardStore,
    options: ClusterOptions,
    *,
    progress: Progress | None = None,
    hook: Hook | None = None,
) -> RunSummary:
    """Do every image of ``names`` (relative to ``folder``: a folder every node sees, or an object-storage
    URL, :mod:`~annotator.cluster.sources`) that has no shard in ``store``; return the
    summary. Raises :class:`ClusterError` when Ray is missing or the model does not load on a worker."""
    store.bind()
    pending = store.pending(names, retry_failed=options.retry_failed)
    summary = RunSummary(total=len(names), skipped=len(names) - len(pending))
    progress = progress or Progress(len(names), already=summary.skipped)
    if not pending:
        return summary
    started_ray = connect(options.address)
    start = time.perf_counter()
    run = _Run(task, source_location(folder), store, options, summary, progress, hook)
    try:
        run.run(pending)
    finally:
        run.stop_actors()
        summary.seconds = time.perf_counter() - start
        if started_ray:
            import ray

            ray.shutdown()
    return summary


class _Run:
    """The scheduling loop of :func:`run_cluster` (one instance per run)."""

    def __init__(
        self,
        task: ImageTask,
        folder: str,
        store: ShardStore,
        options: ClusterOptions,
        summary: RunSummary,
        progress: Progress,
        hook: Hook | None,
    ) -> None:
        self.task, self.folder, self.store, self.options = task, folder, store, options
        self.summary, self.progress, self.hook = summary, progress, hook
        self.actors: list[Any] = []
        self.in_flight: dict[Any, tuple[int, _Batch]] = {}  # object ref -> (actor index, batch)

    def start_actors(self, count: int) -> None:
        import ray

        from annotator.cluster.actors import remote_worker_class

        worker = remote_worker_class(
            num_cpus=self.options.cpus_per_worker,
            num_gpus=self.options.gpus_per_worker,
            max_task_retries=self.options.max_task_retries,
        )
        self.actors = [worker.remote(self.task) for _ in range(count)]
        states = ray.get([actor.ready.remote() for actor in self.actors])
        errors = {state["error"] for state in states if state["error"]}
        if errors:
            raise ClusterError(f"the model does not load on a worker: {'; '.join(sorted(errors))}")
        self.summary.workers = count
        self.summary.threads = states[0]["threads"]
        model_ids = sorted({str(state["model_id"]) for state in states})
        load = max(state["load_seconds"] for state in states)
        self.progress.message(f"{count} workers ready (model {', '.join(model_ids)}; loaded in {load:.1f} s)")
        self.progress.restart()

    def stop_actors(self) -> None:
        """End this run's actors (their resources are free for the next run at once)."""
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []

    def run(self, pending: list[str]) -> None:
        import ray

        self.start_actors(worker_count(self.options, len(pending)))
        ready_at = time.perf_counter()
        size = max(1, self.options.batch_size)
        queue = deque(_Batch(tuple(pending[i : i + size])) for i in range(0, len(pending), size))
        while queue or self.in_flight:
            self._submit(queue)
            ready, _ = ray.wait(list(self.in_flight), num_returns=1)
            for ref in ready:
                _index, batch = self.in_flight.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the actor died (or its process was lost)
                    self._worker_died(batch, exc, queue)
                    continue
                for result in results:
                    self._finish(result)
        self.summary.work_seconds = time.perf_counter() - ready_at

    def _load(self, index: int) -> tuple[int, bool]:
        """In-flight calls on actor ``index`` and whether one of them runs alone."""
        batches = [batch for i, batch in self.in_flight.values() if i == index]
        return len(batches), any(batch.alone for batch in batches)

    def _submit(self, queue: deque[_Batch]) -> None:
        for index, actor in enumerate(self.actors):
            while queue:
                count, alone = self._load(index)
                if alone or count >= self.options.in_flight or (queue[0].alone and count):
                    break
                batch = queue.popleft()
                items = [(name, self.task.item(name)) for name in batch.names]
                self.in_flight[actor.process.remote(self.folder, items)] = (index, batch)

    def _worker_died(self, batch: _Batch, exc: Exception, queue: deque[_Batch]) -> None:
        self.summary.worker_deaths += 1
        if batch.alone:  # died again with nothing else on its actor: this image kills the worker
            reason = f"failed: the worker process died on this image twice ({type(exc).__name__})"
            self._finish(ImageResult(batch.names[0], error=reason))
            return
        self.progress.message(
            f"a worker died during {len(batch.names)} image(s); retrying them one by one ({type(exc).__name__})"
        )
        for name in reversed(batch.names):
            queue.appendleft(_Batch((name,), alone=True))

    def _finish(self, result: ImageResult) -> None:
        if result.ok:
            self.store.write_ok(result.name, self.task.commit(result))
            self.summary.done += 1
            self.progress.advance()
        else:
            error = result.error or "failed"
            self.store.write_failed(result.name, error)
            self.summary.done += 1
            self.summary.failed.append((result.name, error))
            self.progress.message(f"{result.name}: {error}")
            self.progress.advance(failed=1)
        if self.hook is not None:
            self.hook(self.actors, result)
