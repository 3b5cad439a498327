#!/usr/bin/env bash
# Synthetic slides for stage B of the mitosis model (train_two_stage.py): training slides
# with dense mitoses and mimics, and held-out validation slides, each with the
# development harness's candidate table. Seeds differ from every seed used to report
# results (docs/real-mitoses.md uses 5001-5018).
#
# Usage: scripts/real_mitoses/make_synthetic_tables.sh [OUT]   (default target/synthetic_tables)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/synthetic_tables}
bin=target/release/mitocount
harness=target/release/examples/detect_mosaics
cargo build --release --bin mitocount --example detect_mosaics
mkdir -p "$out"
synth() { # name, extra flags...
    local name=$1; shift
    [[ -f "$out/$name.png" ]] && return
    "$bin" -q synth --out "$out/$name.tiff" "$@" > /dev/null
    python3 -c "import sys, tifffile; from PIL import Image; Image.fromarray(tifffile.imread(sys.argv[1], key=0)).save(sys.argv[2], compress_level=1)" \
        "$out/$name.tiff" "$out/$name.png"
}
for s in 101 102 103 104 105 106; do
    stain=default; (( s % 2 == 0 )) && stain=perturbed
    synth "s$s" --width 6144 --height 6144 --seed "$s" --mitoses-per-mm2 30 --stain "$stain"
done
for s in $(seq 111 122); do
    case $(( s % 3 )) in 0) stain=default;; 1) stain=perturbed;; 2) stain=ruifrok;; esac
    synth "s$s" --width 6144 --height 6144 --seed "$s" --mitoses-per-mm2 25 \
        --lymphocytes-per-mm2 300 --pyknotic-per-mm2 30 --hyperchromatic-per-mm2 40 --stain "$stain"
done
for s in 3001 3002 3003 3004 3005 3006; do
    stain=default; (( s >= 3004 )) && stain=perturbed
    synth "v$s" --width 8192 --height 8192 --seed "$s" --mitoses-per-mm2 12 --stain "$stain"
done
"$harness" --mpp 0.25 --stains auto --out "$out/cand" "$out"/*.png
