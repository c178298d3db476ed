"""MobileSAM (``vit_t``) against upstream's outputs on the same seeded random weights (../shared/reference/mobilesam):
the official key layout, the TinyViT encoder, every prompt case, refinement and batched boxes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sam_model.build import identify, load_predictor
from sam_model.checkpoint import load_state_dict_file
from sam_model.protocol import ImageEmbedding, Segmenter
from sam_model.sam.build import build_sam, detect_preset
from sam_model.sam.config import PRESETS
from sam_model.sam.predictor import SamPredictor
from sam_model.sam.tiny_vit import TinyViT

HEAD_KEYS = {
    "image_encoder.norm_head.weight",
    "image_encoder.norm_head.bias",
    "image_encoder.head.weight",
    "image_encoder.head.bias",
}


@pytest.fixture(scope="module")
def ref(mobilesam_reference: Path) -> dict[str, Any]:
    spec = json.loads((mobilesam_reference / "mobilesam_a.json").read_text())
    arrays = np.load(mobilesam_reference / "mobilesam_a.npz")
    return {
        "spec": spec,
        "z": {k: arrays[k] for k in arrays.files},
        "pth": mobilesam_reference / "mobilesam_a.pth",
    }


@pytest.fixture(scope="module")
def predictor(ref: dict[str, Any]) -> SamPredictor:
    """Loaded through the one loader, as the app does; ``set_image`` on the reference image (our resize)."""
    loaded = load_predictor(ref["pth"], device="cpu")
    assert isinstance(loaded, SamPredictor)
    loaded.set_image(ref["z"]["image"])
    return loaded


def _features_predictor(predictor: SamPredictor, ref: dict[str, Any]) -> SamPredictor:
    """A second predictor on the same model, given the reference ``features`` directly (no encoding)."""
    z = ref["z"]
    other = SamPredictor(predictor.model, model_id=predictor.model_id)
    h, w = (int(v) for v in z["input_tensor_shape"])
    other.set_embedding(
        ImageEmbedding(predictor.model_id, z["image"].shape[:2], (h, w), {"features": z["features"]})
    )
    return other


def _case_kwargs(name: str, case: dict[str, Any], z: dict[str, np.ndarray]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"multimask_output": case["multimask_output"]}
    if "point_coords" in case:
        kwargs["point_coords"] = np.array(case["point_coords"], dtype=np.float64)
        kwargs["point_labels"] = np.array(case["point_labels"])
    if "box" in case:
        kwargs["box"] = np.array(case["box"], dtype=np.float64)
    if f"{name}/mask_input" in z:  # refinement: the best low-res logits of the first case
        kwargs["mask_input"] = z[f"{name}/mask_input"]
    return kwargs


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def test_meta_build_has_the_official_layout(ref: dict[str, Any]) -> None:
    shapes = ref["spec"]["shapes"]
    assert len(shapes) == 439
    model = build_sam("vit_t", device="meta")
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == shapes
    state = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    result = model.load_state_dict(state, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert detect_preset(state) == "vit_t"
    assert identify(state) == identify(load_state_dict_file(ref["pth"]))
    assert identify(state).family == "mobilesam" and identify(state).preset == "vit_t"
    assert isinstance(model.image_encoder, TinyViT)
    # the ViT presets are not confused with it, nor it with them
    assert all(detect_preset(state) != name for name in ("vit_b", "vit_l", "vit_h"))
    assert PRESETS["vit_t"].tiny_vit is not None


def test_official_file_loads_strictly_with_its_head(predictor: SamPredictor, ref: dict[str, Any]) -> None:
    state = load_state_dict_file(ref["pth"])
    ours = predictor.model.state_dict()
    assert ours.keys() == state.keys() and state.keys() >= HEAD_KEYS
    for key in (*HEAD_KEYS, "image_encoder.layers.2.blocks.3.attn.attention_biases"):
        assert torch.equal(ours[key], state[key])
    prefix, digest = predictor.model_id.split("-", 1)
    assert prefix == "vit_t" and len(digest) == 16
    assert isinstance(predictor, Segmenter)


def test_encoder_matches_reference_features(predictor: SamPredictor, ref: dict[str, Any]) -> None:
    with torch.inference_mode():
        features = predictor.model.image_encoder(torch.from_numpy(ref["z"]["preprocessed"]))
    diff = (features - torch.from_numpy(ref["z"]["features"])).abs().max().item()
    assert features.shape == (1, 256, 64, 64)
    assert diff <= 1e-3, f"encoder max abs diff {diff}"


def test_unfused_training_path_agrees(predictor: SamPredictor, ref: dict[str, Any]) -> None:
    """With gradients on, BatchNorm runs unfolded and the bias table is gathered per call: the same map."""
    encoder = predictor.model.image_encoder
    x = torch.from_numpy(ref["z"]["preprocessed"])
    with torch.enable_grad():
        features = encoder(x).detach()
    assert (features - torch.from_numpy(ref["z"]["features"])).abs().max().item() <= 1e-3


@pytest.mark.parametrize("case", ["point", "points_posneg", "box", "box_points", "refine"])
def test_prompt_cases_from_features(predictor: SamPredictor, ref: dict[str, Any], case: str) -> None:
    z = ref["z"]
    other = _features_predictor(predictor, ref)
    kwargs = _case_kwargs(case, ref["spec"]["cases"][case], z)
    if case == "refine":
        assert "mask_input" in kwargs
    masks, scores, low_res = other.predict(**kwargs)
    logits, _, _ = other.predict(**kwargs, return_logits=True)
    assert masks.dtype == bool and masks.shape == z[f"{case}/masks"].shape
    assert np.abs(low_res - z[f"{case}/low_res_logits"]).max() <= 1e-3
    assert np.abs(scores - z[f"{case}/scores"]).max() <= 1e-4
    differing = masks != z[f"{case}/masks"]
    assert not np.any(differing & (np.abs(logits) > 1e-3)), "masks differ away from the threshold"


def test_batched_boxes(predictor: SamPredictor, ref: dict[str, Any]) -> None:
    z = ref["z"]
    other = _features_predictor(predictor, ref)
    boxes = other.transform.apply_boxes_torch(torch.from_numpy(z["batched_boxes/boxes"]), other.original_size)
    masks, iou, low_res = other.predict_torch(None, None, boxes=boxes, multimask_output=False)
    logits, _, _ = other.predict_torch(None, None, boxes=boxes, multimask_output=False, return_logits=True)
    assert masks.shape == z["batched_boxes/masks"].shape
    assert np.abs(low_res.numpy() - z["batched_boxes/low_res_logits"]).max() <= 1e-3
    assert np.abs(iou.numpy() - z["batched_boxes/scores"]).max() <= 1e-4
    differing = masks.numpy() != z["batched_boxes/masks"]
    assert not np.any(differing & (np.abs(logits.numpy()) > 1e-3))


@pytest.mark.parametrize("case", ["point", "points_posneg", "box", "box_points", "refine"])
def test_end_to_end_from_image(predictor: SamPredictor, ref: dict[str, Any], case: str) -> None:
    z = ref["z"]
    masks, _, _ = predictor.predict(**_case_kwargs(case, ref["spec"]["cases"][case], z))
    assert masks.shape == z[f"{case}/masks"].shape
    for ours, theirs in zip(masks, z[f"{case}/masks"], strict=True):
        assert _iou(ours, theirs) >= 0.95, case


def test_folded_weights_follow_new_weights(ref: dict[str, Any]) -> None:
    """The inference cache (folded BatchNorm, bias tables) is rebuilt when weights change after a first run."""
    torch.manual_seed(0)
    encoder = build_sam("vit_t").image_encoder.eval()
    x = torch.randn(1, 3, 256, 256)  # any size runs (windows are padded); small is quick
    with torch.inference_mode():
        before = encoder(x)
    state = {
        k.removeprefix("image_encoder."): v
        for k, v in load_state_dict_file(ref["pth"]).items()
        if k.startswith("image_encoder.")
    }
    encoder.load_state_dict(state, strict=True)
    with torch.inference_mode():
        reloaded = encoder(x)  # load_state_dict copies in place: a stale cache would repeat ``before``
    with torch.enable_grad():
        expected = encoder(x).detach()
    assert (reloaded - before).abs().max().item() > 1e-2
    assert (reloaded - expected).abs().max().item() <= 1e-4
    # An in-place edit moves the version counter. (Checked on the stem: these noisy random weights damp a
    # perturbation to ~1e-6 by the end of the encoder.)
    stem, image = encoder.patch_embed, torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        stem_before = stem(image)
    with torch.no_grad():
        stem.seq[0].bn.running_var.mul_(4.0)
    with torch.inference_mode():
        changed = stem(image)
    with torch.enable_grad():
        unfolded = stem(image).detach()
    assert (changed - stem_before).abs().max().item() > 1e-2
    assert (changed - unfolded).abs().max().item() <= 1e-4


def test_pointwise_conv_as_a_matrix_product_equals_the_convolution() -> None:
    """The inference path of a 1x1 conv + BN on channels-last input (one addmm over the pixels) gives the plain
    convolution's numbers and stays channels-last; other layouts take ``conv2d``."""
    from sam_model.sam.tiny_vit import _ConvBN

    torch.manual_seed(3)
    layer = _ConvBN(8, 12, kernel_size=1).eval()
    with torch.no_grad():
        layer.bn.running_mean.normal_()
        layer.bn.running_var.uniform_(0.5, 2.0)
        layer.bn.weight.normal_()
        layer.bn.bias.normal_()
    x = torch.randn(2, 8, 5, 7).contiguous(memory_format=torch.channels_last)
    with torch.enable_grad():
        expected = layer.bn(layer.c(x)).detach()
    with torch.inference_mode():
        fast = layer(x)
        plain = layer(x.contiguous())
    assert fast.shape == expected.shape and fast.is_contiguous(memory_format=torch.channels_last)
    assert (fast - expected).abs().max().item() <= 1e-5
    assert (plain - expected).abs().max().item() <= 1e-5
