"""Progress of a cluster run on the driver: images done / total, throughput, ETA, and the final summary.

Lines go to a text stream (stderr), at most one per ``interval_s`` (and always the last one), so a run over
100,000 images does not print 100,000 lines; failures are printed as they come, by name.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` (``M:SS`` under an hour)."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class RunSummary:
    """What a run did. ``skipped``: images with a shard from an earlier run (resume); ``seconds``: wall time
    of the run, Ray and model start-up included."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    worker_deaths: int = 0
    workers: int = 0
    seconds: float = 0.0
    work_seconds: float = 0.0
    """Wall time from the workers being ready (model loaded) to the last result: ``seconds`` less start-up."""
    threads: int | None = None
    """Torch threads of a worker (``None``: no torch)."""

    @property
    def rate(self) -> float:
        """Images finished by this run per second of wall time."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"cluster: {self.done} images done in {format_duration(self.seconds)} ({self.rate:.2f} images/s, "
            f"{self.workers} workers), {self.skipped} already done, {len(self.failed)} failed, "
            f"{self.worker_deaths} worker deaths retried"
        )


class Progress:
    """Prints ``cluster: done/total images, R images/s, ETA T`` lines for a run of ``total`` images."""

    def __init__(
        self,
        total: int,
        *,
        already: int = 0,
        stream: TextIO | None = None,
        interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.already = already
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.failed = 0
        self._last_print = -float("inf")

    def restart(self) -> None:
        """Count throughput from now (the workers are ready: start-up is not throughput)."""
        self.start = self.clock()

    def message(self, text: str) -> None:
        print(f"cluster: {text}", file=self.stream, flush=True)

    def advance(self, count: int = 1, *, failed: int = 0) -> None:
        self.done += count
        self.failed += failed
        now = self.clock()
        if now - self._last_print >= self.interval_s or self.already + self.done >= self.total:
            self._last_print = now
            print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float | None = None) -> str:
        elapsed = (self.clock() if now is None else now) - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        finished = self.already + self.done
        remaining = self.total - finished
        eta = format_duration(remaining / rate) if rate > 0 else "?"
        failed = f", {self.failed} failed" if self.failed else ""
        return f"cluster: {finished}/{self.total} images, {rate:.2f} images/s, ETA {eta}{failed}"
