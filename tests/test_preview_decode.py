"""The hover preview's low-res decode for SAM-family engines (``workers.preview_decode``): the best candidate's
logits upscaled straight to the preview's size give ``predict``'s mask (exactly at 1:1, scaled down otherwise),
without upscaling every candidate to the full image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.workers.preview_decode import decodes_low_res, hover_answer
from annotator.workers.requests import DecodeRequest
from sam_model.engines import create_segmenter
from tests.ui.fakes import DiscSegmenter


@pytest.fixture(scope="module", params=["sam", "sam2"])
def engine(request, shared: Path):
    folder, name = {"sam": ("sam", "sam_tiny_a.pth"), "sam2": ("sam2", "sam2_tiny_a.pth")}[request.param]
    path = shared / "reference" / folder / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    segmenter = create_segmenter(str(path), device="cpu", dtype="float32")
    rng = np.random.default_rng(3)
    image = np.zeros((480, 800, 3), np.uint8)  # coarser logits than pixels, as on real images
    image[120:360, 160:480] = rng.integers(120, 255, (240, 320, 3), dtype=np.uint8)
    segmenter.set_image(image)
    return segmenter


def _request(scale: float | None, *, points=((320.0, 240.0),), labels=(1,), box=None, multimask=True):
    return DecodeRequest(
        "img",
        1,
        np.asarray(points, np.float32),
        np.asarray(labels, np.int32),
        None if box is None else np.asarray(box, np.float32),
        None,
        multimask,
        hover=True,
        outline_scale=scale,
    )


def _predicted(segmenter, request: DecodeRequest, mask_input=None):
    masks, scores, logits = segmenter.predict(
        point_coords=request.points,
        point_labels=request.labels,
        box=request.box,
        mask_input=mask_input,
        multimask_output=request.multimask,
    )
    best = int(np.argmax(scores))
    return masks[best], scores[best], logits[best]


def test_at_one_to_one_the_preview_is_predicts_best_mask(engine) -> None:
    assert decodes_low_res(engine)
    request = _request(None)
    answer = hover_answer(engine, request, None)
    mask, score, logits = _predicted(engine, request)
    assert answer.hover and answer.preview is not None and answer.masks.shape == (1, 480, 800)
    assert np.isclose(answer.scores[0], score, atol=1e-5)
    assert np.allclose(answer.low_res_logits[0], logits, atol=1e-4)
    assert np.mean(answer.masks[0] != mask) < 1e-3  # the same upscaling (float rounding aside)


def test_a_scaled_preview_is_the_mask_at_the_views_resolution(engine) -> None:
    prompts = {"points": ((320.0, 240.0), (600.0, 80.0)), "labels": (1, 0), "box": (120, 80, 520, 400)}
    request = _request(0.5, multimask=False, **prompts)
    answer = hover_answer(engine, request, None)
    mask, _score, logits = _predicted(engine, request)
    assert answer.masks.shape == (1, 240, 400) and answer.preview.image_size == (480, 800)
    blocks = mask.reshape(240, 2, 400, 2)  # the image pixels under each preview pixel
    inside, outside = blocks.all(axis=(1, 3)), ~blocks.any(axis=(1, 3))
    assert inside.any() and outside.any()
    preview = answer.masks[0]
    # Where the full mask does not change under a preview pixel, the preview says the same (edges may differ).
    assert np.mean(preview[inside]) > 0.99 and np.mean(preview[outside]) < 0.01
    # The next-point preview sends the current object's logits, as the click would.
    with_logits = hover_answer(engine, _request(0.5), logits[None])
    assert with_logits.masks.shape == (1, 240, 400)


def test_other_engines_go_through_predict() -> None:
    segmenter = DiscSegmenter(radius=8)
    segmenter.set_image(np.zeros((40, 60, 3), np.uint8))
    assert not decodes_low_res(segmenter)
    answer = hover_answer(segmenter, _request(0.5, points=((30.0, 20.0),)), None)
    assert answer.masks.shape == (1, 20, 30) and answer.masks[0, 10, 15] and not answer.masks[0, 0, 0]
    assert len(segmenter.calls) == 1


def test_the_preview_decodes_on_one_thread_and_restores_the_count(engine, monkeypatch) -> None:
    import torch

    seen: list[int] = []
    real = engine.decode_low_res

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "decode_low_res", spy)
    before = torch.get_num_threads()
    hover_answer(engine, _request(0.5), None)
    assert seen == [1] and torch.get_num_threads() == before
