"""SAM 2 / SAM 2.1 configuration: the upstream ``model`` tree parsed into what the image path needs, and presets.

The configuration of a SAM 2 model is upstream's ``model`` tree (the Hydra YAML of ``configs/sam2*/*.yaml``, as a
dict or parsed JSON). :class:`Sam2Config` keeps the fields that shape or steer the image path (the decoder flags,
``image_size``, ``no_mem_embed`` use) and the ``image_encoder`` sub-tree, which
:class:`sam_model.sam2.image_encoder.ImageEncoderConfig` parses. Video-only fields (memory attention, memory
encoder, object pointers) are accepted and ignored; an unknown field raises :class:`SamModelError`, so a typo
is not silently dropped.

Torch-free: importing this module does not import torch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sam_model.errors import SamModelError

_IMAGE_FIELDS: dict[str, Any] = {
    # upstream SAM2Base defaults
    "image_size": 512,
    "backbone_stride": 16,
    "directly_add_no_mem_embed": False,
    "use_high_res_features_in_sam": False,
    "multimask_output_in_sam": False,
    "multimask_min_pt_num": 1,
    "multimask_max_pt_num": 1,
    "use_multimask_token_for_obj_ptr": False,
    "iou_prediction_use_sigmoid": False,
    "pred_obj_scores": False,
    "pred_obj_scores_mlp": False,
}
"""Fields of the ``model`` tree that the image path uses, with upstream ``SAM2Base``'s defaults."""

_DECODER_EXTRA_DEFAULTS: dict[str, Any] = {
    "dynamic_multimask_via_stability": True,
    "dynamic_multimask_stability_delta": 0.05,
    "dynamic_multimask_stability_thresh": 0.98,
}
"""``sam_mask_decoder_extra_args`` as upstream's ``build_sam2(apply_postprocessing=True)`` sets them."""

_VIDEO_FIELDS = frozenset(
    {
        "memory_attention",
        "memory_encoder",
        "num_maskmem",
        "sigmoid_scale_for_mem_enc",
        "sigmoid_bias_for_mem_enc",
        "binarize_mask_from_pts_for_mem_enc",
        "use_mask_input_as_output_without_sam",
        "max_cond_frames_in_attn",
        "multimask_output_for_tracking",
        "memory_temporal_stride_for_eval",
        "non_overlap_masks_for_mem_enc",
        "use_obj_ptrs_in_encoder",
        "max_obj_ptrs_in_encoder",
        "add_tpos_enc_to_obj_ptrs",
        "proj_tpos_enc_in_obj_ptrs",
        "use_signed_tpos_enc_to_obj_ptrs",
        "only_obj_ptrs_in_the_past_for_eval",
        "fixed_no_obj_ptr",
        "soft_no_obj_ptr",
        "use_mlp_for_obj_ptr_proj",
        "no_obj_embed_spatial",
        "compile_image_encoder",
        "_target_",
    }
)
"""Fields of the ``model`` tree that only the video predictor uses (accepted, ignored)."""


@dataclass(frozen=True, kw_only=True)
class Sam2Config:
    """What the SAM 2 image path needs from upstream's ``model`` tree.

    Attributes:
        image_encoder: the ``model.image_encoder`` sub-tree (Hiera trunk + FPN neck), upstream format.
        image_size: side of the square encoder input in pixels (1024 in every official config).
        backbone_stride: encoder pixels per image-embedding cell (16: a 64 x 64 embedding).
        hidden_dim: width ``D`` of the neck output, prompt encoder and decoder (``image_encoder.neck.d_model``).
        directly_add_no_mem_embed: add ``no_mem_embed`` to the 64 x 64 level (an image without memory).
        use_high_res_features_in_sam: the decoder adds the two finer FPN levels (``conv_s0`` / ``conv_s1``)
            while upscaling.
        multimask_output_in_sam / multimask_min_pt_num / multimask_max_pt_num / use_multimask_token_for_obj_ptr:
            video-tracking choices of upstream; kept for completeness, the image predictor follows the
            caller's ``multimask_output``.
        iou_prediction_use_sigmoid: the IoU head ends in a sigmoid.
        pred_obj_scores / pred_obj_scores_mlp: the decoder has an object-score token and head (an MLP or linear).
        dynamic_multimask_via_stability / _delta / _thresh: single-mask output falls back to the best multimask
            candidate when the single mask's stability score (IoU of the masks at ``+-delta``) is below
            ``thresh``.
        name: preset name or ``"custom"``.
    """

    image_encoder: Mapping[str, Any] = field(hash=False)
    image_size: int = 1024
    backbone_stride: int = 16
    hidden_dim: int = 256
    directly_add_no_mem_embed: bool = True
    use_high_res_features_in_sam: bool = True
    multimask_output_in_sam: bool = True
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    use_multimask_token_for_obj_ptr: bool = True
    iou_prediction_use_sigmoid: bool = True
    pred_obj_scores: bool = True
    pred_obj_scores_mlp: bool = True
    dynamic_multimask_via_stability: bool = True
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98
    name: str = field(default="custom", compare=False)

    @property
    def embedding_size(self) -> int:
        """Side of the image-embedding grid (64 for 1024 / 16)."""
        return self.image_size // self.backbone_stride

    @classmethod
    def from_tree(cls, tree: Mapping[str, Any], *, name: str = "custom") -> Sam2Config:
        """Parse upstream's ``model`` tree (a reference JSON holding ``{"model": ...}`` is accepted too).

        Raises ``SamModelError`` on a missing ``image_encoder`` or ``neck.d_model``, an unknown field or a
        value of the wrong type.
        """
        if not isinstance(tree, Mapping):
            raise SamModelError(
                f"SAM 2 config must be a mapping (the upstream 'model' tree), got {type(tree)}"
            )
        if "image_encoder" not in tree and isinstance(tree.get("model"), Mapping):
            tree = tree["model"]
        unknown = sorted(
            set(tree) - set(_IMAGE_FIELDS) - _VIDEO_FIELDS - {"image_encoder", "sam_mask_decoder_extra_args"}
        )
        if unknown:
            raise SamModelError(f"unknown SAM 2 config field(s): {', '.join(unknown)}")
        encoder = tree.get("image_encoder")
        if not isinstance(encoder, Mapping) or not isinstance(encoder.get("neck"), Mapping):
            raise SamModelError("SAM 2 config has no 'image_encoder' tree with a 'neck'")
        values: dict[str, Any] = {k: tree.get(k, default) for k, default in _IMAGE_FIELDS.items()}
        extra = tree.get("sam_mask_decoder_extra_args") or {}
        if not isinstance(extra, Mapping):
            raise SamModelError("SAM 2 config: 'sam_mask_decoder_extra_args' must be a mapping")
        unknown_extra = sorted(set(extra) - set(_DECODER_EXTRA_DEFAULTS))
        if unknown_extra:
            raise SamModelError(f"unknown sam_mask_decoder_extra_args field(s): {', '.join(unknown_extra)}")
        values.update({k: extra.get(k, default) for k, default in _DECODER_EXTRA_DEFAULTS.items()})
        values["hidden_dim"] = encoder["neck"].get("d_model")
        for key, value in values.items():
            values[key] = _typed(key, value)
        return cls(image_encoder=copy.deepcopy(dict(encoder)), name=name, **values)


def _typed(key: str, value: Any) -> Any:
    """Check one field's type against its default's (bool, int or float)."""
    default = {**_IMAGE_FIELDS, **_DECODER_EXTRA_DEFAULTS, "hidden_dim": 256}[key]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SamModelError(f"SAM 2 config field {key!r} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SamModelError(f"SAM 2 config field {key!r} must be a non-negative integer, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SamModelError(f"SAM 2 config field {key!r} must be a number, got {value!r}")
    return float(value)


_SIZES = ("tiny", "small", "base_plus", "large")
_MODEL_FLAGS: dict[str, Any] = {
    "image_size": 1024,
    "directly_add_no_mem_embed": True,
    "use_high_res_features_in_sam": True,
    "multimask_output_in_sam": True,
    "iou_prediction_use_sigmoid": True,
    "pred_obj_scores": True,
    "pred_obj_scores_mlp": True,
    "use_multimask_token_for_obj_ptr": True,
    "multimask_min_pt_num": 0,
    "multimask_max_pt_num": 1,
}
"""Image-path flags shared by the eight official configs (``configs/sam2/*.yaml``, ``configs/sam2.1/*.yaml``)."""

PRESET_NAMES: tuple[str, ...] = tuple(
    f"{family}_hiera_{size}" for family in ("sam2.1", "sam2") for size in _SIZES
)
"""The eight official checkpoints: ``sam2.1_hiera_{tiny,small,base_plus,large}`` and ``sam2_hiera_*``."""


def preset_tree(name: str) -> dict[str, Any]:
    """The image-path part of the official ``model`` tree of preset ``name`` (a fresh copy).

    SAM 2 and SAM 2.1 share their image-path configuration; they differ in video modules only.
    """
    if name not in PRESET_NAMES:
        raise SamModelError(f"unknown SAM 2 preset {name!r}; known: {', '.join(PRESET_NAMES)}")
    from sam_model.sam2.image_encoder_presets import image_encoder_tree

    size = name.split("_hiera_", 1)[1]
    return {"image_encoder": image_encoder_tree(size), **copy.deepcopy(_MODEL_FLAGS)}


def preset(name: str) -> Sam2Config:
    """The :class:`Sam2Config` of an official checkpoint (see :data:`PRESET_NAMES`)."""
    return Sam2Config.from_tree(preset_tree(name), name=name)
