//! `mitocount batch`: every slide of a folder, one after another (each slide's fields in
//! parallel); a slide that fails is recorded with its error and the batch goes on.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::AnalysisConfig;
use crate::error::{Error, Result};

use super::progress::{Progress, ProgressMode};
use super::{analyse_slide, open_slide, write_analysis};

/// File name extensions (lower case) taken as slides when a folder is given.
pub const SLIDE_EXTENSIONS: [&str; 7] = ["svs", "tif", "tiff", "btf", "png", "jpg", "jpeg"];

/// Name of the summary table written into the output folder.
pub const SUMMARY_FILE: &str = "batch-summary.csv";

/// What a batch run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Slides attempted.
    pub total: usize,
    /// Slides that failed (listed with their error in the summary).
    pub failed: usize,
    /// The summary CSV.
    pub summary_path: PathBuf,
}

/// One row of `batch-summary.csv`.
#[derive(Debug, serde::Serialize)]
struct SummaryRow {
    slide: String,
    status: &'static str,
    error: String,
    out_dir: String,
    mpp_um_per_px: Option<f64>,
    tissue_area_mm2: Option<f64>,
    candidates: Option<usize>,
    mitoses: Option<usize>,
    hotspot_mitoses: Option<usize>,
    /// The verdict's one number (`Verdict::value`), in `verdict_unit`.
    verdict_value: Option<f64>,
    verdict_unit: String,
    /// What `verdict_value` was counted over (`Verdict::basis_text`).
    verdict_basis: String,
    /// POSITIVE, NEGATIVE, ..., INSUFFICIENT TISSUE, and the category.
    verdict: String,
    seconds: f64,
}

/// The slide files named by `inputs`: files as given, folders expanded to their files
/// with a slide extension (not recursive), each folder's files in name order.
///
/// # Errors
/// [`Error::Io`] for a folder that cannot be listed; [`Error::InvalidOption`] when no
/// slide is found at all.
pub fn collect_slides(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut slides = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| Error::io(input, e))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && has_slide_extension(p))
                .collect();
            found.sort();
            slides.extend(found);
        } else {
            // A missing file is kept: it is reported as that slide's failure.
            slides.push(input.clone());
        }
    }
    if slides.is_empty() {
        return Err(Error::invalid_option(
            "INPUTS",
            format!(
                "no slide files (extensions {}) in {}",
                SLIDE_EXTENSIONS.join(", "),
                inputs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(slides)
}

fn has_slide_extension(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| SLIDE_EXTENSIONS.contains(&e.as_str()))
}

/// Output folder names per slide: the file stem, with `-2`, `-3`, ... for repeats.
fn out_names(slides: &[PathBuf]) -> Vec<String> {
    let mut used = std::collections::HashSet::new();
    slides
        .iter()
        .map(|p| {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "slide".to_string());
            let mut name = stem.clone();
            let mut k = 2;
            while !used.insert(name.clone()) {
                name = format!("{stem}-{k}");
                k += 1;
            }
            name
        })
        .collect()
}

/// Analyses every slide of `inputs` into `out/<slide name>/` and writes
/// `out/batch-summary.csv`, one row per slide, flushed after each slide so that an
/// interrupted batch keeps what it finished. A slide that fails (unreadable, no MPP,
/// any error, even a panic) is recorded with its error and the batch goes on.
///
/// # Errors
/// Only what stops the whole batch: no slides found, the output folder or summary file
/// cannot be written.
pub fn run_batch(
    inputs: &[PathBuf],
    out: &Path,
    cfg: &AnalysisConfig,
    mode: ProgressMode,
) -> Result<BatchOutcome> {
    let slides = collect_slides(inputs)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let summary_path = out.join(SUMMARY_FILE);
    let mut writer =
        csv::Writer::from_path(&summary_path).map_err(|e| csv_error(&summary_path, e))?;
    let names = out_names(&slides);
    let mut failed = 0;
    for (i, (slide_path, name)) in slides.iter().zip(&names).enumerate() {
        let started = Instant::now();
        let out_dir = out.join(name);
        let label = format!("[{}/{}] {}", i + 1, slides.len(), name);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            analyse_one(slide_path, &out_dir, cfg, mode, &label)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(Error::Unsupported {
                path: slide_path.clone(),
                reason: format!("internal error ({what}); please report it with the file"),
            })
        });
        let seconds = started.elapsed().as_secs_f64();
        let row = match result {
            Ok(report) => {
                if mode == ProgressMode::Bar {
                    eprintln!(
                        "{label}: {} mitoses, {} ({seconds:.1} s)",
                        report.counts.mitoses, report.verdict.headline
                    );
                }
                SummaryRow {
                    slide: slide_path.display().to_string(),
                    status: "ok",
                    error: String::new(),
                    out_dir: out_dir.display().to_string(),
                    mpp_um_per_px: Some(report.slide.mpp_um_per_px),
                    tissue_area_mm2: Some(report.tissue.tissue_area_mm2),
                    candidates: Some(report.counts.candidates),
                    mitoses: Some(report.counts.mitoses),
                    hotspot_mitoses: report.hotspot.as_ref().map(|h| h.mitoses),
                    verdict_value: report.verdict.value,
                    verdict_unit: report.verdict.value_unit.clone(),
                    verdict_basis: report.verdict.basis_text.clone(),
                    verdict: format!(
                        "{} ({})",
                        report.verdict.outcome.word(),
                        report.verdict.category
                    ),
                    seconds,
                }
            }
            Err(e) => {
                failed += 1;
                if mode == ProgressMode::Bar {
                    eprintln!("{label}: FAILED: {e}");
                }
                SummaryRow {
                    slide: slide_path.display().to_string(),
                    status: "error",
                    error: e.to_string(),
                    out_dir: String::new(),
                    mpp_um_per_px: None,
                    tissue_area_mm2: None,
                    candidates: None,
                    mitoses: None,
                    hotspot_mitoses: None,
                    verdict_value: None,
                    verdict_unit: String::new(),
                    verdict_basis: String::new(),
                    verdict: String::new(),
                    seconds,
                }
            }
        };
        writer
            .serialize(&row)
            .map_err(|e| csv_error(&summary_path, e))?;
        writer.flush().map_err(|e| Error::io(&summary_path, e))?;
    }
    Ok(BatchOutcome {
        total: slides.len(),
        failed,
        summary_path,
    })
}

fn analyse_one(
    slide_path: &Path,
    out_dir: &Path,
    cfg: &AnalysisConfig,
    mode: ProgressMode,
    label: &str,
) -> Result<crate::report::Report> {
    let slide = open_slide(slide_path, cfg)?;
    let progress = Progress::new(mode, label);
    let analysis = analyse_slide(&slide, cfg, &progress);
    progress.finish();
    let analysis = analysis?;
    write_analysis(&analysis, out_dir)?;
    Ok(analysis.report)
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
