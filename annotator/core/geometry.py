"""Masks as polygons: exact conversions between ``H x W`` masks, shapely geometries and COCO polygons.

Coordinates are COCO's continuous pixel coordinates: pixel (row ``r``, column ``c``) is the unit square
``[c, c+1) x [r, r+1)``, so polygon vertices lie on pixel edges. ``mask_to_geometry`` traces the outline with
pixel edges (holes as interior rings), so rasterising it again with pycocotools gives back the same mask;
``has_holes`` uses OpenCV's ``findContours`` two-level hierarchy. Rasterising is
done with pycocotools everywhere (``geometry_to_mask``, ``coco_polygons_to_mask``), so what the UI shows after
a polygon edit is what a COCO reader decodes.
"""

from __future__ import annotations

import cv2
import numpy as np
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from annotator.core.errors import MaskError

CocoPolygons = list[list[float]]
"""COCO polygons: a list of flat ``[x0, y0, x1, y1, ...]`` rings (pixel-edge coordinates), merged by union."""


def _as_uint8(mask: np.ndarray) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim != 2:
        raise MaskError(f"a mask must be 2-D (H x W), got shape {array.shape}")
    return np.ascontiguousarray(array != 0, dtype=np.uint8)


def _polygons_of(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    if hasattr(geometry, "geoms"):
        out: list[Polygon] = []
        for part in geometry.geoms:
            out.extend(_polygons_of(part))
        return out
    return []


def mask_to_geometry(mask: np.ndarray) -> MultiPolygon:
    """The outline of an ``H x W`` mask as a shapely ``MultiPolygon`` with holes (pixel-edge coordinates).

    Built as the union of the mask's row runs (``[c0, c1) x [r, r+1)`` boxes), so every edge lies on a pixel
    edge and rasterising with pycocotools gives back exactly the same mask (tracing pixel centres with
    ``findContours`` and offsetting cannot guarantee that for thin diagonal parts).
    """
    array = _as_uint8(mask)
    height, width = array.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = array
    steps = np.diff(padded, axis=1)
    rows, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)
    if rows.size == 0:
        return MultiPolygon()
    union = shapely.union_all(shapely.box(starts, rows, ends, rows + 1))
    return MultiPolygon(_polygons_of(shapely.simplify(union, 0.0)))


def geometry_to_mask(geometry: BaseGeometry, height: int, width: int) -> np.ndarray:
    """Rasterise polygons (holes respected) to an ``H x W`` bool mask with pycocotools' rule."""
    out = np.zeros((height, width), dtype=bool)
    for polygon in _polygons_of(geometry):
        x0, y0, x1, y1 = polygon.bounds
        c0, r0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        c1, r1 = min(int(np.ceil(x1)) + 1, width), min(int(np.ceil(y1)) + 1, height)
        if c1 <= c0 or r1 <= r0:
            continue
        h, w = r1 - r0, c1 - c0
        local = _rasterise([_flat(polygon.exterior.coords, c0, r0)], h, w)
        if polygon.interiors:
            local &= ~_rasterise([_flat(ring.coords, c0, r0) for ring in polygon.interiors], h, w)
        out[r0:r1, c0:c1] |= local
    return out


def _flat(coords: object, dx: float, dy: float) -> list[float]:
    pts = np.asarray(coords, dtype=np.float64)[:-1] - (dx, dy)
    return pts.ravel().tolist()


def _rasterise(rings: CocoPolygons, height: int, width: int) -> np.ndarray:
    rings = [r for r in rings if len(r) >= 6]
    if not rings:
        return np.zeros((height, width), dtype=bool)
    rle = mask_utils.merge(mask_utils.frPyObjects(rings, height, width))
    return mask_utils.decode(rle).astype(bool)


def coco_polygons_to_mask(polygons: CocoPolygons, height: int, width: int) -> np.ndarray:
    """Rasterise COCO polygons (union of rings) exactly as pycocotools does. Raises ``MaskError`` if
    malformed."""
    if not isinstance(polygons, list) or not polygons:
        raise MaskError("COCO polygons must be a non-empty list of rings")
    for ring in polygons:
        if not isinstance(ring, list) or len(ring) < 6 or len(ring) % 2:
            raise MaskError("each COCO polygon ring must be a flat list of at least 3 (x, y) pairs")
        values = np.asarray(ring) if all(type(v) in (int, float) for v in ring[:2]) else None
        if values is not None and values.dtype.kind in "fi" and np.isfinite(values).all():
            continue  # the common case, checked at once (2,000 polygons of an export: issue 15)
        if not all(isinstance(v, int | float) and np.isfinite(v) for v in ring):
            raise MaskError("COCO polygon coordinates must be finite numbers")
    return _rasterise([[float(v) for v in ring] for ring in polygons], height, width)


def geometry_to_coco_polygons(geometry: BaseGeometry) -> CocoPolygons | None:
    """Exterior rings as COCO polygons, or ``None`` when the geometry has holes (COCO polygons cannot say
    so)."""
    polygons = _polygons_of(geometry)
    if any(p.interiors for p in polygons):
        return None
    out: CocoPolygons = []
    for polygon in polygons:
        ring = np.asarray(polygon.exterior.coords, dtype=np.float64)[:-1]
        if len(ring) >= 3:
            out.append([round(float(v), 3) for v in ring.ravel()])
    return out


def geometry_to_bridged_polygons(geometry: BaseGeometry) -> CocoPolygons:
    """COCO polygons that keep holes: one ring per part, each hole joined to the exterior by a zero-width cut.

    The ring runs around the exterior, then for each hole goes from the exterior's first vertex to the hole,
    around it, and back along the same line. pycocotools fills a ring by crossing parity and the cut is crossed
    twice at the same places, so the cut adds nothing and the hole stays empty; detectron2's polygon mode
    rasterises the same way. Callers check the result by rasterising it (``coco_polygons_to_mask``).
    """
    out: CocoPolygons = []
    for polygon in _polygons_of(geometry):
        exterior = np.asarray(polygon.exterior.coords, dtype=np.float64)[:-1]
        if len(exterior) < 3:
            continue
        parts = [exterior]
        for hole in polygon.interiors:
            ring = np.asarray(hole.coords, dtype=np.float64)[:-1]
            if len(ring) >= 3:
                parts += [exterior[:1], ring, ring[:1]]
        out.append([round(float(v), 3) for v in np.concatenate(parts).ravel()])
    return out


def has_holes(mask: np.ndarray) -> bool:
    """Whether any connected foreground part encloses background (8-connected foreground)."""
    _, hierarchy = cv2.findContours(_as_uint8(mask), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] != -1).any())


def mask_to_coco_polygons(mask: np.ndarray) -> CocoPolygons | None:
    """COCO polygons that rasterise to ``mask``, or ``None`` when it has holes or is empty."""
    array = _as_uint8(mask)
    if not array.any() or has_holes(array):
        return None
    polygons = geometry_to_coco_polygons(mask_to_geometry(array))
    return polygons or None


def simplify_geometry(geometry: BaseGeometry, tolerance: float) -> MultiPolygon:
    """Fewer vertices within ``tolerance`` pixels (shapely ``simplify``, topology and holes preserved)."""
    if tolerance < 0:
        raise MaskError(f"tolerance must be >= 0 pixels, got {tolerance}")
    simplified = shapely.simplify(geometry, tolerance, preserve_topology=True)
    return MultiPolygon(_polygons_of(simplified))


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two same-shape masks; 1.0 when both are empty."""
    union = int(np.count_nonzero(a | b))
    return 1.0 if union == 0 else int(np.count_nonzero(a & b)) / union
