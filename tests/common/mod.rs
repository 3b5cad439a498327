//! Helpers shared by the test crates (`tests/it` and `tests/openslide.rs`, a separate
//! crate because it needs the `openslide` feature).

/// Mean and maximum absolute difference over all samples of two equal-sized RGB images,
/// grey levels.
pub fn diff(a: &image::RgbImage, b: &image::RgbImage) -> (f64, u8) {
    assert_eq!(a.dimensions(), b.dimensions());
    let (mut sum, mut max) = (0u64, 0u8);
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        sum += u64::from(d);
        max = max.max(d);
    }
    (sum as f64 / a.as_raw().len() as f64, max)
}
