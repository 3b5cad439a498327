#!/usr/bin/env python3
"""Independent check of a slide written by `mitocount synth`, with tifffile (and libtiff's
`tiffinfo` when installed).

    python3 scripts/check_synth.py /tmp/s.tiff [--sheet /tmp/s_sheet.png] [--strict]

Checks, printing each and exiting 1 on the first failure:
- the file opens in tifffile; level 0 and the reduced levels are tiled, with the expected
  compression (JPEG: photometric YCbCr, subsampling 2x2, JPEGTables present), tile sizes
  and dimensions (each level the previous divided by 4, rounded up);
- the pixel size: `MPP = ...` in the Aperio description (SVS layout) and
  XResolution/YResolution in pixels per cm agree with `<stem>.synth.json`;
- every level decodes; level 1 matches a 4x4 box average of level 0 (within JPEG error);
- the ground truth: CSV, MIDOG JSON and synth.json agree on the counts and positions;
- appearance: background near white, tissue H&E-coloured, mitoses darker in
  haematoxylin (colour deconvolution with the stain vectors in synth.json) than the
  median of the tissue, lymphocytes small and dark, pyknotic nuclei with an eosin halo.

`--sheet PNG` writes a contact sheet to look at: an overview of level 0 and crops of
about 40 µm around objects of every kind (mitoses by phase), each labelled.
"""

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile

FAILURES = 0


def check(cond, what):
    global FAILURES
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES += 1


def od(rgb):
    return -np.log10(np.maximum(rgb.astype(np.float64), 0.5) / 255.0)


def deconvolve(rgb, vectors):
    m = np.array([vectors["haematoxylin"], vectors["eosin"], vectors["residual"]])
    conc = od(rgb).reshape(-1, 3) @ np.linalg.inv(m)
    return conc.reshape(rgb.shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tiff", type=Path)
    ap.add_argument("--sheet", type=Path, help="write a contact sheet PNG")
    args = ap.parse_args()
    path = args.tiff
    stem = path.with_suffix("")
    meta = json.loads(Path(f"{stem}.synth.json").read_text())
    opts = meta["options"]
    mpp = meta["mpp_um"]
    layout = opts["tiff"]["layout"]
    compression = opts["tiff"]["compression"]
    tile = opts["tiff"]["tile_size_px"]

    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages)
        check(tif.is_bigtiff == meta["bigtiff"], f"BigTIFF = {tif.is_bigtiff} as synth.json says")
        if layout == "svs":
            check(tif.is_svs, "tifffile recognises an Aperio SVS")
            level_pages = [pages[0]] + pages[2:]
            thumb = pages[1]
            check(not thumb.is_tiled, f"directory 1 is a stripped thumbnail {thumb.shape}")
        else:
            level_pages = pages
            check(all(p.is_reduced for p in pages[1:]), "reduced levels have NewSubfileType 1")
        series = tif.series[0]
        n_levels = len(series.levels)
        check(n_levels == len(meta["levels_px"]), f"tifffile sees {n_levels} pyramid levels in series 0")
        expected_codec = {
            "jpeg": tifffile.COMPRESSION.JPEG,
            "lzw": tifffile.COMPRESSION.LZW,
            "deflate": tifffile.COMPRESSION.ADOBE_DEFLATE,
            "none": tifffile.COMPRESSION.NONE,
        }[compression]
        for k, (p, (w, h)) in enumerate(zip(level_pages, meta["levels_px"])):
            ok = (
                p.is_tiled
                and p.tilewidth == tile
                and p.tilelength == tile
                and p.imagewidth == w
                and p.imagelength == h
                and p.compression == expected_codec
            )
            check(ok, f"level {k}: {p.imagewidth}x{p.imagelength}, tiles {p.tilewidth}x{p.tilelength}, {p.compression.name}")
            if compression == "jpeg":
                check(
                    p.photometric == tifffile.PHOTOMETRIC.YCBCR
                    and tuple(p.tags[530].value) == (2, 2)
                    and 347 in p.tags,
                    f"level {k}: YCbCr 4:2:0 with shared JPEGTables ({len(p.tags[347].value)} bytes)",
                )
            xres = p.tags["XResolution"].value
            unit = p.tags["ResolutionUnit"].value
            level_mpp = 1e4 / (xres[0] / xres[1])
            want = mpp * meta["levels_px"][0][0] / w
            check(unit == 3 and abs(level_mpp - want) < 1e-6 * want, f"level {k}: XResolution gives {level_mpp:.6f} µm/px (cm)")
        desc = pages[0].description
        if layout == "svs":
            m = re.search(r"MPP = ([0-9.]+)", desc)
            check(m is not None and abs(float(m.group(1)) - mpp) < 1e-6, f"Aperio description MPP = {m.group(1) if m else None}")
            check("AppMag = " in desc, "Aperio description has AppMag")
            svs = tifffile.tifffile.svs_description_metadata(desc)
            check(abs(float(svs["MPP"]) - mpp) < 1e-6, "tifffile parses the SVS metadata")
        level0 = level_pages[0].asarray()
        check(level0.shape == (meta["height_px"], meta["width_px"], 3), f"level 0 decodes to {level0.shape}")
        if len(level_pages) > 1:
            level1 = level_pages[1].asarray().astype(np.float64)
            h, w = level0.shape[:2]
            ph, pw = -h % 4, -w % 4
            padded = np.pad(level0.astype(np.float64), ((0, ph), (0, pw), (0, 0)), mode="edge")
            box = padded.reshape(padded.shape[0] // 4, 4, padded.shape[1] // 4, 4, 3).mean(axis=(1, 3))
            err = np.abs(box[: level1.shape[0] - 1, : level1.shape[1] - 1] - level1[:-1, :-1]).mean()
            check(err < 4.0, f"level 1 is the 4x4 box average of level 0 (mean |diff| {err:.2f})")

    if shutil.which("tiffinfo"):
        out = subprocess.run(["tiffinfo", str(path)], capture_output=True, text=True)
        dirs = out.stdout.count("TIFF Directory at offset")
        check(out.returncode == 0 and dirs == len(pages), f"tiffinfo reads {dirs} directories")

    # Ground truth.
    rows = list(csv.DictReader(open(f"{stem}.truth.csv")))
    points = json.loads(Path(f"{stem}.truth.json").read_text())
    check(points["type"] == "Multiple points", "MIDOG JSON type is 'Multiple points'")
    check(len(rows) == len(points["points"]), f"CSV and JSON both list {len(rows)} objects")
    kinds = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    check(kinds.get("mitotic_figure", 0) == meta["counts"]["mitotic_figure"], f"counts per kind {kinds}")
    n_mit_json = sum(p["name"] == "mitotic figure" for p in points["points"])
    check(n_mit_json == meta["counts"]["mitotic_figure"], f"JSON has {n_mit_json} 'mitotic figure' points")
    if rows:
        r0, p0 = rows[0], points["points"][0]
        check(abs(float(r0["x_um"]) / 1000 - p0["point"][0]) < 1e-5, "CSV µm and JSON mm agree")
        check(abs(float(r0["x_px"]) * mpp - float(r0["x_um"])) < 0.01, "CSV px and µm agree with the MPP")
    if meta["hotspot"]:
        hs = meta["hotspot"]
        inside = sum(
            1
            for r in rows
            if r["kind"] == "mitotic_figure"
            and hs["x0_px"] <= float(r["x_px"]) < hs["x0_px"] + hs["width_px"]
            and hs["y0_px"] <= float(r["y_px"]) < hs["y0_px"] + hs["height_px"]
        )
        check(inside == hs["mitoses_inside"], f"{inside} mitoses inside the planted hot spot")
        check(hs["tissue_fraction"] >= 0.95, f"hot spot is {hs['tissue_fraction']:.3f} tissue")

    # Appearance.
    conc = deconvolve(level0, meta["stain_vectors"])
    hod, eod = conc[..., 0], conc[..., 1]
    gray = level0.mean(axis=2)
    background = gray > 225
    tissue = gray < 215
    check(background.mean() > 0.02 and tissue.mean() > 0.1, f"background {background.mean():.2f}, tissue {tissue.mean():.2f} of level 0")
    if background.any():
        check(np.median(gray[background]) > 232, f"background median {np.median(gray[background]):.0f} (near white)")
    t_rgb = np.median(level0[tissue], axis=0)
    check(t_rgb[1] < t_rgb[0] and t_rgb[1] < t_rgb[2], f"tissue median RGB {t_rgb} is pink-purple (G lowest)")
    tissue_h = np.median(hod[tissue])
    r_px = max(1, int(round(1.5 / mpp)))

    def core(kind):
        vals = []
        for r in rows:
            if r["kind"] != kind:
                continue
            x, y = int(float(r["x_px"])), int(float(r["y_px"]))
            win = hod[max(0, y - 4 * r_px) : y + 4 * r_px + 1, max(0, x - 4 * r_px) : x + 4 * r_px + 1]
            if win.size:
                vals.append(np.percentile(win, 98))
        return np.array(vals)

    # Lymphocytes and pyknotic nuclei are drawn at real darkness since the synthetic
    # realism change (real lymphocytes measure 0.41-0.50 H OD in the benign tiles), as
    # tests/it/synth.rs checks (0.4 and 0.8).
    for kind, min_od in [("mitotic_figure", 1.0), ("lymphocyte", 0.4), ("pyknotic", 0.8), ("hyperchromatic", 0.7)]:
        v = core(kind)
        if len(v):
            check(np.median(v) > min_od and np.median(v) > 2 * tissue_h,
                  f"{kind}: 98th-percentile H OD within 6 µm, median {np.median(v):.2f} (tissue median {tissue_h:.2f})")

    if args.sheet:
        write_sheet(args.sheet, level0, rows, mpp)
        print(f"contact sheet: {args.sheet}")
    print("FAILED" if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


def write_sheet(out, level0, rows, mpp):
    from PIL import Image, ImageDraw

    cell = 256
    half = int(round(20 / mpp))  # 40 µm crops
    groups = {}
    for r in rows:
        key = r["kind"] + (":" + r["phase"] if r["phase"] else "")
        groups.setdefault(key, []).append(r)
    per = 6
    keys = sorted(groups)
    sheet = Image.new("RGB", (cell * per, cell * (len(keys) + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    h, w = level0.shape[:2]
    overview = Image.fromarray(level0).resize((cell * 2, int(cell * 2 * h / w)))
    sheet.paste(overview.crop((0, 0, cell * 2, cell * 4)), (0, 0))
    # A full-resolution tissue crop (the busiest 1024 px window by haematoxylin).
    gray = level0.mean(axis=2)
    best, bxy = -1, (0, 0)
    for y in range(0, max(1, h - 1024), 512):
        for x in range(0, max(1, w - 1024), 512):
            s = (gray[y : y + 1024 : 8, x : x + 1024 : 8] < 200).mean()
            if s > best:
                best, bxy = s, (x, y)
    x, y = bxy
    crop = Image.fromarray(level0[y : y + 1024, x : x + 1024]).resize((cell * 4, cell * 4))
    sheet.paste(crop, (cell * 2, 0))
    for gi, key in enumerate(keys):
        for i, r in enumerate(groups[key][:per]):
            cx, cy = int(float(r["x_px"])), int(float(r["y_px"]))
            x0, y0 = max(0, cx - half), max(0, cy - half)
            img = Image.fromarray(level0[y0 : y0 + 2 * half, x0 : x0 + 2 * half]).resize((cell, cell))
            sheet.paste(img, (i * cell, (gi + 4) * cell))
        draw.text((4, (gi + 4) * cell + 4), key, fill=(0, 0, 0))
    sheet.save(out)


if __name__ == "__main__":
    sys.exit(main())
