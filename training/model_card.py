"""Write `models/MODEL_CARD.md` from an evaluation (metrics.json), the training record and the speed.

Usage (after training, export and `streetwatch evaluate --data REAL --synthetic-data SYNTH
--coco-agreement --speed-runs 50 --out models/eval`):

    python -m training.model_card --metrics models/eval/metrics.json \
        --run runs/train/mix-512 --model models/streetwatch-yolo11n.onnx --out models/MODEL_CARD.md
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import yaml

from training.report import agreement_table, metrics_table, real_first_table

DEFAULT_SYNTH_COMMANDS = [
    "streetwatch synth --out data/synth-default/train --images 1500 --seed 1",
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
STREETWATCH_MODEL_PATH=models/city-yolo11n.onnx streetwatch serve
"""


def _classes_table() -> str:
    from detector.pipeline_config import load_pipeline_config
    from detector.taxonomy import load_taxonomy

    tax, rules = load_taxonomy(), load_pipeline_config().classes
    lines = ["| id | class | 中文 | English | matter code | leads to a case |", "|---:|---|---|---|---|---|"]
    for c in sorted(tax.classes, key=lambda c: c.id):
        rule = rules.get(c.name)
        if c.violation:
            leads = "yes" if c.detected else "only from a zone rule (the model has no output for it)"
        elif rule is not None and rule.becomes:
            leads = f"as `{rule.becomes}`, through a zone rule"
        else:
            leads = "never (context)"
        lines.append(f"| {c.id} | `{c.name}` | {c.zh} | {c.en} | {c.matter_code or '-'} | {leads} |")
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


DATA_ATTRIBUTION = """\
- **Real photos: `real-garbage-cn`** (`../shared/data/real-garbage-cn/`, read at training time, never in
  this repository): 3,019 street photos, mostly Chinese streets and residential lanes, labelled `garbage`,
  `garbage_bin` and `overflow` (mapped to `exposed_garbage`, `waste_bin`, `overflowing_bin` by
  `datasets/examples/real-garbage-cn.yaml`). Source: Roboflow Universe project "公开数据集111" version 2
  (workspace project-shb1t), export of 2024-06-17, as committed to the public GitHub repository
  ATANU0023/garbage_detection_dataset (commit 1e9fc550). License **CC BY 4.0**; attribution as above.
  Caveats: many photos look web-collected (some carry news-site watermarks or captions), and the
  publisher's grant may not cover every underlying photo; the viewpoint is closer and more varied than a
  patrol vehicle's camera, so they teach what real garbage and bins look like, not the patrol geometry.
- **Teacher labels**: the people, vehicles and two-wheelers in those photos are labelled by the COCO
  checkpoint `yolo11n-coco.pt` (score >= 0.4; `streetwatch dataset distill`), so the model keeps seeing
  them. Ultralytics weights, AGPL-3.0.
- **Synthetic frames**: the project's generator (`streetwatch synth`, seeds 1 train / 2 val / 3 test), the
  only source for out-of-store vending, exposed soil and illegal parking until a city labels its own."""


def _agreement_lines(agreement: dict[str, Any] | None) -> str:
    if not agreement:
        return "(not measured)"
    return agreement_table(agreement)


def build_card(
    metrics: dict[str, Any],
    model_path: Path,
    run_dir: Path | None = None,
    synth_commands: list[str] | None = None,
    notes: str = "",
) -> str:
    """The card from `streetwatch evaluate --synthetic-data ... --coco-agreement` metrics.json
    ({real, synthetic, coco_agreement}): the real-image table first."""
    real, synthetic = metrics["real"], metrics.get("synthetic")
    agreement = metrics.get("coco_agreement")
    meta = real.get("model_metadata", {})
    size_mb = model_path.stat().st_size / 1e6 if model_path.exists() else float("nan")
    h, w = real["imgsz"]
    unmeasured = [c["name"] for c in real["classes"] if not c["instances"]]
    lat = real.get("latency")
    speed = (
        f"Median **{lat['median_ms']} ms** (p90 {lat['p90_ms']} ms) per {lat['frame_size']} frame on this "
        f"machine's CPU ({lat['threads']} onnxruntime threads, shared with other work), "
        f"`Detector.detect` end to end (letterbox + ONNX Runtime + NMS), {lat['runs']} runs."
        if lat
        else "(not measured)"
    )
    hard = "".join(
        f"- `{pair.split('->')[0]}` boxes also called `{pair.split('->')[1]}` (real test split): "
        f"{row['called']} of {row['objects']} = **{row['rate']}**\n"
        for pair, row in (real.get("hard_negatives") or {}).items()
    )
    synth = "\n".join(synth_commands or DEFAULT_SYNTH_COMMANDS)
    synthetic_section = ""
    if synthetic is not None:
        synthetic_section = f"""## Synthetic test split

{synthetic['images']} generated frames. These figures say how well the model fits the generator, not how it
works on a city's streets; for out-of-store vending, exposed soil and illegal parking they are the only
figures there are.

{metrics_table(synthetic)}
"""
    return f"""# Model card: `{model_path.name}`

StreetWatch's bundled default detector: YOLO11n, fine-tuned on **real street photos** of garbage and bins
and on synthetic patrol frames, with the COCO checkpoint's people, vehicles and two-wheelers kept by
teacher labels. License AGPL-3.0 (fine-tuned from Ultralytics weights); training data licenses below.

## Real images first

{real['images']} real photos of the held-out test split (`{real['data']}`), never used for training or
for choosing settings. StreetWatch's own ONNX Runtime detector (`streetwatch evaluate`), input {w}x{h};
AP by the COCO method; precision (P) and recall (R) at conf >= {real['operating_conf']}, IoU >= 0.5.

{real_first_table(real, synthetic)}

Not measured on real images (no real test data): {', '.join(f'`{n}`' for n in unmeasured) or 'none'}.
Their only figures are the synthetic ones.

{hard}
COCO agreement on the real test photos (the share of the COCO checkpoint's boxes, score >= 0.5, that this
model finds with the matching class, IoU >= 0.5, conf >= {real['operating_conf']}):

{_agreement_lines(agreement)}

The full reports: `models/eval/report.md` (real and synthetic side by side, confusion matrices, PR curves).

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

## Training data and licenses

{DATA_ATTRIBUTION}

Synthetic splits:

```
{synth}
```

## Training

{_training_section(run_dir)}

Reproduce everything (data, training, export, evaluation, this card) with
`scripts/train_default_model.sh`.

{synthetic_section}
## Speed

{speed}

## How a city retrains it on its own labelled data

```
{RETRAIN_COMMANDS}```
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
