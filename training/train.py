#!/usr/bin/env python3
"""Train the mitosis patch classifier and export it for mitocount (pure-Rust inference).

Reads OUT/patches.npz from prepare.py (train and tune splits only; the test split is
never loaded), trains a small convolutional network on CPU with fixed seeds, mines hard
negatives and trains on, chooses the decision threshold on the tune split, and writes
models/mitosis-cnn.safetensors (batch norm folded into the convolutions) with the model
card data in OUT/train_result.json.

Network (wide, the default: input 80 x 80 RGB at 0.25 um/px, 20 um, enough to see the
cell around the figure): five 3x3 convolutions with batch norm and ReLU (24 and 32
channels at stride 2, then 64, 96 and 128 with 2x2 max pooling after the 3rd and 4th),
global average pooling, one linear output (logit); about 19.5 M multiply-adds per patch.
`--arch lean` (64 px, 7.8 M) and `base` (64 px, 15 M) are smaller; `deep` (80 px, seven
convolutions of 32-192 channels, 66 M) is larger (tried 2026-12-07: training/README.md).
A small VGG-style network (Simonyan & Zisserman 2015, arXiv:1409.1556) with batch
normalisation (Ioffe & Szegedy 2015, arXiv:1502.03167), trained with AdamW (Loshchilov &
Hutter 2019, arXiv:1711.05101) and a one-cycle schedule.

Augmentation, applied alike to both classes: any rotation and flips, scale 0.9-1.1, shifts
of up to 2 px, stain jitter in HED space (Ruifrok & Johnston 2001; Tellez et al. 2018,
IEEE TMI 37(9):2126, "Whole-slide mitosis detection in H&E breast histology using PHH3 as
a reference to train distilled stain-invariant convolutional networks"), brightness and
contrast, JPEG re-compression at quality 30-90, slight blur, a 20x look (down-sampled by
2 and back), and seams (white, black or another patch's pixels beyond a line near the
centre). Natural seams (the crop edges of a mosaic, the end of a small image) and natural
20x blur occur only around negatives in the data, so the seam and the 20x look are given
per patch with the probability that makes each as common among positives as among
negatives: neither can tell the classes apart.

Usage: train.py [--data target/training] [--model models/mitosis-cnn.safetensors]
"""

import argparse
import hashlib
import io
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

SEED = 20261207
STORED = 128
# Architectures (input px, channels, strides, 2x2 max pooling after), multiply-adds per
# patch: "lean" 7.8 M, "base" 15 M, "wide" (the default) 19.5 M, "deep" 66 M.
ARCHS = {
    "lean": (64, [16, 32, 48, 64, 96], [2, 2, 1, 1, 1], [False, False, True, True, False]),
    "base": (64, [16, 32, 64, 96, 128], [2, 1, 1, 1, 1], [False, True, True, True, False]),
    "wide": (80, [24, 32, 64, 96, 128], [2, 2, 1, 1, 1], [False, False, True, True, False]),
    "deep": (80, [32, 32, 64, 64, 128, 128, 192], [2, 1, 1, 1, 1, 1, 1],
             [False, True, False, True, False, True, False]),
}
INPUT, CHANNELS, STRIDES, POOL_AFTER = ARCHS["wide"]
EPOCHS_1 = 36
EPOCHS_2 = 14
BATCH = 128
NEG_PER_POS = 2.0
HARD_FRACTION = 0.15
HARD_WEIGHT = 4.0
TARGET_RECALL = 0.87  # tune-split crop recall the threshold keeps (0.85 asked, 0.02 margin)
INPUT_OFFSET, INPUT_SCALE = 0.5, 4.0  # x = (rgb / 255 - offset) * scale

# Ruifrok & Johnston stain matrix (rows H, E, residual; RGB OD), as skimage rgb2hed.
HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], np.float32)
HED /= np.linalg.norm(HED, axis=1, keepdims=True)
HED_INV = np.linalg.inv(HED).astype(np.float32)


class Net(nn.Module):
    def __init__(self, channels=None, strides=None, pool_after=None):
        super().__init__()
        layers = []
        cin = 3
        channels, strides = channels or CHANNELS, strides or STRIDES
        pool_after = pool_after or POOL_AFTER
        for cout, stride, pool in zip(channels, strides, pool_after):
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool2d(2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(cin, 1)

    def forward(self, x):
        x = self.features(x)
        x = x.mean(dim=(2, 3))
        return self.fc(self.drop(x)).squeeze(1)


def jpeg(batch_u8, rng):
    """JPEG re-compression at quality 30-90 of half the patches (in place)."""
    for i in range(len(batch_u8)):
        if rng.random() < 0.5:
            buf = io.BytesIO()
            Image.fromarray(batch_u8[i]).save(buf, "JPEG", quality=rng.randint(30, 90))
            batch_u8[i] = np.asarray(Image.open(buf).convert("RGB"))
    return batch_u8


def augment(u8, p_low, p_seam, rng, gen, out_px=None, step_px=1.0):
    """uint8 [B, STORED, STORED, 3] -> float [B, 3, out_px, out_px], the network's input:
    out_px (default INPUT) samples spaced step_px stored pixels apart (2 for the screen's
    0.5 um/px)."""
    out_px = out_px or INPUT
    b = len(u8)
    u8 = jpeg(u8.copy(), rng)
    x = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255.0
    # Stain jitter in HED optical density.
    od = -torch.log(x.clamp(min=1.0 / 255.0))
    hed = torch.einsum("bchw,cd->bdhw", od, torch.from_numpy(HED_INV))
    alpha = 1.0 + (torch.rand(b, 3, 1, 1, generator=gen) * 2 - 1) * torch.tensor([0.35, 0.35, 0.2]).view(1, 3, 1, 1)
    beta = (torch.rand(b, 3, 1, 1, generator=gen) * 2 - 1) * torch.tensor([0.06, 0.06, 0.03]).view(1, 3, 1, 1)
    hed = hed * alpha + beta
    od = torch.einsum("bdhw,dc->bchw", hed, torch.from_numpy(HED))
    x = torch.exp(-od).clamp(0, 1)
    # Brightness and contrast.
    c = 1.0 + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * 0.15
    br = (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * 0.08
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * c + mean + br).clamp(0, 1)
    # 20x look: box down-sampling by 2 and bilinear back, with a probability per patch
    # that gives both classes the same share of 20x-looking patches.
    low = torch.rand(b, generator=gen) < torch.from_numpy(p_low)
    if low.any():
        y = F.avg_pool2d(x[low], 2)
        x[low] = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
    # Seams, with a probability per patch that gives both classes the same share of
    # patches with a seam: beyond a line 4-40 px from the centre, another patch's pixels
    # (90 %, as a neighbouring crop of a mosaic) or black (10 %, a crop's padding); and,
    # independently and for every patch alike, white beyond such a line for 15 % (glass,
    # a lumen, the end of the tissue). Before the rotation, so seams turn with the patch.
    c0 = STORED // 2

    def paste(i, fill):
        d = rng.randint(4, INPUT // 2)
        sl = [(slice(None), slice(None), slice(c0 + d, STORED)), (slice(None), slice(None), slice(0, c0 - d)),
              (slice(None), slice(c0 + d, STORED), slice(None)), (slice(None), slice(0, c0 - d), slice(None))][rng.randrange(4)]
        x[i][sl] = fill[sl]

    for i in range(b):
        if rng.random() < p_seam[i]:
            paste(i, x[rng.randrange(b)].clone() if rng.random() < 0.9 else torch.zeros_like(x[i]))
        if rng.random() < 0.15:
            paste(i, torch.ones_like(x[i]))
    # Rotation (any angle), flip, scale 0.9-1.1, shift up to 2 px; out_px samples around the centre.
    ang = torch.rand(b, generator=gen) * 2 * math.pi
    sc = 0.9 + torch.rand(b, generator=gen) * 0.2
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (2.0 / (STORED / 2))
    ratio = out_px * step_px / STORED / sc
    cos, sin = torch.cos(ang) * ratio, torch.sin(ang) * ratio
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, (b, 3, out_px, out_px), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (x - INPUT_OFFSET) * INPUT_SCALE


def plain(u8):
    """uint8 [B, STORED, STORED, 3] -> the centre INPUT x INPUT as network input, no augmentation."""
    o = (STORED - INPUT) // 2
    x = torch.from_numpy(np.ascontiguousarray(u8[:, o:o + INPUT, o:o + INPUT])).permute(0, 3, 1, 2).float() / 255.0
    return (x - INPUT_OFFSET) * INPUT_SCALE


@torch.no_grad()
def predict(model, u8, batch=512):
    model.eval()
    out = []
    for k in range(0, len(u8), batch):
        out.append(torch.sigmoid(model(plain(u8[k:k + batch]))).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def epoch_indices(pos, neg, weights, rng, neg_per_pos=NEG_PER_POS):
    """One epoch's patches: every positive and neg_per_pos times as many negatives, drawn
    by weight (uniformly when weights is None: numpy's unweighted draw, another random
    stream than p=uniform), shuffled."""
    n_neg = min(int(len(pos) * neg_per_pos), len(neg))
    if weights is None:
        chosen = rng.choice(neg, size=n_neg, replace=False)
    else:
        chosen = rng.choice(neg, size=n_neg, replace=False, p=weights / weights.sum())
    idx = np.concatenate([pos, chosen])
    rng.shuffle(idx)
    return idx


def train_epochs(model, opt, sched, data, labels, pos, neg, weights, epochs, rng, pyrng, gen, log, p_low, p_seam,
                 neg_per_pos=NEG_PER_POS, geometry=(None, 1.0), name="epoch"):
    """Trains for epochs; geometry = (out_px, step_px) of the network's input (augment)."""
    for ep in range(epochs):
        model.train()
        idx = epoch_indices(pos, neg, weights, rng, neg_per_pos)
        t0, total, n = time.time(), 0.0, 0
        for k in range(0, len(idx) - BATCH + 1, BATCH):
            bi = np.sort(idx[k:k + BATCH])
            x = augment(data[bi], p_low[bi], p_seam[bi], pyrng, gen, *geometry)
            y = torch.from_numpy(labels[bi].astype(np.float32))
            loss = F.binary_cross_entropy_with_logits(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(bi)
            n += len(bi)
        log(f"{name} {ep + 1}/{epochs}: loss {total / max(n, 1):.4f}, {time.time() - t0:.0f} s")


def training_sets(data_dir, limit, log):
    """Loads DATA/patches.npz (refusing test patches) and returns the train and tune
    indices, positives and negatives, and the per-patch probabilities of the 20x look and
    of a seam that make each equally common in both classes."""
    z = np.load(os.path.join(data_dir, "patches.npz"))
    splits = z["splits"]
    if "test" in set(splits.tolist()):
        raise SystemExit("patches.npz holds test patches: the test split must not reach training")
    data, labels, kinds, sources = z["patches"], z["labels"], z["kinds"], z["sources"]
    edges = z["edges"]
    # Distances from the crop's labelled mitosis and from other crops' (prepare.py); absent
    # from a patches.npz written before 2026-12-07 evening.
    n = len(labels)
    centre_um = z["centre_um"] if "centre_um" in z.files else np.full(n, np.nan, np.float32)
    other_um = z["other_um"] if "other_um" in z.files else np.full(n, np.inf, np.float32)
    if limit:
        keep = np.random.default_rng(0).permutation(len(labels))[:limit]
        keep.sort()
        data, labels, kinds, sources, splits, edges, centre_um, other_um = (
            a[keep] for a in (data, labels, kinds, sources, splits, edges, centre_um, other_um))
    # Candidates of whole images (not mosaics) whose window leaves the image would show
    # white beyond the image's end, which only negatives would have: left out.
    image_edge = np.array([str(k).startswith("benign-") for k in kinds]) & edges
    tr = np.where((splits == "train") & ~image_edge)[0]
    tu = np.where((splits == "tune") & ~image_edge)[0]
    pos = tr[labels[tr] == 1]
    neg = tr[labels[tr] == 0]
    # Per-patch probabilities of the 20x look and of a pasted seam, so that each is as
    # common among positives as among negatives (natural ones counted): the network
    # cannot learn "blurred" or "seam" as "not a mitosis".
    native20 = np.array([str(k).startswith("benign-") for k in kinds])
    base_low, base_seam = 0.3, 0.25
    e20 = float(native20[neg].mean())
    eseam = float(edges[neg].mean())
    want_low = e20 + (1 - e20) * base_low
    want_seam = eseam + (1 - eseam) * base_seam
    p_low = np.where(native20, 0.0, np.where(labels == 1, want_low, base_low)).astype(np.float32)
    p_seam = np.where(edges, 0.0, np.where(labels == 1, want_seam, base_seam)).astype(np.float32)
    log(f"negatives: {e20:.3f} from 20x images, {eseam:.3f} with a natural seam; positives get the 20x look "
        f"with p {want_low:.3f} and a seam with p {want_seam:.3f}")
    log(f"train: {len(pos)} positive, {len(neg)} negative patches; tune: {len(tu)} patches")
    return {"data": data, "labels": labels, "kinds": kinds, "sources": sources, "tr": tr,
            "tu": tu, "pos": pos, "neg": neg, "p_low": p_low, "p_seam": p_seam, "image_edge": image_edge,
            "centre_um": centre_um, "other_um": other_um}


MERGE_UM = 20.0  # the product merges calls this close into one (src/detect, models/README.md)
MATCH_UM = 7.5  # a call this close to a labelled mitosis is on it (evaluate.py)


def crop_level(scores, d, idx, thr):
    """The tune-split measures at a threshold, for the patches idx of training_sets' d
    scored `scores`: crop recall; off-centre candidates called per mm^2 of crop (crop
    nuclei more than 10 um from the crop's labelled mitosis, patch by patch); and the calls
    per mm^2 the product would count as unmatched: a called crop nucleus more than
    MERGE_UM from the crop's mitosis and not on another crop's labelled figure, those
    within MERGE_UM once per crop and only where the mitosis itself is not called
    (otherwise the product merges them into its call). The off-centre candidates are
    mostly such halves and fragments of the labelled figure (training/README.md). The last
    is NaN when patches.npz has no distances."""
    sources, kinds = d["sources"][idx], d["kinds"][idx]
    centre_um, other_um = d["centre_um"][idx], d["other_um"][idx]
    hit, crops, off_centre = {}, set(), 0
    for s, src, k in zip(scores, sources, kinds):
        if k.endswith("crop-centre"):
            crops.add(src)
        elif k.endswith("-candidate-mitosis"):  # at the crop's centre (not another crop's figure)
            hit[src] = hit.get(src, False) or s >= thr
        elif k.endswith("crop-nucleus"):
            off_centre += s >= thr
    near, far = set(), 0
    for s, src, k, dc, do in zip(scores, sources, kinds, centre_um, other_um):
        if k.endswith("crop-nucleus") and s >= thr and do > MATCH_UM:
            if dc > MERGE_UM:
                far += 1
            elif not hit.get(src, False):
                near.add(src)
    recall = sum(hit.get(c, False) for c in crops) / max(len(crops), 1)
    area_mm2 = len(crops) * (128 * 0.25 / 1000.0) ** 2
    product_like = float("nan") if np.isnan(centre_um).all() else (far + len(near)) / area_mm2
    return recall, off_centre / area_mm2, product_like


def tune_row(thr, measures):
    """One row of a tune table (train_result.json, the model card) from crop_level's measures."""
    r, off_centre, product_like = measures
    return {"threshold": float(thr), "recall": round(r, 4), "false_calls_per_mm2": round(off_centre, 1),
            "product_like_false_calls_per_mm2": round(product_like, 1)}


def folded(model, prefix=""):
    """The network's tensors with batch norm folded into the convolutions, names prefixed."""
    tensors = {}
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    for i, (conv, bn) in enumerate(zip(convs, bns)):
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        tensors[f"{prefix}conv{i}.weight"] = (conv.weight * s[:, None, None, None]).detach()
        tensors[f"{prefix}conv{i}.bias"] = (bn.bias - bn.running_mean * s).detach()
    tensors[f"{prefix}fc.weight"] = model.fc.weight.detach()
    tensors[f"{prefix}fc.bias"] = model.fc.bias.detach()
    return tensors


def fold_and_save(model, path, meta):
    """Folds batch norm into the convolutions and writes a safetensors file."""
    return save(folded(model), path, meta)


def load_safetensors(path):
    """Tensors (name -> torch F32) and string metadata of a safetensors file as save writes it."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    base = 8 + n
    tensors = {k: torch.from_numpy(np.frombuffer(raw[base + v["data_offsets"][0]:base + v["data_offsets"][1]],
                                                 "<f4").reshape(v["shape"]).copy()) for k, v in header.items()}
    return tensors, meta


def save(tensors, path, meta):
    """Writes tensors (name -> torch or numpy F32) and string metadata as safetensors; its SHA-256."""
    header = {"__metadata__": {k: str(v) for k, v in meta.items()}}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        t = tensors[name]
        arr = np.ascontiguousarray(t.contiguous().numpy() if torch.is_tensor(t) else t).astype("<f4")
        b = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="target/training")
    ap.add_argument("--model", default="models/mitosis-cnn.safetensors")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reference", default="tests/data/model", help="where the Rust tests' reference patches go")
    ap.add_argument("--epochs", type=int, nargs=2, default=[EPOCHS_1, EPOCHS_2],
                    help="epochs of the first round and of the hard-negative round")
    ap.add_argument("--rounds", type=int, default=2,
                    help="training rounds: the first, then rounds-1 hard-negative rounds of the second round's epochs, "
                         "each mining the negatives the model so far scores highest")
    ap.add_argument("--limit", type=int, default=0, help="smoke test: use only this many patches")
    ap.add_argument("--arch", choices=sorted(ARCHS), default="wide")
    ap.add_argument("--seed", type=int, default=SEED, help="random seed (the shipped model's is the default)")
    ap.add_argument("--record", default="train",
                    help="its log and record go to DATA/RECORD.log and DATA/RECORD_result.json (train.sh trains the "
                         "second network of the ensemble with --record second)")
    args = ap.parse_args()
    epochs_1, epochs_2 = args.epochs
    global INPUT, CHANNELS, STRIDES, POOL_AFTER
    INPUT, CHANNELS, STRIDES, POOL_AFTER = ARCHS[args.arch]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    pyrng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    logf = open(os.path.join(args.data, f"{args.record}.log"), "w")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    d = training_sets(args.data, args.limit, log)
    data, labels, kinds, sources = d["data"], d["labels"], d["kinds"], d["sources"]
    tr, tu, pos, neg, p_low, p_seam = d["tr"], d["tu"], d["pos"], d["neg"], d["p_low"], d["p_seam"]
    image_edge = d["image_edge"]

    model = Net()
    steps = lambda epochs: epochs * ((len(pos) + int(len(pos) * NEG_PER_POS)) // BATCH)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps(epochs_1) + 1)
    weights = np.ones(len(neg))
    t0 = time.time()
    log("round 1")
    train_epochs(model, opt, sched, data, labels, pos, neg, weights, epochs_1, rng, pyrng, gen, log, p_low, p_seam)

    hard_kinds = {}
    for rnd in range(2, args.rounds + 1):
        if rnd > 2:
            # The model before this round, for comparison (not shipped).
            sha_before = fold_and_save(model, os.path.join(args.data, f"round{rnd - 1}.safetensors"),
                                       {"format": "mitocount-round", "round": rnd - 1})
            log(f"round {rnd - 1} model sha256 {sha_before}")
        # Hard negatives: the train negatives the model so far scores highest weigh more
        # (and keep the weight they had in earlier rounds).
        s_neg = predict(model, data[neg])
        cut = np.quantile(s_neg, 1 - HARD_FRACTION)
        weights = np.maximum(weights, np.where(s_neg >= cut, HARD_WEIGHT, 1.0))
        hard_kinds = {}
        for k in kinds[neg][s_neg >= cut]:
            hard_kinds[str(k)] = hard_kinds.get(str(k), 0) + 1
        log(f"hard negatives (score >= {cut:.3f}): {hard_kinds}")
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps(epochs_2) + 1)
        log(f"round {rnd}")
        train_epochs(model, opt, sched, data, labels, pos, neg, weights, epochs_2, rng, pyrng, gen, log, p_low,
                     p_seam)
    train_s = time.time() - t0

    # Threshold on the tune split: the highest that keeps crop recall >= TARGET_RECALL.
    s_tu = predict(model, data[tu])
    table = []
    chosen = None
    for thr in np.round(np.arange(0.05, 0.991, 0.01), 2):
        measures = crop_level(s_tu, d, tu, thr)
        table.append(tune_row(thr, measures))
        if measures[0] >= TARGET_RECALL:
            chosen = float(thr)
    if chosen is None:
        chosen = 0.05
    log("tune split: " + json.dumps([t for t in table if abs(t["threshold"] * 20 - round(t["threshold"] * 20)) < 1e-6]))
    r, fpmm, pl = crop_level(s_tu, d, tu, chosen)
    log(f"threshold {chosen}: tune crop recall {r:.3f}, {fpmm:.1f} off-centre candidates called per mm^2 of crop, "
        f"{pl:.1f} product-like false calls per mm^2")
    by_kind = {}
    for k in sorted(set(kinds[tu].tolist())):
        m = kinds[tu] == k
        by_kind[k] = {"patches": int(m.sum()), "called_fraction": round(float(np.mean(s_tu[m] >= chosen)), 4)}
    log("tune by kind: " + json.dumps(by_kind))
    s_neg_all = predict(model, data[neg])
    train_neg = {}
    for k in sorted(set(kinds[neg].tolist())):
        m = kinds[neg] == k
        train_neg[k] = round(float(np.mean(s_neg_all[m] >= chosen)), 4)
    log("train negatives called (in-sample): " + json.dumps(train_neg))

    meta = {
        "format": "mitocount-cnn", "format_version": 1, "name": "mitosis-cnn",
        "version": time.strftime("%Y-%m-%d"), "input_px": INPUT, "input_mpp_um": 0.25,
        "input_offset": INPUT_OFFSET, "input_scale": INPUT_SCALE,
        "layers": json.dumps([{"op": "conv", "name": f"conv{i}", "stride": s, "pool_after": p}
                              for i, (s, p) in enumerate(zip(STRIDES, POOL_AFTER))]),
        "threshold": chosen, "seed": args.seed, "arch": args.arch,
    }
    os.makedirs(os.path.dirname(args.model) or ".", exist_ok=True)
    sha = fold_and_save(model, args.model, meta)
    log(f"wrote {args.model} sha256 {sha}")
    # Reference patches for the Rust tests (tests/data/model/): the first 8 tune-split
    # crop centres and the first 8 tune-split crop nuclei, their centre INPUT x INPUT px, with
    # the probabilities PyTorch gives them (the Rust forward pass must reproduce them).
    ref = np.concatenate([tu[kinds[tu] == "md-crop-centre"][:4], tu[kinds[tu] == "br-crop-centre"][:4],
                          tu[kinds[tu] == "md-crop-nucleus"][:4], tu[kinds[tu] == "br-crop-nucleus"][:4]])
    o = (STORED - INPUT) // 2
    os.makedirs(args.reference, exist_ok=True)
    np.ascontiguousarray(data[ref][:, o:o + INPUT, o:o + INPUT]).tofile(os.path.join(args.reference, "reference.u8"))
    with open(os.path.join(args.reference, "reference.json"), "w") as f:
        json.dump({"sha256": sha, "threshold": chosen, "input_px": INPUT,
                   "labels": [int(v) for v in labels[ref]], "kinds": [str(k) for k in kinds[ref]],
                   "sources": [str(v) for v in sources[ref]],
                   "probabilities": [float(v) for v in predict(model, data[ref])]}, f, indent=1)
    with open(os.path.join(args.data, f"{args.record}_result.json"), "w") as f:
        json.dump({"sha256": sha, "threshold": chosen, "tune_recall": r, "tune_false_calls_per_mm2": fpmm,
                   "tune_product_like_false_calls_per_mm2": pl,
                   "tune_table": table, "tune_by_kind": by_kind, "train_negatives_called": train_neg,
                   "hard_negatives": hard_kinds, "train_positive": int(len(pos)), "train_negative": int(len(neg)),
                   "tune_patches": int(len(tu)), "train_seconds": round(train_s), "meta": meta,
                   "image_edge_left_out": int(image_edge.sum()),
                   "torch": torch.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
