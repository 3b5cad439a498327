//! What the mask code fills for the measurements: where the region starts and its
//! levels ([`Levels`]), and its pixel sets in raster order ([`Sets`]).
//!
//! May use: nothing (plain data).

/// The pixel sets of one region, every list in raster order (row, then column).
#[derive(Debug, Default)]
pub(super) struct Sets {
    /// The region.
    pub(super) inner: Vec<(isize, isize)>,
    /// Its rows' end points ([`row_end_points`]).
    ///
    /// [`row_end_points`]: super::hull::row_end_points
    pub(super) inner_points: Vec<(i64, i64)>,
    /// Whether the region touches the edge of its disc.
    pub(super) clipped: bool,
    /// Number of 4-connected edges between the region and the rest.
    pub(super) edges: usize,
    /// Region pixels with at least one such edge.
    pub(super) boundary: Vec<(isize, isize)>,
    /// Ring pixels.
    pub(super) ring: Vec<(isize, isize)>,
    /// The outer region.
    pub(super) outer: Vec<(isize, isize)>,
    /// Its rows' end points.
    pub(super) outer_points: Vec<(i64, i64)>,
    /// Its 4-connected edges.
    pub(super) outer_edges: usize,
    /// Per outer pixel: within the rim width of the outer region's edge.
    pub(super) outer_rim: Vec<bool>,
}

/// Where the regions start and their levels.
pub(super) struct Levels {
    /// The haematoxylin peak (offsets from the seed).
    pub(super) peak: (isize, isize),
    /// Level of the region.
    pub(super) threshold: f32,
    /// Level of the outer region when below `threshold` (else the outer region is the
    /// region).
    pub(super) outer: Option<f32>,
}
