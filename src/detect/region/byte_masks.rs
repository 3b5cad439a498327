//! The region's masks as bytes, for any window size: an explicit 8-connected flood fill
//! and the two-pass 3-4 chamfer distance transform (Borgefors 1986) for the ring and the
//! rim. Slower than `row_masks`, which the tests check against it.
//!
//! May use: `window`, `sets`, `hull` (row end points) and the region's parameters.

use super::hull::row_end_points;
use super::sets::{Levels, Sets};
use super::window::{chamfer_limit, Geometry, Window, CHAMFER_INF, NEIGHBOURS_8};
use super::RegionParams;

pub(super) const INNER: u8 = 1;
const OUTER: u8 = 2;

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

/// [`Masks::inner`] with byte masks.
///
/// [`Masks::inner`]: super::masks::Masks::inner
pub(super) fn byte_inner(
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
///
/// [`Masks::ring`]: super::masks::Masks::ring
pub(super) fn byte_ring(
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
///
/// [`Masks::outer`]: super::masks::Masks::outer
#[allow(clippy::too_many_arguments)]
pub(super) fn byte_outer(
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

/// A rectangle of window offsets, inclusive.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rect {
    pub(super) x0: isize,
    pub(super) y0: isize,
    pub(super) x1: isize,
    pub(super) y1: isize,
}

impl Rect {
    /// The bounding box of `pixels` grown by `margin`, clamped to `[-m, m]`.
    pub(super) fn around(pixels: &[(isize, isize)], margin: isize, m: isize) -> Rect {
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
    pub(super) fn padded_index(&self, x: isize, y: isize) -> Option<usize> {
        if x < self.x0 || x > self.x1 || y < self.y0 || y > self.y1 {
            return None;
        }
        Some((y - self.y0 + 1) as usize * (self.width() + 2) + (x - self.x0 + 1) as usize)
    }
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
