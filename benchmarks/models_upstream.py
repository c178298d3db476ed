"""Upstream models for ``benchmarks.models``, imported from checkouts outside the repository.

The three upstream packages (``segment_anything`` from facebookresearch/segment-anything, ``mobile_sam`` from
ChaoningZhang/MobileSAM, ``sam2`` from facebookresearch/sam2) are imported from the directories given on the
command line, never installed. Their package ``__init__`` files pull in what is not installed here (hydra,
torchvision's ops, timm), so each package is registered by path without running its ``__init__``, and the few
third-party names its measured modules import get stand-ins in ``sys.modules`` (only where the real package is
missing):

- timm (MobileSAM's TinyViT): ``DropPath`` (identity at inference), ``to_2tuple``, ``trunc_normal_``,
  ``register_model`` (a no-op decorator);
- torchvision.transforms.functional (SAM / MobileSAM ``ResizeLongestSide.apply_image``): ``to_pil_image`` and
  ``resize`` on a PIL image, i.e. PIL's bilinear resize, which is what torchvision calls for a PIL image;
- torchvision.transforms (SAM 2's ``SAM2Transforms``): ``ToTensor``, ``Resize`` (bilinear, antialiased
  ``interpolate``, what torchvision's tensor resize calls) and ``Normalize``;
- iopath (SAM 2's Hiera, used only to read pretrained trunk weights) and tqdm (SAM 2's video frame loader).

SAM 2 models are built from the official YAML files of the checkout (``sam2/configs/sam2.1/*.yaml``) with the
overrides that ``build_sam2`` applies (stability-based single-mask choice); the YAML subset those files use is
read by :func:`read_yaml` (no PyYAML or hydra here).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

PACKAGES = {"sam": "segment_anything", "mobilesam": "mobile_sam", "sam2": "sam2"}
"""Checkout kind -> the Python package inside it."""

SAM2_CONFIGS = {
    "sam2.1_hiera_tiny": "sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small": "sam2.1/sam2.1_hiera_s.yaml",
}
"""Our preset name -> upstream's config file under ``sam2/configs``."""

SAM2_POSTPROCESSING = {
    "dynamic_multimask_via_stability": True,
    "dynamic_multimask_stability_delta": 0.05,
    "dynamic_multimask_stability_thresh": 0.98,
}
"""``build_sam2(apply_postprocessing=True)``'s overrides of ``model.sam_mask_decoder_extra_args``."""

TINY = {
    "encoder_embed_dim": 32,
    "encoder_depth": 2,
    "encoder_num_heads": 2,
    "encoder_global_attn_indexes": (1,),
}
"""The ``tiny`` family (smoke tests): a narrow 2-block ViT under SAM's full-size prompt encoder and decoder;
upstream builds it with ``segment_anything.build_sam._build_sam``."""

UNUSED_KEYS = {
    "sam": (),
    "mobilesam": ("image_encoder.norm_head.", "image_encoder.head."),
    "sam2": (
        "memory_attention.",
        "memory_encoder.",
        "obj_ptr_proj.",
        "obj_ptr_tpos_proj.",
        "mask_downsample.",
        "maskmem_tpos_enc",
        "no_mem_pos_enc",
        "no_obj_ptr",
        "no_obj_embed_spatial",
    ),
}
"""Upstream keys that our image path does not have (classification head, video modules): left at their init."""


class UpstreamError(RuntimeError):
    """An upstream checkout is missing, incomplete or does not take our weights."""


@dataclass
class Upstream:
    """An upstream model with our weights and its image predictor (``set_image`` / ``predict``)."""

    model: nn.Module
    predictor: Any
    loaded_keys: int
    left_at_init: int


# --- stand-ins ---------------------------------------------------------------------------------------------


class _DropPath(nn.Module):
    """timm's ``DropPath``: identity at inference (the benchmark never trains)."""

    def __init__(self, drop_prob: float | None = None, scale_by_keep: bool = True) -> None:
        super().__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.drop_prob:
            raise RuntimeError("the DropPath stand-in only runs in eval mode")
        return x


def _to_2tuple(x: Any) -> tuple[Any, Any]:
    return tuple(x) if isinstance(x, Iterable) else (x, x)  # type: ignore[return-value]


def _to_pil_image(pic: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(pic)


def _resize(img: Any, size: list[int] | tuple[int, int]) -> Any:
    from PIL import Image

    h, w = int(size[0]), int(size[1])
    return img.resize((w, h), Image.Resampling.BILINEAR)


class _ToTensor:
    """HWC uint8 array -> CHW float32 in [0, 1]."""

    def __call__(self, pic: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(pic)).permute(2, 0, 1).contiguous().float().div(255.0)


class _Resize(nn.Module):
    """torchvision's tensor ``Resize`` to a fixed size: bilinear ``interpolate`` with antialiasing."""

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = (int(size[0]), int(size[1]))

    def forward(self, x: Tensor) -> Tensor:
        out = F.interpolate(
            x.unsqueeze(0), size=self.size, mode="bilinear", align_corners=False, antialias=True
        )
        return out.squeeze(0)


class _Normalize(nn.Module):
    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(-1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__path__ = []  # a package, so that submodules resolve in sys.modules
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)  # find_spec() needs one
    return module


def install_stand_ins() -> list[str]:
    """Put the stand-ins into ``sys.modules`` where the real packages are missing; returns their names."""
    stand_ins = {
        "timm": {},
        "timm.models": {},
        "timm.models.layers": {
            "DropPath": _DropPath,
            "to_2tuple": _to_2tuple,
            "trunc_normal_": nn.init.trunc_normal_,
        },
        "timm.models.registry": {"register_model": lambda fn: fn},
        "torchvision": {},
        "torchvision.transforms": {"ToTensor": _ToTensor, "Resize": _Resize, "Normalize": _Normalize},
        "torchvision.transforms.functional": {"resize": _resize, "to_pil_image": _to_pil_image},
        "iopath": {},
        "iopath.common": {},
        "iopath.common.file_io": {"g_pathmgr": None},
        "tqdm": {"tqdm": lambda it, *a, **k: it},
    }
    installed = []
    for top in ("timm", "torchvision", "iopath", "tqdm"):
        try:
            importlib.import_module(top)
        except ImportError:
            for name, attrs in stand_ins.items():
                if name == top or name.startswith(top + "."):
                    sys.modules[name] = _module(name, **attrs)
                    installed.append(name)
    return installed


def register_package(kind: str, checkout: Path) -> str:
    """Make ``import <package>.<module>`` load from ``checkout`` without running the package's ``__init__``."""
    package = PACKAGES[kind]
    root = Path(checkout).resolve() / package
    if not (root / "modeling").is_dir():
        raise UpstreamError(
            f"{checkout}: no {package}/modeling/ in it (expected a checkout of the {kind} repository)"
        )
    module = types.ModuleType(package)
    module.__path__ = [str(root)]
    module.__file__ = str(root / "__init__.py")
    module.__spec__ = importlib.machinery.ModuleSpec(package, None, origin=module.__file__, is_package=True)
    module.__spec__.submodule_search_locations = [str(root)]
    sys.modules[package] = module
    return package


# --- SAM 2 configuration -----------------------------------------------------------------------------------


def _scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(part) for part in text[1:-1].split(",") if part.strip()]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~", ""):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip("'\"")


def read_yaml(path: Path) -> dict[str, Any]:
    """The subset of YAML the SAM 2 configs use: nested mappings by indentation, flow lists, scalars, comments."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for raw in Path(path).read_text().splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        key, sep, value = line.strip().partition(":")
        if not sep or line.strip().startswith("- "):
            raise UpstreamError(f"{path}: unsupported YAML line {raw!r}")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key] = _scalar(value)
        else:
            parent[key] = {}
            stack.append((indent, parent[key]))
    return root


def instantiate(node: Any) -> Any:
    """Build the ``_target_`` objects of a config tree, innermost first (hydra's recursive instantiate)."""
    if isinstance(node, list):
        return [instantiate(item) for item in node]
    if not isinstance(node, dict):
        return node
    kwargs = {k: instantiate(v) for k, v in node.items() if k != "_target_"}
    if "_target_" not in node:
        return kwargs
    module_name, _, attr = node["_target_"].rpartition(".")
    return getattr(importlib.import_module(module_name), attr)(**kwargs)


def sam2_model_tree(checkout: Path, preset: str) -> dict[str, Any]:
    """The ``model`` tree of the official config of ``preset``, with ``build_sam2``'s post-processing overrides."""
    if preset not in SAM2_CONFIGS:
        raise UpstreamError(f"no upstream SAM 2 config known for {preset!r}")
    path = Path(checkout) / "sam2" / "configs" / SAM2_CONFIGS[preset]
    if not path.is_file():
        raise UpstreamError(f"{path}: missing (expected in a checkout of facebookresearch/sam2)")
    tree = read_yaml(path)["model"]
    tree.setdefault("sam_mask_decoder_extra_args", {}).update(SAM2_POSTPROCESSING)
    return tree


# --- building ----------------------------------------------------------------------------------------------


def load_weights(model: nn.Module, state_dict: dict[str, Tensor], unused: tuple[str, ...]) -> tuple[int, int]:
    """Load our state dict into an upstream model. Keys must agree except upstream's ``unused`` ones.

    Returns ``(keys loaded, upstream keys left at their init)``.
    """
    result = model.load_state_dict(state_dict, strict=False)
    if result.unexpected_keys:
        raise UpstreamError(f"upstream has no key(s) {result.unexpected_keys[:5]} of our model")
    missing = [k for k in result.missing_keys if not k.startswith(unused)]
    if missing:
        raise UpstreamError(f"our model has no key(s) {missing[:5]} of upstream's")
    return len(state_dict), len(result.missing_keys)


def build_upstream(kind: str, checkout: Path, family: str, state_dict: dict[str, Tensor]) -> Upstream:
    """Upstream's model of ``family`` with ``state_dict`` loaded, in eval mode on the CPU, and its predictor."""
    install_stand_ins()
    register_package(kind, checkout)
    if kind == "sam2":
        model = instantiate(sam2_model_tree(checkout, family))
        predictor_cls = importlib.import_module("sam2.sam2_image_predictor").SAM2ImagePredictor
    else:
        package = PACKAGES[kind]
        builders = importlib.import_module(f"{package}.build_sam")
        if family == "tiny":
            model = builders._build_sam(checkpoint=None, **TINY)
        else:
            builder = {"vit_b": "build_sam_vit_b", "vit_t": "build_sam_vit_t"}[family]
            model = getattr(builders, builder)(checkpoint=None)
        predictor_cls = importlib.import_module(f"{package}.predictor").SamPredictor
    model = model.float().eval()
    loaded, left = load_weights(model, state_dict, UNUSED_KEYS[kind])
    return Upstream(model=model, predictor=predictor_cls(model), loaded_keys=loaded, left_at_init=left)


def upstream_encoder(kind: str, upstream: Upstream) -> nn.Module:
    """The image encoder module (what the FLOP count and the profile look at)."""
    return upstream.model.image_encoder
