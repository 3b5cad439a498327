#!/usr/bin/env python3
"""Writes tests/data/bad/: small broken or unsupported slide files, one problem each.

Every file must make `Slide::open` (or, where the structure is sound and only the pixel
data is bad, `read_region`) return a clear error, never panic, hang or allocate hugely.
The files are tiny: most are written by the minimal classic-TIFF writer below, which puts
exactly the given tags into one directory; a few are cut or patched from real files.

Run from the repository root:  python3 scripts/make_bad_slides.py
Needs: python3 with numpy and tifffile; /work/shared/data/slides/small.svs.
"""

import os
import struct
import sys
import zlib

import numpy as np
import tifffile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "bad")
SMALL_SVS = "/work/shared/data/slides/small.svs"

SHORT, LONG, RATIONAL, ASCII, UNDEFINED = 3, 4, 5, 2, 7


def tiff(tags, chunks, next_ifd=0, ifd_offset=None):
    """A little-endian classic TIFF with one directory.

    `tags` maps tag -> (type, [values]) or (ASCII, "text"); the tile/strip offsets tag
    (324 or 273) may be given as "auto" to point at `chunks`, which follow the directory.
    `next_ifd` is written as the next-directory offset ("self" points at the directory
    itself, making a loop).
    """
    head = bytearray(b"II*\x00") + struct.pack("<I", 8)
    n = len(tags)
    ifd_start = 8
    extra_start = ifd_start + 2 + 12 * n + 4
    extra = bytearray()
    chunk_base = None

    def packed(typ, vals):
        if typ == ASCII:
            return vals.encode() + b"\x00"
        if typ == UNDEFINED:
            return bytes(vals)
        if typ == SHORT:
            return struct.pack(f"<{len(vals)}H", *vals)
        if typ == LONG:
            return struct.pack(f"<{len(vals)}I", *vals)
        if typ == RATIONAL:
            return b"".join(struct.pack("<II", a, b) for a, b in vals)
        raise ValueError(typ)

    # Lay out values that do not fit, then the chunks.
    payloads = {}
    for tag, (typ, vals) in sorted(tags.items()):
        if vals == "auto":
            vals = [0] * len(chunks)
        data = packed(typ, vals)
        count = len(vals) if typ not in (ASCII,) else len(data)
        if typ == UNDEFINED:
            count = len(data)
        payloads[tag] = (typ, count, data)
        if len(data) > 4:
            extra += data
            if len(extra) % 2:
                extra += b"\x00"
    chunk_base = extra_start + len(extra)
    offsets = []
    pos = chunk_base
    for c in chunks:
        offsets.append(pos)
        pos += len(c)
    # Second pass with the real chunk offsets.
    extra = bytearray()
    entries = bytearray()
    for tag, (typ, vals) in sorted(tags.items()):
        if vals == "auto":
            vals = offsets
        data = packed(typ, vals)
        typ_, count, _ = payloads[tag]
        if len(data) > 4:
            entries += struct.pack("<HHII", tag, typ, count, extra_start + len(extra))
            extra += data
            if len(extra) % 2:
                extra += b"\x00"
        else:
            entries += struct.pack("<HHI", tag, typ, count) + data.ljust(4, b"\x00")
    nxt = ifd_start if next_ifd == "self" else next_ifd
    ifd = struct.pack("<H", n) + entries + struct.pack("<I", nxt)
    body = head + ifd + extra + b"".join(chunks)
    if ifd_offset is not None:
        body[4:8] = struct.pack("<I", ifd_offset)
    return bytes(body)


def rgb_tags(w, h, tw, th, counts, compression=1, photometric=2, spp=3, bps=8, planar=1,
             extra=None):
    tags = {
        256: (LONG, [w]),
        257: (LONG, [h]),
        258: (SHORT, [bps] * spp),
        259: (SHORT, [compression]),
        262: (SHORT, [photometric]),
        277: (SHORT, [spp]),
        284: (SHORT, [planar]),
        322: (LONG, [tw]),
        323: (LONG, [th]),
        324: (LONG, "auto"),
        325: (LONG, counts),
    }
    tags.update(extra or {})
    return tags


def tiles_rgb(w, h, tw, th, spp=3, bytes_per_sample=1):
    n = ((w + tw - 1) // tw) * ((h + th - 1) // th)
    return [bytes([200]) * (tw * th * spp * bytes_per_sample) for _ in range(n)]


def good(**kw):
    """A valid 64x48 uncompressed file with 32x32 tiles, then changed by `kw`."""
    chunks = tiles_rgb(64, 48, 32, 32)
    return chunks, rgb_tags(64, 48, 32, 32, [len(c) for c in chunks], **kw)


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {}

    chunks, tags = good()
    files["valid-control.tif"] = tiff(tags, chunks)  # must open and read: checks the writer

    with open(SMALL_SVS, "rb") as f:
        svs = f.read()
    files["truncated-before-second-directory.svs"] = svs[:1200]  # 2nd directory at 1590
    files["truncated-inside-directory.svs"] = svs[:300]  # 1st directory at 280

    whole = tiff(tags, chunks)
    files["truncated-tile-data.tif"] = whole[: len(whole) - 1000]

    chunks, tags = good()
    tags[324] = (LONG, [8, 8, 8, 4_000_000_000][: len(chunks)] + [8] * (len(chunks) - 4))
    files["bad-tile-offset.tif"] = tiff(tags, chunks)

    chunks, tags = good()
    tags[325] = (LONG, [len(chunks[0])] * (len(chunks) - 1) + [3_000_000_000])
    files["bad-byte-count.tif"] = tiff(tags, chunks)

    chunks, tags = good()
    tags[325] = (LONG, [0] * len(chunks))
    files["zero-size-tiles.tif"] = tiff(tags, chunks)

    # Dimensions in the billions: beyond any sane side length.
    tags = rgb_tags(3_000_000_000, 3_000_000_000, 256, 256, [16])
    files["huge-dimensions.tif"] = tiff(tags, [b"\x00" * 16])
    # A million pixels square (a plausible side) but one tile listed in a tiny file.
    tags = rgb_tags(1_000_000, 1_000_000, 256, 256, [16])
    files["huge-dimensions-few-tiles.tif"] = tiff(tags, [b"\x00" * 16])
    # A single strip of 60000 x 60000 px: decoding it whole would need 10 GB.
    tags = {
        256: (LONG, [60000]), 257: (LONG, [60000]), 258: (SHORT, [8, 8, 8]),
        259: (SHORT, [1]), 262: (SHORT, [2]), 273: (LONG, "auto"), 277: (SHORT, [3]),
        278: (LONG, [60000]), 279: (LONG, [16]),
    }
    files["huge-single-strip.tif"] = tiff(tags, [b"\x00" * 16])

    # Tiles whose bytes are there but are not valid compressed data.
    chunks = [os.urandom(64) for _ in range(6)]
    tags = rgb_tags(64, 48, 32, 32, [64] * 6, compression=7,
                    extra={347: (UNDEFINED, list(b"\xff\xd8\xff\xd9"))})
    files["corrupt-jpeg-tiles.tif"] = tiff(tags, chunks)
    tags = rgb_tags(64, 48, 32, 32, [64] * 6, compression=5)
    files["corrupt-lzw-tiles.tif"] = tiff(tags, chunks)
    tags = rgb_tags(64, 48, 32, 32, [64] * 6, compression=8)
    files["corrupt-deflate-tiles.tif"] = tiff(tags, chunks)
    # Deflate that stops short of a full tile.
    short = zlib.compress(b"\x80" * 100)
    tags = rgb_tags(64, 48, 32, 32, [len(short)] * 6, compression=8)
    files["short-deflate-tiles.tif"] = tiff(tags, [short] * 6)

    for comp, name in ((33003, "jpeg2000-33003.svs"), (33005, "jpeg2000-33005.svs"),
                       (6, "old-style-jpeg.tif"), (50000, "zstd.tif")):
        chunks, tags = good(compression=comp)
        files[name] = tiff(tags, chunks)

    chunks = tiles_rgb(64, 48, 32, 32, bytes_per_sample=2)
    files["16-bit.tif"] = tiff(rgb_tags(64, 48, 32, 32, [len(c) for c in chunks], bps=16),
                               chunks)
    chunks = tiles_rgb(64, 48, 32, 32, spp=1)
    files["greyscale.tif"] = tiff(
        rgb_tags(64, 48, 32, 32, [len(c) for c in chunks], photometric=1, spp=1), chunks)
    chunks = tiles_rgb(64, 48, 32, 32, spp=4)
    files["cmyk.tif"] = tiff(
        rgb_tags(64, 48, 32, 32, [len(c) for c in chunks], photometric=5, spp=4), chunks)
    chunks = tiles_rgb(64, 48, 32, 32, spp=1) * 3
    files["planar-separate.tif"] = tiff(
        rgb_tags(64, 48, 32, 32, [len(c) for c in chunks], planar=2), chunks)
    chunks, tags = good(photometric=3)
    files["palette.tif"] = tiff(tags, chunks)

    chunks, tags = good()
    files["ifd-loop.tif"] = tiff(tags, chunks, next_ifd="self")
    files["ifd-beyond-eof.tif"] = tiff(tags, chunks, ifd_offset=10_000_000)
    chunks, tags = good()
    del tags[257]
    files["missing-height.tif"] = tiff(tags, chunks)
    chunks, tags = good()
    tags[270] = (ASCII, "x" * 40)
    data = bytearray(tiff(tags, chunks))
    # Make ImageDescription claim 4 billion characters.
    n = struct.unpack_from("<H", data, 8)[0]
    for i in range(n):
        at = 10 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == 270:
            struct.pack_into("<I", data, at + 4, 4_000_000_000)
    files["huge-tag-count.tif"] = bytes(data)
    # BigTIFF header with a wrong offset size.
    files["bigtiff-bad-header.tif"] = b"II+\x00\x04\x00\x00\x00" + b"\x00" * 16

    files["not-a-slide.svs"] = b"This is a text file, not a slide.\n" * 4
    files["empty.svs"] = b""

    # A real tifffile-written JPEG file whose tile bytes are overwritten with zeros.
    path = os.path.join(OUT, "zeroed-jpeg-tiles.tif")
    tifffile.imwrite(path, np.full((64, 64, 3), 180, np.uint8), tile=(32, 32),
                     compression="jpeg", photometric="rgb")
    with tifffile.TiffFile(path) as t:
        spans = list(zip(t.pages[0].dataoffsets, t.pages[0].databytecounts))
    data = bytearray(open(path, "rb").read())
    for off, cnt in spans:
        data[off : off + cnt] = b"\x00" * cnt
    files["zeroed-jpeg-tiles.tif"] = bytes(data)

    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
