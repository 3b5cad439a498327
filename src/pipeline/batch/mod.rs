//! `mitocount batch`: every slide of folders (flat or `--recursive`) or of a manifest,
//! several slides at once (each slide's fields in parallel too); a slide that fails is
//! recorded with its error and the batch goes on. `--resume` skips slides whose outputs
//! are complete; `--shard K/N` takes one part of the sorted list; [`merge`] joins the
//! summaries of shards (or of `count` runs) into one.
//!
//! Files in `--out`: one folder per slide (mirroring the input tree, or `case/` from the
//! manifest), `batch-summary.csv` (rows in completion order while the batch runs, rewritten
//! in slide order at the end), `batch-summary.html` and `batch-plan.csv`. With `--shard K/N`
//! the summary is `batch-summary.shard-K-of-N.csv` (and `.html`), so that shards may share
//! one output folder.

mod html;
mod inputs;
pub mod merge;
mod resume;
mod summary;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::config::{AnalysisConfig, AnalysisOptions};
use crate::error::{Error, Result};
use crate::report::Report;
use crate::slide::Slide;
use crate::units::Mpp;

use super::progress::{BatchProgress, Progress, ProgressMode};
use super::{analyse_slide, write_analysis};

pub use inputs::{Shard, Source, Walk, SLIDE_EXTENSIONS};
pub use resume::DONE_FILE;
pub use summary::{SummaryRow, PLAN_FILE, SUMMARY_FILE};

use inputs::SlideJob;
use summary::{csv_error, format_seconds, to_csv, write_atomically, PlanRow};

/// Whether `--resume` reuses complete outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Analyse every slide.
    Redo,
    /// Skip slides whose outputs are complete and were made with the same options and
    /// model (`--resume`).
    SkipDone,
}

/// What to run: the slides, the output folder and how.
#[derive(Debug, Clone)]
pub struct BatchRequest<'a> {
    /// Folders and files, or a manifest.
    pub source: Source<'a>,
    /// Output folder.
    pub out: &'a Path,
    /// The analysis flags, applied to every slide (a manifest's columns override them
    /// per slide).
    pub options: &'a AnalysisOptions,
    /// `--resume`.
    pub resume: Resume,
    /// `--shard K/N` ([`Shard::ALL`] without it).
    pub shard: Shard,
    /// Slides analysed at once (>= 1).
    pub slides_at_once: usize,
    /// Progress lines, or none (`--quiet`).
    pub progress: ProgressMode,
}

/// What a batch run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Slides of this run (this shard's).
    pub total: usize,
    /// Slides that failed (listed with their error in the summary).
    pub failed: usize,
    /// Slides `--resume` found done and did not analyse again.
    pub reused: usize,
    /// The summary CSV.
    pub summary_path: PathBuf,
}

/// The summary's file name: `batch-summary.csv`, or `batch-summary.shard-K-of-N.csv`.
pub fn summary_name(shard: Shard, ext: &str) -> String {
    if shard == Shard::ALL {
        format!("batch-summary.{ext}")
    } else {
        format!(
            "batch-summary.shard-{}-of-{}.{ext}",
            shard.index, shard.count
        )
    }
}

/// Analyses the slides of `req` into `req.out` and writes the summary (CSV and HTML)
/// and the plan. Runs in the current rayon pool: at most `slides_at_once` slides at a
/// time, each slide's fields in parallel in the same pool.
///
/// # Errors
/// Only what stops the whole batch: invalid flags, no slides found, two slides with one
/// output folder, an unreadable manifest, the output folder or summary not writable.
/// Failed slides are not errors here: they are counted in [`BatchOutcome::failed`].
pub fn run_batch(req: &BatchRequest) -> Result<BatchOutcome> {
    let base_cfg = AnalysisConfig::from_options(req.options)?;
    let jobs = inputs::plan(&req.source, req.options)?;
    std::fs::create_dir_all(req.out).map_err(|e| Error::io(req.out, e))?;
    let plan: Vec<PlanRow> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| PlanRow {
            slide: j.slide.display().to_string(),
            case: j.case.clone(),
            shard: format!("{}/{}", i % req.shard.count + 1, req.shard.count),
        })
        .collect();
    let plan_path = req.out.join(PLAN_FILE);
    write_atomically(&plan_path, &to_csv(&plan, &plan_path)?)?;
    let mine: Vec<&SlideJob> = jobs
        .iter()
        .enumerate()
        .filter(|(i, _)| req.shard.takes(*i))
        .map(|(_, j)| j)
        .collect();

    let summary_path = req.out.join(summary_name(req.shard, "csv"));
    // Rows as slides finish, so that a killed batch keeps what it finished.
    let live =
        Mutex::new(csv::Writer::from_path(&summary_path).map_err(|e| csv_error(&summary_path, e))?);
    let progress = BatchProgress::new(req.progress, mine.len(), req.slides_at_once);
    let runner = Runner {
        req,
        base_cfg: &base_cfg,
        total: mine.len(),
        slide_mode: progress.slide_mode(),
    };
    let shared = Shared {
        runner,
        rows: Mutex::new(vec![None; mine.len()]),
        mine,
        next: AtomicUsize::new(0),
        progress,
        live,
        live_error: Mutex::new(None),
    };
    // One chain of tasks per slot: each analyses one slide and spawns the next, so at
    // most `slides_at_once` slides are in flight even when a worker waiting inside one
    // slide steals another slide's task.
    rayon::scope(|s| {
        for _ in 0..req.slides_at_once.max(1).min(shared.mine.len()) {
            s.spawn(|s| shared.slot(s));
        }
    });
    shared.progress.finish();
    let Shared {
        rows,
        live,
        live_error,
        ..
    } = shared;
    if let Some(e) = live_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    drop(live);
    let done: Vec<(SummaryRow, bool)> = rows
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect();
    let reused = done.iter().filter(|(_, r)| *r).count();
    let rows: Vec<SummaryRow> = done.into_iter().map(|(r, _)| r).collect();
    write_atomically(&summary_path, &to_csv(&rows, &summary_path)?)?;
    let html_path = req.out.join(summary_name(req.shard, "html"));
    let missing: Vec<String> = Vec::new();
    write_atomically(
        &html_path,
        html::page(&rows, &missing, req.out, "batch")?.as_bytes(),
    )?;
    let failed: Vec<&SummaryRow> = rows.iter().filter(|r| !r.is_ok()).collect();
    if !failed.is_empty() {
        eprintln!("failed slides ({} of {}):", failed.len(), rows.len());
        for r in &failed {
            eprintln!("  {}", error_of(r));
        }
    }
    Ok(BatchOutcome {
        total: rows.len(),
        failed: failed.len(),
        reused,
        summary_path,
    })
}

/// The state the slide tasks share.
struct Shared<'a> {
    runner: Runner<'a>,
    mine: Vec<&'a SlideJob>,
    next: AtomicUsize,
    progress: BatchProgress,
    rows: Mutex<Vec<Option<(SummaryRow, bool)>>>,
    live: Mutex<csv::Writer<std::fs::File>>,
    live_error: Mutex<Option<Error>>,
}

impl<'a> Shared<'a> {
    /// Takes the next slide, analyses it, records its row and spawns the next task.
    fn slot<'s>(&'s self, scope: &rayon::Scope<'s>)
    where
        'a: 's,
    {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        let Some(job) = self.mine.get(i) else { return };
        let (row, reused) = self.runner.run_one(i, job);
        let what = if row.is_ok() {
            format!(
                "{} {} {} ({})",
                row.verdict, row.verdict_value, row.verdict_unit, row.verdict_basis
            )
        } else {
            let prefix = format!("{}: ", row.slide);
            format!(
                "FAILED: {}",
                row.error.strip_prefix(&prefix).unwrap_or(&row.error)
            )
        };
        let seconds = row.seconds.parse().unwrap_or(0.0);
        self.progress.slide_done(&row.slide, &what, seconds, reused);
        {
            let mut w = self.live.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = w.serialize(&row).and_then(|()| Ok(w.flush()?)) {
                let path = self.runner.req.out.join(SUMMARY_FILE);
                let mut slot = self.live_error.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(csv_error(&path, e));
            }
        }
        self.rows.lock().unwrap_or_else(|p| p.into_inner())[i] = Some((row, reused));
        scope.spawn(move |s| self.slot(s));
    }
}

/// What every slide shares.
struct Runner<'a> {
    req: &'a BatchRequest<'a>,
    base_cfg: &'a AnalysisConfig,
    total: usize,
    slide_mode: ProgressMode,
}

impl Runner<'_> {
    /// One slide: reused (with `--resume`), analysed, or failed; never panics. Returns its
    /// row and whether it was reused.
    fn run_one(&self, i: usize, job: &SlideJob) -> (SummaryRow, bool) {
        let started = Instant::now();
        let slide_text = job.slide.display().to_string();
        let fail = |e: &str| {
            let mut row = SummaryRow::failed(&slide_text, &job.case, e);
            row.seconds = format_seconds(started.elapsed().as_secs_f64());
            (row, false)
        };
        let options = match &job.options {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        let cfg = if options == self.req.options {
            self.base_cfg.clone()
        } else {
            match AnalysisConfig::from_options(options) {
                Ok(c) => c,
                Err(e) => return fail(&format!("{}: {e}", job.slide.display())),
            }
        };
        let out_dir = self.req.out.join(&job.out_rel);
        let fingerprint = resume::fingerprint(&job.slide, options, &cfg.classifier.info().sha256);
        if self.req.resume == Resume::SkipDone {
            if let Some(row) = resume::completed(&out_dir, &fingerprint) {
                return (row, true);
            }
        }
        if let Err(e) = resume::forget(&out_dir) {
            return fail(&e.to_string());
        }
        let label = format!("[{}/{}] {}", i + 1, self.total, job.out_rel.display());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.analyse_one(job, &out_dir, &cfg, &label)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(Error::Unsupported {
                path: job.slide.clone(),
                reason: format!("internal error ({what}); please report it with the file"),
            })
        });
        let (report, written, note) = match result {
            Ok(r) => r,
            Err(e) => return fail(&e.to_string()),
        };
        let mut row = SummaryRow::from_report(&report, &slide_text, &job.case);
        row.note = note;
        row.out_dir = job.out_rel.display().to_string();
        row.seconds = format_seconds(started.elapsed().as_secs_f64());
        let record = resume::DoneRecord {
            fingerprint,
            options: options.clone(),
            files: Vec::new(),
            row: row.clone(),
        };
        match resume::record(&out_dir, &written, record) {
            Ok(()) => (row, false),
            Err(e) => fail(&e.to_string()),
        }
    }

    /// Opens, checks the pixel size, analyses and writes one slide. Returns the report,
    /// the files written and a note for the summary.
    fn analyse_one(
        &self,
        job: &SlideJob,
        out_dir: &Path,
        cfg: &AnalysisConfig,
        label: &str,
    ) -> Result<(Report, Vec<PathBuf>, String)> {
        let mut slide = Slide::open(&job.slide)?;
        let mut note = String::new();
        if let Some(given) = cfg.mpp_override {
            let flag = if job.mpp_from_manifest {
                "the manifest's mpp"
            } else {
                "--mpp"
            };
            note = mpp_note(&slide, given, flag);
            if !note.is_empty() && self.req.progress != ProgressMode::Hidden {
                eprintln!("warning: {}: {note}", job.slide.display());
            }
            slide.set_mpp_override(given);
        }
        let progress = Progress::new(self.slide_mode, label);
        let analysis = analyse_slide(&slide, cfg, &progress);
        progress.finish();
        let analysis = analysis?;
        let written = write_analysis(&analysis, out_dir)?;
        Ok((analysis.report, written, note))
    }
}

/// The row's error, prefixed with its slide unless the error already names it.
fn error_of(row: &SummaryRow) -> String {
    if row.error.contains(&row.slide) {
        row.error.clone()
    } else {
        format!("{}: {}", row.slide, row.error)
    }
}

/// A note when a given pixel size differs by more than 1 % from the one the file
/// states (the given one is used: the file may misstate it, but the user should know).
fn mpp_note(slide: &Slide, given: Mpp, flag: &str) -> String {
    let stated = slide.info();
    let file_um = stated
        .mpp_um_per_px
        .or(stated.implausible_mpp_um_per_px)
        .filter(|_| stated.mpp_source.is_some());
    match file_um {
        Some(f) if (f - given.um_per_px()).abs() > 0.01 * given.um_per_px() => format!(
            "{flag} {} µm/px used, but the file states {f} µm/px ({:?})",
            given.um_per_px(),
            stated
                .mpp_source
                .map(|s| format!("{s:?}"))
                .unwrap_or_default()
        ),
        _ => String::new(),
    }
}
