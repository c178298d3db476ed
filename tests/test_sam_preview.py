"""``sam_model.preview.predict_best``: the best candidate of a low-res decode, upscaled to a requested size, is
``predict``'s best mask at the image's size (SAM and SAM 2 reference models); other engines are not offered it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sam_model.classic.segmenter import ClassicSegmenter
from sam_model.engines import create_segmenter
from sam_model.errors import NoImageError
from sam_model.preview import predict_best, supports_preview

CASES = {"sam": ("sam", "sam_tiny_a.pth"), "sam2": ("sam2", "sam2_tiny_a.pth")}


def _load(shared: Path, which: str):
    folder, name = CASES[which]
    path = shared / "reference" / folder / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return create_segmenter(str(path), device="cpu", dtype="float32")


@pytest.mark.parametrize("which", sorted(CASES))
def test_best_mask_at_the_image_size_is_predicts(shared: Path, which: str) -> None:
    predictor = _load(shared, which)
    assert supports_preview(predictor)
    rng = np.random.default_rng(5)
    image = np.zeros((300, 420, 3), np.uint8)
    image[60:240, 90:330] = rng.integers(100, 255, (180, 240, 3), dtype=np.uint8)
    predictor.set_image(image)
    prompts = {
        "point_coords": np.array([[200.0, 150.0], [380.0, 40.0]], np.float32),
        "point_labels": np.array([1, 0]),
        "box": np.array([80, 50, 340, 250], np.float32),
    }
    masks, scores, logits = predictor.predict(**prompts, multimask_output=True)
    best = predict_best(predictor, **prompts, mask_input=None, multimask_output=True, size=(300, 420))
    assert best.index == int(np.argmax(scores))
    assert np.allclose(best.scores, scores, atol=1e-5) and np.allclose(best.low_res_logits, logits, atol=1e-4)
    assert best.mask.shape == (300, 420) and best.mask.dtype == bool
    assert np.mean(best.mask != masks[best.index]) < 1e-3  # the same upscaling, float rounding aside
    half = predict_best(predictor, **prompts, mask_input=logits[:1], multimask_output=False, size=(150, 210))
    assert half.mask.shape == (150, 210) and half.scores.shape == (1,)


def test_without_an_image_or_on_another_engine(shared: Path) -> None:
    predictor = _load(shared, "sam")
    with pytest.raises(NoImageError):
        predict_best(
            predictor,
            point_coords=np.array([[1.0, 1.0]]),
            point_labels=np.array([1]),
            box=None,
            mask_input=None,
            multimask_output=True,
            size=(10, 10),
        )
    assert not supports_preview(ClassicSegmenter())
