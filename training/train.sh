#!/usr/bin/env bash
# Re-creates the embedded mitosis classifier from ../shared/data, on this CPU machine:
#   1. a Python venv with the pinned requirements (training/.venv; PyTorch from PyPI),
#   2. the candidate-stage harness and the slide exporter (cargo, release),
#   3. training/prepare.py: splits, mosaics, candidates, patches (target/training/),
#   4. training/train.py twice: the second network of the ensemble (--arch deep, into
#      target/training/second.safetensors), then the main network (hard-negative round,
#      tune-split threshold) -> models/mitosis-cnn.safetensors and
#      tests/data/model/reference.*; then training/screen.py: the cascade's screen, the
#      second network and the thresholds, added to that file,
#   5. cargo build, then training/evaluate.py: the product on the held-out data,
#   6. training/shortcut_check.py (seams, patches centred on nothing), then
#      training/model_card.py: models/README.md.
# Usage: training/train.sh [--data DIR]   (default ../shared/data; about 60-75 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${2:-../shared/data}"
[[ "${1:-}" == "--data" ]] || data=../shared/data
[[ -d "$data/mitoses" ]] || { echo "train.sh: $data/mitoses not found; pass --data DIR" >&2; exit 1; }
venv=training/.venv
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r training/requirements.txt
fi
py="$venv/bin/python"
cargo build --release --example detect_mosaics --example slide_png
"$py" training/prepare.py --data "$data" --out target/training
"$py" training/train.py --data target/training --arch deep --record second \
    --model target/training/second.safetensors --reference target/training/second-reference
"$py" training/train.py --data target/training --model models/mitosis-cnn.safetensors
"$py" training/screen.py --data target/training --model models/mitosis-cnn.safetensors \
    --second target/training/second.safetensors
cargo build --release
"$py" training/evaluate.py --bin target/release/mitocount --data target/training --shared "$data"
"$py" training/shortcut_check.py --data target/training --model models/mitosis-cnn.safetensors
"$py" training/model_card.py --data target/training --model models/mitosis-cnn.safetensors --out models/README.md
