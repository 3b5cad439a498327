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
