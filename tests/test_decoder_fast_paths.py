"""The decoders' per-image fast paths give the plain path's numbers (float rounding aside).

- :mod:`sam_model.sam.first_block`: the first two-way block's image side cached per image (no mask prompt);
- SAM 2's high-res levels with the upscaling biases folded in (``prepare_high_res(with_bias=True)``);
- :mod:`sam_model.allocator`.
Random weights and random embeddings (``set_embedding``): no encoder runs.
"""

from __future__ import annotations

import platform
import sys

import numpy as np
import pytest
import torch

from sam_model.allocator import keep_freed_memory
from sam_model.protocol import ImageEmbedding
from sam_model.sam.build import build_sam
from sam_model.sam.config import SamConfig
from sam_model.sam.predictor import SamPredictor

TOL = 1e-4


@pytest.fixture(scope="module")
def sam() -> SamPredictor:
    torch.manual_seed(0)
    config = SamConfig(
        name="tiny",
        encoder_embed_dim=32,
        encoder_depth=2,
        encoder_num_heads=2,
        encoder_global_attn_indexes=(1,),
    )
    return SamPredictor(build_sam(config), model_id="tiny-fast-paths")


def _set_random(predictor: SamPredictor, seed: int) -> None:
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((1, 256, 64, 64)).astype(np.float32)
    embedding = ImageEmbedding(
        model_id=predictor.model_id,
        original_size=(600, 450),
        input_size=(1024, 768),
        arrays={"features": features},
    )
    predictor.set_embedding(embedding)


def _prompts() -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Five prompts (one more than a CPU chunk): two points each and a box."""
    gen = torch.Generator().manual_seed(1)
    coords = torch.rand(5, 2, 2, generator=gen) * 700
    labels = torch.tensor([[1, 0], [1, 1], [0, 1], [1, -1], [1, 0]])
    boxes = torch.tensor([[10.0, 20.0, 300.0, 400.0]]).repeat(5, 1)
    return (coords, labels), boxes


def _plain_sam(predictor: SamPredictor, points, boxes, multimask: bool) -> tuple[torch.Tensor, torch.Tensor]:
    model = predictor.model
    sparse, dense = model.prompt_encoder(points, boxes, None)
    with torch.inference_mode():
        return model.mask_decoder(
            predictor.get_image_embedding(), model.prompt_encoder.get_dense_pe(), sparse, dense, multimask
        )


@pytest.mark.parametrize("multimask", [True, False])
def test_sam_first_block_cache_matches_the_plain_decoder(sam: SamPredictor, multimask: bool) -> None:
    _set_random(sam, 0)
    points, boxes = _prompts()
    low_res, iou = sam.decode_low_res(points, boxes, None, multimask_output=multimask)
    plain_low, plain_iou = _plain_sam(sam, points, boxes, multimask)
    assert low_res.shape == plain_low.shape == (5, 3 if multimask else 1, 256, 256)
    assert (low_res - plain_low).abs().max() <= TOL
    assert (iou - plain_iou).abs().max() <= TOL
    # The cache is in use (it was filled) and the filtered decode agrees too.
    assert sam._image_keys._value is not None
    kept, iou_f, keep = sam.decode_low_res_filtered(
        points, boxes, None, multimask_output=multimask, iou_threshold=-1e9
    )
    assert keep.all() and (kept - low_res.flatten(0, 1)).abs().max() <= TOL
    assert (iou_f - iou).abs().max() <= TOL


def test_sam_cache_follows_the_image_and_the_weights(sam: SamPredictor) -> None:
    points, boxes = _prompts()
    _set_random(sam, 0)
    sam.decode_low_res(points, boxes, None, multimask_output=True)
    _set_random(sam, 1)  # a new image: the cache is recomputed
    low_res, _ = sam.decode_low_res(points, boxes, None, multimask_output=True)
    assert (low_res - _plain_sam(sam, points, boxes, True)[0]).abs().max() <= TOL
    key_proj = sam.model.mask_decoder.transformer.layers[0].cross_attn_token_to_image.k_proj
    before = key_proj.weight.detach().clone()
    try:
        with torch.no_grad():
            key_proj.weight.mul_(1.5)  # weights edited in place: the cache notices
        low_res, _ = sam.decode_low_res(points, boxes, None, multimask_output=True)
        assert (low_res - _plain_sam(sam, points, boxes, True)[0]).abs().max() <= TOL
    finally:
        with torch.no_grad():
            key_proj.weight.copy_(before)


def test_sam_mask_prompt_and_persam_options_take_the_plain_path(sam: SamPredictor) -> None:
    _set_random(sam, 2)
    points, _ = _prompts()
    mask = torch.randn(5, 1, 256, 256)
    decoder, encoder = sam.model.mask_decoder, sam.model.prompt_encoder
    cache = sam._image_keys
    assert cache.get(decoder.transformer, encoder, sam.features, mask, torch.float32) is None
    low_res, _ = sam.decode_low_res(points, None, mask, multimask_output=True)
    model = sam.model
    sparse, dense = model.prompt_encoder(points, None, mask)
    with torch.inference_mode():
        plain, _ = model.mask_decoder(sam.features, model.prompt_encoder.get_dense_pe(), sparse, dense, True)
        # PerSAM's options with image keys given: the keys are ignored, the result is the plain one with options
        keys = cache.get(decoder.transformer, encoder, sam.features, None, torch.float32)
        target = torch.zeros(1, 1, 256)
        hs_a, src_a, _ = model.mask_decoder.run_transformer(
            sam.features, model.prompt_encoder.get_dense_pe(), sparse, dense, target_embedding=target
        )
        hs_b, src_b, _ = model.mask_decoder.run_transformer(
            sam.features,
            model.prompt_encoder.get_dense_pe(),
            sparse,
            dense,
            target_embedding=target,
            image_keys=keys,
        )
    assert (low_res - plain).abs().max() <= TOL
    assert torch.equal(hs_a, hs_b) and torch.equal(src_a, src_b)


def test_sam2_fast_paths_match_the_plain_decoder() -> None:
    from sam_model.sam2.build import build_sam2_model
    from sam_model.sam2.config import preset
    from sam_model.sam2.predictor import Sam2Predictor
    from sam_model.sam2.prompts import merge_points

    torch.manual_seed(0)
    model = build_sam2_model(preset("sam2.1_hiera_tiny")).float().eval()
    predictor = Sam2Predictor(model, model_id="sam2-fast-paths")
    rng = np.random.default_rng(3)
    arrays = {
        name: rng.standard_normal(shape).astype(np.float32)
        for name, shape in predictor._expected_shapes().items()
    }
    predictor.set_embedding(
        ImageEmbedding(
            model_id="sam2-fast-paths", original_size=(600, 450), input_size=(1024, 1024), arrays=arrays
        )
    )
    points, boxes = _prompts()
    for multimask in (True, False):
        low_res, iou = predictor.decode_low_res(points, boxes, None, multimask_output=multimask)
        decoder, encoder = model.sam_mask_decoder, model.sam_prompt_encoder
        sparse, dense = encoder(merge_points(points, boxes), None, None)
        with torch.inference_mode():
            high_res = decoder.prepare_high_res(*predictor.features.high_res_feats)
            plain_low, plain_iou = decoder(
                predictor.get_image_embedding(),
                encoder.get_dense_pe(),
                sparse,
                dense,
                multimask,
                high_res=high_res,
            )
        assert (low_res - plain_low).abs().max() <= TOL
        assert (iou - plain_iou).abs().max() <= TOL


def test_keep_freed_memory_is_idempotent() -> None:
    first = keep_freed_memory()
    assert keep_freed_memory() is first
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert first
