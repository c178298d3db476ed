"""SAM architecture configuration: one dataclass whose fields are those of the reference JSON ``config``.

SAM v1 (ViT image encoder) and MobileSAM (TinyViT image encoder, :class:`TinyViTConfig` in ``tiny_vit``) share
the prompt encoder and mask decoder fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sam_model.errors import SamModelError


@dataclass(frozen=True, kw_only=True)
class TinyViTConfig:
    """MobileSAM's TinyViT image encoder (the ``tiny_vit`` object of a MobileSAM JSON ``config``).

    Attributes:
        embed_dims / depths: channels and blocks of each stage (stage 0 is the convolutional MBConv stage).
        num_heads / window_sizes: attention heads and window side (tokens) per stage; stage 0's are unused.
        merge_strides: stride of the patch merging after each stage but the last; the stem (``/4``) and these
            must bring ``image_size`` down to the ``image_size // patch_size`` embedding grid.
        mlp_ratio / mbconv_expand_ratio: hidden widths of the attention MLPs and the MBConv blocks.
        local_conv_size: kernel side of the depthwise convolution between attention and MLP.
        num_classes: outputs of TinyViT's unused classification head (kept so checkpoints load strictly).
    """

    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (2, 4, 5, 10)
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    merge_strides: tuple[int, ...] = (2, 2, 1)
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    num_classes: int = 1000

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TinyViTConfig:
        """From the JSON object (lists for the per-stage fields); unknown keys raise ``SamModelError``."""
        if not isinstance(data, dict):
            raise SamModelError(f"'tiny_vit' must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SamModelError(f"unknown TinyViT config field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {
            k: tuple(int(i) for i in v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True, kw_only=True)
class SamConfig:
    """Architecture of a SAM model. Field names match ``reference/sam/sam_tiny_a.json``'s ``config``.

    Attributes:
        image_size: side of the square encoder input, in pixels (1024).
        patch_size: ViT patch side in pixels (16), so the embedding grid is ``image_size // patch_size``.
        encoder_embed_dim / encoder_depth / encoder_num_heads: ViT width, number of blocks, attention heads.
        encoder_global_attn_indexes: indexes of the blocks with global attention; the others are windowed.
        encoder_window_size: window side, in patches, of the windowed blocks (14).
        prompt_embed_dim: width of the prompt encoder, the decoder and the encoder's output (256).
        decoder_mlp_dim / decoder_num_heads / decoder_depth: two-way transformer sizes.
        mask_in_chans: hidden channels of the mask-prompt downscaler (16).
        iou_head_hidden_dim / iou_head_depth: the IoU prediction MLP.
        num_multimask_outputs: candidate masks in multimask mode (3).
        mask_threshold: logit threshold that turns logits into a binary mask (0.0).
        tiny_vit: ``None`` for SAM's ViT; a :class:`TinyViTConfig` makes the image encoder MobileSAM's TinyViT,
            and the ViT fields (``encoder_*``) are then unused. ``patch_size`` stays the encoder's overall
            stride (16), so the embedding grid is still ``image_size // patch_size``.
    """

    image_size: int = 1024
    patch_size: int = 16
    encoder_embed_dim: int = 768
    encoder_depth: int = 12
    encoder_num_heads: int = 12
    encoder_global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    encoder_window_size: int = 14
    prompt_embed_dim: int = 256
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    decoder_depth: int = 2
    mask_in_chans: int = 16
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    mask_threshold: float = 0.0
    tiny_vit: TinyViTConfig | None = None
    name: str = field(default="custom", compare=False)

    @property
    def embedding_size(self) -> int:
        """Side of the image-embedding grid (64 for 1024 / 16)."""
        return self.image_size // self.patch_size

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, name: str = "custom") -> SamConfig:
        """Build from a mapping with the reference JSON's field names; unknown keys raise ``SamModelError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SamModelError(f"unknown SAM config field(s): {', '.join(unknown)}")
        values = dict(data)
        if "encoder_global_attn_indexes" in values:
            values["encoder_global_attn_indexes"] = tuple(
                int(i) for i in values["encoder_global_attn_indexes"]
            )
        if values.get("tiny_vit") is not None:
            values["tiny_vit"] = TinyViTConfig.from_dict(values["tiny_vit"])
        values.setdefault("name", name)
        try:
            return cls(**values)
        except TypeError as exc:
            raise SamModelError(f"bad SAM config: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (without ``name``; without ``tiny_vit`` for a ViT model)."""
        data = asdict(self)
        data.pop("name")
        data["encoder_global_attn_indexes"] = list(self.encoder_global_attn_indexes)
        if self.tiny_vit is None:
            data.pop("tiny_vit")
        else:
            data["tiny_vit"] = self.tiny_vit.to_dict()
        return data

    @property
    def encoder_type(self) -> str:
        """``"vit"`` (SAM v1) or ``"tiny_vit"`` (MobileSAM)."""
        return "vit" if self.tiny_vit is None else "tiny_vit"


VIT_B = SamConfig(name="vit_b")
VIT_L = SamConfig(
    name="vit_l",
    encoder_embed_dim=1024,
    encoder_depth=24,
    encoder_num_heads=16,
    encoder_global_attn_indexes=(5, 11, 17, 23),
)
VIT_H = SamConfig(
    name="vit_h",
    encoder_embed_dim=1280,
    encoder_depth=32,
    encoder_num_heads=16,
    encoder_global_attn_indexes=(7, 15, 23, 31),
)

VIT_T = SamConfig(name="vit_t", tiny_vit=TinyViTConfig())
"""MobileSAM: TinyViT-5M under SAM's prompt encoder and decoder (``mobile_sam.pt``)."""

PRESETS: dict[str, SamConfig] = {"vit_b": VIT_B, "vit_l": VIT_L, "vit_h": VIT_H, "vit_t": VIT_T}


def preset(name: str) -> SamConfig:
    """The preset called ``name`` (``vit_b``, ``vit_l``, ``vit_h``, ``vit_t``); raises ``SamModelError`` otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise SamModelError(f"unknown SAM preset {name!r}; known: {', '.join(PRESETS)}") from None
