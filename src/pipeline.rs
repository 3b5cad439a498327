//! The one module that knows every stage: the analysis of a slide and a batch, and the
//! rayon pool they run in. Sees the validated [`crate::config`], never the command line.

mod analyse;
mod batch;
pub mod probe;
mod progress;

pub use analyse::{analyse_slide, write_analysis, Analysis};
pub use batch::merge::{merge, MergeOutcome};
pub use batch::{
    run_batch, summary_name, BatchOutcome, BatchRequest, Resume, Shard, Source, SummaryRow, Walk,
    DONE_FILE, PLAN_FILE, SLIDE_EXTENSIONS, SUMMARY_FILE,
};
pub use progress::{BatchProgress, Progress, ProgressMode};

use crate::config::{AnalysisConfig, Config};
use crate::error::{Error, Result};
use crate::slide::Slide;

/// Opens a slide and applies `--mpp`.
///
/// # Errors
/// [`Error::InvalidOption`] naming `SLIDE` when the path is a folder (it suggests
/// `mitocount batch`); slide open errors.
pub fn open_slide(path: &std::path::Path, cfg: &AnalysisConfig) -> Result<Slide> {
    if path.is_dir() {
        return Err(Error::invalid_option(
            "SLIDE",
            format!(
                "{} is a directory, not a slide file; did you mean `mitocount batch {}`?",
                path.display(),
                path.display()
            ),
        ));
    }
    let mut slide = Slide::open(path)?;
    if let Some(mpp) = cfg.mpp_override {
        slide.set_mpp_override(mpp);
    }
    Ok(slide)
}

/// A rayon pool with `--threads` workers (all cores when unset).
pub fn thread_pool(config: &Config) -> Result<rayon::ThreadPool> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = config.threads {
        builder = builder.num_threads(n);
    }
    builder
        .build()
        .map_err(|e| Error::invalid_option("--threads", format!("cannot start threads: {e}")))
}
