"""Write `models/MODEL_CARD.md` from an evaluation (metrics.json), the training record and the speed.

Usage (after training, export and `streetwatch evaluate ... --out models/eval-test --speed-runs 50`):

    python -m training.model_card --metrics models/eval-test/metrics.json \
        --run runs/train/default --model models/streetwatch-yolo11n.onnx --out models/MODEL_CARD.md
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import yaml

from training.report import confusion_table, metrics_table, size_table

DEFAULT_SYNTH_COMMANDS = [
    "streetwatch synth --out data/synth-default/train --images 3000 --seed 1",
    "streetwatch synth --out data/synth-default/val --images 400 --seed 2",
    "streetwatch synth --out data/synth-default/test --images 400 --seed 3",
]

RETRAIN_COMMANDS = """\
# 1. bring your labelled frames into one dataset (YOLO, COCO, Pascal VOC, CVAT XML 1.1, Label Studio)
streetwatch dataset import --help        # map your label names onto detector/taxonomy.yaml
# 2. find broken boxes, unknown classes, corrupt or duplicate images, frames without labels
streetwatch dataset check --help
# 3. split by group (video / route / day) so frames of one drive never land on both sides
streetwatch dataset split --help         # writes data.yaml
# 4. fine-tune, starting from this model's checkpoint or the COCO one
streetwatch train --data data.yaml --weights ../shared/weights/yolo11n-coco.pt \\
    --imgsz 416 --epochs 30 --freeze 10 --project runs/train --name city
# 5. export for the detector (ONNX with names, input size, version, data hash in its metadata)
streetwatch export --weights runs/train/city/weights/best.pt --out models/city-yolo11n.onnx \\
    --version city-1 --data data.yaml
# 6. evaluate with StreetWatch's own detector on the held-out split
streetwatch evaluate --model models/city-yolo11n.onnx --data data.yaml --split test --out runs/eval/city
# 7. serve it
STREETWATCH_MODEL=models/city-yolo11n.onnx streetwatch serve
"""


def _classes_table() -> str:
    from detector.taxonomy import load_taxonomy

    tax = load_taxonomy()
    lines = ["| id | class | 中文 | English | matter code | leads to a case |", "|---:|---|---|---|---|---|"]
    for c in sorted(tax.classes, key=lambda c: c.id):
        lines.append(
            f"| {c.id} | `{c.name}` | {c.zh} | {c.en} | {c.matter_code or '-'} | "
            f"{'yes' if c.violation else 'only through zone rules'} |"
        )
    return "\n".join(lines) + f"\n\nTaxonomy version {tax.version} (`detector/taxonomy.yaml`)."


def _training_section(run_dir: Path | None) -> str:
    if run_dir is None:
        return "(training record not given)"
    args = yaml.safe_load((run_dir / "args.yaml").read_text()) if (run_dir / "args.yaml").exists() else {}
    records = []
    rec_path = run_dir / "streetwatch_train.json"
    if rec_path.exists():
        records = json.loads(rec_path.read_text())
    epoch_s = [s for r in records for s in r.get("epoch_seconds", [])]
    keys = ("imgsz", "batch", "nbs", "freeze", "optimizer", "warmup_epochs", "mosaic", "close_mosaic",
            "cache", "workers", "device", "seed")
    results = run_dir / "results.csv"
    epochs_run = max(0, len(results.read_text().strip().splitlines()) - 1) if results.exists() else None
    lines = ["| argument | value |", "|---|---|"]
    if args.get("time"):
        lines.append(f"| time budget | {args['time']} h (epochs re-estimated to fit; {epochs_run} run) |")
    else:
        lines.append(f"| epochs | {args.get('epochs')} ({epochs_run} run) |")
    lines += [f"| {k} | {args.get(k)} |" for k in keys if k in args]
    if args.get("optimizer") == "auto":
        lines.append("| learning rate | ultralytics `auto`: AdamW, 0.002·5/(4+classes) for short runs |")
    elif "lr0" in args:
        lines.append(f"| lr0 | {args['lr0']} |")
    text = "\n".join(lines)
    if epoch_s:
        text += (
            f"\n\nMeasured epoch time on this machine (2 shared CPU cores): median "
            f"{sorted(epoch_s)[len(epoch_s) // 2] / 60:.1f} min over {len(epoch_s)} epochs "
            f"(total {sum(epoch_s) / 3600:.2f} h)."
        )
        imgs = next((r.get("train_images") for r in records if r.get("train_images")), None)
        if imgs:
            text += f" Training images: {imgs}."
    return text


def _size_section(metrics: dict[str, Any]) -> str:
    table = size_table(metrics)
    if not table:
        return ""
    return (
        "AP50 by object size (box area in 1280x720 pixels; instances in brackets). Small objects are "
        "far away: a bin 40 m ahead is under 32x32 px.\n\n" + table + "\n"
    )


def build_card(
    metrics: dict[str, Any],
    model_path: Path,
    run_dir: Path | None = None,
    synth_commands: list[str] | None = None,
    notes: str = "",
) -> str:
    meta = metrics.get("model_metadata", {})
    size_mb = model_path.stat().st_size / 1e6 if model_path.exists() else float("nan")
    h, w = metrics["imgsz"]
    per_class = {c["name"]: c["ap50"] for c in metrics["classes"]}
    missed = [n for n, v in per_class.items() if v is not None and v < 0.90]
    target = (
        "All classes reach the target AP50 >= 0.90 on the synthetic test split."
        if not missed
        else f"Below the AP50 >= 0.90 target on the synthetic test split: {', '.join(missed)}."
    )
    lat = metrics.get("latency")
    speed = (
        f"Median **{lat['median_ms']} ms** (p90 {lat['p90_ms']} ms) per {lat['frame_size']} frame on this "
        f"machine's CPU (AMD EPYC, {lat['threads']} onnxruntime threads, shared with other work), "
        f"`Detector.detect` end to end (letterbox + ONNX Runtime + NMS), {lat['runs']} runs."
        if lat
        else "(not measured)"
    )
    synth = "\n".join(synth_commands or DEFAULT_SYNTH_COMMANDS)
    return f"""# Model card: `{model_path.name}`

StreetWatch's bundled default detector: YOLO11n fine-tuned from the COCO checkpoint
(`../shared/weights/yolo11n-coco.pt`) on **synthetic** patrol-camera frames. License AGPL-3.0
(fine-tuned from Ultralytics weights).

> **It has never seen real footage.** Every training, validation and test frame was rendered by
> `streetwatch synth`. The numbers below say how well it separates the generator's objects, not how
> it will do on a city's cameras. It has not been tested on real patrol video, night footage,
> other camera mountings or other cities' street furniture. Before a city relies on it, label a few
> hundred of its own frames, evaluate this model on them (`streetwatch evaluate`), and retrain
> (commands below).

| | |
|---|---|
| file | `models/{model_path.name}` ({size_mb:.1f} MB) |
| model version | {meta.get('model_version', 'n/a')} |
| training date | {meta.get('training_date', 'n/a')} |
| input size | {w}x{h} (letterboxed), stride {meta.get('stride', 32)} |
| training data hash | `{meta.get('data_hash', 'n/a')}` |
| taxonomy version | {meta.get('taxonomy_version', 'n/a')} |
| runtime | ONNX Runtime (CPU), opset 17, dynamic batch; no torch needed |

## Classes and case codes

{_classes_table()}

## Training data

Rendered with the project's synthetic patrol-scene generator (1280x720, camera on a patrol vehicle
looking forward-right; roads, kerbs, shopfronts, tree pits, green belts; objects of every class at
many sizes, colours and occlusions; hard negatives such as full-but-not-overflowing bins, soil under
green dust nets, cars in marked bays, goods behind the door line, bags inside bins; randomised time of
day, shadows, rain/haze, motion blur, noise, JPEG artefacts, lens distortion). Three different seeds
keep the splits apart:

```
{synth}
```

## Training

{_training_section(run_dir)}

Reproduce everything (data, training, export, evaluation, this card) with
`scripts/train_default_model.sh`.

## Evaluation on the synthetic test split

{metrics['images']} frames (seed 3), evaluated with StreetWatch's own ONNX Runtime detector
(`streetwatch evaluate`): COCO AP (101-point, IoU 0.50:0.05:0.95) from detections at conf >= 0.001;
precision/recall at the operating threshold conf >= {metrics['operating_conf']} (IoU >= 0.5),
NMS IoU {metrics['nms_iou']}.

{metrics_table(metrics)}

{target}

{_size_section(metrics)}
Confusion matrix (rows: true class, columns: predicted; conf >= {metrics['operating_conf']}):

{confusion_table(metrics)}

PR curves and the full report: `models/eval-test/` (report.md, metrics.json, pr_curves.png,
confusion_matrix.png).

## Speed

{speed}

## How a city retrains it on its own labelled data

```
{RETRAIN_COMMANDS}```

See `docs/training.md` for the measured training times and the choices behind them.
{notes}"""


def write_model_card(
    metrics_path: Path, model_path: Path, out: Path, run_dir: Path | None = None, notes: str = ""
) -> Path:
    metrics = json.loads(Path(metrics_path).read_text())
    out.write_text(build_card(metrics, model_path, run_dir, notes=notes))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=Path("models/streetwatch-yolo11n.onnx"))
    parser.add_argument("--run", type=Path, default=None, help="training run folder")
    parser.add_argument("--out", type=Path, default=Path("models/MODEL_CARD.md"))
    parser.add_argument("--notes", type=str, default=os.environ.get("MODEL_CARD_NOTES", ""))
    args = parser.parse_args(argv)
    print(write_model_card(args.metrics, args.model, args.out, args.run, args.notes))


if __name__ == "__main__":
    main()
