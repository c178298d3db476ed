"""The segment worker's mailbox: pending requests, written by the GUI thread and read by the worker thread.

:class:`Mailbox` keeps only what is still useful: the newest engine request, the newest encode request, per
image only the newest decode request (it carries all the prompts), then the newest hover preview (a decode
of the mask under the resting pointer, dropped by any click or new encode), and below those the queue of
images to encode ahead (prefetch, ADR 0006), restricted to the current prefetch plan and kept in plan order.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from annotator.workers.requests import DecodeRequest, EncodeRequest, EngineRequest


@dataclass
class Mailbox:
    """Pending requests, shared between the GUI thread (writers) and the worker thread (reader)."""

    engine: EngineRequest | None = None
    encode: EncodeRequest | None = None
    target_image: str | None = None
    hover: DecodeRequest | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.decodes: dict[str, DecodeRequest] = {}
        self.prefetch_plan: tuple[str, ...] = ()
        self.prefetch: list[EncodeRequest] = []
        self.closed = False

    def close(self) -> None:
        """The session ends: drop every pending request and accept no more (the worker's loop returns)."""
        with self.lock:
            self.closed = True
            self.engine = self.encode = self.hover = None
            self.decodes.clear()
            self.prefetch_plan = ()
            self.prefetch.clear()

    def set_prefetch_plan(self, image_ids: tuple[str, ...]) -> None:
        """Images to prefetch, in order; queued prefetches of other images are dropped."""
        with self.lock:
            self.prefetch_plan = tuple(image_ids)
            self.prefetch = [r for r in self.prefetch if r.image_id in self.prefetch_plan]

    def put_prefetch(self, request: EncodeRequest) -> None:
        """Queue a prefetch (ignored unless its image is in the plan), kept in plan order."""
        with self.lock:
            if self.closed or request.image_id not in self.prefetch_plan:
                return
            queue = [r for r in self.prefetch if r.image_id != request.image_id] + [request]
            self.prefetch = sorted(queue, key=lambda r: self.prefetch_plan.index(r.image_id))

    def next_prefetch(self) -> EncodeRequest | None:
        with self.lock:
            return self.prefetch.pop(0) if self.prefetch else None

    def wants_prefetch(self, image_id: str) -> bool:
        with self.lock:
            return image_id in self.prefetch_plan

    def put_engine(self, request: EngineRequest) -> None:
        with self.lock:
            if not self.closed:
                self.engine = request

    def put_encode(self, request: EncodeRequest) -> None:
        with self.lock:
            if self.closed:
                return
            self.encode = request
            self.hover = None
            self.target_image = request.image_id
            # Prompts for any other image can no longer be shown: drop them.
            self.decodes = {k: v for k, v in self.decodes.items() if k == request.image_id}

    def put_decode(self, request: DecodeRequest) -> None:
        with self.lock:
            if self.closed or request.image_id != self.target_image:
                return
            self.hover = None  # a click supersedes any preview
            old = self.decodes.get(request.image_id)
            if old is None or old.request_no < request.request_no:
                self.decodes[request.image_id] = request

    def put_hover(self, request: DecodeRequest) -> None:
        """Queue a hover preview (replaces the previous one; ignored for another image than the target)."""
        with self.lock:
            if not self.closed and request.image_id == self.target_image:
                self.hover = request

    def cancel_hover(self) -> None:
        """The pointer moved: the queued preview is no longer wanted."""
        with self.lock:
            self.hover = None

    def supersedes_hover(self) -> bool:
        """Whether a waiting request makes a preview being decoded useless (its answer would be dropped): an
        engine, an encode, a click's decode or a newer preview."""
        with self.lock:
            return any((self.engine, self.encode, self.decodes, self.hover))

    def next_job(self) -> EngineRequest | EncodeRequest | DecodeRequest | None:
        """Pop the most urgent pending request: engine, encode, the target image's decode, then a hover."""
        with self.lock:
            if self.engine is not None:
                job: EngineRequest | EncodeRequest | DecodeRequest | None = self.engine
                self.engine = None
                return job
            if self.encode is not None:
                job, self.encode = self.encode, None
                return job
            if self.target_image is not None and self.target_image in self.decodes:
                return self.decodes.pop(self.target_image)
            if self.hover is not None:
                job, self.hover = self.hover, None
                return job
            return None
