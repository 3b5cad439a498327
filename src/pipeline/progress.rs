//! Progress on stderr: a bar over the fields of a slide (indicatif), hidden with
//! `--quiet` or when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use crate::config::ProgressMode;

/// Progress of one slide's analysis. Thread-safe: rayon workers tick it.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A progress display for the slide named `label`.
    pub fn new(mode: ProgressMode, label: &str) -> Self {
        let target = match mode {
            ProgressMode::Bar => ProgressDrawTarget::stderr(),
            ProgressMode::Hidden => ProgressDrawTarget::hidden(),
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_prefix(label.to_string());
        Progress { bar }
    }

    /// Shows what the analysis is doing now.
    pub fn message(&self, text: &str) {
        self.bar.set_style(
            ProgressStyle::with_template("{prefix}: {spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        self.bar.set_message(text.to_string());
        self.bar.tick();
    }

    /// Starts the bar over `n` fields.
    pub fn start_fields(&self, n: u64) {
        self.bar.set_style(
            ProgressStyle::with_template(
                "{prefix}: [{bar:30}] {pos}/{len} fields, {per_sec}, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        self.bar.set_length(n);
        self.bar.set_position(0);
    }

    /// One field finished.
    pub fn field_done(&self) {
        self.bar.inc(1);
    }

    /// All fields finished.
    pub fn finish_fields(&self) {
        self.bar.set_message("");
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
