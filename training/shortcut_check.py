#!/usr/bin/env python3
"""Checks that the classifier did not learn where a patch sits in its crop (the shortcut
the training data invite: positives are always at a crop centre, far from the crop's
edges; many negatives lie near a seam of the mosaic).

On the tune split (never trained on), with the exported model (batch norm folded, as Rust
runs it; the screen left out, the views and the second network in):
  1. patches centred on nothing: random points of the tune mosaics at least 8 um from every
     candidate and crop centre; the share scored at or above the threshold;
  2. seams pasted into the tune positives (the crop centres): white, black, or another
     crop's pixels beyond a line 4, 6 or 8 um from the centre (inside the network's
     10 um half-window); recall with and without;
  3. tune negatives whose window crosses a seam against those that do not: share called.
Writes OUT/shortcut_check.json and prints it.

Usage: shortcut_check.py [--data target/training] [--model models/mitosis-cnn.safetensors]
"""

import argparse
import csv
import glob
import json
import os

import numpy as np
import torch
from PIL import Image

import screen as S
from train import load_safetensors


def load_model(path):
    """The model's scoring as the product scores a patch the screen passed: the main
    network's one view, or from `tta_from` the mean of the 8 views, averaged with the
    second network's where the file has one."""
    t, meta = load_safetensors(path)
    layers = json.loads(meta["layers"])
    off, scale = float(meta["input_offset"]), float(meta["input_scale"])
    views = int(meta.get("tta_views", 1))
    views_from = float(meta.get("tta_from", 0.0))
    second = json.loads(meta["second_layers"]) if "second_layers" in meta else None

    def prepare(x_u8):  # [B, S, S, 3] uint8 -> network input
        x = torch.from_numpy(np.ascontiguousarray(x_u8)).permute(0, 3, 1, 2).float() / 255.0
        return (x - off) * scale

    def run(x_u8):  # [B, S, S, 3] uint8 -> probabilities
        return S.main_stage(x_u8, (t, layers, ""), second and (t, second, "second."), views_from, views, prepare)[1]

    return run, int(meta["input_px"]), float(meta["threshold"])


def centre(u8, side):
    o = (u8.shape[1] - side) // 2
    return np.ascontiguousarray(u8[:, o:o + side, o:o + side])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="target/training")
    ap.add_argument("--model", default="models/mitosis-cnn.safetensors")
    args = ap.parse_args()
    run, side, thr = load_model(args.model)
    rng = np.random.default_rng(7)
    res = {"threshold": thr}
    # 1. Patches centred on nothing.
    pts = []
    for png in sorted(glob.glob(os.path.join(args.data, "mosaics", "*", "tune_*.png"))):
        stem = os.path.splitext(os.path.basename(png))[0]
        ds = os.path.basename(os.path.dirname(png))
        img = np.asarray(Image.open(png).convert("RGB"))
        occupied = [(float(t["x_px"]), float(t["y_px"])) for t in csv.DictReader(open(png[:-4] + ".csv"))]
        cand = os.path.join(args.data, "candidates", ds, stem + ".detections.csv")
        occupied += [(float(r["det_x_px"]), float(r["det_y_px"])) for r in csv.DictReader(open(cand))]
        occ = np.array(occupied)
        padded = np.pad(img, ((side, side), (side, side), (0, 0)), constant_values=255)
        got = 0
        while got < 300:
            x, y = rng.uniform(0, img.shape[1]), rng.uniform(0, img.shape[0])
            if np.min(np.hypot(occ[:, 0] - x, occ[:, 1] - y)) * 0.25 < 8.0:
                continue
            if img[int(y), int(x)].min() > 230:  # glass of an empty cell
                continue
            x0, y0 = int(x) - side // 2 + side, int(y) - side // 2 + side
            pts.append(padded[y0:y0 + side, x0:x0 + side])
            got += 1
    p = run(np.stack(pts))
    res["centred_on_nothing"] = {"patches": len(pts), "called_fraction": round(float(np.mean(p >= thr)), 4),
                                 "mean_probability": round(float(p.mean()), 4)}
    # 2. Seams pasted into tune positives.
    z = np.load(os.path.join(args.data, "patches.npz"))
    tune = z["splits"] == "tune"
    kinds = z["kinds"]
    pos = np.where(tune & np.isin(kinds, ["md-crop-centre", "br-crop-centre"]))[0]
    X = centre(z["patches"][pos], side)
    base = run(X)
    res["seams_in_positives"] = {"patches": len(pos), "recall_without": round(float(np.mean(base >= thr)), 4)}
    for d_um in (4, 6, 8):
        d = int(d_um / 0.25)
        for kind in ("white", "black", "other crop"):
            Y = X.copy()
            for i in range(len(Y)):
                side_k = rng.integers(4)
                fill = {"white": 255, "black": 0}.get(kind)
                src = X[rng.integers(len(X))] if fill is None else None
                c = side // 2
                lo, hi = max(c - d, 0), min(c + d, side)
                sl = [(slice(None), slice(hi, side)), (slice(None), slice(0, lo)),
                      (slice(hi, side), slice(None)), (slice(0, lo), slice(None))][side_k]
                Y[i][sl] = fill if fill is not None else src[sl]
            res["seams_in_positives"][f"{kind} at {d_um} um"] = round(float(np.mean(run(Y) >= thr)), 4)
    # 3. Negatives at seams and away from them (with the 80 px window every crop nucleus
    # more than 10 um from the centre reaches a seam; the benign images have none).
    neg = np.where(tune & np.isin(kinds, ["md-crop-nucleus", "br-crop-nucleus"]))[0]
    q = run(centre(z["patches"][neg], side))
    e = z["edges"][neg]
    res["tune_negatives"] = {}
    for name, m in (("at a seam", e), ("away from seams", ~e)):
        if m.any():
            res["tune_negatives"][name] = {"patches": int(m.sum()),
                                           "called_fraction": round(float(np.mean(q[m] >= thr)), 4)}
    with open(os.path.join(args.data, "shortcut_check.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
