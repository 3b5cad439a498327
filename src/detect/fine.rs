//! Fine-scale outline of a candidate at the field's native resolution (0.25 µm/px at 40x).
//!
//! The working resolution (0.5 µm/px) blurs away what most separates a mitotic figure
//! from its mimics: the ragged, "hairy" outline of condensed chromosomes against the
//! smooth round outline of a lymphocyte or a pyknotic nucleus and the smooth oval of an
//! interphase nucleus (Lashen et al. 2022, "Visual assessment of mitotic figures in breast
//! cancer", Histopathology; scanned mitoses lose their projections but keep a ragged
//! border). Here the candidate is re-segmented in a small window of native pixels: the
//! haematoxylin OD (Ruifrok & Johnston 2001, through the slide's [`Deconvolver`]) lightly
//! smoothed (3x3 mean, against JPEG noise), thresholded half-way between the window's
//! 25th percentile (local background) and the peak near the candidate, and the connected
//! component holding that peak is measured:
//!
//! - `roughness`: boundary pixels over the perimeter of the component's inertia ellipse
//!   (Ramanujan's approximation): about 1 for smooth discs and ovals whatever their
//!   elongation, more for ragged and spiky outlines;
//! - `solidity`: area over convex-hull area at native resolution;
//! - `radial_cv`: coefficient of variation of the boundary pixels' distances from the
//!   centroid, after scaling the minor axis to the major (so an ellipse scores near 0);
//! - `halo_ratio`: mean H in a ring 0.5 to 2 µm outside the component over the
//!   component's mean H: low for a figure in cleared cytoplasm, higher for a nucleus
//!   among others.
//!
//! Everything is computed from the window's pixels only, in raster order, so the result
//! is deterministic and the same whatever field holds the candidate.

use image::RgbImage;

use crate::stain::Deconvolver;

/// Half side of the window, µm: holds the largest figure (15 µm) and its halo.
const WINDOW_RADIUS_UM: f64 = 10.0;
/// Distance from the candidate position within which the peak is searched, µm.
const PEAK_SEARCH_UM: f64 = 2.0;
/// Inner and outer radius of the halo ring outside the component, µm.
const HALO_UM: (f64, f64) = (0.5, 2.0);
/// Fewest component pixels for a measurement.
const MIN_PIXELS: usize = 6;

/// The fine-scale outline measures of one candidate (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FineMeasure {
    /// Boundary length over the inertia-ellipse perimeter (>= about 0.8; 1 = smooth).
    pub roughness: f64,
    /// Area over convex-hull area (0..=1).
    pub solidity: f64,
    /// CV of the ellipse-normalised boundary radii (>= 0; 0 = ellipse).
    pub radial_cv: f64,
    /// Mean H of the halo ring over the component's mean H (>= 0).
    pub halo_ratio: f64,
    /// Component area, µm².
    pub area_um2: f64,
}

/// Measures the candidate at native pixel `(cx, cy)` (fractional, in `rgb` pixels) of
/// `rgb` whose pixels are `um_per_px` µm. `None` when the window is empty or the
/// component too small.
///
/// Each window is deconvolved on its own. Deconvolving the whole field once and cutting
/// windows from it was measured slower even where the windows overlap (1,364 candidates
/// on a 2,300 x 2,300 px field: 147 ms against 126 ms, `cargo bench --bench detect`):
/// the field-sized planes cost more in memory traffic than the repeated table lookups.
pub(crate) fn measure(
    rgb: &RgbImage,
    deconv: &Deconvolver,
    (cx, cy): (f64, f64),
    um_per_px: f64,
) -> Option<FineMeasure> {
    let (w, h) = (i64::from(rgb.width()), i64::from(rgb.height()));
    let r = (WINDOW_RADIUS_UM / um_per_px).ceil() as i64;
    let (ccx, ccy) = (cx.floor() as i64, cy.floor() as i64);
    let (x0, y0) = ((ccx - r).max(0), (ccy - r).max(0));
    let (x1, y1) = ((ccx + r + 1).min(w), (ccy + r + 1).min(h));
    if x1 - x0 < 3 || y1 - y0 < 3 {
        return None;
    }
    let (ww, wh) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut raw = vec![0f32; ww * wh];
    let stride = rgb.width() as usize * 3;
    for (j, row) in raw.chunks_exact_mut(ww).enumerate() {
        let start = (y0 as usize + j) * stride + x0 as usize * 3;
        let src = &rgb.as_raw()[start..start + ww * 3];
        for (v, p) in row.iter_mut().zip(src.chunks_exact(3)) {
            *v = deconv.h_od([p[0], p[1], p[2]]);
        }
    }
    let hs = mean_3x3(&raw, ww, wh);
    let background = kth_smallest(&hs, hs.len() / 4);
    // The peak near the candidate (first in raster order on ties).
    let search = (PEAK_SEARCH_UM / um_per_px).ceil() as i64;
    let mut peak = (f32::MIN, 0usize, 0usize);
    for j in (ccy - search).max(y0)..(ccy + search + 1).min(y1) {
        for i in (ccx - search).max(x0)..(ccx + search + 1).min(x1) {
            let (li, lj) = ((i - x0) as usize, (j - y0) as usize);
            let v = hs[lj * ww + li];
            if v > peak.0 {
                peak = (v, li, lj);
            }
        }
    }
    if peak.0 <= background {
        return None;
    }
    let threshold = background + 0.5 * (peak.0 - background);
    // 8-connected component of pixels >= threshold holding the peak.
    let mut label = vec![false; ww * wh];
    let mut stack = vec![(peak.1, peak.2)];
    label[peak.2 * ww + peak.1] = true;
    let mut count = 0usize;
    while let Some((i, j)) = stack.pop() {
        count += 1;
        for dj in j.saturating_sub(1)..(j + 2).min(wh) {
            for di in i.saturating_sub(1)..(i + 2).min(ww) {
                let k = dj * ww + di;
                if !label[k] && hs[k] >= threshold {
                    label[k] = true;
                    stack.push((di, dj));
                }
            }
        }
    }
    if count < MIN_PIXELS {
        return None;
    }
    // The component's pixels in raster order (every sum below runs in this order).
    let mut pixels = Vec::with_capacity(count);
    for (j, row) in label.chunks_exact(ww).enumerate() {
        pixels.extend(
            row.iter()
                .enumerate()
                .filter(|(_, &l)| l)
                .map(|(i, _)| (i, j)),
        );
    }
    let n = pixels.len() as f64;
    let (mut sx, mut sy, mut sh) = (0f64, 0f64, 0f64);
    for &(i, j) in &pixels {
        sx += i as f64;
        sy += j as f64;
        sh += f64::from(raw[j * ww + i]);
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut syy, mut sxy) = (0f64, 0f64, 0f64);
    for &(i, j) in &pixels {
        let (dx, dy) = (i as f64 - mx, j as f64 - my);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    // Pixel squares add 1/12 to each axis' variance.
    let (vxx, vyy, vxy) = (sxx / n + 1.0 / 12.0, syy / n + 1.0 / 12.0, sxy / n);
    let tr = vxx + vyy;
    let disc = ((vxx - vyy).powi(2) / 4.0 + vxy * vxy).sqrt();
    let (l1, l2) = (tr / 2.0 + disc, (tr / 2.0 - disc).max(1e-6));
    // Semi-axes of the filled ellipse with these second moments: variance = a² / 4.
    let (a, b) = (2.0 * l1.sqrt(), 2.0 * l2.sqrt());
    let ellipse_perimeter =
        std::f64::consts::PI * (3.0 * (a + b) - ((3.0 * a + b) * (a + 3.0 * b)).sqrt());
    // Boundary pixels: in the component with a 4-neighbour outside it.
    let inside = |i: i64, j: i64| {
        i >= 0
            && j >= 0
            && (i as usize) < ww
            && (j as usize) < wh
            && label[j as usize * ww + i as usize]
    };
    let boundary: Vec<(usize, usize)> = pixels
        .iter()
        .copied()
        .filter(|&(i, j)| {
            let (i, j) = (i as i64, j as i64);
            !(inside(i - 1, j) && inside(i + 1, j) && inside(i, j - 1) && inside(i, j + 1))
        })
        .collect();
    // Radii in the frame of the principal axes, minor axis stretched to the major.
    let angle = 0.5 * (2.0 * vxy).atan2(vxx - vyy);
    let (cs, sn) = (angle.cos(), angle.sin());
    let stretch = (l1 / l2).sqrt();
    let radii: Vec<f64> = boundary
        .iter()
        .map(|&(i, j)| {
            let (dx, dy) = (i as f64 - mx, j as f64 - my);
            let (u, v) = (dx * cs + dy * sn, -dx * sn + dy * cs);
            (u * u + (v * stretch).powi(2)).sqrt()
        })
        .collect();
    let rm = radii.iter().sum::<f64>() / radii.len().max(1) as f64;
    let rv = radii.iter().map(|r| (r - rm).powi(2)).sum::<f64>() / radii.len().max(1) as f64;
    let hull_area = hull_area_px(&pixels);
    // Halo ring: pixels outside the component whose distance to it lies in HALO_UM. The
    // squared distance to the nearest boundary pixel, stamped from each boundary pixel
    // over the disc it can reach (exact, and cheaper than a search per ring pixel).
    let (h_in, h_out) = (HALO_UM.0 / um_per_px, HALO_UM.1 / um_per_px);
    let reach = h_out.floor() as i64;
    let offsets_d2: Vec<i32> = (-reach..=reach).map(|d| (d * d) as i32).collect();
    let mut nearest_d2 = vec![i32::MAX; ww * wh];
    for &(bi, bj) in &boundary {
        let (bi, bj) = (bi as i64, bj as i64);
        let (i_lo, i_hi) = ((bi - reach).max(0), (bi + reach).min(ww as i64 - 1));
        let dx2 = &offsets_d2[(i_lo - bi + reach) as usize..=(i_hi - bi + reach) as usize];
        for j in (bj - reach).max(0)..=(bj + reach).min(wh as i64 - 1) {
            let dy2 = ((j - bj) * (j - bj)) as i32;
            let k = j as usize * ww;
            let row = &mut nearest_d2[k + i_lo as usize..=k + i_hi as usize];
            for (d, &dx2) in row.iter_mut().zip(dx2) {
                *d = (*d).min(dx2 + dy2);
            }
        }
    }
    let (mut ring_sum, mut ring_n) = (0f64, 0usize);
    for (k, &d2) in nearest_d2.iter().enumerate() {
        let d2 = d2 as f64;
        if !label[k] && d2 >= h_in * h_in && d2 <= h_out * h_out {
            ring_sum += f64::from(raw[k]);
            ring_n += 1;
        }
    }
    let mean_h = sh / n;
    Some(FineMeasure {
        roughness: boundary.len() as f64 / ellipse_perimeter.max(1.0),
        solidity: if hull_area > 0.0 {
            (n / hull_area).min(1.0)
        } else {
            1.0
        },
        radial_cv: if rm > 0.0 { rv.sqrt() / rm } else { 0.0 },
        halo_ratio: if ring_n > 0 && mean_h > 0.0 {
            (ring_sum / ring_n as f64 / mean_h).max(0.0)
        } else {
            0.0
        },
        area_um2: n * um_per_px * um_per_px,
    })
}

/// The 3x3 mean at `(i, j)` of a `ww` x `wh` plane over the neighbours inside the plane,
/// summed row by row, left to right.
fn mean_3x3_at(raw: &[f32], ww: usize, wh: usize, i: usize, j: usize) -> f32 {
    let (mut s, mut n) = (0f32, 0f32);
    for dj in j.saturating_sub(1)..(j + 2).min(wh) {
        for di in i.saturating_sub(1)..(i + 2).min(ww) {
            s += raw[dj * ww + di];
            n += 1.0;
        }
    }
    s / n
}

/// 3x3 mean of a `ww` x `wh` plane; a border pixel averages the neighbours inside the
/// plane. Sums run row by row, left to right, as [`mean_3x3_at`] does.
fn mean_3x3(raw: &[f32], ww: usize, wh: usize) -> Vec<f32> {
    let general = |i: usize, j: usize| mean_3x3_at(raw, ww, wh, i, j);
    let mut hs = vec![0f32; ww * wh];
    for j in 0..wh {
        if j == 0 || j + 1 == wh || ww < 3 {
            for i in 0..ww {
                hs[j * ww + i] = general(i, j);
            }
            continue;
        }
        hs[j * ww] = general(0, j);
        hs[j * ww + ww - 1] = general(ww - 1, j);
        let above = raw[(j - 1) * ww..j * ww].windows(3);
        let here = raw[j * ww..(j + 1) * ww].windows(3);
        let below = raw[(j + 1) * ww..(j + 2) * ww].windows(3);
        let out = &mut hs[j * ww + 1..(j + 1) * ww - 1];
        for (o, ((a, b), c)) in out.iter_mut().zip(above.zip(here).zip(below)) {
            let s = 0f32 + a[0] + a[1] + a[2] + b[0] + b[1] + b[2] + c[0] + c[1] + c[2];
            *o = s / 9.0;
        }
    }
    hs
}

/// The `k`-th smallest of `values` (0-based) in [`f32::total_cmp`] order, by a three-pass
/// radix select on order-preserving integer keys: the same value `select_nth_unstable_by`
/// returns, in linear time without data-dependent branches.
fn kth_smallest(values: &[f32], k: usize) -> f32 {
    assert!(k < values.len(), "k {k} out of {} values", values.len());
    // Negative floats: every bit flipped; others: the sign bit set (the order of
    // `total_cmp`, as unsigned integers).
    let key = |v: f32| {
        let b = v.to_bits();
        if b >> 31 == 1 {
            !b
        } else {
            b | 0x8000_0000
        }
    };
    let mut keys: Vec<u32> = values.iter().map(|&v| key(v)).collect();
    let mut k = k;
    for shift in [21u32, 10, 0] {
        let mut hist = [0u32; 2048];
        for &c in &keys {
            hist[((c >> shift) & 0x7FF) as usize] += 1;
        }
        let mut bin = 0;
        for (b, &count) in hist.iter().enumerate() {
            if k < count as usize {
                bin = b;
                break;
            }
            k -= count as usize;
        }
        keys.retain(|&c| ((c >> shift) & 0x7FF) as usize == bin);
    }
    let c = keys[0];
    if c >> 31 == 1 {
        f32::from_bits(c & 0x7FFF_FFFF)
    } else {
        f32::from_bits(!c)
    }
}

/// Area of the convex hull of pixel squares (their corners), by Andrew's monotone chain
/// and the shoelace formula. `pixels` in raster order (row by row, left to right); only
/// the outer corners of each row's first and last pixel can be hull vertices, so only
/// those are sorted.
fn hull_area_px(pixels: &[(usize, usize)]) -> f64 {
    let mut pts: Vec<(i64, i64)> = Vec::new();
    for row in pixels.chunk_by(|a, b| a.1 == b.1) {
        let (first, last) = (row[0], row[row.len() - 1]);
        let (i0, i1, j) = (first.0 as i64, last.0 as i64 + 1, first.1 as i64);
        pts.extend([(i0, j), (i0, j + 1), (i1, j), (i1, j + 1)]);
    }
    pts.sort_unstable();
    pts.dedup();
    if pts.len() < 3 {
        return 0.0;
    }
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(i64, i64)> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &(i64, i64)>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    let mut twice = 0i64;
    for k in 0..hull.len() {
        let (a, b) = (hull[k], hull[(k + 1) % hull.len()]);
        twice += a.0 * b.1 - b.0 * a.1;
    }
    twice.abs() as f64 / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stain::StainVectors;

    /// A white image with a shape painted in haematoxylin.
    fn painted(inside: impl Fn(f64, f64) -> bool) -> RgbImage {
        let h = StainVectors::default_hed().haematoxylin;
        let dark = h.map(|c| (255.0 * 10f64.powf(-1.2 * c)).round() as u8);
        RgbImage::from_fn(121, 121, |x, y| {
            if inside(x as f64 - 60.0, y as f64 - 60.0) {
                image::Rgb(dark)
            } else {
                image::Rgb([235, 225, 235])
            }
        })
    }

    fn measure_at_centre(img: &RgbImage) -> FineMeasure {
        let d = Deconvolver::new(StainVectors::default_hed(), [255.0; 3]).unwrap();
        measure(img, &d, (60.5, 60.5), 0.25).unwrap()
    }

    #[test]
    fn disc_and_ellipse_are_smooth_a_star_is_rough() {
        let disc = measure_at_centre(&painted(|x, y| x * x + y * y <= 14.0 * 14.0));
        let ellipse = measure_at_centre(&painted(|x, y| {
            (x / 22.0).powi(2) + (y / 8.0).powi(2) <= 1.0
        }));
        let star = measure_at_centre(&painted(|x, y| {
            let (r, t) = ((x * x + y * y).sqrt(), y.atan2(x));
            r <= 10.0 + 6.0 * (7.0 * t).cos().max(0.0)
        }));
        for (name, m) in [("disc", disc), ("ellipse", ellipse)] {
            assert!(m.roughness < 1.15, "{name} {m:?}");
            assert!(m.radial_cv < 0.06, "{name} {m:?}");
            assert!(m.solidity > 0.9, "{name} {m:?}");
        }
        assert!(
            star.roughness > disc.roughness + 0.2,
            "{star:?} vs {disc:?}"
        );
        assert!(star.radial_cv > 0.15, "{star:?}");
        assert!(star.solidity < 0.85, "{star:?}");
        // The disc's area: pi 14² px at 0.25 µm/px.
        let area_um2 = std::f64::consts::PI * 14.0 * 14.0 * 0.0625;
        assert!(
            (disc.area_um2 - area_um2).abs() / area_um2 < 0.1,
            "{disc:?}"
        );
        // White around: no haematoxylin in the halo.
        assert!(disc.halo_ratio < 0.05, "{disc:?}");
    }

    proptest::proptest! {
        #[test]
        fn kth_smallest_is_select_nth(
            values in proptest::collection::vec(
                proptest::prop_oneof![-2.0f32..4.0, proptest::sample::select(vec![0.0f32, -0.0, 1.5, -1.0])],
                1..300,
            ),
            k_frac in 0.0f64..1.0,
        ) {
            let k = ((values.len() as f64 * k_frac) as usize).min(values.len() - 1);
            let mut sorted = values.clone();
            let expected = *sorted.select_nth_unstable_by(k, f32::total_cmp).1;
            proptest::prop_assert_eq!(kth_smallest(&values, k).to_bits(), expected.to_bits());
        }

        #[test]
        fn mean_3x3_matches_the_plain_loop(
            ww in 1usize..9, wh in 1usize..9, seed in 0u64..1000,
        ) {
            let raw: Vec<f32> = (0..ww * wh)
                .map(|k| ((k as u64 * 2_654_435_761 + seed) % 1000) as f32 / 317.0 - 0.4)
                .collect();
            let fast = mean_3x3(&raw, ww, wh);
            for j in 0..wh {
                for i in 0..ww {
                    let (mut s, mut n) = (0f32, 0f32);
                    for dj in j.saturating_sub(1)..(j + 2).min(wh) {
                        for di in i.saturating_sub(1)..(i + 2).min(ww) {
                            s += raw[dj * ww + di];
                            n += 1.0;
                        }
                    }
                    proptest::prop_assert_eq!(fast[j * ww + i].to_bits(), (s / n).to_bits());
                }
            }
        }

        #[test]
        fn hull_from_row_ends_equals_hull_of_every_corner(
            mask in proptest::collection::vec(proptest::bool::ANY, 64),
        ) {
            let pixels: Vec<(usize, usize)> = (0..64)
                .filter(|&k| mask[k])
                .map(|k| (k % 8, k / 8))
                .collect();
            proptest::prop_assume!(!pixels.is_empty());
            // Reference: the hull of every corner of every pixel, by gift wrapping (a
            // different algorithm over the full corner set), and its shoelace area.
            let mut pts: Vec<(i64, i64)> = pixels
                .iter()
                .flat_map(|&(i, j)| {
                    let (i, j) = (i as i64, j as i64);
                    [(i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1)]
                })
                .collect();
            pts.sort_unstable();
            pts.dedup();
            let start = pts[0];
            let mut hull = vec![start];
            loop {
                let p = *hull.last().unwrap();
                let mut q = if pts[0] == p { pts[1] } else { pts[0] };
                for &r in &pts {
                    let cross = (q.0 - p.0) * (r.1 - p.1) - (q.1 - p.1) * (r.0 - p.0);
                    let farther = (r.0 - p.0).pow(2) + (r.1 - p.1).pow(2)
                        > (q.0 - p.0).pow(2) + (q.1 - p.1).pow(2);
                    if cross < 0 || (cross == 0 && farther) {
                        q = r;
                    }
                }
                if q == start {
                    break;
                }
                hull.push(q);
            }
            let twice: i64 = (0..hull.len())
                .map(|k| {
                    let (a, b) = (hull[k], hull[(k + 1) % hull.len()]);
                    a.0 * b.1 - b.0 * a.1
                })
                .sum();
            proptest::prop_assert_eq!(hull_area_px(&pixels), twice.abs() as f64 / 2.0);
        }
    }

    #[test]
    fn blank_window_gives_none() {
        let d = Deconvolver::new(StainVectors::default_hed(), [255.0; 3]).unwrap();
        let img = RgbImage::from_pixel(50, 50, image::Rgb([240, 240, 240]));
        assert!(measure(&img, &d, (25.0, 25.0), 0.25).is_none());
        assert!(measure(&img, &d, (-100.0, 25.0), 0.25).is_none());
    }
}
