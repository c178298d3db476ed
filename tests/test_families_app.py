"""Everything above the model with every family's reference checkpoint: loading through the CLI helper,
block-by-block prefetch through the SteppedEncoder protocol, the disk cache round trip of every array,
identification for the model manager, and PerSAM's answer. A family whose code is not in this build is
skipped with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.cli.model_options import load_engine
from annotator.core.embedding_cache import EmbeddingCache, image_key
from annotator.core.model_checks import identify_checkpoint
from annotator.core.propagation import persam_unavailable_reason
from annotator.workers.prefetch import encode_steps, needs_restore, run_to_end

FAMILIES = {
    "sam": ("sam/sam_tiny_a.pth", {"features"}),
    "mobilesam": ("mobilesam/mobilesam_a.pth", {"features"}),
    "sam2": (
        "sam2/sam2_tiny_a.pth",
        {"image_embed", "high_res_feats_0", "high_res_feats_1"},
    ),
}

PRESETS = {"sam": "custom", "mobilesam": "vit_t", "sam2": "custom"}
"""What the model manager calls each reference: MobileSAM's is the official architecture (random weights)."""


def _checkpoint(shared: Path, family: str) -> Path:
    relative, _arrays = FAMILIES[family]
    path = shared / "reference" / relative
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_works_above_the_model(shared: Path, tmp_path: Path, family: str) -> None:
    path = _checkpoint(shared, family)
    predictor = load_engine(path, device="cpu", dtype="float32")
    rng = np.random.default_rng(5)
    current = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    other = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    predictor.set_image(current)
    click = (np.array([[20.0, 20.0]]), np.array([1]))
    before = predictor.predict(*click)[0]

    assert not needs_restore(predictor), "the family implements SteppedEncoder"
    steps = encode_steps(predictor, other)
    next(steps)
    np.testing.assert_array_equal(predictor.predict(*click)[0], before)  # the user's image is untouched
    embedding = run_to_end(steps)
    assert set(embedding.arrays) == FAMILIES[family][1]
    assert embedding.model_id == predictor.model_id

    cache = EmbeddingCache(tmp_path / "cache", 64 * 2**20)
    key = image_key(other)
    assert cache.put(key, embedding)
    restored = cache.get(key, predictor.model_id)
    assert restored is not None
    for name, array in embedding.arrays.items():
        np.testing.assert_array_equal(restored.arrays[name], array)
    predictor.set_embedding(restored)
    from_cache = predictor.predict(*click)
    predictor.set_image(other)
    fresh = predictor.predict(*click)
    np.testing.assert_allclose(from_cache[2], fresh[2], atol=1e-3)

    assert identify_checkpoint(path) == PRESETS[family]
    reason = persam_unavailable_reason(predictor)
    if family == "sam2":
        assert reason is not None and "SAM 2" in reason
    else:
        assert reason is None
