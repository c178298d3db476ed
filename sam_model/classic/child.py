"""The child side of :class:`sam_model.classic.process.ProcessSegmenter` (started by ``process._child_command``).

Reads requests from stdin and writes answers to (the original) stdout, one pickle each, until stdin ends or a
``close`` request arrives. The first request is ``("init", (), options)``: the keyword arguments of
:class:`sam_model.classic.segmenter.ClassicSegmenter`; every later one is ``(method, args, kwargs)`` of that
segmenter. An answer is ``("ok", result)`` or ``("error", exception)``: the exception the method raised
(``PromptError``, ``NoImageError``... travel as themselves), or a ``SamModelError`` naming it when it cannot be
pickled. Anything the engine prints goes to stderr, never into the answers.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any, BinaryIO

from sam_model.errors import SamModelError

METHODS = frozenset({"set_image", "reset_image", "predict", "get_embedding", "set_embedding"})
"""What a request may call on the engine."""


def _send(out: BinaryIO, status: str, value: Any) -> None:
    try:
        data = pickle.dumps((status, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an unpicklable result or exception: say what it was instead
        data = pickle.dumps(("error", SamModelError(f"{type(value).__name__} cannot be sent back: {exc}")))
    out.write(data)
    out.flush()


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer requests until ``requests`` ends or asks ``close``."""
    from sam_model.classic.segmenter import ClassicSegmenter

    engine: ClassicSegmenter | None = None
    while True:
        try:
            method, args, kwargs = pickle.load(requests)
        except EOFError:  # the parent closed the pipe (or died): stop
            return
        if method == "close":
            _send(answers, "ok", None)
            return
        try:
            if method == "init":
                engine = ClassicSegmenter(**kwargs)
                result: Any = engine.model_id
            elif engine is None or method not in METHODS:
                raise SamModelError(f"the classical engine's process cannot answer {method!r} now")
            else:
                result = getattr(engine, method)(*args, **kwargs)
        except Exception as exc:  # every failure goes back to the caller, typed as raised
            _send(answers, "error", exc)
        else:
            _send(answers, "ok", result)


def main() -> None:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the answers
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
