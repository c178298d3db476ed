"""``auto --into-project`` and ``boxes-to-masks --into-project`` without ``--cluster`` (issue 16 item 2): the
proposals enter the folder's review queue once; box proposals give their box object the mask on accept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.cli import main
from annotator.core.project_lock import ProjectLock
from annotator.core.project_store import ProjectStore, default_project_file
from annotator.core.review import ReviewQueue
from annotator.core.undo import UndoStack

H, W = 48, 64
BOXES = {"a.png": [[4, 10, 22, 22]], "b.png": [[30, 12, 24, 24], [2, 2, 10, 8]]}


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two images with a bright square inside each box."""
    folder = tmp_path / "images"
    folder.mkdir()
    for name, boxes in BOXES.items():
        rgb = np.full((H, W, 3), 30, np.uint8)
        for x, y, w, h in boxes:
            rgb[y + 2 : y + h - 2, x + 2 : x + w - 2] = (230, 200, 40)
        Image.fromarray(rgb).save(folder / name)
    return folder


def _queue(folder: Path) -> ReviewQueue:
    return ReviewQueue(ProjectStore.open(folder).project, UndoStack())


def _import_boxes(folder: Path, tmp_path: Path) -> Path:
    names = list(BOXES)
    data = {
        "images": [{"id": i + 1, "file_name": n, "width": W, "height": H} for i, n in enumerate(names)],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [
            {"id": 10 * (i + 1) + k, "image_id": i + 1, "category_id": 1, "bbox": box}
            for i, n in enumerate(names)
            for k, box in enumerate(BOXES[n])
        ],
    }
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(data))
    assert main(["import", str(folder), str(path)]) == 0
    return path


def test_auto_into_project_without_cluster_adds_once(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.json"
    args = ["auto", str(folder), "--out", str(out), "--into-project"]
    assert main(args) == 0
    err = capsys.readouterr().err
    written = json.loads(out.read_text())
    assert f"review queue: {len(written['annotations'])} proposals on 2 images added" in err
    queue = _queue(folder)
    counts = [len(queue.proposals(n)) for n in BOXES]
    assert all(counts) and sum(counts) == len(written["annotations"])
    assert all(p.source == "auto-classic" and p.is_pending for n in BOXES for p in queue.proposals(n))
    assert main(args) == 0  # the same run again adds nothing
    assert "2 images already had this run" in capsys.readouterr().err
    assert [len(_queue(folder).proposals(n)) for n in BOXES] == counts
    assert main([*args, "--min-area", "5"]) == 0  # another run (other options) adds its own proposals
    assert sum(len(_queue(folder).proposals(n)) for n in BOXES) > sum(counts)


def test_boxes_to_masks_into_project_gives_box_proposals(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _import_boxes(folder, tmp_path)
    project = ProjectStore.open(folder).project
    box_ids = {n: [i.id for i in project.image(n).instances if i.box is not None] for n in BOXES}
    assert [len(v) for v in box_ids.values()] == [1, 2]
    args = ["boxes-to-masks", str(folder), "--out", str(tmp_path / "m.json"), "--checkpoint", "classic"]
    assert main([*args, "--into-project"]) == 0
    assert "review queue: 3 proposals on 2 images added" in capsys.readouterr().err
    queue = _queue(folder)
    for name in BOXES:
        proposals = queue.proposals(name)
        assert sorted(p.box_instance for p in proposals) == sorted(box_ids[name])
        assert all(p.source == "box-classic" and p.category_id == 1 and p.is_pending for p in proposals)
    assert main([*args, "--into-project"]) == 0  # the same run again adds nothing
    assert "2 images already had this run" in capsys.readouterr().err
    assert sum(len(_queue(folder).proposals(n)) for n in BOXES) == 3

    # Accepting a proposal turns its box object into a mask object (same id), as the app's Boxes to masks.
    store = ProjectStore.open(folder)
    queue = ReviewQueue(store.project, UndoStack())
    queue.show("a.png", queue.proposals("a.png")[0].id)
    iid = queue.accept()
    instance = store.project.image("a.png").instance(iid)
    assert iid == box_ids["a.png"][0] and instance.box is None and instance.mask.area > 0
    store.save()

    # A run with other options (only b.png has boxes left) replaces the undecided box proposals there.
    old = {p.id for p in _queue(folder).proposals("b.png")}
    assert main([*args, "--multimask", "--into-project"]) == 0
    assert "review queue: 2 proposals on 1 images added" in capsys.readouterr().err
    queue = _queue(folder)
    assert [p.state.value for p in queue.proposals("a.png")] == ["accepted"]
    assert len(queue.proposals("b.png")) == 2 and not old & {p.id for p in queue.proposals("b.png")}


def test_boxes_into_project_refuses_a_boxes_file(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boxes = _import_boxes(folder, tmp_path)
    out = tmp_path / "m.json"
    args = ["boxes-to-masks", str(folder), "--in", str(boxes), "--out", str(out), "--into-project"]
    assert main(args) == 2
    assert "--into-project takes the project's own boxes" in capsys.readouterr().err
    assert not out.exists()


def test_into_project_reports_a_locked_project(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ProjectStore.open(folder).save()
    lock = ProjectLock(default_project_file(folder))
    lock.acquire()
    out = tmp_path / "p.json"
    try:
        assert main(["auto", str(folder), "--out", str(out), "--into-project"]) == 2  # refused before the run
        assert "the project is locked" in capsys.readouterr().err and not out.exists()
        lock.release()
        monkeypatch.setattr("annotator.cli.into_project.refuse_locked", lambda _folder: None)
        lock.acquire()  # taken while the command runs: the merge reports it, the proposals file stays
        assert main(["auto", str(folder), "--out", str(out), "--into-project"]) == 2
    finally:
        lock.release()
    err = capsys.readouterr().err
    assert "the project is locked" in err and "Traceback" not in err
    assert out.exists()  # `import` or a rerun can merge it later
    assert all(not _queue(folder).proposals(n) for n in BOXES)
