//! The one integration-test binary: modules per area, each testing the library or the
//! `mitocount` binary end to end.

mod batch;
mod classifier;
mod cli;
mod count;
mod detect;
mod hotspot;
mod house;
mod report;
mod slide;
mod stain;
mod synth;
