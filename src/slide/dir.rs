//! One TIFF image (an IFD) interpreted: size, tiles or strips, compression, colour, and
//! where each chunk's bytes are, all checked against the file and the [`Limits`].

use super::ifd::{tag, Ifd, TiffFile};
use super::Limits;
use crate::error::{Error, Result};

/// TIFF compression codes this reader decodes.
pub(crate) mod compression {
    pub const NONE: u16 = 1;
    pub const LZW: u16 = 5;
    pub const OLD_JPEG: u16 = 6;
    pub const JPEG: u16 = 7;
    pub const ADOBE_DEFLATE: u16 = 8;
    pub const DEFLATE: u16 = 32946;
    pub const APERIO_J2K_YCBCR: u16 = 33003;
    pub const APERIO_J2K_RGB: u16 = 33005;
    pub const JPEG2000: u16 = 34712;
}

/// The compression code in words, as shown by `mitocount info`.
pub(crate) fn compression_name(code: u16) -> String {
    match code {
        1 => "none".into(),
        5 => "LZW".into(),
        6 => "old-style JPEG (6)".into(),
        7 => "JPEG".into(),
        8 | 32946 => "Deflate".into(),
        32773 => "PackBits".into(),
        33003 => "JPEG 2000 (Aperio 33003, YCbCr)".into(),
        33005 => "JPEG 2000 (Aperio 33005, RGB)".into(),
        34712 => "JPEG 2000 (34712)".into(),
        34887 => "LERC (34887)".into(),
        34925 => "LZMA (34925)".into(),
        50000 => "Zstandard (50000)".into(),
        50001 => "WebP (50001)".into(),
        50002 | 52546 => format!("JPEG XL ({code})"),
        other => format!("compression code {other}"),
    }
}

/// How the TIFF photometric interpretation says samples are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Photometric {
    /// Photometric 2: samples are R, G, B (for JPEG: no colour transform, as libtiff).
    Rgb,
    /// Photometric 6: samples are Y, Cb, Cr (JPEG only here): converted to RGB.
    YCbCr,
}

/// Tiles or strips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkLayout {
    /// Tiles of this width and height in pixels.
    Tiled { tile_w: u32, tile_h: u32 },
    /// Strips of the full width and this many rows (the last may be shorter).
    Striped { rows_per_strip: u32 },
}

/// One image directory, interpreted and checked.
#[derive(Debug, Clone)]
pub(crate) struct ImageDir {
    /// File offset of the IFD (for messages).
    pub ifd_offset: u64,
    /// NewSubfileType bits (1 reduced resolution, 4 mask, 8 macro in Aperio use).
    pub subfile_type: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Tiles or strips.
    pub layout: ChunkLayout,
    /// TIFF compression code.
    pub compression: u16,
    /// Photometric interpretation code (raw; see [`ImageDir::check_decodable`]).
    pub photometric_code: u64,
    /// Samples per pixel.
    pub samples_per_pixel: u16,
    /// Bits per sample (all samples).
    pub bits_per_sample: Vec<u64>,
    /// Planar configuration (1 chunky, 2 planar).
    pub planar: u64,
    /// Sample format (1 unsigned integer).
    pub sample_format: u64,
    /// Predictor (1 none, 2 horizontal differencing).
    pub predictor: u64,
    /// ImageDescription, if any.
    pub description: Option<String>,
    /// XResolution (pixels per resolution unit), if any.
    pub x_resolution: Option<f64>,
    /// ResolutionUnit (1 none, 2 inch, 3 cm), if given.
    pub resolution_unit: Option<u64>,
    /// JPEGTables (tag 347): the abbreviated table stream shared by all chunks.
    pub jpeg_tables: Option<Vec<u8>>,
    /// File offset of each chunk (row-major).
    pub offsets: Vec<u64>,
    /// Byte count of each chunk.
    pub byte_counts: Vec<u64>,
}

impl ImageDir {
    /// Interprets `ifd`, checking sizes, chunk counts and chunk byte ranges.
    pub fn parse(tf: &TiffFile, ifd: &Ifd, limits: &Limits) -> Result<ImageDir> {
        let at = ifd.offset;
        let need = |t: u16, name: &str| -> Result<u64> {
            tf.uint(ifd, t)?.ok_or_else(|| {
                tf.malformed(format!("directory at offset {at} has no {name} tag ({t})"))
            })
        };
        let width64 = need(tag::IMAGE_WIDTH, "ImageWidth")?;
        let height64 = need(tag::IMAGE_LENGTH, "ImageLength")?;
        let max_side = u64::from(limits.max_side_px);
        if width64 == 0 || height64 == 0 || width64 > max_side || height64 > max_side {
            return Err(tf.malformed(format!(
                "image of {width64}x{height64} px at directory {at}: each side must be \
                 1 to {max_side} px"
            )));
        }
        let (width, height) = (width64 as u32, height64 as u32);
        let compression_code = tf.uint(ifd, tag::COMPRESSION)?.unwrap_or(1);
        let compression = u16::try_from(compression_code).unwrap_or(u16::MAX);
        let samples_per_pixel64 = tf.uint(ifd, tag::SAMPLES_PER_PIXEL)?.unwrap_or(1);
        if samples_per_pixel64 == 0 || samples_per_pixel64 > 16 {
            return Err(tf.malformed(format!(
                "directory at offset {at} claims {samples_per_pixel64} samples per pixel"
            )));
        }
        let samples_per_pixel = samples_per_pixel64 as u16;
        let bits_per_sample = tf
            .uints(ifd, tag::BITS_PER_SAMPLE)?
            .unwrap_or_else(|| vec![1]);
        let planar = tf.uint(ifd, tag::PLANAR_CONFIG)?.unwrap_or(1);
        let tile_w = tf.uint(ifd, tag::TILE_WIDTH)?;
        let tile_h = tf.uint(ifd, tag::TILE_LENGTH)?;
        let (layout, offsets_tag, counts_tag) = match (tile_w, tile_h) {
            (Some(tw), Some(th)) => {
                if tw == 0 || th == 0 || tw > max_side || th > max_side {
                    return Err(tf.malformed(format!(
                        "tile size {tw}x{th} px at directory {at} is invalid"
                    )));
                }
                (
                    ChunkLayout::Tiled {
                        tile_w: tw as u32,
                        tile_h: th as u32,
                    },
                    tag::TILE_OFFSETS,
                    tag::TILE_BYTE_COUNTS,
                )
            }
            (None, None) => {
                let rps = tf
                    .uint(ifd, tag::ROWS_PER_STRIP)?
                    .unwrap_or(u64::from(u32::MAX));
                if rps == 0 {
                    return Err(tf.malformed(format!("RowsPerStrip is 0 at directory {at}")));
                }
                (
                    ChunkLayout::Striped {
                        rows_per_strip: rps.min(height64) as u32,
                    },
                    tag::STRIP_OFFSETS,
                    tag::STRIP_BYTE_COUNTS,
                )
            }
            _ => {
                return Err(tf.malformed(format!(
                    "directory at offset {at} has only one of TileWidth and TileLength"
                )))
            }
        };
        let dir_stub = ImageDir {
            ifd_offset: at,
            subfile_type: tf.uint(ifd, tag::NEW_SUBFILE_TYPE)?.unwrap_or(0),
            width,
            height,
            layout,
            compression,
            photometric_code: tf.uint(ifd, tag::PHOTOMETRIC)?.unwrap_or(u64::MAX),
            samples_per_pixel,
            bits_per_sample,
            planar,
            sample_format: tf.uint(ifd, tag::SAMPLE_FORMAT)?.unwrap_or(1),
            predictor: tf.uint(ifd, tag::PREDICTOR)?.unwrap_or(1),
            description: tf.ascii(ifd, tag::IMAGE_DESCRIPTION)?,
            x_resolution: tf.rational(ifd, tag::X_RESOLUTION)?,
            resolution_unit: tf.uint(ifd, tag::RESOLUTION_UNIT)?,
            jpeg_tables: None,
            offsets: Vec::new(),
            byte_counts: Vec::new(),
        };
        let (across, down) = dir_stub.chunks_across_down();
        let planes = if planar == 2 {
            u64::from(samples_per_pixel)
        } else {
            1
        };
        let n_chunks = across
            .checked_mul(down)
            .and_then(|n| n.checked_mul(planes))
            .ok_or_else(|| tf.malformed("chunk count overflows"))?;
        // The offset arrays are read only after the tag's byte range was checked against
        // the file size in `read_ifd`, so their length is bounded by the file.
        let offsets = tf.uints(ifd, offsets_tag)?.ok_or_else(|| {
            tf.malformed(format!(
                "directory at offset {at} has no tile or strip offsets"
            ))
        })?;
        let byte_counts = tf.uints(ifd, counts_tag)?.ok_or_else(|| {
            tf.malformed(format!(
                "directory at offset {at} has no tile or strip byte counts"
            ))
        })?;
        if (offsets.len() as u64) < n_chunks || (byte_counts.len() as u64) < n_chunks {
            return Err(tf.malformed(format!(
                "{width}x{height} px image at directory {at} needs {n_chunks} tiles or \
                 strips but lists {} offsets and {} byte counts",
                offsets.len(),
                byte_counts.len()
            )));
        }
        for (i, (&off, &n)) in offsets.iter().zip(&byte_counts).enumerate() {
            if off == 0 && n == 0 {
                continue; // sparse chunk (GDAL convention): read as white
            }
            if n == 0 {
                return Err(tf.malformed(format!(
                    "tile or strip {i} of directory {at} has 0 bytes at offset {off}"
                )));
            }
            if off.checked_add(n).is_none_or(|end| end > tf.len) {
                return Err(tf.malformed(format!(
                    "tile or strip {i} of directory {at} at offset {off} with {n} bytes \
                     runs past the end of the file ({} bytes)",
                    tf.len
                )));
            }
        }
        let jpeg_tables = if compression == compression::JPEG {
            tf.raw(ifd, tag::JPEG_TABLES)?
        } else {
            None
        };
        Ok(ImageDir {
            jpeg_tables,
            offsets,
            byte_counts,
            ..dir_stub
        })
    }

    /// True for tiled images.
    pub fn is_tiled(&self) -> bool {
        matches!(self.layout, ChunkLayout::Tiled { .. })
    }

    /// Width and height of one chunk's buffer in pixels (a strip: full width).
    pub fn chunk_size(&self) -> (u32, u32) {
        match self.layout {
            ChunkLayout::Tiled { tile_w, tile_h } => (tile_w, tile_h),
            ChunkLayout::Striped { rows_per_strip } => (self.width, rows_per_strip),
        }
    }

    /// Chunks across and down.
    pub fn chunks_across_down(&self) -> (u64, u64) {
        let (cw, ch) = self.chunk_size();
        (
            u64::from(self.width).div_ceil(u64::from(cw)),
            u64::from(self.height).div_ceil(u64::from(ch)),
        )
    }

    /// Rows of chunk row `chunk_row` that lie inside the image (strips: the last one may
    /// be shorter; tiles: the stored tile is always full height).
    pub fn valid_rows(&self, chunk_row: u64) -> u32 {
        let (_, ch) = self.chunk_size();
        let top = chunk_row * u64::from(ch);
        (u64::from(self.height) - top.min(u64::from(self.height))).min(u64::from(ch)) as u32
    }

    /// True when the codec itself decodes to 3 colour components (JPEG, JPEG 2000).
    fn is_codec_coloured(&self) -> bool {
        matches!(
            self.compression,
            compression::JPEG
                | compression::APERIO_J2K_YCBCR
                | compression::APERIO_J2K_RGB
                | compression::JPEG2000
        )
    }

    /// The compression in words.
    pub fn compression_name(&self) -> String {
        compression_name(self.compression)
    }

    /// Checks that the samples, layout and compression are ones this reader decodes;
    /// returns the photometric interpretation.
    ///
    /// # Errors
    /// [`Error::Unsupported`] naming what is unsupported and how to convert the file.
    pub fn check_decodable(&self, path: &std::path::Path, limits: &Limits) -> Result<Photometric> {
        let convert = "convert the slide to an 8-bit RGB tiled pyramidal TIFF, e.g. with \
                       `vips tiffsave in.svs out.tif --tile --pyramid --compression jpeg`";
        let unsupported = |what: String| Error::Unsupported {
            path: path.to_path_buf(),
            reason: format!(
                "{what} (image at directory offset {}); {convert}",
                self.ifd_offset
            ),
        };
        match self.compression {
            compression::NONE
            | compression::LZW
            | compression::JPEG
            | compression::ADOBE_DEFLATE
            | compression::DEFLATE
            | compression::APERIO_J2K_YCBCR
            | compression::APERIO_J2K_RGB
            | compression::JPEG2000 => {}
            compression::OLD_JPEG => {
                return Err(unsupported(
                    "old-style JPEG compression (6) is not supported".into(),
                ))
            }
            other => {
                return Err(unsupported(format!(
                    "{} is not supported",
                    compression_name(other)
                )))
            }
        }
        if self.bits_per_sample.iter().any(|&b| b != 8) {
            let bits = self
                .bits_per_sample
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(",");
            return Err(unsupported(format!(
                "{bits} bits per sample are not supported (only 8-bit samples)"
            )));
        }
        if self.sample_format != 1 {
            return Err(unsupported(format!(
                "sample format {} is not supported (only unsigned integers)",
                self.sample_format
            )));
        }
        let photometric = match self.photometric_code {
            2 => Photometric::Rgb,
            6 if self.is_codec_coloured() => Photometric::YCbCr,
            6 => {
                return Err(unsupported(
                    "YCbCr samples outside JPEG or JPEG 2000 compression are not supported".into(),
                ))
            }
            0 | 1 => {
                return Err(unsupported(
                    "greyscale images are not supported (H&E needs RGB)".into(),
                ))
            }
            3 => return Err(unsupported("palette images are not supported".into())),
            5 => {
                return Err(unsupported(
                    "CMYK (separated) images are not supported".into(),
                ))
            }
            other => {
                return Err(unsupported(format!(
                    "photometric interpretation {other} is not supported"
                )))
            }
        };
        let spp_ok = if self.is_codec_coloured() {
            self.samples_per_pixel == 3
        } else {
            self.samples_per_pixel >= 3
        };
        if !spp_ok {
            return Err(unsupported(format!(
                "{} samples per pixel are not supported",
                self.samples_per_pixel
            )));
        }
        if self.planar != 1 {
            return Err(unsupported(format!(
                "planar configuration {} (separate colour planes) is not supported",
                self.planar
            )));
        }
        if !matches!(self.predictor, 1 | 2) {
            return Err(unsupported(format!(
                "predictor {} is not supported",
                self.predictor
            )));
        }
        let (cw, ch) = self.chunk_size();
        let chunk_bytes = u64::from(cw) * u64::from(ch) * u64::from(self.samples_per_pixel);
        if chunk_bytes > limits.max_chunk_bytes {
            return Err(unsupported(format!(
                "one {} of {cw}x{ch} px would take {chunk_bytes} bytes decoded, more than \
                 the limit of {} bytes",
                if self.is_tiled() { "tile" } else { "strip" },
                limits.max_chunk_bytes
            )));
        }
        Ok(photometric)
    }
}
