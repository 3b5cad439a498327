#!/usr/bin/env python3
"""Prepare the training data of the mitosis patch classifier from ../shared/data.

1. Splits the real mitosis crops of AtNorM-MD and AtNorM-Br (Banerjee et al. 2025,
   arXiv:2506.21444; MIT) into train / tune / test. The files name no slide, but the crops
   are numbered in the order they were cut, so neighbouring numbers tend to share a slide:
   blocks of BLOCK consecutive numbers go to one split together, chosen by a hash of
   "<dataset>/<block>" (test 25 %, tune 15 %, train 60 %). Pixel-identical copies in
   AtNorM-Br (`AtNorM-Br_duplicates.csv`) are kept once (the lowest-numbered file), so no
   copy sits in two splits and each group counts once in a score.
2. Tiles each split's crops into mosaics of 16 x 16 crops (2048 x 2048 px, at 0.25 um/px),
   crops in an order shuffled with a fixed seed, with a truth CSV of the crop centres in
   the format training/evaluate.py reads. Test mosaics are only written, never
   read here.
3. Runs the detector's candidate stage (examples/detect_mosaics, the product's own
   detect_field + tree score) on the train and tune mosaics and on the negative images:
   benign tissue tiles (Kather et al. 2016, 2018; smooth muscle, lymphocytes, stroma,
   debris, fat, mucus; 20x) and CMU-1 (skin, 20x, no mitoses). Every third benign tile in
   name order is held out (test); the tiatoolbox carcinoma image is held out entirely.
4. Cuts a PATCH x PATCH patch at 0.25 um/px around every candidate (bilinear, the same
   sampling as src/detect/cnn/patch.rs; outside the image is white) and labels it:
   within POS_UM of a crop centre: mitosis; farther than NEG_UM: not; in between: left out.
   Each crop centre itself is added as a positive too (the figure the candidate stage may
   have missed or hit off-centre). Crops of neighbouring mitoses overlap (overlaps.py): the
   mosaic CSVs list the other crops' mitoses that a crop shows as "other mitotic figure"
   rows, which evaluate.py counts as labelled. With --overlap-labels (an experiment, off by
   default: see training/README.md), a candidate within POS_UM of one is a positive too when
   its crop is in the same split (left out otherwise), and none within NEG_UM of one is a
   negative. Each patch records whether the network's 80 px window
   crosses a crop seam or the image's edge (`edges`), so that training can give the other
   patches as many seams. Writes OUT/patches.npz.

Usage: prepare.py [--data ../shared/data] [--out target/training] [--harness PATH]
"""

import argparse
import csv
import glob
import hashlib
import json
import os
import random
import subprocess
import sys

import numpy as np
from PIL import Image

import overlaps

CROP = 128
GRID = 16
BLOCK = 16
MOSAIC_MPP = 0.25
PATCH_MPP = 0.25
PATCH = 128  # stored size (32 um); training rotates, scales and crops the model's input from it
POS_UM = 6.0
NEG_UM = 10.0
SEED = 20261207


def split_of(dataset, number):
    h = hashlib.sha1(f"{dataset}/{number // BLOCK}".encode()).digest()[0] / 256.0
    return "test" if h < 0.25 else ("tune" if h < 0.40 else "train")


def list_crops(data):
    """(dataset, number, class, path) of every crop, AtNorM-Br duplicates kept once."""
    root = os.path.join(data, "mitoses")
    dup_drop = set()
    groups = {}
    with open(os.path.join(root, "AtNorM-Br_duplicates.csv")) as f:
        for row in csv.DictReader(f):
            groups.setdefault(row["group"], []).append(row["file"])
    for files in groups.values():
        files.sort(key=lambda p: (int(os.path.splitext(os.path.basename(p))[0]), p))
        dup_drop.update(files[1:])
    crops = []
    for dataset in ("AtNorM-MD", "AtNorM-Br"):
        for cls in ("Normal", "Atypical"):
            for path in glob.glob(os.path.join(root, dataset, cls, "*.png")):
                rel = f"{dataset}/{cls}/{os.path.basename(path)}"
                if rel in dup_drop:
                    continue
                number = int(os.path.splitext(os.path.basename(path))[0])
                crops.append((dataset, number, cls.lower(), path))
    crops.sort()
    return crops, len(dup_drop)


def write_mosaics(crops, out_dir, split, rng, others):
    """Mosaics of one dataset's split; returns their PNG paths. others: crop path -> the
    other crops' mitoses it shows, [(dataset, number, class, split, x_px, y_px)]."""
    os.makedirs(out_dir, exist_ok=True)
    items = list(crops)
    rng.shuffle(items)
    paths = []
    per = GRID * GRID
    for k in range(0, len(items), per):
        chunk = items[k:k + per]
        mosaic = np.full((GRID * CROP, GRID * CROP, 3), 255, np.uint8)
        rows = []
        for i, (dataset, number, cls, path) in enumerate(chunk):
            r, c = divmod(i, GRID)
            img = np.asarray(Image.open(path).convert("RGB"))
            if img.shape != (CROP, CROP, 3):
                raise SystemExit(f"{path}: expected {CROP}x{CROP} RGB, got {img.shape}")
            mosaic[r * CROP:(r + 1) * CROP, c * CROP:(c + 1) * CROP] = img
            x_px, y_px = c * CROP + CROP / 2, r * CROP + CROP / 2
            rows.append({
                "x_px": x_px, "y_px": y_px,
                "x_um": round(x_px * MOSAIC_MPP, 4), "y_um": round(y_px * MOSAIC_MPP, 4),
                "kind": "mitotic figure", "phase": "", "class": cls,
                "file": f"{dataset}/{number}.png", "cell_col": c, "cell_row": r,
                "black_fraction": round(float(np.mean(img.max(axis=2) < 16)), 4), "figure_split": split,
            })
            for o_dataset, o_number, o_cls, o_split, ox, oy in others.get(path, []):
                x_px, y_px = c * CROP + ox, r * CROP + oy
                rows.append({
                    "x_px": x_px, "y_px": y_px,
                    "x_um": round(x_px * MOSAIC_MPP, 4), "y_um": round(y_px * MOSAIC_MPP, 4),
                    "kind": "other mitotic figure", "phase": "", "class": o_cls,
                    "file": f"{o_dataset}/{o_number}.png", "cell_col": c, "cell_row": r,
                    "black_fraction": rows[-1]["black_fraction"], "figure_split": o_split,
                })
        stem = os.path.join(out_dir, f"{split}_{k // per:02d}")
        Image.fromarray(mosaic).save(stem + ".png", compress_level=1)
        with open(stem + ".csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
        paths.append(stem + ".png")
    return paths


class Sampler:
    """Cuts PATCH x PATCH bilinear patches from one image, as src/detect/cnn/patch.rs does:
    points in level-0 px with pixel k's centre at k + 0.5 (the crate's convention), sample j
    at centre + (j - (PATCH - 1) / 2) * step, white outside, rounded to 8 bits."""

    def __init__(self, img):
        self.h, self.w, _ = img.shape
        self.pad = np.pad(img, ((1, 2), (1, 2), (0, 0)), constant_values=255).astype(np.float32)

    def __call__(self, cx, cy, step):
        offs = (np.arange(PATCH) - (PATCH - 1) / 2.0) * step
        sx = cx - 0.5 + offs
        sy = cy - 0.5 + offs
        x0 = np.floor(sx).astype(np.int64)
        y0 = np.floor(sy).astype(np.int64)
        fx = (sx - x0).astype(np.float32)
        fy = (sy - y0).astype(np.float32)

        def at(yy, xx):
            yy = np.clip(yy + 1, 0, self.h + 2)
            xx = np.clip(xx + 1, 0, self.w + 2)
            return self.pad[yy[:, None], xx[None, :]]

        one = np.float32(1)
        top = at(y0, x0) * (one - fx)[None, :, None] + at(y0, x0 + 1) * fx[None, :, None]
        bot = at(y0 + 1, x0) * (one - fx)[None, :, None] + at(y0 + 1, x0 + 1) * fx[None, :, None]
        out = top * (one - fy)[:, None, None] + bot * fy[:, None, None]
        return np.clip(np.floor(out + np.float32(0.5)), 0, 255).astype(np.uint8)


def run_harness(harness, images, mpp, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    todo = [p for p in images
            if not os.path.exists(os.path.join(out_dir, os.path.splitext(os.path.basename(p))[0] + ".detections.csv"))]
    if todo:
        subprocess.run([harness, "--mpp", str(mpp), "--stains", "auto", "--out", out_dir, *todo], check=True)


def read_candidates(path):
    with open(path) as f:
        return [(float(r["det_x_px"]), float(r["det_y_px"]), float(r["score"])) for r in csv.DictReader(f)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
    ap.add_argument("--out", default="target/training")
    ap.add_argument("--harness", default="target/release/examples/detect_mosaics")
    ap.add_argument("--overlap-labels", action="store_true",
                    help="label candidates on other crops' mitoses as positives (not negatives); off by default")
    args = ap.parse_args()
    rng = random.Random(SEED)
    crops, dropped = list_crops(args.data)
    by = {}
    for c in crops:
        by.setdefault((c[0], split_of(c[0], c[1])), []).append(c)
    # Other crops' mitoses that each crop shows (neighbouring mitoses' crops overlap).
    info = {c[3]: (c[0], c[1], c[2], split_of(c[0], c[1])) for c in crops}
    others = {}
    for dataset in ("AtNorM-MD", "AtNorM-Br"):
        found = overlaps.find(sorted(c[3] for c in crops if c[0] == dataset))
        for path, items in found.items():
            if items:
                others[path] = [(*info[o], x, y) for o, x, y in items]
    summary = {"duplicates_dropped": dropped, "splits": {}, "crops_showing_other_mitoses": {
        split: sum(1 for p in others if info[p][3] == split) for split in ("train", "tune", "test")}}
    mosaics = {}
    for (dataset, split), items in sorted(by.items()):
        short = "md" if dataset == "AtNorM-MD" else "br"
        paths = write_mosaics(items, os.path.join(args.out, "mosaics", short), split, rng, others)
        mosaics[(short, split)] = paths
        summary["splits"][f"{dataset}/{split}"] = {
            "crops": len(items), "atypical": sum(c[2] == "atypical" for c in items),
            "mosaics": len(paths)}
        print(f"{dataset} {split}: {len(items)} crops in {len(paths)} mosaics", flush=True)

    # Negative images: benign tiles (every third held out) and CMU-1.
    neg_dir = os.path.join(args.out, "negatives")
    os.makedirs(neg_dir, exist_ok=True)
    benign = sorted(glob.glob(os.path.join(args.data, "he/benign/*.png")) +
                    glob.glob(os.path.join(args.data, "he/benign/*.tif")))
    negatives = []  # (png path, mpp, split)
    for i, path in enumerate(benign):
        name = os.path.splitext(os.path.basename(path))[0]
        png = os.path.join(neg_dir, name + ".png")
        if not os.path.exists(png):
            Image.open(path).convert("RGB").save(png)
        mpp = 0.495 if name.startswith("kather2016") else 0.5
        negatives.append((png, mpp, "test" if i % 3 == 2 else "train"))
    cmu = os.path.join(neg_dir, "cmu1.png")
    if not os.path.exists(cmu):
        subprocess.run(["target/release/examples/slide_png", "sample_tiles/CMU-1-Small-Region.svs", cmu], check=True)
    negatives.append((cmu, 0.499, "train"))
    summary["negative_images"] = [
        {"file": os.path.basename(p), "mpp": m, "split": s} for p, m, s in negatives]

    # Candidates.
    cand_dir = os.path.join(args.out, "candidates")
    for (short, split), paths in mosaics.items():
        if split != "test":
            run_harness(args.harness, paths, MOSAIC_MPP, os.path.join(cand_dir, short))
    for mpp in sorted({m for _, m, _ in negatives}):
        run_harness(args.harness, [p for p, m, s in negatives if m == mpp and s == "train"], mpp, cand_dir)

    patches, labels, sources, kinds, splits, tree, edges = [], [], [], [], [], [], []
    # Per patch, um: distance from its crop's labelled mitosis and from the nearest other
    # crop's labelled mitosis that the crop shows (NaN / inf for the benign images), so
    # that train.py can count the calls the product would make (it merges calls within
    # 20 um into one and does not count one on a labelled figure).
    centre_um, other_um = [], []
    half_um = 80 / 2 * PATCH_MPP  # half the network's input (10 um)

    def add(img, x, y, step, label, source, kind, split, score, edge, d_centre=np.nan, d_other=np.inf):
        centre_um.append(d_centre)
        other_um.append(d_other)
        edges.append(edge)
        patches.append(img(x, y, step))
        labels.append(label)
        sources.append(source)
        kinds.append(kind)
        splits.append(split)
        tree.append(score)

    counts = {}
    for (short, split), paths in sorted(mosaics.items()):
        if split == "test":
            continue
        for path in paths:
            stem = os.path.splitext(os.path.basename(path))[0]
            img = Sampler(np.asarray(Image.open(path).convert("RGB")))
            rows = list(csv.DictReader(open(os.path.splitext(path)[0] + ".csv")))
            truth = [t for t in rows if t["kind"] == "mitotic figure"]
            centres = {(int(t["cell_col"]), int(t["cell_row"])): t for t in truth}
            other = {}
            for t in rows:
                if t["kind"] == "other mitotic figure":
                    other.setdefault((int(t["cell_col"]), int(t["cell_row"])), []).append(t)
            cands = read_candidates(os.path.join(cand_dir, short, stem + ".detections.csv"))
            half = half_um / MOSAIC_MPP
            for x, y, s in cands:
                key = (int(x // CROP), int(y // CROP))
                cx, cy = x - key[0] * CROP, y - key[1] * CROP
                edge = bool(min(cx, cy) < half or max(cx, cy) > CROP - half)
                t = centres.get(key)
                if t is None:
                    continue  # an empty (white) cell of the last mosaic
                d_um = np.hypot(x - float(t["x_px"]), y - float(t["y_px"])) * MOSAIC_MPP
                d_all = [(np.hypot(x - float(o["x_px"]), y - float(o["y_px"])) * MOSAIC_MPP, o["figure_split"])
                         for o in other.get(key, [])]
                d_near = min([d for d, _ in d_all], default=np.inf)
                d_other = d_all if args.overlap_labels else []
                source = f"{short}/{t['file']}"
                if d_um <= POS_UM:
                    add(img, x, y, 1.0, 1, source, f"{short}-candidate-mitosis", split, s, edge, d_um, d_near)
                elif any(d <= POS_UM and sp == split for d, sp in d_other):
                    add(img, x, y, 1.0, 1, source, f"{short}-candidate-other-mitosis", split, s, edge, d_um, d_near)
                elif d_um > NEG_UM and all(d > NEG_UM for d, _ in d_other):
                    add(img, x, y, 1.0, 0, source, f"{short}-crop-nucleus", split, s, edge, d_um, d_near)
            for t in truth:
                add(img, float(t["x_px"]), float(t["y_px"]), 1.0, 1, f"{short}/{t['file']}",
                    f"{short}-crop-centre", split, -1.0, False, 0.0)
    for png, mpp, split in negatives:
        if split != "train":
            continue
        img = Sampler(np.asarray(Image.open(png).convert("RGB")))
        stem = os.path.splitext(os.path.basename(png))[0]
        half = half_um / mpp
        h, w = img.h, img.w
        for x, y, s in read_candidates(os.path.join(cand_dir, stem + ".detections.csv")):
            edge = bool(min(x, y) < half or x > w - half or y > h - half)
            add(img, x, y, PATCH_MPP / mpp, 0, f"neg/{stem}", "benign-" + stem.split("-")[0].lower(), split, s, edge)
    labels = np.array(labels, np.uint8)
    kinds_arr = np.array(kinds)
    for k in sorted(set(kinds)):
        for sp in ("train", "tune"):
            n = int(np.sum((kinds_arr == k) & (np.array(splits) == sp)))
            if n:
                counts[f"{sp}/{k}"] = n
    summary["patches"] = counts
    for k, v in counts.items():
        print(f"  {k}: {v}")
    np.savez(os.path.join(args.out, "patches.npz"), patches=np.stack(patches), labels=labels,
             sources=np.array(sources), kinds=kinds_arr, splits=np.array(splits),
             tree_scores=np.array(tree, np.float32), edges=np.array(edges, bool),
             centre_um=np.array(centre_um, np.float32), other_um=np.array(other_um, np.float32))
    with open(os.path.join(args.out, "data_summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
