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
    // Every sample of the three planes is written below.
    let mut h = Plane::for_overwrite(width, height);
    let mut e = Plane::for_overwrite(width, height);
    let mut residual = Plane::for_overwrite(width, height);
    let raw = field.rgb.as_raw();
    let stride = field.rgb.width() as usize * 3;
    let mut sums = vec![[0u32; 3]; width];
    let start = c0 as usize * 3;
    let simd = Simd::detect();
    for row in 0..height {
        let y = r0 as usize + row * k;
        let line = |dy: usize| &raw[(y + dy) * stride + start..][..width * k * 3];
        let rows = row * width..(row + 1) * width;
        let out = (
            &mut h.data[rows.clone()],
            &mut e.data[rows.clone()],
            &mut residual.data[rows],
        );
        match k {
            // The common cases: 40x slide and 0.5 µm working pixels, 20x slide.
            2 if let Some(small) = &luts.small => match simd {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `simd` says the CPU has AVX2.
                Simd::Avx2 => unsafe { luts.box2_row_avx2(small, line(0), line(1), out) },
                _ => luts.box2_row(small, line(0), line(1), out),
            },
            1 if let Some(small) = &luts.small => match simd {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `simd` says the CPU has AVX2.
                Simd::Avx2 => unsafe { luts.box1_row_avx2(small, line(0), out) },
                _ => luts.box1_row(small, line(0), out),
            },
            _ => {
                sums.iter_mut().for_each(|s| *s = [0; 3]);
                for dy in 0..k {
                    let l = line(dy);
                    for (s, block) in sums.iter_mut().zip(l.chunks_exact(3 * k)) {
                        for px in block.chunks_exact(3) {
                            let [r, g, b] = pixel(px);
                            s[0] += r;
                            s[1] += g;
                            s[2] += b;
                        }
                    }
                }
                let (hs, es, rs) = out;
                for (((hv, ev), rv), s) in hs.iter_mut().zip(es).zip(rs).zip(&sums) {
                    [*hv, *ev, *rv] = luts.apply(*s);
                }
            }
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

/// The instruction set of the box and deconvolution loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Simd {
    /// Portable code.
    Portable,
    /// x86-64 with AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Simd {
    /// The best this CPU runs (portable in tests that ask for it).
    fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        if !force_portable() && std::arch::is_x86_feature_detected!("avx2") {
            return Simd::Avx2;
        }
        Simd::Portable
    }
}

/// Output pixels per test for black (see [`work_planes`]).
const BLOCK_PX: usize = 16;

/// The smallest byte of `bytes`.
#[inline(always)]
fn min_byte(bytes: &[u8]) -> u8 {
    bytes.iter().fold(u8::MAX, |m, &v| m.min(v))
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
    let norm = 1.0 / (factor * factor) as f32;
    if factor == 2 && !force_general_decimation() {
        // Every sample is written below.
        let mut out = Plane::for_overwrite(w, h);
        // The common case, vectorised: the same value as the general loop below, which
        // computes `((0 + sum(a0, a1)) + sum(b0, b1)) * norm`; a float sum's starting
        // zero can only change the sign of a zero result, and adding it to the leading
        // +0 gives +0 either way.
        for (row, dst) in out.data.chunks_exact_mut(w.max(1)).enumerate().take(h) {
            let a = &plane.row(r0 + 2 * row)[c0..c0 + 2 * w];
            let b = &plane.row(r0 + 2 * row + 1)[c0..c0 + 2 * w];
            for ((d, pa), pb) in dst.iter_mut().zip(a.chunks_exact(2)).zip(b.chunks_exact(2)) {
                *d = ((0.0 + (pa[0] + pa[1])) + (pb[0] + pb[1])) * norm;
            }
        }
        return (out, (gx0 + c0 as i64) / f, (gy0 + r0 as i64) / f);
    }
    let mut out = Plane::zeros(w, h);
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

/// Whether [`decimate`] skips its factor-2 loop (to test it against the general one).
#[cfg(not(test))]
#[inline(always)]
fn force_general_decimation() -> bool {
    false
}

/// Whether [`work_planes`] uses its portable loops even on AVX2 CPUs (to test one
/// against the other).
#[cfg(not(test))]
#[inline(always)]
fn force_portable() -> bool {
    false
}

#[cfg(test)]
thread_local! {
    static GENERAL_DECIMATION: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn force_general_decimation() -> bool {
    GENERAL_DECIMATION.with(|g| g.get())
}

#[cfg(test)]
fn force_portable() -> bool {
    PORTABLE.with(|g| g.get())
}

/// Deconvolution tables indexed by the sum of `n` samples of one channel: entry `s` holds
/// that channel's contribution to each stain at the mean intensity `s / n`.
struct SumLuts {
    /// Per channel, per sum: the contributions to H, E and residual (and a zero lane, so
    /// that one load serves the three stains).
    tables: [Vec<[f32; 4]>; 3],
    /// The same tables in fixed-size arrays when sums stay below [`SMALL_SUMS`] (boxes of
    /// at most 4 pixels): a sum masked to that range indexes them without a bounds check.
    small: Option<[SmallTable; 3]>,
}

/// Entries of a [`SmallTable`] (a power of two above 4 x 255).
const SMALL_SUMS: usize = 1024;

/// A deconvolution table of sums below [`SMALL_SUMS`].
type SmallTable = Box<[[f32; 4]; SMALL_SUMS]>;

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
            (0..len)
                .map(|sum| {
                    let mean = (sum as f64 / n as f64).max(0.5);
                    // Clamped at 0 like `stain::optical_density`: brighter than the
                    // background is background.
                    let od = (-(mean / background[c]).log10()).max(0.0);
                    let [h, e, r] = [0, 1, 2].map(|s| (od * inv[c][s]) as f32);
                    [h, e, r, 0.0]
                })
                .collect()
        });
        let small = (len <= SMALL_SUMS).then(|| {
            tables.each_ref().map(|t: &Vec<[f32; 4]>| {
                let mut fixed = Box::new([[0.0f32; 4]; SMALL_SUMS]);
                fixed[..t.len()].copy_from_slice(t);
                fixed
            })
        });
        SumLuts { tables, small }
    }

    /// H, E and residual of one box sum.
    #[inline(always)]
    fn apply(&self, s: [u32; 3]) -> [f32; 3] {
        let [t0, t1, t2] = &self.tables;
        let (x, y, z) = (t0[s[0] as usize], t1[s[1] as usize], t2[s[2] as usize]);
        let stain = |i: usize| x[i] + y[i] + z[i];
        [stain(0).max(0.0), stain(1).max(0.0), stain(2)]
    }

    /// [`SumLuts::apply`] with the fixed-size tables (sums below [`SMALL_SUMS`]).
    #[inline(always)]
    fn apply_small(small: &[SmallTable; 3], s: [usize; 3]) -> [f32; 3] {
        let [t0, t1, t2] = small;
        let mask = SMALL_SUMS - 1;
        let (x, y, z) = (t0[s[0] & mask], t1[s[1] & mask], t2[s[2] & mask]);
        let stain = |i: usize| x[i] + y[i] + z[i];
        [stain(0).max(0.0), stain(1).max(0.0), stain(2)]
    }

    /// One working row from two RGB rows with 2 x 2 boxes, the black test once per block
    /// of pixels (no byte below [`BLACK_LEVEL`], no black pixel); `apply` is
    /// [`SumLuts::apply_small`] or a vector version of it.
    #[inline(always)]
    fn box2_row_with(
        &self,
        small: &[SmallTable; 3],
        a: &[u8],
        b: &[u8],
        (h, e, residual): PlaneRows,
        apply: impl Fn(&[SmallTable; 3], [usize; 3]) -> [f32; 3],
    ) {
        const BYTES: usize = BLOCK_PX * 6;
        let outs = h.chunks_mut(BLOCK_PX).zip(e.chunks_mut(BLOCK_PX));
        let outs = outs.zip(residual.chunks_mut(BLOCK_PX));
        for ((ab, bb), ((hb, eb), rb)) in a.chunks(BYTES).zip(b.chunks(BYTES)).zip(outs) {
            let px = hb.iter_mut().zip(eb.iter_mut()).zip(rb.iter_mut());
            if min_byte(ab).min(min_byte(bb)) < BLACK_LEVEL {
                for (((hv, ev), rv), (p, q)) in px.zip(ab.chunks_exact(6).zip(bb.chunks_exact(6))) {
                    let [p0, p1, q0, q1] = [
                        pixel(&p[..3]),
                        pixel(&p[3..]),
                        pixel(&q[..3]),
                        pixel(&q[3..]),
                    ];
                    [*hv, *ev, *rv] =
                        self.apply(std::array::from_fn(|c| p0[c] + p1[c] + q0[c] + q1[c]));
                }
            } else {
                // Vertical pairs (lanes of u16), then horizontal pairs of pixels.
                let mut pairs = [0u16; BYTES];
                for ((t, &x), &y) in pairs.iter_mut().zip(ab).zip(bb) {
                    *t = u16::from(x) + u16::from(y);
                }
                let mut quads = [0u16; BYTES];
                for ((q, &l), &r) in quads.iter_mut().zip(&pairs).zip(&pairs[3..]) {
                    *q = l + r;
                }
                for (((hv, ev), rv), q) in px.zip(quads.chunks_exact(6)) {
                    [*hv, *ev, *rv] = apply(small, [q[0], q[1], q[2]].map(usize::from));
                }
            }
        }
    }

    /// [`SumLuts::box2_row_with`] with scalar arithmetic.
    #[inline(never)]
    fn box2_row(&self, small: &[SmallTable; 3], a: &[u8], b: &[u8], out: PlaneRows) {
        self.box2_row_with(small, a, b, out, Self::apply_small)
    }

    /// [`SumLuts::box2_row_with`] with the three stains in the lanes of one SSE vector.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn box2_row_avx2(&self, small: &[SmallTable; 3], a: &[u8], b: &[u8], out: PlaneRows) {
        self.box2_row_with(small, a, b, out, |t, s| apply_small_sse(t, s))
    }

    /// One working row from one RGB row (no box), the black test once per block; `apply`
    /// as for [`SumLuts::box2_row_with`].
    #[inline(always)]
    fn box1_row_with(
        &self,
        small: &[SmallTable; 3],
        a: &[u8],
        (h, e, residual): PlaneRows,
        apply: impl Fn(&[SmallTable; 3], [usize; 3]) -> [f32; 3],
    ) {
        let outs = h.chunks_mut(BLOCK_PX).zip(e.chunks_mut(BLOCK_PX));
        let outs = outs.zip(residual.chunks_mut(BLOCK_PX));
        for (ab, ((hb, eb), rb)) in a.chunks(BLOCK_PX * 3).zip(outs) {
            let dark = min_byte(ab) < BLACK_LEVEL;
            let px = hb.iter_mut().zip(eb.iter_mut()).zip(rb.iter_mut());
            for (((hv, ev), rv), p) in px.zip(ab.chunks_exact(3)) {
                [*hv, *ev, *rv] = if dark {
                    self.apply(pixel(p))
                } else {
                    apply(small, [p[0], p[1], p[2]].map(usize::from))
                };
            }
        }
    }

    /// [`SumLuts::box1_row_with`] with scalar arithmetic.
    #[inline(never)]
    fn box1_row(&self, small: &[SmallTable; 3], a: &[u8], out: PlaneRows) {
        self.box1_row_with(small, a, out, Self::apply_small)
    }

    /// [`SumLuts::box1_row_with`] with the three stains in the lanes of one SSE vector.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn box1_row_avx2(&self, small: &[SmallTable; 3], a: &[u8], out: PlaneRows) {
        self.box1_row_with(small, a, out, |t, s| apply_small_sse(t, s))
    }
}

/// [`SumLuts::apply_small`] in the lanes of an SSE vector: lane by lane the same
/// additions in the same order, and the same maximum with zero (`MAXPS` returns its
/// second operand, zero, on equality and for NaN, as the scalar `MAXSS` the compiler
/// emits for `f32::max(v, 0.0)`; the unit tests compare both bit for bit).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn apply_small_sse(small: &[SmallTable; 3], s: [usize; 3]) -> [f32; 3] {
    use std::arch::x86_64::{
        _mm_add_ps, _mm_cvtss_f32, _mm_max_ps, _mm_movehl_ps, _mm_set_ps, _mm_setzero_ps,
        _mm_shuffle_ps,
    };
    let mask = SMALL_SUMS - 1;
    let [t0, t1, t2] = small;
    let lanes = |v: [f32; 4]| _mm_set_ps(v[3], v[2], v[1], v[0]);
    let (x, y, z) = (
        lanes(t0[s[0] & mask]),
        lanes(t1[s[1] & mask]),
        lanes(t2[s[2] & mask]),
    );
    let sum = _mm_add_ps(_mm_add_ps(x, y), z);
    let clamped = _mm_max_ps(sum, _mm_setzero_ps());
    [
        _mm_cvtss_f32(clamped),
        _mm_cvtss_f32(_mm_shuffle_ps::<0x55>(clamped, clamped)),
        _mm_cvtss_f32(_mm_movehl_ps(sum, sum)),
    ]
}

/// One row of each of the H, E and residual planes.
type PlaneRows<'a> = (&'a mut [f32], &'a mut [f32], &'a mut [f32]);

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
    fn box_paths_match_a_direct_sum() {
        // Random pixels, some neutral black, some with one dark channel, for the
        // unrolled 2 x 2 and 1 x 1 paths and the general one.
        let d = deconv();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Rows above 24 have no byte below BLACK_LEVEL (the unrolled paths' fast case), the
        // first four are white (zero optical density: signed zeros in the tables).
        let img = image::RgbImage::from_fn(75, 41, |_, y| {
            let v = next();
            let px = [v as u8, (v >> 8) as u8, (v >> 16) as u8];
            match ((v >> 32) % 8, y < 24) {
                (_, true) if y < 4 => image::Rgb([255; 3]),
                (_, true) => image::Rgb(px.map(|c| c.max(BLACK_LEVEL))),
                (0, false) => image::Rgb(px.map(|c| c % 12)),
                (1, false) => image::Rgb([px[0] % 12, px[1], px[2]]),
                _ => image::Rgb(px),
            }
        });
        for (mpp, k) in [(0.25, 2), (0.5, 1), (0.17, 3)] {
            let field = FieldImage {
                rgb: &img,
                origin_x_px: 3.0,
                origin_y_px: 1.0,
                downsample: 1.0,
                mpp: Mpp::new(mpp).unwrap(),
            };
            super::super::buffers::pollute();
            let p = work_planes(&field, &d, 0.5);
            PORTABLE.with(|g| g.set(true));
            let portable = work_planes(&field, &d, 0.5);
            PORTABLE.with(|g| g.set(false));
            let bits = |q: &Plane| q.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&p.h), bits(&portable.h), "k {k}");
            assert_eq!(bits(&p.e), bits(&portable.e), "k {k}");
            assert_eq!(bits(&p.residual), bits(&portable.residual), "k {k}");
            assert_eq!(box_factor(field.mpp, 0.5), k);
            let luts = SumLuts::new(&d, k * k);
            let (c0, r0) = ((k - 3 % k) % k, (k - 1 % k) % k);
            assert_eq!((p.h.width, p.h.height), ((75 - c0) / k, (41 - r0) / k));
            for row in 0..p.h.height {
                for col in 0..p.h.width {
                    let mut s = [0u32; 3];
                    for y in r0 + row * k..r0 + row * k + k {
                        for x in c0 + col * k..c0 + col * k + k {
                            let px = img.get_pixel(x as u32, y as u32).0;
                            let black = px.iter().all(|&c| c < BLACK_LEVEL);
                            for c in 0..3 {
                                s[c] += if black { 255 } else { u32::from(px[c]) };
                            }
                        }
                    }
                    let [hv, ev, rv] = luts.apply(s);
                    let i = row * p.h.width + col;
                    assert_eq!(
                        [p.h.data[i], p.e.data[i], p.residual.data[i]].map(f32::to_bits),
                        [hv, ev, rv].map(f32::to_bits),
                        "k {k}, ({col}, {row})"
                    );
                }
            }
        }
    }

    #[test]
    fn factor_two_decimation_is_the_general_one_bit_for_bit() {
        let mut p = Plane::zeros(23, 17);
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        for v in p.data.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *v = match state % 8 {
                0 => 0.0,
                1..=4 => -0.0,
                5 => -(((state >> 8) % 100) as f32) * 0.013,
                _ => ((state >> 8) % 1000) as f32 * 0.0037,
            };
        }
        for (gx, gy) in [(0, 0), (3, 8), (-5, 1)] {
            super::super::buffers::pollute();
            let fast = decimate(&p, gx, gy, 2);
            GENERAL_DECIMATION.with(|g| g.set(true));
            let general = decimate(&p, gx, gy, 2);
            GENERAL_DECIMATION.with(|g| g.set(false));
            assert_eq!((fast.1, fast.2), (general.1, general.2));
            let bits = |q: &Plane| q.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast.0), bits(&general.0), "origin ({gx}, {gy})");
        }
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
