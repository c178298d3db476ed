"""Batch work over a Ray cluster: auto proposals, encoding, boxes to masks (issue 16; docs/SCALING.md).

The parts, each small and Qt-free; nothing here imports Ray or torch at module level, so a command that does
not use ``--cluster`` never loads them:

* :mod:`~annotator.cluster.tasks`: what is done to one image (:class:`~annotator.cluster.tasks.ImageTask`);
  the ``auto``, ``encode`` and ``boxes-to-masks`` tasks live in :mod:`~annotator.cluster.task_auto`,
  :mod:`~annotator.cluster.task_encode` and :mod:`~annotator.cluster.task_boxes`. A new command adds one task
  class (and its merge).
* :mod:`~annotator.cluster.actors`: the Ray actor that loads the task's model once and works through batches
  of image names.
* :mod:`~annotator.cluster.shards`: one result file per image in the output folder, written atomically by the
  driver: a rerun skips the images that have one, so nothing is done or written twice.
* :mod:`~annotator.cluster.driver`: connects to Ray, starts the actors, hands out batches, retries batches
  whose worker died, writes the shards, reports progress (:mod:`~annotator.cluster.progress`).
* :mod:`~annotator.cluster.merge`: the shards into the COCO proposals file (byte for byte the single-process
  command's) and, on request, into the project's review queue as one undoable step.

Why Ray actors and not ``ray.data.Dataset.map_batches``: Ray Data retries a failed block by running it again
and gives the driver no say in which results count, so exactly-once output would still need the driver-side
ledger below; and a worker that dies on one image (a decoder crash) would fail or repeat a whole block. With
actors the driver owns the ledger (the shards), splits a batch whose worker died into single images and gives
up on an image after a bounded number of deaths, and a small run starts in seconds instead of paying Ray Data's
planner. One model per actor, batches and ``num_gpus`` per actor are the same as Ray Data's actor pool.
"""
