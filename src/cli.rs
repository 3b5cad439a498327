//! Command-line arguments (clap) and their validation into per-stage options.
//!
//! Raw flags live in the `*Args` structs; [`Config`] and friends are what the stages see.
//! Stages never see clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{AnalysisOptions, Config, Pictures, ProgressMode};
use crate::error::{Error, Result};
use crate::synth::{
    BigTiff, PlantedHotspot, PyramidLevels, SynthOptions, SynthStains, TiffCompression, TiffLayout,
    TiffOptions,
};
use crate::units::Mpp;

/// Text appended to `--help`: exit codes.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  the analysis completed (whatever the verdict)
  1  an error in the data or the machine (unreadable slide, I/O error)
  2  a usage error (bad flag or value)
  3  batch or merge: some slides failed or are missing (the others completed;
     the summary lists each slide's error)";

/// Counts mitotic figures in H&E whole-slide images and reports the mitotic hot spot.
#[derive(Debug, Parser)]
#[command(name = "mitocount", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Worker threads (default: all cores).
    #[arg(long, global = true, allow_negative_numbers = true, value_name = "N")]
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
    /// Merges the summaries of batch shards (or `count` output folders) into one.
    Merge(MergeArgs),
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
    /// Ground truth: synthetic `*.truth.csv` (rows of kind "mitotic figure"), MIDOG-style
    /// JSON (points named "mitotic figure", coordinates in mm) or GeoJSON as QuPath exports
    /// it (points or polygons in level-0 px; needs --mpp). Repeat with --detections
    /// to pool several images (pairs are taken in order).
    #[arg(long, value_name = "FILE", required = true)]
    pub truth: Vec<PathBuf>,
    /// Detections: the report's `detections.csv` (rows of class "mitotic figure") or
    /// MIDOG-style JSON.
    #[arg(long, value_name = "FILE", required = true)]
    pub detections: Vec<PathBuf>,
    /// Matching radius in µm (TUPAC16 and MIDOG use 7.5).
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "UM",
        default_value_t = 7.5
    )]
    pub radius_um: f64,
    /// Level-0 pixel size, to convert files that give positions only in pixels.
    #[arg(long, allow_negative_numbers = true, value_name = "UM_PER_PX")]
    pub mpp: Option<f64>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `mitocount info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The slide file (SVS, TIFF, BigTIFF, PNG, JPEG).
    #[arg(required_unless_present = "model")]
    pub slide: Option<PathBuf>,
    /// Show the mitosis classifier instead: the built-in one (`--model` alone) or a model
    /// file: name, version, SHA-256, input and threshold.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub model: Option<Option<PathBuf>>,
    /// Print as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Pixel size in µm per pixel, overriding the file's.
    #[arg(long, value_name = "UM_PER_PX")]
    pub mpp: Option<f64>,
}

/// `mitocount synth`: a synthetic H&E slide and its ground truth.
///
/// Sizes are level-0 pixels, lengths µm, densities per mm² of tissue.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output TIFF path; `<stem>.truth.csv`, `<stem>.truth.json` and `<stem>.synth.json`
    /// are written beside it.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Level-0 width in pixels.
    #[arg(long, value_name = "PX", default_value_t = 8192)]
    pub width: u64,
    /// Level-0 height in pixels.
    #[arg(long, value_name = "PX", default_value_t = 8192)]
    pub height: u64,
    /// Level-0 pixel size in µm per pixel (0.25 is a 40x scan, 0.5 a 20x scan).
    #[arg(long, value_name = "UM_PER_PX", default_value_t = 0.25)]
    pub mpp: f64,
    /// Seed: the same seed and options give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mitotic figures per mm² of tissue (outside the hot spot).
    #[arg(long, value_name = "PER_MM2", default_value_t = 4.0)]
    pub mitoses_per_mm2: f64,
    /// Lymphocytes (mimics) per mm² of tissue, partly gathered in clusters.
    #[arg(long, value_name = "PER_MM2", default_value_t = 150.0)]
    pub lymphocytes_per_mm2: f64,
    /// Pyknotic nuclei with an eosinophilic halo (mimics) per mm² of tissue.
    #[arg(long, value_name = "PER_MM2", default_value_t = 12.0)]
    pub pyknotic_per_mm2: f64,
    /// Large hyperchromatic non-dividing nuclei (mimics) per mm² of tissue.
    #[arg(long, value_name = "PER_MM2", default_value_t = 20.0)]
    pub hyperchromatic_per_mm2: f64,
    /// Plants a hot spot: mitoses per mm² inside it (no hot spot when absent).
    #[arg(long, value_name = "PER_MM2")]
    pub hotspot_mitoses_per_mm2: Option<f64>,
    /// Hot spot centre x in µm from the left edge [default: slide centre].
    #[arg(long, value_name = "UM")]
    pub hotspot_centre_x_um: Option<f64>,
    /// Hot spot centre y in µm from the top edge [default: slide centre].
    #[arg(long, value_name = "UM")]
    pub hotspot_centre_y_um: Option<f64>,
    /// Hot spot width in µm [default: 1777.6, a 4:3 rectangle of 10 HPF = 2.37 mm²].
    #[arg(long, value_name = "UM")]
    pub hotspot_width_um: Option<f64>,
    /// Hot spot height in µm [default: 1333.2].
    #[arg(long, value_name = "UM")]
    pub hotspot_height_um: Option<f64>,
    /// Stain vectors: realistic reference H&E vectors, the Ruifrok-Johnston vectors of the
    /// default deconvolution, or the reference vectors perturbed from the seed to imitate
    /// another lab.
    #[arg(long, value_enum, default_value_t = StainArg::Default)]
    pub stain: StainArg,
    /// Largest rotation of each perturbed stain vector in degrees (0 to 30) [default: 10;
    /// needs --stain perturbed].
    #[arg(long, value_name = "DEG")]
    pub stain_perturb_deg: Option<f64>,
    /// Tile width and height in pixels (a multiple of 16).
    #[arg(long, value_name = "PX", default_value_t = 256)]
    pub tile_size: u32,
    /// Tile compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::Jpeg)]
    pub compression: CompressionArg,
    /// JPEG quality 1 to 100 [default: 80; JPEG only].
    #[arg(long, value_name = "Q")]
    pub quality: Option<u8>,
    /// BigTIFF: auto (when the pixels exceed 4 GiB), yes (`--bigtiff` alone) or no.
    #[arg(long, value_enum, default_value_t = BigTiffArg::Auto, num_args = 0..=1,
          default_missing_value = "yes")]
    pub bigtiff: BigTiffArg,
    /// Pyramid levels: `auto` (divide by 4 until the largest side is at most 1024 px) or
    /// a count including level 0.
    #[arg(long, value_name = "auto|N", default_value = "auto")]
    pub levels: String,
    /// Directory layout: Aperio SVS (thumbnail, `MPP` in the description) or a generic
    /// pyramidal TIFF (pixel size only in the resolution tags).
    #[arg(long, value_enum, default_value_t = LayoutArg::Svs)]
    pub layout: LayoutArg,
}

/// `--stain` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StainArg {
    /// Realistic H&E vectors (the Macenko reference matrix), colours of typical scans.
    Default,
    /// Exactly the Ruifrok-Johnston vectors (scikit-image `rgb2hed`) of the default
    /// deconvolution.
    Ruifrok,
    /// Vectors rotated from the defaults by up to `--stain-perturb-deg`.
    Perturbed,
}

/// `--compression` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    /// JPEG, YCbCr 4:2:0, shared tables (as Aperio).
    Jpeg,
    /// LZW, lossless.
    Lzw,
    /// Deflate (zlib), lossless.
    Deflate,
    /// Uncompressed.
    None,
}

/// `--bigtiff` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BigTiffArg {
    /// BigTIFF when the uncompressed pixels exceed 4 GiB.
    Auto,
    /// Always BigTIFF.
    Yes,
    /// Always classic TIFF.
    No,
}

/// `--layout` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    /// Aperio SVS.
    Svs,
    /// Generic pyramidal TIFF.
    Generic,
}

impl SynthArgs {
    /// Validates the flags into [`SynthOptions`].
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the flag: hot-spot placement flags without
    /// `--hotspot-mitoses-per-mm2`, `--stain-perturb-deg` without `--stain perturbed`,
    /// `--quality` without JPEG, an unreadable `--levels`, and everything
    /// [`SynthOptions::validate`] rejects.
    pub fn to_options(&self) -> Result<SynthOptions> {
        let mpp = Mpp::new(self.mpp)?;
        let width_um = mpp.px_to_um(self.width as f64);
        let height_um = mpp.px_to_um(self.height as f64);
        let hotspot = match self.hotspot_mitoses_per_mm2 {
            Some(density) => Some(PlantedHotspot {
                centre_x_um: self.hotspot_centre_x_um.unwrap_or(width_um / 2.0),
                centre_y_um: self.hotspot_centre_y_um.unwrap_or(height_um / 2.0),
                width_um: self
                    .hotspot_width_um
                    .unwrap_or(PlantedHotspot::TEN_HPF_WIDTH_UM),
                height_um: self
                    .hotspot_height_um
                    .unwrap_or(PlantedHotspot::TEN_HPF_HEIGHT_UM),
                mitoses_per_mm2: density,
            }),
            None => {
                let placed = [
                    ("--hotspot-centre-x-um", self.hotspot_centre_x_um),
                    ("--hotspot-centre-y-um", self.hotspot_centre_y_um),
                    ("--hotspot-width-um", self.hotspot_width_um),
                    ("--hotspot-height-um", self.hotspot_height_um),
                ];
                if let Some((flag, _)) = placed.iter().find(|(_, v)| v.is_some()) {
                    return Err(Error::invalid_option(
                        *flag,
                        "places a hot spot, which needs --hotspot-mitoses-per-mm2",
                    ));
                }
                None
            }
        };
        let stains = match (self.stain, self.stain_perturb_deg) {
            (StainArg::Default | StainArg::Ruifrok, Some(_)) => {
                return Err(Error::invalid_option(
                    "--stain-perturb-deg",
                    "needs --stain perturbed",
                ))
            }
            (StainArg::Default, None) => SynthStains::Default,
            (StainArg::Ruifrok, None) => SynthStains::RuifrokJohnston,
            (StainArg::Perturbed, deg) => SynthStains::Perturbed {
                max_angle_deg: deg.unwrap_or(10.0),
            },
        };
        let compression = match self.compression {
            CompressionArg::Jpeg => TiffCompression::Jpeg,
            CompressionArg::Lzw => TiffCompression::Lzw,
            CompressionArg::Deflate => TiffCompression::Deflate,
            CompressionArg::None => TiffCompression::None,
        };
        if self.quality.is_some() && compression != TiffCompression::Jpeg {
            return Err(Error::invalid_option(
                "--quality",
                "applies to JPEG only; drop it or pass --compression jpeg",
            ));
        }
        let levels = match self.levels.trim() {
            "auto" => PyramidLevels::Auto,
            n => PyramidLevels::Count(n.parse().map_err(|_| {
                Error::invalid_option("--levels", format!("'{n}' is neither auto nor a count"))
            })?),
        };
        let opts = SynthOptions {
            width_px: self.width,
            height_px: self.height,
            mpp,
            seed: self.seed,
            mitoses_per_mm2: self.mitoses_per_mm2,
            lymphocytes_per_mm2: self.lymphocytes_per_mm2,
            pyknotic_per_mm2: self.pyknotic_per_mm2,
            hyperchromatic_per_mm2: self.hyperchromatic_per_mm2,
            hotspot,
            stains,
            tiff: TiffOptions {
                tile_size_px: self.tile_size,
                compression,
                jpeg_quality: self.quality.unwrap_or(80),
                bigtiff: match self.bigtiff {
                    BigTiffArg::Auto => BigTiff::Auto,
                    BigTiffArg::Yes => BigTiff::Always,
                    BigTiffArg::No => BigTiff::Never,
                },
                levels,
                layout: match self.layout {
                    LayoutArg::Svs => TiffLayout::Svs,
                    LayoutArg::Generic => TiffLayout::Generic,
                },
            },
        };
        opts.validate()?;
        Ok(opts)
    }
}

impl Cli {
    /// The validated global settings (`--threads`, `--quiet`).
    ///
    /// # Errors
    /// [`crate::error::Error::InvalidOption`] naming `--threads` when it is 0.
    pub fn config(&self) -> Result<Config> {
        let progress = if self.quiet {
            ProgressMode::Hidden
        } else {
            ProgressMode::Bar
        };
        Config::new(self.threads, progress)
    }
}

impl AnalysisArgs {
    /// The flags as plain analysis options (validated by
    /// [`crate::config::AnalysisConfig::from_options`]).
    pub fn options(&self) -> AnalysisOptions {
        AnalysisOptions {
            mpp: self.mpp,
            hpf_area_mm2: self.hpf_area_mm2,
            field_number: self.field_number,
            objective: self.objective,
            criterion: self.criterion.clone(),
            threshold: self.threshold,
            hotspot_area_mm2: self.hotspot_area_mm2,
            hotspot_aspect: self.hotspot_aspect.clone(),
            hotspot_min_tissue: self.hotspot_min_tissue,
            min_field_tissue: self.min_field_tissue,
            stains: self.stains.clone(),
            score_threshold: self.score_threshold,
            model: self.model.clone(),
            candidate_min_score: self.candidate_min_score,
            field_size_um: self.field_size_um,
            truth: self.truth.clone(),
            pictures: if self.no_images {
                Pictures::Skip
            } else {
                Pictures::Write
            },
        }
    }
}

/// Analysis flags shared by `count` and `batch`.
#[derive(Debug, Clone, Args)]
pub struct AnalysisArgs {
    /// Pixel size in µm per pixel, overriding the file's (required when the file has none).
    #[arg(long, allow_negative_numbers = true, value_name = "UM_PER_PX")]
    pub mpp: Option<f64>,

    /// Area of one high-power field in mm² [default: 0.237, i.e. FN 22 at 40x].
    #[arg(long, allow_negative_numbers = true, value_name = "MM2", conflicts_with_all = ["field_number", "objective"])]
    pub hpf_area_mm2: Option<f64>,

    /// Eyepiece field number in mm; with --objective sets the HPF area to
    /// pi * (FN / (2 M))^2.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "MM",
        requires = "objective"
    )]
    pub field_number: Option<f64>,

    /// Objective magnification M (e.g. 40); with --field-number sets the HPF area.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "M",
        requires = "field_number"
    )]
    pub objective: Option<f64>,

    /// Diagnostic criterion the verdict applies (see the README for each preset's rule).
    #[arg(long, value_name = "NAME", default_value = "cutaneous-leiomyosarcoma")]
    pub criterion: String,

    /// Mitoses per 10 HPF in the hot spot at or above which the verdict is positive,
    /// overriding the criterion's cut-off.
    #[arg(long, allow_negative_numbers = true, value_name = "PER_10_HPF")]
    pub threshold: Option<f64>,

    /// Hot-spot window area in mm² [default: the criterion's reference area, 10 HPF for
    /// counts per 10 HPF].
    #[arg(long, allow_negative_numbers = true, value_name = "MM2")]
    pub hotspot_area_mm2: Option<f64>,

    /// Hot-spot window aspect ratio, width:height.
    #[arg(long, value_name = "W:H", default_value = "4:3")]
    pub hotspot_aspect: String,

    /// Smallest tissue fraction (0-1) of a hot-spot window.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "FRACTION",
        default_value_t = 0.95
    )]
    pub hotspot_min_tissue: f64,

    /// Smallest tissue fraction (0-1) of a grid field counted as an HPF in the per-field
    /// table and heatmap.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "FRACTION",
        default_value_t = 0.5
    )]
    pub min_field_tissue: f64,

    /// Stain vectors: `auto` (Macenko estimate per slide), `default` (Ruifrok & Johnston
    /// H&E as in scikit-image rgb2hed) or `H:r,g,b;E:r,g,b[;R:r,g,b]`.
    #[arg(long, value_name = "SPEC", default_value = "auto")]
    pub stains: String,

    /// Candidates whose mitosis probability (the learned classifier's score, 0-1) is at
    /// or above this are counted as mitoses [default: the model's own threshold, chosen
    /// on its tune split; see models/README.md].
    #[arg(long, allow_negative_numbers = true, value_name = "SCORE")]
    pub score_threshold: Option<f64>,

    /// A mitosis classifier model file (safetensors, as written by training/train.py)
    /// instead of the one built into mitocount.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,

    /// Candidates scoring below this (0-1) are counted but not listed in the outputs
    /// (mitoses always are); 0 lists every blob, about 5,000 per mm² of tissue.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "SCORE",
        default_value_t = 0.01
    )]
    pub candidate_min_score: f64,

    /// Side of the square fields processed in parallel, µm (does not change the counts).
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "UM",
        default_value_t = 500.0
    )]
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
    /// Folders of slides (*.svs, *.tif, *.tiff, *.btf, *.png, *.jpg, *.jpeg), or slide
    /// files.
    #[arg(required_unless_present = "manifest", conflicts_with = "manifest")]
    pub inputs: Vec<PathBuf>,

    /// Output folder: one sub-folder per slide plus batch-summary.csv and .html.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,

    /// Search the folders' sub-folders too; the output tree mirrors the input tree.
    #[arg(long, short = 'r')]
    pub recursive: bool,

    /// A CSV of slides with per-slide settings: columns `slide` (path, relative to the
    /// manifest) and optional `mpp`, `hpf_area_mm2`, `criterion`, `case` (output
    /// sub-folder).
    #[arg(long, value_name = "CSV")]
    pub manifest: Option<PathBuf>,

    /// Skip slides whose outputs are complete and were made with the same options, model
    /// and mitocount version; redo the others.
    #[arg(long)]
    pub resume: bool,

    /// Take only the K-th of N parts of the slide list (sorted by path, dealt
    /// round-robin), for N machines or array-job tasks; join them with `mitocount merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Slides analysed at once, each with its fields in parallel [default: the number of
    /// threads, at most 4]. More keeps the cores busy on small slides; each slide in
    /// flight holds its own memory.
    #[arg(long, value_name = "N")]
    pub slides_at_once: Option<usize>,

    /// The analysis flags.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// `mitocount merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output folders of `mitocount batch` (shards) or of `mitocount count`.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,

    /// Where the merged batch-summary.csv and batch-summary.html go.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}
