//! Separable Gaussian smoothing of `f32` planes with a finite (FIR) kernel and a white
//! (zero optical density) border.
//!
//! Why our own: `imageproc`'s Gaussian works on `u8`/`Luma` images and truncates its
//! kernel at 2 sigma (4.6 % of the mass lost, enough to bias a difference of Gaussians),
//! and nothing in our dependencies filters `f32` planes. Why FIR and not a recursive
//! (Young & van Vliet 1995; Deriche 1993) filter, whose cost does not grow with sigma: a
//! recursive filter has infinite support, so its output near a pixel depends on how far
//! the image extends; with a finite kernel every output is the same sum of the same inputs
//! in the same order wherever the field was cut, which makes detections bit-identical
//! between a whole image and the same image cut into fields with a halo (see
//! [`super::halo_um`]). The largest kernel we use is ~13 px at the 0.5 µm working
//! resolution, where the separable FIR costs ~2 x 80 multiply-adds per pixel and
//! vectorises (8 lanes with AVX2, chosen at run time); the blob detector runs on a plane
//! of about 1 µm pixels (see `blobs.rs`), so no kernel exceeds ~40 taps.
//!
//! Border: samples outside the plane are 0 (white background, zero optical density), the
//! same convention as `Slide::read_region`, which returns white outside the slide.

/// Kernel radius in units of sigma: the kernel keeps samples within `TRUNCATE_SIGMA *
/// sigma`, i.e. 99.7 % of the Gaussian's mass (scikit-image uses 4, imageproc 2); the
/// kernel is renormalised to sum 1 after truncation.
pub const TRUNCATE_SIGMA: f64 = 3.0;

/// A symmetric, normalised 1-D Gaussian kernel: `weights[0]` is the centre tap and
/// `weights[k]` the tap at distance `k` on either side.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    weights: Vec<f32>,
}

impl Kernel {
    /// The sampled Gaussian of standard deviation `sigma_px` (pixels, > 0), truncated at
    /// [`TRUNCATE_SIGMA`] sigma and normalised to sum 1. A `sigma_px` below 0.1 gives the
    /// identity kernel.
    pub fn gaussian(sigma_px: f64) -> Kernel {
        if !(sigma_px.is_finite() && sigma_px >= 0.1) {
            return Kernel { weights: vec![1.0] };
        }
        let radius = Self::radius_for(sigma_px);
        let w: Vec<f64> = (0..=radius)
            .map(|k| (-((k * k) as f64) / (2.0 * sigma_px * sigma_px)).exp())
            .collect();
        let sum = w[0] + 2.0 * w[1..].iter().sum::<f64>();
        Kernel {
            weights: w.iter().map(|v| (v / sum) as f32).collect(),
        }
    }

    /// The kernel radius in pixels for `sigma_px`: `ceil(TRUNCATE_SIGMA * sigma_px)`.
    pub fn radius_for(sigma_px: f64) -> usize {
        if !(sigma_px.is_finite() && sigma_px >= 0.1) {
            return 0;
        }
        (TRUNCATE_SIGMA * sigma_px).ceil() as usize
    }

    /// Radius in pixels (number of taps on each side of the centre).
    pub fn radius(&self) -> usize {
        self.weights.len() - 1
    }

    /// The taps from the centre outwards.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
}

/// A row-major `f32` plane: `data[row * width + col]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Samples, `width * height`, row-major.
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane of zeros (its buffer from this thread's pool, see `buffers.rs`).
    pub fn zeros(width: usize, height: usize) -> Plane {
        Plane {
            width,
            height,
            data: super::buffers::zeros(width * height),
        }
    }

    /// A plane whose samples are unspecified (a reused buffer, not cleared), for callers
    /// that write every sample.
    pub fn for_overwrite(width: usize, height: usize) -> Plane {
        Plane {
            width,
            height,
            data: super::buffers::for_overwrite(width * height),
        }
    }

    /// Gives the plane's buffer back to this thread's pool for the next [`Plane::zeros`].
    pub fn recycle(self) {
        super::buffers::recycle(self.data);
    }

    /// Sample at `(col, row)`; 0 outside the plane (white border).
    #[inline]
    pub fn get(&self, col: isize, row: isize) -> f32 {
        if col < 0 || row < 0 || col as usize >= self.width || row as usize >= self.height {
            0.0
        } else {
            self.data[row as usize * self.width + col as usize]
        }
    }

    /// One row.
    #[inline]
    pub fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.width..(row + 1) * self.width]
    }
}

/// Smooths `src` with the separable kernel `kernel` (vertical pass, then horizontal),
/// zero outside the plane. Every output sample is computed by the same sequence of
/// operations from the same inputs, whatever its position: bit-identical results for the
/// same neighbourhood in differently cut planes.
///
/// Row by row: the vertical pass of an output row into a zero-padded row, then its
/// horizontal pass, both tap by tap along the row (vectorised). On x86-64 CPUs with AVX2
/// the same code runs with 8-lane vectors: the same IEEE operations on every sample (no
/// fused multiply-add), so the same bits.
pub fn blur(src: &Plane, kernel: &Kernel) -> Plane {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { blur_avx2(src, kernel) };
    }
    blur_rows(src, kernel)
}

/// [`blur_rows`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blur_avx2(src: &Plane, kernel: &Kernel) -> Plane {
    blur_rows(src, kernel)
}

/// The blur of [`blur`] (inlined into each instruction-set variant).
#[inline(always)]
fn blur_rows(src: &Plane, kernel: &Kernel) -> Plane {
    let (w, h) = (src.width, src.height);
    let r = kernel.radius();
    if r == 0 || w == 0 {
        return src.clone();
    }
    let taps = kernel.weights();
    // Every sample is written below.
    let mut out = Plane::for_overwrite(w, h);
    let mut padded = vec![0f32; w + 2 * r];
    for (y, dst) in out.data.chunks_exact_mut(w).enumerate() {
        vertical_row(src, taps, y, &mut padded[r..r + w]);
        horizontal_row(&padded, taps, dst);
    }
    out
}

/// Vertical pass of row `y` into `acc`: each output row is a weighted sum of whole input
/// rows (rows outside the plane are zero: the term is `wk * (0 + other)`, and nothing
/// when both are outside).
#[inline(always)]
fn vertical_row(src: &Plane, taps: &[f32], y: usize, acc: &mut [f32]) {
    let h = src.height;
    for (a, c) in acc.iter_mut().zip(src.row(y)) {
        *a = taps[0] * c;
    }
    for (k, &wk) in taps.iter().enumerate().skip(1) {
        let above = y.checked_sub(k).map(|yy| src.row(yy));
        let below = (y + k < h).then(|| src.row(y + k));
        match (above, below) {
            (Some(a_row), Some(b_row)) => {
                for ((a, u), d) in acc.iter_mut().zip(a_row).zip(b_row) {
                    *a += wk * (u + d);
                }
            }
            (Some(one), None) | (None, Some(one)) => {
                for (a, u) in acc.iter_mut().zip(one) {
                    *a += wk * (u + 0.0);
                }
            }
            (None, None) => {}
        }
    }
}

/// Horizontal pass of a row zero-padded by the kernel radius on both sides, tap by tap.
#[inline(always)]
fn horizontal_row(padded: &[f32], taps: &[f32], out: &mut [f32]) {
    let r = taps.len() - 1;
    let w = out.len();
    for (a, c) in out.iter_mut().zip(&padded[r..r + w]) {
        *a = taps[0] * c;
    }
    for (k, &wk) in taps.iter().enumerate().skip(1) {
        let left = &padded[r - k..r - k + w];
        let right = &padded[r + k..r + k + w];
        for ((a, u), d) in out.iter_mut().zip(left).zip(right) {
            *a += wk * (u + d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct 2-D convolution in f64 with an untruncated-at-3-sigma reference kernel.
    fn reference_blur(src: &Plane, sigma: f64) -> Vec<f64> {
        let r = (6.0 * sigma).ceil() as isize;
        let g: Vec<f64> = (-r..=r)
            .map(|k| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp())
            .collect();
        let s: f64 = g.iter().sum();
        let g: Vec<f64> = g.iter().map(|v| v / s).collect();
        let mut out = vec![0.0; src.width * src.height];
        for y in 0..src.height as isize {
            for x in 0..src.width as isize {
                let mut acc = 0.0;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let v = f64::from(src.get(x + dx, y + dy));
                        acc += g[(dy + r) as usize] * g[(dx + r) as usize] * v;
                    }
                }
                out[y as usize * src.width + x as usize] = acc;
            }
        }
        out
    }

    fn test_plane(w: usize, h: usize) -> Plane {
        let mut p = Plane::zeros(w, h);
        for y in 0..h {
            for x in 0..w {
                // A smooth pattern plus a few sharp features.
                let v = ((x as f32) * 0.37).sin() * ((y as f32) * 0.23).cos() + 1.0;
                p.data[y * w + x] = v + if (x + 2 * y) % 11 == 0 { 2.0 } else { 0.0 };
            }
        }
        p
    }

    /// The blur's operations, one sample at a time in the documented order.
    fn scalar_blur(src: &Plane, kernel: &Kernel) -> Vec<f32> {
        let (w, h) = (src.width as isize, src.height as isize);
        let t = kernel.weights();
        let inside = |y: isize| y >= 0 && y < h;
        let mut tmp = vec![0f32; src.data.len()];
        for y in 0..h {
            for x in 0..w {
                let mut a = t[0] * src.get(x, y);
                for k in 1..t.len() as isize {
                    let wk = t[k as usize];
                    match (inside(y - k), inside(y + k)) {
                        (true, true) => a += wk * (src.get(x, y - k) + src.get(x, y + k)),
                        (true, false) => a += wk * (src.get(x, y - k) + 0.0),
                        (false, true) => a += wk * (src.get(x, y + k) + 0.0),
                        (false, false) => {}
                    }
                }
                tmp[(y * w + x) as usize] = a;
            }
        }
        let tmp = Plane {
            width: src.width,
            height: src.height,
            data: tmp,
        };
        let mut out = vec![0f32; src.data.len()];
        for y in 0..h {
            for x in 0..w {
                let mut a = t[0] * tmp.get(x, y);
                for k in 1..t.len() as isize {
                    a += t[k as usize] * (tmp.get(x - k, y) + tmp.get(x + k, y));
                }
                out[(y * w + x) as usize] = a;
            }
        }
        out
    }

    #[test]
    fn blur_is_the_scalar_sequence_bit_for_bit_with_and_without_avx2() {
        let mut src = test_plane(53, 21);
        // Signed zeros and a plane thinner than the widest kernel.
        src.data[5] = -0.0;
        src.data[60] = -0.0;
        for sigma in [0.7, 1.0, 2.5, 6.2, 9.0] {
            let k = Kernel::gaussian(sigma);
            let want: Vec<u32> = scalar_blur(&src, &k).iter().map(|v| v.to_bits()).collect();
            let bits = |p: Plane| p.data.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
            super::super::buffers::pollute();
            assert_eq!(bits(blur_rows(&src, &k)), want, "sigma {sigma}");
            assert_eq!(bits(blur(&src, &k)), want, "sigma {sigma}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is available, checked just above.
                assert_eq!(bits(unsafe { blur_avx2(&src, &k) }), want, "sigma {sigma}");
            }
        }
    }

    #[test]
    fn kernel_sums_to_one_and_has_3_sigma_radius() {
        for sigma in [0.7, 1.0, 2.5, 6.2] {
            let k = Kernel::gaussian(sigma);
            let sum = k.weights()[0] + 2.0 * k.weights()[1..].iter().sum::<f32>();
            assert!((sum - 1.0).abs() < 1e-6, "sigma {sigma}: sum {sum}");
            assert_eq!(k.radius(), (3.0 * sigma).ceil() as usize);
        }
        assert_eq!(Kernel::gaussian(0.0).weights(), &[1.0]);
    }

    #[test]
    fn blur_matches_a_direct_f64_convolution() {
        let src = test_plane(37, 29);
        for sigma in [1.0, 2.3] {
            let got = blur(&src, &Kernel::gaussian(sigma));
            let want = reference_blur(&src, sigma);
            for (g, w) in got.data.iter().zip(&want) {
                // The 3-sigma truncation moves values by < 0.3 % of the local level.
                assert!(
                    (f64::from(*g) - w).abs() < 0.01,
                    "sigma {sigma}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn impulse_gives_the_kernel_and_unit_mass_inside() {
        let mut src = Plane::zeros(41, 41);
        src.data[20 * 41 + 20] = 1.0;
        let k = Kernel::gaussian(2.0);
        let out = blur(&src, &k);
        let total: f32 = out.data.iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        let w = k.weights();
        assert!((out.data[20 * 41 + 20] - w[0] * w[0]).abs() < 1e-7);
        assert!((out.data[20 * 41 + 23] - w[0] * w[3]).abs() < 1e-7);
        // Second moment of the response equals sigma^2 up to truncation.
        let var: f32 = (0..41)
            .map(|x| {
                let col: f32 = (0..41).map(|y| out.data[y * 41 + x]).sum();
                col * ((x as f32) - 20.0).powi(2)
            })
            .sum();
        assert!((var - 4.0).abs() < 0.1, "{var}");
    }

    #[test]
    fn same_neighbourhood_gives_bit_identical_output() {
        let big = test_plane(60, 50);
        // Cut a window whose margin exceeds the kernel radius.
        let k = Kernel::gaussian(2.0);
        let (x0, y0, w, h) = (13usize, 9usize, 30usize, 25usize);
        let mut small = Plane::zeros(w, h);
        for y in 0..h {
            small.data[y * w..(y + 1) * w]
                .copy_from_slice(&big.data[(y0 + y) * 60 + x0..(y0 + y) * 60 + x0 + w]);
        }
        let a = blur(&big, &k);
        let b = blur(&small, &k);
        let r = k.radius();
        for y in r..h - r {
            for x in r..w - r {
                assert_eq!(
                    a.data[(y0 + y) * 60 + x0 + x].to_bits(),
                    b.data[y * w + x].to_bits()
                );
            }
        }
    }
}
