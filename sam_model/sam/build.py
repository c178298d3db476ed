"""Build SAM v1 / MobileSAM models from presets or configs, detect the preset of a state dict.

Everything that changes numerics for speed (bfloat16 encoder and decoder, ``torch.compile``) is applied here,
not in the modules. Reading files is :mod:`sam_model.checkpoint`'s, choosing a family :mod:`sam_model.build`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

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
        config: a :class:`SamConfig` or a preset name (``vit_b``, ``vit_l``, ``vit_h``).
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
        image_encoder=ImageEncoderViT(
            img_size=cfg.image_size,
            patch_size=cfg.patch_size,
            embed_dim=cfg.encoder_embed_dim,
            depth=cfg.encoder_depth,
            num_heads=cfg.encoder_num_heads,
            out_chans=cfg.prompt_embed_dim,
            window_size=cfg.encoder_window_size,
            global_attn_indexes=tuple(cfg.encoder_global_attn_indexes),
        ),
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


def check_architecture(state_dict: Mapping[str, Tensor], config: SamConfig, *, path: str | Path) -> None:
    """Raise ``ArchitectureMismatchError`` naming the first mismatching key and the preset the file is."""
    mismatch = _first_mismatch(state_dict, expected_shapes(config))
    if mismatch is None:
        return
    found = detect_preset(state_dict)
    if found is not None:
        hint = f"the file is a {found} checkpoint"
    else:
        try:
            derived = config_from_state_dict(state_dict)
            hint = (
                f"it matches no known preset (embed dim {derived.encoder_embed_dim}, "
                f"depth {derived.encoder_depth}, heads {derived.encoder_num_heads})"
            )
        except SamModelError:
            hint = "it matches no known preset"
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


def _count(state_dict: Mapping[str, Tensor], prefix: str) -> int:
    """Number of numbered children ``prefix.<i>.`` (max index + 1)."""
    indexes = set()
    for key in state_dict:
        if key.startswith(prefix + "."):
            head = key[len(prefix) + 1 :].split(".", 1)[0]
            if head.isdigit():
                indexes.add(int(head))
    return max(indexes) + 1 if indexes else 0


def config_from_state_dict(state_dict: Mapping[str, Tensor], *, name: str = "custom") -> SamConfig:
    """Derive the architecture from tensor shapes (``SamModelError`` if a key it needs is absent).

    Heads of the encoder come from ``rel_pos_h``'s width (the head dim); global blocks are those whose
    ``rel_pos_h`` spans the whole grid (``2 * grid - 1`` rows). The decoder's head count has no shape
    signature: it is taken as the default (8), as in every official checkpoint.
    """
    try:
        proj = state_dict["image_encoder.patch_embed.proj.weight"]
        pos = state_dict["image_encoder.pos_embed"]
        embed_dim, patch = int(proj.shape[0]), int(proj.shape[2])
        grid = int(pos.shape[1])
        depth = _count(state_dict, "image_encoder.blocks")
        rel = [state_dict[f"image_encoder.blocks.{i}.attn.rel_pos_h"] for i in range(depth)]
        head_dim = int(rel[0].shape[1])
        global_idx = tuple(i for i, r in enumerate(rel) if r.shape[0] == 2 * grid - 1)
        windowed = [int(r.shape[0]) for i, r in enumerate(rel) if i not in global_idx]
        window = (windowed[0] + 1) // 2 if windowed else SamConfig().encoder_window_size
        prompt_dim = int(state_dict["image_encoder.neck.0.weight"].shape[0])
        layers = _count(state_dict, "mask_decoder.transformer.layers")
        return SamConfig(
            name=name,
            image_size=grid * patch,
            patch_size=patch,
            encoder_embed_dim=embed_dim,
            encoder_depth=depth,
            encoder_num_heads=embed_dim // head_dim,
            encoder_global_attn_indexes=global_idx,
            encoder_window_size=window,
            prompt_embed_dim=prompt_dim,
            decoder_mlp_dim=int(state_dict["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0]),
            decoder_depth=layers,
            mask_in_chans=int(state_dict["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
            iou_head_hidden_dim=int(state_dict["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]),
            iou_head_depth=_count(state_dict, "mask_decoder.iou_prediction_head.layers"),
            num_multimask_outputs=int(state_dict["mask_decoder.mask_tokens.weight"].shape[0]) - 1,
        )
    except (KeyError, IndexError) as exc:
        raise SamModelError(f"not a SAM state dict: cannot derive the architecture (missing {exc})") from exc


def detect_preset(state_dict: Mapping[str, Tensor]) -> str | None:
    """Name of the official preset whose keys and shapes the state dict has exactly, else ``None``."""
    try:
        derived = config_from_state_dict(state_dict)
    except SamModelError:
        return None
    for name, cfg in PRESETS.items():
        if cfg == derived and _first_mismatch(state_dict, expected_shapes(cfg)) is None:
            return name
    return None


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (for logs and the benchmark)."""
    return sum(p.numel() for p in model.parameters())


def load_sam_predictor(
    state_dict: StateDict,
    *,
    path: str | Path,
    model_id_suffix: str,
    device: str,
    dtype: str,
    compile: bool = False,
) -> SamPredictor:
    """A :class:`SamPredictor` for a SAM v1 state dict (preset detected from shapes).

    ``model_id`` is ``f"{preset}-{model_id_suffix}"`` (``custom`` for a non-preset architecture).
    """
    from sam_model.sam.predictor import SamPredictor

    name = detect_preset(state_dict)
    try:
        cfg = PRESETS[name] if name is not None else config_from_state_dict(state_dict)
    except SamModelError as exc:
        raise ArchitectureMismatchError(str(path), str(exc)) from exc
    model = _build(cfg, state_dict, path=path, device=device, dtype=dtype, compile=compile)
    # bfloat16: the encoder runs in bf16 (``apply_bfloat16_encoder``) and the decoder under bf16 autocast.
    return SamPredictor(
        model, model_id=f"{name or 'custom'}-{model_id_suffix}", decoder_dtype=parse_dtype(dtype)
    )
