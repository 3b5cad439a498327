//! Deterministic hashing, value noise and tileable textures for the synthetic slides.
//!
//! Everything here is a pure function of its integer or real coordinates and a seed, so a
//! pixel's value never depends on which region of the slide is being rendered: tiles cut
//! anywhere stitch seamlessly, and the same seed gives the same slide on every run.

/// SplitMix64 finaliser (Steele, Lea & Flood 2014): a fast bijective 64-bit mixer.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of a seed and two signed integer coordinates.
#[inline]
pub(crate) fn hash2(seed: u64, x: i64, y: i64) -> u64 {
    mix64(
        seed ^ mix64(
            (x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ (y as u64)
                    .wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
                    .rotate_left(31),
        ),
    )
}

/// A sub-seed for a named purpose, so that streams of random numbers used for different
/// things never coincide.
#[inline]
pub(crate) fn subseed(seed: u64, purpose: u64) -> u64 {
    mix64(seed ^ mix64(purpose.wrapping_add(0x632b_e59b_d9b4_e019)))
}

/// Uniform value in `[0, 1)` from the top 53 bits of a hash.
#[inline]
pub(crate) fn unit_f64(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform value in `[-1, 1)` from a hash.
#[inline]
fn signed_f64(h: u64) -> f64 {
    unit_f64(h) * 2.0 - 1.0
}

/// Smoothstep weight `3t² - 2t³` for `t` in `[0, 1]`.
#[inline]
fn fade(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

/// Hermite smoothstep of `x` between `edge0` and `edge1`, clamped to `[0, 1]`.
#[inline]
pub(crate) fn smoothstep(edge0: f64, edge1: f64, x: f64) -> f64 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// `floor(x)` as an integer, without a libm call (on x86-64 without SSE4.1, `f64::floor`
/// is a function call, and this is the hottest arithmetic of the renderer). Exact for
/// |x| < 2^52.
#[inline]
pub(crate) fn floor_i64(x: f64) -> i64 {
    let i = x as i64;
    i - i64::from((i as f64) > x)
}

/// Linear interpolation.
#[inline]
pub(crate) fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// 2-D value noise in `[-1, 1]` with unit lattice spacing: random values at the integer
/// lattice points, interpolated with smoothstep weights.
pub(crate) fn value_noise(seed: u64, x: f64, y: f64) -> f64 {
    let (ix, iy) = (floor_i64(x), floor_i64(y));
    let (tx, ty) = (fade(x - ix as f64), fade(y - iy as f64));
    let v00 = signed_f64(hash2(seed, ix, iy));
    let v10 = signed_f64(hash2(seed, ix + 1, iy));
    let v01 = signed_f64(hash2(seed, ix, iy + 1));
    let v11 = signed_f64(hash2(seed, ix + 1, iy + 1));
    lerp(lerp(v00, v10, tx), lerp(v01, v11, tx), ty)
}

/// Fractal sum of `octaves` value-noise layers (each twice the frequency and half the
/// amplitude of the previous), normalised to `[-1, 1]`. Typical standard deviation is
/// about 0.25. `x`, `y` are in units of the largest feature size.
pub(crate) fn fbm(seed: u64, x: f64, y: f64, octaves: u32) -> f64 {
    let mut sum = 0.0;
    let mut amplitude = 1.0;
    let mut total = 0.0;
    let mut frequency = 1.0;
    for octave in 0..octaves {
        // Offsetting each octave avoids the lattice points of all octaves coinciding at 0.
        let offset = 17.31 * f64::from(octave);
        sum += amplitude
            * value_noise(
                subseed(seed, u64::from(octave)),
                x * frequency + offset,
                y * frequency - offset,
            );
        total += amplitude;
        amplitude *= 0.5;
        frequency *= 2.0;
    }
    sum / total
}

/// A square tileable texture of `f32` values with zero mean and unit standard deviation,
/// sampled with wrap-around and bilinear interpolation.
///
/// Textures give fine detail (chromatin, fibres, mottling) at the cost of one lookup per
/// pixel; repetition is hidden by sampling them at incommensurate scales.
#[derive(Debug, Clone)]
pub(crate) struct Texture {
    size: usize,
    mask: i64,
    data: Vec<f32>,
}

/// One layer of a texture: lattice spacing in texels along x and y, and its amplitude.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Octave {
    /// Lattice spacing along x, in texels; must divide the texture size.
    pub spacing_x: usize,
    /// Lattice spacing along y, in texels; must divide the texture size.
    pub spacing_y: usize,
    /// Relative amplitude.
    pub amplitude: f64,
}

impl Texture {
    /// Builds a `size` x `size` texture (size a power of two) as a sum of periodic value
    /// noise layers. Anisotropic layers (spacing_x != spacing_y) give streaks along the
    /// axis with the larger spacing.
    pub(crate) fn new(seed: u64, size: usize, octaves: &[Octave]) -> Texture {
        debug_assert!(size.is_power_of_two());
        let mut data = vec![0f64; size * size];
        for (k, o) in octaves.iter().enumerate() {
            let sx = o.spacing_x.clamp(1, size);
            let sy = o.spacing_y.clamp(1, size);
            let (px, py) = ((size / sx) as i64, (size / sy) as i64);
            let s = subseed(seed, k as u64);
            for ty in 0..size {
                let gy = ty as f64 / sy as f64;
                let (iy, fy) = (gy.floor() as i64, fade(gy - gy.floor()));
                for tx in 0..size {
                    let gx = tx as f64 / sx as f64;
                    let (ix, fx) = (gx.floor() as i64, fade(gx - gx.floor()));
                    let v =
                        |i: i64, j: i64| signed_f64(hash2(s, i.rem_euclid(px), j.rem_euclid(py)));
                    let value = lerp(
                        lerp(v(ix, iy), v(ix + 1, iy), fx),
                        lerp(v(ix, iy + 1), v(ix + 1, iy + 1), fx),
                        fy,
                    );
                    data[ty * size + tx] += o.amplitude * value;
                }
            }
        }
        let n = data.len() as f64;
        let mean = data.iter().sum::<f64>() / n;
        let var = data.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv_std = if var > 0.0 { 1.0 / var.sqrt() } else { 0.0 };
        Texture {
            size,
            mask: size as i64 - 1,
            data: data.iter().map(|v| ((v - mean) * inv_std) as f32).collect(),
        }
    }

    /// Bilinear sample at texel coordinates `(u, v)`, wrapping around the edges.
    #[inline]
    pub(crate) fn sample(&self, u: f64, v: f64) -> f64 {
        let (iu, iv) = (floor_i64(u), floor_i64(v));
        let (fu, fv) = (u - iu as f64, v - iv as f64);
        let i0 = (iu & self.mask) as usize;
        let i1 = ((iu + 1) & self.mask) as usize;
        let r0 = ((iv & self.mask) as usize) * self.size;
        let r1 = (((iv + 1) & self.mask) as usize) * self.size;
        let d = &self.data;
        let top = lerp(f64::from(d[r0 + i0]), f64::from(d[r0 + i1]), fu);
        let bottom = lerp(f64::from(d[r1 + i0]), f64::from(d[r1 + i1]), fu);
        lerp(top, bottom, fv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_deterministic_and_spread() {
        assert_eq!(hash2(1, 5, -7), hash2(1, 5, -7));
        assert_ne!(hash2(1, 5, -7), hash2(2, 5, -7));
        assert_ne!(hash2(1, 5, -7), hash2(1, -7, 5));
        let mean = (0..10_000).map(|i| unit_f64(hash2(3, i, 0))).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }

    #[test]
    fn fast_floor_matches_floor() {
        for x in [
            -2.0, -1.5, -1.0, -0.25, 0.0, 0.25, 1.0, 1.999, 12345.5, -98765.25,
        ] {
            assert_eq!(floor_i64(x), x.floor() as i64, "{x}");
        }
    }

    #[test]
    fn value_noise_is_continuous_and_bounded() {
        for i in 0..1000 {
            let x = i as f64 * 0.013 - 3.0;
            let a = value_noise(9, x, 0.7);
            let b = value_noise(9, x + 1e-6, 0.7);
            assert!((-1.0..=1.0).contains(&a));
            assert!((a - b).abs() < 1e-4, "jump at {x}");
        }
        let f = fbm(4, 12.3, -4.5, 5);
        assert!((-1.0..=1.0).contains(&f));
    }

    #[test]
    fn texture_is_normalised_and_wraps() {
        let t = Texture::new(
            5,
            64,
            &[Octave {
                spacing_x: 8,
                spacing_y: 4,
                amplitude: 1.0,
            }],
        );
        let n = t.data.len() as f64;
        let mean = t.data.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = t.data.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4);
        assert_eq!(t.sample(3.25, 7.5), t.sample(3.25 + 64.0, 7.5 - 128.0));
        // Seamless across the wrap: values at u = 63.999 and u = 0 nearly agree.
        assert!((t.sample(63.999, 10.0) - t.sample(0.0, 10.0)).abs() < 0.05);
    }
}
