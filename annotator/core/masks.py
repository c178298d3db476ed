"""Compact instance masks: COCO compressed RLE (pycocotools) with lazy, cached decoding.

Conventions: a mask array is ``H x W`` ``bool`` (row = y, column = x, pixels); an RLE is the COCO dict
``{"size": [H, W], "counts": str}`` (compressed, ``counts`` a str). :class:`Mask` is immutable: editing a mask
means building a new one (``Mask.from_array``), which is what the undo commands store.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.errors import MaskError

Rle = dict[str, Any]
"""A COCO RLE dict: ``{"size": [H, W], "counts": str | bytes | list[int]}``."""


def encode_rle(mask: np.ndarray) -> Rle:
    """Encode an ``H x W`` mask (bool or 0/1 integers) as a compressed RLE with ``counts`` as ``str``."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise MaskError(f"a mask must be 2-D (H x W), got shape {array.shape}")
    if array.dtype != bool and not np.issubdtype(array.dtype, np.integer):
        raise MaskError(f"a mask must be bool or integer, got {array.dtype}")
    rle = mask_utils.encode(np.asfortranarray(array != 0, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def normalize_rle(rle: Rle) -> Rle:
    """Return ``rle`` as compressed RLE with ``str`` counts; accepts compressed (str/bytes) or uncompressed
    (``counts`` a list of ints) RLE. Raises :class:`MaskError` for anything else."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise MaskError("an RLE must be a dict with 'size' and 'counts'")
    size = rle["size"]
    if (
        not isinstance(size, list | tuple)
        or len(size) != 2
        or not all(isinstance(v, int) and v >= 0 for v in size)
    ):
        raise MaskError(f"RLE 'size' must be [height, width] non-negative integers, got {size!r}")
    height, width = int(size[0]), int(size[1])
    counts = rle["counts"]
    if isinstance(counts, list):
        if not all(isinstance(c, int) and c >= 0 for c in counts):
            raise MaskError("uncompressed RLE 'counts' must be non-negative integers")
        if sum(counts) != height * width:
            raise MaskError(f"uncompressed RLE counts sum to {sum(counts)}, expected {height * width} (H*W)")
        compressed = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
        return {"size": [height, width], "counts": compressed["counts"].decode("ascii")}
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if not isinstance(counts, str):
        raise MaskError(f"RLE 'counts' must be a str, bytes or list of ints, got {type(counts).__name__}")
    try:
        total = int(mask_utils.area({"size": [height, width], "counts": counts.encode("ascii")}))
        decoded = mask_utils.decode({"size": [height, width], "counts": counts.encode("ascii")})
    except (ValueError, UnicodeEncodeError, TypeError) as exc:
        raise MaskError(f"compressed RLE cannot be decoded: {exc}") from exc
    if decoded.shape[:2] != (height, width) or total < 0:
        raise MaskError("compressed RLE does not match its size")
    runs = _string_counts(counts)
    if runs is None or sum(runs) != height * width:
        # pycocotools decodes counts that stop short of H*W into uninitialised memory: never accept them
        covered = "malformed" if runs is None else f"cover {sum(runs)} pixels"
        raise MaskError(f"compressed RLE counts {covered}, expected {height * width} (H*W)")
    return {"size": [height, width], "counts": counts}


def _string_counts(counts: str) -> list[int] | None:
    """The run lengths of a compressed RLE string (pycocotools' ``rleFrString``); ``None`` when malformed."""
    runs: list[int] = []
    append = runs.append
    x, shift = 0, 0
    try:
        data = counts.encode("ascii")
    except UnicodeEncodeError:
        return None
    for byte in data:
        c = byte - 48
        x |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:
            x |= -1 << shift
        if len(runs) > 2:
            x += runs[-2]
        if x < 0:
            return None
        append(x)
        x, shift = 0, 0
    return runs if shift == 0 else None


def _runs_array(counts: str) -> np.ndarray:
    """:func:`_string_counts` vectorised (int64 run lengths); raises :class:`MaskError` when malformed."""
    codes = np.frombuffer(counts.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    if codes.size == 0:
        return np.zeros(0, np.int64)
    more = (codes & 0x20) != 0
    if more[-1] or (codes < 0).any():
        raise MaskError("compressed RLE counts are malformed")
    last = np.flatnonzero(~more)  # the last character of each value
    first = np.concatenate(([0], last[:-1] + 1))
    group = np.repeat(np.arange(last.size), last - first + 1)
    shift = 5 * (np.arange(codes.size) - first[group])
    if shift.max(initial=0) > 55:
        raise MaskError("compressed RLE counts are malformed")
    values = np.zeros(last.size, np.int64)
    np.add.at(values, group, (codes & 0x1F) << shift)
    negative = (codes[last] & 0x10) != 0
    values[negative] |= -1 << (5 * (last - first + 1))[negative]
    runs = values.copy()
    runs[3::2] = np.cumsum(values[1::2])[1:]  # runs[i] = x[i] + runs[i - 2] from i = 3 on
    runs[2::2] = np.cumsum(values[2::2])
    if (runs < 0).any():
        raise MaskError("compressed RLE counts are malformed")
    return runs


def _coco(rle: Rle) -> dict[str, Any]:
    counts = rle["counts"]
    return {
        "size": list(rle["size"]),
        "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
    }


def rle_runs(rle: Rle) -> list[int]:
    """The run lengths of a compressed RLE (column-major, background first), without decoding the mask.
    Raises :class:`MaskError` when the counts are malformed."""
    counts = rle["counts"]
    runs = _string_counts(counts.decode("ascii") if isinstance(counts, bytes) else counts)
    if runs is None:
        raise MaskError("compressed RLE counts are malformed")
    return runs


def decode_rle(rle: Rle) -> np.ndarray:
    """Decode a compressed RLE to an ``H x W`` bool array (a new, writable array)."""
    return mask_utils.decode(_coco(rle)).astype(bool)


def rle_area(rle: Rle) -> int:
    """Number of foreground pixels of a compressed RLE."""
    return int(mask_utils.area(_coco(rle)))


def rle_bbox(rle: Rle) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` in pixels of the tightest box around the foreground; ``(0, 0, 0, 0)`` when empty."""
    x, y, w, h = (round(float(v)) for v in mask_utils.toBbox(_coco(rle)))
    return x, y, w, h


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the foreground of an ``H x W`` array; ``(0, 0, 0, 0)`` when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0, 0, 0, 0
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


class _DecodeCache:
    """A process-wide LRU of decoded masks, bounded in bytes (masks of a 24 MP image are 24 MB each)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: int) -> np.ndarray | None:
        with self._lock:
            array = self._items.get(key)
            if array is not None:
                self._items.move_to_end(key)
            return array

    def put(self, key: int, array: np.ndarray) -> None:
        with self._lock:
            if key in self._items or array.nbytes > self.max_bytes:
                return
            self._items[key] = array
            self._bytes += array.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


DECODE_CACHE = _DecodeCache(max_bytes=256 * 1024 * 1024)
"""Decoded-mask cache shared by all :class:`Mask` objects; ``DECODE_CACHE.max_bytes`` may be tuned."""

CROP_CACHE = _DecodeCache(max_bytes=128 * 1024 * 1024)
"""Decoded bounding-box crops (:meth:`Mask.crop`): small, so thousands of objects stay decoded."""

DECODE_COUNTS = {"full": 0, "crop": 0}
"""How many full-size and crop decodes ran (tests check that one change decodes no other object)."""


def decode_rle_crop(rle: Rle, bbox: tuple[int, int, int, int]) -> np.ndarray:
    """Decode only the ``bbox`` ``(x, y, w, h)`` region of a compressed RLE: an ``h x w`` bool array.

    COCO runs are column-major, so the columns ``x .. x+w-1`` are one contiguous span of the run sequence:
    only that span is expanded (``w * H`` values), never the ``H x W`` mask.
    """
    x, y, w, h = bbox
    height = int(rle["size"][0])
    counts = rle["counts"]
    text = counts if isinstance(counts, str) else counts.decode("ascii")
    if len(text) > 256:
        lengths = _runs_array(text)
    else:  # short strings: the plain loop is quicker than numpy's set-up
        runs = _string_counts(text)
        if runs is None:
            raise MaskError("compressed RLE counts are malformed")
        lengths = np.asarray(runs, dtype=np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    lo, hi = x * height, (x + w) * height
    inside = np.clip(ends, lo, hi) - np.clip(starts, lo, hi)  # each run's share of the span
    values = (np.arange(lengths.size) % 2).astype(bool)  # runs alternate 0, 1, 0, ... starting with zeros
    columns = np.repeat(values, inside).reshape(w, height)
    return np.ascontiguousarray(columns[:, y : y + h].T)


_serial = itertools.count(1)


class Mask:
    """An immutable instance mask stored as compressed RLE; ``array()`` decodes lazily (cached, read-only).

    ``height``/``width`` are the image size in pixels; ``area`` is the foreground pixel count; ``bbox`` is
    ``(x, y, w, h)`` in pixels.
    """

    __slots__ = ("_area", "_bbox", "_key", "rle")

    def __init__(self, rle: Rle) -> None:
        """Wrap an RLE (compressed or uncompressed; normalised to compressed with ``str`` counts)."""
        self.rle: Rle = normalize_rle(rle)
        self._key = next(_serial)
        self._area: int | None = None
        self._bbox: tuple[int, int, int, int] | None = None

    @classmethod
    def _trusted(cls, rle: Rle) -> Mask:
        mask = cls.__new__(cls)
        mask.rle = rle
        mask._key = next(_serial)
        mask._area = None
        mask._bbox = None
        return mask

    @classmethod
    def from_array(cls, mask: np.ndarray) -> Mask:
        """Encode an ``H x W`` bool/0-1 array. The array is copied into the RLE (later edits do not leak
        in)."""
        return cls._trusted(encode_rle(mask))

    @classmethod
    def from_json(cls, rle: Rle) -> Mask:
        """Restore from a saved compressed RLE without re-validating (project files we wrote ourselves)."""
        if not isinstance(rle, dict) or not isinstance(rle.get("counts"), str):
            raise MaskError("a saved mask must be a compressed RLE dict with str counts")
        size = rle.get("size")
        if (
            not isinstance(size, list | tuple)
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)
        ):
            raise MaskError(
                f"a saved mask's size must be [height, width] (two non-negative integers), got {size!r}"
            )
        return cls._trusted({"size": [int(size[0]), int(size[1])], "counts": rle["counts"]})

    @property
    def height(self) -> int:
        return int(self.rle["size"][0])

    @property
    def width(self) -> int:
        return int(self.rle["size"][1])

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` in pixels."""
        return self.height, self.width

    @property
    def area(self) -> int:
        """Foreground pixel count."""
        if self._area is None:
            self._area = rle_area(self.rle)
        return self._area

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` of the foreground in pixels; ``(0, 0, 0, 0)`` when empty."""
        if self._bbox is None:
            self._bbox = rle_bbox(self.rle) if self.area else (0, 0, 0, 0)
        return self._bbox

    def array(self) -> np.ndarray:
        """The decoded ``H x W`` bool mask, read-only and shared via the cache; ``.copy()`` it to edit."""
        cached = DECODE_CACHE.get(self._key)
        if cached is None:
            DECODE_COUNTS["full"] += 1
            cached = decode_rle(self.rle)
            cached.setflags(write=False)
            DECODE_CACHE.put(self._key, cached)
        return cached

    def crop(self) -> np.ndarray:
        """The ``h x w`` bool foreground of :attr:`bbox` (read-only, cached): what drawing, hit tests and
        polygon conversion need, without decoding the ``H x W`` mask. Empty mask: a ``0 x 0`` array."""
        cached = CROP_CACHE.get(self._key)
        if cached is None:
            full = DECODE_CACHE.get(self._key)
            x, y, w, h = self.bbox
            if full is not None:
                cached = np.ascontiguousarray(full[y : y + h, x : x + w])
            else:
                DECODE_COUNTS["crop"] += 1
                cached = decode_rle_crop(self.rle, (x, y, w, h))
            cached.setflags(write=False)
            CROP_CACHE.put(self._key, cached)
        return cached

    def contains(self, x: int, y: int) -> bool:
        """Whether pixel column ``x``, row ``y`` is foreground (a bounding-box test first, then the crop)."""
        bx, by, bw, bh = self.bbox
        if not (bx <= x < bx + bw and by <= y < by + bh):
            return False
        return bool(self.crop()[y - by, x - bx])

    def to_json(self) -> Rle:
        """The compressed RLE dict (``counts`` a str), JSON-serialisable; shared, do not mutate."""
        return self.rle

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mask):
            return NotImplemented
        return self.rle["size"] == other.rle["size"] and self.rle["counts"] == other.rle["counts"]

    def __hash__(self) -> int:
        return hash(self.rle["counts"])

    def __repr__(self) -> str:
        return f"Mask(size={self.height}x{self.width}, area={self.area})"
