"""Checkpoint loading: wrappers and prefixes load; a broken file: a typed error naming file and reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sam_model.build import load_predictor
from sam_model.checkpoint import load_state_dict_file
from sam_model.device import resolve_device
from sam_model.engines import create_segmenter
from sam_model.errors import (
    ArchitectureMismatchError,
    CheckpointError,
    CheckpointNotFoundError,
    NotACheckpointError,
    SamModelError,
    TruncatedCheckpointError,
)
from sam_model.sam.build import build_sam
from sam_model.sam.config import SamConfig
from sam_model.sam.predictor import SamPredictor


@pytest.fixture(scope="module")
def tiny_state(sam_reference: Path) -> dict[str, torch.Tensor]:
    return torch.load(sam_reference / "sam_tiny_a.pth", map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def tiny_config(sam_reference: Path) -> SamConfig:
    return SamConfig.from_dict(
        json.loads((sam_reference / "sam_tiny_a.json").read_text())["config"], name="tiny"
    )


@pytest.mark.parametrize("wrap", ["model", "state_dict", "module", "model+module"])
def test_wrapped_checkpoints_load(
    tmp_path: Path, tiny_state: dict[str, torch.Tensor], tiny_config: SamConfig, wrap: str
) -> None:
    state: object = dict(tiny_state)
    if "module" in wrap:
        state = {f"module.{k}": v for k, v in tiny_state.items()}
    if wrap.startswith("model"):
        state = {"model": state, "epoch": torch.tensor(3)}
    elif wrap == "state_dict":
        state = {"state_dict": state}
    path = tmp_path / f"{wrap}.pth"
    torch.save(state, path)
    loaded = load_state_dict_file(path)
    assert loaded.keys() == tiny_state.keys()
    model = build_sam(tiny_config, checkpoint=path)
    key = "mask_decoder.iou_token.weight"
    assert torch.equal(model.state_dict()[key], tiny_state[key])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_checkpoint_builds_float32(
    tmp_path: Path, sam_reference: Path, tiny_state: dict[str, torch.Tensor], dtype: torch.dtype
) -> None:
    """``load_state_dict(assign=True)`` keeps the file's dtype; the model must still be float32."""
    path = tmp_path / "half.pth"
    torch.save({k: v.to(dtype) if v.is_floating_point() else v for k, v in tiny_state.items()}, path)
    predictor = load_predictor(path, device="cpu", config=sam_reference / "sam_tiny_a.json")
    assert {p.dtype for p in predictor.model.parameters()} == {torch.float32}
    predictor.set_image(np.zeros((20, 30, 3), dtype=np.uint8))
    masks, scores, _ = predictor.predict(point_coords=np.array([[5.0, 5.0]]), point_labels=np.array([1]))
    assert masks.shape == (3, 20, 30) and scores.dtype == np.float32


def test_load_predictor_model_id_and_engine(sam_reference: Path) -> None:
    predictor = load_predictor(sam_reference / "sam_tiny_a.pth", device="cpu")
    assert isinstance(predictor, SamPredictor)
    prefix, digest = predictor.model_id.rsplit("-", 1)
    assert prefix == "custom" and len(digest) == 16 and int(digest, 16) >= 0
    engine = create_segmenter(sam_reference / "sam_tiny_a.pth", device="cpu")
    assert engine.model_id == predictor.model_id


def _assert_names(exc: CheckpointError, path: Path, *words: str) -> None:
    message = str(exc)
    assert path.name in message
    assert exc.path == str(path)
    for word in words:
        assert word in message.lower(), message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "sam_vit_b_01ec64.pth"
    with pytest.raises(CheckpointNotFoundError) as info:
        load_state_dict_file(path)
    _assert_names(info.value, path, "not found")
    with pytest.raises(CheckpointNotFoundError):
        load_predictor(path)
    with pytest.raises(CheckpointNotFoundError):
        load_state_dict_file(tmp_path)


@pytest.mark.parametrize("content", ["random", "json", "text", "pickle_garbage"])
def test_not_a_checkpoint(tmp_path: Path, content: str) -> None:
    path = tmp_path / f"weights_{content}.pth"
    if content == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif content == "json":
        path.write_text(json.dumps({"model": "sam", "weights": [1, 2, 3]}))
    elif content == "text":  # the legacy unpickler used to leak a raw IndexError on this
        path.write_bytes(b"these are not weights" * 100)
    elif content == "pickle_garbage":  # a pickle protocol marker followed by noise
        noise = np.random.default_rng(1).integers(0, 256, 512, dtype=np.uint8).tobytes()
        path.write_bytes(b"\x80\x02" + noise)
    with pytest.raises(NotACheckpointError) as info:
        load_state_dict_file(path)
    _assert_names(info.value, path, "not a")


def test_non_tensor_entries(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(NotACheckpointError) as info:
        load_state_dict_file(path)
    _assert_names(info.value, path, "not a state dict")
    path2 = tmp_path / "mixed.pth"
    torch.save({"a": torch.zeros(1), "b": 3}, path2)
    with pytest.raises(NotACheckpointError) as info2:
        load_state_dict_file(path2)
    _assert_names(info2.value, path2, "'b'", "not a tensor")


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_checkpoint(tmp_path: Path, sam_reference: Path, tiny_state: dict, legacy: bool) -> None:
    if legacy:
        full = tmp_path / "legacy.pth"
        torch.save(tiny_state, full, _use_new_zipfile_serialization=False)
        data = full.read_bytes()
    else:
        data = (sam_reference / "sam_tiny_a.pth").read_bytes()
    path = tmp_path / "sam_tiny_a_partial.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedCheckpointError) as info:
        load_state_dict_file(path)
    _assert_names(info.value, path, "truncated")
    path.write_bytes(b"")
    with pytest.raises(TruncatedCheckpointError) as info:
        load_state_dict_file(path)
    _assert_names(info.value, path, "empty")


def test_architecture_mismatch_names_key_and_preset(sam_reference: Path, tiny_config: SamConfig) -> None:
    path = sam_reference / "sam_tiny_a.pth"
    with pytest.raises(ArchitectureMismatchError) as info:
        build_sam("vit_b", checkpoint=path)
    _assert_names(info.value, path, "image_encoder.pos_embed", "vit_b", "no known preset")


def test_renamed_key(tmp_path: Path, tiny_state: dict[str, torch.Tensor], tiny_config: SamConfig) -> None:
    state = dict(tiny_state)
    state["mask_decoder.iou_token.weights"] = state.pop("mask_decoder.iou_token.weight")
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(ArchitectureMismatchError) as info:
        build_sam(tiny_config, checkpoint=path)
    _assert_names(info.value, path, "missing key 'mask_decoder.iou_token.weight'")
    with pytest.raises(ArchitectureMismatchError) as info2:
        load_predictor(path, device="cpu", config={"config": tiny_config.to_dict()})
    _assert_names(info2.value, path, "mask_decoder.iou_token.weight")


def test_device_and_dtype_errors() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(SamModelError, match="CUDA"):
            resolve_device("cuda")
    if not torch.backends.mps.is_available():
        with pytest.raises(SamModelError, match="MPS"):
            resolve_device("mps")
    with pytest.raises(SamModelError, match="dtype"):
        build_sam("vit_b", device="meta", dtype="float16")


def test_create_segmenter_without_checkpoint_is_classic() -> None:
    pytest.importorskip("sam_model.classic.segmenter")
    from sam_model.protocol import Segmenter

    engine = create_segmenter()
    assert isinstance(engine, Segmenter)
    assert type(engine).__name__ == "ProcessSegmenter"  # the classical engine, in a child process
    assert engine.model_id.startswith("classic-")
    engine.close()
