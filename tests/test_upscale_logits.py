"""``upscale_logits`` (OpenCV) against PyTorch's two ``interpolate`` calls, including more masks than OpenCV
takes channels in one call (128 in OpenCV 5)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam_model.transforms import get_preprocess_shape, upscale_logits


@pytest.mark.parametrize(
    ("n", "input_size", "original_size"), [(3, (1024, 768), (600, 450)), (300, (768, 1024), (48, 64))]
)
def test_upscale_matches_torch(n: int, input_size: tuple[int, int], original_size: tuple[int, int]) -> None:
    logits = np.random.default_rng(0).standard_normal((n, 256, 256)).astype(np.float32) * 5
    ref = F.interpolate(torch.from_numpy(logits)[None], (1024, 1024), mode="bilinear", align_corners=False)
    ref = ref[..., : input_size[0], : input_size[1]]
    ref = F.interpolate(ref, original_size, mode="bilinear", align_corners=False)[0].numpy()
    out = upscale_logits(logits, 1024, input_size, original_size)
    assert out.shape == (n, *original_size) and out.dtype == np.float32
    assert np.abs(out - ref).max() <= 1e-3


def _two_steps_in_full(
    logits: np.ndarray, image_size: int, input_size: tuple[int, int], original_size: tuple[int, int]
) -> np.ndarray:
    """The plain OpenCV two steps: the whole low-res grid enlarged to ``image_size``, cropped, resized."""
    chunk = np.ascontiguousarray(logits.transpose(1, 2, 0))
    up = cv2.resize(chunk, (image_size, image_size), interpolation=cv2.INTER_LINEAR)
    up = up.reshape(image_size, image_size, -1)[: input_size[0], : input_size[1]]
    down = cv2.resize(up, (original_size[1], original_size[0]), interpolation=cv2.INTER_LINEAR)
    return down.reshape(original_size[0], original_size[1], -1).transpose(2, 0, 1)


@pytest.mark.parametrize(
    "original_size", [(600, 450), (450, 600), (333, 1000), (1000, 333), (17, 1200), (1200, 1), (256, 256)]
)
def test_enlarging_only_the_cropped_cells_changes_nothing(original_size: tuple[int, int]) -> None:
    """The first step enlarges only the cells under the crop (plus one): the same numbers as the full grid,
    for every aspect ratio, including a crop that ends inside a cell (1024 * 333 / 1000 = 341 pixels)."""
    logits = np.random.default_rng(1).standard_normal((3, 256, 256)).astype(np.float32) * 8
    input_size = get_preprocess_shape(*original_size, 1024)
    out = upscale_logits(logits, 1024, input_size, original_size)
    np.testing.assert_allclose(
        out, _two_steps_in_full(logits, 1024, input_size, original_size), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize(("image_size", "input_size"), [(1024, (1024, 768)), (256, (256, 256))])
def test_threshold_gives_the_masks_of_the_logits(image_size: int, input_size: tuple[int, int]) -> None:
    """``threshold``: bool masks equal to thresholding the returned logits (SAM's frame and SAM 2's square)."""
    logits = np.random.default_rng(2).standard_normal((3, 256, 256)).astype(np.float32) * 8
    out = upscale_logits(logits, image_size, input_size, (600, 450), threshold=0.5)
    assert out.dtype == np.bool_ and out.shape == (3, 600, 450)
    np.testing.assert_array_equal(out, upscale_logits(logits, image_size, input_size, (600, 450)) > 0.5)
    assert 0 < out.mean() < 1
