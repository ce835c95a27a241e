"""`streetwatch bench detector`: per-frame latency of (a) our Detector, (b) the bare session, (c) ultralytics.

(a) `Detector.detect_batch` on a 1280x720 BGR frame: letterbox + onnxruntime + decode/NMS.
(b) `Detector.session.run` on the tensor (a) would have prepared: inference alone.
(c) ultralytics `YOLO(pt).predict` on the same frames (pre + torch inference + NMS), from
    `training.reference_predict` (torch/ultralytics are imported only there).
Latency per frame = call time / batch. The three are timed interleaved, in rotating order, so a
busy machine slows all of them alike and the ratios stay meaningful. Reported: median and p10-p90
in ms, ratios (a)/(b) and (c)/(a), and GFLOP/s = model GFLOPs at that input size / (a)'s median.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FRAME_W, FRAME_H = 1280, 720


@dataclass
class BenchConfig:
    repeats: int = 20
    warmup: int = 3
    sizes: list[int] = field(default_factory=lambda: [640, 320])
    batches: list[int] = field(default_factory=lambda: [1, 4])
    threads: list[int] = field(default_factory=lambda: [1, 2])
    model: Path | None = None
    weights: Path | None = None
    image: Path | None = None
    ultralytics: bool = True
    gflops: float | None = None  # at 640; scaled by (size/640)^2
    conf: float = 0.25
    iou: float = 0.45
    spin: bool | None = None  # onnxruntime thread spinning (None: its default)


@dataclass
class Stats:
    """Per-frame latency in milliseconds."""

    median: float
    p10: float
    p90: float
    n: int
    best: float  # the fastest call: the closest a shared machine gets to an idle one

    @classmethod
    def of(cls, seconds_per_frame: list[float]) -> Stats:
        ms = np.asarray(seconds_per_frame) * 1000.0
        return cls(
            float(np.median(ms)),
            float(np.percentile(ms, 10)),
            float(np.percentile(ms, 90)),
            len(ms),
            float(ms.min()),
        )

    def cell(self) -> str:
        return f"{self.median:.1f} ({self.p10:.1f}–{self.p90:.1f})"


@dataclass
class Row:
    size: int
    batch: int
    threads: int
    ours: Stats
    session: Stats
    ultralytics: Stats | None
    gflops: float | None

    @property
    def ours_over_session(self) -> float:
        return self.ours.median / self.session.median

    @property
    def ultralytics_over_ours(self) -> float | None:
        return self.ultralytics.median / self.ours.median if self.ultralytics else None

    @property
    def gflop_per_s(self) -> float | None:
        return self.gflops / (self.ours.median / 1000.0) if self.gflops else None


@dataclass
class BenchReport:
    rows: list[Row]
    config: BenchConfig
    environment: dict[str, str]
    seconds: float

    def markdown(self) -> str:
        lines = [
            "Per-frame latency, ms: median (p10–p90). (a) our Detector (letterbox + onnxruntime + NMS), "
            "(b) bare onnxruntime session on a prepared tensor, (c) ultralytics predict on the .pt.",
            "",
            "| input | batch | threads | (a) ours | (b) session | (c) ultralytics "
            "| (a)/(b) | (c)/(a) | GFLOP/s (a) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            c = r.ultralytics.cell() if r.ultralytics else "–"
            ca = f"{r.ultralytics_over_ours:.2f}" if r.ultralytics_over_ours else "–"
            gf = f"{r.gflop_per_s:.0f}" if r.gflop_per_s else "–"
            lines.append(
                f"| {r.size} | {r.batch} | {r.threads} | {r.ours.cell()} | {r.session.cell()} | {c} | "
                f"{r.ours_over_session:.2f} | {ca} | {gf} |"
            )
        lines += [
            "",
            "Fastest call per pipeline, ms per frame (least disturbed by other load on the machine):",
            "",
            "| input | batch | threads | (a) ours | (b) session | (c) ultralytics | (a)/(b) | (c)/(a) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            c = f"{r.ultralytics.best:.1f}" if r.ultralytics else "–"
            ca = f"{r.ultralytics.best / r.ours.best:.2f}" if r.ultralytics else "–"
            lines.append(
                f"| {r.size} | {r.batch} | {r.threads} | {r.ours.best:.1f} | {r.session.best:.1f} | {c} | "
                f"{r.ours.best / r.session.best:.2f} | {ca} |"
            )
        env = ", ".join(f"{k} {v}" for k, v in self.environment.items())
        lines += [
            "",
            f"{len(self.rows)} configurations, {self.config.repeats} timed calls each, "
            f"{self.seconds:.0f} s in all. {env}",
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        data = {
            "rows": [],
            "environment": self.environment,
            "seconds": self.seconds,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.config).items()},
        }
        for r in self.rows:
            row = asdict(r)
            row.update(
                ours_over_session=r.ours_over_session,
                ultralytics_over_ours=r.ultralytics_over_ours,
                gflop_per_s=r.gflop_per_s,
            )
            data["rows"].append(row)
        return data


def bench_frame(image: Path | None = None) -> np.ndarray:
    """A 1280x720 BGR street-like frame: --image, else ultralytics' bus.jpg (found without importing it)."""
    import cv2

    from detector.sources import read_image

    if image is None:
        spec = importlib.util.find_spec("ultralytics")
        if spec and spec.submodule_search_locations:
            candidate = Path(next(iter(spec.submodule_search_locations))) / "assets" / "bus.jpg"
            image = candidate if candidate.exists() else None
    if image is None:  # a synthetic gradient frame: no detections, so NMS cost is a lower bound
        y, x = np.mgrid[0:FRAME_H, 0:FRAME_W]
        return np.dstack([(x * 255 // FRAME_W), (y * 255 // FRAME_H), ((x + y) % 256)]).astype(np.uint8)
    return cv2.resize(read_image(image), (FRAME_W, FRAME_H), interpolation=cv2.INTER_LINEAR)


def _environment() -> dict[str, str]:
    import onnxruntime

    env = {
        "cpu": platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "onnxruntime": onnxruntime.__version__,
    }
    with contextlib.suppress(OSError):
        env["load avg (1 min) at start"] = f"{os.getloadavg()[0]:.2f}"
    return env


def _time_calls(fn: Callable[[], object], batch: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / batch


def run_detector_bench(config: BenchConfig, progress: Callable[[str], None] = lambda _: None) -> BenchReport:
    from detector.model import Detector

    started = time.perf_counter()
    environment = _environment()
    frame = bench_frame(config.image)
    models: dict[int, Path] = {}
    for size in config.sizes:
        if config.model is not None:
            models[size] = config.model
        else:
            from training.export_coco import export_coco_onnx  # needs the train extra (ultralytics)

            progress(f"exporting/caching ONNX at {size}")
            models[size] = export_coco_onnx(size, weights=config.weights)

    gflops_640 = config.gflops
    reference_cls = None
    weights = config.weights
    if config.ultralytics:
        from training.reference_predict import ReferencePredictor
        from training.ultralytics_env import coco_weights

        reference_cls = ReferencePredictor
        weights = weights or coco_weights()
        if gflops_640 is None:
            gflops_640 = ReferencePredictor(weights, imgsz=640).gflops()

    rows: list[Row] = []
    for size in config.sizes:
        gflops = gflops_640 * (size / 640) ** 2 if gflops_640 else None
        for threads in config.threads:
            detector = Detector(
                models[size],
                spin=config.spin,
                conf=config.conf,
                iou=config.iou,
                threads=threads,
                imgsz=size if config.model is not None else None,
            )
            reference = (
                reference_cls(weights, imgsz=size, conf=config.conf, iou=config.iou, threads=threads)
                if reference_cls
                else None
            )
            for batch in config.batches:
                progress(f"input {size}, batch {batch}, threads {threads}")
                frames = [frame] * batch
                tensor, _ = detector.preprocess(frames)
                feed = {detector.input_name: tensor}

                def ours(frames=frames, detector=detector):
                    return detector.detect_batch(frames)

                def session(feed=feed, detector=detector):
                    return detector.session.run(None, feed)

                pipelines: dict[str, Callable[[], object]] = {"a": ours, "b": session}
                if reference is not None:
                    pipelines["c"] = lambda f=frames, ref=reference: ref.predict(f)
                for _ in range(config.warmup):
                    for fn in pipelines.values():
                        fn()
                times: dict[str, list[float]] = {name: [] for name in pipelines}
                names = list(pipelines)
                for i in range(config.repeats):  # interleaved, rotating order: load noise hits all alike
                    for k in range(len(names)):
                        name = names[(i + k) % len(names)]
                        times[name].append(_time_calls(pipelines[name], batch))
                a, b = times["a"], times["b"]
                c = Stats.of(times["c"]) if "c" in times else None
                rows.append(Row(size, batch, threads, Stats.of(a), Stats.of(b), c, gflops))
    with contextlib.suppress(OSError):
        environment["load avg (1 min) at end"] = f"{os.getloadavg()[0]:.2f}"
    return BenchReport(
        rows=rows, config=config, environment=environment, seconds=time.perf_counter() - started
    )
