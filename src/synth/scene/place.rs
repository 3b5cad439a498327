//! Where the ground-truth objects go: the survey of the whole slide (tissue area and
//! the yields that correct densities for edges and cellularity), the placement of each
//! kind from its own random stream without overlaps, and the bound on the number of
//! objects the options may ask for.
//!
//! May use: the scene's sub-seed purposes (`super`) and the `synth` modules `fields`,
//! `noise` and `objects`.

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Poisson};
use rand_pcg::Pcg64;

use super::purpose;
use crate::error::{Error, Result};
use crate::synth::fields::{Layout, RectUm, NODE_SPACING_UM};
use crate::synth::noise::subseed;
use crate::synth::objects::{figure, Figure, Scale};
use crate::synth::{MitoticPhase, ObjectKind, SynthOptions, TruthObject};
use crate::units::{Mpp, UM2_PER_MM2};

/// Least distance from the tissue edge (µm) at which a mitosis is placed.
const MITOSIS_EDGE_UM: f64 = 16.0;
/// Least distance from the tissue edge (µm) at which a mimic is placed.
const MIMIC_EDGE_UM: f64 = 6.0;

/// What the placement needs to know about the whole slide, measured on a 16 µm lattice.
#[derive(Debug, Clone, Copy)]
pub(super) struct Survey {
    /// Tissue area, mm².
    pub(super) tissue_area_mm2: f64,
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

pub(super) fn survey(
    layout: &Layout,
    width_um: f64,
    height_um: f64,
    hotspot: Option<RectUm>,
) -> Survey {
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

/// Places the ground-truth objects one kind after another, each from its own random
/// stream, rejecting positions outside tissue or overlapping an earlier object.
pub(super) struct Placer {
    scale: Scale,
    mpp: Mpp,
    pub(super) truth: Vec<TruthObject>,
    pub(super) figures: Vec<Figure>,
    buckets: HashMap<(i64, i64), Vec<usize>>,
    bucket_px: f64,
    max_exclusion_px: f64,
}

impl Placer {
    pub(super) fn new(scale: Scale, mpp: Mpp) -> Placer {
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
    pub(super) fn place_all(
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
