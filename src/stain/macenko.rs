//! Per-slide stain vectors by the method of Macenko et al. (2009).
//!
//! M. Macenko, M. Niethammer, J. S. Marron, D. Borland, J. T. Woosley, X. Guan,
//! C. Schmitt, N. E. Thomas, "A method for normalizing histology slides for quantitative
//! analysis", ISBI 2009, pp. 1107-1110, DOI 10.1109/ISBI.2009.5193250.
//!
//! Tissue pixels' OD vectors lie (up to noise) in the plane spanned by the haematoxylin
//! and eosin vectors, a plane through the origin since `od = c_H H + c_E E`. The method
//! finds that plane from the two leading eigenvectors of the OD second-moment matrix (the
//! paper's SVD of the OD tuples, not mean-centred: the plane must pass through the
//! origin), measures each pixel's angle within the plane, and takes the robust extremes
//! (the alpha and 100 - alpha percentiles of the angle) as the two stain directions.

use super::background::for_each_strided;
use super::eigen::symmetric_eigen3;
use super::{angle_between_deg, check_background, optical_density, StainVectors};
use crate::error::{Error, Result};

/// Which pixels count as tissue for the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum TissueRule {
    /// The OD vector's Euclidean length is at least `beta_od` (as HistomicsTK's
    /// `rgb_separate_stains_macenko_pca` with its minimum magnitude). Keeps pure eosin,
    /// whose red and blue OD is small. The default: see [`MacenkoOptions::tissue_rule`].
    #[default]
    OdNorm,
    /// Every channel's OD is at least `beta_od`, as the reference MATLAB code of the paper
    /// (`~any(OD < beta, 2)`). This drops pixels of nearly pure eosin (red OD about
    /// 0.07 per unit of the Ruifrok eosin vector), biasing the eosin estimate towards
    /// haematoxylin on such stains.
    AllChannels,
}

/// Settings of [`estimate_macenko`]; [`Default`] gives the values documented per field.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MacenkoOptions {
    /// OD threshold beta for tissue (log10 units); default 0.15 as in the paper. Pixels
    /// below it are background or too faint for a reliable direction.
    pub beta_od: f64,
    /// How beta is applied. Default [`TissueRule::OdNorm`]: on synthetic slides painted
    /// with the Ruifrok eosin vector (0.07, 0.99, 0.11), the all-channel rule leaves no
    /// pure-eosin pixel and misses eosin by about 20 degrees, the norm rule by about 1.
    pub tissue_rule: TissueRule,
    /// Angle percentile alpha in percent, 0 < alpha < 50: the stain directions are the
    /// alpha and 100 - alpha percentiles of the pixel angles. Default 0.5 (the paper uses
    /// 1): a slide's sample holds millions of tissue pixels, so the 0.5 percentile still
    /// rests on thousands of them and lies nearer the pure stains; on 20 synthetic slides
    /// painted with perturbed vectors it lowered the worst error from 5.3 to 5.0 degrees
    /// (E) and 4.9 to 3.5 (H), and it changed the real-mitosis benchmark by less than
    /// its noise.
    pub alpha_percent: f64,
    /// Pixels whose OD exceeds this in every channel are opaque (black scanner padding,
    /// pen, folds) and ignored; default 1.0 (every channel below a tenth of I0). The
    /// darkest real nuclei keep at least one channel well below this.
    pub opaque_od: f64,
    /// Fewest tissue pixels for an estimate, else the defaults are used; default 5000 (so
    /// each 1 % angle tail holds at least 50 pixels; about a 70 x 70 px patch of tissue).
    pub min_tissue_pixels: usize,
    /// Most pixels examined; larger samples are read with a fixed stride over all samples,
    /// so the result is deterministic and the cost bounded. Default 2,000,000.
    pub max_examined_pixels: usize,
    /// Smallest angle between the estimated H and E, degrees; below it the sample does not
    /// show two stains (e.g. only stroma) and the defaults are used. Default 5.
    pub min_separation_deg: f64,
    /// Largest angle between the estimated and the reference haematoxylin
    /// (`default_hed`), degrees; beyond it the estimate is implausible for H&E and the
    /// defaults are used. Default 35 (real H&E slides of several labs differ by up to
    /// about 17).
    pub max_h_deviation_deg: f64,
}

impl Default for MacenkoOptions {
    fn default() -> Self {
        MacenkoOptions {
            beta_od: 0.15,
            tissue_rule: TissueRule::OdNorm,
            alpha_percent: 0.5,
            opaque_od: 1.0,
            min_tissue_pixels: 5000,
            max_examined_pixels: 2_000_000,
            min_separation_deg: 5.0,
            max_h_deviation_deg: 35.0,
        }
    }
}

/// Why an estimate fell back to the default vectors.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FallbackReason {
    /// Too few tissue pixels in the sample.
    TooFewTissuePixels {
        /// Tissue pixels found among those examined.
        found: usize,
        /// [`MacenkoOptions::min_tissue_pixels`].
        required: usize,
    },
    /// The estimated H and E are nearly parallel: the sample shows one stain only.
    StainsNotSeparated {
        /// Angle between the estimates, degrees.
        angle_deg: f64,
    },
    /// The estimated haematoxylin is far from any plausible haematoxylin.
    ImplausibleHaematoxylin {
        /// Angle to the reference H vector, degrees.
        angle_deg: f64,
    },
    /// The OD statistics are degenerate (e.g. all tissue pixels have one colour).
    Degenerate,
}

impl std::fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FallbackReason::TooFewTissuePixels { found, required } => write!(
                f,
                "too little tissue in the sample ({found} tissue pixels, {required} needed)"
            ),
            FallbackReason::StainsNotSeparated { angle_deg } => write!(
                f,
                "the sample shows one stain only (estimated H and E {angle_deg:.1} degrees apart)"
            ),
            FallbackReason::ImplausibleHaematoxylin { angle_deg } => write!(
                f,
                "the estimated haematoxylin is {angle_deg:.1} degrees from the reference; \
                 not an H&E stain?"
            ),
            FallbackReason::Degenerate => write!(f, "the tissue colours are degenerate"),
        }
    }
}

/// How a slide's stain vectors were obtained.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StainMethod {
    /// Estimated by Macenko et al. (2009).
    Macenko,
    /// Estimation was asked for but failed; [`StainVectors::default_hed`] is used. Warn the
    /// user with the reason.
    FallbackDefault {
        /// Why.
        reason: FallbackReason,
    },
    /// `--stains default`: [`StainVectors::default_hed`].
    Default,
    /// `--stains H:..;E:..`: the user's vectors.
    UserGiven,
}

impl std::fmt::Display for StainMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StainMethod::Macenko => write!(f, "estimated per slide (Macenko 2009)"),
            StainMethod::FallbackDefault { reason } => {
                write!(f, "default rgb2hed vectors, estimation failed: {reason}")
            }
            StainMethod::Default => write!(f, "default rgb2hed vectors"),
            StainMethod::UserGiven => write!(f, "given by the user"),
        }
    }
}

/// The stain vectors of one slide and how they were obtained.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StainEstimate {
    /// The vectors to deconvolve with: unit H and E with non-negative components and their
    /// cross product when estimated; [`StainVectors::default_hed`] on fallback.
    pub vectors: StainVectors,
    /// Tissue pixels the estimate used (0 when no estimate was asked for).
    pub tissue_pixels: usize,
    /// Estimated, fallen back (with the reason), default or given.
    pub method: StainMethod,
}

/// Estimates H and E stain vectors from sample images of one slide (Macenko et al. 2009).
///
/// `samples` are RGB8 tissue fields spread over the slide (any sizes; more than about
/// 5000 tissue pixels in total); `background` is I0 per channel (1..=255, see
/// [`super::estimate_background`]).
///
/// Steps: OD per channel relative to I0 by lookup table; tissue pixels by
/// [`MacenkoOptions::tissue_rule`] with beta, opaque pixels dropped; the two leading
/// eigenvectors of the 3x3 OD second-moment matrix (cyclic Jacobi, see `eigen.rs`); the
/// angle of each tissue pixel in that plane; the alpha and 100 - alpha percentiles
/// (linear interpolation, as numpy) as stain directions, made non-negative and unit.
/// Which one is haematoxylin: the assignment whose summed angles to the reference H and E
/// of [`StainVectors::default_hed`] is smaller. This is the rule "the one nearer the
/// reference H" made robust: it also asks the other to be nearer the reference E; the
/// common rule "larger red component is H" fails for bluish eosin.
///
/// Deterministic: a fixed stride over the samples, sequential sums, no randomness.
///
/// Falls back to [`StainVectors::default_hed`] with a [`FallbackReason`] (never an
/// error) when there are fewer than `min_tissue_pixels` tissue pixels, when the estimates
/// are less than `min_separation_deg` apart, or when H is more than
/// `max_h_deviation_deg` from the reference.
///
/// # Errors
/// [`Error::Stain`] when `background` is outside 1..=255 or an option is out of range
/// (beta or opaque OD negative or not finite, alpha not in (0, 50), angles not finite).
pub fn estimate_macenko(
    samples: &[&image::RgbImage],
    background: [f64; 3],
    opts: &MacenkoOptions,
) -> Result<StainEstimate> {
    check_background(background)?;
    check_options(opts)?;
    let od_lut = od_tables(background);
    let od_of = |px: [u8; 3]| -> [f32; 3] {
        [
            od_lut[0][usize::from(px[0])],
            od_lut[1][usize::from(px[1])],
            od_lut[2][usize::from(px[2])],
        ]
    };
    let beta = opts.beta_od as f32;
    let opaque = opts.opaque_od as f32;
    let rule = opts.tissue_rule;
    let is_tissue = |od: [f32; 3]| -> bool {
        if od.iter().all(|&v| v > opaque) {
            return false;
        }
        match rule {
            TissueRule::OdNorm => od[0] * od[0] + od[1] * od[1] + od[2] * od[2] >= beta * beta,
            TissueRule::AllChannels => od.iter().all(|&v| v >= beta),
        }
    };
    let total: usize = samples.iter().map(|s| s.as_raw().len() / 3).sum();
    let stride = total.div_ceil(opts.max_examined_pixels.max(1)).max(1);

    // Pass 1: the second-moment matrix of tissue OD.
    let mut tissue = 0usize;
    let mut moment = [[0f64; 3]; 3];
    for_each_strided(samples, stride, |px| {
        let od = od_of(px);
        if !is_tissue(od) {
            return;
        }
        tissue += 1;
        let od = od.map(f64::from);
        for (i, row) in moment.iter_mut().enumerate() {
            for (j, m) in row.iter_mut().enumerate().skip(i) {
                *m += od[i] * od[j];
            }
        }
    });
    if tissue < opts.min_tissue_pixels {
        return Ok(fallback(
            FallbackReason::TooFewTissuePixels {
                found: tissue,
                required: opts.min_tissue_pixels,
            },
            tissue,
        ));
    }
    let Some(eig) = symmetric_eigen3(moment) else {
        return Ok(fallback(FallbackReason::Degenerate, tissue));
    };
    // (Eigenvalues are finite here: `symmetric_eigen3` returns `None` otherwise.)
    if eig.values[1] <= 0.0 {
        // All tissue OD on one line: no plane to find.
        return Ok(fallback(FallbackReason::Degenerate, tissue));
    }
    // The leading eigenvector of a non-negative matrix can be taken non-negative
    // (Perron-Frobenius); orient both so the angles are reproducible.
    let v1 = orient_positive(eig.vectors[0]);
    let v2 = orient_positive(eig.vectors[1]);

    // Pass 2: the angle of each tissue pixel within the plane.
    let mut angles: Vec<f32> = Vec::with_capacity(tissue);
    for_each_strided(samples, stride, |px| {
        let od = od_of(px);
        if is_tissue(od) {
            let od = od.map(f64::from);
            angles.push(dot(od, v2).atan2(dot(od, v1)) as f32);
        }
    });
    let (Some(phi_lo), Some(phi_hi)) = (
        percentile(&mut angles, opts.alpha_percent),
        percentile(&mut angles, 100.0 - opts.alpha_percent),
    ) else {
        return Ok(fallback(FallbackReason::Degenerate, tissue));
    };
    let direction = |phi: f64| -> Option<[f64; 3]> {
        let (s, c) = phi.sin_cos();
        let v = orient_positive([0, 1, 2].map(|k| c * v1[k] + s * v2[k]));
        // Tiny negative components are noise around an axis: an OD vector is >= 0.
        let v = v.map(|x| x.max(0.0));
        let n = dot(v, v).sqrt();
        (n > 1e-9).then(|| v.map(|x| x / n))
    };
    let (Some(a), Some(b)) = (direction(phi_lo), direction(phi_hi)) else {
        return Ok(fallback(FallbackReason::Degenerate, tissue));
    };

    let reference = StainVectors::default_hed();
    let (h_ref, e_ref) = (reference.haematoxylin, reference.eosin);
    let cost_ab = angle_between_deg(a, h_ref) + angle_between_deg(b, e_ref);
    let cost_ba = angle_between_deg(b, h_ref) + angle_between_deg(a, e_ref);
    let (h, e) = if cost_ab <= cost_ba { (a, b) } else { (b, a) };

    let separation = angle_between_deg(h, e);
    // Angles are finite (atan2 of finite unit vectors), so plain comparisons suffice.
    if separation < opts.min_separation_deg {
        return Ok(fallback(
            FallbackReason::StainsNotSeparated {
                angle_deg: separation,
            },
            tissue,
        ));
    }
    let h_deviation = angle_between_deg(h, h_ref);
    if h_deviation > opts.max_h_deviation_deg {
        return Ok(fallback(
            FallbackReason::ImplausibleHaematoxylin {
                angle_deg: h_deviation,
            },
            tissue,
        ));
    }
    match StainVectors::from_h_and_e(h, e) {
        Ok(vectors) => Ok(StainEstimate {
            vectors,
            tissue_pixels: tissue,
            method: StainMethod::Macenko,
        }),
        Err(_) => Ok(fallback(FallbackReason::Degenerate, tissue)),
    }
}

fn fallback(reason: FallbackReason, tissue_pixels: usize) -> StainEstimate {
    StainEstimate {
        vectors: StainVectors::default_hed(),
        tissue_pixels,
        method: StainMethod::FallbackDefault { reason },
    }
}

fn check_options(opts: &MacenkoOptions) -> Result<()> {
    let bad = |what: String| Err(Error::Stain { reason: what });
    if !(opts.beta_od.is_finite() && opts.beta_od >= 0.0) {
        return bad(format!(
            "Macenko beta {} must be a finite OD >= 0",
            opts.beta_od
        ));
    }
    if !(opts.opaque_od.is_finite() && opts.opaque_od > 0.0) {
        return bad(format!(
            "opaque OD {} must be finite and > 0",
            opts.opaque_od
        ));
    }
    if !(opts.alpha_percent > 0.0 && opts.alpha_percent < 50.0) {
        return bad(format!(
            "Macenko alpha {} % must lie strictly between 0 and 50",
            opts.alpha_percent
        ));
    }
    if !(opts.min_separation_deg.is_finite() && opts.max_h_deviation_deg.is_finite()) {
        return bad("Macenko angle limits must be finite".to_string());
    }
    Ok(())
}

/// OD per channel and 8-bit value relative to `background`, as f32.
fn od_tables(background: [f64; 3]) -> [[f32; 256]; 3] {
    let mut t = [[0f32; 256]; 3];
    for (c, table) in t.iter_mut().enumerate() {
        for (v, slot) in (0..=255u8).zip(table.iter_mut()) {
            *slot = optical_density(v, background[c]) as f32;
        }
    }
    t
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// `v` or `-v`, whichever has the larger component sum.
fn orient_positive(v: [f64; 3]) -> [f64; 3] {
    if v.iter().sum::<f64>() < 0.0 {
        v.map(|x| -x)
    } else {
        v
    }
}

/// The `p`-th percentile (0..=100) with linear interpolation between order statistics
/// (numpy's default); reorders `values`. `None` when empty or a value is NaN.
fn percentile(values: &mut [f32], p: f64) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let frac = rank - lo as f64;
    let (_, &mut lo_value, upper) = values.select_nth_unstable_by(lo, f32::total_cmp);
    let lo_value = f64::from(lo_value);
    if frac == 0.0 || upper.is_empty() {
        return Some(lo_value);
    }
    let hi_value = upper.iter().copied().fold(f32::INFINITY, f32::min);
    Some(lo_value + frac * (f64::from(hi_value) - lo_value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy() {
        // numpy.percentile([3, 1, 4, 1, 5, 9, 2, 6], [0, 1, 50, 99, 100])
        let data = [3.0f32, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        for (p, want) in [
            (0.0, 1.0),
            (1.0, 1.0),
            (50.0, 3.5),
            (99.0, 8.79),
            (100.0, 9.0),
        ] {
            let mut v = data;
            let got = percentile(&mut v, p).unwrap();
            assert!((got - want).abs() < 1e-5, "p{p}: {got} vs {want}");
        }
        assert_eq!(percentile(&mut [], 50.0), None);
        assert_eq!(percentile(&mut [f32::NAN], 50.0), None);
    }

    #[test]
    fn options_are_checked() {
        let img = image::RgbImage::new(4, 4);
        let bad = MacenkoOptions {
            alpha_percent: 50.0,
            ..MacenkoOptions::default()
        };
        let err = estimate_macenko(&[&img], [255.0; 3], &bad).unwrap_err();
        assert!(err.to_string().contains("alpha"), "{err}");
        let err = estimate_macenko(&[&img], [0.0; 3], &MacenkoOptions::default()).unwrap_err();
        assert!(err.to_string().contains("background"), "{err}");
    }

    #[test]
    fn one_colour_tissue_is_degenerate_not_a_panic() {
        let img = image::RgbImage::from_pixel(100, 100, image::Rgb([120, 60, 150]));
        let est = estimate_macenko(&[&img], [255.0; 3], &MacenkoOptions::default()).unwrap();
        assert_eq!(est.vectors, StainVectors::default_hed());
        assert!(
            matches!(est.method, StainMethod::FallbackDefault { .. }),
            "{:?}",
            est.method
        );
    }
}
