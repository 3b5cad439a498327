//! The tissue mask: which parts of the slide hold tissue, at low resolution.
//!
//! Tissue is told from glass by its total optical density (OD summed over R, G and B,
//! Ruifrok & Johnston 2001) on a low-resolution overview: a threshold by Otsu's method
//! (Otsu 1979, IEEE Trans SMC 9(1):62-66, DOI 10.1109/TSMC.1979.4310076) bounded to a
//! plausible range, then a morphological closing and removal of specks, as HistomicsTK's
//! `simple_mask` and QuPath's thresholders do.

use image::{GrayImage, Luma, RgbImage};
use imageproc::distance_transform::Norm;
use imageproc::region_labelling::{connected_components, Connectivity};
use ndarray::Array2;

use crate::units::Mpp;

/// Options of the tissue mask. Sizes in µm and µm².
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TissueOptions {
    /// Pixel size the mask is made at, µm per pixel (default 4): an overview finer than
    /// this is box-averaged down first. A 10-HPF hot-spot window is then about 440 x 330
    /// mask pixels, fine for its 95 % tissue test, and the morphology stays cheap.
    pub mask_um_per_px: f64,
    /// Lowest total-OD threshold (default 0.12): Otsu is never allowed below it, so a slide
    /// without tissue is not split into two kinds of glass.
    pub min_threshold_od: f64,
    /// Highest total-OD threshold (default 0.3): on an image that is all tissue Otsu would
    /// split nuclei from stroma; the cap keeps pale stroma as tissue.
    pub max_threshold_od: f64,
    /// Radius of the closing that joins tissue across small gaps, µm (default 16).
    pub close_radius_um: f64,
    /// Tissue pieces smaller than this are removed as dust, µm² (default 2,000).
    pub min_piece_area_um2: f64,
    /// Holes smaller than this inside tissue are filled, µm² (default 2,000).
    pub max_hole_area_um2: f64,
}

impl Default for TissueOptions {
    fn default() -> Self {
        TissueOptions {
            mask_um_per_px: 4.0,
            min_threshold_od: 0.12,
            max_threshold_od: 0.3,
            close_radius_um: 16.0,
            min_piece_area_um2: 2_000.0,
            max_hole_area_um2: 2_000.0,
        }
    }
}

/// Total optical density (R + G + B) per OD unit in the 8-bit overview used for Otsu.
const OD_SCALE_PER_GREY: f64 = 100.0;

/// A boolean tissue mask over the whole slide at a coarse resolution.
///
/// Mask pixel `[row, col]` covers level-0 pixels `x` in `[col * d, (col + 1) * d)` and `y`
/// in `[row * d, (row + 1) * d)` where `d` = [`TissueMask::downsample`]. A summed-area
/// table answers "what fraction of this rectangle is tissue" in constant time.
#[derive(Debug, Clone)]
pub struct TissueMask {
    mask: Array2<bool>,
    downsample: f64,
    /// Summed-area table, shape `[rows + 1, cols + 1]`: `sat[r, c]` counts tissue pixels in
    /// rows `< r` and cols `< c`.
    sat: Array2<u32>,
}

impl TissueMask {
    /// Wraps a mask whose pixels each cover `downsample` x `downsample` level-0 pixels.
    pub fn new(mask: Array2<bool>, downsample: f64) -> Self {
        let (rows, cols) = mask.dim();
        let mut sat = Array2::<u32>::zeros((rows + 1, cols + 1));
        for r in 0..rows {
            let mut row_sum = 0u32;
            for c in 0..cols {
                row_sum += u32::from(mask[[r, c]]);
                sat[[r + 1, c + 1]] = sat[[r, c + 1]] + row_sum;
            }
        }
        TissueMask {
            mask,
            downsample,
            sat,
        }
    }

    /// A mask that says "all tissue" over a `width_px` x `height_px` level-0 image, for
    /// images without background (single fields, mosaics of crops).
    pub fn all_tissue(width_px: u64, height_px: u64, downsample: f64) -> Self {
        let cols = ((width_px as f64 / downsample).ceil() as usize).max(1);
        let rows = ((height_px as f64 / downsample).ceil() as usize).max(1);
        Self::new(Array2::from_elem((rows, cols), true), downsample)
    }

    /// The tissue mask of an overview image whose pixels each cover `downsample` level-0
    /// pixels (of size `mpp`). Near-black pixels (all channels below 30: scanner padding,
    /// not tissue) count as background. When the overview is finer than
    /// `opts.mask_um_per_px`, its total OD is box-averaged over `k x k` blocks first (the
    /// mask's downsample is then `k` times the overview's).
    pub fn from_overview(
        overview: &RgbImage,
        downsample: f64,
        mpp: Mpp,
        opts: &TissueOptions,
    ) -> TissueMask {
        let overview_um_per_px = mpp.downsampled(downsample).um_per_px();
        let k = (opts.mask_um_per_px / overview_um_per_px).floor().max(1.0) as u32;
        let downsample = downsample * f64::from(k);
        // Total OD per channel value, read once per pixel from a table.
        let od_lut: Vec<f32> = (0..=255u8)
            .map(|v| crate::stain::optical_density(v, 255.0).max(0.0) as f32)
            .collect();
        let (ow, oh) = overview.dimensions();
        let (w, h) = (ow.div_ceil(k), oh.div_ceil(k));
        let mut od_sum = vec![0f32; (w * h) as usize];
        let mut count = vec![0u32; (w * h) as usize];
        for (x, y, px) in overview.enumerate_pixels() {
            let i = ((y / k) * w + x / k) as usize;
            if !px.0.iter().all(|&v| v < 30) {
                od_sum[i] += px.0.iter().map(|&v| od_lut[usize::from(v)]).sum::<f32>();
            }
            count[i] += 1;
        }
        let mut od_image = GrayImage::new(w, h);
        for (i, dst) in od_image.pixels_mut().enumerate() {
            let mean_od = f64::from(od_sum[i]) / f64::from(count[i].max(1));
            *dst = Luma([(mean_od * OD_SCALE_PER_GREY).round().clamp(0.0, 255.0) as u8]);
        }
        let otsu_od = f64::from(imageproc::contrast::otsu_level(&od_image)) / OD_SCALE_PER_GREY;
        let threshold_od = otsu_od.clamp(opts.min_threshold_od, opts.max_threshold_od);
        let threshold_grey = (threshold_od * OD_SCALE_PER_GREY).round() as u8;
        let mut binary = GrayImage::from_fn(w, h, |x, y| {
            Luma([if od_image.get_pixel(x, y)[0] > threshold_grey {
                255
            } else {
                0
            }])
        });
        let mask_mpp = mpp.downsampled(downsample);
        let close_px = mask_mpp
            .um_to_px(opts.close_radius_um)
            .round()
            .clamp(0.0, 255.0) as u8;
        if close_px > 0 {
            binary = imageproc::morphology::close(&binary, Norm::LInf, close_px);
        }
        let px_area_um2 = mask_mpp.px2_to_um2(1.0);
        let min_piece_px = (opts.min_piece_area_um2 / px_area_um2).ceil() as usize;
        let max_hole_px = (opts.max_hole_area_um2 / px_area_um2).floor() as usize;
        remove_small_components(&mut binary, 255, min_piece_px);
        remove_small_components(&mut binary, 0, max_hole_px + 1);
        let mask = Array2::from_shape_fn((h as usize, w as usize), |(r, c)| {
            binary.get_pixel(c as u32, r as u32)[0] > 0
        });
        TissueMask::new(mask, downsample)
    }

    /// The mask resampled (nearest mask pixel) onto another grid of `rows x cols` pixels of
    /// `downsample` level-0 pixels each, e.g. a thumbnail's.
    pub fn on_grid(&self, rows: usize, cols: usize, downsample: f64) -> Array2<bool> {
        let (mr, mc) = self.mask.dim();
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            let mrow = ((r as f64 + 0.5) * downsample / self.downsample) as usize;
            let mcol = ((c as f64 + 0.5) * downsample / self.downsample) as usize;
            mrow < mr && mcol < mc && self.mask[[mrow, mcol]]
        })
    }

    /// The mask, shape `[rows, cols]`.
    pub fn mask(&self) -> &Array2<bool> {
        &self.mask
    }

    /// Level-0 pixels per mask pixel.
    pub fn downsample(&self) -> f64 {
        self.downsample
    }

    /// Fraction (0..=1) of the level-0 rectangle `[x0, x1) x [y0, y1)` that is tissue,
    /// counting mask pixels whose centre lies inside it; parts outside the mask count as
    /// background. 0 for an empty rectangle.
    pub fn tissue_fraction(&self, x0_px: f64, y0_px: f64, x1_px: f64, y1_px: f64) -> f64 {
        let (rows, cols) = self.mask.dim();
        let d = self.downsample;
        // Mask pixel c has centre (c + 0.5) d; inside when x0 <= centre < x1.
        let to_index = |v: f64| ((v / d) - 0.5).ceil();
        let total_cols = (to_index(x1_px) - to_index(x0_px)).max(0.0);
        let total_rows = (to_index(y1_px) - to_index(y0_px)).max(0.0);
        let total = total_cols * total_rows;
        if total <= 0.0 {
            return 0.0;
        }
        let clamp_c = |v: f64| v.clamp(0.0, cols as f64) as usize;
        let clamp_r = |v: f64| v.clamp(0.0, rows as f64) as usize;
        let (c0, c1) = (clamp_c(to_index(x0_px)), clamp_c(to_index(x1_px)));
        let (r0, r1) = (clamp_r(to_index(y0_px)), clamp_r(to_index(y1_px)));
        if c0 >= c1 || r0 >= r1 {
            return 0.0;
        }
        let inside =
            self.sat[[r1, c1]] + self.sat[[r0, c0]] - self.sat[[r0, c1]] - self.sat[[r1, c0]];
        f64::from(inside) / total
    }

    /// Tissue area in level-0 px² (mask pixels times their area).
    pub fn tissue_area_px2(&self) -> f64 {
        let (rows, cols) = self.mask.dim();
        f64::from(self.sat[[rows, cols]]) * self.downsample * self.downsample
    }
}

/// Flips connected components (8-connected) of value `value` smaller than `min_px` pixels
/// to the other value: with 255 it removes specks of tissue, with 0 it fills small holes.
/// A hole touching the image border is background around the tissue, not a hole, and is
/// kept whatever its size.
fn remove_small_components(binary: &mut GrayImage, value: u8, min_px: usize) {
    if min_px <= 1 {
        return;
    }
    let other = 255 - value;
    let (w, h) = binary.dimensions();
    if u64::from(w) * u64::from(h) < 2 {
        // imageproc 0.27's labeller indexes past its union-find forest on a 1 x 1 image
        // whose pixel is foreground (label 1 in a forest of 1) and panics; one pixel is
        // decided here: a speck of tissue goes, a hole (touching the border) stays.
        if let Some(p) = binary.get_pixel_mut_checked(0, 0) {
            if p[0] == value && value == 255 {
                p[0] = other;
            }
        }
        return;
    }
    // Label components of `value`: the labeller treats `other` as background.
    let labels = connected_components(&*binary, Connectivity::Eight, Luma([other]));
    let n = labels.pixels().map(|p| p[0] as usize).max().unwrap_or(0);
    let mut sizes = vec![0usize; n + 1];
    let mut touches_border = vec![false; n + 1];
    for (x, y, p) in labels.enumerate_pixels() {
        let l = p[0] as usize;
        sizes[l] += 1;
        if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
            touches_border[l] = true;
        }
    }
    for (x, y, p) in labels.enumerate_pixels() {
        let l = p[0] as usize;
        let keep_border_hole = value == 0 && touches_border[l];
        if l != 0 && sizes[l] < min_px && !keep_border_hole {
            binary.put_pixel(x, y, Luma([other]));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tiny_masks_do_not_panic() {
        use image::{GrayImage, Luma};
        for (w, h) in [(1, 1), (1, 2), (2, 1), (2, 2), (1, 5), (3, 1)] {
            for value in [0u8, 255] {
                for fill in [0u8, 255] {
                    let mut img = GrayImage::from_pixel(w, h, Luma([fill]));
                    super::remove_small_components(&mut img, value, 4);
                }
            }
        }
        let mut speck = GrayImage::from_pixel(1, 1, Luma([255]));
        super::remove_small_components(&mut speck, 255, 4);
        assert_eq!(speck.get_pixel(0, 0)[0], 0);
        let mut hole = GrayImage::from_pixel(1, 1, Luma([0]));
        super::remove_small_components(&mut hole, 0, 4);
        assert_eq!(hole.get_pixel(0, 0)[0], 0);
    }

    use super::*;

    /// A 100x80 overview: white glass, a pink tissue disc with purple dots and a small
    /// hole, and a pink speck of dust.
    fn overview() -> RgbImage {
        RgbImage::from_fn(100, 80, |x, y| {
            let (dx, dy) = (x as f64 - 50.0, y as f64 - 40.0);
            let r2 = dx * dx + dy * dy;
            let hole = (x as f64 - 60.0).powi(2) + (y as f64 - 40.0).powi(2) < 4.0;
            let speck = (3..5).contains(&x) && (3..5).contains(&y);
            if (r2 < 30.0 * 30.0 && !hole) || speck {
                if (x + y) % 7 == 0 {
                    image::Rgb([120, 60, 160])
                } else {
                    image::Rgb([230, 150, 190])
                }
            } else {
                image::Rgb([242, 242, 240])
            }
        })
    }

    #[test]
    fn mask_finds_the_disc_fills_the_hole_and_drops_the_speck() {
        // 8 µm per mask px: the 4-px hole is 256 µm² (< 2,000: filled), the 2x2 speck too
        // (removed).
        let mpp = Mpp::new(0.25).unwrap();
        let t = TissueMask::from_overview(&overview(), 32.0, mpp, &TissueOptions::default());
        let m = t.mask();
        assert!(m[[40, 50]], "disc centre is tissue");
        assert!(m[[40, 60]], "small hole filled");
        assert!(!m[[4, 4]], "speck removed");
        assert!(!m[[5, 95]], "glass is background");
        let disc_px = std::f64::consts::PI * 900.0;
        let area_px = t.tissue_area_px2() / (32.0 * 32.0);
        assert!(
            (area_px - disc_px).abs() / disc_px < 0.1,
            "{area_px} vs {disc_px}"
        );
    }

    #[test]
    fn all_tissue_image_is_all_tissue() {
        // Stroma and dark nuclei everywhere: Otsu would split them; the cap keeps both.
        let img = RgbImage::from_fn(64, 64, |x, y| {
            if (x / 4 + y / 4) % 3 == 0 {
                image::Rgb([90, 40, 140])
            } else {
                image::Rgb([225, 140, 185])
            }
        });
        let mpp = Mpp::new(0.25).unwrap();
        let t = TissueMask::from_overview(&img, 32.0, mpp, &TissueOptions::default());
        assert!(t.mask().iter().all(|&v| v));
    }

    #[test]
    fn fraction_of_half_tissue_mask() {
        // 4x4 mask, left half tissue, each mask px = 10 level-0 px.
        let mut m = Array2::from_elem((4, 4), false);
        m.slice_mut(ndarray::s![.., 0..2]).fill(true);
        let t = TissueMask::new(m, 10.0);
        assert_eq!(t.tissue_fraction(0.0, 0.0, 40.0, 40.0), 0.5);
        assert_eq!(t.tissue_fraction(0.0, 0.0, 20.0, 40.0), 1.0);
        assert_eq!(t.tissue_fraction(20.0, 0.0, 40.0, 40.0), 0.0);
        // Half outside the slide counts as background.
        assert_eq!(t.tissue_fraction(-20.0, 0.0, 20.0, 40.0), 0.5);
        assert_eq!(t.tissue_area_px2(), 800.0);
    }
}
