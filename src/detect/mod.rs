//! Mitosis detection: blob candidates on the haematoxylin OD plane with their features in
//! physical units, a learned classifier's probability per candidate, and one call per
//! figure.
//!
//! # Steps ([`detect_field`] and [`cnn::Classifier::score_points`] per field, then
//! [`decide`] once per slide)
//! 1. The field's RGB is box-averaged to the working resolution (about 0.5 µm/px) on a
//!    grid anchored at level-0 (0, 0) and deconvolved into haematoxylin (H), eosin (E)
//!    and residual OD planes (Ruifrok & Johnston 2001; see [`crate::stain`]).
//! 2. Seeds: local maxima of the scale-normalised difference-of-Gaussians response of H
//!    maximised over scales matching figures 3 to 15 µm across (Lindeberg 1998; Lowe 2004;
//!    Al-Kofahi et al. 2010); see `blobs.rs`.
//! 3. Regions: around each seed, the connected pixels above half-way between the local
//!    background and the peak; features in µm, µm² and OD ([`Features`]).
//! 4. [`NucleusStats`]: histograms of the darkness of every nucleus-like blob in a field
//!    (for auditing and the development harness; the decision does not use them).
//! 5. [`cnn`]: the learned classifier looks at an RGB patch around each candidate at its
//!    own pixel size (the built-in model: 80 px at 0.25 µm/px, 20 µm) and gives the
//!    probability that it is a mitotic figure (the score).
//! 6. [`decide`]: a candidate whose probability reaches the threshold is a mitotic
//!    figure; calls closer than `pair_merge_um` (the halves of an anaphase) are merged.
//!
//! Rooms: `blobs`, `gaussian`, `planes` (candidates: scale space, seeds), `region`,
//! `fine`, `stats` (regions, features, the slide's nuclei), `cnn` (the classifier: model
//! loading, patches, inference; it uses nothing else of `detect`), `classify` (the
//! decision and pair merging), `evaluate` (matching against ground truth).
//!
//! # Field invariance
//! Every computation is finite-support and anchored to level-0 coordinates, so a field
//! read with a halo of [`halo_um`] gives bit-identical candidates in its core as a
//! whole-image run: the blur is an FIR filter (`gaussian.rs`), ties are broken by global
//! raster order, and sums over a region are taken in raster order relative to its seed.

mod blobs;
mod buffers;
mod classify;
pub mod cnn;
pub mod evaluate;
mod fine;
pub mod gaussian;
mod planes;
mod region;
mod stats;

pub use classify::{count_dark_neighbours, decide};
pub use stats::NucleusStats;

use crate::error::{Error, Result};
use crate::stain::Deconvolver;
use crate::units::Mpp;

use blobs::ScaleSpace;
use gaussian::{blur, Kernel};
use region::{RegionParams, RegionPlanes};

/// Options of the detector. Every size is in µm and converted to pixels once per field
/// from the field's pixel size; OD thresholds are either relative (fractions) or
/// deliberately lenient absolute floors: the decision is the classifier's ([`cnn`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectOptions {
    /// Working pixel size (µm/px). Finer fields are reduced by integer box averaging to
    /// the nearest multiple of their pixel size. Default 0.5 (20x equivalent): mitotic
    /// figures are >= 3 µm across, i.e. >= 6 working pixels.
    pub working_mpp_um: f64,
    /// Smallest blob diameter of the scale space (µm). Default 5: smaller figures are
    /// still found (at this scale), while finer scales mostly pick out chromatin granules
    /// of interphase nuclei, which multiplied candidates per nucleus and lowered precision
    /// on the tune split of the real-mitosis benchmark.
    pub min_figure_diameter_um: f64,
    /// Largest figure diameter the blob scales cover (µm). Default 15.
    pub max_figure_diameter_um: f64,
    /// Number of blob scales between the two diameters (geometric). Default 5.
    pub scales: usize,
    /// Pixel size of the plane blobs are sought on (µm/px): the working H plane box-
    /// averaged to about this (an integer factor, at least 1). Default 1: blobs of 5 µm
    /// and more are well sampled, and the blurs cost a quarter of the working resolution's.
    /// Regions and features are measured at the working resolution.
    pub seed_mpp_um: f64,
    /// Seeds closer than this to a stronger seed are suppressed (µm; half-side of the
    /// square of the local-maximum test). Default 4.
    pub seed_separation_um: f64,
    /// Smallest scale-normalised DoG response of a seed (H OD). About 0.74 times the OD
    /// contrast of a disc (Lindeberg's normalisation). Default 0.03: faint enough to keep
    /// every nucleus, whose statistics describe the slide.
    pub min_blob_response_od: f64,
    /// Sigma of the light smoothing of H used for region growing (µm). Default 0.5.
    pub region_smoothing_um: f64,
    /// Radius of the disc around a seed its region may occupy (µm). Default 8: half the
    /// largest figure plus a margin.
    pub region_radius_um: f64,
    /// Radius around a seed searched for the haematoxylin peak (µm). Default 1.5.
    pub peak_search_um: f64,
    /// Width of the ring around a region whose stain is measured (µm). Default 2.
    pub ring_width_um: f64,
    /// Region threshold position between local background (0) and peak (1). Default 0.6.
    pub region_fraction: f64,
    /// Threshold position of the outer region, which shows whether the dark region is a
    /// clump inside a larger nucleus (below `region_fraction`). Default 0.3.
    pub outer_fraction: f64,
    /// Width of the rim of the outer region compared with its interior (µm): the nuclear
    /// membrane of an interphase nucleus is darker than its inside. Default 1.
    pub rim_width_um: f64,
    /// Radius of the disc around a seed whose nuclei (outside the candidate's region and
    /// ring) describe its neighbourhood (µm). Default 12.
    pub context_radius_um: f64,
    /// Area of a region's dark core, whose mean H OD is [`Features::core_h_od`] (µm²).
    /// Default 5 (the smallest chromosome clump of a figure).
    pub core_area_um2: f64,
    /// Smallest region area kept (µm²). Default 5: below, noise specks (a 3 µm figure is
    /// 7 µm²).
    pub min_area_um2: f64,
    /// Blobs whose mean H OD is below this are counted in the slide's nucleus statistics
    /// but not returned as candidates. A lenient absolute floor (the faintest of 1,056
    /// tune-split real mitoses has 0.27 with the default stain vectors). Default 0.1.
    pub min_candidate_mean_h_od: f64,
    /// Blobs whose mean H OD is below this multiple of the 90th percentile of their
    /// neighbourhood ([`Features::context_h_p90_od`]) are not returned as candidates
    /// either: they are not among the darkest things around them, which every tune-split
    /// real mitosis is (lowest ratio 0.99). Keeps memory bounded on large slides
    /// (a candidate costs about 300 bytes). Default 0.9.
    pub min_candidate_context_ratio: f64,
    /// Two mitotic calls closer than this are one figure, counted once (µm): the two
    /// daughter chromosome sets of an anaphase or telophase, or pieces of one ring-shaped
    /// prometaphase or of a fragmented figure, which the classifier may each call.
    /// Default 20: on the tune split of the real crops, 20 rather than 12 cut the calls
    /// beside a figure from 140 to 24 per mm² (AtNorM-MD) at a recall of 0.896 instead of
    /// 0.910 (`docs/real-mitoses.md`); two dividing cells hardly sit closer.
    pub pair_merge_um: f64,
    /// Two merged calls at most this far apart (µm) are counted at their midpoint (the
    /// two daughter sets of one figure); farther apart, the merged call stays where the
    /// stronger one is (a figure and a piece of it). Default 12.
    pub pair_midpoint_um: f64,
    /// Radius within which [`decide`] counts a candidate's dark neighbours (µm).
    /// Default 20 (two or three cell diameters).
    pub neighbour_radius_um: f64,
    /// A neighbour is dark when its mean H OD is at least this multiple of the
    /// candidate's. Default 0.8.
    pub neighbour_darkness: f64,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            working_mpp_um: 0.5,
            min_figure_diameter_um: 5.0,
            max_figure_diameter_um: 15.0,
            scales: 5,
            seed_mpp_um: 1.0,
            seed_separation_um: 4.0,
            min_blob_response_od: 0.03,
            region_smoothing_um: 0.5,
            region_radius_um: 8.0,
            peak_search_um: 1.5,
            ring_width_um: 2.0,
            region_fraction: 0.6,
            outer_fraction: 0.3,
            rim_width_um: 1.0,
            context_radius_um: 12.0,
            core_area_um2: 5.0,
            min_area_um2: 5.0,
            min_candidate_mean_h_od: 0.1,
            min_candidate_context_ratio: 0.9,
            pair_merge_um: 20.0,
            pair_midpoint_um: 12.0,
            neighbour_radius_um: 20.0,
            neighbour_darkness: 0.8,
        }
    }
}

impl DetectOptions {
    /// Checks ranges and consistency.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the option (as `detect.<name>`) and its range.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, name: &str, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(Error::invalid_option(
                    format!("detect.{name}"),
                    what.to_string(),
                ))
            }
        };
        let pos = |v: f64| v.is_finite() && v > 0.0;
        check(
            pos(self.working_mpp_um) && self.working_mpp_um <= 2.0,
            "working_mpp_um",
            "must be in (0, 2] µm/px",
        )?;
        check(
            pos(self.min_figure_diameter_um)
                && self.max_figure_diameter_um.is_finite()
                && self.max_figure_diameter_um >= self.min_figure_diameter_um
                && self.max_figure_diameter_um <= 50.0,
            "max_figure_diameter_um",
            "figure diameters must satisfy 0 < min <= max <= 50 µm",
        )?;
        check((1..=16).contains(&self.scales), "scales", "must be 1 to 16")?;
        for (name, v, max) in [
            ("seed_separation_um", self.seed_separation_um, 20.0),
            ("region_smoothing_um", self.region_smoothing_um, 5.0),
            ("region_radius_um", self.region_radius_um, 40.0),
            ("peak_search_um", self.peak_search_um, 10.0),
            ("ring_width_um", self.ring_width_um, 10.0),
            ("context_radius_um", self.context_radius_um, 40.0),
            ("pair_merge_um", self.pair_merge_um, 50.0),
            ("pair_midpoint_um", self.pair_midpoint_um, 50.0),
            ("neighbour_radius_um", self.neighbour_radius_um, 100.0),
        ] {
            check(
                v.is_finite() && (0.0..=max).contains(&v),
                name,
                &format!("must be between 0 and {max} µm"),
            )?;
        }
        check(
            self.region_fraction > 0.0 && self.region_fraction < 1.0,
            "region_fraction",
            "must be strictly between 0 and 1",
        )?;
        check(
            self.outer_fraction > 0.0 && self.outer_fraction <= self.region_fraction,
            "outer_fraction",
            "must be in (0, region_fraction]",
        )?;
        check(
            self.rim_width_um.is_finite() && self.rim_width_um > 0.0 && self.rim_width_um <= 5.0,
            "rim_width_um",
            "must be in (0, 5] µm",
        )?;
        check(
            self.core_area_um2.is_finite()
                && self.core_area_um2 > 0.0
                && self.core_area_um2 <= 100.0,
            "core_area_um2",
            "must be in (0, 100] µm²",
        )?;
        check(
            self.min_area_um2.is_finite() && self.min_area_um2 >= 0.0,
            "min_area_um2",
            "must be >= 0 µm²",
        )?;
        check(
            self.min_blob_response_od.is_finite() && self.min_blob_response_od >= 0.0,
            "min_blob_response_od",
            "must be >= 0",
        )?;
        check(
            self.min_candidate_mean_h_od.is_finite() && self.min_candidate_mean_h_od >= 0.0,
            "min_candidate_mean_h_od",
            "must be >= 0",
        )?;
        check(
            self.min_candidate_context_ratio.is_finite() && self.min_candidate_context_ratio >= 0.0,
            "min_candidate_context_ratio",
            "must be >= 0",
        )?;
        check(
            self.neighbour_darkness.is_finite() && self.neighbour_darkness > 0.0,
            "neighbour_darkness",
            "must be > 0",
        )
    }

    /// Checks that a field pixel size is fine enough to see mitoses: at most 1 µm/px
    /// (10x); the working resolution is the field's when it is coarser than
    /// `working_mpp_um`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--mpp` when the pixels are coarser than 1 µm.
    pub fn check_mpp(&self, mpp: Mpp) -> Result<()> {
        if mpp.um_per_px() > 1.0 {
            return Err(Error::invalid_option(
                "--mpp",
                format!(
                    "{} µm/px is too coarse to judge mitoses (needs <= 1 µm/px, i.e. 10x or \
                     more; 0.25 µm/px = 40x is best)",
                    mpp.um_per_px()
                ),
            ));
        }
        Ok(())
    }

    /// The scale space in pixels of size `mpp`.
    fn scale_space(&self, mpp: Mpp) -> ScaleSpace {
        let to_sigma = |d_um: f64| mpp.um_to_px(0.5 * d_um / std::f64::consts::SQRT_2);
        ScaleSpace {
            min_sigma_px: to_sigma(self.min_figure_diameter_um),
            max_sigma_px: to_sigma(self.max_figure_diameter_um),
            scales: self.scales,
        }
    }

    fn region_params(&self, mpp: Mpp) -> RegionParams {
        let px = |um: f64| mpp.um_to_px(um).round().max(1.0) as usize;
        RegionParams {
            window_radius_px: px(self.region_radius_um),
            peak_radius_px: peak_search_px(self, mpp),
            ring_px: px(self.ring_width_um),
            fraction: self.region_fraction as f32,
            context_radius_px: px(self.context_radius_um),
            core_px: mpp.um2_to_px2(self.core_area_um2).round().max(1.0) as usize,
            outer_fraction: self.outer_fraction as f32,
            rim_px: px(self.rim_width_um),
        }
    }
}

fn peak_search_px(opts: &DetectOptions, mpp: Mpp) -> usize {
    mpp.um_to_px(opts.peak_search_um).round().max(0.0) as usize
}

/// How far (µm) beyond a field's core the pixels that decide its core's candidates can
/// lie. A field read with at least this halo on every side gives, for the candidates whose
/// centre lies in its core, exactly the detections of a whole-image run.
///
/// Sum of: the region disc (a candidate's centre can lie up to `region_radius_um` from its
/// seed), twice the peak search radius (duplicate seeds), and the larger of (a) the seed
/// test (`seed_separation_um` plus the largest blur kernel's reach, `3 sigma`, plus two
/// seed pixels) and (b) the region measurement (disc and ring, or the context disc, plus
/// the light smoothing), plus a few working pixels of grid alignment. Pair merging
/// happens over the whole slide in [`decide`] and needs no halo.
pub fn halo_um(opts: &DetectOptions) -> f64 {
    let largest_blur_um = {
        let unit = Mpp::new_unchecked_range(1.0).ok();
        unit.map_or(0.0, |m| {
            let s = opts.scale_space(m);
            s.blur_sigmas_px().last().copied().unwrap_or(0.0)
        })
    };
    let seed_reach_um = opts.seed_separation_um
        + gaussian::TRUNCATE_SIGMA * largest_blur_um
        + 2.0 * opts.seed_mpp_um;
    let region_reach_um = (opts.region_radius_um + opts.ring_width_um).max(opts.context_radius_um)
        + gaussian::TRUNCATE_SIGMA * opts.region_smoothing_um;
    // Rounding sizes to whole working pixels and the grid alignment cost at most a few
    // working pixels.
    let rounding_um = 4.0 * opts.working_mpp_um;
    // Two seeds that reach the same haematoxylin peak are one candidate: the decision
    // looks as far as twice the peak search radius.
    opts.region_radius_um
        + 2.0 * opts.peak_search_um
        + seed_reach_um.max(region_reach_um)
        + rounding_um
}

/// An RGB region of a slide: pixel `(col, row)` of `rgb` covers level-0 pixels from
/// `origin + (col, row) * downsample`.
#[derive(Debug, Clone, Copy)]
pub struct FieldImage<'a> {
    /// The pixels.
    pub rgb: &'a image::RgbImage,
    /// Level-0 x of the left edge of `rgb`'s column 0.
    pub origin_x_px: f64,
    /// Level-0 y of the top edge of `rgb`'s row 0.
    pub origin_y_px: f64,
    /// Level-0 pixels per `rgb` pixel (1 for a level-0 read).
    pub downsample: f64,
    /// µm per pixel of `rgb` (level-0 MPP times `downsample`).
    pub mpp: Mpp,
}

/// Whether a candidate is called a mitotic figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Class {
    /// Score at or above the threshold (and not absorbed into a pair).
    MitoticFigure,
    /// Everything else.
    NonMitoticFigure,
}

impl Class {
    /// The label used in tables: `mitotic figure` or `non-mitotic figure` (MIDOG's).
    pub fn label(self) -> &'static str {
        match self {
            Class::MitoticFigure => "mitotic figure",
            Class::NonMitoticFigure => "non-mitotic figure",
        }
    }
}

/// How a candidate took part in anaphase/telophase pair merging.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Pairing {
    /// Not paired.
    Single,
    /// This candidate stands for a pair: its position was moved to the midpoint; the other
    /// half was at `(partner_x_px, partner_y_px)` (level 0).
    Merged {
        /// Level-0 x of the other half.
        partner_x_px: f64,
        /// Level-0 y of the other half.
        partner_y_px: f64,
    },
    /// This candidate is the other half of a pair counted at `(x_px, y_px)`; its class
    /// is [`Class::NonMitoticFigure`] although its score may be high.
    Absorbed {
        /// Level-0 x of the pair's position.
        x_px: f64,
        /// Level-0 y of the pair's position.
        y_px: f64,
    },
}

/// Measurements of one candidate in physical units. OD values are haematoxylin (H) or
/// eosin (E) optical densities in log10 units per working pixel (0.5 µm box averages by
/// default).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Features {
    /// Region area (µm²).
    pub area_um2: f64,
    /// Mean H OD over the region.
    pub mean_h_od: f64,
    /// Peak of the lightly smoothed H OD near the seed.
    pub max_h_od: f64,
    /// Local background H OD: 25th percentile of smoothed H in the region disc.
    pub background_h_od: f64,
    /// Mean H OD in the ring around the region (`ring_width_um` wide).
    pub ring_h_od: f64,
    /// Mean E OD in the ring: eosinophilic cytoplasm around pyknotic and apoptotic
    /// nuclei is high, the clear cytoplasm of a dividing cell low.
    pub ring_e_od: f64,
    /// Median lightly smoothed H OD within `context_radius_um` of the seed, outside the
    /// region and its ring: the local tissue level.
    pub context_h_p50_od: f64,
    /// 90th percentile of the same: the darkness of the neighbouring nuclei, so that a
    /// candidate is also judged against its own neighbourhood.
    pub context_h_p90_od: f64,
    /// Fraction of the context disc (outside region and ring) at least as dark as the
    /// region's mean H: about 0 for the darkest object around, more for an ordinary
    /// nucleus among similar ones.
    pub context_darker_fraction: f64,
    /// Mean H OD of the region's darkest `core_area_um2` (all of it if smaller): the
    /// density of the most condensed chromatin.
    pub core_h_od: f64,
    /// Area of the outer region (threshold at `outer_fraction` between background and
    /// peak) over the region's: near 1 for a figure in clear cytoplasm, large for a
    /// chromatin clump inside an interphase nucleus.
    pub outer_area_ratio: f64,
    /// Area of the outer region (µm²): the whole nucleus or cell around a dark core.
    pub outer_area_um2: f64,
    /// Integrated haematoxylin above the local background over the outer region (OD µm²):
    /// a proxy of the DNA content (H&E is not stoichiometric, so only relative to the
    /// slide's nuclei; a dividing cell holds twice the DNA of its G1 neighbours, a
    /// lymphocyte less than a tumour nucleus).
    pub integrated_h_od_um2: f64,
    /// Elongation of the outer region (>= 1).
    pub outer_elongation: f64,
    /// Solidity of the outer region (0..=1).
    pub outer_solidity: f64,
    /// Perimeter over convex-hull perimeter of the outer region: smooth round nuclei
    /// (lymphocytes, pyknotic nuclei) near 1, ragged figures more.
    pub outer_irregularity: f64,
    /// Mean H of the outer region's rim (`rim_width_um`) over that of its interior: above
    /// 1 for a nucleus with a membrane, below for a figure (which has none).
    pub membrane_ratio: f64,
    /// Chromatin granularity: mean |Laplacian| of lightly smoothed H over the region
    /// per unit of its mean H (per working pixel²).
    pub granularity: f64,
    /// Mean E OD over the region.
    pub mean_e_od: f64,
    /// Mean residual OD over the region: neither H nor E (black ink, debris, padding).
    pub residual_od: f64,
    /// Major over minor axis of the region's inertia ellipse (>= 1).
    pub elongation: f64,
    /// Region area over its convex hull area (0..=1).
    pub solidity: f64,
    /// Region perimeter over convex-hull perimeter (about 1 for smooth convex outlines,
    /// more for ragged or hairy ones).
    pub boundary_irregularity: f64,
    /// Chromatin texture: standard deviation of H OD in the region over its mean.
    pub texture_h_cv: f64,
    /// Mean gradient of smoothed H OD across the region's boundary (OD per µm).
    pub edge_gradient_od_per_um: f64,
    /// Scale-normalised DoG response at the seed (OD).
    pub blob_response_od: f64,
    /// Radius of the best blob scale, `sqrt(2) sigma` (µm).
    pub blob_radius_um: f64,
    /// 1 when the region filled its disc (a dark clump larger than a figure), else 0.
    pub clipped: f64,
    /// Other candidates within `neighbour_radius_um` at least `neighbour_darkness` times
    /// as dark (mean H): set by [`decide`] over the whole slide (0 before).
    pub dark_neighbours: f64,
    /// Outline roughness at native resolution: boundary length over the inertia-ellipse
    /// perimeter (1 = smooth disc or oval; ragged figures more). See `fine.rs`.
    pub fine_roughness: f64,
    /// Solidity at native resolution (0..=1).
    pub fine_solidity: f64,
    /// CV of the ellipse-normalised boundary radii at native resolution (0 = ellipse).
    pub fine_radial_cv: f64,
    /// Mean H in a 0.5-2 µm ring outside the native outline over the outline's mean H.
    pub fine_halo_ratio: f64,
    /// Area inside the native outline (µm²; 0 when it could not be measured).
    pub fine_area_um2: f64,
}

impl Features {
    /// Names (with units) and values, in a fixed order, for table and GeoJSON columns.
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("area_um2", self.area_um2),
            ("mean_h_od", self.mean_h_od),
            ("max_h_od", self.max_h_od),
            ("background_h_od", self.background_h_od),
            ("ring_h_od", self.ring_h_od),
            ("ring_e_od", self.ring_e_od),
            ("context_h_p50_od", self.context_h_p50_od),
            ("context_h_p90_od", self.context_h_p90_od),
            ("context_darker_fraction", self.context_darker_fraction),
            ("core_h_od", self.core_h_od),
            ("outer_area_ratio", self.outer_area_ratio),
            ("outer_area_um2", self.outer_area_um2),
            ("integrated_h_od_um2", self.integrated_h_od_um2),
            ("outer_elongation", self.outer_elongation),
            ("outer_solidity", self.outer_solidity),
            ("outer_irregularity", self.outer_irregularity),
            ("membrane_ratio", self.membrane_ratio),
            ("granularity", self.granularity),
            ("mean_e_od", self.mean_e_od),
            ("residual_od", self.residual_od),
            ("elongation", self.elongation),
            ("solidity", self.solidity),
            ("boundary_irregularity", self.boundary_irregularity),
            ("texture_h_cv", self.texture_h_cv),
            ("edge_gradient_od_per_um", self.edge_gradient_od_per_um),
            ("blob_response_od", self.blob_response_od),
            ("blob_radius_um", self.blob_radius_um),
            ("clipped", self.clipped),
            ("dark_neighbours", self.dark_neighbours),
            ("fine_roughness", self.fine_roughness),
            ("fine_solidity", self.fine_solidity),
            ("fine_radial_cv", self.fine_radial_cv),
            ("fine_halo_ratio", self.fine_halo_ratio),
            ("fine_area_um2", self.fine_area_um2),
        ]
    }
}

/// One candidate figure.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// Level-0 x of the region's centroid (pixel centres at `i + 0.5`).
    pub x_px: f64,
    /// Level-0 y of the region's centroid.
    pub y_px: f64,
    /// `x_px` in µm (level-0 MPP times `x_px`).
    pub x_um: f64,
    /// `y_px` in µm.
    pub y_um: f64,
    /// Measurements.
    pub features: Features,
    /// Mitosis score in [0, 1]: the classifier's probability (0 until scored).
    pub score: f64,
    /// Class (non-mitotic until [`decide`]).
    pub class: Class,
    /// Pair merging.
    pub pairing: Pairing,
}

/// A nucleus-like blob counted in the slide statistics: its position and mean H OD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NucleusSample {
    /// Level-0 x of the centroid.
    pub x_px: f64,
    /// Level-0 y of the centroid.
    pub y_px: f64,
    /// Mean H OD of the region.
    pub mean_h_od: f64,
    /// Peak H OD.
    pub max_h_od: f64,
}

/// What one field yields.
#[derive(Debug, Clone, Default)]
pub struct FieldDetections {
    /// Candidates (unscored), in raster order of their seeds.
    pub candidates: Vec<Candidate>,
    /// Summary of the field's nucleus-like blobs.
    pub stats: NucleusStats,
    /// The blobs behind `stats`, kept so that [`FieldDetections::retain_core`] can count
    /// only the core's; emptied by it.
    pub nuclei: Vec<NucleusSample>,
}

impl FieldDetections {
    /// Keeps only the candidates and nuclei whose centre lies in the core
    /// `[x0, x1) x [y0, y1)` (level-0 pixels) and recomputes `stats` from those nuclei,
    /// then frees the nucleus list. Call it on every field before merging: each candidate
    /// and each nucleus is then counted by exactly one field, whatever the field size.
    pub fn retain_core(&mut self, x0_px: f64, y0_px: f64, x1_px: f64, y1_px: f64) {
        let inside = |x: f64, y: f64| x >= x0_px && x < x1_px && y >= y0_px && y < y1_px;
        self.candidates.retain(|c| inside(c.x_px, c.y_px));
        let mut stats = NucleusStats::default();
        for n in self.nuclei.iter().filter(|n| inside(n.x_px, n.y_px)) {
            stats.add(n.mean_h_od, n.max_h_od);
        }
        self.stats = stats;
        self.nuclei = Vec::new();
    }

    /// Sets each candidate's [`Candidate::score`] to the classifier's probability, from
    /// the pixels of `field` (the field as read, halo included; the slide's level-0 pixel
    /// size `level0_mpp`), one patch at a time.
    pub fn score(&mut self, classifier: &cnn::Classifier, field: &FieldImage, level0_mpp: Mpp) {
        let place = cnn::ImagePlacement {
            origin_x_px: field.origin_x_px,
            origin_y_px: field.origin_y_px,
            downsample: field.downsample,
        };
        let points: Vec<(f64, f64)> = self.candidates.iter().map(|c| (c.x_px, c.y_px)).collect();
        let probabilities =
            classifier.score_points(field.rgb, place, level0_mpp.um_per_px(), &points);
        for (c, p) in self.candidates.iter_mut().zip(probabilities) {
            c.score = p;
        }
    }
}

/// Finds candidate figures in one field and summarises its nuclei. Deterministic; see the
/// module documentation for the steps and for field invariance.
pub fn detect_field(
    field: &FieldImage,
    deconv: &Deconvolver,
    opts: &DetectOptions,
) -> FieldDetections {
    let planes = planes::work_planes(field, deconv, opts.working_mpp_um);
    let mpp = planes.mpp;
    if planes.h.width == 0 || planes.h.height == 0 {
        return FieldDetections::default();
    }
    let seed_factor = planes::box_factor(mpp, opts.seed_mpp_um);
    let (seed_plane, sgx0, sgy0) = planes::decimate(&planes.h, planes.gx0, planes.gy0, seed_factor);
    let seed_mpp = mpp.downsampled(seed_factor as f64);
    let space = opts.scale_space(seed_mpp);
    let map = blobs::blob_map(&seed_plane, &space);
    let nms_px = seed_mpp.um_to_px(opts.seed_separation_um).round().max(1.0) as usize;
    let seeds = blobs::local_maxima(&map, nms_px, opts.min_blob_response_od as f32);
    map.response.recycle();
    seed_plane.recycle();

    let h_smooth = blur(
        &planes.h,
        &Kernel::gaussian(mpp.um_to_px(opts.region_smoothing_um)),
    );
    let region_planes = RegionPlanes {
        h: &planes.h,
        h_smooth: &h_smooth,
        e: &planes.e,
        residual: &planes.residual,
    };
    let params = opts.region_params(mpp);
    let um_per_px = mpp.um_per_px();
    let level0_um_per_px = mpp.um_per_px() / planes.level0_per_px;

    // Every seed's haematoxylin peak (seed positions mapped to the working grid: the
    // middle of their block); seeds that reach the same peak are one candidate, the one
    // with the strongest blob response (the first in raster order on a tie). Only those
    // are measured, each as far as the decisions on it need.
    let (w_plane, h_plane) = (planes.h.width as i64, planes.h.height as i64);
    let mut peaks: Vec<(usize, blobs::Seed, usize, usize, region::Peak)> = Vec::new();
    let mut scratch = region::Scratch::default();
    for (order, seed) in seeds.iter().enumerate() {
        let f = seed_factor as i64;
        let col = (sgx0 + seed.col as i64) * f + f / 2 - planes.gx0;
        let row = (sgy0 + seed.row as i64) * f + f / 2 - planes.gy0;
        if col < 0 || row < 0 || col >= w_plane || row >= h_plane {
            continue;
        }
        let (col, row) = (col as usize, row as usize);
        if let Some(p) = region::find_peak(&region_planes, col, row, &params, &mut scratch) {
            peaks.push((order, *seed, col, row, p));
        }
    }
    let peak_key = |c: usize, r: usize, p: &region::Peak| {
        (
            planes.gx0 + c as i64 + p.dx as i64,
            planes.gy0 + r as i64 + p.dy as i64,
        )
    };
    let mut best: std::collections::HashMap<(i64, i64), (f32, usize)> =
        std::collections::HashMap::new();
    for (order, seed, c, r, p) in &peaks {
        let key = peak_key(*c, *r, p);
        let entry = best.entry(key).or_insert((seed.response_od, *order));
        if seed.response_od > entry.0 {
            *entry = (seed.response_od, *order);
        }
    }

    let gates = region::Gates {
        drop_area: &|area_px| mpp.px2_to_um2(area_px) < opts.min_area_um2,
        not_candidate_by_mean: &|mean_h_od| mean_h_od < opts.min_candidate_mean_h_od,
        not_candidate_by_context: &|mean_h_od, p90_od| {
            mean_h_od < opts.min_candidate_context_ratio * p90_od
        },
    };
    let mut out = FieldDetections::default();
    for (order, seed, col, row, p) in &peaks {
        if best.get(&peak_key(*col, *row, p)).map(|b| b.1) != Some(*order) {
            continue;
        }
        // Global working-grid coordinates first (exact integers), then the offset.
        let position = |dx: f64, dy: f64| {
            let gx = (planes.gx0 + *col as i64) as f64 + dx;
            let gy = (planes.gy0 + *row as i64) as f64 + dy;
            (
                (gx + 0.5) * planes.level0_per_px,
                (gy + 0.5) * planes.level0_per_px,
            )
        };
        let m = match region::measure_with(
            &region_planes,
            *col,
            *row,
            &params,
            p,
            &gates,
            &mut scratch,
        ) {
            region::Outcome::Dropped => continue,
            region::Outcome::Nucleus(b) => {
                let (x_px, y_px) = position(b.centroid_dx, b.centroid_dy);
                out.nuclei.push(NucleusSample {
                    x_px,
                    y_px,
                    mean_h_od: b.mean_h_od,
                    max_h_od: b.peak_h_od,
                });
                out.stats.add(b.mean_h_od, b.peak_h_od);
                continue;
            }
            region::Outcome::Candidate(m) => m,
        };
        let area_um2 = mpp.px2_to_um2(m.area_px);
        let (x_px, y_px) = position(m.centroid_dx, m.centroid_dy);
        let integrated_h_od_um2 = mpp.px2_to_um2(m.outer_excess_od_px);
        out.nuclei.push(NucleusSample {
            x_px,
            y_px,
            mean_h_od: m.mean_h_od,
            max_h_od: m.peak_h_od,
        });
        out.stats.add(m.mean_h_od, m.peak_h_od);
        let features = Features {
            area_um2,
            mean_h_od: m.mean_h_od,
            max_h_od: m.peak_h_od,
            background_h_od: m.background_h_od,
            ring_h_od: m.ring_h_od,
            ring_e_od: m.ring_e_od,
            context_h_p50_od: m.context_h_p50_od,
            context_h_p90_od: m.context_h_p90_od,
            context_darker_fraction: m.context_darker_fraction,
            core_h_od: m.core_h_od,
            outer_area_ratio: m.outer_area_ratio,
            outer_area_um2: mpp.px2_to_um2(m.outer_area_px),
            integrated_h_od_um2,
            outer_elongation: m.outer_elongation,
            outer_solidity: m.outer_solidity,
            outer_irregularity: m.outer_irregularity,
            membrane_ratio: m.membrane_ratio,
            granularity: m.granularity,
            mean_e_od: m.mean_e_od,
            residual_od: m.mean_residual_od,
            elongation: m.elongation,
            solidity: m.solidity,
            boundary_irregularity: if m.hull_perimeter_px > 0.0 {
                m.perimeter_px / m.hull_perimeter_px
            } else {
                1.0
            },
            texture_h_cv: m.h_cv,
            edge_gradient_od_per_um: m.edge_gradient_od_per_px / um_per_px,
            blob_response_od: f64::from(seed.response_od),
            blob_radius_um: seed.sigma_px * std::f64::consts::SQRT_2 * seed_mpp.um_per_px(),
            clipped: if m.clipped { 1.0 } else { 0.0 },
            dark_neighbours: 0.0,
            ..Features::default()
        };
        let mut features = features;
        // The outline at the field's native resolution (before box averaging).
        let native = (
            (x_px - field.origin_x_px) / field.downsample,
            (y_px - field.origin_y_px) / field.downsample,
        );
        if let Some(fm) = fine::measure(field.rgb, deconv, native, field.mpp.um_per_px()) {
            features.fine_roughness = fm.roughness;
            features.fine_solidity = fm.solidity;
            features.fine_radial_cv = fm.radial_cv;
            features.fine_halo_ratio = fm.halo_ratio;
            features.fine_area_um2 = fm.area_um2;
        } else {
            features.fine_roughness = 1.0;
            features.fine_solidity = 1.0;
        }
        out.candidates.push(Candidate {
            x_px,
            y_px,
            x_um: x_px * level0_um_per_px,
            y_um: y_px * level0_um_per_px,
            features,
            score: 0.0,
            class: Class::NonMitoticFigure,
            pairing: Pairing::Single,
        });
    }
    h_smooth.recycle();
    for plane in [planes.h, planes.e, planes.residual] {
        plane.recycle();
    }
    out
}
