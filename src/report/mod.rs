//! The report model and its writers (text, JSON, CSV, GeoJSON, MIDOG JSON, PNG, HTML).
//!
//! Only this module writes output files.
//!
//! # Use
//! The pipeline fills a [`ReportInput`] (slide facts, parameters, per-field counts, every
//! candidate as a [`Detection`], the hot spot from [`crate::hotspot::find_hotspot`]) and
//! calls [`Report::build`], which derives the totals, densities, hot-spot summary and
//! [`Verdict`]. It then reads the pictures the report asks for
//! ([`images::hotspot_view_request`], [`images::gallery_requests`]) into
//! [`ReportImages`] and calls [`write_outputs`]; [`summary_text`] and [`to_json_string`]
//! give what goes to stdout.
//!
//! # Files written by [`write_outputs`]
//! | file | content |
//! |---|---|
//! | `report.json` | the [`Report`], field names with units |
//! | `detections.csv` | one row per listed candidate (every mitotic figure, and the others scoring at least `candidate_min_score`): `x_px,y_px,x_um,y_um,area_um2,score,class,hpf_row,hpf_col`, then the features |
//! | `detections.geojson` | QuPath-importable FeatureCollection with stable ids: detections as points, the hot spot and its HPF grid (and every counted HPF) as locked annotations |
//! | `mitotic-figures.json` | MIDOG / Grand Challenge "Multiple points", coordinates in mm |
//! | `heatmap.png` | thumbnail with each HPF field's mitoses per mm² (viridis), hot spot outlined, colour bar and scale bar |
//! | `hotspot.png` | the hot spot at 0.5 µm/px or finer: mitotic figures circled with their score, borderline candidates, the HPF grid, scale bar |
//! | `report.html` | one self-contained page: verdict, numbers, the hot spot's HPF fields, pictures, gallery with borderline calls marked, provenance |
//!
//! Everything is deterministic for the same input; only the `timings` and `provenance`
//! blocks (start time, duration, threads) change from run to run. [`write_outputs`]
//! writes `report.json` last, so a folder with a `report.json` is a complete run (see
//! its docs).

pub mod criterion;
mod draw;
pub mod html;
pub mod images;
mod outputs;
pub mod plausibility;
pub mod tables;
mod text;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::hotspot::{Hotspot, HotspotOptions};
use crate::units::{Mpp, UM2_PER_MM2};

pub use criterion::{Comparison, Criterion, Measurement, Outcome, Verdict, VerdictBasis};
pub use images::{GalleryCrop, RegionRequest, RegionView, ReportImages};
pub use outputs::{prepare_out_dir, write_outputs, OUTPUT_FILES};
pub use text::summary_text;

/// The program's name in reports.
pub const PROGRAM_NAME: &str = "mitocount";

/// The whole report of one slide. Serialised as `report.json`; field names carry units.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Program name and version.
    pub program: ProgramInfo,
    /// The slide analysed.
    pub slide: SlideInfo,
    /// Every parameter of the run.
    pub parameters: Parameters,
    /// Tissue area and fields.
    pub tissue: TissueSummary,
    /// Counts and densities over all tissue.
    pub counts: CountSummary,
    /// The mitotic hot spot, `None` when no window fits in the tissue.
    pub hotspot: Option<HotspotSummary>,
    /// The verdict of the criterion.
    pub verdict: Verdict,
    /// Per-field counts (all fields of the HPF grid with tissue).
    pub fields: Vec<FieldCount>,
    /// Every candidate, mitotic or not.
    pub detections: Vec<Detection>,
    /// Things the user should know (fallbacks, clipped inputs).
    pub warnings: Vec<String>,
    /// Detection quality against ground truth, when the pipeline evaluated it.
    pub evaluation: Option<Evaluation>,
    /// Wall-clock timings, seconds (with `provenance`, the only part that changes
    /// between identical runs).
    pub timings: Timings,
    /// Where the result comes from: program, model, options, slide file and its hash,
    /// start time and duration (filled by the pipeline; empty in reports built by hand).
    #[serde(default)]
    pub provenance: Provenance,
}

/// Where a result comes from, so that it can be traced and repeated.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// `mitocount` and its version, e.g. `mitocount 0.2.0`.
    pub program: String,
    /// The classifier model's name and version.
    pub model: String,
    /// SHA-256 of the classifier model file (hex).
    pub model_sha256: String,
    /// Every analysis option as used (flags given or their defaults), as JSON.
    pub options: serde_json::Value,
    /// Worker threads used (results do not depend on it).
    pub threads: usize,
    /// The slide's file name (without folders).
    pub slide_file_name: String,
    /// The slide file's size, bytes.
    pub slide_size_bytes: u64,
    /// SHA-256 (hex) of the slide file's first MiB (1,048,576 bytes, or the whole file
    /// when smaller): identifies the file without reading gigabytes.
    pub slide_first_mib_sha256: String,
    /// When the analysis started, UTC, RFC 3339 (e.g. `2026-12-07T12:00:00Z`).
    pub started_at_utc: String,
    /// Wall-clock duration of the analysis, s.
    pub duration_s: f64,
}

/// Program name and version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProgramInfo {
    /// `mitocount`.
    pub name: String,
    /// The crate version, e.g. `0.1.0`.
    pub version: String,
}

impl ProgramInfo {
    /// This program.
    pub fn current() -> Self {
        ProgramInfo {
            name: PROGRAM_NAME.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Facts about the slide, filled by the pipeline from the slide reader.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SlideInfo {
    /// The slide's path as given.
    pub path: String,
    /// File format, e.g. `aperio-svs`, `tiff`, `png`.
    pub format: String,
    /// Level-0 width, px.
    pub width_px: u64,
    /// Level-0 height, px.
    pub height_px: u64,
    /// Level-0 pixel size, µm per px.
    pub mpp_um_per_px: f64,
    /// Where the pixel size came from, e.g. `aperio-description`, `override`.
    pub mpp_source: String,
    /// Scan objective magnification if the file states it (Aperio `AppMag`).
    pub objective_magnification: Option<f64>,
}

impl SlideInfo {
    /// The file name without folders, for titles.
    pub fn file_name(&self) -> String {
        Path::new(&self.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.clone())
    }
}

/// How the HPF area was set.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum HpfAreaSource {
    /// The default 0.237 mm² (FN 22 at 40x; MIDOG).
    Default,
    /// Given as `--hpf-area-mm2`.
    Explicit,
    /// From `--field-number FN --objective M`: `pi * (FN / (2 M))^2`.
    FieldNumber {
        /// Eyepiece field number, mm.
        field_number_mm: f64,
        /// Objective magnification.
        objective_magnification: f64,
    },
}

/// Where the stain vectors came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StainSource {
    /// Ruifrok & Johnston defaults (as scikit-image `rgb2hed`).
    Default,
    /// Estimated from this slide (Macenko et al. 2009).
    Estimated,
    /// Given by the user.
    User,
}

/// Stain OD vectors used (rows of the stain matrix, RGB), a plain copy of the stain
/// stage's vectors.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StainInfo {
    /// Haematoxylin OD vector (R, G, B).
    pub haematoxylin_od: [f64; 3],
    /// Eosin OD vector (R, G, B).
    pub eosin_od: [f64; 3],
    /// Third (residual or DAB) OD vector (R, G, B).
    pub residual_od: [f64; 3],
    /// Default, estimated or user-given.
    pub source: StainSource,
}

/// Every parameter of the run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Parameters {
    /// Area of one HPF, mm².
    pub hpf_area_mm2: f64,
    /// How the HPF area was set.
    pub hpf_area_source: HpfAreaSource,
    /// Side of the square HPF fields of the grid, µm (`sqrt(hpf_area)`).
    pub field_side_um: f64,
    /// Fields with a smaller tissue fraction (0..=1) are not counted as HPF.
    pub min_field_tissue_fraction: f64,
    /// Hot-spot window options.
    pub hotspot: HotspotOptions,
    /// The criterion judged.
    pub criterion: Criterion,
    /// Stain vectors used.
    pub stain: StainInfo,
    /// The detector's options as JSON (whatever the detection stage's options serialise
    /// to), `null` if not given.
    pub detector: serde_json::Value,
    /// Tissue-mask options as JSON, `null` if not given.
    pub tissue_mask: serde_json::Value,
    /// Candidates scoring below this (and not mitoses) are counted but not listed.
    pub candidate_min_score: f64,
    /// The learned classifier that gave every score: name, version, SHA-256 of the model
    /// file, its input and its own threshold (`None` only in reports built by hand).
    #[serde(default)]
    pub classifier: Option<crate::detect::cnn::ModelInfo>,
    /// Probability (0..=1) at or above which a candidate was counted as a mitotic figure:
    /// the model's threshold unless `--score-threshold` set another.
    #[serde(default)]
    pub mitosis_threshold: f64,
}

/// Tissue area and HPF fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TissueSummary {
    /// Tissue area, mm².
    pub tissue_area_mm2: f64,
    /// Tissue area in HPF: `tissue_area_mm2 / hpf_area_mm2`.
    pub tissue_area_hpf: f64,
    /// Fields of the grid with any tissue.
    pub fields_with_tissue: usize,
    /// Fields counted as HPF (tissue fraction >= `min_field_tissue_fraction`).
    pub fields_counted: usize,
}

/// Counts and densities over all tissue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CountSummary {
    /// Detections classified as mitotic figures.
    pub mitoses: usize,
    /// All candidates found, mitotic or not.
    pub candidates: usize,
    /// Candidates listed in the detections (the others scored below
    /// `parameters.candidate_min_score`).
    pub candidates_listed: usize,
    /// Mitoses per mm² of tissue, a density over all the tissue (not the verdict's
    /// number, which is in `verdict.value`); `None` without tissue.
    pub mitoses_per_mm2: Option<f64>,
}

/// The hot spot in px and µm with its densities.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HotspotSummary {
    /// Left edge, level-0 px.
    pub x_px: f64,
    /// Top edge, level-0 px.
    pub y_px: f64,
    /// Width, level-0 px.
    pub width_px: f64,
    /// Height, level-0 px.
    pub height_px: f64,
    /// Left edge, µm.
    pub x_um: f64,
    /// Top edge, µm.
    pub y_um: f64,
    /// Width, µm.
    pub width_um: f64,
    /// Height, µm.
    pub height_um: f64,
    /// Area, mm².
    pub area_mm2: f64,
    /// Area in HPF (`area_mm2 / hpf_area_mm2`).
    pub area_hpf: f64,
    /// Tissue fraction (0..=1) of the window.
    pub tissue_fraction: f64,
    /// Mitoses inside.
    pub mitoses: usize,
    /// Mitoses per 10 HPF (`mitoses * 10 * hpf_area_mm2 / area_mm2`).
    pub mitoses_per_10_hpf: f64,
    /// Mitoses per mm².
    pub mitoses_per_mm2: f64,
}

impl HotspotSummary {
    /// Whether a level-0 point lies inside (half-open, as the hot-spot search counts).
    pub fn contains(&self, x_px: f64, y_px: f64) -> bool {
        self.x_px <= x_px
            && x_px < self.x_px + self.width_px
            && self.y_px <= y_px
            && y_px < self.y_px + self.height_px
    }
}

/// Counts in one field of the HPF grid.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldCount {
    /// Grid row (0 at the top).
    pub row: u32,
    /// Grid column (0 at the left).
    pub col: u32,
    /// Left edge, level-0 px.
    pub x_px: f64,
    /// Top edge, level-0 px.
    pub y_px: f64,
    /// Width, level-0 px.
    pub width_px: f64,
    /// Height, level-0 px.
    pub height_px: f64,
    /// Tissue fraction (0..=1).
    pub tissue_fraction: f64,
    /// Mitoses whose centre lies in the field.
    pub mitoses: usize,
    /// Candidates (mitotic or not) whose centre lies in the field.
    pub candidates: usize,
}

/// A candidate's class. One vocabulary in every output (report.json, detections.csv,
/// the GeoJSON's classification, the MIDOG JSON, the pictures and the HTML):
/// `mitotic figure` and `non-mitotic figure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DetectionClass {
    /// Counted as a mitosis.
    #[serde(rename = "mitotic figure")]
    MitoticFigure,
    /// A candidate rejected by the classifier (mimic, non-dividing nucleus).
    #[serde(rename = "non-mitotic figure")]
    NonMitoticFigure,
}

impl DetectionClass {
    /// `mitotic figure` or `non-mitotic figure`, the one spelling of every output.
    pub fn label(self) -> &'static str {
        match self {
            DetectionClass::MitoticFigure => "mitotic figure",
            DetectionClass::NonMitoticFigure => "non-mitotic figure",
        }
    }
}

/// One candidate, mitotic or not; the pipeline converts the detector's output into it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Detection {
    /// Centre x, level-0 px.
    pub x_px: f64,
    /// Centre y, level-0 px.
    pub y_px: f64,
    /// Centre x, µm (filled by [`Report::build`] from `x_px` and the MPP).
    pub x_um: f64,
    /// Centre y, µm (filled by [`Report::build`]).
    pub y_um: f64,
    /// Area, µm².
    pub area_um2: f64,
    /// Mitosis score (probability-like, 0..=1).
    pub score: f64,
    /// Mitotic or not.
    pub class: DetectionClass,
    /// Row of the HPF grid field whose core holds the centre.
    pub hpf_row: u32,
    /// Column of that field.
    pub hpf_col: u32,
    /// Named features in physical units, in a fixed order (serialised as a JSON object;
    /// non-finite values as `null`).
    #[serde(with = "features_serde")]
    pub features: Vec<(String, f64)>,
}

/// Detection quality against ground truth (TUPAC16 / MIDOG convention).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Where the truth came from (file path or description).
    pub truth_source: String,
    /// Matching radius, µm (7.5 in MIDOG).
    pub match_radius_um: f64,
    /// Detections matched one-to-one to a truth point.
    pub true_positives: usize,
    /// Unmatched detections.
    pub false_positives: usize,
    /// Unmatched truth points.
    pub false_negatives: usize,
    /// `tp / (tp + fp)`, `None` with no detections.
    pub precision: Option<f64>,
    /// `tp / (tp + fn)`, `None` with no truth.
    pub recall: Option<f64>,
    /// Harmonic mean of precision and recall, `None` when undefined.
    pub f1: Option<f64>,
}

impl Evaluation {
    /// An evaluation from matched counts, with precision, recall and F1 derived.
    pub fn from_counts(
        truth_source: String,
        match_radius_um: f64,
        (true_positives, false_positives, false_negatives): (usize, usize, usize),
    ) -> Self {
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        let precision = ratio(true_positives, true_positives + false_positives);
        let recall = ratio(true_positives, true_positives + false_negatives);
        let f1 = ratio(
            2 * true_positives,
            2 * true_positives + false_positives + false_negatives,
        );
        Evaluation {
            truth_source,
            match_radius_um,
            true_positives,
            false_positives,
            false_negatives,
            precision,
            recall,
            f1,
        }
    }
}

/// Wall-clock timings, seconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    /// The whole run, s.
    pub total_s: f64,
    /// Per stage, in run order, e.g. `("open", 0.01)`, `("detect", 3.2)`.
    pub stages_s: Vec<StageTiming>,
}

/// One stage's wall-clock time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StageTiming {
    /// Stage name.
    pub stage: String,
    /// Seconds.
    pub seconds: f64,
}

/// What the pipeline hands to [`Report::build`].
#[derive(Debug, Clone)]
pub struct ReportInput {
    /// The slide.
    pub slide: SlideInfo,
    /// Every parameter.
    pub parameters: Parameters,
    /// Tissue area, mm² (from the tissue mask).
    pub tissue_area_mm2: f64,
    /// Every field of the HPF grid with tissue, counted or not.
    pub fields: Vec<FieldCount>,
    /// The listed candidates (every mitosis and every candidate scoring at least the
    /// listing floor), in a deterministic order (e.g. by y, then x); gallery crops refer
    /// to these indices.
    pub detections: Vec<Detection>,
    /// Candidates found but not listed (below the listing floor, never mitoses).
    pub unlisted_candidates: usize,
    /// The hot spot over the mitoses (from [`crate::hotspot::find_hotspot`] with the
    /// parameters' [`HotspotOptions`]), `None` when no window fits.
    pub hotspot: Option<Hotspot>,
    /// Warnings to report.
    pub warnings: Vec<String>,
    /// Evaluation against truth, if any.
    pub evaluation: Option<Evaluation>,
    /// Timings so far.
    pub timings: Timings,
}

impl Report {
    /// Derives totals, densities, the hot-spot summary and the verdict.
    ///
    /// The hot-spot count is recounted from the detections classed as mitotic figures
    /// inside the hot-spot rectangle; if it differs from `Hotspot::count` (the search was
    /// given other points) a warning says so and the recount is used.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--mpp` for a non-positive pixel size or
    /// `--hpf-area-mm2` for a non-positive HPF area.
    pub fn build(input: ReportInput) -> Result<Report> {
        let mpp = Mpp::new_unchecked_range(input.slide.mpp_um_per_px)?;
        let p = &input.parameters;
        let hpf_area_mm2 = p.hpf_area_mm2;
        if !(hpf_area_mm2.is_finite() && hpf_area_mm2 > 0.0) {
            return Err(Error::invalid_option(
                "--hpf-area-mm2",
                format!("the HPF area must be a positive number of mm², got {hpf_area_mm2}"),
            ));
        }
        let mut warnings = input.warnings;
        let mut detections = input.detections;
        for d in &mut detections {
            d.x_um = mpp.px_to_um(d.x_px);
            d.y_um = mpp.px_to_um(d.y_px);
        }
        let mitoses = detections
            .iter()
            .filter(|d| d.class == DetectionClass::MitoticFigure)
            .count();
        let tissue_area_mm2 = input.tissue_area_mm2.max(0.0);
        let per_mm2 = (tissue_area_mm2 > 0.0).then(|| mitoses as f64 / tissue_area_mm2);
        let counts = CountSummary {
            mitoses,
            candidates: detections.len() + input.unlisted_candidates,
            candidates_listed: detections.len(),
            mitoses_per_mm2: per_mm2,
        };
        let tissue = TissueSummary {
            tissue_area_mm2,
            tissue_area_hpf: tissue_area_mm2 / hpf_area_mm2,
            fields_with_tissue: input
                .fields
                .iter()
                .filter(|f| f.tissue_fraction > 0.0)
                .count(),
            fields_counted: input
                .fields
                .iter()
                .filter(|f| f.tissue_fraction >= p.min_field_tissue_fraction)
                .count(),
        };
        let hotspot = input.hotspot.map(|h| {
            let area_mm2 = mpp.px2_to_um2(h.width_px * h.height_px) / UM2_PER_MM2;
            let inside = detections
                .iter()
                .filter(|d| {
                    d.class == DetectionClass::MitoticFigure && h.contains([d.x_px, d.y_px])
                })
                .count();
            if inside != h.count {
                warnings.push(format!(
                    "the hot-spot search counted {} mitoses but {} mitotic detections lie in \
                     its window; the report uses {}",
                    h.count, inside, inside
                ));
            }
            HotspotSummary {
                x_px: h.x_px,
                y_px: h.y_px,
                width_px: h.width_px,
                height_px: h.height_px,
                x_um: mpp.px_to_um(h.x_px),
                y_um: mpp.px_to_um(h.y_px),
                width_um: mpp.px_to_um(h.width_px),
                height_um: mpp.px_to_um(h.height_px),
                area_mm2,
                area_hpf: area_mm2 / hpf_area_mm2,
                tissue_fraction: h.tissue_fraction,
                mitoses: inside,
                mitoses_per_10_hpf: inside as f64 * 10.0 * hpf_area_mm2 / area_mm2,
                mitoses_per_mm2: inside as f64 / area_mm2,
            }
        });
        let tissue_hpf = tissue_area_mm2 / hpf_area_mm2;
        let all_tissue = Measurement {
            count: mitoses,
            area_mm2: tissue_area_mm2,
            hpf_area_mm2,
            basis: VerdictBasis::AllTissue,
        };
        let measurement = match &hotspot {
            // Under 1 HPF of tissue there is no verdict, whatever window was found.
            _ if tissue_hpf < criterion::MIN_TISSUE_HPF => all_tissue,
            Some(h) => Measurement {
                count: h.mitoses,
                area_mm2: h.area_mm2,
                hpf_area_mm2,
                basis: VerdictBasis::Hotspot,
            },
            None => {
                if tissue_area_mm2 >= p.hotspot.window_area_mm2 {
                    warnings.push(format!(
                        "no {:.3} mm² hot-spot window with >= {:.0} % tissue fits in the \
                         tissue (thin or fragmented); the verdict uses all tissue",
                        p.hotspot.window_area_mm2,
                        100.0 * p.hotspot.min_tissue_fraction
                    ));
                }
                all_tissue
            }
        };
        if tissue_hpf < criterion::MIN_TISSUE_HPF {
            warnings.push(format!(
                "insufficient tissue: {tissue_area_mm2:.3} mm² ({tissue_hpf:.2} HPF) found, \
                 less than the 1 HPF needed for a verdict; check that the right slide and \
                 pixel size were given"
            ));
        }
        warnings.extend(plausibility::warnings(
            &plausibility::Evidence {
                tissue_hpf,
                all_tissue_per_mm2: per_mm2,
                hotspot_per_mm2: hotspot.as_ref().map(|h| h.mitoses_per_mm2),
                mpp_um_per_px: mpp.um_per_px(),
            },
            &detections,
        ));
        let mut verdict = p.criterion.evaluate(&measurement);
        verdict.statement = format!(
            "{} HPF area {:.4} mm² ({}); pixel size {:.4} µm/px ({}); stain vectors ({}) H {}, \
             E {}.",
            verdict.statement,
            hpf_area_mm2,
            describe_hpf_source(&p.hpf_area_source),
            mpp.um_per_px(),
            input.slide.mpp_source,
            stain_source_word(p.stain.source),
            fmt_vec3(p.stain.haematoxylin_od),
            fmt_vec3(p.stain.eosin_od),
        );
        Ok(Report {
            program: ProgramInfo::current(),
            slide: input.slide,
            parameters: input.parameters,
            tissue,
            counts,
            hotspot,
            verdict,
            fields: input.fields,
            detections,
            warnings,
            evaluation: input.evaluation,
            timings: input.timings,
            provenance: Provenance::default(),
        })
    }

    /// The slide's pixel size.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--mpp` if the stored value is not positive.
    pub fn mpp(&self) -> Result<Mpp> {
        Mpp::new_unchecked_range(self.slide.mpp_um_per_px)
    }
}

fn describe_hpf_source(s: &HpfAreaSource) -> String {
    match s {
        HpfAreaSource::Default => "default, FN 22 at 40x".to_string(),
        HpfAreaSource::Explicit => "given".to_string(),
        HpfAreaSource::FieldNumber {
            field_number_mm,
            objective_magnification,
        } => format!("FN {field_number_mm} mm at {objective_magnification}x"),
    }
}

fn stain_source_word(s: StainSource) -> &'static str {
    match s {
        StainSource::Default => "default",
        StainSource::Estimated => "estimated from the slide",
        StainSource::User => "user-given",
    }
}

fn fmt_vec3(v: [f64; 3]) -> String {
    format!("({:.3}, {:.3}, {:.3})", v[0], v[1], v[2])
}

/// The report as pretty-printed JSON (what `report.json` holds and `--json` prints).
///
/// # Errors
/// [`Error::Output`] if serialisation fails (it cannot for a built report).
pub fn to_json_string(report: &Report) -> Result<String> {
    serde_json::to_string_pretty(report).map_err(|e| Error::Output {
        path: PathBuf::from("report.json"),
        reason: e.to_string(),
    })
}

/// Serialises features as an ordered JSON object and reads them back in document order.
mod features_serde {
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(v: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(v.len()))?;
        for (name, value) in v {
            if value.is_finite() {
                map.serialize_entry(name, value)?;
            } else {
                map.serialize_entry(name, &Option::<f64>::None)?;
            }
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, f64)>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<(String, f64)>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of feature names to numbers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Option<f64>>()? {
                    out.push((k, v.unwrap_or(f64::NAN)));
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}
