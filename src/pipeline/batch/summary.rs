//! `batch-summary.csv`: one row per slide with rounded numbers, and the plan of the batch
//! (`batch-plan.csv`, every slide of every shard) that `merge` checks for missing slides.
//!
//! The columns a slide's report gives are filled in one place, [`SummaryRow::from_report`].

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::report::{Report, VerdictBasis};

/// Name of the summary table of an unsharded batch or of `merge`.
pub const SUMMARY_FILE: &str = "batch-summary.csv";

/// Name of the plan: every slide of the batch (all shards), one per row.
pub const PLAN_FILE: &str = "batch-plan.csv";

/// `status` of a slide analysed (now or by an earlier run that `--resume` reused).
pub const STATUS_OK: &str = "ok";

/// `status` of a slide that failed; `error` says why.
pub const STATUS_ERROR: &str = "error";

/// One row of `batch-summary.csv`. Numbers are rounded text, so that a row read back and
/// written again (by `--resume` or `merge`) keeps its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SummaryRow {
    /// The slide file as given (or `manifest.csv#line-N` for a manifest row without one).
    pub slide: String,
    /// The manifest's `case`, empty without one.
    pub case: String,
    /// `ok` or `error`.
    pub status: String,
    /// Why the slide failed, empty when it did not.
    pub error: String,
    /// POSITIVE, NEGATIVE, BORDERLINE or GRADED.
    pub verdict: String,
    /// The verdict's category in words, e.g. "mitotic criterion met".
    pub category: String,
    /// The number the verdict compared with its threshold, in `verdict_unit` (2 decimals).
    pub verdict_value: String,
    /// E.g. "mitoses per 10 HPF".
    pub verdict_unit: String,
    /// The cut-off the value was compared with.
    pub verdict_threshold: String,
    /// What the count was made over: `hot-spot window` or `all tissue`.
    pub verdict_basis: String,
    /// Mitoses counted over that basis.
    pub verdict_count: String,
    /// Area counted over, mm² (3 decimals).
    pub verdict_area_mm2: String,
    /// The same area in HPF (1 decimal).
    pub verdict_area_hpf: String,
    /// Tissue area of the slide, mm² (3 decimals).
    pub tissue_area_mm2: String,
    /// Grid fields counted as HPF (tissue fraction at or above `--min-field-tissue`).
    pub hpf_counted: String,
    /// Mitoses called over the whole slide.
    pub calls: String,
    /// Level-0 pixel size used, µm/px (4 decimals).
    pub mpp_um_per_px: String,
    /// Where the pixel size came from (e.g. `AperioDescription`, `Override`).
    pub mpp_source: String,
    /// What the batch noticed (e.g. a `--mpp` that differs from the file's).
    pub note: String,
    /// mitocount version that made the report.
    pub mitocount_version: String,
    /// SHA-256 of the classifier model that made the report.
    pub model_sha256: String,
    /// Wall-clock time of the slide, s (1 decimal).
    pub seconds: String,
    /// The slide's output folder, relative to the summary's folder.
    pub out_dir: String,
}

impl SummaryRow {
    /// The row of a slide whose report was made. The one place that reads the report for
    /// the summary (when the report gains fields, adapt here).
    pub fn from_report(report: &Report, slide: &str, case: &str) -> Self {
        let v = &report.verdict;
        let hpf_area_mm2 = report.parameters.hpf_area_mm2;
        SummaryRow {
            slide: slide.to_string(),
            case: case.to_string(),
            status: STATUS_OK.to_string(),
            verdict: v.outcome.word().to_string(),
            category: v.category.clone(),
            verdict_value: v.value.map(|x| format!("{x:.2}")).unwrap_or_default(),
            verdict_unit: v.value_unit.clone(),
            verdict_threshold: format!("{}", v.threshold),
            verdict_basis: match v.basis {
                VerdictBasis::Hotspot => "hot-spot window",
                VerdictBasis::AllTissue => "all tissue",
            }
            .to_string(),
            verdict_count: v.count.to_string(),
            verdict_area_mm2: format!("{:.3}", v.counted_area_mm2),
            verdict_area_hpf: format!("{:.1}", v.counted_area_mm2 / hpf_area_mm2),
            tissue_area_mm2: format!("{:.3}", report.tissue.tissue_area_mm2),
            hpf_counted: report.tissue.fields_counted.to_string(),
            calls: report.counts.mitoses.to_string(),
            mpp_um_per_px: format!("{:.4}", report.slide.mpp_um_per_px),
            mpp_source: report.slide.mpp_source.clone(),
            mitocount_version: report.program.version.clone(),
            model_sha256: report
                .parameters
                .classifier
                .as_ref()
                .map(|m| m.sha256.clone())
                .unwrap_or_default(),
            seconds: format_seconds(report.timings.total_s),
            ..SummaryRow::default()
        }
    }

    /// The row of a slide that failed.
    pub fn failed(slide: &str, case: &str, error: &str) -> Self {
        SummaryRow {
            slide: slide.to_string(),
            case: case.to_string(),
            status: STATUS_ERROR.to_string(),
            error: error.to_string(),
            mitocount_version: env!("CARGO_PKG_VERSION").to_string(),
            ..SummaryRow::default()
        }
    }

    /// Whether the slide was analysed.
    pub fn is_ok(&self) -> bool {
        self.status == STATUS_OK
    }
}

/// Seconds as the summary writes them (1 decimal).
pub fn format_seconds(s: f64) -> String {
    format!("{s:.1}")
}

/// One row of `batch-plan.csv`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanRow {
    /// The slide as in the summary's `slide` column.
    pub slide: String,
    /// The manifest's case.
    pub case: String,
    /// The shard that takes it, `K/N`.
    pub shard: String,
}

/// The CSV text of `rows` (header included).
///
/// # Errors
/// [`Error::Output`] naming `name` if serialisation fails.
pub fn to_csv<T: serde::Serialize>(rows: &[T], name: &Path) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| csv_error(name, e))?;
    }
    w.into_inner().map_err(|e| Error::Output {
        path: name.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads a CSV written by [`to_csv`].
///
/// # Errors
/// [`Error::Parse`] with the line number for a file that is not such a table.
pub fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    r.deserialize()
        .map(|row| {
            row.map_err(|e| Error::Parse {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// An [`Error::Output`] for a CSV error on `path`.
pub fn csv_error(path: &Path, e: csv::Error) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes `bytes` to `path` through a temporary name in the same folder (unique to this
/// process, so shards writing the same plan do not collide) and a rename, so that a
/// killed run never leaves a half-written file under the final name.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.partial", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_a_round_trip_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            SummaryRow {
                verdict_value: "3.00".into(),
                note: "a, \"quoted\" note".into(),
                ..SummaryRow::failed("a b.svs", "c1", "line 3: bad")
            },
            SummaryRow::failed("x.tif", "", "no such file"),
        ];
        let path = dir.path().join(SUMMARY_FILE);
        let bytes = to_csv(&rows, &path).unwrap();
        write_atomically(&path, &bytes).unwrap();
        let back: Vec<SummaryRow> = read_csv(&path).unwrap();
        assert_eq!(back, rows);
        assert_eq!(to_csv(&back, &path).unwrap(), bytes);
    }
}
