//! Shapes of nuclei, mitotic figures and mimics, and how they are painted in optical
//! density.
//!
//! Every object is painted into a [`Canvas`] of haematoxylin and eosin concentrations
//! (in OD units along each stain vector). A pixel's value depends only on the object and
//! the pixel's global position, never on the canvas bounds, so objects crossing tile
//! borders are painted identically on both sides.
//!
//! All sizes below are in µm at construction and converted once to level-0 pixels.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::noise::Texture;
use super::{MitoticPhase, ObjectKind};
use crate::units::Mpp;

/// Haematoxylin and eosin concentration planes (OD units) of a rectangle of the slide,
/// plus tissue coverage, row-major, `[row, col]` = `[y - y0, x - x0]`.
#[derive(Debug, Clone)]
pub(crate) struct Canvas {
    /// Global x of column 0, level-0 px.
    pub x0: i64,
    /// Global y of row 0, level-0 px.
    pub y0: i64,
    /// Width in px.
    pub width: usize,
    /// Height in px.
    pub height: usize,
    /// Haematoxylin concentration, OD units.
    pub h: Vec<f32>,
    /// Eosin concentration, OD units.
    pub e: Vec<f32>,
}

impl Canvas {
    /// A zeroed canvas.
    pub(crate) fn new(x0: i64, y0: i64, width: usize, height: usize) -> Canvas {
        Canvas {
            x0,
            y0,
            width,
            height,
            h: vec![0.0; width * height],
            e: vec![0.0; width * height],
        }
    }

    /// The canvas pixels (global, half-open ranges) within `reach` px of `(cx, cy)`, or
    /// `None` if the disc misses the canvas.
    fn clip(&self, cx: f64, cy: f64, reach: f64) -> Option<(i64, i64, i64, i64)> {
        let xa = ((cx - reach).floor() as i64).max(self.x0);
        let ya = ((cy - reach).floor() as i64).max(self.y0);
        let xb = ((cx + reach).ceil() as i64 + 1).min(self.x0 + self.width as i64);
        let yb = ((cy + reach).ceil() as i64 + 1).min(self.y0 + self.height as i64);
        (xa < xb && ya < yb).then_some((xa, ya, xb, yb))
    }

    #[inline]
    fn index(&self, x: i64, y: i64) -> usize {
        (y - self.y0) as usize * self.width + (x - self.x0) as usize
    }
}

/// A thin projection of chromatin beyond the outline of a mitotic figure ("hair").
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hair {
    /// Direction in the blob's normalised frame, unit length.
    pub dir: (f64, f64),
    /// Length in px.
    pub len_px: f64,
}

/// A dense, textured, roughly elliptical mass of chromatin: a nucleus, a chromosome plate
/// or a clump.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    /// Centre, level-0 px.
    pub cx: f64,
    /// Centre, level-0 px.
    pub cy: f64,
    /// Orientation of the long axis (cosine, sine).
    pub cos: f64,
    /// See `cos`.
    pub sin: f64,
    /// Semi-axis along the long axis, px.
    pub a: f64,
    /// Semi-axis across, px.
    pub b: f64,
    /// Curvature: the across-axis coordinate is shifted by `bend * u²` (1/px).
    pub bend: f64,
    /// Outline harmonics `c_k` for k = 2, 3, ...: the boundary radius (relative) is
    /// `1 + Σ Re(c_k z^k)` for the unit direction `z`.
    pub harmonics: Vec<(f64, f64)>,
    /// Hair projections.
    pub hairs: Vec<Hair>,
    /// Hair sharpness: lobes are `cos(angle)^(2^hair_power_log2)`.
    pub hair_power_log2: u32,
    /// Width of the antialiased edge, px.
    pub edge_px: f64,
    /// Mean haematoxylin OD inside.
    pub od: f64,
    /// Relative amplitude of the chromatin texture.
    pub texture_amp: f64,
    /// Texture texels per px.
    pub texture_scale: f64,
    /// Texture offset (texels), so neighbouring blobs differ.
    pub texture_offset: (f64, f64),
    /// Extra OD of the nuclear membrane (0 for none).
    pub membrane_od: f64,
    /// Depth of the membrane below the outline, px.
    pub membrane_px: f64,
    /// A nucleolus: offset from the centre (px), radius (px), extra OD.
    pub nucleolus: Option<(f64, f64, f64, f64)>,
    /// Fraction of the eosin removed inside (nuclei displace cytoplasm).
    pub eosin_drop: f64,
}

impl Blob {
    /// Largest distance in px from the centre that the blob can touch.
    pub(crate) fn reach_px(&self) -> f64 {
        let harm: f64 = self
            .harmonics
            .iter()
            .map(|(re, im)| (re * re + im * im).sqrt())
            .sum();
        let hair = self.hairs.iter().map(|h| h.len_px).fold(0.0, f64::max);
        let curve = self.bend.abs() * self.a * self.a;
        self.a.max(self.b) * (1.0 + harm) + hair + curve + self.edge_px + 1.0
    }

    /// Paints the blob: haematoxylin by maximum (overlaps never darken beyond the darker
    /// object, so touching nuclei do not make mitosis-dark spots), eosin reduced.
    pub(crate) fn paint(&self, canvas: &mut Canvas, texture: &Texture) {
        let reach = self.reach_px();
        let Some((xa, ya, xb, yb)) = canvas.clip(self.cx, self.cy, reach) else {
            return;
        };
        let reach_n = reach / self.a.min(self.b).max(1e-6);
        let reach_n2 = reach_n * reach_n;
        let inv_a = 1.0 / self.a.max(1e-6);
        let inv_b = 1.0 / self.b.max(1e-6);
        let inv_edge = 1.0 / self.edge_px.max(1e-6);
        for y in ya..yb {
            let dy = y as f64 + 0.5 - self.cy;
            for x in xa..xb {
                let dx = x as f64 + 0.5 - self.cx;
                let u = dx * self.cos + dy * self.sin;
                let v = -dx * self.sin + dy * self.cos - self.bend * u * u;
                let (un, vn) = (u * inv_a, v * inv_b);
                let rho2 = un * un + vn * vn;
                if rho2 > reach_n2 {
                    continue;
                }
                let rho = rho2.sqrt();
                let (zr, zi) = if rho > 1e-9 {
                    (un / rho, vn / rho)
                } else {
                    (1.0, 0.0)
                };
                let r_dir = ((self.a * zr).powi(2) + (self.b * zi).powi(2)).sqrt();
                let mut boundary = 1.0;
                let (mut pr, mut pi) = (zr, zi);
                for &(cr, ci) in &self.harmonics {
                    let (nr, ni) = (pr * zr - pi * zi, pr * zi + pi * zr);
                    pr = nr;
                    pi = ni;
                    boundary += cr * pr - ci * pi;
                }
                for hair in &self.hairs {
                    let dot = zr * hair.dir.0 + zi * hair.dir.1;
                    if dot > 0.0 {
                        let mut lobe = dot;
                        for _ in 0..self.hair_power_log2 {
                            lobe *= lobe;
                        }
                        boundary += lobe * hair.len_px / r_dir;
                    }
                }
                let depth_px = (boundary - rho) * r_dir;
                let m = (depth_px * inv_edge + 0.5).clamp(0.0, 1.0);
                if m <= 0.0 {
                    continue;
                }
                let gx = (x as f64 + 0.5) * self.texture_scale + self.texture_offset.0;
                let gy = (y as f64 + 0.5) * self.texture_scale + self.texture_offset.1;
                let mut od = self.od * (1.0 + self.texture_amp * texture.sample(gx, gy));
                if self.membrane_od > 0.0 {
                    let ring = 1.0 - ((depth_px - self.membrane_px).abs() / self.membrane_px);
                    od += self.membrane_od * ring.max(0.0);
                }
                if let Some((ox, oy, r, nod)) = self.nucleolus {
                    let (ddx, ddy) = (dx - ox, dy - oy);
                    let d = (ddx * ddx + ddy * ddy).sqrt();
                    od += nod * (r + 0.5 - d).clamp(0.0, 1.0);
                }
                let k = canvas.index(x, y);
                let h = f64::from(canvas.h[k]);
                let painted = h + m * (od.max(0.0) - h);
                if painted > h {
                    canvas.h[k] = painted as f32;
                }
                canvas.e[k] *= (1.0 - self.eosin_drop * m) as f32;
            }
        }
    }
}

/// What a figure does to the cytoplasm around its chromatin.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// Nothing.
    None,
    /// A rounded cell (one or two overlapping discs) with paler cytoplasm and a faint
    /// eosinophilic rim: the rounded-up mitotic cell, or two daughter cells in telophase.
    Cell {
        /// Disc centres, px.
        centres: Vec<(f64, f64)>,
        /// Disc radius, px.
        r_px: f64,
        /// Haematoxylin OD of the cytoplasm.
        h_od: f64,
        /// Eosin OD of the cytoplasm.
        e_od: f64,
        /// Extra eosin OD on the rim.
        rim_od: f64,
        /// Rim width, px.
        rim_px: f64,
        /// Width of the soft transition at the edge, px.
        soft_px: f64,
    },
    /// Shrunken, strongly eosinophilic cytoplasm in a clear halo: the apoptotic or
    /// pyknotic cell.
    Halo {
        /// Centre, px.
        cx: f64,
        /// Centre, px.
        cy: f64,
        /// Radius of the eosinophilic cytoplasm, px.
        r_cyto_px: f64,
        /// Outer radius of the clear halo, px.
        r_clear_px: f64,
        /// Eosin OD of the cytoplasm.
        e_od: f64,
    },
}

impl Body {
    /// Largest distance from the figure centre touched, px.
    fn reach_px(&self, cx: f64, cy: f64) -> f64 {
        match self {
            Body::None => 0.0,
            Body::Cell { centres, r_px, .. } => centres
                .iter()
                .map(|(x, y)| ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() + r_px + 2.0)
                .fold(0.0, f64::max),
            Body::Halo { r_clear_px, .. } => r_clear_px + 2.0,
        }
    }

    /// Paints the body over the background (before the ordinary nuclei).
    pub(crate) fn paint(&self, canvas: &mut Canvas, centre: (f64, f64), texture: &Texture) {
        let reach = self.reach_px(centre.0, centre.1);
        let Some((xa, ya, xb, yb)) = canvas.clip(centre.0, centre.1, reach) else {
            return;
        };
        for y in ya..yb {
            let py = y as f64 + 0.5;
            for x in xa..xb {
                let px = x as f64 + 0.5;
                let k = canvas.index(x, y);
                let (h, e) = (f64::from(canvas.h[k]), f64::from(canvas.e[k]));
                let (h, e) = match self {
                    Body::None => (h, e),
                    Body::Cell {
                        centres,
                        r_px,
                        h_od,
                        e_od,
                        rim_od,
                        rim_px,
                        soft_px,
                    } => {
                        let d = centres
                            .iter()
                            .map(|(cx, cy)| ((px - cx).powi(2) + (py - cy).powi(2)).sqrt())
                            .fold(f64::INFINITY, f64::min);
                        // An irregular outline: the radius wanders by about 15 %.
                        let wobble = 0.08 * r_px * texture.sample(px * 0.08 - 5.0, py * 0.08 + 9.0);
                        let depth = r_px + wobble - d;
                        let m = 0.8 * (depth / soft_px + 0.5).clamp(0.0, 1.0);
                        let rim = (1.0 - (depth - rim_px).abs() / rim_px).max(0.0);
                        (h + m * (h_od - h), e + m * (e_od - e) + rim_od * rim)
                    }
                    Body::Halo {
                        cx,
                        cy,
                        r_cyto_px,
                        r_clear_px,
                        e_od,
                    } => {
                        let d = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt();
                        let in_cyto = (r_cyto_px - d + 0.5).clamp(0.0, 1.0);
                        // The retraction halo is patchy, thicker on some sides.
                        let patch = texture.sample(px * 0.35 + 7.0, py * 0.35 - 3.0);
                        let r_clear = r_clear_px + 0.6 * (r_clear_px - r_cyto_px) * patch;
                        let in_clear = (r_clear - d + 0.8).clamp(0.0, 1.6) / 1.6;
                        let clear =
                            in_clear * (1.0 - in_cyto) * (0.45 + 0.3 * patch).clamp(0.05, 0.75);
                        let (h1, e1) = (h * (1.0 - clear), e * (1.0 - clear));
                        (h1 + in_cyto * (0.04 - h1), e1 + in_cyto * (e_od - e1))
                    }
                };
                canvas.h[k] = h as f32;
                canvas.e[k] = e as f32;
            }
        }
    }
}

/// A ground-truth object as drawn: its body and its chromatin.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    /// Centre (the truth point), level-0 px.
    pub cx: f64,
    /// Centre, level-0 px.
    pub cy: f64,
    /// Cytoplasm change around it.
    pub body: Body,
    /// Chromatin masses.
    pub blobs: Vec<Blob>,
    /// Largest distance from the centre that painting touches, px.
    pub reach_px: f64,
    /// Ordinary nuclei and other objects keep this far away (px).
    pub exclusion_px: f64,
}

impl Figure {
    /// Paints the body (call for all figures before ordinary nuclei).
    pub(crate) fn paint_body(&self, canvas: &mut Canvas, texture: &Texture) {
        self.body.paint(canvas, (self.cx, self.cy), texture);
    }

    /// Paints the chromatin (call after ordinary nuclei).
    pub(crate) fn paint_chromatin(&self, canvas: &mut Canvas, texture: &Texture) {
        for b in &self.blobs {
            b.paint(canvas, texture);
        }
    }
}

/// Converts µm to px for one slide.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    mpp: Mpp,
}

impl Scale {
    pub(crate) fn new(mpp: Mpp) -> Scale {
        Scale { mpp }
    }
    /// µm -> px.
    #[inline]
    pub(crate) fn px(self, length_um: f64) -> f64 {
        self.mpp.um_to_px(length_um)
    }
}

/// Chromatin texel size in µm: granules of 0.5 to 1 µm.
pub(crate) const CHROMATIN_TEXEL_UM: f64 = 0.22;

/// Random harmonics for an outline: `count` terms from k = 2, amplitude about
/// `amplitude / sqrt(k)`.
fn harmonics(rng: &mut Pcg64, count: usize, amplitude: f64) -> Vec<(f64, f64)> {
    (0..count)
        .map(|i| {
            let k = (i + 2) as f64;
            let amp = amplitude * rng.random_range(0.3..1.0) / k.sqrt();
            let phase: f64 = rng.random_range(0.0..std::f64::consts::TAU);
            (amp * phase.cos(), amp * phase.sin())
        })
        .collect()
}

/// Hairs at random directions within `spread` radians of the directions in `around`.
fn hairs(
    rng: &mut Pcg64,
    count: usize,
    around: &[f64],
    spread: f64,
    len_um: (f64, f64),
    s: Scale,
) -> Vec<Hair> {
    (0..count)
        .map(|i| {
            let base = around[i % around.len()];
            let angle = base + rng.random_range(-spread..=spread);
            Hair {
                dir: (angle.cos(), angle.sin()),
                len_px: s.px(rng.random_range(len_um.0..len_um.1)),
            }
        })
        .collect()
}

/// A dark, ragged chromatin mass for a mitotic figure.
#[allow(clippy::too_many_arguments)] // private builder; the arguments are the shape
fn chromatin(
    rng: &mut Pcg64,
    s: Scale,
    centre_px: (f64, f64),
    angle: f64,
    semi_um: (f64, f64),
    od: f64,
    roughness: f64,
    hair: Vec<Hair>,
) -> Blob {
    let texture_scale = s.mpp_um() / CHROMATIN_TEXEL_UM * 1.3;
    Blob {
        cx: centre_px.0,
        cy: centre_px.1,
        cos: angle.cos(),
        sin: angle.sin(),
        a: s.px(semi_um.0),
        b: s.px(semi_um.1),
        bend: 0.0,
        harmonics: harmonics(rng, 10, roughness),
        hairs: hair,
        hair_power_log2: 7,
        edge_px: s.px(0.3).max(0.7),
        od,
        texture_amp: 0.24,
        texture_scale,
        texture_offset: (rng.random_range(0.0..512.0), rng.random_range(0.0..512.0)),
        membrane_od: 0.0,
        membrane_px: 1.0,
        nucleolus: None,
        eosin_drop: 0.75,
    }
}

impl Scale {
    /// µm per px.
    fn mpp_um(self) -> f64 {
        self.mpp.um_per_px()
    }
}

/// Builds the drawing of a ground-truth object of `kind` centred at `(cx, cy)` px, with
/// its shape drawn from `shape_seed`. For a mitosis, `phase` must be given.
pub(crate) fn figure(
    kind: ObjectKind,
    phase: Option<MitoticPhase>,
    centre_px: (f64, f64),
    shape_seed: u64,
    s: Scale,
) -> Figure {
    let mut rng = Pcg64::seed_from_u64(shape_seed);
    let (cx, cy) = centre_px;
    let angle: f64 = rng.random_range(0.0..std::f64::consts::PI);
    let (cos, sin) = (angle.cos(), angle.sin());
    // Offset along the figure's axis (u) and across (v), in µm, to px.
    let at = |u_um: f64, v_um: f64| {
        let (u, v) = (s.px(u_um), s.px(v_um));
        (cx + u * cos - v * sin, cy + u * sin + v * cos)
    };
    let half_pi = std::f64::consts::FRAC_PI_2;
    let mut blobs = Vec::new();
    let body;
    match kind {
        ObjectKind::MitoticFigure => {
            let od = rng.random_range(1.05..1.5);
            let cell_r_um = rng.random_range(7.5..10.5);
            let cell = |centres: Vec<(f64, f64)>, r_um: f64| Body::Cell {
                centres,
                r_px: s.px(r_um),
                h_od: 0.085,
                e_od: 0.23,
                rim_od: 0.03,
                rim_px: s.px(0.6).max(1.0),
                soft_px: s.px(2.5).max(1.0),
            };
            match phase.unwrap_or(MitoticPhase::Metaphase) {
                MitoticPhase::Prophase => {
                    // Late prophase / prometaphase: a compact, knobby clump of condensed
                    // chromosomes, arms sticking out all round, fine projections.
                    let r = rng.random_range(2.0..3.0);
                    let n_hairs = rng.random_range(6..12);
                    let h = hairs(&mut rng, n_hairs, &[0.0], 3.2, (0.25, 0.7), s);
                    let minor = r * rng.random_range(0.75..1.0);
                    blobs.push(chromatin(
                        &mut rng,
                        s,
                        at(0.0, 0.0),
                        angle,
                        (r, minor),
                        od,
                        0.12,
                        h,
                    ));
                    for _ in 0..rng.random_range(5..10) {
                        let a: f64 = rng.random_range(0.0..std::f64::consts::TAU);
                        let d = r * rng.random_range(0.5..1.05);
                        let arm = (rng.random_range(0.9..1.6), rng.random_range(0.45..0.8));
                        let turn = a + rng.random_range(-0.8..0.8);
                        blobs.push(chromatin(
                            &mut rng,
                            s,
                            at(d * a.cos(), d * a.sin()),
                            turn,
                            arm,
                            od,
                            0.1,
                            Vec::new(),
                        ));
                    }
                    body = cell(vec![(cx, cy)], cell_r_um);
                }
                MitoticPhase::Metaphase => {
                    // An elongated plate seen edge-on, with chromosome arms and fine
                    // projections on both faces.
                    let half_len = rng.random_range(3.5..6.0);
                    let half_w = rng.random_range(1.0..1.7);
                    let n_hairs = rng.random_range(6..12);
                    let h = hairs(&mut rng, n_hairs, &[half_pi, -half_pi], 1.0, (0.25, 0.8), s);
                    let mut b = chromatin(
                        &mut rng,
                        s,
                        at(0.0, 0.0),
                        angle,
                        (half_len, half_w),
                        od,
                        0.1,
                        h,
                    );
                    b.bend = rng.random_range(-0.04..0.04) / s.px(1.0);
                    blobs.push(b);
                    for _ in 0..rng.random_range(4..8) {
                        let u = half_len * rng.random_range(-0.8..0.8);
                        let side = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                        let v = side * (half_w + rng.random_range(0.1..0.6));
                        let arm = (rng.random_range(0.7..1.3), rng.random_range(0.4..0.6));
                        let turn = angle + half_pi + rng.random_range(-0.5..0.5);
                        blobs.push(chromatin(
                            &mut rng,
                            s,
                            at(u, v),
                            turn,
                            arm,
                            od,
                            0.1,
                            Vec::new(),
                        ));
                    }
                    body = cell(vec![(cx, cy)], cell_r_um);
                }
                MitoticPhase::Anaphase => {
                    // Two parallel plates pulled apart, each bowed away from the other.
                    let gap = rng.random_range(6.0..10.0);
                    for side in [-1.0, 1.0] {
                        let half_len = rng.random_range(3.0..5.0);
                        let half_w = rng.random_range(0.8..1.3);
                        let n_hairs = rng.random_range(5..10);
                        let h = hairs(&mut rng, n_hairs, &[side * half_pi], 1.0, (0.25, 0.8), s);
                        let mut b = chromatin(
                            &mut rng,
                            s,
                            at(0.0, side * gap / 2.0),
                            angle,
                            (half_len, half_w),
                            od,
                            0.14,
                            h,
                        );
                        b.bend = side * rng.random_range(0.02..0.06) / s.px(1.0);
                        blobs.push(b);
                    }
                    body = cell(vec![(cx, cy)], (cell_r_um + 1.0).max(gap / 2.0 + 4.0));
                }
                MitoticPhase::Telophase => {
                    // Two compact daughter masses in two daughter cells with a furrow.
                    let gap = rng.random_range(8.0..12.0);
                    let daughter_r = rng.random_range(5.0..6.5);
                    let mut centres = Vec::new();
                    for side in [-1.0, 1.0] {
                        let r = rng.random_range(2.0..3.2);
                        let n_hairs = rng.random_range(6..12);
                        let h = hairs(&mut rng, n_hairs, &[0.0], 3.2, (0.3, 0.8), s);
                        let c = at(0.0, side * gap / 2.0);
                        centres.push(at(0.0, side * (gap / 2.0 + 0.8)));
                        let minor = r * rng.random_range(0.55..0.85);
                        blobs.push(chromatin(&mut rng, s, c, angle, (r, minor), od, 0.22, h));
                    }
                    body = cell(centres, daughter_r);
                }
                MitoticPhase::Atypical => {
                    // Multipolar: three ragged clumps around the centre.
                    let base: f64 = rng.random_range(0.0..std::f64::consts::TAU);
                    for k in 0..3 {
                        let a = base
                            + f64::from(k) * std::f64::consts::TAU / 3.0
                            + rng.random_range(-0.35..0.35);
                        let d = rng.random_range(3.5..5.5);
                        let r = rng.random_range(1.8..3.0);
                        let n_hairs = rng.random_range(8..16);
                        let h = hairs(&mut rng, n_hairs, &[0.0], 3.2, (0.3, 1.0), s);
                        blobs.push(chromatin(
                            &mut rng,
                            s,
                            at(d * a.cos(), d * a.sin()),
                            a + half_pi,
                            (r, r * 0.7),
                            od,
                            0.25,
                            h,
                        ));
                    }
                    body = cell(vec![(cx, cy)], cell_r_um + 1.5);
                }
            }
        }
        ObjectKind::Lymphocyte => {
            // Small, round and smooth, with fine chromatin and a thin rim of cytoplasm. Real
            // lymphocytes in the classifier's patches have a mean haematoxylin OD of about
            // 0.4 to 0.5 near their centre (benign tiles of ../shared/data); darker or
            // coarsely clumped discs read as prophase figures to it.
            let r = rng.random_range(2.5..3.5);
            blobs.push(Blob {
                cx,
                cy,
                cos,
                sin,
                a: s.px(r),
                b: s.px(r * rng.random_range(0.88..1.0)),
                bend: 0.0,
                harmonics: harmonics(&mut rng, 3, 0.03),
                hairs: Vec::new(),
                hair_power_log2: 0,
                edge_px: s.px(0.35).max(0.7),
                od: rng.random_range(0.4..0.52),
                texture_amp: 0.15,
                texture_scale: s.mpp_um() / CHROMATIN_TEXEL_UM * 2.0,
                texture_offset: (rng.random_range(0.0..512.0), rng.random_range(0.0..512.0)),
                membrane_od: 0.1,
                membrane_px: s.px(0.4).max(1.0),
                nucleolus: None,
                eosin_drop: 0.8,
            });
            // A thin rim of basophilic cytoplasm.
            body = Body::Cell {
                centres: vec![(cx, cy)],
                r_px: s.px(r + 0.8),
                h_od: 0.2,
                e_od: 0.12,
                rim_od: 0.0,
                rim_px: 1.0,
                soft_px: s.px(0.5).max(1.0),
            };
        }
        ObjectKind::Pyknotic => {
            // Shrunken, homogeneous, dark and perfectly smooth, in a wide rim of bright
            // eosinophilic cytoplasm (the apoptotic cell is mostly cytoplasm) inside a
            // clear halo.
            let r = rng.random_range(1.4..2.4);
            blobs.push(Blob {
                cx,
                cy,
                cos,
                sin,
                a: s.px(r),
                b: s.px(r * rng.random_range(0.92..1.0)),
                bend: 0.0,
                harmonics: harmonics(&mut rng, 2, 0.015),
                hairs: Vec::new(),
                hair_power_log2: 0,
                edge_px: s.px(0.35).max(0.7),
                od: rng.random_range(0.9..1.2),
                texture_amp: 0.03,
                texture_scale: s.mpp_um() / CHROMATIN_TEXEL_UM,
                texture_offset: (rng.random_range(0.0..512.0), rng.random_range(0.0..512.0)),
                membrane_od: 0.0,
                membrane_px: 1.0,
                nucleolus: None,
                eosin_drop: 0.6,
            });
            let r_cyto = r * rng.random_range(2.0..2.8);
            body = Body::Halo {
                cx,
                cy,
                r_cyto_px: s.px(r_cyto),
                r_clear_px: s.px(r_cyto + rng.random_range(0.7..1.6)),
                e_od: rng.random_range(0.6..0.8),
            };
        }
        ObjectKind::Hyperchromatic => {
            // Large, dark, coarsely textured, but with a smooth outline and an intact
            // membrane: a non-dividing atypical nucleus.
            let r = rng.random_range(6.0..8.5);
            let b_ratio = rng.random_range(0.7..0.95);
            let nucleolus = if rng.random_bool(0.5) {
                let a: f64 = rng.random_range(0.0..std::f64::consts::TAU);
                let d = s.px(r * rng.random_range(0.0..0.4));
                Some((
                    d * a.cos(),
                    d * a.sin(),
                    s.px(rng.random_range(0.7..1.2)),
                    0.35,
                ))
            } else {
                None
            };
            blobs.push(Blob {
                cx,
                cy,
                cos,
                sin,
                a: s.px(r),
                b: s.px(r * b_ratio),
                bend: 0.0,
                harmonics: harmonics(&mut rng, 3, 0.05),
                hairs: Vec::new(),
                hair_power_log2: 0,
                edge_px: s.px(0.3).max(0.7),
                od: rng.random_range(0.65..0.9),
                texture_amp: 0.32,
                texture_scale: s.mpp_um() / CHROMATIN_TEXEL_UM * 0.6,
                texture_offset: (rng.random_range(0.0..512.0), rng.random_range(0.0..512.0)),
                membrane_od: 0.25,
                membrane_px: s.px(0.5).max(1.0),
                nucleolus,
                eosin_drop: 0.6,
            });
            body = Body::None;
        }
    }
    let blob_reach = blobs
        .iter()
        .map(|b| ((b.cx - cx).powi(2) + (b.cy - cy).powi(2)).sqrt() + b.reach_px())
        .fold(0.0, f64::max);
    let reach_px = blob_reach.max(body.reach_px(cx, cy));
    let exclusion_px = match &body {
        Body::None => blob_reach + s.px(1.0),
        _ => body.reach_px(cx, cy),
    };
    Figure {
        cx,
        cy,
        body,
        blobs,
        reach_px,
        exclusion_px,
    }
}
