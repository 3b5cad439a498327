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

/// Bound on the width of a window (`2 m + 1` cells, at most 63) whose masks are kept as
/// one `u64` per row.
const BIT_ROW_CELLS: isize = 63;
/// Rows of such a window with an empty row above and below.
const MAX_BIT_ROWS: usize = BIT_ROW_CELLS as usize + 2;

/// The window geometry of one set of [`RegionParams`]: window cell `(dx, dy)` (offsets
/// from the seed, `-half..=half`) is at index `(dy + half) * side + dx + half` of the
/// byte masks and of the planes' copies.
#[derive(Debug, Clone, PartialEq)]
struct Geometry {
    /// Disc radius (px).
    r: isize,
    /// Half-side of the window of the region, its ring and its rim (px): `r + ring + 1`.
    m: isize,
    /// Half-side of the window read from the planes: covers `m`, the context disc and
    /// the peak search, plus one pixel for neighbours.
    half: isize,
    /// `2 half + 1`.
    side: usize,
    /// Cell lies in the region disc.
    disc: Vec<bool>,
    /// Cell has an 8-neighbour outside the region disc.
    disc_edge: Vec<bool>,
    /// The peak search disc, in raster order.
    peak_offsets: Vec<(isize, isize)>,
    /// The background samples: every other pixel of the region disc, raster order.
    background_offsets: Vec<(isize, isize)>,
    /// The context samples (every other pixel of the context disc) within `m` of the seed
    /// in x and y (they may lie in the region or its ring)...
    context_near: Vec<(isize, isize)>,
    /// ... and the others.
    context_far: Vec<(isize, isize)>,
    /// Row masks (bit `dx + m` of entry `dy + m + 1`, with an empty row above and below)
    /// when the window fits [`BIT_ROW_CELLS`] and the peak search stays in the disc.
    bit_rows: Option<BitGeometry>,
}

/// Row-mask versions of the disc, for [`bit_sets`].
#[derive(Debug, Clone, PartialEq)]
struct BitGeometry {
    /// Cells in the disc.
    disc: Vec<u64>,
    /// Cells with an 8-neighbour outside the disc.
    disc_edge: Vec<u64>,
    /// The 3-4 chamfer ball of the ring: `(dy, w)`, cells `|dx| <= w` of row `dy`.
    ring_ball: Vec<(isize, u32)>,
    /// The chamfer ball of the rim.
    rim_ball: Vec<(isize, u32)>,
}

/// The rows of the 3-4 chamfer ball `{(dx, dy): 3 max(|dx|, |dy|) + min(|dx|, |dy|) <=
/// limit}` (the 3-4 chamfer norm; Borgefors 1986) as `(dy, half-width)`.
fn chamfer_ball(limit: i64) -> Vec<(isize, u32)> {
    let norm = |x: i64, y: i64| 3 * x.max(y) + x.min(y);
    let reach = limit.max(0) / 3;
    (-reach..=reach)
        .filter_map(|dy| {
            let w = (0..=reach)
                .take_while(|&x| norm(x, dy.abs()) <= limit)
                .last()?;
            Some((dy as isize, w as u32))
        })
        .collect()
}

/// Offsets of a disc of radius `radius` sampled every `step` pixels from the centre, in
/// raster order.
fn disc_offsets(radius: isize, step: usize) -> Vec<(isize, isize)> {
    (-radius..=radius)
        .step_by(step)
        .flat_map(|dy| (-radius..=radius).step_by(step).map(move |dx| (dx, dy)))
        .filter(|&(dx, dy)| dx * dx + dy * dy <= radius * radius)
        .collect()
}

impl Geometry {
    fn new(params: &RegionParams) -> Geometry {
        let r = params.window_radius_px as isize;
        let m = r + params.ring_px as isize + 1;
        let cr = params.context_radius_px as isize;
        let pr = params.peak_radius_px as isize;
        let half = m.max(cr).max(pr) + 1;
        let side = (2 * half + 1) as usize;
        let in_disc = |dx: isize, dy: isize| dx * dx + dy * dy <= r * r;
        let near_outside = |dx: isize, dy: isize| {
            NEIGHBOURS_8
                .iter()
                .any(|&(ox, oy)| !in_disc(dx + ox, dy + oy))
        };
        let mut disc = vec![false; side * side];
        let mut disc_edge = vec![false; side * side];
        for dy in -half..=half {
            for dx in -half..=half {
                let i = ((dy + half) as usize) * side + (dx + half) as usize;
                disc[i] = in_disc(dx, dy);
                disc_edge[i] = near_outside(dx, dy);
            }
        }
        let (context_near, context_far) = disc_offsets(cr, 2)
            .into_iter()
            .partition(|&(dx, dy)| dx.abs() <= m && dy.abs() <= m);
        let bit_rows = (2 * m < BIT_ROW_CELLS && pr <= r).then(|| {
            let rows = |f: &dyn Fn(isize, isize) -> bool| -> Vec<u64> {
                (-m - 1..=m + 1)
                    .map(|dy| {
                        (-m..=m)
                            .filter(|&dx| dy.abs() <= m && f(dx, dy))
                            .fold(0u64, |bits, dx| bits | 1 << (dx + m))
                    })
                    .collect()
            };
            BitGeometry {
                disc: rows(&in_disc),
                disc_edge: rows(&near_outside),
                ring_ball: chamfer_ball(i64::from(chamfer_limit(params.ring_px))),
                rim_ball: chamfer_ball(i64::from(chamfer_limit(params.rim_px))),
            }
        });
        Geometry {
            r,
            m,
            half,
            side,
            disc,
            disc_edge,
            peak_offsets: disc_offsets(pr, 1),
            background_offsets: disc_offsets(r, 2),
            context_near,
            context_far,
            bit_rows,
        }
    }

    #[inline(always)]
    fn index(&self, dx: isize, dy: isize) -> usize {
        ((dy + self.half) as usize) * self.side + (dx + self.half) as usize
    }
}

/// Reusable buffers of [`measure_with`]: measuring thousands of seeds per field then
/// allocates nothing per seed. The contents never carry over from one seed to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    geometry: Option<(RegionParams, Geometry)>,
    /// Zero-padded copies of the planes around seeds near the planes' edges.
    copies: [Vec<f32>; 4],
    /// Byte masks: 0 outside, [`INNER`] in the region, [`OUTER`] in the outer region only.
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

/// The pixel sets of one region, every list in raster order (row, then column).
#[derive(Debug, Default)]
struct Sets {
    /// The region.
    inner: Vec<(isize, isize)>,
    /// Its rows' end points ([`row_end_points`]).
    inner_points: Vec<(i64, i64)>,
    /// Whether the region touches the edge of its disc.
    clipped: bool,
    /// Number of 4-connected edges between the region and the rest.
    edges: usize,
    /// Region pixels with at least one such edge.
    boundary: Vec<(isize, isize)>,
    /// Ring pixels.
    ring: Vec<(isize, isize)>,
    /// The outer region.
    outer: Vec<(isize, isize)>,
    /// Its rows' end points.
    outer_points: Vec<(i64, i64)>,
    /// Its 4-connected edges.
    outer_edges: usize,
    /// Per outer pixel: within the rim width of the outer region's edge.
    outer_rim: Vec<bool>,
}

const INNER: u8 = 1;
const OUTER: u8 = 2;

/// A key whose unsigned order is [`f32::total_cmp`]'s order of the values.
#[inline(always)]
fn order_key(v: f32) -> u32 {
    let b = v.to_bits();
    b ^ (((b as i32 >> 31) as u32) | 0x8000_0000)
}

/// The value of an [`order_key`].
#[inline(always)]
fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 {
        k ^ 0x8000_0000
    } else {
        !k
    })
}

/// The seed's neighbourhood in the four planes, indexed by offsets from the seed: the
/// planes themselves when the window lies inside them, else zero-padded copies.
struct Window<'a> {
    hs: &'a [f32],
    h: &'a [f32],
    e: &'a [f32],
    residual: &'a [f32],
    stride: isize,
    centre: isize,
}

impl<'a> Window<'a> {
    fn new(
        planes: &RegionPlanes<'a>,
        col: usize,
        row: usize,
        geo: &Geometry,
        copies: &'a mut [Vec<f32>; 4],
    ) -> Window<'a> {
        let half = geo.half as usize;
        let (w, h) = (planes.h.width, planes.h.height);
        if col >= half && row >= half && col + half < w && row + half < h {
            return Window {
                hs: &planes.h_smooth.data,
                h: &planes.h.data,
                e: &planes.e.data,
                residual: &planes.residual.data,
                stride: w as isize,
                centre: (row * w + col) as isize,
            };
        }
        let sources = [planes.h_smooth, planes.h, planes.e, planes.residual];
        for (plane, copy) in sources.iter().zip(copies.iter_mut()) {
            copy_window(plane, col, row, geo.half, copy);
        }
        let [hs, hc, ec, rc] = copies;
        Window {
            hs,
            h: hc,
            e: ec,
            residual: rc,
            stride: geo.side as isize,
            centre: geo.index(0, 0) as isize,
        }
    }

    /// Index of offset `(dx, dy)` in the four slices.
    #[inline(always)]
    fn at(&self, dx: isize, dy: isize) -> usize {
        (self.centre + dy * self.stride + dx) as usize
    }
}

/// Copies the `side x side` window of `plane` centred on `(col, row)` into `out`, 0 outside
/// the plane.
fn copy_window(plane: &Plane, col: usize, row: usize, half: isize, out: &mut Vec<f32>) {
    let side = (2 * half + 1) as usize;
    out.resize(side * side, 0.0);
    let x0 = col as isize - half;
    let y0 = row as isize - half;
    let (w, h) = (plane.width as isize, plane.height as isize);
    let lo = x0.clamp(0, w);
    let hi = (x0 + side as isize).clamp(0, w);
    for (wy, dst) in out.chunks_exact_mut(side).enumerate() {
        let py = y0 + wy as isize;
        if py < 0 || py >= h || lo >= hi {
            dst.fill(0.0);
            continue;
        }
        let src = plane.row(py as usize);
        let a = (lo - x0) as usize;
        let b = (hi - x0) as usize;
        dst[..a].fill(0.0);
        dst[a..b].copy_from_slice(&src[lo as usize..hi as usize]);
        dst[b..].fill(0.0);
    }
}

/// Inclusive bounding box of window cells.
#[derive(Debug, Clone, Copy)]
struct BBox {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl BBox {
    fn empty() -> BBox {
        BBox {
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
        }
    }

    #[inline(always)]
    fn add(&mut self, x: usize, y: usize) {
        self.x0 = self.x0.min(x);
        self.y0 = self.y0.min(y);
        self.x1 = self.x1.max(x);
        self.y1 = self.y1.max(y);
    }
}

/// 8-connected flood fill in the window: from the cells on `stack` (already labelled),
/// labels with `label` every unlabelled disc cell whose smoothed H is at least `level`
/// and that touches a labelled one. Returns the bounding box of the cells popped.
fn fill(
    geo: &Geometry,
    win: &Window,
    mask: &mut [u8],
    stack: &mut Vec<(usize, usize)>,
    level: f32,
    label: u8,
) -> BBox {
    let (side, half) = (geo.side, geo.half);
    let mut bbox = BBox::empty();
    while let Some((x, y)) = stack.pop() {
        bbox.add(x, y);
        for (ox, oy) in NEIGHBOURS_8 {
            let (nx, ny) = (x.wrapping_add_signed(ox), y.wrapping_add_signed(oy));
            let j = ny * side + nx;
            if geo.disc[j]
                && mask[j] == 0
                && win.hs[win.at(nx as isize - half, ny as isize - half)] >= level
            {
                mask[j] = label;
                stack.push((nx, ny));
            }
        }
    }
    bbox
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

/// Mean of the `core_px` largest of `values` (all of them if fewer; `h_max` is their
/// maximum): the mean raw H of the region's darkest core.
///
/// Defined as the mean of the first `core_px` values after
/// `select_nth_unstable_by(core_px - 1, descending total order)` of `values` in raster
/// order, summed in that order. When the sum is exact in any order (every value at
/// least the `core_px`-th largest `v_k > 0`, so a multiple of the f32 ulp of `v_k`, and
/// `core_px * max <= v_k * 2^29` keeps every partial sum below 2^53 such ulps), it is
/// taken without reordering `values`; otherwise exactly as defined.
fn core_mean(values: &mut [f32], core_px: usize, h_max: f32, keys: &mut Vec<u32>) -> f64 {
    let core_n = core_px.clamp(1, values.len());
    keys.clear();
    keys.extend(values.iter().map(|&v| order_key(v)));
    let at = keys.len() - core_n;
    let kth = from_order_key(*keys.select_nth_unstable(at).1);
    let exact = kth > 0.0
        && h_max.is_finite()
        && f64::from(h_max) * core_n as f64 <= f64::from(kth) * (1u64 << 29) as f64;
    if exact {
        let (mut sum, mut above) = (0.0f64, 0usize);
        for &v in values.iter().filter(|&&v| v > kth) {
            sum += f64::from(v);
            above += 1;
        }
        for _ in above..core_n {
            sum += f64::from(kth);
        }
        return sum / core_n as f64;
    }
    values.select_nth_unstable_by(core_n - 1, |a, b| b.total_cmp(a));
    values[..core_n].iter().map(|&v| f64::from(v)).sum::<f64>() / core_n as f64
}

/// Where the regions start and their levels.
struct Levels {
    /// The haematoxylin peak (offsets from the seed).
    peak: (isize, isize),
    /// Level of the region.
    threshold: f32,
    /// Level of the outer region when below `threshold` (else the outer region is the
    /// region).
    outer: Option<f32>,
}

/// The region's masks in one of two representations, filled in stages ([`Masks::inner`],
/// [`Masks::ring`], [`Masks::outer`]) into [`Sets`].
enum Masks<'s> {
    /// One `u64` per window row (see [`Geometry::bit_rows`]): run-based flood fill, ring
    /// and rim by dilation with the 3-4 chamfer ball. Exact: within a rectangle holding
    /// both ends, the two-pass 3-4 chamfer transform gives the free-space 3-4 distance
    /// (an optimal path can take its steps in any order, so it splits into a
    /// forward-pass part and a backward-pass part, inside the ends' bounding box).
    Bits {
        bits: &'s BitGeometry,
        cand: &'s mut Vec<u64>,
        cand_outer: &'s mut Vec<u64>,
        inner: &'s mut Vec<u64>,
        outer: &'s mut Vec<u64>,
        /// The ring, then region or ring (for the context).
        ring: &'s mut Vec<u64>,
    },
    /// Byte masks, an explicit flood fill and chamfer distance transforms: any window
    /// size.
    Bytes {
        mask: &'s mut Vec<u8>,
        stack: &'s mut Vec<(usize, usize)>,
        ring_dist: &'s mut Vec<i16>,
        rim_dist: &'s mut Vec<i16>,
        ring_rect: Rect,
        ring_limit: i16,
    },
}

impl Masks<'_> {
    /// The region: the 8-connected component of the disc cells at least the threshold
    /// that holds the peak; whether it is clipped, its edges and boundary pixels.
    fn inner(&mut self, geo: &Geometry, win: &Window, levels: &Levels, sets: &mut Sets) {
        match self {
            Masks::Bits {
                bits,
                cand,
                cand_outer,
                inner,
                ..
            } => bit_inner(geo, bits, win, levels, cand, cand_outer, inner, sets),
            Masks::Bytes { mask, stack, .. } => byte_inner(geo, win, levels, mask, stack, sets),
        }
    }

    /// The ring around the region (after [`Masks::inner`]).
    fn ring(&mut self, geo: &Geometry, params: &RegionParams, sets: &mut Sets) {
        match self {
            Masks::Bits {
                bits, inner, ring, ..
            } => bit_ring(geo, bits, inner, ring, sets),
            Masks::Bytes {
                mask,
                ring_dist,
                ring_rect,
                ring_limit,
                ..
            } => {
                *ring_rect = Rect::around(&sets.inner, params.ring_px as isize + 1, geo.m);
                byte_ring(geo, mask, ring_rect, *ring_limit, ring_dist, sets);
            }
        }
    }

    /// Whether window cell `(dx, dy)`, `|dx|, |dy| <= m`, lies in the region or its ring
    /// (after [`Masks::ring`]).
    #[inline]
    fn excluded(&self, geo: &Geometry, dx: isize, dy: isize) -> bool {
        match self {
            Masks::Bits { ring, .. } => ring[(dy + geo.m + 1) as usize] >> (dx + geo.m) & 1 != 0,
            Masks::Bytes {
                mask,
                ring_dist,
                ring_rect,
                ring_limit,
                ..
            } => {
                mask[geo.index(dx, dy)] == INNER
                    || ring_rect
                        .padded_index(dx, dy)
                        .is_some_and(|i| ring_dist[i] > 0 && ring_dist[i] <= *ring_limit)
            }
        }
    }

    /// The outer region, its edges and its rim (after [`Masks::ring`]).
    fn outer(
        &mut self,
        geo: &Geometry,
        win: &Window,
        levels: &Levels,
        params: &RegionParams,
        sets: &mut Sets,
    ) {
        match self {
            Masks::Bits {
                bits,
                cand_outer,
                inner,
                outer,
                ..
            } => bit_outer(geo, bits, levels, cand_outer, inner, outer, sets),
            Masks::Bytes {
                mask,
                stack,
                rim_dist,
                ..
            } => byte_outer(geo, params, win, levels, mask, stack, rim_dist, sets),
        }
    }
}

/// [`Masks::inner`] with byte masks.
fn byte_inner(
    geo: &Geometry,
    win: &Window,
    levels: &Levels,
    mask: &mut Vec<u8>,
    stack: &mut Vec<(usize, usize)>,
    sets: &mut Sets,
) {
    let (half, side) = (geo.half, geo.side);
    let (pdx, pdy) = levels.peak;
    mask.clear();
    mask.resize(side * side, 0);
    mask[geo.index(pdx, pdy)] = INNER;
    stack.clear();
    stack.push(((pdx + half) as usize, (pdy + half) as usize));
    let inner_box = fill(geo, win, mask, stack, levels.threshold, INNER);
    sets.inner.clear();
    sets.clipped = false;
    for y in inner_box.y0..=inner_box.y1 {
        for x in inner_box.x0..=inner_box.x1 {
            let i = y * side + x;
            if mask[i] == INNER {
                sets.inner.push((x as isize - half, y as isize - half));
                sets.clipped |= geo.disc_edge[i];
            }
        }
    }
    row_end_points(&sets.inner, &mut sets.inner_points);
    sets.edges = 0;
    sets.boundary.clear();
    for &(dx, dy) in &sets.inner {
        let open = open_sides(mask, geo.index(dx, dy), side, |v| v == INNER);
        if open > 0 {
            sets.edges += open;
            sets.boundary.push((dx, dy));
        }
    }
}

/// Number of the 4 neighbours of byte-mask cell `i` that are not `inside`.
fn open_sides(mask: &[u8], i: usize, side: usize, inside: impl Fn(u8) -> bool) -> usize {
    usize::from(!inside(mask[i - side]))
        + usize::from(!inside(mask[i - 1]))
        + usize::from(!inside(mask[i + 1]))
        + usize::from(!inside(mask[i + side]))
}

/// [`Masks::ring`] with byte masks: pixels outside the region within ring_px (chamfer
/// distance) of it, found in the region's bounding box grown by the ring width.
fn byte_ring(
    geo: &Geometry,
    mask: &[u8],
    ring_rect: &Rect,
    ring_limit: i16,
    ring_dist: &mut Vec<i16>,
    sets: &mut Sets,
) {
    chamfer_in(mask, geo, ring_rect, |v| v == INNER, ring_dist);
    sets.ring.clear();
    for dy in ring_rect.y0..=ring_rect.y1 {
        for dx in ring_rect.x0..=ring_rect.x1 {
            let d = ring_rect.padded_index(dx, dy).map_or(0, |i| ring_dist[i]);
            if d > 0 && d <= ring_limit {
                sets.ring.push((dx, dy));
            }
        }
    }
}

/// [`Masks::outer`] with byte masks.
#[allow(clippy::too_many_arguments)]
fn byte_outer(
    geo: &Geometry,
    params: &RegionParams,
    win: &Window,
    levels: &Levels,
    mask: &mut [u8],
    stack: &mut Vec<(usize, usize)>,
    rim_dist: &mut Vec<i16>,
    sets: &mut Sets,
) {
    let (m, half, side) = (geo.m, geo.half, geo.side);
    // The outer region contains the region, so it is grown from it.
    sets.outer.clear();
    if let Some(level) = levels.outer {
        stack.clear();
        stack.extend(
            sets.inner
                .iter()
                .map(|&(dx, dy)| ((dx + half) as usize, (dy + half) as usize)),
        );
        let outer_box = fill(geo, win, mask, stack, level, OUTER);
        for y in outer_box.y0..=outer_box.y1 {
            for x in outer_box.x0..=outer_box.x1 {
                if mask[y * side + x] != 0 {
                    sets.outer.push((x as isize - half, y as isize - half));
                }
            }
        }
    } else {
        sets.outer.extend_from_slice(&sets.inner);
    }
    row_end_points(&sets.outer, &mut sets.outer_points);
    sets.outer_edges = sets
        .outer
        .iter()
        .map(|&(dx, dy)| open_sides(mask, geo.index(dx, dy), side, |v| v != 0))
        .sum();
    let rim_rect = Rect::around(&sets.outer, 1, m);
    chamfer_in(mask, geo, &rim_rect, |v| v == 0, rim_dist);
    let rim_limit = chamfer_limit(params.rim_px);
    sets.outer_rim.clear();
    for &(dx, dy) in &sets.outer {
        let d = rim_rect.padded_index(dx, dy).map_or(0, |i| rim_dist[i]);
        sets.outer_rim.push(d <= rim_limit);
    }
}

/// Bit `j` set for each value `values[j]` at least `level`, and likewise at `level2`
/// (at most 64 values): the comparisons as bytes (vectorised), packed eight at a time by
/// a multiplication that gathers bit 0 of each byte into the top byte.
#[inline]
fn ge_bits2(values: &[f32], level: f32, level2: f32) -> (u64, u64) {
    let (mut flags, mut flags2) = ([0u8; 64], [0u8; 64]);
    for ((f, f2), &v) in flags.iter_mut().zip(flags2.iter_mut()).zip(values) {
        *f = u8::from(v >= level);
        *f2 = u8::from(v >= level2);
    }
    let pack = |flags: &[u8; 64]| {
        let mut bits = 0u64;
        for (k, c) in flags
            .chunks_exact(8)
            .enumerate()
            .take(values.len().div_ceil(8))
        {
            let bytes = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            bits |= (bytes.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
        }
        bits
    };
    (pack(&flags), pack(&flags2))
}

/// The union of the runs of ones of `cand` that hold a bit of `seeds`.
#[inline(always)]
fn runs_touched(cand: u64, seeds: u64) -> u64 {
    let s = seeds & cand;
    if s == 0 {
        return 0;
    }
    // Adding a seed bit carries through its run up to the run's end: the bits that flip
    // are the run from the lowest seed upwards (and the zero after the run).
    let up = (cand.wrapping_add(s) ^ cand) & cand | s;
    let (rc, rs) = (cand.reverse_bits(), s.reverse_bits());
    let down = ((rc.wrapping_add(rs) ^ rc) & rc | rs).reverse_bits();
    up | down
}

/// 8-neighbourhood of a row mask within the row.
#[inline(always)]
fn spread(bits: u64) -> u64 {
    bits | bits << 1 | bits >> 1
}

/// Grows `region` (rows `lo..=hi` of `cand`, both with an empty row around) to the
/// 8-connected component of `cand` that contains it, filling whole runs of candidates
/// touched by the row or its neighbours. Rows are (re)visited while `pending` (a bit per
/// row) holds them; a row that grows makes its neighbours pending. At the end every row
/// is closed under its neighbours, so the region is the component.
fn grow_rows(cand: &[u64], region: &mut [u64], lo: usize, hi: usize, mut pending: u128) {
    let inside = (u128::MAX >> (127 - hi)) & (u128::MAX << lo);
    pending &= inside;
    while pending != 0 {
        let y = pending.trailing_zeros() as usize;
        pending &= pending - 1;
        let touch = region[y] | spread(region[y - 1]) | spread(region[y + 1]);
        let grown = runs_touched(cand[y], touch);
        if grown != region[y] {
            region[y] = grown;
            pending |= (0b101u128 << (y - 1)) & inside;
        }
    }
}

/// Cells of `rows` in raster order as offsets (row `i` is `dy = i - m - 1`).
fn push_cells(rows: &[u64], lo: usize, hi: usize, m: isize, out: &mut Vec<(isize, isize)>) {
    for (y, &row) in rows.iter().enumerate().take(hi + 1).skip(lo) {
        let dy = y as isize - m - 1;
        let mut b = row;
        while b != 0 {
            out.push((b.trailing_zeros() as isize - m, dy));
            b &= b - 1;
        }
    }
}

/// 4-connected edges of a row mask region and its cells with at least one.
fn edges_of(rows: &[u64], y: usize) -> (u64, u64, u64, u64) {
    let r = rows[y];
    (
        r & !(r << 1),
        r & !(r >> 1),
        r & !rows[y - 1],
        r & !rows[y + 1],
    )
}

/// Dilation of rows `lo..=hi` of `src` by a chamfer ball, into `out` (same layout; rows
/// outside `lo..=hi` of `src` are empty).
fn dilate_rows(src: &[u64], lo: usize, hi: usize, ball: &[(isize, u32)], out: &mut [u64]) {
    out.fill(0);
    // The row widened by 0, 1, ... cells, once per source row (ball half-widths are
    // below a window's 64 cells).
    let mut wide = [0u64; 64];
    let widest = ball
        .iter()
        .map(|&(_, w)| w as usize)
        .max()
        .unwrap_or(0)
        .min(63);
    for (y, &row) in src.iter().enumerate().take(hi + 1).skip(lo) {
        if row == 0 {
            continue;
        }
        wide[0] = row;
        for k in 1..=widest {
            wide[k] = wide[k - 1] | row << k | row >> k;
        }
        for &(dy, w) in ball {
            if let Some(o) = out.get_mut((y as isize + dy) as usize) {
                *o |= wide[(w as usize).min(63)];
            }
        }
    }
}

/// Rows `lo..=hi` of the disc (the peak lies in it: the peak search is not wider), for
/// the row masks.
fn disc_rows(geo: &Geometry) -> (usize, usize) {
    ((-geo.r + geo.m + 1) as usize, (geo.r + geo.m + 1) as usize)
}

/// The candidate rows of the disc at the region's level, and at the outer region's when
/// it is lower (bits `m - r..=m + r`, the disc columns), the peak included.
fn candidate_rows(
    geo: &Geometry,
    bits: &BitGeometry,
    win: &Window,
    levels: &Levels,
    cand: &mut Vec<u64>,
    cand_outer: &mut Vec<u64>,
) {
    let (m, r) = (geo.m, geo.r);
    let (lo, hi) = disc_rows(geo);
    let n_rows = (2 * m + 3) as usize;
    cand.clear();
    cand.resize(n_rows, 0);
    cand_outer.clear();
    cand_outer.resize(n_rows, 0);
    let outer_level = levels.outer.unwrap_or(levels.threshold);
    let rows = cand.iter_mut().zip(cand_outer.iter_mut()).zip(&bits.disc);
    for (y, ((c, co), &disc)) in rows.enumerate().take(hi + 1).skip(lo) {
        let start = win.at(-r, y as isize - m - 1);
        let values = &win.hs[start..start + (2 * r + 1) as usize];
        let (inner_bits, outer_bits) = ge_bits2(values, levels.threshold, outer_level);
        *c = disc & inner_bits << (m - r);
        *co = disc & outer_bits << (m - r);
    }
    let (peak_row, peak_bit) = ((levels.peak.1 + m + 1) as usize, 1 << (levels.peak.0 + m));
    cand[peak_row] |= peak_bit;
    cand_outer[peak_row] |= peak_bit;
}

/// [`Masks::inner`] with row masks.
#[allow(clippy::too_many_arguments)]
fn bit_inner(
    geo: &Geometry,
    bits: &BitGeometry,
    win: &Window,
    levels: &Levels,
    cand: &mut Vec<u64>,
    cand_outer: &mut Vec<u64>,
    inner: &mut Vec<u64>,
    sets: &mut Sets,
) {
    let m = geo.m;
    let (lo, hi) = disc_rows(geo);
    let (pdx, pdy) = levels.peak;
    candidate_rows(geo, bits, win, levels, cand, cand_outer);
    let peak_row = (pdy + m + 1) as usize;
    inner.clear();
    inner.resize(cand.len(), 0);
    inner[peak_row] = 1 << (pdx + m);
    grow_rows(cand, inner, lo, hi, 1 << peak_row);

    sets.inner.clear();
    push_cells(inner, lo, hi, m, &mut sets.inner);
    row_mask_end_points(inner, m, &mut sets.inner_points);
    sets.clipped = (lo..=hi).any(|y| inner[y] & bits.disc_edge[y] != 0);
    sets.edges = 0;
    sets.boundary.clear();
    for y in lo..=hi {
        let (l, r, u, d) = edges_of(inner, y);
        sets.edges += (l.count_ones() + r.count_ones() + u.count_ones() + d.count_ones()) as usize;
        let mut b = l | r | u | d;
        while b != 0 {
            sets.boundary
                .push((b.trailing_zeros() as isize - m, y as isize - m - 1));
            b &= b - 1;
        }
    }
}

/// [`Masks::ring`] with row masks: the region dilated by the chamfer ball of the ring
/// width, minus the region, within its rectangle (the region's box grown by ring + 1,
/// inside the window); then `ring` holds region or ring.
fn bit_ring(
    geo: &Geometry,
    bits: &BitGeometry,
    inner: &[u64],
    ring: &mut Vec<u64>,
    sets: &mut Sets,
) {
    let m = geo.m;
    let (lo, hi) = disc_rows(geo);
    let n_rows = inner.len();
    ring.clear();
    ring.resize(n_rows, 0);
    dilate_rows(inner, lo, hi, &bits.ring_ball, ring);
    let window = (1u64 << (2 * m + 1)) - 1;
    for (r, &i) in ring.iter_mut().zip(inner).take(n_rows - 1).skip(1) {
        *r &= !i & window;
    }
    sets.ring.clear();
    push_cells(ring, 1, n_rows - 2, m, &mut sets.ring);
    for (r, &i) in ring.iter_mut().zip(inner) {
        *r |= i;
    }
}

/// [`Masks::outer`] with row masks.
#[allow(clippy::too_many_arguments)]
fn bit_outer(
    geo: &Geometry,
    bits: &BitGeometry,
    levels: &Levels,
    cand_outer: &[u64],
    inner: &[u64],
    outer: &mut Vec<u64>,
    sets: &mut Sets,
) {
    let m = geo.m;
    let (lo, hi) = disc_rows(geo);
    let n_rows = inner.len();
    // The outer region, grown from the region.
    outer.clear();
    outer.extend_from_slice(inner);
    if levels.outer.is_some() {
        grow_rows(cand_outer, outer, lo, hi, u128::MAX);
    }
    sets.outer.clear();
    push_cells(outer, lo, hi, m, &mut sets.outer);
    row_mask_end_points(outer, m, &mut sets.outer_points);
    sets.outer_edges = (lo..=hi)
        .map(|y| {
            let (l, r, u, d) = edges_of(outer, y);
            (l.count_ones() + r.count_ones() + u.count_ones() + d.count_ones()) as usize
        })
        .sum();
    // Rim: outer cells within the rim width of a non-outer cell of the outer region's
    // box grown by 1 (inside the disc's rows and columns plus one, so inside the window).
    let (mut y0, mut y1, mut cols) = (usize::MAX, 0, 0u64);
    for (y, &row) in outer.iter().enumerate() {
        if row != 0 {
            y0 = y0.min(y);
            y1 = y1.max(y);
            cols |= row;
        }
    }
    let (y0, y1) = ((y0 - 1).max(1), (y1 + 1).min(n_rows - 2));
    let c0 = cols.trailing_zeros().saturating_sub(1);
    let c1 = (64 - cols.leading_zeros()).min(2 * m as u32);
    let rect_cols = (u64::MAX >> (63 - c1)) & (u64::MAX << c0);
    let mut targets = [0u64; MAX_BIT_ROWS];
    for (t, &o) in targets.iter_mut().zip(outer.iter()).take(y1 + 1).skip(y0) {
        *t = rect_cols & !o;
    }
    let mut near = [0u64; MAX_BIT_ROWS];
    dilate_rows(
        &targets[..n_rows],
        y0,
        y1,
        &bits.rim_ball,
        &mut near[..n_rows],
    );
    sets.outer_rim.clear();
    for (&row, &close) in outer.iter().zip(near.iter()).take(hi + 1).skip(lo) {
        let rim = row & close;
        let mut b = row;
        while b != 0 {
            let bit = b & b.wrapping_neg();
            sets.outer_rim.push(rim & bit != 0);
            b &= b - 1;
        }
    }
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

/// Shape measures of a pixel set.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shape {
    /// Major over minor axis of the inertia ellipse (>= 1).
    elongation: f64,
    /// Pixel count over the pixel count of the convex hull.
    solidity: f64,
    /// Perimeter (4-connected edges times pi/4) over convex-hull perimeter.
    irregularity: f64,
}

/// Shape of `pixels` (sorted by row, then column; `points` their [`row_end_points`])
/// with `edges` 4-connected edges to the outside.
fn shape_of(
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

    /// Index of an offset in the layout of [`chamfer_in`]'s output: row-major over the
    /// rectangle grown by one cell on every side.
    fn padded_index(&self, x: isize, y: isize) -> Option<usize> {
        if x < self.x0 || x > self.x1 || y < self.y0 || y > self.y1 {
            return None;
        }
        Some((y - self.y0 + 1) as usize * (self.width() + 2) + (x - self.x0 + 1) as usize)
    }
}

/// Chamfer value of cells farther than any distance asked about (and of the padding).
/// `i16` keeps the passes in 8 lanes; the computed value of a cell is
/// `min(true distance, CHAMFER_INF)` exactly (no sum exceeds `CHAMFER_INF + 4`), so
/// comparisons with limits below it are exact.
const CHAMFER_INF: i16 = i16::MAX - 8;

/// The chamfer value of `px` pixel steps (3 per step), capped below [`CHAMFER_INF`]
/// (reached only by windows far too large to allocate).
fn chamfer_limit(px: usize) -> i16 {
    (3 * px).min(CHAMFER_INF as usize - 1) as i16
}

/// 3-4 chamfer distance (3 per pixel step, 4 per diagonal step; Borgefors 1986,
/// doi:10.1016/S0734-189X(86)80047-0) of every pixel of `rect` to the nearest pixel whose
/// window mask value satisfies `target`, computed within `rect` only (capped at
/// [`CHAMFER_INF`]). Written to `d` row-major over `rect` grown by one cell of padding on
/// every side ([`Rect::padded_index`]).
fn chamfer_in(
    mask: &[u8],
    geo: &Geometry,
    rect: &Rect,
    target: impl Fn(u8) -> bool,
    d: &mut Vec<i16>,
) {
    const INF: i16 = CHAMFER_INF;
    let (w, h) = (rect.width(), rect.height());
    let pw = w + 2;
    d.clear();
    d.resize(pw * (h + 2), INF);
    for y in 0..h {
        let src = &mask[geo.index(rect.x0, rect.y0 + y as isize)..][..w];
        let dst = &mut d[(y + 1) * pw + 1..][..w];
        for (o, &v) in dst.iter_mut().zip(src) {
            *o = if target(v) { 0 } else { INF };
        }
    }
    // Forward pass: the row above (final) first, then left to right; the padding is INF
    // and never lowers a value, as the missing neighbours of the border cells.
    for y in 1..=h {
        let (top, rest) = d.split_at_mut(y * pw);
        let above = &top[(y - 1) * pw..];
        let cur = &mut rest[..pw];
        for x in 1..=w {
            cur[x] = cur[x]
                .min(above[x] + 3)
                .min(above[x - 1] + 4)
                .min(above[x + 1] + 4);
        }
        for x in 1..=w {
            cur[x] = cur[x].min(cur[x - 1] + 3);
        }
    }
    // Backward pass: the row below (final), then right to left.
    for y in (1..=h).rev() {
        let (top, rest) = d.split_at_mut((y + 1) * pw);
        let cur = &mut top[y * pw..];
        let below = &rest[..pw];
        for x in 1..=w {
            cur[x] = cur[x]
                .min(below[x] + 3)
                .min(below[x + 1] + 4)
                .min(below[x - 1] + 4);
        }
        for x in (1..=w).rev() {
            cur[x] = cur[x].min(cur[x + 1] + 3);
        }
    }
}

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
struct HullScratch {
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

/// Eigenvalues (larger, smaller; the smaller at least 1e-9) of the second-moment matrix
/// of `pixels` about `(cx, cy)`, `n` their count, each pixel a unit square that adds its
/// own second moment 1/12 on each axis: the inertia ellipse's squared semi-axes over 4.
fn inertia_eigenvalues(pixels: &[(isize, isize)], cx: f64, cy: f64, n: f64) -> (f64, f64) {
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

/// Each row's first and last pixel of a pixel set sorted by (row, column): distinct
/// points sorted by (row, column).
fn row_end_points(pixels: &[(isize, isize)], points: &mut Vec<(i64, i64)>) {
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
fn row_mask_end_points(rows: &[u64], m: isize, points: &mut Vec<(i64, i64)>) {
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

/// [`hull_of_rows`] from the rows' end points ([`row_end_points`]). The hull's vertices
/// are found by Andrew's monotone chain on the points transposed to (row, column), which
/// come sorted; the vertex list is then turned into the counter-clockwise order from the
/// smallest (column, row) that Andrew's chain on (column, row) gives, so that the
/// perimeter is summed in the same order.
fn hull_of_points(points: &[(i64, i64)], s: &mut HullScratch) -> (f64, f64) {
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
    fn core_mean_is_the_selection_summed_in_its_order() {
        let mut state = 0xDEAD_BEEF_CAFE_F00Du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let (mut exact, mut fallback) = (0, 0);
        let mut keys = Vec::new();
        for case in 0..3000 {
            let n = 1 + next(60) as usize;
            let values: Vec<f32> = (0..n)
                .map(|_| match next(10) {
                    0 => 0.0,
                    1 if case % 4 == 0 => 1e-9 * next(1000) as f32,
                    // 2^-53: two of them change a sum of 1.0, one does not (ties to even),
                    // so their order matters; 2^-60 below them.
                    2 if case % 3 == 0 => f32::from_bits((127 - 53) << 23),
                    3 if case % 3 == 0 => f32::from_bits((127 - 60) << 23),
                    4 => 1.0,
                    _ => next(3000) as f32 / 997.0,
                })
                .collect();
            let core_px = 1 + next(30) as usize;
            let core_n = core_px.clamp(1, n);
            let mut defined = values.clone();
            defined.select_nth_unstable_by(core_n - 1, |a, b| b.total_cmp(a));
            let want = defined[..core_n].iter().map(|&v| f64::from(v)).sum::<f64>() / core_n as f64;
            let max = values.iter().fold(0.0f32, |m, &v| m.max(v));
            let got = core_mean(&mut values.clone(), core_px, max, &mut keys);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "case {case}: {values:?}, {core_px}"
            );
            let kth = defined[core_n - 1];
            if kth > 0.0 && f64::from(max) * core_n as f64 <= f64::from(kth) * (1u64 << 29) as f64 {
                exact += 1;
            } else {
                fallback += 1;
            }
        }
        assert!(exact > 1000 && fallback > 100, "{exact} {fallback}");
        // Order-dependent sums: 1 + 2^-53 rounds back to 1, 2^-53 + 2^-53 + 1 does not;
        // every order of the four values.
        let (t53, t60) = (
            f32::from_bits((127 - 53) << 23),
            f32::from_bits((127 - 60) << 23),
        );
        let base = [t53, t53, 1.0, t60];
        let mut sums = std::collections::BTreeSet::new();
        for perm in 0..24usize {
            let mut rest = base.to_vec();
            let mut values = Vec::new();
            let mut code = perm;
            for k in (1..=4).rev() {
                values.push(rest.remove(code % k));
                code /= k;
            }
            let mut defined = values.clone();
            defined.select_nth_unstable_by(3, |a, b| b.total_cmp(a));
            let want = defined.iter().map(|&v| f64::from(v)).sum::<f64>() / 4.0;
            sums.insert(want.to_bits());
            let got = core_mean(&mut values.clone(), 4, 1.0, &mut keys);
            assert_eq!(got.to_bits(), want.to_bits(), "{values:?}");
        }
        assert_eq!(sums.len(), 2, "both sums occur");
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
        let hs = super::super::gaussian::blur(&h, &super::super::gaussian::Kernel::gaussian(1.0));
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
