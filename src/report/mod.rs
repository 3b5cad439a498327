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
//! | `detections.csv` | one row per candidate: `x_px,y_px,x_um,y_um,area_um2,score,class,hpf_row,hpf_col`, then the features |
//! | `detections.geojson` | QuPath-importable FeatureCollection: detections as points, hot spot and counted HPF as locked annotations |
//! | `mitotic-figures.json` | MIDOG / Grand Challenge "Multiple points", coordinates in mm |
//! | `heatmap.png` | thumbnail with per-HPF mitoses (viridis), hot spot outlined, legend and scale bar |
//! | `hotspot.png` | the hot spot at readable resolution, detections circled |
//! | `report.html` | one self-contained page: verdict, numbers, pictures, gallery |
//!
//! Everything is deterministic for the same input: no timestamps; only the `timings` block
//! changes from run to run.

pub mod criterion;
mod draw;
pub mod html;
pub mod images;
pub mod tables;
mod text;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::hotspot::{Hotspot, HotspotOptions};
use crate::units::{Mpp, UM2_PER_MM2};

pub use criterion::{Comparison, Criterion, Measurement, Outcome, Verdict, VerdictBasis};
pub use images::{GalleryCrop, RegionRequest, RegionView, ReportImages};
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
    /// Wall-clock timings, seconds (the only part that changes between identical runs).
    pub timings: Timings,
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
    /// Mitoses per mm² of tissue; `None` without tissue.
    pub mitoses_per_mm2: Option<f64>,
    /// Mitoses per 10 HPF of tissue (`per_mm2 * 10 * hpf_area_mm2`); `None` without tissue.
    pub mitoses_per_10_hpf: Option<f64>,
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

/// A candidate's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectionClass {
    /// Counted as a mitosis.
    MitoticFigure,
    /// A candidate rejected by the classifier (mimic, non-dividing nucleus).
    NonMitoticFigure,
}

impl DetectionClass {
    /// `mitotic figure` or `non-mitotic figure` (CSV and MIDOG spelling).
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
            mitoses_per_10_hpf: per_mm2.map(|d| d * 10.0 * hpf_area_mm2),
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
        let measurement = match &hotspot {
            Some(h) => Measurement {
                count: h.mitoses,
                area_mm2: h.area_mm2,
                hpf_area_mm2,
                basis: VerdictBasis::Hotspot,
            },
            None => {
                warnings.push(format!(
                    "no {:.3} mm² hot-spot window with >= {:.0} % tissue fits in the tissue; \
                     the verdict uses all tissue",
                    p.hotspot.window_area_mm2,
                    100.0 * p.hotspot.min_tissue_fraction
                ));
                Measurement {
                    count: mitoses,
                    area_mm2: tissue_area_mm2,
                    hpf_area_mm2,
                    basis: VerdictBasis::AllTissue,
                }
            }
        };
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

/// Writes every output file into `out_dir` (created if missing) and returns their paths
/// in the order of the table in the [module docs](self). Without `images` (`--no-images`)
/// only the tables are written: no PNG and no HTML.
///
/// Each file is written to a temporary name and renamed into place, so an interrupted run
/// never leaves a half-written file under the final name.
///
/// # Errors
/// [`Error::Io`] naming the file or folder when it cannot be created or written;
/// [`Error::Output`] when an image cannot be encoded.
pub fn write_outputs(
    report: &Report,
    images: Option<&ReportImages>,
    out_dir: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = out_dir.join(name);
        write_atomically(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    put("report.json", to_json_string(report)?.as_bytes())?;
    put("detections.csv", &tables::detections_csv(report)?)?;
    let geojson = tables::geojson(report);
    put(
        "detections.geojson",
        json_bytes(&geojson, "detections.geojson")?.as_slice(),
    )?;
    let midog = tables::midog_points(report)?;
    put(
        "mitotic-figures.json",
        json_bytes(&midog, "mitotic-figures.json")?.as_slice(),
    )?;
    let Some(images) = images else {
        return Ok(written);
    };
    let heatmap = images::encode_png(&images::render_heatmap(report, images)?, "heatmap.png")?;
    put("heatmap.png", &heatmap)?;
    let hotspot = images::render_hotspot_view(report, images)?;
    if let Some(img) = &hotspot {
        put("hotspot.png", &images::encode_png(img, "hotspot.png")?)?;
    }
    let page = html::page(report, images, &heatmap, hotspot.as_ref())?;
    put("report.html", page.as_bytes())?;
    Ok(written)
}

fn json_bytes(v: &serde_json::Value, name: &str) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Output {
        path: PathBuf::from(name),
        reason: e.to_string(),
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
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
