"""Fixtures of the cluster tests: a local Ray instance (2 CPUs) shared by the tests of a module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cluster_helpers import HERE, ROOT


@pytest.fixture(scope="module")
def ray_local() -> Iterator[object]:
    """A local Ray instance with 2 CPUs per module (start-up costs seconds), shut down after it.
    Workers import this checkout's packages and this folder's helper modules (``poison_task``)."""
    ray = pytest.importorskip("ray")
    paths = [str(ROOT), str(HERE), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
    )
    yield ray
    ray.shutdown()
