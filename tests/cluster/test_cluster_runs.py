"""``auto`` / ``encode`` with ``--cluster`` on a local Ray instance (2 CPUs): same output as the single-process
commands, every image exactly once when an actor is killed mid-run, resume, corrupt and crashing images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cluster_helpers import auto_single_and_cluster, make_images

from annotator.cli import main
from annotator.cluster.driver import ClusterOptions, run_cluster
from annotator.cluster.progress import Progress
from annotator.cluster.shards import ShardStore
from annotator.cluster.task_auto import AutoTask
from annotator.cluster.tasks import ClusterError, ImageResult, ModelSpec

pytestmark = pytest.mark.cluster

CLASSIC = ["--min-area", "20"]


def _coco(path: Path) -> dict:
    return json.loads(path.read_text())


def test_tiny_sam_cluster_output_is_the_single_process_output(
    ray_local: object, sam_reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tiny reference SAM, 2 images and a corrupt one: the merged file is byte for byte ``auto``'s."""
    ckpt = sam_reference / "sam_tiny_a.pth"
    single, cluster, err = auto_single_and_cluster(tmp_path, ckpt, str, capsys)
    assert "broken.jpg: skipped" in err and "1 failed" in err
    assert _coco(single)["annotations"], "the test needs some proposals to compare"
    assert cluster.read_bytes() == single.read_bytes()


def test_actor_killed_mid_run_every_image_once_then_resume(
    ray_local: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import ray

    folder = tmp_path / "images"
    names = make_images(folder, 6)
    task = AutoTask(ModelSpec(None), params={"min_mask_region_area": 20})
    store = ShardStore(tmp_path / "out.json.shards", task.identity())
    pids: list[int] = []
    seen: list[str] = []

    def kill_first_actor(actors: list, result: ImageResult) -> None:
        seen.append(result.name)
        if len(seen) == 1:  # after the first image: the run is still going
            pids.append(ray.get(actors[0].ready.remote())["pid"])
            ray.kill(actors[0], no_restart=False)
        elif len(seen) == len(names):  # Ray restarted the killed actor (a new process)
            pids.append(ray.get(actors[0].ready.remote())["pid"])

    summary = run_cluster(
        task, folder, names, store, ClusterOptions(workers=2), progress=Progress(6), hook=kill_first_actor
    )
    assert len(pids) == 2 and pids[0] != pids[1]
    assert sorted(seen) == sorted(names) and summary.done == 6 and not summary.failed
    shards = [store.read(name) for name in names]
    assert [s["name"] for s in shards] == names and all(s["status"] == "ok" for s in shards)

    # The CLI over the same shards: nothing left to do, every image exactly once in the merged file.
    out = tmp_path / "out.json"
    before = {p: p.stat().st_mtime_ns for p in store.directory.rglob("*.json")}
    assert main(["auto", str(folder), "--out", str(out), *CLASSIC, "--cluster", "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert "6 images already done" in err
    assert {p: p.stat().st_mtime_ns for p in store.directory.rglob("*.json")} == before
    coco = _coco(out)
    assert [image["file_name"] for image in coco["images"]] == names
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))
    single = tmp_path / "single.json"
    assert main(["auto", str(folder), "--out", str(single), *CLASSIC]) == 0
    assert out.read_bytes() == single.read_bytes()


def test_partial_run_resumes_and_reports_a_crashing_image(ray_local: object, tmp_path: Path) -> None:
    """Two images already have shards (an interrupted run); the rest run, and the image on which the
    worker process dies is retried a bounded number of times, then reported by name."""
    from poison_task import PoisonTask

    folder = tmp_path / "images"
    names = make_images(folder, 5)
    task = PoisonTask(ModelSpec(None), params={"min_mask_region_area": 20}, poison="img3.png")
    store = ShardStore(tmp_path / "shards", task.identity())
    store.bind()
    for name in names[:2]:
        store.write_ok(name, {"width": 64, "height": 48, "engine": "earlier", "annotations": []})
    done: list[str] = []
    summary = run_cluster(
        task,
        folder,
        names,
        store,
        ClusterOptions(workers=2, max_task_retries=1),
        progress=Progress(5, already=2),
        hook=lambda actors, result: done.append(result.name),
    )
    assert summary.skipped == 2 and summary.done == 3 and summary.worker_deaths >= 2
    assert sorted(done) == ["img2.png", "img3.png", "img4.png"]  # each once; the earlier two not again
    assert [name for name, _ in summary.failed] == ["img3.png"]
    assert "died on this image" in store.read("img3.png")["error"]
    assert store.read("img0.png")["record"]["engine"] == "earlier"


def test_model_that_does_not_load_stops_the_run(ray_local: object, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    names = make_images(folder, 1)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"this is not a checkpoint")
    task = AutoTask(ModelSpec(str(bad), device="cpu"))
    with pytest.raises(ClusterError, match="does not load on a worker"):
        run_cluster(
            task, folder, names, ShardStore(tmp_path / "s", task.identity()), ClusterOptions(workers=1)
        )


def test_encode_cluster_fills_the_cache_like_encode(
    ray_local: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from annotator.core.embedding_cache import EmbeddingCache, image_key
    from annotator.core.images import load_image
    from sam_model.classic.segmenter import ClassicSegmenter

    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    folder = tmp_path / "images"
    names = make_images(folder, 3)
    (folder / "broken.png").write_bytes(b"\x89PNG broken")
    cache_dir = tmp_path / "cache"
    args = ["encode", str(folder), "--checkpoint", "classic", "--cache-dir", str(cache_dir)]
    assert main([*args, "--cluster", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "encoded 3" in err and "failed 1" in err
    cache = EmbeddingCache(cache_dir, max_bytes=10**9)
    model_id = ClassicSegmenter().model_id
    assert all(cache.get(image_key(load_image(folder / n).rgb), model_id) is not None for n in names)
    entries = sorted(p.name for p in cache_dir.rglob("*.npz"))
    assert main([*args, "--cluster", "--workers", "2"]) == 1  # resumed: nothing encoded again
    assert "4 images already done" in capsys.readouterr().err
    assert sorted(p.name for p in cache_dir.rglob("*.npz")) == entries
    assert main(args) == 1  # the single-process command finds them all cached
    err = capsys.readouterr().err
    assert "encoded 0" in err and "already cached 3" in err


def test_into_project_adds_to_the_review_queue_once(
    ray_local: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from annotator.core.project_store import ProjectStore
    from annotator.core.review import ReviewQueue
    from annotator.core.undo import UndoStack

    folder = tmp_path / "images"
    names = make_images(folder, 2)
    args = ["auto", str(folder), "--out", str(tmp_path / "p.json"), *CLASSIC, "--cluster", "--into-project"]
    assert main(args) == 0
    assert "review queue: " in capsys.readouterr().err
    project = ProjectStore.open(folder).project
    queue = ReviewQueue(project, UndoStack())
    counts = [len(queue.proposals(n)) for n in names]
    assert all(counts) and sum(counts) == len(_coco(tmp_path / "p.json")["annotations"])
    assert all(p.source == "auto-classic" and p.is_pending for n in names for p in queue.proposals(n))
    assert main(args) == 0  # the same run again adds nothing
    assert "2 images already had this run" in capsys.readouterr().err
    assert main([*args[:-2], "--into-project"]) == 0  # nor does the single-process run of the same options
    assert "2 images already had this run" in capsys.readouterr().err
    queue = ReviewQueue(ProjectStore.open(folder).project, UndoStack())
    assert [len(queue.proposals(n)) for n in names] == counts


def test_boxes_to_masks_into_project_gives_box_proposals_once(
    ray_local: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from annotator.core.project_store import ProjectStore
    from annotator.core.review import ReviewQueue
    from annotator.core.undo import UndoStack

    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    folder = tmp_path / "images"
    names = make_images(folder, 2)
    data = {
        "images": [{"id": i + 1, "file_name": n, "width": 64, "height": 48} for i, n in enumerate(names)],
        "categories": [{"id": 1, "name": "disc"}],
        "annotations": [
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [2 + 5 * i, 14, 24, 22]}
            for i in range(len(names))
        ],
    }
    (tmp_path / "boxes.json").write_text(json.dumps(data))
    assert main(["import", str(folder), str(tmp_path / "boxes.json")]) == 0
    project = ProjectStore.open(folder).project
    box_ids = [i.id for n in names for i in project.image(n).instances if i.box is not None]
    args = ["boxes-to-masks", str(folder), "--out", str(tmp_path / "m.json"), "--checkpoint", "classic"]
    assert main([*args, "--cluster", "--into-project"]) == 0
    assert "review queue: 2 proposals on 2 images added" in capsys.readouterr().err
    queue = ReviewQueue(ProjectStore.open(folder).project, UndoStack())
    assert [p.box_instance for n in names for p in queue.proposals(n)] == box_ids
    assert main([*args, "--into-project"]) == 0  # the single-process run of the same boxes adds nothing
    assert "2 images already had this run" in capsys.readouterr().err


def test_boxes_to_masks_cluster_output_is_the_single_process_output(
    ray_local: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    folder = tmp_path / "images"
    names = make_images(folder, 3)
    (folder / "broken.jpg").write_bytes(b"not an image")
    boxes = [[2, 14, 24, 22], [7, 14, 24, 22], [12, 14, 24, 22]]
    data = {
        "images": [{"id": 10 + i, "file_name": n, "width": 64, "height": 48} for i, n in enumerate(names)]
        + [{"id": 20, "file_name": "broken.jpg", "width": 64, "height": 48}],
        "categories": [{"id": 3, "name": "disc"}],
        "annotations": [
            {"id": 100 + i, "image_id": 10 + i, "category_id": 3, "bbox": box} for i, box in enumerate(boxes)
        ]
        + [{"id": 200, "image_id": 20, "category_id": 3, "bbox": [1, 1, 9, 9]}],
    }
    (tmp_path / "boxes.json").write_text(json.dumps(data))
    args = ["boxes-to-masks", str(folder), "--in", str(tmp_path / "boxes.json"), "--checkpoint", "classic"]
    single, cluster = tmp_path / "single.json", tmp_path / "cluster.json"
    assert main([*args, "--out", str(single), "--no-cache"]) == 1
    capsys.readouterr()
    assert main([*args, "--out", str(cluster), "--cluster", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "broken.jpg: skipped" in err and "1 images skipped" in err
    assert len(_coco(single)["annotations"]) == 3
    assert cluster.read_bytes() == single.read_bytes()
