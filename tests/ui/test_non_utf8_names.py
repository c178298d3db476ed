"""Issue 15, item 3: image keys survive any file name. Finding: a file name with bytes that are not UTF-8 never
finished "Encoding image..." because the key (a str with surrogate escapes) was altered crossing a Qt signal."""

from __future__ import annotations

import os

import numpy as np
import pytest

from annotator.workers.segment_client import SegmentClient
from tests.ui.fakes import DiscSegmenter

KEY = os.fsdecode(b"caf\xe9-\xff.png")  # Latin-1 bytes on a UTF-8 system: 'caf\udce9-\udcff.png'


def test_key_with_surrogate_escapes_survives_the_worker_signals(qtbot) -> None:
    client = SegmentClient(DiscSegmenter())
    try:
        with qtbot.waitSignal(client.encoded, timeout=10000) as blocker:
            client.set_image(KEY, np.zeros((40, 60, 3), np.uint8))
        assert blocker.args[0] == KEY
    finally:
        client.shutdown()


@pytest.mark.skipif(os.name == "nt", reason="POSIX file names are bytes")
def test_window_encodes_an_image_whose_name_is_not_utf8(qtbot, make_window, tmp_path) -> None:
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(
        os.path.join(os.fsencode(folder), b"caf\xe9-\xff.png")
    )
    window = make_window(folder, segmenter=DiscSegmenter())  # waits until the image is encoded
    assert window.controller.current_key == KEY and window.controller.client.image_ready
