"""SAM 2 builder: official key tables for all eight presets, preset detection, strict loading, typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sam_model.errors import ArchitectureMismatchError, SamModelError
from sam_model.sam2.build import (
    detect_sam2_preset,
    expected_sam2_shapes,
    is_sam2_state_dict,
    is_video_key,
    load_sam2_predictor,
)
from sam_model.sam2.config import PRESET_NAMES, Sam2Config, preset, preset_tree


@pytest.fixture(scope="module")
def official(sam2_reference: Path) -> dict[str, dict[str, list[int]]]:
    return json.loads((sam2_reference / "official_state_dict_shapes.json").read_text())


def _meta_state_dict(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(v, device="meta") for k, v in shapes.items()}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_presets_build_exactly_the_official_image_path(official, name) -> None:
    ours = expected_sam2_shapes(preset(name))
    table = {k: tuple(v) for k, v in official[name].items()}
    image_path = {k: v for k, v in table.items() if not is_video_key(k)}
    assert ours == image_path
    video = set(table) - set(ours)
    assert video and all(is_video_key(k) for k in video)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_detects_each_official_preset(official, name) -> None:
    state = _meta_state_dict(official[name])
    assert is_sam2_state_dict(state)
    assert detect_sam2_preset(state) == name


def test_detection_refuses_a_changed_preset(official) -> None:
    state = _meta_state_dict(official["sam2.1_hiera_small"])
    state["sam_mask_decoder.conv_s0.weight"] = torch.empty(16, 256, 1, 1, device="meta")
    assert detect_sam2_preset(state) is None
    assert not is_sam2_state_dict({"image_encoder.patch_embed.proj.weight": torch.empty(1)})


def test_loads_reference_strictly_with_its_config(sam2_state_dict, sam2_meta, sam2_reference) -> None:
    assert detect_sam2_preset(sam2_state_dict) is None  # a narrow trunk: not a preset
    predictor = load_sam2_predictor(sam2_state_dict, path="ref.pth", config=sam2_meta, model_id="sam2-ref")
    model = predictor.model
    assert all(p.dtype == torch.float32 and not p.is_meta for p in model.parameters())
    loaded = model.state_dict()
    for key, value in loaded.items():
        assert torch.equal(value, sam2_state_dict[key].float()), key
    skipped = set(sam2_state_dict) - set(loaded)
    assert skipped and all(is_video_key(k) for k in skipped)


def test_non_preset_without_config_is_refused(sam2_state_dict) -> None:
    with pytest.raises(ArchitectureMismatchError, match=r"ref\.pth.*configuration"):
        load_sam2_predictor(sam2_state_dict, path="ref.pth", model_id="x")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("drop", "sam_mask_decoder.pred_obj_score_head.layers.2.bias"),
        ("extra", "sam_mask_decoder.extra_head.weight"),
        ("shape", "sam_prompt_encoder.no_mask_embed.weight"),
        ("drop", "no_mem_embed"),
        ("drop", "image_encoder.neck.convs.0.conv.weight"),
    ],
)
def test_tampered_state_dict_names_key_and_file(sam2_state_dict, sam2_meta, change, named) -> None:
    state = dict(sam2_state_dict)
    if change == "drop":
        del state[named]
    elif change == "extra":
        state[named] = torch.zeros(1)
    else:
        state[named] = torch.zeros(1, 128)
    with pytest.raises(ArchitectureMismatchError) as info:
        load_sam2_predictor(state, path="/x/tampered.pt", config=sam2_meta["model"], model_id="x")
    assert named in str(info.value) and "/x/tampered.pt" in str(info.value)


def test_video_keys_are_optional_and_half_precision_gives_float32(sam2_state_dict, sam2_meta) -> None:
    state = {k: v.half() for k, v in sam2_state_dict.items() if not is_video_key(k)}
    predictor = load_sam2_predictor(state, path="half.pt", config=sam2_meta["model"], model_id="x")
    assert {p.dtype for p in predictor.model.parameters()} == {torch.float32}


def test_bfloat16_runs_encoder_in_bf16_and_returns_float32(sam2_state_dict, sam2_meta, sam2_arrays) -> None:
    predictor = load_sam2_predictor(
        sam2_state_dict, path="r.pt", config=sam2_meta["model"], dtype="bfloat16", model_id="x"
    )
    assert {p.dtype for p in predictor.model.image_encoder.parameters()} == {torch.bfloat16}
    assert predictor.model.sam_mask_decoder.conv_s0.weight.dtype == torch.float32
    predictor.set_image(sam2_arrays["image"])
    embedding = predictor.get_embedding()
    assert {a.dtype.name for a in embedding.arrays.values()} == {"float32"}
    masks, scores, logits = predictor.predict(point_coords=[[142.0, 179.1]], point_labels=[1])
    assert masks.shape == (3, 398, 284) and scores.dtype.name == "float32" and logits.dtype.name == "float32"


def test_config_from_tree(sam2_meta) -> None:
    cfg = Sam2Config.from_tree(sam2_meta)  # the reference JSON, holding {"model": ...}
    assert cfg.hidden_dim == 256 and cfg.image_size == 1024 and cfg.embedding_size == 64
    assert cfg.pred_obj_scores and cfg.use_high_res_features_in_sam and cfg.dynamic_multimask_via_stability
    assert cfg.multimask_min_pt_num == 0 and cfg.dynamic_multimask_stability_thresh == 0.98
    tree = dict(sam2_meta["model"], sam_mask_decoder_extra_args={"dynamic_multimask_via_stability": False})
    assert not Sam2Config.from_tree(tree).dynamic_multimask_via_stability
    with pytest.raises(SamModelError, match="pred_obj_scorez"):
        Sam2Config.from_tree(dict(sam2_meta["model"], pred_obj_scorez=True))
    with pytest.raises(SamModelError, match="iou_prediction_use_sigmoid"):
        Sam2Config.from_tree(dict(sam2_meta["model"], iou_prediction_use_sigmoid="yes"))
    with pytest.raises(SamModelError, match="image_encoder"):
        Sam2Config.from_tree({"image_size": 1024})
    assert preset("sam2_hiera_tiny") == preset("sam2.1_hiera_tiny")
    assert preset_tree("sam2.1_hiera_large")["image_encoder"]["trunk"]["embed_dim"] == 144
    with pytest.raises(SamModelError, match="unknown SAM 2 preset"):
        preset("sam2.1_hiera_huge")
