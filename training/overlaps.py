#!/usr/bin/env python3
"""Find the labelled mitoses that other crops show: AtNorM crops of neighbouring mitoses
overlap.

Each AtNorM crop is centred on one expert-labelled mitosis, but two mitoses less than a
crop apart on the slide give two crops that overlap, pixel for pixel (they were cut from
the same scan): crop A then shows B's mitosis off its centre, unlabelled in A. Counted
as a false call in A, or trained on as a negative, it is neither. Checked 2026-12-07 on
the train and tune mosaics: 11 of the 21 "unmatched" calls of the shipped model that lay
inside a crop were exactly on another crop's centre (mean squared pixel difference 0).

Method (written here: no library finds exact sub-image overlaps between many small
images): every crop's central 8 x 8 px block (with some texture, not padding) is a key;
every 8 x 8 window of every other crop of the same dataset is hashed (a separable
polynomial hash, so all windows cost two sliding dot products) and looked up; a hit is
accepted when the whole overlapping region of the two crops is equal within 2 levels on
average (the same scan; PNG is lossless) and covers at least 24 x 24 px.

`find(paths)` -> {path: [(other_path, x_px, y_px), ...]}: the other crop's centre in this
crop's pixel coordinates (pixel k's centre at k + 0.5, as the mosaic CSVs).
Usage: overlaps.py [--data ../shared/data] (prints the overlaps found per dataset)
"""

import argparse
import os

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

CROP = 128
BLOCK = 8
KEY_AT = CROP // 2 - BLOCK // 2  # the key block's top-left corner (60)
MIN_OVERLAP_PX = 24
MAX_MEAN_ABS_DIFF = 2.0
MIN_KEY_STD = 8.0

_rng = np.random.default_rng(20261207)
_A = _rng.integers(1, 2 ** 62, BLOCK, dtype=np.int64) | 1
_B = _rng.integers(1, 2 ** 62, BLOCK, dtype=np.int64) | 1
_C = _rng.integers(1, 2 ** 62, 3, dtype=np.int64) | 1


def _window_hashes(img):
    """int64 hash of every BLOCK x BLOCK window of an (H, W, 3) uint8 image: [H-7, W-7]."""
    v = img.astype(np.int64)
    with np.errstate(over="ignore"):
        rows = sliding_window_view(v, BLOCK, axis=1) @ _A      # (H, W-7, 3)
        rows = rows @ _C                                         # (H, W-7)
        return sliding_window_view(rows, BLOCK, axis=0) @ _B  # (H-7, W-7)


def find(paths):
    imgs = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    keys = {}
    for i, im in enumerate(imgs):
        if im.shape[:2] != (CROP, CROP):
            continue
        block = im[KEY_AT:KEY_AT + BLOCK, KEY_AT:KEY_AT + BLOCK]
        if block.std() < MIN_KEY_STD or (block.min(axis=2) >= 250).mean() > 0.5 or (block.max(axis=2) <= 5).mean() > 0.5:
            continue
        keys.setdefault(int(_window_hashes(block)[0, 0]), []).append(i)
    key_arr = np.array(sorted(keys), np.int64)
    out = {p: [] for p in paths}
    for a, im in enumerate(imgs):
        if im.shape[:2] != (CROP, CROP):
            continue
        h = _window_hashes(im)
        ys, xs = np.nonzero(np.isin(h, key_arr))
        for y, x in zip(ys.tolist(), xs.tolist()):
            for b in keys[int(h[y, x])]:
                dx, dy = x - KEY_AT, y - KEY_AT  # crop b's pixel (u, v) is crop a's (u + dx, v + dy)
                if b == a or (dx == 0 and dy == 0):
                    continue  # itself, or a pixel-identical copy (handled as a duplicate)
                ax0, ay0 = max(0, dx), max(0, dy)
                ax1, ay1 = min(CROP, CROP + dx), min(CROP, CROP + dy)
                if ax1 - ax0 < MIN_OVERLAP_PX or ay1 - ay0 < MIN_OVERLAP_PX:
                    continue
                pa = im[ay0:ay1, ax0:ax1].astype(np.int16)
                pb = imgs[b][ay0 - dy:ay1 - dy, ax0 - dx:ax1 - dx].astype(np.int16)
                if np.abs(pa - pb).mean() > MAX_MEAN_ABS_DIFF:
                    continue
                out[paths[a]].append((paths[b], CROP / 2 + dx, CROP / 2 + dy))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
    args = ap.parse_args()
    import glob
    for ds in ("AtNorM-MD", "AtNorM-Br"):
        paths = sorted(glob.glob(os.path.join(args.data, "mitoses", ds, "*", "*.png")))
        found = find(paths)
        n = sum(len(v) for v in found.values())
        print(f"{ds}: {len(paths)} crops, {sum(bool(v) for v in found.values())} show another crop's mitosis "
              f"({n} in all)")


if __name__ == "__main__":
    main()
