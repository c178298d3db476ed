"""The segment worker and client: queued decodes, stale answers dropped, embedding LRU."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from annotator.workers.requests import DecodeResult
from annotator.workers.segment_client import SegmentClient
from tests.ui.fakes import DiscSegmenter


@pytest.fixture
def fake() -> DiscSegmenter:
    return DiscSegmenter()


@pytest.fixture
def client(fake: DiscSegmenter) -> Iterator[SegmentClient]:
    c = SegmentClient(fake)
    yield c
    if fake.encode_gate is not None:
        fake.encode_gate.set()
    c.shutdown()


def _image(h: int = 60, w: int = 80) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def test_clicks_while_encoding_are_decoded_once_after(qtbot, client: SegmentClient, fake) -> None:
    fake.encode_gate = threading.Event()
    client.set_image("a", _image())
    pts = np.array([[10.0, 10.0]])
    client.decode(pts, np.array([1]), None, None, True)
    last = client.decode(np.array([[10.0, 10.0], [30.0, 20.0]]), np.array([1, 1]), None, None, True)
    assert not client.image_ready
    with qtbot.waitSignal(client.decoded, timeout=5000) as blocker:
        fake.encode_gate.set()
    result: DecodeResult = blocker.args[0]
    assert result.request_no == last
    assert len(fake.calls) == 1, "only the newest queued decode runs"
    assert result.masks[0, 20, 30] and not result.masks[0, 10, 10]


def test_answer_for_previous_image_is_dropped(qtbot, client: SegmentClient, fake) -> None:
    with qtbot.waitSignal(client.encoded, timeout=5000):
        client.set_image("a", _image())
    fake.encode_gate = threading.Event()
    client.decode(np.array([[5.0, 5.0]]), np.array([1]), None, None, False)
    client.set_image("b", _image(40, 40))
    got: list[DecodeResult] = []
    client.decoded.connect(got.append)
    with qtbot.waitSignal(client.encoded, timeout=5000):
        fake.encode_gate.set()
    n = client.decode(np.array([[20.0, 20.0]]), np.array([1]), None, None, False)
    qtbot.waitUntil(lambda: len(got) == 1, timeout=5000)
    assert got[0].image_id == "b" and got[0].request_no == n


def test_lru_avoids_reencoding_previous_image(qtbot, client: SegmentClient, fake) -> None:
    for image_id in ("a", "b", "a"):
        with qtbot.waitSignal(client.encoded, timeout=5000):
            client.set_image(image_id, _image())
    assert client.worker.encode_count == 2
    for image_id in ("c", "d", "e", "a"):
        with qtbot.waitSignal(client.encoded, timeout=5000):
            client.set_image(image_id, _image())
    assert client.worker.encode_count == 6, "'a' fell out of the 3-entry LRU"


def test_engine_failure_is_reported(qtbot, fake) -> None:
    from annotator.workers.requests import EngineRequest
    from sam_model.errors import NotACheckpointError

    def factory(request: EngineRequest) -> DiscSegmenter:
        raise NotACheckpointError(request.checkpoint or "", "not a torch checkpoint")

    c = SegmentClient(fake, factory=factory)
    try:  # a generous bound: the load resolves the device, which imports torch (seconds on a loaded machine)
        with qtbot.waitSignal(c.engine_failed, timeout=60000) as blocker:
            c.load_engine(EngineRequest("/tmp/x.pth"))
        assert "/tmp/x.pth: not a torch checkpoint" in blocker.args[0]
    finally:
        c.shutdown()


def test_unloadable_checkpoint_falls_back_to_the_classical_engine(qtbot) -> None:
    """Issue 15 finding: an unloadable --checkpoint left the app with no engine instead of the classical one."""
    from annotator.workers.requests import EngineRequest
    from sam_model.errors import NotACheckpointError

    def factory(request: EngineRequest) -> DiscSegmenter:
        if request.checkpoint is not None:
            raise NotACheckpointError(request.checkpoint, "not a torch checkpoint")
        return DiscSegmenter()

    c = SegmentClient(None, factory=factory)
    ready: list[object] = []
    c.engine_ready.connect(ready.append)
    try:
        with qtbot.waitSignal(c.engine_failed, timeout=60000) as blocker:
            c.load_engine(EngineRequest("/tmp/x.pth"))
        assert "using the classical engine instead" in blocker.args[0]
        assert len(ready) == 1 and ready[0].checkpoint is None
        with qtbot.waitSignal(c.encoded, timeout=5000):
            c.set_image("a", _image())
    finally:
        c.shutdown()


@pytest.mark.parametrize("frame", ["longest_side", "square"])
def test_refine_seed_becomes_mask_input_in_the_engines_frame(
    qtbot, client: SegmentClient, fake, frame
) -> None:
    from sam_model.low_res import LowResFrame

    fake.low_res_frame = LowResFrame(frame)
    with qtbot.waitSignal(client.encoded, timeout=5000):
        client.set_image("a", _image(60, 120))
    seed = np.zeros((60, 120), bool)
    seed[:, 60:] = True
    with qtbot.waitSignal(client.decoded, timeout=5000):
        client.decode(np.array([[90.0, 30.0]]), np.array([1]), None, None, False, seed)
    sent = fake.calls[-1]["mask_input"]
    np.testing.assert_array_equal(sent, LowResFrame(frame).mask_to_logits(seed))
    # explicit logits win over the seed
    logits = np.zeros((1, 256, 256), np.float32)
    with qtbot.waitSignal(client.decoded, timeout=5000):
        client.decode(np.array([[90.0, 30.0]]), np.array([1]), None, logits, False, seed)
    np.testing.assert_array_equal(fake.calls[-1]["mask_input"], logits)


def test_no_prefetch_loader_starts_after_shutdown(fake, tmp_path) -> None:
    """A late ``encoded`` answer can plan a prefetch after the window closed: no thread may start then (it
    would outlive the app: "QThread: Destroyed while thread is still running")."""
    from annotator.workers.threads import running_worker_threads

    c = SegmentClient(fake)
    c.shutdown()
    c.prefetch_files([("b.png", tmp_path / "b.png")])
    assert "prefetch-loader" not in running_worker_threads()


def test_an_unexpected_decode_error_is_one_message_naming_the_step() -> None:
    """The segment worker's failures take the one error path of the background jobs (ADR 0011): the model's own
    errors as they are, anything else as "<step> failed: <type>: <text>" (traceback in the log)."""
    from annotator.workers.requests import DecodeRequest, EncodeRequest
    from annotator.workers.segment_worker import SegmentWorker
    from sam_model.errors import PromptError

    segmenter = DiscSegmenter()
    worker = SegmentWorker(segmenter)
    failures: list[tuple[str, int, str]] = []
    worker.failed.connect(lambda key, number, message: failures.append((key, number, message)))
    worker.mailbox.put_encode(EncodeRequest("a", np.zeros((60, 80, 3), np.uint8)))
    worker.drain()
    points, labels = np.array([[40.0, 30.0]], np.float32), np.array([1], np.int32)
    for number, error in ((1, KeyError("no such key")), (2, PromptError("point outside the image"))):

        def broken(*_args, error=error, **_kwargs):
            raise error

        segmenter.predict = broken  # type: ignore[method-assign]
        worker._decode(DecodeRequest("a", number, points, labels, None, None, True))
    assert failures == [
        ("a", 1, "decoding failed: KeyError: 'no such key'"),
        ("a", 2, "point outside the image"),
    ]
