"""What the app takes from the user settings at startup: engine, disk embedding cache, prefetch depth."""

from __future__ import annotations

import logging
from pathlib import Path

from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.settings import Settings
from annotator.workers.requests import EngineRequest
from annotator.workers.segment_worker import DiskCacheStore

log = logging.getLogger(__name__)

PREFETCH_DEPTH_KEY = "prefetch_depth"
DEFAULT_PREFETCH_DEPTH = 2


def startup_engine(
    settings: Settings, checkpoint: str | None, device: str | None, dtype: str | None
) -> tuple[EngineRequest, str | None]:
    """The engine: the command line wins, else the configured checkpoint, else the classical engine.

    A configured checkpoint that no longer exists falls back to the classical engine; the second value is
    then the message to show the user (else ``None``).
    """
    warning = None
    if checkpoint is None and settings.checkpoint is not None:
        checkpoint = settings.checkpoint
        if not Path(checkpoint).expanduser().is_file():
            where = settings.path or "the settings"
            warning = (
                f"{checkpoint}: the configured checkpoint (in {where}) is missing; "
                "the classical engine is used. Choose another one in Settings > Models…"
            )
            checkpoint = None
    return EngineRequest(checkpoint, device or settings.device, dtype or settings.dtype), warning


def disk_cache(settings: Settings) -> DiskCacheStore | None:
    """The embedding cache of the settings (``None`` when its size limit is 0: caching switched off)."""
    if settings.cache_max_bytes <= 0:
        return None
    return DiskCacheStore(EmbeddingCache(settings.resolved_cache_dir(), settings.cache_max_bytes))


def prefetch_depth(settings: Settings) -> int:
    """How many images ahead to encode (settings key ``prefetch_depth``, default 2; 0 switches it off)."""
    value = settings.extra.get(PREFETCH_DEPTH_KEY, DEFAULT_PREFETCH_DEPTH)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        log.warning("settings: %s must be a non-negative integer, got %r; using 2", PREFETCH_DEPTH_KEY, value)
        return DEFAULT_PREFETCH_DEPTH
    return value
