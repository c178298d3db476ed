from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from annotator.core.errors import ProjectFileError
from annotator.core.masks import Mask
from annotator.core.model import ImageStatus
from annotator.core.project_store import (
    Autosaver,
    ProjectStore,
    backup_file,
    default_project_file,
    load_project,
    save_project,
    sync_images,
)
from annotator.core.undo import AddInstanceCommand, UndoStack
from tests.core.helpers import add, disc, ring, write_image


def _store(tmp_path: Path) -> ProjectStore:
    for i in range(2):
        write_image(tmp_path / f"img{i}.png")
    store = ProjectStore.open(tmp_path)
    report = sync_images(store.project)
    assert report.added == ["img0.png", "img1.png"]
    store.project.add_category("cat")
    return store


def test_roundtrip_restores_everything(tmp_path: Path) -> None:
    store = _store(tmp_path)
    p = store.project
    iid = add(p, "img0.png", ring(60, 80, 30, 30, 20, 8), source="sam", score=0.75, hidden=True, iscrowd=1)
    p.set_image_status("img1.png", ImageStatus.ERROR, "broken file")
    p.set_extra("review", {"queue": ["img0.png"]})
    p.set_image_extra("img0.png", "proposals", [{"score": 0.5}])
    p.set_settings(segmentation_mode="rle")
    store.save()
    assert default_project_file(tmp_path).is_file()
    again = ProjectStore.open(tmp_path).project
    inst = again.image("img0.png").instance(iid)
    assert inst == p.image("img0.png").instance(iid)
    assert np.array_equal(inst.mask.array(), ring(60, 80, 30, 30, 20, 8))
    assert (
        again.image("img1.png").status is ImageStatus.ERROR and again.image("img1.png").error == "broken file"
    )
    assert again.extras == {"review": {"queue": ["img0.png"]}}
    assert again.image("img0.png").extras == {"proposals": [{"score": 0.5}]}
    assert again.settings.segmentation_mode == "rle" and again.categories == p.categories
    assert again.reserve_instance_id() > iid  # ids never reused


def test_autosave_every_change_and_cost_for_500_instances(tmp_path: Path) -> None:
    store = _store(tmp_path)
    saver = Autosaver(store)
    stack = UndoStack()
    inst = store.project.new_instance(Mask.from_array(disc(60, 80, 20, 20, 6)), 1)
    stack.push(AddInstanceCommand(store.project, "img0.png", inst))
    assert load_project(store.path).image("img0.png").instances == (inst,)  # on disk already
    with saver.paused():
        for i in range(500):
            add(store.project, "img1.png", disc(60, 80, i % 80, (i * 7) % 60, 5))
    assert saver.save_count == 2
    start = time.perf_counter()
    add(store.project, "img1.png", disc(60, 80, 40, 30, 9))
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"saving 500 instances took {elapsed:.3f} s"
    assert len(load_project(store.path).image("img1.png").instances) == 501
    saver.close()


def test_crash_mid_save_keeps_last_good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    add(store.project, "img0.png", disc(60, 80, 20, 20, 6))
    store.save()
    good = store.path.read_bytes()
    add(store.project, "img0.png", disc(60, 80, 50, 30, 6))

    def boom(*args: object) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ProjectFileError, match="simulated crash"):
        store.save()
    monkeypatch.undo()
    assert store.path.read_bytes() == good
    assert not [f for f in store.path.parent.iterdir() if ".tmp-" in f.name]
    assert len(load_project(store.path).image("img0.png").instances) == 1
    # a partial temp file left by a killed process does not matter either
    (store.path.parent / ".project.json.tmp-999").write_bytes(good[:20])
    assert len(ProjectStore.open(tmp_path).project.image("img0.png").instances) == 1


def test_newer_version_is_refused_and_not_overwritten(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save()
    data = json.loads(store.path.read_text())
    data["version"] = 99
    text = json.dumps(data)
    store.path.write_text(text)
    with pytest.raises(ProjectFileError, match="newer version") as info:
        ProjectStore.open(tmp_path)
    assert str(store.path) in str(info.value)
    with pytest.raises(ProjectFileError, match="newer version"):
        save_project(store.project, store.path)
    assert store.path.read_text() == text


def test_broken_file_falls_back_to_backup(tmp_path: Path) -> None:
    store = _store(tmp_path)
    iid = add(store.project, "img0.png", disc(60, 80, 20, 20, 6))
    store.save()
    add(store.project, "img0.png", disc(60, 80, 40, 20, 6))
    store.save()  # the backup now holds the first instance
    assert backup_file(store.path).is_file()
    store.path.write_bytes(store.path.read_bytes()[:50])  # truncated
    reopened = ProjectStore.open(tmp_path)
    assert [i.id for i in reopened.project.image("img0.png").instances] == [iid]
    assert reopened.warnings and "backup" in reopened.warnings[0]
    assert list(store.path.parent.glob("project.json.broken-*"))
    backup_file(store.path).write_text("{")
    store.path.write_text("not json")
    with pytest.raises(ProjectFileError, match="backup is not usable"):
        ProjectStore.open(tmp_path)


@pytest.mark.parametrize("where", ["image", "instance", "colour"])
def test_valid_json_with_wrong_item_types_falls_back_to_backup(tmp_path: Path, where: str) -> None:
    store = _store(tmp_path)
    iid = add(store.project, "img0.png", disc(60, 80, 20, 20, 6))
    store.save()
    store.save()  # the backup holds the same good content
    data = json.loads(store.path.read_text())
    if where == "image":
        data["images"][0] = ["img0.png"]
    elif where == "instance":
        data["images"][0]["instances"][0] = [iid]
    else:  # a colour the canvas could not draw
        data["categories"][0]["color"] = [1, 2]
    store.path.write_text(json.dumps(data))
    with pytest.raises(ProjectFileError, match="inconsistent content"):
        load_project(store.path)
    reopened = ProjectStore.open(tmp_path)  # a typed error, so the backup is used (no AttributeError)
    assert [i.id for i in reopened.project.image("img0.png").instances] == [iid]
    assert reopened.warnings and "backup" in reopened.warnings[0]


@pytest.mark.parametrize("size", [[], [60], [60, "80"], [-1, 80], None, [60.5, 80]])
def test_a_saved_mask_with_a_bad_size_is_a_mask_error(size: object) -> None:
    """Found by the project-reader fuzz test: ``"size": []`` raised IndexError (a traceback) instead of the typed
    error that makes the reader fall back to the backup."""
    from annotator.core.errors import MaskError
    from annotator.core.masks import Mask

    with pytest.raises(MaskError, match="size"):
        Mask.from_json({"size": size, "counts": "PX:4"})
    assert (
        Mask.from_json(
            {"size": [60, 80], "counts": Mask.from_array(np.ones((60, 80), bool)).rle["counts"]}
        ).area
        == 4800
    )
