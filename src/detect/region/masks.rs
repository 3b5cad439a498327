//! The region's masks in one of two representations ([`Masks`]), filled in stages (the
//! region, its ring, the outer region) by `row_masks` or `byte_masks`.
//!
//! May use: `window`, `sets`, `row_masks`, `byte_masks` and the region's parameters.

use super::byte_masks::{byte_inner, byte_outer, byte_ring, Rect, INNER};
use super::row_masks::{bit_inner, bit_outer, bit_ring};
use super::sets::{Levels, Sets};
use super::window::{BitGeometry, Geometry, Window};
use super::RegionParams;

/// The region's masks in one of two representations, filled in stages ([`Masks::inner`],
/// [`Masks::ring`], [`Masks::outer`]) into [`Sets`].
pub(super) enum Masks<'s> {
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
    pub(super) fn inner(&mut self, geo: &Geometry, win: &Window, levels: &Levels, sets: &mut Sets) {
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
    pub(super) fn ring(&mut self, geo: &Geometry, params: &RegionParams, sets: &mut Sets) {
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
    pub(super) fn excluded(&self, geo: &Geometry, dx: isize, dy: isize) -> bool {
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
    pub(super) fn outer(
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
