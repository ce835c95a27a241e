"""Frame sources on real files: H.264 videos written with PyAV, images, folders, a loopback HTTP stream."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from detector.errors import InputError
from detector.sources import Prefetched, open_source
from detector.types import Frame


def write_video(
    path: Path,
    frames: int = 50,
    fps: int = 25,
    size: tuple[int, int] = (160, 120),
    fmt: str | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """An H.264 video whose frame i has brightness 4*i (so a decoded frame tells which one it is)."""
    w, h = size
    with av.open(str(path), mode="w", format=fmt, options=options or {}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        for i in range(frames):
            image = np.full((h, w, 3), (4 * i) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4")


def test_video_yields_every_frame_with_pts_timestamps(video):
    with open_source(video) as source:
        assert source.kind == "video"
        assert source.estimated_frames == 50 and source.native_fps == 25
        frames = list(source)
    assert [f.index for f in frames] == list(range(50))
    assert [f.timestamp for f in frames] == pytest.approx([i / 25 for i in range(50)])
    assert frames[10].image.shape == (120, 160, 3) and frames[10].image.dtype == np.uint8
    assert abs(int(frames[10].image.mean()) - 40) <= 3  # frame 10 is the one decoded 10th
    assert all(f.source == str(video) for f in frames)


def test_sampling_by_target_fps(video):
    with open_source(video, fps=5) as source:
        frames = list(source)
        assert source.estimated_frames == len(frames) == 10
    assert [f.index for f in frames] == list(range(0, 50, 5))
    assert np.diff([f.timestamp for f in frames]) == pytest.approx([0.2] * 9)


def test_sampling_every_nth_frame(video):
    with open_source(video, every=7) as source:
        frames = list(source)
        assert source.estimated_frames == len(frames) == 8
    assert [f.index for f in frames] == list(range(0, 50, 7))


def test_fps_above_the_native_rate_keeps_all_frames(video):
    with open_source(video, fps=100) as source:
        assert len(list(source)) == 50


def test_variable_gaps_keep_the_first_frame_of_each_step(tmp_path):
    path = write_video(tmp_path / "slow.mp4", frames=12, fps=3)
    with open_source(path, fps=2) as source:
        times = [f.timestamp for f in source]
    # 3 fps sampled at 2 fps: every step of 0.5 s gets the first frame at or after it
    assert times == pytest.approx([0, 2 / 3, 1.0, 5 / 3, 2.0, 8 / 3, 3.0, 11 / 3])


def test_image_file_and_sorted_folder(tmp_path):
    for name, value in (("b.png", 20), ("a.jpg", 10), ("c.bmp", 30)):
        cv2.imwrite(str(tmp_path / name), np.full((40, 60, 3), value, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    with open_source(tmp_path) as source:
        assert source.kind == "folder" and source.estimated_frames == 3
        frames = list(source)
    assert [Path(f.source).name for f in frames] == ["a.jpg", "b.png", "c.bmp"]
    assert [f.index for f in frames] == [0, 1, 2]
    with open_source(tmp_path / "b.png") as source:
        [frame] = list(source)
    assert source.kind == "image" and frame.image.shape == (40, 60, 3) and int(frame.image.mean()) == 20
    with open_source(tmp_path, every=2) as source:
        assert [Path(f.source).name for f in source] == ["a.jpg", "c.bmp"]


# --- bad input --------------------------------------------------------------------------------------


def _error(spec, **kwargs) -> str:
    with pytest.raises(InputError) as info, open_source(spec, **kwargs) as source:
        list(source)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert _error(tmp_path / "nope.mp4") == f"{tmp_path / 'nope.mp4'}: file not found"


def test_empty_folder(tmp_path):
    assert "empty folder" in _error(tmp_path) and str(tmp_path) in _error(tmp_path)


def test_truncated_and_unreadable_images(tmp_path):
    ok, encoded = cv2.imencode(".jpg", np.full((200, 300, 3), 128, np.uint8))
    (tmp_path / "cut.jpg").write_bytes(encoded.tobytes()[: len(encoded) // 2])
    assert "truncated" in _error(tmp_path / "cut.jpg")
    ok, encoded = cv2.imencode(".png", np.full((200, 300, 3), 128, np.uint8))
    (tmp_path / "cut.png").write_bytes(encoded.tobytes()[: len(encoded) // 2])
    assert "cannot decode" in _error(tmp_path / "cut.png")
    (tmp_path / "text.jpg").write_text("hello")
    assert "cannot decode" in _error(tmp_path / "text.jpg")
    # a bad image inside a folder names that image
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "bad.png").write_bytes(b"\x89PNG broken")
    assert str(folder / "bad.png") in _error(folder)


def test_truncated_video(tmp_path, video):
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    message = _error(cut)
    assert str(cut) in message and "video" in message


def test_truncated_video_with_its_index_first(tmp_path):
    # "faststart" MP4 (index before the data): a cut file still opens, the missing frames must be noticed
    full = write_video(tmp_path / "full.mp4", frames=60, options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    message = _error(cut)
    assert message.startswith(str(cut)) and "truncated" in message


def test_prefetched_video_gives_the_same_frames_in_order(video):
    with open_source(video) as source:
        plain = [(f.index, f.timestamp, int(f.image.mean())) for f in source]
    with open_source(video, fps=10) as source, Prefetched(source, depth=3) as frames:
        ahead = [(f.index, f.timestamp, int(f.image.mean())) for f in frames]
    assert ahead == [p for p in plain if p[0] in {f[0] for f in ahead}] and len(ahead) == 20


def test_prefetched_truncated_video_fails_after_the_frames_before_the_cut(tmp_path):
    full = write_video(tmp_path / "full.mp4", frames=60, options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    got = []
    with (
        pytest.raises(InputError, match="truncated"),
        open_source(cut) as source,
        Prefetched(source, depth=4) as frames,
    ):
        for f in frames:
            got.append(f.index)
    assert got == list(range(len(got))) and 0 < len(got) < 60


def test_leaving_prefetched_early_stops_and_joins_its_thread():
    finished = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield Frame(np.zeros((2, 2, 3), np.uint8), i, float(i), "gen")
                i += 1
        finally:
            finished.set()  # the generator is closed, on the prefetch thread, before __exit__ returns

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="cancelled"), Prefetched(endless(), depth=2) as frames:
        for f in frames:
            if f.index == 5:
                raise RuntimeError("cancelled")
    assert finished.is_set() and threading.active_count() == before


def test_file_that_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("just some text, not a video")
    message = _error(path)
    assert message.startswith(str(path)) and "not a readable video" in message


def test_invalid_sampling_values(video):
    assert "fps" in _error(video, fps=0)
    assert "every" in _error(video, every=0)


# --- live streams -------------------------------------------------------------------------------------


@pytest.fixture
def http_server(tmp_path):
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_live_stream_drops_stale_frames_for_a_slow_consumer(http_server):
    root, base = http_server
    write_video(root / "live.ts", frames=150, fps=25, fmt="mpegts")
    before = time.time()
    got = []
    with open_source(f"{base}/live.ts") as source:
        assert source.kind == "live"
        for frame in source:
            got.append(frame)
            time.sleep(0.05)  # far slower than the reader decodes
        dropped = source.dropped
    assert 1 <= len(got) < 150
    assert dropped > 0
    indices = [f.index for f in got]
    assert indices == sorted(set(indices))  # fresh frames only, never a repeat
    assert all(before <= f.timestamp <= time.time() for f in got)  # wall-clock time


def test_live_stream_every_nth_frame(http_server):
    root, base = http_server
    write_video(root / "live.ts", frames=30, fps=25, fmt="mpegts")
    with open_source(f"{base}/live.ts", every=10) as source:
        indices = [f.index for f in source]
    assert indices and all(i % 10 == 0 for i in indices)


def test_unreachable_stream_is_an_input_error():
    message = _error("rtsp://127.0.0.1:9/nothing")
    assert message.startswith("rtsp://127.0.0.1:9/nothing: cannot open stream")
