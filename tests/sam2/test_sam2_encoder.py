"""SAM 2 image encoder (Hiera trunk + FPN neck) against upstream's reference vectors and official key tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam_model.errors import SamModelError
from sam_model.sam2.hiera import max_pool_tokens
from sam_model.sam2.image_encoder import EncoderOutput, ImageEncoderConfig, build_image_encoder
from sam_model.sam2.image_encoder_presets import IMAGE_ENCODER_TREES, image_encoder_tree
from sam_model.sam2.neck import FpnNeck, FpnNeckConfig, SineEncodingConfig
from sam_model.sam2.position_encoding import PositionEmbeddingSine

PREFIX = "image_encoder."


@pytest.fixture(scope="module")
def reference_run(sam2_reference: Path):
    """The reference model's encoder with its weights, the full state dict, the arrays and one forward pass."""
    tree = json.loads((sam2_reference / "sam2_tiny_a.json").read_text())["model"]["image_encoder"]
    encoder = build_image_encoder(ImageEncoderConfig.from_tree(tree)).eval()
    state = torch.load(sam2_reference / "sam2_tiny_a.pth", map_location="cpu", weights_only=True)["model"]
    encoder.load_state_dict(
        {k[len(PREFIX) :]: v for k, v in state.items() if k.startswith(PREFIX)}, strict=True
    )
    arrays = np.load(sam2_reference / "sam2_tiny_a.npz")
    sample = torch.from_numpy(arrays["preprocessed"])
    with torch.inference_mode():
        output = encoder(sample)
    return encoder, state, arrays, sample, output


def test_encoder_matches_upstream_reference(reference_run) -> None:
    _encoder, state, arrays, _sample, out = reference_run
    assert isinstance(out, EncoderOutput)
    assert [tuple(f.shape) for f in out.backbone_fpn] == [
        (1, 256, 256, 256),
        (1, 256, 128, 128),
        (1, 256, 64, 64),
    ]
    assert [p.shape for p in out.vision_pos_enc] == [f.shape for f in out.backbone_fpn]
    assert out.vision_features is out.backbone_fpn[-1]
    embed = out.vision_features + state["no_mem_embed"].view(1, -1, 1, 1)
    s0 = F.conv2d(
        out.backbone_fpn[0], state["sam_mask_decoder.conv_s0.weight"], state["sam_mask_decoder.conv_s0.bias"]
    )
    s1 = F.conv2d(
        out.backbone_fpn[1], state["sam_mask_decoder.conv_s1.weight"], state["sam_mask_decoder.conv_s1.bias"]
    )
    for name, ours in (("image_embed", embed), ("high_res_feats_0", s0), ("high_res_feats_1", s1)):
        expected = torch.from_numpy(arrays[name])
        assert ours.shape == expected.shape, name
        assert (ours - expected).abs().max().item() <= 1e-3, name


def test_forward_steps_equal_forward(reference_run) -> None:
    encoder, _state, _arrays, sample, out = reference_run
    steps = encoder.forward_steps(sample)
    yields = 0
    with torch.inference_mode():
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                stepped = stop.value
                break
            yields += 1
    assert yields == 1 + len(encoder.trunk.blocks)  # patch embedding, then each block; the neck ends it
    assert isinstance(stepped, EncoderOutput)
    for ours, theirs in zip(stepped.backbone_fpn, out.backbone_fpn, strict=True):
        assert torch.equal(ours, theirs)
    for ours, theirs in zip(stepped.vision_pos_enc, out.vision_pos_enc, strict=True):
        assert torch.equal(ours, theirs)
    assert torch.equal(stepped.vision_features, out.vision_features)


def _official_tables(sam2_reference: Path) -> dict[str, dict[str, list[int]]]:
    return json.loads((sam2_reference / "official_state_dict_shapes.json").read_text())


def test_presets_build_every_official_checkpoint_layout(sam2_reference: Path) -> None:
    tables = _official_tables(sam2_reference)
    assert len(tables) == 8
    for name, table in tables.items():
        size = name.split("_hiera_")[1]
        expected = {k[len(PREFIX) :]: v for k, v in table.items() if k.startswith(PREFIX)}
        with torch.device("meta"):
            encoder = build_image_encoder(ImageEncoderConfig.from_tree(image_encoder_tree(size)))
        ours = {k: list(v.shape) for k, v in encoder.state_dict().items()}
        assert ours == expected, name


def test_preset_trees_are_the_official_sizes() -> None:
    assert set(IMAGE_ENCODER_TREES) == {"tiny", "small", "base_plus", "large"}
    blocks = {"tiny": 12, "small": 16, "base_plus": 24, "large": 48}
    for size, tree in IMAGE_ENCODER_TREES.items():
        config = ImageEncoderConfig.from_tree(tree)
        assert sum(config.trunk.stages) == blocks[size]
        assert config.scalp == 1 and config.neck.fpn_top_down_levels == (2, 3)
        assert config.neck.fpn_interp_model == "nearest"
    tree = image_encoder_tree("tiny")
    tree["trunk"]["embed_dim"] = 1
    assert IMAGE_ENCODER_TREES["tiny"]["trunk"]["embed_dim"] == 96  # a copy, not the shared preset
    with pytest.raises(SamModelError, match="huge"):
        image_encoder_tree("huge")


def test_upstream_defaults_fill_missing_trunk_fields() -> None:
    tree = image_encoder_tree("base_plus")
    trunk = tree["trunk"]
    for key in ("stages", "global_att_blocks", "window_pos_embed_bkg_spatial_size", "window_spec"):
        del trunk[key]  # as upstream's sam2.1_hiera_b+.yaml, which relies on Hiera's defaults
    assert ImageEncoderConfig.from_tree(tree) == ImageEncoderConfig.from_tree(image_encoder_tree("base_plus"))


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda t: t["trunk"].update(mystery=1), "image_encoder.trunk.mystery"),
        (lambda t: t.update(extra=1), "image_encoder.extra"),
        (lambda t: t["trunk"].update(embed_dim="96"), "image_encoder.trunk.embed_dim"),
        (lambda t: t["trunk"].update(stages=[1, 2, 7]), "image_encoder.trunk.window_spec"),
        (lambda t: t["trunk"].update(q_stride=[2]), "image_encoder.trunk.q_stride"),
        (lambda t: t["trunk"].update(weights_path="hiera.pt"), "image_encoder.trunk.weights_path"),
        (lambda t: t["trunk"].update(return_interm_layers=False), "return_interm_layers"),
        (lambda t: t["neck"].update(backbone_channel_list=[96, 192, 384, 768]), "backbone_channel_list"),
        (lambda t: t["neck"].update(fpn_interp_model="cubic"), "image_encoder.neck.fpn_interp_model"),
        (lambda t: t["neck"]["position_encoding"].update(num_pos_feats=255), "num_pos_feats"),
        (lambda t: t["neck"].pop("d_model"), "image_encoder.neck.d_model"),
        (lambda t: t.update(scalp=4), "image_encoder.scalp"),
    ],
)
def test_invalid_trees_name_the_field(edit, field: str) -> None:
    tree = image_encoder_tree("tiny")
    edit(tree)
    with pytest.raises(SamModelError, match=field.replace(".", r"\.")):
        ImageEncoderConfig.from_tree(tree)


@pytest.mark.parametrize("stride", [(2, 2), (3, 2), (1, 3)])
def test_query_pooling_equals_max_pool2d(stride: tuple[int, int]) -> None:
    x = torch.randn(2, 9, 7, 5)
    x[0, 1, 1, 0] = float("nan")
    expected = F.max_pool2d(x.permute(0, 3, 1, 2), kernel_size=stride, stride=stride).permute(0, 2, 3, 1)
    ours = max_pool_tokens(x, stride)
    assert ours.shape == expected.shape
    assert torch.equal(ours.nan_to_num(7.0), expected.nan_to_num(7.0))


def _small_encoder() -> torch.nn.Module:
    """The reference architecture with random weights (every parameter non-zero)."""
    tree = image_encoder_tree("tiny")
    tree["trunk"].update(embed_dim=8, num_heads=1, stages=[1, 1, 2, 1], global_att_blocks=[3])
    tree["neck"].update(d_model=16, backbone_channel_list=[64, 32, 16, 8])
    tree["neck"]["position_encoding"]["num_pos_feats"] = 16
    encoder = build_image_encoder(ImageEncoderConfig.from_tree(tree)).eval()
    torch.manual_seed(1)
    with torch.no_grad():
        for p in encoder.parameters():
            p.normal_(0, 0.3)
    return encoder


def test_inference_fast_paths_equal_the_autograd_path() -> None:
    encoder = _small_encoder()
    sample = torch.randn(1, 3, 128, 128)  # grids 32, 16, 8, 4: the 14-window pads the 8x8 stage
    with torch.inference_mode():
        fast = encoder(sample)
    slow = encoder(sample)  # autograd on: no in-place accumulation, no cache
    assert slow.vision_features.requires_grad
    for a, b in zip(fast.backbone_fpn, slow.backbone_fpn, strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-5)


def test_position_embedding_cache_follows_the_weights() -> None:
    encoder = _small_encoder()
    sample = torch.randn(1, 3, 128, 128)
    with torch.inference_mode():
        before = encoder(sample).vision_features.clone()
        again = encoder(sample).vision_features
    assert torch.equal(before, again)
    state = encoder.state_dict()
    state["trunk.pos_embed_window"] = torch.randn_like(state["trunk.pos_embed_window"])
    encoder.load_state_dict(state)
    with torch.inference_mode():
        changed = encoder(sample).vision_features
    reference = _small_encoder()
    reference.load_state_dict(state)
    with torch.inference_mode():
        fresh = reference(sample).vision_features
    assert not torch.allclose(before, changed)
    assert torch.equal(changed, fresh)


def test_sine_encoding_formula() -> None:
    feats, h, w = 8, 3, 5
    enc = PositionEmbeddingSine(num_pos_feats=feats, temperature=100, normalize=True)
    out = enc(torch.zeros(2, 1, h, w))
    assert out.shape == (2, feats, h, w)
    half = feats // 2
    for c in range(feats):
        k = c % half
        freq = 100 ** (2 * (k // 2) / half)
        for y in range(h):
            for x in range(w):
                p = (y + 1) / (h + 1e-6) if c < half else (x + 1) / (w + 1e-6)
                angle = p * 2 * math.pi / freq
                value = math.sin(angle) if k % 2 == 0 else math.cos(angle)
                assert abs(out[1, c, y, x].item() - value) < 1e-5
    raw = PositionEmbeddingSine(num_pos_feats=4, normalize=False)(torch.zeros(1, 1, 2, 2))
    assert raw[0, 0, 1, 0].item() == pytest.approx(math.sin(2.0))


@pytest.mark.parametrize(
    ("mode", "fuse", "levels"),
    [("bilinear", "avg", None), ("nearest", "sum", (0,)), ("nearest", "sum", (1,))],
)
def test_neck_top_down_fusion(mode: str, fuse: str, levels) -> None:
    torch.manual_seed(0)
    config = FpnNeckConfig(
        position_encoding=SineEncodingConfig(num_pos_feats=4),
        d_model=4,
        backbone_channel_list=(6, 3),
        fpn_interp_model=mode,
        fuse_type=fuse,
        fpn_top_down_levels=levels,
    )
    neck = FpnNeck(config=config)
    for p in neck.parameters():
        torch.nn.init.normal_(p)
    fine = torch.randn(1, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    coarse = torch.randn(1, 6, 4, 4)
    with torch.inference_mode():
        features, pos = neck([fine, coarse])
    slow, _ = neck([fine, coarse])  # autograd on: the convolution path
    for a, b in zip(features, slow, strict=True):
        torch.testing.assert_close(a, b.detach())
    top = F.conv2d(coarse, neck.convs[0].conv.weight, neck.convs[0].conv.bias)
    lateral = F.conv2d(fine, neck.convs[1].conv.weight, neck.convs[1].conv.bias)
    up = F.interpolate(top, scale_factor=2.0, mode=mode, align_corners=None if mode == "nearest" else False)
    fused = levels is None or 0 in levels  # otherwise the finest level keeps its lateral alone
    expected_fine = (lateral + up) / (2 if fuse == "avg" else 1) if fused else lateral
    torch.testing.assert_close(features[1], top)
    torch.testing.assert_close(features[0], expected_fine)
    assert pos[0].shape == (1, 4, 8, 8) and pos[1].shape == (1, 4, 4, 4)
