"""The classical engine in a child process, behind the same segmenter protocol.

PyMaxflow keeps Python's GIL while it cuts (tens of milliseconds per cut on a 2 MP image's working grid), so an
in-process classical engine stalls every other thread of the app, the GUI thread included, for that long.
:class:`ProcessSegmenter` runs :class:`sam_model.classic.segmenter.ClassicSegmenter` in a child Python
(:mod:`sam_model.classic.child`, started once per engine, plain ``subprocess``: no ``multiprocessing`` re-import
of the app's main module); the calling thread only waits on a pipe, which releases the GIL.

Requests and answers are pickles on the child's stdin / stdout: ``set_image`` sends the image once (6 MB for
2 MP, about 5 ms), ``predict`` sends the prompts and gets the masks back. Errors raised in the child come
back as the same typed exceptions (``PromptError``, ``NoImageError``, ``ImageError``, ``EmbeddingError``); a
child that dies raises :class:`EngineProcessError`. ``close()`` (or the object's collection, or the
interpreter's exit) stops the child and reaps it; a child whose parent dies sees its stdin end and exits.
"""

from __future__ import annotations

import contextlib
import pickle
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from sam_model.classic.segmenter import ClassicSegmenter
from sam_model.errors import NoImageError, SamModelError
from sam_model.inputs import check_image
from sam_model.low_res import LowResFrame
from sam_model.protocol import ImageEmbedding, Prediction

STOP_TIMEOUT_S = 1.0
"""How long ``close`` waits for the child to leave before killing it."""


class EngineProcessError(SamModelError, RuntimeError):
    """The classical engine's child process could not start, or stopped answering (it died or was closed)."""


class ProcessSegmenter:
    """:class:`ClassicSegmenter` in a child process (see the module docstring). Not thread-safe, like any
    segmenter, but calls from several threads are serialised.

    Args:
        options: keyword arguments of :class:`ClassicSegmenter` (checked here before the child starts).
    """

    def __init__(self, **options: Any) -> None:
        self._template = ClassicSegmenter(**options)  # validates the options; answers model_id and the frame
        self._lock = threading.Lock()
        self._image_set = False
        try:
            self._proc = subprocess.Popen(
                _child_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
        except OSError as exc:
            raise EngineProcessError(f"cannot start the classical engine's process: {exc}") from exc
        self._finalizer = weakref.finalize(self, _stop, self._proc)
        child_id = self._call("init", **options)
        if child_id != self._template.model_id:
            self.close()
            raise EngineProcessError(
                f"the engine's process is {child_id!r}, expected {self._template.model_id!r}"
            )

    # ------------------------------------------------------------------------------------------------ protocol
    @property
    def model_id(self) -> str:
        return self._template.model_id

    @property
    def low_res_frame(self) -> LowResFrame:
        return self._template.low_res_frame

    @property
    def is_image_set(self) -> bool:
        return self._image_set

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._proc.pid

    def set_image(self, image: np.ndarray) -> None:
        """As :meth:`ClassicSegmenter.set_image`; the image is checked here, then sent to the child once."""
        image = np.ascontiguousarray(check_image(image))
        self._call("set_image", image)  # a failure leaves the previous image, as in ClassicSegmenter
        self._image_set = True

    def reset_image(self) -> None:
        self._image_set = False
        self._call("reset_image")

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Prediction:
        """As :meth:`ClassicSegmenter.predict` (same arguments, results and errors), decoded in the child."""
        if not self._image_set:
            raise NoImageError("no image set: call set_image first")
        result: Prediction = self._call(
            "predict", point_coords, point_labels, box, mask_input, multimask_output, return_logits
        )
        return result

    def get_embedding(self) -> ImageEmbedding:
        if not self._image_set:
            raise NoImageError("no image set: call set_image first")
        embedding: ImageEmbedding = self._call("get_embedding")
        return embedding

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        self._call("set_embedding", embedding)  # a foreign embedding leaves the previous image
        self._image_set = True

    # ----------------------------------------------------------------------------------------------- lifetime
    @property
    def alive(self) -> bool:
        """Whether the child is running."""
        return self._proc.poll() is None

    def close(self) -> None:
        """Stop the child (waits at most :data:`STOP_TIMEOUT_S`, then kills it) and reap it. Idempotent."""
        self._image_set = False
        with self._lock:
            self._finalizer()

    def __enter__(self) -> ProcessSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Send one request and wait for its answer; re-raise the child's exception."""
        with self._lock:
            stdin, stdout = self._proc.stdin, self._proc.stdout
            if not self._finalizer.alive or stdin is None or stdout is None:
                raise EngineProcessError("the classical engine's process is closed")
            try:
                pickle.dump((method, args, kwargs), stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
                status, value = pickle.load(stdout)
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                code = self._proc.poll()
                state = "is not answering" if code is None else f"ended with exit code {code}"
                raise EngineProcessError(f"the classical engine's process {state} ({method}): {exc}") from exc
        if status == "error":
            raise value
        return value


def _child_command() -> list[str]:
    """The child's command line: this Python, importing ``sam_model`` from where this process imports it
    (first on ``sys.path``, whatever the working directory or an installed copy)."""
    root = str(Path(__file__).resolve().parents[2])
    code = f"import sys; sys.path.insert(0, {root!r}); from sam_model.classic.child import main; main()"
    return [sys.executable, "-c", code]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask the child to leave (closing its stdin), wait :data:`STOP_TIMEOUT_S`, kill it if needed; reap it."""
    if proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError):  # the child is already gone: nothing left to tell it
            proc.stdin.close()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
