"""Prepare ultralytics to run offline on these machines; import ultralytics only through here.

- `YOLO_OFFLINE=1` and a project-local `YOLO_CONFIG_DIR` (ultralytics otherwise tries downloads).
- The fonts ultralytics' dataset check and plots want (`Arial.ttf`, `Arial.Unicode.ttf`) are
  copied from matplotlib's bundled DejaVuSans, else it attempts a download.
- `torchvision::nms` is made available before torchvision is imported (see torch_compat).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from training.torch_compat import ensure_torchvision_ops

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The read-only `shared/` folder beside the repository (env STREETWATCH_SHARED overrides)."""
    return Path(os.environ.get("STREETWATCH_SHARED", REPO_ROOT.parent / "shared"))


def coco_weights(name: str = "yolo11n-coco.pt") -> Path:
    """Path of a COCO-pretrained checkpoint in shared/weights (never copied into the repo)."""
    return shared_dir() / "weights" / name


def prepare_ultralytics(config_dir: str | Path | None = None):
    """Set the offline environment, fonts and torchvision ops, then import and return `ultralytics`."""
    cfg = Path(config_dir or os.environ.get("YOLO_CONFIG_DIR") or REPO_ROOT / ".cache" / "ultralytics")
    cfg.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not (cfg / name).exists() and font.exists():
            shutil.copyfile(font, cfg / name)
    ensure_torchvision_ops()
    import ultralytics
    import ultralytics.utils.torch_utils as torch_utils

    # select_device() sets torch to NUM_THREADS = min(8, cores - 1) threads on CPU: ONE thread on a
    # 2-core machine, half of it idle while training. Use every core (1.6x faster epochs measured here).
    torch_utils.NUM_THREADS = max(1, min(8, os.cpu_count() or 1))
    return ultralytics
