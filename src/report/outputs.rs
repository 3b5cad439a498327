//! Writing the output folder so that it never lies: every file goes to a temporary name and
//! is renamed into place; files of an earlier run that this run does not write are
//! removed; `report.json` is removed when a run starts and written last, only once every
//! other file is in place. So a folder holding a `report.json` holds one complete run,
//! and a run that is killed (even by SIGKILL) leaves a folder without one.

use std::path::{Path, PathBuf};

use super::{html, images, tables, Report, ReportImages};
use crate::error::{Error, Result};

/// Every file name `mitocount count` may write into its output folder, `report.json`
/// first. A run removes those of them it does not write (an earlier run's), and leaves
/// every other file in the folder alone.
pub const OUTPUT_FILES: [&str; 7] = [
    "report.json",
    "detections.csv",
    "detections.geojson",
    "mitotic-figures.json",
    "heatmap.png",
    "hotspot.png",
    "report.html",
];

/// Suffix of the temporary files renamed into place.
const PARTIAL_SUFFIX: &str = ".partial";

/// Makes `out_dir` ready before an analysis starts: creates it, checks that a file can be
/// written there, and removes an earlier run's `report.json`, so that the folder does not
/// look complete until this run has finished. Call it before the analysis, so that an
/// unusable `--out` is found in a second, not after minutes of work.
///
/// # Errors
/// [`Error::Output`] naming the folder and saying to choose another `--out` when it cannot
/// be created or written.
pub fn prepare_out_dir(out_dir: &Path) -> Result<()> {
    let unusable = |what: String| Error::Output {
        path: out_dir.to_path_buf(),
        reason: format!("{what}; choose a folder you can write with --out"),
    };
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(unusable(
            "is a file, not a folder, so the report cannot be written there".to_string(),
        ));
    }
    std::fs::create_dir_all(out_dir)
        .map_err(|e| unusable(format!("the output folder cannot be created ({e})")))?;
    let probe = out_dir.join(".mitocount-write-check.partial");
    std::fs::write(&probe, b"")
        .map_err(|e| unusable(format!("the output folder is not writable ({e})")))?;
    let _ = std::fs::remove_file(&probe);
    remove_if_present(&out_dir.join("report.json"))
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Writes every output file into `out_dir` (created if missing) and returns their paths,
/// `report.json` last. Without `images` (`--no-images`) only the tables are written: no
/// PNG and no HTML; without a hot spot, no `hotspot.png`.
///
/// Order: [`prepare_out_dir`]; each other file to `NAME.partial`, renamed to `NAME`;
/// the names of [`OUTPUT_FILES`] this run does not write (an earlier run's files) and
/// leftover `.partial` files removed; then `report.json`, which lists this run's files
/// under `outputs`.
///
/// # Errors
/// [`Error::Output`] or [`Error::Io`] naming the file or folder when it cannot be
/// created, written or removed, or an image cannot be encoded.
pub fn write_outputs(
    report: &Report,
    images: Option<&ReportImages>,
    out_dir: &Path,
) -> Result<Vec<PathBuf>> {
    prepare_out_dir(out_dir)?;
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("detections.csv", tables::detections_csv(report)?),
        (
            "detections.geojson",
            json_bytes(&tables::geojson(report), "detections.geojson")?,
        ),
        (
            "mitotic-figures.json",
            json_bytes(&tables::midog_points(report)?, "mitotic-figures.json")?,
        ),
    ];
    if let Some(images) = images {
        let heatmap = images::encode_png(&images::render_heatmap(report, images)?, "heatmap.png")?;
        let hotspot = images::render_hotspot_view(report, images)?;
        let page = html::page(report, images, &heatmap, hotspot.as_ref())?;
        files.push(("heatmap.png", heatmap));
        if let Some(img) = &hotspot {
            files.push(("hotspot.png", images::encode_png(img, "hotspot.png")?));
        }
        files.push(("report.html", page.into_bytes()));
    }
    let mut written = Vec::new();
    for (name, bytes) in &files {
        let path = out_dir.join(name);
        write_atomically(&path, bytes)?;
        written.push(path);
    }
    let names: Vec<&str> = std::iter::once("report.json")
        .chain(files.iter().map(|(n, _)| *n))
        .collect();
    for stale in OUTPUT_FILES.iter().filter(|n| !names.contains(n)) {
        remove_if_present(&out_dir.join(stale))?;
    }
    for name in OUTPUT_FILES {
        remove_if_present(&out_dir.join(format!("{name}{PARTIAL_SUFFIX}")))?;
    }
    let mut json = serde_json::to_value(report).map_err(|e| Error::Output {
        path: PathBuf::from("report.json"),
        reason: e.to_string(),
    })?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("outputs".to_string(), serde_json::json!(names));
    }
    let path = out_dir.join("report.json");
    write_atomically(&path, &json_bytes(&json, "report.json")?)?;
    written.push(path);
    Ok(written)
}

fn json_bytes(v: &serde_json::Value, name: &str) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Output {
        path: PathBuf::from(name),
        reason: e.to_string(),
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(PARTIAL_SUFFIX);
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
