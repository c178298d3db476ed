"""Presets and configs: the official state-dict layout (on the meta device, no memory) and custom configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sam_model.errors import ArchitectureMismatchError
from sam_model.sam.build import build_sam, check_architecture, detect_preset, expected_shapes
from sam_model.sam.config import PRESETS, SamConfig


@pytest.fixture(scope="module")
def official_shapes(sam_reference: Path) -> dict[str, dict[str, list[int]]]:
    return json.loads((sam_reference / "official_state_dict_shapes.json").read_text())


def _meta_state_dict(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h"])
def test_preset_matches_official_layout(name: str, official_shapes: dict[str, dict[str, list[int]]]) -> None:
    shapes = official_shapes[name]
    model = build_sam(name, device="meta")
    ours = {key: list(t.shape) for key, t in model.state_dict().items()}
    assert ours == shapes
    result = model.load_state_dict(_meta_state_dict(shapes), strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    state = _meta_state_dict(shapes)
    assert detect_preset(state) == name


def test_other_preset_is_named_in_mismatch(official_shapes: dict[str, dict[str, list[int]]]) -> None:
    state = _meta_state_dict(official_shapes["vit_l"])
    with pytest.raises(ArchitectureMismatchError, match="vit_l") as info:
        check_architecture(state, PRESETS["vit_b"], path="sam_vit_l_0b3195.pth")
    assert "sam_vit_l_0b3195.pth" in str(info.value)
    assert "image_encoder.pos_embed" in str(info.value)


def test_detect_preset_rejects_partial_and_custom(official_shapes: dict[str, dict[str, list[int]]]) -> None:
    state = _meta_state_dict(official_shapes["vit_b"])
    state.pop("mask_decoder.iou_token.weight")
    assert detect_preset(state) is None
    assert detect_preset({"foo": torch.zeros(1)}) is None


SMALL = SamConfig(
    name="small",
    image_size=256,
    patch_size=16,
    encoder_embed_dim=32,
    encoder_depth=3,
    encoder_num_heads=2,
    encoder_global_attn_indexes=(1,),
    encoder_window_size=5,
    prompt_embed_dim=64,
    decoder_mlp_dim=128,
    decoder_num_heads=4,
    decoder_depth=1,
    mask_in_chans=8,
    iou_head_hidden_dim=32,
    num_multimask_outputs=3,
    iou_head_depth=2,
)


def test_custom_config_forward_shapes() -> None:
    torch.manual_seed(0)
    model = build_sam(SMALL)
    assert detect_preset(model.state_dict()) is None
    image = torch.rand(3, 256, 192) * 255  # grid 16 x 16 tokens; window 5 pads to 20 x 20
    points = torch.tensor([[[30.0, 40.0], [100.0, 120.0]]])
    out = model(
        [
            {
                "image": image,
                "original_size": (512, 384),
                "point_coords": points,
                "point_labels": torch.tensor([[1, 0]]),
                "boxes": torch.tensor([[10.0, 10.0, 150.0, 200.0]]),
                "mask_inputs": torch.zeros(1, 1, 64, 64),
            }
        ],
        multimask_output=True,
    )[0]
    assert out["masks"].shape == (1, 3, 512, 384) and out["masks"].dtype == torch.bool
    assert out["iou_predictions"].shape == (1, 3)
    assert out["low_res_logits"].shape == (1, 3, 64, 64)
    assert torch.isfinite(out["low_res_logits"]).all()


def test_reference_config_fields_build(sam_reference: Path) -> None:
    spec = json.loads((sam_reference / "sam_tiny_a.json").read_text())
    cfg = SamConfig.from_dict(spec["config"], name="tiny")
    model = build_sam(cfg, device="meta")
    state = model.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == expected_shapes(cfg)
    check_architecture(state, cfg, path="sam_tiny_a.pth")
    assert detect_preset(state) is None
    assert state["image_encoder.blocks.1.attn.rel_pos_h"].shape == (127, 24)
    assert state["image_encoder.blocks.0.attn.rel_pos_h"].shape == (27, 24)
