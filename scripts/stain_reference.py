#!/usr/bin/env python3
"""Reference values for mitocount's colour deconvolution, from scikit-image `rgb2hed`.

Writes into tests/data/stain/ (run from the repository root):

* tiatoolbox_crop_128.png  128x128 RGB crop of /work/shared/data/he/tiatoolbox-target_image.png
  at x 850..978, y 560..688 (dense carcinoma: dark lymphocyte nuclei, pink stroma,
  a little glass). BSD-3-Clause, tiatoolbox (https://github.com/TissueImageAnalytics/tiatoolbox).
* edge_cases_64.png        64x64 synthetic RGB (this script, seeded): every grey level 0..255,
  ramps of each channel with the others at 0 and at 255, and random colours. Includes 0
  samples, where mitocount deliberately differs from scikit-image (see below).
* <name>.hed_skimage.f32   skimage.color.rgb2hed of the PNG: float32 little-endian, shape
  [rows, cols, 3] (H, E, DAB), row-major, no header.
* edge_cases_64.hed_clamp05.f32  the same formula, but with 0 samples read as intensity 0.5
  (mitocount's rule) instead of scikit-image's 1e-6 * 255: an independent numpy reference
  for the pixels with a 0 sample.

scikit-image (checked in 0.26.0, skimage/color/colorconv.py, `separate_stains`):
    rgb = max(img_as_float(rgb), 1e-6); stains = (log(rgb) / log(1e-6)) @ hed_from_rgb
    stains = max(stains, 0)
with hed_from_rgb = inv(rgb_from_hed), rows of rgb_from_hed = H, E, DAB as published.
Since ln(x) / ln(1e-6) = -log10(x) / 6, this is mitocount's OD with I0 = 255 divided by 6:
H_skimage = H_od / 6.
"""

import pathlib
import sys

import numpy as np
import skimage
from PIL import Image
from skimage.color import hed_from_rgb, rgb2hed

SOURCE = pathlib.Path("/work/shared/data/he/tiatoolbox-target_image.png")
OUT = pathlib.Path("tests/data/stain")
CROP_XY = (850, 560)
SIZE = 128


def edge_cases() -> np.ndarray:
    img = np.zeros((64, 64, 3), np.uint8)
    flat = img.reshape(-1, 3)
    v = np.arange(256, dtype=np.uint8)
    flat[0:256] = v[:, None]  # grey ramp
    for c in range(3):
        ramp = np.zeros((256, 3), np.uint8)
        ramp[:, c] = v
        flat[256 * (1 + c) : 256 * (2 + c)] = ramp  # one channel up, others 0
        ramp = np.full((256, 3), 255, np.uint8)
        ramp[:, c] = v
        flat[256 * (4 + c) : 256 * (5 + c)] = ramp  # one channel down, others 255
    rng = np.random.default_rng(20240904)
    flat[256 * 7 :] = rng.integers(0, 256, size=(64 * 64 - 256 * 7, 3), dtype=np.uint8)
    return img


def clamp05(rgb: np.ndarray) -> np.ndarray:
    x = np.maximum(rgb.astype(np.float64), 0.5) / 255.0
    stains = (np.log(x) / np.log(1e-6)) @ hed_from_rgb
    return np.maximum(stains, 0)


def write(name: str, arr: np.ndarray) -> None:
    path = OUT / name
    arr.astype("<f4").tofile(path)
    print(f"wrote {path} {arr.shape}", file=sys.stderr)


def main() -> None:
    print(f"scikit-image {skimage.__version__}", file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    x, y = CROP_XY
    crop = Image.open(SOURCE).convert("RGB").crop((x, y, x + SIZE, y + SIZE))
    crop.save(OUT / "tiatoolbox_crop_128.png")
    rgb = np.asarray(Image.open(OUT / "tiatoolbox_crop_128.png").convert("RGB"))
    write("tiatoolbox_crop_128.hed_skimage.f32", rgb2hed(rgb))

    edge = edge_cases()
    Image.fromarray(edge).save(OUT / "edge_cases_64.png")
    edge = np.asarray(Image.open(OUT / "edge_cases_64.png").convert("RGB"))
    write("edge_cases_64.hed_skimage.f32", rgb2hed(edge))
    write("edge_cases_64.hed_clamp05.f32", clamp05(edge))
    # The two references agree wherever no sample is 0.
    nonzero = (edge > 0).all(axis=2)
    diff = np.abs(rgb2hed(edge) - clamp05(edge))[nonzero].max()
    print(f"skimage vs clamp05 on pixels without a 0 sample: max diff {diff:.2e}", file=sys.stderr)


if __name__ == "__main__":
    main()
