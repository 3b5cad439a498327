#!/usr/bin/env python3
"""Tile the AtNorM-MD mitosis crops into 16 x 16 mosaics with a truth CSV per mosaic.

Each 128 x 128 crop (about 0.25 um/px) is centred on an expert-confirmed mitotic figure
(Banerjee et al. 2025, arXiv:2506.21444; MIT licence; data in
/work/shared/data/mitoses). A mosaic is a 2048 x 2048 PNG of 16 x 16 crops; its CSV lists
every crop's centre as a ground-truth mitosis, in the columns `mitocount evaluate` reads
(x_px, y_px, x_um, y_um, kind) plus the crop's file, class (normal/atypical), cell and the
fraction of black padding.

The split is fixed by the file name: sha1("AtNorM-MD/<name>") decides tune (even first
byte) or test (odd). Within a split, crops are ordered by their numeric name and filled
row by row; the last mosaic of a split may have empty (white) cells.

Usage: make_mosaics.py [--data DIR] [--out DIR] [--mpp 0.25]
"""

import argparse
import csv
import hashlib
import os

import numpy as np
from PIL import Image

CROP = 128
GRID = 16


def split_of(name):
    digest = hashlib.sha1(f"AtNorM-MD/{name}".encode()).digest()
    return "tune" if digest[0] % 2 == 0 else "test"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/work/shared/data/mitoses/AtNorM-MD")
    ap.add_argument("--out", default="target/real_mitoses")
    ap.add_argument("--mpp", type=float, default=0.25, help="um per pixel written to the CSV")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    crops = []
    for cls in ("Normal", "Atypical"):
        folder = os.path.join(args.data, cls)
        for name in os.listdir(folder):
            if name.lower().endswith(".png"):
                crops.append((int(os.path.splitext(name)[0]), name, cls.lower(), os.path.join(folder, name)))
    crops.sort()
    by_split = {"tune": [], "test": []}
    for c in crops:
        by_split[split_of(c[1])].append(c)

    summary = []
    for split, items in by_split.items():
        per = GRID * GRID
        for k in range(0, len(items), per):
            chunk = items[k:k + per]
            index = k // per
            mosaic = np.full((GRID * CROP, GRID * CROP, 3), 255, np.uint8)
            rows = []
            for i, (_, name, cls, path) in enumerate(chunk):
                r, c = divmod(i, GRID)
                img = np.asarray(Image.open(path).convert("RGB"))
                if img.shape != (CROP, CROP, 3):
                    raise SystemExit(f"{path}: expected {CROP}x{CROP} RGB, got {img.shape}")
                mosaic[r * CROP:(r + 1) * CROP, c * CROP:(c + 1) * CROP] = img
                black = float(np.mean(img.max(axis=2) < 16))
                x_px = c * CROP + CROP / 2
                y_px = r * CROP + CROP / 2
                rows.append({
                    "x_px": x_px, "y_px": y_px,
                    "x_um": round(x_px * args.mpp, 4), "y_um": round(y_px * args.mpp, 4),
                    "kind": "mitotic figure", "phase": "", "class": cls, "file": name,
                    "cell_col": c, "cell_row": r, "black_fraction": round(black, 4),
                })
            stem = os.path.join(args.out, f"{split}_{index:02d}")
            Image.fromarray(mosaic).save(stem + ".png", optimize=False, compress_level=1)
            with open(stem + ".csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
                w.writeheader()
                w.writerows(rows)
            summary.append((split, index, len(chunk), sum(r["class"] == "atypical" for r in rows)))
    for split, index, n, atyp in summary:
        print(f"{split}_{index:02d}: {n} crops ({atyp} atypical)")
    for split, items in by_split.items():
        print(f"{split}: {len(items)} crops, {sum(c[2] == 'atypical' for c in items)} atypical")


if __name__ == "__main__":
    main()
