"""The classical engine in a child process (sam_model.classic.process): same answers, same errors, no leftovers."""

from __future__ import annotations

import gc
import io
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sam_model.classic.child import serve
from sam_model.classic.process import EngineProcessError, ProcessSegmenter
from sam_model.classic.segmenter import ClassicSegmenter
from sam_model.errors import EmbeddingError, ImageError, NoImageError, PromptError, SamModelError
from sam_model.protocol import ImageEmbedding, Segmenter


def _image(h: int = 90, w: int = 120) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = np.hypot(yy - h / 2, xx - w / 2) < h / 4
    img = np.where(disc[..., None], (200, 60, 50), (80, 110, 90)) + rng.normal(0, 10, (h, w, 3))
    return img.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def engine() -> Iterator[ProcessSegmenter]:
    seg = ProcessSegmenter()
    yield seg
    seg.close()


def test_same_answers_as_in_process(engine: ProcessSegmenter) -> None:
    local = ClassicSegmenter()
    assert isinstance(engine, Segmenter) and engine.model_id == local.model_id
    assert engine.low_res_frame == local.low_res_frame and not engine.is_image_set
    image = _image()
    engine.set_image(image)
    local.set_image(image)
    assert engine.is_image_set
    points, labels = np.array([[60.0, 45.0]]), np.array([1])
    for multimask in (True, False):
        ours = engine.predict(points, labels, multimask_output=multimask)
        theirs = local.predict(points, labels, multimask_output=multimask)
        for a, b in zip(ours, theirs, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    assert ours[0].any()
    box = engine.predict(box=np.array([30.0, 20.0, 90.0, 70.0]), return_logits=True)
    assert np.array_equal(
        box[0], local.predict(box=np.array([30.0, 20.0, 90.0, 70.0]), return_logits=True)[0]
    )


def test_embedding_round_trip(engine: ProcessSegmenter) -> None:
    local = ClassicSegmenter()
    local.set_image(_image())
    emb = local.get_embedding()
    engine.reset_image()
    assert not engine.is_image_set
    engine.set_embedding(emb)
    assert engine.is_image_set
    back = engine.get_embedding()
    assert back.model_id == emb.model_id and set(back.arrays) == set(emb.arrays)
    points, labels = np.array([[60.0, 45.0]]), np.array([1])
    assert np.array_equal(engine.predict(points, labels)[0], local.predict(points, labels)[0])


def test_child_errors_come_back_typed(engine: ProcessSegmenter) -> None:
    engine.set_image(_image())
    with pytest.raises(PromptError, match="outside"):
        engine.predict(np.array([[500.0, 1.0]]), np.array([1]))
    with pytest.raises(PromptError):
        engine.predict()
    with pytest.raises(EmbeddingError, match="sam-vit_b"):
        engine.set_embedding(ImageEmbedding("sam-vit_b-1234", (90, 120), (90, 120), {}))
    assert engine.is_image_set  # the previous image stays, as in ClassicSegmenter
    engine.reset_image()
    with pytest.raises(NoImageError):
        engine.predict(np.array([[60.0, 45.0]]), np.array([1]))
    with pytest.raises(ImageError):
        engine.set_image(np.zeros((10, 10), np.uint8))
    engine.set_image(_image())  # still answering after the errors
    assert engine.predict(np.array([[60.0, 45.0]]), np.array([1]))[0].shape == (3, 90, 120)


def test_bad_options_fail_before_the_child_starts() -> None:
    with pytest.raises(ValueError, match="work_size"):
        ProcessSegmenter(work_size=4)


def test_a_dead_child_is_reported_and_close_reaps_it() -> None:
    seg = ProcessSegmenter()
    seg.set_image(_image())
    seg._proc.kill()
    seg._proc.wait()
    with pytest.raises(EngineProcessError, match="exit code"):
        seg.predict(np.array([[60.0, 45.0]]), np.array([1]))
    seg.close()
    seg.close()  # idempotent
    with pytest.raises(EngineProcessError, match="closed"):
        seg.set_image(_image())


def test_close_and_collection_stop_the_child() -> None:
    with ProcessSegmenter() as seg:
        assert seg.alive
        proc = seg._proc
    assert proc.returncode == 0  # left on its own when its stdin closed, and reaped
    seg = ProcessSegmenter()
    proc = seg._proc
    del seg
    gc.collect()
    assert proc.returncode is not None


def test_no_child_outlives_its_parent() -> None:
    code = "from sam_model.classic.process import ProcessSegmenter; print(ProcessSegmenter().pid, flush=True)"
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[-1])
    # The parent's exit stopped and reaped the child (no close() was called): no such process any more.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_child_protocol_in_process() -> None:
    requests = io.BytesIO()
    for request in (
        ("predict", (), {}),  # before init
        ("init", (), {"work_size": 64}),
        ("predict", (np.array([[1.0, 1.0]]), np.array([1])), {}),  # before set_image
        ("unknown", (), {}),
        ("set_image", (_image(),), {}),
        ("close", (), {}),
        ("reset_image", (), {}),  # after close: never read
    ):
        pickle.dump(request, requests)
    requests.seek(0)
    answers = io.BytesIO()
    serve(requests, answers)
    answers.seek(0)
    got = []
    while answers.tell() < len(answers.getvalue()):
        got.append(pickle.load(answers))
    assert [status for status, _ in got] == ["error", "ok", "error", "error", "ok", "ok"]
    assert type(got[0][1]) is SamModelError and got[1][1] == "classic-2-w64"
    assert isinstance(got[2][1], NoImageError) and "unknown" in str(got[3][1])
