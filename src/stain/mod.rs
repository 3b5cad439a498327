//! Stain separation: optical density, colour deconvolution and per-slide stain vectors.
//!
//! Ruifrok & Johnston (2001), "Quantification of histochemical staining by color
//! deconvolution", Anal Quant Cytol Histol 23(4):291-299. Optical density per channel is
//! `OD_c = -log10(I_c / I0_c)`; with the stain matrix `M` whose rows are the stains' OD
//! vectors (RGB), a pixel's OD row vector is `od = conc · M`, so the stain concentrations
//! are `conc = od · M⁻¹`.
//!
//! # Per slide
//! 1. [`estimate_background`] measures the background (white) intensity I0 from bright,
//!    grey pixels, 255 when the sample shows no background.
//! 2. A [`StainSpec`] (`--stains auto|default|H:r,g,b;E:r,g,b`) says where the vectors
//!    come from; [`StainSpec::resolve`] returns them, estimating them by Macenko et al.
//!    (2009) with [`estimate_macenko`] for `auto`, with a fallback to the defaults when the
//!    sample holds too little tissue.
//! 3. [`Deconvolver::new`] folds I0, the logarithm and `M⁻¹` into lookup tables;
//!    [`Deconvolver::h_plane_into`] is the hot path (RGB8 -> haematoxylin OD, f32).
//!
//! # Units and scikit-image
//! OD is in log10 units (`_od`), for stain concentrations too (the OD the stain alone would
//! give along its unit vector). scikit-image's `rgb2hed` returns the same quantity divided
//! by 6 (it computes `ln(I/255) / ln(1e-6)`), i.e. `H_skimage = H_od / 6`, for I0 = 255 and
//! the unnormalised [`StainVectors::default_hed`]. Two documented differences: a 0 sample
//! is read here as intensity 0.5 (OD `log10(I0/0.5)` ≈ 2.7), where scikit-image reads it
//! as `1e-6 * 255` (OD 6); and samples brighter than I0 give OD 0 here, never negative
//! (scikit-image's I0 is 255, so nothing is brighter there).

use crate::error::{Error, Result};
use ndarray::Array2;

mod background;
mod eigen;
mod macenko;
mod spec;

pub use background::{
    estimate_background, BackgroundEstimate, BackgroundSource, MIN_BACKGROUND_PIXELS,
};
pub use macenko::{
    estimate_macenko, FallbackReason, MacenkoOptions, StainEstimate, StainMethod, TissueRule,
};
pub use spec::StainSpec;

/// Stain OD vectors (rows of the stain matrix), RGB order, in OD units per unit of stain.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StainVectors {
    /// Haematoxylin OD vector (R, G, B).
    pub haematoxylin: [f64; 3],
    /// Eosin OD vector (R, G, B).
    pub eosin: [f64; 3],
    /// Third vector: DAB in `rgb2hed`, otherwise the residual (cross product of H and E).
    pub residual: [f64; 3],
}

/// Smallest sine of the angle between two stain vectors (about 1 degree): closer vectors
/// make the inverse amplify noise beyond any use.
const MIN_SIN_ANGLE: f64 = 0.0175;

impl StainVectors {
    /// The H&E-DAB vectors of Ruifrok & Johnston as used by scikit-image `rgb2hed`:
    /// H (0.65, 0.70, 0.29), E (0.07, 0.99, 0.11), DAB (0.27, 0.57, 0.78). They are kept
    /// exactly as published (not renormalised) so that deconvolution matches `rgb2hed`.
    pub fn default_hed() -> Self {
        StainVectors {
            haematoxylin: [0.65, 0.70, 0.29],
            eosin: [0.07, 0.99, 0.11],
            residual: [0.27, 0.57, 0.78],
        }
    }

    /// Vectors from a haematoxylin and an eosin vector: both normalised to unit length,
    /// the third completed as their normalised cross product (oriented so its components
    /// sum to a positive number).
    ///
    /// # Errors
    /// [`Error::Stain`] if a vector is zero, not finite or has a negative component (an
    /// absorbing dye has non-negative OD in every channel), or if H and E are less than
    /// about 1 degree apart, which would make the matrix singular.
    pub fn from_h_and_e(haematoxylin: [f64; 3], eosin: [f64; 3]) -> Result<Self> {
        let h = stain_unit_vector(haematoxylin, "haematoxylin")?;
        let e = stain_unit_vector(eosin, "eosin")?;
        let cross = cross(h, e);
        let sin_angle = norm(cross);
        if sin_angle < MIN_SIN_ANGLE {
            return Err(Error::Stain {
                reason: format!(
                    "haematoxylin {h:?} and eosin {e:?} vectors are parallel (less than 1 \
                     degree apart); give two distinct stain vectors"
                ),
            });
        }
        let mut residual = cross.map(|v| v / sin_angle);
        // Keep the residual in the positive octant's half-space, like an OD vector.
        if residual.iter().sum::<f64>() < 0.0 {
            residual = residual.map(|v| -v);
        }
        Ok(StainVectors {
            haematoxylin: h,
            eosin: e,
            residual,
        })
    }

    /// Vectors from three given vectors (H, E and a third stain such as DAB), each
    /// normalised to unit length.
    ///
    /// # Errors
    /// [`Error::Stain`] if H or E is zero, not finite or has a negative component, if the
    /// third is zero or not finite, or if the three are (nearly) linearly dependent: the
    /// volume they span (|det| of the normalised matrix) is below about sin 1°.
    pub fn from_three(haematoxylin: [f64; 3], eosin: [f64; 3], residual: [f64; 3]) -> Result<Self> {
        let h = stain_unit_vector(haematoxylin, "haematoxylin")?;
        let e = stain_unit_vector(eosin, "eosin")?;
        let r = unit_vector(residual, "third (residual)")?;
        if norm(cross(h, e)) < MIN_SIN_ANGLE {
            return Err(Error::Stain {
                reason: format!(
                    "haematoxylin {h:?} and eosin {e:?} vectors are parallel (less than 1 \
                     degree apart); give two distinct stain vectors"
                ),
            });
        }
        let volume = dot(cross(h, e), r).abs();
        if volume < MIN_SIN_ANGLE {
            return Err(Error::Stain {
                reason: format!(
                    "the third vector {r:?} lies in the plane of haematoxylin and eosin \
                     (the three are linearly dependent); give an independent third vector \
                     or leave it out to have it completed by cross product"
                ),
            });
        }
        Ok(StainVectors {
            haematoxylin: h,
            eosin: e,
            residual: r,
        })
    }

    /// The stain matrix with rows H, E, residual.
    pub fn matrix(&self) -> [[f64; 3]; 3] {
        [self.haematoxylin, self.eosin, self.residual]
    }

    /// Inverse of [`StainVectors::matrix`]: column 0 gives H, column 1 E, column 2 the
    /// residual from an OD row vector.
    ///
    /// # Errors
    /// [`Error::Stain`] when the matrix is singular (|determinant| below 1e-6) or holds a
    /// non-finite number.
    pub fn inverse(&self) -> Result<[[f64; 3]; 3]> {
        invert3(self.matrix()).ok_or_else(|| Error::Stain {
            reason: format!(
                "stain matrix {:?} is singular (vectors linearly dependent); give \
                 independent stain vectors",
                self.matrix()
            ),
        })
    }
}

/// Formats as `H:r,g,b;E:r,g,b;R:r,g,b` with four decimals, the syntax
/// [`StainSpec::parse`] reads back, so a report can say which vectors were used.
impl std::fmt::Display for StainVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [h, e, r] = self.matrix();
        write!(
            f,
            "H:{:.4},{:.4},{:.4};E:{:.4},{:.4},{:.4};R:{:.4},{:.4},{:.4}",
            h[0], h[1], h[2], e[0], e[1], e[2], r[0], r[1], r[2]
        )
    }
}

/// Angle between two vectors in degrees, 0..=180; 90 when either is zero or not finite.
pub fn angle_between_deg(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = norm(a) * norm(b);
    if !(d.is_finite() && d > 0.0) {
        return 90.0;
    }
    // atan2 of |a x b| and a.b keeps full precision near 0 and 180 degrees, unlike acos.
    norm(cross(a, b)).atan2(dot(a, b)).to_degrees()
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm(v: [f64; 3]) -> f64 {
    dot(v, v).sqrt()
}

/// `v / |v|`, or an error naming the vector when it is zero or not finite.
fn unit_vector(v: [f64; 3], name: &str) -> Result<[f64; 3]> {
    let n = norm(v);
    if v.iter().any(|c| !c.is_finite()) || !n.is_finite() || n < 1e-9 {
        return Err(Error::Stain {
            reason: format!("{name} vector {v:?} is zero or not finite"),
        });
    }
    Ok(v.map(|c| c / n))
}

/// [`unit_vector`] that also rejects negative components: a dye only absorbs light.
fn stain_unit_vector(v: [f64; 3], name: &str) -> Result<[f64; 3]> {
    let u = unit_vector(v, name)?;
    if u.iter().any(|&c| c < 0.0) {
        return Err(Error::Stain {
            reason: format!(
                "{name} vector {v:?} has a negative component; stain OD vectors are \
                 non-negative (a dye absorbs, it does not add light)"
            ),
        });
    }
    Ok(u)
}

/// Inverse of a 3x3 matrix by cofactors; `None` when |det| < 1e-6 or not finite.
fn invert3(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1];
    let c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2];
    let c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
    let det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02;
    if !det.is_finite() || det.abs() < 1e-6 {
        return None;
    }
    let inv_det = 1.0 / det;
    let inv = [
        [
            c00 * inv_det,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv_det,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv_det,
        ],
        [
            c01 * inv_det,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv_det,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv_det,
        ],
        [
            c02 * inv_det,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv_det,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv_det,
        ],
    ];
    inv.iter().flatten().all(|v| v.is_finite()).then_some(inv)
}

/// Smallest intensity used in the OD logarithm: a 0 sample is read as this, so OD stays
/// finite (at most `log10(I0 / 0.5)`, about 2.7 for I0 = 255). 0.5 is the middle of the
/// quantisation bin `[0, 1)` that an 8-bit 0 stands for.
const MIN_INTENSITY: f64 = 0.5;

/// Colour deconvolution of 8-bit RGB by lookup tables.
///
/// Each table entry folds the logarithm, the background I0 and one column of `M⁻¹`, so a
/// pixel costs three table reads and two additions per stain: no logarithm and no
/// allocation per pixel. The tables are 6 KiB and stay in L1 cache.
#[derive(Debug, Clone)]
pub struct Deconvolver {
    vectors: StainVectors,
    background: [f64; 3],
    /// `lut_h[c][v]`: the contribution of channel `c` at intensity `v` to haematoxylin OD.
    lut_h: [[f32; 256]; 3],
    /// Same for eosin.
    lut_e: [[f32; 256]; 3],
}

impl Deconvolver {
    /// Builds the tables for `vectors` and the background (white) intensity `background`
    /// per channel (I0, 1..=255; 255 when no background was measured, see
    /// [`estimate_background`]).
    ///
    /// # Errors
    /// [`Error::Stain`] when the stain matrix is singular or I0 is outside 1..=255 or not
    /// finite.
    pub fn new(vectors: StainVectors, background: [f64; 3]) -> Result<Self> {
        check_background(background)?;
        let inv = vectors.inverse()?;
        let mut lut_h = [[0f32; 256]; 3];
        let mut lut_e = [[0f32; 256]; 3];
        for c in 0..3 {
            for v in 0..=255u8 {
                let od = optical_density(v, background[c]);
                lut_h[c][usize::from(v)] = (od * inv[c][0]) as f32;
                lut_e[c][usize::from(v)] = (od * inv[c][1]) as f32;
            }
        }
        Ok(Deconvolver {
            vectors,
            background,
            lut_h,
            lut_e,
        })
    }

    /// The stain vectors the tables were built from.
    pub fn vectors(&self) -> &StainVectors {
        &self.vectors
    }

    /// The background intensity I0 per channel.
    pub fn background(&self) -> [f64; 3] {
        self.background
    }

    /// Haematoxylin OD of one pixel, clamped at 0 (like `rgb2hed`).
    #[inline]
    pub fn h_od(&self, rgb: [u8; 3]) -> f32 {
        lookup(&self.lut_h, rgb)
    }

    /// Eosin OD of one pixel, clamped at 0 (like `rgb2hed`).
    #[inline]
    pub fn e_od(&self, rgb: [u8; 3]) -> f32 {
        lookup(&self.lut_e, rgb)
    }

    /// Haematoxylin OD plane of an RGB8 image, shape `[height, width]`, values >= 0.
    pub fn h_plane(&self, image: &image::RgbImage) -> Array2<f32> {
        let mut out = Array2::<f32>::zeros(plane_shape(image));
        self.h_plane_into(image, &mut out);
        out
    }

    /// The hot path: haematoxylin OD of `image` written into `out`, shape
    /// `[height, width]`, values >= 0.
    ///
    /// `out` is reused when it already has that shape in standard (row-major) layout, so a
    /// worker that keeps one buffer per field size allocates nothing; otherwise it is
    /// replaced by a new array of the right shape.
    pub fn h_plane_into(&self, image: &image::RgbImage, out: &mut Array2<f32>) {
        fit_plane(image, out);
        if let Some(dst) = out.as_slice_mut() {
            map_pixels(&self.lut_h, image.as_raw(), dst);
        }
    }

    /// Haematoxylin and eosin OD planes of an RGB8 image, each `[height, width]`.
    pub fn h_and_e_planes(&self, image: &image::RgbImage) -> (Array2<f32>, Array2<f32>) {
        let shape = plane_shape(image);
        let mut h_out = Array2::<f32>::zeros(shape);
        let mut e_out = Array2::<f32>::zeros(shape);
        self.h_and_e_planes_into(image, &mut h_out, &mut e_out);
        (h_out, e_out)
    }

    /// Haematoxylin and eosin OD of `image` written into `h_out` and `e_out`, each
    /// `[height, width]`; buffers are reused as in [`Deconvolver::h_plane_into`].
    pub fn h_and_e_planes_into(
        &self,
        image: &image::RgbImage,
        h_out: &mut Array2<f32>,
        e_out: &mut Array2<f32>,
    ) {
        fit_plane(image, h_out);
        fit_plane(image, e_out);
        if let Some(hs) = h_out.as_slice_mut() {
            map_pixels(&self.lut_h, image.as_raw(), hs);
        }
        if let Some(es) = e_out.as_slice_mut() {
            map_pixels(&self.lut_e, image.as_raw(), es);
        }
    }
}

/// `[height, width]` of an image.
fn plane_shape(image: &image::RgbImage) -> (usize, usize) {
    let (w, h) = image.dimensions();
    (h as usize, w as usize)
}

/// Makes `out` a standard-layout array of the image's shape, reusing it when it is one.
fn fit_plane(image: &image::RgbImage, out: &mut Array2<f32>) {
    let shape = plane_shape(image);
    if out.dim() != shape || !out.is_standard_layout() {
        *out = Array2::zeros(shape);
    }
}

#[inline(always)]
fn lookup(lut: &[[f32; 256]; 3], rgb: [u8; 3]) -> f32 {
    let [r, g, b] = rgb.map(usize::from);
    // u8 indices into 256-entry tables: the compiler drops the bounds checks.
    (lut[0][r] + lut[1][g] + lut[2][b]).max(0.0)
}

/// Applies the tables to interleaved RGB8 `src` into `dst` (one value per pixel).
///
/// A plain loop over exact 3-byte chunks: no bounds checks remain (u8 indices into
/// 256-entry tables), and the table reads are gathers that baseline x86-64 cannot
/// vectorise. Unrolling by 8 pixels was measured and brought nothing (both about 0.8 to
/// 1.1 Gpx/s on one core, `cargo bench --bench stain`), so the simple form stays.
fn map_pixels(lut: &[[f32; 256]; 3], src: &[u8], dst: &mut [f32]) {
    for (d, px) in dst.iter_mut().zip(src.chunks_exact(3)) {
        *d = lookup(lut, [px[0], px[1], px[2]]);
    }
}

/// Checks a background intensity per channel: finite and within 1..=255.
fn check_background(background: [f64; 3]) -> Result<()> {
    if background.iter().any(|b| !(1.0..=255.0).contains(b)) {
        return Err(Error::Stain {
            reason: format!(
                "background intensity {background:?} outside 1..=255; use the measured \
                 background of the slide or 255"
            ),
        });
    }
    Ok(())
}

/// Optical density `-log10(I / I0)` of one 8-bit sample, in OD units, 0..=`log10(I0/0.5)`.
///
/// A 0 sample is read as intensity 0.5 so the result stays finite; samples brighter than
/// the background I0 give 0 (they are background, and a negative OD would only inject
/// noise into the stains).
pub fn optical_density(intensity: u8, background: f64) -> f64 {
    let i = f64::from(intensity).max(MIN_INTENSITY);
    (-(i / background).log10()).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_haematoxylin_is_recovered() {
        let v = StainVectors::default_hed();
        let d = Deconvolver::new(v, [255.0; 3]).unwrap();
        // Paint 0.5 OD of haematoxylin: I = 255 * 10^(-0.5 * h_c).
        let px = v
            .haematoxylin
            .map(|c| (255.0 * 10f64.powf(-0.5 * c)).round() as u8);
        let h = d.h_od(px);
        let e = d.e_od(px);
        assert!((h - 0.5).abs() < 0.02, "h = {h}");
        assert!(e.abs() < 0.02, "e = {e}");
    }

    #[test]
    fn white_is_zero_and_black_is_finite() {
        let d = Deconvolver::new(StainVectors::default_hed(), [255.0; 3]).unwrap();
        assert_eq!(d.h_od([255, 255, 255]), 0.0);
        let black = d.h_od([0, 0, 0]);
        assert!(black.is_finite() && black > 0.0, "{black}");
    }

    #[test]
    fn brighter_than_background_is_zero_od() {
        assert_eq!(optical_density(250, 240.0), 0.0);
        assert!((optical_density(24, 240.0) - 1.0).abs() < 1e-12);
        assert!((optical_density(0, 255.0) - 510f64.log10()).abs() < 1e-12);
    }

    #[test]
    fn parallel_vectors_are_an_error() {
        let err = StainVectors::from_h_and_e([0.65, 0.70, 0.29], [1.3, 1.4, 0.58]).unwrap_err();
        assert!(err.to_string().contains("parallel"), "{err}");
    }

    #[test]
    fn negative_and_zero_vectors_are_errors() {
        let err = StainVectors::from_h_and_e([0.65, -0.70, 0.29], [0.07, 0.99, 0.11]);
        assert!(err.unwrap_err().to_string().contains("negative"));
        let err = StainVectors::from_h_and_e([0.0; 3], [0.07, 0.99, 0.11]);
        assert!(err.unwrap_err().to_string().contains("zero"));
        let err = StainVectors::from_h_and_e([f64::NAN, 0.7, 0.29], [0.07, 0.99, 0.11]);
        assert!(err.unwrap_err().to_string().contains("not finite"));
    }

    #[test]
    fn cross_product_completes_an_orthonormal_residual() {
        let v = StainVectors::from_h_and_e([0.65, 0.70, 0.29], [0.07, 0.99, 0.11]).unwrap();
        for row in v.matrix() {
            assert!((norm(row) - 1.0).abs() < 1e-12);
        }
        assert!(dot(v.residual, v.haematoxylin).abs() < 1e-12);
        assert!(dot(v.residual, v.eosin).abs() < 1e-12);
        assert!(v.residual.iter().sum::<f64>() > 0.0);
    }

    #[test]
    fn coplanar_third_vector_is_an_error() {
        let h = [0.65, 0.70, 0.29];
        let e = [0.07, 0.99, 0.11];
        let mix = [0.72, 1.69, 0.40];
        let err = StainVectors::from_three(h, e, mix).unwrap_err();
        assert!(err.to_string().contains("linearly dependent"), "{err}");
        let ok = StainVectors::from_three(h, e, [0.27, 0.57, 0.78]).unwrap();
        assert!((norm(ok.residual) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn into_reuses_the_buffer_and_fixes_wrong_shapes() {
        let d = Deconvolver::new(StainVectors::default_hed(), [255.0; 3]).unwrap();
        let img = image::RgbImage::from_fn(13, 5, |x, y| {
            image::Rgb([(x * 19) as u8, (y * 40) as u8, (x * y) as u8])
        });
        let mut out = Array2::<f32>::zeros((5, 13));
        let ptr = out.as_ptr();
        d.h_plane_into(&img, &mut out);
        assert_eq!(
            out.as_ptr(),
            ptr,
            "buffer of the right shape must be reused"
        );
        for (x, y, px) in img.enumerate_pixels() {
            assert_eq!(out[[y as usize, x as usize]], d.h_od(px.0));
        }
        let mut wrong = Array2::<f32>::zeros((2, 2));
        d.h_plane_into(&img, &mut wrong);
        assert_eq!(wrong, out);
        let mut transposed = Array2::<f32>::zeros((13, 5)).reversed_axes();
        d.h_plane_into(&img, &mut transposed);
        assert_eq!(transposed, out);
        let (h, e) = d.h_and_e_planes(&img);
        assert_eq!(h, out);
        for (x, y, px) in img.enumerate_pixels() {
            assert_eq!(e[[y as usize, x as usize]], d.e_od(px.0));
        }
    }

    #[test]
    fn display_round_trips_through_the_parser() {
        let v = StainVectors::from_h_and_e([0.6, 0.7, 0.3], [0.1, 0.9, 0.2]).unwrap();
        let text = v.to_string();
        match StainSpec::parse(&text).unwrap() {
            StainSpec::Vectors(w) => {
                for (a, b) in v.matrix().iter().zip(w.matrix()) {
                    assert!(angle_between_deg(*a, b) < 0.01, "{text}");
                }
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn angles() {
        assert!((angle_between_deg([1.0, 0.0, 0.0], [0.0, 2.0, 0.0]) - 90.0).abs() < 1e-12);
        assert!(angle_between_deg([1.0, 1.0, 0.0], [2.0, 2.0, 0.0]) < 1e-6);
        assert_eq!(angle_between_deg([0.0; 3], [1.0, 0.0, 0.0]), 90.0);
    }
}
