"""PerSAM against upstream Personalize-SAM's arrays on the tiny seeded weights
(../shared/reference/persam)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sam_model.errors import NoImageError, PromptError
from sam_model.persam import persam
from sam_model.persam.multi import SearchOptions, StopReason, find_instances
from sam_model.persam.persam_f import learn_mask_weights, segment_target_f
from sam_model.protocol import ImageEmbedding
from sam_model.sam.build import build_sam
from sam_model.sam.config import SamConfig
from sam_model.sam.predictor import SamPredictor
from sam_model.transforms import get_preprocess_shape

TINY_ID = "tiny-persam-test"


@pytest.fixture(scope="module")
def z(persam_reference: Path) -> dict[str, np.ndarray]:
    arrays = np.load(persam_reference / "persam_tiny_a.npz")
    return {k: arrays[k] for k in arrays.files}


@pytest.fixture(scope="module")
def model(sam_reference: Path) -> torch.nn.Module:
    spec = json.loads((sam_reference / "sam_tiny_a.json").read_text())
    return build_sam(
        SamConfig.from_dict(spec["config"], name="tiny"), checkpoint=sam_reference / "sam_tiny_a.pth"
    )


@pytest.fixture(scope="module")
def ref_predictor(model: torch.nn.Module, z: dict[str, np.ndarray]) -> SamPredictor:
    """A predictor holding the reference image, encoded end to end by our encoder."""
    predictor = SamPredictor(model, model_id=TINY_ID)
    predictor.set_image(z["ref_image"])
    return predictor


@pytest.fixture(scope="module")
def reference(ref_predictor: SamPredictor, z: dict[str, np.ndarray]) -> persam.PersamReference:
    return persam.learn_reference(ref_predictor, z["ref_mask"])


def _target_predictor(model: torch.nn.Module, z: dict[str, np.ndarray]) -> SamPredictor:
    """A predictor holding the reference ``test_features`` of the target image (no encoding)."""
    predictor = SamPredictor(model, model_id=TINY_ID)
    h, w = z["test_image"].shape[:2]
    predictor.set_embedding(
        ImageEmbedding(TINY_ID, (h, w), get_preprocess_shape(h, w, 1024), {"features": z["test_features"]})
    )
    return predictor


@pytest.fixture(scope="module")
def target(model: torch.nn.Module, z: dict[str, np.ndarray]) -> SamPredictor:
    return _target_predictor(model, z)


def test_reference_cells_and_embedding(reference: persam.PersamReference, z: dict[str, np.ndarray]) -> None:
    assert np.array_equal(reference.cells.numpy(), z["ref_cells"])
    diff = np.abs(reference.embedding.numpy() - z["target_embedding"]).max()
    assert reference.embedding.shape == (1, 1, 256)
    assert diff <= 1e-4, f"target embedding max abs diff {diff}"


def test_similarity_points_and_attention(target: SamPredictor, z: dict[str, np.ndarray]) -> None:
    sim = persam.similarity_map(target, torch.from_numpy(z["target_embedding"]))
    assert sim.shape == z["sim"].shape
    assert np.abs(sim.numpy() - z["sim"]).max() <= 1e-4
    points, labels = persam.location_prior(sim)
    assert np.array_equal(points, z["prompt_points"])
    assert np.array_equal(labels, z["prompt_labels"])
    attn = persam.attention_guidance(sim, (64, 64))
    assert attn.shape == (1, 1, 1, 4096)
    assert np.abs(attn.numpy() - z["attn_sim"]).max() <= 1e-4


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def test_steps_and_final_mask(target: SamPredictor, z: dict[str, np.ndarray]) -> None:
    result = persam.segment_target(target, torch.from_numpy(z["target_embedding"]))
    assert np.array_equal(result.points, z["prompt_points"])
    for step, name in zip(result.steps, ("step1", "step2", "step3"), strict=True):
        logits_diff = np.abs(step.logits.numpy() - z[f"{name}/logits"]).max()
        assert logits_diff <= 1e-3, f"{name} logits max abs diff {logits_diff}"
        assert np.abs(step.scores.numpy() - z[f"{name}/scores"]).max() <= 1e-4
    # The step masks on the image (thresholded upscaled logits) agree away from the threshold.
    step2_mask = persam.mask_of(target, result.steps[1])
    assert _iou(step2_mask, z["step2/masks"][int(np.argmax(z["step2/scores"]))]) >= 0.99
    assert result.box == tuple(int(v) for v in z["step3/box"])
    assert result.mask.shape == z["final_mask"].shape
    assert _iou(result.mask, z["final_mask"]) >= 0.99
    assert result.score == pytest.approx(float(z["step3/scores"].max()), abs=1e-4)


def test_guidance_changes_the_first_step(target: SamPredictor, z: dict[str, np.ndarray]) -> None:
    """Both options act: without them the first step is plain SAM and differs from upstream's step 1."""
    points, labels = z["prompt_points"], z["prompt_labels"]
    plain = persam.decode(target, points, labels, multimask_output=False)
    expected = z["step1/logits"]
    assert np.abs(plain.logits.numpy() - expected).max() > 1e-2
    attn = torch.from_numpy(z["attn_sim"])
    emb = torch.from_numpy(z["target_embedding"])
    only_attn = persam.decode(target, points, labels, multimask_output=False, attn_sim=attn)
    only_emb = persam.decode(target, points, labels, multimask_output=False, target_embedding=emb)
    for partial in (only_attn, only_emb):
        assert np.abs(partial.logits.numpy() - expected).max() > 1e-3


def test_options_off_are_plain_sam(
    model: torch.nn.Module, target: SamPredictor, z: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the options off the decoder is the plain one, bit for bit, and takes the fused attention path."""
    points, labels = z["prompt_points"], z["prompt_labels"]
    _, scores, low_res = target.predict(points, labels, multimask_output=True)
    ours = persam.decode(target, points, labels, multimask_output=True)
    assert np.array_equal(ours.logits.numpy(), low_res)
    assert np.array_equal(ours.scores.numpy(), scores)

    # A zero target embedding reduces the target-semantic arithmetic to plain SAM.
    zero = persam.decode(
        target, points, labels, multimask_output=True, target_embedding=torch.zeros(1, 1, 256)
    )
    assert np.abs(zero.logits.numpy() - low_res).max() <= 1e-5

    # Zero cost when off: the decoder runs exactly the plain path (same softmax calls as a call without the
    # keyword arguments); with attn_sim each block's token-to-image attention adds its second softmax.
    calls = {"n": 0}
    real_softmax = torch.softmax

    def counting_softmax(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls["n"] += 1
        return real_softmax(*args, **kwargs)

    monkeypatch.setattr(torch, "softmax", counting_softmax)
    sparse, dense = model.prompt_encoder(None, torch.tensor([[10.0, 20.0, 300.0, 400.0]]), None)
    with torch.inference_mode():
        model.mask_decoder(target.features, model.prompt_encoder.get_dense_pe(), sparse, dense, True)
    plain = calls["n"]
    calls["n"] = 0
    persam.decode(target, points, labels, multimask_output=True)
    assert calls["n"] == plain
    calls["n"] = 0
    persam.decode(target, points, labels, multimask_output=True, attn_sim=torch.from_numpy(z["attn_sim"]))
    assert calls["n"] == plain + len(model.mask_decoder.transformer.layers)


def test_errors(model: torch.nn.Module, z: dict[str, np.ndarray]) -> None:
    empty = SamPredictor(model, model_id=TINY_ID)
    with pytest.raises(NoImageError):
        persam.similarity_map(empty, torch.ones(1, 1, 256))
    predictor = _target_predictor(model, z)
    with pytest.raises(PromptError, match="shape"):
        persam.learn_reference(predictor, np.ones((10, 10), dtype=bool))
    tiny = np.zeros(z["test_image"].shape[:2], dtype=bool)
    tiny[0, 0] = True
    with pytest.raises(PromptError, match="no feature cell"):
        persam.learn_reference(predictor, tiny)
    assert persam.mask_box(np.zeros((4, 5), dtype=bool)) is None
    box_mask = np.zeros((6, 8), dtype=bool)
    box_mask[2:4, 1:7] = True
    assert persam.mask_box(box_mask) == (1, 2, 6, 3)


def test_persam_f_end_to_end(
    ref_predictor: SamPredictor,
    reference: persam.PersamReference,
    target: SamPredictor,
    z: dict[str, np.ndarray],
) -> None:
    with pytest.raises(PromptError, match="mask weights"):
        segment_target_f(target, reference)
    fitted, report = learn_mask_weights(ref_predictor, reference, z["ref_mask"])
    print(f"PerSAM-F fit on the reference ({report.size[1]}x{report.size[0]}): {report.seconds:.3f} s")
    assert fitted.mask_weights is not None and fitted.mask_weights.shape == (3,)
    assert float(fitted.mask_weights.sum()) == pytest.approx(1.0, abs=1e-5)
    assert max(report.size) == 128 and np.isfinite(report.loss)
    result = segment_target_f(target, fitted)
    assert result.mask.shape == z["test_image"].shape[:2]
    assert len(result.steps) == 3 and result.steps[0].logits.shape == (3, 256, 256)
    assert result.points.shape == (1, 2) and list(result.labels) == [1]
    # The positive point is the maximum of the blended feature's similarity.
    sim = persam.similarity_map(target, fitted.blend)
    assert float(sim[int(result.points[0, 1]), int(result.points[0, 0])]) == pytest.approx(float(sim.max()))


@pytest.mark.parametrize("fine_tune", [False, True])
def test_find_instances_on_model(
    ref_predictor: SamPredictor,
    reference: persam.PersamReference,
    target: SamPredictor,
    z: dict[str, np.ndarray],
    fine_tune: bool,
) -> None:
    ref = learn_mask_weights(ref_predictor, reference, z["ref_mask"], steps=50)[0] if fine_tune else reference
    found = find_instances(
        target, ref, SearchOptions(max_instances=2, min_similarity=-1.0), fine_tune=fine_tune
    )
    assert 1 <= len(found.instances) <= 2
    assert found.stop_reason in set(StopReason)
    if len(found.instances) == 2:
        assert found.stop_reason is StopReason.MAX_INSTANCES
        first, second = found.instances
        assert not np.array_equal(first.points[0], second.points[0])
    first = found.instances[0]
    single = segment_target_f(target, ref) if fine_tune else persam.segment_target(target, ref.embedding)
    assert np.array_equal(first.mask, single.mask)  # the first search is plain (Per)SAM(-F)
    assert SearchOptions(max_instances=1, min_similarity=2.0).min_similarity == 2.0
    none = find_instances(target, ref, SearchOptions(min_similarity=2.0), fine_tune=fine_tune)
    assert none.instances == () and none.stop_reason is StopReason.MIN_SIMILARITY
