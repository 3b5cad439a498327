//! Square grids in level-0 pixels: processing fields (with halos) and high-power fields.

use crate::error::{Error, Result};
use crate::units::{Mpp, UM2_PER_MM2};

/// A half-open rectangle `[x0, x1) x [y0, y1)` in level-0 pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RectPx {
    /// Left edge (inclusive), level-0 px.
    pub x0: i64,
    /// Top edge (inclusive), level-0 px.
    pub y0: i64,
    /// Right edge (exclusive), level-0 px.
    pub x1: i64,
    /// Bottom edge (exclusive), level-0 px.
    pub y1: i64,
}

impl RectPx {
    /// Width in px (0 if empty).
    pub fn width(&self) -> i64 {
        (self.x1 - self.x0).max(0)
    }

    /// Height in px (0 if empty).
    pub fn height(&self) -> i64 {
        (self.y1 - self.y0).max(0)
    }

    /// True when the point lies inside the half-open rectangle.
    pub fn contains(&self, x_px: f64, y_px: f64) -> bool {
        x_px >= self.x0 as f64
            && x_px < self.x1 as f64
            && y_px >= self.y0 as f64
            && y_px < self.y1 as f64
    }

    /// The rectangle grown by `margin_px` on every side.
    pub fn expanded(&self, margin_px: i64) -> RectPx {
        RectPx {
            x0: self.x0 - margin_px,
            y0: self.y0 - margin_px,
            x1: self.x1 + margin_px,
            y1: self.y1 + margin_px,
        }
    }
}

/// A grid of equal squares covering a `width_px` x `height_px` level-0 image from (0, 0).
///
/// The squares' cores tile the image exactly once: every level-0 pixel and every point
/// with `0 <= x < width_px`, `0 <= y < height_px` lies in exactly one cell. Cells in the
/// last row and column may extend past the image.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SquareGrid {
    /// Side of one cell in level-0 px (at least 1).
    pub side_px: i64,
    /// Number of columns.
    pub cols: usize,
    /// Number of rows.
    pub rows: usize,
}

impl SquareGrid {
    /// A grid of squares of side `side_um` over an image of `width_px` x `height_px`
    /// level-0 pixels of size `mpp`. The side is rounded to whole level-0 pixels.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `flag` when the side is not positive and finite or
    /// is below 16 px or the grid would exceed 10 million cells.
    pub fn new(side_um: f64, mpp: Mpp, size_px: (u64, u64), flag: &str) -> Result<Self> {
        let side_px = mpp.um_to_px(side_um).round();
        if !side_px.is_finite() || side_px < 16.0 {
            return Err(Error::invalid_option(
                flag,
                format!(
                    "a field side of {side_um} µm is {side_px} px at {} µm/px; it must be at \
                     least 16 px",
                    mpp.um_per_px()
                ),
            ));
        }
        let side_px = side_px as i64;
        let cols = size_px.0.div_ceil(side_px as u64).max(1) as usize;
        let rows = size_px.1.div_ceil(side_px as u64).max(1) as usize;
        if cols.saturating_mul(rows) > 10_000_000 {
            return Err(Error::invalid_option(
                flag,
                format!("{cols} x {rows} fields is too many; use larger fields"),
            ));
        }
        Ok(SquareGrid {
            side_px,
            cols,
            rows,
        })
    }

    /// The cell `(row, col)` as a rectangle in level-0 px.
    pub fn cell(&self, row: usize, col: usize) -> RectPx {
        let x0 = col as i64 * self.side_px;
        let y0 = row as i64 * self.side_px;
        RectPx {
            x0,
            y0,
            x1: x0 + self.side_px,
            y1: y0 + self.side_px,
        }
    }

    /// The cell holding the point, `None` when it lies outside the grid.
    pub fn cell_of(&self, x_px: f64, y_px: f64) -> Option<(usize, usize)> {
        if !(x_px >= 0.0 && y_px >= 0.0) {
            return None;
        }
        let col = (x_px / self.side_px as f64).floor() as usize;
        let row = (y_px / self.side_px as f64).floor() as usize;
        (col < self.cols && row < self.rows).then_some((row, col))
    }

    /// All cells in row-major order, as `(row, col, rect)`.
    pub fn cells(&self) -> impl Iterator<Item = (usize, usize, RectPx)> + '_ {
        (0..self.rows).flat_map(move |r| (0..self.cols).map(move |c| (r, c, self.cell(r, c))))
    }
}

/// The high-power-field grid: squares of one HPF's area, so that counts per field read
/// directly as "mitoses per HPF".
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HpfGrid {
    /// The squares.
    pub grid: SquareGrid,
    /// Area of one HPF in mm² (the nominal area; the square's side is rounded to whole
    /// pixels, see [`HpfGrid::cell_area_mm2`]).
    pub hpf_area_mm2: f64,
}

impl HpfGrid {
    /// Squares of area `hpf_area_mm2` over the slide.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--hpf-area-mm2` for a non-positive area or one
    /// too small for the pixel size.
    pub fn new(hpf_area_mm2: f64, mpp: Mpp, size_px: (u64, u64)) -> Result<Self> {
        if !(hpf_area_mm2.is_finite() && hpf_area_mm2 > 0.0) {
            return Err(Error::invalid_option(
                "--hpf-area-mm2",
                format!("HPF area must be a positive number of mm², got {hpf_area_mm2}"),
            ));
        }
        let side_um = (hpf_area_mm2 * UM2_PER_MM2).sqrt();
        Ok(HpfGrid {
            grid: SquareGrid::new(side_um, mpp, size_px, "--hpf-area-mm2")?,
            hpf_area_mm2,
        })
    }

    /// The actual area of one grid square in mm² after rounding its side to pixels.
    pub fn cell_area_mm2(&self, mpp: Mpp) -> f64 {
        let side_um = mpp.px_to_um(self.grid.side_px as f64);
        side_um * side_um / UM2_PER_MM2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hpf_square_has_hpf_area() {
        let mpp = Mpp::new(0.25).unwrap();
        let g = HpfGrid::new(0.237, mpp, (10_000, 8_000)).unwrap();
        // sqrt(0.237 mm²) = 486.8 µm = 1947.3 px at 0.25 µm/px.
        assert_eq!(g.grid.side_px, 1947);
        assert!((g.cell_area_mm2(mpp) - 0.237).abs() < 0.001);
        assert_eq!((g.grid.cols, g.grid.rows), (6, 5));
    }

    #[test]
    fn too_small_fields_are_rejected_naming_the_flag() {
        let mpp = Mpp::new(0.25).unwrap();
        let err = SquareGrid::new(1.0, mpp, (100, 100), "--field-size-um").unwrap_err();
        assert!(err.to_string().contains("--field-size-um"), "{err}");
        assert!(HpfGrid::new(-1.0, mpp, (100, 100)).is_err());
    }

    proptest! {
        /// Every point of the image lies in exactly one cell, and `cell_of` names it.
        #[test]
        fn cells_cover_every_point_once(
            w in 1u64..5000, h in 1u64..5000, side_um in 5.0f64..600.0,
            fx in 0.0f64..1.0, fy in 0.0f64..1.0,
        ) {
            let mpp = Mpp::new(0.25).unwrap();
            let g = SquareGrid::new(side_um, mpp, (w, h), "--x").unwrap();
            let (x, y) = (fx * w as f64, fy * h as f64);
            let holders: Vec<_> = g.cells().filter(|(_, _, r)| r.contains(x, y)).collect();
            prop_assert_eq!(holders.len(), 1);
            let (r, c, _) = holders[0];
            prop_assert_eq!(g.cell_of(x, y), Some((r, c)));
        }
    }
}
