"""The image-encoder trees of the official SAM 2 / SAM 2.1 models, in upstream's ``model.image_encoder`` format.

Values are those of upstream's ``sam2.1_hiera_{t,s,b+,l}.yaml`` (identical in ``sam2_hiera_*.yaml``: SAM 2 and
SAM 2.1 share the image-encoder architecture), with upstream's defaults written out where the YAML leaves them
(base+ uses the ``Hiera`` defaults). Read one with ``ImageEncoderConfig.from_tree``; full-model presets compose
them. Plain data: no torch import.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from sam_model.errors import SamModelError


def _tree(
    *,
    embed_dim: int,
    num_heads: int,
    stages: list[int],
    global_att_blocks: list[int],
    window_pos_embed_bkg_spatial_size: list[int],
    window_spec: list[int],
) -> dict[str, Any]:
    channels = [embed_dim * 8, embed_dim * 4, embed_dim * 2, embed_dim]
    return {
        "_target_": "sam2.modeling.backbones.image_encoder.ImageEncoder",
        "scalp": 1,
        "trunk": {
            "_target_": "sam2.modeling.backbones.hieradet.Hiera",
            "embed_dim": embed_dim,
            "num_heads": num_heads,
            "stages": stages,
            "global_att_blocks": global_att_blocks,
            "window_pos_embed_bkg_spatial_size": window_pos_embed_bkg_spatial_size,
            "window_spec": window_spec,
        },
        "neck": {
            "_target_": "sam2.modeling.backbones.image_encoder.FpnNeck",
            "position_encoding": {
                "_target_": "sam2.modeling.position_encoding.PositionEmbeddingSine",
                "num_pos_feats": 256,
                "normalize": True,
                "scale": None,
                "temperature": 10000,
            },
            "d_model": 256,
            "backbone_channel_list": channels,
            "fpn_top_down_levels": [2, 3],
            "fpn_interp_model": "nearest",
        },
    }


IMAGE_ENCODER_TREES: dict[str, dict[str, Any]] = {
    "tiny": _tree(
        embed_dim=96,
        num_heads=1,
        stages=[1, 2, 7, 2],
        global_att_blocks=[5, 7, 9],
        window_pos_embed_bkg_spatial_size=[7, 7],
        window_spec=[8, 4, 14, 7],
    ),
    "small": _tree(
        embed_dim=96,
        num_heads=1,
        stages=[1, 2, 11, 2],
        global_att_blocks=[7, 10, 13],
        window_pos_embed_bkg_spatial_size=[7, 7],
        window_spec=[8, 4, 14, 7],
    ),
    "base_plus": _tree(
        embed_dim=112,
        num_heads=2,
        stages=[2, 3, 16, 3],
        global_att_blocks=[12, 16, 20],
        window_pos_embed_bkg_spatial_size=[14, 14],
        window_spec=[8, 4, 14, 7],
    ),
    "large": _tree(
        embed_dim=144,
        num_heads=2,
        stages=[2, 6, 36, 4],
        global_att_blocks=[23, 33, 43],
        window_pos_embed_bkg_spatial_size=[7, 7],
        window_spec=[8, 4, 16, 8],
    ),
}
"""Size name (as in the checkpoint names ``sam2{,.1}_hiera_<size>``) -> ``model.image_encoder`` tree."""


def image_encoder_tree(size: str) -> dict[str, Any]:
    """A fresh copy of the official tree for ``size`` (tiny, small, base_plus, large)."""
    if size not in IMAGE_ENCODER_TREES:
        raise SamModelError(
            f"no SAM 2 image-encoder preset {size!r}; known: {', '.join(IMAGE_ENCODER_TREES)}"
        )
    return deepcopy(IMAGE_ENCODER_TREES[size])
