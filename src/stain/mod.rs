//! Stain separation: optical density and colour deconvolution.
//!
//! Ruifrok & Johnston (2001), "Quantification of histochemical staining by color
//! deconvolution", Anal Quant Cytol Histol 23(4):291-299. Optical density per channel is
//! `OD_c = -log10(I_c / I0_c)`; with the stain matrix `M` whose rows are the stains' OD
//! vectors (RGB), a pixel's OD row vector is `od = conc · M`, so the stain concentrations
//! are `conc = od · M⁻¹`.
//!
//! Units: OD in log10 units (`_od`). scikit-image's `rgb2hed` returns the same quantity
//! divided by 6 (it uses `ln(I) / ln(1e-6)`), i.e. `H_skimage = H_od / 6`.

use crate::error::{Error, Result};
use ndarray::Array2;

/// Stain OD vectors (rows of the stain matrix), RGB order.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StainVectors {
    /// Haematoxylin OD vector (R, G, B).
    pub haematoxylin: [f64; 3],
    /// Eosin OD vector (R, G, B).
    pub eosin: [f64; 3],
    /// Third vector: DAB in `rgb2hed`, otherwise the residual (cross product of H and E).
    pub residual: [f64; 3],
}

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
    /// the third completed as their normalised cross product.
    ///
    /// # Errors
    /// [`Error::Stain`] if a vector is zero, negative-dominated or not finite, or if H and
    /// E are (nearly) parallel, which would make the matrix singular.
    pub fn from_h_and_e(haematoxylin: [f64; 3], eosin: [f64; 3]) -> Result<Self> {
        let h = normalised(haematoxylin, "haematoxylin")?;
        let e = normalised(eosin, "eosin")?;
        let cross = [
            h[1] * e[2] - h[2] * e[1],
            h[2] * e[0] - h[0] * e[2],
            h[0] * e[1] - h[1] * e[0],
        ];
        let sin_angle = norm(cross);
        // Below ~1 degree apart, the inverse amplifies noise beyond any use.
        if sin_angle < 0.0175 {
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

    /// The stain matrix with rows H, E, residual.
    pub fn matrix(&self) -> [[f64; 3]; 3] {
        [self.haematoxylin, self.eosin, self.residual]
    }

    /// Inverse of [`StainVectors::matrix`]: column 0 gives H, column 1 E, column 2 the
    /// residual from an OD row vector.
    ///
    /// # Errors
    /// [`Error::Stain`] when the matrix is singular (determinant below 1e-6).
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

fn norm(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

fn normalised(v: [f64; 3], name: &str) -> Result<[f64; 3]> {
    let n = norm(v);
    if !n.is_finite() || n < 1e-9 || v.iter().any(|c| !c.is_finite()) {
        return Err(Error::Stain {
            reason: format!("{name} vector {v:?} is zero or not finite"),
        });
    }
    Ok(v.map(|c| c / n))
}

/// Inverse of a 3x3 matrix by cofactors; `None` when |det| < 1e-6.
fn invert3(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1];
    let c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2];
    let c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
    let det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02;
    if !det.is_finite() || det.abs() < 1e-6 {
        return None;
    }
    let inv_det = 1.0 / det;
    Some([
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
    ])
}

/// Smallest intensity used in the OD logarithm: a 0 sample is read as this, so OD stays
/// finite (at most `log10(I0 / 0.5)`, about 2.7 for I0 = 255).
const MIN_INTENSITY: f64 = 0.5;

/// Colour deconvolution of 8-bit RGB by lookup tables.
///
/// Each table entry folds the logarithm and one column of `M⁻¹`, so a pixel costs three
/// table reads and two additions per stain: no logarithm and no allocation per pixel.
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
    /// per channel (I0, 1..=255; 255 when no background was measured).
    ///
    /// # Errors
    /// [`Error::Stain`] when the stain matrix is singular or I0 is outside 1..=255.
    pub fn new(vectors: StainVectors, background: [f64; 3]) -> Result<Self> {
        if background.iter().any(|b| !(1.0..=255.0).contains(b)) {
            return Err(Error::Stain {
                reason: format!("background intensity {background:?} outside 1..=255"),
            });
        }
        let inv = vectors.inverse()?;
        let mut lut_h = [[0f32; 256]; 3];
        let mut lut_e = [[0f32; 256]; 3];
        for c in 0..3 {
            for v in 0..256 {
                let od = optical_density(v as u8, background[c]);
                lut_h[c][v] = (od * inv[c][0]) as f32;
                lut_e[c][v] = (od * inv[c][1]) as f32;
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

    /// Haematoxylin OD of one pixel, clamped at 0.
    #[inline]
    pub fn h_od(&self, rgb: [u8; 3]) -> f32 {
        let [r, g, b] = rgb.map(usize::from);
        (self.lut_h[0][r] + self.lut_h[1][g] + self.lut_h[2][b]).max(0.0)
    }

    /// Eosin OD of one pixel, clamped at 0.
    #[inline]
    pub fn e_od(&self, rgb: [u8; 3]) -> f32 {
        let [r, g, b] = rgb.map(usize::from);
        (self.lut_e[0][r] + self.lut_e[1][g] + self.lut_e[2][b]).max(0.0)
    }

    /// Haematoxylin OD plane of an RGB8 image, shape `[height, width]`.
    pub fn h_plane(&self, image: &image::RgbImage) -> Array2<f32> {
        let (w, h) = image.dimensions();
        let mut out = Array2::<f32>::zeros((h as usize, w as usize));
        if let Some(dst) = out.as_slice_mut() {
            for (d, px) in dst.iter_mut().zip(image.as_raw().chunks_exact(3)) {
                *d = self.h_od([px[0], px[1], px[2]]);
            }
        }
        out
    }

    /// Haematoxylin and eosin OD planes of an RGB8 image, each `[height, width]`.
    pub fn h_and_e_planes(&self, image: &image::RgbImage) -> (Array2<f32>, Array2<f32>) {
        let (w, h) = image.dimensions();
        let shape = (h as usize, w as usize);
        let mut h_out = Array2::<f32>::zeros(shape);
        let mut e_out = Array2::<f32>::zeros(shape);
        if let (Some(hs), Some(es)) = (h_out.as_slice_mut(), e_out.as_slice_mut()) {
            for ((hd, ed), px) in hs
                .iter_mut()
                .zip(es.iter_mut())
                .zip(image.as_raw().chunks_exact(3))
            {
                let p = [px[0], px[1], px[2]];
                *hd = self.h_od(p);
                *ed = self.e_od(p);
            }
        }
        (h_out, e_out)
    }
}

/// Optical density `-log10(I / I0)` of one 8-bit sample, with 0 read as 0.5 so the result
/// stays finite. Negative for samples brighter than I0.
pub fn optical_density(intensity: u8, background: f64) -> f64 {
    let i = f64::from(intensity).max(MIN_INTENSITY);
    -(i / background).log10()
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
        assert!(d.h_od([0, 0, 0]).is_finite());
    }

    #[test]
    fn parallel_vectors_are_an_error() {
        let err = StainVectors::from_h_and_e([0.65, 0.70, 0.29], [1.3, 1.4, 0.58]).unwrap_err();
        assert!(err.to_string().contains("parallel"), "{err}");
    }
}
