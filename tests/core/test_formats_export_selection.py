"""Issue 14: every format writes the images and categories COCO export writes (the same filter and order)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from annotator.core.coco import build_coco
from annotator.core.errors import ModelError
from annotator.core.formats.export import EXPORT_FORMATS, ExportOptions, export_dataset
from annotator.core.formats.selection import output_stems, select_for_export, split_train_val
from annotator.core.model import Project
from tests.core.export_fixtures import build


@pytest.mark.parametrize("images", ["annotated", "done", "all"])
def test_every_format_writes_the_images_coco_writes(tmp_path: Path, images: str) -> None:
    project = build(tmp_path / "project")
    coco, _ = build_coco(project, images=images, contiguous_ids=True)
    expected = [Path(i["file_name"]).stem for i in coco["images"]]
    selection = select_for_export(project, images)
    written = {}
    for name in EXPORT_FORMATS[1:]:
        out = tmp_path / name
        export_dataset(selection, out, ExportOptions(format=name, images=images))
        files = {"voc": out / "Annotations", "labelme": out}.get(name, out / "labels")
        written[name] = sorted(p.stem for p in files.iterdir() if p.suffix in {".txt", ".xml", ".json"})
    assert all(stems == sorted(expected) for stems in written.values()), written
    names = [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]
    data = yaml.safe_load((tmp_path / "yolo-seg" / "data.yaml").read_text())
    assert list(data["names"].values()) == names and list(data["names"]) == list(range(len(names)))
    assert (tmp_path / "voc" / "labels.txt").read_text().split()[1:] == names


def test_coco_through_the_common_entry_is_build_coco(tmp_path: Path) -> None:
    project = build(tmp_path / "project")
    report = export_dataset(select_for_export(project), tmp_path / "a.json", ExportOptions(mode="auto"))
    coco, expected = build_coco(project, "auto")
    assert report.summary() == expected.summary() and report.warnings == expected.warnings
    written = json.loads((tmp_path / "a.json").read_text())
    assert all(written[key] == coco[key] for key in ("images", "annotations", "categories"))
    assert report.path == tmp_path / "a.json"


def test_split_and_names_are_checked_and_stable(tmp_path: Path) -> None:
    names = [f"im{i}.png" for i in range(10)]
    val = split_train_val(names, 0.2, seed=1)
    assert len(val) == 2 and val == split_train_val(list(reversed(names)), 0.2, seed=1)
    assert len(split_train_val(names[:2], 0.01, seed=0)) == 1  # a split asked for is never empty
    with pytest.raises(ModelError):
        split_train_val(names, 1.0, seed=0)
    stems, notes = output_stems(["a/x.jpg", "a/x.png", "a_x.png", "A/X.tif"], flat=True)
    assert list(stems.values()) == ["a_x", "a_x_2", "a_x_3", "A_X_4"] and len(notes) == 3
    with pytest.raises(ModelError, match="images must be one of"):
        select_for_export(Project(tmp_path), "some")
