#!/usr/bin/env python3
"""Train the two-stage mitosis score and write src/detect/model.rs.

Stage A ("is it a mitosis rather than the nuclei around it?") is trained on real tissue
only: the tune split of the AtNorM-MD real-mitosis mosaics (positives within 5 um of a
crop centre, negatives farther than 12 um; both stain settings) and every candidate of
the hard-negative tables (CMU-1, real skin without mitoses). Stage B ("does it look like a
mitotic figure rather than a mimic?") learns the mimics a pathologist rejects at a glance:
its positives are the real tune positives and the mitotic figures of synthetic training
slides, its negatives the synthetic slides' lymphocytes, pyknotic and hyperchromatic
nuclei and ordinary nuclei. A candidate is a mitotic figure when both stages pass their
thresholds; the score is `sigmoid(min(zA - tA, zB - tB))`, 0.5 at the decision.

Why two stages: one model trained on both sources must trade the real crops' dense,
hyperchromatic tumour nuclei against the synthetic mimics and does neither well; stage B
sees only what separates figures from mimics (outline at native resolution, halo,
darkness relative to the slide's darker nuclei), stage A only real tissue.

Thresholds: over a grid, the pair whose leave-one-mosaic-out recall on the real tune split
is at least --min-recall with at most --max-far of crops holding a call more than 15 um off
centre, and with the best F1 (projected to 4 mitoses per mm^2, the synth default) on the
synthetic validation slides; ties go to the stricter stage A.

Model: gradient-boosted trees (Friedman 2001, Ann Stat 29(5):1189-1232), the numpy
implementation of train_model.py.

Usage:
  train_two_stage.py --mosaics target/real_mitoses \\
      --candidates target/real_mitoses/tune_auto target/real_mitoses/tune_default \\
      --negatives target/real_mitoses/neg_auto/cmu1.detections.csv ... \\
      --synthetic TRUTH.csv:CANDIDATES.csv ... --validation TRUTH.csv:CANDIDATES.csv:SYNTH.json ... \\
      [--write src/detect/model.rs]
"""

import argparse
import datetime
import hashlib
import json
import math
import os

import numpy as np

import train_model as tm

A_TREES, A_DEPTH = 60, 3
B_TREES, B_DEPTH = 150, 4
GRID_A = [0.0, 0.5, 1.0, 1.5, 2.0]
GRID_B = [x / 2 for x in range(0, 11)]


def norm(kind):
    return "".join(c for c in kind.lower() if c.isalnum())


def synthetic(pairs):
    """Rows and labels of synthetic tables: positives within 5 um of a mitotic figure,
    negatives farther than 12 um."""
    rows, ys = [], []
    for pair in pairs:
        tpath, cpath = pair.split(":")[:2]
        mit = [(float(r["x_um"]), float(r["y_um"])) for r in tm.csv.DictReader(open(tpath))
               if norm(r["kind"]) == "mitoticfigure"]
        for r in tm.read_table(cpath):
            d = min((math.hypot(r["x_um"] - m[0], r["y_um"] - m[1]) for m in mit), default=1e9)
            if d <= tm.POS_UM:
                rows.append(r)
                ys.append(1.0)
            elif d > tm.NEG_UM:
                rows.append(r)
                ys.append(0.0)
    return rows, np.array(ys)


def synthetic_f1(tables, score):
    """Pooled recall and false calls per mm^2 of tissue; F1 projected to 4 mitoses/mm^2."""
    tp = fp = fn = 0
    area = 0.0
    for mit, rows, X, tissue_mm2 in tables:
        s = score(X)
        calls = tm.merge_pairs([(r["x_um"], r["y_um"], v, r["mean_h_od"]) for r, v in zip(rows, s) if v >= 0],
                               12.0, 1.6)
        pairs = sorted((math.hypot(c[0] - m[0], c[1] - m[1]), ci, mi)
                       for ci, c in enumerate(calls) for mi, m in enumerate(mit)
                       if abs(c[0] - m[0]) <= 7.5 and abs(c[1] - m[1]) <= 7.5)
        uc, um = set(), set()
        for d, ci, mi in pairs:
            if d <= 7.5 and ci not in uc and mi not in um:
                uc.add(ci)
                um.add(mi)
        tp += len(um)
        fn += len(mit) - len(um)
        fp += len(calls) - len(uc)
        area += tissue_mm2
    recall = tp / max(tp + fn, 1)
    fp_mm2 = fp / max(area, 1e-9)
    tpd = 4.0 * recall
    return recall, fp_mm2, 2 * tpd / max(2 * tpd + fp_mm2 + 4.0 * (1 - recall), 1e-9)


def ensemble_rust(name, gbm, threshold_logit, doc):
    lines = [f"/// {doc}", f"pub(crate) const {name}: Ensemble = Ensemble {{",
             f"    base_log_odds: {gbm.base!r},", f"    learning_rate: {gbm.rate!r},",
             f"    threshold_logit: {threshold_logit!r},", "    trees: &["]
    for nodes in gbm.trees:
        parts = []
        for nd in nodes:
            if nd[0] == "leaf":
                parts.append(f"Node::Leaf({nd[1]!r})")
            else:
                _, j, t, l, r = nd
                parts.append(f"Node::Split {{ input: {j}, threshold: {t!r}, left: {l}, right: {r} }}")
        lines.append("        &[" + ", ".join(parts) + "],")
    lines += ["    ],", "};", ""]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mosaics", default="target/real_mitoses")
    ap.add_argument("--candidates", nargs="+", required=True)
    ap.add_argument("--negatives", nargs="*", default=[])
    ap.add_argument("--synthetic", nargs="+", required=True, help="TRUTH.csv:CANDIDATES.csv")
    ap.add_argument("--validation", nargs="+", required=True,
                    help="TRUTH.csv:CANDIDATES.csv:SYNTH.json of held-out synthetic slides")
    ap.add_argument("--min-recall", type=float, default=0.82)
    ap.add_argument("--max-far", type=float, default=0.065)
    ap.add_argument("--real-positive-share", type=float, default=0.35,
                    help="share of stage B's positive weight (0.5 in all) given to real positives")
    ap.add_argument("--write")
    args = ap.parse_args()

    data, cells = tm.load(args.mosaics, args.candidates, "tune_??")
    Xr = tm.design([d[3] for d in data])
    dist = np.array([d[2] for d in data])
    stems = np.array([d[0].split("@")[0] for d in data])
    yr = (dist <= tm.POS_UM).astype(float)
    used = (dist <= tm.POS_UM) | (dist > tm.NEG_UM)
    neg_rows = [r for p in args.negatives for r in tm.read_table(p)]
    XN = tm.design(neg_rows) if neg_rows else np.zeros((0, Xr.shape[1]))
    syn_rows, ys = synthetic(args.synthetic)
    XS = tm.design(syn_rows)
    print(f"real tune: {int(yr[used].sum())} positive, {int((1 - yr[used]).sum())} negative; "
          f"hard negatives {len(XN)}; synthetic {int(ys.sum())} positive, {int((1 - ys).sum())} negative")

    def fit_a(mask):
        X = np.vstack([Xr[mask], XN])
        y = np.r_[yr[mask], np.zeros(len(XN))]
        n_real_neg = int((yr[mask] == 0).sum())
        share_hard = len(XN) / max(len(XN) + n_real_neg, 1)
        w = np.r_[np.where(yr[mask] == 1, 0.5 / max(yr[mask].sum(), 1),
                           0.5 * (1 - share_hard) / max(n_real_neg, 1)),
                  np.full(len(XN), 0.5 * share_hard / max(len(XN), 1))]
        return tm.GBM(n_trees=A_TREES, depth=A_DEPTH).fit(X, y, w * len(y))

    def fit_b(mask):
        pr = Xr[mask & (yr == 1)]
        sp, sn = XS[ys == 1], XS[ys == 0]
        X = np.vstack([pr, sp, sn])
        y = np.r_[np.ones(len(pr) + len(sp)), np.zeros(len(sn))]
        share = args.real_positive_share
        w = np.r_[np.full(len(pr), share / len(pr)), np.full(len(sp), (0.5 - share) / len(sp)),
                  np.full(len(sn), 0.5 / len(sn))]
        return tm.GBM(n_trees=B_TREES, depth=B_DEPTH).fit(X, y, w * len(y))

    # Leave-one-mosaic-out decisions on the real tune split.
    zA, zB = np.zeros(len(data)), np.zeros(len(data))
    for g in sorted(set(stems)):
        te = stems == g
        tr = used & ~te
        zA[te] = fit_a(tr).decision(Xr[te])
        zB[te] = fit_b(tr).decision(Xr[te])
        print(f"  fold {g} done")
    A, B = fit_a(used), fit_b(used)

    val = []
    for triple in args.validation:
        tpath, cpath, jpath = triple.split(":")
        mit = [(float(r["x_um"]), float(r["y_um"])) for r in tm.csv.DictReader(open(tpath))
               if norm(r["kind"]) == "mitoticfigure"]
        rows = tm.read_table(cpath)
        val.append((mit, rows, tm.design(rows), json.load(open(jpath))["tissue_area_mm2"]))

    best = None
    print("\n  tA   tB   CV recall  far>15um  strict | synthetic recall  FP/mm2  F1@4/mm2")
    for tA in GRID_A:
        for tB in GRID_B:
            rec, off, by, far = tm.crop_metrics(data, np.minimum(zA - tA, zB - tB), 0.0, cells)
            srec, sfp, sf1 = synthetic_f1(val, lambda X: np.minimum(A.decision(X) - tA, B.decision(X) - tB))
            ok = rec >= args.min_recall and far <= args.max_far
            print(f"  {tA:.1f}  {tB:.1f}   {rec:.3f}     {far:.3f}    {off:.3f} | {srec:.3f}            "
                  f"{sfp:.2f}   {sf1:.3f} {'*' if ok else ''}")
            if ok and (best is None or (sf1, tA) > (best[0], best[1])):
                best = (sf1, tA, tB, rec, far, off, srec, sfp)
    if best is None:
        raise SystemExit("no threshold pair meets --min-recall and --max-far")
    sf1, tA, tB, rec, far, off, srec, sfp = best
    print(f"\nchosen tA {tA} tB {tB}: CV recall {rec:.3f}, far {far:.3f}, strict {off:.3f}; "
          f"synthetic validation recall {srec:.3f}, {sfp:.2f} false calls/mm2, F1@4/mm2 {sf1:.3f}")

    if args.write:
        digest = hashlib.sha1()
        for d in args.candidates:
            for stem in sorted({c.split("@")[0] for c in cells}):
                digest.update(open(os.path.join(d, stem + ".detections.csv"), "rb").read())
        for p in args.negatives + [s.split(":")[1] for s in args.synthetic]:
            digest.update(open(p, "rb").read())
        names = [n for n, _ in tm.INPUTS]
        lines = [
            "//! The two-stage mitosis score: generated by",
            "//! `scripts/real_mitoses/train_two_stage.py`; do not edit by hand (re-run it, see",
            "//! `scripts/real_mitoses/run_all.sh --train`).",
            "//!",
            f"//! Trained {datetime.date.today().isoformat()}. Stage A: the tune split of the AtNorM-MD real-mitosis",
            "//! mosaics (Banerjee et al. 2025, arXiv:2506.21444; MIT), both stain settings,",
            f"//! {int(yr[used].sum())} positive and {int((1 - yr[used]).sum())} negative candidates, with {len(XN)} hard negatives",
            f"//! (CMU-1); {A_TREES} trees of depth {A_DEPTH}. Stage B: the real positives and {len(args.synthetic)} synthetic",
            f"//! training slides ({int(ys.sum())} mitotic figures, {int((1 - ys).sum())} mimics and nuclei);",
            f"//! {B_TREES} trees of depth {B_DEPTH}. Candidate tables sha1 {digest.hexdigest()[:12]}.",
            f"//! Thresholds (logit) tA = {tA}, tB = {tB}: leave-one-mosaic-out recall {rec:.3f} with",
            f"//! {far:.3f} of crops holding a call > 15 um off centre; synthetic validation",
            f"//! ({len(args.validation)} held-out slides) recall {srec:.3f}, {sfp:.2f} false calls per mm^2.",
            "",
            "use super::classify::{Ensemble, Node, INPUTS};",
            "",
            "/// Names of the inputs the trees split on, in order (a unit test checks them against",
            "/// `INPUT_NAMES`).",
            "#[cfg_attr(not(test), allow(dead_code))]",
            "pub(super) const TRAINED_INPUT_NAMES: [&str; INPUTS] = [",
        ]
        lines += [f'    "{n}",' for n in names]
        lines += ["];", "", "// Split values are quantiles of the training data; one may equal a named constant.",
                  "#[allow(clippy::approx_constant)]", "#[rustfmt::skip]", "mod trees {",
                  "use super::*;", ""]
        lines += ensemble_rust("STAGE_A", A, float(tA), "Stage A: mitosis against the real nuclei around it.")
        lines += ensemble_rust("STAGE_B", B, float(tB), "Stage B: mitotic figure against mimics.")
        lines += ["}", "", "pub(super) use trees::{STAGE_A, STAGE_B};", ""]
        with open(args.write, "w") as f:
            f.write("\n".join(lines))
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
