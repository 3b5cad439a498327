//! Command-line arguments (clap) and their validation into per-stage options.
//!
//! Raw flags live in the `*Args` structs; [`Config`] and friends are what the stages see.
//! Stages never see clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::units::Mpp;

/// Text appended to `--help`: exit codes.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  the analysis completed (whatever the verdict)
  1  an error in the data or the machine (unreadable slide, I/O error)
  2  a usage error (bad flag or value)";

/// Counts mitotic figures in H&E whole-slide images and reports the mitotic hot spot.
#[derive(Debug, Parser)]
#[command(name = "mitocount", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,

    /// No progress bars or informational messages on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Counts mitoses in one slide, finds the hot spot and writes the report.
    Count(CountArgs),
    /// Counts every slide of a folder; a broken slide is recorded and skipped.
    Batch(BatchArgs),
    /// Prints what a slide file holds: format, levels, tiles, compression, MPP.
    Info(InfoArgs),
    /// Writes a synthetic H&E slide (pyramidal tiled TIFF) and its ground truth.
    Synth(SynthArgs),
    /// Compares detections with ground truth: one-to-one matching within 7.5 µm,
    /// precision, recall, F1, and the lists of misses and false positives.
    Evaluate(EvaluateArgs),
}

/// `mitocount evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Ground truth: synthetic `*.truth.csv` (rows of kind "mitotic figure") or MIDOG-style
    /// JSON (points named "mitotic figure", coordinates in mm). Repeat with --detections
    /// to pool several images (pairs are taken in order).
    #[arg(long, value_name = "FILE", required = true)]
    pub truth: Vec<PathBuf>,
    /// Detections: the report's `detections.csv` (rows of class "mitotic figure") or
    /// MIDOG-style JSON.
    #[arg(long, value_name = "FILE", required = true)]
    pub detections: Vec<PathBuf>,
    /// Matching radius in µm (TUPAC16 and MIDOG use 7.5).
    #[arg(long, value_name = "UM", default_value_t = 7.5)]
    pub radius_um: f64,
    /// Level-0 pixel size, to convert files that give positions only in pixels.
    #[arg(long, value_name = "UM_PER_PX")]
    pub mpp: Option<f64>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `mitocount info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The slide file (SVS, TIFF, BigTIFF, PNG, JPEG).
    pub slide: PathBuf,
    /// Print as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Pixel size in µm per pixel, overriding the file's.
    #[arg(long, value_name = "UM_PER_PX")]
    pub mpp: Option<f64>,
}

/// `mitocount synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output TIFF path; the ground truth is written beside it.
    #[arg(long)]
    pub out: PathBuf,
}

/// Validates `--mpp` as a user override (any positive value is accepted).
pub fn mpp_override(mpp: Option<f64>) -> Result<Option<Mpp>> {
    mpp.map(Mpp::new_unchecked_range).transpose()
}

/// Validated configuration of a run: one options struct per stage.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Worker threads, `None` for all cores.
    pub threads: Option<usize>,
}

impl Config {
    /// Checks the global flags.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--threads` when it is 0.
    pub fn from_cli(cli: &Cli) -> Result<Self> {
        if cli.threads == Some(0) {
            return Err(Error::invalid_option("--threads", "must be at least 1"));
        }
        Ok(Config {
            threads: cli.threads,
        })
    }
}

/// Analysis flags shared by `count` and `batch`.
#[derive(Debug, Clone, Args)]
pub struct AnalysisArgs {
    /// Pixel size in µm per pixel, overriding the file's (required when the file has none).
    #[arg(long, value_name = "UM_PER_PX")]
    pub mpp: Option<f64>,

    /// Area of one high-power field in mm² [default: 0.237, i.e. FN 22 at 40x].
    #[arg(long, value_name = "MM2", conflicts_with_all = ["field_number", "objective"])]
    pub hpf_area_mm2: Option<f64>,

    /// Eyepiece field number in mm; with --objective sets the HPF area to
    /// pi * (FN / (2 M))^2.
    #[arg(long, value_name = "MM", requires = "objective")]
    pub field_number: Option<f64>,

    /// Objective magnification M (e.g. 40); with --field-number sets the HPF area.
    #[arg(long, value_name = "M", requires = "field_number")]
    pub objective: Option<f64>,

    /// Diagnostic criterion the verdict applies (see the README for each preset's rule).
    #[arg(long, value_name = "NAME", default_value = "cutaneous-leiomyosarcoma")]
    pub criterion: String,

    /// Mitoses per 10 HPF in the hot spot at or above which the verdict is positive,
    /// overriding the criterion's cut-off.
    #[arg(long, value_name = "PER_10_HPF")]
    pub threshold: Option<f64>,

    /// Hot-spot window area in HPF.
    #[arg(long, value_name = "HPF", default_value_t = 10.0)]
    pub hotspot_hpf: f64,

    /// Hot-spot window aspect ratio, width:height.
    #[arg(long, value_name = "W:H", default_value = "4:3")]
    pub hotspot_aspect: String,

    /// Smallest tissue fraction (0-1) of a hot-spot window, and of a field counted as HPF.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.95)]
    pub min_tissue_fraction: f64,

    /// Stain vectors: `auto` (Macenko estimate per slide), `default` (Ruifrok & Johnston
    /// H&E as in scikit-image rgb2hed) or `H:r,g,b;E:r,g,b[;R:r,g,b]`.
    #[arg(long, value_name = "SPEC", default_value = "auto")]
    pub stains: String,

    /// Candidates with a mitosis score at or above this (0-1) are counted as mitoses.
    #[arg(long, value_name = "SCORE")]
    pub score_threshold: Option<f64>,

    /// Side of the square fields processed in parallel, µm (does not change the counts).
    #[arg(long, value_name = "UM", default_value_t = 500.0)]
    pub field_size_um: f64,

    /// Ground truth (synthetic `*.truth.csv` or MIDOG JSON) to evaluate the detections
    /// against (matching within 7.5 µm); adds precision, recall and F1 to the report.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,

    /// Skip the pictures (heatmap.png, hotspot.png) and the HTML report.
    #[arg(long)]
    pub no_images: bool,
}

/// `mitocount count`.
#[derive(Debug, Args)]
pub struct CountArgs {
    /// The slide file (SVS, TIFF, BigTIFF, PNG, JPEG).
    pub slide: PathBuf,

    /// Output folder for report.json, detections.csv/.geojson, mitotic-figures.json,
    /// heatmap.png, hotspot.png and report.html [default: results/<slide name>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Print the report as JSON on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,

    /// The analysis flags.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// `mitocount batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// A folder of slides (*.svs, *.tif, *.tiff, *.png, *.jpg), or slide files.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,

    /// Output folder: one sub-folder per slide plus batch-summary.csv.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,

    /// The analysis flags.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}
