"""The parts of the cluster path that need no Ray: shards, progress lines, the worker's per-image errors, the
review-queue batch (undoable), and that commands without ``--cluster`` never import Ray."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cluster_helpers import ROOT, make_images

from annotator.cluster.actors import ImageWorker
from annotator.cluster.progress import Progress, format_duration
from annotator.cluster.shards import ShardStore
from annotator.cluster.task_auto import AutoTask
from annotator.cluster.tasks import ClusterError, ModelSpec
from annotator.core.masks import Mask
from annotator.core.model import Project
from annotator.core.review import ReviewQueue
from annotator.core.review_batch import TAG_KEY, AddProposalsCommand
from annotator.core.review_proposal import ProposalDraft
from annotator.core.undo import UndoStack


def test_shards_resume_and_refuse_another_run(tmp_path: Path) -> None:
    store = ShardStore(tmp_path / "s", {"task": "auto", "params": {"a": 1}})
    store.bind()
    names = ["a.png", "sub/b.png", "ünï code.jpg"]
    assert store.pending(names) == names
    store.write_ok(names[0], {"x": 1})
    store.write_failed(names[2], "skipped (corrupt)")
    assert store.pending(names) == [names[1]]
    assert store.pending(names, retry_failed=True) == names[1:]
    assert store.read(names[0]) == {"name": names[0], "status": "ok", "record": {"x": 1}}
    store.path(names[1]).parent.mkdir(parents=True, exist_ok=True)
    store.path(names[1]).write_text("{trunc")  # unreadable shard: the image is done again
    assert store.pending(names) == [names[1]]
    assert not [p for p in store.directory.rglob("*") if ".tmp" in p.name]
    ShardStore(tmp_path / "s", {"task": "auto", "params": {"a": 1}}).bind()  # same run: fine
    with pytest.raises(ClusterError, match="other options"):
        ShardStore(tmp_path / "s", {"task": "auto", "params": {"a": 2}}).bind()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("x")
    with pytest.raises(ClusterError, match="not a shard folder"):
        ShardStore(tmp_path / "other", {}).bind()


def test_progress_lines_give_rate_and_eta() -> None:
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(10, already=2, stream=stream, interval_s=5.0, clock=lambda: now[0])
    now[0] = 2.0
    progress.advance()  # first line at once
    now[0] = 4.0
    progress.advance()  # within the interval: no line
    now[0] = 8.0
    progress.advance(failed=1)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "cluster: 3/10 images, 0.50 images/s, ETA 0:14",
        "cluster: 5/10 images, 0.38 images/s, ETA 0:13, 1 failed",
    ]
    assert format_duration(3725) == "1:02:05"


def test_worker_reports_an_image_failure_and_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    make_images(folder, 1)
    (folder / "bad.png").write_bytes(b"not a png")
    worker = ImageWorker(AutoTask(ModelSpec(None), params={"min_mask_region_area": 20}))
    assert worker.ready()["error"] is None
    bad, good = worker.process(str(folder), [("bad.png", None), ("img0.png", None)])
    assert not bad.ok and bad.error.startswith("skipped (") and good.ok
    assert good.record["width"] == 64 and good.record["annotations"]
    assert "id" not in good.record["annotations"][0]


def test_worker_reports_a_model_that_does_not_load(tmp_path: Path) -> None:
    worker = ImageWorker(AutoTask(ModelSpec(str(tmp_path / "missing.pth"), device="cpu")))
    assert worker.ready()["error"]
    assert "model not loaded" in worker.process(str(tmp_path), [("a.png", None)])[0].error


def _draft(shape: tuple[int, int], box: tuple[int, int, int, int], score: float) -> ProposalDraft:
    mask = np.zeros(shape, bool)
    x, y, w, h = box
    mask[y : y + h, x : x + w] = True
    return ProposalDraft(Mask.from_array(mask), score, "auto-sam")


def test_review_batch_is_one_undoable_step_and_idempotent(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.add_image("a.png", 20, 10)
    queue = ReviewQueue(project, UndoStack())
    queue.add_proposals("a.png", [_draft((10, 20), (0, 0, 3, 3), 0.5)])  # an earlier, unrelated proposal
    batch = {
        "a.png": ((20, 10), [_draft((10, 20), (2, 2, 5, 5), 0.9)]),
        "b.png": ((8, 6), [_draft((6, 8), (1, 1, 2, 2), 0.7), _draft((6, 8), (0, 0, 8, 6), 0.8)]),
    }
    stack = UndoStack()
    command = AddProposalsCommand(project, batch, tag="run1")
    stack.push(command)
    assert command.added == {"a.png": 1, "b.png": 2}
    after = {k: [p.to_json() for p in queue.proposals(k)] for k in ("a.png", "b.png")}
    assert len(after["a.png"]) == 2 and len(after["b.png"]) == 2
    assert all(p.provenance[TAG_KEY] == "run1" for p in queue.proposals("b.png"))
    stack.undo()
    assert [p.score for p in queue.proposals("a.png")] == [0.5] and queue.proposals("b.png") == ()
    assert project.has_image("b.png")  # image records stay, as with an import
    stack.redo()
    assert {k: [p.to_json() for p in queue.proposals(k)] for k in after} == after
    again = AddProposalsCommand(project, batch, tag="run1")
    UndoStack().push(again)
    assert again.added == {} and sorted(again.already) == ["a.png", "b.png"]


PROBE = """
import sys
from annotator.launcher import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
print("RAY", "ray" in sys.modules, file=sys.stderr)
sys.exit(status)
"""


@pytest.mark.parametrize("with_run", [False, True])
def test_commands_without_cluster_do_not_import_ray(tmp_path: Path, with_run: bool) -> None:
    folder = tmp_path / "images"
    make_images(folder, 1)
    args = ["auto", str(folder), "--out", str(tmp_path / "p.json")] if with_run else ["auto", "--help"]
    env = dict(os.environ, SAM_ANNOTATOR_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "RAY False"
