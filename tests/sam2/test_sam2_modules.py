"""SAM 2's decoder pieces on random weights: the fused upscaling with high-res features against plain
convolutions, the stability choice, the shared transformer's MLP key layout and box corners as points."""

from __future__ import annotations

import torch

from sam_model.sam.prompt_encoder import PromptEncoder
from sam_model.sam.transformer import TwoWayTransformer
from sam_model.sam2.mask_decoder import Sam2MaskDecoder


def _decoder() -> Sam2MaskDecoder:
    torch.manual_seed(0)
    decoder = Sam2MaskDecoder(
        transformer_dim=32,
        transformer=TwoWayTransformer(depth=1, embedding_dim=32, num_heads=2, mlp_dim=64, mlp_keys="layers"),
        use_high_res_features=True,
        iou_prediction_use_sigmoid=True,
        pred_obj_scores=True,
        pred_obj_scores_mlp=True,
        dynamic_multimask_via_stability=True,
    )
    with torch.no_grad():
        for p in decoder.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return decoder.eval()


def test_fused_upscaling_with_high_res_equals_plain_convolutions() -> None:
    decoder = _decoder()
    b, h, w = 2, 4, 5
    src_tokens = torch.randn(b, h * w, 32)
    tokens = torch.randn(b, 4, 32)
    s0, s1 = torch.randn(1, 4, 4 * h, 4 * w), torch.randn(1, 8, 2 * h, 2 * w)
    got = decoder.masks_from_tokens(tokens, src_tokens, (h, w), high_res=decoder.prepare_high_res(s0, s1))
    # upstream's NCHW arithmetic
    dc1, ln1, act1, dc2, act2 = decoder.output_upscaling
    src = src_tokens.transpose(1, 2).reshape(b, 32, h, w)
    up = act2(dc2(act1(ln1(dc1(src) + s1))) + s0)
    hyper = torch.stack([mlp(tokens[:, i]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], 1)
    expected = (hyper @ up.flatten(2)).view(b, 4, 4 * h, 4 * w)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_single_mask_output_follows_stability() -> None:
    decoder = _decoder()
    masks = torch.zeros(2, 4, 8, 8)
    masks[0, 0] = 5.0  # stable token 0: kept
    masks[1, 0] = 0.01  # inside +-delta everywhere: unstable -> best multimask candidate
    masks[:, 1:] = torch.arange(1, 4, dtype=torch.float32).view(1, 3, 1, 1)
    iou = torch.tensor([[0.1, 0.2, 0.9, 0.3], [0.1, 0.2, 0.3, 0.9]])
    out, scores = decoder.select_outputs(masks, iou, multimask_output=False)
    assert out.shape == (2, 1, 8, 8)
    assert torch.equal(out[0, 0], masks[0, 0]) and torch.equal(out[1, 0], masks[1, 3])
    assert torch.equal(scores, iou[[0, 1], [0, 3]].view(2, 1))
    multi, multi_scores = decoder.select_outputs(masks, iou, multimask_output=True)
    assert torch.equal(multi, masks[:, 1:]) and torch.equal(multi_scores, iou[:, 1:])
    decoder.dynamic_multimask_via_stability = False
    first, _ = decoder.select_outputs(masks, iou, multimask_output=False)
    assert torch.equal(first, masks[:, :1])


def test_decoder_keys_and_outputs() -> None:
    decoder = _decoder()
    keys = set(decoder.state_dict())
    assert {
        "obj_score_token.weight",
        "conv_s0.weight",
        "conv_s1.bias",
        "pred_obj_score_head.layers.2.bias",
    } <= keys
    assert "transformer.layers.0.mlp.layers.1.weight" in keys and not any("lin1" in k for k in keys)
    image = torch.randn(1, 32, 4, 4)
    sparse, dense = torch.randn(3, 2, 32), torch.randn(3, 32, 4, 4)
    high_res = decoder.prepare_high_res(torch.randn(1, 4, 16, 16), torch.randn(1, 8, 8, 8))
    masks, iou = decoder(image, torch.randn(1, 32, 4, 4), sparse, dense, True, high_res=high_res)
    assert masks.shape == (3, 3, 16, 16) and iou.shape == (3, 3)
    assert ((iou > 0) & (iou < 1)).all()  # sigmoid IoU head
    hs, _, _ = decoder.run_transformer(image, torch.randn(1, 32, 4, 4), sparse, dense)
    assert decoder.object_scores(hs).shape == (3, 1)


def test_transformer_mlp_key_layouts_compute_the_same() -> None:
    torch.manual_seed(1)
    sam = TwoWayTransformer(depth=2, embedding_dim=32, num_heads=2, mlp_dim=64)
    sam2 = TwoWayTransformer(depth=2, embedding_dim=32, num_heads=2, mlp_dim=64, mlp_keys="layers")
    renamed = {
        k.replace("mlp.lin1", "mlp.layers.0").replace("mlp.lin2", "mlp.layers.1"): v
        for k, v in sam.state_dict().items()
    }
    sam2.load_state_dict(renamed, strict=True)
    args = (torch.randn(2, 32, 4, 4), torch.randn(1, 32, 4, 4), torch.randn(2, 5, 32))
    for a, b in zip(sam(*args), sam2(*args), strict=True):
        torch.testing.assert_close(a, b)


def test_points_labelled_2_and_3_embed_as_box_corners() -> None:
    torch.manual_seed(2)
    encoder = PromptEncoder(
        embed_dim=32, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=8
    )
    box = torch.tensor([[3.0, 5.0, 40.0, 50.0]])
    via_box, _ = encoder(None, box, None)
    via_points, _ = encoder((box.view(1, 2, 2), torch.tensor([[2, 3]])), None, None)
    assert via_points.shape == (1, 3, 32)  # the two corners and the padding point
    torch.testing.assert_close(via_points[:, :2], via_box)
    torch.testing.assert_close(via_points[0, 2], encoder.not_a_point_embed.weight[0])
