//! Multi-scale blob seeds on the haematoxylin OD plane: scale-normalised difference of
//! Gaussians, maximum over scales, local maxima in space.
//!
//! The scale-normalised Laplacian `-sigma^2 ∇²(G_sigma * h)` responds most strongly to a
//! disc of radius `r` at `sigma = r / sqrt(2)`, with a height that does not depend on the
//! disc's size (Lindeberg 1998, "Feature detection with automatic scale selection",
//! IJCV 30(2):79-116, doi:10.1023/A:1008045108935). We approximate it by differences of
//! Gaussians one scale ratio `k` apart (Lowe 2004, IJCV 60(2):91-110): since
//! `dG/dsigma = sigma ∇²G`, `(G_sigma - G_{k sigma}) * sqrt(k) / (k - 1)` is about
//! `-s^2 ∇²G_s` at `s = sqrt(k) sigma`, and `n` scales cost `n + 1` blurs instead of the
//! `2n` second-derivative passes of a direct LoG. Following Al-Kofahi et al. (2010,
//! IEEE TBME 57(4):841-852, doi:10.1109/TBME.2009.2035102), as HistomicsTK's `cdog` does,
//! we keep per pixel the maximum response over scales and its scale, and take seeds at
//! spatial local maxima of that map.

use super::gaussian::{blur, Kernel, Plane};

/// Blob seeds and the per-pixel scale-space maximum they were found in.
#[derive(Debug, Clone)]
pub struct BlobMap {
    /// Maximum scale-normalised response over scales, OD.
    pub response: Plane,
    /// Index of the scale giving the maximum, per pixel.
    pub scale_index: Vec<u8>,
    /// The scales' characteristic sigma in working pixels (`sqrt(k) sigma_i`).
    pub scale_sigma_px: Vec<f64>,
}

/// One seed: a local maximum of the blob response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seed {
    /// Plane column.
    pub col: usize,
    /// Plane row.
    pub row: usize,
    /// Scale-normalised response at the seed, OD.
    pub response_od: f32,
    /// Characteristic sigma of the best scale, working pixels.
    pub sigma_px: f64,
}

/// Parameters of the scale space, in working pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleSpace {
    /// Smallest characteristic sigma (px).
    pub min_sigma_px: f64,
    /// Largest characteristic sigma (px).
    pub max_sigma_px: f64,
    /// Number of scales (>= 1).
    pub scales: usize,
}

impl ScaleSpace {
    /// The ratio `k` between consecutive blur sigmas.
    pub fn ratio(&self) -> f64 {
        if self.scales <= 1 || self.max_sigma_px <= self.min_sigma_px {
            1.5
        } else {
            (self.max_sigma_px / self.min_sigma_px).powf(1.0 / (self.scales - 1) as f64)
        }
    }

    /// The `scales + 1` blur sigmas (px): `sigma_i = min_sigma / sqrt(k) * k^i`.
    pub fn blur_sigmas_px(&self) -> Vec<f64> {
        let k = self.ratio();
        let s0 = self.min_sigma_px / k.sqrt();
        (0..=self.scales.max(1))
            .map(|i| s0 * k.powi(i as i32))
            .collect()
    }
}

/// Computes the scale-space maximum of `h` (see the module documentation).
pub fn blob_map(h: &Plane, space: &ScaleSpace) -> BlobMap {
    let sigmas = space.blur_sigmas_px();
    let k = space.ratio();
    let norm = (k.sqrt() / (k - 1.0)) as f32;
    let blurred: Vec<Plane> = sigmas
        .iter()
        .map(|&s| blur(h, &Kernel::gaussian(s)))
        .collect();
    let n = h.width * h.height;
    // Every sample is written below.
    let mut response = Plane::for_overwrite(h.width, h.height);
    let mut scale_index = vec![0u8; n];
    // Per pixel, scales in order, the first greatest response (strictly greater replaces):
    // eight pixels at a time in registers (vectorises), then the rest one by one.
    const LANES: usize = 8;
    let best_of = |x0: usize, best: &mut [f32], at: &mut [u8]| {
        let lanes = best.len();
        for (i, pair) in blurred.windows(2).enumerate() {
            let p = &pair[0].data[x0..x0 + lanes];
            let c = &pair[1].data[x0..x0 + lanes];
            for (((b, a), p), c) in best.iter_mut().zip(at.iter_mut()).zip(p).zip(c) {
                let v = (p - c) * norm;
                let greater = v > *b;
                *b = if greater { v } else { *b };
                *a = if greater { i as u8 } else { *a };
            }
        }
    };
    let full = n - n % LANES;
    let outs = response.data[..full]
        .chunks_exact_mut(LANES)
        .zip(scale_index[..full].chunks_exact_mut(LANES));
    for (chunk, (r_out, si_out)) in outs.enumerate() {
        let mut best = [f32::NEG_INFINITY; LANES];
        let mut at = [0u8; LANES];
        best_of(chunk * LANES, &mut best, &mut at);
        r_out.copy_from_slice(&best);
        si_out.copy_from_slice(&at);
    }
    let rest = response.data[full..]
        .iter_mut()
        .zip(&mut scale_index[full..]);
    for ((r, si), x) in rest.zip(full..) {
        let (mut best, mut at) = ([f32::NEG_INFINITY], [0u8]);
        best_of(x, &mut best, &mut at);
        (*r, *si) = (best[0], at[0]);
    }
    for p in blurred {
        p.recycle();
    }
    BlobMap {
        response,
        scale_index,
        scale_sigma_px: sigmas[..sigmas.len() - 1]
            .iter()
            .map(|s| s * k.sqrt())
            .collect(),
    }
}

/// Local maxima of the response: pixels whose response is at least `min_response_od` and
/// is the maximum of the `(2 radius + 1)^2` square around them (pixels outside the plane
/// are ignored). Of equal maxima within a window, the first in raster order wins, so the
/// result does not depend on where the plane was cut. Sorted in raster order.
///
/// Each pixel above the floor scans its square, its 8 neighbours first, and stops at the
/// first greater value (or equal one earlier in raster order): most pixels are rejected
/// by a neighbour.
pub fn local_maxima(map: &BlobMap, radius_px: usize, min_response_od: f32) -> Vec<Seed> {
    let p = &map.response;
    let (w, h) = (p.width, p.height);
    let r = radius_px;
    let mut seeds = Vec::new();
    for row in 0..h {
        let (y0, y1) = (row.saturating_sub(r), (row + r).min(h - 1));
        for col in 0..w {
            let i = row * w + col;
            let v = p.data[i];
            if v < min_response_od {
                continue;
            }
            // Beaten by a greater value, or an equal one earlier in raster order.
            let d = &p.data;
            if r >= 1 && row >= 1 && row + 1 < h && col >= 1 && col + 1 < w {
                let (up, down) = (i - w, i + w);
                let earlier = d[up - 1] >= v || d[up] >= v || d[up + 1] >= v || d[i - 1] >= v;
                let later = d[i + 1] > v || d[down - 1] > v || d[down] > v || d[down + 1] > v;
                if earlier || later {
                    continue;
                }
            }
            let (x0, x1) = (col.saturating_sub(r), (col + r).min(w - 1));
            let beaten_in_row = |yy: usize| {
                let line = &d[yy * w..(yy + 1) * w];
                match yy.cmp(&row) {
                    std::cmp::Ordering::Less => line[x0..=x1].iter().any(|&u| u >= v),
                    std::cmp::Ordering::Equal => {
                        line[x0..col].iter().any(|&u| u >= v)
                            || line[col + 1..=x1].iter().any(|&u| u > v)
                    }
                    std::cmp::Ordering::Greater => line[x0..=x1].iter().any(|&u| u > v),
                }
            };
            if (y0..=y1).any(beaten_in_row) {
                continue;
            }
            let si = usize::from(map.scale_index[i]);
            seeds.push(Seed {
                col,
                row,
                response_od: v,
                sigma_px: map.scale_sigma_px.get(si).copied().unwrap_or(1.0),
            });
        }
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc(size: usize, cx: f64, cy: f64, radius: f64, od: f32) -> Plane {
        let mut p = Plane::zeros(size, size);
        for y in 0..size {
            for x in 0..size {
                // 4x4 supersampling for a smooth edge.
                let mut inside = 0;
                for sy in 0..4 {
                    for sx in 0..4 {
                        let dx = x as f64 + (sx as f64 + 0.5) / 4.0 - 0.5 - cx;
                        let dy = y as f64 + (sy as f64 + 0.5) / 4.0 - 0.5 - cy;
                        if dx * dx + dy * dy <= radius * radius {
                            inside += 1;
                        }
                    }
                }
                p.data[y * size + x] = od * inside as f32 / 16.0;
            }
        }
        p
    }

    #[test]
    fn peak_is_at_the_disc_centre_and_scale_matches_radius() {
        let space = ScaleSpace {
            min_sigma_px: 1.5,
            max_sigma_px: 12.0,
            scales: 13,
        };
        for radius in [3.0, 5.0, 8.0, 12.0] {
            let p = disc(96, 48.0, 47.0, radius, 0.8);
            let map = blob_map(&p, &space);
            let seeds = local_maxima(&map, 3, 0.05);
            assert_eq!(seeds.len(), 1, "radius {radius}: {seeds:?}");
            let s = seeds[0];
            assert_eq!((s.col, s.row), (48, 47));
            // Lindeberg: the normalised LoG peaks at sigma = r / sqrt(2).
            let r_est = s.sigma_px * std::f64::consts::SQRT_2;
            assert!(
                (r_est / radius - 1.0).abs() < 0.2,
                "radius {radius}: estimated {r_est}"
            );
            // Height about 2/e of the contrast, independent of size.
            assert!(
                (f64::from(s.response_od) / 0.8 - 0.736).abs() < 0.12,
                "radius {radius}: response {}",
                s.response_od
            );
        }
    }

    #[test]
    fn blob_map_is_the_scale_by_scale_maximum_bit_for_bit() {
        // The definition: scales in order, a response replaced when strictly greater.
        let mut p = disc(45, 20.0, 21.0, 6.0, 0.7);
        let q = disc(45, 33.0, 30.0, 3.0, 0.9);
        for (a, b) in p.data.iter_mut().zip(&q.data) {
            *a += b;
        }
        let p = Plane {
            width: 43,
            height: 47,
            data: p.data[..43 * 47].to_vec(),
        };
        let space = ScaleSpace {
            min_sigma_px: 1.5,
            max_sigma_px: 6.0,
            scales: 5,
        };
        super::super::buffers::pollute();
        let map = blob_map(&p, &space);
        let sigmas = space.blur_sigmas_px();
        let k = space.ratio();
        let norm = (k.sqrt() / (k - 1.0)) as f32;
        let blurred: Vec<Plane> = sigmas
            .iter()
            .map(|&s| blur(&p, &Kernel::gaussian(s)))
            .collect();
        for x in 0..p.data.len() {
            let (mut r, mut si) = (f32::NEG_INFINITY, 0u8);
            for i in 1..blurred.len() {
                let v = (blurred[i - 1].data[x] - blurred[i].data[x]) * norm;
                if v > r {
                    r = v;
                    si = (i - 1) as u8;
                }
            }
            assert_eq!(map.response.data[x].to_bits(), r.to_bits(), "pixel {x}");
            assert_eq!(map.scale_index[x], si, "pixel {x}");
        }
        assert!(map.scale_index.iter().any(|&i| i > 0));
    }

    #[test]
    fn two_separated_discs_give_two_seeds() {
        let mut p = disc(80, 20.0, 40.0, 5.0, 0.6);
        let q = disc(80, 58.0, 40.0, 5.0, 0.9);
        for (a, b) in p.data.iter_mut().zip(&q.data) {
            *a += b;
        }
        let space = ScaleSpace {
            min_sigma_px: 2.0,
            max_sigma_px: 8.0,
            scales: 5,
        };
        let seeds = local_maxima(&blob_map(&p, &space), 4, 0.05);
        let pos: Vec<_> = seeds.iter().map(|s| (s.col, s.row)).collect();
        assert_eq!(pos, vec![(20, 40), (58, 40)]);
        assert!(seeds[1].response_od > seeds[0].response_od);
    }

    /// The definition: at least the floor, no greater value in the square, no equal
    /// one earlier in raster order.
    fn maxima_by_definition(map: &BlobMap, r: usize, floor: f32) -> Vec<(usize, usize)> {
        let p = &map.response;
        let (w, h) = (p.width, p.height);
        let mut out = Vec::new();
        for row in 0..h {
            for col in 0..w {
                let v = p.data[row * w + col];
                let mut keep = v >= floor;
                for yy in row.saturating_sub(r)..=(row + r).min(h - 1) {
                    for xx in col.saturating_sub(r)..=(col + r).min(w - 1) {
                        let u = p.data[yy * w + xx];
                        keep &= !(u > v || (u == v && (yy, xx) < (row, col)));
                    }
                }
                if keep {
                    out.push((col, row));
                }
            }
        }
        out
    }

    #[test]
    fn maxima_match_the_definition_with_many_ties() {
        // Coarsely quantised noise: plateaus and ties everywhere, also on the borders.
        let (w, h) = (37, 23);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let data = (0..w * h)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 6) as f32 * 0.25
            })
            .collect();
        let map = BlobMap {
            response: Plane {
                width: w,
                height: h,
                data,
            },
            scale_index: vec![0; w * h],
            scale_sigma_px: vec![2.0],
        };
        for (r, floor) in [(0, 0.5), (1, 0.0), (2, 0.5), (4, 0.25), (30, 0.0)] {
            let got: Vec<_> = local_maxima(&map, r, floor)
                .iter()
                .map(|s| (s.col, s.row))
                .collect();
            let want = maxima_by_definition(&map, r, floor);
            assert!(!want.is_empty());
            assert_eq!(got, want, "radius {r}, floor {floor}");
        }
    }

    #[test]
    fn flat_plateau_gives_one_seed() {
        let mut map = BlobMap {
            response: Plane::zeros(10, 10),
            scale_index: vec![0; 100],
            scale_sigma_px: vec![2.0],
        };
        for y in 3..6 {
            for x in 3..6 {
                map.response.data[y * 10 + x] = 1.0;
            }
        }
        let seeds = local_maxima(&map, 2, 0.5);
        assert_eq!(seeds.len(), 1);
        assert_eq!((seeds[0].col, seeds[0].row), (3, 3));
    }
}
