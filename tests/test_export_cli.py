"""Issue 14: ``main.py export FOLDER --format ... --out PATH`` for every format, its option checks, and no torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.cli import main
from annotator.cli.export_cmd import FORMAT_CHOICES
from annotator.core.formats.export import EXPORT_FORMATS
from annotator.core.project_store import ProjectStore
from tests.core.export_fixtures import fill
from tests.test_cli_startup import _probe


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    store = ProjectStore.open(folder)
    fill(store.project)
    store.save()
    store.close()
    return folder


def test_the_cli_offers_every_format_and_the_readme_lists_them() -> None:
    assert FORMAT_CHOICES == EXPORT_FORMATS and EXPORT_FORMATS[0] == "coco"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in EXPORT_FORMATS)


@pytest.mark.parametrize("name", ["yolo-seg", "yolo-det", "voc", "labelme"])
def test_each_folder_format(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    out = tmp_path / name
    assert main(["export", str(folder), "--format", name, "--out", str(out), "--val-fraction", "0"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}: {name}: 2 images" in captured.out
    assert "object 9: a crowd region" in captured.err and "empty mask, not written" in captured.err
    assert any(out.iterdir())
    assert main(["export", str(folder), "--format", name, "--out", str(out)]) == 2  # not empty now
    assert "not empty" in capsys.readouterr().err
    assert (
        main(["export", str(folder), "--format", name, "--out", str(out), "--overwrite", "--copy-images"])
        == 0
    )


def test_coco_stays_the_default(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "coco.json"
    assert main(["export", str(folder), "--out", str(out), "--contiguous-ids"]) == 0
    data = json.loads(out.read_text())
    assert [c["id"] for c in data["categories"]] == [1, 2, 3] and len(data["images"]) == 2
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "yolo-seg", "--segmentation", "rle"], "--segmentation applies to --format coco only"),
        (["--format", "voc", "--contiguous-ids"], "--contiguous-ids applies to --format coco only"),
        (["--val-fraction", "0.2"], "apply to the folder formats only"),
        (["--format", "yolo-det", "--val-fraction", "1.5"], "--val-fraction must be in [0, 1)"),
    ],
)
def test_options_that_do_not_fit_the_format_are_refused(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["export", str(folder), "--out", str(tmp_path / "x"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_folder_export_runs_without_torch(folder: Path, tmp_path: Path) -> None:
    done = _probe(["export", str(folder), "--format", "yolo-seg", "--out", str(tmp_path / "yolo")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1].split()[1:] == ["False", "False"]  # no torch, no Qt widgets
