#!/usr/bin/env bash
# The whole real-mitosis workflow, reproducibly:
#   1. mosaics of the AtNorM-MD crops (tune/test split by file-name hash),
#   2. candidate tables of the tune mosaics with both stain settings, and of the hard
#      negatives (CMU-1),
#   3. synthetic training and validation slides (make_synthetic_tables.sh) and the
#      two-stage score model (src/detect/model.rs, train_two_stage.py) trained on them and
#      the tune split only,
#   4. the benchmark on the held-out test split through the development harness, and
#      through the product when `target/release/mitocount count` exists (BIN=...).
#
# Usage: scripts/real_mitoses/run_all.sh [--train]      (without --train: steps 1 and 4)
# Outputs go to target/real_mitoses/ (about 100 MB of PNG).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=target/real_mitoses
harness=target/release/examples/detect_mosaics
python3 scripts/real_mitoses/make_mosaics.py --out "$root"
cargo build --release --example detect_mosaics
if [[ "${1:-}" == "--train" ]]; then
    for stains in auto default; do
        "$harness" --mpp 0.25 --stains "$stains" --out "$root/tune_$stains" "$root"/tune_??.png
    done
    scripts/real_mitoses/make_negatives.sh "$root/neg_auto"
    mkdir -p "$root/neg_default"
    "$harness" --mpp 0.499 --stains default --out "$root/neg_default" "$root/neg_auto/cmu1.png"
    syn=target/synthetic_tables
    scripts/real_mitoses/make_synthetic_tables.sh "$syn"
    train=() val=()
    for s in 101 102 103 104 105 106 $(seq 111 122); do train+=("$syn/s$s.truth.csv:$syn/cand/s$s.detections.csv"); done
    for s in 3001 3002 3003 3004 3005 3006; do val+=("$syn/v$s.truth.csv:$syn/cand/v$s.detections.csv:$syn/v$s.synth.json"); done
    python3 scripts/real_mitoses/train_two_stage.py --mosaics "$root" \
        --candidates "$root/tune_auto" "$root/tune_default" \
        --negatives "$root/neg_auto/cmu1.detections.csv" "$root/neg_default/cmu1.detections.csv" \
        --synthetic "${train[@]}" --validation "${val[@]}" --write src/detect/model.rs
    cargo build --release --example detect_mosaics
fi
for stains in auto default; do
    python3 scripts/real_mitoses/benchmark.py --mosaics "$root" --split test \
        --harness "$harness --stains $stains" --out "$root/test_$stains" \
        --markdown "$root/test_$stains.md" --json "$root/test_$stains.json"
done
if [[ -n "${BIN:-}" ]]; then
    python3 scripts/real_mitoses/benchmark.py --mosaics "$root" --split test --bin "$BIN" \
        --out "$root/test_bin" --markdown "$root/test_bin.md" --json "$root/test_bin.json"
fi
