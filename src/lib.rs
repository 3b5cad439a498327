//! mitocount: counts mitotic figures in H&E whole-slide images.
//!
//! # Stages and data flow
//! Stages depend one way; only [`pipeline`] knows them all and owns the thread pool.
//!
//! 1. [`cli`] turns the flags into a [`config::AnalysisConfig`] holding one options struct
//!    per stage (a library user builds it from [`config::AnalysisOptions`] without clap).
//! 2. [`slide`] opens the file (SVS, pyramidal TIFF, BigTIFF, PNG, JPEG), lists levels and
//!    reads the level-0 pixel size (MPP); region reads decode only the tiles they touch.
//! 3. [`tiling`] builds a tissue mask from a low-resolution level and cuts the tissue
//!    into fields (squares in µm, each with a halo).
//! 4. [`stain`] turns RGB into haematoxylin and eosin optical density (Ruifrok & Johnston
//!    2001), with stain vectors fixed or estimated once per slide (Macenko et al. 2009).
//! 5. [`detect`] finds dark haematoxylin blobs in each field, measures them in physical
//!    units, and a learned classifier (a small CNN over the RGB pixels around each blob,
//!    [`detect::cnn`]) gives the probability that it is a mitosis. Fields run in
//!    parallel; only small summaries travel back.
//! 6. [`hotspot`] finds the densest 10-HPF window; [`report`] writes the verdict, tables,
//!    GeoJSON, pictures and the HTML page.
//!
//! [`synth`] makes synthetic slides with known ground truth for tests and benchmarks.
//!
//! # Units and coordinates
//! Lengths carry their unit in their name: `_px`, `_um`, `_um2`, `_mm2`, `_od`. Pixels
//! exist only after an explicit µm -> px conversion in [`units`]. Slide coordinates are
//! level-0 pixels, x to the right, y down; arrays are indexed `[row, col]`.

pub mod cli;
pub mod commands;
pub mod config;
pub mod detect;
pub mod error;
pub mod hotspot;
pub mod pipeline;
pub mod report;
pub mod slide;
pub mod stain;
pub mod synth;
pub mod tiling;
pub mod units;

pub use error::{Error, Result};
