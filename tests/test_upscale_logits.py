"""``upscale_logits`` (OpenCV) against PyTorch's two ``interpolate`` calls, including more masks than OpenCV
takes channels in one call (128 in OpenCV 5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam_model.transforms import upscale_logits


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
