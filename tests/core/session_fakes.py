"""Fakes for the session tests: a decoder and an image source that answer only when the test says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.core.engine_choice import EngineRequest
from annotator.core.model import Project
from annotator.core.session import Session
from annotator.core.session_events import SessionChange, SessionEvent

H, W = 60, 80


@dataclass(frozen=True)
class Image:
    key: str
    rgb: np.ndarray


@dataclass(frozen=True)
class Answer:
    image_id: str
    request_no: int
    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray
    decode_seconds: float = 0.01

    @property
    def best_index(self) -> int:
        return int(np.argmax(self.scores))


@dataclass(frozen=True)
class Engine:
    model_id: str = "fake"
    checkpoint: str | None = "fake.pt"
    device: str = "cpu"
    dtype: str = "float32"


@dataclass
class Request:
    image_id: str
    request_no: int
    points: np.ndarray | None
    box: np.ndarray | None
    mask_input: np.ndarray | None
    multimask: bool
    seed_mask: np.ndarray | None


@dataclass
class FakeDecoder:
    """Records requests; :meth:`answer` builds the answer to one (a disc per candidate around its last point)."""

    image_ready: bool = True
    engine: Engine | None = field(default_factory=Engine)
    image: str | None = None
    requests: list[Request] = field(default_factory=list)
    cancels: int = 0
    pending_decode: bool = False
    hovers: list[Request] = field(default_factory=list)
    hover_cancels: int = 0
    engines: list[EngineRequest] = field(default_factory=list)
    _no: int = 0

    def load_engine(self, request: EngineRequest) -> None:
        self.engines.append(request)

    def set_image(self, image_id: str, rgb: np.ndarray) -> None:
        self.image = image_id

    def clear_image(self) -> None:
        self.image = None

    def decode(
        self,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask: bool,
        seed_mask: np.ndarray | None = None,
    ) -> int:
        assert self.image is not None, "a decode needs a current image"
        self._no += 1
        self.requests.append(Request(self.image, self._no, points, box, mask_input, multimask, seed_mask))
        return self._no

    def cancel_decodes(self) -> None:
        self.cancels += 1

    def hover(
        self,
        points: np.ndarray,
        labels: np.ndarray,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask: bool,
    ) -> int:
        if self.image is None or not self.image_ready or self.pending_decode:
            return -1
        self._no += 1
        self.hovers.append(Request(self.image, self._no, points, box, mask_input, multimask, None))
        return self._no

    def cancel_hover(self) -> None:
        self.hover_cancels += 1

    def answer(self, request: Request, *, image_id: str | None = None, radius: int = 5) -> Answer:
        count = 3 if request.multimask else 1
        x, y = (int(v) for v in (request.points[-1] if request.points is not None else (W // 2, H // 2)))
        yy, xx = np.mgrid[:H, :W]
        masks = np.stack([(xx - x) ** 2 + (yy - y) ** 2 <= (radius * (k + 1)) ** 2 for k in range(count)])
        scores = np.array([0.5, 0.9, 0.7][:count], np.float32)
        logits = np.full((count, 256, 256), float(request.request_no), np.float32)
        return Answer(image_id or request.image_id, request.request_no, masks, scores, logits)


@dataclass
class FakeImages:
    loads: list[str] = field(default_factory=list)

    def load(self, key: str, path: Path) -> None:
        self.loads.append(key)


def make_session(
    tmp_path: Path, n_images: int = 4, prefetch_depth: int = 0
) -> tuple[Session, FakeDecoder, FakeImages, list[SessionEvent]]:
    """A session over ``n_images`` images ``img0.png``... (no files needed) and what it emits."""
    project = Project(tmp_path)
    project.add_category("cat")
    for i in range(n_images):
        project.add_image(f"img{i}.png", W, H)
    decoder, images = FakeDecoder(), FakeImages()
    session = Session(project, decoder, images, prefetch_depth=prefetch_depth)
    events: list[SessionEvent] = []
    session.events.connect(events.append)
    return session, decoder, images, events


def show(session: Session, key: str) -> None:
    """Open ``key`` and let the fake loader answer at once."""
    session.open_image(key)
    session.image_shown(Image(key, np.zeros((H, W, 3), np.uint8)))


def kinds(events: list[SessionEvent]) -> list[SessionChange]:
    return [e.kind for e in events]
