//! A candidate's region around its seed and the measurements taken on it, in working
//! pixels (converted to physical units by the caller).
//!
//! The region is the 8-connected set of pixels around the haematoxylin peak whose lightly
//! smoothed H OD is at least `background + fraction * (peak - background)` (half-way
//! between the local background and the peak by default: a "full width at half maximum"
//! outline, which scales with the stain's intensity instead of using an absolute OD),
//! within a disc of fixed radius around the seed. `background` is the 25th percentile of
//! the smoothed H in that disc: the cytoplasm or stroma level in dense and sparse tissue
//! alike.

use super::gaussian::Plane;

/// Parameters of region growing, in working pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionParams {
    /// Radius of the disc the region may occupy, around the seed (px).
    pub window_radius_px: usize,
    /// Radius around the seed searched for the haematoxylin peak (px).
    pub peak_radius_px: usize,
    /// Width of the ring around the region whose stain is measured (px).
    pub ring_px: usize,
    /// Threshold position between local background (0) and peak (1).
    pub fraction: f32,
    /// Radius of the context disc around the seed whose darkness describes the
    /// neighbouring nuclei (px).
    pub context_radius_px: usize,
    /// Number of pixels in a region's dark core.
    pub core_px: usize,
    /// Threshold position of the outer region (below `fraction`).
    pub outer_fraction: f32,
    /// Width of the rim of the outer region (px).
    pub rim_px: usize,
}

/// The planes a region is measured on, all of the same shape.
#[derive(Debug, Clone, Copy)]
pub struct RegionPlanes<'a> {
    /// Raw haematoxylin OD.
    pub h: &'a Plane,
    /// Lightly smoothed haematoxylin OD (region membership, peak, edge gradient).
    pub h_smooth: &'a Plane,
    /// Eosin OD.
    pub e: &'a Plane,
    /// Residual (third stain) OD.
    pub residual: &'a Plane,
}

/// Measurements of one region in working pixels and OD.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RegionMeasure {
    /// Column of the haematoxylin peak minus the seed's column (px).
    pub peak_dx: isize,
    /// Row of the peak minus the seed's row (px).
    pub peak_dy: isize,
    /// Centroid column minus the seed's column (px, fractional).
    pub centroid_dx: f64,
    /// Centroid row minus the seed's row (px).
    pub centroid_dy: f64,
    /// Pixel count.
    pub area_px: f64,
    /// Mean raw H OD over the region.
    pub mean_h_od: f64,
    /// Peak of the smoothed H OD.
    pub peak_h_od: f64,
    /// Local background of the smoothed H OD (25th percentile in the window).
    pub background_h_od: f64,
    /// Standard deviation of raw H over the region divided by its mean.
    pub h_cv: f64,
    /// Mean eosin OD over the region.
    pub mean_e_od: f64,
    /// Mean residual OD over the region.
    pub mean_residual_od: f64,
    /// Mean H OD in the ring around the region.
    pub ring_h_od: f64,
    /// Mean eosin OD in the ring.
    pub ring_e_od: f64,
    /// Median smoothed H OD of the context disc outside the region and ring.
    pub context_h_p50_od: f64,
    /// 90th percentile of the same: the darkness of the neighbouring nuclei.
    pub context_h_p90_od: f64,
    /// Fraction of the context disc's pixels whose smoothed H is at least the region's
    /// mean H.
    pub context_darker_fraction: f64,
    /// Mean raw H OD of the darkest `core_px` pixels of the region (all of it if smaller).
    pub core_h_od: f64,
    /// Major over minor axis of the inertia ellipse (>= 1).
    pub elongation: f64,
    /// Pixel count over the pixel count of its convex hull, 0..=1.
    pub solidity: f64,
    /// Estimated perimeter (px).
    pub perimeter_px: f64,
    /// Convex hull perimeter (px).
    pub hull_perimeter_px: f64,
    /// Mean gradient magnitude of the smoothed H on the region's boundary pixels, OD/px.
    pub edge_gradient_od_per_px: f64,
    /// True when the region reached the edge of its disc (a clump larger than a figure).
    pub clipped: bool,
    /// Pixel count of the outer region (threshold at `outer_fraction`) over the region's.
    pub outer_area_ratio: f64,
    /// Mean raw H of the outer region's rim over that of its interior (1 when it has no
    /// interior).
    pub membrane_ratio: f64,
    /// Mean |4-neighbour Laplacian| of smoothed H over the region divided by its mean H.
    pub granularity: f64,
}

/// Grows and measures the region of the seed at `(col, row)`. Pixels outside the planes
/// read as 0 (white), the same convention as the blur. Returns `None` when nothing
/// exceeds the local background.
pub fn measure(
    planes: &RegionPlanes,
    col: usize,
    row: usize,
    params: &RegionParams,
) -> Option<RegionMeasure> {
    let hs = planes.h_smooth;
    // Local window: side 2R + 1 around the seed, plus the ring margin.
    let r = params.window_radius_px as isize;
    let m = r + params.ring_px as isize + 1;
    let side = (2 * m + 1) as usize;
    let at =
        |dx: isize, dy: isize, p: &Plane| -> f32 { p.get(col as isize + dx, row as isize + dy) };
    let in_disc = |dx: isize, dy: isize| dx * dx + dy * dy <= r * r;

    // Peak of the smoothed H near the seed (first maximum in raster order).
    let pr = params.peak_radius_px as isize;
    let (mut pdx, mut pdy, mut peak) = (0isize, 0isize, f32::NEG_INFINITY);
    for dy in -pr..=pr {
        for dx in -pr..=pr {
            if dx * dx + dy * dy > pr * pr {
                continue;
            }
            let v = at(dx, dy, hs);
            if v > peak {
                (pdx, pdy, peak) = (dx, dy, v);
            }
        }
    }
    // Background: 25th percentile of the smoothed H in the disc, sampled every other
    // pixel in x and y (the smoothing makes neighbours redundant).
    let mut disc_values: Vec<f32> = Vec::with_capacity((r as usize + 1).pow(2));
    for dy in (-r..=r).step_by(2) {
        for dx in (-r..=r).step_by(2) {
            if in_disc(dx, dy) {
                disc_values.push(at(dx, dy, hs));
            }
        }
    }
    let q = disc_values.len() / 4;
    let (_, bg, _) = disc_values.select_nth_unstable_by(q, f32::total_cmp);
    let bg = *bg;
    if peak <= bg {
        return None;
    }
    let threshold = bg + params.fraction * (peak - bg);

    // Flood fill (8-connected) from the peak within the disc.
    let idx = |dx: isize, dy: isize| ((dy + m) as usize) * side + (dx + m) as usize;
    let grow = |level: f32| -> (Vec<bool>, Vec<(isize, isize)>, bool) {
        let mut mask = vec![false; side * side];
        let mut stack = vec![(pdx, pdy)];
        mask[idx(pdx, pdy)] = true;
        let mut clipped = false;
        let mut pixels: Vec<(isize, isize)> = Vec::new();
        while let Some((dx, dy)) = stack.pop() {
            pixels.push((dx, dy));
            for (ox, oy) in NEIGHBOURS_8 {
                let (nx, ny) = (dx + ox, dy + oy);
                if !in_disc(nx, ny) {
                    clipped = true;
                    continue;
                }
                let i = idx(nx, ny);
                if !mask[i] && at(nx, ny, hs) >= level {
                    mask[i] = true;
                    stack.push((nx, ny));
                }
            }
        }
        (mask, pixels, clipped)
    };
    let (mask, mut pixels, clipped) = grow(threshold);
    // Visit in raster order so every sum is taken in the same order wherever the field
    // was cut.
    pixels.sort_unstable_by_key(|&(dx, dy)| (dy, dx));

    let n = pixels.len() as f64;
    let (mut sx, mut sy) = (0.0f64, 0.0f64);
    let (mut sh, mut shh, mut se, mut sr) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for &(dx, dy) in &pixels {
        sx += dx as f64;
        sy += dy as f64;
        let hv = f64::from(at(dx, dy, planes.h));
        sh += hv;
        shh += hv * hv;
        se += f64::from(at(dx, dy, planes.e));
        sr += f64::from(at(dx, dy, planes.residual));
    }
    let (cx, cy) = (sx / n, sy / n);
    let mean_h = sh / n;
    let var_h = (shh / n - mean_h * mean_h).max(0.0);
    let (mut sxx, mut syy, mut sxy) = (0.0f64, 0.0f64, 0.0f64);
    for &(dx, dy) in &pixels {
        let (ux, uy) = (dx as f64 - cx, dy as f64 - cy);
        sxx += ux * ux;
        syy += uy * uy;
        sxy += ux * uy;
    }
    // Each pixel is a unit square: add its own second moment 1/12.
    let (a, b, c) = (sxx / n + 1.0 / 12.0, syy / n + 1.0 / 12.0, sxy / n);
    let half_trace = 0.5 * (a + b);
    let disc = (0.25 * (a - b) * (a - b) + c * c).sqrt();
    let l1 = half_trace + disc;
    let l2 = (half_trace - disc).max(1e-9);
    let elongation = (l1 / l2).sqrt();

    // Perimeter: 4-connected boundary edges times pi/4 (the mean of |cos| + |sin| over
    // orientations is 4/pi, so this is unbiased for randomly oriented outlines).
    let mut edges = 0usize;
    let mut edge_grad = 0.0f64;
    let mut boundary_pixels = 0usize;
    for &(dx, dy) in &pixels {
        let mut open = 0;
        for (ox, oy) in NEIGHBOURS_4 {
            if !mask[idx(dx + ox, dy + oy)] {
                open += 1;
            }
        }
        if open > 0 {
            edges += open;
            boundary_pixels += 1;
            let gx = 0.5 * f64::from(at(dx + 1, dy, hs) - at(dx - 1, dy, hs));
            let gy = 0.5 * f64::from(at(dx, dy + 1, hs) - at(dx, dy - 1, hs));
            edge_grad += (gx * gx + gy * gy).sqrt();
        }
    }
    let perimeter_px = edges as f64 * std::f64::consts::FRAC_PI_4;
    let (hull_pixels, hull_perimeter) = hull_of_rows(&pixels);

    // Ring: pixels outside the region within ring_px (chamfer distance) of it, found in
    // the region's bounding box grown by the ring width.
    let ring_rect = Rect::around(&pixels, params.ring_px as isize + 1, m);
    let ring_dist = chamfer_in(&mask, side, m, &ring_rect, true);
    let ring_limit = 3 * params.ring_px as u32;
    let in_ring = |dx: isize, dy: isize| -> bool {
        ring_rect
            .index(dx, dy)
            .is_some_and(|i| ring_dist[i] > 0 && ring_dist[i] <= ring_limit)
    };
    let (mut rh, mut re, mut rn) = (0.0f64, 0.0f64, 0usize);
    for dy in ring_rect.y0..=ring_rect.y1 {
        for dx in ring_rect.x0..=ring_rect.x1 {
            if in_ring(dx, dy) {
                rh += f64::from(at(dx, dy, planes.h));
                re += f64::from(at(dx, dy, planes.e));
                rn += 1;
            }
        }
    }
    let rn = rn.max(1) as f64;

    // Outer region at a lower level: how far the object extends beyond its dark part
    // (a chromatin clump inside an interphase nucleus grows into the nucleus; a mitotic
    // figure in clear cytoplasm hardly grows).
    let outer_level = bg + params.outer_fraction * (peak - bg);
    let (outer_mask, outer_pixels, _) = if outer_level < threshold {
        grow(outer_level)
    } else {
        (mask.clone(), pixels.clone(), clipped)
    };
    // Rim of the outer region (within rim_px of its edge) against its interior: an
    // interphase nucleus has a membrane, darker than its inside; a figure has none.
    let rim_rect = Rect::around(&outer_pixels, 1, m);
    let inside_dist = chamfer_in(&outer_mask, side, m, &rim_rect, false);
    let rim_limit = 3 * params.rim_px as u32;
    let (mut rim_sum, mut rim_n, mut in_sum, mut in_n) = (0.0f64, 0usize, 0.0f64, 0usize);
    let mut outer_sorted = outer_pixels.clone();
    outer_sorted.sort_unstable_by_key(|&(dx, dy)| (dy, dx));
    for &(dx, dy) in &outer_sorted {
        let v = f64::from(at(dx, dy, planes.h));
        let d = rim_rect.index(dx, dy).map_or(0, |i| inside_dist[i]);
        if d <= rim_limit {
            rim_sum += v;
            rim_n += 1;
        } else {
            in_sum += v;
            in_n += 1;
        }
    }
    let membrane_ratio = if rim_n > 0 && in_n > 0 && in_sum > 0.0 {
        (rim_sum / rim_n as f64) / (in_sum / in_n as f64)
    } else {
        1.0
    };
    // Granularity: mean |Laplacian| of the smoothed H over the region, per unit of H.
    let mut lap_sum = 0.0f64;
    for &(dx, dy) in &pixels {
        let c = at(dx, dy, hs);
        let lap = at(dx + 1, dy, hs) + at(dx - 1, dy, hs) + at(dx, dy + 1, hs) + at(dx, dy - 1, hs)
            - 4.0 * c;
        lap_sum += f64::from(lap.abs());
    }
    let granularity = if mean_h > 1e-6 {
        lap_sum / n / mean_h
    } else {
        0.0
    };

    // Context: the disc of context_radius around the seed, minus region and ring,
    // sampled every other pixel in x and y.
    let cr = params.context_radius_px as isize;
    let mut context: Vec<f32> = Vec::with_capacity((cr as usize + 1).pow(2));
    for dy in (-cr..=cr).step_by(2) {
        for dx in (-cr..=cr).step_by(2) {
            if dx * dx + dy * dy > cr * cr {
                continue;
            }
            let local = dx.abs() <= m && dy.abs() <= m;
            if local && (mask[idx(dx, dy)] || in_ring(dx, dy)) {
                continue;
            }
            context.push(at(dx, dy, hs));
        }
    }
    let darker = context.iter().filter(|&&v| f64::from(v) >= mean_h).count();
    let context_darker_fraction = darker as f64 / context.len().max(1) as f64;
    let mut region_h: Vec<f32> = pixels
        .iter()
        .map(|&(dx, dy)| at(dx, dy, planes.h))
        .collect();
    let core_n = params.core_px.clamp(1, region_h.len());
    region_h.select_nth_unstable_by(core_n - 1, |a, b| b.total_cmp(a));
    let core_h_od = region_h[..core_n]
        .iter()
        .map(|&v| f64::from(v))
        .sum::<f64>()
        / core_n as f64;
    let (context_p50, context_p90) = if context.is_empty() {
        (0.0, 0.0)
    } else {
        let i90 = (context.len() * 9) / 10;
        let p90 = *context.select_nth_unstable_by(i90, f32::total_cmp).1;
        // After the first selection everything before i90 is <= p90.
        let i50 = context.len() / 2;
        let p50 = if i50 < i90 {
            *context[..i90].select_nth_unstable_by(i50, f32::total_cmp).1
        } else {
            p90
        };
        (f64::from(p50), f64::from(p90))
    };

    Some(RegionMeasure {
        peak_dx: pdx,
        peak_dy: pdy,
        centroid_dx: cx,
        centroid_dy: cy,
        area_px: n,
        mean_h_od: mean_h,
        peak_h_od: f64::from(peak),
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
        edge_gradient_od_per_px: edge_grad / boundary_pixels.max(1) as f64,
        clipped,
        outer_area_ratio: outer_pixels.len() as f64 / n,
        membrane_ratio,
        granularity,
    })
}

const NEIGHBOURS_8: [(isize, isize); 8] = [
    (-1, -1),
    (0, -1),
    (1, -1),
    (-1, 0),
    (1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];
const NEIGHBOURS_4: [(isize, isize); 4] = [(0, -1), (-1, 0), (1, 0), (0, 1)];

/// A rectangle of window offsets, inclusive.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x0: isize,
    y0: isize,
    x1: isize,
    y1: isize,
}

impl Rect {
    /// The bounding box of `pixels` grown by `margin`, clamped to `[-m, m]`.
    fn around(pixels: &[(isize, isize)], margin: isize, m: isize) -> Rect {
        let mut r = Rect {
            x0: isize::MAX,
            y0: isize::MAX,
            x1: isize::MIN,
            y1: isize::MIN,
        };
        for &(x, y) in pixels {
            r.x0 = r.x0.min(x);
            r.y0 = r.y0.min(y);
            r.x1 = r.x1.max(x);
            r.y1 = r.y1.max(y);
        }
        Rect {
            x0: (r.x0 - margin).max(-m),
            y0: (r.y0 - margin).max(-m),
            x1: (r.x1 + margin).min(m),
            y1: (r.y1 + margin).min(m),
        }
    }

    fn width(&self) -> usize {
        (self.x1 - self.x0 + 1).max(0) as usize
    }

    fn height(&self) -> usize {
        (self.y1 - self.y0 + 1).max(0) as usize
    }

    /// Row-major index of an offset inside the rectangle.
    fn index(&self, x: isize, y: isize) -> Option<usize> {
        if x < self.x0 || x > self.x1 || y < self.y0 || y > self.y1 {
            return None;
        }
        Some((y - self.y0) as usize * self.width() + (x - self.x0) as usize)
    }
}

/// 3-4 chamfer distance (3 per pixel step, 4 per diagonal step; Borgefors 1986,
/// doi:10.1016/S0734-189X(86)80047-0) of every pixel of `rect` to the nearest pixel whose
/// value in the window mask (`side x side`, offsets `-m..=m`) is `target`, computed
/// within `rect` only. Returned row-major over `rect`.
fn chamfer_in(mask: &[bool], side: usize, m: isize, rect: &Rect, target: bool) -> Vec<u32> {
    const INF: u32 = u32::MAX / 4;
    let (w, h) = (rect.width(), rect.height());
    let mut d = vec![INF; w * h];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (rect.x0 + x as isize, rect.y0 + y as isize);
            let i = (dy + m) as usize * side + (dx + m) as usize;
            if mask[i] == target {
                d[y * w + x] = 0;
            }
        }
    }
    let at = |x: usize, y: usize| y * w + x;
    for y in 0..h {
        for x in 0..w {
            let mut v = d[at(x, y)];
            if x > 0 {
                v = v.min(d[at(x - 1, y)] + 3);
            }
            if y > 0 {
                v = v.min(d[at(x, y - 1)] + 3);
                if x > 0 {
                    v = v.min(d[at(x - 1, y - 1)] + 4);
                }
                if x + 1 < w {
                    v = v.min(d[at(x + 1, y - 1)] + 4);
                }
            }
            d[at(x, y)] = v;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let mut v = d[at(x, y)];
            if x + 1 < w {
                v = v.min(d[at(x + 1, y)] + 3);
            }
            if y + 1 < h {
                v = v.min(d[at(x, y + 1)] + 3);
                if x + 1 < w {
                    v = v.min(d[at(x + 1, y + 1)] + 4);
                }
                if x > 0 {
                    v = v.min(d[at(x - 1, y + 1)] + 4);
                }
            }
            d[at(x, y)] = v;
        }
    }
    d
}

/// Convex hull of a pixel set given sorted by (row, col): the number of pixels (lattice
/// points) inside or on the hull of the pixel centres, which equals the pixel count for a
/// digitally convex set (like scikit-image's `convex_area`), and the perimeter of that
/// hull dilated by half a pixel (Steiner: centre-hull perimeter + pi), comparable with the
/// outline of the pixel squares.
pub fn hull_of_rows(pixels: &[(isize, isize)]) -> (f64, f64) {
    let mut points: Vec<(i64, i64)> = Vec::new();
    let mut i = 0;
    while i < pixels.len() {
        let y = pixels[i].1;
        let mut j = i;
        while j < pixels.len() && pixels[j].1 == y {
            j += 1;
        }
        points.push((pixels[i].0 as i64, y as i64));
        points.push((pixels[j - 1].0 as i64, y as i64));
        i = j;
    }
    let hull = convex_hull(points);
    hull_lattice_count_and_perimeter(&hull)
}

/// Andrew's monotone chain; returns the hull counter-clockwise without repeats.
fn convex_hull(mut pts: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    pts.sort_unstable();
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut lower: Vec<(i64, i64)> = Vec::new();
    for &p in &pts {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0 {
            lower.pop();
        }
        lower.push(p);
    }
    let mut upper: Vec<(i64, i64)> = Vec::new();
    for &p in pts.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// Lattice points in a closed convex lattice polygon by Pick's theorem
/// (`A = I + B/2 - 1`, so `I + B = A + B/2 + 1`), and its perimeter plus pi.
fn hull_lattice_count_and_perimeter(poly: &[(i64, i64)]) -> (f64, f64) {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    if poly.is_empty() {
        return (0.0, 0.0);
    }
    let mut twice_area = 0i64;
    let mut boundary = 0i64;
    let mut perimeter = 0.0;
    for i in 0..poly.len() {
        let a = poly[i];
        let b = poly[(i + 1) % poly.len()];
        twice_area += a.0 * b.1 - b.0 * a.1;
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        boundary += gcd(dx.abs(), dy.abs());
        perimeter += ((dx * dx + dy * dy) as f64).sqrt();
    }
    let count = (twice_area.abs() + boundary) as f64 / 2.0 + 1.0;
    (count, perimeter + std::f64::consts::PI)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn square_hull_is_exact() {
        let pixels: Vec<(isize, isize)> =
            (0..4).flat_map(|y| (0..5).map(move |x| (x, y))).collect();
        let (area, perimeter) = hull_of_rows(&pixels);
        assert_eq!(area, 20.0);
        assert!((perimeter - (14.0 + std::f64::consts::PI)).abs() < 1e-12);
        // A single pixel and a line.
        assert_eq!(hull_of_rows(&[(3, 3)]).0, 1.0);
        assert_eq!(hull_of_rows(&[(0, 0), (1, 1), (2, 2)]).0, 3.0);
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
}
