"""Reading checkpoint files, for every model family: typed errors that name the file and the reason."""

from __future__ import annotations

import hashlib
import pickle
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from sam_model.errors import CheckpointNotFoundError, NotACheckpointError, TruncatedCheckpointError

StateDict = dict[str, Tensor]

_UNSAFE_PICKLE = (
    "not a plain weights file: it holds Python objects besides tensors, which are refused because loading "
    "them could run code; use a checkpoint from the official release"
)


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
        if "weights only" in text.lower() or "weights_only" in text:
            # Never pass on PyTorch's advice to reload with weights_only=False: that would run the file's code.
            raise NotACheckpointError(str(p), _UNSAFE_PICKLE) from None
        first = text.splitlines()[0] if text else type(exc).__name__
        raise NotACheckpointError(str(p), f"not a PyTorch checkpoint ({first})") from exc
    except (RuntimeError, ValueError, OSError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "weights only" in str(exc).lower():
            raise NotACheckpointError(str(p), _UNSAFE_PICKLE) from None
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
    for name, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise NotACheckpointError(
                str(path), f"tensor {name!r} holds NaN or Inf values (a damaged or diverged checkpoint)"
            )
    return state


def file_sha256(path: str | Path, *, chunk_size: int = 8 * 1024 * 1024) -> str:
    """Hex SHA-256 of a file, read in chunks (a 2.5 GB checkpoint takes a few seconds)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
