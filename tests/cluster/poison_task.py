"""A test task whose worker process dies on one image (as a decoder crash would): ``os._exit`` in the actor."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from annotator.cluster.task_auto import AutoTask
from annotator.cluster.tasks import ImageResult


@dataclass
class PoisonTask(AutoTask):
    """The classical ``auto`` task, except that the process exits on ``poison``."""

    poison: str = ""

    def process(self, folder: str, name: str, item: Any = None) -> ImageResult:
        if name == self.poison:
            os._exit(1)
        return super().process(folder, name, item)
