//! The convex hull of a pixel set, from its rows' end points (Andrew's monotone chain):
//! the lattice points inside or on it (Pick's theorem) and its perimeter, for the
//! solidity and the irregularity of regions.
//!
//! May use: nothing but `std`.

/// Convex hull of a pixel set given sorted by (row, col): the number of pixels (lattice
/// points) inside or on the hull of the pixel centres, which equals the pixel count for a
/// digitally convex set (like scikit-image's `convex_area`), and the perimeter of that
/// hull dilated by half a pixel (Steiner: centre-hull perimeter + pi), comparable with the
/// outline of the pixel squares.
#[cfg(test)]
pub fn hull_of_rows(pixels: &[(isize, isize)]) -> (f64, f64) {
    hull_with(pixels, &mut HullScratch::default())
}

/// Buffers of [`hull_of_points`].
#[derive(Debug, Default)]
pub(super) struct HullScratch {
    lower: Vec<(i64, i64)>,
    upper: Vec<(i64, i64)>,
}

/// [`hull_of_rows`] with reused buffers.
#[cfg(test)]
fn hull_with(pixels: &[(isize, isize)], s: &mut HullScratch) -> (f64, f64) {
    let mut points = Vec::new();
    row_end_points(pixels, &mut points);
    hull_of_points(&points, s)
}

/// Each row's first and last pixel of a pixel set sorted by (row, column): distinct
/// points sorted by (row, column).
pub(super) fn row_end_points(pixels: &[(isize, isize)], points: &mut Vec<(i64, i64)>) {
    points.clear();
    let mut i = 0;
    while i < pixels.len() {
        let y = pixels[i].1;
        let mut j = i;
        while j < pixels.len() && pixels[j].1 == y {
            j += 1;
        }
        points.push((pixels[i].0 as i64, y as i64));
        if j - 1 > i {
            points.push((pixels[j - 1].0 as i64, y as i64));
        }
        i = j;
    }
}

/// [`row_end_points`] of a row-mask set (row `i` is `dy = i - m - 1`, bit `dx + m`).
pub(super) fn row_mask_end_points(rows: &[u64], m: isize, points: &mut Vec<(i64, i64)>) {
    points.clear();
    for (y, &row) in rows.iter().enumerate() {
        if row != 0 {
            let dy = (y as isize - m - 1) as i64;
            let (first, last) = (row.trailing_zeros(), 63 - row.leading_zeros());
            points.push((i64::from(first) - m as i64, dy));
            if last > first {
                points.push((i64::from(last) - m as i64, dy));
            }
        }
    }
}

/// `hull_of_rows` (the tests' entry) from the rows' end points ([`row_end_points`]). The
/// hull's vertices are found by Andrew's monotone chain on the points transposed to (row,
/// column), which come sorted; the vertex list is then turned into the counter-clockwise
/// order from the smallest (column, row) that Andrew's chain on (column, row) gives, so
/// that the perimeter is summed in the same order.
pub(super) fn hull_of_points(points: &[(i64, i64)], s: &mut HullScratch) -> (f64, f64) {
    let (lower, upper) = (&mut s.lower, &mut s.upper);
    lower.clear();
    if points.len() < 3 {
        lower.extend_from_slice(points);
        lower.sort_unstable();
        return hull_lattice_count_and_perimeter(lower);
    }
    // Cross product of the transposed points (the opposite sign of the untransposed).
    let cross_t = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| {
        (a.1 - o.1) * (b.0 - o.0) - (a.0 - o.0) * (b.1 - o.1)
    };
    for &p in points.iter() {
        while lower.len() >= 2 && cross_t(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0 {
            lower.pop();
        }
        lower.push(p);
    }
    upper.clear();
    for &p in points.iter().rev() {
        while upper.len() >= 2 && cross_t(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend_from_slice(upper);
    // Opposite turn, then start at the smallest (column, row).
    lower.reverse();
    let first = lower
        .iter()
        .enumerate()
        .min_by_key(|&(_, &p)| p)
        .map_or(0, |(i, _)| i);
    lower.rotate_left(first);
    hull_lattice_count_and_perimeter(lower)
}

/// Lattice points in a closed convex lattice polygon by Pick's theorem
/// (`A = I + B/2 - 1`, so `I + B = A + B/2 + 1`), and its perimeter plus pi.
fn hull_lattice_count_and_perimeter(poly: &[(i64, i64)]) -> (f64, f64) {
    /// Greatest common divisor of two non-negative numbers (Stein's binary algorithm:
    /// no divisions).
    fn gcd(a: i64, b: i64) -> i64 {
        let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
        if a == 0 || b == 0 {
            return (a | b) as i64;
        }
        let shift = (a | b).trailing_zeros();
        a >>= a.trailing_zeros();
        loop {
            b >>= b.trailing_zeros();
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            b -= a;
            if b == 0 {
                return (a << shift) as i64;
            }
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

    /// Andrew's monotone chain on (column, row); the hull counter-clockwise without
    /// repeats (the reference for `hull_with`).
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
            while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0
            {
                lower.pop();
            }
            lower.push(p);
        }
        let mut upper: Vec<(i64, i64)> = Vec::new();
        for &p in pts.iter().rev() {
            while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0
            {
                upper.pop();
            }
            upper.push(p);
        }
        lower.pop();
        upper.pop();
        lower.extend(upper);
        lower
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
    fn hull_gcd_is_euclids() {
        fn euclid(a: i64, b: i64) -> i64 {
            if b == 0 {
                a
            } else {
                euclid(b, a % b)
            }
        }
        // The gcd is private to the lattice count; check it through polygons whose edge
        // vectors run over a grid of (dx, dy).
        for dx in 0..40i64 {
            for dy in 0..40i64 {
                let poly = [(0, 0), (dx, 0), (dx, dy)];
                let (count, _) = hull_lattice_count_and_perimeter(&poly);
                let boundary = dx + dy + euclid(dx, dy);
                let want = (dx * dy + boundary) as f64 / 2.0 + 1.0;
                assert_eq!(count, want, "({dx}, {dy})");
            }
        }
    }

    #[test]
    fn transposed_chain_gives_andrews_hull_in_the_same_order() {
        let mut state = 0x0123_4567_89AB_CDEFu64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as isize
        };
        let mut scratch = HullScratch::default();
        for case in 0..2000 {
            // Random row extents (single pixels, lines and blobs included).
            let rows = 1 + next(if case % 3 == 0 { 3 } else { 12 });
            let mut pixels = Vec::new();
            for y in 0..rows {
                let x0 = next(9) - 4;
                let len = if case % 5 == 0 { 1 } else { 1 + next(10) };
                pixels.extend((x0..x0 + len).map(|x| (x, y - 3)));
            }
            let mut points: Vec<(i64, i64)> = Vec::new();
            for &(x, y) in &pixels {
                points.push((x as i64, y as i64));
            }
            let want = hull_lattice_count_and_perimeter(&convex_hull(points));
            let got = hull_with(&pixels, &mut scratch);
            assert_eq!(
                (got.0.to_bits(), got.1.to_bits()),
                (want.0.to_bits(), want.1.to_bits()),
                "case {case}: {pixels:?}"
            );
        }
    }
}
