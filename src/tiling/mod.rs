//! The HPF grid in physical units, processing fields with halos, and the tissue mask.
//!
//! Fields are squares whose side is set in µm and converted to level-0 pixels once, here.
//! A field's *core* tiles the slide exactly once; its *read* rectangle adds a halo so
//! that kernels near the core border see real pixels. A detection belongs to the field
//! whose core holds its centre, so nothing is counted twice.

pub mod tissue;

pub use tissue::TissueMask;
pub mod grid;

pub use grid::{HpfGrid, RectPx, SquareGrid};
pub use tissue::TissueOptions;
