#!/usr/bin/env python3
"""Writes the TIFF fixtures of tests/data/slides/ and their reference decodes.

Each fixture is a small real H&E image (tiatoolbox target image, BSD-3, from
/work/shared/data/he/) written by a different tool or in a different layout:

  tifffile-jpeg-ycbcr-subifd.tif  tifffile, 96x80 JPEG tiles (YCbCr 2x2), SubIFD pyramid,
                                  XResolution 40000/cm (0.25 um/px)
  tifffile-jpeg-rgb.tif           JPEG tiles coded as RGB (Adobe marker, IDs 'R','G','B'),
                                  photometric RGB
  tifffile-lzw.tif                LZW tiles, OME-XML PhysicalSizeX 250 nm
  tifffile-deflate-pred2.tif      Deflate tiles with horizontal predictor 2
  tifffile-striped.tif            uncompressed strips of 17 rows, ResolutionUnit inch
  tifffile-striped-lzw-pred2.tif  LZW strips of 32 rows with predictor 2
  vips-jpeg-pyramid.tif           vips tiffsave --tile --pyramid --compression jpeg (64 px)
  vips-jpeg-pyramid-bigtiff.tif   the same with --bigtiff
  tiffcp-jpeg-ycbcr.tif           libtiff tiffcp -c jpeg (photometric YCbCr)
  tiffcp-jpeg-rgb.tif             libtiff tiffcp -c jpeg:r (photometric RGB, no transform)
  small-first-page.tif            a 40x40 image in the first directory, then the 400x300
                                  image (LZW, 64 px tiles): level 0 is the largest image
  dpi72.tif                       32x32 px at 72 dpi (352.8 um/px): an implausible MPP
  j2k-33003-ycbcr.tif             128 px tiles of lossless JPEG 2000 codestreams holding
                                  Y, Cb, Cr (BT.601 full range), compression 33003 as
                                  Aperio writes it; must decode to he-400x300.png +-1

Reference decodes: `<name>.L<k>.png` for every pyramid level k, decoded by tifffile with
imagecodecs (libjpeg-turbo, zlib); level 0 is cross-checked against libtiff's own
`tiff2rgba` and the mean absolute difference printed. For the real Aperio files the
script stores crops: `cmu1-crop-1000-1100-360x360.png` (x 1000, y 1100),
`small-svs.png`, and OpenJPEG decodes (imagecodecs) of the JPEG 2000 Aperio file:
`tcga-L0-crop-1900-1500-300x300.png` and `tcga-L1-crop-900-700-300x300.png`. Lossless fixtures share `he-400x300.png` (the source image, which they
must decode to exactly) and the BigTIFF shares the references of its classic twin.

Run from the repository root:  python3 scripts/make_slide_fixtures.py
Needs: python3 with numpy, pillow, tifffile, imagecodecs; vips; tiffcp; tiff2rgba.
"""

import os
import subprocess
import sys
import tempfile

import imagecodecs
import numpy as np
import tifffile
from PIL import Image

HE = "/work/shared/data/he/tiatoolbox-target_image.png"
SLIDES = "/work/shared/data/slides"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "slides")


def source(h, w, y=0, x=0):
    a = np.asarray(Image.open(HE).convert("RGB"))
    return np.ascontiguousarray(a[y : y + h, x : x + w])


def halve(a):
    """2x2 mean, as a simple pyramid step (the reference is the stored level anyway)."""
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    b = a[:h, :w].astype(np.uint16)
    return ((b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2] + 2) // 4).astype(
        np.uint8
    )


# Fixtures whose references are shared: lossless ones decode exactly to the source
# image (checked below), the BigTIFF to the same pixels as its classic twin.
LOSSLESS = ("tifffile-lzw", "tifffile-deflate-pred2", "tifffile-striped",
            "tifffile-striped-lzw-pred2")
SAME_AS = {"vips-jpeg-pyramid-bigtiff": "vips-jpeg-pyramid"}


def write_references(path, src):
    name = os.path.basename(path)[: -len(".tif")]
    with tifffile.TiffFile(path) as tif:
        levels = [l.asarray() for l in tif.series[0].levels]
    base = levels[0]
    if name in LOSSLESS:
        assert np.array_equal(base, src), name
    elif name in SAME_AS:
        for k, a in enumerate(levels):
            ref = np.asarray(Image.open(os.path.join(OUT, f"{SAME_AS[name]}.L{k}.png")))
            assert np.array_equal(a, ref), (name, k)
    else:
        for k, a in enumerate(levels):
            Image.fromarray(a).save(os.path.join(OUT, f"{name}.L{k}.png"), optimize=True)
    with tempfile.TemporaryDirectory() as tmp:
        rgba = os.path.join(tmp, "rgba.tif")
        subprocess.run(["tiff2rgba", path, rgba], check=True)
        lib = tifffile.imread(rgba)[..., :3]
    mae = np.abs(lib.astype(int) - base.astype(int)).mean()
    sizes = ", ".join(f"{l.shape[1]}x{l.shape[0]}" for l in levels)
    print(f"{name}: levels {sizes}; level 0 tifffile vs libtiff tiff2rgba MAE {mae:.4f}")


def rgb_coded_jpeg_tiles(a, th, tw):
    for y in range(0, a.shape[0], th):
        for x in range(0, a.shape[1], tw):
            t = np.zeros((th, tw, 3), np.uint8)
            c = a[y : y + th, x : x + tw]
            t[: c.shape[0], : c.shape[1]] = c
            yield imagecodecs.jpeg8_encode(t, level=85, colorspace="RGB", outcolorspace="RGB")


def j2k_ycbcr_tiles(a, th, tw):
    """Lossless JPEG 2000 codestreams of Y, Cb, Cr (JFIF matrix), no codestream MCT."""
    for y in range(0, a.shape[0], th):
        for x in range(0, a.shape[1], tw):
            t = np.full((th, tw, 3), 255, np.float64)
            c = a[y : y + th, x : x + tw]
            t[: c.shape[0], : c.shape[1]] = c
            r, g, b = t[..., 0], t[..., 1], t[..., 2]
            ycc = np.stack([0.299 * r + 0.587 * g + 0.114 * b,
                            128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
                            128 + 0.5 * r - 0.418688 * g - 0.081312 * b], -1)
            ycc = np.clip(np.round(ycc), 0, 255).astype(np.uint8)
            yield imagecodecs.jpeg2k_encode(ycc, level=0, codecformat="J2K", mct=False,
                                            reversible=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    a = source(300, 400, 100, 200)
    p = lambda n: os.path.join(OUT, n)

    # tifffile, JPEG YCbCr, pyramid in SubIFDs, resolution in cm.
    with tifffile.TiffWriter(p("tifffile-jpeg-ycbcr-subifd.tif")) as tw:
        tw.write(a, tile=(80, 96), compression="jpeg", photometric="rgb", subifds=2,
                 resolution=(40000, 40000), resolutionunit="CENTIMETER")
        b = halve(a)
        tw.write(b, tile=(80, 96), compression="jpeg", photometric="rgb", subfiletype=1)
        tw.write(halve(b), tile=(80, 96), compression="jpeg", photometric="rgb", subfiletype=1)

    # JPEG tiles coded in RGB (no colour transform), photometric RGB (tifffile writes the
    # tag as YCbCr for JPEG, so it is set to RGB afterwards with tiffset).
    tifffile.imwrite(p("tifffile-jpeg-rgb.tif"), rgb_coded_jpeg_tiles(a, 80, 96), shape=a.shape,
                     dtype="uint8", tile=(80, 96), compression="jpeg", photometric="rgb")
    subprocess.run(["tiffset", "-s", "262", "2", p("tifffile-jpeg-rgb.tif")], check=True)

    tifffile.imwrite(p("j2k-33003-ycbcr.tif"), j2k_ycbcr_tiles(a, 128, 128), shape=a.shape,
                     dtype="uint8", tile=(128, 128), compression=33003, photometric="rgb")

    tifffile.imwrite(p("dpi72.tif"), np.zeros((32, 32, 3), np.uint8), photometric="rgb",
                     resolution=(72, 72), resolutionunit="INCH")

    with tifffile.TiffWriter(p("small-first-page.tif")) as tw:
        tw.write(np.full((40, 40, 3), 90, np.uint8), photometric="rgb")
        tw.write(a, tile=(64, 64), compression="lzw", photometric="rgb")

    tifffile.imwrite(p("tifffile-lzw.tif"), a, tile=(64, 64), compression="lzw",
                     photometric="rgb", ome=True,
                     metadata={"PhysicalSizeX": 250, "PhysicalSizeXUnit": "nm",
                               "PhysicalSizeY": 250, "PhysicalSizeYUnit": "nm"})
    tifffile.imwrite(p("tifffile-deflate-pred2.tif"), a, tile=(64, 112),
                     compression="zlib", predictor=True, photometric="rgb")
    tifffile.imwrite(p("tifffile-striped.tif"), a, rowsperstrip=17, photometric="rgb",
                     resolution=(50800, 50800), resolutionunit="INCH")
    tifffile.imwrite(p("tifffile-striped-lzw-pred2.tif"), a, rowsperstrip=32,
                     compression="lzw", predictor=True, photometric="rgb")

    with tempfile.TemporaryDirectory() as tmp:
        big = source(384, 512, 300, 300)
        png = os.path.join(tmp, "src.png")
        Image.fromarray(big).save(png)
        for name, extra in (("vips-jpeg-pyramid.tif", []),
                            ("vips-jpeg-pyramid-bigtiff.tif", ["--bigtiff"])):
            subprocess.run(["vips", "tiffsave", png, p(name), "--tile", "--pyramid",
                            "--compression", "jpeg", "--Q", "80", "--tile-width", "64",
                            "--tile-height", "64", "--xres", "2000", "--yres", "2000"]
                           + extra, check=True)
        plain = os.path.join(tmp, "plain.tif")
        tifffile.imwrite(plain, a, photometric="rgb")
        subprocess.run(["tiffcp", "-c", "jpeg", "-t", "-w", "96", "-l", "64", plain,
                        p("tiffcp-jpeg-ycbcr.tif")], check=True)
        subprocess.run(["tiffcp", "-c", "jpeg:r", "-t", "-w", "96", "-l", "64", plain,
                        p("tiffcp-jpeg-rgb.tif")], check=True)

    Image.fromarray(a).save(p("he-400x300.png"), optimize=True)
    for name in sorted(os.listdir(OUT), key=lambda n: (n[:-4] in SAME_AS, n)):
        if name.endswith(".tif") and not name.startswith(("j2k-", "small-first", "dpi72")):
            write_references(p(name), a)

    # Real Aperio files: a crop of CMU-1-Small-Region across tile borders (tiles are
    # 240 px) and the whole of small.svs.
    cmu = tifffile.imread(os.path.join(SLIDES, "CMU-1-Small-Region.svs"))
    Image.fromarray(cmu[1100:1460, 1000:1360]).save(p("cmu1-crop-1000-1100-360x360.png"))
    small = tifffile.imread(os.path.join(SLIDES, "small.svs"))
    Image.fromarray(small).save(p("small-svs.png"))
    with tifffile.TiffFile(os.path.join(SLIDES, "tcga-cr-7395-01a-01-ts1.svs")) as tif:
        l0 = tif.pages[0].asarray()
        l1 = tif.pages[2].asarray()
    Image.fromarray(l0[1500:1800, 1900:2200]).save(p("tcga-L0-crop-1900-1500-300x300.png"))
    Image.fromarray(l1[700:1000, 900:1200]).save(p("tcga-L1-crop-900-700-300x300.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
