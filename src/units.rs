//! Physical units: pixel size and the µm <-> px conversions, and HPF area.
//!
//! This is the only place where micrometres become pixels or back. Every size in the
//! rest of the crate is carried in µm (`_um`, `_um2`, `_mm2`) until a stage converts it
//! here, once, for the resolution it works at.

use crate::error::{Error, Result};

/// Square micrometres in one square millimetre.
pub const UM2_PER_MM2: f64 = 1.0e6;

/// Default area of one high-power field: 0.237 mm², the area used by the MIDOG mitosis
/// benchmark (eyepiece field number 22 mm at a 40x objective gives 0.2376 mm²).
pub const DEFAULT_HPF_AREA_MM2: f64 = 0.237;

/// Smallest pixel size accepted from a file without `--mpp` (µm per pixel).
pub const MIN_PLAUSIBLE_MPP_UM: f64 = 0.05;
/// Largest pixel size accepted from a file without `--mpp` (µm per pixel).
pub const MAX_PLAUSIBLE_MPP_UM: f64 = 5.0;

/// Pixel size of level 0 of a slide, in µm per pixel (square pixels).
///
/// Construct with [`Mpp::new`], which rejects values outside 0.05 to 5 µm/px (implausible
/// for a microscope scan), or [`Mpp::new_unchecked_range`] for a user override, which only
/// requires a finite positive value.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Mpp(f64);

impl Mpp {
    /// A pixel size read from a file: must lie in 0.05..=5 µm/px.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--mpp` when the value is outside that range, so the
    /// user knows to override it.
    pub fn new(um_per_px: f64) -> Result<Self> {
        if !(MIN_PLAUSIBLE_MPP_UM..=MAX_PLAUSIBLE_MPP_UM).contains(&um_per_px) {
            return Err(Error::invalid_option(
                "--mpp",
                format!(
                    "pixel size {um_per_px} µm/px is outside the plausible range \
                     {MIN_PLAUSIBLE_MPP_UM} to {MAX_PLAUSIBLE_MPP_UM} µm/px; \
                     if it is right, pass it explicitly with --mpp"
                ),
            ));
        }
        Ok(Mpp(um_per_px))
    }

    /// A pixel size the user asserted (`--mpp`): any finite value > 0 is accepted.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for zero, negative, NaN or infinite values.
    pub fn new_unchecked_range(um_per_px: f64) -> Result<Self> {
        if !(um_per_px.is_finite() && um_per_px > 0.0) {
            return Err(Error::invalid_option(
                "--mpp",
                format!("pixel size must be a positive number of µm per pixel, got {um_per_px}"),
            ));
        }
        Ok(Mpp(um_per_px))
    }

    /// µm per pixel.
    pub fn um_per_px(self) -> f64 {
        self.0
    }

    /// Converts a length in µm to pixels (fractional).
    pub fn um_to_px(self, length_um: f64) -> f64 {
        length_um / self.0
    }

    /// Converts a length in pixels to µm.
    pub fn px_to_um(self, length_px: f64) -> f64 {
        length_px * self.0
    }

    /// Converts an area in µm² to px².
    pub fn um2_to_px2(self, area_um2: f64) -> f64 {
        area_um2 / (self.0 * self.0)
    }

    /// Converts an area in px² to µm².
    pub fn px2_to_um2(self, area_px2: f64) -> f64 {
        area_px2 * self.0 * self.0
    }

    /// The pixel size of a level downsampled by `downsample` (>= 1) from this one.
    pub fn downsampled(self, downsample: f64) -> Mpp {
        Mpp(self.0 * downsample)
    }
}

/// Area of one high-power field in mm²: `pi * (FN / (2 M))^2` for eyepiece field number
/// `field_number_mm` (mm, typically 18 to 26.5) and objective magnification
/// `objective_mag` (e.g. 40).
///
/// # Errors
/// [`Error::InvalidOption`] naming `--field-number` or `--objective` for non-positive or
/// non-finite inputs.
pub fn hpf_area_mm2(field_number_mm: f64, objective_mag: f64) -> Result<f64> {
    if !(field_number_mm.is_finite() && field_number_mm > 0.0) {
        return Err(Error::invalid_option(
            "--field-number",
            format!("field number must be a positive number of mm, got {field_number_mm}"),
        ));
    }
    if !(objective_mag.is_finite() && objective_mag > 0.0) {
        return Err(Error::invalid_option(
            "--objective",
            format!("objective magnification must be positive, got {objective_mag}"),
        ));
    }
    let radius_mm = field_number_mm / (2.0 * objective_mag);
    Ok(std::f64::consts::PI * radius_mm * radius_mm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_hpf_at_fn22_40x_is_2_376_mm2() {
        let area_mm2 = hpf_area_mm2(22.0, 40.0).unwrap();
        assert!((10.0 * area_mm2 - 2.376).abs() < 5e-4, "{area_mm2}");
    }

    #[test]
    fn mpp_range_is_checked_for_files_not_overrides() {
        assert!(Mpp::new(0.25).is_ok());
        assert!(Mpp::new(0.01).is_err());
        assert!(Mpp::new(12.0).is_err());
        assert!(Mpp::new(f64::NAN).is_err());
        assert!(Mpp::new_unchecked_range(12.0).is_ok());
        assert!(Mpp::new_unchecked_range(0.0).is_err());
        assert!(Mpp::new_unchecked_range(-1.0).is_err());
    }

    #[test]
    fn conversions_round_trip() {
        let mpp = Mpp::new(0.25).unwrap();
        assert_eq!(mpp.um_to_px(10.0), 40.0);
        assert_eq!(mpp.px_to_um(40.0), 10.0);
        assert_eq!(mpp.um2_to_px2(1.0), 16.0);
        assert_eq!(mpp.px2_to_um2(16.0), 1.0);
        assert_eq!(mpp.downsampled(4.0).um_per_px(), 1.0);
    }
}
