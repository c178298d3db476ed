"""Stepped encoding: ``forward_steps`` equals ``forward`` for the ViT and TinyViT encoders, and
``SamPredictor.encode_steps`` equals ``set_image`` + ``get_embedding`` (float32 and bfloat16) without touching the
current image."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import pytest
import torch

from sam_model.errors import ImageError
from sam_model.protocol import ImageEmbedding, SteppedEncoder
from sam_model.sam.build import build_sam
from sam_model.sam.config import SamConfig, TinyViTConfig
from sam_model.sam.predictor import SamPredictor

# Small architectures with the same structure as the presets (256-pixel input, 16 x 16 embedding grid).
SMALL_VIT = SamConfig(
    name="small-vit",
    image_size=256,
    encoder_embed_dim=32,
    encoder_depth=3,
    encoder_num_heads=2,
    encoder_global_attn_indexes=(1,),
    encoder_window_size=5,
)
SMALL_TINY_VIT = SamConfig(
    name="small-tiny-vit",
    image_size=256,
    tiny_vit=TinyViTConfig(
        embed_dims=(16, 32, 40, 48), depths=(1, 2, 2, 1), num_heads=(1, 2, 2, 3), window_sizes=(7, 7, 5, 7)
    ),
)
CONFIGS = {"vit": SMALL_VIT, "tiny_vit": SMALL_TINY_VIT}


def _run(steps: Generator[None, None, object]) -> tuple[object, int]:
    count = 0
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value, count
        count += 1


def _randomise_batchnorm(model: torch.nn.Module) -> None:
    """Fresh BatchNorms are identities: give them statistics so the folded path does something."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=gen) + 0.5)


def _model(kind: str, dtype: str = "float32") -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_sam(CONFIGS[kind], dtype=dtype)
    _randomise_batchnorm(model)
    return model


@pytest.mark.parametrize("kind", ["vit", "tiny_vit"])
def test_forward_steps_equal_forward(kind: str) -> None:
    encoder = _model(kind).image_encoder
    x = torch.randn(2, 3, 256, 256)
    with torch.inference_mode():
        whole = encoder(x)
        stepped, count = _run(encoder.forward_steps(x))
    assert isinstance(stepped, torch.Tensor) and stepped.shape == (2, 256, 16, 16)
    assert torch.equal(stepped, whole)
    # one step per block and one for the stem / patch embedding at least
    blocks = 3 if kind == "vit" else sum(SMALL_TINY_VIT.tiny_vit.depths)  # type: ignore[union-attr]
    assert count == blocks + 1


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("kind", ["vit", "tiny_vit"])
def test_encode_steps_equal_set_image(kind: str, dtype: str) -> None:
    predictor = SamPredictor(_model(kind, dtype), model_id=f"{kind}-test")
    assert isinstance(predictor, SteppedEncoder)
    rng = np.random.default_rng(0)
    current = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (70, 110, 3), dtype=np.uint8)
    predictor.set_image(current)
    before = predictor.get_embedding()

    steps = predictor.encode_steps(other)
    assert not torch.is_inference_mode_enabled()
    first = next(steps)  # between steps the caller's grad mode is its own
    assert first is None and not torch.is_inference_mode_enabled()
    embedding, count = _run(steps)
    assert isinstance(embedding, ImageEmbedding) and count >= 2

    # the current image is untouched
    after = predictor.get_embedding()
    assert after.original_size == before.original_size == (120, 90)
    np.testing.assert_array_equal(after.arrays["features"], before.arrays["features"])

    predictor.set_image(other)
    expected = predictor.get_embedding()
    assert embedding.model_id == expected.model_id
    assert embedding.original_size == expected.original_size == (70, 110)
    assert embedding.input_size == expected.input_size
    assert embedding.arrays["features"].dtype == np.float32
    np.testing.assert_array_equal(embedding.arrays["features"], expected.arrays["features"])


def test_encode_steps_checks_the_image_at_once() -> None:
    predictor = SamPredictor(_model("tiny_vit"), model_id="t")
    with pytest.raises(ImageError):
        predictor.encode_steps(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ImageError):
        predictor.encode_steps(np.zeros((10, 10, 3), dtype=np.float32))


def test_compiled_encoder_runs_in_one_step() -> None:
    """A compiled encoder is only trusted whole: one step, still the same numbers (stand-in: a marker)."""
    model = _model("vit")
    predictor = SamPredictor(model, model_id="v")
    image = np.random.default_rng(1).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    predictor.set_image(image)
    expected = predictor.get_embedding().arrays["features"]
    model.image_encoder._compiled_call_impl = model.image_encoder.forward  # what nn.Module.compile sets
    embedding, count = _run(predictor.encode_steps(image))
    assert count == 1
    assert isinstance(embedding, ImageEmbedding)
    np.testing.assert_array_equal(embedding.arrays["features"], expected)
