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
//!
//! # Implementation (speed without changing a bit)
//! Every seed's peak is found first ([`find_peak`]); only the seeds that survive the
//! de-duplication are measured, and each only as far as the caller's decisions need
//! ([`Gates`]). The planes are read in place around the seed (copied, zero-padded, only
//! near their edges); buffers are reused across seeds ([`Scratch`]). Masks are one `u64`
//! per window row when the window fits: the flood fill fills whole runs of candidate
//! pixels row by row, and the ring and rim (chamfer distances up to a limit) are
//! dilations by the 3-4 chamfer ball, which equal the two-pass transform exactly; wider
//! windows use byte masks and the two-pass transform (tests compare both). Every sum is
//! still taken over the same pixels in raster order; order statistics, being values, are
//! taken by any selection.
//!
//! # Rooms
//! Each file holds one concern and may use only the files listed after it (and this
//! one's types), so the files depend one way:
//! - `measure`: the two steps the caller takes, [`find_peak`] and [`measure_with`], and
//!   their reusable buffers ([`Scratch`]);
//! - `masks`: the region, its ring and its outer region, filled in stages in one of two
//!   representations: `row_masks` (one `u64` per window row) or `byte_masks` (any window
//!   size), which use only the rooms below;
//! - `sets`: the levels the masks start from and the pixel sets they fill;
//! - `window`: the window around a seed: its geometry and the planes read in it;
//! - `shape`: the inertia ellipse and the shape measures of a pixel set;
//! - `hull`: the convex hull of a pixel set, its lattice points and perimeter;
//! - `order`: order statistics exact to the bit (the core mean, total-order keys).
//!
//! This file is the door: the types that pass through it (parameters, planes, gates,
//! peaks, outcomes and measurements) and the re-exports of the steps. It may use
//! [`Plane`] only.

mod byte_masks;
mod hull;
mod masks;
mod measure;
mod order;
mod row_masks;
mod sets;
mod shape;
mod window;

pub use measure::{find_peak, measure_with, Scratch};

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
    /// Pixel count of the outer region.
    pub outer_area_px: f64,
    /// Sum over the outer region of raw H minus the local background (OD px²): the
    /// integrated stain, a proxy of the DNA content.
    pub outer_excess_od_px: f64,
    /// Elongation of the outer region (as [`RegionMeasure::elongation`]).
    pub outer_elongation: f64,
    /// Solidity of the outer region.
    pub outer_solidity: f64,
    /// Perimeter over convex-hull perimeter of the outer region.
    pub outer_irregularity: f64,
    /// Mean raw H of the outer region's rim over that of its interior (1 when it has no
    /// interior).
    pub membrane_ratio: f64,
    /// Mean |4-neighbour Laplacian| of smoothed H over the region divided by its mean H.
    pub granularity: f64,
}

/// A seed's haematoxylin peak and local background ([`find_peak`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Column of the peak minus the seed's column (px).
    pub dx: isize,
    /// Row of the peak minus the seed's row (px).
    pub dy: isize,
    /// Smoothed H OD at the peak.
    value: f32,
    /// Local background (25th percentile of the smoothed H in the disc).
    background: f32,
}

/// Decisions taken on a region as soon as what they need is measured, so that regions
/// that are dropped, or kept only in the nucleus statistics, are not measured further.
/// Each function says `true` to stop.
pub struct Gates<'a> {
    /// Drop the region, given its area (px).
    pub drop_area: &'a dyn Fn(f64) -> bool,
    /// Not a candidate, given its mean H (OD).
    pub not_candidate_by_mean: &'a dyn Fn(f64) -> bool,
    /// Not a candidate, given its mean H and the 90th percentile of its context (OD).
    pub not_candidate_by_context: &'a dyn Fn(f64, f64) -> bool,
}

#[cfg(test)]
impl Gates<'_> {
    /// Measures every region fully.
    const ALL: Gates<'static> = Gates {
        drop_area: &|_| false,
        not_candidate_by_mean: &|_| false,
        not_candidate_by_context: &|_, _| false,
    };
}

/// What [`measure_with`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stopped by [`Gates::drop_area`].
    Dropped,
    /// Stopped by one of the candidate gates: counted in the nucleus statistics only.
    Nucleus(Basics),
    /// Fully measured.
    Candidate(Box<RegionMeasure>),
}

/// The first measurements of a region: those of the nucleus statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basics {
    /// Centroid column minus the seed's column (px, fractional).
    pub centroid_dx: f64,
    /// Centroid row minus the seed's row (px).
    pub centroid_dy: f64,
    /// Mean raw H OD over the region.
    pub mean_h_od: f64,
    /// Peak of the smoothed H OD.
    pub peak_h_od: f64,
}
