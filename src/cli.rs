//! Command-line arguments (clap) and their validation into per-stage options.
//!
//! Raw flags live in the `*Args` structs; [`Config`] and friends are what the stages see.
//! Stages never see clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Prints what a slide file holds: format, levels, tiles, compression, MPP.
    Info(InfoArgs),
    /// Writes a synthetic H&E slide (pyramidal tiled TIFF) and its ground truth.
    Synth(SynthArgs),
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
