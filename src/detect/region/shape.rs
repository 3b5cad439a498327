//! Shape measures of a pixel set: the inertia ellipse (elongation) and, with the convex
//! hull, solidity and irregularity.
//!
//! May use: `hull`.

use super::hull::{hull_of_points, HullScratch};

/// Eigenvalues (larger, smaller; the smaller at least 1e-9) of the second-moment matrix
/// of `pixels` about `(cx, cy)`, `n` their count, each pixel a unit square that adds its
/// own second moment 1/12 on each axis: the inertia ellipse's squared semi-axes over 4.
pub(super) fn inertia_eigenvalues(
    pixels: &[(isize, isize)],
    cx: f64,
    cy: f64,
    n: f64,
) -> (f64, f64) {
    let (mut sxx, mut syy, mut sxy) = (0.0f64, 0.0f64, 0.0f64);
    for &(dx, dy) in pixels {
        let (ux, uy) = (dx as f64 - cx, dy as f64 - cy);
        sxx += ux * ux;
        syy += uy * uy;
        sxy += ux * uy;
    }
    let (a, b, c) = (sxx / n + 1.0 / 12.0, syy / n + 1.0 / 12.0, sxy / n);
    let half_trace = 0.5 * (a + b);
    let disc = (0.25 * (a - b) * (a - b) + c * c).sqrt();
    (half_trace + disc, (half_trace - disc).max(1e-9))
}

/// Shape measures of a pixel set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Shape {
    /// Major over minor axis of the inertia ellipse (>= 1).
    pub(super) elongation: f64,
    /// Pixel count over the pixel count of the convex hull.
    pub(super) solidity: f64,
    /// Perimeter (4-connected edges times pi/4) over convex-hull perimeter.
    pub(super) irregularity: f64,
}

/// Shape of `pixels` (sorted by row, then column; `points` their [`row_end_points`])
/// with `edges` 4-connected edges to the outside.
///
/// [`row_end_points`]: super::hull::row_end_points
pub(super) fn shape_of(
    pixels: &[(isize, isize)],
    points: &[(i64, i64)],
    edges: usize,
    hull: &mut HullScratch,
) -> Shape {
    let n = pixels.len().max(1) as f64;
    let (mut sx, mut sy) = (0.0f64, 0.0f64);
    for &(dx, dy) in pixels {
        sx += dx as f64;
        sy += dy as f64;
    }
    let (cx, cy) = (sx / n, sy / n);
    let (l1, l2) = inertia_eigenvalues(pixels, cx, cy, n);
    let (hull_pixels, hull_perimeter) = hull_of_points(points, hull);
    let perimeter = edges as f64 * std::f64::consts::FRAC_PI_4;
    Shape {
        elongation: (l1 / l2).sqrt(),
        solidity: if hull_pixels > 0.0 {
            (n / hull_pixels).min(1.0)
        } else {
            1.0
        },
        irregularity: if hull_perimeter > 0.0 {
            perimeter / hull_perimeter
        } else {
            1.0
        },
    }
}
