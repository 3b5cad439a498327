#!/usr/bin/env python3
"""Draw detections on an image to look at them.

Mitotic calls: red circles (7.5 um radius); other candidates: small green dots (optional);
ground truth (a mosaic CSV): blue crosses. A crop of the image can be selected.

Usage: render.py IMAGE DETECTIONS.csv OUT.png [--truth T.csv] [--mpp 0.25]
                 [--crop x0,y0,w,h] [--all] [--scale 1]
"""

import argparse
import csv

from PIL import Image, ImageDraw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("detections")
    ap.add_argument("out")
    ap.add_argument("--truth")
    ap.add_argument("--mpp", type=float, default=0.25)
    ap.add_argument("--crop")
    ap.add_argument("--all", action="store_true", help="also mark non-mitotic candidates")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--label", action="store_true", help="write scores next to calls")
    args = ap.parse_args()
    img = Image.open(args.image).convert("RGB")
    x0 = y0 = 0
    if args.crop:
        x0, y0, w, h = (int(v) for v in args.crop.split(","))
        img = img.crop((x0, y0, x0 + w, y0 + h))
    s = args.scale
    if s != 1.0:
        img = img.resize((int(img.width * s), int(img.height * s)), Image.LANCZOS)
    draw = ImageDraw.Draw(img)
    r = 7.5 / args.mpp * s
    if args.truth:
        for row in csv.DictReader(open(args.truth)):
            x, y = (float(row["x_px"]) - x0) * s, (float(row["y_px"]) - y0) * s
            draw.line((x - 6, y, x + 6, y), fill=(0, 80, 255), width=2)
            draw.line((x, y - 6, x, y + 6), fill=(0, 80, 255), width=2)
    for row in csv.DictReader(open(args.detections)):
        x, y = (float(row["x_px"]) - x0) * s, (float(row["y_px"]) - y0) * s
        if x < -r or y < -r or x > img.width + r or y > img.height + r:
            continue
        mitotic = row.get("class", "").strip().lower() == "mitotic figure"
        if mitotic:
            draw.ellipse((x - r, y - r, x + r, y + r), outline=(255, 0, 0), width=2)
            if args.label and "score" in row:
                draw.text((x + r, y - r), f"{float(row['score']):.2f}", fill=(255, 255, 0))
        elif args.all:
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(0, 200, 0))
            if args.label and "score" in row:
                draw.text((x + 3, y - 3), f"{float(row['score']):.2f}", fill=(0, 255, 0))
    img.save(args.out)


if __name__ == "__main__":
    main()
