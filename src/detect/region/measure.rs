//! The two steps the caller takes: a seed's haematoxylin peak and local background
//! ([`find_peak`]), then its region grown and measured only as far as the caller's gates
//! need ([`measure_with`]), with buffers reused across seeds ([`Scratch`]). Every sum is
//! taken over the region's pixels in raster order.
//!
//! May use: every other room of the region and its types (`super`).

use super::byte_masks::Rect;
use super::hull::{hull_of_points, HullScratch};
use super::masks::Masks;
use super::order::{core_mean, from_order_key, order_key};
use super::sets::{Levels, Sets};
use super::shape::{inertia_eigenvalues, shape_of};
use super::window::{chamfer_limit, Geometry, Window};
use super::{Basics, Gates, Outcome, Peak, RegionMeasure, RegionParams, RegionPlanes};

/// Reusable buffers of [`measure_with`]: measuring thousands of seeds per field then
/// allocates nothing per seed. The contents never carry over from one seed to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    geometry: Option<(RegionParams, Geometry)>,
    /// Zero-padded copies of the planes around seeds near the planes' edges.
    copies: [Vec<f32>; 4],
    /// Byte masks: 0 outside, `INNER` in the region, `OUTER` in the outer region only (the
    /// labels of `byte_masks`).
    mask: Vec<u8>,
    stack: Vec<(usize, usize)>,
    ring_dist: Vec<i16>,
    rim_dist: Vec<i16>,
    /// Row masks (see [`Geometry::bit_rows`]): candidates of the region and of the outer
    /// region, region, outer region, ring.
    cand: Vec<u64>,
    cand_outer: Vec<u64>,
    inner_rows: Vec<u64>,
    outer_rows: Vec<u64>,
    ring_rows: Vec<u64>,
    sets: Sets,
    hull: HullScratch,
    /// Order-preserving keys of sample values ([`order_key`]), for order statistics.
    keys: Vec<u32>,
    /// Raw H of the region in raster order.
    region_h: Vec<f32>,
    /// Use the byte masks even where row masks apply (to test one against the other).
    #[cfg(test)]
    force_bytes: bool,
}

/// Grows and measures the region of the seed at `(col, row)`. Pixels outside the planes
/// read as 0 (white), the same convention as the blur. Returns `None` when nothing
/// exceeds the local background. Allocates its buffers; [`measure_with`] reuses them.
#[cfg(test)]
pub fn measure(
    planes: &RegionPlanes,
    col: usize,
    row: usize,
    params: &RegionParams,
) -> Option<RegionMeasure> {
    let mut scratch = Scratch::default();
    let peak = find_peak(planes, col, row, params, &mut scratch)?;
    match measure_with(planes, col, row, params, &peak, &Gates::ALL, &mut scratch) {
        Outcome::Candidate(m) => Some(*m),
        Outcome::Dropped | Outcome::Nucleus(_) => None,
    }
}

/// The haematoxylin peak near the seed at `(col, row)` (the first maximum of the smoothed
/// H within the peak radius, in raster order) and the local background (25th
/// percentile of the smoothed H in the disc, sampled every other pixel in x and y: the
/// smoothing makes neighbours redundant). `None` when the peak does not exceed the
/// background (no region).
pub fn find_peak(
    planes: &RegionPlanes,
    col: usize,
    row: usize,
    params: &RegionParams,
    scratch: &mut Scratch,
) -> Option<Peak> {
    if scratch.geometry.as_ref().map(|(p, _)| p) != Some(params) {
        scratch.geometry = Some((*params, Geometry::new(params)));
    }
    let geo = &scratch.geometry.as_ref()?.1;
    let win = Window::new(planes, col, row, geo, &mut scratch.copies);
    let hs = win.hs;
    let (mut dx, mut dy, mut value) = (0isize, 0isize, f32::NEG_INFINITY);
    for &(ox, oy) in &geo.peak_offsets {
        let v = hs[win.at(ox, oy)];
        if v > value {
            (dx, dy, value) = (ox, oy, v);
        }
    }
    let keys = &mut scratch.keys;
    keys.clear();
    keys.extend(
        geo.background_offsets
            .iter()
            .map(|&(ox, oy)| order_key(hs[win.at(ox, oy)])),
    );
    let q = keys.len() / 4;
    let background = from_order_key(*keys.select_nth_unstable(q).1);
    (value > background).then_some(Peak {
        dx,
        dy,
        value,
        background,
    })
}

/// Grows and measures the region of the seed at `(col, row)` from its [`Peak`], with
/// buffers reused across calls, stopping where `gates` say.
pub fn measure_with(
    planes: &RegionPlanes,
    col: usize,
    row: usize,
    params: &RegionParams,
    peak: &Peak,
    gates: &Gates,
    scratch: &mut Scratch,
) -> Outcome {
    if scratch.geometry.as_ref().map(|(p, _)| p) != Some(params) {
        scratch.geometry = Some((*params, Geometry::new(params)));
    }
    #[cfg(test)]
    let force_bytes = scratch.force_bytes;
    #[cfg(not(test))]
    let force_bytes = false;
    let Scratch {
        geometry,
        copies,
        mask,
        stack,
        ring_dist,
        rim_dist,
        cand,
        cand_outer,
        inner_rows,
        outer_rows,
        ring_rows,
        sets,
        hull,
        keys,
        region_h,
        ..
    } = scratch;
    let Some((_, geo)) = geometry.as_ref() else {
        return Outcome::Dropped;
    };
    let win = Window::new(planes, col, row, geo, copies);
    let (hs, h, e, residual) = (win.hs, win.h, win.e, win.residual);
    let stride = win.stride as usize;
    let (bg, peak_value) = (peak.background, peak.value);
    let threshold = bg + params.fraction * (peak_value - bg);
    // Outer region at a lower level: how far the object extends beyond its dark part
    // (a chromatin clump inside an interphase nucleus grows into the nucleus; a mitotic
    // figure in clear cytoplasm hardly grows). It contains the region.
    let outer_level = bg + params.outer_fraction * (peak_value - bg);
    let levels = Levels {
        peak: (peak.dx, peak.dy),
        threshold,
        outer: (outer_level < threshold).then_some(outer_level),
    };
    let mut masks = match &geo.bit_rows {
        Some(bits) if !force_bytes => Masks::Bits {
            bits,
            cand,
            cand_outer,
            inner: inner_rows,
            outer: outer_rows,
            ring: ring_rows,
        },
        _ => Masks::Bytes {
            mask,
            stack,
            ring_dist,
            rim_dist,
            ring_rect: Rect {
                x0: 0,
                y0: 0,
                x1: -1,
                y1: -1,
            },
            ring_limit: chamfer_limit(params.ring_px),
        },
    };
    masks.inner(geo, &win, &levels, sets);
    let pixels = &sets.inner[..];

    // Sums over the region in raster order, so every sum is taken in the same order
    // wherever the field was cut.
    let n = pixels.len() as f64;
    if (gates.drop_area)(n) {
        return Outcome::Dropped;
    }
    // The coordinate sums are exact integers (as their f64 sums in raster order are).
    let (mut sx, mut sy) = (0isize, 0isize);
    let (mut sh, mut shh, mut se, mut sr) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    // Granularity: mean |Laplacian| of the smoothed H over the region, per unit of H.
    let mut lap_sum = 0.0f64;
    let mut h_max = 0.0f32;
    region_h.clear();
    region_h.resize(pixels.len(), 0.0);
    for (&(dx, dy), rh) in pixels.iter().zip(region_h.iter_mut()) {
        let i = win.at(dx, dy);
        sx += dx;
        sy += dy;
        let hv32 = h[i];
        *rh = hv32;
        if hv32 > h_max {
            h_max = hv32;
        }
        let hv = f64::from(hv32);
        sh += hv;
        shh += hv * hv;
        se += f64::from(e[i]);
        sr += f64::from(residual[i]);
        let nb = &hs[i - stride..=i + stride];
        let (c, last) = (nb[stride], nb.len() - 1);
        let lap = nb[stride + 1] + nb[stride - 1] + nb[last] + nb[0] - 4.0 * c;
        lap_sum += f64::from(lap.abs());
    }
    let (cx, cy) = (sx as f64 / n, sy as f64 / n);
    let mean_h = sh / n;
    let basics = Basics {
        centroid_dx: cx,
        centroid_dy: cy,
        mean_h_od: mean_h,
        peak_h_od: f64::from(peak_value),
    };
    if (gates.not_candidate_by_mean)(mean_h) {
        return Outcome::Nucleus(basics);
    }

    // Ring: pixels outside the region within ring_px (chamfer distance) of it.
    masks.ring(geo, params, sets);
    let pixels = &sets.inner[..];
    // Context: the disc of context_radius around the seed, minus region and ring,
    // sampled every other pixel in x and y (order statistics and a count: the order of
    // the samples does not matter).
    keys.clear();
    let mut darker = 0usize;
    let mut take = |v: f32| {
        darker += usize::from(f64::from(v) >= mean_h);
        keys.push(order_key(v));
    };
    for &(dx, dy) in &geo.context_far {
        take(hs[win.at(dx, dy)]);
    }
    for &(dx, dy) in &geo.context_near {
        if !masks.excluded(geo, dx, dy) {
            take(hs[win.at(dx, dy)]);
        }
    }
    let context = &mut keys[..];
    let context_darker_fraction = darker as f64 / context.len().max(1) as f64;
    let (context_p50, context_p90) = if context.is_empty() {
        (0.0, 0.0)
    } else {
        let (i50, i90) = (context.len() / 2, (context.len() * 9) / 10);
        let p50 = *context.select_nth_unstable(i50).1;
        // After the first selection everything after i50 is >= p50.
        let p90 = if i90 > i50 {
            *context[i50 + 1..].select_nth_unstable(i90 - i50 - 1).1
        } else {
            p50
        };
        (
            f64::from(from_order_key(p50)),
            f64::from(from_order_key(p90)),
        )
    };
    if (gates.not_candidate_by_context)(mean_h, context_p90) {
        return Outcome::Nucleus(basics);
    }

    let var_h = (shh / n - mean_h * mean_h).max(0.0);
    let (l1, l2) = inertia_eigenvalues(pixels, cx, cy, n);
    let elongation = (l1 / l2).sqrt();
    let granularity = if mean_h > 1e-6 {
        lap_sum / n / mean_h
    } else {
        0.0
    };

    // Perimeter: 4-connected boundary edges times pi/4 (the mean of |cos| + |sin| over
    // orientations is 4/pi, so this is unbiased for randomly oriented outlines).
    let mut edge_grad = 0.0f64;
    for &(dx, dy) in &sets.boundary {
        let i = win.at(dx, dy);
        let gx = 0.5 * f64::from(hs[i + 1] - hs[i - 1]);
        let gy = 0.5 * f64::from(hs[i + stride] - hs[i - stride]);
        edge_grad += (gx * gx + gy * gy).sqrt();
    }
    let perimeter_px = sets.edges as f64 * std::f64::consts::FRAC_PI_4;
    let (hull_pixels, hull_perimeter) = hull_of_points(&sets.inner_points, hull);

    let (mut rh, mut re) = (0.0f64, 0.0f64);
    for &(dx, dy) in &sets.ring {
        let i = win.at(dx, dy);
        rh += f64::from(h[i]);
        re += f64::from(e[i]);
    }
    let rn = sets.ring.len().max(1) as f64;

    // Rim of the outer region (within rim_px of its edge) against its interior: an
    // interphase nucleus has a membrane, darker than its inside; a figure has none.
    masks.outer(geo, &win, &levels, params, sets);
    let outer_pixels = &sets.outer[..];
    let (mut rim_sum, mut rim_n, mut in_sum, mut in_n) = (0.0f64, 0usize, 0.0f64, 0usize);
    let mut excess_od = 0.0f64;
    for (&(dx, dy), &rim) in outer_pixels.iter().zip(&sets.outer_rim) {
        let v = f64::from(h[win.at(dx, dy)]);
        excess_od += v - f64::from(bg);
        if rim {
            rim_sum += v;
            rim_n += 1;
        } else {
            in_sum += v;
            in_n += 1;
        }
    }
    let outer_shape = shape_of(outer_pixels, &sets.outer_points, sets.outer_edges, hull);
    let membrane_ratio = if rim_n > 0 && in_n > 0 && in_sum > 0.0 {
        (rim_sum / rim_n as f64) / (in_sum / in_n as f64)
    } else {
        1.0
    };
    let core_h_od = core_mean(region_h, params.core_px, h_max, keys);

    Outcome::Candidate(Box::new(RegionMeasure {
        peak_dx: peak.dx,
        peak_dy: peak.dy,
        centroid_dx: cx,
        centroid_dy: cy,
        area_px: n,
        mean_h_od: mean_h,
        peak_h_od: f64::from(peak_value),
        background_h_od: f64::from(bg),
        h_cv: if mean_h > 1e-6 {
            var_h.sqrt() / mean_h
        } else {
            0.0
        },
        mean_e_od: se / n,
        mean_residual_od: sr / n,
        ring_h_od: rh / rn,
        ring_e_od: re / rn,
        context_h_p50_od: context_p50,
        context_h_p90_od: context_p90,
        context_darker_fraction,
        core_h_od,
        elongation,
        solidity: if hull_pixels > 0.0 {
            (n / hull_pixels).min(1.0)
        } else {
            1.0
        },
        perimeter_px,
        hull_perimeter_px: hull_perimeter,
        edge_gradient_od_per_px: edge_grad / sets.boundary.len().max(1) as f64,
        clipped: sets.clipped,
        outer_area_ratio: outer_pixels.len() as f64 / n,
        outer_area_px: outer_pixels.len() as f64,
        outer_excess_od_px: excess_od,
        outer_elongation: outer_shape.elongation,
        outer_solidity: outer_shape.solidity,
        outer_irregularity: outer_shape.irregularity,
        membrane_ratio,
        granularity,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::gaussian::{blur, Kernel, Plane};

    fn plane_from(size: usize, f: impl Fn(f64, f64) -> f32) -> Plane {
        let mut p = Plane::zeros(size, size);
        for y in 0..size {
            for x in 0..size {
                p.data[y * size + x] = f(x as f64, y as f64);
            }
        }
        p
    }

    fn params() -> RegionParams {
        RegionParams {
            window_radius_px: 20,
            peak_radius_px: 3,
            ring_px: 3,
            fraction: 0.5,
            context_radius_px: 24,
            core_px: 20,
            outer_fraction: 0.3,
            rim_px: 2,
        }
    }

    fn measure_shape(shape: &Plane) -> RegionMeasure {
        let e = Plane::zeros(shape.width, shape.height);
        let planes = RegionPlanes {
            h: shape,
            h_smooth: shape,
            e: &e,
            residual: &e,
        };
        let c = shape.width / 2;
        measure(&planes, c, c, &params()).unwrap()
    }

    #[test]
    fn disc_area_perimeter_and_roundness() {
        let r = 10.0;
        let p = plane_from(64, |x, y| {
            if (x - 32.0).powi(2) + (y - 32.0).powi(2) <= r * r {
                0.8
            } else {
                0.05
            }
        });
        let m = measure_shape(&p);
        let pi = std::f64::consts::PI;
        assert!(
            (m.area_px / (pi * r * r) - 1.0).abs() < 0.03,
            "{}",
            m.area_px
        );
        assert!(m.centroid_dx.abs() < 1e-9 && m.centroid_dy.abs() < 1e-9);
        assert!(m.elongation < 1.02, "{}", m.elongation);
        assert!(m.solidity > 0.99, "{}", m.solidity);
        // The outline of the pixel squares reaches half a pixel beyond the centres.
        assert!(
            (m.perimeter_px / (2.0 * pi * (r + 0.5)) - 1.0).abs() < 0.03,
            "{}",
            m.perimeter_px
        );
        assert!(
            (m.perimeter_px / m.hull_perimeter_px - 1.0).abs() < 0.03,
            "{} {}",
            m.perimeter_px,
            m.hull_perimeter_px
        );
        assert!((m.mean_h_od - 0.8).abs() < 1e-6);
        assert!((m.ring_h_od - 0.05).abs() < 1e-6);
        assert!(!m.clipped);
    }

    #[test]
    fn ellipse_elongation_is_its_axis_ratio() {
        let (a, b) = (15.0, 5.0);
        let p = plane_from(64, |x, y| {
            // Rotated by 30 degrees.
            let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
            let (u, v) = (
                (x - 32.0) * c + (y - 32.0) * s,
                -(x - 32.0) * s + (y - 32.0) * c,
            );
            if (u / a).powi(2) + (v / b).powi(2) <= 1.0 {
                1.0
            } else {
                0.0
            }
        });
        let m = measure_shape(&p);
        assert!((m.elongation / 3.0 - 1.0).abs() < 0.06, "{}", m.elongation);
    }

    #[test]
    fn star_has_low_solidity_and_a_long_perimeter() {
        let p = plane_from(64, |x, y| {
            let (dx, dy) = (x - 32.0, y - 32.0);
            let radius = (dx * dx + dy * dy).sqrt();
            let angle = dy.atan2(dx);
            // Five-pointed star: radius swings between 6 and 18 px.
            let edge = 12.0 + 6.0 * (5.0 * angle).cos();
            if radius <= edge {
                1.0
            } else {
                0.0
            }
        });
        let m = measure_shape(&p);
        assert!(m.solidity < 0.8 && m.solidity > 0.5, "{}", m.solidity);
        assert!(m.perimeter_px / m.hull_perimeter_px > 1.2);
    }

    #[test]
    fn flat_plane_has_no_region() {
        let p = Plane::zeros(30, 30);
        let planes = RegionPlanes {
            h: &p,
            h_smooth: &p,
            e: &p,
            residual: &p,
        };
        assert!(measure(&planes, 5, 15, &params()).is_none());
    }

    /// A rough nuclear texture: blobs of several sizes and shapes, some touching, plus
    /// deterministic noise.
    fn texture(size: usize, salt: u64) -> Plane {
        let noise = |x: f64, y: f64| {
            let mut v = (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
                ^ salt;
            v ^= v >> 29;
            v = v.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            (v >> 40) as f64 / (1u64 << 24) as f64
        };
        plane_from(size, |x, y| {
            let mut v = 0.05 + 0.1 * noise(x, y);
            for k in 0..12 {
                let cx = 7.0 + 13.0 * (k % 4) as f64 + 3.0 * (salt % 3) as f64;
                let cy = 9.0 + 17.0 * (k / 4) as f64;
                let (ax, ay) = (2.0 + (k % 5) as f64, 2.0 + (k % 3) as f64 * 1.5);
                let d2 = ((x - cx) / ax).powi(2) + ((y - cy) / ay).powi(2);
                v += (0.3 + 0.1 * (k % 4) as f64) * (-0.5 * d2).exp();
            }
            v as f32
        })
    }

    #[test]
    fn row_masks_give_the_byte_masks_measures() {
        let size = 60;
        let h = texture(size, 1);
        let hs = blur(&h, &Kernel::gaussian(1.0));
        let e = texture(size, 2);
        let residual = texture(size, 3);
        let planes = RegionPlanes {
            h: &h,
            h_smooth: &hs,
            e: &e,
            residual: &residual,
        };
        let small = RegionParams {
            window_radius_px: 8,
            peak_radius_px: 2,
            ring_px: 2,
            fraction: 0.6,
            context_radius_px: 12,
            core_px: 10,
            outer_fraction: 0.3,
            rim_px: 1,
        };
        // The widest window kept in row masks (2 m + 1 = 63).
        let widest = RegionParams {
            window_radius_px: 25,
            ring_px: 5,
            rim_px: 3,
            context_radius_px: 30,
            ..params()
        };
        let same_level = RegionParams {
            outer_fraction: 0.5,
            ..params()
        };
        for p in [params(), small, widest, same_level] {
            let mut bits = Scratch::default();
            let mut bytes = Scratch {
                force_bytes: true,
                ..Scratch::default()
            };
            let mut measured = 0;
            let mut outcomes = [0; 3];
            for row in (0..size).step_by(3) {
                for col in (0..size).step_by(4) {
                    let peak = find_peak(&planes, col, row, &p, &mut bits);
                    assert_eq!(peak, find_peak(&planes, col, row, &p, &mut bytes));
                    let Some(peak) = peak else { continue };
                    let a = measure_with(&planes, col, row, &p, &peak, &Gates::ALL, &mut bits);
                    let b = measure_with(&planes, col, row, &p, &peak, &Gates::ALL, &mut bytes);
                    assert_eq!(a, b, "seed ({col}, {row}), {p:?}");
                    let Outcome::Candidate(full) = a else {
                        panic!("ungated measurement stopped: {a:?}")
                    };
                    measured += 1;
                    // Gated measurements stop with the same numbers.
                    let basics = Basics {
                        centroid_dx: full.centroid_dx,
                        centroid_dy: full.centroid_dy,
                        mean_h_od: full.mean_h_od,
                        peak_h_od: full.peak_h_od,
                    };
                    let small = |area: f64| area < 50.0;
                    let faint = |mean: f64| mean < 0.3;
                    let lighter = |mean: f64, p90: f64| mean < p90;
                    let gates = Gates {
                        drop_area: &small,
                        not_candidate_by_mean: &faint,
                        not_candidate_by_context: &lighter,
                    };
                    let want = if small(full.area_px) {
                        outcomes[0] += 1;
                        Outcome::Dropped
                    } else if faint(full.mean_h_od)
                        || lighter(full.mean_h_od, full.context_h_p90_od)
                    {
                        outcomes[1] += 1;
                        Outcome::Nucleus(basics)
                    } else {
                        outcomes[2] += 1;
                        Outcome::Candidate(full)
                    };
                    for scratch in [&mut bits, &mut bytes] {
                        let got = measure_with(&planes, col, row, &p, &peak, &gates, scratch);
                        assert_eq!(got, want, "gated, seed ({col}, {row})");
                    }
                }
            }
            assert!(measured > 100, "{measured}");
            assert!(outcomes.iter().all(|&n| n > 5), "{outcomes:?}");
            assert!(bits
                .geometry
                .as_ref()
                .is_some_and(|(_, g)| g.bit_rows.is_some()));
        }
    }
}
