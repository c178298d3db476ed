"""Issue 12, findings 4 and 7: import is idempotent and undoable, keeps the file's category ids, and accepts
what pycocotools accepts (reporting each repair)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from annotator.core.coco import build_coco
from annotator.core.coco_import import import_coco
from annotator.core.coco_journal import ImportCocoCommand
from annotator.core.model import Project
from annotator.core.undo import UndoStack
from tests.core.helpers import add, disc, write_image

SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 25.0, 10.0, 25.0]
OTHER = [40.0, 30.0, 60.0, 30.0, 60.0, 50.0, 40.0, 50.0]


def _folder(tmp_path: Path, defaults: bool = False) -> Project:
    write_image(tmp_path / "img0.png")
    project = Project(tmp_path)
    project.add_image("img0.png", 80, 60)
    if defaults:  # what the app gives a new folder
        for name in ("person", "animal", "vehicle", "object", "background"):
            project.add_category(name)
    return project


def _write(tmp_path: Path, categories: list, annotations: list, images: list | None = None) -> Path:
    data = {
        "images": images or [{"id": 1, "file_name": "img0.png", "width": 80, "height": 60}],
        "categories": categories,
        "annotations": annotations,
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    return path


def _ann(ann_id: int, category_id, segmentation=None, **extra) -> dict:
    return {"id": ann_id, "image_id": 1, "category_id": category_id, "segmentation": segmentation or [SQUARE],
            **extra}  # fmt: skip


def test_importing_twice_skips_what_is_already_there(tmp_path: Path) -> None:
    project = _folder(tmp_path)
    path = _write(tmp_path, [{"id": 1, "name": "car"}], [_ann(1, 1), _ann(2, 1, [OTHER])])
    first = import_coco(project, path)
    assert first.annotations_imported == 2 and first.annotations_duplicate == 0
    second = import_coco(project, path)
    assert second.annotations_imported == 0 and second.annotations_duplicate == 2
    assert "2 already in the project" in second.summary()
    assert len(project.image("img0.png").instances) == 2 and len(project.categories) == 1


def test_one_undo_removes_a_whole_import_and_redo_brings_it_back(tmp_path: Path) -> None:
    project = _folder(tmp_path, defaults=True)
    add(project, "img0.png", disc(60, 80, 70, 50, 5), category_id=1)  # the user's own object stays
    path = _write(tmp_path, [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}], [_ann(1, 1), _ann(2, 2)])
    before = project.categories
    stack = UndoStack()
    command = ImportCocoCommand(project, path)
    stack.push(command)
    assert command.image_key is None and "in.json" in stack.undo_text
    assert command.report is not None and command.report.annotations_imported == 2
    assert len(project.image("img0.png").instances) == 3
    after = project.categories
    stack.undo()
    assert project.categories == before and len(project.image("img0.png").instances) == 1
    stack.redo()
    assert project.categories == after and len(project.image("img0.png").instances) == 3


def test_category_ids_of_the_file_are_kept_over_unused_defaults(tmp_path: Path) -> None:
    project = _folder(tmp_path, defaults=True)  # person..background take ids 1-5, none used
    categories = [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}, {"id": 3, "name": "vehicle"}]
    path = _write(tmp_path, categories, [_ann(1, 1), _ann(2, 2, [OTHER]), _ann(3, 3)])
    report = import_coco(project, path)
    assert not report.errors
    assert {c.id: c.name for c in project.categories if c.id <= 3} == {1: "car", 2: "bus", 3: "vehicle"}
    assert sorted(c.name for c in project.categories) == sorted(
        ["car", "bus", "vehicle", "person", "animal", "object", "background"]
    )
    assert sorted(i.category_id for i in project.image("img0.png").instances) == [1, 2, 3]
    exported = {c["id"]: c["name"] for c in build_coco(project)[0]["categories"]}
    assert exported[1] == "car" and exported[2] == "bus" and exported[3] == "vehicle"


def test_a_category_in_use_keeps_its_id_and_the_new_one_is_reported(tmp_path: Path) -> None:
    project = _folder(tmp_path)
    project.add_category("cat")
    add(project, "img0.png", disc(60, 80, 70, 50, 5), category_id=1)
    report = import_coco(project, _write(tmp_path, [{"id": 1, "name": "car"}], [_ann(1, 1)]))
    car = project.category_by_name("car")
    assert car is not None and car.id != 1 and project.category(1).name == "cat"
    assert any("id already used" in m.message for m in report.messages)
    assert [i.category_id for i in project.image("img0.png").instances] == [1, car.id]


def test_category_id_zero_is_an_id(tmp_path: Path) -> None:
    project = _folder(tmp_path)
    categories = [{"id": 0, "name": "bg"}, {"id": 1, "name": "car"}, {"id": 2, "name": "bus"}]
    report = import_coco(project, _write(tmp_path, categories, [_ann(1, 0), _ann(2, 2, [OTHER])]))
    assert not report.errors
    assert [(c.id, c.name) for c in project.categories] == [(0, "bg"), (1, "car"), (2, "bus")]
    assert sorted(i.category_id for i in project.image("img0.png").instances) == [0, 2]


def test_names_that_differ_in_case_or_spacing_are_reported(tmp_path: Path) -> None:
    project = _folder(tmp_path)
    project.add_category("car")
    categories = [{"id": 1, "name": " Car "}, {"id": 2, "name": "bus"}, {"id": 3, "name": "BUS"}]
    report = import_coco(project, _write(tmp_path, categories, []))
    warned = [m for m in report.messages if "case or spacing" in m.message]
    assert [m.item for m in warned] == ["category 1", "category 3"]
    assert len(project.categories) == 2


def test_import_accepts_what_pycocotools_reads_and_reports_repairs(tmp_path: Path) -> None:
    project = _folder(tmp_path)
    categories = [{"id": 6.0, "name": "car"}]
    images = [{"id": 1.0, "file_name": "img0.png", "width": 80.0, "height": 60.0}]
    bad_ring = [1.0, 2.0, 3.0, 4.0]
    annotations = [
        _ann(1, 6, [[*SQUARE, 99.0]]),  # odd count: pycocotools ignores the last value
        _ann(2, 6, [OTHER, bad_ring]),  # one bad ring: that ring is dropped, not the object
        _ann(3, 6.0, [[5.0, 40.0, 20.0, 40.0, 20.0, 55.0]], iscrowd="0"),
    ]
    path = _write(tmp_path, categories, annotations, images)
    path.write_text(path.read_text().replace('"id": 1,', '"id": 1.0,', 1))
    reference = COCO(str(path))  # pycocotools reads this file
    report = import_coco(project, path)
    assert not report.errors, report.messages
    assert report.annotations_imported == 3
    text = "\n".join(str(m) for m in report.messages)
    assert "odd number of coordinates" in text and "ring 2" in text and "converted" in text
    instances = project.image("img0.png").instances
    assert [i.category_id for i in instances] == [6, 6, 6] and instances[2].iscrowd == 0
    for inst, ann_id in zip(instances, (1, 2, 3), strict=True):
        ann = dict(reference.anns[ann_id])
        ann["segmentation"] = [r[: len(r) - len(r) % 2] for r in ann["segmentation"] if len(r) >= 6]
        expected = reference.annToMask(ann).astype(bool)
        assert np.array_equal(inst.mask.array(), expected), ann_id


def test_a_negative_category_id_is_refused_and_loses_no_category(tmp_path: Path) -> None:
    """Found by the fuzz test: a file's id -1 named like an unused project category removed that category
    (renumbered out of the way, then the re-insert with id -1 failed) and a ModelError escaped the import."""
    project = _folder(tmp_path, defaults=True)
    before = [(c.id, c.name) for c in project.categories]
    report = import_coco(project, _write(tmp_path, [{"id": -1, "name": "vehicle"}], [_ann(1, -1)]))
    assert [(c.id, c.name) for c in project.categories] == before
    assert any("non-negative" in m.message for m in report.errors)
    assert project.image("img0.png").instances == ()
