"""Build SAM v1 / MobileSAM models from presets or configs, detect the preset of a state dict.

Everything that changes numerics for speed (bfloat16 encoder and decoder, ``torch.compile``) is applied here,
not in the modules. Reading files is :mod:`sam_model.checkpoint`'s, choosing a family :mod:`sam_model.build`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

from sam_model.checkpoint import StateDict, load_state_dict_file
from sam_model.device import parse_dtype, resolve_device
from sam_model.errors import ArchitectureMismatchError, SamModelError
from sam_model.sam.config import PRESETS, SamConfig, preset
from sam_model.sam.image_encoder import ImageEncoderViT
from sam_model.sam.mask_decoder import MaskDecoder
from sam_model.sam.model import PIXEL_MEAN, PIXEL_STD, Sam
from sam_model.sam.prompt_encoder import PromptEncoder
from sam_model.sam.tiny_vit import TinyViT, grid_size
from sam_model.sam.transformer import TwoWayTransformer

if TYPE_CHECKING:
    from sam_model.sam.predictor import SamPredictor


def build_sam(
    config: SamConfig | str,
    *,
    checkpoint: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype: str = "float32",
    compile: bool = False,
) -> Sam:
    """Build a SAM model in eval mode.

    Args:
        config: a :class:`SamConfig` or a preset name (``vit_b``, ``vit_l``, ``vit_h``, ``vit_t``).
        checkpoint: optional ``.pth`` state dict; must match ``config`` (else ``ArchitectureMismatchError``).
            Without one the weights are random (PyTorch default init).
        device: ``"cpu"``, ``"cuda"``, ``"mps"``, ``"auto"`` or a ``torch.device``
            (``"meta"`` allocates nothing).
        dtype: ``"float32"`` or ``"bfloat16"`` (the image encoder runs in bf16 and hands float32 features on).
        compile: apply ``torch.compile`` to the image encoder (in place; state-dict keys unchanged).
    """
    cfg = preset(config) if isinstance(config, str) else config
    state_dict = None if checkpoint is None else load_state_dict_file(checkpoint)
    return _build(cfg, state_dict, path=checkpoint, device=device, dtype=dtype, compile=compile)


def _build(
    cfg: SamConfig,
    state_dict: StateDict | None,
    *,
    path: str | Path | None,
    device: str | torch.device,
    dtype: str,
    compile: bool,
) -> Sam:
    torch_dtype = parse_dtype(dtype)
    dev = resolve_device(device)
    if state_dict is None:
        with torch.device(dev):
            model = _construct(cfg)
    else:
        check_architecture(state_dict, cfg, path=path or "<state dict>")
        with torch.device("meta"):
            model = _construct(cfg)
        model.load_state_dict(state_dict, strict=True, assign=True)
        model.pixel_mean = torch.tensor(PIXEL_MEAN).view(-1, 1, 1)
        model.pixel_std = torch.tensor(PIXEL_STD).view(-1, 1, 1)
        # assign=True keeps the checkpoint's dtype: a float16 / bfloat16 file must still give a float32
        # model (the dtype choice is ``dtype``'s, applied below).
        model.to(device=dev, dtype=torch.float32)
    model.eval()
    if torch_dtype is torch.bfloat16:
        apply_bfloat16_encoder(model)
    if compile:
        model.image_encoder.compile()
    return model


def _construct(cfg: SamConfig) -> Sam:
    grid = cfg.embedding_size
    return Sam(
        image_encoder=_construct_encoder(cfg),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(cfg.image_size, cfg.image_size),
            mask_in_chans=cfg.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=cfg.prompt_embed_dim,
            transformer=TwoWayTransformer(
                depth=cfg.decoder_depth,
                embedding_dim=cfg.prompt_embed_dim,
                num_heads=cfg.decoder_num_heads,
                mlp_dim=cfg.decoder_mlp_dim,
            ),
            num_multimask_outputs=cfg.num_multimask_outputs,
            iou_head_depth=cfg.iou_head_depth,
            iou_head_hidden_dim=cfg.iou_head_hidden_dim,
        ),
        mask_threshold=cfg.mask_threshold,
    )


def _construct_encoder(cfg: SamConfig) -> ImageEncoderViT | TinyViT:
    """SAM's ViT, or MobileSAM's TinyViT when ``cfg.tiny_vit`` is set."""
    if cfg.tiny_vit is not None:
        tv = cfg.tiny_vit
        if grid_size(cfg.image_size, tv.merge_strides) != cfg.embedding_size:
            raise SamModelError(
                f"TinyViT merge strides {list(tv.merge_strides)} give a "
                f"{grid_size(cfg.image_size, tv.merge_strides)}-token grid, but the decoder expects "
                f"{cfg.embedding_size} (image_size {cfg.image_size} / patch_size {cfg.patch_size})"
            )
        return TinyViT(
            img_size=cfg.image_size,
            embed_dims=tv.embed_dims,
            depths=tv.depths,
            num_heads=tv.num_heads,
            window_sizes=tv.window_sizes,
            merge_strides=tv.merge_strides,
            mlp_ratio=tv.mlp_ratio,
            mbconv_expand_ratio=tv.mbconv_expand_ratio,
            local_conv_size=tv.local_conv_size,
            out_chans=cfg.prompt_embed_dim,
            num_classes=tv.num_classes,
        )
    return ImageEncoderViT(
        img_size=cfg.image_size,
        patch_size=cfg.patch_size,
        embed_dim=cfg.encoder_embed_dim,
        depth=cfg.encoder_depth,
        num_heads=cfg.encoder_num_heads,
        out_chans=cfg.prompt_embed_dim,
        window_size=cfg.encoder_window_size,
        global_attn_indexes=tuple(cfg.encoder_global_attn_indexes),
    )


def apply_bfloat16_encoder(model: Sam) -> None:
    """Run the image encoder in bfloat16.

    Its weights become bf16, its input is cast to bf16 and its output back to float32, so the prompt
    encoder and the mask decoder stay float32. Hooks (no wrapper module) keep the state-dict keys.
    """
    encoder = model.image_encoder
    encoder.to(torch.bfloat16)
    encoder.register_forward_pre_hook(lambda _m, args: (args[0].to(torch.bfloat16), *args[1:]))
    encoder.register_forward_hook(lambda _m, _args, out: out.float())


def expected_shapes(config: SamConfig) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of a model built from ``config`` and its shape (built on ``meta``: no memory)."""
    with torch.device("meta"):
        model = _construct(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@lru_cache(maxsize=len(PRESETS))
def _preset_shapes(name: str) -> Mapping[str, tuple[int, ...]]:
    return MappingProxyType(expected_shapes(PRESETS[name]))


def sam_family(state_dict: Mapping[str, Tensor]) -> Literal["sam", "mobilesam"] | None:
    """``"sam"`` (ViT encoder keys), ``"mobilesam"`` (TinyViT encoder keys) or ``None`` (neither).

    Only the layout is looked at (a SAM mask decoder and one of the two encoders); whether every key and shape
    is right is :func:`check_architecture`'s question.
    """
    if not any(key.startswith("mask_decoder.") for key in state_dict):
        return None
    if "image_encoder.patch_embed.proj.weight" in state_dict and "image_encoder.pos_embed" in state_dict:
        return "sam"
    if "image_encoder.patch_embed.seq.0.c.weight" in state_dict:
        return "mobilesam"
    return None


def check_architecture(state_dict: Mapping[str, Tensor], config: SamConfig, *, path: str | Path) -> None:
    """Raise ``ArchitectureMismatchError`` naming the first mismatching key and the preset the file is."""
    mismatch = _first_mismatch(state_dict, expected_shapes(config))
    if mismatch is None:
        return
    found = detect_preset(state_dict)
    hint = f"the file is a {found} checkpoint" if found is not None else "it matches no known preset"
    raise ArchitectureMismatchError(
        str(path), f"state dict does not match SAM architecture {config.name!r}: {mismatch}; {hint}"
    )


def _first_mismatch(state_dict: Mapping[str, Tensor], expected: Mapping[str, tuple[int, ...]]) -> str | None:
    for key, shape in expected.items():
        if key not in state_dict:
            return f"missing key {key!r}"
        if tuple(state_dict[key].shape) != shape:
            return f"key {key!r} has shape {tuple(state_dict[key].shape)}, expected {shape}"
    for key in state_dict:
        if key not in expected:
            return f"unexpected key {key!r}"
    return None


def detect_preset(state_dict: Mapping[str, Tensor]) -> str | None:
    """Name of the official preset (``vit_b``, ``vit_l``, ``vit_h``, ``vit_t``) whose keys and shapes the state
    dict has exactly, else ``None``.

    Shapes pin down everything but the mask decoder's head count, which every official checkpoint has at 8; a
    state dict of another architecture needs its config (see :func:`load_sam_predictor`).
    """
    family = sam_family(state_dict)
    if family is None:
        return None
    encoder = "tiny_vit" if family == "mobilesam" else "vit"
    for name, cfg in PRESETS.items():
        if cfg.encoder_type == encoder and _first_mismatch(state_dict, _preset_shapes(name)) is None:
            return name
    return None


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (for logs and the benchmark)."""
    return sum(p.numel() for p in model.parameters())


def load_sam_predictor(
    state_dict: StateDict,
    *,
    path: str | Path,
    config: SamConfig | None,
    model_id: str,
    device: str | torch.device = "auto",
    dtype: str = "float32",
    compile: bool = False,
) -> SamPredictor:
    """A :class:`SamPredictor` for a SAM v1 or MobileSAM state dict.

    Args:
        state_dict: the checkpoint's tensors (official key layout).
        path: the file it came from, named in errors.
        config: the architecture; ``None`` for an official preset, detected from the shapes. A state dict of
            another architecture without one is refused: head counts cannot be read from the weights.
        model_id: identity stamped on embeddings (``<preset or custom>-<sha256[:16]>``).
        device / dtype / compile: as in :func:`build_sam`.
    Raises:
        ArchitectureMismatchError: keys or shapes that do not match ``config``, or no config for a non-preset
            state dict. SamModelError: a bad device or dtype.
    """
    from sam_model.sam.predictor import SamPredictor

    if config is None:
        name = detect_preset(state_dict)
        if name is None:
            raise ArchitectureMismatchError(str(path), needs_config_reason(state_dict))
        config = PRESETS[name]
    model = _build(config, state_dict, path=path, device=device, dtype=dtype, compile=compile)
    # bfloat16: the encoder runs in bf16 (``apply_bfloat16_encoder``) and the decoder under bf16 autocast.
    return SamPredictor(model, model_id=model_id, decoder_dtype=parse_dtype(dtype))


def needs_config_reason(state_dict: Mapping[str, Tensor]) -> str:
    """Why a non-preset SAM / MobileSAM state dict without a config is refused, and how to give the config."""
    family = sam_family(state_dict)
    what = {"sam": "a SAM v1 (ViT) checkpoint", "mobilesam": "a MobileSAM (TinyViT) checkpoint"}.get(
        family or "", "a SAM checkpoint"
    )
    names = ", ".join(
        n for n, c in PRESETS.items() if family is None or (c.tiny_vit is None) == (family == "sam")
    )
    return (
        f"{what} whose keys and shapes match no official preset ({names}), and no configuration was given. "
        "Head counts and windows cannot be read from the weights, so the model is not guessed: put a JSON file "
        "with the same name next to the checkpoint (NAME.json beside NAME.pth) or pass config=, holding a "
        '"config" object with the architecture\'s fields (SamConfig: image_size, encoder_embed_dim, '
        'encoder_depth, encoder_num_heads, encoder_global_attn_indexes, decoder_num_heads, ...; a "tiny_vit" '
        "object for MobileSAM)"
    )
