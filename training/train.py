"""Fine-tune a YOLO checkpoint on a StreetWatch dataset with ultralytics, offline and resumable.

Ultralytics is imported only through `training.ultralytics_env.prepare_ultralytics()` so it never
tries a download. A run writes `<project>/<name>/` (weights/last.pt, weights/best.pt, results.csv,
args.yaml, plots) plus `streetwatch_train.json` with the options and the measured epoch times.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from detector.errors import ConfigError, InputError


class TrainOptions(BaseModel):
    """What `streetwatch train` passes to ultralytics."""

    data: Path = Field(description="Dataset YAML (ultralytics format: path, train, val, names).")
    weights: Path = Field(description="Starting checkpoint (.pt), e.g. ../shared/weights/yolo11n-coco.pt.")
    imgsz: int = Field(default=416, description="Training input size (square, multiple of 32).")
    epochs: int = Field(default=30, description="Number of epochs.")
    time_hours: float | None = Field(
        default=None,
        description="Wall-clock budget in hours: epochs are recomputed after the first one to fit it "
        "(ultralytics `time`); the LR schedule and close_mosaic follow the recomputed count.",
    )
    batch: int = Field(default=16, description="Images per batch.")
    freeze: int | None = Field(default=None, description="Freeze the first N layers (10 = backbone).")
    workers: int = Field(default=2, description="Dataloader worker processes.")
    project: Path = Field(default=Path("runs/train"), description="Folder that holds the run folders.")
    name: str = Field(default="streetwatch", description="Run folder name under `project`.")
    device: str = Field(default="auto", description="'auto' (GPU if present), 'cpu', '0', ...")
    cache: str | bool = Field(default="ram", description="Image cache: 'ram', 'disk' or False.")
    nbs: int = Field(
        default=64,
        description="Nominal batch size: gradients are accumulated to this many images per optimizer "
        "step; set it to `batch` for short CPU runs (more steps per epoch).",
    )
    warmup_epochs: float = Field(default=3.0, description="Learning-rate warm-up length in epochs.")
    close_mosaic: int = Field(default=3, description="Turn mosaic off for the last N epochs.")
    mosaic: float = Field(default=1.0, description="Mosaic augmentation probability.")
    patience: int = Field(default=100, description="Early-stop patience in epochs.")
    lr0: float | None = Field(default=None, description="Initial learning rate (None: default).")
    optimizer: str = Field(default="auto", description="Optimizer name as ultralytics knows it.")
    seed: int = Field(default=0, description="Random seed of the training run.")
    exist_ok: bool = Field(default=False, description="Reuse an existing run folder instead of name2, name3.")
    plots: bool = Field(default=True, description="Let ultralytics draw its plots.")
    val: bool = Field(default=True, description="Validate after every epoch (else only after the last).")
    extra: dict[str, Any] = Field(default_factory=dict, description="More ultralytics train arguments.")


def resolve_device(device: str = "auto") -> str:
    """'auto' -> '0' when a CUDA GPU is usable, else 'cpu'; anything else passes through."""
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def _check_inputs(opts: TrainOptions) -> None:
    if not opts.data.is_file():
        raise InputError(f"{opts.data}: dataset YAML not found")
    if not opts.weights.is_file():
        raise InputError(f"{opts.weights}: starting weights not found")
    if opts.imgsz % 32:
        raise ConfigError(f"imgsz {opts.imgsz}: must be a multiple of 32")
    if opts.epochs < 1:
        raise ConfigError(f"epochs {opts.epochs}: must be at least 1")


def last_checkpoint(project: Path, name: str) -> Path:
    """The `last.pt` of a run, to resume it."""
    return Path(project) / name / "weights" / "last.pt"


def _ultralytics_args(opts: TrainOptions, device: str) -> dict[str, Any]:
    args: dict[str, Any] = {
        "data": str(opts.data.resolve()),
        "imgsz": opts.imgsz,
        "epochs": opts.epochs,
        "batch": opts.batch,
        "workers": opts.workers,
        "project": str(Path(opts.project).resolve()),
        "name": opts.name,
        "device": device,
        "cache": opts.cache,
        "close_mosaic": opts.close_mosaic,
        "warmup_epochs": opts.warmup_epochs,
        "nbs": opts.nbs,
        "mosaic": opts.mosaic,
        "patience": opts.patience,
        "optimizer": opts.optimizer,
        "seed": opts.seed,
        "exist_ok": opts.exist_ok,
        "plots": opts.plots,
        "val": opts.val,
        "rect": False,
        "amp": device != "cpu",
        "verbose": True,
    }
    if opts.freeze:
        args["freeze"] = opts.freeze
    if opts.lr0 is not None:
        args["lr0"] = opts.lr0
    if opts.time_hours:
        args["time"] = opts.time_hours
    args.update(opts.extra)
    return args


class _EpochTimer:
    """Records wall time per epoch and per batch through ultralytics callbacks."""

    def __init__(self) -> None:
        self.epoch_seconds: list[float] = []
        self.batch_seconds: list[float] = []
        self._epoch_start = 0.0
        self._batch_start = 0.0

    def attach(self, model: Any) -> None:
        model.add_callback("on_train_epoch_start", self._on_epoch_start)
        model.add_callback("on_train_epoch_end", self._on_epoch_end)
        model.add_callback("on_train_batch_start", self._on_batch_start)
        model.add_callback("on_train_batch_end", self._on_batch_end)

    def _on_epoch_start(self, trainer: Any) -> None:
        self._epoch_start = time.perf_counter()

    def _on_epoch_end(self, trainer: Any) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)

    def _on_batch_start(self, trainer: Any) -> None:
        self._batch_start = time.perf_counter()

    def _on_batch_end(self, trainer: Any) -> None:
        self.batch_seconds.append(time.perf_counter() - self._batch_start)


def train(opts: TrainOptions, resume: bool = False) -> Path:
    """Run (or resume) a training; returns the run folder (holding weights/best.pt and last.pt)."""
    from training.ultralytics_env import prepare_ultralytics

    if resume:
        ckpt = last_checkpoint(opts.project, opts.name)
        if not ckpt.is_file():
            raise InputError(f"{ckpt}: no checkpoint to resume (start the run without --resume first)")
    else:
        _check_inputs(opts)
    prepare_ultralytics()
    from ultralytics import YOLO

    device = resolve_device(opts.device)
    timer = _EpochTimer()
    started = time.time()
    if resume:
        model = YOLO(str(ckpt))
        timer.attach(model)
        model.train(resume=True, device=device, workers=opts.workers)
    else:
        model = YOLO(str(opts.weights))
        timer.attach(model)
        model.train(**_ultralytics_args(opts, device))
    run_dir = Path(model.trainer.save_dir)
    record = {
        "options": json.loads(opts.model_dump_json()),
        "device": device,
        "resumed": resume,
        "started_unix": started,
        "finished_unix": time.time(),
        "epoch_seconds": timer.epoch_seconds,
        "train_images": _count_train_images(model.trainer),
    }
    log = run_dir / "streetwatch_train.json"
    history = json.loads(log.read_text()) if log.exists() else []
    history.append(record)
    log.write_text(json.dumps(history, indent=2))
    return run_dir


def _count_train_images(trainer: Any) -> int | None:
    try:
        return len(trainer.train_loader.dataset)
    except Exception:  # noqa: BLE001 - informational only
        return None


def measure_speed(
    data: Path,
    weights: Path,
    imgsz: int,
    freeze: int | None,
    batch: int = 16,
    workers: int = 2,
    project: Path = Path("runs/speed"),
) -> dict[str, Any]:
    """Train one short epoch and return seconds per image per epoch (first batch excluded)."""
    from training.ultralytics_env import prepare_ultralytics

    prepare_ultralytics()
    from ultralytics import YOLO

    model = YOLO(str(weights))
    timer = _EpochTimer()
    timer.attach(model)
    opts = TrainOptions(
        data=data, weights=weights, imgsz=imgsz, epochs=1, batch=batch, freeze=freeze, workers=workers,
        project=project, name=f"speed-{imgsz}-f{freeze or 0}", exist_ok=True, plots=False, val=False,
        cache="ram",
    )
    model.train(**_ultralytics_args(opts, resolve_device("auto")))
    steady = timer.batch_seconds[1:] or timer.batch_seconds
    per_batch = sorted(steady)[len(steady) // 2]
    return {
        "imgsz": imgsz,
        "freeze": freeze or 0,
        "batch": batch,
        "batches": len(timer.batch_seconds),
        "median_batch_s": per_batch,
        "s_per_image": per_batch / batch,
        "epoch_s": timer.epoch_seconds[0] if timer.epoch_seconds else None,
    }
