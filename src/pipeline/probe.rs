//! One bounded pass over every entry point a slide file reaches, for fuzzing: open, the
//! `info` summary (as JSON), every associated image, region reads on every level (inside,
//! across the edges and outside), then the whole analysis (overview, tissue mask, stain
//! estimate, detection and classification, hot spot, report and its pictures) on small
//! fields. The coverage-guided target in `fuzz/` and the CI mutation smoke run
//! (`examples/fuzz_smoke.rs`) both call [`probe_slide`]; a mutated file must come back
//! `Ok` or `Err`, never panic, hang or allocate past [`probe_limits`].

use std::path::Path;

use crate::config::{AnalysisConfig, AnalysisOptions, ProgressMode};
use crate::error::Result;
use crate::slide::{Limits, Slide};
use crate::units::Mpp;

use super::{analyse_slide, Progress};

/// Pixel size given to slides that state none (or an implausible one), as `--mpp 0.25`
/// would, so that a file without one still reaches the analysis.
const PROBE_FALLBACK_MPP_UM: f64 = 0.25;

/// Side of the region reads made on every level, px.
const PROBE_REGION_SIDE_PX: u32 = 96;

/// Reader bounds for fuzzing: images up to 8192 px a side, decoded tiles and associated
/// images up to 16 MiB, compressed chunks up to 16 MiB, an 8 MiB tile cache and regions up
/// to 128 MiB. They bound the work one input can cause (an 8192 x 8192 level is read once
/// for the overview) and the memory (well under 1 GiB with the analysis).
pub fn probe_limits() -> Limits {
    Limits {
        max_side_px: 8192,
        max_chunk_bytes: 16 << 20,
        max_compressed_chunk_bytes: 16 << 20,
        tile_cache_bytes: 8 << 20,
        max_region_bytes: 128 << 20,
    }
}

/// The analysis settings of the probe: the defaults with the smallest field size (50 µm,
/// so a small image is a few small fields), pictures on (their region reads are entry
/// points too) and the embedded classifier.
///
/// # Errors
/// As [`AnalysisConfig::from_options`] (none for these options).
pub fn probe_config() -> Result<AnalysisConfig> {
    AnalysisConfig::from_options(&AnalysisOptions {
        field_size_um: 50.0,
        ..AnalysisOptions::default()
    })
}

/// What one probe saw, for a summary of a fuzzing run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeOutcome {
    /// Pyramid levels of the slide.
    pub levels: usize,
    /// Associated images decoded.
    pub associated_images: usize,
    /// Detections (candidates listed in the report).
    pub detections: usize,
}

/// Opens `path` with `limits` and drives it through every reader and analysis entry
/// point (see the module documentation). A slide without a plausible pixel size gets
/// 0.25 µm/px. Uses the current rayon pool (install a one-thread pool to fuzz).
///
/// # Errors
/// The first error any step returns: a malformed or unsupported file is an `Err`.
pub fn probe_slide(path: &Path, limits: Limits, cfg: &AnalysisConfig) -> Result<ProbeOutcome> {
    let mut slide = Slide::open_with_limits(path, limits)?;
    let info = slide.info();
    serde_json::to_string(&info).map_err(|e| crate::error::Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    for a in &info.associated_images {
        slide.read_associated(a.kind)?;
    }
    let s = i64::from(PROBE_REGION_SIDE_PX);
    for (level, l) in info.levels.iter().enumerate() {
        let (w, h) = (l.width_px as i64, l.height_px as i64);
        for (x, y) in [
            (0, 0),
            (w / 2, h / 2),
            (w - s / 2, h - s / 2),
            (-s / 2, -s / 2),
        ] {
            slide.read_region(level, x, y, PROBE_REGION_SIDE_PX, PROBE_REGION_SIDE_PX)?;
        }
        slide.read_region(level, w + 1, h + 1, 8, 8)?;
    }
    if slide.mpp().is_err() {
        slide.set_mpp_override(Mpp::new(PROBE_FALLBACK_MPP_UM)?);
    }
    let analysis = analyse_slide(&slide, cfg, &Progress::new(ProgressMode::Hidden, ""))?;
    Ok(ProbeOutcome {
        levels: info.levels.len(),
        associated_images: info.associated_images.len(),
        detections: analysis.report.detections.len(),
    })
}
