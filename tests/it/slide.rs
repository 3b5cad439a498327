//! The slide reader on real scanner files, converted fixtures and broken files.
//!
//! Fixtures: `tests/data/slides/` (made by `scripts/fixtures/make_slide_fixtures.py`, with
//! reference decodes by libtiff/libjpeg-turbo stored as PNG beside them) and
//! `tests/data/bad/` (made by `scripts/fixtures/make_bad_slides.py`).

use std::path::{Path, PathBuf};

use crate::common::diff;
use mitocount::slide::{AssociatedKind, Limits, MppSource, Slide, SlideFormat};
use mitocount::units::Mpp;
use mitocount::Error;
use proptest::prelude::*;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn fixture(name: &str) -> PathBuf {
    repo(&format!("tests/data/slides/{name}"))
}

fn bad(name: &str) -> PathBuf {
    repo(&format!("tests/data/bad/{name}"))
}

fn png(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_rgb8()
}

fn read_level(slide: &Slide, level: usize) -> image::RgbImage {
    let l = &slide.levels()[level];
    slide
        .read_region(level, 0, 0, l.width_px as u32, l.height_px as u32)
        .unwrap()
}

#[test]
fn cmu1_small_region_levels_mpp_and_associated_images() {
    let slide = Slide::open(&repo("sample_tiles/CMU-1-Small-Region.svs")).unwrap();
    assert_eq!(slide.format(), SlideFormat::AperioSvs);
    assert!(!slide.is_bigtiff());
    assert_eq!(slide.levels().len(), 1);
    let l0 = &slide.levels()[0];
    assert_eq!((l0.width_px, l0.height_px), (2220, 2967));
    assert_eq!(l0.tile_size_px, Some((240, 240)));
    assert_eq!(l0.compression, "JPEG");
    assert_eq!(l0.downsample, 1.0);
    assert_eq!(slide.mpp().unwrap().um_per_px(), 0.499);
    assert_eq!(slide.mpp_source(), Some(MppSource::AperioDescription));
    assert_eq!(slide.objective_mag(), Some(20.0));
    let assoc: Vec<_> = slide
        .associated_images()
        .iter()
        .map(|a| (a.kind, a.width_px, a.height_px, a.compression.as_str()))
        .collect();
    assert_eq!(
        assoc,
        vec![
            (AssociatedKind::Thumbnail, 574, 768, "JPEG"),
            (AssociatedKind::Label, 387, 463, "LZW"),
            (AssociatedKind::Macro, 1280, 431, "JPEG"),
        ]
    );
}

#[test]
fn cmu1_region_across_tile_borders_matches_libjpeg_turbo() {
    let slide = Slide::open(&repo("sample_tiles/CMU-1-Small-Region.svs")).unwrap();
    let got = slide.read_region(0, 1000, 1100, 360, 360).unwrap();
    let (mae, max) = diff(&got, &png(&fixture("cmu1-crop-1000-1100-360x360.png")));
    eprintln!("CMU-1-Small-Region crop: MAE {mae:.4} max {max} vs libjpeg-turbo");
    assert!(mae < 1.0 && max <= 3, "MAE {mae} max {max}");
}

#[test]
fn cmu1_associated_images_decode() {
    let slide = Slide::open(&repo("sample_tiles/CMU-1-Small-Region.svs")).unwrap();
    let label = slide.read_associated(AssociatedKind::Label).unwrap();
    assert_eq!(label.dimensions(), (387, 463));
    let thumb = slide.read_associated(AssociatedKind::Thumbnail).unwrap();
    assert_eq!(thumb.dimensions(), (574, 768));
    // The thumbnail is the whole slide shrunk 3.87x: its mean colour matches level 0's.
    let full = read_level(&slide, 0);
    let mean = |img: &image::RgbImage, c: usize| {
        img.pixels().map(|p| f64::from(p[c])).sum::<f64>() / f64::from(img.width() * img.height())
    };
    for c in 0..3 {
        assert!(
            (mean(&thumb, c) - mean(&full, c)).abs() < 3.0,
            "channel {c}"
        );
    }
    let mac = slide.read_associated(AssociatedKind::Macro).unwrap();
    assert_eq!(mac.dimensions(), (1280, 431));
}

#[test]
fn small_svs_image_smaller_than_its_tile_reads_right() {
    let slide = Slide::open(&fixture("small.svs")).unwrap();
    assert_eq!(slide.levels().len(), 1);
    assert_eq!(slide.levels()[0].tile_size_px, Some((64, 64)));
    let got = read_level(&slide, 0);
    assert_eq!(got.dimensions(), (16, 16));
    let (mae, max) = diff(&got, &png(&fixture("small-svs.png")));
    eprintln!("small.svs: MAE {mae:.4} max {max} vs libjpeg-turbo");
    assert!(mae < 1.0 && max <= 3, "MAE {mae} max {max}");
    // Past the 16x16 image (inside the 64x64 tile) is white, not tile padding.
    let wide = slide.read_region(0, 8, 8, 20, 20).unwrap();
    assert_eq!(wide.get_pixel(7, 7), got.get_pixel(15, 15));
    assert_eq!(wide.get_pixel(8, 8).0, [255, 255, 255]);
    assert_eq!(wide.get_pixel(19, 0).0, [255, 255, 255]);
}

#[test]
fn jpeg2000_svs_decodes_like_openjpeg_and_asks_for_mpp() {
    let slide = Slide::open(&fixture("tcga-cr-7395-01a-01-ts1.svs")).unwrap();
    assert_eq!(slide.format(), SlideFormat::AperioSvs);
    let sizes: Vec<_> = slide
        .levels()
        .iter()
        .map(|l| (l.width_px, l.height_px, l.tile_size_px))
        .collect();
    assert_eq!(
        sizes,
        vec![
            (4443, 3567, Some((256, 256))),
            (2221, 1783, Some((256, 256)))
        ]
    );
    assert!(slide.levels()[0].compression.contains("JPEG 2000"));
    assert_eq!(slide.associated_images().len(), 1);
    assert_eq!(slide.associated_images()[0].kind, AssociatedKind::Thumbnail);
    // No MPP in the file: a clear error asking for --mpp.
    let err = slide.mpp().unwrap_err();
    assert!(matches!(err, Error::MissingMpp { .. }));
    assert!(err.to_string().contains("--mpp"));
    for (level, x, y, reference) in [
        (0, 1900, 1500, "tcga-L0-crop-1900-1500-300x300.png"),
        (1, 900, 700, "tcga-L1-crop-900-700-300x300.png"),
    ] {
        let got = slide.read_region(level, x, y, 300, 300).unwrap();
        let (mae, max) = diff(&got, &png(&fixture(reference)));
        eprintln!("tcga level {level}: MAE {mae:.4} max {max} vs OpenJPEG");
        assert!(mae < 0.05 && max <= 1, "level {level}: MAE {mae} max {max}");
    }
}

#[test]
fn jpeg2000_ycbcr_33003_tiles_convert_to_rgb() {
    let slide = Slide::open(&fixture("j2k-33003-ycbcr.tif")).unwrap();
    assert_eq!(slide.levels()[0].tile_size_px, Some((128, 128)));
    let got = read_level(&slide, 0);
    // The tiles hold Y, Cb, Cr rounded to 8 bits: converting back is exact to +-1.
    let (mae, max) = diff(&got, &png(&fixture("he-400x300.png")));
    eprintln!("j2k-33003-ycbcr: MAE {mae:.4} max {max} vs the source");
    assert!(mae < 1.0 && max <= 2, "MAE {mae} max {max}");
}

/// A fixture, its level sizes (width, height) and its reference PNG per level.
type Fixture = (&'static str, &'static [(u64, u64)], &'static [&'static str]);

const FIXTURES: &[Fixture] = &[
    (
        "tifffile-jpeg-ycbcr-subifd.tif",
        &[(400, 300), (200, 150), (100, 75)],
        &[
            "tifffile-jpeg-ycbcr-subifd.L0.png",
            "tifffile-jpeg-ycbcr-subifd.L1.png",
            "tifffile-jpeg-ycbcr-subifd.L2.png",
        ],
    ),
    (
        "tifffile-jpeg-rgb.tif",
        &[(400, 300)],
        &["tifffile-jpeg-rgb.L0.png"],
    ),
    ("tifffile-lzw.tif", &[(400, 300)], &["he-400x300.png"]),
    (
        "tifffile-deflate-pred2.tif",
        &[(400, 300)],
        &["he-400x300.png"],
    ),
    ("tifffile-striped.tif", &[(400, 300)], &["he-400x300.png"]),
    (
        "tifffile-striped-lzw-pred2.tif",
        &[(400, 300)],
        &["he-400x300.png"],
    ),
    (
        "vips-jpeg-pyramid.tif",
        &[(512, 384), (256, 192), (128, 96), (64, 48)],
        &[
            "vips-jpeg-pyramid.L0.png",
            "vips-jpeg-pyramid.L1.png",
            "vips-jpeg-pyramid.L2.png",
            "vips-jpeg-pyramid.L3.png",
        ],
    ),
    (
        "vips-jpeg-pyramid-bigtiff.tif",
        &[(512, 384), (256, 192), (128, 96), (64, 48)],
        &[
            "vips-jpeg-pyramid.L0.png",
            "vips-jpeg-pyramid.L1.png",
            "vips-jpeg-pyramid.L2.png",
            "vips-jpeg-pyramid.L3.png",
        ],
    ),
    (
        "tiffcp-jpeg-ycbcr.tif",
        &[(400, 300)],
        &["tiffcp-jpeg-ycbcr.L0.png"],
    ),
    (
        "tiffcp-jpeg-rgb.tif",
        &[(400, 300)],
        &["tiffcp-jpeg-rgb.L0.png"],
    ),
];

#[test]
fn every_fixture_decodes_like_libtiff_at_every_level() {
    for (name, sizes, refs) in FIXTURES {
        let slide = Slide::open(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(slide.format(), SlideFormat::Tiff, "{name}");
        let got_sizes: Vec<_> = slide
            .levels()
            .iter()
            .map(|l| (l.width_px, l.height_px))
            .collect();
        assert_eq!(&got_sizes, sizes, "{name}");
        for (level, reference) in refs.iter().enumerate() {
            let got = read_level(&slide, level);
            let (mae, max) = diff(&got, &png(&fixture(reference)));
            let lossless = !slide.levels()[level].compression.contains("JPEG");
            eprintln!("{name} level {level}: MAE {mae:.4} max {max} vs libtiff");
            if lossless {
                assert_eq!(max, 0, "{name} level {level} must be exact");
            } else {
                assert!(
                    mae < 1.0 && max <= 4,
                    "{name} level {level}: MAE {mae} max {max}"
                );
            }
        }
    }
}

#[test]
fn fixture_metadata_levels_and_bigtiff_flag() {
    let vips = Slide::open(&fixture("vips-jpeg-pyramid.tif")).unwrap();
    let ds: Vec<f64> = vips.levels().iter().map(|l| l.downsample).collect();
    assert_eq!(ds, vec![1.0, 2.0, 4.0, 8.0]);
    assert_eq!(vips.levels()[1].tile_size_px, Some((64, 64)));
    assert!(!vips.is_bigtiff());
    assert!(Slide::open(&fixture("vips-jpeg-pyramid-bigtiff.tif"))
        .unwrap()
        .is_bigtiff());
    // vips writes --xres 2000 px/mm as 20000 px/cm: 0.5 µm/px.
    assert!((vips.mpp().unwrap().um_per_px() - 0.5).abs() < 1e-9);
    assert_eq!(vips.mpp_source(), Some(MppSource::TiffResolution));
    assert_eq!(vips.best_level_for_downsample(3.0), 1);
    assert_eq!(vips.best_level_for_downsample(100.0), 3);
    assert_eq!(vips.best_level_for_downsample(0.5), 0);

    let sub = Slide::open(&fixture("tifffile-jpeg-ycbcr-subifd.tif")).unwrap();
    assert!((sub.mpp().unwrap().um_per_px() - 0.25).abs() < 1e-9);
    assert_eq!(sub.mpp_source(), Some(MppSource::TiffResolution));
    assert_eq!(sub.levels()[0].tile_size_px, Some((96, 80)));

    let ome = Slide::open(&fixture("tifffile-lzw.tif")).unwrap();
    assert!((ome.mpp().unwrap().um_per_px() - 0.25).abs() < 1e-9);
    assert_eq!(ome.mpp_source(), Some(MppSource::OmeXml));
    assert_eq!(ome.levels()[0].compression, "LZW");

    // 50800 px/inch = 0.5 µm/px.
    let striped = Slide::open(&fixture("tifffile-striped.tif")).unwrap();
    assert!((striped.mpp().unwrap().um_per_px() - 0.5).abs() < 1e-9);
    assert_eq!(striped.levels()[0].tile_size_px, None);

    // tifffile's default resolution is 1 with unit "none": no pixel size.
    let mut plain = Slide::open(&fixture("tifffile-deflate-pred2.tif")).unwrap();
    assert!(matches!(plain.mpp(), Err(Error::MissingMpp { .. })));
    assert_eq!(plain.mpp_source(), None);
    plain.set_mpp_override(Mpp::new(0.3).unwrap());
    assert_eq!(plain.mpp().unwrap().um_per_px(), 0.3);
    assert_eq!(plain.mpp_source(), Some(MppSource::Override));
}

#[test]
fn implausible_file_mpp_asks_for_mpp_flag_unless_overridden() {
    // 72 dpi, as many image tools write by default: 352.8 µm/px.
    let path = fixture("dpi72.tif");
    let mut slide = Slide::open(&path).unwrap();
    let err = slide.mpp().unwrap_err();
    assert!(matches!(err, Error::InvalidOption { ref flag, .. } if flag == "--mpp"));
    assert!((slide.stated_mpp_um().unwrap() - 25400.0 / 72.0).abs() < 1e-6);
    slide.set_mpp_override(Mpp::new(0.25).unwrap());
    assert_eq!(slide.mpp().unwrap().um_per_px(), 0.25);
}

#[test]
fn level_zero_is_the_largest_image_not_the_first_directory() {
    let slide = Slide::open(&fixture("small-first-page.tif")).unwrap();
    let sizes: Vec<_> = slide
        .levels()
        .iter()
        .map(|l| (l.width_px, l.height_px))
        .collect();
    assert_eq!(
        sizes,
        vec![(400, 300)],
        "the unrelated 40x40 page is not a level"
    );
    assert_eq!(read_level(&slide, 0), png(&fixture("he-400x300.png")));
}

#[test]
fn overview_uses_the_right_level_and_averages_blocks() {
    // Pyramid: 512 px wide, 100 px wanted (downsample 5.12): level 2 (ds 4, 128 px)
    // shrunk by k = 2.
    let vips = Slide::open(&fixture("vips-jpeg-pyramid.tif")).unwrap();
    let ov = vips.read_overview(100).unwrap();
    assert_eq!(ov.level, 2);
    assert_eq!(ov.image.dimensions(), (64, 48));
    assert_eq!(ov.downsample, 8.0);
    let wide = vips.read_overview(300).unwrap();
    assert_eq!((wide.level, wide.downsample), (0, 2.0));
    assert_eq!(wide.image.dimensions(), (256, 192));
    let exact = vips.read_overview(128).unwrap();
    assert_eq!((exact.level, exact.downsample), (2, 4.0));
    assert_eq!(exact.image, read_level(&vips, 2));

    // One level: 400x300 to at most 100 px: 4x4 block means, rounded.
    let flat = Slide::open(&fixture("tifffile-striped.tif")).unwrap();
    let ov = flat.read_overview(100).unwrap();
    assert_eq!(ov.image.dimensions(), (100, 75));
    let full = read_level(&flat, 0);
    for (ox, oy) in [(0u32, 0u32), (37, 51), (99, 74)] {
        for c in 0..3 {
            let mut sum = 0u32;
            for dy in 0..4 {
                for dx in 0..4 {
                    sum += u32::from(full.get_pixel(ox * 4 + dx, oy * 4 + dy)[c]);
                }
            }
            assert_eq!(u32::from(ov.image.get_pixel(ox, oy)[c]), (sum + 8) / 16);
        }
    }
    // k = 6 does not divide 400: the last column of cells is 4 px wide. Every cell is
    // the rounded mean of the pixels it holds.
    let cut = flat.read_overview(70).unwrap();
    assert_eq!(cut.image.dimensions(), (67, 50));
    for (ox, oy, px) in cut.image.enumerate_pixels() {
        let (x0, y0) = (ox * 6, oy * 6);
        let (x1, y1) = ((x0 + 6).min(400), (y0 + 6).min(300));
        let n = (x1 - x0) * (y1 - y0);
        for c in 0..3 {
            let sum: u32 = (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .map(|(x, y)| u32::from(full.get_pixel(x, y)[c]))
                .sum();
            assert_eq!(u32::from(px[c]), (sum + n / 2) / n, "cell ({ox}, {oy})");
        }
    }
    assert!(flat.read_overview(0).is_err());
}

#[test]
fn regions_partly_or_wholly_outside_are_white() {
    let slide = Slide::open(&fixture("vips-jpeg-pyramid.tif")).unwrap();
    let full = read_level(&slide, 0);
    let r = slide.read_region(0, -10, -20, 30, 40).unwrap();
    assert_eq!(r.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(r.get_pixel(9, 19).0, [255, 255, 255]);
    assert_eq!(r.get_pixel(10, 20), full.get_pixel(0, 0));
    let out = slide.read_region(0, 10_000, 10_000, 8, 8).unwrap();
    assert!(out.pixels().all(|p| p.0 == [255, 255, 255]));
    let far = slide.read_region(0, i64::MIN, i64::MAX - 3, 4, 4).unwrap();
    assert!(far.pixels().all(|p| p.0 == [255, 255, 255]));
    assert!(matches!(
        slide.read_region(4, 0, 0, 1, 1),
        Err(Error::InvalidOption { .. })
    ));
    assert_eq!(
        slide.read_region(0, 0, 0, 0, 0).unwrap().dimensions(),
        (0, 0)
    );
}

#[test]
fn concurrent_reads_from_threads_match_serial_reads() {
    let slide = Slide::open_with_limits(
        &repo("sample_tiles/CMU-1-Small-Region.svs"),
        Limits {
            tile_cache_bytes: 240 * 240 * 3 * 4, // a tiny cache: forces evictions
            ..Limits::default()
        },
    )
    .unwrap();
    let serial: Vec<_> = (0..16)
        .map(|i| slide.read_region(0, i * 131, i * 177, 300, 250).unwrap())
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let slide = &slide;
                let serial = &serial;
                s.spawn(move || {
                    for i in (0..16).rev() {
                        let r = slide.read_region(0, i * 131, i * 177, 300, 250).unwrap();
                        assert_eq!(&r, &serial[i as usize], "thread {t} region {i}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

/// Each bad file gives this error variant (from `open`, or from `read_region` when the
/// structure is sound and only the pixel data is bad) and a message containing the text.
#[test]
fn every_bad_file_gives_a_clear_error() {
    enum At {
        Open,
        Read,
        /// Once unsupported, now read (kept to show it decodes).
        Decodes,
    }
    use At::*;
    let cases: &[(&str, At, &str, &str)] = &[
        (
            "truncated-before-second-directory.svs",
            Open,
            "malformed",
            "past the end",
        ),
        (
            "truncated-inside-directory.svs",
            Open,
            "malformed",
            "past the end",
        ),
        ("truncated-tile-data.tif", Open, "malformed", "past the end"),
        (
            "bad-tile-offset.tif",
            Open,
            "malformed",
            "offset 4000000000",
        ),
        ("bad-byte-count.tif", Open, "malformed", "3000000000 bytes"),
        ("zero-size-tiles.tif", Open, "malformed", "has 0 bytes"),
        (
            "huge-dimensions.tif",
            Open,
            "malformed",
            "3000000000x3000000000",
        ),
        (
            "huge-dimensions-few-tiles.tif",
            Open,
            "malformed",
            "needs 15264649 tiles",
        ),
        (
            "huge-single-strip.tif",
            Open,
            "unsupported",
            "more than the limit",
        ),
        ("corrupt-jpeg-tiles.tif", Read, "malformed", "JPEG"),
        ("corrupt-lzw-tiles.tif", Read, "malformed", "LZW"),
        ("corrupt-deflate-tiles.tif", Read, "malformed", "Deflate"),
        (
            "short-deflate-tiles.tif",
            Read,
            "malformed",
            "Deflate data is corrupt",
        ),
        ("zeroed-jpeg-tiles.tif", Read, "malformed", "JPEG"),
        (
            "jpeg2000-33003.svs",
            Read,
            "malformed",
            "JPEG 2000 codestream header",
        ),
        (
            "jpeg2000-33005.svs",
            Read,
            "malformed",
            "JPEG 2000 codestream header",
        ),
        ("old-style-jpeg.tif", Open, "unsupported", "old-style JPEG"),
        // Compression 50000 over raw bytes: not a Zstandard frame.
        ("zstd.tif", Read, "malformed", "Zstandard data is corrupt"),
        ("16-bit.tif", Decodes, "", ""),
        ("greyscale.tif", Open, "unsupported", "greyscale"),
        ("cmyk.tif", Open, "unsupported", "CMYK"),
        ("planar-separate.tif", Decodes, "", ""),
        // Photometric palette with 3 samples and no ColorMap.
        ("palette.tif", Open, "unsupported", "palette"),
        ("ifd-loop.tif", Open, "malformed", "loops back"),
        (
            "ifd-beyond-eof.tif",
            Open,
            "malformed",
            "directory offset 10000000",
        ),
        ("missing-height.tif", Open, "malformed", "ImageLength"),
        ("huge-tag-count.tif", Open, "malformed", "tag 270"),
        (
            "bigtiff-bad-header.tif",
            Open,
            "malformed",
            "BigTIFF header",
        ),
        (
            "not-a-slide.svs",
            Open,
            "unsupported",
            "not a TIFF, SVS, PNG or JPEG",
        ),
        ("empty.svs", Open, "unsupported", "0 bytes long"),
    ];
    let mut listed: Vec<&str> = cases.iter().map(|c| c.0).collect();
    listed.push("valid-control.tif");
    listed.sort_unstable();
    let mut on_disk: Vec<String> = std::fs::read_dir(repo("tests/data/bad"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    on_disk.sort_unstable();
    assert_eq!(listed, on_disk, "every bad file is tested by name");

    for (name, at, kind, text) in cases {
        let path = bad(name);
        if matches!(at, Decodes) {
            let slide = Slide::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let l = &slide.levels()[0];
            let px = slide.read_region(0, 0, 0, l.width_px as u32, l.height_px as u32);
            px.unwrap_or_else(|e| panic!("{name}: {e}"));
            continue;
        }
        let result = Slide::open(&path).and_then(|slide| match at {
            Open | Decodes => panic!("{name}: opened, expected an error"),
            Read => {
                let l = &slide.levels()[0];
                slide
                    .read_region(0, 0, 0, l.width_px as u32, l.height_px as u32)
                    .map(|_| ())
            }
        });
        let err = result.expect_err(name);
        let msg = err.to_string();
        let variant_ok = match *kind {
            "malformed" => matches!(err, Error::MalformedTiff { .. }),
            "unsupported" => matches!(err, Error::Unsupported { .. }),
            _ => false,
        };
        assert!(variant_ok, "{name}: expected {kind}, got {err:?}");
        assert!(msg.contains(text), "{name}: {msg}");
        assert!(
            msg.contains(name),
            "{name}: message must name the file: {msg}"
        );
    }
    // The control file made by the same writer opens and reads.
    let ok = Slide::open(&bad("valid-control.tif")).unwrap();
    let px = ok.read_region(0, 0, 0, 64, 48).unwrap();
    assert!(px.pixels().all(|p| p.0 == [200, 200, 200]));
}

/// Full decodes of every level of the pyramid fixtures, for the property test.
fn full_levels(name: &str) -> (Slide, Vec<image::RgbImage>) {
    let slide = Slide::open_with_limits(
        &fixture(name),
        Limits {
            tile_cache_bytes: 64 * 64 * 3 * 3, // small: exercise eviction too
            ..Limits::default()
        },
    )
    .unwrap();
    let full = (0..slide.levels().len())
        .map(|l| read_level(&slide, l))
        .collect();
    (slide, full)
}

/// The crop of `full` at (x, y), white outside.
fn crop(full: &image::RgbImage, x: i64, y: i64, w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |i, j| {
        let (sx, sy) = (x + i64::from(i), y + i64::from(j));
        if sx >= 0 && sy >= 0 && sx < i64::from(full.width()) && sy < i64::from(full.height()) {
            *full.get_pixel(sx as u32, sy as u32)
        } else {
            image::Rgb([255, 255, 255])
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn read_region_equals_crop_of_full_decode(
        which in 0usize..3,
        level_pick in 0usize..4,
        x in -80i64..560,
        y in -80i64..420,
        w in 1u32..200,
        h in 1u32..200,
    ) {
        thread_local! {
            static SLIDES: Vec<(Slide, Vec<image::RgbImage>)> = vec![
                full_levels("vips-jpeg-pyramid.tif"),
                full_levels("tifffile-jpeg-ycbcr-subifd.tif"),
                full_levels("tifffile-striped-lzw-pred2.tif"),
            ];
        }
        SLIDES.with(|slides| {
            let (slide, full) = &slides[which];
            let level = level_pick % full.len();
            let got = slide.read_region(level, x, y, w, h).unwrap();
            let want = crop(&full[level], x, y, w, h);
            prop_assert_eq!(got, want);
            Ok(())
        })?;
    }
}

fn mitocount_info(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mitocount"))
        .arg("info")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn info_prints_levels_mpp_and_associated_images() {
    let svs = repo("sample_tiles/CMU-1-Small-Region.svs");
    let out = mitocount_info(&[svs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "format: Aperio SVS",
        "level 0: 2220x2967 px, downsample 1.000, tiles 240x240 px, JPEG",
        "mpp: 0.499 µm/px (from Aperio ImageDescription)",
        "objective magnification: 20x",
        "label: 387x463 px, LZW",
        "macro: 1280x431 px, JPEG",
        "thumbnail: 574x768 px, JPEG",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }

    let big = fixture("vips-jpeg-pyramid-bigtiff.tif");
    let out = mitocount_info(&["--json", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "tiff");
    assert_eq!(v["bigtiff"], true);
    assert_eq!(v["levels"].as_array().unwrap().len(), 4);
    assert_eq!(v["levels"][2]["downsample"], 4.0);
    assert_eq!(v["levels"][0]["tile_size_px"], serde_json::json!([64, 64]));
    assert_eq!(v["mpp_source"], "tiff-resolution");

    let plain = fixture("tifffile-deflate-pred2.tif");
    let out = mitocount_info(&[plain.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("mpp: none in file; pass --mpp"));
    let out = mitocount_info(&["--mpp", "0.25", "--json", plain.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mpp_um_per_px"], 0.25);
    assert_eq!(v["mpp_source"], "override");

    let j2k = fixture("tcga-cr-7395-01a-01-ts1.svs");
    let out = mitocount_info(&[j2k.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("JPEG 2000 (Aperio 33005, RGB)"), "{text}");
    assert!(text.contains("mpp: none in file; pass --mpp"), "{text}");

    let unsupported = bad("old-style-jpeg.tif");
    let out = mitocount_info(&[unsupported.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("vips tiffsave"));
}

/// Peak resident memory of this process in KiB (Linux `VmHWM`), if known.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reads a whole-slide-sized pyramid region by region and checks peak memory stays under
/// 1 GiB. Make the slide outside the repository (about 2 minutes, ~1 GB file):
///
/// ```text
/// vips replicate /work/shared/data/he/tiatoolbox-target_image.png /tmp/rep.v 50 50
/// vips tiffsave /tmp/rep.v /tmp/big50k.tif --tile --pyramid --compression jpeg --Q 80 \
///     --tile-width 256 --tile-height 256 --bigtiff --xres 4000 --yres 4000
/// MITOCOUNT_BIG_SLIDE=/tmp/big50k.tif /usr/bin/time -v \
///     cargo test --release --test it -- --ignored --nocapture big_slide
/// ```
#[test]
#[ignore = "needs a 50,000 x 50,000 px slide made by hand; see the doc comment"]
fn big_slide_read_region_by_region_stays_under_1_gib() {
    let Ok(path) = std::env::var("MITOCOUNT_BIG_SLIDE") else {
        panic!("set MITOCOUNT_BIG_SLIDE to the slide made as the doc comment says");
    };
    let slide = Slide::open(Path::new(&path)).unwrap();
    let l0 = slide.levels()[0].clone();
    assert!(l0.width_px >= 50_000 && l0.height_px >= 50_000, "{l0:?}");
    assert!(slide.is_bigtiff());
    let side = 2048u32;
    let start = std::time::Instant::now();
    let mut sum = [0u64; 3];
    let mut regions = 0u64;
    for y in (0..l0.height_px).step_by(side as usize) {
        for x in (0..l0.width_px).step_by(side as usize) {
            let r = slide
                .read_region(0, x as i64, y as i64, side, side)
                .unwrap();
            for p in r.pixels().step_by(97) {
                for c in 0..3 {
                    sum[c] += u64::from(p[c]);
                }
            }
            regions += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mpx = (l0.width_px * l0.height_px) as f64 / 1e6;
    let peak = peak_rss_kib().unwrap_or(0);
    eprintln!(
        "read {regions} regions of {side} px ({mpx:.0} Mpx) in {secs:.1} s = {:.0} Mpx/s; \
         peak RSS {:.0} MiB; sampled channel sums {sum:?}",
        mpx / secs,
        peak as f64 / 1024.0
    );
    assert!(peak > 0 && peak < 1024 * 1024, "peak RSS {peak} KiB");
    // Every level reads too (the tissue mask uses a low one).
    let last = slide.levels().len() - 1;
    let top = read_level(&slide, last);
    assert!(top.pixels().any(|p| p.0 != [255, 255, 255]));
    let ov = slide.read_overview(2048).unwrap();
    assert!(ov.image.width() <= 2048 && ov.image.width() > 1024);
}

#[test]
fn slide_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Slide>();
}

#[test]
fn png_and_jpeg_images_open_as_one_level_slides() {
    let png_slide = Slide::open(&fixture("he-400x300.png")).unwrap();
    assert_eq!(png_slide.format(), SlideFormat::Png);
    assert_eq!(png_slide.levels().len(), 1);
    assert!(matches!(png_slide.mpp(), Err(Error::MissingMpp { .. })));
    let got = png_slide.read_region(0, -5, 290, 20, 20).unwrap();
    let want = crop(&png(&fixture("he-400x300.png")), -5, 290, 20, 20);
    assert_eq!(got, want);

    let dir = tempfile::tempdir().unwrap();
    let jpg = dir.path().join("field.jpg");
    png(&fixture("he-400x300.png")).save(&jpg).unwrap();
    let jpeg_slide = Slide::open(&jpg).unwrap();
    assert_eq!(jpeg_slide.format(), SlideFormat::Jpeg);
    assert_eq!(
        (
            jpeg_slide.levels()[0].width_px,
            jpeg_slide.levels()[0].height_px
        ),
        (400, 300)
    );
}

/// Corrupting bytes of real fixtures (header, directories, tables, tile data) or cutting
/// them short gives errors or pixels, never a panic.
#[test]
fn corrupted_and_truncated_fixtures_never_panic() {
    use rand::SeedableRng;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mutant.tif");
    // MITOCOUNT_MUTANTS=5000 for a longer run.
    let rounds: usize = std::env::var("MITOCOUNT_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    for name in [
        "small.svs",
        "vips-jpeg-pyramid-bigtiff.tif",
        "tifffile-striped-lzw-pred2.tif",
        "tiffcp-jpeg-ycbcr.tif",
        "j2k-33003-ycbcr.tif",
        "tifffile-deflate-pred2.tif",
    ] {
        let original = std::fs::read(fixture(name)).unwrap();
        let (mut opened, mut failed) = (0, 0);
        for round in 0..rounds {
            let mut bytes = original.clone();
            if round % 4 == 3 {
                let keep = rng.random_range(0..bytes.len());
                bytes.truncate(keep);
            } else {
                // Most structure sits in the first and last kilobytes; tile data anywhere.
                for _ in 0..rng.random_range(1..8) {
                    let span = bytes.len().min(2048);
                    let at = match rng.random_range(0..3) {
                        0 => rng.random_range(0..span),
                        1 => bytes.len() - 1 - rng.random_range(0..span),
                        _ => rng.random_range(0..bytes.len()),
                    };
                    bytes[at] = rng.random();
                }
            }
            std::fs::write(&target, &bytes).unwrap();
            match Slide::open(&target) {
                Err(_) => failed += 1,
                Ok(slide) => {
                    opened += 1;
                    for level in 0..slide.levels().len() {
                        let l = &slide.levels()[level];
                        let (w, h) = (l.width_px.min(1024) as u32, l.height_px.min(1024) as u32);
                        let _ = slide.read_region(level, 0, 0, w, h);
                    }
                }
            }
        }
        eprintln!("{name}: {opened} mutants opened, {failed} refused");
    }
}

#[test]
fn decode_level_reads_every_square_once_whatever_the_square_size() {
    // The checksum samples every 4099th byte of each square: with squares of 100 px on a
    // 512 x 384 level, it equals the same sampling of the crops of a full decode.
    let slide = Slide::open(&fixture("vips-jpeg-pyramid.tif")).unwrap();
    let full = read_level(&slide, 0);
    let mut expected = 0u64;
    for y in (0..384i64).step_by(100) {
        for x in (0..512i64).step_by(100) {
            let crop = mitocount::slide::crop_with_white(&full, x, y, 100, 100);
            expected += crop
                .as_raw()
                .iter()
                .step_by(4099)
                .map(|&v| u64::from(v))
                .sum::<u64>();
        }
    }
    assert_eq!(slide.decode_level(0, 100).unwrap(), expected);
    assert!(slide.decode_level(9, 100).is_err());
    assert!(slide.decode_level(0, 0).is_err());
}
