//! One TIFF image (an IFD) interpreted: size, tiles or strips, compression, colour, and
//! where each chunk's bytes are, all checked against the file and the [`Limits`].

use super::ifd::{tag, Ifd, TiffFile};
use super::Limits;
use crate::error::{Error, Result};

/// TIFF compression codes this reader decodes.
pub(crate) mod compression {
    pub const NONE: u16 = 1;
    pub const LZW: u16 = 5;
    pub const JPEG: u16 = 7;
    pub const ADOBE_DEFLATE: u16 = 8;
    pub const PACKBITS: u16 = 32773;
    pub const DEFLATE: u16 = 32946;
    pub const ZSTD: u16 = 50000;
    pub const WEBP: u16 = 50001;
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
        50000 => "Zstandard".into(),
        50001 => "WebP".into(),
        50002 | 52546 => format!("JPEG XL ({code})"),
        2 => "CCITT modified Huffman RLE (2)".into(),
        3 => "CCITT Group 3 fax (3)".into(),
        4 => "CCITT Group 4 fax (4)".into(),
        32809 => "ThunderScan (32809)".into(),
        34676 | 34677 => format!("SGI LogLuv ({code})"),
        34661 => "JBIG (34661)".into(),
        other => format!("compression code {other}"),
    }
}

/// The compression in words with its TIFF code, for error messages.
fn compression_label(code: u16) -> String {
    let name = compression_name(code);
    if name.contains(&code.to_string()) {
        name
    } else {
        format!("{name} ({code})")
    }
}

/// How the TIFF photometric interpretation says samples are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Photometric {
    /// Photometric 2: samples are R, G, B (for JPEG: no colour transform, as libtiff).
    Rgb,
    /// Photometric 6: samples are Y, Cb, Cr (JPEG only here): converted to RGB.
    YCbCr,
    /// Photometric 3: one index per pixel into the ColorMap (expanded to RGB).
    Palette,
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
    /// ExtraSamples (0 unspecified, 1 associated alpha, 2 unassociated alpha), one per
    /// sample beyond the colour samples.
    pub extra_samples: Vec<u64>,
    /// ColorMap (tag 320): 3 * 2^bits 16-bit values, all reds, then greens, then blues.
    pub colormap: Option<Vec<u64>>,
    /// What the directory's parse tolerated (duplicate or unsorted tags).
    pub warnings: Vec<String>,
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
            extra_samples: tf.uints(ifd, tag::EXTRA_SAMPLES)?.unwrap_or_default(),
            colormap: tf.uints(ifd, tag::COLOR_MAP)?,
            warnings: ifd.warnings.clone(),
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
    pub fn is_codec_coloured(&self) -> bool {
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

    /// Bits per sample (the first sample's; [`ImageDir::check_decodable`] checks that
    /// all are equal).
    pub fn bits(&self) -> u64 {
        self.bits_per_sample.first().copied().unwrap_or(1)
    }

    /// True for separate colour planes (PlanarConfiguration 2).
    pub fn is_planar(&self) -> bool {
        self.planar == 2
    }

    /// Planes whose chunks make up one coding unit: the samples per pixel for separate
    /// planes, else 1.
    pub fn planes(&self) -> u64 {
        if self.is_planar() {
            u64::from(self.samples_per_pixel)
        } else {
            1
        }
    }

    /// The sample (0-based) that holds alpha, when the first extra sample is associated
    /// or unassociated alpha (ExtraSamples 1 or 2) after three colour samples.
    pub fn alpha_sample(&self) -> Option<usize> {
        (self.samples_per_pixel >= 4 && matches!(self.extra_samples.first(), Some(1 | 2)))
            .then_some(3)
    }

    /// The samples in words for `mitocount info`, e.g. "8-bit RGB" or "16-bit RGBA read as
    /// 8-bit".
    pub fn sample_description(&self) -> String {
        let colour = match self.photometric_code {
            2 if self.alpha_sample().is_some() => "RGBA",
            2 => "RGB",
            6 => "YCbCr",
            3 => "palette",
            0 | 1 => "greyscale",
            5 => "CMYK",
            _ => "other",
        };
        let bits = self.bits();
        match (bits, self.photometric_code) {
            (16, _) => format!("16-bit {colour} read as 8-bit"),
            (_, 3) => format!("{bits}-bit {colour} expanded to 8-bit RGB"),
            _ => format!("{bits}-bit {colour}"),
        }
    }

    /// Planar configuration in words: "chunky" or "separate planes".
    pub fn planar_name(&self) -> &'static str {
        if self.is_planar() {
            "separate planes"
        } else {
            "chunky"
        }
    }

    /// Checks that the samples, layout and compression are ones this reader decodes;
    /// returns the photometric interpretation.
    ///
    /// # Errors
    /// [`Error::Unsupported`] naming what is unsupported (compression and photometric by
    /// name and number) and, where a conversion helps, how to convert the file.
    pub fn check_decodable(&self, path: &std::path::Path, limits: &Limits) -> Result<Photometric> {
        let convert = "convert the slide to an 8-bit RGB tiled pyramidal TIFF, e.g. with \
                       `vips tiffsave in.svs out.tif --tile --pyramid --compression jpeg`";
        let at = self.ifd_offset;
        let unsupported = |what: String| Error::Unsupported {
            path: path.to_path_buf(),
            reason: format!("{what} (image at directory offset {at}); {convert}"),
        };
        // Not H&E at all: say why instead of suggesting a conversion.
        let not_he = |what: String| Error::Unsupported {
            path: path.to_path_buf(),
            reason: format!(
                "{what} (image at directory offset {at}): one channel cannot be separated \
                 into haematoxylin and eosin stains; mitocount needs an RGB brightfield \
                 H&E image"
            ),
        };
        match self.compression {
            compression::NONE
            | compression::LZW
            | compression::JPEG
            | compression::ADOBE_DEFLATE
            | compression::DEFLATE
            | compression::PACKBITS
            | compression::ZSTD
            | compression::WEBP
            | compression::APERIO_J2K_YCBCR
            | compression::APERIO_J2K_RGB
            | compression::JPEG2000 => {}
            other => {
                return Err(unsupported(format!(
                    "compression {} is not supported",
                    compression_label(other)
                )))
            }
        }
        let photometric = match self.photometric_code {
            2 => Photometric::Rgb,
            6 if self.is_codec_coloured() => Photometric::YCbCr,
            6 => {
                return Err(unsupported(format!(
                    "YCbCr samples (photometric 6) with compression {} are not supported; \
                     only JPEG and JPEG 2000 tiles may hold YCbCr",
                    compression_label(self.compression)
                )))
            }
            3 => Photometric::Palette,
            code @ (0 | 1) => {
                let name = if code == 0 {
                    "WhiteIsZero"
                } else {
                    "BlackIsZero"
                };
                return Err(not_he(format!(
                    "greyscale image (photometric {code}, {name}, {} sample(s) per pixel)",
                    self.samples_per_pixel
                )));
            }
            4 => return Err(not_he("transparency mask (photometric 4)".into())),
            code => {
                let name = match code {
                    5 => "CMYK (separated)",
                    8 => "CIE L*a*b*",
                    9 => "ICC L*a*b*",
                    10 => "ITU L*a*b*",
                    32803 => "colour filter array (raw sensor data)",
                    32844 | 32845 => "LogLuv",
                    u64::MAX => "missing",
                    _ => "unknown",
                };
                return Err(unsupported(format!(
                    "photometric interpretation {name} ({}) is not supported; only RGB, \
                     palette, and YCbCr in JPEG are read",
                    if code == u64::MAX {
                        "no PhotometricInterpretation tag".to_string()
                    } else {
                        code.to_string()
                    }
                )));
            }
        };
        let bits = self.bits();
        let bits_text = || {
            self.bits_per_sample
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let bits_ok = self.bits_per_sample.iter().all(|&b| b == bits)
            && match photometric {
                Photometric::Palette => matches!(bits, 1 | 2 | 4 | 8),
                _ if self.is_codec_coloured() || self.compression == compression::WEBP => bits == 8,
                _ => matches!(bits, 8 | 16),
            };
        if !bits_ok {
            return Err(unsupported(format!(
                "{} bits per sample are not supported with {} (8 or 16 for RGB, 1 to 8 for \
                 palette, 8 for JPEG, JPEG 2000 and WebP)",
                bits_text(),
                compression_label(self.compression)
            )));
        }
        if self.sample_format != 1 {
            return Err(unsupported(format!(
                "sample format {} is not supported (only unsigned integers)",
                self.sample_format
            )));
        }
        let spp = self.samples_per_pixel;
        let spp_ok = match photometric {
            _ if self.is_codec_coloured() => spp == 3,
            Photometric::Palette => spp == 1,
            _ if self.compression == compression::WEBP => matches!(spp, 3 | 4),
            _ => spp >= 3,
        };
        if !spp_ok {
            return Err(unsupported(format!(
                "{spp} samples per pixel are not supported with photometric {} ({}) and \
                 compression {}",
                self.photometric_code,
                match photometric {
                    Photometric::Palette => "palette, 1 sample expected",
                    Photometric::YCbCr => "YCbCr",
                    Photometric::Rgb => "RGB",
                },
                compression_label(self.compression)
            )));
        }
        if photometric == Photometric::Palette {
            let entries = 3usize << bits;
            if self.colormap.as_ref().map(Vec::len) != Some(entries) {
                return Err(unsupported(format!(
                    "palette image without a ColorMap of {entries} values"
                )));
            }
        }
        if !matches!(self.planar, 1 | 2) {
            return Err(unsupported(format!(
                "planar configuration {} is not defined by TIFF 6.0 (1 chunky, 2 separate)",
                self.planar
            )));
        }
        // JPEG in separate planes: one 1-component JPEG per plane (libtiff `tiffcp -c
        // jpeg:r -p separate`), RGB only; JPEG 2000 and WebP code all samples together.
        let planar_jpeg_ok =
            self.compression == compression::JPEG && photometric == Photometric::Rgb && spp == 3;
        if self.is_planar()
            && !planar_jpeg_ok
            && (self.is_codec_coloured() || self.compression == compression::WEBP)
        {
            return Err(unsupported(format!(
                "separate colour planes with {} are not supported",
                compression_label(self.compression)
            )));
        }
        let predictor_ok = match self.predictor {
            1 => true,
            2 => !self.is_codec_coloured() && matches!(bits, 8 | 16),
            _ => false,
        };
        if !predictor_ok {
            let name = match self.predictor {
                2 => "horizontal differencing",
                3 => "floating point",
                _ => "unknown",
            };
            return Err(unsupported(format!(
                "predictor {} ({name}) with {bits}-bit samples and {} is not supported",
                self.predictor,
                compression_label(self.compression)
            )));
        }
        let (cw, ch) = self.chunk_size();
        let chunk_bytes = u64::from(cw) * u64::from(ch) * u64::from(spp) * bits.div_ceil(8);
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
