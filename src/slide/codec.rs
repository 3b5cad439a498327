//! Decoding one tile or strip into an RGB8 buffer: JPEG (with shared JPEGTables) and
//! JPEG 2000 here, the sample codecs (none, PackBits, LZW, Deflate, Zstandard, WebP,
//! predictor 2) through [`super::samples`]; every output bounded by the chunk's size
//! (checked from the codestream header before decoding) so corrupt data cannot make it
//! grow.

use std::io::Cursor;

use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::dir::{compression, ImageDir, Photometric};
use super::samples;

/// A decoded chunk: `width` x `height` RGB8 pixels, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    /// Width in pixels (tile width, or image width for a strip).
    pub width: u32,
    /// Rows present (full tile height; strip rows inside the image).
    pub height: u32,
    /// `width * height * 3` bytes, R, G, B.
    pub rgb: Vec<u8>,
}

impl Chunk {
    /// Memory held, in bytes (for the cache budget).
    pub fn bytes(&self) -> usize {
        self.rgb.len()
    }

    /// An all-white chunk (sparse chunks with no data).
    pub fn white(width: u32, height: u32) -> Chunk {
        Chunk {
            width,
            height,
            rgb: vec![255; width as usize * height as usize * 3],
        }
    }
}

/// Decodes one coding unit of `dir` (a tile or strip; for separate planes, the chunks of
/// every plane at that place, in sample order) to RGB8.
///
/// `rows` is how many rows the chunk holds (the chunk height, or fewer for the last
/// strip). `little_endian` is the file's byte order (for 16-bit samples). Errors are
/// returned as text; the caller adds the file and chunk.
pub(crate) fn decode_chunk(
    dir: &ImageDir,
    photometric: Photometric,
    data: &[&[u8]],
    rows: u32,
    little_endian: bool,
) -> Result<Chunk, String> {
    let (width, chunk_h) = dir.chunk_size();
    let rows = if dir.is_tiled() { chunk_h } else { rows };
    let first = data.first().copied().unwrap_or(&[]);
    if dir.compression == compression::JPEG && dir.is_planar() {
        let planes = data
            .iter()
            .map(|&bytes| {
                let tables = dir.jpeg_tables.as_deref();
                decode_jpeg_samples(tables, dir.chunk_size(), None, bytes, (width, rows))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let rgb = samples::to_rgb8(dir, photometric, planes, (width, rows))?;
        return Ok(Chunk {
            width,
            height: rows,
            rgb,
        });
    }
    if dir.compression == compression::JPEG {
        return decode_jpeg(dir, photometric, first, width, rows);
    }
    if matches!(
        dir.compression,
        compression::APERIO_J2K_YCBCR | compression::APERIO_J2K_RGB | compression::JPEG2000
    ) {
        let space = if dir.compression == compression::APERIO_J2K_YCBCR {
            J2kSpace::YCbCr
        } else {
            J2kSpace::Rgb
        };
        return decode_jpeg2000(first, space, (width, chunk_h), rows);
    }
    let samples = if dir.is_planar() {
        1
    } else {
        dir.samples_per_pixel
    };
    let planes = data
        .iter()
        .map(|&bytes| {
            let coded = samples::Coded {
                data: bytes,
                width,
                rows,
                samples,
            };
            samples::decode_samples(dir, little_endian, &coded)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let rgb = samples::to_rgb8(dir, photometric, planes, (width, rows))?;
    Ok(Chunk {
        width,
        height: rows,
        rgb,
    })
}

/// Joins the shared JPEGTables stream (SOI, tables, EOI) and an abbreviated chunk stream
/// (SOI, frame, scan, EOI) into one interchange stream, as libtiff does
/// (TIFF Technical Note 2, 1995).
fn merge_jpeg_tables(tables: Option<&[u8]>, data: &[u8]) -> Option<Vec<u8>> {
    let tables = tables?;
    if tables.len() < 4 || data.len() < 2 {
        return None;
    }
    let body = tables.strip_suffix(&[0xFF, 0xD9]).unwrap_or(tables);
    let rest = data.strip_prefix(&[0xFF, 0xD8]).unwrap_or(data);
    let mut merged = Vec::with_capacity(body.len() + rest.len());
    merged.extend_from_slice(body);
    merged.extend_from_slice(rest);
    Some(merged)
}

/// Decodes a JPEG chunk to RGB8.
///
/// Colour follows libtiff: with photometric YCbCr the JPEG's components are Y, Cb, Cr and
/// are converted to RGB with the BT.601 full-range (JFIF) matrix; with photometric RGB
/// no colour transform is applied (Aperio writes RGB components with IDs 0, 1, 2, which a
/// plain JPEG reader would take for YCbCr). A stream that labels its own components as RGB
/// (IDs 'R','G','B' or Adobe transform 0) is always taken as RGB.
fn decode_jpeg(
    dir: &ImageDir,
    photometric: Photometric,
    data: &[u8],
    width: u32,
    rows: u32,
) -> Result<Chunk, String> {
    let tables = dir.jpeg_tables.as_deref();
    let rgb = decode_jpeg_samples(
        tables,
        dir.chunk_size(),
        Some(photometric),
        data,
        (width, rows),
    )?;
    Ok(Chunk {
        width,
        height: rows,
        rgb,
    })
}

/// Decodes a self-contained JPEG frame of exactly `width` x `height` px (a DICOM frame)
/// to RGB8. `photometric` as in [`decode_jpeg`]; DICOM frames pass
/// [`Photometric::YCbCr`], i.e. the stream's own colour signalling decides, as libjpeg does.
pub(crate) fn decode_jpeg_frame(
    data: &[u8],
    photometric: Photometric,
    (width, height): (u32, u32),
) -> Result<Chunk, String> {
    let size = (width, height);
    let rgb = decode_jpeg_samples(None, size, Some(photometric), data, size)?;
    Ok(Chunk { width, height, rgb })
}

/// Decodes a JPEG chunk to its samples, `width * rows` pixels: three components (RGB8,
/// colour as [`decode_jpeg`] says) when `photometric` is given, else one component (one
/// plane of a separate-planes image, as libtiff writes `-c jpeg:r -p separate`).
fn decode_jpeg_samples(
    tables: Option<&[u8]>,
    (chunk_w, chunk_h): (u32, u32),
    photometric: Option<Photometric>,
    data: &[u8],
    (width, rows): (u32, u32),
) -> Result<Vec<u8>, String> {
    let components = if photometric.is_some() { 3 } else { 1 };
    let merged = merge_jpeg_tables(tables, data);
    let stream: &[u8] = merged.as_deref().unwrap_or(data);
    let options = DecoderOptions::default()
        .set_max_width(chunk_w as usize)
        .set_max_height(chunk_h as usize)
        .set_strict_mode(false);
    let mut decoder = JpegDecoder::new_with_options(Cursor::new(stream), options);
    decoder
        .decode_headers()
        .map_err(|e| format!("JPEG headers are corrupt: {e}"))?;
    let info = decoder
        .info()
        .ok_or_else(|| "JPEG headers are incomplete".to_string())?;
    if usize::from(info.components) != components {
        return Err(format!(
            "JPEG data has {} components, {components} expected",
            info.components
        ));
    }
    let (jw, jh) = (u32::from(info.width), u32::from(info.height));
    if jw != width || jh < rows || jh > chunk_h {
        return Err(format!(
            "JPEG data is {jw}x{jh} px, expected {width}x{rows} px for this chunk"
        ));
    }
    let input = decoder
        .input_colorspace()
        .ok_or_else(|| "JPEG colour space unknown".to_string())?;
    let out_space = match (photometric, input) {
        (None, ColorSpace::Luma) => ColorSpace::Luma,
        (Some(_), ColorSpace::RGB) => ColorSpace::RGB,
        (Some(Photometric::YCbCr), ColorSpace::YCbCr) => ColorSpace::RGB,
        // Photometric RGB in components the decoder guessed to be YCbCr: copy them raw.
        (Some(Photometric::Rgb), ColorSpace::YCbCr) => ColorSpace::YCbCr,
        (_, other) => return Err(format!("JPEG colour space {other:?} is not RGB or YCbCr")),
    };
    decoder.set_options(options.jpeg_set_out_colorspace(out_space));
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| "JPEG output size unknown".to_string())?;
    if size != jw as usize * jh as usize * components {
        return Err(format!("JPEG output of {size} bytes for {jw}x{jh} px"));
    }
    let mut samples = vec![0u8; size];
    decoder
        .decode_into(&mut samples)
        .map_err(|e| format!("JPEG data is corrupt: {e}"))?;
    samples.truncate(width as usize * rows as usize * components);
    Ok(samples)
}

/// What the three components of a JPEG 2000 chunk hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum J2kSpace {
    /// R, G, B, possibly through the codestream's own colour transform (Aperio 33005).
    Rgb,
    /// Y, Cb, Cr (Aperio 33003), converted to RGB with the BT.601 full-range matrix.
    YCbCr,
}

/// What the SIZ marker of a raw JPEG 2000 codestream says (ISO/IEC 15444-1 A.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct J2kSiz {
    /// Image width and height on the reference grid, in pixels.
    size_px: (u32, u32),
    /// Codestream tiles across and down.
    tiles: (u64, u64),
    /// Components 2 and 3 subsampled relative to component 1 (sYCC).
    chroma_subsampled: bool,
}

/// Largest number of codestream tiles accepted in one TIFF tile's JPEG 2000 data.
const MAX_J2K_TILES: u64 = 4096;

/// Parses the SIZ marker that follows SOC; `None` when it is missing or truncated.
fn j2k_siz(data: &[u8]) -> Option<J2kSiz> {
    if data.get(0..4)? != [0xFF, 0x4F, 0xFF, 0x51] {
        return None;
    }
    let u32_at = |at: usize| Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?));
    let (xsiz, ysiz, xo, yo) = (u32_at(8)?, u32_at(12)?, u32_at(16)?, u32_at(20)?);
    let (xt, yt, xto, yto) = (u32_at(24)?, u32_at(28)?, u32_at(32)?, u32_at(36)?);
    if xsiz <= xo || ysiz <= yo || xt == 0 || yt == 0 || xto > xo || yto > yo {
        return None;
    }
    let tiles = (
        u64::from(xsiz - xto).div_ceil(u64::from(xt)),
        u64::from(ysiz - yto).div_ceil(u64::from(yt)),
    );
    let components = u16::from_be_bytes([*data.get(40)?, *data.get(41)?]);
    let sampling = |c: usize| Some((*data.get(43 + 3 * c)?, *data.get(44 + 3 * c)?));
    let chroma_subsampled = if components == 3 {
        let (y, cb, cr) = (sampling(0)?, sampling(1)?, sampling(2)?);
        cb == cr && cb != y
    } else {
        false
    };
    Some(J2kSiz {
        size_px: (xsiz - xo, ysiz - yo),
        tiles,
        chroma_subsampled,
    })
}

/// Decodes a JPEG 2000 codestream chunk (Aperio 33003/33005, or 34712) to RGB8 with the
/// pure-Rust `hayro-jpeg2000` decoder.
///
/// A codestream with subsampled chroma is taken as sYCC and converted by the decoder;
/// a full-resolution YCbCr one (33003) is converted here with the same BT.601 full-range
/// matrix, as OpenSlide does.
pub(crate) fn decode_jpeg2000(
    data: &[u8],
    space: J2kSpace,
    (chunk_w, chunk_h): (u32, u32),
    rows: u32,
) -> Result<Chunk, String> {
    use hayro_jpeg2000::{DecodeSettings, DecoderContext, Image};
    // Check the header's claims before the decoder allocates anything from them.
    let siz = j2k_siz(data)
        .ok_or_else(|| "JPEG 2000 codestream header (SIZ) is missing or corrupt".to_string())?;
    let (jw, jh) = siz.size_px;
    if jw != chunk_w || jh < rows || jh > chunk_h {
        return Err(format!(
            "JPEG 2000 data is {jw}x{jh} px, expected {chunk_w}x{rows} px for this chunk"
        ));
    }
    if siz.tiles.0 * siz.tiles.1 > MAX_J2K_TILES {
        return Err(format!(
            "JPEG 2000 data is cut into {}x{} codestream tiles, more than {MAX_J2K_TILES}",
            siz.tiles.0, siz.tiles.1
        ));
    }
    let subsampled = siz.chroma_subsampled;
    let image = Image::new(data, &DecodeSettings::default())
        .map_err(|e| format!("JPEG 2000 data is corrupt: {e}"))?;
    if (image.width(), image.height()) != (jw, jh) {
        return Err(format!(
            "JPEG 2000 data is {}x{} px, its header says {jw}x{jh} px",
            image.width(),
            image.height()
        ));
    }
    let mut ctx = DecoderContext::default();
    let decoded = image
        .decode(&mut ctx)
        .map_err(|e| format!("JPEG 2000 data is corrupt: {e}"))?;
    let plane = jw as usize * jh as usize;
    let comps = decoded.components();
    if comps.len() != 3 || comps.iter().any(|c| c.samples().len() != plane) {
        return Err(format!(
            "JPEG 2000 data has {} components, 3 full-size ones expected",
            comps.len()
        ));
    }
    let mut rgb = decoded.data_u8();
    if space == J2kSpace::YCbCr && !subsampled {
        rgb.chunks_exact_mut(3).for_each(ybr_to_rgb);
    }
    rgb.truncate(chunk_w as usize * rows as usize * 3);
    Ok(Chunk {
        width: chunk_w,
        height: rows,
        rgb,
    })
}

/// Full-range Y, Cb, Cr to R, G, B in place, one pixel (the BT.601 / JFIF matrix, as the
/// JPEG decoder uses; DICOM's YBR_FULL, PS3.3 C.7.6.3.1.2, is the same).
pub(crate) fn ybr_to_rgb(px: &mut [u8]) {
    let (y, cb, cr) = (
        f32::from(px[0]),
        f32::from(px[1]) - 128.0,
        f32::from(px[2]) - 128.0,
    );
    px[0] = (y + 1.402 * cr).round().clamp(0.0, 255.0) as u8;
    px[1] = (y - 0.344_136 * cb - 0.714_136 * cr)
        .round()
        .clamp(0.0, 255.0) as u8;
    px[2] = (y + 1.772 * cb).round().clamp(0.0, 255.0) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn j2k_siz_header_is_parsed_and_checked() {
        // SOC, SIZ: Lsiz 47, Rsiz 0, 256x200 image at offset (0,0), 128x128 tiles, 3
        // components 8-bit, chroma 2x2 subsampled.
        let mut siz = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 47, 0, 0];
        for v in [256u32, 200, 0, 0, 128, 128, 0, 0] {
            siz.extend_from_slice(&v.to_be_bytes());
        }
        siz.extend_from_slice(&[0, 3, 7, 1, 1, 7, 2, 2, 7, 2, 2]);
        let parsed = j2k_siz(&siz).unwrap();
        assert_eq!(parsed.size_px, (256, 200));
        assert_eq!(parsed.tiles, (2, 2));
        assert!(parsed.chroma_subsampled);
        assert_eq!(j2k_siz(&siz[..30]), None, "truncated");
        let mut zero_tile = siz.clone();
        zero_tile[24..28].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(j2k_siz(&zero_tile), None);
        // 1x1-pixel codestream tiles: refused before decoding.
        let mut tiny_tiles = siz.clone();
        tiny_tiles[24..28].copy_from_slice(&1u32.to_be_bytes());
        tiny_tiles[28..32].copy_from_slice(&1u32.to_be_bytes());
        let err = decode_jpeg2000(&tiny_tiles, J2kSpace::Rgb, (256, 200), 200).unwrap_err();
        assert!(err.contains("codestream tiles"), "{err}");
    }

    #[test]
    fn tables_and_chunk_merge_into_one_stream() {
        let tables = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x02, 0xFF, 0xD9];
        let data = [0xFF, 0xD8, 0xFF, 0xC0, 0xFF, 0xD9];
        let merged = merge_jpeg_tables(Some(&tables), &data).unwrap();
        assert_eq!(
            merged,
            vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x02, 0xFF, 0xC0, 0xFF, 0xD9]
        );
    }
}
