//! [`SynthScene`]: a synthetic slide defined everywhere, with its ground truth, rendered
//! region by region.
//!
//! # Rooms
//! This file builds the scene (tissue layout, stain vectors, ground truth) and answers
//! questions about it, using every room below; each room uses only the rooms listed
//! after it (and this file's types and sub-seed purposes):
//! - `render`: any rectangle of level 0 as RGB: background, stroma and cytoplasm,
//!   optics and sensor noise; uses `nuclei` and `index`;
//! - `nuclei`: the ordinary nuclei and the jittered cell lattice that places them (and
//!   the cell borders between them);
//! - `index`: the ground-truth figures bucketed by centre, for region queries;
//! - `place`: where the ground-truth objects go (the slide's survey, the placement, the
//!   object budget).
//!
//! All rooms may use the sibling modules of `synth` (`fields`, `noise`, `objects`).

mod index;
mod nuclei;
mod place;
mod render;

pub(crate) use place::check_object_budget;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::fields::{Layout, RectUm, NODE_SPACING_UM};
use super::noise::{smoothstep, subseed, unit_f64, Octave, Texture};
use super::objects::{Figure, Scale};
use super::{
    ObjectKind, SynthOptions, SynthStains, TruthObject, REFERENCE_EOSIN, REFERENCE_HAEMATOXYLIN,
};
use crate::error::Result;
use crate::stain::StainVectors;
use index::{ObjectIndex, BUCKET_UM};
use place::{survey, Placer};
use render::{gaussian_kernel, BLUR_SIGMA_UM, OD_LUT_MAX, OD_LUT_STEPS};

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
    ///
    /// [`Error::InvalidOption`]: crate::error::Error::InvalidOption
    /// [`Error::Stain`]: crate::error::Error::Stain
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
