#!/usr/bin/env python3
"""Real-mitosis benchmark: recall of the crop-centre mitoses and off-centre mitotic calls.

Each mosaic (from make_mosaics.py) holds up to 16 x 16 crops, each centred on an expert-
confirmed mitosis. For each mosaic this script gets a detections CSV (header with x_px,
y_px and class; rows of class "mitotic figure" are calls), either

  * by running the product: --bin target/release/mitocount runs
    `mitocount count --mpp MPP MOSAIC.png --out OUT/<stem>` and reads
    OUT/<stem>/detections.csv;
  * by running the development harness: --harness target/release/examples/detect_mosaics
    (writes OUT/<stem>.detections.csv);
  * or from existing files: --detections-dir DIR with <stem>.detections.csv or
    <stem>/detections.csv.

Scoring, per crop (a call belongs to the crop whose cell holds it):
  * hit: a call within --radius-um (7.5) of the crop centre (one-to-one: the closest);
  * off-centre (strict): the crop has another call, i.e. a call not matched to the centre;
  * off-centre (>15 um): the crop has a call farther than 15 um from its centre (calls
    between 7.5 and 15 um may be the other half or a neighbour of the figure);
  * false calls per mm2: unmatched calls over the crops' non-padding area.
Crops with black padding are kept; calls are not special-cased at seams.

Usage: benchmark.py --mosaics DIR --split test (--bin B | --harness H | --detections-dir D)
                    [--out DIR] [--mpp 0.25] [--markdown FILE]
"""

import argparse
import csv
import glob
import json
import math
import os
import shlex
import subprocess
import sys

CROP = 128


def load_calls(path, min_score=0.0):
    """Mitotic calls of a detections CSV; with min_score, only those scoring at least it
    (a stricter threshold than the one the file was made with; pairs were merged at the
    file's threshold)."""
    calls = []
    with open(path) as f:
        for row in csv.DictReader(f):
            label = (row.get("class") or "mitotic figure").strip().lower().replace("_", " ")
            score = float(row.get("score") or 1.0)
            if label in ("mitotic figure", "mitoticfigure", "mitosis") and score >= min_score:
                calls.append((float(row["x_px"]), float(row["y_px"]), score))
    return calls


def score_mosaic(truth_rows, calls, mpp, radius_um):
    cells = {(int(r["cell_col"]), int(r["cell_row"])): r for r in truth_rows}
    per_cell = {k: [] for k in cells}
    outside = 0
    for x, y, s in calls:
        key = (int(x // CROP), int(y // CROP))
        if key in per_cell:
            per_cell[key].append((x, y, s))
        else:
            outside += 1
    results = []
    for key, row in cells.items():
        cx, cy = float(row["x_px"]), float(row["y_px"])
        dists = sorted(math.hypot(x - cx, y - cy) * mpp for x, y, _ in per_cell[key])
        hit = bool(dists) and dists[0] <= radius_um
        unmatched = len(dists) - (1 if hit else 0)
        far = sum(d > 15.0 for d in dists)
        area_um2 = (CROP * mpp) ** 2 * (1.0 - float(row.get("black_fraction") or 0.0))
        results.append({
            "file": row["file"], "class": row["class"], "hit": hit,
            "unmatched": unmatched, "far": far, "area_um2": area_um2,
            "calls": len(dists),
        })
    return results, outside


def summarise(results):
    def rec(rows):
        return (sum(r["hit"] for r in rows) / len(rows)) if rows else float("nan")
    normal = [r for r in results if r["class"] == "normal"]
    atyp = [r for r in results if r["class"] == "atypical"]
    n = len(results)
    area_mm2 = sum(r["area_um2"] for r in results) / 1e6
    unmatched = sum(r["unmatched"] for r in results)
    return {
        "crops": n,
        "normal": len(normal),
        "atypical": len(atyp),
        "recall": rec(results),
        "recall_normal": rec(normal),
        "recall_atypical": rec(atyp),
        "crops_offcentre_strict": sum(r["unmatched"] > 0 for r in results) / n,
        "crops_offcentre_15um": sum(r["far"] > 0 for r in results) / n,
        "unmatched_calls": unmatched,
        "unmatched_per_crop": unmatched / n,
        "unmatched_per_mm2": unmatched / area_mm2,
        "area_mm2": area_mm2,
    }


def main():
    ap = argparse.ArgumentParser(description="real-mitosis benchmark")
    ap.add_argument("--mosaics", default="target/real_mitoses")
    ap.add_argument("--split", default="test", choices=["tune", "test", "all"])
    ap.add_argument("--bin")
    ap.add_argument("--harness")
    ap.add_argument("--detections-dir")
    ap.add_argument("--out", default="target/real_mitoses/out")
    ap.add_argument("--mpp", type=float, default=0.25)
    ap.add_argument("--radius-um", type=float, default=7.5)
    ap.add_argument("--extra", default="", help="extra arguments for --bin, space separated")
    ap.add_argument("--min-score", type=float, default=0.0,
                    help="count only calls scoring at least this (a stricter threshold)")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    args = ap.parse_args()

    pattern = "*_??.png" if args.split == "all" else f"{args.split}_??.png"
    mosaics = sorted(glob.glob(os.path.join(args.mosaics, pattern)))
    if not mosaics:
        sys.exit(f"no mosaics {pattern} in {args.mosaics}; run make_mosaics.py first")
    os.makedirs(args.out, exist_ok=True)
    if args.harness:
        cmd = [*shlex.split(args.harness), "--mpp", str(args.mpp), "--out", args.out, *mosaics]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    all_results = []
    outside = 0
    for m in mosaics:
        stem = os.path.splitext(os.path.basename(m))[0]
        if args.bin:
            out_dir = os.path.join(args.out, stem)
            cmd = [args.bin, "count", "--mpp", str(args.mpp), m, "--out", out_dir, *shlex.split(args.extra)]
            # The summary goes to the report folder; stdout stays for this script's JSON.
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            det = os.path.join(out_dir, "detections.csv")
        else:
            base = args.detections_dir or args.out
            det = os.path.join(base, f"{stem}.detections.csv")
            if not os.path.exists(det):
                det = os.path.join(base, stem, "detections.csv")
        truth = list(csv.DictReader(open(os.path.splitext(m)[0] + ".csv")))
        results, out_n = score_mosaic(truth, load_calls(det, args.min_score), args.mpp, args.radius_um)
        all_results += results
        outside += out_n
    s = summarise(all_results)
    s["calls_in_empty_cells"] = outside
    print(json.dumps(s, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": s, "crops": all_results}, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| split | crops (normal / atypical) | recall | recall normal | recall atypical "
                    "| crops with an off-centre call (strict) | crops with a call > 15 µm off "
                    "| unmatched calls per crop | per mm² |\n|---|---|---|---|---|---|---|---|---|\n")
            f.write(f"| {args.split} | {s['crops']} ({s['normal']} / {s['atypical']}) | {s['recall']:.3f} "
                    f"| {s['recall_normal']:.3f} | {s['recall_atypical']:.3f} | {s['crops_offcentre_strict']:.3f} "
                    f"| {s['crops_offcentre_15um']:.3f} | {s['unmatched_per_crop']:.3f} | {s['unmatched_per_mm2']:.0f} |\n")


if __name__ == "__main__":
    main()
