"""Image files: listing a folder, reading sizes cheaply, and loading robustly to ``H x W x 3`` uint8 RGB.

Loading rules (Pillow; paths are opened by Python, so non-ASCII names work everywhere):

* EXIF orientation is applied; ``exif_orientation`` reports the tag (1 = none) so the UI can tell the user.
* grayscale and palette images become RGB; images with alpha (RGBA, LA, palette with transparency) are
  **composited on white** (transparent regions show as white, as in most viewers), never alpha-dropped.
* 16-bit images (``I;16*``, ``I``) are scaled linearly from the full 0-65535 range to 0-255 (``v / 257``,
  rounded); 32-bit float images (``F``) are min-max scaled. 16-bit RGB PNGs are reduced to 8 bits by Pillow
  itself.
* CMYK (and YCbCr, LAB) is converted with Pillow's ``convert("RGB")``.
* A missing, corrupt, truncated or unsupported file raises :class:`ImageLoadError` naming the file and reason.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from annotator.core.errors import ImageLoadError, LimitError
from annotator.core.limits import check_pixels

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
"""Lower-case suffixes of the files listed as images (matched case-insensitively)."""

_EXIF_ORIENTATION = 0x0112


def natural_sort_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key where digit runs compare as numbers (``img2`` < ``img10``), case-insensitive."""
    parts = re.split(r"(\d+)", name.casefold())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def list_images(folder: str | Path, *, recursive: bool = False) -> list[str]:
    """Image files of ``folder`` as ``/``-separated paths relative to it, naturally sorted.

    Hidden files and folders (``.name``, e.g. ``.sam-annotator``) are skipped. Raises ``ImageLoadError`` when
    ``folder`` is not a readable folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ImageLoadError(root, "not a folder")
    candidates = root.rglob("*") if recursive else root.iterdir()
    files = (
        p for p in candidates if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )  # stat images only
    return image_names(path.relative_to(root).as_posix() for path in files)


def image_names(relative: Iterable[str]) -> list[str]:
    """The image files among ``relative`` (``/``-separated file paths under one root), naturally sorted: the
    listing rules of :func:`list_images` (extensions, hidden parts skipped), shared by other listings (e.g. an
    object-storage prefix, :mod:`annotator.cluster.sources`)."""
    found = [
        name
        for name in relative
        if not any(part.startswith(".") for part in name.split("/"))
        and PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(found, key=natural_sort_key)


@dataclass(frozen=True)
class ImageInfo:
    """Header facts of an image file. ``width``/``height``: pixels as displayed (EXIF orientation applied)."""

    width: int
    height: int
    exif_orientation: int
    format: str
    mode: str

    @property
    def has_orientation(self) -> bool:
        """Whether the file has a non-identity EXIF orientation (the displayed image differs from the raw
        one)."""
        return self.exif_orientation not in (0, 1)


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: ``rgb`` is ``H x W x 3`` uint8 RGB as displayed; ``notes`` say what was converted."""

    rgb: np.ndarray
    exif_orientation: int
    source_mode: str
    notes: tuple[str, ...] = field(default=())

    @property
    def has_orientation(self) -> bool:
        return self.exif_orientation not in (0, 1)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _open(path: Path, data: BinaryIO | None = None) -> Image.Image:
    """Open (header only) and refuse images over ``limits.MAX_IMAGE_PIXELS`` before any pixel is decoded.
    ``data``: the file's bytes as a stream (``path`` then only names it in errors), else the file is read."""
    try:
        with warnings.catch_warnings():  # the limit below replaces Pillow's warning (which fires right here)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path if data is None else data)
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not an image file (unknown format or corrupt header)") from None
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(path, f"image too large: {exc}") from None
    except OSError as exc:
        raise ImageLoadError(path, f"cannot open: {exc}") from exc
    except (ValueError, TypeError, SyntaxError, EOFError) as exc:  # Pillow's plugins on corrupt headers
        raise ImageLoadError(path, f"corrupt header ({exc or type(exc).__name__})") from exc
    try:
        check_pixels(*image.size)
    except LimitError as exc:
        image.close()
        raise ImageLoadError(path, f"image too large: {exc}") from None
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError):  # unreadable EXIF block: treat as no orientation
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def read_image_info(path: str | Path) -> ImageInfo:
    """Size as displayed, EXIF orientation, format and mode, from the header only (no pixel decoding)."""
    path = Path(path)
    with _open(path) as image:
        orientation = _orientation(image)
        width, height = image.size
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        return ImageInfo(int(width), int(height), orientation, str(image.format or ""), image.mode)


def _to_rgb(image: Image.Image, notes: list[str]) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        data = np.asarray(image.convert("I") if mode != "I" else image, dtype=np.float64)
        gray = np.clip(np.rint(data / 257.0), 0, 255).astype(np.uint8)
        notes.append("16-bit image scaled to 8 bits (value / 257)")
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        data = np.asarray(image, dtype=np.float64)
        finite = data[np.isfinite(data)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scaled = (np.nan_to_num(data, nan=low) - low) / ((high - low) or 1.0) * 255.0
        notes.append("floating-point image min-max scaled to 8 bits")
        gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("transparency composited on white")
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    if mode != "RGB":
        notes.append(f"converted from {mode} to RGB")
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def load_image(path: str | Path) -> LoadedImage:
    """Decode an image file to ``H x W x 3`` uint8 RGB as displayed. Raises :class:`ImageLoadError`."""
    return _decode(Path(path), None)


def load_image_bytes(data: bytes, name: str | Path) -> LoadedImage:
    """Decode an image file's bytes (e.g. an object read from object storage) exactly as :func:`load_image`
    decodes the file; ``name`` names it in the :class:`ImageLoadError` raised."""
    return _decode(Path(name), io.BytesIO(data))


def _decode(path: Path, data: BinaryIO | None) -> LoadedImage:
    with _open(path, data) as image:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
            orientation = _orientation(image)
            source_mode = image.mode
            notes: list[str] = []
            oriented = ImageOps.exif_transpose(image) if orientation != 1 else image
            if orientation != 1:
                notes.append(f"EXIF orientation {orientation} applied")
            rgb = _to_rgb(oriented, notes)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageLoadError(path, f"image too large: {exc}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            reason = str(exc) or type(exc).__name__
            if "truncated" in reason.lower() or isinstance(exc, EOFError):
                reason = f"truncated or incomplete file ({reason})"
            raise ImageLoadError(path, f"cannot decode: {reason}") from exc
    rgb = np.ascontiguousarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise ImageLoadError(path, f"decoded to an unexpected shape {rgb.shape}")
    return LoadedImage(rgb, orientation, source_mode, tuple(notes))
