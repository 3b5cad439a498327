#!/usr/bin/env python3
"""Train the screen (the cascade's cheap first stage) and calibrate the cascade.

mitocount scores every candidate nucleus; on a cellular slide that is thousands per mm^2,
and the main network (train.py, about 19.5 M multiply-adds) spent most of a run on
ordinary nuclei. The screen is a small network on a coarser, smaller patch (32 x 32 px at
0.5 um/px, 16 um; 4 convolutions of 8-48 channels, about 1 M multiply-adds): a candidate
whose screen probability is below the screen threshold is not a mitotic figure and the
main network never sees it. A cascade of a cheap and an expensive stage, as in Viola &
Jones (2001, CVPR, "Rapid object detection using a boosted cascade of simple features")
and, for mitoses, Cireşan et al. (2013, MICCAI) and Chen et al. (2016, AAAI, "Mitosis
detection in breast cancer histology images via deep cascaded networks").

Candidates that pass are scored by the main network; those whose probability reaches
TTA_FROM are scored again as the mean over the 8 rotations and mirror images of the patch
(test-time augmentation; exact permutations of the sample grid, so the Rust forward pass
reproduces them), which calls fewer ordinary nuclei at the same recall (measured on the
tune split, `cascade` in train_result.json). With --second, a second network (train.py
--arch deep) scores those patches too, in the same 8 views, and the score is the mean of
the two networks' averages: an ensemble of two architectures (training/README.md). A
candidate's score is the probability of the last stage it reached.

Steps, all on the train and tune splits of DATA/patches.npz (the test split is never
loaded):
  1. train the screen with train.py's augmentation (same stain, JPEG, blur, 20x look,
     seams, rotation and scale), sampled at the screen's geometry;
  2. on the tune split: the decision threshold of the main network with the 8-view
     average is chosen as train.py chooses it (the highest that keeps tune crop recall
     >= TARGET_RECALL); the screen threshold is the highest that passes at least
     SCREEN_RECALL of the patches the main network then calls;
  3. the decision threshold of the whole cascade is chosen again by the same rule;
  4. writes MODEL again with the screen's tensors (`screen.*`) and metadata added
     (format_version 2), the reference patches for the Rust tests, and the `cascade`
     section of train_result.json.

Usage: screen.py [--data target/training] [--model models/mitosis-cnn.safetensors]
       [--second SECOND.safetensors]   (a second main network, train.py --arch deep)
       [--screen-from CASCADE.safetensors]   (development: reuse that file's screen
       instead of training one; train.sh always trains)
"""

import argparse
import hashlib
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

import train as T

SEED = 20261208
SCREEN_INPUT, SCREEN_STEP = 32, 2  # 32 samples, 2 stored px (0.5 um) apart: 16 um
SCREEN_ARCH = ([8, 16, 32, 48], [1, 1, 1, 1], [True, True, True, False])
SCREEN_EPOCHS = 14
SCREEN_NEG_PER_POS = 3.0
SCREEN_RECALL = 0.995
TTA_VIEWS = 8
TTA_FROM = 0.3  # single-view probability from which the 8 views are averaged


load_model = T.load_safetensors


def folded_forward(tensors, layers, x, prefix=""):
    """Forward pass of a folded network (as the Rust one): logits."""
    for i, l in enumerate(layers):
        x = F.relu(F.conv2d(x, tensors[f"{prefix}conv{i}.weight"], tensors[f"{prefix}conv{i}.bias"],
                            stride=l["stride"], padding=1))
        if l["pool_after"]:
            x = F.max_pool2d(x, 2)
    return (x.mean(dim=(2, 3)) @ tensors[f"{prefix}fc.weight"].T + tensors[f"{prefix}fc.bias"]).squeeze(1)


def views(x):
    """The 8 rotations and flips of a batch [B, C, H, W]: rotation k * 90 degrees
    (counter-clockwise as rows go up), then a left-right flip for odd views."""
    for k in range(4):
        r = torch.rot90(x, k, (2, 3))
        yield r
        yield torch.flip(r, (3,))


def screen_u8(u8):
    """uint8 [B, STORED, STORED, 3] -> the screen's uint8 patch [B, 32, 32, 3] as mitocount
    samples it from a 0.25 um/px patch: sample j at stored position 32.5 + 2 j, which is the
    mean of a 2 x 2 block, rounded to 8 bits (round half up, as patch.rs)."""
    o = (T.STORED - SCREEN_INPUT * SCREEN_STEP) // 2
    x = torch.from_numpy(np.ascontiguousarray(u8[:, o:T.STORED - o, o:T.STORED - o])).permute(0, 3, 1, 2).float()
    x = F.avg_pool2d(x, SCREEN_STEP)
    return torch.floor(x + 0.5).clamp(0, 255).permute(0, 2, 3, 1).to(torch.uint8).numpy()


def screen_input(u8_32):
    x = torch.from_numpy(np.ascontiguousarray(u8_32)).permute(0, 3, 1, 2).float() / 255.0
    return (x - T.INPUT_OFFSET) * T.INPUT_SCALE


@torch.no_grad()
def predict_main_views(tensors, layers, u8, batch=256, prefix="", n_views=TTA_VIEWS, prepare=None):
    """Probabilities [B, n_views] of a main network (tensors named `prefix` + ...) for the
    first n_views views of each patch: of its centre INPUT px (T.plain), or of what
    `prepare` makes of a uint8 batch."""
    prepare = prepare or T.plain
    out = []
    for k in range(0, len(u8), batch):
        x = prepare(u8[k:k + batch])
        out.append(torch.stack([torch.sigmoid(folded_forward(tensors, layers, v, prefix))
                                for _, v in zip(range(n_views), views(x))], 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, n_views), np.float32)


def main_stage(u8, main, second=None, views_from=TTA_FROM, n_views=TTA_VIEWS, prepare=None):
    """What the product scores patches the screen passed, as src/detect/cnn does: the main
    network's one-view probability, and from `views_from` the mean of its n_views views,
    averaged with the second network's mean when there is one. Networks are (tensors,
    layers, prefix). Returns (one-view probabilities, scores)."""
    pv = predict_main_views(main[0], main[1], u8, prefix=main[2], n_views=n_views, prepare=prepare)
    avg = pv.mean(1)
    if second is not None:
        avg = (avg + predict_main_views(second[0], second[1], u8, prefix=second[2], n_views=n_views,
                                        prepare=prepare).mean(1)) / 2
    return pv[:, 0], np.where(pv[:, 0] >= views_from, avg, pv[:, 0])


def train_screen(args, d, log, rng, pyrng, gen):
    """Trains the screen; its folded tensors (and `_seconds`, the training time)."""
    data, labels, pos, neg = d["data"], d["labels"], d["pos"], d["neg"]
    channels, strides, pool_after = SCREEN_ARCH
    model = T.Net(channels, strides, pool_after)
    per_epoch = len(pos) + int(len(pos) * SCREEN_NEG_PER_POS)
    steps = args.epochs * (per_epoch // T.BATCH) + 1
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    t0 = time.time()
    T.train_epochs(model, opt, sched, data, labels, pos, neg, None, args.epochs, rng, pyrng, gen, log,
                   d["p_low"], d["p_seam"], SCREEN_NEG_PER_POS, (SCREEN_INPUT, SCREEN_STEP), "screen epoch")
    model.eval()
    tensors = T.folded(model, "")
    tensors["_seconds"] = round(time.time() - t0)
    return tensors


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="target/training")
    ap.add_argument("--model", default="models/mitosis-cnn.safetensors",
                    help="the main model train.py wrote; rewritten with the screen added")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reference", default="tests/data/model")
    ap.add_argument("--epochs", type=int, default=SCREEN_EPOCHS)
    ap.add_argument("--limit", type=int, default=0, help="smoke test: use only this many patches")
    ap.add_argument("--screen-from", help="development: reuse the screen of this cascade model file")
    ap.add_argument("--second", help="a second main network (train.py's file, e.g. --arch deep) averaged with "
                    "the main one where the 8 views are")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    pyrng = random.Random(SEED)
    gen = torch.Generator().manual_seed(SEED)
    logf = open(os.path.join(args.data, "screen.log"), "w")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    main_t, meta = load_model(args.model)
    if meta.get("format_version") != "1" or any(k.startswith("screen.") for k in main_t):
        raise SystemExit(f"{args.model} already has a screen: run train.py first")
    T.INPUT = int(meta["input_px"])
    main_layers = json.loads(meta["layers"])
    d = T.training_sets(args.data, args.limit, log)
    data, labels, kinds = d["data"], d["labels"], d["kinds"]
    tu, pos, neg = d["tu"], d["pos"], d["neg"]

    # 1. The screen, with train.py's augmentation at its geometry.
    channels, strides, pool_after = SCREEN_ARCH
    screen_layers = [{"op": "conv", "name": f"conv{i}", "stride": s, "pool_after": p}
                     for i, (s, p) in enumerate(zip(strides, pool_after))]
    if args.screen_from:
        reused, _ = load_model(args.screen_from)
        screen_t = {k[len("screen."):]: v for k, v in reused.items() if k.startswith("screen.")}
        train_s = 0
        log(f"screen reused from {args.screen_from}")
    else:
        screen_t = train_screen(args, d, log, rng, pyrng, gen)
        train_s = screen_t.pop("_seconds")

    # 2. Thresholds on the tune split: the main network's (one view, then 8 views from
    # TTA_FROM), then the screen's, then the whole cascade's.
    y_tu = labels[tu]
    with torch.no_grad():
        s_screen = torch.sigmoid(folded_forward(screen_t, screen_layers, screen_input(screen_u8(data[tu])))).numpy()
    main_net, second_net = (main_t, main_layers, ""), None
    if args.second:
        second_t, second_meta = load_model(args.second)
        for k in ("format_version", "input_px", "input_mpp_um", "input_offset", "input_scale"):
            if second_meta.get(k) != meta.get(k):
                raise SystemExit(f"{args.second}: {k} {second_meta.get(k)} differs from {args.model}'s {meta.get(k)}")
        second_layers = json.loads(second_meta["layers"])
        second_net = (second_t, second_layers, "")
        log(f"second network {args.second} ({second_meta.get('arch')}, seed {second_meta.get('seed')}) averaged "
            f"with the main one where the views are")
    p_main1, stage2 = main_stage(data[tu], main_net, second_net)

    def choose(scores, floor):
        table, best = [], None
        for thr in np.round(np.arange(0.05, 0.991, 0.01), 2):
            measures = T.crop_level(scores, d, tu, thr)
            table.append(T.tune_row(thr, measures))
            if measures[0] >= T.TARGET_RECALL:
                best = float(thr)
        return max(best if best is not None else 0.05, floor), table

    thr2, _ = choose(stage2, TTA_FROM)
    called2 = stage2 >= thr2
    screen_thr = 0.0
    for thr in np.round(np.arange(0.001, 0.5, 0.001), 3):
        if (s_screen[called2] >= thr).mean() >= SCREEN_RECALL:
            screen_thr = float(thr)
    passed = s_screen >= screen_thr
    log(f"screen threshold {screen_thr}: passes {passed[called2].mean():.4f} of the main network's tune calls, "
        f"{passed[y_tu == 1].mean():.4f} of tune positives, {passed[y_tu == 0].mean():.4f} of tune negatives")
    cascade = np.where(passed, stage2, s_screen)
    chosen, table = choose(cascade, max(TTA_FROM, screen_thr))
    r, fpmm, pl = T.crop_level(cascade, d, tu, chosen)
    r1, fp1, _ = T.crop_level(p_main1, d, tu, float(meta["threshold"]))
    log(f"main network alone, one view, at {meta['threshold']}: tune crop recall {r1:.3f}, {fp1:.1f} off-centre calls "
        f"per mm^2; cascade at {chosen}: {r:.3f}, {fpmm:.1f} ({pl:.1f} product-like); 8 views for {np.mean(passed & (p_main1 >= TTA_FROM)):.3f} "
        f"of tune patches")

    # 4. The combined model file, reference patches and the record.
    screen_layers = [{"op": "conv", "name": f"conv{i}", "stride": s, "pool_after": p}
                     for i, (s, p) in enumerate(zip(strides, pool_after))]
    meta2 = dict(meta)
    meta2.update({
        "format_version": 2, "threshold": chosen, "main_threshold_single_view": meta["threshold"],
        "tta_views": TTA_VIEWS, "tta_from": TTA_FROM, "screen_input_px": SCREEN_INPUT, "screen_input_mpp_um": 0.25 * SCREEN_STEP,
        "screen_layers": json.dumps(screen_layers), "screen_threshold": screen_thr, "screen_seed": SEED,
    })
    tensors = dict(main_t)
    tensors.update({"screen." + k: v for k, v in screen_t.items()})
    if second_net is not None:
        tensors.update({"second." + k: v for k, v in second_t.items()})
        meta2.update({"second_layers": json.dumps(second_layers), "second_arch": second_meta.get("arch", ""),
                      "second_seed": second_meta.get("seed", ""),
                      "second_threshold_single_view": second_meta["threshold"]})
    sha = T.save(tensors, args.model, meta2)
    log(f"wrote {args.model} sha256 {sha}")

    ref_path = os.path.join(args.reference, "reference.json")
    ref = json.load(open(ref_path))
    ref_u8 = np.fromfile(os.path.join(args.reference, "reference.u8"), np.uint8).reshape(-1, T.INPUT, T.INPUT, 3)
    ref_idx = [int(np.where(tu == i)[0][0]) for i in ref_index(tu, kinds)]
    assert np.array_equal(np.ascontiguousarray(data[tu][ref_idx][:, (T.STORED - T.INPUT) // 2:(T.STORED + T.INPUT) // 2,
                                                              (T.STORED - T.INPUT) // 2:(T.STORED + T.INPUT) // 2]), ref_u8)
    _, tta = main_stage(data[tu][ref_idx], main_net, second_net)
    with torch.no_grad():
        su8 = screen_u8(data[tu][ref_idx])
        sprob = torch.sigmoid(folded_forward(screen_t, screen_layers, screen_input(su8)))
    su8.tofile(os.path.join(args.reference, "reference_screen.u8"))
    ref.update({"sha256": sha, "threshold": chosen, "probabilities_single_view": ref["probabilities"],
                "probabilities": [float(v) for v in tta], "screen_input_px": SCREEN_INPUT,
                "tta_from": TTA_FROM, "screen_threshold": screen_thr, "screen_probabilities": [float(v) for v in sprob]})
    with open(ref_path, "w") as f:
        json.dump(ref, f, indent=1)

    res_path = os.path.join(args.data, "train_result.json")
    res = json.load(open(res_path))
    by_kind = {}
    for k in sorted(set(kinds[tu].tolist())):
        m = kinds[tu] == k
        by_kind[k] = {"patches": int(m.sum()), "screen_passed_fraction": round(float(passed[m].mean()), 4),
                      "called_fraction": round(float(np.mean(cascade[m] >= chosen)), 4)}
    res.update({"sha256": sha, "threshold": chosen, "tune_recall": r, "tune_false_calls_per_mm2": fpmm,
                "tune_product_like_false_calls_per_mm2": pl,
                "meta": meta2,
                "cascade": {
                    "screen_threshold": screen_thr, "screen_epochs": 0 if args.screen_from else args.epochs, "screen_seconds": round(train_s),
                    "screen_multiply_adds": multiply_adds(SCREEN_INPUT, channels, strides, pool_after),
                    "second": None if second_net is None else {
                        "arch": second_meta.get("arch", ""), "seed": second_meta.get("seed", ""),
                        "layers": second_layers, "multiply_adds": multiply_adds(
                            T.INPUT, [second_t[f"conv{i}.weight"].shape[0] for i in range(len(second_layers))],
                            [l["stride"] for l in second_layers], [l["pool_after"] for l in second_layers]),
                        "sha256_of_its_file": hashlib.sha256(open(args.second, "rb").read()).hexdigest()},
                    "tta_from": TTA_FROM, "main_tta_threshold": thr2,
                    "tune_screen_pass_main_calls": round(float(passed[called2].mean()), 4),
                    "tune_screen_pass_positives": round(float(passed[y_tu == 1].mean()), 4),
                    "tune_screen_pass_negatives": round(float(passed[y_tu == 0].mean()), 4),
                    "main_alone": {"threshold": float(meta["threshold"]), "tune_recall": r1,
                                   "tune_false_calls_per_mm2": fp1},
                    "tune_table": table, "tune_by_kind": by_kind}})
    with open(res_path, "w") as f:
        json.dump(res, f, indent=1)


def ref_index(tu, kinds):
    """The patches train.py chose as reference patches (same rule)."""
    k = kinds[tu]
    return np.concatenate([tu[k == "md-crop-centre"][:4], tu[k == "br-crop-centre"][:4],
                           tu[k == "md-crop-nucleus"][:4], tu[k == "br-crop-nucleus"][:4]])


def multiply_adds(side, channels, strides, pool_after):
    total, cin = 0, 3
    for cout, s, p in zip(channels, strides, pool_after):
        side = (side - 1) // s + 1
        total += side * side * cout * cin * 9
        if p:
            side //= 2
        cin = cout
    return total + cin


if __name__ == "__main__":
    main()
