#!/usr/bin/env bash
# Reproduce the bundled default model models/streetwatch-yolo11n.onnx (2.x): real photos + synthetic
# frames, the COCO checkpoint's person/vehicle/two-wheeler boxes as teacher labels, fine-tuned from the
# 1.3.0 checkpoint (synthetic-only; taken from git history) with its class head widened to the taxonomy.
#
#   real:   ../shared/data/real-garbage-cn -> dataset import (mapping) -> dataset distill -> dataset split
#   synth:  streetwatch synth (seed 1 train, 2 val, 3 test: three seeds, disjoint)
#   train:  head surgery (6 -> 9 classes, old rows kept) -> streetwatch train on the mix -> export
#   report: streetwatch evaluate on the real test split and the synthetic test split -> model card
#
# CPU-only: about 1.5 hours on 2 cores; a GPU is used automatically when present.
# Tunables (env): IMGSZ EPOCHS TIME_HOURS FREEZE BATCH SYNTH_TRAIN VERSION NAME BASE_COMMIT
# Steps can be skipped: SKIP_DATA=1 (data/ already prepared), SKIP_TRAIN=1 (run folder already trained).
set -euo pipefail
cd "$(dirname "$0")/.."

export YOLO_OFFLINE=1
export YOLO_CONFIG_DIR="${YOLO_CONFIG_DIR:-$PWD/.cache/ultralytics}"
SW="${SW:-.venv/bin/streetwatch}"
PY="${PY:-.venv/bin/python}"
SHARED="${STREETWATCH_SHARED:-$PWD/../shared}"

IMGSZ="${IMGSZ:-512}"
EPOCHS="${EPOCHS:-8}"
TIME_HOURS="${TIME_HOURS-1.35}"   # ultralytics time mode: epochs re-estimated to fit (9 on 2 cores); empty: EPOCHS
FREEZE="${FREEZE:-10}"             # the backbone: the neck and head learn the real photos and new classes
BATCH="${BATCH:-16}"
SYNTH_TRAIN="${SYNTH_TRAIN:-1500}" # synthetic frames in the mix (vending, soil, parking exist only there)
VERSION="${VERSION:-2.0.0}"
NAME="${NAME:-mix-$IMGSZ}"
BASE_COMMIT="${BASE_COMMIT:-75f1461}"  # the last commit with model 1.3.0's checkpoint
MODEL="${MODEL:-models/streetwatch-yolo11n.onnx}"

if [[ -z "${SKIP_DATA:-}" ]]; then
  rm -rf data/real-garbage-cn data/real-distilled data/real-split
  "$SW" dataset import "$SHARED/data/real-garbage-cn" --format yolo \
    --mapping datasets/examples/real-garbage-cn.yaml --out data/real-garbage-cn --link
  "$SW" dataset distill data/real-garbage-cn --out data/real-distilled --conf 0.4
  "$SW" dataset split data/real-distilled --out data/real-split --val 0.1 --test 0.12 --seed 0
  "$SW" synth --out data/synth-default/train --images "$SYNTH_TRAIN" --seed 1 --workers 2 --quiet
  "$SW" synth --out data/synth-default/val --images 400 --seed 2 --workers 2 --quiet
  "$SW" synth --out data/synth-default/test --images 400 --seed 3 --workers 2 --quiet
fi

# the mix: real train + synthetic train; validation = real val + 200 synthetic val frames
"$PY" - <<'PYEOF'
from pathlib import Path

from detector.taxonomy import load_taxonomy

data = Path("data").resolve()
synth = data / "synth-default"
lists = data / "mix"
lists.mkdir(exist_ok=True)
(lists / "synth-train.txt").write_text("".join(f"{p}\n" for p in sorted((synth / "train/images").iterdir())))
(lists / "synth-val.txt").write_text("".join(f"{p}\n" for p in sorted((synth / "val/images").iterdir())[:200]))
(lists / "synth-test.txt").write_text("".join(f"{p}\n" for p in sorted((synth / "test/images").iterdir())))
names = "".join(f"  {i}: {n}\n" for i, n in enumerate(load_taxonomy().model_names))
real = data / "real-split"
(lists / "data.yaml").write_text(
    f"train:\n  - {real / 'train.txt'}\n  - {lists / 'synth-train.txt'}\n"
    f"val:\n  - {real / 'val.txt'}\n  - {lists / 'synth-val.txt'}\n"
    f"test: {real / 'test.txt'}\nnames:\n{names}"
)
(lists / "synth-test.yaml").write_text(f"test: {lists / 'synth-test.txt'}\nval: {lists / 'synth-val.txt'}\nnames:\n{names}")
print(lists / "data.yaml")
PYEOF

if [[ -z "${SKIP_TRAIN:-}" ]]; then
  mkdir -p runs/base
  git show "$BASE_COMMIT:models/streetwatch-yolo11n.pt" > runs/base/streetwatch-1.3.0.pt
  "$PY" -m training.head_surgery --weights runs/base/streetwatch-1.3.0.pt --out runs/base/streetwatch-1.3.0-widened.pt
  "$SW" train --data data/mix/data.yaml --weights runs/base/streetwatch-1.3.0-widened.pt \
    --imgsz "$IMGSZ" --epochs "$EPOCHS" ${TIME_HOURS:+--time "$TIME_HOURS"} --freeze "$FREEZE" \
    --batch "$BATCH" --nbs "$BATCH" --workers 2 --warmup-epochs 0.5 --close-mosaic 2 \
    --project runs/train --name "$NAME" --exist-ok
fi

"$SW" export --weights "runs/train/$NAME/weights/best.pt" --out "$MODEL" --imgsz "$IMGSZ" \
  --version "$VERSION" --data data/mix/data.yaml
# real test split first, the synthetic test split beside it, agreement with the COCO checkpoint
"$SW" evaluate --model "$MODEL" --data data/real-split/data.yaml --split test \
  --synthetic-data data/mix/synth-test.yaml --coco-agreement --out models/eval --threads 2 --speed-runs 50
"$PY" -m training.model_card --metrics models/eval/metrics.json --model "$MODEL" \
  --run "runs/train/$NAME" --out models/MODEL_CARD.md --notes "$(cat models/model_card_notes.md 2>/dev/null || true)"
