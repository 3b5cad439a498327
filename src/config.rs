//! The validated configuration of a run: global settings ([`Config`]) and the analysis
//! options of `count` and `batch` ([`AnalysisOptions`] as given, [`AnalysisConfig`] once
//! validated, with one options struct per stage). `cli` turns clap's flags into these
//! once; `pipeline` and the stages see only these, never clap's types, so a library user,
//! a test or a workflow builds an analysis without the command line.
//!
//! May use: the stages' option types (`detect`, `hotspot`, `report`, `stain`, `tiling`),
//! `units`, `error`. Not `cli`, not `pipeline`.

use std::path::PathBuf;

use crate::detect::cnn::Classifier;
use crate::detect::DetectOptions;
use crate::error::{Error, Result};
use crate::hotspot::HotspotOptions;
use crate::report::{Criterion, HpfAreaSource};
use crate::stain::{MacenkoOptions, StainSpec};
use crate::tiling::TissueOptions;
use crate::units::Mpp;

/// Whether progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on stderr when it is a terminal.
    Bar,
    /// Nothing.
    Hidden,
}

/// Validates `--mpp` as a user override (any positive value is accepted).
pub fn mpp_override(mpp: Option<f64>) -> Result<Option<Mpp>> {
    mpp.map(Mpp::new_unchecked_range).transpose()
}

/// How the pictures and the HTML page are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Pictures {
    /// Write heatmap.png, hotspot.png and report.html.
    Write,
    /// Skip them (`--no-images`).
    Skip,
}

/// The analysis options of `count` and `batch` as plain values, before validation: what
/// the command-line flags hold (`cli` fills it from them) and what a library user or a
/// test sets. [`Default`] is every flag left unset.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnalysisOptions {
    /// `--mpp`: pixel size in µm per pixel, overriding the file's.
    pub mpp: Option<f64>,
    /// `--hpf-area-mm2`: area of one HPF (mm²).
    pub hpf_area_mm2: Option<f64>,
    /// `--field-number`: eyepiece field number (mm), with `objective`.
    pub field_number: Option<f64>,
    /// `--objective`: objective magnification, with `field_number`.
    pub objective: Option<f64>,
    /// `--criterion`: the criterion's name. Default `cutaneous-leiomyosarcoma`.
    pub criterion: String,
    /// `--threshold`: the criterion's cut-off (per 10 HPF), overriding its own.
    pub threshold: Option<f64>,
    /// `--hotspot-area-mm2`: hot-spot window area (mm²); default the criterion's.
    pub hotspot_area_mm2: Option<f64>,
    /// `--hotspot-aspect`: `W:H`. Default `4:3`.
    pub hotspot_aspect: String,
    /// `--hotspot-min-tissue`: 0..=1. Default 0.95.
    pub hotspot_min_tissue: f64,
    /// `--min-field-tissue`: 0..=1. Default 0.5.
    pub min_field_tissue: f64,
    /// `--stains`: `auto`, `default` or explicit vectors. Default `auto`.
    pub stains: String,
    /// `--score-threshold`: probability 0..=1; default the model's threshold.
    pub score_threshold: Option<f64>,
    /// `--model`: a classifier model file instead of the embedded one.
    pub model: Option<PathBuf>,
    /// `--candidate-min-score`: 0..=1. Default 0.01.
    pub candidate_min_score: f64,
    /// `--field-size-um`: 50..=5000 µm. Default 500.
    pub field_size_um: f64,
    /// `--truth`: ground truth to evaluate against.
    pub truth: Option<PathBuf>,
    /// `--no-images` sets [`Pictures::Skip`]. Default [`Pictures::Write`].
    pub pictures: Pictures,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            mpp: None,
            hpf_area_mm2: None,
            field_number: None,
            objective: None,
            criterion: "cutaneous-leiomyosarcoma".to_string(),
            threshold: None,
            hotspot_area_mm2: None,
            hotspot_aspect: "4:3".to_string(),
            hotspot_min_tissue: 0.95,
            min_field_tissue: 0.5,
            stains: "auto".to_string(),
            score_threshold: None,
            model: None,
            candidate_min_score: 0.01,
            field_size_um: 500.0,
            truth: None,
            pictures: Pictures::Write,
        }
    }
}

/// The validated analysis flags: one options struct per stage.
#[derive(Debug, Clone)]
pub struct AnalysisConfig {
    /// Pixel size given by the user, overriding the file's.
    pub mpp_override: Option<Mpp>,
    /// Area of one HPF, mm².
    pub hpf_area_mm2: f64,
    /// How the HPF area was set.
    pub hpf_area_source: HpfAreaSource,
    /// Smallest tissue fraction of a grid field counted as an HPF.
    pub min_field_tissue_fraction: f64,
    /// The diagnostic criterion.
    pub criterion: Criterion,
    /// Hot-spot window.
    pub hotspot: HotspotOptions,
    /// Stain vectors: fixed or estimated.
    pub stains: StainSpec,
    /// Options of the Macenko estimate (with `--stains auto`).
    pub macenko: MacenkoOptions,
    /// Tissue mask.
    pub tissue: TissueOptions,
    /// Detector.
    pub detect: DetectOptions,
    /// The learned mitosis classifier (embedded or `--model`).
    pub classifier: std::sync::Arc<Classifier>,
    /// Probability at or above which a candidate is a mitotic figure.
    pub mitosis_threshold: f64,
    /// Side of the fields processed in parallel, µm.
    pub field_size_um: f64,
    /// Candidates below this score (and not mitoses) are counted, not listed.
    pub candidate_min_score: f64,
    /// Ground truth to evaluate against.
    pub truth: Option<PathBuf>,
    /// Pictures and HTML on or off.
    pub pictures: Pictures,
    /// The options as given, recorded in the report's provenance.
    pub options: AnalysisOptions,
}

impl AnalysisConfig {
    /// Validates the analysis options (as `count` and `batch` take them from their
    /// flags) and loads the classifier model.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the offending flag; [`Error::Model`] for a model
    /// file that cannot be used.
    pub fn from_options(a: &AnalysisOptions) -> Result<Self> {
        let (hpf_area_mm2, hpf_area_source) = match (a.hpf_area_mm2, a.field_number, a.objective) {
            (Some(area), _, _) => (area, HpfAreaSource::Explicit),
            (None, Some(fn_mm), Some(m)) => (
                crate::units::hpf_area_mm2(fn_mm, m)?,
                HpfAreaSource::FieldNumber {
                    field_number_mm: fn_mm,
                    objective_magnification: m,
                },
            ),
            _ => (crate::units::DEFAULT_HPF_AREA_MM2, HpfAreaSource::Default),
        };
        if !(hpf_area_mm2.is_finite() && hpf_area_mm2 > 0.0 && hpf_area_mm2 <= 100.0) {
            return Err(Error::invalid_option(
                "--hpf-area-mm2",
                format!("must be a positive area of at most 100 mm², got {hpf_area_mm2}"),
            ));
        }
        let criterion = Criterion::from_name(&a.criterion, a.threshold)?;
        let (aspect_width, aspect_height) = parse_aspect(&a.hotspot_aspect)?;
        let hotspot = HotspotOptions {
            window_area_mm2: a
                .hotspot_area_mm2
                .unwrap_or_else(|| criterion.reference_area_mm2(hpf_area_mm2)),
            aspect_width,
            aspect_height,
            min_tissue_fraction: a.hotspot_min_tissue,
        };
        hotspot.validate()?;
        if !(0.0..=1.0).contains(&a.min_field_tissue) {
            return Err(Error::invalid_option(
                "--min-field-tissue",
                format!("must lie in 0..=1, got {}", a.min_field_tissue),
            ));
        }
        let detect = DetectOptions::default();
        detect.validate()?;
        let classifier = Classifier::load(a.model.as_deref())?;
        let mitosis_threshold = match a.score_threshold {
            Some(t) if !(0.0..=1.0).contains(&t) => {
                return Err(Error::invalid_option(
                    "--score-threshold",
                    format!("must lie in 0..=1, got {t}"),
                ))
            }
            Some(t) => t,
            None => classifier.info().threshold,
        };
        if !(a.field_size_um.is_finite() && (50.0..=5000.0).contains(&a.field_size_um)) {
            return Err(Error::invalid_option(
                "--field-size-um",
                format!("must lie in 50..=5000 µm, got {}", a.field_size_um),
            ));
        }
        if !(0.0..=1.0).contains(&a.candidate_min_score) {
            return Err(Error::invalid_option(
                "--candidate-min-score",
                format!("must lie in 0..=1, got {}", a.candidate_min_score),
            ));
        }
        Ok(AnalysisConfig {
            candidate_min_score: a.candidate_min_score,
            mpp_override: mpp_override(a.mpp)?,
            hpf_area_mm2,
            hpf_area_source,
            min_field_tissue_fraction: a.min_field_tissue,
            criterion,
            hotspot,
            stains: StainSpec::parse(&a.stains)?,
            macenko: MacenkoOptions::default(),
            tissue: TissueOptions::default(),
            detect,
            classifier: std::sync::Arc::new(classifier),
            mitosis_threshold,
            field_size_um: a.field_size_um,
            truth: a.truth.clone(),
            pictures: a.pictures,
            options: a.clone(),
        })
    }
}

/// Parses `W:H` (two positive numbers).
fn parse_aspect(text: &str) -> Result<(f64, f64)> {
    let bad = || {
        Error::invalid_option(
            "--hotspot-aspect",
            format!("expected two positive numbers W:H such as 4:3, got {text:?}"),
        )
    };
    let (w, h) = text.split_once(':').ok_or_else(bad)?;
    let w: f64 = w.trim().parse().map_err(|_| bad())?;
    let h: f64 = h.trim().parse().map_err(|_| bad())?;
    if !(w.is_finite() && h.is_finite() && w > 0.0 && h > 0.0) {
        return Err(bad());
    }
    Ok((w, h))
}

/// Validated configuration of a run: one options struct per stage.
#[derive(Debug, Clone)]
pub struct Config {
    /// Worker threads, `None` for all cores.
    pub threads: Option<usize>,
    /// Progress bars and informational messages on stderr, or none (`--quiet`).
    pub progress: ProgressMode,
}

impl Config {
    /// Checks the global options: `threads` (`None` for all cores) and the progress mode.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--threads` when it is 0.
    pub fn new(threads: Option<usize>, progress: ProgressMode) -> Result<Self> {
        if threads == Some(0) {
            return Err(Error::invalid_option("--threads", "must be at least 1"));
        }
        Ok(Config { threads, progress })
    }
}
