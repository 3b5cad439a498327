//! A low-resolution overview of a whole slide, read block by block in bounded memory.

use image::RgbImage;

use crate::error::{Error, Result};
use crate::slide::Slide;

/// Overview output pixels per side of one block read from the slide.
const BLOCK_OUT_PX: u32 = 256;

/// Largest overview accepted, in pixels per side.
const MAX_OVERVIEW_SIDE_PX: u64 = 32_768;

/// A whole-slide image at low resolution.
#[derive(Debug, Clone)]
pub struct Overview {
    /// The pixels.
    pub image: RgbImage,
    /// Level-0 pixels per overview pixel (>= 1).
    pub downsample: f64,
}

/// Reads the whole slide at a downsample close to, and not above, `target_downsample`
/// (level-0 px per output px): from the pyramid level just finer than the target, reduced
/// by an integer box average (each output pixel is the mean of `k x k` level pixels).
/// Memory: the output plus one block of at most `(256 k)²` level pixels.
///
/// # Errors
/// Region-read errors of the slide; [`Error::Unsupported`] when the overview would exceed
/// 32,768 px per side (the target downsample is too small for the slide).
pub fn read_overview(slide: &Slide, target_downsample: f64) -> Result<Overview> {
    let level = slide.best_level_for_downsample(target_downsample.max(1.0));
    let info = &slide.levels()[level];
    let k = (target_downsample / info.downsample).floor().max(1.0) as u64;
    let out_w = info.width_px.div_ceil(k);
    let out_h = info.height_px.div_ceil(k);
    if out_w > MAX_OVERVIEW_SIDE_PX || out_h > MAX_OVERVIEW_SIDE_PX {
        return Err(Error::Unsupported {
            path: slide.path().to_path_buf(),
            reason: format!(
                "an overview at downsample {target_downsample} would be {out_w}x{out_h} px; \
                 the slide is too large for this overview resolution"
            ),
        });
    }
    let mut image = RgbImage::new(out_w as u32, out_h as u32);
    let block_level_px = u64::from(BLOCK_OUT_PX) * k;
    let area = (k * k) as u32;
    for by in (0..out_h).step_by(BLOCK_OUT_PX as usize) {
        for bx in (0..out_w).step_by(BLOCK_OUT_PX as usize) {
            let bw = (out_w - bx).min(u64::from(BLOCK_OUT_PX));
            let bh = (out_h - by).min(u64::from(BLOCK_OUT_PX));
            let region = slide.read_region(
                level,
                (bx * k) as i64,
                (by * k) as i64,
                (bw * k).min(block_level_px) as u32,
                (bh * k).min(block_level_px) as u32,
            )?;
            for oy in 0..bh as u32 {
                for ox in 0..bw as u32 {
                    let mut sum = [0u32; 3];
                    for dy in 0..k as u32 {
                        for dx in 0..k as u32 {
                            let p = region.get_pixel(ox * k as u32 + dx, oy * k as u32 + dy);
                            for c in 0..3 {
                                sum[c] += u32::from(p[c]);
                            }
                        }
                    }
                    let mean = sum.map(|s| ((s + area / 2) / area) as u8);
                    image.put_pixel(bx as u32 + ox, by as u32 + oy, image::Rgb(mean));
                }
            }
        }
    }
    Ok(Overview {
        image,
        downsample: info.downsample * k as f64,
    })
}
