//! The one integration-test binary: modules per area, each testing the library or the
//! `mitocount` binary end to end.

mod batch;
mod browser;
mod classifier;
mod cli;
#[path = "../common/mod.rs"]
mod common;
mod count;
mod detect;
mod dicom;
mod hotspot;
mod house;
mod report;
mod report_tables;
mod slide;
mod stain;
mod synth;
mod tiff_corpus;
mod tiff_quirks;
mod trust;
mod vendor;
