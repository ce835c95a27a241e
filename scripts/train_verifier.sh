#!/usr/bin/env bash
# Reproduce the bundled crop verifier models/streetwatch-verifier.onnx (detector.verifier):
# synthetic stills (seed 1 train, seed 2 val: the detector's own training and validation seeds, never
# the drive-by benchmark seeds) -> crops of labelled objects and of the bundled detector's proposals
# -> YOLO11n classify, its backbone started from the detector's -> ONNX.
# Tunables (env): DATA_DIR TRAIN_IMAGES VAL_IMAGES EPOCHS SIZE CONTEXT OUT VERSION. SKIP_SYNTH=1: stills there.
set -euo pipefail
cd "$(dirname "$0")/.."

SW="${SW:-.venv/bin/streetwatch}"
DATA_DIR="${DATA_DIR:-data/verifier-src}"
TRAIN_IMAGES="${TRAIN_IMAGES:-3000}"
VAL_IMAGES="${VAL_IMAGES:-400}"
EPOCHS="${EPOCHS:-10}"
SIZE="${SIZE:-96}"
CONTEXT="${CONTEXT:-0.3}"
OUT="${OUT:-models/streetwatch-verifier.onnx}"
VERSION="${VERSION:-1.0.0}"

if [ -z "${SKIP_SYNTH:-}" ]; then
  "$SW" synth --out "$DATA_DIR/train" --images "$TRAIN_IMAGES" --seed 1 --workers 2 --quiet
  "$SW" synth --out "$DATA_DIR/val" --images "$VAL_IMAGES" --seed 2 --workers 2 --quiet
fi
rm -rf "$DATA_DIR-crops"
"$SW" dataset verifier-crops --source "$DATA_DIR/train" --source "$DATA_DIR/val" --out "$DATA_DIR-crops" \
  --size "$SIZE" --context "$CONTEXT"
"$SW" train-verifier --data "$DATA_DIR-crops" --out "$OUT" --imgsz "$SIZE" --context "$CONTEXT" \
  --epochs "$EPOCHS" --version "$VERSION"
