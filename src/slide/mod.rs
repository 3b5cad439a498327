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

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::units::Mpp;

/// The kind of file a slide was opened from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlideFormat {
    /// Aperio SVS (a TIFF whose first ImageDescription starts with "Aperio").
    AperioSvs,
    /// Any other tiled or striped TIFF (classic or BigTIFF), pyramidal or not.
    Tiff,
    /// A PNG image, read whole as a one-level slide.
    Png,
    /// A JPEG image, read whole as a one-level slide.
    Jpeg,
}

/// Where the level-0 pixel size came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MppSource {
    /// `MPP = ...` in an Aperio ImageDescription.
    AperioDescription,
    /// TIFF XResolution/YResolution with ResolutionUnit (cm or inch).
    TiffResolution,
    /// OME-XML `PhysicalSizeX` (in µm or with `PhysicalSizeXUnit`).
    OmeXml,
    /// Given by the user (`--mpp`).
    Override,
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

/// An open slide. See the module documentation for coordinates and thread safety.
pub struct Slide {
    path: PathBuf,
    format: SlideFormat,
    levels: Vec<LevelInfo>,
    associated: Vec<AssociatedImage>,
    mpp: Option<(Mpp, MppSource)>,
    objective_mag: Option<f64>,
    backend: Backend,
}

enum Backend {
    /// A PNG or JPEG decoded whole at open time.
    Raster(image::RgbImage),
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
    /// Opens a slide: TIFF/BigTIFF/SVS by its header bytes, PNG and JPEG by theirs.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::MalformedTiff`] for a broken
    /// TIFF, [`Error::Unsupported`] for anything else that is not a slide we can decode.
    pub fn open(path: &Path) -> Result<Slide> {
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
                         SVS, TIFF, PNG or JPEG file"
                    ),
                });
            }
        }
        match &header {
            [0x89, b'P', b'N', b'G', ..] => Self::open_raster(path, SlideFormat::Png),
            [0xFF, 0xD8, 0xFF, ..] => Self::open_raster(path, SlideFormat::Jpeg),
            _ => Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: "not a TIFF, SVS, PNG or JPEG file (unrecognised header bytes); \
                         convert it to a tiled pyramidal TIFF, e.g. with `vips tiffsave \
                         in out.tif --tile --pyramid --compression jpeg`"
                    .to_string(),
            }),
        }
    }

    fn open_raster(path: &Path, format: SlideFormat) -> Result<Slide> {
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
            }],
            associated: Vec::new(),
            mpp: None,
            objective_mag: None,
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
    pub fn mpp(&self) -> Result<Mpp> {
        self.mpp.map(|(m, _)| m).ok_or_else(|| Error::MissingMpp {
            path: self.path.clone(),
        })
    }

    /// Where the pixel size came from, `None` when there is none.
    pub fn mpp_source(&self) -> Option<MppSource> {
        self.mpp.map(|(_, s)| s)
    }

    /// Replaces the file's pixel size with the user's (`--mpp`).
    pub fn set_mpp_override(&mut self, mpp: Mpp) {
        self.mpp = Some((mpp, MppSource::Override));
    }

    /// Objective magnification stated by the file (Aperio `AppMag`), if any.
    pub fn objective_mag(&self) -> Option<f64> {
        self.objective_mag
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
    /// [`Error::InvalidOption`] for a level that does not exist; decoding errors of the
    /// tiles touched as [`Error::MalformedTiff`] or [`Error::Unsupported`].
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
        match &self.backend {
            Backend::Raster(img) => Ok(crop_with_white(img, x, y, width, height)),
        }
    }
}

/// Copies a rectangle of `src` into a new image, white outside `src`.
fn crop_with_white(
    src: &image::RgbImage,
    x: i64,
    y: i64,
    width: u32,
    height: u32,
) -> image::RgbImage {
    let mut out = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    let x0 = x.max(0);
    let y0 = y.max(0);
    let x1 = (x + i64::from(width)).min(sw);
    let y1 = (y + i64::from(height)).min(sh);
    if x0 >= x1 || y0 >= y1 {
        return out;
    }
    let row_bytes = ((x1 - x0) * 3) as usize;
    for sy in y0..y1 {
        let src_off = ((sy * sw + x0) * 3) as usize;
        let dst_off = (((sy - y) * i64::from(width) + (x0 - x)) * 3) as usize;
        out.as_mut()[dst_off..dst_off + row_bytes]
            .copy_from_slice(&src.as_raw()[src_off..src_off + row_bytes]);
    }
    out
}
