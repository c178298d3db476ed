"""benchmarks.models: the quick path of our side on a tiny SAM, the report, and the upstream helpers that need no
upstream checkout (YAML reader, instantiation, torchvision / timm stand-ins)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks import models, models_upstream
from benchmarks.models_report import agreement, render


def _side(encode_s: float, click_ms: float) -> dict[str, float]:
    return {
        "encode_s": encode_s,
        "encoder_gflop": 40.0,
        "gflops_achieved": 40.0 / encode_s,
        "click_ms": click_ms,
        "peak_rss_mib": 500.0,
    }


def _results(families: dict) -> dict:
    return {
        "command": "python -m benchmarks.models",
        "date_utc": "2026-12-01 00:00",
        "cpu": {"model": "Test CPU", "logical_cpus": 2, "flags": {"avx2": True, "avx512f": False}},
        "torch": torch.__version__,
        "threads": 2,
        "image": "/x/person3.jpg",
        "gemm_peak_gflops_start": 100.0,
        "gemm_peak_gflops_end": 80.0,
        "load_average_end": [0.5, 0.4, 0.3],
        "families": families,
    }


def test_render_ratios_targets_and_notes() -> None:
    text = render(
        _results(
            {
                "vit_t": {"ours": _side(1.0, 10.0), "upstream": _side(4.0, 15.0)},
                "sam2.1_hiera_tiny": {
                    "ours": _side(2.0, 12.0),
                    "upstream": None,
                    "upstream_note": "no checkout",
                },
                "vit_b": {"ours": {"error": "boom"}, "upstream": None, "upstream_note": "not run"},
            }
        )
    )
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "0.25x (<= 0.5: met)" in rows["vit_t"]
    assert "0.67x (<= 0.5: NOT met)" in rows["vit_t"]
    assert "40 (40 %)" in rows["vit_t"]  # 40 GFLOP/s against the better of the two GEMM figures
    assert "n/a (<= 0.6)" in rows["sam2.1_hiera_tiny"]
    assert "- vit_b, ours: FAILED: boom" in text
    assert "- sam2.1_hiera_tiny: upstream column empty: no checkout" in text
    assert "Test CPU" in text and "avx2" in text


def test_agreement_of_identical_and_different_outputs(tmp_path: Path) -> None:
    masks = np.zeros((3, 4, 5), bool)
    masks[:, :2] = True
    logits = np.ones((3, 8, 8), np.float32)
    np.savez(tmp_path / "a.npz", masks=masks, scores=np.ones(3), low_res=logits)
    np.savez(tmp_path / "b.npz", masks=masks, scores=np.ones(3), low_res=logits)
    other = masks.copy()
    other[0] = ~other[0]
    np.savez(tmp_path / "c.npz", masks=other, scores=np.zeros(3), low_res=logits + 0.5)
    same = agreement(tmp_path / "a.npz", tmp_path / "b.npz")
    assert same == {"max_low_res_logit_diff": 0.0, "max_score_diff": 0.0, "min_mask_iou": 1.0}
    diff = agreement(tmp_path / "a.npz", tmp_path / "c.npz")
    assert diff["min_mask_iou"] == 0.0 and diff["max_low_res_logit_diff"] == pytest.approx(0.5)


def test_read_yaml_subset_and_instantiate(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "# @package _global_\n"
        "model:\n"
        "  _target_: types.SimpleNamespace\n"
        "  trunk:\n"
        "    _target_: types.SimpleNamespace\n"
        "    stages: [1, 2, 7, 2]  # comment\n"
        "    scale: null\n"
        "  flag: True\n"
        "  rate: 1e-6\n"
        "  name: nearest\n"
    )
    tree = models_upstream.read_yaml(path)
    assert tree["model"]["trunk"] == {
        "_target_": "types.SimpleNamespace",
        "stages": [1, 2, 7, 2],
        "scale": None,
    }
    built = models_upstream.instantiate(tree["model"])
    assert built.trunk.stages == [1, 2, 7, 2] and built.flag is True
    assert built.rate == pytest.approx(1e-6) and built.name == "nearest"
    path.write_text("model:\n  - a\n")
    with pytest.raises(models_upstream.UpstreamError, match="unsupported YAML"):
        models_upstream.read_yaml(path)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_stand_ins_do_what_upstream_expects() -> None:
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    tensor = models_upstream._ToTensor()(image)
    assert tensor.shape == (3, 30, 40) and float(tensor.max()) <= 1.0
    resize = torch.jit.script(models_upstream._Resize((16, 16)))  # SAM2Transforms scripts it
    assert resize(tensor).shape == (3, 16, 16)
    pil = models_upstream._resize(models_upstream._to_pil_image(image), [20, 10])
    assert np.asarray(pil).shape == (20, 10, 3)
    installed = models_upstream.install_stand_ins()
    try:
        for name in installed:
            assert sys.modules[name].__spec__ is not None
    finally:
        for name in installed:
            sys.modules.pop(name, None)


def test_register_package_rejects_a_wrong_folder(tmp_path: Path) -> None:
    with pytest.raises(models_upstream.UpstreamError, match="mobile_sam/modeling"):
        models_upstream.register_package("mobilesam", tmp_path)


@pytest.mark.slow
def test_quick_run_of_our_side_on_a_tiny_sam(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for env in models.ENV.values():
        monkeypatch.delenv(env, raising=False)
    image = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "out.json"
    argv = ["--quick", "--families", "tiny", "--clicks", "1", "--image", str(image), "--out", str(out)]
    argv += ["--upstream-sam", str(tmp_path / "absent")]
    assert models.main(argv) == 0
    results = json.loads(out.read_text())
    ours = results["families"]["tiny"]["ours"]
    assert ours["image_hw"] == [48, 64] and ours["encode_runs"] == 1 and ours["click_runs"] == 1
    assert ours["encoder_gflop"] > 0 and ours["peak_rss_mib"] > 0
    assert results["families"]["tiny"]["upstream"] is None
    assert "no checkout at" in results["families"]["tiny"]["upstream_note"]
    assert results["gemm_peak_gflops_start"] > 0
