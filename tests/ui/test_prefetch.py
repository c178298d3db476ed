"""Prefetch: the next images are encoded while the user works, in the direction of travel, behind clicks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.core.prefetch_policy import prefetch_order
from annotator.ui.app import create_controller
from annotator.ui.controller import SessionController
from annotator.workers.prefetch import encode_steps, run_to_end
from sam_model.protocol import ImageEmbedding
from tests.ui.fakes import DiscSegmenter

TAGS = (10, 20, 30, 40)  # pixel (0, 0) of image i is TAGS[i]: the fake knows which image it encodes


class CountingSegmenter(DiscSegmenter):
    """A :class:`DiscSegmenter` that records ``("encode", tag)`` / ``("decode", tag)`` events in order.

    ``tag`` is the image's pixel (0, 0) value, so a decode records the image the engine really has.
    ``gates[tag]``, when set, makes the encoding of that image wait until the test opens it;
    ``encoding`` holds the tags whose encoding has started.
    """

    model_id = "fake-count-1"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []
        self.gates: dict[int, threading.Event] = {}
        self.encoding: list[int] = []
        self.tag: int | None = None

    def set_image(self, image: np.ndarray) -> None:
        tag = int(image[0, 0, 0])
        self.encoding.append(tag)
        gate = self.gates.get(tag)
        if gate is not None:
            gate.wait(timeout=20)
        super().set_image(image)
        self.tag = tag
        self.events.append(("encode", tag))

    def get_embedding(self) -> ImageEmbedding:
        base = super().get_embedding()
        tag = np.array([-1 if self.tag is None else self.tag], np.int32)
        return ImageEmbedding(self.model_id, base.original_size, base.input_size, {"tag": tag})

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        super().set_embedding(embedding)
        self.tag = int(embedding.arrays["tag"][0])

    def predict(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.events.append(("decode", -1 if self.tag is None else self.tag))
        return super().predict(*args, **kwargs)

    def encodes(self) -> list[int]:
        return [tag for kind, tag in self.events if kind == "encode"]


def make_folder(root: Path, count: int = 4) -> Path:
    """``count`` PNGs named ``img0.png``...; image i has pixel (0, 0) = ``TAGS[i]``."""
    folder = root / "images"
    folder.mkdir()
    for i in range(count):
        rgb = np.full((40 + 4 * i, 60, 3), 128, np.uint8)
        rgb[0, 0] = TAGS[i]
        Image.fromarray(rgb).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path)


class Sessions:
    """Builds controllers over a fake engine and shuts them all down (also opens any gate left closed)."""

    def __init__(self) -> None:
        self.made: list[tuple[SessionController, CountingSegmenter]] = []

    def start(self, folder: Path, fake: CountingSegmenter, **kwargs) -> SessionController:
        controller, _warnings = create_controller(folder, segmenter=fake, **kwargs)
        self.made.append((controller, fake))
        return controller

    def close_all(self) -> None:
        for controller, fake in self.made:
            for gate in fake.gates.values():
                gate.set()
            controller.shutdown()


@pytest.fixture
def session(qtbot) -> Iterator:
    """``session(folder, fake, **create_controller_kwargs)`` -> controller, shut down after the test."""
    sessions = Sessions()
    yield sessions.start
    sessions.close_all()


def open_and_wait(qtbot, controller: SessionController, key: str) -> None:
    controller.open_image(key)
    qtbot.waitUntil(lambda: controller.client.image_ready and controller.current_key == key, timeout=10000)


def record_prefetched(controller: SessionController) -> list[str]:
    """The ids of the finished prefetches, in order (connect before anything is opened)."""
    done: list[str] = []
    controller.client.prefetched.connect(lambda key, _outcome: done.append(key))
    return done


def test_prefetch_order_follows_direction() -> None:
    keys = ["a", "b", "c", "d", "e"]
    assert prefetch_order(keys, "b", +1, 2) == ["c", "d"]
    assert prefetch_order(keys, "d", -1, 3) == ["c", "b", "a"]
    assert prefetch_order(keys, "e", +1, 2) == []
    assert prefetch_order(keys, "a", +1, 2, skip=lambda k: k == "b") == ["c", "d"]


def test_next_image_is_ready_without_encoding(qtbot, session, folder: Path) -> None:
    fake = CountingSegmenter()
    controller = session(folder, fake, prefetch_depth=2)
    done = record_prefetched(controller)
    open_and_wait(qtbot, controller, "img0.png")
    qtbot.waitUntil(lambda: len(done) == 2, timeout=10000)
    assert done == ["img1.png", "img2.png"]
    assert fake.encodes() == [10, 20, 30]
    encoded = controller.client.worker.encode_count

    with qtbot.waitSignal(controller.client.encoded, timeout=10000):
        controller.step_image(+1)
    assert controller.current_key == "img1.png"
    assert controller.client.worker.encode_count == encoded, "img1 was encoded ahead: no encode on arrival"
    with qtbot.waitSignal(controller.client.decoded, timeout=10000):
        controller.add_point(10, 10, 1)
    decodes = [tag for kind, tag in fake.events if kind == "decode"]
    assert decodes == [20], "the decode ran on img1's embedding (img3's prefetch may have run meanwhile)"
    assert controller.live_mask() is not None


def test_moving_backward_prefetches_backward(qtbot, session, folder: Path) -> None:
    fake = CountingSegmenter()
    controller = session(folder, fake, prefetch_depth=2)
    done = record_prefetched(controller)
    open_and_wait(qtbot, controller, "img3.png")  # the last image: nothing ahead
    controller.step_image(-1)
    qtbot.waitUntil(lambda: len(done) == 2, timeout=10000)
    assert done == ["img1.png", "img0.png"]
    assert fake.encodes() == [40, 30, 20, 10]


def test_click_is_answered_before_queued_prefetches(qtbot, session, folder: Path) -> None:
    fake = CountingSegmenter()
    fake.gates[20] = threading.Event()  # the prefetch of img1 blocks inside the encoder
    controller = session(folder, fake, prefetch_depth=2)
    done = record_prefetched(controller)
    mailbox = controller.client.worker.mailbox
    open_and_wait(qtbot, controller, "img0.png")
    qtbot.waitUntil(lambda: 20 in fake.encoding and len(mailbox.prefetch) == 1, timeout=10000)

    controller.add_point(10, 10, 1)  # img2's prefetch is queued, img1's is running
    with qtbot.waitSignal(controller.client.decoded, timeout=10000):
        fake.gates[20].set()
    qtbot.waitUntil(lambda: done == ["img1.png", "img2.png"], timeout=10000)
    assert fake.events == [("encode", 10), ("encode", 20), ("decode", 10), ("encode", 30)]


def test_opening_the_image_being_prefetched_reuses_that_work(qtbot, session, folder: Path) -> None:
    fake = CountingSegmenter()
    fake.gates[20] = threading.Event()
    controller = session(folder, fake, prefetch_depth=1)
    open_and_wait(qtbot, controller, "img0.png")
    qtbot.waitUntil(lambda: 20 in fake.encoding, timeout=10000)
    controller.step_image(+1)  # img1's encode request waits behind its own prefetch
    qtbot.waitUntil(lambda: controller.current_image is not None, timeout=10000)
    fake.gates[20].set()
    qtbot.waitUntil(lambda: controller.client.image_ready and controller.current_key == "img1.png")
    assert fake.encodes().count(20) == 1


def test_blockwise_encoding_matches_set_image_and_keeps_the_current_image(sam_reference: Path) -> None:
    from sam_model.build import load_predictor

    predictor = load_predictor(sam_reference / "sam_tiny_a.pth", device="cpu")
    rng = np.random.default_rng(1)
    current = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    other = rng.integers(0, 255, (50, 30, 3), dtype=np.uint8)
    predictor.set_image(current)
    before = predictor.predict(np.array([[20.0, 20.0]]), np.array([1]))[0]

    steps = encode_steps(predictor, other)
    next(steps)
    next(steps)  # part-way through the blocks: the user's image is still the predictor's
    np.testing.assert_array_equal(predictor.predict(np.array([[20.0, 20.0]]), np.array([1]))[0], before)
    embedding = run_to_end(steps)

    count = sum(1 for _ in encode_steps(predictor, other))
    assert count == len(predictor.model.image_encoder.blocks) + 1, "one step per block, plus patch embedding"
    predictor.set_image(other)
    reference = predictor.get_embedding()
    assert embedding.original_size == reference.original_size
    assert embedding.input_size == reference.input_size
    np.testing.assert_allclose(embedding.arrays["features"], reference.arrays["features"], atol=1e-5)


class SteppedFake(DiscSegmenter):
    """A :class:`DiscSegmenter` that implements ``SteppedEncoder``: three steps, never ``set_image``."""

    model_id = "fake-stepped-1"

    def __init__(self) -> None:
        super().__init__()
        self.steps_run = 0

    def encode_steps(self, image: np.ndarray):  # type: ignore[no-untyped-def]
        for _ in range(3):
            self.steps_run += 1
            yield
        size = (int(image.shape[0]), int(image.shape[1]))
        arrays = {
            "image_embed": np.ones((1, 4, 2, 2), np.float32),
            "high_res_feats_0": np.zeros((1, 2, 8, 8)),
        }
        return ImageEmbedding(self.model_id, size, size, arrays)


def test_a_stepped_encoder_is_stepped_through_its_protocol_and_keeps_the_current_image() -> None:
    from annotator.workers.prefetch import needs_restore

    fake = SteppedFake()
    fake.set_image(np.zeros((20, 30, 3), np.uint8))
    steps = encode_steps(fake, np.zeros((50, 40, 3), np.uint8))
    next(steps)
    assert fake.steps_run == 1 and fake.encoded_images == [(20, 30)], "set_image was not called again"
    embedding = run_to_end(steps)
    assert fake.steps_run == 3 and embedding.original_size == (50, 40)
    assert set(embedding.arrays) == {"image_embed", "high_res_feats_0"}
    assert not needs_restore(fake)
    assert needs_restore(DiscSegmenter()), "an engine without encode_steps is encoded in one step"
    assert sum(1 for _ in encode_steps(DiscSegmenter(), np.zeros((5, 5, 3), np.uint8))) == 0
