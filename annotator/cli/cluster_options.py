"""``--cluster [ADDRESS]`` and its options, shared by the commands that can run on a Ray cluster (issue 16).

Nothing here imports Ray: it is imported only when ``--cluster`` is given (``annotator.cli.cluster_run``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.cli import positive_int
from annotator.cluster.sources import is_url

CLUSTER_HELP = (
    "run on Ray: no ADDRESS starts a local Ray instance with all cores; 'auto' or ray://HOST:PORT joins an "
    "existing cluster (the folder, checkpoint and output must be on storage every node sees; docs/SCALING.md)"
)


SOURCE_HELP = (
    "folder of images, or an object-storage URL read through pyarrow (s3://BUCKET/PREFIX, gs://..., abfs://..., "
    "hdfs://..., file:///ABS/PATH; docs/SCALING.md)"
)


def source_arg(text: str) -> Path | str:
    """argparse type of SOURCE: a URL (``scheme://...``) stays a string, anything else is a folder ``Path``
    (:mod:`annotator.cluster.sources` reads both)."""
    return text if is_url(text) else Path(text)


def non_negative_float(text: str) -> float:
    """argparse type: a number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{value} must be at least 0")
    return value


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--cluster``, ``--workers``, ``--cpus-per-worker``, ``--gpus-per-worker``, ``--batch-size`` and
    ``--retry-failed``."""
    group = parser.add_argument_group("cluster (Ray; pip install 'sam-annotator[cluster]')")
    group.add_argument("--cluster", nargs="?", const="local", metavar="ADDRESS", help=CLUSTER_HELP)
    group.add_argument(
        "--workers",
        type=positive_int,
        help="actors, one model each (default: as the cluster's CPUs/GPUs allow)",
    )
    group.add_argument(
        "--cpus-per-worker", type=non_negative_float, default=1.0, help="CPU cores per actor (default 1)"
    )
    group.add_argument(
        "--gpus-per-worker",
        type=non_negative_float,
        default=0.0,
        help="GPUs per actor, e.g. 1 or 0.5 (default 0: CPU only)",
    )
    group.add_argument("--batch-size", type=positive_int, default=1, help="images per call to an actor")
    group.add_argument(
        "--retry-failed", action="store_true", help="do again the images an earlier run reported as failed"
    )


def cluster_options(args: argparse.Namespace):  # -> ClusterOptions (import deferred)
    """The :class:`~annotator.cluster.driver.ClusterOptions` of parsed arguments."""
    from annotator.cluster.driver import ClusterOptions

    return ClusterOptions(
        address=args.cluster,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        batch_size=args.batch_size,
        retry_failed=args.retry_failed,
    )
