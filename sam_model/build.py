"""One loader for every model family: read a checkpoint file, tell its family and preset, build its predictor.

Families: SAM v1 (ViT-B/L/H), MobileSAM (TinyViT, ``vit_t``), SAM 2 and SAM 2.1 (Hiera). The family and the
official preset are read from the state dict's keys and shapes (:func:`identify`). Any other architecture needs
its configuration, because head counts and attention windows leave no trace in the weights: ``config=`` (a JSON
file or a dict) or a sidecar ``NAME.json`` next to ``NAME.pth`` / ``NAME.pt``. Without one it is refused
(``ArchitectureMismatchError``) rather than built with guessed sizes that would give wrong masks silently.

Configuration files are reference-style JSON: a ``config`` object with :class:`~sam_model.sam.config.SamConfig`'s
fields for SAM v1 and MobileSAM (``tiny_vit`` holds TinyViT's), a ``model`` object (upstream's configuration
tree) for SAM 2; a dict given as ``config=`` may also be that object itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sam_model.allocator import keep_freed_memory
from sam_model.checkpoint import file_sha256, load_state_dict_file
from sam_model.errors import ArchitectureMismatchError, ModelConfigError, SamModelError

if TYPE_CHECKING:
    from torch import Tensor

    from sam_model.protocol import Segmenter
    from sam_model.sam.config import SamConfig

Family = Literal["sam", "mobilesam", "sam2"]

_FAMILY_NAMES: dict[str, str] = {"sam": "SAM", "mobilesam": "MobileSAM", "sam2": "SAM"}
_CONFIG_KEY: dict[str, str] = {"sam": "config", "mobilesam": "config", "sam2": "model"}


@dataclass(frozen=True)
class ModelIdentity:
    """What a state dict is.

    Attributes:
        family: ``"sam"`` (SAM v1, ViT), ``"mobilesam"`` (TinyViT) or ``"sam2"`` (SAM 2 / 2.1, Hiera).
        version: ``"1"`` for SAM v1 and MobileSAM, ``"2"`` or ``"2.1"`` for SAM 2.
        preset: the official preset whose keys and shapes it has exactly (``vit_b``, ``vit_t``,
            ``sam2.1_hiera_tiny``, ...), or ``None`` for another architecture (which needs a config to load).
    """

    family: Family
    version: str
    preset: str | None

    @property
    def label(self) -> str:
        """For people: ``"SAM 1 vit_b"``, ``"MobileSAM vit_t"``, ``"SAM 2.1 sam2.1_hiera_tiny"``,
        ``"SAM 1 (custom architecture)"``."""
        name = "MobileSAM" if self.family == "mobilesam" else f"{_FAMILY_NAMES[self.family]} {self.version}"
        return f"{name} {self.preset or '(custom architecture)'}"


def identify(state_dict: Mapping[str, Tensor], *, path: str | Path = "<state dict>") -> ModelIdentity:
    """Family, version and official preset of a state dict, from its keys and shapes (nothing is built).

    Raises ``ArchitectureMismatchError`` (naming ``path``) when it is none of the known families.
    """
    from sam_model.sam.build import detect_preset, sam_family

    family = sam_family(state_dict)
    if family is not None:
        return ModelIdentity(family=family, version="1", preset=detect_preset(state_dict))
    from sam_model.sam2.build import detect_sam2_preset, is_sam2_state_dict

    if is_sam2_state_dict(state_dict):
        preset = detect_sam2_preset(state_dict)
        if preset is not None:
            version = preset.split("_", 1)[0].removeprefix("sam")
        else:
            # SAM 2 and 2.1 share the image path; only 2.1's video modules have these keys.
            v21 = "no_obj_embed_spatial" in state_dict or "obj_ptr_tpos_proj.weight" in state_dict
            version = "2.1" if v21 else "2"
        return ModelIdentity(family="sam2", version=version, preset=preset)
    families = "SAM, MobileSAM, SAM 2"
    sample = ", ".join(list(state_dict)[:3])
    raise ArchitectureMismatchError(
        str(path), f"not a checkpoint of a known model family ({families}); its first keys are: {sample}"
    )


def load_predictor(
    path: str | Path,
    *,
    device: str = "auto",
    dtype: str = "float32",
    config: str | Path | Mapping[str, Any] | None = None,
    compile: bool = False,
) -> Segmenter:
    """Load a checkpoint file into its family's predictor (``SamPredictor`` or ``Sam2Predictor``).

    Args:
        path: the checkpoint (``.pth`` / ``.pt``; wrappers and ``module.`` prefixes are unwrapped).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        dtype: ``"float32"`` or ``"bfloat16"`` (the image encoder in bf16, the decoder under bf16 autocast).
        config: the architecture, for a checkpoint that is not an official preset: a reference-style JSON
            file or dict (see the module docstring). ``None``: a sidecar ``NAME.json`` next to the file if it
            holds one, else the preset detected from the weights.
        compile: ``torch.compile`` the image encoder (SAM v1 and MobileSAM).
    Returns:
        the predictor; its ``model_id`` is ``f"{preset or 'custom'}-{sha256(file)[:16]}"``.
    Raises:
        CheckpointError subclasses, each naming the file: unreadable file, unknown family, keys or shapes that
        do not match, a non-preset architecture without a config (``ArchitectureMismatchError``), or a bad
        config file (``ModelConfigError``).
    """
    keep_freed_memory()  # process-wide: large temporaries are reused, not faulted in again (sam_model.allocator)
    state_dict = load_state_dict_file(path)
    identity = identify(state_dict, path=path)
    tree = resolve_config(path, identity, config)
    model_id = f"{identity.preset or 'custom'}-{file_sha256(path)[:16]}"
    if identity.family == "sam2":
        from sam_model.sam2.build import load_sam2_predictor

        if compile:
            raise SamModelError("compile is supported for SAM v1 and MobileSAM only, not SAM 2")
        return load_sam2_predictor(
            state_dict, path=path, config=tree, device=device, dtype=dtype, model_id=model_id
        )
    from sam_model.sam.build import load_sam_predictor

    return load_sam_predictor(
        state_dict,
        path=path,
        config=_sam_config(path, identity, tree, config),
        model_id=model_id,
        device=device,
        dtype=dtype,
        compile=compile,
    )


def check_checkpoint(
    path: str | Path, *, config: str | Path | Mapping[str, Any] | None = None
) -> ModelIdentity:
    """What :func:`load_predictor` would load, without building it: reads the file, identifies it and checks that
    its architecture is known (an official preset, or a configuration given or in a sidecar that its keys and
    shapes match; a SAM 2 configuration is checked when loading). Raises what ``load_predictor`` raises.
    """
    state_dict = load_state_dict_file(path)
    identity = identify(state_dict, path=path)
    tree = resolve_config(path, identity, config)
    if identity.family == "sam2":
        if tree is None and identity.preset is None:
            raise ArchitectureMismatchError(
                str(path),
                f"a {identity.label} checkpoint that is no official SAM 2 / 2.1 size, and no configuration was "
                'given: put upstream\'s configuration (a "model" object) in a JSON file with the same name next '
                "to the checkpoint (NAME.json beside NAME.pt) or pass config=",
            )
        return identity
    from sam_model.sam.build import check_architecture, detect_preset, needs_config_reason

    sam_config = _sam_config(path, identity, tree, config)
    if sam_config is None:
        if detect_preset(state_dict) is None:
            raise ArchitectureMismatchError(str(path), needs_config_reason(state_dict))
    else:
        check_architecture(state_dict, sam_config, path=path)
    return identity


def _sam_config(
    path: str | Path,
    identity: ModelIdentity,
    tree: Mapping[str, Any] | None,
    config: str | Path | Mapping[str, Any] | None,
) -> SamConfig | None:
    """``tree`` as a SAM / MobileSAM config (``ModelConfigError`` naming its origin if it is not one)."""
    from sam_model.sam.config import SamConfig

    if tree is None:
        return None
    origin = _config_origin(path, config)
    try:
        sam_config = SamConfig.from_dict(dict(tree), name=identity.preset or "custom")
    except SamModelError as exc:
        raise ModelConfigError(origin, str(exc)) from exc
    if (sam_config.tiny_vit is not None) != (identity.family == "mobilesam"):
        hint = ' (add a "tiny_vit" object)' if identity.family == "mobilesam" else ""
        raise ModelConfigError(
            origin,
            f"the configuration describes a {sam_config.encoder_type} image encoder, but {Path(path).name} is "
            f"a {identity.label} checkpoint{hint}",
        )
    return sam_config


def resolve_config(
    path: str | Path, identity: ModelIdentity, config: str | Path | Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The configuration object for ``identity``'s family, or ``None`` (use the detected preset).

    ``config`` is a JSON file or a dict holding the family's key (``config`` / ``model``) or being that object
    itself. Without it, a sidecar ``NAME.json`` next to ``path`` is used when it holds the family's key (other
    JSON next to a checkpoint, e.g. notes or a reference file without one, is not a configuration).
    """
    key = _CONFIG_KEY[identity.family]
    if config is None:
        sidecar = Path(path).with_suffix(".json")
        if not sidecar.is_file():
            return None
        data = _read_json(sidecar)
        return _object(data[key], sidecar, key) if isinstance(data, dict) and key in data else None
    if isinstance(config, Mapping):
        return _object(config[key], "config", key) if key in config else config
    data = _read_json(Path(config))
    if not isinstance(data, dict):
        raise ModelConfigError(
            str(config), f"a configuration file must hold a JSON object, not {type(data).__name__}"
        )
    return _object(data[key], config, key) if key in data else data


def _object(value: object, origin: str | Path, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ModelConfigError(str(origin), f"{key!r} must be a JSON object, not {type(value).__name__}")
    return value


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelConfigError(str(path), "configuration file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelConfigError(str(path), f"unreadable configuration file ({exc})") from exc


def _config_origin(path: str | Path, config: str | Path | Mapping[str, Any] | None) -> str:
    if config is None:
        return str(Path(path).with_suffix(".json"))
    return "config" if isinstance(config, Mapping) else str(config)


__all__ = ["ModelIdentity", "check_checkpoint", "identify", "load_predictor", "resolve_config"]
