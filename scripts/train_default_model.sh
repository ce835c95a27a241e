#!/usr/bin/env bash
# Reproduce the bundled default model models/streetwatch-yolo11n.onnx from scratch:
# synthetic data (three seeds = three disjoint splits) -> train -> export -> evaluate -> model card.
# CPU-only takes hours on 2 cores; a GPU is used automatically when present.
# Tunables (env): DATA_DIR IMGSZ EPOCHS TIME_HOURS STAGE2_IMGSZ STAGE2_EPOCHS STAGE2_TIME_HOURS FREEZE
#                 STAGE3_EPOCHS STAGE3_TIME_HOURS STAGE4_IMGSZ STAGE4_EPOCHS STAGE5_EPOCHS BATCH NAME VERSION
#                 TRAIN_IMAGES VAL_IMAGES TEST_IMAGES VAL_EVERY_EPOCH_IMAGES
# TIME_HOURS set: ultralytics time mode (epochs re-estimated after the first to fit the budget).
# Steps can be skipped: SKIP_SYNTH=1 (data already there), SKIP_TRAIN=1 (run folder already trained).
set -euo pipefail
cd "$(dirname "$0")/.."

export YOLO_OFFLINE=1
export YOLO_CONFIG_DIR="${YOLO_CONFIG_DIR:-$PWD/.cache/ultralytics}"
SW="${SW:-.venv/bin/streetwatch}"
PY="${PY:-.venv/bin/python}"
SHARED="${STREETWATCH_SHARED:-$PWD/../shared}"

DATA_DIR="${DATA_DIR:-data/synth-default}"
TRAIN_IMAGES="${TRAIN_IMAGES:-3000}"
VAL_IMAGES="${VAL_IMAGES:-400}"
TEST_IMAGES="${TEST_IMAGES:-400}"
IMGSZ="${IMGSZ:-320}"
EPOCHS="${EPOCHS:-5}"
STAGE2_IMGSZ="${STAGE2_IMGSZ-416}"   # empty: one stage only
STAGE2_EPOCHS="${STAGE2_EPOCHS:-4}"
STAGE2_TIME_HOURS="${STAGE2_TIME_HOURS:-}"
STAGE3_EPOCHS="${STAGE3_EPOCHS:-12}"       # 0: no stage 3
STAGE3_TIME_HOURS="${STAGE3_TIME_HOURS:-}"
STAGE4_IMGSZ="${STAGE4_IMGSZ-512}"         # empty: no stage 4
STAGE4_EPOCHS="${STAGE4_EPOCHS:-16}"
STAGE5_EPOCHS="${STAGE5_EPOCHS:-12}"         # 0: no stage 5 (1.3.0: --time 1.6, stopped in the 12th)
TIME_HOURS="${TIME_HOURS:-}"
VAL_EVERY_EPOCH_IMAGES="${VAL_EVERY_EPOCH_IMAGES:-200}"  # per-epoch validation on a subset (CPU time)
FREEZE="${FREEZE:-10}"
BATCH="${BATCH:-16}"
NAME="${NAME:-default}"
VERSION="${VERSION:-1.3.0}"
MODEL="${MODEL:-models/streetwatch-yolo11n.onnx}"

if [[ -z "${SKIP_SYNTH:-}" ]]; then
  # three seeds: frames of one split can never appear in another
  "$SW" synth --out "$DATA_DIR/train" --images "$TRAIN_IMAGES" --seed 1 --workers 2 --quiet &
  "$SW" synth --out "$DATA_DIR/val" --images "$VAL_IMAGES" --seed 2 --quiet
  "$SW" synth --out "$DATA_DIR/test" --images "$TEST_IMAGES" --seed 3 --quiet
  wait
fi

"$PY" - "$DATA_DIR" "$VAL_EVERY_EPOCH_IMAGES" <<'PYEOF'
import sys
from pathlib import Path

from datasets.taxonomy import load_taxonomy

root, n_val = Path(sys.argv[1]).resolve(), int(sys.argv[2])
val = sorted((root / "val" / "images").iterdir())[:n_val]
(root / "val-subset.txt").write_text("".join(f"{p}\n" for p in val))
names = "".join(f"  {i}: {n}\n" for i, n in enumerate(load_taxonomy().names))
(root / "data.yaml").write_text(
    f"path: {root}\ntrain: train/images\nval: val-subset.txt\ntest: test/images\nnames:\n{names}"
)
print(root / "data.yaml")
PYEOF

if [[ -z "${SKIP_TRAIN:-}" ]]; then
  # stage 1: small input, many images per CPU second
  "$SW" train --data "$DATA_DIR/data.yaml" --weights "$SHARED/weights/yolo11n-coco.pt" \
    --imgsz "$IMGSZ" --epochs "$EPOCHS" ${TIME_HOURS:+--time "$TIME_HOURS"} --freeze "$FREEZE" \
    --batch "$BATCH" --nbs "$BATCH" --workers 2 --warmup-epochs 0.5 --close-mosaic 2 \
    --project runs/train --name "$NAME" --exist-ok
  if [[ -n "$STAGE2_IMGSZ" ]]; then
    # stage 2: continue at a larger input (small, distant objects need the pixels)
    "$SW" train --data "$DATA_DIR/data.yaml" --weights "runs/train/$NAME/weights/last.pt" \
      --imgsz "$STAGE2_IMGSZ" --epochs "$STAGE2_EPOCHS" ${STAGE2_TIME_HOURS:+--time "$STAGE2_TIME_HOURS"} \
      --freeze "$FREEZE" --batch "$BATCH" --nbs "$BATCH" --workers 2 --warmup-epochs 0 --close-mosaic 2 \
      --project runs/train --name "$NAME-$STAGE2_IMGSZ" --exist-ok
  fi
fi
FINAL_RUN="runs/train/$NAME"
FINAL_IMGSZ="$IMGSZ"
if [[ -n "$STAGE2_IMGSZ" ]]; then
  FINAL_RUN="runs/train/$NAME-$STAGE2_IMGSZ"
  FINAL_IMGSZ="$STAGE2_IMGSZ"
fi
# Stages 3-5 train the whole network: SGD (see stage 3), no warm-up, mosaic off in the last 2 epochs.
train_unfrozen() {  # WEIGHTS IMGSZ LR0 NAME, then extra `streetwatch train` options (--epochs, --time)
  local weights=$1 imgsz=$2 lr0=$3 name=$4
  shift 4
  "$SW" train --data "$DATA_DIR/data.yaml" --weights "$weights" --imgsz "$imgsz" "$@" \
    --batch "$BATCH" --nbs "$BATCH" --workers 2 --warmup-epochs 0 --close-mosaic 2 \
    --optimizer SGD --lr0 "$lr0" --project runs/train --name "$name" --exist-ok
}
if [[ "$STAGE3_EPOCHS" != 0 ]]; then
  # stage 3: unfreeze the backbone and continue at the final input size; the frozen stages get the
  # head to a usable point cheaply, the whole network then adapts to the rendered domain. SGD, no
  # warm-up: AdamW (ultralytics' `auto` here) moved the unfrozen backbone away from the trained head
  # (validation mAP50 0.50 -> 0.12 after one epoch; 0.07 with warm-up), see docs/training.md.
  if [[ -z "${SKIP_TRAIN:-}" ]]; then
    train_unfrozen "$FINAL_RUN/weights/last.pt" "$FINAL_IMGSZ" 0.005 "$NAME-unfrozen" \
      --epochs "$STAGE3_EPOCHS" ${STAGE3_TIME_HOURS:+--time "$STAGE3_TIME_HOURS"}
  fi
  FINAL_RUN="runs/train/$NAME-unfrozen"
fi
if [[ -n "$STAGE4_IMGSZ" ]]; then
  # stage 4: the whole network again at a larger input: a quarter of the test objects are under
  # 32x32 px in the 1280x720 frame (about 10x10 px at 416), where stage 3's model found almost none
  # (AP50 0.01-0.05 on small objects, 0.87-0.92 on large ones; docs/training.md).
  if [[ -z "${SKIP_TRAIN:-}" ]]; then
    train_unfrozen "$FINAL_RUN/weights/best.pt" "$STAGE4_IMGSZ" 0.005 "$NAME-$STAGE4_IMGSZ-unfrozen" \
      --epochs "$STAGE4_EPOCHS"
  fi
  FINAL_RUN="runs/train/$NAME-$STAGE4_IMGSZ-unfrozen"
  FINAL_IMGSZ="$STAGE4_IMGSZ"
fi
if [[ "$STAGE5_EPOCHS" != 0 && -n "$STAGE4_IMGSZ" ]]; then
  # stage 5 (session 6, model 1.3.0): stage 4's best again at the same input, a fresh linear decay
  # from a lower learning rate (validation was still rising ~0.005 mAP50 per epoch at stage 4's end).
  if [[ -z "${SKIP_TRAIN:-}" ]]; then
    train_unfrozen "$FINAL_RUN/weights/best.pt" "$STAGE4_IMGSZ" 0.003 "$NAME-$STAGE4_IMGSZ-stage5" \
      --epochs "$STAGE5_EPOCHS"
  fi
  FINAL_RUN="runs/train/$NAME-$STAGE4_IMGSZ-stage5"
fi

"$SW" export --weights "$FINAL_RUN/weights/best.pt" --out "$MODEL" --imgsz "$FINAL_IMGSZ" \
  --version "$VERSION" --data "$DATA_DIR/data.yaml"
"$SW" evaluate --model "$MODEL" --data "$DATA_DIR/data.yaml" --split test --out models/eval-test \
  --threads 2 --speed-runs 50
"$PY" -m training.model_card --metrics models/eval-test/metrics.json --model "$MODEL" \
  --run "$FINAL_RUN" --out models/MODEL_CARD.md --notes "$(cat models/model_card_notes.md 2>/dev/null || true)"
