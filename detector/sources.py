"""Frame sources: image files, folders of images, video files and live streams behind one iterator.

`open_source(spec, fps=..., every=...)` picks the kind from the spec (URL scheme, folder, image
extension, else video) and returns a `FrameSource`: iterate it for `detector.types.Frame`s, read
`estimated_frames` for a progress bar, use it as a context manager to release files and threads.

Timestamps: video files use the frame's PTS in seconds from the stream start; live streams use
Unix wall-clock time at decode; image files use the file's modification time (Unix seconds).
Sampling: `every=N` keeps every Nth decoded frame; `fps=F` keeps the first frame at or after each
1/F-second step of the timestamps (both together: `every` first, then `fps`). Image folders ignore
`fps` (they have no time axis) but honour `every`.
Live streams are read by a background thread that keeps only the newest decoded frame, so a slow
consumer skips stale frames instead of falling ever further behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from detector.errors import InputError
from detector.types import Frame

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


def is_live_url(spec: str | Path) -> bool:
    return str(spec).lower().startswith(LIVE_SCHEMES)


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to BGR uint8; InputError if missing, unreadable, truncated or not an image."""
    import cv2

    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path)
    if not path.is_file():
        raise InputError("not a file", path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror or exc})", path) from exc
    if not data:
        raise InputError("empty file", path)
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        # OpenCV decodes a cut-off JPEG into a grey-filled image without complaint: refuse it here.
        raise InputError("truncated JPEG image (no end-of-image marker)", path)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # the error below says it once
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if image is None:
        raise InputError("cannot decode image (unreadable, truncated or not an image)", path)
    return image


class FrameSource:
    """Iterable of `Frame`s with a best-effort total for progress bars. Close it (or use `with`)."""

    kind = "source"

    def __init__(self, spec: str | Path, fps: float | None = None, every: int | None = None) -> None:
        if fps is not None and fps <= 0:
            raise InputError(f"fps must be > 0, got {fps}")
        if every is not None and every < 1:
            raise InputError(f"every must be >= 1, got {every}")
        self.spec = str(spec)
        self.fps = fps
        self.every = every or 1

    @property
    def estimated_frames(self) -> int | None:
        """How many frames iteration will yield (after sampling), if it can be estimated."""
        return None

    @property
    def native_fps(self) -> float | None:
        """The source's own frame rate, if it has one."""
        return None

    @property
    def output_fps(self) -> float | None:
        """Frame rate of the yielded frames (after sampling), for writing them back as a video."""
        native = self.native_fps
        if native is None:
            return self.fps
        rate = native / self.every
        return min(rate, self.fps) if self.fps else rate

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release files and threads; safe to call more than once."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _TimeSampler:
    """Keeps the first timestamp at or after each 1/fps step."""

    def __init__(self, fps: float | None) -> None:
        self.step = 1.0 / fps if fps else None
        self.next_t: float | None = None

    def keep(self, t: float) -> bool:
        if self.step is None:
            return True
        if self.next_t is None:
            self.next_t = t
        if t + 1e-6 >= self.next_t:
            # next step on the grid after t (skips steps when frames are sparser than fps)
            self.next_t += self.step * max(1, math.floor((t - self.next_t) / self.step + 1e-6) + 1)
            return True
        return False


class ImageFileSource(FrameSource):
    kind = "image"

    def __init__(self, path: str | Path, fps: float | None = None, every: int | None = None) -> None:
        super().__init__(path, fps, every)
        self.path = Path(path)
        self.image = read_image(self.path)  # decoded at open: a bad image fails before any work starts

    @property
    def estimated_frames(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Frame]:
        yield Frame(image=self.image, index=0, timestamp=self.path.stat().st_mtime, source=str(self.path))


class ImageFolderSource(FrameSource):
    kind = "folder"

    def __init__(self, path: str | Path, fps: float | None = None, every: int | None = None) -> None:
        super().__init__(path, fps, every)
        self.path = Path(path)
        self.files = sorted(
            p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not self.files:
            wanted = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise InputError(f"empty folder: no image files ({wanted})", self.path)

    @property
    def estimated_frames(self) -> int:
        return math.ceil(len(self.files) / self.every)

    def __iter__(self) -> Iterator[Frame]:
        for index, file in enumerate(self.files):
            if index % self.every:
                continue
            yield Frame(image=read_image(file), index=index, timestamp=file.stat().st_mtime, source=str(file))


def _av_error_text(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().splitlines()[0][:160]


class VideoFileSource(FrameSource):
    """A video file decoded by PyAV (FFmpeg); timestamps from PTS, seconds from the stream start."""

    kind = "video"

    def __init__(self, path: str | Path, fps: float | None = None, every: int | None = None) -> None:
        import av

        super().__init__(path, fps, every)
        self.path = Path(path)
        if not self.path.exists():
            raise InputError("file not found", self.path)
        if not self.path.is_file():
            raise InputError("not a file", self.path)
        try:
            self.container = av.open(str(self.path), mode="r")
        except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"not a readable video ({_av_error_text(exc)})", self.path) from exc
        if not self.container.streams.video:
            self.container.close()
            raise InputError("no video stream in file", self.path)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self._closed = False

    @property
    def native_fps(self) -> float | None:
        rate = self.stream.average_rate or self.stream.guessed_rate
        return float(rate) if rate else None

    @property
    def expected_decoded(self) -> int | None:
        """Frames in the file according to its header (or duration x rate)."""
        if self.stream.frames:
            return int(self.stream.frames)
        duration = None
        if self.stream.duration is not None and self.stream.time_base is not None:
            duration = float(self.stream.duration * self.stream.time_base)
        elif self.container.duration:
            duration = self.container.duration / 1_000_000
        native = self.native_fps
        return round(duration * native) if duration and native else None

    @property
    def estimated_frames(self) -> int | None:
        total = self.expected_decoded
        if total is None:
            return None
        n = math.ceil(total / self.every)
        if self.fps and self.native_fps:
            n = min(n, math.ceil(total / self.native_fps * self.fps))
        return n

    def __iter__(self) -> Iterator[Frame]:
        import av

        sampler = _TimeSampler(self.fps)
        time_base = float(self.stream.time_base) if self.stream.time_base else None
        start = self.stream.start_time or 0
        native = self.native_fps or 30.0
        index = -1
        try:
            for vframe in self.container.decode(self.stream):
                index += 1
                if index % self.every:
                    continue
                if vframe.pts is not None and time_base:
                    t = (vframe.pts - start) * time_base
                else:
                    t = index / native
                if not sampler.keep(t):
                    continue
                yield Frame(
                    image=vframe.to_ndarray(format="bgr24"),
                    index=index,
                    timestamp=float(t),
                    source=str(self.path),
                )
        except av.FFmpegError as exc:
            raise InputError(
                f"corrupt or truncated video after {index + 1} frames ({_av_error_text(exc)})", self.path
            ) from exc
        expected = self.expected_decoded
        decoded = index + 1
        if decoded == 0:
            raise InputError("no decodable video frames (truncated or corrupt file)", self.path)
        if expected and decoded < 0.9 * expected - 1:
            raise InputError(f"truncated video: decoded {decoded} of {expected} frames", self.path)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.container.close()


class LiveSource(FrameSource):
    """A live stream (rtsp/http/...) read by a thread that keeps only the newest frame.

    Timestamps are Unix wall-clock seconds at decode. A consumer slower than the stream gets the
    latest frame each time and the frames in between are dropped (`dropped` counts them).
    """

    kind = "live"

    def __init__(
        self,
        url: str,
        fps: float | None = None,
        every: int | None = None,
        open_timeout: float = 10.0,
        read_timeout: float = 10.0,
    ) -> None:
        import av

        super().__init__(url, fps, every)
        self.url = url
        options = {"rtsp_transport": "tcp"} if url.lower().startswith(("rtsp://", "rtsps://")) else {}
        try:
            self.container = av.open(url, mode="r", options=options, timeout=(open_timeout, read_timeout))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise InputError(f"cannot open stream ({_av_error_text(exc)})", url) from exc
        if not self.container.streams.video:
            self.container.close()
            raise InputError("no video stream", url)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._done = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self.dropped = 0  # frames replaced by a newer one before the consumer took them
        self._thread = threading.Thread(target=self._read, name=f"live-reader {url}", daemon=True)
        self._thread.start()

    @property
    def native_fps(self) -> float | None:
        rate = self.stream.average_rate or self.stream.guessed_rate
        return float(rate) if rate else None

    def _read(self) -> None:
        index = -1
        try:
            for vframe in self.container.decode(self.stream):
                if self._stop.is_set():
                    break
                index += 1
                if index % self.every:
                    continue
                frame = Frame(
                    image=vframe.to_ndarray(format="bgr24"),
                    index=index,
                    timestamp=time.time(),
                    source=self.url,
                )
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = frame
                    self._cond.notify_all()
        except BaseException as exc:  # reported to the consumer, never lost in the thread
            if not self._stop.is_set():
                self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        sampler = _TimeSampler(self.fps)
        while True:
            with self._cond:
                while self._latest is None and not self._done:
                    self._cond.wait(timeout=0.5)
                frame, self._latest = self._latest, None
                done, error = self._done, self._error
            if frame is None:
                if error is not None:
                    raise InputError(f"stream failed ({_av_error_text(error)})", self.url) from error
                if done:
                    return
                continue
            if sampler.keep(frame.timestamp):
                yield frame

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        if self._thread.is_alive():
            return  # still blocked in a network read: the daemon thread exits with its read timeout
        with contextlib.suppress(Exception):  # closing a broken stream must not raise
            self.container.close()


def source_kind(spec: str | Path) -> str:
    """'live', 'folder', 'image' or 'video': what `open_source` would open, without opening it."""
    text = str(spec)
    if is_live_url(text):
        return "live"
    path = Path(os.path.expanduser(text))
    if not path.exists():
        raise InputError("file not found", path)
    if path.is_dir():
        return "folder"
    return "image" if path.suffix.lower() in IMAGE_EXTENSIONS else "video"


def open_source(spec: str | Path, fps: float | None = None, every: int | None = None) -> FrameSource:
    """Open an image file, a folder of images, a video file or a live URL as one frame iterator."""
    kind = source_kind(spec)
    if kind == "live":
        return LiveSource(str(spec), fps=fps, every=every)
    cls = {"folder": ImageFolderSource, "image": ImageFileSource, "video": VideoFileSource}[kind]
    return cls(Path(os.path.expanduser(str(spec))), fps=fps, every=every)


class Prefetched:
    """Iterate `frames` on a background thread, up to `depth` frames ahead of the consumer.

    For batch processing: the next frames are decoded (FFmpeg releases the GIL) while the detector
    runs on the current batch, instead of decoding and inferring in turn. Bounded, so memory stays
    at `depth` frames; errors of the source (a truncated video) reach the consumer at the point they
    happened. Use as a context manager: leaving it (normally, on an error or a cancelled job) stops
    and joins the thread before the caller closes the source, which must never be closed while the
    thread is still decoding from it.

    Hand-written: the standard library has no bounded background iterator, and the small packages
    that offer one (prefetch_generator) neither propagate errors in order nor join on exit.
    """

    _END = object()

    def __init__(self, frames: Iterator[Frame] | FrameSource, depth: int = 8) -> None:
        self._frames = frames
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="frame-prefetch", daemon=True)

    def _produce(self) -> None:
        frames = iter(self._frames)
        try:
            for frame in frames:
                if self._stop.is_set():
                    return
                self._queue.put(frame)
            self._queue.put(self._END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._queue.put(exc)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # an abandoned decoder generator is finished here, not later on another thread

    def __enter__(self) -> Iterator[Frame]:
        self._thread.start()
        return self._consume()

    def _consume(self) -> Iterator[Frame]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()
