"""SAM 2 image encoder: Hiera trunk + FPN neck, its configuration (read from upstream's ``model.image_encoder``
configuration tree) and its builder.

State-dict keys are ``trunk.*`` and ``neck.*`` exactly as under ``image_encoder.`` in the official checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from torch import Tensor, nn

from sam_model.errors import SamModelError
from sam_model.sam2.hiera import Hiera, HieraConfig
from sam_model.sam2.neck import FUSE_TYPES, INTERP_MODES, FpnNeck, FpnNeckConfig, SineEncodingConfig

# Upstream arguments that do not change the numbers of an image encoding: cache warm-up (any value), and the
# trunk's separate weight file and single-level output (only upstream's defaults are supported).
_ANY = object()
_IGNORED: dict[str, Mapping[str, Any]] = {
    "trunk": {"weights_path": None, "return_interm_layers": True},
    "neck.position_encoding": {"warmup_cache": _ANY, "image_size": _ANY, "strides": _ANY},
}


@dataclass(frozen=True, kw_only=True)
class ImageEncoderConfig:
    """The ``model.image_encoder`` tree of an upstream SAM 2 configuration.

    Attributes:
        trunk: the Hiera trunk (``trunk``).
        neck: the FPN neck (``neck``), ``backbone_channel_list`` equal to the trunk's channels, coarsest first.
        scalp: how many of the coarsest levels are dropped after the neck (1 in every official model).
    """

    trunk: HieraConfig
    neck: FpnNeckConfig
    scalp: int = 0

    @classmethod
    def from_tree(cls, tree: Mapping[str, Any]) -> ImageEncoderConfig:
        """Read upstream's ``model.image_encoder`` tree (``_target_`` keys ignored; missing fields take
        upstream's defaults). Unknown or invalid fields raise ``SamModelError`` naming the field."""
        top = _fields(tree, "image_encoder", {"scalp", "trunk", "neck"})
        trunk_tree = _fields(
            top.get("trunk", {}), "image_encoder.trunk", _names(HieraConfig), _IGNORED["trunk"]
        )
        neck_tree = _fields(top.get("neck", {}), "image_encoder.neck", _names(FpnNeckConfig))
        if "position_encoding" not in neck_tree:
            raise SamModelError("image_encoder.neck.position_encoding: missing")
        pos_tree = _fields(
            neck_tree["position_encoding"],
            "image_encoder.neck.position_encoding",
            _names(SineEncodingConfig),
            _IGNORED["neck.position_encoding"],
        )
        trunk = HieraConfig(**_convert(trunk_tree, "image_encoder.trunk", _TRUNK_FIELDS))
        pos = SineEncodingConfig(**_convert(pos_tree, "image_encoder.neck.position_encoding", _POS_FIELDS))
        neck_values = _convert(
            {k: v for k, v in neck_tree.items() if k != "position_encoding"},
            "image_encoder.neck",
            _NECK_FIELDS,
        )
        for required in ("d_model", "backbone_channel_list"):
            if required not in neck_values:
                raise SamModelError(f"image_encoder.neck.{required}: missing")
        neck = FpnNeckConfig(position_encoding=pos, **neck_values)
        scalp = _convert({"scalp": top.get("scalp", 0)}, "image_encoder", {"scalp": _int(0)})["scalp"]
        config = cls(trunk=trunk, neck=neck, scalp=scalp)
        config.validate()
        return config

    def validate(self) -> None:
        """Check what upstream's constructors assert; ``SamModelError`` naming the field otherwise."""
        t, n = self.trunk, self.neck
        if len(t.stages) != len(t.window_spec):
            raise SamModelError("image_encoder.trunk.window_spec: needs one entry per stage")
        if t.q_pool > len(t.stages) - 1:
            raise SamModelError(f"image_encoder.trunk.q_pool: at most {len(t.stages) - 1}")
        if n.position_encoding.num_pos_feats % 2:
            raise SamModelError("image_encoder.neck.position_encoding.num_pos_feats: must be even")
        if n.position_encoding.scale is not None and not n.position_encoding.normalize:
            raise SamModelError("image_encoder.neck.position_encoding.scale: needs normalize true")
        if n.fpn_interp_model not in INTERP_MODES:
            raise SamModelError(f"image_encoder.neck.fpn_interp_model: one of {', '.join(INTERP_MODES)}")
        if n.fuse_type not in FUSE_TYPES:
            raise SamModelError(f"image_encoder.neck.fuse_type: one of {', '.join(FUSE_TYPES)}")
        channels = trunk_channel_list(t)
        if list(n.backbone_channel_list) != channels:
            raise SamModelError(
                f"image_encoder.neck.backbone_channel_list: {list(n.backbone_channel_list)} does not match the "
                f"trunk's channels {channels} (coarsest first)"
            )
        if self.scalp >= len(channels):
            raise SamModelError(f"image_encoder.scalp: must be below the {len(channels)} levels")


def trunk_channel_list(trunk: HieraConfig) -> list[int]:
    """The trunk's channels per stage, coarsest first (upstream's ``Hiera.channel_list``)."""
    dims, dim = [], trunk.embed_dim
    for i in range(len(trunk.stages)):
        if i:
            dim = int(dim * trunk.dim_mul)
        dims.append(dim)
    return dims[::-1]


@dataclass
class EncoderOutput:
    """What the encoder hands to the decoder (``B = 1`` for a 1024x1024 input, ``scalp = 1``):

    - ``backbone_fpn``: the kept levels finest first: ``B x d_model x 256 x 256``, ``x 128 x 128``, ``x 64 x 64``;
    - ``vision_pos_enc``: their sine position encodings, same shapes (read-only views of a cache);
    - ``vision_features``: the coarsest kept level (``backbone_fpn[-1]``, the image embedding before
      ``no_mem_embed``).
    """

    backbone_fpn: list[Tensor]
    vision_pos_enc: list[Tensor]
    vision_features: Tensor


class ImageEncoder(nn.Module):
    """``forward``: ``B x 3 x 1024 x 1024`` normalised image -> ``EncoderOutput``."""

    def __init__(self, *, trunk: Hiera, neck: FpnNeck, scalp: int = 1) -> None:
        super().__init__()
        if trunk.channel_list != neck.backbone_channel_list:
            raise SamModelError(
                f"image encoder: trunk channels {trunk.channel_list} do not match the neck's "
                f"{neck.backbone_channel_list}"
            )
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp

    def _finish(self, levels: list[Tensor]) -> EncoderOutput:
        features, pos = self.neck(levels)
        if self.scalp > 0:
            features, pos = features[: -self.scalp], pos[: -self.scalp]
        return EncoderOutput(backbone_fpn=features, vision_pos_enc=pos, vision_features=features[-1])

    def forward(self, sample: Tensor) -> EncoderOutput:
        return self._finish(self.trunk(sample))

    def forward_steps(self, sample: Tensor) -> Generator[None, None, EncoderOutput]:
        """``forward`` in small steps (patch embedding, each Hiera block, the neck), yielding between them; the
        generator's return value is the ``EncoderOutput``. Wrap each ``next()`` in ``torch.inference_mode()``."""
        levels = yield from self.trunk.forward_steps(sample)
        return self._finish(levels)


def build_image_encoder(config: ImageEncoderConfig) -> ImageEncoder:
    """An ``ImageEncoder`` with zero-initialised parameters (load a state dict into it)."""
    config.validate()
    return ImageEncoder(
        trunk=Hiera(config=config.trunk), neck=FpnNeck(config=config.neck), scalp=config.scalp
    )


# --- configuration tree parsing --------------------------------------------------------------------------


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _fields(
    tree: Any, where: str, known: set[str], ignored: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The entries of ``tree`` without ``_target_`` and the ignorable ones; unknown keys raise."""
    if not isinstance(tree, Mapping):
        raise SamModelError(f"{where}: expected a mapping, got {type(tree).__name__}")
    ignored = ignored or {}
    out = {}
    for key, value in tree.items():
        if key == "_target_":
            continue
        if key in ignored:
            expected = ignored[key]
            if expected is not _ANY and value != expected:
                raise SamModelError(f"{where}.{key}: only {expected!r} is supported, got {value!r}")
            continue
        if key not in known:
            raise SamModelError(f"{where}.{key}: unknown field")
        out[key] = value
    return out


Converter = Callable[[Any, str], Any]


def _int(minimum: int) -> Converter:
    def convert(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SamModelError(f"{where}: expected an integer >= {minimum}, got {value!r}")
        return value

    return convert


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SamModelError(f"{where}: expected a positive number, got {value!r}")
    return value


def _int_list(minimum: int, length: int | None = None) -> Converter:
    def convert(value: Any, where: str) -> tuple[int, ...]:
        if not isinstance(value, list | tuple) or (length is not None and len(value) != length):
            size = f"{length} " if length is not None else ""
            raise SamModelError(f"{where}: expected a list of {size}integers, got {value!r}")
        return tuple(_int(minimum)(v, f"{where}[{i}]") for i, v in enumerate(value))

    return convert


def _optional(inner: Converter) -> Converter:
    return lambda value, where: None if value is None else inner(value, where)


def _choice(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SamModelError(f"{where}: expected a string, got {value!r}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SamModelError(f"{where}: expected true or false, got {value!r}")
    return value


_TRUNK_FIELDS: dict[str, Converter] = {
    "embed_dim": _int(1),
    "num_heads": _int(1),
    "drop_path_rate": lambda v, w: 0.0 if v == 0 else _number(v, w),
    "q_pool": _int(0),
    "q_stride": _int_list(1, 2),
    "stages": _int_list(1),
    "dim_mul": _number,
    "head_mul": _number,
    "window_pos_embed_bkg_spatial_size": _int_list(1, 2),
    "window_spec": _int_list(0),
    "global_att_blocks": lambda v, w: () if v is None else _int_list(0)(v, w),
}
_NECK_FIELDS: dict[str, Converter] = {
    "d_model": _int(1),
    "backbone_channel_list": _int_list(1),
    "kernel_size": _int(1),
    "stride": _int(1),
    "padding": _int(0),
    "fpn_interp_model": _choice,
    "fuse_type": _choice,
    "fpn_top_down_levels": _optional(_int_list(0)),
}
_POS_FIELDS: dict[str, Converter] = {
    "num_pos_feats": _int(2),
    "temperature": _number,
    "normalize": _bool,
    "scale": _optional(_number),
}


def _convert(values: Mapping[str, Any], where: str, converters: Mapping[str, Converter]) -> dict[str, Any]:
    return {key: converters[key](value, f"{where}.{key}") for key, value in values.items()}
