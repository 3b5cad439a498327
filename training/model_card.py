#!/usr/bin/env python3
"""Write the model card (models/README.md) from what prepare.py, train.py and
evaluate.py recorded in target/training/.

Usage: model_card.py [--data target/training] [--model models/mitosis-cnn.safetensors] [--out models/README.md]
"""

import argparse
import hashlib
import json
import os


OFF_CENTRE = """"Off-centre candidates" are the crops' candidates more than 10 µm from the crop's
labelled mitosis, patch by patch: the crops' other nuclei. Those called lie at the same
distances from the mitosis as all of them (10-25 µm), not nearer, so they are look-alikes,
not the other half of the figure (`training/README.md`; an earlier card said the opposite,
misled by the crop's size: in a 32 µm crop nearly every nucleus is within 20 µm of its
centre). This is the tune measure that compares two models' specificity; the threshold
rule uses recall only. Where the table has it, "product-like false calls" counts from the
same patches what the Scores table's unmatched calls count: a called nucleus more than 20
µm from the crop's mitosis and not on another crop's labelled figure, and those nearer only
once per crop and only where the mitosis itself is not called (the product merges them
into that call), so on crops it misses most look-alike calls."""


def table(rows, cols):
    out = ["| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(str(c[1](r)) for c in cols) + " |")
    return "\n".join(out)


def tune_table(rows, chosen):
    """A tune table of train.py / screen.py at every 0.05 and at the chosen threshold; the
    product-like column where the rows have it (patches.npz written since 2026-12-07
    evening)."""
    rows = [t for t in rows if round(t["threshold"] * 20) == t["threshold"] * 20 or t["threshold"] == chosen]
    cols = [("threshold", lambda r: r["threshold"]), ("tune crop recall", lambda r: r["recall"]),
            ("tune off-centre candidates called per mm² of crop", lambda r: r["false_calls_per_mm2"])]
    if "product_like_false_calls_per_mm2" in rows[0]:
        cols.append(("tune product-like false calls per mm²", lambda r: r["product_like_false_calls_per_mm2"]))
    return table(rows, cols)


def interval(ci):
    """An interval [lo, hi] as text; empty when the evaluation had none."""
    return f"{ci[0]}-{ci[1]}" if ci else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="target/training")
    ap.add_argument("--model", default="models/mitosis-cnn.safetensors")
    ap.add_argument("--out", default="models/README.md")
    args = ap.parse_args()
    tr = json.load(open(os.path.join(args.data, "train_result.json")))
    ev = json.load(open(os.path.join(args.data, "evaluation.json")))
    ds = json.load(open(os.path.join(args.data, "data_summary.json")))
    sc_path = os.path.join(args.data, "shortcut_check.json")
    sc = json.load(open(sc_path)) if os.path.exists(sc_path) else None
    sha = hashlib.sha256(open(args.model, "rb").read()).hexdigest()
    if sha != tr["sha256"]:
        raise SystemExit(f"{args.model} (sha256 {sha}) is not the model train.py wrote ({tr['sha256']})")
    m = tr["meta"]
    size_kb = os.path.getsize(args.model) / 1024
    splits = table(sorted(ds["splits"].items()), [
        ("dataset / split", lambda r: r[0]), ("crops", lambda r: r[1]["crops"]),
        ("atypical", lambda r: r[1]["atypical"]), ("mosaics", lambda r: r[1]["mosaics"])])
    patches = table(sorted(ds["patches"].items()), [("split / kind", lambda r: r[0]), ("patches", lambda r: r[1])])
    mos = table(sorted(ev["mosaics"].items()), [
        ("test split", lambda r: r[0]), ("crops", lambda r: r[1]["crops"]), ("recall", lambda r: r[1]["recall"]),
        ("recall 95 % interval", lambda r: interval(r[1].get("recall_95ci"))),
        ("recall atypical", lambda r: r[1]["recall_atypical"]),
        ("unmatched calls per mm²", lambda r: r[1]["unmatched_calls_per_mm2"]),
        ("unmatched calls", lambda r: r[1].get("unmatched_calls", "")),
        ("per mm², 95 % interval", lambda r: interval(r[1].get("unmatched_calls_per_mm2_95ci"))),
        ("same, other crops' labelled mitoses counted as unmatched",
         lambda r: r[1].get("unmatched_calls_per_mm2_centres_only", "")),
        ("calls on other crops' labelled mitoses / such figures",
         lambda r: f'{r[1].get("calls_on_other_labelled_figures", "")} / {r[1].get("other_labelled_figures", "")}'),
        ("crops with a call > 15 µm off centre", lambda r: r[1]["crops_with_call_over_15um_off"])])
    look = [r for r in sorted(ev["mosaics"].items()) if "crop_nuclei" in r[1]]
    lookalike = table(look, [
        ("test split", lambda r: r[0]), ("crop nuclei", lambda r: r[1]["crop_nuclei"]),
        ("called", lambda r: r[1]["crop_nuclei_called"]),
        ("share called", lambda r: f'{100 * r[1]["crop_nuclei_called_share"]:.2f} %'),
        ("95 % interval", lambda r: "-".join(f"{100 * v:.2f} %" for v in r[1]["crop_nuclei_called_share_95ci"])),
        ("crop nuclei per mm²", lambda r: int(r[1]["crop_nuclei_per_mm2"])),
        ("look-alike calls per mm²", lambda r: r[1]["lookalike_calls_per_mm2"])]) if look else "not measured"
    tis = table(sorted(ev["tissue"].items()), [
        ("image", lambda r: r[0]), ("role", lambda r: r[1].get("role", "held out")),
        ("calls", lambda r: r[1]["calls"]),
        ("area / tissue mm²", lambda r: r[1].get("tissue_mm2", r[1].get("area_mm2", ""))),
        ("verdict or calls per mm²", lambda r: r[1].get("verdict", r[1].get("calls_per_mm2", "")))])
    syn = table(sorted(ev["synthetic"].items()), [
        ("synthetic slide", lambda r: r[0]), ("precision", lambda r: round(r[1]["precision"], 3)),
        ("recall", lambda r: round(r[1]["recall"], 3)), ("F1", lambda r: round(r[1]["f1"], 3))])
    tun = tune_table(tr["tune_table"], tr["threshold"])
    cas = tr.get("cascade")
    second_text = ""
    sec = (cas or {}).get("second")
    if sec:
        sr_path = os.path.join(args.data, "second_result.json")
        sr = json.load(open(sr_path)) if os.path.exists(sr_path) else {}
        second_text = f""", by the main
   network **and a second network** (`--arch {sec['arch']}`, seed {sec['seed']}: seven 3x3
   convolutions, layers `{json.dumps(sec['layers'])}`, {sec['multiply_adds']:,}
   multiply-adds per view; {sr.get('train_seconds', '?')} s of training; its own one-view threshold would be
   {m.get('second_threshold_single_view')}), each over the 8 views; the score is the mean of
   the two. Two architectures make different mistakes: on the tune split the deeper one
   alone called half as many of the crops' other nuclei as the main one, but it called the
   synthetic slides' drawn apoptotic cells, which the main one does not; averaged, neither
   (`training/README.md`)"""
    cascade_text = "No screen: every candidate is scored by the main network, one view."
    if cas:
        casc_tune = tune_table(cas["tune_table"], tr["threshold"])
        ma = cas["main_alone"]
        cascade_text = f"""Three stages (`training/screen.py`); a candidate's score is the probability of the
last stage it reached:

1. **Screen**: a small network (layers `{m['screen_layers']}`, {cas['screen_multiply_adds']:,} multiply-adds)
   on a {m['screen_input_px']} x {m['screen_input_px']} px patch at {m['screen_input_mpp_um']} µm/px. Below
   {cas['screen_threshold']} the candidate is not a mitotic figure. The threshold passes
   {cas['tune_screen_pass_main_calls']} of the main network's tune calls ({cas['tune_screen_pass_positives']} of
   all tune positives, {cas['tune_screen_pass_negatives']} of the tune negatives, which are the crops'
   tumour nuclei; on a slide's ordinary nuclei it turns away more). Trained for
   {cas['screen_epochs']} epochs with the same data and augmentation (seed {m['screen_seed']}), in {cas['screen_seconds']} s.
2. **Main network**, one view.
3. **8 views** (the 4 rotations by 90° and their mirror images, averaged; test-time
   augmentation) for the candidates whose one-view probability reaches {cas['tta_from']}{second_text}.

The decision threshold {tr['threshold']} is chosen for the whole cascade by the same rule
as the main network's alone ({ma['threshold']} for one view: tune crop recall {ma['tune_recall']:.3f},
{ma['tune_false_calls_per_mm2']:.1f} off-centre candidates called per mm²; the cascade: {tr['tune_recall']:.3f}, {tr['tune_false_calls_per_mm2']:.1f}).

{casc_tune}

(Off-centre candidates: see below the main network's table under Scores.)"""
    text = f"""# Model card: `{m['name']}` ({m['version']})

The mitosis classifier built into `mitocount` (`models/mitosis-cnn.safetensors`, {size_kb:.0f} KiB,
embedded in the binary at build time; `--model FILE` loads another).
**Written by `training/model_card.py`; do not edit by hand: run `training/train.sh`.**

- **SHA-256**: `{sha}`
- **What it does**: for each candidate of the blob stage, the probability that a mitotic
  figure sits at the centre of a {m['input_px']} x {m['input_px']} px RGB patch at {m['input_mpp_um']} µm/px
  ({int(m['input_px']) * float(m['input_mpp_um']):.0f} µm), resampled from the slide's own pixels (20x slides are up-sampled).
- **Decision threshold**: {tr['threshold']} (the highest that keeps tune-split crop recall >= 0.87, a margin over the 0.85 asked).
- **Cascade**: a screen turns most candidates away cheaply; see below.
- **One call per figure**: calls within 20 µm are merged (at their midpoint up to 12 µm
  apart); chosen on the tune split (`docs/real-mitoses.md`).
- **Architecture** (`--arch {m.get('arch', 'lean')}`): five 3x3 convolutions with batch norm (folded into them
  at export) and ReLU, global average pooling, one logit; layers `{m['layers']}`;
  input `(rgb / 255 - {m['input_offset']}) * {m['input_scale']}`. Run in pure Rust (`src/detect/cnn/`).
- **Trained** with PyTorch {tr['torch']} on the CPU (2 threads), seed {m['seed']}, in {tr['train_seconds']} s;
  AdamW, one-cycle learning rate, two rounds (the second after hard-negative mining: the
  {tr['hard_negatives'] and sum(tr['hard_negatives'].values())} train negatives the first model scored highest weigh 4x; by kind: {tr['hard_negatives']}).

## Cascade

{cascade_text}

## Data (all from `../shared/data`)

Positives: the expert-confirmed mitotic figure at the centre of each crop of AtNorM-MD
(MIDOG++ subset: several tumours, species and scanners) and AtNorM-Br (TCGA breast), both
MIT-licensed (Banerjee et al. 2025, arXiv:2506.21444), train split only: the candidates
within 6 µm of a crop centre and the centre itself. Negatives: every other candidate of the
crops farther than 10 µm from the centre (crops of neighbouring mitoses overlap pixel for
pixel, so some of these are another crop's labelled mitosis: `training/overlaps.py` finds
them, {', '.join(f"{k} {v}" for k, v in ds.get('crops_showing_other_mitoses', {}).items())} crops
per split; the scores below do not count a call on one as unmatched; training on them as
positives was tried and not shipped, see `training/README.md`); every candidate of the benign tissue tiles
(Kather et al. 2016/2018, CC BY 4.0: smooth muscle, lymphocytes, stroma, debris, fat,
mucus; every third tile held out) and of CMU-1 (skin, 20x, no mitoses).
Splits: crops are numbered in the order they were cut, so blocks of 16 consecutive numbers
go to one split together (hash of dataset and block: test 25 %, tune 15 %, train 60 %);
AtNorM-Br's {ds['duplicates_dropped']} pixel-identical copies are dropped (one file per group kept).
The test split is written as mosaics only and never read by training.

{splits}

Patches (train and tune; the test split has none). `train.py` leaves out the benign-image
candidates whose 80 px window leaves the image ({tr.get('image_edge_left_out', 'some')} of them), so that white
beyond an image's end cannot stand for "not a mitosis":

{patches}

Augmentation: any rotation and flips, scale 0.9-1.1, shifts of 2 px, HED stain jitter
(H and E scaled by up to ±35 % and shifted by ±0.06 OD), brightness and contrast, JPEG at
quality 30-90, slight blur, a 20x look (down-sampled by 2 and back), and seams. Natural
seams (mosaic crop edges, ends of small images) and natural 20x blur occur only around
negatives, so both are given per patch with the probability that makes them as common
among positives as among negatives.

## Scores

Through `mitocount count` with default options (`training/evaluate.py`), on data never
trained or tuned on unless said:

{mos}

The intervals are exact 95 % intervals for what the same model would score on more crops
like these (Clopper & Pearson 1934 for recall, Garwood 1936 for the number of unmatched
calls as a Poisson count). They are wide: on AtNorM-Br's test crops one call is about
5.6 per mm², and two training seeds of the same command differ by more than that
(`training/README.md`), so "within noise" means within these intervals.

**Look-alike calls** (the measure to read for real slides): the crops' other nuclei
(candidates more than 10 µm from the crop's mitosis, not on another labelled figure) that
score at least the threshold, counted before the product merges calls:

{lookalike}

The unmatched calls above undercount a slide's false calls: the product merges calls
within 20 µm into one, and in a 32 µm crop nearly every nucleus lies within 20 µm of the
crop's mitosis, so where that mitosis is called a call on its neighbour disappears into it.
On a slide, where mitoses are far apart, it would count. A slide's false calls per mm² are
about the share called times its candidates per mm² (tumour about 5,000-7,000): the
"look-alike calls per mm²" column.

Real tissue without (known) mitoses:

{tis}

Synthetic slides (fresh seeds, default density; F1 at 7.5 µm):

{syn}

Tune split, main network alone, one view (train.py's threshold; patches, not the product):

{tun}

{OFF_CENTRE}

## Shortcut check (`training/shortcut_check.py`, tune split)

```json
{json.dumps(sc, indent=1) if sc else "not run"}
```

`centred_on_nothing`: patches centred on tissue at least 8 µm from any candidate or crop
centre; `seams_in_positives`: recall of the tune crop-centre positives with a strip of
white, black or another crop pasted beyond a line at the given distance from the centre (4-8 µm: inside the 10 µm half-window);
`tune_negatives`: the share of tune crop nuclei called (with the 80 px window every crop
nucleus more than 10 µm from the centre reaches a seam, so there is no seam-free group).

## Limits

- Positives are crops from breast carcinoma and the MIDOG++ tumours (human and canine); no
  leiomyosarcoma figure is among them. Smooth-muscle nuclei are among the negatives only
  through a handful of 20x benign tiles.
- The test splits are blocks of crop numbers, not slides: crops of one slide may sit in
  both train and test, so the scores may be optimistic for unseen labs and scanners.
- Calls on real tissue other than crops were counted, not checked by a pathologist.
"""
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
