#!/usr/bin/env python3
"""Score the product (`mitocount count`, with the model built into it) on held-out data.

Everything here goes through the binary a user runs, with default options:
  * the test-split mosaics of AtNorM-MD and AtNorM-Br (prepare.py; never trained or tuned
    on): per crop, a hit is a mitotic call within 7.5 um of the crop centre (one-to-one,
    TUPAC16/MIDOG radius); recall; unmatched calls per mm^2 of crop area (black padding
    excluded; a call on another crop's labelled mitosis that the crop shows, see
    overlaps.py, is not unmatched; `..._centres_only` counts it as unmatched too); and
    the share of crops with a call more than 15 um off centre; and the look-alike calls:
    the share of the crops' other nuclei (candidates more than 10 um from the crop's
    mitosis) that score at least the model's threshold, counted before the product merges
    calls, and what that makes per mm^2 of the crop area they lie in. Unmatched calls per
    mm^2 of crop undercount the false calls a slide would show (score_lookalikes says
    why); the look-alike calls do not;
  * the same mosaics down-sampled to 0.5 um/px (20x), run at --mpp 0.5;
  * held-out real tissue without mitoses: the benign tiles prepare.py kept out, the
    tiatoolbox carcinoma image (0.25 um/px) and CMU-1 (in the training negatives);
  * synthetic slides of fresh seeds with default density (F1 at 7.5 um, from --truth).
Writes OUT/evaluation.json and OUT/evaluation.md.

Usage: evaluate.py [--bin target/release/mitocount] [--data target/training] [--shared ../shared/data]
"""

import argparse
import csv
import glob
import json
import math
import os
import subprocess

from PIL import Image

CROP = 128
RADIUS_UM = 7.5


MODEL = []  # ["--model", FILE] when evaluating another model than the built-in one


def count(binary, image, out, *extra, listed=None):
    """Runs `mitocount count`; its report and its calls (x, y px). With `listed` (a list),
    also appends every listed candidate as (x px, y px, score): all of them with
    `--candidate-min-score 0`, the calls that merging absorbed included."""
    os.makedirs(out, exist_ok=True)
    subprocess.run([binary, "count", image, "--out", out, "--no-images", "-q", *MODEL, *extra],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    calls = []
    with open(os.path.join(out, "detections.csv")) as f:
        rows = (r for r in f if not r.startswith("#"))
        for r in csv.DictReader(rows):
            if r["class"].strip().lower().replace("_", " ") == "mitotic figure":
                calls.append((float(r["x_px"]), float(r["y_px"])))
            if listed is not None:
                listed.append((float(r["x_px"]), float(r["y_px"]), float(r["score"])))
    return report, calls


def crop_cells(truth):
    """A mosaic's truth rows by crop cell (column, row): each crop's labelled mitosis, and
    the other crops' labelled mitoses it shows (a list per cell)."""
    cells = {(int(t["cell_col"]), int(t["cell_row"])): t for t in truth
             if t.get("kind", "mitotic figure") == "mitotic figure"}
    other = {}
    for t in truth:
        if t.get("kind") == "other mitotic figure":
            other.setdefault((int(t["cell_col"]), int(t["cell_row"])), []).append(t)
    return cells, other


LOOKALIKE_UM = 10.0  # crop nuclei farther than this from the crop's mitosis are its look-alikes


def score_lookalikes(truth, listed, threshold, scale, mpp):
    """Look-alike calls of one mosaic, before the product merges calls: the crop nuclei
    (candidates) more than LOOKALIKE_UM from their crop's labelled mitosis and more than
    RADIUS_UM from any other labelled figure the crop shows, and how many of them score at
    least the model's threshold; and the crop area (black padding excluded) farther than
    LOOKALIKE_UM from the centre, um^2.

    Why before merging: the product merges calls within 20 um into one call, and in a
    32 um crop nearly every nucleus is within 20 um of the crop's mitosis, so when that
    mitosis is called, a call on a neighbouring nucleus disappears into it. Unmatched calls
    per mm^2 of crop therefore miss most false calls that a slide's ordinary tissue, where
    mitoses are far apart, would show; the share of crop nuclei called does not."""
    crop = CROP * scale
    cells, other = crop_cells(truth)
    others = [(float(t["x_px"]) * scale, float(t["y_px"]) * scale) for ts in other.values() for t in ts]
    nuclei = called = 0
    for x, y, s in listed:
        t = cells.get((int(x // crop), int(y // crop)))
        if t is None:
            continue
        if math.hypot(x - float(t["x_px"]) * scale, y - float(t["y_px"]) * scale) * mpp <= LOOKALIKE_UM:
            continue
        if any(math.hypot(x - ox, y - oy) * mpp <= RADIUS_UM for ox, oy in others):
            continue
        nuclei += 1
        called += s >= threshold
    ring_um2 = (CROP * 0.25) ** 2 - math.pi * LOOKALIKE_UM ** 2
    area_um2 = sum(ring_um2 * (1.0 - float(t["black_fraction"])) for t in cells.values())
    return nuclei, called, area_um2


def score_mosaic(truth, calls, scale, mpp):
    """Per-crop hits, unmatched calls and far-off calls of one mosaic at a scale (1 or 0.5).

    A hit is a call within RADIUS_UM of the crop's centre. Crops of neighbouring mitoses
    overlap, so a crop may show another crop's labelled mitosis ("other mitotic figure"
    rows, prepare.py / overlaps.py): a call within RADIUS_UM of one (one call per figure)
    is on a labelled mitosis, neither a hit nor unmatched; `unmatched_centres_only` counts
    it as unmatched as well (the measure before the overlaps were known)."""
    crop = CROP * scale
    cells, other = crop_cells(truth)
    per = {k: [] for k in cells}
    for x, y in calls:
        k = (int(x // crop), int(y // crop))
        if k in per:
            per[k].append((x, y))
    hits = unmatched = on_other = far = 0
    area_um2 = 0.0
    rows = []
    for k, t in cells.items():
        cx, cy = float(t["x_px"]) * scale, float(t["y_px"]) * scale
        left = sorted(per[k], key=lambda c: math.hypot(c[0] - cx, c[1] - cy))
        d = [math.hypot(x - cx, y - cy) * mpp for x, y in left]
        hit = bool(d) and d[0] <= RADIUS_UM
        if hit:
            left = left[1:]
        for o in other.get(k, []):
            ox, oy = float(o["x_px"]) * scale, float(o["y_px"]) * scale
            near = [(math.hypot(x - ox, y - oy) * mpp, i) for i, (x, y) in enumerate(left)]
            if near and min(near)[0] <= RADIUS_UM:
                left.pop(min(near)[1])
                on_other += 1
        hits += hit
        unmatched += len(left)
        far += any(v > 15.0 for v in d)
        area_um2 += (CROP * 0.25) ** 2 * (1.0 - float(t["black_fraction"]))
        rows.append((t["file"], t["class"], hit))
    return hits, unmatched, on_other, far, area_um2, rows


def _bisect(f, lo, hi, want):
    """The x in [lo, hi] where the decreasing function f crosses want."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) > want:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def poisson_interval(k, alpha=0.05):
    """Exact (Garwood 1936) two-sided interval for a Poisson mean, k events seen."""
    def cdf(j, mu):  # P(X <= j)
        return sum(math.exp(-mu + i * math.log(mu) - math.lgamma(i + 1)) for i in range(j + 1)) if mu > 0 else 1.0
    lo = 0.0 if k == 0 else _bisect(lambda mu: -(1 - cdf(k - 1, mu)), 0.0, k + 50.0, -alpha / 2)
    hi = _bisect(lambda mu: cdf(k, mu), 0.0, k + 50.0 + 10 * math.sqrt(k + 1), alpha / 2)
    return lo, hi


def binomial_interval(k, n, alpha=0.05):
    """Exact (Clopper & Pearson 1934) two-sided interval for a proportion, k of n."""
    def cdf(j, p):  # P(X <= j)
        if p <= 0:
            return 1.0
        if p >= 1:
            return 1.0 if j >= n else 0.0
        return sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                            + i * math.log(p) + (n - i) * math.log1p(-p)) for i in range(j + 1))
    lo = 0.0 if k == 0 else _bisect(lambda p: -(1 - cdf(k - 1, p)), 0.0, 1.0, -alpha / 2)
    hi = 1.0 if k == n else _bisect(lambda p: cdf(k, p), 0.0, 1.0, alpha / 2)
    return lo, hi


def mosaics(binary, folder, out, scale, split="test"):
    mpp = 0.25 / scale
    tot = {"crops": 0, "hits": 0, "unmatched": 0, "on_other": 0, "far": 0, "area_um2": 0.0, "atypical": 0,
           "atypical_hits": 0, "other_figures": 0, "nuclei": 0, "lookalike_calls": 0, "ring_um2": 0.0}
    for png in sorted(glob.glob(os.path.join(folder, f"{split}_*.png"))):
        # Named by dataset too: md/test_00 and br/test_00 must not share a file or folder.
        stem = os.path.basename(folder) + "_" + os.path.splitext(os.path.basename(png))[0]
        truth = list(csv.DictReader(open(os.path.splitext(png)[0] + ".csv")))
        image = png
        if scale != 1.0:
            image = os.path.join(out, f"{stem}_half.png")
            if not os.path.exists(image):
                im = Image.open(png).convert("RGB")
                im.resize((im.width // 2, im.height // 2), Image.BOX).save(image)
        listed = []
        rep, calls = count(binary, image, os.path.join(out, f"{stem}_{scale}"), "--mpp", str(mpp),
                           "--candidate-min-score", "0", listed=listed)
        h, u, o, f, a, rows = score_mosaic(truth, calls, scale, mpp)
        n, c, ring = score_lookalikes(truth, listed, rep["parameters"]["mitosis_threshold"], scale, mpp)
        tot["nuclei"] += n
        tot["lookalike_calls"] += c
        tot["ring_um2"] += ring
        tot["crops"] += len(rows)
        tot["hits"] += h
        tot["unmatched"] += u
        tot["on_other"] += o
        tot["other_figures"] += sum(t.get("kind") == "other mitotic figure" for t in truth)
        tot["far"] += f
        tot["area_um2"] += a
        tot["atypical"] += sum(r[1] == "atypical" for r in rows)
        tot["atypical_hits"] += sum(r[1] == "atypical" and r[2] for r in rows)
    area_mm2 = tot["area_um2"] / 1e6
    r_lo, r_hi = binomial_interval(tot["hits"], tot["crops"]) if tot["crops"] else (0.0, 1.0)
    u_lo, u_hi = poisson_interval(tot["unmatched"])
    n, c = tot["nuclei"], tot["lookalike_calls"]
    c_lo, c_hi = binomial_interval(c, n) if n else (0.0, 1.0)
    ring_mm2 = tot["ring_um2"] / 1e6
    return {
        "crops": tot["crops"],
        "area_mm2": round(area_mm2, 4),
        "recall": round(tot["hits"] / max(tot["crops"], 1), 4),
        "recall_95ci": [round(r_lo, 3), round(r_hi, 3)],
        "unmatched_calls": tot["unmatched"],
        "unmatched_calls_per_mm2_95ci": [round(u_lo / area_mm2, 1), round(u_hi / area_mm2, 1)] if area_mm2 else None,
        "recall_atypical": round(tot["atypical_hits"] / max(tot["atypical"], 1), 4),
        "unmatched_calls_per_mm2": round(tot["unmatched"] / area_mm2, 1),
        "unmatched_calls_per_mm2_centres_only": round((tot["unmatched"] + tot["on_other"]) / area_mm2, 1),
        "other_labelled_figures": tot["other_figures"],
        "calls_on_other_labelled_figures": tot["on_other"],
        "crops_with_call_over_15um_off": round(tot["far"] / max(tot["crops"], 1), 4),
        "crop_nuclei": n,
        "crop_nuclei_called": c,
        "crop_nuclei_called_share": round(c / max(n, 1), 5),
        "crop_nuclei_called_share_95ci": [round(c_lo, 5), round(c_hi, 5)],
        "crop_nuclei_per_mm2": round(n / ring_mm2, 0) if ring_mm2 else None,
        "lookalike_calls_per_mm2": round(c / ring_mm2, 1) if ring_mm2 else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="target/release/mitocount")
    ap.add_argument("--data", default="target/training")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
    ap.add_argument("--synthetic-seeds", type=int, nargs="*", default=[901, 902, 903])
    ap.add_argument("--tune", action="store_true",
                    help="score the tune-split mosaics only (for choosing settings; prints, writes nothing else)")
    ap.add_argument("--out", help="working folder (default DATA/evaluation)")
    ap.add_argument("--model", help="a model file to evaluate instead of the one built into the binary")
    args = ap.parse_args()
    if args.model:
        MODEL[:] = ["--model", args.model]
    out = args.out or os.path.join(args.data, "evaluation")
    if args.tune:
        for ds in ("md", "br"):
            r = mosaics(args.bin, os.path.join(args.data, "mosaics", ds), out, 1.0, "tune")
            print(f"{ds} tune 0.25 um/px", r, flush=True)
        return
    os.makedirs(out, exist_ok=True)
    res = {"mosaics": {}, "tissue": {}, "synthetic": {}}
    for ds in ("md", "br"):
        for scale in (1.0, 0.5):
            key = f"{ds} test {'0.25' if scale == 1.0 else '0.5'} um/px"
            res["mosaics"][key] = mosaics(args.bin, os.path.join(args.data, "mosaics", ds), out, scale)
            print(key, res["mosaics"][key], flush=True)
    summary = json.load(open(os.path.join(args.data, "data_summary.json")))
    tissue = [(os.path.join(args.shared, "he/tiatoolbox-target_image.png"), 0.25, "held out"),
              ("sample_tiles/CMU-1-Small-Region.svs", None, "training negative")]
    benign_area = 0.0
    benign_calls = 0
    for item in summary["negative_images"]:
        if item["split"] == "test":
            png = os.path.join(args.data, "negatives", item["file"])
            rep, calls = count(args.bin, png, os.path.join(out, "benign", item["file"]), "--mpp", str(item["mpp"]))
            im = Image.open(png)
            benign_area += im.width * im.height * item["mpp"] ** 2 / 1e6
            benign_calls += len(calls)
            res["tissue"]["benign/" + item["file"]] = {"calls": len(calls)}
    res["tissue"]["benign held-out tiles, all"] = {
        "calls": benign_calls, "area_mm2": round(benign_area, 4),
        "calls_per_mm2": round(benign_calls / max(benign_area, 1e-9), 1)}
    for path, mpp, role in tissue:
        extra = ["--mpp", str(mpp)] if mpp else []
        rep, calls = count(args.bin, path, os.path.join(out, os.path.basename(path)), *extra)
        res["tissue"][os.path.basename(path)] = {
            "role": role, "calls": len(calls), "tissue_mm2": rep["tissue"]["tissue_area_mm2"],
            "verdict": rep["verdict"].get("outcome", rep["verdict"]) if isinstance(rep["verdict"], dict) else rep["verdict"]}
    for seed in args.synthetic_seeds:
        slide = os.path.join(out, f"synth-{seed}.tiff")
        if not os.path.exists(slide):
            subprocess.run([args.bin, "synth", "--seed", str(seed), "--out", slide], check=True,
                           stdout=subprocess.DEVNULL)
        rep, calls = count(args.bin, slide, os.path.join(out, f"synth-{seed}"), "--truth",
                           slide[:-len(".tiff")] + ".truth.csv")
        res["synthetic"][f"seed {seed}"] = rep["evaluation"]
    with open(os.path.join(out, "..", "evaluation.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res["tissue"], indent=1))
    print(json.dumps(res["synthetic"], indent=1))


if __name__ == "__main__":
    main()
