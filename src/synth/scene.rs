//! [`SynthScene`]: a synthetic slide defined everywhere, with its ground truth, rendered
//! region by region.

use std::collections::HashMap;

use image::RgbImage;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Poisson};
use rand_pcg::Pcg64;

use super::fields::{FieldValues, Layout, NodeCache, RectUm, NODE_SPACING_UM};
use super::noise::{floor_i64, hash2, mix64, smoothstep, subseed, unit_f64, Octave, Texture};
use super::objects::{figure, Blob, Canvas, Figure, Scale, CHROMATIN_TEXEL_UM};
use super::{
    MitoticPhase, ObjectKind, SynthOptions, SynthStains, TruthObject, REFERENCE_EOSIN,
    REFERENCE_HAEMATOXYLIN,
};
use crate::error::{Error, Result};
use crate::stain::StainVectors;
use crate::units::{Mpp, UM2_PER_MM2};

/// Side of the cells of the jittered lattice that places ordinary nuclei (and the cell
/// borders between them), µm: one cell per ~12 µm, as in a cellular tumour.
const CELL_UM: f64 = 12.0;
/// Jitter of a cell's centre point, as a fraction of the cell side.
const CELL_JITTER: f64 = 0.6;
/// Largest reach of an ordinary nucleus from its centre, µm (semi-axis 6 µm, outline
/// harmonics, curvature and edge).
const NUCLEUS_REACH_UM: f64 = 8.5;
/// Optical blur of the scanner, Gaussian sigma in µm.
const BLUR_SIGMA_UM: f64 = 0.3;
/// Optical density of the glass background per channel (R, G, B): a faintly grey-white
/// background of about (241, 239, 242).
const BACKGROUND_OD: [f64; 3] = [0.022, 0.026, 0.020];
/// Half-width of the per-channel intensity noise, in 8-bit levels (triangular
/// distribution, standard deviation about 1.6 levels).
const NOISE_LEVELS: f64 = 4.0;
/// Resolution of the OD -> intensity table: entries per OD unit.
const OD_LUT_STEPS: f64 = 2048.0;
/// Largest OD in the table; darker pixels are clamped (intensity below 0.003).
const OD_LUT_MAX: f64 = 5.0;
/// Buckets of the object index, µm.
const BUCKET_UM: f64 = 64.0;

/// Purposes of sub-seeds used here.
mod purpose {
    pub const SITES: u64 = 101;
    pub const TEXTURE_FIBRE: u64 = 102;
    pub const TEXTURE_ISO: u64 = 103;
    pub const NOISE: u64 = 104;
    pub const FIBRE_ANGLE: u64 = 105;
    pub const STAINS: u64 = 106;
    pub const PLACE_MITOSES: u64 = 110;
    pub const PLACE_HOTSPOT: u64 = 111;
    pub const PLACE_HYPER: u64 = 112;
    pub const PLACE_PYKNOTIC: u64 = 113;
    pub const PLACE_LYMPH: u64 = 114;
}

/// A synthetic slide: its layout, the objects in it and everything needed to render any
/// rectangle of level 0 on demand.
///
/// The scene is defined on the whole plane; pixels outside `width_px` x `height_px` are
/// rendered as if the tissue continued (no ground-truth objects lie there).
/// `SynthScene` is `Send + Sync`: render regions from several threads at once.
#[derive(Debug, Clone)]
pub struct SynthScene {
    opts: SynthOptions,
    scale: Scale,
    layout: Layout,
    stains: StainVectors,
    truth: Vec<TruthObject>,
    figures: Vec<Figure>,
    index: ObjectIndex,
    fibre: Texture,
    iso: Texture,
    fibre_cos: f64,
    fibre_sin: f64,
    od_lut: Vec<f32>,
    blur: Vec<f32>,
    tissue_area_mm2: f64,
    hotspot_rect_um: Option<RectUm>,
    mitoses_in_hotspot: Option<usize>,
}

/// A rectangle in level-0 pixels (`x0 <= x < x0 + width`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RectPx {
    /// Left edge, px.
    pub x0_px: f64,
    /// Top edge, px.
    pub y0_px: f64,
    /// Width, px.
    pub width_px: f64,
    /// Height, px.
    pub height_px: f64,
}

impl SynthScene {
    /// Builds the scene for `opts`: tissue layout, stain vectors, and every ground-truth
    /// object with its shape. Deterministic: the same options give the same scene.
    ///
    /// Takes about a second for a 50,000 x 50,000 px slide; memory is proportional to
    /// the number of ground-truth objects (a few hundred bytes each).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the flag when an option is out of range (see
    /// [`SynthOptions::validate`]); [`Error::Stain`] if perturbed stain vectors were
    /// degenerate (not expected for angles within the allowed range).
    pub fn new(opts: &SynthOptions) -> Result<SynthScene> {
        opts.validate()?;
        let seed = opts.seed;
        let mpp = opts.mpp;
        let scale = Scale::new(mpp);
        let width_um = mpp.px_to_um(opts.width_px as f64);
        let height_um = mpp.px_to_um(opts.height_px as f64);
        let hotspot_rect_um = opts.hotspot.as_ref().map(|h| RectUm {
            x0: h.centre_x_um - h.width_um / 2.0,
            y0: h.centre_y_um - h.height_um / 2.0,
            x1: h.centre_x_um + h.width_um / 2.0,
            y1: h.centre_y_um + h.height_um / 2.0,
        });
        let layout = Layout::new(seed, width_um, height_um, hotspot_rect_um);
        let stains = match opts.stains {
            SynthStains::Default => {
                StainVectors::from_h_and_e(REFERENCE_HAEMATOXYLIN, REFERENCE_EOSIN)?
            }
            SynthStains::RuifrokJohnston => StainVectors::default_hed(),
            SynthStains::Perturbed { max_angle_deg } => perturbed_stains(seed, max_angle_deg)?,
        };

        let survey = survey(&layout, width_um, height_um, hotspot_rect_um);
        let tissue_area_mm2 = survey.tissue_area_mm2;
        let mut placer = Placer::new(scale, mpp);
        placer.place_all(
            opts,
            &layout,
            (width_um, height_um),
            &survey,
            hotspot_rect_um,
        );
        let mitoses_in_hotspot = hotspot_rect_um.map(|r| {
            placer
                .truth
                .iter()
                .filter(|t| t.kind == ObjectKind::MitoticFigure)
                .filter(|t| {
                    let (x, y) = (mpp.px_to_um(t.x_px), mpp.px_to_um(t.y_px));
                    x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1
                })
                .count()
        });
        let index = ObjectIndex::new(&placer.figures, scale.px(BUCKET_UM), opts);

        let fibre = Texture::new(
            subseed(seed, purpose::TEXTURE_FIBRE),
            512,
            &[
                Octave {
                    spacing_x: 128,
                    spacing_y: 8,
                    amplitude: 1.0,
                },
                Octave {
                    spacing_x: 64,
                    spacing_y: 4,
                    amplitude: 0.6,
                },
                Octave {
                    spacing_x: 32,
                    spacing_y: 2,
                    amplitude: 0.3,
                },
            ],
        );
        let iso = Texture::new(
            subseed(seed, purpose::TEXTURE_ISO),
            256,
            &[
                Octave {
                    spacing_x: 16,
                    spacing_y: 16,
                    amplitude: 1.0,
                },
                Octave {
                    spacing_x: 8,
                    spacing_y: 8,
                    amplitude: 0.7,
                },
                Octave {
                    spacing_x: 4,
                    spacing_y: 4,
                    amplitude: 0.5,
                },
                Octave {
                    spacing_x: 2,
                    spacing_y: 2,
                    amplitude: 0.3,
                },
            ],
        );
        let fibre_angle = unit_f64(subseed(seed, purpose::FIBRE_ANGLE)) * std::f64::consts::PI;
        let od_lut = (0..=(OD_LUT_MAX * OD_LUT_STEPS) as usize)
            .map(|i| (255.0 * 10f64.powf(-(i as f64) / OD_LUT_STEPS)) as f32)
            .collect();
        Ok(SynthScene {
            opts: opts.clone(),
            scale,
            layout,
            stains,
            truth: placer.truth,
            figures: placer.figures,
            index,
            fibre,
            iso,
            fibre_cos: fibre_angle.cos(),
            fibre_sin: fibre_angle.sin(),
            od_lut,
            blur: gaussian_kernel(mpp.um_to_px(BLUR_SIGMA_UM)),
            tissue_area_mm2,
            hotspot_rect_um,
            mitoses_in_hotspot,
        })
    }

    /// The options the scene was built from.
    pub fn options(&self) -> &SynthOptions {
        &self.opts
    }

    /// The ground truth: every mitotic figure and mimic, in placement order. Ordinary
    /// nuclei are not listed.
    pub fn truth(&self) -> &[TruthObject] {
        &self.truth
    }

    /// The stain vectors used for painting (rows: haematoxylin, eosin, residual; OD per
    /// unit concentration, RGB). Deconvolving with them recovers the painted
    /// concentrations up to blur, noise and 8-bit rounding.
    pub fn stain_vectors(&self) -> StainVectors {
        self.stains
    }

    /// Tissue area of the slide in mm² (measured on a 16 µm lattice).
    pub fn tissue_area_mm2(&self) -> f64 {
        self.tissue_area_mm2
    }

    /// The planted hot spot rectangle in level-0 pixels, if any.
    pub fn hotspot_rect_px(&self) -> Option<RectPx> {
        self.hotspot_rect_um.map(|r| RectPx {
            x0_px: self.opts.mpp.um_to_px(r.x0),
            y0_px: self.opts.mpp.um_to_px(r.y0),
            width_px: self.opts.mpp.um_to_px(r.x1 - r.x0),
            height_px: self.opts.mpp.um_to_px(r.y1 - r.y0),
        })
    }

    /// Number of mitotic figures whose truth point lies in the planted hot spot.
    pub fn mitoses_in_hotspot(&self) -> Option<usize> {
        self.mitoses_in_hotspot
    }

    /// Tissue coverage (0 = background or hole, 1 = tissue) at a level-0 point, from the
    /// smooth tissue field (without the sub-µm raggedness of the rendered edge).
    pub fn tissue_fraction_at(&self, x_px: f64, y_px: f64) -> f64 {
        let v = self
            .layout
            .at_um(self.opts.mpp.px_to_um(x_px), self.opts.mpp.px_to_um(y_px));
        smoothstep(-0.7, 0.7, v.tissue_sd_um)
    }

    /// Fraction of a level-0 rectangle covered by tissue, sampled on a lattice of about
    /// 8 µm (at least 16 x 16 samples).
    pub fn tissue_fraction_in(&self, rect: RectPx) -> f64 {
        let step_px = self.opts.mpp.um_to_px(NODE_SPACING_UM);
        let nx = ((rect.width_px / step_px).ceil() as usize).clamp(16, 4096);
        let ny = ((rect.height_px / step_px).ceil() as usize).clamp(16, 4096);
        let mut sum = 0.0;
        for j in 0..ny {
            for i in 0..nx {
                let x = rect.x0_px + (i as f64 + 0.5) * rect.width_px / nx as f64;
                let y = rect.y0_px + (j as f64 + 0.5) * rect.height_px / ny as f64;
                sum += self.tissue_fraction_at(x, y);
            }
        }
        sum / (nx * ny) as f64
    }

    /// Renders a rectangle of level 0 as 8-bit RGB, `width` x `height` px from
    /// `(x0_px, y0_px)`.
    ///
    /// Deterministic and seamless: every pixel is a pure function of its global position
    /// and the scene, so regions cut anywhere stitch to exactly the same image.
    /// Single-threaded; call it from several threads for different regions.
    pub fn render_region(&self, x0_px: u64, y0_px: u64, width: u32, height: u32) -> RgbImage {
        let radius = self.blur.len() / 2;
        let (w, h) = (width as usize, height as usize);
        let mut canvas = Canvas::new(
            x0_px as i64 - radius as i64,
            y0_px as i64 - radius as i64,
            w + 2 * radius,
            h + 2 * radius,
        );
        let mpp = self.opts.mpp;
        // Nuclei centred up to NUCLEUS_REACH_UM outside the canvas still touch it; their
        // fields are read up to 2 µm further (fibre direction). Anything outside the
        // cache falls back to direct evaluation, with identical values.
        let canvas_um = |margin_um: f64| RectUm {
            x0: mpp.px_to_um(canvas.x0 as f64) - margin_um,
            y0: mpp.px_to_um(canvas.y0 as f64) - margin_um,
            x1: mpp.px_to_um((canvas.x0 + canvas.width as i64) as f64) + margin_um,
            y1: mpp.px_to_um((canvas.y0 + canvas.height as i64) as f64) + margin_um,
        };
        let cache = NodeCache::new(&self.layout, canvas_um(NUCLEUS_REACH_UM + 3.0));
        let sites = Sites::new(self.opts.seed, canvas_um(NUCLEUS_REACH_UM));
        let mut alpha = vec![0f32; canvas.width * canvas.height];
        self.paint_background(&mut canvas, &mut alpha, &cache, &sites);

        let figures = self.index.query(
            &self.figures,
            canvas.x0 as f64 - self.scale.px(NUCLEUS_REACH_UM + CELL_UM),
            canvas.y0 as f64 - self.scale.px(NUCLEUS_REACH_UM + CELL_UM),
            (canvas.x0 + canvas.width as i64) as f64 + self.scale.px(NUCLEUS_REACH_UM + CELL_UM),
            (canvas.y0 + canvas.height as i64) as f64 + self.scale.px(NUCLEUS_REACH_UM + CELL_UM),
        );
        for &i in &figures {
            self.figures[i].paint_body(&mut canvas, &self.iso);
        }
        self.paint_nuclei(&mut canvas, &cache, &sites, &figures);
        for &i in &figures {
            self.figures[i].paint_chromatin(&mut canvas, &self.iso);
        }
        for ((hv, ev), a) in canvas.h.iter_mut().zip(canvas.e.iter_mut()).zip(&alpha) {
            *hv *= a;
            *ev *= a;
        }
        let hp = blur_crop(&canvas.h, canvas.width, canvas.height, &self.blur);
        let ep = blur_crop(&canvas.e, canvas.width, canvas.height, &self.blur);
        self.to_rgb(&hp, &ep, (x0_px, y0_px), (width, height))
    }

    /// Stroma, cytoplasm, cell borders and tissue coverage of every canvas pixel.
    fn paint_background(
        &self,
        canvas: &mut Canvas,
        alpha: &mut [f32],
        cache: &NodeCache,
        sites: &Sites,
    ) {
        let mpp = self.opts.mpp.um_per_px();
        for row in 0..canvas.height {
            let y_um = ((canvas.y0 + row as i64) as f64 + 0.5) * mpp;
            for col in 0..canvas.width {
                let x_um = ((canvas.x0 + col as i64) as f64 + 0.5) * mpp;
                let k = row * canvas.width + col;
                let f = cache.at_um(&self.layout, x_um, y_um);
                // Ragged edge at the µm scale on top of the smooth outline.
                let edge = f.tissue_sd_um + 1.6 * self.iso.sample(x_um / 0.7 + 91.0, y_um / 0.7);
                let a = smoothstep(-0.7, 0.7, edge);
                alpha[k] = a as f32;
                if a <= 0.0 {
                    continue;
                }
                let (h, e) = self.tissue_od(&f, x_um, y_um, sites);
                canvas.h[k] = h as f32;
                canvas.e[k] = e as f32;
            }
        }
    }

    /// Haematoxylin and eosin OD of the extracellular tissue at a point: collagen fibres
    /// in stroma, cytoplasm with cell borders in cellular areas.
    #[inline]
    fn tissue_od(&self, f: &FieldValues, x_um: f64, y_um: f64, sites: &Sites) -> (f64, f64) {
        // Collagen: an anisotropic texture, rotated and warped so the fibres wave, over a
        // coarser isotropic mottle; clefts (thin clear gaps between bundles) only where
        // the fibre texture is at its lowest.
        let qx = x_um + f.warp_x_um;
        let qy = y_um + f.warp_y_um;
        let fu = (self.fibre_cos * qx + self.fibre_sin * qy) / 0.25;
        let fv = (-self.fibre_sin * qx + self.fibre_cos * qy) / 0.25;
        let fibre = self.fibre.sample(fu, fv);
        let blotch = self.iso.sample(x_um / 2.5 + 53.0, y_um / 2.5 - 17.0);
        let cleft = smoothstep(1.6, 2.3, -fibre) * smoothstep(-0.3, 0.5, blotch);
        let stroma_e = 0.42 * (1.0 + 0.11 * fibre + 0.13 * blotch) * (1.0 - 0.6 * cleft);
        let stroma_h = 0.05 * (1.0 + 0.2 * blotch) * (1.0 - 0.6 * cleft);

        // Cytoplasm: granular, purple-pink, with faint cell borders (Voronoi edges between
        // the cell centres), a few retracted into thin clear gaps.
        let mottle = self.iso.sample(x_um / 0.6, y_um / 0.6 + 37.0);
        let mut cyto_e = 0.30 + 0.05 * mottle + f.spindle * 0.05 * fibre;
        let mut cyto_h = 0.12 + 0.025 * mottle;
        let border_um = sites.border_distance_um(x_um, y_um);
        let border = (1.0 - smoothstep(0.1, 0.55, border_um)) * (1.0 - 0.8 * f.spindle);
        if border > 0.0 {
            let gap = smoothstep(0.6, 1.3, self.iso.sample(x_um / 3.0 + 11.0, y_um / 3.0));
            cyto_e += border * (0.07 * (1.0 - gap) - 0.2 * gap);
            cyto_h *= 1.0 - 0.7 * border * gap;
        }
        let c = f.cellularity;
        let h = (stroma_h + c * (cyto_h - stroma_h)) * f.stain_h;
        let e = (stroma_e + c * (cyto_e - stroma_e)) * f.stain_e;
        (h.max(0.0), e.max(0.0))
    }

    /// Ordinary nuclei: one candidate per lattice cell, kept or not by the local
    /// cellularity, shaped by the local tissue type, never within a truth object's
    /// exclusion zone.
    fn paint_nuclei(
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
            // Fibroblast in stroma: thin, dark, wavy, along the fibres.
            a_um = 3.5 + 2.0 * roll();
            b_um = 0.9 + 0.6 * roll();
            angle = fibre_angle() + 0.2 * (roll() - 0.5);
            od = 0.62 + 0.2 * roll();
            tex = 0.15;
            membrane = 0.0;
            nucleolus_p = 0.0;
            bend = 0.06 * (roll() - 0.5);
        } else if roll() < f.spindle {
            // Spindle tumour cell: cigar-shaped, blunt, aligned in fascicles.
            a_um = 4.3 + 1.7 * roll();
            b_um = 1.6 + 0.9 * roll();
            angle = fibre_angle() + 0.3 * (roll() - 0.5);
            od = 0.42 + 0.2 * roll();
            tex = 0.3;
            membrane = 0.16;
            nucleolus_p = 0.25;
            bend = 0.03 * (roll() - 0.5);
        } else {
            // Epithelioid tumour cell: round to oval, vesicular, membrane and nucleolus.
            a_um = 3.5 + 2.5 * roll();
            b_um = (a_um / (1.0 + 0.45 * roll())).max(2.7);
            angle = std::f64::consts::PI * roll();
            od = 0.32 + 0.18 * roll();
            tex = 0.45;
            membrane = 0.25;
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
            (
                d * ang.cos(),
                d * ang.sin(),
                s.px(0.45 + 0.4 * roll()),
                0.45,
            )
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
            texture_scale: self.opts.mpp.um_per_px() / CHROMATIN_TEXEL_UM,
            texture_offset: (512.0 * roll(), 512.0 * roll()),
            membrane_od: membrane,
            membrane_px: s.px(0.45).max(1.0),
            nucleolus,
            eosin_drop: 0.55,
        })
    }

    /// Optical density -> RGB with the stain vectors, background, and sensor noise.
    fn to_rgb(&self, hp: &[f32], ep: &[f32], origin: (u64, u64), size: (u32, u32)) -> RgbImage {
        let (w, h) = (size.0 as usize, size.1 as usize);
        let hv = self.stains.haematoxylin;
        let ev = self.stains.eosin;
        let noise_seed = subseed(self.opts.seed, purpose::NOISE);
        let lut_max = (self.od_lut.len() - 1) as f64;
        let mut out = vec![0u8; w * h * 3];
        for row in 0..h {
            let y = origin.1 as i64 + row as i64;
            for col in 0..w {
                let x = origin.0 as i64 + col as i64;
                let k = row * w + col;
                let (hc, ec) = (f64::from(hp[k]), f64::from(ep[k]));
                let n = hash2(noise_seed, x, y);
                for ch in 0..3 {
                    let od = hc * hv[ch] + ec * ev[ch] + BACKGROUND_OD[ch];
                    let idx = (od * OD_LUT_STEPS).clamp(0.0, lut_max) as usize;
                    let u1 = ((n >> (ch * 20)) & 0x3ff) as f64 / 1024.0;
                    let u2 = ((n >> (ch * 20 + 10)) & 0x3ff) as f64 / 1024.0;
                    let noisy = f64::from(self.od_lut[idx]) + (u1 + u2 - 1.0) * NOISE_LEVELS;
                    out[k * 3 + ch] = (noisy + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
        }
        // The buffer has exactly width * height * 3 bytes, so this cannot fail.
        RgbImage::from_raw(size.0, size.1, out).unwrap_or_else(|| RgbImage::new(size.0, size.1))
    }
}

/// Least distance from the tissue edge (µm) at which a mitosis is placed.
const MITOSIS_EDGE_UM: f64 = 16.0;
/// Least distance from the tissue edge (µm) at which a mimic is placed.
const MIMIC_EDGE_UM: f64 = 6.0;

/// What the placement needs to know about the whole slide, measured on a 16 µm lattice.
#[derive(Debug, Clone, Copy)]
struct Survey {
    /// Tissue area, mm².
    tissue_area_mm2: f64,
    /// Mean lymphocyte attraction over tissue.
    mean_lymph: f64,
    /// Per unit of tissue outside the hot spot: the mean of cellularity over the places
    /// at least [`MITOSIS_EDGE_UM`] inside the tissue (0 elsewhere). Thinning a uniform
    /// process by cellularity and by that margin keeps this fraction of it, so dividing
    /// the candidate density by it gives the requested density per mm² of tissue.
    mitosis_yield: f64,
    /// The same for tumour-cell mimics, at [`MIMIC_EDGE_UM`].
    mimic_yield: f64,
    /// The fraction of tissue at least [`MIMIC_EDGE_UM`] inside it (for lymphocytes).
    lymph_yield: f64,
}

fn survey(layout: &Layout, width_um: f64, height_um: f64, hotspot: Option<RectUm>) -> Survey {
    let step = 2.0 * NODE_SPACING_UM;
    let ni = (width_um / step).ceil().max(1.0) as i64;
    let nj = (height_um / step).ceil().max(1.0) as i64;
    let (mut tissue, mut lymph, mut lymph_ok) = (0u64, 0.0, 0u64);
    let (mut outside, mut mitosis, mut mimic) = (0u64, 0.0, 0.0);
    for j in 0..nj {
        for i in 0..ni {
            let v = layout.node(2 * i, 2 * j);
            if v.tissue_sd_um <= 0.0 {
                continue;
            }
            tissue += 1;
            lymph += v.lymph;
            lymph_ok += u64::from(v.tissue_sd_um >= MIMIC_EDGE_UM);
            let (x, y) = (i as f64 * step, j as f64 * step);
            if hotspot.is_none_or(|r| r.distance_um(x, y) > 0.0) {
                outside += 1;
                if v.tissue_sd_um >= MITOSIS_EDGE_UM {
                    mitosis += v.cellularity;
                }
                if v.tissue_sd_um >= MIMIC_EDGE_UM {
                    mimic += v.cellularity;
                }
            }
        }
    }
    let cell_mm2 = step * step / UM2_PER_MM2;
    let mean = |sum: f64, n: u64| if n > 0 { sum / n as f64 } else { 0.0 };
    Survey {
        tissue_area_mm2: (tissue as f64 * cell_mm2).min(width_um * height_um / UM2_PER_MM2),
        mean_lymph: mean(lymph, tissue),
        mitosis_yield: mean(mitosis, outside),
        mimic_yield: mean(mimic, outside),
        lymph_yield: mean(lymph_ok as f64, tissue),
    }
}

/// Rotates `v` by a random angle in `[max/2, max]` degrees about a random axis
/// perpendicular to it, keeping components positive.
fn perturb(v: [f64; 3], rng: &mut Pcg64, max_angle_deg: f64) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let u = v.map(|c| c / n);
    // Two unit vectors perpendicular to u.
    let helper = if u[0].abs() < 0.9 {
        [1.0, 0.0, 0.0]
    } else {
        [0.0, 1.0, 0.0]
    };
    let cross = |a: [f64; 3], b: [f64; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let p = cross(u, helper);
    let pn = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
    let p = p.map(|c| c / pn);
    let q = cross(u, p);
    let phi: f64 = rng.random_range(0.0..std::f64::consts::TAU);
    let axis_dir = [0, 1, 2].map(|i| phi.cos() * p[i] + phi.sin() * q[i]);
    let angle = max_angle_deg.to_radians() * rng.random_range(0.5..=1.0);
    // Rotating u towards axis_dir (a unit vector perpendicular to u) by `angle`.
    [0, 1, 2].map(|i| (angle.cos() * u[i] + angle.sin() * axis_dir[i]).max(0.01))
}

/// Stain vectors rotated away from the reference ones by up to `max_angle_deg`, from the
/// seed.
fn perturbed_stains(seed: u64, max_angle_deg: f64) -> Result<StainVectors> {
    let mut rng = Pcg64::seed_from_u64(subseed(seed, purpose::STAINS));
    let h = perturb(REFERENCE_HAEMATOXYLIN, &mut rng, max_angle_deg);
    let e = perturb(REFERENCE_EOSIN, &mut rng, max_angle_deg);
    StainVectors::from_h_and_e(h, e)
}

/// A normalised Gaussian kernel of standard deviation `sigma_px` (radius 3 sigma); a
/// single tap when sigma is below a quarter pixel.
fn gaussian_kernel(sigma_px: f64) -> Vec<f32> {
    if sigma_px < 0.25 {
        return vec![1.0];
    }
    let radius = (3.0 * sigma_px).ceil() as i64;
    let raw: Vec<f64> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma_px * sigma_px)).exp())
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|v| (v / sum) as f32).collect()
}

/// Separable blur of a `width` x `height` plane, dropping the kernel radius on each side.
///
/// Loops run tap by tap over whole rows so they vectorise; each output pixel still sums
/// its taps in the same order, so the result does not depend on the plane's extent.
fn blur_crop(plane: &[f32], width: usize, height: usize, kernel: &[f32]) -> Vec<f32> {
    let r = kernel.len() / 2;
    let (ow, oh) = (width - 2 * r, height - 2 * r);
    let mut tmp = vec![0f32; ow * height];
    for y in 0..height {
        let src = &plane[y * width..(y + 1) * width];
        let dst = &mut tmp[y * ow..(y + 1) * ow];
        for (t, &kv) in kernel.iter().enumerate() {
            for (d, &s) in dst.iter_mut().zip(&src[t..t + ow]) {
                *d += kv * s;
            }
        }
    }
    let mut out = vec![0f32; ow * oh];
    for y in 0..oh {
        let dst = &mut out[y * ow..(y + 1) * ow];
        for (t, &kv) in kernel.iter().enumerate() {
            let src = &tmp[(y + t) * ow..(y + t + 1) * ow];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d += kv * s;
            }
        }
    }
    out
}

/// Centre points of the jittered cell lattice over a rectangle (with one cell of
/// margin), for nuclei and for the cell borders between them.
struct Sites {
    i0: i64,
    j0: i64,
    ni: usize,
    nj: usize,
    points: Vec<(f64, f64, u64)>,
}

impl Sites {
    fn new(seed: u64, r: RectUm) -> Sites {
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
    fn border_distance_um(&self, x_um: f64, y_um: f64) -> f64 {
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

/// Ground-truth figures bucketed by centre for region queries (compressed rows).
#[derive(Debug, Clone)]
struct ObjectIndex {
    bucket_px: f64,
    nx: usize,
    ny: usize,
    starts: Vec<u32>,
    items: Vec<u32>,
    max_reach_px: f64,
}

impl ObjectIndex {
    fn new(figures: &[Figure], bucket_px: f64, opts: &SynthOptions) -> ObjectIndex {
        let nx = ((opts.width_px as f64 / bucket_px).ceil() as usize).max(1);
        let ny = ((opts.height_px as f64 / bucket_px).ceil() as usize).max(1);
        let bucket_of = |f: &Figure| {
            let bx = ((f.cx / bucket_px).floor().max(0.0) as usize).min(nx - 1);
            let by = ((f.cy / bucket_px).floor().max(0.0) as usize).min(ny - 1);
            by * nx + bx
        };
        let mut counts = vec![0u32; nx * ny + 1];
        for f in figures {
            counts[bucket_of(f) + 1] += 1;
        }
        for b in 0..nx * ny {
            counts[b + 1] += counts[b];
        }
        let starts = counts.clone();
        let mut fill = counts;
        let mut items = vec![0u32; figures.len()];
        for (i, f) in figures.iter().enumerate() {
            let b = bucket_of(f);
            items[fill[b] as usize] = i as u32;
            fill[b] += 1;
        }
        let max_reach_px = figures
            .iter()
            .map(|f| f.reach_px.max(f.exclusion_px))
            .fold(0.0, f64::max);
        ObjectIndex {
            bucket_px,
            nx,
            ny,
            starts,
            items,
            max_reach_px,
        }
    }

    /// Indices (ascending) of the figures that may touch the rectangle `[x0, x1) x [y0, y1)`.
    fn query(&self, figures: &[Figure], x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<usize> {
        let m = self.max_reach_px;
        let bx0 = ((x0 - m) / self.bucket_px).floor().max(0.0) as usize;
        let by0 = ((y0 - m) / self.bucket_px).floor().max(0.0) as usize;
        let bx1 = (((x1 + m) / self.bucket_px).floor().max(0.0) as usize).min(self.nx - 1);
        let by1 = (((y1 + m) / self.bucket_px).floor().max(0.0) as usize).min(self.ny - 1);
        let mut out = Vec::new();
        if bx0 > bx1 || by0 > by1 {
            return out;
        }
        for by in by0..=by1 {
            for bx in bx0..=bx1 {
                let b = by * self.nx + bx;
                for &i in &self.items[self.starts[b] as usize..self.starts[b + 1] as usize] {
                    let f = &figures[i as usize];
                    let r = f.reach_px.max(f.exclusion_px);
                    if f.cx + r >= x0 && f.cx - r <= x1 && f.cy + r >= y0 && f.cy - r <= y1 {
                        out.push(i as usize);
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }
}

/// Places the ground-truth objects one kind after another, each from its own random
/// stream, rejecting positions outside tissue or overlapping an earlier object.
struct Placer {
    scale: Scale,
    mpp: Mpp,
    truth: Vec<TruthObject>,
    figures: Vec<Figure>,
    buckets: HashMap<(i64, i64), Vec<usize>>,
    bucket_px: f64,
    max_exclusion_px: f64,
}

impl Placer {
    fn new(scale: Scale, mpp: Mpp) -> Placer {
        Placer {
            scale,
            mpp,
            truth: Vec::new(),
            figures: Vec::new(),
            buckets: HashMap::new(),
            bucket_px: scale.px(32.0),
            max_exclusion_px: 0.0,
        }
    }

    /// Places every kind. Mitoses, pyknotic and hyperchromatic nuclei belong to tumour
    /// cells: they are placed where the tissue is cellular, away from its edges (thinning
    /// a uniform process by cellularity and edge distance, with proportionally more
    /// candidates, so the mean density over all tissue is the one asked for). Inside a planted hot spot, which is fully cellular, mitoses are
    /// uniform at the hot spot's density.
    fn place_all(
        &mut self,
        opts: &SynthOptions,
        layout: &Layout,
        (width_um, height_um): (f64, f64),
        survey: &Survey,
        hotspot: Option<RectUm>,
    ) {
        let seed = opts.seed;
        let slide_mm2 = width_um * height_um / UM2_PER_MM2;
        let whole = RectUm {
            x0: 0.0,
            y0: 0.0,
            x1: width_um,
            y1: height_um,
        };
        let inside = |r: &RectUm, x: f64, y: f64| x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1;
        let mitosis_boost = 1.0 / survey.mitosis_yield.max(0.05);
        let mimic_boost = 1.0 / survey.mimic_yield.max(0.05);
        let lymph_boost = 1.0 / survey.lymph_yield.max(0.05);

        let mut rng = Pcg64::seed_from_u64(subseed(seed, purpose::PLACE_MITOSES));
        for _ in 0..poisson(&mut rng, opts.mitoses_per_mm2 * mitosis_boost * slide_mm2) {
            let (x, y) = uniform_in(&mut rng, &whole);
            let keep: f64 = rng.random();
            if hotspot.is_some_and(|r| inside(&r, x, y)) || keep >= layout.at_um(x, y).cellularity {
                continue;
            }
            self.try_place(&mut rng, layout, ObjectKind::MitoticFigure, (x, y));
        }
        if let (Some(r), Some(h)) = (hotspot, opts.hotspot.as_ref()) {
            let mut rng = Pcg64::seed_from_u64(subseed(seed, purpose::PLACE_HOTSPOT));
            let area_mm2 = (r.x1 - r.x0) * (r.y1 - r.y0) / UM2_PER_MM2;
            for _ in 0..poisson(&mut rng, h.mitoses_per_mm2 * area_mm2) {
                let p = uniform_in(&mut rng, &r);
                self.try_place(&mut rng, layout, ObjectKind::MitoticFigure, p);
            }
        }
        for (kind, density, p) in [
            (
                ObjectKind::Hyperchromatic,
                opts.hyperchromatic_per_mm2,
                purpose::PLACE_HYPER,
            ),
            (
                ObjectKind::Pyknotic,
                opts.pyknotic_per_mm2,
                purpose::PLACE_PYKNOTIC,
            ),
        ] {
            let mut rng = Pcg64::seed_from_u64(subseed(seed, p));
            for _ in 0..poisson(&mut rng, density * mimic_boost * slide_mm2) {
                let (x, y) = uniform_in(&mut rng, &whole);
                let keep: f64 = rng.random();
                if keep < layout.at_um(x, y).cellularity {
                    self.try_place(&mut rng, layout, kind, (x, y));
                }
            }
        }
        // Lymphocytes: a third scattered, two thirds gathered where the lymphocyte field
        // is high (thinning of a denser uniform process), for the requested mean density.
        let mut rng = Pcg64::seed_from_u64(subseed(seed, purpose::PLACE_LYMPH));
        let scattered = opts.lymphocytes_per_mm2 / 3.0 * lymph_boost;
        for _ in 0..poisson(&mut rng, scattered * slide_mm2) {
            let pos = uniform_in(&mut rng, &whole);
            self.try_place(&mut rng, layout, ObjectKind::Lymphocyte, pos);
        }
        if survey.mean_lymph > 0.01 {
            let gathered = opts.lymphocytes_per_mm2 * 2.0 / 3.0 / survey.mean_lymph * lymph_boost;
            for _ in 0..poisson(&mut rng, gathered * slide_mm2) {
                let (x, y) = uniform_in(&mut rng, &whole);
                let keep: f64 = rng.random();
                if keep < layout.at_um(x, y).lymph {
                    self.try_place(&mut rng, layout, ObjectKind::Lymphocyte, (x, y));
                }
            }
        }
    }

    /// Places one object of `kind` at `(x_um, y_um)` if it lies well inside tissue and
    /// clear of earlier objects. Always draws the same random numbers, placed or not.
    fn try_place(
        &mut self,
        rng: &mut Pcg64,
        layout: &Layout,
        kind: ObjectKind,
        (x_um, y_um): (f64, f64),
    ) {
        let phase = (kind == ObjectKind::MitoticFigure).then(|| {
            let r: f64 = rng.random();
            match r {
                r if r < 0.28 => MitoticPhase::Prophase,
                r if r < 0.62 => MitoticPhase::Metaphase,
                r if r < 0.76 => MitoticPhase::Anaphase,
                r if r < 0.90 => MitoticPhase::Telophase,
                _ => MitoticPhase::Atypical,
            }
        });
        let shape_seed: u64 = rng.random();
        let margin_um = match kind {
            ObjectKind::MitoticFigure => MITOSIS_EDGE_UM,
            _ => MIMIC_EDGE_UM,
        };
        if layout.at_um(x_um, y_um).tissue_sd_um < margin_um {
            return;
        }
        let (x_px, y_px) = (self.mpp.um_to_px(x_um), self.mpp.um_to_px(y_um));
        let fig = figure(kind, phase, (x_px, y_px), shape_seed, self.scale);
        let bx = (x_px / self.bucket_px).floor() as i64;
        let by = (y_px / self.bucket_px).floor() as i64;
        let reach = ((fig.exclusion_px + self.max_exclusion_px) / self.bucket_px).ceil() as i64;
        for j in by - reach..=by + reach {
            for i in bx - reach..=bx + reach {
                if let Some(list) = self.buckets.get(&(i, j)) {
                    for &o in list {
                        let other = &self.figures[o];
                        let d = ((other.cx - x_px).powi(2) + (other.cy - y_px).powi(2)).sqrt();
                        if d < other.exclusion_px + fig.exclusion_px {
                            return;
                        }
                    }
                }
            }
        }
        self.max_exclusion_px = self.max_exclusion_px.max(fig.exclusion_px);
        self.buckets
            .entry((bx, by))
            .or_default()
            .push(self.figures.len());
        self.truth.push(TruthObject {
            x_px,
            y_px,
            kind,
            phase,
        });
        self.figures.push(fig);
    }
}

/// A Poisson-distributed count with mean `lambda` (0 for non-positive means).
fn poisson(rng: &mut Pcg64, lambda: f64) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0;
    }
    match Poisson::new(lambda) {
        Ok(d) => {
            let v: f64 = d.sample(rng);
            v as u64
        }
        Err(_) => lambda.round() as u64,
    }
}

/// A uniform point in a rectangle (µm).
fn uniform_in(rng: &mut Pcg64, r: &RectUm) -> (f64, f64) {
    let u: f64 = rng.random();
    let v: f64 = rng.random();
    (r.x0 + u * (r.x1 - r.x0), r.y0 + v * (r.y1 - r.y0))
}

/// Validation helper: an error if the expected number of truth objects is excessive.
pub(crate) fn check_object_budget(opts: &SynthOptions) -> Result<()> {
    let area_mm2 = opts.mpp.px_to_um(opts.width_px as f64)
        * opts.mpp.px_to_um(opts.height_px as f64)
        / UM2_PER_MM2;
    let per_mm2 = opts.mitoses_per_mm2
        + opts.lymphocytes_per_mm2
        + opts.pyknotic_per_mm2
        + opts.hyperchromatic_per_mm2
        + opts.hotspot.as_ref().map_or(0.0, |h| h.mitoses_per_mm2);
    let expected = per_mm2 * area_mm2 * 2.0;
    if expected > 20_000_000.0 {
        return Err(Error::invalid_option(
            "--lymphocytes-per-mm2",
            format!(
                "the densities ask for about {expected:.0} ground-truth objects on {area_mm2:.1} mm²; \
                 at most 20 million are supported, lower the densities"
            ),
        ));
    }
    Ok(())
}
