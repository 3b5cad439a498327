//! Overview reading and the tissue mask on real slide files.

use mitocount::slide::Slide;
use mitocount::tiling::read_overview;

/// The overview of a PNG slide at downsample 4 is the 4x4 box mean of the image.
#[test]
fn overview_is_box_mean_of_level_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("field.png");
    let img = image::RgbImage::from_fn(37, 21, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 11 % 256) as u8,
            ((x * y) % 256) as u8,
        ])
    });
    img.save(&path).unwrap();
    let slide = Slide::open(&path).unwrap();
    let ov = read_overview(&slide, 4.0).unwrap();
    assert_eq!(ov.downsample, 4.0);
    assert_eq!(ov.image.dimensions(), (10, 6));
    for oy in 0..6u32 {
        for ox in 0..10u32 {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..4 {
                    for dx in 0..4 {
                        let (x, y) = (ox * 4 + dx, oy * 4 + dy);
                        // Outside the image the slide reads white.
                        sum += if x < 37 && y < 21 {
                            u32::from(img.get_pixel(x, y)[c])
                        } else {
                            255
                        };
                    }
                }
                assert_eq!(
                    u32::from(ov.image.get_pixel(ox, oy)[c]),
                    (sum + 8) / 16,
                    "({ox},{oy}) c{c}"
                );
            }
        }
    }
}
