//! The window around a seed: its geometry for one set of [`RegionParams`] (the region
//! disc and its edge, the peak, background and context samples, the row-mask versions
//! of the disc and the 3-4 chamfer balls of ring and rim) and the four planes read in
//! it, in place or as zero-padded copies near the planes' edges.
//!
//! May use: the region's parameters and planes (`super`) and [`Plane`]; no other room.

use super::{RegionParams, RegionPlanes};
use crate::detect::gaussian::Plane;

/// Bound on the width of a window (`2 m + 1` cells, at most 63) whose masks are kept as
/// one `u64` per row.
const BIT_ROW_CELLS: isize = 63;
/// Rows of such a window with an empty row above and below.
pub(super) const MAX_BIT_ROWS: usize = BIT_ROW_CELLS as usize + 2;

/// The window geometry of one set of [`RegionParams`]: window cell `(dx, dy)` (offsets
/// from the seed, `-half..=half`) is at index `(dy + half) * side + dx + half` of the
/// byte masks and of the planes' copies.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Geometry {
    /// Disc radius (px).
    pub(super) r: isize,
    /// Half-side of the window of the region, its ring and its rim (px): `r + ring + 1`.
    pub(super) m: isize,
    /// Half-side of the window read from the planes: covers `m`, the context disc and
    /// the peak search, plus one pixel for neighbours.
    pub(super) half: isize,
    /// `2 half + 1`.
    pub(super) side: usize,
    /// Cell lies in the region disc.
    pub(super) disc: Vec<bool>,
    /// Cell has an 8-neighbour outside the region disc.
    pub(super) disc_edge: Vec<bool>,
    /// The peak search disc, in raster order.
    pub(super) peak_offsets: Vec<(isize, isize)>,
    /// The background samples: every other pixel of the region disc, raster order.
    pub(super) background_offsets: Vec<(isize, isize)>,
    /// The context samples (every other pixel of the context disc) within `m` of the seed
    /// in x and y (they may lie in the region or its ring)...
    pub(super) context_near: Vec<(isize, isize)>,
    /// ... and the others.
    pub(super) context_far: Vec<(isize, isize)>,
    /// Row masks (bit `dx + m` of entry `dy + m + 1`, with an empty row above and below)
    /// when the window fits [`BIT_ROW_CELLS`] and the peak search stays in the disc.
    pub(super) bit_rows: Option<BitGeometry>,
}

/// Row-mask versions of the disc, for the row masks (`row_masks`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BitGeometry {
    /// Cells in the disc.
    pub(super) disc: Vec<u64>,
    /// Cells with an 8-neighbour outside the disc.
    pub(super) disc_edge: Vec<u64>,
    /// The 3-4 chamfer ball of the ring: `(dy, w)`, cells `|dx| <= w` of row `dy`.
    pub(super) ring_ball: Vec<(isize, u32)>,
    /// The chamfer ball of the rim.
    pub(super) rim_ball: Vec<(isize, u32)>,
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
    pub(super) fn new(params: &RegionParams) -> Geometry {
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
    pub(super) fn index(&self, dx: isize, dy: isize) -> usize {
        ((dy + self.half) as usize) * self.side + (dx + self.half) as usize
    }
}

/// The seed's neighbourhood in the four planes, indexed by offsets from the seed: the
/// planes themselves when the window lies inside them, else zero-padded copies.
pub(super) struct Window<'a> {
    pub(super) hs: &'a [f32],
    pub(super) h: &'a [f32],
    pub(super) e: &'a [f32],
    pub(super) residual: &'a [f32],
    pub(super) stride: isize,
    centre: isize,
}

impl<'a> Window<'a> {
    pub(super) fn new(
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
    pub(super) fn at(&self, dx: isize, dy: isize) -> usize {
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

pub(super) const NEIGHBOURS_8: [(isize, isize); 8] = [
    (-1, -1),
    (0, -1),
    (1, -1),
    (-1, 0),
    (1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];

/// Chamfer value of cells farther than any distance asked about (and of the padding).
/// `i16` keeps the passes in 8 lanes; the computed value of a cell is
/// `min(true distance, CHAMFER_INF)` exactly (no sum exceeds `CHAMFER_INF + 4`), so
/// comparisons with limits below it are exact.
pub(super) const CHAMFER_INF: i16 = i16::MAX - 8;

/// The chamfer value of `px` pixel steps (3 per step), capped below [`CHAMFER_INF`]
/// (reached only by windows far too large to allocate).
pub(super) fn chamfer_limit(px: usize) -> i16 {
    (3 * px).min(CHAMFER_INF as usize - 1) as i16
}
