"""draw_detections: evidence images with boxes and labels, the input left untouched."""

from __future__ import annotations

import av
import numpy as np

from detector.annotate import VideoWriter, class_color, draw_detections
from detector.types import Detection


def test_boxes_are_drawn_on_a_copy_in_the_class_colour():
    image = np.zeros((200, 300, 3), np.uint8)
    det = Detection(50, 60, 150, 160, 0.87, 3, "overflowing_bin")
    out = draw_detections(image, [det])
    assert image.max() == 0  # input unchanged
    assert out.shape == image.shape and out.dtype == np.uint8
    assert tuple(out[110, 50]) == class_color(3)  # left edge of the box
    assert out[110, 100].max() == 0  # inside the box stays as it was
    assert out[40:60, 50:120].max() > 0  # the label above the box


def test_colours_by_name_and_boxes_at_the_border():
    image = np.zeros((100, 100, 3), np.uint8)
    det = Detection(0, 0, 100, 100, 0.5, 0, "vehicle")
    out = draw_detections(image, [det], colors={"vehicle": (0, 0, 255)}, labels=False)
    assert tuple(out[50, 0]) == (0, 0, 255) and tuple(out[99, 50]) == (0, 0, 255)
    assert draw_detections(image, []).max() == 0


def test_video_writer_pads_odd_sizes_and_writes_h264(tmp_path):
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=5) as writer:
        for i in range(7):
            writer.write(np.full((99, 161, 3), 30 * i, np.uint8))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (162, 100)
        frames = list(container.decode(stream))
    assert len(frames) == 7
    assert abs(float(frames[-1].time) - 6 / 5) < 1e-6
