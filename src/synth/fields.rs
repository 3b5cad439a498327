//! Slowly varying fields of a synthetic slide: where the tissue is, how cellular it is,
//! where lymphocytes gather, how collagen fibres flow, and how stain intensity drifts.
//!
//! The fields are evaluated at the nodes of a fixed global lattice with spacing
//! [`NODE_SPACING_UM`] and interpolated bilinearly in between. A node's values are a pure
//! function of its integer position and the seed, so any region of the slide sees the same
//! values at the same place: rendering is seamless however the slide is cut.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::noise::{fbm, floor_i64, lerp, smoothstep, subseed};

/// Spacing of the field lattice in µm. Features of the fields are 50 µm and larger, so
/// 8 µm with bilinear interpolation renders them smoothly at a small cost.
pub(crate) const NODE_SPACING_UM: f64 = 8.0;

/// Distance in µm by which solid, fully cellular tissue extends around a planted hot
/// spot rectangle.
const HOTSPOT_TISSUE_MARGIN_UM: f64 = 60.0;

/// Field values at one point.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct FieldValues {
    /// Approximate signed distance to the tissue boundary in µm: positive inside tissue,
    /// negative in the background and in holes.
    pub tissue_sd_um: f64,
    /// 0 = loose fibrous stroma, 1 = densely cellular tumour.
    pub cellularity: f64,
    /// 0 = epithelioid (round nuclei, visible cell borders), 1 = spindle-cell fascicles.
    pub spindle: f64,
    /// Relative lymphocyte attraction, 0 to 1.
    pub lymph: f64,
    /// Domain warp applied to the collagen-fibre texture, x component, µm.
    pub warp_x_um: f64,
    /// Domain warp, y component, µm.
    pub warp_y_um: f64,
    /// Multiplier of haematoxylin concentration (about 0.85 to 1.15).
    pub stain_h: f64,
    /// Multiplier of eosin concentration (about 0.85 to 1.15).
    pub stain_e: f64,
}

impl FieldValues {
    /// Bilinear interpolation of four node values at fractions `fx`, `fy`.
    #[inline]
    fn interpolate(n: [&FieldValues; 4], fx: f64, fy: f64) -> FieldValues {
        let bi = |f: fn(&FieldValues) -> f64| {
            lerp(lerp(f(n[0]), f(n[1]), fx), lerp(f(n[2]), f(n[3]), fx), fy)
        };
        FieldValues {
            tissue_sd_um: bi(|v| v.tissue_sd_um),
            cellularity: bi(|v| v.cellularity),
            spindle: bi(|v| v.spindle),
            lymph: bi(|v| v.lymph),
            warp_x_um: bi(|v| v.warp_x_um),
            warp_y_um: bi(|v| v.warp_y_um),
            stain_h: bi(|v| v.stain_h),
            stain_e: bi(|v| v.stain_e),
        }
    }
}

/// One of the large irregular tissue pieces: an ellipse, distorted by a domain warp.
#[derive(Debug, Clone, Copy)]
struct TissuePiece {
    centre_x_um: f64,
    centre_y_um: f64,
    cos: f64,
    sin: f64,
    semi_a_um: f64,
    semi_b_um: f64,
}

/// A rectangle in µm, `x0 <= x < x1`, `y0 <= y < y1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RectUm {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl RectUm {
    /// Euclidean distance in µm from a point to the rectangle (0 inside).
    pub(crate) fn distance_um(&self, x: f64, y: f64) -> f64 {
        let dx = (self.x0 - x).max(x - self.x1).max(0.0);
        let dy = (self.y0 - y).max(y - self.y1).max(0.0);
        (dx * dx + dy * dy).sqrt()
    }
}

/// The slide's layout: the random tissue pieces and the seeds of every field.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    seed: u64,
    pieces: Vec<TissuePiece>,
    /// Feature size of the large-scale warp of the tissue outline, µm.
    outline_warp_scale_um: f64,
    /// Amplitude of that warp, µm.
    outline_warp_amp_um: f64,
    /// Region kept solid tissue (no holes) for a planted hot spot.
    solid: Option<RectUm>,
}

/// Purposes of the sub-seeds, so that fields never share random numbers.
mod purpose {
    pub const PIECES: u64 = 1;
    pub const WARP_X: u64 = 2;
    pub const WARP_Y: u64 = 3;
    pub const RAGGED: u64 = 4;
    pub const HOLES: u64 = 5;
    pub const CELLULARITY: u64 = 6;
    pub const SPINDLE: u64 = 7;
    pub const LYMPH: u64 = 8;
    pub const FIBRE_X: u64 = 9;
    pub const FIBRE_Y: u64 = 10;
    pub const WAVE_X: u64 = 11;
    pub const WAVE_Y: u64 = 12;
    pub const STAIN_H: u64 = 13;
    pub const STAIN_E: u64 = 14;
    pub const HOLE_REGIONS: u64 = 15;
    pub const HOTSPOT_EDGE: u64 = 16;
}

impl Layout {
    /// A layout for a slide of `width_um` x `height_um`, with the rectangle `solid` (a
    /// planted hot spot) kept as solid tissue.
    pub(crate) fn new(seed: u64, width_um: f64, height_um: f64, solid: Option<RectUm>) -> Layout {
        let mut rng = Pcg64::seed_from_u64(subseed(seed, purpose::PIECES));
        let min_side_um = width_um.min(height_um);
        // Two to four large pieces; elongated slides get one more.
        let aspect = width_um.max(height_um) / min_side_um.max(1e-9);
        let count = 2 + rng.random_range(0..=1u32) + u32::from(aspect > 1.6);
        let mut pieces = Vec::new();
        for k in 0..count {
            let angle: f64 = rng.random_range(0.0..std::f64::consts::PI);
            // The first piece covers the slide's centre, so every slide has tissue there.
            let spread = if k == 0 { 0.4..0.6 } else { 0.22..0.78 };
            pieces.push(TissuePiece {
                centre_x_um: width_um * rng.random_range(spread.clone()),
                centre_y_um: height_um * rng.random_range(spread),
                cos: angle.cos(),
                sin: angle.sin(),
                semi_a_um: min_side_um * rng.random_range(0.26..0.42),
                semi_b_um: min_side_um * rng.random_range(0.20..0.33),
            });
        }
        let outline_warp_amp_um = 0.12 * min_side_um;
        if let Some(r) = &solid {
            // The first piece is an ellipse around the hot spot, wide enough that the
            // warped, ragged outline still encloses the rectangle: the hot spot then lies
            // in naturally shaped tissue, not in a rectangle of forced tissue.
            let extra_um = outline_warp_amp_um + 100.0 + HOTSPOT_TISSUE_MARGIN_UM;
            pieces[0] = TissuePiece {
                centre_x_um: (r.x0 + r.x1) / 2.0,
                centre_y_um: (r.y0 + r.y1) / 2.0,
                cos: 1.0,
                sin: 0.0,
                semi_a_um: (r.x1 - r.x0) / 2.0 * std::f64::consts::SQRT_2 + extra_um,
                semi_b_um: (r.y1 - r.y0) / 2.0 * std::f64::consts::SQRT_2 + extra_um,
            };
        }
        Layout {
            seed,
            pieces,
            outline_warp_scale_um: 0.4 * min_side_um,
            outline_warp_amp_um,
            solid,
        }
    }

    /// Field values at lattice node `(i, j)`, i.e. at `(i, j) * NODE_SPACING_UM`.
    pub(crate) fn node(&self, i: i64, j: i64) -> FieldValues {
        let x = i as f64 * NODE_SPACING_UM;
        let y = j as f64 * NODE_SPACING_UM;
        let s = self.seed;
        let sc = self.outline_warp_scale_um;
        let wx = fbm(subseed(s, purpose::WARP_X), x / sc, y / sc, 3) * self.outline_warp_amp_um;
        let wy = fbm(subseed(s, purpose::WARP_Y), x / sc, y / sc, 3) * self.outline_warp_amp_um;
        let (qx, qy) = (x + wx, y + wy);
        let mut outline = f64::NEG_INFINITY;
        for p in &self.pieces {
            let (dx, dy) = (qx - p.centre_x_um, qy - p.centre_y_um);
            let u = (dx * p.cos + dy * p.sin) / p.semi_a_um;
            let v = (-dx * p.sin + dy * p.cos) / p.semi_b_um;
            let rho = (u * u + v * v).sqrt();
            outline = outline.max((1.0 - rho) * p.semi_a_um.min(p.semi_b_um));
        }
        outline += 45.0 * fbm(subseed(s, purpose::RAGGED), x / 220.0, y / 220.0, 4);
        // Holes (lumens, fat, tears): where a noise field is high, more of them in some
        // regions than in others.
        let hole = fbm(subseed(s, purpose::HOLES), x / 200.0, y / 200.0, 4)
            + 0.35 * fbm(subseed(s, purpose::HOLE_REGIONS), x / 1500.0, y / 1500.0, 2);
        let hole_sd_um = (hole - 0.45) * 450.0;
        let mut tissue_sd_um = outline.min(-hole_sd_um);
        let mut cellularity = smoothstep(
            -0.12,
            0.12,
            fbm(subseed(s, purpose::CELLULARITY), x / 320.0, y / 320.0, 3) + 0.15,
        );
        if let Some(r) = &self.solid {
            // A hot spot lies in solid, cellular tumour: no holes within the margin, and
            // cellularity rising to 1 over a wide, irregular band around it.
            let d = r.distance_um(x, y);
            tissue_sd_um = tissue_sd_um.max(HOTSPOT_TISSUE_MARGIN_UM - d);
            let band =
                d - 100.0 + 120.0 * fbm(subseed(s, purpose::HOTSPOT_EDGE), x / 150.0, y / 150.0, 3);
            cellularity = cellularity.max(1.0 - smoothstep(0.0, 250.0, band));
        }

        let spindle = smoothstep(
            -0.15,
            0.15,
            fbm(subseed(s, purpose::SPINDLE), x / 450.0, y / 450.0, 3),
        );
        let lymph = smoothstep(
            0.12,
            0.38,
            fbm(subseed(s, purpose::LYMPH), x / 200.0, y / 200.0, 3),
        );
        let warp_x_um = 100.0 * fbm(subseed(s, purpose::FIBRE_X), x / 260.0, y / 260.0, 3)
            + 3.0 * fbm(subseed(s, purpose::WAVE_X), x / 45.0, y / 45.0, 2);
        let warp_y_um = 100.0 * fbm(subseed(s, purpose::FIBRE_Y), x / 260.0, y / 260.0, 3)
            + 3.0 * fbm(subseed(s, purpose::WAVE_Y), x / 45.0, y / 45.0, 2);
        let stain_h = 1.0 + 0.3 * fbm(subseed(s, purpose::STAIN_H), x / 900.0, y / 900.0, 2);
        let stain_e = 1.0 + 0.3 * fbm(subseed(s, purpose::STAIN_E), x / 900.0, y / 900.0, 2);
        FieldValues {
            tissue_sd_um,
            cellularity,
            spindle,
            lymph,
            warp_x_um,
            warp_y_um,
            stain_h,
            stain_e,
        }
    }

    /// Field values at a point in µm, computing the four surrounding nodes.
    pub(crate) fn at_um(&self, x_um: f64, y_um: f64) -> FieldValues {
        let gx = x_um / NODE_SPACING_UM;
        let gy = y_um / NODE_SPACING_UM;
        let (i, j) = (floor_i64(gx), floor_i64(gy));
        let n = [
            self.node(i, j),
            self.node(i + 1, j),
            self.node(i, j + 1),
            self.node(i + 1, j + 1),
        ];
        FieldValues::interpolate([&n[0], &n[1], &n[2], &n[3]], gx - i as f64, gy - j as f64)
    }
}

/// The field nodes covering one rectangle, computed once for a region render.
#[derive(Debug, Clone)]
pub(crate) struct NodeCache {
    i0: i64,
    j0: i64,
    ni: usize,
    nj: usize,
    nodes: Vec<FieldValues>,
}

impl NodeCache {
    /// Nodes covering `rect` (µm) of `layout`.
    pub(crate) fn new(layout: &Layout, rect: RectUm) -> NodeCache {
        let i0 = (rect.x0 / NODE_SPACING_UM).floor() as i64;
        let j0 = (rect.y0 / NODE_SPACING_UM).floor() as i64;
        let i1 = (rect.x1 / NODE_SPACING_UM).floor() as i64 + 1;
        let j1 = (rect.y1 / NODE_SPACING_UM).floor() as i64 + 1;
        let ni = (i1 - i0 + 1).max(1) as usize;
        let nj = (j1 - j0 + 1).max(1) as usize;
        let mut nodes = Vec::with_capacity(ni * nj);
        for j in 0..nj {
            for i in 0..ni {
                nodes.push(layout.node(i0 + i as i64, j0 + j as i64));
            }
        }
        NodeCache {
            i0,
            j0,
            ni,
            nj,
            nodes,
        }
    }

    /// Field values at a point in µm; identical to [`Layout::at_um`], from the cache when
    /// the point is covered.
    #[inline]
    pub(crate) fn at_um(&self, layout: &Layout, x_um: f64, y_um: f64) -> FieldValues {
        let gx = x_um / NODE_SPACING_UM;
        let gy = y_um / NODE_SPACING_UM;
        let (fi, fj) = (floor_i64(gx), floor_i64(gy));
        let (i, j) = (fi - self.i0, fj - self.j0);
        if i < 0 || j < 0 || i as usize + 1 >= self.ni || j as usize + 1 >= self.nj {
            return layout.at_um(x_um, y_um);
        }
        let k = j as usize * self.ni + i as usize;
        let n = &self.nodes;
        FieldValues::interpolate(
            [&n[k], &n[k + 1], &n[k + self.ni], &n[k + self.ni + 1]],
            gx - fi as f64,
            gy - fj as f64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_agrees_with_direct_evaluation() {
        let layout = Layout::new(3, 2000.0, 1500.0, None);
        let rect = RectUm {
            x0: 100.0,
            y0: 200.0,
            x1: 180.0,
            y1: 260.0,
        };
        let cache = NodeCache::new(&layout, rect);
        for k in 0..50 {
            let x = 100.0 + 1.6 * k as f64;
            let y = 200.0 + 1.2 * k as f64;
            assert_eq!(cache.at_um(&layout, x, y), layout.at_um(x, y));
        }
        // Outside the cache it falls back to direct evaluation.
        assert_eq!(cache.at_um(&layout, 900.0, 5.0), layout.at_um(900.0, 5.0));
    }

    #[test]
    fn solid_rectangle_is_cellular_tissue() {
        let r = RectUm {
            x0: 300.0,
            y0: 300.0,
            x1: 900.0,
            y1: 700.0,
        };
        let layout = Layout::new(11, 2000.0, 2000.0, Some(r));
        for i in 0..30 {
            for j in 0..20 {
                let v = layout.at_um(300.0 + 20.0 * i as f64, 300.0 + 20.0 * j as f64);
                assert!(v.tissue_sd_um > 30.0, "{v:?}");
                assert!(v.cellularity > 0.95, "{v:?}");
            }
        }
    }

    #[test]
    fn layout_has_tissue_and_background() {
        let layout = Layout::new(5, 3000.0, 3000.0, None);
        let mut tissue = 0;
        let n = 60;
        for i in 0..n {
            for j in 0..n {
                let v = layout.at_um(50.0 * i as f64 + 25.0, 50.0 * j as f64 + 25.0);
                tissue += usize::from(v.tissue_sd_um > 0.0);
            }
        }
        let fraction = tissue as f64 / (n * n) as f64;
        assert!((0.2..0.9).contains(&fraction), "{fraction}");
    }
}
