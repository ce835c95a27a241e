#!/usr/bin/env bash
# Reproduce the bundled crop verifier models/streetwatch-verifier.onnx (detector.verifier):
# real photos (the train and val splits of real-garbage-cn that scripts/train_default_model.sh prepares
# under data/, never its test split) and synthetic stills (seed 1 train, seed 2 val) -> crops of
# labelled objects and of the bundled detector's proposals -> YOLO11n classify, its backbone started
# from the detector's -> ONNX. Then its effect on the real test split (streetwatch verifier-effect).
# Tunables (env): DATA_DIR TRAIN_IMAGES VAL_IMAGES EPOCHS SIZE CONTEXT OUT VERSION. SKIP_SYNTH=1: stills there.
set -euo pipefail
cd "$(dirname "$0")/.."

SW="${SW:-.venv/bin/streetwatch}"
PY="${PY:-.venv/bin/python}"
DATA_DIR="${DATA_DIR:-data/synth-default}"
TRAIN_IMAGES="${TRAIN_IMAGES:-1500}"
VAL_IMAGES="${VAL_IMAGES:-400}"
EPOCHS="${EPOCHS:-3}"
SIZE="${SIZE:-96}"
CONTEXT="${CONTEXT:-0.3}"
OUT="${OUT:-models/streetwatch-verifier.onnx}"
VERSION="${VERSION:-2.0.0}"
REAL="${REAL:-data/verifier-real}"

if [ -z "${SKIP_SYNTH:-}" ]; then
  "$SW" synth --out "$DATA_DIR/train" --images "$TRAIN_IMAGES" --seed 1 --workers 2 --quiet
  "$SW" synth --out "$DATA_DIR/val" --images "$VAL_IMAGES" --seed 2 --workers 2 --quiet
fi
# the real splits as folders (links into the distilled dataset): train/ and val/ with images/ + labels/
"$PY" - "$REAL" <<'PYEOF'
import os
import sys
from pathlib import Path

root = Path(sys.argv[1])
for split in ("train", "val"):
    for sub in ("images", "labels"):
        (root / split / sub).mkdir(parents=True, exist_ok=True)
    for line in Path(f"data/real-split/{split}.txt").read_text().split():
        image = Path(line)
        for src, dst in ((image, root / split / "images" / image.name),
                         (Path("data/real-distilled/labels") / f"{image.stem}.txt",
                          root / split / "labels" / f"{image.stem}.txt")):
            if not dst.exists():
                os.symlink(src.resolve(), dst)
PYEOF
CROPS="data/verifier-crops"
rm -rf "$CROPS"
"$SW" dataset verifier-crops --source "$REAL/train" --source "$REAL/val" --source "$DATA_DIR/train" \
  --source "$DATA_DIR/val" --out "$CROPS" --size "$SIZE" --context "$CONTEXT"
"$SW" train-verifier --data "$CROPS" --out "$OUT" --imgsz "$SIZE" --context "$CONTEXT" \
  --epochs "$EPOCHS" --version "$VERSION"
"$SW" verifier-effect --model models/streetwatch-yolo11n.onnx --verifier "$OUT" \
  --data data/real-split/data.yaml --split test --out models/verifier-effect-real-test.json
