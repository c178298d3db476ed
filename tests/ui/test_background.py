"""The one worker primitive (issue 11, item 3): answers, progress, cancellation and the one error path."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QMessageBox

from annotator.core.errors import ModelError
from annotator.workers.background import (
    BackgroundTask,
    BackgroundWorker,
    TaskCancelled,
    TaskContext,
    TaskError,
)
from annotator.workers.image_loader import ImageLoader
from tests.ui.fakes import DiscSegmenter


def test_task_returns_its_result_from_another_thread(qtbot) -> None:
    seen: list[object] = []

    def job(_context: TaskContext) -> str:
        seen.append(QThread.currentThread().objectName())
        return "done"

    task = BackgroundTask(job, label="a job", thread_name="test-task")
    with (
        qtbot.waitSignal(task.finished, timeout=10000),
        qtbot.waitSignal(task.returned, timeout=10000) as returned,
    ):
        task.start()
    assert returned.args == ["done"]
    assert seen == ["test-task"]
    assert not task.running


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ModelError("a.png: no such image"), "a.png: no such image"),
        (OSError("disk full"), "disk full"),
        (ZeroDivisionError("division by zero"), "a job failed: ZeroDivisionError: division by zero"),
    ],
)
def test_an_error_becomes_one_typed_answer(qtbot, error: Exception, expected: str) -> None:
    def job(_context: TaskContext) -> None:
        raise error

    task = BackgroundTask(job, label="a job", thread_name="test-task")
    returned: list[object] = []
    task.returned.connect(returned.append)
    with (
        qtbot.waitSignal(task.finished, timeout=10000),
        qtbot.waitSignal(task.errored, timeout=10000) as errored,
    ):
        task.start()
    answer = errored.args[0]
    assert isinstance(answer, TaskError)
    assert answer.message == expected and answer.exception is error and answer.label == "a job"
    assert returned == []


def test_a_generator_job_reports_progress_and_can_be_cancelled(qtbot) -> None:
    release = threading.Event()

    def job(context: TaskContext):
        yield 1
        release.wait(10)
        yield 2
        yield 3  # never reached: cancelled between two yields
        return "not returned"

    task = BackgroundTask(job, label="steps", thread_name="test-steps")
    progress: list[object] = []
    returned: list[object] = []
    task.progressed.connect(progress.append)
    task.returned.connect(returned.append)
    with qtbot.waitSignal(task.progressed, timeout=10000):
        task.start()
    with qtbot.waitSignal(task.finished, timeout=10000), qtbot.waitSignal(task.cancelled, timeout=10000):
        task.cancel()
        release.set()
    assert progress[0] == 1 and 3 not in progress
    assert returned == []


def test_a_generator_job_returns_its_value(qtbot) -> None:
    def job(_context: TaskContext):
        yield "half"
        return 42

    task = BackgroundTask(job, label="steps", thread_name="test-steps")
    progress: list[object] = []
    task.progressed.connect(progress.append)
    with qtbot.waitSignal(task.returned, timeout=10000) as returned:
        task.start()
    qtbot.waitUntil(lambda: not task.running)
    assert returned.args == [42] and progress == ["half"]


def test_a_job_raising_task_cancelled_is_cancelled(qtbot) -> None:
    def job(_context: TaskContext) -> None:
        raise TaskCancelled

    task = BackgroundTask(job, label="cancel", thread_name="test-cancel")
    with qtbot.waitSignal(task.cancelled, timeout=10000):
        task.start()
    qtbot.waitUntil(lambda: not task.running)
    task.shutdown()


def test_a_task_starts_once(qtbot) -> None:
    task = BackgroundTask(lambda _c: None, label="once", thread_name="test-once")
    with qtbot.waitSignal(task.finished, timeout=10000):
        task.start()
    with pytest.raises(RuntimeError, match="once"):
        task.start()


def test_a_latest_only_worker_skips_waiting_jobs(qtbot) -> None:
    started, gate = threading.Event(), threading.Event()
    worker = BackgroundWorker(name="test-latest", latest_only=True)
    answers: list[tuple[object, object]] = []
    worker.returned.connect(lambda ticket, result: answers.append((ticket, result)))

    def first(_context: TaskContext) -> str:
        started.set()
        gate.wait(10)
        return "first"

    try:
        worker.submit("first", first)
        assert started.wait(10)
        for ticket in ("second", "third", "fourth"):
            worker.submit(ticket, lambda _c, t=ticket: t)
        gate.set()
        qtbot.waitUntil(lambda: len(answers) == 2, timeout=10000)
        assert answers == [("first", "first"), ("fourth", "fourth")]
    finally:
        worker.shutdown()
    assert not worker.running


def test_image_loader_reports_a_bad_file_with_its_name(qtbot, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    loader = ImageLoader()
    try:
        with qtbot.waitSignal(loader.failed, timeout=10000) as failed:
            loader.load("bad.png", bad)
        key, message = failed.args
        assert key == "bad.png" and "bad.png" in message
    finally:
        loader.shutdown()


def test_an_unexpected_export_error_ends_the_export_with_its_message(
    qtbot, make_window, image_folder, tmp_path, monkeypatch
) -> None:
    """The export's worker once caught only ``CoreError``: anything else left the progress dialog up forever."""
    from annotator.core.formats.export import ExportOptions
    from annotator.ui import export_dialog

    def broken(*_args, **_kwargs):
        raise KeyError("no such field")

    monkeypatch.setattr(export_dialog, "export_dataset", broken)
    window = make_window(image_folder, segmenter=DiscSegmenter())
    runner = export_dialog.make_export_runner(window)
    with qtbot.waitSignal(runner.finished, timeout=30000) as blocker:
        assert export_dialog.start_export(window, runner, tmp_path / "out.json", ExportOptions(images="all"))
    report, error, cancelled = blocker.args
    assert report is None and not cancelled and "KeyError" in error and "out.json" in error
    assert not runner.running
    box = window.findChild(QMessageBox, "export_result")
    assert box is not None and box.windowTitle() == "Export failed"
    box.close()


def test_prefetch_loader_answers_in_plan_order_and_names_a_bad_file(qtbot, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from annotator.workers.prefetch_loader import PrefetchLoader

    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    loader = PrefetchLoader()
    answers: list[tuple[str, object]] = []
    loader.loaded.connect(lambda image: answers.append(("loaded", image.image_id)))
    loader.failed.connect(
        lambda key, message: answers.append(("failed", key if "bad.png" in message else "?"))
    )
    try:
        loader.set_plan([("bad.png", bad), ("good.png", good)])
        qtbot.waitUntil(lambda: len(answers) == 2, timeout=10000)
    finally:
        loader.shutdown()
    assert answers == [("failed", "bad.png"), ("loaded", "good.png")]
