//! Background (I0) estimation: the intensity of glass without tissue, per channel.
//!
//! Optical density is relative to the light that reaches the sensor through empty glass,
//! I0. Scanners rarely deliver exactly 255: white balance and JPEG leave the background at
//! about 230 to 250 and often tinted (e.g. (241, 231, 236)). Using the measured I0 makes
//! the background OD 0 instead of a small false stain, and removes a global colour cast
//! before stain vectors are estimated (Macenko et al. 2009 take I0 from the slide too).

/// Smallest value in every channel for a pixel to count as background, 0..=255.
const BRIGHT_MIN: u8 = 215;

/// Largest spread `max(R,G,B) - min(R,G,B)` for a background pixel: glass is grey or
/// slightly tinted; JPEG chroma noise stays within this.
const MAX_SPREAD: u8 = 30;

/// Fewest background pixels for a measurement (a lumen of about 32 x 32 px).
pub const MIN_BACKGROUND_PIXELS: usize = 1000;

/// Background pixels must also be at least this fraction of the pixels examined, so that a
/// few bright specks on a slide without glass do not set I0.
const MIN_BACKGROUND_FRACTION: f64 = 0.001;

/// Most pixels examined; larger samples are read with a fixed stride (deterministic).
const MAX_EXAMINED_PIXELS: usize = 4_000_000;

/// Where a background intensity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BackgroundSource {
    /// Measured from bright, grey pixels of the sample.
    Measured,
    /// The sample showed too little background (fewer than [`MIN_BACKGROUND_PIXELS`] or
    /// 0.1 % of the pixels examined); 255 per channel is used.
    DefaultNoBackground,
}

/// The background intensity I0 of a slide.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackgroundEstimate {
    /// I0 per channel (R, G, B), in 8-bit intensity units, 215..=255; feed it to
    /// [`super::Deconvolver::new`] and [`super::estimate_macenko`].
    pub rgb: [f64; 3],
    /// Measured or the default.
    pub source: BackgroundSource,
    /// Background pixels found among those examined.
    pub background_pixels: usize,
}

/// Estimates the background intensity I0 from sample images of one slide.
///
/// Background candidates are pixels bright in every channel (>= 215) and nearly grey
/// (channel spread <= 30). When there are at least [`MIN_BACKGROUND_PIXELS`] of them and
/// at least 0.1 % of the pixels examined, I0 is the per-channel median of the brighter
/// half of the candidates (by R+G+B): the brighter half drops pale tissue that passes the
/// test, and the median is robust to JPEG noise and to saturated specks. Otherwise I0 is
/// 255 per channel ([`BackgroundSource::DefaultNoBackground`]).
///
/// Good samples show glass: the low-resolution level used for the tissue mask is ideal
/// (colour is preserved by down-sampling); tissue fields alone may show none. At most
/// 4 million pixels are examined, with a fixed stride over all samples, so the result is
/// deterministic and the cost bounded. Two passes; memory is a few histograms.
pub fn estimate_background(samples: &[&image::RgbImage]) -> BackgroundEstimate {
    let total: usize = samples.iter().map(|s| s.as_raw().len() / 3).sum();
    let stride = total.div_ceil(MAX_EXAMINED_PIXELS).max(1);

    // Pass 1: how many candidates, and the histogram of their luminance R+G+B (0..=765).
    let mut examined = 0usize;
    let mut lum_hist = vec![0usize; 766];
    for_each_strided(samples, stride, |px| {
        examined += 1;
        if is_background(px) {
            lum_hist[luminance(px)] += 1;
        }
    });
    let candidates: usize = lum_hist.iter().sum();
    let needed =
        MIN_BACKGROUND_PIXELS.max((MIN_BACKGROUND_FRACTION * examined as f64).ceil() as usize);
    if candidates < needed {
        return BackgroundEstimate {
            rgb: [255.0; 3],
            source: BackgroundSource::DefaultNoBackground,
            background_pixels: candidates,
        };
    }
    // The brighter half of the candidates: all above the boundary luminance `lum_min`,
    // and from the boundary bin itself only the share that completes the half (weighted,
    // so ties in flat regions cannot drag pale tissue in).
    let half = candidates as f64 / 2.0;
    let mut above = 0usize;
    let mut lum_min = 0usize;
    for l in (0..lum_hist.len()).rev() {
        if (above + lum_hist[l]) as f64 >= half {
            lum_min = l;
            break;
        }
        above += lum_hist[l];
    }
    let boundary_weight = if lum_hist[lum_min] > 0 {
        (half - above as f64) / lum_hist[lum_min] as f64
    } else {
        0.0
    };
    // Pass 2: per-channel histograms of the brighter half; their medians are I0.
    let mut channel_hist = [[0f64; 256]; 3];
    for_each_strided(samples, stride, |px| {
        if !is_background(px) {
            return;
        }
        let weight = match luminance(px).cmp(&lum_min) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => boundary_weight,
            std::cmp::Ordering::Less => return,
        };
        for (hist, &v) in channel_hist.iter_mut().zip(&px) {
            hist[usize::from(v)] += weight;
        }
    });
    let rgb = channel_hist.map(|hist| f64::from(histogram_median(&hist)));
    BackgroundEstimate {
        rgb,
        source: BackgroundSource::Measured,
        background_pixels: candidates,
    }
}

fn is_background(px: [u8; 3]) -> bool {
    let lo = px[0].min(px[1]).min(px[2]);
    let hi = px[0].max(px[1]).max(px[2]);
    lo >= BRIGHT_MIN && hi - lo <= MAX_SPREAD
}

fn luminance(px: [u8; 3]) -> usize {
    usize::from(px[0]) + usize::from(px[1]) + usize::from(px[2])
}

/// The lower median of a weighted histogram: the smallest value with at least half the
/// total weight at or below it; 255 for an empty histogram.
fn histogram_median(hist: &[f64; 256]) -> u8 {
    let total: f64 = hist.iter().sum();
    let mut seen = 0.0;
    for (v, &w) in (0..=255u8).zip(hist.iter()) {
        seen += w;
        if total > 0.0 && 2.0 * seen >= total {
            return v;
        }
    }
    255
}

/// Calls `f` on every `stride`-th pixel of the samples taken together, in order (the
/// stride runs on across image boundaries, so the sampling is uniform).
pub(super) fn for_each_strided(
    samples: &[&image::RgbImage],
    stride: usize,
    mut f: impl FnMut([u8; 3]),
) {
    let stride = stride.max(1);
    let mut offset = 0usize;
    for s in samples {
        let raw = s.as_raw();
        let n = raw.len() / 3;
        let start = (stride - offset % stride) % stride;
        offset += n;
        if start >= n {
            continue;
        }
        // Internal iteration over exact chunks: no bounds checks, no per-pixel closures
        // the compiler cannot see through.
        raw[3 * start..]
            .chunks_exact(3)
            .step_by(stride)
            .for_each(|px| f([px[0], px[1], px[2]]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn measures_tinted_glass_despite_noise() {
        // Half glass at (241, 231, 236) with +-4 noise, half tissue.
        let img = RgbImage::from_fn(200, 100, |x, y| {
            let n = ((x * 7 + y * 13) % 9) as i32 - 4;
            if x < 100 {
                Rgb([241, 231, 236].map(|v: i32| (v + n) as u8))
            } else {
                Rgb([180, 90, 160])
            }
        });
        let est = estimate_background(&[&img]);
        assert_eq!(est.source, BackgroundSource::Measured);
        for (got, want) in est.rgb.iter().zip([241.0, 231.0, 236.0]) {
            assert!((got - want).abs() <= 2.0, "{:?}", est.rgb);
        }
        assert_eq!(est.background_pixels, 100 * 100);
    }

    #[test]
    fn pale_tissue_does_not_win_over_glass() {
        // 60 % pale pink tissue that passes the test, 40 % glass.
        let img = RgbImage::from_fn(100, 100, |x, _| {
            if x < 60 {
                Rgb([235, 218, 228])
            } else {
                Rgb([246, 243, 243])
            }
        });
        let est = estimate_background(&[&img]);
        assert_eq!(est.rgb, [246.0, 243.0, 243.0]);
    }

    #[test]
    fn no_glass_gives_255() {
        let img = RgbImage::from_pixel(100, 100, Rgb([200, 120, 180]));
        let est = estimate_background(&[&img]);
        assert_eq!(est.source, BackgroundSource::DefaultNoBackground);
        assert_eq!(est.rgb, [255.0; 3]);
        let est = estimate_background(&[]);
        assert_eq!(est.source, BackgroundSource::DefaultNoBackground);
    }

    #[test]
    fn few_bright_specks_are_not_background() {
        let img = RgbImage::from_fn(300, 300, |x, y| {
            if x < 20 && y < 20 {
                Rgb([250, 250, 250])
            } else {
                Rgb([150, 80, 140])
            }
        });
        assert_eq!(
            estimate_background(&[&img]).source,
            BackgroundSource::DefaultNoBackground
        );
    }

    #[test]
    fn stride_runs_across_images() {
        let a = RgbImage::from_fn(5, 1, |x, _| Rgb([x as u8, 0, 0]));
        let b = RgbImage::from_fn(5, 1, |x, _| Rgb([10 + x as u8, 0, 0]));
        let mut got = Vec::new();
        for_each_strided(&[&a, &b], 3, |p| got.push(p[0]));
        assert_eq!(got, vec![0, 3, 11, 14]);
        let mut all = 0;
        for_each_strided(&[&a, &b], 1, |_| all += 1);
        assert_eq!(all, 10);
        let mut few = Vec::new();
        for_each_strided(&[&a, &b], 7, |p| few.push(p[0]));
        assert_eq!(few, vec![0, 12]);
    }
}
