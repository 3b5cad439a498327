//! `mitocount merge`: joins the summaries of several batch output folders (the shards of
//! one study, `--shard K/N`) or of `count` output folders (one per slide, as the Snakemake
//! workflow writes them) into one `batch-summary.csv` and `batch-summary.html`, and says
//! which slides of the batches' plans have no result.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::report::Report;

use super::summary::{
    format_seconds, read_csv, to_csv, write_atomically, PlanRow, SummaryRow, PLAN_FILE,
    SUMMARY_FILE,
};

/// What `merge` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOutcome {
    /// Slides with a row.
    pub slides: usize,
    /// Of which failed.
    pub failed: usize,
    /// Slides of the plans with no row (their shard did not run or did not finish).
    pub missing: Vec<String>,
    /// The merged summary.
    pub summary_path: PathBuf,
}

/// Merges the folders' summaries into `out` (created if needed).
///
/// Each folder gives its `batch-summary.shard-*.csv` files if it has any, else its
/// `batch-summary.csv`, else its `report.json` (a `count` output folder: one row).
/// Rows keep the order of the batches' plans (slides sorted by path); a slide found twice
/// keeps the row that succeeded, else the last. Each row's `out_dir` is rewritten
/// relative to `out`.
///
/// # Errors
/// [`Error::InvalidOption`] for a folder with none of those files; [`Error::Parse`] for a
/// summary or report that cannot be read; I/O errors writing the outputs.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<MergeOutcome> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let out_abs = std::fs::canonicalize(out).map_err(|e| Error::io(out, e))?;
    let mut rows: Vec<SummaryRow> = Vec::new();
    let mut plan: Vec<PlanRow> = Vec::new();
    for dir in dirs {
        let dir_abs = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
        let rebase = |rel: &str| {
            pathdiff::diff_paths(dir_abs.join(rel), &out_abs)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| dir_abs.join(rel).display().to_string())
        };
        for mut row in rows_of(dir)? {
            if !row.out_dir.is_empty() {
                row.out_dir = rebase(&row.out_dir);
            }
            rows.push(row);
        }
        let plan_path = dir.join(PLAN_FILE);
        if plan_path.is_file() {
            plan.extend(read_csv::<PlanRow>(&plan_path)?);
        }
    }
    // One row per (slide, case): the successful one, else the last seen.
    let mut best: BTreeMap<(String, String), SummaryRow> = BTreeMap::new();
    for row in rows {
        let key = (row.slide.clone(), row.case.clone());
        match best.get(&key) {
            Some(old) if old.is_ok() && !row.is_ok() => {}
            _ => {
                best.insert(key, row);
            }
        }
    }
    let mut merged = Vec::new();
    let mut missing = Vec::new();
    let mut seen = HashSet::new();
    for p in &plan {
        let key = (p.slide.clone(), p.case.clone());
        if !seen.insert(key.clone()) {
            continue;
        }
        match best.remove(&key) {
            Some(row) => merged.push(row),
            None => missing.push(format!("{} (shard {})", p.slide, p.shard)),
        }
    }
    // Rows outside every plan (count folders) follow, by slide path.
    merged.extend(best.into_values());
    let summary_path = out.join(SUMMARY_FILE);
    write_atomically(&summary_path, &to_csv(&merged, &summary_path)?)?;
    let page = super::html::page(&merged, &missing, out, "merge")?;
    write_atomically(&out.join("batch-summary.html"), page.as_bytes())?;
    Ok(MergeOutcome {
        slides: merged.len(),
        failed: merged.iter().filter(|r| !r.is_ok()).count(),
        missing,
        summary_path,
    })
}

/// The rows one folder gives (see [`merge`]), `out_dir` relative to the folder.
fn rows_of(dir: &Path) -> Result<Vec<SummaryRow>> {
    let mut shard_files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("batch-summary.shard-") && n.ends_with(".csv")
            })
        })
        .collect();
    shard_files.sort();
    if shard_files.is_empty() && dir.join(SUMMARY_FILE).is_file() {
        shard_files.push(dir.join(SUMMARY_FILE));
    }
    if !shard_files.is_empty() {
        let mut rows = Vec::new();
        for f in &shard_files {
            rows.extend(read_csv::<SummaryRow>(f)?);
        }
        return Ok(rows);
    }
    let report_path = dir.join("report.json");
    if !report_path.is_file() {
        return Err(Error::invalid_option(
            "OUT_DIRS",
            format!(
                "{} holds no batch-summary*.csv and no report.json; give the --out folders \
                 of `mitocount batch` or `mitocount count`",
                dir.display()
            ),
        ));
    }
    let bytes = std::fs::read(&report_path).map_err(|e| Error::io(&report_path, e))?;
    let report: Report = serde_json::from_slice(&bytes).map_err(|e| Error::Parse {
        path: report_path.clone(),
        reason: format!("not a mitocount report: {e}"),
    })?;
    let mut row = SummaryRow::from_report(&report, &report.slide.path, "");
    row.out_dir = ".".to_string();
    row.seconds = format_seconds(report.timings.total_s);
    Ok(vec![row])
}
