"""One loader for every family: identification from the state dict, configs (explicit or a sidecar NAME.json),
refusal of non-preset architectures without one, and SAM 2 through the same loader."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from annotator.core.model_checks import identify_checkpoint
from sam_model.build import ModelIdentity, check_checkpoint, identify, load_predictor
from sam_model.checkpoint import file_sha256, load_state_dict_file
from sam_model.errors import ArchitectureMismatchError, CheckpointError, ModelConfigError, SamModelError
from sam_model.protocol import ImageEmbedding
from sam_model.sam.predictor import SamPredictor


@pytest.fixture(scope="module")
def tiny(sam_reference: Path) -> dict[str, Any]:
    spec = json.loads((sam_reference / "sam_tiny_a.json").read_text())
    arrays = np.load(sam_reference / "sam_tiny_a.npz")
    return {"spec": spec, "z": {k: arrays[k] for k in arrays.files}, "pth": sam_reference / "sam_tiny_a.pth"}


@pytest.fixture()
def lone_copy(tmp_path: Path, tiny: dict[str, Any]) -> Path:
    """The tiny reference weights without their sidecar JSON."""
    path = tmp_path / "my_sam.pth"
    shutil.copyfile(tiny["pth"], path)
    return path


def _point_case_error(predictor: SamPredictor, tiny: dict[str, Any]) -> float:
    """Max abs low-res logit difference against upstream for the ``point`` case, from the stored features."""
    z, case = tiny["z"], tiny["spec"]["cases"]["point"]
    h, w = (int(v) for v in z["input_tensor_shape"])
    predictor.set_embedding(
        ImageEmbedding(predictor.model_id, z["image"].shape[:2], (h, w), {"features": z["features"]})
    )
    _, _, low_res = predictor.predict(
        point_coords=np.array(case["point_coords"]),
        point_labels=np.array(case["point_labels"]),
        multimask_output=case["multimask_output"],
    )
    return float(np.abs(low_res - z["point/low_res_logits"]).max())


def test_identify_families(sam_reference: Path, tiny: dict[str, Any]) -> None:
    shapes = json.loads((sam_reference / "official_state_dict_shapes.json").read_text())
    for name in ("vit_b", "vit_l", "vit_h"):
        state = {k: torch.empty(v, device="meta") for k, v in shapes[name].items()}
        assert identify(state) == ModelIdentity(family="sam", version="1", preset=name)
    custom = identify(load_state_dict_file(tiny["pth"]))
    assert custom == ModelIdentity(family="sam", version="1", preset=None)
    assert custom.label == "SAM 1 (custom architecture)"
    assert ModelIdentity("mobilesam", "1", "vit_t").label == "MobileSAM vit_t"
    assert ModelIdentity("sam2", "2.1", "sam2.1_hiera_tiny").label == "SAM 2.1 sam2.1_hiera_tiny"
    with pytest.raises(ArchitectureMismatchError) as info:
        identify({"backbone.conv.weight": torch.zeros(1)}, path="other.pth")
    assert "other.pth" in str(info.value) and "backbone.conv.weight" in str(info.value)


def test_non_preset_without_config_is_refused(lone_copy: Path) -> None:
    """Shapes cannot tell the decoder's head count: the loader no longer guesses it."""
    for attempt in (load_predictor, check_checkpoint):
        with pytest.raises(ArchitectureMismatchError) as info:
            attempt(lone_copy)
        message = str(info.value)
        assert info.value.path == str(lone_copy)
        for words in ("my_sam.pth", "no official preset", "NAME.json", "config=", "decoder_num_heads"):
            assert words in message, message
    with pytest.raises(CheckpointError):
        identify_checkpoint(lone_copy)


def test_config_makes_the_tiny_reference_load(
    lone_copy: Path, sam_reference: Path, tiny: dict[str, Any]
) -> None:
    digest = file_sha256(lone_copy)[:16]
    json_path = sam_reference / "sam_tiny_a.json"
    for config in (json_path, str(json_path), {"config": tiny["spec"]["config"]}, tiny["spec"]["config"]):
        predictor = load_predictor(lone_copy, device="cpu", config=config)
        assert isinstance(predictor, SamPredictor)
        assert predictor.model_id == f"custom-{digest}"
        assert predictor.model.mask_decoder.transformer.layers[0].self_attn.num_heads == 8
        assert _point_case_error(predictor, tiny) <= 1e-3
    assert check_checkpoint(lone_copy, config=json_path).preset is None


def test_sidecar_json_is_used(lone_copy: Path, sam_reference: Path, tiny: dict[str, Any]) -> None:
    shutil.copyfile(sam_reference / "sam_tiny_a.json", lone_copy.with_suffix(".json"))
    predictor = load_predictor(lone_copy, device="cpu")
    assert isinstance(predictor, SamPredictor)
    assert _point_case_error(predictor, tiny) <= 1e-3
    assert identify_checkpoint(lone_copy) == "custom"
    # the reference folder itself holds sidecars: the app and tests load the file directly
    assert load_predictor(tiny["pth"], device="cpu").model_id.startswith("custom-")


def test_wrong_head_count_is_what_guessing_gave(lone_copy: Path, tiny: dict[str, Any]) -> None:
    """A config that says 4 decoder heads loads (shapes agree) but decodes differently: the silent failure the
    refusal prevents."""
    config = dict(tiny["spec"]["config"], decoder_num_heads=4)
    predictor = load_predictor(lone_copy, device="cpu", config=config)
    assert isinstance(predictor, SamPredictor)
    assert _point_case_error(predictor, tiny) > 1e-2


def test_bad_configs_name_their_file(lone_copy: Path, tiny: dict[str, Any], tmp_path: Path) -> None:
    sidecar = lone_copy.with_suffix(".json")
    sidecar.write_text("{not json")
    with pytest.raises(ModelConfigError) as info:
        load_predictor(lone_copy, device="cpu")
    assert info.value.path == str(sidecar) and "unreadable" in str(info.value)
    sidecar.write_text(json.dumps({"config": dict(tiny["spec"]["config"], encoder_heads=3)}))
    with pytest.raises(ModelConfigError, match="encoder_heads"):
        load_predictor(lone_copy, device="cpu")
    sidecar.write_text(json.dumps({"config": dict(tiny["spec"]["config"], tiny_vit={})}))
    with pytest.raises(ModelConfigError, match="tiny_vit image encoder"):
        load_predictor(lone_copy, device="cpu")
    sidecar.write_text(json.dumps({"notes": "not a configuration"}))  # ignored: still no config
    with pytest.raises(ArchitectureMismatchError, match="no official preset"):
        load_predictor(lone_copy, device="cpu")
    with pytest.raises(ModelConfigError, match="not found"):
        load_predictor(lone_copy, device="cpu", config=tmp_path / "missing.json")
    wrong = dict(tiny["spec"]["config"], encoder_depth=3)
    with pytest.raises(ArchitectureMismatchError, match=re.escape("unexpected key 'image_encoder.blocks.3")):
        load_predictor(lone_copy, device="cpu", config=wrong)


def test_mobilesam_loads_without_config_and_ignores_reference_json(shared: Path, tmp_path: Path) -> None:
    """``mobilesam_a.json`` (no ``config`` object) sits next to the weights: a preset needs none."""
    pth = shared / "reference" / "mobilesam" / "mobilesam_a.pth"
    if not pth.is_file():
        pytest.skip("MobileSAM reference not found")
    identity = check_checkpoint(pth)
    assert identity == ModelIdentity("mobilesam", "1", "vit_t")
    copy = tmp_path / "mobile_sam.pt"
    shutil.copyfile(pth, copy)
    assert identify_checkpoint(copy) == "vit_t"
    copy.with_suffix(".json").write_text(json.dumps({"config": {"image_size": 1024}}))
    with pytest.raises(ModelConfigError, match='add a "tiny_vit" object'):
        check_checkpoint(copy)


def test_sam2_through_the_one_loader(shared: Path, tmp_path: Path) -> None:
    from sam_model.sam2.predictor import Sam2Predictor

    ref = shared / "reference" / "sam2"
    path = tmp_path / "sam2_tiny_a.pth"
    shutil.copy(ref / "sam2_tiny_a.pth", path)
    identity = identify(load_state_dict_file(path), path=path)
    assert identity == ModelIdentity("sam2", "2.1", None), "a narrow trunk is no official preset"
    with pytest.raises(ArchitectureMismatchError, match=re.escape("NAME.json")):
        check_checkpoint(path)
    with pytest.raises(ArchitectureMismatchError, match=re.escape("NAME.json")):
        load_predictor(path, device="cpu")
    spec = json.loads((ref / "sam2_tiny_a.json").read_text())
    path.with_suffix(".json").write_text(json.dumps({"model": spec["model"]}))  # the sidecar
    predictor = load_predictor(path, device="cpu", dtype="float32")
    assert isinstance(predictor, Sam2Predictor)
    assert predictor.model_id == f"custom-{file_sha256(path)[:16]}"
    arrays = np.load(ref / "sam2_tiny_a.npz")
    predictor.set_image(arrays["image"])
    case = spec["cases"]["box"]
    masks, _, _ = predictor.predict(box=np.array(case["box"]), multimask_output=False)
    expected = arrays["box/masks"]
    iou = (masks & expected).sum() / max(1, (masks | expected).sum())
    assert iou >= 0.95
    with pytest.raises(SamModelError, match="compile"):
        load_predictor(path, device="cpu", compile=True)
