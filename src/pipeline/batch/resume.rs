//! `--resume`: a slide's output folder holds a completion record (`batch-slide.json`),
//! written after every other output of the slide, with the fingerprint of what made them
//! (mitocount version, the analysis options, the model's SHA-256, the slide file's size
//! and modification time). A slide whose record is missing, does not match, or lists a
//! file that is gone is analysed again.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::AnalysisOptions;
use crate::error::{Error, Result};

use super::summary::{write_atomically, SummaryRow};

/// The completion record's file name, inside the slide's output folder.
pub const DONE_FILE: &str = "batch-slide.json";

/// What a slide's outputs were made from, hashed (SHA-256, hex).
///
/// Options are hashed as serialised JSON, so any changed flag or manifest value changes it.
pub fn fingerprint(slide: &Path, options: &AnalysisOptions, model_sha256: &str) -> String {
    #[derive(serde::Serialize)]
    struct Made<'a> {
        version: &'a str,
        slide: String,
        slide_bytes: Option<u64>,
        slide_modified_ns: Option<u128>,
        options: &'a AnalysisOptions,
        model_sha256: &'a str,
    }
    let (slide_bytes, slide_modified_ns) = stamp(slide);
    let made = Made {
        version: env!("CARGO_PKG_VERSION"),
        slide: slide.display().to_string(),
        slide_bytes,
        slide_modified_ns,
        options,
        model_sha256,
    };
    let json = serde_json::to_vec(&made).unwrap_or_default();
    Sha256::digest(&json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Size in bytes and last modification (ns since 1970) of a slide file; of a slide folder
/// (a DICOM series), the sum of its files' sizes and the latest of their modifications.
fn stamp(slide: &Path) -> (Option<u64>, Option<u128>) {
    let of = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
    };
    let Ok(meta) = std::fs::metadata(slide) else {
        return (None, None);
    };
    if !meta.is_dir() {
        return (Some(meta.len()), of(&meta));
    }
    let (mut bytes, mut latest) = (0u64, None::<u128>);
    for entry in std::fs::read_dir(slide).into_iter().flatten().flatten() {
        if let Ok(m) = entry.metadata() {
            if m.is_file() {
                bytes += m.len();
                latest = latest.max(of(&m));
            }
        }
    }
    (Some(bytes), latest)
}

/// The completion record of one slide.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DoneRecord {
    /// [`fingerprint`] of what made the outputs.
    pub fingerprint: String,
    /// The analysis options, for a reader who wants to know (not compared: the
    /// fingerprint is).
    pub options: AnalysisOptions,
    /// The files written, relative to the slide's output folder.
    pub files: Vec<String>,
    /// The slide's summary row.
    pub row: SummaryRow,
}

/// The summary row of a slide whose outputs in `out_dir` are complete and were made by
/// `fingerprint`; `None` when the slide must be analysed (again).
pub fn completed(out_dir: &Path, fingerprint: &str) -> Option<SummaryRow> {
    let bytes = std::fs::read(out_dir.join(DONE_FILE)).ok()?;
    let record: DoneRecord = serde_json::from_slice(&bytes).ok()?;
    let complete =
        record.fingerprint == fingerprint && record.files.iter().all(|f| out_dir.join(f).is_file());
    complete.then_some(record.row)
}

/// Removes the record before a slide is (re)analysed, so that outputs left half-made by
/// a killed run are never taken as complete.
///
/// # Errors
/// [`Error::Io`] when it exists and cannot be removed.
pub fn forget(out_dir: &Path) -> Result<()> {
    let path = out_dir.join(DONE_FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Writes the record, last, after every other output of the slide.
///
/// # Errors
/// [`Error::Io`] or [`Error::Output`] naming the file.
pub fn record(out_dir: &Path, written: &[PathBuf], record: DoneRecord) -> Result<()> {
    let path = out_dir.join(DONE_FILE);
    let files = written
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let record = DoneRecord { files, ..record };
    let mut json = serde_json::to_vec_pretty(&record).map_err(|e| Error::Output {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    json.push(b'\n');
    write_atomically(&path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_counts_only_with_its_fingerprint_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let slide = dir.path().join("s.svs");
        std::fs::write(&slide, b"pixels").unwrap();
        let opts = AnalysisOptions::default();
        let fp = fingerprint(&slide, &opts, "abc");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let report = out.join("report.json");
        std::fs::write(&report, b"{}").unwrap();
        let row = SummaryRow::failed("s.svs", "", "");
        let rec = DoneRecord {
            fingerprint: fp.clone(),
            options: opts.clone(),
            files: Vec::new(),
            row: row.clone(),
        };
        record(&out, std::slice::from_ref(&report), rec).unwrap();
        assert_eq!(completed(&out, &fp), Some(row));
        // Another model, other options: not done.
        assert_eq!(completed(&out, &fingerprint(&slide, &opts, "abd")), None);
        let other = AnalysisOptions {
            mpp: Some(0.5),
            ..opts.clone()
        };
        assert_eq!(completed(&out, &fingerprint(&slide, &other, "abc")), None);
        // A listed file gone: not done.
        std::fs::remove_file(&report).unwrap();
        assert_eq!(completed(&out, &fp), None);
        forget(&out).unwrap();
        assert!(!out.join(DONE_FILE).exists());
    }
}
