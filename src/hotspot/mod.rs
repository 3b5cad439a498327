//! The mitotic hot spot: the placement of a 10-HPF window with the highest count.
//!
//! # What is searched
//! Following Aubreville et al. 2020 ("Deep learning algorithms out-perform veterinary
//! pathologists in detecting the mitotically most active tumor region", Sci Rep 10:16447,
//! doi:10.1038/s41598-020-73246-2) and their SlideRunner tool, the hot spot is an axis-aligned
//! rectangle of area [`HotspotOptions::window_area_mm2`] (10 HPF, 2.37 mm² by default) with
//! aspect `width : height` = [`HotspotOptions::aspect_width`] :
//! [`HotspotOptions::aspect_height`] (4:3 by default), placed *anywhere* (continuous
//! position, not on a grid) such that
//!
//! - it lies inside the slide: `0 <= x` and `x + width <= slide width`, same for y;
//! - it is almost entirely tissue: [`TissueMask::tissue_fraction`] of the window is at least
//!   [`HotspotOptions::min_tissue_fraction`] (0.95 by default);
//!
//! and it holds the largest number of mitoses. A point `(px, py)` is inside the window
//! `[x, x + width) x [y, y + height)` (half-open, like the tissue mask's rectangles).
//!
//! # Exactness
//! The reported count is the exact maximum over *all* continuous placements, not an
//! approximation from a scan. Along x, the count changes only where the window's left edge
//! passes a point (`x = px`) or its right edge does (`x = px - width`); the tissue fraction,
//! which counts mask pixels whose centre lies in the window, changes only where an edge
//! passes a mask-pixel centre (`x = (k + 1/2) d` or `x = (k + 1/2) d - width`, `d` the
//! mask downsample). Between consecutive breakpoints both are constant, so every placement
//! is represented by one of finitely many *cells* (products of an x-interval and a
//! y-interval). The search visits every cell: a sweep over x-cells in increasing order
//! maintains, in a segment tree over y-cells (range add, max, leftmost argmax), the count
//! of each y-cell. The tissue test is lazy: at each x-cell only the best y-cell is tested,
//! and only if it could beat the best found so far; a failing run of y-cells (those
//! between the same mask breakpoints, which share one tissue fraction) gets a large
//! penalty in the tree and the next best is tried. A test result is reused while it
//! provably holds: one mask column entering or leaving the window changes its tissue count
//! and its total by at most the mask rows it spans, which bounds how many column moves
//! keep the fraction on the same side of the threshold.
//!
//! Without the tissue constraint this reduces to the classical canonical placements (some
//! point on the left edge and some point on the top edge); with it, a canonical placement
//! may fail the tissue test while a shifted one holding the same points passes, which is
//! why the cells, not only the canonical positions, are searched.
//!
//! The only approximation is numerical: breakpoints closer than [`MERGE_TOLERANCE_PX`]
//! (1e-6 px, far below a pixel) are merged, so a placement that exists only within such
//! a sliver is not seen.
//!
//! The returned window is a representative point of the winning cell (the midpoint of
//! its x- and y-interval), so it can move by up to half a cell without changing its count
//! or tissue fraction. Its `count`, `point_indices` and `tissue_fraction` are recomputed
//! directly from that window, so they are achieved, not merely claimed.
//!
//! # Cost
//! `O((n + C + R) log(n + R))` for `n` points and a mask of `C` x `R` pixels, plus the
//! tissue tests: at most one per (x-run, y-run) pair, in practice a few per x-cell.
//! Memory `O(n + C + R)`. Measured (`cargo bench --bench hotspot`, 10,000 points on a
//! 100,000 x 80,000 px slide, 2 shared cores): 11-12 ms without a tissue test, 20-21 ms
//! with a 1,563 x 1,250 mask (downsample 64), 25-35 ms at downsample 32.
//!
//! # Ties
//! Among placements with the maximum count, the one with the smallest y cell, then the
//! smallest x cell, wins; the result is deterministic and independent of point order.

mod segtree;

use crate::error::{Error, Result};
use crate::tiling::TissueMask;
use crate::units::{Mpp, UM2_PER_MM2};

use segtree::MaxAddTree;

/// Breakpoints closer than this (level-0 px) are merged into one.
pub const MERGE_TOLERANCE_PX: f64 = 1e-6;

/// Refuse masks so fine that the tissue test would need more than this many evaluations
/// (runs of x-cells times runs of y-cells): about 4x the mask's pixels inside the slide,
/// so only a mask far finer than any thumbnail trips it.
const MAX_TISSUE_EVALUATIONS: f64 = 2.0e9;

/// How the hot-spot window is shaped and which placements are allowed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HotspotOptions {
    /// Window area in mm². Default 2.37 mm², i.e. 10 HPF of 0.237 mm² (eyepiece field
    /// number 22 at a 40x objective; the MIDOG convention). The pipeline sets it to 10 x the
    /// HPF area in use.
    pub window_area_mm2: f64,
    /// Width part of the window's aspect ratio `width : height` (default 4).
    pub aspect_width: f64,
    /// Height part of the window's aspect ratio `width : height` (default 3).
    pub aspect_height: f64,
    /// Smallest allowed tissue fraction (0..=1) of the window, measured with
    /// [`TissueMask::tissue_fraction`]; default 0.95. 0 disables the tissue test (any
    /// window inside the slide is allowed).
    pub min_tissue_fraction: f64,
}

impl Default for HotspotOptions {
    /// 2.37 mm² (10 HPF of 0.237 mm²), 4:3, at least 95 % tissue (Aubreville et al. 2020).
    fn default() -> Self {
        HotspotOptions {
            window_area_mm2: 10.0 * crate::units::DEFAULT_HPF_AREA_MM2,
            aspect_width: 4.0,
            aspect_height: 3.0,
            min_tissue_fraction: 0.95,
        }
    }
}

impl HotspotOptions {
    /// Checks the options.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--hotspot-area-mm2` (area not finite and > 0),
    /// `--hotspot-aspect` (a part not finite and > 0) or `--hotspot-min-tissue` (fraction
    /// outside 0..=1).
    pub fn validate(&self) -> Result<()> {
        if !(self.window_area_mm2.is_finite() && self.window_area_mm2 > 0.0) {
            return Err(Error::invalid_option(
                "--hotspot-area-mm2",
                format!(
                    "the hot-spot window area must be a positive number of mm², got {}",
                    self.window_area_mm2
                ),
            ));
        }
        for part in [self.aspect_width, self.aspect_height] {
            if !(part.is_finite() && part > 0.0) {
                return Err(Error::invalid_option(
                    "--hotspot-aspect",
                    format!(
                        "the aspect ratio must be two positive numbers W:H, got {}:{}",
                        self.aspect_width, self.aspect_height
                    ),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.min_tissue_fraction) {
            return Err(Error::invalid_option(
                "--hotspot-min-tissue",
                format!(
                    "the minimum tissue fraction must lie in 0..=1, got {}",
                    self.min_tissue_fraction
                ),
            ));
        }
        Ok(())
    }

    /// The window's width and height in µm: `width * height = area`, `width / height =
    /// aspect_width / aspect_height`. 2.37 mm² at 4:3 gives 1777.6 x 1333.2 µm.
    pub fn window_size_um(&self) -> (f64, f64) {
        let area_um2 = self.window_area_mm2 * UM2_PER_MM2;
        let height_um = (area_um2 * self.aspect_height / self.aspect_width).sqrt();
        (area_um2 / height_um, height_um)
    }
}

/// A rectangle in µm of the slide (level-0 origin, x right, y down).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RectUm {
    /// Left edge, µm.
    pub x_um: f64,
    /// Top edge, µm.
    pub y_um: f64,
    /// Width, µm.
    pub width_um: f64,
    /// Height, µm.
    pub height_um: f64,
}

/// The densest window found by [`find_hotspot`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hotspot {
    /// Left edge, level-0 px.
    pub x_px: f64,
    /// Top edge, level-0 px.
    pub y_px: f64,
    /// Width, level-0 px.
    pub width_px: f64,
    /// Height, level-0 px.
    pub height_px: f64,
    /// Number of points inside `[x, x + width) x [y, y + height)`.
    pub count: usize,
    /// Indices (into the `points_px` given to [`find_hotspot`]) of the points inside,
    /// ascending; `point_indices.len() == count`.
    pub point_indices: Vec<usize>,
    /// Tissue fraction (0..=1) of the window per [`TissueMask::tissue_fraction`]; 1 when
    /// the mask is all tissue over the slide.
    pub tissue_fraction: f64,
}

impl Hotspot {
    /// The window in µm.
    pub fn rect_um(&self, mpp: Mpp) -> RectUm {
        RectUm {
            x_um: mpp.px_to_um(self.x_px),
            y_um: mpp.px_to_um(self.y_px),
            width_um: mpp.px_to_um(self.width_px),
            height_um: mpp.px_to_um(self.height_px),
        }
    }

    /// The window's area in mm².
    pub fn area_mm2(&self, mpp: Mpp) -> f64 {
        mpp.px2_to_um2(self.width_px * self.height_px) / UM2_PER_MM2
    }

    /// Whether a level-0 point lies inside the window (the half-open rule used for
    /// `count`).
    pub fn contains(&self, point_px: [f64; 2]) -> bool {
        window_contains(
            self.x_px,
            self.y_px,
            self.width_px,
            self.height_px,
            point_px,
        )
    }
}

fn window_contains(x: f64, y: f64, w: f64, h: f64, p: [f64; 2]) -> bool {
    x <= p[0] && p[0] < x + w && y <= p[1] && p[1] < y + h
}

/// Finds the placement of the hot-spot window holding the most points.
///
/// `points_px` are the mitoses' centres in level-0 px (`[x, y]`; non-finite points are
/// ignored); `tissue` is the slide's tissue mask; `slide_size_px` is the level-0 `(width,
/// height)`; `mpp` converts the window from µm to px.
///
/// Returns `Ok(None)` when no placement is allowed: the window is larger than the slide, or
/// no window inside the slide reaches the tissue fraction. With no points (or none in any
/// allowed window) it returns the first allowed placement (smallest y, then x) with
/// `count` 0, so a slide without mitoses still gets a located hot spot with 0 mitoses.
///
/// See the [module docs](self) for what is exact and how ties are broken.
///
/// # Errors
/// [`Error::InvalidOption`] for invalid [`HotspotOptions`] (see
/// [`HotspotOptions::validate`]), or, naming `--hotspot-min-tissue`, when the tissue mask
/// is so fine relative to the slide that the exact search would exceed about 2e9 tissue
/// tests (a mask pixel of a few level-0 px on a whole slide).
pub fn find_hotspot(
    points_px: &[[f64; 2]],
    tissue: &TissueMask,
    slide_size_px: (u64, u64),
    mpp: Mpp,
    opts: &HotspotOptions,
) -> Result<Option<Hotspot>> {
    opts.validate()?;
    let (width_um, height_um) = opts.window_size_um();
    let w = mpp.um_to_px(width_um);
    let h = mpp.um_to_px(height_um);
    let slide_w = slide_size_px.0 as f64;
    let slide_h = slide_size_px.1 as f64;
    let x_max = slide_w - w;
    let y_max = slide_h - h;
    if !(x_max >= 0.0 && y_max >= 0.0 && w > 0.0 && h > 0.0) {
        return Ok(None);
    }

    let use_mask =
        opts.min_tissue_fraction > 0.0 && !mask_is_all_tissue(tissue, slide_size_px, w, h);
    let d = tissue.downsample();
    if use_mask && !(d.is_finite() && d > 0.0) {
        return Err(Error::invalid_option(
            "--hotspot-min-tissue",
            format!("the tissue mask has an invalid downsample {d}"),
        ));
    }

    // Points that can lie in some window, sorted by x (then y, then index) for the sweep.
    let mut by_x: Vec<usize> = (0..points_px.len())
        .filter(|&i| points_px[i][0].is_finite() && points_px[i][1].is_finite())
        .collect();
    by_x.sort_by(|&a, &b| {
        points_px[a][0]
            .total_cmp(&points_px[b][0])
            .then(points_px[a][1].total_cmp(&points_px[b][1]))
            .then(a.cmp(&b))
    });

    let mask_centres = |extent: f64| -> Vec<f64> {
        if !use_mask {
            return Vec::new();
        }
        // Centres (k + 1/2) d for every k whose centre can fall in a window edge's range.
        let k_max = (extent / d).ceil() as u64 + 1;
        (0..=k_max).map(|k| (k as f64 + 0.5) * d).collect()
    };
    let xs = Axis::new(
        by_x.iter().map(|&i| points_px[i][0]),
        &mask_centres(slide_w),
        w,
        x_max,
        use_mask.then_some(d),
    );
    let ys = Axis::new(
        by_x.iter().map(|&i| points_px[i][1]),
        &mask_centres(slide_h),
        h,
        y_max,
        use_mask.then_some(d),
    );
    let evaluations = xs.class_count() as f64 * ys.class_count() as f64;
    if evaluations > MAX_TISSUE_EVALUATIONS {
        return Err(Error::invalid_option(
            "--hotspot-min-tissue",
            format!(
                "the tissue mask ({} x {} px at downsample {d}) is too fine for the exact \
                 hot-spot search over a {}x{} px slide; use a coarser mask (a mask pixel of \
                 8 µm or more) or --hotspot-min-tissue 0",
                tissue.mask().dim().1,
                tissue.mask().dim().0,
                slide_size_px.0,
                slide_size_px.1
            ),
        ));
    }

    let best = Search {
        points_px,
        by_x: &by_x,
        xs: &xs,
        ys: &ys,
        tissue: use_mask.then_some(tissue),
        min_tissue_fraction: opts.min_tissue_fraction,
        size_px: (w, h),
    }
    .run();
    let Some((xi, yi)) = best else {
        return Ok(None);
    };
    let (x, y) = (xs.reps[xi], ys.reps[yi]);
    let point_indices: Vec<usize> = (0..points_px.len())
        .filter(|&i| window_contains(x, y, w, h, points_px[i]))
        .collect();
    let tissue_fraction = if use_mask {
        tissue.tissue_fraction(x, y, x + w, y + h)
    } else {
        1.0
    };
    debug_assert!(!use_mask || tissue_fraction >= opts.min_tissue_fraction);
    Ok(Some(Hotspot {
        x_px: x,
        y_px: y,
        width_px: w,
        height_px: h,
        count: point_indices.len(),
        point_indices,
        tissue_fraction,
    }))
}

/// True when every window of at least one mask pixel inside the slide is all tissue, so the
/// tissue test can be skipped.
fn mask_is_all_tissue(tissue: &TissueMask, slide_size_px: (u64, u64), w: f64, h: f64) -> bool {
    let (rows, cols) = tissue.mask().dim();
    let d = tissue.downsample();
    let covers =
        cols as f64 * d >= slide_size_px.0 as f64 && rows as f64 * d >= slide_size_px.1 as f64;
    covers && w >= d && h >= d && tissue.mask().iter().all(|&t| t)
}

/// The cells of one axis: representative window positions, in increasing order, and the
/// run ("class") of cells between consecutive mask breakpoints each belongs to.
struct Axis {
    /// Representative left (top) edge of each cell, ascending, in `[0, max]`.
    reps: Vec<f64>,
    /// For each class, the index of its first cell; classes are consecutive runs.
    class_starts: Vec<usize>,
    /// For each class, the mask-centre indices of the window's two edges (first centre at
    /// or after the near edge, first at or after the far edge); the window spans
    /// `key.1 - key.0` mask centres along this axis.
    class_keys: Vec<(i64, i64)>,
    /// For each class, the number of mask-centre rows or columns that entered or left the
    /// window since class 0 (cumulative), to bound how fast the tissue fraction can change.
    class_moves: Vec<i64>,
}

impl Axis {
    /// Builds the cells for window extent `extent` (px) and largest position `max` from the
    /// points' coordinates and the mask centres along this axis; `mask_d` is the mask
    /// downsample when the tissue test is in use.
    fn new(
        coords: impl Iterator<Item = f64>,
        mask_centres: &[f64],
        extent: f64,
        max: f64,
        mask_d: Option<f64>,
    ) -> Self {
        let mut breaks: Vec<f64> = Vec::new();
        for c in coords {
            breaks.push(c);
            breaks.push(c - extent);
        }
        for &c in mask_centres {
            breaks.push(c);
            breaks.push(c - extent);
        }
        breaks.retain(|&b| b > 0.0 && b < max);
        breaks.sort_by(f64::total_cmp);
        // Positions: 0, the merged breakpoints, max. Cells: {0} and the open intervals
        // between consecutive positions (each also representing its right end, since every
        // count and tissue index is constant on left-open, right-closed intervals).
        let mut positions = Vec::with_capacity(breaks.len() + 2);
        positions.push(0.0);
        for b in breaks {
            if b - positions[positions.len() - 1] > MERGE_TOLERANCE_PX {
                positions.push(b);
            }
        }
        if max - positions[positions.len() - 1] > MERGE_TOLERANCE_PX {
            positions.push(max);
        } else if positions.len() > 1 {
            // The last breakpoint is within tolerance of max: use max itself.
            let last = positions.len() - 1;
            positions[last] = max;
        }
        let mut reps = Vec::with_capacity(positions.len());
        reps.push(0.0);
        for pair in positions.windows(2) {
            reps.push(0.5 * (pair[0] + pair[1]));
        }

        // Classes: runs of cells with the same pair of mask-centre indices of the window's
        // two edges (the same formula as TissueMask::tissue_fraction), hence the same
        // tissue fraction for a given position on the other axis.
        let mut class_starts = vec![0];
        let mut class_keys = vec![(0, 0)];
        if let Some(d) = mask_d {
            let key = |v: f64| (centre_index(v, d), centre_index(v + extent, d));
            class_keys[0] = key(reps[0]);
            for (i, &r) in reps.iter().enumerate().skip(1) {
                let k = key(r);
                if k != class_keys[class_keys.len() - 1] {
                    class_starts.push(i);
                    class_keys.push(k);
                }
            }
        }
        // Mask centres entering or leaving the window between consecutive classes, summed.
        let mut class_moves = Vec::with_capacity(class_keys.len());
        let mut total = 0i64;
        for (i, k) in class_keys.iter().enumerate() {
            if i > 0 {
                let p = class_keys[i - 1];
                total += (k.0 - p.0).abs() + (k.1 - p.1).abs();
            }
            class_moves.push(total);
        }
        Axis {
            reps,
            class_starts,
            class_keys,
            class_moves,
        }
    }

    /// The class of cell `i`.
    fn class_of(&self, i: usize) -> usize {
        self.class_starts.partition_point(|&start| start <= i) - 1
    }

    fn class_count(&self) -> usize {
        self.class_starts.len()
    }

    /// The cell range `[start, end)` of class `c`.
    fn class_range(&self, c: usize) -> (usize, usize) {
        let start = self.class_starts[c];
        let end = self
            .class_starts
            .get(c + 1)
            .copied()
            .unwrap_or(self.reps.len());
        (start, end)
    }

    /// The cells `[lo, hi)` whose window `[rep, rep + extent)` contains coordinate `v`.
    fn cells_containing(&self, v: f64, extent: f64) -> (usize, usize) {
        let lo = self.reps.partition_point(|&r| r + extent <= v);
        let hi = self.reps.partition_point(|&r| r <= v);
        (lo, hi.max(lo))
    }
}

/// Index of the first mask pixel whose centre `(k + 1/2) d` is >= `v`: the rule
/// [`TissueMask::tissue_fraction`] uses for "centre inside the rectangle".
fn centre_index(v: f64, d: f64) -> i64 {
    ((v / d) - 0.5).ceil() as i64
}

/// Everything the sweep needs.
struct Search<'a> {
    points_px: &'a [[f64; 2]],
    /// Indices of the finite points, sorted by x.
    by_x: &'a [usize],
    xs: &'a Axis,
    ys: &'a Axis,
    /// The mask when the tissue test is in use.
    tissue: Option<&'a TissueMask>,
    min_tissue_fraction: f64,
    /// Window width and height, px.
    size_px: (f64, f64),
}

/// What is known about one y-class's tissue test.
#[derive(Clone, Copy, PartialEq)]
enum Tissue {
    /// Not known for the current x-class.
    Unknown,
    /// Passes for x-classes up to and including the given one.
    PassesUntil(usize),
    /// Fails for x-classes up to and including the given one; its cells carry the penalty
    /// in the tree until then.
    FailsUntil(usize),
}

impl Search<'_> {
    /// The sweep over x-cells; returns the winning `(x-cell, y-cell)` or `None` when no
    /// cell passes the tissue test.
    ///
    /// The tissue test is lazy: at each x-cell, only the best y-cell (leftmost maximum) is
    /// tested, and only when it could beat the best so far; a failing y-class is penalised
    /// in the tree and the next best tried. Every cell that could win is tested, so the
    /// search stays exact while most cells are never tested.
    ///
    /// A test result is reused for later x-classes as long as it provably holds: moving the
    /// window by one mask column changes its tissue count and its total count of mask
    /// centres by at most the number of mask rows it spans, so a fraction far from the
    /// threshold stays on its side for a computable number of column moves. When that
    /// runs out, the penalty is lifted and the class is tested again when needed.
    fn run(&self) -> Option<(usize, usize)> {
        let (w, h) = self.size_px;
        let (xs, ys, pts, by_x) = (self.xs, self.ys, self.points_px, self.by_x);
        // Penalty for cells failing the tissue test: larger than any count, so a failing
        // cell's value is negative.
        let penalty = i64::try_from(by_x.len()).unwrap_or(i64::MAX / 4) + 1;
        let mut tree = MaxAddTree::new(ys.reps.len());
        let mut status = vec![Tissue::Unknown; ys.class_count()];
        // expiring[k]: y-classes whose failure is known up to x-class k - 1.
        let mut expiring: Vec<Vec<usize>> = vec![Vec::new(); xs.class_count() + 1];
        let mut x_class = 0usize;
        let mut next_class_start = xs.class_starts.get(1).copied().unwrap_or(usize::MAX);
        let (mut lo, mut hi) = (0usize, 0usize);
        let mut best: Option<(i64, usize, usize)> = None; // (count, y-cell, x-cell)

        for (xi, &x) in xs.reps.iter().enumerate() {
            // A point is in the x-range when x <= px < x + w: enter points with px < x + w,
            // then leave those with px < x. Both tests are monotone in x.
            while hi < by_x.len() && pts[by_x[hi]][0] < x + w {
                let (a, b) = ys.cells_containing(pts[by_x[hi]][1], h);
                tree.add(a, b, 1);
                hi += 1;
            }
            while lo < hi && pts[by_x[lo]][0] < x {
                let (a, b) = ys.cells_containing(pts[by_x[lo]][1], h);
                tree.add(a, b, -1);
                lo += 1;
            }
            if xi >= next_class_start {
                x_class += 1;
                next_class_start = xs
                    .class_starts
                    .get(x_class + 1)
                    .copied()
                    .unwrap_or(usize::MAX);
                // Failures known only up to the previous x-class: lift their penalty.
                for c in std::mem::take(&mut expiring[x_class]) {
                    if status[c] == Tissue::FailsUntil(x_class - 1) {
                        let (a, b) = ys.class_range(c);
                        tree.add(a, b, penalty);
                        status[c] = Tissue::Unknown;
                    }
                }
            }
            loop {
                let top = tree.max();
                if top < 0 || best.is_some_and(|(count, _, _)| top < count) {
                    break;
                }
                let yi = tree.leftmost_argmax();
                if best.is_some_and(|(count, best_yi, _)| top == count && yi >= best_yi) {
                    break;
                }
                let passes = match self.tissue {
                    None => true,
                    Some(tissue) => {
                        let c = ys.class_of(yi);
                        match status[c] {
                            Tissue::PassesUntil(k) if k >= x_class => true,
                            // A failing class carries the penalty, so it is never the
                            // maximum while its failure is known.
                            _ => {
                                let (a, b) = ys.class_range(c);
                                let y = ys.reps[a];
                                let fraction = tissue.tissue_fraction(x, y, x + w, y + h);
                                let passes = fraction >= self.min_tissue_fraction;
                                let until = self.valid_until(x_class, c, fraction);
                                if passes {
                                    status[c] = Tissue::PassesUntil(until);
                                } else {
                                    status[c] = Tissue::FailsUntil(until);
                                    tree.add(a, b, -penalty);
                                    if let Some(bucket) = expiring.get_mut(until + 1) {
                                        bucket.push(c);
                                    }
                                }
                                passes
                            }
                        }
                    }
                };
                if passes {
                    best = Some((top, yi, xi));
                    break;
                }
            }
        }
        best.map(|(_, yi, xi)| (xi, yi))
    }

    /// The last x-class up to which the tissue test of y-class `c`, giving `fraction` at
    /// x-class `k`, is guaranteed to give the same answer.
    ///
    /// The window spans `nc` x `nr` mask centres, `t = fraction * nc * nr` of them tissue.
    /// After `m` column moves, `t' <= t + m nr` and `n' >= (nc - m) nr` (failing case), or
    /// `t' >= t - m nr` and `n' <= (nc + m) nr` (passing case); solving for the largest `m`
    /// that keeps the side of the threshold, minus one for rounding, gives the bound.
    fn valid_until(&self, k: usize, c: usize, fraction: f64) -> usize {
        let (xk, yk) = (self.xs.class_keys[k], self.ys.class_keys[c]);
        let nc = (xk.1 - xk.0) as f64;
        let nr = (yk.1 - yk.0) as f64;
        if nr <= 0.0 || nc <= 0.0 {
            return k;
        }
        let thr = self.min_tissue_fraction;
        let n = nc * nr;
        let t = fraction * n;
        let margin = if fraction >= thr {
            t - thr * n
        } else {
            thr * n - t
        };
        let moves = (margin / (nr * (1.0 + thr))).floor() - 1.0;
        if moves.is_nan() || moves < 1.0 {
            return k;
        }
        let limit = self.xs.class_moves[k] + moves as i64;
        // Last class whose cumulative moves stay within the limit.
        let after = self.xs.class_moves.partition_point(|&m| m <= limit);
        after.saturating_sub(1).max(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn mpp1() -> Mpp {
        Mpp::new(1.0).unwrap()
    }

    /// Options for a `w` x `h` µm window at 1 µm/px.
    fn opts(w: f64, h: f64, min_tissue: f64) -> HotspotOptions {
        HotspotOptions {
            window_area_mm2: w * h / UM2_PER_MM2,
            aspect_width: w,
            aspect_height: h,
            min_tissue_fraction: min_tissue,
        }
    }

    #[test]
    fn default_window_is_2_37_mm2_at_4_to_3() {
        let o = HotspotOptions::default();
        let (w, h) = o.window_size_um();
        assert!((w * h - 2.37e6).abs() < 1e-3);
        assert!((w / h - 4.0 / 3.0).abs() < 1e-12);
        assert!((w - 1777.6).abs() < 0.1, "{w}");
        o.validate().unwrap();
    }

    #[test]
    fn invalid_options_name_their_flag() {
        let o = HotspotOptions {
            window_area_mm2: -1.0,
            ..HotspotOptions::default()
        };
        assert!(o
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--hotspot-area-mm2"));
        let o = HotspotOptions {
            aspect_height: 0.0,
            ..HotspotOptions::default()
        };
        assert!(o
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--hotspot-aspect"));
        let o = HotspotOptions {
            min_tissue_fraction: 1.5,
            ..HotspotOptions::default()
        };
        assert!(o
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--hotspot-min-tissue"));
    }

    #[test]
    fn finds_cluster_off_grid() {
        // A cluster of 5 points straddling where a 100 px grid would cut it.
        let pts = vec![
            [95.0, 95.0],
            [105.0, 98.0],
            [110.0, 110.0],
            [99.0, 140.0],
            [130.0, 120.0],
            [400.0, 400.0],
        ];
        let t = TissueMask::all_tissue(500, 500, 10.0);
        let hs = find_hotspot(&pts, &t, (500, 500), mpp1(), &opts(100.0, 100.0, 0.95))
            .unwrap()
            .unwrap();
        assert_eq!(hs.count, 5);
        assert_eq!(hs.point_indices, vec![0, 1, 2, 3, 4]);
        assert!(hs.x_px <= 95.0 && hs.x_px + 100.0 > 130.0);
        assert_eq!(hs.tissue_fraction, 1.0);
    }

    #[test]
    fn window_larger_than_slide_gives_none() {
        let t = TissueMask::all_tissue(50, 50, 10.0);
        let r = find_hotspot(&[[1.0, 1.0]], &t, (50, 50), mpp1(), &opts(60.0, 40.0, 0.9)).unwrap();
        assert!(r.is_none());
    }

    #[test]
    fn no_points_gives_first_allowed_window_with_zero() {
        // Tissue only in the right half: the first allowed window starts there.
        let mut m = Array2::from_elem((10, 10), false);
        m.slice_mut(ndarray::s![.., 5..]).fill(true);
        let t = TissueMask::new(m, 10.0);
        let hs = find_hotspot(&[], &t, (100, 100), mpp1(), &opts(40.0, 40.0, 0.95))
            .unwrap()
            .unwrap();
        assert_eq!(hs.count, 0);
        assert!(hs.x_px >= 45.0, "{hs:?}");
        assert!(hs.tissue_fraction >= 0.95);
    }

    #[test]
    fn no_tissue_anywhere_gives_none() {
        let t = TissueMask::new(Array2::from_elem((10, 10), false), 10.0);
        let r = find_hotspot(
            &[[50.0, 50.0]],
            &t,
            (100, 100),
            mpp1(),
            &opts(40.0, 40.0, 0.95),
        )
        .unwrap();
        assert!(r.is_none());
    }

    #[test]
    fn tissue_hole_forces_a_shifted_window() {
        // Points at x 50, 55, 60; background at mask columns 8 and 9 (centres 85, 95).
        // A 40 px window [x, x + 40) holds all three for x in (20, 50] and avoids centre 85
        // for x <= 45. The canonical placement x = 50 (a point on the left edge) reaches the
        // background, so only a window shifted left of every point holds all three.
        let pts = vec![[50.0, 50.0], [55.0, 52.0], [60.0, 54.0]];
        let mut m = Array2::from_elem((10, 10), true);
        m.slice_mut(ndarray::s![.., 8..]).fill(false);
        let t = TissueMask::new(m, 10.0);
        assert!(t.tissue_fraction(50.0, 50.0, 90.0, 90.0) < 1.0);
        let hs = find_hotspot(&pts, &t, (100, 100), mpp1(), &opts(40.0, 40.0, 1.0))
            .unwrap()
            .unwrap();
        assert_eq!(hs.count, 3);
        assert!(hs.x_px > 20.0 && hs.x_px <= 45.0, "{hs:?}");
        assert_eq!(hs.tissue_fraction, 1.0);
    }

    #[test]
    fn ties_prefer_smallest_y_then_x() {
        // Two single points far apart; both windows hold 1. The one with the smaller y wins
        // even though its x is larger.
        let pts = vec![[10.0, 300.0], [300.0, 10.0]];
        let t = TissueMask::all_tissue(400, 400, 10.0);
        let hs = find_hotspot(&pts, &t, (400, 400), mpp1(), &opts(50.0, 50.0, 0.9))
            .unwrap()
            .unwrap();
        assert_eq!(hs.count, 1);
        assert_eq!(hs.point_indices, vec![1]);
        // Same result whatever the input order.
        let rev = vec![pts[1], pts[0]];
        let hs2 = find_hotspot(&rev, &t, (400, 400), mpp1(), &opts(50.0, 50.0, 0.9))
            .unwrap()
            .unwrap();
        assert_eq!((hs.x_px, hs.y_px), (hs2.x_px, hs2.y_px));
    }

    #[test]
    fn non_finite_points_are_ignored() {
        let pts = vec![[f64::NAN, 1.0], [5.0, f64::INFINITY], [10.0, 10.0]];
        let t = TissueMask::all_tissue(100, 100, 10.0);
        let hs = find_hotspot(&pts, &t, (100, 100), mpp1(), &opts(20.0, 20.0, 0.9))
            .unwrap()
            .unwrap();
        assert_eq!(hs.count, 1);
        assert_eq!(hs.point_indices, vec![2]);
    }
}
