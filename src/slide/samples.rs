//! Tiles and strips coded by the TIFF sample codecs (none, PackBits, LZW, Deflate,
//! Zstandard, WebP; horizontal predictor 2 for 8- and 16-bit samples), turned into RGB8:
//! 16-bit samples scaled, palette indices expanded, separate planes interleaved, fully
//! transparent pixels white.
//!
//! The codecs and the predictor are the `tiff` crate's: each chunk's compressed bytes are
//! wrapped in a one-strip TIFF built here in memory (an "envelope" whose tags we write, so
//! the crate never sees the slide's own, untrusted directory) and read back with
//! `Decoder::read_chunk_bytes`. The envelope keeps the slide's byte order, which the
//! crate needs to undo the predictor on 16-bit samples. Zstandard is decompressed first
//! with the pure-Rust `ruzstd` (the crate's own `zstd` feature links C libzstd) and then
//! enveloped as uncompressed data, so the crate still applies the predictor. Output is
//! bounded by the chunk's size: the crate reads exactly the bytes the envelope declares.
//!
//! Written by hand (no crate does it): the envelope, the sample-to-RGB8 conversion below.

use std::io::{Cursor, Read};

use super::dir::{compression, ImageDir, Photometric};

/// One coded chunk of samples as the envelope describes it.
pub(crate) struct Coded<'a> {
    /// Compressed bytes of the tile or strip (one plane for separate planes).
    pub data: &'a [u8],
    /// Width in pixels (tile width, or image width for a strip).
    pub width: u32,
    /// Rows coded in it (tile height, or the strip's rows inside the image).
    pub rows: u32,
    /// Samples per pixel in this chunk (1 for a plane of a separate-planes image).
    pub samples: u16,
}

/// Bytes one row of `coded` takes decoded (sub-byte samples padded to a byte per row,
/// as TIFF 6.0 section 2 asks).
fn row_bytes(dir: &ImageDir, coded: &Coded<'_>) -> usize {
    let bits = u64::from(coded.width) * u64::from(coded.samples) * dir.bits();
    bits.div_ceil(8) as usize
}

/// A classic TIFF in the slide's byte order holding `data` as the only strip of a
/// `width` x `rows` image of `samples` unsigned samples of `bits` bits, "MinIsBlack" so
/// that the crate neither converts nor inverts colours.
fn envelope(
    little_endian: bool,
    coded: &Coded<'_>,
    bits: u16,
    compression_code: u16,
    predictor: u16,
) -> Vec<u8> {
    let u16b = |v: u16| {
        if little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    };
    let u32b = |v: u32| {
        if little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    };
    // (tag, type, value): SHORT = 3, LONG = 4; every value fits in the entry.
    let entries: [(u16, u16, u32); 10] = [
        (256, 4, coded.width),
        (257, 4, coded.rows),
        (258, 3, u32::from(bits)),
        (259, 3, u32::from(compression_code)),
        (262, 3, 1),
        (273, 4, 0), // strip offset, patched below
        (277, 3, u32::from(coded.samples)),
        (278, 4, coded.rows),
        (279, 4, coded.data.len() as u32),
        (317, 3, u32::from(predictor)),
    ];
    let ifd_len = 2 + entries.len() * 12 + 4;
    let data_at = (8 + ifd_len) as u32;
    let mut out = Vec::with_capacity(8 + ifd_len + coded.data.len());
    out.extend_from_slice(if little_endian { b"II" } else { b"MM" });
    out.extend_from_slice(&u16b(42));
    out.extend_from_slice(&u32b(8));
    out.extend_from_slice(&u16b(entries.len() as u16));
    for (tag, typ, value) in entries {
        let value = if tag == 273 { data_at } else { value };
        out.extend_from_slice(&u16b(tag));
        out.extend_from_slice(&u16b(typ));
        out.extend_from_slice(&u32b(1));
        if typ == 3 {
            out.extend_from_slice(&u16b(value as u16));
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&u32b(value));
        }
    }
    out.extend_from_slice(&u32b(0));
    out.extend_from_slice(coded.data);
    out
}

/// Decodes one coded chunk to its samples: `rows` rows of [`row_bytes`] bytes; 16-bit
/// samples in native byte order.
///
/// Errors are text; the caller adds the file and chunk.
pub(crate) fn decode_samples(
    dir: &ImageDir,
    little_endian: bool,
    coded: &Coded<'_>,
) -> Result<Vec<u8>, String> {
    let expected = row_bytes(dir, coded) * coded.rows as usize;
    let bits = dir.bits() as u16;
    let predictor = dir.predictor as u16;
    let name = dir.compression_name();
    // Zstandard: decompressed here (bounded: exactly `expected` bytes are read; the frame's
    // window, which ruzstd reserves up front, is capped at its default 128 MiB), then
    // handed to the crate as uncompressed data for the predictor and byte order.
    let unzstd;
    let (code, coded) = if dir.compression == compression::ZSTD {
        let mut d = ruzstd::decoding::StreamingDecoder::new(coded.data)
            .map_err(|e| format!("Zstandard data is corrupt: {e}"))?;
        let mut raw = vec![0u8; expected];
        d.read_exact(&mut raw)
            .map_err(|e| format!("Zstandard data is corrupt or short: {e}"))?;
        unzstd = raw;
        (
            compression::NONE,
            Coded {
                data: &unzstd,
                ..*coded
            },
        )
    } else {
        (dir.compression, Coded { ..*coded })
    };
    if code == compression::WEBP {
        // The crate allocates the canvas the WebP header claims: check it first.
        let header = image_webp::WebPDecoder::new(Cursor::new(coded.data))
            .map_err(|e| format!("WebP data is corrupt: {e}"))?;
        let (ww, wh) = header.dimensions();
        if (ww, wh) != (coded.width, coded.rows) {
            return Err(format!(
                "WebP data is {ww}x{wh} px, expected {}x{} px for this chunk",
                coded.width, coded.rows
            ));
        }
    }
    if code == compression::NONE && coded.data.len() < expected {
        return Err(format!(
            "uncompressed data has {} bytes, {expected} expected",
            coded.data.len()
        ));
    }
    let tiff = envelope(little_endian, &coded, bits, code, predictor);
    let mut limits = tiff::decoder::Limits::default();
    limits.decoding_buffer_size = expected.max(1);
    limits.intermediate_buffer_size = coded.data.len().max(expected).max(1);
    let mut decoder = tiff::decoder::Decoder::new(Cursor::new(tiff))
        .map_err(|e| format!("{name} data cannot be framed: {e}"))?
        .with_limits(limits);
    let mut out = vec![0u8; expected];
    decoder
        .read_chunk_bytes(0, &mut out)
        .map_err(|e| format!("{name} data is corrupt: {e}"))?;
    Ok(out)
}

/// libtiff's 16-to-8-bit mapping (`BuildMapBitdepth16To8`, tif_getimage.c):
/// round(v / 257).
fn to_8bit(v: u16) -> u8 {
    ((u32::from(v) + 128) / 257) as u8
}

/// Sample `s` (0-based, in the pixel) of pixel `i` of a row; `planes` holds one buffer
/// for chunky data (all samples interleaved) or one per sample for separate planes.
struct Samples<'a> {
    planes: &'a [Vec<u8>],
    /// Samples per pixel in one buffer (all for chunky, 1 for separate planes).
    stride: usize,
    /// Bits per sample: 1, 2, 4, 8 or 16.
    bits: u64,
    /// Bytes per row of one buffer.
    row_bytes: usize,
}

impl Samples<'_> {
    fn get(&self, row: usize, i: usize, s: usize) -> u16 {
        let (buf, k) = if self.planes.len() > 1 {
            (&self.planes[s], i)
        } else {
            (&self.planes[0], i * self.stride + s)
        };
        let line = &buf[row * self.row_bytes..(row + 1) * self.row_bytes];
        match self.bits {
            16 => u16::from_ne_bytes([line[2 * k], line[2 * k + 1]]),
            8 => u16::from(line[k]),
            b => {
                // 1, 2 or 4 bits, most significant first (FillOrder 1).
                let bit = k * b as usize;
                let byte = line[bit / 8];
                let shift = 8 - b as usize - bit % 8;
                u16::from((byte >> shift) & ((1u8 << b) - 1))
            }
        }
    }
}

/// Turns decoded samples (see [`decode_samples`]) into `width * rows` RGB8 pixels.
///
/// RGB: the first three samples (16-bit ones scaled as libtiff does); an alpha extra
/// sample (ExtraSamples 1 or 2) of 0 makes the pixel white (background); other extra
/// samples are ignored. Palette: the index looked up in the ColorMap, whose 16-bit
/// entries are scaled to 8 bits unless all are below 256 (libtiff `checkcmap`).
pub(crate) fn to_rgb8(
    dir: &ImageDir,
    photometric: Photometric,
    mut planes: Vec<Vec<u8>>,
    (width, rows): (u32, u32),
) -> Result<Vec<u8>, String> {
    let (w, h) = (width as usize, rows as usize);
    // The common case (8-bit chunky RGB, no alpha) without a per-sample walk.
    if photometric == Photometric::Rgb
        && planes.len() == 1
        && dir.bits() == 8
        && dir.alpha_sample().is_none()
    {
        let spp = usize::from(dir.samples_per_pixel);
        let mut raw = planes.swap_remove(0);
        if raw.len() < w * h * spp {
            return Err("decoded samples are shorter than the chunk".into());
        }
        if spp == 3 {
            raw.truncate(w * h * 3);
            return Ok(raw);
        }
        return Ok(raw[..w * h * spp]
            .chunks_exact(spp)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect());
    }
    let planes = planes.as_slice();
    let stride = if planes.len() > 1 {
        1
    } else {
        usize::from(dir.samples_per_pixel)
    };
    let row_bytes = (width as usize * stride * dir.bits() as usize).div_ceil(8);
    if planes.iter().any(|p| p.len() < row_bytes * rows as usize) {
        return Err("decoded samples are shorter than the chunk".into());
    }
    let src = Samples {
        planes,
        stride,
        bits: dir.bits(),
        row_bytes,
    };
    let mut rgb = vec![0u8; w * h * 3];
    match photometric {
        Photometric::Palette => {
            let map = dir.colormap.as_deref().unwrap_or(&[]);
            let n = map.len() / 3;
            let eight_bit = map.iter().all(|&v| v < 256);
            let scale = |v: u64| if eight_bit { v as u8 } else { (v >> 8) as u8 };
            for row in 0..h {
                for i in 0..w {
                    let idx = usize::from(src.get(row, i, 0));
                    if idx >= n {
                        return Err(format!(
                            "palette index {idx} outside the {n}-entry ColorMap"
                        ));
                    }
                    let px = &mut rgb[(row * w + i) * 3..(row * w + i) * 3 + 3];
                    px.copy_from_slice(&[
                        scale(map[idx]),
                        scale(map[n + idx]),
                        scale(map[2 * n + idx]),
                    ]);
                }
            }
        }
        Photometric::Rgb | Photometric::YCbCr => {
            let alpha = dir.alpha_sample();
            for row in 0..h {
                for i in 0..w {
                    let px = &mut rgb[(row * w + i) * 3..(row * w + i) * 3 + 3];
                    if alpha.is_some_and(|a| src.get(row, i, a) == 0) {
                        px.copy_from_slice(&[255, 255, 255]);
                        continue;
                    }
                    for (c, v) in px.iter_mut().enumerate() {
                        let s = src.get(row, i, c);
                        *v = if src.bits == 16 { to_8bit(s) } else { s as u8 };
                    }
                }
            }
        }
    }
    Ok(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_scaling_matches_libtiff() {
        assert_eq!(to_8bit(0), 0);
        assert_eq!(to_8bit(65535), 255);
        assert_eq!(to_8bit(257 * 100), 100);
        assert_eq!(to_8bit(257 * 100 + 128), 100);
        assert_eq!(to_8bit(257 * 100 + 129), 101);
    }
}
