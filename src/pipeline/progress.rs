//! Progress on stderr: a bar over the fields of a slide (indicatif), hidden with
//! `--quiet` or when stderr is not a terminal; for a batch, one line per slide whatever
//! stderr is (a log file shows where the batch is).

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

/// Progress of a batch: one line per slide on stderr (done/total, slide, verdict,
/// seconds, ETA), so that a log file or `tail -f` shows where the batch is; on a terminal
/// the lines scroll above a bar over the slides. Thread-safe: slides finish on several
/// threads.
#[derive(Debug)]
pub struct BatchProgress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    total: usize,
    slide_bars: bool,
    started: std::time::Instant,
    counts: std::sync::Mutex<BatchCounts>,
}

#[derive(Debug, Default)]
struct BatchCounts {
    /// Slides finished, analysed or reused.
    done: usize,
    /// Slides reused by `--resume` (they do not count towards the pace).
    reused: usize,
}

impl BatchProgress {
    /// Progress over `total` slides, `slides_at_once` at a time: lines unless `mode` is
    /// hidden. On a terminal, one slide at a time draws its own bar over fields (cleared
    /// before its line); several at once share one bar over the slides instead.
    pub fn new(mode: ProgressMode, total: usize, slides_at_once: usize) -> Self {
        use std::io::IsTerminal;
        let terminal = mode == ProgressMode::Bar && std::io::stderr().is_terminal();
        let bar = (terminal && slides_at_once > 1).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("[{bar:30}] {pos}/{len} slides, ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        BatchProgress {
            mode,
            bar,
            total,
            slide_bars: terminal && slides_at_once == 1,
            started: std::time::Instant::now(),
            counts: std::sync::Mutex::new(BatchCounts::default()),
        }
    }

    /// How each slide shows its progress over fields: a bar on a terminal with one slide
    /// at a time, else nothing.
    pub fn slide_mode(&self) -> ProgressMode {
        if self.slide_bars {
            ProgressMode::Bar
        } else {
            ProgressMode::Hidden
        }
    }

    /// A slide finished: `what` is its verdict or error in a few words, `seconds` its
    /// time, `reused` whether `--resume` took its earlier outputs.
    pub fn slide_done(&self, slide: &str, what: &str, seconds: f64, reused: bool) {
        let (done, eta_s) = {
            let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            c.done += 1;
            c.reused += usize::from(reused);
            let analysed = c.done - c.reused;
            let left = self.total - c.done;
            let eta = (analysed > 0)
                .then(|| self.started.elapsed().as_secs_f64() / analysed as f64 * left as f64);
            (c.done, eta)
        };
        if self.mode == ProgressMode::Hidden {
            return;
        }
        let eta = match eta_s {
            Some(s) => format_duration(s),
            None => "unknown".to_string(),
        };
        let how = if reused { "done earlier" } else { "" };
        let line = format!(
            "[{done}/{}] {slide}: {what}, {seconds:.1} s{}{how}, ETA {eta}",
            self.total,
            if reused { ", " } else { "" }
        );
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.set_position(done as u64);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `1h02m03s`, `4m05s` or `6s`.
fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(format_duration(5.4), "5s");
        assert_eq!(format_duration(245.0), "4m05s");
        assert_eq!(format_duration(3723.0), "1h02m03s");
    }
}
