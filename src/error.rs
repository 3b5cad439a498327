//! The crate's one error type.
//!
//! Every variant names the cause and, where it concerns a file, the file; its message says
//! what the user can do about it. A slide is untrusted input: anything wrong with it ends up
//! here as an `Err`, never as a panic.

use std::path::PathBuf;

/// Everything that can go wrong in mitocount, one variant per cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file claims to be TIFF but its structure is broken (bad offsets, truncated
    /// data, impossible dimensions).
    #[error(
        "{}: malformed TIFF: {reason}; the file may be truncated or damaged, \
         re-export or re-copy it",
        path.display()
    )]
    MalformedTiff {
        /// The slide file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },

    /// The file claims to be DICOM (Part 10) but its data set or pixel data is broken
    /// (truncated frame table, frame count that does not match the pixel matrix, missing
    /// attributes).
    #[error(
        "{}: malformed DICOM: {reason}; the file may be truncated or damaged, \
         re-export or re-copy it",
        path.display()
    )]
    MalformedDicom {
        /// The DICOM file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },

    /// The file is readable but uses something mitocount does not decode (a compression,
    /// a sample format, a layout). The reason says what and how to convert it.
    #[error("{}: unsupported slide: {reason}", path.display())]
    Unsupported {
        /// The slide file.
        path: PathBuf,
        /// What is unsupported and what to do, in words.
        reason: String,
    },

    /// The slide carries no pixel size and none was given.
    #[error(
        "{}: the file states no pixel size (MPP, µm per pixel); pass it with --mpp \
         (e.g. --mpp 0.25 for a 40x scan, --mpp 0.5 for 20x)",
        path.display()
    )]
    MissingMpp {
        /// The slide file.
        path: PathBuf,
    },

    /// A command-line flag or option value is invalid or clashes with another.
    #[error("invalid option {flag}: {reason}")]
    InvalidOption {
        /// The flag as the user types it, e.g. `--mpp`.
        flag: String,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// An input file other than a slide (ground truth, detections, stain vectors) could
    /// not be parsed.
    #[error("{}: cannot parse: {reason}", path.display())]
    Parse {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong, with a line number where known.
        reason: String,
    },

    /// A classifier model file (`--model`) cannot be used: missing, truncated, of an
    /// unknown format or with tensors of the wrong shape.
    #[error("{}: cannot use as a mitosis model: {reason}", path.display())]
    Model {
        /// The model file (`<embedded>` for the built-in one).
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },

    /// Stain estimation or deconvolution cannot proceed (e.g. parallel stain vectors).
    #[error("stain separation: {reason}")]
    Stain {
        /// What is wrong and what to do.
        reason: String,
    },

    /// Encoding or writing an output failed for a reason other than plain I/O.
    #[error("{}: cannot write output: {reason}", path.display())]
    Output {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// Some slides of a batch could not be analysed; the others were, and the summary
    /// file lists each slide's outcome and error.
    #[error(
        "{failed} of {total} slides failed; see {} for each slide's error",
        summary.display()
    )]
    BatchFailures {
        /// Slides that failed.
        failed: usize,
        /// Slides attempted.
        total: usize,
        /// The batch summary CSV.
        summary: PathBuf,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::InvalidOption`] for `flag`.
    pub fn invalid_option(flag: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidOption {
            flag: flag.into(),
            reason: reason.into(),
        }
    }

    /// True when the error is the user's invocation (exit code 2), not the data or the
    /// machine (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::InvalidOption { .. })
    }
}
