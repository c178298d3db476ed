"""Build SAM 2 / SAM 2.1 image predictors from official checkpoints or upstream ``model`` trees.

Official files hold ``{"model": state_dict}`` with the video modules too (memory attention, memory encoder,
object pointers and their embeddings): those keys are skipped by name (:data:`VIDEO_KEYS`,
:data:`VIDEO_PREFIXES`); every other key must match the image path exactly, else
:class:`~sam_model.errors.ArchitectureMismatchError` names the key and the file. Head counts and attention windows
have no shape signature, so a state dict that is not an official preset is loaded only with its configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sam_model.device import parse_dtype, resolve_device
from sam_model.errors import ArchitectureMismatchError, SamModelError
from sam_model.sam.prompt_encoder import PromptEncoder
from sam_model.sam.transformer import TwoWayTransformer
from sam_model.sam2.config import PRESET_NAMES, Sam2Config, preset
from sam_model.sam2.mask_decoder import Sam2MaskDecoder
from sam_model.sam2.model import Sam2Model
from sam_model.sam2.predictor import Sam2Predictor

VIDEO_KEYS = ("maskmem_tpos_enc", "no_mem_pos_enc", "no_obj_ptr", "no_obj_embed_spatial")
"""Top-level tensors of the video predictor, skipped when loading the image path."""

VIDEO_PREFIXES = (
    "memory_attention.",
    "memory_encoder.",
    "obj_ptr_proj.",
    "obj_ptr_tpos_proj.",
    "mask_downsample.",
)
"""Video modules, skipped when loading the image path."""

_SIZE_BY_TRUNK = {(96, 12): "tiny", (96, 16): "small", (112, 24): "base_plus", (144, 48): "large"}
"""Official trunks by (embed_dim, number of blocks)."""


def is_video_key(key: str) -> bool:
    """Whether ``key`` belongs to a video-only module of SAM 2 (not loaded by the image predictor)."""
    return key in VIDEO_KEYS or key.startswith(VIDEO_PREFIXES)


def is_sam2_state_dict(state_dict: Mapping[str, Any]) -> bool:
    """Whether the keys are SAM 2's (a Hiera trunk and ``sam_mask_decoder``), whatever the size or version."""
    keys = list(state_dict)
    return any(k.startswith("image_encoder.trunk.") for k in keys) and any(
        k.startswith("sam_mask_decoder.") for k in keys
    )


def build_sam2_model(config: Sam2Config) -> Sam2Model:
    """Construct the image path on the current default device (random init; wrap in ``torch.device("meta")``
    to allocate nothing)."""
    from sam_model.sam2.image_encoder import ImageEncoderConfig, build_image_encoder

    dim, grid = config.hidden_dim, config.embedding_size
    return Sam2Model(
        image_encoder=build_image_encoder(ImageEncoderConfig.from_tree(config.image_encoder)),
        sam_prompt_encoder=PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(grid, grid),
            input_image_size=(config.image_size, config.image_size),
            mask_in_chans=16,
        ),
        sam_mask_decoder=Sam2MaskDecoder(
            transformer_dim=dim,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=dim, num_heads=8, mlp_dim=2048, mlp_keys="layers"
            ),
            num_multimask_outputs=3,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
            use_high_res_features=config.use_high_res_features_in_sam,
            iou_prediction_use_sigmoid=config.iou_prediction_use_sigmoid,
            pred_obj_scores=config.pred_obj_scores,
            pred_obj_scores_mlp=config.pred_obj_scores_mlp,
            dynamic_multimask_via_stability=config.dynamic_multimask_via_stability,
            dynamic_multimask_stability_delta=config.dynamic_multimask_stability_delta,
            dynamic_multimask_stability_thresh=config.dynamic_multimask_stability_thresh,
        ),
        image_size=config.image_size,
        directly_add_no_mem_embed=config.directly_add_no_mem_embed,
    )


def expected_sam2_shapes(config: Sam2Config) -> dict[str, tuple[int, ...]]:
    """Every image-path state-dict key of ``config`` and its shape (built on ``meta``: no memory)."""
    with torch.device("meta"):
        model = build_sam2_model(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@lru_cache(maxsize=len(PRESET_NAMES))
def _preset_shapes(name: str) -> dict[str, tuple[int, ...]]:
    return expected_sam2_shapes(preset(name))


def detect_sam2_preset(state_dict: Mapping[str, Tensor]) -> str | None:
    """The official preset whose image-path keys and shapes ``state_dict`` has exactly, else ``None``.

    The size comes from the trunk (width, number of blocks), the version from SAM 2.1-only video keys
    (``no_obj_embed_spatial``, ``obj_ptr_tpos_proj``): SAM 2 and 2.1 share their image path.
    """
    if not is_sam2_state_dict(state_dict):
        return None
    proj = state_dict.get("image_encoder.trunk.patch_embed.proj.weight")
    if proj is None or proj.ndim != 4:
        return None
    blocks = {k.split(".")[3] for k in state_dict if k.startswith("image_encoder.trunk.blocks.")}
    size = _SIZE_BY_TRUNK.get((int(proj.shape[0]), len(blocks)))
    if size is None:
        return None
    v21 = "no_obj_embed_spatial" in state_dict or "obj_ptr_tpos_proj.weight" in state_dict
    name = f"{'sam2.1' if v21 else 'sam2'}_hiera_{size}"
    return name if _first_mismatch(state_dict, _preset_shapes(name)) is None else None


def _first_mismatch(state_dict: Mapping[str, Tensor], expected: Mapping[str, tuple[int, ...]]) -> str | None:
    """The first image-path problem: a missing key, a wrong shape or an unexpected key (video keys aside)."""
    for key, shape in expected.items():
        if key not in state_dict:
            return f"missing key {key!r}"
        value = state_dict[key]
        if not isinstance(value, Tensor):
            return f"key {key!r} holds a {type(value).__name__}, not a tensor"
        if tuple(value.shape) != shape:
            return f"key {key!r} has shape {tuple(value.shape)}, expected {shape}"
    for key in state_dict:
        if key not in expected and not is_video_key(key):
            return f"unexpected key {key!r}"
    return None


def check_sam2_architecture(
    state_dict: Mapping[str, Tensor], config: Sam2Config, *, path: str | Path
) -> None:
    """Raise ``ArchitectureMismatchError`` (naming the key and ``path``) unless the image path matches."""
    mismatch = _first_mismatch(state_dict, expected_sam2_shapes(config))
    if mismatch is not None:
        found = detect_sam2_preset(state_dict)
        hint = f"; the file is a {found} checkpoint" if found is not None and found != config.name else ""
        raise ArchitectureMismatchError(
            str(path), f"state dict does not match SAM 2 architecture {config.name!r}: {mismatch}{hint}"
        )


def load_sam2_predictor(
    state_dict: Mapping[str, Tensor],
    *,
    path: str | Path,
    config: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    dtype: str = "float32",
    model_id: str,
) -> Sam2Predictor:
    """A :class:`Sam2Predictor` with the image path of ``state_dict`` (video keys skipped by name).

    Args:
        state_dict: an official SAM 2 / 2.1 state dict (unwrapped from ``{"model": ...}``) or one of the
            architecture ``config`` describes.
        path: the file it came from, named in errors.
        config: upstream's ``model`` tree (dict or parsed JSON); required unless the state dict is an official
            preset (:func:`detect_sam2_preset`), since head counts and windows cannot be read from shapes.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``, ``"auto"`` or a ``torch.device``.
        dtype: ``"float32"``, or ``"bfloat16"``: the image encoder runs in bf16 and the decoder under bf16
            autocast; features and outputs stay float32. The weights are float32 either way (a half-precision
            file gives a float32 model).
        model_id: identity of these weights (``<preset>-<sha256[:16]>``), stamped on embeddings.
    Raises:
        ArchitectureMismatchError: a missing, unexpected or misshapen image-path key, or no config for a
            non-preset state dict. SamModelError: a bad config, device or dtype.
    """
    torch_dtype = parse_dtype(dtype)
    dev = resolve_device(device)
    if config is None:
        name = detect_sam2_preset(state_dict)
        if name is None:
            raise ArchitectureMismatchError(
                str(path),
                "not an official SAM 2 / SAM 2.1 checkpoint (tiny, small, base_plus, large): give its "
                "configuration (upstream's 'model' tree, e.g. a NAME.json next to the file); head counts and "
                "attention windows cannot be read from the weights",
            )
        cfg = preset(name)
    else:
        cfg = Sam2Config.from_tree(config)
    check_sam2_architecture(state_dict, cfg, path=path)
    with torch.device("meta"):
        model = build_sam2_model(cfg)
    image_path = {k: v for k, v in state_dict.items() if not is_video_key(k)}
    model.load_state_dict(image_path, strict=True, assign=True)
    left = [n for n, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if left:
        raise SamModelError(f"SAM 2 model has tensors no checkpoint key fills: {', '.join(left[:5])}")
    model.to(device=dev, dtype=torch.float32)
    model.eval()
    if torch_dtype is torch.bfloat16:
        model.image_encoder.to(torch.bfloat16)
        model.encoder_dtype = torch.bfloat16
    return Sam2Predictor(model, model_id=model_id, decoder_dtype=torch_dtype)


def build_sam2(config: Sam2Config | str, *, device: str | torch.device = "cpu") -> Sam2Model:
    """A randomly initialised model in eval mode (a preset name or a :class:`Sam2Config`), for tests and
    benchmarks."""
    cfg = preset(config) if isinstance(config, str) else config
    with torch.device(resolve_device(device)):
        model = build_sam2_model(cfg)
    return model.eval()
