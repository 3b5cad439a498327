#!/usr/bin/env python3
"""Synthetic-slide check: F1 at 7.5 um and the false positives by mimic kind.

For each slide, reads the synth ground truth (`<stem>.truth.csv`: x_um, y_um, kind,
phase; kinds mitotic_figure, lymphocyte, pyknotic, hyperchromatic) and the report's
`detections.csv`; matches mitotic calls one-to-one to mitotic figures within 7.5 um
(greedy by distance, as a cross-check of `mitocount evaluate`, which uses an optimal
assignment), and assigns every unmatched call to the nearest truth object of any kind
within 5 um (a mimic) or to "other" (an ordinary nucleus or background). Also: how many
of each mimic kind were called at all.

Usage: synthetic_check.py TRUTH.csv DETECTIONS.csv [TRUTH2.csv DETECTIONS2.csv ...]
"""

import csv
import math
import sys
from collections import Counter


def norm(kind):
    return "".join(c for c in kind.lower() if c.isalnum())


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        sys.exit(__doc__)
    tp = fp = fn = 0
    fp_kinds = Counter()
    mimic_total = Counter()
    mimic_called = Counter()
    for tpath, dpath in zip(args[::2], args[1::2]):
        truth = [(float(r["x_um"]), float(r["y_um"]), norm(r["kind"])) for r in csv.DictReader(open(tpath))]
        calls = [(float(r["x_um"]), float(r["y_um"])) for r in csv.DictReader(open(dpath))
                 if norm(r["class"]) == "mitoticfigure"]
        mitoses = [t for t in truth if t[2] == "mitoticfigure"]
        pairs = sorted(
            (math.hypot(c[0] - m[0], c[1] - m[1]), ci, mi)
            for ci, c in enumerate(calls) for mi, m in enumerate(mitoses)
            if abs(c[0] - m[0]) <= 7.5 and abs(c[1] - m[1]) <= 7.5
        )
        used_c, used_m = set(), set()
        for d, ci, mi in pairs:
            if d <= 7.5 and ci not in used_c and mi not in used_m:
                used_c.add(ci)
                used_m.add(mi)
        tp += len(used_m)
        fn += len(mitoses) - len(used_m)
        for t in truth:
            if t[2] != "mitoticfigure":
                mimic_total[t[2]] += 1
        called_mimics = set()
        for ci, c in enumerate(calls):
            near = min(((math.hypot(c[0] - t[0], c[1] - t[1]), i, t[2]) for i, t in enumerate(truth)),
                       default=(1e9, -1, "other"))
            if near[0] <= 5.0 and near[2] != "mitoticfigure":
                called_mimics.add(near[1])
            if ci in used_c:
                continue
            fp += 1
            fp_kinds[near[2] if near[0] <= 5.0 else "other"] += 1
        for i in called_mimics:
            mimic_called[truth[i][2]] += 1
    prec = tp / max(tp + fp, 1)
    rec = tp / max(tp + fn, 1)
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    print(f"TP {tp}  FP {fp}  FN {fn}  precision {prec:.3f}  recall {rec:.3f}  F1 {f1:.3f}")
    print("false positives by what they sit on:", dict(fp_kinds))
    for k, n in mimic_total.items():
        print(f"  {k}: {mimic_called[k]} of {n} called ({mimic_called[k] / max(n, 1):.1%})")


if __name__ == "__main__":
    main()
