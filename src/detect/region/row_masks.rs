//! The region's masks as one `u64` per window row (windows up to 63 cells wide): a flood
//! fill by whole runs of candidate pixels, and the ring and the rim as dilations by the
//! 3-4 chamfer ball, equal to the byte masks' two-pass transform (see `Masks::Bits`).
//!
//! May use: `window`, `sets`, `hull` (row end points).

use super::hull::row_mask_end_points;
use super::sets::{Levels, Sets};
use super::window::{BitGeometry, Geometry, Window, MAX_BIT_ROWS};

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
///
/// [`Masks::inner`]: super::masks::Masks::inner
#[allow(clippy::too_many_arguments)]
pub(super) fn bit_inner(
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
///
/// [`Masks::ring`]: super::masks::Masks::ring
pub(super) fn bit_ring(
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
///
/// [`Masks::outer`]: super::masks::Masks::outer
#[allow(clippy::too_many_arguments)]
pub(super) fn bit_outer(
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
