#!/usr/bin/env python3
"""Write the small real-mitosis fixture of tests/it/detect.rs: 12 crops of the test split
(the 12 with the smallest sha1("fixture/<name>"), i.e. a fixed pseudo-random pick, not a
choice by result), tiled 4 x 3 into tests/data/detect/real_crops_4x3.png with their
centres in real_crops_4x3.csv (x_px, y_px, x_um, y_um at 0.25 um/px, kind, class, file).

Usage: make_test_fixture.py [--data /work/shared/data/mitoses/AtNorM-MD] [--out tests/data/detect]
"""

import argparse
import csv
import hashlib
import os

import numpy as np
from PIL import Image

from make_mosaics import CROP, split_of


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data/mitoses/AtNorM-MD")
    ap.add_argument("--out", default="tests/data/detect")
    args = ap.parse_args()
    crops = []
    for cls in ("Normal", "Atypical"):
        for name in os.listdir(os.path.join(args.data, cls)):
            if split_of(name) == "test":
                key = hashlib.sha1(f"fixture/{name}".encode()).hexdigest()
                crops.append((key, name, cls))
    crops.sort()
    chosen = crops[:12]
    mosaic = np.zeros((3 * CROP, 4 * CROP, 3), np.uint8)
    rows = []
    for i, (_, name, cls) in enumerate(chosen):
        r, c = divmod(i, 4)
        img = np.asarray(Image.open(os.path.join(args.data, cls, name)).convert("RGB"))
        mosaic[r * CROP:(r + 1) * CROP, c * CROP:(c + 1) * CROP] = img
        x, y = c * CROP + CROP / 2, r * CROP + CROP / 2
        rows.append({"x_px": x, "y_px": y, "x_um": x * 0.25, "y_um": y * 0.25,
                     "kind": "mitotic figure", "class": cls.lower(), "file": name})
    os.makedirs(args.out, exist_ok=True)
    Image.fromarray(mosaic).save(os.path.join(args.out, "real_crops_4x3.png"), optimize=True)
    with open(os.path.join(args.out, "real_crops_4x3.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    print([r["file"] for r in rows])


if __name__ == "__main__":
    main()
