"""``main.py import FOLDER PATH [--format ...]`` for YOLO, VOC and labelme (issue 14, item 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from annotator.cli import main
from annotator.core.project_store import ProjectStore
from tests.core.formats_helpers import PENTAGON, project_with_images
from tests.core.test_formats_import_labelme import write_set
from tests.core.test_formats_import_voc import write_voc
from tests.core.test_formats_import_yolo import SEG, seg_line, write_yolo

ROOT = Path(__file__).resolve().parents[2]


def _count(folder: Path) -> int:
    return sum(1 for _ in ProjectStore.open(folder).project.iter_instances())


@pytest.mark.parametrize(
    ("fmt", "write", "objects"),
    [
        ("yolo-seg", lambda root: write_yolo(root, SEG), 5),
        ("voc", lambda root: write_voc(root / "data")[0], 5),
        ("labelme", lambda root: write_set(root / "lm"), 7),
    ],
)
def test_cli_imports_each_format_detected_and_twice_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, write, objects: int
) -> None:
    project_with_images(tmp_path, ["img0.png", "img1.png"])
    path = write(tmp_path)
    status = main(["import", str(tmp_path), str(path)])
    out = capsys.readouterr().out
    assert f"{fmt}: " in out and f"{objects} annotations imported" in out, out
    assert status == (1 if fmt == "labelme" else 0)  # labelme: a line and a point are not importable
    assert _count(tmp_path) == objects
    main(["import", str(tmp_path), str(path), "--format", fmt])
    assert f"0 annotations imported, {objects} already in the project" in capsys.readouterr().out
    assert _count(tmp_path) == objects


def test_cli_yolo_det_format_and_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project_with_images(tmp_path, ["img0.png", "img1.png"])
    ds = write_yolo(tmp_path, SEG)
    assert main(["import", str(tmp_path), str(ds / "data.yaml"), "--format", "yolo-det"]) == 0
    assert "yolo-det: " in capsys.readouterr().out
    assert all(i.box is not None for i in ProjectStore.open(tmp_path).project.iter_instances())
    (tmp_path / "nothing").mkdir()
    assert main(["import", str(tmp_path), str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nothing: no dataset recognised" in err and len(err.splitlines()) == 1
    assert main(["import", str(tmp_path), str(tmp_path / "nothing"), "--format", "voc"]) == 2
    assert "not a VOC dataset" in capsys.readouterr().err
    (ds / "data.yaml").write_text("names: [unclosed\n")
    assert main(["import", str(tmp_path), str(ds)]) == 2
    err = capsys.readouterr().err
    assert "data.yaml: not valid YAML" in err and "Traceback" not in err
    assert main(["import", str(tmp_path), str(tmp_path / "missing")]) == 2
    assert "missing: not found" in capsys.readouterr().err


def test_cli_import_of_a_dataset_loads_no_torch(tmp_path: Path) -> None:
    project_with_images(tmp_path, ["img0.png"])
    ds = write_yolo(tmp_path, {"img0.png": [seg_line(0, PENTAGON[0])]})
    probe = "import sys; from annotator.cli import main; s = main(sys.argv[1:]); print('torch' in sys.modules); sys.exit(s)"
    env = dict(os.environ, PYTHONPATH=str(ROOT), SAM_ANNOTATOR_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-c", probe, "import", str(tmp_path), str(ds)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("False")


def test_format_choices_match_the_core() -> None:
    from annotator.cli.import_cmd import IMPORT_FORMATS
    from annotator.core.formats.detect import FORMATS

    assert IMPORT_FORMATS == FORMATS
