#!/usr/bin/env bash
# Hard negatives for scripts/real_mitoses/train_model.py: the candidate table of a real H&E
# image with (almost) no mitoses, every candidate of which is used as a negative.
#
# CMU-1-Small-Region.svs (sample_tiles/, OpenSlide test data, freely redistributable):
# skin (epidermis, dermis with fibroblasts, lymphocytes, vessels) at 20x, 0.499 µm/px.
# Its dark stromal and inflammatory nuclei are the mimics the real-mitosis crops (taken
# around mitoses in tumours) hardly contain. Mitoses in it are rare (a few in the basal
# epidermis at most), so the labels are nearly clean.
#
# (tiatoolbox's target image is NOT used: it is the held-out check of false calls.)
#
# Usage: scripts/real_mitoses/make_negatives.sh [OUT_DIR]   (default target/real_mitoses/neg)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-target/real_mitoses/neg}"
mkdir -p "$out"
python3 - "$out" <<'PY'
import sys, tifffile
from PIL import Image
with tifffile.TiffFile("sample_tiles/CMU-1-Small-Region.svs") as t:
    a = t.pages[0].asarray()
Image.fromarray(a[..., :3]).save(f"{sys.argv[1]}/cmu1.png")
PY
cargo run --release --example detect_mosaics -- --mpp 0.499 --out "$out" "$out/cmu1.png"
echo "wrote $out/cmu1.detections.csv"
