"""``--into-project`` of ``auto`` and ``boxes-to-masks`` (single-process and ``--cluster``): the COCO proposals
file the command wrote, merged into the folder's review queue as one undoable step (issue 16, item 2).

The run's tag is the hash of its task identity (:mod:`annotator.cluster`'s, which imports neither Ray nor
torch): the same command with the same model, options and boxes has the same tag on one machine and on a
cluster, so merging its proposals a second time, by either path, adds nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from annotator.cli import CliError

INTO_PROJECT_HELP = (
    "also add the proposals to the folder's review queue (one undoable step; the same run twice adds nothing)"
)


def add_into_project_option(parser: argparse.ArgumentParser, help_text: str = INTO_PROJECT_HELP) -> None:
    parser.add_argument("--into-project", action="store_true", help=help_text)


def model_spec(checkpoint: str | Path | None, device: str, dtype: str, config: Path | None) -> Any:
    """The :class:`~annotator.cluster.tasks.ModelSpec` of the model options (paths made absolute)."""
    from annotator.cluster.tasks import ModelSpec

    return ModelSpec(
        checkpoint=str(Path(checkpoint).resolve()) if checkpoint is not None else None,
        device=device,
        dtype=dtype,
        config=str(config.resolve()) if config is not None else None,
    )


def auto_tag(spec: Any, params: dict[str, Any]) -> str:
    """The tag of an ``auto`` run."""
    from annotator.cluster.merge import run_tag
    from annotator.cluster.task_auto import AutoTask

    return run_tag(AutoTask(spec, params=params).identity())


def boxes_tag(spec: Any, boxes: Any, *, multimask: bool) -> str:
    """The tag of a ``boxes-to-masks`` run over ``boxes`` (a ``BoxSet``)."""
    from annotator.cluster.merge import run_tag
    from annotator.cluster.task_boxes import BoxesTask

    task = BoxesTask(spec, boxes={image.file_name: image for image in boxes.images}, multimask=multimask)
    return run_tag(task.identity())


INTO_PROJECT_ADVICE = "leave out --into-project, or run on a local copy of the images"


def project_folder(
    source: Path | str, *, needed_by: str = "--into-project", advice: str = INTO_PROJECT_ADVICE
) -> Path:
    """The project folder of an image source: the folder itself, or a ``file://`` URL's path. Raises
    :class:`CliError` (``needed_by``: what needs the project; ``advice``: what to do) for any other URL: a
    project is a local folder, and the images of a bucket have no local files it could refer to."""
    from annotator.cluster.sources import SourceError, local_folder, shown

    try:
        folder = local_folder(source)
    except SourceError as exc:
        raise CliError(str(exc)) from None
    if folder is None:
        raise CliError(
            f"{needed_by}: {shown(source)} is not on this machine, so it has no project (a project is a local "
            f"folder of the images); {advice}"
        )
    return folder


def refuse_locked(folder: Path) -> None:
    """:class:`CliError` now, before the run, when another process (the app) holds the project's write lock."""
    from annotator.core.errors import CoreError
    from annotator.core.proposal_merge import check_unlocked

    try:
        check_unlocked(folder)
    except CoreError as exc:
        raise CliError(
            f"{exc}; --into-project needs to write it (close it in the app, then run again)"
        ) from None


def merge_into_project(folder: Path, coco: dict[str, Any], *, tag: str, boxes: bool) -> None:
    """Add ``coco``'s proposals to ``folder``'s review queue (box proposals when ``boxes``: accepting one
    gives its box object the mask); prints the warnings and one summary line. Raises :class:`CliError`
    when the project cannot be changed (locked by the app, unreadable)."""
    from annotator.core.errors import CoreError
    from annotator.core.proposal_merge import BOX_SOURCES, add_to_project, auto_batch, box_batch

    try:
        if boxes:
            report = add_to_project(folder, box_batch(coco, tag=tag), tag=tag, replace_sources=BOX_SOURCES)
        else:
            report = add_to_project(folder, auto_batch(coco, tag=tag), tag=tag)
    except CoreError as exc:
        raise CliError(str(exc)) from None
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.line(), file=sys.stderr)
