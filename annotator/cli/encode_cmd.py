"""``python main.py encode FOLDER [--checkpoint PATH] [--device D] [--dtype T] [--cache-dir DIR]``.

Fills the embedding cache for every image of a folder ahead of time (e.g. on a GPU machine), so that opening
those images in the app later (e.g. on a laptop) needs no encoding. Images already cached for this model are
skipped; unreadable images are reported and the rest continue. Embeddings are stored as float32 NumPy arrays
on the CPU and keyed by ``model_id`` (architecture + weights checksum), independent of the device, so
a cache filled on CUDA works on a CPU. FOLDER may also be an object-storage URL (``s3://bucket/prefix``,
``file:///path``...: :mod:`annotator.cluster.sources`); the cache key is the pixels', so the app finds the
embeddings of a local copy of the same images.

Exit status: 0 when every image is cached, 1 when some could not be read or encoded.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from annotator.cli import CliError
from annotator.cli.cluster_options import SOURCE_HELP, add_cluster_options, source_arg
from annotator.cli.model_options import add_model_options, load_engine
from annotator.cli.models_cmd import TextProgress
from annotator.cluster.sources import SourceError, image_label, list_source, load_source_image, shown
from annotator.core.embedding_cache import EmbeddingCache, image_key
from annotator.core.errors import ImageLoadError
from annotator.core.images import IMAGE_EXTENSIONS
from annotator.core.model_manager import CLASSIC_NAMES, OFFICIAL_MODELS, ModelManager
from annotator.core.settings import Settings, SettingsError, load_settings
from sam_model.protocol import ImageEmbedding


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("encode", help="fill the embedding cache for a folder of images")
    parser.add_argument("folder", type=source_arg, metavar="SOURCE", help=SOURCE_HELP)
    parser.add_argument(
        "--checkpoint",
        help="checkpoint file, model name, or 'classic' (default: the configured one, see `models use`)",
    )
    add_model_options(parser)
    parser.add_argument("--cache-dir", type=Path, help="embedding cache folder (default: settings)")
    parser.add_argument("--max-bytes", type=int, help="cache size limit in bytes (default: settings)")
    parser.add_argument("-r", "--recursive", action="store_true", help="include sub-folders")
    add_cluster_options(parser)
    parser.set_defaults(func=run)


def resolve_checkpoint(value: str | None, settings: Settings) -> Path | None:
    """``--checkpoint``: a file, an official or custom model name, or ``classic``; ``None``: as configured."""
    if value is None:
        return Path(settings.checkpoint).expanduser() if settings.checkpoint else None
    if value.lower() in CLASSIC_NAMES:
        return None
    path = Path(value).expanduser()
    if path.is_file():
        return path
    manager = ModelManager(settings, persist=False)
    if value in OFFICIAL_MODELS:
        return manager.official_path(value)  # a missing file is reported by the engine's loader
    custom = settings.custom_model(value)
    if custom is not None:
        return Path(custom.path)
    raise CliError(f"--checkpoint {value}: no such file or known model")


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    folder: Path | str = args.folder
    try:
        names = list_source(folder, recursive=args.recursive)
    except (ImageLoadError, SourceError) as exc:
        raise CliError(str(exc)) from None
    if not names:
        raise CliError(f"{shown(folder)}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    checkpoint = resolve_checkpoint(args.checkpoint, settings)
    max_bytes = args.max_bytes if args.max_bytes is not None else settings.cache_max_bytes
    if max_bytes < 0:
        raise CliError(f"--max-bytes must be >= 0, got {max_bytes}")
    cache = EmbeddingCache(args.cache_dir or settings.resolved_cache_dir(), max_bytes)
    if args.cluster is not None:
        from annotator.cli.cluster_run import run_encode

        device, dtype = args.device or settings.device, args.dtype or settings.dtype
        return run_encode(args, folder, names, checkpoint, device, dtype, cache.directory, max_bytes)

    segmenter = load_engine(  # imports torch: only when a command needs it
        checkpoint,
        device=args.device or settings.device,
        dtype=args.dtype or settings.dtype,
        config=args.config,
    )
    model_id = segmenter.model_id
    print(f"model: {model_id}; cache: {cache.directory}; {len(names)} images", file=sys.stderr)

    encoded = cached = 0
    failed: list[str] = []
    encode_s = 0.0
    bar = TextProgress("encode", unit="items")
    bar.update(0, len(names))
    for index, name in enumerate(names, start=1):
        path = image_label(folder, name)
        try:
            rgb = load_source_image(folder, name).rgb
        except ImageLoadError as exc:
            failed.append(str(path))
            bar.message(f"skipped {path}: {exc}")
            bar.update(index, len(names))
            continue
        key = image_key(rgb)
        if cache.get(key, model_id) is not None:
            cached += 1
        else:
            start = time.perf_counter()
            try:
                segmenter.set_image(rgb)
                embedding = segmenter.get_embedding()
            except (ValueError, RuntimeError) as exc:  # e.g. an image the engine rejects; others propagate
                failed.append(str(path))
                bar.message(f"failed {path}: {type(exc).__name__}: {exc}")
                bar.update(index, len(names))
                continue
            encode_s += time.perf_counter() - start
            cache.put(key, as_float32(embedding))
            encoded += 1
        bar.update(index, len(names))
    bar.close()

    stats = cache.stats()
    rate = f" ({encode_s / encoded:.2f} s/image)" if encoded else ""
    print(
        f"encoded {encoded}{rate}, already cached {cached}, failed {len(failed)}; "
        f"cache: {stats.entries} entries, {stats.total_bytes / 2**20:.1f} MiB "
        f"of {stats.max_bytes / 2**20:.0f} MiB",
        file=sys.stderr,
    )
    if stats.evictions:
        print(
            f"warning: {stats.evictions} older entries were evicted to stay under the size limit; "
            "raise --max-bytes (or cache_max_bytes in the settings) to keep the whole folder",
            file=sys.stderr,
        )
    return 1 if failed else 0


def as_float32(embedding: ImageEmbedding) -> ImageEmbedding:
    """The embedding with floating arrays as float32 (portable across devices and dtypes)."""
    arrays = {
        name: a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) and a.dtype != np.float32 else a
        for name, a in embedding.arrays.items()
    }
    return replace(embedding, arrays=arrays)
