//! The field at the working resolution: box-averaged RGB turned into haematoxylin, eosin
//! and residual optical-density planes on a grid aligned to level-0 coordinates.

use super::gaussian::Plane;
use super::FieldImage;
use crate::stain::Deconvolver;
use crate::units::Mpp;

/// Haematoxylin, eosin and residual OD planes of a field at the working resolution.
///
/// Working pixel `(col, row)` has the global working-grid index `(gx0 + col, gy0 + row)`
/// and covers level-0 pixels `[(gx0 + col) * l0, (gx0 + col + 1) * l0)` in x (same in y),
/// where `l0` = [`WorkPlanes::level0_per_px`]. The grid is anchored at level-0 (0, 0), so
/// two fields that overlap see the same working pixels in the overlap.
#[derive(Debug, Clone)]
pub struct WorkPlanes {
    /// Haematoxylin OD (>= 0).
    pub h: Plane,
    /// Eosin OD (>= 0).
    pub e: Plane,
    /// Residual (third stain) OD, signed: large for grey or black matter that is neither
    /// haematoxylin nor eosin (ink, debris, black padding).
    pub residual: Plane,
    /// Global working-grid column of plane column 0.
    pub gx0: i64,
    /// Global working-grid row of plane row 0.
    pub gy0: i64,
    /// Level-0 pixels per working pixel (box factor times the field's downsample).
    pub level0_per_px: f64,
    /// Pixel size of the planes.
    pub mpp: Mpp,
}

#[cfg(test)]
impl WorkPlanes {
    /// Level-0 x of a (fractional) working-grid x given relative to plane column 0,
    /// pixel centres at integers.
    pub fn level0_x(&self, col: f64) -> f64 {
        (self.gx0 as f64 + col + 0.5) * self.level0_per_px
    }

    /// Level-0 y of a (fractional) working-grid y, as [`WorkPlanes::level0_x`].
    pub fn level0_y(&self, row: f64) -> f64 {
        (self.gy0 as f64 + row + 0.5) * self.level0_per_px
    }
}

/// Pixels whose three channels are all below this (neutral black, OD > 1.3 in every
/// channel) carry no stain information: scanner padding, ink, debris, folds seen edge-on.
/// They are read as white background, so that they never look like condensed chromatin.
/// The darkest pixels of 2,107 real mitotic figures (AtNorM-MD) have a brightest channel
/// of at least 17.
pub const BLACK_LEVEL: u8 = 12;

/// The integer box factor that brings `mpp` closest to `working_mpp_um` without going
/// below 1: `max(1, round(working / mpp))`. 0.25 µm/px with a 0.5 µm working resolution
/// gives 2 (working pixels of 0.5 µm); 0.2520 also gives 2 (0.504 µm); 0.5 gives 1.
pub fn box_factor(mpp: Mpp, working_mpp_um: f64) -> usize {
    let f = (working_mpp_um / mpp.um_per_px()).round();
    if f.is_finite() && f >= 1.0 {
        f.min(64.0) as usize
    } else {
        1
    }
}

/// Builds the working planes of `field`: RGB is averaged over `k x k` boxes (integer box
/// averaging of transmitted intensity, as a lower-resolution scan would see it, with `k`
/// from [`box_factor`]) on the global grid, then each averaged pixel is deconvolved with
/// tables for the box sums (exact: no rounding of the average to 8 bits). Pixels below
/// [`BLACK_LEVEL`] in every channel count as white. Boxes that are
/// cut by the field's edge are dropped; the halo covers them.
pub fn work_planes(field: &FieldImage, deconv: &Deconvolver, working_mpp_um: f64) -> WorkPlanes {
    let k = box_factor(field.mpp, working_mpp_um);
    let (w_rgb, h_rgb) = (field.rgb.width() as i64, field.rgb.height() as i64);
    // Global index of rgb pixel (0, 0) on the field's own grid.
    let ds = if field.downsample.is_finite() && field.downsample > 0.0 {
        field.downsample
    } else {
        1.0
    };
    let grid_x = (field.origin_x_px / ds).round() as i64;
    let grid_y = (field.origin_y_px / ds).round() as i64;
    let ki = k as i64;
    // First rgb column/row that starts a global box.
    let c0 = (-grid_x).rem_euclid(ki);
    let r0 = (-grid_y).rem_euclid(ki);
    let width = ((w_rgb - c0).max(0) / ki) as usize;
    let height = ((h_rgb - r0).max(0) / ki) as usize;
    let gx0 = (grid_x + c0) / ki;
    let gy0 = (grid_y + r0) / ki;

    let luts = SumLuts::new(deconv, k * k);
    let mut h = Plane::zeros(width, height);
    let mut e = Plane::zeros(width, height);
    let mut residual = Plane::zeros(width, height);
    let raw = field.rgb.as_raw();
    let stride = field.rgb.width() as usize * 3;
    let mut sums = vec![[0u32; 3]; width];
    for row in 0..height {
        sums.iter_mut().for_each(|s| *s = [0; 3]);
        if k == 2 {
            // The common case (40x slide, 0.5 µm working pixels), unrolled.
            let y = r0 as usize + row * 2;
            let start = c0 as usize * 3;
            let (a, b) = (
                &raw[y * stride..(y + 1) * stride],
                &raw[(y + 1) * stride..(y + 2) * stride],
            );
            for (col, s) in sums.iter_mut().enumerate() {
                let i = start + col * 6;
                let [p, q, r, t] = [
                    pixel(&a[i..i + 3]),
                    pixel(&a[i + 3..i + 6]),
                    pixel(&b[i..i + 3]),
                    pixel(&b[i + 3..i + 6]),
                ];
                *s = [
                    p[0] + q[0] + r[0] + t[0],
                    p[1] + q[1] + r[1] + t[1],
                    p[2] + q[2] + r[2] + t[2],
                ];
            }
        }
        for dy in (0..k).filter(|_| k != 2) {
            let y = r0 as usize + row * k + dy;
            let line = &raw[y * stride..(y + 1) * stride];
            let start = c0 as usize * 3;
            for (col, s) in sums.iter_mut().enumerate() {
                let base = start + col * k * 3;
                for px in line[base..base + 3 * k].chunks_exact(3) {
                    if px[0].max(px[1]).max(px[2]) < BLACK_LEVEL {
                        // No stain information: read as background.
                        s[0] += 255;
                        s[1] += 255;
                        s[2] += 255;
                    } else {
                        s[0] += u32::from(px[0]);
                        s[1] += u32::from(px[1]);
                        s[2] += u32::from(px[2]);
                    }
                }
            }
        }
        let off = row * width;
        for (col, s) in sums.iter().enumerate() {
            let [hv, ev, rv] = luts.apply(*s);
            h.data[off + col] = hv;
            e.data[off + col] = ev;
            residual.data[off + col] = rv;
        }
    }
    WorkPlanes {
        h,
        e,
        residual,
        gx0,
        gy0,
        level0_per_px: k as f64 * ds,
        mpp: field.mpp.downsampled(k as f64),
    }
}

/// One RGB8 pixel as u32 channels, neutral black (below [`BLACK_LEVEL`]) read as white;
/// branch-free.
#[inline(always)]
fn pixel(px: &[u8]) -> [u32; 3] {
    let [r, g, b] = [px[0], px[1], px[2]].map(u32::from);
    let black = u32::from(r.max(g).max(b) < u32::from(BLACK_LEVEL));
    [
        r + black * (255 - r),
        g + black * (255 - g),
        b + black * (255 - b),
    ]
}

/// Box-averages `plane` (whose column 0 has global grid index `gx0`, row 0 `gy0`) by
/// `factor` on the global grid: coarse pixel `J` covers fine global pixels
/// `[J factor, (J + 1) factor)`. Returns the coarse plane and the global index of its
/// pixel (0, 0). Blocks cut by the plane's edge are dropped.
pub fn decimate(plane: &Plane, gx0: i64, gy0: i64, factor: usize) -> (Plane, i64, i64) {
    if factor <= 1 {
        return (plane.clone(), gx0, gy0);
    }
    let f = factor as i64;
    let c0 = (-gx0).rem_euclid(f) as usize;
    let r0 = (-gy0).rem_euclid(f) as usize;
    let w = plane.width.saturating_sub(c0) / factor;
    let h = plane.height.saturating_sub(r0) / factor;
    let mut out = Plane::zeros(w, h);
    let norm = 1.0 / (factor * factor) as f32;
    for row in 0..h {
        let dst = &mut out.data[row * w..(row + 1) * w];
        for k in 0..factor {
            let src = plane.row(r0 + row * factor + k);
            for (col, d) in dst.iter_mut().enumerate() {
                let start = c0 + col * factor;
                *d += src[start..start + factor].iter().sum::<f32>();
            }
        }
        for d in dst.iter_mut() {
            *d *= norm;
        }
    }
    (out, (gx0 + c0 as i64) / f, (gy0 + r0 as i64) / f)
}

/// Deconvolution tables indexed by the sum of `n` samples of one channel: entry `s` holds
/// that channel's contribution to each stain at the mean intensity `s / n`.
struct SumLuts {
    /// `[channel][stain]` tables, stain order H, E, residual.
    tables: [[Vec<f32>; 3]; 3],
}

impl SumLuts {
    fn new(deconv: &Deconvolver, n: usize) -> SumLuts {
        let vectors = deconv.vectors();
        let background = deconv.background();
        // The Deconvolver was built from these vectors, so they are invertible; fall back
        // to the identity only to keep this function total.
        let inv = vectors
            .inverse()
            .unwrap_or([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        let len = 255 * n + 1;
        let tables = std::array::from_fn(|c| {
            std::array::from_fn(|s| {
                (0..len)
                    .map(|sum| {
                        let mean = (sum as f64 / n as f64).max(0.5);
                        // Clamped at 0 like `stain::optical_density`: brighter than the
                        // background is background.
                        let od = (-(mean / background[c]).log10()).max(0.0);
                        (od * inv[c][s]) as f32
                    })
                    .collect()
            })
        });
        SumLuts { tables }
    }

    #[inline]
    fn apply(&self, s: [u32; 3]) -> [f32; 3] {
        let t = &self.tables;
        let [r, g, b] = s.map(|v| v as usize);
        let stain = |i: usize| t[0][i][r] + t[1][i][g] + t[2][i][b];
        [stain(0).max(0.0), stain(1).max(0.0), stain(2)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stain::StainVectors;

    fn deconv() -> Deconvolver {
        Deconvolver::new(StainVectors::default_hed(), [255.0; 3]).unwrap()
    }

    #[test]
    fn box_factor_rounds_to_the_working_resolution() {
        let m = |v| Mpp::new(v).unwrap();
        assert_eq!(box_factor(m(0.25), 0.5), 2);
        assert_eq!(box_factor(m(0.252), 0.5), 2);
        assert_eq!(box_factor(m(0.23), 0.5), 2);
        assert_eq!(box_factor(m(0.5), 0.5), 1);
        assert_eq!(box_factor(m(1.0), 0.5), 1);
        assert_eq!(box_factor(m(0.125), 0.5), 4);
    }

    #[test]
    fn uniform_colour_matches_the_deconvolver_and_grid_is_global() {
        let d = deconv();
        let px = [120u8, 60, 170];
        let img = image::RgbImage::from_pixel(11, 9, image::Rgb(px));
        let field = FieldImage {
            rgb: &img,
            origin_x_px: 101.0,
            origin_y_px: 40.0,
            downsample: 1.0,
            mpp: Mpp::new(0.25).unwrap(),
        };
        let p = work_planes(&field, &d, 0.5);
        // x: 101 is odd, so the first global box starts at 102 (column 1): 5 boxes.
        assert_eq!((p.h.width, p.h.height), (5, 4));
        assert_eq!((p.gx0, p.gy0), (51, 20));
        assert_eq!(p.level0_x(0.0), 103.0);
        assert_eq!(p.level0_y(0.0), 41.0);
        assert!((p.h.data[0] - d.h_od(px)).abs() < 1e-5);
        assert!((p.e.data[7] - d.e_od(px)).abs() < 1e-5);
    }

    #[test]
    fn decimation_is_aligned_to_the_global_grid() {
        let mut p = Plane::zeros(7, 5);
        for (i, v) in p.data.iter_mut().enumerate() {
            *v = i as f32;
        }
        // Global column 3 is odd: the first block starts at plane column 1.
        let (d, gx, gy) = decimate(&p, 3, 4, 2);
        assert_eq!((d.width, d.height, gx, gy), (3, 2, 2, 2));
        // Block of plane columns 1..3, rows 0..2: (1 + 2 + 8 + 9) / 4.
        assert_eq!(d.data[0], 5.0);
    }

    #[test]
    fn neutral_black_reads_as_background() {
        let d = deconv();
        let img = image::RgbImage::from_pixel(4, 4, image::Rgb([3, 2, 5]));
        let field = FieldImage {
            rgb: &img,
            origin_x_px: 0.0,
            origin_y_px: 0.0,
            downsample: 1.0,
            mpp: Mpp::new(0.25).unwrap(),
        };
        let p = work_planes(&field, &d, 0.5);
        assert!(p.h.data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn averages_intensity_not_density() {
        let d = deconv();
        let mut img = image::RgbImage::from_pixel(2, 2, image::Rgb([255, 255, 255]));
        img.put_pixel(0, 0, image::Rgb([55, 55, 55]));
        let field = FieldImage {
            rgb: &img,
            origin_x_px: 0.0,
            origin_y_px: 0.0,
            downsample: 1.0,
            mpp: Mpp::new(0.25).unwrap(),
        };
        let p = work_planes(&field, &d, 0.5);
        // Mean intensity (55 + 3 * 255) / 4 = 205.
        assert!((p.h.data[0] - d.h_od([205, 205, 205])).abs() < 1e-5);
    }
}
