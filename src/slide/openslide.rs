//! Slides read through the OpenSlide C library (cargo feature `openslide`, off by default;
//! the `openslide-rs` binding, linked to the system's libopenslide, Debian package
//! `libopenslide-dev`). Every format OpenSlide reads (Hamamatsu NDPI/VMS/VMU, 3DHISTECH
//! MIRAX, Leica SCN, Ventana BIF, Sakura, Philips TIFF, Aperio, generic tiled TIFF) sits
//! behind the same [`Slide`] as the native reader: levels, pixel size, associated images
//! and region reads in level pixels, white outside the slide.
//!
//! OpenSlide returns premultiplied ARGB; pixels are composited over white
//! (`c + 255 - alpha`), so that transparent areas (outside MIRAX or BIF scan regions, as
//! OpenSlide leaves them) are background, as the native reader's outside is.

use std::path::Path;

use openslide_rs::{Address, OpenSlide, Region, Size};

use crate::error::{Error, Result};
use crate::units::Mpp;

use super::{AssociatedImage, AssociatedKind, LevelInfo, Limits, MppSource, MppState, Slide};

/// An open OpenSlide handle (thread-safe: OpenSlide allows concurrent reads) and the level
/// downsamples it reports.
pub(crate) struct OpenSlideBackend {
    osr: OpenSlide,
    downsamples: Vec<f64>,
    sizes: Vec<(u32, u32)>,
    limits: Limits,
}

/// An [`Error::Unsupported`] naming OpenSlide and its message.
fn os_error(path: &Path, what: &str, e: openslide_rs::errors::OpenSlideError) -> Error {
    Error::Unsupported {
        path: path.to_path_buf(),
        reason: format!("OpenSlide could not {what}: {e}"),
    }
}

/// A property parsed as a number, `None` when absent or not a number.
fn number(osr: &OpenSlide, name: &str) -> Option<f64> {
    osr.property_value(name).ok()?.trim().parse().ok()
}

impl Slide {
    /// Opens `path` through OpenSlide (any format it reads), whatever the native reader
    /// would do with it. [`Slide::open`] sends here only the formats the native reader does
    /// not read; use this to compare the two readers on the same file.
    ///
    /// Pixel size: OpenSlide's `openslide.mpp-x` (from the vendor's metadata);
    /// magnification: `openslide.objective-power`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when OpenSlide does not recognise or cannot read the file, or
    /// a level is larger than `limits.max_side_px`.
    pub fn open_with_openslide(path: &Path, limits: Limits) -> Result<Slide> {
        let osr = OpenSlide::new(path).map_err(|e| os_error(path, "open the slide", e))?;
        let vendor = OpenSlide::detect_vendor(path).unwrap_or_else(|_| "unknown".into());
        let count = osr.level_count();
        let mut levels = Vec::new();
        let mut backend = OpenSlideBackend {
            downsamples: Vec::new(),
            sizes: Vec::new(),
            limits,
            osr,
        };
        for level in 0..count {
            let size = backend
                .osr
                .level_dimensions(level)
                .map_err(|e| os_error(path, "read the level sizes", e))?;
            if size.w.max(size.h) > limits.max_side_px || size.w == 0 || size.h == 0 {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    reason: format!(
                        "level {level} is {}x{} px; mitocount reads levels of 1 to {} px a side",
                        size.w, size.h, limits.max_side_px
                    ),
                });
            }
            let ds = backend
                .osr
                .level_downsample(level)
                .map_err(|e| os_error(path, "read the level downsamples", e))?;
            let tile = |axis| {
                number(
                    &backend.osr,
                    &format!("openslide.level[{level}].tile-{axis}"),
                )
            };
            levels.push(LevelInfo {
                width_px: u64::from(size.w),
                height_px: u64::from(size.h),
                downsample: ds,
                tile_size_px: tile("width")
                    .zip(tile("height"))
                    .map(|(w, h)| (w as u32, h as u32)),
                compression: format!("read by OpenSlide ({vendor})"),
                samples: "8-bit RGB".to_string(),
                planar_configuration: "chunky".to_string(),
                frames: None,
            });
            backend.downsamples.push(ds);
            backend.sizes.push((size.w, size.h));
        }
        if levels.is_empty() {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: "OpenSlide finds no pyramid level".into(),
            });
        }
        let mpp = match number(&backend.osr, "openslide.mpp-x") {
            None => MppState::Missing,
            Some(um) => match Mpp::new(um) {
                Ok(m) => MppState::Known(m, MppSource::OpenSlideProperty),
                Err(_) => MppState::Implausible(um, MppSource::OpenSlideProperty),
            },
        };
        let names = backend.osr.associated_image_names().unwrap_or_default();
        let associated = names
            .iter()
            .filter_map(|n| {
                let kind = kind_of(n)?;
                let size = backend.osr.associated_image_dimensions(n).ok()?;
                Some(AssociatedImage {
                    kind,
                    width_px: u64::from(size.w),
                    height_px: u64::from(size.h),
                    compression: "read by OpenSlide".into(),
                })
            })
            .collect();
        Ok(Slide {
            path: path.to_path_buf(),
            format: super::SlideFormat::OpenSlide,
            levels,
            associated,
            mpp,
            objective_mag: number(&backend.osr, "openslide.objective-power"),
            warnings: vec![format!(
                "read through OpenSlide {} (vendor {vendor})",
                OpenSlide::version().unwrap_or_default()
            )],
            limits,
            backend: super::Backend::OpenSlide(Box::new(backend)),
        })
    }
}

/// OpenSlide's associated image names as kinds.
fn kind_of(name: &str) -> Option<AssociatedKind> {
    match name {
        "thumbnail" => Some(AssociatedKind::Thumbnail),
        "label" => Some(AssociatedKind::Label),
        "macro" => Some(AssociatedKind::Macro),
        _ => None,
    }
}

/// Premultiplied ARGB (native-endian `u32` per pixel, as OpenSlide writes it) composited
/// over white into `out` (RGB8, `w` pixels a row) at `(ox, oy)`.
fn paste_argb(argb: &[u8], (w, h): (u32, u32), out: &mut image::RgbImage, (ox, oy): (u32, u32)) {
    for (i, px) in argb.chunks_exact(4).take((w * h) as usize).enumerate() {
        let v = u32::from_ne_bytes([px[0], px[1], px[2], px[3]]);
        let a = (v >> 24) as u8;
        let c = |shift: u32| ((v >> shift) as u8).saturating_add(255 - a);
        let (x, y) = (ox + i as u32 % w, oy + i as u32 / w);
        out.put_pixel(x, y, image::Rgb([c(16), c(8), c(0)]));
    }
}

impl OpenSlideBackend {
    /// Reads a rectangle of `level` (checked by the caller) in that level's pixels; white
    /// outside the level. OpenSlide takes the top-left corner in level-0 pixels: the level
    /// position times OpenSlide's downsample, rounded.
    pub(crate) fn read_region(
        &self,
        path: &Path,
        level: usize,
        (x, y): (i64, i64),
        (width, height): (u32, u32),
    ) -> Result<image::RgbImage> {
        let mut out = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
        let (lw, lh) = self.sizes[level];
        let x0 = x.max(0);
        let y0 = y.max(0);
        let x1 = x.saturating_add(i64::from(width)).min(i64::from(lw));
        let y1 = y.saturating_add(i64::from(height)).min(i64::from(lh));
        if x0 >= x1 || y0 >= y1 {
            return Ok(out);
        }
        let ds = self.downsamples[level];
        let size = Size {
            w: (x1 - x0) as u32,
            h: (y1 - y0) as u32,
        };
        let region = Region {
            size,
            level: level as u32,
            address: Address {
                x: (x0 as f64 * ds).round() as u32,
                y: (y0 as f64 * ds).round() as u32,
            },
        };
        let argb = self
            .osr
            .read_region(&region)
            .map_err(|e| os_error(path, "read a region", e))?;
        paste_argb(
            &argb,
            (size.w, size.h),
            &mut out,
            ((x0 - x) as u32, (y0 - y) as u32),
        );
        Ok(out)
    }

    /// Decodes an associated image; `None` when the slide has none of that kind.
    pub(crate) fn read_associated(
        &self,
        path: &Path,
        kind: AssociatedKind,
    ) -> Option<Result<image::RgbImage>> {
        let names = self.osr.associated_image_names().ok()?;
        let name = names.iter().find(|n| kind_of(n) == Some(kind))?;
        let size = self.osr.associated_image_dimensions(name).ok()?;
        if u64::from(size.w) * u64::from(size.h) * 3 > self.limits.max_chunk_bytes {
            return Some(Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: format!(
                    "the {name} image is {}x{} px, more than the limit of {} bytes decoded",
                    size.w, size.h, self.limits.max_chunk_bytes
                ),
            }));
        }
        Some(
            self.osr
                .read_associated_buffer(name)
                .map_err(|e| os_error(path, "read an associated image", e))
                .map(|(size, argb)| {
                    let mut out = image::RgbImage::new(size.w, size.h);
                    paste_argb(&argb, (size.w, size.h), &mut out, (0, 0));
                    out
                }),
        )
    }
}
