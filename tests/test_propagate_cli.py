"""Propagation of a project object to other images: the core API and ``main.py propagate`` (tiny SAM)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annotator.cli import main as cli_main
from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.images import load_image
from annotator.core.masks import Mask
from annotator.core.model import Project
from annotator.core.project_store import default_project_file, save_project
from annotator.core.propagation import (
    PropagationOptions,
    SamRequiredError,
    cached_image_setter,
    propagate_instance,
)
from sam_model.persam.multi import SearchOptions, StopReason

TARGETS = ("sheep.jpg", "banana1.bmp")


@pytest.fixture(scope="module")
def project_dir(grabcut_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the llama (reference, one annotated object) and two target images, saved as a project."""
    root = tmp_path_factory.mktemp("propagate") / "images"
    root.mkdir()
    for name in ("llama.bmp", *TARGETS):
        shutil.copy(grabcut_dir / "images" / name, root / name)
    project = Project(root)
    category = project.add_category("llama")
    for name in ("llama.bmp", *TARGETS):
        rgb = load_image(root / name).rgb
        project.add_image(name, rgb.shape[1], rgb.shape[0])
    mask = np.asarray(Image.open(grabcut_dir / "masks" / "llama.bmp").convert("L")) > 127
    instance = project.new_instance(Mask.from_array(mask), category.id, source="manual")
    project.add_instance("llama.bmp", instance)
    save_project(project, default_project_file(root))
    assert instance.id == 1
    return root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))  # never the user's real settings
    return tmp_path / "home"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedding-cache")


def _run(project_dir: Path, out: Path, checkpoint: Path, cache_dir: Path, *extra: str) -> int:
    return cli_main(
        [
            "propagate",
            str(project_dir),
            "--ref",
            "llama.bmp",
            "--instance",
            "1",
            "--out",
            str(out),
            "--checkpoint",
            str(checkpoint),
            "--device",
            "cpu",
            "--cache-dir",
            str(cache_dir),
            "--min-similarity",
            "-1",
            "--max-instances",
            "2",
            *extra,
        ]
    )


@pytest.mark.parametrize("fine_tune", [False, True])
def test_cli_writes_coco_proposals(
    project_dir: Path,
    sam_reference: Path,
    cache_dir: Path,
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fine_tune: bool,
) -> None:
    out = tmp_path / "out" / "proposals.json"
    extra = ("--fine-tune",) if fine_tune else ()
    assert _run(project_dir, out, sam_reference / "sam_tiny_a.pth", cache_dir, *extra) == 0
    err = capsys.readouterr().err
    assert "2/2" in err and "wrote" in err
    assert not [p for p in out.parent.iterdir() if p.name != out.name]  # no temporary file left

    coco = COCO(str(out))
    names = {img["file_name"] for img in coco.dataset["images"]}
    assert names == set(TARGETS)  # the reference is never a target
    assert [c["name"] for c in coco.dataset["categories"]] == ["llama"]
    anns = coco.dataset["annotations"]
    assert 2 <= len(anns) <= 4  # one or two objects per image (--max-instances 2)
    source = "persam-f" if fine_tune else "persam"
    for ann in anns:
        img = coco.imgs[ann["image_id"]]
        mask = coco.annToMask(ann)
        assert mask.shape == (img["height"], img["width"])
        assert ann["area"] == int(mask.sum()) > 0
        assert ann["bbox"] == [int(v) for v in mask_utils.toBbox(ann["segmentation"])]
        assert ann["iscrowd"] == 0 and ann["category_id"] == 1 and ann["source"] == source
        assert isinstance(ann["segmentation"]["counts"], str)
        assert 0.0 <= ann["score"] <= 1.0
        prov = ann["provenance"]
        assert prov["ref_image"] == "llama.bmp" and prov["ref_instance_id"] == 1
        assert prov["stop_reason"] in {r.value for r in StopReason}
    raw = json.loads(out.read_text())
    assert [a["id"] for a in raw["annotations"]] == list(range(1, len(anns) + 1))


def test_cli_needs_a_sam_checkpoint(
    project_dir: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.json"
    base = ["propagate", str(project_dir), "--ref", "llama.bmp", "--instance", "1", "--out", str(out)]
    assert cli_main(base) == 2  # nothing configured
    assert "needs a SAM checkpoint" in capsys.readouterr().err
    assert cli_main([*base, "--checkpoint", "classic"]) == 2
    assert "needs a SAM checkpoint" in capsys.readouterr().err
    assert not out.exists()


def test_api_engine_check_progress_cancel_and_errors(
    project_dir: Path, sam_reference: Path, cache_dir: Path
) -> None:
    from annotator.core.project_store import load_project
    from sam_model.build import load_predictor
    from sam_model.classic.segmenter import ClassicSegmenter

    project = load_project(default_project_file(project_dir), root=project_dir)
    with pytest.raises(SamRequiredError, match="SAM checkpoint"):
        propagate_instance(project, ClassicSegmenter(), "llama.bmp", 1)

    predictor = load_predictor(sam_reference / "sam_tiny_a.pth", device="cpu")
    setter = cached_image_setter(predictor, EmbeddingCache(cache_dir, 10**9))
    calls: list[tuple[int, int]] = []
    outcomes = list(
        propagate_instance(
            project,
            predictor,
            "llama.bmp",
            1,
            options=PropagationOptions(search=SearchOptions(max_instances=1, min_similarity=-1.0)),
            set_image=setter,
            progress=lambda done, total: calls.append((done, total)),
            cancel=lambda: len(calls) >= 2,  # after the reference and the first target
        )
    )
    assert calls == [(0, 2), (1, 2)]
    assert [o.file_name for o in outcomes] == [TARGETS[0]]
    (only,) = outcomes
    assert only.error is None and only.stop_reason == StopReason.MAX_INSTANCES.value
    (proposal,) = only.proposals
    assert proposal.category_id == 1 and proposal.source == "persam"
    draft = proposal.to_draft()
    assert draft.mask.shape == load_image(project_dir / TARGETS[0]).rgb.shape[:2]

    # An unreadable target is reported in its outcome and the rest continue.
    (project_dir / TARGETS[1]).rename(project_dir / "moved.bmp")
    try:
        results = list(
            propagate_instance(
                project,
                predictor,
                "llama.bmp",
                1,
                targets=[TARGETS[1]],
                options=PropagationOptions(search=SearchOptions(max_instances=1, min_similarity=2.0)),
                set_image=setter,
            )
        )
    finally:
        (project_dir / "moved.bmp").rename(project_dir / TARGETS[1])
    assert len(results) == 1 and results[0].error is not None and TARGETS[1] in results[0].error
    with pytest.raises(Exception, match="no instance 99"):
        propagate_instance(project, predictor, "llama.bmp", 99)
