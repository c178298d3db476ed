"""Build SAM models from presets or configs, load checkpoints with typed errors, and choose device and dtype.

Everything that changes numerics for speed (bfloat16 encoder and decoder, ``torch.compile``) is applied here,
not in the modules.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from sam_model.config import PRESETS, SamConfig, preset
from sam_model.errors import (
    ArchitectureMismatchError,
    CheckpointNotFoundError,
    NotACheckpointError,
    SamModelError,
    TruncatedCheckpointError,
)
from sam_model.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from sam_model.modeling.sam import PIXEL_MEAN, PIXEL_STD

if TYPE_CHECKING:
    from sam_model.predictor import SamPredictor

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}
StateDict = dict[str, Tensor]


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
    torch_dtype = _parse_dtype(dtype)
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


def _parse_dtype(dtype: str) -> torch.dtype:
    try:
        return DTYPES[dtype]
    except KeyError:
        raise SamModelError(f"unsupported dtype {dtype!r}; use one of {', '.join(DTYPES)}") from None


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda, else mps, else cpu; an explicit cuda / mps that is absent: ``SamModelError``."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise SamModelError(f"unknown device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SamModelError(
            f"device {device!r} requested but CUDA is not available (torch {torch.__version__})"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise SamModelError(f"device {device!r} requested but Apple MPS is not available on this machine")
    return dev


def load_state_dict_file(path: str | Path) -> StateDict:
    """Read a SAM checkpoint with ``torch.load(weights_only=True)`` on the CPU.

    Unwraps ``{"model": ...}`` / ``{"state_dict": ...}`` and strips ``module.`` prefixes. Raises
    ``CheckpointNotFoundError``, ``TruncatedCheckpointError`` or ``NotACheckpointError`` (all name the file).
    """
    p = Path(path)
    if not p.is_file():
        reason = "is a directory, not a checkpoint file" if p.is_dir() else "file not found"
        raise CheckpointNotFoundError(str(p), reason)
    if p.stat().st_size == 0:
        raise TruncatedCheckpointError(str(p), "truncated checkpoint: the file is empty (0 bytes)")
    with p.open("rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(p) as zf:
                bad = zf.testzip() if p.stat().st_size < 64 * 1024 * 1024 else None
        except zipfile.BadZipFile as exc:
            raise TruncatedCheckpointError(
                str(p), f"truncated or corrupt checkpoint (zip archive unreadable: {exc}); download it again"
            ) from exc
        if bad is not None:
            raise TruncatedCheckpointError(
                str(p), f"corrupt checkpoint: zip member {bad!r} fails its CRC check"
            )
    elif head[:1] != b"\x80":
        # torch checkpoints are zip archives (torch >= 1.6) or legacy pickles (protocol marker 0x80).
        raise NotACheckpointError(
            str(p), f"not a PyTorch checkpoint (starts with {head!r}: neither a zip archive nor a pickle)"
        )
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except (IndexError, KeyError, TypeError, AttributeError, struct.error) as exc:
        # The legacy unpickler fails this way on a pickle stream that is not a checkpoint.
        raise NotACheckpointError(str(p), f"not a PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc
    except (EOFError, pickle.UnpicklingError) as exc:
        text = str(exc).strip()
        if head[:1] == b"\x80" and (isinstance(exc, EOFError) or "ran out of input" in text.lower()):
            raise TruncatedCheckpointError(str(p), "truncated checkpoint (unexpected end of file)") from exc
        first = text.splitlines()[0] if text else type(exc).__name__
        raise NotACheckpointError(str(p), f"not a PyTorch checkpoint ({first})") from exc
    except (RuntimeError, ValueError, OSError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "unexpected eof" in text.lower():
            raise TruncatedCheckpointError(str(p), f"truncated checkpoint ({text})") from exc
        raise NotACheckpointError(str(p), f"not a readable PyTorch checkpoint ({text})") from exc
    return _as_state_dict(obj, p)


def _as_state_dict(obj: object, path: Path) -> StateDict:
    for _ in range(2):
        if isinstance(obj, Mapping):
            for wrapper in ("model", "state_dict"):
                if wrapper in obj and isinstance(obj[wrapper], Mapping):
                    obj = obj[wrapper]
                    break
    if not isinstance(obj, Mapping):
        raise NotACheckpointError(str(path), f"holds a {type(obj).__name__}, not a state dict of tensors")
    state: StateDict = {}
    for key, value in obj.items():
        if not isinstance(value, Tensor):
            raise NotACheckpointError(str(path), f"entry {key!r} is a {type(value).__name__}, not a tensor")
        name = str(key)
        while name.startswith("module."):
            name = name[len("module.") :]
        state[name] = value
    if not state:
        raise NotACheckpointError(str(path), "holds an empty state dict")
    return state


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


def file_sha256(path: str | Path, *, chunk_size: int = 8 * 1024 * 1024) -> str:
    """Hex SHA-256 of a file, read in chunks (a 2.5 GB checkpoint takes a few seconds)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def load_predictor(
    checkpoint: str | Path, *, device: str = "auto", dtype: str = "float32", compile: bool = False
) -> SamPredictor:
    """Load a checkpoint of any SAM architecture (preset detected from shapes) into a :class:`SamPredictor`.

    ``model_id`` is ``f"{preset}-{sha256(file)[:16]}"`` (``custom`` for a non-preset architecture).
    """
    from sam_model.predictor import SamPredictor

    state_dict = load_state_dict_file(checkpoint)
    name = detect_preset(state_dict)
    try:
        cfg = PRESETS[name] if name is not None else config_from_state_dict(state_dict)
    except SamModelError as exc:
        raise ArchitectureMismatchError(str(checkpoint), str(exc)) from exc
    model = _build(cfg, state_dict, path=checkpoint, device=device, dtype=dtype, compile=compile)
    model_id = f"{name or 'custom'}-{file_sha256(checkpoint)[:16]}"
    # bfloat16: the encoder runs in bf16 (``apply_bfloat16_encoder``) and the decoder under bf16 autocast.
    return SamPredictor(model, model_id=model_id, decoder_dtype=_parse_dtype(dtype))


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (for logs and the benchmark)."""
    return sum(p.numel() for p in model.parameters())
