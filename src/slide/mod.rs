//! Opening slides and reading regions of their pyramid levels.
//!
//! Only this module reads input images. A [`Slide`] knows its levels (level 0 is full
//! resolution), their downsample factors, the pixel size of level 0 and where it came
//! from, and reads any rectangle of any level as RGB8, decoding only the tiles it touches.
//!
//! Coordinates: pixels of the level being read, x to the right, y down. Pixels outside the
//! level are returned as white (255, 255, 255), i.e. background with zero optical density,
//! so fields with a halo can reach past the image border.
//!
//! `Slide` is `Send + Sync`: rayon workers share one `Slide` and call
//! [`Slide::read_region`] concurrently.
//!
//! # TIFF, BigTIFF and Aperio SVS
//! The directories (IFDs) are parsed here, not by a general TIFF library, so every size
//! a header claims is checked against the file size and [`Limits`] before anything is
//! allocated, and chunk bytes are fetched with positional reads (`pread`) on one shared
//! file handle: workers never wait for each other's I/O or decoding. Decoded tiles go
//! into a small LRU cache bounded in bytes ([`Limits::tile_cache_bytes`]) so neighbouring
//! regions do not decode a tile twice; its lock is held only to look up or insert.
//!
//! Decoded: classic TIFF and BigTIFF; tiled and striped; chunky or separate planes; 8- and
//! 16-bit RGB (16 read as 8), RGBA (transparent = white), palette; none, PackBits, LZW,
//! Deflate, Zstandard, WebP (predictor 2) through the `tiff` crate (`samples.rs`); JPEG (7)
//! with shared JPEGTables (TIFF Technical Note 2), and JPEG 2000 (Aperio 33003 YCbCr and
//! 33005 RGB, and 34712) through the pure-Rust `hayro-jpeg2000` decoder. JPEG colour follows
//! libtiff: photometric YCbCr is converted with the BT.601 full-range (JFIF) matrix;
//! photometric RGB is taken as coded (Aperio writes RGB components with IDs 0, 1, 2).
//! Decodes match libtiff/libjpeg-turbo within a mean absolute error of 0.4 grey levels
//! and OpenJPEG within 0.002 (tests/it/slide.rs, tests/it/tiff_corpus.rs). Other codecs
//! and photometrics are [`Error::Unsupported`], named with their TIFF code. Of a tag given
//! twice in one directory the first wins, as in libtiff ([`SlideInfo::warnings`]).
//!
//! # DICOM whole-slide images
//! One file or a folder of one series' instances, read frame by frame: see `dicom.rs`.
//!
//! Levels are the full-resolution image and every directory whose size is a consistent
//! reduction of it (main chain and SubIFDs), sorted by width; downsample is the width
//! ratio. Aperio thumbnail (second directory, striped), label and macro images are
//! associated images, not levels (as OpenSlide reads them).
//!
//! Pixel size, in order: Aperio `MPP = x`, OME-XML `PhysicalSizeX` (with its unit), TIFF
//! XResolution with ResolutionUnit inch or cm (unit "none" is ignored). A stated value
//! outside 0.05..=5 µm/px is reported but [`Slide::mpp`] then asks for `--mpp`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::units::Mpp;

mod cache;
mod codec;
mod dicom;
mod dir;
mod ifd;

pub(crate) use ifd::tag as tiff_tags;
mod metadata;
mod pixels;
use pixels::block_means;
pub use pixels::crop_with_white;
#[cfg(feature = "openslide")]
mod openslide;
mod samples;
mod tiff;
mod vendor;

/// Bounds on what a slide may make the reader allocate, and the tile cache size.
///
/// A slide is untrusted input: every size read from a header is checked against these
/// and against the file size before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted image width or height in pixels (default 4,000,000).
    pub max_side_px: u32,
    /// Largest decoded tile or strip, and largest associated image, in bytes
    /// (default 64 MiB: e.g. a 4096 x 4096 RGB tile is 48 MiB).
    pub max_chunk_bytes: u64,
    /// Largest compressed tile or strip in bytes (default 256 MiB).
    pub max_compressed_chunk_bytes: u64,
    /// Budget of the decoded-tile cache shared by all threads, in bytes (default 64 MiB;
    /// 0 disables the cache).
    pub tile_cache_bytes: usize,
    /// Largest region one [`Slide::read_region`] call may return, in bytes of RGB8
    /// (default 1 GiB, e.g. 18,000 x 18,000 px).
    pub max_region_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_side_px: 4_000_000,
            max_chunk_bytes: 64 << 20,
            max_compressed_chunk_bytes: 256 << 20,
            tile_cache_bytes: 64 << 20,
            max_region_bytes: 1 << 30,
        }
    }
}

/// The kind of file a slide was opened from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlideFormat {
    /// Aperio SVS (a TIFF whose first ImageDescription starts with "Aperio").
    AperioSvs,
    /// Any other tiled or striped TIFF (classic or BigTIFF), pyramidal or not.
    Tiff,
    /// Another scanner's format, read through OpenSlide (cargo feature `openslide`).
    OpenSlide,
    /// A PNG image, read whole as a one-level slide.
    Png,
    /// A JPEG image, read whole as a one-level slide.
    Jpeg,
    /// A DICOM whole-slide image (one file, or a folder of one series' instances).
    Dicom,
}

/// Where the level-0 pixel size came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MppSource {
    /// `MPP = ...` in an Aperio ImageDescription.
    AperioDescription,
    /// TIFF XResolution/YResolution with ResolutionUnit (cm or inch).
    TiffResolution,
    /// OpenSlide's `openslide.mpp-x` property (cargo feature `openslide`).
    OpenSlideProperty,
    /// OME-XML `PhysicalSizeX` (in µm or with `PhysicalSizeXUnit`).
    OmeXml,
    /// Given by the user (`--mpp`).
    Override,
    /// DICOM PixelSpacing in the (shared) functional groups' PixelMeasuresSequence.
    DicomPixelSpacing,
}

/// One pyramid level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LevelInfo {
    /// Width in pixels of this level.
    pub width_px: u64,
    /// Height in pixels of this level.
    pub height_px: u64,
    /// Level-0 pixels per pixel of this level (1 for level 0), from the width ratio.
    pub downsample: f64,
    /// Tile width and height in pixels, `None` for striped or whole-image levels.
    pub tile_size_px: Option<(u32, u32)>,
    /// Compression, in words (e.g. "JPEG", "LZW", "none", "PNG").
    pub compression: String,
    /// The samples as stored and how they are read, e.g. "8-bit RGB", "16-bit RGB read
    /// as 8-bit", "8-bit palette expanded to 8-bit RGB".
    pub samples: String,
    /// Planar configuration: "chunky" (samples interleaved) or "separate planes".
    pub planar_configuration: String,
    /// DICOM: how the frames lie (TILED_FULL or TILED_SPARSE, count, grid); else `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<String>,
}

/// What an associated (non-level) image of a slide is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssociatedKind {
    /// Aperio thumbnail (the second directory of an SVS).
    Thumbnail,
    /// Slide label (NewSubfileType 1 in SVS, or ImageDescription "label").
    Label,
    /// Overview photograph (NewSubfileType 9 in SVS, or ImageDescription "macro").
    Macro,
}

/// An associated image recognised in the file, not used as a level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AssociatedImage {
    /// What it is.
    pub kind: AssociatedKind,
    /// Width in pixels.
    pub width_px: u64,
    /// Height in pixels.
    pub height_px: u64,
    /// Compression, in words.
    pub compression: String,
}

/// The level-0 pixel size as the slide knows it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum MppState {
    /// Nothing stated and no override.
    Missing,
    /// A plausible value (or the user's override) and its source.
    Known(Mpp, MppSource),
    /// A value stated by the file but outside 0.05..=5 µm/px, kept to report it.
    Implausible(f64, MppSource),
}

/// Everything `mitocount info` reports about a slide (serialisable as JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlideInfo {
    /// The file.
    pub path: PathBuf,
    /// The kind of file.
    pub format: SlideFormat,
    /// BigTIFF (64-bit offsets) rather than classic TIFF; false for PNG/JPEG.
    pub bigtiff: bool,
    /// Pyramid levels, full resolution first.
    pub levels: Vec<LevelInfo>,
    /// Level-0 pixel size in µm/px when known and plausible (or overridden).
    pub mpp_um_per_px: Option<f64>,
    /// Where the pixel size came from.
    pub mpp_source: Option<MppSource>,
    /// The value stated by the file when it is outside 0.05..=5 µm/px (then `--mpp` is
    /// needed), else `None`.
    pub implausible_mpp_um_per_px: Option<f64>,
    /// Objective magnification (Aperio `AppMag`, OME `NominalMagnification`).
    pub objective_mag: Option<f64>,
    /// Label, macro and thumbnail images.
    pub associated_images: Vec<AssociatedImage>,
    /// What the reader tolerated, as libtiff warns about it (a tag given twice: the
    /// first is used; tags out of order); empty for a clean file.
    pub warnings: Vec<String>,
}

/// A low-resolution picture of the whole slide (see [`Slide::read_overview`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// The picture, RGB8.
    pub image: image::RgbImage,
    /// Level-0 pixels per overview pixel (the same in x and y, nominally).
    pub downsample: f64,
    /// The level it was computed from.
    pub level: usize,
}

/// Bytes of decoded pixels one overview block may take (bounds its memory: one block
/// per worker thread at a time).
const OVERVIEW_BLOCK_BYTES: u64 = 32 << 20;

/// An open slide. See the module documentation for coordinates and thread safety.
pub struct Slide {
    path: PathBuf,
    format: SlideFormat,
    levels: Vec<LevelInfo>,
    associated: Vec<AssociatedImage>,
    mpp: MppState,
    objective_mag: Option<f64>,
    warnings: Vec<String>,
    limits: Limits,
    backend: Backend,
}

enum Backend {
    /// Another scanner's slide read through OpenSlide.
    #[cfg(feature = "openslide")]
    OpenSlide(Box<openslide::OpenSlideBackend>),
    /// A PNG or JPEG decoded whole at open time.
    Raster(image::RgbImage),
    /// A TIFF read chunk by chunk through a shared cache.
    Tiff(Box<TiffBackend>),
    /// A DICOM whole-slide image read frame by frame through a shared cache.
    Dicom(Box<dicom::DicomBackend>),
}

struct TiffBackend {
    file: ifd::TiffFile,
    levels: Vec<tiff::Readable>,
    associated: Vec<(AssociatedKind, dir::ImageDir)>,
    cache: cache::ChunkCache,
    limits: Limits,
}

impl std::fmt::Debug for Slide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slide")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("levels", &self.levels)
            .field("mpp", &self.mpp)
            .finish_non_exhaustive()
    }
}

/// Largest PNG/JPEG accepted as a one-level slide, in pixels (decoded whole into memory).
const MAX_RASTER_PIXELS: u64 = 400_000_000;

impl Slide {
    /// Opens a slide: TIFF/BigTIFF/SVS, DICOM, PNG and JPEG by their header bytes; a
    /// folder as a DICOM series.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::MalformedTiff`] or
    /// [`Error::MalformedDicom`] for a broken TIFF or DICOM file, [`Error::Unsupported`] for
    /// anything else that is not a slide we can decode.
    pub fn open(path: &Path) -> Result<Slide> {
        Self::open_with_limits(path, Limits::default())
    }

    /// [`Slide::open`] with explicit allocation bounds and cache size.
    ///
    /// # Errors
    /// As [`Slide::open`]; a slide exceeding `limits` is [`Error::Unsupported`] or
    /// [`Error::MalformedTiff`].
    pub fn open_with_limits(path: &Path, limits: Limits) -> Result<Slide> {
        if path.is_dir() {
            return dicom::open_folder(path, limits);
        }
        if let Some(found) = vendor::Vendor::detect(path)? {
            return vendor::open(path, found, limits);
        }
        if let Some((file, first_ifd)) = ifd::TiffFile::open(path)? {
            return Self::open_tiff(file, first_ifd, limits);
        }
        if dicom::sniff(path)? {
            return dicom::open(path, limits);
        }
        let mut header = [0u8; 8];
        {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let n = f.read(&mut header).map_err(|e| Error::io(path, e))?;
            if n < 8 {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    reason: format!(
                        "file is {n} bytes long, too short to be an image; expected an \
                         SVS, TIFF, DICOM, PNG or JPEG file"
                    ),
                });
            }
        }
        match &header {
            [0x89, b'P', b'N', b'G', ..] => Self::open_raster(path, SlideFormat::Png, limits),
            [0xFF, 0xD8, 0xFF, ..] => Self::open_raster(path, SlideFormat::Jpeg, limits),
            _ => Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: "not a TIFF, SVS, PNG or JPEG file (unrecognised header bytes); \
                         convert it to a tiled pyramidal TIFF, e.g. with `vips tiffsave \
                         in out.tif --tile --pyramid --compression jpeg`"
                    .to_string(),
            }),
        }
    }

    fn open_tiff(file: ifd::TiffFile, first_ifd: u64, limits: Limits) -> Result<Slide> {
        let contents = tiff::scan(&file, first_ifd, &limits)?;
        let Some(base) = contents.levels.first() else {
            return Err(file.malformed("no pyramid level found"));
        };
        let w0 = f64::from(base.dir.width);
        let levels = contents
            .levels
            .iter()
            .map(|r| LevelInfo {
                width_px: u64::from(r.dir.width),
                height_px: u64::from(r.dir.height),
                downsample: w0 / f64::from(r.dir.width),
                tile_size_px: match r.dir.layout {
                    dir::ChunkLayout::Tiled { tile_w, tile_h } => Some((tile_w, tile_h)),
                    dir::ChunkLayout::Striped { .. } => None,
                },
                compression: r.dir.compression_name(),
                samples: r.dir.sample_description(),
                planar_configuration: r.dir.planar_name().to_string(),
                frames: None,
            })
            .collect();
        let associated = contents
            .associated
            .iter()
            .map(|(kind, d)| AssociatedImage {
                kind: *kind,
                width_px: u64::from(d.width),
                height_px: u64::from(d.height),
                compression: d.compression_name(),
            })
            .collect();
        let mpp = match contents.mpp_um {
            None => MppState::Missing,
            Some((um, source)) => match Mpp::new(um) {
                Ok(m) => MppState::Known(m, source),
                Err(_) => MppState::Implausible(um, source),
            },
        };
        let format = if contents.is_svs {
            SlideFormat::AperioSvs
        } else {
            SlideFormat::Tiff
        };
        Ok(Slide {
            path: file.path.clone(),
            format,
            levels,
            associated,
            mpp,
            objective_mag: contents.objective_mag,
            warnings: contents.warnings.clone(),
            limits,
            backend: Backend::Tiff(Box::new(TiffBackend {
                cache: cache::ChunkCache::new(limits.tile_cache_bytes),
                file,
                levels: contents.levels,
                associated: contents.associated,
                limits,
            })),
        })
    }

    fn open_raster(path: &Path, format: SlideFormat, limits: Limits) -> Result<Slide> {
        let reader = image::ImageReader::open(path)
            .map_err(|e| Error::io(path, e))?
            .with_guessed_format()
            .map_err(|e| Error::io(path, e))?;
        let (w, h) = reader.into_dimensions().map_err(|e| Error::Unsupported {
            path: path.to_path_buf(),
            reason: format!("cannot read image header: {e}"),
        })?;
        if u64::from(w) * u64::from(h) > MAX_RASTER_PIXELS {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: format!(
                    "{w}x{h} px is too large for a PNG/JPEG slide (decoded whole); \
                     convert it to a tiled pyramidal TIFF"
                ),
            });
        }
        let image = image::ImageReader::open(path)
            .map_err(|e| Error::io(path, e))?
            .with_guessed_format()
            .map_err(|e| Error::io(path, e))?
            .decode()
            .map_err(|e| Error::Unsupported {
                path: path.to_path_buf(),
                reason: format!("cannot decode image: {e}"),
            })?
            .into_rgb8();
        let compression = match format {
            SlideFormat::Png => "PNG",
            _ => "JPEG",
        };
        Ok(Slide {
            path: path.to_path_buf(),
            format,
            levels: vec![LevelInfo {
                width_px: u64::from(w),
                height_px: u64::from(h),
                downsample: 1.0,
                tile_size_px: None,
                compression: compression.to_string(),
                samples: "8-bit RGB".to_string(),
                planar_configuration: "chunky".to_string(),
                frames: None,
            }],
            associated: Vec::new(),
            mpp: MppState::Missing,
            objective_mag: None,
            warnings: Vec::new(),
            limits,
            backend: Backend::Raster(image),
        })
    }

    /// The file the slide was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kind of file.
    pub fn format(&self) -> SlideFormat {
        self.format
    }

    /// Pyramid levels, level 0 (full resolution) first, downsample increasing.
    pub fn levels(&self) -> &[LevelInfo] {
        &self.levels
    }

    /// Associated images (thumbnail, label, macro) recognised and not used as levels.
    pub fn associated_images(&self) -> &[AssociatedImage] {
        &self.associated
    }

    /// Level-0 pixel size.
    ///
    /// # Errors
    /// [`Error::MissingMpp`] when the file states none and no override was set.
    /// [`Error::InvalidOption`] naming `--mpp` when the file states a value outside
    /// 0.05..=5 µm/px (see [`Mpp::new`]).
    pub fn mpp(&self) -> Result<Mpp> {
        match self.mpp {
            MppState::Known(m, _) => Ok(m),
            MppState::Implausible(um, _) => Mpp::new(um),
            MppState::Missing => Err(Error::MissingMpp {
                path: self.path.clone(),
            }),
        }
    }

    /// Where the pixel size came from, `None` when there is none (an implausible stated
    /// value still has its source).
    pub fn mpp_source(&self) -> Option<MppSource> {
        match self.mpp {
            MppState::Known(_, s) | MppState::Implausible(_, s) => Some(s),
            MppState::Missing => None,
        }
    }

    /// The pixel size in µm/px as the file states it, plausible or not; `None` when the
    /// file states none or an override replaced it.
    pub fn stated_mpp_um(&self) -> Option<f64> {
        match self.mpp {
            MppState::Known(m, s) if s != MppSource::Override => Some(m.um_per_px()),
            MppState::Implausible(um, _) => Some(um),
            _ => None,
        }
    }

    /// A summary of the slide for `mitocount info`.
    pub fn info(&self) -> SlideInfo {
        SlideInfo {
            path: self.path.clone(),
            format: self.format,
            bigtiff: self.is_bigtiff(),
            levels: self.levels.clone(),
            mpp_um_per_px: self.mpp().ok().map(Mpp::um_per_px),
            mpp_source: self.mpp_source(),
            implausible_mpp_um_per_px: match self.mpp {
                MppState::Implausible(um, _) => Some(um),
                _ => None,
            },
            objective_mag: self.objective_mag,
            associated_images: self.associated.clone(),
            warnings: self.warnings.clone(),
        }
    }

    /// Replaces the file's pixel size with the user's (`--mpp`).
    pub fn set_mpp_override(&mut self, mpp: Mpp) {
        self.mpp = MppState::Known(mpp, MppSource::Override);
    }

    /// True when the file is a BigTIFF (64-bit offsets).
    pub fn is_bigtiff(&self) -> bool {
        match &self.backend {
            Backend::Tiff(t) => t.file.layout.big,
            _ => false,
        }
    }

    /// Decodes an associated image (label, macro, thumbnail) whole.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when the slide has no such image; [`Error::Unsupported`]
    /// or [`Error::MalformedTiff`] when it cannot be decoded.
    pub fn read_associated(&self, kind: AssociatedKind) -> Result<image::RgbImage> {
        #[cfg(feature = "openslide")]
        if let Backend::OpenSlide(o) = &self.backend {
            if let Some(found) = o.read_associated(&self.path, kind) {
                return found;
            }
        }
        let found = match &self.backend {
            Backend::Tiff(t) => t
                .associated
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, d)| (t, d)),
            Backend::Dicom(d) => return d.read_associated(kind, &self.path),
            _ => None,
        };
        match found {
            Some((t, d)) => tiff::read_whole(&t.file, d, &t.limits),
            None => Err(Error::invalid_option(
                "associated image",
                format!("{} has no {kind:?} image", self.path.display()),
            )),
        }
    }

    /// Objective magnification stated by the file (Aperio `AppMag`), if any.
    pub fn objective_mag(&self) -> Option<f64> {
        self.objective_mag
    }

    /// A picture of the whole slide whose longer side is at most `max_side_px` and more
    /// than half of it (or level 0 itself when smaller): the level chosen by
    /// [`Slide::best_level_for_downsample`], shrunk by averaging `k x k` blocks (integer
    /// `k >= 1`; blocks cut by the image border average their inside pixels). Memory stays bounded whatever the slide size:
    /// the level is read in blocks of at most 32 MiB. Use it for tissue masks.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `max_side_px` when it is 0; decoding errors as
    /// [`Slide::read_region`].
    pub fn read_overview(&self, max_side_px: u32) -> Result<Overview> {
        if max_side_px == 0 {
            return Err(Error::invalid_option("max_side_px", "must be at least 1"));
        }
        let base = &self.levels[0];
        let target = (base.width_px.max(base.height_px) as f64 / f64::from(max_side_px)).max(1.0);
        let level = self.best_level_for_downsample(target);
        let info = &self.levels[level];
        let (lw, lh) = (info.width_px, info.height_px);
        // Smallest integer k that brings the longer side to max_side_px or below.
        let k = lw.max(lh).div_ceil(u64::from(max_side_px)).max(1);
        let (ow, oh) = (lw.div_ceil(k), lh.div_ceil(k));
        let mut out = image::RgbImage::new(ow as u32, oh as u32);
        // Blocks of b x b output pixels, i.e. (b k) x (b k) level pixels.
        let block_side_px = ((OVERVIEW_BLOCK_BYTES / 3) as f64).sqrt() as u64;
        let b = (block_side_px / k).max(1);
        // Blocks are read and averaged in parallel (rayon workers), then pasted in order.
        let blocks: Vec<(u64, u64)> = (0..oh)
            .step_by(b as usize)
            .flat_map(|by| (0..ow).step_by(b as usize).map(move |bx| (bx, by)))
            .collect();
        let averaged = blocks
            .par_iter()
            .map(|&(bx, by)| {
                let (bw, bh) = ((ow - bx).min(b), (oh - by).min(b));
                let (x0, y0) = (bx * k, by * k);
                let rw = (bw * k).min(lw - x0);
                let rh = (bh * k).min(lh - y0);
                let region = self.read_region(level, x0 as i64, y0 as i64, rw as u32, rh as u32)?;
                Ok(block_means(&region, k as usize, bw as usize, bh as usize))
            })
            .collect::<Result<Vec<Vec<u8>>>>()?;
        for (&(bx, by), means) in blocks.iter().zip(&averaged) {
            let bw = (ow - bx).min(b) as usize;
            for (oy, row) in means.chunks_exact(bw * 3).enumerate() {
                let start = ((by as usize + oy) * ow as usize + bx as usize) * 3;
                out.as_mut()[start..start + bw * 3].copy_from_slice(row);
            }
        }
        Ok(Overview {
            image: out,
            downsample: info.downsample * k as f64,
            level,
        })
    }

    /// Reads every pixel of `level` once, in non-overlapping `side_px` squares decoded in
    /// parallel (rayon), and returns a checksum of them: the decode-only baseline that
    /// the benches and `examples/decode_baseline.rs` set beside the analysis. Open the
    /// slide with `tile_cache_bytes: 0` so that nothing is served from the cache.
    ///
    /// # Errors
    /// As [`Slide::read_region`]; [`Error::InvalidOption`] for a bad level or side.
    pub fn decode_level(&self, level: usize, side_px: u32) -> Result<u64> {
        let info = self
            .levels
            .get(level)
            .ok_or_else(|| Error::invalid_option("level", "no such level"))?;
        if side_px == 0 {
            return Err(Error::invalid_option("side_px", "must be at least 1"));
        }
        let side = u64::from(side_px);
        let squares: Vec<(i64, i64)> = (0..info.height_px.div_ceil(side))
            .flat_map(|r| {
                (0..info.width_px.div_ceil(side))
                    .map(move |c| ((c * side) as i64, (r * side) as i64))
            })
            .collect();
        squares
            .par_iter()
            .map(|&(x, y)| {
                let img = self.read_region(level, x, y, side_px, side_px)?;
                Ok(img
                    .as_raw()
                    .iter()
                    .step_by(4099)
                    .map(|&v| u64::from(v))
                    .sum::<u64>())
            })
            .sum()
    }

    /// The level whose downsample is the largest not exceeding `downsample` (level 0 if
    /// none is smaller).
    pub fn best_level_for_downsample(&self, downsample: f64) -> usize {
        self.levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.downsample <= downsample * (1.0 + 1e-6))
            .map(|(i, _)| i)
            .next_back()
            .unwrap_or(0)
    }

    /// Reads a `width` x `height` rectangle of `level` whose top-left corner is `(x, y)`
    /// in that level's pixels. Pixels outside the level are white.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a level that does not exist or a region larger than
    /// [`Limits::max_region_bytes`]; decoding errors of the tiles touched as
    /// [`Error::MalformedTiff`] or [`Error::Unsupported`].
    pub fn read_region(
        &self,
        level: usize,
        x: i64,
        y: i64,
        width: u32,
        height: u32,
    ) -> Result<image::RgbImage> {
        if level >= self.levels.len() {
            return Err(Error::invalid_option(
                "level",
                format!(
                    "level {level} does not exist (slide has {})",
                    self.levels.len()
                ),
            ));
        }
        let region_bytes = u64::from(width) * u64::from(height) * 3;
        if region_bytes > self.limits.max_region_bytes {
            return Err(Error::invalid_option(
                "region",
                format!(
                    "a {width}x{height} px region takes {region_bytes} bytes, more than the \
                     limit of {} bytes; read it in smaller pieces",
                    self.limits.max_region_bytes
                ),
            ));
        }
        match &self.backend {
            #[cfg(feature = "openslide")]
            Backend::OpenSlide(o) => o.read_region(&self.path, level, (x, y), (width, height)),
            Backend::Raster(img) => Ok(crop_with_white(img, x, y, width, height)),
            Backend::Tiff(t) => t.read_region(level, (x, y), (width, height)),
            Backend::Dicom(d) => d.read_region(level, (x, y), (width, height)),
        }
    }
}

impl TiffBackend {
    /// Reads a rectangle of level `level` (checked by the caller), decoding the chunks it
    /// touches through the cache.
    fn read_region(
        &self,
        level: usize,
        (x, y): (i64, i64),
        (width, height): (u32, u32),
    ) -> Result<image::RgbImage> {
        let image = &self.levels[level];
        let d = &image.dir;
        let mut out = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
        let (lw, lh) = (i64::from(d.width), i64::from(d.height));
        let x0 = x.max(0);
        let y0 = y.max(0);
        let x1 = x.saturating_add(i64::from(width)).min(lw);
        let y1 = y.saturating_add(i64::from(height)).min(lh);
        if x0 >= x1 || y0 >= y1 {
            return Ok(out);
        }
        let (cw, ch) = d.chunk_size();
        let (cw, ch) = (i64::from(cw), i64::from(ch));
        let (across, _) = d.chunks_across_down();
        let level_key = u32::try_from(level).unwrap_or(u32::MAX);
        for cy in (y0 / ch)..=((y1 - 1) / ch) {
            for cx in (x0 / cw)..=((x1 - 1) / cw) {
                // cx, cy are non-negative and inside the level: x0, y0 >= 0.
                let index = cy as u64 * across + cx as u64;
                let chunk = tiff::chunk(
                    &self.file,
                    &self.cache,
                    (level_key, index),
                    image,
                    &self.limits,
                )?;
                blit(
                    &chunk,
                    (cx * cw, cy * ch),
                    (d.width, d.height),
                    &mut out,
                    (x, y),
                );
            }
        }
        Ok(out)
    }
}

/// Copies the part of `chunk` (whose top-left pixel is at `chunk_origin` in level
/// coordinates) that lies inside both the level (`level_size`) and `out` (whose top-left
/// pixel is at `out_origin`).
fn blit(
    chunk: &codec::Chunk,
    chunk_origin: (i64, i64),
    level_size: (u32, u32),
    out: &mut image::RgbImage,
    out_origin: (i64, i64),
) {
    let (cx, cy) = chunk_origin;
    let (ox, oy) = out_origin;
    let x0 = cx.max(ox);
    let y0 = cy.max(oy);
    let x1 = (cx + i64::from(chunk.width))
        .min(i64::from(level_size.0))
        .min(ox + i64::from(out.width()));
    let y1 = (cy + i64::from(chunk.height))
        .min(i64::from(level_size.1))
        .min(oy + i64::from(out.height()));
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let row_bytes = ((x1 - x0) * 3) as usize;
    let out_w = i64::from(out.width());
    let chunk_w = i64::from(chunk.width);
    let dst = out.as_mut();
    for yy in y0..y1 {
        let s = (((yy - cy) * chunk_w + (x0 - cx)) * 3) as usize;
        let t = (((yy - oy) * out_w + (x0 - ox)) * 3) as usize;
        dst[t..t + row_bytes].copy_from_slice(&chunk.rgb[s..s + row_bytes]);
    }
}
