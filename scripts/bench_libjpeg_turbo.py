#!/usr/bin/env python3
"""libjpeg-turbo baseline for benches/slide.rs: decodes every JPEG tile of
sample_tiles/CMU-1-Small-Region.svs (JPEGTables merged, no colour transform, as libtiff
does for photometric RGB) with imagecodecs.jpeg8_decode on one thread, and prints the
throughput in Mpx/s counted like the Rust bench (level-0 pixels per full pass).

Run from the repository root:  nice -n 10 python3 scripts/bench_libjpeg_turbo.py
"""

import time

import imagecodecs
import tifffile

PATH = "sample_tiles/CMU-1-Small-Region.svs"


def main():
    with tifffile.TiffFile(PATH) as tif:
        page = tif.pages[0]
        fh = tif.filehandle
        tiles = []
        for off, n in zip(page.dataoffsets, page.databytecounts):
            fh.seek(off)
            tiles.append(fh.read(n))
        tables = page.jpegtables
        pixels = page.imagewidth * page.imagelength
    best = float("inf")
    for _ in range(20):
        t0 = time.perf_counter()
        for data in tiles:
            imagecodecs.jpeg8_decode(data, tables=tables, colorspace=2, outcolorspace=2)
        best = min(best, time.perf_counter() - t0)
    print(f"libjpeg-turbo {imagecodecs.jpeg8_version()}: {len(tiles)} tiles, best pass "
          f"{best * 1e3:.1f} ms, {pixels / best / 1e6:.1f} Mpx/s (1 thread)")


if __name__ == "__main__":
    main()
