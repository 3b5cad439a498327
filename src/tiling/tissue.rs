//! The tissue mask: which parts of the slide hold tissue, at low resolution.

use ndarray::Array2;

/// A boolean tissue mask over the whole slide at a coarse resolution.
///
/// Mask pixel `[row, col]` covers level-0 pixels `x` in `[col * d, (col + 1) * d)` and `y`
/// in `[row * d, (row + 1) * d)` where `d` = [`TissueMask::downsample`]. A summed-area
/// table answers "what fraction of this rectangle is tissue" in constant time.
#[derive(Debug, Clone)]
pub struct TissueMask {
    mask: Array2<bool>,
    downsample: f64,
    /// Summed-area table, shape `[rows + 1, cols + 1]`: `sat[r, c]` counts tissue pixels in
    /// rows `< r` and cols `< c`.
    sat: Array2<u32>,
}

impl TissueMask {
    /// Wraps a mask whose pixels each cover `downsample` x `downsample` level-0 pixels.
    pub fn new(mask: Array2<bool>, downsample: f64) -> Self {
        let (rows, cols) = mask.dim();
        let mut sat = Array2::<u32>::zeros((rows + 1, cols + 1));
        for r in 0..rows {
            let mut row_sum = 0u32;
            for c in 0..cols {
                row_sum += u32::from(mask[[r, c]]);
                sat[[r + 1, c + 1]] = sat[[r, c + 1]] + row_sum;
            }
        }
        TissueMask {
            mask,
            downsample,
            sat,
        }
    }

    /// A mask that says "all tissue" over a `width_px` x `height_px` level-0 image, for
    /// images without background (single fields, mosaics of crops).
    pub fn all_tissue(width_px: u64, height_px: u64, downsample: f64) -> Self {
        let cols = ((width_px as f64 / downsample).ceil() as usize).max(1);
        let rows = ((height_px as f64 / downsample).ceil() as usize).max(1);
        Self::new(Array2::from_elem((rows, cols), true), downsample)
    }

    /// The mask, shape `[rows, cols]`.
    pub fn mask(&self) -> &Array2<bool> {
        &self.mask
    }

    /// Level-0 pixels per mask pixel.
    pub fn downsample(&self) -> f64 {
        self.downsample
    }

    /// Fraction (0..=1) of the level-0 rectangle `[x0, x1) x [y0, y1)` that is tissue,
    /// counting mask pixels whose centre lies inside it; parts outside the mask count as
    /// background. 0 for an empty rectangle.
    pub fn tissue_fraction(&self, x0_px: f64, y0_px: f64, x1_px: f64, y1_px: f64) -> f64 {
        let (rows, cols) = self.mask.dim();
        let d = self.downsample;
        // Mask pixel c has centre (c + 0.5) d; inside when x0 <= centre < x1.
        let to_index = |v: f64| ((v / d) - 0.5).ceil();
        let total_cols = (to_index(x1_px) - to_index(x0_px)).max(0.0);
        let total_rows = (to_index(y1_px) - to_index(y0_px)).max(0.0);
        let total = total_cols * total_rows;
        if total <= 0.0 {
            return 0.0;
        }
        let clamp_c = |v: f64| v.clamp(0.0, cols as f64) as usize;
        let clamp_r = |v: f64| v.clamp(0.0, rows as f64) as usize;
        let (c0, c1) = (clamp_c(to_index(x0_px)), clamp_c(to_index(x1_px)));
        let (r0, r1) = (clamp_r(to_index(y0_px)), clamp_r(to_index(y1_px)));
        if c0 >= c1 || r0 >= r1 {
            return 0.0;
        }
        let inside =
            self.sat[[r1, c1]] + self.sat[[r0, c0]] - self.sat[[r0, c1]] - self.sat[[r1, c0]];
        f64::from(inside) / total
    }

    /// Tissue area in level-0 px² (mask pixels times their area).
    pub fn tissue_area_px2(&self) -> f64 {
        let (rows, cols) = self.mask.dim();
        f64::from(self.sat[[rows, cols]]) * self.downsample * self.downsample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_of_half_tissue_mask() {
        // 4x4 mask, left half tissue, each mask px = 10 level-0 px.
        let mut m = Array2::from_elem((4, 4), false);
        m.slice_mut(ndarray::s![.., 0..2]).fill(true);
        let t = TissueMask::new(m, 10.0);
        assert_eq!(t.tissue_fraction(0.0, 0.0, 40.0, 40.0), 0.5);
        assert_eq!(t.tissue_fraction(0.0, 0.0, 20.0, 40.0), 1.0);
        assert_eq!(t.tissue_fraction(20.0, 0.0, 40.0, 40.0), 0.0);
        // Half outside the slide counts as background.
        assert_eq!(t.tissue_fraction(-20.0, 0.0, 20.0, 40.0), 0.5);
        assert_eq!(t.tissue_area_px2(), 800.0);
    }
}
