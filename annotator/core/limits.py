"""Bounds on untrusted input, checked before anything proportional to the input is allocated.

Every check raises :class:`LimitError` (a ``ValueError``) with one line naming the limit; callers add the file.
The figures are module constants so a test or a deployment can tune them. See ADR 0009.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.errors import LimitError

MAX_JSON_DEPTH = 64
"""Deepest nesting of ``[``/``{`` accepted in any JSON file (project files need 6, COCO files 4)."""
MAX_INT_DIGITS = 20
"""Longest integer literal accepted in JSON (int64 has 19 digits)."""
MAX_PROJECT_BYTES = 1 << 30
"""Largest project file read (1 GiB)."""
MAX_COCO_BYTES = 2 << 30
"""Largest COCO file read (2 GiB)."""
MAX_IMAGE_PIXELS = 100_000_000
"""Largest image decoded (width x height as stored in the header; a 100-megapixel RGB image is 300 MB)."""

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = frozenset(b"[{")


def json_depth(raw: bytes) -> int:
    """Deepest ``[``/``{`` nesting of the JSON text ``raw`` (brackets inside strings ignored), computed
    without parsing; memory is proportional to the number of brackets, not to the text."""
    stripped = _STRING.sub(b"", raw)
    codes = np.frombuffer(stripped, dtype=np.uint8)
    brackets = codes[(codes == 91) | (codes == 93) | (codes == 123) | (codes == 125)]
    if brackets.size == 0:
        return 0
    steps = np.where((brackets == 91) | (brackets == 123), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise LimitError(f"an integer has {len(text)} digits (limit {MAX_INT_DIGITS})")
    return int(text)


def _parse_constant(text: str) -> float:
    raise LimitError(f"non-finite number {text} (not JSON)")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise LimitError(f"number {text[:30]} is out of range")
    return value


def parse_json(raw: bytes, *, finite_floats: bool = True) -> Any:
    """Parse ``raw`` (UTF-8 JSON) within the limits: depth <= ``MAX_JSON_DEPTH``, integers of at most
    ``MAX_INT_DIGITS`` digits, no ``NaN``/``Infinity``, and (``finite_floats``) no float that overflows.

    Raises :class:`LimitError` for a limit and ``ValueError`` (``json.JSONDecodeError``,
    ``UnicodeDecodeError``) for text that is not JSON.
    """
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise LimitError(f"JSON nested {depth} levels deep (limit {MAX_JSON_DEPTH})")
    try:
        return json.loads(
            raw,
            parse_int=_parse_int,
            parse_constant=_parse_constant,
            parse_float=_parse_float if finite_floats else float,
        )
    except RecursionError:  # unreachable with the depth check; kept so no traceback can ever escape
        raise LimitError(f"JSON nested too deeply (limit {MAX_JSON_DEPTH})") from None


def read_json(path: Path, *, max_bytes: int, finite_floats: bool = True) -> Any:
    """Read and :func:`parse_json` the file ``path`` after checking its size against ``max_bytes``.

    Raises ``OSError`` (missing, unreadable), :class:`LimitError` and ``ValueError`` as :func:`parse_json`.
    """
    size = path.stat().st_size
    if size > max_bytes:
        raise LimitError(f"file is {size} bytes (limit {max_bytes})")
    with open(path, "rb") as handle:
        raw = handle.read(min(size, max_bytes) + 1)  # read(n) allocates n bytes up front: never the limit
    if len(raw) > size:  # grew while being read (another writer): not a consistent file
        raise ValueError("the file changed while it was being read")
    return parse_json(raw, finite_floats=finite_floats)


def check_pixels(width: int, height: int) -> None:
    """Refuse an image whose header claims more than ``MAX_IMAGE_PIXELS`` pixels."""
    if width * height > MAX_IMAGE_PIXELS:
        raise LimitError(
            f"image is {width}x{height} = {width * height} pixels (limit {MAX_IMAGE_PIXELS} pixels)"
        )


def check_rle_extent(rle: Any, height: int, width: int) -> None:
    """Before an RLE is decoded: its ``size`` must be the image's ``[height, width]`` and an uncompressed
    ``counts`` list no longer than the image has pixels (plus one), each count at most ``height * width``."""
    if not isinstance(rle, dict):
        return  # the RLE parser reports the type
    size = rle.get("size")
    if isinstance(size, list | tuple) and len(size) == 2 and list(size) != [height, width]:
        raise LimitError(f"RLE size {list(size)!r} differs from the image size [{height}, {width}]")
    counts = rle.get("counts")
    pixels = height * width
    if isinstance(counts, list):
        if len(counts) > pixels + 1:
            raise LimitError(f"RLE has {len(counts)} runs for an image of {pixels} pixels")
        if any(isinstance(c, int) and c > pixels for c in counts):
            raise LimitError(f"an RLE run is longer than the image's {pixels} pixels")
    elif isinstance(counts, str | bytes) and len(counts) > 6 * (pixels + 1):
        raise LimitError(f"compressed RLE of {len(counts)} characters for an image of {pixels} pixels")


def check_polygon_extent(polygons: Any, height: int, width: int) -> None:
    """Before a polygon is rasterised: every coordinate must be finite and lie within one image size of
    the image (``-width <= x <= 2 * width``, same for y); rasterising then costs at most a few times the
    image's perimeter per edge."""
    if not isinstance(polygons, list):
        return
    for ring in polygons:
        if not isinstance(ring, list):
            return  # the polygon parser reports the type
        try:
            coords = np.asarray(ring, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return  # non-numbers: the polygon parser reports them
        if coords.ndim != 1 or coords.size < 2:
            return
        if not np.isfinite(coords).all():
            raise LimitError("polygon coordinates must be finite numbers")
        xs, ys = coords[0::2], coords[1::2]
        if xs.min() < -width or xs.max() > 2 * width or ys.min() < -height or ys.max() > 2 * height:
            raise LimitError(
                f"polygon coordinates reach x {xs.min():g}..{xs.max():g}, y {ys.min():g}..{ys.max():g}, "
                f"outside the {width}x{height} image by more than its size"
            )
