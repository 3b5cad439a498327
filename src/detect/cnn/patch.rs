//! Patches around candidates at the classifier's fixed pixel size.
//!
//! A patch is `side` x `side` bilinear samples spaced `input_mpp_um` apart (µm), centred
//! on a level-0 point, so that 20x and 40x slides show the network the same scale. The
//! sample formula is the one `training/prepare.py` uses to cut training patches
//! (`Sampler`), so training and inference see the same pixels: points are level-0 pixel
//! coordinates in the crate's convention (pixel `i` spans `[i, i + 1)`, its centre at
//! `i + 0.5`), sample `j` lies at `centre + (j - (side - 1) / 2) * step`, values between
//! pixel centres are bilinear, outside the image white (255), and each sample is rounded
//! to an 8-bit value before it is normalised.

use image::RgbImage;

/// Where an image lies on the slide.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImagePlacement {
    /// Level-0 x of the image's pixel (0, 0) (px).
    pub origin_x_px: f64,
    /// Level-0 y of the image's pixel (0, 0) (px).
    pub origin_y_px: f64,
    /// Level-0 pixels per image pixel (>= 1; 1 for level 0).
    pub downsample: f64,
}

/// Samples the 8-bit RGB patch `[side, side, 3]` (row-major, interleaved) centred on the
/// level-0 point (`x_px`, `y_px`), with `step_px` level-0 pixels between samples
/// (`input_mpp_um / slide_mpp_um`), into `out` (cleared first).
pub fn sample_patch(
    img: &RgbImage,
    place: ImagePlacement,
    centre_px: (f64, f64),
    (side, step_px): (usize, f64),
    out: &mut Vec<u8>,
) {
    out.clear();
    out.reserve(side * side * 3);
    let ds = place.downsample.max(f64::MIN_POSITIVE);
    // Image pixel k spans level-0 [origin + k ds, origin + (k + 1) ds): in image
    // coordinates whose pixel k has its centre at k, the point lies at (p - origin) / ds - 0.5.
    let cx = (centre_px.0 - place.origin_x_px) / ds - 0.5;
    let cy = (centre_px.1 - place.origin_y_px) / ds - 0.5;
    let step = step_px / ds;
    let half = (side as f64 - 1.0) / 2.0;
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let raw = img.as_raw();
    let px = |x: i64, y: i64, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            255.0
        } else {
            f32::from(raw[((y * w + x) * 3) as usize + c])
        }
    };
    // Per-column source positions and weights, computed once. f32 weights as numpy's
    // float32 in prepare.py.
    let cols: Vec<(i64, f32)> = (0..side)
        .map(|j| {
            let sx = cx + (j as f64 - half) * step;
            let x0 = sx.floor();
            (x0 as i64, (sx - x0) as f32)
        })
        .collect();
    for i in 0..side {
        let sy = cy + (i as f64 - half) * step;
        let y0f = sy.floor();
        let (y0, fy) = (y0f as i64, (sy - y0f) as f32);
        for &(x0, fx) in &cols {
            if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                // All four pixels inside: the same arithmetic without the bounds tests.
                let (t, b) = (
                    ((y0 * w + x0) * 3) as usize,
                    (((y0 + 1) * w + x0) * 3) as usize,
                );
                for c in 0..3 {
                    let p = |at: usize| f32::from(raw[at + c]);
                    let top = p(t) * (1.0 - fx) + p(t + 3) * fx;
                    let bot = p(b) * (1.0 - fx) + p(b + 3) * fx;
                    let v = top * (1.0 - fy) + bot * fy;
                    out.push((v + 0.5).floor().clamp(0.0, 255.0) as u8);
                }
                continue;
            }
            for c in 0..3 {
                let top = px(x0, y0, c) * (1.0 - fx) + px(x0 + 1, y0, c) * fx;
                let bot = px(x0, y0 + 1, c) * (1.0 - fx) + px(x0 + 1, y0 + 1, c) * fx;
                let v = top * (1.0 - fy) + bot * fy;
                out.push((v + 0.5).floor().clamp(0.0, 255.0) as u8);
            }
        }
    }
}

/// How far (level-0 px) from its centre a patch of `side` samples spaced `step_px` apart
/// reads the image, in an image of `downsample` level-0 px per pixel: the outermost
/// sample, plus the half pixel of the pixel-centre convention and the next pixel that
/// bilinear interpolation takes, rounded up to two image pixels. Pixels farther away do not
/// change the patch.
pub fn reach_px((side, step_px): (usize, f64), downsample: f64) -> f64 {
    (side as f64 - 1.0) / 2.0 * step_px + 2.0 * downsample
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, 100]))
    }

    #[test]
    fn unit_step_on_whole_pixels_copies_the_image() {
        let img = gradient(40, 30);
        let place = ImagePlacement {
            origin_x_px: 0.0,
            origin_y_px: 0.0,
            downsample: 1.0,
        };
        let mut out = Vec::new();
        // side 8 centred on 12.0 (between pixels 11 and 12): pixels 8..=15.
        sample_patch(&img, place, (12.0, 14.0), (8, 1.0), &mut out);
        assert_eq!(out.len(), 8 * 8 * 3);
        for i in 0..8 {
            for j in 0..8 {
                let p = img.get_pixel(8 + j as u32, 10 + i as u32);
                assert_eq!(&out[(i * 8 + j) * 3..(i * 8 + j) * 3 + 3], &p.0);
            }
        }
    }

    #[test]
    fn origin_and_downsample_map_level0_points() {
        let img = gradient(40, 30);
        let mut a = Vec::new();
        let mut b = Vec::new();
        let place = ImagePlacement {
            origin_x_px: 0.0,
            origin_y_px: 0.0,
            downsample: 1.0,
        };
        sample_patch(&img, place, (20.0, 15.0), (6, 0.5), &mut a);
        // The same image placed at (100, 200) on the slide, centre moved alike.
        let moved = ImagePlacement {
            origin_x_px: 100.0,
            origin_y_px: 200.0,
            downsample: 1.0,
        };
        sample_patch(&img, moved, (120.0, 215.0), (6, 0.5), &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn outside_the_image_is_white() {
        let img = gradient(10, 10);
        let place = ImagePlacement {
            origin_x_px: 0.0,
            origin_y_px: 0.0,
            downsample: 1.0,
        };
        let mut out = Vec::new();
        sample_patch(&img, place, (-50.0, -50.0), (4, 1.0), &mut out);
        assert!(out.iter().all(|&v| v == 255));
    }

    #[test]
    fn pixels_beyond_the_reach_do_not_change_the_patch() {
        let img = gradient(60, 60);
        for (downsample, step, centre) in [(1.0, 1.0, (30.3, 29.6)), (2.0, 0.5, (61.0, 58.7))] {
            let place = ImagePlacement {
                origin_x_px: 0.0,
                origin_y_px: 0.0,
                downsample,
            };
            let spec = (9, step);
            let reach = reach_px(spec, downsample);
            // The same image, white wherever a pixel lies wholly beyond the reach.
            let masked = RgbImage::from_fn(60, 60, |x, y| {
                let (x0, y0) = (f64::from(x) * downsample, f64::from(y) * downsample);
                let (x1, y1) = (x0 + downsample, y0 + downsample);
                let near = x1 > centre.0 - reach
                    && x0 < centre.0 + reach
                    && y1 > centre.1 - reach
                    && y0 < centre.1 + reach;
                if near {
                    *img.get_pixel(x, y)
                } else {
                    image::Rgb([255, 255, 255])
                }
            });
            let (mut a, mut b) = (Vec::new(), Vec::new());
            sample_patch(&img, place, centre, spec, &mut a);
            sample_patch(&masked, place, centre, spec, &mut b);
            assert_eq!(a, b, "downsample {downsample}");
        }
    }
}
