//! The slide list of a batch: folders (flat or recursive) or a manifest CSV, each slide with
//! its output folder and per-slide settings, sorted by path and cut into shards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::AnalysisOptions;
use crate::error::{Error, Result};

/// File name extensions (lower case) taken as slides when a folder is given. A folder
/// holding more than one `.dcm` file is one DICOM series (each instance a pyramid level,
/// label or overview), taken as one slide; a lone `.dcm` file is a slide by itself.
pub const SLIDE_EXTENSIONS: [&str; 8] = ["svs", "tif", "tiff", "btf", "dcm", "png", "jpg", "jpeg"];

/// How folders given as inputs are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// The folder's own files only.
    Flat,
    /// Every sub-folder too (`--recursive`); the output tree mirrors the input tree.
    Recursive,
}

/// `--shard K/N`: this process takes the K-th (1-based) of N parts of the sorted list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: usize,
    /// Number of parts, >= 1.
    pub count: usize,
}

impl Shard {
    /// The whole list.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `K/N` with 1 <= K <= N.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--shard`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_option(
                "--shard",
                format!("expected K/N with 1 <= K <= N (e.g. 2/8), got {text:?}"),
            )
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the slide at `position` of the sorted list belongs to this shard: slides
    /// are dealt round-robin, so every shard gets a similar mix and the split depends only
    /// on the sorted list, never on timing.
    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

/// One slide of the batch with everything needed to analyse it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlideJob {
    /// The slide file, as found or as the manifest names it.
    pub slide: PathBuf,
    /// The manifest's `case`, empty without one.
    pub case: String,
    /// Output folder relative to `--out`.
    pub out_rel: PathBuf,
    /// The analysis options for this slide (the flags, with the manifest's columns
    /// applied), or why the manifest row cannot be used.
    pub options: std::result::Result<AnalysisOptions, String>,
    /// Whether `mpp` came from the manifest (else from `--mpp`, if set).
    pub mpp_from_manifest: bool,
}

/// What the batch runs over: folders or files, or a manifest.
#[derive(Debug, Clone)]
pub enum Source<'a> {
    /// Slide files and folders of slides.
    Paths(&'a [PathBuf], Walk),
    /// A manifest CSV (`--manifest`).
    Manifest(&'a Path),
}

/// The batch's slides, sorted by path (the order of the summary and the basis of
/// `--shard`), each with its output folder.
///
/// # Errors
/// [`Error::Io`] for a folder or manifest that cannot be read; [`Error::InvalidOption`]
/// when no slide is found, or when two slides would write to the same output folder
/// (the message names both).
pub fn plan(source: &Source, base: &AnalysisOptions) -> Result<Vec<SlideJob>> {
    let mut jobs = match source {
        Source::Paths(inputs, walk) => from_paths(inputs, *walk, base)?,
        Source::Manifest(path) => from_manifest(path, base)?,
    };
    jobs.sort_by(|a, b| a.slide.cmp(&b.slide));
    jobs.dedup_by(|a, b| a.slide == b.slide && a.case == b.case);
    let mut owners: BTreeMap<&Path, &Path> = BTreeMap::new();
    for job in &jobs {
        if let Some(first) = owners.insert(&job.out_rel, &job.slide) {
            return Err(Error::invalid_option(
                "INPUTS",
                format!(
                    "{} and {} would both write to the output folder {}; rename one, \
                     or list them in a --manifest with different `case` values",
                    first.display(),
                    job.slide.display(),
                    job.out_rel.display()
                ),
            ));
        }
    }
    Ok(jobs)
}

fn stem_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "slide".to_string())
}

fn has_slide_extension(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| SLIDE_EXTENSIONS.contains(&e.as_str()))
}

fn is_dicom_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("dcm"))
}

fn from_paths(inputs: &[PathBuf], walk: Walk, base: &AnalysisOptions) -> Result<Vec<SlideJob>> {
    let job = |slide: PathBuf, out_rel: PathBuf| SlideJob {
        slide,
        case: String::new(),
        out_rel,
        options: Ok(base.clone()),
        mpp_from_manifest: false,
    };
    let mut jobs = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            // A missing file is kept: it is reported as that slide's failure.
            jobs.push(job(input.clone(), PathBuf::from(stem_of(input))));
            continue;
        }
        let depth = match walk {
            Walk::Flat => 1,
            Walk::Recursive => usize::MAX,
        };
        // DICOM instances by folder: more than one in a folder is one series (one slide).
        let mut dicom: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
        for entry in walkdir::WalkDir::new(input).min_depth(1).max_depth(depth) {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(input).to_path_buf();
                Error::io(path, std::io::Error::other(e.to_string()))
            })?;
            let path = entry.path();
            if !entry.file_type().is_file() || !has_slide_extension(path) {
                continue;
            }
            if is_dicom_file(path) {
                let folder = path.parent().unwrap_or(input).to_path_buf();
                dicom.entry(folder).or_default().push(path.to_path_buf());
                continue;
            }
            // The output tree mirrors the input tree: sub/folder/a.svs -> sub/folder/a/.
            let rel = path.strip_prefix(input).unwrap_or(path);
            let out_rel = rel.with_file_name(stem_of(path));
            jobs.push(job(path.to_path_buf(), out_rel));
        }
        for (folder, files) in dicom {
            if let [one] = files.as_slice() {
                let rel = one.strip_prefix(input).unwrap_or(one);
                jobs.push(job(one.clone(), rel.with_file_name(stem_of(one))));
            } else {
                // The series folder is the slide; its output folder is named after it
                // (the input folder itself: after the input's name).
                let out_rel = match folder.strip_prefix(input) {
                    Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
                    _ => PathBuf::from(stem_of(&folder)),
                };
                jobs.push(job(folder, out_rel));
            }
        }
    }
    if jobs.is_empty() {
        return Err(Error::invalid_option(
            "INPUTS",
            format!(
                "no slide files (extensions {}) in {}{}",
                SLIDE_EXTENSIONS.join(", "),
                inputs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                match walk {
                    Walk::Flat => "; pass --recursive to search sub-folders",
                    Walk::Recursive => "",
                }
            ),
        ));
    }
    Ok(jobs)
}

/// One manifest row as written (every column optional but `slide`).
#[derive(Debug, serde::Deserialize)]
struct ManifestRow {
    slide: Option<String>,
    #[serde(default)]
    mpp: Option<String>,
    #[serde(default)]
    hpf_area_mm2: Option<String>,
    #[serde(default)]
    criterion: Option<String>,
    #[serde(default)]
    case: Option<String>,
}

/// Reads a manifest: CSV with a header, column `slide` (a path, relative to the
/// manifest's folder unless absolute) and optional `mpp` (µm/px), `hpf_area_mm2`,
/// `criterion` (a preset name) and `case` (output sub-folder). A bad row becomes a job
/// that fails with its line number; the others go on.
fn from_manifest(path: &Path, base: &AnalysisOptions) -> Result<Vec<SlideJob>> {
    let parse_err = |reason: String| Error::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .map_err(|e| parse_err(e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| parse_err(e.to_string()))?
        .clone();
    if !headers.iter().any(|h| h == "slide") {
        return Err(parse_err(format!(
            "line 1: no `slide` column (columns: {}); the header must name slide and \
             optionally mpp, hpf_area_mm2, criterion, case",
            headers.iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let folder = path.parent().unwrap_or(Path::new(""));
    let mut jobs = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = record
            .as_ref()
            .ok()
            .and_then(|r| r.position().map(|p| p.line() as usize))
            .unwrap_or(i + 2);
        let at = |what: String| format!("{} line {line}: {what}", path.display());
        let row: std::result::Result<ManifestRow, String> = record
            .map_err(|e| at(e.to_string()))
            .and_then(|r| r.deserialize(Some(&headers)).map_err(|e| at(e.to_string())));
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                jobs.push(bad_row(format!("{}#line-{line}", path.display()), e));
                continue;
            }
        };
        let Some(slide) = row.slide.filter(|s| !s.is_empty()) else {
            jobs.push(bad_row(
                format!("{}#line-{line}", path.display()),
                at("no slide path".into()),
            ));
            continue;
        };
        let slide = folder.join(slide);
        let case = row.case.unwrap_or_default();
        let mut out_rel = PathBuf::from(&case);
        out_rel.push(stem_of(&slide));
        let number = |col: &str, v: &Option<String>| -> std::result::Result<Option<f64>, String> {
            match v.as_deref() {
                None | Some("") => Ok(None),
                Some(t) => t
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .map(Some)
                    .ok_or_else(|| at(format!("{col} {t:?} is not a positive number"))),
            }
        };
        let options = (|| {
            if !slide.is_file() {
                return Err(at(format!("no such file: {}", slide.display())));
            }
            let mut o = base.clone();
            let mpp = number("mpp", &row.mpp)?;
            if mpp.is_some() {
                o.mpp = mpp;
            }
            if let Some(area) = number("hpf_area_mm2", &row.hpf_area_mm2)? {
                o.hpf_area_mm2 = Some(area);
                o.field_number = None;
                o.objective = None;
            }
            if let Some(c) = row.criterion.filter(|c| !c.is_empty()) {
                o.criterion = c;
            }
            Ok(o)
        })();
        let mpp_from_manifest = row.mpp.as_deref().is_some_and(|m| !m.is_empty());
        jobs.push(SlideJob {
            slide,
            case,
            out_rel,
            options,
            mpp_from_manifest,
        });
    }
    if jobs.is_empty() {
        return Err(parse_err("no rows after the header".into()));
    }
    Ok(jobs)
}

fn bad_row(name: String, error: String) -> SlideJob {
    SlideJob {
        out_rel: PathBuf::from(&name),
        slide: PathBuf::from(name),
        case: String::new(),
        options: Err(error),
        mpp_from_manifest: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_deal_round_robin_and_cover_everything_once() {
        let shards: Vec<Shard> = (1..=3)
            .map(|k| Shard::parse(&format!("{k}/3")).unwrap())
            .collect();
        for pos in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.takes(pos)).count(), 1);
        }
        assert!(shards[0].takes(0) && shards[1].takes(1) && shards[2].takes(2));
        for bad in ["0/3", "4/3", "1/0", "x/2", "2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn two_slides_with_one_output_folder_are_refused_with_both_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.svs"), b"x").unwrap();
        std::fs::write(dir.path().join("a.tiff"), b"x").unwrap();
        let inputs = [dir.path().to_path_buf()];
        let err = plan(
            &Source::Paths(&inputs, Walk::Flat),
            &AnalysisOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("a.svs") && err.contains("a.tiff"), "{err}");
    }

    #[test]
    fn recursive_output_mirrors_the_input_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("case1/deep")).unwrap();
        std::fs::write(dir.path().join("case1/deep/a.svs"), b"x").unwrap();
        std::fs::write(dir.path().join("b.tif"), b"x").unwrap();
        let inputs = [dir.path().to_path_buf()];
        let base = AnalysisOptions::default();
        let flat = plan(&Source::Paths(&inputs, Walk::Flat), &base).unwrap();
        assert_eq!(flat.len(), 1);
        let all = plan(&Source::Paths(&inputs, Walk::Recursive), &base).unwrap();
        let outs: Vec<_> = all.iter().map(|j| j.out_rel.clone()).collect();
        assert_eq!(
            outs,
            [PathBuf::from("b"), PathBuf::from("case1/deep/a")].to_vec()
        );
    }

    #[test]
    fn a_folder_of_dicom_instances_is_one_slide_and_a_lone_dcm_file_is_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("series1")).unwrap();
        std::fs::create_dir_all(dir.path().join("single")).unwrap();
        for f in [
            "series1/level0.dcm",
            "series1/level1.DCM",
            "series1/label.dcm",
            "single/s.dcm",
        ] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::write(dir.path().join("b.tif"), b"x").unwrap();
        let inputs = [dir.path().to_path_buf()];
        let all = plan(
            &Source::Paths(&inputs, Walk::Recursive),
            &AnalysisOptions::default(),
        )
        .unwrap();
        let got: Vec<_> = all
            .iter()
            .map(|j| {
                (
                    j.slide.strip_prefix(dir.path()).unwrap().to_path_buf(),
                    j.out_rel.clone(),
                )
            })
            .collect();
        let want = [
            ("b.tif", "b"),
            ("series1", "series1"),
            ("single/s.dcm", "single/s"),
        ]
        .map(|(a, b)| (PathBuf::from(a), PathBuf::from(b)));
        assert_eq!(got, want.to_vec());
        // The series folder given as the input itself: one slide named after it.
        let inputs = [dir.path().join("series1")];
        let one = plan(
            &Source::Paths(&inputs, Walk::Flat),
            &AnalysisOptions::default(),
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].slide, dir.path().join("series1"));
        assert_eq!(one[0].out_rel, PathBuf::from("series1"));
    }
}
