//! The ordinary nuclei, never listed in the ground truth: one candidate per cell of a
//! jittered lattice, kept by the local cellularity and shaped by the local tissue type
//! (fibroblasts, spindle and epithelioid tumour cells), and the lattice itself, whose
//! Voronoi edges are the cell borders.
//!
//! May use: the scene (`super`) and the `synth` modules `fields`, `noise` and `objects`.

use super::purpose;
use super::SynthScene;
use crate::synth::fields::{FieldValues, NodeCache, RectUm};
use crate::synth::noise::{floor_i64, hash2, mix64, subseed, unit_f64};
use crate::synth::objects::{Blob, Canvas, CHROMATIN_TEXEL_UM};

/// Side of the cells of the jittered lattice that places ordinary nuclei (and the cell
/// borders between them), µm: one cell per ~12 µm, as in a cellular tumour.
pub(super) const CELL_UM: f64 = 12.0;
/// Jitter of a cell's centre point, as a fraction of the cell side.
const CELL_JITTER: f64 = 0.6;
/// Largest reach of an ordinary nucleus from its centre, µm (fibroblast semi-axis up to
/// 11 µm, outline harmonics, curvature and edge).
pub(super) const NUCLEUS_REACH_UM: f64 = 14.5;

impl SynthScene {
    /// Ordinary nuclei: one candidate per lattice cell, kept or not by the local
    /// cellularity, shaped by the local tissue type, never within a truth object's
    /// exclusion zone.
    pub(super) fn paint_nuclei(
        &self,
        canvas: &mut Canvas,
        cache: &NodeCache,
        sites: &Sites,
        figures: &[usize],
    ) {
        let s = self.scale;
        let reach_px = s.px(NUCLEUS_REACH_UM);
        let (cx0, cy0) = (canvas.x0 as f64 - reach_px, canvas.y0 as f64 - reach_px);
        let cx1 = (canvas.x0 + canvas.width as i64) as f64 + reach_px;
        let cy1 = (canvas.y0 + canvas.height as i64) as f64 + reach_px;
        for j in sites.j0..sites.j0 + sites.nj as i64 {
            for i in sites.i0..sites.i0 + sites.ni as i64 {
                let (x_um, y_um, hash) = sites.site(i, j);
                let (x_px, y_px) = (s.px(x_um), s.px(y_um));
                if x_px < cx0 || x_px > cx1 || y_px < cy0 || y_px > cy1 {
                    continue;
                }
                let f = cache.at_um(&self.layout, x_um, y_um);
                let Some(blob) = self.ordinary_nucleus(&f, cache, (x_um, y_um), hash) else {
                    continue;
                };
                let excluded = figures.iter().any(|&t| {
                    let fig = &self.figures[t];
                    let d = ((fig.cx - x_px).powi(2) + (fig.cy - y_px).powi(2)).sqrt();
                    d < fig.exclusion_px + 0.8 * blob.a
                });
                if !excluded {
                    blob.paint(canvas, &self.iso);
                }
            }
        }
    }

    /// The ordinary nucleus of the lattice cell with centre `(x_um, y_um)` and hash, if
    /// the cell has one.
    fn ordinary_nucleus(
        &self,
        f: &FieldValues,
        cache: &NodeCache,
        (x_um, y_um): (f64, f64),
        hash: u64,
    ) -> Option<Blob> {
        if f.tissue_sd_um < 1.0 {
            return None;
        }
        let c = f.cellularity;
        let mut h = mix64(hash);
        let mut roll = || {
            h = mix64(h.wrapping_add(0x9e37_79b9_7f4a_7c15));
            unit_f64(h)
        };
        if roll() > 0.10 + 0.83 * c {
            return None;
        }
        let s = self.scale;
        // Local fibre direction (for spindle nuclei): perpendicular to the gradient of the
        // across-fibre texture coordinate.
        let fibre_angle = || {
            let d = 2.0;
            let v = |x: f64, y: f64| {
                let g = cache.at_um(&self.layout, x, y);
                -self.fibre_sin * (x + g.warp_x_um) + self.fibre_cos * (y + g.warp_y_um)
            };
            let gx = v(x_um + d, y_um) - v(x_um - d, y_um);
            let gy = v(x_um, y_um + d) - v(x_um, y_um - d);
            gy.atan2(gx) + std::f64::consts::FRAC_PI_2
        };
        let type_roll = roll();
        let (a_um, b_um, angle, od, tex, membrane, nucleolus_p, bend);
        if type_roll > c {
            // Fibroblast in stroma: long, thin, wavy, along the fibres, with dense fine
            // chromatin (14 to 22 µm long; coarse clumps and short dark shapes read as
            // metaphase plates to the classifier).
            a_um = 7.0 + 4.0 * roll();
            b_um = 0.6 + 0.4 * roll();
            angle = fibre_angle() + 0.2 * (roll() - 0.5);
            od = 0.28 + 0.12 * roll();
            tex = 0.15;
            membrane = 0.0;
            nucleolus_p = 0.0;
            bend = 0.04 * (roll() - 0.5);
        } else if roll() < f.spindle {
            // Spindle tumour cell: cigar-shaped, blunt, 12 to 20 µm long (real smooth-muscle
            // nuclei are 15 to 25 µm), pale, aligned in fascicles.
            a_um = 6.0 + 4.0 * roll();
            b_um = 1.5 + 0.9 * roll();
            angle = fibre_angle() + 0.3 * (roll() - 0.5);
            od = 0.28 + 0.12 * roll();
            tex = 0.22;
            membrane = 0.16;
            nucleolus_p = 0.25;
            bend = 0.03 * (roll() - 0.5);
        } else {
            // Epithelioid tumour cell: round to oval, 9 to 13 µm, vesicular (pale, fine
            // chromatin), membrane and a faint nucleolus.
            a_um = 4.5 + 2.0 * roll();
            b_um = (a_um / (1.0 + 0.4 * roll())).max(3.6);
            angle = std::f64::consts::PI * roll();
            od = 0.28 + 0.14 * roll();
            tex = 0.3;
            membrane = 0.22;
            nucleolus_p = 0.55;
            bend = 0.0;
        }
        let mut harmonics = Vec::with_capacity(2);
        for k in 0..2 {
            let amp = 0.05 * roll() / f64::from(k + 1);
            let phase = std::f64::consts::TAU * roll();
            harmonics.push((amp * phase.cos(), amp * phase.sin()));
        }
        let nucleolus = (roll() < nucleolus_p).then(|| {
            let ang = std::f64::consts::TAU * roll();
            let d = s.px(b_um * 0.45 * roll());
            (d * ang.cos(), d * ang.sin(), s.px(0.45 + 0.4 * roll()), 0.3)
        });
        Some(Blob {
            cx: s.px(x_um),
            cy: s.px(y_um),
            cos: angle.cos(),
            sin: angle.sin(),
            a: s.px(a_um),
            b: s.px(b_um),
            bend: bend / s.px(1.0),
            harmonics,
            hairs: Vec::new(),
            hair_power_log2: 0,
            edge_px: s.px(0.3).max(0.7),
            od: od * f.stain_h.clamp(0.8, 1.2),
            texture_amp: tex,
            texture_scale: self.opts.mpp.um_per_px() / CHROMATIN_TEXEL_UM * 1.8,
            texture_offset: (512.0 * roll(), 512.0 * roll()),
            membrane_od: membrane,
            membrane_px: s.px(0.45).max(1.0),
            nucleolus,
            eosin_drop: 0.55,
        })
    }
}

/// Centre points of the jittered cell lattice over a rectangle (with one cell of
/// margin), for nuclei and for the cell borders between them.
pub(super) struct Sites {
    i0: i64,
    j0: i64,
    ni: usize,
    nj: usize,
    points: Vec<(f64, f64, u64)>,
}

impl Sites {
    pub(super) fn new(seed: u64, r: RectUm) -> Sites {
        let site_seed = subseed(seed, purpose::SITES);
        let i0 = (r.x0 / CELL_UM).floor() as i64 - 1;
        let j0 = (r.y0 / CELL_UM).floor() as i64 - 1;
        let ni = ((r.x1 / CELL_UM).floor() as i64 + 2 - i0) as usize;
        let nj = ((r.y1 / CELL_UM).floor() as i64 + 2 - j0) as usize;
        let mut points = Vec::with_capacity(ni * nj);
        for j in j0..j0 + nj as i64 {
            for i in i0..i0 + ni as i64 {
                let h = hash2(site_seed, i, j);
                let jx = (unit_f64(h) - 0.5) * CELL_JITTER;
                let jy = (unit_f64(mix64(h)) - 0.5) * CELL_JITTER;
                points.push((
                    (i as f64 + 0.5 + jx) * CELL_UM,
                    (j as f64 + 0.5 + jy) * CELL_UM,
                    h,
                ));
            }
        }
        Sites {
            i0,
            j0,
            ni,
            nj,
            points,
        }
    }

    #[inline]
    fn site(&self, i: i64, j: i64) -> (f64, f64, u64) {
        self.points[(j - self.j0) as usize * self.ni + (i - self.i0) as usize]
    }

    /// Distance in µm from a point to the nearest cell border (the bisector between the
    /// two nearest cell centres among the 3 x 3 neighbouring cells).
    #[inline]
    pub(super) fn border_distance_um(&self, x_um: f64, y_um: f64) -> f64 {
        let ci = floor_i64(x_um / CELL_UM);
        let cj = floor_i64(y_um / CELL_UM);
        let (mut d1, mut d2) = (f64::INFINITY, f64::INFINITY);
        let (mut p1, mut p2) = ((0.0, 0.0), (0.0, 0.0));
        for j in cj - 1..=cj + 1 {
            if j < self.j0 || j >= self.j0 + self.nj as i64 {
                continue;
            }
            for i in ci - 1..=ci + 1 {
                if i < self.i0 || i >= self.i0 + self.ni as i64 {
                    continue;
                }
                let (sx, sy, _) = self.site(i, j);
                let d = (sx - x_um).powi(2) + (sy - y_um).powi(2);
                if d < d1 {
                    d2 = d1;
                    p2 = p1;
                    d1 = d;
                    p1 = (sx, sy);
                } else if d < d2 {
                    d2 = d;
                    p2 = (sx, sy);
                }
            }
        }
        let sep = ((p2.0 - p1.0).powi(2) + (p2.1 - p1.1).powi(2)).sqrt();
        if !d2.is_finite() || sep <= 0.0 {
            return f64::INFINITY;
        }
        (d2 - d1) / (2.0 * sep)
    }
}
