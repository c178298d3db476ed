"""Sam2Predictor as the app uses it: embeddings, stepped encoding, prompt checks, batched paths, the generator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam_model.errors import EmbeddingError, ImageError, NoImageError, PromptError
from sam_model.protocol import Segmenter, SteppedEncoder

CLICK = {"point_coords": np.array([[142.0, 179.1]]), "point_labels": np.array([1])}


@pytest.fixture()
def ready(sam2_ready):
    return sam2_ready


def test_is_a_segmenter_and_needs_an_image(sam2_predictor) -> None:
    assert isinstance(sam2_predictor, Segmenter) and isinstance(sam2_predictor, SteppedEncoder)
    assert not sam2_predictor.is_image_set
    with pytest.raises(NoImageError):
        sam2_predictor.predict(**CLICK)
    with pytest.raises(NoImageError):
        sam2_predictor.get_embedding()
    with pytest.raises(NoImageError):
        sam2_predictor.get_image_embedding()


def test_embedding_round_trip_gives_the_same_prediction(ready) -> None:
    before = ready.predict(**CLICK)
    embedding = ready.get_embedding()
    assert set(embedding.arrays) == {"image_embed", "high_res_feats_0", "high_res_feats_1"}
    assert embedding.input_size == (1024, 1024) and embedding.original_size == (398, 284)
    ready.reset_image()
    assert not ready.is_image_set
    ready.set_embedding(embedding)
    after = ready.predict(**CLICK)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def test_set_embedding_rejects_foreign_and_inconsistent(ready) -> None:
    good = ready.get_embedding()
    arrays = dict(good.arrays)
    bad = [
        dataclasses.replace(good, model_id="sam2.1_hiera_tiny-0000"),
        dataclasses.replace(good, arrays={"features": arrays["image_embed"]}),
        dataclasses.replace(good, arrays={k: v for k, v in arrays.items() if k != "high_res_feats_1"}),
        dataclasses.replace(good, arrays={**arrays, "high_res_feats_0": arrays["high_res_feats_0"][:, :16]}),
        dataclasses.replace(good, input_size=(1024, 732)),
        dataclasses.replace(good, original_size=(0, 284)),
    ]
    for embedding in bad:
        with pytest.raises(EmbeddingError):
            ready.set_embedding(embedding)
    assert ready.is_image_set  # a refused embedding leaves the current image alone


def test_encode_steps_leaves_current_image_and_equals_set_image(
    ready, sam2_arrays, sam2_e2e_embedding
) -> None:
    current = ready.get_embedding()  # upstream's stored features, not those of our encoder
    steps = ready.encode_steps(sam2_arrays["image"])
    count = 0
    try:
        while True:
            next(steps)
            count += 1
            assert not torch.is_inference_mode_enabled()
            assert ready.features is not None and ready.original_size == (398, 284)
    except StopIteration as stop:
        stepped = stop.value
    assert count > 1
    after = ready.get_embedding()
    for name, array in current.arrays.items():
        np.testing.assert_array_equal(after.arrays[name], array)
    direct = sam2_e2e_embedding  # set_image + get_embedding of the same image
    assert stepped.model_id == direct.model_id and stepped.original_size == direct.original_size
    assert stepped.input_size == direct.input_size
    for name, array in direct.arrays.items():
        np.testing.assert_array_equal(stepped.arrays[name], array)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"point_coords": [[1.0, 2.0]]},
        {"point_coords": [[1.0, 2.0, 3.0]], "point_labels": [1]},
        {"point_coords": [[1.0, 2.0]], "point_labels": [1, 0]},
        {"point_coords": [[np.nan, 2.0]], "point_labels": [1]},
        {"point_coords": [[1.0, 2.0]], "point_labels": [5]},
        {"box": [1.0, 2.0, 3.0]},
        {"box": [[1.0, 2.0, 3.0, np.inf]]},
        {"mask_input": np.zeros((1, 64, 64), np.float32)},
        {"mask_input": np.zeros((2, 2, 256, 256), np.float32)},
        {"mask_input": np.zeros((1, 256, 256), np.int32)},
        {"box": np.zeros((2, 4)), "point_coords": np.zeros((3, 1, 2)), "point_labels": np.ones((3, 1))},
    ],
)
def test_bad_prompts_raise_prompt_error(ready, kwargs) -> None:
    with pytest.raises(PromptError):
        ready.predict(**kwargs)


def test_bad_images_raise_image_error(sam2_predictor) -> None:
    for image in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(ImageError):
            sam2_predictor.set_image(image)
        with pytest.raises(ImageError):
            next(sam2_predictor.encode_steps(image))


def test_predict_torch_in_input_frame_equals_predict(ready) -> None:
    masks, scores, logits = ready.predict(**CLICK, box=np.array([42.6, 79.6, 227.2, 338.3]))
    coords = ready.transform.apply_coords(CLICK["point_coords"], ready.original_size)
    box = ready.transform.apply_boxes(np.array([42.6, 79.6, 227.2, 338.3]), ready.original_size)
    t_masks, t_scores, t_logits = ready.predict_torch(
        torch.tensor(coords, dtype=torch.float32)[None],
        torch.tensor([[1]]),
        torch.tensor(box, dtype=torch.float32),
    )
    np.testing.assert_array_equal(t_masks[0].numpy(), masks)
    np.testing.assert_allclose(t_scores[0].numpy(), scores, atol=1e-6)
    np.testing.assert_allclose(t_logits[0].numpy(), logits, atol=1e-5)
    assert logits.max() <= 32.0 and logits.min() >= -32.0


def test_upscale_is_a_direct_bilinear_resize(ready) -> None:
    low = torch.randn(2, 3, 256, 256)
    expected = F.interpolate(low, ready.original_size, mode="bilinear", align_corners=False)
    torch.testing.assert_close(ready.upscale_masks(low), expected, atol=1e-3, rtol=0)


def test_filtered_decoding_keeps_what_full_decoding_gives(ready) -> None:
    grid = np.stack(np.meshgrid(np.linspace(20, 1000, 3), np.linspace(20, 1000, 3)), -1).reshape(-1, 1, 2)
    points = (torch.tensor(grid, dtype=torch.float32), torch.ones(len(grid), 1, dtype=torch.int64))
    low_res, iou = ready.decode_low_res(points, None, None, multimask_output=True)
    threshold = float(iou.median())
    kept, iou_f, keep = ready.decode_low_res_filtered(
        points, None, None, multimask_output=True, iou_threshold=threshold
    )
    torch.testing.assert_close(iou_f, iou)
    assert torch.equal(keep, iou > threshold) and 0 < len(kept) < iou.numel()
    torch.testing.assert_close(kept, low_res[keep], atol=1e-4, rtol=0)


def test_automatic_mask_generator_runs_on_sam2(sam2_predictor, sam2_arrays) -> None:
    from sam_model.automatic.generator import AutomaticMaskGenerator

    generator = AutomaticMaskGenerator(
        sam2_predictor, points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0
    )
    records = generator.generate(sam2_arrays["image"])
    assert records
    for record in records:
        assert record["segmentation"].shape == (398, 284) and record["area"] > 0
    # a record's mask is what a click at its point gives: the generator maps prompts into SAM 2's square frame
    # and upscales the logits straight to the image, as the predictor does
    best = records[0]
    sam2_predictor.set_image(sam2_arrays["image"])
    masks, _, _ = sam2_predictor.predict(
        point_coords=np.array(best["point_coords"]), point_labels=np.array([1]), multimask_output=True
    )
    ious = [(m & best["segmentation"]).sum() / (m | best["segmentation"]).sum() for m in masks]
    assert max(ious) >= 0.995
